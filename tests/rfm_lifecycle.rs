//! Purchase history, RFM, lifecycle stages and `refresh`, tested against the specification.
//!
//! Three parts:
//!
//! 1. **Hand-worked cases**, one definition at a time (ties, N = 1 and 2, same-day purchases,
//!    refunds, zero spend, purchases after the as-of day, leap days, timestamps near midnight,
//!    every lifecycle boundary, thresholds, custom segment maps and windows). Each is checked
//!    three ways: `rfm_of`/`stage_of`, queries on the derived tags and attributes, and the
//!    refresh report.
//! 2. **A naive reference model** written straight from the definitions (O(N^2), no cleverness)
//!    and proptest properties comparing the engine with it: random purchase sets on small
//!    customer counts and day grids built so that ties, same-day purchases and the 30/31,
//!    90/91, 180/181 boundaries come up often; order independence; as-of equals a fresh engine
//!    fed only the purchases up to that day; incremental refreshes equal one full refresh of a
//!    fresh engine after random operation sequences, with transitions equal to the naive diff.
//! 3. **Edge cases**: empty engine, all prospects, removal between refreshes, `Money` and `Day`
//!    parse errors, all-or-nothing bulk recording, monetary overflow, extreme dates.
//!
//! The definitions, as tested (D is the as-of day; only records on or before D count):
//! - frequency = purchase records (amount >= 0; two on one day count twice); refunds
//!   (amount < 0) are not purchases; monetary = sum of all amounts, refunds included;
//!   recency_days = D - day of the last purchase. No purchase: no RFM, stage `prospect`.
//! - quantile score = 1 + min(4, floor(5 * below(x) / (N - 1))), 1 when N = 1, where below(x)
//!   counts scored customers strictly worse than x.
//! - lifecycle, first rule that holds: prospect, new (D - first <= new), reactivated (the most
//!   recent comeback, a purchase more than `churn` days after the purchase before it, is at
//!   most `active` days before D), active (D - last <= active), at_risk (<= churn), churned.
//!
//! Failure persistence is off so a failing run writes no files; `PROPTEST_CASES=n` runs longer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use audience::{
    Audience, CustomerId, Day, Engine, Error, Lifecycle, Money, Query, RefreshReport, RfmGrid, RfmModel, RfmScores,
    Stage, TagKind,
};
use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

type TestResult = Result<(), TestCaseError>;

// ================================================================== helpers

/// 2024-01-01, days since 1970-01-01: the origin of the random day grids.
const BASE: i32 = 19_723;

const GROUPS: [&str; 5] = ["r", "f", "m", "rfm", "stage"];
const ATTRS: [&str; 3] = ["recency_days", "frequency", "monetary"];

const STANDARD_SEGMENTS: [&str; 10] = [
    "hibernating",
    "at_risk",
    "cant_lose",
    "about_to_sleep",
    "need_attention",
    "loyal_customers",
    "promising",
    "new_customers",
    "potential_loyalists",
    "champions",
];

