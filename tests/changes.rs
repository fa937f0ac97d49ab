//! The change feed against snapshots: every tag's exact members are read before and after each
//! operation, and the events the operation recorded, replayed on the first snapshot, must give
//! the second exactly: each event names someone, one `TagAdded` and one `TagRemoved` at most
//! per tag, holding exactly the customers whose membership of that tag itself changed; plans'
//! values move only through `SegmentMoved`, `stage:` tags only through `StageChanged`;
//! sequence numbers follow one another across drains and while the feed is turned off and on;
//! a refused operation and a feed turned off record nothing. Then a refresh's events against
//! its report, and the documented edges one by one.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{Audience, Change, ChangeEvent, CustomerId, Engine, Error, RfmGrid, RfmModel, SegmentPlan, Stage};
use common::model::in_subtree;
use common::{Pick, TestResult, config, date, money, pick, plus};
use proptest::prelude::*;

/// Every tag's exact members (not descendants'), empty tags left out.
type Members = BTreeMap<String, BTreeSet<u32>>;

fn membership(e: &Engine) -> Members {
    let mut out = Members::new();
    for c in e.customers().iter() {
        for t in e.tags_of(c).unwrap() {
            out.entry(t.to_owned()).or_default().insert(c.0);
        }
    }
    out
}

fn set(a: &Audience) -> BTreeSet<u32> {
    a.iter().map(|c| c.0).collect()
}

/// The group part of `group:value`.
fn group_of(name: &str) -> Option<&str> {
    name.split_once(':').map(|(g, _)| g)
}

/// What an operation's events must do to its before-snapshot.
struct Expect<'a> {
    /// The groups whose values are reported as segment moves (applied plans') or stage
    /// changes (`stage`), not as tag events.
    owned: &'a BTreeSet<String>,
    /// A customer removal: it leaves every tag it carried, owned groups' values included.
    removal: bool,
}

/// Replays `events` on `before` and checks the result is `after`, and that each event is
/// exact: a non-empty audience, at most one `TagAdded` and one `TagRemoved` per tag, added
/// customers new to the tag, removed ones leaving it, segment and stage moves from where the
/// customers were to where they are.
fn replay(before: &Members, after: &Members, events: &[Change], x: &Expect<'_>) -> TestResult {
    let mut state = before.clone();
    let (mut added, mut removed) = (Members::new(), Members::new());
    let mut moves: BTreeSet<(String, Option<String>, Option<String>)> = BTreeSet::new();
    let mut stages: BTreeSet<(Option<Stage>, Stage)> = BTreeSet::new();
    for ch in events {
        prop_assert!(!ch.event.audience().is_empty(), "an event naming nobody: {:?}", ch);
        let owned = |tag: &str| group_of(tag).is_some_and(|g| x.owned.contains(g));
        match &ch.event {
            ChangeEvent::TagAdded { tag, audience } => {
                prop_assert!(!owned(tag), "a tag event for a plan's or a stage value: {:?}", ch);
                prop_assert!(added.insert(tag.clone(), set(audience)).is_none(), "two TagAdded for {}", tag);
            }
            ChangeEvent::TagRemoved { tag, audience } => {
                prop_assert!(x.removal || !owned(tag), "a tag event for a plan's or a stage value: {:?}", ch);
                prop_assert!(removed.insert(tag.clone(), set(audience)).is_none(), "two TagRemoved for {}", tag);
            }
            ChangeEvent::SegmentMoved { group, from, to, audience } => {
                prop_assert!(x.owned.contains(group), "a segment move of no plan: {:?}", ch);
                prop_assert!(moves.insert((group.clone(), from.clone(), to.clone())), "two moves {:?}", ch);
                let tag = |v: &Option<String>| v.as_ref().map(|v| format!("{group}:{v}"));
                shift(&mut state, tag(from), tag(to), audience)?;
            }
            ChangeEvent::StageChanged { from, to, audience } => {
                prop_assert!(stages.insert((*from, *to)), "two stage changes {:?}", ch);
                let tag = |s: Option<Stage>| s.map(|s| format!("stage:{}", s.as_str()));
                shift(&mut state, tag(*from), tag(Some(*to)), audience)?;
            }
            other => prop_assert!(false, "a new event {:?}", other),
        }
    }
    let empty = BTreeSet::new();
    for (tag, who) in &removed {
        let had = before.get(tag).unwrap_or(&empty);
        prop_assert!(who.is_subset(had), "{} removed from customers not carrying it: {:?}", tag, who);
        prop_assert!(added.get(tag).is_none_or(|a| a.is_disjoint(who)), "{} both added and removed", tag);
        let s = state.entry(tag.clone()).or_default();
        s.retain(|c| !who.contains(c));
    }
    for (tag, who) in &added {
        let had = before.get(tag).unwrap_or(&empty);
        prop_assert!(who.is_disjoint(had), "{} added to customers carrying it: {:?}", tag, who);
        state.entry(tag.clone()).or_default().extend(who);
    }
    state.retain(|_, s| !s.is_empty());
    prop_assert_eq!(&state, after, "the events replayed on the snapshot before");
    Ok(())
}

