//! Interop through the portable Roaring format: `Audience::to_portable_bytes` /
//! `from_portable_bytes`, and a tag's members out and in (`Engine::tag_to_portable_bytes`,
//! `Engine::set_tag_from_portable_bytes`).
//!
//! - The vectors under `tests/data/portable/` were written by CRoaring (pyroaring, with
//!   `tests/data/make_portable_vectors.py`; Python is not needed here): each decodes to what
//!   its manifest says, re-encodes to its own bytes, and the same ids encoded here give
//!   pyroaring's bytes (after `optimize()` for the run-optimized ones: both libraries pick
//!   the same containers for these).
//! - Round trips: random sets (high ids, runs, dense blocks) through an audience and through
//!   a tag; a random sequence of tag writes and imports against the naive model.
//! - Hostile bytes: every truncation, bit flips, huge declared counts, and one hand-made
//!   image per broken rule, each a typed error at the right byte; never a panic. Whatever
//!   is accepted re-encodes to the very bytes given.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use audience::roaring::RoaringBitmap;
use audience::{Audience, ChangeEvent, CustomerId, Day, Engine, Error, PortableProblem};
use common::model::{Model, same};
use common::{Result, Rng, TestResult, config};
use proptest::prelude::*;
use serde_json::Value;

// ------------------------------------------------------------------ the vectors

struct Vector {
    name: String,
    meta: Value,
    bytes: Vec<u8>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/portable")
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("the manifest is committed");
    let manifest: Value = serde_json::from_str(&text).expect("the manifest is JSON");
    let vectors = manifest["vectors"].as_array().expect("a list of vectors");
    assert!(vectors.len() >= 10, "{} vectors", vectors.len());
    vectors
        .iter()
        .map(|v| {
            let file = v["file"].as_str().expect("a file name");
            let bytes = std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Vector { name: v["name"].as_str().expect("a name").to_owned(), meta: v.clone(), bytes }
        })
        .collect()
}

fn vector(name: &str) -> Vec<u8> {
    vectors().into_iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no vector {name}")).bytes
}

/// The manifest's checksum: FNV-1a style over the ids, ascending.
fn fnv(ids: impl IntoIterator<Item = u32>) -> u64 {
    ids.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, id| (h ^ u64::from(id)).wrapping_mul(0x100_0000_01b3))
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn bits_of(a: &Audience) -> RoaringBitmap {
    a.bitmap().clone()
}

#[test]
fn every_vector_decodes_to_its_manifest_and_reencodes_to_its_bytes() -> Result {
    let mut kinds = BTreeSet::new();
    for v in vectors() {
        let name = &v.name;
        let m = &v.meta;
        assert_eq!(v.bytes.len() as u64, num(&m["bytes"]), "{name}");
        let a = Audience::from_portable_bytes(&v.bytes)?;
        assert_eq!(a.len(), num(&m["cardinality"]), "{name}");
        assert_eq!(a.first().map(|c| u64::from(c.0)), m["min"].as_u64(), "{name}");
        assert_eq!(a.last().map(|c| u64::from(c.0)), m["max"].as_u64(), "{name}");
        assert_eq!(fnv(a.iter().map(u32::from)), num(&m["fnv"]), "{name}");
        if let Some(ranges) = m["ranges"].as_array() {
            let want: Vec<u32> = ranges.iter().flat_map(|r| num(&r[0]) as u32..=num(&r[1]) as u32).collect();
            assert_eq!(a.to_ids(), want, "{name}");
        } else {
            for id in m["sample"].as_array().expect("a sample") {
                assert!(a.contains(CustomerId(num(id) as u32)), "{name}: {id} is a member");
            }
            for id in m["absent"].as_array().expect("non-members") {
                assert!(!a.contains(CustomerId(num(id) as u32)), "{name}: {id} is no member");
            }
        }
        // The containers are kept as read: the same bytes come out.
        assert_eq!(a.to_portable_bytes(), v.bytes, "{name}");
        for (kind, n) in m["kinds"].as_object().expect("kinds") {
            if num(n) > 0 {
                kinds.insert(kind.clone());
            }
        }
    }
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["array", "bitset", "run"], "every container kind is covered");
    Ok(())
}

