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
//!   by their key's bytes ([foldhash], seeded at random per process, so colliding keys
//!   cannot be written down ahead of time; foldhash does not claim the resistance to
//!   collision attacks of std's SipHash, which costs 2.4x the time): a lookup hashes the key and
//!   reads the arena only for a candidate whose 32 bits match (in effect, the key itself);
//!   growing the table re-spreads the kept bits without reading a key. No key is stored
//!   twice.
//! - **Removal** unlists the id from the table and marks its end ([`GONE`]); its bytes stay
//!   in the arena (counted as overhead) until they are half of their chunk's, when the chunk
//!   is rewritten without them (or dropped, when no key of it is left).
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
/// most [`MAX_CUSTOMER_KEY_LEN`](super::MAX_CUSTOMER_KEY_LEN) bytes (4 KiB): 16 MiB, so ends
/// never reach it.
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
    /// Bytes of the removed keys among them.
    dead: usize,
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

    /// Rewrites the chunk without its removed keys (their ids kept when that leaves gaps).
    fn compact(&mut self) {
        let mut ids = Vec::with_capacity(self.len());
        let mut bytes = String::with_capacity(self.bytes.len() - self.dead);
        let mut ends = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            if let Some(key) = self.key(i) {
                ids.push(self.id(i));
                bytes.push_str(key);
                ends.push(bytes.len() as u32);
            }
        }
        self.first = ids.first().copied().unwrap_or(self.first);
        let dense = ids.iter().enumerate().all(|(i, &id)| u64::from(id) == u64::from(self.first) + i as u64);
        self.ids = if dense { None } else { Some(ids) };
        (self.bytes, self.ends, self.dead) = (bytes, ends, 0);
    }

    /// Gives back what a full chunk reserved beyond its keys.
    fn shrink(&mut self) {
        self.ends.shrink_to_fit();
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
}

/// A key's shard (from the low half of its 64-bit hash) and the 32 bits the table keeps
/// (the high half), so a shard's keys spread over all of their buckets and tags.
fn split(h: u64) -> (usize, u32) {
    (h as usize % SHARDS, (h >> 32) as u32)
}

/// The table's 64-bit hash of a key's 32 bits, made again from those bits alone when the
/// table grows: the bits in the low half (the bucket index) and a multiple in the high
/// half (the tag).
fn spread(hash: u32) -> u64 {
    u64::from(hash) | u64::from(hash).wrapping_mul(0x9E37_79B9) << 32
}

impl Keys {
    /// The id `key` belongs to.
    pub(super) fn get(&self, key: &str) -> Option<CustomerId> {
        self.get_hashed(key, self.hash_of(key))
    }

    /// [`Keys::get`] with `key`'s [`Keys::hash_of`], computed once by a caller that also
    /// needs it elsewhere (a bulk load hashes each key once, on any thread).
    pub(super) fn get_hashed(&self, key: &str, h: u64) -> Option<CustomerId> {
        if self.len == 0 {
            return None;
        }
        let (shard, hash) = split(h);
        let found = self.table[shard].find(spread(hash), |&(id, h)| h == hash && self.key_of(id) == Some(key));
        found.map(|&(id, _)| CustomerId(id))
    }

