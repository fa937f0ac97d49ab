//! `Engine::profile` against a naive model: after random tagging (kinds, an exclusive group,
//! a hierarchy, Unicode names), attributes, purchases, an expiring tag, a rule tag, an
//! applied segment plan and an optional refresh, every field of every live customer's
//! profile equals what the model says; plus the printed card, the JSON shape and the errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use audience::{CustomerId, Day, Engine, Error, Money, SegmentPlan, Stage, TagKind};
use common::config;
use common::reference::{MODELS, Rec, WINDOWS, lifecycle, reference};
use proptest::prelude::*;

/// (name, kind): `tier:*` is an exclusive group; `sports/*` a hierarchy.
const TAGS: [(&str, TagKind); 6] = [
    ("vip", TagKind::Value),
    ("高消费", TagKind::Value),
    ("sports/run", TagKind::Interest),
    ("returned", TagKind::Behavior),
    ("tier:gold", TagKind::Attribute),
    ("tier:silver", TagKind::Attribute),
];
const ATTRS: [&str; 2] = ["age", "积分"];
const N: u32 = 12;

fn day(d: i32) -> Day {
    Day::from_days_since_epoch(19_000 + d).unwrap()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn profile_equals_the_model(
        tagging in prop::collection::vec((0..N, 0..TAGS.len()), 0..50),
        untagging in prop::collection::vec((0..N, 0..TAGS.len()), 0..8),
        attrs in prop::collection::vec((0..N, 0..ATTRS.len(), -50i64..50), 0..20),
        purchases in prop::collection::vec((0..N, 0..300i32, -5_000i64..20_000), 0..40),
        expiring in prop::collection::vec((0..N, 0..400i32), 0..5),
        removed in prop::collection::btree_set(0..N, 0..3),
        refresh_on in prop::option::of(0..400i32),
    ) {
        let mut e = Engine::new();
        e.set_lifecycle(lifecycle(WINDOWS[0]));
        e.set_rfm_model(MODELS[0].rfm_model());
        e.define_exclusive_group("tier").unwrap();
        for (name, kind) in TAGS {
            e.define_tag(name, kind).unwrap();
        }
        e.define_tag("promo", TagKind::Behavior).unwrap();
        let ids: Vec<CustomerId> = (0..N).map(|c| e.customer(&format!("客户{c}")).unwrap()).collect();
        let mut tags: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
        for &(c, t) in &tagging {
            let name = TAGS[t].0;
            e.tag(ids[c as usize], name).unwrap();
            let mine = tags.entry(c).or_default();
            if name.starts_with("tier:") {
                mine.retain(|n| !n.starts_with("tier:"));
            }
            mine.insert(name);
        }
        for &(c, t) in &untagging {
            e.untag(ids[c as usize], TAGS[t].0).unwrap();
            tags.entry(c).or_default().remove(TAGS[t].0);
        }
        let mut attr: BTreeMap<u32, BTreeMap<&str, i64>> = BTreeMap::new();
        for &(c, a, v) in &attrs {
            e.set_attr(ids[c as usize], ATTRS[a], v).unwrap();
            attr.entry(c).or_default().insert(ATTRS[a], v);
        }
        let mut bought: BTreeMap<u32, Vec<(i32, i64)>> = BTreeMap::new();
        for &(c, d, amount) in &purchases {
            e.record_purchase(ids[c as usize], day(d), Money::from_minor(amount).unwrap()).unwrap();
            bought.entry(c).or_default().push((d, amount));
        }
        let mut until: BTreeMap<u32, i32> = BTreeMap::new();
        for &(c, d) in &expiring {
            e.tag_until(ids[c as usize], "promo", day(d)).unwrap();
            let later = until.get(&c).map_or(d, |&old| old.max(d)); // the later day wins
            until.insert(c, later);
            tags.entry(c).or_default().insert("promo");
        }
        e.define_rule_tag("big_spender", "vip OR 高消费").unwrap();
        let plan = SegmentPlan::new([("runners", "sports"), ("golden", "tier:gold")], "others").unwrap();
        e.apply_plan("campaign", &plan).unwrap();
        for &c in &removed {
            e.remove_customer(ids[c as usize]).unwrap();
        }
        if let Some(d) = refresh_on {
            e.refresh(day(d)).unwrap();
            // The refresh expires what is due by its day.
            for (c, u) in &until {
                if *u <= d {
                    tags.entry(*c).or_default().remove("promo");
                }
            }
            until.retain(|_, u| *u > d);
        }

        for c in 0..N {
            let id = ids[c as usize];
            if removed.contains(&c) {
                let gone = matches!(e.profile(id), Err(Error::UnknownCustomer { .. }));
                prop_assert!(gone);
                continue;
            }
            let p = e.profile(id).unwrap();
            let mine = tags.get(&c).cloned().unwrap_or_default();
            prop_assert_eq!(p.customer, id);
            prop_assert_eq!(p.key.clone(), Some(format!("客户{c}")));
            prop_assert!(p.aliases.is_empty());

            // Hand tags, by kind; then what the layers derived is listed too.
            let mut want_tags: BTreeMap<TagKind, Vec<String>> = BTreeMap::new();
            let kind_of = |n: &str| TAGS.iter().find(|t| t.0 == n).map_or(TagKind::Behavior, |t| t.1);
            for n in &mine {
                want_tags.entry(kind_of(n)).or_default().push(n.to_string());
            }
            let big = mine.contains("vip") || mine.contains("高消费");
            let segment = if mine.contains("sports/run") {
                "campaign:runners"
            } else if mine.contains("tier:gold") {
                "campaign:golden"
            } else {
                "campaign:others"
            };
            let derived: BTreeSet<String> = e.tags_of(id).unwrap().into_iter().map(str::to_owned).collect();
            let listed: BTreeSet<String> = p.tags.values().flatten().cloned().collect();
            prop_assert_eq!(&listed, &derived, "every tag the customer carries, once");
            for (kind, names) in &p.tags {
                prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted by name");
                for n in names {
                    prop_assert_eq!(e.tag_info(n).unwrap().kind, *kind);
                }
            }
            for (kind, names) in &want_tags {
                for n in names {
                    prop_assert!(p.tags[kind].contains(n), "{} under {}", n, kind);
                }
            }
            prop_assert_eq!(p.rule_tags.clone(), if big { vec!["big_spender".to_owned()] } else { vec![] });
            prop_assert_eq!(p.segments.clone(), BTreeMap::from([("campaign".to_owned(), segment.to_owned())]));
            let tier = mine.iter().find(|n| n.starts_with("tier:"));
            prop_assert_eq!(p.groups.clone(), tier.map(|t| ("tier".to_owned(), t.to_string())).into_iter().collect::<BTreeMap<_, _>>());
            // Hand attributes, and those the refresh derives (recency_days, frequency,
            // monetary) as the engine holds them.
            for (n, v) in attr.get(&c).into_iter().flatten() {
                prop_assert_eq!(p.attributes.get(*n), Some(v));
            }
            let held: BTreeMap<String, i64> = e.attrs_of(id).unwrap().into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
            prop_assert_eq!(&p.attributes, &held);
            for n in p.attributes.keys() {
                prop_assert!(ATTRS.contains(&n.as_str()) || ["recency_days", "frequency", "monetary"].contains(&n.as_str()));
            }
            let want_expiring: BTreeMap<String, Day> = until.get(&c).map(|&d| ("promo".to_owned(), day(d))).into_iter().collect();
            prop_assert_eq!(&p.expiring, &want_expiring);

            let records = bought.get(&c).cloned().unwrap_or_default();
            let buys: Vec<i32> = records.iter().filter(|r| r.1 >= 0).map(|r| r.0).collect();
            prop_assert_eq!(p.purchases.count, buys.len() as u64);
            prop_assert_eq!(p.purchases.refunds, (records.len() - buys.len()) as u64);
            prop_assert_eq!(p.purchases.total_minor, records.iter().map(|r| i128::from(r.1)).sum::<i128>());
            prop_assert_eq!(p.purchases.first, buys.iter().min().map(|&d| day(d)));
            prop_assert_eq!(p.purchases.last, buys.iter().max().map(|&d| day(d)));

            // The models: as the reference model computes them from the definitions, and as
            // the engine reports them one by one.
            prop_assert_eq!(p.as_of, refresh_on.map(day));
            if let Some(d) = refresh_on {
                let live: BTreeSet<u32> = (0..N).filter(|c| !removed.contains(c)).collect();
                let recs: Vec<Rec> = purchases
                    .iter()
                    .filter(|r| !removed.contains(&r.0))
                    .map(|&(c, d, amount)| Rec { c, day: 19_000 + d, amount })
                    .collect();
                let want = reference(&live, &recs, 19_000 + d, WINDOWS[0], MODELS[0]);
                let w = &want[&c];
                prop_assert_eq!(p.stage, Some(w.stage));
                let got = p.rfm.as_ref().map(|r| (r.recency_days, r.frequency, r.monetary, r.r, r.f, r.m, r.segment.clone()));
                prop_assert_eq!(got, w.rfm.clone());
            }
            prop_assert_eq!(p.stage, e.stage_of(id).unwrap());
            let rfm = e.rfm_of(id).unwrap();
            prop_assert_eq!(p.rfm.as_ref().map(|r| (r.r, r.f, r.m, r.segment.clone(), r.monetary)),
                rfm.map(|r| (r.r, r.f, r.m, r.segment.to_owned(), r.monetary)));
            if refresh_on.is_some() {
                prop_assert!(p.stage.is_some());
            }
        }
    }
}

