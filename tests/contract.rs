//! The public contract: the quickstart, auto traits, error payloads, the tag pool, bulk
//! tagging, the `Audience` API and `explain`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use audience::{
    AsQuery, Audience, CustomerId, Engine, Error, Explain, ExplainNode, Iter, KeyProblem, MAX_QUERY_DEPTH,
    MAX_QUERY_TERMS, NameProblem, Page, Query, Stats, TagId, TagInfo, TagKind,
};
use audience::{Expr, Span, TagRef};
use proptest::prelude::*;

// ---------------------------------------------------------------- the quickstart

#[test]
#[rustfmt::skip]
fn quickstart() -> Result<(), audience::Error> {
    // QUICKSTART-BEGIN (verbatim from the crate docs in src/lib.rs)
    use audience::{Engine, Query, TagKind, CustomerId};

    let mut engine = Engine::new();
    let alice: CustomerId = engine.customer("alice@example.com")?;   // interns the key; same key, same id
    let bob = engine.customer("bob@example.com")?;
    assert_eq!(engine.customer("alice@example.com")?, alice);
    assert_eq!(engine.key_of(alice), Some("alice@example.com"));
    assert_eq!(engine.id_of("bob@example.com"), Some(bob));

    engine.define_tag("vip", TagKind::Value)?;                 // the managed tag pool
    engine.tag(alice, "vip")?;                                 // an undefined tag is created (TagKind::Custom)
    engine.tag(alice, "高消费")?;                              // Unicode names are first-class
    engine.tag(bob, "interest/sports/running")?;               // '/' builds a hierarchy
    engine.define_exclusive_group("tier")?;                    // single-choice group: tags "tier:<value>"
    engine.tag(bob, "tier:silver")?;
    engine.tag(bob, "tier:gold")?;                             // replaces tier:silver, atomically
    engine.untag(alice, "高消费")?;

    let a = engine.query("vip OR interest/sports")?;           // a parent matches its descendants
    assert_eq!(a.len(), 2);
    assert!(engine.query("tier:silver")?.is_empty());
    let typed = Query::tag("vip").or(Query::tag("interest/sports"));
    assert_eq!(engine.select(&typed)?.len(), 2);
    assert_eq!(engine.count("NOT vip")?, 1);                   // NOT is relative to live customers
    let ids: Vec<CustomerId> = a.iter().collect();             // ascending id order
    assert!(matches!(engine.query("vpi"), Err(audience::Error::UnknownTag { .. })));   // suggests "vip"
    assert!(matches!(engine.query("vip AND (x"), Err(audience::Error::Parse { .. })));
    engine.remove_customer(bob)?;                              // erased from every tag; not counted by NOT
    assert_eq!(engine.count("NOT vip")?, 0);
    let _ = ids;
    Ok::<(), audience::Error>(())
    // QUICKSTART-END
}

/// The code block of the crate docs, without `//!` and with hidden lines shown.
fn doc_quickstart() -> Vec<String> {
    let lib = include_str!("../src/lib.rs");
    let body: Vec<&str> = lib
        .lines()
        .map(|l| l.strip_prefix("//!").unwrap_or(l))
        .skip_while(|l| l.trim() != "```")
        .skip(1)
        .take_while(|l| l.trim() != "```")
        .collect();
    body.iter().map(|l| l.trim().trim_start_matches("# ").to_owned()).collect()
}

/// The same snippet as written in `quickstart` above.
fn test_quickstart() -> Vec<String> {
    let me = include_str!("contract.rs");
    let begin = me.find("// QUICKSTART-BEGIN").expect("marker");
    let end = me.find("// QUICKSTART-END").expect("marker");
    me[begin..end].lines().skip(1).map(|l| l.trim().to_owned()).collect()
}

#[test]
fn quickstart_test_is_the_crate_docs_verbatim() {
    let squash = |ls: Vec<String>| -> Vec<String> {
        ls.into_iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect()
    };
    let doc = squash(doc_quickstart());
    assert!(doc.len() > 20, "found the quickstart in src/lib.rs: {doc:?}");
    assert_eq!(squash(test_quickstart()), doc, "update the `quickstart` test to the crate docs");
}

// ---------------------------------------------------------------- auto traits

