//! The bitmap store: one [`RoaringBitmap`] per tag, indexed by [`TagId`], and for every tag
//! with children the union of its subtree, so a query on a parent reads one bitmap.
//!
//! Invariants kept by the engine: every bitmap is a subset of the live customers (so a count
//! never needs an extra intersection with the live set), and a tag has a subtree entry
//! exactly when it has children ([`Store::created`], [`Store::deleted`], [`Store::moved`]
//! are told of every change of the tree).
//!
//! A subtree union is kept current by every addition (one insert or union per ancestor, at
//! most [`MAX_TAG_DEPTH`](super::MAX_TAG_DEPTH) of them). A removal keeps it current when
//! that is cheap: for one customer, the ancestor checks its own bitmap and its children's
//! (up to [`EXACT_FANOUT`] of them) and stops at the first level that still has the
//! customer. Otherwise (a batch removal, a deleted or moved tag, a parent with more
//! children) the union is dropped and rebuilt by the next query that reads it: one
//! multi-way union of the parent's bitmap and its children's unions.
//!
//! Beside them, the views that queries read wide tags through ([`Store::view`], kept in a
//! [`ViewCache`] within its memory budget): every method here that changes what a query on
//! a tag reads (its bitmap, or a parent's union) updates or drops that tag's view, so a view
//! always shows the tag's current members.

use std::sync::{Arc, OnceLock};

use roaring::{MultiOps, RoaringBitmap};

use super::IdMap;
use super::pool::Pool;
use crate::blocks::cache::{ViewBudget, ViewCache};
use crate::blocks::view::View;
use crate::id::TagId;

/// A parent with at most this many children follows a one-customer removal exactly; one
/// with more drops its union (rebuilt by the next query on it).
pub(crate) const EXACT_FANOUT: usize = 1_024;

#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    /// Shared with the engine's clones and readers: a write copies the one bitmap it
    /// changes when a reader still holds it ([`Arc::make_mut`]).
    bitmaps: Vec<Arc<RoaringBitmap>>,
    /// Per tag with children: its subtree's union (its own bitmap included), or an empty
    /// cell when it must be rebuilt. Shared like the bitmaps.
    subtree: IdMap<OnceLock<Arc<RoaringBitmap>>>,
    /// Views of the members of wide tags, for queries (shared with a clone, see
    /// [`ViewCache`]'s `Clone`).
    views: ViewCache,
}

static EMPTY: std::sync::LazyLock<RoaringBitmap> = std::sync::LazyLock::new(RoaringBitmap::new);

impl Store {
    /// The bitmap of `id` (empty for a tag that never had a member): the customers carrying
    /// the tag itself.
    pub(crate) fn get(&self, id: TagId) -> &RoaringBitmap {
        self.bitmaps.get(id.index()).map_or(&EMPTY, |b| b)
    }

    fn get_mut(&mut self, id: TagId) -> &mut RoaringBitmap {
        let i = id.index();
        if self.bitmaps.len() <= i {
            self.bitmaps.resize_with(i + 1, Arc::default);
        }
        Arc::make_mut(&mut self.bitmaps[i])
    }

    /// The customers a query on `id` matches: its bitmap, or for a tag with children the
    /// union of its subtree (built on first use after a change it could not follow).
    pub(crate) fn members(&self, pool: &Pool, id: TagId) -> &RoaringBitmap {
        if self.subtree.is_empty() {
            return self.get(id); // no hierarchy at all
        }
        match self.subtree.get(&id) {
            Some(cell) => cell.get_or_init(|| Arc::new(self.union_below(pool, id))),
            None => self.get(id),
        }
    }

    /// A kept view of what a query on `id` reads ([`Store::members`]), made now when the tag
    /// is wide and the view fits the budget ([`crate::blocks::cache`]); `None` otherwise.
    pub(crate) fn view(&self, pool: &Pool, id: TagId) -> Option<Arc<View>> {
        self.views.get(id.0, self.members(pool, id), || self.serialized_bytes())
    }

    /// The view kept for `id`, if there is one (never made here).
    #[cfg(test)]
    pub(crate) fn kept_view(&self, id: TagId) -> Option<Arc<View>> {
        self.views.kept(id.0)
    }

