//! Counting one set (an audience) against many bitmaps: `|audience AND tag|` for every tag
//! of the pool, as describe, compare and breakdown need.
//!
//! `RoaringBitmap::intersection_len` is the right tool for most pairs: an array container
//! against anything is one branch-free probe per value. The exception is two bitset
//! containers, which `roaring` counts with `count_ones`, compiled without `POPCNT` on the
//! default x86-64 target ([`super::counts_faster_here`]). So when the audience is dense
//! there, [`Counter`] also lays it out once as dense words, one 1,024-word block per 2^16-id
//! block, and counts each dense tag against them with the dispatched AND-count kernel, its
//! containers read from the tag's kept view or streamed ([`super::stream`], no copy).
//! Sparse tags, and every tag when the audience is sparse, go to `intersection_len`.
//!
//! Over the tags' census (`tags/layer/by_block.rs`: every tag's sparse containers of a
//! block side by side), the audience's words ([`Counter::words`]) count the census's
//! entries block by block ([`super::pages`]), and [`Counter::count_rest`] counts what the
//! census does not hold.

use std::borrow::Cow;
use std::sync::OnceLock;

use fearless_simd::Level;
use roaring::RoaringBitmap;

use super::format::{ARRAY_LIMIT, Container, array_values, run_ranges};
use super::kernels::{self, Words};
use super::stream::{for_each_container, for_each_counted};
use super::view::View;

/// Where no block of the audience is.
const NONE: u32 = u32::MAX;

/// An audience, laid out to be counted against many bitmaps.
pub(crate) struct Counter<'a> {
    bits: Cow<'a, RoaringBitmap>,
    /// Whether [`Counter::count`] counts dense bitmaps against the words.
    dense_counts: bool,
    /// The audience's blocks as words: made by the first count that needs them.
    dense: OnceLock<Dense>,
}

/// The audience's blocks as words.
struct Dense {
    level: Level,
    /// Block key -> index into `blocks`, or [`NONE`].
    slot: Vec<u32>,
    blocks: Vec<Words>,
}

/// A set of block keys (2^16 bits).
pub(crate) struct Keys(Vec<u64>);

impl Keys {
    /// The keys `keys`.
    pub(crate) fn new(keys: impl IntoIterator<Item = u16>) -> Keys {
        let mut bits = vec![0u64; 1 << 10];
        for k in keys {
            bits[usize::from(k) / 64] |= 1 << (k % 64);
        }
        Keys(bits)
    }

    pub(crate) fn contains(&self, key: u16) -> bool {
        self.0[usize::from(key) / 64] & (1 << (key % 64)) != 0
    }
}

