//! Who are they? A store's customers understood: one customer's whole picture, what makes
//! the churned VIPs different, where they live, two records of one person merged, and a
//! gender column that arrived spelled five ways.
//!
//! ```sh
//! cargo run --release --example profiles
//! ```
//!
//! What it shows, in order:
//!
//! 1. 2,000 customers of a sports store with a region (an exclusive group), interests (a
//!    hierarchy under `interest/`), behaviors, some VIPs, a gender column exported by three
//!    systems (`男`, `M`, `male`, `女`, `F`, ...) and a year of purchases; refreshed as of
//!    2024-11-30, so RFM scores and lifecycle stages (`stage:churned`, ...) are tags.
//! 2. The gender spellings normalized: each raw value is an alias of `gender:male` or
//!    `gender:female`, so the raw column loads as it is (`tag_pairs`) and queries may use any
//!    spelling.
//! 3. What makes the churned VIPs different (`describe`: the tags that over-index in the
//!    audience, by lift), and where they live (`breakdown` by region).
//! 4. A win-back campaign: a rule tag `lapsed_vip` and an expiring `coupon/winback` tag.
//! 5. One churned VIP's profile, as a card (`Display`) and as JSON (`Serialize`).
//! 6. The churned VIPs against the active ones (`compare`).
//! 7. An identity merge: a guest checkout turns out to be that customer; the guest's tags
//!    and purchases move over, the guest key becomes an alias, and the next refresh scores
//!    the merged history.
//!
//! The data is synthetic and deterministic (a seeded splitmix64): every run prints the same.

use audience::{CustomerId, Day, DescribeOptions, Engine, Money, TagKind};

#[path = "support/rng.rs"]
mod rng;
use rng::SplitMix64;

const CUSTOMERS: u32 = 2_000;
const SEED: u64 = 0x9_2024;
const REGIONS: [&str; 4] = ["region:north", "region:south", "region:east", "region:west"];
const INTERESTS: [&str; 5] =
    ["interest/outdoor/hiking", "interest/outdoor/camping", "interest/running", "interest/cycling", "interest/yoga"];