#[test]
fn the_same_ids_encode_to_croarings_bytes() -> Result {
    for v in vectors() {
        let name = &v.name;
        let ids = Audience::from_portable_bytes(&v.bytes)?.to_ids();
        let mut bits = RoaringBitmap::from_sorted_iter(ids.iter().copied()).expect("ascending");
        let optimized = v.meta["run_optimized"].as_bool().expect("a flag");
        if optimized {
            bits.optimize();
        } else {
            // Built from ids, as a query result or `collect` builds it.
            let a: Audience = ids.iter().copied().map(CustomerId).collect();
            assert_eq!(a.to_portable_bytes(), v.bytes, "{name}: collected");
        }
        let ours = Audience::from(bits).to_portable_bytes();
        if v.meta["same_bytes"].as_bool().expect("a flag") {
            assert_eq!(ours, v.bytes, "{name}");
        } else {
            assert_eq!(Audience::from_portable_bytes(&ours)?.to_ids(), ids, "{name}: the same set");
        }
    }
    Ok(())
}

#[test]
fn vectors_load_into_a_tag_and_come_out_again() -> Result {
    for v in vectors() {
        let name = &v.name;
        let a = Audience::from_portable_bytes(&v.bytes)?;
        let mut engine = Engine::new();
        common::register(&mut engine, a.bitmap())?;
        let r = engine.set_tag_from_portable_bytes("imported", &v.bytes)?;
        assert_eq!((r.added, r.removed, r.displaced, r.skipped), (a.len(), 0, 0, 0), "{name}");
        assert_eq!(r.tag, "imported");
        let out = engine.tag_to_portable_bytes("imported")?;
        assert_eq!(Audience::from_portable_bytes(&out)?, a, "{name}");
        // The tag keeps the run-optimized bitmap: its bytes are `optimize`'s.
        let mut optimized = bits_of(&a);
        optimized.optimize();
        assert_eq!(out, Audience::from(optimized).to_portable_bytes(), "{name}");
        if v.meta["run_optimized"].as_bool() == Some(true) && v.meta["same_bytes"].as_bool() == Some(true) {
            assert_eq!(out, v.bytes, "{name}: CRoaring's bytes");
        }
        // Into an engine without those customers: every id is skipped.
        let mut empty = Engine::new();
        let r = empty.set_tag_from_portable_bytes("imported", &v.bytes)?;
        assert_eq!((r.added, r.skipped), (0, a.len()), "{name}");
        assert_eq!(empty.count("imported")?, 0);
    }
    Ok(())
}

#[test]
fn the_largest_container_count_round_trips() -> Result {
    // One id in each of the 65,536 blocks: the most containers a 32-bit bitmap has.
    let bits: RoaringBitmap = (0..=u16::MAX).map(|k| (u32::from(k) << 16) | u32::from(k)).collect();
    let a = Audience::from(bits);
    let bytes = a.to_portable_bytes();
    assert_eq!(bytes[4..8], 65_536u32.to_le_bytes());
    assert_eq!(Audience::from_portable_bytes(&bytes)?, a);
    // One more container declared (a count past 65,536) is refused before the header is read.
    let mut more = bytes.clone();
    more[4..8].copy_from_slice(&65_537u32.to_le_bytes());
    let e = Audience::from_portable_bytes(&more).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidPortableBitmap { offset: 4, reason: PortableProblem::TooManyContainers { count: 65_537 }, .. }
    ));
    Ok(())
}

// ------------------------------------------------------------------ hostile bytes

/// The problem of bytes that must be refused.
fn refused(bytes: &[u8]) -> (usize, PortableProblem) {
    match Audience::from_portable_bytes(bytes) {
        Err(Error::InvalidPortableBitmap { offset, len, reason }) => {
            assert_eq!(len, bytes.len());
            assert!(offset <= len, "offset {offset} past the end {len}");
            (offset, reason)
        }
        other => panic!("{bytes:?}: expected InvalidPortableBitmap, got {other:?}"),
    }
}

/// Bytes that are accepted are exactly what `roaring` writes for the set they hold, but for
/// a run layout without any run container (valid, though CRoaring writes such a bitmap in
/// the layout without runs).
fn accepted_is_canonical(bytes: &[u8], a: &Audience) -> TestResult {
    let again = a.to_portable_bytes();
    if again != bytes {
        let cookie = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        prop_assert_eq!(cookie as u16, 12347, "accepted, not canonical, and not the run layout");
        prop_assert_eq!(&Audience::from_portable_bytes(&again).expect("own bytes"), a);
    }
    Ok(())
}

