//! The tag pool and tagging: every rule lives in [`Tags`](crate::tags::Tags); these methods
//! check the customer is live and delegate.

use std::borrow::Cow;

use super::Engine;
use super::journal::{Named, Op};
use crate::audience::Audience;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::{CustomerId, TagId};
use crate::query::Query;
use crate::segment::TagMerge;
use crate::tags::{TagInfo, TagKind, TagReplace};

impl Engine {
    /// Defines tag `name` with `kind` in the tag pool and returns its id. Defining an existing
    /// tag with the same kind is a no-op; an existing `Custom` tag (for example one created
    /// implicitly by [`Engine::tag`]) takes the new kind. Missing ancestors of a hierarchical
    /// name (`a/b` for `a/b/c`) are created with the same kind.
    ///
    /// Errors: [`Error::InvalidTagName`]; [`Error::TagKindConflict`] when the tag exists with
    /// another non-`Custom` kind; [`Error::AliasConflict`] for an alias's name (or one of the
    /// missing ancestors': an alias is not a tag, and defining a tag of its name would shadow
    /// it).
    pub fn define_tag(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        self.logged(|e| e.tags.define(name, kind), |_| Some(Op::DefineTag { name, kind }))
    }

    /// Changes the kind of an existing tag (named itself or by an alias).
    pub fn set_tag_kind(&mut self, name: &str, kind: TagKind) -> Result<()> {
        self.logged(|e| e.tags.set_kind(name, kind), |_| Some(Op::SetTagKind { name, kind }))
    }

    /// The id of tag `name`, creating it if needed (kind: its exclusive group's, else its
    /// nearest ancestor's, else `Custom`). An alias gives the id of the tag it points at
    /// ([`Engine::alias_tag`]).
    ///
    /// Errors: [`Error::InvalidTagName`]; [`Error::DerivedName`] for a name in a group
    /// [`Engine::refresh`] owns (read those with [`Engine::tag_id`]), or an alias of such a
    /// tag; [`Error::AliasConflict`] when a missing ancestor's name is an alias's.
    pub fn ensure_tag(&mut self, name: &str) -> Result<TagId> {
        self.logged(|e| e.tags.ensure(name), |_| Some(Op::EnsureTag(name)))
    }

    /// Declares `group` a single-choice group: its values are the tags `group:<value>`, and a
    /// customer carries at most one of them. Tags `group:<value>` that already exist join the
    /// group. Declaring a declared group again is a no-op (its kind is left as it is). New
    /// values get kind `Custom`; see [`Engine::define_exclusive_group_with_kind`].
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let bob = engine.customer("bob")?;
    /// engine.define_exclusive_group("tier")?;
    /// engine.tag(bob, "tier:silver")?;
    /// engine.tag(bob, "tier:gold")?; // replaces tier:silver
    /// assert_eq!(engine.tags_of(bob)?, ["tier:gold"]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidTagName`] for a name with `/` or `:` or an existing value that
    /// is not a plain name; [`Error::ExclusiveConflict`] when a customer already carries two
    /// of its values.
    pub fn define_exclusive_group(&mut self, group: &str) -> Result<()> {
        self.define_exclusive_group_with_kind(group, TagKind::Custom)
    }

    /// [`Engine::define_exclusive_group`], with the kind its new value tags get (an age band
    /// group is `Attribute`, a lifecycle stage group `Lifecycle`).
    pub fn define_exclusive_group_with_kind(&mut self, group: &str, kind: TagKind) -> Result<()> {
        self.logged(|e| e.tags.define_group(group, kind), |_| Some(Op::DefineGroup { group, kind }))
    }

