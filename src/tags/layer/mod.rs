//! [`Tags`]: the tag pool and the bitmap store behind one type, the only writer of tag
//! bitmaps. It keeps the tags' rules: exclusive groups (one value per customer, checked when
//! a group is declared or a rename joins one), the hierarchy's cached unions (through
//! [`Store`]), and the names derived layers own (writing them by hand is an
//! [`Error::DerivedName`]). Derived layers write through `derived.rs`; bulk loads through
//! `bulk.rs`; expiring assignments live in `expiry.rs`, whose buckets every removal here
//! keeps in step; aliases are defined and listed in `aliases.rs`; what is kept per 2^16-id
//! block for reads (the customer index, `by_customer.rs`; the census, `by_block.rs`; their
//! shared bookkeeping, `per_block.rs`) is dropped by the writes in `writes.rs`; one customer's tags merged
//! into another's in `merge_customer.rs`, one tag merged into another in `merge_tags.rs`. All
//! are child modules, so the fields stay private to this folder.
//!
//! Names read from users resolve aliases (through [`Pool::resolve`]): [`Tags::lookup`] and
//! [`Tags::id`] for reads and removals, [`Tags::ensure`] (so `assign`, `assign_all`, the
//! expiring writes) and the bulk loads for writes, which then hold the tag an alias points
//! at to the same rules as the tag's own name (a derived tag is refused alike). What names
//! one tag itself, to delete or rename it, does not ([`Tags::lookup_tag`]).

use std::borrow::Cow;
use std::sync::Arc;

use roaring::RoaringBitmap;

mod aliases;
mod bulk;
mod by_block;
mod by_customer;
mod derived;
mod expiry;
mod merge_customer;
mod merge_tags;
mod owners;
mod per_block;
mod persist;
mod writes;

pub(crate) use by_block::Census;
pub(crate) use derived::DerivedGroup;
use owners::Owners;

use super::name::{normalize_group, normalize_tag};
use super::pool::{Pool, TagInfo};
use super::store::Store;
use super::{TagKind, group_prefix};
use crate::customers::Directory;
use crate::error::{Error, LISTED, Result};
use crate::feed::Feed;
use crate::id::{CustomerId, RULE_OWNER, TagId};

/// The tag pool (names, kinds, exclusive groups, hierarchy) and one bitmap per tag.
///
/// Invariant: every bitmap holds live customers only, so a count never needs an extra
/// intersection with the live set. Every method that adds customers checks them against the
/// [`Directory`] it is given (one customer) or intersects them with its live set (many);
/// the engine tells `Tags` of every removal.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tags {
    /// Shared with the engine's clones and readers; a change to the pool copies it when shared.
    pool: Arc<Pool>,
    store: Store,
    /// The tags and groups derived layers own (`owners.rs`).
    owners: Owners,
    /// The change feed: every write records what it changed, when on (`writes.rs`).
    feed: Feed,
    /// The days expiring assignments end (`expiry.rs`), kept in step by every removal in
    /// `writes.rs`.
    expiry: expiry::Expiry,
    /// Who may have changed since the saved queries were last all computed (`writes.rs`).
    touched: writes::Touched,
    /// Customer -> tags, per block, built by reads and dropped by writes (`by_customer.rs`).
    by_customer: by_customer::ByCustomer,
    /// Every tag's sparse part, per block, for describe; built by reads and dropped by
    /// writes (`by_block.rs`).
    by_block: by_block::ByBlock,
}

impl Tags {
    /// The pool, read-only (for the planner and listings).
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The pool, to change: copied when shared, and given a new stamp ([`Pool::stamp`]) so
    /// that prepared queries resolved against the old state resolve again.
    fn pool_mut(&mut self) -> &mut Pool {
        let pool = Arc::make_mut(&mut self.pool);
        pool.restamp();
        pool
    }

    /// The bitmaps, read-only (for the planner).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Tags in the pool.
    pub(crate) fn len(&self) -> usize {
        self.pool.len()
    }

    // ------------------------------------------------------------------ names

