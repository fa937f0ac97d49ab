//! Keys a bulk load meets that the directory does not know yet: held apart, with the ids
//! they will get, until the load is known good and [`Directory::commit`] adds them all.
//!
//! A load that stops at a bad line leaves the directory as it was: nothing of it was
//! registered. Ids are handed out in the order the keys are first met, from the
//! directory's next id on, exactly as registering them one by one would.
//!
//! Keys are resolved a batch at a time ([`Staged::resolve`]), and the batch is worked on
//! shard by shard ([`SHARDS`] of them, by hash): a shard's table and key bytes are a
//! fraction of the whole, and the shards are spread over threads. Finding a key is the
//! costly part (a random read of a big table and of the key's bytes); numbering the new
//! ones is a pass in batch order over the results:
//!
//! 1. by shard (threads): each key is found, or entered as *pending* under the position
//!    of its first occurrence in the batch;
//! 2. in batch order: a first occurrence takes the next id; a later one takes its first's;
//! 3. by shard, at the start of the next batch: pending entries get their ids.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;

use super::{Directory, MAX_CUSTOMER_KEY_LEN};
use crate::error::{Error, KeyProblem, Result};
use crate::id::CustomerId;

/// Shards of the staged keys: a power of two; the low bits of a key's hash choose one.
const SHARDS: usize = 64;

/// New keys of a load, in order of first sight.
#[derive(Debug)]
pub(crate) struct Staged {
    /// The directory's next id when staging began: the `i`-th new key gets `base + i`.
    base: u64,
    shards: Vec<Shard>,
    /// Each new key, in id order: its shard and where its bytes are there.
    order: Vec<(u32, u64)>,
}

#[derive(Debug, Default)]
struct Shard {
    table: HashTable<Entry>,
    /// The shard's keys' bytes, one after the other.
    bytes: String,
    /// Ids handed out to pending entries (their bucket, their id), applied at the shard's
    /// next pass.
    assign: Vec<(usize, u32)>,
}

/// A staged key: where its bytes are, 32 bits of its hash, its id (or, while pending, the
/// position in the batch of its first occurrence).
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Start in the shard's bytes (bits 17..64), pending flag (bit 16), length (bits 0..16:
    /// keys are at most 4 KiB).
    at: u64,
    hash: u32,
    id: u32,
}

const PENDING: u64 = 1 << 16;
const _: () = assert!(MAX_CUSTOMER_KEY_LEN < 1 << 16);

impl Entry {
    fn range(&self) -> std::ops::Range<usize> {
        let start = (self.at >> 17) as usize;
        start..start + (self.at & 0xFFFF) as usize
    }
}

/// The table's hash of a key's 32 bits (as the directory's own table does).
fn spread(hash: u32) -> u64 {
    u64::from(hash) | u64::from(hash).wrapping_mul(0x9E37_79B9) << 32
}

/// What pass 1 found for a key of a batch.
#[derive(Clone, Copy, Debug)]
enum Found {
    /// Staged before, with this id.
    Id(u32),
    /// First met here: the entry's bucket in its shard.
    First(usize),
    /// Met earlier in the batch, at this position.
    Again(u32),
}

impl Shard {
    /// Gives pending entries the ids pass 2 handed out.
    fn settle(&mut self) {
        for (bucket, id) in self.assign.drain(..) {
            let e = self.table.get_bucket_mut(bucket).expect("a pending entry stays in its bucket");
            e.id = id;
            e.at &= !PENDING;
        }
    }

    /// Pass 1 for this shard's keys of a batch (`(position in batch, key, hash)`, in batch
    /// order).
    fn find(&mut self, keys: &[(u32, &str, u64)], out: &mut Vec<(u32, Found)>) {
        self.settle();
        // No growth until the ids are assigned: buckets must stay where they are.
        self.table.reserve(keys.len(), |e| spread(e.hash));
        for &(pos, key, h) in keys {
            let hash = (h >> 32) as u32;
            let bytes = &self.bytes;
            let slot = self.table.entry(
                spread(hash),
                |e| e.hash == hash && bytes.as_bytes()[e.range()] == *key.as_bytes(),
                |e| spread(e.hash),
            );
            let found = match slot {
                Slot::Occupied(e) if e.get().at & PENDING != 0 => Found::Again(e.get().id),
                Slot::Occupied(e) => Found::Id(e.get().id),
                Slot::Vacant(v) => {
                    let at = (self.bytes.len() as u64) << 17 | PENDING | key.len() as u64;
                    let e = v.insert(Entry { at, hash, id: pos });
                    let bucket = e.bucket_index();
                    self.bytes.push_str(key);
                    Found::First(bucket)
                }
            };
            out.push((pos, found));
        }
    }
}

