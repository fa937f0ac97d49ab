//! The naive model of customers, tags and attributes: `BTreeMap`s and `BTreeSet`s that
//! implement the documented semantics directly, by name, with no index and no cache.
//!
//! - a name is trimmed, each `/` level trimmed and non-empty, in NFC, with no control or
//!   invisible character, at most `MAX_TAG_NAME_LEN` bytes and `MAX_TAG_DEPTH` levels
//!   ([`normalize`]); attribute names follow the same rules;
//! - a tag term matches customers carrying the tag or any descendant (`a/b` is below `a`);
//! - tagging `a/b/c` creates `a/b` and `a` (known names from then on, even without members);
//! - `NOT` is relative to the live customers; removed customers match nothing;
//! - assigning a value of a declared exclusive group removes the customer's other values;
//! - renaming moves the whole subtree (new names are the new root plus each old suffix) and
//!   creates the missing ancestors of the new root; deleting refuses a tag with children;
//! - numeric attributes are a namespace of their own: an attribute is known from its first
//!   value or `define_attr` on; `set_attrs` keeps the last value given per customer and
//!   attribute; removing a customer drops its values;
//! - a comparison matches the live customers that have a value satisfying it, so a customer
//!   without a value matches no comparison (`NOT age >= 30` includes it, `age != 30` does not).
//!
//! Each operation either fails without changing anything, returning the error kinds the engine
//! may give ([`Errs`]), or applies; [`same`] compares the engine's answer with the model's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use audience::{CmpOp, Error, Expr, MAX_TAG_DEPTH, MAX_TAG_NAME_LEN};
use proptest::prelude::*;

use super::{DERIVED_ATTRS, TestResult};

// ------------------------------------------------------------------ names

/// Whether `raw` is a valid tag name (trimmed non-empty, no control character, no invisible
/// character but an emoji's joiner, no empty `/` level, at most `MAX_TAG_NAME_LEN` bytes and
/// `MAX_TAG_DEPTH` levels), and its normal form (NFC): the rules of the crate docs, restated
/// independently.
pub fn normalize(raw: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let t = raw.trim();
    let bad_char = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    // ASCII text holds no invisible character and is its own NFC: the Unicode rules are skipped.
    let ascii = t.is_ascii();
    if t.is_empty() || t.chars().any(bad_char) || (!ascii && hidden(t)) || t.split('/').any(|l| l.trim().is_empty()) {
        return None;
    }
    let joined = t.split('/').map(str::trim).collect::<Vec<_>>().join("/");
    // No white space around the first ':' (the exclusive-group separator).
    let spaced = match joined.split_once(':') {
        Some((g, v)) => format!("{}:{}", g.trim_end(), v.trim_start()),
        None => joined,
    };
    let norm: String = if ascii { spaced } else { spaced.nfc().collect() };
    (norm.len() <= MAX_TAG_NAME_LEN && depth(&norm) <= MAX_TAG_DEPTH).then_some(norm)
}