fn day(s: &str) -> Day {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn cents(minor: i64) -> Money {
    Money::from_minor(minor).unwrap()
}

/// `d` plus `n` days.
fn plus(d: Day, n: i32) -> Day {
    d.checked_add_days(n).unwrap()
}

fn ids(a: &Audience) -> Vec<u32> {
    a.to_ids()
}

fn members(e: &Engine, q: &str) -> Vec<u32> {
    ids(&e.query(q).unwrap_or_else(|err| panic!("{q}: {err}")))
}

fn count(e: &Engine, q: &str) -> u64 {
    e.count(q).unwrap_or_else(|err| panic!("{q}: {err}"))
}

/// An engine with keyed customers `c0`, `c1`, ...
fn engine_with(n: usize) -> (Engine, Vec<CustomerId>) {
    let mut e = Engine::new();
    let cs = (0..n).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
    (e, cs)
}

/// The derived tags a customer carries (r, f, m, rfm, stage groups), sorted.
fn derived_tags_of(e: &Engine, c: CustomerId) -> Vec<String> {
    let mut out: Vec<String> = e
        .tags_of(c)
        .unwrap()
        .into_iter()
        .filter(|t| t.split_once(':').is_some_and(|(g, _)| GROUPS.contains(&g)))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// `(recency_days, frequency, monetary, r, f, m, segment)` of a customer.
type Figures = (i64, u32, i64, u8, u8, u8, String);

fn figures(s: &RfmScores<'_>) -> Figures {
    (s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m, s.segment.to_owned())
}

fn rfm(e: &Engine, c: CustomerId) -> Option<Figures> {
    e.rfm_of(c).unwrap().as_ref().map(figures)
}

/// Checks one scored customer every way: `rfm_of`, its derived tags, its attributes.
#[track_caller]
fn assert_scored(e: &Engine, c: CustomerId, want: (i64, u32, i64, u8, u8, u8, &str), stage: Stage) {
    let (recency, frequency, monetary, r, f, m, segment) = want;
    assert_eq!(rfm(e, c), Some((recency, frequency, monetary, r, f, m, segment.to_owned())), "rfm_of {c:?}");
    assert_eq!(e.stage_of(c).unwrap(), Some(stage), "stage_of {c:?}");
    let mut tags = vec![
        format!("r:{r}"),
        format!("f:{f}"),
        format!("m:{m}"),
        format!("rfm:{segment}"),
        format!("stage:{}", stage.as_str()),
    ];
    tags.sort();
    assert_eq!(derived_tags_of(e, c), tags, "derived tags of {c:?}");
    assert_eq!(e.attr(c, "recency_days").unwrap(), Some(recency));
    assert_eq!(e.attr(c, "frequency").unwrap(), Some(i64::from(frequency)));
    assert_eq!(e.attr(c, "monetary").unwrap(), Some(monetary));
}

/// Checks a customer without a purchase on or before the as-of day.
#[track_caller]
fn assert_unscored(e: &Engine, c: CustomerId, stage: Stage) {
    assert_eq!(rfm(e, c), None, "rfm_of {c:?}");
    assert_eq!(e.stage_of(c).unwrap(), Some(stage), "stage_of {c:?}");
    assert_eq!(derived_tags_of(e, c), [format!("stage:{}", stage.as_str())], "derived tags of {c:?}");
    for a in ATTRS {
        assert_eq!(e.attr(c, a).unwrap(), None, "{a} of {c:?}");
    }
}

/// A report's transitions as plain data, checking each count against its audience.
fn transitions(r: &RefreshReport) -> Vec<(Option<Stage>, Stage, Vec<u32>)> {
    r.transitions
        .iter()
        .map(|t| {
            assert_eq!(t.count, t.audience.len(), "transition count vs audience");
            (t.from, t.to, ids(&t.audience))
        })
        .collect()
}

fn stage_counts(r: &RefreshReport) -> Vec<(Stage, u64)> {
    r.stages.clone()
}

/// Everything observable about an engine, to check that a refused call changed nothing.
fn fingerprint(e: &Engine) -> String {
    let mut s = String::new();
    let st = e.stats();
    // sizes, not capacities: a refused call may still have reserved memory
    writeln!(
        s,
        "customers {} keyed {} tags {} assignments {} bitmap bytes {} attributes {} attribute bytes {} purchases {}",
        st.customers,
        st.keyed_customers,
        st.tags,
        st.assignments,
        st.bitmap_bytes,
        st.attributes,
        st.attribute_bytes,
        st.purchases
    )
    .unwrap();
    writeln!(s, "last={:?} {:?} {:?}", e.last_refresh(), e.lifecycle(), e.rfm_model()).unwrap();
    writeln!(s, "groups {:?}", e.exclusive_groups().collect::<Vec<_>>()).unwrap();
    writeln!(s, "attributes {:?}", e.attributes().collect::<Vec<_>>()).unwrap();
    for t in e.tags() {
        writeln!(s, "{t:?} {:?}", ids(&e.select(&Query::tag(t.name)).unwrap())).unwrap();
    }
    for c in e.customers().iter() {
        writeln!(
            s,
            "{c:?} {:?} {:?} {:?} {:?} {:?}",
            e.tags_of(c),
            e.attrs_of(c),
            e.rfm_of(c),
            e.stage_of(c),
            e.purchases_of(c)
        )
        .unwrap();
    }
    s
}

// ================================================================== 1. hand-worked cases

// ------------------------------------------------------------------ quantiles, ties, the report

/// Nine customers as of 2024-06-30; six have a purchase on or before it (N = 6, so
/// score = 1 + min(4, below)). Then a comeback, a later as-of day (N = 7), the same day again,
/// and the first day again.
#[test]
fn quantile_scores_worked_example_and_incremental_report() {
    let (mut e, c) = engine_with(9);
    let d = day("2024-06-30");
    let buys: &[(usize, &str, i64)] = &[
        (0, "2024-06-30", 1000), // bought on D: included, recency 0
        (1, "2024-06-20", 500),  // two on one day, one of them free: F 2
        (1, "2024-06-20", 0),
        (2, "2024-05-01", 2000),
        (2, "2024-06-20", 2000),
        (2, "2024-06-25", -1500), // a refund: lowers monetary, is not the last purchase
        (3, "2024-01-01", 10000),
        (3, "2024-02-29", 10000),
        (3, "2024-03-01", 0),
        (4, "2024-03-01", 5000),
        (4, "2024-07-01", 99900), // after D: ignored
        (5, "2023-12-01", 3000),
        (5, "2024-06-29", -8000), // refund larger than the spend: monetary -50.00
        (6, "2024-06-01", -1000), // refund only: no purchase, prospect
        (8, "2024-07-05", 2000),  // only after D: prospect
    ];
    for &(i, when, amount) in buys {
        e.record_purchase(c[i], day(when), cents(amount)).unwrap();
    }
    let report = e.refresh(d).unwrap();

    // recency:   0  10  10  121  121  212     (larger is worse)
    // frequency: 1   2   2    3    1    1
    // monetary:  1000 500 2500 20000 5000 -5000
    use Stage::*;
    assert_scored(&e, c[0], (0, 1, 1000, 5, 1, 3, "new_customers"), New);
    assert_scored(&e, c[1], (10, 2, 500, 4, 4, 2, "loyal_customers"), New);
    assert_scored(&e, c[2], (10, 2, 2500, 4, 4, 4, "loyal_customers"), Active);
    assert_scored(&e, c[3], (121, 3, 20000, 2, 5, 5, "cant_lose"), AtRisk);
    assert_scored(&e, c[4], (121, 1, 5000, 2, 1, 5, "hibernating"), AtRisk);
    assert_scored(&e, c[5], (212, 1, -5000, 1, 1, 1, "hibernating"), Churned);
    for i in [6, 7, 8] {
        assert_unscored(&e, c[i], Prospect);
    }

    // queries over the derived tags and attributes
    assert_eq!(count(&e, "stage:at_risk AND f:5"), 1);
    assert_eq!(members(&e, "recency_days <= 30"), [0, 1, 2]);
    assert_eq!(members(&e, "recency_days = 121"), [3, 4]);
    assert_eq!(members(&e, "recency_days > 121"), [5]);
    assert_eq!(members(&e, "monetary < 0"), [5]);
    assert_eq!(members(&e, "frequency >= 2"), [1, 2, 3]);
    assert_eq!(members(&e, "rfm:hibernating AND m:1"), [5]);
    assert_eq!(members(&e, "stage:prospect"), [6, 7, 8]);
    assert_eq!(count(&e, "NOT stage:prospect"), 6);
    assert_eq!(count(&e, "NOT recency_days >= 0"), 3, "prospects have no recency");
    assert_eq!(members(&e, "r:4 AND f:4"), [1, 2]);
    assert_eq!(count(&e, "r:3 OR f:2 OR f:3 OR m:4 AND NOT stage:active"), 0);

    // the report
    assert_eq!(report.as_of, d);
    assert_eq!((report.customers, report.scored), (9, 6));
    assert_eq!(
        stage_counts(&report),
        [(Prospect, 3), (New, 2), (Reactivated, 0), (Active, 1), (AtRisk, 2), (Churned, 1)]
    );
    let segs: BTreeMap<&str, u64> = report.segments.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(
        segs.keys().copied().collect::<BTreeSet<_>>(),
        STANDARD_SEGMENTS.into_iter().collect(),
        "every segment listed"
    );
    assert_eq!(report.segment_count("loyal_customers"), 2);
    assert_eq!(report.segment_count("hibernating"), 2);
    assert_eq!(report.segment_count("new_customers"), 1);
    assert_eq!(report.segment_count("cant_lose"), 1);
    assert_eq!(report.segment_count("champions"), 0);
    assert_eq!(report.segment_count("no such segment"), 0);
    assert_eq!(
        transitions(&report),
        [
            (None, Prospect, vec![6, 7, 8]),
            (None, New, vec![0, 1]),
            (None, Active, vec![2]),
            (None, AtRisk, vec![3, 4]),
            (None, Churned, vec![5]),
        ]
    );
    assert!(!report.incremental, "the first refresh reads everyone");
    assert_eq!(report.recomputed, 8, "everyone with a record");
    let first = fingerprint(&e);

    // c5 comes back after 222 days; 15 days later (N = 7: score = 1 + min(4, floor(5 below / 6)))
    e.record_purchase(c[5], day("2024-07-10"), cents(1000)).unwrap();
    let d2 = day("2024-07-15");
    let report = e.refresh(d2).unwrap();
    // recency:   15 25 25 136 14 5 10 (c8)
    // frequency:  1  2  2   3  2 2  1
    // monetary:  1000 500 2500 20000 104900 -4000 2000
    assert_scored(&e, c[0], (15, 1, 1000, 3, 1, 2, "about_to_sleep"), New);
    assert_scored(&e, c[1], (25, 2, 500, 1, 2, 1, "hibernating"), New);
    assert_scored(&e, c[2], (25, 2, 2500, 1, 2, 4, "hibernating"), Active);
    assert_scored(&e, c[3], (136, 3, 20000, 1, 5, 5, "cant_lose"), AtRisk);
    assert_scored(&e, c[4], (14, 2, 104900, 4, 2, 5, "potential_loyalists"), Active);
    assert_scored(&e, c[5], (5, 2, -4000, 5, 2, 1, "potential_loyalists"), Reactivated);
    assert_scored(&e, c[8], (10, 1, 2000, 5, 1, 3, "new_customers"), New);
    assert_unscored(&e, c[6], Prospect);
    assert_unscored(&e, c[7], Prospect);
    assert_eq!(
        stage_counts(&report),
        [(Prospect, 2), (New, 3), (Reactivated, 1), (Active, 2), (AtRisk, 1), (Churned, 0)]
    );
    assert_eq!(
        transitions(&report),
        [(Some(Prospect), New, vec![8]), (Some(AtRisk), Active, vec![4]), (Some(Churned), Reactivated, vec![5])]
    );
    assert!(report.incremental);
    // c5 has a new purchase; c4 and c8 have purchases dated after the previous as-of day
    assert_eq!(report.recomputed, 3);
    assert_eq!(members(&e, "stage:reactivated AND r:5"), [5]);
    let second = fingerprint(&e);

    // the same day again, nothing new: nothing read, nothing moves
    let report = e.refresh(d2).unwrap();
    assert!(report.incremental);
    assert_eq!(report.recomputed, 0);
    assert!(report.transitions.is_empty());
    assert_eq!(fingerprint(&e), second);

    // back to the first day: a full refresh, exactly the first picture again
    let report = e.refresh(d).unwrap();
    assert!(!report.incremental);
    assert_eq!(report.recomputed, 8);
    assert_eq!(
        transitions(&report),
        [(Some(New), Prospect, vec![8]), (Some(Reactivated), Churned, vec![5]), (Some(Active), AtRisk, vec![4])]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>(),
        "ordered by (from, to)"
    );
    // the purchase recorded since is dated after D: ignored, so the picture is the first one
    // (only purchases_of c5 differs)
    let strip = |s: &str| s.lines().filter(|l| !l.contains("Purchase")).map(str::to_owned).collect::<Vec<_>>();
    let mut now = strip(&fingerprint(&e));
    let mut then = strip(&first);
    now.retain(|l| !l.starts_with("customers"));
    then.retain(|l| !l.starts_with("customers"));
    assert_eq!(now, then);
}

#[test]
fn a_lone_customer_is_r1_f1_m1_hibernating() {
    let (mut e, c) = engine_with(1);
    let d = day("2024-05-05");
    for _ in 0..3 {
        e.record_purchase(c[0], d, Money::from_major(1_000_000).unwrap()).unwrap();
    }
    let report = e.refresh(d).unwrap();
    assert_scored(&e, c[0], (0, 3, 300_000_000, 1, 1, 1, "hibernating"), Stage::New);
    assert_eq!(report.scored, 1);
    assert_eq!(report.segment_count("hibernating"), 1);
    assert_eq!(count(&e, "r:1 AND f:1 AND m:1 AND rfm:hibernating AND stage:new"), 1);
    // one scored customer among prospects is still alone
    let p = e.customer("prospect").unwrap();
    e.record_purchase(p, plus(d, 1), cents(5)).unwrap();
    let report = e.refresh(d).unwrap();
    assert_eq!(report.scored, 1);
    assert_eq!(rfm(&e, c[0]).unwrap().3, 1);
    assert_unscored(&e, p, Stage::Prospect);
}

#[test]
fn two_customers() {
    let d = day("2024-05-05");
    // one better on every metric: 5/5/5 against 1/1/1
    let (mut e, c) = engine_with(2);
    e.record_purchases([(c[0], d, cents(200)), (c[0], d, cents(200)), (c[1], plus(d, -3), cents(100))]).unwrap();
    e.refresh(d).unwrap();
    assert_scored(&e, c[0], (0, 2, 400, 5, 5, 5, "champions"), Stage::New);
    assert_scored(&e, c[1], (3, 1, 100, 1, 1, 1, "hibernating"), Stage::New);

    // tied on everything: nobody is strictly worse, both score 1
    let (mut e, c) = engine_with(2);
    e.record_purchases([(c[0], plus(d, -40), cents(700)), (c[1], plus(d, -40), cents(700))]).unwrap();
    e.refresh(d).unwrap();
    for &x in &c {
        assert_scored(&e, x, (40, 1, 700, 1, 1, 1, "hibernating"), Stage::Active);
    }

    // tied on recency only
    let (mut e, c) = engine_with(2);
    e.record_purchases([
        (c[0], plus(d, -1), cents(10)),
        (c[0], plus(d, -1), cents(10)),
        (c[1], plus(d, -1), cents(5000)),
    ])
    .unwrap();
    e.refresh(d).unwrap();
    assert_scored(&e, c[0], (1, 2, 20, 1, 5, 1, "cant_lose"), Stage::New);
    assert_scored(&e, c[1], (1, 1, 5000, 1, 1, 5, "hibernating"), Stage::New);
}

/// Ties are kept together: equal values share a score, by PERCENT_RANK (N = 11, N - 1 = 10,
/// score = 1 + min(4, floor(below / 2))).
#[test]
fn ties_share_a_score() {
    let (mut e, c) = engine_with(11);
    let d = day("2024-05-05");
    // frequencies 1 1 1 1 2 2 3 3 3 3 9  -> below 0 0 0 0 4 4 6 6 6 6 10
    let freq = [1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 9];
    for (i, &n) in freq.iter().enumerate() {
        for _ in 0..n {
            e.record_purchase(c[i], plus(d, -1), cents(100)).unwrap();
        }
    }
    e.refresh(d).unwrap();
    let f: Vec<u8> = c.iter().map(|&x| rfm(&e, x).unwrap().4).collect();
    assert_eq!(f, [1, 1, 1, 1, 3, 3, 4, 4, 4, 4, 5]);
    // every customer has the same recency: all R1 (nobody is strictly worse)
    assert_eq!(count(&e, "r:1"), 11);
    assert_eq!(members(&e, "f:3"), [4, 5]);
    assert_eq!(count(&e, "f:2"), 0, "no value lands on F2");
    // monetary = 100 x frequency, so M = F
    assert_eq!(members(&e, "m:4"), members(&e, "f:4"));
}

// ------------------------------------------------------------------ what a purchase is

#[test]
fn purchases_refunds_zero_spend_and_the_as_of_day() {
    let (mut e, c) = engine_with(6);
    let d = day("2024-04-10");
    let recs = [
        // c0: two purchases on one day count twice; a free one counts; "-0.00" is zero, not a refund
        (c[0], d, Money::parse("12.50").unwrap()),
        (c[0], d, Money::parse("12.50").unwrap()),
        (c[0], plus(d, -2), Money::ZERO),
        (c[0], plus(d, -3), Money::parse("-0.00").unwrap()),
        // c1: refunds lower monetary (even below zero) and are never the last purchase
        (c[1], plus(d, -100), cents(1000)),
        (c[1], plus(d, -1), cents(-2500)),
        (c[1], plus(d, -50), cents(-1)),
        // c2: records after D are ignored, refunds included; the as-of day itself counts
        (c[2], d, cents(300)),
        (c[2], plus(d, 1), cents(99_999)),
        (c[2], plus(d, 1), cents(-300)),
        // c3: refund only: no purchase at all
        (c[3], plus(d, -5), cents(-700)),
        // c4: zero spend only
        (c[4], plus(d, -40), Money::ZERO),
        // c5: only after D
        (c[5], plus(d, 1), cents(100)),
    ];
    assert_eq!(e.record_purchases(recs).unwrap(), 13);
    assert_eq!(e.purchase_count(), 13);
    let r = e.refresh(d).unwrap();
    assert_eq!(r.scored, 4);
    let f = |x| rfm(&e, x).map(|t| (t.0, t.1, t.2));
    assert_eq!(f(c[0]), Some((0, 4, 2500)));
    assert_eq!(f(c[1]), Some((100, 1, -1501)));
    assert_eq!(f(c[2]), Some((0, 1, 300)));
    assert_eq!(f(c[3]), None);
    assert_eq!(f(c[4]), Some((40, 1, 0)));
    assert_eq!(f(c[5]), None);
    assert_eq!(e.stage_of(c[1]).unwrap(), Some(Stage::AtRisk), "a refund is not a purchase");
    assert_eq!(e.stage_of(c[3]).unwrap(), Some(Stage::Prospect));
    assert_eq!(e.stage_of(c[5]).unwrap(), Some(Stage::Prospect));
    assert_eq!(members(&e, "frequency = 1"), [1, 2, 4]);
    assert_eq!(members(&e, "monetary <= 0"), [1, 4]);
    assert_eq!(members(&e, "monetary = -1501"), [1]);
    assert_eq!(members(&e, "recency_days = 0"), [0, 2]);
    assert_eq!(members(&e, "stage:prospect"), [3, 5]);
    assert_unscored(&e, c[3], Stage::Prospect);

    // purchases_of: every record (refunds and later ones too), by day
    let p = e.purchases_of(c[1]).unwrap();
    let got: Vec<(Day, i64)> = p.iter().map(|p| (p.day, p.amount.minor())).collect();
    assert_eq!(got, [(plus(d, -100), 1000), (plus(d, -50), -1), (plus(d, -1), -2500)]);
    assert!(p.iter().all(|p| p.customer == c[1]));
    assert!(p[1].amount.is_refund() && !Money::parse("-0.00").unwrap().is_refund());
    let later = e.purchases_of(c[2]).unwrap();
    assert_eq!(later.len(), 3);
}

#[test]
fn leap_days() {
    let (mut e, c) = engine_with(4);
    e.record_purchase(c[0], day("2024-02-29"), cents(100)).unwrap();
    e.record_purchase(c[1], day("2024-02-28"), cents(100)).unwrap();
    e.record_purchase(c[2], NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(), cents(100)).unwrap();
    e.record_purchase(c[3], day("2023-03-01"), cents(100)).unwrap();
    let d = Day::from_ymd(2024, 3, 1).unwrap();
    assert_eq!(d - day("2024-02-29"), 1);
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]).unwrap().0, 1);
    assert_eq!(rfm(&e, c[1]).unwrap().0, 2);
    assert_eq!(rfm(&e, c[2]).unwrap().0, 0);
    assert_eq!(rfm(&e, c[3]).unwrap().0, 366, "a leap year has 366 days");
    assert_eq!(members(&e, "recency_days = 1"), [0]);
    assert_eq!(e.stage_of(c[3]).unwrap(), Some(Stage::Churned));
    // in a common year, Feb 28 is the day before Mar 1
    let (mut e, c) = engine_with(1);
    e.record_purchase(c[0], day("2023-02-28"), cents(1)).unwrap();
    e.refresh(day("2023-03-01")).unwrap();
    assert_eq!(e.attr(c[0], "recency_days").unwrap(), Some(1));
    assert!(Day::from_ymd(2023, 2, 29).is_err());
}