    /// Heap bytes of the views kept for queries.
    pub(crate) fn view_bytes(&self) -> usize {
        self.views.bytes()
    }

    /// The budget views are kept within.
    pub(crate) fn view_budget(&self) -> ViewBudget {
        self.views.limit()
    }

    /// The views' budget in bytes now (see [`ViewCache::budget_bytes`]), with `current` the
    /// bitmaps' serialized bytes.
    pub(crate) fn view_budget_bytes(&self, current: usize) -> usize {
        self.views.budget_bytes(|| current)
    }

    /// Sets the views' budget, dropping every view kept.
    pub(crate) fn set_view_budget(&mut self, budget: ViewBudget) {
        self.views.set_limit(budget);
    }

    /// `id`'s members changed in bulk: drops its view and those of its ancestors.
    fn changed(&mut self, pool: &Pool, id: TagId) {
        self.views.stale_total();
        self.views.invalidate(id.0);
        if !self.subtree.is_empty() {
            for a in pool.ancestors(id) {
                self.views.invalidate(a.0);
            }
        }
    }

    /// `id`'s bitmap and its children's members, united (recursion is bounded by
    /// `MAX_TAG_DEPTH`). Its cost is one visit per child, mostly memory latency: 5 ms for
    /// 200,000 one-customer children, 0.3 s for 1.1M.
    fn union_below(&self, pool: &Pool, id: TagId) -> RoaringBitmap {
        std::iter::once(self.get(id)).chain(pool.children(id).map(|c| self.members(pool, c))).union()
    }

    /// Adds `customer` to tag `id`; returns whether it was new there.
    pub(crate) fn insert(&mut self, pool: &Pool, id: TagId, customer: u32) -> bool {
        // Carried already: nothing to write (a bitmap a reader shares stays shared).
        let added = !self.get(id).contains(customer) && self.get_mut(id).insert(customer);
        if added {
            // The customer joins the members of `id` and of every ancestor.
            if self.subtree.is_empty() {
                self.views.set(id.0, customer, true);
            } else {
                for a in std::iter::once(id).chain(pool.ancestors(id)) {
                    self.views.set(a.0, customer, true);
                    if let Some(u) = self.subtree.get_mut(&a).and_then(OnceLock::get_mut) {
                        Arc::make_mut(u).insert(customer);
                    }
                }
            }
        }
        added
    }

    /// Adds every customer of `bits` to tag `id` (`bits` becomes the bitmap when the tag had
    /// none); returns how many were new.
    pub(crate) fn add(&mut self, pool: &Pool, id: TagId, bits: RoaringBitmap) -> u64 {
        if bits.is_empty() {
            return 0;
        }
        self.changed(pool, id);
        let levels = if self.subtree.is_empty() { None } else { Some(std::iter::once(id).chain(pool.ancestors(id))) };
        for a in levels.into_iter().flatten() {
            if let Some(u) = self.subtree.get_mut(&a).and_then(OnceLock::get_mut) {
                *Arc::make_mut(u) |= &bits;
            }
        }
        let target = self.get_mut(id);
        let before = target.len();
        if target.is_empty() {
            *target = bits;
        } else {
            *target |= bits;
        }
        target.len() - before
    }

    /// Removes `customer` from tag `id`; returns whether it carried it.
    pub(crate) fn remove(&mut self, pool: &Pool, id: TagId, customer: u32) -> bool {
        let removed = match self.bitmaps.get_mut(id.index()) {
            Some(b) if b.contains(customer) => Arc::make_mut(b).remove(customer),
            _ => false,
        };
        if removed {
            if self.subtree.contains_key(&id) {
                self.views.invalidate(id.0); // a parent may still have it through a child
            } else {
                self.views.set(id.0, customer, false);
            }
            if !self.subtree.is_empty() {
                for a in pool.ancestors(id) {
                    self.views.invalidate(a.0);
                }
                self.forget(pool, id, customer);
            }
        }
        removed
    }

