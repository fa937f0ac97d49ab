//! Model-based property tests of tag hierarchies and the cached subtree unions behind them.
//!
//! A tag with children keeps the union of its subtree (`src/tags/store.rs`): kept current on
//! additions, followed exactly on one-customer removals under parents of at most 1,024
//! children, and dropped and rebuilt lazily otherwise (batch removals, deletes, renames,
//! parents with more children). These tests run random operation sequences on the real
//! [`Engine`] and on the naive model of `common::model`, which recomputes every match from
//! scratch, by name:
//! - a tag matches customers carrying it or any tag whose name starts with it and `/`;
//! - creating a tag creates its missing ancestors;
//! - `delete_tag` refuses a tag with children; `rename_tag` moves the whole subtree (new
//!   names are the new root plus each old suffix), creates missing ancestors of the new root,
//!   and refuses a new name taken by a tag outside the subtree (or deeper than
//!   [`MAX_TAG_DEPTH`](audience::MAX_TAG_DEPTH));
//! - removing a customer erases it everywhere; `NOT` is relative to the live customers.
//!
//! After every step, counts, selections, explanations and every tag's `len` and
//! `subtree_len` are compared with the model. A step is one operation or a burst of a few
//! with no read in between, so some operations meet unions that are not built yet.
//!
//! `big_parent_matches_model` covers parents with more than `EXACT_FANOUT` (1,024)
//! children: `big` has 1,100. Failure persistence is off so a failing run writes no files;
//! a failure message lists the operations applied, as resolved names and ids.
//! `PROPTEST_CASES=n` runs longer.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use audience::{Audience, CustomerId, Engine, Error, Query};
use common::model::{Model, Q, depth, in_subtree, parent, same, self_and_ancestors};
use common::{Pick, TestResult, config, pick};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The levels of generated names: `a`, `a/b`, `c/a/b/b`, ...
const LEVELS: &[&str] = &["a", "b", "c"];

/// Customers of the small test: dense ids `0..CUSTOMERS`.
const CUSTOMERS: u32 = 24;

/// Children of `big` in the large-fanout test: more than `EXACT_FANOUT` (1,024).
const BIG_CHILDREN: u32 = 1_100;

/// Customers of the large-fanout test. Child `big/k{i}` carries customer `i` (its own) and
/// one of 50 shared customers; customers from `BIG_CHILDREN + 50` on carry nothing.
const BIG_CUSTOMERS: u32 = 1_200;

// ------------------------------------------------------------------ queries

/// A query's text, every operand in parentheses (so the parser's grouping is exercised).
fn text(q: &Q) -> String {
    match q {
        Q::Tag(n) => n.clone(),
        Q::Not(x) => format!("NOT ({})", text(x)),
        Q::And(xs) => xs.iter().map(|x| format!("({})", text(x))).collect::<Vec<_>>().join(" AND "),
        Q::Or(xs) => xs.iter().map(|x| format!("({})", text(x))).collect::<Vec<_>>().join(" OR "),
        other => unreachable!("not generated here: {other:?}"),
    }
}

/// A query shape over tags picked when it is used: a parent (a tag with children when there
/// is one), a descendant of it, and any other tag.
#[derive(Clone, Copy, Debug)]
struct QGen {
    shape: u8,
    a: Pick,
    b: Pick,
}

fn qgen() -> impl Strategy<Value = QGen> {
    (0u8..8, pick(), pick()).prop_map(|(shape, a, b)| QGen { shape, a, b })
}

impl QGen {
    /// The query, or `None` when the pool is empty.
    fn resolve(self, m: &Model) -> Option<Q> {
        let p = self.a.of(&m.parents()).or_else(|| self.a.of(&m.tag_names()))?;
        let child = self.b.of(&m.below(&p)).unwrap_or_else(|| p.clone());
        let other = self.b.of(&m.tag_names()).expect("the pool is not empty");
        let (p, child, other) = (Q::Tag(p), Q::Tag(child), Q::Tag(other));
        Some(match self.shape {
            0 => p,
            1 => p.not(),
            2 => p.and(child.not()),
            3 => p.or(other),
            4 => p.and(other),
            5 => p.or(other).not(),
            6 => child.and(p.not()),
            _ => p.and(child.not()).or(other.not()),
        })
    }
}

