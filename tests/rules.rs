//! Rule tags (saved audiences) and the plans that read them, against the naive model of
//! saved queries (`common::saved`): random hand writes, attribute values, removals, rule
//! definitions over plain tags, attributes, other rule tags (also through an ancestor) and
//! plans' values, redefinitions, deletions, renames, `refresh_rules` and `apply_plan`. After
//! every operation the engine holds exactly the model's tags; `refresh_rules` reports what
//! the model computes; a cycle is refused exactly when the model's graph has one, and the
//! cycle named is a real one, from the rule being defined back to it. Then the edges and the
//! error messages, one by one.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{Audience, CustomerId, Engine, Error, NameProblem, Query, SegmentPlan, UsedBy};
use common::model::{Model, Q, kind, same};
use common::saved::{Graph, Moves, Node, Plan, Saved, tag_names};
use common::templates::{Names, Qt, build, qt, resolve};
use common::{Pick, TestResult, config, pick};
use proptest::prelude::*;

/// Hand-written tags: plain, Unicode, hierarchical; then, picked less often, a tag below a
/// rule tag's name and a tag in a plan's group (refused once the plan owns the group).
const TAGS: [&str; 7] = ["vip", "new", "高消费", "sports/run", "sports/golf", "aud/x/hand", "camp:hand"];
/// Rule tag names: `aud/x` and `aud/y` are read by a query on `aud`; `高价值/子` is a rule tag
/// below a rule tag (a query on `高价值` reads both).
const RULES: [&str; 7] = ["r0", "r1", "r2", "aud/x", "aud/y", "高价值", "高价值/子"];
const ATTRS: [&str; 2] = ["spend", "年龄"];
const SEGMENTS: [&str; 3] = ["hi", "mid", "低"];
const GROUPS: [&str; 2] = ["camp", "群"];
/// Renames: refused while a saved query names the tag or one below it, or the tag is (or
/// holds) a rule tag.
const RENAMES: [(&str, &str); 7] = [
    ("new", "新"),
    ("新", "new"),
    ("sports", "sport"),
    ("sport", "sports"),
    ("r0", "r9"),
    ("aud", "audience"),
    ("vip", "aud/vip"),
];
const CUSTOMERS: u32 = 30;

#[derive(Clone, Debug)]
enum Name {
    Tag(usize),
    Rule(usize),
    /// Any name of the pool now: rule tags, plans' values, ancestors.
    Pool(Pick),
}

#[derive(Clone, Debug)]
enum Op {
    Tag(Pick, Name),
    Untag(Pick, Name),
    /// Customers `id` whose bit `id % 64` is set (removed ones included: skipped).
    TagAll(u64, Name),
    SetAttr(Pick, usize, i64),
    Remove(Pick),
    Add,
    Define(usize, Qt),
    Delete(Name),
    Rename(usize),
    Refresh,
    /// Group, rotation of the segment names, the rules' queries.
    Apply(usize, usize, Vec<Qt>),
}

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        10 => (0..5usize).prop_map(Name::Tag),
        1 => (5..7usize).prop_map(Name::Tag),
        2 => (0..RULES.len()).prop_map(Name::Rule),
        3 => pick().prop_map(Name::Pool),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (pick(), name()).prop_map(|(c, n)| Op::Tag(c, n)),
        2 => (pick(), name()).prop_map(|(c, n)| Op::Untag(c, n)),
        2 => (any::<u64>(), name()).prop_map(|(m, n)| Op::TagAll(m, n)),
        3 => (pick(), 0..ATTRS.len(), -3i64..=3).prop_map(|(c, a, v)| Op::SetAttr(c, a, v)),
        1 => pick().prop_map(Op::Remove),
        1 => Just(Op::Add),
        7 => (0..RULES.len(), qt(1, 3)).prop_map(|(r, q)| Op::Define(r, q)),
        2 => name().prop_map(Op::Delete),
        1 => (0..RENAMES.len()).prop_map(Op::Rename),
        3 => Just(Op::Refresh),
        2 => (0..GROUPS.len(), 0..3usize, prop::collection::vec(qt(1, 2), 1..=3))
            .prop_map(|(g, r, qs)| Op::Apply(g, r, qs)),
    ]
}

