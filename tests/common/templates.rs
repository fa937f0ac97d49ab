//! Random query templates of `model.rs` and `model_laws.rs`: trees of tags (known, padded,
//! unknown), `*`, `NOT *` and attribute comparisons (known, padded or unknown attributes;
//! literals near a value an attribute has, at the ends of `i64`, or anything), resolved
//! against the names and values known when a query is checked, then built with the typed
//! builder in its several spellings.

use std::collections::BTreeMap;

use audience::{CmpOp, Query};
use proptest::prelude::*;

use super::model::{Q, normalize};
use super::{Pick, pick};

// ------------------------------------------------------------------ values

/// The ends of `i64` and the values around zero.
pub const EXTREMES: &[i64] = &[i64::MIN, i64::MIN + 1, i64::MIN + 2, -1, 0, 1, i64::MAX - 2, i64::MAX - 1, i64::MAX];

/// Attribute values: mostly small (so equal values and boundaries are common), the ends of
/// `i64`, large powers of two, anything (so an index goes from small to very negative to very
/// positive and must move its base).
pub fn value() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => -20i64..=20,
        2 => prop::sample::select(EXTREMES),
        1 => prop::sample::select(vec![-(1i64 << 40), 1 << 40, -(1 << 62), 1 << 62, i64::MIN / 2, i64::MAX / 2]),
        2 => any::<i64>(),
    ]
}

// ------------------------------------------------------------------ random queries

/// A query template: leaves pick names when the query is checked, against the pool as it is.
#[derive(Clone, Debug)]
pub enum Qt {
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
pub enum APick {
    /// A known attribute (an unknown one when none is known).
    Known(Pick),
    /// A known attribute written with extra white space (the builder trims it).
    Padded(Pick),
    Unknown(Pick),
}

/// The literal of a comparison.
#[derive(Clone, Debug)]
pub enum Lit {
    /// A value the attribute has now (any attribute's when it has none), plus -3..=3: equal
    /// values and the boundaries on either side are hit.
    Near(Pick, i64),
    /// One of `EXTREMES`.
    Extreme(Pick),
    Any(i64),
}

pub fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        6 => (pick(), -3i64..=3).prop_map(|(p, d)| Lit::Near(p, d)),
        2 => pick().prop_map(Lit::Extreme),
        1 => any::<i64>().prop_map(Lit::Any),
    ]
}

pub fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(CmpOp::ALL.to_vec())
}

/// Query templates. Leaves: tags weigh 14, `*` and `NOT *` 1 each, unknown tags `unknown_weight`,
/// comparisons `cmp_weight`.
pub fn qt(unknown_weight: u32, cmp_weight: u32) -> impl Strategy<Value = Qt> {
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
pub struct Names {
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
    pub fn new(tags: Vec<String>, unknown_tags: Vec<String>, attrs: Vec<String>, unknown_attrs: Vec<String>) -> Names {
        Names { tags, unknown_tags, attrs, unknown_attrs, values: BTreeMap::new(), all_values: Vec::new() }
    }

    /// Records the values (any order, repeats allowed).
    pub fn with_values<'a>(mut self, values: impl IntoIterator<Item = (&'a str, i64)>) -> Names {
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

pub fn resolve(q: &Qt, n: &Names) -> Q {
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
pub fn build(r: &Q) -> Query {
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
