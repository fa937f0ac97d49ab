//! Expiring tags: `tag_until` and `tag_all_until` against a naive model of assignments
//! (`(customer, tag) -> Option<day>`, `None` for permanent) under random operations, with
//! every tag's members, every `expiry_of` and every `expire` count compared after each step;
//! then the edges: the first and last representable days, Unicode names, hierarchy unions,
//! `refresh` expiring first, exclusive groups, renames, derived layers' writes.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::chrono::NaiveDate;
use audience::{Audience, CustomerId, Day, Engine, Error, Money, Query, SegmentPlan};
use common::model::{Errs, err, same};
use common::{TestResult, config, day};
use proptest::prelude::*;

// ------------------------------------------------------------------ the model

/// Customer ids: a few in the first 2^16 block, two in others.
const IDS: [u32; 8] = [0, 1, 2, 3, 4, 5, 65_536, 200_000];

/// Tag names: a hierarchy, an exclusive group (`tier`, declared up front), Unicode, and a
/// pair a rename swaps between.
const NAMES: [&str; 9] =
    ["vip", "sports", "sports/running", "tier:gold", "tier:silver", "高消费", "trial", "promo", "sports/golf"];

/// Assignments as the contract states them, name by name.
#[derive(Clone, Debug, Default)]
struct Model {
    live: BTreeSet<u32>,
    pool: BTreeSet<String>,
    /// `(customer, tag) -> None` (permanent) or `Some(day)` (removed by an expiry as of
    /// `day` or later).
    carried: BTreeMap<(u32, String), Option<i32>>,
}

type Out<T> = std::result::Result<T, Errs>;

fn parent(name: &str) -> Option<&str> {
    name.rfind('/').map(|i| &name[..i])
}

fn group(name: &str) -> Option<&str> {
    name.split_once(':').map(|(g, _)| g)
}

impl Model {
    fn new() -> Model {
        Model { live: IDS.into_iter().collect(), ..Model::default() }
    }

    fn live(&self, c: u32) -> Out<()> {
        if self.live.contains(&c) { Ok(()) } else { err("UnknownCustomer") }
    }

    fn known(&self, t: &str) -> Out<()> {
        if self.pool.contains(t) { Ok(()) } else { err("UnknownTag") }
    }

    fn create(&mut self, t: &str) {
        let mut cur = Some(t);
        while let Some(n) = cur {
            self.pool.insert(n.to_owned());
            cur = parent(n);
        }
    }

    /// `c` joins `t` (its other value of `t`'s group leaves); `day` as `tag_until` sets it
    /// (`None`: a plain tag, permanent). Whether it is new.
    fn assign(&mut self, c: u32, t: &str, day: Option<i32>) -> bool {
        if let Some(g) = group(t) {
            self.carried.retain(|(cc, tt), _| *cc != c || tt == t || group(tt) != Some(g));
        }
        match (self.carried.get_mut(&(c, t.to_owned())), day) {
            (None, _) => {
                self.carried.insert((c, t.to_owned()), day);
                true
            }
            (Some(slot), None) => {
                *slot = None;
                false
            }
            (Some(slot), Some(d)) => {
                // The later day wins; permanent is later than any day.
                if let Some(e) = slot {
                    *e = (*e).max(d);
                }
                false
            }
        }
    }

    fn tag(&mut self, c: u32, t: &str, day: Option<i32>) -> Out<bool> {
        self.live(c)?;
        self.create(t);
        Ok(self.assign(c, t, day))
    }

    fn tag_all(&mut self, cs: &BTreeSet<u32>, t: &str, day: Option<i32>) -> Out<u64> {
        self.create(t);
        let targets: Vec<u32> = cs.intersection(&self.live).copied().collect();
        Ok(targets.into_iter().map(|c| u64::from(self.assign(c, t, day))).sum())
    }

