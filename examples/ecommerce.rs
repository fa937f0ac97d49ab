//! An online store end to end: 20,000 customers with interests, a region and an age, two
//! years of purchases and refunds, then RFM segments, lifecycle stages and the queries a
//! marketing team asks, and what changes when one more day of orders comes in.
//!
//! ```sh
//! cargo run --release --example ecommerce
//! ```
//!
//! What it shows, in order:
//!
//! 1. Loading through the bulk paths: [`Engine::tag_pairs`] for interest tags
//!    (`interest/outdoor/hiking`, `interest/sports/running`, ...; a query on
//!    `interest/outdoor` matches every outdoor interest), behavior tags and the exclusive
//!    `region` group, [`Engine::set_attrs`] for the `age` attribute, and
//!    [`Engine::record_purchases`] for about 200,000 purchases and refunds over 2023-2024,
//!    with seasonality (a November-December peak, a summer bump, busier weekends).
//! 2. [`Engine::refresh`] as of 2024-12-31 and its [`RefreshReport`]: customers per
//!    lifecycle stage and per RFM segment.
//! 3. Queries mixing tags, the derived tags (`stage:`, `rfm:`, `r:`/`f:`/`m:`) and attribute
//!    ranges, including the derived attributes `recency_days`, `frequency` and `monetary`
//!    (minor units: `monetary >= 100000` is 1,000.00 or more).
//! 4. One customer up close: [`Engine::rfm_of`], [`Engine::stage_of`], tags, attributes.
//! 5. One more day of orders and an incremental refresh as of 2025-01-01: how many
//!    customers' history was read again, and who moved between stages.
//!
//! The data is synthetic and deterministic (a seeded splitmix64), so every run prints the
//! same numbers, except timings.

use std::time::Instant;

use audience::{CustomerId, Day, Engine, Money, RefreshReport, Stage, TagKind};

const CUSTOMERS: u32 = 20_000;
const SEED: u64 = 0x5EED_2024;
/// The first and last day of the history.
const START: (i32, u32, u32) = (2023, 1, 1);
const END: (i32, u32, u32) = (2024, 12, 31);

/// Interests with how common each is (per mille of customers).
const INTERESTS: [(&str, u64); 10] = [
    ("interest/outdoor/hiking", 180),
    ("interest/outdoor/camping", 120),
    ("interest/outdoor/climbing", 40),
    ("interest/sports/running", 200),
    ("interest/sports/cycling", 130),
    ("interest/sports/yoga", 110),
    ("interest/home/kitchen", 150),
    ("interest/home/garden", 90),
    ("interest/fashion", 160),
    ("interest/books", 100),
];
const REGIONS: [(&str, u64); 5] =
    [("region:north", 22), ("region:south", 28), ("region:east", 18), ("region:west", 24), ("region:central", 8)];
/// Shelf prices in cents; cheap items sell more often.
const PRICES: [(i64, u64); 10] = [
    (999, 20),
    (1450, 16),
    (1999, 16),
    (2400, 12),
    (3995, 10),
    (4900, 9),
    (7999, 7),
    (12900, 5),
    (19900, 3),
    (34900, 2),
];

