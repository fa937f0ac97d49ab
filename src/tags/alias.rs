//! Aliases: other names of a tag (`M`, `male`, `男` for `gender:male`), each pointing at the
//! tag's id, so an alias follows the tag through renames.
//!
//! The pool resolves a name to a tag in one place ([`Pool::resolve`](super::Pool::resolve)):
//! its name index first (one probe, as for any tag name), this map only on a miss. The map is
//! separate from the tags' index and small (one entry per alias), so a pool without aliases
//! pays one test of an empty map on a miss and nothing on a hit.
//!
//! It is plain serde data: the per-tag lists (`{"<tag id>": ["M", "male"]}`), the name index
//! rebuilt when read. Whether the names are free and the ids live in a given pool is for the
//! reader of a snapshot to check against that pool.

use std::collections::{BTreeMap, HashMap};

use crate::id::TagId;

/// Alias name -> tag, and tag -> its aliases in the order they were defined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Aliases {
    /// Alias -> the tag it stands for. Hashed with the standard library's randomly keyed
    /// SipHash: alias names are user input.
    by_name: HashMap<Box<str>, TagId>,
    /// Each tag's aliases, in the order they were defined (a tree, so a listing goes in tag
    /// id order).
    of: BTreeMap<TagId, Vec<Box<str>>>,
}

impl Aliases {
    /// The tag alias `name` (normalized) stands for.
    pub(crate) fn get(&self, name: &str) -> Option<TagId> {
        if self.by_name.is_empty() {
            return None;
        }
        self.by_name.get(name).copied()
    }

    /// How many aliases there are.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Tag `id`'s aliases, in the order they were defined.
    pub(crate) fn of(&self, id: TagId) -> &[Box<str>] {
        self.of.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Every alias with its tag: by tag id, then in the order they were defined.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, TagId)> + '_ {
        self.of.iter().flat_map(|(&id, names)| names.iter().map(move |n| (&**n, id)))
    }

    /// Files `name` (normalized, no tag's name, no alias yet) as an alias of `id`.
    pub(crate) fn insert(&mut self, name: &str, id: TagId) {
        debug_assert!(!self.by_name.contains_key(name));
        self.by_name.insert(name.into(), id);
        self.of.entry(id).or_default().push(name.into());
    }

    /// Unfiles alias `name`; the tag it stood for.
    pub(crate) fn remove(&mut self, name: &str) -> Option<TagId> {
        let id = self.by_name.remove(name)?;
        if let Some(names) = self.of.get_mut(&id) {
            names.retain(|n| **n != *name);
            if names.is_empty() {
                self.of.remove(&id);
            }
        }
        Some(id)
    }

    /// Unfiles every alias of tag `id` (it is being deleted).
    pub(crate) fn remove_tag(&mut self, id: TagId) {
        for name in self.of.remove(&id).unwrap_or_default() {
            self.by_name.remove(&name);
        }
    }

    /// Approximate heap bytes: each name twice (both indexes), the slots of both.
    pub(crate) fn heap_bytes(&self) -> usize {
        let names: usize = self.by_name.keys().map(|n| n.len()).sum();
        let lists: usize = self.of.values().map(|v| v.capacity() * size_of::<Box<str>>() + 48).sum();
        2 * names + self.by_name.capacity() * (size_of::<(Box<str>, TagId)>() + 1) + lists
    }
}

impl serde::Serialize for Aliases {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.of, s)
    }
}

impl<'de> serde::Deserialize<'de> for Aliases {
    /// The per-tag lists; an alias listed twice (under one tag or two) is refused.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Aliases, D::Error> {
        let of: BTreeMap<TagId, Vec<Box<str>>> = serde::Deserialize::deserialize(d)?;
        let mut aliases = Aliases::default();
        for (id, names) in of {
            for name in names {
                if aliases.by_name.contains_key(&name) {
                    return Err(serde::de::Error::custom(format_args!("the alias {name:?} is listed twice")));
                }
                aliases.insert(&name, id);
            }
        }
        Ok(aliases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_follow_definition_order_and_removals() {
        let mut a = Aliases::default();
        a.insert("male", TagId(3));
        a.insert("M", TagId(3));
        a.insert("F", TagId(1));
        a.insert("男", TagId(3));
        assert_eq!(a.of(TagId(3)).iter().map(|n| &**n).collect::<Vec<_>>(), ["male", "M", "男"]);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [("F", TagId(1)), ("male", TagId(3)), ("M", TagId(3)), ("男", TagId(3))]
        );
        assert_eq!(a.remove("M"), Some(TagId(3)));
        assert_eq!(a.remove("M"), None);
        assert_eq!(a.get("male"), Some(TagId(3)));
        a.remove_tag(TagId(3));
        assert_eq!((a.get("male"), a.get("男"), a.len()), (None, None, 1));
        a.remove("F");
        assert_eq!(a, Aliases::default(), "nothing left: no empty list either");
    }

    /// Aliases are plain serde data (for snapshots, a later issue).
    #[test]
    fn round_trip_through_serde() {
        let mut a = Aliases::default();
        a.insert("M", TagId(7));
        a.insert("男", TagId(7));
        a.insert("gender:f", TagId(2));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"2":["gender:f"],"7":["M","男"]}"#);
        let back: Aliases = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.get("男"), Some(TagId(7)));
        let twice = serde_json::from_str::<Aliases>(r#"{"2":["M"],"7":["M"]}"#).unwrap_err();
        assert!(twice.to_string().contains("listed twice"), "{twice}");
    }
}
