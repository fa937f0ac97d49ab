//! The customer directory: external keys <-> dense [`CustomerId`]s, and the live set.
//!
//! Keys are interned once in an [`IndexMap`] (one copy of each key string); a side table maps
//! an id to its entry, so lookups both ways are O(1). Ids are handed out in increasing order
//! and never reused, so a stale id can never silently point at another customer. Customers
//! registered by dense id ([`Directory::register_id`]) have no key.
//!
//! A merge ([`Directory::merge`]) turns the merged-away customer's key into an alias of the
//! customer it was merged into: a small map of its own ([`Aliases`]) beside the key table,
//! empty (and costing one length test per lookup miss) until the first merge.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use roaring::RoaringBitmap;

use crate::error::{Error, KeyProblem, Result};
use crate::id::CustomerId;

#[derive(Clone, Debug, Default)]
pub(crate) struct Directory {
    /// The keys, in shards shared with the engine's clones and readers.
    keys: Keys,
    /// Every live customer (shared likewise).
    live: Arc<RoaringBitmap>,
    /// The next id a new key gets (u64 so that handing out u32::MAX is not an overflow).
    next_id: u64,
}

/// Shards of each key map. The shards are shared with the engine's clones and readers
/// ([`Engine::reader`](crate::Engine::reader)), and a write copies the one it changes when a
/// view still holds it ([`Arc::make_mut`]): a new key after a view copies 1/1024 of the
/// keys (2 to 4 ms at 10M keys), not all of them (1.1 s). An engine's first key makes the
/// shards (2,048 empty maps).
const SHARDS: usize = 1024;

/// The shard of `key`: FNV-1a of its bytes, so the same key lands in the same shard in every
/// process (a snapshot lists the keys shard by shard and reads them back in that order).
fn shard_of_key(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    ((h ^ (h >> 32)) as usize) % SHARDS
}

/// The shard of `id` in the id -> slot map.
fn shard_of_id(id: u32) -> usize {
    id as usize % SHARDS
}

/// The directory's keys and alias keys.
#[derive(Clone, Debug, Default)]
struct Keys {
    /// key -> id, by [`shard_of_key`] (no shards before the first key); within a shard in
    /// insertion order, an entry's index being its slot (a removal moves the shard's last
    /// entry into the slot it frees).
    by_key: Vec<Arc<IndexMap<Box<str>, CustomerId>>>,
    /// id -> (shard, slot) in `by_key`, for keyed customers, by [`shard_of_id`]. Maps, not
    /// vectors: dense ids registered by the caller may be anywhere in `u32`, and keys then
    /// get ids above them.
    slot_of: Vec<Arc<HashMap<u32, (u32, u32)>>>,
    /// How many keys.
    len: usize,
    /// Bytes of all interned keys, kept up to date so sizing never walks the keys.
    key_bytes: usize,
    /// Keys of merged-away customers, resolving to the live customer they were merged into.
    aliases: Arc<Aliases>,
}

impl Keys {
    /// The id `key` (a customer's own key) belongs to.
    fn get(&self, key: &str) -> Option<CustomerId> {
        if self.len == 0 { None } else { self.by_key[shard_of_key(key)].get(key).copied() }
    }

    /// Where `id`'s key is: (shard, slot).
    fn slot(&self, id: u32) -> Option<(u32, u32)> {
        if self.len == 0 { None } else { self.slot_of[shard_of_id(id)].get(&id).copied() }
    }

    fn key_of(&self, id: u32) -> Option<&str> {
        let (shard, slot) = self.slot(id)?;
        self.by_key[shard as usize].get_index(slot as usize).map(|(k, _)| &**k)
    }

    /// Adds `key` for `id` (neither has a key yet).
    fn insert(&mut self, key: &str, id: CustomerId) {
        if self.by_key.is_empty() {
            self.by_key = (0..SHARDS).map(|_| Arc::default()).collect();
            self.slot_of = (0..SHARDS).map(|_| Arc::default()).collect();
        }
        let shard = shard_of_key(key);
        let (slot, _) = Arc::make_mut(&mut self.by_key[shard]).insert_full(key.into(), id);
        Arc::make_mut(&mut self.slot_of[shard_of_id(id.0)]).insert(id.0, (shard as u32, slot as u32));
        self.len += 1;
        self.key_bytes += key.len();
    }

    /// Forgets `id`'s key, if it has one.
    fn remove(&mut self, id: u32) {
        let Some((shard, slot)) = self.slot(id) else { return };
        Arc::make_mut(&mut self.slot_of[shard_of_id(id)]).remove(&id);
        let keys = Arc::make_mut(&mut self.by_key[shard as usize]);
        // swap_remove moves the shard's last entry into `slot`: repoint that entry's id.
        if let Some((key, _)) = keys.swap_remove_index(slot as usize) {
            self.key_bytes -= key.len();
        }
        if let Some((_, &moved)) = keys.get_index(slot as usize) {
            Arc::make_mut(&mut self.slot_of[shard_of_id(moved.0)]).insert(moved.0, (shard, slot));
        }
        self.len -= 1;
    }

