//! Many queries at once: [`Engine::count_many`] and [`Engine::select_many`] against the
//! same queries one by one, at one and two threads, and two threads querying one shared
//! `&Engine`, on the peer harness's data (`benches/peers`, `tags.bin`).
//!
//! ```text
//! cargo build --release --example bench_many
//! target/release/examples/bench_many --data target/peers/data/n10M [--queries benches/peers/queries.txt]
//!     [--seconds S] [--view-budget MB] [--only harness25|segment20|describe1000]
//! ```
//!
//! Three workloads:
//! - `harness25`: the harness's 25 queries (`--queries`, `id shape: expression` lines);
//! - `segment20`: 20 segment rules, each three or four of the 40 most common tags
//!   (`t1 AND t3 AND NOT t12`, `(t2 OR t7) AND t5 AND NOT t0`, ...), as an exclusive plan's
//!   rules are;
//! - `describe1000`: `t0 AND tK` for the 1,000 tags, a describe's counts.
//!
//! Each is timed as a loop of `count` (and of `select`) on the calling thread, as one
//! `count_many` (and `select_many`) at 1 and at 2 engine threads, and as two threads each
//! looping `count` over the workload on one shared `&Engine`. Every way's answers are
//! checked against the loop's before it is timed. Times are medians of runs repeated for at
//! least `--seconds` (default 1) and 5 runs; throughput is queries per second, and each
//! way is compared with the loop of the same call (`count` or `select`) one by one.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use audience::{CustomerId, Engine, Query, TagId, ViewBudget};

#[path = "support/tags_bin.rs"]
mod tags_bin;

use tags_bin::TagsFile;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_many: {msg}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    data: String,
    queries: String,
    seconds: f64,
    /// `--view-budget MB`: a fixed budget for the views of wide tags (default: `Auto`).
    view_budget: Option<usize>,
    /// `--only NAME`: run one workload.
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: bench_many --data DIR [--queries FILE] [--seconds S] [--view-budget MB] [--only WORKLOAD]";
    let (mut data, mut queries, mut seconds, mut view_budget, mut only) =
        (None, "benches/peers/queries.txt".to_string(), 1.0, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{usage}"));
        match flag.as_str() {
            "--data" => data = Some(value()?),
            "--queries" => queries = value()?,
            "--seconds" => {
                let v = value()?;
                seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or(format!("--seconds {v:?}: not a number"))?;
            }
            "--view-budget" => {
                let v = value()?;
                let mb: usize = v.parse().map_err(|_| format!("--view-budget {v:?}: not a number of MB"))?;
                view_budget = Some(mb.saturating_mul(1 << 20));
            }
            "--only" => only = Some(value()?),
            "--help" | "-h" => return Err(usage.into()),
            _ => return Err(format!("unknown argument {flag:?}\n{usage}")),
        }
    }
    Ok(Args { data: data.ok_or(format!("missing --data\n{usage}"))?, queries, seconds, view_budget, only })
}

/// The harness's data as an engine: customers `0..n`, tag `k` named `t{k}`.
fn load(dir: &str) -> Result<(Engine, usize, usize), String> {
    let path = format!("{dir}/tags.bin");
    let raw = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let file = TagsFile::parse(&raw)?;
    let mut engine = Engine::new();
    engine.customer_id_range(0..file.customers).map_err(|e| e.to_string())?;
    for k in 0..file.n_tags() {
        let tag: TagId = engine.ensure_tag(&format!("t{k}")).map_err(|e| e.to_string())?;
        engine.tag_id_pairs(file.tag(k).map(|c| (CustomerId(c), tag))).map_err(|e| format!("t{k}: {e}"))?;
    }
    Ok((engine, file.n_tags(), file.n_pairs()))
}

/// The harness's queries, parsed.
fn harness(path: &str) -> Result<Vec<Query>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut out = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (_, body) =
            line.split_once(':').ok_or_else(|| format!("{path}:{}: expected `id shape: expression`", lineno + 1))?;
        out.push(Query::parse(body.trim()).map_err(|e| format!("{path}:{}: {e}", lineno + 1))?);
    }
    Ok(out)
}