/// A `DateTime<Utc>` (or RFC 3339 text) counts on its UTC calendar day.
#[test]
fn timestamps_near_midnight_fall_on_their_utc_day() {
    let (mut e, c) = engine_with(5);
    let t = |y, mo, d, h, mi, s| Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
    e.record_purchase(c[0], t(2024, 2, 29, 23, 59, 59), cents(100)).unwrap(); // Feb 29
    e.record_purchase(c[1], t(2024, 3, 1, 0, 0, 0), cents(100)).unwrap(); // Mar 1
    e.record_purchase(c[2], day("2024-02-29T20:30:00-05:00"), cents(100)).unwrap(); // 01:30Z Mar 1
    e.record_purchase(c[3], day("2024-03-01T07:30:00+08:00"), cents(100)).unwrap(); // 23:30Z Feb 29
    e.record_purchase(c[4], t(2024, 3, 1, 23, 59, 59) + chrono::Duration::seconds(1), cents(100)).unwrap(); // Mar 2
    assert_eq!(e.purchases_of(c[2]).unwrap()[0].day, day("2024-03-01"));
    assert_eq!(e.purchases_of(c[3]).unwrap()[0].day, day("2024-02-29"));
    // the as-of day may be a timestamp too: its UTC day
    let r = e.refresh(t(2024, 3, 1, 23, 59, 59)).unwrap();
    assert_eq!(r.as_of, day("2024-03-01"));
    assert_eq!(e.last_refresh(), Some(day("2024-03-01")));
    let rec: Vec<Option<i64>> = c.iter().map(|&x| e.attr(x, "recency_days").unwrap()).collect();
    assert_eq!(rec, [Some(1), Some(0), Some(0), Some(1), None]);
    assert_eq!(members(&e, "recency_days = 1"), [0, 3]);
    assert_eq!(e.stage_of(c[4]).unwrap(), Some(Stage::Prospect), "bought on Mar 2, after D");
    assert_eq!(day("2024-03-01T00:00:00Z"), day("2024-03-01"));
    assert_eq!(day("2024-03-01T00:00:00.000+00:00"), day("2024-03-01"));
    assert_eq!(day("2024-02-29t23:59:59.999z"), day("2024-02-29"));
    assert_eq!(Day::from(t(1969, 12, 31, 23, 59, 59)).days_since_epoch(), -1);
}

// ------------------------------------------------------------------ lifecycle

/// A labelled scenario: purchases `(days before D, amount in minor units)` (negative days:
/// after D) and the stage they give.
type StageCase<'a> = (&'a str, &'a [(i32, i64)], Stage);

/// One customer per scenario, all refreshed as of the same day, checked by `stage_of`, the
/// stage tags, `recency_days` and the report.
#[track_caller]
fn check_stages(lifecycle: Option<Lifecycle>, cases: &[StageCase<'_>]) {
    let mut e = Engine::new();
    if let Some(l) = lifecycle {
        e.set_lifecycle(l);
    }
    let d = day("2025-01-15");
    let mut cs = Vec::new();
    for (label, recs, _) in cases {
        let c = e.customer(label).unwrap();
        for &(ago, amount) in *recs {
            e.record_purchase(c, plus(d, -ago), cents(amount)).unwrap();
        }
        cs.push(c);
    }
    let report = e.refresh(d).unwrap();
    let mut want_counts = BTreeMap::new();
    for ((label, recs, want), &c) in cases.iter().zip(&cs) {
        assert_eq!(e.stage_of(c).unwrap(), Some(*want), "{label}");
        let tag = format!("stage:{want}");
        assert!(e.query(&tag).unwrap().contains(c), "{label}: {tag}");
        assert_eq!(derived_tags_of(&e, c).iter().filter(|t| t.starts_with("stage:")).count(), 1, "{label}");
        let last = recs.iter().filter(|&&(ago, a)| ago >= 0 && a >= 0).map(|&(ago, _)| i64::from(ago)).min();
        assert_eq!(e.attr(c, "recency_days").unwrap(), last, "{label}");
        *want_counts.entry(*want).or_insert(0u64) += 1;
    }
    for s in Stage::ALL {
        let n = want_counts.get(&s).copied().unwrap_or(0);
        assert_eq!(report.stage_count(s), n, "report {s}");
        assert_eq!(count(&e, &format!("stage:{s}")), n, "query {s}");
    }
}

#[test]
fn lifecycle_boundaries_default_windows() {
    use Stage::*;
    const X: i64 = 1000;
    check_stages(
        None,
        &[
            ("no records", &[], Prospect),
            ("only after D", &[(-1, X)], Prospect),
            ("refund only", &[(5, -X)], Prospect),
            ("first today", &[(0, X)], New),
            ("zero spend today", &[(0, 0)], New),
            ("first 30 days ago", &[(30, X)], New),
            ("first 30 days ago, again 10 ago", &[(30, X), (10, X)], New),
            ("first 31 days ago", &[(31, X)], Active),
            ("last 90", &[(90, X)], Active),
            ("last 91", &[(91, X)], AtRisk),
            ("last 91, refund today", &[(91, X), (0, -X)], AtRisk),
            ("last 180", &[(180, X)], AtRisk),
            ("last 181", &[(181, X)], Churned),
            ("last 181, bought after D", &[(181, X), (-1, X)], Churned),
            ("gap of exactly 180", &[(200, X), (20, X)], Active),
            ("gap of 181", &[(201, X), (20, X)], Reactivated),
            ("comeback 90 days ago", &[(300, X), (90, X)], Reactivated),
            ("comeback 91 days ago", &[(300, X), (91, X)], AtRisk),
            ("comeback 91 days ago, bought since", &[(300, X), (91, X), (50, X)], Active),
            ("comeback, whatever came after", &[(300, X), (60, X), (30, X), (1, X)], Reactivated),
            ("two comebacks, latest 40 ago", &[(700, X), (500, X), (40, X)], Reactivated),
            ("two comebacks, latest 91 ago", &[(700, X), (500, X), (91, X)], AtRisk),
            ("old comeback, later gaps short", &[(400, X), (200, X), (100, X), (10, X)], Active),
            ("a refund in the gap is no purchase", &[(300, X), (150, -X), (20, X)], Reactivated),
            ("comeback after D is ignored", &[(300, X), (-5, X)], Churned),
            ("two purchases on the comeback day", &[(300, X), (20, X), (20, X)], Reactivated),
            ("comeback with a zero amount", &[(300, X), (20, 0)], Reactivated),
            ("comeback is a refund: nothing", &[(300, X), (20, -X)], Churned),
        ],
    );
}

#[test]
fn lifecycle_boundaries_custom_windows() {
    use Stage::*;
    const X: i64 = 1000;
    check_stages(
        Some(Lifecycle::new(7, 14, 28).unwrap()),
        &[
            ("first 7", &[(7, X)], New),
            ("first 8", &[(8, X)], Active),
            ("last 14", &[(14, X)], Active),
            ("last 15", &[(15, X)], AtRisk),
            ("last 28", &[(28, X)], AtRisk),
            ("last 29", &[(29, X)], Churned),
            ("gap 28", &[(40, X), (12, X)], Active),
            ("gap 29", &[(41, X), (12, X)], Reactivated),
            ("gap 29, comeback 14 ago", &[(43, X), (14, X)], Reactivated),
            ("gap 29, comeback 15 ago", &[(44, X), (15, X)], AtRisk),
            ("gap 181 with a 28-day churn window", &[(200, X), (19, X)], AtRisk),
        ],
    );
    // the new window may be longer than the others: the first rule that holds wins
    check_stages(
        Some(Lifecycle::new(400, 90, 180).unwrap()),
        &[
            ("new beats reactivated", &[(300, X), (50, X)], New),
            ("first 401 ago, comeback", &[(401, X), (50, X)], Reactivated),
        ],
    );
    // zero windows: new only on the first day, every later purchase on another day a comeback
    check_stages(
        Some(Lifecycle::new(0, 0, 0).unwrap()),
        &[
            ("first today", &[(0, X)], New),
            ("yesterday", &[(1, X)], Churned),
            ("again today", &[(5, X), (0, X)], Reactivated),
            ("same day twice, days ago", &[(5, X), (5, X)], Churned),
        ],
    );
    // validation
    assert!(matches!(Lifecycle::new(30, 200, 180), Err(Error::InvalidModel { .. })));
    assert!(matches!(Lifecycle::new(400_000, 90, 180), Err(Error::InvalidModel { .. })));
    assert!(matches!(Lifecycle::new(30, 90, 400_000), Err(Error::InvalidModel { .. })));
    assert_eq!(Lifecycle::default(), Lifecycle::new(30, 90, 180).unwrap());
    let l = Lifecycle::new(7, 14, 28).unwrap();
    assert_eq!((l.new_days(), l.active_days(), l.churn_days()), (7, 14, 28));
}

#[test]
fn changing_the_windows_restages_everyone() {
    let (mut e, c) = engine_with(2);
    let d = day("2024-06-30");
    e.record_purchase(c[0], plus(d, -20), cents(1)).unwrap();
    e.record_purchase(c[1], plus(d, -100), cents(1)).unwrap();
    e.refresh(d).unwrap();
    assert_eq!(members(&e, "stage:new"), [0]);
    assert_eq!(members(&e, "stage:at_risk"), [1]);
    e.set_lifecycle(Lifecycle::new(10, 30, 60).unwrap());
    assert_eq!(members(&e, "stage:new"), [0], "windows apply from the next refresh on");
    let r = e.refresh(d).unwrap();
    assert!(!r.incremental, "a new churn window changes every summary");
    assert_eq!(members(&e, "stage:active"), [0]);
    assert_eq!(members(&e, "stage:churned"), [1]);
    assert_eq!(
        transitions(&r),
        [(Some(Stage::New), Stage::Active, vec![0]), (Some(Stage::AtRisk), Stage::Churned, vec![1])]
    );
}

// ------------------------------------------------------------------ thresholds and segment maps

#[test]
fn threshold_scoring() {
    let m = |x| Money::from_major(x).unwrap();
    let model = RfmModel::thresholds([30, 90, 180, 365], [2, 3, 5, 10], [m(50), m(100), m(500), m(1000)]).unwrap();
    assert!(!model.is_quantiles());
    let (mut e, _) = engine_with(0);
    e.set_rfm_model(model.clone());
    assert_eq!(e.rfm_model(), &model);
    let d = day("2024-12-31");
    // (recency, frequency, monetary minor) -> (R, F, M, segment)
    type Row = ((i32, u32, i64), (u8, u8, u8, &'static str));
    let rows: &[Row] = &[
        ((0, 1, 4999), (5, 1, 1, "new_customers")),
        ((30, 2, 5000), (5, 2, 2, "potential_loyalists")),
        ((31, 3, 9999), (4, 3, 2, "potential_loyalists")),
        ((90, 4, 10000), (4, 3, 3, "potential_loyalists")),
        ((91, 5, 49999), (3, 4, 3, "loyal_customers")),
        ((180, 9, 50000), (3, 4, 4, "loyal_customers")),
        ((181, 10, 99999), (2, 5, 4, "cant_lose")),
        ((365, 11, 100000), (2, 5, 5, "cant_lose")),
        ((366, 1, -100), (1, 1, 1, "hibernating")),
        ((1000, 3, 0), (1, 3, 1, "at_risk")),
    ];
    let mut cs = Vec::new();
    for (i, &((ago, freq, money), _)) in rows.iter().enumerate() {
        let c = e.customer(&format!("t{i}")).unwrap();
        let when = plus(d, -ago);
        if money < 0 {
            e.record_purchase(c, when, Money::ZERO).unwrap();
            e.record_purchase(c, plus(when, -1), cents(money)).unwrap();
        } else {
            let q = money / i64::from(freq);
            e.record_purchase(c, when, cents(money - q * i64::from(freq - 1))).unwrap();
            for _ in 1..freq {
                e.record_purchase(c, when, cents(q)).unwrap();
            }
        }
        cs.push(c);
    }
    let r = e.refresh(d).unwrap();
    for (&((ago, freq, money), (rs, fs, ms, seg)), &c) in rows.iter().zip(&cs) {
        assert_eq!(rfm(&e, c), Some((i64::from(ago), freq, money, rs, fs, ms, seg.to_owned())), "{ago} {freq} {money}");
    }
    assert_eq!(r.segment_count("potential_loyalists"), 3);
    assert_eq!(count(&e, "r:5"), 2);
    assert_eq!(count(&e, "f:5 AND m:5"), 1);
    // thresholds do not depend on the population: a lone customer is not forced to 1/1/1
    let (mut e, c) = engine_with(1);
    e.set_rfm_model(model);
    for _ in 0..10 {
        e.record_purchase(c[0], d, m(100)).unwrap();
    }
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]), Some((0, 10, 100_000, 5, 5, 5, "champions".into())));
    // equal cut points: nothing lands between them
    let (mut e, c) = engine_with(3);
    e.set_rfm_model(RfmModel::thresholds([10, 10, 10, 10], [2, 2, 2, 2], [cents(0); 4]).unwrap());
    e.record_purchases([
        (c[0], plus(d, -10), cents(0)),
        (c[1], plus(d, -11), cents(-1)),
        (c[1], plus(d, -11), cents(1)),
    ])
    .unwrap();
    e.record_purchases([(c[2], d, cents(-5)), (c[2], d, cents(0)), (c[2], d, cents(0))]).unwrap();
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]).map(|f| (f.3, f.4, f.5)), Some((5, 1, 5)));
    assert_eq!(rfm(&e, c[1]).map(|f| (f.3, f.4, f.5)), Some((1, 1, 5)));
    assert_eq!(rfm(&e, c[2]).map(|f| (f.3, f.4, f.5)), Some((5, 5, 1)));
    // validation
    assert!(matches!(
        RfmModel::thresholds([90, 30, 180, 365], [1, 2, 3, 4], [cents(0); 4]),
        Err(Error::InvalidModel { .. })
    ));
    assert!(matches!(
        RfmModel::thresholds([-1, 30, 180, 365], [1, 2, 3, 4], [cents(0); 4]),
        Err(Error::InvalidModel { .. })
    ));
    assert!(matches!(RfmModel::thresholds([1, 2, 3, 4], [4, 3, 2, 1], [cents(0); 4]), Err(Error::InvalidModel { .. })));
    assert!(
        RfmModel::thresholds([1, 2, 3, 4], [1, 2, 3, 4], [cents(5), cents(4), cents(6), cents(7)]).is_err(),
        "monetary cut points must not decrease"
    );
    assert_eq!(RfmModel::quantiles(), RfmModel::default());
    assert!(RfmModel::default().is_quantiles());
}

