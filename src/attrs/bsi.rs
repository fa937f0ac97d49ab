//! A bit-sliced index: one attribute's `i64` values for many customers, as bitmaps.
//!
//! Values are stored as unsigned offsets from a base (`value = base + offset`), one bitmap
//! per offset bit (slice `i` holds the customers whose offset has bit `i` set), plus the
//! bitmap of customers that have a value. Only as many slices as the widest offset needs
//! exist: ages take 7, day numbers 15, any `i64` at most 64.
//!
//! A comparison `value op c` is bitmap operations over the slices, no per-customer loop:
//!
//! - `=` and `!=` walk from the most significant bit down, keeping the customers still equal
//!   to `c`, and stop once none is left.
//! - Ranges on narrow indexes (and any filtered range) walk from the lowest set bit of `c`
//!   up, with one in-place operation per slice: the customers at least `c` in the low bits
//!   seen so far are intersected with a slice where `c` has a one and united with it where
//!   it has a zero. `<` and `<=` are the rest of the universe.
//! - Ranges on wide unfiltered indexes (money, day numbers) walk from the top bit down
//!   (O'Neil and Quass, "Improved query performance with variant indexes", 1997), where the
//!   "equal so far" set usually empties long before the last slice.
//!
//! A filter (the rest of an `AND`) narrows the walk from the start.
//!
//! A value below the base moves the base down (with slack, so a run of ever lower values
//! costs amortized O(1) rebases); the offsets are shifted with a ripple-carry adder over
//! the slices, again bitmap operations only.

use roaring::RoaringBitmap;

use super::CmpOp;
use crate::blocks::build::ImageWriter;
use crate::blocks::kernels::{self, Words};
use crate::par;

#[derive(Clone, Debug, Default)]
pub(crate) struct Bsi {
    exists: RoaringBitmap,
    base: i64,
    slices: Vec<RoaringBitmap>,
}

fn offset(value: i64, base: i64) -> u64 {
    (i128::from(value) - i128::from(base)) as u64
}

fn width(max_offset: u64) -> usize {
    (u64::BITS - max_offset.leading_zeros()) as usize
}

impl Bsi {
    /// The customers with a value.
    pub(crate) fn exists(&self) -> &RoaringBitmap {
        &self.exists
    }

    pub(crate) fn len(&self) -> u64 {
        self.exists.len()
    }

    pub(crate) fn get(&self, customer: u32) -> Option<i64> {
        if !self.exists.contains(customer) {
            return None;
        }
        let off =
            self.slices.iter().enumerate().filter(|(_, s)| s.contains(customer)).fold(0u64, |o, (i, _)| o | 1 << i);
        Some((i128::from(self.base) + i128::from(off)) as i64)
    }

    /// Makes `min` representable (the base at most `min`).
    fn lower_base(&mut self, min: i64) {
        if self.exists.is_empty() {
            self.base = min;
            self.slices.clear();
            return;
        }
        if min >= self.base {
            return;
        }
        // Slack: go as far below `min` again as `min` is below the base (amortized doubling).
        let gap = i128::from(self.base) - i128::from(min);
        let new_base = (i128::from(min) - gap).max(i128::from(i64::MIN)) as i64;
        self.add_to_all(offset(self.base, new_base));
        self.base = new_base;
    }

    /// Adds `k` to every offset, slice by slice (a ripple-carry adder on bitmaps).
    fn add_to_all(&mut self, k: u64) {
        let mut carry = RoaringBitmap::new();
        let mut i = 0;
        while i < 64 && (k >> i != 0 || !carry.is_empty()) {
            if i == self.slices.len() {
                self.slices.push(RoaringBitmap::new());
            }
            let s = &self.slices[i];
            let (sum, next) =
                if k >> i & 1 == 1 { (&self.exists - &(s ^ &carry), s | &carry) } else { (s ^ &carry, s & &carry) };
            self.slices[i] = sum;
            carry = next;
            i += 1;
        }
        debug_assert!(carry.is_empty(), "offsets fit 64 bits");
    }

    fn ensure_width(&mut self, max_offset: u64) {
        let w = width(max_offset);
        if self.slices.len() < w {
            self.slices.resize_with(w, RoaringBitmap::new);
        }
    }

