//! `Engine::describe` against a naive model: per tag, the audience's customers carrying it (a
//! parent counting its descendants) and all live customers carrying it, counted customer by
//! customer; lift ordered exactly (rationals compared by cross-multiplying), then count,
//! then name; minimum count, top k and exclusions applied as documented.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{Audience, CustomerId, DescribeOptions, Engine};
use common::config;
use proptest::prelude::*;

const TAGS: [&str; 7] = ["vip", "高消费", "sports/run", "sports/bike", "sports", "new", "tier:gold"];

type Model = BTreeMap<u32, BTreeSet<&'static str>>;

/// Customers 0..40 tagged with `assignments` (indexes into [`TAGS`]), then `removed` removed:
/// the engine, the naive model and the live customers.
fn store(assignments: &[(u32, usize)], removed: &BTreeSet<u32>) -> (Engine, Model, BTreeSet<u32>) {
    let mut e = Engine::new();
    for c in 0..40 {
        e.customer_id(c).unwrap();
    }
    let mut model = Model::new();
    for &(c, t) in assignments {
        e.tag(CustomerId(c), TAGS[t]).unwrap();
        model.entry(c).or_default().insert(TAGS[t]);
    }
    for &c in removed {
        e.remove_customer(CustomerId(c)).unwrap();
        model.remove(&c);
    }
    let live = (0..40).filter(|c| !removed.contains(c)).collect();
    (e, model, live)
}

/// The customers a query on `tag` matches in the model: carrying it or a descendant.
fn members(model: &Model, tag: &str) -> BTreeSet<u32> {
    let below = |t: &str| t == tag || t.strip_prefix(tag).is_some_and(|r| r.starts_with('/'));
    model.iter().filter(|(_, ts)| ts.iter().any(|t| below(t))).map(|(&c, _)| c).collect()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn describe_equals_the_naive_count_lift_and_order(
        assignments in prop::collection::vec((0..40u32, 0..TAGS.len()), 0..160),
        removed in prop::collection::btree_set(0..40u32, 0..6),
        audience in prop::collection::btree_set(0..45u32, 0..40),
        top in 0usize..10,
        min_count in 0u64..4,
        exclude in prop::collection::btree_set(0..TAGS.len(), 0..3),
        threads in 0usize..4,
    ) {
        let (e, model, live) = store(&assignments, &removed);
        let members = |tag: &str| members(&model, tag);
        let inside: BTreeSet<u32> = audience.intersection(&live).copied().collect();
        let excluded: Vec<&str> = exclude.iter().map(|&i| TAGS[i]).collect();
        let mut want: Vec<(String, u64, u64)> = e
            .tags()
            .map(|t| t.name.to_owned())
            .filter(|t| !excluded.contains(&t.as_str()))
            .map(|t| {
                let m = members(&t);
                let count = m.intersection(&inside).count() as u64;
                (t, count, m.len() as u64)
            })
            .filter(|&(_, count, _)| count >= min_count.max(1))
            .collect();
        want.sort_by(|a, b| {
            let lift = |x: &(String, u64, u64)| (x.1, x.2);
            let ((ac, at), (bc, bt)) = (lift(a), lift(b));
            let by_lift = (u128::from(bc) * u128::from(at)).cmp(&(u128::from(ac) * u128::from(bt)));
            by_lift.then(b.1.cmp(&a.1)).then_with(|| a.0.cmp(&b.0))
        });
        want.truncate(top);

        let a: Audience = audience.iter().copied().map(CustomerId).collect();
        let mut options = DescribeOptions::new();
        options.top(top).min_count(min_count).exclude(&excluded).threads(threads);
        let d = e.describe(&a, &options);
        prop_assert_eq!((d.size, d.live), (inside.len() as u64, live.len() as u64));
        let got: Vec<(String, u64, u64)> = d.tags.iter().map(|t| (t.tag.clone(), t.count, t.total)).collect();
        prop_assert_eq!(&got, &want);
        for t in &d.tags {
            let lift = (t.count as f64 / d.size as f64) / (t.total as f64 / d.live as f64);
            prop_assert!((t.lift - lift).abs() < 1e-9);
        }
        for w in d.tags.windows(2) {
            prop_assert!(w[0].lift >= w[1].lift - 1e-12, "ordered by lift");
        }
    }
}

