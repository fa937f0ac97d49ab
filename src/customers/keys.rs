//! The key directory: each customer key's bytes once, in an arena in id order, and a hash
//! table of ids over it, so that a key costs its bytes and about 10-20 more.
//!
//! - **The arena.** Keys are appended in id order (a new key always gets an id above every
//!   key's: ids are handed out increasing, and a snapshot lists its keys in id order) to
//!   chunks of [`CHUNK`] keys: one `String` of their bytes and their end offsets (`u32`).
//!   A chunk whose ids run `first, first + 1, ...` (keys interned one after another) keeps
//!   no ids at all: key `i` is id `first + i`. Only a chunk with gaps (ids registered by
//!   the caller in between) keeps its ids, for a binary search. `key_of(id)` is a binary
//!   search over the chunks' first ids, then an index.
//! - **The table.** `hashbrown`'s `HashTable` of (id, 32 bits of the key's hash), hashed
//!   by their key's bytes ([foldhash], seeded per process): a lookup hashes the key and
//!   reads the arena only for a candidate whose 32 bits match (in effect, the key itself);
//!   growing the table re-spreads the kept bits without reading a key. No key is stored
//!   twice.
//! - **Removal** unlists the id from the table and marks its end ([`GONE`]); its bytes stay
//!   in the arena (counted as overhead) until the engine is next opened from a snapshot.
//! - **Sharing.** The list of chunks, each chunk, and the table's [`SHARDS`] shards sit
//!   behind `Arc`s: a clone (an engine's [`Reader`](crate::Reader)) shares them, whatever
//!   the number of keys, and a write copies the list (a handle per chunk), the one chunk and
//!   the one shard it changes when a view still holds them.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::id::CustomerId;

/// Keys per chunk of the arena: a write after a view copies one chunk (16 KiB of ends and
/// the keys' bytes, about 100 KiB for 25-byte keys); the chunks' first ids, searched by
/// `key_of`, are 2,442 at 10M keys.
pub(super) const CHUNK: usize = 4096;

/// Shards of the hash table: a new key after a view copies 1/1024 of the table.
const SHARDS: usize = 1024;

/// The top bit of a key's end marks it removed. A chunk holds at most [`CHUNK`] keys of at
/// most [`MAX_CUSTOMER_KEY_LEN`](super::MAX_CUSTOMER_KEY_LEN) bytes (16 MiB), so ends never
/// reach it.
const GONE: u32 = 1 << 31;

const _: () = assert!((CHUNK * super::MAX_CUSTOMER_KEY_LEN) < GONE as usize);

/// Up to [`CHUNK`] keys, in id order.
#[derive(Clone, Debug, Default)]
struct Chunk {
    /// The first key's id.
    first: u32,
    /// Every key's id, ascending; `None` while they are `first, first + 1, ...`.
    ids: Option<Vec<u32>>,
    /// Where key `i` ends in `bytes` (it starts where key `i - 1` ends), [`GONE`]-marked
    /// once removed.
    ends: Vec<u32>,
    /// The keys' bytes, one after the other.
    bytes: String,
}

impl Chunk {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn id(&self, i: usize) -> u32 {
        match &self.ids {
            None => self.first + i as u32,
            Some(ids) => ids[i],
        }
    }

    /// The index of `id`'s key here, if it has one here (removed or not).
    fn index(&self, id: u32) -> Option<usize> {
        match &self.ids {
            None => {
                let i = id.checked_sub(self.first)? as usize;
                (i < self.len()).then_some(i)
            }
            Some(ids) => ids.binary_search(&id).ok(),
        }
    }

    /// Key `i`, unless removed.
    fn key(&self, i: usize) -> Option<&str> {
        let end = self.ends[i];
        if end & GONE != 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] & !GONE };
        Some(&self.bytes[start as usize..end as usize])
    }

    /// Appends `key` for `id` (above every id here; the chunk has room).
    fn push(&mut self, id: u32, key: &str) {
        if self.ends.is_empty() {
            self.first = id;
        } else if self.ids.is_none() && u64::from(id) != u64::from(self.first) + self.len() as u64 {
            self.ids = Some((0..self.len()).map(|i| self.first + i as u32).collect());
        }
        if let Some(ids) = &mut self.ids {
            ids.push(id);
        }
        self.bytes.push_str(key);
        self.ends.push(self.bytes.len() as u32);
    }

    /// Gives back what a full chunk reserved beyond its keys.
    fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        if let Some(ids) = &mut self.ids {
            ids.shrink_to_fit();
        }
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Chunk>()
            + 16 // the Arc's counts
            + 4 * self.ends.capacity()
            + self.bytes.capacity()
            + self.ids.as_ref().map_or(0, |ids| 4 * ids.capacity())
    }
}