fn main() -> Result<(), audience::Error> {
    let start = Day::from_ymd(START.0, START.1, START.2)?;
    let end = Day::from_ymd(END.0, END.1, END.2)?;
    let next_day = end.checked_add_days(1).expect("a representable day");
    let mut rng = SplitMix64(SEED);

    // ------------------------------------------------------------------ 1. data and load
    let t = Instant::now();
    let store = Store::generate(&mut rng, start, end);
    let gen_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut engine = Engine::new();
    for (name, _) in INTERESTS {
        engine.define_tag(name, TagKind::Interest)?;
    }
    engine.define_tag("newsletter", TagKind::Behavior)?;
    engine.define_tag("app_user", TagKind::Behavior)?;
    engine.define_exclusive_group_with_kind("region", TagKind::Attribute)?;
    let ids: Vec<CustomerId> = store.customers.iter().map(|c| engine.customer(&c.key)).collect::<Result<_, _>>()?;
    let pairs = store.customers.iter().zip(&ids).flat_map(|(c, &id)| c.tags.iter().map(move |&t| (id, t)));
    let assignments = engine.tag_pairs(pairs)?;
    engine.set_attrs(store.customers.iter().zip(&ids).map(|(c, &id)| (id, "age", c.age)))?;
    let purchases = store.purchases.iter().map(|&(c, day, amount)| (ids[c as usize], day, amount));
    let recorded = engine.record_purchases(purchases)?;
    let load_s = t.elapsed().as_secs_f64();

    let refunds = store.purchases.iter().filter(|p| p.2.is_refund()).count();
    println!("A store with {} customers, {} tag assignments, an age each", engine.customer_count(), assignments);
    println!("{recorded} purchase records from {start} to {end}, {refunds} of them refunds");
    println!("(generated in {gen_s:.3} s, loaded in {load_s:.3} s)");

    // ------------------------------------------------------------------ 2. refresh
    let t = Instant::now();
    let report = engine.refresh(end)?;
    let refresh_s = t.elapsed().as_secs_f64();
    println!();
    println!("== refresh as of {end} ({refresh_s:.3} s)");
    print_report(&report);

    // ------------------------------------------------------------------ 3. queries
    println!();
    println!("== queries");
    let queries = [
        "stage:at_risk AND f:5",
        "rfm:champions AND age >= 30 AND age < 40",
        "rfm:cant_lose AND interest/outdoor",
        "monetary >= 100000 AND NOT stage:churned",
        "recency_days <= 30",
        "stage:new AND newsletter AND NOT app_user",
        "(region:north OR region:west) AND interest/sports/running AND r:5",
        "stage:reactivated AND m:5",
        "frequency >= 40 AND NOT rfm:champions",
    ];
    for q in queries {
        let t = Instant::now();
        let who = engine.query(q)?;
        let micros = t.elapsed().as_secs_f64() * 1e6;
        let sample: Vec<&str> = who.iter().take(3).filter_map(|id| engine.key_of(id)).collect();
        let sample = if sample.is_empty() { String::new() } else { format!("  e.g. {}", sample.join(", ")) };
        println!("  {q:<68} {:>6}  ({micros:>4.0} µs){sample}", who.len());
    }

    // ------------------------------------------------------------------ 4. one customer
    println!();
    let champion = engine.query("rfm:champions AND interest/outdoor AND stage:active")?.iter().next();
    if let Some(id) = champion {
        print_customer(&engine, id)?;
    }

    // ------------------------------------------------------------------ 5. the next day
    let t = Instant::now();
    let orders = store.next_day(&mut rng, next_day);
    let n = engine.record_purchases(orders.iter().map(|&(c, day, amount)| (ids[c as usize], day, amount)))?;
    let report = engine.refresh(next_day)?;
    let refresh_s = t.elapsed().as_secs_f64();
    println!();
    println!("== one more day: {n} purchase records on {next_day}, refresh as of {next_day} ({refresh_s:.3} s)");
    println!("  incremental: {}", report.incremental);
    println!("  recomputed:  {} customers' history read again (of {})", report.recomputed, report.customers);
    println!("  stage transitions:");
    for tr in &report.transitions {
        let from = tr.from.map_or("(none)", Stage::as_str);
        println!("    {from:>11} -> {:<11} {:>5}", tr.to, tr.count);
    }
    if let Some(back) = report.transition(Some(Stage::Churned), Stage::Reactivated) {
        let keys: Vec<&str> = back.audience.iter().take(3).filter_map(|id| engine.key_of(id)).collect();
        println!("  back from churned today: {}", keys.join(", "));
    }
    println!("  now: {}", stages_line(&report));
    Ok(())
}

fn print_report(report: &RefreshReport) {
    let pct = |n: u64| 100.0 * n as f64 / report.customers.max(1) as f64;
    println!("  {} customers, {} with a purchase (RFM-scored)", report.customers, report.scored);
    println!("  lifecycle stages:");
    for &(stage, n) in &report.stages {
        println!("    {:<22} {n:>6}  {:>5.1}%", stage.as_str(), pct(n));
    }
    println!("  RFM segments:");
    for (segment, n) in &report.segments {
        println!("    {segment:<22} {n:>6}  {:>5.1}%", pct(*n));
    }
}

fn stages_line(report: &RefreshReport) -> String {
    report.stages.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", ")
}

fn print_customer(engine: &Engine, id: CustomerId) -> Result<(), audience::Error> {
    let key = engine.key_of(id).unwrap_or("?");
    println!("== one customer: {key}");
    println!("  tags:       {}", engine.tags_of(id)?.join(", "));
    let attrs: Vec<String> = engine.attrs_of(id)?.iter().map(|(name, v)| format!("{name} {v}")).collect();
    println!("  attributes: {}", attrs.join(", "));
    let history = engine.purchases_of(id)?;
    let refunds = history.iter().filter(|p| p.amount.is_refund()).count();
    if let (Some(first), Some(last)) = (history.first(), history.last()) {
        println!("  history:    {} records, {refunds} of them refunds, {} to {}", history.len(), first.day, last.day);
    }
    if let Some(s) = engine.rfm_of(id)? {
        println!(
            "  rfm_of:     recency {} days, frequency {}, monetary {}, R{} F{} M{} -> {}",
            s.recency_days,
            s.frequency,
            money(s.monetary),
            s.r,
            s.f,
            s.m,
            s.segment
        );
    }
    if let Some(stage) = engine.stage_of(id)? {
        println!("  stage_of:   {stage}");
    }
    Ok(())
}

/// Minor units as `1234.56`.
fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

// ------------------------------------------------------------------------ synthetic data

#[path = "support/rng.rs"]
mod rng;
use rng::SplitMix64;

struct Customer {
    key: String,
    tags: Vec<&'static str>,
    age: i64,
    /// Orders per year while active (0: never buys).
    rate: f64,
    /// Days (since the start) the customer buys between, with an optional dormant gap.
    first: i32,
    last: i32,
    gap: Option<(i32, i32)>,
    /// Basket size multiplier (some customers buy big).
    basket: i64,
}

