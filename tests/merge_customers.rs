//! `Engine::merge_customers` against a naive model: random customers (keyed, some with
//! Unicode keys, and some registered by id) with tags (an exclusive group, a hierarchy,
//! expiring assignments), attributes and purchases, random merges (of a customer with
//! itself, of removed ones), removals, lookups of alias keys and refreshes. After every step
//! each live customer's tags, expiry days, attributes, purchases, key and alias keys, every
//! key's lookup and a set of queries are the model's; an applied plan applied again (only
//! the touched customers evaluated) equals a full evaluation. At the end a refresh must give
//! what a fresh engine built from the merged model gives: tags (derived, rule and plan tags
//! included), attributes, RFM figures and stages. Then the documented edges one by one.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{ChangeEvent, CustomerId, CustomerMerge, Engine, Error, SegmentPlan, Stage};
use common::model::{Errs, err, same};
use common::observe::snapshot;
use common::{Pick, Result, TestResult, config, day, money, pick};
use proptest::prelude::*;

/// Hand tags, parents before children (so tag ids follow this order), and the exclusive
/// group `tier`.
const TAGS: [&str; 10] = [
    "vip",
    "newsletter",
    "高消费",
    "interest",
    "interest/outdoor",
    "interest/outdoor/hiking",
    "interest/books",
    "tier:gold",
    "tier:silver",
    "tier:bronze",
];

/// Hand attributes, in creation order.
const ATTRS: [&str; 3] = ["age", "score", "城市"];

/// The groups and attributes the refresh derives, and the rule and plan of the engine.
const DERIVED_GROUPS: [&str; 5] = ["r", "f", "m", "rfm", "stage"];
const DERIVED_ATTRS: [&str; 3] = ["recency_days", "frequency", "monetary"];
const RULE: (&str, &str) = ("vip_adult", "vip AND age >= 30");
const PLAN_GROUP: &str = "campaign";

fn plan() -> SegmentPlan {
    SegmentPlan::new(
        [("gold_vip", "tier:gold AND vip"), ("outdoor", "interest/outdoor"), ("adult", "age >= 30")],
        "rest",
    )
    .unwrap()
}

/// Keys the customers start with (and a few a `customer` call may register later).
const KEYS: [&str; 9] = ["ann@example.com", "顾客-甲", "ünïcødé@例え.jp", "bob", "cat", "dan", "eve", "新客", "zed"];

/// How many customers are keyed at the start; two more are registered by id.
const KEYED: usize = 6;
const DENSE: [u32; 2] = [100, 101];

/// Whether a tag (as `tags_of` lists it) belongs to a layer, not to the hand model.
fn derived(tag: &str) -> bool {
    tag == RULE.0 || tag.split_once(':').is_some_and(|(g, _)| g == PLAN_GROUP || DERIVED_GROUPS.contains(&g))
}

fn group(tag: &str) -> Option<&str> {
    tag.split_once(':').map(|(g, _)| g)
}

// ------------------------------------------------------------------ the model

#[derive(Clone, Debug, Default)]
struct Cust {
    key: Option<String>,
    /// Tag -> the day its assignment ends (`None`: for good).
    tags: BTreeMap<String, Option<i32>>,
    attrs: BTreeMap<String, i64>,
    /// (day, amount) in arrival order.
    buys: Vec<(i32, i64)>,
}

impl Cust {
    /// Purchases as `purchases_of` gives them: by day, in arrival order within a day.
    fn purchases(&self) -> Vec<(i32, i64)> {
        let mut p = self.buys.clone();
        p.sort_by_key(|&(d, _)| d);
        p
    }

    /// Drops the other values of `tag`'s group.
    fn clear_group(&mut self, tag: &str) {
        if let Some(g) = group(tag) {
            self.tags.retain(|t, _| t == tag || group(t) != Some(g));
        }
    }
}

/// A [`CustomerMerge`]'s tags, attributes, purchases and keys.
type Report = (Vec<String>, Vec<String>, u64, Vec<String>);