    fn untag(&mut self, c: u32, t: &str) -> Out<bool> {
        self.live(c)?;
        self.known(t)?;
        Ok(self.carried.remove(&(c, t.to_owned())).is_some())
    }

    fn untag_all(&mut self, cs: &BTreeSet<u32>, t: &str) -> Out<u64> {
        self.known(t)?;
        Ok(cs.iter().filter(|&&c| self.carried.remove(&(c, t.to_owned())).is_some()).count() as u64)
    }

    fn tag_pairs(&mut self, pairs: &[(u32, &str)]) -> Out<u64> {
        for &(c, _) in pairs {
            self.live(c)?;
        }
        let before: BTreeSet<(u32, String)> = self.carried.keys().cloned().collect();
        for &(c, t) in pairs {
            self.create(t);
            self.assign(c, t, None);
        }
        Ok(self.carried.keys().filter(|k| !before.contains(*k)).count() as u64)
    }

    fn delete(&mut self, t: &str) -> Out<u64> {
        self.known(t)?;
        if self.pool.iter().any(|n| parent(n) == Some(t)) {
            return err("TagHasChildren");
        }
        self.pool.remove(t);
        let before = self.carried.len();
        self.carried.retain(|(_, tt), _| tt != t);
        Ok((before - self.carried.len()) as u64)
    }

    /// Renames `old` (a leaf without a parent) to `new`.
    fn rename(&mut self, old: &str, new: &str) -> Out<()> {
        self.known(old)?;
        if self.pool.contains(new) {
            return err("TagExists");
        }
        self.pool.remove(old);
        self.pool.insert(new.to_owned());
        let moved: Vec<((u32, String), Option<i32>)> =
            self.carried.iter().filter(|((_, t), _)| t == old).map(|(k, v)| (k.clone(), *v)).collect();
        for ((c, _), d) in moved {
            self.carried.remove(&(c, old.to_owned()));
            self.carried.insert((c, new.to_owned()), d);
        }
        Ok(())
    }

    fn remove(&mut self, c: u32) -> Out<()> {
        self.live(c)?;
        self.live.remove(&c);
        self.carried.retain(|(cc, _), _| *cc != c);
        Ok(())
    }

    fn register(&mut self, c: u32) {
        self.live.insert(c);
    }

    fn expire(&mut self, as_of: i32) -> u64 {
        let before = self.carried.len();
        self.carried.retain(|_, d| d.is_none_or(|d| d > as_of));
        (before - self.carried.len()) as u64
    }

    fn expiry_of(&self, c: u32, t: &str) -> Out<Option<i32>> {
        self.live(c)?;
        self.known(t)?;
        Ok(self.carried.get(&(c, t.to_owned())).copied().flatten())
    }

    /// Customers matching tag term `t`: carrying it or a descendant.
    fn matches(&self, t: &str) -> Vec<u32> {
        let below = |n: &str| n == t || n.strip_prefix(t).is_some_and(|rest| rest.starts_with('/'));
        let set: BTreeSet<u32> = self.carried.keys().filter(|(_, n)| below(n)).map(|(c, _)| *c).collect();
        set.into_iter().collect()
    }
}

// ------------------------------------------------------------------ operations

#[derive(Clone, Debug)]
enum Op {
    Tag(usize, usize),
    TagUntil(usize, usize, i32),
    Untag(usize, usize),
    /// Customers by bit mask over `IDS`.
    TagAll(u8, usize),
    TagAllUntil(u8, usize, i32),
    UntagAll(u8, usize),
    TagPairs(Vec<(usize, usize)>),
    Delete(usize),
    /// `trial` <-> `promo`, whichever exists.
    Rename,
    Remove(usize),
    Register(usize),
    /// Expire as of a random day.
    Expire(i32),
    /// Move the clock on by this many days and expire as of it.
    Advance(i32),
}

/// Days 0..20 after 2024-01-01.
const DAYS: i32 = 20;