    /// Every keyed id, in no particular order.
    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.slot_of.iter().flat_map(|m| m.keys().copied())
    }

    /// Every (key, id), shard by shard, each in its order.
    fn iter(&self) -> impl Iterator<Item = (&str, CustomerId)> + '_ {
        self.by_key.iter().flat_map(|m| m.iter().map(|(k, &id)| (&**k, id)))
    }

    fn heap_bytes(&self) -> usize {
        let keys: usize = self.by_key.iter().map(|m| m.capacity()).sum();
        let slots: usize = self.slot_of.iter().map(|m| m.capacity()).sum();
        self.key_bytes
            + keys * (std::mem::size_of::<(Box<str>, CustomerId)>() + 16)
            + slots * (std::mem::size_of::<(u32, (u32, u32))>() + 1)
            + self.aliases.heap_bytes()
    }
}

/// Alias keys: the keys of customers merged into another, each resolving to the live
/// customer that absorbed it. Disjoint from the directory's own keys (an alias key is the key
/// of a customer that is gone).
///
/// Invariant: every target is live; both maps hold the same (key, target) pairs.
#[derive(Clone, Debug, Default)]
struct Aliases {
    /// Alias key -> the customer it resolves to.
    to: HashMap<Box<str>, CustomerId>,
    /// Customer -> its alias keys, in the order they became its aliases.
    of: HashMap<u32, Vec<Box<str>>>,
    /// Bytes of the keys (each held twice).
    key_bytes: usize,
}

impl Aliases {
    fn get(&self, key: &str) -> Option<CustomerId> {
        if self.to.is_empty() { None } else { self.to.get(key).copied() }
    }

    /// `customer`'s alias keys, oldest first.
    fn of(&self, customer: CustomerId) -> &[Box<str>] {
        self.of.get(&customer.0).map_or(&[], Vec::as_slice)
    }

    /// Makes `key` (no key of the directory, no alias yet) an alias of `target`.
    fn insert(&mut self, key: Box<str>, target: CustomerId) {
        self.key_bytes += 2 * key.len();
        self.of.entry(target.0).or_default().push(key.clone());
        self.to.insert(key, target);
    }

    /// Re-points every alias of `from` at `into`; the keys moved, oldest first.
    fn repoint(&mut self, from: CustomerId, into: CustomerId) -> Vec<Box<str>> {
        let Some(keys) = self.of.remove(&from.0) else { return Vec::new() };
        for k in &keys {
            self.to.insert(k.clone(), into);
        }
        self.of.entry(into.0).or_default().extend(keys.iter().cloned());
        keys
    }

    /// Drops every alias of `customer` (it is removed: its alias keys are free again).
    fn drop_target(&mut self, customer: CustomerId) {
        if self.of.is_empty() {
            return;
        }
        for k in self.of.remove(&customer.0).unwrap_or_default() {
            self.key_bytes -= 2 * k.len();
            self.to.remove(&k);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.key_bytes
            + self.to.capacity() * (std::mem::size_of::<(Box<str>, CustomerId)>() + 1)
            + self.of.capacity() * (std::mem::size_of::<(u32, Vec<Box<str>>)>() + 1)
    }
}

/// What [`Engine::merge_customers`](crate::Engine::merge_customers) moved into the customer it kept.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustomerMerge {
    /// The customer kept.
    pub into: CustomerId,
    /// The customer merged away (removed).
    pub from: CustomerId,
    /// The tags `into` gained, in tag id order: `from`'s tags it did not carry, but for the
    /// derived ones and the values of exclusive groups `into` had a value of.
    pub tags: Vec<String>,
    /// The attributes `into` gained a value of (it had none), in attribute creation order.
    pub attributes: Vec<String>,
    /// How many purchase records moved to `into`.
    pub purchases: u64,
    /// The keys that now resolve to `into`: `from`'s alias keys (from earlier merges), oldest
    /// first, then `from`'s own key. Empty when `from` was registered by id and had none.
    pub keys: Vec<String>,
}

/// The longest customer key, in bytes (4 KiB: an e-mail address is at most 254, a UUID 36).
///
/// A longer key is an [`Error::InvalidCustomerKey`](crate::Error::InvalidCustomerKey),
/// refused before it is copied: a key is stored once for the life of its customer, and a
/// file of megabyte keys is more likely a broken export than a customer list.
pub const MAX_CUSTOMER_KEY_LEN: usize = 4096;

