//! Expiring tags: an assignment made with [`Tags::assign_until`] or [`Tags::assign_all_until`]
//! ends on a given day, and [`Tags::expire`] removes every assignment whose day has come.
//!
//! The days are kept per tag as buckets of customers ([`Expiry`]: tag -> day -> bitmap), so
//! expiring is bitmap work: the due buckets of each tag are drained and removed from the tag
//! in one difference through the store (which keeps the hierarchy's unions right), never a
//! scan of customers. A tag none of whose assignments expires has no entry, so the rest of
//! the layer pays one failed lookup in a small map for it (an empty one while nothing
//! expires).
//!
//! The buckets follow every change of the bitmaps: each removal path of [`Tags`] (untag,
//! another value of an exclusive group, a delete, a customer's removal, a derived layer's
//! write) forgets what it removes, and a plain assignment (`tag`, `tag_all`, bulk loads)
//! forgets the day, making it permanent. So a bucket never holds a customer who does not carry
//! the tag, and a stale day can never remove a later permanent assignment.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use roaring::RoaringBitmap;

use super::Tags;
use crate::customers::Directory;
use crate::error::Result;
use crate::history::Day;
use crate::id::{CustomerId, TagId};

/// Per tag with expiring assignments, the customers whose assignment ends on each day (days
/// since 1970-01-01, as [`Day::days_since_epoch`] counts them).
///
/// Invariants: a tag has an entry only when it has a bucket, and a bucket only when it holds
/// a customer; a tag's buckets are disjoint (an assignment has one day), and each is a subset
/// of the tag's own bitmap (customers who carry the tag exactly, not through a descendant).
///
/// Plain data, serde-friendly for snapshots (bitmaps in roaring's portable format).
/// Deserializing checks none of the invariants: a snapshot reader must check them against
/// the tags it restores.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Expiry {
    tags: BTreeMap<TagId, BTreeMap<i32, RoaringBitmap>>,
}

impl Expiry {
    /// The day `customer`'s assignment of `tag` ends, if it is an expiring one. One
    /// `contains` per bucket of the tag.
    pub(super) fn day_of(&self, tag: TagId, customer: u32) -> Option<i32> {
        let days = self.tags.get(&tag)?;
        days.iter().find_map(|(&d, bits)| bits.contains(customer).then_some(d))
    }

    /// `customer` carries `tag` until `day` unless it already carries it longer: an
    /// assignment that ends earlier moves to `day`, one that ends later stays, and a
    /// permanent one (the customer carried the tag before, `new` is false, without a day)
    /// stays permanent.
    pub(super) fn extend(&mut self, tag: TagId, customer: u32, day: i32, new: bool) {
        match self.day_of(tag, customer) {
            Some(d) if d >= day => {}
            Some(d) => {
                self.forget_in(tag, customer, d);
                self.add_one(tag, day, customer);
            }
            None if new => self.add_one(tag, day, customer),
            None => {}
        }
    }

    /// Adds `customer` (without a day on `tag`) to the bucket of `day`.
    fn add_one(&mut self, tag: TagId, day: i32, customer: u32) {
        self.tags.entry(tag).or_default().entry(day).or_default().insert(customer);
    }

    /// [`Expiry::extend`] for every customer of `customers` (all of them carry `tag` now);
    /// `fresh`: those of them who did not carry it before.
    pub(super) fn extend_all(&mut self, tag: TagId, customers: &RoaringBitmap, fresh: RoaringBitmap, day: i32) {
        let mut moving = fresh;
        if let Some(days) = self.tags.get_mut(&tag) {
            for bits in days.range_mut(..day).map(|(_, b)| b) {
                if !bits.is_disjoint(customers) {
                    let moved = &*bits & customers;
                    *bits -= &moved;
                    moving |= moved;
                }
            }
            days.retain(|_, b| !b.is_empty());
        }
        self.add(tag, day, moving);
    }

    /// Adds `bits` (customers without a day on `tag`) to the bucket of `day`.
    fn add(&mut self, tag: TagId, day: i32, bits: RoaringBitmap) {
        if bits.is_empty() {
            return;
        }
        match self.tags.entry(tag).or_default().entry(day) {
            Entry::Vacant(v) => {
                v.insert(bits);
            }
            Entry::Occupied(o) => *o.into_mut() |= bits,
        }
    }

