//! [`Engine`]: the typed facade users hold. Each method checks what the facade knows (is
//! the customer live?) and delegates to the layer that owns the rule:
//!
//! | file | methods | layer |
//! |---|---|---|
//! | `customers.rs` | keys, dense ids, removal, merges | [`Directory`], then every layer's erase (a merge: every layer's merge first) |
//! | `tags.rs` | the tag pool, tagging one customer or many, bulk loads, merging tags | [`Tags`] (and [`Segments`], which rewrites the saved queries of a merge) |
//! | `expiry.rs` | expiring tags: tag until a day, expire as of a day | [`Tags`] (`tags/layer/expiry.rs`) |
//! | `queries.rs` | query, select, count, explain | the [`Planner`] |
//! | `attrs.rs` | numeric attributes | [`Attrs`] |
//! | `history.rs` | purchases, the models, refresh | [`History`], [`Models`] (the refresh layer) |
//! | `segments.rs` | segment plans and rule tags: evaluate, apply, define, compute | [`Segments`] (the segment layer) |
//! | `profiles.rs` | what makes an audience different (describe, breakdown), tag statistics, empty and unused tags | the profile layer |
//! | `changes.rs` | the change feed: on, off, drain | [`Tags`] (which records every write) |
//! | `clickhouse.rs` | tags, keys and attributes written as ClickHouse `RowBinary`, tags read back, queries as ClickHouse SQL | `clickhouse/` (the encodings), [`Tags`], [`Directory`], [`Attrs`] |
//! | `stats.rs` | sizes, optimize | all of them |
//! | `reader.rs` | [`Reader`]: an immutable view for other threads | every layer (its parts behind `Arc`s, copied on write) |
//! | `persist.rs` | snapshots and the journal: save, open, checkpoint, flush | `persist/` (the files), each layer (its sections) |
//! | `journal.rs` | what the journal records: one [`Op`](journal::Op) per mutating call, and replaying it | every method above that writes |

use std::borrow::Cow;

use crate::attrs::Attrs;
use crate::customers::Directory;
use crate::error::Result;
use crate::history::History;
use crate::par::Threads;
use crate::query::{Planner, Prepared, Query};
use crate::refresh::Models;
use crate::segment::Segments;
use crate::tags::Tags;

mod attrs;
mod changes;
mod clickhouse;
mod customers;
mod expiry;
mod history;
pub(crate) mod journal;
#[cfg(feature = "csv")]
mod load;
mod persist;
mod profiles;
mod queries;
mod reader;
mod segments;
mod stats;
mod tags;
#[cfg(test)]
mod tests;

pub use clickhouse::{ClickHouseExport, ClickHouseImport};
pub use reader::Reader;
pub use stats::Stats;

/// The in-process customer tag engine.
///
/// Holds the customer directory (external keys <-> dense [`CustomerId`](crate::CustomerId)s), the managed tag
/// pool (kinds, exclusive groups, hierarchy), one roaring bitmap per tag, numeric attributes
/// (a bit-sliced index each), purchase history, and the RFM and lifecycle models computed
/// from it; answers boolean queries over tags and attribute ranges. See the
/// [crate docs](crate) for a tour.
///
/// `Engine` is `Send + Sync + Clone`; every query method takes `&self`. For threads that
/// read while one writes, take views with [`Engine::reader`]: each is the engine as of that
/// moment, shared with the writer part by part (copy-on-write). A clone is as cheap (it is
/// what a view holds) and has no journal: it holds the same state, and its writes are its
/// own (see [`Engine::open`]).
#[derive(Clone, Default)]
pub struct Engine {
    customers: Directory,
    tags: Tags,
    attrs: Attrs,
    history: History,
    models: Models,
    segments: Segments,
    /// The journal writes are recorded in, for an engine opened from a snapshot.
    journal: journal::Attached,
    /// The threads bulk work may use ([`Engine::set_threads`]).
    threads: Threads,
}

