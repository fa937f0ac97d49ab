//! Every write to a tag bitmap, in one place, so the change feed sees each and the expiry
//! days follow each removal: the rest of the layer calls these instead of the store.
//!
//! - The feed: off (the default), each write is the store's call and one flag test; on, it
//!   first reads what the write changes (one difference or intersection with the tag's
//!   bitmap, no per-customer work) and records it.
//! - Touches: once a segment plan is applied, every write also notes whose membership it
//!   may have changed ([`Touched`]), so applying the plan again evaluates only those
//!   customers. Off until then: one flag test.
//! - Expiry: whatever a write removes loses its expiry day, so a stale day can never remove
//!   a later assignment (one lookup in a map that is empty while nothing expires). Making
//!   an assignment permanent is the callers' choice (`assign`, `assign_all`, bulk loads),
//!   since `assign_until` adds through the same calls.

use roaring::RoaringBitmap;

use super::Tags;
use crate::audience::Audience;
use crate::error::Result;
use crate::feed::{Change, ChangeEvent};
use crate::id::TagId;

/// The customers whose tags (or attributes, or liveness: the engine reports those) may have
/// changed since the saved queries were last all computed. Noted only while some segment
/// plan is applied (`on`); a superset is fine, a miss is not: applying a plan again
/// evaluates it for these customers only.
#[derive(Clone, Debug, Default)]
pub(crate) struct Touched {
    on: bool,
    bits: RoaringBitmap,
}

impl Touched {
    /// Touches as a snapshot kept them.
    pub(super) fn restore(on: bool, bits: RoaringBitmap) -> Touched {
        Touched { on, bits }
    }
}

impl Tags {
    /// Starts noting touches (a segment plan is applied).
    pub(crate) fn note_touches(&mut self) {
        self.touched.on = true;
    }

    /// Whether touches are noted.
    pub(crate) fn notes_touches(&self) -> bool {
        self.touched.on
    }

    /// Notes that `customers` may have changed.
    pub(crate) fn touch(&mut self, customers: &RoaringBitmap) {
        if self.touched.on {
            self.touched.bits |= customers;
        }
    }

    /// Notes that `customer` may have changed.
    pub(crate) fn touch_one(&mut self, customer: u32) {
        if self.touched.on {
            self.touched.bits.insert(customer);
        }
    }

    /// Notes that the customers a query on tag `id` matches may have changed (a saved query
    /// was rewritten to read it).
    pub(crate) fn touch_tag(&mut self, id: TagId) {
        if self.touched.on {
            self.touched.bits |= self.store.members(&self.pool, id);
        }
    }

    /// The customers noted since the last [`Tags::clear_touches`].
    pub(crate) fn touched(&self) -> &RoaringBitmap {
        &self.touched.bits
    }

    /// Runs `write` without noting touches: a saved query's own writes (a plan's segment
    /// tags, a rule tag) need none, since whatever reads them is computed again, in full,
    /// right after them.
    pub(crate) fn without_touches<R>(&mut self, write: impl FnOnce(&mut Tags) -> R) -> R {
        let on = std::mem::replace(&mut self.touched.on, false);
        let out = write(self);
        self.touched.on = on;
        out
    }

    /// Forgets the touches (every saved query was just computed for everyone).
    pub(crate) fn clear_touches(&mut self) {
        self.touched.bits.clear();
    }

    /// Drops what is kept for reads of the blocks `lo..=hi` (keys): the customer index's
    /// (`by_customer.rs`) and the census's (`by_block.rs`).
    fn wrote_blocks(&mut self, lo: u32, hi: u32) {
        let (lo, hi) = ((lo >> 16) as u16, (hi >> 16) as u16);
        self.by_customer.wrote(lo, hi);
        self.by_block.wrote(lo, hi);
    }

    /// Drops what is kept for reads of the blocks `bits` spans.
    fn wrote(&mut self, bits: &RoaringBitmap) {
        if let (Some(lo), Some(hi)) = (bits.min(), bits.max()) {
            self.wrote_blocks(lo, hi);
        }
    }

    /// Drops what is kept for reads of the blocks tag `tag`'s members span.
    fn wrote_tag(&mut self, tag: TagId) {
        let members = self.store.get(tag);
        if let (Some(lo), Some(hi)) = (members.min(), members.max()) {
            self.wrote_blocks(lo, hi);
        }
    }

    /// Adds `customer` to `tag`; whether it was new.
    pub(super) fn put(&mut self, tag: TagId, customer: u32) -> bool {
        self.wrote_blocks(customer, customer);
        let added = self.store.insert(&self.pool, tag, customer);
        if added {
            self.touch_one(customer);
        }
        if added && self.feed.records() {
            self.record_added(tag, RoaringBitmap::from_iter([customer]));
        }
        added
    }

    /// Removes `customer` from `tag`; whether it carried it.
    pub(super) fn take(&mut self, tag: TagId, customer: u32) -> bool {
        self.wrote_blocks(customer, customer);
        let removed = self.store.remove(&self.pool, tag, customer);
        if removed {
            self.expiry.forget(tag, customer);
            self.touch_one(customer);
        }
        if removed && self.feed.records() {
            self.record_removed(tag, RoaringBitmap::from_iter([customer]));
        }
        removed
    }

