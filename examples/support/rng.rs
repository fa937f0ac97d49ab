//! A tiny seeded generator for the examples' synthetic data (splitmix64), so every run
//! prints the same. Included with `#[path = "support/rng.rs"] mod rng;`.

#![allow(dead_code)] // each example uses a part

/// splitmix64: tiny, fast, and good enough for synthetic data.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index into `weights` with probability proportional to its weight.
    pub fn weighted<T>(&mut self, weights: &[(T, u64)]) -> usize {
        let total: u64 = weights.iter().map(|w| w.1).sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < w.1 {
                return i;
            }
            x -= w.1;
        }
        weights.len() - 1
    }
}
