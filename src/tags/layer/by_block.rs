//! Every tag's sparse part of a block, side by side: the census that describe and compare
//! count audiences against.
//!
//! Describe counts an audience against every tag of the pool. Tag by tag, most of that
//! work is probing the values of the tags' array containers (at 10M customers x 1,000
//! tags, 32M of the 53M assignments) against the audience's words, and it is bound by
//! memory: each tag visits every block's audience words in turn (1.2 MiB for 10M customers,
//! past a core's L2), and each container is its own allocation. Block by block instead, the
//! audience's 8 KiB of words stay in L1 while the block's tags stream past in one
//! contiguous run: the census holds, per 2^16-id block, the values of every tag that has at
//! most 4,096 there ([`ARRAY_LIMIT`], an array container's most) as one `u16` array, and
//! lists the tags with more (bitsets, counted tag by tag, a word kernel at a time).
//!
//! The array is laid out for [`crate::blocks::pages`]: by group of 256 tag ids, then by
//! page of 256 customers, an entry (`u16`) being the customer's low byte with the tag's
//! id within its group above it. A page of the audience (32 bytes) then fits one vector
//! register and every entry of the page is looked up in it, where a tag's values in id
//! order would each load an audience word (about twice the time). Each tag's count of
//! values in the block is kept beside (the tag totals). At 10M x 1,000 the census takes
//! describe from 27 ms (tag by tag) to 7 ms on one thread; building it costs about 130 ms
//! on one thread and 100 on two, once for all later reads until a write.
//!
//! It holds each tag's own members (not a parent's subtree union: a parent is counted tag
//! by tag). Blocks are kept as `per_block.rs` says: built by the second read since a write
//! (in one pass over the tags for all the blocks a describe needs), dropped by any write to
//! them, within the tag bitmaps' serialized size. Which values a block holds is decided by
//! the cardinality alone, the way the census is read back ([`Counter::count_rest`] counts
//! the containers of more than 4,096), so a container changing kind without changing
//! members (`optimize`) cannot make a value counted twice or missed.
//!
//! A group costs 1,028 bytes of page offsets in each block it has a value in, and a pass
//! over its 256 pages per audience: nothing beside a group's values when its tags are
//! dense in ids (a pool of 1,000 tags is four groups), but a pool whose live tags are
//! spread thin over many deleted ids (one live tag per 256) pays that per tag. Such a
//! census may outgrow its budget, and describe then counts tag by tag: slower, never wrong.
//!
//! [`Counter::count_rest`]: crate::blocks::count::Counter::count_rest

use std::sync::Arc;

use super::Tags;
use super::per_block::{HeapBytes, PerBlock, Read};
use crate::blocks::format::{ARRAY_LIMIT, Container, array_values, run_ranges};
use crate::blocks::stream::for_each_counted;
use crate::id::TagId;

/// The census's blocks: built lazily by reads (`&self`), dropped by writes.
pub(super) type ByBlock = PerBlock<Census>;

/// One block of the census.
///
/// Its values are laid out by page, for [`crate::blocks::pages`]: the tags are taken in
/// groups of 256 ids (group `g`: ids `256g..256g + 256`), and within a group, by page of
/// 256 customers (page `p`: the block's customers `256p..256p + 256`). An entry is one
/// assignment, a `u16`: the customer's low byte, and above it the tag's id within its
/// group. A page's audience bits (32 bytes) fit one vector register, so each entry is
/// looked up in registers rather than loaded from memory.
#[derive(Debug)]
pub(crate) struct Census {
    key: u16,
    /// The tags with at most [`ARRAY_LIMIT`] values here (and at least one), in id order,
    /// with how many values each.
    tags: Vec<(TagId, u32)>,
    /// The groups with values here, ascending.
    groups: Vec<u32>,
    /// Group `groups[i]`'s page `p` is `entries[starts[256 i + p]..starts[256 i + p + 1]]`.
    starts: Vec<u32>,
    /// Every segment's entries, in tag order then by customer, then [`ENTRIES_PAD`] zeros.
    entries: Vec<u16>,
    /// The tags with more values here, in id order.
    dense: Vec<TagId>,
}

/// Tags a group holds, and customers a page.
pub(crate) const GROUP: usize = 256;

/// Zeros after a block's entries: a vector load of 32 entries from any segment's start
/// stays within them.
pub(crate) const ENTRIES_PAD: usize = 32;