    /// Sets one value.
    pub(crate) fn set(&mut self, customer: u32, value: i64) {
        self.lower_base(value);
        let off = offset(value, self.base);
        self.ensure_width(off);
        for (i, s) in self.slices.iter_mut().enumerate() {
            if off >> i & 1 == 1 {
                s.insert(customer);
            } else {
                s.remove(customer);
            }
        }
        self.exists.insert(customer);
        self.narrow(false); // an overwritten largest value may leave the top slice empty
    }

    /// Sets many values: `values` ascending by customer, one value per customer.
    pub(crate) fn set_many(&mut self, values: &[(u32, i64)]) {
        self.set_many_on(values, 1);
    }

    /// [`Bsi::set_many`] on up to `threads` threads, each filling a range of the slices
    /// (the same slices at any count).
    pub(crate) fn set_many_on(&mut self, values: &[(u32, i64)], threads: usize) {
        let Some(min) = values.iter().map(|&(_, v)| v).min() else { return };
        if values.len() == 1 {
            return self.set(values[0].0, values[0].1);
        }
        let touched = RoaringBitmap::from_sorted_iter(values.iter().map(|&(c, _)| c)).expect("ascending customers");
        self.lower_base(min);
        let max = values.iter().map(|&(_, v)| offset(v, self.base)).max().unwrap_or(0);
        self.ensure_width(max);
        let (base, fresh) = (self.base, self.exists.is_empty());
        let bits = par::ranges(self.slices.len(), threads.clamp(1, self.slices.len().max(1)));
        let slices = par::split_mut(&mut self.slices, bits.iter().map(|b| b.len()));
        let level = kernels::level();
        par::map(bits.into_iter().zip(slices).collect(), |_, (bits, slices)| {
            // Block by block of 2^16 customers, each slice's bits set in dense words (in
            // cache: 8 KiB a slice), then appended to the slice's new bitmap as a container.
            let mask = match bits.len() {
                64.. => u64::MAX,
                n => (1u64 << n) - 1,
            };
            let mut words: Vec<Words> = vec![[0; 1024]; bits.len()];
            let mut cards = vec![0u64; bits.len()];
            let mut built: Vec<ImageWriter> = (0..bits.len()).map(|_| ImageWriter::new(level)).collect();
            for block in values.chunk_by(|a, b| a.0 >> 16 == b.0 >> 16) {
                for &(c, v) in block {
                    let (word, bit) = ((c & 0xFFFF) as usize >> 6, 1u64 << (c & 63));
                    let mut off = offset(v, base).checked_shr(bits.start as u32).unwrap_or(0) & mask;
                    while off != 0 {
                        let b = off.trailing_zeros() as usize;
                        words[b][word] |= bit;
                        cards[b] += 1;
                        off &= off - 1;
                    }
                }
                let key = (block[0].0 >> 16) as u16;
                for ((w, card), out) in words.iter_mut().zip(&mut cards).zip(&mut built) {
                    out.push_words(key, w, *card);
                    (*w, *card) = ([0; 1024], 0);
                }
            }
            for (s, out) in slices.iter_mut().zip(built) {
                if !fresh {
                    *s -= &touched;
                }
                *s |= out.finish();
            }
        });
        self.exists |= touched;
        self.narrow(false);
    }

    /// Every value, ascending by customer: one walk of each slice beside the customers.
    pub(crate) fn values(&self) -> Vec<(u32, i64)> {
        let ids: Vec<u32> = self.exists.iter().collect();
        let mut offs = vec![0u64; ids.len()];
        for (i, slice) in self.slices.iter().enumerate() {
            let mut j = 0;
            for c in slice {
                while ids[j] < c {
                    j += 1; // a slice's customers are among `ids`
                }
                offs[j] |= 1 << i;
            }
        }
        ids.into_iter().zip(offs).map(|(c, off)| (c, (i128::from(self.base) + i128::from(off)) as i64)).collect()
    }

    /// Removes one customer's value; returns it.
    pub(crate) fn remove(&mut self, customer: u32) -> Option<i64> {
        let old = self.get(customer)?;
        self.exists.remove(customer);
        for s in &mut self.slices {
            s.remove(customer);
        }
        self.narrow(false);
        Some(old)
    }