#[test]
fn custom_segment_map() {
    let map = RfmGrid::new([("best", 4..=5, 4..=5), ("rest", 1..=3, 1..=5), ("rest", 4..=5, 1..=3)]).unwrap();
    assert_eq!(map.names().collect::<Vec<_>>(), ["best", "rest"]);
    let (mut e, c) = engine_with(5);
    e.set_rfm_model(RfmModel::quantiles().with_segments(map.clone()));
    let d = day("2024-06-30");
    // N = 5, score = 1 + below: c4 best on everything, c3 next
    for (i, &x) in c.iter().enumerate() {
        for _ in 0..=i {
            e.record_purchase(x, plus(d, -(10 - i as i32)), cents(100)).unwrap();
        }
    }
    let r = e.refresh(d).unwrap();
    assert_eq!(r.segments, [("best".to_owned(), 2), ("rest".to_owned(), 3)]);
    assert_eq!(members(&e, "rfm:best"), [3, 4]);
    assert_eq!(rfm(&e, c[3]).unwrap().6, "best");
    assert_eq!(rfm(&e, c[2]).unwrap().6, "rest");
    assert!(matches!(e.query("rfm:champions"), Err(Error::UnknownTag { .. })), "the standard segments are not made");

    // switching maps on a refreshed engine moves everyone to the new segments
    e.set_rfm_model(RfmModel::default());
    let r = e.refresh(d).unwrap();
    assert_eq!(r.segments.len(), 10);
    assert_eq!(r.segment_count("best"), 0);
    assert_eq!(count(&e, "rfm:best OR rfm:rest"), 0, "the old segments are emptied");
    assert_eq!(members(&e, "rfm:champions"), [4]);
    assert_eq!(count(&e, "rfm:hibernating"), 2);

    // a map by recency alone, under thresholds
    let by_r = RfmGrid::new([("lapsed", 1..=2, 1..=5), ("steady", 3..=3, 1..=5), ("recent", 4..=5, 1..=5)]).unwrap();
    e.set_rfm_model(RfmModel::thresholds([1, 3, 5, 7], [1, 1, 1, 1], [cents(0); 4]).unwrap().with_segments(by_r));
    e.refresh(d).unwrap();
    // recency 10 9 8 7 6 -> R 1 1 1 2 2
    assert_eq!(count(&e, "rfm:lapsed"), 5);
    assert_eq!(members(&e, "r:2"), [3, 4]);

    // validation: every cell exactly once, names plain
    assert!(RfmGrid::new([("a", 1..=5, 1..=5), ("b", 5..=5, 5..=5)]).is_err());
    assert!(RfmGrid::new([("a", 1..=5, 1..=4)]).is_err());
    assert!(RfmGrid::new([("a:b", 1..=5, 1..=5)]).is_err());
    assert!(RfmGrid::new([("a/b", 1..=5, 1..=5)]).is_err());
    assert!(RfmGrid::new([("", 1..=5, 1..=5)]).is_err());
    assert!(RfmGrid::new([("a", 0..=5, 1..=5)]).is_err());
    assert!(RfmGrid::new([("a", 1..=6, 1..=5)]).is_err());
    assert!(matches!(RfmGrid::new(Vec::<(&str, _, _)>::new()), Err(Error::InvalidModel { .. })));
}

#[test]
fn standard_segment_map_matches_the_specification() {
    let map = RfmGrid::default();
    for r in 1..=5u8 {
        for f in 1..=5u8 {
            assert_eq!(map.segment(r, f), Some(standard_segment(r, f)), "R{r} F{f}");
        }
    }
    assert_eq!(map.names().collect::<BTreeSet<_>>(), STANDARD_SEGMENTS.into_iter().collect());
    assert_eq!(map.segment(0, 3), None);
    assert_eq!(map.segment(3, 6), None);
}

// ------------------------------------------------------------------ refresh bookkeeping

#[test]
fn before_the_first_refresh_nothing_is_derived() {
    let (mut e, c) = engine_with(1);
    e.record_purchase(c[0], day("2024-01-01"), cents(1)).unwrap();
    assert_eq!(e.last_refresh(), None);
    assert_eq!(e.rfm_of(c[0]).unwrap(), None);
    assert_eq!(e.stage_of(c[0]).unwrap(), None);
    assert!(matches!(e.query("stage:prospect"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.attr(c[0], "recency_days"), Err(Error::UnknownAttribute { .. })));
    assert!(matches!(e.rfm_of(CustomerId(99)), Err(Error::UnknownCustomer { .. })));
    assert!(matches!(e.stage_of(CustomerId(99)), Err(Error::UnknownCustomer { .. })));
}

#[test]
fn derived_groups_are_exclusive_and_typed() {
    let (mut e, c) = engine_with(1);
    e.record_purchase(c[0], day("2024-01-01"), cents(1)).unwrap();
    e.refresh(day("2024-01-01")).unwrap();
    let groups: BTreeSet<&str> = e.exclusive_groups().collect();
    for g in GROUPS {
        assert!(groups.contains(g), "{g} is an exclusive group");
    }
    let names = |g: &str| e.tags_in_group(g).unwrap().iter().map(|t| t.name.to_owned()).collect::<BTreeSet<_>>();
    for g in ["r", "f", "m"] {
        assert_eq!(names(g), (1..=5).map(|i| format!("{g}:{i}")).collect());
    }
    assert_eq!(names("stage"), Stage::ALL.iter().map(|s| format!("stage:{s}")).collect());
    assert_eq!(names("rfm"), STANDARD_SEGMENTS.iter().map(|s| format!("rfm:{s}")).collect());
    assert_eq!(e.tag_info("stage:new").unwrap().kind, TagKind::Lifecycle);
    for s in Stage::ALL {
        assert_eq!(s.as_str().parse::<Stage>().unwrap(), s);
        assert_eq!(s.to_string(), s.as_str());
    }
    assert!("lapsed".parse::<Stage>().is_err());
}

/// Customers added after a refresh have no stage until the next one, which lists them as
/// coming from no stage.
#[test]
fn customers_added_between_refreshes() {
    let (mut e, c) = engine_with(1);
    let d = day("2024-06-30");
    e.record_purchase(c[0], d, cents(1)).unwrap();
    e.refresh(d).unwrap();
    let late = e.customer("late").unwrap();
    let buyer = e.customer("buyer").unwrap();
    e.record_purchase(buyer, d, cents(1)).unwrap();
    for x in [late, buyer] {
        assert_eq!(e.stage_of(x).unwrap(), None);
        assert_eq!(e.rfm_of(x).unwrap(), None);
        assert!(derived_tags_of(&e, x).is_empty());
    }
    assert_eq!(count(&e, "stage:prospect"), 0, "tags hold until the next refresh");
    let r = e.refresh(d).unwrap();
    assert!(r.incremental);
    assert_eq!(r.recomputed, 1);
    assert_eq!(transitions(&r), [(None, Stage::Prospect, vec![late.0]), (None, Stage::New, vec![buyer.0])]);
    assert_eq!(r.customers, 3);
}

// ================================================================== 2. the reference model

/// One purchase record: customer, day (days since 1970-01-01), amount (minor units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    c: u32,
    day: i32,
    amount: i64,
}

fn to_engine(r: &Rec) -> (CustomerId, Day, Money) {
    (CustomerId(r.c), Day::from_days_since_epoch(r.day).unwrap(), cents(r.amount))
}

/// Lifecycle windows `(new, active, churn)`.
const WINDOWS: [(u32, u32, u32); 5] = [(30, 90, 180), (3, 6, 10), (0, 0, 0), (10, 4, 8), (30, 90, 180)];

fn lifecycle(w: (u32, u32, u32)) -> Lifecycle {
    Lifecycle::new(w.0, w.1, w.2).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scoring {
    Quantiles,
    Thresholds { r: [i64; 4], f: [i64; 4], m: [i64; 4] },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segments {
    Standard,
    BestRest,
    ByRecency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spec {
    scoring: Scoring,
    segments: Segments,
}

const MODELS: [Spec; 5] = [
    Spec { scoring: Scoring::Quantiles, segments: Segments::Standard },
    Spec {
        scoring: Scoring::Thresholds { r: [0, 2, 30, 90], f: [2, 2, 3, 5], m: [0, 100, 500, 2000] },
        segments: Segments::Standard,
    },
    Spec { scoring: Scoring::Quantiles, segments: Segments::BestRest },
    Spec {
        scoring: Scoring::Thresholds { r: [5, 31, 91, 181], f: [1, 2, 4, 8], m: [-100, 0, 1000, 1000] },
        segments: Segments::ByRecency,
    },
    Spec { scoring: Scoring::Quantiles, segments: Segments::Standard },
];

impl Spec {
    fn segment_map(&self) -> RfmGrid {
        match self.segments {
            Segments::Standard => RfmGrid::default(),
            Segments::BestRest => {
                RfmGrid::new([("best", 4..=5, 4..=5), ("rest", 1..=3, 1..=5), ("rest", 4..=5, 1..=3)]).unwrap()
            }
            Segments::ByRecency => {
                RfmGrid::new([("lapsed", 1..=2, 1..=5), ("steady", 3..=3, 1..=5), ("recent", 4..=5, 1..=5)]).unwrap()
            }
        }
    }

    fn rfm_model(&self) -> RfmModel {
        let base = match self.scoring {
            Scoring::Quantiles => RfmModel::quantiles(),
            Scoring::Thresholds { r, f, m } => RfmModel::thresholds(r, f, m.map(cents)).unwrap(),
        };
        base.with_segments(self.segment_map())
    }

    /// The segment of (R, F), written out from the definitions.
    fn segment(&self, r: u8, f: u8) -> &'static str {
        match self.segments {
            Segments::Standard => standard_segment(r, f),
            Segments::BestRest => {
                if r >= 4 && f >= 4 {
                    "best"
                } else {
                    "rest"
                }
            }
            Segments::ByRecency => match r {
                1 | 2 => "lapsed",
                3 => "steady",
                _ => "recent",
            },
        }
    }

    fn names(&self) -> Vec<&'static str> {
        match self.segments {
            Segments::Standard => STANDARD_SEGMENTS.to_vec(),
            Segments::BestRest => vec!["best", "rest"],
            Segments::ByRecency => vec!["lapsed", "steady", "recent"],
        }
    }
}

/// The standard map, as the specification states it.
fn standard_segment(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (1..=2, 1..=2) => "hibernating",
        (1..=2, 3..=4) => "at_risk",
        (1..=2, 5) => "cant_lose",
        (3, 1..=2) => "about_to_sleep",
        (3, 3) => "need_attention",
        (3..=4, 4..=5) => "loyal_customers",
        (4, 1) => "promising",
        (5, 1) => "new_customers",
        (4..=5, 2..=3) => "potential_loyalists",
        (5, 4..=5) => "champions",
        _ => panic!("no segment for R{r} F{f}"),
    }
}

/// What the specification says one customer's figures are.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    stage: Stage,
    rfm: Option<Figures>,
}

/// PERCENT_RANK quintile: 1 + min(4, floor(5 * below / (N - 1))), 1 for N = 1.
fn percent_rank_score(values: &[i64], x: i64, worse: impl Fn(i64, i64) -> bool) -> u8 {
    let n = values.len();
    if n == 1 {
        return 1;
    }
    let below = values.iter().filter(|&&v| worse(v, x)).count();
    1 + (5 * below / (n - 1)).min(4) as u8
}

fn recency_threshold(c: [i64; 4], recency: i64) -> u8 {
    if recency <= c[0] {
        5
    } else if recency <= c[1] {
        4
    } else if recency <= c[2] {
        3
    } else if recency <= c[3] {
        2
    } else {
        1
    }
}

fn at_least_threshold(c: [i64; 4], x: i64) -> u8 {
    if x >= c[3] {
        5
    } else if x >= c[2] {
        4
    } else if x >= c[1] {
        3
    } else if x >= c[0] {
        2
    } else {
        1
    }
}

