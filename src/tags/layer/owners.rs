//! Who owns which tags. A derived layer owns what it computes, and the tags layer refuses
//! hand writes to it (the next computation would silently undo them):
//!
//! - `refresh` owns the groups `r`, `f`, `m`, `rfm` and `stage` (fixed names, in `id.rs`);
//! - a segment plan owns the exclusive group it was applied as (`campaign`), from its first
//!   [`Engine::apply_plan`](crate::Engine::apply_plan) on;
//! - a rule tag is owned by its query, from [`Engine::define_rule_tag`](crate::Engine::define_rule_tag)
//!   until the tag is deleted.
//!
//! Owned tags are written only through the derived-group API (`derived.rs`) and the rule-tag
//! writes below.

use std::collections::BTreeSet;

use roaring::RoaringBitmap;

use super::Tags;
use crate::error::{Error, NameProblem, Result};
use crate::id::{DERIVED_GROUPS, DERIVED_OWNER, PLAN_OWNER, RULE_OWNER, TagId};
use crate::tags::group_prefix;
use crate::tags::name::normalize_group;

/// The groups segment plans own and the tags rule queries own (refresh's groups are fixed).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Owners {
    plan_groups: BTreeSet<Box<str>>,
    rule_tags: BTreeSet<TagId>,
}

impl Tags {
    /// Who owns group `group`, if anyone (normalized name).
    pub(super) fn group_owner(&self, group: &str) -> Option<&'static str> {
        if DERIVED_GROUPS.contains(&group) {
            Some(DERIVED_OWNER)
        } else if self.owners.plan_groups.contains(group) {
            Some(PLAN_OWNER)
        } else {
            None
        }
    }

    /// Refuses a normalized tag name that a layer owns: a value of an owned group, or an
    /// existing rule tag.
    pub(super) fn check_writable(&self, norm: &str) -> Result<()> {
        if let Some(owner) = group_prefix(norm).and_then(|g| self.group_owner(g)) {
            return Err(Error::DerivedName { name: norm.to_owned(), owner });
        }
        match self.pool.lookup(norm) {
            Some(id) if self.owners.rule_tags.contains(&id) => {
                Err(Error::DerivedName { name: norm.to_owned(), owner: RULE_OWNER })
            }
            _ => self.check_not_under_rule(norm),
        }
    }

    /// Refuses a name below a rule tag (`high_value/extra`): a query on the rule tag reads
    /// its descendants too, so a hand-written child would make it differ from its query.
    fn check_not_under_rule(&self, norm: &str) -> Result<()> {
        if self.owners.rule_tags.is_empty() {
            return Ok(());
        }
        let ancestors = norm.match_indices('/').map(|(at, _)| &norm[..at]);
        for ancestor in ancestors {
            if self.pool.lookup(ancestor).is_some_and(|a| self.owners.rule_tags.contains(&a)) {
                let reason = NameProblem::UnderRuleTag { rule: ancestor.to_owned() };
                return Err(Error::InvalidTagName { name: norm.to_owned(), reason });
            }
        }
        Ok(())
    }

    /// Which layer owns tag `id` (a rule tag, or a value of an owned group), if any: the
    /// `owner` an [`Error::DerivedName`] for it names.
    pub(crate) fn owner_of(&self, id: TagId) -> Option<&'static str> {
        if self.owners.rule_tags.contains(&id) {
            Some(RULE_OWNER)
        } else {
            let group = self.pool.def(id).and_then(|d| d.group()).and_then(|g| self.pool.group_name(g));
            group.and_then(|g| self.group_owner(g))
        }
    }

    /// Refuses tag `id` when a layer owns it.
    pub(super) fn check_writable_id(&self, id: TagId) -> Result<()> {
        match self.owner_of(id) {
            Some(owner) => Err(Error::DerivedName { name: self.name(id).to_owned(), owner }),
            None => Ok(()),
        }
    }

    /// `group` normalized, if a user may declare it: a valid group name no layer owns.
    pub(crate) fn check_group_name<'g>(&self, group: &'g str) -> Result<std::borrow::Cow<'g, str>> {
        let group = normalize_group(group)?;
        if let Some(owner) = self.group_owner(&group) {
            return Err(Error::DerivedName { name: group.into_owned(), owner });
        }
        Ok(group)
    }

    /// `group` normalized, if a segment plan may be applied as it: a valid group name that a
    /// plan owns already, or that is new (no tag `group:...` exists, so no hand-written
    /// value would be taken over). Changes nothing; [`Tags::claim_plan_group`] claims it.
    pub(crate) fn check_plan_group<'g>(&self, group: &'g str) -> Result<std::borrow::Cow<'g, str>> {
        let group = normalize_group(group)?;
        match self.group_owner(&group) {
            Some(PLAN_OWNER) => return Ok(group),
            Some(owner) => return Err(Error::DerivedName { name: group.into_owned(), owner }),
            None => {}
        }
        // Any tag `group:...` is a hand-written one (valid as a value or not): taken.
        let declared = self.pool.group(&group).is_some();
        let taken = self.pool.iter().find(|(_, d)| group_prefix(&d.name) == Some(&*group)).map(|(t, _)| t);
        if !declared && taken.is_none() {
            return Ok(group);
        }
        Err(Error::GroupInUse { group: group.into_owned(), tag: taken.map(|t| self.name(t).to_owned()) })
    }

    /// Checks that plan `names` can be the values of group `group` (normalized, checked by
    /// [`Tags::check_plan_group`]): each `group:<name>` within the limits of a tag name, so
    /// every segment stays reachable by a query, and no alias's name
    /// ([`Error::AliasConflict`]). Changes nothing.
    pub(crate) fn check_plan_values<'n>(&self, group: &str, names: impl IntoIterator<Item = &'n str>) -> Result<()> {
        let mut tag = String::new();
        for name in names {
            tag.clear();
            tag.push_str(group);
            tag.push(':');
            tag.push_str(name);
            self.pool.check_not_alias(&crate::tags::normalize_tag(&tag)?)?;
        }
        Ok(())
    }

    /// Claims `group` (checked by [`Tags::check_plan_group`]) for a segment plan.
    pub(crate) fn claim_plan_group(&mut self, group: &str) {
        self.owners.plan_groups.insert(group.into());
        self.note_touches();
    }

    // ------------------------------------------------------------------ rule tags

    /// The id of rule tag `name` (normalized), defining it if new: a tag whose members a
    /// rule's query sets. Refused for a tag written by hand ([`Error::TagExists`]), a name
    /// another layer owns, and a value of an exclusive group (a rule's members may overlap
    /// the group's other values). Changes nothing when refused.
    pub(crate) fn rule_tag(&mut self, name: &str) -> Result<TagId> {
        let norm = crate::tags::normalize_tag(name)?;
        if let Some(id) = self.pool.lookup(&norm) {
            if self.owners.rule_tags.contains(&id) {
                return Ok(id);
            }
            self.check_writable_id(id)?;
            return Err(Error::TagExists { name: norm.into_owned() });
        }
        self.check_writable(&norm)?;
        if let Some(group) = group_prefix(&norm).filter(|g| self.pool.group(g).is_some()) {
            let reason = NameProblem::RuleInGroup { group: group.to_owned() };
            return Err(Error::InvalidTagName { name: norm.into_owned(), reason });
        }
        let kind = self.pool.implicit_kind(&norm);
        let id = self.create(&norm, kind)?;
        self.owners.rule_tags.insert(id);
        Ok(id)
    }

    /// The groups segment plans own, in name order (for the segments' snapshot check).
    pub(crate) fn plan_groups(&self) -> impl Iterator<Item = &str> + '_ {
        self.owners.plan_groups.iter().map(|g| &**g)
    }

    /// The rule tags, in id order (for the segments' snapshot check).
    pub(crate) fn rule_tag_ids(&self) -> impl Iterator<Item = TagId> + '_ {
        self.owners.rule_tags.iter().copied()
    }

    /// Whether tag `id` is a rule tag.
    pub(crate) fn is_rule_tag(&self, id: TagId) -> bool {
        self.owners.rule_tags.contains(&id)
    }

    /// Whether any rule tag is among `members` (a group about to be declared).
    pub(super) fn first_rule_tag(&self, members: &[TagId]) -> Option<TagId> {
        members.iter().copied().find(|m| self.owners.rule_tags.contains(m))
    }

    /// Sets rule tag `id`'s members to `members` (live customers); who joined and who left.
    pub(crate) fn set_rule_members(&mut self, id: TagId, members: RoaringBitmap) -> (RoaringBitmap, RoaringBitmap) {
        debug_assert!(self.owners.rule_tags.contains(&id), "only rule tags are written here");
        let old = self.store.get(id);
        let (joined, left) = (&members - old, old - &members);
        if !joined.is_empty() || !left.is_empty() {
            self.set_members(id, members);
            self.store.optimize_tag(id);
        }
        (joined, left)
    }

    /// Deletes rule tag `id` (childless) and its ownership; how many carried it.
    pub(crate) fn delete_rule_tag(&mut self, id: TagId) -> Result<u64> {
        let n = self.delete_id(id)?;
        self.owners.rule_tags.remove(&id);
        Ok(n)
    }
}

