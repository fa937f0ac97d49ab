//! Word kernels over one 2^16-id block (1,024 `u64` words), dispatched at run time.
//!
//! A library cannot choose its users' target flags, and the default x86-64 target has no
//! `POPCNT`: `count_ones` there compiles to a bit-twiddling sequence about 3x slower. Each
//! kernel is written once, generic over [`fearless_simd::Simd`], and [`dispatch!`] runs it
//! in a copy compiled for the best instruction set the CPU reports (AVX-512, AVX2, SSE4.2 with
//! `POPCNT`, or the baseline), detected once and cached. The crate stays free of `unsafe`:
//! the target-feature calls live inside `fearless_simd`. Every kernel is tested at every
//! level this CPU can run, against a scalar reference.

use fearless_simd::{Level, Simd, dispatch};

/// One block of the dense scratch: bit `k` is word `k / 64`, bit `k % 64`.
pub(crate) type Words = [u64; 1024];

/// The instruction-set level kernels run at (detected once per process, then cached).
pub(crate) fn level() -> Level {
    Level::new()
}

/// Every level this CPU can run, best first, ending with the portable baseline (for tests).
#[cfg(test)]
pub(crate) fn levels() -> Vec<Level> {
    let best = Level::new();
    let mut v = vec![best];
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        v.extend(best.as_avx2().map(|t| t.level()));
        v.extend(best.as_sse4_2().map(|t| t.level()));
    }
    v.push(Level::baseline());
    v.dedup_by_key(|l| format!("{l:?}"));
    v
}

fn word(c: &[u8]) -> u64 {
    u64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"))
}

#[inline(always)]
fn popcount_k<S: Simd>(_: S, w: &Words) -> u64 {
    w.iter().map(|x| u64::from(x.count_ones())).sum()
}

#[inline(always)]
fn and_k<S: Simd>(_: S, out: &mut Words, b: &Words) {
    out.iter_mut().zip(b).for_each(|(o, x)| *o &= x);
}

#[inline(always)]
fn or_k<S: Simd>(_: S, out: &mut Words, b: &Words) {
    out.iter_mut().zip(b).for_each(|(o, x)| *o |= x);
}

#[inline(always)]
fn andnot_k<S: Simd>(_: S, out: &mut Words, b: &Words) {
    out.iter_mut().zip(b).for_each(|(o, x)| *o &= !x);
}

#[inline(always)]
fn copy_bytes_k<S: Simd>(_: S, out: &mut Words, b: &[u8]) {
    out.iter_mut().zip(b.chunks_exact(8)).for_each(|(o, c)| *o = word(c));
}

#[inline(always)]
fn and_bytes_k<S: Simd>(_: S, out: &mut Words, b: &[u8]) {
    out.iter_mut().zip(b.chunks_exact(8)).for_each(|(o, c)| *o &= word(c));
}

#[inline(always)]
fn or_bytes_k<S: Simd>(_: S, out: &mut Words, b: &[u8]) {
    out.iter_mut().zip(b.chunks_exact(8)).for_each(|(o, c)| *o |= word(c));
}

#[inline(always)]
fn andnot_bytes_k<S: Simd>(_: S, out: &mut Words, b: &[u8]) {
    out.iter_mut().zip(b.chunks_exact(8)).for_each(|(o, c)| *o &= !word(c));
}

#[inline(always)]
fn and_count_bytes_k<S: Simd>(_: S, a: &[u8], b: &[u8]) -> u64 {
    a.chunks_exact(8).zip(b.chunks_exact(8)).map(|(x, y)| u64::from((word(x) & word(y)).count_ones())).sum()
}

#[inline(always)]
fn and_count_words_k<S: Simd>(_: S, w: &Words, b: &[u8]) -> u64 {
    w.iter().zip(b.chunks_exact(8)).map(|(x, y)| u64::from((x & word(y)).count_ones())).sum()
}

