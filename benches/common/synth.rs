//! The synthetic customers and tags the benches share: the peer harness generator's shape
//! (`benches/peers/gen.py`) with a PRNG of our own (splitmix64), so numbers are comparable in
//! kind but not count for count. Tag k has the share `min(0.6, 0.6 / (k+1)^0.95)` (t0 60%,
//! t1 31%, t2 21% ... t999 0.08%), and a kind: cohort (t5, t15, t25, t35, t45: one
//! contiguous id range), subset (t6 and t26 of t0, t16 of t1), skewed (k % 4 == 2: the share
//! varies across 64 id blocks by a log-normal factor) or uniform.
//!
//! Each bench includes it with `#[path = "common/synth.rs"] mod synth;`.

#![allow(dead_code)] // each bench uses a part

use audience::{CustomerId, Engine};

/// splitmix64: tiny, seedable, good enough for synthetic data.
pub struct Rng(u64);

impl Rng {
    /// The stream of tag `k` under `seed` (streams do not depend on the number of tags).
    pub fn stream(seed: u64, k: u64) -> Rng {
        let mut r = Rng(seed ^ k.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..=max.
    pub fn below_or_eq(&mut self, max: u32) -> u32 {
        (((self.next_u64() >> 32) * (u64::from(max) + 1)) >> 32) as u32
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.f64(); // (0, 1]
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

pub fn target_share(k: usize) -> f64 {
    (0.6 / ((k + 1) as f64).powf(0.95)).min(0.6)
}

/// Ids in `lo..hi`, each present with probability `p`, ascending, appended to `out`.
pub fn bernoulli(rng: &mut Rng, lo: u32, hi: u32, p: f64, out: &mut Vec<u32>) {
    if p <= 0.0 || lo >= hi {
        return;
    }
    if p > 0.15 {
        out.extend((lo..hi).filter(|_| rng.f64() < p));
        return;
    }
    // Gaps between members are geometric(p): O(members), not O(hi - lo).
    let log_q = (1.0 - p).ln();
    let mut at = u64::from(lo);
    loop {
        let gap = ((1.0 - rng.f64()).ln() / log_q).floor() as u64;
        at += gap;
        if at >= u64::from(hi) {
            return;
        }
        out.push(at as u32);
        at += 1;
    }
}

/// Per tag, its customers (ascending), like the harness generator (see the module docs).
pub fn generate(n: u32, tags: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut per_tag: Vec<Vec<u32>> = Vec::with_capacity(tags);
    for k in 0..tags {
        let mut rng = Rng::stream(seed, k as u64);
        let p = target_share(k);
        let mut ids = Vec::with_capacity((p * f64::from(n) * 1.1) as usize + 16);
        match k {
            5 | 15 | 25 | 35 | 45 => {
                let len = (p * f64::from(n)).round() as u32;
                let start = rng.below_or_eq(n - len);
                ids.extend(start..start + len);
            }
            6 | 16 | 26 => {
                let parent = if k == 16 { 1 } else { 0 };
                let q = (p / target_share(parent)).min(1.0);
                ids.extend(per_tag[parent].iter().copied().filter(|_| rng.f64() < q));
            }
            _ if k % 4 == 2 => {
                const BLOCKS: u32 = 64;
                let w: Vec<f64> = (0..BLOCKS).map(|_| rng.normal().exp()).collect();
                let mean = w.iter().sum::<f64>() / f64::from(BLOCKS);
                for (b, w) in (0..BLOCKS).zip(&w) {
                    let lo = (u64::from(n) * u64::from(b) / u64::from(BLOCKS)) as u32;
                    let hi = (u64::from(n) * u64::from(b + 1) / u64::from(BLOCKS)) as u32;
                    bernoulli(&mut rng, lo, hi, (p * w / mean).min(0.95), &mut ids);
                }
            }
            _ => bernoulli(&mut rng, 0, n, p, &mut ids),
        }
        per_tag.push(ids);
    }
    per_tag
}

/// The engine for `per_tag`: customers `0..n` by dense id, tag k named `t{k}`, one
/// `tag_id_pairs` call per tag.
pub fn build(n: u32, per_tag: &[Vec<u32>]) -> Engine {
    let mut engine = Engine::new();
    engine.customer_id_range(0..n).expect("a fresh engine takes any dense range");
    for (k, ids) in per_tag.iter().enumerate() {
        let tag = engine.ensure_tag(&format!("t{k}")).expect("valid tag name");
        engine.tag_id_pairs(ids.iter().map(|&c| (CustomerId(c), tag))).expect("registered customers");
    }
    engine
}

/// The same engine from one `tag_id_pairs` call over every pair.
pub fn build_one_call(n: u32, per_tag: &[Vec<u32>]) -> Engine {
    let mut engine = Engine::new();
    engine.customer_id_range(0..n).expect("a fresh engine takes any dense range");
    let tags: Vec<_> =
        (0..per_tag.len()).map(|k| engine.ensure_tag(&format!("t{k}")).expect("valid tag name")).collect();
    let pairs = per_tag.iter().zip(&tags).flat_map(|(ids, &tag)| ids.iter().map(move |&c| (CustomerId(c), tag)));
    engine.tag_id_pairs(pairs).expect("registered customers");
    engine
}