/// 20 rules of three or four common tags each, by fixed arithmetic.
fn segment_rules(tags: usize) -> Result<Vec<Query>, String> {
    let common = tags.min(40);
    let t = |i: usize| format!("t{}", i % common);
    (0..20)
        .map(|i| {
            let text = match i % 4 {
                0 => format!("{} AND {} AND NOT {}", t(i + 1), t(3 * i + 2), t(5 * i + 7)),
                1 => format!("({} OR {}) AND {} AND NOT {}", t(i), t(i + 6), t(2 * i + 3), t(7 * i + 1)),
                2 => format!("{} AND ({} OR {} OR {})", t(i + 2), t(i + 9), t(i + 13), t(4 * i + 5)),
                _ => format!("({} AND NOT {}) OR ({} AND {})", t(i), t(i + 4), t(3 * i + 1), t(i + 11)),
            };
            Query::parse(&text).map_err(|e| format!("{text}: {e}"))
        })
        .collect()
}

/// The median seconds of `f`, run at least 5 times and `seconds` long (after a warm-up).
fn time(seconds: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 || start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let t = Instant::now();
    let (mut engine, tags, pairs) = load(&args.data)?;
    eprintln!(
        "loaded {} customers x {tags} tags ({pairs} pairs) in {:.1} s",
        engine.customer_count(),
        t.elapsed().as_secs_f64()
    );
    if let Some(bytes) = args.view_budget {
        engine.set_view_budget(ViewBudget::Bytes(bytes));
    }
    let workloads = [
        ("harness25", harness(&args.queries)?),
        ("segment20", segment_rules(tags)?),
        ("describe1000", (0..tags).map(|k| Query::tag("t0").and(Query::tag(format!("t{k}")))).collect()),
    ];
    let err = |e: audience::Error| e.to_string();
    println!("| workload | queries | way | ms per batch | queries/s | vs one by one |");
    println!("|---|---|---|---|---|---|");
    for (name, queries) in &workloads {
        if args.only.as_ref().is_some_and(|o| o != name) {
            continue;
        }
        // The answers every way must give.
        let want: Vec<u64> = queries.iter().map(|q| engine.count(q)).collect::<Result<_, _>>().map_err(err)?;
        let want_ids: Vec<u64> =
            queries.iter().map(|q| engine.select(q).map(|a| a.len())).collect::<Result<_, _>>().map_err(err)?;
        let mut rows: Vec<(String, f64)> = Vec::new();
        let shared = &engine;
        rows.push((
            "count, one by one".into(),
            time(args.seconds, || {
                for q in queries {
                    black_box(shared.count(q).unwrap());
                }
            }),
        ));
        rows.push((
            "count, 2 callers sharing &Engine".into(),
            time(args.seconds, || {
                std::thread::scope(|s| {
                    let other = s.spawn(|| queries.iter().map(|q| shared.count(q).unwrap()).collect::<Vec<_>>());
                    let mine: Vec<u64> = queries.iter().map(|q| shared.count(q).unwrap()).collect();
                    assert_eq!(mine, want);
                    assert_eq!(other.join().unwrap(), want);
                });
            }) / 2.0, // two batches answered per run
        ));
        rows.push((
            "select, one by one".into(),
            time(args.seconds, || {
                for q in queries {
                    black_box(shared.select(q).unwrap());
                }
            }),
        ));
        for threads in [1, 2] {
            engine.set_threads(threads);
            let e = &engine;
            if e.count_many(queries).map_err(err)? != want {
                return Err(format!("{name}: count_many at {threads} threads differs from count"));
            }
            let got: Vec<u64> = e.select_many(queries).map_err(err)?.iter().map(|a| a.len()).collect();
            if got != want_ids {
                return Err(format!("{name}: select_many at {threads} threads differs from select"));
            }
            rows.push((
                format!("count_many, {threads} thread(s)"),
                time(args.seconds, || drop(black_box(e.count_many(queries).unwrap()))),
            ));
            rows.push((
                format!("select_many, {threads} thread(s)"),
                time(args.seconds, || drop(black_box(e.select_many(queries).unwrap()))),
            ));
        }
        engine.set_threads(0);
        let (count_base, select_base) = (rows[0].1, rows[2].1);
        for (way, s) in rows {
            let base = if way.starts_with("select") { select_base } else { count_base };
            println!(
                "| {name} | {} | {way} | {:.3} | {:.0} | {:.2}x |",
                queries.len(),
                s * 1e3,
                queries.len() as f64 / s,
                base / s
            );
        }
    }
    let stats = engine.stats();
    println!(
        "\nviews kept: {:.1} MB of a {:.1} MB budget ({:.1} MB of bitmaps serialized)",
        stats.view_bytes as f64 / 1048576.0,
        stats.view_budget_bytes as f64 / 1048576.0,
        stats.bitmap_bytes as f64 / 1048576.0
    );
    Ok(())
}
