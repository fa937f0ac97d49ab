//! Evaluating queries: the empty engine and a lone customer, operands of equal size, `NOT`
//! relative to the live customers, queries of 100,000 terms and 10,000 levels (and the
//! limits), `explain` (counts, labels, the printed tree), and random queries against the
//! naive model. The grammar itself is in `parser.rs`; comparisons in `attributes.rs`.

mod common;

use audience::{
    Audience, CustomerId, Engine, Error, Explain, ExplainNode, MAX_QUERY_DEPTH, MAX_QUERY_TERMS, Page, Query, TagKind,
};
use common::model::{Model, Q};
use common::{Result, config, ids, members};
use proptest::prelude::*;

// ------------------------------------------------------------------ empty engine, one customer

#[test]
fn empty_engine_answers_every_query_with_nobody() -> Result {
    let mut e = Engine::new();
    assert_eq!(e.count("*")?, 0);
    assert_eq!(e.count("NOT *")?, 0);
    assert_eq!(e.count("NOT NOT *")?, 0);
    assert_eq!(e.count("* OR NOT *")?, 0);
    assert!(e.query("*")?.is_empty());
    for q in [Query::everyone(), Query::nobody(), Query::all([]), Query::any([])] {
        assert_eq!(e.count(&q)?, 0, "{q}");
        assert!(e.select(&q)?.is_empty(), "{q}");
        assert_eq!(e.explain(&q)?.count(), 0, "{q}");
    }
    assert_eq!(e.customer_count(), 0);
    assert!(e.customers().is_empty());
    assert_eq!(e.tags().count(), 0);
    assert_eq!(e.exclusive_groups().count(), 0);

    // Unknown tags: no suggestions in an empty pool; text queries point at the name.
    match e.count("vip") {
        Err(Error::UnknownTag { name, span, query, suggestions }) => {
            assert_eq!(name, "vip");
            assert_eq!(span.map(|s| (s.start, s.end)), Some((0, 3)));
            assert_eq!(query.as_deref(), Some("vip"));
            assert!(suggestions.is_empty(), "{suggestions:?}");
        }
        other => panic!("expected UnknownTag, got {other:?}"),
    }
    assert!(matches!(e.select(&Query::tag("vip")), Err(Error::UnknownTag { span: None, .. })));
    assert!(matches!(e.count("* AND NOT vip"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.tag_count("vip"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.count(""), Err(Error::Parse { .. })));

    // Nothing to act on.
    let nobody = CustomerId(0);
    assert_eq!(e.tags_of(nobody), Err(Error::UnknownCustomer { id: nobody }));
    assert_eq!(e.untag(nobody, "vip"), Err(Error::UnknownCustomer { id: nobody }));
    assert_eq!(e.tag(nobody, "vip"), Err(Error::UnknownCustomer { id: nobody }));
    assert_eq!(e.remove_customer(nobody), Err(Error::UnknownCustomer { id: nobody }));
    assert!(matches!(e.delete_tag("vip"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.rename_tag("vip", "v"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.untag_all(&Audience::new(), "vip"), Err(Error::UnknownTag { .. })));
    assert_eq!(e.key_of(nobody), None);
    assert_eq!(e.id_of("x"), None);
    assert_eq!(e.tag_count("vip").ok(), None);
    assert_eq!(e.tag(nobody, "vip").ok(), None);
    assert_eq!(e.tags().count(), 0, "a failed tag call created a tag");

    // Tagging nobody still creates the tag: it becomes a known name with no members.
    assert_eq!(e.tag_all(&Audience::new(), "vip")?, 0);
    assert_eq!(e.count("vip")?, 0);
    assert_eq!(e.count("NOT vip")?, 0);
    assert_eq!(e.tag_pairs(Vec::<(CustomerId, &str)>::new())?, 0);
    Ok(())
}

#[test]
fn one_customer() -> Result {
    let mut e = Engine::new();
    let c = e.customer("only")?;
    assert_eq!(c, CustomerId(0));
    assert_eq!(e.count("*")?, 1);
    assert_eq!(e.count("NOT *")?, 0);
    assert_eq!(e.tag(c, "vip"), Ok(true));
    assert_eq!(e.tag(c, "vip"), Ok(false));
    assert_eq!(members(&e, "vip"), [0]);
    assert_eq!(e.count("NOT vip")?, 0);
    assert_eq!(e.count("vip AND NOT vip")?, 0);
    assert_eq!(e.count("vip OR NOT vip")?, 1);
    assert_eq!(e.customers().page(None, 1), Page { ids: vec![c], next: None });

    assert_eq!(e.untag(c, "vip"), Ok(true));
    assert_eq!(e.untag(c, "vip"), Ok(false));
    assert_eq!(e.count("vip")?, 0, "the tag stays known, with no members");
    assert_eq!(members(&e, "NOT vip"), [0]);

    e.tag(c, "vip")?;
    e.remove_customer(c)?;
    assert_eq!(e.count("*")?, 0);
    assert_eq!(e.count("vip")?, 0);
    assert_eq!(e.count("NOT vip")?, 0, "a removed customer is not counted by NOT");
    assert_eq!(e.tag_info("vip")?.len, 0);
    Ok(())
}

// ------------------------------------------------------------------ ties

#[test]
fn equally_sized_operands_in_either_order() -> Result {
    // Two tags with the same cardinality (the planner's sort key ties) and different members.
    let mut e = Engine::new();
    for i in 0..6 {
        e.customer_id(i).unwrap();
    }
    e.tag_pairs([(0, "a"), (1, "a"), (2, "a"), (2, "b"), (3, "b"), (4, "b")].map(|(c, t)| (CustomerId(c), t)))?;
    assert_eq!(e.tag_info("a")?.len, e.tag_info("b")?.len);
    for (text, want) in [
        ("a AND b", vec![2]),
        ("b AND a", vec![2]),
        ("a OR b", vec![0, 1, 2, 3, 4]),
        ("b OR a", vec![0, 1, 2, 3, 4]),
        ("a AND NOT b", vec![0, 1]),
        ("b AND NOT a", vec![3, 4]),
        ("NOT a AND NOT b", vec![5]),
        ("NOT b AND NOT a", vec![5]),
        ("NOT a OR NOT b", vec![0, 1, 3, 4, 5]),
    ] {
        assert_eq!(members(&e, text), want, "{text}");
        assert_eq!(e.count(text)?, want.len() as u64, "{text}");
    }
    Ok(())
}

// ------------------------------------------------------------------ huge and deep queries

const TERMS: usize = 100_000;

/// Customers 0..2*TERMS; customer 2i carries tag `t{i}`.
fn wide_engine() -> Result<Engine> {
    let mut e = Engine::new();
    for i in 0..2 * TERMS as u32 {
        e.customer_id(i).unwrap();
    }
    let names: Vec<String> = (0..TERMS).map(|i| format!("t{i}")).collect();
    let added = e.tag_pairs(names.iter().enumerate().map(|(i, n)| (CustomerId(2 * i as u32), n)))?;
    assert_eq!(added, TERMS as u64);
    Ok(e)
}

#[test]
fn a_100_000_term_or_evaluates_correctly() -> Result {
    let e = wide_engine()?;
    let evens: Vec<u32> = (0..TERMS as u32).map(|i| 2 * i).collect();
    let odds: Vec<u32> = (0..TERMS as u32).map(|i| 2 * i + 1).collect();
    let text = (0..TERMS).map(|i| format!("t{i}")).collect::<Vec<_>>().join(" OR ");
    let built = Query::any((0..TERMS).map(|i| Query::tag(format!("t{i}"))));
    assert_eq!(Query::parse(&text)?, built);
    assert_eq!(built.to_string(), text);

    assert_eq!(e.count(&text)?, TERMS as u64);
    assert_eq!(members(&e, &text), evens);
    assert_eq!(e.count(&built)?, TERMS as u64);
    assert_eq!(ids(&e.select(&built)?), evens);
    assert_eq!(e.explain(&built)?.count(), TERMS as u64);
    assert_eq!(ids(&e.select(&built.clone().not())?), odds);
    assert_eq!(e.count(&format!("NOT ({text})"))?, TERMS as u64);

    // Every other term: every fourth customer.
    let half = Query::any((0..TERMS).step_by(2).map(|i| Query::tag(format!("t{i}"))));
    assert_eq!(ids(&e.select(&half)?), (0..TERMS as u32).step_by(2).map(|i| 2 * i).collect::<Vec<_>>());

    // One unknown term among them is reported by name.
    let bad = format!("{text} OR t{TERMS}");
    assert!(matches!(e.count(&bad), Err(Error::UnknownTag { name, .. }) if name == format!("t{TERMS}")));
    Ok(())
}

#[test]
fn more_terms_than_the_limit_are_refused() -> Result {
    let mut e = Engine::new();
    e.ensure_tag("a")?; // known, so the size is what is refused
    let q = Query::any((0..=MAX_QUERY_TERMS).map(|_| Query::tag("a")));
    match e.count(&q) {
        Err(Error::QueryTooLarge { what, limit, found }) => {
            assert_eq!((what, limit), ("number of terms", MAX_QUERY_TERMS));
            assert!(found > MAX_QUERY_TERMS, "{found}");
        }
        other => panic!("expected QueryTooLarge, got {other:?}"),
    }
    Ok(())
}

const DEEP: usize = 10_000;

fn nots(n: usize) -> Query {
    let mut q = Query::tag("a");
    for _ in 0..n {
        q = q.not();
    }
    q
}

fn too_deep(r: Result<u64>) -> bool {
    matches!(r, Err(Error::QueryTooLarge { what: "nesting depth", limit: MAX_QUERY_DEPTH, .. }))
}

#[test]
fn a_query_nested_10_000_deep_is_an_error_not_a_stack_overflow() -> Result {
    // Runs on the default test thread's stack on purpose.
    let mut e = Engine::new();
    let c = e.customer("c")?;
    e.tag(c, "a")?;
    e.tag(c, "b")?;

    // Text: parse errors.
    let parens = format!("{}a{}", "(".repeat(DEEP), ")".repeat(DEEP));
    let not_text = format!("{}a", "NOT ".repeat(DEEP));
    for text in [&parens, &not_text] {
        assert!(matches!(Query::parse(text), Err(Error::Parse { .. })));
        assert!(matches!(e.count(text.as_str()), Err(Error::Parse { .. })));
        assert!(matches!(e.query(text), Err(Error::Parse { .. })));
    }

    // Builder: a chain of NOTs.
    let deep = nots(DEEP);
    assert_eq!(deep.depth(), DEEP);
    assert!(too_deep(e.count(&deep)));
    assert!(too_deep(e.select(&deep).map(|a| a.len())));
    assert!(too_deep(e.explain(&deep).map(|x| x.count())));
    let text = deep.to_string();
    assert_eq!(text.len(), DEEP * 4 + 1);
    assert!(matches!(e.count(&text), Err(Error::Parse { .. })));

    // Builder: alternating AND / OR, printed with parentheses.
    let mut mixed = Query::tag("a");
    for i in 0..DEEP {
        mixed = if i % 2 == 0 { mixed.and(Query::tag("b")) } else { mixed.or(Query::tag("b")) };
    }
    assert!(mixed.depth() >= DEEP);
    assert!(too_deep(e.count(&mixed)));
    assert!(matches!(e.count(&mixed.to_string()), Err(Error::Parse { .. })));

    // One-operand groups are their operand: wrapping adds no depth.
    let mut wrapped = Query::tag("a").or(Query::tag("b"));
    for i in 0..DEEP {
        wrapped = if i % 2 == 0 { Query::all([wrapped]) } else { Query::any([wrapped]) };
    }
    assert_eq!(wrapped.to_string(), "a OR b");
    assert_eq!(wrapped.depth(), 1);
    assert_eq!(e.count(&wrapped)?, 1);
    Ok(())
}

#[test]
fn the_depth_limit_is_exact_for_text_and_builder() -> Result {
    let mut e = Engine::new();
    let c = e.customer("c")?;
    e.tag(c, "a")?;
    let at = nots(MAX_QUERY_DEPTH);
    assert_eq!(e.count(&at)?, 1, "an even number of NOTs");
    assert_eq!(e.count(&at.to_string())?, 1);
    let over = nots(MAX_QUERY_DEPTH + 1);
    assert!(too_deep(e.count(&over)));
    assert!(matches!(e.count(&over.to_string()), Err(Error::Parse { .. })));
    let parens = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(e.count(&parens(MAX_QUERY_DEPTH))?, 1);
    assert!(matches!(e.count(&parens(MAX_QUERY_DEPTH + 1)), Err(Error::Parse { .. })));
    Ok(())
}

// ------------------------------------------------------------------ explain

#[test]
fn explain_count_equals_count() -> Result {
    let mut e = Engine::new();
    for i in 0..40u32 {
        let c = e.customer(&format!("c{i}"))?;
        for (m, tag) in [(2, "a"), (3, "b"), (5, "c/d"), (7, "c/e/f"), (4, "高消费"), (6, "High Value")] {
            if i % m == 0 {
                e.tag(c, tag)?;
            }
        }
    }
    e.remove_customer(CustomerId(0))?;
    e.remove_customer(CustomerId(35))?;
    let live = e.customer_count();
    for text in [
        "*",
        "NOT *",
        "a",
        "c",
        "c/e",
        "NOT a",
        "a AND b",
        "a OR b",
        "a AND NOT b",
        "NOT a AND NOT b",
        "a OR NOT b",
        "NOT a OR NOT b",
        "a AND b AND NOT c AND NOT 高消费",
        "(a OR c) AND NOT (b OR \"High Value\")",
        "NOT (a AND NOT (b OR NOT c))",
        "* AND a",
        "a OR *",
        "a AND NOT *",
        "NOT NOT a",
    ] {
        let n = e.count(text)?;
        let plan = e.explain(text)?;
        assert_eq!(plan.count(), n, "{text}\n{plan}");
        assert_eq!(plan.root.cardinality, n, "{text}");
        assert_eq!(plan.live, live, "{text}");
        assert_eq!(e.query(text)?.len(), n, "{text}");
        let q = Query::parse(text)?;
        assert_eq!(e.explain(&q)?.count(), n, "{text}");
        assert_eq!(plan.query, q.to_string(), "{text}");
    }
    assert_eq!(e.count("NOT a")?, live - e.count("a")?);
    assert_eq!(e.count("c")?, e.count("c/d OR c/e/f")?);
    Ok(())
}

fn explain_engine() -> Engine {
    let mut engine = Engine::new();
    let tags: &[(&str, &[&str])] = &[
        ("c0", &["vip", "outdoor", "interest/sports/running"]),
        ("c1", &["vip", "High Value"]),
        ("c2", &["outdoor", "interest/outdoor"]),
        ("c3", &["vip", "outdoor", "x"]),
        ("c4", &["interest/sports"]),
        ("c5", &[]),
        ("gone", &["vip", "outdoor", "x"]),
    ];
    for (key, ts) in tags {
        let c = engine.customer(key).unwrap();
        for t in *ts {
            engine.tag(c, t).unwrap();
        }
    }
    engine.remove_customer(engine.id_of("gone").unwrap()).unwrap();
    engine
}

/// Checks the plan's cardinalities against its labels, and the Display against the tree.
fn check_explain(engine: &Engine, text: &str) -> Explain {
    let plan = engine.explain(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let count = engine.count(text).unwrap();
    assert_eq!(plan.count(), count, "{text}");
    assert_eq!(plan.root.cardinality, count, "{text}");
    assert_eq!(engine.query(text).unwrap().len(), count, "{text}");
    assert_eq!(plan.live, engine.customer_count());
    assert_eq!(plan.query, Query::parse(text).unwrap().to_string());
    assert_eq!(engine.explain(&Query::parse(text).unwrap()).unwrap(), plan, "{text}: text and Query alike");

    fn walk<'p>(n: &'p ExplainNode, depth: usize, live: u64, out: &mut Vec<(usize, &'p ExplainNode)>) {
        out.push((depth, n));
        assert!(n.cardinality <= live, "{}", n.label);
        let kids: Vec<u64> = n.children.iter().map(|c| c.cardinality).collect();
        let label = n.label.as_str();
        if label.starts_with("tag ") || label.starts_with("everyone") || label.starts_with("nobody") {
            assert!(kids.is_empty(), "{label} is a leaf");
        } else if label.starts_with("AND NOT") {
            assert!(kids.len() >= 2, "{label}");
            assert!(n.children[1..].iter().all(|c| c.label.starts_with("minus ")), "{label}");
            assert!(n.cardinality <= kids[0], "{label}");
        } else if label.starts_with("AND") {
            assert!(kids.len() >= 2, "{label}");
            assert!(kids.is_sorted(), "{label}: smallest first, got {kids:?}");
            assert!(n.cardinality <= kids[0], "{label}");
        } else if label.starts_with("OR") {
            assert!(kids.len() >= 2, "{label}");
            assert!(n.cardinality >= kids.iter().copied().max().unwrap_or(0), "{label}");
            assert!(n.cardinality <= kids.iter().sum::<u64>(), "{label}");
        } else if label.starts_with("NOT") {
            assert_eq!(kids.len(), 1, "{label}");
            assert_eq!(n.cardinality, live - kids[0], "{label}");
        } else if label.starts_with("minus ") {
            // a negative operand: same shapes as above, one level down
        } else {
            panic!("unexpected label {label:?}");
        }
        for c in &n.children {
            walk(c, depth + 1, live, out);
        }
    }
    let mut nodes = Vec::new();
    walk(&plan.root, 0, plan.live, &mut nodes);

    // Display: the query, the count, then one line per node in pre-order, children indented
    // further than their parent.
    let shown = plan.to_string();
    let mut lines = shown.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.contains(&plan.query), "{shown}");
    let second = lines.next().unwrap_or_default();
    assert!(second.contains(&format!("{count} ")) && second.contains(&format!("{} live", plan.live)), "{shown}");
    let tree: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(tree.len(), nodes.len(), "{shown}");
    let mut indent_at_depth: Vec<usize> = Vec::new();
    for (line, (depth, node)) in tree.iter().zip(&nodes) {
        let body = line.trim();
        assert!(body.starts_with(&node.label), "{line:?} vs {:?}", node.label);
        assert!(body.contains(&node.cardinality.to_string()), "{line:?}");
        let indent = line.len() - line.trim_start().len();
        indent_at_depth.truncate(*depth);
        if let Some(&parent) = indent_at_depth.last() {
            assert!(indent > parent, "{shown}");
        }
        indent_at_depth.push(indent);
    }
    plan
}

#[test]
fn explain_counts_and_labels() {
    let engine = explain_engine();
    for text in [
        "vip",
        "vip AND outdoor",
        "vip AND outdoor AND x",
        "vip OR outdoor",
        "vip OR outdoor OR x",
        "vip AND NOT outdoor",
        "vip AND NOT outdoor AND NOT x",
        "NOT vip",
        "NOT vip AND NOT outdoor",
        "vip OR NOT outdoor",
        "NOT vip OR NOT outdoor",
        "interest",
        "interest/sports",
        "interest AND NOT interest/sports",
        "*",
        "NOT *",
        "vip AND *",
        "vip AND NOT *",
        "vip OR *",
        "\"High Value\"",
        "(vip OR x) AND NOT (outdoor AND interest)",
        "NOT NOT vip",
    ] {
        check_explain(&engine, text);
    }

    let labels = |text: &str| -> Vec<String> {
        let plan = check_explain(&engine, text);
        let mut out = Vec::new();
        let mut stack = vec![&plan.root];
        while let Some(n) = stack.pop() {
            out.push(n.label.clone());
            stack.extend(n.children.iter().rev());
        }
        out
    };
    let first_words = |ls: Vec<String>| -> Vec<String> { ls.into_iter().map(|l| first_word(&l)).collect() };

    assert_eq!(labels("vip"), ["tag vip"]);
    assert_eq!(labels("\"High Value\""), ["tag \"High Value\""]);
    assert_eq!(first_words(labels("vip AND outdoor AND x")), ["AND", "tag", "tag", "tag"]);
    // smallest first: x (1) before vip (3) and outdoor (3)
    assert_eq!(labels("vip AND outdoor AND x")[1], "tag x");
    assert_eq!(first_words(labels("vip OR outdoor")), ["OR", "tag", "tag"]);
    let l = labels("vip AND NOT outdoor");
    assert!(l[0].starts_with("AND NOT"), "{l:?}");
    assert_eq!(l[1..], ["tag vip", "minus tag outdoor"]);
    // NOT a AND NOT b is the complement of a OR b
    assert_eq!(first_words(labels("NOT vip AND NOT outdoor")), ["NOT", "OR", "tag", "tag"]);
    // a OR NOT b is the complement of b AND NOT a
    let l = labels("vip OR NOT outdoor");
    assert!(l[0].starts_with("NOT") && l[1].starts_with("AND NOT"), "{l:?}");
    assert_eq!(l[2..], ["tag outdoor", "minus tag vip"]);
    assert_eq!(first_words(labels("NOT vip OR NOT outdoor")), ["NOT", "AND", "tag", "tag"]);
    // a parent is the union of its (non-empty) subtree
    assert_eq!(labels("interest")[1..], ["tag interest/sports", "tag interest/outdoor", "tag interest/sports/running"]);
    assert_eq!(first_words(labels("*")), ["everyone"]);
    assert_eq!(first_words(labels("vip AND NOT *")), ["nobody"]);
    assert_eq!(first_words(labels("vip OR *")), ["everyone"]);

    let plan = engine.explain("NOT vip").unwrap();
    assert_eq!((plan.count(), plan.live), (3, 6));
    assert!(plan.to_string().contains("3 of 6 live customers"), "{plan}");
}

fn first_word(label: &str) -> String {
    label.split_whitespace().next().unwrap_or_default().to_owned()
}

// ------------------------------------------------------------------ random queries against the model

const MODEL_TAGS: &[&str] = &["a", "b", "c", "p", "p/x", "p/y", "e"];

fn model_query() -> impl Strategy<Value = Query> {
    let leaf = prop_oneof![
        6 => prop::sample::select(MODEL_TAGS).prop_map(Query::tag),
        1 => Just(Query::everyone()),
        1 => Just(Query::nobody()),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Query::not),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and_not(b)),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Query::all),
            prop::collection::vec(inner, 1..4).prop_map(Query::any),
        ]
    })
}

