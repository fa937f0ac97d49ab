//! Tag aliases (`Engine::alias_tag`): random sequences of defining tags, aliasing and
//! unaliasing, tagging and untagging by a tag's name or an alias (one customer, an audience,
//! bulk pairs), deleting, renaming and merging tags (`merge_tags`), and merging customers
//! (`merge_customers`), against the naive model of `common::model` with an alias map (alias
//! -> the target's name, in definition order) and a list of alias keys on top: names resolve
//! through the map, a name is never both a tag and an alias, renames carry the targets'
//! names along, deletes drop their aliases, a merged tag's aliases go (last, in their order)
//! to the tag it joined, a merged customer's keys resolve to the one it joined. Every tag's
//! members, every query on every name (aliases of parents counting descendants, `NOT` over
//! the live customers), `aliases_of`, every key's `id_of`, the merges' reports and the errors
//! are compared. Then the edge cases: an exclusive group spelled three ways, bulk loads,
//! shadowing both ways, idempotence, unknown targets, derived tags, saved queries.

mod common;

use std::collections::BTreeSet;

use audience::{AliasClash, Audience, CustomerId, DescribeOptions, Engine, Error, Query, SegmentPlan, TagKind};
use common::model::{Errs, Model, Q, Unknown, in_subtree, normalize, parent, same};
use common::{Pick, TestResult, config, pick};
use proptest::prelude::*;

/// Names written as tags (and renamed, deleted).
const TAGS: [&str; 10] =
    ["gender:male", "gender:female", "vip", "sports", "sports/run", "高消费", "M", "s/x", "gender:m", " vip "];
/// Names aliased (some are, or become, tags: refused).
const ALIASES: [&str; 9] = ["M", "male", "男", "s", "gender:m", "vip", "sports/run", "高消", "s/x"];
/// New names of renames.
const RENAMED: [&str; 7] = ["sport", "M", "s", "gender:mm", "vip2", "男", "sports/run/x"];
const CUSTOMERS: u32 = 6;
/// The customers' keys (customer `i` is registered as `KEYS[i]`), and one nobody has.
const KEYS: [&str; 7] = ["ann", "bob", "顾客-甲", "dan", "eve", "fay", "nobody"];

#[derive(Clone, Debug)]
enum Op {
    Define(Pick),
    Alias(Pick, Pick),
    /// An alias of a tag of the pool now (most names of the lists are no tag's yet), so
    /// merges find tags with aliases to move.
    AliasPooled(Pick, Pick),
    Unalias(Pick),
    Tag(u32, Pick, bool),
    Untag(u32, Pick, bool),
    TagAll(Vec<u32>, Pick, bool),
    UntagAll(Vec<u32>, Pick, bool),
    Pairs(Vec<(u32, Pick, bool)>),
    Delete(Pick, bool),
    Rename(Pick, bool, Pick),
    /// `merge_tags(from, into)`, each named as [`merge_name`] picks.
    MergeTags(Pick, u8, Pick, u8),
    /// `merge_customers(into, from)`.
    MergeCustomers(u32, u32),
    /// `merge_customers` of two customers carrying a value of `gender` (when there are), so
    /// the case of `into`'s value winning is not left to luck.
    MergeValued(Pick, Pick),
}

/// A name to write: a tag name or an alias name.
fn name(p: Pick, alias: bool) -> &'static str {
    if alias { ALIASES[p.index(ALIASES.len())] } else { TAGS[p.index(TAGS.len())] }
}

/// A name for a merge: `how` 0 a name of [`TAGS`], 1 of [`ALIASES`], 2 a tag of the pool now,
/// 3 an alias now, 4 a tag with aliases now, 5 a value of `gender` now, 6 a tag of no group
/// carried by a customer who carries a value of `gender` (merged into another value, the
/// customer loses its own). Most names of the lists are no tag's yet: a merge of two would
/// only be refused.
fn merge_name(m: &Aliased, p: Pick, how: u8) -> String {
    let valued = |t: &String| m.m.group_of(t).is_some();
    let now: Vec<String> = match how {
        2 => m.m.pool.iter().cloned().collect(),
        3 => m.aliases.iter().map(|(a, _)| a.clone()).collect(),
        4 => m.aliases.iter().map(|(_, t)| t.clone()).collect::<BTreeSet<_>>().into_iter().collect(),
        5 => m.m.pool.iter().filter(|t| valued(t)).cloned().collect(),
        6 => {
            let carried = m.m.tags.values().filter(|ts| ts.iter().any(valued)).flatten();
            carried.filter(|t| !valued(t)).cloned().collect::<BTreeSet<_>>().into_iter().collect()
        }
        _ => Vec::new(),
    };
    p.of(&now).unwrap_or_else(|| name(p, how % 2 == 1).to_owned())
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CUSTOMERS;
    let cs = prop::collection::vec(0..CUSTOMERS + 1, 0..4); // CUSTOMERS itself is no customer
    prop_oneof![
        2 => pick().prop_map(Op::Define),
        4 => (pick(), pick()).prop_map(|(a, t)| Op::Alias(a, t)),
        3 => (pick(), pick()).prop_map(|(a, t)| Op::AliasPooled(a, t)),
        1 => pick().prop_map(Op::Unalias),
        6 => (c.clone(), pick(), any::<bool>()).prop_map(|(c, n, a)| Op::Tag(c, n, a)),
        2 => (c, pick(), any::<bool>()).prop_map(|(c, n, a)| Op::Untag(c, n, a)),
        1 => (cs.clone(), pick(), any::<bool>()).prop_map(|(cs, n, a)| Op::TagAll(cs, n, a)),
        1 => (cs, pick(), any::<bool>()).prop_map(|(cs, n, a)| Op::UntagAll(cs, n, a)),
        2 => prop::collection::vec((0..CUSTOMERS, pick(), any::<bool>()), 0..6).prop_map(Op::Pairs),
        1 => (pick(), any::<bool>()).prop_map(|(n, a)| Op::Delete(n, a)),
        1 => (pick(), any::<bool>(), pick()).prop_map(|(n, a, to)| Op::Rename(n, a, to)),
        4 => (pick(), 0..6u8, pick(), 0..6u8).prop_map(|(f, fw, i, iw)| Op::MergeTags(f, fw, i, iw)),
        1 => (pick(), pick()).prop_map(|(f, i)| Op::MergeTags(f, 6, i, 5)),
        2 => (0..CUSTOMERS, 0..CUSTOMERS).prop_map(|(into, from)| Op::MergeCustomers(into, from)),
        1 => (pick(), pick()).prop_map(|(into, from)| Op::MergeValued(into, from)),
    ]
}

