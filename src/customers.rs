//! The customer directory: external keys <-> dense [`CustomerId`]s, and the live set.
//!
//! Keys are interned once in an [`IndexMap`] (one copy of each key string); a side table maps
//! an id to its entry, so lookups both ways are O(1). Ids are handed out in increasing order
//! and never reused, so a stale id can never silently point at another customer. Customers
//! registered by dense id ([`Directory::register_id`]) have no key.

use std::collections::HashMap;

use indexmap::IndexMap;
use roaring::RoaringBitmap;

use crate::error::{Error, KeyProblem, Result};
use crate::id::CustomerId;

#[derive(Clone, Debug, Default)]
pub(crate) struct Directory {
    /// key -> id, in insertion order (an entry's index is its slot).
    by_key: IndexMap<Box<str>, CustomerId>,
    /// id -> slot in `by_key`, for keyed customers. A map, not a vector: dense ids registered
    /// by the caller may be anywhere in `u32`, and keys then get ids above them.
    slot_of: HashMap<u32, u32>,
    /// Every live customer.
    live: RoaringBitmap,
    /// The next id a new key gets (u64 so that handing out u32::MAX is not an overflow).
    next_id: u64,
    /// Bytes of all interned keys, kept up to date so sizing never walks the keys.
    key_bytes: usize,
}

/// The longest customer key, in bytes (4 KiB: an e-mail address is at most 254, a UUID 36).
///
/// A longer key is an [`Error::InvalidCustomerKey`](crate::Error::InvalidCustomerKey),
/// refused before it is copied: a key is stored once for the life of its customer, and a
/// file of megabyte keys is more likely a broken export than a customer list.
pub const MAX_CUSTOMER_KEY_LEN: usize = 4096;

impl Directory {
    /// Interns `key`: its id if known, else a fresh id (and the customer becomes live).
    pub(crate) fn intern(&mut self, key: &str) -> Result<CustomerId> {
        if let Some(&id) = self.by_key.get(key) {
            return Ok(id);
        }
        if key.is_empty() {
            return Err(Error::InvalidCustomerKey { key: String::new(), reason: KeyProblem::Empty });
        }
        if key.len() > MAX_CUSTOMER_KEY_LEN {
            return Err(Error::InvalidCustomerKey {
                key: crate::error::excerpt(key),
                reason: KeyProblem::TooLong { len: key.len() },
            });
        }
        let id = self.fresh_id()?;
        let slot = u32::try_from(self.by_key.len()).map_err(|_| Error::CustomerIdsExhausted)?;
        self.by_key.insert(key.into(), id);
        self.key_bytes += key.len();
        self.slot_of.insert(id.0, slot);
        self.live.insert(id.0);
        Ok(id)
    }

    fn fresh_id(&mut self) -> Result<CustomerId> {
        let id = u32::try_from(self.next_id).map_err(|_| Error::CustomerIdsExhausted)?;
        self.next_id += 1;
        Ok(CustomerId(id))
    }

    /// Makes dense id `id` live (without a key). Returns whether it was newly added.
    /// An id that a live keyed customer has is refused.
    pub(crate) fn register_id(&mut self, id: CustomerId) -> Result<bool> {
        if let Some(key) = self.key_of(id) {
            return Err(Error::CustomerIdTaken { id, key: key.to_owned() });
        }
        self.next_id = self.next_id.max(u64::from(id.0) + 1);
        Ok(self.live.insert(id.0))
    }

    /// Makes every id of `ids` live (without keys); returns how many were newly added. An id
    /// a live keyed customer has is refused, and nothing changes then.
    pub(crate) fn register_range(&mut self, ids: std::ops::Range<u32>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        // A keyed customer is live, so only the live ids of the range can clash: check
        // whichever is fewer, those or the keyed customers.
        let clash = if self.slot_of.is_empty() {
            None
        } else if self.live.range_cardinality(ids.clone()) < self.slot_of.len() as u64 {
            self.live.range(ids.clone()).find(|id| self.slot_of.contains_key(id))
        } else {
            self.slot_of.keys().copied().filter(|id| ids.contains(id)).min()
        };
        if let Some(id) = clash {
            let key = self.key_of(CustomerId(id)).unwrap_or_default().to_owned();
            return Err(Error::CustomerIdTaken { id: CustomerId(id), key });
        }
        self.next_id = self.next_id.max(u64::from(ids.end));
        let before = self.live.len();
        self.live.insert_range(ids);
        Ok(self.live.len() - before)
    }

    pub(crate) fn id_of(&self, key: &str) -> Option<CustomerId> {
        self.by_key.get(key).copied()
    }

    pub(crate) fn key_of(&self, id: CustomerId) -> Option<&str> {
        let slot = *self.slot_of.get(&id.0)?;
        self.by_key.get_index(slot as usize).map(|(k, _)| &**k)
    }

    /// `n` when the live customers are exactly `0..n` (every id below `n` is live), else 0.
    pub(crate) fn dense_live(&self) -> u32 {
        match self.live.max() {
            Some(max) if self.live.len() == u64::from(max) + 1 => max.saturating_add(1),
            _ => 0,
        }
    }

