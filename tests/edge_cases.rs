//! Edge cases, by hand: the empty engine, one customer, ties, the ends of `u32`, Unicode and
//! quoted names, trimming, invalid names, removal and key reuse, a 100,000-term query, a query
//! nested 10,000 deep, paging and `explain`; numeric attributes: unknown names, a tag and an
//! attribute of one name, the ends of `u32` and `i64`, missing values, and 100,000 customers
//! checked against a scan.

use audience::{Audience, CmpOp, CustomerId, Engine, Error, MAX_QUERY_DEPTH, MAX_QUERY_TERMS, Page, Query};

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
        out += &format!("{c} {:?} {:?} {:?}\n", e.key_of(c), e.tags_of(c), e.attrs_of(c));
    }
    out += &format!("{:?}\n", e.attributes().collect::<Vec<_>>());
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

// ------------------------------------------------------------------ attributes

/// The parts of an `UnknownAttribute` error: name, span, query text, suggestions.
type UnknownAttr = (String, Option<(usize, usize)>, Option<String>, Vec<String>);

/// The parts of the `UnknownAttribute` error of `r`.
fn unknown_attr<T: std::fmt::Debug>(r: Result<T>) -> UnknownAttr {
    match r {
        Err(Error::UnknownAttribute { name, span, query, suggestions }) => {
            (name, span.map(|s| (s.start, s.end)), query, suggestions)
        }
        other => panic!("expected UnknownAttribute, got {other:?}"),
    }
}

/// `v op lit`, written out (not `CmpOp::holds`, so the scans below do not borrow the engine's).
fn holds(op: CmpOp, v: i64, lit: i64) -> bool {
    match op {
        CmpOp::Eq => v == lit,
        CmpOp::Ne => v != lit,
        CmpOp::Lt => v < lit,
        CmpOp::Le => v <= lit,
        CmpOp::Gt => v > lit,
        CmpOp::Ge => v >= lit,
    }
}

/// The live customers whose value of `name` satisfies `op lit`, by a scan of `Engine::attr`.
fn scan(e: &Engine, name: &str, op: CmpOp, lit: i64) -> Vec<u32> {
    e.customers()
        .iter()
        .filter(|&c| e.attr(c, name).unwrap().is_some_and(|v| holds(op, v, lit)))
        .map(u32::from)
        .collect()
}

#[test]
fn attributes_in_an_empty_engine() -> Result {
    let mut e = Engine::new();
    assert_eq!(e.attributes().count(), 0);
    assert_eq!(e.stats().attributes, 0);
    let (name, span, query, suggestions) = unknown_attr(e.count("age >= 3"));
    assert_eq!((name.as_str(), span, query.as_deref()), ("age", Some((0, 3)), Some("age >= 3")));
    assert!(suggestions.is_empty(), "{suggestions:?}");
    let (_, span, query, _) = unknown_attr(e.select(&Query::compare("age", CmpOp::Ge, 3)));
    assert_eq!((span, query), (None, None), "a built query has no text to point into");
    assert!(matches!(e.count("NOT age >= 3"), Err(Error::UnknownAttribute { .. })));
    assert!(matches!(e.explain("* AND age = 0"), Err(Error::UnknownAttribute { .. })));

    // Nothing to act on, and a failed call creates no attribute.
    let nobody = CustomerId(0);
    let unknown = Err(Error::UnknownCustomer { id: nobody });
    assert_eq!(e.set_attr(nobody, "age", 1), unknown.clone().map(|()| None));
    assert_eq!(e.set_attrs([(nobody, "age", 1)]), unknown.clone().map(|()| 0));
    assert_eq!(e.unset_attr(nobody, "age"), unknown.clone().map(|()| None));
    assert_eq!(e.attr(nobody, "age"), unknown.clone().map(|()| None));
    assert_eq!(e.attrs_of(nobody), unknown.clone().map(|()| Vec::new()));
    assert_eq!(e.set_attrs(Vec::<(CustomerId, &str, i64)>::new()), Ok(0));
    assert_eq!(e.attributes().count(), 0, "a failed or empty call created an attribute");

    // Declared, it is known and matches nobody (there is nobody).
    e.define_attr("age")?;
    assert_eq!(e.attributes().collect::<Vec<_>>(), [("age", 0)]);
    for text in ["age >= 3", "NOT age >= 3", "age != 3", "age >= 3 OR NOT age >= 3", "* AND NOT age < 0"] {
        assert_eq!(e.count(text)?, 0, "{text}");
        assert!(e.query(text)?.is_empty(), "{text}");
        assert_eq!(e.explain(text)?.count(), 0, "{text}");
    }
    Ok(())
}

