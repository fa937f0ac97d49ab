//! A read-only view of a bitmap's containers, from its portable image.
//!
//! A view is one copy of the image ([`super::format`]), with each container's place in it.
//! Queries make one for an operand they cannot stream, unless the tag store keeps one
//! (`tags::Store` caches views of wide tags, so queries read their containers in place);
//! a kept view follows one-id changes to its bitset containers in place
//! ([`View::set`]).
//!
//! A kept view is widened ([`View::widened`]): each array container of at least
//! [`WIDEN_FROM`] values is held as a bitset, so a query combines it with whole-word kernels
//! at memory bandwidth instead of setting or testing its bits one value at a time (at 10M
//! customers, 20 segment rules over tags of 2-60%: the bit-by-bit merge of arrays was 45%
//! of the time, and the test of array values in `AND`s 11%).

use roaring::RoaringBitmap;

pub(crate) use super::format::Container;
use super::format::{self, Kind};

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u16,
    kind: Kind,
    card: u32,
    start: u32,
    end: u32,
}

/// Array containers of at least this many values are held as bitsets in a widened view:
/// 1,024 bytes or more as an array, 8,192 as a bitset (at most 8x), where setting bits
/// value by value (about 1.5 ns each) costs several passes over 1,024 words. Measured on
/// the peer harness at 10M customers (`q22`, seven operands, three of them arrays of
/// 600-1,000 values a block; numpy 0.37 ms): 1,024 gave 0.43 ms, 512 0.28 ms, 256 0.23 ms,
/// the views after the 25 queries taking 20.6, 22.9 and 24.8 MB. 512 keeps the bytes a
/// view may add to an array at 8x.
pub(crate) const WIDEN_FROM: usize = 512;

/// A bitmap's containers, read from one copy of its portable image (`serialize_into` writes
/// arrays and bitsets with one `memcpy` each), some arrays widened into bitsets
/// ([`View::widened`]).
#[derive(Clone, Debug)]
pub(crate) struct View {
    image: Vec<u8>,
    entries: Vec<Entry>,
}

impl View {
    pub(crate) fn new(bits: &RoaringBitmap) -> View {
        let image = super::format::image(bits);
        let entries = parse(&image);
        View { image, entries }
    }

    /// A view of `bits` with each array container of at least [`WIDEN_FROM`] values held as
    /// a bitset (the same ids, read with word kernels); other containers as they are.
    pub(crate) fn widened(bits: &RoaringBitmap) -> View {
        let mut v = View::new(bits);
        let wide = |e: &Entry| e.kind == Kind::Array && e.card as usize >= WIDEN_FROM;
        if !v.entries.iter().any(wide) {
            return v;
        }
        let size =
            v.entries.iter().map(|e| if wide(e) { format::BITSET_BYTES } else { (e.end - e.start) as usize }).sum();
        let mut image = Vec::with_capacity(size);
        for e in &mut v.entries {
            let start = image.len();
            let old = &v.image[e.start as usize..e.end as usize];
            if wide(e) {
                image.resize(start + format::BITSET_BYTES, 0);
                for value in format::array_values(old) {
                    let (at, bit) = format::bitset_bit(value);
                    image[start + at] |= bit;
                }
                e.kind = Kind::Bitset;
            } else {
                image.extend_from_slice(old);
            }
            e.start = offset(start);
            e.end = offset(image.len());
        }
        v.image = image;
        v
    }

    /// At least the bytes of `bits`'s widened view: its image as if every array were widened
    /// ([`View::widened`] widens only those of [`WIDEN_FROM`] values or more).
    pub(crate) fn widened_bound(bits: &RoaringBitmap) -> usize {
        let s = bits.statistics();
        let arrays = s.n_array_containers as usize;
        let array_bytes = 2 * s.n_values_array_containers as usize;
        bits.serialized_size() - array_bytes
            + arrays * format::BITSET_BYTES
            + s.n_containers as usize * size_of::<Entry>()
    }

    /// Heap bytes: the image and the container table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.image.capacity() + self.entries.capacity() * size_of::<Entry>()
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
        Container::new(e.kind, &self.image[e.start as usize..e.end as usize])
    }

    /// Keys in ascending order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = u16> + '_ {
        self.entries.iter().map(|e| e.key)
    }

    /// The index of the first container with a key of at least `key` (a cursor for
    /// [`View::seek`] that starts there).
    pub(crate) fn position(&self, key: u16) -> usize {
        self.entries.partition_point(|e| e.key < key)
    }

    /// The container with `key`, moving `cursor` forward: calls with ascending keys cost
    /// O(1) amortized.
    pub(crate) fn seek(&self, cursor: &mut usize, key: u16) -> Option<Container<'_>> {
        while *cursor < self.entries.len() && self.entries[*cursor].key < key {
            *cursor += 1;
        }
        (*cursor < self.entries.len() && self.entries[*cursor].key == key).then(|| self.container(*cursor))
    }

    /// Sets (`on`) or clears id `value`, when its block is a bitset container here (the
    /// view then still shows the bitmap it was made from, after the same one-id change):
    /// `false` when it is not, and the view is to be dropped. A bitset container keeps its
    /// kind here even when its bitmap's turns into an array: kinds are a view's own.
    pub(crate) fn set(&mut self, value: u32, on: bool) -> bool {
        let key = (value >> 16) as u16;
        let Ok(i) = self.entries.binary_search_by_key(&key, |e| e.key) else { return false };
        let e = &mut self.entries[i];
        if e.kind != Kind::Bitset {
            return false;
        }
        let (at, bit) = format::bitset_bit((value & 0xFFFF) as usize);
        let byte = &mut self.image[e.start as usize + at];
        if (*byte & bit != 0) != on {
            *byte ^= bit;
            if on { e.card += 1 } else { e.card -= 1 }
        }
        true
    }
}

