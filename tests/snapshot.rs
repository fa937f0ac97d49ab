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

use audience::{Audience, CustomerId, Day, Engine, Error, Money, SegmentPlan, TagKind};
use common::config;
use common::observe::snapshot;
use proptest::prelude::*;

const TAGS: [&str; 8] = ["vip", "高消费", "sports/run", "sports/bike", "tier:gold", "tier:silver", "coupon", "new"];

#[derive(Clone, Debug)]
enum Op {
    Key(u8),
    Id(u32),
    Remove(u8),
    Merge(u8, u8),
    Tag(u8, usize),
    Untag(u8, usize),
    TagAll(u32, usize),
    TagUntil(u8, usize, i32),
    Alias(usize),
    Attr(u8, usize, i64),
    Purchase(u8, i32, i64),
    Refresh(i32),
    Plan,
    RuleTag,
    Feed(bool),
    Drain,
    Expire(i32),
    DeleteTag(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let c = any::<u8>();
    let t = 0..TAGS.len();
    prop_oneof![
        3 => c.prop_map(Op::Key),
        1 => (0..300u32).prop_map(Op::Id),
        1 => c.prop_map(Op::Remove),
        1 => (c, c).prop_map(|(a, b)| Op::Merge(a, b)),
        4 => (c, t.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        1 => (c, t.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        1 => (1..7u32, t.clone()).prop_map(|(s, t)| Op::TagAll(s, t)),
        1 => (c, t.clone(), 0..60i32).prop_map(|(c, t, d)| Op::TagUntil(c, t, d)),
        1 => t.clone().prop_map(Op::Alias),
        2 => (c, 0..3usize, any::<i64>()).prop_map(|(c, a, v)| Op::Attr(c, a, v)),
        3 => (c, 0..400i32, -5_000..100_000i64).prop_map(|(c, d, m)| Op::Purchase(c, d, m)),
        1 => (100..500i32).prop_map(Op::Refresh),
        1 => Just(Op::Plan),
        1 => Just(Op::RuleTag),
        1 => any::<bool>().prop_map(Op::Feed),
        1 => Just(Op::Drain),
        1 => (0..60i32).prop_map(Op::Expire),
        1 => t.prop_map(Op::DeleteTag),
    ]
}

fn day(n: i32) -> Day {
    Day::from_days_since_epoch(19_000 + n).expect("a day")
}

/// The `n`th live customer (wrapping), if any.
fn nth(e: &Engine, n: u8) -> Option<CustomerId> {
    let live = e.customers();
    let len = live.len();
    (len > 0).then(|| live.iter().nth(usize::from(n) % len as usize)).flatten()
}

fn plan() -> SegmentPlan {
    SegmentPlan::new([("big", "vip AND 高消费"), ("sporty", "sports"), ("gold", "tier:gold")], "rest").expect("a plan")
}

/// Applies `op`, ignoring refusals (they are other tests' business).
fn apply(e: &mut Engine, op: &Op) {
    let _ = match *op {
        Op::Key(k) => e.customer(&format!("c{k}@example.com")).map(drop),
        Op::Id(id) => e.customer_id(id).map(drop),
        Op::Remove(n) => nth(e, n).map_or(Ok(()), |c| e.remove_customer(c)),
        Op::Merge(a, b) => match (nth(e, a), nth(e, b)) {
            (Some(a), Some(b)) => e.merge_customers(a, b).map(drop),
            _ => Ok(()),
        },
        Op::Tag(n, t) => nth(e, n).map_or(Ok(()), |c| e.tag(c, TAGS[t]).map(drop)),
        Op::Untag(n, t) => nth(e, n).map_or(Ok(()), |c| e.untag(c, TAGS[t]).map(drop)),
        Op::TagAll(step, t) => {
            let a: Audience = e.customers().iter().step_by(step as usize).collect();
            e.tag_all(&a, TAGS[t]).map(drop)
        }
        Op::TagUntil(n, t, d) => nth(e, n).map_or(Ok(()), |c| e.tag_until(c, TAGS[t], day(d)).map(drop)),
        Op::Alias(t) => e.alias_tag(&format!("alias-{t}"), TAGS[t]).map(drop),
        Op::Attr(n, a, v) => nth(e, n).map_or(Ok(()), |c| e.set_attr(c, ["age", "balance", "积分"][a], v).map(drop)),
        Op::Purchase(n, d, m) => {
            nth(e, n).map_or(Ok(()), |c| Money::from_minor(m).and_then(|m| e.record_purchase(c, day(d), m)))
        }
        Op::Refresh(d) => e.refresh(day(d)).map(drop),
        Op::Plan => e.apply_plan("segment", &plan()).map(drop),
        Op::RuleTag => e.define_rule_tag("rule:sporty_vip", "vip AND sports").map(drop),
        Op::Feed(on) => {
            e.track_changes(on);
            Ok(())
        }
        Op::Drain => {
            e.changes();
            Ok(())
        }
        Op::Expire(d) => {
            e.expire(day(d));
            Ok(())
        }
        Op::DeleteTag(t) => e.delete_tag(TAGS[t]).map(drop),
    };
}

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

/// Everything observable, including what `snapshot` leaves out: profiles, aliases, key
/// aliases, expiry days, plans, rule tags, the feed.
fn observe(e: &Engine) -> String {
    let mut out = format!("{:?}\n", snapshot(e));
    for c in e.customers().iter() {
        let p = e.profile(c).expect("live");
        out += &serde_json::to_string(&p).expect("json");
        out += &format!("{:?}\n", e.key_aliases(c).expect("live"));
        for t in TAGS {
            out += &format!("{:?}", e.expiry_of(c, t).ok());
        }
    }
    out += &format!("{:?}\n", e.aliases().collect::<Vec<_>>());
    out += &format!("{:?}\n", e.applied_plans().map(|(g, p)| (g.to_owned(), p.clone())).collect::<Vec<_>>());
    out += &format!("{:?}\n", e.rule_tags().map(|(t, q)| (t.to_owned(), q.to_string())).collect::<Vec<_>>());
    out += &format!("{} {}\n", e.tracks_changes(), e.last_change_seq());
    out
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
