//! Customers: external keys and dense ids in, removal (the right to be forgotten) from every
//! layer.

use roaring::RoaringBitmap;

use super::Engine;
use crate::audience::Audience;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::CustomerId;

impl Engine {
    /// The id of the customer with external key `key`, registering the customer (live, no
    /// tags) if the key is new. The same key always gives the same id until the customer is
    /// removed.
    ///
    /// Errors: [`Error::InvalidCustomerKey`] for an empty key or one longer than
    /// [`MAX_CUSTOMER_KEY_LEN`](crate::MAX_CUSTOMER_KEY_LEN), [`Error::CustomerIdsExhausted`]
    /// when no `u32` id is left.
    pub fn customer(&mut self, key: &str) -> Result<CustomerId> {
        let id = self.customers.intern(key)?;
        self.tags.touch_one(id.0); // a new customer lands in an applied plan's segments
        Ok(id)
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
        self.tags.touch_one(id.0);
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
        let n = self.customers.register_range(ids.clone())?;
        if self.tags.notes_touches() {
            let mut range = RoaringBitmap::new();
            range.insert_range(ids);
            self.tags.touch(&range);
        }
        Ok(n)
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
        self.tags.remove_customer(id.0);
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
        self.tags.remove_customers(&gone);
        self.attrs.remove_customers(&gone);
        self.history.remove_customers(&gone);
        self.models.note_removed_all(&gone);
        Ok(gone.len())
    }
}
