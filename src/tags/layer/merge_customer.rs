//! Merging one customer's tags into another's, for
//! [`Engine::merge_customers`](crate::Engine::merge_customers): [`Tags::merge_customer`].
//!
//! The rules, tag by tag (a tag is its own bitmap, so the hierarchy needs nothing special:
//! `interest/outdoor` moves as itself, and `interest` matches through it):
//!
//! - a tag a layer owns (the refresh's `r:`, `f:`, `m:`, `rfm:`, `stage:` values, an applied
//!   plan's segments, a rule tag) is not copied: its layer computes it again, and `into` is
//!   noted as touched so an applied plan's next evaluation looks at it;
//! - a value of an exclusive group is copied unless `into` has a value of the group already
//!   (`into`'s value wins);
//! - any other tag is copied.
//!
//! Expiry days follow the longer of the two assignments, as [`Tags::assign_until`] extends
//! one: a tag new to `into` keeps `from`'s day (or is permanent if `from`'s was); a tag both
//! carry stays permanent when either assignment is, else ends on the later day.
//!
//! Every write goes through `writes.rs` (the change feed records `into` gaining each tag);
//! `from` itself is erased afterwards by the engine's removal path.

use super::Tags;

impl Tags {
    /// Gives live customer `into` the tags of `from` by the rules above; the names of the tags
    /// `into` gained, in id order. `from` keeps its tags (the caller removes it). `from`'s
    /// tags as [`Tags::of_ids`] finds them, then a write per tag moved.
    pub(crate) fn merge_customer(&mut self, into: u32, from: u32) -> Vec<String> {
        let carried: Vec<_> = self.of_ids(from).into_iter().filter(|&t| self.owner_of(t).is_none()).collect();
        let mut gained = Vec::new();
        for tag in carried {
            let from_day = self.expiry.day_of(tag, from);
            if self.store.get(tag).contains(into) {
                // Both carry it: the longer assignment stays.
                match (self.expiry.day_of(tag, into), from_day) {
                    (None, _) => {}
                    (Some(_), None) => self.expiry.forget(tag, into),
                    (Some(_), Some(day)) => self.expiry.extend(tag, into, day, false),
                }
                continue;
            }
            if self.pool.exclusive_members(tag).iter().any(|&value| self.store.get(value).contains(into)) {
                continue; // into's value of the group wins
            }
            self.put(tag, into);
            if let Some(day) = from_day {
                self.expiry.extend(tag, into, day, true);
            }
            gained.push(self.name(tag).to_owned());
        }
        gained
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::Directory;
    use crate::history::Day;
    use crate::id::CustomerId;

    #[test]
    fn the_longer_assignment_stays() {
        let mut d = Directory::default();
        let [a, b, c, x]: [CustomerId; 4] = ["a", "b", "c", "x"].map(|k| d.intern(k).unwrap());
        let day = |n| Day::from_days_since_epoch(n).unwrap();
        let mut tags = Tags::default();
        tags.assign_until(&d, a, "t", day(10)).unwrap();
        tags.assign_until(&d, b, "t", day(20)).unwrap();
        tags.assign(&d, c, "t").unwrap();
        tags.assign_until(&d, x, "u", day(5)).unwrap();
        assert!(tags.merge_customer(a.0, b.0).is_empty(), "a carries t already");
        assert_eq!(tags.expiry_of(&d, a, "t").unwrap(), Some(day(20)), "the later day");
        tags.merge_customer(a.0, c.0);
        assert_eq!(tags.expiry_of(&d, a, "t").unwrap(), None, "c's is permanent");
        tags.merge_customer(c.0, a.0);
        assert_eq!(tags.expiry_of(&d, c, "t").unwrap(), None, "c's stays permanent");
        assert_eq!(tags.merge_customer(c.0, x.0), ["u"]);
        assert_eq!(tags.expiry_of(&d, c, "u").unwrap(), Some(day(5)), "a new tag keeps its day");
    }
}