#[test]
fn ties_in_lift_go_to_the_larger_count_then_the_name() {
    let mut e = Engine::new();
    for c in 0..8 {
        e.customer_id(c).unwrap();
    }
    // In the audience {0..4}: "b" 1 of 1 and "a" 1 of 1 (lift 2 each, tie broken by name);
    // "c" 2 of 2 (lift 2, but a larger count comes first); "d" 1 of 4 (lift 0.5).
    for (c, t) in [(0, "b"), (1, "a"), (2, "c"), (3, "c"), (0, "d"), (5, "d"), (6, "d"), (7, "d")] {
        e.tag(CustomerId(c), t).unwrap();
    }
    let a: Audience = (0..4).map(CustomerId).collect();
    let d = e.describe(&a, &DescribeOptions::new());
    let order: Vec<&str> = d.tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(order, ["c", "a", "b", "d"]);
    assert_eq!(d.share(), 0.5);
    // Nothing live in the audience: nothing to describe.
    let empty = e.describe(&Audience::new(), &DescribeOptions::new());
    assert_eq!((empty.size, empty.tags.len()), (0, 0));
    assert_eq!(Engine::new().describe(&a, &DescribeOptions::new()).share(), 0.0);
}

proptest! {
    #![proptest_config(config(64))]

    /// `breakdown` over an exclusive group and over a parent's children equals counting each
    /// customer's value (and, for children, any descendant) one by one.
    #[test]
    fn breakdown_equals_the_naive_spread(
        values in prop::collection::vec((0..30u32, 0..3usize), 0..60),
        sports in prop::collection::vec((0..30u32, 0..3usize), 0..60),
        removed in prop::collection::btree_set(0..30u32, 0..4),
        audience in prop::collection::btree_set(0..32u32, 0..30),
    ) {
        const TIERS: [&str; 3] = ["tier:gold", "tier:silver", "tier:黄金"];
        const SPORTS: [&str; 3] = ["sports/run", "sports/run/trail", "sports/bike"];
        let mut e = Engine::new();
        for c in 0..30 {
            e.customer_id(c).unwrap();
        }
        e.define_exclusive_group("tier").unwrap();
        for t in TIERS.iter().chain(&SPORTS) {
            e.ensure_tag(t).unwrap();
        }
        let mut tier: BTreeMap<u32, &str> = BTreeMap::new();
        let mut sport: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
        for &(c, v) in &values {
            e.tag(CustomerId(c), TIERS[v]).unwrap();
            tier.insert(c, TIERS[v]); // single-choice: the last value wins
        }
        for &(c, s) in &sports {
            e.tag(CustomerId(c), SPORTS[s]).unwrap();
            sport.entry(c).or_default().insert(SPORTS[s]);
        }
        for &c in &removed {
            e.remove_customer(CustomerId(c)).unwrap();
        }
        let inside: BTreeSet<u32> = audience.iter().copied().filter(|c| *c < 30 && !removed.contains(c)).collect();
        let a: Audience = audience.iter().copied().map(CustomerId).collect();

        let spread = |parts: Vec<(String, u64)>| {
            let mut parts = parts;
            parts.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            parts
        };
        let b = e.breakdown(&a, "tier").unwrap();
        let want = spread(TIERS.iter().map(|t| (t.to_string(), inside.iter().filter(|c| tier.get(c) == Some(t)).count() as u64)).collect());
        prop_assert_eq!(&b.parts, &want);
        prop_assert_eq!(b.rest, inside.iter().filter(|c| !tier.contains_key(c)).count() as u64);
        prop_assert_eq!(b.size, inside.len() as u64);

        let b = e.breakdown(&a, "sports/*").unwrap();
        let under = |c: &u32, child: &str| sport.get(c).is_some_and(|s| s.iter().any(|t| t.starts_with(child)));
        let want = spread(["sports/bike", "sports/run"].iter().map(|ch| (ch.to_string(), inside.iter().filter(|c| under(c, ch)).count() as u64)).collect());
        prop_assert_eq!(&b.parts, &want);
        prop_assert_eq!(b.rest, inside.iter().filter(|c| !sport.contains_key(c)).count() as u64);
    }
}

