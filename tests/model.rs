//! Model-based property tests: random operation sequences run on the real [`Engine`] and on
//! the naive model of `common::model` (`BTreeMap`s and `BTreeSet`s, the documented semantics
//! written out by name), with every query of a random set compared (ids, counts, query text,
//! `explain`, the canonical text's round trip). The random queries are the templates of
//! `common::templates`; the set-algebra laws are in `model_laws.rs`.
//!
//! The operations cover customers (keys, dense ids, the top of `u32`, removal), tags (names
//! that need normalizing or are invalid, hierarchies, exclusive groups declared early and
//! late, renames and deletes, bulk loads) and numeric attributes (values from small to the
//! ends of `i64`, bulk loads with repeats, unset, derived names). On any `Err` the engine is
//! unchanged, checked with a snapshot of everything observable.
//!
//! Failure persistence is off so a failing run writes no files: a minimized failing case is
//! kept as a plain `#[test]` at the end of this file instead. `PROPTEST_CASES=n` runs longer.

mod common;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use audience::{Audience, CmpOp, CustomerId, Engine, Error, Query};
use common::model::{Model, Unknown, normalize, parent, same};
use common::observe::snapshot;
use common::templates::{APick, EXTREMES, Lit, Names, Qt, build, qt, resolve, value};
use common::{Pick, TestResult, compact, config, ids, pick};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ------------------------------------------------------------------ alphabets

/// Tag names handed to the engine as given (some need normalizing, some are invalid).
const NAMES: &[&str] = &[
    "vip",
    "  vip ",
    "sports",
    "sports/running",
    "sports/running/trail",
    "sports / running",
    "sport",
    "sports/x",
    "outdoor",
    "高消费",
    "🎉",
    "High Value",
    "and",
    "a(b)",
    "say \"hi\"",
    "back\\slash",
    "tier:gold",
    "tier:silver",
    "tier:bronze",
    "plan:free",
    "plan:pro",
    "color:red",
    "x/tier:gold",
    "misc/deep/er",
    // invalid: empty, empty level, control character, bad exclusive values (when declared)
    "",
    "a//b",
    "bell\u{7}",
    "tier:",
    "tier:gold/x",
    "tier:a:b",
];

/// Values of the exclusive groups declared at the start.
const GROUP_VALUES: &[&str] = &["tier:gold", "tier:silver", "tier:bronze", "plan:free", "plan:pro"];

/// Names no operation creates (unknown names are also drawn from `NAMES` not in the pool).
const NEVER: &[&str] = &["nope", "vpi", "sports/nope", "tier:platinum", "高消", "\"quoted\" nope"];

/// Exclusive groups declared later on (some invalid).
const GROUPS: &[&str] = &["tier", "plan", "color", " color ", "x/y", "a:b", ""];

/// Attribute names handed to the engine as given: plain, padded, Unicode, names that are also
/// tag names (`vip`, `高消费`), names that print quoted, and invalid or derived ones.
const ATTR_NAMES: &[&str] = &[
    "age",
    " age ",
    "balance",
    "score",
    "vip",
    "高消费",
    "年龄",
    "my attr",
    "a=b",
    "and",
    "x / y",
    // invalid: empty, control character, empty level
    "",
    "bell\u{7}",
    "a//b",
    // derived by `refresh`: refused
    "recency_days",
    " monetary ",
];

/// Attribute names no operation creates (near misses of known ones).
const ATTR_NEVER: &[&str] = &["agee", "nope", "balanc", "年", "my  attr"];

const KEYS: &[&str] =
    &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "高", "a b", ""];

/// Dense ids the operations use: small ones, and the top of `u32`.
fn raw_id() -> impl Strategy<Value = u32> {
    prop_oneof![10 => 0u32..24, 1 => Just(u32::MAX), 1 => Just(u32::MAX - 1)]
}

// ------------------------------------------------------------------ random queries

/// The normal forms of the valid names of `NAMES` and of `ATTR_NAMES`, computed once.
static NORMAL: LazyLock<(Vec<String>, Vec<String>)> = LazyLock::new(|| {
    let normal = |names: &[&str]| names.iter().filter_map(|n| normalize(n)).collect();
    (normal(NAMES), normal(ATTR_NAMES))
});

