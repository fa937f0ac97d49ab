//! A small outdoor-gear store: define a tag pool, tag customers, ask who they are.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use audience::{Day, Engine, Money, Query, TagKind};

fn main() -> Result<(), audience::Error> {
    let mut engine = Engine::new();

    // The managed tag pool: kinds, single-choice groups, a hierarchy of interests.
    engine.define_tag("vip", TagKind::Value)?;
    engine.define_tag("高消费", TagKind::Value)?; // "high spend"
    engine.define_tag("returned goods", TagKind::Behavior)?;
    engine.define_tag("bought twice", TagKind::Behavior)?;
    engine.define_tag("interest/outdoor", TagKind::Interest)?;
    engine.define_tag("interest/sports", TagKind::Interest)?;
    engine.define_exclusive_group_with_kind("age", TagKind::Attribute)?;
    engine.define_exclusive_group_with_kind("region", TagKind::Attribute)?;

    // Customers: tags, and purchase history (day, amount; a negative amount is a refund).
    type Row<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let customers: &[Row] = &[
        (
            "ana@example.com",
            &["vip", "高消费", "interest/outdoor/hiking", "age:25-34", "region:north"],
            &[("2026-03-10", "200.00"), ("2026-06-01", "80.00"), ("2026-10-20", "120.00")],
        ),
        (
            "ben@example.com",
            &["interest/sports/running", "bought twice", "age:35-44", "region:south"],
            &[("2026-05-02", "30.00"), ("2026-09-15", "45.00")],
        ),
        (
            "chen@example.com",
            &["vip", "interest/sports/running", "age:25-34", "region:east"],
            &[("2025-09-01", "300.00"), ("2026-10-05", "150.00")], // back after 13 months
        ),
        (
            "dana@example.com",
            &["returned goods", "age:45-54", "region:north"],
            &[("2025-12-01", "60.00"), ("2026-01-10", "-60.00")],
        ),
        (
            "eli@example.com",
            &["interest/outdoor/camping", "bought twice", "age:18-24", "region:west"],
            &[("2026-10-25", "35.00")],
        ),
        (
            "fay@example.com",
            &["vip", "interest/outdoor/camping", "interest/sports/cycling", "age:35-44"],
            &[("2026-02-14", "90.00"), ("2026-08-01", "250.00"), ("2026-10-30", "500.00")],
        ),
        (
            "gus@example.com",
            &["高消费", "returned goods", "age:25-34", "region:south"],
            &[("2026-05-01", "120.00"), ("2026-06-20", "400.00")],
        ),
        ("hana@example.com", &["interest/sports/running", "age:18-24", "region:east"], &[]), // never bought
    ];
    for (key, tags, purchases) in customers {
        let id = engine.customer(key)?;
        for tag in *tags {
            engine.tag(id, tag)?;
        }
        for (day, amount) in *purchases {
            engine.record_purchase(id, day.parse::<Day>()?, Money::parse(amount)?)?;
        }
    }

    // RFM scores, RFM segments and lifecycle stages as of a date, stored as tags (r:5, f:3,
    // rfm:champions, stage:at_risk) and attributes (recency_days, frequency, monetary).
    let report = engine.refresh(Day::from_ymd(2026, 11, 1)?)?;
    let stages: Vec<String> =
        report.stages.iter().filter(|(_, n)| *n > 0).map(|(stage, n)| format!("{stage} {n}")).collect();
    println!("as of {}: {}", report.as_of, stages.join(", "));

    println!("{} customers, {} tags\n", engine.customer_count(), engine.stats().tags);

    let chen = engine.id_of("chen@example.com").expect("registered above");
    if let (Some(rfm), Some(stage)) = (engine.rfm_of(chen)?, engine.stage_of(chen)?) {
        println!(
            "chen: {stage}, R{} F{} M{} ({}), {} days since the last purchase\n",
            rfm.r, rfm.f, rfm.m, rfm.segment, rfm.recency_days
        );
    }

    let queries = [
        "vip",
        "interest/outdoor",
        "vip AND (interest/outdoor OR interest/sports/running) AND NOT stage:churned",
        "高消费 OR \"returned goods\"",
        "stage:at_risk OR stage:churned",
        "stage:reactivated OR stage:new",
        "rfm:champions OR rfm:loyal_customers",
        "monetary >= 50000 AND NOT vip",
        "NOT interest",
        "age:25-34 AND NOT vip",
    ];
    for text in queries {
        let audience = engine.query(text)?;
        let keys: Vec<&str> = audience.iter().filter_map(|id| engine.key_of(id)).collect();
        println!("{:>2}  {text}\n    {}", audience.len(), keys.join(", "));
    }

    // The typed builder makes the same query as the text.
    let winback = Query::tag("vip").and_not(Query::tag("stage:active"));
    println!("\n{:>2}  {winback}  (built with Query::tag(..).and_not(..))", engine.count(&winback)?);

    // Tag a whole audience at once, e.g. for a campaign.
    let runners = engine.query("interest/sports/running")?;
    let added = engine.tag_all(&runners, "campaign:marathon-2026")?;
    println!("{added:>2}  tagged campaign:marathon-2026");

    // How a query runs, with each step's cardinality.
    println!("\n{}", engine.explain("vip AND interest AND NOT stage:churned")?);

    // Mistakes come back as typed errors that point at the problem.
    for bad in ["vpi AND interest", "vip AND (interest OR"] {
        if let Err(err) = engine.query(bad) {
            println!("{err}\n");
        }
    }

    println!("tags by kind:");
    for kind in TagKind::ALL {
        let names: Vec<String> = engine.tags_of_kind(kind).map(|t| format!("{} ({})", t.name, t.len)).collect();
        if !names.is_empty() {
            println!("  {kind:<10} {}", names.join(", "));
        }
    }
    Ok(())
}
