//! Set-algebra laws stated through engine queries and `Audience` algebra, on random engines
//! (hierarchical, Unicode and quoted tags, attributes whose name is also a tag, removed
//! customers) and random queries (the templates of `common::templates`): queries agree with
//! `Audience` intersection, union, difference, complement and symmetric difference; commutative,
//! associative, distributive, identity, complement, involution, idempotence, absorption,
//! De Morgan, counting identities; and the laws of missing values (a comparison and its negated
//! operator split the customers with a value, `NOT` of a comparison also takes in those without).
//!
//! Failure persistence is off so a failing run writes no files. `PROPTEST_CASES=n` runs longer.

mod common;

use audience::{Audience, CmpOp, CustomerId, Engine, Query};
use common::model::{Q, holds};
use common::templates::{APick, Lit, Names, Qt, build, cmp_op, lit, qt, resolve, value};
use common::{Pick, TestResult, config, pick};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ------------------------------------------------------------------ set-algebra laws

/// Names of the law engine (hierarchical, Unicode, quoted).
const LAW_NAMES: &[&str] = &["a", "a/b", "a/b/c", "d", "e", "高消费", "High Value"];

/// Attributes of the law engine: `a` is a tag name too.
const LAW_ATTRS: &[&str] = &["age", "a"];

#[derive(Clone, Debug)]
struct LawCase {
    assignments: Vec<(u32, Pick)>,
    /// Attribute values (customer, attribute, value); customers without one stay without.
    values: Vec<(u32, Pick, i64)>,
    removed: Vec<u32>,
    a: Qt,
    b: Qt,
    c: Qt,
    /// A comparison for the laws of missing values.
    cmp: (Pick, CmpOp, Lit),
}

fn law_case() -> impl Strategy<Value = LawCase> {
    (
        prop::collection::vec((0u32..20, pick()), 0..60),
        prop::collection::vec((0u32..20, pick(), value()), 0..24),
        prop::collection::vec(0u32..20, 0..4),
        (qt(0, 12), qt(0, 12), qt(0, 12)),
        (pick(), cmp_op(), lit()),
    )
        .prop_map(|(assignments, values, removed, (a, b, c), cmp)| LawCase {
            assignments,
            values,
            removed,
            a,
            b,
            c,
            cmp,
        })
}

/// The law engine: customers 0..20 (some removed), tags from `LAW_NAMES`, attributes from
/// `LAW_ATTRS`. Every name is created, so every query is valid.
fn law_engine(case: &LawCase) -> Engine {
    let mut e = Engine::new();
    for c in 0..20 {
        e.customer_id(c).expect("no keyed customers here");
    }
    for n in LAW_NAMES {
        e.ensure_tag(n).expect("valid name");
    }
    for n in LAW_ATTRS {
        e.define_attr(n).expect("valid name");
    }
    let pairs = case.assignments.iter().map(|(c, i)| (CustomerId(*c), LAW_NAMES[i.index(LAW_NAMES.len())]));
    e.tag_pairs(pairs).expect("live customers, valid names");
    let values = case.values.iter().map(|(c, i, v)| (CustomerId(*c), LAW_ATTRS[i.index(LAW_ATTRS.len())], *v));
    e.set_attrs(values).expect("live customers, valid names");
    for &c in &case.removed {
        let _ = e.remove_customer(CustomerId(c));
    }
    e
}

/// The names and values of the law engine, for resolving query templates.
fn law_names(e: &Engine) -> Names {
    let known: Vec<String> = LAW_NAMES.iter().map(|s| s.to_string()).collect();
    let attrs: Vec<String> = LAW_ATTRS.iter().map(|s| s.to_string()).collect();
    let values: Vec<(&str, i64)> = e.customers().iter().flat_map(|c| e.attrs_of(c).unwrap_or_default()).collect();
    Names::new(known.clone(), known, attrs.clone(), attrs).with_values(values)
}

