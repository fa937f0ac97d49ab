//! The public contract: the quickstart of the crate docs (run here verbatim), the auto traits
//! and `Debug` of every public type, and engines and queries shared across threads.

use std::fmt::Debug;

use audience::{
    AsQuery, Audience, CustomerId, Engine, Error, Explain, ExplainNode, Iter, Page, Query, Stats, TagId, TagInfo,
    TagKind,
};
use audience::{Expr, Span, TagRef};

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
