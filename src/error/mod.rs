//! The crate's one error type.
//!
//! Every public fallible function returns [`Result<T>`], i.e. `Result<T, audience::Error>`.
//! Each variant carries what is needed to act on it: the offending input, where it is (a byte
//! span for query errors), and a hint. Query errors render the query with a caret line under
//! the problem:
//!
//! ```
//! use audience::{Engine, TagKind};
//! let mut engine = Engine::new();
//! engine.define_tag("vip", TagKind::Value)?;
//! let err = engine.query("vpi AND vip").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "unknown tag \"vpi\" at 0..3 (did you mean \"vip\"?)\n  vpi AND vip\n  ^^^"
//! );
//! # Ok::<(), audience::Error>(())
//! ```

use crate::id::{CustomerId, TagId, TagKind};
use crate::span::Span;
use csv::{ColumnNote, LineNote};

mod csv;
mod problems;
mod render;

pub use csv::{CsvColumn, CsvProblem};
pub use problems::{
    AliasClash, AmountProblem, DateProblem, KeyProblem, MergeProblem, ModelProblem, NameProblem, PlanProblem,
    PortableProblem, UsedBy,
};
pub(crate) use render::*;

/// `Result<T, audience::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `audience`.
///
/// This enum is `#[non_exhaustive]`: new variants may be added in minor releases, so a `match`
/// on it needs a wildcard arm.
///
/// # Long input
///
/// An error never repeats an unbounded input. A rejected input longer than
/// [`MAX_TAG_NAME_LEN`](crate::MAX_TAG_NAME_LEN) bytes (a 10 MB tag name, say) is kept in the
/// payload as an excerpt: its first bytes, `…`, its last bytes, and the reason says its
/// length. Messages quote any stored text the same way, and show a long query only as a
/// window around the problem, with the byte offset and the query's length:
///
/// ```
/// use audience::Engine;
/// let mut engine = Engine::new();
/// let c = engine.customer("c")?;
/// let err = engine.tag(c, &"x".repeat(10_000_000)).unwrap_err();
/// assert!(err.to_string().len() < 1_000);
/// assert!(err.to_string().contains("10000000 bytes"));
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A customer key was rejected (for example, it is empty).
    #[error(
        "invalid customer key {}: {reason} (hint: use the customer's stable external id, e.g. an e-mail or account number)",
        Quote(key)
    )]
    InvalidCustomerKey {
        /// The key as given ([cut to an excerpt](Error#long-input) when long).
        key: String,
        /// Why it was rejected.
        reason: KeyProblem,
    },

    /// A customer id that is not a live customer of this engine (never registered, or removed).
    #[error(
        "unknown customer {id}: not a live customer of this engine \
         (hint: register it with Engine::customer or Engine::customer_id; a removed customer is live again only if its id is registered anew)"
    )]
    UnknownCustomer {
        /// The id as given.
        id: CustomerId,
    },

    /// No `u32` id is left for a new key: keys get ids above every id in use, and the
    /// largest id, `u32::MAX`, is in use. Ids are never wrapped.
    #[error(
        "customer ids exhausted: new keys get ids above the largest id in use, and u32::MAX is in use \
         (hint: keep dense ids registered with Engine::customer_id low, or shard customers across engines)"
    )]
    CustomerIdsExhausted,

    /// [`Engine::customer_id`](crate::Engine::customer_id) named an id that a keyed customer
    /// already has: mixing the two id spaces would silently merge two customers.
    #[error(
        "customer id {id} already belongs to the customer with key {} \
         (hint: register dense ids before interning keys, or look the customer up with Engine::id_of)",
        Quote(key)
    )]
    CustomerIdTaken {
        /// The id as given.
        id: CustomerId,
        /// The key of the customer that has it.
        key: String,
    },

    /// [`Engine::merge_customers`](crate::Engine::merge_customers) was asked to merge a
    /// customer into itself: nothing would move, and the customer would be removed.
    #[error(
        "cannot merge customer {}{customer} into itself \
         (hint: pass the customer to keep as `into` and its duplicate as `from`; \
         a key merged before resolves to the customer it was merged into)",
        match key { Some(k) => format!("{} ", Quote(k)), None => String::new() }
    )]
    MergeSelf {
        /// The customer given as both `into` and `from`.
        customer: CustomerId,
        /// Its external key, when it was registered by key.
        key: Option<String>,
    },

    /// Text that is not a [`TagKind`] name.
    #[error("unknown tag kind {} (hint: one of attribute, behavior, interest, lifecycle, value, custom)", Quote(name))]
    UnknownTagKind {
        /// The text as given ([cut to an excerpt](Error#long-input) when long).
        name: String,
    },

    /// Every `u32` tag id has been handed out (deleted tags' ids are not reused).
    #[error("tag ids exhausted: 2^32 tags were created in this engine (hint: rebuild the engine from its live tags)")]
    TagIdsExhausted,

    /// A tag (or exclusive group) name was rejected: empty, an empty `/` level, a control,
    /// zero-width or text-direction character, longer than
    /// [`MAX_TAG_NAME_LEN`](crate::MAX_TAG_NAME_LEN) bytes or deeper than
    /// [`MAX_TAG_DEPTH`](crate::MAX_TAG_DEPTH) levels, or not a valid exclusive-group value.
    #[error("invalid tag name {}: {reason}", Quote(name))]
    InvalidTagName {
        /// The name as given ([cut to an excerpt](Error#long-input) when long: `reason` says
        /// its length).
        name: String,
        /// Why it was rejected; prints with a hint.
        reason: NameProblem,
    },

    /// A tag name that is not in the tag pool. `suggestions` holds the closest known names,
    /// closest first, at most three: names equal but for letter case first, then by edit
    /// distance (insert, delete, substitute or swap a character). In a pool of up to 1,024
    /// names (32 KiB of names) every name is compared, and names up to a third of the unknown
    /// name's length in edits away (two or three) are offered; in a larger pool an index
    /// finds the names one edit away without a scan: tens to hundreds of microseconds for
    /// Latin names among a million, a
    /// few milliseconds at worst (a pool using thousands of distinct characters, where only
    /// the most used about 5,000 are tried). A name of a group
    /// [`Engine::refresh`](crate::Engine::refresh) derives (`stage:active` before the first
    /// refresh) says that the refresh creates it.
    #[error("{}", render_unknown_tag(name, *span, query.as_deref(), suggestions))]
    UnknownTag {
        /// The unknown name.
        name: String,
        /// Where it is in the query text, when it came from one.
        span: Option<Span>,
        /// The query text, when the name came from a parsed query.
        query: Option<String>,
        /// Known tag names close to `name`, closest first.
        suggestions: Vec<String>,
    },

    /// A name that is not a declared exclusive group.
    #[error(
        "unknown exclusive group {} (declared groups: {}; hint: declare it with Engine::define_exclusive_group)",
        Quote(name),
        QuoteList(known)
    )]
    UnknownGroup {
        /// The name as given.
        name: String,
        /// The declared groups, in declaration order: at most 17 (the first 17 when there are
        /// more than 16).
        known: Vec<String>,
    },

    /// A [`TagId`] that is not (or no longer) in the tag pool.
    #[error("unknown tag id {id}: not in this engine's tag pool (deleted, or from another engine)")]
    UnknownTagId {
        /// The id as given.
        id: TagId,
    },

    /// The query text does not follow the grammar. The message shows at most a window of a
    /// long query around the problem.
    #[error("{}", render_parse(query, *span, message, hint.as_deref()))]
    Parse {
        /// The query text.
        query: String,
        /// The byte span of the problem in `query`.
        span: Span,
        /// What was expected and what was found.
        message: String,
        /// How to fix it, when there is a likely fix.
        hint: Option<String>,
    },

    /// A query's text is longer than [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN) bytes, or it has
    /// more terms than [`MAX_QUERY_TERMS`](crate::MAX_QUERY_TERMS) (both checked while
    /// parsing, before the tree is built), or a built [`Query`](crate::Query) is nested
    /// deeper than [`MAX_QUERY_DEPTH`](crate::MAX_QUERY_DEPTH) or has too many terms
    /// (checked when evaluated).
    #[error(
        "query too large: {what} is {}{found}, the limit is {limit} \
         (hint: flatten nested groups, or split the query and combine the audiences; \
         a long list of tags is better kept as one tag, e.g. with Engine::tag_all)",
        if *what == "number of terms" { "at least " } else { "" }
    )]
    QueryTooLarge {
        /// Which limit: `"text length in bytes"`, `"nesting depth"` or `"number of terms"`.
        what: &'static str,
        /// What the query has (at least).
        found: usize,
        /// The limit.
        limit: usize,
    },

    /// `define_tag` named an existing tag that already has another (non-`Custom`) kind.
    #[error(
        "tag {} already exists with kind {existing:?}, not {requested:?} \
         (hint: change it explicitly with Engine::set_tag_kind)",
        Quote(name)
    )]
    TagKindConflict {
        /// The tag.
        name: String,
        /// Its kind now.
        existing: TagKind,
        /// The kind asked for.
        requested: TagKind,
    },

    /// A rename would give a tag a name that another tag already has.
    #[error("tag {} already exists (hint: pick another name, or delete that tag first)", Quote(name))]
    TagExists {
        /// The name in use.
        name: String,
    },

    /// A tag with child tags cannot be deleted on its own.
    #[error(
        "tag {} has {} child tag(s), e.g. {} (hint: delete the children first, deepest first)",
        Quote(name), Count(children.len()),
        Quote(children.first().map(String::as_str).unwrap_or(""))
    )]
    TagHasChildren {
        /// The tag.
        name: String,
        /// Its direct children, in id order: at most 17 (when it has more than 16, the first
        /// 17, and the message says "more than 16").
        children: Vec<String>,
    },

    /// Declaring an exclusive group (or renaming a tag into one) would leave a customer with
    /// two values of the group.
    #[error(
        "exclusive group {}: customer {customer} would carry both {} and {} \
         (hint: untag one of them first)",
        Quote(group),
        Quote(first),
        Quote(second)
    )]
    ExclusiveConflict {
        /// The group.
        group: String,
        /// A customer carrying two of its values.
        customer: CustomerId,
        /// One value tag the customer carries.
        first: String,
        /// Another value tag the customer carries.
        second: String,
    },

    /// An attribute name that no customer has a value for (in a query, or asked of a
    /// customer). `suggestions` holds the closest known attribute names.
    #[error("{}", render_unknown_attr(name, *span, query.as_deref(), suggestions))]
    UnknownAttribute {
        /// The unknown name.
        name: String,
        /// Where it is in the query text, when it came from one.
        span: Option<Span>,
        /// The query text, when the name came from a parsed query.
        query: Option<String>,
        /// Known attribute names close to `name`, closest first.
        suggestions: Vec<String>,
    },

    /// An attribute name was rejected (the rules and limits of tag names).
    #[error("invalid attribute name {}: {reason}", Quote(name))]
    InvalidAttributeName {
        /// The name as given ([cut to an excerpt](Error#long-input) when long).
        name: String,
        /// Why it was rejected; prints with a hint.
        reason: NameProblem,
    },

    /// A money amount that is not a finite number of minor units in range, or a decimal
    /// with more than two fractional digits.
    #[error("invalid amount {}: {reason}{}", Quote(input), LengthNote(*len))]
    InvalidAmount {
        /// The amount as given (text, or the number printed; [cut to an
        /// excerpt](Error#long-input) when long).
        input: String,
        /// The length in bytes of the input as given (the message says it when `input` is
        /// an excerpt).
        len: usize,
        /// Why it was rejected; prints with a hint.
        reason: AmountProblem,
    },

    /// A date (or timestamp) that could not be read.
    #[error("invalid date {}: {reason}{}", Quote(input), LengthNote(*len))]
    InvalidDate {
        /// The text as given ([cut to an excerpt](Error#long-input) when long).
        input: String,
        /// The length in bytes of the text as given (the message says it when `input` is an
        /// excerpt).
        len: usize,
        /// Why it was rejected; prints with a hint.
        reason: DateProblem,
    },

    /// A refresh found a customer whose money total (the sum of its amounts on or before the
    /// as-of day, refunds included) leaves the `i64` range of minor units. Nothing changes;
    /// every amount is within [`Money::MAX_MINOR`](crate::Money::MAX_MINOR), so this takes
    /// more than 9,000 purchases of the largest amount.
    #[error(
        "customer {}{customer}: its money total leaves the i64 range of minor units \
         (hint: amounts are minor units (cents); check for a unit or parsing mistake, or remove the customer)",
        match key { Some(k) => format!("{} ", Quote(k)), None => String::new() }
    )]
    MonetaryOverflow {
        /// The customer.
        customer: CustomerId,
        /// Its external key, when it was registered by key.
        key: Option<String>,
    },

    /// A tag or attribute that a model derives (`refresh` owns the groups `r`, `f`, `m`,
    /// `rfm`, `stage` and the attributes `recency_days`, `frequency`, `monetary`): it cannot
    /// be written by hand, or the next refresh would silently undo the write.
    #[error(
        "{} is derived by {owner} and cannot be changed by hand \
         (hint: read it in queries; it changes with the next refresh; pick another name for your own data)",
        Quote(name)
    )]
    DerivedName {
        /// The tag, group or attribute name.
        name: String,
        /// Which model derives it.
        owner: &'static str,
    },

    /// A segment plan was rejected: no rules, a duplicate or invalid segment name, a
    /// fallback named like a rule.
    #[error("invalid segment plan: {reason}")]
    InvalidPlan {
        /// What is wrong; prints with a hint.
        reason: PlanProblem,
    },

    /// A rule of a segment plan failed: its query does not parse, names an unknown tag or
    /// attribute (with suggestions), or is too large. `error` is what the query alone gives.
    #[error("in the rule {}: {error}", Quote(rule))]
    InRule {
        /// The rule's segment name.
        rule: String,
        /// The query's error.
        error: Box<Error>,
    },

    /// A query of a batch ([`Engine::count_many`](crate::Engine::count_many),
    /// [`Engine::select_many`](crate::Engine::select_many)) failed: it does not parse, names
    /// an unknown tag or attribute (with suggestions), or is too large. `error` is what the
    /// query alone gives; no query of the batch was evaluated.
    #[error("in query {index} of the batch (counting from 0): {error}")]
    InBatch {
        /// The query's place in the batch, from 0.
        index: usize,
        /// The query's error.
        error: Box<Error>,
    },

    /// A segment plan cannot be applied as a group that holds tags written by hand (or a
    /// group declared by hand): the plan would take over, and rewrite, its values.
    #[error(
        "the group {} is in use by hand-written tags{} (hint: apply the plan as a new group, e.g. {}, \
         or delete the group's tags first)",
        Quote(group), tag.as_deref().map(|t| format!(" such as {}", Quote(t))).unwrap_or_default(),
        Quote(&format!("{group}_plan"))
    )]
    GroupInUse {
        /// The group.
        group: String,
        /// One of its tags, if it has any.
        tag: Option<String>,
    },

    /// A tag cannot be deleted or renamed while a rule tag's query or an applied segment
    /// plan names it: the rule would stop resolving.
    #[error("tag {} is used by {by} (hint: redefine or delete that first)", Quote(tag))]
    TagInUse {
        /// The tag (as named by the rule, for a rename of one of its ancestors).
        tag: String,
        /// Who uses it.
        by: UsedBy,
    },

    /// Rule tags (and applied plans) that depend on each other in a circle: none of them
    /// could be computed first. Found when the rule is defined or the plan applied.
    #[error(
        "rule tags depend on each other in a cycle: {} (hint: a rule tag may use other rule tags \
         and plans, but not, through them, itself)",
        cycle.join(" -> ")
    )]
    RuleCycle {
        /// The cycle, starting and ending with the rule being defined: `["a", "b", "a"]`.
        /// An applied plan is named `plan <group>`.
        cycle: Vec<String>,
    },

    /// [`Engine::merge_tags`](crate::Engine::merge_tags) was refused: the two names are one
    /// tag, or the tag to merge has child tags. (A derived tag on either side is an
    /// [`Error::DerivedName`], an unknown one an [`Error::UnknownTag`].)
    #[error("cannot merge tag {} into {}: {reason}", Quote(from), Quote(into))]
    InvalidMerge {
        /// The tag to merge (normalized).
        from: String,
        /// The tag to merge it into (normalized).
        into: String,
        /// Why; prints with a hint.
        reason: MergeProblem,
    },

    /// A name that would be both a tag and an alias, or an alias of two tags: an alias
    /// cannot shadow a tag, nor a tag an alias. Given by
    /// [`Engine::alias_tag`](crate::Engine::alias_tag) for a tag's name or a name already
    /// aliased to another tag; by whatever would create a tag of an alias's name
    /// ([`Engine::define_tag`](crate::Engine::define_tag), `tag` of `M/x` creating the
    /// ancestor `M`, a rename, a rule tag, a segment plan's value); and by
    /// [`Engine::delete_tag`](crate::Engine::delete_tag) and
    /// [`Engine::rename_tag`](crate::Engine::rename_tag) given an alias (they name the tag
    /// itself).
    #[error("the name {} {existing}", Quote(alias))]
    AliasConflict {
        /// The name in question (normalized).
        alias: String,
        /// What the name already is; prints with a hint.
        existing: AliasClash,
    },

    /// [`Engine::unalias_tag`](crate::Engine::unalias_tag) was given a name that is not an
    /// alias.
    #[error(
        "{} is not an alias{} (hint: Engine::aliases_of lists a tag's aliases{})",
        Quote(name),
        if *is_tag { " but a tag" } else { "" },
        if *is_tag { "; a tag is deleted with Engine::delete_tag" } else { "" }
    )]
    NotAnAlias {
        /// The name (normalized when valid).
        name: String,
        /// Whether it is a tag's name.
        is_tag: bool,
    },

    /// A model configuration (RFM thresholds, segment grid, lifecycle windows) was rejected.
    #[error("invalid model configuration: {reason}")]
    InvalidModel {
        /// What is wrong; prints with a hint.
        reason: ModelProblem,
    },

    /// A file could not be opened, read, written, synced or renamed (a snapshot, its
    /// journal, or the directory they live in). A missing snapshot is this error with
    /// `kind` [`std::io::ErrorKind::NotFound`].
    #[error(
        "cannot {action} {}: {message} (hint: check that the path exists and is a file this process may read and write; Engine::open_or_create makes a missing snapshot)",
        path.display()
    )]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What was being done: `open`, `read`, `create`, `write`, `sync`, `rename`, ...
        action: &'static str,
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
        /// The operating system's message.
        message: String,
    },

    /// A snapshot or journal is not what this crate wrote, or was damaged after: a bad magic
    /// number, a checksum that does not match, a length past the end, a value out of range.
    /// Nothing was loaded.
    #[error(
        "{} is damaged or not an audience file, at byte {offset}: {what} (hint: restore the file from a backup; a snapshot is replaced atomically, so a damaged one was changed after it was written)",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// Where the damage was found: the byte offset in the file of the section, record or
        /// value that does not check.
        offset: u64,
        /// What does not check.
        what: String,
    },

    /// [`Engine::checkpoint`](crate::Engine::checkpoint) on an engine without a journal (made
    /// with `Engine::new`, or a clone: only [`Engine::open`](crate::Engine::open) and
    /// [`Engine::open_or_create`](crate::Engine::open_or_create) attach one).
    #[error(
        "this engine has no journal to checkpoint (hint: open it with Engine::open or Engine::open_or_create; Engine::save writes a snapshot of any engine)"
    )]
    NoJournal,

    /// A journal is open in another engine (of this process or another): two engines never
    /// write one journal. Opening its snapshot again, or saving over its snapshot (which
    /// would leave the journal following nothing), is refused; nothing was written.
    #[error(
        "the journal {} is open in another engine (hint: one engine per snapshot: drop the other engine first, or call its Engine::checkpoint instead of saving over its snapshot)",
        path.display()
    )]
    JournalInUse {
        /// The journal.
        path: std::path::PathBuf,
    },

    /// A snapshot or journal written by another version of the format than this build reads
    /// (a newer crate's, most likely). Nothing was loaded.
    #[error(
        "{} has format version {found}; this build reads version {supported} (hint: open it with the version of audience that wrote it, or a newer one)",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: std::path::PathBuf,
        /// The version the file says it has.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// A record of a CSV input that cannot be loaded, or an input that cannot be read, from
    /// the engine's CSV loaders ([`Engine::load_tags_csv`](crate::Engine::load_tags_csv) and
    /// the others; feature `csv`): prints as `input:line: what is wrong (hint: ...)`, then
    /// the column at fault if one is.
    ///
    /// ```
    /// # #[cfg(feature = "csv")] {
    /// use audience::{CsvProblem, CsvOptions, Engine, Error};
    /// let mut engine = Engine::new();
    /// let err = engine.load_tags_csv("a,vip\nb\n".as_bytes(), &CsvOptions::new("t.csv")).unwrap_err();
    /// assert!(matches!(&err, Error::Csv { line: 2, problem: CsvProblem::FieldCount { expected: 2, found: 1 }, .. }));
    /// assert_eq!(err.to_string(), "t.csv:2: expected 2 fields, found 1 (hint: double-quote a field that holds the delimiter: \"a, b\")");
    /// # }
    /// ```
    #[error("{input}{}: {problem}{}", LineNote(*line), ColumnNote(column.as_ref()))]
    Csv {
        /// The input's name, as given to [`CsvOptions::new`](crate::CsvOptions::new).
        input: String,
        /// The line the record starts on (counting line breaks, from 1); 0 for an error of
        /// the options (no line is at fault), which prints without one.
        line: u64,
        /// The column at fault, if one is.
        column: Option<CsvColumn>,
        /// What is wrong; prints with a hint.
        problem: CsvProblem,
    },

    /// Bytes that are not one bitmap of the [portable Roaring format], from
    /// [`Audience::from_portable_bytes`](crate::Audience::from_portable_bytes) or
    /// [`Engine::set_tag_from_portable_bytes`](crate::Engine::set_tag_from_portable_bytes):
    /// cut short, damaged, another format, or followed by more bytes. Nothing changes.
    ///
    /// [portable Roaring format]: https://github.com/RoaringBitmap/RoaringFormatSpec
    #[error("invalid portable Roaring bitmap at byte {offset} of {len}: {reason}")]
    InvalidPortableBitmap {
        /// Where the problem is: the first byte of the part that is wrong or cut short.
        offset: usize,
        /// The input's length in bytes.
        len: usize,
        /// What is wrong; prints with a hint.
        reason: PortableProblem,
    },

    /// ClickHouse `RowBinary` input that is not the rows asked for (a row cut short, a
    /// string too long or not UTF-8, a `groupBitmap` state of an unknown kind, a small set of
    /// more than 32 values, a Roaring bitmap that does not check): see
    /// [`Engine::read_clickhouse_tags`](crate::Engine::read_clickhouse_tags).
    #[error(
        "{input}: row {row}, byte {offset}: {what} (hint: the rows must be RowBinary with exactly the \
         columns ClickHouseRows says, the bitmaps groupBitmap states of UInt32 ids)"
    )]
    InvalidRowBinary {
        /// The input's name, as given.
        input: String,
        /// The row (from 1) the problem is in.
        row: u64,
        /// The byte offset of the value that is wrong or cut short.
        offset: u64,
        /// What is wrong.
        what: String,
    },

    /// A query without a ClickHouse translation within the server's default limits: see
    /// [`Query::to_clickhouse_sql`](crate::Query::to_clickhouse_sql).
    #[error("the query does not translate to ClickHouse SQL: {what} (hint: {hint})")]
    NotTranslatable {
        /// What does not translate.
        what: String,
        /// What to do instead.
        hint: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_span() {
        assert_eq!(caret_lines("vip AND (x", Span::new(8, 9)), "  vip AND (x\n          ^");
        // an empty span at the end still shows one caret
        assert_eq!(caret_lines("a AND", Span::new(5, 5)), "  a AND\n       ^");
    }

    #[test]
    fn caret_counts_wide_characters_twice() {
        let q = "高消费 AND vpi";
        let start = q.find("vpi").unwrap();
        assert_eq!(caret_lines(q, Span::new(start, start + 3)), "  高消费 AND vpi\n             ^^^");
    }

    #[test]
    fn long_queries_show_a_window_around_the_problem() {
        let q = format!("{} AND vpi AND {}", "a OR ".repeat(100_000), "b OR ".repeat(100_000));
        let at = q.find("vpi").unwrap();
        let text = caret_lines(&q, Span::new(at, at + 3));
        assert!(text.len() < 600, "{}", text.len());
        let mut lines = text.lines();
        let (shown, carets, note) = (lines.next().unwrap(), lines.next().unwrap(), lines.next().unwrap());
        assert_eq!(carets.find('^').unwrap(), shown.find("vpi").unwrap() - 2, "…counts one column: {text}");
        assert!(carets.ends_with("^^^"));
        assert_eq!(note, format!("  (byte {at} of a {}-byte query)", q.len()));
        // A span covering the whole text is underlined at most one window wide.
        let whole = caret_lines(&q, Span::new(0, q.len()));
        assert!(whole.len() < 600, "{whole}");
        // Multi-byte text is cut at character boundaries.
        let cjk = "高消费 OR ".repeat(10_000);
        assert!(caret_lines(&cjk, Span::new(3 * 1000, 3 * 1000 + 9)).len() < 1_000);
    }

    #[test]
    fn excerpts_are_bounded_and_cut_at_character_boundaries() {
        assert_eq!(excerpt("vip"), "vip");
        let long = "高".repeat(1_000_000);
        let e = excerpt(&long);
        assert!(e.len() <= EXCERPT_BYTES + 4 && e.contains('…'), "{}", e.len());
        let q = Quote(&long).to_string();
        assert!(q.ends_with("(3000000 bytes)") && q.len() < 2 * EXCERPT_BYTES, "{q}");
        assert_eq!(Quote("a\"b").to_string(), r#""a\"b""#);
    }

    #[test]
    fn unknown_derived_names_say_that_refresh_creates_them() {
        let e = Error::UnknownTag { name: "stage:active".into(), span: None, query: None, suggestions: vec![] };
        let text = e.to_string();
        assert!(text.contains("Engine::refresh") && !text.contains("define_tag"), "{text}");
        let e = Error::UnknownAttribute { name: "recency_days".into(), span: None, query: None, suggestions: vec![] };
        let text = e.to_string();
        assert!(text.contains("Engine::refresh") && !text.contains("set_attr"), "{text}");
        let e = Error::UnknownTag { name: "tier:gold".into(), span: None, query: None, suggestions: vec![] };
        assert!(e.to_string().contains("define_tag"));
    }

    #[test]
    fn unknown_tag_lists_several_suggestions() {
        let e = Error::UnknownTag {
            name: "vpi".into(),
            span: None,
            query: None,
            suggestions: vec!["vip".into(), "vp".into()],
        };
        assert_eq!(e.to_string(), "unknown tag \"vpi\" (did you mean one of \"vip\", \"vp\"?)");
    }
}
