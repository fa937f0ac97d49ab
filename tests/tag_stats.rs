//! Tag statistics and housekeeping (`tag_stats`, `tag_stat`, `empty_tags`, `unused_tags`,
//! `merge_tags`) against the naive model of saved queries (`common::saved`) plus a map of
//! expiry days: random hand writes (plain, Unicode, hierarchical, an exclusive group),
//! expiring tags and `expire`, rule tags (one below a hand-written parent, so a merge into
//! that parent can close a cycle), an applied plan and its re-application, deletes, merges
//! of any two names and `refresh_rules`. After every operation, refused or not, the engine
//! holds the model's tags, expiry days, rule and plan queries (as text), and every tag's
//! figures (its kind too: defined, or given by its group or nearest ancestor when the tag
//! was created by a write, a rule or a plan), empty and unused tags are the model's. Then
//! the edges one by one.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{
    Audience, ChangeEvent, CustomerId, Engine, Error, MergeProblem, Query, SegmentPlan, TagKind, TagMerge, UsedBy,
};
use common::model::{Model, Q, depth, normalize, parent, same, self_and_ancestors};
use common::saved::{Merge, Plan, Saved, tag_names};
use common::templates::{Names, Qt, build, qt, resolve};
use common::{Pick, TestResult, config, day, pick};
use proptest::prelude::*;

/// Hand-written tags: plain, Unicode, a hierarchy, an exclusive group's values (one
/// Unicode), and `aud`, the parent of the rule tag `aud/top`.
const TAGS: [&str; 10] =
    ["vip", "高消费", "sports", "sports/run", "sports/golf", "tier:gold", "tier:silver", "tier:铜", "new", "aud"];
/// The tags of [`TAGS`] defined with a kind (the others are created by `ensure_tag`: the
/// group's kind for `tier:`, `sports`'s below it, else `Custom`). `tier:铜` is defined with
/// a kind other than its group's: made again by a write, it takes the group's.
const DEFINED: [(&str, TagKind); 4] = [
    ("vip", TagKind::Value),
    ("sports", TagKind::Interest),
    ("tier:铜", TagKind::Attribute),
    ("aud", TagKind::Behavior),
];
/// The kinds of the exclusive groups' new values: `tier` (declared with a kind) and the
/// plan's group (its values are `Custom`).
const GROUP_KINDS: [(&str, TagKind); 2] = [("tier", TagKind::Lifecycle), ("camp", TagKind::Custom)];
/// Rule tags; `aud/top` is read by a query on `aud`.
const RULES: [&str; 3] = ["r0", "r1", "aud/top"];
/// Names a merge may be given besides those: a plan's value, an unknown one, a padded one.
const OTHERS: [&str; 3] = ["camp:hi", "nope", " vip "];
const SEGMENTS: [&str; 2] = ["hi", "lo"];
const GROUP: &str = "camp";
/// Enough that applying a plan again after a few writes evaluates it for the touched
/// customers only (at most one in 50 of the live ones).
const CUSTOMERS: u32 = 150;

/// Expiry days of the model: (customer, tag) -> day (as `common::day` counts).
type Days = BTreeMap<(u32, String), i32>;

/// The kind of every tag of the model's pool.
type Kinds = BTreeMap<String, TagKind>;

#[derive(Clone, Debug)]
enum Name {
    Tag(usize),
    Rule(usize),
    Other(usize),
    /// Any name of the pool now.
    Pool(Pick),
    /// A name a saved query names now (any name of the pool when none does).
    Read(Pick),
}