    /// `key`'s 64-bit hash with this directory's seed (kept by its clones).
    pub(super) fn hash_of(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn hash(&self, key: &str) -> (usize, u32) {
        split(self.hash_of(key))
    }

    /// `id`'s key, if it has one.
    pub(super) fn key_of(&self, id: u32) -> Option<&str> {
        let (c, i) = self.locate(id)?;
        self.chunks[c].key(i)
    }

    /// Where `id`'s key is, removed or not: (chunk, index).
    fn locate(&self, id: u32) -> Option<(usize, usize)> {
        let c = self.firsts.partition_point(|&f| f <= id).checked_sub(1)?;
        Some((c, self.chunks[c].index(id)?))
    }

    /// Adds `key` (no key yet) for `id` (above every id that ever had a key here).
    pub(super) fn insert(&mut self, key: &str, id: CustomerId) {
        self.append(key, id);
        let (shard, hash) = split(self.hash_of(key));
        Arc::make_mut(&mut self.table[shard]).insert_unique(spread(hash), (id.0, hash), |&(_, h)| spread(h));
    }

    /// [`Keys::insert`] of many keys (none known yet, ids ascending and above every id
    /// that ever had a key here), the table's part shard by shard on `threads` threads: a
    /// shard's table takes its keys one after the other while it is in cache, where keys in
    /// id order land in a random shard each (a cache miss each).
    pub(super) fn insert_many<'k>(&mut self, keys: impl Iterator<Item = (CustomerId, &'k str)>, threads: usize) {
        let mut by_shard: Vec<Vec<(u32, u32)>> = vec![Vec::new(); SHARDS];
        for (id, key) in keys {
            self.append(key, id);
            let (shard, hash) = split(self.hash_of(key));
            by_shard[shard].push((id.0, hash));
        }
        let fill = |table: &mut Arc<HashTable<(u32, u32)>>, entries: &Vec<(u32, u32)>| {
            if entries.is_empty() {
                return;
            }
            let table = Arc::make_mut(table);
            table.reserve(entries.len(), |&(_, h)| spread(h));
            for &(id, hash) in entries {
                table.insert_unique(spread(hash), (id, hash), |&(_, h)| spread(h));
            }
        };
        let per = SHARDS.div_ceil(threads.clamp(1, SHARDS));
        if per == SHARDS {
            self.table.iter_mut().zip(&by_shard).for_each(|(t, e)| fill(t, e));
            return;
        }
        std::thread::scope(|s| {
            for (tables, entries) in self.table.chunks_mut(per).zip(by_shard.chunks(per)) {
                s.spawn(move || tables.iter_mut().zip(entries).for_each(|(t, e)| fill(t, e)));
            }
        });
    }

    /// Puts `key` in the arena for `id` and counts it; the table is the caller's.
    fn append(&mut self, key: &str, id: CustomerId) {
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
        self.len += 1;
        self.key_bytes += key.len();
    }

    /// Forgets `id`'s key, if it has one.
    pub(super) fn remove(&mut self, id: u32) {
        let Some((c, i)) = self.locate(id) else { return };
        let Some(key) = self.chunks[c].key(i) else { return };
        let ((shard, hash), len) = (self.hash(key), key.len());
        if let Ok(entry) = Arc::make_mut(&mut self.table[shard]).find_entry(spread(hash), |&(x, _)| x == id) {
            entry.remove();
        }
        self.len -= 1;
        self.key_bytes -= len;
        let chunks = Arc::make_mut(&mut self.chunks);
        let chunk = Arc::make_mut(&mut chunks[c]);
        chunk.ends[i] |= GONE;
        chunk.dead += len;
        // Removed keys' bytes are given back once they are half of a chunk's: the arena
        // stays within twice its keys whatever the churn.
        if 2 * chunk.dead > chunk.bytes.len() {
            chunk.compact();
            let firsts = Arc::make_mut(&mut self.firsts);
            if chunk.len() == 0 {
                chunks.remove(c);
                firsts.remove(c);
            } else {
                firsts[c] = chunk.first;
            }
        }
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
        self.chunks.iter().map(|c| c.dead).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_keys_at_once_are_the_keys_one_by_one() {
        let keys: Vec<String> = (0..20_000u32).map(|i| format!("key-{i}")).collect();
        let mut one = Keys::default();
        one.insert("first", CustomerId(0));
        for threads in [1, 3] {
            let mut many = one.clone();
            let view = many.clone(); // shared shards are copied, not changed
            many.insert_many(keys.iter().enumerate().map(|(i, k)| (CustomerId(i as u32 + 1), k.as_str())), threads);
            assert_eq!(
                (many.len, many.key_bytes(), view.len),
                (20_001, 5 + keys.iter().map(String::len).sum::<usize>(), 1)
            );
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(many.get(k), Some(CustomerId(i as u32 + 1)), "{threads} threads");
                assert_eq!(many.key_of(i as u32 + 1), Some(k.as_str()));
                assert_eq!(view.get(k), None);
            }
            assert_eq!(many.get("first"), Some(CustomerId(0)));
        }
    }

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
    fn removal_unlists_and_half_a_chunk_of_removed_bytes_is_given_back() {
        let mut k = Keys::default();
        for (i, key) in ["alpha", "高消费", "c", "delta"].iter().enumerate() {
            k.insert(key, CustomerId(i as u32 * 2));
        }
        k.remove(4);
        k.remove(4);
        k.remove(7);
        assert_eq!(
            (k.get("c"), k.key_of(4), k.get("alpha"), k.key_of(6)),
            (None, None, Some(CustomerId(0)), Some("delta"))
        );
        assert_eq!((k.len, k.key_bytes(), k.dead_bytes()), (3, 19, 1), "one byte of 20 removed: kept");
        assert_eq!(k.first_keyed_in(3..6), None);
        k.remove(2); // 10 of 20 bytes removed: not yet half
        assert_eq!(k.dead_bytes(), 10);
        k.remove(0); // 15 of 20: the chunk is rewritten without them
        assert_eq!((k.dead_bytes(), k.chunks[0].bytes.as_str(), k.firsts[0]), (0, "delta", 6));
        assert_eq!(k.iter().collect::<Vec<_>>(), [("delta", CustomerId(6))]);
        assert_eq!(
            (k.key_of(6), k.get("delta"), k.key_of(0), k.get("alpha")),
            (Some("delta"), Some(CustomerId(6)), None, None)
        );
        k.insert("高消费", CustomerId(9));
        assert_eq!((k.get("高消费"), k.key_of(9), k.key_of(7)), (Some(CustomerId(9)), Some("高消费"), None));
        assert!(k.chunks[0].ids.is_some(), "6 and 9: a gap");
        k.remove(6);
        k.remove(9);
        assert!(k.chunks.is_empty() && k.firsts.is_empty(), "a chunk with no key left is dropped");
        k.insert("again", CustomerId(10));
        assert_eq!((k.get("again"), k.key_of(10), k.len), (Some(CustomerId(10)), Some("again"), 1));
    }

    #[test]
    fn churn_keeps_the_arena_within_twice_its_keys() {
        let mut k = Keys::default();
        let long = "k".repeat(4000);
        for i in 0..20_000u32 {
            k.insert(&format!("{long}{i}"), CustomerId(i));
            if i % 10 != 0 {
                k.remove(i);
            }
        }
        assert_eq!(k.len, 2_000);
        let chunks: usize = k.chunks.iter().map(|c| c.bytes.len()).sum();
        assert!(chunks <= 2 * k.key_bytes() + 2 * 4010, "{chunks} bytes held for {} of keys", k.key_bytes());
        for i in (0..20_000u32).step_by(10) {
            assert_eq!(k.get(&format!("{long}{i}")), Some(CustomerId(i)));
            assert_eq!(k.key_of(i).map(str::len), Some(4000 + i.to_string().len()));
        }
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