#[derive(Clone, Debug, Default)]
struct Model {
    live: BTreeMap<u32, Cust>,
    /// Alias key -> customer.
    aliases: BTreeMap<String, u32>,
    /// Customer -> alias keys, oldest first.
    alias_order: BTreeMap<u32, Vec<String>>,
    next_id: u64,
    /// Every id ever registered, in order (merges and removals pick among them).
    ever: Vec<u32>,
}

impl Model {
    fn id_of(&self, key: &str) -> Option<u32> {
        self.live
            .iter()
            .find(|(_, c)| c.key.as_deref() == Some(key))
            .map(|(&id, _)| id)
            .or(self.aliases.get(key).copied())
    }

    fn customer(&mut self, key: &str) -> u32 {
        if let Some(id) = self.id_of(key) {
            return id;
        }
        let id = self.next_id as u32;
        self.next_id += 1;
        self.live.insert(id, Cust { key: Some(key.to_owned()), ..Cust::default() });
        self.ever.push(id);
        id
    }

    fn customer_id(&mut self, id: u32) -> u32 {
        self.next_id = self.next_id.max(u64::from(id) + 1);
        self.live.entry(id).or_default();
        self.ever.push(id);
        id
    }

    fn cust(&mut self, c: u32) -> std::result::Result<&mut Cust, Errs> {
        self.live.get_mut(&c).map_or_else(|| err("UnknownCustomer"), Ok)
    }

    fn tag(&mut self, c: u32, tag: &str) -> std::result::Result<bool, Errs> {
        let cust = self.cust(c)?;
        cust.clear_group(tag);
        Ok(cust.tags.insert(tag.to_owned(), None).is_none())
    }

    fn tag_until(&mut self, c: u32, tag: &str, until: i32) -> std::result::Result<bool, Errs> {
        let cust = self.cust(c)?;
        match cust.tags.get_mut(tag) {
            Some(None) => Ok(false),
            Some(Some(d)) => {
                *d = (*d).max(until);
                Ok(false)
            }
            None => {
                cust.clear_group(tag);
                cust.tags.insert(tag.to_owned(), Some(until));
                Ok(true)
            }
        }
    }

    fn untag(&mut self, c: u32, tag: &str) -> std::result::Result<bool, Errs> {
        Ok(self.cust(c)?.tags.remove(tag).is_some())
    }

    fn set_attr(&mut self, c: u32, name: &str, v: i64) -> std::result::Result<Option<i64>, Errs> {
        Ok(self.cust(c)?.attrs.insert(name.to_owned(), v))
    }

    fn buy(&mut self, c: u32, d: i32, amount: i64) -> std::result::Result<(), Errs> {
        self.cust(c)?.buys.push((d, amount));
        Ok(())
    }

    fn remove(&mut self, c: u32) -> std::result::Result<(), Errs> {
        self.cust(c)?;
        self.live.remove(&c);
        for k in self.alias_order.remove(&c).unwrap_or_default() {
            self.aliases.remove(&k);
        }
        Ok(())
    }