impl Staged {
    /// How many new keys.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The new keys, in id order, with their ids.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (CustomerId, &str)> + '_ {
        self.order.iter().enumerate().map(|(i, &(s, at))| {
            let e = Entry { at, hash: 0, id: 0 };
            (CustomerId((self.base + i as u64) as u32), &self.shards[s as usize].bytes[e.range()])
        })
    }

    /// The id the first new key gets (the directory's next id; may be 2^32 when no key
    /// is new).
    pub(crate) fn first_id(&self) -> u64 {
        self.base
    }

    /// The ids of `keys` (each with its [`Directory::hash_key`] hash; none a key of the
    /// directory, each valid: non-empty, at most [`MAX_CUSTOMER_KEY_LEN`] bytes), staging
    /// the new ones, numbered in order of first appearance; on `threads` threads.
    ///
    /// Errors: [`Error::CustomerIdsExhausted`], with nothing staged.
    pub(crate) fn resolve(&mut self, keys: &[(&str, u64)], threads: usize) -> Result<Vec<CustomerId>> {
        // Pass 1, by shard: each shard's keys in batch order.
        let mut by_shard: Vec<Vec<(u32, &str, u64)>> = vec![Vec::new(); SHARDS];
        for (pos, &(key, h)) in keys.iter().enumerate() {
            debug_assert!(!key.is_empty() && key.len() <= MAX_CUSTOMER_KEY_LEN);
            by_shard[h as usize % SHARDS].push((pos as u32, key, h));
        }
        let threads = threads.clamp(1, SHARDS);
        let per = SHARDS.div_ceil(threads);
        let found: Vec<Vec<(u32, Found)>> = if threads == 1 || keys.len() < 4096 {
            self.shards.iter_mut().zip(&by_shard).map(|(s, k)| find_all(s, k)).collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = self
                    .shards
                    .chunks_mut(per)
                    .zip(by_shard.chunks(per))
                    .map(|(shards, keys)| {
                        scope
                            .spawn(move || shards.iter_mut().zip(keys).map(|(s, k)| find_all(s, k)).collect::<Vec<_>>())
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("a staging thread panicked")).collect()
            })
        };
        // Pass 2, in batch order.
        let mut results = vec![Found::Id(0); keys.len()];
        let mut shard_of = vec![0u8; keys.len()];
        for (s, f) in found.into_iter().enumerate() {
            for (pos, r) in f {
                results[pos as usize] = r;
                shard_of[pos as usize] = s as u8;
            }
        }
        let new = results.iter().filter(|r| matches!(r, Found::First(_))).count() as u64;
        let next = self.base + self.order.len() as u64;
        if next + new > 1 << 32 {
            // Forget this batch's entries: they are pending, and no id was handed out.
            for shard in &mut self.shards {
                shard.table.retain(|e| e.at & PENDING == 0);
            }
            return Err(Error::CustomerIdsExhausted);
        }
        let mut ids = Vec::with_capacity(keys.len());
        for (pos, r) in results.iter().enumerate() {
            let id = match *r {
                Found::Id(id) => id,
                Found::Again(first) => ids[first as usize],
                Found::First(bucket) => {
                    let id = (self.base + self.order.len() as u64) as u32;
                    let shard = &mut self.shards[shard_of[pos] as usize];
                    shard.assign.push((bucket, id));
                    let e = shard.table.get_bucket(bucket).expect("a pending entry stays in its bucket");
                    self.order.push((u32::from(shard_of[pos]), e.at & !PENDING));
                    id
                }
            };
            ids.push(id);
        }
        Ok(ids.into_iter().map(CustomerId).collect())
    }
}