fn op() -> impl Strategy<Value = Op> {
    let c = 0..IDS.len();
    let t = 0..NAMES.len();
    let d = 0..DAYS;
    prop_oneof![
        4 => (c.clone(), t.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        8 => (c.clone(), t.clone(), d.clone()).prop_map(|(c, t, d)| Op::TagUntil(c, t, d)),
        3 => (c.clone(), t.clone()).prop_map(|(c, t)| Op::Untag(c, t)),
        2 => (any::<u8>(), t.clone()).prop_map(|(m, t)| Op::TagAll(m, t)),
        4 => (any::<u8>(), t.clone(), d.clone()).prop_map(|(m, t, d)| Op::TagAllUntil(m, t, d)),
        2 => (any::<u8>(), t.clone()).prop_map(|(m, t)| Op::UntagAll(m, t)),
        1 => proptest::collection::vec((c.clone(), t.clone()), 1..6).prop_map(Op::TagPairs),
        1 => t.prop_map(Op::Delete),
        1 => Just(Op::Rename),
        1 => c.clone().prop_map(Op::Remove),
        1 => c.prop_map(Op::Register),
        3 => d.prop_map(Op::Expire),
        3 => (0..4i32).prop_map(Op::Advance),
    ]
}

fn customers(mask: u8) -> BTreeSet<u32> {
    IDS.iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).map(|(_, &c)| c).collect()
}

fn audience(mask: u8) -> Audience {
    customers(mask).into_iter().map(CustomerId).collect()
}

fn rename_pair(m: &Model) -> (&'static str, &'static str) {
    if m.pool.contains("trial") { ("trial", "promo") } else { ("promo", "trial") }
}

/// Applies `op` to both; compares the results.
fn apply(op: &Op, e: &mut Engine, m: &mut Model, clock: &mut i32) -> TestResult {
    let what = format!("{op:?}");
    match *op {
        Op::Tag(c, t) => same(&what, e.tag(CustomerId(IDS[c]), NAMES[t]), m.tag(IDS[c], NAMES[t], None))?,
        Op::TagUntil(c, t, d) => {
            same(&what, e.tag_until(CustomerId(IDS[c]), NAMES[t], day(d)), m.tag(IDS[c], NAMES[t], Some(d)))?
        }
        Op::Untag(c, t) => same(&what, e.untag(CustomerId(IDS[c]), NAMES[t]), m.untag(IDS[c], NAMES[t]))?,
        Op::TagAll(mask, t) => {
            same(&what, e.tag_all(&audience(mask), NAMES[t]), m.tag_all(&customers(mask), NAMES[t], None))?
        }
        Op::TagAllUntil(mask, t, d) => same(
            &what,
            e.tag_all_until(&audience(mask), NAMES[t], day(d)),
            m.tag_all(&customers(mask), NAMES[t], Some(d)),
        )?,
        Op::UntagAll(mask, t) => {
            same(&what, e.untag_all(&audience(mask), NAMES[t]), m.untag_all(&customers(mask), NAMES[t]))?
        }
        Op::TagPairs(ref pairs) => {
            let named: Vec<(u32, &str)> = pairs.iter().map(|&(c, t)| (IDS[c], NAMES[t])).collect();
            let got = e.tag_pairs(named.iter().map(|&(c, t)| (CustomerId(c), t)));
            same(&what, got, m.tag_pairs(&named))?
        }
        Op::Delete(t) => same(&what, e.delete_tag(NAMES[t]), m.delete(NAMES[t]))?,
        Op::Rename => {
            let (old, new) = rename_pair(m);
            same(&what, e.rename_tag(old, new), m.rename(old, new))?
        }
        Op::Remove(c) => same(&what, e.remove_customer(CustomerId(IDS[c])), m.remove(IDS[c]))?,
        Op::Register(c) => {
            prop_assert_eq!(e.customer_id(IDS[c]), Ok(CustomerId(IDS[c])));
            m.register(IDS[c]);
        }
        Op::Expire(d) => prop_assert_eq!(e.expire(day(d)), m.expire(d), "{}", what),
        Op::Advance(n) => {
            *clock += n;
            prop_assert_eq!(e.expire(day(*clock)), m.expire(*clock), "{} to day {}", what, clock);
        }
    }
    Ok(())
}

