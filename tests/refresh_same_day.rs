//! The same-day refresh: a second `refresh` as of the same day with nothing new is a no-op
//! (no transitions, nothing recomputed, the same summary and picture); after any kind of
//! change (purchases, removals, re-registered and new customers, id ranges, a new RFM model
//! or lifecycle, attributes, tags, a refused bulk load) it equals a fresh engine's refresh,
//! and its transitions are the stage diff.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{Audience, CustomerId, Day, Engine, Error, Lifecycle, Money, RefreshReport, RfmGrid, RfmModel, Stage};
use common::observe::{picture, summary, transitions};
use common::{TestResult, config, day, money, nth_live};
use proptest::prelude::*;

// ------------------------------------------------------------------ the same-day refresh

/// `after` is the same-day no-op refresh following `before`.
fn check_noop(before: &RefreshReport, after: &RefreshReport) -> TestResult {
    prop_assert!(after.transitions.is_empty(), "a no-op moves nobody: {:?}", after.transitions);
    prop_assert!(after.incremental);
    prop_assert_eq!(after.recomputed, 0);
    prop_assert_eq!(summary(after), summary(before));
    Ok(())
}

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

fn nth_rfm_model(k: u8) -> RfmModel {
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

fn nth_lifecycle(k: u8) -> Lifecycle {
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
            let c = nth_live(&e, c).expect("customers");
            act(&mut e, Act::Buy(c, day(d), money(m)))?;
        }
        if let Some(c) = nth_live(&e, 3) {
            act(&mut e, Act::Tag(c, "vip"))?;
        }
        act(&mut e, Act::Rfm(nth_rfm_model(models.0)))?;
        act(&mut e, Act::Life(nth_lifecycle(models.1)))?;
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
                    if let Some(c) = nth_live(&e, c) {
                        act(&mut e, Act::Buy(c, day(d), money(m)))?;
                    }
                }
                Change::Remove(c) => {
                    if let Some(c) = nth_live(&e, c) {
                        act(&mut e, Act::Remove(c))?;
                        gone.insert(c.0);
                    }
                }
                Change::RemoveAll(ref cs) => {
                    let a: Audience = cs.iter().filter_map(|&c| nth_live(&e, c)).collect();
                    gone.extend(a.to_ids());
                    act(&mut e, Act::RemoveAll(a))?;
                }
                Change::Reborn(c) => {
                    if let Some(c) = nth_live(&e, c) {
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
                Change::Rfm(k) => act(&mut e, Act::Rfm(nth_rfm_model(k)))?,
                Change::Life(k) => act(&mut e, Act::Life(nth_lifecycle(k)))?,
                Change::Attr(c, v) => {
                    if let Some(c) = nth_live(&e, c) {
                        act(&mut e, Act::Attr(c, v))?;
                    }
                }
                Change::Tag(c) => {
                    if let Some(c) = nth_live(&e, c) {
                        act(&mut e, Act::Tag(c, "vip"))?;
                    }
                }
                Change::FailedBulk => {
                    let stranger = (0..).map(CustomerId).find(|&c| !e.is_customer(c)).unwrap();
                    let any = nth_live(&e, 0).unwrap_or(stranger);
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
        prop_assert_eq!(transitions(&r3), want.into_iter().map(|((from, to), ids)| (from, to, ids)).collect::<Vec<_>>());
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
        ("set_rfm_model", |e: &mut Engine| e.set_rfm_model(nth_rfm_model(2))),
        ("set_lifecycle", |e: &mut Engine| e.set_lifecycle(nth_lifecycle(1))),
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
