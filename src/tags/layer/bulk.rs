//! Bulk loading of (customer, tag) pairs: the pairs are checked, their names resolved (an
//! alias to the tag it points at) and grouped per tag first (nothing changes on error), then
//! each tag's bitmap is built from a sorted run in one piece ([`crate::blocks::build`]), and
//! exclusive-group values are settled with one difference per value tag.

use std::collections::HashMap;
use std::hash::Hasher;

use roaring::RoaringBitmap;

use super::Tags;
use crate::customers::Directory;
use crate::error::Result;
use crate::id::{CustomerId, TagId};
use crate::tags::normalize_tag;

/// A bulk load in the making: nothing in the engine changes until it is applied.
#[derive(Default)]
struct Bulk {
    /// Names new to the pool, with whether each is a value of an exclusive group.
    new_names: indexmap::IndexMap<String, bool>,
    /// Customer ids per tag slot that has pairs (pool tags by id, then new names after the
    /// pool's slots).
    runs: Vec<(usize, Vec<u32>)>,
    /// Per tag slot, its index in `runs` plus one (0: no pairs yet). Allocated zeroed, so the
    /// pages of slots no pair names are never touched: a small load into a large pool costs
    /// what it names, not 4 bytes per tag.
    run_of: Vec<u32>,
    /// (customer, slot) for exclusive-group values, applied in order.
    ordered: Vec<(u32, usize)>,
    /// Every customer id below this is live (see `Directory::dense_live`).
    dense_live: u32,
}

/// A small multiply-rotate hasher (the FxHash scheme) for the transient per-load name cache:
/// tag names are short and hashed once per pair, where SipHash would dominate the load. It
/// starts from a random key of the load ([`FastState`]) and ends with an avalanche, so a file
/// of names crafted to collide (FxHash's collisions are easy to compute for a known start)
/// cannot turn the load quadratic.
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        // murmur3's finalizer: every input bit moves every output bit.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}

/// Builds [`FastHasher`]s from one random key per load.
struct FastState(u64);

impl FastState {
    fn new() -> FastState {
        use std::hash::BuildHasher;
        FastState(std::hash::RandomState::new().hash_one(0x10ad_u64))
    }
}

impl std::hash::BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

/// A tag as resolved during a bulk load: a pool tag, or the n-th name new to the pool.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Slot {
    Existing(TagId),
    New(usize),
}

impl Tags {
    /// Assigns (customer, tag name) pairs in bulk, as assigning them one by one in order
    /// would; how many assignments are new. Every pair is checked against `customers` (the
    /// live set) and the name rules before anything changes.
    pub(crate) fn load_pairs<I, S>(&mut self, customers: &Directory, pairs: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S)>,
        S: AsRef<str>,
    {
        let mut bulk =
            Bulk { dense_live: customers.dense_live(), run_of: vec![0; self.pool.slot_count()], ..Bulk::default() };
        // Raw name -> slot, so each distinct spelling is normalized and looked up once.
        let mut seen: HashMap<Box<str>, Slot, FastState> = HashMap::with_hasher(FastState::new());
        for (customer, name) in pairs {
            let name = name.as_ref();
            let slot = match seen.get(name) {
                Some(&s) => s,
                None => {
                    let s = self.bulk_slot(&mut bulk, name)?;
                    seen.insert(name.into(), s);
                    s
                }
            };
            self.bulk_push(customers, &mut bulk, customer, slot)?;
        }
        self.bulk_apply(bulk)
    }

    /// [`Tags::load_pairs`] with tag ids.
    pub(crate) fn load_id_pairs<I>(&mut self, customers: &Directory, pairs: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, TagId)>,
    {
        let mut bulk =
            Bulk { dense_live: customers.dense_live(), run_of: vec![0; self.pool.slot_count()], ..Bulk::default() };
        let mut checked = None; // pairs usually come grouped by tag: check each run's tag once
        for (customer, tag) in pairs {
            if checked != Some(tag) {
                self.pool.check(tag)?;
                self.check_writable_id(tag)?;
                checked = Some(tag);
            }
            self.bulk_push(customers, &mut bulk, customer, Slot::Existing(tag))?;
        }
        self.bulk_apply(bulk)
    }

    /// The slot of a name: the tag it names (its own name or an alias, checked writable), or
    /// a new name (checked creatable).
    fn bulk_slot(&self, bulk: &mut Bulk, name: &str) -> Result<Slot> {
        let norm = normalize_tag(name)?;
        if let Some(id) = self.writable(&norm)? {
            return Ok(Slot::Existing(id));
        }
        if let Some(i) = bulk.new_names.get_index_of(&*norm) {
            return Ok(Slot::New(i));
        }
        self.pool.validate_new(&norm)?;
        let exclusive = self.pool.is_group_value(&norm);
        Ok(Slot::New(bulk.new_names.insert_full(norm.into_owned(), exclusive).0))
    }

