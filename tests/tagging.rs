//! Tagging: `tag` and `untag`, `tag_all` and `untag_all` over an audience, and the bulk loads
//! `tag_pairs` and `tag_id_pairs`: all or nothing, the net number of new assignments, the
//! last value of an exclusive group wins, and each equal to tagging pair by pair on a clone
//! (the dense `0..n` fast path included, with the tag checked once per run).

mod common;

use std::collections::BTreeSet;

use audience::{Audience, CustomerId, Engine, Error, TagId};
use common::observe::{picture, tag_list};
use common::{config, day, names};
use proptest::prelude::*;

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
    #![proptest_config(config(64))]

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

const NAMES: [&str; 14] =
    ["a", "b", "g/h", "tier:1", "tier:2", "new", "new/leaf", "tier:3", " a ", "B", "", "stage:new", "g/", "gone"];
/// `NAMES[..VALID]` are accepted names (some of them new); the rest are mostly errors.
const VALID: usize = 8;

/// A name index: mostly valid names.
fn name_index() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..VALID, 1 => 0..NAMES.len()]
}

/// Customers `0..n`, dense (0), with holes (1), with a customer beyond `n` (2), with a
/// keyed customer appended (3, still dense), or with exactly one hole (4); tags `a`, `b`, `g/h`, the group `tier`, the
/// derived groups (a refresh), and a deleted tag `gone`.
fn tagging_engine(n: u32, variant: u8, holes: &[u32]) -> Engine {
    let mut e = Engine::new();
    e.customer_id_range(0..n).unwrap();
    match variant {
        1 => {
            for &h in holes {
                let _ = e.remove_customer(CustomerId(h % n.max(1)));
            }
        }
        2 => {
            e.customer_id(n + 2).unwrap();
        }
        3 => {
            e.customer("keyed").unwrap();
        }
        4 if n > 0 => {
            e.remove_customer(CustomerId(holes[0] % n)).unwrap();
        }
        _ => {}
    }
    e.define_exclusive_group("tier").unwrap();
    for name in ["a", "b", "g/h", "tier:1", "tier:2", "gone"] {
        e.ensure_tag(name).unwrap();
    }
    for c in e.customers().iter().step_by(3) {
        e.tag(c, "tier:1").unwrap();
        e.tag(c, "b").unwrap();
    }
    e.refresh(day(0)).unwrap(); // creates the derived groups (stage:new, r:1, ...)
    e.delete_tag("gone").unwrap();
    e
}

/// Every (customer, tag name) assignment.
fn assignments(e: &Engine) -> BTreeSet<(u32, String)> {
    e.customers().iter().flat_map(|c| e.tags_of(c).unwrap().into_iter().map(move |t| (c.0, t.to_owned()))).collect()
}

/// Applies `pairs` one by one with `Engine::tag` on a clone, checking each name before its
/// customer as the bulk load does: the end state and the number of new assignments, or the
/// first error.
fn tag_one_by_one(e: &Engine, pairs: &[(CustomerId, &str)]) -> Result<(Engine, u64), Error> {
    let mut m = e.clone();
    for &(c, name) in pairs {
        m.clone().ensure_tag(name)?;
        m.tag(c, name)?;
    }
    let added = assignments(&m).difference(&assignments(e)).count() as u64;
    Ok((m, added))
}

