//! The customer directory: external keys <-> dense [`CustomerId`]s, and the live set.
//!
//! Keys are interned once, in an arena in id order with a hash table of ids over it
//! ([`keys`]: about 10-20 bytes a key beyond its own), so lookups both ways are O(1) (a
//! binary search over the arena's chunks for `key_of`). Ids are handed out in increasing
//! order and never reused, so a stale id can never silently point at another customer.
//! Customers registered by dense id ([`Directory::register_id`]) have no key.
//!
//! A merge ([`Directory::merge`]) turns the merged-away customer's key into an alias of the
//! customer it was merged into: a small map of its own ([`Aliases`]) beside the key table,
//! empty (and costing one length test per lookup miss) until the first merge.

mod keys;
mod stage;

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use keys::Keys;
pub(crate) use stage::{Staged, key_problem};

use crate::error::{Error, KeyProblem, Result};
use crate::id::CustomerId;

#[derive(Clone, Debug, Default)]
pub(crate) struct Directory {
    /// The keys, in chunks and shards shared with the engine's clones and readers.
    keys: Keys,
    /// Keys of merged-away customers, resolving to the live customer they were merged into.
    aliases: Arc<Aliases>,
    /// Every live customer (shared likewise).
    live: Arc<RoaringBitmap>,
    /// `live.len()`, kept beside it: `len` walks every container (0.2 µs at 10M
    /// customers), which a `NOT` query or a customer count would pay each time.
    live_len: u64,
    /// The next id a new key gets (u64 so that handing out u32::MAX is not an overflow).
    next_id: u64,
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
        self.live_len += u64::from(Arc::make_mut(&mut self.live).insert(id.0));
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
        let added = Arc::make_mut(&mut self.live).insert(id.0);
        self.live_len += u64::from(added);
        Ok(added)
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
            self.live.range(ids.clone()).find(|&id| self.keys.key_of(id).is_some())
        } else {
            self.keys.first_keyed_in(ids.clone())
        };
        if let Some(id) = clash {
            let key = self.key_of(CustomerId(id)).unwrap_or_default().to_owned();
            return Err(Error::CustomerIdTaken { id: CustomerId(id), key });
        }
        self.next_id = self.next_id.max(u64::from(ids.end));
        let added = Arc::make_mut(&mut self.live).insert_range(ids);
        self.live_len += added;
        Ok(added)
    }

    /// The live customer `key` resolves to: its own key, or an alias key of a merge.
    pub(crate) fn id_of(&self, key: &str) -> Option<CustomerId> {
        self.keys.get(key).or_else(|| self.aliases.get(key))
    }

    /// The alias keys of live customer `id` (keys of customers merged into it), oldest first.
    pub(crate) fn aliases_of(&self, id: CustomerId) -> impl Iterator<Item = &str> + '_ {
        self.aliases.of(id).iter().map(|k| &**k)
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

    /// How many customers are live: `live().len()`, without walking the containers.
    pub(crate) fn live_len(&self) -> u64 {
        debug_assert_eq!(self.live_len, self.live.len(), "the live count follows the live set");
        self.live_len
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
        self.live_len -= 1;
        if !self.aliases.of(id).is_empty() {
            Arc::make_mut(&mut self.aliases).drop_target(id);
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
        let mut keys: Vec<String> = if self.aliases.of(from).is_empty() {
            Vec::new()
        } else {
            Arc::make_mut(&mut self.aliases).repoint(from, into).iter().map(|k| k.to_string()).collect()
        };
        let own: Option<Box<str>> = self.key_of(from).map(Box::from);
        self.remove(from)?;
        if let Some(key) = own {
            keys.push(key.to_string());
            Arc::make_mut(&mut self.aliases).insert(key, into);
        }
        Ok(keys)
    }

    /// How many live customers have a key.
    pub(crate) fn keyed(&self) -> usize {
        self.keys.len
    }

    /// Approximate heap bytes held by the directory.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes() + self.aliases.heap_bytes() + self.live.serialized_size()
    }

    /// The bytes of the customers' own keys (part of [`Directory::heap_bytes`]).
    pub(crate) fn key_bytes(&self) -> usize {
        self.keys.key_bytes()
    }
}

impl Directory {
    /// Writes the directory's sections: `DIRC` (the next fresh id, the live customers), then
    /// `KEYS` (each key and its id, in ascending id order) and `KALS` (each customer's alias
    /// keys, oldest first), both chunked.
    pub(crate) fn write_snapshot(&self, w: &mut crate::persist::Writer) -> Result<()> {
        let mut e = crate::persist::Enc::default();
        e.u64(self.next_id);
        e.bitmap(&self.live);
        w.section(*b"DIRC", &e.buf)?;
        w.chunked(*b"KEYS", self.keys.iter(), |e, (key, id)| {
            e.str(key);
            e.u32(id.0);
        })?;
        let mut owners: Vec<(&u32, &Vec<Box<str>>)> = self.aliases.of.iter().collect();
        owners.sort_unstable_by_key(|&(c, _)| *c);
        w.chunked(*b"KALS", owners, |e, (customer, keys)| {
            e.u32(*customer);
            e.len(keys.len());
            keys.iter().for_each(|k| e.str(k));
        })
    }