/// Engine and model agree on a query: count, selection and explanation.
fn check_query(e: &Engine, m: &Model, q: &Q) -> TestResult {
    check_text(e, &text(q), &m.eval(q).expect("names of the pool"))
}

/// Engine gives `want` for query `text`: count, selection and explanation.
fn check_text(e: &Engine, text: &str, want: &BTreeSet<u32>) -> TestResult {
    let n = want.len() as u64;
    prop_assert_eq!(e.count(text).ok(), Some(n), "count {}", text);
    prop_assert_eq!(e.select(text).map(|a| a.to_ids()).ok(), Some(want.iter().copied().collect()), "select {}", text);
    prop_assert_eq!(e.explain(text).map(|x| x.count()).ok(), Some(n), "explain {}", text);
    Ok(())
}

/// Engine and model agree on tag `name`: its info (`len`, `subtree_len`, children, parent)
/// and the counts of `name` and `NOT name`.
fn check_tag(e: &Engine, m: &Model, name: &str, matches: &BTreeSet<u32>) -> TestResult {
    let info = e.tag_info(name);
    prop_assert!(info.is_ok(), "tag_info {:?}: {:?}", name, info.err());
    let info = info.expect("checked");
    prop_assert_eq!(info.len, m.members(name).len() as u64, "len of {:?}", name);
    prop_assert_eq!(info.subtree_len, matches.len() as u64, "subtree_len of {:?}", name);
    prop_assert_eq!(info.parent, parent(name), "parent of {:?}", name);
    prop_assert_eq!(info.children, m.children(name), "children of {:?}", name);
    // Built queries (no parse): the compound queries check the text path.
    prop_assert_eq!(e.count(&Query::tag(name)).ok(), Some(matches.len() as u64), "count {}", name);
    let not = m.live.len() as u64 - matches.len() as u64;
    prop_assert_eq!(e.count(&Query::tag(name).not()).ok(), Some(not), "count NOT {}", name);
    Ok(())
}

// ------------------------------------------------------------------ operations

/// An operation with every name and customer resolved: what both sides are given.
#[derive(Clone, Debug)]
enum Act {
    Tag(u32, String),
    Untag(u32, String),
    TagAll(BTreeSet<u32>, String),
    UntagAll(BTreeSet<u32>, String),
    TagPairs(Vec<(u32, String)>),
    /// `ensure_tag` of each name, then `tag_id_pairs` with the ids.
    TagIdPairs(Vec<(u32, String)>),
    Delete(String),
    Rename(String, String),
    Remove(u32),
    RemoveMany(BTreeSet<u32>),
    Revive(u32),
}

fn audience(ids: &BTreeSet<u32>) -> Audience {
    ids.iter().map(|&c| CustomerId(c)).collect()
}

/// Applies `act` to both sides and compares the results (on an error, both are unchanged).
fn perform(e: &mut Engine, m: &mut Model, act: &Act) -> TestResult {
    let what = format_args!("{act:?}");
    match act {
        Act::Tag(c, n) => same(what, e.tag(CustomerId(*c), n), m.tag(*c, n)),
        Act::Untag(c, n) => same(what, e.untag(CustomerId(*c), n), m.untag(*c, n)),
        Act::TagAll(a, n) => same(what, e.tag_all(&audience(a), n), m.tag_all(a, n)),
        Act::UntagAll(a, n) => same(what, e.untag_all(&audience(a), n), m.untag_all(a, n)),
        Act::TagPairs(pairs) => {
            let ids = pairs.iter().map(|(c, n)| (CustomerId(*c), n.as_str()));
            same(what, e.tag_pairs(ids), m.tag_pairs(pairs))
        }
        Act::TagIdPairs(pairs) => {
            let mut ids = Vec::new();
            for (c, n) in pairs {
                m.ensure(n);
                let id = e.ensure_tag(n);
                prop_assert!(id.is_ok(), "ensure_tag {:?}: {:?}", n, id);
                ids.push((CustomerId(*c), id.expect("checked")));
            }
            same(what, e.tag_id_pairs(ids), m.tag_pairs(pairs))
        }
        Act::Delete(n) => same(what, e.delete_tag(n), m.delete_tag(n)),
        Act::Rename(old, new) => same(what, e.rename_tag(old, new), m.rename_tag(old, new)),
        Act::Remove(c) => same(what, e.remove_customer(CustomerId(*c)), m.remove(*c)),
        Act::RemoveMany(a) => same(what, e.remove_customers(&audience(a)), m.remove_customers(a)),
        Act::Revive(c) => same(what, e.customer_id(*c), m.customer_id(*c).map(CustomerId)),
    }
}