fn send_sync<T: Send + Sync>() {}
fn clone<T: Clone>() {}
fn debug<T: Debug>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_sync_clone_and_debug() {
    send_sync::<Engine>();
    send_sync::<Audience>();
    send_sync::<Query>();
    send_sync::<Error>();
    send_sync::<Explain>();
    clone::<Engine>();
    clone::<Audience>();
    clone::<Query>();
    clone::<Error>();
    error::<Error>();

    debug::<Engine>();
    debug::<Audience>();
    debug::<Iter<'static>>();
    debug::<Page>();
    debug::<Query>();
    debug::<Expr>();
    debug::<TagRef>();
    debug::<Span>();
    debug::<Error>();
    debug::<Explain>();
    debug::<ExplainNode>();
    debug::<Stats>();
    debug::<TagInfo<'static>>();
    debug::<TagKind>();
    debug::<CustomerId>();
    debug::<TagId>();

    // Queries are usable across threads, and AsQuery takes text and queries alike.
    fn as_query<Q: AsQuery + ?Sized>(_: &Q) {}
    as_query("vip");
    as_query(&String::from("vip"));
    as_query(&Query::tag("vip"));
}

#[test]
fn debug_output_says_what_it_is() {
    let mut engine = Engine::new();
    let c = engine.customer("a").unwrap();
    engine.tag(c, "vip").unwrap();
    let shown = format!("{engine:?}");
    assert!(shown.starts_with("Engine"), "{shown}");
    let q = Query::parse("vip AND NOT x").unwrap();
    assert!(format!("{q:?}").contains("vip AND NOT x"), "{q:?}");
    let a = engine.query("vip").unwrap();
    assert!(format!("{a:?}").starts_with("Audience"), "{a:?}");
    assert!(format!("{:?}", a.iter()).starts_with("Iter"));
}

#[test]
fn engines_and_queries_are_shared_across_threads() {
    let mut engine = Engine::new();
    for i in 0..100u32 {
        let c = engine.customer_id(i).unwrap();
        engine.tag(c, if i % 2 == 0 { "even" } else { "odd" }).unwrap();
    }
    let engine = std::sync::Arc::new(engine);
    let q = Query::parse("even OR odd").unwrap();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| engine.count(&q).unwrap())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts, [100; 4]);
    // A clone is independent.
    let mut copy = (*engine).clone();
    copy.tag(CustomerId(0), "odd").unwrap();
    assert_eq!(copy.count("even AND odd").unwrap(), 1);
    assert_eq!(engine.count("even AND odd").unwrap(), 0);
}

// ---------------------------------------------------------------- errors carry context

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

// ---------------------------------------------------------------- the tag pool

fn names<'a>(infos: impl IntoIterator<Item = TagInfo<'a>>) -> Vec<&'a str> {
    infos.into_iter().map(|t| t.name).collect()
}

#[test]
fn define_tag_is_idempotent_and_upgrades_custom() {
    let mut engine = Engine::new();
    let vip = engine.define_tag("vip", TagKind::Value).unwrap();
    assert_eq!(engine.define_tag("vip", TagKind::Value), Ok(vip));
    assert_eq!(engine.stats().tags, 1);

    let c = engine.customer("c").unwrap();
    assert_eq!(engine.tag(c, "hiker"), Ok(true));
    assert_eq!(engine.tag(c, "hiker"), Ok(false));
    assert_eq!(engine.tag_info("hiker").unwrap().kind, TagKind::Custom);
    let hiker = engine.tag_id("hiker").unwrap();
    assert_eq!(engine.define_tag("hiker", TagKind::Interest), Ok(hiker));
    assert_eq!(engine.tag_info("hiker").unwrap().kind, TagKind::Interest);
    assert_eq!(engine.count("hiker").unwrap(), 1, "customers kept");

    // Ancestors of a hierarchical name get its kind; later children inherit it.
    engine.define_tag("interest/outdoor/hiking", TagKind::Interest).unwrap();
    assert_eq!(engine.tag_info("interest").unwrap().kind, TagKind::Interest);
    let sports = engine.ensure_tag("interest/sports").unwrap();
    assert_eq!(engine.tag_name(sports), Some("interest/sports"));
    assert_eq!(engine.tag_info("interest/sports").unwrap().kind, TagKind::Interest);

    assert_eq!(
        names(engine.tags_of_kind(TagKind::Interest)),
        ["hiker", "interest", "interest/outdoor", "interest/outdoor/hiking", "interest/sports"]
    );
    assert_eq!(names(engine.tags_of_kind(TagKind::Value)), ["vip"]);
    assert!(engine.tags_of_kind(TagKind::Lifecycle).next().is_none());
    assert_eq!(
        names(engine.tags_with_prefix("interest/")),
        ["interest/outdoor", "interest/outdoor/hiking", "interest/sports"]
    );
    assert_eq!(names(engine.tags()).len(), engine.stats().tags);
}