    /// The id of the existing tag `name` names (its own name or an alias), or
    /// [`Error::UnknownTag`] with suggestions.
    pub(crate) fn lookup(&self, name: &str) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        self.pool.resolve(&norm).ok_or_else(|| self.unknown(norm))
    }

    /// The id of the existing tag named `name` itself: an alias's name is an
    /// [`Error::AliasConflict`] (deleting or renaming through an alias would touch a tag the
    /// caller did not name), an unknown name an [`Error::UnknownTag`].
    pub(crate) fn lookup_tag(&self, name: &str) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        if let Some(id) = self.pool.lookup(&norm) {
            return Ok(id);
        }
        self.pool.check_not_alias(&norm)?;
        Err(self.unknown(norm))
    }

    fn unknown(&self, norm: Cow<'_, str>) -> Error {
        Error::UnknownTag {
            suggestions: self.pool.suggestions(&norm),
            name: norm.into_owned(),
            span: None,
            query: None,
        }
    }

    /// The id of the tag `name` names (its own name or an alias), if it is in the pool (an
    /// invalid name is in no pool).
    pub(crate) fn id(&self, name: &str) -> Option<TagId> {
        self.pool.resolve(&normalize_tag(name).ok()?)
    }

    /// The name of tag `id`, if it is in the pool.
    pub(crate) fn name_of(&self, id: TagId) -> Option<&str> {
        self.pool.def(id).map(|d| &*d.name)
    }

    fn name(&self, id: TagId) -> &str {
        self.pool.name(id)
    }

    // ------------------------------------------------------------------ the pool

    /// Defines tag `name` with `kind` (see [`Engine::define_tag`](crate::Engine::define_tag)).
    pub(crate) fn define(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        self.check_writable(&norm)?;
        match self.pool.lookup(&norm) {
            Some(id) => {
                let existing = self.pool.check(id)?.kind;
                if existing != kind && existing != TagKind::Custom {
                    return Err(Error::TagKindConflict { name: norm.into_owned(), existing, requested: kind });
                }
                if existing != kind {
                    self.pool_mut().set_kind(id, kind)?; // unchanged: the pool stays shared
                }
                Ok(id)
            }
            None => self.create(&norm, kind),
        }
    }

    /// Changes the kind of an existing tag.
    pub(crate) fn set_kind(&mut self, name: &str, kind: TagKind) -> Result<()> {
        let id = self.lookup(name)?;
        self.check_writable_id(id)?;
        if self.pool.check(id)?.kind == kind {
            return Ok(()); // the pool stays shared
        }
        self.pool_mut().set_kind(id, kind)
    }

    /// The id of the tag `name` names (its own name or an alias), creating a tag of that
    /// name (with its implicit kind) if it names none.
    pub(crate) fn ensure(&mut self, name: &str) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        match self.writable(&norm)? {
            Some(id) => Ok(id),
            None => {
                let kind = self.pool.implicit_kind(&norm);
                self.create(&norm, kind)
            }
        }
    }

    /// Whether [`Tags::ensure`] of `name` would succeed, changing nothing: its errors, or
    /// the existing tag's id (`None` for a name it would create).
    pub(crate) fn check_ensure(&self, name: &str) -> Result<Option<TagId>> {
        let norm = normalize_tag(name)?;
        match self.writable(&norm)? {
            Some(id) => Ok(Some(id)),
            None => self.pool.validate_new(&norm).map(|()| None),
        }
    }

    /// The tag a write of `norm` (normalized) goes to: the tag of that name, else the tag an
    /// alias of that name points at, else `None` (a new name). Refused when a layer owns the
    /// name, or the tag the alias points at ([`Error::DerivedName`], as for its own name).
    fn writable(&self, norm: &str) -> Result<Option<TagId>> {
        let found = self.pool.lookup(norm);
        if found.is_none()
            && let Some(id) = self.pool.alias_target(norm)
        {
            self.check_writable_id(id)?;
            return Ok(Some(id));
        }
        self.check_writable(norm)?;
        Ok(found)
    }

    /// Creates tag `name` (normalized, new) and its missing ancestors.
    pub(super) fn create(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        let id = self.pool_mut().create(name, kind)?;
        self.store.created(&self.pool, id);
        Ok(id)
    }

    /// Declares exclusive group `group`, whose new value tags get `kind`; a no-op for a
    /// declared group. Refused when a customer already carries two of its values.
    pub(crate) fn define_group(&mut self, group: &str, kind: TagKind) -> Result<()> {
        let group = self.check_group_name(group)?;
        self.declare_group(&group, kind)
    }

    /// Declares `group` (normalized; any owner) unless it is declared, after checking that
    /// no customer carries two of the tags that become its values.
    pub(super) fn declare_group(&mut self, group: &str, kind: TagKind) -> Result<()> {
        if self.pool.group(group).is_some() {
            return Ok(());
        }
        let members = self.pool.would_be_members(group)?;
        if let Some(rule) = self.first_rule_tag(&members) {
            return Err(Error::DerivedName { name: self.name(rule).to_owned(), owner: RULE_OWNER });
        }
        let mut seen = RoaringBitmap::new();
        for (i, &m) in members.iter().enumerate() {
            let bits = self.store.get(m);
            if !seen.is_disjoint(bits) {
                let customer = (&seen & bits).min().expect("not disjoint");
                let first = members[..i].iter().find(|&&o| self.store.get(o).contains(customer)).expect("seen");
                return Err(Error::ExclusiveConflict {
                    group: group.to_owned(),
                    customer: CustomerId(customer),
                    first: self.name(*first).to_owned(),
                    second: self.name(m).to_owned(),
                });
            }
            seen |= bits;
        }
        self.pool_mut().declare_group(group, kind, members);
        Ok(())
    }

    /// The declared exclusive groups, in declaration order.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &str> + '_ {
        self.pool.groups().map(|(n, _)| n)
    }

    /// Deletes a tag without children (named itself, not by an alias) from the pool and
    /// every customer, with its aliases; how many carried it.
    pub(crate) fn delete(&mut self, name: &str) -> Result<u64> {
        let id = self.lookup_tag(name)?;
        self.check_writable_id(id)?;
        self.delete_id(id)
    }

    /// Renames tag `old` (named itself, not by an alias; its descendants move with it) to
    /// `new`, which may be no alias's name; its aliases follow it. Nothing changes on error.
    pub(crate) fn rename(&mut self, old: &str, new: &str) -> Result<()> {
        let id = self.lookup_tag(old)?;
        self.check_writable_id(id)?;
        let new = normalize_tag(new)?;
        if *self.name(id) == *new {
            return Ok(());
        }
        let plan = self.pool.plan_rename(id, &new)?;
        for (t, new_name) in &plan {
            self.check_writable_id(*t)?;
            self.check_writable(new_name)?;
        }
        for (t, new_name) in &plan {
            self.check_joins_group(*t, new_name)?;
        }
        let old_parent = self.pool.check(id)?.parent();
        if self.notes_touches() {
            // The subtree's customers change which parents' queries match them.
            let moved = self.store.members(&self.pool, id).clone();
            self.touch(&moved);
        }
        let before = self.pool.slot_count();
        self.pool_mut().apply_rename(plan)?;
        for created in before..self.pool.slot_count() {
            self.store.created(&self.pool, TagId(created as u32));
        }
        self.store.moved(&self.pool, id, old_parent);
        Ok(())
    }

    /// Refuses a rename of `tag` to `new_name` when that joins an exclusive group in which
    /// a customer of `tag` already carries another value.
    fn check_joins_group(&self, tag: TagId, new_name: &str) -> Result<()> {
        let Some((group_name, group)) = group_prefix(new_name).and_then(|g| Some((g, self.pool.group(g)?))) else {
            return Ok(());
        };
        let bits = self.store.get(tag);
        for &other in group.members.iter().filter(|&&o| o != tag) {
            let other_bits = self.store.get(other);
            if bits.is_disjoint(other_bits) {
                continue;
            }
            let customer = (bits & other_bits).min().expect("not disjoint");
            return Err(Error::ExclusiveConflict {
                group: group_name.to_owned(),
                customer: CustomerId(customer),
                first: self.name(other).to_owned(),
                second: new_name.to_owned(),
            });
        }
        Ok(())
    }

    // ------------------------------------------------------------------ listings

    /// Tag `id` as listed by [`Engine::tags`](crate::Engine::tags).
    pub(crate) fn info(&self, id: TagId) -> TagInfo<'_> {
        let d = self.pool.def(id).expect("listed tags are live");
        TagInfo {
            id,
            name: &d.name,
            kind: d.kind,
            len: self.store.get(id).len(),
            group: d.group().and_then(|g| self.pool.group_name(g)),
            parent: d.parent().map(|p| self.name(p)),
            children: self.pool.children(id).len(),
            subtree_len: self.store.members(&self.pool, id).len(),
        }
    }

    /// Every tag, in id (creation) order.
    pub(crate) fn infos(&self) -> impl Iterator<Item = TagInfo<'_>> + '_ {
        self.pool.iter().map(|(id, _)| self.info(id))
    }

    /// The value tags of exclusive group `group`, in creation order.
    pub(crate) fn in_group(&self, group: &str) -> Result<Vec<TagInfo<'_>>> {
        let g = normalize_group(group)?;
        match self.pool.group(&g) {
            Some(g) => Ok(g.members.iter().map(|&id| self.info(id)).collect()),
            None => Err(Error::UnknownGroup {
                name: g.into_owned(),
                known: self.groups().take(LISTED + 1).map(str::to_owned).collect(),
            }),
        }
    }

    /// The tags `customer` carries (exactly), in id order.
    pub(crate) fn of(&self, customer: u32) -> Vec<&str> {
        self.of_ids(customer).into_iter().map(|t| self.pool.name(t)).collect()
    }

    /// (customer, tag) assignments, summed over all tags.
    pub(crate) fn assignments(&self) -> u64 {
        self.pool.iter().map(|(id, _)| self.store.get(id).len()).sum()
    }

    /// Bytes of the tag bitmaps, serialized.
    pub(crate) fn bitmap_bytes(&self) -> usize {
        self.store.serialized_bytes()
    }

    /// Approximate heap bytes of the pool without the bitmaps.
    pub(crate) fn pool_bytes(&self) -> usize {
        self.pool.heap_bytes()
    }

    /// Heap bytes of the views kept of wide tags' containers.
    pub(crate) fn view_bytes(&self) -> usize {
        self.store.view_bytes()
    }

    /// The budget the views are kept within.
    pub(crate) fn view_budget(&self) -> crate::blocks::cache::ViewBudget {
        self.store.view_budget()
    }

    /// The views' budget in bytes now, with `current` the bitmaps' serialized bytes.
    pub(crate) fn view_budget_bytes(&self, current: usize) -> usize {
        self.store.view_budget_bytes(current)
    }

    /// Sets the views' budget, dropping every view kept.
    pub(crate) fn set_view_budget(&mut self, budget: crate::blocks::cache::ViewBudget) {
        self.store.set_view_budget(budget);
    }

    /// Bytes of the cached subtree unions.
    pub(crate) fn subtree_bytes(&self) -> usize {
        self.store.subtree_bytes()
    }

    // ------------------------------------------------------------------ tagging

    /// Tags live customer `id` with `name` (created if new); for a value of an exclusive
    /// group, the customer's other value is removed. Whether it was new.
    pub(crate) fn assign(&mut self, customers: &Directory, id: CustomerId, name: &str) -> Result<bool> {
        customers.check_live(id)?;
        let tag = self.ensure(name)?;
        self.expiry.forget(tag, id.0); // a plain assignment is for good
        Ok(self.assign_id(id.0, tag))
    }

    /// Adds `customer` to `tag`, removing its other value of an exclusive group.
    fn assign_id(&mut self, customer: u32, tag: TagId) -> bool {
        for i in 0..self.pool.exclusive_members(tag).len() {
            let other = self.pool.exclusive_members(tag)[i];
            if other != tag {
                self.take(other, customer);
            }
        }
        self.put(tag, customer)
    }

    /// Removes tag `name` itself from live customer `id`; whether it carried it.
    pub(crate) fn unassign(&mut self, customers: &Directory, id: CustomerId, name: &str) -> Result<bool> {
        customers.check_live(id)?;
        let tag = self.lookup(name)?;
        self.check_writable_id(tag)?;
        Ok(self.take(tag, id.0))
    }

    /// Tags the live customers of `bits` with `name` (others are skipped); how many were
    /// new. For an exclusive group, their other values are removed.
    pub(crate) fn assign_all(&mut self, customers: &Directory, bits: &RoaringBitmap, name: &str) -> Result<u64> {
        let tag = self.ensure(name)?;
        let add = live_part(bits, customers.live());
        self.expiry.forget_all(tag, &add); // plain assignments are for good
        Ok(self.add_exclusive(tag, add))
    }

    /// The portable image of the customers carrying the tag `name` names itself (not its
    /// descendants).
    pub(crate) fn own_members_image(&self, name: &str) -> Result<Vec<u8>> {
        Ok(crate::blocks::format::image(self.store.get(self.lookup(name)?)))
    }

    /// Makes the live customers of `bits` the members of tag `name` (created if new): the
    /// others lose it, the new ones lose their other value of an exclusive group, and every
    /// membership is for good (no expiry). Through the layer's writes, so the change feed and
    /// the segment plans' touches see it; what it did.
    pub(crate) fn replace_all(
        &mut self,
        customers: &Directory,
        bits: &RoaringBitmap,
        name: &str,
    ) -> Result<TagReplace> {
        let tag = self.ensure(name)?;
        let mut keep = live_part(bits, customers.live()).into_owned();
        keep.optimize(); // foreign bytes come in whatever containers their writer chose
        let old = self.store.get(tag);
        let both = keep.intersection_len(old);
        let (added, removed) = (keep.len() - both, old.len() - both);
        let mut displaced = 0;
        for i in 0..self.pool.exclusive_members(tag).len() {
            let other = self.pool.exclusive_members(tag)[i];
            if other != tag {
                displaced += self.take_many(other, &keep);
            }
        }
        let skipped = bits.len() - keep.len();
        self.set_members(tag, keep);
        Ok(TagReplace { tag: self.name(tag).to_owned(), added, removed, displaced, skipped })
    }

    /// Adds the customers of `add` (live) to `tag`, removing their other value of an
    /// exclusive group; how many were new.
    fn add_exclusive(&mut self, tag: TagId, add: Cow<'_, RoaringBitmap>) -> u64 {
        for i in 0..self.pool.exclusive_members(tag).len() {
            let other = self.pool.exclusive_members(tag)[i];
            if other != tag {
                self.take_many(other, &add);
            }
        }
        self.put_many(tag, add.into_owned())
    }

    /// Removes tag `name` from every customer of `bits`; how many carried it.
    pub(crate) fn unassign_all(&mut self, bits: &RoaringBitmap, name: &str) -> Result<u64> {
        let tag = self.lookup(name)?;
        self.check_writable_id(tag)?;
        Ok(self.take_many(tag, bits))
    }

    /// Erases a customer from every tag.
    pub(crate) fn remove_customer(&mut self, customer: u32) {
        self.take_everywhere(&RoaringBitmap::from_iter([customer]));
    }

    /// Erases customers from every tag.
    pub(crate) fn remove_customers(&mut self, customers: &RoaringBitmap) {
        self.take_everywhere(customers);
    }

    /// Converts containers to runs wherever that is smaller.
    pub(crate) fn optimize(&mut self) {
        self.store.optimize();
    }
}

