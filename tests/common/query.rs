//! Helpers of the query-language test files (`parser.rs`, `parser_comparisons.rs`,
//! `printing.rs`): parsing that must succeed or fail, and the tag and comparison terms of a
//! syntax tree.

use audience::{CmpOp, Error, Expr, Query, Span};

pub fn tag(name: &str) -> Query {
    Query::tag(name)
}

pub fn parse(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse:\n{e}"))
}

/// The parts of the `Error::Parse` that `text` must produce.
pub fn parse_err(text: &str) -> (Span, String, Option<String>, Error) {
    match Query::parse(text) {
        Err(e @ Error::Parse { .. }) => {
            let Error::Parse { ref query, span, ref message, ref hint } = e else { unreachable!() };
            assert_eq!(query, text, "the error carries the query text");
            (span, message.clone(), hint.clone(), e.clone())
        }
        other => panic!("{text:?} should be a parse error, got {other:?}"),
    }
}

/// Every tag term of `e` (recursive: only used on small trees).
pub fn tags_of(e: &Expr, out: &mut Vec<(String, Option<Span>)>) {
    match e {
        Expr::Tag(t) => out.push((t.name().to_owned(), t.span())),
        Expr::Compare(_) | Expr::Everyone => {}
        Expr::Not(x) => tags_of(x, out),
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| tags_of(x, out)),
        other => panic!("a new Expr variant: {other:?}"),
    }
}

/// A comparison term: attribute name, operator, literal, and the name's span.
pub type Cmp = (String, CmpOp, i64, Option<Span>);

/// Every comparison term of `e` (recursive: only used on small trees).
pub fn comparisons_of(e: &Expr, out: &mut Vec<Cmp>) {
    match e {
        Expr::Compare(c) => out.push((c.name().to_owned(), c.op(), c.value(), c.span())),
        Expr::Tag(_) | Expr::Everyone => {}
        Expr::Not(x) => comparisons_of(x, out),
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| comparisons_of(x, out)),
        other => panic!("a new Expr variant: {other:?}"),
    }
}