#[test]
fn groups_info_and_counts() {
    let mut engine = Engine::new();
    engine.define_exclusive_group_with_kind("age", TagKind::Attribute).unwrap();
    let a = engine.customer("a").unwrap();
    let b = engine.customer("b").unwrap();
    engine.tag(a, "age:25-34").unwrap();
    engine.tag(b, "age:35-44").unwrap();
    engine.tag(a, "interest/outdoor/hiking").unwrap();
    engine.tag(b, "interest/outdoor").unwrap();
    engine.tag(b, "interest/sports").unwrap();

    let group = engine.tags_in_group("age").unwrap();
    assert_eq!(names(group.clone()), ["age:25-34", "age:35-44"]);
    assert!(group.iter().all(|t| t.kind == TagKind::Attribute && t.group == Some("age") && t.len == 1));

    let outdoor = engine.tag_info("interest/outdoor").unwrap();
    assert_eq!(outdoor.name, "interest/outdoor");
    assert_eq!(outdoor.len, 1, "carried exactly by b only");
    assert_eq!(outdoor.parent, Some("interest"));
    assert_eq!(outdoor.children, 1);
    assert_eq!(outdoor.group, None);
    assert_eq!(Some(outdoor.id), engine.tag_id("interest/outdoor"));
    let interest = engine.tag_info("interest").unwrap();
    assert_eq!((interest.len, interest.parent, interest.children), (0, None, 2));

    // tag_count includes descendants; len does not.
    assert_eq!(engine.tag_count("interest").unwrap(), 2);
    assert_eq!(engine.tag_count("interest/outdoor").unwrap(), 2);
    assert_eq!(engine.tag_count("interest/outdoor/hiking").unwrap(), 1);
    assert_eq!(engine.tag_count("interest/sports").unwrap(), 1);

    // tags_of: exactly the tags carried, in id order.
    assert_eq!(engine.tags_of(a).unwrap(), ["age:25-34", "interest/outdoor/hiking"]);
    assert_eq!(engine.tags_of(b).unwrap(), ["age:35-44", "interest/outdoor", "interest/sports"]);
}

#[test]
fn delete_and_rename() {
    let mut engine = Engine::new();
    let a = engine.customer("a").unwrap();
    let b = engine.customer("b").unwrap();
    engine.tag(a, "interest/sports/running").unwrap();
    engine.tag(b, "interest/sports").unwrap();
    engine.tag(b, "vip").unwrap();
    let sports = engine.tag_id("interest/sports").unwrap();
    let running = engine.tag_id("interest/sports/running").unwrap();

    // Rename moves the subtree, keeps ids and customers, creates the new ancestors.
    engine.rename_tag("interest/sports", "hobby/sport").unwrap();
    assert_eq!(engine.tag_id("hobby/sport"), Some(sports));
    assert_eq!(engine.tag_id("hobby/sport/running"), Some(running));
    assert_eq!(engine.tag_id("interest/sports"), None);
    assert_eq!(engine.tag_id("interest/sports/running"), None);
    assert_eq!(engine.tag_name(running), Some("hobby/sport/running"));
    assert_eq!(engine.tag_info("hobby/sport").unwrap().parent, Some("hobby"));
    assert_eq!(engine.tag_info("interest").unwrap().children, 0);
    assert_eq!(engine.count("hobby").unwrap(), 2);
    assert_eq!(engine.count("hobby/sport/running").unwrap(), 1);
    assert_eq!(engine.count("interest").unwrap(), 0);
    assert!(matches!(engine.query("interest/sports"), Err(Error::UnknownTag { .. })));
    assert_eq!(engine.tags_of(a).unwrap(), ["hobby/sport/running"]);

    // Delete: returns how many carried it; the id is retired, not reused.
    assert_eq!(engine.delete_tag("vip"), Ok(1));
    assert_eq!(engine.tag_id("vip"), None);
    assert!(matches!(engine.count("vip"), Err(Error::UnknownTag { .. })));
    assert_eq!(engine.tags_of(b).unwrap(), ["hobby/sport"]);
    let fresh = engine.define_tag("vip", TagKind::Value).unwrap();
    assert!(fresh.get() > running.get(), "{fresh} after {running}");
    assert_eq!(engine.count("vip").unwrap(), 0, "a new tag, not the old one's customers");
    assert!(matches!(engine.delete_tag("nope"), Err(Error::UnknownTag { .. })));
}

