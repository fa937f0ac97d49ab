//! The tag pool: every tag's name, kind, place in the hierarchy and exclusive group.
//!
//! Tags live in slots indexed by [`TagId`]; a deleted tag leaves an empty slot (ids are not
//! reused). Creating `a/b/c` creates the missing ancestors `a/b` and `a`, so every level of a
//! hierarchy is a real tag that can be listed, counted and queried. The pool knows nothing of
//! customers: the engine pairs it with the bitmap [`Store`](super::Store).
//!
//! Each name is stored once, in its slot: the name index is a hash table of ids (hashed with
//! the standard library's randomly keyed SipHash, so no set of names can be made to collide),
//! and the "did you mean" index ([`Suggest`], two tables) files ids too. A tag costs its slot
//! (32 bytes), its name, 10 to 20 bytes in each of the three tables, and its bitmap;
//! [`Pool::heap_bytes`] counts them.
//!
//! Aliases ([`Aliases`]) are other names of tags, kept beside the name index: [`Pool::lookup`]
//! finds tags only (what the pool's own rules need: ancestors, renames, groups), and
//! [`Pool::resolve`], the one place a name read from a user becomes a tag, tries the name
//! index and then, on a miss, the aliases. A name is a tag's or an alias's, never both:
//! [`Pool::validate_new`] (so [`Pool::create`]) and [`Pool::plan_rename`] refuse an alias's
//! name, [`Pool::add_alias`] a tag's; [`Pool::delete`] drops the deleted tag's aliases.

use std::collections::{BTreeSet, btree_set};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use indexmap::IndexMap;

use super::IdMap;
use super::alias::Aliases;
use super::kind::TagKind;
use super::name::{check_limits, normalize_group, normalize_tag, parent_name, split_group};
use super::suggest::Suggest;
use crate::error::{AliasClash, Error, NameProblem, Result};
use crate::id::TagId;

mod persist;

/// One tag's slot: 32 bytes and its name. Links are `u32`s with [`NONE`] for none (tag ids
/// stop below `u32::MAX`); children lists live beside the slots, for the few tags that have
/// children.
#[derive(Clone, Debug)]
pub(crate) struct TagDef {
    pub(crate) name: Box<str>,
    parent: u32,
    /// Index into `Pool::groups` when the tag is a value of an exclusive group.
    group: u32,
    pub(crate) kind: TagKind,
}

const NONE: u32 = u32::MAX;

impl TagDef {
    /// The parent tag, for a hierarchical name like `a/b`.
    pub(crate) fn parent(&self) -> Option<TagId> {
        (self.parent != NONE).then_some(TagId(self.parent))
    }

    /// The exclusive group (an index into the pool's groups) the tag is a value of.
    pub(crate) fn group(&self) -> Option<u32> {
        (self.group != NONE).then_some(self.group)
    }
}

/// A tag's children, in id order.
pub(crate) type Children<'a> = std::iter::Copied<btree_set::Iter<'a, TagId>>;

#[derive(Clone, Debug, Default)]
pub(crate) struct Group {
    pub(crate) kind: TagKind,
    /// The group's value tags, in creation order.
    pub(crate) members: Vec<TagId>,
}

/// One tag of the pool, as listed by [`Engine::tags`](crate::Engine::tags) and friends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagInfo<'a> {
    /// The tag's id.
    pub id: TagId,
    /// The tag's (normalized) name.
    pub name: &'a str,
    /// The tag's kind.
    pub kind: TagKind,
    /// Customers carrying this very tag (not counting those who only carry a descendant;
    /// [`Engine::tag_count`](crate::Engine::tag_count) counts those too).
    pub len: u64,
    /// The exclusive group the tag is a value of, if any.
    pub group: Option<&'a str>,
    /// The parent tag's name, for a hierarchical name like `a/b`.
    pub parent: Option<&'a str>,
    /// How many direct child tags it has.
    pub children: usize,
    /// Customers a query on the tag matches: those carrying it or any of its descendants.
    /// Equal to `len` for a tag without children; one cached bitmap's length otherwise.
    pub subtree_len: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    slots: Vec<Option<TagDef>>,
    /// Live tag ids, hashed by name (the name itself is in the slot).
    by_name: HashTable<TagId>,
    hasher: RandomState,
    suggest: Suggest,
    live: usize,
    /// The direct children of every tag that has some, in id order (a set, so a child of a
    /// parent of a million leaves out in logarithmic time).
    children: IdMap<BTreeSet<TagId>>,
    groups: IndexMap<Box<str>, Group>,
    /// Other names of tags, consulted by [`Pool::resolve`] on a miss of the name index.
    aliases: Aliases,
    /// Which state of the pool this is ([`Pool::stamp`]).
    stamp: u64,
}