    /// Reads what [`Directory::write_snapshot`] wrote, checking what the directory relies
    /// on: keys valid and unique, each keyed id live, below the next fresh id and keyed once;
    /// alias keys valid, distinct from every key, and resolving to live customers. Keys come
    /// in id order; keys in any other order (as snapshots listed them before) are sorted
    /// once they are all read.
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
        let mut last: Option<u32> = None;
        // Keys after the first one out of id order (a snapshot written before keys were listed
        // in id order): sorted and added at the end, with their offsets for the errors.
        let mut late: Vec<(Box<str>, u32, u64)> = Vec::new();
        let valid = |key: &str| !key.is_empty() && key.len() <= MAX_CUSTOMER_KEY_LEN;
        let twice = |what: &str, key: &str, id: u32, at: u64| {
            crate::persist::codec::corrupt(&path, at, format!("{what} ({key:?}, id {id})"))
        };
        r.chunked(*b"KEYS", |d| {
            let at = d.offset();
            let key = d.str("customer key")?;
            let id = d.u32("customer id")?;
            if !valid(key) {
                return Err(twice("an empty or too long customer key", key, id, at));
            }
            if !live.contains(id) {
                return Err(twice("a key's customer is not live", key, id, at));
            }
            if !late.is_empty() || last.is_some_and(|l| id <= l) {
                late.push((key.into(), id, at));
                return Ok(());
            }
            if keys.get(key).is_some() {
                return Err(twice("a key given twice", key, id, at));
            }
            keys.insert(key, CustomerId(id));
            last = Some(id);
            Ok(())
        })?;
        if !late.is_empty() {
            let mut all: Vec<(Box<str>, u32, u64)> = keys.iter().map(|(k, id)| (k.into(), id.0, 0)).collect();
            all.append(&mut late);
            all.sort_unstable_by_key(|&(_, id, _)| id);
            keys = Keys::default();
            let mut last: Option<u32> = None;
            for (key, id, at) in all {
                if last == Some(id) {
                    return Err(twice("a customer with two keys", &key, id, at));
                }
                if keys.get(&key).is_some() {
                    return Err(twice("a key given twice", &key, id, at));
                }
                keys.insert(&key, CustomerId(id));
                last = Some(id);
            }
        }
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
        Ok(Directory { keys, aliases: Arc::new(aliases), live_len: live.len(), live: Arc::new(live), next_id })
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
        assert_eq!((d.keyed(), d.aliases.to.len(), d.aliases.of.len(), d.aliases.key_bytes), (1, 0, 0, 0));
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

    #[test]
    fn keys_out_of_id_order_in_a_snapshot_are_sorted_and_two_keys_of_one_id_refused() {
        use crate::persist::testing::{TempDir, assert_corrupt, read_file, sections, write_file, write_sections};
        let mut d = Directory::default();
        for k in ["b", "高消费", "a", "z"] {
            d.intern(k).unwrap();
        }
        d.register_id(CustomerId(40)).unwrap();
        d.intern("after-a-gap").unwrap();
        d.remove(CustomerId(2)).unwrap();
        let dir = TempDir::new("directory-order");
        let path = dir.path("d.snap");
        write_file(&path, |w| d.write_snapshot(w));
        let mut secs = sections(&path);
        let keys: Vec<(String, u32)> = d.keys.iter().map(|(k, id)| (k.to_owned(), id.0)).collect();
        let listed = |keys: &[(String, u32)]| {
            let mut e = crate::persist::Enc::default();
            e.u64(keys.len() as u64);
            for (k, id) in keys {
                e.str(k);
                e.u32(*id);
            }
            e.buf
        };
        let at = secs.iter().position(|(kind, _)| kind == b"KEYS").unwrap();
        let mut shuffled = keys.clone();
        shuffled.swap(0, 3);
        shuffled.reverse();
        secs[at].1 = listed(&shuffled);
        write_sections(&path, &secs);
        let back = read_file(&path, Directory::read_snapshot).unwrap();
        let got: Vec<(String, u32)> = back.keys.iter().map(|(k, id)| (k.to_owned(), id.0)).collect();
        assert_eq!(got, keys);
        assert_eq!((back.id_of("after-a-gap"), back.key_of(CustomerId(3))), (Some(CustomerId(41)), Some("z")));
        let mut twice = shuffled.clone();
        twice[1].1 = twice[3].1; // two keys of one customer, out of order
        secs[at].1 = listed(&twice);
        write_sections(&path, &secs);
        assert_corrupt(read_file(&path, Directory::read_snapshot), "two keys of one id");
    }