#[test]
fn empty_input_and_unknown_formats_are_refused() {
    assert_eq!(refused(&[]), (0, PortableProblem::Empty));
    assert_eq!(refused(&[0x3a]), (0, PortableProblem::Truncated { part: "cookie", needed: 4, left: 1 }));
    assert_eq!(
        refused(&[0x3a, 0x30, 0, 0, 0]),
        (4, PortableProblem::Truncated { part: "container count", needed: 4, left: 1 })
    );
    // CRoaring's own (non-portable) serialization starts with a type byte.
    assert_eq!(refused(&[1, 1, 0, 0, 0, 7, 0, 0, 0]), (0, PortableProblem::UnknownCookie { cookie: 0x0000_0101 }));
    assert_eq!(refused(b"not a bitmap"), (0, PortableProblem::UnknownCookie { cookie: u32::from_le_bytes(*b"not ") }));
    // The message says where and hints at a fix.
    let e = Audience::from_portable_bytes(&[0x3a]).unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid portable Roaring bitmap at byte 0 of 1: the input ends inside the cookie (4 bytes long, 1 left from \
         its start) (hint: the bitmap was cut short; check that the whole value was read)"
    );
    let e = Audience::from_portable_bytes(&[]).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("hint"), "{e}");
}

#[test]
fn huge_declared_counts_allocate_nothing_and_are_refused() {
    // The layout without runs: a u32 count.
    let mut b = 12346u32.to_le_bytes().to_vec();
    b.extend(u32::MAX.to_le_bytes());
    assert_eq!(refused(&b), (4, PortableProblem::TooManyContainers { count: u32::MAX }));
    // 65,536 containers declared, 8 bytes given: the header is missing, nothing is built.
    let mut b = 12346u32.to_le_bytes().to_vec();
    b.extend(65_536u32.to_le_bytes());
    assert_eq!(refused(&b), (0, PortableProblem::Truncated { part: "header", needed: 8 + 8 * 65_536, left: 8 }));
    // The run layout: count - 1 in the cookie's high half.
    let b = (12347u32 | 0xFFFF << 16).to_le_bytes();
    let needed = 4 + 65_536 / 8 + 8 * 65_536;
    assert_eq!(refused(&b), (0, PortableProblem::Truncated { part: "header", needed, left: 4 }));
    // A run container declaring 65,535 runs in 2 bytes.
    let mut b = vector("runs_few");
    let at = 4 + 1 + 4 * 2; // cookie, flags, two descriptions: the first run count
    b[at..at + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    let (offset, reason) = refused(&b);
    assert_eq!(offset, at);
    assert!(matches!(reason, PortableProblem::Truncated { part: "container", needed: 262_142, .. }), "{reason:?}");
}

#[test]
fn every_truncation_and_every_extension_is_refused() {
    for name in ["one", "zero_and_max", "runs_few", "runs_many", "three_in_a_row", "full_block", "array", "mixed"] {
        let b = vector(name);
        assert_eq!(refused(&b[..0]).1, PortableProblem::Empty);
        for len in 1..b.len() {
            let (offset, reason) = refused(&b[..len]);
            assert!(matches!(reason, PortableProblem::Truncated { .. }), "{name}[..{len}]: {reason:?}");
            assert!(offset <= len, "{name}[..{len}]");
        }
        let mut longer = b.clone();
        longer.extend([0, 0, 0]);
        assert_eq!(refused(&longer), (b.len(), PortableProblem::TrailingBytes { count: 3 }), "{name}");
        // Two bitmaps back to back are not one.
        let twice = [b.clone(), b.clone()].concat();
        assert_eq!(refused(&twice), (b.len(), PortableProblem::TrailingBytes { count: b.len() }), "{name}");
    }
}

#[test]
fn bit_flips_are_refused_or_give_a_set_that_encodes_to_them() {
    let mut rng = Rng::new(0x5eed_f11b);
    let (mut ok, mut bad) = (0, 0);
    for v in vectors() {
        // Every bit of the small vectors; of the large ones, every bit of the first 64
        // bytes (the header's start) and 300 random bits.
        let positions: Vec<usize> = if v.bytes.len() <= 512 {
            (0..v.bytes.len() * 8).collect()
        } else {
            let mut p: Vec<usize> = (0..64 * 8).collect();
            p.extend((0..300).map(|_| (rng.below(v.bytes.len() as u64) * 8 + rng.below(8)) as usize));
            p
        };
        for bit in positions {
            let mut b = v.bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match Audience::from_portable_bytes(&b) {
                Ok(a) => {
                    ok += 1;
                    accepted_is_canonical(&b, &a).map_err(|e| format!("{}: bit {bit}: {e}", v.name)).unwrap();
                }
                Err(Error::InvalidPortableBitmap { offset, len, .. }) => {
                    bad += 1;
                    assert!(offset <= len);
                }
                Err(e) => panic!("{}: bit {bit}: {e:?}", v.name),
            }
        }
    }
    // Flips in array values mostly give another valid set; flips elsewhere are caught.
    assert!(ok > 100 && bad > 1_000, "{ok} accepted, {bad} refused");
}

/// An image by hand: the layout without runs, `(key, values)` array containers.
fn arrays(containers: &[(u16, &[u16])]) -> Vec<u8> {
    let n = containers.len();
    let mut b = 12346u32.to_le_bytes().to_vec();
    b.extend((n as u32).to_le_bytes());
    for (key, values) in containers {
        b.extend(key.to_le_bytes());
        b.extend((values.len() as u16 - 1).to_le_bytes());
    }
    let mut offset = 8 + 8 * n as u32;
    for (_, values) in containers {
        b.extend(offset.to_le_bytes());
        offset += 2 * values.len() as u32;
    }
    for (_, values) in containers {
        for v in *values {
            b.extend(v.to_le_bytes());
        }
    }
    b
}

/// An image by hand: the run layout with one run container of `runs` (start, length - 1)
/// declaring `card` ids, in block `key`.
fn one_run(key: u16, card: u16, runs: &[(u16, u16)]) -> Vec<u8> {
    let mut b = 12347u32.to_le_bytes().to_vec(); // one container: count - 1 = 0
    b.push(1); // its run flag
    b.extend(key.to_le_bytes());
    b.extend((card - 1).to_le_bytes());
    b.extend((runs.len() as u16).to_le_bytes());
    for (start, extra) in runs {
        b.extend(start.to_le_bytes());
        b.extend(extra.to_le_bytes());
    }
    b
}

#[test]
fn each_broken_rule_is_named_at_its_byte() -> Result {
    // The hand-made images are right when nothing is broken.
    assert_eq!(Audience::from_portable_bytes(&arrays(&[(0, &[1, 2]), (3, &[9])]))?.to_ids(), [1, 2, 3 << 16 | 9]);
    assert_eq!(Audience::from_portable_bytes(&one_run(2, 11, &[(0, 4), (10, 5)]))?.len(), 11);

    // Array values: out of order, or twice (both refused by `roaring` too).
    let b = arrays(&[(0, &[1, 5, 3])]);
    assert_eq!(refused(&b), (16 + 4, PortableProblem::ValuesNotAscending { key: 0, value: 3, previous: 5 }));
    let b = arrays(&[(7, &[4, 4])]);
    assert_eq!(refused(&b), (16 + 2, PortableProblem::ValuesNotAscending { key: 7, value: 4, previous: 4 }));
    assert!(refused(&b).1.to_string().contains("a duplicate"));
    // Keys: out of order, or twice.
    let b = arrays(&[(3, &[1]), (1, &[1])]);
    assert_eq!(refused(&b), (12, PortableProblem::KeysNotAscending { key: 1, previous: 3 }));
    let b = arrays(&[(3, &[1]), (3, &[2])]);
    assert_eq!(refused(&b), (12, PortableProblem::KeysNotAscending { key: 3, previous: 3 }));
    // Offsets: `roaring` ignores them; another reader seeks by them.
    let mut b = arrays(&[(0, &[1]), (1, &[2])]);
    b[8 + 8 + 4..8 + 8 + 8].copy_from_slice(&30u32.to_le_bytes());
    assert!(RoaringBitmap::deserialize_from(&b[..]).is_ok(), "roaring reads it");
    assert_eq!(refused(&b), (20, PortableProblem::WrongOffset { container: 1, declared: 30, actual: 26 }));

    // Runs: overlapping, touching (one run written as two), past the block's end, none.
    let b = one_run(0, 10, &[(0, 5), (4, 3)]);
    assert_eq!(refused(&b), (15, PortableProblem::RunsNotAscending { key: 0, start: 4, previous_end: 5 }));
    let b = one_run(0, 10, &[(0, 4), (5, 4)]);
    assert_eq!(refused(&b), (15, PortableProblem::RunsNotAscending { key: 0, start: 5, previous_end: 4 }));
    let b = one_run(0, 10, &[(65_530, 9)]);
    assert_eq!(refused(&b), (11, PortableProblem::RunPastBlock { key: 0, start: 65_530, length: 10 }));
    let b = one_run(5, 1, &[]);
    assert_eq!(refused(&b), (9, PortableProblem::EmptyRun { key: 5 }));
    // A run container declaring another count than its runs hold: `roaring` keeps the runs.
    let b = one_run(0, 3, &[(0, 9)]);
    assert_eq!(RoaringBitmap::deserialize_from(&b[..]).map(|r| r.len()).ok(), Some(10), "roaring reads it");
    assert_eq!(refused(&b), (9, PortableProblem::CardinalityMismatch { key: 0, declared: 3, actual: 10 }));
    // A bitset whose bits are not its declared count.
    let mut b = vector("bitset");
    b[16] ^= 1; // the first id of the block
    assert_eq!(refused(&b), (16, PortableProblem::CardinalityMismatch { key: 5, declared: 20_000, actual: 19_999 }));
    // A run flag past the last container (runs_few has 2).
    let mut b = vector("runs_few");
    b[4] |= 1 << 5;
    assert!(RoaringBitmap::deserialize_from(&b[..]).is_ok(), "roaring reads it");
    assert_eq!(refused(&b), (4, PortableProblem::StrayRunFlag));
    // Every problem prints where it is and a hint.
    let e = Audience::from_portable_bytes(&one_run(0, 3, &[(0, 9)])).unwrap_err().to_string();
    assert!(e.starts_with("invalid portable Roaring bitmap at byte 9 of 15: ") && e.contains("hint"), "{e}");
    Ok(())
}

#[test]
fn a_run_layout_without_runs_is_read() -> Result {
    // Valid, though CRoaring writes a bitmap without run containers in the other layout.
    let mut b = 12347u32.to_le_bytes().to_vec();
    b.push(0); // no run flag
    b.extend([9, 0, 1, 0]); // block 9, 2 ids
    b.extend([3, 0, 4, 0]);
    let a = Audience::from_portable_bytes(&b)?;
    assert_eq!(a.to_ids(), [9 << 16 | 3, 9 << 16 | 4]);
    assert_eq!(a.to_portable_bytes()[..4], 12346u32.to_le_bytes());
    Ok(())
}

// ------------------------------------------------------------------ round trips

/// A piece of a random set: one id, a range, or ids at a stride (a bitset or an array).
#[derive(Clone, Debug)]
enum Piece {
    One(u32),
    Range(u32, u32),
    Stride(u32, u32, u32),
}

fn piece() -> impl Strategy<Value = Piece> {
    let id = prop_oneof![0..200_000u32, any::<u32>(), (u32::MAX - 200_000)..=u32::MAX];
    prop_oneof![
        id.clone().prop_map(Piece::One),
        (id.clone(), 1..70_000u32).prop_map(|(s, n)| Piece::Range(s, n)),
        (id, 2..9u32, 1..9_000u32).prop_map(|(s, step, n)| Piece::Stride(s, step, n)),
    ]
}

fn build(pieces: &[Piece]) -> RoaringBitmap {
    let mut bits = RoaringBitmap::new();
    for p in pieces {
        match *p {
            Piece::One(x) => {
                bits.insert(x);
            }
            Piece::Range(s, n) => {
                bits.insert_range(s..=s.saturating_add(n - 1));
            }
            Piece::Stride(s, step, n) => {
                bits.extend((0..n).map_while(|i| s.checked_add(i * step)));
            }
        }
    }
    bits
}

/// The ids from a piece's first to its last.
fn span(p: &Piece) -> RoaringBitmap {
    let ids = build(std::slice::from_ref(p));
    let mut span = RoaringBitmap::new();
    span.insert_range(ids.min().expect("a piece has ids")..=ids.max().expect("a piece has ids"));
    span
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn audiences_round_trip(pieces in prop::collection::vec(piece(), 0..8), optimize in any::<bool>()) {
        let mut bits = build(&pieces);
        if optimize {
            bits.optimize();
        }
        let a = Audience::from(bits.clone());
        let bytes = a.to_portable_bytes();
        prop_assert_eq!(bytes.len(), bits.serialized_size());
        let back = Audience::from_portable_bytes(&bytes).expect("own bytes");
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.to_portable_bytes(), bytes);
    }

    #[test]
    fn tags_round_trip(pieces in prop::collection::vec(piece(), 1..6), seed in any::<u64>()) {
        let bits = build(&pieces);
        let mut rng = Rng::new(seed);
        // Some of the ids are customers (each piece's whole span, gaps and all, or none of
        // it); some customers are not in the set.
        let live: RoaringBitmap =
            pieces.iter().filter(|_| !rng.chance(4)).map(span).fold(RoaringBitmap::new(), |acc, s| acc | s);
        let mut engine = Engine::new();
        common::register(&mut engine, &live).expect("ids");
        common::register(&mut engine, &[1u32, 70_000, u32::MAX - 1].into_iter().collect()).expect("ids");
        let had: RoaringBitmap = engine.customers().iter().map(u32::from).filter(|_| rng.chance(3)).collect();
        engine.tag_all(&Audience::from(had.clone()), "高消费").expect("tag");
        let bytes = Audience::from(bits.clone()).to_portable_bytes();
        let r = engine.set_tag_from_portable_bytes("高消费", &bytes).expect("valid bytes");
        let kept = &bits & engine.customers().bitmap();
        prop_assert_eq!(r.added, (&kept - &had).len());
        prop_assert_eq!(r.removed, (&had - &kept).len());
        prop_assert_eq!(r.skipped, bits.len() - kept.len());
        let out = engine.tag_to_portable_bytes("高消费").expect("a tag");
        prop_assert_eq!(Audience::from_portable_bytes(&out).expect("own bytes").into_bitmap(), kept);
    }
}