    /// The merge as documented; the report's figures.
    fn merge(&mut self, into: u32, from: u32) -> std::result::Result<Report, Errs> {
        self.cust(into)?;
        self.cust(from)?;
        if into == from {
            return err("MergeSelf");
        }
        let gone = self.live.remove(&from).expect("live");
        let kept = self.live.get_mut(&into).expect("live");
        let mut tags = Vec::new();
        for (t, from_day) in &gone.tags {
            let group_taken = group(t).is_some_and(|g| kept.tags.keys().any(|k| group(k) == Some(g)));
            match kept.tags.get_mut(t) {
                Some(day) => {
                    *day = match (*day, *from_day) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    }
                }
                None if group_taken => {}
                None => {
                    kept.tags.insert(t.clone(), *from_day);
                    tags.push(t.clone());
                }
            }
        }
        tags.sort_by_key(|t| TAGS.iter().position(|x| x == t));
        let mut attrs = Vec::new();
        for (a, v) in &gone.attrs {
            if !kept.attrs.contains_key(a) {
                kept.attrs.insert(a.clone(), *v);
                attrs.push(a.clone());
            }
        }
        attrs.sort_by_key(|a| ATTRS.iter().position(|x| x == a));
        kept.buys.extend(gone.purchases());
        let mut keys = self.alias_order.remove(&from).unwrap_or_default();
        keys.extend(gone.key.clone());
        for k in &keys {
            self.aliases.insert(k.clone(), into);
        }
        self.alias_order.entry(into).or_default().extend(keys.iter().cloned());
        Ok((tags, attrs, gone.buys.len() as u64, keys))
    }

    /// Assignments due by `as_of` end.
    fn expire(&mut self, as_of: i32) {
        for c in self.live.values_mut() {
            c.tags.retain(|_, d| d.is_none_or(|d| d > as_of));
        }
    }

    /// Whether live customer `c` matches query `q` (one of [`QUERIES`]).
    fn matches(&self, c: &Cust, q: &str) -> bool {
        let has = |t: &str| c.tags.contains_key(t);
        let below = |root: &str| c.tags.keys().any(|t| t == root || t.starts_with(&format!("{root}/")));
        let attr = |a: &str| c.attrs.get(a).copied();
        match q {
            "vip" => has("vip"),
            "interest" => below("interest"),
            "interest/outdoor" => below("interest/outdoor"),
            "tier:gold" => has("tier:gold"),
            "NOT tier:gold" => !has("tier:gold"),
            "vip AND NOT 高消费" => has("vip") && !has("高消费"),
            "age >= 30" => attr("age").is_some_and(|v| v >= 30),
            "score < 0 OR 城市 = 2" => attr("score").is_some_and(|v| v < 0) || attr("城市") == Some(2),
            _ => unreachable!("{q}"),
        }
    }
}

const QUERIES: [&str; 8] = [
    "vip",
    "interest",
    "interest/outdoor",
    "tier:gold",
    "NOT tier:gold",
    "vip AND NOT 高消费",
    "age >= 30",
    "score < 0 OR 城市 = 2",
];

// ------------------------------------------------------------------ building engines

/// The pool, the rule tag and the plan every engine of this file starts with.
fn prepare(e: &mut Engine) -> Result {
    e.define_exclusive_group("tier")?;
    for t in TAGS {
        e.ensure_tag(t)?;
    }
    for a in ATTRS {
        e.define_attr(a)?;
    }
    e.define_rule_tag(RULE.0, RULE.1)?;
    e.apply_plan(PLAN_GROUP, &plan())?;
    Ok(())
}

/// The engine and the model of a case's start: [`KEYED`] keyed customers, then [`DENSE`].
fn start() -> (Engine, Model) {
    let (mut e, mut m) = (Engine::new(), Model::default());
    prepare(&mut e).unwrap();
    for key in &KEYS[..KEYED] {
        assert_eq!(e.customer(key).unwrap().0, m.customer(key));
    }
    for id in DENSE {
        assert_eq!(e.customer_id(id).unwrap().0, m.customer_id(id));
    }
    (e, m)
}

/// A fresh engine holding the model's data from the start; model id -> its id.
fn fresh(m: &Model) -> (Engine, BTreeMap<u32, CustomerId>) {
    let mut e = Engine::new();
    prepare(&mut e).unwrap();
    let mut ids = BTreeMap::new();
    for (&id, c) in &m.live {
        let fid = match &c.key {
            Some(k) => e.customer(k).unwrap(),
            None => e.customer_id(id).unwrap(),
        };
        ids.insert(id, fid);
        for (t, d) in &c.tags {
            match d {
                Some(d) => e.tag_until(fid, t, day(*d)).unwrap(),
                None => e.tag(fid, t).unwrap(),
            };
        }
        for (a, v) in &c.attrs {
            e.set_attr(fid, a, *v).unwrap();
        }
        for &(d, amount) in &c.buys {
            e.record_purchase(fid, day(d), money(amount)).unwrap();
        }
    }
    (e, ids)
}

// ------------------------------------------------------------------ observing

fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}

