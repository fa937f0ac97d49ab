//! Numeric attributes: unknown names and their suggestions, a tag and an attribute of one
//! name, the ends of `u32` and `i64` as ids, values and literals, customers without a value
//! (who match no comparison), attributes nobody has; and range predicates on narrow, medium
//! and wide attributes (bottom-up and top-down walks, with and without a filter, under `NOT`)
//! against a scan of the values, up to 100,000 customers.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{CmpOp, CustomerId, Engine, Error, Query};
use common::model::holds;
use common::observe::{held, snapshot};
use common::{Result, Rng, TestResult, config, day, ids, members, money};
use proptest::prelude::*;

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
        assert_eq!(members(&e, text), want, "{text}");
        assert_eq!(e.count(text)?, want.len() as u64, "{text}");
    }
    assert_eq!(e.tags_of(d)?, Vec::<&str>::new());
    assert_eq!(e.attrs_of(a)?, [("vip", 2)]);
    assert_eq!(e.tags_of(a)?, ["vip"]);
    // Deleting the tag leaves the attribute; removing the values leaves the tag.
    e.delete_tag("vip")?;
    assert!(matches!(e.count("vip"), Err(Error::UnknownTag { .. })));
    assert_eq!(members(&e, "vip > 0"), [a.get(), c.get()]);
    e.tag(b, "vip")?;
    for id in [a, c, d] {
        e.unset_attr(id, "vip")?;
    }
    assert_eq!(e.count("vip >= -9223372036854775808")?, 0);
    assert_eq!(members(&e, "vip"), [b.get()]);
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
    assert_eq!(members(&e, "age > 30"), [u32::MAX]);
    assert_eq!(members(&e, "age >= 20"), [0, u32::MAX]);
    assert_eq!(members(&e, "NOT age > 30"), [0]);
    assert_eq!(e.set_attrs([(top, "score", i64::MIN), (low, "score", i64::MAX)])?, 2);
    assert_eq!(members(&e, "score < 0"), [u32::MAX]);
    assert_eq!(members(&e, "score = -9223372036854775808"), [u32::MAX]);
    assert_eq!(members(&e, "score = 9223372036854775807"), [0]);
    assert_eq!(e.attr(top, "score")?, Some(i64::MIN));
    assert_eq!(e.attrs_of(top)?, [("age", 41), ("score", i64::MIN)]);

    // Removal drops its values; registered anew, it has none.
    e.remove_customer(top)?;
    assert_eq!(members(&e, "age >= 0"), [0]);
    assert_eq!(e.attributes().collect::<Vec<_>>(), [("age", 1), ("score", 1)]);
    assert_eq!(e.customer_id(u32::MAX)?, top);
    assert_eq!(e.attr(top, "age")?, None);
    assert_eq!(e.attrs_of(top)?, []);
    assert_eq!(members(&e, "NOT age >= 0"), [u32::MAX]);
    assert_eq!(members(&e, "score < 0"), Vec::<u32>::new());
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
                    assert_eq!(members(e, &text), want, "{text}");
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
    let before = (snapshot(&e), held(&e));
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
    assert_eq!((snapshot(&e), held(&e)), before, "a refused call changed the engine");
    // Not refreshed yet: the derived attributes are unknown to queries.
    assert!(matches!(e.count("recency_days >= 0"), Err(Error::UnknownAttribute { .. })));
    Ok(())
}

#[test]
fn a_100_000_customer_scan_agrees_with_every_comparison() -> Result {
    const N: u32 = 100_000;
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
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
                assert_eq!(members(e, &text), want, "{text}");
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

// ------------------------------------------------------------------ range predicates against a scan

/// Literals worth probing for an attribute's values: each value and its neighbours (a few),
/// the extremes and just outside them, the ends of the offset range the index would have
/// with its base at the minimum (`min + 2^w - 1` and the powers of two below), and the i64
/// extremes.
fn literals(values: &[i64]) -> Vec<i64> {
    let mut out: BTreeSet<i64> = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX].into();
    if let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) {
        let span = (i128::from(max) - i128::from(min)) as u128;
        let w = 128 - span.leading_zeros();
        for k in [w.saturating_sub(1), w, w + 1] {
            for d in [-1i128, 0, 1] {
                let v = i128::from(min) + (1i128 << k.min(64)) - 1 + d;
                if let Ok(v) = i64::try_from(v) {
                    out.insert(v);
                }
            }
        }
        for v in [min, max] {
            out.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
        for &v in values.iter().step_by(values.len().div_ceil(5).max(1)) {
            out.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
        }
    }
    out.into_iter().collect()
}

