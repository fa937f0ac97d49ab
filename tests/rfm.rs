//! RFM: recency, frequency and monetary figures and their 1-5 scores, by quantiles (ties
//! share a score, N = 1 and 2) or thresholds, and segment grids (custom, the standard one,
//! their serialized form). Hand-worked cases, each checked three ways (`rfm_of`, queries on
//! the derived tags and attributes, the refresh report), then properties against the
//! reference model of `common::reference`: random purchase sets, order independence, as-of
//! equals a fresh engine fed only the purchases up to that day, and a large history.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{CustomerId, Day, Engine, Error, Money, RefreshReport, RfmGrid, RfmModel, Stage};
use common::observe::{Snapshot, snapshot, transitions};
use common::reference::{
    Figures, MODELS, Rec, STANDARD_SEGMENTS, WINDOWS, arb_case, arb_day, assert_scored, assert_unscored,
    check_derived_queries, check_report, derived, expected, fresh, lifecycle, naive_transitions, reference, rfm,
    standard_segment, to_engine,
};
use common::{BASE, Rng, config, count, date, day, keyed_engine, members, money, plus};
use proptest::prelude::*;

// ------------------------------------------------------------------ quantiles, ties, the report

fn stage_counts(r: &RefreshReport) -> Vec<(Stage, u64)> {
    r.stages.clone()
}

/// Nine customers as of 2024-06-30; six have a purchase on or before it (N = 6, so
/// score = 1 + min(4, below)). Then a comeback, a later as-of day (N = 7), the same day again,
/// and the first day again.
#[test]
fn quantile_scores_worked_example_and_incremental_report() {
    let (mut e, c) = keyed_engine(9);
    let d = date("2024-06-30");
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
        e.record_purchase(c[i], date(when), money(amount)).unwrap();
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
    let first = snapshot(&e);

    // c5 comes back after 222 days; 15 days later (N = 7: score = 1 + min(4, floor(5 below / 6)))
    e.record_purchase(c[5], date("2024-07-10"), money(1000)).unwrap();
    let d2 = date("2024-07-15");
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
    let second = snapshot(&e);

    // the same day again, nothing new: nothing read, nothing moves
    let report = e.refresh(d2).unwrap();
    assert!(report.incremental);
    assert_eq!(report.recomputed, 0);
    assert!(report.transitions.is_empty());
    assert_eq!(snapshot(&e), second);

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
    let strip = |mut s: Snapshot| {
        s.picture.purchases.clear();
        s.picture.purchase_count = 0;
        s.sizes = Default::default();
        s
    };
    assert_eq!(strip(snapshot(&e)), strip(first));
}

#[test]
fn a_lone_customer_is_r1_f1_m1_hibernating() {
    let (mut e, c) = keyed_engine(1);
    let d = date("2024-05-05");
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
    e.record_purchase(p, plus(d, 1), money(5)).unwrap();
    let report = e.refresh(d).unwrap();
    assert_eq!(report.scored, 1);
    assert_eq!(rfm(&e, c[0]).unwrap().3, 1);
    assert_unscored(&e, p, Stage::Prospect);
}