// ---------------------------------------------------------------- bulk tagging

#[test]
fn tag_all_and_untag_all() {
    let mut engine = Engine::new();
    let ids: Vec<CustomerId> = (0..6).map(|i| engine.customer(&format!("c{i}")).unwrap()).collect();
    for &c in &ids[..4] {
        engine.tag(c, "vip").unwrap();
    }
    engine.tag(ids[0], "campaign").unwrap();
    let vips = engine.query("vip").unwrap();
    assert_eq!(engine.tag_all(&vips, "campaign"), Ok(3), "only the newly tagged");
    assert_eq!(engine.tag_all(&vips, "campaign"), Ok(0));
    assert_eq!(engine.count("campaign").unwrap(), 4);

    // Customers removed since the audience was computed are skipped.
    engine.remove_customer(ids[1]).unwrap();
    assert_eq!(engine.tag_all(&vips, "fresh"), Ok(3));
    assert_eq!(engine.count("fresh").unwrap(), 3);
    // An audience of ids that were never customers adds nothing.
    let strangers: Audience = [CustomerId(1000), ids[4]].into_iter().collect();
    assert_eq!(engine.tag_all(&strangers, "fresh"), Ok(1));
    assert_eq!(engine.count("fresh").unwrap(), 4);
    assert_eq!(engine.count("NOT fresh").unwrap(), 1);

    // untag_all returns how many carried it.
    let some: Audience = [ids[0], ids[4], ids[5]].into_iter().collect();
    assert_eq!(engine.untag_all(&some, "fresh"), Ok(2));
    assert_eq!(engine.untag_all(&some, "fresh"), Ok(0));
    assert_eq!(engine.count("fresh").unwrap(), 2);
    assert!(matches!(engine.untag_all(&some, "nope"), Err(Error::UnknownTag { .. })));

    // Exclusive groups: tag_all replaces the other value.
    engine.define_exclusive_group("tier").unwrap();
    engine.tag(ids[0], "tier:silver").unwrap();
    engine.tag(ids[2], "tier:silver").unwrap();
    engine.tag(ids[3], "tier:gold").unwrap();
    let everyone = engine.customers();
    assert_eq!(engine.tag_all(&everyone, "tier:gold"), Ok(4));
    assert_eq!(engine.count("tier:silver").unwrap(), 0);
    assert_eq!(engine.count("tier:gold").unwrap(), engine.customer_count());
    assert_eq!(engine.tags_of(ids[2]).unwrap(), ["vip", "campaign", "fresh", "tier:gold"]);
}

