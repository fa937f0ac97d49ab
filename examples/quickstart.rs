//! A small outdoor-gear store: define a tag pool, tag customers, ask who they are.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use audience::{Engine, Query, TagKind};

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
    engine.define_exclusive_group_with_kind("stage", TagKind::Lifecycle)?;

    let customers: &[(&str, &[&str])] = &[
        ("ana@example.com", &["vip", "高消费", "interest/outdoor/hiking", "age:25-34", "region:north", "stage:active"]),
        ("ben@example.com", &["interest/sports/running", "bought twice", "age:35-44", "region:south", "stage:active"]),
        ("chen@example.com", &["vip", "interest/sports/running", "age:25-34", "region:east", "stage:at_risk"]),
        ("dana@example.com", &["returned goods", "age:45-54", "region:north", "stage:churned"]),
        ("eli@example.com", &["interest/outdoor/camping", "bought twice", "age:18-24", "region:west", "stage:new"]),
        (
            "fay@example.com",
            &["vip", "interest/outdoor/camping", "interest/sports/cycling", "age:35-44", "stage:active"],
        ),
        ("gus@example.com", &["高消费", "returned goods", "age:25-34", "region:south", "stage:at_risk"]),
        ("hana@example.com", &["interest/sports/running", "age:18-24", "region:east", "stage:new"]),
    ];
    for (key, tags) in customers {
        let id = engine.customer(key)?;
        for tag in *tags {
            engine.tag(id, tag)?;
        }
    }

    // Chen comes back: a lifecycle stage is single-choice, so this replaces stage:at_risk.
    let chen = engine.id_of("chen@example.com").expect("registered above");
    engine.tag(chen, "stage:reactivated")?;

    println!("{} customers, {} tags\n", engine.customer_count(), engine.stats().tags);

    let queries = [
        "vip",
        "interest/outdoor",
        "vip AND (interest/outdoor OR interest/sports/running) AND NOT stage:churned",
        "高消费 OR \"returned goods\"",
        "stage:at_risk OR stage:churned",
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
