//! Many queries at once (`Engine::count_many`, `Engine::select_many`) and the views'
//! budget (`Engine::set_view_budget`), against a naive model: random writes (one customer
//! tagged or untagged, a range tagged or untagged in bulk, customers removed, `optimize`, a
//! new budget, a clone kept aside) on an engine of dense tags, each followed by random
//! queries in one batch, one by one, and on the clone kept aside, all compared with a
//! bit-per-customer model. Then the edges: an empty batch, an empty engine, one customer,
//! errors and their place, prepared and built queries, ids near `u32::MAX`, any thread
//! count.

mod common;

use audience::{AsQuery, Audience, CustomerId, Engine, Error, Query, ViewBudget};
use common::{Rng, TestResult, config};
use proptest::prelude::*;

/// Customers of the model engine: a full 2^16-id block and part of a second, so the dense
/// tags have bitset containers (and views) and the batch has blocks to split.
const N: u32 = 70_000;
/// Tags: four dense ones (30-70% of customers: bitsets), a sparse one (1%: small arrays),
/// `w` (3%: arrays of about 2,000 values, which views hold as bitsets) and `m` (1.2% of the
/// first block only: an array of about 790 values, between the 512 from which views widen
/// an array and the 1,024 they widened from before).
const TAGS: [&str; 7] = ["a", "b", "c", "d", "s", "w", "m"];

/// A query over [`TAGS`], built and evaluated on the model alike.
#[derive(Clone, Debug)]
enum M {
    Tag(usize),
    Not(Box<M>),
    And(Vec<M>),
    Or(Vec<M>),
}

impl M {
    fn query(&self) -> Query {
        match self {
            M::Tag(t) => Query::tag(TAGS[*t]),
            M::Not(x) => x.query().not(),
            M::And(xs) => Query::all(xs.iter().map(M::query)),
            M::Or(xs) => Query::any(xs.iter().map(M::query)),
        }
    }

    fn eval(&self, m: &Model, c: usize) -> bool {
        match self {
            M::Tag(t) => m.tags[*t][c],
            M::Not(x) => !x.eval(m, c),
            M::And(xs) => xs.iter().all(|x| x.eval(m, c)),
            M::Or(xs) => xs.iter().any(|x| x.eval(m, c)),
        }
    }
}

fn query_strategy() -> impl Strategy<Value = M> {
    let leaf = (0..TAGS.len()).prop_map(M::Tag);
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| M::Not(Box::new(x))),
            prop::collection::vec(inner.clone(), 2..5).prop_map(M::And),
            prop::collection::vec(inner, 2..5).prop_map(M::Or),
        ]
    })
}

/// One bit per customer and tag, and the live customers.
#[derive(Clone)]
struct Model {
    live: Vec<bool>,
    tags: Vec<Vec<bool>>,
}

impl Model {
    fn ids(&self, q: &M) -> Vec<u32> {
        (0..N as usize).filter(|&c| self.live[c] && q.eval(self, c)).map(|c| c as u32).collect()
    }
}

/// An engine and its model: `N` customers, tags drawn from `seed`.
fn build(seed: u64) -> (Engine, Model) {
    let mut rng = Rng::new(seed);
    let mut e = Engine::new();
    e.customer_id_range(0..N).unwrap();
    // Per mille; `m` in the first block only.
    let mut d = || 300 + rng.below(400);
    let shares = [d(), d(), d(), d(), 10, 30, 12];
    let mut m = Model { live: vec![true; N as usize], tags: vec![vec![false; N as usize]; TAGS.len()] };
    let mut pairs = Vec::new();
    for c in 0..N {
        for (t, &share) in shares.iter().enumerate() {
            if rng.below(1000) < share && (TAGS[t] != "m" || c < 1 << 16) {
                pairs.push((CustomerId(c), TAGS[t]));
                m.tags[t][c as usize] = true;
            }
        }
    }
    e.tag_pairs(pairs).unwrap();
    (e, m)
}