/// Every observable the model knows, compared.
fn check(e: &Engine, m: &Model) -> TestResult {
    let live: Vec<u32> = e.customers().iter().map(|c| c.0).collect();
    prop_assert_eq!(&live, &m.live.keys().copied().collect::<Vec<_>>(), "live customers");
    for (&id, c) in &m.live {
        let cid = CustomerId(id);
        let tags: BTreeMap<String, Option<i32>> = e
            .tags_of(cid)
            .unwrap()
            .into_iter()
            .filter(|t| !derived(t))
            .map(|t| (t.to_owned(), e.expiry_of(cid, t).unwrap().map(|d| d.days_since_epoch() - common::BASE)))
            .collect();
        prop_assert_eq!(&tags, &c.tags, "tags and expiry days of {}", id);
        let attrs: BTreeMap<String, i64> = e
            .attrs_of(cid)
            .unwrap()
            .into_iter()
            .filter(|(a, _)| !DERIVED_ATTRS.contains(a))
            .map(|(a, v)| (a.to_owned(), v))
            .collect();
        prop_assert_eq!(&attrs, &c.attrs, "attributes of {}", id);
        let buys: Vec<(i32, i64)> = e
            .purchases_of(cid)
            .unwrap()
            .iter()
            .map(|p| (p.day.days_since_epoch() - common::BASE, p.amount.minor()))
            .collect();
        prop_assert_eq!(buys, c.purchases(), "purchases of {}", id);
        prop_assert_eq!(e.key_of(cid), c.key.as_deref(), "key of {}", id);
        let aliases: Vec<&str> = m.alias_order.get(&id).map_or(Vec::new(), |v| v.iter().map(String::as_str).collect());
        prop_assert_eq!(e.key_aliases(cid).unwrap(), aliases, "alias keys of {}", id);
    }
    for key in KEYS {
        prop_assert_eq!(e.id_of(key).map(|c| c.0), m.id_of(key), "id_of({})", key);
    }
    prop_assert_eq!(e.purchase_count(), m.live.values().map(|c| c.buys.len() as u64).sum::<u64>(), "purchase count");
    for q in QUERIES {
        let want: Vec<u32> = m.live.iter().filter(|(_, c)| m.matches(c, q)).map(|(&id, _)| id).collect();
        prop_assert_eq!(e.query(q).unwrap().to_ids(), want, "query {}", q);
    }
    Ok(())
}

/// What a customer shows after a refresh: tags, attributes, stage, RFM figures.
type Profile = (BTreeSet<String>, BTreeSet<(String, i64)>, Option<Stage>, String);

/// What a customer shows after a refresh, for comparison between two engines.
fn profile(e: &Engine, c: CustomerId) -> Profile {
    (
        set(e.tags_of(c).unwrap()),
        e.attrs_of(c).unwrap().into_iter().map(|(a, v)| (a.to_owned(), v)).collect(),
        e.stage_of(c).unwrap(),
        format!("{:?}", e.rfm_of(c).unwrap()),
    )
}

// ------------------------------------------------------------------ operations

#[derive(Clone, Debug)]
enum Op {
    Tag(Pick, usize),
    TagUntil(Pick, usize, i32),
    Untag(Pick, usize),
    SetAttr(Pick, usize, i64),
    Buy(Pick, i32, i64),
    Merge(Pick, Pick),
    Remove(Pick),
    Customer(usize),
    Refresh(i32),
    ApplyPlan,
}

fn arb_op() -> impl Strategy<Value = Op> {
    let tag = 0..TAGS.len();
    prop_oneof![
        4 => (pick(), tag.clone()).prop_map(|(c, t)| Op::Tag(c, t)),
        2 => (pick(), tag.clone(), 0..60i32).prop_map(|(c, t, d)| Op::TagUntil(c, t, d)),
        1 => (pick(), tag).prop_map(|(c, t)| Op::Untag(c, t)),
        3 => (pick(), 0..ATTRS.len(), -3..60i64).prop_map(|(c, a, v)| Op::SetAttr(c, a, v)),
        3 => (pick(), 0..90i32, -500..5_000i64).prop_map(|(c, d, a)| Op::Buy(c, d, a)),
        5 => (pick(), pick()).prop_map(|(a, b)| Op::Merge(a, b)),
        1 => pick().prop_map(Op::Remove),
        1 => (0..KEYS.len()).prop_map(Op::Customer),
        1 => (0..100i32).prop_map(Op::Refresh),
        1 => Just(Op::ApplyPlan),
    ]
}