#[test]
fn breakdown_names_what_it_does_not_know() {
    let mut e = Engine::new();
    e.ensure_tag("sports/run").unwrap();
    let all = e.customers();
    assert!(matches!(e.breakdown(&all, "regoin"), Err(audience::Error::UnknownGroup { .. })));
    assert!(matches!(e.breakdown(&all, "sprots/*"), Err(audience::Error::UnknownTag { .. })));
    let b = e.breakdown(&all, "sports/*").unwrap();
    assert_eq!((b.size, b.rest, b.parts.len()), (0, 0, 1));
    assert_eq!(b.share("sports/run"), 0.0);
}

proptest! {
    #![proptest_config(config(64))]

    /// `compare` against the naive model: sizes, overlap, and per tag the customers of each
    /// audience carrying it (a parent counting its descendants); tags with equal shares left
    /// out; ordered by the share gap compared exactly, then by the customers in either, then
    /// by name; min_count on the larger of the two counts, top k, exclusions.
    #[test]
    fn compare_equals_the_naive_gap_and_order(
        assignments in prop::collection::vec((0..40u32, 0..TAGS.len()), 0..160),
        removed in prop::collection::btree_set(0..40u32, 0..6),
        a in prop::collection::btree_set(0..45u32, 0..30),
        b in prop::collection::btree_set(0..45u32, 0..30),
        top in 0usize..10,
        min_count in 0u64..4,
        exclude in prop::collection::btree_set(0..TAGS.len(), 0..3),
        threads in 0usize..4,
    ) {
        let (e, model, live) = store(&assignments, &removed);
        let members = |tag: &str| members(&model, tag);
        let (ia, ib): (BTreeSet<u32>, BTreeSet<u32>) =
            (a.intersection(&live).copied().collect(), b.intersection(&live).copied().collect());
        let (na, nb) = (ia.len() as i128, ib.len() as i128);
        // The gap |in_a/na - in_b/nb| as an exact rational (an empty audience's shares are 0).
        let gap = |x: i128, y: i128| -> (i128, i128) {
            match (na, nb) {
                (0, 0) => (0, 1),
                (0, _) => (y, nb),
                (_, 0) => (x, na),
                _ => ((x * nb - y * na).abs(), na * nb),
            }
        };
        let excluded: Vec<&str> = exclude.iter().map(|&i| TAGS[i]).collect();
        let mut want: Vec<(String, u64, u64)> = e
            .tags()
            .map(|t| t.name.to_owned())
            .filter(|t| !excluded.contains(&t.as_str()))
            .map(|t| {
                let m = members(&t);
                (t, m.intersection(&ia).count() as u64, m.intersection(&ib).count() as u64)
            })
            .filter(|&(_, x, y)| x.max(y) >= min_count.max(1) && gap(x.into(), y.into()).0 != 0)
            .collect();
        want.sort_by(|p, q| {
            let ((pn, pd), (qn, qd)) = (gap(p.1.into(), p.2.into()), gap(q.1.into(), q.2.into()));
            (qn * pd).cmp(&(pn * qd)).then((q.1 + q.2).cmp(&(p.1 + p.2))).then_with(|| p.0.cmp(&q.0))
        });
        want.truncate(top);

        let (aa, ab): (Audience, Audience) =
            (a.iter().copied().map(CustomerId).collect(), b.iter().copied().map(CustomerId).collect());
        let mut options = DescribeOptions::new();
        options.top(top).min_count(min_count).exclude(&excluded).threads(threads);
        let c = e.compare_with(&aa, &ab, &options);
        prop_assert_eq!((c.a, c.b, c.live), (ia.len() as u64, ib.len() as u64, live.len() as u64));
        prop_assert_eq!(c.both, ia.intersection(&ib).count() as u64);
        prop_assert_eq!(c.only_a() + c.only_b() + c.both, ia.union(&ib).count() as u64);
        let got: Vec<(String, u64, u64)> = c.tags.iter().map(|t| (t.tag.clone(), t.in_a, t.in_b)).collect();
        prop_assert_eq!(&got, &want);
        for t in &c.tags {
            let share = |x: u64, n: i128| if n == 0 { 0.0 } else { x as f64 / n as f64 };
            prop_assert_eq!((t.share_a, t.share_b), (share(t.in_a, na), share(t.in_b, nb)));
        }
    }

    /// Counting is container-level work: audiences and tags across several 2^16-id blocks,
    /// as arrays, bitsets and runs, count as a customer-by-customer model does.
    #[test]
    fn describe_and_compare_count_every_container_kind(
        strides in prop::collection::vec((1..40u32, 0..200_000u32, 0..200_000u32), 1..6),
        audience_stride in 1..30u32,
        audience_start in 0..200_000u32,
        optimize in any::<bool>(),
        threads in 0usize..4,
    ) {
        const N: u32 = 200_000;
        let mut e = Engine::new();
        e.customer_id_range(0..N).unwrap();
        let tag_ids: Vec<BTreeSet<u32>> = strides
            .iter()
            .map(|&(step, lo, len)| (lo..(lo + len).min(N)).step_by(step as usize).collect())
            .collect();
        for (k, ids) in tag_ids.iter().enumerate() {
            let a: Audience = ids.iter().copied().map(CustomerId).collect();
            e.tag_all(&a, &format!("t{k}")).unwrap();
        }
        if optimize {
            e.optimize(); // runs where ranges are dense
        }
        let inside: BTreeSet<u32> = (audience_start..N).step_by(audience_stride as usize).collect();
        let a: Audience = inside.iter().copied().map(CustomerId).collect();
        let d = e.describe(&a, DescribeOptions::new().top(usize::MAX).threads(threads));
        let got: BTreeMap<String, u64> = d.tags.iter().map(|t| (t.tag.clone(), t.count)).collect();
        for (k, ids) in tag_ids.iter().enumerate() {
            let count = ids.intersection(&inside).count() as u64;
            prop_assert_eq!(got.get(&format!("t{k}")).copied().unwrap_or(0), count, "t{}", k);
        }
        let all = e.customers();
        let c = e.compare_with(&a, &all, DescribeOptions::new().top(usize::MAX).threads(threads));
        prop_assert_eq!((c.a, c.b, c.both), (inside.len() as u64, u64::from(N), inside.len() as u64));
        for t in &c.tags {
            let k: usize = t.tag[1..].parse().unwrap();
            prop_assert_eq!((t.in_a, t.in_b), (tag_ids[k].intersection(&inside).count() as u64, tag_ids[k].len() as u64));
        }
    }
}

