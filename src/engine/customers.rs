//! Customers: external keys and dense ids in, removal (the right to be forgotten) from every
//! layer.

use roaring::RoaringBitmap;

use std::borrow::Cow;

use super::Engine;
use super::journal::Op;
use crate::audience::Audience;
use crate::customers::CustomerMerge;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::CustomerId;

impl Engine {
    /// The id of the customer with external key `key`, registering the customer (live, no
    /// tags) if the key is new. The same key always gives the same id until the customer is
    /// removed. An alias key (the key of a customer merged into another, see
    /// [`Engine::merge_customers`]) gives the customer it was merged into.
    ///
    /// Errors: [`Error::InvalidCustomerKey`] for an empty key or one longer than
    /// [`MAX_CUSTOMER_KEY_LEN`](crate::MAX_CUSTOMER_KEY_LEN), [`Error::CustomerIdsExhausted`]
    /// when no `u32` id is left.
    pub fn customer(&mut self, key: &str) -> Result<CustomerId> {
        let known = self.journal.0.is_some() && self.customers.id_of(key).is_some();
        let apply = |e: &mut Engine| {
            let id = e.customers.intern(key)?;
            e.tags.touch_one(id.0); // a new customer lands in an applied plan's segments
            Ok(id)
        };
        self.logged(apply, |&id| (!known).then_some(Op::Customer { key, id }))
    }

    /// Registers the keys a bulk load staged ([`Directory::stage`](crate::customers::Directory::stage)),
    /// each with the id it was given, as one journal record; the directory's table is
    /// filled on `threads` threads.
    pub(crate) fn commit_customers(&mut self, staged: &crate::customers::Staged, threads: usize) -> Result<()> {
        if staged.len() == 0 {
            return Ok(());
        }
        let apply = |e: &mut Engine| {
            e.customers.commit(staged, threads);
            if e.tags.notes_touches() {
                let end = staged.first_id() + staged.len() as u64;
                let mut range = RoaringBitmap::new();
                range.insert_range(staged.first_id() as u32..=(end - 1) as u32);
                e.tags.touch(&range); // new customers land in an applied plan's segments
            }
            Ok(())
        };
        let op = || Op::Customers {
            first: CustomerId(staged.first_id() as u32),
            keys: staged.keys().map(|(_, key)| key).collect(),
        };
        self.logged(apply, |()| Some(op()))
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
        let known = self.customers.is_live(id);
        let apply = |e: &mut Engine| {
            e.customers.register_id(id)?;
            e.tags.touch_one(id.0);
            Ok(id)
        };
        self.logged(apply, |_| (!known).then_some(Op::CustomerId(id)))
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
        let apply = |e: &mut Engine| {
            let n = e.customers.register_range(ids.clone())?;
            if e.tags.notes_touches() {
                let mut range = RoaringBitmap::new();
                range.insert_range(ids.clone());
                e.tags.touch(&range);
            }
            Ok(n)
        };
        self.logged(apply, |&n| (n > 0).then(|| Op::CustomerIdRange(ids.clone())))
    }

    /// The external key of a live customer, if it was registered by key (its own key: the
    /// keys of customers merged into it are [`Engine::key_aliases`]).
    pub fn key_of(&self, id: CustomerId) -> Option<&str> {
        self.customers.key_of(id)
    }

    /// The id of the live customer with key `key`: its own key, or an alias key (the key of
    /// a customer merged into it, see [`Engine::merge_customers`]).
    pub fn id_of(&self, key: &str) -> Option<CustomerId> {
        self.customers.id_of(key)
    }

    /// Whether `id` is a live customer.
    pub fn is_customer(&self, id: CustomerId) -> bool {
        self.customers.is_live(id)
    }

    /// How many live customers.
    pub fn customer_count(&self) -> u64 {
        self.customers.live_len()
    }

    /// Every live customer.
    pub fn customers(&self) -> Audience {
        Audience::from(self.customers.live().clone())
    }

    /// Removes a customer for good (the right to be forgotten): erased from every tag, every
    /// attribute, the purchase history and the live set (so `NOT` no longer counts it), and
    /// neither its key nor its alias keys ([`Engine::key_aliases`]) resolve any more (they are
    /// free for new customers). The id is never handed out again for a key (only
    /// [`Engine::customer_id`] can register it anew).
    ///
    /// Cost: O(tags + attribute slices) bitmap removals, and one pass over the purchases
    /// recorded since the last refresh plus the recent tier (at most an eighth of the
    /// history); for a batch of erasures use [`Engine::remove_customers`].
    ///
    /// Errors: [`Error::UnknownCustomer`] unless `id` is live.
    pub fn remove_customer(&mut self, id: CustomerId) -> Result<()> {
        let apply = |e: &mut Engine| {
            e.customers.remove(id)?;
            e.erase(id);
            Ok(())
        };
        self.logged(apply, |_| Some(Op::RemoveCustomer(id)))
    }

