//! Purchase history, RFM and lifecycle refresh, and attribute range benchmarks on seeded
//! synthetic data (no files needed).
//!
//! ```text
//! cargo bench --bench models                 # everything, about a minute on 2 cores
//! cargo bench --bench models -- refresh/     # one group
//! cargo bench --no-run                       # compile only
//! ```
//!
//! The data (splitmix64, a fixed seed, so every run sees the same records):
//!
//! - **purchases**: 1M customers, 10M records over the three years up to the as-of day D
//!   (2024-12-31). 15% of the customers never buy; the others' counts are Zipf-ish (a
//!   Pareto weight, shape 1.3, capped: the median buyer has about 5 records, the largest
//!   several thousand). A customer buys from a first day (uniform over the three years)
//!   until today (half of them) or an earlier day of their own; 35% of the records fall on
//!   the same day as the customer's previous one; amounts come from ten price points times a
//!   small quantity (so values tie a lot), 1% are zero and 5% are refunds (negative). They
//!   arrive in day order, shuffled within a day, as a shop would send them.
//! - **new purchases**: 100k records (1%) dated D+1; 80% by existing buyers (picked through
//!   a random existing record, so the active buy more), 20% by anyone (prospects convert).
//! - **attributes**: 1M customers with `age` (uniform 18..90) and `balance` (90% have one: a
//!   log-normal amount in minor units, up to about 10^9, 4% of them negative), and the tags
//!   `vip` (5%), `newsletter` (40%) and `app` (25%). (`monetary` itself belongs to
//!   `refresh`, so the hand-set skewed attribute is named `balance`.)
//!
//! Groups:
//!
//! - `load`: `record_purchases` of the 10M records into an engine with 1M customers (records
//!   are only appended here; sorting them is part of the first refresh), and `set_attrs` of
//!   1M values, narrow (`age`, 7 bit slices) and wide (`balance`, about 31).
//! - `refresh`: the first refresh of the loaded engine (`full_1M_10M`); the refresh as of
//!   D+1 after 1% new purchases (`incremental_1pct`); both on one thread
//!   (`Engine::set_threads(1)`), and again on two (`*_2_threads`) and with the change feed
//!   on (`*_feed_on`: its overhead); a second refresh as of D with nothing new
//!   (`same_day_noop`). Each timed run gets its own clone of the engine, made untimed.
//! - `range`: counts of attribute range queries (parsed once), and one on the `monetary`
//!   attribute the refresh derived.
//!
//! Before the benchmarks run, the setup prints to stderr the data's shape, the first
//! refresh's report, and memory: the engine sizes from [`Engine::stats`] and, on Linux, the
//! resident set (`VmRSS`) and its peak (`VmHWM`, reset through `/proc/self/clear_refs`)
//! around loading and the first refresh.

use std::hint::black_box;
use std::time::{Duration, Instant};

use audience::{CustomerId, Day, Engine, Money, Purchase, Query, Stage};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const CUSTOMERS: u32 = 1_000_000;
const PURCHASES: usize = 10_000_000;
/// New purchases for the incremental refresh: 1%.
const NEW_PURCHASES: usize = PURCHASES / 100;
/// Days of history up to and including the as-of day: three years.
const SPAN_DAYS: u32 = 3 * 365 + 1;
const SEED: u64 = 42;

/// Customers who never buy.
const PROSPECT_SHARE: f64 = 0.15;
/// Shape and cap of the Pareto weight behind each buyer's number of records.
const PARETO_SHAPE: f64 = 1.3;
const PARETO_CAP: f64 = 2_000.0;
/// Records on the same day as the customer's previous one.
const SAME_DAY_SHARE: f64 = 0.35;
const REFUND_SHARE: f64 = 0.05;
const ZERO_SHARE: f64 = 0.01;
/// Price points in cents; cheaper ones are likelier.
const PRICES: [i64; 10] = [199, 499, 999, 1_499, 1_999, 2_999, 4_999, 9_999, 19_999, 49_999];

/// The range queries, by benchmark name.
const RANGE_QUERIES: [(&str, &str); 5] = [
    ("age_30_to_40", "age >= 30 AND age < 40"),
    ("age_eq_42", "age = 42"),
    ("balance_ge_100000", "balance >= 100000"),
    ("age_30_to_40_and_vip", "age >= 30 AND age < 40 AND vip"),
    ("not_age_ge_30", "NOT age >= 30"),
];

/// The as-of day D of the first refresh.
fn as_of() -> Day {
    Day::from_ymd(2024, 12, 31).expect("a valid date")
}

// ------------------------------------------------------------------------ synthetic data

