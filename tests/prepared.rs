//! Prepared queries (`Engine::prepare`) give what their text gives, through random changes
//! of members and of the tag pool (tags created, deleted, renamed, aliased, unaliased,
//! given a parent), on the engine, on a reader, and on another engine.

mod common;

use audience::{CustomerId, Engine, Prepared};
use common::config;
use proptest::prelude::*;

/// Tags, and `z`, a name only ever an alias.
const NAMES: [&str; 6] = ["a", "b", "c/x", "高消费", "d", "z"];

/// The queries prepared at the start (those that resolve then), over tags that come and go.
const QUERIES: [&str; 11] = [
    "a",
    "NOT a",
    "a AND b",
    "a OR b OR c",
    "c AND NOT a",
    "(a OR 高消费) AND NOT (b AND c/x)",
    "c OR d",
    "score >= 5 AND a",
    "NOT score < 3",
    "*",
    "z OR d",
];

#[derive(Clone, Debug)]
enum Op {
    Tag(u32, usize),
    Untag(u32, usize),
    Delete(usize),
    Rename(usize, usize),
    Alias(usize, usize),
    Unalias(usize),
    Parent(usize, usize),
    Score(u32, i64),
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    prop_oneof![
        4 => (0u32..12, name.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        2 => (0u32..12, name.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        1 => name.clone().prop_map(Op::Delete),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Alias(a, b)),
        1 => name.clone().prop_map(Op::Unalias),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Parent(a, b)),
        1 => (0u32..12, 0i64..8).prop_map(|(c, v)| Op::Score(c, v)),
    ]
}

/// Applies `op`; refused changes (a name taken, a cycle, ...) are part of the game.
fn apply(e: &mut Engine, op: &Op) {
    let _ = match *op {
        Op::Tag(c, t) => e.tag(CustomerId(c), NAMES[t]).map(drop),
        Op::Untag(c, t) => e.untag(CustomerId(c), NAMES[t]).map(drop),
        Op::Delete(t) => e.delete_tag(NAMES[t]).map(drop),
        Op::Rename(a, b) => e.rename_tag(NAMES[a], NAMES[b]),
        Op::Alias(a, b) => e.alias_tag(NAMES[a], NAMES[b]).map(drop),
        Op::Unalias(a) => e.unalias_tag(NAMES[a]).map(drop),
        Op::Parent(a, b) => e.rename_tag(NAMES[a], &format!("{}/{}", NAMES[b], NAMES[a].replace('/', "_"))),
        Op::Score(c, v) => e.set_attr(CustomerId(c), "score", v).map(drop),
    };
}

/// What a query gives on `e`: by its text, and prepared (the same, or the same error kind).
fn check(e: &Engine, text: &str, p: &Prepared) -> Result<(), TestCaseError> {
    let by_text = e.count(text);
    let prepared = e.count(p);
    match (&by_text, &prepared) {
        (Ok(x), Ok(y)) => prop_assert_eq!(x, y, "{}", text),
        (Err(x), Err(y)) => prop_assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y), "{}", text),
        _ => prop_assert!(false, "{text}: by text {by_text:?}, prepared {prepared:?}"),
    }
    if let (Ok(a), Ok(b)) = (e.select(text), e.select(p)) {
        prop_assert_eq!(a, b, "{}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn prepared_queries_give_what_their_text_gives(ops in prop::collection::vec(op(), 0..40)) {
        let mut e = Engine::new();
        let mut other = Engine::new();
        for c in 0..12u32 {
            e.customer_id(c).unwrap();
            other.customer_id(c).unwrap();
        }
        for (i, name) in NAMES.iter().enumerate().take(5) {
            e.tag(CustomerId(i as u32), name).unwrap();
            other.tag(CustomerId(11 - i as u32), name).unwrap();
        }
        e.alias_tag("z", "a").unwrap();
        e.set_attr(CustomerId(0), "score", 6).unwrap();
        let prepare = |e: &Engine| -> Vec<(&str, Prepared)> {
            QUERIES.iter().filter_map(|&q| e.prepare(q).ok().map(|p| (q, p))).collect()
        };
        let first = prepare(&e);
        prop_assert_eq!(first.len(), QUERIES.len(), "every query resolves at the start");
        // Prepared at the start, and prepared again after every change (so each change is
        // the first one some prepared queries see).
        let mut latest = first.clone();
        for op in &ops {
            apply(&mut e, op);
            let reader = e.reader();
            for (text, p) in first.iter().chain(&latest) {
                check(&e, text, p)?;
                check(&reader, text, p)?;
                check(&other, text, p)?;
            }
            latest = prepare(&e);
        }
    }
}

/// The prepared plan is used while the pool stands still, and only then: a prepared query
/// keeps answering after its tag is renamed away only by failing as its text does, and
/// answers again once the name is back.
#[test]
fn a_prepared_query_follows_the_pool() {
    let mut e = Engine::new();
    let a = e.customer("a").unwrap();
    e.tag(a, "vip").unwrap();
    let p = e.prepare("vip").unwrap();
    assert_eq!(e.count(&p).unwrap(), 1);
    assert_eq!(p.to_string(), "vip");
    e.rename_tag("vip", "gold").unwrap();
    assert!(matches!(e.count(&p), Err(audience::Error::UnknownTag { .. })));
    e.alias_tag("vip", "gold").unwrap();
    assert_eq!(e.count(&p).unwrap(), 1, "the alias resolves as the text does");
    let b = e.customer("b").unwrap();
    e.tag(b, "gold").unwrap();
    assert_eq!(e.select(&p).unwrap().len(), 2);
    assert!(e.prepare("nope").is_err());
    // An alias removed: the prepared query fails as its text does; prepared again, it
    // resolves again.
    let only_alias = e.prepare("vip").unwrap();
    e.unalias_tag("vip").unwrap();
    assert!(matches!(e.count(&only_alias), Err(audience::Error::UnknownTag { .. })));
    e.alias_tag("vip", "gold").unwrap();
    let again = e.prepare(&only_alias).unwrap();
    assert_eq!(e.count(&again).unwrap(), 2);
}
