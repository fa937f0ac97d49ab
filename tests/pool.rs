//! The tag pool: what a name may be (normal form, Unicode, names that need quotes in a query,
//! trimming, invalid names that change nothing), defining tags and their kinds, exclusive
//! groups, hierarchy links and counts, renaming and deleting, and the listings.

mod common;

use audience::{Engine, Error, Query, TagKind};
use common::observe::{held, snapshot};
use common::{Result, ids, members, names, suggestions};

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
    assert_eq!(suggestions(e.count("高消")).first().map(String::as_str), Some("高消费"));
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
        assert_eq!(members(&e, &text), [c.get()], "{text}");
        assert_eq!(e.tags_of(*c)?, [*n]);
    }
    // A quoted "*" is the tag, a bare * is everyone.
    assert_eq!(e.count("\"*\"")?, 1);
    assert_eq!(e.count("*")?, names.len() as u64);
    // Escapes in hand-written text.
    assert_eq!(members(&e, r#""say \"hi\"" OR "back\\slash""#), [who[8].get(), who[10].get()]);
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
    let before = (snapshot(&e), held(&e));
    for bad in invalid {
        let is_invalid = |r: Result<()>| matches!(r, Err(Error::InvalidTagName { .. }));
        assert!(is_invalid(e.tag(c, bad).map(drop)), "tag {bad:?}");
        assert!(is_invalid(e.ensure_tag(bad).map(drop)), "ensure_tag {bad:?}");
        assert!(is_invalid(e.define_tag(bad, audience::TagKind::Value).map(drop)), "define_tag {bad:?}");
        assert!(is_invalid(e.tag_pairs([(c, "ok"), (c, bad)]).map(drop)), "tag_pairs {bad:?}");
        assert!(is_invalid(e.tag_all(&e.customers(), bad).map(drop)), "tag_all {bad:?}");
        assert!(is_invalid(e.rename_tag("vip", bad)), "rename_tag {bad:?}");
        assert_eq!((snapshot(&e), held(&e)), before, "{bad:?} changed the engine");
    }
    // Names that are invalid as such (not only as group values) are refused everywhere.
    for bad in &invalid[..12] {
        let is_invalid = |r: Result<()>| matches!(r, Err(Error::InvalidTagName { .. }));
        assert!(is_invalid(e.untag(c, bad).map(drop)), "untag {bad:?}");
        assert!(is_invalid(e.delete_tag(bad).map(drop)), "delete_tag {bad:?}");
        assert!(is_invalid(e.select(&Query::tag(bad)).map(drop)), "select {bad:?}");
        assert!(is_invalid(e.rename_tag(bad, "x")), "rename_tag from {bad:?}");
    }
    assert_eq!((snapshot(&e), held(&e)), before);
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

// ------------------------------------------------------------------ defining, listing, renaming, deleting

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
