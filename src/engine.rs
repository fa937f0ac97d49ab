//! [`Engine`]: the typed facade over customers, the tag pool, the bitmap store and queries.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;

use roaring::{MultiOps, RoaringBitmap};

use crate::attrs::{Attrs, Reading, normalize_attr};
use crate::audience::Audience;
use crate::customers::Directory;
use crate::error::{Error, Result};
use crate::history::{Day, History, Money, Purchase, Rec};
use crate::id::{CustomerId, TagId};
use crate::lifecycle::{Lifecycle, Stage};
use crate::query::{Explain, Planner, Query};
use crate::refresh::{DERIVED_ATTRS, DERIVED_GROUPS, Models, OWNER, RefreshReport, RfmScores, StageTransition};
use crate::rfm::RfmModel;
use crate::tags::{Pool, Store, TagInfo, TagKind, group_prefix, normalize_group, normalize_tag};

/// The in-process customer tag engine.
///
/// Holds the customer directory (external keys <-> dense [`CustomerId`]s), the managed tag
/// pool (kinds, exclusive groups, hierarchy), one roaring bitmap per tag, numeric attributes
/// (a bit-sliced index each), purchase history, and the RFM and lifecycle models computed
/// from it; answers boolean queries over tags and attribute ranges. See the
/// [crate docs](crate) for a tour.
///
/// `Engine` is `Send + Sync + Clone`: share it behind an `RwLock` or `Arc` for concurrent
/// readers; every query method takes `&self`.
#[derive(Clone, Default)]
pub struct Engine {
    customers: Directory,
    pool: Pool,
    store: Store,
    attrs: Attrs,
    history: History,
    models: Models,
}

impl std::fmt::Debug for Engine {
    /// A summary (sizes), not the contents: an engine may hold millions of customers. Only
    /// constant-time figures, so printing never walks the keys or the bitmaps.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("customers", &self.customer_count())
            .field("keyed_customers", &self.customers.keyed())
            .field("tags", &self.pool.len())
            .field("exclusive_groups", &self.exclusive_groups().collect::<Vec<_>>())
            .field("attributes", &self.attrs.len())
            .field("purchases", &self.history.len())
            .field("last_refresh", &self.models.last_as_of())
            .finish()
    }
}

/// Something that can be evaluated as a query: query text (`&str`, `String`) or a parsed or
/// built [`Query`].
pub trait AsQuery {
    /// The query, parsed if needed.
    fn as_query(&self) -> Result<Cow<'_, Query>>;
}

impl AsQuery for str {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        Query::parse(self).map(Cow::Owned)
    }
}

impl AsQuery for String {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        self.as_str().as_query()
    }
}

impl AsQuery for Query {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        Ok(Cow::Borrowed(self))
    }
}

impl<T: AsQuery + ?Sized> AsQuery for &T {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        (**self).as_query()
    }
}

/// Sizes of an engine, from [`Engine::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live customers.
    pub customers: u64,
    /// Customers with an external key.
    pub keyed_customers: usize,
    /// Tags in the pool.
    pub tags: usize,
    /// (customer, tag) assignments, summed over all tags.
    pub assignments: u64,
    /// Bytes of all tag bitmaps in roaring's portable serialized format.
    pub bitmap_bytes: usize,
    /// Approximate heap bytes of the tag pool without the bitmaps: each tag's slot (kind,
    /// hierarchy links, exclusive group), its name (stored once), and the name and "did you
    /// mean" indexes. With `bitmap_bytes`, what tags cost: see [`Stats::bytes_per_tag`].
    pub pool_bytes: usize,
    /// Bytes of the cached subtree unions (one per tag with children, so a query on a parent
    /// reads one bitmap), serialized, plus their table. Each level of a chain holds its own
    /// union, so a deep chain over the same customers (`a/b/c/...` down 16 levels) keeps up
    /// to 15 copies of them.
    pub subtree_bytes: usize,
    /// Heap bytes of the views queries keep of dense tags' containers, so they read them in
    /// place (at most 1/12 of `bitmap_bytes`, or 1 MiB; made by queries, dropped on change).
    pub view_bytes: usize,
    /// Approximate heap bytes of the customer directory (keys and id tables).
    pub directory_bytes: usize,
    /// Attributes (names that resolve in queries).
    pub attributes: usize,
    /// Bytes of all attribute bitmaps (bit-sliced indexes), serialized.
    pub attribute_bytes: usize,
    /// Purchase records (refunds included).
    pub purchases: u64,
    /// Heap bytes of the purchase history columns.
    pub history_bytes: usize,
}

impl Stats {
    /// What one tag costs on average: its share of the pool (`pool_bytes`), the tag bitmaps
    /// (`bitmap_bytes`) and the subtree unions (`subtree_bytes`); 0 without tags.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let c = engine.customer("c")?;
    /// engine.tag(c, "interest/sports/running")?;
    /// let stats = engine.stats();
    /// assert_eq!(stats.tags, 3);
    /// assert!(stats.bytes_per_tag() > 0.0 && stats.bytes_per_tag() < 1_000.0);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn bytes_per_tag(&self) -> f64 {
        if self.tags == 0 {
            return 0.0;
        }
        (self.pool_bytes + self.bitmap_bytes + self.subtree_bytes) as f64 / self.tags as f64
    }
}

/// A bulk load in the making: nothing in the engine changes until it is applied.
#[derive(Default)]
struct Bulk {
    /// Names new to the pool, with whether each is a value of an exclusive group.
    new_names: indexmap::IndexMap<String, bool>,
    /// Customer ids per tag slot that has pairs (pool tags by id, then new names after the
    /// pool's slots).
    runs: Vec<(usize, Vec<u32>)>,
    /// Per tag slot, its index in `runs` plus one (0: no pairs yet). Allocated zeroed, so the
    /// pages of slots no pair names are never touched: a small load into a large pool costs
    /// what it names, not 4 bytes per tag.
    run_of: Vec<u32>,
    /// (customer, slot) for exclusive-group values, applied in order.
    ordered: Vec<(u32, usize)>,
    /// Every customer id below this is live (see `Directory::dense_live`).
    dense_live: u32,
}

/// A small multiply-rotate hasher (the FxHash scheme) for the transient per-load name cache:
/// tag names are short and hashed once per pair, where SipHash would dominate the load. It
/// starts from a random key of the load ([`FastState`]) and ends with an avalanche, so a file
/// of names crafted to collide (FxHash's collisions are easy to compute for a known start)
/// cannot turn the load quadratic.
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        // murmur3's finalizer: every input bit moves every output bit.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}

/// Builds [`FastHasher`]s from one random key per load.
struct FastState(u64);

impl FastState {
    fn new() -> FastState {
        use std::hash::BuildHasher;
        FastState(std::hash::RandomState::new().hash_one(0x10ad_u64))
    }
}

impl std::hash::BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

/// A tag as resolved during a bulk load: a pool tag, or the n-th name new to the pool.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Slot {
    Existing(TagId),
    New(usize),
}

impl Engine {
    /// An empty engine.
    pub fn new() -> Engine {
        Engine::default()
    }

    // ------------------------------------------------------------------ customers

    /// The id of the customer with external key `key`, registering the customer (live, no
    /// tags) if the key is new. The same key always gives the same id until the customer is
    /// removed.
    ///
    /// Errors: [`Error::InvalidCustomerKey`] for an empty key or one longer than
    /// [`MAX_CUSTOMER_KEY_LEN`](crate::MAX_CUSTOMER_KEY_LEN), [`Error::CustomerIdsExhausted`]
    /// when no `u32` id is left.
    pub fn customer(&mut self, key: &str) -> Result<CustomerId> {
        self.customers.intern(key)
    }

