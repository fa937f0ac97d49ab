//! The query language printed and parsed back: canonical printing round trips of built
//! queries (names that need quoting, comparisons, keyword case, white space), built and
//! printed queries selecting alike, and hostile text (random tokens, characters and strings,
//! hand-picked regressions) that must parse to canonical text or fail with an error that
//! points inside the input.

mod common;

use audience::{CmpOp, Engine, Error, Expr, Query};
use common::model::normalize;
use common::query::{comparisons_of, tags_of};
use common::{DERIVED_ATTRS, DERIVED_GROUPS, compact, config};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers

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
