//! Ids out: a bitset container's set bits written as `u32` ids, as fast as the CPU allows.
//!
//! Exporting ids is writing memory: 4 bytes an id, 24 MB for 6M customers. The scalar
//! decoder ([`kernels`](super::kernels)' Lemire loop: a `TZCNT` and a write an id) runs at
//! 0.8-1.7 ns an id (the sparser, the slower), five times the cost of the writes themselves.
//! Here each 64-bit word is expanded in vector registers instead, chosen at run time:
//!
//! - **AVX-512** (with VBMI2): a word's set bits are compressed into bytes in one
//!   instruction (`VPCOMPRESSB` over the positions 0..64), widened to four vectors of 16
//!   ids and stored as far as the word's count reaches; a block at least half full
//!   compresses each 16-bit quarter into 16 ids directly (`VPCOMPRESSD`), four independent
//!   stores a word. Measured on the crate's Zen 4 host, ns an id at 7/15/30/60/90% density:
//!   0.39/0.20/0.20/0.18/0.17 and, half full or more, 0.13-0.14 (Lemire: 1.7/1.1/0.83/0.83/0.83).
//! - **AVX2**: each byte of a word indexes a table of its set bits' positions (8 bytes),
//!   widened to 8 ids and stored: 1.5/0.69/0.35/0.20/0.18 ns.
//! - otherwise the scalar loop.
//!
//! Every path writes whole vectors, so up to [`IDS_SLACK`] ids past the block's last are
//! written (garbage, overwritten or cut by the caller). Stores go to a slice (bounds
//! checked), never through a pointer: the crate stays free of `unsafe`.

use fearless_simd::Level;

use super::kernels;

/// How many ids past the last set bit a decoder may write.
pub(crate) const IDS_SLACK: usize = 64;