#[derive(Clone, Debug)]
enum Op {
    Tag(Pick, usize),
    Untag(Pick, Name),
    /// Customers `id` whose bit `id % 64` is set.
    TagAll(u64, usize),
    TagUntil(Pick, usize, i32),
    Expire(i32),
    Define(usize, Qt),
    /// The rules' queries (segments `hi`, `lo`).
    Apply(Vec<Qt>),
    /// The plan as it is stored (after merges rewrote it), applied again.
    Reapply,
    Delete(Name),
    Merge(Name, Name),
    Refresh,
}

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        8 => (0..TAGS.len()).prop_map(Name::Tag),
        2 => (0..RULES.len()).prop_map(Name::Rule),
        1 => (0..OTHERS.len()).prop_map(Name::Other),
        4 => pick().prop_map(Name::Pool),
        4 => pick().prop_map(Name::Read),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (pick(), 0..TAGS.len()).prop_map(|(c, t)| Op::Tag(c, t)),
        2 => (pick(), name()).prop_map(|(c, n)| Op::Untag(c, n)),
        2 => (any::<u64>(), 0..TAGS.len()).prop_map(|(m, t)| Op::TagAll(m, t)),
        3 => (pick(), 0..TAGS.len(), 1..6i32).prop_map(|(c, t, d)| Op::TagUntil(c, t, d)),
        1 => (1..6i32).prop_map(Op::Expire),
        4 => (0..RULES.len(), qt(0, 0)).prop_map(|(r, q)| Op::Define(r, q)),
        2 => prop::collection::vec(qt(0, 0), 1..=2).prop_map(Op::Apply),
        1 => Just(Op::Reapply),
        2 => name().prop_map(Op::Delete),
        8 => (name(), name()).prop_map(|(f, i)| Op::Merge(f, i)),
        // Into `aud`, above the rule tag `aud/top`: a cycle when `aud/top` reads the tag.
        1 => pick().prop_map(|p| Op::Merge(Name::Read(p), Name::Tag(9))),
        2 => Just(Op::Refresh),
    ]
}

fn name_of(s: &Saved, n: &Name) -> String {
    match n {
        Name::Tag(i) => TAGS[*i].to_owned(),
        Name::Rule(i) => RULES[*i].to_owned(),
        Name::Other(i) => OTHERS[*i].to_owned(),
        Name::Pool(p) => p.of(&s.m.tag_names()).unwrap_or_else(|| TAGS[0].to_owned()),
        Name::Read(p) => {
            let rules = s.rules.iter().map(|(_, q)| q);
            let queries = rules.chain(s.plans.iter().flat_map(|p| p.rules.iter().map(|(_, q)| q)));
            let read: BTreeSet<String> = queries.flat_map(tag_names).collect();
            let read: Vec<String> = read.into_iter().collect();
            p.of(&read).unwrap_or_else(|| name_of(s, &Name::Pool(*p)))
        }
    }
}

fn set(a: &Audience) -> BTreeSet<u32> {
    a.iter().map(|c| c.0).collect()
}

/// Forgets the days of assignments the model no longer has (whatever removed them).
fn prune(s: &Saved, days: &mut Days) {
    days.retain(|(c, t), _| s.m.tags.get(c).is_some_and(|tags| tags.contains(t)));
}

/// Forgets the kinds of deleted tags and gives the new ones theirs: a tag created without a
/// kind (by a write, a rule tag, a plan's value) gets its group's, else its nearest existing
/// ancestor's, else `Custom`, and so do its missing ancestors. With these names a group value
/// has no parent, so giving each new name its own implicit kind, parents first, is the same.
fn sync_kinds(pool: &BTreeSet<String>, kinds: &mut Kinds) {
    kinds.retain(|t, _| pool.contains(t));
    let mut new: Vec<&String> = pool.iter().filter(|t| !kinds.contains_key(*t)).collect();
    new.sort_by_key(|t| depth(t));
    for t in new {
        let group = t.split_once(':').and_then(|(g, _)| GROUP_KINDS.iter().find(|(n, _)| *n == g));
        let ancestor = || self_and_ancestors(t).skip(1).find_map(|a| kinds.get(a).copied());
        let kind = group.map(|&(_, k)| k).or_else(ancestor).unwrap_or(TagKind::Custom);
        kinds.insert(t.clone(), kind);
    }
}

/// One tag's figures: name, kind, size, members, group, parent, children, used by, derived.
type Figures = (String, TagKind, u64, u64, Option<String>, Option<String>, usize, Vec<UsedBy>, bool);