/// What query templates resolve against: every name of the pool now.
fn names(s: &Saved) -> Names {
    let values = s.m.attrs.values().flat_map(|a| a.iter().map(|(n, v)| (n.as_str(), *v)));
    Names::new(s.m.tag_names(), vec!["nope".into(), "高消費".into()], s.m.attr_names.clone(), vec!["nada".into()])
        .with_values(values)
}

fn name_of(s: &Saved, n: &Name) -> String {
    match n {
        Name::Tag(i) => TAGS[*i].to_owned(),
        Name::Rule(i) => RULES[*i].to_owned(),
        Name::Pool(p) => p.of(&s.m.tag_names()).unwrap_or_else(|| TAGS[0].to_owned()),
    }
}

fn plan_of(s: &Saved, group: usize, rot: usize, qs: &[Qt]) -> (Plan, SegmentPlan) {
    let names = names(s);
    let rules: Vec<(String, Q)> =
        qs.iter().enumerate().map(|(i, q)| (SEGMENTS[(rot + i) % 3].to_owned(), resolve(q, &names))).collect();
    let built = SegmentPlan::new(rules.iter().map(|(n, q)| (n.as_str(), build(q))), "rest").unwrap();
    (Plan { group: GROUPS[group].to_owned(), rules, fallback: "rest".to_owned() }, built)
}

fn set(a: &Audience) -> BTreeSet<u32> {
    a.iter().map(|c| c.0).collect()
}

/// A refused definition was refused as the model says; a cycle named is a real one, from
/// `node` back to it.
fn check_cycle(err: Option<&Error>, graph: &Graph, node: Node) -> TestResult {
    let cyclic = graph.order().is_none();
    if let Some(Error::RuleCycle { cycle }) = err {
        prop_assert!(cyclic, "a cycle {cycle:?} the model's graph does not have");
        prop_assert!(graph.is_cycle(cycle), "{cycle:?} is no cycle of {graph:?}");
        prop_assert_eq!(&cycle[0], &graph.label(node), "the cycle starts at what is defined");
        let text = err.unwrap().to_string();
        prop_assert!(text.contains(&cycle.join(" -> ")) && text.contains("hint"), "{}", text);
    } else if cyclic {
        // Refused, for what is checked before cycles: the name or the group.
        let first = err.map(kind);
        prop_assert!(
            matches!(first, Some("GroupInUse" | "DerivedName" | "InvalidTagName")),
            "a cycle was not refused as one: {err:?}"
        );
    }
    Ok(())
}

/// The engine holds exactly the model's customers, tags, rule tags and plans.
fn check(e: &Engine, s: &Saved) -> TestResult {
    prop_assert_eq!(e.customers().to_ids(), s.m.live.iter().copied().collect::<Vec<_>>());
    for (&c, want) in &s.m.tags {
        let got: BTreeSet<String> = e.tags_of(CustomerId(c)).unwrap().into_iter().map(str::to_owned).collect();
        prop_assert_eq!(&got, want, "tags of customer {}", c);
    }
    let pool: BTreeSet<String> = e.tags().map(|t| t.name.to_owned()).collect();
    prop_assert_eq!(pool, s.m.pool.clone());
    let rules: Vec<(String, String)> = e.rule_tags().map(|(n, q)| (n.to_owned(), q.to_string())).collect();
    let want: Vec<(String, String)> = s.rules.iter().map(|(n, q)| (n.clone(), build(q).to_string())).collect();
    prop_assert_eq!(rules, want);
    let plans: Vec<&str> = e.applied_plans().map(|(g, _)| g).collect();
    prop_assert_eq!(plans, s.plans.iter().map(|p| p.group.as_str()).collect::<Vec<_>>());
    Ok(())
}