    /// After `customer` left tag `id`: takes it out of the subtree unions that no longer have
    /// it, level by level, up to the first level that still has it (and so every level above
    /// it). A level it cannot check cheaply is dropped, with every level above it.
    fn forget(&mut self, pool: &Pool, id: TagId, customer: u32) {
        let mut levels = std::iter::once(id).chain(pool.ancestors(id));
        while let Some(level) = levels.next() {
            let Some(cell) = self.subtree.get(&level) else { continue }; // a leaf
            let verdict = if cell.get().is_some() { self.still_has(pool, level, customer) } else { None };
            match verdict {
                Some(true) => return,
                Some(false) => {
                    if let Some(u) = self.subtree.get_mut(&level).and_then(OnceLock::get_mut) {
                        Arc::make_mut(u).remove(customer);
                    }
                }
                None => {
                    for l in std::iter::once(level).chain(levels) {
                        self.invalidate(l);
                    }
                    return;
                }
            }
        }
    }

    /// Whether `customer` is still under `level` (its bitmap or a child's members); `None`
    /// when that is not cheap to tell (many children, or a child's union to be rebuilt).
    fn still_has(&self, pool: &Pool, level: TagId, customer: u32) -> Option<bool> {
        let children = pool.children(level);
        if children.len() > EXACT_FANOUT {
            return None;
        }
        if self.get(level).contains(customer) {
            return Some(true);
        }
        for c in children {
            let bits: &RoaringBitmap = match self.subtree.get(&c) {
                Some(cell) => cell.get()?,
                None => self.get(c),
            };
            if bits.contains(customer) {
                return Some(true);
            }
        }
        Some(false)
    }

    /// Drops `level`'s union, to be rebuilt by the next query that reads it.
    fn invalidate(&mut self, level: TagId) {
        if let Some(cell) = self.subtree.get_mut(&level) {
            cell.take();
        }
    }

    /// Drops the unions of `id` and its ancestors.
    fn invalidate_chain(&mut self, pool: &Pool, id: TagId) {
        for level in std::iter::once(id).chain(pool.ancestors(id)) {
            self.invalidate(level);
        }
    }

    /// Removes every customer of `bits` from tag `id`; returns how many carried it.
    pub(crate) fn remove_many(&mut self, pool: &Pool, id: TagId, bits: &RoaringBitmap) -> u64 {
        let Some(target) = self.bitmaps.get_mut(id.index()) else { return 0 };
        if target.is_disjoint(bits) {
            return 0;
        }
        let target = Arc::make_mut(target);
        let before = target.len();
        *target -= bits;
        let removed = before - target.len();
        if removed > 0 {
            self.invalidate_chain(pool, id);
            self.changed(pool, id);
        }
        removed
    }

    /// Makes `bits` the bitmap of tag `id` (a derived value's members, wholesale).
    pub(crate) fn replace(&mut self, pool: &Pool, id: TagId, bits: RoaringBitmap) {
        let i = id.index();
        if self.bitmaps.len() <= i {
            self.bitmaps.resize_with(i + 1, Arc::default);
        }
        self.bitmaps[i] = Arc::new(bits); // a view keeps the old one, uncopied
        self.invalidate_chain(pool, id);
        self.changed(pool, id);
    }

    /// Run-optimizes tag `id`'s bitmap.
    pub(crate) fn optimize_tag(&mut self, id: TagId) {
        if let Some(b) = self.bitmaps.get_mut(id.index()) {
            Arc::make_mut(b).optimize(); // the same members: views stay
            self.views.stale_total();
        }
    }

    /// Tag `id` (and any missing ancestors) was just created: an ancestor that had no
    /// children gets its union, which is its own bitmap (the new tags have no members).
    pub(crate) fn created(&mut self, pool: &Pool, id: TagId) {
        for a in pool.ancestors(id) {
            if !self.subtree.contains_key(&a) {
                let own = Arc::new(self.get(a).clone());
                self.subtree.insert(a, OnceLock::from(own));
            }
        }
    }

