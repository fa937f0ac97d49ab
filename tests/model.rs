//! Model-based property tests: random operation sequences run on the real [`Engine`] and on a
//! naive model built from `BTreeMap`/`BTreeSet`, with every query of a random set compared
//! (ids, counts, query text), plus set-algebra laws stated through engine queries.
//!
//! The model implements the documented semantics directly, by name:
//! - a tag term matches customers carrying the tag or any descendant (`a/b` is below `a`);
//! - tagging `a/b/c` creates `a/b` and `a` (known names from then on, even without members);
//! - `NOT` is relative to the live customers; removed customers match nothing;
//! - assigning a value of a declared exclusive group removes the customer's other values;
//! - renaming moves the whole subtree; deleting refuses a tag with children;
//! - numeric attributes are a namespace of their own (a name followed by an operator): an
//!   attribute is known from its first value or `define_attr` on; `set_attrs` keeps the last
//!   value given per customer and attribute; removing a customer drops its values;
//! - a comparison matches the live customers that have a value satisfying it, so a customer
//!   without a value matches no comparison (`NOT age >= 30` includes it, `age != 30` does not);
//! - on any `Err` the engine is unchanged (checked with a snapshot of everything observable).
//!
//! Failure persistence is off so a failing run writes no files: a minimized failing case is
//! kept as a plain `#[test]` at the end of this file instead. `PROPTEST_CASES=n` runs longer.

use std::collections::{BTreeMap, BTreeSet};

use audience::{Audience, CmpOp, CustomerId, Engine, Error, Query, TagKind};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

type TestResult = Result<(), TestCaseError>;

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

/// The attributes `refresh` owns.
const DERIVED_ATTRS: &[&str] = &["recency_days", "frequency", "monetary"];

/// The ends of `i64` and the values around zero.
const EXTREMES: &[i64] = &[i64::MIN, i64::MIN + 1, i64::MIN + 2, -1, 0, 1, i64::MAX - 2, i64::MAX - 1, i64::MAX];

const KEYS: &[&str] =
    &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "高", "a b", ""];

/// A choice among however many items there are when it is used (like `proptest`'s `Index`,
/// but printable and constructible, so a failing case can be pasted into a test).
#[derive(Clone, Copy, Debug)]
struct Pick(usize);

impl Pick {
    /// Scales the pick into `0..len` (`len > 0`).
    fn index(self, len: usize) -> usize {
        ((len as u128 * self.0 as u128) >> usize::BITS) as usize
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    any::<usize>().prop_map(Pick)
}

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

// ------------------------------------------------------------------ the model

/// The documented normal form: trimmed, each `/` level trimmed and non-empty, no control
/// characters.
fn normalize(raw: &str) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return None;
    }
    let levels: Vec<&str> = name.split('/').map(str::trim).collect();
    if levels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let joined = levels.join("/");
    // No white space around the first ':' (the exclusive-group separator).
    Some(match joined.split_once(':') {
        Some((g, v)) => format!("{}:{}", g.trim_end(), v.trim_start()),
        None => joined,
    })
}

fn parent(name: &str) -> Option<&str> {
    name.rfind('/').map(|i| &name[..i])
}

/// `name` is `root` or below it in the `/` hierarchy.
fn in_subtree(name: &str, root: &str) -> bool {
    name == root || (name.len() > root.len() && name.starts_with(root) && name.as_bytes()[root.len()] == b'/')
}

#[derive(Clone, Debug, Default)]
struct Model {
    live: BTreeSet<u32>,
    /// Key -> id of live keyed customers.
    keys: BTreeMap<String, u32>,
    next_id: u64,
    /// Exact tags of every live customer.
    tags: BTreeMap<u32, BTreeSet<String>>,
    /// Every tag name in the pool (ancestors included).
    pool: BTreeSet<String>,
    groups: Vec<String>,
    /// Known attribute names, in creation order.
    attr_names: Vec<String>,
    /// Attribute values of live customers: customer -> attribute -> value.
    attrs: BTreeMap<u32, BTreeMap<String, i64>>,
}

