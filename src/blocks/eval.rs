//! Whole-expression evaluation, one 2^16-id block at a time, into a dense scratch.
//!
//! A bitmap library evaluates `a AND b AND c` one operator at a time: `a AND b` becomes a
//! new bitmap (containers allocated, converted between bitset and array as their
//! cardinality crosses 4,096, counted), which is then intersected with `c`. Here the whole
//! expression runs per block instead: each operand's container is applied, as it is
//! (bitset words, array values, runs), to a 1,024-word scratch that stays in L1 cache, and
//! only the final block is counted (or written out). Nothing is allocated per operator, and
//! the word kernels are runtime-dispatched ([`super::kernels`]).
//!
//! Operands are read where they are: a wide tag through the [`View`] the tag store keeps
//! for it ([`super::cache`]), the largest of the others as `roaring` writes its portable
//! image ([`super::stream`]); only the rest (sparse operands, or wide ones past the views'
//! memory budget) are copied, one image each. The planner sends only expressions where the
//! route pays (three or more operands, and not a flat `AND` of tags with a sparse one:
//! `worth_blocks` in `query/route.rs`).
//!
//! Results are written as array and bitset containers (as `roaring`'s own operations
//! produce them); whoever keeps a result with long runs can shrink it with
//! `RoaringBitmap::optimize`.

use fearless_simd::Level;
use roaring::RoaringBitmap;

use super::build::ImageWriter;
use super::format;
use super::kernels::{self, Words};
use super::view::{Container, View};

/// An expression over operands `0..n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Leaf(usize),
    /// Operands in evaluation order (smallest first).
    And(Vec<Op>),
    Or(Vec<Op>),
    /// The base minus each negative.
    AndNot(Box<Op>, Vec<Op>),
}

impl Op {
    /// Whether every id of the result is an id of operand `i`.
    fn requires(&self, i: usize) -> bool {
        match self {
            Op::Leaf(j) => *j == i,
            Op::And(xs) => xs.iter().any(|x| x.requires(i)),
            Op::Or(xs) => !xs.is_empty() && xs.iter().all(|x| x.requires(i)),
            Op::AndNot(b, _) => b.requires(i),
        }
    }

    /// Scratch blocks the evaluation needs: one per level, the deepest operator's counting
    /// its temporary (a leaf needs one block; an operator of leaves two).
    pub(super) fn depth(&self) -> usize {
        match self {
            Op::Leaf(_) => 1,
            Op::And(xs) | Op::Or(xs) => 1 + xs.iter().map(Op::depth).max().unwrap_or(0),
            Op::AndNot(b, xs) => 1 + xs.iter().map(Op::depth).max().unwrap_or(0).max(b.depth()),
        }
    }
}

/// An operand: a bitmap, with the view kept for it when it has one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operand<'a> {
    pub(crate) bits: &'a RoaringBitmap,
    pub(crate) view: Option<&'a View>,
}

/// How a program reads one operand.
pub(super) enum Source<'a> {
    /// Through the view kept for it.
    Kept(&'a View),
    /// Through a copy of its image, made for this program.
    Copied(View),
    /// As `roaring` writes its image, block by block.
    Streamed,
}

impl Source<'_> {
    pub(super) fn view(&self) -> Option<&View> {
        match self {
            Source::Kept(v) => Some(v),
            Source::Copied(v) => Some(v),
            Source::Streamed => None,
        }
    }
}

/// An expression and its operands: those with a kept view are read through it, the largest
/// of the others is streamed block by block as `roaring` writes its image
/// ([`super::stream`]), and the rest are copied (one image each).
pub(crate) struct Program<'a> {
    sources: Vec<Source<'a>>,
    /// The operand read as a stream.
    streamed: Option<(usize, &'a RoaringBitmap)>,
    root: Op,
    /// Keys of the operands read through views, ascending: all of them, or only those of
    /// the smallest operand with a view that every result id belongs to.
    keys: Vec<u16>,
    level: Level,
}

/// The state of one block's evaluation.
pub(super) struct Run<'r> {
    pub(super) sources: &'r [Source<'r>],
    pub(super) cursors: &'r mut [usize],
    /// The streamed operand's index (`usize::MAX` when none is).
    pub(super) streamed: usize,
    /// The streamed operand's container of this block, if it has one.
    pub(super) current: Option<Container<'r>>,
    pub(super) level: Level,
}