#[test]
fn unknown_attributes_suggest_known_ones() -> Result {
    let mut e = Engine::new();
    let c = e.customer("c")?;
    e.set_attr(c, "age", 30)?;
    e.set_attr(c, "balance", -5)?;
    e.tag(c, "agee")?; // a tag of that name does not make the attribute known

    let (name, span, query, suggestions) = unknown_attr(e.count("agee >= 3"));
    assert_eq!((name.as_str(), span, query.as_deref()), ("agee", Some((0, 4)), Some("agee >= 3")));
    assert_eq!(suggestions, ["age"]);
    assert_eq!(
        e.count("agee >= 3").unwrap_err().to_string(),
        "unknown attribute \"agee\" at 0..4 (did you mean \"age\"?)\n  agee >= 3\n  ^^^^"
    );
    // The first unknown name is reported, wherever it stands.
    let (name, span, _, suggestions) = unknown_attr(e.count("agee AND (age > 1 OR balanse<0)"));
    assert_eq!((name.as_str(), span, suggestions), ("balanse", Some((21, 28)), vec!["balance".to_owned()]));
    // The builder, reads and unset say the same, without a span.
    assert_eq!(unknown_attr(e.count(&Query::compare("agee", CmpOp::Lt, 0))).3, ["age"]);
    assert_eq!(unknown_attr(e.attr(c, "agee")).3, ["age"]);
    assert_eq!(unknown_attr(e.unset_attr(c, " balanse ")).0, "balanse", "the name is normalized");
    assert_eq!(unknown_attr(e.count("zzzzzz = 1")).3, Vec::<String>::new());
    // Attributes are no tags: `age` alone is an unknown tag.
    assert!(matches!(e.count("age"), Err(Error::UnknownTag { name, .. }) if name == "age"));

    // Ties: at most three suggestions, closest first, the same every time.
    for n in ["scorea", "scoreb", "scorec", "scored", "unrelated"] {
        e.define_attr(n)?;
    }
    let first = unknown_attr(e.count("score > 1")).3;
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().all(|s| s.starts_with("score") && s.len() == 6), "{first:?}");
    assert_eq!(unknown_attr(e.count("score > 1")).3, first);
    e.define_attr("zbcdef")?; // distance 1 from "abcdef"
    e.define_attr("abxyef")?; // distance 2
    assert_eq!(unknown_attr(e.count("abcdef > 1")).3, ["zbcdef", "abxyef"]);
    Ok(())
}

#[test]
fn a_tag_and_an_attribute_may_share_a_name() -> Result {
    let mut e = Engine::new();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| e.customer(k).unwrap());
    e.tag(a, "vip")?;
    e.tag(b, "vip")?;
    e.set_attr(a, "vip", 2)?;
    e.set_attr(c, "vip", 5)?;
    e.set_attr(d, "vip", 0)?;
    for (text, want) in [
        ("vip", vec![a, b]),
        ("vip > 0", vec![a, c]),
        ("vip AND vip > 0", vec![a]),
        ("vip>0 AND vip", vec![a]),
        ("vip OR vip > 0", vec![a, b, c]),
        ("vip > 0 AND NOT vip", vec![c]),
        ("vip AND NOT vip > 0", vec![b]),
        ("NOT vip > 0", vec![b, d]),
        ("NOT vip", vec![c, d]),
        ("vip = 0", vec![d]),
        ("\"vip\" >= 0 AND \"vip\"", vec![a]),
    ] {
        let want: Vec<u32> = want.iter().map(|c| c.get()).collect();
        assert_eq!(query_ids(&e, text), want, "{text}");
        assert_eq!(e.count(text)?, want.len() as u64, "{text}");
    }
    assert_eq!(e.tags_of(d)?, Vec::<&str>::new());
    assert_eq!(e.attrs_of(a)?, [("vip", 2)]);
    assert_eq!(e.tags_of(a)?, ["vip"]);
    // Deleting the tag leaves the attribute; removing the values leaves the tag.
    e.delete_tag("vip")?;
    assert!(matches!(e.count("vip"), Err(Error::UnknownTag { .. })));
    assert_eq!(query_ids(&e, "vip > 0"), [a.get(), c.get()]);
    e.tag(b, "vip")?;
    for id in [a, c, d] {
        e.unset_attr(id, "vip")?;
    }
    assert_eq!(e.count("vip >= -9223372036854775808")?, 0);
    assert_eq!(query_ids(&e, "vip"), [b.get()]);
    Ok(())
}

