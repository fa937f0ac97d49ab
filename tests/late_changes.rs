//! The late changes, each against a simple model:
//!
//! 1. `Engine::remove_customers` (batch erasure) equals removing the same live customers one
//!    by one, in everything a caller can observe and in the next refreshes' reports.
//! 2. `Engine::customer_id_range` equals a loop of `Engine::customer_id` (live set, next key
//!    id, return value), refusing a range with a keyed customer's id as a whole.
//! 3. `tag_pairs` / `tag_id_pairs` (the dense `0..n` fast path, the tag checked once per run)
//!    equal tagging pair by pair on a clone, and change nothing on error.
//! 4. Range predicates on narrow, medium and wide attributes (bottom-up and top-down walks,
//!    with and without a filter, under `NOT`) equal a scan of `attr()` values.
//! 5. `refresh` as of the same day with nothing new is a no-op; after a change it equals a
//!    fresh engine's refresh, with the transitions of the stage diff.
//! 6. `RfmGrid` grid and serde, `Day` from `i32` and its serde bounds, `Lifecycle::builder`,
//!    strict `Stage::from_str`, and the first history load scattered into the columns.
//!
//! Two tests fail on purpose, for a real bug: `segment_map_round_trips_through_its_grid` and
//! `a_segment_map_read_back_from_its_grid_changes_nothing_in_refresh` (the grid, which is the
//! serialized form, loses the order of the segment names, which `RfmGrid`'s `==` compares).
//!
//! Failure persistence is off so a failing run writes no files; `PROPTEST_CASES=n` runs longer.

use std::collections::{BTreeMap, BTreeSet};

use audience::{
    Audience, CmpOp, CustomerId, Day, Engine, Error, Lifecycle, Money, Query, RefreshReport, RfmGrid, RfmModel, Stage,
    TagId,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

type TestResult = Result<(), TestCaseError>;

// ================================================================== helpers

/// 2024-01-01, days since 1970-01-01.
const BASE: i32 = 19_723;

fn day(d: i32) -> Day {
    Day::from_days_since_epoch(BASE + d).expect("a test day")
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor).expect("a test amount")
}

fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// The live customer at position `i` (modulo), if any.
fn pick(e: &Engine, i: usize) -> Option<CustomerId> {
    let ids = e.customers().to_ids();
    (!ids.is_empty()).then(|| CustomerId(ids[i % ids.len()]))
}

/// Everything a caller can observe of an engine, in comparable form.
#[derive(Debug, PartialEq)]
struct Picture {
    customers: Vec<u32>,
    /// Each live customer's key.
    keys: Vec<(u32, Option<String>)>,
    /// Each known key's id.
    lookups: Vec<(String, Option<CustomerId>)>,
    keyed: usize,
    /// Non-empty tags by name, with their exact members (not descendants).
    tags: BTreeMap<String, Vec<u32>>,
    /// Attribute -> (customer, value).
    attrs: Vec<(String, Vec<(u32, i64)>)>,
    /// Customer -> (day, amount) in the order `purchases_of` gives.
    purchases: Vec<(u32, Vec<(i32, i64)>)>,
    purchase_count: u64,
    /// Customer -> stage and RFM figures as of the last refresh.
    models: Vec<(u32, Option<Stage>, String)>,
    last_refresh: Option<Day>,
}