impl<'a> Program<'a> {
    /// `root` over `operands` (indexed by [`Op::Leaf`]), streaming operand `streamed` (one
    /// without a view: [`largest_unviewed`] is the one that saves the most).
    pub(crate) fn new(operands: &[Operand<'a>], root: Op, streamed: Option<usize>) -> Program<'a> {
        Program::with_level(operands, root, kernels::level(), streamed)
    }

    /// As [`Program::new`], at an instruction-set level.
    pub(crate) fn with_level(operands: &[Operand<'a>], root: Op, level: Level, streamed: Option<usize>) -> Program<'a> {
        debug_assert!(streamed.is_none_or(|i| operands[i].view.is_none()), "a kept view is read, not streamed");
        let streamed = streamed.map(|i| (i, operands[i].bits));
        let sources: Vec<Source<'a>> = operands
            .iter()
            .enumerate()
            .map(|(i, o)| match o.view {
                _ if streamed.is_some_and(|(s, _)| s == i) => Source::Streamed,
                Some(v) => Source::Kept(v),
                None => Source::Copied(View::new(o.bits)),
            })
            .collect();
        // Every result id is in each operand the root requires: the blocks of the smallest
        // such operand with a view are the only ones that can hold results (for `q17`, a
        // cohort range `AND` two tags at 10M customers: 17 blocks of 153, and no sort).
        let required =
            (0..sources.len()).filter_map(|i| sources[i].view().filter(|_| root.requires(i))).min_by_key(|v| v.len());
        let keys = match required {
            Some(v) => v.keys().collect(),
            None => {
                let mut keys: Vec<u16> = sources.iter().filter_map(Source::view).flat_map(View::keys).collect();
                keys.sort_unstable();
                keys.dedup();
                keys
            }
        };
        Program { sources, streamed, root, keys, level }
    }

    fn scratch(&self) -> Vec<Box<Words>> {
        (0..self.root.depth()).map(|_| Box::new([0u64; 1024])).collect()
    }

    /// Evaluates block `key` into `bufs[0]`; `false` when it is empty.
    fn block<'r>(
        &'r self,
        key: u16,
        current: Option<Container<'r>>,
        cursors: &'r mut [usize],
        bufs: &mut [Box<Words>],
    ) -> bool {
        let streamed = self.streamed.map_or(usize::MAX, |(i, _)| i);
        let mut run = Run { sources: &self.sources, cursors, streamed, current, level: self.level };
        run.eval(&self.root, key, bufs)
    }

    /// Calls `on_block(key, words)` for every non-empty block of the result, ascending.
    fn drive(&self, mut on_block: impl FnMut(u16, &Words)) {
        let mut cursors = vec![0; self.sources.len()];
        let mut bufs = self.scratch();
        let Some((_, bits)) = self.streamed else {
            for &key in &self.keys {
                if self.block(key, None, &mut cursors, &mut bufs) {
                    on_block(key, &bufs[0]);
                }
            }
            return;
        };
        // The streamed operand's containers arrive in key order: blocks only the other
        // operands have are evaluated in between, unless every result id must be in the
        // streamed operand (it is an operand of the root's `AND`).
        if self.root.requires(self.streamed.map_or(usize::MAX, |(i, _)| i)) {
            super::stream::for_each_container(bits, |key, c| {
                if self.block(key, Some(c), &mut cursors, &mut bufs) {
                    on_block(key, &bufs[0]);
                }
            });
            return;
        }
        let mut next = 0;
        super::stream::for_each_container(bits, |key, c| {
            while next < self.keys.len() && self.keys[next] < key {
                let k = self.keys[next];
                next += 1;
                if self.block(k, None, &mut cursors, &mut bufs) {
                    on_block(k, &bufs[0]);
                }
            }
            if next < self.keys.len() && self.keys[next] == key {
                next += 1;
            }
            if self.block(key, Some(c), &mut cursors, &mut bufs) {
                on_block(key, &bufs[0]);
            }
        });
        for &k in &self.keys[next..] {
            if self.block(k, None, &mut cursors, &mut bufs) {
                on_block(k, &bufs[0]);
            }
        }
    }

    /// The expression's cardinality.
    pub(crate) fn count(&self) -> u64 {
        let mut total = 0;
        self.drive(|_, w| total += kernels::popcount(self.level, w));
        total
    }

    /// The expression's result.
    pub(crate) fn select(&self) -> RoaringBitmap {
        let mut out = ImageWriter::new(self.level);
        self.drive(|key, w| {
            let card = kernels::popcount(self.level, w);
            out.push_words(key, w, card);
        });
        out.finish()
    }
}

impl<'r> Run<'r> {
    fn seek(&mut self, i: usize, key: u16) -> Option<Container<'r>> {
        if i == self.streamed {
            return self.current;
        }
        let sources: &'r [Source<'r>] = self.sources;
        sources[i].view().expect("every operand but the streamed one has a view").seek(&mut self.cursors[i], key)
    }

    /// Evaluates `op` on block `key` into `bufs[0]` (using the rest as scratch). `false`
    /// means the block is empty (and `bufs[0]` is then unspecified).
    pub(super) fn eval(&mut self, op: &Op, key: u16, bufs: &mut [Box<Words>]) -> bool {
        let level = self.level;
        let (out, rest) = bufs.split_first_mut().expect("scratch for every level");
        match op {
            Op::Leaf(i) => match self.seek(*i, key) {
                None => false,
                Some(c) => {
                    load(level, out, c);
                    true
                }
            },
            Op::And(xs) => {
                // A missing leaf empties the block: check them all before any work.
                if xs.iter().any(|x| matches!(x, Op::Leaf(i) if self.seek(*i, key).is_none())) {
                    return false;
                }
                let Some((first, more)) = xs.split_first() else { return false };
                if !self.eval(first, key, bufs) {
                    return false;
                }
                let (out, rest) = bufs.split_first_mut().expect("scratch for every level");
                for x in more {
                    match x {
                        Op::Leaf(i) => {
                            let c = self.seek(*i, key).expect("checked above");
                            match c {
                                Container::Bitset(b) => kernels::and_bytes(level, out, b),
                                Container::Array(b) => {
                                    // Keep only the array's values that are set so far.
                                    let tmp = &mut rest[0];
                                    tmp.fill(0);
                                    for v in format::array_values(b) {
                                        tmp[v / 64] |= out[v / 64] & (1 << (v % 64));
                                    }
                                    std::mem::swap(out, tmp);
                                }
                                Container::Run(b) => {
                                    let tmp = &mut rest[0];
                                    tmp.fill(0);
                                    for (lo, hi) in format::run_ranges(b) {
                                        kernels::fill(tmp, lo, hi, true);
                                    }
                                    kernels::and(level, out, tmp);
                                }
                            }
                        }
                        _ => {
                            if !self.eval(x, key, rest) {
                                return false;
                            }
                            kernels::and(level, out, &rest[0]);
                        }
                    }
                }
                true
            }
            Op::Or(xs) => {
                let mut any = false;
                for x in xs {
                    match x {
                        Op::Leaf(i) => {
                            let Some(c) = self.seek(*i, key) else { continue };
                            if any {
                                merge(level, out, c);
                            } else {
                                load(level, out, c);
                                any = true;
                            }
                        }
                        _ => {
                            if self.eval(x, key, rest) {
                                if any {
                                    kernels::or(level, out, &rest[0]);
                                } else {
                                    std::mem::swap(out, &mut rest[0]);
                                    any = true;
                                }
                            }
                        }
                    }
                }
                any
            }
            Op::AndNot(base, negs) => {
                if !self.eval(base, key, bufs) {
                    return false;
                }
                let (out, rest) = bufs.split_first_mut().expect("scratch for every level");
                for x in negs {
                    match x {
                        Op::Leaf(i) => match self.seek(*i, key) {
                            None => {}
                            Some(Container::Bitset(b)) => kernels::andnot_bytes(level, out, b),
                            Some(Container::Array(b)) => {
                                for v in format::array_values(b) {
                                    out[v / 64] &= !(1 << (v % 64));
                                }
                            }
                            Some(Container::Run(b)) => {
                                for (lo, hi) in format::run_ranges(b) {
                                    kernels::fill(out, lo, hi, false);
                                }
                            }
                        },
                        _ => {
                            if self.eval(x, key, rest) {
                                kernels::andnot(level, out, &rest[0]);
                            }
                        }
                    }
                }
                true
            }
        }
    }
}

/// The largest operand (by image size) that has no kept view: the one worth streaming (the
/// route asks for views first, so these are operands past the views' budget, or too sparse
/// for one). Of operands with images of the same size (all bitsets over the same blocks),
/// the one with the most ids.
pub(crate) fn largest_unviewed(operands: &[Operand<'_>]) -> Option<usize> {
    let sizes: Vec<(usize, usize)> = operands
        .iter()
        .enumerate()
        .filter(|(_, o)| o.view.is_none())
        .map(|(i, o)| (i, o.bits.serialized_size()))
        .collect();
    let max = sizes.iter().map(|&(_, s)| s).max()?;
    let mut ties = sizes.iter().filter(|&&(_, s)| s == max).map(|&(i, _)| i);
    let first = ties.next()?;
    Some(ties.fold(first, |best, i| if operands[i].bits.len() > operands[best].bits.len() { i } else { best }))
}

/// `|a AND b|` for two operands, without materializing it, each pair of containers counted
/// in one pass (two bitsets with one dispatched `AND` + `POPCNT` kernel). Kept views are
/// read in place; of two operands without one, the smaller (by image size) is copied and
/// the larger streamed ([`super::stream`]). `a AND NOT b` and `a OR b` counts follow.
pub(crate) fn and_len(a: Operand<'_>, b: Operand<'_>) -> u64 {
    let level = kernels::level();
    let mut scratch = Box::new([0u64; 1024]);
    let mut total = 0;
    match (a.view, b.view) {
        (Some(x), Some(y)) => {
            let (few, many) = if x.len() <= y.len() { (x, y) } else { (y, x) };
            let mut cursor = 0;
            for i in 0..few.len() {
                if let Some(c) = many.seek(&mut cursor, few.key(i)) {
                    total += pair_len(level, &mut scratch, few.container(i), c);
                }
            }
        }
        (Some(v), None) | (None, Some(v)) => {
            let streamed = if a.view.is_none() { a.bits } else { b.bits };
            total = stream_len(level, &mut scratch, v, streamed);
        }
        (None, None) => {
            let (small, large) =
                if a.bits.serialized_size() <= b.bits.serialized_size() { (a.bits, b.bits) } else { (b.bits, a.bits) };
            total = stream_len(level, &mut scratch, &View::new(small), large);
        }
    }
    total
}

/// `|view AND streamed|`.
fn stream_len(level: Level, scratch: &mut Words, view: &View, streamed: &RoaringBitmap) -> u64 {
    let mut cursor = 0;
    let mut total = 0;
    super::stream::for_each_container(streamed, |key, c| {
        if let Some(s) = view.seek(&mut cursor, key) {
            total += pair_len(level, scratch, s, c);
        }
    });
    total
}

/// `|s AND c|` of two containers of one block.
fn pair_len(level: Level, scratch: &mut Words, s: Container<'_>, c: Container<'_>) -> u64 {
    match (s, c) {
        (Container::Bitset(x), Container::Bitset(y)) => kernels::and_count_bytes(level, x, y),
        (s, c) => {
            load(level, scratch, s);
            match c {
                Container::Bitset(y) => kernels::and_count_words(level, scratch, y),
                Container::Array(y) => format::array_values(y).map(|v| scratch[v / 64] >> (v % 64) & 1).sum::<u64>(),
                Container::Run(y) => format::run_ranges(y).map(|(lo, hi)| kernels::count_range(scratch, lo, hi)).sum(),
            }
        }
    }
}

/// `out = c`.
fn load(level: Level, out: &mut Words, c: Container<'_>) {
    match c {
        Container::Bitset(b) => kernels::copy_bytes(level, out, b),
        _ => {
            out.fill(0);
            merge(level, out, c);
        }
    }
}

/// `out |= c`.
fn merge(level: Level, out: &mut Words, c: Container<'_>) {
    match c {
        Container::Bitset(b) => kernels::or_bytes(level, out, b),
        Container::Array(b) => {
            for v in format::array_values(b) {
                out[v / 64] |= 1 << (v % 64);
            }
        }
        Container::Run(b) => {
            for (lo, hi) in format::run_ranges(b) {
                kernels::fill(out, lo, hi, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::kernels::levels;
    use proptest::prelude::*;

    impl<'a> Operand<'a> {
        /// A bitmap without a kept view.
        fn bits(bits: &'a RoaringBitmap) -> Operand<'a> {
            Operand { bits, view: None }
        }
    }

    /// The operator-at-a-time reference.
    fn reference(op: &Op, bits: &[RoaringBitmap]) -> RoaringBitmap {
        match op {
            Op::Leaf(i) => bits[*i].clone(),
            Op::And(xs) => xs.iter().map(|x| reference(x, bits)).reduce(|a, b| a & b).unwrap_or_default(),
            Op::Or(xs) => xs.iter().map(|x| reference(x, bits)).fold(RoaringBitmap::new(), |a, b| a | b),
            Op::AndNot(b, xs) => xs.iter().fold(reference(b, bits), |a, x| a - reference(x, bits)),
        }
    }

    /// Bitmaps mixing every container kind across a few blocks (one at the top of u32).
    fn bitmap() -> impl Strategy<Value = RoaringBitmap> {
        let block = prop_oneof![Just(0u32), Just(1), Just(2), Just(65_535)];
        let part = (block, 0u8..4, any::<u64>()).prop_map(|(b, kind, seed)| {
            let base = b << 16;
            let mut s = seed | 1;
            let mut next = move || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s
            };
            let mut r = RoaringBitmap::new();
            match kind {
                0 => r.extend((0..(next() % 300)).map(|_| base | (next() as u32 & 0xFFFF))), // array
                1 => r.extend((0..30_000).map(|_| base | (next() as u32 & 0xFFFF))),         // bitset
                2 => {
                    let lo = next() as u32 & 0xFFFF;
                    let hi = (lo + (next() % 20_000) as u32).min(0xFFFF);
                    r.insert_range(base | lo..=base | hi); // run
                }
                _ => {
                    r.insert_range(base..=base | 0xFFFF); // full block
                }
            }
            r
        });
        proptest::collection::vec(part, 0..4).prop_map(|parts| {
            let mut r = parts.into_iter().fold(RoaringBitmap::new(), |a, b| a | b);
            r.optimize();
            r
        })
    }

    fn op(n: usize) -> impl Strategy<Value = Op> {
        let leaf = (0..n).prop_map(Op::Leaf);
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Op::And),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Op::Or),
                (inner.clone(), proptest::collection::vec(inner, 1..3)).prop_map(|(b, n)| Op::AndNot(Box::new(b), n)),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn blocks_match_operator_at_a_time(
            bits in proptest::collection::vec(bitmap(), 4),
            roots in proptest::collection::vec(op(4), 1..4),
        ) {
            let views: Vec<View> = bits.iter().map(View::new).collect();
            for root in roots {
                let want = reference(&root, &bits);
                for level in levels() {
                    // Kept views: none, every other operand, all.
                    for kept in [0usize, 0b0101, 0b1111] {
                        let ops: Vec<Operand<'_>> = (0..bits.len())
                            .map(|i| Operand { bits: &bits[i], view: (kept >> i & 1 == 1).then_some(&views[i]) })
                            .collect();
                        for stream in [true, false] {
                            let streamed = if stream { largest_unviewed(&ops) } else { None };
                            let p = Program::with_level(&ops, root.clone(), level, streamed);
                            let at = format!("{root:?} at {level:?}, stream {stream}, kept {kept:b}");
                            prop_assert_eq!(p.count(), want.len(), "{}", at);
                            prop_assert_eq!(p.select(), want.clone(), "{}", at);
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn and_len_matches_roaring(a in bitmap(), b in bitmap()) {
            let (va, vb) = (View::new(&a), View::new(&b));
            let want = a.intersection_len(&b);
            for (x, y) in [(None, None), (Some(&va), None), (None, Some(&vb)), (Some(&va), Some(&vb))] {
                let (oa, ob) = (Operand { bits: &a, view: x }, Operand { bits: &b, view: y });
                prop_assert_eq!(and_len(oa, ob), want);
                prop_assert_eq!(and_len(ob, oa), want);
            }
            prop_assert_eq!(and_len(Operand::bits(&a), Operand::bits(&a)), a.len());
            prop_assert_eq!(and_len(Operand { bits: &a, view: Some(&va) }, Operand { bits: &a, view: Some(&va) }), a.len());
        }
    }

    #[test]
    fn empty_operands_and_disjoint_blocks() {
        let a: RoaringBitmap = (0..10u32).collect();
        let b: RoaringBitmap = (1 << 16..(1 << 16) + 10).collect();
        let e = RoaringBitmap::new();
        let refs = [&a, &b, &e].map(Operand::bits);
        let cases = [
            (Op::And(vec![Op::Leaf(0), Op::Leaf(1)]), 0),
            (Op::Or(vec![Op::Leaf(0), Op::Leaf(1), Op::Leaf(2)]), 20),
            (Op::AndNot(Box::new(Op::Leaf(0)), vec![Op::Leaf(2)]), 10),
            (Op::And(vec![Op::Leaf(2), Op::Or(vec![Op::Leaf(0), Op::Leaf(1)])]), 0),
        ];
        for (root, want) in cases {
            let p = Program::new(&refs, root, largest_unviewed(&refs));
            assert_eq!(p.count(), want);
            assert_eq!(p.select().len(), want);
        }
    }
}