/// The last stamp handed out: stamps are unique in the process.
static STAMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Pool {
    /// Which state of the pool this is: a number no other pool state of this process has,
    /// renewed by every change ([`Pool::restamp`], which the tag layer calls whenever it
    /// takes the pool to change it) and by a decode; 0 for a pool never changed (no tags).
    /// What names resolved to against a stamp holds while the pool has that stamp:
    /// [`Prepared`](crate::Prepared) queries keep it.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp
    }

    /// Gives the pool a new stamp (it is about to change, or was just read).
    pub(crate) fn restamp(&mut self) {
        self.stamp = STAMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    }

    /// The tag named `name` (normalized): tags only, never an alias.
    pub(crate) fn lookup(&self, name: &str) -> Option<TagId> {
        let h = self.hasher.hash_one(name);
        self.by_name.find(h, |&t| self.slots[t.index()].as_ref().is_some_and(|d| &*d.name == name)).copied()
    }

    /// The tag `name` (normalized) stands for: the tag of that name, else the tag an alias of
    /// that name points at. One probe of the name index for a tag's name; the aliases only
    /// on a miss. Every name read from a user (writes, queries, listings) resolves here.
    pub(crate) fn resolve(&self, name: &str) -> Option<TagId> {
        self.lookup(name).or_else(|| self.aliases.get(name))
    }

    /// The tag alias `name` (normalized) points at, if it is an alias.
    pub(crate) fn alias_target(&self, name: &str) -> Option<TagId> {
        self.aliases.get(name)
    }

    /// The aliases.
    pub(crate) fn aliases(&self) -> &Aliases {
        &self.aliases
    }

    /// Makes `alias` (normalized) another name of live tag `target`; whether it is new (an
    /// alias of `target` already is no change). Refused for a tag's name and for an alias of
    /// another tag ([`Error::AliasConflict`]).
    pub(crate) fn add_alias(&mut self, alias: &str, target: TagId) -> Result<bool> {
        self.check(target)?;
        if self.lookup(alias).is_some() {
            return Err(Error::AliasConflict { alias: alias.to_owned(), existing: AliasClash::Tag });
        }
        match self.aliases.get(alias) {
            Some(t) if t == target => Ok(false),
            Some(other) => Err(self.alias_conflict(alias, other)),
            None => {
                self.aliases.insert(alias, target);
                Ok(true)
            }
        }
    }

    /// Removes alias `alias` (normalized); the tag it pointed at.
    pub(crate) fn remove_alias(&mut self, alias: &str) -> Option<TagId> {
        self.aliases.remove(alias)
    }

    /// Refuses `name` (normalized) when it is an alias: [`Error::AliasConflict`] naming the
    /// tag it points at.
    pub(crate) fn check_not_alias(&self, name: &str) -> Result<()> {
        match self.aliases.get(name) {
            Some(t) => Err(self.alias_conflict(name, t)),
            None => Ok(()),
        }
    }

    /// The error for a use of alias `name` (of tag `target`) as a tag's name.
    pub(crate) fn alias_conflict(&self, name: &str, target: TagId) -> Error {
        Error::AliasConflict {
            alias: name.to_owned(),
            existing: AliasClash::AliasOf { target: self.name(target).to_owned() },
        }
    }

    /// Files live tag `id` under its name in both indexes.
    fn index(&mut self, id: TagId) {
        let Pool { slots, by_name, hasher, suggest, .. } = self;
        let name_of = |t: u32| slots[t as usize].as_ref().map_or("", |d| &*d.name);
        let name = name_of(id.0);
        by_name.insert_unique(hasher.hash_one(name), id, |&t| hasher.hash_one(name_of(t.0)));
        suggest.insert(id.0, name);
    }

    /// Makes room for `additional` new tags (a bulk load), so the indexes grow once.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let Pool { slots, by_name, hasher, suggest, .. } = self;
        slots.reserve(additional);
        let name_of = |t: u32| slots[t as usize].as_ref().map_or("", |d| &*d.name);
        by_name.reserve(additional, |&t| hasher.hash_one(name_of(t.0)));
        suggest.reserve(additional);
    }

    /// Unfiles live tag `id` from both indexes (before its name changes or it is deleted).
    fn unindex(&mut self, id: TagId) {
        let name = &*self.slots[id.index()].as_ref().expect("live tag").name;
        if let Ok(e) = self.by_name.find_entry(self.hasher.hash_one(name), |&t| t == id) {
            e.remove();
        }
        self.suggest.remove(id.0, name);
    }

    /// The tag's name (empty for an id not in the pool).
    pub(crate) fn name(&self, id: TagId) -> &str {
        self.def(id).map_or("", |d| &d.name)
    }

    /// `id`'s ancestors, nearest first.
    pub(crate) fn ancestors(&self, id: TagId) -> impl Iterator<Item = TagId> + '_ {
        std::iter::successors(self.def(id).and_then(TagDef::parent), |&p| self.def(p).and_then(TagDef::parent))
    }

    /// `id`'s direct children, in id order.
    pub(crate) fn children(&self, id: TagId) -> Children<'_> {
        static NONE: BTreeSet<TagId> = BTreeSet::new();
        self.children.get(&id).unwrap_or(&NONE).iter().copied()
    }

    pub(crate) fn def(&self, id: TagId) -> Option<&TagDef> {
        self.slots.get(id.index())?.as_ref()
    }

    pub(crate) fn check(&self, id: TagId) -> Result<&TagDef> {
        self.def(id).ok_or(Error::UnknownTagId { id })
    }

    /// Number of slots ever handed out (live and deleted tags): a bound for tag ids.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Approximate heap bytes of the pool: slots, names, child lists, both indexes, groups.
    pub(crate) fn heap_bytes(&self) -> usize {
        let names: usize = self.iter().map(|(_, d)| d.name.len()).sum();
        // A B-tree node holds up to 11 ids with about 60 bytes of links and counts.
        let children: usize = self.children.values().map(|c| c.len() * (size_of::<TagId>() + 6) + 64).sum::<usize>()
            + self.children.capacity() * (size_of::<(TagId, BTreeSet<TagId>)>() + 1);
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| n.len() + g.members.capacity() * size_of::<TagId>() + size_of::<(Box<str>, Group)>() + 16)
            .sum();
        self.slots.capacity() * size_of::<Option<TagDef>>()
            + names
            + children
            + self.by_name.allocation_size()
            + self.suggest.heap_bytes()
            + groups
            + self.aliases.heap_bytes()
    }

    /// Live tags in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TagId, &TagDef)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|d| (TagId(i as u32), d)))
    }

    pub(crate) fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    pub(crate) fn group_name(&self, index: u32) -> Option<&str> {
        self.groups.get_index(index as usize).map(|(n, _)| &**n)
    }

    pub(crate) fn groups(&self) -> impl Iterator<Item = (&str, &Group)> + '_ {
        self.groups.iter().map(|(n, g)| (&**n, g))
    }

    /// The value tags of `id`'s exclusive group (including `id`), or an empty slice.
    pub(crate) fn exclusive_members(&self, id: TagId) -> &[TagId] {
        match self.def(id).and_then(TagDef::group) {
            Some(g) => &self.groups[g as usize].members,
            None => &[],
        }
    }

    /// The exclusive group a (normalized) name would belong to, checking the value's form.
    fn group_for(&self, name: &str) -> Result<Option<u32>> {
        let Some((prefix, value)) = split_group(name) else { return Ok(None) };
        let Some(index) = self.groups.get_index_of(prefix) else { return Ok(None) };
        check_group_value(name, prefix, value)?;
        Ok(Some(index as u32))
    }

    /// The kind a tag created without an explicit kind gets: its group's kind, else its
    /// nearest existing ancestor's, else `Custom`.
    pub(crate) fn implicit_kind(&self, name: &str) -> TagKind {
        if let Some(g) = split_group(name).and_then(|(p, _)| self.groups.get(p)) {
            return g.kind;
        }
        let mut cur = parent_name(name);
        while let Some(p) = cur {
            if let Some(d) = self.lookup(p).and_then(|id| self.def(id)) {
                return d.kind;
            }
            cur = parent_name(p);
        }
        TagKind::Custom
    }

    /// Checks that `name` (normalized, not in the pool) and its missing ancestors can be
    /// created, without creating them: none is an alias's name, a group value is plain.
    pub(crate) fn validate_new(&self, name: &str) -> Result<()> {
        let mut cur = Some(name);
        while let Some(n) = cur {
            if self.lookup(n).is_some() {
                break;
            }
            self.check_not_alias(n)?;
            self.group_for(n)?;
            cur = parent_name(n);
        }
        Ok(())
    }

    /// Whether `name` is (or would be) a value of a declared exclusive group.
    pub(crate) fn is_group_value(&self, name: &str) -> bool {
        split_group(name).is_some_and(|(g, _)| self.groups.contains_key(g))
    }

    /// Creates tag `name` (normalized, not yet in the pool) and its missing ancestors, all of
    /// kind `kind`. Returns the new tag's id.
    pub(crate) fn create(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        debug_assert!(self.lookup(name).is_none());
        // Validate the whole chain before creating anything.
        self.validate_new(name)?;
        let mut missing = vec![name];
        let mut cur = parent_name(name);
        while let Some(p) = cur.filter(|p| self.lookup(p).is_none()) {
            missing.push(p);
            cur = parent_name(p);
        }
        if self.slots.len() + missing.len() > u32::MAX as usize {
            return Err(Error::TagIdsExhausted);
        }
        let mut id = None;
        for n in missing.into_iter().rev() {
            id = Some(self.insert_new(n, kind)?);
        }
        Ok(id.expect("at least the tag itself is created"))
    }

    fn insert_new(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        let id = TagId(self.slots.len() as u32);
        let group = self.group_for(name)?.unwrap_or(NONE);
        let parent = parent_name(name).and_then(|p| self.lookup(p)).map_or(NONE, |p| p.0);
        self.slots.push(Some(TagDef { name: name.into(), kind, parent, group }));
        self.live += 1;
        self.index(id);
        self.link(id);
        Ok(id)
    }

    /// Adds `id` to its parent's children and its group's members.
    fn link(&mut self, id: TagId) {
        let (parent, group) = {
            let d = self.slots[id.index()].as_ref().expect("live tag");
            (d.parent(), d.group())
        };
        if let Some(p) = parent {
            self.children.entry(p).or_default().insert(id);
        }
        if let Some(g) = group {
            self.groups[g as usize].members.push(id);
        }
    }

    /// Removes `id` from its parent's children and its group's members.
    fn unlink(&mut self, id: TagId) {
        let (parent, group) = {
            let d = self.slots[id.index()].as_ref().expect("live tag");
            (d.parent(), d.group())
        };
        if let Some(p) = parent {
            self.detach(p, id);
        }
        if let Some(g) = group {
            self.groups[g as usize].members.retain(|&m| m != id);
        }
    }

    /// Takes `child` out of `parent`'s children.
    fn detach(&mut self, parent: TagId, child: TagId) {
        if let Some(c) = self.children.get_mut(&parent) {
            c.remove(&child);
            if c.is_empty() {
                self.children.remove(&parent);
            }
        }
    }

    pub(crate) fn set_kind(&mut self, id: TagId, kind: TagKind) -> Result<()> {
        self.check(id)?;
        self.slots[id.index()].as_mut().expect("checked").kind = kind;
        Ok(())
    }

    /// `id` and all its descendants, parents before children.
    pub(crate) fn subtree(&self, id: TagId, out: &mut Vec<TagId>) {
        let start = out.len();
        out.push(id);
        let mut i = start;
        while i < out.len() {
            out.extend(self.children(out[i]));
            i += 1;
        }
    }

    /// Deletes a tag that has no children, and its aliases.
    pub(crate) fn delete(&mut self, id: TagId) -> Result<()> {
        let d = self.check(id)?;
        let children = self.children(id);
        if children.len() > 0 {
            return Err(Error::TagHasChildren {
                name: d.name.to_string(),
                children: children.take(crate::error::LISTED + 1).map(|c| self.name(c).to_owned()).collect(),
            });
        }
        self.unlink(id);
        self.unindex(id);
        self.aliases.remove_tag(id);
        self.slots[id.index()] = None;
        self.live -= 1;
        Ok(())
    }

    /// The new names of `id`'s subtree when `id` is renamed to `new_root` (normalized),
    /// validated against names in use (tags' and aliases') and group rules. Changes nothing.
    pub(crate) fn plan_rename(&self, id: TagId, new_root: &str) -> Result<Vec<(TagId, String)>> {
        let old_root = self.check(id)?.name.clone();
        let mut ids = Vec::new();
        self.subtree(id, &mut ids);
        let mut plan = Vec::with_capacity(ids.len());
        for t in ids {
            let old = &self.def(t).expect("subtree of a live tag").name;
            let new = format!("{new_root}{}", &old[old_root.len()..]);
            check_limits(&new)?;
            if let Some(other) = self.lookup(&new) {
                // A name in use by a tag outside the renamed subtree is a clash.
                if !self.is_in_subtree(other, id) {
                    return Err(Error::TagExists { name: new });
                }
            }
            self.check_not_alias(&new)?;
            self.group_for(&new)?;
            plan.push((t, new));
        }
        // Ancestors of the new root that will be created must be valid names too.
        let mut cur = parent_name(new_root);
        while let Some(p) = cur {
            if self.lookup(p).is_some_and(|a| !self.is_in_subtree(a, id)) {
                break;
            }
            self.check_not_alias(p)?;
            self.group_for(p)?;
            cur = parent_name(p);
        }
        Ok(plan)
    }

    fn is_in_subtree(&self, mut t: TagId, root: TagId) -> bool {
        loop {
            if t == root {
                return true;
            }
            match self.def(t).and_then(TagDef::parent) {
                Some(p) => t = p,
                None => return false,
            }
        }
    }

    /// Applies a plan from [`Pool::plan_rename`]; the first entry is the subtree's root.
    pub(crate) fn apply_rename(&mut self, plan: Vec<(TagId, String)>) -> Result<()> {
        let Some(&(root, ref new_root)) = plan.first() else { return Ok(()) };
        let kind = self.check(root)?.kind;
        for &(t, _) in &plan {
            self.unindex(t);
            if let Some(g) = self.slots[t.index()].as_ref().expect("planned tag").group() {
                self.groups[g as usize].members.retain(|&m| m != t);
            }
        }
        // Detach the root from its old parent; inner parent links stay as they are.
        if let Some(p) = self.def(root).and_then(TagDef::parent) {
            self.detach(p, root);
        }
        // Create missing ancestors of the new root (the old names are free now).
        let new_parent = match parent_name(new_root) {
            Some(p) => Some(match self.lookup(p) {
                Some(a) => a,
                None => self.create(p, kind)?,
            }),
            None => None,
        };
        for (t, new) in plan {
            let group = self.group_for(&new)?;
            let d = self.slots[t.index()].as_mut().expect("planned tag");
            d.name = new.into();
            d.group = group.unwrap_or(NONE);
            if t == root {
                d.parent = new_parent.map_or(NONE, |p| p.0);
            }
            self.index(t);
            if let Some(g) = group {
                // Members stay in id (creation) order.
                let members = &mut self.groups[g as usize].members;
                let at = members.partition_point(|&m| m < t);
                members.insert(at, t);
            }
        }
        if let Some(p) = new_parent {
            self.children.entry(p).or_default().insert(root);
        }
        Ok(())
    }

    /// Tags whose names start with `group:`, validated as values of that group.
    pub(crate) fn would_be_members(&self, group: &str) -> Result<Vec<TagId>> {
        let mut out = Vec::new();
        for (id, d) in self.iter() {
            if let Some((prefix, value)) = split_group(&d.name).filter(|(p, _)| *p == group) {
                check_group_value(&d.name, prefix, value)?;
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Declares `group` exclusive (the caller checked conflicts) and adopts its existing values.
    pub(crate) fn declare_group(&mut self, group: &str, kind: TagKind, members: Vec<TagId>) {
        let (index, _) = self.groups.insert_full(group.into(), Group { kind, members: Vec::new() });
        for &m in &members {
            self.slots[m.index()].as_mut().expect("member is live").group = index as u32;
        }
        self.groups[index].members = members;
    }

    /// Up to three known names closest to `name`, closest first (see [`Suggest`]).
    pub(crate) fn suggestions(&self, name: &str) -> Vec<String> {
        let all = self.iter().map(|(_, d)| &*d.name);
        self.suggest.suggest(name, self.live, all, |t| self.def(TagId(t)).map(|d| &*d.name))
    }
}

fn check_group_value(name: &str, group: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.contains(['/', ':']) {
        return Err(Error::InvalidTagName {
            name: name.to_owned(),
            reason: NameProblem::GroupValue { group: group.to_owned() },
        });
    }
    Ok(())
}

// ------------------------------------------------------------------ snapshots

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Pool) -> Vec<&str> {
        let mut v: Vec<&str> = p.iter().map(|(_, d)| &*d.name).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn a_slot_is_32_bytes() {
        assert_eq!(size_of::<Option<TagDef>>(), 32);
    }

    #[test]
    fn creating_a_leaf_creates_its_ancestors() {
        let mut p = Pool::default();
        let leaf = p.create("a/b/c", TagKind::Interest).unwrap();
        assert_eq!(names(&p), ["a", "a/b", "a/b/c"]);
        let a = p.lookup("a").unwrap();
        let mut sub = Vec::new();
        p.subtree(a, &mut sub);
        assert_eq!(sub.len(), 3);
        assert_eq!(p.def(a).unwrap().kind, TagKind::Interest);
        assert_eq!(p.implicit_kind("a/x"), TagKind::Interest);
        assert!(matches!(p.delete(a), Err(Error::TagHasChildren { .. })));
        p.delete(leaf).unwrap();
        assert_eq!(names(&p), ["a", "a/b"]);
    }

    #[test]
    fn rename_moves_a_subtree() {
        let mut p = Pool::default();
        p.create("a/b/c", TagKind::Custom).unwrap();
        p.create("x", TagKind::Custom).unwrap();
        let b = p.lookup("a/b").unwrap();
        let plan = p.plan_rename(b, "x/y").unwrap();
        p.apply_rename(plan).unwrap();
        assert_eq!(names(&p), ["a", "x", "x/y", "x/y/c"]);
        assert_eq!(p.children(p.lookup("a").unwrap()).len(), 0);
        assert_eq!(p.children(p.lookup("x").unwrap()).collect::<Vec<_>>(), [b]);
        // into its own subtree: the old root's name is recreated as a new ancestor
        let plan = p.plan_rename(b, "x/y/z").unwrap();
        p.apply_rename(plan).unwrap();
        assert_eq!(names(&p), ["a", "x", "x/y", "x/y/z", "x/y/z/c"]);
        assert_ne!(p.lookup("x/y"), Some(b));
        let x = p.lookup("x").unwrap();
        assert!(matches!(p.plan_rename(x, "a"), Err(Error::TagExists { .. })));
    }

    #[test]
    fn group_values_are_flat() {
        let mut p = Pool::default();
        p.declare_group("tier", TagKind::Value, vec![]);
        let gold = p.create("tier:gold", TagKind::Value).unwrap();
        assert_eq!(p.exclusive_members(gold), &[gold]);
        assert!(p.create("tier:gold/plus", TagKind::Value).is_err());
        assert!(p.create("tier:", TagKind::Value).is_err());
        assert_eq!(p.implicit_kind("tier:silver"), TagKind::Value);
    }

    #[test]
    fn aliases_resolve_on_a_miss_and_never_share_a_name_with_a_tag() {
        let mut p = Pool::default();
        let male = p.create("gender:male", TagKind::Custom).unwrap();
        let x = p.create("x", TagKind::Custom).unwrap();
        assert!(p.add_alias("M", male).unwrap());
        assert!(!p.add_alias("M", male).unwrap(), "again, for the same tag: no change");
        assert_eq!((p.lookup("M"), p.resolve("M"), p.resolve("x")), (None, Some(male), Some(x)));
        let tag = p.add_alias("x", male).unwrap_err();
        assert_eq!(tag, Error::AliasConflict { alias: "x".into(), existing: AliasClash::Tag });
        let of = AliasClash::AliasOf { target: "gender:male".into() };
        assert_eq!(p.add_alias("M", x), Err(Error::AliasConflict { alias: "M".into(), existing: of.clone() }));
        for bad in [p.create("M", TagKind::Custom), p.create("M/y", TagKind::Custom)] {
            assert_eq!(bad, Err(Error::AliasConflict { alias: "M".into(), existing: of.clone() }));
        }
        assert!(p.plan_rename(x, "M").is_err());
        assert!(p.plan_rename(x, "M/x").is_err(), "a new ancestor");
        p.apply_rename(p.plan_rename(male, "gender:man").unwrap()).unwrap();
        assert_eq!(p.resolve("M"), Some(male), "renames keep aliases");
        p.delete(male).unwrap();
        assert_eq!(p.resolve("M"), None, "deletes drop them");
        assert_eq!(p.aliases().len(), 0);
    }

    #[test]
    fn suggestions_are_close_names() {
        let mut p = Pool::default();
        for n in ["vip", "outdoor", "indoor", "高消费"] {
            p.create(n, TagKind::Custom).unwrap();
        }
        assert_eq!(p.suggestions("vpi"), ["vip"]);
        assert_eq!(p.suggestions("outdor"), ["outdoor"]);
        assert_eq!(p.suggestions("ndoor"), ["indoor"]);
        assert_eq!(p.suggestions("vi"), ["vip"]);
        assert_eq!(p.suggestions("高消"), ["高消费"]);
        assert!(p.suggestions("zzzzzzzz").is_empty());
    }
}