    /// `tag`'s buckets, earliest day first: (day, the customers whose assignment ends then).
    pub(super) fn days(&self, tag: TagId) -> impl Iterator<Item = (i32, &RoaringBitmap)> + '_ {
        self.tags.get(&tag).into_iter().flat_map(|days| days.iter().map(|(&d, bits)| (d, bits)))
    }

    /// `customer` no longer has a day on `tag` (it lost the tag, or carries it for good).
    pub(super) fn forget(&mut self, tag: TagId, customer: u32) {
        if let Some(d) = self.day_of(tag, customer) {
            self.forget_in(tag, customer, d);
        }
    }

    /// Takes `customer` out of `tag`'s bucket of day `d`, dropping what becomes empty.
    fn forget_in(&mut self, tag: TagId, customer: u32, d: i32) {
        let Some(days) = self.tags.get_mut(&tag) else { return };
        if let Some(bits) = days.get_mut(&d)
            && bits.remove(customer)
            && bits.is_empty()
        {
            days.remove(&d);
        }
        if days.is_empty() {
            self.tags.remove(&tag);
        }
    }

    /// [`Expiry::forget`] for every customer of `customers`.
    pub(super) fn forget_all(&mut self, tag: TagId, customers: &RoaringBitmap) {
        let Some(days) = self.tags.get_mut(&tag) else { return };
        if forget_in_days(days, customers) {
            self.tags.remove(&tag);
        }
    }

    /// Tag `tag` lost every customer (deleted, or its members replaced wholesale).
    pub(super) fn forget_tag(&mut self, tag: TagId) {
        self.tags.remove(&tag);
    }

    /// `customer` was removed from every tag.
    pub(super) fn remove_customer(&mut self, customer: u32) {
        self.tags.retain(|_, days| {
            days.retain(|_, bits| {
                bits.remove(customer);
                !bits.is_empty()
            });
            !days.is_empty()
        });
    }

    /// `customers` were removed from every tag.
    pub(super) fn remove_customers(&mut self, customers: &RoaringBitmap) {
        self.tags.retain(|_, days| !forget_in_days(days, customers));
    }

    /// Drains every bucket of day `as_of` or earlier and hands each tag's due customers to
    /// `remove`, once per tag (the union of its due buckets).
    pub(super) fn drain_due(&mut self, as_of: i32, mut remove: impl FnMut(TagId, RoaringBitmap)) {
        self.tags.retain(|&tag, days| {
            let Some(first) = days.first_entry().filter(|e| *e.key() <= as_of) else { return true };
            let mut due = first.remove();
            while let Some(next) = days.first_entry().filter(|e| *e.key() <= as_of) {
                due |= next.remove();
            }
            remove(tag, due);
            !days.is_empty()
        });
    }
}

/// Takes `customers` out of every bucket of `days`, dropping empty buckets; whether none is
/// left.
fn forget_in_days(days: &mut BTreeMap<i32, RoaringBitmap>, customers: &RoaringBitmap) -> bool {
    days.retain(|_, bits| {
        if !bits.is_disjoint(customers) {
            *bits -= customers;
        }
        !bits.is_empty()
    });
    days.is_empty()
}

impl Tags {
    /// [`Tags::assign`], with the assignment ending on `until` (see [`Expiry::extend`] for an
    /// assignment the customer already has). Whether it was new.
    pub(crate) fn assign_until(
        &mut self,
        customers: &Directory,
        id: CustomerId,
        name: &str,
        until: Day,
    ) -> Result<bool> {
        customers.check_live(id)?;
        let tag = self.ensure(name)?;
        let new = self.assign_id(id.0, tag);
        self.expiry.extend(tag, id.0, until.days_since_epoch(), new);
        Ok(new)
    }

    /// [`Tags::assign_all`], with the assignments ending on `until` (see
    /// [`Expiry::extend`]). How many were new.
    pub(crate) fn assign_all_until(
        &mut self,
        customers: &Directory,
        bits: &RoaringBitmap,
        name: &str,
        until: Day,
    ) -> Result<u64> {
        let tag = self.ensure(name)?;
        let add = super::live_part(bits, customers.live());
        let fresh = add.as_ref() - self.store.get(tag);
        self.expiry.extend_all(tag, &add, fresh, until.days_since_epoch());
        Ok(self.add_exclusive(tag, add))
    }

    /// The day live customer `id`'s assignment of tag `name` ends; `None` when the customer
    /// carries the tag for good or not at all.
    pub(crate) fn expiry_of(&self, customers: &Directory, id: CustomerId, name: &str) -> Result<Option<Day>> {
        customers.check_live(id)?;
        let tag = self.lookup(name)?;
        let day = self.expiry.day_of(tag, id.0);
        Ok(day.map(|d| Day::from_days_since_epoch(d).expect("buckets hold days of valid Days")))
    }