fn run(e: &mut Engine, m: &mut Model, op: &Op) -> TestResult {
    let who = |p: &Pick| p.of(&m.ever).expect("customers start registered");
    match op {
        Op::Tag(c, t) => {
            let c = who(c);
            same(format!("tag({c}, {})", TAGS[*t]), e.tag(CustomerId(c), TAGS[*t]), m.tag(c, TAGS[*t]))?;
        }
        Op::TagUntil(c, t, d) => {
            let c = who(c);
            let got = e.tag_until(CustomerId(c), TAGS[*t], day(*d));
            same(format!("tag_until({c}, {}, {d})", TAGS[*t]), got, m.tag_until(c, TAGS[*t], *d))?;
        }
        Op::Untag(c, t) => {
            let c = who(c);
            same(format!("untag({c}, {})", TAGS[*t]), e.untag(CustomerId(c), TAGS[*t]), m.untag(c, TAGS[*t]))?;
        }
        Op::SetAttr(c, a, v) => {
            let c = who(c);
            same(format!("set_attr({c})"), e.set_attr(CustomerId(c), ATTRS[*a], *v), m.set_attr(c, ATTRS[*a], *v))?;
        }
        Op::Buy(c, d, a) => {
            let c = who(c);
            same(format!("buy({c})"), e.record_purchase(CustomerId(c), day(*d), money(*a)), m.buy(c, *d, *a))?;
        }
        Op::Merge(a, b) => {
            let (into, from) = (who(a), who(b));
            let got = e.merge_customers(CustomerId(into), CustomerId(from));
            let got = got.map(|r: CustomerMerge| {
                assert_eq!((r.into, r.from), (CustomerId(into), CustomerId(from)));
                (r.tags, r.attributes, r.purchases, r.keys)
            });
            same(format!("merge_customers({into}, {from})"), got, m.merge(into, from))?;
        }
        Op::Remove(c) => {
            let c = who(c);
            same(format!("remove_customer({c})"), e.remove_customer(CustomerId(c)), m.remove(c))?;
        }
        Op::Customer(k) => {
            let got = e.customer(KEYS[*k]).map(|c| c.0);
            same(format!("customer({})", KEYS[*k]), got, Ok(m.customer(KEYS[*k])))?;
        }
        Op::Refresh(d) => {
            e.refresh(day(*d)).unwrap();
            m.expire(*d);
        }
        Op::ApplyPlan => {
            // Applying again evaluates only the touched customers: it must equal a full
            // evaluation of the plan.
            e.apply_plan(PLAN_GROUP, &plan()).unwrap();
            let full = e.segment(&plan()).unwrap();
            for (name, audience) in full.iter() {
                let tag = format!("{PLAN_GROUP}:{name}");
                prop_assert_eq!(e.query(&tag).unwrap().to_ids(), audience.to_ids(), "{} after apply_plan", tag);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(96))]

    /// Random operations with merges among them against the model, step by step; then a
    /// refresh against a fresh engine built from the merged model.
    #[test]
    fn merges_match_the_model_and_a_fresh_engine(ops in prop::collection::vec(arb_op(), 1..40), as_of in 0..120i32) {
        let (mut e, mut m) = start();
        for op in &ops {
            run(&mut e, &mut m, op)?;
            check(&e, &m)?;
        }
        e.refresh(day(as_of)).unwrap();
        m.expire(as_of);
        check(&e, &m)?;
        let (mut f, ids) = fresh(&m);
        f.refresh(day(as_of)).unwrap();
        for (&id, &fid) in &ids {
            prop_assert_eq!(profile(&e, CustomerId(id)), profile(&f, fid), "customer {} after refresh", id);
        }
    }
}

// ------------------------------------------------------------------ edges

#[test]
fn the_report_says_what_moved() -> Result {
    let mut e = Engine::new();
    prepare(&mut e)?;
    let (ann, guest) = (e.customer("ann")?, e.customer("guest")?);
    e.tag(ann, "tier:gold")?;
    e.tag(guest, "tier:silver")?; // ann's value wins
    e.tag(guest, "interest/outdoor/hiking")?;
    e.tag(guest, "vip")?;
    e.set_attr(ann, "age", 40)?;
    e.set_attr(guest, "age", 20)?; // ann's value wins
    e.set_attr(guest, "score", -1)?;
    e.record_purchase(guest, day(3), money(500))?;
    e.record_purchase(guest, day(1), money(-100))?;
    let r = e.merge_customers(ann, guest)?;
    assert_eq!((r.into, r.from), (ann, guest));
    assert_eq!(r.tags, ["vip", "interest/outdoor/hiking"], "in tag id order");
    assert_eq!((r.attributes, r.purchases, r.keys), (vec!["score".to_owned()], 2, vec!["guest".to_owned()]));
    assert_eq!(
        e.tags_of(ann)?,
        ["vip", "interest/outdoor/hiking", "tier:gold"],
        "rule and plan tags: not yet computed"
    );
    assert_eq!(e.attrs_of(ann)?, [("age", 40), ("score", -1)]);
    assert_eq!(e.purchases_of(ann)?.iter().map(|p| p.amount.minor()).collect::<Vec<_>>(), [-100, 500]);
    assert_eq!(e.count("interest")?, 1, "the parent follows its child");
    assert_eq!(e.purchases_of(guest), Err(Error::UnknownCustomer { id: guest }));
    Ok(())
}

#[test]
fn merging_a_customer_with_itself_or_a_removed_one_changes_nothing() -> Result {
    let mut e = Engine::new();
    let (a, b, gone) = (e.customer("a")?, e.customer("b")?, e.customer("gone")?);
    e.tag(a, "vip")?;
    e.tag(b, "app")?;
    e.remove_customer(gone)?;
    let before = snapshot(&e);
    assert_eq!(e.merge_customers(a, a), Err(Error::MergeSelf { customer: a, key: Some("a".into()) }));
    assert_eq!(e.merge_customers(a, gone), Err(Error::UnknownCustomer { id: gone }));
    assert_eq!(e.merge_customers(gone, a), Err(Error::UnknownCustomer { id: gone }));
    assert_eq!(e.merge_customers(CustomerId(77), b), Err(Error::UnknownCustomer { id: CustomerId(77) }));
    assert_eq!(snapshot(&e), before);
    let msg = Error::MergeSelf { customer: a, key: Some("a".into()) }.to_string();
    assert!(msg.starts_with("cannot merge customer \"a\" #0 into itself (hint: "), "{msg}");
    let dense = e.customer_id(9u32)?;
    assert!(e.merge_customers(dense, dense).unwrap_err().to_string().starts_with("cannot merge customer #9 into"));
    // Two keys already merged resolve to one customer: merging them again is a self merge.
    e.merge_customers(a, b)?;
    let (x, y) = (e.id_of("a").unwrap(), e.id_of("b").unwrap());
    assert!(matches!(e.merge_customers(x, y), Err(Error::MergeSelf { .. })));
    Ok(())
}

#[test]
fn a_chain_of_merges_resolves_every_key_to_the_last() -> Result {
    let mut e = Engine::new();
    let [a, b, c] = ["a", "b", "c"].map(|k| e.customer(k).unwrap());
    e.tag(a, "from_a")?;
    assert_eq!(e.merge_customers(b, a)?.keys, ["a"]);
    assert_eq!(e.merge_customers(c, b)?.keys, ["a", "b"], "b's alias first, then b's key");
    assert_eq!((e.id_of("a"), e.id_of("b"), e.id_of("c")), (Some(c), Some(c), Some(c)));
    assert_eq!((e.key_of(c), e.key_aliases(c)?), (Some("c"), vec!["a", "b"]));
    assert_eq!(e.tags_of(c)?, ["from_a"]);
    assert_eq!(e.key_aliases(a), Err(Error::UnknownCustomer { id: a }));
    assert_eq!(e.customer_count(), 1);
    // The aliases go with their customer: the keys are free again.
    e.remove_customer(c)?;
    assert_eq!((e.id_of("a"), e.id_of("b"), e.id_of("c")), (None, None, None));
    let again = e.customer("a")?;
    assert!(![a, b, c].contains(&again), "a new customer with a new id");
    assert_eq!((e.key_of(again), e.tags_of(again)?), (Some("a"), vec![]));
    Ok(())
}

#[test]
fn an_alias_key_gives_the_customer_it_was_merged_into() -> Result {
    let mut e = Engine::new();
    let ann = e.customer("ünïcødé@例え.jp")?;
    let dup = e.customer("顾客-甲")?;
    e.tag(dup, "高消费")?;
    e.merge_customers(ann, dup)?;
    let count = e.customer_count();
    assert_eq!(e.customer("顾客-甲")?, ann, "no new customer");
    assert_eq!(e.customer_count(), count);
    assert_eq!(e.id_of("顾客-甲"), Some(ann));
    assert_eq!(e.key_of(ann), Some("ünïcødé@例え.jp"), "into keeps its own key");
    let again = e.customer("顾客-甲")?;
    assert_eq!(e.tags_of(again)?, ["高消费"]);
    Ok(())
}

#[test]
fn customers_registered_by_id_merge_too() -> Result {
    let mut e = Engine::new();
    let (dense, other) = (e.customer_id(7u32)?, e.customer_id(8u32)?);
    let keyed = e.customer("k")?;
    // from without a key: nothing to alias.
    let r = e.merge_customers(keyed, dense)?;
    assert!(r.keys.is_empty());
    assert_eq!((e.key_of(keyed), e.key_aliases(keyed)?), (Some("k"), vec![]));
    // into without a key: from's key resolves to it all the same.
    e.merge_customers(other, keyed)?;
    assert_eq!((e.id_of("k"), e.key_of(other), e.key_aliases(other)?), (Some(other), None, vec!["k"]));
    // A merged-away dense id may be registered anew by its owner: a customer with nothing.
    assert_eq!(e.customer_id(7u32)?, dense);
    assert!(e.tags_of(dense)?.is_empty());
    Ok(())
}

#[test]
fn expiry_days_follow_the_longer_assignment() -> Result {
    let mut e = Engine::new();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| e.customer(k).unwrap());
    e.tag_until(a, "trial", day(10))?;
    e.tag_until(b, "trial", day(20))?;
    e.tag_until(b, "promo", day(5))?;
    e.tag(c, "trial")?;
    e.tag_until(d, "trial", day(1))?;
    e.merge_customers(a, b)?;
    assert_eq!((e.expiry_of(a, "trial")?, e.expiry_of(a, "promo")?), (Some(day(20)), Some(day(5))));
    e.merge_customers(c, a)?;
    assert_eq!(e.expiry_of(c, "trial")?, None, "c carried it for good");
    e.merge_customers(d, c)?;
    assert_eq!(e.expiry_of(d, "trial")?, None, "c's permanent assignment outlasts d's day");
    assert_eq!(e.expire(day(30)), 1, "promo");
    assert_eq!(e.tags_of(d)?, ["trial"]);
    Ok(())
}