fn store() -> (Engine, CustomerId) {
    let mut e = Engine::new();
    e.define_exclusive_group_with_kind("region", TagKind::Attribute).unwrap();
    e.define_tag("vip", TagKind::Value).unwrap();
    e.define_tag("sports/running", TagKind::Interest).unwrap();
    let ann = e.customer("ann@example.com").unwrap();
    e.tag(ann, "region:north").unwrap();
    e.tag(ann, "vip").unwrap();
    e.tag(ann, "sports/running").unwrap();
    e.tag_until(ann, "promo:spring", Day::from_ymd(2024, 7, 15).unwrap()).unwrap();
    e.set_attr(ann, "age", 34).unwrap();
    for (d, amount) in [("2024-01-10", "80.00"), ("2024-05-01", "120.00"), ("2024-05-03", "-20.00")] {
        e.record_purchase(ann, d.parse::<Day>().unwrap(), amount.parse::<Money>().unwrap()).unwrap();
    }
    e.define_rule_tag("runners", "sports").unwrap();
    e.apply_plan("campaign", &SegmentPlan::new([("vips", "vip")], "rest").unwrap()).unwrap();
    e.refresh(Day::from_ymd(2024, 6, 30).unwrap()).unwrap();
    (e, ann)
}

#[test]
fn the_card_prints_every_field() {
    let (e, ann) = store();
    let p = e.profile(ann).unwrap();
    let card = p.to_string();
    // One customer: every score is 1 (the quintiles of one), so the RFM segment is the
    // lowest; the refresh's tags (r:, f:, m:, rfm:, stage:) and attributes are listed too.
    let want = "customer 0 \"ann@example.com\"
  tags        attribute: region:north
              interest: sports/running
              lifecycle: stage:active
              value: f:1, m:1, r:1, rfm:hibernating, vip
              custom: campaign:vips, promo:spring, runners
  groups      region = region:north
  attributes  age = 34
              frequency = 2
              monetary = 18000
              recency_days = 60
  rfm         R1 F1 M1 hibernating (as of 2024-06-30: 60 days, 2 purchases, 180.00)
  stage       active
  purchases   2, total 180.00, 1 refund, first 2024-01-10, last 2024-05-01
  segments    campaign = campaign:vips
  rule tags   runners
  expiring    promo:spring until 2024-07-15";
    assert_eq!(card, want, "\n{card}");
    assert_eq!(p.stage, Some(Stage::Active));
}