/// Runs `body`, and on failure appends the operations applied so far to the message.
fn with_trail(trail: &[Act], body: impl FnOnce() -> TestResult) -> TestResult {
    body().map_err(|err| {
        let mut msg = format!("{err}\noperations applied ({}):", trail.len());
        for act in trail {
            write!(msg, "\n  {act:?}").expect("writing to a String");
        }
        TestCaseError::fail(msg)
    })
}

// ------------------------------------------------------------------ small name space

/// A name: generated (`a` to `c/c/c/c`), or one in the pool when used.
#[derive(Clone, Debug)]
enum NameSel {
    Fixed(String),
    Pool(Pick),
    Leaf(Pick),
    Parent(Pick),
}

fn fixed_name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LEVELS), 1..=4).prop_map(|levels| levels.join("/"))
}

fn name_sel() -> impl Strategy<Value = NameSel> {
    prop_oneof![
        4 => fixed_name().prop_map(NameSel::Fixed),
        3 => pick().prop_map(NameSel::Pool),
        2 => pick().prop_map(NameSel::Leaf),
        1 => pick().prop_map(NameSel::Parent),
    ]
}

fn name_of(m: &Model, sel: &NameSel) -> String {
    let pool = |p: Pick| p.of(&m.tag_names()).unwrap_or_else(|| LEVELS[p.index(LEVELS.len())].to_owned());
    match sel {
        NameSel::Fixed(n) => n.clone(),
        NameSel::Pool(p) => pool(*p),
        NameSel::Leaf(p) => p.of(&m.leaves()).unwrap_or_else(|| pool(*p)),
        NameSel::Parent(p) => p.of(&m.parents()).unwrap_or_else(|| pool(*p)),
    }
}

/// A customer: any id (live or not), a live one, or one carrying the tag the operation is
/// about (a live one when none does).
#[derive(Clone, Copy, Debug)]
enum Cust {
    Raw(u32),
    Live(Pick),
    Member(Pick),
}

fn cust() -> impl Strategy<Value = Cust> {
    prop_oneof![
        1 => (0..CUSTOMERS).prop_map(Cust::Raw),
        2 => pick().prop_map(Cust::Live),
        2 => pick().prop_map(Cust::Member),
    ]
}

fn cust_of(m: &Model, c: Cust, name: &str) -> u32 {
    let live = |p: Pick| p.of(&m.live.iter().copied().collect::<Vec<_>>()).unwrap_or(0);
    match c {
        Cust::Raw(c) => c,
        Cust::Live(p) => live(p),
        Cust::Member(p) => p.of(&m.members(name).into_iter().collect::<Vec<_>>()).unwrap_or_else(|| live(p)),
    }
}

/// An audience: a query's result (from the model, or from the engine after checking it
/// against the model), plus maybe one more id, live or not.
#[derive(Clone, Copy, Debug)]
struct Aud {
    query: QGen,
    extra: Option<u32>,
    via_engine: bool,
}

fn aud() -> impl Strategy<Value = Aud> {
    (qgen(), prop::option::weighted(0.3, 0..CUSTOMERS), any::<bool>()).prop_map(|(query, extra, via_engine)| Aud {
        query,
        extra,
        via_engine,
    })
}

fn audience_of(e: &Engine, m: &Model, a: Aud) -> Result<BTreeSet<u32>, TestCaseError> {
    let mut ids = BTreeSet::new();
    if let Some(q) = a.query.resolve(m) {
        ids = m.eval(&q).expect("names of the pool");
        if a.via_engine {
            check_query(e, m, &q)?;
            ids = e.select(&text(&q)).expect("checked").iter().map(u32::from).collect();
        }
    }
    ids.extend(a.extra);
    Ok(ids)
}