proptest! {
    #![proptest_config(config(120))]

    /// tag_pairs equals tag calls pair by pair, whatever the live set looks like; all or nothing.
    #[test]
    fn tag_pairs_equal_tagging_one_by_one(
        n in 0..40u32,
        variant in 0..5u8,
        holes in prop::collection::vec(any::<u32>(), 1..6),
        pairs in prop::collection::vec((0..44u32, name_index()), 0..50),
        sorted in any::<bool>(),
    ) {
        let e = tagging_engine(n, variant, &holes);
        let mut pairs: Vec<(CustomerId, &str)> = pairs.iter().map(|&(c, t)| (CustomerId(c), NAMES[t])).collect();
        if sorted {
            pairs.sort_by_key(|&(c, t)| (t, c));
        }
        let mut bulk = e.clone();
        let got = bulk.tag_pairs(pairs.iter().copied());
        match tag_one_by_one(&e, &pairs) {
            Ok((want, added)) => {
                prop_assert_eq!(got, Ok(added));
                prop_assert_eq!(tag_list(&bulk), tag_list(&want));
                prop_assert_eq!(picture(&bulk, &[]), picture(&want, &[]));
            }
            Err(err) => {
                prop_assert_eq!(got, Err(err));
                prop_assert_eq!(tag_list(&bulk), tag_list(&e), "no tag created");
                prop_assert_eq!(picture(&bulk, &[]), picture(&e, &[]), "nothing applied");
            }
        }
    }

    /// tag_id_pairs equals tag calls pair by pair; unknown, deleted and derived ids are refused
    /// wherever they come in a run.
    #[test]
    fn tag_id_pairs_equal_tagging_one_by_one(
        n in 0..40u32,
        variant in 0..5u8,
        holes in prop::collection::vec(any::<u32>(), 1..6),
        pairs in prop::collection::vec((0..44u32, prop_oneof![12 => 0..6usize, 1 => 6..9usize]), 0..50),
        sorted in any::<bool>(),
    ) {
        let e = tagging_engine(n, variant, &holes);
        let gone = TagId(e.tags().map(|t| t.id.0).max().unwrap() + 1); // past every slot
        let deleted = (0..gone.0).map(TagId).find(|&t| e.tag_name(t).is_none()).expect("`gone` was deleted");
        let ids: [TagId; 9] = [
            e.tag_id("a").unwrap(),
            e.tag_id("b").unwrap(),
            e.tag_id("g/h").unwrap(),
            e.tag_id("g").unwrap(),
            e.tag_id("tier:1").unwrap(),
            e.tag_id("tier:2").unwrap(),
            deleted,
            TagId(gone.0 + 1_000),
            e.tag_id("stage:new").unwrap(),
        ];
        let mut pairs: Vec<(CustomerId, TagId)> = pairs.iter().map(|&(c, t)| (CustomerId(c), ids[t])).collect();
        if sorted {
            pairs.sort_by_key(|&(c, t)| (t, c));
        }
        // The model: the tag is checked first, then the customer, then `tag` by name.
        let model = || -> Result<(Engine, u64), Error> {
            let mut named = Vec::new();
            for &(c, t) in &pairs {
                let name = e.tag_name(t).ok_or(Error::UnknownTagId { id: t })?;
                e.clone().ensure_tag(name)?; // a derived name is refused here
                if !e.is_customer(c) {
                    return Err(Error::UnknownCustomer { id: c });
                }
                named.push((c, name));
            }
            tag_one_by_one(&e, &named)
        };
        let mut bulk = e.clone();
        let got = bulk.tag_id_pairs(pairs.iter().copied());
        match model() {
            Ok((want, added)) => {
                prop_assert_eq!(got, Ok(added));
                prop_assert_eq!(tag_list(&bulk), tag_list(&want));
                prop_assert_eq!(picture(&bulk, &[]), picture(&want, &[]));
            }
            Err(err) => {
                prop_assert_eq!(got, Err(err));
                prop_assert_eq!(picture(&bulk, &[]), picture(&e, &[]), "nothing applied");
            }
        }
    }
}

#[test]
fn a_dense_bulk_load_checks_customers_past_the_dense_prefix() {
    let mut e = Engine::new();
    let n = 200_000;
    e.customer_id_range(0..n).unwrap();
    let t = e.ensure_tag("t").unwrap();
    let before = e.stats();
    // The one bad customer comes last, after a long valid run of the same tag.
    let pairs = (0..n).map(|c| (CustomerId(c), t)).chain([(CustomerId(n), t)]);
    assert_eq!(e.tag_id_pairs(pairs), Err(Error::UnknownCustomer { id: CustomerId(n) }));
    assert_eq!(e.stats(), before, "nothing applied");
    // A hole at the end of the prefix: the live set is 0..n-1, so n-1 is refused.
    e.remove_customer(CustomerId(n - 1)).unwrap();
    assert_eq!(
        e.tag_id_pairs([(CustomerId(0), t), (CustomerId(n - 1), t)]),
        Err(Error::UnknownCustomer { id: CustomerId(n - 1) })
    );
    assert_eq!(
        e.tag_pairs([(CustomerId(5), "t"), (CustomerId(n - 1), "t")]),
        Err(Error::UnknownCustomer { id: CustomerId(n - 1) })
    );
    // A hole in the middle.
    e.remove_customer(CustomerId(7)).unwrap();
    assert_eq!(
        e.tag_pairs([(CustomerId(5), "t"), (CustomerId(7), "t")]),
        Err(Error::UnknownCustomer { id: CustomerId(7) })
    );
    assert_eq!(e.count("t").unwrap(), 0);
    assert_eq!(e.tag_id_pairs((0..n - 1).filter(|&c| c != 7).map(|c| (CustomerId(c), t))).unwrap(), u64::from(n) - 2);
    assert_eq!(e.count("t").unwrap(), u64::from(n) - 2);
    assert_eq!(e.count("NOT t").unwrap(), 0);
}