proptest! {
    #![proptest_config(config(128))]

    /// select, count and explain agree with each other and with the naive model, which
    /// evaluates the query's syntax tree.
    #[test]
    fn select_count_explain_agree_with_a_model(
        assignments in prop::collection::vec(prop::collection::btree_set(prop::sample::select(&MODEL_TAGS[..6]), 0..4), 1..10),
        removed in prop::collection::vec(any::<bool>(), 10),
        q in model_query(),
    ) {
        let mut engine = Engine::new();
        let mut model = Model::default();
        engine.define_tag("e", TagKind::Custom).unwrap(); // a tag nobody carries
        model.ensure("e");
        for (i, ts) in assignments.iter().enumerate() {
            let c = engine.customer_id(i as u32).unwrap();
            model.customer_id(i as u32).unwrap();
            for t in ts {
                engine.tag(c, t).unwrap();
                model.tag(c.0, t).unwrap();
            }
        }
        for (i, gone) in removed.iter().enumerate().take(assignments.len()) {
            if *gone {
                engine.remove_customer(CustomerId(i as u32)).unwrap();
                model.remove(i as u32).unwrap();
            }
        }
        for t in ["a", "b", "c", "p", "p/x", "p/y"] {
            engine.ensure_tag(t).unwrap();
            model.ensure(t);
        }
        let want: Vec<u32> = model.eval(&Q::from_expr(q.expr())).expect("every name is known").into_iter().collect();
        let got = engine.select(&q).unwrap();
        prop_assert_eq!(got.to_ids(), want.clone(), "{}", q);
        prop_assert_eq!(engine.count(&q).unwrap(), want.len() as u64, "{}", q);
        prop_assert_eq!(engine.explain(&q).unwrap().count(), want.len() as u64, "{}", q);
        prop_assert_eq!(engine.query(&q.to_string()).unwrap(), got, "{}", q);
    }
}