impl std::fmt::Debug for Engine {
    /// A summary (sizes), not the contents: an engine may hold millions of customers. Only
    /// constant-time figures, so printing never walks the keys or the bitmaps.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("customers", &self.customer_count())
            .field("keyed_customers", &self.customers.keyed())
            .field("tags", &self.tags.len())
            .field("aliases", &self.tags.alias_count())
            .field("exclusive_groups", &self.exclusive_groups().collect::<Vec<_>>())
            .field("attributes", &self.attrs.len())
            .field("purchases", &self.history.len())
            .field("last_refresh", &self.models.last_as_of())
            .finish()
    }
}

/// Something that can be evaluated as a query: query text (`&str`, `String`), a parsed or
/// built [`Query`], or a [`Prepared`] one (names resolved once).
pub trait AsQuery {
    /// The query, parsed if needed.
    fn as_query(&self) -> Result<Cow<'_, Query>>;

    /// The query with its names already resolved, if it is a [`Prepared`] one (engines
    /// count and select those without resolving names again). `None` by default.
    fn prepared(&self) -> Option<&Prepared> {
        None
    }
}

impl AsQuery for Prepared {
    fn as_query(&self) -> Result<Cow<'_, Query>> {
        Ok(Cow::Borrowed(self.query()))
    }

    fn prepared(&self) -> Option<&Prepared> {
        Some(self)
    }
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

    fn prepared(&self) -> Option<&Prepared> {
        (**self).prepared()
    }
}

impl Engine {
    /// An empty engine.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Sets how many threads this engine's bulk work may use: a refresh's per-customer
    /// steps (purchases sorted by customer, each customer's summary, scores and moves, the
    /// derived attributes' bit slices), and a batch of queries ([`Engine::count_many`],
    /// [`Engine::select_many`], and a segment plan's rules in [`Engine::segment`],
    /// [`Engine::apply_plan`] and the refresh: ranges of blocks and shares of the queries). `0`, the
    /// default: the cores the process may use ([`std::thread::available_parallelism`], at
    /// most 8) for a step of 65,536 customers or records or more (for a batch, about a
    /// millisecond of work: some 2,000 blocks of one query), one thread below that; `n`:
    /// `n` threads for every such step (at most [`MAX_THREADS`](crate::MAX_THREADS), and
    /// one per customer, block or query). `1` keeps all the work on the calling thread.
    ///
    /// Whatever the count, the results are the same, bit for bit. The setting is this
    /// engine value's, like its journal: a clone keeps it; a snapshot does not hold it, so
    /// [`Engine::open`] starts at the default. Loads ([`CsvOptions::threads`]) and
    /// [`Engine::describe`] ([`DescribeOptions::threads`]) take theirs from their options.
    ///
    /// ```
    /// use audience::{Day, Engine, Money};
    /// let mut engine = Engine::new();
    /// engine.set_threads(2);
    /// assert_eq!(engine.threads(), 2);
    /// let ada = engine.customer("ada")?;
    /// engine.record_purchase(ada, Day::from_ymd(2024, 5, 1)?, Money::parse("12.50")?)?;
    /// engine.refresh(Day::from_ymd(2024, 6, 30)?)?; // the same report at 1, 2 or 64 threads
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// [`CsvOptions::threads`]: crate::CsvOptions::threads
    /// [`DescribeOptions::threads`]: crate::DescribeOptions::threads
    pub fn set_threads(&mut self, n: usize) -> &mut Engine {
        self.threads = Threads::new(n);
        self
    }

    /// The threads bulk work may use, as set by [`Engine::set_threads`] (at most
    /// [`MAX_THREADS`](crate::MAX_THREADS)); `0` for the default.
    pub fn threads(&self) -> usize {
        self.threads.asked()
    }

    pub(crate) fn planner(&self) -> Planner<'_> {
        Planner {
            pool: self.tags.pool(),
            store: self.tags.store(),
            live: self.customers.live(),
            live_len: self.customers.live_len(),
            attrs: &self.attrs,
        }
    }

    /// The layers, for the layers' own unit tests (snapshot round trips).
    #[cfg(test)]
    pub(crate) fn layers(&self) -> (&Directory, &Tags, &Attrs, &Segments) {
        (&self.customers, &self.tags, &self.attrs, &self.segments)
    }
}