    /// Tag `id` (a leaf) was deleted from the pool, below `parent`: drops its bitmap and
    /// returns how many customers carried it; its ancestors' unions are rebuilt on demand.
    pub(crate) fn deleted(&mut self, pool: &Pool, id: TagId, parent: Option<TagId>) -> u64 {
        let n = match self.bitmaps.get_mut(id.index()) {
            Some(b) => std::mem::take(b).len(), // the Arc: a reader keeps its copy
            None => 0,
        };
        self.subtree.remove(&id);
        self.views.stale_total();
        self.views.invalidate(id.0);
        if let Some(p) = parent {
            self.changed(pool, p);
            self.prune(pool, p);
            self.invalidate_chain(pool, p);
        }
        n
    }

    /// The subtree rooted at `root` moved from below `old_parent` to its place in `pool` now
    /// (a rename): the unions of both chains of ancestors are rebuilt on demand; the
    /// subtree's own unions are unchanged.
    pub(crate) fn moved(&mut self, pool: &Pool, root: TagId, old_parent: Option<TagId>) {
        for a in pool.ancestors(root) {
            self.views.invalidate(a.0);
        }
        if let Some(p) = old_parent {
            self.changed(pool, p);
            self.invalidate_chain(pool, p);
            for level in std::iter::once(p).chain(pool.ancestors(p)) {
                self.prune(pool, level);
            }
        }
        for a in pool.ancestors(root) {
            self.subtree.entry(a).or_default().take();
        }
    }

    /// Drops the union entry of a tag that has no children (any more).
    fn prune(&mut self, pool: &Pool, id: TagId) {
        if pool.children(id).len() == 0 {
            self.subtree.remove(&id);
        }
    }

    /// Removes `customer` from every bitmap and union.
    pub(crate) fn remove_everywhere(&mut self, customer: u32) {
        // Only the bitmaps that carry it are written (and copied, when shared), and only
        // their views told (a view a reader shares is dropped when told).
        for (i, b) in self.bitmaps.iter_mut().enumerate().filter(|(_, b)| b.contains(customer)) {
            Arc::make_mut(b).remove(customer);
            self.views.set(i as u32, customer, false);
        }
        for (id, cell) in self.subtree.iter_mut() {
            match cell.get_mut() {
                Some(u) if u.contains(customer) => Arc::make_mut(u).remove(customer),
                Some(_) => continue, // not under this parent: its view is unchanged
                None => false,       // to be rebuilt: tell its view, if it has one
            };
            self.views.set(id.0, customer, false);
        }
    }

    /// Removes every customer of `customers` from every tag and union.
    pub(crate) fn remove_all_everywhere(&mut self, customers: &RoaringBitmap) {
        self.views.clear();
        let bitmaps = self.bitmaps.iter_mut().chain(self.subtree.values_mut().filter_map(OnceLock::get_mut));
        for b in bitmaps {
            if !b.is_disjoint(customers) {
                *Arc::make_mut(b) -= customers;
            }
        }
    }

    /// Converts containers to run containers where smaller (after bulk loads). A bitmap a
    /// reader's view still holds is left as it is (optimizing changes no member, and
    /// copying it would cost what the view saves): optimize again once views are dropped.
    pub(crate) fn optimize(&mut self) {
        self.views.stale_total(); // the same members: views stay
        for b in self.bitmaps.iter_mut().chain(self.subtree.values_mut().filter_map(OnceLock::get_mut)) {
            if let Some(b) = Arc::get_mut(b) {
                b.optimize();
            }
        }
    }

    /// Bytes of all tag bitmaps in the portable serialized format (a proxy for their heap
    /// size).
    pub(crate) fn serialized_bytes(&self) -> usize {
        // An empty bitmap counts nothing (whether a tag that never had members has one is
        // an accident of history, not a cost).
        self.bitmaps.iter().filter(|b| !b.is_empty()).map(|b| b.serialized_size()).sum()
    }

    /// Bytes of the subtree unions built so far, serialized, plus their table.
    pub(crate) fn subtree_bytes(&self) -> usize {
        let entries = self.subtree.capacity() * (size_of::<(TagId, OnceLock<Arc<RoaringBitmap>>)>() + 1);
        entries + self.subtree.values().filter_map(OnceLock::get).map(|u| u.serialized_size()).sum::<usize>()
    }
}