/// A group of a census block: its first tag id, and its pages' entries.
pub(crate) struct Group<'a> {
    /// The id of the group's first tag (`256g`): entry `e` is of tag `first + (e >> 8)`.
    pub(crate) first: usize,
    /// Page `p`'s entries are `entries[starts[p]..starts[p + 1]]` (257 starts).
    pub(crate) starts: &'a [u32],
    /// The block's entries, padded with [`ENTRIES_PAD`] zeros.
    pub(crate) entries: &'a [u16],
}

impl HeapBytes for Census {
    fn heap_bytes(&self) -> usize {
        self.tags.capacity() * size_of::<(TagId, u32)>()
            + self.dense.capacity() * size_of::<TagId>()
            + (self.groups.capacity() + self.starts.capacity()) * 4
            + self.entries.capacity() * 2
    }
}

impl Census {
    /// The block `key`, from its tags' values (tag-major, as [`Collect::add`] collects them).
    fn new(key: u16, tags: Vec<(TagId, u32)>, values: &[u16], dense: Vec<TagId>) -> Census {
        // Groups are found in one forward walk: the pool hands its tags out in id order.
        debug_assert!(tags.is_sorted_by_key(|&(t, _)| t.index()), "tags in id order");
        let group_of = |t: TagId| (t.index() / GROUP) as u32;
        let mut groups: Vec<u32> = tags.iter().map(|&(t, _)| group_of(t)).collect();
        groups.dedup();
        // Each tag's group slot and values.
        let mut runs = Vec::with_capacity(tags.len());
        let (mut at, mut slot) = (0, 0);
        for &(t, n) in &tags {
            while groups[slot] != group_of(t) {
                slot += 1;
            }
            runs.push((t, slot * GROUP, &values[at..at + n as usize]));
            at += n as usize;
        }
        // Entries per segment, then each segment's start, then the entries in place: the
        // tags come in id order and their values ascending, so each segment is sorted.
        let mut starts = vec![0u32; groups.len() * GROUP + 1];
        for &(_, base, run) in &runs {
            for &v in run {
                starts[base + usize::from(v >> 8) + 1] += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut fill = starts.clone();
        let mut entries = vec![0u16; values.len() + ENTRIES_PAD];
        for &(t, base, run) in &runs {
            let high = ((t.index() % GROUP) as u16) << 8;
            for &v in run {
                let at = &mut fill[base + usize::from(v >> 8)];
                entries[*at as usize] = high | (v & 0xFF);
                *at += 1;
            }
        }
        Census { key, tags, groups, starts, entries, dense }
    }

    /// The block's key.
    pub(crate) fn key(&self) -> u16 {
        self.key
    }

    /// One past the highest tag id the block names (0 when it names none).
    pub(crate) fn tags_end(&self) -> usize {
        let sparse = self.tags.last().map_or(0, |(t, _)| t.index() + 1);
        sparse.max(self.dense.last().map_or(0, |t| t.index() + 1))
    }

    /// The values held (the block's sparse assignments).
    pub(crate) fn len(&self) -> usize {
        self.entries.len() - ENTRIES_PAD
    }

    /// Each tag with at most [`ARRAY_LIMIT`] values in the block, and how many, in id order.
    pub(crate) fn sparse(&self) -> impl Iterator<Item = (TagId, u32)> + '_ {
        self.tags.iter().copied()
    }

    /// The block's groups, ascending, with their entries.
    pub(crate) fn groups(&self) -> impl Iterator<Item = Group<'_>> + '_ {
        self.groups.iter().zip(self.starts.windows(GROUP + 1).step_by(GROUP)).map(|(&g, starts)| Group {
            first: g as usize * GROUP,
            starts,
            entries: &self.entries,
        })
    }

    /// The tags with more than [`ARRAY_LIMIT`] values in the block, in id order.
    pub(crate) fn dense(&self) -> &[TagId] {
        &self.dense
    }

    /// Each sparse tag's values, in id order, read back from the entries (for tests).
    #[cfg(test)]
    pub(crate) fn values(&self) -> Vec<(TagId, Vec<u16>)> {
        let mut out: Vec<(TagId, Vec<u16>)> = self.tags.iter().map(|&(t, _)| (t, Vec::new())).collect();
        for g in self.groups() {
            for p in 0..GROUP {
                for &e in &g.entries[g.starts[p] as usize..g.starts[p + 1] as usize] {
                    let t = g.first + usize::from(e >> 8);
                    let at = out.iter().position(|(u, _)| u.index() == t).expect("a tag of the block");
                    out[at].1.push(((p as u16) << 8) | (e & 0xFF));
                }
            }
        }
        out
    }
}

/// A block of the census as its tags' containers are added, tag-major.
struct Collect {
    key: u16,
    tags: Vec<(TagId, u32)>,
    values: Vec<u16>,
    dense: Vec<TagId>,
}

impl Collect {
    /// An empty block with room for `(tags, values, dense tags)`.
    fn with_capacity(key: u16, (tags, values, dense): (usize, usize, usize)) -> Collect {
        Collect {
            key,
            tags: Vec::with_capacity(tags),
            values: Vec::with_capacity(values),
            dense: Vec::with_capacity(dense),
        }
    }