fn picture(e: &Engine, keys: &[String]) -> Picture {
    let live: Vec<CustomerId> = e.customers().iter().collect();
    let mut tags: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for &c in &live {
        for t in e.tags_of(c).expect("live") {
            tags.entry(t.to_owned()).or_default().push(c.0);
        }
    }
    for t in e.tags() {
        assert_eq!(t.len, tags.get(t.name).map_or(0, |m| m.len() as u64), "tag {} length", t.name);
    }
    let mut attrs: Vec<(String, Vec<(u32, i64)>)> = e
        .attributes()
        .map(|(name, n)| {
            let vals: Vec<(u32, i64)> =
                live.iter().filter_map(|&c| Some((c.0, e.attr(c, name).expect("known")?))).collect();
            assert_eq!(n, vals.len() as u64, "attribute {name} length");
            (name.to_owned(), vals)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    attrs.sort();
    Picture {
        customers: live.iter().map(|c| c.0).collect(),
        keys: live.iter().map(|&c| (c.0, e.key_of(c).map(str::to_owned))).collect(),
        lookups: keys.iter().map(|k| (k.clone(), e.id_of(k))).collect(),
        keyed: e.stats().keyed_customers,
        tags,
        attrs,
        purchases: live
            .iter()
            .map(|&c| {
                let p = e.purchases_of(c).expect("live");
                (c.0, p.iter().map(|p| (p.day.days_since_epoch(), p.amount.minor())).collect())
            })
            .collect(),
        purchase_count: e.purchase_count(),
        models: live
            .iter()
            .map(|&c| (c.0, e.stage_of(c).expect("live"), format!("{:?}", e.rfm_of(c).expect("live"))))
            .collect(),
        last_refresh: e.last_refresh(),
    }
}

/// Every tag of the pool with its id, in id order.
fn tag_list(e: &Engine) -> Vec<(TagId, String)> {
    e.tags().map(|t| (t.id, t.name.to_owned())).collect()
}

/// As of, customers, scored, stage counts, segment counts.
type Summary = (Day, u64, u64, Vec<(Stage, u64)>, Vec<(String, u64)>);

/// The parts of a report that do not depend on how it was computed.
fn summary(r: &RefreshReport) -> Summary {
    (r.as_of, r.customers, r.scored, r.stages.clone(), r.segments.clone())
}

/// Transitions as (from, to) -> customers.
fn moves(r: &RefreshReport) -> BTreeMap<(Option<Stage>, Stage), Vec<u32>> {
    r.transitions
        .iter()
        .map(|t| {
            assert_eq!(t.count, t.audience.len());
            ((t.from, t.to), t.audience.to_ids())
        })
        .collect()
}

/// `after` is the same-day no-op refresh following `before`.
fn check_noop(before: &RefreshReport, after: &RefreshReport) -> TestResult {
    prop_assert!(after.transitions.is_empty(), "a no-op moves nobody: {:?}", after.transitions);
    prop_assert!(after.incremental);
    prop_assert_eq!(after.recomputed, 0);
    prop_assert_eq!(summary(after), summary(before));
    Ok(())
}

// ================================================================== 1. batch erasure

const TAGS: [&str; 7] = ["a", "b", "x/y", "x/z", "tier:gold", "tier:silver", "tier:bronze"];
const ATTRS: [&str; 2] = ["age", "score"];

#[derive(Clone, Debug)]
struct World {
    keyed: usize,
    dense: Vec<u32>,
    tags: Vec<(usize, usize)>,
    attrs: Vec<(usize, usize, i64)>,
    /// Purchases before the first refresh, between the two, and after the second (pending).
    buys: [Vec<(usize, i32, i64)>; 3],
    /// Removed one by one before the second refresh, and after the last purchases.
    removed: [Vec<usize>; 2],
}

fn world() -> impl Strategy<Value = World> {
    // A big first load, a few purchases next (the recent tier stays under an eighth of the
    // base, so it is not compacted), then pending ones.
    let buys = |n| prop::collection::vec((any::<usize>(), 0..150i32, -200..2_000i64), 0..n);
    (
        0..10usize,
        prop::collection::vec(prop_oneof![0..40u32, 1_000..1_010u32], 0..30),
        prop::collection::vec((any::<usize>(), 0..TAGS.len()), 0..60),
        prop::collection::vec((any::<usize>(), 0..ATTRS.len(), prop_oneof![0..100i64, any::<i64>()]), 0..40),
        (buys(120), buys(6), buys(25)),
        (prop::collection::vec(any::<usize>(), 0..4), prop::collection::vec(any::<usize>(), 0..4)),
    )
        .prop_map(|(keyed, dense, tags, attrs, (b0, b1, b2), (r0, r1))| World {
            keyed,
            dense,
            tags,
            attrs,
            buys: [b0, b1, b2],
            removed: [r0, r1],
        })
}

fn build(w: &World) -> (Engine, Vec<String>) {
    let mut e = Engine::new();
    e.define_exclusive_group("tier").unwrap();
    let keys: Vec<String> = (0..w.keyed).map(|i| format!("k{i}")).collect();
    for k in &keys {
        e.customer(k).unwrap();
    }
    for &d in &w.dense {
        let _ = e.customer_id(d); // a keyed customer's id is refused: fine
    }
    for &(c, t) in &w.tags {
        if let Some(c) = pick(&e, c) {
            e.tag(c, TAGS[t]).unwrap();
        }
    }
    for &(c, a, v) in &w.attrs {
        if let Some(c) = pick(&e, c) {
            e.set_attr(c, ATTRS[a], v).unwrap();
        }
    }
    let buy = |e: &mut Engine, list: &[(usize, i32, i64)]| {
        for &(c, d, m) in list {
            if let Some(c) = pick(e, c) {
                e.record_purchase(c, day(d), money(m)).unwrap();
            }
        }
    };
    let remove = |e: &mut Engine, list: &[usize]| {
        for &c in list {
            if let Some(c) = pick(e, c) {
                e.remove_customer(c).unwrap();
            }
        }
    };
    buy(&mut e, &w.buys[0]);
    e.refresh(day(60)).unwrap();
    buy(&mut e, &w.buys[1]);
    remove(&mut e, &w.removed[0]);
    e.refresh(day(90)).unwrap();
    buy(&mut e, &w.buys[2]);
    remove(&mut e, &w.removed[1]);
    (e, keys)
}

proptest! {
    #![proptest_config(config(40))]

    /// Batch erasure equals erasing the same live customers one by one; other ids are skipped.
    #[test]
    fn batch_erasure_equals_one_by_one(
        w in world(),
        gone in prop::collection::vec(prop_oneof![0..45u32, 995..1_012u32, Just(u32::MAX)], 0..40),
    ) {
        let (e, keys) = build(&w);
        let audience: Audience = gone.iter().map(|&c| CustomerId(c)).collect();
        let live_gone: Vec<CustomerId> = audience.iter().filter(|&c| e.is_customer(c)).collect();
        let (mut bulk, mut single) = (e.clone(), e.clone());
        prop_assert_eq!(bulk.remove_customers(&audience)?, live_gone.len() as u64);
        for &c in &live_gone {
            single.remove_customer(c)?;
        }
        prop_assert_eq!(tag_list(&bulk), tag_list(&single));
        prop_assert_eq!(picture(&bulk, &keys), picture(&single, &keys));
        // The others are untouched; the removed are gone everywhere.
        for c in e.customers().iter().filter(|c| !live_gone.contains(c)) {
            prop_assert_eq!(bulk.tags_of(c)?, e.tags_of(c)?);
            prop_assert_eq!(bulk.attrs_of(c)?, e.attrs_of(c)?);
            prop_assert_eq!(bulk.purchases_of(c)?, e.purchases_of(c)?);
            prop_assert_eq!(bulk.stage_of(c)?, e.stage_of(c)?);
        }
        for &c in &live_gone {
            prop_assert!(!bulk.is_customer(c));
            prop_assert_eq!(bulk.purchases_of(c), Err(Error::UnknownCustomer { id: c }));
            prop_assert!(!bulk.select(&Query::nobody().not())?.contains(c), "NOT no longer counts it");
        }
        prop_assert_eq!(
            bulk.purchase_count(),
            e.purchase_count() - live_gone.iter().map(|&c| e.purchases_of(c).unwrap().len() as u64).sum::<u64>()
        );
        prop_assert_eq!(bulk.clone().remove_customers(&audience)?, 0, "nobody left to remove");
        prop_assert_eq!(bulk.clone().customer("fresh"), single.clone().customer("fresh"));
        // The next refreshes: a later day (incremental), then an earlier one (full).
        for as_of in [day(120), day(90), day(30)] {
            let (a, b) = (bulk.refresh(as_of)?, single.refresh(as_of)?);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(picture(&bulk, &keys), picture(&single, &keys));
        }
        // Removed ids registered anew come back empty in both.
        for &c in live_gone.iter().take(2) {
            bulk.customer_id(c)?;
            single.customer_id(c)?;
            bulk.record_purchase(c, day(125), money(10))?;
            single.record_purchase(c, day(125), money(10))?;
        }
        prop_assert_eq!(bulk.refresh(day(130))?, single.refresh(day(130))?);
        prop_assert_eq!(picture(&bulk, &keys), picture(&single, &keys));
    }
}

// ================================================================== 2. dense id ranges

#[derive(Clone, Debug)]
enum Ids {
    Low(u32, u32),
    High(u32),
    /// start > end: an empty range.
    Backwards(u32, u32),
}

impl Ids {
    fn range(&self) -> std::ops::Range<u32> {
        match *self {
            Ids::Low(start, len) => start..start + len,
            Ids::High(k) => u32::MAX - k..u32::MAX,
            Ids::Backwards(a, b) => a + b + 1..a,
        }
    }
}

proptest! {
    #![proptest_config(config(150))]

    /// A range of dense ids equals registering them one by one; a keyed customer's id in it
    /// refuses the whole range (the loop's error), changing nothing.
    #[test]
    fn id_range_equals_a_loop_of_customer_id(
        keyed in 0..6usize,
        dense in prop::collection::vec(0..60u32, 0..10),
        removed in prop::collection::vec(any::<usize>(), 0..4),
        high in any::<bool>(),
        ids in prop_oneof![
            (0..60u32, 0..25u32).prop_map(|(s, l)| Ids::Low(s, l)),
            (0..6u32).prop_map(Ids::High),
            (0..30u32, 0..5u32).prop_map(|(a, b)| Ids::Backwards(a, b)),
        ],
    ) {
        let mut e = Engine::new();
        let mut keys: Vec<String> = (0..keyed).map(|i| format!("k{i}")).collect();
        for k in &keys {
            e.customer(k)?;
        }
        for &d in &dense {
            let _ = e.customer_id(d);
        }
        if high {
            // Ids near the top, and a keyed customer above them.
            e.customer_id(u32::MAX - 5)?;
            keys.push("top".into());
            e.customer("top")?;
        }
        for &r in &removed {
            if let Some(c) = pick(&e, r) {
                e.remove_customer(c)?;
            }
        }
        let range = ids.range();
        let mut by_range = e.clone();
        let mut by_loop = e.clone();
        let looped: Result<u64, Error> = range.clone().try_fold(0, |n, i| {
            let was = by_loop.is_customer(CustomerId(i));
            by_loop.customer_id(i).map(|_| n + u64::from(!was))
        });
        match looped {
            Ok(n) => {
                prop_assert_eq!(by_range.customer_id_range(range.clone()), Ok(n));
                prop_assert_eq!(by_range.customers(), by_loop.customers());
                prop_assert_eq!(picture(&by_range, &keys), picture(&by_loop, &keys));
            }
            Err(err) => {
                let taken = matches!(err, Error::CustomerIdTaken { .. });
                prop_assert!(taken, "{}", err);
                prop_assert_eq!(by_range.customer_id_range(range.clone()), Err(err));
                prop_assert_eq!(picture(&by_range, &keys), picture(&e, &keys), "nothing changed");
                by_loop = e.clone(); // the loop registered the ids before the keyed one
            }
        }
        // The next key ids agree (up to exhaustion at u32::MAX).
        for k in ["next1", "next2"] {
            prop_assert_eq!(by_range.customer(k), by_loop.customer(k));
        }
        prop_assert_eq!(by_range.customer_id_range(range.clone()).is_ok(), by_loop.customer_id_range(range).is_ok());
    }
}

#[test]
fn id_ranges_at_the_top_of_the_id_space() {
    let mut e = Engine::new();
    assert_eq!(e.customer_id_range(u32::MAX - 3..u32::MAX).unwrap(), 3);
    assert!(e.is_customer(CustomerId(u32::MAX - 1)));
    assert!(!e.is_customer(CustomerId(u32::MAX)), "the end is excluded");
    assert_eq!(e.customer_id_range(u32::MAX..u32::MAX).unwrap(), 0);
    assert_eq!(e.customer("last").unwrap(), CustomerId(u32::MAX));
    assert_eq!(e.customer("one too many"), Err(Error::CustomerIdsExhausted));
    assert_eq!(
        e.customer_id_range(u32::MAX - 1..u32::MAX).unwrap(),
        0,
        "already live, and the keyed u32::MAX is outside the range"
    );
    assert_eq!(
        e.customer_id_range(0..u32::MAX).map_err(|e| matches!(e, Error::CustomerIdTaken { .. })),
        Ok(u64::from(u32::MAX) - 3),
        "the whole space but u32::MAX, with no keyed customer in it"
    );
    assert_eq!(e.customer_count(), u64::from(u32::MAX) + 1);
}

// ================================================================== 3. bulk tagging

const NAMES: [&str; 14] =
    ["a", "b", "g/h", "tier:1", "tier:2", "new", "new/leaf", "tier:3", " a ", "B", "", "stage:new", "g/", "gone"];
/// `NAMES[..VALID]` are accepted names (some of them new); the rest are mostly errors.
const VALID: usize = 8;

/// A name index: mostly valid names.
fn name_index() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..VALID, 1 => 0..NAMES.len()]
}

