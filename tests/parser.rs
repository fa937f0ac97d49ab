//! The query language: canonical printing round trips, hostile text, precedence, quoting,
//! attribute comparisons (operators, literals, names), errors that point at the input, and
//! the depth limit.

mod common;

use audience::{CmpOp, Engine, Error, MAX_QUERY_DEPTH, Query, TagKind};
use audience::{Expr, Span};
use common::model::normalize;
use common::{DERIVED_ATTRS, DERIVED_GROUPS, compact, config};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

fn tag(name: &str) -> Query {
    Query::tag(name)
}

fn parse(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse:\n{e}"))
}

/// The parts of the `Error::Parse` that `text` must produce.
fn parse_err(text: &str) -> (Span, String, Option<String>, Error) {
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
fn tags_of(e: &Expr, out: &mut Vec<(String, Option<Span>)>) {
    match e {
        Expr::Tag(t) => out.push((t.name().to_owned(), t.span())),
        Expr::Compare(_) | Expr::Everyone => {}
        Expr::Not(x) => tags_of(x, out),
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| tags_of(x, out)),
        other => panic!("a new Expr variant: {other:?}"),
    }
}

/// A comparison term: attribute name, operator, literal, and the name's span.
type Cmp = (String, CmpOp, i64, Option<Span>);

/// Every comparison term of `e` (recursive: only used on small trees).
fn comparisons_of(e: &Expr, out: &mut Vec<Cmp>) {
    match e {
        Expr::Compare(c) => out.push((c.name().to_owned(), c.op(), c.value(), c.span())),
        Expr::Tag(_) | Expr::Everyone => {}
        Expr::Not(x) => comparisons_of(x, out),
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| comparisons_of(x, out)),
        other => panic!("a new Expr variant: {other:?}"),
    }
}

/// Checks the canonical-form invariants of the AST: `And`/`Or` have at least two operands,
/// none of their own kind.
fn assert_canonical(e: &Expr) -> Result<(), TestCaseError> {
    match e {
        Expr::Tag(_) | Expr::Compare(_) | Expr::Everyone => {}
        Expr::Not(x) => assert_canonical(x)?,
        Expr::And(xs) => {
            prop_assert!(xs.len() >= 2, "AND of {} operand(s)", xs.len());
            for x in xs {
                prop_assert!(!matches!(x, Expr::And(_)), "AND inside AND");
                assert_canonical(x)?;
            }
        }
        Expr::Or(xs) => {
            prop_assert!(xs.len() >= 2, "OR of {} operand(s)", xs.len());
            for x in xs {
                prop_assert!(!matches!(x, Expr::Or(_)), "OR inside OR");
                assert_canonical(x)?;
            }
        }
        other => panic!("a new Expr variant: {other:?}"),
    }
    Ok(())
}

/// Names that exercise the quoting rules; each is valid (see `normalize`).
const NAMES: &[&str] = &[
    "vip",
    "a",
    "b",
    "High Value",
    "  padded  ",
    "a(b)",
    "(",
    ")",
    "()",
    "say \"hi\"",
    "\"",
    "back\\slash",
    "\\",
    "\\\"",
    "trailing\\",
    "a=b",
    "!",
    "x!=y",
    "<",
    ">",
    "a<b>c",
    "and",
    "AND",
    "Or",
    "nOt",
    "not not",
    "*",
    "**",
    "a*",
    "高消费",
    "高 消费",
    "🚀",
    "😀 fan",
    "interest/sports/running",
    "interest / sports",
    "tier:gold",
    "a:b/c:d",
    "ünïcödé",
    "\u{a0}nbsp\u{a0}inside",
    "x\u{3000}y",
    "-",
    "'single'",
];

/// A valid tag name: from the list, or random text with the grammar's special characters.
fn name() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        prop::sample::select(vec![' ', '(', ')', '"', '\\', '=', '!', '<', '>', '*', '/', ':', '高', '🚀', '\u{a0}']),
        prop::sample::select(vec!['a', 'b', 'N', 'o', 'T', 'd', 'r']),
        any::<char>(),
    ];
    prop_oneof![
        3 => prop::sample::select(NAMES).prop_map(str::to_owned),
        2 => prop::collection::vec(special, 1..7).prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => "\\PC{1,6}",
    ]
    .prop_filter("a valid tag name", |n| normalize(n).is_some())
}

/// A query built with the typed builder only.
fn built_query() -> impl Strategy<Value = Query> {
    built_query_over(name())
}

/// A comparison operator.
fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(CmpOp::ALL.to_vec())
}

/// An `i64` literal: small (signs, zero), the ends of the range, anything.
fn literal() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -5i64..=5,
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]),
        2 => any::<i64>(),
    ]
}

/// Whether a user may tag with `raw` and set it as an attribute: not a name `refresh` owns.
fn writable(raw: &str) -> bool {
    normalize(raw).is_some_and(|n| {
        !DERIVED_ATTRS.contains(&n.as_str())
            && n.split_once(':').is_none_or(|(group, _)| !DERIVED_GROUPS.contains(&group))
    })
}

/// Names that print bare (no quotes), so keywords are the only words to rewrite.
const BARE_NAMES: &[&str] =
    &["vip", "a", "b", "高消费", "🚀", "tier:gold", "interest/sports", "a*", "andy", "x-y", "NOTE"];

/// A query built with the typed builder only, over `names`.
fn built_query_over(names: impl Strategy<Value = String> + 'static) -> impl Strategy<Value = Query> {
    // A name followed by an operator is an attribute comparison: one term in four.
    let term = (names, 0u8..4, op(), literal())
        .prop_map(|(n, k, op, v)| if k == 0 { Query::compare(n, op, v) } else { Query::tag(n) });
    let leaf = prop_oneof![
        8 => term,
        1 => Just(Query::everyone()),
        1 => Just(Query::nobody()),
    ];
    leaf.prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Query::not),
            inner.clone().prop_map(|q| !q),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and_not(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a & b),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a | b),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Query::all),
            prop::collection::vec(inner, 0..4).prop_map(Query::any),
        ]
    })
}

/// Short tokens of hostile text: names, keywords, punctuation, operators, literals.
const TOKENS: &[&str] = &[
    "a", "b", "vip", "AND", "and", "Or", "or", "NOT", "nOt", "(", ")", "\"", "\\", "\\\"", "\\\\", "*", "=", "!", "<",
    ">", " ", " ", " ", "  ", "\t", "\n", "高", "🚀", "/", ":", "x:y", "a/b", "age", ">=", "!=", "<=", "==", "0", "7",
    "30", "-", "+", "-5", "+3", "3.5",
];

/// Long tokens: integer literals at the ends of `i64` and one past.
const LONG_TOKENS: &[&str] = &["9223372036854775807", "9223372036854775808", "-9223372036854775808"];

/// Text from a token alphabet (tokens are concatenated, so they also merge).
fn token_text() -> impl Strategy<Value = String> {
    let tok = prop::sample::select([TOKENS, LONG_TOKENS].concat());
    prop::collection::vec(tok, 0..24).prop_map(|ts| ts.concat())
}