/// `refresh_rules` reports, per rule tag and plan, what the model computes, each rule after
/// the rules it reads.
fn check_refresh(e: &mut Engine, s: &mut Saved) -> TestResult {
    let graph = s.graph();
    let got = e.refresh_rules().map_err(|err| TestCaseError::fail(format!("refresh_rules: {err}")))?;
    let want = s.refresh_rules();
    let stale = s.stale_rules();
    prop_assert!(stale.is_empty(), "model: stale after a refresh: {:?}", stale);
    let got_rules: Vec<(String, BTreeSet<u32>, BTreeSet<u32>)> =
        got.rules.iter().map(|u| (u.name.clone(), set(&u.added), set(&u.removed))).collect();
    let by_name = |v: &[(String, BTreeSet<u32>, BTreeSet<u32>)]| -> BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)> {
        v.iter().map(|(n, a, r)| (n.clone(), (a.clone(), r.clone()))).collect()
    };
    prop_assert_eq!(got_rules.len(), s.rules.len(), "one update per rule tag: {:?}", got_rules);
    prop_assert_eq!(by_name(&got_rules), by_name(&want.rules));
    // Each rule after every rule it reads (directly or through plans).
    let pos = |n: &str| got_rules.iter().position(|(r, _, _)| r == n);
    for (i, (name, _)) in s.rules.iter().enumerate() {
        for read in graph.reads_transitively(Node::Rule(i)) {
            if let Node::Rule(j) = read {
                prop_assert!(pos(&s.rules[j].0) < pos(name), "{} computed before {}", name, s.rules[j].0);
            }
        }
    }
    let got_plans: BTreeMap<String, Moves> = got.plans.iter().map(|(g, d)| (g.clone(), moves(d))).collect();
    prop_assert_eq!(got_plans, want.plans.into_iter().collect::<BTreeMap<_, _>>());
    Ok(())
}

fn moves(d: &audience::SegmentDiff) -> Moves {
    d.moves().iter().map(|m| ((m.from.clone(), m.to.clone()), set(&m.audience))).collect()
}