/// An offset into a view's image. An image holds at most 2^16 containers of at most 8 KiB
/// (a bitset) or 128 KiB (a run container of 2^15 runs, the most a block can need), so its
/// offsets fit a `u32` unless a bitmap holds thousands of such run containers (over 4 GiB
/// serialized), which `roaring` writes only for contrived data.
fn offset(at: usize) -> u32 {
    u32::try_from(at).expect("a bitmap's image under 4 GiB")
}

/// Reads the container table of an image written by `RoaringBitmap::serialize_into`.
fn parse(b: &[u8]) -> Vec<Entry> {
    let Some(header) = format::header_len(b) else { return Vec::new() };
    let mut at = header;
    let entries = format::read_header(&b[..header])
        .map(|d| {
            let d = &d;
            let (start, end) = format::container_at(b, at, d);
            at = end;
            Entry { key: d.key, kind: d.kind, card: d.card as u32, start: offset(start), end: offset(end) }
        })
        .collect();
    debug_assert_eq!(at, b.len());
    entries
}

#[cfg(test)]
pub(crate) mod tests {
    use super::format::u16_at;
    use super::*;

    /// Decodes every container back to ids.
    pub(crate) fn decode(v: &View) -> Vec<u32> {
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

    #[test]
    fn widened_views_hold_the_same_ids_within_their_bound() {
        let mut cases = sample_bitmaps();
        // Arrays just under, at and over the widening threshold, in blocks 0, 1, 2 and 65535.
        let mut edges = RoaringBitmap::new();
        for (k, n) in [(0u32, WIDEN_FROM - 1), (1, WIDEN_FROM), (2, 3_000), (65_535, 4_000)] {
            edges.extend((0..n as u32).map(|i| (k << 16) | (i * 13)));
        }
        cases.push(edges);
        for b in cases {
            let v = View::widened(&b);
            assert_eq!(decode(&v), b.iter().collect::<Vec<_>>());
            assert!(v.heap_bytes() <= View::widened_bound(&b), "{} > {}", v.heap_bytes(), View::widened_bound(&b));
            for i in 0..v.len() {
                let kind_now = matches!(v.container(i), Container::Bitset(_));
                let was_array = matches!(View::new(&b).container(i), Container::Array(_));
                assert_eq!(kind_now && was_array, was_array && v.card(i) >= WIDEN_FROM, "container {i}");
            }
            // A one-id change to a widened container is applied in place.
            let Some(i) = (0..v.len()).find(|&i| v.card(i) >= WIDEN_FROM && v.card(i) <= 4_096) else { continue };
            let value = (u32::from(v.key(i)) << 16) | 1;
            let mut changed = b.clone();
            let on = !changed.contains(value);
            if on {
                changed.insert(value)
            } else {
                changed.remove(value)
            };
            let mut w = v.clone();
            assert!(w.set(value, on), "a widened array is a bitset here");
            assert_eq!(decode(&w), changed.iter().collect::<Vec<_>>());
            assert_eq!((0..w.len()).map(|i| w.card(i) as u64).sum::<u64>(), changed.len());
        }
    }

    #[test]
    fn one_id_changes_follow_bitset_containers_only() {
        for b in sample_bitmaps() {
            for (value, on) in [(3u32, true), (6, false), (1 << 20 | 77, true), (2 << 20 | 2, false), (u32::MAX, false)]
            {
                let mut view = View::new(&b);
                let mut changed = b.clone();
                if on {
                    changed.insert(value)
                } else {
                    changed.remove(value)
                };
                let bitset = matches!(
                    view.keys().position(|k| u32::from(k) == value >> 16).map(|i| view.container(i)),
                    Some(Container::Bitset(_))
                );
                assert_eq!(view.set(value, on), bitset);
                if bitset {
                    assert_eq!(decode(&view), changed.iter().collect::<Vec<_>>());
                    let cards: usize = (0..view.len()).map(|i| view.card(i)).sum();
                    assert_eq!(cards as u64, changed.len());
                }
            }
        }
    }
}
