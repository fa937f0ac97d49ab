//! The pool in a snapshot: [`Pool::encode`] writes the `POOL` payload and [`Pool::decode`]
//! reads it back, checking what the pool relies on (see `docs/format.md`).

use super::*;
use crate::persist::{Dec, Enc};

/// A kind's place in [`TagKind::ALL`], as snapshots store it.
fn kind_index(kind: TagKind) -> u8 {
    TagKind::ALL.iter().position(|&k| k == kind).expect("every kind is listed") as u8
}

impl Pool {
    /// The pool as a snapshot's `POOL` payload: every slot (`u8` 1 and the tag's name,
    /// parent id, group index (`u32::MAX` for none) and kind index, or `u8` 0 for a deleted
    /// tag's), the exclusive groups (name, kind, value tags in order), and the aliases (name,
    /// tag; per tag in the order they were defined).
    pub(crate) fn encode(&self, e: &mut Enc) {
        e.len(self.slots.len());
        for slot in &self.slots {
            match slot {
                None => e.u8(0),
                Some(d) => {
                    e.u8(1);
                    e.str(&d.name);
                    e.u32(d.parent);
                    e.u32(d.group);
                    e.u8(kind_index(d.kind));
                }
            }
        }
        e.len(self.groups.len());
        for (name, g) in &self.groups {
            e.str(name);
            e.u8(kind_index(g.kind));
            e.u32s(&g.members.iter().map(|t| t.0).collect::<Vec<_>>());
        }
        e.len(self.aliases.len());
        for (alias, id) in self.aliases.iter() {
            e.str(alias);
            e.u32(id.0);
        }
    }

    /// Reads what [`Pool::encode`] wrote, checking what the pool relies on: names valid,
    /// normalized and unique; each tag's parent the tag its name's parent names; each tag in
    /// the exclusive group its name says, and each group's values those tags; aliases
    /// normalized names of live tags that are no tag's name.
    pub(crate) fn decode(d: &mut Dec<'_>) -> Result<Pool> {
        let kind = |d: &mut Dec<'_>| -> Result<TagKind> {
            let k = d.u8("tag kind")?;
            TagKind::ALL.get(usize::from(k)).copied().ok_or_else(|| d.corrupt(format!("tag kind {k}")))
        };
        let n = d.len(1, "tag slots")?;
        if n > u32::MAX as usize {
            return Err(d.corrupt("more tag slots than tag ids"));
        }
        let mut pool = Pool::default();
        pool.slots.reserve(n);
        let mut at = Vec::with_capacity(n); // each slot's offset, for errors
        for _ in 0..n {
            at.push(d.offset());
            let slot = match d.u8("tag slot")? {
                0 => None,
                1 => {
                    let name = d.str("tag name")?;
                    let (parent, group) = (d.u32("parent")?, d.u32("group")?);
                    Some(TagDef { name: name.into(), parent, group, kind: kind(d)? })
                }
                b => return Err(d.corrupt(format!("tag slot marker {b}"))),
            };
            pool.slots.push(slot);
        }
        let bad = |d: &Dec<'_>, i: usize, what: String| crate::persist::codec::corrupt_at(d, at.get(i).copied(), what);
        // Names: valid, normalized, unique; indexed.
        for i in 0..n {
            let Some(def) = &pool.slots[i] else { continue };
            let name = &*def.name;
            if normalize_tag(name).ok().is_none_or(|n| n != name) || check_limits(name).is_err() {
                return Err(bad(d, i, format!("tag name {name:?} is not a valid, normalized name")));
            }
            if pool.lookup(name).is_some() {
                return Err(bad(d, i, format!("tag name {name:?} twice")));
            }
            pool.live += 1;
            pool.index(TagId(i as u32));
        }
        // Groups.
        let groups = d.len(1, "exclusive groups")?;
        for _ in 0..groups {
            let at = d.offset();
            let name = d.str("group name")?;
            let kind = kind(d)?;
            let members: Vec<TagId> = d.u32s("group values")?.into_iter().map(TagId).collect();
            let fine = normalize_group(name).ok().is_some_and(|n| n == name) && !pool.groups.contains_key(name);
            if !fine {
                return Err(crate::persist::codec::corrupt_at(d, Some(at), format!("group name {name:?}")));
            }
            pool.groups.insert(name.into(), Group { kind, members });
        }
        // Links: parent and group as the names say; children rebuilt.
        for i in 0..n {
            let Some(def) = &pool.slots[i] else { continue };
            let parent = parent_name(&def.name).and_then(|p| pool.lookup(p));
            if parent_name(&def.name).is_some() != parent.is_some() || def.parent != parent.map_or(NONE, |p| p.0) {
                return Err(bad(
                    d,
                    i,
                    format!("tag {:?}: its parent is not the tag its name's parent names", def.name),
                ));
            }
            let group = pool.group_for(&def.name).ok().flatten();
            let listed = group.is_some_and(|g| pool.groups[g as usize].members.contains(&TagId(i as u32)));
            if def.group != group.unwrap_or(NONE) || (group.is_some() && !listed) {
                return Err(bad(d, i, format!("tag {:?}: not in the exclusive group its name says", def.name)));
            }
            if let Some(p) = parent {
                pool.children.entry(p).or_default().insert(TagId(i as u32));
            }
        }
        for (index, (name, g)) in pool.groups.iter().enumerate() {
            let mut seen = BTreeSet::new();
            let fine =
                g.members.iter().all(|&t| seen.insert(t) && pool.def(t).is_some_and(|def| def.group == index as u32));
            if !fine {
                return Err(d.corrupt(format!("group {name:?}: a value that is not its tag, or listed twice")));
            }
        }
        // Aliases.
        let aliases = d.len(5, "aliases")?;
        for _ in 0..aliases {
            let at = d.offset();
            let alias = d.str("alias")?;
            let target = TagId(d.u32("alias target")?);
            let fine = normalize_tag(alias).ok().is_some_and(|n| n == alias)
                && pool.def(target).is_some()
                && pool.lookup(alias).is_none()
                && pool.aliases.get(alias).is_none();
            if !fine {
                return Err(crate::persist::codec::corrupt_at(
                    d,
                    Some(at),
                    format!("alias {alias:?} of tag {}", target.0),
                ));
            }
            pool.aliases.insert(alias, target);
        }
        pool.restamp(); // a state of its own: prepared queries of other pools re-resolve
        Ok(pool)
    }
}
