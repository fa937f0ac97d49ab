//! [`Stats`]: what an engine holds and what it costs; [`Engine::optimize`].

use super::Engine;
use crate::blocks::cache::ViewBudget;

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
    /// Heap bytes of the views queries keep of wide tags' containers (512 ids or more per
    /// 2^16-id block on average; arrays of 512 values or more held as bitsets), so they
    /// read them in place as flat words: within `view_budget_bytes`, by default half of
    /// `bitmap_bytes` as last measured (after a bulk change, or after 4,096 one-customer
    /// changes when a view does not fit), or 1 MiB when that is more.
    /// Made by the first query that needs one and dropped when its tag changes, so this
    /// figure depends on which queries have run: compare two engines' `Stats` with it set
    /// aside. A clone (a [`Reader`](crate::Reader)) shares the views kept.
    pub view_bytes: usize,
    /// The bytes views may take now: the budget set with [`Engine::set_view_budget`], or by
    /// default ([`ViewBudget::Auto`]) half of `bitmap_bytes` as last measured (the first
    /// query that reads a view after a bulk change measures it again; until then, or when
    /// never measured, the current `bitmap_bytes`), at least 1 MiB. `view_bytes` stays
    /// within it, but for the moment between a bulk change that shrinks the bitmaps and
    /// the next query that reads a view (which drops the views past the new budget).
    pub view_budget_bytes: usize,
    /// Heap bytes of the per-block customer -> tags index that [`Engine::profile`] and
    /// [`Engine::tags_of`] build for the 2^16-id blocks they read more than once (the
    /// sparse tags' rows; a block's write drops it), within `bitmap_bytes`. Like
    /// `view_bytes`, it depends on what was read; a clone shares what is kept.
    ///
    /// [`Engine::profile`]: crate::Engine::profile
    /// [`Engine::tags_of`]: crate::Engine::tags_of
    pub customer_index_bytes: usize,
    /// Heap bytes of the tags' census: per 2^16-id block, every tag's values there when it
    /// has at most 4,096 of them, side by side, which [`Engine::describe`] and
    /// [`Engine::compare`] build for the blocks they read more than once (a block's write
    /// drops it), within `bitmap_bytes`. Like `view_bytes`, it depends on what was read; a
    /// clone shares what is kept.
    ///
    /// [`Engine::describe`]: crate::Engine::describe
    /// [`Engine::compare`]: crate::Engine::compare
    pub census_bytes: usize,
    /// Approximate heap bytes of the customer directory: the keys' bytes, the table that finds
    /// them, alias keys of merged customers, the live set.
    pub directory_bytes: usize,
    /// The bytes of the customers' own keys, part of `directory_bytes`: `(directory_bytes -
    /// directory_key_bytes) / keyed_customers` is what the directory costs a key beyond its
    /// bytes (10-20 at 10M keys; README "Performance").
    pub directory_key_bytes: usize,
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

impl Engine {
    /// Sizes of the engine.
    pub fn stats(&self) -> Stats {
        let bitmap_bytes = self.tags.bitmap_bytes();
        Stats {
            customers: self.customer_count(),
            keyed_customers: self.customers.keyed(),
            tags: self.tags.len(),
            assignments: self.tags.assignments(),
            bitmap_bytes,
            pool_bytes: self.tags.pool_bytes(),
            subtree_bytes: self.tags.subtree_bytes(),
            view_bytes: self.tags.view_bytes(),
            view_budget_bytes: self.tags.view_budget_bytes(bitmap_bytes),
            customer_index_bytes: self.tags.customer_index_bytes(),
            census_bytes: self.tags.census_bytes(),
            directory_bytes: self.customers.heap_bytes(),
            directory_key_bytes: self.customers.key_bytes(),
            attributes: self.attrs.len(),
            attribute_bytes: self.attrs.serialized_bytes(),
            purchases: self.history.len(),
            history_bytes: self.history.heap_bytes(),
        }
    }

    /// Sets how much memory queries may keep in views of wide tags ([`Stats::view_bytes`]),
    /// so a multi-operand query reads their containers in place: [`ViewBudget::Auto`] (the
    /// default) or a fixed number of bytes. Every view kept is dropped now; the next queries
    /// make them again within the new budget. Results never depend on it, only speed and
    /// memory do. Like [`Engine::set_threads`], the setting is this engine value's: a clone
    /// keeps it and [`Engine::open`] starts at the default.
    ///
    /// ```
    /// use audience::{Engine, ViewBudget};
    /// let mut engine = Engine::new();
    /// for i in 0..70_000 {
    ///     let c = engine.customer(&format!("c{i}"))?;
    ///     for tag in ["a", "b", "c"] {
    ///         engine.tag(c, tag)?;
    ///     }
    /// }
    /// engine.set_view_budget(ViewBudget::Bytes(0)); // no views: operands are copied per query
    /// assert_eq!(engine.count("a AND b AND c")?, 70_000);
    /// assert_eq!(engine.stats().view_bytes, 0);
    /// engine.set_view_budget(ViewBudget::Bytes(1 << 20));
    /// assert_eq!(engine.count("a AND b AND c")?, 70_000);
    /// let stats = engine.stats();
    /// assert!(stats.view_bytes > 0 && stats.view_bytes <= stats.view_budget_bytes);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn set_view_budget(&mut self, budget: ViewBudget) -> &mut Engine {
        self.tags.set_view_budget(budget);
        self
    }

    /// The views' budget, as set by [`Engine::set_view_budget`]; [`Stats::view_budget_bytes`]
    /// gives it in bytes for the bitmaps as they are now.
    pub fn view_budget(&self) -> ViewBudget {
        self.tags.view_budget()
    }

    /// Converts bitmap containers to run containers wherever that is smaller. Bulk loads do
    /// this for the tags they touch; call it after many single `tag` calls to save memory.
    /// A bitmap or attribute a [`Reader`](crate::Reader) still holds is left as it is
    /// (optimizing it would copy it, and changes no member): call it again once views are
    /// dropped.
    pub fn optimize(&mut self) {
        self.tags.optimize();
        self.attrs.optimize();
    }
}
