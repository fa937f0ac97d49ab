//! Unit tests of the facade's delegation: bulk paths against one-by-one paths.

use crate::{Audience, CustomerId, Day, Engine, Error, Money, TagId, TagKind};

fn engine_with(keys: &[&str]) -> (Engine, Vec<CustomerId>) {
    let mut e = Engine::new();
    let ids = keys.iter().map(|k| e.customer(k).unwrap()).collect();
    (e, ids)
}

#[test]
fn spacing_around_the_group_colon_cannot_dodge_exclusivity() {
    let (mut e, c) = engine_with(&["c"]);
    e.define_exclusive_group("tier").unwrap();
    e.tag(c[0], "tier:gold").unwrap();
    e.tag(c[0], "tier :silver").unwrap();
    assert_eq!(e.tags_of(c[0]).unwrap(), ["tier:silver"]);
    e.tag(c[0], "tier: gold").unwrap();
    assert_eq!(e.tags_of(c[0]).unwrap(), ["tier:gold"]);
}

#[test]
fn dense_ids_never_merge_with_keyed_customers() {
    let (mut e, c) = engine_with(&["alice"]);
    e.tag(c[0], "vip").unwrap();
    assert_eq!(e.customer_id(c[0]), Err(Error::CustomerIdTaken { id: c[0], key: "alice".into() }));
    assert_eq!(e.customer_id(7u32), Ok(CustomerId(7)));
    assert_eq!(e.customer_id(7u32), Ok(CustomerId(7)), "registering again is a no-op");
    e.remove_customer(c[0]).unwrap();
    assert_eq!(e.customer_id(c[0]), Ok(c[0]), "the caller may register a removed id anew");
    assert!(e.tags_of(c[0]).unwrap().is_empty(), "it comes back with no tags");
}

#[test]
fn group_members_stay_in_creation_order_after_a_rename() {
    let mut e = Engine::new();
    e.define_exclusive_group("tier").unwrap();
    let gold = e.ensure_tag("tier:gold").unwrap();
    let silver = e.ensure_tag("tier:silver").unwrap();
    e.rename_tag("tier:gold", "tier:platinum").unwrap();
    let ids: Vec<TagId> = e.tags_in_group("tier").unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ids, [gold, silver]);
}

#[test]
fn bulk_exclusive_values_match_tagging_one_by_one() {
    let (mut bulk, c) = engine_with(&["a", "b", "c"]);
    bulk.define_exclusive_group("tier").unwrap();
    bulk.tag(c[0], "tier:1").unwrap();
    bulk.tag(c[2], "tier:5").unwrap();
    let mut single = bulk.clone();
    let pairs =
        [(c[0], "tier:2"), (c[1], "tier:3"), (c[0], "tier:4"), (c[1], "other"), (c[2], "tier:5"), (c[1], "tier:1")];
    for (id, t) in pairs {
        single.tag(id, t).unwrap();
    }
    // net gain: a r:4 (r:1 replaced, the passing r:2 not counted), b r:1 and other; c kept r:5
    assert_eq!(bulk.tag_pairs(pairs).unwrap(), 3);
    for id in &c {
        assert_eq!(bulk.tags_of(*id).unwrap(), single.tags_of(*id).unwrap());
    }
    for r in 1..=5 {
        let q = format!("tier:{r}");
        assert_eq!(bulk.count(&q).unwrap(), single.count(&q).unwrap(), "{q}");
    }
}

#[test]
fn failed_bulk_load_changes_nothing() {
    let (mut e, c) = engine_with(&["a"]);
    let before = e.stats();
    let err = e.tag_pairs([(c[0], "new/tag"), (CustomerId(99), "x")]).unwrap_err();
    assert_eq!(err, Error::UnknownCustomer { id: CustomerId(99) });
    assert_eq!(e.stats(), before);
    assert_eq!(e.tag_id("new/tag"), None, "no tag was created");
    assert!(matches!(e.tag_id_pairs([(c[0], TagId(5))]), Err(Error::UnknownTagId { .. })));
}