#[test]
fn compare_edges() {
    let mut e = Engine::new();
    // No customers: nothing to compare.
    let c = e.compare(&Audience::new(), &Audience::new());
    assert_eq!((c.a, c.b, c.both, c.jaccard(), c.tags.len()), (0, 0, 0, 0.0, 0));
    // One customer, with a Unicode tag: against an empty audience the whole share differs.
    let one = e.customer("ann").unwrap();
    e.tag(one, "高消费").unwrap();
    let c = e.compare(&e.customers(), &Audience::new());
    assert_eq!((c.a, c.b, c.only_a(), c.only_b()), (1, 0, 1, 0));
    assert_eq!(c.tags.len(), 1);
    assert_eq!((c.tags[0].tag.as_str(), c.tags[0].difference()), ("高消费", 1.0));
    // The same audience twice: every share equal, no tag listed; Jaccard 1.
    let c = e.compare(&e.customers(), &e.customers());
    assert_eq!((c.both, c.jaccard(), c.tags.len()), (1, 1.0, 0));
    // A removed customer counts in neither.
    let all = e.customers();
    e.remove_customer(one).unwrap();
    let c = e.compare(&all, &all);
    assert_eq!((c.a, c.b, c.live), (0, 0, 0));
}

/// `min_count` in `compare` asks that many customers of one audience: a customer in both
/// audiences counts once on each side, never twice on one.
#[test]
fn compare_min_count_reads_one_side() {
    let mut e = Engine::new();
    let (c, d) = (e.customer("c").unwrap(), e.customer("d").unwrap());
    e.tag(c, "x").unwrap();
    e.ensure_tag("y").unwrap();
    let _ = d;
    let (everyone, just_c): (Audience, Audience) = (e.customers(), [c].into_iter().collect());
    let listed = |m: u64| e.compare_with(&everyone, &just_c, DescribeOptions::new().min_count(m)).tags.len();
    assert_eq!(listed(1), 1, "x: 1 of 2 against 1 of 1");
    assert_eq!(listed(2), 0, "only one customer carries x");
}