/// Whether `t` holds an invisible character: a default-ignorable code point or the blank
/// braille pattern, but for what emoji need (a joiner between emoji, a variation selector
/// after one, the tag characters of a subdivision flag).
fn hidden(t: &str) -> bool {
    let invisible = |c: char| {
        matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
            | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
    };
    // Emoji are Unicode's `Emoji=Yes` characters, but for keycap bases and regional indicators.
    let emoji = |c: char| {
        use unicode_properties::UnicodeEmoji;
        !matches!(c, '0'..='9' | '#' | '*' | '\u{1F1E6}'..='\u{1F1FF}') && c.is_emoji_char()
    };
    let is_tag = |c: char| ('\u{E0020}'..='\u{E007F}').contains(&c);
    let chars: Vec<char> = t.chars().collect();
    // A subdivision flag: 🏴, tag digits or lower-case tag letters, the cancel tag.
    let in_flag = |i: usize| {
        let (mut lo, mut hi) = (i, i);
        while lo > 0 && is_tag(chars[lo - 1]) {
            lo -= 1;
        }
        while hi + 1 < chars.len() && is_tag(chars[hi + 1]) {
            hi += 1;
        }
        lo > 0
            && chars[lo - 1] == '\u{1F3F4}'
            && hi > lo
            && chars[hi] == '\u{E007F}'
            && chars[lo..hi].iter().all(|&c| matches!(c, '\u{E0030}'..='\u{E0039}' | '\u{E0061}'..='\u{E007A}'))
    };
    chars.iter().enumerate().any(|(i, &c)| {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        let in_emoji = match c {
            '\u{200D}' => before.is_some_and(|b| b == '\u{FE0F}' || emoji(b)) && after.is_some_and(emoji),
            '\u{FE0E}' | '\u{FE0F}' => before
                .is_some_and(|b| if matches!(b, '0'..='9' | '#' | '*') { after == Some('\u{20E3}') } else { emoji(b) }),
            c if is_tag(c) => in_flag(i),
            _ => false,
        };
        invisible(c) && !in_emoji
    })
}

pub fn parent(name: &str) -> Option<&str> {
    name.rfind('/').map(|i| &name[..i])
}

/// `name` is `root` or below it in the `/` hierarchy.
pub fn in_subtree(name: &str, root: &str) -> bool {
    name == root || (name.len() > root.len() && name.starts_with(root) && name.as_bytes()[root.len()] == b'/')
}

/// `name`, then its ancestors, nearest first.
pub fn self_and_ancestors(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |n| parent(n))
}

/// Levels of a name: `a/b/c` has 3.
pub fn depth(name: &str) -> usize {
    name.split('/').count()
}

/// The group prefix of `group:value`, declared or not.
fn self_group(name: &str) -> Option<&str> {
    name.split_once(':').map(|(g, _)| g)
}

// ------------------------------------------------------------------ errors

/// A predicted error: the error kinds the engine may return.
pub type Errs = BTreeSet<&'static str>;

pub fn err<T>(kind: &'static str) -> std::result::Result<T, Errs> {
    Err([kind].into_iter().collect())
}

/// The kind of an engine error, as [`Errs`] names it.
pub fn kind(e: &Error) -> &'static str {
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
        Error::InvalidPlan { .. } => "InvalidPlan",
        Error::InRule { .. } => "InRule",
        Error::GroupInUse { .. } => "GroupInUse",
        Error::TagInUse { .. } => "TagInUse",
        Error::RuleCycle { .. } => "RuleCycle",
        Error::MergeSelf { .. } => "MergeSelf",
        Error::InvalidMerge { .. } => "InvalidMerge",
        Error::AliasConflict { .. } => "AliasConflict",
        Error::NotAnAlias { .. } => "NotAnAlias",
        Error::InvalidPortableBitmap { .. } => "InvalidPortableBitmap",
        _ => "other",
    }
}

/// The engine's answer is the model's: equal values, or an error of a predicted kind.
pub fn same<T: PartialEq + std::fmt::Debug>(
    what: impl Display,
    got: std::result::Result<T, Error>,
    want: std::result::Result<T, Errs>,
) -> TestResult {
    match (got, want) {
        (Ok(g), Ok(w)) => prop_assert_eq!(g, w, "{}", what),
        (Err(e), Err(kinds)) => prop_assert!(kinds.contains(kind(&e)), "{what}: got {e:?}, expected one of {kinds:?}"),
        (Ok(g), Err(kinds)) => prop_assert!(false, "{what}: got Ok({g:?}), expected an error of {kinds:?}"),
        (Err(e), Ok(w)) => prop_assert!(false, "{what}: got Err({e:?}), expected Ok({w:?})"),
    }
    Ok(())
}

