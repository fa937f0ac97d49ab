//! What `blocks.rs` and `blocks_edges.rs` share: the two id regions (the bottom of the id
//! space and just below and at `u32::MAX`), the plain bit vector of the naive model over the
//! compact universe of both regions, and the checks of a query against it (`count`,
//! `query(..).to_ids()`, `iter`, `write_ids`, a parsed `Query`, `explain(..).count()`).

use audience::{Audience, Engine, Query};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::TestResult;

// ------------------------------------------------------------------ id regions

/// Region A: `0..LOW_END` (blocks 0..=2 full, block 3 partial).
pub const LOW_END: u32 = 200_000;
/// Region B: `TOP..=u32::MAX` (block 65,534 partial, block 65,535 full).
pub const TOP: u32 = u32::MAX - 70_000;
/// Size of the compact universe (both regions end to end).
pub const UNIVERSE: usize = LOW_END as usize + (u32::MAX - TOP) as usize + 1;

/// The model's index of a customer id.
pub fn index(id: u32) -> usize {
    if id < LOW_END {
        id as usize
    } else {
        assert!(id >= TOP, "id {id} outside the regions");
        LOW_END as usize + (id - TOP) as usize
    }
}

/// The customer id at a model index.
pub fn id_at(i: usize) -> u32 {
    if i < LOW_END as usize { i as u32 } else { TOP + (i - LOW_END as usize) as u32 }
}

/// Registers both regions as live customers.
pub fn register_regions(e: &mut Engine) {
    assert_eq!(e.customer_id_range(0..LOW_END).unwrap(), u64::from(LOW_END));
    assert_eq!(e.customer_id_range(TOP..u32::MAX).unwrap(), u64::from(u32::MAX - TOP));
    e.customer_id(u32::MAX).unwrap();
    assert_eq!(e.customer_count(), UNIVERSE as u64);
}

// ------------------------------------------------------------------ the model

/// A plain bit vector over the compact universe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    pub fn empty() -> Bits {
        Bits(vec![0; UNIVERSE.div_ceil(64)])
    }

    pub fn full() -> Bits {
        let mut b = Bits::empty();
        for i in 0..UNIVERSE {
            b.0[i / 64] |= 1 << (i % 64);
        }
        b
    }

    pub fn contains(&self, id: u32) -> bool {
        let i = index(id);
        self.0[i / 64] >> (i % 64) & 1 == 1
    }

    /// Inserts; whether it was absent.
    pub fn insert(&mut self, id: u32) -> bool {
        let was = self.contains(id);
        let i = index(id);
        self.0[i / 64] |= 1 << (i % 64);
        !was
    }

    /// Removes; whether it was present.
    pub fn remove(&mut self, id: u32) -> bool {
        let was = self.contains(id);
        let i = index(id);
        self.0[i / 64] &= !(1 << (i % 64));
        was
    }

    pub fn zip(&self, other: &Bits, f: impl Fn(u64, u64) -> u64) -> Bits {
        Bits(self.0.iter().zip(&other.0).map(|(&a, &b)| f(a, b)).collect())
    }

    pub fn and(&self, o: &Bits) -> Bits {
        self.zip(o, |a, b| a & b)
    }

    pub fn or(&self, o: &Bits) -> Bits {
        self.zip(o, |a, b| a | b)
    }

    pub fn minus(&self, o: &Bits) -> Bits {
        self.zip(o, |a, b| a & !b)
    }

    pub fn len(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The customer ids, ascending (the index order is the id order).
    pub fn ids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (w, &x) in self.0.iter().enumerate() {
            let mut x = x;
            while x != 0 {
                out.push(id_at(w * 64 + x.trailing_zeros() as usize));
                x &= x - 1;
            }
        }
        out
    }
}

// ------------------------------------------------------------------ checks

/// Equal id lists, reported by the first difference rather than by printing 200,000 ids.
pub fn same_ids(got: &[u32], want: &[u32], what: &str) -> TestResult {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let show = |v: &[u32]| format!("{:?}", &v[at.saturating_sub(2)..(at + 3).min(v.len())]);
    Err(TestCaseError::fail(format!(
        "{what}: {} ids, want {}; first difference at #{at}: got {} want {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )))
}

/// Every way of reading a result agrees with `want`.
pub fn check_audience(a: &Audience, want: &[u32], what: &str) -> TestResult {
    prop_assert_eq!(a.len(), want.len() as u64, "len of {}", what);
    same_ids(&a.to_ids(), want, &format!("to_ids of {what}"))?;
    let mut out = vec![7, u32::MAX, 0];
    a.write_ids(&mut out);
    prop_assert_eq!(&out[..3], &[7, u32::MAX, 0][..], "write_ids of {} overwrote the prefix", what);
    same_ids(&out[3..], want, &format!("write_ids of {what}"))?;
    let iterated: Vec<u32> = a.iter().map(u32::from).collect();
    same_ids(&iterated, want, &format!("iter of {what}"))?;
    prop_assert_eq!(a.first().map(u32::from), want.first().copied(), "first of {}", what);
    prop_assert_eq!(a.last().map(u32::from), want.last().copied(), "last of {}", what);
    Ok(())
}

/// Checks one query text against `want`; returns whether it ran per block.
pub fn check_query(e: &Engine, text: &str, want: &Bits, live: u64) -> Result<bool, TestCaseError> {
    let err = |x: audience::Error| TestCaseError::fail(format!("{text}: {x}"));
    let want_ids = want.ids();
    let n = want_ids.len() as u64;
    prop_assert_eq!(e.count(text).map_err(err)?, n, "count of {}", text);
    check_audience(&e.query(text).map_err(err)?, &want_ids, text)?;
    let parsed = Query::parse(text).map_err(err)?;
    prop_assert_eq!(e.count(&parsed).map_err(err)?, n, "count of parsed {}", text);
    prop_assert_eq!(e.select(&parsed).map_err(err)?.len(), n, "select of parsed {}", text);
    let plan = e.explain(text).map_err(err)?;
    prop_assert_eq!(plan.count(), n, "explain of {}:\n{}", text, plan);
    prop_assert_eq!(plan.live, live, "explain's live count, {}", text);
    Ok(plan.per_block)
}
