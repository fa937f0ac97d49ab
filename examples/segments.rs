//! A store's campaign buckets over a month: a segment plan kept as data (JSON), a rule tag,
//! expiring coupon tags, and the change feed that tells the application whom to message.
//!
//! ```sh
//! cargo run --release --example segments
//! ```
//!
//! What it shows, in order:
//!
//! 1. 3,000 customers with a year of purchases (some tagged `vip`), refreshed as of
//!    2024-11-30: RFM scores and lifecycle stages become tags (`rfm:`, `f:`, `stage:`) and
//!    attributes (`monetary`).
//! 2. A rule tag, `high_value` ("monetary >= 40000 AND (f:4 OR f:5)"): a saved audience,
//!    kept equal to its query by every refresh.
//! 3. The campaign plan, read from JSON: `champions`, `at_risk_vip` (at-risk customers who
//!    are VIPs or high value: it reads the rule tag, so it is computed after it),
//!    `new_customers`, and `everyone_else`. Applied as the exclusive group `campaign`, so
//!    `campaign:at_risk_vip AND NOT coupon/winback` is a query.
//! 4. The change feed turned on; coupons handed out as expiring tags: `coupon/winback` to the
//!    at-risk VIPs until 2024-12-15, `coupon/gift` to the champions until 2025-01-01.
//! 5. A month of December orders (coupon holders come back more often), then a refresh as
//!    of 2024-12-31: the winback coupons expire, stages move, the rule tag and the plan are
//!    computed again. The report says who moved; the drained feed lists every change as
//!    the application would act on it.
//!
//! The data is synthetic and deterministic (a seeded splitmix64): every run prints the same.

use audience::{ChangeEvent, CustomerId, Day, Engine, Money, SegmentPlan, TagKind};

#[path = "support/rng.rs"]
mod rng;
use rng::SplitMix64;

const CUSTOMERS: u32 = 3_000;
const SEED: u64 = 0x5E6_2024;

/// The campaign plan as the marketing team keeps it: data, versioned next to the campaign.
const PLAN_JSON: &str = r#"{
  "rules": [
    {"name": "champions",     "query": "rfm:champions"},
    {"name": "at_risk_vip",   "query": "stage:at_risk AND (vip OR high_value)"},
    {"name": "new_customers", "query": "stage:new"}
  ],
  "fallback": "everyone_else"
}"#;

