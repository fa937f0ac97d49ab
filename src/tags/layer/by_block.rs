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
//! most 4,096 there ([`ARRAY_LIMIT`], an array container's most) as one `u16` array, with
//! each tag's start, and lists the tags with more (bitsets, counted tag by tag, a word
//! kernel at a time). At 10M x 1,000 the census roughly halves describe's time.
//!
//! It holds each tag's own members (not a parent's subtree union: a parent is counted tag
//! by tag). Blocks are kept as `per_block.rs` says: built by the second read since a write
//! (in one pass over the tags for all the blocks a describe needs), dropped by any write to
//! them, within the tag bitmaps' serialized size. Which values a block holds is decided by
//! the cardinality alone, the way the census is read back ([`Counter::count_rest`] counts
//! the containers of more than 4,096), so a container changing kind without changing
//! members (`optimize`) cannot make a value counted twice or missed.
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
#[derive(Debug)]
pub(crate) struct Census {
    key: u16,
    /// The tags with at most [`ARRAY_LIMIT`] values here (and at least one), in id order.
    tags: Vec<TagId>,
    /// Tag `tags[i]`'s values are `values[starts[i]..starts[i + 1]]`, ascending.
    starts: Vec<u32>,
    values: Vec<u16>,
    /// The tags with more values here, in id order.
    dense: Vec<TagId>,
}

impl HeapBytes for Census {
    fn heap_bytes(&self) -> usize {
        (self.tags.capacity() + self.dense.capacity()) * size_of::<TagId>()
            + self.starts.capacity() * 4
            + self.values.capacity() * 2
    }
}

impl Census {
    /// An empty block with room for `(tags, values, dense tags)`.
    fn with_capacity(key: u16, (tags, values, dense): (usize, usize, usize)) -> Census {
        let mut starts = Vec::with_capacity(tags + 1);
        starts.push(0);
        Census {
            key,
            tags: Vec::with_capacity(tags),
            starts,
            values: Vec::with_capacity(values),
            dense: Vec::with_capacity(dense),
        }
    }

    /// The block's key.
    pub(crate) fn key(&self) -> u16 {
        self.key
    }

    /// One past the highest tag id the block names (0 when it names none).
    pub(crate) fn tags_end(&self) -> usize {
        let last = |v: &[TagId]| v.last().map_or(0, |t| t.index() + 1);
        last(&self.tags).max(last(&self.dense))
    }

    /// The values held (the block's sparse assignments).
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Each tag with at most [`ARRAY_LIMIT`] values in the block, and its values (the low 16
    /// bits of its customers there), in id order.
    pub(crate) fn sparse(&self) -> impl Iterator<Item = (TagId, &[u16])> + '_ {
        self.tags.iter().zip(self.starts.windows(2)).map(|(&t, s)| (t, &self.values[s[0] as usize..s[1] as usize]))
    }

    /// The tags with more than [`ARRAY_LIMIT`] values in the block, in id order.
    pub(crate) fn dense(&self) -> &[TagId] {
        &self.dense
    }

    /// Adds tag `t`'s container `c` of `card` values.
    fn add(&mut self, t: TagId, card: usize, c: Container<'_>) {
        if card > ARRAY_LIMIT {
            self.dense.push(t);
            return;
        }
        let values = &mut self.values;
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
        self.tags.push(t);
        self.starts.push(values.len() as u32);
    }
}

impl Tags {
    /// The census of the blocks `keys` (ascending, no repeats) that have one, ascending by
    /// key. Blocks are built in one pass over the tags: on a cold read (nothing of `keys`
    /// kept) those read again since their last write, and once some of `keys` are kept
    /// every missing one (a read of part of the census costs more than building the rest).
    /// Within the budget: a block past it serves this read only.
    pub(crate) fn census(&self, keys: &[u16]) -> Vec<Arc<Census>> {
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
            out.extend(self.build_census(&build).into_iter().map(|c| self.by_block.keep(c.key, c, budget)));
            out.sort_unstable_by_key(|c| c.key);
        }
        out
    }

    /// Blocks `keys` of the census, from two streamed passes over every tag's containers:
    /// one to size each block exactly from the containers' cardinalities, one to fill it.
    fn build_census(&self, keys: &[u16]) -> Vec<Census> {
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
        let mut blocks: Vec<Census> =
            keys.iter().zip(&sizes).map(|(&key, &size)| Census::with_capacity(key, size)).collect();
        for (t, _) in self.pool.iter() {
            for_each_counted(self.store.get(t), |key, card, c| {
                if let Some(b) = blocks.get_mut(slot[usize::from(key)] as usize) {
                    b.add(t, card, c);
                }
            });
        }
        blocks
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
            assert!(tags.census(&[0, 1, 2]).is_empty(), "a first read builds nothing");
            let got = tags.census(&[0, 1, 2]);
            assert_eq!(got.iter().map(|c| c.key()).collect::<Vec<_>>(), [0, 1, 2]);
            for c in &got {
                let sparse: Vec<(TagId, Vec<u16>)> = c.sparse().map(|(t, v)| (t, v.to_vec())).collect();
                assert_eq!((sparse, c.dense().to_vec()), want(tags, c.key()), "block {}", c.key());
            }
            assert!(tags.census_bytes() > 0);
            assert_eq!(tags.census(&[1]).len(), 1, "kept");
        };
        check(&tags);
        tags.put(sparse, 65_537);
        assert_eq!(tags.census(&[0, 2]).len(), 2, "a write drops the blocks it spans only");
        assert!(tags.census(&[1]).is_empty(), "block 1 alone, written since: a cold read");
        tags.take(sparse, 65_537);
        let got = tags.census(&[0, 1, 2]);
        assert_eq!(got.len(), 3, "part of the census kept: the missing block is built at once");
        assert_eq!(got[1].sparse().map(|(t, v)| (t, v.to_vec())).collect::<Vec<_>>(), want(&tags, 1).0);
        tags.take_everywhere(&(0..200_000u32).step_by(5).collect::<RoaringBitmap>());
        check(&tags);
        // A clone (a reader's view) shares the census kept and answers alike; a write to
        // the original drops its own blocks only.
        let _ = tags.census(&[0, 1, 2]);
        let copy = tags.clone();
        assert!(copy.census_bytes() > 0);
        assert_eq!(copy.census_bytes(), tags.census_bytes());
        type Shown = Vec<(Vec<(TagId, Vec<u16>)>, Vec<TagId>)>;
        let shows = |tags: &Tags| -> Shown {
            let got = tags.census(&[0, 1, 2]);
            assert_eq!(got.len(), 3, "kept");
            got.iter().map(|c| (c.sparse().map(|(t, v)| (t, v.to_vec())).collect(), c.dense().to_vec())).collect()
        };
        let before = shows(&copy);
        assert_eq!(before, [0, 1, 2].map(|k| want(&copy, k)));
        tags.take(sparse, 97);
        assert_eq!(shows(&copy), before, "the original's write leaves the clone's census");
        assert!(tags.census(&[0]).is_empty(), "the original dropped block 0");
    }
}