#[derive(Clone, Debug)]
enum Op {
    Tag(Cust, NameSel),
    Untag(Cust, NameSel),
    TagAll(Aud, NameSel),
    UntagAll(Aud, NameSel),
    /// `tag_pairs`, or (`true`) `ensure_tag` and `tag_id_pairs`.
    TagPairs(Vec<(Cust, NameSel)>, bool),
    Delete(NameSel),
    Rename(NameSel, NameSel),
    /// A rename into the tag's own subtree: `x` -> `x/<level>`.
    RenameBelow(NameSel, Pick),
    Remove(Cust),
    /// `remove_customers` of a few ids (live, carrying a tag, or not live).
    RemoveMany(Vec<Cust>),
    Revive(u32),
    /// A few operations with no read in between.
    Burst(Vec<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (cust(), name_sel()).prop_map(|(c, n)| Op::Tag(c, n)),
        6 => (prop_oneof![1 => cust(), 2 => pick().prop_map(Cust::Member)], name_sel()).prop_map(|(c, n)| Op::Untag(c, n)),
        2 => (aud(), name_sel()).prop_map(|(a, n)| Op::TagAll(a, n)),
        2 => (aud(), name_sel()).prop_map(|(a, n)| Op::UntagAll(a, n)),
        2 => (prop::collection::vec((cust(), name_sel()), 1..6), any::<bool>()).prop_map(|(p, i)| Op::TagPairs(p, i)),
        2 => name_sel().prop_map(Op::Delete),
        2 => (name_sel(), name_sel()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (name_sel(), pick()).prop_map(|(a, p)| Op::RenameBelow(a, p)),
        1 => cust().prop_map(Op::Remove),
        1 => prop::collection::vec(cust(), 1..4).prop_map(Op::RemoveMany),
        2 => (0..CUSTOMERS).prop_map(Op::Revive),
    ]
}

/// Resolves `op` against the model (and, for audiences taken from queries, the engine).
fn resolve(e: &Engine, m: &Model, op: &Op) -> Result<Act, TestCaseError> {
    Ok(match op {
        Op::Tag(c, n) => {
            let n = name_of(m, n);
            Act::Tag(cust_of(m, *c, &n), n)
        }
        Op::Untag(c, n) => {
            let n = name_of(m, n);
            Act::Untag(cust_of(m, *c, &n), n)
        }
        Op::TagAll(a, n) => Act::TagAll(audience_of(e, m, *a)?, name_of(m, n)),
        Op::UntagAll(a, n) => Act::UntagAll(audience_of(e, m, *a)?, name_of(m, n)),
        Op::TagPairs(pairs, by_id) => {
            let pairs = pairs
                .iter()
                .map(|(c, n)| {
                    let n = name_of(m, n);
                    (cust_of(m, *c, &n), n)
                })
                .collect();
            if *by_id { Act::TagIdPairs(pairs) } else { Act::TagPairs(pairs) }
        }
        Op::Delete(n) => Act::Delete(name_of(m, n)),
        Op::Rename(a, b) => Act::Rename(name_of(m, a), name_of(m, b)),
        Op::RenameBelow(a, p) => {
            let old = name_of(m, a);
            let new = format!("{old}/{}", LEVELS[p.index(LEVELS.len())]);
            Act::Rename(old, new)
        }
        Op::Remove(c) => Act::Remove(cust_of(m, *c, "")),
        Op::RemoveMany(cs) => Act::RemoveMany(cs.iter().map(|c| cust_of(m, *c, "")).collect()),
        Op::Revive(c) => Act::Revive(*c),
        Op::Burst(_) => unreachable!("bursts are flattened by the caller"),
    })
}

#[derive(Clone, Debug)]
struct Step {
    op: Op,
    queries: Vec<QGen>,
    /// Read the tags deepest name first (so children's unions are built before their
    /// parents'), instead of through `tags()` in id order first.
    reverse: bool,
    /// The customer whose `tags_of` is compared.
    probe: u32,
}

fn step() -> impl Strategy<Value = Step> {
    let op = prop_oneof![12 => op(), 1 => prop::collection::vec(op(), 2..6).prop_map(Op::Burst)];
    (op, prop::collection::vec(qgen(), 2..4), any::<bool>(), 0..CUSTOMERS)
        .prop_map(|(op, queries, reverse, probe)| Step { op, queries, reverse, probe })
}

/// Everything observable about the hierarchy, compared with the model.
fn check_all(e: &Engine, m: &Model, s: &Step) -> TestResult {
    prop_assert_eq!(e.customers().to_ids(), m.live.iter().copied().collect::<Vec<_>>(), "live customers");
    let matches = m.all_matches();
    let mut order: Vec<&str> = matches.keys().copied().collect();
    if s.reverse {
        order.sort_by_key(|n| std::cmp::Reverse(depth(n)));
        for n in &order {
            check_tag(e, m, n, &matches[n])?;
        }
    }
    check_pool(e, m)?;
    if !s.reverse {
        for n in &order {
            check_tag(e, m, n, &matches[n])?;
        }
    }
    for q in s.queries.iter().filter_map(|q| q.resolve(m)) {
        check_query(e, m, &q)?;
    }
    // A name not in the pool is an error, not an empty match.
    let missing = ["a", "b", "c", "a/a", "c/b/a/c"].into_iter().find(|n| !m.pool.contains(*n));
    if let Some(n) = missing {
        prop_assert!(matches!(e.count(n), Err(Error::UnknownTag { .. })), "count of unknown {:?}", n);
    }
    let got = e.tags_of(CustomerId(s.probe));
    if m.live.contains(&s.probe) {
        let want: BTreeSet<&str> = m.tags[&s.probe].iter().map(String::as_str).collect();
        prop_assert_eq!(got.map(|v| v.into_iter().collect::<BTreeSet<_>>()).ok(), Some(want), "tags_of #{}", s.probe);
    } else {
        prop_assert!(matches!(got, Err(Error::UnknownCustomer { .. })), "tags_of removed #{}", s.probe);
    }
    Ok(())
}

fn run(steps: &[Step]) -> TestResult {
    let mut e = Engine::new();
    e.customer_id_range(0..CUSTOMERS).expect("fresh ids");
    let mut m = Model::with_customers(CUSTOMERS);
    let mut trail = Vec::new();
    for s in steps {
        let ops = match &s.op {
            Op::Burst(ops) => ops.as_slice(),
            op => std::slice::from_ref(op),
        };
        for op in ops {
            let act = match resolve(&e, &m, op) {
                Ok(act) => act,
                Err(err) => return with_trail(&trail, || Err(err)),
            };
            trail.push(act.clone());
            with_trail(&trail, || perform(&mut e, &mut m, &act))?;
        }
        with_trail(&trail, || check_all(&e, &m, s))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(96))]