fn model_figures(s: &Saved, kinds: &Kinds) -> Vec<Figures> {
    let sizes = s.m.member_counts();
    let matches = s.m.all_matches();
    s.m.pool
        .iter()
        .map(|t| {
            (
                t.clone(),
                kinds[t],
                sizes[t.as_str()],
                matches[t.as_str()].len() as u64,
                s.m.group_of(t).map(|_| t.split_once(':').expect("a value").0.to_owned()),
                parent(t).map(str::to_owned),
                s.m.children(t),
                s.readers(t),
                s.derived(t),
            )
        })
        .collect()
}

/// The engine holds exactly the model's tags, days, saved queries and figures.
fn check(e: &Engine, s: &Saved, days: &Days, kinds: &Kinds) -> TestResult {
    for (&c, want) in &s.m.tags {
        let got: BTreeSet<String> = e.tags_of(CustomerId(c)).unwrap().into_iter().map(str::to_owned).collect();
        prop_assert_eq!(&got, want, "tags of customer {}", c);
        for t in want {
            let want = days.get(&(c, t.clone())).map(|&d| day(d));
            prop_assert_eq!(e.expiry_of(CustomerId(c), t).unwrap(), want, "expiry of {} on {}", t, c);
        }
    }
    let rules: Vec<(String, String)> = e.rule_tags().map(|(n, q)| (n.to_owned(), q.to_string())).collect();
    let want: Vec<(String, String)> = s.rules.iter().map(|(n, q)| (n.clone(), build(q).to_string())).collect();
    prop_assert_eq!(rules, want);
    let plans: Vec<(String, Vec<(String, String)>)> = e
        .applied_plans()
        .map(|(g, p)| (g.to_owned(), p.rules().iter().map(|r| (r.name().to_owned(), r.query().to_string())).collect()))
        .collect();
    let want: Vec<(String, Vec<(String, String)>)> = s
        .plans
        .iter()
        .map(|p| (p.group.clone(), p.rules.iter().map(|(n, q)| (n.clone(), build(q).to_string())).collect()))
        .collect();
    prop_assert_eq!(plans, want);

    // The figures: in id order (as `tags()` lists them), each the model's.
    let stats = e.tag_stats();
    let order: Vec<&str> = e.tags().map(|t| t.name).collect();
    prop_assert_eq!(stats.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), order.clone());
    let mut got: Vec<Figures> = stats
        .iter()
        .map(|t| {
            let f = (t.name.clone(), t.kind, t.size, t.members, t.group.clone(), t.parent.clone(), t.children);
            (f.0, f.1, f.2, f.3, f.4, f.5, f.6, t.used_by.clone(), t.derived_by.is_some())
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want = model_figures(s, kinds);
    prop_assert_eq!(&got, &want);
    for t in &stats {
        prop_assert_eq!(&e.tag_stat(&t.name).unwrap(), t);
        prop_assert_eq!(e.tag_id(&t.name), Some(t.id));
    }
    let in_order = |pick: &dyn Fn(&Figures) -> bool| -> Vec<String> {
        let picked: BTreeSet<&str> = want.iter().filter(|f| pick(f)).map(|f| f.0.as_str()).collect();
        order.iter().filter(|n| picked.contains(**n)).map(|n| (*n).to_owned()).collect()
    };
    prop_assert_eq!(e.empty_tags(), in_order(&|f| f.3 == 0));
    prop_assert_eq!(e.unused_tags(), in_order(&|f| !f.8 && f.7.is_empty()));
    // Every tag's members, as a query reads them.
    for (t, who) in s.m.all_matches() {
        let got: BTreeSet<u32> = e.select(&Query::tag(t)).unwrap().iter().map(|c| c.0).collect();
        prop_assert_eq!(got, who, "members of {}", t);
    }
    Ok(())
}

fn plan_of(s: &Saved, qs: &[Qt]) -> (Plan, SegmentPlan) {
    let names = Names::new(s.m.tag_names(), vec!["nope".into()], vec![], vec![]);
    let rules: Vec<(String, Q)> =
        qs.iter().enumerate().map(|(i, q)| (SEGMENTS[i].to_owned(), resolve(q, &names))).collect();
    let built = SegmentPlan::new(rules.iter().map(|(n, q)| (n.as_str(), build(q))), "rest").unwrap();
    (Plan { group: GROUP.to_owned(), rules, fallback: "rest".to_owned() }, built)
}

fn moves(d: &audience::SegmentDiff) -> common::saved::Moves {
    d.moves().iter().map(|m| ((m.from.clone(), m.to.clone()), set(&m.audience))).collect()
}

fn merge_report(m: TagMerge) -> Merge {
    (m.moved, m.added, m.displaced, m.rewritten)
}

fn run(e: &mut Engine, s: &mut Saved, days: &mut Days, kinds: &mut Kinds, op: &Op) -> TestResult {
    let live: Vec<u32> = s.m.live.iter().copied().collect();
    match op {
        Op::Tag(c, t) => {
            let Some(c) = c.of(&live) else { return Ok(()) };
            let got = e.tag(CustomerId(c), TAGS[*t]);
            let want = s.tag(c, TAGS[*t]);
            if want.is_ok() {
                days.remove(&(c, TAGS[*t].to_owned())); // a plain assignment is for good
            }
            same(format!("tag {c} {}", TAGS[*t]), got, want)?;
        }
        Op::Untag(c, n) => {
            let Some(c) = c.of(&live) else { return Ok(()) };
            let n = name_of(s, n);
            same(format!("untag {c} {n}"), e.untag(CustomerId(c), &n), s.untag(c, &n))?;
        }
        Op::TagAll(mask, t) => {
            let who: BTreeSet<u32> = (0..CUSTOMERS).filter(|c| mask >> (c % 64) & 1 == 1).collect();
            let audience: Audience = who.iter().map(|&c| CustomerId(c)).collect();
            let got = e.tag_all(&audience, TAGS[*t]);
            let want = s.tag_all(&who, TAGS[*t]);
            if want.is_ok() {
                for &c in &who {
                    days.remove(&(c, TAGS[*t].to_owned()));
                }
            }
            same(format!("tag_all {}", TAGS[*t]), got, want)?;
        }
        Op::TagUntil(c, t, d) => {
            let Some(c) = c.of(&live) else { return Ok(()) };
            let (name, key) = (TAGS[*t], (c, TAGS[*t].to_owned()));
            let got = e.tag_until(CustomerId(c), name, day(*d));
            let want = s.tag(c, name);
            // The later day wins; permanent (carried before, without a day) stays.
            match (days.get(&key).copied(), &want) {
                (_, Err(_)) => {}
                (Some(old), _) if old >= *d => {}
                (Some(_), _) | (None, Ok(true)) => {
                    days.insert(key, *d);
                }
                (None, Ok(false)) => {}
            }
            same(format!("tag_until {c} {name} {d}"), got, want)?;
        }
        Op::Expire(d) => {
            let due: Vec<(u32, String)> = days.iter().filter(|(_, day)| **day <= *d).map(|(k, _)| k.clone()).collect();
            for (c, t) in &due {
                s.m.tags.get_mut(c).expect("live").remove(t);
                days.remove(&(*c, t.clone()));
            }
            prop_assert_eq!(e.expire(day(*d)), due.len() as u64, "expire {}", d);
        }
        Op::Define(r, q) => {
            let q = resolve(q, &Names::new(s.m.tag_names(), vec!["nope".into()], vec![], vec![]));
            let got = e.define_rule_tag(RULES[*r], build(&q)).map(|_| ());
            same(format!("define {} = {}", RULES[*r], build(&q)), got, s.define_rule(RULES[*r], &q))?;
        }
        Op::Apply(qs) => {
            let (plan, built) = plan_of(s, qs);
            same(format!("apply {plan:?}"), e.apply_plan(GROUP, &built).map(|d| moves(&d)), s.apply_plan(&plan))?;
        }
        Op::Reapply => {
            let Some((_, stored)) = e.applied_plans().next().map(|(g, p)| (g.to_owned(), p.clone())) else {
                return Ok(());
            };
            let plan = s.plans[0].clone();
            same("apply the stored plan again", e.apply_plan(GROUP, &stored).map(|d| moves(&d)), s.apply_plan(&plan))?;
        }
        Op::Delete(n) => {
            let n = name_of(s, n);
            same(format!("delete {n}"), e.delete_tag(&n), s.delete_tag(&n))?;
        }
        Op::Merge(f, i) => {
            let (from, into) = (name_of(s, f), name_of(s, i));
            let (before, days_before) = (s.clone(), days.clone());
            let got = e.merge_tags(&from, &into);
            let want = s.merge_tags(&from, &into);
            if let (Ok(m), Ok(_)) = (&got, &want) {
                let (f, i) = (normalize(&from).unwrap(), normalize(&into).unwrap());
                prop_assert_eq!((&m.from, &m.into), (&f, &i));
                // Days: permanent wins, else the later day; new to `into`: `from`'s day.
                let had = before.m.members(&i);
                for c in before.m.members(&f) {
                    let key = (c, i.clone());
                    match days_before.get(&(c, f.clone())) {
                        None => {
                            days.remove(&key);
                        }
                        Some(&d) if !had.contains(&c) => {
                            days.insert(key, d);
                        }
                        Some(&d) => {
                            if let Some(&old) = days_before.get(&key) {
                                days.insert(key, old.max(d));
                            }
                        }
                    }
                }
            }
            same(format!("merge {from} into {into}"), got.map(merge_report), want)?;
        }
        Op::Refresh => {
            let got = e.refresh_rules().map(|r| r.rules.len());
            let want = s.refresh_rules().rules.len();
            prop_assert_eq!(got.map_err(|err| TestCaseError::fail(format!("refresh_rules: {err}")))?, want);
        }
    }
    prune(s, days);
    sync_kinds(&s.m.pool, kinds);
    Ok(())
}

/// Customers `0..CUSTOMERS`, the group `tier` (with its kind), every tag of [`TAGS`] (those
/// of [`DEFINED`] with theirs), and `pairs` tagged; the kinds the model gives them.
fn engine_and_model(pairs: &[(u32, usize)]) -> (Engine, Saved, Kinds) {
    let mut e = Engine::new();
    let mut m = Model::with_customers(CUSTOMERS);
    for c in 0..CUSTOMERS {
        e.customer_id(c).unwrap();
    }
    e.define_exclusive_group_with_kind("tier", GROUP_KINDS[0].1).unwrap();
    m.define_exclusive_group("tier").unwrap();
    let mut kinds = Kinds::new();
    for t in TAGS {
        match DEFINED.iter().find(|(n, _)| *n == t) {
            Some(&(_, kind)) => {
                e.define_tag(t, kind).unwrap();
                kinds.insert(t.to_owned(), kind);
            }
            None => {
                e.ensure_tag(t).unwrap();
            }
        }
        m.ensure(t);
        sync_kinds(&m.pool, &mut kinds); // each in turn: `sports/run` after `sports`
    }
    for &(c, t) in pairs {
        assert_eq!(e.tag(CustomerId(c), TAGS[t]).unwrap(), m.tag(c, TAGS[t]).unwrap());
    }
    (e, Saved::new(m), kinds)
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn housekeeping_equals_the_naive_model(
        pairs in prop::collection::vec((0..CUSTOMERS, 0..TAGS.len()), 0..40),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let (mut e, mut s, mut kinds) = engine_and_model(&pairs);
        let mut days = Days::new();
        check(&e, &s, &days, &kinds)?;
        for op in &ops {
            run(&mut e, &mut s, &mut days, &mut kinds, op)?;
            check(&e, &s, &days, &kinds)?;
        }
        // Rule tags hold what their (rewritten) queries give once computed again.
        run(&mut e, &mut s, &mut days, &mut kinds, &Op::Refresh)?;
        prop_assert!(s.stale_rules().is_empty());
        check(&e, &s, &days, &kinds)?;
    }
}

// ------------------------------------------------------------------ edges, one by one

/// Everything a refused merge must leave as it was.
/// Every customer's tags, the rule tags' queries, every tag's figures.
type Picture = (Vec<(u32, Vec<String>)>, Vec<(String, String)>, Vec<audience::TagStats>);

fn picture(e: &Engine) -> Picture {
    let tags_of = |c| e.tags_of(c).unwrap().into_iter().map(str::to_owned).collect();
    let tags = e.customers().iter().map(|c| (c.0, tags_of(c))).collect();
    let rules = e.rule_tags().map(|(n, q)| (n.to_owned(), q.to_string())).collect();
    (tags, rules, e.tag_stats())
}

#[test]
fn an_empty_engine_has_nothing_to_report() {
    let mut e = Engine::new();
    assert!(e.tag_stats().is_empty() && e.empty_tags().is_empty() && e.unused_tags().is_empty());
    assert!(matches!(e.tag_stat("vip"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.merge_tags("a", "b"), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.merge_tags("", "b"), Err(Error::InvalidTagName { .. })));
    // One tag nobody carries: empty and unused.
    e.ensure_tag("高消费").unwrap();
    assert_eq!(e.empty_tags(), ["高消费"]);
    assert_eq!(e.unused_tags(), ["高消费"]);
    let s = e.tag_stat("高消费").unwrap();
    assert_eq!((s.size, s.members, s.children, s.derived_by), (0, 0, 0, None));
}

#[test]
fn unicode_names_merge_and_unknown_names_get_suggestions() {
    let mut e = Engine::new();
    let (a, b) = (e.customer("a").unwrap(), e.customer("b").unwrap());
    e.tag(a, "高消费").unwrap();
    e.tag(b, "高价值").unwrap();
    e.define_rule_tag("重点", "高消费 AND NOT vip").unwrap_err(); // vip is unknown
    e.define_rule_tag("重点", "高消费").unwrap();
    let m = e.merge_tags(" 高消费 ", "高价值").unwrap();
    assert_eq!((m.from.as_str(), m.into.as_str(), m.moved, m.added, m.displaced), ("高消费", "高价值", 1, 1, 0));
    assert_eq!(m.rewritten, [UsedBy::RuleTag { name: "重点".into() }]);
    assert_eq!(e.rule_tags().map(|(_, q)| q.to_string()).collect::<Vec<_>>(), ["高价值"]);
    assert_eq!(e.count("高价值").unwrap(), 2);
    // Not computed again until asked.
    assert_eq!(e.count("重点").unwrap(), 1);
    e.refresh_rules().unwrap();
    assert_eq!(e.count("重点").unwrap(), 2);
    let err = e.merge_tags("高价直", "vip").unwrap_err();
    assert!(matches!(&err, Error::UnknownTag { suggestions, .. } if suggestions == &["高价值"]), "{err}");
}

#[test]
fn merging_into_an_exclusive_value_makes_it_win() {
    let mut e = Engine::new();
    e.define_exclusive_group("tier").unwrap();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| e.customer(k).unwrap());
    e.tag(a, "tier:silver").unwrap();
    e.tag(b, "tier:bronze").unwrap();
    e.tag(b, "gold_member").unwrap(); // the same meaning, spelt out of the group
    e.tag(c, "gold_member").unwrap();
    e.tag(d, "tier:gold").unwrap();
    e.track_changes(true);
    let m = e.merge_tags("gold_member", "tier:gold").unwrap();
    assert_eq!((m.moved, m.added, m.displaced), (2, 2, 1));
    assert_eq!(e.tags_of(b).unwrap(), ["tier:gold"]);
    assert_eq!(e.tags_of(a).unwrap(), ["tier:silver"]);
    let events: Vec<(String, Vec<u32>)> = e
        .changes()
        .into_iter()
        .map(|ch| match ch.event {
            ChangeEvent::TagAdded { tag, audience } => (format!("+{tag}"), audience.to_ids()),
            ChangeEvent::TagRemoved { tag, audience } => (format!("-{tag}"), audience.to_ids()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        events,
        [
            ("-tier:bronze".into(), vec![b.0]),
            ("+tier:gold".into(), vec![b.0, c.0]),
            ("-gold_member".into(), vec![b.0, c.0])
        ]
    );
    // Two values of one group: the merged one's customers move over.
    let m = e.merge_tags("tier:silver", "tier:gold").unwrap();
    assert_eq!((m.moved, m.added, m.displaced), (1, 1, 0));
    assert_eq!(
        e.tags_in_group("tier").unwrap().iter().map(|t| (t.name, t.len)).collect::<Vec<_>>(),
        [("tier:bronze", 0), ("tier:gold", 4)]
    );
}

#[test]
fn rewritten_rules_show_in_their_text_and_plans_apply_again_over_everyone_they_read() {
    let mut e = Engine::new();
    let [a, b, c] = ["a", "b", "c"].map(|k| e.customer(k).unwrap());
    for k in 0..300 {
        e.customer(&format!("idle{k}")).unwrap(); // so a few touches are few enough to go by
    }
    e.tag(a, "outdoors").unwrap();
    e.tag(b, "high value").unwrap();
    e.tag(c, "vip").unwrap();
    e.define_rule_tag("campers", "outdoors AND NOT vip").unwrap();
    let plan = SegmentPlan::new([("hi", "outdoors OR vip")], "rest").unwrap();
    e.apply_plan("camp", &plan).unwrap();
    assert_eq!(e.select("camp:hi").unwrap().to_ids(), [a.0, c.0]);
    let m = e.merge_tags("outdoors", "high value").unwrap();
    let plan_rule = UsedBy::Plan { group: "camp".into(), rule: "hi".into() };
    assert_eq!(m.rewritten, [UsedBy::RuleTag { name: "campers".into() }, plan_rule.clone()]);
    let (_, q) = e.rule_tags().next().unwrap();
    assert_eq!(q.to_string(), r#""high value" AND NOT vip"#);
    assert_eq!(q.source(), Some(r#""high value" AND NOT vip"#), "parsed back from its new text");
    let (_, stored) = e.applied_plans().next().unwrap();
    let stored = stored.clone();
    assert_eq!(stored.rules()[0].query().to_string(), r#""high value" OR vip"#);
    assert_eq!(e.tag_stat("high value").unwrap().used_by, [UsedBy::RuleTag { name: "campers".into() }, plan_rule]);
    // Applying the stored plan again reads b too, whom the merge did not write.
    e.apply_plan("camp", &stored).unwrap();
    assert_eq!(e.select("camp:hi").unwrap().to_ids(), [a.0, b.0, c.0]);
}

#[test]
fn a_merge_that_would_close_a_cycle_changes_nothing() {
    let mut e = Engine::new();
    let [a, b] = ["a", "b"].map(|k| e.customer(k).unwrap());
    e.tag_until(a, "x", day(3)).unwrap();
    e.tag(b, "aud").unwrap();
    e.define_rule_tag("aud/top", "x OR vip").unwrap_err(); // vip unknown
    e.define_rule_tag("aud/top", "x").unwrap();
    e.define_rule_tag("r", "aud/top").unwrap();
    let before = picture(&e);
    let err = e.merge_tags("x", "aud").unwrap_err();
    assert!(matches!(&err, Error::RuleCycle { cycle } if cycle == &["aud/top", "aud/top"]), "{err}");
    assert_eq!(picture(&e), before);
    assert_eq!(e.expiry_of(a, "x").unwrap(), Some(day(3)));
    // Into a tag beside it instead: fine.
    e.tag(b, "y").unwrap();
    e.merge_tags("x", "y").unwrap();
    assert_eq!(e.expiry_of(a, "y").unwrap(), Some(day(3)));
}

#[test]
fn derived_tags_the_same_tag_and_parents_are_refused() {
    let mut e = Engine::new();
    let c = e.customer("c").unwrap();
    e.tag(c, "sports/run").unwrap();
    e.tag(c, "vip").unwrap();
    e.define_rule_tag("best", "vip").unwrap();
    e.apply_plan("camp", &SegmentPlan::new([("hi", "vip")], "rest").unwrap()).unwrap();
    let before = picture(&e);
    for (from, into) in [("best", "vip"), ("vip", "best"), ("camp:hi", "vip"), ("vip", "camp:rest")] {
        let err = e.merge_tags(from, into).unwrap_err();
        assert!(matches!(err, Error::DerivedName { .. }), "{from} into {into}: {err}");
    }
    let err = e.merge_tags("vip", " vip ").unwrap_err();
    assert!(matches!(err, Error::InvalidMerge { reason: MergeProblem::SameTag, .. }), "{err}");
    assert!(err.to_string().contains("hint"), "{err}");
    let err = e.merge_tags("sports", "vip").unwrap_err();
    assert!(
        matches!(&err, Error::InvalidMerge { reason: MergeProblem::HasChildren { children }, .. } if children == &["sports/run"]),
        "{err}"
    );
    assert!(err.to_string().contains("merge or delete its children first"), "{err}");
    assert_eq!(picture(&e), before);
    // A child into its parent: the parent carries its customers itself.
    e.merge_tags("sports/run", "sports").unwrap();
    assert_eq!(e.tags_of(c).unwrap(), ["sports", "vip", "best", "camp:hi"]);
    let sports = e.tag_stat("sports").unwrap();
    assert_eq!((sports.size, sports.members, sports.children), (1, 1, 0));
}

#[test]
fn merged_days_follow_the_later_day_and_permanent_wins() {
    let mut e = Engine::new();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| e.customer(k).unwrap());
    e.tag_until(a, "from", day(5)).unwrap(); // new to `into`: until 5
    e.tag_until(b, "from", day(5)).unwrap();
    e.tag_until(b, "into", day(9)).unwrap(); // later: 9
    e.tag_until(c, "from", day(9)).unwrap();
    e.tag_until(c, "into", day(5)).unwrap(); // earlier: 9
    e.tag(d, "from").unwrap();
    e.tag_until(d, "into", day(5)).unwrap(); // `from` for good: for good
    e.merge_tags("from", "into").unwrap();
    let days: Vec<_> = [a, b, c, d].map(|x| e.expiry_of(x, "into").unwrap()).into();
    assert_eq!(days, [Some(day(5)), Some(day(9)), Some(day(9)), None]);
    assert_eq!(e.expire(day(5)), 1);
    assert_eq!(e.select("into").unwrap().to_ids(), [b.0, c.0, d.0]);
}

#[test]
fn stats_say_who_reads_a_tag_and_who_derives_it() {
    let mut e = Engine::new();
    let [a, b] = ["a", "b"].map(|k| e.customer(k).unwrap());
    e.tag(a, "sports/run").unwrap();
    e.tag(b, "sports/golf").unwrap();
    e.ensure_tag("legacy").unwrap();
    e.define_rule_tag("active", "sports").unwrap();
    e.define_rule_tag("runners", "sports/run OR active").unwrap();
    e.apply_plan("camp", &SegmentPlan::new([("hi", "runners")], "rest").unwrap()).unwrap();
    let by = |n: &str| e.tag_stat(n).unwrap().used_by;
    let active = UsedBy::RuleTag { name: "active".into() };
    let runners = UsedBy::RuleTag { name: "runners".into() };
    let plan = UsedBy::Plan { group: "camp".into(), rule: "hi".into() };
    assert_eq!(by("sports/run"), [active.clone(), runners.clone()]);
    assert_eq!(by("sports/golf"), std::slice::from_ref(&active));
    assert_eq!(by("runners"), [plan]);
    assert!(by("legacy").is_empty() && by("camp:rest").is_empty());
    assert_eq!(e.unused_tags(), ["legacy"]);
    assert_eq!(e.empty_tags(), ["legacy", "camp:rest"]);
    let derived: Vec<(String, bool)> = e.tag_stats().into_iter().map(|t| (t.name, t.derived_by.is_some())).collect();
    assert_eq!(
        derived,
        [
            ("sports", false),
            ("sports/run", false),
            ("sports/golf", false),
            ("legacy", false),
            ("active", true),
            ("runners", true),
            ("camp:hi", true),
            ("camp:rest", true)
        ]
        .map(|(n, d)| (n.to_owned(), d))
    );
    let golf = e.tag_stat("sports/golf").unwrap();
    assert_eq!((golf.size, golf.members, golf.parent.as_deref(), golf.group), (1, 1, Some("sports"), None));
    assert_eq!(e.tag_stat("camp:hi").unwrap().group.as_deref(), Some("camp"));
}