impl Store {
    /// A store holding `bitmaps` (by tag id) for `pool`: every tag with children gets an empty
    /// subtree cell (its union is built by the first query that reads it).
    pub(crate) fn restore(pool: &Pool, bitmaps: Vec<RoaringBitmap>) -> Store {
        let mut store = Store { bitmaps: bitmaps.into_iter().map(Arc::new).collect(), ..Store::default() };
        for (id, _) in pool.iter() {
            if pool.children(id).next().is_some() {
                store.subtree.insert(id, OnceLock::new());
            }
        }
        store
    }

    /// Every tag's own bitmap, by id (empty ones included).
    pub(crate) fn bitmaps(&self) -> &[Arc<RoaringBitmap>] {
        &self.bitmaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::TagKind;

    /// A pool with `a/b/c`, `a/b/d` and `a/e`, and an empty store told of it.
    fn tree() -> (Pool, Store, [TagId; 5]) {
        let mut pool = Pool::default();
        let mut store = Store::default();
        for n in ["a/b/c", "a/b/d", "a/e"] {
            let id = pool.create(n, TagKind::Custom).unwrap();
            store.created(&pool, id);
        }
        let ids = ["a", "a/b", "a/b/c", "a/b/d", "a/e"].map(|n| pool.lookup(n).unwrap());
        (pool, store, ids)
    }

    /// A clone (what a reader's view holds) shares every bitmap and union; a write copies
    /// only what it changes, and removing a customer everywhere copies only the bitmaps that
    /// carried it and keeps the writer's other views.
    #[test]
    fn a_clone_shares_and_a_write_copies_only_what_it_changes() {
        let (pool, mut store, [a, b, c, d, e]) = tree();
        let dense: RoaringBitmap = (0..200_000u32).filter(|x| x % 3 != 0).collect();
        store.add(&pool, c, dense.clone());
        store.add(&pool, d, dense.clone());
        store.add(&pool, e, (0..200_000u32).step_by(3).collect());
        for t in [a, b, c, d, e] {
            let _ = store.members(&pool, t);
        }
        assert!(store.view(&pool, d).is_some(), "dense: a view");
        let view = store.clone();
        let shared = |s: &Store, v: &Store, t: TagId| Arc::ptr_eq(&s.bitmaps[t.index()], &v.bitmaps[t.index()]);
        let union_shared = |s: &Store, v: &Store, t: TagId| {
            Arc::ptr_eq(s.subtree[&t].get().expect("built"), v.subtree[&t].get().expect("built"))
        };
        assert!([a, b, c, d, e].iter().all(|&t| shared(&store, &view, t)));
        assert!(union_shared(&store, &view, a) && union_shared(&store, &view, b));
        store.insert(&pool, e, 1);
        assert!(!shared(&store, &view, e), "written: copied");
        assert!(shared(&store, &view, c) && shared(&store, &view, d), "not written: shared");
        assert!(!union_shared(&store, &view, a) && union_shared(&store, &view, b), "a's union gained 1, b's did not");
        store.remove_everywhere(3); // in e only (and a's union)
        assert!(shared(&store, &view, c) && shared(&store, &view, d));
        assert!(store.kept_view(d).is_some(), "d's view stays: 3 was never there");
        assert!(view.get(e).contains(3) && !view.get(e).contains(1), "the view keeps its moment");
        check(&pool, &store);
        check(&pool, &view);
        store.optimize();
        assert!(shared(&store, &view, c), "optimize leaves a shared bitmap as it is");
    }

    /// Every tag's members, recomputed from the bitmaps.
    fn check(pool: &Pool, store: &Store) {
        for (id, _) in pool.iter() {
            let mut sub = Vec::new();
            pool.subtree(id, &mut sub);
            let want: RoaringBitmap = sub.iter().map(|&t| store.get(t)).union();
            assert_eq!(store.members(pool, id), &want, "{}", pool.name(id));
            assert_eq!(store.subtree.contains_key(&id), pool.children(id).len() > 0);
        }
    }

    #[test]
    fn unions_follow_additions_and_removals() {
        let (pool, mut store, [a, b, c, d, e]) = tree();
        check(&pool, &store);
        assert!(store.insert(&pool, c, 1));
        assert!(!store.insert(&pool, c, 1));
        store.insert(&pool, d, 1);
        store.insert(&pool, e, 2);
        store.insert(&pool, a, 3);
        store.add(&pool, d, [4, 5].into_iter().collect());
        check(&pool, &store);
        // 1 is still under b through d: b and a keep it, and stay built.
        assert!(store.remove(&pool, c, 1));
        assert!(store.subtree[&b].get().is_some() && store.subtree[&a].get().is_some());
        check(&pool, &store);
        store.remove(&pool, d, 1);
        check(&pool, &store);
        assert!(!store.members(&pool, a).contains(1));
        // A batch removal drops the chain; the next read rebuilds it.
        assert_eq!(store.remove_many(&pool, d, &[4, 9].into_iter().collect()), 1);
        assert!(store.subtree[&b].get().is_none());
        check(&pool, &store);
        store.remove_everywhere(5);
        store.remove_all_everywhere(&[2, 3].into_iter().collect());
        check(&pool, &store);
        assert!(store.members(&pool, a).is_empty());
    }

    #[test]
    fn a_removal_below_an_unbuilt_union_drops_the_levels_above() {
        let (pool, mut store, [a, b, c, _, _]) = tree();
        store.insert(&pool, c, 7);
        store.invalidate(b);
        let _ = store.members(&pool, a); // a is built; b is rebuilt by this read
        store.invalidate(b);
        store.remove(&pool, c, 7);
        assert!(store.subtree[&a].get().is_none());
        check(&pool, &store);
    }

    #[test]
    fn deletes_and_moves_keep_the_entries_in_step_with_the_tree() {
        let (mut pool, mut store, [a, b, c, d, e]) = tree();
        store.insert(&pool, c, 1);
        store.insert(&pool, e, 2);
        pool.delete(e).unwrap();
        assert_eq!(store.deleted(&pool, e, Some(a)), 1);
        check(&pool, &store);
        // Move b (with c and d) below a new root x.
        let plan = pool.plan_rename(b, "x/b").unwrap();
        pool.apply_rename(plan).unwrap();
        store.moved(&pool, b, Some(a));
        check(&pool, &store);
        assert!(store.members(&pool, pool.lookup("x").unwrap()).contains(1));
        assert!(!store.subtree.contains_key(&a), "a has no children left");
        let _ = d;
    }

    /// One change to the store, as the engine makes them (tag indexes into a fixed list of
    /// names; a change that does not apply, such as deleting a parent, is skipped).
    #[derive(Clone, Debug)]
    enum Change {
        Insert(usize, u32),
        Remove(usize, u32),
        Add(usize, u32, u32),
        RemoveMany(usize, u32, u32),
        Replace(usize, u32, u32),
        OptimizeTag(usize),
        Optimize,
        RemoveEverywhere(u32),
        RemoveAllEverywhere(u32, u32),
        Delete(usize),
        Move(usize, u8),
    }

    const NAMES: [&str; 7] = ["a", "a/b", "a/b/c", "a/b/d", "a/e", "f", "g"];
    /// Three 2^16-id blocks of customers.
    const SPAN: u32 = 3 << 16;

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        let tag = 0..NAMES.len();
        let id = 0..SPAN;
        let range = (0..SPAN, 1..40_000u32);
        prop_oneof![
            6 => (tag.clone(), id.clone()).prop_map(|(t, c)| Change::Insert(t, c)),
            6 => (tag.clone(), id.clone()).prop_map(|(t, c)| Change::Remove(t, c)),
            2 => (tag.clone(), range.clone()).prop_map(|(t, (s, l))| Change::Add(t, s, l)),
            1 => (tag.clone(), range.clone()).prop_map(|(t, (s, l))| Change::RemoveMany(t, s, l)),
            1 => (tag.clone(), range.clone()).prop_map(|(t, (s, l))| Change::Replace(t, s, l)),
            1 => tag.clone().prop_map(Change::OptimizeTag),
            1 => Just(Change::Optimize),
            2 => id.prop_map(Change::RemoveEverywhere),
            1 => range.prop_map(|(s, l)| Change::RemoveAllEverywhere(s, l)),
            1 => tag.clone().prop_map(Change::Delete),
            1 => (tag, 0..3u8).prop_map(|(t, r)| Change::Move(t, r)),
        ]
    }

