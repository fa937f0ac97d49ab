//! Derived groups: exclusive groups whose value tags a layer computes (`refresh` writes `r:`,
//! `f:`, `m:`, `rfm:` and `stage:`; segment plans will write theirs), written through this
//! API so no layer formats `group:value` names and looks them up again.
//!
//! A layer asks for its group once per run ([`Tags::derived_group`]: the group is declared
//! and every value tag exists, so queries on an empty value resolve) and gets a
//! [`DerivedGroup`] back; it then moves customers between the group's values by index
//! ([`Tags::move_members`], [`Tags::replace_members`], [`Tags::clear_group`]). Only tags
//! handed out this way can be written: a layer cannot reach a user's tag through this API.
//! These methods skip the derived-name guard that refuses the same names to hand writes:
//! the guard is for users, and the layer owns the names.

use std::fmt::{Display, Write};

use roaring::RoaringBitmap;

use super::Tags;
use crate::error::Result;
use crate::id::TagId;
use crate::tags::TagKind;

/// A derived group's value tags, in the order the layer listed the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DerivedGroup {
    group: Box<str>,
    values: Vec<TagId>,
}

impl DerivedGroup {
    /// How many values the layer listed.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
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
        Ok(DerivedGroup { group: group.into(), values: ids })
    }

    /// Every value tag of exclusive group `group` (listed by a layer or not), in creation
    /// order: the value's name (after `group:`) and its customers.
    pub(crate) fn group_members(&self, group: &str) -> Vec<(String, RoaringBitmap)> {
        let Some(g) = self.pool.group(group) else { return Vec::new() };
        g.members
            .iter()
            .map(|&t| {
                let name = self.pool.name(t);
                let value = name.split_once(':').map_or(name, |(_, v)| v);
                (value.to_owned(), self.store.get(t).clone())
            })
            .collect()
    }

    /// The customers of the group's `value`-th value.
    pub(crate) fn members(&self, group: &DerivedGroup, value: usize) -> &RoaringBitmap {
        self.store.get(group.values[value])
    }

    /// Empties every value tag of the group, listed or not (its value list changed: values
    /// it no longer has stay as empty tags, so stored queries naming them still resolve).
    pub(crate) fn clear_group(&mut self, group: &DerivedGroup) {
        let members = self.pool.group(&group.group).map(|g| g.members.clone()).unwrap_or_default();
        for m in members {
            self.store.replace(&self.pool, m, RoaringBitmap::new());
            self.expiry.forget_tag(m);
        }
    }

    /// Moves customers in and out of the group's `value`-th value: `removes` leave it, then
    /// `adds` join it (both ascending ids), and the bitmap is run-optimized. Customers
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
        // The layer's writes are for good: no day a user gave survives them.
        self.expiry.forget_all(tag, removes);
        self.expiry.forget_all(tag, &adds);
        if !removes.is_empty() {
            self.store.remove_many(&self.pool, tag, removes);
        }
        if !adds.is_empty() {
            self.store.add(&self.pool, tag, adds);
        }
        self.store.optimize_tag(tag);
        true
    }

    /// Sets the group's `value`-th value's members wholesale (and run-optimizes them).
    pub(crate) fn replace_members(&mut self, group: &DerivedGroup, value: usize, members: RoaringBitmap) {
        let tag = group.values[value];
        self.expiry.forget_tag(tag);
        self.store.replace(&self.pool, tag, members);
        self.store.optimize_tag(tag);
    }
}
