//! The reference model of purchases, RFM and lifecycle stages, written straight from the
//! definitions (O(N^2), no cleverness), and the readers of what a refresh derives.
//!
//! The definitions, as modelled (D is the as-of day; only records on or before D count):
//! - frequency = purchase records (amount >= 0; two on one day count twice); refunds
//!   (amount < 0) are not purchases; monetary = sum of all amounts, refunds included;
//!   recency_days = D - day of the last purchase. No purchase: no RFM, stage `prospect`.
//! - quantile score = 1 + min(4, floor(5 * below(x) / (N - 1))), 1 when N = 1, where below(x)
//!   counts scored customers strictly worse than x.
//! - lifecycle, first rule that holds: prospect, new (D - first <= new), reactivated (the most
//!   recent comeback, a purchase more than `churn` days after the purchase before it, is at
//!   most `active` days before D), active (D - last <= active), at_risk (<= churn), churned.
//!
//! The strategies draw small customer counts and day grids built so that ties, same-day
//! purchases and the 30/31, 90/91, 180/181 boundaries come up often.

use std::collections::{BTreeMap, BTreeSet};

use audience::{
    CustomerId, Day, Engine, Error, Lifecycle, Money, Query, RefreshReport, RfmGrid, RfmModel, RfmScores, Stage,
};
use proptest::prelude::*;

use super::{BASE, DERIVED_ATTRS, DERIVED_GROUPS, TestResult, count, ids, money};

// ------------------------------------------------------------------ reading what a refresh derives