#[test]
fn two_customers() {
    let d = date("2024-05-05");
    // one better on every metric: 5/5/5 against 1/1/1
    let (mut e, c) = keyed_engine(2);
    e.record_purchases([(c[0], d, money(200)), (c[0], d, money(200)), (c[1], plus(d, -3), money(100))]).unwrap();
    e.refresh(d).unwrap();
    assert_scored(&e, c[0], (0, 2, 400, 5, 5, 5, "champions"), Stage::New);
    assert_scored(&e, c[1], (3, 1, 100, 1, 1, 1, "hibernating"), Stage::New);

    // tied on everything: nobody is strictly worse, both score 1
    let (mut e, c) = keyed_engine(2);
    e.record_purchases([(c[0], plus(d, -40), money(700)), (c[1], plus(d, -40), money(700))]).unwrap();
    e.refresh(d).unwrap();
    for &x in &c {
        assert_scored(&e, x, (40, 1, 700, 1, 1, 1, "hibernating"), Stage::Active);
    }

    // tied on recency only
    let (mut e, c) = keyed_engine(2);
    e.record_purchases([
        (c[0], plus(d, -1), money(10)),
        (c[0], plus(d, -1), money(10)),
        (c[1], plus(d, -1), money(5000)),
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
    let (mut e, c) = keyed_engine(11);
    let d = date("2024-05-05");
    // frequencies 1 1 1 1 2 2 3 3 3 3 9  -> below 0 0 0 0 4 4 6 6 6 6 10
    let freq = [1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 9];
    for (i, &n) in freq.iter().enumerate() {
        for _ in 0..n {
            e.record_purchase(c[i], plus(d, -1), money(100)).unwrap();
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

// ------------------------------------------------------------------ thresholds and segment grids

#[test]
fn threshold_scoring() {
    let m = |x| Money::from_major(x).unwrap();
    let model = RfmModel::thresholds([30, 90, 180, 365], [2, 3, 5, 10], [m(50), m(100), m(500), m(1000)]).unwrap();
    assert!(!model.is_quantiles());
    let (mut e, _) = keyed_engine(0);
    e.set_rfm_model(model.clone());
    assert_eq!(e.rfm_model(), &model);
    let d = date("2024-12-31");
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
    for (i, &((ago, freq, spend), _)) in rows.iter().enumerate() {
        let c = e.customer(&format!("t{i}")).unwrap();
        let when = plus(d, -ago);
        if spend < 0 {
            e.record_purchase(c, when, Money::ZERO).unwrap();
            e.record_purchase(c, plus(when, -1), money(spend)).unwrap();
        } else {
            let q = spend / i64::from(freq);
            e.record_purchase(c, when, money(spend - q * i64::from(freq - 1))).unwrap();
            for _ in 1..freq {
                e.record_purchase(c, when, money(q)).unwrap();
            }
        }
        cs.push(c);
    }
    let r = e.refresh(d).unwrap();
    for (&((ago, freq, spend), (rs, fs, ms, seg)), &c) in rows.iter().zip(&cs) {
        assert_eq!(rfm(&e, c), Some((i64::from(ago), freq, spend, rs, fs, ms, seg.to_owned())), "{ago} {freq} {spend}");
    }
    assert_eq!(r.segment_count("potential_loyalists"), 3);
    assert_eq!(count(&e, "r:5"), 2);
    assert_eq!(count(&e, "f:5 AND m:5"), 1);
    // thresholds do not depend on the population: a lone customer is not forced to 1/1/1
    let (mut e, c) = keyed_engine(1);
    e.set_rfm_model(model);
    for _ in 0..10 {
        e.record_purchase(c[0], d, m(100)).unwrap();
    }
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]), Some((0, 10, 100_000, 5, 5, 5, "champions".into())));
    // equal cut points: nothing lands between them
    let (mut e, c) = keyed_engine(3);
    e.set_rfm_model(RfmModel::thresholds([10, 10, 10, 10], [2, 2, 2, 2], [money(0); 4]).unwrap());
    e.record_purchases([
        (c[0], plus(d, -10), money(0)),
        (c[1], plus(d, -11), money(-1)),
        (c[1], plus(d, -11), money(1)),
    ])
    .unwrap();
    e.record_purchases([(c[2], d, money(-5)), (c[2], d, money(0)), (c[2], d, money(0))]).unwrap();
    e.refresh(d).unwrap();
    assert_eq!(rfm(&e, c[0]).map(|f| (f.3, f.4, f.5)), Some((5, 1, 5)));
    assert_eq!(rfm(&e, c[1]).map(|f| (f.3, f.4, f.5)), Some((1, 1, 5)));
    assert_eq!(rfm(&e, c[2]).map(|f| (f.3, f.4, f.5)), Some((5, 5, 1)));
    // validation
    assert!(matches!(
        RfmModel::thresholds([90, 30, 180, 365], [1, 2, 3, 4], [money(0); 4]),
        Err(Error::InvalidModel { .. })
    ));
    assert!(matches!(
        RfmModel::thresholds([-1, 30, 180, 365], [1, 2, 3, 4], [money(0); 4]),
        Err(Error::InvalidModel { .. })
    ));
    assert!(matches!(RfmModel::thresholds([1, 2, 3, 4], [4, 3, 2, 1], [money(0); 4]), Err(Error::InvalidModel { .. })));
    assert!(
        RfmModel::thresholds([1, 2, 3, 4], [1, 2, 3, 4], [money(5), money(4), money(6), money(7)]).is_err(),
        "monetary cut points must not decrease"
    );
    assert_eq!(RfmModel::quantiles(), RfmModel::default());
    assert!(RfmModel::default().is_quantiles());
}

#[test]
fn custom_segment_map() {
    let map = RfmGrid::new([("best", 4..=5, 4..=5), ("rest", 1..=3, 1..=5), ("rest", 4..=5, 1..=3)]).unwrap();
    assert_eq!(map.names().collect::<Vec<_>>(), ["best", "rest"]);
    let (mut e, c) = keyed_engine(5);
    e.set_rfm_model(RfmModel::quantiles().with_segments(map.clone()));
    let d = date("2024-06-30");
    // N = 5, score = 1 + below: c4 best on everything, c3 next
    for (i, &x) in c.iter().enumerate() {
        for _ in 0..=i {
            e.record_purchase(x, plus(d, -(10 - i as i32)), money(100)).unwrap();
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
    e.set_rfm_model(RfmModel::thresholds([1, 3, 5, 7], [1, 1, 1, 1], [money(0); 4]).unwrap().with_segments(by_r));
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

#[test]
fn segment_map_round_trips_through_its_grid() {
    // The grid is the map's serialized form. Read back, it gives the same map, names in the
    // same (canonical) order: `==` compares that order, which is the report's segment order,
    // so a configuration round trip changes no segment tag and keeps the same-day no-op.
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
    // The same through the public API: the map read back gives the same report.
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

// ------------------------------------------------------------------ properties against the reference model

proptest! {
    #![proptest_config(config(256))]

    /// Every customer's rfm_of/stage_of, every derived tag's and attribute's membership, the
    /// range predicates and the report equal the reference model.
    #[test]
    fn engine_equals_the_reference_model(case in arb_case()) {
        let want = reference(&case.live, &case.recs, case.as_of, case.windows, case.spec);
        let (e, report) = fresh(&case.live, &case.recs, case.windows, case.spec, case.as_of);
        prop_assert_eq!(derived(&e), expected(&case.live, &want));
        check_derived_queries(&e, &want)?;
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
        Rng::new(seed).shuffle(&mut recs);
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

/// 70,000 records of 3,000 dense customers in random order (the store's bulk sort), then
/// small batches, a mass removal (compaction) and moving days, against the reference model.
#[test]
fn a_large_history_against_the_reference_model() {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let n = 3000u32;
    let (windows, spec) = (WINDOWS[0], MODELS[0]);
    let mut e = Engine::new();
    let mut live = BTreeSet::new();
    for c in 0..n {
        e.customer_id(c).unwrap();
        live.insert(c);
    }
    let mut recs: Vec<Rec> = (0..70_000)
        .map(|_| Rec {
            c: rng.below(u64::from(n)) as u32,
            day: BASE + rng.below(400) as i32,
            amount: rng.below(3000) as i64 - 300,
        })
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
            .map(|_| Rec {
                c: ids[rng.below(ids.len() as u64) as usize],
                day: BASE + rng.below(450) as i32,
                amount: 100,
            })
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