/// The model of `common::model`, an alias map: alias -> the name of the tag it points at,
/// in definition order, and the alias keys: key -> the customer it resolves to, oldest
/// first (the model's own `keys` are the live customers' own keys).
#[derive(Clone, Debug)]
struct Aliased {
    m: Model,
    aliases: Vec<(String, String)>,
    key_aliases: Vec<(String, u32)>,
}

/// What `merge_tags` reports: from, into, moved, added, displaced, rewritten saved queries.
type TagMerged = (String, String, u64, u64, u64, usize);

fn one(kind: &'static str) -> Errs {
    [kind].into_iter().collect()
}

impl Aliased {
    fn target(&self, alias: &str) -> Option<&str> {
        self.aliases.iter().find(|(a, _)| a == alias).map(|(_, t)| t.as_str())
    }

    /// What `norm` names: the tag of that name, or an alias's target.
    fn resolve(&self, norm: &str) -> Option<String> {
        if self.m.pool.contains(norm) { Some(norm.to_owned()) } else { self.target(norm).map(str::to_owned) }
    }

    /// The name a write of `raw` goes to, creating nothing yet: a tag, an alias's target,
    /// or a new name whose missing ancestors are no alias's.
    fn writable(&self, raw: &str) -> Result<String, Errs> {
        let norm = normalize(raw).expect("valid test names");
        if let Some(t) = self.resolve(&norm) {
            return Ok(t);
        }
        let mut cur = Some(norm.as_str());
        while let Some(n) = cur.filter(|n| !self.m.pool.contains(*n)) {
            if self.target(n).is_some() {
                return Err(one("AliasConflict"));
            }
            cur = parent(n);
        }
        Ok(norm)
    }

    /// A tag named itself (delete, rename).
    fn own(&self, raw: &str) -> Result<String, Errs> {
        let norm = normalize(raw).expect("valid test names");
        match (self.m.pool.contains(&norm), self.target(&norm)) {
            (true, _) => Ok(norm),
            (false, Some(_)) => Err(one("AliasConflict")),
            (false, None) => Err(one("UnknownTag")),
        }
    }

    fn define(&mut self, raw: &str) -> Result<String, Errs> {
        let norm = normalize(raw).expect("valid test names");
        if self.target(&norm).is_some() {
            return Err(one("AliasConflict"));
        }
        let norm = self.writable(raw)?;
        self.m.ensure(&norm);
        Ok(norm)
    }

    fn alias(&mut self, alias: &str, target: &str) -> Result<String, Errs> {
        let alias = normalize(alias).expect("valid test names");
        let Some(target) = self.resolve(&normalize(target).expect("valid test names")) else {
            return Err(one("UnknownTag"));
        };
        if self.m.pool.contains(&alias) {
            return Err(one("AliasConflict"));
        }
        match self.target(&alias) {
            Some(t) if t == target => {}
            Some(_) => return Err(one("AliasConflict")),
            None => self.aliases.push((alias, target.clone())),
        }
        Ok(target)
    }

    fn unalias(&mut self, alias: &str) -> Result<String, Errs> {
        let alias = normalize(alias).expect("valid test names");
        let at = self.aliases.iter().position(|(a, _)| *a == alias).ok_or_else(|| one("NotAnAlias"))?;
        Ok(self.aliases.remove(at).1)
    }

    fn live(&self, c: u32) -> Result<(), Errs> {
        if self.m.live.contains(&c) { Ok(()) } else { Err(one("UnknownCustomer")) }
    }

    fn tag(&mut self, c: u32, raw: &str) -> Result<bool, Errs> {
        self.live(c)?; // the customer first, then the name
        let norm = self.writable(raw)?;
        self.m.tag(c, &norm)
    }

    fn untag(&mut self, c: u32, raw: &str) -> Result<bool, Errs> {
        let norm = normalize(raw).expect("valid test names");
        let name = self.resolve(&norm).unwrap_or(norm);
        self.m.untag(c, &name)
    }

    fn tag_all(&mut self, cs: &BTreeSet<u32>, raw: &str) -> Result<u64, Errs> {
        let norm = self.writable(raw)?;
        self.m.tag_all(cs, &norm)
    }

    fn untag_all(&mut self, cs: &BTreeSet<u32>, raw: &str) -> Result<u64, Errs> {
        let norm = normalize(raw).expect("valid test names");
        let name = self.resolve(&norm).unwrap_or(norm);
        self.m.untag_all(cs, &name)
    }

