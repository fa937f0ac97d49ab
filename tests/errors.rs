//! Errors carry context: each error's payload (the name, the id, the span and query text,
//! suggestions closest first, the reason, the conflicting values), what a refused call leaves
//! unchanged, and the messages they print. How parse errors render under the query, carets
//! and all, is in `parser.rs`.

mod common;

use audience::{
    CustomerId, Engine, Error, KeyProblem, MAX_QUERY_DEPTH, MAX_QUERY_TERMS, NameProblem, Query, Span, TagKind,
};
use common::{Result, suggestions};

#[test]
fn unknown_tag_has_suggestions_closest_first_and_points_at_the_query() {
    let mut engine = Engine::new();
    let c = engine.customer("c").unwrap();
    for t in ["aaoutdor", "outdoor", "indoor", "vip"] {
        engine.tag(c, t).unwrap();
    }
    let err = engine.query("vip AND outdor").unwrap_err();
    let Error::UnknownTag { name, span, query, suggestions } = &err else { panic!("{err:?}") };
    assert_eq!(name, "outdor");
    assert_eq!(*span, Some(Span::new(8, 14)));
    assert_eq!(query.as_deref(), Some("vip AND outdor"));
    // outdoor is 1 edit away, aaoutdor 2: closest first, not alphabetical.
    assert_eq!(suggestions, &["outdoor", "aaoutdor"]);
    assert!(err.to_string().contains("did you mean one of \"outdoor\", \"aaoutdor\"?"), "{err}");

    // At most three.
    for t in ["v", "vipp", "vips"] {
        engine.tag(c, t).unwrap();
    }
    let Err(Error::UnknownTag { suggestions, .. }) = engine.query("vi") else { panic!() };
    assert_eq!(suggestions, ["v", "vip", "vipp"]);

    // Not from a parsed query: no span, no query text.
    let err = engine.untag(c, "vpi").unwrap_err();
    assert_eq!(
        err,
        Error::UnknownTag {
            name: "vpi".into(),
            span: None,
            query: None,
            suggestions: vec!["vip".into(), "v".into(), "vipp".into()]
        }
    );
    let Err(Error::UnknownTag { span, query, .. }) = engine.select(&Query::tag("outdor")) else { panic!() };
    assert_eq!((span, query), (None, None));
    assert!(matches!(engine.tag_info("nope"), Err(Error::UnknownTag { .. })));
    assert!(matches!(engine.tag_count("nope"), Err(Error::UnknownTag { .. })));
}

#[test]
fn suggestions_with_ties_are_at_most_three_and_closest_first() -> Result {
    let mut e = Engine::new();
    // Four names at distance 1 from "vip": only three are suggested, the same every time.
    for n in ["vipa", "vipb", "vipc", "vipd", "unrelated"] {
        e.ensure_tag(n)?;
    }
    let first = suggestions(e.count("vip"));
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().all(|s| ["vipa", "vipb", "vipc", "vipd"].contains(&s.as_str())), "{first:?}");
    assert_eq!(suggestions(e.count("vip")), first, "suggestions are deterministic");

    // Closest first even when alphabetical order says otherwise.
    e.ensure_tag("zbcd")?; // distance 1 from "abcd"
    e.ensure_tag("abxy")?; // distance 2
    assert_eq!(suggestions(e.count("abcd")), ["zbcd", "abxy"]);
    Ok(())
}

