//! The tags layer: [`Tags`] holds the tag pool (names, kinds, exclusive groups, hierarchy)
//! and the bitmap store behind private fields, and is the only writer of tag bitmaps.
//!
//! - `layer/`: [`Tags`] and the rules it keeps (exclusive groups, renames, deletes, the
//!   names derived layers own), listings, tagging one customer or many (`mod.rs`); the API
//!   derived layers (refresh, segments) write through (`derived.rs`); bulk loads of
//!   (customer, tag) pairs (`bulk.rs`); expiring assignments and their day buckets
//!   (`expiry.rs`); aliases (`aliases.rs`); one customer's tags merged into another's
//!   (`merge_customer.rs`); one tag merged into another (`merge_tags.rs`). Its fields are
//!   private to it.
//! - `pool.rs` (names, slots, groups, hierarchy, and where a name resolves to a tag),
//!   `alias.rs` (other names of tags, consulted when a name is no tag's), `name.rs` (name
//!   rules and limits), `suggest.rs` ("did you mean"), `store.rs` (bitmaps and cached
//!   subtree unions), `kind.rs` (parsing [`TagKind`]).

mod alias;
mod kind;
mod layer;
mod name;
mod pool;
mod store;
mod suggest;

pub use kind::TagKind;
pub use layer::TagReplace;
pub use name::{MAX_TAG_DEPTH, MAX_TAG_NAME_LEN};
pub use pool::TagInfo;

pub(crate) use layer::{Census, DerivedGroup, Tags};
pub(crate) use pool::Pool;
pub(crate) use store::Store;

pub(crate) use name::normalize_tag;
pub(crate) use suggest::Suggest;

/// A map keyed by tag id. Ids are handed out in sequence by the pool, never chosen by a
/// caller, so a multiplicative hash (Fibonacci hashing) is safe and costs a multiply where
/// SipHash would cost more than the bitmap read it guards.
pub(crate) type IdMap<V> = std::collections::HashMap<crate::id::TagId, V, std::hash::BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`].
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The exclusive-group prefix of `group:value`, if the name has a `:`.
pub(crate) fn group_prefix(name: &str) -> Option<&str> {
    name::split_group(name).map(|(g, _)| g)
}
