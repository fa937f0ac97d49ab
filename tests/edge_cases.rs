//! Edge cases, by hand: the empty engine, one customer, ties, the ends of `u32`, Unicode and
//! quoted names, trimming, invalid names, removal and key reuse, a 100,000-term query, a query
//! nested 10,000 deep, paging and `explain`.

use audience::{Audience, CustomerId, Engine, Error, MAX_QUERY_DEPTH, MAX_QUERY_TERMS, Page, Query};

type Result<T = ()> = std::result::Result<T, Error>;

fn ids(a: &Audience) -> Vec<u32> {
    a.iter().map(u32::from).collect()
}

fn query_ids(e: &Engine, text: &str) -> Vec<u32> {
    ids(&e.query(text).unwrap_or_else(|err| panic!("{text:?}: {err}")))
}

/// Everything observable that a failed call must leave as it was.
fn fingerprint(e: &Engine) -> String {
    let mut out = format!("{:?}\n", e.stats());
    for t in e.tags() {
        out += &format!("{t:?}\n");
    }
    for c in e.customers().iter() {
        out += &format!("{c} {:?} {:?}\n", e.key_of(c), e.tags_of(c));
    }
    out
}

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
    assert_eq!(query_ids(&e, "vip"), [0]);
    assert_eq!(e.count("NOT vip")?, 0);
    assert_eq!(e.count("vip AND NOT vip")?, 0);
    assert_eq!(e.count("vip OR NOT vip")?, 1);
    assert_eq!(e.customers().page(None, 1), Page { ids: vec![c], next: None });

    assert_eq!(e.untag(c, "vip"), Ok(true));
    assert_eq!(e.untag(c, "vip"), Ok(false));
    assert_eq!(e.count("vip")?, 0, "the tag stays known, with no members");
    assert_eq!(query_ids(&e, "NOT vip"), [0]);

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
        assert_eq!(query_ids(&e, text), want, "{text}");
        assert_eq!(e.count(text)?, want.len() as u64, "{text}");
    }
    Ok(())
}

fn suggestions(e: &Engine, text: &str) -> Vec<String> {
    match e.count(text) {
        Err(Error::UnknownTag { suggestions, .. }) => suggestions,
        other => panic!("{text:?}: expected UnknownTag, got {other:?}"),
    }
}

#[test]
fn suggestions_with_ties_are_at_most_three_and_closest_first() -> Result {
    let mut e = Engine::new();
    // Four names at distance 1 from "vip": only three are suggested, the same every time.
    for n in ["vipa", "vipb", "vipc", "vipd", "unrelated"] {
        e.ensure_tag(n)?;
    }
    let first = suggestions(&e, "vip");
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().all(|s| ["vipa", "vipb", "vipc", "vipd"].contains(&s.as_str())), "{first:?}");
    assert_eq!(suggestions(&e, "vip"), first, "suggestions are deterministic");

    // Closest first even when alphabetical order says otherwise.
    e.ensure_tag("zbcd")?; // distance 1 from "abcd"
    e.ensure_tag("abxy")?; // distance 2
    assert_eq!(suggestions(&e, "abcd"), ["zbcd", "abxy"]);
    Ok(())
}

// ------------------------------------------------------------------ u32 limits