fn run(e: &mut Engine, s: &mut Saved, op: &Op) -> TestResult {
    let live: Vec<u32> = s.m.live.iter().copied().collect();
    match op {
        Op::Tag(c, n) | Op::Untag(c, n) => {
            let Some(c) = c.of(&live) else { return Ok(()) };
            let n = name_of(s, n);
            if matches!(op, Op::Tag(..)) {
                same(format!("tag {c} {n}"), e.tag(CustomerId(c), &n), s.tag(c, &n))?;
            } else {
                same(format!("untag {c} {n}"), e.untag(CustomerId(c), &n), s.untag(c, &n))?;
            }
        }
        Op::TagAll(mask, n) => {
            let n = name_of(s, n);
            let who: BTreeSet<u32> = (0..s.m.next_id as u32).filter(|c| mask >> (c % 64) & 1 == 1).collect();
            let audience: Audience = who.iter().map(|&c| CustomerId(c)).collect();
            same(format!("tag_all {n}"), e.tag_all(&audience, &n), s.tag_all(&who, &n))?;
        }
        Op::SetAttr(c, a, v) => {
            let Some(c) = c.of(&live) else { return Ok(()) };
            same("set_attr", e.set_attr(CustomerId(c), ATTRS[*a], *v), s.m.set_attr(c, ATTRS[*a], *v))?;
        }
        Op::Remove(c) => {
            let Some(c) = c.of(&live) else { return Ok(()) };
            same("remove", e.remove_customer(CustomerId(c)), s.m.remove(c))?;
        }
        Op::Add => {
            let key = format!("k{}", s.m.next_id);
            same("add", e.customer(&key).map(|c| c.0), s.m.customer(&key))?;
        }
        Op::Define(r, qt) => {
            let q = resolve(qt, &names(s));
            let (graph, node) = s.graph_with_rule(RULES[*r], &q);
            let got = e.define_rule_tag(RULES[*r], build(&q));
            check_cycle(got.as_ref().err(), &graph, node)?;
            let ok = got.is_ok();
            same(format!("define {} = {}", RULES[*r], build(&q)), got.map(|_| ()), s.define_rule(RULES[*r], &q))?;
            if ok {
                // The rule and everything reading it were computed: they hold their query's
                // customers (the others keep theirs until the next computation).
                let stale = s.stale_rules();
                for (i, (rule, _)) in s.rules.iter().enumerate() {
                    let due = Node::Rule(i) == node || graph.reads_transitively(Node::Rule(i)).contains(&node);
                    prop_assert!(!due || !stale.contains(rule), "{} stale after defining {}", rule, RULES[*r]);
                }
            }
        }
        Op::Delete(n) => {
            let n = name_of(s, n);
            let got = e.delete_tag(&n);
            if let Err(Error::TagInUse { tag, by }) = &got {
                // The saved query named is one that names the tag.
                let user: Option<&Q> = match by {
                    UsedBy::RuleTag { name } => s.rules.iter().find(|(r, _)| r == name).map(|(_, q)| q),
                    UsedBy::Plan { group, rule } => s
                        .plans
                        .iter()
                        .find(|p| p.group == *group)
                        .and_then(|p| p.rules.iter().find(|(r, _)| r == rule))
                        .map(|(_, q)| q),
                    other => panic!("{other:?}"),
                };
                prop_assert!(user.is_some_and(|q| tag_names(q).contains(tag)), "{:?} does not name {}", by, tag);
            }
            same(format!("delete {n}"), got, s.delete_tag(&n))?;
        }
        Op::Rename(i) => {
            let (old, new) = RENAMES[*i];
            same(format!("rename {old} -> {new}"), e.rename_tag(old, new), s.rename_tag(old, new))?;
        }
        Op::Refresh => check_refresh(e, s)?,
        Op::Apply(g, rot, qs) => {
            let (plan, built) = plan_of(s, *g, *rot, qs);
            let (graph, node) = s.graph_with_plan(&plan);
            let got = e.apply_plan(&plan.group, &built);
            check_cycle(got.as_ref().err(), &graph, node)?;
            same(format!("apply {plan:?}"), got.map(|d| moves(&d)), s.apply_plan(&plan))?;
        }
    }
    Ok(())
}

fn engine_and_model() -> (Engine, Saved) {
    let mut e = Engine::new();
    let mut m = Model::default();
    for c in 0..CUSTOMERS {
        let key = format!("c{c}");
        assert_eq!(e.customer(&key).unwrap().0, m.customer(&key).unwrap());
    }
    (e, Saved::new(m))
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn rule_tags_hold_what_the_naive_model_computes(ops in prop::collection::vec(op(), 1..40)) {
        let (mut e, mut s) = engine_and_model();
        for op in &ops {
            run(&mut e, &mut s, op)?;
            check(&e, &s)?;
        }
        check_refresh(&mut e, &mut s)?;
        check(&e, &s)?;
    }
}

// ------------------------------------------------------------------ edges, one by one

/// The rule tags' names and their members, exactly.
fn rule_members(e: &Engine) -> Vec<(String, Vec<u32>)> {
    let names: Vec<String> = e.rule_tags().map(|(n, _)| n.to_owned()).collect();
    let live: Vec<CustomerId> = e.customers().iter().collect();
    names
        .into_iter()
        .map(|n| {
            let who = live.iter().filter(|&&c| e.tags_of(c).unwrap().contains(&n.as_str())).map(|c| c.0).collect();
            (n, who)
        })
        .collect()
}

