//! `snapshot`: the fuzzer's bytes as a snapshot file, opened with `Engine::open_with_report`
//! (no journal beside it: a fresh one is started). The first byte chooses: even, the header's
//! and every section's checksum (and the end section's counts) are fixed up first, as
//! `docs/format.md` lays them out, so the bytes reach the layers' decoders; odd, the bytes
//! are opened as they are. The rest is the file.
//!
//! - Opening never panics. A refused file is `Error::Corrupt` naming the file, at an offset
//!   within it, `Error::UnsupportedVersion`, or `Error::Io`.
//! - An accepted file replays no journal, and gives an engine that passes the round trip of
//!   [`persisted::round_trip`]: saved and opened again it is the same through the public API
//!   (each key finds its customer, each tag's length is its customers'), saved again it
//!   writes the same bytes, and both go on alike.
//!
//! The seeds (`fuzz/corpus/snapshot/`) are the snapshots of [`seeds`], written by the ignored
//! test `write_seeds` in `tests/fuzz_regressions.rs`.

use std::path::Path;

use audience::{Audience, CustomerId, Day, Engine, Error, Lifecycle, Money, Purchase, RfmModel, SegmentPlan, TagKind};

use super::persisted;

pub fn check(data: &[u8]) {
    let dir = persisted::scratch();
    let path = dir.join("fuzz.snap");
    let (fix, file) = persisted::mode(data);
    let mut bytes = file.to_vec();
    if fix {
        persisted::fix_snapshot(&mut bytes);
    }
    std::fs::write(&path, &bytes).expect("the snapshot written");
    match Engine::open_with_report(&path) {
        Err(e) => refused(&e, &path, bytes.len() as u64),
        Ok((mut e, report)) => {
            assert_eq!((report.replayed, report.torn_tail, report.stale_journal), (0, None, None), "a fresh journal");
            persisted::round_trip(&mut e, &dir);
        }
    }
}

fn refused(e: &Error, path: &Path, len: u64) {
    match e {
        Error::Corrupt { path: p, offset, .. } => {
            assert_eq!(p, path, "Corrupt names the snapshot: {e}");
            assert!(*offset <= len, "Corrupt at {offset}, past the file's {len} bytes: {e}");
        }
        Error::UnsupportedVersion { path: p, .. } => assert_eq!(p, path, "{e}"),
        Error::Io { .. } => {}
        other => panic!("a snapshot refused with {other:?}: not Corrupt, UnsupportedVersion or Io"),
    }
    let _ = e.to_string();
}

fn day(s: &str) -> Day {
    s.parse().expect("a day")
}

fn money(s: &str) -> Money {
    Money::parse(s).expect("an amount")
}

/// Small engines over every layer, by name: empty; keys and tags; everything (a removed
/// and a merged customer, a group, a hierarchy, an alias, expiring tags, attributes,
/// purchases before and after a refresh, a thresholds model, a segment plan, a rule tag,
/// the change feed with undrained events).
pub fn seed_engines() -> Vec<(&'static str, Engine)> {
    let empty = Engine::new();

    let mut tags = Engine::new();
    for (key, tag) in [("ann@example.com", "vip"), ("bob@example.com", "高消费"), ("cy", "vip")] {
        let c = tags.customer(key).unwrap();
        tags.tag(c, tag).unwrap();
    }

    let mut all = Engine::new();
    all.track_changes(true);
    all.define_exclusive_group("tier").unwrap();
    all.define_tag("coupon", TagKind::Behavior).unwrap();
    let ids: Vec<CustomerId> = ["ann", "bob", "cy", "dee", "eve"].iter().map(|k| all.customer(k).unwrap()).collect();
    all.customer_id_range(70_000..70_005).unwrap();
    all.tag(ids[0], "vip").unwrap();
    all.tag(ids[1], "sports/run").unwrap();
    all.tag(ids[2], "sports/bike").unwrap();
    all.tag(ids[0], "tier:gold").unwrap();
    all.tag(ids[1], "tier:silver").unwrap();
    all.tag_until(ids[2], "coupon", day("2024-08-01")).unwrap();
    let some: Audience = [70_001u32, 70_003].into_iter().map(CustomerId).collect();
    all.tag_all(&some, "高消费").unwrap();
    all.alias_tag("gold", "tier:gold").unwrap();
    all.set_attr(ids[0], "age", 31).unwrap();
    all.set_attr(ids[1], "age", -2).unwrap();
    all.set_attr(CustomerId(70_004), "积分", i64::MAX).unwrap();
    all.record_purchase(ids[0], day("2024-01-10"), money("49.90")).unwrap();
    all.record_purchase(ids[1], day("2024-03-01"), money("-5.00")).unwrap();
    all.record_purchase(ids[2], day("2024-05-20"), money("120")).unwrap();
    all.set_lifecycle(Lifecycle::new(20, 60, 200).unwrap());
    all.refresh(day("2024-06-30")).unwrap();
    all.record_purchases([Purchase { customer: ids[3], day: day("2024-07-02"), amount: money("3.50") }]).unwrap();
    let plan = SegmentPlan::new([("big", "vip AND tier:gold"), ("sporty", "sports")], "rest").unwrap();
    all.apply_plan("segment", &plan).unwrap();
    all.define_rule_tag("rule:sporty_vip", "vip OR sports/run").unwrap();
    all.merge_customers(ids[0], ids[4]).unwrap();
    all.remove_customer(ids[3]).unwrap();

    let mut models = Engine::new();
    let thresholds =
        RfmModel::thresholds([30, 90, 180, 365], [1, 2, 4, 8], [money("10"), money("50"), money("100"), money("500")]);
    models.set_rfm_model(thresholds.unwrap());
    for (i, key) in ["p", "q", "r"].iter().enumerate() {
        let c = models.customer(key).unwrap();
        models.record_purchase(c, day("2024-02-01").checked_add_days(i as i32 * 40).unwrap(), money("20")).unwrap();
    }
    models.refresh(day("2024-06-30")).unwrap();
    models.refresh(day("2024-07-30")).unwrap();

    vec![("empty", empty), ("tags", tags), ("all", all), ("models", models)]
}

/// The seeds: each of [`seed_engines`] saved, behind a first byte of 0 (checksums fixed up:
/// a no-op on a valid file).
pub fn seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    seed_engines()
        .into_iter()
        .map(|(name, e)| {
            let path = dir.join(format!("{name}.snap"));
            e.save(&path).unwrap();
            drop(Engine::open(&path).expect("a seed opens"));
            let mut seed = vec![0u8];
            seed.extend(std::fs::read(&path).unwrap());
            (name.to_owned(), seed)
        })
        .collect()
}
