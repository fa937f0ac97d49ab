//! Derived groups: exclusive groups whose value tags a layer computes (`refresh` writes `r:`,
//! `f:`, `m:`, `rfm:` and `stage:`; segment plans will write theirs), written through this
//! API so no layer formats `group:value` names and looks them up again.
//!
//! A layer asks for its group once per run ([`Tags::derived_group`]: the group is declared
//! and every value tag exists, so queries on an empty value resolve), then moves customers
//! between the values it got back ([`Tags::move_members`], [`Tags::replace_members`]).
//! These methods skip the derived-name guard that refuses the same names to users: the
//! guard is for hand writes, and the layer owns the names.

use std::fmt::Display;

use roaring::RoaringBitmap;

use super::{TagKind, Tags};
use crate::error::Result;
use crate::id::TagId;

/// The value tags of a derived group, in the order the layer listed the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DerivedGroup {
    values: Vec<TagId>,
}

impl DerivedGroup {
    /// The tag of the `i`-th value.
    pub(crate) fn tag(&self, i: usize) -> TagId {
        self.values[i]
    }

    /// The value tags, in order.
    pub(crate) fn tags(&self) -> &[TagId] {
        &self.values
    }
}

impl Tags {
    /// Declares exclusive group `group` if needed (its value tags get `kind`) and makes sure
    /// a value tag `group:<value>` exists for every value, in order; their ids.
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
            {
                use std::fmt::Write;
                write!(name, "{group}:{v}").expect("writing to a String cannot fail");
            }
            ids.push(match self.pool.lookup(&name) {
                Some(id) => id,
                None => self.create(&name, kind)?,
            });
        }
        Ok(DerivedGroup { values: ids })
    }

    /// The tag of value `value` of exclusive group `group`, if both exist.
    pub(crate) fn group_value(&self, group: &str, value: impl Display) -> Option<TagId> {
        self.pool.group(group)?;
        self.pool.lookup(&format!("{group}:{value}"))
    }

    /// Empties every value tag of `group` (its value list changed: values it no longer has
    /// stay as empty tags, so stored queries naming them still resolve).
    pub(crate) fn clear_group(&mut self, group: &str) {
        let members = self.pool.group(group).map(|g| g.members.clone()).unwrap_or_default();
        for m in members {
            self.store.replace(&self.pool, m, RoaringBitmap::new());
        }
    }

    /// Moves customers in and out of value tag `tag`: `removes` leave it, then `adds` join it
    /// (both ascending ids), and the bitmap is run-optimized. Customers joining are removed
    /// from no other value: the layer's diff moves each customer out of its old value
    /// itself. Whether anything was given.
    pub(crate) fn move_members(&mut self, tag: TagId, removes: &[u32], adds: &[u32]) -> bool {
        if removes.is_empty() && adds.is_empty() {
            return false;
        }
        if !removes.is_empty() {
            let bits = RoaringBitmap::from_sorted_iter(removes.iter().copied()).expect("ids ascend");
            self.store.remove_many(&self.pool, tag, &bits);
        }
        if !adds.is_empty() {
            let bits = RoaringBitmap::from_sorted_iter(adds.iter().copied()).expect("ids ascend");
            self.store.add(&self.pool, tag, bits);
        }
        self.store.optimize_tag(tag);
        true
    }

    /// Sets value tag `tag`'s members wholesale (and run-optimizes them).
    pub(crate) fn replace_members(&mut self, tag: TagId, members: RoaringBitmap) {
        self.store.replace(&self.pool, tag, members);
        self.store.optimize_tag(tag);
    }
}
