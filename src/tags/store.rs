//! The bitmap store: one [`RoaringBitmap`] per tag, indexed by [`TagId`].
//!
//! Invariant kept by the engine: every bitmap is a subset of the live customers, so a count
//! never needs an extra intersection with the live set.

use roaring::RoaringBitmap;

use crate::id::TagId;

#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    bitmaps: Vec<RoaringBitmap>,
}

static EMPTY: std::sync::LazyLock<RoaringBitmap> = std::sync::LazyLock::new(RoaringBitmap::new);

impl Store {
    /// The bitmap of `id` (empty for a tag that never had a member).
    pub(crate) fn get(&self, id: TagId) -> &RoaringBitmap {
        self.bitmaps.get(id.index()).unwrap_or(&EMPTY)
    }

    pub(crate) fn get_mut(&mut self, id: TagId) -> &mut RoaringBitmap {
        let i = id.index();
        if self.bitmaps.len() <= i {
            self.bitmaps.resize_with(i + 1, RoaringBitmap::new);
        }
        &mut self.bitmaps[i]
    }

    /// Drops a tag's bitmap, returning how many customers carried it.
    pub(crate) fn clear(&mut self, id: TagId) -> u64 {
        match self.bitmaps.get_mut(id.index()) {
            Some(b) => std::mem::take(b).len(),
            None => 0,
        }
    }

    /// Removes `customer` from every bitmap.
    pub(crate) fn remove_everywhere(&mut self, customer: u32) {
        for b in &mut self.bitmaps {
            b.remove(customer);
        }
    }

    /// Removes every customer of `customers` from every tag.
    pub(crate) fn remove_all_everywhere(&mut self, customers: &RoaringBitmap) {
        for b in &mut self.bitmaps {
            if !b.is_disjoint(customers) {
                *b -= customers;
            }
        }
    }

    /// Adds `run`'s customers to tag `id`'s bitmap: it becomes the bitmap when the tag had
    /// none, else one union.
    pub(crate) fn add(&mut self, id: TagId, run: RoaringBitmap) {
        let target = self.get_mut(id);
        if target.is_empty() {
            *target = run;
        } else {
            *target |= run;
        }
    }

    /// Converts containers to run containers where smaller (after bulk loads).
    pub(crate) fn optimize(&mut self) {
        for b in &mut self.bitmaps {
            b.optimize();
        }
    }

    /// Bytes of all bitmaps in the portable serialized format (a proxy for their heap size).
    pub(crate) fn serialized_bytes(&self) -> usize {
        self.bitmaps.iter().map(RoaringBitmap::serialized_size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_into_existing_bitmaps() {
        let mut s = Store::default();
        assert!(s.get(TagId(3)).is_empty(), "an untouched tag reads as empty");
        s.add(TagId(3), [1, 2, 3].into_iter().collect());
        s.add(TagId(3), [3, 4].into_iter().collect());
        assert_eq!(s.get(TagId(3)).iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
        s.remove_everywhere(2);
        assert_eq!(s.clear(TagId(3)), 3);
        assert_eq!(s.clear(TagId(99)), 0);
        assert!(s.get(TagId(3)).is_empty());
    }
}