#[test]
fn removal_erases_everywhere_and_not_excludes_it() {
    let (mut e, c) = engine_with(&["a", "b"]);
    e.tag(c[0], "vip").unwrap();
    e.tag(c[1], "vip").unwrap();
    e.remove_customer(c[1]).unwrap();
    assert_eq!(e.count("vip").unwrap(), 1);
    assert_eq!(e.count("NOT vip").unwrap(), 0);
    assert_eq!(e.count("*").unwrap(), 1);
    assert_eq!(e.id_of("b"), None);
    assert_eq!(e.tag(c[1], "vip"), Err(Error::UnknownCustomer { id: c[1] }));
    // a stale audience cannot bring a removed customer back
    let stale: Audience = c.iter().copied().collect();
    assert_eq!(e.tag_all(&stale, "campaign").unwrap(), 1);
    assert_eq!(e.count("campaign").unwrap(), 1);
}

#[test]
fn define_tag_kinds() {
    let (mut e, c) = engine_with(&["a"]);
    e.tag(c[0], "outdoor/hiking").unwrap();
    assert_eq!(e.tag_info("outdoor").unwrap().kind, TagKind::Custom);
    e.define_tag("outdoor", TagKind::Interest).unwrap();
    assert_eq!(e.tag_info("outdoor").unwrap().kind, TagKind::Interest, "Custom is upgraded");
    assert!(matches!(e.define_tag("outdoor", TagKind::Value), Err(Error::TagKindConflict { .. })));
    e.set_tag_kind("outdoor", TagKind::Value).unwrap();
    assert_eq!(e.tag_info("outdoor").unwrap().kind, TagKind::Value);
    e.tag(c[0], "outdoor/camping").unwrap();
    assert_eq!(e.tag_info("outdoor/camping").unwrap().kind, TagKind::Value, "nearest ancestor's kind");
}

/// Tag members, attribute values, purchases per customer, purchase count.
type Picture = (Vec<(String, Vec<u32>)>, Vec<(String, Vec<(u32, i64)>)>, Vec<(u32, usize)>, u64);

/// A snapshot of everything a removal touches, for comparing two engines.
fn picture(e: &Engine) -> Picture {
    let tags = e
        .tags()
        .map(|t| (t.name.to_owned(), e.query(&format!("\"{}\"", t.name)).unwrap().iter().map(|c| c.0).collect()))
        .collect();
    let attrs = e
        .attributes()
        .map(|(name, _)| {
            let vals = e.customers().iter().filter_map(|c| Some((c.0, e.attr(c, name).unwrap()?))).collect();
            (name.to_owned(), vals)
        })
        .collect();
    let purchases = e.customers().iter().map(|c| (c.0, e.purchases_of(c).unwrap().len())).collect();
    (tags, attrs, purchases, e.purchase_count())
}

#[test]
fn bulk_removal_equals_one_by_one() {
    let mut e = Engine::new();
    let day = |d: i32| Day::from_days_since_epoch(19_000 + d).unwrap();
    for c in 0..300u32 {
        let id = e.customer(&format!("k{c}")).unwrap();
        e.tag(id, if c % 3 == 0 { "a" } else { "b" }).unwrap();
        e.set_attr(id, "age", i64::from(c % 70)).unwrap();
        for p in 0..(c % 5) {
            e.record_purchase(
                id,
                day((c * 7 + p * 31) as i32 % 400),
                Money::from_minor(i64::from(c * 10 + p)).unwrap(),
            )
            .unwrap();
        }
    }
    e.refresh(day(300)).unwrap();
    // more purchases after the refresh: some in the pending tier at removal time
    for c in (0..300u32).step_by(4) {
        e.record_purchase(CustomerId(c), day(310), Money::from_minor(99).unwrap()).unwrap();
    }
    let gone: Audience = (0..300u32).filter(|c| c % 5 == 1).map(CustomerId).collect();
    let mut one_by_one = e.clone();
    for c in gone.iter() {
        one_by_one.remove_customer(c).unwrap();
    }
    let mut bulk = e.clone();
    assert_eq!(bulk.remove_customers(&gone).unwrap(), gone.len());
    assert_eq!(bulk.remove_customers(&gone).unwrap(), 0, "no longer live: skipped");
    assert_eq!(picture(&bulk), picture(&one_by_one));
    let (r1, r2) = (bulk.refresh(day(320)).unwrap(), one_by_one.refresh(day(320)).unwrap());
    assert_eq!(r1, r2);
    assert_eq!(picture(&bulk), picture(&one_by_one));
}