/// Every tag's members (a query on it: it and its descendants), every customer's exact tags
/// and every `expiry_of`, as the model has them.
fn check(e: &Engine, m: &Model) -> TestResult {
    let pool: BTreeSet<String> = e.tags().map(|t| t.name.to_owned()).collect();
    prop_assert_eq!(&pool, &m.pool);
    for t in &m.pool {
        prop_assert_eq!(e.select(&Query::tag(t)).unwrap().to_ids(), m.matches(t), "members of {}", t);
    }
    for c in IDS {
        let exact: BTreeSet<String> = match e.tags_of(CustomerId(c)) {
            Ok(tags) => tags.into_iter().map(str::to_owned).collect(),
            Err(_) => BTreeSet::new(),
        };
        let want: BTreeSet<String> = m.carried.keys().filter(|(cc, _)| *cc == c).map(|(_, t)| t.clone()).collect();
        prop_assert_eq!(exact, want, "tags of {}", c);
        for t in NAMES {
            let want = m.expiry_of(c, t).map(|d| d.map(day));
            same(format!("expiry_of({c}, {t})"), e.expiry_of(CustomerId(c), t), want)?;
        }
    }
    Ok(())
}

fn run(ops: &[Op]) -> TestResult {
    let mut e = Engine::new();
    let mut m = Model::new();
    for c in IDS {
        e.customer_id(c).unwrap();
    }
    e.define_exclusive_group("tier").unwrap();
    let mut clock = 0;
    for op in ops {
        apply(op, &mut e, &mut m, &mut clock)?;
        check(&e, &m)?;
    }
    // Whatever is left expires by the last day.
    prop_assert_eq!(e.expire(day(DAYS + 10)), m.expire(DAYS + 10));
    check(&e, &m)
}

proptest! {
    #![proptest_config(config(256))]
    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}

/// The cases the model test is built to reach, written out: a stale day never removes a
/// later permanent assignment.
#[test]
fn a_removed_assignment_leaves_no_day_behind() {
    use Op::*;
    let (running, gold, silver) = (2, 3, 4);
    for ops in [
        vec![TagUntil(0, running, 3), Untag(0, running), Tag(0, running), Expire(5)],
        vec![TagUntil(0, gold, 3), Tag(0, silver), Tag(0, gold), Expire(5)],
        vec![TagAllUntil(0b11, gold, 3), TagAll(0b01, silver), TagPairs(vec![(0, gold)]), Expire(5)],
        vec![TagUntil(1, running, 3), Remove(1), Register(1), Tag(1, running), Expire(5)],
        vec![TagUntil(1, running, 3), UntagAll(0xff, running), TagUntil(1, running, 9), Expire(5), Expire(9)],
        vec![TagUntil(0, 6, 3), Rename, Expire(2), Advance(3)],
        vec![TagUntil(0, 7, 3), Delete(7), TagUntil(0, 7, 6), Expire(5), Expire(6)],
    ] {
        run(&ops).unwrap_or_else(|e| panic!("{ops:?}: {e}"));
    }
}

// ------------------------------------------------------------------ edges

type Result<T = ()> = common::Result<T>;

fn engine(n: u32) -> (Engine, Vec<CustomerId>) {
    let mut e = Engine::new();
    let ids = (0..n).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
    (e, ids)
}