#[derive(Clone, Debug)]
enum Op {
    Tag(u32, usize),
    Untag(u32, usize),
    TagRange(u32, u32, usize),
    UntagRange(u32, u32, usize),
    Remove(u32),
    Optimize,
    Budget(Option<usize>),
    KeepClone,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let c = 0..N;
    let t = 0..TAGS.len();
    prop_oneof![
        4 => (c.clone(), t.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        4 => (c.clone(), t.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        1 => (c.clone(), 1..20_000u32, t.clone()).prop_map(|(c, n, t)| Op::TagRange(c, n, t)),
        1 => (c.clone(), 1..20_000u32, t).prop_map(|(c, n, t)| Op::UntagRange(c, n, t)),
        1 => c.prop_map(Op::Remove),
        1 => Just(Op::Optimize),
        1 => prop::option::of(prop::sample::select(vec![0usize, 20_000, 1 << 20])).prop_map(Op::Budget),
        1 => Just(Op::KeepClone),
    ]
}

fn apply(e: &mut Engine, m: &mut Model, op: &Op) {
    let range = |c: u32, n: u32| (c..c.saturating_add(n).min(N)).filter(|&c| m.live[c as usize]);
    match *op {
        Op::Tag(c, t) if m.live[c as usize] => {
            e.tag(CustomerId(c), TAGS[t]).unwrap();
            m.tags[t][c as usize] = true;
        }
        Op::Untag(c, t) if m.live[c as usize] => {
            e.untag(CustomerId(c), TAGS[t]).unwrap();
            m.tags[t][c as usize] = false;
        }
        Op::TagRange(c, n, t) | Op::UntagRange(c, n, t) => {
            let who: Audience = range(c, n).map(CustomerId).collect();
            let on = matches!(op, Op::TagRange(..));
            if on { e.tag_all(&who, TAGS[t]) } else { e.untag_all(&who, TAGS[t]) }.unwrap();
            for c in who.iter() {
                m.tags[t][c.0 as usize] = on;
            }
        }
        Op::Remove(c) if m.live[c as usize] => {
            e.remove_customer(CustomerId(c)).unwrap();
            m.live[c as usize] = false;
            for t in &mut m.tags {
                t[c as usize] = false;
            }
        }
        Op::Optimize => e.optimize(),
        Op::Budget(b) => {
            e.set_view_budget(b.map_or(ViewBudget::Auto, ViewBudget::Bytes));
        }
        _ => {} // a removed customer: nothing to do (the clone is kept by the caller)
    }
}

/// Every way of asking `qs` of `e` gives the model's answers.
fn check(e: &Engine, m: &Model, qs: &[M], what: &str) -> TestResult {
    let queries: Vec<Query> = qs.iter().map(M::query).collect();
    let want: Vec<Vec<u32>> = qs.iter().map(|q| m.ids(q)).collect();
    let counts: Vec<u64> = want.iter().map(|w| w.len() as u64).collect();
    prop_assert_eq!(e.count_many(&queries).unwrap(), counts.clone(), "count_many {}", what);
    let got: Vec<Vec<u32>> = e.select_many(&queries).unwrap().iter().map(Audience::to_ids).collect();
    prop_assert_eq!(&got, &want, "select_many {}", what);
    for (q, n) in queries.iter().zip(&counts) {
        prop_assert_eq!(e.count(q).unwrap(), *n, "count {} {}", q, what);
    }
    let stats = e.stats();
    prop_assert!(
        stats.view_bytes <= stats.view_budget_bytes,
        "{} > {} {}",
        stats.view_bytes,
        stats.view_budget_bytes,
        what
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(12))]

    /// After every write, a batch, each query alone and a clone kept aside before the write
    /// answer as the model does; the views stay within the budget.
    #[test]
    fn batches_and_views_follow_random_writes(
        seed in any::<u64>(),
        threads in 1..4usize,
        qs in prop::collection::vec(query_strategy(), 1..7),
        ops in prop::collection::vec(op_strategy(), 1..12),
    ) {
        let (mut e, mut m) = build(seed);
        e.set_threads(threads);
        check(&e, &m, &qs, "at the start")?;
        let mut kept: Option<(Engine, Model)> = None;
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, Op::KeepClone) {
                kept = Some((e.clone(), m.clone()));
            }
            apply(&mut e, &mut m, op);
            check(&e, &m, &qs, &format!("after op {i} {op:?}"))?;
            if let Some((ke, km)) = &kept {
                check(ke, km, &qs, &format!("the clone, after op {i} {op:?}"))?;
            }
        }
    }
}

// ------------------------------------------------------------------ edges

const SHAPES: [&str; 12] = [
    "a",
    "a AND b",
    "a OR b OR c",
    "a AND b AND NOT c",
    "NOT a AND NOT b AND NOT c",
    "(a OR s) AND (b OR c) AND NOT (a AND c)",
    "s AND a AND b",
    "*",
    "NOT *",
    "a AND NOT b OR b AND NOT a OR c AND d",
    "w OR s OR (a AND w)",
    "(w OR c) AND NOT (d AND w) AND b",
];

/// The counts and ids each shape gives alone.
fn alone(e: &Engine) -> (Vec<u64>, Vec<Vec<u32>>) {
    (
        SHAPES.iter().map(|q| e.count(*q).unwrap()).collect(),
        SHAPES.iter().map(|q| e.query(q).unwrap().to_ids()).collect(),
    )
}

fn many(e: &Engine) -> (Vec<u64>, Vec<Vec<u32>>) {
    (e.count_many(&SHAPES).unwrap(), e.select_many(&SHAPES).unwrap().iter().map(Audience::to_ids).collect())
}

#[test]
fn an_empty_batch_and_an_empty_engine() {
    let mut e = Engine::new();
    let none: [&str; 0] = [];
    assert_eq!(e.count_many(&none).unwrap(), Vec::<u64>::new());
    assert!(e.select_many(&none).unwrap().is_empty());
    for t in TAGS {
        e.ensure_tag(t).unwrap();
    }
    assert_eq!(many(&e), alone(&e));
    assert!(e.count_many(&SHAPES).unwrap().iter().all(|&n| n == 0));
}

