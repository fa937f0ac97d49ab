//! Bitmaps from sorted ids, every container at its exact size.
//!
//! `RoaringBitmap::from_sorted_iter` grows each array container one push at a time, so a
//! loaded bitmap keeps up to half of every array's allocation spare; `optimize` then picks
//! run containers where smaller but frees nothing. Across 150,000 array containers (10M
//! customers, 1,000 tags) that slack is most of the gap between roaring-rs (1.5x the
//! serialized size) and CRoaring (1.17x). [`from_sorted`] instead writes the portable image
//! of the bitmap, choosing each block's container kind as `optimize` would, and lets
//! `roaring` read it back: its reader allocates each container at exactly its length.

use roaring::RoaringBitmap;

use super::format::{self, ARRAY_LIMIT, BITSET_BYTES, Kind};

/// One 2^16-id block of the input: `ids[start..end]` share the high 16 bits `key`.
struct Block {
    key: u16,
    start: usize,
    end: usize,
    runs: usize,
    kind: Kind,
}

impl Block {
    fn card(&self) -> usize {
        self.end - self.start
    }

    fn bytes(&self) -> usize {
        self.kind.bytes(self.card(), self.runs)
    }
}

/// The bitmap of `ids`, which must be strictly ascending, in the container kinds
/// `RoaringBitmap::optimize` would choose, each allocated at its exact size.
pub(crate) fn from_sorted(ids: &[u32]) -> RoaringBitmap {
    debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids must be strictly ascending");
    if ids.is_empty() {
        return RoaringBitmap::new();
    }
    let blocks = split(ids);
    let image = write_image(ids, &blocks);
    RoaringBitmap::deserialize_unchecked_from(&image[..])
        .expect("a portable image written by `write_image` is well formed")
}

/// Splits sorted ids into blocks and picks each block's container kind.
fn split(ids: &[u32]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < ids.len() {
        let key = ids[start] >> 16;
        let end = start + ids[start..].partition_point(|&v| v >> 16 == key);
        let block = &ids[start..end];
        let runs = 1 + block.windows(2).filter(|w| w[1] != w[0] + 1).count();
        let card = block.len();
        let plain = Kind::plain(card);
        // `optimize`'s rule: a run container only when strictly smaller.
        let kind = if Kind::Run.bytes(card, runs) < plain.bytes(card, runs) { Kind::Run } else { plain };
        blocks.push(Block { key: key as u16, start, end, runs, kind });
        start = end;
    }
    blocks
}

/// Writes the portable image (header, descriptions, offsets, containers) of `ids`.
fn write_image(ids: &[u32], blocks: &[Block]) -> Vec<u8> {
    let table: Vec<(u16, usize, Kind, usize)> = blocks.iter().map(|b| (b.key, b.card(), b.kind, b.bytes())).collect();
    let header = format::header_size(&table);
    let total = header + blocks.iter().map(Block::bytes).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    format::write_header(&mut out, &table);
    out.resize(total, 0);
    let mut at = header;
    for b in blocks {
        let block = &ids[b.start..b.end];
        let dst = &mut out[at..at + b.bytes()];
        match b.kind {
            Kind::Array => {
                for (d, &v) in dst.chunks_exact_mut(2).zip(block) {
                    format::write_array_value(d, v as u16);
                }
            }
            Kind::Bitset => {
                for &v in block {
                    let (byte, bit) = format::bitset_bit((v & 0xFFFF) as usize);
                    dst[byte] |= bit;
                }
            }
            Kind::Run => {
                let (count, pairs) = dst.split_at_mut(format::RUN_COUNT_BYTES);
                count.copy_from_slice(&(b.runs as u16).to_le_bytes());
                let mut pairs = pairs.chunks_exact_mut(4);
                let mut run_start = block[0];
                for i in 1..=block.len() {
                    if i == block.len() || block[i] != block[i - 1] + 1 {
                        let pair = pairs.next().expect("one slot per counted run");
                        format::write_run(pair, run_start as u16, (block[i - 1] - run_start) as u16);
                        if i < block.len() {
                            run_start = block[i];
                        }
                    }
                }
            }
        }
        at += b.bytes();
    }
    out
}

/// Writes a bitmap block by block from dense words (array or bitset containers, no runs,
/// as a bitmap operation's result would have), then lets `roaring` read it.
pub(crate) struct ImageWriter {
    level: fearless_simd::Level,
    /// `(key, cardinality)` per container.
    blocks: Vec<(u16, usize)>,
    data: Vec<u8>,
    /// One array container's values, decoded.
    values: Box<[u16; ARRAY_LIMIT + super::kernels::DECODE_SLACK]>,
}

