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

use fearless_simd::Level;
use roaring::RoaringBitmap;

use super::format::{Container, array_values, run_ranges};
use super::kernels::{self, Words};
use super::stream::for_each_container;
use super::view::View;

/// Where no block of the audience is.
const NONE: u32 = u32::MAX;

/// An audience, laid out to be counted against many bitmaps.
pub(crate) struct Counter {
    bits: RoaringBitmap,
    dense: Option<Dense>,
}

/// The audience's blocks as words.
struct Dense {
    level: Level,
    /// Block key -> index into `blocks`, or [`NONE`].
    slot: Vec<u32>,
    blocks: Vec<Words>,
}

impl Counter {
    /// The audience `bits`, laid out for counting.
    pub(crate) fn new(bits: RoaringBitmap) -> Counter {
        let dense = super::counts_faster_here(&bits).then(|| Dense::new(&bits));
        Counter { bits, dense }
    }

    /// The audience's size.
    pub(crate) fn len(&self) -> u64 {
        self.bits.len()
    }

    /// `|audience AND bits|`; `view` is `bits`' kept view, if it has one.
    pub(crate) fn count(&self, bits: &RoaringBitmap, view: Option<&View>) -> u64 {
        match &self.dense {
            Some(d) if view.is_some() || super::counts_faster_here(bits) => d.count(bits, view),
            _ => self.bits.intersection_len(bits),
        }
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

    fn count(&self, bits: &RoaringBitmap, view: Option<&View>) -> u64 {
        let mut n = 0;
        let mut add = |key: u16, c: Container<'_>| {
            let at = self.slot[usize::from(key)];
            if at == NONE {
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
            Some(v) => (0..v.len()).for_each(|i| add(v.key(i), v.container(i))),
            None => for_each_container(bits, add),
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
            let (counter, dense) = (Counter::new(a.clone()), Dense::new(a));
            assert_eq!(counter.len(), a.len());
            for b in &samples {
                let want = a.intersection_len(b);
                assert_eq!(counter.count(b, None), want, "{a:?} AND {b:?}");
                assert_eq!(dense.count(b, None), want, "{a:?} AND {b:?}, streamed");
                assert_eq!(dense.count(b, Some(&View::new(b))), want, "{a:?} AND {b:?}, from a view");
            }
        }
    }
}
