//! `journal`: the fuzzer's bytes as the journal of a fixed snapshot ([`base`], generation 1:
//! customers, tags in a group and a hierarchy, an alias, expiring tags, attributes,
//! purchases, a refresh, a segment plan, a rule tag, the change feed on), opened with
//! `Engine::open_with_report`. The first byte chooses: even, the header's checksum and every
//! record's payload and frame checksums are fixed up first, as `docs/format.md` lays them
//! out, so the records reach the decoder of each operation and its replay; odd, the bytes
//! are the journal as they are. The rest is the journal.
//!
//! - Opening never panics. A refused journal is `Error::Corrupt` naming the journal, at an
//!   offset within it, `Error::UnsupportedVersion` or `Error::Io`.
//! - An opened engine's report adds up: a torn tail ends at the journal's end (its offset
//!   plus its bytes are the journal's length), the journal left is `journal_bytes` long, a
//!   stale journal replayed nothing.
//! - Opened again, the journal left replays to the same engine, with no torn tail; and that
//!   engine passes the round trip of [`persisted::round_trip`].
//!
//! The seeds (`fuzz/corpus/journal/`) are journals written by engines opened from the base
//! doing each kind of operation ([`seeds`]), written by the ignored test `write_seeds` in
//! `tests/fuzz_regressions.rs`.

use std::path::Path;
use std::sync::OnceLock;

use audience::{Audience, CustomerId, Day, Engine, Error, Lifecycle, Money, Purchase, RfmModel, SegmentPlan, TagKind};

use super::persisted;

pub fn check(data: &[u8]) {
    let snapshot = base();
    let dir = persisted::scratch();
    let path = dir.join("fuzz.snap");
    let jpath = dir.join("fuzz.snap.journal");
    let (fix, file) = persisted::mode(data);
    let mut bytes = file.to_vec();
    if fix {
        persisted::fix_journal(&mut bytes);
    }
    std::fs::write(&path, snapshot).expect("the snapshot written");
    std::fs::write(&jpath, &bytes).expect("the journal written");
    let len = bytes.len() as u64;
    let (e, report) = match Engine::open_with_report(&path) {
        Err(e) => return refused(&e, &jpath, len),
        Ok(opened) => opened,
    };
    assert_eq!(report.generation, 1, "the base's generation");
    if let Some(t) = report.torn_tail {
        assert_eq!(t.offset + t.bytes, len, "a torn tail ends at the journal's end: {report:?}");
        assert_eq!(report.journal_bytes, t.offset, "{report:?}");
    }
    if report.stale_journal.is_some() {
        assert_eq!(report.replayed, 0, "a stale journal is not replayed: {report:?}");
    }
    let left = std::fs::metadata(&jpath).expect("the journal left").len();
    assert_eq!(left, report.journal_bytes, "the journal left is as long as the report says: {report:?}");
    let seen = persisted::observe(&e);
    drop(e);
    // What is left replays to the same engine.
    let (mut e, again) = Engine::open_with_report(&path).expect("the journal left opens");
    assert_eq!(again.torn_tail, None, "a torn tail was cut off: {report:?}");
    assert_eq!(again.stale_journal, None, "a stale journal was replaced: {report:?}");
    assert_eq!((again.replayed, again.journal_bytes), (report.replayed, report.journal_bytes), "{report:?}");
    assert_eq!(persisted::observe(&e), seen, "the journal left replays to another engine");
    persisted::round_trip(&mut e, &dir);
}

fn refused(e: &Error, jpath: &Path, len: u64) {
    match e {
        Error::Corrupt { path, offset, .. } => {
            assert_eq!(path, jpath, "Corrupt names the journal (the snapshot is sound): {e}");
            assert!(*offset <= len, "Corrupt at {offset}, past the journal's {len} bytes: {e}");
        }
        Error::UnsupportedVersion { path, .. } => assert_eq!(path, jpath, "{e}"),
        Error::Io { .. } => {}
        other => panic!("a journal refused with {other:?}: not Corrupt, UnsupportedVersion or Io"),
    }
    let _ = e.to_string();
}