#[test]
fn unknown_customer_has_the_id() {
    let mut engine = Engine::new();
    let a = engine.customer("a").unwrap();
    let ghost = CustomerId(99);
    assert_eq!(engine.tag(ghost, "vip"), Err(Error::UnknownCustomer { id: ghost }));
    assert_eq!(engine.tag_id("vip"), None, "a failed tag call creates nothing");
    assert_eq!(engine.untag(ghost, "vip"), Err(Error::UnknownCustomer { id: ghost }));
    assert_eq!(engine.tags_of(ghost), Err(Error::UnknownCustomer { id: ghost }));
    engine.tag(a, "vip").unwrap();
    engine.remove_customer(a).unwrap();
    assert_eq!(engine.remove_customer(a), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(engine.tag(a, "vip"), Err(Error::UnknownCustomer { id: a }));
    assert!(!engine.is_customer(a));
    assert_eq!(engine.id_of("a"), None);
    assert_eq!(engine.key_of(a), None);
    // A removed id is not handed out again.
    assert_ne!(engine.customer("a").unwrap(), a);
    // Removing one keyed customer leaves the other keys resolving both ways.
    let b = engine.customer("b").unwrap();
    let c = engine.customer("c").unwrap();
    let d = engine.customer_id(1000).unwrap();
    let e = engine.customer("e").unwrap();
    engine.remove_customer(b).unwrap();
    for (key, id) in [("c", c), ("e", e)] {
        assert_eq!(engine.id_of(key), Some(id));
        assert_eq!(engine.key_of(id), Some(key));
    }
    assert_eq!(engine.key_of(d), None, "registered by id: no key");
    assert_eq!(e, CustomerId(1001), "keys get ids above every registered id");
    assert_eq!(engine.stats().keyed_customers, 3);
    assert_eq!(engine.customer_count(), 4);
    let msg = Error::UnknownCustomer { id: ghost }.to_string();
    assert!(msg.contains("#99"), "{msg}");
}

#[test]
fn invalid_names_and_keys_say_why() {
    let mut engine = Engine::new();
    let c = engine.customer("c").unwrap();
    let empty_level = NameProblem::EmptyLevel;
    for (bad, why) in [
        ("", NameProblem::Empty),
        ("   ", NameProblem::Empty),
        ("a//b", empty_level.clone()),
        ("/a", empty_level.clone()),
        ("a/", empty_level),
        ("a\nb", NameProblem::Control { ch: '\n', at: 1 }),
    ] {
        let err = engine.tag(c, bad).unwrap_err();
        let Error::InvalidTagName { name, reason } = &err else { panic!("{bad:?}: {err:?}") };
        assert_eq!(name, bad);
        assert_eq!(*reason, why, "{bad:?}");
        assert!(!reason.to_string().is_empty());
        assert!(err.to_string().contains(&reason.to_string()));
        assert!(matches!(engine.define_tag(bad, TagKind::Value), Err(Error::InvalidTagName { .. })), "{bad:?}");
    }
    for (bad, why) in
        [("a:b", NameProblem::GroupSeparator), ("a/b", NameProblem::GroupSeparator), ("", NameProblem::Empty)]
    {
        let Err(Error::InvalidTagName { reason, .. }) = engine.define_exclusive_group(bad) else { panic!("{bad:?}") };
        assert_eq!(reason, why, "{bad:?}");
    }
    assert_eq!(engine.stats().tags, 0, "nothing created");
    let Err(Error::InvalidCustomerKey { key, reason }) = engine.customer("") else { panic!() };
    assert_eq!(key, "");
    assert_eq!(reason, KeyProblem::Empty);
}

#[test]
fn parse_errors_have_span_message_and_hint() {
    let engine = Engine::new();
    let Err(Error::Parse { query, span, message, hint }) = engine.query("vip outdoor") else { panic!() };
    assert_eq!(query, "vip outdoor");
    assert_eq!(span, Span::new(4, 11));
    assert!(message.contains("expected AND, OR"), "{message}");
    assert!(hint.is_some());
    assert!(matches!(engine.count("a AND"), Err(Error::Parse { .. })));
    assert!(matches!(engine.explain("(a"), Err(Error::Parse { .. })));
}

#[test]
fn tag_kind_conflict() {
    let mut engine = Engine::new();
    let vip = engine.define_tag("vip", TagKind::Value).unwrap();
    assert_eq!(
        engine.define_tag("vip", TagKind::Behavior),
        Err(Error::TagKindConflict { name: "vip".into(), existing: TagKind::Value, requested: TagKind::Behavior })
    );
    assert_eq!(engine.tag_info("vip").unwrap().kind, TagKind::Value, "unchanged");
    // set_tag_kind is the explicit way.
    engine.set_tag_kind("vip", TagKind::Behavior).unwrap();
    assert_eq!(engine.define_tag(" vip ", TagKind::Behavior), Ok(vip));
}

#[test]
fn tag_has_children() {
    let mut engine = Engine::new();
    let c = engine.customer("c").unwrap();
    engine.tag(c, "interest/sports/running").unwrap();
    engine.tag(c, "interest/sports/cycling").unwrap();
    let err = engine.delete_tag("interest").unwrap_err();
    assert_eq!(err, Error::TagHasChildren { name: "interest".into(), children: vec!["interest/sports".into()] });
    assert!(err.to_string().contains("1 child tag(s), e.g. \"interest/sports\""), "{err}");
    let Err(Error::TagHasChildren { children, .. }) = engine.delete_tag("interest/sports") else { panic!() };
    assert_eq!(children, ["interest/sports/running", "interest/sports/cycling"]);
    assert_eq!(engine.stats().tags, 4, "nothing deleted");
    assert_eq!(engine.count("interest").unwrap(), 1);
    // Deepest first works.
    assert_eq!(engine.delete_tag("interest/sports/running"), Ok(1));
    assert_eq!(engine.delete_tag("interest/sports/cycling"), Ok(1));
    assert_eq!(engine.delete_tag("interest/sports"), Ok(0));
    assert_eq!(engine.delete_tag("interest"), Ok(0));
    assert_eq!(engine.stats().tags, 0);
    assert_eq!(engine.tags_of(c).unwrap(), Vec::<&str>::new());
}

#[test]
fn tag_exists_on_rename() {
    let mut engine = Engine::new();
    let c = engine.customer("c").unwrap();
    engine.tag(c, "a").unwrap();
    engine.tag(c, "b/x").unwrap();
    assert_eq!(engine.rename_tag("a", "b"), Err(Error::TagExists { name: "b".into() }));
    assert_eq!(engine.rename_tag("b/x", "a"), Err(Error::TagExists { name: "a".into() }));
    assert_eq!(engine.tag_name(engine.tag_id("b/x").unwrap()), Some("b/x"), "nothing changed");
    assert!(engine.tag_id("a").is_some());
    assert_eq!(engine.rename_tag("a", " a "), Ok(()), "renaming to its own name is a no-op");
}

#[test]
fn exclusive_conflict_on_declare_and_on_rename() {
    let mut engine = Engine::new();
    let c = engine.customer("c").unwrap();
    engine.tag(c, "tier:gold").unwrap();
    engine.tag(c, "tier:silver").unwrap();
    assert_eq!(
        engine.define_exclusive_group("tier"),
        Err(Error::ExclusiveConflict {
            group: "tier".into(),
            customer: c,
            first: "tier:gold".into(),
            second: "tier:silver".into()
        })
    );
    assert_eq!(engine.exclusive_groups().count(), 0, "not declared");
    let shown = engine.define_exclusive_group("tier").unwrap_err().to_string();
    assert!(shown.contains("\"tier:gold\"") && shown.contains("\"tier:silver\"") && shown.contains("#0"), "{shown}");
    engine.untag(c, "tier:silver").unwrap();
    engine.define_exclusive_group("tier").unwrap();
    assert_eq!(engine.exclusive_groups().collect::<Vec<_>>(), ["tier"]);
    engine.define_exclusive_group("tier").unwrap(); // again: a no-op

    // Renaming a tag into the group would give c two values.
    engine.tag(c, "premium").unwrap();
    let d = engine.customer("d").unwrap();
    engine.tag(d, "premium").unwrap();
    let premium = engine.tag_id("premium").unwrap();
    assert_eq!(
        engine.rename_tag("premium", "tier:premium"),
        Err(Error::ExclusiveConflict {
            group: "tier".into(),
            customer: c,
            first: "tier:gold".into(),
            second: "tier:premium".into()
        })
    );
    assert_eq!(engine.tag_id("premium"), Some(premium), "nothing changed");
    assert_eq!(engine.tag_id("tier:premium"), None);
    // Without the conflict it joins the group.
    engine.untag(c, "premium").unwrap();
    engine.rename_tag("premium", "tier:premium").unwrap();
    assert_eq!(engine.tag_id("tier:premium"), Some(premium));
    assert_eq!(engine.tag_info("tier:premium").unwrap().group, Some("tier"));
    engine.tag(d, "tier:gold").unwrap();
    assert_eq!(engine.tags_of(d).unwrap(), ["tier:gold"], "tier:premium replaced");
}

#[test]
fn unknown_group_lists_the_known_ones() {
    let mut engine = Engine::new();
    engine.define_exclusive_group("tier").unwrap();
    engine.define_exclusive_group("age").unwrap();
    assert_eq!(
        engine.tags_in_group("region"),
        Err(Error::UnknownGroup { name: "region".into(), known: vec!["tier".into(), "age".into()] })
    );
    assert!(matches!(engine.tags_in_group("a:b"), Err(Error::InvalidTagName { .. })));
}

#[test]
fn other_errors() {
    let mut engine = Engine::new();
    let c = engine.customer("c").unwrap();
    let gone = engine.define_tag("gone", TagKind::Custom).unwrap();
    engine.delete_tag("gone").unwrap();
    assert_eq!(engine.tag_id_pairs([(c, gone)]), Err(Error::UnknownTagId { id: gone }));
    assert_eq!(engine.tag_name(gone), None);
    let mut q = Query::tag("x");
    for _ in 0..=MAX_QUERY_DEPTH {
        q = !q;
    }
    engine.tag(c, "x").unwrap();
    assert_eq!(
        engine.count(&q),
        Err(Error::QueryTooLarge { what: "nesting depth", found: MAX_QUERY_DEPTH + 1, limit: MAX_QUERY_DEPTH })
    );
    let huge = Query::any((0..=MAX_QUERY_TERMS).map(|_| Query::tag("x")));
    assert_eq!(
        engine.count(&huge),
        Err(Error::QueryTooLarge { what: "number of terms", found: MAX_QUERY_TERMS + 1, limit: MAX_QUERY_TERMS })
    );
}