/// Checks the contract of `Query::parse(text)` for any text: no panic; an error is a
/// `Parse` error pointing inside the text with a caret line; a success prints canonical
/// text that parses back to an equal query, and every tag's span is the tag's own text.
fn check_any_text(text: &str) -> Result<(), TestCaseError> {
    match Query::parse(text) {
        Ok(q) => {
            prop_assert_eq!(q.source(), Some(text));
            assert_canonical(q.expr())?;
            let printed = q.to_string();
            let again = Query::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
            prop_assert_eq!(&again, &q, "printed {:?}", printed);
            prop_assert_eq!(again.to_string(), printed);
            let mut terms = Vec::new();
            tags_of(q.expr(), &mut terms);
            for (name, span) in terms {
                let span = span.ok_or_else(|| TestCaseError::fail("a parsed tag has a span"))?;
                prop_assert!(span.start < span.end && span.end <= text.len(), "{span} in {} bytes", text.len());
                prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
                // The span covers exactly the term: parsed alone, it is the same tag.
                let alone = Query::parse(&text[span.start..span.end])
                    .map_err(|e| TestCaseError::fail(format!("span {span} of {text:?}: {e}")))?;
                prop_assert_eq!(alone, Query::tag(&name));
            }
            // A comparison's span is its attribute name's: parsed alone, the name is a tag.
            let mut cmps = Vec::new();
            comparisons_of(q.expr(), &mut cmps);
            for (name, _, _, span) in cmps {
                let span = span.ok_or_else(|| TestCaseError::fail("a parsed comparison has a span"))?;
                prop_assert!(span.start < span.end && span.end <= text.len(), "{span} in {} bytes", text.len());
                prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
                let alone = Query::parse(&text[span.start..span.end])
                    .map_err(|e| TestCaseError::fail(format!("span {span} of {text:?}: {e}")))?;
                prop_assert_eq!(alone, Query::tag(&name));
            }
        }
        Err(e) => {
            let Error::Parse { query, span, message, hint } = &e else {
                return Err(TestCaseError::fail(format!("{text:?}: not a parse error: {e:?}")));
            };
            prop_assert_eq!(query, text);
            prop_assert!(span.start <= span.end && span.end <= text.len(), "{span} in {} bytes", text.len());
            prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end), "{span}");
            prop_assert!(!message.is_empty());
            // "query parse error at S: M\n  <query>\n  <pad>^^^[\nhint: H]"
            let shown = e.to_string();
            let header = format!("query parse error at {}..{}: {message}\n", span.start, span.end);
            prop_assert!(shown.starts_with(&header), "{shown:?}");
            let rest = &shown[header.len()..];
            let visible: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            let query_line = format!("  {visible}\n  ");
            prop_assert!(rest.starts_with(&query_line), "{shown:?}");
            let rest = &rest[query_line.len()..];
            let (caret, tail) = rest.split_once('\n').unwrap_or((rest, ""));
            let pad = caret.len() - caret.trim_start_matches(' ').len();
            let carets = &caret[pad..];
            prop_assert!(!carets.is_empty() && carets.chars().all(|c| c == '^'), "caret line {caret:?}");
            if text.is_ascii() {
                prop_assert_eq!(pad, span.start);
                prop_assert_eq!(carets.len(), (span.end - span.start).max(1));
            }
            match hint {
                Some(h) => prop_assert_eq!(tail, format!("hint: {h}")),
                None => prop_assert_eq!(tail, ""),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config(512))]

    /// The builder normalizes names exactly as the docs say (trimmed, each level trimmed).
    #[test]
    fn builder_normalizes_names(raw in name()) {
        let q = Query::tag(&raw);
        let Expr::Tag(t) = q.expr() else { panic!("{q:?} is not a tag") };
        prop_assert_eq!(Some(t.name().to_owned()), normalize(&raw));
        prop_assert_eq!(t.span(), None);
        prop_assert_eq!(q.source(), None);
    }

    /// Attribute names are normalized like tag names; operator and literal are kept as given.
    #[test]
    fn builder_normalizes_attribute_names(raw in name(), op in op(), v in literal()) {
        let q = Query::compare(&raw, op, v);
        let mut cmps = Vec::new();
        comparisons_of(q.expr(), &mut cmps);
        prop_assert_eq!(cmps.len(), 1);
        let (name, got_op, got_v, span) = cmps.pop().unwrap();
        prop_assert_eq!(Some(name), normalize(&raw));
        prop_assert_eq!((got_op, got_v, span), (op, v, None));
        prop_assert_eq!(q.source(), None);
        prop_assert_eq!(q.depth(), 0);
        prop_assert_eq!(Query::compare(&raw, op, v), Query::compare(normalize(&raw).unwrap(), op, v));
        prop_assert_ne!(q, Query::tag(&raw), "a comparison is not the tag of the same name");
    }

    /// `CmpOp::holds` is the integer comparison it prints as, and `flipped` swaps the operands.
    #[test]
    fn operators_hold_as_printed(op in op(), a in literal(), b in literal(), near in -2i64..=2) {
        let b_near = a.saturating_add(near);
        for b in [b, a, b_near] {
            let want = match op.as_str() {
                "=" => a == b,
                "!=" => a != b,
                "<" => a < b,
                "<=" => a <= b,
                ">" => a > b,
                ">=" => a >= b,
                other => panic!("unknown operator {other:?}"),
            };
            prop_assert_eq!(op.holds(a, b), want, "{} {} {}", a, op, b);
            prop_assert_eq!(op.flipped().holds(b, a), want, "{} {} {}", b, op.flipped(), a);
            prop_assert_eq!(op.flipped().flipped(), op);
        }
    }

    /// `Query::parse(&q.to_string()) == Ok(q)`, and canonical text is a fixed point.
    #[test]
    fn built_queries_round_trip(q in built_query()) {
        assert_canonical(q.expr())?;
        let text = q.to_string();
        let parsed = Query::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}:\n{e}")))?;
        prop_assert_eq!(&parsed, &q, "text {:?}", text);
        prop_assert_eq!(parsed.to_string(), text.clone());
        prop_assert_eq!(parsed.source(), Some(text.as_str()));
        // `depth` of a built query is an upper bound of the parsed (exact) depth.
        prop_assert!(parsed.depth() <= q.depth(), "parsed {} > built {}", parsed.depth(), q.depth());
        // `Expr`'s Display is the query's, and `from_expr` keeps the tree.
        prop_assert_eq!(q.expr().to_string(), text.clone());
        prop_assert_eq!(Query::from_expr(q.expr().clone()), q.clone());
        // Redundant parentheses and keyword case do not change the tree.
        prop_assert_eq!(Query::parse(&format!("( {text} )")).ok(), Some(q.clone()));
    }

    /// Keyword case and white space do not matter.
    #[test]
    fn keyword_case_and_white_space_do_not_matter(
        q in built_query_over(prop::sample::select(BARE_NAMES).prop_map(str::to_owned))
    ) {
        let text = q.to_string();
        prop_assert!(!text.contains('"'));
        let relaxed = relax(&text);
        prop_assert_eq!(Query::parse(&relaxed).ok(), Some(q.clone()), "relaxed {:?}", relaxed);
        // Spaces around comparison operators are optional (`age>=30`, `balance<-5`).
        let compact = compact(&text);
        prop_assert_eq!(Query::parse(&compact).ok(), Some(q.clone()), "compact {:?}", compact);
        let both = relax(&compact);
        prop_assert_eq!(Query::parse(&both).ok(), Some(q), "compact and relaxed {:?}", both);
    }

    /// A built query and its printed text select the same customers.
    #[test]
    fn built_and_printed_queries_select_alike(q in built_query_over(name().prop_filter("writable", |n| writable(n)))) {
        let mut engine = Engine::new();
        let mut next = 0u32;
        let mut terms = Vec::new();
        tags_of(q.expr(), &mut terms);
        for (name, _) in &terms {
            let c = engine.customer_id(next).unwrap();
            next += 1;
            engine.tag(c, name).map_err(|e| TestCaseError::fail(format!("{name:?}: {e}")))?;
        }
        // Each comparison: customers just below, at and just above its literal.
        let mut cmps = Vec::new();
        comparisons_of(q.expr(), &mut cmps);
        for (name, _, v, _) in &cmps {
            for value in [v.saturating_sub(1), *v, v.saturating_add(1)] {
                let c = engine.customer_id(next).unwrap();
                next += 1;
                engine.set_attr(c, name, value).map_err(|e| TestCaseError::fail(format!("{name:?}: {e}")))?;
            }
        }
        engine.customer_id(next).unwrap(); // one customer with no tag and no value
        let by_query = engine.select(&q).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let by_text = engine.query(&q.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(by_query, by_text);
    }

    #[test]
    fn token_text_never_panics(text in token_text()) {
        check_any_text(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(chars in prop::collection::vec(any::<char>(), 0..32)) {
        check_any_text(&chars.into_iter().collect::<String>())?;
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,40}") {
        check_any_text(&text)?;
    }
}

/// Canonical text written differently: keywords in mixed case, runs of white space.
/// For text without quoted names (so only keywords are touched).
fn relax(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push_str(["  ", "\t", "\n ", " "][i % 4]);
        }
        let core = word.trim_start_matches('(').trim_end_matches(')');
        let lead = word.len() - word.trim_start_matches('(').len();
        let new_core = match core {
            "AND" => ["and", "And", "aNd"][i % 3],
            "OR" => ["or", "oR", "Or"][i % 3],
            "NOT" => ["not", "Not", "nOT"][i % 3],
            other => other,
        };
        out.push_str(&word[..lead]);
        out.push_str(new_core);
        out.push_str(&word[lead + core.len()..]);
    }
    out
}

