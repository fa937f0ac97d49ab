//! A read-only view of a bitmap's containers, from its portable image.

use roaring::RoaringBitmap;

/// Cookie of the format without run containers.
const COOKIE_NO_RUNS: u32 = 12346;
/// Cookie of the format with run containers (low 16 bits).
const COOKIE_RUNS: u16 = 12347;
/// The run format stores offsets only from this many containers on.
const RUN_OFFSETS_FROM: usize = 4;

/// One container of a [`View`]: the bytes of its store, little-endian, as in the image.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Container<'a> {
    /// Sorted `u16` values, 2 bytes each.
    Array(&'a [u8]),
    /// 1,024 `u64` words, 8 bytes each; bit `k` of the block is bit `k % 64` of word `k / 64`.
    Bitset(&'a [u8]),
    /// `(start, length - 1)` pairs of `u16`, 4 bytes each.
    Run(&'a [u8]),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u16,
    kind: u8,
    card: u32,
    start: u32,
    end: u32,
}

const ARRAY: u8 = 0;
const BITSET: u8 = 1;
const RUN: u8 = 2;

/// A bitmap's containers, read from one copy of its portable image (`serialize_into` writes
/// arrays and bitsets with one `memcpy` each).
#[derive(Debug)]
pub(crate) struct View {
    image: Vec<u8>,
    entries: Vec<Entry>,
}

impl View {
    pub(crate) fn new(bits: &RoaringBitmap) -> View {
        let mut image = Vec::with_capacity(bits.serialized_size());
        bits.serialize_into(&mut image).expect("writing to a Vec cannot fail");
        let entries = parse(&image);
        View { image, entries }
    }

    /// Number of containers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The key (high 16 bits) of container `i`.
    pub(crate) fn key(&self, i: usize) -> u16 {
        self.entries[i].key
    }

    /// The cardinality of container `i`.
    pub(crate) fn card(&self, i: usize) -> usize {
        self.entries[i].card as usize
    }

    /// Container `i`.
    pub(crate) fn container(&self, i: usize) -> Container<'_> {
        let e = self.entries[i];
        let bytes = &self.image[e.start as usize..e.end as usize];
        match e.kind {
            ARRAY => Container::Array(bytes),
            BITSET => Container::Bitset(bytes),
            _ => Container::Run(bytes),
        }
    }

    /// Keys in ascending order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = u16> + '_ {
        self.entries.iter().map(|e| e.key)
    }

    /// The container with `key`, moving `cursor` forward: calls with ascending keys cost
    /// O(1) amortized.
    pub(crate) fn seek(&self, cursor: &mut usize, key: u16) -> Option<Container<'_>> {
        while *cursor < self.entries.len() && self.entries[*cursor].key < key {
            *cursor += 1;
        }
        (*cursor < self.entries.len() && self.entries[*cursor].key == key).then(|| self.container(*cursor))
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the container table of an image written by `RoaringBitmap::serialize_into`.
fn parse(b: &[u8]) -> Vec<Entry> {
    if b.len() < 8 {
        return Vec::new();
    }
    let cookie = u32_at(b, 0);
    let (n, runs_at, mut at) = if cookie == COOKIE_NO_RUNS {
        let n = u32_at(b, 4) as usize;
        (n, None, 8)
    } else {
        debug_assert_eq!(cookie as u16, COOKIE_RUNS, "roaring writes one of the two cookies");
        let n = (cookie >> 16) as usize + 1;
        (n, Some(4), 4 + n.div_ceil(8))
    };
    let descriptions = at;
    at += 4 * n;
    if runs_at.is_none() || n >= RUN_OFFSETS_FROM {
        at += 4 * n; // offsets: recomputed below while walking
    }
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let key = u16_at(b, descriptions + 4 * i);
        let card = u16_at(b, descriptions + 4 * i + 2) as usize + 1;
        let is_run = runs_at.is_some_and(|r| b[r + i / 8] & (1 << (i % 8)) != 0);
        let (kind, start, len) = if is_run {
            let runs = u16_at(b, at) as usize;
            (RUN, at + 2, 4 * runs)
        } else if card <= 4096 {
            (ARRAY, at, 2 * card)
        } else {
            (BITSET, at, 8192)
        };
        entries.push(Entry { key, kind, card: card as u32, start: start as u32, end: (start + len) as u32 });
        at = start + len;
    }
    debug_assert_eq!(at, b.len());
    entries
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes every container back to ids.
    fn decode(v: &View) -> Vec<u32> {
        let mut out = Vec::new();
        for i in 0..v.len() {
            let high = u32::from(v.key(i)) << 16;
            match v.container(i) {
                Container::Array(b) => out.extend(b.chunks_exact(2).map(|c| high | u32::from(u16_at(c, 0)))),
                Container::Bitset(b) => {
                    for (w, c) in b.chunks_exact(8).enumerate() {
                        let word = u64::from_le_bytes(c.try_into().unwrap());
                        out.extend((0..64).filter(|k| word >> k & 1 == 1).map(|k| high | (w as u32 * 64 + k)));
                    }
                }
                Container::Run(b) => {
                    for c in b.chunks_exact(4) {
                        let (s, l) = (u32::from(u16_at(c, 0)), u32::from(u16_at(c, 2)));
                        out.extend((s..=s + l).map(|x| high | x));
                    }
                }
            }
        }
        out
    }

    /// Bitmaps with every container kind, both image formats (with and without run
    /// containers, with fewer than four containers and so no offsets), key 65535.
    pub(crate) fn sample_bitmaps() -> Vec<RoaringBitmap> {
        let mut cases: Vec<RoaringBitmap> = vec![
            RoaringBitmap::new(),
            [7u32].into_iter().collect(),
            (0..70_000u32).map(|i| i * 3).collect(),
            [1u32, 5, u32::MAX].into_iter().collect(),
        ];
        let mut runs: RoaringBitmap = (100..60_000u32).collect();
        runs.insert_range(1 << 20..(1 << 20) + 65_536);
        runs.extend((2 << 20..(2 << 20) + 9_000).step_by(2));
        runs.insert(u32::MAX);
        runs.optimize();
        cases.push(runs);
        let mut few: RoaringBitmap = (10..5_000u32).collect();
        few.insert(70_000);
        few.optimize();
        cases.push(few);
        let mut many_runs = RoaringBitmap::new();
        for k in 0..300u32 {
            many_runs.insert_range(k << 16..(k << 16) + 3 + k);
        }
        many_runs.optimize();
        cases.push(many_runs);
        cases
    }

    #[test]
    fn views_decode_every_kind_and_both_formats() {
        for b in sample_bitmaps() {
            let v = View::new(&b);
            assert_eq!(decode(&v), b.iter().collect::<Vec<_>>());
            let mut cursor = 0;
            for key in (0..40u16).chain([65_535]) {
                let lo = u32::from(key) << 16;
                let present = b.range_cardinality(lo..=lo | 0xFFFF) > 0;
                assert_eq!(v.seek(&mut cursor, key).is_some(), present, "key {key}");
            }
        }
    }
}
