//! Views of wide bitmaps kept between queries, so a query reads their containers in place,
//! as flat words.
//!
//! `roaring` keeps its containers private: a query reaches them through a [`View`], one copy
//! of the bitmap's portable image, or by streaming the image as `roaring` writes it (one
//! operand per pass). Copying a dense operand (1.25 MB for a tag of 60% of 10M customers)
//! costs about as much as the work on it, and an array container costs a bit set or tested
//! per value (about 1.5 ns each, where a pass over a bitset's 1,024 words streams at memory
//! bandwidth). So the tag store keeps widened views ([`View::widened`]: arrays of 512
//! values or more held as bitsets) here, made by the first query that needs one and kept
//! until the bitmap changes: a multi-operand query over them streams words, as a dense
//! bitset engine does, while the roaring bitmaps stay the source of truth.
//!
//! The rule, and its budget:
//!
//! - Only a wide bitmap ([`super::is_wide`]: at least 512 ids per 2^16-id block on
//!   average) gets a view: that is where a copy costs the most, and where widening pays
//!   (measured at 10M customers, README "Performance": an `OR` of five tags of 3%, `q09`,
//!   went from 4.8x the dense numpy peer's time to 0.6x; 20 segment rules over the 40
//!   commonest tags, one by one, from 13-15 ms to 7.5 ms). A sparser
//!   operand is still copied per query (its image is small), or streamed.
//! - Views take at most [`VIEW_SHARE`] of the tag bitmaps' serialized bytes, or
//!   [`VIEW_FLOOR`] when that is more ([`ViewBudget::Auto`], the default), or the caller's
//!   fixed budget ([`ViewBudget::Bytes`], `Engine::set_view_budget`; setting it drops every
//!   view). A view is its bitmap's image with the wide arrays widened (up to 8x an array's
//!   bytes; a bitset's are as they are), so the default holds the widened views of the
//!   tags queries read until they reach half the data. Views are first come, first kept:
//!   past the budget, queries copy or stream as before. The
//!   bitmaps' total is measured when a view is first asked for after a bulk change
//!   ([`ViewCache::stale_total`]), and again when a view does not fit after
//!   [`REMEASURE_AFTER`] one-id changes (an engine that grows by single `tag` calls raises
//!   its budget as it grows; one re-measure, a walk over every bitmap's container table, per
//!   that many changes). A query whose view is kept measures a stale total too. When a
//!   measure finds the views over the budget (the bitmaps shrank), views are dropped, the
//!   newest tags' first, until the rest fit; the next queries make the others again within
//!   it. (Two threads may both measure after one bulk change; they find the same total.)
//! - Views go when their bitmap changes: the store, the only writer of tag bitmaps, tells
//!   the cache. A one-id change to a bitset container is applied to the view in place
//!   ([`View::set`]); any other change drops the view, and the next query that needs it
//!   makes it again.
//!
//! Views are shared through [`Arc`]s under a read-write lock, so queries from several
//! threads read the same views; writers hold `&mut` and take no lock. A clone of the engine
//! (a reader) shares them too: a view is changed in place only while no one else holds it.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use roaring::RoaringBitmap;

use super::view::View;

/// Views take at most this share of the tag bitmaps' serialized bytes by default: 1/2. A
/// loaded engine holds 1.10x the serialized bytes (10M customers x 1,000 tags), so with
/// every view the budget allows it holds at most 1.6x (the harness's 25 queries kept 22.9
/// MB of views of 74.5 MB of bitmaps); a caller who wants less sets a budget of its own.
pub(crate) const VIEW_SHARE: (usize, usize) = (1, 2);
/// ...or this many bytes (1 MiB), when that is more: small engines keep their views.
pub(crate) const VIEW_FLOOR: usize = 1 << 20;
/// One-id changes after which a view that does not fit re-measures the bitmaps' total.
pub(crate) const REMEASURE_AFTER: usize = 4_096;