    /// Removes the values of every customer in `customers`.
    pub(crate) fn remove_many(&mut self, customers: &RoaringBitmap) {
        if self.exists.is_disjoint(customers) {
            return;
        }
        self.exists -= customers;
        for s in &mut self.slices {
            *s -= customers;
        }
        self.narrow(true);
    }

    /// Drops the slices no value needs any more, once values were removed or overwritten:
    /// empty top slices (a check per call), and with `rebase` (batch removals) the gap below
    /// the smallest offset when every value has the top bit set (the smallest value was
    /// removed): the base moves up to the smallest value, which makes the index at least one
    /// slice narrower. Checking that costs one comparison of two cardinalities.
    fn narrow(&mut self, rebase: bool) {
        if self.exists.is_empty() {
            self.slices.clear();
            self.base = 0;
            return;
        }
        while self.slices.last().is_some_and(RoaringBitmap::is_empty) {
            self.slices.pop();
        }
        if rebase && self.slices.last().is_some_and(|top| top.len() == self.exists.len()) {
            let min = self.extreme(false);
            self.sub_from_all(min);
            self.base = (i128::from(self.base) + i128::from(min)) as i64;
            while self.slices.last().is_some_and(RoaringBitmap::is_empty) {
                self.slices.pop();
            }
        }
    }

    /// The largest (`max`) or smallest offset, from the top bit down: keep the customers
    /// with the bit set (largest) or clear (smallest) whenever there are any.
    fn extreme(&self, max: bool) -> u64 {
        let mut cand = self.exists.clone();
        let mut off = 0;
        for (i, s) in self.slices.iter().enumerate().rev() {
            let keep = if max { &cand & s } else { &cand - s };
            match (keep.is_empty(), max) {
                (false, true) => {
                    off |= 1 << i;
                    cand = keep;
                }
                (false, false) => cand = keep,
                (true, true) => {}
                (true, false) => off |= 1 << i,
            }
        }
        off
    }

    /// Subtracts `k` (at most every offset) from every offset (a ripple-borrow subtractor
    /// on bitmaps).
    fn sub_from_all(&mut self, k: u64) {
        let mut borrow = RoaringBitmap::new();
        for (i, s) in self.slices.iter_mut().enumerate() {
            let x = &*s ^ &borrow;
            let (diff, next) =
                if k >> i & 1 == 1 { (&self.exists - &x, (&self.exists - &*s) | &borrow) } else { (x, &borrow - &*s) };
            *s = diff;
            borrow = next;
        }
        debug_assert!(borrow.is_empty(), "k is at most every offset");
    }

    /// Customers (within `filter`, when given) whose value `v` satisfies `v op c`.
    pub(crate) fn compare(&self, op: CmpOp, c: i128, filter: Option<&RoaringBitmap>) -> RoaringBitmap {
        let universe = || match filter {
            Some(f) => &self.exists & f,
            None => self.exists.clone(),
        };
        let max_off: u64 = if self.slices.len() >= 64 { u64::MAX } else { (1u64 << self.slices.len()) - 1 };
        let u = c - i128::from(self.base);
        // Every value is above c, or every value is below it.
        let (all_above, all_below) = (u < 0, u > i128::from(max_off));
        if all_above || all_below {
            let holds = match op {
                CmpOp::Eq => false,
                CmpOp::Ne => true,
                CmpOp::Lt | CmpOp::Le => all_below,
                CmpOp::Gt | CmpOp::Ge => all_above,
            };
            return if holds { universe() } else { RoaringBitmap::new() };
        }
        let u = u as u64;
        // The universe minus `x`, without copying the universe when there is no filter.
        let complement = |x: RoaringBitmap| match filter {
            Some(f) => {
                let mut all = &self.exists & f;
                all -= &x;
                all
            }
            None => &self.exists - &x,
        };
        match op {
            CmpOp::Eq => self.equal(u, universe()),
            CmpOp::Ne => complement(self.equal(u, universe())),
            CmpOp::Ge | CmpOp::Gt | CmpOp::Lt | CmpOp::Le if filter.is_none() && self.slices.len() > 12 => {
                // Wide indexes (money, day numbers): from the top bit down, on a shrinking
                // "equal so far" set that usually empties long before the last slice. (Chosen
                // by measurement: `benches/models.rs`, range/*.)
                let above = matches!(op, CmpOp::Ge | CmpOp::Gt);
                let (mut decided, eq) = self.top_down(u, universe(), above);
                if matches!(op, CmpOp::Ge | CmpOp::Le) {
                    decided |= eq;
                }
                decided
            }
            CmpOp::Ge => self.at_least(u, filter),
            CmpOp::Lt => complement(self.at_least(u, filter)),
            CmpOp::Gt if u == max_off => RoaringBitmap::new(),
            CmpOp::Gt => self.at_least(u + 1, filter),
            CmpOp::Le if u == max_off => universe(),
            CmpOp::Le => complement(self.at_least(u + 1, filter)),
        }
    }