/// A predicted error: the error kinds the engine may return.
type Errs = BTreeSet<&'static str>;

fn err<T>(kind: &'static str) -> Result<T, Errs> {
    Err([kind].into_iter().collect())
}

impl Model {
    fn group_of(&self, name: &str) -> Option<&str> {
        let (prefix, _) = name.split_once(':')?;
        self.groups.iter().map(String::as_str).find(|g| *g == prefix)
    }

    /// A name of the form `group:value` of a declared group whose value is not plain.
    fn bad_group_value(&self, name: &str) -> bool {
        match name.split_once(':') {
            Some((p, v)) if self.groups.iter().any(|g| g == p) => v.trim().is_empty() || v.contains(['/', ':']),
            _ => false,
        }
    }

    /// Whether `norm` (normalized) can be created along with its missing ancestors.
    fn can_create(&self, norm: &str) -> bool {
        let mut cur = Some(norm);
        while let Some(n) = cur {
            if self.pool.contains(n) {
                break;
            }
            if self.bad_group_value(n) {
                return false;
            }
            cur = parent(n);
        }
        true
    }

    fn create(&mut self, norm: &str) {
        let mut cur = Some(norm);
        while let Some(n) = cur {
            self.pool.insert(n.to_owned());
            cur = parent(n);
        }
    }

    /// Normalizes a name that `tag` would accept (creating it is allowed).
    fn creatable(&self, raw: &str) -> Result<String, Errs> {
        let Some(norm) = normalize(raw) else { return err("InvalidTagName") };
        if !self.pool.contains(&norm) && !self.can_create(&norm) {
            return err("InvalidTagName");
        }
        Ok(norm)
    }

    /// Normalizes a name that must already be in the pool.
    fn existing(&self, raw: &str) -> Result<String, Errs> {
        let Some(norm) = normalize(raw) else { return err("InvalidTagName") };
        if !self.pool.contains(&norm) {
            return err("UnknownTag");
        }
        Ok(norm)
    }

    fn assign(&mut self, c: u32, norm: &str) -> bool {
        if let Some(g) = self.group_of(norm).map(str::to_owned) {
            let others: Vec<String> =
                self.tags[&c].iter().filter(|t| *t != norm && self.group_of(t) == Some(g.as_str())).cloned().collect();
            let tags = self.tags.get_mut(&c).expect("live customer");
            for t in others {
                tags.remove(&t);
            }
        }
        self.tags.get_mut(&c).expect("live customer").insert(norm.to_owned())
    }

    fn live_check(&self, c: u32) -> Result<(), Errs> {
        if self.live.contains(&c) { Ok(()) } else { err("UnknownCustomer") }
    }

    // ---- operations (each either fails without changing anything, or applies)

    fn customer(&mut self, key: &str) -> Result<u32, Errs> {
        if let Some(&id) = self.keys.get(key) {
            return Ok(id);
        }
        if key.is_empty() {
            return err("InvalidCustomerKey");
        }
        let Ok(id) = u32::try_from(self.next_id) else { return err("CustomerIdsExhausted") };
        assert!(!self.live.contains(&id), "model: fresh id {id} is live");
        self.next_id += 1;
        self.live.insert(id);
        self.tags.insert(id, BTreeSet::new());
        self.keys.insert(key.to_owned(), id);
        Ok(id)
    }

    fn customer_id(&mut self, id: u32) -> Result<u32, Errs> {
        if self.live.contains(&id) && self.keys.values().any(|&k| k == id) {
            return err("CustomerIdTaken");
        }
        self.next_id = self.next_id.max(u64::from(id) + 1);
        if self.live.insert(id) {
            self.tags.insert(id, BTreeSet::new());
        }
        Ok(id)
    }

    fn remove(&mut self, c: u32) -> Result<(), Errs> {
        self.live_check(c)?;
        self.live.remove(&c);
        self.tags.remove(&c);
        self.attrs.remove(&c);
        self.keys.retain(|_, id| *id != c);
        Ok(())
    }

    // ---- attributes