/// splitmix64: tiny, seedable, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    /// Stream `k` under `seed`.
    fn stream(seed: u64, k: u64) -> Rng {
        let mut r = Rng(seed ^ k.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.f64(); // (0, 1]
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One record's amount in cents: a refund, a free order, or a price point times a quantity.
fn amount(rng: &mut Rng) -> Money {
    let x = rng.f64();
    let price = PRICES[(PRICES.len() as f64 * rng.f64() * rng.f64()) as usize];
    let minor = if x < REFUND_SHARE {
        -price
    } else if x < REFUND_SHARE + ZERO_SHARE {
        0
    } else {
        let q = rng.f64();
        let quantity = if q < 0.85 {
            1
        } else if q < 0.95 {
            2
        } else {
            3 + i64::from(rng.below(10))
        };
        price * quantity
    };
    Money::from_minor(minor).expect("within Money's range")
}

/// Records per customer: 0 for prospects, else Zipf-ish; exactly `total` in all.
fn counts(n: u32, total: usize, rng: &mut Rng) -> Vec<u32> {
    let weights: Vec<f64> =
        (0..n)
            .map(|_| {
                if rng.f64() < PROSPECT_SHARE {
                    0.0
                } else {
                    (1.0 - rng.f64()).powf(-1.0 / PARETO_SHAPE).min(PARETO_CAP)
                }
            })
            .collect();
    let buyers = weights.iter().filter(|&&w| w > 0.0).count();
    let sum: f64 = weights.iter().sum();
    let spare = (total - buyers) as f64;
    let mut counts: Vec<u32> =
        weights.iter().map(|&w| if w > 0.0 { 1 + (w / sum * spare) as u32 } else { 0 }).collect();
    // Hand the rounding remainder out one by one to random buyers.
    let mut short = total - counts.iter().map(|&c| c as usize).sum::<usize>();
    while short > 0 {
        let c = rng.below(n) as usize;
        if counts[c] > 0 {
            counts[c] += 1;
            short -= 1;
        }
    }
    counts
}

/// `total` purchase records of customers `0..n` up to day `last` (see the module docs), in
/// arrival order: by day, shuffled within a day.
fn purchases(n: u32, total: usize, last: Day, seed: u64) -> Vec<Purchase> {
    let mut rng = Rng::stream(seed, 1);
    let counts = counts(n, total, &mut rng);
    let d = last.days_since_epoch();
    let start = d - SPAN_DAYS as i32 + 1;
    // Per customer first, with the day as an offset from `start`...
    let mut by_customer: Vec<(u32, u32, Money)> = Vec::with_capacity(total);
    for (c, &k) in counts.iter().enumerate() {
        if k == 0 {
            continue;
        }
        let first = rng.below(SPAN_DAYS);
        let until = if rng.f64() < 0.5 { SPAN_DAYS - 1 } else { first + rng.below(SPAN_DAYS - first) };
        let mut day = first;
        for j in 0..k {
            if j > 0 && rng.f64() >= SAME_DAY_SHARE {
                day = first + rng.below(until - first + 1);
            }
            by_customer.push((c as u32, day, amount(&mut rng)));
        }
    }
    // ...then bucketed by day (a counting sort) and shuffled within each day.
    let mut at = vec![0usize; SPAN_DAYS as usize + 1];
    for &(_, day, _) in &by_customer {
        at[day as usize + 1] += 1;
    }
    for i in 1..at.len() {
        at[i] += at[i - 1];
    }
    let bounds = at.clone();
    let mut out = vec![Purchase::new(CustomerId(0), last, Money::ZERO); total];
    for (c, day, money) in by_customer {
        let slot = &mut at[day as usize];
        out[*slot] =
            Purchase::new(CustomerId(c), Day::from_days_since_epoch(start + day as i32).expect("valid"), money);
        *slot += 1;
    }
    for w in bounds.windows(2) {
        let bucket = &mut out[w[0]..w[1]];
        for i in (1..bucket.len()).rev() {
            bucket.swap(i, rng.below(i as u32 + 1) as usize);
        }
    }
    out
}

/// `count` records on day `day`: 80% by the customer of a random record of `existing`, 20% by
/// any of customers `0..n`.
fn new_purchases(existing: &[Purchase], n: u32, count: usize, day: Day, seed: u64) -> Vec<Purchase> {
    let mut rng = Rng::stream(seed, 2);
    (0..count)
        .map(|_| {
            let customer = if rng.f64() < 0.8 {
                existing[rng.below(existing.len() as u32) as usize].customer
            } else {
                CustomerId(rng.below(n))
            };
            Purchase::new(customer, day, amount(&mut rng))
        })
        .collect()
}

/// Attribute values and tag members for the range benchmarks (see the module docs).
struct AttrData {
    age: Vec<(u32, i64)>,
    balance: Vec<(u32, i64)>,
    tags: Vec<(&'static str, Vec<u32>)>,
}

fn attr_data(n: u32, seed: u64) -> AttrData {
    let mut rng = Rng::stream(seed, 3);
    let age = (0..n).map(|c| (c, 18 + i64::from(rng.below(72)))).collect();
    let mut balance = Vec::with_capacity(n as usize);
    for c in 0..n {
        let x = rng.f64();
        if x < 0.10 {
            continue;
        }
        let v = if x < 0.10 + 0.9 * 0.04 {
            -(1.5 * rng.normal() + 8.0).exp().round()
        } else {
            (2.5 * rng.normal() + 9.0).exp().round()
        };
        balance.push((c, v as i64));
    }
    let tags = [("vip", 0.05), ("newsletter", 0.40), ("app", 0.25)]
        .into_iter()
        .map(|(name, p)| (name, (0..n).filter(|_| rng.f64() < p).collect()))
        .collect();
    AttrData { age, balance, tags }
}

/// An engine with customers `0..n` (dense ids) and nothing else.
fn customers(n: u32) -> Engine {
    let mut engine = Engine::new();
    for i in 0..n {
        engine.customer_id(i).expect("a fresh id");
    }
    engine
}

// ------------------------------------------------------------------------ memory

/// This process's resident set and its peak in MiB (`VmRSS`, `VmHWM`): Linux only.
fn memory() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let kb = status.lines().find_map(|l| l.strip_prefix(name))?.trim().strip_suffix("kB")?.trim();
        kb.parse::<f64>().ok().map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak (`VmHWM`) to the current resident set: Linux 4.0+, else a no-op.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_sizes(what: &str, engine: &Engine) {
    let s = engine.stats();
    eprintln!(
        "{what}: history {:.1} MiB, tag bitmaps {:.1} MiB, attribute bitmaps {:.1} MiB, directory {:.1} MiB (Engine::stats)",
        mib(s.history_bytes),
        mib(s.bitmap_bytes),
        mib(s.attribute_bytes),
        mib(s.directory_bytes)
    );
}

// ------------------------------------------------------------------------ benchmarks

fn benches(c: &mut Criterion) {
    let day = as_of();
    let next_day = day.checked_add_days(1).expect("a valid date");
    let history = purchases(CUSTOMERS, PURCHASES, day, SEED);
    let fresh = new_purchases(&history, CUSTOMERS, NEW_PURCHASES, next_day, SEED);
    let refunds = history.iter().filter(|p| p.amount.is_refund()).count();
    let mut buyers: Vec<u32> = history.iter().map(|p| p.customer.0).collect();
    buyers.sort_unstable();
    let mut most = (0, 0);
    let mut distinct = 0;
    for run in buyers.chunk_by(|a, b| a == b) {
        distinct += 1;
        most = most.max((run.len(), run[0]));
    }
    eprintln!(
        "purchases: {} records of {distinct} buyers ({CUSTOMERS} customers), {refunds} refunds, the largest buyer {} records; \
         {} new records dated {next_day}",
        history.len(),
        most.0,
        fresh.len()
    );
    drop(buyers);

    // The engines: customers only; loaded (10M records appended); refreshed as of D.
    let base = customers(CUSTOMERS);
    let before = memory();
    reset_peak();
    let mut loaded = base.clone();
    loaded.set_threads(1); // the `_2_threads` benches set 2
    loaded.record_purchases(history.iter().copied()).expect("live customers");
    let after_load = memory();
    let mut refreshed = loaded.clone();
    let before_refresh = memory();
    reset_peak();
    let t = Instant::now();
    let report = refreshed.refresh(day).expect("refresh");
    let took = t.elapsed();
    let after_refresh = memory();
    eprintln!(
        "first refresh as of {day}: {took:.2?} (one run); {} scored; stages {:?}",
        report.scored,
        report.stages.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>()
    );
    print_sizes("loaded engine (records pending)", &loaded);
    print_sizes("refreshed engine", &refreshed);
    if let (Some((rss0, _)), Some((rss1, hwm1)), Some((rss2, _)), Some((rss3, hwm3))) =
        (before, after_load, before_refresh, after_refresh)
    {
        eprintln!(
            "RSS: loaded engine {:.0} MiB (peak while loading {:.0}); refreshed engine {:.0} MiB; peak during the \
             first refresh {:.0} MiB above the RSS before it (the refreshed engine and transients); process peak {:.0} MiB",
            rss1 - rss0,
            hwm1 - rss0,
            rss3 - rss1,
            hwm3 - rss2,
            hwm3
        );
    }

    let mut g = c.benchmark_group("load");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(PURCHASES as u64));
    g.bench_function("record_purchases_10M", |b| {
        b.iter_batched(
            || base.clone(),
            |mut e| {
                e.record_purchases(black_box(&history).iter().copied()).expect("live customers");
                e
            },
            BatchSize::PerIteration,
        )
    });
    let attrs = attr_data(CUSTOMERS, SEED);
    for (name, values) in [("age", &attrs.age), ("balance", &attrs.balance)] {
        g.throughput(Throughput::Elements(values.len() as u64));
        g.bench_function(format!("set_attrs_{name}_1M"), |b| {
            b.iter_batched(
                || base.clone(),
                |mut e| {
                    e.set_attrs(black_box(values).iter().map(|&(c, v)| (CustomerId(c), name, v))).expect("set_attrs");
                    e
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("refresh");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("full_1M_10M", |b| {
        b.iter_batched(
            || loaded.clone(),
            |mut e| {
                let report = e.refresh(day).expect("refresh");
                (e, report)
            },
            BatchSize::PerIteration,
        )
    });
    // The same on 2 threads (the engine's bulk steps split; the same result).
    g.bench_function("full_1M_10M_2_threads", |b| {
        b.iter_batched(
            || {
                let mut e = loaded.clone();
                e.set_threads(2);
                e
            },
            |mut e| {
                let report = e.refresh(day).expect("refresh");
                (e, report)
            },
            BatchSize::PerIteration,
        )
    });
    // The same with the change feed on: its overhead is one event per tag the refresh
    // changed (a difference per score, segment and stage tag it writes).
    g.bench_function("full_1M_10M_feed_on", |b| {
        b.iter_batched(
            || {
                let mut e = loaded.clone();
                e.track_changes(true);
                e
            },
            |mut e| {
                let report = e.refresh(day).expect("refresh");
                (e, report)
            },
            BatchSize::PerIteration,
        )
    });
    let with_new = || {
        let mut e = refreshed.clone();
        e.record_purchases(fresh.iter().copied()).expect("live customers");
        e
    };
    let report = with_new().refresh(next_day).expect("refresh");
    assert!(report.incremental);
    eprintln!(
        "incremental refresh as of {next_day}: {} customers re-read; {} moved to new, {} to active",
        report.recomputed,
        report.transition(Some(Stage::Prospect), Stage::New).map_or(0, |t| t.count),
        report.transition(Some(Stage::AtRisk), Stage::Active).map_or(0, |t| t.count)
    );
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("incremental_1pct", |b| {
        b.iter_batched(
            with_new,
            |mut e| {
                let report = e.refresh(next_day).expect("refresh");
                (e, report)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("incremental_1pct_2_threads", |b| {
        b.iter_batched(
            || {
                let mut e = with_new();
                e.set_threads(2);
                e
            },
            |mut e| {
                let report = e.refresh(next_day).expect("refresh");
                (e, report)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("incremental_1pct_feed_on", |b| {
        b.iter_batched(
            || {
                let mut e = with_new();
                e.track_changes(true);
                e
            },
            |mut e| {
                let report = e.refresh(next_day).expect("refresh");
                (e, report)
            },
            BatchSize::PerIteration,
        )
    });
    let mut again = refreshed.clone();
    let report = again.refresh(day).expect("refresh");
    assert!(report.incremental && report.recomputed == 0 && report.transitions.is_empty());
    g.bench_function("same_day_noop", |b| b.iter(|| again.refresh(day).expect("refresh")));
    g.finish();
    drop((again, loaded));

    let mut e = base.clone();
    e.set_attrs(attrs.age.iter().map(|&(c, v)| (CustomerId(c), "age", v))).expect("set_attrs");
    e.set_attrs(attrs.balance.iter().map(|&(c, v)| (CustomerId(c), "balance", v))).expect("set_attrs");
    for (name, ids) in &attrs.tags {
        let tag = e.ensure_tag(name).expect("a valid name");
        e.tag_id_pairs(ids.iter().map(|&c| (CustomerId(c), tag))).expect("live customers");
    }
    e.optimize();
    print_sizes("range engine", &e);
    let mut g = c.benchmark_group("range");
    for (name, text) in RANGE_QUERIES {
        let q = Query::parse(text).expect("parses");
        eprintln!("{text}: {} customers", e.count(&q).expect("count"));
        g.bench_function(name, |b| b.iter(|| e.count(black_box(&q)).expect("count")));
    }
    let q = Query::parse("monetary >= 100000").expect("parses");
    eprintln!("monetary >= 100000 (derived, as of {day}): {} customers", refreshed.count(&q).expect("count"));
    g.bench_function("derived_monetary_ge_100000", |b| b.iter(|| refreshed.count(black_box(&q)).expect("count")));
    g.finish();
}

criterion_group! {
    name = models;
    // Short runs: the heavy groups take 10 samples each (see the group settings); pass
    // `--measurement-time` for more.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = benches
}
criterion_main!(models);
