//! [`Engine::reader`] timed at scale: the cost of taking a view, and of the first write of
//! each kind after one (the write that copies the part the view shares), beside the same
//! write again (the part is the writer's own by then).
//!
//! ```text
//! cargo run --release --example bench_reader -- [--customers N] [--tags T] [--purchases P] [--runs R]
//! ```
//!
//! Builds its own engine (seeded): N customers (default 10,000,000), each with a key; T tags
//! (default 1,000), tag `k` held by a share of the customers that falls with `k` (`t0`
//! about half of them, `t999` about 0.05%; 53M pairs at the defaults); an attribute `age`
//! for every customer; P purchases (default 100,000,000), refreshed, then 1% more pending.
//! Then R times (default 5) for each kind of write: take a view, time the write, time the
//! same write again; and the time to take a view with none held. Prints medians, and the
//! time of one query on the engine and on a view. Progress goes to stderr.

use std::process::ExitCode;
use std::time::Instant;

use audience::{Audience, CustomerId, Day, Engine, Money, Reader};

#[path = "support/rng.rs"]
mod rng;

use rng::SplitMix64;

const USAGE: &str = "usage: bench_reader [--customers N] [--tags T] [--purchases P] [--runs R]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_reader: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds, readable.
fn us(secs: f64) -> String {
    let us = secs * 1e6;
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 10_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1e3)
    }
}

fn run() -> Result<(), String> {
    let (mut customers, mut tags, mut purchases, mut runs) = (10_000_000u64, 1_000u64, 100_000_000u64, 5usize);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let n = value.parse::<u64>().map_err(|_| format!("{flag} {value:?}: not a number\n{USAGE}"))?;
        match flag.as_str() {
            "--customers" => customers = n.clamp(100, u64::from(u32::MAX)),
            "--tags" => tags = n.max(1),
            "--purchases" => purchases = n,
            "--runs" => runs = n.max(1) as usize,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let err = |e: audience::Error| e.to_string();

    // ---- the engine
    let t0 = Instant::now();
    let mut e = Engine::new();
    for c in 0..customers {
        e.customer(&format!("customer-{c:08}@example.com")).map_err(err)?;
    }
    let mut rng = SplitMix64(42);
    let mut pairs = 0u64;
    for k in 0..tags {
        // Tag k's share: 1/2 for t0, falling like 1/(1 + k/2), at least 1/2000.
        let share = (0.5 / (1.0 + k as f64 / 2.0)).max(0.0005);
        let n = (customers as f64 * share) as u64;
        let members: Audience = (0..n).map(|_| CustomerId(rng.below(customers) as u32)).collect();
        pairs += e.tag_all(&members, &format!("t{k}")).map_err(err)?;
    }
    let ages = (0..customers).map(|c| (CustomerId(c as u32), "age", (c % 90) as i64));
    e.set_attrs(ages).map_err(err)?;
    let start = Day::from_ymd(2024, 1, 1).map_err(err)?;
    let purchase = |rng: &mut SplitMix64| {
        let c = CustomerId(rng.below(customers) as u32);
        let day = Day::from_days_since_epoch(start.days_since_epoch() + rng.below(730) as i32).expect("a day");
        (c, day, Money::from_minor(rng.below(50_000) as i64 + 100).expect("cents"))
    };
    let mut at = 0;
    while at < purchases {
        let n = (purchases - at).min(10_000_000);
        e.record_purchases((0..n).map(|_| purchase(&mut rng))).map_err(err)?;
        at += n;
    }
    e.refresh(Day::from_ymd(2026, 1, 1).map_err(err)?).map_err(err)?;
    e.record_purchases((0..purchases / 100).map(|_| purchase(&mut rng))).map_err(err)?;
    e.optimize();
    let query = "t0 AND t1 AND NOT t3";
    e.count(query).map_err(err)?;
    e.count(query).map_err(err)?; // its views made
    eprintln!(
        "  built: {customers} customers with keys, {tags} tags, {pairs} pairs, {} purchases in {:.1} s",
        e.purchase_count(),
        t0.elapsed().as_secs_f64()
    );

    // ---- taking a view
    let mut took = Vec::new();
    for _ in 0..runs.max(11) {
        let t = Instant::now();
        let view = e.reader();
        took.push(t.elapsed().as_secs_f64());
        drop(view);
    }
    println!("take a view (none held): {}", us(median(took)));

    // ---- the first write after a view, and the same write again
    let last = tags - 1;
    type Write = Box<dyn Fn(&mut Engine, u32) -> Result<(), audience::Error>>;
    let writes: Vec<(&str, Write)> = vec![
        ("tag, the densest tag (t0)", Box::new(|e, c| e.tag(CustomerId(c), "t0").map(drop))),
        ("tag, a sparse tag", Box::new(move |e, c| e.tag(CustomerId(c), &format!("t{last}")).map(drop))),
        ("set_attr (age, every customer has one)", Box::new(|e, c| e.set_attr(CustomerId(c), "age", 120).map(drop))),
        (
            "record_purchase",
            Box::new(|e, c| e.record_purchase(CustomerId(c), Day::from_ymd(2026, 2, 1)?, Money::from_minor(100)?)),
        ),
        ("customer (a new key)", Box::new(|e, c| e.customer(&format!("new-{c}@example.com")).map(drop))),
        ("remove_customer (a keyed one)", Box::new(|e, c| e.remove_customer(CustomerId(c)))),
        ("ensure_tag (a new tag: copies the pool)", Box::new(|e, c| e.ensure_tag(&format!("new-tag-{c}")).map(drop))),
    ];
    println!("{:<42} {:>12} {:>12}", "write", "first", "again");
    let mut c = 1u32;
    for (name, write) in &writes {
        let (mut first, mut again) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let view: Reader = e.reader();
            let t = Instant::now();
            write(&mut e, c).map_err(err)?;
            first.push(t.elapsed().as_secs_f64());
            c += 7;
            let t = Instant::now();
            write(&mut e, c).map_err(err)?;
            again.push(t.elapsed().as_secs_f64());
            c += 7;
            drop(view);
        }
        println!("{name:<42} {:>12} {:>12}", us(median(first)), us(median(again)));
    }

    // ---- one query, on the engine and on a view
    let view = e.reader();
    let time = |e: &Engine| -> Result<f64, String> {
        let mut v = Vec::new();
        for _ in 0..runs.max(11) {
            let t = Instant::now();
            std::hint::black_box(e.count(query).map_err(err)?);
            v.push(t.elapsed().as_secs_f64());
        }
        Ok(median(v))
    };
    let (on_engine, on_view) = (time(&e)?, time(&view)?);
    println!("count({query:?}): engine {}, view {} ({:.2}x)", us(on_engine), us(on_view), on_view / on_engine);
    Ok(())
}