    /// Checks one pair and files it: per-tag runs, or (exclusive groups) the ordered list.
    fn bulk_push(&self, customers: &Directory, bulk: &mut Bulk, customer: CustomerId, slot: Slot) -> Result<()> {
        // Live customers numbered 0..n (the usual bulk load) need no bitmap lookup.
        if customer.0 >= bulk.dense_live {
            customers.check_live(customer)?;
        }
        let base = self.pool.slot_count();
        let (key, exclusive) = match slot {
            Slot::Existing(id) => (id.index(), !self.pool.exclusive_members(id).is_empty()),
            Slot::New(i) => (base + i, bulk.new_names[i]),
        };
        if exclusive {
            bulk.ordered.push((customer.0, key));
        } else {
            if bulk.run_of.len() <= key {
                bulk.run_of.resize(key + 1, 0);
            }
            let i = match bulk.run_of[key] {
                0 => {
                    bulk.runs.push((key, Vec::new()));
                    bulk.run_of[key] = bulk.runs.len() as u32;
                    bulk.runs.len() - 1
                }
                i => i as usize - 1,
            };
            bulk.runs[i].1.push(customer.0);
        }
        Ok(())
    }

    fn bulk_apply(&mut self, bulk: Bulk) -> Result<u64> {
        let base = self.pool.slot_count();
        // Everything is valid: create the new tags, then build.
        if !bulk.new_names.is_empty() {
            self.pool_mut().reserve(bulk.new_names.len()); // none: the pool stays shared
        }
        let mut ids: Vec<TagId> = Vec::with_capacity(bulk.new_names.len());
        for name in bulk.new_names.keys() {
            let kind = self.pool.implicit_kind(name);
            ids.push(match self.pool.lookup(name) {
                Some(id) => id, // created meanwhile as an ancestor of another new name
                None => self.create(name, kind)?,
            });
        }
        let tag_of = |key: usize| if key < base { TagId(key as u32) } else { ids[key - base] };
        let mut added = 0;
        drop(bulk.run_of);
        for (key, mut run) in bulk.runs {
            if !run.is_sorted() {
                run.sort_unstable();
            }
            run.dedup();
            let tag = tag_of(key);
            // Built at exact container sizes, in the kinds `optimize` would pick; only a
            // union with an existing bitmap needs optimizing again.
            let bits = crate::blocks::build::from_sorted(&run);
            drop(run);
            let merged = !self.store.get(tag).is_empty();
            self.expiry.forget_all(tag, &bits); // plain assignments are for good
            added += self.put_many(tag, bits);
            if merged {
                self.store.optimize_tag(tag);
            }
        }
        let exclusive: Vec<(u32, TagId)> = bulk.ordered.into_iter().map(|(c, key)| (c, tag_of(key))).collect();
        added += self.bulk_exclusive(exclusive);
        Ok(added)
    }

    /// Applies exclusive-group values given in order, with bitmap operations: per group and
    /// customer the last value given wins, and the winners' other values of the group are
    /// removed in one difference per member tag. Returns how many assignments were new.
    fn bulk_exclusive(&mut self, pairs: Vec<(u32, TagId)>) -> u64 {
        let group_of = |t: TagId| self.pool.def(t).and_then(|d| d.group()).expect("exclusive values have a group");
        let group_of = |t: TagId| group_of(t) as usize;
        let mut wins: Vec<(usize, u32, TagId)> = pairs.into_iter().rev().map(|(c, t)| (group_of(t), c, t)).collect();
        // A stable sort of the reversed list puts the last value given first in each run.
        wins.sort_by_key(|&(g, c, _)| (g, c));
        wins.dedup_by_key(|&mut (g, c, _)| (g, c));
        let mut added = 0;
        for group in wins.chunk_by_mut(|a, b| a.0 == b.0) {
            let touched = RoaringBitmap::from_sorted_iter(group.iter().map(|&(_, c, _)| c))
                .expect("customers ascend within a group");
            group.sort_unstable_by_key(|&(_, c, t)| (t, c));
            let runs: Vec<(TagId, RoaringBitmap)> = group
                .chunk_by(|a, b| a.2 == b.2)
                .map(|run| {
                    let ids: Vec<u32> = run.iter().map(|&(_, c, _)| c).collect();
                    (run[0].2, crate::blocks::build::from_sorted(&ids))
                })
                .collect();
            for (tag, bits) in &runs {
                added += bits.len() - bits.intersection_len(self.store.get(*tag));
            }
            // Each value loses the touched customers it is not given: a customer given the
            // value it has keeps it (no change for the feed to report).
            for i in 0..self.pool.exclusive_members(runs[0].0).len() {
                let member = self.pool.exclusive_members(runs[0].0)[i];
                match runs.iter().find(|(t, _)| *t == member) {
                    Some((_, kept)) => self.take_many(member, &(&touched - kept)),
                    None => self.take_many(member, &touched),
                };
            }
            for (tag, bits) in runs {
                self.expiry.forget_all(tag, &bits); // plain assignments are for good
                self.put_many(tag, bits);
            }
        }
        added
    }
}
