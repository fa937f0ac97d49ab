//! The boolean tag query language: text or builder -> owned AST -> bitmap.
//! The grammar and how queries are evaluated are documented on [`Query`].

mod ast;
mod eval;
mod explain;
mod fmt;
mod many;
mod parse;
mod plan;
mod prepared;
mod route;

pub use ast::{Comparison, Expr, Query, TagRef};
pub use explain::{Explain, ExplainNode};
pub use prepared::Prepared;

pub(crate) use many::Planned;
pub(crate) use plan::Planner;

/// The deepest nesting of `NOT`, `AND`, `OR` and parentheses a query may have.
pub const MAX_QUERY_DEPTH: usize = 256;

/// The most terms (tag names, attribute comparisons and `*`) one query may have (131,072; a
/// 100,000-term `OR` is fine): checked while text is parsed, and when a built [`Query`] is
/// evaluated.
pub const MAX_QUERY_TERMS: usize = 1 << 17;

/// The longest query text, in bytes (1 MiB): longer text is refused before it is read.
pub const MAX_QUERY_LEN: usize = 1 << 20;