    fn pairs(&mut self, pairs: &[(u32, &str)]) -> Result<u64, Errs> {
        // Pair by pair, its name then its customer: the first refusal is the error.
        let resolved: Vec<(u32, String)> = pairs
            .iter()
            .map(|&(c, raw)| {
                let norm = self.writable(raw)?;
                self.live(c)?;
                Ok((c, norm))
            })
            .collect::<Result<_, Errs>>()?;
        self.m.tag_pairs(&resolved)
    }

    fn delete(&mut self, raw: &str) -> Result<u64, Errs> {
        let norm = self.own(raw)?;
        let n = self.m.delete_tag(&norm)?;
        self.aliases.retain(|(_, t)| *t != norm);
        Ok(n)
    }

    fn rename(&mut self, old: &str, new: &str) -> Result<(), Errs> {
        let old = self.own(old)?;
        let new = normalize(new).expect("valid test names");
        let mut shadowed = Errs::new();
        if old != new {
            // The subtree's new names and the new root's missing ancestors.
            let renamed: Vec<String> = self
                .m
                .pool
                .iter()
                .filter(|n| in_subtree(n, &old))
                .map(|n| format!("{new}{}", &n[old.len()..]))
                .collect();
            let mut ancestors = Vec::new();
            let mut cur = parent(&new);
            while let Some(p) = cur.filter(|p| !self.m.pool.contains(*p) || in_subtree(p, &old)) {
                ancestors.push(p.to_owned());
                cur = parent(p);
            }
            if renamed.iter().chain(&ancestors).any(|n| self.target(n).is_some()) {
                shadowed.insert("AliasConflict");
            }
        }
        let mut m = self.m.clone();
        match (m.rename_tag(&old, &new), shadowed.is_empty()) {
            (Ok(()), true) => {
                self.m = m;
                for (_, t) in &mut self.aliases {
                    if in_subtree(t, &old) {
                        *t = format!("{new}{}", &t[old.len()..]);
                    }
                }
                Ok(())
            }
            (Ok(()), false) => Err(shadowed),
            (Err(e), _) => Err(e.union(&shadowed).copied().collect()),
        }
    }

    /// `merge_tags(from, into)`: `from` by its own name, `into` by any; `from`'s customers
    /// carry `into` (in an exclusive group, `into` wins), `from` is deleted and its aliases
    /// follow `into`'s own, in their order.
    fn merge_tags(&mut self, from: &str, into: &str) -> Result<TagMerged, Errs> {
        let from = self.own(from)?;
        let Some(into) = self.resolve(&normalize(into).expect("valid test names")) else {
            return Err(one("UnknownTag"));
        };
        if from == into || self.m.has_children(&from) {
            return Err(one("InvalidMerge"));
        }
        let (moved, added, displaced) = self.m.merge_tag(&from, &into);
        let (followed, kept): (Vec<_>, Vec<_>) = self.aliases.drain(..).partition(|(_, t)| *t == from);
        self.aliases = kept;
        self.aliases.extend(followed.into_iter().map(|(a, _)| (a, into.clone())));
        Ok((from, into, moved, added, displaced, 0))
    }

    /// `merge_customers(into, from)`: the tags `into` gained (by name; the caller sorts them
    /// by id) and the keys that resolve to `into` now (`from`'s alias keys, oldest first,
    /// then its own key).
    fn merge_customers(&mut self, into: u32, from: u32) -> Result<(Vec<String>, Vec<String>), Errs> {
        self.live(into)?;
        self.live(from)?;
        if into == from {
            return Err(one("MergeSelf"));
        }
        let mut gained = Vec::new();
        for t in self.m.tags[&from].clone() {
            let kept = &self.m.tags[&into];
            let group_taken = self.m.group_of(&t).is_some_and(|g| kept.iter().any(|k| self.m.group_of(k) == Some(g)));
            if !kept.contains(&t) && !group_taken {
                self.m.tags.get_mut(&into).expect("live").insert(t.clone());
                gained.push(t);
            }
        }
        let (mut keys, kept): (Vec<_>, Vec<_>) = self.key_aliases.drain(..).partition(|(_, c)| *c == from);
        self.key_aliases = kept;
        keys.extend(self.m.keys.iter().filter(|(_, c)| **c == from).map(|(k, _)| (k.clone(), from)));
        self.m.remove(from)?;
        self.key_aliases.extend(keys.iter().map(|(k, _)| (k.clone(), into)));
        Ok((gained, keys.into_iter().map(|(k, _)| k).collect()))
    }

    /// The live customers carrying a value of an exclusive group.
    fn valued(&self) -> Vec<u32> {
        self.m.tags.iter().filter(|(_, t)| t.iter().any(|t| self.m.group_of(t).is_some())).map(|(&c, _)| c).collect()
    }

    /// The live customer key `key` resolves to: its own, or the one it was merged into.
    fn id_of(&self, key: &str) -> Option<u32> {
        self.m.keys.get(key).copied().or_else(|| self.key_aliases.iter().find(|(k, _)| k == key).map(|&(_, c)| c))
    }

    /// Customers a query term `raw` matches, resolved through the aliases.
    fn eval(&self, q: &Q) -> Result<BTreeSet<u32>, Unknown> {
        self.m.eval(&self.resolved(q))
    }

    fn resolved(&self, q: &Q) -> Q {
        match q {
            Q::Tag(raw) => {
                let norm = normalize(raw).expect("valid test names");
                Q::Tag(self.resolve(&norm).unwrap_or(norm))
            }
            Q::Not(x) => self.resolved(x).not(),
            Q::And(xs) => Q::And(xs.iter().map(|x| self.resolved(x)).collect()),
            Q::Or(xs) => Q::Or(xs.iter().map(|x| self.resolved(x)).collect()),
            other => other.clone(),
        }
    }
}