/// The operator that holds exactly where `op` does not, for customers with a value.
fn negated(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// Laws of missing values: a comparison and its negated operator split the customers that
/// have a value; `NOT` of a comparison also takes in the customers without one; the widest
/// comparisons are exactly the customers with a value, the empty ones nobody.
fn check_missing_value_laws(e: &Engine, case: &LawCase, names: &Names) -> TestResult {
    let (pick, op, lit) = &case.cmp;
    let Q::Cmp(name, op, v) = resolve(&Qt::Cmp(APick::Known(*pick), *op, lit.clone()), names) else {
        unreachable!("a comparison resolves to a comparison")
    };
    let x = Query::compare(&name, op, v);
    let not_x = Query::compare(&name, negated(op), v);
    let has_value = eval(e, &Query::compare(&name, CmpOp::Ge, i64::MIN))?;
    let with_value: Audience = e.customers().iter().filter(|&c| e.attr(c, &name).ok().flatten().is_some()).collect();
    prop_assert_eq!(&has_value, &with_value, "{} >= i64::MIN is every customer with a value", name);
    prop_assert_eq!(eval(e, &Query::compare(&name, CmpOp::Le, i64::MAX))?, with_value.clone());
    prop_assert_eq!(eval(e, &Query::compare(&name, CmpOp::Lt, i64::MIN))?, Audience::new());
    prop_assert_eq!(eval(e, &Query::compare(&name, CmpOp::Gt, i64::MAX))?, Audience::new());
    let listed = e.attributes().find(|(n, _)| *n == name).map(|(_, len)| len);
    prop_assert_eq!(listed, Some(with_value.len()), "attributes() counts {:?}", name);

    let (sx, snot) = (eval(e, &x)?, eval(e, &not_x)?);
    prop_assert_eq!(&sx & &snot, Audience::new(), "{} and {} are disjoint", x, not_x);
    prop_assert_eq!(&sx | &snot, with_value.clone(), "{} and {} cover the customers with a value", x, not_x);
    let complement = eval(e, &x.clone().not())?;
    prop_assert_eq!(&complement, &(&e.customers() - &sx), "NOT {}", x);
    prop_assert_eq!(
        &complement - &snot,
        &e.customers() - &with_value,
        "NOT {} minus {} is the customers without a value",
        x,
        not_x
    );
    for c in e.customers().iter() {
        let value = e.attr(c, &name).ok().flatten();
        prop_assert_eq!(sx.contains(c), value.is_some_and(|x| holds(op, x, v)), "#{} ({:?}) in {}", c, value, x);
    }
    Ok(())
}

/// The audience of `q`, with its count, text count and explain count checked against it.
fn eval(e: &Engine, q: &Query) -> Result<Audience, TestCaseError> {
    let a = e.select(q);
    prop_assert!(a.is_ok(), "{q:?}: {a:?}");
    let a = a.unwrap();
    prop_assert_eq!(e.count(q).ok(), Some(a.len()), "count {:?}", q);
    prop_assert_eq!(e.count(&q.to_string()).ok(), Some(a.len()), "count(text) {:?}", q);
    prop_assert_eq!(e.explain(q).map(|x| x.count()).ok(), Some(a.len()), "explain {:?}", q);
    prop_assert!(a.iter().all(|c| e.is_customer(c)), "{q:?} matched a customer that is not live");
    Ok(a)
}

fn check_laws(case: &LawCase) -> TestResult {
    let e = law_engine(case);
    let names = law_names(&e);
    check_missing_value_laws(&e, case, &names)?;
    let [a, b, c] = [&case.a, &case.b, &case.c].map(|t| build(&resolve(t, &names)));
    let all = e.customers();
    let none = Audience::new();
    let (sa, sb, sc) = (eval(&e, &a)?, eval(&e, &b)?, eval(&e, &c)?);

    // Queries agree with Audience set algebra.
    prop_assert_eq!(eval(&e, &a.clone().and(b.clone()))?, &sa & &sb, "AND is intersection");
    prop_assert_eq!(eval(&e, &a.clone().or(b.clone()))?, &sa | &sb, "OR is union");
    prop_assert_eq!(eval(&e, &a.clone().and_not(b.clone()))?, &sa - &sb, "AND NOT is difference");
    prop_assert_eq!(eval(&e, &a.clone().not())?, &all - &sa, "NOT is the complement in the live set");
    prop_assert_eq!(sa.intersection_len(&sb), (&sa & &sb).len());
    let xor = a.clone().and_not(b.clone()).or(b.clone().and_not(a.clone()));
    prop_assert_eq!(eval(&e, &xor)?, &sa ^ &sb, "symmetric difference");

    // Commutative.
    prop_assert_eq!(eval(&e, &b.clone().and(a.clone()))?, eval(&e, &a.clone().and(b.clone()))?);
    prop_assert_eq!(eval(&e, &b.clone().or(a.clone()))?, eval(&e, &a.clone().or(b.clone()))?);
    prop_assert_eq!(&sa & &sb, &sb & &sa);
    prop_assert_eq!(&sa | &sb, &sb | &sa);

    // Associative (the operands keep their own shape, so the plans differ).
    let left = Query::all([Query::all([a.clone(), b.clone()]).not().not(), c.clone()]);
    let right = Query::all([a.clone(), Query::all([b.clone(), c.clone()]).not().not()]);
    prop_assert_eq!(eval(&e, &left)?, eval(&e, &right)?, "AND associative");
    prop_assert_eq!(eval(&e, &left)?, &(&sa & &sb) & &sc);
    let left = Query::any([Query::any([a.clone(), b.clone()]).not().not(), c.clone()]);
    let right = Query::any([a.clone(), Query::any([b.clone(), c.clone()]).not().not()]);
    prop_assert_eq!(eval(&e, &left)?, eval(&e, &right)?, "OR associative");
    prop_assert_eq!(eval(&e, &left)?, &(&sa | &sb) | &sc);

    // Distributive.
    let l = a.clone().and(b.clone().or(c.clone()));
    let r = a.clone().and(b.clone()).or(a.clone().and(c.clone()));
    prop_assert_eq!(eval(&e, &l)?, eval(&e, &r)?, "AND over OR");
    let l = a.clone().or(b.clone().and(c.clone()));
    let r = a.clone().or(b.clone()).and(a.clone().or(c.clone()));
    prop_assert_eq!(eval(&e, &l)?, eval(&e, &r)?, "OR over AND");

    // Identity, annihilation, complement, involution, idempotence, absorption.
    prop_assert_eq!(eval(&e, &a.clone().and(Query::everyone()))?, sa.clone(), "a AND *");
    prop_assert_eq!(eval(&e, &a.clone().or(Query::nobody()))?, sa.clone(), "a OR NOT *");
    prop_assert_eq!(eval(&e, &a.clone().or(Query::everyone()))?, all.clone(), "a OR *");
    prop_assert_eq!(eval(&e, &a.clone().and(Query::nobody()))?, none.clone(), "a AND NOT *");
    prop_assert_eq!(eval(&e, &a.clone().and_not(a.clone()))?, none.clone(), "a AND NOT a");
    prop_assert_eq!(eval(&e, &a.clone().or(a.clone().not()))?, all.clone(), "a OR NOT a");
    prop_assert_eq!(eval(&e, &a.clone().not().not())?, sa.clone(), "NOT NOT a");
    prop_assert_eq!(eval(&e, &a.clone().and(a.clone()))?, sa.clone(), "a AND a");
    prop_assert_eq!(eval(&e, &a.clone().or(a.clone()))?, sa.clone(), "a OR a");
    prop_assert_eq!(eval(&e, &a.clone().or(a.clone().and(b.clone())))?, sa.clone(), "absorption");
    prop_assert_eq!(eval(&e, &a.clone().and(a.clone().or(b.clone())))?, sa.clone(), "absorption");

    // De Morgan.
    prop_assert_eq!(
        eval(&e, &a.clone().or(b.clone()).not())?,
        eval(&e, &a.clone().not().and(b.clone().not()))?,
        "NOT (a OR b)"
    );
    prop_assert_eq!(
        eval(&e, &a.clone().and(b.clone()).not())?,
        eval(&e, &a.clone().not().or(b.clone().not()))?,
        "NOT (a AND b)"
    );

    // Counting identities.
    let count = |q: &Query| e.count(q).expect("valid query");
    prop_assert_eq!(count(&a), count(&a.clone().and(b.clone())) + count(&a.clone().and_not(b.clone())));
    prop_assert_eq!(
        count(&a.clone().or(b.clone())) + count(&a.clone().and(b.clone())),
        count(&a) + count(&b),
        "inclusion-exclusion"
    );
    prop_assert_eq!(count(&a) + count(&a.clone().not()), e.customer_count());
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Set-algebra laws (commutative, associative, distributive, identity, complement,
    /// De Morgan, counting identities), stated through engine queries and `Audience` algebra.
    #[test]
    fn set_algebra_laws(case in law_case()) {
        check_laws(&case)?;
    }
}