#[test]
fn the_largest_customer_id_has_attributes_like_any_other() -> Result {
    let mut e = Engine::new();
    let low = e.customer_id(0u32)?;
    let top = e.customer_id(u32::MAX)?;
    assert_eq!(e.set_attr(top, "age", 40), Ok(None));
    assert_eq!(e.set_attr(top, "age", 41), Ok(Some(40)));
    e.set_attr(low, "age", 20)?;
    assert_eq!(query_ids(&e, "age > 30"), [u32::MAX]);
    assert_eq!(query_ids(&e, "age >= 20"), [0, u32::MAX]);
    assert_eq!(query_ids(&e, "NOT age > 30"), [0]);
    assert_eq!(e.set_attrs([(top, "score", i64::MIN), (low, "score", i64::MAX)])?, 2);
    assert_eq!(query_ids(&e, "score < 0"), [u32::MAX]);
    assert_eq!(query_ids(&e, "score = -9223372036854775808"), [u32::MAX]);
    assert_eq!(query_ids(&e, "score = 9223372036854775807"), [0]);
    assert_eq!(e.attr(top, "score")?, Some(i64::MIN));
    assert_eq!(e.attrs_of(top)?, [("age", 41), ("score", i64::MIN)]);

    // Removal drops its values; registered anew, it has none.
    e.remove_customer(top)?;
    assert_eq!(query_ids(&e, "age >= 0"), [0]);
    assert_eq!(e.attributes().collect::<Vec<_>>(), [("age", 1), ("score", 1)]);
    assert_eq!(e.customer_id(u32::MAX)?, top);
    assert_eq!(e.attr(top, "age")?, None);
    assert_eq!(e.attrs_of(top)?, []);
    assert_eq!(query_ids(&e, "NOT age >= 0"), [u32::MAX]);
    assert_eq!(query_ids(&e, "score < 0"), Vec::<u32>::new());
    Ok(())
}

