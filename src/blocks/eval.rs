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
//! The largest operand is read as `roaring` writes its portable image ([`super::stream`]),
//! in place; the others through [`View`]s, one copy of each image. Those copies are the
//! price of reaching containers that `roaring` keeps private, so the planner sends only
//! expressions where it pays (three or more operands, and not a flat `AND` of tags with a
//! sparse one: `worth_blocks` in `query/eval.rs`).
//!
//! Results are written as array and bitset containers (as `roaring`'s own operations
//! produce them); whoever keeps a result with long runs can shrink it with
//! `RoaringBitmap::optimize`.

use fearless_simd::Level;
use roaring::RoaringBitmap;

use super::build::ImageWriter;
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
    /// Scratch blocks the evaluation needs: one per level, the deepest operator's counting
    /// its temporary (a leaf needs one block; an operator of leaves two).
    fn depth(&self) -> usize {
        match self {
            Op::Leaf(_) => 1,
            Op::And(xs) | Op::Or(xs) => 1 + xs.iter().map(Op::depth).max().unwrap_or(0),
            Op::AndNot(b, xs) => 1 + xs.iter().map(Op::depth).max().unwrap_or(0).max(b.depth()),
        }
    }
}

/// An expression and its operands: the largest one is streamed block by block as `roaring`
/// writes its image ([`super::stream`]), the others are read through [`View`]s (one copy
/// each).
pub(crate) struct Program<'a> {
    views: Vec<Option<View>>,
    /// The operand read as a stream (its view is `None`).
    streamed: Option<(usize, &'a RoaringBitmap)>,
    root: Op,
    /// Keys of the copied operands, ascending.
    keys: Vec<u16>,
    level: Level,
}

/// The state of one block's evaluation.
struct Run<'r> {
    views: &'r [Option<View>],
    cursors: &'r mut [usize],
    /// The streamed operand's index (`usize::MAX` when none is).
    streamed: usize,
    /// The streamed operand's container of this block, if it has one.
    current: Option<Container<'r>>,
    level: Level,
}

