//! `Engine::describe` against a naive model: per tag, the audience's customers carrying it (a
//! parent counting its descendants) and all live customers carrying it, counted customer by
//! customer; lift ordered exactly (rationals compared by cross-multiplying), then count,
//! then name; minimum count, top k and exclusions applied as documented.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{Audience, CustomerId, DescribeOptions, Engine};
use common::config;
use proptest::prelude::*;

const TAGS: [&str; 7] = ["vip", "高消费", "sports/run", "sports/bike", "sports", "new", "tier:gold"];

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn describe_equals_the_naive_count_lift_and_order(
        assignments in prop::collection::vec((0..40u32, 0..TAGS.len()), 0..160),
        removed in prop::collection::btree_set(0..40u32, 0..6),
        audience in prop::collection::btree_set(0..45u32, 0..40),
        top in 0usize..10,
        min_count in 0u64..4,
        exclude in prop::collection::btree_set(0..TAGS.len(), 0..3),
    ) {
        let mut e = Engine::new();
        for c in 0..40 {
            e.customer_id(c).unwrap();
        }
        let mut model: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
        for &(c, t) in &assignments {
            e.tag(CustomerId(c), TAGS[t]).unwrap();
            model.entry(c).or_default().insert(TAGS[t]);
        }
        for &c in &removed {
            e.remove_customer(CustomerId(c)).unwrap();
            model.remove(&c);
        }
        let live: BTreeSet<u32> = (0..40).filter(|c| !removed.contains(c)).collect();
        let members = |tag: &str| -> BTreeSet<u32> {
            let below = |t: &str| t == tag || t.strip_prefix(tag).is_some_and(|r| r.starts_with('/'));
            model.iter().filter(|(_, ts)| ts.iter().any(|t| below(t))).map(|(&c, _)| c).collect()
        };
        let inside: BTreeSet<u32> = audience.intersection(&live).copied().collect();
        let excluded: Vec<&str> = exclude.iter().map(|&i| TAGS[i]).collect();
        let mut want: Vec<(String, u64, u64)> = e
            .tags()
            .map(|t| t.name.to_owned())
            .filter(|t| !excluded.contains(&t.as_str()))
            .map(|t| {
                let m = members(&t);
                let count = m.intersection(&inside).count() as u64;
                (t, count, m.len() as u64)
            })
            .filter(|&(_, count, _)| count >= min_count.max(1))
            .collect();
        want.sort_by(|a, b| {
            let lift = |x: &(String, u64, u64)| (x.1, x.2);
            let ((ac, at), (bc, bt)) = (lift(a), lift(b));
            let by_lift = (u128::from(bc) * u128::from(at)).cmp(&(u128::from(ac) * u128::from(bt)));
            by_lift.then(b.1.cmp(&a.1)).then_with(|| a.0.cmp(&b.0))
        });
        want.truncate(top);

        let a: Audience = audience.iter().copied().map(CustomerId).collect();
        let mut options = DescribeOptions::new();
        options.top(top).min_count(min_count).exclude(&excluded);
        let d = e.describe(&a, &options);
        prop_assert_eq!((d.size, d.live), (inside.len() as u64, live.len() as u64));
        let got: Vec<(String, u64, u64)> = d.tags.iter().map(|t| (t.tag.clone(), t.count, t.total)).collect();
        prop_assert_eq!(&got, &want);
        for t in &d.tags {
            let lift = (t.count as f64 / d.size as f64) / (t.total as f64 / d.live as f64);
            prop_assert!((t.lift - lift).abs() < 1e-9);
        }
        for w in d.tags.windows(2) {
            prop_assert!(w[0].lift >= w[1].lift - 1e-12, "ordered by lift");
        }
    }
}

#[test]
fn ties_in_lift_go_to_the_larger_count_then_the_name() {
    let mut e = Engine::new();
    for c in 0..8 {
        e.customer_id(c).unwrap();
    }
    // In the audience {0..4}: "b" 1 of 1 and "a" 1 of 1 (lift 2 each, tie broken by name);
    // "c" 2 of 2 (lift 2, but a larger count comes first); "d" 1 of 4 (lift 0.5).
    for (c, t) in [(0, "b"), (1, "a"), (2, "c"), (3, "c"), (0, "d"), (5, "d"), (6, "d"), (7, "d")] {
        e.tag(CustomerId(c), t).unwrap();
    }
    let a: Audience = (0..4).map(CustomerId).collect();
    let d = e.describe(&a, &DescribeOptions::new());
    let order: Vec<&str> = d.tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(order, ["c", "a", "b", "d"]);
    assert_eq!(d.share(), 0.5);
    // Nothing live in the audience: nothing to describe.
    let empty = e.describe(&Audience::new(), &DescribeOptions::new());
    assert_eq!((empty.size, empty.tags.len()), (0, 0));
    assert_eq!(Engine::new().describe(&a, &DescribeOptions::new()).share(), 0.0);
}