/// Values at the ends of `i64`, set in an order that moves the index's base down twice and
/// widens it to 64 bits; every operator with every value and its neighbours as the literal.
#[test]
fn i64_extremes_as_values_and_literals() -> Result {
    let values = [0, 1, -1, i64::MAX - 1, -(1 << 62), i64::MAX, i64::MIN + 1, 1 << 62, i64::MIN];
    let mut literals: Vec<i64> = values.iter().flat_map(|&v| [v.saturating_sub(1), v, v.saturating_add(1)]).collect();
    literals.sort_unstable();
    literals.dedup();
    let check = |e: &Engine| -> Result {
        let live = e.customer_count();
        for op in CmpOp::ALL {
            for &lit in &literals {
                let want = scan(e, "x", op, lit);
                for text in [format!("x {op} {lit}"), format!("x{op}{lit}")] {
                    assert_eq!(query_ids(e, &text), want, "{text}");
                    assert_eq!(e.count(&text)?, want.len() as u64, "{text}");
                    assert_eq!(e.count(&format!("NOT {text}"))?, live - want.len() as u64, "NOT {text}");
                }
                assert_eq!(ids(&e.select(&Query::compare("x", op, lit))?), want);
            }
        }
        Ok(())
    };
    let mut e = Engine::new();
    let ids_: Vec<CustomerId> = (0..=values.len() as u32).map(|i| e.customer_id(i).unwrap()).collect();
    // The last customer never has a value.
    for (i, &v) in values.iter().enumerate() {
        assert_eq!(e.set_attr(ids_[i], "x", v), Ok(None));
        check(&e)?;
    }
    for (i, &v) in values.iter().enumerate() {
        assert_eq!(e.attr(ids_[i], "x")?, Some(v));
    }
    assert_eq!(e.attr(ids_[values.len()], "x")?, None);
    assert_eq!(e.count("x >= -9223372036854775808")?, values.len() as u64);
    assert_eq!(e.count("x <= 9223372036854775807")?, values.len() as u64);
    assert_eq!(e.count("x < -9223372036854775808 OR x > 9223372036854775807")?, 0);
    assert_eq!(e.count("x != 0")?, values.len() as u64 - 1);

    // The same values in one bulk load (with repeats), and moved around afterwards.
    let mut bulk = Engine::new();
    for id in &ids_ {
        bulk.customer_id(*id)?;
    }
    let triples = ids_.iter().zip(values).map(|(&c, v)| (c, "x", v));
    let repeats = ids_.iter().zip(values).map(|(&c, v)| (c, "x", v.wrapping_neg()));
    assert_eq!(bulk.set_attrs(repeats.chain(triples))?, 2 * values.len() as u64);
    check(&bulk)?;
    for (i, &v) in values.iter().enumerate() {
        assert_eq!(bulk.attr(ids_[i], "x")?, Some(v), "the last value given wins");
    }
    for (i, &v) in values.iter().rev().enumerate() {
        bulk.set_attr(ids_[i], "x", v)?;
        e.set_attr(ids_[i], "x", v)?;
    }
    check(&bulk)?;
    check(&e)?;
    Ok(())
}

#[test]
fn a_customer_without_a_value_matches_no_comparison() -> Result {
    let mut e = Engine::new();
    let [ann, bob, cat] = ["ann", "bob", "cat"].map(|k| e.customer(k).unwrap());
    e.set_attr(ann, "age", 34)?;
    e.set_attr(bob, "age", 30)?;
    e.tag(cat, "vip")?;
    e.tag(ann, "vip")?;
    let who = |e: &Engine, text: &str| -> Vec<CustomerId> { e.query(text).unwrap().iter().collect() };
    assert_eq!(who(&e, "age >= 30"), [ann, bob]);
    assert_eq!(who(&e, "NOT age >= 30"), [cat], "no value: not >= 30");
    assert_eq!(who(&e, "age != 30"), [ann], "no value: not != 30 either");
    assert_eq!(who(&e, "NOT age != 30"), [bob, cat]);
    assert_eq!(who(&e, "age = 30"), [bob]);
    assert_eq!(who(&e, "NOT age = 30"), [ann, cat]);
    assert_eq!(who(&e, "age < 30 OR age >= 30"), [ann, bob], "the customers with a value");
    assert_eq!(who(&e, "NOT (age < 30 OR age >= 30)"), [cat], "the customers without one");
    assert_eq!(who(&e, "vip AND NOT age >= 30"), [cat]);
    assert_eq!(who(&e, "vip AND age != 30"), [ann]);
    assert_eq!(who(&e, "NOT vip OR age < 31"), [bob]);
    assert_eq!(e.count("NOT age >= 30")?, 1);
    assert_eq!(e.count("vip AND NOT age >= 30")?, 1);
    // Unset: bob has no value now.
    assert_eq!(e.unset_attr(bob, "age"), Ok(Some(30)));
    assert_eq!(e.unset_attr(bob, "age"), Ok(None));
    assert_eq!(who(&e, "NOT age >= 30"), [bob, cat]);
    assert_eq!(who(&e, "age != 30"), [ann]);
    // Removed: in no comparison, and not counted by NOT.
    e.remove_customer(ann)?;
    assert_eq!(e.count("age >= 0 OR age < 0")?, 0);
    assert_eq!(who(&e, "NOT age >= 30"), [bob, cat]);
    assert_eq!(e.attributes().collect::<Vec<_>>(), [("age", 0)], "the attribute stays known");
    Ok(())
}