// ------------------------------------------------------------------ the census

/// Tags over three 2^16-id blocks for the census test (a parent, its children, Unicode).
const CENSUS_TAGS: [&str; 6] = ["vip", "sports", "sports/run", "sports/bike", "高消费", "new"];
const CENSUS_N: u32 = 140_000;

#[derive(Clone, Debug)]
enum CensusOp {
    /// `tag_all` of `lo..lo + len` stepping by `step`.
    TagRange {
        tag: usize,
        lo: u32,
        len: u32,
        step: u32,
    },
    /// `untag_all` of the same shape.
    UntagRange {
        tag: usize,
        lo: u32,
        len: u32,
        step: u32,
    },
    Tag {
        tag: usize,
        c: u32,
    },
    Untag {
        tag: usize,
        c: u32,
    },
    Remove {
        c: u32,
    },
    Delete {
        tag: usize,
    },
    Optimize,
    /// Describe and compare audiences `start..` stepping by `step` (a second one by `step2`),
    /// `repeat` times: the first reads of a block since a write go without the census, the
    /// next build it, later ones read it kept.
    Read {
        start: u32,
        step: u32,
        step2: u32,
        repeat: usize,
        threads: usize,
    },
}

fn census_op() -> impl Strategy<Value = CensusOp> {
    let tag = 0..CENSUS_TAGS.len();
    let c = 0..CENSUS_N;
    prop_oneof![
        3 => (tag.clone(), 0..CENSUS_N, 1..80_000u32, 1..60u32)
            .prop_map(|(tag, lo, len, step)| CensusOp::TagRange { tag, lo, len, step }),
        1 => (tag.clone(), 0..CENSUS_N, 1..80_000u32, 1..60u32)
            .prop_map(|(tag, lo, len, step)| CensusOp::UntagRange { tag, lo, len, step }),
        2 => (tag.clone(), c.clone()).prop_map(|(tag, c)| CensusOp::Tag { tag, c }),
        1 => (tag.clone(), c.clone()).prop_map(|(tag, c)| CensusOp::Untag { tag, c }),
        1 => c.prop_map(|c| CensusOp::Remove { c }),
        1 => tag.prop_map(|tag| CensusOp::Delete { tag }),
        1 => Just(CensusOp::Optimize),
        4 => (0..CENSUS_N, 1..400u32, 1..400u32, 1..4usize, 0..3usize)
            .prop_map(|(start, step, step2, repeat, threads)| CensusOp::Read { start, step, step2, repeat, threads }),
    ]
}

/// Tag -> customers, the live set: the census test's naive model.
struct CensusModel {
    tags: BTreeMap<&'static str, BTreeSet<u32>>,
    live: BTreeSet<u32>,
}