// ------------------------------------------------------------------ against the model

const NAMES: [&str; 6] = ["vip", "tier:gold", "tier:silver", "高消费", "a/b", "a"];
/// Ids across blocks, u32::MAX included; the ones a case registers are its customers.
const IDS: [u32; 12] = [0, 1, 2, 3, 65_535, 65_536, 65_537, 1 << 20, (1 << 31) + 5, u32::MAX - 1, u32::MAX, 40];

#[derive(Clone, Debug)]
enum Op {
    Register(usize),
    Remove(usize),
    Tag(usize, usize),
    Untag(usize, usize),
    Group,
    /// Set a tag to the ids picked by a 12-bit mask (registered or not).
    Set(usize, u16),
    /// The bytes of a set, cut or with a bit flipped: refused or not, as the model says.
    SetDamaged(usize, u16, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let (c, t) = (0..IDS.len(), 0..NAMES.len());
    prop_oneof![
        2 => c.clone().prop_map(Op::Register),
        1 => c.clone().prop_map(Op::Remove),
        3 => (c.clone(), t.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        1 => (c, t.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        1 => Just(Op::Group),
        4 => (t.clone(), any::<u16>()).prop_map(|(t, m)| Op::Set(t, m)),
        1 => (t, any::<u16>(), any::<usize>()).prop_map(|(t, m, at)| Op::SetDamaged(t, m, at)),
    ]
}

fn picked(mask: u16) -> BTreeSet<u32> {
    IDS.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &id)| id).collect()
}

/// Every observable: each live customer's tags, and each tag's exported members.
fn compare(engine: &Engine, model: &Model) -> TestResult {
    let live: BTreeSet<u32> = engine.customers().iter().map(u32::from).collect();
    prop_assert_eq!(&live, &model.live);
    for (&c, tags) in &model.tags {
        let got: BTreeSet<String> =
            engine.tags_of(CustomerId(c)).expect("live").into_iter().map(str::to_owned).collect();
        prop_assert_eq!(&got, tags, "customer {}", c);
    }
    for name in &model.pool {
        let bytes = engine.tag_to_portable_bytes(name).expect("a tag");
        let got: BTreeSet<u32> =
            Audience::from_portable_bytes(&bytes).expect("own bytes").iter().map(u32::from).collect();
        prop_assert_eq!(got, model.members(name), "tag {}", name);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn imports_match_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut engine = Engine::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Register(i) => {
                    let got = engine.customer_id(IDS[i]).map(u32::from);
                    same(format!("{op:?}"), got, model.customer_id(IDS[i]))?;
                }
                Op::Remove(i) => same(format!("{op:?}"), engine.remove_customer(CustomerId(IDS[i])), model.remove(IDS[i]))?,
                Op::Tag(i, t) => same(format!("{op:?}"), engine.tag(CustomerId(IDS[i]), NAMES[t]), model.tag(IDS[i], NAMES[t]))?,
                Op::Untag(i, t) => {
                    same(format!("{op:?}"), engine.untag(CustomerId(IDS[i]), NAMES[t]), model.untag(IDS[i], NAMES[t]))?;
                }
                Op::Group => {
                    same(format!("{op:?}"), engine.define_exclusive_group("tier"), model.define_exclusive_group("tier"))?;
                }
                Op::Set(t, mask) => {
                    let ids = picked(mask);
                    let bytes = Audience::from_iter(ids.iter().copied().map(CustomerId)).to_portable_bytes();
                    let got = engine
                        .set_tag_from_portable_bytes(NAMES[t], &bytes)
                        .map(|r| (r.added, r.removed, r.displaced, r.skipped));
                    same(format!("{op:?}"), got, model.set_tag(&ids, NAMES[t]))?;
                }
                Op::SetDamaged(t, mask, at) => {
                    let ids = picked(mask);
                    let mut bytes = Audience::from_iter(ids.iter().copied().map(CustomerId)).to_portable_bytes();
                    let bit = at % (bytes.len() * 8 + 1);
                    if bit == bytes.len() * 8 {
                        bytes.pop(); // cut
                    } else {
                        bytes[bit / 8] ^= 1 << (bit % 8);
                    }
                    match Audience::from_portable_bytes(&bytes) {
                        Err(_) => {
                            let e = engine.set_tag_from_portable_bytes(NAMES[t], &bytes).unwrap_err();
                            prop_assert!(matches!(e, Error::InvalidPortableBitmap { .. }), "{e:?}");
                        }
                        Ok(a) => {
                            let ids: BTreeSet<u32> = a.iter().map(u32::from).collect();
                            let got = engine
                                .set_tag_from_portable_bytes(NAMES[t], &bytes)
                                .map(|r| (r.added, r.removed, r.displaced, r.skipped));
                            same(format!("{op:?}"), got, model.set_tag(&ids, NAMES[t]))?;
                        }
                    }
                }
            }
            compare(&engine, &model)?;
        }
    }
}

