//! Model-based property tests: random operation sequences run on the real [`Engine`] and on
//! the naive model of `common::model` (`BTreeMap`s and `BTreeSet`s, the documented semantics
//! written out by name), with every query of a random set compared (ids, counts, query text,
//! `explain`, the canonical text's round trip), plus set-algebra laws stated through engine
//! queries and `Audience` algebra.
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use audience::{Audience, CmpOp, CustomerId, Engine, Error, Query};
use common::model::{Model, Q, Unknown, holds, normalize, parent, same};
use common::observe::snapshot;
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

/// The ends of `i64` and the values around zero.
const EXTREMES: &[i64] = &[i64::MIN, i64::MIN + 1, i64::MIN + 2, -1, 0, 1, i64::MAX - 2, i64::MAX - 1, i64::MAX];

const KEYS: &[&str] =
    &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "高", "a b", ""];

/// Attribute values: mostly small (so equal values and boundaries are common), the ends of
/// `i64`, large powers of two, anything (so an index goes from small to very negative to very
/// positive and must move its base).
fn value() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -20i64..=20,
        2 => prop::sample::select(EXTREMES),
        1 => prop::sample::select(vec![-(1i64 << 40), 1 << 40, -(1 << 62), 1 << 62, i64::MIN / 2, i64::MAX / 2]),
        2 => any::<i64>(),
    ]
}

/// Dense ids the operations use: small ones, and the top of `u32`.
fn raw_id() -> impl Strategy<Value = u32> {
    prop_oneof![10 => 0u32..24, 1 => Just(u32::MAX), 1 => Just(u32::MAX - 1)]
}

// ------------------------------------------------------------------ random queries

/// A query template: leaves pick names when the query is checked, against the pool as it is.
#[derive(Clone, Debug)]
enum Qt {
    Known(Pick),
    /// A known name written with extra white space (the builder trims it).
    KnownPadded(Pick),
    Unknown(Pick),
    Everyone,
    Nobody,
    /// An attribute comparison.
    Cmp(APick, CmpOp, Lit),
    Not(Box<Qt>),
    And(Vec<Qt>),
    Or(Vec<Qt>),
    AndNot(Box<Qt>, Box<Qt>),
}

/// The attribute of a comparison.
#[derive(Clone, Debug)]
enum APick {
    /// A known attribute (an unknown one when none is known).
    Known(Pick),
    /// A known attribute written with extra white space (the builder trims it).
    Padded(Pick),
    Unknown(Pick),
}

/// The literal of a comparison.
#[derive(Clone, Debug)]
enum Lit {
    /// A value the attribute has now (any attribute's when it has none), plus -3..=3: equal
    /// values and the boundaries on either side are hit.
    Near(Pick, i64),
    /// One of `EXTREMES`.
    Extreme(Pick),
    Any(i64),
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        6 => (pick(), -3i64..=3).prop_map(|(p, d)| Lit::Near(p, d)),
        2 => pick().prop_map(Lit::Extreme),
        1 => any::<i64>().prop_map(Lit::Any),
    ]
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(CmpOp::ALL.to_vec())
}

/// Query templates. Leaves: tags weigh 14, `*` and `NOT *` 1 each, unknown tags `unknown_weight`,
/// comparisons `cmp_weight`.
fn qt(unknown_weight: u32, cmp_weight: u32) -> impl Strategy<Value = Qt> {
    let attr = prop_oneof![
        10 => pick().prop_map(APick::Known),
        1 => pick().prop_map(APick::Padded),
        unknown_weight => pick().prop_map(APick::Unknown),
    ];
    let leaf = prop_oneof![
        12 => pick().prop_map(Qt::Known),
        2 => pick().prop_map(Qt::KnownPadded),
        unknown_weight => pick().prop_map(Qt::Unknown),
        1 => Just(Qt::Everyone),
        1 => Just(Qt::Nobody),
        cmp_weight => (attr, cmp_op(), lit()).prop_map(|(a, op, l)| Qt::Cmp(a, op, l)),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            2 => inner.clone().prop_map(|x| Qt::Not(Box::new(x))),
            3 => prop::collection::vec(inner.clone(), 0..4).prop_map(Qt::And),
            3 => prop::collection::vec(inner.clone(), 0..4).prop_map(Qt::Or),
            2 => (inner.clone(), inner).prop_map(|(a, b)| Qt::AndNot(Box::new(a), Box::new(b))),
        ]
    })
}