/// How much memory the views of wide tags may take ([`Engine::set_view_budget`]).
///
/// Views let a query read a wide tag's containers in place, as flat words, instead of
/// copying them ([`Stats::view_bytes`]); past the budget, queries copy (or stream) the
/// operands that have none, and answer the same. A smaller budget saves memory at the cost
/// of those copies (1.25 MB for a tag of 60% of 10M customers, about as long as the work on
/// it) and of merging array containers value by value; `Bytes(0)` keeps no views at all.
///
/// ```
/// use audience::{Engine, ViewBudget};
/// let mut engine = Engine::new();
/// assert_eq!(engine.view_budget(), ViewBudget::Auto);
/// engine.set_view_budget(ViewBudget::Bytes(64 << 20));
/// assert_eq!(engine.stats().view_budget_bytes, 64 << 20);
/// engine.set_view_budget(ViewBudget::Auto); // half the bitmaps, at least 1 MiB
/// assert_eq!(engine.stats().view_budget_bytes, 1 << 20);
/// ```
///
/// [`Engine::set_view_budget`]: crate::Engine::set_view_budget
/// [`Stats::view_bytes`]: crate::Stats::view_bytes
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViewBudget {
    /// Half the tag bitmaps' serialized bytes, or 1 MiB when that is more (the default):
    /// with every view it allows, a loaded engine holds at most 1.6x of the serialized
    /// bitmaps (1.1x without views, at 10M customers x 1,000 tags).
    #[default]
    Auto,
    /// At most this many bytes of views, whatever the bitmaps' size; `0` keeps none.
    Bytes(usize),
}

impl ViewBudget {
    /// The bytes views may take beside tag bitmaps of `total` serialized bytes.
    pub(crate) fn bytes(self, total: usize) -> usize {
        match self {
            ViewBudget::Auto => (total / VIEW_SHARE.1 * VIEW_SHARE.0).max(VIEW_FLOOR),
            ViewBudget::Bytes(n) => n,
        }
    }
}

/// Views of wide bitmaps by key (the store keys them by tag).
#[derive(Default)]
pub(crate) struct ViewCache {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    views: BTreeMap<u32, Arc<View>>,
    /// Heap bytes of `views` ([`cost`] each).
    bytes: usize,
    /// The tag bitmaps' serialized bytes, as last measured (`None`: measure again).
    total: Option<usize>,
    /// One-id changes since `total` was measured.
    drift: usize,
    /// The budget `bytes` is kept within.
    limit: ViewBudget,
}

/// The bytes of a view's entry in the table, beside its heap bytes.
const TABLE_ENTRY: usize = size_of::<(u32, Arc<View>)>() + size_of::<usize>();

/// What a kept view costs: its heap bytes and its entry in the table.
fn cost(v: &View) -> usize {
    v.heap_bytes() + TABLE_ENTRY
}

impl Inner {
    fn drop_view(&mut self, key: u32) {
        if let Some(v) = self.views.remove(&key) {
            self.bytes -= cost(&v);
        }
    }

    /// Drops views, the highest keys (the newest tags) first, until the rest take at most
    /// `budget` bytes.
    fn trim(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((_, v)) = self.views.pop_last() else { break };
            self.bytes -= cost(&v);
        }
    }
}

impl Clone for ViewCache {
    /// A clone shares the views kept. A shared view is never changed in place: a one-id
    /// change finds it shared ([`Arc::get_mut`] fails) and drops it from the writer's cache,
    /// so the reader keeps the view of the bitmap it holds.
    fn clone(&self) -> ViewCache {
        let inner = self.read();
        ViewCache {
            inner: RwLock::new(Inner {
                views: inner.views.clone(),
                bytes: inner.bytes,
                total: inner.total,
                drift: inner.drift,
                limit: inner.limit,
            }),
        }
    }
}

impl std::fmt::Debug for ViewCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.read();
        f.debug_struct("ViewCache").field("views", &inner.views.len()).field("bytes", &inner.bytes).finish()
    }
}

impl ViewCache {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn inner_mut(&mut self) -> &mut Inner {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// The view kept under `key`, if there is one.
    #[cfg(test)]
    pub(crate) fn kept(&self, key: u32) -> Option<Arc<View>> {
        self.read().views.get(&key).cloned()
    }

