//! The query language's grammar: precedence, keywords, flattening, white space, quoting and
//! escapes, errors that point at the input (terms without AND / OR, empty and incomplete
//! queries, operator characters in tag names), the depth limit, and errors rendered exactly
//! (carets under wide characters). Attribute comparisons are in `parser_comparisons.rs`,
//! canonical printing round trips and hostile text in `printing.rs`.

mod common;

use audience::{CmpOp, Engine, Error, MAX_QUERY_DEPTH, Query, TagKind};
use audience::{Expr, Span};
use common::query::{parse, parse_err, tag, tags_of};

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
