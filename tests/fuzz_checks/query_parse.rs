//! `query_parse`: any bytes as query text (invalid UTF-8 replaced, lossily), through
//! `Query::parse`. Refused text must be a typed error whose span lies in the text; parsed
//! text must:
//!
//! - print (`Display`) canonical text that parses back to an equal query of the same depth
//!   and prints the same again;
//! - be what the typed builder makes of the same tree, with the same depth;
//! - carry spans in the text, each quoting its term's name (the span's text parses alone to
//!   that name);
//! - on the fixture engine, fail exactly when a name does not resolve (with the first such
//!   name, where it stands), and otherwise give the same customers through `select`, `count`,
//!   `explain` and `Engine::query` as the naive model, run by run.

use std::ops::Range;

use audience::{Error, Expr, MAX_QUERY_DEPTH, Query, Span};

use super::fixture::{self, Fixture};

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Query::parse(&text) {
        Ok(q) => parsed(&text, &q),
        Err(e) => refused(&text, &e),
    }
}

fn refused(text: &str, e: &Error) {
    match e {
        Error::Parse { query, span, .. } => {
            assert_eq!(query, text, "a parse error quotes the text");
            assert_span(text, *span);
        }
        Error::QueryTooLarge { .. } => {}
        other => panic!("query text refused with {other:?}: not a parse error"),
    }
    let _ = e.to_string();
}

/// A span within `text`, on character boundaries.
fn assert_span(text: &str, span: Span) {
    assert!(
        span.start <= span.end && span.end <= text.len(),
        "span {span} outside the {}-byte text {text:?}",
        text.len()
    );
    assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end), "span {span} cuts a character");
}

fn parsed(text: &str, q: &Query) {
    assert_eq!(q.source(), Some(text));
    assert_eq!(q.depth(), depth(q.expr()), "depth of {q}");
    assert!(q.depth() <= MAX_QUERY_DEPTH);

    let canonical = q.to_string();
    let again = Query::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical text {canonical:?} of {text:?} does not parse: {e}"));
    assert_eq!(&again, q, "canonical text {canonical:?} of {text:?} parses to another query");
    assert_eq!(again.depth(), q.depth(), "depth of {canonical:?}");
    assert_eq!(again.to_string(), canonical, "canonical text is a fixed point");

    let built = build(q.expr());
    assert_eq!(&built, q, "the builder makes another tree of {text:?}");
    assert_eq!(built.depth(), q.depth(), "the builder's depth of {text:?}");

    let terms = leaves(q.expr());
    for term in &terms {
        let (name, span) = match term {
            Expr::Tag(t) => (t.name(), t.span()),
            Expr::Compare(c) => (c.name(), c.span()),
            _ => continue,
        };
        let span = span.unwrap_or_else(|| panic!("a parsed term without a span: {name:?} in {text:?}"));
        assert_span(text, span);
        let alone = Query::parse(&text[span.start..span.end]);
        match alone.as_ref().map(Query::expr) {
            Ok(Expr::Tag(t)) => assert_eq!(t.name(), name, "span {span} of {text:?}"),
            other => panic!("span {span} of {text:?} does not quote the name {name:?}: {other:?}"),
        }
    }
    let names = |tags: bool| {
        let mut out: Vec<&str> = Vec::new();
        for term in &terms {
            let name = match (term, tags) {
                (Expr::Tag(t), true) => t.name(),
                (Expr::Compare(c), false) => c.name(),
                _ => continue,
            };
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    };
    assert_eq!(q.tag_names(), names(true));
    assert_eq!(q.attribute_names(), names(false));

    fixture::with(|f| evaluate(f, text, q, &terms));
}

/// The query on the fixture engine, against the model.
fn evaluate(f: &Fixture, text: &str, q: &Query, terms: &[&Expr]) {
    let engine = &f.engine;
    let unresolved = terms.iter().find(|t| match t {
        Expr::Tag(t) => f.resolve_tag(t.name()).is_none(),
        Expr::Compare(c) => !f.knows_attr(c.name()),
        _ => false,
    });
    let selected = engine.select(q);
    if let Some(term) = unresolved {
        let e = selected.expect_err("a query naming an unknown tag or attribute");
        let (name, span) = match (&e, term) {
            (Error::UnknownTag { name, span, query, .. }, Expr::Tag(t)) => {
                assert_eq!(query.as_deref(), Some(text));
                assert_eq!(name, t.name());
                (name, *span)
            }
            (Error::UnknownAttribute { name, span, query, .. }, Expr::Compare(c)) => {
                assert_eq!(query.as_deref(), Some(text));
                assert_eq!(name, c.name());
                (name, *span)
            }
            _ => panic!("{text:?}: {e:?}, but the first unknown name is {term:?}"),
        };
        let want = match term {
            Expr::Tag(t) => t.span(),
            Expr::Compare(c) => c.span(),
            _ => None,
        };
        assert_eq!(span, want, "span of the unknown name {name:?}");
        let _ = e.to_string();
        assert!(engine.count(q).is_err() && engine.explain(q).is_err() && engine.query(text).is_err());
        return;
    }
    let audience = selected.unwrap_or_else(|e| panic!("{text:?}: every name resolves, yet {e:?}"));
    let bitmap = audience.bitmap();
    let mut want = 0;
    for (ids, hit) in f.eval(q.expr()) {
        let got = bitmap.range_cardinality(ids.clone());
        let expected = if hit { u64::from(ids.end - ids.start) } else { 0 };
        assert_eq!(got, expected, "{text:?}: customers {} matched, the model says {expected}", show(&ids));
        want += expected;
    }
    assert_eq!(audience.len(), want, "{text:?}: removed customers or ids outside the fixture matched");
    assert_eq!(engine.count(q).unwrap(), want, "{text:?}: count and select differ");
    let explain = engine.explain(q).unwrap();
    assert_eq!(explain.count(), want, "{text:?}: explain and select differ");
    let _ = explain.to_string();
    assert_eq!(engine.query(text).unwrap().bitmap(), bitmap, "{text:?}: Engine::query and select differ");
}

fn show(ids: &Range<u32>) -> String {
    format!("{}..{}", ids.start, ids.end)
}

/// The terms of `e`, left to right (iterative).
fn leaves(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Not(x) => stack.push(x),
            Expr::And(xs) | Expr::Or(xs) => stack.extend(xs.iter().rev()),
            term => out.push(term),
        }
    }
    out
}

/// Operator nesting, as `Query::depth` documents it (recursive: parsed queries are shallow).
fn depth(e: &Expr) -> usize {
    match e {
        Expr::Not(x) => 1 + depth(x),
        Expr::And(xs) | Expr::Or(xs) => 1 + xs.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The same tree through the typed builder.
fn build(e: &Expr) -> Query {
    match e {
        Expr::Tag(t) => Query::tag(t.name()),
        Expr::Compare(c) => Query::compare(c.name(), c.op(), c.value()),
        Expr::Everyone => Query::everyone(),
        Expr::Not(x) => build(x).not(),
        Expr::And(xs) => Query::all(xs.iter().map(build)),
        Expr::Or(xs) => Query::any(xs.iter().map(build)),
        other => panic!("a new kind of term, {other:?}: teach the fuzz check about it"),
    }
}