/// Every name the test writes or aliases, normalized, once.
fn all_names() -> Vec<String> {
    let mut v: Vec<String> = TAGS.iter().chain(&ALIASES).chain(&RENAMED).filter_map(|n| normalize(n)).collect();
    v.sort();
    v.dedup();
    v
}

fn engine_and_model() -> (Engine, Aliased) {
    let mut e = Engine::new();
    let mut m = Model::default();
    for (c, key) in (0..CUSTOMERS).zip(KEYS) {
        assert_eq!(e.customer(key).unwrap(), CustomerId(c));
        assert_eq!(m.customer(key).unwrap(), c);
    }
    e.define_exclusive_group("gender").unwrap();
    m.define_exclusive_group("gender").unwrap();
    // Two values to start with, so merges into a value of the group find customers to move.
    for value in ["gender:male", "gender:female"] {
        e.ensure_tag(value).unwrap();
        m.ensure(value);
    }
    (e, Aliased { m, aliases: Vec::new(), key_aliases: Vec::new() })
}

fn audience(cs: &[u32]) -> (Audience, BTreeSet<u32>) {
    (cs.iter().map(|&c| CustomerId(c)).collect(), cs.iter().copied().filter(|&c| c < CUSTOMERS).collect())
}

/// Every observable: the pool (tags only), which customers are live and their tags and
/// alias keys, every key's customer, each alias and its target, each tag's aliases in
/// definition order, and every name's query (and its `NOT`), count and id.
fn compare(e: &Engine, m: &Aliased, step: usize) -> TestResult {
    let tags: BTreeSet<&str> = e.tags().map(|t| t.name).collect();
    prop_assert_eq!(&tags, &m.m.pool.iter().map(String::as_str).collect(), "pool after step {}", step);
    prop_assert_eq!(e.customer_count(), m.m.live.len() as u64, "customers after step {}", step);
    for c in 0..CUSTOMERS {
        let id = CustomerId(c);
        prop_assert_eq!(e.is_customer(id), m.m.live.contains(&c), "customer {} live after {}", c, step);
        let Some(want) = m.m.tags.get(&c) else {
            prop_assert!(matches!(e.tags_of(id), Err(Error::UnknownCustomer { .. })), "tags_of({}) after {}", c, step);
            continue;
        };
        let got: BTreeSet<&str> = e.tags_of(id).unwrap().into_iter().collect();
        prop_assert_eq!(&got, &want.iter().map(String::as_str).collect(), "customer {} after {}", c, step);
        let keys: Vec<&str> = m.key_aliases.iter().filter(|(_, k)| *k == c).map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(e.key_aliases(id).unwrap(), keys, "key_aliases({}) after {}", c, step);
    }
    for key in KEYS {
        prop_assert_eq!(e.id_of(key), m.id_of(key).map(CustomerId), "id_of({}) after {}", key, step);
    }
    let aliases: BTreeSet<(&str, &str)> = e.aliases().collect();
    let want: BTreeSet<(&str, &str)> = m.aliases.iter().map(|(a, t)| (a.as_str(), t.as_str())).collect();
    prop_assert_eq!(aliases, want, "aliases after step {}", step);
    for t in &m.m.pool {
        let want: Vec<&str> = m.aliases.iter().filter(|(_, target)| target == t).map(|(a, _)| a.as_str()).collect();
        prop_assert_eq!(e.aliases_of(t).unwrap(), want, "aliases_of({}) after {}", t, step);
    }
    for n in all_names() {
        let q = Q::Tag(n.clone());
        let got = e.select(&Query::tag(&n)).map(|a| a.to_ids().into_iter().collect::<BTreeSet<u32>>());
        match (got, m.eval(&q)) {
            (Ok(g), Ok(w)) => prop_assert_eq!(g, w, "query {} after {}", n, step),
            (Err(Error::UnknownTag { .. }), Err(Unknown::Tag(_))) => {}
            (g, w) => prop_assert!(false, "query {n} after {step}: {g:?} vs {w:?}"),
        }
        if let Ok(w) = m.eval(&q.clone().not()) {
            prop_assert_eq!(e.count(&Query::tag(&n).not()).unwrap(), w.len() as u64, "NOT {} after {}", n, step);
        }
        let resolved = m.resolve(&n);
        prop_assert_eq!(e.tag_id(&n).and_then(|id| e.tag_name(id)), resolved.as_deref(), "tag_id({})", n);
        if let Some(t) = &resolved {
            prop_assert_eq!(e.tag_count(&n).unwrap(), m.m.matches(t).len() as u64, "tag_count({})", n);
            prop_assert_eq!(e.tag_info(&n).unwrap().name, t.as_str());
        }
    }
    Ok(())
}