#[test]
fn empty_engine_and_one_customer() {
    let mut e = Engine::new();
    e.define_rule_tag("everyone", "*").unwrap();
    e.define_rule_tag("nobody", "NOT *").unwrap();
    assert_eq!(rule_members(&e), [("everyone".into(), vec![]), ("nobody".into(), vec![])]);
    let report = e.refresh_rules().unwrap();
    assert_eq!(report.rules.len(), 2);
    assert!(report.rules.iter().all(|u| u.added.is_empty() && u.removed.is_empty()));
    assert!(report.plans.is_empty());

    // One customer: not a member until the rules are computed again (no live maintenance).
    let c = e.customer("only").unwrap();
    assert_eq!(e.count("everyone").unwrap(), 0);
    let report = e.refresh_rules().unwrap();
    let everyone = report.rules.iter().find(|u| u.name == "everyone").unwrap();
    assert_eq!((everyone.added.to_ids(), everyone.removed.to_ids()), (vec![c.0], vec![]));
    assert_eq!(rule_members(&e), [("everyone".into(), vec![c.0]), ("nobody".into(), vec![])]);
    assert_eq!(e.tags_of(c).unwrap(), ["everyone"]);
    // A rule matching nobody, then everybody, when redefined: computed at once.
    e.define_rule_tag("nobody", "*").unwrap();
    assert_eq!(e.count("nobody").unwrap(), 1);
    // Removed: gone from every rule tag at once, and no rule reports it leaving.
    e.remove_customer(c).unwrap();
    assert_eq!(e.count("everyone OR nobody").unwrap(), 0);
    let report = e.refresh_rules().unwrap();
    assert!(report.rules.iter().all(|u| u.added.is_empty() && u.removed.is_empty()), "{report:?}");
}

#[test]
fn a_rule_tag_keeps_its_members_until_computed_again() {
    let mut e = Engine::new();
    let (a, b) = (e.customer("a").unwrap(), e.customer("b").unwrap());
    e.tag(a, "vip").unwrap();
    e.set_attr(b, "spend", 10).unwrap();
    e.define_rule_tag("r", "vip OR spend >= 10").unwrap();
    e.define_rule_tag("top", "r AND NOT vip").unwrap();
    assert_eq!((ids_of(&e, "r"), ids_of(&e, "top")), (vec![a.0, b.0], vec![b.0]));
    e.untag(a, "vip").unwrap();
    e.set_attr(b, "spend", 9).unwrap();
    e.tag(b, "vip").unwrap();
    assert_eq!((ids_of(&e, "r"), ids_of(&e, "top")), (vec![a.0, b.0], vec![b.0]), "not live-maintained");
    let report = e.refresh_rules().unwrap();
    // `r` is computed before `top`, which reads it.
    let names: Vec<&str> = report.rules.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["r", "top"]);
    assert_eq!((report.rules[0].added.to_ids(), report.rules[0].removed.to_ids()), (vec![], vec![a.0]));
    assert_eq!((report.rules[1].added.to_ids(), report.rules[1].removed.to_ids()), (vec![], vec![b.0]));
    assert_eq!((ids_of(&e, "r"), ids_of(&e, "top")), (vec![b.0], vec![]));
    // Redefining `r` computes it and `top`, which reads it; not an unrelated rule.
    e.define_rule_tag("other", "vip").unwrap();
    e.untag(b, "vip").unwrap();
    e.tag(a, "vip").unwrap();
    e.define_rule_tag("r", "NOT vip").unwrap();
    assert_eq!((ids_of(&e, "r"), ids_of(&e, "top"), ids_of(&e, "other")), (vec![b.0], vec![b.0], vec![b.0]));
    // `refresh` computes them too, after its own tags.
    let report = e.refresh(common::date("2024-06-30")).unwrap();
    assert_eq!(report.rules.len(), 3);
    assert_eq!(ids_of(&e, "other"), [a.0]);
}