/// Moves `who` from tag `from` (they must carry it) to tag `to` (they must not).
fn shift(state: &mut Members, from: Option<String>, to: Option<String>, who: &Audience) -> TestResult {
    for c in who.iter() {
        if let Some(f) = &from {
            prop_assert!(
                state.get_mut(f).is_some_and(|s| s.remove(&c.0)),
                "customer {} moved from {} it was not in",
                c,
                f
            );
        }
        if let Some(t) = &to {
            prop_assert!(state.entry(t.clone()).or_default().insert(c.0), "customer {} moved to {} it was in", c, t);
        }
    }
    Ok(())
}

/// The groups reported as moves: applied plans' and `stage`.
fn owned(e: &Engine) -> BTreeSet<String> {
    e.applied_plans().map(|(g, _)| g.to_owned()).chain(["stage".to_owned()]).collect()
}

/// Checks one operation: runs it, drains the feed, and checks the events, which it returns.
/// `run` returns whether the operation removes customers, and the rename it made, if any.
fn observe(
    e: &mut Engine,
    run: impl FnOnce(&mut Engine) -> Result<Effect, Error>,
) -> Result<Vec<Change>, TestCaseError> {
    let (before, seq, on, owned_before) = (membership(e), e.last_change_seq(), e.tracks_changes(), owned(e));
    let result = run(e);
    let events = e.changes();
    let after = membership(e);
    for (i, ch) in events.iter().enumerate() {
        prop_assert_eq!(ch.seq, seq + 1 + i as u64, "sequence numbers follow one another");
    }
    prop_assert_eq!(e.last_change_seq(), seq + events.len() as u64);
    prop_assert!(e.changes().is_empty(), "drained");
    if !on {
        prop_assert!(events.is_empty(), "the feed is off: {:?}", events);
        return Ok(events);
    }
    let effect = match result {
        Ok(effect) => effect,
        Err(err) => {
            prop_assert!(events.is_empty(), "refused ({}) but recorded {:?}", err, events);
            prop_assert_eq!(before, after, "refused ({}) but changed", err);
            return Ok(events);
        }
    };
    let mut before = before;
    if let Some((old, new)) = effect.renamed {
        // A rename records nothing: the customers keep the tag under its new name.
        before = before
            .into_iter()
            .map(|(t, who)| if in_subtree(&t, &old) { (format!("{new}{}", &t[old.len()..]), who) } else { (t, who) })
            .collect();
    }
    let owned_now: BTreeSet<String> = owned_before.union(&owned(e)).cloned().collect();
    replay(&before, &after, &events, &Expect { owned: &owned_now, removal: effect.removal })?;
    Ok(events)
}

/// What an operation did that the replay must know.
#[derive(Default)]
struct Effect {
    removal: bool,
    renamed: Option<(String, String)>,
}

fn ok<T>(r: Result<T, Error>) -> Result<Effect, Error> {
    r.map(|_| Effect::default())
}

// ------------------------------------------------------------------ random operations

const TAGS: [&str; 8] =
    ["vip", "new", "高消费", "sports/run", "sports/golf", "tier:gold", "tier:silver", "tier:bronze"];