/// `merge_customers(into, from)` on both; the report's tags (in tag id order) and keys.
fn merge_customers(e: &mut Engine, m: &mut Aliased, what: &str, into: u32, from: u32) -> TestResult {
    let got = e.merge_customers(CustomerId(into), CustomerId(from)).map(|r| (r.tags, r.keys));
    let want = m.merge_customers(into, from).map(|(mut tags, keys)| {
        tags.sort_by_key(|t| e.tag_id(t));
        (tags, keys)
    });
    same(format!("{what}: {from} into {into}"), got, want)
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn aliases_resolve_like_the_naive_model(ops in prop::collection::vec(op(), 1..40), q in (pick(), pick())) {
        let (mut e, mut m) = engine_and_model();
        for (step, op) in ops.iter().enumerate() {
            let what = format!("step {step}: {op:?}");
            match op {
                Op::Define(n) => {
                    let n = TAGS[n.index(TAGS.len())];
                    let got = e.define_tag(n, TagKind::Custom).map(|id| e.tag_name(id).unwrap().to_owned());
                    same(&what, got, m.define(n))?;
                }
                Op::Alias(a, t) => {
                    let (a, t) = (ALIASES[a.index(ALIASES.len())], name(*t, t.0 % 2 == 0));
                    let got = e.alias_tag(a, t).map(|id| e.tag_name(id).unwrap().to_owned());
                    same(&what, got, m.alias(a, t))?;
                }
                Op::AliasPooled(a, t) => {
                    let a = ALIASES[a.index(ALIASES.len())];
                    let t = merge_name(&m, *t, 2);
                    let got = e.alias_tag(a, &t).map(|id| e.tag_name(id).unwrap().to_owned());
                    same(&what, got, m.alias(a, &t))?;
                }
                Op::Unalias(a) => {
                    let a = ALIASES[a.index(ALIASES.len())];
                    let got = e.unalias_tag(a).map(|id| e.tag_name(id).unwrap().to_owned());
                    same(&what, got, m.unalias(a))?;
                }
                Op::Tag(c, n, alias) => same(&what, e.tag(CustomerId(*c), name(*n, *alias)), m.tag(*c, name(*n, *alias)))?,
                Op::Untag(c, n, alias) => {
                    same(&what, e.untag(CustomerId(*c), name(*n, *alias)), m.untag(*c, name(*n, *alias)))?
                }
                Op::TagAll(cs, n, alias) => {
                    let (a, set) = audience(cs);
                    same(&what, e.tag_all(&a, name(*n, *alias)), m.tag_all(&set, name(*n, *alias)))?;
                }
                Op::UntagAll(cs, n, alias) => {
                    let (a, set) = audience(cs);
                    same(&what, e.untag_all(&a, name(*n, *alias)), m.untag_all(&set, name(*n, *alias)))?;
                }
                Op::Pairs(pairs) => {
                    let pairs: Vec<(u32, &str)> = pairs.iter().map(|&(c, n, a)| (c, name(n, a))).collect();
                    let got = e.tag_pairs(pairs.iter().map(|&(c, n)| (CustomerId(c), n)));
                    same(&what, got, m.pairs(&pairs))?;
                }
                Op::Delete(n, alias) => same(&what, e.delete_tag(name(*n, *alias)), m.delete(name(*n, *alias)))?,
                Op::Rename(n, alias, to) => {
                    let (old, new) = (name(*n, *alias), RENAMED[to.index(RENAMED.len())]);
                    same(&what, e.rename_tag(old, new), m.rename(old, new))?;
                }
                Op::MergeTags(f, fw, i, iw) => {
                    let (from, into) = (merge_name(&m, *f, *fw), merge_name(&m, *i, *iw));
                    let got = e
                        .merge_tags(&from, &into)
                        .map(|r| (r.from, r.into, r.moved, r.added, r.displaced, r.rewritten.len()));
                    same(format!("{what}: {from:?} into {into:?}"), got, m.merge_tags(&from, &into))?;
                }
                Op::MergeCustomers(into, from) => merge_customers(&mut e, &mut m, &what, *into, *from)?,
                Op::MergeValued(into, from) => {
                    let valued = m.valued();
                    let (into, from) = (into.of(&valued).unwrap_or(0), from.of(&valued).unwrap_or(1));
                    merge_customers(&mut e, &mut m, &what, into, from)?;
                }
            }
            compare(&e, &m, step)?;
        }
        // A compound query over two names, each possibly an alias.
        let names = all_names();
        let (a, b) = (q.0.of(&names).unwrap(), q.1.of(&names).unwrap());
        for (query, model) in [
            (Query::tag(&a).and_not(Query::tag(&b)), Q::Tag(a.clone()).and(Q::Tag(b.clone()).not())),
            (Query::tag(&a).or(Query::tag(&b)), Q::Tag(a.clone()).or(Q::Tag(b.clone()))),
            (Query::tag(&a).not(), Q::Tag(a.clone()).not()),
        ] {
            let got = e.select(&query).map(|x| x.to_ids().into_iter().collect::<BTreeSet<u32>>());
            match (got, m.eval(&model)) {
                (Ok(g), Ok(w)) => prop_assert_eq!(g, w, "{}", query),
                (Err(Error::UnknownTag { .. }), Err(Unknown::Tag(_))) => {}
                (g, w) => prop_assert!(false, "{query}: {g:?} vs {w:?}"),
            }
        }
    }
}

// ------------------------------------------------------------------ edge cases

/// `gender:male` spelled three ways in an exclusive group where `gender:female` is present.
fn gender() -> common::Result<(Engine, Vec<CustomerId>)> {
    let mut e = Engine::new();
    let cs = (0..4).map(|i| e.customer(&format!("c{i}"))).collect::<common::Result<Vec<_>>>()?;
    e.define_exclusive_group("gender")?;
    e.ensure_tag("gender:female")?;
    e.ensure_tag("gender:male")?;
    for alias in ["男", "M", "male"] {
        e.alias_tag(alias, "gender:male")?;
    }
    e.alias_tag("女", "gender:female")?;
    Ok((e, cs))
}