#[test]
fn a_range_of_ids_is_refused_when_a_keyed_customer_has_one() {
    let mut e = Engine::new();
    let k = e.customer("k").unwrap(); // id 0
    assert!(matches!(e.customer_id_range(0..10), Err(Error::CustomerIdTaken { id, .. }) if id == k));
    assert_eq!(e.customer_count(), 1, "nothing registered");
    assert_eq!(e.customer_id_range(1..10).unwrap(), 9);
    assert_eq!(e.customer_id_range(5..5).unwrap(), 0);
    assert_eq!(e.customer("j").unwrap(), CustomerId(10));
}

/// Issue 12 part 7: what the segment layer keeps (plans, rule tags and their queries) is
/// plain serde data; restored into a copy of the engine, it computes the same.
#[test]
fn saved_queries_round_trip_through_serde() {
    use crate::SegmentPlan;
    use crate::segment::Segments;
    let (mut e, c) = engine_with(&["a", "b", "c"]);
    e.tag(c[0], "vip").unwrap();
    e.tag(c[1], "高消费").unwrap();
    e.set_attr(c[2], "spend", 500).unwrap();
    e.define_rule_tag("big", "spend >= 100 OR 高消费").unwrap();
    e.define_rule_tag("audiences/reach", "big OR vip").unwrap();
    let plan = SegmentPlan::new([("vips", "vip"), ("reach", "audiences")], "rest").unwrap();
    e.apply_plan("campaign", &plan).unwrap();
    let json = serde_json::to_string(&e.segments).unwrap();
    let back: Segments = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    let mut restored = e.clone();
    restored.segments = back;
    for engine in [&mut e, &mut restored] {
        engine.tag(c[2], "vip").unwrap();
    }
    assert_eq!(restored.refresh_rules().unwrap(), e.refresh_rules().unwrap());
    assert_eq!(restored.rule_tags().collect::<Vec<_>>(), e.rule_tags().collect::<Vec<_>>());
    assert_eq!(restored.applied_plans().collect::<Vec<_>>(), e.applied_plans().collect::<Vec<_>>());
    assert_eq!(e.count("campaign:vips").unwrap(), 2);
}

/// A fresh directory for one test's snapshot, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("audience-engine-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Issue 14: a journal write that fails (here: the file swapped for a read-only handle, as a
/// full disk or a lost device would fail it) is the call's error; the journal is broken from
/// then on: every later mutating call is refused with that error and changes nothing, reads
/// go on, and a reopening holds what was acknowledged. A checkpoint writes the whole state
/// (the failed call's change included, as documented) and a new journal: writes work again.
#[test]
fn a_failed_journal_write_is_the_calls_error_and_refuses_the_rest_until_a_checkpoint() {
    for checkpoint in [false, true] {
        let dir = TempDir::new(if checkpoint { "fail-checkpoint" } else { "fail-reopen" });
        let path = dir.0.join("crm.snap");
        let mut e = Engine::open_or_create(&path).unwrap();
        let a = e.customer("a").unwrap();
        e.tag(a, "vip").unwrap();
        e.journal.0.as_mut().unwrap().fail_writes();
        let err = e.tag(a, "高消费").unwrap_err();
        assert!(matches!(&err, Error::Io { action: "append to", .. }), "{err:?}");
        assert_eq!(e.tags_of(a).unwrap(), ["vip", "高消费"], "made in memory, as documented");
        let before = (e.customers().len(), e.tags().count());
        assert_eq!(e.customer("b"), Err(err.clone()));
        assert_eq!(e.tag(a, "sports"), Err(err.clone()));
        assert_eq!(
            e.record_purchase(a, Day::from_ymd(2026, 1, 2).unwrap(), Money::from_minor(100).unwrap()),
            Err(err.clone())
        );
        assert_eq!((e.customers().len(), e.tags().count()), before, "a refused call changes nothing");
        assert_eq!(e.id_of("b"), None);
        assert_eq!(e.flush(), Err(err.clone()));
        assert_eq!(e.count("vip").unwrap(), 1, "reads go on");
        if checkpoint {
            e.checkpoint().unwrap();
            let b = e.customer("b").unwrap();
            e.tag(b, "sports").unwrap();
            e.flush().unwrap();
            drop(e);
            let (e, report) = Engine::open_with_report(&path).unwrap();
            assert_eq!((report.generation, report.replayed), (1, 2));
            assert_eq!(e.tags_of(a).unwrap(), ["vip", "高消费"]);
            assert_eq!(e.tags_of(b).unwrap(), ["sports"]);
        } else {
            drop(e);
            let (e, report) = Engine::open_with_report(&path).unwrap();
            assert_eq!((report.replayed, report.torn_tail), (2, None), "the two acknowledged calls");
            assert_eq!(e.tags_of(a).unwrap(), ["vip"], "the failed call was never acknowledged");
        }
    }
}