    /// Registers a customer by a dense id the caller already has (for users whose customers
    /// are already numbered), returning it. Registering a live id again changes nothing; a
    /// removed id registered again is a live customer with no tags (the caller owns its id
    /// space). Ids handed out for keys afterwards are above every registered id.
    ///
    /// Errors: [`Error::CustomerIdTaken`] when a live keyed customer has the id (mixing the
    /// two id spaces would silently merge two customers).
    ///
    /// ```
    /// use audience::{CustomerId, Engine};
    /// let mut engine = Engine::new();
    /// let c = engine.customer_id(42)?;
    /// assert_eq!(c, CustomerId(42));
    /// engine.tag(c, "vip")?;
    /// assert_eq!(engine.count("vip")?, 1);
    /// assert_eq!(engine.customer("new@example.com")?, CustomerId(43));
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn customer_id(&mut self, id: impl Into<CustomerId>) -> Result<CustomerId> {
        let id = id.into();
        self.customers.register_id(id)?;
        Ok(id)
    }

    /// Registers every dense id of `ids` at once, as [`Engine::customer_id`] does one by one
    /// (one range insertion into the live set): the way to load customers that are already
    /// numbered `0..n`. Returns how many ids were new.
    ///
    /// ```
    /// use audience::{CustomerId, Engine};
    /// let mut engine = Engine::new();
    /// assert_eq!(engine.customer_id_range(0..1_000)?, 1_000);
    /// assert!(engine.is_customer(CustomerId(999)));
    /// assert_eq!(engine.customer("new@example.com")?, CustomerId(1_000));
    /// assert_eq!(engine.customer_id_range(500..1_000)?, 0); // already live
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::CustomerIdTaken`] when a live keyed customer has one of the ids
    /// (nothing is registered then).
    pub fn customer_id_range(&mut self, ids: std::ops::Range<u32>) -> Result<u64> {
        self.customers.register_range(ids)
    }

    /// The external key of a live customer, if it was registered by key.
    pub fn key_of(&self, id: CustomerId) -> Option<&str> {
        self.customers.key_of(id)
    }

    /// The id of the live customer with key `key`.
    pub fn id_of(&self, key: &str) -> Option<CustomerId> {
        self.customers.id_of(key)
    }

    /// Whether `id` is a live customer.
    pub fn is_customer(&self, id: CustomerId) -> bool {
        self.customers.is_live(id)
    }

    /// How many live customers.
    pub fn customer_count(&self) -> u64 {
        self.customers.live().len()
    }

    /// Every live customer.
    pub fn customers(&self) -> Audience {
        Audience::from(self.customers.live().clone())
    }

    /// Removes a customer for good (the right to be forgotten): erased from every tag, every
    /// attribute, the purchase history and the live set (so `NOT` no longer counts it), and its key no longer resolves. The id is
    /// never handed out again for a key (only [`Engine::customer_id`] can register it anew).
    ///
    /// Cost: O(tags + attribute slices) bitmap removals, and one pass over the purchases
    /// recorded since the last refresh plus the recent tier (at most an eighth of the
    /// history); for a batch of erasures use [`Engine::remove_customers`].
    ///
    /// Errors: [`Error::UnknownCustomer`] unless `id` is live.
    pub fn remove_customer(&mut self, id: CustomerId) -> Result<()> {
        self.customers.remove(id)?;
        self.store.remove_everywhere(id.0);
        self.attrs.remove_customer(id.0);
        self.history.remove_customer(id.0);
        self.models.note_removed(id.0);
        Ok(())
    }

    /// Removes every live customer of `audience` for good, as [`Engine::remove_customer`]
    /// does one by one, but with one bitmap difference per tag and attribute slice and one
    /// pass over the recent purchase records: the way to process a batch of erasure
    /// requests. Customers of the audience that are not live are skipped. Returns how many
    /// were removed.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, if key == "c" { "keep" } else { "forget me" })?;
    /// }
    /// let requests = engine.query("\"forget me\"")?;
    /// assert_eq!(engine.remove_customers(&requests)?, 2);
    /// assert_eq!(engine.customer_count(), 1);
    /// assert_eq!(engine.id_of("a"), None);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn remove_customers(&mut self, audience: &Audience) -> Result<u64> {
        let gone = audience.bitmap() & self.customers.live();
        for c in &gone {
            self.customers.remove(CustomerId(c))?;
        }
        self.store.remove_all_everywhere(&gone);
        self.attrs.remove_customers(&gone);
        self.history.remove_customers(&gone);
        self.models.note_removed_all(&gone);
        Ok(gone.len())
    }

    // ------------------------------------------------------------------ tag pool

    /// Defines tag `name` with `kind` in the tag pool and returns its id. Defining an existing
    /// tag with the same kind is a no-op; an existing `Custom` tag (for example one created
    /// implicitly by [`Engine::tag`]) takes the new kind. Missing ancestors of a hierarchical
    /// name (`a/b` for `a/b/c`) are created with the same kind.
    ///
    /// Errors: [`Error::InvalidTagName`]; [`Error::TagKindConflict`] when the tag exists with
    /// another non-`Custom` kind.
    pub fn define_tag(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        check_writable(&norm)?;
        match self.pool.lookup(&norm) {
            Some(id) => {
                let existing = self.pool.check(id)?.kind;
                if existing != kind && existing != TagKind::Custom {
                    return Err(Error::TagKindConflict { name: norm.into_owned(), existing, requested: kind });
                }
                self.pool.set_kind(id, kind)?;
                Ok(id)
            }
            None => self.create_tag(&norm, kind),
        }
    }

    /// Changes the kind of an existing tag.
    pub fn set_tag_kind(&mut self, name: &str, kind: TagKind) -> Result<()> {
        let id = self.lookup(name)?;
        self.check_writable_id(id)?;
        self.pool.set_kind(id, kind)
    }

    /// The id of tag `name`, creating it if needed (kind: its exclusive group's, else its
    /// nearest ancestor's, else `Custom`).
    ///
    /// Errors: [`Error::InvalidTagName`]; [`Error::DerivedName`] for a name in a group
    /// [`Engine::refresh`] owns (read those with [`Engine::tag_id`]).
    pub fn ensure_tag(&mut self, name: &str) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        check_writable(&norm)?;
        match self.pool.lookup(&norm) {
            Some(id) => Ok(id),
            None => {
                let kind = self.pool.implicit_kind(&norm);
                self.create_tag(&norm, kind)
            }
        }
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
        let group = normalize_group(group)?;
        if DERIVED_GROUPS.contains(&&*group) {
            return Err(Error::DerivedName { name: group.into_owned(), owner: OWNER });
        }
        if self.pool.group(&group).is_some() {
            return Ok(());
        }
        let members = self.pool.would_be_members(&group)?;
        let mut seen = RoaringBitmap::new();
        for (i, &m) in members.iter().enumerate() {
            let bits = self.store.get(m);
            if !seen.is_disjoint(bits) {
                let customer = (&seen & bits).min().expect("not disjoint");
                let first = members[..i].iter().find(|&&o| self.store.get(o).contains(customer)).expect("seen");
                return Err(Error::ExclusiveConflict {
                    group: group.into_owned(),
                    customer: CustomerId(customer),
                    first: self.name(*first).to_owned(),
                    second: self.name(m).to_owned(),
                });
            }
            seen |= bits;
        }
        self.pool.declare_group(&group, kind, members);
        Ok(())
    }

    /// The declared exclusive groups, in declaration order.
    pub fn exclusive_groups(&self) -> impl Iterator<Item = &str> + '_ {
        self.pool.groups().map(|(n, _)| n)
    }

    /// Deletes tag `name` from the pool and from every customer; returns how many customers
    /// carried it. A tag with child tags is not deleted ([`Error::TagHasChildren`]): delete the
    /// children first, so a whole branch is never dropped by accident.
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
        let id = self.lookup(name)?;
        self.check_writable_id(id)?;
        let parent = self.pool.check(id)?.parent();
        self.pool.delete(id)?;
        Ok(self.store.deleted(&self.pool, id, parent))
    }

    /// Renames tag `old` to `new`, keeping its id and customers. Descendants move with it
    /// (`sports` -> `sport` renames `sports/running` to `sport/running`), missing ancestors of
    /// the new name are created, and a name `group:value` of an exclusive group joins it.
    ///
    /// Errors: [`Error::UnknownTag`], [`Error::InvalidTagName`], [`Error::TagExists`] when a
    /// new name is taken, [`Error::ExclusiveConflict`] when joining a group would give a
    /// customer two of its values. Nothing changes on error.
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
        let id = self.lookup(old)?;
        self.check_writable_id(id)?;
        let new = normalize_tag(new)?;
        if *self.name(id) == *new {
            return Ok(());
        }
        let plan = self.pool.plan_rename(id, &new)?;
        for (_, new_name) in &plan {
            check_writable(new_name)?;
        }
        for (t, new_name) in &plan {
            let Some((group_name, group)) =
                crate::tags::group_prefix(new_name).and_then(|g| Some((g, self.pool.group(g)?)))
            else {
                continue;
            };
            let bits = self.store.get(*t);
            for &other in group.members.iter().filter(|&&o| o != *t) {
                let other_bits = self.store.get(other);
                if bits.is_disjoint(other_bits) {
                    continue;
                }
                let customer = (bits & other_bits).min().expect("not disjoint");
                return Err(Error::ExclusiveConflict {
                    group: group_name.to_owned(),
                    customer: CustomerId(customer),
                    first: self.name(other).to_owned(),
                    second: new_name.clone(),
                });
            }
        }
        let old_parent = self.pool.check(id)?.parent();
        let before = self.pool.slot_count();
        self.pool.apply_rename(plan)?;
        for created in before..self.pool.slot_count() {
            self.store.created(&self.pool, TagId(created as u32));
        }
        self.store.moved(&self.pool, id, old_parent);
        Ok(())
    }

    /// The id of tag `name`, if it is in the pool.
    pub fn tag_id(&self, name: &str) -> Option<TagId> {
        self.pool.lookup(&normalize_tag(name).ok()?)
    }

    /// The name of tag `id`, if it is in the pool.
    pub fn tag_name(&self, id: TagId) -> Option<&str> {
        self.pool.def(id).map(|d| &*d.name)
    }

    /// Tag `name` as listed by [`Engine::tags`].
    pub fn tag_info(&self, name: &str) -> Result<TagInfo<'_>> {
        let id = self.lookup(name)?;
        Ok(self.info(id))
    }

    /// Every tag of the pool, in id (creation) order.
    pub fn tags(&self) -> impl Iterator<Item = TagInfo<'_>> + '_ {
        self.pool.iter().map(|(id, _)| self.info(id))
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
        let g = normalize_group(group)?;
        match self.pool.group(&g) {
            Some(g) => Ok(g.members.iter().map(|&id| self.info(id)).collect()),
            None => Err(Error::UnknownGroup {
                name: g.into_owned(),
                known: self.exclusive_groups().take(crate::error::LISTED + 1).map(str::to_owned).collect(),
            }),
        }
    }

    /// Customers matching tag `name` in a query: carrying it or any descendant.
    pub fn tag_count(&self, name: &str) -> Result<u64> {
        self.lookup(name)?;
        self.count(&Query::tag(name))
    }

    /// The tags customer `id` carries (exactly, not their ancestors), in tag id order.
    pub fn tags_of(&self, id: CustomerId) -> Result<Vec<&str>> {
        self.customers.check_live(id)?;
        Ok(self.pool.iter().filter(|(t, _)| self.store.get(*t).contains(id.0)).map(|(_, d)| &*d.name).collect())
    }

    // ------------------------------------------------------------------ tagging

    /// Tags customer `id` with `name`, creating the tag if it is new (see
    /// [`Engine::ensure_tag`] for its kind). For a value of an exclusive group, the customer's
    /// other value of that group is removed in the same call. Returns whether the customer did
    /// not carry the tag before.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidTagName`]; [`Error::DerivedName`]
    /// for a tag of the groups [`Engine::refresh`] owns (`r:`, `f:`, `m:`, `rfm:`, `stage:`).
    pub fn tag(&mut self, id: CustomerId, name: &str) -> Result<bool> {
        self.customers.check_live(id)?;
        let tag = self.ensure_tag(name)?;
        Ok(self.assign(id.0, tag))
    }

    fn assign(&mut self, customer: u32, tag: TagId) -> bool {
        for &other in self.pool.exclusive_members(tag) {
            if other != tag {
                self.store.remove(&self.pool, other, customer);
            }
        }
        self.store.insert(&self.pool, tag, customer)
    }

    /// Removes tag `name` from customer `id` (the tag itself; descendants are untouched).
    /// Returns whether the customer carried it.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownTag`] (with suggestions).
    pub fn untag(&mut self, id: CustomerId, name: &str) -> Result<bool> {
        self.customers.check_live(id)?;
        let tag = self.lookup(name)?;
        self.check_writable_id(tag)?;
        Ok(self.store.remove(&self.pool, tag, id.0))
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
        let tag = self.ensure_tag(name)?;
        let live = self.customers.live();
        let add: Cow<'_, RoaringBitmap> = if audience.bitmap().is_subset(live) {
            Cow::Borrowed(audience.bitmap())
        } else {
            Cow::Owned(audience.bitmap() & live)
        };
        for &other in self.pool.exclusive_members(tag) {
            if other != tag {
                self.store.remove_many(&self.pool, other, &add);
            }
        }
        Ok(self.store.add(&self.pool, tag, add.into_owned()))
    }

    /// Removes tag `name` from every customer of `audience`; returns how many carried it.
    ///
    /// Errors: [`Error::UnknownTag`].
    pub fn untag_all(&mut self, audience: &Audience, name: &str) -> Result<u64> {
        let tag = self.lookup(name)?;
        self.check_writable_id(tag)?;
        Ok(self.store.remove_many(&self.pool, tag, audience.bitmap()))
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
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidTagName`].
    pub fn tag_pairs<I, S>(&mut self, pairs: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S)>,
        S: AsRef<str>,
    {
        let mut bulk = Bulk {
            dense_live: self.customers.dense_live(),
            run_of: vec![0; self.pool.slot_count()],
            ..Bulk::default()
        };
        // Raw name -> slot, so each distinct spelling is normalized and looked up once.
        let mut seen: HashMap<Box<str>, Slot, FastState> = HashMap::with_hasher(FastState::new());
        for (customer, name) in pairs {
            let name = name.as_ref();
            let slot = match seen.get(name) {
                Some(&s) => s,
                None => {
                    let s = self.bulk_slot(&mut bulk, name)?;
                    seen.insert(name.into(), s);
                    s
                }
            };
            self.bulk_push(&mut bulk, customer, slot)?;
        }
        self.bulk_apply(bulk)
    }

    /// [`Engine::tag_pairs`] with tag ids (from [`Engine::ensure_tag`] or
    /// [`Engine::define_tag`]) instead of names.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownTagId`]; nothing is applied then.
    pub fn tag_id_pairs<I>(&mut self, pairs: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, TagId)>,
    {
        let mut bulk = Bulk {
            dense_live: self.customers.dense_live(),
            run_of: vec![0; self.pool.slot_count()],
            ..Bulk::default()
        };
        let mut checked = None; // pairs usually come grouped by tag: check each run's tag once
        for (customer, tag) in pairs {
            if checked != Some(tag) {
                self.pool.check(tag)?;
                self.check_writable_id(tag)?;
                checked = Some(tag);
            }
            self.bulk_push(&mut bulk, customer, Slot::Existing(tag))?;
        }
        self.bulk_apply(bulk)
    }

    fn bulk_slot(&self, bulk: &mut Bulk, name: &str) -> Result<Slot> {
        let norm = normalize_tag(name)?;
        check_writable(&norm)?;
        if let Some(id) = self.pool.lookup(&norm) {
            return Ok(Slot::Existing(id));
        }
        if let Some(i) = bulk.new_names.get_index_of(&*norm) {
            return Ok(Slot::New(i));
        }
        self.pool.validate_new(&norm)?;
        let exclusive = self.pool.is_group_value(&norm);
        Ok(Slot::New(bulk.new_names.insert_full(norm.into_owned(), exclusive).0))
    }

    /// Checks one pair and files it: per-tag runs, or (exclusive groups) the ordered list.
    fn bulk_push(&self, bulk: &mut Bulk, customer: CustomerId, slot: Slot) -> Result<()> {
        // Live customers numbered 0..n (the usual bulk load) need no bitmap lookup.
        if customer.0 >= bulk.dense_live {
            self.customers.check_live(customer)?;
        }
        let base = self.pool.slot_count();
        let (key, exclusive) = match slot {
            Slot::Existing(id) => (id.index(), !self.pool.exclusive_members(id).is_empty()),
            Slot::New(i) => (base + i, bulk.new_names[i]),
        };
        if exclusive {
            bulk.ordered.push((customer.0, key));
        } else {
            if bulk.run_of.len() <= key {
                bulk.run_of.resize(key + 1, 0);
            }
            let i = match bulk.run_of[key] {
                0 => {
                    bulk.runs.push((key, Vec::new()));
                    bulk.run_of[key] = bulk.runs.len() as u32;
                    bulk.runs.len() - 1
                }
                i => i as usize - 1,
            };
            bulk.runs[i].1.push(customer.0);
        }
        Ok(())
    }

    fn bulk_apply(&mut self, bulk: Bulk) -> Result<u64> {
        let base = self.pool.slot_count();
        // Everything is valid: create the new tags, then build.
        self.pool.reserve(bulk.new_names.len());
        let mut ids: Vec<TagId> = Vec::with_capacity(bulk.new_names.len());
        for name in bulk.new_names.keys() {
            let kind = self.pool.implicit_kind(name);
            ids.push(match self.pool.lookup(name) {
                Some(id) => id, // created meanwhile as an ancestor of another new name
                None => self.create_tag(name, kind)?,
            });
        }
        let tag_of = |key: usize| if key < base { TagId(key as u32) } else { ids[key - base] };
        let mut added = 0;
        drop(bulk.run_of);
        for (key, mut run) in bulk.runs {
            if !run.is_sorted() {
                run.sort_unstable();
            }
            run.dedup();
            let tag = tag_of(key);
            // Built at exact container sizes, in the kinds `optimize` would pick; only a
            // union with an existing bitmap needs optimizing again.
            let bits = crate::blocks::build::from_sorted(&run);
            drop(run);
            let merged = !self.store.get(tag).is_empty();
            added += self.store.add(&self.pool, tag, bits);
            if merged {
                self.store.optimize_tag(tag);
            }
        }
        let exclusive: Vec<(u32, TagId)> = bulk.ordered.into_iter().map(|(c, key)| (c, tag_of(key))).collect();
        added += self.bulk_exclusive(exclusive);
        Ok(added)
    }

    /// Applies exclusive-group values given in order, with bitmap operations: per group and
    /// customer the last value given wins, and the winners' other values of the group are
    /// removed in one difference per member tag. Returns how many assignments were new.
    fn bulk_exclusive(&mut self, pairs: Vec<(u32, TagId)>) -> u64 {
        let group_of = |t: TagId| self.pool.def(t).and_then(|d| d.group()).expect("exclusive values have a group");
        let group_of = |t: TagId| group_of(t) as usize;
        let mut wins: Vec<(usize, u32, TagId)> = pairs.into_iter().rev().map(|(c, t)| (group_of(t), c, t)).collect();
        // A stable sort of the reversed list puts the last value given first in each run.
        wins.sort_by_key(|&(g, c, _)| (g, c));
        wins.dedup_by_key(|&mut (g, c, _)| (g, c));
        let mut added = 0;
        for group in wins.chunk_by_mut(|a, b| a.0 == b.0) {
            let touched = RoaringBitmap::from_sorted_iter(group.iter().map(|&(_, c, _)| c))
                .expect("customers ascend within a group");
            group.sort_unstable_by_key(|&(_, c, t)| (t, c));
            let runs: Vec<(TagId, RoaringBitmap)> = group
                .chunk_by(|a, b| a.2 == b.2)
                .map(|run| {
                    let ids: Vec<u32> = run.iter().map(|&(_, c, _)| c).collect();
                    (run[0].2, crate::blocks::build::from_sorted(&ids))
                })
                .collect();
            for (tag, bits) in &runs {
                added += bits.len() - bits.intersection_len(self.store.get(*tag));
            }
            for &member in self.pool.exclusive_members(runs[0].0) {
                self.store.remove_many(&self.pool, member, &touched);
            }
            for (tag, bits) in runs {
                self.store.add(&self.pool, tag, bits);
            }
        }
        added
    }

    // ------------------------------------------------------------------ queries

    /// Parses and evaluates query text; the matching live customers.
    ///
    /// ```
    /// use audience::{CustomerId, Engine};
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// engine.tag(a, "vip")?;
    /// engine.tag(b, "High Value")?;
    /// let who = engine.query("vip OR \"High Value\"")?;
    /// assert_eq!(who.iter().collect::<Vec<CustomerId>>(), [a, b]);
    /// assert_eq!(engine.query("NOT vip")?.iter().collect::<Vec<_>>(), [b]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::Parse`], [`Error::UnknownTag`], [`Error::QueryTooLarge`].
    pub fn query(&self, text: &str) -> Result<Audience> {
        self.select(text)
    }

    /// Evaluates a parsed or built [`Query`] (or query text); the matching live customers.
    pub fn select<Q: AsQuery + ?Sized>(&self, query: &Q) -> Result<Audience> {
        self.planner().select(&*query.as_query()?).map(Audience::from)
    }

    /// How many live customers match (text or [`Query`]), without materializing the result
    /// where the plan allows (the last step is a cardinality-only bitmap operation).
    ///
    /// ```
    /// use audience::{Engine, Query};
    /// let mut engine = Engine::new();
    /// for (key, tag) in [("a", "vip"), ("b", "vip"), ("c", "churned")] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, tag)?;
    /// }
    /// assert_eq!(engine.count("vip AND NOT churned")?, 2);
    /// let prepared = Query::parse("NOT vip")?; // parse once, count many times
    /// assert_eq!(engine.count(&prepared)?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn count<Q: AsQuery + ?Sized>(&self, query: &Q) -> Result<u64> {
        self.planner().count(&*query.as_query()?)
    }

    /// The plan of a query with every node's cardinality; `Display` prints it as a tree.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// engine.tag(a, "vip")?;
    /// engine.tag(a, "outdoor")?;
    /// let plan = engine.explain("vip AND NOT outdoor")?;
    /// assert_eq!(plan.count(), 0);
    /// println!("{plan}");
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn explain<Q: AsQuery + ?Sized>(&self, query: &Q) -> Result<Explain> {
        self.planner().explain(&*query.as_query()?)
    }

    /// Sizes of the engine.
    pub fn stats(&self) -> Stats {
        Stats {
            customers: self.customer_count(),
            keyed_customers: self.customers.keyed(),
            tags: self.pool.len(),
            assignments: self.pool.iter().map(|(id, _)| self.store.get(id).len()).sum(),
            bitmap_bytes: self.store.serialized_bytes(),
            pool_bytes: self.pool.heap_bytes(),
            subtree_bytes: self.store.subtree_bytes(),
            view_bytes: self.store.view_bytes(),
            directory_bytes: self.customers.heap_bytes(),
            attributes: self.attrs.len(),
            attribute_bytes: self.attrs.serialized_bytes(),
            purchases: self.history.len(),
            history_bytes: self.history.heap_bytes(),
        }
    }

    /// Converts bitmap containers to run containers wherever that is smaller. Bulk loads do
    /// this for the tags they touch; call it after many single `tag` calls to save memory.
    pub fn optimize(&mut self) {
        self.store.optimize();
        self.attrs.optimize();
    }

    // ------------------------------------------------------------------ attributes

    /// Declares numeric attribute `name` without giving anyone a value, so queries on it
    /// resolve (and match nobody) before the first [`Engine::set_attr`]. Declaring an existing
    /// attribute is a no-op.
    ///
    /// Errors: [`Error::InvalidAttributeName`]; [`Error::DerivedName`] for `recency_days`,
    /// `frequency` and `monetary`, which [`Engine::refresh`] owns.
    pub fn define_attr(&mut self, name: &str) -> Result<()> {
        let norm = normalize_attr(name)?;
        check_writable_attr(&norm)?;
        self.attrs.entry(&norm);
        Ok(())
    }

    /// Sets customer `id`'s value of numeric attribute `name` (created if new); returns the
    /// previous value. Attributes are a namespace of their own, separate from tags, and are
    /// queried with comparisons: `age >= 30 AND age < 40 AND vip`.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let bob = engine.customer("bob")?;
    /// let cat = engine.customer("cat")?;
    /// engine.set_attr(ann, "age", 34)?;
    /// engine.set_attr(bob, "age", 52)?;
    /// engine.tag(ann, "vip")?;
    /// assert_eq!(engine.count("age >= 30 AND age < 40 AND vip")?, 1);
    /// assert_eq!(engine.count("NOT age >= 30")?, 1); // cat has no age: she is not >= 30
    /// assert_eq!(engine.count("age != 34")?, 1); // ...and not != 34 either
    /// assert_eq!(engine.attr(cat, "age")?, None);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::InvalidAttributeName`],
    /// [`Error::DerivedName`] for the attributes `refresh` owns.
    pub fn set_attr(&mut self, id: CustomerId, name: &str, value: i64) -> Result<Option<i64>> {
        self.customers.check_live(id)?;
        let norm = normalize_attr(name)?;
        check_writable_attr(&norm)?;
        let attr = self.attrs.entry(&norm);
        let old = attr.bsi.get(id.0);
        if old != Some(value) {
            attr.bsi.set(id.0, value);
        }
        Ok(old)
    }

    /// Bulk [`Engine::set_attr`]: `(customer, attribute, value)` triples, the last value given
    /// per customer and attribute winning; each attribute's index is written once, with one
    /// bitmap operation per bit slice. Returns how many triples were given. Everything is
    /// checked before anything changes.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// engine.set_attrs([(a, "age", 20), (b, "age", 41), (a, "balance", -5), (a, "age", 21)])?;
    /// assert_eq!(engine.attr(a, "age")?, Some(21));
    /// assert_eq!(engine.count("balance<-4")?, 1);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::set_attr`]; nothing is applied then.
    pub fn set_attrs<I, S>(&mut self, values: I) -> Result<u64>
    where
        I: IntoIterator<Item = (CustomerId, S, i64)>,
        S: AsRef<str>,
    {
        let mut slots: indexmap::IndexMap<String, Vec<(u32, i64)>> = indexmap::IndexMap::new();
        let mut last_raw: Option<(String, usize)> = None;
        let mut n = 0u64;
        for (customer, name, value) in values {
            self.customers.check_live(customer)?;
            let raw = name.as_ref();
            let slot = match &last_raw {
                Some((r, i)) if r == raw => *i,
                _ => {
                    let norm = normalize_attr(raw)?;
                    check_writable_attr(&norm)?;
                    let i = match slots.get_index_of(&*norm) {
                        Some(i) => i,
                        None => slots.insert_full(norm.into_owned(), Vec::new()).0,
                    };
                    last_raw = Some((raw.to_owned(), i));
                    i
                }
            };
            slots[slot].push((customer.0, value));
            n += 1;
        }
        for (name, mut values) in slots {
            // Last value wins: a stable sort by customer, then keep each run's last.
            values.sort_by_key(|&(c, _)| c);
            let mut dedup: Vec<(u32, i64)> = Vec::with_capacity(values.len());
            for (c, v) in values {
                match dedup.last_mut() {
                    Some(last) if last.0 == c => last.1 = v,
                    _ => dedup.push((c, v)),
                }
            }
            let attr = self.attrs.entry(&name);
            attr.bsi.set_many(&dedup);
            if dedup.len() as u64 * 8 >= attr.len() {
                attr.bsi.optimize(); // a big load; small batches leave it to Engine::optimize
            }
        }
        Ok(n)
    }

    /// Removes customer `id`'s value of attribute `name`; returns it.
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownAttribute`],
    /// [`Error::DerivedName`].
    pub fn unset_attr(&mut self, id: CustomerId, name: &str) -> Result<Option<i64>> {
        self.customers.check_live(id)?;
        let norm = normalize_attr(name)?;
        check_writable_attr(&norm)?;
        if self.attrs.get(&norm).is_none() {
            return Err(self.attrs.unknown(&norm));
        }
        Ok(self.attrs.entry(&norm).bsi.remove(id.0))
    }

    /// Customer `id`'s value of attribute `name`, if it has one. The derived attributes read
    /// as of the last refresh (`recency_days` counts days to its as-of day).
    ///
    /// Errors: [`Error::UnknownCustomer`], [`Error::UnknownAttribute`] (with suggestions).
    pub fn attr(&self, id: CustomerId, name: &str) -> Result<Option<i64>> {
        self.customers.check_live(id)?;
        let norm = normalize_attr(name)?;
        match self.attrs.get(&norm) {
            Some(a) => Ok(a.get(id.0)),
            None => Err(self.attrs.unknown(&norm)),
        }
    }

    /// Every attribute of customer `id` with its value, in attribute creation order.
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn attrs_of(&self, id: CustomerId) -> Result<Vec<(&str, i64)>> {
        self.customers.check_live(id)?;
        Ok(self.attrs.iter().filter_map(|(name, a)| Some((name, a.get(id.0)?))).collect())
    }

    /// Every attribute name with how many customers have a value, in creation order.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.attrs.iter().map(|(name, a)| (name, a.len()))
    }

    // ------------------------------------------------------------------ purchases

    /// Records a purchase (or, with a negative amount, a refund) of customer `id` on the UTC
    /// day `when` (a [`Day`], a `chrono::NaiveDate` or a `chrono::DateTime<Utc>`). History
    /// is append-only and may arrive in any order; models read it at the next
    /// [`Engine::refresh`].
    ///
    /// ```
    /// use audience::{Engine, Money};
    /// use chrono::{NaiveDate, TimeZone, Utc};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// engine.record_purchase(ann, NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), Money::parse("19.99")?)?;
    /// engine.record_purchase(ann, Utc.with_ymd_and_hms(2024, 3, 2, 23, 59, 0).unwrap(), Money::from_minor(500)?)?;
    /// engine.record_purchase(ann, "2024-03-03".parse::<audience::Day>()?, Money::parse("-5.00")?)?; // a refund
    /// assert_eq!(engine.purchases_of(ann)?.len(), 3);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn record_purchase(&mut self, id: CustomerId, when: impl Into<Day>, amount: Money) -> Result<()> {
        self.customers.check_live(id)?;
        self.history.push(Rec { customer: id.0, day: when.into().days_since_epoch(), amount: amount.minor() });
        Ok(())
    }

    /// Bulk [`Engine::record_purchase`] from an iterator of [`Purchase`]s (or
    /// `(CustomerId, when, Money)` tuples). Returns how many were recorded. All or nothing:
    /// on error (a customer that is not live), none of them is kept.
    ///
    /// ```
    /// use audience::{Day, Engine, Money};
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let day = Day::from_ymd(2024, 1, 15)?;
    /// let n = engine.record_purchases([(a, day, Money::from_major(10)?), (a, day, Money::ZERO)])?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn record_purchases<I, P>(&mut self, purchases: I) -> Result<u64>
    where
        I: IntoIterator<Item = P>,
        P: Into<Purchase>,
    {
        let iter = purchases.into_iter();
        self.history.reserve(iter.size_hint().0);
        let before = self.history.len();
        for p in iter {
            let p: Purchase = p.into();
            if let Err(e) = self.customers.check_live(p.customer) {
                self.history.truncate_pending(before);
                return Err(e);
            }
            self.history.push(Rec { customer: p.customer.0, day: p.day.days_since_epoch(), amount: p.amount.minor() });
        }
        Ok(self.history.len() - before)
    }

    /// Customer `id`'s purchases and refunds, by day (in arrival order within a day). Reads
    /// the customer's columns and searches the recent tier; purchases recorded since the last
    /// refresh are scanned (they are sorted in at the next refresh).
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn purchases_of(&self, id: CustomerId) -> Result<Vec<Purchase>> {
        self.customers.check_live(id)?;
        Ok(self
            .history
            .of(id.0)
            .into_iter()
            .map(|(day, amount)| Purchase {
                customer: id,
                day: Day::from_days_since_epoch(day).expect("recorded from a Day"),
                amount: Money::from_minor(amount).expect("recorded from a Money"),
            })
            .collect())
    }

    /// Purchase records held (refunds included).
    pub fn purchase_count(&self) -> u64 {
        self.history.len()
    }

    // ------------------------------------------------------------------ models

    /// Sets how RFM scores and segments are computed (from the next refresh on). Default:
    /// quantile scores and the standard segment map.
    pub fn set_rfm_model(&mut self, model: RfmModel) {
        self.models.rfm = model;
    }

    /// The RFM model.
    pub fn rfm_model(&self) -> &RfmModel {
        &self.models.rfm
    }

    /// Sets the lifecycle windows (from the next refresh on). Default: new 30, active 90,
    /// churn 180 days.
    pub fn set_lifecycle(&mut self, lifecycle: Lifecycle) {
        self.models.lifecycle = lifecycle;
    }

    /// The lifecycle windows.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.models.lifecycle
    }

    /// Computes RFM scores, RFM segments and lifecycle stages as of day `as_of` from the
    /// purchases on or before it (later ones are ignored, so last quarter's picture can be
    /// recomputed exactly), and stores them where the query language reaches them:
    ///
    /// - tags in exclusive groups: `r:1`..`r:5`, `f:1`..`f:5`, `m:1`..`m:5`,
    ///   `rfm:<segment>` (customers with a purchase on or before `as_of`), and
    ///   `stage:<stage>` (every live customer; `stage:prospect` for those without a purchase);
    /// - attributes `recency_days`, `frequency` and `monetary` (minor units) for customers
    ///   with a purchase.
    ///
    /// These groups and attributes belong to the refresh: writing them by hand is an
    /// [`Error::DerivedName`]. They hold until the next refresh (customers added meanwhile
    /// have none yet).
    ///
    /// Returns a [`RefreshReport`]: counts per stage and per segment and the stage
    /// transitions since the previous refresh, each with its audience. Incremental where it
    /// pays: with the as-of day the same or later and the churn window unchanged, only
    /// customers with new purchases (or purchases dated after the previous as-of day) have
    /// their history read again, and only customers whose scores or stage changed are moved
    /// between tags. See [`RefreshReport`].
    ///
    /// ```
    /// use audience::{Day, Engine, Money, Stage};
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann")?;
    /// let bob = engine.customer("bob")?;
    /// engine.customer("cat")?; // never bought: a prospect
    /// let day = |s: &str| s.parse::<Day>();
    /// engine.record_purchase(ann, day("2024-01-10")?, Money::parse("120.00")?)?;
    /// engine.record_purchase(ann, day("2024-06-01")?, Money::parse("80.00")?)?;
    /// engine.record_purchase(bob, day("2023-11-20")?, Money::parse("15.50")?)?;
    /// let report = engine.refresh(day("2024-06-30")?)?;
    /// assert_eq!(report.stage_count(Stage::Active), 1);
    /// assert_eq!(report.stage_count(Stage::Churned), 1);
    /// assert_eq!(report.stage_count(Stage::Prospect), 1);
    /// assert_eq!(engine.count("stage:active AND r:5 AND f:5 AND m:5")?, 1);
    /// assert_eq!(engine.count("recency_days > 180")?, 1);
    /// assert_eq!(engine.rfm_of(ann)?.unwrap().segment, "champions");
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::MonetaryOverflow`] when a customer's total leaves the `i64` range
    /// (nothing changes then).
    pub fn refresh(&mut self, as_of: impl Into<Day>) -> Result<RefreshReport> {
        let as_of = as_of.into();
        let quiet = !self.history.has_pending();
        if let Some(scored) = self.models.unchanged(as_of, self.customers.live()).filter(|_| quiet) {
            // Same day, same models, nothing new: the derived data is current.
            return Ok(self.report(as_of, scored, Vec::new(), true, 0));
        }
        let touched = self.history.flush();
        self.models.note_touched(&touched);
        let mut plan = self.models.plan(&self.history, self.customers.live(), as_of).map_err(|e| match e {
            Error::MonetaryOverflow { customer, .. } => {
                Error::MonetaryOverflow { customer, key: self.customers.key_of(customer).map(str::to_owned) }
            }
            e => e,
        })?;
        // Make sure every derived group and value tag exists (so queries on an empty stage
        // resolve), then move customers between them.
        let mut ids: Vec<Vec<TagId>> = Vec::with_capacity(plan.groups.len());
        for g in &plan.groups {
            if self.pool.group(g.group).is_none() {
                let members = self.pool.would_be_members(g.group)?;
                self.pool.declare_group(g.group, g.kind, members);
            }
            let mut group_ids = Vec::with_capacity(g.values.len());
            for v in &g.values {
                let name = format!("{}:{v}", g.group);
                group_ids.push(match self.pool.lookup(&name) {
                    Some(id) => id,
                    None => self.create_tag(&name, g.kind)?,
                });
            }
            ids.push(group_ids);
        }
        let mut changed: Vec<TagId> = Vec::new(); // tags to run-optimize afterwards
        for (g, group_ids) in plan.groups.iter_mut().zip(&ids) {
            if g.reset {
                // A new segment map: every segment tag starts empty. Segments the map no
                // longer has stay as empty tags, so stored queries naming them still resolve.
                let members: Vec<TagId> = self.pool.group(g.group).map(|gr| gr.members.clone()).unwrap_or_default();
                for m in members {
                    self.store.replace(&self.pool, m, RoaringBitmap::new());
                }
            }
            for ((&tag, adds), removes) in group_ids.iter().zip(&mut g.adds).zip(&mut g.removes) {
                if adds.is_empty() && removes.is_empty() {
                    continue;
                }
                changed.push(tag);
                if !removes.is_empty() {
                    let bits = RoaringBitmap::from_sorted_iter(removes.drain(..)).expect("rows ascend");
                    self.store.remove_many(&self.pool, tag, &bits);
                }
                if !adds.is_empty() {
                    let bits = RoaringBitmap::from_sorted_iter(adds.drain(..)).expect("rows ascend");
                    self.store.add(&self.pool, tag, bits);
                }
            }
        }
        // Prospects: every live customer without another stage.
        let stage_ids = &ids[4];
        let staged = stage_ids[1..].iter().map(|&t| self.store.get(t)).union();
        let prospects = self.customers.live() - &staged;
        let prospect = stage_ids[Stage::Prospect.index()];
        self.store.replace(&self.pool, prospect, prospects);
        changed.push(prospect);
        for t in changed {
            self.store.optimize_tag(t);
        }
        for diff in &plan.attrs {
            let attr = self.attrs.entry(diff.name);
            if !diff.clear.is_empty() {
                attr.bsi
                    .remove_many(&RoaringBitmap::from_sorted_iter(diff.clear.iter().copied()).expect("rows ascend"));
            }
            attr.bsi.set_many(&diff.set);
            if diff.name == "recency_days" {
                attr.reading = Reading::DaysSince(i64::from(as_of.days_since_epoch()));
            }
        }
        let transitions = std::mem::take(&mut plan.transitions)
            .into_iter()
            .map(|(from, to, bits)| StageTransition { from, to, count: bits.len(), audience: Audience::from(bits) })
            .collect();
        let report = self.report(as_of, plan.scored, transitions, plan.incremental, plan.recomputed);
        self.models.commit(plan);
        Ok(report)
    }

    /// A refresh report read off the derived tags (which exist after any refresh).
    fn report(
        &self,
        as_of: Day,
        scored: u64,
        transitions: Vec<StageTransition>,
        incremental: bool,
        recomputed: u64,
    ) -> RefreshReport {
        let size = |name: String| self.pool.lookup(&name).map_or(0, |t| self.store.get(t).len());
        RefreshReport {
            as_of,
            customers: self.customer_count(),
            scored,
            stages: Stage::ALL.iter().map(|&s| (s, size(format!("stage:{s}")))).collect(),
            segments: self.models.rfm.segments().names().map(|n| (n.to_owned(), size(format!("rfm:{n}")))).collect(),
            transitions,
            incremental,
            recomputed,
        }
    }

    /// The as-of day of the last refresh.
    pub fn last_refresh(&self) -> Option<Day> {
        self.models.last_as_of()
    }

    /// Customer `id`'s RFM figures as of the last refresh; `None` before the first refresh,
    /// for a customer without a purchase on or before its as-of day, and for one added since.
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn rfm_of(&self, id: CustomerId) -> Result<Option<RfmScores<'_>>> {
        self.customers.check_live(id)?;
        Ok(self.models.rfm_of(id.0))
    }

    /// Customer `id`'s lifecycle stage as of the last refresh; `None` before the first
    /// refresh and for a customer added (or removed and registered anew) since.
    ///
    /// Errors: [`Error::UnknownCustomer`].
    pub fn stage_of(&self, id: CustomerId) -> Result<Option<Stage>> {
        self.customers.check_live(id)?;
        Ok(self.models.stage_of(id.0))
    }

    // ------------------------------------------------------------------ helpers

    pub(crate) fn planner(&self) -> Planner<'_> {
        Planner { pool: &self.pool, store: &self.store, live: self.customers.live(), attrs: &self.attrs }
    }

    /// Refuses tags of the groups `refresh` derives.
    fn check_writable_id(&self, id: TagId) -> Result<()> {
        match self.pool.def(id).and_then(|d| d.group()).and_then(|g| self.pool.group_name(g)) {
            Some(g) if DERIVED_GROUPS.contains(&g) => {
                Err(Error::DerivedName { name: self.name(id).to_owned(), owner: OWNER })
            }
            _ => Ok(()),
        }
    }

    /// The id of an existing tag, or [`Error::UnknownTag`] with suggestions.
    fn lookup(&self, name: &str) -> Result<TagId> {
        let norm = normalize_tag(name)?;
        self.pool.lookup(&norm).ok_or_else(|| Error::UnknownTag {
            suggestions: self.pool.suggestions(&norm),
            name: norm.into_owned(),
            span: None,
            query: None,
        })
    }

    fn name(&self, id: TagId) -> &str {
        self.pool.name(id)
    }

    /// Creates tag `name` (normalized, new) and its missing ancestors.
    fn create_tag(&mut self, name: &str, kind: TagKind) -> Result<TagId> {
        let id = self.pool.create(name, kind)?;
        self.store.created(&self.pool, id);
        Ok(id)
    }

    fn info(&self, id: TagId) -> TagInfo<'_> {
        let d = self.pool.def(id).expect("listed tags are live");
        TagInfo {
            id,
            name: &d.name,
            kind: d.kind,
            len: self.store.get(id).len(),
            group: d.group().and_then(|g| self.pool.group_name(g)),
            parent: d.parent().map(|p| self.name(p)),
            children: self.pool.children(id).len(),
            subtree_len: self.store.members(&self.pool, id).len(),
        }
    }
}

/// Refuses names in the groups `refresh` derives (`r:`, `f:`, `m:`, `rfm:`, `stage:`).
fn check_writable(norm: &str) -> Result<()> {
    match group_prefix(norm) {
        Some(g) if DERIVED_GROUPS.contains(&g) => Err(Error::DerivedName { name: norm.to_owned(), owner: OWNER }),
        _ => Ok(()),
    }
}

/// Refuses the attributes `refresh` derives.
fn check_writable_attr(norm: &str) -> Result<()> {
    if DERIVED_ATTRS.contains(&norm) {
        return Err(Error::DerivedName { name: norm.to_owned(), owner: OWNER });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_with(keys: &[&str]) -> (Engine, Vec<CustomerId>) {
        let mut e = Engine::new();
        let ids = keys.iter().map(|k| e.customer(k).unwrap()).collect();
        (e, ids)
    }

    #[test]
    fn spacing_around_the_group_colon_cannot_dodge_exclusivity() {
        let (mut e, c) = engine_with(&["c"]);
        e.define_exclusive_group("tier").unwrap();
        e.tag(c[0], "tier:gold").unwrap();
        e.tag(c[0], "tier :silver").unwrap();
        assert_eq!(e.tags_of(c[0]).unwrap(), ["tier:silver"]);
        e.tag(c[0], "tier: gold").unwrap();
        assert_eq!(e.tags_of(c[0]).unwrap(), ["tier:gold"]);
    }

    #[test]
    fn dense_ids_never_merge_with_keyed_customers() {
        let (mut e, c) = engine_with(&["alice"]);
        e.tag(c[0], "vip").unwrap();
        assert_eq!(e.customer_id(c[0]), Err(Error::CustomerIdTaken { id: c[0], key: "alice".into() }));
        assert_eq!(e.customer_id(7u32), Ok(CustomerId(7)));
        assert_eq!(e.customer_id(7u32), Ok(CustomerId(7)), "registering again is a no-op");
        e.remove_customer(c[0]).unwrap();
        assert_eq!(e.customer_id(c[0]), Ok(c[0]), "the caller may register a removed id anew");
        assert!(e.tags_of(c[0]).unwrap().is_empty(), "it comes back with no tags");
    }

    #[test]
    fn group_members_stay_in_creation_order_after_a_rename() {
        let mut e = Engine::new();
        e.define_exclusive_group("tier").unwrap();
        let gold = e.ensure_tag("tier:gold").unwrap();
        let silver = e.ensure_tag("tier:silver").unwrap();
        e.rename_tag("tier:gold", "tier:platinum").unwrap();
        let ids: Vec<TagId> = e.tags_in_group("tier").unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ids, [gold, silver]);
    }

    #[test]
    fn bulk_exclusive_values_match_tagging_one_by_one() {
        let (mut bulk, c) = engine_with(&["a", "b", "c"]);
        bulk.define_exclusive_group("tier").unwrap();
        bulk.tag(c[0], "tier:1").unwrap();
        bulk.tag(c[2], "tier:5").unwrap();
        let mut single = bulk.clone();
        let pairs =
            [(c[0], "tier:2"), (c[1], "tier:3"), (c[0], "tier:4"), (c[1], "other"), (c[2], "tier:5"), (c[1], "tier:1")];
        for (id, t) in pairs {
            single.tag(id, t).unwrap();
        }
        // net gain: a r:4 (r:1 replaced, the passing r:2 not counted), b r:1 and other; c kept r:5
        assert_eq!(bulk.tag_pairs(pairs).unwrap(), 3);
        for id in &c {
            assert_eq!(bulk.tags_of(*id).unwrap(), single.tags_of(*id).unwrap());
        }
        for r in 1..=5 {
            let q = format!("tier:{r}");
            assert_eq!(bulk.count(&q).unwrap(), single.count(&q).unwrap(), "{q}");
        }
    }

    #[test]
    fn failed_bulk_load_changes_nothing() {
        let (mut e, c) = engine_with(&["a"]);
        let before = e.stats();
        let err = e.tag_pairs([(c[0], "new/tag"), (CustomerId(99), "x")]).unwrap_err();
        assert_eq!(err, Error::UnknownCustomer { id: CustomerId(99) });
        assert_eq!(e.stats(), before);
        assert_eq!(e.tag_id("new/tag"), None, "no tag was created");
        assert!(matches!(e.tag_id_pairs([(c[0], TagId(5))]), Err(Error::UnknownTagId { .. })));
    }

    #[test]
    fn removal_erases_everywhere_and_not_excludes_it() {
        let (mut e, c) = engine_with(&["a", "b"]);
        e.tag(c[0], "vip").unwrap();
        e.tag(c[1], "vip").unwrap();
        e.remove_customer(c[1]).unwrap();
        assert_eq!(e.count("vip").unwrap(), 1);
        assert_eq!(e.count("NOT vip").unwrap(), 0);
        assert_eq!(e.count("*").unwrap(), 1);
        assert_eq!(e.id_of("b"), None);
        assert_eq!(e.tag(c[1], "vip"), Err(Error::UnknownCustomer { id: c[1] }));
        // a stale audience cannot bring a removed customer back
        let stale: Audience = c.iter().copied().collect();
        assert_eq!(e.tag_all(&stale, "campaign").unwrap(), 1);
        assert_eq!(e.count("campaign").unwrap(), 1);
    }

    #[test]
    fn define_tag_kinds() {
        let (mut e, c) = engine_with(&["a"]);
        e.tag(c[0], "outdoor/hiking").unwrap();
        assert_eq!(e.tag_info("outdoor").unwrap().kind, TagKind::Custom);
        e.define_tag("outdoor", TagKind::Interest).unwrap();
        assert_eq!(e.tag_info("outdoor").unwrap().kind, TagKind::Interest, "Custom is upgraded");
        assert!(matches!(e.define_tag("outdoor", TagKind::Value), Err(Error::TagKindConflict { .. })));
        e.set_tag_kind("outdoor", TagKind::Value).unwrap();
        assert_eq!(e.tag_info("outdoor").unwrap().kind, TagKind::Value);
        e.tag(c[0], "outdoor/camping").unwrap();
        assert_eq!(e.tag_info("outdoor/camping").unwrap().kind, TagKind::Value, "nearest ancestor's kind");
    }

    /// Tag members, attribute values, purchases per customer, purchase count.
    type Picture = (Vec<(String, Vec<u32>)>, Vec<(String, Vec<(u32, i64)>)>, Vec<(u32, usize)>, u64);

    /// A snapshot of everything a removal touches, for comparing two engines.
    fn picture(e: &Engine) -> Picture {
        let tags = e
            .tags()
            .map(|t| (t.name.to_owned(), e.query(&format!("\"{}\"", t.name)).unwrap().iter().map(|c| c.0).collect()))
            .collect();
        let attrs = e
            .attributes()
            .map(|(name, _)| {
                let vals = e.customers().iter().filter_map(|c| Some((c.0, e.attr(c, name).unwrap()?))).collect();
                (name.to_owned(), vals)
            })
            .collect();
        let purchases = e.customers().iter().map(|c| (c.0, e.purchases_of(c).unwrap().len())).collect();
        (tags, attrs, purchases, e.purchase_count())
    }

    #[test]
    fn bulk_removal_equals_one_by_one() {
        let mut e = Engine::new();
        let day = |d: i32| Day::from_days_since_epoch(19_000 + d).unwrap();
        for c in 0..300u32 {
            let id = e.customer(&format!("k{c}")).unwrap();
            e.tag(id, if c % 3 == 0 { "a" } else { "b" }).unwrap();
            e.set_attr(id, "age", i64::from(c % 70)).unwrap();
            for p in 0..(c % 5) {
                e.record_purchase(
                    id,
                    day((c * 7 + p * 31) as i32 % 400),
                    Money::from_minor(i64::from(c * 10 + p)).unwrap(),
                )
                .unwrap();
            }
        }
        e.refresh(day(300)).unwrap();
        // more purchases after the refresh: some in the pending tier at removal time
        for c in (0..300u32).step_by(4) {
            e.record_purchase(CustomerId(c), day(310), Money::from_minor(99).unwrap()).unwrap();
        }
        let gone: Audience = (0..300u32).filter(|c| c % 5 == 1).map(CustomerId).collect();
        let mut one_by_one = e.clone();
        for c in gone.iter() {
            one_by_one.remove_customer(c).unwrap();
        }
        let mut bulk = e.clone();
        assert_eq!(bulk.remove_customers(&gone).unwrap(), gone.len());
        assert_eq!(bulk.remove_customers(&gone).unwrap(), 0, "no longer live: skipped");
        assert_eq!(picture(&bulk), picture(&one_by_one));
        let (r1, r2) = (bulk.refresh(day(320)).unwrap(), one_by_one.refresh(day(320)).unwrap());
        assert_eq!(r1, r2);
        assert_eq!(picture(&bulk), picture(&one_by_one));
    }

    #[test]
    fn a_range_of_ids_is_refused_when_a_keyed_customer_has_one() {
        let mut e = Engine::new();
        let k = e.customer("k").unwrap(); // id 0
        assert!(matches!(e.customer_id_range(0..10), Err(Error::CustomerIdTaken { id, .. }) if id == k));
        assert_eq!(e.customer_count(), 1, "nothing registered");
        assert_eq!(e.customer_id_range(1..10).unwrap(), 9);
        assert_eq!(e.customer_id_range(5..5).unwrap(), 0);
        assert_eq!(e.customer("j").unwrap(), CustomerId(10));
    }
}