    /// The day `customer`'s assignment of tag `tag` ends; `None` when it is permanent or
    /// absent. One failed lookup in a small map for a tag none of whose assignments expire.
    pub(crate) fn expiry_day(&self, tag: TagId, customer: u32) -> Option<Day> {
        self.expiry.day_of(tag, customer).and_then(Day::from_days_since_epoch)
    }

    /// Removes every expiring assignment whose day is `as_of` or earlier; how many (customer,
    /// tag) assignments were removed.
    pub(crate) fn expire(&mut self, as_of: Day) -> u64 {
        let mut due = Vec::new();
        self.expiry.drain_due(as_of.days_since_epoch(), |tag, bits| due.push((tag, bits)));
        let mut removed = 0;
        for (tag, bits) in due {
            // Through the layer's one removal path: the change feed sees it.
            let n = self.take_many(tag, &bits);
            debug_assert_eq!(n, bits.len(), "a bucket holds customers who carry its tag");
            removed += n;
        }
        removed
    }
}

impl Expiry {
    /// Every bucket: tag, day, customers; by tag, then day.
    pub(super) fn buckets(&self) -> impl Iterator<Item = (TagId, i32, &RoaringBitmap)> + '_ {
        self.tags.iter().flat_map(|(&t, days)| days.iter().map(move |(&d, b)| (t, d, b)))
    }

    /// Adds a bucket read from a snapshot, checking the invariants against `own` (the tag's
    /// own bitmap): not empty, a subset of it, disjoint from the tag's other buckets, and
    /// the day not given twice. `Err` says which fails.
    pub(super) fn restore_bucket(
        &mut self,
        tag: TagId,
        day: i32,
        bits: RoaringBitmap,
        own: &RoaringBitmap,
    ) -> std::result::Result<(), &'static str> {
        let days = self.tags.entry(tag).or_default();
        if bits.is_empty() || !bits.is_subset(own) {
            return Err("an expiry bucket that is empty or holds customers without the tag");
        }
        if days.values().any(|b| !b.is_disjoint(&bits)) {
            return Err("a customer in two expiry buckets of one tag");
        }
        match days.entry(day) {
            Entry::Occupied(_) => Err("an expiry day given twice for one tag"),
            Entry::Vacant(v) => {
                v.insert(bits);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(ids: &[u32]) -> RoaringBitmap {
        ids.iter().copied().collect()
    }

    #[test]
    fn later_days_win_and_permanent_stays_permanent() {
        let (t, mut x) = (TagId(3), Expiry::default());
        x.extend(t, 1, 10, true);
        x.extend(t, 1, 5, false); // earlier: no change
        assert_eq!(x.day_of(t, 1), Some(10));
        x.extend(t, 1, 20, false);
        assert_eq!(x.day_of(t, 1), Some(20));
        x.extend(t, 2, 20, false); // carried for good
        assert_eq!(x.day_of(t, 2), None);
        x.extend_all(t, &bits(&[1, 2, 3, 4]), bits(&[3, 4]), 15);
        assert_eq!([1, 2, 3, 4].map(|c| x.day_of(t, c)), [Some(20), None, Some(15), Some(15)]);
        x.extend_all(t, &bits(&[3]), RoaringBitmap::new(), 30);
        assert_eq!([3, 4].map(|c| x.day_of(t, c)), [Some(30), Some(15)]);
        x.forget(t, 4);
        let mut due = Vec::new();
        x.drain_due(20, |tag, b| due.push((tag, b)));
        assert_eq!(due, [(t, bits(&[1]))]);
        x.remove_customers(&bits(&[3]));
        assert_eq!(x, Expiry::default(), "nothing left: no empty entry either");
    }

    #[test]
    fn round_trips_through_serde_json() {
        let mut x = Expiry::default();
        x.extend_all(TagId(0), &bits(&[1, 2, 70_000]), bits(&[1, 2, 70_000]), -719_162);
        x.extend_all(TagId(7), &(0..100_000).collect(), (0..100_000).collect(), 19_723);
        x.extend(TagId(7), 200_000, 95_000_000, true);
        let json = serde_json::to_string(&x).unwrap();
        let back: Expiry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, x);
        assert_eq!(back.day_of(TagId(7), 200_000), Some(95_000_000));
        assert_eq!(serde_json::from_str::<Expiry>(r#"{"tags":{}}"#).unwrap(), Expiry::default());
    }
}