fn find_all(shard: &mut Shard, keys: &[(u32, &str, u64)]) -> Vec<(u32, Found)> {
    let mut out = Vec::with_capacity(keys.len());
    shard.find(keys, &mut out);
    out
}

impl Directory {
    /// An empty staging area for keys new to this directory.
    pub(crate) fn stage(&self) -> Staged {
        Staged { base: self.next_id, shards: (0..SHARDS).map(|_| Shard::default()).collect(), order: Vec::new() }
    }

    /// `key`'s hash with this directory's seed, for [`Directory::lookup`] and
    /// [`Staged::resolve`] (any thread may compute it).
    pub(crate) fn hash_key(&self, key: &str) -> u64 {
        self.keys.hash_of(key)
    }

    /// The live customer `key` (hash `h`) resolves to, if any: its own key's, or the one an
    /// alias key was merged into.
    pub(crate) fn lookup(&self, key: &str, h: u64) -> Option<CustomerId> {
        self.keys.get_hashed(key, h).or_else(|| self.aliases.get(key))
    }

    /// Adds every key of `staged` with the id it was given ([`Staged::first_id`] on), on
    /// `threads` threads.
    /// `staged` comes from this directory, with no id handed out since (the engine holds
    /// `&mut` from staging to commit).
    pub(crate) fn commit(&mut self, staged: &Staged, threads: usize) {
        debug_assert_eq!(staged.base, self.next_id, "ids handed out while keys were staged");
        if staged.len() == 0 {
            return;
        }
        self.keys.insert_many(staged.keys(), threads);
        // The last id is at most u32::MAX: `resolve` refuses more.
        let end = staged.base + staged.len() as u64;
        self.live_len += std::sync::Arc::make_mut(&mut self.live).insert_range(staged.base as u32..=(end - 1) as u32);
        self.next_id = self.next_id.max(end);
    }
}

/// Why `key` cannot be a customer key, if it cannot.
pub(crate) fn key_problem(key: &str) -> Option<KeyProblem> {
    if key.is_empty() {
        Some(KeyProblem::Empty)
    } else if key.len() > MAX_CUSTOMER_KEY_LEN {
        Some(KeyProblem::TooLong { len: key.len() })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(d: &Directory, s: &mut Staged, keys: &[&str], threads: usize) -> Vec<u32> {
        let keys: Vec<(&str, u64)> = keys.iter().map(|k| (*k, d.hash_key(k))).collect();
        s.resolve(&keys, threads).unwrap().into_iter().map(|c| c.0).collect()
    }

    #[test]
    fn staged_keys_get_ids_in_order_of_first_sight_and_nothing_changes_until_commit() {
        let mut d = Directory::default();
        d.intern("a").unwrap();
        let mut s = d.stage();
        assert_eq!(resolve(&d, &mut s, &["b", "高消费", "b", "c"], 1), [1, 2, 1, 3]);
        assert_eq!(resolve(&d, &mut s, &["c", "d", "b", "d"], 1), [3, 4, 1, 4]);
        assert_eq!(d.id_of("b"), None, "staged, not registered");
        assert_eq!(d.live().len(), 1);
        d.commit(&s, 2);
        assert_eq!((d.id_of("b"), d.id_of("高消费")), (Some(CustomerId(1)), Some(CustomerId(2))));
        assert_eq!(d.key_of(CustomerId(4)), Some("d"));
        assert_eq!(d.live().len(), 5);
        assert_eq!(d.intern("e").unwrap(), CustomerId(5));
    }

    #[test]
    fn any_thread_count_gives_the_same_ids() {
        let d = Directory::default();
        let keys: Vec<String> = (0..30_000u32).map(|i| format!("k{}", (i * 7919) % 12_000)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut want = None;
        for threads in [1, 2, 3, 64] {
            let mut s = d.stage();
            let mut ids = Vec::new();
            for batch in keys.chunks(5_000) {
                ids.extend(resolve(&d, &mut s, batch, threads));
            }
            let order: Vec<(CustomerId, String)> = s.keys().map(|(id, k)| (id, k.to_owned())).collect();
            assert_eq!(order.len(), 12_000);
            match &want {
                None => want = Some((ids, order)),
                Some(w) => assert_eq!(&(ids, order), w, "{threads} threads"),
            }
        }
    }
}