#[test]
fn derived_tags_are_computed_again_not_copied() -> Result {
    let mut e = Engine::new();
    prepare(&mut e)?;
    let (ann, bob) = (e.customer("ann")?, e.customer("bob")?);
    e.record_purchase(bob, day(5), money(10_000))?;
    e.tag(bob, "vip")?;
    e.set_attr(bob, "age", 45)?;
    e.refresh(day(10))?;
    assert_eq!(e.stage_of(bob)?, Some(Stage::New));
    assert!(e.tags_of(bob)?.contains(&RULE.0) && e.tags_of(bob)?.contains(&"campaign:adult"));
    let r = e.merge_customers(ann, bob)?;
    assert_eq!(r.tags, ["vip"], "no r:, rfm:, stage:, rule or plan tag");
    assert!(!e.tags_of(ann)?.iter().any(|t| t.starts_with("rfm:") || *t == RULE.0 || *t == "campaign:adult"));
    assert_eq!(e.attr(ann, "frequency")?, None, "derived attributes wait for the refresh");
    // Applying the plan again looks at ann (touched by the merge).
    let moved = e.apply_plan(PLAN_GROUP, &plan())?;
    assert_eq!(moved.entered("adult").map(|a| a.to_ids()), Some(vec![ann.0]));
    e.refresh_rules()?;
    assert!(e.tags_of(ann)?.contains(&RULE.0));
    let report = e.refresh(day(10))?;
    assert_eq!(e.stage_of(ann)?, Some(Stage::New));
    assert_eq!(e.rfm_of(ann)?.map(|s| (s.frequency, s.monetary)), Some((1, 10_000)));
    assert_eq!(e.attr(ann, "frequency")?, Some(1));
    assert_eq!(report.customers, 1);
    Ok(())
}