    /// Random operation sequences over names `a` to `c/c/c/c` and 24 customers: engine and
    /// model agree after every step on every tag's counts and info and on compound queries
    /// (`parent`, `NOT parent`, `parent AND NOT child`, `parent OR other`, ...).
    #[test]
    fn hierarchy_matches_model(steps in prop::collection::vec(step(), 60..200)) {
        run(&steps)?;
    }
}

// ------------------------------------------------------------------ a parent of 1,100 children

/// `big` with children `big/k0` .. `big/k1099`: child `i` carries customer `i` and shared
/// customer `1100 + i % 50`.
fn big_setup() -> (Engine, Model) {
    let mut e = Engine::new();
    e.customer_id_range(0..BIG_CUSTOMERS).expect("fresh ids");
    let mut m = Model::with_customers(BIG_CUSTOMERS);
    let pairs: Vec<(u32, String)> = (0..BIG_CHILDREN)
        .flat_map(|i| [(i, format!("big/k{i}")), (BIG_CHILDREN + i % 50, format!("big/k{i}"))])
        .collect();
    let act = Act::TagPairs(pairs);
    perform(&mut e, &mut m, &act).expect("the setup loads");
    assert_eq!(e.tag_info("big").unwrap().children, BIG_CHILDREN as usize);
    (e, m)
}

#[derive(Clone, Debug)]
enum BigOp {
    /// Untag a customer (mostly one carrying it) from a tag below `big`.
    Untag(Pick, Cust),
    Tag(Pick, u32),
    /// Tag a customer with a new child `big/n{i}`.
    TagNew(u16, u32),
    /// Untag every member of a tag below `big` (plus one other customer), in one batch.
    UntagAll(Pick, u32),
    Delete(Pick),
    /// Rename a tag below `big` out of it: to `out/<last>`, to `<last>` or below a sibling.
    RenameOut(Pick, Pick),
    /// Rename a tag outside `big` to `big/k{i}` (a clash when that exists).
    RenameIn(Pick, u16),
    /// Rename a tag below `big` to `big/k{i}`.
    RenameWithin(Pick, u16),
    TagBig(u32),
    UntagBig(Cust),
    Remove(u32),
    RemoveMany(Vec<u32>),
    Revive(u32),
    Burst(Vec<BigOp>),
}

