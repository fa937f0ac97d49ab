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

use crate::id::{CustomerId, TagId};
use crate::query::Span;
use crate::tags::TagKind;

/// `Result<T, audience::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `audience`.
///
/// This enum is `#[non_exhaustive]`: new variants may be added in minor releases, so a `match`
/// on it needs a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A customer key was rejected (for example, it is empty).
    #[error(
        "invalid customer key {key:?}: {reason} (hint: use the customer's stable external id, e.g. an e-mail or account number)"
    )]
    InvalidCustomerKey {
        /// The key as given.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
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
        "customer id {id} already belongs to the customer with key {key:?} \
         (hint: register dense ids before interning keys, or look the customer up with Engine::id_of)"
    )]
    CustomerIdTaken {
        /// The id as given.
        id: CustomerId,
        /// The key of the customer that has it.
        key: String,
    },

    /// Text that is not a [`TagKind`] name.
    #[error("unknown tag kind {name:?} (hint: one of attribute, behavior, interest, lifecycle, value, custom)")]
    UnknownTagKind {
        /// The text as given.
        name: String,
    },

    /// Every `u32` tag id has been handed out (deleted tags' ids are not reused).
    #[error("tag ids exhausted: 2^32 tags were created in this engine (hint: rebuild the engine from its live tags)")]
    TagIdsExhausted,

    /// A tag (or exclusive group) name was rejected.
    #[error("invalid tag name {name:?}: {reason}")]
    InvalidTagName {
        /// The name as given.
        name: String,
        /// Why it was rejected, with a hint.
        reason: String,
    },

    /// A tag name that is not in the tag pool. `suggestions` holds the closest known names
    /// (by edit distance, closest first, at most three).
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
        "unknown exclusive group {name:?} (declared groups: {known:?}; hint: declare it with Engine::define_exclusive_group)"
    )]
    UnknownGroup {
        /// The name as given.
        name: String,
        /// The declared groups.
        known: Vec<String>,
    },

    /// A [`TagId`] that is not (or no longer) in the tag pool.
    #[error("unknown tag id {id}: not in this engine's tag pool (deleted, or from another engine)")]
    UnknownTagId {
        /// The id as given.
        id: TagId,
    },

    /// The query text does not follow the grammar.
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

    /// A query is nested deeper than [`MAX_QUERY_DEPTH`](crate::MAX_QUERY_DEPTH), or has more
    /// terms than [`MAX_QUERY_TERMS`](crate::MAX_QUERY_TERMS).
    #[error(
        "query too large: {what} is {found}, the limit is {limit} \
         (hint: flatten nested groups, or split the query and combine the audiences)"
    )]
    QueryTooLarge {
        /// Which limit: `"nesting depth"` or `"number of terms"`.
        what: &'static str,
        /// What the query has (at least).
        found: usize,
        /// The limit.
        limit: usize,
    },

    /// `define_tag` named an existing tag that already has another (non-`Custom`) kind.
    #[error(
        "tag {name:?} already exists with kind {existing:?}, not {requested:?} \
         (hint: change it explicitly with Engine::set_tag_kind)"
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
    #[error("tag {name:?} already exists (hint: pick another name, or delete that tag first)")]
    TagExists {
        /// The name in use.
        name: String,
    },

    /// A tag with child tags cannot be deleted on its own.
    #[error(
        "tag {name:?} has {} child tag(s), e.g. {:?} (hint: delete the children first, deepest first)",
        children.len(), children.first().map(String::as_str).unwrap_or("")
    )]
    TagHasChildren {
        /// The tag.
        name: String,
        /// Its direct children.
        children: Vec<String>,
    },

    /// Declaring an exclusive group (or renaming a tag into one) would leave a customer with
    /// two values of the group.
    #[error(
        "exclusive group {group:?}: customer {customer} would carry both {first:?} and {second:?} \
         (hint: untag one of them first)"
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

    /// An attribute name was rejected.
    #[error("invalid attribute name {name:?}: {reason}")]
    InvalidAttributeName {
        /// The name as given.
        name: String,
        /// Why it was rejected, with a hint.
        reason: String,
    },

    /// A money amount that is not a finite number of minor units in range, or a decimal
    /// with more than two fractional digits.
    #[error("invalid amount {input:?}: {reason}")]
    InvalidAmount {
        /// The amount as given (text, or the number printed).
        input: String,
        /// Why it was rejected, with a hint.
        reason: String,
    },

    /// A date (or timestamp) that could not be read.
    #[error("invalid date {input:?}: {reason}")]
    InvalidDate {
        /// The text as given.
        input: String,
        /// Why it was rejected, with a hint.
        reason: String,
    },

    /// A refresh found a customer whose money total (the sum of its amounts on or before the
    /// as-of day, refunds included) leaves the `i64` range of minor units. Nothing changes;
    /// every amount is within [`Money::MAX_MINOR`](crate::Money::MAX_MINOR), so this takes
    /// more than 9,000 purchases of the largest amount.
    #[error(
        "customer {customer}: its money total leaves the i64 range of minor units \
         (hint: amounts are minor units (cents); check for a unit or parsing mistake, or remove the customer)"
    )]
    MonetaryOverflow {
        /// The customer.
        customer: CustomerId,
    },

    /// A tag or attribute that a model derives (`refresh` owns the groups `r`, `f`, `m`,
    /// `rfm`, `stage` and the attributes `recency_days`, `frequency`, `monetary`): it cannot
    /// be written by hand, or the next refresh would silently undo the write.
    #[error(
        "{name:?} is derived by {owner} and cannot be changed by hand \
         (hint: read it in queries; it changes with the next refresh; pick another name for your own data)"
    )]
    DerivedName {
        /// The tag, group or attribute name.
        name: String,
        /// Which model derives it.
        owner: &'static str,
    },

    /// A model configuration (RFM thresholds, segment map, lifecycle windows) was rejected.
    #[error("invalid model configuration: {reason}")]
    InvalidModel {
        /// What is wrong, with a hint.
        reason: String,
    },
}