#[test]
fn one_customer_and_every_thread_count() {
    let mut e = Engine::new();
    let c = e.customer("only").unwrap();
    for t in ["a", "c", "高消费"] {
        e.tag(c, t).unwrap();
    }
    for t in TAGS {
        e.ensure_tag(t).unwrap();
    }
    let want = alone(&e);
    for threads in [1, 2, 3, 8, 64] {
        e.set_threads(threads);
        assert_eq!(many(&e), want, "{threads} threads");
    }
    assert_eq!(e.count_many(&["高消费 AND a AND c", "高消费 OR s OR b"]).unwrap(), [1, 1]);
}

#[test]
fn big_batches_agree_at_any_thread_count_and_budget() {
    let (mut e, _) = build(7);
    let want = alone(&e);
    for budget in [ViewBudget::Auto, ViewBudget::Bytes(0), ViewBudget::Bytes(10_000)] {
        e.set_view_budget(budget);
        for threads in [1, 2, 3, 5] {
            e.set_threads(threads);
            assert_eq!(many(&e), want, "{threads} threads, {budget:?}");
        }
        let stats = e.stats();
        assert!(stats.view_bytes <= stats.view_budget_bytes, "{budget:?}");
    }
    e.set_view_budget(ViewBudget::Bytes(0));
    assert_eq!(e.stats().view_bytes, 0, "no views under a zero budget");
    // The same query many times over: one operand table.
    let twenty = vec!["a AND b AND NOT c"; 20];
    let n = e.count("a AND b AND NOT c").unwrap();
    assert_eq!(e.count_many(&twenty).unwrap(), vec![n; 20]);
}

#[test]
fn errors_name_the_first_bad_query_and_nothing_runs() {
    let (e, _) = build(3);
    match e.count_many(&["a", "a AND", "nope", "b"]) {
        Err(Error::InBatch { index: 1, error }) => assert!(matches!(*error, Error::Parse { .. }), "{error:?}"),
        other => panic!("expected the parse error of query 1, got {other:?}"),
    }
    match e.select_many(&["a", "b AND bb"]) {
        Err(Error::InBatch { index: 1, error }) => match *error {
            Error::UnknownTag { ref name, ref suggestions, .. } => {
                assert_eq!(name, "bb");
                assert!(suggestions.iter().any(|s| s == "b"), "{suggestions:?}");
            }
            ref other => panic!("expected UnknownTag, got {other:?}"),
        },
        other => panic!("expected the unknown tag of query 1, got {other:?}"),
    }
    let text = e.count_many(&["zz"]).unwrap_err().to_string();
    assert!(text.starts_with("in query 0 of the batch"), "{text}");
}

#[test]
fn prepared_built_and_mixed_queries() {
    let (mut e, _) = build(11);
    let want = alone(&e).0;
    let prepared: Vec<_> = SHAPES.iter().map(|q| e.prepare(*q).unwrap()).collect();
    assert_eq!(e.count_many(&prepared).unwrap(), want);
    let built: Vec<Query> = SHAPES.iter().map(|q| Query::parse(q).unwrap()).collect();
    assert_eq!(e.count_many(&built).unwrap(), want);
    let mixed: Vec<&dyn AsQuery> = vec![&prepared[3], &built[5], &SHAPES[9], &prepared[0]];
    assert_eq!(e.count_many(&mixed).unwrap(), [want[3], want[5], want[9], want[0]]);
    // After a change to the pool, prepared queries resolve their names again.
    e.rename_tag("c", "c2").unwrap();
    assert!(matches!(e.count_many(&prepared), Err(Error::InBatch { index: 2, .. })), "the first to name c");
    e.rename_tag("c2", "c").unwrap();
    assert_eq!(e.count_many(&prepared).unwrap(), want);
}

#[test]
fn ids_at_the_top_of_the_range() {
    let mut e = Engine::new();
    let top = u32::MAX - 70_000..u32::MAX;
    e.customer_id_range(top.clone()).unwrap();
    e.customer_id_range(0..1_000).unwrap();
    let mut rng = Rng::new(5);
    let mut pairs = Vec::new();
    for c in top.clone().chain(0..1_000) {
        for (t, share) in [("a", 60), ("b", 50), ("c", 40), ("d", 70), ("s", 1), ("w", 3)] {
            if rng.below(100) < share {
                pairs.push((CustomerId(c), t));
            }
        }
    }
    e.tag_pairs(pairs).unwrap();
    let want = alone(&e);
    for threads in [1, 2] {
        e.set_threads(threads);
        assert_eq!(many(&e), want, "{threads} threads");
    }
    assert!(e.count_many(&["a AND b AND d"]).unwrap()[0] > 0);
}