    /// Adds `bits` to `tag`; how many were new.
    pub(super) fn put_many(&mut self, tag: TagId, bits: RoaringBitmap) -> u64 {
        if self.feed.records() {
            let new = &bits - self.store.get(tag);
            self.record_added(tag, new);
        }
        self.touch(&bits);
        self.wrote(&bits);
        self.store.add(&self.pool, tag, bits)
    }

    /// Removes `bits` from `tag`; how many carried it.
    pub(super) fn take_many(&mut self, tag: TagId, bits: &RoaringBitmap) -> u64 {
        if self.feed.records() {
            let gone = bits & self.store.get(tag);
            self.record_removed(tag, gone);
        }
        self.expiry.forget_all(tag, bits);
        self.touch(bits);
        self.wrote(bits);
        self.store.remove_many(&self.pool, tag, bits)
    }

    /// Sets `tag`'s members to `bits`.
    pub(super) fn set_members(&mut self, tag: TagId, bits: RoaringBitmap) {
        if self.feed.records() {
            let old = self.store.get(tag);
            let (new, gone) = (&bits - old, old - &bits);
            self.record_removed(tag, gone);
            self.record_added(tag, new);
        }
        if self.touched.on {
            let changed = &bits ^ self.store.get(tag);
            self.touched.bits |= changed;
        }
        self.expiry.forget_tag(tag); // a wholesale write is for good
        self.wrote_tag(tag);
        self.wrote(&bits);
        self.store.replace(&self.pool, tag, bits);
    }

    /// Deletes tag `id` (it must have no children) from the pool and every customer; how
    /// many carried it.
    pub(super) fn delete_id(&mut self, id: TagId) -> Result<u64> {
        let parent = self.pool.check(id)?.parent();
        let gone = self.feed.records().then(|| (self.pool.name(id).to_owned(), self.store.get(id).clone()));
        self.pool_mut().delete(id)?;
        if self.touched.on {
            self.touched.bits |= self.store.get(id);
        }
        self.wrote_tag(id);
        if let Some((tag, bits)) = gone {
            self.feed.push(ChangeEvent::TagRemoved { tag, audience: Audience::from(bits) });
        }
        self.expiry.forget_tag(id);
        Ok(self.store.deleted(&self.pool, id, parent))
    }

    /// Erases `customers` from every tag.
    pub(super) fn take_everywhere(&mut self, customers: &RoaringBitmap) {
        self.touch(customers);
        self.wrote(customers);
        if self.feed.records() {
            let hit: Vec<(TagId, RoaringBitmap)> = self
                .pool
                .iter()
                .filter_map(|(t, _)| Some((t, Some(customers & self.store.get(t)).filter(|b| !b.is_empty())?)))
                .collect();
            for (t, gone) in hit {
                self.record_removed(t, gone);
            }
        }
        match customers.len() {
            0 => {}
            1 => {
                let customer = customers.min().expect("one customer");
                self.store.remove_everywhere(customer);
                self.expiry.remove_customer(customer);
            }
            _ => {
                self.store.remove_all_everywhere(customers);
                self.expiry.remove_customers(customers);
            }
        }
    }

    fn record_added(&mut self, tag: TagId, bits: RoaringBitmap) {
        let tag = self.pool.name(tag).to_owned();
        self.feed.push(ChangeEvent::TagAdded { tag, audience: Audience::from(bits) });
    }

    fn record_removed(&mut self, tag: TagId, bits: RoaringBitmap) {
        let tag = self.pool.name(tag).to_owned();
        self.feed.push(ChangeEvent::TagRemoved { tag, audience: Audience::from(bits) });
    }

    // ------------------------------------------------------------------ the feed

    /// Records an event a layer describes itself (a segment move, a stage change).
    pub(crate) fn record(&mut self, event: ChangeEvent) {
        self.feed.push(event);
    }

    /// Whether the feed is on (so a layer builds its events only then).
    pub(crate) fn tracks_changes(&self) -> bool {
        self.feed.is_on()
    }

    /// Turns the feed on or off.
    pub(crate) fn track_changes(&mut self, on: bool) {
        self.feed.set_on(on);
    }

    /// The events since the last drain, oldest first.
    pub(crate) fn drain_changes(&mut self) -> Vec<Change> {
        self.feed.drain()
    }

    /// The last sequence number handed out.
    pub(crate) fn last_change(&self) -> u64 {
        self.feed.last_seq()
    }

    /// Runs `write` with tag events muted when `quiet` (the caller reports the writes as
    /// higher-level events).
    pub(super) fn muted<R>(&mut self, quiet: bool, write: impl FnOnce(&mut Tags) -> R) -> R {
        if !quiet {
            return write(self);
        }
        let was = self.feed.mute(true);
        let out = write(self);
        self.feed.mute(was);
        out
    }
}