impl Directory {
    /// Interns `key`: its id if known (an alias key gives the customer it resolves to), else
    /// a fresh id (and the customer becomes live).
    pub(crate) fn intern(&mut self, key: &str) -> Result<CustomerId> {
        if let Some(id) = self.id_of(key) {
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
        self.keys.insert(key, id);
        Arc::make_mut(&mut self.live).insert(id.0);
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
        if self.live.contains(id.0) {
            return Ok(false); // the live set stays shared
        }
        Ok(Arc::make_mut(&mut self.live).insert(id.0))
    }

    /// Makes every id of `ids` live (without keys); returns how many were newly added. An id
    /// a live keyed customer has is refused, and nothing changes then.
    pub(crate) fn register_range(&mut self, ids: std::ops::Range<u32>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        // A keyed customer is live, so only the live ids of the range can clash: check
        // whichever is fewer, those or the keyed customers.
        let clash = if self.keys.len == 0 {
            None
        } else if self.live.range_cardinality(ids.clone()) < self.keys.len as u64 {
            self.live.range(ids.clone()).find(|&id| self.keys.slot(id).is_some())
        } else {
            self.keys.ids().filter(|id| ids.contains(id)).min()
        };
        if let Some(id) = clash {
            let key = self.key_of(CustomerId(id)).unwrap_or_default().to_owned();
            return Err(Error::CustomerIdTaken { id: CustomerId(id), key });
        }
        self.next_id = self.next_id.max(u64::from(ids.end));
        let before = self.live.len();
        Arc::make_mut(&mut self.live).insert_range(ids);
        Ok(self.live.len() - before)
    }

    /// The live customer `key` resolves to: its own key, or an alias key of a merge.
    pub(crate) fn id_of(&self, key: &str) -> Option<CustomerId> {
        self.keys.get(key).or_else(|| self.keys.aliases.get(key))
    }

    /// The alias keys of live customer `id` (keys of customers merged into it), oldest first.
    pub(crate) fn aliases_of(&self, id: CustomerId) -> impl Iterator<Item = &str> + '_ {
        self.keys.aliases.of(id).iter().map(|k| &**k)
    }

    pub(crate) fn key_of(&self, id: CustomerId) -> Option<&str> {
        self.keys.key_of(id.0)
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

    /// Removes a live customer and forgets its key and its alias keys (free for new
    /// customers again). The id is not reused for a new key.
    pub(crate) fn remove(&mut self, id: CustomerId) -> Result<()> {
        self.check_live(id)?;
        Arc::make_mut(&mut self.live).remove(id.0);
        if !self.keys.aliases.of(id).is_empty() {
            Arc::make_mut(&mut self.keys.aliases).drop_target(id);
        }
        self.keys.remove(id.0);
        Ok(())
    }

    /// Fails unless `into` and `from` are two live customers: [`Error::UnknownCustomer`]
    /// for either not live (`into` checked first), [`Error::MergeSelf`] for one customer.
    pub(crate) fn check_merge(&self, into: CustomerId, from: CustomerId) -> Result<()> {
        self.check_live(into)?;
        self.check_live(from)?;
        if into == from {
            return Err(Error::MergeSelf { customer: into, key: self.key_of(into).map(str::to_owned) });
        }
        Ok(())
    }

    /// Merges the directory entries of `from` into `into` (checked by
    /// [`Directory::check_merge`]): `from` is removed, and its alias keys and then its own key
    /// become aliases of `into`. Returns those keys, in that order.
    pub(crate) fn merge(&mut self, into: CustomerId, from: CustomerId) -> Result<Vec<String>> {
        self.check_merge(into, from)?;
        let mut keys: Vec<String> = if self.keys.aliases.of(from).is_empty() {
            Vec::new()
        } else {
            Arc::make_mut(&mut self.keys.aliases).repoint(from, into).iter().map(|k| k.to_string()).collect()
        };
        let own: Option<Box<str>> = self.key_of(from).map(Box::from);
        self.remove(from)?;
        if let Some(key) = own {
            keys.push(key.to_string());
            Arc::make_mut(&mut self.keys.aliases).insert(key, into);
        }
        Ok(keys)
    }

    /// How many live customers have a key.
    pub(crate) fn keyed(&self) -> usize {
        self.keys.len
    }

    /// Approximate heap bytes held by the directory (constant time).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes() + self.live.serialized_size()
    }
}

impl Directory {
    /// Writes the directory's sections: `DIRC` (the next fresh id, the live customers), then
    /// `KEYS` (each key and its id, in the directory's order) and `KALS` (each customer's
    /// alias keys, oldest first), both chunked.
    pub(crate) fn write_snapshot(&self, w: &mut crate::persist::Writer) -> Result<()> {
        let mut e = crate::persist::Enc::default();
        e.u64(self.next_id);
        e.bitmap(&self.live);
        w.section(*b"DIRC", &e.buf)?;
        w.chunked(*b"KEYS", self.keys.iter(), |e, (key, id)| {
            e.str(key);
            e.u32(id.0);
        })?;
        let mut owners: Vec<(&u32, &Vec<Box<str>>)> = self.keys.aliases.of.iter().collect();
        owners.sort_unstable_by_key(|&(c, _)| *c);
        w.chunked(*b"KALS", owners, |e, (customer, keys)| {
            e.u32(*customer);
            e.len(keys.len());
            keys.iter().for_each(|k| e.str(k));
        })
    }