#[test]
fn tag_pairs_is_all_or_nothing() {
    let mut engine = Engine::new();
    let a = engine.customer("a").unwrap();
    let b = engine.customer("b").unwrap();
    let c = engine.customer("c").unwrap();
    engine.tag(a, "vip").unwrap();
    let before = engine.stats();

    let err = engine.tag_pairs([(a, "x"), (b, "a//b"), (c, "y"), (c, "vip")]).unwrap_err();
    assert!(matches!(&err, Error::InvalidTagName { name, .. } if name == "a//b"), "{err:?}");
    assert_eq!(engine.stats(), before);
    assert_eq!((engine.tag_id("x"), engine.tag_id("y")), (None, None), "no tag created");
    assert_eq!(engine.count("vip").unwrap(), 1);

    let ghost = CustomerId(77);
    let err = engine.tag_pairs([(a, "x/y"), (b, "vip"), (ghost, "vip"), (c, "vip")]).unwrap_err();
    assert_eq!(err, Error::UnknownCustomer { id: ghost });
    assert_eq!(engine.stats(), before);
    assert_eq!(engine.tag_id("x"), None);
    assert_eq!(engine.tag_id("x/y"), None);

    engine.define_exclusive_group("tier").unwrap();
    let err = engine.tag_pairs([(a, "ok"), (b, "tier:gold/plus")]).unwrap_err();
    assert!(matches!(err, Error::InvalidTagName { .. }), "{err:?}");
    assert_eq!(engine.tag_id("ok"), None);

    let err = engine.tag_id_pairs([(a, TagId(0)), (b, TagId(999))]).unwrap_err();
    assert_eq!(err, Error::UnknownTagId { id: TagId(999) });
    assert_eq!(engine.count("vip").unwrap(), 1);

    // And when valid, everything is applied; names are normalized.
    assert_eq!(engine.tag_pairs([(a, "vip"), (b, " vip "), (c, "interest / x")]), Ok(2));
    assert_eq!(engine.count("vip").unwrap(), 2);
    assert_eq!(engine.tags_of(c).unwrap(), ["interest/x"]);
    assert_eq!(engine.tag_info("interest").unwrap().children, 1);
}

#[test]
fn tag_pairs_last_value_of_a_group_wins() {
    let mut engine = Engine::new();
    engine.define_exclusive_group("tier").unwrap();
    let a = engine.customer("a").unwrap();
    let b = engine.customer("b").unwrap();
    engine.tag(a, "tier:bronze").unwrap();
    // new (tier:silver, tier:gold) and existing (tier:bronze) values, interleaved with others
    let added = engine
        .tag_pairs([(a, "tier:silver"), (b, "vip"), (a, "tier:gold"), (b, "tier:gold"), (b, "tier:bronze")])
        .unwrap();
    // net: a gains tier:gold (tier:bronze and the passing tier:silver do not count), b gains
    // vip and tier:bronze (its passing tier:gold does not count)
    assert_eq!(added, 3, "assignments present afterwards that were not there before");
    assert_eq!(engine.tags_of(a).unwrap(), ["tier:gold"]);
    assert_eq!(engine.tags_of(b).unwrap(), ["tier:bronze", "vip"]);
    assert_eq!(engine.tag_info("tier:silver").unwrap().group, Some("tier"));
    assert_eq!(engine.count("tier:silver").unwrap(), 0);
    let ids = engine.tags_in_group("tier").unwrap();
    assert_eq!(names(ids), ["tier:bronze", "tier:silver", "tier:gold"]);
}

/// Names for the bulk-vs-one-by-one comparison: plain, hierarchical, exclusive values.
const PAIR_TAGS: &[&str] = &["vip", "a/b", "a", "a/b/c", "tier:gold", "tier:silver", "tier:bronze", "x:y", " vip "];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// `tag_pairs` gives the same engine as `tag` called pair by pair, and counts the net gain.
    #[test]
    fn tag_pairs_equals_tag_one_by_one(
        pairs in prop::collection::vec((0u32..5, prop::sample::select(PAIR_TAGS)), 0..40),
        pre in prop::collection::vec((0u32..5, prop::sample::select(PAIR_TAGS)), 0..6),
    ) {
        let mut bulk = Engine::new();
        bulk.define_exclusive_group("tier").unwrap();
        for i in 0..5 {
            bulk.customer_id(i).unwrap();
        }
        for &(c, t) in &pre {
            bulk.tag(CustomerId(c), t).unwrap();
        }
        let mut single = bulk.clone();
        let before: Vec<Vec<String>> =
            (0..5).map(|i| single.tags_of(CustomerId(i)).unwrap().into_iter().map(str::to_owned).collect()).collect();
        for &(c, t) in &pairs {
            single.tag(CustomerId(c), t).unwrap();
        }
        // `tag_pairs` reports the net gain: assignments afterwards that were not there before.
        let want: u64 = (0..5u32)
            .map(|i| {
                let after = single.tags_of(CustomerId(i)).unwrap();
                after.iter().filter(|t| !before[i as usize].iter().any(|b| b == *t)).count() as u64
            })
            .sum();
        let got = bulk.tag_pairs(pairs.iter().map(|&(c, t)| (CustomerId(c), t))).unwrap();
        prop_assert_eq!(got, want);
        for i in 0..5 {
            let mut b = bulk.tags_of(CustomerId(i)).unwrap();
            let mut s = single.tags_of(CustomerId(i)).unwrap();
            b.sort_unstable();
            s.sort_unstable();
            prop_assert_eq!(b, s, "customer {}", i);
        }
        for t in single.tags() {
            prop_assert_eq!(bulk.tag_count(t.name).unwrap(), single.tag_count(t.name).unwrap(), "{}", t.name);
        }
    }
}