impl<'a> Program<'a> {
    /// `root` over `operands` (indexed by [`Op::Leaf`]).
    pub(crate) fn new(operands: &[&'a RoaringBitmap], root: Op) -> Program<'a> {
        Program::with_level(operands, root, kernels::level(), true)
    }

    /// As [`Program::new`], at an instruction-set level, streaming the largest operand or not.
    pub(crate) fn with_level(operands: &[&'a RoaringBitmap], root: Op, level: Level, stream: bool) -> Program<'a> {
        let largest = operands.iter().enumerate().max_by_key(|(_, b)| b.serialized_size()).map(|(i, _)| i);
        let streamed = largest.filter(|_| stream).map(|i| (i, operands[i]));
        let views: Vec<Option<View>> = operands
            .iter()
            .enumerate()
            .map(|(i, b)| (streamed.map(|(s, _)| s) != Some(i)).then(|| View::new(b)))
            .collect();
        let mut keys: Vec<u16> = views.iter().flatten().flat_map(View::keys).collect();
        keys.sort_unstable();
        keys.dedup();
        Program { views, streamed, root, keys, level }
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
        let mut run = Run { views: &self.views, cursors, streamed, current, level: self.level };
        run.eval(&self.root, key, bufs)
    }

    /// Calls `on_block(key, words)` for every non-empty block of the result, ascending.
    fn drive(&self, mut on_block: impl FnMut(u16, &Words)) {
        let mut cursors = vec![0; self.views.len()];
        let mut bufs = self.scratch();
        let Some((_, bits)) = self.streamed else {
            for &key in &self.keys {
                if self.block(key, None, &mut cursors, &mut bufs) {
                    on_block(key, &bufs[0]);
                }
            }
            return;
        };
        // The streamed operand's containers arrive in key order: blocks only the copied
        // operands have are evaluated in between.
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
        let views: &'r [Option<View>] = self.views;
        views[i].as_ref().expect("every operand but the streamed one has a view").seek(&mut self.cursors[i], key)
    }

    /// Evaluates `op` on block `key` into `bufs[0]` (using the rest as scratch). `false`
    /// means the block is empty (and `bufs[0]` is then unspecified).
    fn eval(&mut self, op: &Op, key: u16, bufs: &mut [Box<Words>]) -> bool {
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
                                    for v in kernels::array_values(b) {
                                        tmp[v / 64] |= out[v / 64] & (1 << (v % 64));
                                    }
                                    std::mem::swap(out, tmp);
                                }
                                Container::Run(b) => {
                                    let tmp = &mut rest[0];
                                    tmp.fill(0);
                                    for (lo, hi) in kernels::run_ranges(b) {
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
                                for v in kernels::array_values(b) {
                                    out[v / 64] &= !(1 << (v % 64));
                                }
                            }
                            Some(Container::Run(b)) => {
                                for (lo, hi) in kernels::run_ranges(b) {
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

/// `|a AND b|` for two operands, without materializing it: the smaller operand (by image
/// size) is copied through a [`View`], the larger one streamed ([`super::stream`]), and each
/// pair of containers counted in one pass (two bitsets with one dispatched `AND` +
/// `POPCNT` kernel). `a AND NOT b` and `a OR b` counts follow from it.
pub(crate) fn and_len(a: &RoaringBitmap, b: &RoaringBitmap) -> u64 {
    let (small, large) = if a.serialized_size() <= b.serialized_size() { (a, b) } else { (b, a) };
    let level = kernels::level();
    let view = View::new(small);
    let mut cursor = 0;
    let mut scratch = Box::new([0u64; 1024]);
    let mut total = 0;
    super::stream::for_each_container(large, |key, c| {
        let Some(s) = view.seek(&mut cursor, key) else { return };
        total += match (s, c) {
            (Container::Bitset(x), Container::Bitset(y)) => kernels::and_count_bytes(level, x, y),
            (s, c) => {
                load(level, &mut scratch, s);
                match c {
                    Container::Bitset(y) => kernels::and_count_words(level, &scratch, y),
                    Container::Array(y) => {
                        kernels::array_values(y).map(|v| scratch[v / 64] >> (v % 64) & 1).sum::<u64>()
                    }
                    Container::Run(y) => {
                        kernels::run_ranges(y).map(|(lo, hi)| kernels::count_range(&scratch, lo, hi)).sum()
                    }
                }
            }
        };
    });
    total
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
            for v in kernels::array_values(b) {
                out[v / 64] |= 1 << (v % 64);
            }
        }
        Container::Run(b) => {
            for (lo, hi) in kernels::run_ranges(b) {
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
            let refs: Vec<&RoaringBitmap> = bits.iter().collect();
            for root in roots {
                let want = reference(&root, &bits);
                for level in levels() {
                    for stream in [true, false] {
                        let p = Program::with_level(&refs, root.clone(), level, stream);
                        prop_assert_eq!(p.count(), want.len(), "{:?} at {:?}, stream {}", root, level, stream);
                        prop_assert_eq!(p.select(), want.clone(), "{:?} at {:?}, stream {}", root, level, stream);
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn and_len_matches_roaring(a in bitmap(), b in bitmap()) {
            prop_assert_eq!(and_len(&a, &b), a.intersection_len(&b));
            prop_assert_eq!(and_len(&b, &a), a.intersection_len(&b));
            prop_assert_eq!(and_len(&a, &a), a.len());
        }
    }

    #[test]
    fn empty_operands_and_disjoint_blocks() {
        let a: RoaringBitmap = (0..10u32).collect();
        let b: RoaringBitmap = (1 << 16..(1 << 16) + 10).collect();
        let e = RoaringBitmap::new();
        let refs = [&a, &b, &e];
        let cases = [
            (Op::And(vec![Op::Leaf(0), Op::Leaf(1)]), 0),
            (Op::Or(vec![Op::Leaf(0), Op::Leaf(1), Op::Leaf(2)]), 20),
            (Op::AndNot(Box::new(Op::Leaf(0)), vec![Op::Leaf(2)]), 10),
            (Op::And(vec![Op::Leaf(2), Op::Or(vec![Op::Leaf(0), Op::Leaf(1)])]), 0),
        ];
        for (root, want) in cases {
            let p = Program::new(&refs, root);
            assert_eq!(p.count(), want);
            assert_eq!(p.select().len(), want);
        }
    }
}