impl CensusModel {
    /// What a query on `tag` matches: its customers and its descendants'.
    fn members(&self, tag: &str) -> BTreeSet<u32> {
        let below = |t: &str| t == tag || t.strip_prefix(tag).is_some_and(|r| r.starts_with('/'));
        self.tags.iter().filter(|(t, _)| below(t)).flat_map(|(_, m)| m.iter().copied()).collect()
    }
}

fn range(lo: u32, len: u32, step: u32) -> BTreeSet<u32> {
    (lo..lo.saturating_add(len).min(CENSUS_N)).step_by(step as usize).collect()
}

proptest! {
    #![proptest_config(config(24))]

    /// Describe and compare, read again and again between random writes (ranges and single
    /// customers, removals, deleted tags, a parent and its children, `optimize` changing
    /// container kinds), count as the naive model does: whether a block's census is absent,
    /// built by this read, kept, or dropped by a write since.
    #[test]
    fn describe_and_compare_follow_writes_through_the_census(ops in prop::collection::vec(census_op(), 1..14)) {
        let mut e = Engine::new();
        e.customer_id_range(0..CENSUS_N).unwrap();
        let mut m = CensusModel { tags: BTreeMap::new(), live: (0..CENSUS_N).collect() };
        let audience = |ids: &BTreeSet<u32>| -> Audience { ids.iter().copied().map(CustomerId).collect() };
        for op in ops {
            match op {
                CensusOp::TagRange { tag, lo, len, step } => {
                    let ids: BTreeSet<u32> = range(lo, len, step).intersection(&m.live).copied().collect();
                    e.tag_all(&audience(&ids), CENSUS_TAGS[tag]).unwrap();
                    m.tags.entry(CENSUS_TAGS[tag]).or_default().extend(ids);
                }
                CensusOp::UntagRange { tag, lo, len, step } => {
                    let ids = range(lo, len, step);
                    if e.tag_id(CENSUS_TAGS[tag]).is_some() {
                        e.untag_all(&audience(&ids), CENSUS_TAGS[tag]).unwrap();
                    }
                    if let Some(t) = m.tags.get_mut(CENSUS_TAGS[tag]) {
                        t.retain(|c| !ids.contains(c));
                    }
                }
                CensusOp::Tag { tag, c } => {
                    if m.live.contains(&c) {
                        e.tag(CustomerId(c), CENSUS_TAGS[tag]).unwrap();
                        m.tags.entry(CENSUS_TAGS[tag]).or_default().insert(c);
                    }
                }
                CensusOp::Untag { tag, c } => {
                    if m.live.contains(&c) && e.tag_id(CENSUS_TAGS[tag]).is_some() {
                        e.untag(CustomerId(c), CENSUS_TAGS[tag]).unwrap();
                    }
                    if let Some(t) = m.tags.get_mut(CENSUS_TAGS[tag]) {
                        t.remove(&c);
                    }
                }
                CensusOp::Remove { c } => {
                    if m.live.remove(&c) {
                        e.remove_customer(CustomerId(c)).unwrap();
                        m.tags.values_mut().for_each(|t| { t.remove(&c); });
                    }
                }
                CensusOp::Delete { tag } => {
                    let name = CENSUS_TAGS[tag];
                    // A parent with children cannot be deleted; the model follows the engine.
                    if e.tag_id(name).is_some() && e.delete_tag(name).is_ok() {
                        m.tags.remove(name);
                    }
                }
                CensusOp::Optimize => e.optimize(),
                CensusOp::Read { start, step, step2, repeat, threads } => {
                    let a: BTreeSet<u32> = (start..CENSUS_N).step_by(step as usize).filter(|c| m.live.contains(c)).collect();
                    let b: BTreeSet<u32> = (0..CENSUS_N).step_by(step2 as usize).filter(|c| m.live.contains(c)).collect();
                    let names: Vec<String> = e.tags().map(|t| t.name.to_owned()).collect();
                    let want: BTreeMap<String, (u64, u64, u64)> = names
                        .iter()
                        .map(|t| {
                            let members = m.members(t);
                            let count = |s: &BTreeSet<u32>| members.intersection(s).count() as u64;
                            (t.clone(), (count(&a), count(&b), members.len() as u64))
                        })
                        .collect();
                    for _ in 0..repeat {
                        let d = e.describe(&audience(&a), DescribeOptions::new().top(usize::MAX).threads(threads));
                        prop_assert_eq!(d.size, a.len() as u64);
                        let got: BTreeMap<String, (u64, u64)> =
                            d.tags.iter().map(|t| (t.tag.clone(), (t.count, t.total))).collect();
                        let listed: BTreeMap<String, (u64, u64)> = want
                            .iter()
                            .filter(|(_, w)| w.0 > 0)
                            .map(|(t, w)| (t.clone(), (w.0, w.2)))
                            .collect();
                        prop_assert_eq!(&got, &listed, "describe");
                        let c = e.compare_with(&audience(&a), &audience(&b), DescribeOptions::new().top(usize::MAX).threads(threads));
                        for t in &c.tags {
                            let w = want[&t.tag];
                            prop_assert_eq!((t.in_a, t.in_b), (w.0, w.1), "compare {}", t.tag);
                        }
                        let shown: BTreeSet<&str> = c.tags.iter().map(|t| t.tag.as_str()).collect();
                        for (t, w) in &want {
                            // The shares differ (an empty audience's are 0).
                            let scaled = |x: u64, n: usize, other: usize| if n == 0 { 0 } else { u128::from(x) * other.max(1) as u128 };
                            let differs = scaled(w.0, a.len(), b.len()) != scaled(w.1, b.len(), a.len());
                            prop_assert_eq!(shown.contains(t.as_str()), w.0.max(w.1) > 0 && differs, "compare lists {}", t);
                        }
                    }
                    // Read twice (describe, then compare): the census was built.
                    prop_assert!(a.is_empty() || e.stats().census_bytes > 0);
                }
            }
        }
    }
}

