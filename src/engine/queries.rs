//! Queries: text or a [`Query`] in, an [`Audience`], a count or a plan out.

use super::{AsQuery, Engine};
use crate::audience::Audience;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::query::Explain;
use crate::query::Prepared;
#[cfg(doc)]
use crate::query::Query;

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
