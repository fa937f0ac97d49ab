//! Snapshots: `Engine::save` then `Engine::open` gives an engine indistinguishable from the
//! saved one through the public API, after random operation sequences over every layer
//! (keys, dense ids, removals, merges, the tag pool with groups, a hierarchy, aliases and
//! expiring tags, attributes, purchases merged and pending, refreshes, segment plans and
//! rule tags, the change feed), and the next operations (a refresh, a plan applied again,
//! rules recomputed, expiry) give the same results on both. Then the file's edges: missing,
//! a directory, empty, foreign, another version, every truncation and every byte flipped
//! of a small snapshot: a typed error, never a panic.

mod common;

use std::path::PathBuf;

use audience::{Engine, Error, TagKind};
use common::config;
use common::ops::{Op, apply, day, observe, op};
use proptest::prelude::*;

/// A fresh directory under the system's temp dir, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("audience-snapshot-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn an_opened_engine_is_the_saved_one(ops in prop::collection::vec(op(), 0..60), next in prop::collection::vec(op(), 0..12)) {
        let dir = Dir::new("roundtrip");
        let path = dir.0.join("crm.snap");
        let mut e = Engine::new();
        e.define_exclusive_group("tier").unwrap();
        e.define_tag("coupon", TagKind::Behavior).unwrap();
        for op in &ops {
            apply(&mut e, op);
        }
        let bytes = e.save(&path).unwrap();
        prop_assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
        let mut o = Engine::open(&path).unwrap();
        prop_assert_eq!(observe(&o), observe(&e));
        // The undrained changes come back too.
        prop_assert_eq!(o.changes(), e.changes());
        // And the engines go on alike: a refresh (incremental), the plan again, the rules,
        // expiry, more random operations.
        let (ra, rb) = (e.refresh(day(600)), o.refresh(day(600)));
        prop_assert_eq!(format!("{ra:?}"), format!("{rb:?}"));
        for op in next.iter().chain([Op::Plan, Op::RuleTag, Op::Expire(30)].iter()) {
            apply(&mut e, op);
            apply(&mut o, op);
        }
        prop_assert_eq!(format!("{:?}", e.refresh_rules()), format!("{:?}", o.refresh_rules()));
        prop_assert_eq!(observe(&o), observe(&e));
        prop_assert_eq!(o.changes(), e.changes());
        // Saving the opened engine writes the same bytes (elsewhere: `o` holds `path`'s journal).
        let (saved, again) = (dir.0.join("saved.snap"), dir.0.join("again.snap"));
        e.save(&saved).unwrap();
        o.save(&again).unwrap();
        prop_assert_eq!(std::fs::read(&saved).unwrap(), std::fs::read(&again).unwrap());
    }
}

/// A small snapshot of every layer, for the damage tests.
fn small(dir: &Dir) -> (PathBuf, Vec<u8>) {
    let path = dir.0.join("small.snap");
    let mut e = Engine::new();
    e.define_exclusive_group("tier").unwrap();
    e.track_changes(true);
    let ops = [
        Op::Key(1),
        Op::Key(2),
        Op::Key(3),
        Op::Id(40),
        Op::Tag(0, 0),
        Op::Tag(1, 1),
        Op::Tag(2, 2),
        Op::Tag(0, 4),
        Op::TagUntil(1, 6, 10),
        Op::Alias(0),
        Op::Attr(0, 2, -7),
        Op::Purchase(0, 10, 1_000),
        Op::Purchase(1, 20, 2_500),
        Op::Refresh(100),
        Op::Purchase(2, 120, 300),
        Op::Plan,
        Op::RuleTag,
        Op::Merge(0, 3),
    ];
    for op in &ops {
        apply(&mut e, op);
    }
    e.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn is_damage(r: &Result<Engine, Error>) -> bool {
    matches!(r, Err(Error::Corrupt { .. }) | Err(Error::UnsupportedVersion { .. }))
}

#[test]
fn every_truncation_and_every_flipped_byte_is_a_typed_error() {
    let dir = Dir::new("damage");
    let (path, bytes) = small(&dir);
    assert!(Engine::open(&path).is_ok());
    let bad = dir.0.join("bad.snap");
    for cut in 0..bytes.len() {
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        let r = Engine::open(&bad);
        assert!(is_damage(&r), "cut at {cut} of {}: {:?}", bytes.len(), r.err());
    }
    for at in 0..bytes.len() {
        let mut b = bytes.clone();
        b[at] ^= 1 << (at % 8);
        std::fs::write(&bad, &b).unwrap();
        let r = Engine::open(&bad);
        assert!(is_damage(&r), "bit flipped at {at}: {:?}", r.err());
    }
    // Bytes after the end.
    let mut b = bytes.clone();
    b.push(0);
    std::fs::write(&bad, &b).unwrap();
    assert!(is_damage(&Engine::open(&bad)));
}

#[test]
fn missing_directory_empty_foreign_and_future_files() {
    let dir = Dir::new("edges");
    let missing = dir.0.join("nope.snap");
    match Engine::open(&missing) {
        Err(Error::Io { path, kind, .. }) => {
            assert_eq!((path, kind), (missing.clone(), std::io::ErrorKind::NotFound));
        }
        other => panic!("{other:?}"),
    }
    let err = Engine::open(&missing).unwrap_err().to_string();
    assert!(err.contains("nope.snap"), "{err}");
    assert_eq!(Engine::open_or_create(&missing).unwrap().customer_count(), 0);
    assert!(matches!(Engine::open(&dir.0), Err(Error::Io { .. })), "a directory");
    let empty = dir.0.join("empty.snap");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(Engine::open(&empty), Err(Error::Corrupt { offset: 0, .. })));
    std::fs::write(&empty, b"customer,tag\nann,vip\n").unwrap();
    let err = Engine::open(&empty).unwrap_err();
    assert!(matches!(err, Error::Corrupt { offset: 0, .. }), "{err}");
    // A future version: the header's version and checksum rewritten.
    let (_, bytes) = small(&dir);
    let mut b = bytes[..16].to_vec();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c(&b[..12]);
    b[12..16].copy_from_slice(&crc.to_le_bytes());
    b.extend_from_slice(&bytes[16..]);
    let future = dir.0.join("future.snap");
    std::fs::write(&future, &b).unwrap();
    assert!(matches!(Engine::open(&future), Err(Error::UnsupportedVersion { found: 2, supported: 1, .. })));
    // open_or_create passes every error but a missing file on.
    assert!(matches!(Engine::open_or_create(&future), Err(Error::UnsupportedVersion { .. })));
}