/// The customers' own keys (alias keys are [`Aliases`](super::Aliases)').
#[derive(Clone, Debug, Default)]
pub(super) struct Keys {
    /// The arena, in id order.
    chunks: Arc<Vec<Arc<Chunk>>>,
    /// Each chunk's first id, for the binary search of `key_of`.
    firsts: Arc<Vec<u32>>,
    /// The ids of the keys not removed, with 32 bits of their key's hash ([`Keys::hash`]),
    /// by those bits (no shards before the first key).
    table: Vec<Arc<HashTable<(u32, u32)>>>,
    hasher: RandomState,
    /// How many keys (not removed).
    pub(super) len: usize,
    /// Their bytes.
    key_bytes: usize,
    /// Bytes of removed keys the arena still holds.
    dead_bytes: usize,
}

/// The shard of a key's 32 hash bits: the top 10 (the table's bucket index takes the low
/// bits of [`spread`], and its 7-bit tag the top bits of the product).
fn shard(hash: u32) -> usize {
    (hash >> 22) as usize % SHARDS
}

/// The table's 64-bit hash of a key's 32 bits, made again from those bits alone when the
/// table grows: the bits in the low half (the bucket index) and a multiple in the high
/// half (the tag).
fn spread(hash: u32) -> u64 {
    u64::from(hash) | u64::from(hash).wrapping_mul(0x9E37_79B9) << 32
}

/// Where `id`'s key is in `chunks` (which `firsts` indexes): (chunk, index).
fn locate(chunks: &[Arc<Chunk>], firsts: &[u32], id: u32) -> Option<(usize, usize)> {
    let c = firsts.partition_point(|&f| f <= id).checked_sub(1)?;
    Some((c, chunks[c].index(id)?))
}

fn key_in<'a>(chunks: &'a [Arc<Chunk>], firsts: &[u32], id: u32) -> Option<&'a str> {
    let (c, i) = locate(chunks, firsts, id)?;
    chunks[c].key(i)
}

impl Keys {
    /// The id `key` belongs to.
    pub(super) fn get(&self, key: &str) -> Option<CustomerId> {
        if self.len == 0 {
            return None;
        }
        let hash = self.hash(key);
        let found = self.table[shard(hash)].find(spread(hash), |&(id, h)| h == hash && self.key_of(id) == Some(key));
        found.map(|&(id, _)| CustomerId(id))
    }

    /// The 32 bits of `key`'s hash the table keeps.
    fn hash(&self, key: &str) -> u32 {
        (self.hasher.hash_one(key) >> 32) as u32
    }

    /// `id`'s key, if it has one.
    pub(super) fn key_of(&self, id: u32) -> Option<&str> {
        key_in(&self.chunks, &self.firsts, id)
    }

