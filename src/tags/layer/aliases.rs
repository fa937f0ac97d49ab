//! Aliases: defining, removing and listing other names of tags (the pool keeps them and
//! resolves them, `pool.rs`; see [`Engine::alias_tag`](crate::Engine::alias_tag) for the
//! rules).

use super::Tags;
use crate::error::{Error, Result};
use crate::id::TagId;
use crate::tags::{group_prefix, normalize_tag};

impl Tags {
    /// Makes `alias` another name of the tag `target` names (an alias of an alias stands
    /// for the final tag); the tag's id. Idempotent for the same tag.
    pub(crate) fn alias(&mut self, alias: &str, target: &str) -> Result<TagId> {
        let norm = normalize_tag(alias)?;
        let id = self.lookup(target)?;
        // A layer creates the values of the groups it owns: an alias there could take the
        // name of a value it creates later. (An alias defined before a plan claimed its
        // group stays, and may be defined again: its name is no segment's, which applying
        // the plan checked.)
        let owner = group_prefix(&norm).and_then(|g| self.group_owner(g));
        if let Some(owner) = owner.filter(|_| self.pool.alias_target(&norm) != Some(id)) {
            return Err(Error::DerivedName { name: norm.into_owned(), owner });
        }
        self.pool_mut().add_alias(&norm, id)?;
        Ok(id)
    }

    /// Removes alias `alias`; the id of the tag it pointed at.
    pub(crate) fn unalias(&mut self, alias: &str) -> Result<TagId> {
        let norm = normalize_tag(alias)?;
        match self.pool_mut().remove_alias(&norm) {
            Some(id) => Ok(id),
            None => Err(Error::NotAnAlias { is_tag: self.pool.lookup(&norm).is_some(), name: norm.into_owned() }),
        }
    }

    /// The aliases of the tag `name` names, in the order they were defined.
    pub(crate) fn aliases_of(&self, name: &str) -> Result<Vec<&str>> {
        let id = self.lookup(name)?;
        Ok(self.pool.aliases().of(id).iter().map(|n| &**n).collect())
    }

    /// How many aliases there are.
    pub(crate) fn alias_count(&self) -> usize {
        self.pool.aliases().len()
    }

    /// Every alias and the name of the tag it points at: by tag id, then in the order they
    /// were defined.
    pub(crate) fn aliases(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pool.aliases().iter().map(|(alias, id)| (alias, self.pool.name(id)))
    }

    /// The name of the tag alias `name` (normalized) points at, if it is an alias: for a
    /// layer that stores queries with the tags they read (saved queries).
    pub(crate) fn alias_target_name(&self, name: &str) -> Option<&str> {
        self.pool.alias_target(name).map(|id| self.pool.name(id))
    }
}