#[test]
fn exact_to_the_day() -> Result {
    let (mut e, c) = engine(1);
    let d = day(10);
    assert!(e.tag_until(c[0], "trial", d)?);
    assert!(!e.tag_until(c[0], "trial", day(4))?, "not new: the later day stays");
    assert_eq!(e.expiry_of(c[0], "trial")?, Some(d));
    assert_eq!(e.expire(day(9)), 0);
    assert_eq!(e.count("trial")?, 1);
    assert_eq!(e.expire(d), 1);
    assert_eq!(e.count("trial")?, 0);
    assert_eq!(e.expiry_of(c[0], "trial")?, None, "gone with its day");
    assert_eq!(e.tag_info("trial")?.len, 0, "the tag stays in the pool");
    assert_eq!(e.expire(d), 0);
    Ok(())
}

#[test]
fn the_first_and_last_representable_days() -> Result {
    let (first, last) = (Day::from(NaiveDate::MIN), Day::from(NaiveDate::MAX));
    assert_eq!(Day::from_days_since_epoch(last.days_since_epoch() + 1), None);
    let (mut e, c) = engine(3);
    e.tag_until(c[0], "early", first)?;
    e.tag_until(c[1], "late", last)?;
    e.tag_until(c[2], "late", first)?;
    e.tag_until(c[2], "late", last)?; // extended to the very end
    assert_eq!(e.expiry_of(c[0], "early")?, Some(first));
    assert_eq!(e.expiry_of(c[2], "late")?, Some(last));
    assert_eq!(e.expire(first), 1);
    assert_eq!(e.count("early")?, 0);
    let eve = last.checked_add_days(-1).unwrap();
    assert_eq!(e.expire(eve), 0);
    assert_eq!(e.count("late")?, 2);
    assert_eq!(e.expire(last), 2);
    assert_eq!(e.count("late")?, 0);
    assert_eq!(e.expire(last), 0);
    Ok(())
}

#[test]
fn unicode_names() -> Result {
    let (mut e, c) = engine(2);
    let d = day(3);
    assert_eq!(e.tag_all_until(&e.customers(), "高消费", d)?, 2);
    e.tag_until(c[0], "v\u{0069}\u{0301}p 🎉", d)?; // decomposed í
    assert_eq!(e.expiry_of(c[0], "víp 🎉")?, Some(d), "the same tag, normalized");
    assert_eq!(e.expiry_of(c[1], "高消费")?, Some(d));
    assert_eq!(e.expire(d), 3);
    assert_eq!(e.count("高消费 OR \"víp 🎉\"")?, 0);
    Ok(())
}

#[test]
fn a_parent_drops_an_expired_child() -> Result {
    let (mut e, c) = engine(4);
    let d = day(7);
    e.tag_until(c[0], "sports/running", d)?;
    e.tag_until(c[1], "sports/running", d)?;
    e.tag(c[1], "sports/golf")?; // still under sports after the expiry
    e.tag(c[2], "sports")?;
    e.tag_until(c[3], "interest/sports/running/trail", d)?;
    assert_eq!(e.count("sports")?, 3); // the union is built
    assert_eq!(e.count("interest")?, 1);
    assert_eq!(e.expire(d), 3);
    assert_eq!(e.select(&Query::tag("sports"))?.to_ids(), [c[1].0, c[2].0]);
    assert_eq!(e.count("sports/running")?, 0);
    assert_eq!(e.count("interest OR interest/sports")?, 0);
    assert_eq!(e.tag_info("sports")?.subtree_len, 2);
    Ok(())
}

#[test]
fn refresh_expires_first() -> Result {
    let (mut e, c) = engine(3);
    e.record_purchase(c[0], day(0), Money::from_minor(1_000)?)?;
    let plan = SegmentPlan::new([("trials", "trial")], "rest")?;
    e.tag_until(c[0], "trial", day(30))?;
    e.tag_until(c[1], "trial", day(60))?;
    e.apply_plan("campaign", &plan)?;
    assert_eq!(e.count("campaign:trials")?, 2);

    let report = e.refresh(day(29))?;
    assert_eq!(report.expired, 0);
    let report = e.refresh(day(30))?;
    assert_eq!(report.expired, 1);
    assert_eq!(e.select(&Query::tag("trial"))?.to_ids(), [c[1].0]);
    assert_eq!(e.count("campaign:trials")?, 1, "the plan saw the tag gone");
    let (_, diff) = &report.plans[0];
    assert_eq!(diff.left("trials").map(|a| a.to_ids()), Some(vec![c[0].0]));

    // A refresh with nothing new for the models (the same day) still expires.
    e.tag_until(c[2], "trial", day(30))?;
    let report = e.refresh(day(30))?;
    assert_eq!((report.expired, report.recomputed), (1, 0));
    assert_eq!(e.count("trial")?, 1);
    Ok(())
}