    /// Normalizes an attribute name that may be written (the tag-name rules; not derived).
    fn attr_name(&self, raw: &str) -> Result<String, Errs> {
        let Some(norm) = normalize(raw) else { return err("InvalidAttributeName") };
        if DERIVED_ATTRS.contains(&norm.as_str()) {
            return err("DerivedName");
        }
        Ok(norm)
    }

    fn create_attr(&mut self, norm: &str) {
        if !self.attr_names.iter().any(|n| n == norm) {
            self.attr_names.push(norm.to_owned());
        }
    }

    fn value_of(&self, c: u32, norm: &str) -> Option<i64> {
        self.attrs.get(&c)?.get(norm).copied()
    }

    fn set_attr(&mut self, c: u32, raw: &str, v: i64) -> Result<Option<i64>, Errs> {
        self.live_check(c)?;
        let norm = self.attr_name(raw)?;
        self.create_attr(&norm);
        Ok(self.attrs.entry(c).or_default().insert(norm, v))
    }

    fn unset_attr(&mut self, c: u32, raw: &str) -> Result<Option<i64>, Errs> {
        self.live_check(c)?;
        let norm = self.attr_name(raw)?;
        if !self.attr_names.contains(&norm) {
            return err("UnknownAttribute");
        }
        Ok(self.attrs.get_mut(&c).and_then(|a| a.remove(&norm)))
    }

    /// Bulk: everything checked first (in order), then applied in order, so the last value
    /// given per customer and attribute wins.
    fn set_attrs(&mut self, triples: &[(u32, String, i64)]) -> Result<u64, Errs> {
        let mut norms = Vec::new();
        for (c, raw, v) in triples {
            self.live_check(*c)?;
            norms.push((*c, self.attr_name(raw)?, *v));
        }
        for (c, norm, v) in norms {
            self.create_attr(&norm);
            self.attrs.entry(c).or_default().insert(norm, v);
        }
        Ok(triples.len() as u64)
    }

    fn define_attr(&mut self, raw: &str) -> Result<(), Errs> {
        let norm = self.attr_name(raw)?;
        self.create_attr(&norm);
        Ok(())
    }

    /// How many live customers have a value for `norm`.
    fn attr_len(&self, norm: &str) -> u64 {
        self.attrs.values().filter(|a| a.contains_key(norm)).count() as u64
    }

    fn define_exclusive_group(&mut self, raw: &str) -> Result<(), Errs> {
        let Some(g) = normalize(raw).filter(|g| !g.contains(['/', ':'])) else { return err("InvalidTagName") };
        if self.groups.contains(&g) {
            return Ok(());
        }
        let members: Vec<&String> =
            self.pool.iter().filter(|n| n.split_once(':').is_some_and(|(p, _)| p == g)).collect();
        if members.iter().any(|n| n.split_once(':').is_some_and(|(_, v)| v.trim().is_empty() || v.contains(['/', ':'])))
        {
            return err("InvalidTagName");
        }
        if self.tags.values().any(|tags| members.iter().filter(|m| tags.contains(**m)).count() > 1) {
            return err("ExclusiveConflict");
        }
        self.groups.push(g);
        Ok(())
    }

    fn tag(&mut self, c: u32, raw: &str) -> Result<bool, Errs> {
        self.live_check(c)?;
        let norm = self.creatable(raw)?;
        self.create(&norm);
        Ok(self.assign(c, &norm))
    }

    fn untag(&mut self, c: u32, raw: &str) -> Result<bool, Errs> {
        self.live_check(c)?;
        let norm = self.existing(raw)?;
        Ok(self.tags.get_mut(&c).expect("live").remove(&norm))
    }

    fn tag_pairs(&mut self, pairs: &[(u32, String)]) -> Result<u64, Errs> {
        let mut norms = Vec::new();
        for (c, raw) in pairs {
            norms.push((*c, self.creatable(raw)?));
            self.live_check(*c)?;
        }
        // Net: assignments present afterwards that were not there before (a value of an
        // exclusive group replaced within the same load does not count).
        let before: BTreeMap<u32, BTreeSet<String>> =
            norms.iter().map(|(c, _)| (*c, self.tags.get(c).cloned().unwrap_or_default())).collect();
        for (c, norm) in norms {
            self.create(&norm);
            self.assign(c, &norm);
        }
        Ok(before.iter().map(|(c, old)| self.tags[c].difference(old).count() as u64).sum())
    }

