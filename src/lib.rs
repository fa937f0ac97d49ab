//! # audience
//!
//! Holds a company's customers, their tags, segments and profiles in process, and answers
//! "who are they?" in microseconds.
//!
//! ```
//! use audience::{Engine, Query, TagKind, CustomerId};
//!
//! let mut engine = Engine::new();
//! let alice: CustomerId = engine.customer("alice@example.com")?;   // interns the key; same key, same id
//! let bob = engine.customer("bob@example.com")?;
//! assert_eq!(engine.customer("alice@example.com")?, alice);
//! assert_eq!(engine.key_of(alice), Some("alice@example.com"));
//! assert_eq!(engine.id_of("bob@example.com"), Some(bob));
//!
//! engine.define_tag("vip", TagKind::Value)?;                 // the managed tag pool
//! engine.tag(alice, "vip")?;                                 // an undefined tag is created (TagKind::Custom)
//! engine.tag(alice, "高消费")?;                              // Unicode names are first-class
//! engine.tag(bob, "interest/sports/running")?;               // '/' builds a hierarchy
//! engine.define_exclusive_group("tier")?;                    // single-choice group: tags "tier:<value>"
//! engine.tag(bob, "tier:silver")?;
//! engine.tag(bob, "tier:gold")?;                             // replaces tier:silver, atomically
//! engine.untag(alice, "高消费")?;
//!
//! let a = engine.query("vip OR interest/sports")?;           // a parent matches its descendants
//! assert_eq!(a.len(), 2);
//! assert!(engine.query("tier:silver")?.is_empty());
//! let typed = Query::tag("vip").or(Query::tag("interest/sports"));
//! assert_eq!(engine.select(&typed)?.len(), 2);
//! assert_eq!(engine.count("NOT vip")?, 1);                   // NOT is relative to live customers
//! let ids: Vec<CustomerId> = a.iter().collect();             // ascending id order
//! assert!(matches!(engine.query("vpi"), Err(audience::Error::UnknownTag { .. })));   // suggests "vip"
//! assert!(matches!(engine.query("vip AND (x"), Err(audience::Error::Parse { .. })));
//! engine.remove_customer(bob)?;                              // erased from every tag; not counted by NOT
//! assert_eq!(engine.count("NOT vip")?, 0);
//! # let _ = ids;
//! # Ok::<(), audience::Error>(())
//! ```
//!
//! ## Concepts
//!
//! - **Customers** are external string keys interned to dense [`CustomerId`]s (`u32`), or
//!   dense ids registered directly ([`Engine::customer_id`]). Removing a customer erases it
//!   everywhere; its id is never handed out again for a key.
//! - **Tags** describe. The tag pool gives each tag a [`TagKind`] (attribute, behavior,
//!   interest, lifecycle, value, custom). `a/b/c` is a child of `a/b`: a query on a parent
//!   matches its descendants. An **exclusive group** `tier` makes `tier:<value>` tags
//!   single-choice: assigning one removes the customer's other value in the same call. An
//!   **alias** ([`Engine::alias_tag`]) is another name of a tag (`M` for `gender:male`),
//!   resolved wherever a tag name is read.
//! - **Attributes** are numeric facts (`age`, `balance`): one `i64` per customer and name,
//!   set with [`Engine::set_attr`] and compared in queries (`age >= 30 AND age < 40`). They
//!   are a namespace of their own, next to tags.
//! - **Queries** are boolean expressions over tags and attribute ranges: `vip AND (outdoor OR
//!   running) AND NOT churned AND age >= 30`. Text is parsed once into a [`Query`] (or built
//!   with the typed builder) and evaluated many times; an [`Audience`] is the result. The
//!   grammar is on [`Query`](Query#grammar). [`Engine::prepare`] resolves a query's names
//!   once; [`Engine::count_many`] and [`Engine::select_many`] answer a slice of queries in
//!   one pass over the customers' blocks, on the engine's threads. Tags with 512 or more
//!   customers per 2^16-id block are read through views kept as flat words, within a
//!   budget the caller may set ([`Engine::set_view_budget`], [`Stats::view_budget_bytes`]).
//! - **Segments** classify: a [`SegmentPlan`] (ordered rules `(name, query)` and a
//!   fallback) puts every live customer in exactly one segment, the first rule that
//!   matches. [`Engine::segment`] evaluates it with bitmaps; [`Engine::apply_plan`] stores
//!   it as an exclusive group (`campaign:champions`), moves only the customers whose segment
//!   changed when applied again, and reports who moved ([`SegmentDiff`]).
//!   **Rule tags** ([`Engine::define_rule_tag`]) are saved audiences: a tag whose members
//!   are whatever its query says, computed again by [`Engine::refresh_rules`] and
//!   [`Engine::refresh`], in dependency order with plans (a cycle is an
//!   [`Error::RuleCycle`]). **Expiring tags** ([`Engine::tag_until`]) end on a day, removed
//!   by [`Engine::expire`] or the next refresh (the engine has no clock: the caller's date
//!   is the time). The **change feed** ([`Engine::track_changes`], [`Engine::changes`])
//!   reports every membership change as a typed [`ChangeEvent`] with a sequence number
//!   (tags added and removed, customers moving between segments, stage changes), one event
//!   per tag and operation with an [`Audience`], so an application can act on them.
//! - **Purchase history** ([`Engine::record_purchase`]: a customer, a UTC [`Day`], an amount
//!   of [`Money`] in integer minor units; negative for a refund) feeds the two standard
//!   models, computed **as of any day** by [`Engine::refresh`]: [RFM](RfmModel#scores-and-segments) scores 1-5 with the
//!   named RFM segments, and [lifecycle stages](Stage#rules) (prospect, new, reactivated,
//!   active, at risk, churned). The refresh stores them as tags in exclusive groups (`r:5`,
//!   `f:1`, `m:3`, `rfm:champions`, `stage:at_risk`) and as attributes (`recency_days`,
//!   `frequency`, `monetary`), so the one query language reaches them:
//!   `stage:at_risk AND f:5 AND NOT vip`. Those groups and attributes are reserved for the
//!   refresh: writing them by hand is an [`Error::DerivedName`].
//! - **Profiles** understand. [`Engine::profile`] is one customer's whole picture
//!   ([`Profile`]: key and merged keys, tags by kind, group values, attributes, RFM and stage,
//!   purchases, segments, rule tags, expiring tags; JSON through `serde`, a card through
//!   `Display`). [`Engine::describe`] says what makes an audience different (the tags that
//!   over-index in it, by lift), [`Engine::breakdown`] spreads it over a group's values,
//!   [`Engine::compare`] sets two audiences side by side, all by bitmap counts. A pool that
//!   lives for years is kept clean with [`Engine::tag_stats`], [`Engine::empty_tags`],
//!   [`Engine::unused_tags`] and [`Engine::merge_tags`]; two records of one person become one
//!   with [`Engine::merge_customers`] (the old key stays an alias of the customer).
//! - **Durability.** [`Engine::save`] writes the whole engine to one snapshot file, replaced
//!   atomically; [`Engine::open`] reads it back, checked section by section (a damaged or
//!   foreign file is an [`Error::Corrupt`], never a panic), then replays the journal of
//!   every change since ([`Engine::checkpoint`], [`SyncPolicy`]);
//!   [`Engine::open_read_only`] reads a store another engine writes, changing nothing.
//!   Audiences and tags travel as
//!   portable Roaring bitmaps ([`Audience::to_portable_bytes`]), the format CRoaring, Java
//!   and Go Roaring read. [`Engine::reader`] gives other threads an immutable view as of
//!   now ([`Reader`]) while the writer goes on (copy-on-write, part by part).
//!
//! ```
//! use audience::{Day, Engine, Money, Stage};
//! let mut engine = Engine::new();
//! let ann = engine.customer("ann")?;
//! engine.set_attr(ann, "age", 34)?;
//! engine.record_purchase(ann, "2024-05-20".parse::<Day>()?, Money::parse("49.90")?)?;
//! let report = engine.refresh(Day::from_ymd(2024, 6, 30)?)?;
//! assert_eq!(report.stage_count(Stage::Active), 1);
//! assert_eq!(engine.count("stage:active AND age >= 30 AND recency_days <= 45")?, 1);
//! # Ok::<(), audience::Error>(())
//! ```
//!
//! ## Architecture
//!
//! ```text
//! Engine (engine/)            the typed facade users hold: each method checks what the facade
//!  │                          knows (is the customer live?) and delegates; one file per concern
//!  │                          (customers, tags, expiry, queries, attrs, history, segments,
//!  │                          profiles, changes, stats)
//!  ├─ customers.rs            key <-> dense id directory, live set
//!  ├─ tags/                   Tags (layer/): the pool and the bitmaps behind private fields,
//!  │                          the only writer of tag bitmaps; it keeps the rules: exclusive
//!  │                          groups, hierarchy, rename and delete, names derived layers own,
//!  │                          aliases (pool.rs resolves a name: a tag's, else an alias's).
//!  │                          layer/derived.rs: the API derived layers write through (a group's
//!  │                          value tags ensured, customers moved between them, a value
//!  │                          replaced);
//!  │                          layer/bulk.rs: bulk loads; layer/expiry.rs: expiring tags
//!  │                          (per tag, day buckets of customers, drained by expire);
//!  │                          layer/owners.rs: who owns which tags (refresh's groups, plans'
//!  │                          groups, rule tags), refused to hand writes;
//!  │                          layer/writes.rs: every bitmap write, where the change feed
//!  │                          records it and expiry days follow removals (and what is kept
//!  │                          per block for reads is dropped); layer/by_customer.rs: a
//!  │                          customer's tags through a per-block index built by reads;
//!  │                          layer/by_block.rs: the census, every tag's sparse values per
//!  │                          block side by side, for describe and compare;
//!  │                          layer/per_block.rs: the two caches' shared bookkeeping;
//!  │                          layer/merge_tags.rs, merge_customer.rs: one tag's customers
//!  │                          into another's, one customer's tags into another's;
//!  │                          pool.rs, name.rs, suggest.rs, store.rs
//!  │                          (bitmaps and cached subtree unions)
//!  ├─ attrs/                  one bit-sliced index per numeric attribute (bsi.rs); its writes and
//!  │                          the comparison operators (CmpOp) live here
//!  ├─ query/                  ast.rs (owned AST, builder), parse.rs (one fn per grammar rule),
//!  │                          fmt.rs (canonical text), then planning, evaluation, route choice
//!  │                          and explain; reads tags and attrs, writes nothing
//!  ├─ blocks/                 roaring containers through the portable format (format.rs, the one
//!  │                          codec), views, runtime-dispatched word kernels, per-block programs
//!  │                          (eval.rs) and batches of them over shared operands (batch.rs)
//!  ├─ history/                Day, Money, Purchase; the columnar purchase store; summaries
//!  ├─ rfm.rs, lifecycle.rs    the models: RFM scores and grid, lifecycle windows and stages
//!  ├─ refresh/                the first derived layer: plan.rs (typed diffs, no mutation),
//!  │                          apply.rs (through tags' derived API and attrs), report.rs
//!  ├─ segment/                segment plans (plan.rs: rules, validation, serde) and rule tags,
//!  │                          kept in saved.rs and computed in dependency order (order.rs);
//!  │                          evaluated through the planner, written through the tags layer;
//!  │                          merge.rs: who reads each tag, saved queries rewritten by a merge
//!  └─ profile/                one customer's picture (customer.rs), describe and breakdown
//!                             (describe.rs), compare (compare.rs), counted tag by tag on one
//!                             or more threads (scan.rs, with blocks/count.rs), tag statistics,
//!                             empty and unused tags (stats.rs): reads only, writes nothing
//! clickhouse/                 the engine's tables in ClickHouse's RowBinary (groupBitmap
//!                             states, keys, attributes) and queries as ClickHouse SQL
//!                             (sql.rs); engine/clickhouse.rs reads the layers for it
//! persist/                    snapshots: file.rs (header, checksummed sections, atomic
//!                             replacement), codec.rs (the values inside); each layer writes
//!                             and reads its own sections (its persist.rs), engine/persist.rs
//!                             puts them in order; docs/format.md describes the file
//! feed.rs                     the change feed's events (Change, ChangeEvent) and log
//! Audience (audience.rs)      a query result: bitmap wrapper, iteration, paging, set algebra
//! error/, span.rs, id.rs,    foundations: import nothing above them (par.rs: bulk work on
//! par.rs                      threads, results joined in order)
//! ```
//!
//! Dependencies point one way, from the foundations up (`tests/architecture.rs` fails on a
//! cycle). The segment layer (`segment/`) reads audiences through the planner and writes its
//! exclusive groups through the tags layer's derived-group API (`tags/layer/derived.rs`), as
//! `refresh/` does. Snapshots are written and read by each layer for itself (the fields stay
//! private to their layer; `persist/` only frames and checks), tag bitmaps in `roaring`'s
//! portable format, which `blocks/format.rs` checks whole before `roaring` reads it; the
//! **profile** layer reads through the other layers' crate APIs only.
//!
//! ## Errors and limits
//!
//! Every fallible function returns [`Result`]; [`Error`] says what went wrong, where (a byte
//! span with a caret line for query errors) and how to fix it. No input panics, no query
//! overflows the stack, and no single input costs memory or time out of proportion to its
//! size: each limit below is checked before the work it bounds, and refused with a typed
//! error.
//!
//! | limit | value | what is refused, and when |
//! |---|---|---|
//! | [`MAX_CUSTOMER_KEY_LEN`] | 4 KiB | a longer customer key ([`Error::InvalidCustomerKey`]), before it is copied |
//! | [`MAX_TAG_NAME_LEN`] | 256 bytes | a longer tag, group or attribute name ([`Error::InvalidTagName`], [`Error::InvalidAttributeName`]), before anything is allocated for it |
//! | [`MAX_TAG_DEPTH`] | 16 levels | a deeper `/` hierarchy (`a/b/c` has three), the same way; a rename that would build one |
//! | [`MAX_QUERY_LEN`] | 1 MiB | longer query text ([`Error::QueryTooLarge`]), before it is read |
//! | [`MAX_QUERY_TERMS`] | 131,072 | more terms in query text ([`Error::QueryTooLarge`]), by a first pass of the lexer, before the tree is built; in a built [`Query`], when it is evaluated |
//! | [`MAX_QUERY_DEPTH`] | 256 | deeper nesting in query text ([`Error::Parse`] at the level that crosses it); in a built [`Query`], [`Error::QueryTooLarge`] when evaluated |
//! | [`MAX_PLAN_RULES`] | 1,024 | more rules in a [`SegmentPlan`] ([`Error::InvalidPlan`]), at the first rule past it, before it is parsed |
//!
//! What that buys, measured (`tests/hostile.rs` checks each with a counting allocator):
//!
//! - Parsing allocates at most 20 times the text's length; validating a name, a small
//!   constant beyond the name (at most about three times its length, when it has white
//!   space to drop or composes into longer text).
//! - The tag pool costs linear memory: each tag's full name is stored once (a name of `n`
//!   bytes with `d` levels costs at most `d * n` bytes of names), plus about 80 bytes of
//!   slot and indexes; [`Stats::pool_bytes`] and [`Stats::bytes_per_tag`] report it.
//! - An unknown name never scans a large pool: "did you mean" suggestions come from an
//!   index (see [`Error::UnknownTag`]), tens to hundreds of microseconds among a million tags, and
//!   include names that differ only in letter case (`VIP` -> did you mean `vip`?).
//! - A query on a parent tag reads one bitmap: the union of its subtree is cached and kept
//!   current as tags are added; a removal under a parent of more than 1,024 children (or a
//!   batch removal, a delete, a rename) makes the next query rebuild it, one visit per
//!   child ([`TagInfo::subtree_len`]).
//! - A bulk load costs what it names: its transient index is 4 bytes a tag of zeroed memory
//!   whose untouched pages cost nothing, and an error lists at most 16 names (a parent's
//!   children, the declared groups).
//! - An error quotes at most an excerpt of a long input (its first and last bytes, with its
//!   length), and shows a long query only as a window around the problem, with the byte
//!   offset: a 10 MB name gives a message of a few hundred bytes.
//! - Portable bitmap bytes ([`Audience::from_portable_bytes`]) are checked whole, in place,
//!   before anything is built: a declared count (65,536 containers, 65,535 runs) costs
//!   nothing until the bytes it declares are there ([`Error::InvalidPortableBitmap`]), and a
//!   valid bitmap at most about five times its length while it is read.
//!
//! Names mean what they look like: they are trimmed, in Unicode Normalization Form C (so
//! `víp` typed with a combining accent is the same tag as `víp` typed precomposed), and may
//! not hold control characters or invisible ones: zero-width characters, text-direction
//! controls, variation selectors and every other default-ignorable code point, except where
//! an emoji needs one (👩‍💻, ❤️); [`Error::InvalidTagName`] names the code point.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod attrs;
mod audience;
mod blocks;
mod clickhouse;
mod customers;
mod engine;
mod error;
mod feed;
mod history;
mod id;
#[cfg(feature = "csv")]
mod ingest;
mod lifecycle;
mod par;
mod persist;
mod profile;
mod query;
mod refresh;
mod rfm;
mod segment;
mod span;
mod tags;

