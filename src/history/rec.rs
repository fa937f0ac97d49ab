//! [`Rec`]: one purchase record as the store's small tiers and its counting sorts
//! (`bucket.rs`) hold it; below both, so neither imports the other for it.

/// One purchase record in the small tiers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) customer: u32,
    pub(crate) day: i32,
    pub(crate) amount: i64,
}

impl Rec {
    pub(super) fn key(&self) -> u64 {
        (u64::from(self.customer) << 32) | u64::from((self.day as u32) ^ 0x8000_0000)
    }
}