    /// Adds tag `t`'s container `c` of `card` values.
    fn add(&mut self, t: TagId, card: usize, c: Container<'_>) {
        if card > ARRAY_LIMIT {
            self.dense.push(t);
            return;
        }
        let values = &mut self.values;
        let before = values.len();
        match c {
            Container::Array(b) => values.extend(array_values(b).map(|v| v as u16)),
            Container::Run(b) => run_ranges(b).for_each(|(lo, hi)| values.extend((lo..=hi).map(|v| v as u16))),
            Container::Bitset(b) => {
                for (w, chunk) in b.chunks_exact(8).enumerate() {
                    let mut word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8 bytes"));
                    while word != 0 {
                        values.push((w * 64 + word.trailing_zeros() as usize) as u16);
                        word &= word - 1;
                    }
                }
            }
        }
        self.tags.push((t, (values.len() - before) as u32));
    }

    fn finish(self) -> Census {
        Census::new(self.key, self.tags, &self.values, self.dense)
    }
}

impl Tags {
    /// The census of the blocks `keys` (ascending, no repeats) that have one, ascending by
    /// key. Blocks are built in one pass over the tags: on a cold read (nothing of `keys`
    /// kept) those read again since their last write, and once some of `keys` are kept
    /// every missing one (a read of part of the census costs more than building the rest).
    /// Within the budget: a block past it serves this read only. The blocks built are laid
    /// out by page on `threads` threads.
    pub(crate) fn census(&self, keys: &[u16], threads: usize) -> Vec<Arc<Census>> {
        let mut out = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for &key in keys {
            match self.by_block.kept(key) {
                Some(b) => out.push(b),
                None => missing.push(key),
            }
        }
        let build: Vec<u16> = if out.is_empty() {
            missing.into_iter().filter(|&k| matches!(self.by_block.read(k), Read::Build)).collect()
        } else if self.by_block.is_full() {
            Vec::new()
        } else {
            missing
        };
        if !build.is_empty() {
            let budget = self.store.serialized_bytes();
            out.extend(self.build_census(&build, threads).into_iter().map(|c| self.by_block.keep(c.key, c, budget)));
            out.sort_unstable_by_key(|c| c.key);
        }
        out
    }

    /// Blocks `keys` of the census, from two streamed passes over every tag's containers:
    /// one to size each block exactly from the containers' cardinalities, one to fill it.
    fn build_census(&self, keys: &[u16], threads: usize) -> Vec<Census> {
        const NONE: u32 = u32::MAX;
        let mut slot = vec![NONE; 1 << 16];
        for (i, &key) in keys.iter().enumerate() {
            slot[usize::from(key)] = i as u32;
        }
        // (tags, values, dense tags) per block.
        let mut sizes = vec![(0usize, 0usize, 0usize); keys.len()];
        for (t, _) in self.pool.iter() {
            for_each_counted(self.store.get(t), |key, card, _| {
                if let Some(s) = sizes.get_mut(slot[usize::from(key)] as usize) {
                    if card > ARRAY_LIMIT {
                        s.2 += 1;
                    } else {
                        (s.0, s.1) = (s.0 + 1, s.1 + card);
                    }
                }
            });
        }
        let mut blocks: Vec<Collect> =
            keys.iter().zip(&sizes).map(|(&key, &size)| Collect::with_capacity(key, size)).collect();
        for (t, _) in self.pool.iter() {
            for_each_counted(self.store.get(t), |key, card, c| {
                if let Some(b) = blocks.get_mut(slot[usize::from(key)] as usize) {
                    b.add(t, card, c);
                }
            });
        }
        // Laying each block out by page, on `threads` threads (blocks of about as many
        // values each).
        let total: usize = blocks.iter().map(|b| b.values.len()).sum();
        let mut parts: Vec<Vec<Collect>> = vec![Vec::new()];
        let mut seen = 0;
        for b in blocks {
            seen += b.values.len();
            let part = parts.last_mut().expect("a part");
            part.push(b);
            if seen * threads >= total * parts.len() && parts.len() < threads {
                parts.push(Vec::new());
            }
        }
        crate::par::concat(crate::par::map(parts, |_, part| part.into_iter().map(Collect::finish).collect()))
    }