    pub(crate) fn is_live(&self, id: CustomerId) -> bool {
        self.live.contains(id.0)
    }

    pub(crate) fn live(&self) -> &RoaringBitmap {
        &self.live
    }

    /// Fails with [`Error::UnknownCustomer`] unless `id` is live.
    pub(crate) fn check_live(&self, id: CustomerId) -> Result<()> {
        if self.is_live(id) { Ok(()) } else { Err(Error::UnknownCustomer { id }) }
    }

    /// Removes a live customer and forgets its key. The id is not reused for a new key.
    pub(crate) fn remove(&mut self, id: CustomerId) -> Result<()> {
        self.check_live(id)?;
        self.live.remove(id.0);
        let Some(slot) = self.slot_of.remove(&id.0) else { return Ok(()) };
        // swap_remove moves the last entry into `slot`: repoint that entry's id.
        if let Some((key, _)) = self.by_key.swap_remove_index(slot as usize) {
            self.key_bytes -= key.len();
        }
        if let Some((_, moved)) = self.by_key.get_index(slot as usize) {
            self.slot_of.insert(moved.0, slot);
        }
        Ok(())
    }

    /// How many live customers have a key.
    pub(crate) fn keyed(&self) -> usize {
        self.by_key.len()
    }

    /// Approximate heap bytes held by the directory (constant time).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.key_bytes
            + self.by_key.capacity() * (std::mem::size_of::<(Box<str>, CustomerId)>() + 16)
            + self.slot_of.capacity() * 9
            + self.live.serialized_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_live_is_the_full_prefix_only() {
        let mut d = Directory::default();
        assert_eq!(d.dense_live(), 0);
        for i in 0..5 {
            d.register_id(CustomerId(i)).unwrap();
        }
        assert_eq!(d.dense_live(), 5);
        d.remove(CustomerId(2)).unwrap();
        assert_eq!(d.dense_live(), 0, "a hole");
        let mut d = Directory::default();
        d.register_id(CustomerId(3)).unwrap();
        assert_eq!(d.dense_live(), 0, "not starting at 0");
        d.register_id(CustomerId(u32::MAX)).unwrap();
        assert_eq!(d.dense_live(), 0);
    }

    #[test]
    fn intern_is_stable_and_dense() {
        let mut d = Directory::default();
        let a = d.intern("a").unwrap();
        let b = d.intern("b").unwrap();
        assert_eq!((a, b), (CustomerId(0), CustomerId(1)));
        assert_eq!(d.intern("a").unwrap(), a);
        assert_eq!(d.key_of(b), Some("b"));
        assert_eq!(d.id_of("b"), Some(b));
    }

    #[test]
    fn remove_repoints_the_moved_entry() {
        let mut d = Directory::default();
        let ids: Vec<_> = ["a", "b", "c"].iter().map(|k| d.intern(k).unwrap()).collect();
        d.remove(ids[0]).unwrap();
        assert_eq!(d.id_of("a"), None);
        assert_eq!(d.key_of(ids[0]), None);
        assert_eq!(d.key_of(ids[2]), Some("c"));
        assert_eq!(d.id_of("c"), Some(ids[2]));
        assert_eq!(d.remove(ids[0]), Err(Error::UnknownCustomer { id: ids[0] }));
        // a removed key comes back as a new customer with a new id
        assert_eq!(d.intern("a").unwrap(), CustomerId(3));
    }

    #[test]
    fn dense_ids_and_keys_do_not_collide() {
        let mut d = Directory::default();
        assert!(d.register_id(CustomerId(10)).unwrap());
        assert!(!d.register_id(CustomerId(10)).unwrap());
        assert_eq!(d.intern("x").unwrap(), CustomerId(11));
        assert_eq!(d.key_of(CustomerId(10)), None);
        assert!(matches!(d.register_id(CustomerId(11)), Err(Error::CustomerIdTaken { .. })));
        d.remove(CustomerId(11)).unwrap();
        assert!(d.register_id(CustomerId(11)).unwrap(), "a removed keyed id is free for the caller again");
    }

    #[test]
    fn exhausting_ids_is_an_error() {
        let mut d = Directory::default();
        d.register_id(CustomerId(u32::MAX - 1)).unwrap();
        assert_eq!(d.intern("last").unwrap(), CustomerId(u32::MAX));
        assert_eq!(d.intern("one more"), Err(Error::CustomerIdsExhausted));
        assert!(d.register_id(CustomerId(5)).unwrap());
        assert_eq!(d.intern("still"), Err(Error::CustomerIdsExhausted));
    }

    #[test]
    fn empty_key_is_rejected() {
        let mut d = Directory::default();
        assert!(matches!(d.intern(""), Err(Error::InvalidCustomerKey { .. })));
        assert!(d.intern(&"k".repeat(MAX_CUSTOMER_KEY_LEN)).is_ok());
        let long = "k".repeat(10 << 20);
        let Err(Error::InvalidCustomerKey { key, .. }) = d.intern(&long) else { panic!("refused") };
        assert!(key.len() < 1_000, "an excerpt");
    }
}