fn day(s: &str) -> Day {
    s.parse().expect("a day")
}

fn money(s: &str) -> Money {
    Money::parse(s).expect("an amount")
}

fn id(e: &Engine, key: &str) -> CustomerId {
    e.id_of(key).expect("a key of the base")
}

/// The snapshot every journal follows (generation 1), built once per process.
pub fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = persisted::scratch();
        let path = dir.join("base.snap");
        let mut e = Engine::open_or_create(&path).unwrap();
        e.set_sync_policy(audience::SyncPolicy::Manual);
        e.track_changes(true);
        e.define_exclusive_group("tier").unwrap();
        for key in ["ann", "bob", "cy", "dee"] {
            e.customer(key).unwrap();
        }
        e.customer_id_range(100..105).unwrap();
        e.tag(id(&e, "ann"), "vip").unwrap();
        e.tag(id(&e, "ann"), "tier:gold").unwrap();
        e.tag(id(&e, "bob"), "tier:silver").unwrap();
        e.tag(id(&e, "cy"), "sports/run").unwrap();
        e.tag(CustomerId(101), "高消费").unwrap();
        e.tag_until(id(&e, "dee"), "coupon", day("2024-08-01")).unwrap();
        e.alias_tag("gold", "tier:gold").unwrap();
        e.set_attr(id(&e, "ann"), "age", 31).unwrap();
        e.set_attr(CustomerId(102), "age", -4).unwrap();
        e.record_purchase(id(&e, "ann"), day("2024-01-10"), money("49.90")).unwrap();
        e.record_purchase(id(&e, "bob"), day("2024-04-01"), money("12")).unwrap();
        e.refresh(day("2024-06-30")).unwrap();
        let plan = SegmentPlan::new([("big", "vip AND tier:gold"), ("sporty", "sports")], "rest").unwrap();
        e.apply_plan("segment", &plan).unwrap();
        e.define_rule_tag("rule:vip_or_run", "vip OR sports/run").unwrap();
        e.checkpoint().unwrap();
        drop(e);
        std::fs::read(&path).unwrap()
    })
}

type Scenario = fn(&mut Engine);