/// What [`Engine::set_tag_from_portable_bytes`](crate::Engine::set_tag_from_portable_bytes)
/// did: the tag's members are now the live customers of the bytes.
///
/// ```
/// use audience::{Audience, CustomerId, Engine};
/// let mut engine = Engine::new();
/// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
/// engine.tag(a, "vip")?;
/// let bytes = Audience::from_iter([b, CustomerId(99)]).to_portable_bytes();
/// let r = engine.set_tag_from_portable_bytes("vip", &bytes)?;
/// assert_eq!((r.added, r.removed, r.skipped), (1, 1, 1)); // 99 is no customer
/// assert_eq!(engine.query("vip")?.to_ids(), [b.0]);
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagReplace {
    /// The tag (normalized; the tag itself when named by an alias).
    pub tag: String,
    /// Customers who carry it now and did not before.
    pub added: u64,
    /// Customers who carried it and no longer do.
    pub removed: u64,
    /// Of the added, those who lost another value of the tag's exclusive group; 0 for a tag
    /// of no group.
    pub displaced: u64,
    /// Ids in the bytes that are not live customers of the engine (never registered, or
    /// removed): skipped, as [`Engine::tag_all`](crate::Engine::tag_all) skips them.
    pub skipped: u64,
}

/// The live customers of `bits` (borrowed when all of them are).
fn live_part<'b>(bits: &'b RoaringBitmap, live: &RoaringBitmap) -> Cow<'b, RoaringBitmap> {
    if crate::blocks::is_within(bits, live) { Cow::Borrowed(bits) } else { Cow::Owned(bits & live) }
}