#[test]
fn the_change_feed_shows_into_gaining_and_from_leaving() -> Result {
    let mut e = Engine::new();
    e.define_exclusive_group("tier")?;
    let (into, from) = (e.customer("into")?, e.customer("from")?);
    e.tag(into, "tier:gold")?;
    e.tag(into, "app")?;
    e.tag(from, "tier:silver")?;
    e.tag(from, "app")?;
    e.tag(from, "vip")?;
    e.track_changes(true);
    e.merge_customers(into, from)?;
    let events: Vec<(char, String, Vec<u32>)> = e
        .changes()
        .into_iter()
        .map(|c| match c.event {
            ChangeEvent::TagAdded { tag, audience } => ('+', tag, audience.to_ids()),
            ChangeEvent::TagRemoved { tag, audience } => ('-', tag, audience.to_ids()),
            other => panic!("{other:?}"),
        })
        .collect();
    let want = [
        ('+', "vip".to_owned(), vec![into.0]),
        ('-', "app".to_owned(), vec![from.0]), // in tag id order
        ('-', "tier:silver".to_owned(), vec![from.0]),
        ('-', "vip".to_owned(), vec![from.0]),
    ];
    assert_eq!(events, want);
    Ok(())
}

#[test]
fn an_incremental_refresh_after_a_merge_equals_a_full_one() -> Result {
    let mut e = Engine::new();
    let cs: Vec<CustomerId> = (0..20).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
    for (i, &c) in cs.iter().enumerate() {
        for k in 0..(i % 4) {
            e.record_purchase(c, day((i * 7 + k * 30) as i32 % 200), money(100 * (i as i64 + 1)))?;
        }
    }
    e.refresh(day(200))?;
    e.merge_customers(cs[1], cs[2])?;
    e.merge_customers(cs[3], cs[4])?; // from without purchases (4 % 4 = 0)
    e.merge_customers(cs[4 + 1], cs[3])?; // a chain
    let incremental = e.refresh(day(210))?;
    assert!(incremental.incremental, "the incremental path");
    let mut rebuilt = Engine::new();
    for &c in &cs {
        if e.is_customer(c) {
            let r = rebuilt.customer(e.key_of(c).unwrap())?;
            rebuilt.record_purchases(e.purchases_of(c)?.into_iter().map(|p| (r, p.day, p.amount)))?;
        }
    }
    let fresh = rebuilt.refresh(day(210))?;
    assert_eq!(incremental.stages, fresh.stages);
    assert_eq!(incremental.segments, fresh.segments);
    for &c in &cs {
        if e.is_customer(c) {
            let r = rebuilt.id_of(e.key_of(c).unwrap()).unwrap();
            assert_eq!(format!("{:?}", e.rfm_of(c)?), format!("{:?}", rebuilt.rfm_of(r)?), "{c}");
            assert_eq!(e.stage_of(c)?, rebuilt.stage_of(r)?);
        }
    }
    assert!(!e.is_customer(cs[2]) && e.rfm_of(cs[2]).is_err());
    Ok(())
}