#[test]
fn three_spellings_of_one_exclusive_value() -> common::Result {
    let (mut e, cs) = gender()?;
    for (&c, spelling) in cs.iter().zip(["男", "M", "male", "gender:male"]) {
        e.tag(c, "gender:female")?;
        assert!(e.tag(c, spelling)?, "{spelling}");
        assert_eq!(e.tags_of(c)?, ["gender:male"], "{spelling} replaces gender:female");
        assert!(!e.tag(c, "gender:male")?, "the same tag, already carried");
    }
    for q in ["男", "M", "male", "gender:male", "男 OR M", "M AND NOT 女"] {
        assert_eq!(e.count(q)?, 4, "{q}");
    }
    assert_eq!(e.count("女")?, 0);
    assert_eq!(e.tag_count("male")?, 4);
    assert_eq!(e.tag_info("M")?.name, "gender:male");
    assert_eq!(e.tag_id("男"), e.tag_id("gender:male"));
    // Listings show tags only.
    let names: Vec<&str> = e.tags().map(|t| t.name).collect();
    assert_eq!(names, ["gender:female", "gender:male"]);
    assert_eq!(e.tags_in_group("gender")?.len(), 2);
    // untag through an alias
    assert!(e.untag(cs[0], "M")?);
    assert!(e.tags_of(cs[0])?.is_empty());
    assert_eq!(e.untag_all(&e.query("*")?, "男")?, 3);
    // A breakdown names the values themselves.
    e.tag(cs[1], "女")?;
    let b = e.breakdown(&e.query("*")?, "gender")?;
    assert_eq!(b.parts, [("gender:female".to_owned(), 1), ("gender:male".to_owned(), 0)]);
    Ok(())
}

#[test]
fn aliases_of_lists_in_definition_order_and_follows_renames() -> common::Result {
    let (mut e, cs) = gender()?;
    assert_eq!(e.aliases_of("gender:male")?, ["男", "M", "male"]);
    assert_eq!(e.aliases_of("M")?, ["男", "M", "male"], "named by an alias, the tag's aliases");
    assert_eq!(e.aliases_of("gender:female")?, ["女"]);
    e.tag(cs[0], "M")?;
    e.rename_tag("gender:male", "gender:man")?;
    assert_eq!(e.aliases_of("gender:man")?, ["男", "M", "male"]);
    assert_eq!(e.tags_of(cs[0])?, ["gender:man"]);
    assert_eq!(e.count("male")?, 1);
    let all: Vec<(&str, &str)> = e.aliases().collect();
    assert_eq!(all, [("女", "gender:female"), ("男", "gender:man"), ("M", "gender:man"), ("male", "gender:man")]);
    // Removing one leaves the others, in order.
    assert_eq!(e.unalias_tag("M")?, e.tag_id("gender:man").unwrap());
    assert_eq!(e.aliases_of("gender:man")?, ["男", "male"]);
    e.alias_tag("M", "gender:man")?;
    assert_eq!(e.aliases_of("gender:man")?, ["男", "male", "M"], "a new definition goes last");
    assert!(matches!(e.aliases_of("nobody"), Err(Error::UnknownTag { .. })));
    Ok(())
}

#[test]
fn tag_pairs_resolve_aliases() -> common::Result {
    let (mut e, cs) = gender()?;
    e.tag(cs[3], "gender:female")?;
    let added = e.tag_pairs([
        (cs[0], "M"),
        (cs[1], "女"),
        (cs[1], "男"), // the last value given wins, by whichever name
        (cs[2], "male"),
        (cs[2], "gender:male"),
        (cs[3], " male "),
        (cs[0], "vip"),
    ])?;
    assert_eq!(added, 5, "c0 gender:male + vip, c1 gender:male, c2 gender:male, c3 gender:male");
    for &c in &cs {
        assert!(e.tags_of(c)?.contains(&"gender:male"));
        assert!(!e.tags_of(c)?.contains(&"gender:female"));
    }
    // A load creating a tag under an alias fails whole.
    let err = e.tag_pairs([(cs[0], "new"), (cs[1], "M/extra")]).unwrap_err();
    assert!(matches!(&err, Error::AliasConflict { alias, .. } if alias == "M"), "{err}");
    assert_eq!(e.tag_id("new"), None, "nothing applied");
    Ok(())
}

#[test]
fn an_alias_cannot_shadow_a_tag_nor_a_tag_an_alias() -> common::Result {
    let (mut e, cs) = gender()?;
    // alias -> tag
    let err = e.alias_tag("gender:female", "gender:male").unwrap_err();
    assert_eq!(err, Error::AliasConflict { alias: "gender:female".into(), existing: AliasClash::Tag });
    assert!(err.to_string().contains("cannot shadow a tag"), "{err}");
    assert!(matches!(e.alias_tag(" gender:male ", "gender:male"), Err(Error::AliasConflict { .. })));
    // an alias of another tag
    let err = e.alias_tag("M", "gender:female").unwrap_err();
    let want = AliasClash::AliasOf { target: "gender:male".into() };
    assert_eq!(err, Error::AliasConflict { alias: "M".into(), existing: want.clone() });
    assert!(err.to_string().contains("Engine::unalias_tag"), "{err}");
    // tag -> alias: every way a tag of an alias's name could be created
    let shadow = |r: Result<_, Error>| matches!(r, Err(Error::AliasConflict { alias, existing: AliasClash::AliasOf { .. } }) if alias == "M");
    assert!(shadow(e.define_tag("M", TagKind::Value).map(|_| ())));
    assert!(shadow(e.tag(cs[0], "M/extra").map(|_| ())), "an ancestor of a new tag");
    assert!(shadow(e.ensure_tag("M/extra").map(|_| ())));
    assert!(shadow(e.tag_all(&e.query("*")?, "M/x").map(|_| ())));
    e.ensure_tag("vip")?;
    assert!(shadow(e.rename_tag("vip", "M")));
    assert!(shadow(e.rename_tag("vip", "M/vip")), "a new ancestor of the new name");
    assert!(shadow(e.define_rule_tag("M", "vip").map(|_| ())));
    e.define_exclusive_group("size")?;
    e.alias_tag("size:xl", "vip")?;
    let plan = SegmentPlan::new([("xl", "vip")], "rest")?;
    assert!(matches!(e.apply_plan("size", &plan), Err(Error::GroupInUse { .. } | Error::AliasConflict { .. })));
    e.alias_tag("campaign:xl", "vip")?;
    let err = e.apply_plan("campaign", &plan).unwrap_err();
    assert!(matches!(&err, Error::AliasConflict { alias, .. } if alias == "campaign:xl"), "{err}");
    assert!(e.applied_plans().next().is_none(), "nothing changed");
    // Once a plan owns the group, its alias stays (and may be defined again); a new one is
    // refused, as a name the plan may create.
    e.apply_plan("campaign", &SegmentPlan::new([("big", "vip")], "rest")?)?;
    e.alias_tag("campaign:xl", "vip")?;
    assert!(matches!(e.alias_tag("campaign:xxl", "vip"), Err(Error::DerivedName { .. })));
    // delete and rename take the tag's own name
    assert!(shadow(e.delete_tag("M").map(|_| ())));
    assert!(shadow(e.rename_tag("M", "man")));
    assert_eq!(e.tag_count("gender:male")?, 0, "the tag itself is untouched");
    // The tag keeps working; nothing was created.
    assert_eq!(e.tag_id("M/extra"), None);
    assert_eq!(e.tag_id("M"), e.tag_id("gender:male"));
    Ok(())
}