fn big_cust() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0..BIG_CHILDREN + 50, 1 => 0..BIG_CUSTOMERS]
}

fn big_op() -> impl Strategy<Value = BigOp> {
    prop_oneof![
        8 => (pick(), prop_oneof![4 => pick().prop_map(Cust::Member), 1 => big_cust().prop_map(Cust::Raw)])
            .prop_map(|(t, c)| BigOp::Untag(t, c)),
        3 => (pick(), big_cust()).prop_map(|(t, c)| BigOp::Tag(t, c)),
        1 => (0u16..20, big_cust()).prop_map(|(i, c)| BigOp::TagNew(i, c)),
        2 => (pick(), big_cust()).prop_map(|(t, c)| BigOp::UntagAll(t, c)),
        2 => pick().prop_map(BigOp::Delete),
        2 => (pick(), pick()).prop_map(|(t, d)| BigOp::RenameOut(t, d)),
        2 => (pick(), 0u16..1_200).prop_map(|(t, i)| BigOp::RenameIn(t, i)),
        1 => (pick(), 0u16..1_200).prop_map(|(t, i)| BigOp::RenameWithin(t, i)),
        1 => big_cust().prop_map(BigOp::TagBig),
        1 => prop_oneof![pick().prop_map(Cust::Member), big_cust().prop_map(Cust::Raw)].prop_map(BigOp::UntagBig),
        1 => big_cust().prop_map(BigOp::Remove),
        1 => prop::collection::vec(big_cust(), 1..6).prop_map(BigOp::RemoveMany),
        1 => big_cust().prop_map(BigOp::Revive),
    ]
}

fn last_level(name: &str) -> &str {
    name.rsplit('/').next().expect("split yields one piece")
}

fn resolve_big(m: &Model, op: &BigOp) -> Act {
    let below = || m.below("big");
    let under = |p: Pick| p.of(&below()).unwrap_or_else(|| "big".to_owned());
    match op {
        BigOp::Untag(t, c) => {
            let n = under(*t);
            Act::Untag(cust_of(m, *c, &n), n)
        }
        BigOp::Tag(t, c) => Act::Tag(*c, under(*t)),
        BigOp::TagNew(i, c) => Act::Tag(*c, format!("big/n{i}")),
        BigOp::UntagAll(t, c) => {
            let n = under(*t);
            let mut ids = m.members(&n);
            ids.insert(*c);
            Act::UntagAll(ids, n)
        }
        BigOp::Delete(t) => Act::Delete(under(*t)),
        BigOp::RenameOut(t, d) => {
            let n = under(*t);
            let last = last_level(&n).to_owned();
            let new = match d.index(3) {
                0 => format!("out/{last}"),
                1 => last,
                _ => format!("{}/{last}", under(Pick(d.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)))),
            };
            Act::Rename(n, new)
        }
        BigOp::RenameIn(t, i) => {
            let outside: Vec<String> = m.tag_names().into_iter().filter(|n| !in_subtree(n, "big")).collect();
            let n = t.of(&outside).unwrap_or_else(|| under(*t));
            Act::Rename(n, format!("big/k{i}"))
        }
        BigOp::RenameWithin(t, i) => Act::Rename(under(*t), format!("big/k{i}")),
        BigOp::TagBig(c) => Act::Tag(*c, "big".to_owned()),
        BigOp::UntagBig(c) => Act::Untag(cust_of(m, *c, "big"), "big".to_owned()),
        BigOp::Remove(c) => Act::Remove(*c),
        BigOp::RemoveMany(ids) => Act::RemoveMany(ids.iter().copied().collect()),
        BigOp::Revive(c) => Act::Revive(*c),
        BigOp::Burst(_) => unreachable!("bursts are flattened by the caller"),
    }
}

/// The names an operation touched, for the checks after it.
fn touched(act: &Act) -> Vec<&str> {
    match act {
        Act::Tag(_, n) | Act::Untag(_, n) | Act::TagAll(_, n) | Act::UntagAll(_, n) | Act::Delete(n) => vec![n],
        Act::Rename(a, b) => vec![a, b],
        Act::TagPairs(p) | Act::TagIdPairs(p) => p.iter().map(|(_, n)| n.as_str()).collect(),
        Act::Remove(_) | Act::RemoveMany(_) | Act::Revive(_) => Vec::new(),
    }
}