#[test]
fn a_defined_attribute_nobody_has_matches_nobody() -> Result {
    let mut e = Engine::new();
    let who: Vec<CustomerId> = ["a", "b", "c"].iter().map(|k| e.customer(k).unwrap()).collect();
    e.set_attr(who[0], "other", 1)?;
    e.define_attr("age")?;
    e.define_attr(" age ")?; // the same name: a no-op
    assert_eq!(e.attributes().collect::<Vec<_>>(), [("other", 1), ("age", 0)]);
    for op in CmpOp::ALL {
        for lit in [i64::MIN, -1, 0, 1, i64::MAX] {
            let q = Query::compare("age", op, lit);
            assert_eq!(e.count(&q)?, 0, "{q}");
            assert!(e.select(&q)?.is_empty(), "{q}");
            assert_eq!(e.count(&q.clone().not())?, 3, "NOT {q}");
            assert_eq!(e.count(&format!("NOT {q}"))?, 3, "NOT {q}");
            assert_eq!(e.count(&q.clone().or(Query::everyone()))?, 3, "{q} OR *");
            assert_eq!(e.count(&Query::everyone().and_not(q.clone()))?, 3, "* AND NOT {q}");
        }
    }
    assert_eq!(e.count("age != 5")?, 0);
    assert_eq!(e.count("age >= 0 OR NOT age >= 0")?, 3);
    assert_eq!(e.attr(who[0], "age")?, None);
    assert_eq!(e.attrs_of(who[0])?, [("other", 1)]);
    assert_eq!(e.unset_attr(who[0], "age"), Ok(None));

    // Names `refresh` derives, and invalid names, are refused and create nothing.
    let before = fingerprint(&e);
    for derived in ["recency_days", " frequency", "monetary"] {
        assert!(matches!(e.define_attr(derived), Err(Error::DerivedName { .. })), "{derived:?}");
        assert!(matches!(e.set_attr(who[0], derived, 1), Err(Error::DerivedName { .. })), "{derived:?}");
        assert!(matches!(e.set_attrs([(who[0], "new", 1), (who[1], derived, 1)]), Err(Error::DerivedName { .. })));
    }
    for bad in ["", "   ", "a//b", "bell\u{7}", "a\nb"] {
        let invalid = |r: Result<()>| matches!(r, Err(Error::InvalidAttributeName { .. }));
        assert!(invalid(e.define_attr(bad)), "{bad:?}");
        assert!(invalid(e.set_attr(who[0], bad, 1).map(drop)), "{bad:?}");
        assert!(invalid(e.set_attrs([(who[0], "new", 1), (who[1], bad, 1)]).map(drop)), "{bad:?}");
        assert!(invalid(e.unset_attr(who[0], bad).map(drop)), "{bad:?}");
        assert!(invalid(e.attr(who[0], bad).map(drop)), "{bad:?}");
        assert!(invalid(e.count(&Query::compare(bad, CmpOp::Eq, 1)).map(drop)), "{bad:?}");
    }
    assert!(matches!(
        e.set_attrs([(who[0], "new", 1), (CustomerId(99), "new", 1)]),
        Err(Error::UnknownCustomer { .. })
    ));
    assert_eq!(fingerprint(&e), before, "a refused call changed the engine");
    // Not refreshed yet: the derived attributes are unknown to queries.
    assert!(matches!(e.count("recency_days >= 0"), Err(Error::UnknownAttribute { .. })));
    Ok(())
}