/// Renders `query` with a caret line under `span`, indented by two spaces.
pub(crate) fn caret_lines(query: &str, span: Span) -> String {
    let start = span.start.min(query.len());
    let end = span.end.clamp(start, query.len());
    let shown: String = query.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let pad = display_width(query.get(..start).unwrap_or(""));
    let width = display_width(query.get(start..end).unwrap_or("")).max(1);
    format!("  {shown}\n  {}{}", " ".repeat(pad), "^".repeat(width))
}

/// Terminal columns of `s`: East Asian wide characters count two, others one.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F900..=0x1F9FF | 0x1FA70..=0x1FAFF
        | 0x20000..=0x3FFFD)
}

fn render_unknown_tag(name: &str, span: Option<Span>, query: Option<&str>, suggestions: &[String]) -> String {
    render_unknown("tag", "define it with Engine::define_tag, or check the spelling", name, span, query, suggestions)
}

fn render_unknown_attr(name: &str, span: Option<Span>, query: Option<&str>, suggestions: &[String]) -> String {
    let hint = "no customer has a value for it; set one with Engine::set_attr, or check the spelling";
    render_unknown("attribute", hint, name, span, query, suggestions)
}

/// `unknown <what> "name" at a..b (did you mean ...?)` plus the caret lines.
fn render_unknown(
    what: &str,
    hint: &str,
    name: &str,
    span: Option<Span>,
    query: Option<&str>,
    suggestions: &[String],
) -> String {
    let mut out = format!("unknown {what} {name:?}");
    if let Some(span) = span {
        out += &format!(" at {span}");
    }
    match suggestions {
        [] => out += &format!(" (hint: {hint})"),
        [one] => out += &format!(" (did you mean {one:?}?)"),
        many => {
            let list: Vec<String> = many.iter().map(|s| format!("{s:?}")).collect();
            out += &format!(" (did you mean one of {}?)", list.join(", "));
        }
    }
    if let (Some(span), Some(query)) = (span, query) {
        out.push('\n');
        out += &caret_lines(query, span);
    }
    out
}

fn render_parse(query: &str, span: Span, message: &str, hint: Option<&str>) -> String {
    let mut out = format!("query parse error at {span}: {message}\n{}", caret_lines(query, span));
    if let Some(hint) = hint {
        out += &format!("\nhint: {hint}");
    }
    out
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