fn ids_of(e: &Engine, q: &str) -> Vec<u32> {
    e.query(q).unwrap().to_ids()
}

#[test]
fn cycles_are_named_from_the_rule_defined_back_to_it() {
    let mut e = Engine::new();
    let c = e.customer("c").unwrap();
    e.tag(c, "vip").unwrap();
    // Self-reference.
    let err = e.define_rule_tag("a", "a OR vip").unwrap_err();
    assert_eq!(err, Error::RuleCycle { cycle: vec!["a".into(), "a".into()] });
    assert!(err.to_string().contains("a -> a") && err.to_string().contains("hint"), "{err}");
    assert_eq!(e.tag_id("a"), None, "nothing created on error");
    // Two rules.
    e.define_rule_tag("a", "vip").unwrap();
    e.define_rule_tag("b", "a").unwrap();
    let err = e.define_rule_tag("a", "b OR vip").unwrap_err();
    assert_eq!(err, Error::RuleCycle { cycle: vec!["a".into(), "b".into(), "a".into()] });
    assert_eq!(
        e.rule_tags().map(|(n, q)| (n, q.to_string())).collect::<Vec<_>>(),
        [("a", "vip".into()), ("b", "a".into())]
    );
    // Through a plan's values.
    e.apply_plan("camp", &SegmentPlan::new([("x", "b")], "rest").unwrap()).unwrap();
    e.define_rule_tag("d", "camp:x").unwrap();
    let err = e.define_rule_tag("a", "d").unwrap_err();
    assert_eq!(
        err,
        Error::RuleCycle { cycle: vec!["a".into(), "d".into(), "plan camp".into(), "b".into(), "a".into()] }
    );
    let err = e.apply_plan("camp", &SegmentPlan::new([("x", "d")], "rest").unwrap()).unwrap_err();
    assert_eq!(err, Error::RuleCycle { cycle: vec!["plan camp".into(), "d".into(), "plan camp".into()] });
    assert!(err.to_string().contains("plan camp -> d -> plan camp"), "{err}");
    // Through an ancestor: a query on `aud` reads the rule tags below it.
    e.define_rule_tag("aud/x", "vip").unwrap();
    let err = e.define_rule_tag("aud/x", "aud OR vip").unwrap_err();
    assert_eq!(err, Error::RuleCycle { cycle: vec!["aud/x".into(), "aud/x".into()] });
    e.define_rule_tag("reads_aud", "aud").unwrap();
    let err = e.define_rule_tag("aud/y", "reads_aud").unwrap_err();
    assert_eq!(err, Error::RuleCycle { cycle: vec!["aud/y".into(), "reads_aud".into(), "aud/y".into()] });
    assert_eq!(e.tag_id("aud/y"), None);
    assert_eq!(e.count("reads_aud").unwrap(), 1);
}

#[test]
fn unicode_names() {
    let mut e = Engine::new();
    let (a, b) = (e.customer("a").unwrap(), e.customer("b").unwrap());
    e.tag(a, "高消费").unwrap();
    e.tag(b, "高消费").unwrap();
    e.set_attr(a, "年龄", 30).unwrap();
    e.define_rule_tag(" 高价值 ", "高消费 AND 年龄 >= 18").unwrap();
    assert_eq!(ids_of(&e, "高价值"), [a.0]);
    // The name is normalized: the same rule, redefined.
    e.define_rule_tag("高价值", "高消费").unwrap();
    assert_eq!(e.rule_tags().count(), 1);
    assert_eq!(ids_of(&e, "高价值"), [a.0, b.0]);
    e.define_rule_tag("忠诚/常客", "高价值 AND NOT 年龄 < 18").unwrap();
    assert_eq!(ids_of(&e, "忠诚"), [a.0, b.0]);
    let err = e.define_rule_tag("高价值", "忠诚").unwrap_err();
    assert_eq!(err, Error::RuleCycle { cycle: vec!["高价值".into(), "忠诚/常客".into(), "高价值".into()] });
    assert!(err.to_string().contains("高价值 -> 忠诚/常客 -> 高价值"), "{err}");
    let err = e.tag(a, "忠诚/常客").unwrap_err();
    assert!(matches!(&err, Error::DerivedName { name, .. } if name == "忠诚/常客"), "{err:?}");
    assert!(err.to_string().contains("\"忠诚/常客\"") && err.to_string().contains("hint"), "{err}");
    let err = e.delete_tag("高价值").unwrap_err();
    assert_eq!(err, Error::TagInUse { tag: "高价值".into(), by: UsedBy::RuleTag { name: "忠诚/常客".into() } });
    assert!(err.to_string().contains("the query of the rule tag \"忠诚/常客\""), "{err}");
}