#[test]
fn the_largest_customer_id_works_like_any_other() -> Result {
    let mut e = Engine::new();
    let a = e.customer("a")?;
    let top = e.customer_id(u32::MAX).unwrap();
    assert_eq!(top, CustomerId(u32::MAX));
    assert_eq!(e.tag(top, "vip"), Ok(true));
    e.tag(a, "other")?;
    assert_eq!(e.count("vip")?, 1);
    assert_eq!(query_ids(&e, "vip"), [u32::MAX]);
    assert_eq!(query_ids(&e, "NOT vip"), [0]);
    assert_eq!(query_ids(&e, "*"), [0, u32::MAX]);
    assert_eq!(query_ids(&e, "NOT other"), [u32::MAX]);
    assert_eq!(e.tags_of(top)?, ["vip"]);

    let all = e.customers();
    assert_eq!(all.last(), Some(top));
    assert_eq!(all.iter().next_back(), Some(top));
    assert_eq!(all.iter_from(CustomerId(u32::MAX)).count(), 0);
    assert_eq!(all.iter_from(CustomerId(u32::MAX - 1)).collect::<Vec<_>>(), [top]);
    assert_eq!(all.iter_from(CustomerId(0)).collect::<Vec<_>>(), [top]);
    assert_eq!(all.page(Some(CustomerId(u32::MAX - 1)), 10), Page { ids: vec![top], next: None });
    assert_eq!(all.page(Some(top), 10), Page { ids: vec![], next: None });
    assert_eq!(all.page(None, 1), Page { ids: vec![a], next: Some(a) });

    // Every id is taken now: a new key fails, a known key still resolves, nothing changes.
    let before = fingerprint(&e);
    assert_eq!(e.customer("x"), Err(Error::CustomerIdsExhausted));
    assert_eq!(e.customer("x"), Err(Error::CustomerIdsExhausted));
    assert_eq!(fingerprint(&e), before);
    assert_eq!(e.customer("a"), Ok(a));
    assert_eq!(e.customer_id(u32::MAX).unwrap(), top, "registering a live id again changes nothing");
    assert_eq!(fingerprint(&e), before);

    // Dense ids below still register; keys stay exhausted.
    assert_eq!(e.customer_id(5).unwrap(), CustomerId(5));
    assert_eq!(e.customer("y"), Err(Error::CustomerIdsExhausted));
    assert_eq!(e.tag_pairs([(top, "bulk"), (CustomerId(5), "bulk")])?, 2);
    assert_eq!(query_ids(&e, "bulk"), [5, u32::MAX]);

    // Removal erases it; ids are not handed out again for keys.
    e.remove_customer(top)?;
    assert_eq!(e.count("vip")?, 0);
    assert_eq!(query_ids(&e, "*"), [0, 5]);
    assert_eq!(e.customer("x"), Err(Error::CustomerIdsExhausted));
    // Registered anew, it is a live customer with no tags.
    assert_eq!(e.customer_id(u32::MAX).unwrap(), top);
    assert_eq!(e.tags_of(top)?, Vec::<&str>::new());
    assert_eq!(e.count("vip OR bulk")?, 1);
    Ok(())
}

#[test]
fn the_last_key_gets_u32_max_then_ids_are_exhausted() -> Result {
    let mut e = Engine::new();
    e.customer_id(u32::MAX - 1).unwrap();
    let last = e.customer("last")?;
    assert_eq!(last, CustomerId(u32::MAX));
    assert_eq!(e.key_of(last), Some("last"));
    assert_eq!(e.customer("more"), Err(Error::CustomerIdsExhausted));
    assert_eq!(e.id_of("more"), None);
    assert_eq!(e.customer_count(), 2);
    e.tag(last, "t")?;
    assert_eq!(query_ids(&e, "t"), [u32::MAX]);
    Ok(())
}

// ------------------------------------------------------------------ names

#[test]
fn unicode_names() -> Result {
    let mut e = Engine::new();
    let names = ["高消费", "🎉", "👩‍💻 dev", "兴趣/运动/跑步", "Ünïcödé", "emoji/🏃", "ZWJ👨‍👩‍👧", "אבג"];
    let mut who = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let c = e.customer(&format!("c{i}"))?;
        assert_eq!(e.tag(c, n), Ok(true), "{n}");
        who.push(c);
    }
    for (n, c) in names.iter().zip(&who) {
        let q = Query::tag(n);
        let text = q.to_string();
        assert_eq!(Query::parse(&text)?, q, "{text}");
        assert_eq!(ids(&e.select(&q)?), [c.get()], "{n}");
        assert_eq!(e.count(&text)?, 1, "{text}");
        assert_eq!(e.tags_of(*c)?, [*n]);
    }
    assert_eq!(Query::tag("👩‍💻 dev").to_string(), "\"👩‍💻 dev\"", "a name with a space is quoted");
    assert_eq!(Query::tag("高消费").to_string(), "高消费", "a plain Unicode name is bare");
    assert_eq!(e.count("高消费 OR 🎉 OR Ünïcödé")?, 3);
    assert_eq!(e.count("高消费 AND 🎉")?, 0);
    // The hierarchy works on Unicode levels, and the ancestors exist.
    assert_eq!(e.count("兴趣")?, 1);
    assert_eq!(e.count("兴趣/运动")?, 1);
    assert_eq!(e.count("emoji")?, 1);
    assert_eq!(e.tag_info("兴趣/运动")?.parent, Some("兴趣"));
    // A near miss suggests the Unicode name first (others within the distance limit may follow).
    assert_eq!(suggestions(&e, "高消").first().map(String::as_str), Some("高消费"));
    Ok(())
}

