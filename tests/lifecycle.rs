//! Lifecycle stages: every boundary of the default and of custom windows (prospect, new,
//! reactivated, active, at risk, churned), windows changed between refreshes, customers who
//! are all prospects, the `Lifecycle` builder, and stage names.

mod common;

use std::collections::BTreeMap;

use audience::{Engine, Error, Lifecycle, Stage};
use common::observe::transitions;
use common::reference::{assert_unscored, derived_tags_of, rfm};
use common::{config, count, date, keyed_engine, members, money, plus};
use proptest::prelude::*;

// ------------------------------------------------------------------ every boundary

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
    let d = date("2025-01-15");
    let mut cs = Vec::new();
    for (label, recs, _) in cases {
        let c = e.customer(label).unwrap();
        for &(ago, amount) in *recs {
            e.record_purchase(c, plus(d, -ago), money(amount)).unwrap();
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
    let (mut e, c) = keyed_engine(2);
    let d = date("2024-06-30");
    e.record_purchase(c[0], plus(d, -20), money(1)).unwrap();
    e.record_purchase(c[1], plus(d, -100), money(1)).unwrap();
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

#[test]
fn all_customers_are_prospects() {
    let (mut e, c) = keyed_engine(4);
    let d = date("2024-01-01");
    e.record_purchase(c[0], plus(d, -3), money(-100)).unwrap(); // refund only
    e.record_purchase(c[1], plus(d, 1), money(100)).unwrap(); // after D
    e.record_purchase(c[2], plus(d, -3), money(-100)).unwrap();
    e.record_purchase(c[2], plus(d, 2), money(100)).unwrap();
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

// ------------------------------------------------------------------ windows and names

proptest! {
    #![proptest_config(config(256))]

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