#[test]
fn hand_writes_to_rule_tags_are_refused_and_nothing_changes() {
    let mut e = Engine::new();
    let (a, b) = (e.customer("a").unwrap(), e.customer("b").unwrap());
    e.tag(a, "vip").unwrap();
    e.define_rule_tag("vips", "vip").unwrap();
    let derived = |r: Result<u64, Error>| match r {
        Err(err @ Error::DerivedName { .. }) => {
            let text = err.to_string();
            assert!(text.contains("\"vips\"") && text.contains("its rule") && text.contains("hint"), "{text}");
        }
        other => panic!("expected DerivedName, got {other:?}"),
    };
    derived(e.tag(b, "vips").map(u64::from));
    derived(e.untag(a, "vips").map(u64::from));
    derived(e.tag_all(&e.customers(), "vips"));
    derived(e.untag_all(&e.customers(), "vips"));
    derived(e.tag_pairs([(b, "vip"), (b, "vips")]));
    derived(e.define_tag("vips", audience::TagKind::Value).map(|_| 0));
    derived(e.rename_tag("vips", "vips2").map(|_| 0));
    assert_eq!((ids_of(&e, "vips"), ids_of(&e, "vip")), (vec![a.0], vec![a.0]), "nothing changed");
    // A tag a rule reads is neither deleted nor renamed; a rule tag no rule reads is deleted
    // with its rule.
    let err = e.delete_tag("vip").unwrap_err();
    assert_eq!(err, Error::TagInUse { tag: "vip".into(), by: UsedBy::RuleTag { name: "vips".into() } });
    assert!(err.to_string().contains("\"vip\"") && err.to_string().contains("\"vips\""), "{err}");
    let err = e.rename_tag("vip", "v").unwrap_err();
    assert!(matches!(err, Error::TagInUse { .. }), "{err:?}");
    assert_eq!(e.delete_tag("vips").unwrap(), 1);
    assert_eq!(e.rule_tags().count(), 0);
    assert_eq!(e.tag_id("vips"), None);
    assert_eq!(e.delete_tag("vip").unwrap(), 1, "no longer read");
}