#[test]
fn names_that_need_quotes() -> Result {
    let mut e = Engine::new();
    let names = [
        "High Value",
        "and",
        "OR",
        "not",
        "*",
        "a(b)",
        "(",
        ")",
        "say \"hi\"",
        "\"",
        "back\\slash",
        "\\",
        "a=b",
        "<3",
        "x!",
        "non\u{a0}breaking",
    ];
    let mut who = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let c = e.customer(&format!("c{i}"))?;
        e.tag(c, n)?;
        who.push(c);
    }
    for (n, c) in names.iter().zip(&who) {
        let q = Query::tag(n);
        let text = q.to_string();
        assert!(text.starts_with('"') && text.ends_with('"'), "{n:?} printed as {text}");
        assert_eq!(Query::parse(&text)?, q, "{text}");
        assert_eq!(query_ids(&e, &text), [c.get()], "{text}");
        assert_eq!(e.tags_of(*c)?, [*n]);
    }
    // A quoted "*" is the tag, a bare * is everyone.
    assert_eq!(e.count("\"*\"")?, 1);
    assert_eq!(e.count("*")?, names.len() as u64);
    // Escapes in hand-written text.
    assert_eq!(query_ids(&e, r#""say \"hi\"" OR "back\\slash""#), [who[8].get(), who[10].get()]);
    assert_eq!(e.count(r#""High Value" AND NOT "and""#)?, 1);
    // Unquoted, they are not names.
    for text in ["High Value", "and", "a(b)", "a=b", "NOT", "say \"hi\""] {
        assert!(matches!(e.count(text), Err(Error::Parse { .. })), "{text:?}: {:?}", e.count(text));
    }
    Ok(())
}

#[test]
fn names_are_trimmed() -> Result {
    let mut e = Engine::new();
    let c = e.customer("c")?;
    assert_eq!(e.tag(c, "  vip "), Ok(true));
    assert_eq!(e.tags_of(c)?, ["vip"]);
    assert_eq!(e.tag(c, "vip"), Ok(false), "\"  vip \" and \"vip\" are one tag");
    assert_eq!(e.tag_id(" vip\t"), e.tag_id("vip"));
    assert!(e.tag_id("vip").is_some());
    assert_eq!(e.count("vip")?, 1);
    assert_eq!(e.count("\"  vip \"")?, 1);
    assert_eq!(Query::tag(" vip "), Query::tag("vip"));
    assert_eq!(Query::tag(" vip ").to_string(), "vip");
    assert_eq!(e.count(&Query::tag("\u{3000}vip\u{a0}"))?, 1, "Unicode white space is trimmed too");

    // Each level of a hierarchical name is trimmed.
    e.tag(c, " sports /  running ")?;
    assert_eq!(e.tags_of(c)?, ["vip", "sports/running"]);
    assert_eq!(e.count("sports")?, 1);
    assert_eq!(e.count("\"sports / running\"")?, 1);
    assert_eq!(e.untag(c, " vip"), Ok(true));
    assert_eq!(e.tags().count(), 3, "vip, sports, sports/running");
    Ok(())
}

#[test]
fn invalid_names_are_refused_and_change_nothing() -> Result {
    let mut e = Engine::new();
    let c = e.customer("c")?;
    e.tag(c, "vip")?;
    e.define_exclusive_group("tier")?;
    let invalid = [
        "",
        "   ",
        "\t",
        "a\u{0}b",
        "a\nb",
        "bell\u{7}",
        "del\u{7f}",
        "a\u{85}b",
        "a//b",
        "/a",
        "a/",
        "a/ /b",
        "tier:",
        "tier:gold/x",
        "tier:a:b",
    ];
    let before = fingerprint(&e);
    for bad in invalid {
        let is_invalid = |r: Result<()>| matches!(r, Err(Error::InvalidTagName { .. }));
        assert!(is_invalid(e.tag(c, bad).map(drop)), "tag {bad:?}");
        assert!(is_invalid(e.ensure_tag(bad).map(drop)), "ensure_tag {bad:?}");
        assert!(is_invalid(e.define_tag(bad, audience::TagKind::Value).map(drop)), "define_tag {bad:?}");
        assert!(is_invalid(e.tag_pairs([(c, "ok"), (c, bad)]).map(drop)), "tag_pairs {bad:?}");
        assert!(is_invalid(e.tag_all(&e.customers(), bad).map(drop)), "tag_all {bad:?}");
        assert!(is_invalid(e.rename_tag("vip", bad)), "rename_tag {bad:?}");
        assert_eq!(fingerprint(&e), before, "{bad:?} changed the engine");
    }
    // Names that are invalid as such (not only as group values) are refused everywhere.
    for bad in &invalid[..12] {
        let is_invalid = |r: Result<()>| matches!(r, Err(Error::InvalidTagName { .. }));
        assert!(is_invalid(e.untag(c, bad).map(drop)), "untag {bad:?}");
        assert!(is_invalid(e.delete_tag(bad).map(drop)), "delete_tag {bad:?}");
        assert!(is_invalid(e.select(&Query::tag(bad)).map(drop)), "select {bad:?}");
        assert!(is_invalid(e.rename_tag(bad, "x")), "rename_tag from {bad:?}");
    }
    assert_eq!(fingerprint(&e), before);
    // In query text, an invalid name is a parse error.
    for text in ["a//b", "\"a//b\"", "\"\"", "\"a\tb\"", "/a", "a/"] {
        assert!(matches!(e.count(text), Err(Error::Parse { .. })), "{text:?}: {:?}", e.count(text));
    }
    // Group names cannot contain '/' or ':'.
    for bad in ["a/b", "a:b", "", " "] {
        assert!(matches!(e.define_exclusive_group(bad), Err(Error::InvalidTagName { .. })), "{bad:?}");
    }
    assert_eq!(e.exclusive_groups().collect::<Vec<_>>(), ["tier"]);
    Ok(())
}

// ------------------------------------------------------------------ removal and keys

#[test]
fn removing_a_customer_twice() -> Result {
    let mut e = Engine::new();
    let a = e.customer("a")?;
    let b = e.customer("b")?;
    e.tag(a, "vip")?;
    e.tag(b, "other")?;
    assert_eq!(e.remove_customer(a), Ok(()));
    let before = fingerprint(&e);
    assert_eq!(e.remove_customer(a), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(fingerprint(&e), before);
    assert_eq!(e.tag(a, "vip"), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.untag(a, "vip"), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.tags_of(a), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.tag_pairs([(b, "vip"), (a, "vip")]), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(fingerprint(&e), before);
    assert!(!e.is_customer(a));
    assert_eq!(e.key_of(a), None);
    assert_eq!(e.id_of("a"), None);
    assert_eq!(e.count("vip")?, 0);
    assert_eq!(query_ids(&e, "NOT vip"), [b.get()]);
    // tag_all skips customers removed since the audience was computed.
    let stale: Audience = [a, b].into_iter().collect();
    assert_eq!(e.tag_all(&stale, "campaign")?, 1);
    assert_eq!(query_ids(&e, "campaign"), [b.get()]);
    Ok(())
}

#[test]
fn a_key_reused_after_removal_gets_a_new_id() -> Result {
    let mut e = Engine::new();
    let alice = e.customer("alice")?;
    let bob = e.customer("bob")?;
    let carol = e.customer("carol")?;
    e.tag(alice, "vip")?;
    e.remove_customer(alice)?;
    // The other keys still resolve both ways after the directory moved entries around.
    assert_eq!((e.id_of("bob"), e.id_of("carol")), (Some(bob), Some(carol)));
    assert_eq!((e.key_of(bob), e.key_of(carol)), (Some("bob"), Some("carol")));

    let alice2 = e.customer("alice")?;
    assert_ne!(alice2, alice);
    assert!(alice2 > carol, "ids are never reused: {alice2} after {carol}");
    assert_eq!(e.customer("alice")?, alice2);
    assert_eq!(e.key_of(alice2), Some("alice"));
    assert_eq!(e.key_of(alice), None);
    assert_eq!(e.id_of("alice"), Some(alice2));
    assert_eq!(e.tags_of(alice2)?, Vec::<&str>::new());
    assert_eq!(e.count("vip")?, 0, "the old customer's tags are not inherited");
    assert!(!e.is_customer(alice));
    assert_eq!(e.stats().keyed_customers, 3);
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
    assert_eq!(query_ids(&e, &text), evens);
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

// ------------------------------------------------------------------ paging

fn all_pages(a: &Audience, limit: usize) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = a.page(cursor, limit);
        cursor = page.next;
        pages.push(page);
        if cursor.is_none() || pages.len() > a.len() as usize + 1 {
            return pages;
        }
    }
}

#[test]
fn pages_cover_every_id_exactly_once() {
    // Ids across roaring containers, at both ends of u32, and in runs.
    let mut raw: Vec<u32> = vec![0, 1, 2, 3, 65_535, 65_536, 65_537, 1 << 20, u32::MAX - 1, u32::MAX];
    raw.extend(100_000..100_050);
    raw.extend((200_000..210_000).step_by(7));
    let a: Audience = raw.iter().copied().map(CustomerId).collect();
    let want: Vec<CustomerId> = a.iter().collect();
    assert_eq!(want.len(), a.len() as usize);
    for limit in [1, 2, 3, 7, 64, 1000, want.len(), want.len() + 1] {
        let pages = all_pages(&a, limit);
        let got: Vec<CustomerId> = pages.iter().flat_map(|p| p.ids.iter().copied()).collect();
        assert_eq!(got, want, "limit {limit}");
        assert_eq!(pages.len(), want.len().div_ceil(limit), "limit {limit}: no empty last page");
        for p in &pages {
            assert!(!p.ids.is_empty() && p.ids.len() <= limit, "limit {limit}: {} ids", p.ids.len());
            if let Some(next) = p.next {
                assert_eq!(Some(&next), p.ids.last(), "the cursor is the page's last id");
            }
        }
    }
    // A cursor that is not in the audience continues after it.
    assert_eq!(a.page(Some(CustomerId(4)), 2).ids, [CustomerId(65_535), CustomerId(65_536)]);
    assert_eq!(a.page(Some(CustomerId(u32::MAX - 1)), 2), Page { ids: vec![CustomerId(u32::MAX)], next: None });
    // A limit of 0 is taken as 1, so a paging loop always makes progress.
    assert_eq!(a.page(None, 0).ids, [CustomerId(0)]);
    assert_eq!(all_pages(&a, 0).len(), want.len());
    // Nothing to page.
    assert_eq!(Audience::new().page(None, 10), Page { ids: vec![], next: None });
}

#[test]
fn paging_a_query_result_from_the_engine() -> Result {
    let mut e = Engine::new();
    for i in (0..1000).step_by(3) {
        let c = e.customer_id(i).unwrap();
        if i % 2 == 0 {
            e.tag(c, "even")?;
        }
    }
    let a = e.query("NOT even")?;
    let pages = all_pages(&a, 16);
    let got: Vec<u32> = pages.iter().flat_map(|p| p.ids.iter().map(|c| c.get())).collect();
    let want: Vec<u32> = (0..1000).step_by(3).filter(|i| i % 2 == 1).collect();
    assert_eq!(got, want);
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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, failure_persistence: None, ..Default::default() })]

    /// `write_ids` exports exactly the ids `iter` yields, whatever the containers (arrays,
    /// bitmaps, runs, whole 2^16 blocks, the top of the id space), appending to what is there.
    #[test]
    fn write_ids_equals_iteration(
        ranges in proptest::collection::vec((0u32..7, 0u32..70_000, 1u32..140_000), 0..6),
        singles in proptest::collection::vec(proptest::num::u32::ANY, 0..50),
        optimize in proptest::bool::ANY,
    ) {
        let mut bits = roaring::RoaringBitmap::new();
        for (block, offset, len) in ranges {
            // block 6 starts near the top of the id space, so ranges reach u32::MAX
            let start = if block == 6 { u64::from(u32::MAX) - u64::from(offset) } else { u64::from(block) * 700_000_000 + u64::from(offset) };
            let end = (start + u64::from(len)).min(u64::from(u32::MAX) + 1);
            bits.insert_range(start as u32..=(end - 1) as u32);
        }
        bits.extend(singles);
        if optimize {
            bits.optimize();
        }
        let audience = audience::Audience::from(bits.clone());
        let mut out = vec![42];
        audience.write_ids(&mut out);
        proptest::prop_assert_eq!(out[0], 42);
        proptest::prop_assert_eq!(&out[1..], &bits.iter().collect::<Vec<_>>()[..]);
    }
}