    mod model {
        use std::collections::{BTreeMap, HashMap};

        use proptest::prelude::*;

        use super::*;

        #[derive(Clone, Debug)]
        enum Op {
            Intern(u16),
            RegisterId(u32),
            RegisterRange(u32, u32),
            Remove(u16),
            Merge(u16, u16),
            View,
        }

        /// A directory taken on the way, with what the model held then.
        type View = (Directory, HashMap<String, u32>, BTreeMap<u32, String>);

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => (0u16..600).prop_map(Op::Intern),
                1 => prop_oneof![0u32..9_000, Just(u32::MAX - 1)].prop_map(Op::RegisterId),
                1 => (0u32..9_000, 0u32..300).prop_map(|(a, n)| Op::RegisterRange(a, a + n)),
                2 => (0u16..600).prop_map(Op::Remove),
                1 => (0u16..600, 0u16..600).prop_map(|(a, b)| Op::Merge(a, b)),
                1 => Just(Op::View),
            ]
        }

        /// Key `k` of the test: some long, some Unicode, so chunks fill unevenly.
        fn key(k: u16) -> String {
            match k % 3 {
                0 => format!("customer-{k}@example.com"),
                1 => format!("高消费-{k}"),
                _ => format!("{k}-{}", "x".repeat(usize::from(k) % 40)),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

            /// The directory against a map of keys and a map of ids, after random interning,
            /// registrations, removals and merges, with views taken on the way (each must
            /// still show what the directory showed when it was taken).
            #[test]
            fn the_directory_is_a_pair_of_maps(ops in prop::collection::vec(op(), 1..400)) {
                let mut d = Directory::default();
                let mut by_key: HashMap<String, u32> = HashMap::new(); // own and alias keys
                let mut own: BTreeMap<u32, String> = BTreeMap::new();
                let mut views: Vec<View> = Vec::new();
                for op in ops {
                    match op {
                        Op::Intern(k) => {
                            let got = d.intern(&key(k));
                            match by_key.get(&key(k)) {
                                Some(&id) => prop_assert_eq!(got, Ok(CustomerId(id))),
                                None => match got {
                                    Ok(id) => {
                                        prop_assert!(own.keys().next_back().is_none_or(|&l| l < id.0));
                                        by_key.insert(key(k), id.0);
                                        own.insert(id.0, key(k));
                                    }
                                    Err(e) => prop_assert_eq!(e, Error::CustomerIdsExhausted),
                                },
                            }
                        }
                        Op::RegisterId(id) => {
                            let got = d.register_id(CustomerId(id));
                            prop_assert_eq!(got.is_err(), own.contains_key(&id));
                        }
                        Op::RegisterRange(a, b) => {
                            let got = d.register_range(a..b);
                            let clash = own.range(a..b).next().map(|(&id, _)| id);
                            match clash {
                                Some(id) => prop_assert_eq!(
                                    got,
                                    Err(Error::CustomerIdTaken { id: CustomerId(id), key: own[&id].clone() })
                                ),
                                None => prop_assert!(got.is_ok()),
                            }
                        }
                        Op::Remove(k) => {
                            if let Some(&id) = by_key.get(&key(k)) {
                                d.remove(CustomerId(id)).unwrap();
                                own.remove(&id);
                                by_key.retain(|_, v| *v != id);
                            }
                        }
                        Op::Merge(a, b) => {
                            if let (Some(&into), Some(&from)) = (by_key.get(&key(a)), by_key.get(&key(b))) {
                                let got = d.merge(CustomerId(into), CustomerId(from));
                                if into == from {
                                    prop_assert!(got.is_err());
                                } else {
                                    got.unwrap();
                                    own.remove(&from);
                                    by_key.values_mut().filter(|v| **v == from).for_each(|v| *v = into);
                                }
                            }
                        }
                        Op::View => views.push((d.clone(), by_key.clone(), own.clone())),
                    }
                }
                views.push((d, by_key, own));
                for (d, by_key, own) in &views {
                    prop_assert_eq!(d.keyed(), own.len());
                    for k in 0..600 {
                        prop_assert_eq!(d.id_of(&key(k)), by_key.get(&key(k)).map(|&id| CustomerId(id)), "key {}", k);
                    }
                    for (&id, k) in own {
                        prop_assert_eq!(d.key_of(CustomerId(id)), Some(k.as_str()));
                    }
                    let listed: Vec<(String, u32)> = d.keys.iter().map(|(k, id)| (k.to_owned(), id.0)).collect();
                    let want: Vec<(String, u32)> = own.iter().map(|(&id, k)| (k.clone(), id)).collect();
                    prop_assert_eq!(listed, want, "in id order");
                    let key_bytes: usize = own.values().map(String::len).sum();
                    prop_assert_eq!(d.key_bytes(), key_bytes);
                }
            }
        }
    }
}
