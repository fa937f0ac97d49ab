//! Tag housekeeping: per tag its size, its place in the pool and who reads it
//! ([`TagStats`], from [`Engine::tag_stats`](crate::Engine::tag_stats)); the tags a query
//! matches nobody with, and those no saved query reads. Counted with one cardinality per
//! tag (a parent's from its cached subtree union), never customer by customer. Who reads
//! which tag is the segment layer's to say; the engine hands it over as a map.

use crate::error::UsedBy;
use crate::id::TagId;
use crate::tags::{IdMap, TagKind, Tags};

/// One tag's figures for housekeeping: how many carry it, where it stands, who reads it.
/// From [`Engine::tag_stats`](crate::Engine::tag_stats) and
/// [`Engine::tag_stat`](crate::Engine::tag_stat).
///
/// ```
/// use audience::{Engine, UsedBy};
/// let mut engine = Engine::new();
/// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
/// engine.tag(a, "sports/run")?;
/// engine.tag(b, "sports")?;
/// engine.define_rule_tag("active", "sports")?;
/// let run = engine.tag_stat("sports/run")?;
/// assert_eq!((run.size, run.members, run.parent.as_deref()), (1, 1, Some("sports")));
/// assert_eq!(run.used_by, [UsedBy::RuleTag { name: "active".into() }]); // read through `sports`
/// let sports = engine.tag_stat("sports")?;
/// assert_eq!((sports.size, sports.members, sports.children), (1, 2, 1));
/// assert!(engine.tag_stat("active")?.derived_by.is_some());
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagStats {
    /// The tag's id.
    pub id: TagId,
    /// The tag's (normalized) name.
    pub name: String,
    /// The tag's kind.
    pub kind: TagKind,
    /// Live customers carrying this very tag (not those who only carry a descendant).
    pub size: u64,
    /// Live customers a query on the tag matches: those carrying it or any descendant.
    /// Equal to `size` for a tag without children.
    pub members: u64,
    /// The exclusive group the tag is a value of, if any.
    pub group: Option<String>,
    /// The parent tag's name, for a hierarchical name like `a/b`.
    pub parent: Option<String>,
    /// How many direct child tags it has.
    pub children: usize,
    /// The saved queries that read the tag: rule tags' queries (in definition order), then
    /// applied plans' rules (plan by plan, rule by rule), each naming the tag or one of its
    /// ancestors (a query on `sports` reads `sports/run`). Only those naming the tag itself
    /// stop [`Engine::delete_tag`](crate::Engine::delete_tag) and are rewritten by
    /// [`Engine::merge_tags`](crate::Engine::merge_tags).
    pub used_by: Vec<UsedBy>,
    /// Which layer derives the tag, `None` for a tag written by hand: `refresh` (its `r:`,
    /// `f:`, `m:`, `rfm:` and `stage:` values), a segment plan (its group's values) or a rule
    /// (a rule tag). The same text as [`Error::DerivedName`](crate::Error::DerivedName)'s
    /// `owner`.
    pub derived_by: Option<&'static str>,
}

/// Tag `id`'s figures; `readers` from the segment layer (what each tag is read by), taken
/// from as it goes.
fn stats_of(tags: &Tags, readers: &mut IdMap<Vec<UsedBy>>, id: TagId) -> TagStats {
    let info = tags.info(id);
    TagStats {
        id,
        name: info.name.to_owned(),
        kind: info.kind,
        size: info.len,
        members: info.subtree_len,
        group: info.group.map(str::to_owned),
        parent: info.parent.map(str::to_owned),
        children: info.children,
        used_by: readers.remove(&id).unwrap_or_default(),
        derived_by: tags.owner_of(id),
    }
}

/// Every tag's figures, in id (creation) order.
pub(crate) fn tag_stats(tags: &Tags, mut readers: IdMap<Vec<UsedBy>>) -> Vec<TagStats> {
    tags.pool().iter().map(|(id, _)| stats_of(tags, &mut readers, id)).collect()
}

/// Tag `id`'s figures.
pub(crate) fn tag_stat(tags: &Tags, mut readers: IdMap<Vec<UsedBy>>, id: TagId) -> TagStats {
    stats_of(tags, &mut readers, id)
}

/// The tags a query matches nobody with (no live customer carries them or a descendant), in
/// id order; derived tags included.
pub(crate) fn empty_tags(tags: &Tags) -> Vec<String> {
    let (pool, store) = (tags.pool(), tags.store());
    pool.iter().filter(|&(id, _)| store.members(pool, id).is_empty()).map(|(_, d)| d.name.to_string()).collect()
}

/// The tags written by hand that no saved query reads (`readers`), in id order.
pub(crate) fn unused_tags(tags: &Tags, readers: &IdMap<Vec<UsedBy>>) -> Vec<String> {
    let unread = |id: TagId| !readers.contains_key(&id) && tags.owner_of(id).is_none();
    tags.pool().iter().filter(|&(id, _)| unread(id)).map(|(_, d)| d.name.to_string()).collect()
}