    /// Heap bytes of the census's blocks.
    pub(crate) fn census_bytes(&self) -> usize {
        self.by_block.bytes()
    }
}

#[cfg(test)]
mod tests {
    use roaring::RoaringBitmap;

    use super::*;

    /// A block of the census holds each tag's values there, by cardinality: up to 4,096 as
    /// values (whatever the container's kind: array, run, or a bitset `optimize` left), more
    /// as a dense tag; and it follows writes.
    #[test]
    fn a_block_holds_every_tags_part_by_cardinality() {
        let mut tags = Tags::default();
        let sparse = tags.ensure("sparse").unwrap();
        let dense = tags.ensure("dense").unwrap();
        let runs = tags.ensure("runs").unwrap();
        let edge = tags.ensure("edge").unwrap();
        tags.put_many(sparse, (0..140_000u32).step_by(97).collect());
        tags.put_many(dense, (0..70_000u32).filter(|c| c % 3 != 0).collect());
        tags.put_many(runs, (65_536..65_536 + 3_000).chain(131_072..131_072 + 40_000).collect());
        tags.put_many(edge, (0..ARRAY_LIMIT as u32).chain(65_536..65_536 + ARRAY_LIMIT as u32 + 1).collect());
        tags.optimize();
        let want = |tags: &Tags, key: u16| {
            let (lo, hi) = (u32::from(key) << 16, u32::from(key) << 16 | 0xFFFF);
            let (mut sparse, mut dense) = (Vec::new(), Vec::new());
            for (t, _) in tags.pool.iter() {
                let part: Vec<u16> = tags.store.get(t).range(lo..=hi).map(|v| v as u16).collect();
                match part.len() {
                    0 => {}
                    n if n > ARRAY_LIMIT => dense.push(t),
                    _ => sparse.push((t, part)),
                }
            }
            (sparse, dense)
        };
        let check = |tags: &Tags| {
            assert!(tags.census(&[0, 1, 2], 2).is_empty(), "a first read builds nothing");
            let got = tags.census(&[0, 1, 2], 2);
            assert_eq!(got.iter().map(|c| c.key()).collect::<Vec<_>>(), [0, 1, 2]);
            for c in &got {
                let sparse: Vec<(TagId, Vec<u16>)> = c.values();
                assert_eq!((sparse, c.dense().to_vec()), want(tags, c.key()), "block {}", c.key());
            }
            assert!(tags.census_bytes() > 0);
            assert_eq!(tags.census(&[1], 2).len(), 1, "kept");
        };
        check(&tags);
        tags.put(sparse, 65_537);
        assert_eq!(tags.census(&[0, 2], 2).len(), 2, "a write drops the blocks it spans only");
        assert!(tags.census(&[1], 2).is_empty(), "block 1 alone, written since: a cold read");
        tags.take(sparse, 65_537);
        let got = tags.census(&[0, 1, 2], 2);
        assert_eq!(got.len(), 3, "part of the census kept: the missing block is built at once");
        assert_eq!(got[1].values(), want(&tags, 1).0);
        tags.take_everywhere(&(0..200_000u32).step_by(5).collect::<RoaringBitmap>());
        check(&tags);
        // A clone (a reader's view) shares the census kept and answers alike; a write to
        // the original drops its own blocks only.
        let _ = tags.census(&[0, 1, 2], 2);
        let copy = tags.clone();
        assert!(copy.census_bytes() > 0);
        assert_eq!(copy.census_bytes(), tags.census_bytes());
        type Shown = Vec<(Vec<(TagId, Vec<u16>)>, Vec<TagId>)>;
        let shows = |tags: &Tags| -> Shown {
            let got = tags.census(&[0, 1, 2], 2);
            assert_eq!(got.len(), 3, "kept");
            got.iter().map(|c| (c.values(), c.dense().to_vec())).collect()
        };
        let before = shows(&copy);
        assert_eq!(before, [0, 1, 2].map(|k| want(&copy, k)));
        tags.take(sparse, 97);
        assert_eq!(shows(&copy), before, "the original's write leaves the clone's census");
        assert!(tags.census(&[0], 2).is_empty(), "the original dropped block 0");
    }