#[test]
fn save_replaces_atomically_and_leaves_no_temporary_file() {
    let dir = Dir::new("atomic");
    let path = dir.0.join("crm.snap");
    let mut e = Engine::new();
    let c = e.customer("ann").unwrap();
    e.tag(c, "vip").unwrap();
    e.save(&path).unwrap();
    e.tag(c, "高消费").unwrap();
    e.save(&path).unwrap();
    assert_eq!(Engine::open(&path).unwrap().count("高消费").unwrap(), 1);
    let mut names: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|d| d.unwrap().file_name()).collect();
    names.sort();
    // `open` started the snapshot's journal beside it (see tests/journal.rs).
    assert_eq!(names, [std::ffi::OsString::from("crm.snap"), std::ffi::OsString::from("crm.snap.journal")]);
    // A directory that does not exist: an error naming it, nothing written.
    let nowhere = dir.0.join("no-such-dir").join("crm.snap");
    assert!(matches!(e.save(&nowhere), Err(Error::Io { .. })));
}

/// CRC-32C (Castagnoli), bit by bit: the test's own, to forge a header.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// A query the engine keeps is stored as its canonical text, which can be longer than the
/// text given (`x>=1` prints `x >= 1`): one whose canonical text passes `MAX_QUERY_LEN` is
/// refused when it is defined (it would not parse back when the snapshot is opened), one
/// within it reopens. Found by the `query_parse` fuzz target.
#[test]
fn a_kept_query_must_print_within_the_length_limit() {
    use audience::{MAX_QUERY_LEN, SegmentPlan};
    let dir = Dir::new("long-query");
    let path = dir.0.join("crm.snap");
    let mut e = Engine::open_or_create(&path).unwrap();
    let c = e.customer("ann").unwrap();
    e.set_attr(c, "x", 1).unwrap();
    let long = vec!["x>=1"; 110_000].join(" OR ");
    assert!(long.len() <= MAX_QUERY_LEN);
    assert!(audience::Query::parse(&long).unwrap().to_string().len() > MAX_QUERY_LEN);
    let refused = |r: Result<(), Error>| match r {
        Err(Error::InRule { error, .. }) => {
            assert!(matches!(*error, Error::QueryTooLarge { what: "text length in bytes", .. }), "{error}")
        }
        other => panic!("{other:?}"),
    };
    refused(e.define_rule_tag("rule:long", long.as_str()).map(drop));
    let plan = SegmentPlan::new([("long", long.as_str())], "rest").unwrap();
    refused(e.apply_plan("segment", &plan).map(drop));
    assert!(e.rule_tags().next().is_none() && e.applied_plans().next().is_none(), "nothing kept");
    // Within the limit once printed: kept, journaled, saved, and it reopens.
    let fits = vec!["x>=1"; 80_000].join(" OR ");
    e.define_rule_tag("rule:fits", fits.as_str()).unwrap();
    drop(e);
    let mut o = Engine::open(&path).unwrap();
    assert_eq!(o.count("rule:fits").unwrap(), 1);
    o.checkpoint().unwrap();
    drop(o);
    assert_eq!(Engine::open(&path).unwrap().count("rule:fits").unwrap(), 1);
}

