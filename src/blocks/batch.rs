//! Many per-block programs at once over one table of operands: the shared pass behind
//! `Engine::count_many` and `Engine::select_many`.
//!
//! Run one after another, twenty queries over the same ten dense tags read each tag's
//! containers once per query that names it: at 10M customers, 1.25 MB a tag, a few times the
//! L2 cache, so every query streams its operands from memory again. Here the queries run
//! together, block by block ([`super::eval`]): at each 2^16-id block every query is
//! evaluated on the operands' containers of that block (8 KiB each for a bitset), which stay
//! in cache from the first query that reads them to the last. An operand is also made ready
//! once for all the queries: read through the view the tag store keeps for it, or copied
//! once (never streamed: a stream is read once, in one program's order).
//!
//! The blocks are cut into contiguous ranges, one per thread; each range has its own
//! cursors and scratch, and its results are joined in key order, so the outcome is the
//! same at any thread count.

use std::ops::Range;

use fearless_simd::Level;
use roaring::RoaringBitmap;

use super::build::ImageWriter;
use super::eval::{Op, Operand, Run, Source};
use super::kernels::{self, Words};
use super::view::View;
use crate::par;

/// Queries over one table of operands, evaluated together block by block.
pub(crate) struct Batch<'a> {
    sources: Vec<Source<'a>>,
    roots: Vec<Op>,
    /// Every key any operand has, ascending.
    keys: Vec<u16>,
    level: Level,
}

impl<'a> Batch<'a> {
    /// `roots` (each indexing `operands` by [`Op::Leaf`]) over `operands`: those with a kept
    /// view are read through it, the others copied once.
    pub(crate) fn new(operands: &[Operand<'a>], roots: Vec<Op>) -> Batch<'a> {
        let sources: Vec<Source<'a>> = operands
            .iter()
            .map(|o| match o.view {
                Some(v) => Source::Kept(v),
                None => Source::Copied(View::new(o.bits)),
            })
            .collect();
        let mut keys: Vec<u16> = sources.iter().filter_map(Source::view).flat_map(View::keys).collect();
        keys.sort_unstable();
        keys.dedup();
        Batch { sources, roots, keys, level: kernels::level() }
    }

    /// The queries of the batch.
    pub(crate) fn queries(&self) -> usize {
        self.roots.len()
    }

    /// Calls `on_block(query, key, words)` for every non-empty block of every query's
    /// result whose key is in `keys[range]`: blocks ascending, queries in order within one.
    fn drive(&self, range: Range<usize>, mut on_block: impl FnMut(usize, u16, &Words)) {
        let Some(&first) = self.keys.get(range.start) else { return };
        // Each source's cursor starts at its first container at or after the range.
        let mut cursors: Vec<usize> =
            self.sources.iter().map(|s| s.view().expect("every batch operand has a view").position(first)).collect();
        let depth = self.roots.iter().map(Op::depth).max().unwrap_or(1);
        let mut bufs: Vec<Box<Words>> = (0..depth).map(|_| Box::new([0u64; 1024])).collect();
        for &key in &self.keys[range] {
            for (q, root) in self.roots.iter().enumerate() {
                let mut run = Run {
                    sources: &self.sources,
                    cursors: &mut cursors,
                    streamed: usize::MAX,
                    current: None,
                    level: self.level,
                };
                if run.eval(root, key, &mut bufs) {
                    on_block(q, key, &bufs[0]);
                }
            }
        }
    }

    /// Blocks any query of the batch may have a result in.
    pub(crate) fn blocks(&self) -> usize {
        self.keys.len()
    }

    /// The blocks cut into `n` (at least one) contiguous ranges, for [`Batch::count_range`]
    /// and [`Batch::select_range`] on `n` threads.
    pub(crate) fn parts(&self, n: usize) -> Vec<Range<usize>> {
        par::ranges(self.keys.len(), n)
    }

    /// Each query's cardinality within the blocks of `range` (of [`Batch::parts`]).
    pub(crate) fn count_range(&self, range: Range<usize>) -> Vec<u64> {
        let mut counts = vec![0u64; self.roots.len()];
        self.drive(range, |q, _, w| counts[q] += kernels::popcount(self.level, w));
        counts
    }

    /// Each query's result within the blocks of `range` (of [`Batch::parts`]).
    pub(crate) fn select_range(&self, range: Range<usize>) -> Vec<ImageWriter> {
        let mut out: Vec<ImageWriter> = self.roots.iter().map(|_| ImageWriter::new(self.level)).collect();
        self.drive(range, |q, key, w| out[q].push_words(key, w, kernels::popcount(self.level, w)));
        out
    }
}

/// Each query's cardinality, from the counts of every part in order.
pub(crate) fn join_counts(parts: impl IntoIterator<Item = Vec<u64>>) -> Vec<u64> {
    let mut total: Vec<u64> = Vec::new();
    for part in parts {
        total.resize(total.len().max(part.len()), 0);
        for (t, c) in total.iter_mut().zip(part) {
            *t += c;
        }
    }
    total
}

/// Each query's result, from the results of every part in order.
pub(crate) fn join_selects(parts: impl IntoIterator<Item = Vec<ImageWriter>>) -> Vec<RoaringBitmap> {
    let mut all: Vec<ImageWriter> = Vec::new();
    for part in parts {
        if all.is_empty() {
            all = part;
            continue;
        }
        for (a, w) in all.iter_mut().zip(part) {
            a.append(w);
        }
    }
    all.into_iter().map(ImageWriter::finish).collect()
}