/// What the seed journals record, by name: each kind of operation the journal holds.
fn scenarios() -> Vec<(&'static str, Scenario)> {
    vec![
        ("empty", |_| ()),
        ("customers", |e| {
            e.customer("eve").unwrap();
            e.customer_id(200u32).unwrap();
            e.customer_id_range(300..304).unwrap();
            e.remove_customer(CustomerId(301)).unwrap();
            e.remove_customers(&[302u32, 303].into_iter().map(CustomerId).collect::<Audience>()).unwrap();
            e.merge_customers(id(e, "ann"), id(e, "eve")).unwrap();
        }),
        ("tags", |e| {
            e.define_tag("newsletter", TagKind::Behavior).unwrap();
            e.set_tag_kind("vip", TagKind::Value).unwrap();
            e.ensure_tag("interest/music").unwrap();
            e.define_exclusive_group_with_kind("gender", TagKind::Attribute).unwrap();
            e.rename_tag("newsletter", "news").unwrap();
            e.merge_tags("高消费", "vip").unwrap();
            e.alias_tag("run", "sports/run").unwrap();
            e.unalias_tag("gold").unwrap();
            e.delete_tag("interest/music").unwrap();
        }),
        ("tagging", |e| {
            let (ann, bob) = (id(e, "ann"), id(e, "bob"));
            e.tag(bob, "vip").unwrap();
            e.untag(ann, "vip").unwrap();
            let some: Audience = [100u32, 103, 104].into_iter().map(CustomerId).collect();
            e.tag_all(&some, "tier:silver").unwrap();
            e.untag_all(&some, "tier:silver").unwrap();
            e.tag_pairs([(ann, "gender:female"), (bob, "gender:male"), (CustomerId(100), "vip")]).unwrap();
            let vip = e.tag_id("vip").unwrap();
            e.tag_id_pairs([(CustomerId(103), vip), (CustomerId(104), vip)]).unwrap();
            e.tag_until(bob, "trial", day("2024-07-15")).unwrap();
            e.tag_all_until(&some, "trial", day("2024-07-20")).unwrap();
            e.expire(day("2024-07-16"));
        }),
        ("attributes", |e| {
            e.define_attr("score").unwrap();
            e.set_attr(id(e, "bob"), "score", 1 << 40).unwrap();
            e.set_attrs([(CustomerId(100), "age", 7), (CustomerId(101), "积分", i64::MIN)]).unwrap();
            e.unset_attr(id(e, "ann"), "age").unwrap();
        }),
        ("feed", |e| {
            e.tag(id(e, "cy"), "vip").unwrap();
            e.changes();
            e.track_changes(false);
            e.tag(id(e, "dee"), "vip").unwrap();
            e.track_changes(true);
        }),
        ("purchases", |e| {
            e.record_purchase(id(e, "cy"), day("2024-07-01"), money("15.25")).unwrap();
            let p = |c, d, m| Purchase { customer: c, day: day(d), amount: money(m) };
            e.record_purchases([p(CustomerId(100), "2024-07-02", "8"), p(id(e, "bob"), "2024-07-03", "-1.50")])
                .unwrap();
            let model = RfmModel::thresholds(
                [30, 90, 180, 365],
                [1, 2, 4, 8],
                [money("10"), money("50"), money("100"), money("500")],
            );
            e.set_rfm_model(model.unwrap());
            e.set_lifecycle(Lifecycle::new(20, 60, 200).unwrap());
            e.refresh(day("2024-07-31")).unwrap();
        }),
        ("segments", |e| {
            let plan = SegmentPlan::new([("gold", "tier:gold"), ("young", "age < 20")], "other").unwrap();
            e.apply_plan("band", &plan).unwrap();
            e.define_rule_tag("rule:young_vip", "vip AND age < 40").unwrap();
            e.tag(id(e, "cy"), "vip").unwrap();
            e.refresh_rules().unwrap();
        }),
        ("mixed", |e| {
            let eve = e.customer("eve").unwrap();
            e.tag(eve, "vip").unwrap();
            e.set_attr(eve, "age", 22).unwrap();
            e.record_purchase(eve, day("2024-07-05"), money("99")).unwrap();
            e.refresh(day("2024-07-10")).unwrap();
            e.merge_customers(id(e, "bob"), eve).unwrap();
            e.remove_customer(id(e, "cy")).unwrap();
            e.refresh_rules().unwrap();
        }),
    ]
}

/// The seeds: for each scenario, the journal an engine opened from [`base`] wrote, behind
/// a first byte of 0 (checksums fixed up: a no-op on a sound journal); and the `mixed`
/// journal once more as a stale one (generation 0).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let base = base();
    let mut seeds = Vec::new();
    for (name, scenario) in scenarios() {
        let dir = persisted::scratch();
        let path = dir.join("seed.snap");
        std::fs::write(&path, base).unwrap();
        let mut e = Engine::open(&path).unwrap();
        e.set_sync_policy(audience::SyncPolicy::Manual);
        scenario(&mut e);
        drop(e);
        let (e, report) = Engine::open_with_report(&path).expect("a seed journal replays");
        assert!(name == "empty" || report.replayed > 0, "{name}: {report:?}");
        drop(e);
        let mut seed = vec![0u8];
        seed.extend(std::fs::read(dir.join("seed.snap.journal")).unwrap());
        if name == "mixed" {
            let mut stale = seed.clone();
            stale[1 + 12..1 + 20].copy_from_slice(&0u64.to_le_bytes());
            persisted::fix_journal(&mut stale[1..]);
            seeds.push(("stale".to_owned(), stale));
        }
        seeds.push((name.to_owned(), seed));
    }
    seeds
}