/// Writes `high | k` for every set bit `k` of a bitset container's bytes (at most 8,192 of
/// them, a multiple of 8: a whole container or a part of one), ascending, to the front of
/// `out`; returns how many. `high` has no bit below the positions' range (`b.len() * 8`
/// rounded up to a power of two): `high | k` is then `high + k`, as the AVX-512 path adds.
/// `out` must hold the count plus [`IDS_SLACK`]. `dense`: the container is at least half
/// full (a hint that picks the AVX-512 variant).
pub(crate) fn decode_ids(level: Level, b: &[u8], high: u32, out: &mut [u32], dense: bool) -> usize {
    debug_assert!(b.len() <= 8192 && b.len().is_multiple_of(8), "{} bytes", b.len());
    debug_assert_eq!(high & ((b.len() * 8).next_power_of_two() as u32 - 1), 0, "high {high:#x} overlaps the positions");
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if let Some(avx512) = level.as_avx512() {
            return match dense {
                true => x86::quarters_avx512(avx512, b, high, out),
                false => x86::bytes_avx512(avx512, b, high, out),
            };
        }
        if let Some(avx2) = level.as_avx2() {
            return x86::table_avx2(avx2, b, high, out);
        }
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    let _ = dense; // one loop for every density
    kernels::decode_bytes(level, b, high, out)
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86 {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    use fearless_simd::{SimdFrom, u32x8, u32x16};

    /// The positions of the set bits of every byte value, ascending, one per byte (the rest
    /// zero): `POSITIONS[b]` for `b`'s bits.
    static POSITIONS: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut b = 0;
        while b < 256 {
            let (mut packed, mut n, mut k) = (0u64, 0, 0);
            while k < 8 {
                if (b >> k) & 1 == 1 {
                    packed |= (k as u64) << (8 * n);
                    n += 1;
                }
                k += 1;
            }
            table[b] = packed;
            b += 1;
        }
        table
    };

    fn word(c: &[u8]) -> u64 {
        u64::from_le_bytes(c.try_into().expect("chunks of 8 bytes"))
    }

    fearless_simd::kernel!(
        /// Word by word: the set bits compressed into bytes, widened to ids and stored as
        /// far as the word's count reaches.
        pub(super) fn bytes_avx512(avx512: Avx512, b: &[u8], high: u32, out: &mut [u32]) -> usize {
            #[rustfmt::skip]
            let positions = _mm512_set_epi8(
                63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48,
                47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
                31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
            );
            let step = _mm512_set1_epi32(64);
            let mut base = _mm512_set1_epi32(high as i32);
            let mut pos = 0;
            for c in b.chunks_exact(8) {
                let (x, at) = (word(c), base);
                base = _mm512_add_epi32(base, step);
                if x == 0 {
                    continue;
                }
                let bytes = _mm512_maskz_compress_epi8(x, positions);
                let n = x.count_ones() as usize;
                let quarter = |q: __m128i| u32x16::simd_from(avx512, _mm512_add_epi32(_mm512_cvtepu8_epi32(q), at));
                out[pos..pos + 16].copy_from_slice(&*quarter(_mm512_extracti32x4_epi32::<0>(bytes)));
                if n > 16 {
                    out[pos + 16..pos + 32].copy_from_slice(&*quarter(_mm512_extracti32x4_epi32::<1>(bytes)));
                    if n > 32 {
                        out[pos + 32..pos + 48].copy_from_slice(&*quarter(_mm512_extracti32x4_epi32::<2>(bytes)));
                        out[pos + 48..pos + 64].copy_from_slice(&*quarter(_mm512_extracti32x4_epi32::<3>(bytes)));
                    }
                }
                pos += n;
            }
            pos
        }
    );

    fearless_simd::kernel!(
        /// Word by word, each 16-bit quarter compressed into 16 ids directly: four
        /// independent stores a word (for blocks at least half full).
        pub(super) fn quarters_avx512(avx512: Avx512, b: &[u8], high: u32, out: &mut [u32]) -> usize {
            let step = _mm512_set1_epi32(16);
            let mut base = _mm512_add_epi32(
                _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                _mm512_set1_epi32(high as i32),
            );
            let mut pos = 0;
            for c in b.chunks_exact(8) {
                let x = word(c);
                let b0 = base;
                let b1 = _mm512_add_epi32(b0, step);
                let b2 = _mm512_add_epi32(b1, step);
                let b3 = _mm512_add_epi32(b2, step);
                base = _mm512_add_epi32(b3, step);
                if x == 0 {
                    continue;
                }
                let ids = |m: u64, v: __m512i| u32x16::simd_from(avx512, _mm512_maskz_compress_epi32(m as u16, v));
                let p1 = pos + (x & 0xFFFF).count_ones() as usize;
                let p2 = pos + (x & 0xFFFF_FFFF).count_ones() as usize;
                let p3 = pos + (x & 0xFFFF_FFFF_FFFF).count_ones() as usize;
                out[pos..pos + 16].copy_from_slice(&*ids(x, b0));
                out[p1..p1 + 16].copy_from_slice(&*ids(x >> 16, b1));
                out[p2..p2 + 16].copy_from_slice(&*ids(x >> 32, b2));
                out[p3..p3 + 16].copy_from_slice(&*ids(x >> 48, b3));
                pos += x.count_ones() as usize;
            }
            pos
        }
    );

    fearless_simd::kernel!(
        /// Byte by byte: the byte's set-bit positions from [`POSITIONS`], widened to 8 ids.
        pub(super) fn table_avx2(avx2: Avx2, b: &[u8], high: u32, out: &mut [u32]) -> usize {
            let mut pos = 0;
            for (i, c) in b.chunks_exact(8).enumerate() {
                let x = word(c);
                if x == 0 {
                    continue;
                }
                let at = high | (i as u32 * 64);
                for k in 0..8 {
                    let byte = ((x >> (8 * k)) & 0xFF) as usize;
                    let offsets = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, POSITIONS[byte] as i64));
                    let ids = _mm256_add_epi32(offsets, _mm256_set1_epi32((at + 8 * k as u32) as i32));
                    out[pos..pos + 8].copy_from_slice(&*u32x8::simd_from(avx2, ids));
                    pos += byte.count_ones() as usize;
                }
            }
            pos
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::kernels::levels;
    use proptest::prelude::*;

    fn reference(b: &[u8], high: u32) -> Vec<u32> {
        let mut v = Vec::new();
        for (i, c) in b.chunks_exact(8).enumerate() {
            let x = u64::from_le_bytes(c.try_into().unwrap());
            v.extend((0..64).filter(|k| x >> k & 1 == 1).map(|k| high | (i as u32 * 64 + k)));
        }
        v
    }

    fn check(b: &[u8], high: u32) {
        let want = reference(b, high);
        for level in levels() {
            for dense in [false, true] {
                let mut out = vec![7u32; want.len() + IDS_SLACK];
                let n = decode_ids(level, b, high, &mut out, dense);
                assert_eq!(&out[..n], &want[..], "{level:?}, dense {dense}");
            }
        }
    }

    proptest! {
        /// Every path, dense hint or not, at every level this CPU runs, writes exactly the
        /// set bits, in any block (the top one included).
        #[test]
        fn every_level_writes_the_set_bits(
            words in proptest::collection::vec(any::<u64>(), 0..40),
            sparsify in 0u32..4,
            high in prop_oneof![Just(0u32), Just(0xFFFF_0000), (0u32..65_536).prop_map(|k| k << 16)],
        ) {
            let b: Vec<u8> = words.iter().map(|&w| (0..sparsify).fold(w, |w, _| w & w.rotate_left(17))).flat_map(u64::to_le_bytes).collect();
            check(&b, high);
        }
    }

    /// Full and empty blocks, single bits at the words' edges, the last id of `u32`.
    #[test]
    fn edges() {
        check(&[0xFF; 8192], 0xFFFF_0000);
        check(&[0; 8192], 0);
        let mut b = vec![0u8; 8192];
        b[0] = 1;
        b[8191] = 0x80;
        b[4095] = 0x80;
        b[4096] = 1;
        check(&b, 0xFFFF_0000);
    }
}