/// The whole picture as of `as_of`, straight from the definitions.
fn reference(
    live: &BTreeSet<u32>,
    recs: &[Rec],
    as_of: i32,
    windows: (u32, u32, u32),
    spec: Spec,
) -> BTreeMap<u32, Want> {
    let (new, active, churn) = (i64::from(windows.0), i64::from(windows.1), i64::from(windows.2));
    let ago = |d: i32| i64::from(as_of) - i64::from(d);
    struct Facts {
        recency: i64,
        frequency: i64,
        monetary: i64,
        stage: Stage,
    }
    let mut by_customer: BTreeMap<u32, Vec<&Rec>> = BTreeMap::new();
    for r in recs.iter().filter(|r| r.day <= as_of) {
        by_customer.entry(r.c).or_default().push(r);
    }
    let mut facts: BTreeMap<u32, Option<Facts>> = BTreeMap::new();
    for &c in live {
        let mine: &[&Rec] = by_customer.get(&c).map_or(&[], Vec::as_slice);
        let mut buys: Vec<i32> = mine.iter().filter(|r| r.amount >= 0).map(|r| r.day).collect();
        buys.sort_unstable();
        let (Some(&first), Some(&last)) = (buys.first(), buys.last()) else {
            facts.insert(c, None);
            continue;
        };
        let comeback = buys.windows(2).filter(|w| i64::from(w[1]) - i64::from(w[0]) > churn).map(|w| w[1]).next_back();
        let stage = if ago(first) <= new {
            Stage::New
        } else if comeback.is_some_and(|cb| ago(cb) <= active) {
            Stage::Reactivated
        } else if ago(last) <= active {
            Stage::Active
        } else if ago(last) <= churn {
            Stage::AtRisk
        } else {
            Stage::Churned
        };
        let monetary = mine.iter().map(|r| r.amount).sum();
        facts.insert(c, Some(Facts { recency: ago(last), frequency: buys.len() as i64, monetary, stage }));
    }
    let scored: Vec<&Facts> = facts.values().flatten().collect();
    let rs: Vec<i64> = scored.iter().map(|f| f.recency).collect();
    let fs: Vec<i64> = scored.iter().map(|f| f.frequency).collect();
    let ms: Vec<i64> = scored.iter().map(|f| f.monetary).collect();
    facts
        .into_iter()
        .map(|(c, f)| {
            let want = match f {
                None => Want { stage: Stage::Prospect, rfm: None },
                Some(f) => {
                    let (r, fr, m) = match spec.scoring {
                        Scoring::Quantiles => (
                            percent_rank_score(&rs, f.recency, |v, x| v > x),
                            percent_rank_score(&fs, f.frequency, |v, x| v < x),
                            percent_rank_score(&ms, f.monetary, |v, x| v < x),
                        ),
                        Scoring::Thresholds { r, f: fc, m } => (
                            recency_threshold(r, f.recency),
                            at_least_threshold(fc, f.frequency),
                            at_least_threshold(m, f.monetary),
                        ),
                    };
                    let segment = spec.segment(r, fr).to_owned();
                    Want { stage: f.stage, rfm: Some((f.recency, f.frequency as u32, f.monetary, r, fr, m, segment)) }
                }
            };
            (c, want)
        })
        .collect()
}

/// Everything a refresh derives, as the engine shows it (or as the model predicts it).
#[derive(Debug, PartialEq, Eq)]
struct Derived {
    /// Non-empty derived tags and their members.
    tags: BTreeMap<String, Vec<u32>>,
    /// (customer, attribute) -> value.
    attrs: BTreeMap<(u32, &'static str), i64>,
    /// `stage_of` and `rfm_of` of every live customer.
    per_customer: BTreeMap<u32, (Option<Stage>, Option<Figures>)>,
}

fn derived(e: &Engine) -> Derived {
    let mut tags = BTreeMap::new();
    for g in GROUPS {
        let Ok(infos) = e.tags_in_group(g) else { continue };
        for t in infos {
            let who = ids(&e.select(&Query::tag(t.name)).unwrap());
            assert_eq!(who.len() as u64, t.len, "{}: listed size", t.name);
            if !who.is_empty() {
                tags.insert(t.name.to_owned(), who);
            }
        }
    }
    let mut attrs = BTreeMap::new();
    let mut per_customer = BTreeMap::new();
    for c in e.customers().iter() {
        for a in ATTRS {
            match e.attr(c, a) {
                Ok(Some(v)) => {
                    attrs.insert((c.0, a), v);
                }
                Ok(None) | Err(Error::UnknownAttribute { .. }) => {}
                Err(err) => panic!("attr {a}: {err}"),
            }
        }
        per_customer.insert(c.0, (e.stage_of(c).unwrap(), rfm(e, c)));
    }
    Derived { tags, attrs, per_customer }
}

/// The model's prediction: `shown` holds the figures of the customers the last refresh
/// covered; other live customers show nothing yet.
fn expected(live: &BTreeSet<u32>, shown: &BTreeMap<u32, Want>) -> Derived {
    let mut tags: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut attrs = BTreeMap::new();
    let mut per_customer = BTreeMap::new();
    for &c in live {
        let Some(w) = shown.get(&c) else {
            per_customer.insert(c, (None, None));
            continue;
        };
        tags.entry(format!("stage:{}", w.stage)).or_default().push(c);
        if let Some((recency, frequency, monetary, r, f, m, seg)) = &w.rfm {
            for t in [format!("r:{r}"), format!("f:{f}"), format!("m:{m}"), format!("rfm:{seg}")] {
                tags.entry(t).or_default().push(c);
            }
            attrs.insert((c, "recency_days"), *recency);
            attrs.insert((c, "frequency"), i64::from(*frequency));
            attrs.insert((c, "monetary"), *monetary);
        }
        per_customer.insert(c, (Some(w.stage), w.rfm.clone()));
    }
    Derived { tags, attrs, per_customer }
}

/// Range predicates and tag combinations, counted by the engine and by the model.
fn check_queries(e: &Engine, shown: &BTreeMap<u32, Want>) -> TestResult {
    let live: BTreeSet<u32> = ids(&e.customers()).into_iter().collect();
    let figs: Vec<&Figures> =
        shown.iter().filter(|(c, _)| live.contains(c)).filter_map(|(_, w)| w.rfm.as_ref()).collect();
    let metric = |f: &Figures, a: &str| match a {
        "recency_days" => f.0,
        "frequency" => i64::from(f.1),
        _ => f.2,
    };
    for a in ATTRS {
        let mut probes: BTreeSet<i64> = [-1, 0, 1, 30, 31, 90, 91, 180, 181].into();
        probes.extend(figs.iter().map(|f| metric(f, a)).take(4));
        for v in probes {
            for (op, holds) in [
                ("<=", (|x: i64, v: i64| x <= v) as fn(i64, i64) -> bool),
                (">", |x, v| x > v),
                ("=", |x, v| x == v),
                ("!=", |x, v| x != v),
            ] {
                let q = format!("{a} {op} {v}");
                let want = figs.iter().filter(|f| holds(metric(f, a), v)).count() as u64;
                prop_assert_eq!(count(e, &q), want, "{}", q);
            }
        }
    }
    for s in Stage::ALL {
        for k in 1..=5u8 {
            let q = format!("stage:{s} AND f:{k}");
            let want = shown
                .iter()
                .filter(|(c, w)| live.contains(c) && w.stage == s && w.rfm.as_ref().is_some_and(|f| f.4 == k))
                .count() as u64;
            prop_assert_eq!(count(e, &q), want, "{}", q);
        }
    }
    Ok(())
}

/// The report against the model.
fn check_report(r: &RefreshReport, want: &BTreeMap<u32, Want>, spec: Spec, as_of: i32) -> TestResult {
    prop_assert_eq!(r.as_of.days_since_epoch(), as_of);
    prop_assert_eq!(r.customers, want.len() as u64);
    prop_assert_eq!(r.scored, want.values().filter(|w| w.rfm.is_some()).count() as u64);
    let stages: Vec<(Stage, u64)> =
        Stage::ALL.iter().map(|&s| (s, want.values().filter(|w| w.stage == s).count() as u64)).collect();
    prop_assert_eq!(&r.stages, &stages);
    let names: Vec<String> = spec.segment_map().names().map(str::to_owned).collect();
    prop_assert_eq!(names.iter().map(String::as_str).collect::<BTreeSet<_>>(), spec.names().into_iter().collect());
    let segments: Vec<(String, u64)> = names
        .iter()
        .map(|n| (n.clone(), want.values().filter(|w| w.rfm.as_ref().is_some_and(|f| f.6 == *n)).count() as u64))
        .collect();
    prop_assert_eq!(&r.segments, &segments);
    for (s, n) in &stages {
        prop_assert_eq!(r.stage_count(*s), *n);
    }
    Ok(())
}

/// Transitions by the naive diff: `before` holds the stages of the previous refresh of the
/// customers that existed then and were not removed since.
fn naive_transitions(
    before: &BTreeMap<u32, Stage>,
    now: &BTreeMap<u32, Want>,
) -> Vec<(Option<Stage>, Stage, Vec<u32>)> {
    let mut moves: BTreeMap<(Option<Stage>, Stage), Vec<u32>> = BTreeMap::new();
    for (&c, w) in now {
        let from = before.get(&c).copied();
        if from != Some(w.stage) {
            moves.entry((from, w.stage)).or_default().push(c);
        }
    }
    moves.into_iter().map(|((f, t), v)| (f, t, v)).collect()
}

/// A fresh engine with these customers and purchases, refreshed once.
fn fresh(
    live: &BTreeSet<u32>,
    recs: &[Rec],
    windows: (u32, u32, u32),
    spec: Spec,
    as_of: i32,
) -> (Engine, RefreshReport) {
    let mut e = Engine::new();
    e.set_lifecycle(lifecycle(windows));
    e.set_rfm_model(spec.rfm_model());
    for &c in live {
        e.customer_id(c).unwrap();
    }
    e.record_purchases(recs.iter().map(to_engine)).unwrap();
    let r = e.refresh(Day::from_days_since_epoch(as_of).unwrap()).unwrap();
    (e, r)
}

// ------------------------------------------------------------------ strategies

/// Days on two grids relative to [`BASE`]: every day of the first 25 (small windows), and
/// multiples of 30 give or take one (so gaps of 30/31, 90/91, 180/181 come up often).
fn arb_day() -> impl Strategy<Value = i32> {
    prop_oneof![0i32..25, (0i32..15, -1i32..=1).prop_map(|(k, b)| 30 * k + b)].prop_map(|d| BASE + d)
}

/// Amounts with many ties, zeros and refunds.
fn arb_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => prop::sample::select(vec![0i64, 100, 100, 250, 1000, 5000]),
        1 => prop::sample::select(vec![-100i64, -500, -5000]),
        1 => -2000i64..20_000,
    ]
}

/// A purchase of the `pick`-th live customer.
fn arb_buy() -> impl Strategy<Value = (usize, i32, i64)> {
    (any::<usize>(), arb_day(), arb_amount())
}

/// A random world: live customer ids, their purchases, an as-of day, windows and model.
#[derive(Clone, Debug)]
struct Case {
    live: BTreeSet<u32>,
    recs: Vec<Rec>,
    as_of: i32,
    windows: (u32, u32, u32),
    spec: Spec,
}

/// Customer ids: mostly small, sometimes sparse or at the very top of the id space.
fn arb_id() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..20, 1 => prop::sample::select(vec![1 << 16, 70_000, u32::MAX - 1, u32::MAX])]
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        prop::collection::btree_set(arb_id(), 1..=7),
        prop::collection::vec(arb_buy(), 0..30),
        prop_oneof![4 => arb_day(), 1 => arb_day().prop_map(|d| d + 450)],
        0..WINDOWS.len(),
        0..MODELS.len(),
    )
        .prop_map(|(live, buys, as_of, w, m)| {
            let ids: Vec<u32> = live.iter().copied().collect();
            let recs = buys.into_iter().map(|(p, day, amount)| Rec { c: ids[p % ids.len()], day, amount }).collect();
            Case { live, recs, as_of, windows: WINDOWS[w], spec: MODELS[m] }
        })
}

/// `PROPTEST_CASES` overrides the case count; no regression files.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// A deterministic shuffle (xorshift Fisher-Yates), so a failing seed is reproducible.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