// ---------------------------------------------------------------- Audience

#[test]
fn audience_iteration_and_paging() {
    let a: Audience = [10, 3, 7, 1, 2, 70_000, 3].into_iter().map(CustomerId).collect();
    assert_eq!(a.len(), 6);
    assert!(!a.is_empty());
    assert!(Audience::new().is_empty());
    let asc: Vec<u32> = a.iter().map(CustomerId::get).collect();
    assert_eq!(asc, [1, 2, 3, 7, 10, 70_000]);
    assert_eq!(a.iter().len_hint(), 6);
    assert_eq!(a.iter().rev().map(u32::from).collect::<Vec<_>>(), [70_000, 10, 7, 3, 2, 1]);
    assert_eq!((&a).into_iter().count(), 6);
    assert_eq!(a.to_ids(), asc);
    let mut out = vec![0];
    a.write_ids(&mut out);
    assert_eq!(out, [0, 1, 2, 3, 7, 10, 70_000]);
    assert_eq!((a.first(), a.last()), (Some(CustomerId(1)), Some(CustomerId(70_000))));
    assert_eq!((Audience::new().first(), Audience::new().last()), (None, None));
    assert!(a.contains(CustomerId(7)) && !a.contains(CustomerId(8)));

    assert_eq!(a.iter_from(CustomerId(3)).map(u32::from).collect::<Vec<_>>(), [7, 10, 70_000]);
    assert_eq!(a.iter_from(CustomerId(4)).map(u32::from).collect::<Vec<_>>(), [7, 10, 70_000]);
    assert_eq!(a.iter_from(CustomerId(70_000)).count(), 0);

    // Pages cover the audience once, in order, for any page size.
    for limit in 1..=7 {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = a.page(cursor, limit);
            assert!(page.ids.len() <= limit);
            assert!(!page.ids.is_empty(), "limit {limit}: an empty page");
            seen.extend(page.ids.iter().map(|c| c.get()));
            pages += 1;
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), page.ids.last());
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, asc, "limit {limit}");
        assert_eq!(pages, asc.len().div_ceil(limit), "limit {limit}");
    }
    // A cursor is a value, not a position: any id works.
    assert_eq!(
        a.page(Some(CustomerId(5)), 2),
        Page { ids: vec![CustomerId(7), CustomerId(10)], next: Some(CustomerId(10)) }
    );
    assert_eq!(a.page(Some(CustomerId(10)), 5), Page { ids: vec![CustomerId(70_000)], next: None });
    assert_eq!(Audience::new().page(None, 3), Page::default());
}

/// Exact size hint, as a plain method so the test reads well.
trait LenHint {
    fn len_hint(&self) -> usize;
}
impl LenHint for Iter<'_> {
    fn len_hint(&self) -> usize {
        let (lo, hi) = self.size_hint();
        assert_eq!(Some(lo), hi, "exact size hint");
        lo
    }
}