// ------------------------------------------------------------------ the write's rules

fn bytes_of(ids: &[u32]) -> Vec<u8> {
    ids.iter().copied().map(CustomerId).collect::<Audience>().to_portable_bytes()
}

#[test]
fn an_import_is_one_write_for_the_feed() -> Result {
    let mut engine = Engine::new();
    engine.customer_id_range(0..10)?;
    engine.define_exclusive_group("tier")?;
    engine.tag(CustomerId(1), "tier:gold")?;
    engine.tag(CustomerId(2), "tier:silver")?;
    engine.tag(CustomerId(3), "tier:silver")?;
    engine.track_changes(true);
    let r = engine.set_tag_from_portable_bytes("tier:silver", &bytes_of(&[1, 3, 4, 99]))?;
    assert_eq!((r.added, r.removed, r.displaced, r.skipped), (2, 1, 1, 1));
    let events: Vec<(String, String, Vec<u32>)> = engine
        .changes()
        .into_iter()
        .map(|c| match c.event {
            ChangeEvent::TagAdded { tag, audience } => ("added".to_owned(), tag, audience.to_ids()),
            ChangeEvent::TagRemoved { tag, audience } => ("removed".to_owned(), tag, audience.to_ids()),
            other => panic!("{other:?}"),
        })
        .collect();
    let e = |what: &str, tag: &str, ids: &[u32]| (what.to_owned(), tag.to_owned(), ids.to_vec());
    assert_eq!(
        events,
        [e("removed", "tier:gold", &[1]), e("removed", "tier:silver", &[2]), e("added", "tier:silver", &[1, 4])]
    );
    // The same bytes again change nothing, and record nothing.
    let r = engine.set_tag_from_portable_bytes("tier:silver", &bytes_of(&[1, 3, 4, 99]))?;
    assert_eq!((r.added, r.removed, r.displaced, r.skipped), (0, 0, 0, 1));
    assert!(engine.changes().is_empty());
    Ok(())
}