/// What query templates resolve against in the model's state.
fn names_of(m: &Model) -> Names {
    let mut unknown_tags: Vec<String> = NEVER.iter().map(|s| s.to_string()).collect();
    unknown_tags.extend(NORMAL.0.iter().filter(|n| !m.pool.contains(*n)).cloned());
    unknown_tags.sort();
    unknown_tags.dedup();
    let mut unknown_attrs: Vec<String> = ATTR_NEVER.iter().map(|s| s.to_string()).collect();
    unknown_attrs.extend(NORMAL.1.iter().filter(|n| !m.attr_names.contains(*n)).cloned());
    unknown_attrs.sort();
    unknown_attrs.dedup();
    let values = m.attrs.values().flat_map(|a| a.iter().map(|(n, v)| (n.as_str(), *v)));
    Names::new(m.pool.iter().cloned().collect(), unknown_tags, m.attr_names.clone(), unknown_attrs).with_values(values)
}

fn set_ids(s: &BTreeSet<u32>) -> Vec<u32> {
    s.iter().copied().collect()
}

/// Compares every random query against the model: ids, counts, text, explain, round trip.
fn check_queries(engine: &Engine, m: &Model, queries: &[Qt]) -> TestResult {
    let names = names_of(m);
    for t in queries {
        let r = resolve(t, &names);
        let q = build(&r);
        let text = q.to_string();
        match Query::parse(&text) {
            Ok(p) => prop_assert_eq!(&p, &q, "round trip of {:?} (from {:?})", text, r),
            Err(e) => prop_assert!(false, "canonical text {text:?} of {r:?} does not parse: {e}"),
        }
        let compact = compact(&text);
        prop_assert_eq!(Query::parse(&compact).ok(), Some(q.clone()), "compact text {:?}", compact);
        match m.eval(&r) {
            Ok(want) => {
                let want_ids = set_ids(&want);
                let n = want.len() as u64;
                let got = engine.select(&q);
                prop_assert!(got.is_ok(), "select {text:?}: {got:?}");
                prop_assert_eq!(ids(&got.unwrap()), want_ids.clone(), "select {}", text);
                prop_assert_eq!(engine.count(&q).ok(), Some(n), "count {}", text);
                prop_assert_eq!(engine.count(&text).ok(), Some(n), "count(text) {}", text);
                prop_assert_eq!(engine.query(&text).map(|a| ids(&a)).ok(), Some(want_ids), "query(text) {}", text);
                // Keywords are case-insensitive (no name of the alphabet contains these spellings).
                let lower = text.replace(" AND ", " and ").replace(" OR ", " Or ").replace("NOT ", "not ");
                prop_assert_eq!(engine.count(&lower).ok(), Some(n), "count(text) {}", lower);
                prop_assert_eq!(engine.count(&compact).ok(), Some(n), "count(text) {}", compact);
                prop_assert_eq!(engine.explain(&q).map(|e| e.count()).ok(), Some(n), "explain {}", text);
            }
            Err(unknown) => {
                for (how, got) in [
                    ("select", engine.select(&q).map(|a| a.len())),
                    ("count", engine.count(&q)),
                    ("count(text)", engine.count(&text)),
                ] {
                    match (&unknown, got) {
                        (Unknown::Tag(want), Err(Error::UnknownTag { name, .. })) => {
                            prop_assert_eq!(&name, want, "{} {:?}", how, text);
                            prop_assert!(!m.pool.contains(&name), "{how} {text:?}: {name:?} is known")
                        }
                        (Unknown::Attr(want), Err(Error::UnknownAttribute { name, .. })) => {
                            prop_assert_eq!(&name, want, "{} {:?}", how, text);
                            prop_assert!(!m.attr_names.contains(&name), "{how} {text:?}: {name:?} is known")
                        }
                        (_, other) => prop_assert!(false, "{how} {text:?}: expected {unknown:?}, got {other:?}"),
                    }
                }
                match engine.count(&text) {
                    Err(Error::UnknownTag { span, query, .. } | Error::UnknownAttribute { span, query, .. }) => {
                        prop_assert!(span.is_some() && query.as_deref() == Some(text.as_str()), "{text:?}")
                    }
                    other => prop_assert!(false, "{text:?}: {other:?}"),
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ engine state

/// Compares the engine's whole state with the model's.
fn check_state(e: &Engine, m: &Model) -> TestResult {
    prop_assert_eq!(e.customers().to_ids(), set_ids(&m.live));
    prop_assert_eq!(e.customer_count(), m.live.len() as u64);
    for (&c, want) in &m.tags {
        let got = e.tags_of(CustomerId(c));
        prop_assert!(got.is_ok(), "tags_of #{c}: {got:?}");
        let mut got = got.unwrap();
        got.sort_unstable();
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        prop_assert_eq!(got, want, "tags of #{}", c);
        let key = m.keys.iter().find(|(_, id)| **id == c).map(|(k, _)| k.as_str());
        prop_assert_eq!(e.key_of(CustomerId(c)), key, "key of #{}", c);
    }
    for key in KEYS {
        prop_assert_eq!(e.id_of(key).map(u32::from), m.keys.get(*key).copied(), "id_of {:?}", key);
    }
    for c in (0..26).chain([u32::MAX - 1, u32::MAX]) {
        prop_assert_eq!(e.is_customer(CustomerId(c)), m.live.contains(&c), "is_customer #{}", c);
        if !m.live.contains(&c) {
            let got = e.tags_of(CustomerId(c));
            prop_assert!(matches!(got, Err(Error::UnknownCustomer { .. })), "tags_of #{}: {:?}", c, got);
        }
    }
    let names: BTreeSet<String> = e.tags().map(|t| t.name.to_owned()).collect();
    prop_assert_eq!(&names, &m.pool, "tag pool");
    for t in e.tags() {
        let exact = m.tags.values().filter(|tags| tags.contains(t.name)).count() as u64;
        prop_assert_eq!(t.len, exact, "len of {:?}", t.name);
        prop_assert_eq!(t.group, m.group_of(t.name), "group of {:?}", t.name);
        prop_assert_eq!(t.parent, parent(t.name), "parent of {:?}", t.name);
        let children = m.pool.iter().filter(|n| parent(n) == Some(t.name)).count();
        prop_assert_eq!(t.children, children, "children of {:?}", t.name);
        prop_assert_eq!(e.tag_count(t.name).ok(), Some(m.matches(t.name).len() as u64), "tag_count {:?}", t.name);
        prop_assert_eq!(e.tag_id(t.name), Some(t.id));
    }
    let groups: Vec<&str> = e.exclusive_groups().collect();
    prop_assert_eq!(groups, m.groups.iter().map(String::as_str).collect::<Vec<_>>());
    let s = e.stats();
    prop_assert_eq!(s.keyed_customers, m.keys.len());
    prop_assert_eq!(s.tags, m.pool.len());
    prop_assert_eq!(s.assignments, m.tags.values().map(|t| t.len() as u64).sum::<u64>());
    check_attributes(e, m)
}

/// Compares the attributes: the listing (creation order, sizes) and every live customer's
/// values (`attrs_of`, in creation order).
fn check_attributes(e: &Engine, m: &Model) -> TestResult {
    let listed: Vec<(&str, u64)> = e.attributes().collect();
    let want: Vec<(&str, u64)> = m.attr_names.iter().map(|n| (n.as_str(), m.attr_len(n))).collect();
    prop_assert_eq!(listed, want, "attributes()");
    prop_assert_eq!(e.stats().attributes, m.attr_names.len());
    for &c in &m.live {
        let want: Vec<(&str, i64)> =
            m.attr_names.iter().filter_map(|n| Some((n.as_str(), m.value_of(c, n)?))).collect();
        prop_assert_eq!(e.attrs_of(CustomerId(c)), Ok(want), "attrs_of #{}", c);
    }
    Ok(())
}

/// `attr()` of every live customer and known attribute, unknown names, and customers that are
/// not live.
fn check_attr_reads(e: &Engine, m: &Model) -> TestResult {
    for &c in &m.live {
        for n in &m.attr_names {
            prop_assert_eq!(e.attr(CustomerId(c), n), Ok(m.value_of(c, n)), "attr(#{}, {:?})", c, n);
            let padded = format!(" {n}\u{3000}");
            prop_assert_eq!(e.attr(CustomerId(c), &padded), Ok(m.value_of(c, n)), "attr(#{}, {:?})", c, padded);
        }
        for n in ATTR_NEVER {
            let got = e.attr(CustomerId(c), n);
            prop_assert!(
                matches!(&got, Err(Error::UnknownAttribute { name, .. }) if name == n),
                "attr(#{}, {:?}): {:?}",
                c,
                n,
                got
            );
        }
    }
    for c in (0..26).chain([u32::MAX - 1, u32::MAX]).filter(|c| !m.live.contains(c)) {
        let id = CustomerId(c);
        prop_assert_eq!(e.attrs_of(id), Err(Error::UnknownCustomer { id }));
        if let Some(n) = m.attr_names.first() {
            prop_assert_eq!(e.attr(id, n), Err(Error::UnknownCustomer { id }));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ operations

#[derive(Clone, Debug)]
enum Cust {
    /// A live customer (any id when there is none).
    Live(Pick),
    Raw(u32),
}

#[derive(Clone, Debug)]
enum Name {
    /// A name of the alphabet, as given.
    Alpha(Pick),
    /// A name in the pool now (a name of the alphabet when the pool is empty).
    Pool(Pick),
}

#[derive(Clone, Debug)]
enum Aud {
    Everyone,
    Ids(Vec<Cust>),
    Query(Qt),
}

#[derive(Clone, Debug)]
enum Op {
    AddKey(Pick),
    AddDense(u32),
    Tag(Cust, Name),
    Exclusive(Cust, Pick),
    Untag(Cust, Name),
    Remove(Cust),
    Rename(Name, Name),
    Delete(Name),
    TagPairs(Vec<(Cust, Name)>),
    TagAll(Aud, Name),
    UntagAll(Aud, Name),
    DeclareGroup(Pick),
    SetAttr(Cust, AName, i64),
    UnsetAttr(Cust, AName),
    /// Triples, then repeats: values given again for the triple at `i % len` (last wins).
    SetAttrs(Vec<(Cust, AName, i64)>, Vec<(usize, i64)>),
    DefineAttr(AName),
    /// `Engine::optimize`: bitmaps (tags and attribute slices) become run containers where smaller.
    Optimize,
    Check,
}

#[derive(Clone, Debug)]
enum AName {
    /// A name of `ATTR_NAMES`, as given.
    Alpha(Pick),
    /// A known attribute (a name of `ATTR_NAMES` when none is known).
    Known(Pick),
}

fn aname() -> impl Strategy<Value = AName> {
    prop_oneof![3 => pick().prop_map(AName::Alpha), 2 => pick().prop_map(AName::Known)]
}

fn attr_of(a: &AName, m: &Model) -> String {
    match a {
        AName::Known(i) if !m.attr_names.is_empty() => m.attr_names[i.index(m.attr_names.len())].clone(),
        AName::Known(i) | AName::Alpha(i) => ATTR_NAMES[i.index(ATTR_NAMES.len())].to_owned(),
    }
}

fn cust() -> impl Strategy<Value = Cust> {
    prop_oneof![5 => pick().prop_map(Cust::Live), 1 => raw_id().prop_map(Cust::Raw)]
}

fn name(pool_weight: u32) -> impl Strategy<Value = Name> {
    prop_oneof![3 => pick().prop_map(Name::Alpha), pool_weight => pick().prop_map(Name::Pool)]
}

fn aud() -> impl Strategy<Value = Aud> {
    prop_oneof![
        1 => Just(Aud::Everyone),
        2 => prop::collection::vec(cust(), 0..6).prop_map(Aud::Ids),
        2 => qt(0, 6).prop_map(Aud::Query),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => pick().prop_map(Op::AddKey),
        4 => raw_id().prop_map(Op::AddDense),
        10 => (cust(), name(1)).prop_map(|(c, n)| Op::Tag(c, n)),
        4 => (cust(), pick()).prop_map(|(c, i)| Op::Exclusive(c, i)),
        3 => (cust(), name(4)).prop_map(|(c, n)| Op::Untag(c, n)),
        1 => cust().prop_map(Op::Remove),
        2 => (name(4), name(1)).prop_map(|(a, b)| Op::Rename(a, b)),
        2 => name(4).prop_map(Op::Delete),
        2 => prop::collection::vec((cust(), name(2)), 0..8).prop_map(Op::TagPairs),
        2 => (aud(), name(2)).prop_map(|(a, n)| Op::TagAll(a, n)),
        1 => (aud(), name(4)).prop_map(|(a, n)| Op::UntagAll(a, n)),
        1 => pick().prop_map(Op::DeclareGroup),
        6 => (cust(), aname(), value()).prop_map(|(c, a, v)| Op::SetAttr(c, a, v)),
        2 => (cust(), aname()).prop_map(|(c, a)| Op::UnsetAttr(c, a)),
        2 => set_attrs_op(8, 3),
        1 => aname().prop_map(Op::DefineAttr),
        1 => Just(Op::Optimize),
        2 => Just(Op::Check),
    ]
}

/// A bulk load of fewer than `triples` triples and `repeats` repeats.
fn set_attrs_op(triples: usize, repeats: usize) -> impl Strategy<Value = Op> {
    let triples = prop::collection::vec((cust(), aname(), value()), 0..triples);
    (triples, prop::collection::vec((any::<usize>(), value()), 0..repeats)).prop_map(|(t, r)| Op::SetAttrs(t, r))
}

fn cust_id(c: &Cust, m: &Model) -> u32 {
    match c {
        Cust::Live(i) if !m.live.is_empty() => *m.live.iter().nth(i.index(m.live.len())).expect("in range"),
        Cust::Live(i) => i.index(8) as u32,
        Cust::Raw(n) => *n,
    }
}

fn name_of(n: &Name, m: &Model) -> String {
    match n {
        Name::Pool(i) if !m.pool.is_empty() => m.pool.iter().nth(i.index(m.pool.len())).expect("in range").clone(),
        Name::Pool(i) | Name::Alpha(i) => NAMES[i.index(NAMES.len())].to_owned(),
    }
}

fn audience_of(a: &Aud, e: &Engine, m: &Model) -> Audience {
    match a {
        Aud::Everyone => e.customers(),
        Aud::Ids(cs) => cs.iter().map(|c| CustomerId(cust_id(c, m))).collect(),
        Aud::Query(q) => e.select(&build(&resolve(q, &names_of(m)))).unwrap_or_default(),
    }
}

/// Applies `op` to both; returns whether the model predicted an error.
fn apply(op: &Op, e: &mut Engine, m: &mut Model, queries: &[Qt]) -> Result<bool, TestCaseError> {
    let failed: bool;
    match op {
        Op::AddKey(i) => {
            let key = KEYS[i.index(KEYS.len())];
            let want = m.customer(key);
            failed = want.is_err();
            same(format_args!("customer({key:?})"), e.customer(key).map(u32::from), want)?;
        }
        Op::AddDense(n) => {
            let want = m.customer_id(*n).map(CustomerId);
            failed = want.is_err();
            same(format_args!("customer_id({n})"), e.customer_id(*n), want)?;
        }
        Op::Tag(c, n) => {
            let (c, n) = (cust_id(c, m), name_of(n, m));
            let want = m.tag(c, &n);
            failed = want.is_err();
            same(format_args!("tag(#{c}, {n:?})"), e.tag(CustomerId(c), &n), want)?;
        }
        Op::Exclusive(c, i) => {
            let (c, n) = (cust_id(c, m), GROUP_VALUES[i.index(GROUP_VALUES.len())]);
            let want = m.tag(c, n);
            failed = want.is_err();
            same(format_args!("tag(#{c}, {n:?})"), e.tag(CustomerId(c), n), want)?;
        }
        Op::Untag(c, n) => {
            let (c, n) = (cust_id(c, m), name_of(n, m));
            let want = m.untag(c, &n);
            failed = want.is_err();
            same(format_args!("untag(#{c}, {n:?})"), e.untag(CustomerId(c), &n), want)?;
        }
        Op::Remove(c) => {
            let c = cust_id(c, m);
            let want = m.remove(c);
            failed = want.is_err();
            same(format_args!("remove_customer(#{c})"), e.remove_customer(CustomerId(c)), want)?;
        }
        Op::Rename(a, b) => {
            let (a, b) = (name_of(a, m), name_of(b, m));
            let want = m.rename_tag(&a, &b);
            failed = want.is_err();
            same(format_args!("rename_tag({a:?}, {b:?})"), e.rename_tag(&a, &b), want)?;
        }
        Op::Delete(n) => {
            let n = name_of(n, m);
            let want = m.delete_tag(&n);
            failed = want.is_err();
            same(format_args!("delete_tag({n:?})"), e.delete_tag(&n), want)?;
        }
        Op::TagPairs(pairs) => {
            let pairs: Vec<(u32, String)> = pairs.iter().map(|(c, n)| (cust_id(c, m), name_of(n, m))).collect();
            let want = m.tag_pairs(&pairs);
            failed = want.is_err();
            let got = e.tag_pairs(pairs.iter().map(|(c, n)| (CustomerId(*c), n.as_str())));
            same(format_args!("tag_pairs({pairs:?})"), got, want)?;
        }
        Op::TagAll(a, n) => {
            let (a, n) = (audience_of(a, e, m), name_of(n, m));
            let set: BTreeSet<u32> = a.to_ids().into_iter().collect();
            let want = m.tag_all(&set, &n);
            failed = want.is_err();
            same(format_args!("tag_all({set:?}, {n:?})"), e.tag_all(&a, &n), want)?;
        }
        Op::UntagAll(a, n) => {
            let (a, n) = (audience_of(a, e, m), name_of(n, m));
            let set: BTreeSet<u32> = a.to_ids().into_iter().collect();
            let want = m.untag_all(&set, &n);
            failed = want.is_err();
            same(format_args!("untag_all({set:?}, {n:?})"), e.untag_all(&a, &n), want)?;
        }
        Op::DeclareGroup(i) => {
            let g = GROUPS[i.index(GROUPS.len())];
            let want = m.define_exclusive_group(g);
            failed = want.is_err();
            same(format_args!("define_exclusive_group({g:?})"), e.define_exclusive_group(g), want)?;
        }
        Op::SetAttr(c, a, v) => {
            let (c, a) = (cust_id(c, m), attr_of(a, m));
            let want = m.set_attr(c, &a, *v);
            failed = want.is_err();
            same(format_args!("set_attr(#{c}, {a:?}, {v})"), e.set_attr(CustomerId(c), &a, *v), want)?;
        }
        Op::UnsetAttr(c, a) => {
            let (c, a) = (cust_id(c, m), attr_of(a, m));
            let want = m.unset_attr(c, &a);
            failed = want.is_err();
            same(format_args!("unset_attr(#{c}, {a:?})"), e.unset_attr(CustomerId(c), &a), want)?;
        }
        Op::SetAttrs(triples, repeats) => {
            let mut triples: Vec<(u32, String, i64)> =
                triples.iter().map(|(c, a, v)| (cust_id(c, m), attr_of(a, m), *v)).collect();
            if !triples.is_empty() {
                for (i, v) in repeats {
                    let (c, a, _) = triples[i % triples.len()].clone();
                    triples.push((c, a, *v));
                }
            }
            let want = m.set_attrs(&triples);
            failed = want.is_err();
            let got = e.set_attrs(triples.iter().map(|(c, a, v)| (CustomerId(*c), a.as_str(), *v)));
            same(format_args!("set_attrs({triples:?})"), got, want)?;
        }
        Op::DefineAttr(a) => {
            let a = attr_of(a, m);
            let want = m.define_attr(&a);
            failed = want.is_err();
            same(format_args!("define_attr({a:?})"), e.define_attr(&a), want)?;
        }
        Op::Optimize => {
            failed = false;
            e.optimize();
        }
        Op::Check => {
            failed = false;
            check_attr_reads(e, m)?;
            check_queries(e, m, queries)?;
        }
    }
    Ok(failed)
}

#[derive(Clone, Debug)]
struct Case {
    /// Declare `plan` exclusive too (`tier` always is).
    plan_group: bool,
    ops: Vec<Op>,
    queries: Vec<Qt>,
}

fn case() -> impl Strategy<Value = Case> {
    let query = prop_oneof![3 => qt(0, 6), 1 => qt(1, 6)];
    (any::<bool>(), prop::collection::vec(op(), 1..64), prop::collection::vec(query, 1..12))
        .prop_map(|(plan_group, ops, queries)| Case { plan_group, ops, queries })
}

/// Mostly attribute operations, on customers 0..12 registered up front.
fn attr_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (cust(), aname(), value()).prop_map(|(c, a, v)| Op::SetAttr(c, a, v)),
        3 => (cust(), aname()).prop_map(|(c, a)| Op::UnsetAttr(c, a)),
        4 => set_attrs_op(10, 4),
        1 => aname().prop_map(Op::DefineAttr),
        3 => (cust(), name(1)).prop_map(|(c, n)| Op::Tag(c, n)),
        1 => cust().prop_map(Op::Remove),
        1 => raw_id().prop_map(Op::AddDense),
        1 => pick().prop_map(Op::AddKey),
        1 => Just(Op::Optimize),
        3 => Just(Op::Check),
    ]
}

fn attr_case() -> impl Strategy<Value = Case> {
    let query = prop_oneof![4 => qt(0, 32), 1 => qt(1, 32)];
    (prop::collection::vec(attr_op(), 1..48), prop::collection::vec(query, 1..10)).prop_map(|(ops, queries)| {
        let mut all: Vec<Op> = (0..12).map(Op::AddDense).collect();
        all.extend(ops);
        Case { plan_group: false, ops: all, queries }
    })
}

/// Every query is compared after this many operations (and at `Op::Check` and the end).
const CHECK_EVERY: usize = 6;

fn run(case: &Case) -> TestResult {
    let mut e = Engine::new();
    let mut m = Model::default();
    let groups: &[&str] = if case.plan_group { &["tier", "plan"] } else { &["tier"] };
    for g in groups {
        prop_assert_eq!(e.define_exclusive_group(g), Ok(()));
        m.groups.push(g.to_string());
    }
    check_queries(&e, &m, &case.queries)?;
    for (i, op) in case.ops.iter().enumerate() {
        let before = snapshot(&e);
        let failed = apply(op, &mut e, &mut m, &case.queries)?;
        if failed {
            prop_assert_eq!(&snapshot(&e), &before, "{:?} failed but changed the engine", op);
        }
        check_state(&e, &m)?;
        if i % CHECK_EVERY == CHECK_EVERY - 1 {
            check_queries(&e, &m, &case.queries)?;
        }
    }
    check_attr_reads(&e, &m)?;
    check_queries(&e, &m, &case.queries)
}

proptest! {
    #![proptest_config(config(512))]

    /// Random operation sequences: engine and model agree after every operation (whole state)
    /// and on every random query at check points and at the end.
    #[test]
    fn engine_matches_model(case in case()) {
        run(&case)?;
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// The same with mostly attribute operations (values from small to the ends of `i64`,
    /// bulk loads with repeats, unset, removal) and queries mostly of comparisons.
    #[test]
    fn attributes_match_model(case in attr_case()) {
        run(&case)?;
    }
}

// ------------------------------------------------------------------ minimized cases

/// Found by `engine_matches_model`: renaming `sports/running` into its own subtree while a
/// customer carries both `sports/running` and `sports/running/trail`. Every name moves at once,
/// so the customer keeps two tags (the old `trail` does not swallow the renamed root).
#[test]
fn rename_into_own_subtree_keeps_every_assignment() {
    let mut e = Engine::new();
    let c = e.customer("alice").unwrap();
    e.tag(c, "sports/running").unwrap();
    e.tag(c, "sports/running/trail").unwrap();
    e.rename_tag("sports/running", "sports/running/trail").unwrap();
    let mut tags = e.tags_of(c).unwrap();
    tags.sort_unstable();
    assert_eq!(tags, ["sports/running/trail", "sports/running/trail/trail"]);
    let mut pool: Vec<&str> = e.tags().map(|t| t.name).collect();
    pool.sort_unstable();
    assert_eq!(pool, ["sports", "sports/running", "sports/running/trail", "sports/running/trail/trail"]);
    assert_eq!(e.count("sports/running").unwrap(), 1, "the recreated ancestor matches its subtree");
    assert_eq!(e.tag_info("sports/running").unwrap().len, 0, "the recreated ancestor has no members");

    // The same through the model harness.
    let ops = vec![
        Op::AddKey(Pick(0)),
        Op::Tag(Cust::Live(Pick(0)), Name::Alpha(index_of("sports/running"))),
        Op::Tag(Cust::Live(Pick(0)), Name::Alpha(index_of("sports/running/trail"))),
        Op::Rename(Name::Alpha(index_of("sports/running")), Name::Alpha(index_of("sports/running/trail"))),
    ];
    let queries = vec![Qt::Known(Pick(0)), Qt::Not(Box::new(Qt::Known(Pick(usize::MAX / 2))))];
    run(&Case { plan_group: false, ops, queries }).unwrap();
}

/// The `Pick` of `name` in `NAMES`.
fn index_of(name: &str) -> Pick {
    Pick::nth(NAMES.iter().position(|n| *n == name).expect("in the alphabet"), NAMES.len())
}

/// One attribute's values go from small to very negative to the ends of `i64` (the index moves
/// its base down, then widens to 64 bits), through a bulk load with repeats, an unset, and a
/// removal with the id registered again; customer 5 never has a value. After every step, every
/// operator is checked with literals at and around every value and at the ends of `i64`.
#[test]
fn attribute_values_from_small_to_very_negative_to_very_positive() {
    let age = AName::Alpha(Pick::nth(ATTR_NAMES.iter().position(|n| *n == "age").unwrap(), ATTR_NAMES.len()));
    let set = |c: u32, v: i64| Op::SetAttr(Cust::Raw(c), age.clone(), v);
    let mut ops: Vec<Op> = (0..6).map(Op::AddDense).collect();
    let bulk = vec![(Cust::Raw(0), age.clone(), 3), (Cust::Raw(3), age.clone(), i64::MAX - 1)];
    for step in [
        set(0, 5),
        set(1, 7),
        set(2, 5),
        set(3, -(1 << 40)),
        set(1, i64::MIN),
        set(4, i64::MAX),
        set(2, i64::MIN + 1),
        set(0, 0),
        // last value wins: customer 0 ends at -4, customer 3 at 0
        Op::SetAttrs(bulk, vec![(0, -4), (1, 0)]),
        Op::UnsetAttr(Cust::Raw(4), age.clone()),
        Op::Remove(Cust::Raw(1)),
        Op::AddDense(1),
        set(4, 1),
    ] {
        ops.push(step);
        ops.push(Op::Check);
    }
    let known = || APick::Known(Pick(0));
    let mut queries = Vec::new();
    for op in CmpOp::ALL {
        for d in -3..=3 {
            for k in 0..6 {
                queries.push(Qt::Cmp(known(), op, Lit::Near(Pick::nth(k, 6), d)));
            }
        }
        for k in 0..EXTREMES.len() {
            let x = Qt::Cmp(known(), op, Lit::Extreme(Pick::nth(k, EXTREMES.len())));
            queries.push(Qt::Not(Box::new(x.clone())));
            queries.push(x);
        }
    }
    run(&Case { plan_group: false, ops, queries }).unwrap();
}