struct Store {
    customers: Vec<Customer>,
    /// (customer index, day, amount): purchases and refunds, in no particular order.
    purchases: Vec<(u32, Day, Money)>,
    /// Days from the first to the last day of the history.
    span: i32,
}

impl Store {
    fn generate(rng: &mut SplitMix64, start: Day, end: Day) -> Store {
        let span = (end - start) as i32;
        let mut customers = Vec::with_capacity(CUSTOMERS as usize);
        for i in 0..CUSTOMERS {
            let mut tags: Vec<&'static str> = Vec::new();
            for &(name, per_mille) in &INTERESTS {
                if rng.below(1000) < per_mille {
                    tags.push(name);
                }
            }
            if rng.chance(0.45) {
                tags.push("newsletter");
            }
            if rng.chance(0.30) {
                tags.push("app_user");
            }
            tags.push(REGIONS[rng.weighted(&REGIONS)].0);
            let age = 18 + ((rng.unit() + rng.unit() + rng.unit()) / 3.0 * 60.0) as i64;
            // 8% never buy; the rest order at a heavy-tailed rate (a few buy every week).
            let rate = if rng.chance(0.08) { 0.0 } else { 3.2 + 5.9 / (1.0 - rng.unit()).powf(0.55) };
            let first = rng.below(span as u64 + 1) as i32;
            let last = if rng.chance(0.45) { span } else { (first + (rng.unit() * 500.0) as i32).min(span) };
            let gap = (last - first > 420 && rng.chance(0.3)).then(|| {
                let len = 190 + rng.below(150) as i32;
                let from = first + rng.below((last - first - len) as u64) as i32;
                (from, from + len)
            });
            let basket = if rng.chance(0.1) { 3 } else { 1 };
            customers.push(Customer { key: format!("cust-{i:05}"), tags, age, rate, first, last, gap, basket });
        }

        let mut purchases = Vec::with_capacity(210_000);
        for (i, c) in customers.iter().enumerate() {
            if c.rate == 0.0 {
                continue;
            }
            let active = (c.last - c.first + 1) as f64 - c.gap.map_or(0.0, |(a, b)| (b - a) as f64);
            let n = (c.rate * active / 365.0).round().max(1.0) as usize;
            for _ in 0..n {
                let Some(day) = seasonal_day(rng, start, c) else { continue };
                let amount = basket_amount(rng, c);
                purchases.push((i as u32, day, Money::from_minor(amount).expect("small amounts")));
                if rng.chance(0.04) {
                    // A refund a few days later, of the whole basket or of part of it.
                    let back = if rng.chance(0.7) { amount } else { amount / 2 };
                    if let Some(when) = day.checked_add_days(3 + rng.below(25) as i32).filter(|&d| d <= end) {
                        purchases.push((i as u32, when, Money::from_minor(-back).expect("small amounts")));
                    }
                }
            }
        }
        Store { customers, purchases, span }
    }

    /// The orders of one more day: regulars, a few first-timers and a few who come back.
    fn next_day(&self, rng: &mut SplitMix64, day: Day) -> Vec<(u32, Day, Money)> {
        let mut orders = Vec::new();
        for (i, c) in self.customers.iter().enumerate() {
            let p = if c.rate == 0.0 {
                0.01 // a prospect's first order
            } else if c.last < self.span - 180 {
                0.004 // long gone: a rare comeback
            } else {
                (c.rate / 365.0).min(0.5)
            };
            if rng.chance(p) {
                let amount = basket_amount(rng, c);
                orders.push((i as u32, day, Money::from_minor(amount).expect("small amounts")));
            }
        }
        orders
    }
}

/// A day within the customer's active window, drawn with the store's seasonality: a
/// November-December peak, a summer bump, busier weekends. `None` when the draw lands in
/// the customer's dormant gap.
fn seasonal_day(rng: &mut SplitMix64, start: Day, c: &Customer) -> Option<Day> {
    loop {
        let off = c.first + rng.below((c.last - c.first + 1) as u64) as i32;
        if c.gap.is_some_and(|(a, b)| off > a && off < b) {
            return None;
        }
        let day = start.checked_add_days(off).expect("within the history");
        let date = day.to_date();
        let weight = match chrono::Datelike::month(&date) {
            11 => 1.8,
            12 => 2.2,
            6 | 7 => 1.3,
            _ => 1.0,
        } * if chrono::Datelike::weekday(&date).number_from_monday() >= 6 { 1.25 } else { 1.0 };
        if rng.unit() * 2.75 < weight {
            return Some(day);
        }
    }
}

/// One or two items from the price list (three times as many for big-basket customers).
fn basket_amount(rng: &mut SplitMix64, c: &Customer) -> i64 {
    let items = (1 + rng.below(2) as i64) * c.basket;
    (0..items).map(|_| PRICES[rng.weighted(&PRICES)].0).sum()
}