/// The gender column as three systems exported it.
const GENDER_SPELLINGS: [(&str, &str); 6] = [
    ("男", "gender:male"),
    ("M", "gender:male"),
    ("male", "gender:male"),
    ("女", "gender:female"),
    ("F", "gender:female"),
    ("female", "gender:female"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = SplitMix64(SEED);
    let mut engine = Engine::new();
    let day = |s: &str| s.parse::<Day>();
    let (first, november) = (day("2023-12-01")?, day("2024-11-30")?);

    // 1. The tag pool: kinds, one exclusive group per single-choice attribute.
    engine.define_exclusive_group_with_kind("region", TagKind::Attribute)?;
    engine.define_exclusive_group_with_kind("gender", TagKind::Attribute)?;
    for name in INTERESTS {
        engine.define_tag(name, TagKind::Interest)?;
    }
    engine.define_tag("returned_goods", TagKind::Behavior)?;
    engine.define_tag("app_user", TagKind::Behavior)?;
    engine.define_tag("vip", TagKind::Value)?;
    engine.define_tag("gender:male", TagKind::Attribute)?;
    engine.define_tag("gender:female", TagKind::Attribute)?;

    // 2. Normalization first, so the raw column loads as it is.
    for (raw, tag) in GENDER_SPELLINGS {
        engine.alias_tag(raw, tag)?;
    }

    let mut customers = Vec::with_capacity(CUSTOMERS as usize);
    let mut pairs: Vec<(CustomerId, &str)> = Vec::new();
    let mut purchases = Vec::new();
    for i in 0..CUSTOMERS {
        let c = engine.customer(&format!("cust-{i:05}"))?;
        customers.push(c);
        // The north skews outdoor and VIP; VIPs who churned skew to returned goods.
        let region = rng.below(4) as usize;
        pairs.push((c, REGIONS[region]));
        pairs.push((c, GENDER_SPELLINGS[rng.below(6) as usize].0));
        let vip = rng.below(100) < if region == 0 { 20 } else { 8 };
        if vip {
            pairs.push((c, "vip"));
        }
        for (k, interest) in INTERESTS.iter().enumerate() {
            let outdoor = k < 2 && region == 0;
            if rng.below(100) < if outdoor { 45 } else { 15 } {
                pairs.push((c, interest));
            }
        }
        if rng.below(100) < 30 {
            pairs.push((c, "app_user"));
        }
        // Some stop buying long ago (churned): more of them returned goods.
        let churner = rng.below(100) < 35;
        if rng.below(100) < if churner { 40 } else { 8 } {
            pairs.push((c, "returned_goods"));
        }
        let stop = plus(november, -(rng.below(if churner { 330 } else { 60 }) as i32));
        let orders = 1 + rng.below(if vip { 12 } else { 5 });
        for _ in 0..orders {
            let span = (stop.days_since_epoch() - first.days_since_epoch()).max(1) as u64;
            let amount = Money::from_minor(1_500 + 700 * rng.below(if vip { 60 } else { 20 }) as i64)?;
            purchases.push((c, plus(first, rng.below(span) as i32), amount));
        }
    }
    engine.tag_pairs(pairs)?;
    engine.record_purchases(purchases)?;
    engine.refresh(november)?;
    println!("{} customers, refreshed as of {november}", engine.customer_count());
    let genders: Vec<String> = ["gender:male", "gender:female"]
        .iter()
        .map(|g| Ok(format!("{g} {} (aliases: {})", engine.count(*g)?, engine.aliases_of(g)?.join(", "))))
        .collect::<Result<_, audience::Error>>()?;
    println!("  gender, normalized: {}", genders.join("; "));
    println!("  `男 AND vip` is `gender:male AND vip`: {} customers", engine.count("男 AND vip")?);

    // 3. What makes the churned VIPs different, and where they live. The refresh's own
    //    tags (`r:`, `f:`, `m:`, `rfm:`, `stage:`) over-index by construction: leave them out
    //    with the query's operands, to see the business tags.
    let query = "vip AND stage:churned";
    let churned_vips = engine.query(query)?;
    let derived: Vec<String> = ["r:", "f:", "m:", "rfm:", "stage:"]
        .iter()
        .flat_map(|p| engine.tags_with_prefix(p).map(|t| t.name.to_owned()).collect::<Vec<_>>())
        .collect();
    let mut options = DescribeOptions::new();
    options.top(6).min_count(5).exclude(audience::Query::parse(query)?.tag_names()).exclude(&derived);
    let d = engine.describe(&churned_vips, &options);
    println!("\n{query}: {} customers, {:.1}% of {}", d.size, 100.0 * d.share(), d.live);
    println!("  {:<26} {:>5} {:>6} {:>6}", "over-indexing tag", "in", "all", "lift");
    for t in &d.tags {
        println!("  {:<26} {:>5} {:>6} {:>6.2}", t.tag, t.count, t.total, t.lift);
    }
    let by_region = engine.breakdown(&churned_vips, "region")?;
    println!("  by region:");
    for (region, n) in &by_region.parts {
        println!("    {region:<14} {n:>4}  {:>5.1}%", 100.0 * by_region.share(region));
    }

    // 4. A win-back campaign: a rule tag keeps the lapsed VIPs, and each gets a coupon tag
    //    that expires in two weeks.
    engine.define_rule_tag("lapsed_vip", "vip AND (stage:churned OR stage:at_risk)")?;
    engine.tag_all_until(&churned_vips, "coupon/winback", day("2024-12-14")?)?;

    // 5. One of them, whole: as a card (Display) and as JSON (Serialize).
    let ann = churned_vips.iter().next().expect("churned VIPs in this store");
    let profile = engine.profile(ann)?;
    println!("\n{profile}");
    println!("\nas JSON:\n{}", serde_json::to_string_pretty(&profile)?);

    // 6. Churned VIPs against active ones.
    let active_vips = engine.query("vip AND (stage:active OR stage:new OR stage:reactivated)")?;
    let mut options = DescribeOptions::new();
    options.top(5).min_count(5).exclude(["vip", "lapsed_vip", "coupon/winback", "coupon"]).exclude(&derived);
    let c = engine.compare_with(&churned_vips, &active_vips, &options);
    println!("\nchurned VIPs ({}) against active VIPs ({}): overlap {}", c.a, c.b, c.both);
    for t in &c.tags {
        println!(
            "  {:<26} {:>5.1}% against {:>5.1}%  ({:+.1} points)",
            t.tag,
            100.0 * t.share_a,
            100.0 * t.share_b,
            100.0 * t.difference()
        );
    }

    // 7. A guest checkout is Ann: merge it into her record.
    let guest = engine.customer("guest-checkout-4411")?;
    engine.tag(guest, "app_user")?;
    engine.record_purchase(guest, day("2024-11-20")?, Money::parse("89.00")?)?;
    let before = engine.profile(ann)?.purchases.count;
    let merged = engine.merge_customers(ann, guest)?;
    engine.refresh(november)?;
    let after = engine.profile(ann)?;
    println!(
        "\nmerged {:?} into {:?}: gained tags {:?}, {} purchase(s) moved ({before} -> {}); \
         the guest key now finds customer {}; stage after the refresh: {}",
        merged.keys.last().map(String::as_str).unwrap_or_default(),
        after.key.as_deref().unwrap_or_default(),
        merged.tags,
        merged.purchases,
        after.purchases.count,
        engine.id_of("guest-checkout-4411").map_or(u32::MAX, |c| c.0),
        after.stage.map_or("-".to_owned(), |s| s.to_string()),
    );
    Ok(())
}

/// `d` moved by `days`.
fn plus(d: Day, days: i32) -> Day {
    Day::from_days_since_epoch(d.days_since_epoch() + days).expect("within the calendar")
}