#[test]
fn a_refresh_that_fails_expires_nothing() -> Result {
    let (mut e, c) = engine(2);
    e.tag_until(c[0], "trial", day(1))?;
    // A total beyond i64: the models' plan fails before anything is written.
    let big = Money::from_minor(1_000_000_000_000_000)?;
    e.record_purchases((0..9_300).map(|_| (c[1], day(0), big)))?;
    assert!(matches!(e.refresh(day(5)), Err(Error::MonetaryOverflow { .. })));
    assert_eq!(e.count("trial")?, 1);
    // A tag a stored plan reads cannot be deleted, so the plan cannot stop resolving.
    let (mut e, c) = engine(1);
    e.tag(c[0], "vip")?;
    e.tag_until(c[0], "trial", day(1))?;
    e.apply_plan("campaign", &SegmentPlan::new([("vips", "vip")], "rest")?)?;
    assert!(matches!(e.delete_tag("vip"), Err(Error::TagInUse { .. })));
    assert_eq!(e.count("trial")?, 1);
    assert_eq!(e.refresh(day(5))?.expired, 1);
    Ok(())
}

#[test]
fn exclusive_groups() -> Result {
    let (mut e, c) = engine(3);
    e.define_exclusive_group("tier")?;
    let d = day(5);
    e.tag_until(c[0], "tier:gold", d)?;
    e.tag(c[0], "tier:silver")?; // replaces gold, and its day
    assert_eq!(e.expiry_of(c[0], "tier:gold")?, None);
    e.tag(c[0], "tier:gold")?; // gold again, for good
    assert_eq!(e.expire(d), 0, "no stale day removes the permanent gold");
    assert_eq!(e.tags_of(c[0])?, ["tier:gold"]);

    // tag_all_until replaces the other values; a later value replaces it in turn.
    e.tag(c[1], "tier:silver")?;
    assert_eq!(e.tag_all_until(&e.customers(), "tier:bronze", d)?, 3);
    assert_eq!(e.count("tier:gold OR tier:silver")?, 0);
    e.tag_pairs([(c[2], "tier:gold")])?; // bulk: for good
    assert_eq!(e.expiry_of(c[2], "tier:bronze")?, None);
    assert_eq!(e.expiry_of(c[2], "tier:gold")?, None);
    assert_eq!(e.expire(d), 2);
    assert_eq!(e.count("tier:bronze")?, 0);
    assert_eq!(e.select(&Query::tag("tier:gold"))?.to_ids(), [c[2].0]);
    Ok(())
}

#[test]
fn permanent_stays_permanent_until_untagged() -> Result {
    let (mut e, c) = engine(2);
    e.tag(c[0], "vip")?;
    assert!(!e.tag_until(c[0], "vip", day(1))?);
    assert_eq!(e.tag_all_until(&e.customers(), "vip", day(1))?, 1);
    assert_eq!(e.expiry_of(c[0], "vip")?, None);
    assert_eq!(e.expiry_of(c[1], "vip")?, Some(day(1)));
    assert_eq!(e.expire(day(1)), 1);
    assert_eq!(e.count("vip")?, 1);
    // To shorten: untag first.
    e.untag(c[0], "vip")?;
    e.tag_until(c[0], "vip", day(2))?;
    assert_eq!(e.expire(day(2)), 1);
    assert_eq!(e.count("vip")?, 0);
    Ok(())
}