    fn tag_all(&mut self, audience: &BTreeSet<u32>, raw: &str) -> Result<u64, Errs> {
        let norm = self.creatable(raw)?;
        self.create(&norm);
        let targets: Vec<u32> = audience.intersection(&self.live).copied().collect();
        Ok(targets.into_iter().map(|c| u64::from(self.assign(c, &norm))).sum())
    }

    fn untag_all(&mut self, audience: &BTreeSet<u32>, raw: &str) -> Result<u64, Errs> {
        let norm = self.existing(raw)?;
        let mut n = 0;
        for c in audience {
            if let Some(tags) = self.tags.get_mut(c) {
                n += u64::from(tags.remove(&norm));
            }
        }
        Ok(n)
    }

    fn delete_tag(&mut self, raw: &str) -> Result<u64, Errs> {
        let norm = self.existing(raw)?;
        if self.pool.iter().any(|n| n != &norm && in_subtree(n, &norm)) {
            return err("TagHasChildren");
        }
        self.pool.remove(&norm);
        Ok(self.tags.values_mut().map(|t| u64::from(t.remove(&norm))).sum())
    }

    fn rename_tag(&mut self, old_raw: &str, new_raw: &str) -> Result<(), Errs> {
        let old = self.existing(old_raw)?;
        let Some(new) = normalize(new_raw) else { return err("InvalidTagName") };
        if old == new {
            return Ok(());
        }
        let subtree: Vec<String> = self.pool.iter().filter(|n| in_subtree(n, &old)).cloned().collect();
        let renamed = |n: &str| format!("{new}{}", &n[old.len()..]);
        let mut errs = Errs::new();
        for n in &subtree {
            let nn = renamed(n);
            if self.pool.contains(&nn) && !in_subtree(&nn, &old) {
                errs.insert("TagExists");
            }
            if self.bad_group_value(&nn) {
                errs.insert("InvalidTagName");
            }
        }
        let mut cur = parent(&new);
        while let Some(p) = cur {
            if self.pool.contains(p) && !in_subtree(p, &old) {
                break;
            }
            if self.bad_group_value(p) {
                errs.insert("InvalidTagName");
            }
            cur = parent(p);
        }
        if errs.is_empty()
            && let Some(g) = self.group_of(&new)
        {
            let conflict = self
                .tags
                .values()
                .any(|tags| tags.contains(&old) && tags.iter().any(|t| *t != old && self.group_of(t) == Some(g)));
            if conflict {
                errs.insert("ExclusiveConflict");
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        for n in &subtree {
            self.pool.remove(n);
        }
        for n in &subtree {
            self.pool.insert(renamed(n));
        }
        let mut cur = parent(&new);
        while let Some(p) = cur {
            self.pool.insert(p.to_owned());
            cur = parent(p);
        }
        for tags in self.tags.values_mut() {
            // All at once: a new name may be an old name of the same subtree (`a` -> `a/b`).
            *tags = tags.iter().map(|t| if in_subtree(t, &old) { renamed(t) } else { t.clone() }).collect();
        }
        Ok(())
    }

    // ---- queries

    /// Customers matching tag term `norm`: carrying it or a descendant.
    fn matches(&self, norm: &str) -> BTreeSet<u32> {
        self.tags.iter().filter(|(_, t)| t.iter().any(|t| in_subtree(t, norm))).map(|(&c, _)| c).collect()
    }

    /// The customers matching `q`, or the first unknown name (left to right).
    fn eval(&self, q: &R) -> Result<BTreeSet<u32>, Unknown> {
        Ok(match q {
            R::Tag(raw) => {
                let norm = normalize(raw).expect("queries use valid names");
                if !self.pool.contains(&norm) {
                    return Err(Unknown::Tag(norm));
                }
                self.matches(&norm)
            }
            R::Cmp(raw, op, lit) => {
                let norm = normalize(raw).expect("queries use valid names");
                if !self.attr_names.contains(&norm) {
                    return Err(Unknown::Attr(norm));
                }
                // Customers without a value match no comparison.
                self.live
                    .iter()
                    .copied()
                    .filter(|&c| self.value_of(c, &norm).is_some_and(|v| holds(*op, v, *lit)))
                    .collect()
            }
            R::Everyone => self.live.clone(),
            R::Nobody => BTreeSet::new(),
            R::Not(x) => self.live.difference(&self.eval(x)?).copied().collect(),
            R::And(xs) => {
                let mut acc = self.live.clone();
                for x in xs {
                    let s = self.eval(x)?;
                    acc = acc.intersection(&s).copied().collect();
                }
                acc
            }
            R::Or(xs) => {
                let mut acc = BTreeSet::new();
                for x in xs {
                    acc.extend(self.eval(x)?);
                }
                acc
            }
            R::AndNot(a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                a.difference(&b).copied().collect()
            }
        })
    }
}

/// An unknown name a query refers to.
#[derive(Clone, Debug, PartialEq)]
enum Unknown {
    Tag(String),
    Attr(String),
}

/// `v op lit`, written out (not `CmpOp::holds`, so the model does not borrow the engine's).
fn holds(op: CmpOp, v: i64, lit: i64) -> bool {
    match op {
        CmpOp::Eq => v == lit,
        CmpOp::Ne => v != lit,
        CmpOp::Lt => v < lit,
        CmpOp::Le => v <= lit,
        CmpOp::Gt => v > lit,
        CmpOp::Ge => v >= lit,
    }
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

/// A resolved query: the names are concrete.
#[derive(Clone, Debug)]
enum R {
    Tag(String),
    Cmp(String, CmpOp, i64),
    Everyone,
    Nobody,
    Not(Box<R>),
    And(Vec<R>),
    Or(Vec<R>),
    AndNot(Box<R>, Box<R>),
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

impl Model {
    fn names(&self) -> Names {
        let mut unknown_tags: Vec<String> = NEVER.iter().map(|s| s.to_string()).collect();
        unknown_tags.extend(NAMES.iter().filter_map(|n| normalize(n)).filter(|n| !self.pool.contains(n)));
        unknown_tags.sort();
        unknown_tags.dedup();
        let mut unknown_attrs: Vec<String> = ATTR_NEVER.iter().map(|s| s.to_string()).collect();
        unknown_attrs.extend(ATTR_NAMES.iter().filter_map(|n| normalize(n)).filter(|n| !self.attr_names.contains(n)));
        unknown_attrs.sort();
        unknown_attrs.dedup();
        let values = self.attrs.values().flat_map(|a| a.iter().map(|(n, v)| (n.as_str(), *v)));
        Names::new(self.pool.iter().cloned().collect(), unknown_tags, self.attr_names.clone(), unknown_attrs)
            .with_values(values)
    }
}

fn resolve(q: &Qt, n: &Names) -> R {
    let (known, unknown) = (&n.tags, &n.unknown_tags);
    match q {
        Qt::Known(i) if !known.is_empty() => R::Tag(known[i.index(known.len())].clone()),
        Qt::KnownPadded(i) if !known.is_empty() => {
            R::Tag(format!(" {} \t", known[i.index(known.len())].replace('/', " / ")))
        }
        Qt::Known(i) | Qt::KnownPadded(i) | Qt::Unknown(i) => R::Tag(unknown[i.index(unknown.len())].clone()),
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
            R::Cmp(name, *op, v)
        }
        Qt::Everyone => R::Everyone,
        Qt::Nobody => R::Nobody,
        Qt::Not(x) => R::Not(Box::new(resolve(x, n))),
        Qt::And(xs) => R::And(xs.iter().map(|x| resolve(x, n)).collect()),
        Qt::Or(xs) => R::Or(xs.iter().map(|x| resolve(x, n)).collect()),
        Qt::AndNot(a, b) => R::AndNot(Box::new(resolve(a, n)), Box::new(resolve(b, n))),
    }
}

/// Builds the query with the typed builder, using its several spellings.
fn build(r: &R) -> Query {
    match r {
        R::Tag(n) => Query::tag(n),
        R::Cmp(n, op, v) => Query::compare(n, *op, *v),
        R::Everyone => Query::everyone(),
        R::Nobody => Query::nobody(),
        R::Not(x) if matches!(**x, R::Tag(_)) => !build(x),
        R::Not(x) => build(x).not(),
        R::And(xs) => match xs.as_slice() {
            [a, b] => build(a).and(build(b)),
            [a, b, c] => build(a) & build(b) & build(c),
            _ => Query::all(xs.iter().map(build)),
        },
        R::Or(xs) => match xs.as_slice() {
            [a, b] => build(a).or(build(b)),
            [a, b, c] => build(a) | build(b) | build(c),
            _ => Query::any(xs.iter().map(build)),
        },
        R::AndNot(a, b) => build(a).and_not(build(b)),
    }
}

fn ids(a: &Audience) -> Vec<u32> {
    a.iter().map(u32::from).collect()
}

fn set_ids(s: &BTreeSet<u32>) -> Vec<u32> {
    s.iter().copied().collect()
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::InvalidCustomerKey { .. } => "InvalidCustomerKey",
        Error::UnknownCustomer { .. } => "UnknownCustomer",
        Error::CustomerIdsExhausted => "CustomerIdsExhausted",
        Error::CustomerIdTaken { .. } => "CustomerIdTaken",
        Error::InvalidTagName { .. } => "InvalidTagName",
        Error::UnknownTag { .. } => "UnknownTag",
        Error::UnknownGroup { .. } => "UnknownGroup",
        Error::UnknownTagId { .. } => "UnknownTagId",
        Error::Parse { .. } => "Parse",
        Error::QueryTooLarge { .. } => "QueryTooLarge",
        Error::TagKindConflict { .. } => "TagKindConflict",
        Error::TagExists { .. } => "TagExists",
        Error::TagHasChildren { .. } => "TagHasChildren",
        Error::ExclusiveConflict { .. } => "ExclusiveConflict",
        Error::UnknownAttribute { .. } => "UnknownAttribute",
        Error::InvalidAttributeName { .. } => "InvalidAttributeName",
        Error::DerivedName { .. } => "DerivedName",
        _ => "other",
    }
}

/// Canonical text with the spaces around comparison operators removed (`age >= 30` ->
/// `age>=30`, `x < -5` -> `x<-5`). No name of the alphabets contains an operator between
/// spaces, so only operators are touched.
fn compact(text: &str) -> String {
    CmpOp::ALL.iter().fold(text.to_owned(), |t, op| t.replace(&format!(" {op} "), op.as_str()))
}

/// Compares every random query against the model: ids, counts, text, explain, round trip.
fn check_queries(engine: &Engine, m: &Model, queries: &[Qt]) -> TestResult {
    let names = m.names();
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

/// A tag as listed: id, name, kind, members, group, parent, children.
type TagRow = (u32, String, TagKind, u64, Option<String>, Option<String>, usize);

/// Everything observable about an engine, to check that a failed call changed nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    live: Vec<u32>,
    customers: Vec<(u32, Option<String>, Vec<String>)>,
    tags: Vec<TagRow>,
    groups: Vec<String>,
    stats: (u64, usize, usize, u64, usize),
    /// Attributes with their sizes, every live customer's values, and the attribute stats.
    attributes: Vec<(String, u64)>,
    values: Vec<(u32, Vec<(String, i64)>)>,
    attr_stats: (usize, usize),
}

fn snapshot(e: &Engine) -> Snapshot {
    let live = e.customers().to_ids();
    let customers = live
        .iter()
        .map(|&c| {
            let id = CustomerId(c);
            let tags = e.tags_of(id).unwrap_or_default().into_iter().map(str::to_owned).collect();
            (c, e.key_of(id).map(str::to_owned), tags)
        })
        .collect();
    let tags = e
        .tags()
        .map(|t| {
            (
                t.id.get(),
                t.name.to_owned(),
                t.kind,
                t.len,
                t.group.map(str::to_owned),
                t.parent.map(str::to_owned),
                t.children,
            )
        })
        .collect();
    let values = live
        .iter()
        .map(|&c| {
            let vs = e.attrs_of(CustomerId(c)).unwrap_or_default();
            (c, vs.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
        })
        .collect();
    let s = e.stats();
    Snapshot {
        live,
        customers,
        tags,
        groups: e.exclusive_groups().map(str::to_owned).collect(),
        stats: (s.customers, s.keyed_customers, s.tags, s.assignments, s.bitmap_bytes),
        attributes: e.attributes().map(|(n, len)| (n.to_owned(), len)).collect(),
        values,
        attr_stats: (s.attributes, s.attribute_bytes),
    }
}

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
        Aud::Query(q) => e.select(&build(&resolve(q, &m.names()))).unwrap_or_default(),
    }
}

/// Checks that the engine's result is the model's (value, or an error of a predicted kind).
fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: Result<T, Error>, want: Result<T, Errs>) -> TestResult {
    match (got, want) {
        (Ok(g), Ok(w)) => prop_assert_eq!(g, w, "{}", what),
        (Err(e), Err(kinds)) => prop_assert!(kinds.contains(kind(&e)), "{what}: got {e:?}, expected one of {kinds:?}"),
        (Ok(g), Err(kinds)) => prop_assert!(false, "{what}: got Ok({g:?}), expected an error of {kinds:?}"),
        (Err(e), Ok(w)) => prop_assert!(false, "{what}: got Err({e:?}), expected Ok({w:?})"),
    }
    Ok(())
}