fn main() -> Result<(), audience::Error> {
    let mut rng = SplitMix64(SEED);
    let mut engine = Engine::new();
    let day = |s: &str| s.parse::<Day>();
    let (first, november) = (day("2023-12-01")?, day("2024-11-30")?);

    // 1. Customers, VIPs, a year of purchases.
    engine.define_tag("vip", TagKind::Value)?;
    let mut customers = Vec::with_capacity(CUSTOMERS as usize);
    for i in 0..CUSTOMERS {
        let c = engine.customer(&format!("cust-{i:05}"))?;
        customers.push(c);
        if rng.below(100) < 8 {
            engine.tag(c, "vip")?;
        }
    }
    let mut purchases = Vec::new();
    for &c in &customers {
        // Customers stop buying at different times: some long ago (churned), some lately
        // (at risk), most recently; a few start late (new).
        let orders = rng.below(12);
        let start = plus(first, rng.below(330) as i32);
        let stop = plus(november, -(rng.below(200) as i32));
        for _ in 0..orders {
            let span = (stop.days_since_epoch() - start.days_since_epoch()).max(1) as u64;
            let when = plus(start, rng.below(span) as i32);
            purchases.push((c, when, Money::from_minor(1_000 + 500 * rng.below(30) as i64)?));
        }
    }
    engine.record_purchases(purchases)?;
    let report = engine.refresh(november)?;
    println!("{} customers, refreshed as of {november}:", report.customers);
    let stages: Vec<String> = report.stages.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("  stages: {}", stages.join(", "));

    // 2. A rule tag: a saved audience the plan can read.
    engine.define_rule_tag("high_value", "monetary >= 40000 AND (f:4 OR f:5)")?;
    println!("  rule tag high_value: {} customers", engine.count("high_value")?);

    // 3. The plan, from JSON, applied as the group `campaign`.
    let plan: SegmentPlan = serde_json::from_str(PLAN_JSON).expect("the plan in this file is valid JSON");
    engine.apply_plan("campaign", &plan)?;
    println!("\ncampaign plan (first matching rule wins):\n{plan}");
    print_segments(&engine, &plan)?;

    // 4. The feed on; coupons that expire.
    engine.track_changes(true);
    let winback_until = day("2024-12-15")?;
    let winback = engine.tag_all_until(&engine.query("campaign:at_risk_vip")?, "coupon/winback", winback_until)?;
    let gift = engine.tag_all_until(&engine.query("campaign:champions")?, "coupon/gift", day("2025-01-01")?)?;
    println!("\ncoupons: {winback} winback (until {winback_until}), {gift} gift (until 2025-01-01)");
    let holder = engine.query("coupon/winback")?.iter().next();
    if let Some(c) = holder {
        let until = engine.expiry_of(c, "coupon/winback")?.map(|d| d.to_string()).unwrap_or_default();
        println!("  e.g. {} holds coupon/winback until {until}", key(&engine, c));
    }

    // 5. December: orders come in (coupon holders more often), then the month-end refresh.
    let coupons = engine.query("coupon")?;
    let mut december = Vec::new();
    for &c in &customers {
        let chance = if coupons.contains(c) { 45 } else { 12 };
        if rng.below(100) < chance {
            let when = plus(day("2024-12-01")?, rng.below(30) as i32);
            december.push((c, when, Money::from_minor(2_000 + 500 * rng.below(20) as i64)?));
        }
    }
    engine.record_purchases(december.iter().copied())?;
    let month_end = day("2024-12-31")?;
    let report = engine.refresh(month_end)?;
    println!("\n{} December orders; refreshed as of {month_end}:", december.len());
    println!("  expired tag assignments: {}", report.expired);
    for t in &report.transitions {
        let from = t.from.map_or("(none)".to_owned(), |s| s.to_string());
        println!("  stage {from} -> {}: {}", t.to, t.count);
    }
    for r in &report.rules {
        println!("  rule tag {}: +{} -{}", r.name, r.added.len(), r.removed.len());
    }
    for (group, diff) in &report.plans {
        for m in diff.moves() {
            let (from, to) = (m.from.as_deref().unwrap_or("(none)"), m.to.as_deref().unwrap_or("(none)"));
            println!("  {group}: {from} -> {to}: {}", m.audience.len());
        }
    }
    print_segments(&engine, &plan)?;
    println!("  at-risk VIPs without a live coupon: {}", engine.count("campaign:at_risk_vip AND NOT coupon")?);

    // The feed, as the application reads it: one line per event, a few keys each. The
    // score and RFM-segment tags (`r:`, `f:`, `m:`, `rfm:`) move by the hundred at every
    // refresh; they are summed up in one line.
    let changes = engine.changes();
    println!("\nchange feed: {} events", changes.len());
    let mut scores = (0, 0);
    for change in &changes {
        let (what, audience) = match &change.event {
            ChangeEvent::TagAdded { tag, audience } | ChangeEvent::TagRemoved { tag, audience }
                if ["r:", "f:", "m:", "rfm:"].iter().any(|p| tag.starts_with(p)) =>
            {
                scores = (scores.0 + 1, scores.1 + audience.len());
                continue;
            }
            ChangeEvent::TagAdded { tag, audience } => (format!("+ {tag}"), audience),
            ChangeEvent::TagRemoved { tag, audience } => (format!("- {tag}"), audience),
            ChangeEvent::SegmentMoved { group, from, to, audience } => {
                let (from, to) = (from.as_deref().unwrap_or("(none)"), to.as_deref().unwrap_or("(none)"));
                (format!("{group}: {from} -> {to}"), audience)
            }
            ChangeEvent::StageChanged { from, to, audience } => {
                (format!("stage: {} -> {to}", from.map_or("(none)".to_owned(), |s| s.to_string())), audience)
            }
            other => (format!("{other:?}"), other.audience()),
        };
        let some: Vec<&str> = audience.iter().take(3).map(|c| key(&engine, c)).collect();
        let more = if audience.len() > 3 { ", ..." } else { "" };
        println!("  #{:<3} {what:<40} {:>5}  {}{more}", change.seq, audience.len(), some.join(", "));
    }
    println!("  ({} more events moved {} customers between r:, f:, m: and rfm: tags)", scores.0, scores.1);
    Ok(())
}

/// Segment sizes in plan order, read back through the query language.
fn print_segments(engine: &Engine, plan: &SegmentPlan) -> Result<(), audience::Error> {
    let sizes: Vec<String> = plan
        .names()
        .map(|s| Ok(format!("{s} {}", engine.count(&format!("campaign:{s}"))?)))
        .collect::<Result<_, audience::Error>>()?;
    println!("  campaign: {}", sizes.join(", "));
    Ok(())
}

/// `d` plus `n` days (the example's days are well inside the calendar).
fn plus(d: Day, n: i32) -> Day {
    d.checked_add_days(n).expect("a day inside the calendar")
}

fn key(engine: &Engine, c: CustomerId) -> &str {
    engine.key_of(c).unwrap_or("?")
}
