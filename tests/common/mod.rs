//! What the test files share: the proptest configuration, one seeded random stream, days and
//! amounts, small builders and readers; the naive model of customers, tags and attributes
//! ([`model`]); the reference model of purchases, RFM and lifecycle stages ([`reference`]);
//! two ways to observe a whole engine ([`observe`]); random operations over every layer and
//! everything they show ([`ops`]); the random query templates of the model
//! tests ([`templates`]); the naive model of rule tags and applied plans ([`saved`]); the
//! helpers of the query-language tests ([`query`]); and the id regions, bit vector and checks
//! of the per-block tests ([`blocks`]); running the example binaries ([`cli`]).
//!
//! Each file under `tests/` is its own crate and declares `mod common;`, using a different
//! part of it; hence the `allow(dead_code)` below, so a helper one file does not use is no
//! warning there.

#![allow(dead_code)]

pub mod blocks;
pub mod cli;
pub mod model;
pub mod observe;
pub mod ops;
pub mod query;
pub mod reference;
pub mod saved;
pub mod templates;

use audience::{Audience, CustomerId, Day, Engine, Error, Money, TagInfo};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

/// What a proptest body returns.
pub type TestResult = std::result::Result<(), TestCaseError>;

/// What a plain test that calls the engine with `?` returns.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// Runs the test `child` of this test binary alone, in a child process whose files may
/// not grow past `limit` bytes (`prlimit --fsize`, util-linux; `SIGXFSZ` ignored, so a
/// write past the limit fails with `EFBIG` instead of killing it), with `env` set to
/// `path`; its stdout. Panics when `prlimit` is missing: a full disk, for real.
pub fn under_file_size_limit(child: &str, env: &str, path: &std::path::Path, limit: u64) -> String {
    use std::process::{Command, Stdio};
    assert!(
        Command::new("prlimit").arg("--version").output().is_ok_and(|o| o.status.success()),
        "this test needs util-linux's prlimit"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"trap "" XFSZ; exec prlimit --fsize="$1" -- "$2" "$3" --exact --nocapture --test-threads=1"#)
        .args(["bash", &limit.to_string()])
        .arg(std::env::current_exe().expect("this test binary"))
        .arg(child)
        .env(env, path)
        .stderr(Stdio::null())
        .output()
        .expect("bash runs");
    String::from_utf8(out.stdout).expect("the child prints UTF-8")
}

/// `cases` cases (`PROPTEST_CASES=n` overrides it, for a longer hunt) and no regression files:
/// a failing run writes nothing; a minimized failing case is kept as a plain `#[test]`.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ------------------------------------------------------------------ the random stream

/// A xorshift stream: the same data on every run from the same seed, no dependency. For the
/// big deterministic loads, and for the bulk of a proptest case drawn from a seed it picked.
pub struct Rng(u64);

impl Rng {
    /// A stream from `seed`, made odd (never zero, which xorshift cannot leave).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True one time in `one_in`.
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    /// Fisher-Yates, so a failing seed is reproducible.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// A choice among however many items there are when it is used (like `proptest`'s `Index`,
/// but printable and constructible, so a failing case can be pasted into a test).
#[derive(Clone, Copy, Debug)]
pub struct Pick(pub usize);

impl Pick {
    /// Scales the pick into `0..len` (`len > 0`).
    pub fn index(self, len: usize) -> usize {
        ((len as u128 * self.0 as u128) >> usize::BITS) as usize
    }

    /// The picked item, `None` when there is none.
    pub fn of<T: Clone>(self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.index(items.len())].clone())
    }

    /// The pick of item `i` of `len`: the middle of its share.
    pub fn nth(i: usize, len: usize) -> Pick {
        let share = usize::MAX / len;
        Pick(i * share + share / 2)
    }
}

pub fn pick() -> impl Strategy<Value = Pick> {
    any::<usize>().prop_map(Pick)
}

/// The attributes `refresh` owns.
pub const DERIVED_ATTRS: [&str; 3] = ["recency_days", "frequency", "monetary"];

/// The exclusive groups `refresh` owns (`r:1`, `stage:new`, ...).
pub const DERIVED_GROUPS: [&str; 5] = ["r", "f", "m", "rfm", "stage"];

// ------------------------------------------------------------------ days and amounts

/// 2024-01-01, days since 1970-01-01: the origin of the test days.
pub const BASE: i32 = 19_723;

/// `d` days after 2024-01-01 (before it when negative).
pub fn day(d: i32) -> Day {
    Day::from_days_since_epoch(BASE + d).expect("a test day")
}

/// A day written as `2024-06-30` (or a timestamp with its offset).
pub fn date(s: &str) -> Day {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `d` plus `n` days.
pub fn plus(d: Day, n: i32) -> Day {
    d.checked_add_days(n).unwrap()
}

/// An amount in minor units (cents).
pub fn money(minor: i64) -> Money {
    Money::from_minor(minor).expect("a test amount")
}

// ------------------------------------------------------------------ builders and readers

/// An engine with keyed customers `c0`, `c1`, ...
pub fn keyed_engine(n: usize) -> (Engine, Vec<CustomerId>) {
    let mut e = Engine::new();
    let cs = (0..n).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
    (e, cs)
}

/// The live customer at position `i` (modulo), if any.
pub fn nth_live(e: &Engine, i: usize) -> Option<CustomerId> {
    let ids = e.customers().to_ids();
    (!ids.is_empty()).then(|| CustomerId(ids[i % ids.len()]))
}

pub fn ids(a: &Audience) -> Vec<u32> {
    a.to_ids()
}

/// The names of some tags as listed.
pub fn names<'a>(infos: impl IntoIterator<Item = TagInfo<'a>>) -> Vec<&'a str> {
    infos.into_iter().map(|t| t.name).collect()
}

/// The ids matching query `q`, which must be valid.
pub fn members(e: &Engine, q: &str) -> Vec<u32> {
    ids(&e.query(q).unwrap_or_else(|err| panic!("{q:?}: {err}")))
}

/// The count of query `q`, which must be valid.
pub fn count(e: &Engine, q: &str) -> u64 {
    e.count(q).unwrap_or_else(|err| panic!("{q:?}: {err}"))
}

/// The suggestions of an unknown-tag error.
pub fn suggestions<T: std::fmt::Debug>(r: Result<T>) -> Vec<String> {
    match r {
        Err(Error::UnknownTag { suggestions, .. }) => suggestions,
        other => panic!("expected UnknownTag, got {other:?}"),
    }
}

/// Canonical text with the spaces around comparison operators removed (`age >= 30` ->
/// `age>=30`, `x < -5` -> `x<-5`). For text whose names contain no operator between spaces
/// (so only operators are touched).
pub fn compact(text: &str) -> String {
    audience::CmpOp::ALL.iter().fold(text.to_owned(), |t, op| t.replace(&format!(" {op} "), op.as_str()))
}

/// Registers every id of `bits` as a customer, a range of consecutive ids at a time.
pub fn register(engine: &mut Engine, bits: &audience::roaring::RoaringBitmap) -> Result {
    let mut ids = bits.iter().peekable();
    while let Some(lo) = ids.next() {
        let mut hi = lo;
        while ids.peek() == Some(&(hi.wrapping_add(1))) && hi < u32::MAX {
            hi = ids.next().expect("peeked");
        }
        if hi == u32::MAX {
            engine.customer_id(u32::MAX)?;
            if lo < hi {
                engine.customer_id_range(lo..hi)?;
            }
        } else {
            engine.customer_id_range(lo..hi + 1)?;
        }
    }
    Ok(())
}