impl ImageWriter {
    pub(crate) fn new(level: fearless_simd::Level) -> ImageWriter {
        ImageWriter {
            level,
            blocks: Vec::new(),
            data: Vec::new(),
            values: Box::new([0; ARRAY_LIMIT + super::kernels::DECODE_SLACK]),
        }
    }

    /// Appends block `key` (keys must ascend) holding `card` set bits of `words`.
    pub(crate) fn push_words(&mut self, key: u16, words: &super::kernels::Words, card: u64) {
        let card = card as usize;
        if card == 0 {
            return;
        }
        debug_assert!(self.blocks.last().is_none_or(|&(k, _)| k < key));
        self.blocks.push((key, card));
        if Kind::plain(card) == Kind::Array {
            let n = super::kernels::decode(self.level, words, &mut self.values[..]);
            debug_assert_eq!(n, card);
            self.data.reserve(2 * n);
            for v in &self.values[..n] {
                self.data.extend_from_slice(&v.to_le_bytes());
            }
        } else {
            let at = self.data.len();
            self.data.resize(at + BITSET_BYTES, 0);
            for (d, w) in self.data[at..].chunks_exact_mut(8).zip(words) {
                d.copy_from_slice(&w.to_le_bytes());
            }
        }
    }

    /// Appends `next`'s blocks, whose keys must all follow this writer's.
    pub(crate) fn append(&mut self, mut next: ImageWriter) {
        debug_assert!(
            matches!((self.blocks.last(), next.blocks.first()), (Some(a), Some(b)) if a.0 < b.0)
                || self.blocks.is_empty()
                || next.blocks.is_empty()
        );
        self.blocks.append(&mut next.blocks);
        self.data.append(&mut next.data);
    }

    pub(crate) fn finish(self) -> RoaringBitmap {
        if self.blocks.is_empty() {
            return RoaringBitmap::new();
        }
        let table: Vec<(u16, usize, Kind, usize)> = self
            .blocks
            .iter()
            .map(|&(key, card)| (key, card, Kind::plain(card), Kind::plain(card).bytes(card, 0)))
            .collect();
        let mut image = Vec::with_capacity(format::header_size(&table) + self.data.len());
        format::write_header(&mut image, &table);
        image.extend_from_slice(&self.data);
        RoaringBitmap::deserialize_unchecked_from(&image[..])
            .expect("a portable image written by `ImageWriter` is well formed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(ids: &[u32]) -> RoaringBitmap {
        let mut b = RoaringBitmap::from_sorted_iter(ids.iter().copied()).unwrap();
        b.optimize();
        b
    }

    fn same(ids: &[u32]) {
        let built = from_sorted(ids);
        let want = reference(ids);
        assert_eq!(built, want);
        let (s, w) = (built.statistics(), want.statistics());
        assert_eq!(
            (s.n_array_containers, s.n_bitset_containers, s.n_run_containers),
            (w.n_array_containers, w.n_bitset_containers, w.n_run_containers),
            "container kinds differ from optimize's choice"
        );
        assert_eq!(built.serialized_size(), want.serialized_size());
    }

    #[test]
    fn edge_shapes() {
        same(&[]);
        same(&[0]);
        same(&[u32::MAX]);
        same(&[0, u32::MAX]);
        same(&(0..65536).collect::<Vec<_>>()); // one full block: a single run
        same(&(65535..65537).collect::<Vec<_>>()); // a run across two blocks
        same(&(0..4096).map(|i| i * 2).collect::<Vec<_>>()); // array at the limit
        same(&(0..4097).map(|i| i * 2).collect::<Vec<_>>()); // just a bitset
        same(&(0..20_000).map(|i| i * 3).collect::<Vec<_>>());
        same(&(u32::MAX - 70_000..=u32::MAX).collect::<Vec<_>>());
        // Three blocks with runs (no offsets in the run format) and four (offsets).
        same(&[1, 2, 3, 65536, 65537, 131072, 131073]);
        same(&[1, 2, 3, 65536, 65537, 131072, 131073, 196608, 196609]);
    }

    proptest! {
        #[test]
        fn matches_from_sorted_iter_and_optimize(
            mut ids in proptest::collection::vec(
                prop_oneof![0u32..200_000, 0u32..5_000, u32::MAX - 3_000..=u32::MAX],
                0..6_000,
            ),
            runs in proptest::collection::vec((0u32..400_000, 1u32..9_000), 0..4),
        ) {
            for (s, len) in runs {
                ids.extend(s..s + len);
            }
            ids.sort_unstable();
            ids.dedup();
            same(&ids);
        }
    }
}