pub use attrs::CmpOp;
pub use audience::{Audience, Iter, Page};
pub use blocks::cache::ViewBudget;
pub use clickhouse::{CLICKHOUSE_SMALL_SET, ClickHouseRows, Tables};
pub use customers::{CustomerMerge, MAX_CUSTOMER_KEY_LEN};
pub use engine::{AsQuery, ClickHouseExport, ClickHouseImport, Engine, Reader, Stats};
pub use error::{
    AliasClash, AmountProblem, CsvColumn, CsvProblem, DateProblem, Error, KeyProblem, MergeProblem, ModelProblem,
    NameProblem, PlanProblem, PortableProblem, Result, UsedBy,
};
pub use feed::{Change, ChangeEvent};
pub use history::{Day, Money, Purchase};
pub use id::{CustomerId, TagId};
#[cfg(feature = "csv")]
pub use ingest::{Column, CsvOptions, LoadReport, MAX_RECORD_BYTES};
pub use lifecycle::{Lifecycle, LifecycleBuilder, Stage};
pub use par::MAX_THREADS;
pub use persist::journal::{OpenReport, SyncPolicy, TornTail};
pub use profile::{
    AudienceComparison, Breakdown, DescribeOptions, Description, Profile, PurchaseSummary, RfmProfile, ShareDiff,
    TagLift, TagStats,
};
pub use query::{
    Comparison, Explain, ExplainNode, Expr, MAX_QUERY_DEPTH, MAX_QUERY_LEN, MAX_QUERY_TERMS, Prepared, Query, TagRef,
};
pub use refresh::{RefreshReport, RfmScores, StageTransition};
pub use rfm::{RfmGrid, RfmModel};
pub use segment::{
    IntoRuleQuery, MAX_PLAN_RULES, RuleUpdate, RulesReport, SegmentDiff, SegmentMove, SegmentPlan, SegmentRule,
    Segmentation, TagMerge,
};
pub use span::Span;
pub use tags::{MAX_TAG_DEPTH, MAX_TAG_NAME_LEN, TagInfo, TagKind, TagReplace};

/// The `roaring` crate this one is built on: [`Audience::bitmap`] is a
/// [`roaring::RoaringBitmap`] of this version, so name it through this path to be sure the
/// versions match.
pub use roaring;

/// The `chrono` crate whose dates [`Day`] converts from (`NaiveDate`, `DateTime<Utc>`), at
/// the version this crate uses.
pub use chrono;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