    /// Customers of `eq` (a subset of `exists`) whose offset is `u`: from the top bit down,
    /// stopping once nobody is left.
    fn equal(&self, u: u64, mut eq: RoaringBitmap) -> RoaringBitmap {
        for (i, s) in self.slices.iter().enumerate().rev() {
            if eq.is_empty() {
                break;
            }
            if u >> i & 1 == 1 {
                eq &= s;
            } else {
                eq -= s;
            }
        }
        eq
    }

    /// From the top bit down (O'Neil and Quass): the customers of `eq` (a subset of
    /// `exists`) whose offset is above `u` (`above`) or below it, and those equal to it.
    fn top_down(&self, u: u64, mut eq: RoaringBitmap, above: bool) -> (RoaringBitmap, RoaringBitmap) {
        let mut decided = RoaringBitmap::new();
        for (i, s) in self.slices.iter().enumerate().rev() {
            if eq.is_empty() {
                break;
            }
            match (u >> i & 1 == 1, above) {
                (true, true) => eq &= s,
                (false, false) => eq -= s,
                (true, false) => {
                    decided |= &eq - s;
                    eq &= s;
                }
                (false, true) => {
                    decided |= &eq & s;
                    eq -= s;
                }
            }
        }
        (decided, eq)
    }

    /// Customers (within `filter`) whose offset is at least `u`, from the lowest bit up: with
    /// `ge` the customers whose low bits are at least `u`'s, bit `i` of `u` set keeps those
    /// with bit `i` set (`ge &= slice`), and clear adds everyone with bit `i` set
    /// (`ge |= slice`). The bits below `u`'s lowest set bit decide nothing, so the walk starts
    /// there, from that slice. One in-place operation per slice, no copy of the universe.
    fn at_least(&self, u: u64, filter: Option<&RoaringBitmap>) -> RoaringBitmap {
        if u == 0 {
            return match filter {
                Some(f) => &self.exists & f,
                None => self.exists.clone(),
            };
        }
        let low = u.trailing_zeros() as usize;
        let mut ge = match filter {
            Some(f) => &self.slices[low] & f,
            None => self.slices[low].clone(),
        };
        let mut widened = false;
        for (i, s) in self.slices.iter().enumerate().skip(low + 1) {
            if u >> i & 1 == 1 {
                ge &= s;
            } else {
                ge |= s;
                widened = true;
            }
        }
        if let (Some(f), true) = (filter, widened) {
            ge &= f; // the unions brought in customers outside the filter
        }
        ge
    }

    /// The parts a snapshot stores: who has a value, the base, the slices (lowest bit first).
    pub(crate) fn parts(&self) -> (&RoaringBitmap, i64, &[RoaringBitmap]) {
        (&self.exists, self.base, &self.slices)
    }

    /// An index from the parts [`Bsi::parts`] gave, checked against what the code here
    /// assumes (a snapshot may be damaged or crafted): at most 64 slices, each within
    /// `exists`, no empty top slice; an empty index has base 0 and no slice; every value
    /// (`base` plus an offset) fits an `i64`. What does not hold, as text.
    pub(crate) fn from_parts(
        exists: RoaringBitmap,
        base: i64,
        slices: Vec<RoaringBitmap>,
    ) -> std::result::Result<Bsi, String> {
        if slices.len() > 64 {
            return Err(format!("{} slices (at most 64: one per bit of an i64 offset)", slices.len()));
        }
        if exists.is_empty() && (base != 0 || !slices.is_empty()) {
            return Err(format!("no value, yet base {base} and {} slices (an empty index has neither)", slices.len()));
        }
        if let Some(i) = slices.iter().position(|s| !s.is_subset(&exists)) {
            return Err(format!("slice {i} holds customers without a value"));
        }
        if slices.last().is_some_and(RoaringBitmap::is_empty) {
            return Err(format!("the top slice ({}) is empty", slices.len() - 1));
        }
        let bsi = Bsi { exists, base, slices };
        let top = i128::from(base) + i128::from(bsi.extreme(true));
        if top > i128::from(i64::MAX) {
            return Err(format!("base {base} plus the largest offset is {top}, past i64::MAX"));
        }
        Ok(bsi)
    }