/// Issue 14: a record of 4 GiB or more takes the journal's long frame (a `u64` length). The
/// engine's records in long frames (every one, here) replay as the short ones do.
#[test]
fn records_in_long_frames_replay_as_short_ones_do() {
    let dir = TempDir::new("long");
    let path = dir.0.join("crm.snap");
    let mut e = Engine::open_or_create(&path).unwrap();
    e.journal.0.as_mut().unwrap().set_long_from(0);
    let ids: Vec<CustomerId> = (0..50).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
    e.tag_pairs(ids.iter().enumerate().map(|(i, &c)| (c, ["vip", "高消费", "sports/running"][i % 3]))).unwrap();
    let day = Day::from_ymd(2026, 3, 1).unwrap();
    e.record_purchases(ids.iter().map(|&c| (c, day, Money::from_minor(1_250).unwrap()))).unwrap();
    e.set_attr(ids[7], "age", 41).unwrap();
    e.refresh(day).unwrap();
    let want: Vec<_> = ids.iter().map(|&c| e.profile(c).unwrap().to_string()).collect();
    drop(e);
    let journal = std::fs::read(crate::persist::journal::journal_path(&path)).unwrap();
    assert_eq!(journal[24..28], [0xFF; 4], "the first record's length field announces a long frame");
    let (e, report) = Engine::open_with_report(&path).unwrap();
    assert_eq!((report.replayed, report.torn_tail), (54, None));
    let got: Vec<_> = ids.iter().map(|&c| e.profile(c).unwrap().to_string()).collect();
    assert_eq!(got, want);
    assert_eq!(e.count("sports").unwrap(), 16);
}

/// Issue 14: a read-only open that a writer's checkpoint overtakes (new snapshot and journal
/// between the reader's snapshot and its journal) reads the new snapshot; a journal newer
/// than a snapshot that does not change (an older one put back) is an error at once.
#[test]
fn a_read_only_open_overtaken_by_a_checkpoint_reads_the_new_snapshot() {
    use super::persist::tests::BETWEEN;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    let dir = TempDir::new("read-only-overtaken");
    let path = dir.0.join("crm.snap");
    let writer = Rc::new(RefCell::new(Engine::open_or_create(&path).unwrap()));
    let a = writer.borrow_mut().customer("a").unwrap();
    writer.borrow_mut().tag(a, "vip").unwrap();
    let calls = Rc::new(Cell::new(0));
    let hook = {
        let (writer, calls) = (writer.clone(), calls.clone());
        move || {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                let mut w = writer.borrow_mut();
                w.checkpoint().unwrap();
                w.tag(a, "高消费").unwrap();
            }
        }
    };
    BETWEEN.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    let read = Engine::open_read_only_with_report(&path);
    BETWEEN.with(|h| *h.borrow_mut() = None);
    let (view, report) = read.unwrap();
    assert_eq!(calls.get(), 2, "the snapshot read again");
    assert_eq!((report.generation, report.replayed, report.stale_journal), (1, 1, None));
    assert_eq!(view.tags_of(a).unwrap(), ["vip", "高消费"]);

    // An older snapshot put back under a newer journal: refused, without reading it again.
    let old = std::fs::read(&path).unwrap();
    writer.borrow_mut().checkpoint().unwrap();
    std::fs::write(&path, &old).unwrap();
    calls.set(10);
    let hook = {
        let calls = calls.clone();
        move || calls.set(calls.get() + 1)
    };
    BETWEEN.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
    let read = Engine::open_read_only(&path);
    BETWEEN.with(|h| *h.borrow_mut() = None);
    assert!(matches!(read, Err(Error::Corrupt { offset: 12, .. })), "{read:?}");
    assert_eq!(calls.get(), 11, "read once");
}