#[test]
fn an_import_makes_memberships_permanent() -> Result {
    let mut engine = Engine::new();
    engine.customer_id_range(0..3)?;
    let until = Day::from_ymd(2030, 1, 31)?;
    engine.tag_until(CustomerId(0), "trial", until)?;
    engine.tag_until(CustomerId(1), "trial", until)?;
    engine.set_tag_from_portable_bytes("trial", &bytes_of(&[0, 2]))?;
    assert_eq!(engine.expiry_of(CustomerId(0), "trial")?, None);
    assert_eq!(engine.expire(Day::from_ymd(2030, 2, 1)?), 0, "nothing left to expire");
    assert_eq!(engine.query("trial")?.to_ids(), [0, 2]);
    Ok(())
}

#[test]
fn derived_names_and_bad_bytes_change_nothing() -> Result {
    let mut engine = Engine::new();
    engine.customer_id_range(0..5)?;
    engine.tag(CustomerId(0), "vip")?;
    engine.define_rule_tag("loyal", "vip")?;
    let good = bytes_of(&[1, 2]);
    for name in ["loyal", "stage:active", "rfm:best", "r:5"] {
        let e = engine.set_tag_from_portable_bytes(name, &good).unwrap_err();
        assert!(matches!(e, Error::DerivedName { .. }), "{name}: {e:?}");
    }
    let e = engine.set_tag_from_portable_bytes(" ", &good).unwrap_err();
    assert!(matches!(e, Error::InvalidTagName { .. }), "{e:?}");
    // Bad bytes are refused before the tag is created.
    let e = engine.set_tag_from_portable_bytes("new", &good[..good.len() - 1]).unwrap_err();
    assert!(matches!(e, Error::InvalidPortableBitmap { .. }), "{e:?}");
    assert!(engine.tag_id("new").is_none());
    assert_eq!(engine.query("vip")?.to_ids(), [0]);
    // A derived tag is exported like any other.
    engine.refresh_rules()?;
    assert_eq!(Audience::from_portable_bytes(&engine.tag_to_portable_bytes("loyal")?)?.to_ids(), [0]);
    let e = engine.tag_to_portable_bytes("lyoal").unwrap_err();
    assert!(matches!(e, Error::UnknownTag { ref suggestions, .. } if suggestions == &["loyal"]), "{e:?}");
    Ok(())
}