// ------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(config(256))]

    /// Every customer's rfm_of/stage_of, every derived tag's and attribute's membership, the
    /// range predicates and the report equal the reference model.
    #[test]
    fn engine_equals_the_reference_model(case in arb_case()) {
        let want = reference(&case.live, &case.recs, case.as_of, case.windows, case.spec);
        let (e, report) = fresh(&case.live, &case.recs, case.windows, case.spec, case.as_of);
        prop_assert_eq!(derived(&e), expected(&case.live, &want));
        check_queries(&e, &want)?;
        check_report(&report, &want, case.spec, case.as_of)?;
        prop_assert_eq!(transitions(&report), naive_transitions(&BTreeMap::new(), &want));
        prop_assert!(!report.incremental);
        let with_records = case.live.iter().filter(|c| case.recs.iter().any(|r| r.c == **c)).count() as u64;
        prop_assert_eq!(report.recomputed, with_records);
    }

    /// A strictly better metric never gets a lower score, and equal metrics get equal scores
    /// (quantiles and thresholds alike).
    #[test]
    fn better_metrics_never_score_lower(case in arb_case()) {
        let (e, _) = fresh(&case.live, &case.recs, case.windows, case.spec, case.as_of);
        let scored: Vec<Figures> = case.live.iter().filter_map(|&c| rfm(&e, CustomerId(c))).collect();
        for a in &scored {
            for b in &scored {
                // recency: smaller is better; frequency, monetary: larger is better
                for (better, equal, sa, sb) in [
                    (a.0 < b.0, a.0 == b.0, a.3, b.3),
                    (a.1 > b.1, a.1 == b.1, a.4, b.4),
                    (a.2 > b.2, a.2 == b.2, a.5, b.5),
                ] {
                    if better {
                        prop_assert!(sa >= sb, "{:?} vs {:?}", a, b);
                    }
                    if equal {
                        prop_assert_eq!(sa, sb, "{:?} vs {:?}", a, b);
                    }
                }
            }
        }
    }

    /// Scores, stages, tags and attributes do not depend on the order purchases arrive in, nor
    /// on how they are batched or interleaved with refreshes.
    #[test]
    fn independent_of_input_order(case in arb_case(), seed in any::<u64>(), split in any::<usize>(), mid in proptest::option::of(arb_day())) {
        let (a, ra) = fresh(&case.live, &case.recs, case.windows, case.spec, case.as_of);
        let mut recs = case.recs.clone();
        shuffle(&mut recs, seed);
        let mut b = Engine::new();
        b.set_lifecycle(lifecycle(case.windows));
        b.set_rfm_model(case.spec.rfm_model());
        for &c in case.live.iter().rev() {
            b.customer_id(c).unwrap();
        }
        let split = split % (recs.len() + 1);
        for r in &recs[..split] {
            let (c, d, m) = to_engine(r);
            b.record_purchase(c, d, m).unwrap();
        }
        if let Some(mid) = mid {
            b.refresh(Day::from_days_since_epoch(mid).unwrap()).unwrap();
        }
        b.record_purchases(recs[split..].iter().map(to_engine)).unwrap();
        let rb = b.refresh(Day::from_days_since_epoch(case.as_of).unwrap()).unwrap();
        prop_assert_eq!(derived(&a), derived(&b));
        prop_assert_eq!(&ra.stages, &rb.stages);
        prop_assert_eq!(&ra.segments, &rb.segments);
        for &c in &case.live {
            let (pa, pb) = (a.purchases_of(CustomerId(c)).unwrap(), b.purchases_of(CustomerId(c)).unwrap());
            prop_assert_eq!(pa.len(), pb.len());
        }
    }

    /// As of D equals a fresh engine fed only the purchases up to D, also when the engine was
    /// refreshed at another day first.
    #[test]
    fn as_of_ignores_later_purchases(case in arb_case(), before in proptest::option::of(arb_day())) {
        let mut a = Engine::new();
        a.set_lifecycle(lifecycle(case.windows));
        a.set_rfm_model(case.spec.rfm_model());
        for &c in &case.live {
            a.customer_id(c).unwrap();
        }
        a.record_purchases(case.recs.iter().map(to_engine)).unwrap();
        if let Some(d) = before {
            a.refresh(Day::from_days_since_epoch(d).unwrap()).unwrap();
        }
        let ra = a.refresh(Day::from_days_since_epoch(case.as_of).unwrap()).unwrap();
        let upto: Vec<Rec> = case.recs.iter().copied().filter(|r| r.day <= case.as_of).collect();
        let (b, rb) = fresh(&case.live, &upto, case.windows, case.spec, case.as_of);
        prop_assert_eq!(derived(&a), derived(&b));
        prop_assert_eq!(&ra.stages, &rb.stages);
        prop_assert_eq!(&ra.segments, &rb.segments);
        prop_assert_eq!(ra.scored, rb.scored);
        if before.is_none() {
            prop_assert_eq!(transitions(&ra), transitions(&rb));
        }
    }
}

// ------------------------------------------------------------------ incremental = full

/// A refresh date: some days after the previous one, or any day of the grid (maybe earlier).
#[derive(Clone, Copy, Debug)]
enum AsOf {
    Step(i32),
    Day(i32),
}

#[derive(Clone, Debug)]
enum Op {
    /// Registers dense id k (again, if it was removed).
    Add(u32),
    /// Removes the `pick`-th live customer.
    Remove(usize),
    /// record_purchases of some purchases of live customers (a few, or a lot at once, so the
    /// store's tiers all come into play).
    Buy(Vec<(usize, i32, i64)>),
    /// One record_purchase.
    BuyOne((usize, i32, i64)),
    /// A batch with a customer that is not live at `pos`: refused, nothing kept.
    BadBatch(Vec<(usize, i32, i64)>, usize),
    Refresh(AsOf),
    Windows(usize),
    Model(usize),
    /// A write to a derived tag or attribute: refused, nothing changes.
    WriteDerived(usize, usize),
}

fn arb_op() -> impl Strategy<Value = Op> {
    let step = prop::sample::select(vec![0i32, 0, 1, 2, 29, 30, 31, 89, 90, 91, 179, 180, 181]);
    prop_oneof![
        2 => prop_oneof![6 => 0u32..10, 1 => prop::sample::select(vec![1 << 16, u32::MAX])].prop_map(Op::Add),
        2 => any::<usize>().prop_map(Op::Remove),
        4 => prop::collection::vec(arb_buy(), 1..6).prop_map(Op::Buy),
        2 => prop::collection::vec(arb_buy(), 20..80).prop_map(Op::Buy),
        1 => arb_buy().prop_map(Op::BuyOne),
        1 => (prop::collection::vec(arb_buy(), 0..4), any::<usize>()).prop_map(|(v, p)| Op::BadBatch(v, p)),
        5 => prop_oneof![3 => step.prop_map(AsOf::Step), 2 => arb_day().prop_map(AsOf::Day)].prop_map(Op::Refresh),
        1 => (0..WINDOWS.len()).prop_map(Op::Windows),
        1 => (0..MODELS.len()).prop_map(Op::Model),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(k, p)| Op::WriteDerived(k, p)),
    ]
}

/// The state of the last refresh, as the model sees it.
struct Last {
    as_of: i32,
    windows: (u32, u32, u32),
    /// Figures of the customers it covered that are still there (removed ones are dropped).
    shown: BTreeMap<u32, Want>,
}

/// The engine under test and the model next to it.
struct World {
    e: Engine,
    live: BTreeSet<u32>,
    /// Purchases of live customers, with the number of refreshes done when each was recorded.
    recs: Vec<(Rec, u32)>,
    refreshes: u32,
    windows: (u32, u32, u32),
    spec: Spec,
    last: Option<Last>,
}

impl World {
    fn new() -> World {
        let mut e = Engine::new();
        e.ensure_tag("vip").unwrap();
        World {
            e,
            live: BTreeSet::new(),
            recs: Vec::new(),
            refreshes: 0,
            windows: WINDOWS[0],
            spec: MODELS[0],
            last: None,
        }
    }

    fn pick(&self, p: usize) -> Option<u32> {
        (!self.live.is_empty()).then(|| *self.live.iter().nth(p % self.live.len()).unwrap())
    }

    fn rec(&self, (p, day, amount): (usize, i32, i64)) -> Option<Rec> {
        Some(Rec { c: self.pick(p)?, day, amount })
    }

    fn apply(&mut self, op: &Op) -> TestResult {
        match op {
            Op::Add(k) => {
                prop_assert_eq!(self.e.customer_id(*k), Ok(CustomerId(*k)));
                self.live.insert(*k);
            }
            Op::Remove(p) => {
                if let Some(c) = self.pick(*p) {
                    self.e.remove_customer(CustomerId(c)).unwrap();
                    self.live.remove(&c);
                    self.recs.retain(|(r, _)| r.c != c);
                    if let Some(last) = &mut self.last {
                        last.shown.remove(&c);
                    }
                }
            }
            Op::Buy(buys) => {
                let recs: Vec<Rec> = buys.iter().filter_map(|&b| self.rec(b)).collect();
                prop_assert_eq!(self.e.record_purchases(recs.iter().map(to_engine)).unwrap(), recs.len() as u64);
                self.recs.extend(recs.into_iter().map(|r| (r, self.refreshes)));
            }
            Op::BuyOne(b) => {
                if let Some(r) = self.rec(*b) {
                    let (c, d, m) = to_engine(&r);
                    self.e.record_purchase(c, d, m).unwrap();
                    self.recs.push((r, self.refreshes));
                }
            }
            Op::BadBatch(buys, pos) => {
                let mut batch: Vec<(CustomerId, Day, Money)> =
                    buys.iter().filter_map(|&b| self.rec(b)).map(|r| to_engine(&r)).collect();
                let bad = (10..).find(|k| !self.live.contains(k)).unwrap();
                let at = pos % (batch.len() + 1);
                batch.insert(at, (CustomerId(bad), Day::from_days_since_epoch(BASE).unwrap(), cents(100)));
                let before = self.e.purchase_count();
                prop_assert_eq!(self.e.record_purchases(batch), Err(Error::UnknownCustomer { id: CustomerId(bad) }));
                prop_assert_eq!(self.e.purchase_count(), before);
                prop_assert_eq!(
                    self.e.record_purchase(CustomerId(bad), Day::UNIX_EPOCH, cents(1)),
                    Err(Error::UnknownCustomer { id: CustomerId(bad) })
                );
            }
            Op::Refresh(when) => self.refresh(*when)?,
            Op::Windows(k) => {
                self.windows = WINDOWS[*k];
                self.e.set_lifecycle(lifecycle(self.windows));
            }
            Op::Model(k) => {
                self.spec = MODELS[*k];
                self.e.set_rfm_model(self.spec.rfm_model());
            }
            Op::WriteDerived(k, p) => {
                if let Some(c) = self.pick(*p) {
                    let writes = derived_writes();
                    let (what, needs, write) = &writes[k % writes.len()];
                    check_refused(&mut self.e, CustomerId(c), what, *needs, *write)?;
                }
            }
        }
        prop_assert_eq!(self.e.purchase_count(), self.recs.len() as u64);
        for &c in &self.live {
            let got: Vec<(i32, i64)> = self
                .e
                .purchases_of(CustomerId(c))
                .unwrap()
                .iter()
                .map(|p| (p.day.days_since_epoch(), p.amount.minor()))
                .collect();
            let mut want: Vec<(i32, i64)> =
                self.recs.iter().filter(|(r, _)| r.c == c).map(|(r, _)| (r.day, r.amount)).collect();
            want.sort_by_key(|&(d, _)| d); // stable: arrival order within a day
            prop_assert_eq!(got, want, "purchases_of {}", c);
        }
        // between refreshes the derived data stays as of the last refresh
        let shown = self.last.as_ref().map(|l| l.shown.clone()).unwrap_or_default();
        prop_assert_eq!(derived(&self.e), expected(&self.live, &shown));
        Ok(())
    }

    fn refresh(&mut self, when: AsOf) -> TestResult {
        let as_of = match (when, &self.last) {
            (AsOf::Step(n), Some(l)) => l.as_of + n,
            (AsOf::Step(n), None) => BASE + 180 + n,
            (AsOf::Day(d), _) => d,
        };
        let recs: Vec<Rec> = self.recs.iter().map(|(r, _)| *r).collect();
        let want = reference(&self.live, &recs, as_of, self.windows, self.spec);
        let report = self.e.refresh(Day::from_days_since_epoch(as_of).unwrap()).unwrap();

        // the engine against the model
        prop_assert_eq!(derived(&self.e), expected(&self.live, &want));
        check_queries(&self.e, &want)?;
        check_report(&report, &want, self.spec, as_of)?;
        let before: BTreeMap<u32, Stage> =
            self.last.as_ref().map(|l| l.shown.iter().map(|(&c, w)| (c, w.stage)).collect()).unwrap_or_default();
        prop_assert_eq!(transitions(&report), naive_transitions(&before, &want));

        // ... and against a fresh engine refreshed once
        let (f, fr) = fresh(&self.live, &recs, self.windows, self.spec, as_of);
        prop_assert_eq!(derived(&self.e), derived(&f));
        prop_assert_eq!(&report.stages, &fr.stages);
        prop_assert_eq!(&report.segments, &fr.segments);
        prop_assert_eq!(report.scored, fr.scored);

        // what was read again: incremental when the day does not move back and the windows are
        // unchanged; a full read on the first refresh, an earlier day or a new churn window (a
        // new `new` or `active` window alone changes no summary, so either is accepted then)
        let with_records: BTreeSet<u32> = recs.iter().map(|r| r.c).collect();
        let changed = |l: &Last| {
            with_records
                .iter()
                .filter(|&&c| {
                    self.recs
                        .iter()
                        .any(|(r, n)| r.c == c && (*n == self.refreshes || (as_of > l.as_of && r.day > l.as_of)))
                })
                .count() as u64
        };
        let incremental = match &self.last {
            Some(l) if as_of >= l.as_of && l.windows == self.windows => Some(true),
            Some(l) if as_of >= l.as_of && l.windows.2 == self.windows.2 => None,
            _ => Some(false),
        };
        if let Some(want) = incremental {
            prop_assert_eq!(report.incremental, want);
        }
        match (&self.last, report.incremental) {
            (Some(l), true) => {
                prop_assert_eq!(
                    report.recomputed,
                    changed(l),
                    "incremental: customers with new or newly due purchases"
                );
            }
            _ => prop_assert_eq!(report.recomputed, with_records.len() as u64, "full: every customer with a record"),
        }

        self.refreshes += 1;
        self.last = Some(Last { as_of, windows: self.windows, shown: want });
        Ok(())
    }
}