    /// Tags in several groups of 256 ids (one group left empty by deletes, tags past the
    /// first group's end, ids at a group's edges) lay out and read back exactly, with every
    /// page of a block used.
    #[test]
    fn groups_of_tags_read_back() {
        let mut tags = Tags::default();
        let ids: Vec<TagId> = (0..900).map(|k| tags.ensure(&format!("t{k}")).unwrap()).collect();
        for (k, &t) in ids.iter().enumerate() {
            let step = 1 + (k * 37) % 500;
            tags.put_many(t, (k as u32 % 7..140_000).step_by(step).collect());
        }
        for k in 256..512 {
            tags.delete(&format!("t{k}")).unwrap();
        }
        let want = |tags: &Tags, key: u16| {
            let (lo, hi) = (u32::from(key) << 16, u32::from(key) << 16 | 0xFFFF);
            let mut sparse = Vec::new();
            for (t, _) in tags.pool.iter() {
                let part: Vec<u16> = tags.store.get(t).range(lo..=hi).map(|v| v as u16).collect();
                if !part.is_empty() && part.len() <= ARRAY_LIMIT {
                    sparse.push((t, part));
                }
            }
            sparse
        };
        let _ = tags.census(&[0, 1, 2], 2);
        let got = tags.census(&[0, 1, 2], 2);
        assert_eq!(got.len(), 3);
        // The same blocks on any number of threads, more threads than blocks included.
        for threads in [1, 3, 8] {
            let again = tags.build_census(&[0, 1, 2], threads);
            let read: Vec<_> = again.iter().map(|c| (c.key(), c.values())).collect();
            let kept: Vec<_> = got.iter().map(|c| (c.key(), c.values())).collect();
            assert_eq!(read, kept, "{threads} threads");
        }
        for c in &got {
            let values = c.values();
            assert_eq!(values, want(&tags, c.key()), "block {}", c.key());
            assert!(values.iter().any(|(t, _)| t.index() >= 512), "a later group");
            assert_eq!(c.len(), values.iter().map(|(_, v)| v.len()).sum::<usize>());
            assert_eq!(c.groups().count(), 3, "groups 0, 2 and 3; 1 is empty");
        }
    }

    /// Tag ids far past one group's (70,000 and `u32::MAX - 1`) in the last block of the
    /// id space, values at a page's and the block's edges, and a block of dense tags only.
    #[test]
    fn far_tag_ids_and_the_last_block_read_back() {
        let tags = vec![(TagId(70_000), 3), (TagId(70_143), 1), (TagId(u32::MAX - 1), 2)];
        let values = [0, 255, 65_535, 256, 1, 65_535];
        let c = Census::new(u16::MAX, tags, &values, vec![TagId(4)]);
        assert_eq!(c.key(), u16::MAX);
        assert_eq!(c.len(), 6);
        let want = vec![
            (TagId(70_000), vec![0, 255, 65_535]),
            (TagId(70_143), vec![256]),
            (TagId(u32::MAX - 1), vec![1, 65_535]),
        ];
        assert_eq!(c.values(), want);
        assert_eq!(c.groups().count(), 2, "70,000 and 70,143 share group 273");
        let sparse: Vec<(TagId, u32)> = c.sparse().collect();
        assert_eq!(sparse, [(TagId(70_000), 3), (TagId(70_143), 1), (TagId(u32::MAX - 1), 2)]);

        let dense_only = Census::new(7, Vec::new(), &[], vec![TagId(1), TagId(2)]);
        assert_eq!((dense_only.len(), dense_only.groups().count(), dense_only.sparse().count()), (0, 0, 0));
    }
}