/// `|a AND b|` of two bitset containers' bytes, in one pass.
pub(crate) fn and_count_bytes(level: Level, a: &[u8], b: &[u8]) -> u64 {
    dispatch!(level, simd => and_count_bytes_k(simd, a, b))
}

/// `|w AND b|`, `b` a bitset container's bytes.
pub(crate) fn and_count_words(level: Level, w: &Words, b: &[u8]) -> u64 {
    dispatch!(level, simd => and_count_words_k(simd, w, b))
}

/// Set bits of `w` in `lo..=hi`.
pub(crate) fn count_range(w: &Words, lo: usize, hi: usize) -> u64 {
    let (wl, wh) = (lo / 64, hi / 64);
    let first = !0u64 << (lo % 64);
    let last = !0u64 >> (63 - hi % 64);
    if wl == wh {
        return u64::from((w[wl] & first & last).count_ones());
    }
    let inner: u64 = w[wl + 1..wh].iter().map(|x| u64::from(x.count_ones())).sum();
    u64::from((w[wl] & first).count_ones()) + inner + u64::from((w[wh] & last).count_ones())
}

#[inline(always)]
fn popcount_bytes_k<S: Simd>(_: S, b: &[u8]) -> u64 {
    b.chunks_exact(8).map(|c| u64::from(word(c).count_ones())).sum()
}

/// Set bits of a bitset's bytes (a multiple of 8 of them).
pub(crate) fn popcount_bytes(level: Level, b: &[u8]) -> u64 {
    dispatch!(level, simd => popcount_bytes_k(simd, b))
}

/// Set bits of `w`.
pub(crate) fn popcount(level: Level, w: &Words) -> u64 {
    dispatch!(level, simd => popcount_k(simd, w))
}

/// `out &= b`.
pub(crate) fn and(level: Level, out: &mut Words, b: &Words) {
    dispatch!(level, simd => and_k(simd, out, b))
}

/// `out |= b`.
pub(crate) fn or(level: Level, out: &mut Words, b: &Words) {
    dispatch!(level, simd => or_k(simd, out, b))
}

/// `out &= !b`.
pub(crate) fn andnot(level: Level, out: &mut Words, b: &Words) {
    dispatch!(level, simd => andnot_k(simd, out, b))
}

/// `out = b`, `b` being a bitset container's 8,192 little-endian bytes.
pub(crate) fn copy_bytes(level: Level, out: &mut Words, b: &[u8]) {
    dispatch!(level, simd => copy_bytes_k(simd, out, b))
}

/// `out &= b` (bitset container bytes).
pub(crate) fn and_bytes(level: Level, out: &mut Words, b: &[u8]) {
    dispatch!(level, simd => and_bytes_k(simd, out, b))
}

/// `out |= b` (bitset container bytes).
pub(crate) fn or_bytes(level: Level, out: &mut Words, b: &[u8]) {
    dispatch!(level, simd => or_bytes_k(simd, out, b))
}

/// `out &= !b` (bitset container bytes).
pub(crate) fn andnot_bytes(level: Level, out: &mut Words, b: &[u8]) {
    dispatch!(level, simd => andnot_bytes_k(simd, out, b))
}

/// Slack past the set bits that [`decode`] may write (it writes in unconditional groups).
pub(crate) const DECODE_SLACK: usize = 8;

/// Lemire's bitset decoding: every word writes its first four positions unconditionally
/// (garbage past the word's count is overwritten by the next word), so a sparse block costs
/// no unpredictable branch per word; only words with more than four bits loop. `make`
/// turns a position in the block (`0..65_536`, or up to 65,536 for the garbage past a
/// word's last bit) into the value written.
#[inline(always)]
fn decode_words<T>(words: impl Iterator<Item = u64>, out: &mut [T], make: impl Fn(u32) -> T) -> usize {
    let mut pos = 0;
    for (i, mut x) in words.enumerate() {
        let n = x.count_ones() as usize;
        let base = i as u32 * 64;
        for d in &mut out[pos..pos + 4] {
            *d = make(base + x.trailing_zeros());
            x &= x.wrapping_sub(1);
        }
        let mut at = pos + 4;
        while at < pos + n {
            for d in &mut out[at..at + 4] {
                *d = make(base + x.trailing_zeros());
                x &= x.wrapping_sub(1);
            }
            at += 4;
        }
        pos += n;
    }
    pos
}

