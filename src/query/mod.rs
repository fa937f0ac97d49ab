//! The boolean tag query language: text or builder -> owned AST -> bitmap.
//!
//! # Grammar
//!
//! ```text
//! query      = or_expr EOF ;
//! or_expr    = and_expr { "OR" and_expr } ;          (* lowest precedence *)
//! and_expr   = not_expr { "AND" not_expr } ;
//! not_expr   = { "NOT" } primary ;                    (* highest precedence *)
//! primary    = comparison | tag | "*" | "(" or_expr ")" ;
//! comparison = name op integer ;                      (* an attribute predicate *)
//! op         = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
//! integer    = [ "-" | "+" ] digit { digit } ;        (* an i64 *)
//! tag        = name ;
//! name       = bare_name | quoted_name ;
//! bare_name   = name_char { name_char } ;            (* not a keyword, not "*" *)
//! name_char   = any character except white space ( ) " = ! < > ;
//! quoted_name = '"' { any character except " and \ | '\"' | '\\' } '"' ;
//! ```
//!
//! - Keywords `AND`, `OR`, `NOT` are case-insensitive (`and`, `Or` work too).
//! - `*` is every live customer; `NOT *` is nobody.
//! - A tag name with white space, parentheses, quotes, backslashes, one of `= ! < >`, a
//!   keyword's spelling or `*` is written double-quoted: `"High Value" AND "and"`. Names are
//!   trimmed, so `" vip "` is `vip`.
//! - A name matches customers carrying that tag **or any descendant** in the `/` hierarchy:
//!   `interest/sports` matches `interest/sports/running`.
//! - A name followed by a comparison operator is a numeric **attribute** (a separate namespace
//!   from tags): `age >= 30 AND age < 40 AND vip`. Spaces around the operator are optional
//!   (`age>=30`, `balance<-5`); the literal is any `i64`. A customer without a value for the
//!   attribute matches no comparison on it, so `NOT age >= 30` includes it and `age != 30`
//!   does not. Ranges are evaluated on a bit-sliced index (one bitmap per value bit), never by
//!   a scan of customers, and inside an `AND` only within the customers the other operands
//!   left.
//! - `NOT x` is relative to the live customers: removed customers never match.
//! - Two terms side by side without `AND`/`OR` are an error, not an implicit AND.
//!
//! Limits, never a stack overflow, and a bounded cost for any text: text longer than
//! [`MAX_QUERY_LEN`] bytes, or with more than [`MAX_QUERY_TERMS`] terms, is refused with
//! [`Error::QueryTooLarge`](crate::Error::QueryTooLarge) before its tree is built (the length
//! before the text is read, the terms in a first pass of the lexer that keeps nothing); text
//! nested deeper than [`MAX_QUERY_DEPTH`] is an [`Error::Parse`](crate::Error::Parse) at the
//! level that crosses the limit. Parsing allocates at most 20 times the text's length: a
//! tree node of 32 bytes per term (64 while its list doubles), a name, 40 more bytes for a
//! comparison, and the text's copy, against five bytes of text per term at least (`a OR b`;
//! seven for `a>1 OR b>1`, the costliest per byte: 17 times); `tests/hostile.rs` measures
//! it. A built [`Query`] nested deeper, or with more terms, is refused with
//! [`Error::QueryTooLarge`](crate::Error::QueryTooLarge) when evaluated.
//!
//! # Evaluation
//!
//! A query is planned before it touches a bitmap (see [`Explain`]): nested `AND`/`OR` are
//! flattened, `NOT` is pushed into the plan so no complement is ever built inside an `AND`
//! (`a AND NOT b` is a difference, `NOT a AND NOT b` is the complement of `a OR b`), `AND`
//! intersects the smallest operand first and stops at the first empty result, an n-way `OR`
//! is one multi-way union, and a count takes its last step with a cardinality-only call
//! (`intersection_len`, `union_len`, `difference_len`).
//!
//! A tag expression with three or more operands is then evaluated block by block instead:
//! per 2^16-id block, the whole expression runs over its operands' containers into a dense
//! scratch of 1,024 words, with word kernels dispatched at run time to the best instruction
//! set of the CPU (AVX-512, AVX2, SSE4.2 with `POPCNT`, or the portable baseline), and only
//! the final block is counted or written out. No intermediate bitmap is built. Expressions
//! with one or two operands, with attribute comparisons, or that are a flat `AND` of tags
//! one of which is sparse (under 4,096 ids per block, so intersecting it first touches
//! little) keep the operator-at-a-time plan ([`Explain::per_block`] says which one a query
//! gets). The largest operand is read as `roaring` streams its image, the
//! others through one copy each. Counts of two dense tags (`a AND b`, `a AND NOT b`,
//! `a OR b`, more than 4,096 ids per block on average) take one dispatched `AND` +
//! `POPCNT` pass the same way in a default x86-64 build, where `roaring`'s own kernels
//! have no `POPCNT`; a build with `-C target-cpu=x86-64-v2` or above leaves them to
//! `roaring`.

mod ast;
mod eval;
mod fmt;
mod parse;

pub use ast::{CmpOp, Comparison, Expr, Query, Span, TagRef};
pub use eval::{Explain, ExplainNode};

pub(crate) use eval::Planner;

/// The deepest nesting of `NOT`, `AND`, `OR` and parentheses a query may have.
pub const MAX_QUERY_DEPTH: usize = 256;

/// The most terms (tag names, attribute comparisons and `*`) one query may have (131,072; a
/// 100,000-term `OR` is fine): checked while text is parsed, and when a built [`Query`] is
/// evaluated.
pub const MAX_QUERY_TERMS: usize = 1 << 17;

/// The longest query text, in bytes (1 MiB): longer text is refused before it is read.
pub const MAX_QUERY_LEN: usize = 1 << 20;