/// Checks `attr op lit` for every op and literal, alone, inside `AND`s with tags (the
/// filtered walks), as the subtracted side of `AND NOT`, under `NOT`, and in an `OR NOT`,
/// with `select` and `count`, against `model` (customer -> value) and the tag sets `t`, `u`.
fn check_ranges(
    e: &Engine,
    name: &str,
    model: &BTreeMap<u32, i64>,
    t: &BTreeSet<u32>,
    u: &BTreeSet<u32>,
) -> TestResult {
    let live: BTreeSet<u32> = e.customers().to_ids().into_iter().collect();
    for c in &live {
        prop_assert_eq!(e.attr(CustomerId(*c), name)?, model.get(c).copied(), "{} of {}", name, c);
    }
    let values: Vec<i64> = model.values().copied().collect();
    for lit in literals(&values) {
        for op in CmpOp::ALL {
            let want: BTreeSet<u32> = model.iter().filter(|&(_, &v)| op.holds(v, lit)).map(|(&c, _)| c).collect();
            let cmp = || Query::compare(name, op, lit);
            let and = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| a.intersection(b).copied().collect::<BTreeSet<u32>>();
            let minus = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| a.difference(b).copied().collect::<BTreeSet<u32>>();
            let t_and = and(t, &want);
            let cases: [(Query, BTreeSet<u32>); 8] = [
                (cmp(), want.clone()),
                (Query::tag("t").and(cmp()), t_and.clone()),
                (cmp().and(Query::tag("t")).and(Query::tag("u")), and(&t_and, u)),
                (Query::tag("t").and_not(cmp()), minus(t, &want)),
                (Query::tag("t").and(Query::tag("u")).and_not(cmp()), minus(&and(t, u), &want)),
                (cmp().not(), minus(&live, &want)),
                (Query::tag("t").and(cmp()).not(), minus(&live, &t_and)),
                (Query::tag("t").or(cmp().not()), t.union(&minus(&live, &want)).copied().collect()),
            ];
            for (q, want) in cases {
                let got: BTreeSet<u32> = e.select(&q)?.to_ids().into_iter().collect();
                prop_assert_eq!(&got, &want, "select {}", q);
                prop_assert_eq!(e.count(&q)?, want.len() as u64, "count {}", q);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct RangeWorld {
    n: u32,
    holes: Vec<u32>,
    t: Vec<u32>,
    u: Vec<u32>,
    /// (customer, attribute, value): narrow 0..100, medium around 13 bits, wide any i64.
    values: Vec<(u32, usize, i64)>,
    /// Load with `set_attrs` (the base at the minimum) or one `set_attr` at a time.
    bulk: bool,
    unset: Vec<(u32, usize)>,
    buys: Vec<(u32, i32, i64)>,
}

const RANGE_ATTRS: [&str; 3] = ["narrow", "medium", "wide"];

fn range_world() -> impl Strategy<Value = RangeWorld> {
    let value = (0..3usize).prop_flat_map(|a| {
        let v = match a {
            0 => (0..100i64).boxed(),
            1 => (-3_000..6_000i64).boxed(),
            _ => prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -3..3i64].boxed(),
        };
        (Just(a), v)
    });
    (
        1..200u32,
        prop::collection::vec(any::<u32>(), 0..12),
        prop::collection::vec(any::<u32>(), 0..120),
        prop::collection::vec(any::<u32>(), 0..120),
        prop::collection::vec((any::<u32>(), value), 0..200),
        any::<bool>(),
        prop::collection::vec((any::<u32>(), 0..3usize), 0..8),
        prop::collection::vec((any::<u32>(), 0..300i32, -100..5_000i64), 0..40),
    )
        .prop_map(|(n, holes, t, u, values, bulk, unset, buys)| RangeWorld {
            n,
            holes: holes.into_iter().map(|h| h % n).collect(),
            t: t.into_iter().map(|c| c % n).collect(),
            u: u.into_iter().map(|c| c % n).collect(),
            values: values.into_iter().map(|(c, (a, v))| (c % n, a, v)).collect(),
            bulk,
            unset: unset.into_iter().map(|(c, a)| (c % n, a)).collect(),
            buys: buys.into_iter().map(|(c, d, m)| (c % n, d, m)).collect(),
        })
}

proptest! {
    #![proptest_config(config(24))]

    /// Every comparison, in every query position, equals a scan of the values.
    #[test]
    fn range_predicates_equal_a_scan(w in range_world()) {
        let mut e = Engine::new();
        e.customer_id_range(0..w.n)?;
        let mut models: [BTreeMap<u32, i64>; 3] = Default::default();
        if w.bulk {
            e.set_attrs(w.values.iter().map(|&(c, a, v)| (CustomerId(c), RANGE_ATTRS[a], v)))?;
        } else {
            for &(c, a, v) in &w.values {
                e.set_attr(CustomerId(c), RANGE_ATTRS[a], v)?;
            }
        }
        for &(c, a, v) in &w.values {
            models[a].insert(c, v);
        }
        for &(c, a) in &w.unset {
            if e.attributes().any(|(name, _)| name == RANGE_ATTRS[a]) {
                e.unset_attr(CustomerId(c), RANGE_ATTRS[a])?;
                models[a].remove(&c);
            }
        }
        for name in RANGE_ATTRS {
            e.define_attr(name)?; // so that an attribute nobody has still resolves
        }
        let (mut t, mut u) = (BTreeSet::new(), BTreeSet::new());
        for &c in &w.t {
            e.tag(CustomerId(c), "t")?;
            t.insert(c);
        }
        for &c in &w.u {
            e.tag(CustomerId(c), "u")?;
            u.insert(c);
        }
        e.ensure_tag("t")?;
        e.ensure_tag("u")?;
        for &(c, d, m) in &w.buys {
            e.record_purchase(CustomerId(c), day(d), money(m))?;
        }
        e.refresh(day(200))?;
        // Holes: half one by one, half as a batch.
        let (one, batch) = w.holes.split_at(w.holes.len() / 2);
        for &h in one {
            if e.is_customer(CustomerId(h)) {
                e.remove_customer(CustomerId(h))?;
            }
        }
        e.remove_customers(&batch.iter().map(|&c| CustomerId(c)).collect())?;
        for &h in &w.holes {
            t.remove(&h);
            u.remove(&h);
            for m in &mut models {
                m.remove(&h);
            }
        }
        for (name, model) in RANGE_ATTRS.iter().zip(&models) {
            check_ranges(&e, name, model, &t, &u)?;
        }
        // The derived attributes (recency_days is a view: as_of minus the stored day).
        for name in ["recency_days", "frequency", "monetary"] {
            let model: BTreeMap<u32, i64> =
                e.customers().iter().filter_map(|c| Some((c.0, e.attr(c, name).ok()??))).collect();
            check_ranges(&e, name, &model, &t, &u)?;
        }
    }
}

#[test]
fn ranges_at_the_edges_of_an_index() {
    // Values exactly at the base (offset 0) and at the maximum offset of 7 slices (127).
    let mut e = Engine::new();
    e.customer_id_range(0..4).unwrap();
    e.set_attrs([(CustomerId(0), "v", 10), (CustomerId(1), "v", 137), (CustomerId(2), "v", 50)]).unwrap();
    e.tag(CustomerId(0), "t").unwrap();
    e.tag(CustomerId(1), "t").unwrap();
    e.tag(CustomerId(3), "t").unwrap();
    let count = |q: &str| e.count(q).unwrap();
    for (q, n) in [
        ("v >= 10", 3),
        ("v > 137", 0),
        ("v <= 137", 3),
        ("v < 10", 0),
        ("v >= 138", 0),
        ("v <= 9", 0),
        ("v > 9", 3),
        ("v < 138", 3),
        ("t AND v >= 10", 2),
        ("t AND v > 136", 1),
        ("t AND v <= 137", 2),
        ("t AND v < 137", 1),
        ("t AND NOT v > 10", 2),
        ("NOT v <= 137", 1),
        ("NOT v != 137", 2), // 1 (137) and 3 (no value)
        ("t AND v = 137", 1),
        ("t AND v != 10", 1),
    ] {
        assert_eq!(count(q), n, "{q}");
    }
    // A wide index (64 slices) at the i64 extremes.
    let mut w = Engine::new();
    w.customer_id_range(0..3).unwrap();
    w.set_attrs([(CustomerId(0), "x", i64::MIN), (CustomerId(1), "x", i64::MAX), (CustomerId(2), "x", 0)]).unwrap();
    w.tag(CustomerId(1), "t").unwrap();
    w.tag(CustomerId(0), "t").unwrap();
    for op in CmpOp::ALL {
        for lit in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let want = [i64::MIN, i64::MAX, 0].iter().filter(|&&v| op.holds(v, lit)).count() as u64;
            let q = Query::compare("x", op, lit);
            assert_eq!(w.count(&q).unwrap(), want, "{q}");
            let want_t = [i64::MIN, i64::MAX].iter().filter(|&&v| op.holds(v, lit)).count() as u64;
            assert_eq!(w.count(&Query::tag("t").and(q.clone())).unwrap(), want_t, "t AND {q}");
        }
    }
}