proptest! {
    #![proptest_config(config(384))]

    /// After each refresh of a long-lived engine (random purchases, removals, new and
    /// re-registered customers, earlier and later days, new windows and models), everything
    /// derived equals a fresh engine refreshed once and the reference model, and the
    /// transitions equal the naive diff of the stages before and after.
    #[test]
    fn incremental_refresh_equals_a_full_one(ops in prop::collection::vec(arb_op(), 1..40)) {
        let mut w = World::new();
        for op in &ops {
            w.apply(op)?;
        }
        w.apply(&Op::Refresh(AsOf::Step(1)))?;
    }
}

/// 70,000 records of 3,000 dense customers in random order (the store's bulk sort), then
/// small batches, a mass removal (compaction) and moving days, against the reference model.
#[test]
fn a_large_history_against_the_reference_model() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let n = 3000u32;
    let (windows, spec) = (WINDOWS[0], MODELS[0]);
    let mut e = Engine::new();
    let mut live = BTreeSet::new();
    for c in 0..n {
        e.customer_id(c).unwrap();
        live.insert(c);
    }
    let mut recs: Vec<Rec> = (0..70_000)
        .map(|_| Rec { c: next(u64::from(n)) as u32, day: BASE + next(400) as i32, amount: next(3000) as i64 - 300 })
        .collect();
    e.record_purchases(recs.iter().map(to_engine)).unwrap();
    let mut before: BTreeMap<u32, Stage> = BTreeMap::new();
    for (round, as_of) in [200, 230, 230, 150, 420, 421].into_iter().enumerate() {
        let as_of = BASE + as_of;
        let report = e.refresh(Day::from_days_since_epoch(as_of).unwrap()).unwrap();
        let want = reference(&live, &recs, as_of, windows, spec);
        assert_eq!(derived(&e), expected(&live, &want), "round {round}");
        check_report(&report, &want, spec, as_of).unwrap();
        assert_eq!(transitions(&report), naive_transitions(&before, &want), "round {round}");
        before = want.iter().map(|(&c, w)| (c, w.stage)).collect();
        // a small batch, and a removal or, once, a mass removal
        let ids: Vec<u32> = live.iter().copied().collect();
        let batch: Vec<Rec> = (0..40)
            .map(|_| Rec { c: ids[next(ids.len() as u64) as usize], day: BASE + next(450) as i32, amount: 100 })
            .collect();
        e.record_purchases(batch.iter().map(to_engine)).unwrap();
        recs.extend(batch);
        let gone: Vec<u32> =
            if round == 2 { ids.iter().copied().filter(|c| c % 3 == 0).collect() } else { vec![ids[7]] };
        for c in gone {
            e.remove_customer(CustomerId(c)).unwrap();
            live.remove(&c);
            before.remove(&c);
        }
        recs.retain(|r| live.contains(&r.c));
        assert_eq!(e.purchase_count(), recs.len() as u64);
    }
}

// ------------------------------------------------------------------ derived names are read-only

type Write = fn(&mut Engine, CustomerId) -> audience::Result<()>;

/// Every way to write a derived tag or attribute: (what, the existing tag it needs, the write).
/// Before a refresh creates the needed tag, an unknown-tag error is a refusal too.
fn derived_writes() -> Vec<(&'static str, Option<&'static str>, Write)> {
    vec![
        ("tag r:5", None, |e, c| e.tag(c, "r:5").map(drop)),
        ("tag ' stage : churned '", None, |e, c| e.tag(c, " stage : churned ").map(drop)),
        ("tag a new rfm value", None, |e, c| e.tag(c, "rfm:my_segment").map(drop)),
        ("tag f:1", None, |e, c| e.tag(c, "f:1").map(drop)),
        ("tag m:3", None, |e, c| e.tag(c, "m:3").map(drop)),
        ("untag stage:prospect", Some("stage:prospect"), |e, c| e.untag(c, "stage:prospect").map(drop)),
        ("untag r:1", Some("r:1"), |e, c| e.untag(c, "r:1").map(drop)),
        ("ensure_tag m:9", None, |e, _| e.ensure_tag("m:9").map(drop)),
        ("ensure_tag stage:active", None, |e, _| e.ensure_tag("stage:active").map(drop)),
        ("define_tag rfm:champions", None, |e, _| e.define_tag("rfm:champions", TagKind::Value).map(drop)),
        ("define_tag stage:new", None, |e, _| e.define_tag("stage:new", TagKind::Lifecycle).map(drop)),
        ("tag_pairs with f:2", None, |e, c| e.tag_pairs([(c, "vip"), (c, "f:2")]).map(drop)),
        ("tag_id_pairs stage:prospect", Some("stage:prospect"), |e, c| {
            let t = e.tag_id("stage:prospect").unwrap_or(audience::TagId(u32::MAX));
            e.tag_id_pairs([(c, t)]).map(drop)
        }),
        ("rename stage:active", Some("stage:active"), |e, _| e.rename_tag("stage:active", "stage:live")),
        ("rename r:1 out", Some("r:1"), |e, _| e.rename_tag("r:1", "rank_one")),
        ("rename vip into rfm", Some("vip"), |e, _| e.rename_tag("vip", "rfm:vip")),
        ("delete stage:prospect", Some("stage:prospect"), |e, _| e.delete_tag("stage:prospect").map(drop)),
        ("delete rfm:champions", Some("rfm:champions"), |e, _| e.delete_tag("rfm:champions").map(drop)),
        ("declare stage", None, |e, _| e.define_exclusive_group("stage")),
        ("declare ' r '", None, |e, _| e.define_exclusive_group(" r ")),
        ("declare f", None, |e, _| e.define_exclusive_group("f")),
        ("declare m", None, |e, _| e.define_exclusive_group("m")),
        ("declare rfm with a kind", None, |e, _| e.define_exclusive_group_with_kind("rfm", TagKind::Value)),
        ("set_tag_kind stage:active", Some("stage:active"), |e, _| e.set_tag_kind("stage:active", TagKind::Custom)),
        ("tag_all stage:new", None, |e, _| {
            let all = e.customers();
            e.tag_all(&all, "stage:new").map(drop)
        }),
        ("untag_all stage:prospect", Some("stage:prospect"), |e, _| {
            let all = e.customers();
            e.untag_all(&all, "stage:prospect").map(drop)
        }),
        ("set_attr recency_days", None, |e, c| e.set_attr(c, "recency_days", 1).map(drop)),
        ("set_attr ' monetary '", None, |e, c| e.set_attr(c, " monetary ", 0).map(drop)),
        ("set_attr frequency", None, |e, c| e.set_attr(c, "frequency", 3).map(drop)),
        ("unset_attr recency_days", None, |e, c| e.unset_attr(c, "recency_days").map(drop)),
        ("unset_attr monetary", None, |e, c| e.unset_attr(c, "monetary").map(drop)),
        ("unset_attr frequency", None, |e, c| e.unset_attr(c, "frequency").map(drop)),
        ("define_attr monetary", None, |e, _| e.define_attr("monetary")),
        ("set_attrs with frequency", None, |e, c| e.set_attrs([(c, "age", 30), (c, "frequency", 2)]).map(drop)),
    ]
}

fn check_refused(e: &mut Engine, c: CustomerId, what: &str, needs: Option<&str>, write: Write) -> TestResult {
    let before = fingerprint(e);
    let missing = needs.is_some_and(|n| e.tag_id(n).is_none());
    match write(e, c) {
        Err(Error::DerivedName { .. }) => {}
        Err(Error::UnknownTag { .. } | Error::UnknownTagId { .. }) if missing => {}
        other => prop_assert!(false, "{}: expected DerivedName, got {:?}", what, other),
    }
    prop_assert_eq!(fingerprint(e), before, "{} changed the engine", what);
    Ok(())
}

#[test]
fn derived_names_are_refused_before_and_after_a_refresh() {
    let (mut e, c) = engine_with(3);
    e.ensure_tag("vip").unwrap();
    e.record_purchase(c[0], day("2024-01-01"), cents(100)).unwrap();
    e.record_purchase(c[1], day("2023-01-01"), cents(100)).unwrap();
    for (what, needs, write) in derived_writes() {
        check_refused(&mut e, c[0], what, needs, write).unwrap();
    }
    e.refresh(day("2024-01-10")).unwrap();
    for (what, needs, write) in derived_writes() {
        assert!(needs.is_none_or(|n| e.tag_id(n).is_some()), "{what}: {needs:?} exists after a refresh");
        check_refused(&mut e, c[0], what, needs, write).unwrap();
        check_refused(&mut e, c[2], what, needs, write).unwrap();
    }
    // the error names the owner
    let err = e.set_attr(c[0], "monetary", 1).unwrap_err();
    assert!(err.to_string().contains("refresh"), "{err}");
    // names that only look alike are the user's
    e.tag(c[0], "stage/custom").unwrap();
    e.tag(c[0], "my:r").unwrap();
    e.set_attr(c[0], "recency", 3).unwrap();
}

proptest! {
    #![proptest_config(config(24))]

    /// Every derived write is refused and changes nothing, whatever the engine holds.
    #[test]
    fn derived_writes_are_refused(case in arb_case(), refreshed in any::<bool>()) {
        let (mut e, _) = fresh(&case.live, &case.recs, case.windows, case.spec, case.as_of);
        if !refreshed {
            e = Engine::new();
            for &c in &case.live {
                e.customer_id(c).unwrap();
            }
            e.record_purchases(case.recs.iter().map(to_engine)).unwrap();
        }
        e.ensure_tag("vip").unwrap();
        let c = CustomerId(*case.live.iter().next().unwrap());
        for (what, needs, write) in derived_writes() {
            check_refused(&mut e, c, what, needs, write)?;
        }
    }
}

// ================================================================== 3. edge cases

#[test]
fn refresh_of_an_empty_engine() {
    let mut e = Engine::new();
    let r = e.refresh(day("2024-01-01")).unwrap();
    assert_eq!((r.customers, r.scored, r.recomputed), (0, 0, 0));
    assert_eq!(r.stages, Stage::ALL.iter().map(|&s| (s, 0)).collect::<Vec<_>>());
    assert_eq!(r.segments.len(), 10);
    assert!(r.segments.iter().all(|(_, n)| *n == 0));
    assert!(r.transitions.is_empty());
    // the derived names resolve and match nobody
    assert_eq!(count(&e, "stage:prospect OR r:5 OR rfm:champions"), 0);
    assert_eq!(count(&e, "recency_days <= 30 OR frequency > 0 OR monetary != 0"), 0);
    assert_eq!(e.last_refresh(), Some(day("2024-01-01")));
    let r = e.refresh(day("2024-01-01")).unwrap();
    assert!(r.incremental);
}

#[test]
fn all_customers_are_prospects() {
    let (mut e, c) = engine_with(4);
    let d = day("2024-01-01");
    e.record_purchase(c[0], plus(d, -3), cents(-100)).unwrap(); // refund only
    e.record_purchase(c[1], plus(d, 1), cents(100)).unwrap(); // after D
    e.record_purchase(c[2], plus(d, -3), cents(-100)).unwrap();
    e.record_purchase(c[2], plus(d, 2), cents(100)).unwrap();
    let r = e.refresh(d).unwrap();
    assert_eq!(r.scored, 0);
    assert_eq!(r.stage_count(Stage::Prospect), 4);
    assert!(r.segments.iter().all(|(_, n)| *n == 0));
    assert_eq!(transitions(&r), [(None, Stage::Prospect, vec![0, 1, 2, 3])]);
    for &x in &c {
        assert_unscored(&e, x, Stage::Prospect);
    }
    assert_eq!(count(&e, "r:1 OR r:2 OR r:3 OR r:4 OR r:5"), 0);
    assert_eq!(count(&e, "monetary < 0"), 0, "a refund-only customer has no monetary");
    // a day later two of them have bought
    let r = e.refresh(plus(d, 2)).unwrap();
    assert_eq!(transitions(&r), [(Some(Stage::Prospect), Stage::New, vec![1, 2])]);
    assert_eq!(rfm(&e, c[2]).unwrap().2, 0, "refund 1.00 + purchase 1.00");
}