#[inline(always)]
fn decode_k<S: Simd>(_: S, w: &Words, out: &mut [u16]) -> usize {
    decode_words(w.iter().copied(), out, |k| k as u16)
}

#[inline(always)]
fn decode_bytes_k<S: Simd>(_: S, b: &[u8], high: u32, out: &mut [u32]) -> usize {
    // The position is complete before the block's high bits are ORed in (adding them to a
    // word's base first would overflow in block 65535).
    decode_words(b.chunks_exact(8).map(word), out, |k| high | k)
}

/// Writes `high | k` for every set bit `k` of a bitset container's bytes, ascending, to the
/// front of `out`; returns how many. `out` must hold the count plus [`DECODE_SLACK`].
pub(crate) fn decode_bytes(level: Level, b: &[u8], high: u32, out: &mut [u32]) -> usize {
    dispatch!(level, simd => decode_bytes_k(simd, b, high, out))
}

/// Writes the set bits of `w`, ascending, to the front of `out` and returns how many there
/// are. `out` must hold the count plus [`DECODE_SLACK`].
pub(crate) fn decode(level: Level, w: &Words, out: &mut [u16]) -> usize {
    dispatch!(level, simd => decode_k(simd, w, out))
}

/// Sets bits `lo..=hi` of `out` (a run) to `set`.
pub(crate) fn fill(out: &mut Words, lo: usize, hi: usize, set: bool) {
    let (wl, wh) = (lo / 64, hi / 64);
    let first = !0u64 << (lo % 64);
    let last = !0u64 >> (63 - hi % 64);
    let apply = |w: &mut u64, m: u64| if set { *w |= m } else { *w &= !m };
    if wl == wh {
        apply(&mut out[wl], first & last);
    } else {
        apply(&mut out[wl], first);
        out[wl + 1..wh].iter_mut().for_each(|w| apply(w, !0));
        apply(&mut out[wh], last);
    }
}