/// Customers `0..n`, dense (0), with holes (1), with a customer beyond `n` (2), with a
/// keyed customer appended (3, still dense), or with exactly one hole (4); tags `a`, `b`, `g/h`, the group `tier`, the
/// derived groups (a refresh), and a deleted tag `gone`.
fn tagging_engine(n: u32, variant: u8, holes: &[u32]) -> Engine {
    let mut e = Engine::new();
    e.customer_id_range(0..n).unwrap();
    match variant {
        1 => {
            for &h in holes {
                let _ = e.remove_customer(CustomerId(h % n.max(1)));
            }
        }
        2 => {
            e.customer_id(n + 2).unwrap();
        }
        3 => {
            e.customer("keyed").unwrap();
        }
        4 if n > 0 => {
            e.remove_customer(CustomerId(holes[0] % n)).unwrap();
        }
        _ => {}
    }
    e.define_exclusive_group("tier").unwrap();
    for name in ["a", "b", "g/h", "tier:1", "tier:2", "gone"] {
        e.ensure_tag(name).unwrap();
    }
    for c in e.customers().iter().step_by(3) {
        e.tag(c, "tier:1").unwrap();
        e.tag(c, "b").unwrap();
    }
    e.refresh(day(0)).unwrap(); // creates the derived groups (stage:new, r:1, ...)
    e.delete_tag("gone").unwrap();
    e
}

/// Every (customer, tag name) assignment.
fn assignments(e: &Engine) -> BTreeSet<(u32, String)> {
    e.customers().iter().flat_map(|c| e.tags_of(c).unwrap().into_iter().map(move |t| (c.0, t.to_owned()))).collect()
}

/// Applies `pairs` one by one with `Engine::tag` on a clone, checking each name before its
/// customer as the bulk load does: the end state and the number of new assignments, or the
/// first error.
fn tag_one_by_one(e: &Engine, pairs: &[(CustomerId, &str)]) -> Result<(Engine, u64), Error> {
    let mut m = e.clone();
    for &(c, name) in pairs {
        m.clone().ensure_tag(name)?;
        m.tag(c, name)?;
    }
    let added = assignments(&m).difference(&assignments(e)).count() as u64;
    Ok((m, added))
}

proptest! {
    #![proptest_config(config(120))]

    /// tag_pairs equals tag calls pair by pair, whatever the live set looks like; all or nothing.
    #[test]
    fn tag_pairs_equal_tagging_one_by_one(
        n in 0..40u32,
        variant in 0..5u8,
        holes in prop::collection::vec(any::<u32>(), 1..6),
        pairs in prop::collection::vec((0..44u32, name_index()), 0..50),
        sorted in any::<bool>(),
    ) {
        let e = tagging_engine(n, variant, &holes);
        let mut pairs: Vec<(CustomerId, &str)> = pairs.iter().map(|&(c, t)| (CustomerId(c), NAMES[t])).collect();
        if sorted {
            pairs.sort_by_key(|&(c, t)| (t, c));
        }
        let mut bulk = e.clone();
        let got = bulk.tag_pairs(pairs.iter().copied());
        match tag_one_by_one(&e, &pairs) {
            Ok((want, added)) => {
                prop_assert_eq!(got, Ok(added));
                prop_assert_eq!(tag_list(&bulk), tag_list(&want));
                prop_assert_eq!(picture(&bulk, &[]), picture(&want, &[]));
            }
            Err(err) => {
                prop_assert_eq!(got, Err(err));
                prop_assert_eq!(tag_list(&bulk), tag_list(&e), "no tag created");
                prop_assert_eq!(picture(&bulk, &[]), picture(&e, &[]), "nothing applied");
            }
        }
    }

    /// tag_id_pairs equals tag calls pair by pair; unknown, deleted and derived ids are refused
    /// wherever they come in a run.
    #[test]
    fn tag_id_pairs_equal_tagging_one_by_one(
        n in 0..40u32,
        variant in 0..5u8,
        holes in prop::collection::vec(any::<u32>(), 1..6),
        pairs in prop::collection::vec((0..44u32, prop_oneof![12 => 0..6usize, 1 => 6..9usize]), 0..50),
        sorted in any::<bool>(),
    ) {
        let e = tagging_engine(n, variant, &holes);
        let gone = TagId(e.tags().map(|t| t.id.0).max().unwrap() + 1); // past every slot
        let deleted = (0..gone.0).map(TagId).find(|&t| e.tag_name(t).is_none()).expect("`gone` was deleted");
        let ids: [TagId; 9] = [
            e.tag_id("a").unwrap(),
            e.tag_id("b").unwrap(),
            e.tag_id("g/h").unwrap(),
            e.tag_id("g").unwrap(),
            e.tag_id("tier:1").unwrap(),
            e.tag_id("tier:2").unwrap(),
            deleted,
            TagId(gone.0 + 1_000),
            e.tag_id("stage:new").unwrap(),
        ];
        let mut pairs: Vec<(CustomerId, TagId)> = pairs.iter().map(|&(c, t)| (CustomerId(c), ids[t])).collect();
        if sorted {
            pairs.sort_by_key(|&(c, t)| (t, c));
        }
        // The model: the tag is checked first, then the customer, then `tag` by name.
        let model = || -> Result<(Engine, u64), Error> {
            let mut named = Vec::new();
            for &(c, t) in &pairs {
                let name = e.tag_name(t).ok_or(Error::UnknownTagId { id: t })?;
                e.clone().ensure_tag(name)?; // a derived name is refused here
                if !e.is_customer(c) {
                    return Err(Error::UnknownCustomer { id: c });
                }
                named.push((c, name));
            }
            tag_one_by_one(&e, &named)
        };
        let mut bulk = e.clone();
        let got = bulk.tag_id_pairs(pairs.iter().copied());
        match model() {
            Ok((want, added)) => {
                prop_assert_eq!(got, Ok(added));
                prop_assert_eq!(tag_list(&bulk), tag_list(&want));
                prop_assert_eq!(picture(&bulk, &[]), picture(&want, &[]));
            }
            Err(err) => {
                prop_assert_eq!(got, Err(err));
                prop_assert_eq!(picture(&bulk, &[]), picture(&e, &[]), "nothing applied");
            }
        }
    }
}