#[test]
fn removal_between_refreshes() {
    let (mut e, c) = engine_with(3);
    let d = day("2024-06-30");
    for &x in &c {
        e.record_purchase(x, plus(d, -10), cents(100)).unwrap();
    }
    e.record_purchase(c[1], plus(d, -5), cents(100)).unwrap();
    e.refresh(d).unwrap();
    assert_eq!(count(&e, "stage:new"), 3);
    e.remove_customer(c[1]).unwrap();
    // its tags and attributes are gone at once
    assert_eq!(count(&e, "stage:new"), 2);
    assert_eq!(count(&e, "f:5 OR recency_days >= 0"), 2);
    assert!(matches!(e.stage_of(c[1]), Err(Error::UnknownCustomer { .. })));
    assert!(matches!(e.rfm_of(c[1]), Err(Error::UnknownCustomer { .. })));
    let r = e.refresh(plus(d, 40)).unwrap();
    assert_eq!(r.customers, 2);
    assert_eq!(transitions(&r), [(Some(Stage::New), Stage::Active, vec![0, 2])], "the removed customer is not listed");
    assert_eq!(count(&e, "stage:active"), 2);
    // N = 2, tied: 1/1/1
    assert_eq!(rfm(&e, c[0]).map(|f| (f.3, f.4, f.5)), Some((1, 1, 1)));
}

/// Two customers, the second with a small share of the history (so its removal leaves the
/// purchase store uncompacted), refreshed; then the second is removed.
fn refreshed_then_one_removed() -> (Engine, CustomerId, CustomerId, Day) {
    let mut e = Engine::new();
    let d = day("2024-06-30");
    let a = e.customer_id(0u32).unwrap();
    let b = e.customer_id(1u32).unwrap();
    for i in 0..4 {
        e.record_purchase(a, plus(d, -i), cents(100)).unwrap();
    }
    e.record_purchase(b, plus(d, -1), cents(100)).unwrap();
    e.refresh(d).unwrap();
    e.remove_customer(b).unwrap();
    (e, a, b, d)
}

/// A customer removed after a refresh is not listed by the next refresh, incremental or full
/// (a full one: an earlier as-of day, or a new churn window).
#[test]
fn removed_customer_is_not_in_the_transitions_of_a_full_refresh() {
    let (mut e, _, _, d) = refreshed_then_one_removed();
    let r = e.refresh(d).unwrap();
    assert!(r.incremental);
    assert_eq!(transitions(&r), [], "incremental: only b moved, and b is gone");

    let (mut e, _, _, d) = refreshed_then_one_removed();
    let r = e.refresh(plus(d, -1)).unwrap(); // earlier: a full refresh
    assert!(!r.incremental);
    assert_eq!(r.customers, 1);
    assert_eq!(transitions(&r), [], "full: only b moved, and b is gone");
    assert_eq!(r.recomputed, 1, "only a has a history to read");
}

/// A dense id registered anew after its removal comes from no stage, also when a full refresh
/// ran in between.
#[test]
fn customer_registered_anew_after_a_full_refresh_comes_from_no_stage() {
    let (mut e, _, b, d) = refreshed_then_one_removed();
    e.refresh(plus(d, -1)).unwrap(); // full
    e.customer_id(b).unwrap();
    assert_eq!(e.stage_of(b).unwrap(), None);
    e.record_purchase(b, d, cents(100)).unwrap();
    let r = e.refresh(d).unwrap();
    assert_eq!(e.stage_of(b).unwrap(), Some(Stage::New));
    assert_eq!(transitions(&r), [(None, Stage::New, vec![b.0])]);

    // the same without a purchase: listed as a newcomer prospect
    let (mut e, _, b, d) = refreshed_then_one_removed();
    e.refresh(plus(d, -1)).unwrap();
    e.customer_id(b).unwrap();
    let r = e.refresh(d).unwrap();
    assert_eq!(transitions(&r), [(None, Stage::Prospect, vec![b.0])]);
}

#[test]
fn money_parsing_and_ranges() {
    for (text, minor) in [
        ("12", 1200),
        ("12.5", 1250),
        ("12.05", 1205),
        ("-3.5", -350),
        ("+7.00", 700),
        ("0.05", 5),
        ("-0.05", -5),
        ("-0", 0),
        ("10000000000000", Money::MAX_MINOR),
        ("-10000000000000.00", -Money::MAX_MINOR),
    ] {
        assert_eq!(Money::parse(text).unwrap().minor(), minor, "{text:?}");
        assert_eq!(text.parse::<Money>().unwrap().minor(), minor, "{text:?}");
    }
    for text in [
        "",
        " ",
        "-",
        "+",
        "abc",
        "1.005",
        "1,000.00",
        "1 000",
        " 19.99",
        "19.99 ",
        "\t5",
        ".5",
        "5.",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "1e3",
        "--1",
        "+-1",
        "1.-5",
        "0x10",
        "12a",
        "1.2.3",
        "10000000000000.01",
        "-10000000000000.01",
        "99999999999999999999",
        "１２",
    ] {
        let err = Money::parse(text).unwrap_err();
        assert!(matches!(err, Error::InvalidAmount { .. }), "{text:?}: {err}");
        assert!(text.parse::<Money>().is_err());
    }
    assert_eq!(Money::from_f64(19.99).unwrap().minor(), 1999);
    assert_eq!(Money::from_f64(-2.5).unwrap().minor(), -250);
    assert_eq!(Money::from_f64(0.1 + 0.2).unwrap().minor(), 30);
    assert_eq!(Money::from_f64(-0.0).unwrap(), Money::ZERO);
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, 1e14, f64::MAX] {
        assert!(matches!(Money::from_f64(x), Err(Error::InvalidAmount { .. })), "{x}");
    }
    assert_eq!(Money::from_minor(Money::MAX_MINOR).unwrap().minor(), Money::MAX_MINOR);
    assert_eq!(Money::from_minor(-Money::MAX_MINOR).unwrap().minor(), -Money::MAX_MINOR);
    for m in [Money::MAX_MINOR + 1, -Money::MAX_MINOR - 1, i64::MAX, i64::MIN] {
        assert!(matches!(Money::from_minor(m), Err(Error::InvalidAmount { .. })), "{m}");
    }
    assert_eq!(Money::from_major(-3).unwrap().minor(), -300);
    for m in [i64::MAX, i64::MIN, Money::MAX_MINOR / 100 + 1] {
        assert!(Money::from_major(m).is_err(), "{m}");
    }
    assert_eq!(Money::from_major(Money::MAX_MINOR / 100).unwrap().minor(), Money::MAX_MINOR);
    let big = Money::from_minor(Money::MAX_MINOR).unwrap();
    assert_eq!(big.checked_add(cents(1)), None);
    assert_eq!(big.checked_add(cents(-1)).map(Money::minor), Some(Money::MAX_MINOR - 1));
    assert_eq!(Money::parse("-12.5").unwrap().to_string(), "-12.50");
}

#[test]
fn day_parsing_errors() {
    for text in [
        "",
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-01-32",
        "yesterday",
        "2024/03/01",
        "01-03-2024",
        "2024-03-01T25:00:00Z",
        "2024-03-01T12:00:00",
        "2024-03-01 12:00",
        "2024-03-01T12:00:00+25:00",
        "2024-03-01Z",
        "2024-1-5",
        "202-01-05",
        "+2024-01-05",
        " 2024-01-05",
        "2024-01-05 ",
        "2024-01-05\n",
    ] {
        let err = text.parse::<Day>().unwrap_err();
        assert!(matches!(err, Error::InvalidDate { .. }), "{text:?}: {err}");
    }
    assert!(matches!(Day::from_ymd(2024, 2, 30), Err(Error::InvalidDate { .. })));
    assert_eq!(Day::from_ymd(2024, 1, 1).unwrap().days_since_epoch(), BASE);
    assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
    assert_eq!(Day::from_days_since_epoch(i32::MAX), None);
}

#[test]
fn record_purchases_is_all_or_nothing() {
    let (mut e, c) = engine_with(3);
    let d = day("2024-01-10");
    e.record_purchase(c[0], d, cents(100)).unwrap();
    e.remove_customer(c[2]).unwrap();
    let before = fingerprint(&e);
    for bad in [CustomerId(77), c[2]] {
        let batch = [(c[0], d, cents(1)), (c[1], d, cents(2)), (bad, d, cents(3)), (c[1], d, cents(4))];
        assert_eq!(e.record_purchases(batch), Err(Error::UnknownCustomer { id: bad }));
        assert_eq!(e.record_purchase(bad, d, cents(1)), Err(Error::UnknownCustomer { id: bad }));
        assert_eq!(fingerprint(&e), before);
    }
    assert_eq!(e.purchase_count(), 1);
    assert!(e.purchases_of(c[1]).unwrap().is_empty());
    // nothing of the failed batches reaches the models either
    let r = e.refresh(d).unwrap();
    assert_eq!(r.scored, 1);
    assert_eq!(rfm(&e, c[0]).unwrap().1, 1);
    assert_eq!(e.stage_of(c[1]).unwrap(), Some(Stage::Prospect));
    // a later good batch after a failed one is kept whole
    assert_eq!(e.record_purchases([(c[1], d, cents(5)), (c[1], d, cents(6))]).unwrap(), 2);
    assert_eq!(e.record_purchases(Vec::<(CustomerId, Day, Money)>::new()).unwrap(), 0);
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[1]).map(|f| (f.1, f.2)), Some((2, 11)));
}

/// Amounts are at most 10^15 minor units, so a customer needs over 9,223 maximal purchases for
/// its total to leave i64: refresh then refuses with MonetaryOverflow and changes nothing.
/// Totals are exact however large the intermediate sums.
#[test]
fn monetary_overflow_is_refused_and_changes_nothing() {
    let (mut e, c) = engine_with(3);
    let d = day("2024-01-10");
    let max = cents(Money::MAX_MINOR);
    let min = cents(-Money::MAX_MINOR);
    let n_fit = (i64::MAX / Money::MAX_MINOR) as usize; // 9223
    e.record_purchases(std::iter::repeat_n((c[0], d, max), n_fit)).unwrap();
    // c1: +max 9224 times and -max once: the sum fits, though a running i64 sum in arrival order
    // would overflow first
    e.record_purchases(std::iter::repeat_n((c[1], d, max), n_fit + 1)).unwrap();
    e.record_purchase(c[1], plus(d, -1), min).unwrap();
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]).unwrap().2, n_fit as i64 * Money::MAX_MINOR);
    assert_eq!(rfm(&e, c[1]).unwrap().2, n_fit as i64 * Money::MAX_MINOR);
    assert_eq!(count(&e, &format!("monetary >= {}", n_fit as i64 * Money::MAX_MINOR)), 2);

    e.record_purchase(c[2], d, cents(1)).unwrap();
    e.record_purchase(c[0], d, max).unwrap(); // c0 now totals 9224 * 10^15 > i64::MAX
    let before = fingerprint(&e);
    let err = e.refresh(plus(d, 1)).unwrap_err();
    assert_eq!(err, Error::MonetaryOverflow { customer: c[0], key: Some("c0".into()) });
    assert!(err.to_string().starts_with("customer \"c0\" #0:"), "the key, not only the id: {err}");
    assert_eq!(fingerprint(&e), before);
    assert_eq!(e.last_refresh(), Some(d));
    // without that customer the refresh goes through, and picks up c2's purchase
    e.remove_customer(c[0]).unwrap();
    let r = e.refresh(plus(d, 1)).unwrap();
    assert_eq!(r.scored, 2);
    assert_eq!(e.stage_of(c[2]).unwrap(), Some(Stage::New));
    assert_eq!(transitions(&r), [(Some(Stage::Prospect), Stage::New, vec![c[2].0])]);
    assert!(r.incremental);
    assert_eq!(r.recomputed, 1, "c2's new purchase (c0, touched by the failed attempt, is gone)");
    // the message reads as one sentence
    let msg = err.to_string();
    assert!(!msg.contains("  "), "a run of spaces in {msg:?}");
}

/// The first and last representable days: recency spans the whole calendar.
#[test]
fn extreme_dates() {
    let (mut e, c) = engine_with(2);
    let lo = Day::from(NaiveDate::MIN);
    let hi = Day::from(NaiveDate::MAX);
    e.record_purchase(c[0], lo, cents(1)).unwrap();
    e.record_purchase(c[1], hi, cents(1)).unwrap();
    let r = e.refresh(hi).unwrap();
    let span = hi - lo;
    assert!(span > 190_000_000);
    assert_scored(&e, c[0], (span, 1, 1, 1, 1, 1, "hibernating"), Stage::Churned);
    assert_scored(&e, c[1], (0, 1, 1, 5, 1, 1, "new_customers"), Stage::New);
    assert_eq!(members(&e, &format!("recency_days = {span}")), [0]);
    assert_eq!(members(&e, "recency_days > 100000000"), [0]);
    assert_eq!(r.scored, 2);
    let r = e.refresh(lo).unwrap();
    assert_eq!(r.scored, 1);
    assert_eq!(e.attr(c[0], "recency_days").unwrap(), Some(0));
    assert_eq!(e.stage_of(c[1]).unwrap(), Some(Stage::Prospect));
}