    /// Every second id of `start..start + len` (dense: 32,768 ids per full block), within
    /// the span.
    fn evens(start: u32, len: u32) -> RoaringBitmap {
        (start..(start + len).min(SPAN)).filter(|c| c % 2 == 0).collect()
    }

    /// Every tag's view, made where the store keeps one, shows the tag's members as
    /// recomputed from the bitmaps.
    fn check_views(pool: &Pool, store: &Store) {
        for (id, _) in pool.iter() {
            let mut sub = Vec::new();
            pool.subtree(id, &mut sub);
            let want: RoaringBitmap = sub.iter().map(|&t| store.get(t)).union();
            assert_eq!(store.members(pool, id), &want, "{}", pool.name(id));
            let kept = store.kept_view(id);
            if let Some(v) = store.view(pool, id) {
                assert_eq!(
                    crate::blocks::view::tests::decode(&v),
                    want.iter().collect::<Vec<_>>(),
                    "{}",
                    pool.name(id)
                );
                if let Some(k) = kept {
                    assert!(Arc::ptr_eq(&k, &v), "a kept view is the one handed out");
                }
            } else {
                assert!(kept.is_none());
                assert!(!crate::blocks::is_wide(&want), "a wide tag within the budget has a view");
            }
        }
        let bytes: usize = pool.iter().filter_map(|(id, _)| store.kept_view(id)).map(|v| v.heap_bytes()).sum();
        assert!(store.view_bytes() >= bytes && store.view_bytes() < bytes + 64 * (store.views.len() + 1));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// After every change, each view the store hands out equals a fresh computation of
        /// the tag's members: views follow one-id changes in place, or are dropped and made
        /// again.
        #[test]
        fn views_follow_every_change(changes in proptest::collection::vec(change(), 1..40)) {
            let mut pool = Pool::default();
            let mut store = Store::default();
            for n in NAMES {
                let id = pool.create(n, TagKind::Custom).unwrap();
                store.created(&pool, id);
            }
            for (i, n) in NAMES.iter().enumerate() {
                let id = pool.lookup(n).unwrap();
                store.add(&pool, id, evens(i as u32 * 9_000, SPAN));
            }
            check_views(&pool, &store);
            for c in changes {
                let tag = |t: usize| pool.lookup(NAMES[t]);
                match c {
                    Change::Insert(t, c) => if let Some(id) = tag(t) { store.insert(&pool, id, c); },
                    Change::Remove(t, c) => if let Some(id) = tag(t) { store.remove(&pool, id, c); },
                    Change::Add(t, s, l) => if let Some(id) = tag(t) { store.add(&pool, id, evens(s, l)); },
                    Change::RemoveMany(t, s, l) => if let Some(id) = tag(t) { store.remove_many(&pool, id, &evens(s, l)); },
                    Change::Replace(t, s, l) => if let Some(id) = tag(t) { store.replace(&pool, id, evens(s, l)); },
                    Change::OptimizeTag(t) => if let Some(id) = tag(t) { store.optimize_tag(id); },
                    Change::Optimize => store.optimize(),
                    Change::RemoveEverywhere(c) => store.remove_everywhere(c),
                    Change::RemoveAllEverywhere(s, l) => store.remove_all_everywhere(&evens(s, l)),
                    Change::Delete(t) => {
                        if let Some(id) = tag(t) && pool.children(id).len() == 0 {
                            let parent = pool.def(id).and_then(|d| d.parent());
                            pool.delete(id).unwrap();
                            store.deleted(&pool, id, parent);
                        }
                    }
                    Change::Move(t, root) => {
                        let Some(id) = tag(t) else { continue };
                        let leaf = NAMES[t].rsplit('/').next().unwrap();
                        let Ok(plan) = pool.plan_rename(id, &format!("m{root}/{leaf}")) else { continue };
                        let old_parent = pool.def(id).and_then(|d| d.parent());
                        let before = pool.slot_count();
                        pool.apply_rename(plan).unwrap();
                        for created in before..pool.slot_count() {
                            store.created(&pool, TagId(created as u32));
                        }
                        store.moved(&pool, id, old_parent);
                    }
                }
                check_views(&pool, &store);
            }
        }
    }
}