    /// The view of `bits` kept under `key`, made now if `bits` is wide and its view fits the
    /// budget; `None` otherwise. `total` measures the tag bitmaps' serialized bytes (called
    /// at most once per bulk change).
    pub(crate) fn get(&self, key: u32, bits: &RoaringBitmap, total: impl FnOnce() -> usize) -> Option<Arc<View>> {
        let (kept, mut bytes, measured, drift, limit) = {
            let inner = self.read();
            (inner.views.get(&key).cloned(), inner.bytes, inner.total, inner.drift, inner.limit)
        };
        // After a bulk change the first query measures the bitmaps again (and drops views
        // past the new budget), whether its view is kept or not.
        let auto = limit == ViewBudget::Auto;
        if kept.is_some() && !(auto && measured.is_none()) {
            return kept;
        }
        if kept.is_none() && (limit == ViewBudget::Bytes(0) || !super::is_wide(bits)) {
            return None;
        }
        // At most what the view will take, so a view is never made only to be dropped.
        let size = if kept.is_some() { 0 } else { View::widened_bound(bits) + TABLE_ENTRY };
        let fits = |bytes: usize, total: usize| bytes + size <= limit.bytes(total);
        let total = match measured {
            _ if !auto => 0, // a fixed budget needs no measure
            Some(t) if fits(bytes, t) || drift < REMEASURE_AFTER => t,
            _ => {
                let t = total();
                let mut inner = self.write();
                inner.total = Some(t);
                inner.drift = 0;
                inner.trim(limit.bytes(t)); // the bitmaps shrank: keep what fits
                if kept.is_some() {
                    return inner.views.get(&key).cloned();
                }
                bytes = inner.bytes;
                t
            }
        };
        let budget = limit.bytes(total);
        if bytes + size > budget {
            return None;
        }
        let view = Arc::new(View::widened(bits));
        let mut inner = self.write();
        if let Some(v) = inner.views.get(&key) {
            return Some(Arc::clone(v)); // another thread made it meanwhile
        }
        // Another thread may have measured a smaller total meanwhile: the latest one rules.
        let budget = match inner.total {
            Some(t) if auto => limit.bytes(t),
            _ => budget,
        };
        if inner.bytes + cost(&view) > budget {
            return None;
        }
        inner.bytes += cost(&view);
        inner.views.insert(key, Arc::clone(&view));
        Some(view)
    }

    /// The budget views are kept within now, in bytes: the fixed one, or by default the
    /// share of the bitmaps' total as last measured (`current` when never measured).
    pub(crate) fn budget_bytes(&self, current: impl FnOnce() -> usize) -> usize {
        let inner = self.read();
        match inner.limit {
            ViewBudget::Auto => inner.limit.bytes(inner.total.unwrap_or_else(current)),
            fixed => fixed.bytes(0),
        }
    }

    /// Heap bytes of the views kept, their table included.
    pub(crate) fn bytes(&self) -> usize {
        self.read().bytes
    }

    /// The bitmap under `key` changed: drops its view.
    pub(crate) fn invalidate(&mut self, key: u32) {
        self.inner_mut().drop_view(key);
    }

    /// The bitmap under `key` gained (`on`) or lost id `value`, and nothing else: its view
    /// follows in place when the id's block is a bitset there, else it is dropped.
    pub(crate) fn set(&mut self, key: u32, value: u32, on: bool) {
        let inner = self.inner_mut();
        inner.drift += 1;
        let Some(v) = inner.views.get_mut(&key) else { return };
        if !Arc::get_mut(v).is_some_and(|v| v.set(value, on)) {
            inner.drop_view(key);
        }
    }

    /// The budget views are kept within.
    pub(crate) fn limit(&self) -> ViewBudget {
        self.read().limit
    }

    /// Sets the budget views are kept within; drops every view kept (the next queries make
    /// them again within it).
    pub(crate) fn set_limit(&mut self, limit: ViewBudget) {
        self.clear();
        self.inner_mut().limit = limit;
    }