#[test]
fn aliasing_again_is_idempotent_and_chains_point_at_the_final_tag() -> common::Result {
    let (mut e, _) = gender()?;
    let male = e.tag_id("gender:male").unwrap();
    assert_eq!(e.alias_tag("M", "gender:male")?, male);
    assert_eq!(e.alias_tag(" M ", "male")?, male, "same target through another alias: still a no-op");
    assert_eq!(e.aliases_of("gender:male")?, ["男", "M", "male"]);
    // An alias of an alias points at the tag; removing the first leaves the second.
    assert_eq!(e.alias_tag("man", "M")?, male);
    e.unalias_tag("M")?;
    assert_eq!(e.tag_id("man"), Some(male));
    assert_eq!(e.aliases_of("gender:male")?, ["男", "male", "man"]);
    // Unicode names normalize like tag names (NFC, trimmed).
    e.alias_tag("ma\u{0301}le", "gender:male")?;
    assert_eq!(e.tag_id("m\u{00E1}le"), Some(male));
    // Not an alias
    assert_eq!(e.unalias_tag("M"), Err(Error::NotAnAlias { name: "M".into(), is_tag: false }));
    let err = e.unalias_tag("gender:male").unwrap_err();
    assert_eq!(err, Error::NotAnAlias { name: "gender:male".into(), is_tag: true });
    assert!(err.to_string().contains("delete_tag"), "{err}");
    assert!(matches!(e.alias_tag("", "gender:male"), Err(Error::InvalidTagName { .. })));
    assert!(matches!(e.alias_tag("a\u{200B}", "gender:male"), Err(Error::InvalidTagName { .. })));
    Ok(())
}

#[test]
fn an_unknown_target_suggests_tags() {
    let (mut e, _) = gender().unwrap();
    let err = e.alias_tag("f", "gender:femal").unwrap_err();
    assert_eq!(common::suggestions::<()>(Err(err))[0], "gender:female");
    assert!(e.aliases_of("gender:female").unwrap() == ["女"], "nothing added");
    // An empty engine
    let mut empty = Engine::new();
    assert!(matches!(empty.alias_tag("M", "gender:male"), Err(Error::UnknownTag { .. })));
    assert_eq!(empty.aliases().count(), 0);
}

#[test]
fn deleting_the_target_drops_its_aliases() -> common::Result {
    let (mut e, cs) = gender()?;
    e.tag(cs[0], "M")?;
    assert_eq!(e.delete_tag("gender:male")?, 1);
    assert_eq!(e.tag_id("M"), None);
    assert!(matches!(e.query("男"), Err(Error::UnknownTag { .. })));
    assert_eq!(e.aliases().collect::<Vec<_>>(), [("女", "gender:female")]);
    // The names are free again: as tags or as aliases of another tag.
    e.tag(cs[0], "M")?;
    assert_eq!(e.tags_of(cs[0])?, ["M"]);
    e.alias_tag("male", "gender:female")?;
    assert_eq!(e.count("male")?, 0);
    Ok(())
}

#[test]
fn an_alias_of_a_parent_reads_its_descendants() -> common::Result {
    let mut e = Engine::new();
    let (a, b) = (e.customer("a")?, e.customer("b")?);
    e.tag(a, "interest/sports/running")?;
    e.tag(b, "interest/sports")?;
    e.alias_tag("运动", "interest/sports")?;
    e.alias_tag("run", "interest/sports/running")?;
    assert_eq!(e.count("运动")?, 2);
    assert_eq!(e.tag_count("运动")?, 2);
    assert_eq!(e.count("运动 AND NOT run")?, 1);
    // An alias with a '/' is only a name: no parent `run` is made, and `run/x` would be one.
    e.alias_tag("sport/run", "interest/sports/running")?;
    assert_eq!(e.tag_id("sport"), None);
    assert!(matches!(e.tag(a, "run/x"), Err(Error::AliasConflict { .. })));
    // breakdown and describe
    let all = e.query("*")?;
    let parts = e.breakdown(&all, "运动/*")?.parts;
    assert_eq!(parts, [("interest/sports/running".to_owned(), 1)]);
    let d = e.describe(&e.query("run")?, DescribeOptions::new().exclude(["run", "运动"]));
    let listed: Vec<&str> = d.tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(listed, ["interest"], "the aliases excluded the tags they point at");
    // explain names the tag itself
    assert!(e.explain("运动")?.to_string().contains("interest/sports"));
    Ok(())
}