#[test]
fn a_dense_bulk_load_checks_customers_past_the_dense_prefix() {
    let mut e = Engine::new();
    let n = 200_000;
    e.customer_id_range(0..n).unwrap();
    let t = e.ensure_tag("t").unwrap();
    let before = e.stats();
    // The one bad customer comes last, after a long valid run of the same tag.
    let pairs = (0..n).map(|c| (CustomerId(c), t)).chain([(CustomerId(n), t)]);
    assert_eq!(e.tag_id_pairs(pairs), Err(Error::UnknownCustomer { id: CustomerId(n) }));
    assert_eq!(e.stats(), before, "nothing applied");
    // A hole at the end of the prefix: the live set is 0..n-1, so n-1 is refused.
    e.remove_customer(CustomerId(n - 1)).unwrap();
    assert_eq!(
        e.tag_id_pairs([(CustomerId(0), t), (CustomerId(n - 1), t)]),
        Err(Error::UnknownCustomer { id: CustomerId(n - 1) })
    );
    assert_eq!(
        e.tag_pairs([(CustomerId(5), "t"), (CustomerId(n - 1), "t")]),
        Err(Error::UnknownCustomer { id: CustomerId(n - 1) })
    );
    // A hole in the middle.
    e.remove_customer(CustomerId(7)).unwrap();
    assert_eq!(
        e.tag_pairs([(CustomerId(5), "t"), (CustomerId(7), "t")]),
        Err(Error::UnknownCustomer { id: CustomerId(7) })
    );
    assert_eq!(e.count("t").unwrap(), 0);
    assert_eq!(e.tag_id_pairs((0..n - 1).filter(|&c| c != 7).map(|c| (CustomerId(c), t))).unwrap(), u64::from(n) - 2);
    assert_eq!(e.count("t").unwrap(), u64::from(n) - 2);
    assert_eq!(e.count("NOT t").unwrap(), 0);
}

// ================================================================== 4. range predicates