/// A block whose census holds many values (twelve tags of 2,300 to 3,900 customers in one
/// block) and one with few: describe and compare count as the naive model does, on the
/// cold read, the read that builds the census and the reads of it kept, on one thread and
/// two; the tags' totals too, whether the census spans every live block (the totals read
/// off it) or not (an audience in the first block only).
#[test]
fn a_block_of_many_sparse_values_counts_as_the_model_does() {
    const N: u32 = 70_000;
    let mut e = Engine::new();
    e.customer_id_range(0..N).unwrap();
    let mut model: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for k in 0..12u32 {
        let ids: BTreeSet<u32> = (k..N).step_by(17 + k as usize).collect();
        let name = if k == 5 { "高消费".to_owned() } else { format!("t{k}") };
        e.tag_all(&ids.iter().copied().map(CustomerId).collect::<Audience>(), &name).unwrap();
        model.insert(name, ids);
    }
    let a: BTreeSet<u32> = (0..N).filter(|c| c % 7 == 0 || c % 11 == 3).collect();
    let b: BTreeSet<u32> = (0..N).filter(|c| c % 5 == 1).collect();
    let first: BTreeSet<u32> = a.iter().copied().filter(|&c| c < 1 << 16).collect();
    let audience = |ids: &BTreeSet<u32>| -> Audience { ids.iter().copied().map(CustomerId).collect() };
    for threads in [1, 2, 1, 2] {
        for x in [&a, &first] {
            let d = e.describe(&audience(x), DescribeOptions::new().top(usize::MAX).threads(threads));
            let got: BTreeMap<String, (u64, u64)> =
                d.tags.iter().map(|t| (t.tag.clone(), (t.count, t.total))).collect();
            let want: BTreeMap<String, (u64, u64)> =
                model.iter().map(|(t, m)| (t.clone(), (m.intersection(x).count() as u64, m.len() as u64))).collect();
            assert_eq!(got, want, "describe on {threads} threads");
        }
        let c = e.compare_with(&audience(&a), &audience(&b), DescribeOptions::new().top(usize::MAX).threads(threads));
        for t in &c.tags {
            let m = &model[&t.tag];
            assert_eq!((t.in_a, t.in_b), (m.intersection(&a).count() as u64, m.intersection(&b).count() as u64));
        }
    }
    assert!(e.stats().census_bytes > 0, "read again: the census was built");
}