    /// Erases customer `id`, already out of the directory, from every other layer.
    fn erase(&mut self, id: CustomerId) {
        self.tags.remove_customer(id.0);
        self.attrs.remove_customer(id.0);
        self.history.remove_customer(id.0);
        self.models.note_removed(id.0);
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
        let apply = |e: &mut Engine| {
            for c in &gone {
                e.customers.remove(CustomerId(c))?;
            }
            e.tags.remove_customers(&gone);
            e.attrs.remove_customers(&gone);
            e.history.remove_customers(&gone);
            e.models.note_removed_all(&gone);
            Ok(gone.len())
        };
        self.logged(apply, |&n| (n > 0).then(|| Op::RemoveCustomers(Cow::Borrowed(&gone))))
    }
}

impl Engine {
    /// Merges customer `from` into customer `into` (identity resolution: two records found to
    /// be one person). `into` keeps its id and its key; `from` is removed, and its key
    /// resolves to `into` from then on.
    ///
    /// - **Tags**: `into` gets `from`'s tags. For a value of an exclusive group, `into`'s
    ///   value wins when both have one. Expiring tags last as long as the longer of the two
    ///   assignments: a tag new to `into` keeps `from`'s day ([`Engine::tag_until`]); one
    ///   both carry stays permanent if either carries it for good, else ends on the later
    ///   day. The hierarchy needs nothing special: each tag moves as itself.
    /// - **Derived tags are not copied**: the refresh's `r:`, `f:`, `m:`, `rfm:` and `stage:`
    ///   tags, an applied plan's segments and rule tags belong to their layers. They are
    ///   computed again by the next [`Engine::refresh`], [`Engine::refresh_rules`] or
    ///   [`Engine::apply_plan`] (which looks at `into` again: it is noted as changed).
    /// - **Attributes**: `into`'s values win; `from`'s fill the attributes `into` has no value
    ///   of. The derived attributes (`recency_days`, `frequency`, `monetary`) are left to the
    ///   refresh.
    /// - **Purchases** move to `into` (by day, after `into`'s own within a day), and the next
    ///   refresh scores `into` on the merged history and forgets `from`: its result equals a
    ///   refresh of an engine that held the merged data from the start.
    /// - **Keys**: `from` is removed as [`Engine::remove_customer`] removes a customer (the
    ///   change feed records it leaving every tag it carried, and `into` gaining each tag as
    ///   [`ChangeEvent::TagAdded`](crate::ChangeEvent::TagAdded)). Its key becomes an alias
    ///   of `into`: [`Engine::id_of`] and [`Engine::customer`] give `into` for it, and
    ///   [`Engine::key_aliases`] lists it. Aliases follow further merges (after `a` into `b`
    ///   and `b` into `c`, both `a` and `b` resolve to `c`), and go with their customer:
    ///   once `into` is removed, its alias keys resolve to nobody and
    ///   [`Engine::customer`] registers a new customer for them. A `from` registered by id
    ///   ([`Engine::customer_id`]) has no key to alias.
    ///
    /// Cost: one membership test per tag and one lookup per attribute, a copy of `from`'s
    /// purchases, then [`Engine::remove_customer`]'s.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann@example.com")?;
    /// let guest = engine.customer("guest-42")?;
    /// engine.tag(ann, "vip")?;
    /// engine.tag(guest, "newsletter")?;
    /// engine.set_attr(guest, "age", 34)?;
    /// let merge = engine.merge_customers(ann, guest)?;
    /// assert_eq!((merge.tags, merge.attributes), (vec!["newsletter".to_owned()], vec!["age".to_owned()]));
    /// assert_eq!(engine.tags_of(ann)?, ["vip", "newsletter"]);
    /// assert_eq!(engine.id_of("guest-42"), Some(ann));
    /// assert_eq!(engine.customer("guest-42")?, ann);
    /// assert_eq!(engine.key_aliases(ann)?, ["guest-42"]);
    /// assert!(!engine.is_customer(guest));
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::UnknownCustomer`] unless both are live (`into` checked first);
    /// [`Error::MergeSelf`] when they are the same customer. Nothing changes then.
    pub fn merge_customers(&mut self, into: CustomerId, from: CustomerId) -> Result<CustomerMerge> {
        let apply = |e: &mut Engine| {
            e.customers.check_merge(into, from)?;
            let tags = e.tags.merge_customer(into.0, from.0);
            let attributes = e.attrs.merge_customer(into.0, from.0);
            let purchases = e.history.copy_customer(from.0, into.0);
            let keys = e.customers.merge(into, from)?;
            e.erase(from);
            e.tags.touch_one(into.0); // applied plans read attributes too
            Ok(CustomerMerge { into, from, tags, attributes, purchases, keys })
        };
        self.logged(apply, |_| Some(Op::MergeCustomers { into, from }))
    }

    /// The alias keys of live customer `id`: the keys of the customers merged into it
    /// ([`Engine::merge_customers`]), oldest first. Its own key is [`Engine::key_of`].
    ///
    /// Errors: [`Error::UnknownCustomer`] unless `id` is live.
    pub fn key_aliases(&self, id: CustomerId) -> Result<Vec<&str>> {
        self.customers.check_live(id)?;
        Ok(self.customers.aliases_of(id).collect())
    }
}