#[test]
fn audience_set_algebra() {
    let set = |xs: &[u32]| -> Audience { xs.iter().copied().map(CustomerId).collect() };
    let a = set(&[1, 2, 3, 10]);
    let b = set(&[2, 3, 4]);
    assert_eq!(&a & &b, set(&[2, 3]));
    assert_eq!(&a | &b, set(&[1, 2, 3, 4, 10]));
    assert_eq!(&a - &b, set(&[1, 10]));
    assert_eq!(&b - &a, set(&[4]));
    assert_eq!(&a ^ &b, set(&[1, 4, 10]));
    assert_eq!(a.clone() & b.clone(), a.intersection(&b));
    assert_eq!(a.clone() | b.clone(), a.union(&b));
    assert_eq!(a.clone() - b.clone(), a.difference(&b));
    assert_eq!(a.clone() ^ b.clone(), a.symmetric_difference(&b));
    assert_eq!(a.intersection_len(&b), 2);
    assert_eq!(&a & &Audience::new(), Audience::new());
    assert_eq!(&a | &Audience::new(), a);

    let mut c = a.clone();
    c.extend([CustomerId(4), CustomerId(1)]);
    assert_eq!(c, set(&[1, 2, 3, 4, 10]));
    let bits: roaring::RoaringBitmap = c.clone().into();
    assert_eq!(Audience::from(bits.clone()), c);
    assert_eq!(c.bitmap(), &bits);
    assert_eq!(c.into_bitmap(), bits);

    // Snapshots: later changes to the engine do not change an audience.
    let mut engine = Engine::new();
    let x = engine.customer("x").unwrap();
    engine.tag(x, "vip").unwrap();
    let vips = engine.query("vip").unwrap();
    engine.untag(x, "vip").unwrap();
    assert_eq!(vips.to_ids(), [x.get()]);
    assert_eq!(engine.query("vip").unwrap(), Audience::new());
}

// ---------------------------------------------------------------- explain

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

// ---------------------------------------------------------------- queries against a model

/// The model: customer -> exact tags, plus the live set.
struct Model {
    tags: BTreeMap<u32, BTreeSet<&'static str>>,
}

impl Model {
    fn eval(&self, e: &Expr) -> BTreeSet<u32> {
        let live = || self.tags.keys().copied().collect::<BTreeSet<u32>>();
        match e {
            Expr::Tag(t) => {
                let n = t.name();
                let prefix = format!("{n}/");
                self.tags
                    .iter()
                    .filter(|(_, ts)| ts.iter().any(|x| *x == n || x.starts_with(&prefix)))
                    .map(|(c, _)| *c)
                    .collect()
            }
            Expr::Everyone => live(),
            Expr::Not(x) => live().difference(&self.eval(x)).copied().collect(),
            Expr::And(xs) => xs.iter().map(|x| self.eval(x)).reduce(|a, b| &a & &b).unwrap_or_else(live),
            Expr::Or(xs) => xs.iter().map(|x| self.eval(x)).reduce(|a, b| &a | &b).unwrap_or_default(),
            other => panic!("a new Expr variant: {other:?}"),
        }
    }
}

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
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// select, count and explain agree with each other and with a naive model.
    #[test]
    fn select_count_explain_agree_with_a_model(
        assignments in prop::collection::vec(prop::collection::btree_set(prop::sample::select(&MODEL_TAGS[..6]), 0..4), 1..10),
        removed in prop::collection::vec(any::<bool>(), 10),
        q in model_query(),
    ) {
        let mut engine = Engine::new();
        engine.define_tag("e", TagKind::Custom).unwrap(); // a tag nobody carries
        let mut model = Model { tags: BTreeMap::new() };
        for (i, ts) in assignments.iter().enumerate() {
            let c = engine.customer_id(i as u32).unwrap();
            for t in ts {
                engine.tag(c, t).unwrap();
            }
            model.tags.insert(i as u32, ts.clone());
        }
        for (i, gone) in removed.iter().enumerate().take(assignments.len()) {
            if *gone {
                engine.remove_customer(CustomerId(i as u32)).unwrap();
                model.tags.remove(&(i as u32));
            }
        }
        for t in ["a", "b", "c", "p", "p/x", "p/y"] {
            engine.ensure_tag(t).unwrap();
        }
        let want: Vec<u32> = model.eval(q.expr()).into_iter().collect();
        let got = engine.select(&q).unwrap();
        prop_assert_eq!(got.to_ids(), want.clone(), "{}", q);
        prop_assert_eq!(engine.count(&q).unwrap(), want.len() as u64, "{}", q);
        prop_assert_eq!(engine.explain(&q).unwrap().count(), want.len() as u64, "{}", q);
        prop_assert_eq!(engine.query(&q.to_string()).unwrap(), got, "{}", q);
    }
}