    /// Drops every view.
    pub(crate) fn clear(&mut self) {
        let inner = self.inner_mut();
        inner.views.clear();
        inner.bytes = 0;
        inner.total = None;
    }

    /// The bitmaps' total size changed in bulk: measure it again before the next view.
    pub(crate) fn stale_total(&mut self) {
        self.inner_mut().total = None;
    }

    /// How many views are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.read().views.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense bitmap of `blocks` bitset containers (8 KiB each in the image).
    fn dense(blocks: u32, first: u32) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        for k in first..first + blocks {
            b.insert_range(k << 16..(k << 16) + 40_000);
        }
        b.remove_run_compression();
        b
    }

    #[test]
    fn a_grown_engine_measures_its_budget_again() {
        let mut cache = ViewCache::default();
        let big = dense(140, 0); // over the 1 MiB floor
        assert!(big.serialized_size() > VIEW_FLOOR);
        assert!(cache.get(1, &big, || 0).is_none(), "does not fit the floor of a small engine");
        // Without enough one-id changes since, the total is not measured again.
        let measured = std::cell::Cell::new(false);
        assert!(
            cache
                .get(1, &big, || {
                    measured.set(true);
                    100 << 20
                })
                .is_none()
        );
        assert!(!measured.get());
        for i in 0..REMEASURE_AFTER as u32 {
            cache.set(7, i, true); // changes to bitmaps without views still count
        }
        assert!(cache.get(1, &big, || 100 << 20).is_some(), "the grown total makes room");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn views_over_a_shrunk_budget_are_dropped_at_the_next_measure() {
        let mut cache = ViewCache::default();
        let (a, b) = (dense(140, 0), dense(140, 200));
        assert!(cache.get(1, &a, || 100 << 20).is_some());
        assert!(cache.get(2, &b, || unreachable!("measured once")).is_some());
        assert_eq!(cache.len(), 2);
        cache.stale_total(); // a bulk change: the bitmaps shrank to 2 MiB, budget 1 MiB
        assert!(cache.get(3, &dense(10, 400), || 2 << 20).is_some());
        assert_eq!(cache.len(), 1, "the two old views were over the new budget");
        assert!(cache.bytes() <= ViewBudget::Auto.bytes(2 << 20));
    }

    #[test]
    fn a_kept_view_measures_a_stale_total_and_only_the_excess_goes() {
        let mut cache = ViewCache::default();
        let views: Vec<RoaringBitmap> = (0..3).map(|k| dense(60, 100 * k)).collect();
        for (key, bits) in views.iter().enumerate() {
            assert!(cache.get(key as u32, bits, || 100 << 20).is_some());
        }
        let all = cache.bytes();
        assert!(all > VIEW_FLOOR && all - all / 3 <= VIEW_FLOOR, "two of the three fit 1 MiB: {all}");
        cache.stale_total(); // a bulk change shrank the bitmaps to 2 MiB: budget 1 MiB
        let measured = std::cell::Cell::new(0);
        let got = cache.get(0, &views[0], || {
            measured.set(measured.get() + 1);
            2 << 20
        });
        assert_eq!(measured.get(), 1, "a kept view's query measured the stale total");
        assert!(got.is_some(), "the first view still fits");
        assert_eq!(cache.len(), 2, "only the newest view went");
        assert!(cache.kept(2).is_none());
        assert!(cache.bytes() <= VIEW_FLOOR);
        assert_eq!(cache.budget_bytes(|| unreachable!("measured")), VIEW_FLOOR);
        // Measured now: kept views are handed out without measuring again.
        assert!(cache.get(1, &views[1], || unreachable!("not stale")).is_some());
        // A fixed budget of zero makes no view, and a fixed budget needs no measure.
        cache.set_limit(ViewBudget::Bytes(0));
        assert!(cache.get(0, &views[0], || unreachable!("fixed")).is_none());
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.budget_bytes(|| unreachable!("fixed")), 0);
    }
}