#[test]
fn json_writes_days_and_amounts_as_text() {
    let (e, ann) = store();
    let p = e.profile(ann).unwrap();
    let json: serde_json::Value = serde_json::to_value(&p).unwrap();
    assert_eq!(json["customer"], 0);
    assert_eq!(json["key"], "ann@example.com");
    assert_eq!(json["tags"]["interest"], serde_json::json!(["sports/running"]));
    assert_eq!(json["groups"]["region"], "region:north");
    assert_eq!(json["attributes"]["age"], 34);
    assert_eq!(json["as_of"], "2024-06-30");
    assert_eq!(json["stage"], "active");
    assert_eq!(json["rfm"]["monetary"], "180.00");
    assert_eq!(json["rfm"]["frequency"], 2);
    assert_eq!(
        json["purchases"],
        serde_json::json!({"count": 2, "refunds": 1, "total": "180.00", "first": "2024-01-10", "last": "2024-05-01"})
    );
    assert_eq!(json["segments"]["campaign"], "campaign:vips");
    assert_eq!(json["rule_tags"], serde_json::json!(["runners"]));
    assert_eq!(json["expiring"]["promo:spring"], "2024-07-15");
}

#[test]
fn a_bare_customer_has_an_empty_profile() {
    let mut e = Engine::new();
    let id = e.customer_id(u32::MAX - 1).unwrap();
    let p = e.profile(id).unwrap();
    assert_eq!((p.key.as_deref(), p.tags.len(), p.rfm.as_ref(), p.stage, p.as_of), (None, 0, None, None, None));
    assert_eq!(p.purchases.count + p.purchases.refunds, 0);
    assert_eq!(p.to_string(), format!("customer {}", u32::MAX - 1));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["purchases"]["first"], serde_json::Value::Null);
    assert_eq!(json["purchases"]["total"], "0.00");
    assert!(p.aliases.is_empty());
    // Unknown and removed customers are errors.
    assert!(matches!(e.profile(CustomerId(3)), Err(Error::UnknownCustomer { .. })));
    e.remove_customer(id).unwrap();
    assert!(matches!(e.profile(id), Err(Error::UnknownCustomer { .. })));
}

#[test]
fn merged_keys_show_as_aliases() {
    let (mut e, ann) = store();
    let guest = e.customer("guest-42").unwrap();
    let other = e.customer("访客-7").unwrap();
    e.tag(guest, "newsletter").unwrap();
    e.merge_customers(ann, guest).unwrap();
    e.merge_customers(ann, other).unwrap();
    let p = e.profile(ann).unwrap();
    assert_eq!(p.aliases, ["guest-42", "访客-7"]);
    assert!(p.to_string().starts_with("customer 0 \"ann@example.com\" (also \"guest-42\", \"访客-7\")\n"));
    assert!(p.tags[&TagKind::Custom].contains(&"newsletter".to_owned()));
    assert_eq!(serde_json::to_value(&p).unwrap()["aliases"], serde_json::json!(["guest-42", "访客-7"]));
    assert!(matches!(e.profile(guest), Err(Error::UnknownCustomer { .. })));
}