#[test]
fn random_text_regressions() {
    // Hand-picked hostile inputs, checked with the same contract as the random ones.
    for text in [
        "",
        "(",
        ")",
        "\"",
        "\\",
        "\"\\",
        "\"\\\"",
        "NOT",
        "NOT NOT",
        "a AND",
        "AND a",
        "a OR OR b",
        "(()",
        "())",
        "a\u{0}b",
        "\"a\u{0}b\"",
        "高 AND (",
        "🚀=",
        "\"高\\",
        "a/",
        "/a",
        "a//b",
        "\" \"",
        "\"\"",
        "* *",
        "**",
        "!=",
        "\"\\高\"",
        "\u{feff}",
        "\u{2028}a",
        "a\r\nAND\r\nb",
        "age>=",
        ">=3",
        "<a",
        "a<-",
        "a<-9223372036854775809",
        "a=-9223372036854775808",
        "a = 1 = 2",
        "a !",
        "a=\"1\"",
        "(a<1)",
        "a<(1)",
        "a<1)",
        "高>=3.5",
        "\"a\"=\"b\"",
        "a = 1 b = 2",
        "NOT a=1 AND",
    ] {
        check_any_text(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

// ---------------------------------------------------------------- precedence

#[test]
fn or_binds_looser_than_and_looser_than_not() {
    let (a, b, c) = (tag("a"), tag("b"), tag("c"));
    assert_eq!(parse("a OR b AND c"), a.clone().or(b.clone().and(c.clone())));
    assert_eq!(parse("a AND b OR c"), a.clone().and(b.clone()).or(c.clone()));
    assert_eq!(parse("NOT a AND b"), a.clone().not().and(b.clone()));
    assert_eq!(parse("NOT a OR b"), a.clone().not().or(b.clone()));
    assert_eq!(parse("a OR b AND NOT c"), a.clone().or(b.clone().and_not(c.clone())));
    assert_ne!(parse("(a OR b) AND c"), parse("a OR b AND c"));
    assert_eq!(parse("(a OR b) AND c"), a.clone().or(b.clone()).and(c.clone()));
    assert_eq!(parse("NOT (a OR b)"), a.clone().or(b.clone()).not());
    assert_eq!(parse("NOT NOT a"), a.clone().not().not());
    assert_eq!(parse("a AND NOT NOT b"), a.clone().and(b.clone().not().not()));
    assert_eq!(parse("*"), Query::everyone());
    assert_eq!(parse("NOT *"), Query::nobody());
    assert_eq!(parse("\"*\""), tag("*"));
    assert_ne!(parse("\"*\""), Query::everyone());
    assert_eq!(parse("a*"), tag("a*"));
}

#[test]
fn keywords_are_case_insensitive() {
    let want = tag("a").and(tag("b")).or(tag("c").not());
    for text in ["a AND b OR NOT c", "a and b or not c", "a AnD b oR NoT c", "a aND b Or nOT c"] {
        assert_eq!(parse(text), want, "{text}");
        assert_eq!(parse(text).to_string(), "a AND b OR NOT c", "{text}");
    }
    // A keyword's spelling is not a name unless quoted.
    assert_eq!(parse("\"and\" AND \"Or\" OR \"not\""), tag("and").and(tag("Or")).or(tag("not")));
    // Only whole words are keywords.
    assert_eq!(parse("andy OR notion OR order"), Query::any([tag("andy"), tag("notion"), tag("order")]));
}

#[test]
fn chains_and_nested_groups_flatten() {
    let abc_and = Query::all([tag("a"), tag("b"), tag("c")]);
    for text in
        ["a AND b AND c", "(a AND b) AND c", "a AND (b AND c)", "((a)) AND ((b AND (c)))", "(((a AND b AND c)))"]
    {
        let q = parse(text);
        assert_eq!(q, abc_and, "{text}");
        let Expr::And(xs) = q.expr() else { panic!("{text}: {q:?}") };
        assert_eq!(xs.len(), 3, "{text}");
        assert_eq!(q.to_string(), "a AND b AND c");
    }
    let abcd_or = Query::any([tag("a"), tag("b"), tag("c"), tag("d")]);
    for text in ["a OR b OR c OR d", "(a OR b) OR (c OR d)", "a OR (b OR (c OR (d)))"] {
        let q = parse(text);
        assert_eq!(q, abcd_or, "{text}");
        let Expr::Or(xs) = q.expr() else { panic!("{text}: {q:?}") };
        assert_eq!(xs.len(), 4, "{text}");
    }
    // The builder flattens the same way.
    assert_eq!(tag("a").and(tag("b").and(tag("c"))), abc_and);
    assert_eq!(tag("a").and(tag("b")).and(tag("c")), abc_and);
    assert_eq!(Query::all([tag("a")]), tag("a"));
    assert_eq!(Query::all([]), Query::everyone());
    assert_eq!(Query::any([]), Query::nobody());
    // Groups that precedence needs stay.
    assert_eq!(parse("(a OR b) AND (c OR d)").to_string(), "(a OR b) AND (c OR d)");
    assert_eq!(parse("((a)) OR ((b AND c))").to_string(), "a OR b AND c");
    assert_eq!(parse("NOT ((a AND b))").to_string(), "NOT (a AND b)");
}

#[test]
fn white_space_and_parentheses_delimit_terms() {
    assert_eq!(parse("(a)AND(b)"), tag("a").and(tag("b")));
    assert_eq!(parse("  a\tAND\n\r b  "), tag("a").and(tag("b")));
    assert_eq!(parse("a\u{3000}OR\u{a0}b"), tag("a").or(tag("b")));
    assert_eq!(parse("NOT(a)"), tag("a").not());
    assert_eq!(
        parse("高消费 OR interest/sports OR tier:gold"),
        Query::any([tag("高消费"), tag("interest/sports"), tag("tier:gold")])
    );
    assert_eq!(parse("\"a / b\"").to_string(), "a/b");
}

// ---------------------------------------------------------------- quoting

#[test]
fn quoted_names_and_escapes() {
    assert_eq!(parse(r#""High Value""#), tag("High Value"));
    assert_eq!(parse(r#""say \"hi\"""#), tag(r#"say "hi""#));
    assert_eq!(parse(r#""a\\b""#), tag(r"a\b"));
    assert_eq!(parse(r#""\\""#), tag("\\"));
    assert_eq!(parse(r#""\"""#), tag("\""));
    assert_eq!(parse(r#"" vip ""#), tag("vip"));
    assert_eq!(parse(r#""a = b" AND "x<y""#), tag("a = b").and(tag("x<y")));
    assert_eq!(parse(r#""AND" AND "(" OR ")""#), tag("AND").and(tag("(")).or(tag(")")));
    // Printing quotes exactly what needs it, and escapes `"` and `\`.
    assert_eq!(tag(r#"say "hi""#).to_string(), r#""say \"hi\"""#);
    assert_eq!(tag(r"a\b").to_string(), r#""a\\b""#);
    assert_eq!(tag("High Value").to_string(), r#""High Value""#);
    assert_eq!(tag("or").to_string(), r#""or""#);
    assert_eq!(tag("*").to_string(), r#""*""#);
    assert_eq!(tag("a=b").to_string(), r#""a=b""#);
    assert_eq!(tag("高消费").to_string(), "高消费");
    assert_eq!(tag("tier:gold").to_string(), "tier:gold");
    assert_eq!(tag("a*").to_string(), "a*");
    // Spans of quoted names include the quotes.
    let q = parse(r#""x" AND "a b""#);
    let mut terms = Vec::new();
    tags_of(q.expr(), &mut terms);
    assert_eq!(terms, [("x".to_owned(), Some(Span::new(0, 3))), ("a b".to_owned(), Some(Span::new(8, 13)))]);
}

#[test]
fn unknown_escape_is_an_error() {
    let (span, message, hint, _) = parse_err(r#""a\nb""#);
    assert_eq!(span, Span::new(2, 4));
    assert!(message.contains("unknown escape"), "{message}");
    assert!(hint.is_some_and(|h| h.contains(r"\\")));
    let (span, ..) = parse_err(r#"vip AND "高\x""#);
    assert_eq!(span, Span::new(12, 14));
    // The escaped character may be multi-byte: the span still ends on a char boundary.
    let (span, ..) = parse_err(r#""\高""#);
    assert_eq!(span, Span::new(1, 5));
}

#[test]
fn unterminated_quote_is_an_error() {
    for (text, span) in [(r#""abc"#, Span::new(0, 4)), (r#"a AND "b"#, Span::new(6, 8)), (r#""abc\"#, Span::new(0, 5))]
    {
        let (got, message, hint, _) = parse_err(text);
        assert_eq!(got, span, "{text}");
        assert!(message.contains("unterminated"), "{text}: {message}");
        assert!(hint.is_some(), "{text}");
    }
    // An escaped quote does not close the name.
    assert!(message_of(r#""abc\""#).contains("unterminated"));
}

fn message_of(text: &str) -> String {
    parse_err(text).1
}

#[test]
fn a_parse_error_message_has_no_raw_control_characters() {
    // An unknown escape of a control character (here a newline) must not break the
    // one-line header of the rendered error.
    let (_, message, _, err) = parse_err("\"a\\\nb\"");
    assert!(!message.chars().any(char::is_control), "message {message:?}");
    assert_eq!(err.to_string().lines().count(), 4, "{err}");
}

#[test]
fn empty_names_are_errors() {
    for text in [r#""""#, r#""   ""#, r#"a AND """#, "a/", "/a", "a//b", "\"a\tb\""] {
        let (_, message, ..) = parse_err(text);
        assert!(message.contains("invalid tag name"), "{text}: {message}");
    }
}

// ---------------------------------------------------------------- comparisons

fn cmp(name: &str, op: CmpOp, value: i64) -> Query {
    Query::compare(name, op, value)
}

/// The only comparison of `q`.
fn only_comparison(q: &Query) -> Cmp {
    let mut out = Vec::new();
    comparisons_of(q.expr(), &mut out);
    assert_eq!(out.len(), 1, "{q:?}");
    out.pop().unwrap()
}

/// The span of the first `needle` in `text` at or after byte `from`.
fn span_of(text: &str, needle: &str, from: usize) -> Span {
    let start = from + text[from..].find(needle).unwrap_or_else(|| panic!("{needle:?} in {text:?}"));
    Span::new(start, start + needle.len())
}

const OPERATORS: [(&str, CmpOp); 6] =
    [("=", CmpOp::Eq), ("!=", CmpOp::Ne), ("<", CmpOp::Lt), ("<=", CmpOp::Le), (">", CmpOp::Gt), (">=", CmpOp::Ge)];

#[test]
fn every_operator_with_and_without_spaces() {
    assert_eq!(OPERATORS.map(|(_, op)| op), CmpOp::ALL);
    for (s, op) in OPERATORS {
        assert_eq!(op.as_str(), s);
        assert_eq!(op.to_string(), s);
        let want = cmp("age", op, 30);
        let canonical = format!("age {s} 30");
        for text in [
            format!("age {s} 30"),
            format!("age{s}30"),
            format!("age {s}30"),
            format!("age{s} 30"),
            format!("\tage\n{s}\u{3000}30  "),
            format!("(age{s}30)"),
            format!("( age {s} 30 )"),
        ] {
            let q = parse(&text);
            assert_eq!(q, want, "{text:?}");
            assert_eq!(q.to_string(), canonical, "{text:?}");
            assert_eq!(q.depth(), 0, "{text:?}");
            let (name, got_op, value, span) = only_comparison(&q);
            assert_eq!((name.as_str(), got_op, value), ("age", op, 30), "{text:?}");
            assert_eq!(span, Some(span_of(&text, "age", 0)), "{text:?}: the span is the name's");
        }
        // A sign right after the operator, with or without spaces.
        for (text, v) in [
            (format!("balance{s}-5"), -5),
            (format!("balance {s} -5"), -5),
            (format!("balance{s} -5"), -5),
            (format!("balance{s}+5"), 5),
            (format!("balance {s} +5"), 5),
            (format!("balance{s}-0"), 0),
            (format!("balance{s}007"), 7),
        ] {
            let q = parse(&text);
            assert_eq!(q, cmp("balance", op, v), "{text}");
            assert_eq!(q.to_string(), format!("balance {s} {v}"), "{text}");
        }
    }
    assert_eq!(parse("balance<-5"), cmp("balance", CmpOp::Lt, -5));
    assert_eq!(parse("balance<-5").to_string(), "balance < -5");
    assert_eq!(parse("age>=30"), cmp("age", CmpOp::Ge, 30));
    assert_eq!(parse("age>=30").to_string(), "age >= 30");
}

#[test]
fn literals_cover_the_whole_i64_range() {
    for (text, v) in [
        ("x = -9223372036854775808", i64::MIN),
        ("x=-9223372036854775808", i64::MIN),
        ("x = -9223372036854775807", i64::MIN + 1),
        ("x = 9223372036854775807", i64::MAX),
        ("x=+9223372036854775807", i64::MAX),
        ("x = 9223372036854775806", i64::MAX - 1),
        ("x = 00009223372036854775807", i64::MAX),
        ("x = -00009223372036854775808", i64::MIN),
        ("x = 0", 0),
        ("x = -0", 0),
        ("x = +0", 0),
        ("x = 000", 0),
        ("x = +5", 5),
        ("x = -1", -1),
    ] {
        let q = parse(text);
        assert_eq!(q, cmp("x", CmpOp::Eq, v), "{text}");
        let printed = q.to_string();
        assert_eq!(printed, format!("x = {v}"), "{text}");
        assert_eq!(parse(&printed), q, "{text}");
    }
    for op in CmpOp::ALL {
        for v in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let q = cmp("x", op, v);
            assert_eq!(parse(&q.to_string()), q, "{q}");
            assert_eq!(parse(&compact(&q.to_string())), q, "{q}");
        }
    }
    assert_eq!(cmp("x", CmpOp::Lt, i64::MIN).to_string(), "x < -9223372036854775808");
    assert_eq!(cmp("x", CmpOp::Gt, i64::MAX).to_string(), "x > 9223372036854775807");
}

#[test]
fn literals_one_past_the_i64_range_are_errors() {
    for (text, literal) in [
        ("x = 9223372036854775808", "9223372036854775808"),
        ("x = +9223372036854775808", "+9223372036854775808"),
        ("x = -9223372036854775809", "-9223372036854775809"),
        ("x=-9223372036854775809", "-9223372036854775809"),
        ("x<18446744073709551616", "18446744073709551616"),
        ("x >= 99999999999999999999999999999999999999999", "99999999999999999999999999999999999999999"),
        ("vip AND x != -9223372036854775809 OR y", "-9223372036854775809"),
    ] {
        let (span, message, hint, _) = parse_err(text);
        assert_eq!(span, span_of(text, literal, 0), "{text}");
        assert_eq!(message, format!("integer {literal} is out of range"), "{text}");
        let hint = hint.unwrap_or_else(|| panic!("{text}: no hint"));
        assert!(hint.contains("-9223372036854775808") && hint.contains("9223372036854775807"), "{text}: {hint}");
    }
}

#[test]
fn literals_must_be_integers() {
    for (text, found) in [
        ("age >= 3.5", "3.5"),
        ("age>=3.", "3."),
        ("age >= .5", ".5"),
        ("age >= 1e3", "1e3"),
        ("age >= 0x10", "0x10"),
        ("age >= 1_000", "1_000"),
        ("age >= 1,000", "1,000"),
        ("age >= ٣", "٣"),
        ("age >= ３", "３"),
        ("age >= --5", "--5"),
        ("age >= +-5", "+-5"),
        ("age >= - 5", "-"),
        ("age >= -", "-"),
        ("age >= +", "+"),
        ("age >= x", "x"),
        ("age >= thirty", "thirty"),
        ("age >= 30AND vip", "30AND"),
        ("age >= 5abc", "5abc"),
        ("age >= *", "*"),
        ("age >= NOT 3", "NOT"),
        ("age >= AND vip", "AND"),
        ("age >= (3)", "("),
        ("(age >=)", ")"),
        ("age >= \"3\"", "\"3\""),
        ("age >= 3=", "3="),
        ("age >= 3<4", "3<4"),
        ("a=b", "b"),
    ] {
        let (span, message, hint, _) = parse_err(text);
        let after_op = text.find(['=', '<', '>']).unwrap() + 1;
        assert_eq!(span, span_of(text, found, after_op), "{text}");
        assert_eq!(message, format!("expected an integer after the comparison operator, found {found:?}"), "{text}");
        let hint = hint.unwrap_or_else(|| panic!("{text}: no hint"));
        assert!(hint.contains("whole numbers") && hint.contains("age >= 30"), "{text}: {hint}");
    }
    // A missing literal: an empty span right after the operator.
    for (text, op) in [("age >=", ">="), ("age >=   ", ">="), ("vip AND age <", "<"), ("年龄=", "=")] {
        let (span, message, hint, _) = parse_err(text);
        let end = span_of(text, op, 0).end;
        assert_eq!(span, Span::new(end, end), "{text}");
        assert_eq!(message, format!("expected an integer after {op}, found the end of the query"), "{text}");
        assert!(hint.is_some_and(|h| h.contains("whole numbers")), "{text}");
    }
}

#[test]
fn unknown_operators_are_errors() {
    for (text, op, hint_needle) in [
        ("age == 3", "==", "write = for equality"),
        ("age==3", "==", "write = for equality"),
        ("age <> 3", "<>", "write != for inequality"),
        ("age => 3", "=>", "did you mean >= ?"),
        ("age =< 3", "=<", "did you mean <= ?"),
        ("age ! 3", "!", "write NOT to negate"),
        ("age !3", "!", "write NOT to negate"),
        ("!vip", "!", "write NOT to negate"),
        ("NOT !vip", "!", "write NOT to negate"),
        ("vip AND !churned", "!", "write NOT to negate"),
        ("age >== 3", ">==", "the operators are = != < <= > >="),
        ("age !== 3", "!==", "the operators are = != < <= > >="),
        ("age << 3", "<<", "the operators are = != < <= > >="),
        ("age >< 3", "><", "the operators are = != < <= > >="),
        ("age =! 3", "=!", "the operators are = != < <= > >="),
        ("age >=> 3", ">=>", "the operators are = != < <= > >="),
    ] {
        let (span, message, hint, _) = parse_err(text);
        assert_eq!(span, span_of(text, op, 0), "{text}");
        assert_eq!(message, format!("unknown operator {op:?}"), "{text}");
        let hint = hint.unwrap_or_else(|| panic!("{text}: no hint"));
        assert!(hint.contains(hint_needle), "{text}: {hint}");
    }
}

#[test]
fn an_operator_needs_a_name_on_its_left() {
    for (text, op) in [
        (">= 3", ">="),
        ("< -5", "<"),
        ("=1", "="),
        ("!= 0", "!="),
        ("NOT < 5", "<"),
        ("not>=3", ">="),
        ("vip AND != 2", "!="),
        ("vip OR > -1", ">"),
        ("(<= 4)", "<="),
    ] {
        let (span, message, hint, _) = parse_err(text);
        assert_eq!(span, span_of(text, op, 0), "{text}");
        assert_eq!(message, format!("{op} needs an attribute name on its left"), "{text}");
        assert!(hint.is_some_and(|h| h.contains("age >= 30")), "{text}");
    }
    // After a term that is not a name, the operator is where AND / OR was expected.
    for (text, op_at) in [
        ("* >= 3", 2),
        ("(age) >= 3", 6),
        ("vip AND (a OR b) = 1", 17),
        ("age >= 3 >= 4", 9),
        ("age = 1 = 2", 8),
        ("\"a\" = 1 < 2", 8),
    ] {
        let (span, message, hint, _) = parse_err(text);
        assert_eq!(span.start, op_at, "{text}");
        assert!(message.contains("expected AND, OR or the end of the query"), "{text}: {message}");
        assert!(hint.is_some(), "{text}");
    }
    // A keyword is not a name, on either side of an operator.
    let (span, message, hint, _) = parse_err("and >= 3");
    assert_eq!(span, Span::new(0, 3));
    assert!(message.contains("keyword and"), "{message}");
    assert!(hint.is_some_and(|h| h.contains("\"and\"")));
    assert_eq!(parse("\"and\" >= 3"), cmp("and", CmpOp::Ge, 3));
}

/// Errors are reported in the order of the text: an operator with no name on its left comes
/// before a bad literal after it (`<a`, a tag name that used to be written unquoted), as
/// `< 5` and `>= 3` get. (Found while writing these tests: the lexer used to report the
/// literal first.)
#[test]
fn an_operator_without_a_name_is_reported_at_the_operator_even_before_a_bad_literal() {
    for (text, op) in [("<a", "<"), ("=b", "="), ("vip AND >= x", ">="), ("!= \"x\"", "!=")] {
        let (span, message, hint, _) = parse_err(text);
        assert_eq!(span, span_of(text, op, 0), "{text}: {message}");
        assert_eq!(message, format!("{op} needs an attribute name on its left"), "{text}");
        assert!(hint.is_some(), "{text}");
    }
}

#[test]
fn attribute_names_quoted_unicode_and_like_tags() {
    // Quoted names: white space, keywords, operators, quotes, `*`.
    for (text, name, canonical) in [
        ("\"my attr\" >= 3", "my attr", "\"my attr\" >= 3"),
        ("\" my attr \">=3", "my attr", "\"my attr\" >= 3"),
        ("\"and\" >= 3", "and", "\"and\" >= 3"),
        ("\"NOT\">=3", "NOT", "\"NOT\" >= 3"),
        ("\"a=b\">=3", "a=b", "\"a=b\" >= 3"),
        ("\"x\\\"y\" >= 3", "x\"y", "\"x\\\"y\" >= 3"),
        ("\"*\" >= 3", "*", "\"*\" >= 3"),
        ("\"age\" >= 3", "age", "age >= 3"),
        ("\"a / b\" >= 3", "a/b", "a/b >= 3"),
    ] {
        let q = parse(text);
        assert_eq!(q, cmp(name, CmpOp::Ge, 3), "{text}");
        assert_eq!(q.to_string(), canonical, "{text}");
        assert_eq!(parse(canonical), q, "{text}");
        let (_, _, _, span) = only_comparison(&q);
        let span = span.unwrap();
        assert!(text[span.start..span.end].starts_with('"'), "{text}: the span includes the quotes");
    }
    // Unicode names, bare.
    for (text, name) in
        [("年龄 >= 30", "年龄"), ("年龄>=30", "年龄"), ("🚀<-1", "🚀"), ("Ünïcödé != 0", "Ünïcödé"), ("x:y = 1", "x:y")]
    {
        let q = parse(text);
        let (got, op, v, span) = only_comparison(&q);
        assert_eq!(got, name, "{text}");
        assert_eq!(span, Some(span_of(text, name, 0)), "{text}");
        assert_eq!(parse(&q.to_string()), cmp(name, op, v), "{text}");
    }
    assert_eq!(parse("年龄>=30").to_string(), "年龄 >= 30");
    let q = parse("vip AND  年龄>=30");
    let mut cmps = Vec::new();
    comparisons_of(q.expr(), &mut cmps);
    assert_eq!(cmps, [("年龄".to_owned(), CmpOp::Ge, 30, Some(Span::new(9, 15)))]);
    // A name followed by an operator is an attribute, the same name alone a tag.
    assert_eq!(parse("vip AND vip > 0"), tag("vip").and(cmp("vip", CmpOp::Gt, 0)));
    assert_ne!(parse("vip > 0"), tag("vip"));
    assert_eq!(parse("age"), tag("age"));
    // Names are case-sensitive, keywords are not.
    assert_ne!(parse("AGE >= 1"), parse("age >= 1"));
}

#[test]
fn comparisons_take_part_in_precedence_like_tags() {
    let ge30 = || cmp("age", CmpOp::Ge, 30);
    let lt40 = || cmp("age", CmpOp::Lt, 40);
    assert_eq!(parse("NOT age >= 30"), ge30().not());
    assert_eq!(parse("NOT age >= 30 AND vip"), ge30().not().and(tag("vip")));
    assert_eq!(parse("NOT (age >= 30 AND vip)"), ge30().and(tag("vip")).not());
    assert_eq!(parse("vip OR age >= 30 AND b"), tag("vip").or(ge30().and(tag("b"))));
    assert_eq!(parse("age >= 30 OR vip AND age < 40"), ge30().or(tag("vip").and(lt40())));
    assert_eq!(parse("(age >= 30 OR vip) AND age < 40"), ge30().or(tag("vip")).and(lt40()));
    assert_eq!(parse("NOT NOT age>=30"), ge30().not().not());
    assert_eq!(parse("vip AND NOT age >= 30"), tag("vip").and_not(ge30()));
    // Chains flatten into one group.
    let q = parse("age >= 30 AND age < 40 AND vip");
    assert_eq!(q, Query::all([ge30(), lt40(), tag("vip")]));
    let Expr::And(xs) = q.expr() else { panic!("{q:?}") };
    assert_eq!(xs.len(), 3);
    assert_eq!(q.to_string(), "age >= 30 AND age < 40 AND vip");
    let q = parse("(age = 1 OR age = 2) OR (age = 3)");
    assert_eq!(q, Query::any((1..=3).map(|v| cmp("age", CmpOp::Eq, v))));
    assert_eq!(q.to_string(), "age = 1 OR age = 2 OR age = 3");
    // Keywords are case-insensitive around comparisons.
    let want = ge30().and(tag("vip").not()).or(cmp("age", CmpOp::Lt, 5));
    for text in [
        "age >= 30 AND NOT vip OR age < 5",
        "age>=30 and not vip or age<5",
        "age>=30 AnD NoT vip oR age<5",
        "age >=30\tand\nNOT vip OR\u{a0}age< 5",
    ] {
        assert_eq!(parse(text), want, "{text}");
        assert_eq!(parse(text).to_string(), "age >= 30 AND NOT vip OR age < 5", "{text}");
    }
    assert_eq!(parse("not age=1 or not age!=2"), cmp("age", CmpOp::Eq, 1).not().or(cmp("age", CmpOp::Ne, 2).not()));
}

#[test]
fn comparisons_print_canonically() {
    for (input, want) in [
        ("age>=30", "age >= 30"),
        ("balance<-5", "balance < -5"),
        ("x=+5", "x = 5"),
        ("x = -0", "x = 0"),
        ("x<=0042", "x <= 42"),
        ("NOT(age>=30)", "NOT age >= 30"),
        ("NOT ((age>=30))", "NOT age >= 30"),
        ("(age>=30 or vip) and x!=-1", "(age >= 30 OR vip) AND x != -1"),
        ("\" my attr \"<=0", "\"my attr\" <= 0"),
        ("年龄>=30 AND 高消费", "年龄 >= 30 AND 高消费"),
        ("((age >= 1)) AND ((age < 2))", "age >= 1 AND age < 2"),
        ("x>-9223372036854775808 OR x<+9223372036854775807", "x > -9223372036854775808 OR x < 9223372036854775807"),
    ] {
        let q = parse(input);
        assert_eq!(q.to_string(), want, "{input}");
        assert_eq!(parse(want), q, "{input}");
        assert_eq!(parse(want).to_string(), want, "{input}: canonical text is a fixed point");
    }
    // The builder prints the same, and normalizes names like the parser.
    let q = Query::compare("  age ", CmpOp::Ge, 30).and(Query::compare("age", CmpOp::Lt, 40)).and(tag("vip"));
    assert_eq!(q.to_string(), "age >= 30 AND age < 40 AND vip");
    assert_eq!(q, parse("age>=30 AND age<40 AND vip"));
    assert_eq!(Query::compare("x / y", CmpOp::Ne, -3).to_string(), "x/y != -3");
    assert_eq!((!Query::compare("a b", CmpOp::Eq, 0)).to_string(), "NOT \"a b\" = 0");
}

// ---------------------------------------------------------------- errors

#[test]
fn operator_characters_in_tag_names_need_quotes() {
    // `= ! < >` are comparison operators now: unquoted, they make a comparison (or an error
    // that points at what is wrong with it); quoted, they are part of a tag name.
    const WHOLE_NUMBERS: &str = "compare with whole numbers";
    for (text, span, needle, hint_needle) in [
        ("a=b", Span::new(2, 3), "expected an integer after the comparison operator, found \"b\"", WHOLE_NUMBERS),
        ("x != y", Span::new(5, 6), "found \"y\"", WHOLE_NUMBERS),
        ("a<b>c", Span::new(2, 5), "found \"b>c\"", WHOLE_NUMBERS),
        ("a>", Span::new(2, 2), "expected an integer after >, found the end of the query", WHOLE_NUMBERS),
        ("高=", Span::new(4, 4), "expected an integer after =, found the end of the query", WHOLE_NUMBERS),
        ("vip AND !churned", Span::new(8, 9), "unknown operator \"!\"", "NOT vip"),
        ("x! = 1", Span::new(1, 2), "unknown operator \"!\"", "NOT vip"),
    ] {
        let (got, message, hint, _) = parse_err(text);
        assert_eq!(got, span, "{text}");
        assert!(message.contains(needle), "{text}: {message}");
        let hint = hint.unwrap_or_else(|| panic!("{text}: no hint"));
        assert!(hint.contains(hint_needle), "{text}: {hint}");
    }
    for name in ["a=b", "x != y", "a<b>c", "a>", "高=", "!churned", "<a", "<3", "x!", "=", "!=", ">= 3"] {
        let quoted = format!("\"{name}\"");
        assert_eq!(parse(&quoted), tag(name), "{quoted}");
        assert_eq!(tag(name).to_string(), quoted, "printing quotes {name:?}");
        assert_eq!(parse(&format!("{quoted} >= 3")), Query::compare(name, CmpOp::Ge, 3), "{quoted} >= 3");
    }
}

#[test]
fn terms_need_and_or() {
    for (text, span) in [
        ("vip outdoor", Span::new(4, 11)),
        ("a (b)", Span::new(2, 3)),
        ("(a) b", Span::new(4, 5)),
        ("a *", Span::new(2, 3)),
        ("a NOT b", Span::new(2, 5)),
        ("a(b)", Span::new(1, 2)),
    ] {
        let (got, message, hint, _) = parse_err(text);
        assert_eq!(got, span, "{text}");
        assert!(message.contains("expected AND, OR"), "{text}: {message}");
        assert!(hint.is_some_and(|h| h.contains("AND / OR")), "{text}");
    }
}

#[test]
fn empty_and_incomplete_queries_are_errors() {
    for text in ["", "   ", "\t\n"] {
        let (span, message, hint, _) = parse_err(text);
        assert_eq!(span, Span::new(0, text.len()), "{text:?}");
        assert_eq!(message, "empty query");
        assert!(hint.is_some());
    }
    for (text, span, needle) in [
        ("a AND", Span::new(5, 5), "end of the query"),
        ("NOT", Span::new(3, 3), "end of the query"),
        ("OR a", Span::new(0, 2), "keyword OR"),
        ("a AND AND b", Span::new(6, 9), "keyword AND"),
        ("()", Span::new(1, 2), "found ')'"),
        (")", Span::new(0, 1), "found ')'"),
        ("a)", Span::new(1, 2), "unmatched ')'"),
        ("(a", Span::new(2, 2), "expected ')'"),
        ("vip AND (x", Span::new(10, 10), "expected ')' to close the '(' at 8..9"),
    ] {
        let (got, message, ..) = parse_err(text);
        assert_eq!(got, span, "{text}");
        assert!(message.contains(needle), "{text}: {message}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let n = 10_000;
    for text in [
        format!("{}a{}", "(".repeat(n), ")".repeat(n)),
        format!("{}a", "NOT ".repeat(n)),
        format!("{}a", "NOT (".repeat(n)),
        "(".repeat(n),
        format!("{}a", "(a AND ".repeat(n)),
    ] {
        let (span, message, hint, _) = parse_err(&text);
        assert!(message.contains("nested deeper"), "{message}");
        assert!(span.end <= text.len());
        assert!(hint.is_some());
    }
}

#[test]
fn max_depth_parses_and_one_more_does_not() {
    let d = MAX_QUERY_DEPTH;
    let parens = |k: usize| format!("{}a{}", "(".repeat(k), ")".repeat(k));
    assert_eq!(parse(&parens(d)), tag("a"));
    assert!(message_of(&parens(d + 1)).contains("nested deeper"));

    let nots = |k: usize| format!("{}a", "NOT ".repeat(k));
    let q = parse(&nots(d));
    assert_eq!(q.depth(), d);
    assert_eq!(q.to_string(), nots(d));
    assert!(message_of(&nots(d + 1)).contains("nested deeper"));

    // Alternating AND / OR nested to the limit: the AST depth counts, not only parentheses.
    let alternating = |k: usize| {
        let mut q = tag("x0");
        for i in 1..=k {
            let t = tag(&format!("x{i}"));
            q = if i.is_multiple_of(2) { t.or(q) } else { t.and(q) };
        }
        q
    };
    let q = alternating(d);
    let parsed = parse(&q.to_string());
    assert_eq!(parsed, q);
    assert_eq!(parsed.depth(), d);
    assert!(message_of(&alternating(d + 1).to_string()).contains("nested deeper"));

    // Evaluating: the limit holds for built queries too.
    let mut engine = Engine::new();
    let c = engine.customer_id(0).unwrap();
    engine.tag(c, "a").unwrap();
    assert_eq!(engine.count(&nots(d)).unwrap(), u64::from(d.is_multiple_of(2)), "an even number of NOTs cancels out");
    let mut deep = tag("a");
    for _ in 0..=d {
        deep = deep.not();
    }
    assert!(
        matches!(engine.select(&deep), Err(Error::QueryTooLarge { found, limit, .. }) if found == d + 1 && limit == d)
    );
    let mut deeper = tag("a");
    for _ in 0..10_000 {
        deeper = deeper.not();
    }
    assert!(matches!(engine.count(&deeper), Err(Error::QueryTooLarge { .. })));
}

#[test]
fn long_flat_queries_are_fine() {
    // "a 100,000-term OR is fine": flat chains need no nesting.
    let n = 100_000;
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let text = names.join(" OR ");
    let q = parse(&text);
    let Expr::Or(xs) = q.expr() else { panic!("not an OR") };
    assert_eq!(xs.len(), n);
    assert_eq!(q.depth(), 1);
    assert_eq!(q.to_string(), text);
    let mut engine = Engine::new();
    for (i, name) in names.iter().enumerate().step_by(1000) {
        let c = engine.customer_id(i as u32).unwrap();
        engine.tag(c, name).unwrap();
    }
    for name in &names {
        engine.ensure_tag(name).unwrap();
    }
    assert_eq!(engine.count(&q).unwrap(), 100);
    let and_text = names[..1000].join(" AND ");
    assert_eq!(engine.count(&and_text).unwrap(), 0);
}

/// Builder-made queries may be nested far deeper than `MAX_QUERY_DEPTH` (evaluation refuses
/// them with `QueryTooLarge`); they print and drop without recursion, and must clone and
/// compare without overflowing the stack too. A stack overflow aborts the process, so the
/// check runs in a child process.
#[test]
fn deep_built_queries_clone_and_compare_without_stack_overflow() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "deep_built_query_child", "--test-threads=1"])
        .env("AUDIENCE_DEEP_QUERY_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child process: {}\n{stderr}", out.status);
    assert!(stdout.contains("1 passed"), "the child ran the check:\n{stdout}");
}

/// Run by `deep_built_queries_clone_and_compare_without_stack_overflow`; a no-op otherwise.
#[test]
fn deep_built_query_child() {
    if std::env::var_os("AUDIENCE_DEEP_QUERY_CHILD").is_none() {
        return;
    }
    // As deep as the hostile texts above; 10,000 levels already overflow a 2 MiB test thread.
    let deep = || {
        let mut q = tag("a");
        for _ in 0..10_000 {
            q = q.not();
        }
        q
    };
    let q = deep();
    assert_eq!(q.to_string().len(), 10_000 * 4 + 1);
    let mut engine = Engine::new();
    engine.ensure_tag("a").unwrap();
    assert!(matches!(engine.count(&q), Err(Error::QueryTooLarge { .. })));
    let copy = q.clone();
    assert!(copy == deep());
}

#[test]
fn equal_queries_evaluate_alike_whatever_their_history() {
    // `Query::all([q])` is `q` itself (canonical form): wrapping it must not make it "deeper".
    let a_or_b = tag("a").or(tag("b"));
    let mut wrapped = a_or_b.clone();
    for _ in 0..MAX_QUERY_DEPTH {
        wrapped = Query::all([wrapped]);
    }
    assert_eq!(wrapped, a_or_b);
    assert_eq!(wrapped.to_string(), "a OR b");
    let mut engine = Engine::new();
    let c = engine.customer_id(0).unwrap();
    engine.tag(c, "a").unwrap();
    engine.tag(c, "b").unwrap();
    assert_eq!(engine.count(&a_or_b).unwrap(), 1);
    assert_eq!(engine.count(&parse(&wrapped.to_string())).unwrap(), 1);
    assert_eq!(engine.count(&wrapped).unwrap(), 1, "depth {} for a query of depth 1", wrapped.depth());
}

// ---------------------------------------------------------------- rendered errors

fn vip_engine() -> Engine {
    let mut engine = Engine::new();
    engine.define_tag("vip", TagKind::Value).unwrap();
    engine
}

#[test]
fn unknown_tag_renders_exactly() {
    let engine = vip_engine();
    let err = engine.query("vpi").unwrap_err();
    assert_eq!(err.to_string(), "unknown tag \"vpi\" at 0..3 (did you mean \"vip\"?)\n  vpi\n  ^^^");
    let err = engine.query("vip OR  vpi").unwrap_err();
    assert_eq!(err.to_string(), "unknown tag \"vpi\" at 8..11 (did you mean \"vip\"?)\n  vip OR  vpi\n          ^^^");
    let err = engine.query("zzzz").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown tag \"zzzz\" at 0..4 (hint: define it with Engine::define_tag, or check the spelling)\n  zzzz\n  ^^^^"
    );
}

#[test]
fn parse_error_renders_exactly() {
    let engine = vip_engine();
    let err = engine.query("vip AND (x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parse error at 10..10: expected ')' to close the '(' at 8..9\n  vip AND (x\n            ^\nhint: add the missing ')'"
    );
    let err = engine.query("age == 3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parse error at 4..6: unknown operator \"==\"\n  age == 3\n      ^^\nhint: write = for equality, e.g. age = 30"
    );
    let err = engine.query("vip AND !churned").unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parse error at 8..9: unknown operator \"!\"\n  vip AND !churned\n          ^\n\
         hint: write NOT to negate, e.g. NOT vip (or != to compare)"
    );
    let err = engine.query(">= 3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parse error at 0..2: >= needs an attribute name on its left\n  >= 3\n  ^^\n\
         hint: write the attribute first, e.g. age >= 30"
    );
    let literal_hint = "hint: attribute predicates compare with whole numbers (i64, from -9223372036854775808 to \
                        9223372036854775807), e.g. age >= 30; money is in minor units: monetary >= 10000";
    let err = engine.query("age >= 3.5").unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parse error at 7..10: expected an integer after the comparison operator, found \"3.5\"\n  \
         age >= 3.5\n         ^^^\n\
         hint: attribute predicates compare with whole numbers, e.g. age >= 30 (money in minor units: \
         monetary >= 10000); a tag name containing = ! < > is written double-quoted, e.g. \"a=b\""
    );
    let err = engine.query("age<9223372036854775808").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "query parse error at 4..23: integer 9223372036854775808 is out of range\n  \
             age<9223372036854775808\n      ^^^^^^^^^^^^^^^^^^^\n{literal_hint}"
        )
    );
    let err = engine.query("vip AND age >=").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "query parse error at 14..14: expected an integer after >=, found the end of the query\n  \
             vip AND age >=\n                ^\n{literal_hint}"
        )
    );
}

#[test]
fn unknown_attribute_renders_exactly() {
    let mut engine = vip_engine();
    let c = engine.customer("c").unwrap();
    engine.set_attr(c, "age", 30).unwrap();
    let err = engine.query("vip AND agee >= 3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown attribute \"agee\" at 8..12 (did you mean \"age\"?)\n  vip AND agee >= 3\n          ^^^^"
    );
    // Tags are not attributes: the tag vip does not make `vip > 0` known.
    let err = engine.query("vip>0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown attribute \"vip\" at 0..3 (hint: no customer has a value for it; set one with Engine::set_attr, \
         or check the spelling)\n  vip>0\n  ^^^"
    );
    // A wide name: two carets per character.
    let err = engine.query("年龄 >= 30").unwrap_err();
    assert!(err.to_string().ends_with("\n  年龄 >= 30\n  ^^^^"), "{err}");
}

#[test]
fn carets_count_wide_characters_twice() {
    let mut engine = vip_engine();
    engine.define_tag("高消费", TagKind::Value).unwrap();
    // 高消费 is 9 bytes and 6 columns.
    let err = engine.query("高消费 AND (x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "query parse error at 16..16: expected ')' to close the '(' at 14..15\n  高消费 AND (x\n               ^\nhint: add the missing ')'"
    );
    let err = engine.query("高消费 AND vpi").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown tag \"vpi\" at 14..17 (did you mean \"vip\"?)\n  高消费 AND vpi\n             ^^^"
    );
    // The unknown name itself is wide: two carets per character.
    let err = engine.query("高消 AND vip").unwrap_err();
    assert_eq!(err.to_string(), "unknown tag \"高消\" at 0..6 (did you mean \"高消费\"?)\n  高消 AND vip\n  ^^^^");
    // Full-width forms are wide too.
    let err = Query::parse("ＡＢ ＣＤ").unwrap_err();
    assert!(err.to_string().ends_with("\n  ＡＢ ＣＤ\n       ^^^^\nhint: join terms with AND / OR; a name with spaces is written double-quoted, e.g. \"High Value\""), "{err}");
}

#[test]
fn carets_count_wide_emoji_twice() {
    // U+1F680 ROCKET has East_Asian_Width=W: a terminal gives it two columns, like 高.
    let mut engine = vip_engine();
    engine.define_tag("🚀", TagKind::Interest).unwrap();
    let err = engine.query("🚀 AND vpi").unwrap_err();
    assert_eq!(err.to_string(), "unknown tag \"vpi\" at 9..12 (did you mean \"vip\"?)\n  🚀 AND vpi\n         ^^^");
}