    /// Adds `key` (no key yet) for `id` (above every id that ever had a key here).
    pub(super) fn insert(&mut self, key: &str, id: CustomerId) {
        debug_assert!(self.chunks.last().is_none_or(|c| c.id(c.len() - 1) < id.0), "ids in order");
        if self.table.is_empty() {
            self.table = (0..SHARDS).map(|_| Arc::default()).collect();
        }
        let chunks = Arc::make_mut(&mut self.chunks);
        match chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Arc::make_mut(last).push(id.0, key),
            last => {
                if let Some(full) = last.and_then(Arc::get_mut) {
                    full.shrink();
                }
                let mut chunk = Chunk { ends: Vec::with_capacity(CHUNK), ..Chunk::default() };
                chunk.push(id.0, key);
                chunks.push(Arc::new(chunk));
                Arc::make_mut(&mut self.firsts).push(id.0);
            }
        }
        let hash = self.hash(key);
        Arc::make_mut(&mut self.table[shard(hash)]).insert_unique(spread(hash), (id.0, hash), |&(_, h)| spread(h));
        self.len += 1;
        self.key_bytes += key.len();
    }

    /// Forgets `id`'s key, if it has one.
    pub(super) fn remove(&mut self, id: u32) {
        let Some((c, i)) = locate(&self.chunks, &self.firsts, id) else { return };
        let Some(key) = self.chunks[c].key(i) else { return };
        let (hash, len) = (self.hash(key), key.len());
        if let Ok(entry) = Arc::make_mut(&mut self.table[shard(hash)]).find_entry(spread(hash), |&(x, _)| x == id) {
            entry.remove();
        }
        Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[c]).ends[i] |= GONE;
        self.len -= 1;
        self.key_bytes -= len;
        self.dead_bytes += len;
    }

    /// Every (key, id), in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, CustomerId)> + '_ {
        self.chunks.iter().flat_map(|c| (0..c.len()).filter_map(|i| Some((c.key(i)?, CustomerId(c.id(i))))))
    }

    /// The lowest id in `ids` that has a key.
    pub(super) fn first_keyed_in(&self, ids: std::ops::Range<u32>) -> Option<u32> {
        let from = self.firsts.partition_point(|&f| f <= ids.start).saturating_sub(1);
        self.chunks[from.min(self.chunks.len())..]
            .iter()
            .take_while(|c| c.first < ids.end)
            .flat_map(|c| (0..c.len()).filter(|&i| c.key(i).is_some()).map(|i| c.id(i)))
            .find(|id| ids.contains(id))
    }

    /// The bytes of the keys (not removed).
    pub(super) fn key_bytes(&self) -> usize {
        self.key_bytes
    }

    /// Heap bytes: the keys' and the rest (constant time but for a pass over the chunks'
    /// and shards' headers).
    pub(super) fn heap_bytes(&self) -> usize {
        let chunks: usize = self.chunks.iter().map(|c| c.heap_bytes()).sum();
        let table: usize =
            self.table.iter().map(|t| t.allocation_size() + std::mem::size_of::<HashTable<(u32, u32)>>() + 16).sum();
        chunks + table + 8 * self.chunks.capacity() + 4 * self.firsts.capacity() + 8 * self.table.capacity()
    }

    /// Bytes of removed keys still held (part of [`Keys::heap_bytes`]).
    #[cfg(test)]
    pub(super) fn dead_bytes(&self) -> usize {
        self.dead_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_ids_only_when_they_have_gaps() {
        let mut k = Keys::default();
        for i in 0..(CHUNK as u32 + 10) {
            k.insert(&format!("k{i}"), CustomerId(i));
        }
        assert_eq!(k.chunks.len(), 2);
        assert!(k.chunks.iter().all(|c| c.ids.is_none()), "in id order: no ids kept");
        k.insert("gap", CustomerId(CHUNK as u32 + 100));
        assert!(k.chunks[1].ids.is_some());
        assert_eq!(k.key_of(CHUNK as u32 + 100), Some("gap"));
        assert_eq!(k.key_of(CHUNK as u32 + 50), None);
        assert_eq!(k.key_of(CHUNK as u32 + 9), Some(&*format!("k{}", CHUNK + 9)));
        assert_eq!(k.get("gap"), Some(CustomerId(CHUNK as u32 + 100)));
        assert_eq!(k.first_keyed_in(CHUNK as u32 + 10..u32::MAX), Some(CHUNK as u32 + 100));
        assert_eq!(k.first_keyed_in(5..7), Some(5));
        assert_eq!(k.first_keyed_in(CHUNK as u32 + 10..CHUNK as u32 + 100), None);
    }

    #[test]
    fn removal_unlists_and_the_bytes_stay_until_reloaded() {
        let mut k = Keys::default();
        for (i, key) in ["a", "高消费", "c"].iter().enumerate() {
            k.insert(key, CustomerId(i as u32 * 2));
        }
        k.remove(2);
        k.remove(2);
        k.remove(7);
        assert_eq!(
            (k.get("高消费"), k.key_of(2), k.get("c"), k.key_of(4)),
            (None, None, Some(CustomerId(4)), Some("c"))
        );
        assert_eq!((k.len, k.key_bytes(), k.dead_bytes()), (2, 2, "高消费".len()));
        assert_eq!(k.iter().collect::<Vec<_>>(), [("a", CustomerId(0)), ("c", CustomerId(4))]);
        assert_eq!(k.first_keyed_in(1..4), None);
        k.insert("高消费", CustomerId(9));
        assert_eq!(k.get("高消费"), Some(CustomerId(9)));
    }

    #[test]
    fn a_clone_shares_and_a_write_copies_one_chunk_and_one_shard() {
        let mut k = Keys::default();
        for i in 0..3 * CHUNK as u32 {
            k.insert(&format!("customer-{i}@example.com"), CustomerId(i));
        }
        let view = k.clone();
        k.insert("new", CustomerId(5 * CHUNK as u32));
        k.remove(7);
        let same = |a: &[Arc<Chunk>], b: &[Arc<Chunk>]| a.iter().zip(b).filter(|(x, y)| Arc::ptr_eq(x, y)).count();
        assert_eq!(same(&k.chunks, &view.chunks), 2, "the first chunk copied (a removal), the third shared");
        let shards = k.table.iter().zip(&view.table).filter(|(x, y)| !Arc::ptr_eq(x, y)).count();
        assert!((1..=2).contains(&shards), "{shards} shards copied");
        assert_eq!((view.get("customer-7@example.com"), view.get("new")), (Some(CustomerId(7)), None));
        assert_eq!((k.get("customer-7@example.com"), k.get("new")), (None, Some(CustomerId(5 * CHUNK as u32))));
    }
}