/// What query templates resolve against: the names known now, valid unknown ones, and the
/// attributes' values.
struct Names {
    tags: Vec<String>,
    unknown_tags: Vec<String>,
    attrs: Vec<String>,
    unknown_attrs: Vec<String>,
    /// Each attribute's values, ascending and distinct.
    values: BTreeMap<String, Vec<i64>>,
    /// Every attribute's values, ascending and distinct.
    all_values: Vec<i64>,
}

impl Names {
    fn new(tags: Vec<String>, unknown_tags: Vec<String>, attrs: Vec<String>, unknown_attrs: Vec<String>) -> Names {
        Names { tags, unknown_tags, attrs, unknown_attrs, values: BTreeMap::new(), all_values: Vec::new() }
    }

    /// Records the values (any order, repeats allowed).
    fn with_values<'a>(mut self, values: impl IntoIterator<Item = (&'a str, i64)>) -> Names {
        for (name, v) in values {
            self.values.entry(name.to_owned()).or_default().push(v);
            self.all_values.push(v);
        }
        for vs in self.values.values_mut().chain([&mut self.all_values]) {
            vs.sort_unstable();
            vs.dedup();
        }
        self
    }
}

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

fn resolve(q: &Qt, n: &Names) -> Q {
    let (known, unknown) = (&n.tags, &n.unknown_tags);
    match q {
        Qt::Known(i) if !known.is_empty() => Q::Tag(known[i.index(known.len())].clone()),
        Qt::KnownPadded(i) if !known.is_empty() => {
            Q::Tag(format!(" {} \t", known[i.index(known.len())].replace('/', " / ")))
        }
        Qt::Known(i) | Qt::KnownPadded(i) | Qt::Unknown(i) => Q::Tag(unknown[i.index(unknown.len())].clone()),
        Qt::Cmp(a, op, lit) => {
            let (known, unknown) = (&n.attrs, &n.unknown_attrs);
            let name = match a {
                APick::Known(i) if !known.is_empty() => known[i.index(known.len())].clone(),
                APick::Padded(i) if !known.is_empty() => format!("\u{a0}{} ", known[i.index(known.len())]),
                APick::Known(i) | APick::Padded(i) | APick::Unknown(i) => unknown[i.index(unknown.len())].clone(),
            };
            let v = match lit {
                Lit::Near(i, d) => {
                    let norm = normalize(&name).expect("queries use valid names");
                    let vs = n.values.get(&norm).filter(|vs| !vs.is_empty()).unwrap_or(&n.all_values);
                    let base = if vs.is_empty() { 0 } else { vs[i.index(vs.len())] };
                    base.saturating_add(*d)
                }
                Lit::Extreme(i) => EXTREMES[i.index(EXTREMES.len())],
                Lit::Any(v) => *v,
            };
            Q::Cmp(name, *op, v)
        }
        Qt::Everyone => Q::Everyone,
        Qt::Nobody => Q::Nobody,
        Qt::Not(x) => Q::Not(Box::new(resolve(x, n))),
        Qt::And(xs) => Q::And(xs.iter().map(|x| resolve(x, n)).collect()),
        Qt::Or(xs) => Q::Or(xs.iter().map(|x| resolve(x, n)).collect()),
        Qt::AndNot(a, b) => Q::AndNot(Box::new(resolve(a, n)), Box::new(resolve(b, n))),
    }
}

