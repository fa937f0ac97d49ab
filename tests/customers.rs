//! Customers: keys and dense ids, ranges of ids, the ends of `u32`, removal one by one and in
//! batches, and keys used again after a removal.
//!
//! `remove_customers` (batch erasure) equals removing the same live customers one by one, in
//! everything a caller can observe and in the next refreshes' reports; `customer_id_range`
//! equals a loop of `customer_id` (live set, next key id, return value), refusing a range with
//! a keyed customer's id as a whole.

mod common;

use audience::{Audience, CustomerId, Engine, Error, Page, Query};
use common::observe::{held, picture, snapshot, tag_list};
use common::{Result, config, day, members, money, nth_live};
use proptest::prelude::*;

// ------------------------------------------------------------------ keys, dense ids, the ends of u32

#[test]
fn the_largest_customer_id_works_like_any_other() -> Result {
    let mut e = Engine::new();
    let a = e.customer("a")?;
    let top = e.customer_id(u32::MAX).unwrap();
    assert_eq!(top, CustomerId(u32::MAX));
    assert_eq!(e.tag(top, "vip"), Ok(true));
    e.tag(a, "other")?;
    assert_eq!(e.count("vip")?, 1);
    assert_eq!(members(&e, "vip"), [u32::MAX]);
    assert_eq!(members(&e, "NOT vip"), [0]);
    assert_eq!(members(&e, "*"), [0, u32::MAX]);
    assert_eq!(members(&e, "NOT other"), [u32::MAX]);
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
    let before = (snapshot(&e), held(&e));
    assert_eq!(e.customer("x"), Err(Error::CustomerIdsExhausted));
    assert_eq!(e.customer("x"), Err(Error::CustomerIdsExhausted));
    assert_eq!((snapshot(&e), held(&e)), before);
    assert_eq!(e.customer("a"), Ok(a));
    assert_eq!(e.customer_id(u32::MAX).unwrap(), top, "registering a live id again changes nothing");
    assert_eq!((snapshot(&e), held(&e)), before);

    // Dense ids below still register; keys stay exhausted.
    assert_eq!(e.customer_id(5).unwrap(), CustomerId(5));
    assert_eq!(e.customer("y"), Err(Error::CustomerIdsExhausted));
    assert_eq!(e.tag_pairs([(top, "bulk"), (CustomerId(5), "bulk")])?, 2);
    assert_eq!(members(&e, "bulk"), [5, u32::MAX]);

    // Removal erases it; ids are not handed out again for keys.
    e.remove_customer(top)?;
    assert_eq!(e.count("vip")?, 0);
    assert_eq!(members(&e, "*"), [0, 5]);
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
    assert_eq!(members(&e, "t"), [u32::MAX]);
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
    let before = (snapshot(&e), held(&e));
    assert_eq!(e.remove_customer(a), Err(Error::UnknownCustomer { id: a }));
    assert_eq!((snapshot(&e), held(&e)), before);
    assert_eq!(e.tag(a, "vip"), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.untag(a, "vip"), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.tags_of(a), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.tag_pairs([(b, "vip"), (a, "vip")]), Err(Error::UnknownCustomer { id: a }));
    assert_eq!((snapshot(&e), held(&e)), before);
    assert!(!e.is_customer(a));
    assert_eq!(e.key_of(a), None);
    assert_eq!(e.id_of("a"), None);
    assert_eq!(e.count("vip")?, 0);
    assert_eq!(members(&e, "NOT vip"), [b.get()]);
    // tag_all skips customers removed since the audience was computed.
    let stale: Audience = [a, b].into_iter().collect();
    assert_eq!(e.tag_all(&stale, "campaign")?, 1);
    assert_eq!(members(&e, "campaign"), [b.get()]);
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

// ------------------------------------------------------------------ batch erasure

const TAGS: [&str; 7] = ["a", "b", "x/y", "x/z", "tier:gold", "tier:silver", "tier:bronze"];
const ATTRS: [&str; 2] = ["age", "score"];

#[derive(Clone, Debug)]
struct World {
    keyed: usize,
    dense: Vec<u32>,
    tags: Vec<(usize, usize)>,
    attrs: Vec<(usize, usize, i64)>,
    /// Purchases before the first refresh, between the two, and after the second (pending).
    buys: [Vec<(usize, i32, i64)>; 3],
    /// Removed one by one before the second refresh, and after the last purchases.
    removed: [Vec<usize>; 2],
}

fn world() -> impl Strategy<Value = World> {
    // A big first load, a few purchases next (the recent tier stays under an eighth of the
    // base, so it is not compacted), then pending ones.
    let buys = |n| prop::collection::vec((any::<usize>(), 0..150i32, -200..2_000i64), 0..n);
    (
        0..10usize,
        prop::collection::vec(prop_oneof![0..40u32, 1_000..1_010u32], 0..30),
        prop::collection::vec((any::<usize>(), 0..TAGS.len()), 0..60),
        prop::collection::vec((any::<usize>(), 0..ATTRS.len(), prop_oneof![0..100i64, any::<i64>()]), 0..40),
        (buys(120), buys(6), buys(25)),
        (prop::collection::vec(any::<usize>(), 0..4), prop::collection::vec(any::<usize>(), 0..4)),
    )
        .prop_map(|(keyed, dense, tags, attrs, (b0, b1, b2), (r0, r1))| World {
            keyed,
            dense,
            tags,
            attrs,
            buys: [b0, b1, b2],
            removed: [r0, r1],
        })
}

fn build(w: &World) -> (Engine, Vec<String>) {
    let mut e = Engine::new();
    e.define_exclusive_group("tier").unwrap();
    let keys: Vec<String> = (0..w.keyed).map(|i| format!("k{i}")).collect();
    for k in &keys {
        e.customer(k).unwrap();
    }
    for &d in &w.dense {
        let _ = e.customer_id(d); // a keyed customer's id is refused: fine
    }
    for &(c, t) in &w.tags {
        if let Some(c) = nth_live(&e, c) {
            e.tag(c, TAGS[t]).unwrap();
        }
    }
    for &(c, a, v) in &w.attrs {
        if let Some(c) = nth_live(&e, c) {
            e.set_attr(c, ATTRS[a], v).unwrap();
        }
    }
    let buy = |e: &mut Engine, list: &[(usize, i32, i64)]| {
        for &(c, d, m) in list {
            if let Some(c) = nth_live(e, c) {
                e.record_purchase(c, day(d), money(m)).unwrap();
            }
        }
    };
    let remove = |e: &mut Engine, list: &[usize]| {
        for &c in list {
            if let Some(c) = nth_live(e, c) {
                e.remove_customer(c).unwrap();
            }
        }
    };
    buy(&mut e, &w.buys[0]);
    e.refresh(day(60)).unwrap();
    buy(&mut e, &w.buys[1]);
    remove(&mut e, &w.removed[0]);
    e.refresh(day(90)).unwrap();
    buy(&mut e, &w.buys[2]);
    remove(&mut e, &w.removed[1]);
    (e, keys)
}

proptest! {
    #![proptest_config(config(40))]

    /// Batch erasure equals erasing the same live customers one by one; other ids are skipped.
    #[test]
    fn batch_erasure_equals_one_by_one(
        w in world(),
        gone in prop::collection::vec(prop_oneof![0..45u32, 995..1_012u32, Just(u32::MAX)], 0..40),
    ) {
        let (e, keys) = build(&w);
        let audience: Audience = gone.iter().map(|&c| CustomerId(c)).collect();
        let live_gone: Vec<CustomerId> = audience.iter().filter(|&c| e.is_customer(c)).collect();
        let (mut bulk, mut single) = (e.clone(), e.clone());
        prop_assert_eq!(bulk.remove_customers(&audience)?, live_gone.len() as u64);
        for &c in &live_gone {
            single.remove_customer(c)?;
        }
        prop_assert_eq!(tag_list(&bulk), tag_list(&single));
        prop_assert_eq!(picture(&bulk, &keys), picture(&single, &keys));
        // The others are untouched; the removed are gone everywhere.
        for c in e.customers().iter().filter(|c| !live_gone.contains(c)) {
            prop_assert_eq!(bulk.tags_of(c)?, e.tags_of(c)?);
            prop_assert_eq!(bulk.attrs_of(c)?, e.attrs_of(c)?);
            prop_assert_eq!(bulk.purchases_of(c)?, e.purchases_of(c)?);
            prop_assert_eq!(bulk.stage_of(c)?, e.stage_of(c)?);
        }
        for &c in &live_gone {
            prop_assert!(!bulk.is_customer(c));
            prop_assert_eq!(bulk.purchases_of(c), Err(Error::UnknownCustomer { id: c }));
            prop_assert!(!bulk.select(&Query::nobody().not())?.contains(c), "NOT no longer counts it");
        }
        prop_assert_eq!(
            bulk.purchase_count(),
            e.purchase_count() - live_gone.iter().map(|&c| e.purchases_of(c).unwrap().len() as u64).sum::<u64>()
        );
        prop_assert_eq!(bulk.clone().remove_customers(&audience)?, 0, "nobody left to remove");
        prop_assert_eq!(bulk.clone().customer("fresh"), single.clone().customer("fresh"));
        // The next refreshes: a later day (incremental), then an earlier one (full).
        for as_of in [day(120), day(90), day(30)] {
            let (a, b) = (bulk.refresh(as_of)?, single.refresh(as_of)?);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(picture(&bulk, &keys), picture(&single, &keys));
        }
        // Removed ids registered anew come back empty in both.
        for &c in live_gone.iter().take(2) {
            bulk.customer_id(c)?;
            single.customer_id(c)?;
            bulk.record_purchase(c, day(125), money(10))?;
            single.record_purchase(c, day(125), money(10))?;
        }
        prop_assert_eq!(bulk.refresh(day(130))?, single.refresh(day(130))?);
        prop_assert_eq!(picture(&bulk, &keys), picture(&single, &keys));
    }
}

// ------------------------------------------------------------------ dense id ranges

#[derive(Clone, Debug)]
enum Ids {
    Low(u32, u32),
    High(u32),
    /// start > end: an empty range.
    Backwards(u32, u32),
}

impl Ids {
    fn range(&self) -> std::ops::Range<u32> {
        match *self {
            Ids::Low(start, len) => start..start + len,
            Ids::High(k) => u32::MAX - k..u32::MAX,
            Ids::Backwards(a, b) => a + b + 1..a,
        }
    }
}

proptest! {
    #![proptest_config(config(150))]

    /// A range of dense ids equals registering them one by one; a keyed customer's id in it
    /// refuses the whole range (the loop's error), changing nothing.
    #[test]
    fn id_range_equals_a_loop_of_customer_id(
        keyed in 0..6usize,
        dense in prop::collection::vec(0..60u32, 0..10),
        removed in prop::collection::vec(any::<usize>(), 0..4),
        high in any::<bool>(),
        ids in prop_oneof![
            (0..60u32, 0..25u32).prop_map(|(s, l)| Ids::Low(s, l)),
            (0..6u32).prop_map(Ids::High),
            (0..30u32, 0..5u32).prop_map(|(a, b)| Ids::Backwards(a, b)),
        ],
    ) {
        let mut e = Engine::new();
        let mut keys: Vec<String> = (0..keyed).map(|i| format!("k{i}")).collect();
        for k in &keys {
            e.customer(k)?;
        }
        for &d in &dense {
            let _ = e.customer_id(d);
        }
        if high {
            // Ids near the top, and a keyed customer above them.
            e.customer_id(u32::MAX - 5)?;
            keys.push("top".into());
            e.customer("top")?;
        }
        for &r in &removed {
            if let Some(c) = nth_live(&e, r) {
                e.remove_customer(c)?;
            }
        }
        let range = ids.range();
        let mut by_range = e.clone();
        let mut by_loop = e.clone();
        let looped: Result<u64> = range.clone().try_fold(0, |n, i| {
            let was = by_loop.is_customer(CustomerId(i));
            by_loop.customer_id(i).map(|_| n + u64::from(!was))
        });
        match looped {
            Ok(n) => {
                prop_assert_eq!(by_range.customer_id_range(range.clone()), Ok(n));
                prop_assert_eq!(by_range.customers(), by_loop.customers());
                prop_assert_eq!(picture(&by_range, &keys), picture(&by_loop, &keys));
            }
            Err(err) => {
                let taken = matches!(err, Error::CustomerIdTaken { .. });
                prop_assert!(taken, "{}", err);
                prop_assert_eq!(by_range.customer_id_range(range.clone()), Err(err));
                prop_assert_eq!(picture(&by_range, &keys), picture(&e, &keys), "nothing changed");
                by_loop = e.clone(); // the loop registered the ids before the keyed one
            }
        }
        // The next key ids agree (up to exhaustion at u32::MAX).
        for k in ["next1", "next2"] {
            prop_assert_eq!(by_range.customer(k), by_loop.customer(k));
        }
        prop_assert_eq!(by_range.customer_id_range(range.clone()).is_ok(), by_loop.customer_id_range(range).is_ok());
    }
}

#[test]
fn id_ranges_at_the_top_of_the_id_space() {
    let mut e = Engine::new();
    assert_eq!(e.customer_id_range(u32::MAX - 3..u32::MAX).unwrap(), 3);
    assert!(e.is_customer(CustomerId(u32::MAX - 1)));
    assert!(!e.is_customer(CustomerId(u32::MAX)), "the end is excluded");
    assert_eq!(e.customer_id_range(u32::MAX..u32::MAX).unwrap(), 0);
    assert_eq!(e.customer("last").unwrap(), CustomerId(u32::MAX));
    assert_eq!(e.customer("one too many"), Err(Error::CustomerIdsExhausted));
    assert_eq!(
        e.customer_id_range(u32::MAX - 1..u32::MAX).unwrap(),
        0,
        "already live, and the keyed u32::MAX is outside the range"
    );
    assert_eq!(
        e.customer_id_range(0..u32::MAX).map_err(|e| matches!(e, Error::CustomerIdTaken { .. })),
        Ok(u64::from(u32::MAX) - 3),
        "the whole space but u32::MAX, with no keyed customer in it"
    );
    assert_eq!(e.customer_count(), u64::from(u32::MAX) + 1);
}
