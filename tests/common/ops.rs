//! Random operations over every layer of an engine, and observing all of it: shared by the
//! tests that check an engine against itself after a detour (a snapshot round trip, a view
//! taken with `Engine::reader` while the writer goes on).
//!
//! [`op`] draws one operation: keys, dense ids, removals, merges, the tag pool with an
//! exclusive group, a hierarchy, aliases and expiring tags, attributes, purchases merged and
//! pending, refreshes, segment plans and rule tags, the change feed. [`apply`] runs it,
//! ignoring refusals; [`observe`] prints everything a caller can read.

use audience::{Audience, CustomerId, Day, Engine, Money, SegmentPlan};
use proptest::prelude::*;

use super::observe::{Snapshot, snapshot};

pub const TAGS: [&str; 8] = ["vip", "高消费", "sports/run", "sports/bike", "tier:gold", "tier:silver", "coupon", "new"];

#[derive(Clone, Debug)]
pub enum Op {
    Key(u8),
    Id(u32),
    Remove(u8),
    Merge(u8, u8),
    Tag(u8, usize),
    Untag(u8, usize),
    TagAll(u32, usize),
    TagUntil(u8, usize, i32),
    Alias(usize),
    Attr(u8, usize, i64),
    Purchase(u8, i32, i64),
    Refresh(i32),
    Plan,
    RuleTag,
    Feed(bool),
    Drain,
    Expire(i32),
    DeleteTag(usize),
}

pub fn op() -> impl Strategy<Value = Op> {
    let c = any::<u8>();
    let t = 0..TAGS.len();
    prop_oneof![
        3 => c.prop_map(Op::Key),
        1 => (0..300u32).prop_map(Op::Id),
        1 => c.prop_map(Op::Remove),
        1 => (c, c).prop_map(|(a, b)| Op::Merge(a, b)),
        4 => (c, t.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        1 => (c, t.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        1 => (1..7u32, t.clone()).prop_map(|(s, t)| Op::TagAll(s, t)),
        1 => (c, t.clone(), 0..60i32).prop_map(|(c, t, d)| Op::TagUntil(c, t, d)),
        1 => t.clone().prop_map(Op::Alias),
        2 => (c, 0..3usize, any::<i64>()).prop_map(|(c, a, v)| Op::Attr(c, a, v)),
        3 => (c, 0..400i32, -5_000..100_000i64).prop_map(|(c, d, m)| Op::Purchase(c, d, m)),
        1 => (100..500i32).prop_map(Op::Refresh),
        1 => Just(Op::Plan),
        1 => Just(Op::RuleTag),
        1 => any::<bool>().prop_map(Op::Feed),
        1 => Just(Op::Drain),
        1 => (0..60i32).prop_map(Op::Expire),
        1 => t.prop_map(Op::DeleteTag),
    ]
}

pub fn day(n: i32) -> Day {
    Day::from_days_since_epoch(19_000 + n).expect("a day")
}

/// The `n`th live customer (wrapping), if any.
pub fn nth(e: &Engine, n: u8) -> Option<CustomerId> {
    let live = e.customers();
    let len = live.len();
    (len > 0).then(|| live.iter().nth(usize::from(n) % len as usize)).flatten()
}

pub fn plan() -> SegmentPlan {
    SegmentPlan::new([("big", "vip AND 高消费"), ("sporty", "sports"), ("gold", "tier:gold")], "rest").expect("a plan")
}

/// Applies `op`, ignoring refusals (they are other tests' business).
pub fn apply(e: &mut Engine, op: &Op) {
    let _ = match *op {
        Op::Key(k) => e.customer(&format!("c{k}@example.com")).map(drop),
        Op::Id(id) => e.customer_id(id).map(drop),
        Op::Remove(n) => nth(e, n).map_or(Ok(()), |c| e.remove_customer(c)),
        Op::Merge(a, b) => match (nth(e, a), nth(e, b)) {
            (Some(a), Some(b)) => e.merge_customers(a, b).map(drop),
            _ => Ok(()),
        },
        Op::Tag(n, t) => nth(e, n).map_or(Ok(()), |c| e.tag(c, TAGS[t]).map(drop)),
        Op::Untag(n, t) => nth(e, n).map_or(Ok(()), |c| e.untag(c, TAGS[t]).map(drop)),
        Op::TagAll(step, t) => {
            let a: Audience = e.customers().iter().step_by(step as usize).collect();
            e.tag_all(&a, TAGS[t]).map(drop)
        }
        Op::TagUntil(n, t, d) => nth(e, n).map_or(Ok(()), |c| e.tag_until(c, TAGS[t], day(d)).map(drop)),
        Op::Alias(t) => e.alias_tag(&format!("alias-{t}"), TAGS[t]).map(drop),
        Op::Attr(n, a, v) => nth(e, n).map_or(Ok(()), |c| e.set_attr(c, ["age", "balance", "积分"][a], v).map(drop)),
        Op::Purchase(n, d, m) => {
            nth(e, n).map_or(Ok(()), |c| Money::from_minor(m).and_then(|m| e.record_purchase(c, day(d), m)))
        }
        Op::Refresh(d) => e.refresh(day(d)).map(drop),
        Op::Plan => e.apply_plan("segment", &plan()).map(drop),
        Op::RuleTag => e.define_rule_tag("rule:sporty_vip", "vip AND sports").map(drop),
        Op::Feed(on) => {
            e.track_changes(on);
            Ok(())
        }
        Op::Drain => {
            e.changes();
            Ok(())
        }
        Op::Expire(d) => {
            e.expire(day(d));
            Ok(())
        }
        Op::DeleteTag(t) => e.delete_tag(TAGS[t]).map(drop),
    };
}

/// Everything observable, including what `snapshot` leaves out: profiles, aliases, key
/// aliases, expiry days, plans, rule tags, the feed.
pub fn observe(e: &Engine) -> String {
    observe_with(e, snapshot(e))
}

/// [`observe`] with the engine's snapshot `s` as the caller took it (a test may set a
/// figure aside).
pub fn observe_with(e: &Engine, s: Snapshot) -> String {
    let mut out = format!("{s:?}\n");
    for c in e.customers().iter() {
        let p = e.profile(c).expect("live");
        out += &serde_json::to_string(&p).expect("json");
        out += &format!("{:?}\n", e.key_aliases(c).expect("live"));
        for t in TAGS {
            out += &format!("{:?}", e.expiry_of(c, t).ok());
        }
    }
    out += &format!("{:?}\n", e.aliases().collect::<Vec<_>>());
    out += &format!("{:?}\n", e.applied_plans().map(|(g, p)| (g.to_owned(), p.clone())).collect::<Vec<_>>());
    out += &format!("{:?}\n", e.rule_tags().map(|(t, q)| (t.to_owned(), q.to_string())).collect::<Vec<_>>());
    out += &format!("{} {}\n", e.tracks_changes(), e.last_change_seq());
    out
}