/// Builds the query with the typed builder, using its several spellings.
fn build(r: &Q) -> Query {
    match r {
        Q::Tag(n) => Query::tag(n),
        Q::Cmp(n, op, v) => Query::compare(n, *op, *v),
        Q::Everyone => Query::everyone(),
        Q::Nobody => Query::nobody(),
        Q::Not(x) if matches!(**x, Q::Tag(_)) => !build(x),
        Q::Not(x) => build(x).not(),
        Q::And(xs) => match xs.as_slice() {
            [a, b] => build(a).and(build(b)),
            [a, b, c] => build(a) & build(b) & build(c),
            _ => Query::all(xs.iter().map(build)),
        },
        Q::Or(xs) => match xs.as_slice() {
            [a, b] => build(a).or(build(b)),
            [a, b, c] => build(a) | build(b) | build(c),
            _ => Query::any(xs.iter().map(build)),
        },
        Q::AndNot(a, b) => build(a).and_not(build(b)),
    }
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

// ------------------------------------------------------------------ set-algebra laws

/// Names of the law engine (hierarchical, Unicode, quoted).
const LAW_NAMES: &[&str] = &["a", "a/b", "a/b/c", "d", "e", "高消费", "High Value"];

/// Attributes of the law engine: `a` is a tag name too.
const LAW_ATTRS: &[&str] = &["age", "a"];

#[derive(Clone, Debug)]
struct LawCase {
    assignments: Vec<(u32, Pick)>,
    /// Attribute values (customer, attribute, value); customers without one stay without.
    values: Vec<(u32, Pick, i64)>,
    removed: Vec<u32>,
    a: Qt,
    b: Qt,
    c: Qt,
    /// A comparison for the laws of missing values.
    cmp: (Pick, CmpOp, Lit),
}

fn law_case() -> impl Strategy<Value = LawCase> {
    (
        prop::collection::vec((0u32..20, pick()), 0..60),
        prop::collection::vec((0u32..20, pick(), value()), 0..24),
        prop::collection::vec(0u32..20, 0..4),
        (qt(0, 12), qt(0, 12), qt(0, 12)),
        (pick(), cmp_op(), lit()),
    )
        .prop_map(|(assignments, values, removed, (a, b, c), cmp)| LawCase {
            assignments,
            values,
            removed,
            a,
            b,
            c,
            cmp,
        })
}

/// The law engine: customers 0..20 (some removed), tags from `LAW_NAMES`, attributes from
/// `LAW_ATTRS`. Every name is created, so every query is valid.
fn law_engine(case: &LawCase) -> Engine {
    let mut e = Engine::new();
    for c in 0..20 {
        e.customer_id(c).expect("no keyed customers here");
    }
    for n in LAW_NAMES {
        e.ensure_tag(n).expect("valid name");
    }
    for n in LAW_ATTRS {
        e.define_attr(n).expect("valid name");
    }
    let pairs = case.assignments.iter().map(|(c, i)| (CustomerId(*c), LAW_NAMES[i.index(LAW_NAMES.len())]));
    e.tag_pairs(pairs).expect("live customers, valid names");
    let values = case.values.iter().map(|(c, i, v)| (CustomerId(*c), LAW_ATTRS[i.index(LAW_ATTRS.len())], *v));
    e.set_attrs(values).expect("live customers, valid names");
    for &c in &case.removed {
        let _ = e.remove_customer(CustomerId(c));
    }
    e
}

/// The names and values of the law engine, for resolving query templates.
fn law_names(e: &Engine) -> Names {
    let known: Vec<String> = LAW_NAMES.iter().map(|s| s.to_string()).collect();
    let attrs: Vec<String> = LAW_ATTRS.iter().map(|s| s.to_string()).collect();
    let values: Vec<(&str, i64)> = e.customers().iter().flat_map(|c| e.attrs_of(c).unwrap_or_default()).collect();
    Names::new(known.clone(), known, attrs.clone(), attrs).with_values(values)
}

/// The operator that holds exactly where `op` does not, for customers with a value.
fn negated(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// Laws of missing values: a comparison and its negated operator split the customers that
/// have a value; `NOT` of a comparison also takes in the customers without one; the widest
/// comparisons are exactly the customers with a value, the empty ones nobody.
fn check_missing_value_laws(e: &Engine, case: &LawCase, names: &Names) -> TestResult {
    let (pick, op, lit) = &case.cmp;
    let Q::Cmp(name, op, v) = resolve(&Qt::Cmp(APick::Known(*pick), *op, lit.clone()), names) else {
        unreachable!("a comparison resolves to a comparison")
    };
    let x = Query::compare(&name, op, v);
    let not_x = Query::compare(&name, negated(op), v);
    let has_value = eval(e, &Query::compare(&name, CmpOp::Ge, i64::MIN))?;
    let with_value: Audience = e.customers().iter().filter(|&c| e.attr(c, &name).ok().flatten().is_some()).collect();
    prop_assert_eq!(&has_value, &with_value, "{} >= i64::MIN is every customer with a value", name);
    prop_assert_eq!(eval(e, &Query::compare(&name, CmpOp::Le, i64::MAX))?, with_value.clone());
    prop_assert_eq!(eval(e, &Query::compare(&name, CmpOp::Lt, i64::MIN))?, Audience::new());
    prop_assert_eq!(eval(e, &Query::compare(&name, CmpOp::Gt, i64::MAX))?, Audience::new());
    let listed = e.attributes().find(|(n, _)| *n == name).map(|(_, len)| len);
    prop_assert_eq!(listed, Some(with_value.len()), "attributes() counts {:?}", name);

    let (sx, snot) = (eval(e, &x)?, eval(e, &not_x)?);
    prop_assert_eq!(&sx & &snot, Audience::new(), "{} and {} are disjoint", x, not_x);
    prop_assert_eq!(&sx | &snot, with_value.clone(), "{} and {} cover the customers with a value", x, not_x);
    let complement = eval(e, &x.clone().not())?;
    prop_assert_eq!(&complement, &(&e.customers() - &sx), "NOT {}", x);
    prop_assert_eq!(
        &complement - &snot,
        &e.customers() - &with_value,
        "NOT {} minus {} is the customers without a value",
        x,
        not_x
    );
    for c in e.customers().iter() {
        let value = e.attr(c, &name).ok().flatten();
        prop_assert_eq!(sx.contains(c), value.is_some_and(|x| holds(op, x, v)), "#{} ({:?}) in {}", c, value, x);
    }
    Ok(())
}

/// The audience of `q`, with its count, text count and explain count checked against it.
fn eval(e: &Engine, q: &Query) -> Result<Audience, TestCaseError> {
    let a = e.select(q);
    prop_assert!(a.is_ok(), "{q:?}: {a:?}");
    let a = a.unwrap();
    prop_assert_eq!(e.count(q).ok(), Some(a.len()), "count {:?}", q);
    prop_assert_eq!(e.count(&q.to_string()).ok(), Some(a.len()), "count(text) {:?}", q);
    prop_assert_eq!(e.explain(q).map(|x| x.count()).ok(), Some(a.len()), "explain {:?}", q);
    prop_assert!(a.iter().all(|c| e.is_customer(c)), "{q:?} matched a customer that is not live");
    Ok(a)
}

fn check_laws(case: &LawCase) -> TestResult {
    let e = law_engine(case);
    let names = law_names(&e);
    check_missing_value_laws(&e, case, &names)?;
    let [a, b, c] = [&case.a, &case.b, &case.c].map(|t| build(&resolve(t, &names)));
    let all = e.customers();
    let none = Audience::new();
    let (sa, sb, sc) = (eval(&e, &a)?, eval(&e, &b)?, eval(&e, &c)?);

    // Queries agree with Audience set algebra.
    prop_assert_eq!(eval(&e, &a.clone().and(b.clone()))?, &sa & &sb, "AND is intersection");
    prop_assert_eq!(eval(&e, &a.clone().or(b.clone()))?, &sa | &sb, "OR is union");
    prop_assert_eq!(eval(&e, &a.clone().and_not(b.clone()))?, &sa - &sb, "AND NOT is difference");
    prop_assert_eq!(eval(&e, &a.clone().not())?, &all - &sa, "NOT is the complement in the live set");
    prop_assert_eq!(sa.intersection_len(&sb), (&sa & &sb).len());
    let xor = a.clone().and_not(b.clone()).or(b.clone().and_not(a.clone()));
    prop_assert_eq!(eval(&e, &xor)?, &sa ^ &sb, "symmetric difference");

    // Commutative.
    prop_assert_eq!(eval(&e, &b.clone().and(a.clone()))?, eval(&e, &a.clone().and(b.clone()))?);
    prop_assert_eq!(eval(&e, &b.clone().or(a.clone()))?, eval(&e, &a.clone().or(b.clone()))?);
    prop_assert_eq!(&sa & &sb, &sb & &sa);
    prop_assert_eq!(&sa | &sb, &sb | &sa);

    // Associative (the operands keep their own shape, so the plans differ).
    let left = Query::all([Query::all([a.clone(), b.clone()]).not().not(), c.clone()]);
    let right = Query::all([a.clone(), Query::all([b.clone(), c.clone()]).not().not()]);
    prop_assert_eq!(eval(&e, &left)?, eval(&e, &right)?, "AND associative");
    prop_assert_eq!(eval(&e, &left)?, &(&sa & &sb) & &sc);
    let left = Query::any([Query::any([a.clone(), b.clone()]).not().not(), c.clone()]);
    let right = Query::any([a.clone(), Query::any([b.clone(), c.clone()]).not().not()]);
    prop_assert_eq!(eval(&e, &left)?, eval(&e, &right)?, "OR associative");
    prop_assert_eq!(eval(&e, &left)?, &(&sa | &sb) | &sc);

    // Distributive.
    let l = a.clone().and(b.clone().or(c.clone()));
    let r = a.clone().and(b.clone()).or(a.clone().and(c.clone()));
    prop_assert_eq!(eval(&e, &l)?, eval(&e, &r)?, "AND over OR");
    let l = a.clone().or(b.clone().and(c.clone()));
    let r = a.clone().or(b.clone()).and(a.clone().or(c.clone()));
    prop_assert_eq!(eval(&e, &l)?, eval(&e, &r)?, "OR over AND");

    // Identity, annihilation, complement, involution, idempotence, absorption.
    prop_assert_eq!(eval(&e, &a.clone().and(Query::everyone()))?, sa.clone(), "a AND *");
    prop_assert_eq!(eval(&e, &a.clone().or(Query::nobody()))?, sa.clone(), "a OR NOT *");
    prop_assert_eq!(eval(&e, &a.clone().or(Query::everyone()))?, all.clone(), "a OR *");
    prop_assert_eq!(eval(&e, &a.clone().and(Query::nobody()))?, none.clone(), "a AND NOT *");
    prop_assert_eq!(eval(&e, &a.clone().and_not(a.clone()))?, none.clone(), "a AND NOT a");
    prop_assert_eq!(eval(&e, &a.clone().or(a.clone().not()))?, all.clone(), "a OR NOT a");
    prop_assert_eq!(eval(&e, &a.clone().not().not())?, sa.clone(), "NOT NOT a");
    prop_assert_eq!(eval(&e, &a.clone().and(a.clone()))?, sa.clone(), "a AND a");
    prop_assert_eq!(eval(&e, &a.clone().or(a.clone()))?, sa.clone(), "a OR a");
    prop_assert_eq!(eval(&e, &a.clone().or(a.clone().and(b.clone())))?, sa.clone(), "absorption");
    prop_assert_eq!(eval(&e, &a.clone().and(a.clone().or(b.clone())))?, sa.clone(), "absorption");

    // De Morgan.
    prop_assert_eq!(
        eval(&e, &a.clone().or(b.clone()).not())?,
        eval(&e, &a.clone().not().and(b.clone().not()))?,
        "NOT (a OR b)"
    );
    prop_assert_eq!(
        eval(&e, &a.clone().and(b.clone()).not())?,
        eval(&e, &a.clone().not().or(b.clone().not()))?,
        "NOT (a AND b)"
    );

    // Counting identities.
    let count = |q: &Query| e.count(q).expect("valid query");
    prop_assert_eq!(count(&a), count(&a.clone().and(b.clone())) + count(&a.clone().and_not(b.clone())));
    prop_assert_eq!(
        count(&a.clone().or(b.clone())) + count(&a.clone().and(b.clone())),
        count(&a) + count(&b),
        "inclusion-exclusion"
    );
    prop_assert_eq!(count(&a) + count(&a.clone().not()), e.customer_count());
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Set-algebra laws (commutative, associative, distributive, identity, complement,
    /// De Morgan, counting identities), stated through engine queries and `Audience` algebra.
    #[test]
    fn set_algebra_laws(case in law_case()) {
        check_laws(&case)?;
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