    /// The declared exclusive groups, in declaration order.
    pub fn exclusive_groups(&self) -> impl Iterator<Item = &str> + '_ {
        self.tags.groups()
    }

    /// Deletes tag `name` from the pool and from every customer; returns how many customers
    /// carried it. A tag with child tags is not deleted ([`Error::TagHasChildren`]): delete the
    /// children first, so a whole branch is never dropped by accident. Nor is a tag that a
    /// rule tag's query or an applied plan names ([`Error::TagInUse`], naming the rule). A
    /// rule tag can be deleted (when no other rule uses it): its rule goes with it. The tag's
    /// aliases go with it too. `name` is the tag's own name: an alias's is an
    /// [`Error::AliasConflict`] (remove an alias with [`Engine::unalias_tag`]).
    ///
    /// ```
    /// use audience::{Engine, Error};
    /// let mut engine = Engine::new();
    /// let c = engine.customer("c")?;
    /// engine.tag(c, "interest/golf")?;
    /// assert!(matches!(engine.delete_tag("interest"), Err(Error::TagHasChildren { .. })));
    /// assert_eq!(engine.delete_tag("interest/golf")?, 1);
    /// assert_eq!(engine.delete_tag("interest")?, 0);
    /// assert!(engine.tags_of(c)?.is_empty());
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn delete_tag(&mut self, name: &str) -> Result<u64> {
        self.logged(|e| e.segments.delete_tag(&mut e.tags, name), |_| Some(Op::DeleteTag(name)))
    }

    /// Renames tag `old` to `new`, keeping its id and customers. Descendants move with it
    /// (`sports` -> `sport` renames `sports/running` to `sport/running`), missing ancestors of
    /// the new name are created, and a name `group:value` of an exclusive group joins it. The
    /// aliases of the tag (and of its descendants) keep pointing at it under its new name.
    ///
    /// Errors: [`Error::UnknownTag`], [`Error::InvalidTagName`], [`Error::TagExists`] when a
    /// new name is taken, [`Error::AliasConflict`] when `old` is an alias (rename the tag by
    /// its own name) or a new name is an alias's, [`Error::ExclusiveConflict`] when joining a group would give a
    /// customer two of its values, [`Error::TagInUse`] when a rule tag's query or an applied
    /// plan names the tag or a descendant, [`Error::DerivedName`] for a derived tag (a rule
    /// tag, a plan's or `refresh`'s). Nothing changes on error.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let c = engine.customer("c")?;
    /// engine.tag(c, "sports/running")?;
    /// let id = engine.tag_id("sports/running");
    /// engine.rename_tag("sports", "sport")?;
    /// assert_eq!(engine.tag_id("sport/running"), id);
    /// assert_eq!(engine.tags_of(c)?, ["sport/running"]);
    /// assert!(engine.query("sports").is_err());
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn rename_tag(&mut self, old: &str, new: &str) -> Result<()> {
        let apply = |e: &mut Engine| {
            e.segments.check_rename(&e.tags, old)?;
            e.tags.rename(old, new)
        };
        self.logged(apply, |_| Some(Op::RenameTag { old, new }))
    }

    /// Merges tag `from` into tag `into`: every customer carrying `from` carries `into`
    /// afterwards, then `from` is deleted, and the rule tags' and applied plans' queries that
    /// name `from` name `into` instead (their canonical text rewritten; see
    /// [`Engine::rule_tags`], [`Engine::applied_plans`]). Returns who moved and what was
    /// rewritten ([`TagMerge`]).
    ///
    /// - `into` a value of an exclusive group: the customers joining it lose their other
    ///   value of the group (`into` wins), as [`Engine::tag_all`] does.
    /// - Expiring assignments: a customer who carried `from` for good carries `into` for
    ///   good; one who carried it until a day carries `into` until that day, unless it
    ///   carried `into` longer (the later day wins, and permanent is later than any day).
    /// - `from` below `into` (`sports/run` into `sports`) folds a child into its parent.
    /// - `from`'s aliases ([`Engine::alias_tag`]) become aliases of `into`. `from` is named by
    ///   its own name (an alias is an [`Error::AliasConflict`], as for
    ///   [`Engine::delete_tag`]); `into` may be named by an alias.
    /// - A saved query reading `from` only through an ancestor (`sports` for `sports/run`)
    ///   is not rewritten: the ancestor still exists.
    /// - The saved queries are not computed again, as after any hand write: the rewritten
    ///   ones, and those reading `into`, show the merge at the next
    ///   [`Engine::refresh_rules`] (or `refresh`).
    /// - The change feed records `TagRemoved` for the other values of `into`'s group,
    ///   `TagAdded` for `into` (those new to it), and `TagRemoved` for `from`, as
    ///   [`Engine::delete_tag`] does.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
    /// engine.tag(a, "outdoors")?; // a misspelt duplicate
    /// engine.tag(b, "outdoor")?;
    /// engine.ensure_tag("vip")?;
    /// engine.define_rule_tag("campers", "outdoors AND NOT vip")?;
    /// let m = engine.merge_tags("outdoors", "outdoor")?;
    /// assert_eq!((m.moved, m.added), (1, 1));
    /// assert_eq!(engine.count("outdoor")?, 2);
    /// assert!(engine.tag_id("outdoors").is_none());
    /// let (_, query) = engine.rule_tags().next().unwrap();
    /// assert_eq!(query.to_string(), "outdoor AND NOT vip");
    /// engine.refresh_rules()?;
    /// assert_eq!(engine.count("campers")?, 2);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownTag`] (with suggestions) for either name;
    /// [`Error::InvalidMerge`] when both name one tag ([`MergeProblem::SameTag`]) or `from`
    /// has child tags ([`MergeProblem::HasChildren`]: merge or delete them first);
    /// [`Error::DerivedName`] when either is derived (a rule tag, a plan's or `refresh`'s
    /// value); [`Error::RuleCycle`] when a rewritten query would read itself (`into` is, or
    /// is above, a rule tag that reads `from`); [`Error::InRule`] when a rewritten query's
    /// text would pass [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN). Nothing changes on error.
    ///
    /// [`MergeProblem::SameTag`]: crate::MergeProblem::SameTag
    /// [`MergeProblem::HasChildren`]: crate::MergeProblem::HasChildren
    pub fn merge_tags(&mut self, from: &str, into: &str) -> Result<TagMerge> {
        self.logged(|e| e.segments.merge_tags(&mut e.tags, from, into), |_| Some(Op::MergeTags { from, into }))
    }

    /// The id of tag `name` (or of the tag alias `name` points at), if it is in the pool.
    pub fn tag_id(&self, name: &str) -> Option<TagId> {
        self.tags.id(name)
    }

    /// The name of tag `id`, if it is in the pool.
    pub fn tag_name(&self, id: TagId) -> Option<&str> {
        self.tags.name_of(id)
    }

    /// Tag `name` as listed by [`Engine::tags`]; for an alias, the tag it points at (under
    /// the tag's own name).
    pub fn tag_info(&self, name: &str) -> Result<TagInfo<'_>> {
        let id = self.tags.lookup(name)?;
        Ok(self.tags.info(id))
    }

    /// Every tag of the pool, in id (creation) order. Aliases are not tags and are not
    /// listed (see [`Engine::aliases`]); nor are they by the other listings
    /// ([`Engine::tags_of`], [`Engine::tags_in_group`], [`Engine::tags_with_prefix`]).
    pub fn tags(&self) -> impl Iterator<Item = TagInfo<'_>> + '_ {
        self.tags.infos()
    }

    /// The tags of one kind, in id order.
    pub fn tags_of_kind(&self, kind: TagKind) -> impl Iterator<Item = TagInfo<'_>> + '_ {
        self.tags().filter(move |t| t.kind == kind)
    }

    /// The tags whose names start with `prefix` (`"interest/"`, `"tier:"`), in id order.
    ///
    /// ```
    /// use audience::{Engine, TagKind};
    /// let mut engine = Engine::new();
    /// engine.define_tag("interest/golf", TagKind::Interest)?;
    /// engine.define_tag("vip", TagKind::Value)?;
    /// let names: Vec<&str> = engine.tags_with_prefix("interest/").map(|t| t.name).collect();
    /// assert_eq!(names, ["interest/golf"]);
    /// let interests: Vec<&str> = engine.tags_of_kind(TagKind::Interest).map(|t| t.name).collect();
    /// assert_eq!(interests, ["interest", "interest/golf"]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn tags_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = TagInfo<'a>> + 'a {
        self.tags().filter(move |t| t.name.starts_with(prefix))
    }

    /// The value tags of exclusive group `group`, in creation order.
    ///
    /// Errors: [`Error::UnknownGroup`] when `group` is not a declared exclusive group.
    pub fn tags_in_group(&self, group: &str) -> Result<Vec<TagInfo<'_>>> {
        self.tags.in_group(group)
    }

    /// Customers matching tag `name` (or an alias) in a query: carrying it or any
    /// descendant.
    pub fn tag_count(&self, name: &str) -> Result<u64> {
        self.tags.lookup(name)?;
        self.count(&Query::tag(name))
    }

    /// The tags customer `id` carries (exactly, not their ancestors), in tag id order.
    pub fn tags_of(&self, id: CustomerId) -> Result<Vec<&str>> {
        self.customers.check_live(id)?;
        Ok(self.tags.of(id.0))
    }

    // ------------------------------------------------------------------ aliases

    /// Makes `alias` another name of tag `target`, to normalize values that arrive spelled
    /// many ways (`男`, `M`, `male` for `gender:male`). Returns the tag's id.
    ///
    /// From then on the alias stands for the tag wherever a tag name is read: writes
    /// ([`Engine::tag`], [`Engine::untag`], [`Engine::tag_all`], [`Engine::untag_all`],
    /// [`Engine::tag_pairs`], [`Engine::tag_until`], [`Engine::ensure_tag`]), lookups
    /// ([`Engine::tag_id`], [`Engine::tag_info`], [`Engine::tag_count`],
    /// [`Engine::aliases_of`]) and queries, a segment plan's rules and rule tags' queries,
    /// [`DescribeOptions::exclude`](crate::DescribeOptions::exclude) and
    /// [`Engine::breakdown`]'s `parent/*`. A write through an alias is the write of the tag:
    /// in an exclusive group, `M` replaces the customer's other value; a tag a layer derives
    /// (`rfm:`, `stage:`, a plan's value, a rule tag) may be aliased and queried, and writing
    /// it through the alias is the same [`Error::DerivedName`] as by its own name. In a
    /// query an alias of a parent matches the parent's descendants too, as the parent does.
    ///
    /// The rules:
    /// - An alias is a name of its own, validated and normalized as a tag name (any Unicode
    ///   text; `/` and `:` are allowed, `gender:m` for `gender:male` reads naturally), that
    ///   points at the tag's id: renaming the tag keeps its aliases; deleting it drops them.
    ///   An alias is only a name: `vip/x` as an alias makes no parent `vip`, and `gender:m`
    ///   joins no group (the tag it points at is what is written).
    /// - A name is a tag or an alias, never both: a tag's name is refused as an alias, and a
    ///   tag is never created with an alias's name ([`Engine::define_tag`], `tag` of `M/x`
    ///   creating the ancestor `M`, [`Engine::rename_tag`]'s new names, a rule tag, a plan's
    ///   value): both are [`Error::AliasConflict`].
    /// - An alias points at one tag: aliasing it again to the same tag is a no-op (`Ok`), to
    ///   another tag an [`Error::AliasConflict`] (remove it first with
    ///   [`Engine::unalias_tag`]).
    /// - `target` may be an alias itself: the new alias points at the final tag (the id is
    ///   stored, so removing the first alias later leaves the second as it is).
    /// - Aliases are not tags: [`Engine::tags`] and the other listings show tags only, a
    ///   customer's tags ([`Engine::tags_of`]), the change feed and query explanations name
    ///   the tag itself. [`Engine::delete_tag`] and [`Engine::rename_tag`] take the tag's own
    ///   name (an alias there is an [`Error::AliasConflict`]).
    /// - Saved queries (rule tags, applied plans) are stored with the tags their aliases
    ///   stand for, so removing an alias never breaks them.
    /// - Resolving costs nothing for a tag's own name (one probe of the name index, as
    ///   before); the aliases, a separate map, are read only when a name is no tag's. An
    ///   unknown name's suggestions ([`Error::UnknownTag`]) are tags' names.
    ///
    /// ```
    /// use audience::{Engine, Error};
    /// let mut engine = Engine::new();
    /// engine.define_exclusive_group("gender")?;
    /// engine.ensure_tag("gender:female")?;
    /// let male = engine.ensure_tag("gender:male")?;
    /// for alias in ["男", "M", "male"] {
    ///     assert_eq!(engine.alias_tag(alias, "gender:male")?, male);
    /// }
    /// let c = engine.customer("c")?;
    /// engine.tag(c, "gender:female")?;
    /// engine.tag(c, "M")?; // replaces gender:female
    /// assert_eq!(engine.tags_of(c)?, ["gender:male"]);
    /// assert_eq!(engine.count("男 AND NOT gender:female")?, 1);
    /// assert_eq!(engine.aliases_of("gender:male")?, ["男", "M", "male"]);
    /// assert!(matches!(engine.alias_tag("gender:female", "gender:male"), Err(Error::AliasConflict { .. })));
    /// assert!(matches!(engine.alias_tag("M", "gender:female"), Err(Error::AliasConflict { .. })));
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidTagName`] for an invalid alias; [`Error::UnknownTag`] (with
    /// suggestions) for an unknown target; [`Error::AliasConflict`] for a tag's name or an
    /// alias of another tag; [`Error::DerivedName`] for a name in a group a layer owns
    /// (`rfm:best`: the layer creates that group's values). Nothing changes on error.
    pub fn alias_tag(&mut self, alias: &str, target: &str) -> Result<TagId> {
        self.logged(|e| e.tags.alias(alias, target), |_| Some(Op::AliasTag { alias, target }))
    }

    /// Removes alias `alias`; returns the id of the tag it pointed at. The tag and its
    /// customers are untouched.
    ///
    /// Errors: [`Error::NotAnAlias`] for a name that is not an alias (a tag's, or unknown);
    /// [`Error::InvalidTagName`].
    pub fn unalias_tag(&mut self, alias: &str) -> Result<TagId> {
        self.logged(|e| e.tags.unalias(alias), |_| Some(Op::UnaliasTag(alias)))
    }

    /// The aliases of tag `tag` (named itself or by an alias), in the order they were
    /// defined.
    ///
    /// Errors: [`Error::UnknownTag`] (with suggestions), [`Error::InvalidTagName`].
    pub fn aliases_of(&self, tag: &str) -> Result<Vec<&str>> {
        self.tags.aliases_of(tag)
    }

    /// Every alias, as `(alias, tag name)`: by tag id (creation order), then in the order the
    /// aliases were defined.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.tags.aliases()
    }

    // ------------------------------------------------------------------ tagging

    /// Tags customer `id` with `name`, creating the tag if it is new (see
    /// [`Engine::ensure_tag`] for its kind); an alias tags with the tag it points at. For a
    /// value of an exclusive group, the customer's other value of that group is removed in
    /// the same call. Returns whether the customer did not carry the tag before.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidTagName`]; [`Error::DerivedName`]
    /// for a tag of the groups [`Engine::refresh`] owns (`r:`, `f:`, `m:`, `rfm:`, `stage:`).
    pub fn tag(&mut self, id: CustomerId, name: &str) -> Result<bool> {
        self.logged(|e| e.tags.assign(&e.customers, id, name), |_| Some(Op::Tag { id, name }))
    }

    /// Removes tag `name` from customer `id` (the tag itself; descendants are untouched).
    /// Returns whether the customer carried it.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownTag`] (with suggestions).
    pub fn untag(&mut self, id: CustomerId, name: &str) -> Result<bool> {
        self.logged(|e| e.tags.unassign(&e.customers, id, name), |_| Some(Op::Untag { id, name }))
    }

    /// Tags every live customer of `audience` with `name` at once (a campaign tag on a query
    /// result, say); for an exclusive group, their other values are removed. Customers removed
    /// since the audience was computed are skipped. Returns how many were newly tagged.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, "vip")?;
    /// }
    /// let vips = engine.query("vip")?;
    /// assert_eq!(engine.tag_all(&vips, "campaign:spring")?, 3);
    /// assert_eq!(engine.count("campaign:spring")?, 3);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn tag_all(&mut self, audience: &Audience, name: &str) -> Result<u64> {
        let audience = audience.bitmap();
        self.logged(
            |e| e.tags.assign_all(&e.customers, audience, name),
            |_| Some(Op::TagAll { audience: Cow::Borrowed(audience), name }),
        )
    }

    /// Removes tag `name` from every customer of `audience`; returns how many carried it.
    ///
    /// Errors: [`Error::UnknownTag`].
    pub fn untag_all(&mut self, audience: &Audience, name: &str) -> Result<u64> {
        let audience = audience.bitmap();
        self.logged(
            |e| e.tags.unassign_all(audience, name),
            |_| Some(Op::UntagAll { audience: Cow::Borrowed(audience), name }),
        )
    }

    /// The customers carrying tag `name` itself (or the tag an alias names), as one bitmap
    /// of the portable Roaring format ([`Audience::to_portable_bytes`]), for CRoaring,
    /// pyroaring, Java, Go or ClickHouse to read. The tag's own members, as
    /// [`Engine::tag_all`] and [`Engine::set_tag_from_portable_bytes`] write them: not its
    /// descendants' (a query on the tag matches those too: export
    /// `engine.query(name)?.to_portable_bytes()` for that). A derived tag (`rfm:`, `stage:`,
    /// a rule tag, a plan's value) can be exported like any other.
    ///
    /// ```
    /// use audience::{Audience, Engine};
    /// let mut engine = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, "vip")?;
    /// }
    /// let bytes = engine.tag_to_portable_bytes("vip")?;
    /// assert_eq!(Audience::from_portable_bytes(&bytes)?.to_ids(), [0, 1, 2]);
    ///
    /// // into another engine with the same customers: the tag's members, whole
    /// let mut other = Engine::new();
    /// for key in ["a", "b", "c", "d"] {
    ///     other.customer(key)?;
    /// }
    /// other.set_tag_from_portable_bytes("vip", &bytes)?;
    /// assert_eq!(other.count("vip")?, 3);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownTag`] (with suggestions), [`Error::InvalidTagName`].
    pub fn tag_to_portable_bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.tags.own_members_image(name)
    }

    /// Makes the customers of a portable Roaring bitmap (`bytes`, read by
    /// [`Audience::from_portable_bytes`]) the members of tag `name` (created if new, see
    /// [`Engine::ensure_tag`]; an alias sets the tag it names): customers who carry it and
    /// are not in the bytes lose it. The inverse of [`Engine::tag_to_portable_bytes`]: for an
    /// audience computed elsewhere (a ClickHouse `groupBitmap`, a pyroaring set) whose ids are
    /// this engine's customer ids.
    ///
    /// As [`Engine::tag_all`] and [`Engine::untag_all`] together, through the same writes:
    /// ids that are not live customers are skipped (and counted, [`TagReplace::skipped`]);
    /// for a value of an exclusive group, the new members lose their other value; every
    /// membership is for good (an expiring one of the tag's becomes permanent); the change
    /// feed records `TagRemoved` for the other values, then `TagRemoved` and `TagAdded` for
    /// the tag. Saved queries are not computed again, as after any hand write.
    ///
    /// ```
    /// use audience::{Audience, CustomerId, Engine};
    /// let mut engine = Engine::new();
    /// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
    /// engine.define_exclusive_group("tier")?;
    /// engine.tag(a, "tier:gold")?;
    /// engine.tag(b, "tier:silver")?;
    /// let bytes = Audience::from_iter([b]).to_portable_bytes();
    /// let r = engine.set_tag_from_portable_bytes("tier:gold", &bytes)?;
    /// assert_eq!((r.added, r.removed, r.displaced, r.skipped), (1, 1, 1, 0));
    /// assert_eq!(engine.tags_of(a)?, Vec::<&str>::new());
    /// assert_eq!(engine.tags_of(b)?, ["tier:gold"]);
    /// # let _ = CustomerId(0);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidPortableBitmap`] (checked before anything changes);
    /// [`Error::InvalidTagName`]; [`Error::DerivedName`] for a tag a layer derives; an
    /// [`Error::AliasConflict`] when a missing ancestor's name is an alias's. Nothing
    /// changes on error.
    ///
    /// [`TagReplace::skipped`]: crate::TagReplace::skipped
    pub fn set_tag_from_portable_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<TagReplace> {
        let audience = Audience::from_portable_bytes(bytes)?;
        self.replace_tag(audience.bitmap(), name)
    }

    /// Makes the live customers of `bits` the members of tag `name` (journaled).
    /// The journal records only the live part (it replays the same: the rest is skipped).
    pub(crate) fn replace_tag(&mut self, bits: &roaring::RoaringBitmap, name: &str) -> Result<TagReplace> {
        let live = self.customers.live();
        let keep = if bits.is_subset(live) { Cow::Borrowed(bits) } else { Cow::Owned(bits & live) };
        let skipped = bits.len() - keep.len();
        let r = self.logged(
            |e| e.tags.replace_all(&e.customers, &keep, name),
            |_| Some(Op::ReplaceTag { audience: Cow::Borrowed(&*keep), name }),
        )?;
        Ok(TagReplace { skipped, ..r })
    }

    /// Bulk assignment of (customer, tag name) pairs: the fast path for loading. Pairs are
    /// grouped per tag and each tag's bitmap is built from a sorted run (no insert loop); the
    /// bitmaps are run-optimized afterwards. The result is the same as calling
    /// [`Engine::tag`] for each pair in order (so for an exclusive group the last value given
    /// wins). Returns how many (customer, tag) assignments the engine has afterwards that it
    /// did not have before (a value of an exclusive group replaced within the same load does
    /// not count). Exclusive-group values take a bitmap path too: per group and customer the
    /// last value wins, and the other values are removed with one difference per value tag.
    ///
    /// All pairs are checked before anything changes: on error, nothing is applied, and the
    /// error names the offending customer or tag name.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// let added = engine.tag_pairs([(a, "vip"), (b, "vip"), (b, "outdoor"), (a, "vip")])?;
    /// assert_eq!(added, 3);
    /// assert_eq!(engine.count("vip AND outdoor")?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Aliases resolve as in [`Engine::tag`]: `(c, "M")` is `(c, "gender:male")`, and in an
    /// exclusive group the last value given wins whichever name it was given by.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidTagName`].
    pub fn tag_pairs<I, S>(&mut self, pairs: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S)>,
        S: AsRef<str>,
    {
        if self.journal.0.is_none() {
            return self.tags.load_pairs(&self.customers, pairs);
        }
        let pairs: Vec<(CustomerId, S)> = pairs.into_iter().collect();
        let named = || Named::new(pairs.iter().map(|(c, s)| (*c, s.as_ref())));
        self.logged(
            |e| e.tags.load_pairs(&e.customers, pairs.iter().map(|(c, s)| (*c, s.as_ref()))),
            |_| Some(Op::TagPairs(named())),
        )
    }

    /// [`Engine::tag_pairs`] with tag ids (from [`Engine::ensure_tag`] or
    /// [`Engine::define_tag`]) instead of names.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownTagId`]; nothing is applied then.
    pub fn tag_id_pairs<I>(&mut self, pairs: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, TagId)>,
    {
        if self.journal.0.is_none() {
            return self.tags.load_id_pairs(&self.customers, pairs);
        }
        let (customers, tags): (Vec<u32>, Vec<u32>) = pairs.into_iter().map(|(c, t)| (c.0, t.0)).unzip();
        let pairs = || customers.iter().zip(&tags).map(|(&c, &t)| (CustomerId(c), TagId(t)));
        self.logged(
            |e| e.tags.load_id_pairs(&e.customers, pairs()),
            |_| Some(Op::TagIdPairs { customers: customers.clone(), tags: tags.clone() }),
        )
    }
}