/// `big` (count, `NOT big`, selection, info) and every touched name and its ancestors.
fn check_big(e: &Engine, m: &Model, acts: &[Act]) -> TestResult {
    let big = m.matches("big");
    check_tag(e, m, "big", &big)?;
    check_text(e, "big", &big)?;
    let mut names: BTreeSet<&str> = acts.iter().flat_map(touched).flat_map(self_and_ancestors).collect();
    names.insert("out");
    for n in names.into_iter().filter(|n| *n != "big") {
        if m.pool.contains(n) {
            let matches = m.matches(n);
            check_tag(e, m, n, &matches)?;
            if in_subtree(n, "big") {
                check_text(e, &format!("big AND NOT {n}"), &big.difference(&matches).copied().collect())?;
            }
        } else {
            prop_assert_eq!(e.tag_id(n), None, "{:?} is not in the pool", n);
        }
    }
    Ok(())
}

fn run_big(ops: &[BigOp]) -> TestResult {
    let (mut e, mut m) = big_setup();
    let mut trail = Vec::new();
    check_big(&e, &m, &[])?;
    for op in ops {
        let ops = match op {
            BigOp::Burst(ops) => ops.as_slice(),
            op => std::slice::from_ref(op),
        };
        let start = trail.len();
        for op in ops {
            let act = resolve_big(&m, op);
            trail.push(act.clone());
            with_trail(&trail, || perform(&mut e, &mut m, &act))?;
        }
        with_trail(&trail, || check_big(&e, &m, &trail[start..]))?;
    }
    with_trail(&trail, || check_pool(&e, &m))
}

/// Every tag of the pool, listed by `tags()`: names, `len` and `subtree_len`.
fn check_pool(e: &Engine, m: &Model) -> TestResult {
    let matches = m.all_matches();
    let lens = m.member_counts();
    let listed: BTreeSet<&str> = e.tags().map(|t| t.name).collect();
    prop_assert_eq!(listed, matches.keys().copied().collect::<BTreeSet<_>>(), "tag pool");
    for t in e.tags() {
        prop_assert_eq!(t.len, lens[t.name], "tags(): len of {:?}", t.name);
        prop_assert_eq!(t.subtree_len, matches[t.name].len() as u64, "tags(): subtree_len of {:?}", t.name);
    }
    Ok(())
}

fn big_step() -> impl Strategy<Value = BigOp> {
    prop_oneof![10 => big_op(), 1 => prop::collection::vec(big_op(), 2..5).prop_map(BigOp::Burst)]
}

proptest! {
    #![proptest_config(config(32))]

    /// A parent of 1,100 children (more than `EXACT_FANOUT`): one-customer removals drop its
    /// union instead of following it; random untags, tags, batch untags, deletes and renames
    /// of its children (into, out of and within it) keep `big`, `NOT big` and
    /// `subtree_len` equal to the model after every step.
    #[test]
    fn big_parent_matches_model(ops in prop::collection::vec(big_step(), 40..100)) {
        run_big(&ops)?;
    }
}

// ------------------------------------------------------------------ concurrent readers

/// After an untag under `big` (which drops its union), four threads count `big` at once (the
/// first read rebuilds the union through `&self`); all see the model's answer. Repeated with
/// a different child, and once after a batch removal, a delete and a rename.
#[test]
fn concurrent_readers_rebuild_one_union() {
    let (mut e, mut m) = big_setup();
    let acts = (0..16u32).map(|i| Act::Untag(i * 67, format!("big/k{}", i * 67))).chain([
        Act::UntagAll((1_100..1_110).collect(), "big/k3".to_owned()),
        Act::Delete("big/k5".to_owned()),
        Act::Rename("big/k6".to_owned(), "out/k6".to_owned()),
        Act::Remove(7),
    ]);
    for act in acts {
        perform(&mut e, &mut m, &act).unwrap();
        let want = m.matches("big").len() as u64;
        let not = m.live.len() as u64 - want;
        let barrier = std::sync::Barrier::new(4);
        let e = &e;
        let seen: Vec<(u64, u64, u64)> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let n = e.count("big").unwrap();
                        (n, e.tag_info("big").unwrap().subtree_len, e.count("NOT big").unwrap())
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(seen, vec![(want, want, not); 4], "after {act:?}");
    }
}