/// An engine whose snapshot spans several of the writer's 8 MiB blocks (26 MB or more)
/// with a tail that is no multiple of 4 KiB, built the same way every time: `customers`
/// customers, two million purchases refreshed into the base, a million more pending.
fn big_engine(customers: u32) -> Engine {
    let mut e = Engine::new();
    e.customer_id_range(0..customers).unwrap();
    let purchase = |i: u64| {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        let customer = audience::CustomerId((h % u64::from(customers)) as u32);
        (customer, day(19_000 + (h >> 20) as i32 % 700), audience::Money::from_minor(100 + (h % 9_000) as i64).unwrap())
    };
    e.record_purchases((0..2_000_000).map(purchase)).unwrap();
    e.refresh(day(19_800)).unwrap();
    e.record_purchases((2_000_000..3_000_000).map(purchase)).unwrap();
    let c = e.customer("高消费 ann").unwrap();
    e.tag(c, "vip").unwrap();
    e
}

/// A snapshot of several blocks (written around the page cache where the file system
/// allows) opens to the same engine, whose own snapshot is the same bytes. With 1.5M
/// customers, the refresh rows (over 1.1M customers with purchases, 34 bytes each) span
/// three sections, decoded on threads, as are the purchase columns.
#[test]
fn a_snapshot_of_several_blocks_reads_back_byte_for_byte() {
    let dir = Dir::new("big");
    let (first, second) = (dir.0.join("a.snap"), dir.0.join("b.snap"));
    let e = big_engine(1_500_000);
    let bytes = e.save(&first).unwrap();
    assert!(bytes > 3 * (8 << 20) && !bytes.is_multiple_of(4096), "{bytes} bytes");
    let back = Engine::open_read_only(&first).unwrap();
    assert_eq!(back.purchase_count(), e.purchase_count());
    for c in (0..1_500_000).step_by(997).map(audience::CustomerId) {
        let scores = |x: &Engine| x.rfm_of(c).unwrap().map(|s| format!("{s:?}"));
        assert_eq!(scores(&back), scores(&e), "customer {c:?}");
    }
    assert_eq!(back.count("vip").unwrap(), 1);
    back.save(&second).unwrap();
    assert!(std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(), "the same bytes");
}

const SAVE_CHILD: &str = "AUDIENCE_SNAPSHOT_FULL_CHILD";

/// Run by `a_full_disk_fails_a_big_save_and_keeps_the_old_snapshot` under a file size
/// limit (a no-op otherwise): saves the big engine over the snapshot at the path given and
/// prints what `save` returned.
#[test]
fn full_disk_save_child() {
    let Ok(path) = std::env::var(SAVE_CHILD) else { return };
    match big_engine(100_000).save(&path) {
        Ok(n) => println!("saved {n}"),
        Err(e) => println!("failed io={}", matches!(e, Error::Io { .. })),
    }
}

/// A full disk while saving a big snapshot, for real (`prlimit --fsize`, `SIGXFSZ`
/// ignored): in the first block (written on the calling thread), in a later one (written
/// by the writing thread) and in the last bytes (the tail, written through the cache).
/// Each `save` returns `Error::Io`, removes its temporary file, and leaves the old
/// snapshot as it was.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_a_big_save_and_keeps_the_old_snapshot() {
    let dir = Dir::new("full");
    let probe = dir.0.join("probe.snap");
    let size = big_engine(100_000).save(&probe).unwrap();
    std::fs::remove_file(&probe).unwrap();
    for limit in [1 << 20, (8 << 20) + 100, size - 100] {
        let path = dir.0.join("crm.snap");
        let mut old = Engine::new();
        let c = old.customer("old").unwrap();
        old.tag(c, "kept").unwrap();
        old.save(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let stdout = common::under_file_size_limit("full_disk_save_child", SAVE_CHILD, &path, limit);
        assert!(stdout.contains("failed io=true"), "limit {limit}: {stdout}");
        assert!(std::fs::read(&path).unwrap() == before, "limit {limit}: the old snapshot is untouched");
        assert_eq!(Engine::open_read_only(&path).unwrap().count("kept").unwrap(), 1);
        let names: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|d| d.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("crm.snap")], "limit {limit}: no temporary file left");
    }
}