/// A small xorshift generator: the same customers on every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn a_100_000_customer_scan_agrees_with_every_comparison() -> Result {
    const N: u32 = 100_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut e = Engine::new();
    for i in 0..N {
        e.customer_id(i)?;
    }
    e.tag_pairs((0..N).step_by(2).map(|i| (CustomerId(i), "even")))?;
    // One customer in ten has no value; the rest: small, large, the ends of i64, anything.
    let mut values: Vec<Option<i64>> = (0..N)
        .map(|_| match rng.below(20) {
            0 | 1 => None,
            2..=11 => Some(rng.below(2001) as i64 - 1000),
            12..=14 => Some((rng.below(1 << 41) as i64) - (1 << 40)),
            15 => Some([i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX][rng.below(4) as usize]),
            _ => Some(rng.next() as i64),
        })
        .collect();
    // One customer in twenty through a bulk load (with a wrong value first for some, which the
    // last value replaces), the rest one by one. (A bulk load of all 90,000 values takes
    // seconds in a debug build: roaring's `from_sorted_iter` is slow unoptimized.)
    let triples: Vec<(CustomerId, &str, i64)> =
        values.iter().enumerate().filter_map(|(i, v)| Some((CustomerId(i as u32), "x", (*v)?))).collect();
    let (bulk, single): (Vec<_>, Vec<_>) = triples.iter().partition(|(c, ..)| c.get() % 20 == 3);
    let wrong = bulk.iter().step_by(3).map(|&(c, n, v)| (c, n, v.wrapping_add(1)));
    assert_eq!(e.set_attrs(wrong.chain(bulk.iter().copied()))?, bulk.len() as u64 + bulk.len().div_ceil(3) as u64);
    for (c, n, v) in single {
        assert_eq!(e.set_attr(c, n, v)?, None);
    }
    // A few single writes after the loads, beyond their range (the base moves again).
    for (i, v) in [(7, i64::MIN), (8, i64::MAX), (9, -5), (10, i64::MIN + 7)] {
        e.set_attr(CustomerId(i), "x", v)?;
        values[i as usize] = Some(v);
    }
    let with_value = values.iter().filter(|v| v.is_some()).count() as u64;
    assert_eq!(e.attributes().collect::<Vec<_>>(), [("x", with_value)]);

    let mut literals = vec![i64::MIN, i64::MIN + 1, -1001, -1000, 0, 1000, 1 << 40, i64::MAX - 1, i64::MAX];
    for _ in 0..3 {
        let v = values[rng.below(u64::from(N)) as usize].unwrap_or(0);
        literals.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
    }
    literals.push(rng.next() as i64);
    let scan = |values: &[Option<i64>], op: CmpOp, lit: i64| -> Vec<u32> {
        (0..N).filter(|&i| values[i as usize].is_some_and(|v| holds(op, v, lit))).collect()
    };
    let evens = u64::from(N / 2); // only odd customers are removed below
    let check = |e: &Engine, values: &[Option<i64>], live: u64| -> Result {
        for op in CmpOp::ALL {
            for &lit in &literals {
                let want = scan(values, op, lit);
                let text = format!("x {op} {lit}");
                assert_eq!(e.count(&text)?, want.len() as u64, "{text}");
                assert_eq!(query_ids(e, &text), want, "{text}");
                assert_eq!(e.count(&format!("NOT {text}"))?, live - want.len() as u64, "NOT {text}");
                let even = want.iter().filter(|&&i| i % 2 == 0).count() as u64;
                assert_eq!(e.count(&format!("even AND {text}"))?, even, "even AND {text}");
                assert_eq!(e.count(&format!("even AND NOT {text}"))?, evens - even, "even AND NOT {text}");
            }
        }
        Ok(())
    };
    check(&e, &values, u64::from(N))?;
    // Remove every hundredth customer that is odd: their values go too.
    let mut live = u64::from(N);
    for i in (1..N).step_by(200) {
        e.remove_customer(CustomerId(i))?;
        values[i as usize] = None;
        live -= 1;
    }
    check(&e, &values, live)?;
    let plan = e.explain("even AND x >= 0 AND NOT x > 1000")?;
    let want = scan(&values, CmpOp::Ge, 0).into_iter().filter(|&i| i % 2 == 0 && values[i as usize] <= Some(1000));
    assert_eq!(plan.count(), want.count() as u64);
    Ok(())
}