impl Owners {
    /// What is wrong with owners read from a snapshot, checked against `pool`: a plan group
    /// that is not a normalized name, or a rule tag that is not a live tag.
    pub(super) fn check(&self, pool: &crate::tags::Pool) -> Option<String> {
        if let Some(g) = self.plan_groups.iter().find(|g| normalize_group(g).ok().is_none_or(|n| n != ***g)) {
            return Some(format!("plan group {g:?} is not a normalized group name"));
        }
        let t = self.rule_tags.iter().find(|&&t| pool.def(t).is_none())?;
        Some(format!("rule tag {} is not a tag", t.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12 part 7: who owns what, and the change feed's state (on, the last sequence
    /// number), are plain serde data; undrained events are not (drain before saving).
    #[test]
    fn owners_and_the_feed_round_trip_through_serde() {
        let mut tags = Tags::default();
        let rule = tags.rule_tag("高价值").unwrap();
        tags.claim_plan_group("campaign");
        tags.track_changes(true);
        let id = tags.ensure("vip").unwrap();
        tags.put(id, 7);
        let owners: Owners = serde_json::from_str(&serde_json::to_string(&tags.owners).unwrap()).unwrap();
        assert!(owners.rule_tags.contains(&rule) && owners.plan_groups.contains("campaign"));
        assert_eq!(serde_json::to_string(&owners).unwrap(), serde_json::to_string(&tags.owners).unwrap());
        let feed: crate::feed::Feed = serde_json::from_str(&serde_json::to_string(&tags.feed).unwrap()).unwrap();
        assert!(feed.is_on());
        assert_eq!(feed.last_seq(), 1);
    }
}
