//! Queries: text or a [`Query`] in, an [`Audience`], a count or a plan out.

use super::{AsQuery, Engine};
use crate::audience::Audience;
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::query::Query;
use crate::query::{Explain, Planned, Planner, Prepared};

impl Engine {
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

    /// Evaluates a parsed or built [`Query`] (or query text, or a [`Prepared`] query); the
    /// matching live customers.
    pub fn select<Q: AsQuery + ?Sized>(&self, query: &Q) -> Result<Audience> {
        let p = self.planner();
        match query.prepared() {
            Some(prepared) => p.select_prepared(prepared),
            None => p.select(&*query.as_query()?),
        }
        .map(Audience::from)
    }

    /// `query` with its names resolved once, for the queries cheap enough that resolving
    /// names shows (a tag or two at any size: about 50 ns a name of a 100-200 ns count).
    /// Pass the [`Prepared`] query to [`count`](Engine::count) and
    /// [`select`](Engine::select). After a change to the tag pool (a tag created, deleted,
    /// renamed, moved, grouped, given a kind or aliased; members changing does not count)
    /// every call resolves the names again, with the result and errors the query's text
    /// gives, until it is prepared again (`engine.prepare(&prepared)`).
    ///
    /// Errors: those of [`select`](Engine::select) (the query is planned now).
    pub fn prepare<Q: AsQuery + ?Sized>(&self, query: &Q) -> Result<Prepared> {
        self.planner().prepare(query.as_query()?.into_owned())
    }

    /// How many live customers match (text, a [`Query`] or a [`Prepared`] one), without
    /// materializing the result where the plan allows (the last step is a cardinality-only
    /// bitmap operation).
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
        let p = self.planner();
        match query.prepared() {
            Some(prepared) => p.count_prepared(prepared),
            None => p.count(&*query.as_query()?),
        }
    }

    /// How many live customers each query matches, in order: what [`count`](Engine::count)
    /// gives for each, computed together. The queries that `count` would evaluate block by
    /// block (tag expressions of three or more operands, except a flat `AND` led by a sparse
    /// tag), when there are two or more of them, run in one pass over the customers' 2^16-id
    /// blocks: each tag they name is made ready once (read in place through its view, or
    /// copied once), and at every block all of them are evaluated while the block's bitmaps
    /// are in cache, so a 20-rule segment plan reads each shared tag from memory once rather
    /// than once per rule. The other queries (a tag, two tags, attribute ranges, an `AND`
    /// led by a sparse tag) run as `count` runs them. The work is spread over the
    /// engine's threads ([`Engine::set_threads`]: by default the cores, for a batch big
    /// enough to pay for them); the counts are the same at any thread count.
    ///
    /// Accepts a slice of anything [`AsQuery`]: text, [`Query`] values, [`Prepared`]
    /// queries (names resolved once). An empty slice gives an empty vector.
    ///
    /// ```
    /// use audience::{Engine, Query};
    /// let mut engine = Engine::new();
    /// for (key, tags) in [("a", &["vip", "outdoor"][..]), ("b", &["vip"]), ("c", &["running", "churned"])] {
    ///     let c = engine.customer(key)?;
    ///     for tag in tags {
    ///         engine.tag(c, tag)?;
    ///     }
    /// }
    /// let rules = ["vip AND (outdoor OR running) AND NOT churned", "vip", "NOT vip", "churned OR running"];
    /// assert_eq!(engine.count_many(&rules)?, [1, 2, 1, 1]);
    /// let built = [Query::tag("vip").and(Query::tag("outdoor")), Query::everyone()];
    /// assert_eq!(engine.count_many(&built)?, [1, 3]);
    ///
    /// // A bad query fails the batch, and the error says which one.
    /// let err = engine.count_many(&["vip", "vpi"]).unwrap_err();
    /// assert!(matches!(err, audience::Error::InBatch { index: 1, .. }));
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InBatch`] with the first failing query's place and its error
    /// ([`Error::Parse`], [`Error::UnknownTag`], [`Error::QueryTooLarge`], ...). Every query
    /// is planned before any is evaluated, so a bad query costs no evaluation.
    pub fn count_many<Q: AsQuery>(&self, queries: &[Q]) -> Result<Vec<u64>> {
        let p = self.planner();
        p.count_many(self.plan_all(&p, queries)?, self.threads)
    }

    /// The live customers each query matches, in order: what [`select`](Engine::select)
    /// gives for each, computed together as [`count_many`](Engine::count_many) computes
    /// them (one pass over the blocks for the queries `select` would evaluate block by block,
    /// the work on the engine's threads).
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// engine.tag(a, "vip")?;
    /// engine.tag(b, "outdoor")?;
    /// let who = engine.select_many(&["vip", "vip OR outdoor", "NOT vip"])?;
    /// assert_eq!(who[1].len(), 2);
    /// assert_eq!(who[2].iter().collect::<Vec<_>>(), [b]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`count_many`](Engine::count_many).
    pub fn select_many<Q: AsQuery>(&self, queries: &[Q]) -> Result<Vec<Audience>> {
        let p = self.planner();
        Ok(p.select_many(self.plan_all(&p, queries)?, self.threads)?.into_iter().map(Audience::from).collect())
    }

    /// Every query of a batch planned, or the first error with its place.
    fn plan_all<'a, Q: AsQuery>(&self, p: &Planner<'a>, queries: &[Q]) -> Result<Vec<Planned<'a>>> {
        queries
            .iter()
            .enumerate()
            .map(|(index, q)| {
                match q.prepared() {
                    Some(prepared) => p.planned_prepared(prepared),
                    None => q.as_query().and_then(|q| p.planned(&q)),
                }
                .map_err(|e| Error::InBatch { index, error: Box::new(e) })
            })
            .collect()
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
}