/// Literals worth probing for an attribute's values: each value and its neighbours (a few),
/// the extremes and just outside them, the ends of the offset range the index would have
/// with its base at the minimum (`min + 2^w - 1` and the powers of two below), and the i64
/// extremes.
fn literals(values: &[i64]) -> Vec<i64> {
    let mut out: BTreeSet<i64> = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX].into();
    if let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) {
        let span = (i128::from(max) - i128::from(min)) as u128;
        let w = 128 - span.leading_zeros();
        for k in [w.saturating_sub(1), w, w + 1] {
            for d in [-1i128, 0, 1] {
                let v = i128::from(min) + (1i128 << k.min(64)) - 1 + d;
                if let Ok(v) = i64::try_from(v) {
                    out.insert(v);
                }
            }
        }
        for v in [min, max] {
            out.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
        for &v in values.iter().step_by(values.len().div_ceil(5).max(1)) {
            out.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
    }
    out.into_iter().collect()
}

/// Checks `attr op lit` for every op and literal, alone, inside `AND`s with tags (the
/// filtered walks), as the subtracted side of `AND NOT`, under `NOT`, and in an `OR NOT`,
/// with `select` and `count`, against `model` (customer -> value) and the tag sets `t`, `u`.
fn check_ranges(
    e: &Engine,
    name: &str,
    model: &BTreeMap<u32, i64>,
    t: &BTreeSet<u32>,
    u: &BTreeSet<u32>,
) -> TestResult {
    let live: BTreeSet<u32> = e.customers().to_ids().into_iter().collect();
    for c in &live {
        prop_assert_eq!(e.attr(CustomerId(*c), name)?, model.get(c).copied(), "{} of {}", name, c);
    }
    let values: Vec<i64> = model.values().copied().collect();
    for lit in literals(&values) {
        for op in CmpOp::ALL {
            let want: BTreeSet<u32> = model.iter().filter(|&(_, &v)| op.holds(v, lit)).map(|(&c, _)| c).collect();
            let cmp = || Query::compare(name, op, lit);
            let and = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| a.intersection(b).copied().collect::<BTreeSet<u32>>();
            let minus = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| a.difference(b).copied().collect::<BTreeSet<u32>>();
            let t_and = and(t, &want);
            let cases: [(Query, BTreeSet<u32>); 8] = [
                (cmp(), want.clone()),
                (Query::tag("t").and(cmp()), t_and.clone()),
                (cmp().and(Query::tag("t")).and(Query::tag("u")), and(&t_and, u)),
                (Query::tag("t").and_not(cmp()), minus(t, &want)),
                (Query::tag("t").and(Query::tag("u")).and_not(cmp()), minus(&and(t, u), &want)),
                (cmp().not(), minus(&live, &want)),
                (Query::tag("t").and(cmp()).not(), minus(&live, &t_and)),
                (Query::tag("t").or(cmp().not()), t.union(&minus(&live, &want)).copied().collect()),
            ];
            for (q, want) in cases {
                let got: BTreeSet<u32> = e.select(&q)?.to_ids().into_iter().collect();
                prop_assert_eq!(&got, &want, "select {}", q);
                prop_assert_eq!(e.count(&q)?, want.len() as u64, "count {}", q);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct RangeWorld {
    n: u32,
    holes: Vec<u32>,
    t: Vec<u32>,
    u: Vec<u32>,
    /// (customer, attribute, value): narrow 0..100, medium around 13 bits, wide any i64.
    values: Vec<(u32, usize, i64)>,
    /// Load with `set_attrs` (the base at the minimum) or one `set_attr` at a time.
    bulk: bool,
    unset: Vec<(u32, usize)>,
    buys: Vec<(u32, i32, i64)>,
}

const RANGE_ATTRS: [&str; 3] = ["narrow", "medium", "wide"];

fn range_world() -> impl Strategy<Value = RangeWorld> {
    let value = (0..3usize).prop_flat_map(|a| {
        let v = match a {
            0 => (0..100i64).boxed(),
            1 => (-3_000..6_000i64).boxed(),
            _ => prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -3..3i64].boxed(),
        };
        (Just(a), v)
    });
    (
        1..200u32,
        prop::collection::vec(any::<u32>(), 0..12),
        prop::collection::vec(any::<u32>(), 0..120),
        prop::collection::vec(any::<u32>(), 0..120),
        prop::collection::vec((any::<u32>(), value), 0..200),
        any::<bool>(),
        prop::collection::vec((any::<u32>(), 0..3usize), 0..8),
        prop::collection::vec((any::<u32>(), 0..300i32, -100..5_000i64), 0..40),
    )
        .prop_map(|(n, holes, t, u, values, bulk, unset, buys)| RangeWorld {
            n,
            holes: holes.into_iter().map(|h| h % n).collect(),
            t: t.into_iter().map(|c| c % n).collect(),
            u: u.into_iter().map(|c| c % n).collect(),
            values: values.into_iter().map(|(c, (a, v))| (c % n, a, v)).collect(),
            bulk,
            unset: unset.into_iter().map(|(c, a)| (c % n, a)).collect(),
            buys: buys.into_iter().map(|(c, d, m)| (c % n, d, m)).collect(),
        })
}

proptest! {
    #![proptest_config(config(24))]

    /// Every comparison, in every query position, equals a scan of the values.
    #[test]
    fn range_predicates_equal_a_scan(w in range_world()) {
        let mut e = Engine::new();
        e.customer_id_range(0..w.n)?;
        let mut models: [BTreeMap<u32, i64>; 3] = Default::default();
        if w.bulk {
            e.set_attrs(w.values.iter().map(|&(c, a, v)| (CustomerId(c), RANGE_ATTRS[a], v)))?;
        } else {
            for &(c, a, v) in &w.values {
                e.set_attr(CustomerId(c), RANGE_ATTRS[a], v)?;
            }
        }
        for &(c, a, v) in &w.values {
            models[a].insert(c, v);
        }
        for &(c, a) in &w.unset {
            if e.attributes().any(|(name, _)| name == RANGE_ATTRS[a]) {
                e.unset_attr(CustomerId(c), RANGE_ATTRS[a])?;
                models[a].remove(&c);
            }
        }
        for name in RANGE_ATTRS {
            e.define_attr(name)?; // so that an attribute nobody has still resolves
        }
        let (mut t, mut u) = (BTreeSet::new(), BTreeSet::new());
        for &c in &w.t {
            e.tag(CustomerId(c), "t")?;
            t.insert(c);
        }
        for &c in &w.u {
            e.tag(CustomerId(c), "u")?;
            u.insert(c);
        }
        e.ensure_tag("t")?;
        e.ensure_tag("u")?;
        for &(c, d, m) in &w.buys {
            e.record_purchase(CustomerId(c), day(d), money(m))?;
        }
        e.refresh(day(200))?;
        // Holes: half one by one, half as a batch.
        let (one, batch) = w.holes.split_at(w.holes.len() / 2);
        for &h in one {
            if e.is_customer(CustomerId(h)) {
                e.remove_customer(CustomerId(h))?;
            }
        }
        e.remove_customers(&batch.iter().map(|&c| CustomerId(c)).collect())?;
        for &h in &w.holes {
            t.remove(&h);
            u.remove(&h);
            for m in &mut models {
                m.remove(&h);
            }
        }
        for (name, model) in RANGE_ATTRS.iter().zip(&models) {
            check_ranges(&e, name, model, &t, &u)?;
        }
        // The derived attributes (recency_days is a view: as_of minus the stored day).
        for name in ["recency_days", "frequency", "monetary"] {
            let model: BTreeMap<u32, i64> =
                e.customers().iter().filter_map(|c| Some((c.0, e.attr(c, name).ok()??))).collect();
            check_ranges(&e, name, &model, &t, &u)?;
        }
    }
}

#[test]
fn ranges_at_the_edges_of_an_index() {
    // Values exactly at the base (offset 0) and at the maximum offset of 7 slices (127).
    let mut e = Engine::new();
    e.customer_id_range(0..4).unwrap();
    e.set_attrs([(CustomerId(0), "v", 10), (CustomerId(1), "v", 137), (CustomerId(2), "v", 50)]).unwrap();
    e.tag(CustomerId(0), "t").unwrap();
    e.tag(CustomerId(1), "t").unwrap();
    e.tag(CustomerId(3), "t").unwrap();
    let count = |q: &str| e.count(q).unwrap();
    for (q, n) in [
        ("v >= 10", 3),
        ("v > 137", 0),
        ("v <= 137", 3),
        ("v < 10", 0),
        ("v >= 138", 0),
        ("v <= 9", 0),
        ("v > 9", 3),
        ("v < 138", 3),
        ("t AND v >= 10", 2),
        ("t AND v > 136", 1),
        ("t AND v <= 137", 2),
        ("t AND v < 137", 1),
        ("t AND NOT v > 10", 2),
        ("NOT v <= 137", 1),
        ("NOT v != 137", 2), // 1 (137) and 3 (no value)
        ("t AND v = 137", 1),
        ("t AND v != 10", 1),
    ] {
        assert_eq!(count(q), n, "{q}");
    }
    // A wide index (64 slices) at the i64 extremes.
    let mut w = Engine::new();
    w.customer_id_range(0..3).unwrap();
    w.set_attrs([(CustomerId(0), "x", i64::MIN), (CustomerId(1), "x", i64::MAX), (CustomerId(2), "x", 0)]).unwrap();
    w.tag(CustomerId(1), "t").unwrap();
    w.tag(CustomerId(0), "t").unwrap();
    for op in CmpOp::ALL {
        for lit in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let want = [i64::MIN, i64::MAX, 0].iter().filter(|&&v| op.holds(v, lit)).count() as u64;
            let q = Query::compare("x", op, lit);
            assert_eq!(w.count(&q).unwrap(), want, "{q}");
            let want_t = [i64::MIN, i64::MAX].iter().filter(|&&v| op.holds(v, lit)).count() as u64;
            assert_eq!(w.count(&Query::tag("t").and(q.clone())).unwrap(), want_t, "t AND {q}");
        }
    }
}

// ================================================================== 5. the same-day refresh

/// An action on an engine, replayable on a fresh one.
#[derive(Clone, Debug)]
enum Act {
    Key(String),
    Dense(u32),
    Range(std::ops::Range<u32>),
    Buy(CustomerId, Day, Money),
    Remove(CustomerId),
    RemoveAll(Audience),
    Rfm(RfmModel),
    Life(Lifecycle),
    Attr(CustomerId, i64),
    Tag(CustomerId, &'static str),
}

fn apply(e: &mut Engine, a: &Act) -> Result<(), Error> {
    match a {
        Act::Key(k) => e.customer(k).map(drop),
        Act::Dense(id) => e.customer_id(*id).map(drop),
        Act::Range(r) => e.customer_id_range(r.clone()).map(drop),
        Act::Buy(c, d, m) => e.record_purchase(*c, *d, *m),
        Act::Remove(c) => e.remove_customer(*c),
        Act::RemoveAll(a) => e.remove_customers(a).map(drop),
        Act::Rfm(m) => {
            e.set_rfm_model(m.clone());
            Ok(())
        }
        Act::Life(l) => {
            e.set_lifecycle(*l);
            Ok(())
        }
        Act::Attr(c, v) => e.set_attr(*c, "score", *v).map(drop),
        Act::Tag(c, t) => e.tag(*c, t).map(drop),
    }
}

fn rfm_model(k: u8) -> RfmModel {
    match k % 3 {
        0 => RfmModel::default(),
        1 => RfmModel::thresholds([7, 30, 60, 90], [2, 3, 4, 6], [money(100), money(500), money(1_000), money(3_000)])
            .unwrap(),
        _ => {
            let mut grid = [["rest"; 5]; 5];
            grid[4] = ["fresh", "fresh", "top", "top", "top"];
            RfmModel::default().with_segments(RfmGrid::from_grid(grid).unwrap())
        }
    }
}

fn lifecycle(k: u8) -> Lifecycle {
    match k % 4 {
        0 => Lifecycle::default(),
        1 => Lifecycle::new(14, 45, 90).unwrap(),
        2 => Lifecycle::builder().new_days(10).build().unwrap(), // the churn window kept
        _ => Lifecycle::new(60, 120, 365).unwrap(),
    }
}

/// A change between two refreshes as of the same day.
#[derive(Clone, Debug)]
enum Change {
    Buy(usize, i32, i64),
    Remove(usize),
    RemoveAll(Vec<usize>),
    /// Removed and registered anew by id: the same live set.
    Reborn(usize),
    NewKey,
    NewDense(u32),
    Range(u32, u32),
    Rfm(u8),
    Life(u8),
    Attr(usize, i64),
    Tag(usize),
    FailedBulk,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (any::<usize>(), 0..130i32, -50..900i64).prop_map(|(c, d, m)| Change::Buy(c, d, m)),
        2 => any::<usize>().prop_map(Change::Remove),
        1 => prop::collection::vec(any::<usize>(), 0..4).prop_map(Change::RemoveAll),
        1 => any::<usize>().prop_map(Change::Reborn),
        1 => Just(Change::NewKey),
        1 => (0..70u32).prop_map(Change::NewDense),
        1 => (0..70u32, 0..8u32).prop_map(|(s, l)| Change::Range(s, l)),
        1 => any::<u8>().prop_map(Change::Rfm),
        1 => any::<u8>().prop_map(Change::Life),
        1 => (any::<usize>(), any::<i64>()).prop_map(|(c, v)| Change::Attr(c, v)),
        1 => any::<usize>().prop_map(Change::Tag),
        1 => Just(Change::FailedBulk),
    ]
}

const AS_OF: i32 = 100;

proptest! {
    #![proptest_config(config(60))]

    /// A same-day refresh with nothing new is a no-op; after changes it equals a fresh
    /// engine's refresh, and its transitions are the stage diff.
    #[test]
    fn same_day_refresh_is_a_no_op_until_something_changes(
        keyed in 1..25usize,
        dense in prop::collection::vec(0..50u32, 0..8),
        buys in prop::collection::vec((any::<usize>(), 0..130i32, -50..900i64), 0..60),
        models in (any::<u8>(), any::<u8>()),
        changes in prop::collection::vec(change(), 0..5),
    ) {
        let mut e = Engine::new();
        let mut log: Vec<Act> = Vec::new();
        let mut act = |e: &mut Engine, a: Act| -> Result<(), Error> {
            apply(e, &a)?;
            log.push(a);
            Ok(())
        };
        for i in 0..keyed {
            act(&mut e, Act::Key(format!("k{i}")))?;
        }
        for &d in &dense {
            let _ = act(&mut e, Act::Dense(d));
        }
        for &(c, d, m) in &buys {
            let c = pick(&e, c).expect("customers");
            act(&mut e, Act::Buy(c, day(d), money(m)))?;
        }
        if let Some(c) = pick(&e, 3) {
            act(&mut e, Act::Tag(c, "vip"))?;
        }
        act(&mut e, Act::Rfm(rfm_model(models.0)))?;
        act(&mut e, Act::Life(lifecycle(models.1)))?;
        let r1 = e.refresh(day(AS_OF))?;
        let pic1 = picture(&e, &[]);
        let r2 = e.refresh(day(AS_OF))?;
        check_noop(&r1, &r2)?;
        prop_assert_eq!(picture(&e, &[]), pic1, "a no-op changes nothing");

        // Each customer's stage now, and who leaves (or comes back) meanwhile.
        let before: BTreeMap<u32, Stage> =
            e.customers().iter().map(|c| (c.0, e.stage_of(c).unwrap().expect("refreshed"))).collect();
        let mut gone: BTreeSet<u32> = BTreeSet::new();
        let mut fresh_keys = 0;
        for ch in &changes {
            match *ch {
                Change::Buy(c, d, m) => {
                    if let Some(c) = pick(&e, c) {
                        act(&mut e, Act::Buy(c, day(d), money(m)))?;
                    }
                }
                Change::Remove(c) => {
                    if let Some(c) = pick(&e, c) {
                        act(&mut e, Act::Remove(c))?;
                        gone.insert(c.0);
                    }
                }
                Change::RemoveAll(ref cs) => {
                    let a: Audience = cs.iter().filter_map(|&c| pick(&e, c)).collect();
                    gone.extend(a.to_ids());
                    act(&mut e, Act::RemoveAll(a))?;
                }
                Change::Reborn(c) => {
                    if let Some(c) = pick(&e, c) {
                        act(&mut e, Act::Remove(c))?;
                        act(&mut e, Act::Dense(c.0))?;
                        gone.insert(c.0);
                    }
                }
                Change::NewKey => {
                    fresh_keys += 1;
                    act(&mut e, Act::Key(format!("new{fresh_keys}")))?;
                }
                Change::NewDense(id) => {
                    let _ = act(&mut e, Act::Dense(id));
                }
                Change::Range(s, l) => {
                    let _ = act(&mut e, Act::Range(s..s + l));
                }
                Change::Rfm(k) => act(&mut e, Act::Rfm(rfm_model(k)))?,
                Change::Life(k) => act(&mut e, Act::Life(lifecycle(k)))?,
                Change::Attr(c, v) => {
                    if let Some(c) = pick(&e, c) {
                        act(&mut e, Act::Attr(c, v))?;
                    }
                }
                Change::Tag(c) => {
                    if let Some(c) = pick(&e, c) {
                        act(&mut e, Act::Tag(c, "vip"))?;
                    }
                }
                Change::FailedBulk => {
                    let stranger = (0..).map(CustomerId).find(|&c| !e.is_customer(c)).unwrap();
                    let any = pick(&e, 0).unwrap_or(stranger);
                    let purchases = [(any, day(5), money(1)), (stranger, day(5), money(1))];
                    prop_assert!(e.record_purchases(purchases).is_err(), "all or nothing");
                }
            }
        }
        let r3 = e.refresh(day(AS_OF))?;
        let mut fresh = Engine::new();
        for a in &log {
            apply(&mut fresh, a)?;
        }
        let f = fresh.refresh(day(AS_OF))?;
        prop_assert_eq!(summary(&r3), summary(&f));
        prop_assert_eq!(picture(&e, &[]), picture(&fresh, &[]));
        // Transitions: the stage diff (customers new since, or removed and registered anew,
        // move from no stage).
        let mut want: BTreeMap<(Option<Stage>, Stage), Vec<u32>> = BTreeMap::new();
        for c in e.customers().iter() {
            let from = before.get(&c.0).copied().filter(|_| !gone.contains(&c.0));
            let to = e.stage_of(c)?.expect("refreshed");
            if from != Some(to) {
                want.entry((from, to)).or_default().push(c.0);
            }
        }
        prop_assert_eq!(moves(&r3), want);
        let r4 = e.refresh(day(AS_OF))?;
        check_noop(&r3, &r4)?;
    }
}

#[test]
fn each_kind_of_change_makes_the_same_day_refresh_recompute() {
    let setup = || {
        let mut e = Engine::new();
        for k in 0..6 {
            let c = e.customer(&format!("k{k}")).unwrap();
            e.record_purchase(c, day(10 * k), money(100 + i64::from(k))).unwrap();
        }
        e.refresh(day(AS_OF)).unwrap();
        e
    };
    type Edit = fn(&mut Engine);
    let changes: [(&str, Edit); 8] = [
        ("record_purchase", |e: &mut Engine| e.record_purchase(CustomerId(0), day(AS_OF), money(5)).unwrap()),
        ("remove_customer", |e: &mut Engine| e.remove_customer(CustomerId(5)).unwrap()),
        ("remove_customers", |e: &mut Engine| {
            e.remove_customers(&[CustomerId(1)].into_iter().collect()).unwrap();
        }),
        ("remove_customer, then customer_id", |e: &mut Engine| {
            e.remove_customer(CustomerId(2)).unwrap();
            e.customer_id(2).unwrap(); // the same live set, a customer with nothing
        }),
        ("customer", |e: &mut Engine| {
            e.customer("newcomer").unwrap();
        }),
        ("customer_id_range", |e: &mut Engine| {
            e.customer_id_range(40..42).unwrap();
        }),
        ("set_rfm_model", |e: &mut Engine| e.set_rfm_model(rfm_model(2))),
        ("set_lifecycle", |e: &mut Engine| e.set_lifecycle(lifecycle(1))),
    ];
    for (what, change) in changes {
        let mut e = setup();
        change(&mut e);
        let got = e.refresh(day(AS_OF)).unwrap();
        let mut fresh = Engine::new();
        for k in 0..6 {
            let c = fresh.customer(&format!("k{k}")).unwrap();
            fresh.record_purchase(c, day(10 * k), money(100 + i64::from(k))).unwrap();
        }
        change(&mut fresh);
        let want = fresh.refresh(day(AS_OF)).unwrap();
        assert_eq!(summary(&got), summary(&want), "{what}");
        assert_eq!(picture(&e, &[]), picture(&fresh, &[]), "{what}");
    }
}

// ================================================================== 6. grids, days, windows, stages, the first load

#[test]
fn segment_map_round_trips_through_its_grid() {
    // BUG (kept failing on purpose): the grid, the map's serialized form, loses the order of
    // the names (`names()`, the report's segment order), which `==` compares: the default map
    // read back from its own grid is not equal to it, so a configuration round trip makes
    // `refresh` reset every segment tag, reorder `RefreshReport::segments`, and defeats the
    // same-day no-op.
    let custom = RfmGrid::new([("best", 4..=5, 4..=5), ("rest", 1..=3, 1..=5), ("rest", 4..=5, 1..=3)]).unwrap();
    for map in [custom, RfmGrid::default()] {
        let grid: [[String; 5]; 5] = map.clone().into();
        let back = RfmGrid::try_from(grid).unwrap();
        assert_eq!(back.grid(), map.grid());
        assert_eq!(
            back,
            map,
            "names {:?} read back as {:?}",
            map.names().collect::<Vec<_>>(),
            back.names().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_segment_map_read_back_from_its_grid_changes_nothing_in_refresh() {
    // The consequence of the bug above, through the public API (kept failing on purpose).
    let mut e = Engine::new();
    for k in 0..20 {
        let c = e.customer(&format!("k{k}")).unwrap();
        e.record_purchase(c, day(k * 7 % 50), money(100 + i64::from(k) * 13)).unwrap();
    }
    let r1 = e.refresh(day(60)).unwrap();
    let grid: [[String; 5]; 5] = RfmGrid::default().into();
    e.set_rfm_model(RfmModel::default().with_segments(RfmGrid::try_from(grid).unwrap()));
    assert_eq!(*e.rfm_model(), RfmModel::default(), "the same model");
    let r2 = e.refresh(day(60)).unwrap();
    assert_eq!(r2.segments, r1.segments, "the same map, the same report");
}

#[test]
fn segment_map_grids_validate_like_new() {
    // Serialization is the grid of names; reading validates it.
    let map = RfmGrid::default();
    let grid: [[String; 5]; 5] = map.clone().into();
    assert_eq!(grid[4][4], "champions");
    assert_eq!(grid[0][0], "hibernating");
    assert_eq!(RfmGrid::from_grid(map.grid()).unwrap().grid(), map.grid());
    let named = |f: &dyn Fn(&mut [[String; 5]; 5])| {
        let mut g: [[String; 5]; 5] = std::array::from_fn(|_| std::array::from_fn(|_| "x".to_owned()));
        f(&mut g);
        RfmGrid::try_from(g)
    };
    assert!(named(&|_| {}).is_ok());
    assert_eq!(named(&|g| g[2][3] = " y ".into()).unwrap().segment(3, 4), Some("y"), "trimmed as by new");
    for bad in ["", "  ", "a:b", "a/b", "tab\there"] {
        let err = named(&|g| g[1][1] = bad.into()).unwrap_err();
        assert!(matches!(err, Error::InvalidModel { .. }), "{bad:?}: {err}");
    }
    // Through serde (the grid as nested sequences).
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    type DeResult<T> = Result<T, serde::de::value::Error>;
    let rows: Vec<Vec<String>> = grid.iter().map(|r| r.to_vec()).collect();
    let read: DeResult<RfmGrid> = RfmGrid::deserialize(rows.clone().into_deserializer());
    assert_eq!(read.unwrap().grid(), map.grid());
    let mut bad = rows.clone();
    bad[0][0] = "no:colons".into();
    let read: DeResult<RfmGrid> = RfmGrid::deserialize(bad.into_deserializer());
    assert!(read.is_err());
    let mut short = rows;
    short.pop();
    let read: DeResult<RfmGrid> = RfmGrid::deserialize(short.into_deserializer());
    assert!(read.is_err(), "five rows of five");
}

#[test]
fn days_from_i32_stop_at_the_representable_dates() {
    use chrono::NaiveDate;
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let max = Day::from(NaiveDate::MAX).days_since_epoch();
    let min = Day::from(NaiveDate::MIN).days_since_epoch();
    for (days, ok) in [
        (0, true),
        (-1, true),
        (max, true),
        (max + 1, false),
        (min, true),
        (min - 1, false),
        (i32::MAX, false),
        (i32::MIN, false),
    ] {
        assert_eq!(Day::try_from(days).is_ok(), ok, "{days}");
        assert_eq!(Day::from_days_since_epoch(days).is_some(), ok, "{days}");
        let read: Result<Day, serde::de::value::Error> = Day::deserialize(days.into_deserializer());
        assert_eq!(read.is_ok(), ok, "{days}");
        if ok {
            let d = Day::try_from(days).unwrap();
            assert_eq!(i32::from(d), days);
            assert_eq!(read.unwrap(), d);
            if days.abs() < 700_000 {
                assert_eq!(d.to_string().parse::<Day>().unwrap(), d);
            }
        }
    }
    assert!(matches!(Day::try_from(i32::MAX), Err(Error::InvalidDate { .. })));
    assert_eq!(Day::from(NaiveDate::MAX).to_date(), NaiveDate::MAX);
    assert_eq!(Day::from(NaiveDate::MIN).to_date(), NaiveDate::MIN);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn day_try_from_agrees_with_from_days_since_epoch(days in prop_oneof![any::<i32>(), -100_000_000..100_000_000i32]) {
        let d = Day::try_from(days);
        prop_assert_eq!(d.as_ref().ok().copied(), Day::from_days_since_epoch(days));
        if let Ok(d) = d {
            prop_assert_eq!(i32::from(d), days);
            prop_assert_eq!(Day::from(d.to_date()), d);
        }
    }

    #[test]
    fn lifecycle_builder_equals_new(
        new_days in prop_oneof![0..400u32, 365_000..365_500u32, any::<u32>()],
        active_days in prop_oneof![0..400u32, 365_000..365_500u32, any::<u32>()],
        churn_days in prop_oneof![0..400u32, 365_000..365_500u32, any::<u32>()],
        set in (any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let mut b = Lifecycle::builder();
        let d = Lifecycle::default();
        let want = (
            if set.0 { new_days } else { d.new_days() },
            if set.1 { active_days } else { d.active_days() },
            if set.2 { churn_days } else { d.churn_days() },
        );
        if set.0 {
            b.new_days(new_days);
        }
        if set.1 {
            b.active_days(active_days);
        }
        if set.2 {
            b.churn_days(churn_days);
        }
        let built = b.build();
        prop_assert_eq!(&built, &Lifecycle::new(want.0, want.1, want.2));
        if let Ok(l) = built {
            prop_assert_eq!((l.new_days(), l.active_days(), l.churn_days()), want);
            prop_assert!(l.active_days() <= l.churn_days());
        } else {
            let invalid = matches!(built, Err(Error::InvalidModel { .. }));
            prop_assert!(invalid, "{:?}", built);
        }
    }
}

#[test]
fn lifecycle_builder_defaults_and_chaining() {
    assert_eq!(Lifecycle::builder().build().unwrap(), Lifecycle::default());
    assert_eq!(Lifecycle::builder().new_days(14).active_days(45).churn_days(90).build(), Lifecycle::new(14, 45, 90));
    assert!(Lifecycle::builder().active_days(181).build().is_err(), "above the default churn window");
    assert!(Lifecycle::builder().churn_days(365_251).build().is_err(), "a thousand years at most");
    assert!(Lifecycle::builder().new_days(365_251).build().is_err());
    assert!(Lifecycle::builder().churn_days(365_250).build().is_ok());
}

#[test]
fn stage_names_parse_strictly() {
    for s in Stage::ALL {
        assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
        assert_eq!(s.to_string().parse::<Stage>().unwrap(), s);
    }
    for bad in ["Active", " active", "active ", "at-risk", "atrisk", "AT_RISK", "", "stage:new", "prospects"] {
        let err = bad.parse::<Stage>().unwrap_err();
        assert!(matches!(err, Error::InvalidModel { .. }), "{bad:?}");
        assert!(err.to_string().contains("at_risk"), "the hint lists the names: {err}");
    }
}

/// A xorshift stream, so the big deterministic loads are reproducible.
fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn the_first_big_load_equals_the_general_path() {
    // 70,000 purchases over 20,000 dense customers in one load take the scatter into the
    // columns; the same purchases after a one-record first load take the general path.
    let customers = 20_000u32;
    let mut next = xorshift(0x2545_F491_4F6C_DD1D);
    let recs: Vec<(CustomerId, Day, Money)> = (0..70_000)
        .map(|i| {
            let x = next();
            let c = CustomerId((x % u64::from(customers)) as u32);
            (c, day((x >> 32) as i32 % 200), money(i % 1_000 - 100))
        })
        .collect();
    let mut scatter = Engine::new();
    let mut general = Engine::new();
    for e in [&mut scatter, &mut general] {
        e.customer_id_range(0..customers).unwrap();
        e.customer("keyed").unwrap();
    }
    scatter.remove_customer(CustomerId(17)).unwrap(); // removed before the load: refused in both
    general.remove_customer(CustomerId(17)).unwrap();
    let recs: Vec<_> = recs.into_iter().filter(|r| r.0 != CustomerId(17)).collect();
    general.record_purchases(recs[..1].iter().copied()).unwrap();
    general.refresh(day(-400)).unwrap();
    general.record_purchases(recs[1..].iter().copied()).unwrap();
    scatter.record_purchases(recs.iter().copied()).unwrap();
    // A removal while the load is pending.
    scatter.remove_customer(CustomerId(3)).unwrap();
    general.remove_customer(CustomerId(3)).unwrap();
    let (a, b) = (scatter.refresh(day(150)).unwrap(), general.refresh(day(150)).unwrap());
    assert_eq!(summary(&a), summary(&b));
    assert_eq!(scatter.purchase_count(), general.purchase_count());
    for c in scatter.customers().iter() {
        assert_eq!(scatter.purchases_of(c).unwrap(), general.purchases_of(c).unwrap(), "{c:?}");
        assert_eq!(scatter.rfm_of(c).unwrap(), general.rfm_of(c).unwrap(), "{c:?}");
        assert_eq!(scatter.stage_of(c).unwrap(), general.stage_of(c).unwrap(), "{c:?}");
    }
    // Removals and more purchases afterwards.
    let gone: Audience = (0..customers).step_by(7).map(CustomerId).collect();
    scatter.remove_customers(&gone).unwrap();
    general.remove_customers(&gone).unwrap();
    for e in [&mut scatter, &mut general] {
        e.record_purchase(CustomerId(1), day(160), money(7)).unwrap();
    }
    let (a, b) = (scatter.refresh(day(170)).unwrap(), general.refresh(day(170)).unwrap());
    assert_eq!(a, b);
    for c in scatter.customers().iter().step_by(13) {
        assert_eq!(scatter.purchases_of(c).unwrap(), general.purchases_of(c).unwrap(), "{c:?}");
    }
}