#[test]
fn derived_tags_can_be_aliased_and_read_but_not_written() -> common::Result {
    let mut e = Engine::new();
    let c = e.customer("c")?;
    e.tag(c, "vip")?;
    e.define_rule_tag("high_value", "vip")?;
    e.alias_tag("hv", "high_value")?;
    assert_eq!(e.count("hv")?, 1);
    let err = e.tag(c, "hv").unwrap_err();
    assert_eq!(err, e.tag(c, "high_value").unwrap_err(), "the same error as the target's own name");
    assert!(matches!(err, Error::DerivedName { .. }));
    assert!(matches!(e.tag_pairs([(c, "hv")]), Err(Error::DerivedName { .. })));
    assert!(matches!(e.untag(c, "hv"), Err(Error::DerivedName { .. })));
    // Names in a group a layer owns cannot be aliases: the layer creates its values.
    assert!(matches!(e.alias_tag("rfm:best", "vip"), Err(Error::DerivedName { .. })));
    assert!(matches!(e.alias_tag("stage:x", "vip"), Err(Error::DerivedName { .. })));
    // Deleting the rule tag drops its alias and its rule.
    e.delete_tag("high_value")?;
    assert_eq!(e.tag_id("hv"), None);
    Ok(())
}

#[test]
fn saved_queries_keep_the_tags_their_aliases_stand_for() -> common::Result {
    let (mut e, cs) = gender()?;
    e.tag(cs[0], "M")?;
    e.tag(cs[1], "女")?;
    e.define_rule_tag("men", "男 OR male")?;
    let rules: Vec<String> = e.rule_tags().map(|(_, q)| q.to_string()).collect();
    assert_eq!(rules, ["gender:male OR gender:male"]);
    // The stored query's own text is the tags', so it parses back without the aliases.
    let sources: Vec<String> = e.rule_tags().map(|(_, q)| q.source().unwrap_or_default().to_owned()).collect();
    assert_eq!(sources, rules);
    let plan = SegmentPlan::new([("women", "女"), ("men", "men")], "rest")?;
    e.apply_plan("campaign", &plan)?;
    let stored: Vec<String> =
        e.applied_plans().flat_map(|(_, p)| p.rules().iter().map(|r| r.query().to_string())).collect();
    assert_eq!(stored, ["gender:female", "men"]);
    let sources: Vec<&str> =
        e.applied_plans().flat_map(|(_, p)| p.rules().iter().map(|r| r.query().source().unwrap_or_default())).collect();
    assert_eq!(sources, stored);
    // Removing the aliases breaks nothing; deleting the tag is refused as for its own name.
    for a in ["男", "M", "male", "女"] {
        e.unalias_tag(a)?;
    }
    e.tag(cs[2], "gender:male")?;
    e.refresh_rules()?;
    assert_eq!(e.count("men")?, 2);
    assert_eq!(e.count("campaign:women")?, 1);
    assert!(matches!(e.delete_tag("gender:male"), Err(Error::TagInUse { .. })));
    // A rule reading a rule tag through an alias is ordered (and a cycle found) as by name.
    e.alias_tag("m", "men")?;
    let err = e.define_rule_tag("men", "m OR vip").unwrap_err();
    assert!(matches!(err, Error::RuleCycle { .. } | Error::InRule { .. }), "{err}");
    // The same plan again, written with aliases, is the same plan.
    e.alias_tag("女", "gender:female")?;
    let again = SegmentPlan::new([("women", "女"), ("men", "m")], "rest")?;
    let moved = e.apply_plan("campaign", &again)?;
    assert!(moved.entered("men").is_none_or(|a| a.is_empty()));
    assert_eq!(e.applied_plans().count(), 1);
    Ok(())
}

#[test]
fn one_customer_and_an_empty_engine() -> common::Result {
    let mut e = Engine::new();
    assert!(matches!(e.unalias_tag("x"), Err(Error::NotAnAlias { is_tag: false, .. })));
    assert!(matches!(e.count("x"), Err(Error::UnknownTag { .. })));
    let c = e.customer("only")?;
    e.tag(c, "高消费")?;
    e.alias_tag("big spender", "高消费")?;
    assert_eq!(e.count("\"big spender\"")?, 1);
    assert_eq!(e.tags_of(c)?, ["高消费"]);
    assert!(e.untag(c, "big spender")?);
    assert_eq!(e.count("高消费")?, 0);
    let debug = format!("{e:?}");
    assert!(debug.contains("aliases: 1"), "{debug}");
    Ok(())
}

#[test]
fn merging_a_tag_moves_its_aliases_to_the_tag_it_joins() {
    let mut e = Engine::new();
    let c = e.customer("c").unwrap();
    e.tag(c, "outdoors").unwrap();
    e.ensure_tag("outdoor").unwrap();
    e.alias_tag("户外", "outdoors").unwrap();
    // `from` is named by its own name, as delete_tag wants it; `into` may be an alias.
    e.alias_tag("outside", "outdoor").unwrap();
    assert!(matches!(e.merge_tags("户外", "outdoor"), Err(audience::Error::AliasConflict { .. })));
    e.merge_tags("outdoors", "outside").unwrap();
    assert_eq!(e.aliases_of("outdoor").unwrap(), ["outside", "户外"]);
    assert_eq!(e.count("户外").unwrap(), 1);
    let d = e.customer("d").unwrap();
    e.tag(d, "户外").unwrap();
    assert_eq!(e.tags_of(d).unwrap(), ["outdoor"]);
}