#[test]
fn a_past_day_is_accepted_and_expires_at_the_next_expiry() -> Result {
    let (mut e, c) = engine(1);
    assert_eq!(e.expire(day(100)), 0);
    assert!(e.tag_until(c[0], "late", day(50))?);
    assert_eq!(e.count("late")?, 1, "the engine has no clock");
    assert_eq!(e.expire(day(49)), 0, "an earlier as-of day than before");
    assert_eq!(e.expire(day(100)), 1);
    Ok(())
}

#[test]
fn renames_keep_the_days() -> Result {
    let (mut e, c) = engine(1);
    e.tag_until(c[0], "promo/spring", day(3))?;
    e.rename_tag("promo", "campaign")?;
    assert_eq!(e.expiry_of(c[0], "campaign/spring")?, Some(day(3)));
    assert!(matches!(e.expiry_of(c[0], "promo/spring"), Err(Error::UnknownTag { .. })));
    assert_eq!(e.expire(day(3)), 1);
    assert_eq!(e.count("campaign")?, 0);
    Ok(())
}

#[test]
fn removal_and_errors() -> Result {
    let (mut e, c) = engine(2);
    e.tag_until(c[0], "trial", day(3))?;
    e.tag_until(c[1], "trial", day(3))?;
    e.remove_customers(&[c[1]].into_iter().collect())?;
    assert!(matches!(e.expiry_of(c[1], "trial"), Err(Error::UnknownCustomer { .. })));
    assert_eq!(e.customer_id(c[1])?, c[1]);
    e.tag(c[1], "trial")?;
    assert_eq!(e.expire(day(3)), 1, "only c0: the removed customer's day went with it");
    assert_eq!(e.count("trial")?, 1);

    let ghost = CustomerId(999);
    assert_eq!(e.tag_until(ghost, "trial", day(3)), Err(Error::UnknownCustomer { id: ghost }));
    assert!(
        matches!(e.expiry_of(c[0], "trail"), Err(Error::UnknownTag { ref suggestions, .. }) if suggestions == &["trial"])
    );
    assert!(matches!(e.tag_until(c[0], "stage:active", day(3)), Err(Error::DerivedName { .. })));
    assert!(matches!(e.tag_all_until(&e.customers(), "r:5", day(3)), Err(Error::DerivedName { .. })));
    assert!(matches!(e.tag_until(c[0], "a//b", day(3)), Err(Error::InvalidTagName { .. })));
    assert_eq!(e.tag_id("stage:active"), None, "nothing created on error");
    Ok(())
}

#[test]
fn derived_tags_take_no_day() -> Result {
    let (mut e, c) = engine(2);
    let plan = SegmentPlan::new([("vips", "vip")], "rest")?;
    e.tag(c[0], "vip")?;
    e.apply_plan("campaign", &plan)?;
    e.define_rule_tag("vip_rule", "vip")?;
    // A plan's segment tags and a rule tag are written by their layer only: no day can be
    // put on them, so a layer's write never has to undo one.
    for tag in ["campaign:vips", "campaign:rest", "vip_rule"] {
        assert!(matches!(e.tag_until(c[1], tag, day(3)), Err(Error::DerivedName { .. })), "{tag}");
        assert!(matches!(e.tag_all_until(&e.customers(), tag, day(3)), Err(Error::DerivedName { .. })), "{tag}");
    }
    e.tag_until(c[1], "vip", day(3))?;
    e.apply_plan("campaign", &plan)?;
    assert_eq!(e.count("campaign:vips")?, 2);
    assert_eq!(e.expire(day(3)), 1);
    e.refresh_rules()?;
    e.apply_plan("campaign", &plan)?;
    assert_eq!((e.count("campaign:vips")?, e.count("vip_rule")?), (1, 1));
    Ok(())
}