    /// The smallest and the largest value, `None` for an empty index.
    pub(crate) fn range(&self) -> Option<(i64, i64)> {
        if self.exists.is_empty() {
            return None;
        }
        let at = |off: u64| (i128::from(self.base) + i128::from(off)) as i64;
        Some((at(self.extreme(false)), at(self.extreme(true))))
    }

    /// Bytes the bitmaps take serialized (a proxy for their heap size).
    pub(crate) fn serialized_bytes(&self) -> usize {
        self.exists.serialized_size() + self.slices.iter().map(RoaringBitmap::serialized_size).sum::<usize>()
    }

    pub(crate) fn optimize(&mut self) {
        self.exists.optimize();
        for s in &mut self.slices {
            s.optimize();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn check(bsi: &Bsi, model: &BTreeMap<u32, i64>, c: i64) {
        for op in CmpOp::ALL {
            let want: Vec<u32> = model.iter().filter(|&(_, &v)| op.holds(v, c)).map(|(&k, _)| k).collect();
            let got: Vec<u32> = bsi.compare(op, i128::from(c), None).iter().collect();
            assert_eq!(got, want, "v {op} {c}");
        }
    }

    /// No empty top slice (so the width is the largest offset's); after a batch removal,
    /// some value has the top bit clear (no base move would narrow by the top bit).
    fn narrow_enough(bsi: &Bsi, rebased: bool) {
        assert!(bsi.slices.last().is_none_or(|s| !s.is_empty()), "an empty top slice");
        if bsi.exists.is_empty() {
            assert!(bsi.slices.is_empty());
        } else if !bsi.slices.is_empty() {
            assert_eq!(width(bsi.extreme(true)), bsi.slices.len());
            if rebased {
                let min = bsi.extreme(false);
                assert!(width(min) < bsi.slices.len(), "min {min} has the top bit");
            }
        }
    }

    /// Many values over many 2^16-customer blocks (the ends of the id range included),
    /// written at once on 1-5 threads, read back as set one by one, over an index that held
    /// other values before.
    #[test]
    fn many_values_at_once_on_threads_equal_one_by_one() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values: BTreeMap<u32, i64> =
            (0..20_000).map(|_| (next() as u32 % 400_000, next() as i64 % 1000)).collect();
        values.extend([(u32::MAX, i64::MIN), (0, i64::MAX), (65_535, -1), (65_536, 1)]);
        let values: Vec<(u32, i64)> = values.into_iter().collect();
        let old: Vec<(u32, i64)> = values.iter().step_by(3).map(|&(c, v)| (c, v / 2 + 7)).collect();
        let mut want = Bsi::default();
        for &(c, v) in old.iter().chain(&values) {
            want.set(c, v);
        }
        for threads in 1..=5 {
            let mut bsi = Bsi::default();
            bsi.set_many_on(&old, threads);
            bsi.set_many_on(&values, threads);
            assert_eq!(bsi.exists, want.exists);
            assert_eq!(bsi.values(), values);
            for &(c, v) in &values {
                assert_eq!(bsi.get(c), Some(v), "customer {c}, {threads} threads");
            }
            for probe in [-1, 0, 499, i64::MIN, i64::MAX] {
                let model: BTreeMap<u32, i64> = values.iter().copied().collect();
                check(&bsi, &model, probe);
            }
        }
    }

    #[test]
    fn removing_extremes_narrows_the_index() {
        let mut bsi = Bsi::default();
        bsi.set_many(&[(1, 30), (2, 40), (3, i64::MAX), (4, i64::MIN)]);
        assert_eq!(bsi.slices.len(), 64);
        bsi.remove_many(&[3, 4].into_iter().collect());
        assert!(bsi.slices.len() <= 4, "{} slices for the values 30 and 40", bsi.slices.len());
        assert_eq!((bsi.get(1), bsi.get(2)), (Some(30), Some(40)));
        let mut model = BTreeMap::from([(1, 30), (2, 40)]);
        for probe in [29, 30, 35, 40, 41] {
            check(&bsi, &model, probe);
        }
        // Overwriting the largest value drops the top slice; removing everyone resets.
        bsi.set(2, 31);
        model.insert(2, 31);
        assert!(bsi.slices.len() <= 1);
        check(&bsi, &model, 31);
        bsi.remove(1);
        bsi.remove(2);
        assert!(bsi.slices.is_empty());
        bsi.set(9, -7);
        assert_eq!(bsi.get(9), Some(-7));
    }

    #[test]
    fn extremes_and_rebases() {
        let mut bsi = Bsi::default();
        let mut model = BTreeMap::new();
        for (c, v) in [(1, 34), (2, 30), (3, 40), (4, -5), (5, i64::MAX), (6, i64::MIN), (7, 0), (2, 31)] {
            bsi.set(c, v);
            model.insert(c, v);
            for probe in [i64::MIN, i64::MIN + 1, -6, -5, 0, 30, 31, 34, 39, 40, 41, i64::MAX - 1, i64::MAX] {
                check(&bsi, &model, probe);
            }
        }
        for (&c, &v) in &model {
            assert_eq!(bsi.get(c), Some(v));
        }
        assert_eq!(bsi.remove(5), Some(i64::MAX));
        model.remove(&5);
        check(&bsi, &model, 40);
        assert_eq!(bsi.get(5), None);
    }

    proptest! {
        #[test]
        fn compare_matches_a_scan(
            ops in prop::collection::vec((0u32..40, prop_oneof![-50i64..50, any::<i64>()], any::<bool>(), any::<bool>()), 1..60),
            probes in prop::collection::vec(prop_oneof![-60i64..60, any::<i64>()], 1..8),
            threads in 1usize..5,
        ) {
            let mut bsi = Bsi::default();
            let mut model = BTreeMap::new();
            let mut batch: BTreeMap<u32, i64> = BTreeMap::new();
            for (c, v, remove, batched) in ops {
                if remove && batched {
                    // A batch removal of every customer congruent to c mod 3.
                    bsi.set_many_on(&batch.iter().map(|(&c, &v)| (c, v)).collect::<Vec<_>>(), threads);
                    batch.clear();
                    let gone: RoaringBitmap = (c % 3..40).step_by(3).collect();
                    let hit = model.keys().any(|k| gone.contains(*k));
                    bsi.remove_many(&gone);
                    model.retain(|k, _| !gone.contains(*k));
                    narrow_enough(&bsi, hit);
                } else if remove {
                    bsi.set_many_on(&batch.iter().map(|(&c, &v)| (c, v)).collect::<Vec<_>>(), threads);
                    batch.clear();
                    bsi.remove(c);
                    model.remove(&c);
                    narrow_enough(&bsi, false);
                } else if batched {
                    batch.insert(c, v);
                    model.insert(c, v);
                } else {
                    bsi.set_many_on(&batch.iter().map(|(&c, &v)| (c, v)).collect::<Vec<_>>(), threads);
                    batch.clear();
                    bsi.set(c, v);
                    model.insert(c, v);
                }
            }
            bsi.set_many_on(&batch.iter().map(|(&c, &v)| (c, v)).collect::<Vec<_>>(), threads);
            for (&c, &v) in &model {
                prop_assert_eq!(bsi.get(c), Some(v));
            }
            prop_assert_eq!(bsi.len(), model.len() as u64);
            for p in probes {
                check(&bsi, &model, p);
                let filter: RoaringBitmap = (0..40).step_by(3).collect();
                for op in CmpOp::ALL {
                    let got = bsi.compare(op, i128::from(p), Some(&filter));
                    let want: RoaringBitmap =
                        model.iter().filter(|&(c, &v)| op.holds(v, p) && filter.contains(*c)).map(|(&c, _)| c).collect();
                    prop_assert_eq!(got, want, "{} {}", op, p);
                }
            }
        }
    }
}