/// Applies `op` to both; returns whether the model predicted an error.
fn apply(op: &Op, e: &mut Engine, m: &mut Model, queries: &[Qt]) -> Result<bool, TestCaseError> {
    let failed: bool;
    match op {
        Op::AddKey(i) => {
            let key = KEYS[i.index(KEYS.len())];
            let want = m.customer(key);
            failed = want.is_err();
            same(&format!("customer({key:?})"), e.customer(key).map(u32::from), want)?;
        }
        Op::AddDense(n) => {
            let want = m.customer_id(*n).map(CustomerId);
            failed = want.is_err();
            same(&format!("customer_id({n})"), e.customer_id(*n), want)?;
        }
        Op::Tag(c, n) => {
            let (c, n) = (cust_id(c, m), name_of(n, m));
            let want = m.tag(c, &n);
            failed = want.is_err();
            same(&format!("tag(#{c}, {n:?})"), e.tag(CustomerId(c), &n), want)?;
        }
        Op::Exclusive(c, i) => {
            let (c, n) = (cust_id(c, m), GROUP_VALUES[i.index(GROUP_VALUES.len())]);
            let want = m.tag(c, n);
            failed = want.is_err();
            same(&format!("tag(#{c}, {n:?})"), e.tag(CustomerId(c), n), want)?;
        }
        Op::Untag(c, n) => {
            let (c, n) = (cust_id(c, m), name_of(n, m));
            let want = m.untag(c, &n);
            failed = want.is_err();
            same(&format!("untag(#{c}, {n:?})"), e.untag(CustomerId(c), &n), want)?;
        }
        Op::Remove(c) => {
            let c = cust_id(c, m);
            let want = m.remove(c);
            failed = want.is_err();
            same(&format!("remove_customer(#{c})"), e.remove_customer(CustomerId(c)), want)?;
        }
        Op::Rename(a, b) => {
            let (a, b) = (name_of(a, m), name_of(b, m));
            let want = m.rename_tag(&a, &b);
            failed = want.is_err();
            same(&format!("rename_tag({a:?}, {b:?})"), e.rename_tag(&a, &b), want)?;
        }
        Op::Delete(n) => {
            let n = name_of(n, m);
            let want = m.delete_tag(&n);
            failed = want.is_err();
            same(&format!("delete_tag({n:?})"), e.delete_tag(&n), want)?;
        }
        Op::TagPairs(pairs) => {
            let pairs: Vec<(u32, String)> = pairs.iter().map(|(c, n)| (cust_id(c, m), name_of(n, m))).collect();
            let want = m.tag_pairs(&pairs);
            failed = want.is_err();
            let got = e.tag_pairs(pairs.iter().map(|(c, n)| (CustomerId(*c), n.as_str())));
            same(&format!("tag_pairs({pairs:?})"), got, want)?;
        }
        Op::TagAll(a, n) => {
            let (a, n) = (audience_of(a, e, m), name_of(n, m));
            let set: BTreeSet<u32> = a.to_ids().into_iter().collect();
            let want = m.tag_all(&set, &n);
            failed = want.is_err();
            same(&format!("tag_all({set:?}, {n:?})"), e.tag_all(&a, &n), want)?;
        }
        Op::UntagAll(a, n) => {
            let (a, n) = (audience_of(a, e, m), name_of(n, m));
            let set: BTreeSet<u32> = a.to_ids().into_iter().collect();
            let want = m.untag_all(&set, &n);
            failed = want.is_err();
            same(&format!("untag_all({set:?}, {n:?})"), e.untag_all(&a, &n), want)?;
        }
        Op::DeclareGroup(i) => {
            let g = GROUPS[i.index(GROUPS.len())];
            let want = m.define_exclusive_group(g);
            failed = want.is_err();
            same(&format!("define_exclusive_group({g:?})"), e.define_exclusive_group(g), want)?;
        }
        Op::SetAttr(c, a, v) => {
            let (c, a) = (cust_id(c, m), attr_of(a, m));
            let want = m.set_attr(c, &a, *v);
            failed = want.is_err();
            same(&format!("set_attr(#{c}, {a:?}, {v})"), e.set_attr(CustomerId(c), &a, *v), want)?;
        }
        Op::UnsetAttr(c, a) => {
            let (c, a) = (cust_id(c, m), attr_of(a, m));
            let want = m.unset_attr(c, &a);
            failed = want.is_err();
            same(&format!("unset_attr(#{c}, {a:?})"), e.unset_attr(CustomerId(c), &a), want)?;
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
            same(&format!("set_attrs({triples:?})"), got, want)?;
        }
        Op::DefineAttr(a) => {
            let a = attr_of(a, m);
            let want = m.define_attr(&a);
            failed = want.is_err();
            same(&format!("define_attr({a:?})"), e.define_attr(&a), want)?;
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

/// `cases` cases (`PROPTEST_CASES` overrides it, for a longer hunt), no regression files.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
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
    let R::Cmp(name, op, v) = resolve(&Qt::Cmp(APick::Known(*pick), *op, lit.clone()), names) else {
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
    let i = NAMES.iter().position(|n| *n == name).expect("in the alphabet");
    let share = usize::MAX / NAMES.len();
    Pick(i * share + share / 2)
}

/// The `Pick` of item `i` of `len`.
fn nth(i: usize, len: usize) -> Pick {
    let share = usize::MAX / len;
    Pick(i * share + share / 2)
}

/// One attribute's values go from small to very negative to the ends of `i64` (the index moves
/// its base down, then widens to 64 bits), through a bulk load with repeats, an unset, and a
/// removal with the id registered again; customer 5 never has a value. After every step, every
/// operator is checked with literals at and around every value and at the ends of `i64`.
#[test]
fn attribute_values_from_small_to_very_negative_to_very_positive() {
    let age = AName::Alpha(nth(ATTR_NAMES.iter().position(|n| *n == "age").unwrap(), ATTR_NAMES.len()));
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
                queries.push(Qt::Cmp(known(), op, Lit::Near(nth(k, 6), d)));
            }
        }
        for k in 0..EXTREMES.len() {
            let x = Qt::Cmp(known(), op, Lit::Extreme(nth(k, EXTREMES.len())));
            queries.push(Qt::Not(Box::new(x.clone())));
            queries.push(x);
        }
    }
    run(&Case { plan_group: false, ops, queries }).unwrap();
}