/// Calls `f` with every set bit of `w`, ascending (the reference for [`decode`]).
#[cfg(test)]
pub(crate) fn for_each_bit(w: &Words, mut f: impl FnMut(u16)) {
    for (i, &x) in w.iter().enumerate() {
        let mut x = x;
        while x != 0 {
            f((i as u32 * 64 + x.trailing_zeros()) as u16);
            x &= x - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(seed: u64, density: u32) -> Box<Words> {
        let mut s = seed | 1;
        let mut w = Box::new([0u64; 1024]);
        for x in w.iter_mut() {
            for _ in 0..density {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *x |= 1 << (s % 64);
            }
        }
        w
    }

    fn bytes(w: &Words) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    proptest! {
        #[test]
        fn every_kernel_at_every_level_matches_scalar(sa in any::<u64>(), sb in any::<u64>(), da in 0u32..40, db in 0u32..40) {
            let (a, b) = (words(sa, da), words(sb, db));
            for level in levels() {
                let want: u64 = a.iter().map(|x| u64::from(x.count_ones())).sum();
                prop_assert_eq!(popcount(level, &a), want, "{:?}", level);
                prop_assert_eq!(popcount_bytes(level, &bytes(&a)), want, "{:?}", level);
                type Case = (fn(Level, &mut Words, &Words), fn(Level, &mut Words, &[u8]), fn(u64, u64) -> u64);
                let cases: [Case; 3] = [
                    (and, and_bytes, |x, y| x & y),
                    (or, or_bytes, |x, y| x | y),
                    (andnot, andnot_bytes, |x, y| x & !y),
                ];
                for (k, kb, f) in cases {
                    let want: Vec<u64> = a.iter().zip(b.iter()).map(|(&x, &y)| f(x, y)).collect();
                    let mut out = a.clone();
                    k(level, &mut out, &b);
                    prop_assert_eq!(&out[..], &want[..]);
                    let mut out = a.clone();
                    kb(level, &mut out, &bytes(&b));
                    prop_assert_eq!(&out[..], &want[..]);
                }
                let mut out = Box::new([0u64; 1024]);
                copy_bytes(level, &mut out, &bytes(&b));
                prop_assert_eq!(&out[..], &b[..]);
                let want: u64 = a.iter().zip(b.iter()).map(|(x, y)| u64::from((x & y).count_ones())).sum();
                prop_assert_eq!(and_count_bytes(level, &bytes(&a), &bytes(&b)), want);
                prop_assert_eq!(and_count_words(level, &a, &bytes(&b)), want);
            }
        }

        #[test]
        fn fill_sets_and_clears_exactly_the_range(lo in 0usize..65_536, len in 0usize..2_000, set in any::<bool>()) {
            let hi = (lo + len).min(65_535);
            let mut w = if set { Box::new([0u64; 1024]) } else { Box::new([!0u64; 1024]) };
            fill(&mut w, lo, hi, set);
            let mut ones = Vec::new();
            for_each_bit(&w, |b| ones.push(usize::from(b)));
            let probe = words(lo as u64 + 1, 17);
            let mut inside = 0;
            for_each_bit(&probe, |b| inside += u64::from((lo..=hi).contains(&usize::from(b))));
            prop_assert_eq!(count_range(&probe, lo, hi), inside);
            if set {
                prop_assert_eq!(ones, (lo..=hi).collect::<Vec<_>>());
            } else {
                prop_assert_eq!(ones.len(), 65_536 - (hi - lo + 1));
                prop_assert!(ones.iter().all(|&b| b < lo || b > hi));
            }
        }
    }

    #[test]
    fn decode_matches_for_each_bit_at_every_density() {
        for density in [0, 1, 2, 3, 5, 9, 20, 64] {
            let w = words(density as u64 * 7 + 1, density);
            let mut want = Vec::new();
            for_each_bit(&w, |b| want.push(b));
            for level in levels() {
                let mut out = vec![0u16; want.len() + DECODE_SLACK];
                let n = decode(level, &w, &mut out);
                assert_eq!(&out[..n], &want[..], "density {density} {level:?}");
            }
        }
        for level in levels() {
            // Block 65535 too: its last word's ids end at u32::MAX.
            for (high, density) in [(7u32 << 16, 6), (0xFFFF_0000, 1), (0xFFFF_0000, 0), (0xFFFF_0000, 40)] {
                let mut w = words(99, density);
                w[1023] |= 1 << 63;
                let mut want = Vec::new();
                for_each_bit(&w, |b| want.push(high | u32::from(b)));
                let mut out = vec![0u32; want.len() + DECODE_SLACK];
                let n = decode_bytes(level, &bytes(&w), high, &mut out);
                assert_eq!(&out[..n], &want[..], "{level:?}");
            }
        }
        let mut full = Box::new([!0u64; 1024]);
        full[1023] = 1 << 63;
        let mut out = vec![0u16; 65_536 + DECODE_SLACK];
        let n = decode(Level::new(), &full, &mut out);
        assert_eq!(n, 1023 * 64 + 1);
        assert_eq!(out[n - 1], 65_535);
    }

    #[test]
    fn levels_end_with_the_portable_baseline() {
        let l = levels();
        assert!(!l.is_empty());
        assert_eq!(format!("{:?}", l.last().unwrap()), format!("{:?}", Level::baseline()));
    }
}
