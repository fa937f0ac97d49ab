//! Merging one tag into another ([`Tags::merge`]): the customers of `from` join `into`
//! through the layer's write path (`writes.rs`: the change feed, touches and expiry follow),
//! then `from` is deleted as [`Tags::delete`] deletes a tag. The saved queries that name
//! `from` are the segment layer's to rewrite; it checks them before calling here.
//!
//! The rules, so the result is what tagging by hand would give:
//!
//! - `into` of an exclusive group: the customers joining it lose their other value of the
//!   group (`into` wins), as [`Tags::assign_all`] does;
//! - expiry: a customer who carried `from` for good carries `into` for good; one who carried
//!   it until a day carries `into` until that day, unless it carried `into` longer already
//!   (the later day wins, and permanent is later than any day), as
//!   [`Tags::assign_all_until`] extends an assignment;
//! - aliases: those of `from` become aliases of `into` (they named `from`'s customers).

use std::borrow::Cow;

use roaring::RoaringBitmap;

use super::Tags;
use crate::error::{Error, LISTED, MergeProblem, Result};
use crate::id::TagId;

/// What [`Tags::merge`] did to the bitmaps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Customers who carried `from`.
    pub(crate) moved: u64,
    /// Of them, those who did not carry `into` before.
    pub(crate) added: u64,
    /// Customers who lost another value of `into`'s exclusive group (not counting `from`).
    pub(crate) displaced: u64,
}

impl Tags {
    /// Checks that tag `from` can be merged into tag `into` (both live): two different tags,
    /// neither owned by a layer ([`Error::DerivedName`]), `from` without children. Changes
    /// nothing.
    pub(crate) fn check_merge(&self, from: TagId, into: TagId) -> Result<()> {
        let problem =
            |reason| Error::InvalidMerge { from: self.name(from).to_owned(), into: self.name(into).to_owned(), reason };
        self.pool.check(from)?;
        self.pool.check(into)?;
        if from == into {
            return Err(problem(MergeProblem::SameTag));
        }
        self.check_writable_id(from)?;
        self.check_writable_id(into)?;
        let children = self.pool.children(from);
        if children.len() > 0 {
            let children = children.take(LISTED + 1).map(|c| self.name(c).to_owned()).collect();
            return Err(problem(MergeProblem::HasChildren { children }));
        }
        Ok(())
    }

    /// Merges tag `from` into tag `into` (see the module docs), then deletes `from`. Nothing
    /// changes on error ([`Tags::check_merge`] runs first).
    pub(crate) fn merge(&mut self, from: TagId, into: TagId) -> Result<Merged> {
        self.check_merge(from, into)?;
        let bits = self.store.get(from).clone();
        let merged = {
            let had = self.store.get(into);
            let others = self.pool.exclusive_members(into).iter().filter(|&&o| o != into && o != from);
            Merged {
                moved: bits.len(),
                added: bits.difference_len(had),
                displaced: others.map(|&o| bits.intersection_len(self.store.get(o))).sum(),
            }
        };
        if !bits.is_empty() {
            // The days first: `from`'s are read before any write forgets them, and a customer
            // new to `into` is told from one who carried it before.
            let days: Vec<(i32, RoaringBitmap)> = self.expiry.days(from).map(|(d, b)| (d, b.clone())).collect();
            let mut expiring = RoaringBitmap::new();
            for (day, customers) in days {
                let fresh = &customers - self.store.get(into);
                self.expiry.extend_all(into, &customers, fresh, day);
                expiring |= customers;
            }
            // Permanent wins: those who carried `from` for good carry `into` for good.
            self.expiry.forget_all(into, &(&bits - &expiring));
            self.add_exclusive(into, Cow::Owned(bits));
        }
        // `from`'s aliases stand for `into` now (a spelling that meant `from` means what it
        // was merged into); deleting `from` would drop them.
        let aliases: Vec<Box<str>> = self.pool.aliases().of(from).to_vec();
        self.delete_id(from)?;
        for alias in aliases {
            self.pool_mut().add_alias(&alias, into)?;
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::TagKind;

    fn bits(ids: &[u32]) -> RoaringBitmap {
        ids.iter().copied().collect()
    }

    #[test]
    fn members_move_days_follow_and_from_is_gone() {
        let mut tags = Tags::default();
        tags.define_group("tier", TagKind::Value).unwrap();
        let (from, into, other) =
            (tags.ensure("silver").unwrap(), tags.ensure("tier:gold").unwrap(), tags.ensure("tier:bronze").unwrap());
        tags.put_many(from, bits(&[1, 2, 3, 4]));
        tags.put_many(into, bits(&[4, 5]));
        tags.put_many(other, bits(&[2, 6]));
        // 1 until day 10 (new to gold: gets 10); 4 until day 10 but gold for good (stays so);
        // 5 has gold until day 3 and no silver (keeps day 3).
        tags.expiry.extend_all(from, &bits(&[1, 4]), bits(&[1, 4]), 10);
        tags.expiry.extend_all(into, &bits(&[5]), bits(&[5]), 3);
        let merged = tags.merge(from, into).unwrap();
        assert_eq!(merged, Merged { moved: 4, added: 3, displaced: 1 });
        assert_eq!(tags.store.get(into), &bits(&[1, 2, 3, 4, 5]));
        assert_eq!(tags.store.get(other), &bits(&[6]), "gold wins in the group");
        assert!(tags.id("silver").is_none());
        let days: Vec<(i32, RoaringBitmap)> = tags.expiry.days(into).map(|(d, b)| (d, b.clone())).collect();
        assert_eq!(days, [(3, bits(&[5])), (10, bits(&[1]))]);
        assert_eq!(tags.expiry.days(from).count(), 0);
    }

    #[test]
    fn refusals_change_nothing() {
        let mut tags = Tags::default();
        let leaf = tags.ensure("a/b").unwrap();
        let parent = tags.lookup("a").unwrap();
        let rule = tags.rule_tag("r").unwrap();
        tags.put(leaf, 1);
        let same = tags.merge(leaf, leaf).unwrap_err();
        assert!(matches!(same, Error::InvalidMerge { reason: MergeProblem::SameTag, .. }), "{same}");
        let parent_err = tags.merge(parent, leaf).unwrap_err();
        assert!(
            matches!(&parent_err, Error::InvalidMerge { reason: MergeProblem::HasChildren { children }, .. } if children == &["a/b"])
        );
        assert!(parent_err.to_string().contains("hint"), "{parent_err}");
        assert!(matches!(tags.merge(leaf, rule), Err(Error::DerivedName { .. })));
        assert!(matches!(tags.merge(rule, leaf), Err(Error::DerivedName { .. })));
        assert_eq!(tags.store.get(leaf), &bits(&[1]));
        // Into its own parent: the parent carries the customers itself now.
        assert_eq!(tags.merge(leaf, parent).unwrap(), Merged { moved: 1, added: 1, displaced: 0 });
        assert_eq!(tags.store.members(&tags.pool, parent), &bits(&[1]));
        assert_eq!(tags.pool.children(parent).len(), 0);
    }
}