// ------------------------------------------------------------------ the model

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub live: BTreeSet<u32>,
    /// Key -> id of live keyed customers.
    pub keys: BTreeMap<String, u32>,
    pub next_id: u64,
    /// Exact tags of every live customer.
    pub tags: BTreeMap<u32, BTreeSet<String>>,
    /// Every tag name in the pool (ancestors included).
    pub pool: BTreeSet<String>,
    /// Declared exclusive groups, in declaration order.
    pub groups: Vec<String>,
    /// Known attribute names, in creation order.
    pub attr_names: Vec<String>,
    /// Attribute values of live customers: customer -> attribute -> value.
    pub attrs: BTreeMap<u32, BTreeMap<String, i64>>,
}

impl Model {
    /// Customers `0..n`, registered by id.
    pub fn with_customers(n: u32) -> Model {
        let mut m = Model::default();
        for c in 0..n {
            m.customer_id(c).expect("fresh ids");
        }
        m
    }

    pub fn group_of(&self, name: &str) -> Option<&str> {
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

    /// Creates `norm` (normalized) and its missing ancestors, with no check.
    pub fn ensure(&mut self, norm: &str) {
        for n in self_and_ancestors(norm) {
            self.pool.insert(n.to_owned());
        }
    }

    /// Normalizes a name that `tag` would accept (creating it is allowed).
    fn creatable(&self, raw: &str) -> std::result::Result<String, Errs> {
        let Some(norm) = normalize(raw) else { return err("InvalidTagName") };
        if !self.pool.contains(&norm) && !self.can_create(&norm) {
            return err("InvalidTagName");
        }
        Ok(norm)
    }

    /// Normalizes a name that must already be in the pool.
    fn existing(&self, raw: &str) -> std::result::Result<String, Errs> {
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

    fn live_check(&self, c: u32) -> std::result::Result<(), Errs> {
        if self.live.contains(&c) { Ok(()) } else { err("UnknownCustomer") }
    }

    // ---- customers

    pub fn customer(&mut self, key: &str) -> std::result::Result<u32, Errs> {
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

    pub fn customer_id(&mut self, id: u32) -> std::result::Result<u32, Errs> {
        if self.live.contains(&id) && self.keys.values().any(|&k| k == id) {
            return err("CustomerIdTaken");
        }
        self.next_id = self.next_id.max(u64::from(id) + 1);
        if self.live.insert(id) {
            self.tags.insert(id, BTreeSet::new());
        }
        Ok(id)
    }

    pub fn remove(&mut self, c: u32) -> std::result::Result<(), Errs> {
        self.live_check(c)?;
        self.live.remove(&c);
        self.tags.remove(&c);
        self.attrs.remove(&c);
        self.keys.retain(|_, id| *id != c);
        Ok(())
    }

    /// `remove_customers`: the live customers of `audience` go; the others are skipped.
    pub fn remove_customers(&mut self, audience: &BTreeSet<u32>) -> std::result::Result<u64, Errs> {
        let gone: Vec<u32> = audience.intersection(&self.live).copied().collect();
        for &c in &gone {
            self.remove(c)?;
        }
        Ok(gone.len() as u64)
    }

    // ---- attributes

    /// Normalizes an attribute name that may be written (the tag-name rules; not derived).
    fn attr_name(&self, raw: &str) -> std::result::Result<String, Errs> {
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

    pub fn value_of(&self, c: u32, norm: &str) -> Option<i64> {
        self.attrs.get(&c)?.get(norm).copied()
    }

    pub fn set_attr(&mut self, c: u32, raw: &str, v: i64) -> std::result::Result<Option<i64>, Errs> {
        self.live_check(c)?;
        let norm = self.attr_name(raw)?;
        self.create_attr(&norm);
        Ok(self.attrs.entry(c).or_default().insert(norm, v))
    }

    pub fn unset_attr(&mut self, c: u32, raw: &str) -> std::result::Result<Option<i64>, Errs> {
        self.live_check(c)?;
        let norm = self.attr_name(raw)?;
        if !self.attr_names.contains(&norm) {
            return err("UnknownAttribute");
        }
        Ok(self.attrs.get_mut(&c).and_then(|a| a.remove(&norm)))
    }

    /// Bulk: everything checked first (in order), then applied in order, so the last value
    /// given per customer and attribute wins.
    pub fn set_attrs(&mut self, triples: &[(u32, String, i64)]) -> std::result::Result<u64, Errs> {
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

    pub fn define_attr(&mut self, raw: &str) -> std::result::Result<(), Errs> {
        let norm = self.attr_name(raw)?;
        self.create_attr(&norm);
        Ok(())
    }

    /// How many live customers have a value for `norm`.
    pub fn attr_len(&self, norm: &str) -> u64 {
        self.attrs.values().filter(|a| a.contains_key(norm)).count() as u64
    }

    // ---- tags

    pub fn define_exclusive_group(&mut self, raw: &str) -> std::result::Result<(), Errs> {
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

    pub fn tag(&mut self, c: u32, raw: &str) -> std::result::Result<bool, Errs> {
        self.live_check(c)?;
        let norm = self.creatable(raw)?;
        self.ensure(&norm);
        Ok(self.assign(c, &norm))
    }

    pub fn untag(&mut self, c: u32, raw: &str) -> std::result::Result<bool, Errs> {
        self.live_check(c)?;
        let norm = self.existing(raw)?;
        Ok(self.tags.get_mut(&c).expect("live").remove(&norm))
    }

    pub fn tag_pairs(&mut self, pairs: &[(u32, String)]) -> std::result::Result<u64, Errs> {
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
            self.ensure(&norm);
            self.assign(c, &norm);
        }
        Ok(before.iter().map(|(c, old)| self.tags[c].difference(old).count() as u64).sum())
    }

    pub fn tag_all(&mut self, audience: &BTreeSet<u32>, raw: &str) -> std::result::Result<u64, Errs> {
        let norm = self.creatable(raw)?;
        self.ensure(&norm);
        let targets: Vec<u32> = audience.intersection(&self.live).copied().collect();
        Ok(targets.into_iter().map(|c| u64::from(self.assign(c, &norm))).sum())
    }

    pub fn untag_all(&mut self, audience: &BTreeSet<u32>, raw: &str) -> std::result::Result<u64, Errs> {
        let norm = self.existing(raw)?;
        let mut n = 0;
        for c in audience {
            if let Some(tags) = self.tags.get_mut(c) {
                n += u64::from(tags.remove(&norm));
            }
        }
        Ok(n)
    }

    /// `set_tag_from_portable_bytes`: the live customers of `ids` are the members of `raw`
    /// (created if new), the others lose it, and the new ones lose their other value of an
    /// exclusive group. `(added, removed, displaced, skipped)`.
    pub fn set_tag(&mut self, ids: &BTreeSet<u32>, raw: &str) -> std::result::Result<(u64, u64, u64, u64), Errs> {
        let norm = self.creatable(raw)?;
        self.ensure(&norm);
        let keep: BTreeSet<u32> = ids.intersection(&self.live).copied().collect();
        let had = self.members(&norm);
        let removed = had.difference(&keep).count() as u64;
        for c in &had - &keep {
            self.tags.get_mut(&c).expect("members are live").remove(&norm);
        }
        let group = self.group_of(&norm).map(str::to_owned);
        let (mut added, mut displaced) = (0, 0);
        for &c in &keep {
            let tags = self.tags.get_mut(&c).expect("live");
            let others = tags.iter().filter(|t| **t != norm && group.is_some() && self_group(t) == group.as_deref());
            let others: Vec<String> = others.cloned().collect();
            displaced += u64::from(!others.is_empty());
            for t in others {
                tags.remove(&t);
            }
            added += u64::from(tags.insert(norm.clone()));
        }
        Ok((added, removed, displaced, (ids.len() - keep.len()) as u64))
    }

    pub fn delete_tag(&mut self, raw: &str) -> std::result::Result<u64, Errs> {
        let norm = self.existing(raw)?;
        if self.has_children(&norm) {
            return err("TagHasChildren");
        }
        self.pool.remove(&norm);
        Ok(self.tags.values_mut().map(|t| u64::from(t.remove(&norm))).sum())
    }

    pub fn rename_tag(&mut self, old_raw: &str, new_raw: &str) -> std::result::Result<(), Errs> {
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
            if self.bad_group_value(&nn) || depth(&nn) > MAX_TAG_DEPTH || nn.len() > MAX_TAG_NAME_LEN {
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
        self.ensure(&new);
        for tags in self.tags.values_mut() {
            // All at once: a new name may be an old name of the same subtree (`a` -> `a/b`).
            *tags = tags.iter().map(|t| if in_subtree(t, &old) { renamed(t) } else { t.clone() }).collect();
        }
        Ok(())
    }

    // ---- the pool

    /// Every name of the pool, sorted.
    pub fn tag_names(&self) -> Vec<String> {
        self.pool.iter().cloned().collect()
    }

    /// The names of `root`'s subtree (`root` included), sorted.
    fn subtree<'a>(&'a self, root: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.pool
            .range::<str, _>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
            .take_while(move |n| n.starts_with(root))
            .filter(move |n| in_subtree(n, root))
    }

    /// The names strictly below `root`, sorted.
    pub fn below(&self, root: &str) -> Vec<String> {
        self.subtree(root).filter(|n| *n != root).cloned().collect()
    }

    pub fn has_children(&self, name: &str) -> bool {
        let prefix = format!("{name}/");
        self.pool.range(prefix.clone()..).next().is_some_and(|n| n.starts_with(&prefix))
    }

    /// How many direct children `name` has.
    pub fn children(&self, name: &str) -> usize {
        self.subtree(name).filter(|n| parent(n) == Some(name)).count()
    }

    /// The names without children, sorted.
    pub fn leaves(&self) -> Vec<String> {
        self.pool.iter().filter(|n| !self.has_children(n)).cloned().collect()
    }

    /// The names with children, sorted.
    pub fn parents(&self) -> Vec<String> {
        self.pool.iter().filter(|n| self.has_children(n)).cloned().collect()
    }

    /// The customers carrying exactly `norm` (not a descendant).
    pub fn members(&self, norm: &str) -> BTreeSet<u32> {
        self.tags.iter().filter(|(_, t)| t.contains(norm)).map(|(&c, _)| c).collect()
    }

    /// `merge_tags(from, into)` on the members (both checked by the caller): `from`'s
    /// customers carry `into` (in an exclusive group, `into` wins: they lose their other
    /// value), and `from` leaves the pool. `(moved, added, displaced)`: `from`'s customers,
    /// those new to `into`, and those who lost another value of its group.
    pub fn merge_tag(&mut self, from: &str, into: &str) -> (u64, u64, u64) {
        let moved = self.members(from);
        let had = self.members(into);
        let group = self.group_of(into).map(str::to_owned);
        let mut displaced = 0;
        for c in &moved {
            let tags = self.tags.get_mut(c).expect("members are live");
            tags.remove(from);
            if let Some(g) = &group {
                let others: Vec<String> = tags
                    .iter()
                    .filter(|t| *t != into && t.split_once(':').is_some_and(|(p, _)| p == g))
                    .cloned()
                    .collect();
                displaced += u64::from(!others.is_empty());
                for t in others {
                    tags.remove(&t);
                }
            }
            tags.insert(into.to_owned());
        }
        self.pool.remove(from);
        (moved.len() as u64, moved.difference(&had).count() as u64, displaced)
    }

    /// How many customers carry each tag of the pool exactly: [`Model::members`] of every tag
    /// at once.
    pub fn member_counts(&self) -> BTreeMap<&str, u64> {
        let mut out: BTreeMap<&str, u64> = self.pool.iter().map(|n| (n.as_str(), 0)).collect();
        for tags in self.tags.values() {
            for t in tags {
                *out.get_mut(t.as_str()).expect("carried tags are in the pool") += 1;
            }
        }
        out
    }

    // ---- queries

    /// Customers matching tag term `norm`: carrying it or a descendant.
    pub fn matches(&self, norm: &str) -> BTreeSet<u32> {
        self.tags.iter().filter(|(_, t)| t.iter().any(|t| in_subtree(t, norm))).map(|(&c, _)| c).collect()
    }

    /// [`Model::matches`] of every tag of the pool at once.
    pub fn all_matches(&self) -> BTreeMap<&str, BTreeSet<u32>> {
        let mut out: BTreeMap<&str, BTreeSet<u32>> = self.pool.iter().map(|n| (n.as_str(), BTreeSet::new())).collect();
        for (&c, tags) in &self.tags {
            for t in tags {
                for a in self_and_ancestors(t) {
                    out.get_mut(a).expect("ancestors are in the pool").insert(c);
                }
            }
        }
        out
    }

    /// The customers matching `q`, or the first unknown name (left to right).
    pub fn eval(&self, q: &Q) -> std::result::Result<BTreeSet<u32>, Unknown> {
        Ok(match q {
            Q::Tag(raw) => {
                let norm = normalize(raw).expect("queries use valid names");
                if !self.pool.contains(&norm) {
                    return Err(Unknown::Tag(norm));
                }
                self.matches(&norm)
            }
            Q::Cmp(raw, op, lit) => {
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
            Q::Everyone => self.live.clone(),
            Q::Nobody => BTreeSet::new(),
            Q::Not(x) => self.live.difference(&self.eval(x)?).copied().collect(),
            Q::And(xs) => {
                let mut acc = self.live.clone();
                for x in xs {
                    let s = self.eval(x)?;
                    acc = acc.intersection(&s).copied().collect();
                }
                acc
            }
            Q::Or(xs) => {
                let mut acc = BTreeSet::new();
                for x in xs {
                    acc.extend(self.eval(x)?);
                }
                acc
            }
            Q::AndNot(a, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                a.difference(&b).copied().collect()
            }
        })
    }
}

/// An unknown name a query refers to.
#[derive(Clone, Debug, PartialEq)]
pub enum Unknown {
    Tag(String),
    Attr(String),
}

/// `v op lit`, written out (not `CmpOp::holds`, so the model does not borrow the engine's).
pub fn holds(op: CmpOp, v: i64, lit: i64) -> bool {
    match op {
        CmpOp::Eq => v == lit,
        CmpOp::Ne => v != lit,
        CmpOp::Lt => v < lit,
        CmpOp::Le => v <= lit,
        CmpOp::Gt => v > lit,
        CmpOp::Ge => v >= lit,
    }
}

// ------------------------------------------------------------------ queries

/// A query as the model evaluates it: names as written (the model normalizes them).
#[derive(Clone, Debug)]
pub enum Q {
    Tag(String),
    Cmp(String, CmpOp, i64),
    Everyone,
    Nobody,
    Not(Box<Q>),
    And(Vec<Q>),
    Or(Vec<Q>),
    AndNot(Box<Q>, Box<Q>),
}

impl Q {
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Q {
        Q::Not(Box::new(self))
    }

    pub fn and(self, other: Q) -> Q {
        Q::And(vec![self, other])
    }

    pub fn or(self, other: Q) -> Q {
        Q::Or(vec![self, other])
    }

    /// The engine's syntax tree of a query, read back.
    pub fn from_expr(e: &Expr) -> Q {
        match e {
            Expr::Tag(t) => Q::Tag(t.name().to_owned()),
            Expr::Compare(c) => Q::Cmp(c.name().to_owned(), c.op(), c.value()),
            Expr::Everyone => Q::Everyone,
            Expr::Not(x) => Q::from_expr(x).not(),
            Expr::And(xs) => Q::And(xs.iter().map(Q::from_expr).collect()),
            Expr::Or(xs) => Q::Or(xs.iter().map(Q::from_expr).collect()),
            other => panic!("a new Expr variant: {other:?}"),
        }
    }
}