    /// Reads what [`Directory::write_snapshot`] wrote, checking what the directory relies
    /// on: keys valid and unique, each keyed id live, below the next fresh id and keyed once;
    /// alias keys valid, distinct from every key, and resolving to live customers.
    pub(crate) fn read_snapshot(r: &mut crate::persist::Reader) -> Result<Directory> {
        let path = r.path().to_path_buf();
        let s = r.section(*b"DIRC")?;
        let mut d = s.dec(&path);
        let next_id = d.u64("next id")?;
        if next_id > 1 << 32 {
            return Err(d.corrupt(format!("next id {next_id} is past u32::MAX + 1")));
        }
        let live = d.bitmap("live customers")?;
        if live.max().is_some_and(|m| u64::from(m) >= next_id) {
            return Err(d.corrupt(format!("a live customer's id is not below the next id {next_id}")));
        }
        d.finish("DIRC")?;
        let mut keys = Keys::default();
        let mut aliases = Aliases::default();
        let valid = |key: &str| !key.is_empty() && key.len() <= MAX_CUSTOMER_KEY_LEN;
        r.chunked(*b"KEYS", |d| {
            let at = d.offset();
            let key = d.str("customer key")?;
            let id = d.u32("customer id")?;
            let bad = if !valid(key) {
                Some("an empty or too long customer key")
            } else if !live.contains(id) {
                Some("a key's customer is not live")
            } else if keys.slot(id).is_some() {
                Some("a customer with two keys")
            } else if keys.get(key).is_some() {
                Some("a key given twice")
            } else {
                None
            };
            match bad {
                Some(what) => Err(crate::persist::codec::corrupt(&path, at, format!("{what} ({key:?}, id {id})"))),
                None => {
                    keys.insert(key, CustomerId(id));
                    Ok(())
                }
            }
        })?;
        r.chunked(*b"KALS", |d| {
            let at = d.offset();
            let customer = d.u32("alias target")?;
            let n = d.len(4, "alias keys")?;
            let bad = |what: &str| crate::persist::codec::corrupt(&path, at, format!("{what} (customer {customer})"));
            if !live.contains(customer) || aliases.of.contains_key(&customer) || n == 0 {
                return Err(bad("alias keys of a customer that is not live, listed twice, or none"));
            }
            for _ in 0..n {
                let key = d.str("alias key")?;
                if !valid(key) || keys.get(key).is_some() || aliases.to.contains_key(key) {
                    return Err(bad("an alias key that is invalid, a customer's own key, or given twice"));
                }
                aliases.insert(key.into(), CustomerId(customer));
            }
            Ok(())
        })?;
        keys.aliases = Arc::new(aliases);
        Ok(Directory { keys, live: Arc::new(live), next_id })
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
    fn merged_keys_follow_their_customer() {
        let mut d = Directory::default();
        let [a, b, c] = ["a", "b", "c"].map(|k| d.intern(k).unwrap());
        assert_eq!(d.merge(b, a).unwrap(), ["a"]);
        assert_eq!((d.id_of("a"), d.key_of(b), d.is_live(a)), (Some(b), Some("b"), false));
        assert_eq!(d.merge(c, b).unwrap(), ["a", "b"], "b's alias, then b's key");
        assert_eq!(d.aliases_of(c).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.intern("a").unwrap(), c);
        assert_eq!(d.merge(c, c), Err(Error::MergeSelf { customer: c, key: Some("c".into()) }));
        assert_eq!(d.merge(c, a), Err(Error::UnknownCustomer { id: a }));
        let dense = CustomerId(100);
        d.register_id(dense).unwrap();
        assert!(d.merge(c, dense).unwrap().is_empty(), "no key to alias");
        assert_eq!(d.merge(dense, c), Err(Error::UnknownCustomer { id: dense }));
        let before = d.heap_bytes();
        d.remove(c).unwrap();
        assert_eq!((d.id_of("a"), d.id_of("b")), (None, None), "aliases go with their customer");
        assert!(d.heap_bytes() < before);
        assert_eq!(d.intern("b").unwrap(), CustomerId(101), "a freed alias key is a new customer");
        assert_eq!(
            (d.keyed(), d.keys.aliases.to.len(), d.keys.aliases.of.len(), d.keys.aliases.key_bytes),
            (1, 0, 0, 0)
        );
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