#[test]
fn a_tag_exports_its_own_members_and_aliases_name_it() -> Result {
    let mut engine = Engine::new();
    engine.customer_id_range(0..4)?;
    engine.tag(CustomerId(0), "sports")?;
    engine.tag(CustomerId(1), "sports/run")?;
    let own = Audience::from_portable_bytes(&engine.tag_to_portable_bytes("sports")?)?;
    assert_eq!(own.to_ids(), [0], "not the children's");
    assert_eq!(engine.query("sports")?.to_ids(), [0, 1], "a query reads the children too");
    // An alias sets (and exports) the tag it names.
    engine.alias_tag("运动", "sports")?;
    let r = engine.set_tag_from_portable_bytes("运动", &bytes_of(&[2, 3]))?;
    assert_eq!((r.tag.as_str(), r.added, r.removed), ("sports", 2, 1));
    assert_eq!(engine.tag_to_portable_bytes("运动")?, engine.tag_to_portable_bytes("sports")?);
    assert_eq!(engine.query("sports")?.to_ids(), [1, 2, 3]);
    // An empty bitmap empties the tag and keeps it.
    let r = engine.set_tag_from_portable_bytes("sports", &Audience::new().to_portable_bytes())?;
    assert_eq!((r.added, r.removed), (0, 2));
    assert_eq!(engine.tag_to_portable_bytes("sports")?, Audience::new().to_portable_bytes());
    assert!(engine.tag_id("sports").is_some());
    Ok(())
}
