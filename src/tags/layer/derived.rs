//! Derived groups: exclusive groups whose value tags a layer computes (`refresh` writes `r:`,
//! `f:`, `m:`, `rfm:` and `stage:`; segment plans will write theirs), written through this
//! API so no layer formats `group:value` names and looks them up again.
//!
//! A layer asks for its group once per run ([`Tags::derived_group`]: the group is declared
//! and every value tag exists, so queries on an empty value resolve) and gets a
//! [`DerivedGroup`] back; it then moves customers between the group's values by index
//! ([`Tags::move_members`], [`Tags::replace_members`], [`Tags::reset_group`]). Only tags
//! handed out this way can be written: a layer cannot reach a user's tag through this API.
//! These methods skip the derived-name guard that refuses the same names to hand writes:
//! the guard is for users, and the layer owns the names.

use std::fmt::{Display, Write};

use roaring::RoaringBitmap;

use super::Tags;
use crate::error::Result;
use crate::id::TagId;
use crate::tags::TagKind;

/// How large a share (one in this many) of a tag's customers must move for a move to
/// run-optimize the tag: below it the pass over the whole tag would cost more than the move.
pub(crate) const OPTIMIZE_SHARE: u64 = 16;

/// A derived group's value tags, in the order the layer listed the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DerivedGroup {
    group: Box<str>,
    values: Vec<TagId>,
    /// Whether writes through it record no tag events in the change feed: the layer
    /// describes them itself (segment moves, stage changes).
    quiet: bool,
}

impl DerivedGroup {
    /// How many values the layer listed.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The group's name, its value tags in listing order, and whether it is quiet: what a
    /// snapshot stores ([`Tags::derived_group_of`] reads it back).
    pub(crate) fn parts(&self) -> (&str, &[TagId], bool) {
        (&self.group, &self.values, self.quiet)
    }

    /// The group with its writes' tag events muted in the change feed: the layer records
    /// higher-level events for them itself.
    pub(crate) fn quiet(self) -> DerivedGroup {
        DerivedGroup { quiet: true, ..self }
    }
}

impl Tags {
    /// Declares exclusive group `group` if needed (its value tags get `kind`) and makes sure
    /// a value tag `group:<value>` exists for every value, in order.
    pub(crate) fn derived_group<V: Display>(
        &mut self,
        group: &str,
        kind: TagKind,
        values: impl IntoIterator<Item = V>,
    ) -> Result<DerivedGroup> {
        self.declare_group(group, kind)?;
        let mut ids = Vec::new();
        let mut name = String::new();
        for v in values {
            name.clear();
            write!(name, "{group}:{v}").expect("writing to a String cannot fail");
            ids.push(match self.pool.lookup(&name) {
                Some(id) => id,
                None => self.create(&name, kind)?,
            });
        }
        Ok(DerivedGroup { group: group.into(), values: ids, quiet: false })
    }

    /// A group handed out before, read back from a snapshot: `values` are the tags
    /// `group:<names[i]>`, each a live value of exclusive group `group`. `None` when one is
    /// not (a damaged or foreign snapshot), so no write through the group can reach a tag
    /// outside it.
    pub(crate) fn derived_group_of<S: AsRef<str>>(
        &self,
        group: &str,
        values: Vec<TagId>,
        names: &[S],
        quiet: bool,
    ) -> Option<DerivedGroup> {
        let members = &self.pool.group(group)?.members;
        let fits = values.len() == names.len()
            && values.iter().zip(names).all(|(&id, name)| {
                members.contains(&id)
                    && self.pool.def(id).is_some_and(|d| d.name.split_once(':') == Some((group, name.as_ref())))
            });
        fits.then(|| DerivedGroup { group: group.into(), values, quiet })
    }

    /// The values of exclusive group `group` (listed by a layer or not), in creation order:
    /// each tag's name after `group:`.
    pub(crate) fn group_values(&self, group: &str) -> Vec<&str> {
        let Some(g) = self.pool.group(group) else { return Vec::new() };
        g.members
            .iter()
            .map(|&t| {
                let name = self.pool.name(t);
                name.split_once(':').map_or(name, |(_, v)| v)
            })
            .collect()
    }

    /// The customers of the group's `value`-th value.
    pub(crate) fn members(&self, group: &DerivedGroup, value: usize) -> &RoaringBitmap {
        self.store.get(group.values[value])
    }

    /// Sets every value tag of the group at once: the `i`-th listed value gets `members[i]`,
    /// a value the layer no longer lists gets nobody (it stays as an empty tag, so stored
    /// queries naming it still resolve). Each tag is diffed against what it held, so the
    /// change feed records only the customers whose membership changed.
    pub(crate) fn reset_group(&mut self, group: &DerivedGroup, members: Vec<RoaringBitmap>) {
        debug_assert_eq!(members.len(), group.values.len());
        let all = self.pool.group(&group.group).map(|g| g.members.clone()).unwrap_or_default();
        let mut members: Vec<Option<RoaringBitmap>> = members.into_iter().map(Some).collect();
        self.muted(group.quiet, |tags| {
            for tag in all {
                let bits = group.values.iter().position(|&v| v == tag).and_then(|i| members[i].take());
                tags.set_members(tag, bits.unwrap_or_default());
                tags.store.optimize_tag(tag);
            }
        });
    }

    /// Moves customers in and out of the group's `value`-th value: `removes` leave it, then
    /// `adds` join it (both ascending ids), and the bitmap is run-optimized when at least
    /// one in [`OPTIMIZE_SHARE`] of its customers moved. Customers
    /// joining are removed from no other value: the layer's diff moves each customer out of
    /// its old value itself. Whether anything was given.
    pub(crate) fn move_members(&mut self, group: &DerivedGroup, value: usize, removes: &[u32], adds: &[u32]) -> bool {
        let bits = |ids: &[u32]| RoaringBitmap::from_sorted_iter(ids.iter().copied()).expect("ids ascend");
        self.move_member_bits(group, value, &bits(removes), bits(adds))
    }

    /// [`Tags::move_members`] with the customers as bitmaps.
    pub(crate) fn move_member_bits(
        &mut self,
        group: &DerivedGroup,
        value: usize,
        removes: &RoaringBitmap,
        adds: RoaringBitmap,
    ) -> bool {
        if removes.is_empty() && adds.is_empty() {
            return false;
        }
        let tag = group.values[value];
        let moved = removes.len() + adds.len();
        self.muted(group.quiet, |tags| {
            if !removes.is_empty() {
                tags.take_many(tag, removes);
            }
            if !adds.is_empty() {
                tags.put_many(tag, adds);
            }
        });
        // Run-optimizing reads the whole tag: worth it when a good part of it moved, not for
        // a few movers (an insert into a run container keeps it a run).
        if moved.saturating_mul(OPTIMIZE_SHARE) >= self.store.get(tag).len() {
            self.store.optimize_tag(tag);
        }
        true
    }

    /// Sets the group's `value`-th value's members wholesale (and run-optimizes them).
    pub(crate) fn replace_members(&mut self, group: &DerivedGroup, value: usize, members: RoaringBitmap) {
        let tag = group.values[value];
        self.muted(group.quiet, |tags| tags.set_members(tag, members));
        self.store.optimize_tag(tag);
    }
}