const RULES: [&str; 3] = ["r0", "aud/x", "高价值"];
const QUERIES: [&str; 6] = ["vip AND NOT new", "r0 OR 高消费", "sports OR tier:gold", "camp:hi OR new", "NOT vip", "*"];
/// Renames: `vip` -> `tier:vip` joins the exclusive group once it is declared.
const RENAMES: [(&str, &str); 5] =
    [("new", "新"), ("新", "new"), ("sports", "sport"), ("sport", "sports"), ("vip", "tier:vip")];
const CUSTOMERS: u32 = 30;

/// Versions of the plan applied as `camp`: values come and go (a value a version drops
/// stays as an empty tag, its customers moving to the new version's segments).
fn plan(version: usize) -> SegmentPlan {
    let rules: &[(&str, &str)] = match version {
        0 => &[("hi", "vip"), ("mid", "sports")],
        1 => &[("hi", "高消费 AND NOT new"), ("r", "r0")],
        2 => &[("top", "tier:gold OR aud")],
        _ => &[("hi", "aud/x OR r0")],
    };
    SegmentPlan::new(rules.iter().copied(), "rest").unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Tag(Pick, usize),
    Untag(Pick, usize),
    /// Customers `id` whose bit `id % 64` is set (removed ones included).
    TagAll(u64, usize),
    UntagAll(u64, usize),
    Pairs(Vec<(Pick, usize)>),
    DefineGroup,
    /// A tag of `TAGS`, a rule tag, or a plan's value.
    Delete(usize),
    Remove(Pick),
    RemoveMany(u64),
    Add,
    Rename(usize),
    Define(usize, usize),
    Refresh,
    Apply(usize),
    Track(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let tag = 0..TAGS.len();
    prop_oneof![
        8 => (pick(), tag.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        3 => (pick(), tag.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        2 => (any::<u64>(), tag.clone()).prop_map(|(m, t)| Op::TagAll(m, t)),
        2 => (any::<u64>(), tag.clone()).prop_map(|(m, t)| Op::UntagAll(m, t)),
        3 => prop::collection::vec((pick(), tag), 0..12).prop_map(Op::Pairs),
        1 => Just(Op::DefineGroup),
        1 => (0..TAGS.len() + RULES.len() + 1).prop_map(Op::Delete),
        1 => pick().prop_map(Op::Remove),
        1 => any::<u64>().prop_map(|m| Op::RemoveMany(m & 0x0101_0101)),
        1 => Just(Op::Add),
        1 => (0..RENAMES.len()).prop_map(Op::Rename),
        3 => (0..RULES.len(), 0..QUERIES.len()).prop_map(|(r, q)| Op::Define(r, q)),
        2 => Just(Op::Refresh),
        2 => (0..4usize).prop_map(Op::Apply),
        1 => any::<bool>().prop_map(Op::Track),
    ]
}

fn audience_of(e: &Engine, mask: u64) -> Audience {
    let top = e.customers().last().map_or(0, |c| c.0 + 2);
    (0..top).filter(|c| mask >> (c % 64) & 1 == 1).map(CustomerId).collect()
}

fn run(e: &mut Engine, op: &Op) -> TestResult {
    let live = e.customers().to_ids();
    let who = |p: &Pick| p.of(&live).map(CustomerId);
    let events = match op {
        Op::Tag(c, t) | Op::Untag(c, t) => {
            let Some(c) = who(c) else { return Ok(()) };
            let tag = matches!(op, Op::Tag(..));
            observe(e, |e| ok(if tag { e.tag(c, TAGS[*t]) } else { e.untag(c, TAGS[*t]) }))
        }
        Op::TagAll(m, t) => observe(e, |e| ok(e.tag_all(&audience_of(e, *m), TAGS[*t]))),
        Op::UntagAll(m, t) => observe(e, |e| ok(e.untag_all(&audience_of(e, *m), TAGS[*t]))),
        Op::Pairs(pairs) => {
            let pairs: Vec<(CustomerId, &str)> = pairs.iter().filter_map(|(c, t)| Some((who(c)?, TAGS[*t]))).collect();
            observe(e, |e| ok(e.tag_pairs(pairs)))
        }
        Op::DefineGroup => observe(e, |e| ok(e.define_exclusive_group("tier"))),
        Op::Delete(i) => {
            let name = TAGS.iter().chain(&RULES).chain(&["camp:hi"]).nth(*i).unwrap();
            observe(e, |e| ok(e.delete_tag(name)))
        }
        Op::Remove(c) => {
            let Some(c) = who(c) else { return Ok(()) };
            observe(e, |e| e.remove_customer(c).map(|_| Effect { removal: true, ..Effect::default() }))
        }
        Op::RemoveMany(m) => observe(e, |e| {
            e.remove_customers(&audience_of(e, *m)).map(|_| Effect { removal: true, ..Effect::default() })
        }),
        Op::Add => observe(e, |e| ok(e.customer(&format!("k{}", e.customers().last().map_or(0, |c| c.0 + 1))))),
        Op::Rename(i) => {
            let (old, new) = RENAMES[*i];
            let renamed = Some((old.to_owned(), new.to_owned()));
            observe(e, |e| e.rename_tag(old, new).map(|_| Effect { renamed, ..Effect::default() }))
        }
        Op::Define(r, q) => observe(e, |e| ok(e.define_rule_tag(RULES[*r], QUERIES[*q]))),
        Op::Refresh => observe(e, |e| ok(e.refresh_rules())),
        Op::Apply(v) => observe(e, |e| ok(e.apply_plan("camp", &plan(*v)))),
        Op::Track(on) => observe(e, |e| {
            e.track_changes(*on);
            Ok(Effect::default())
        }),
    };
    events.map(drop)
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn events_replayed_give_the_next_snapshot(ops in prop::collection::vec(op(), 1..40)) {
        let mut e = Engine::new();
        for c in 0..CUSTOMERS {
            e.customer(&format!("c{c}")).unwrap();
        }
        for t in TAGS {
            e.ensure_tag(t).unwrap();
        }
        e.track_changes(true);
        for op in &ops {
            run(&mut e, op)?;
        }
    }
}

// ------------------------------------------------------------------ a refresh

/// A segment move as plain data: group, from, to, customers.
type Move = (String, Option<String>, Option<String>, Vec<u32>);

/// A refresh, checked as any operation, and its events against its report: the stage
/// changes are its transitions (in order), the segment moves its plans' moves, the rule
/// tags' events its rule updates.
fn refresh_checked(e: &mut Engine, day: audience::Day) -> TestResult {
    let mut report = None;
    let events = observe(e, |e| {
        report = Some(e.refresh(day)?);
        Ok(Effect::default())
    })?;
    let report = report.expect("the refresh succeeded");
    let stages: Vec<(Option<Stage>, Stage, Vec<u32>)> = events
        .iter()
        .filter_map(|c| match &c.event {
            ChangeEvent::StageChanged { from, to, audience } => Some((*from, *to, audience.to_ids())),
            _ => None,
        })
        .collect();
    prop_assert_eq!(stages, common::observe::transitions(&report));
    let moves: Vec<Move> = events
        .iter()
        .filter_map(|c| match &c.event {
            ChangeEvent::SegmentMoved { group, from, to, audience } => {
                Some((group.clone(), from.clone(), to.clone(), audience.to_ids()))
            }
            _ => None,
        })
        .collect();
    let want: Vec<Move> = report
        .plans
        .iter()
        .flat_map(|(g, d)| {
            d.moves().iter().map(move |m| (g.clone(), m.from.clone(), m.to.clone(), m.audience.to_ids()))
        })
        .collect();
    prop_assert_eq!(moves, want);
    let rule_names: BTreeSet<String> = e.rule_tags().map(|(n, _)| n.to_owned()).collect();
    let got: BTreeSet<(bool, String, Vec<u32>)> = events
        .iter()
        .filter_map(|c| match &c.event {
            ChangeEvent::TagAdded { tag, audience } if rule_names.contains(tag) => {
                Some((true, tag.clone(), audience.to_ids()))
            }
            ChangeEvent::TagRemoved { tag, audience } if rule_names.contains(tag) => {
                Some((false, tag.clone(), audience.to_ids()))
            }
            _ => None,
        })
        .collect();
    let want: BTreeSet<(bool, String, Vec<u32>)> = report
        .rules
        .iter()
        .flat_map(|u| [(true, u.name.clone(), u.added.to_ids()), (false, u.name.clone(), u.removed.to_ids())])
        .filter(|(_, _, who)| !who.is_empty())
        .collect();
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn a_refresh_records_what_it_reports(
        first in prop::collection::vec((0..12usize, 0..400i32, 1i64..=500), 0..40),
        later in prop::collection::vec((0..12usize, 0..150i32, -50i64..=500), 0..20),
        gap in 1..=150i32,
        vips in prop::collection::vec(0..12usize, 0..6),
        gone in prop::collection::vec(0..12usize, 0..3),
        back in any::<bool>(),
        windows in any::<bool>(),
    ) {
        let (mut e, cs) = common::keyed_engine(12);
        let d1 = date("2024-06-30");
        for &(c, ago, amount) in &first {
            e.record_purchase(cs[c], plus(d1, -ago), money(amount * 100)).unwrap();
        }
        for &c in &vips {
            e.tag(cs[c], "vip").unwrap();
        }
        e.track_changes(true);
        refresh_checked(&mut e, d1)?;
        // Saved queries reading the stage and score tags, computed again by each refresh.
        let lc = SegmentPlan::new([("active", "stage:active OR stage:new"), ("risk", "stage:at_risk OR stage:churned")], "rest").unwrap();
        observe(&mut e, |e| ok(e.apply_plan("lc", &lc)))?;
        observe(&mut e, |e| ok(e.define_rule_tag("loyal", "r:5 OR f:5")))?;
        observe(&mut e, |e| ok(e.define_rule_tag("risky_vip", "lc:risk AND vip")))?;
        for &c in &gone {
            if e.is_customer(cs[c]) {
                observe(&mut e, |e| e.remove_customer(cs[c]).map(|_| Effect { removal: true, ..Effect::default() }))?;
            }
        }
        if back {
            // Removed customers registered anew: from no stage at the next refresh.
            for &c in &gone {
                if !e.is_customer(cs[c]) {
                    observe(&mut e, |e| ok(e.customer_id(cs[c])))?;
                }
            }
        }
        if windows {
            e.set_lifecycle(audience::Lifecycle::new(14, 45, 90).unwrap());
        }
        let d2 = plus(d1, gap);
        for &(c, after, amount) in &later {
            if e.is_customer(cs[c]) {
                e.record_purchase(cs[c], plus(d1, 1 + after % gap), money(amount * 100)).unwrap();
            }
        }
        refresh_checked(&mut e, d2)?;
        // The same day again: nothing moves, nothing is recorded.
        let events = observe(&mut e, |e| ok(e.refresh(d2)))?;
        prop_assert!(events.is_empty(), "{:?}", events);
    }
}

// ------------------------------------------------------------------ edges, one by one

/// The drained events, readable: `+tag`, `-tag`, `group: from > to`, `stage: from > to`, each
/// with its customers.
fn drained(e: &mut Engine) -> Vec<(String, Vec<u32>)> {
    let name = |v: Option<&str>| v.unwrap_or("-").to_owned();
    e.changes()
        .into_iter()
        .map(|c| {
            let what = match &c.event {
                ChangeEvent::TagAdded { tag, .. } => format!("+{tag}"),
                ChangeEvent::TagRemoved { tag, .. } => format!("-{tag}"),
                ChangeEvent::SegmentMoved { group, from, to, .. } => {
                    format!("{group}: {} > {}", name(from.as_deref()), name(to.as_deref()))
                }
                ChangeEvent::StageChanged { from, to, .. } => {
                    format!("stage: {} > {}", name(from.map(Stage::as_str)), to.as_str())
                }
                other => format!("{other:?}"),
            };
            (what, c.event.audience().to_ids())
        })
        .collect()
}

fn ev(what: &str, who: &[u32]) -> (String, Vec<u32>) {
    (what.to_owned(), who.to_vec())
}

#[test]
fn sequence_numbers_follow_one_another_across_drains_and_toggles() {
    let (mut e, c) = common::keyed_engine(3);
    assert!(!e.tracks_changes(), "off by default");
    e.tag(c[0], "vip").unwrap();
    assert_eq!((e.changes(), e.last_change_seq()), (vec![], 0), "off records nothing");
    e.track_changes(true);
    assert!(e.tracks_changes());
    e.tag(c[1], "vip").unwrap();
    e.tag(c[2], "vip").unwrap();
    assert_eq!(e.last_change_seq(), 2);
    assert_eq!(e.changes().iter().map(|ch| ch.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(e.changes().is_empty(), "drained");
    e.tag(c[0], "new").unwrap();
    e.track_changes(false);
    e.tag(c[1], "new").unwrap();
    // Turning the feed off keeps what was not drained, and records nothing more.
    assert_eq!(e.changes().iter().map(|ch| ch.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(e.last_change_seq(), 3);
    e.track_changes(true);
    e.untag(c[1], "new").unwrap();
    let changes = e.changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].seq, 4);
    assert_eq!(changes[0].event, ChangeEvent::TagRemoved { tag: "new".into(), audience: [c[1]].into_iter().collect() });
}

#[test]
fn what_each_tag_operation_records() {
    let (mut e, c) = common::keyed_engine(4);
    let all = |e: &Engine| e.customers();
    e.tag(c[0], "vip").unwrap();
    e.track_changes(true);
    // Exactly the tag itself, not its ancestors; nothing for what changes nothing.
    e.tag(c[0], "sports/running").unwrap();
    e.tag(c[0], "sports/running").unwrap();
    e.untag(c[1], "vip").unwrap();
    assert_eq!(drained(&mut e), [ev("+sports/running", &[0])]);
    assert_eq!(e.tag_all(&all(&e), "vip").unwrap(), 3);
    e.tag_all(&all(&e), "vip").unwrap();
    assert_eq!(drained(&mut e), [ev("+vip", &[1, 2, 3])]);
    e.untag_all(&[c[0], c[1]].into_iter().collect(), "vip").unwrap();
    assert_eq!(drained(&mut e), [ev("-vip", &[0, 1])]);
    // Bulk loads: one event per tag.
    e.tag_pairs([(c[1], "高消费"), (c[2], "高消费"), (c[1], "new"), (c[3], "vip")]).unwrap();
    let mut got = drained(&mut e);
    got.sort();
    assert_eq!(got, [ev("+new", &[1]), ev("+高消费", &[1, 2])]);
    // Exclusive values: leaving the old value, joining the new.
    e.define_exclusive_group("tier").unwrap();
    e.tag(c[0], "tier:gold").unwrap();
    e.tag(c[0], "tier:silver").unwrap();
    assert_eq!(drained(&mut e), [ev("+tier:gold", &[0]), ev("-tier:gold", &[0]), ev("+tier:silver", &[0])]);
    e.tag_all(&all(&e), "tier:gold").unwrap();
    let mut got = drained(&mut e);
    got.sort();
    assert_eq!(got, [ev("+tier:gold", &[0, 1, 2, 3]), ev("-tier:silver", &[0])]);
    // A rename records nothing; a deletion records the members leaving.
    e.rename_tag("高消费", "big spender").unwrap();
    assert_eq!(drained(&mut e), []);
    assert_eq!(e.delete_tag("big spender").unwrap(), 2);
    assert_eq!(drained(&mut e), [ev("-big spender", &[1, 2])]);
    // A removal records the customer leaving every tag it carried.
    e.remove_customer(c[0]).unwrap();
    let mut got = drained(&mut e);
    got.sort();
    assert_eq!(got, [ev("-sports/running", &[0]), ev("-tier:gold", &[0])]);
    e.remove_customers(&[c[1], c[3]].into_iter().collect()).unwrap();
    let mut got = drained(&mut e);
    got.sort();
    assert_eq!(got, [ev("-new", &[1]), ev("-tier:gold", &[1, 3]), ev("-vip", &[3])]);
}

#[test]
fn refused_operations_record_nothing() {
    let (mut e, c) = common::keyed_engine(2);
    e.tag(c[0], "vip").unwrap();
    e.define_rule_tag("vips", "vip").unwrap();
    e.tag(c[0], "tier:gold").unwrap();
    e.tag(c[0], "tier:silver").unwrap();
    e.track_changes(true);
    assert!(e.tag_pairs([(c[1], "vip"), (c[1], "a//b")]).is_err());
    assert!(e.tag_pairs([(c[1], "vip"), (c[1], "vips")]).is_err());
    assert!(e.define_rule_tag("vips", "vips OR vip").is_err());
    assert!(e.delete_tag("vip").is_err());
    assert!(e.define_exclusive_group("tier").is_err());
    assert!(e.apply_plan("tier", &SegmentPlan::new([("x", "vip")], "rest").unwrap()).is_err());
    assert!(e.rename_tag("tier:gold", "tier:silver").is_err());
    assert_eq!((drained(&mut e), e.last_change_seq()), (vec![], 0));
}

#[test]
fn rule_tags_record_tag_events_and_plans_segment_moves() {
    let (mut e, c) = common::keyed_engine(3);
    e.tag(c[0], "vip").unwrap();
    e.tag(c[1], "高消费").unwrap();
    e.track_changes(true);
    e.define_rule_tag("规则", "vip OR 高消费").unwrap();
    assert_eq!(drained(&mut e), [ev("+规则", &[0, 1])]);
    let v1 = SegmentPlan::new([("hi", "vip"), ("mid", "规则")], "rest").unwrap();
    e.apply_plan("camp", &v1).unwrap();
    assert_eq!(drained(&mut e), [ev("camp: - > hi", &[0]), ev("camp: - > mid", &[1]), ev("camp: - > rest", &[2])]);
    assert!(e.apply_plan("camp", &v1).unwrap().is_empty());
    e.define_rule_tag("in_hi", "camp:hi").unwrap();
    assert_eq!(drained(&mut e), [ev("+in_hi", &[0])]);
    // Rule tags compute when refreshed; the plan and the rule reading it follow, in order.
    e.untag(c[0], "vip").unwrap();
    e.tag(c[2], "vip").unwrap();
    assert_eq!(drained(&mut e), [ev("-vip", &[0]), ev("+vip", &[2])]);
    e.refresh_rules().unwrap();
    assert_eq!(
        drained(&mut e),
        [
            ev("-规则", &[0]),
            ev("+规则", &[2]),
            ev("camp: hi > rest", &[0]),
            ev("camp: rest > hi", &[2]),
            ev("-in_hi", &[0]),
            ev("+in_hi", &[2])
        ]
    );
    // A new version without `mid`: its customers move to the new segments.
    e.apply_plan("camp", &SegmentPlan::new([("hi", "vip")], "rest").unwrap()).unwrap();
    assert_eq!(drained(&mut e), [ev("camp: mid > rest", &[1])]);
    // Deleting a rule tag records its members leaving.
    e.delete_tag("in_hi").unwrap();
    assert_eq!(drained(&mut e), [ev("-in_hi", &[2])]);
}

/// Removing a customer records it leaving every tag it carried, an applied plan's value and
/// its `stage:` tag included: as tag events (a plan's diff leaves removed customers out, so
/// no segment move reports them).
#[test]
fn a_removal_leaves_plan_and_stage_values_as_tag_events() {
    let (mut e, c) = common::keyed_engine(2);
    e.record_purchase(c[0], date("2024-06-01"), money(1_000)).unwrap();
    e.refresh(date("2024-06-30")).unwrap();
    e.apply_plan("lc", &SegmentPlan::new([("buyers", "stage:new")], "rest").unwrap()).unwrap();
    e.track_changes(true);
    e.remove_customer(c[0]).unwrap();
    let got: Vec<String> = drained(&mut e).into_iter().map(|(w, _)| w).collect();
    assert!(got.contains(&"-lc:buyers".to_owned()) && got.contains(&"-stage:new".to_owned()), "{got:?}");
    let report = e.refresh(date("2024-07-30")).unwrap();
    assert!(report.plans.iter().all(|(_, d)| d.is_empty()), "{report:?}");
    assert!(!drained(&mut e).iter().any(|(w, _)| w.starts_with("lc:")));
}

#[test]
fn a_refresh_records_stage_changes_and_score_tags() {
    let (mut e, c) = common::keyed_engine(3);
    e.record_purchase(c[0], date("2024-06-01"), money(5_000)).unwrap();
    e.record_purchase(c[1], date("2024-01-10"), money(2_000)).unwrap();
    e.track_changes(true);
    let report = e.refresh(date("2024-06-30")).unwrap();
    let events = drained(&mut e);
    let stages: Vec<&(String, Vec<u32>)> = events.iter().filter(|(w, _)| w.starts_with("stage:")).collect();
    assert_eq!(stages.len(), report.transitions.len());
    assert!(stages.contains(&&ev("stage: - > prospect", &[2])), "{events:?}");
    assert!(!events.iter().any(|(w, _)| w.starts_with("+stage:") || w.starts_with("-stage:")), "{events:?}");
    assert!(events.iter().any(|(w, _)| w.starts_with("+r:")) && events.iter().any(|(w, _)| w.starts_with("+rfm:")));
    // Three months on: c0 is at risk.
    e.refresh(date("2024-09-28")).unwrap();
    let events = drained(&mut e);
    assert!(events.contains(&ev("stage: new > at_risk", &[0])), "{events:?}");
}

#[test]
fn tag_pairs_giving_a_customer_the_value_it_has_records_nothing() {
    let (mut e, c) = common::keyed_engine(2);
    e.define_exclusive_group("tier").unwrap();
    e.tag(c[0], "tier:gold").unwrap();
    e.track_changes(true);
    assert_eq!(e.tag_pairs([(c[0], "tier:gold")]).unwrap(), 0);
    // Got: [-tier:gold [0], +tier:gold [0]]: the customer never left the tag.
    assert_eq!(drained(&mut e), []);
    e.tag_pairs([(c[0], "tier:silver"), (c[0], "tier:gold"), (c[1], "tier:gold")]).unwrap();
    assert_eq!(drained(&mut e), [ev("+tier:gold", &[1])]);
    let gold = e.tag_id("tier:gold").unwrap();
    e.tag_id_pairs([(c[0], gold), (c[1], gold)]).unwrap();
    assert_eq!(drained(&mut e), []);
}

#[test]
fn a_new_segment_grid_records_only_the_customers_who_change_segment() {
    let (mut e, c) = common::keyed_engine(5);
    let grid = |best: std::ops::RangeInclusive<u8>, below: std::ops::RangeInclusive<u8>| {
        RfmGrid::new([
            ("best", best.clone(), best),
            ("rest", 1..=*below.end(), 1..=5),
            ("rest", *below.end() + 1..=5, below),
        ])
        .unwrap()
    };
    e.set_rfm_model(RfmModel::quantiles().with_segments(grid(4..=5, 1..=3)));
    let d = date("2024-06-30");
    for (i, &x) in c.iter().enumerate() {
        for _ in 0..=i {
            e.record_purchase(x, plus(d, -(10 - i as i32)), money(100)).unwrap();
        }
    }
    e.refresh(d).unwrap();
    assert_eq!(e.query("rfm:best").unwrap().to_ids(), [3, 4]);
    e.set_rfm_model(RfmModel::quantiles().with_segments(grid(5..=5, 1..=4)));
    e.track_changes(true);
    e.refresh(d).unwrap();
    assert_eq!(e.query("rfm:best").unwrap().to_ids(), [4]);
    // Only c3 changed segment. Got: -rfm:best [3, 4], -rfm:rest [0, 1, 2], +rfm:best [4],
    // +rfm:rest [0, 1, 2, 3].
    let mut got = drained(&mut e);
    got.sort();
    assert_eq!(got, [ev("+rfm:rest", &[3]), ev("-rfm:best", &[3])]);
}