/// More tags than one group of the census (256 tag ids a group): 700 tags over three
/// blocks, sparse in each (a few to a few thousand customers), the ids 300..560 deleted (a
/// whole group gone, two cut), some tags in one block only, and customers removed. Describe
/// and compare count as the naive model does on every read (cold, building the census,
/// kept) on one, two and three threads, totals included.
#[test]
fn many_groups_of_tags_count_as_the_model_does() {
    const N: u32 = 150_000;
    let mut e = Engine::new();
    e.customer_id_range(0..N).unwrap();
    let mut model: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    let hash = |c: u32, k: u32| (c ^ k.wrapping_mul(0x9E37_79B9)).wrapping_mul(0x85EB_CA6B) >> 7;
    for k in 0..700u32 {
        let share = [3, 40, 400, 2_000][k as usize % 4]; // per 100,000
        let (lo, hi) = if k % 9 == 0 { (70_000, 100_000) } else { (0, N) }; // one block only
        let ids: BTreeSet<u32> = (lo..hi).filter(|&c| hash(c, k) % 100_000 < share).collect();
        let name = if k == 600 { "高消费".to_owned() } else { format!("t{k}") };
        if ids.is_empty() {
            continue;
        }
        e.tag_all(&ids.iter().copied().map(CustomerId).collect::<Audience>(), &name).unwrap();
        model.insert(name, ids);
    }
    for k in 300..560u32 {
        if model.remove(&format!("t{k}")).is_some() {
            e.delete_tag(&format!("t{k}")).unwrap();
        }
    }
    for c in (5..N).step_by(997) {
        e.remove_customer(CustomerId(c)).unwrap();
        for ids in model.values_mut() {
            ids.remove(&c);
        }
    }
    model.retain(|_, ids| !ids.is_empty());
    let live = |c: &u32| *c < 5 || !(c - 5).is_multiple_of(997);
    let a: BTreeSet<u32> = (0..N).filter(|c| live(c) && hash(*c, 7_777) % 10 == 0).collect();
    let b: BTreeSet<u32> = (0..N).filter(|c| live(c) && c % 3 == 0).collect();
    let audience = |ids: &BTreeSet<u32>| -> Audience { ids.iter().copied().map(CustomerId).collect() };
    for threads in [1, 2, 3, 1, 3] {
        let d = e.describe(&audience(&a), DescribeOptions::new().top(usize::MAX).threads(threads));
        let got: BTreeMap<String, (u64, u64)> = d.tags.iter().map(|t| (t.tag.clone(), (t.count, t.total))).collect();
        let want: BTreeMap<String, (u64, u64)> = model
            .iter()
            .map(|(t, m)| (t.clone(), (m.intersection(&a).count() as u64, m.len() as u64)))
            .filter(|(_, (count, _))| *count > 0)
            .collect();
        assert_eq!(got, want, "describe on {threads} threads");
        let c = e.compare_with(&audience(&a), &audience(&b), DescribeOptions::new().top(usize::MAX).threads(threads));
        let got: BTreeMap<String, (u64, u64)> = c.tags.iter().map(|t| (t.tag.clone(), (t.in_a, t.in_b))).collect();
        let want: BTreeMap<String, (u64, u64)> = model
            .iter()
            .map(|(t, m)| (t.clone(), (m.intersection(&a).count() as u64, m.intersection(&b).count() as u64)))
            .filter(|(_, (x, y))| *x > 0 || *y > 0)
            .collect();
        assert_eq!(got, want, "compare on {threads} threads");
    }
    assert!(e.stats().census_bytes > 0, "read again: the census was built");
}