pub const STANDARD_SEGMENTS: [&str; 10] = [
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

/// The derived tags a customer carries (r, f, m, rfm, stage groups), sorted.
pub fn derived_tags_of(e: &Engine, c: CustomerId) -> Vec<String> {
    let mut out: Vec<String> = e
        .tags_of(c)
        .unwrap()
        .into_iter()
        .filter(|t| t.split_once(':').is_some_and(|(g, _)| DERIVED_GROUPS.contains(&g)))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// `(recency_days, frequency, monetary, r, f, m, segment)` of a customer.
pub type Figures = (i64, u32, i64, u8, u8, u8, String);

pub fn figures(s: &RfmScores<'_>) -> Figures {
    (s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m, s.segment.to_owned())
}

pub fn rfm(e: &Engine, c: CustomerId) -> Option<Figures> {
    e.rfm_of(c).unwrap().as_ref().map(figures)
}

/// Checks one scored customer every way: `rfm_of`, its derived tags, its attributes.
#[track_caller]
pub fn assert_scored(e: &Engine, c: CustomerId, want: (i64, u32, i64, u8, u8, u8, &str), stage: Stage) {
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
pub fn assert_unscored(e: &Engine, c: CustomerId, stage: Stage) {
    assert_eq!(rfm(e, c), None, "rfm_of {c:?}");
    assert_eq!(e.stage_of(c).unwrap(), Some(stage), "stage_of {c:?}");
    assert_eq!(derived_tags_of(e, c), [format!("stage:{}", stage.as_str())], "derived tags of {c:?}");
    for a in DERIVED_ATTRS {
        assert_eq!(e.attr(c, a).unwrap(), None, "{a} of {c:?}");
    }
}

// ------------------------------------------------------------------ the reference model

/// One purchase record: customer, day (days since 1970-01-01), amount (minor units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rec {
    pub c: u32,
    pub day: i32,
    pub amount: i64,
}

pub fn to_engine(r: &Rec) -> (CustomerId, Day, Money) {
    (CustomerId(r.c), Day::from_days_since_epoch(r.day).unwrap(), money(r.amount))
}

/// Lifecycle windows `(new, active, churn)`.
pub const WINDOWS: [(u32, u32, u32); 5] = [(30, 90, 180), (3, 6, 10), (0, 0, 0), (10, 4, 8), (30, 90, 180)];

pub fn lifecycle(w: (u32, u32, u32)) -> Lifecycle {
    Lifecycle::new(w.0, w.1, w.2).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scoring {
    Quantiles,
    Thresholds { r: [i64; 4], f: [i64; 4], m: [i64; 4] },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segments {
    Standard,
    BestRest,
    ByRecency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub scoring: Scoring,
    pub segments: Segments,
}

pub const MODELS: [Spec; 5] = [
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
    pub fn segment_map(&self) -> RfmGrid {
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

    pub fn rfm_model(&self) -> RfmModel {
        let base = match self.scoring {
            Scoring::Quantiles => RfmModel::quantiles(),
            Scoring::Thresholds { r, f, m } => RfmModel::thresholds(r, f, m.map(money)).unwrap(),
        };
        base.with_segments(self.segment_map())
    }

    /// The segment of (R, F), written out from the definitions.
    pub fn segment(&self, r: u8, f: u8) -> &'static str {
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

    pub fn names(&self) -> Vec<&'static str> {
        match self.segments {
            Segments::Standard => STANDARD_SEGMENTS.to_vec(),
            Segments::BestRest => vec!["best", "rest"],
            Segments::ByRecency => vec!["lapsed", "steady", "recent"],
        }
    }
}

/// The standard map, as the specification states it.
pub fn standard_segment(r: u8, f: u8) -> &'static str {
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
pub struct Want {
    pub stage: Stage,
    pub rfm: Option<Figures>,
}

/// PERCENT_RANK quintile: 1 + min(4, floor(5 * below / (N - 1))), 1 for N = 1.
pub fn percent_rank_score(values: &[i64], x: i64, worse: impl Fn(i64, i64) -> bool) -> u8 {
    let n = values.len();
    if n == 1 {
        return 1;
    }
    let below = values.iter().filter(|&&v| worse(v, x)).count();
    1 + (5 * below / (n - 1)).min(4) as u8
}

pub fn recency_threshold(c: [i64; 4], recency: i64) -> u8 {
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

pub fn at_least_threshold(c: [i64; 4], x: i64) -> u8 {
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
pub fn reference(
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
pub struct Derived {
    /// Non-empty derived tags and their members.
    pub tags: BTreeMap<String, Vec<u32>>,
    /// (customer, attribute) -> value.
    pub attrs: BTreeMap<(u32, &'static str), i64>,
    /// `stage_of` and `rfm_of` of every live customer.
    pub per_customer: BTreeMap<u32, (Option<Stage>, Option<Figures>)>,
}

pub fn derived(e: &Engine) -> Derived {
    let mut tags = BTreeMap::new();
    for g in DERIVED_GROUPS {
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
        for a in DERIVED_ATTRS {
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
pub fn expected(live: &BTreeSet<u32>, shown: &BTreeMap<u32, Want>) -> Derived {
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
pub fn check_derived_queries(e: &Engine, shown: &BTreeMap<u32, Want>) -> TestResult {
    let live: BTreeSet<u32> = ids(&e.customers()).into_iter().collect();
    let figs: Vec<&Figures> =
        shown.iter().filter(|(c, _)| live.contains(c)).filter_map(|(_, w)| w.rfm.as_ref()).collect();
    let metric = |f: &Figures, a: &str| match a {
        "recency_days" => f.0,
        "frequency" => i64::from(f.1),
        _ => f.2,
    };
    for a in DERIVED_ATTRS {
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
pub fn check_report(r: &RefreshReport, want: &BTreeMap<u32, Want>, spec: Spec, as_of: i32) -> TestResult {
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
pub fn naive_transitions(
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
pub fn fresh(
    live: &BTreeSet<u32>,
    recs: &[Rec],
    windows: (u32, u32, u32),
    spec: Spec,
    as_of: i32,
) -> (Engine, RefreshReport) {
    let mut e = Engine::new();
    e.set_threads(1); // the one-thread reference for engines refreshing on more
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
pub fn arb_day() -> impl Strategy<Value = i32> {
    prop_oneof![0i32..25, (0i32..15, -1i32..=1).prop_map(|(k, b)| 30 * k + b)].prop_map(|d| BASE + d)
}

/// Amounts with many ties, zeros and refunds.
pub fn arb_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => prop::sample::select(vec![0i64, 100, 100, 250, 1000, 5000]),
        1 => prop::sample::select(vec![-100i64, -500, -5000]),
        1 => -2000i64..20_000,
    ]
}

/// A purchase of the `pick`-th live customer.
pub fn arb_buy() -> impl Strategy<Value = (usize, i32, i64)> {
    (any::<usize>(), arb_day(), arb_amount())
}

/// A random world: live customer ids, their purchases, an as-of day, windows and model.
#[derive(Clone, Debug)]
pub struct Case {
    pub live: BTreeSet<u32>,
    pub recs: Vec<Rec>,
    pub as_of: i32,
    pub windows: (u32, u32, u32),
    pub spec: Spec,
}

/// Customer ids: mostly small, sometimes sparse or at the very top of the id space.
pub fn arb_id() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..20, 1 => prop::sample::select(vec![1 << 16, 70_000, u32::MAX - 1, u32::MAX])]
}

pub fn arb_case() -> impl Strategy<Value = Case> {
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