impl<'a> Counter<'a> {
    /// The audience `bits`, laid out for counting.
    pub(crate) fn new(bits: Cow<'a, RoaringBitmap>) -> Counter<'a> {
        let dense_counts = super::counts_faster_here(&bits);
        Counter { bits, dense_counts, dense: OnceLock::new() }
    }

    /// The customers of `bits` that are in `live`: `bits` itself, borrowed, when `live` is
    /// every id from 0 to its highest (no customer removed) and `bits` stays below it,
    /// which spares the `AND` of two bitmaps of the audience's size (and the count of the
    /// result, without `POPCNT` in a default build: 0.3 ms for an audience of 1M of 10M).
    /// `is_subset` is no shortcut: against the live set's run containers it walks the
    /// audience value by value.
    pub(crate) fn live(bits: &'a RoaringBitmap, live: &RoaringBitmap) -> Counter<'a> {
        let all_live = super::within_prefix(bits, live) == Some(true);
        Counter::new(if all_live { Cow::Borrowed(bits) } else { Cow::Owned(bits & live) })
    }

    /// The audience.
    pub(crate) fn bits(&self) -> &RoaringBitmap {
        &self.bits
    }

    /// The audience's size.
    pub(crate) fn len(&self) -> u64 {
        self.bits.len()
    }

    /// The audience's blocks: `(key, customers of the audience there)`, ascending.
    pub(crate) fn blocks(&self) -> Vec<(u16, usize)> {
        let mut out = Vec::new();
        for_each_counted(&self.bits, |key, card, _| out.push((key, card)));
        out
    }

    fn dense(&self) -> &Dense {
        self.dense.get_or_init(|| Dense::new(&self.bits))
    }

    /// The audience's block `key` as words, if it has one there.
    pub(crate) fn words(&self, key: u16) -> Option<&Words> {
        let d = self.dense();
        let at = d.slot[usize::from(key)];
        (at != NONE).then(|| &d.blocks[at as usize])
    }

    /// `|audience AND bits|`; `view` is `bits`' kept view, if it has one.
    pub(crate) fn count(&self, bits: &RoaringBitmap, view: Option<&View>) -> u64 {
        if self.dense_counts && (view.is_some() || super::counts_faster_here(bits)) {
            self.dense().count(bits, view, None)
        } else {
            self.bits.intersection_len(bits)
        }
    }

    /// `|audience AND bits|` but for the containers a census holds: those of the blocks in
    /// `census` with at most [`ARRAY_LIMIT`] values (the census counted them). `view` is
    /// `bits`' kept view, if it has one.
    pub(crate) fn count_rest(&self, bits: &RoaringBitmap, view: Option<&View>, census: &Keys) -> u64 {
        self.dense().count(bits, view, Some(census))
    }
}

impl Dense {
    fn new(bits: &RoaringBitmap) -> Dense {
        let level = kernels::level();
        let mut slot = vec![NONE; 1 << 16];
        let mut blocks: Vec<Words> = Vec::with_capacity(bits.serialized_size() / 8192 + 1);
        for_each_container(bits, |key, c| {
            let mut w = [0u64; 1024];
            match c {
                Container::Bitset(b) => kernels::copy_bytes(level, &mut w, b),
                Container::Array(b) => array_values(b).for_each(|v| w[v / 64] |= 1 << (v % 64)),
                Container::Run(b) => run_ranges(b).for_each(|(lo, hi)| kernels::fill(&mut w, lo, hi, true)),
            }
            slot[usize::from(key)] = blocks.len() as u32;
            blocks.push(w);
        });
        Dense { level, slot, blocks }
    }

    /// `|audience AND bits|`, leaving out the containers of `skip`'s blocks with at most
    /// [`ARRAY_LIMIT`] values.
    fn count(&self, bits: &RoaringBitmap, view: Option<&View>, skip: Option<&Keys>) -> u64 {
        let mut n = 0;
        let mut add = |key: u16, card: usize, c: Container<'_>| {
            let at = self.slot[usize::from(key)];
            if at == NONE || (card <= ARRAY_LIMIT && skip.is_some_and(|s| s.contains(key))) {
                return;
            }
            let w = &self.blocks[at as usize];
            n += match c {
                Container::Bitset(b) => kernels::and_count_words(self.level, w, b),
                Container::Array(b) => array_values(b).map(|v| (w[v / 64] >> (v % 64)) & 1).sum(),
                Container::Run(b) => run_ranges(b).map(|(lo, hi)| kernels::count_range(w, lo, hi)).sum(),
            };
        };
        match view {
            Some(v) => (0..v.len()).for_each(|i| add(v.key(i), v.card(i), v.container(i))),
            None => for_each_counted(bits, add),
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::view::tests::sample_bitmaps;

    /// Every pair of sample bitmaps (arrays, bitsets, runs, empty, full blocks, `u32::MAX`)
    /// counts as `intersection_len` does, by every route.
    #[test]
    fn counts_as_intersection_len() {
        let samples = sample_bitmaps();
        for a in &samples {
            let (counter, dense) = (Counter::new(Cow::Borrowed(a)), Dense::new(a));
            assert_eq!(counter.len(), a.len());
            for b in &samples {
                let want = a.intersection_len(b);
                assert_eq!(counter.count(b, None), want, "{a:?} AND {b:?}");
                assert_eq!(dense.count(b, None, None), want, "{a:?} AND {b:?}, streamed");
                assert_eq!(dense.count(b, Some(&View::new(b)), None), want, "{a:?} AND {b:?}, from a view");
            }
        }
    }

    /// An audience counts its live customers only: borrowed when the live set is every id
    /// from 0 up and the audience stays below its top, intersected otherwise (a removed
    /// customer in the middle, an id past the last, an empty live set).
    #[test]
    fn an_audience_counts_its_live_customers() {
        let everyone: RoaringBitmap = (0..200_000).collect();
        let mut holed = everyone.clone();
        holed.remove(70_000);
        let cases = [
            (RoaringBitmap::new(), everyone.clone(), true),
            ((0..200_000).step_by(3).collect(), everyone.clone(), true),
            ([0, 199_999].into_iter().collect(), everyone.clone(), true),
            ([5, 200_000].into_iter().collect(), everyone.clone(), false),
            ((0..200_000).step_by(7).collect(), holed.clone(), false),
            ([1, u32::MAX].into_iter().collect(), RoaringBitmap::new(), false),
            ((1..10).collect(), (1..200_000).collect(), false),
        ];
        for (audience, live, borrowed) in cases {
            let c = Counter::live(&audience, &live);
            assert_eq!(c.bits(), &(&audience & &live), "{audience:?} of {live:?}");
            assert_eq!(c.len(), (&audience & &live).len());
            assert_eq!(matches!(c.bits, Cow::Borrowed(_)), borrowed, "{audience:?} of {live:?}");
        }
    }

    /// A census's part (the sparse containers of its blocks, probed) plus `count_rest` (the
    /// others) is the whole count, streamed or from a view.
    #[test]
    fn probes_and_the_rest_add_up() {
        let mut samples = sample_bitmaps();
        // Blocks of exactly the array limit and one past it, as arrays, bitsets and runs.
        let edge = |n: u32, step: u32| -> RoaringBitmap {
            (0..n).map(|i| i * step).chain((0..n).map(|i| 65_536 + i * step)).collect()
        };
        for (n, step) in [(ARRAY_LIMIT as u32, 3), (ARRAY_LIMIT as u32 + 1, 3), (ARRAY_LIMIT as u32 + 1, 1)] {
            let mut b = edge(n, step);
            samples.push(b.clone());
            b.optimize();
            samples.push(b);
        }
        for a in &samples {
            let counter = Counter::new(Cow::Borrowed(a));
            let keys: Vec<u16> = counter.blocks().iter().map(|&(k, _)| k).collect();
            assert_eq!(counter.blocks().iter().map(|&(_, n)| n as u64).sum::<u64>(), a.len());
            // Every other block of the audience in the census.
            let census: Vec<u16> = keys.iter().copied().step_by(2).collect();
            let in_census = Keys::new(census.iter().copied());
            for b in &samples {
                let mut probed = 0;
                for &key in &census {
                    let lo = u32::from(key) << 16;
                    let part: Vec<u16> = b.range(lo..=lo | 0xFFFF).map(|v| v as u16).collect();
                    if part.len() <= ARRAY_LIMIT {
                        let w = counter.words(key).expect("an audience block");
                        probed += part.iter().map(|&v| (w[usize::from(v / 64)] >> (v % 64)) & 1).sum::<u64>();
                    }
                }
                let want = a.intersection_len(b);
                assert_eq!(probed + counter.count_rest(b, None, &in_census), want, "{a:?} AND {b:?}");
                assert_eq!(
                    probed + counter.count_rest(b, Some(&View::new(b)), &in_census),
                    want,
                    "{a:?} AND {b:?}, view"
                );
            }
        }
    }
}