#[test]
fn rule_names_that_are_taken() {
    let mut e = Engine::new();
    let a = e.customer("a").unwrap();
    e.tag(a, "vip").unwrap();
    let err = e.define_rule_tag("vip", "*").unwrap_err();
    assert_eq!(err, Error::TagExists { name: "vip".into() });
    assert!(err.to_string().contains("\"vip\""), "{err}");
    // An exclusive group's value: its members could overlap the group's other values.
    e.define_exclusive_group("tier").unwrap();
    let err = e.define_rule_tag("tier:auto", "vip").unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTagName { name, reason: NameProblem::RuleInGroup { group } } if name == "tier:auto" && group == "tier"),
        "{err:?}"
    );
    assert!(err.to_string().contains("tier") && err.to_string().contains("hint"), "{err}");
    // ... and a group cannot be declared over a rule tag.
    e.define_rule_tag("band:auto", "vip").unwrap();
    let err = e.define_exclusive_group("band").unwrap_err();
    assert!(matches!(&err, Error::DerivedName { name, .. } if name == "band:auto"), "{err:?}");
    assert_eq!(e.exclusive_groups().collect::<Vec<_>>(), ["tier"]);
    // Names refresh owns.
    assert!(matches!(e.define_rule_tag("stage:mine", "vip"), Err(Error::DerivedName { .. })));
    // Unknown names and bad text: named by the rule, with suggestions.
    let err = e.define_rule_tag("r", "vpi").unwrap_err();
    let Error::InRule { rule, error } = &err else { panic!("{err:?}") };
    assert_eq!(rule, "r");
    assert!(matches!(&**error, Error::UnknownTag { suggestions, .. } if suggestions == &["vip"]), "{error:?}");
    assert!(err.to_string().contains("\"r\"") && err.to_string().contains("vpi"), "{err}");
    let err = e.define_rule_tag("r", "vip AND (").unwrap_err();
    assert!(matches!(&err, Error::InRule { error, .. } if matches!(**error, Error::Parse { .. })), "{err:?}");
    let err = e.define_rule_tag("r", Query::compare("spend", audience::CmpOp::Ge, 1)).unwrap_err();
    assert!(
        matches!(&err, Error::InRule { error, .. } if matches!(**error, Error::UnknownAttribute { .. })),
        "{err:?}"
    );
    assert_eq!(e.tag_id("r"), None);
    assert_eq!(e.rule_tags().map(|(n, _)| n).collect::<Vec<_>>(), ["band:auto"]);
}

#[test]
fn plans_and_rule_tags_own_their_names() {
    let mut e = Engine::new();
    let (a, b) = (e.customer("a").unwrap(), e.customer("b").unwrap());
    e.tag(a, "vip").unwrap();
    e.tag(b, "camp:manual").unwrap();
    let plan = SegmentPlan::new([("vips", "vip")], "rest").unwrap();
    let err = e.apply_plan("camp", &plan).unwrap_err();
    assert_eq!(err, Error::GroupInUse { group: "camp".into(), tag: Some("camp:manual".into()) });
    assert!(err.to_string().contains("\"camp\"") && err.to_string().contains("\"camp:manual\""), "{err}");
    e.define_exclusive_group("declared").unwrap();
    assert!(matches!(e.apply_plan("declared", &plan), Err(Error::GroupInUse { tag: None, .. })));
    // A rule tag named in a group also holds the group.
    e.define_rule_tag("auto:x", "vip").unwrap();
    assert!(matches!(e.apply_plan("auto", &plan), Err(Error::GroupInUse { .. })));
    assert_eq!(e.delete_tag("auto:x").unwrap(), 1);

    e.apply_plan("群", &plan).unwrap();
    e.define_rule_tag("reads_plan", "群:vips OR 群:rest").unwrap();
    for r in [e.tag(b, "群:vips").map(|_| ()), e.tag(b, "群:new").map(|_| ()), e.untag(a, "群:vips").map(|_| ())] {
        assert!(matches!(r, Err(Error::DerivedName { .. })), "{r:?}");
    }
    assert!(matches!(e.delete_tag("群:rest"), Err(Error::TagInUse { .. })));
    let err = e.delete_tag("vip").unwrap_err();
    assert_eq!(
        err,
        Error::TagInUse { tag: "vip".into(), by: UsedBy::Plan { group: "群".into(), rule: "vips".into() } }
    );
    assert_eq!(ids_of(&e, "reads_plan"), [a.0, b.0]);
    // Applying a new version recomputes the rule tags reading the group.
    e.apply_plan("群", &SegmentPlan::new([("vips", "NOT vip")], "rest").unwrap()).unwrap();
    e.remove_customer(a).unwrap();
    assert_eq!((ids_of(&e, "群:vips"), ids_of(&e, "reads_plan")), (vec![b.0], vec![b.0]));
    assert_eq!(e.refresh_rules().unwrap().plans.len(), 1);
}
