//! [`Engine::describe`] timed on the peer harness's data, for the side-by-side measurement
//! with DuckDB (`benches/describe_duckdb.sh`, which runs this and reads its report).
//!
//! ```text
//! cargo build --release --example bench_describe
//! target/release/examples/bench_describe --data DIR --out JSON [--ids FILE] [--runs R] [--seed S] [--percent P] [--threads T]
//! ```
//!
//! Loads `DIR/tags.bin` exactly as `bench_peers` does (customers `0..n` with
//! [`Engine::customer_id_range`], tag `k` named `t{k}`, one [`Engine::tag_id_pairs`] call
//! per tag). The audience is a seeded random P% (default 10%) of the customers: customer `c`
//! is in it when `splitmix64(S + c) % 100 < P` (S default 42), built untimed. Then
//! `describe(&audience, DescribeOptions::new().threads(T))` (the top 20 tags by lift, every
//! tag carried by at least one of the audience; nothing to exclude, the audience is no tag;
//! T threads, default 0: describe's own choice, the available cores at this size) runs
//! twice as a warm-up (the first call counts tag by tag, the second builds the census of
//! the audience's blocks: both timed, `cold_ms` and `build_ms`) and R times timed (default
//! 15); every run must give the first one's result.
//!
//! `--out JSON` gets the report: the data, the load time, the audience's size, the two
//! warm-ups, the census's and the bitmaps' bytes (`census_bytes`, `bitmap_bytes`), the timed
//! runs in ms (`runs_ms`, `best_ms`, `median_ms`) and the description (`tags`: `[tag, in,
//! all, lift]` rows, the lift formatted `{:.3}` as the `describe` example prints it).
//! `--ids FILE` writes the audience's customer ids as little-endian u32, ascending, so a
//! peer can describe the very same audience. Progress goes to stderr.

use std::process::ExitCode;
use std::time::Instant;

use audience::{Audience, CustomerId, DescribeOptions, Engine, TagId};

#[path = "support/tags_bin.rs"]
mod tags_bin;

use tags_bin::TagsFile;

const USAGE: &str =
    "usage: bench_describe --data DIR --out JSON [--ids FILE] [--runs R] [--seed S] [--percent P] [--threads T]";

struct Args {
    data: String,
    out: String,
    ids: Option<String>,
    runs: usize,
    threads: usize,
    seed: u64,
    percent: u64,
}

fn parse_args() -> Result<Args, String> {
    let (mut data, mut out, mut ids) = (None, None, None);
    let (mut runs, mut seed, mut percent, mut threads) = (15usize, 42u64, 10u64, 0usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{flag} {v:?}: not a number\n{USAGE}"));
        match flag.as_str() {
            "--data" => data = Some(value()?),
            "--out" => out = Some(value()?),
            "--ids" => ids = Some(value()?),
            "--runs" => runs = number(value()?)?.max(1) as usize,
            "--seed" => seed = number(value()?)?,
            "--percent" => percent = number(value()?)?.min(100),
            "--threads" => threads = number(value()?)? as usize,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let need = |v: Option<String>, what: &str| v.ok_or_else(|| format!("missing {what}\n{USAGE}"));
    Ok(Args { data: need(data, "--data")?, out: need(out, "--out")?, ids, runs, seed, percent, threads })
}

/// SplitMix64 (Steele, Lea, Flood 2014): a seeded, stateless hash of a customer id, so any
/// peer can draw the same audience.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_describe: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;

    // ---- load, as bench_peers does
    let t0 = Instant::now();
    let path = format!("{}/tags.bin", args.data);
    let raw = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let file = TagsFile::parse(&raw)?;
    let mut engine = Engine::new();
    engine.customer_id_range(0..file.customers).map_err(|e| e.to_string())?;
    let tags: Vec<TagId> = (0..file.n_tags())
        .map(|k| engine.ensure_tag(&format!("t{k}")))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for (k, &tag) in tags.iter().enumerate() {
        engine
            .tag_id_pairs(file.tag(k).map(|c| (CustomerId(c), tag)))
            .map_err(|e| format!("bulk load of t{k}: {e}"))?;
    }
    let load_s = t0.elapsed().as_secs_f64();
    let (customers, n_tags, pairs) = (file.customers, file.n_tags(), file.n_pairs());
    drop(raw);
    eprintln!("  audience load: {customers} customers, {n_tags} tags, {pairs} pairs in {load_s:.3} s");

    // ---- the audience: a seeded random `percent`% of the customers
    let ids: Vec<u32> =
        (0..customers).filter(|&c| splitmix64(args.seed.wrapping_add(u64::from(c))) % 100 < args.percent).collect();
    if let Some(path) = &args.ids {
        let bytes: Vec<u8> = ids.iter().flat_map(|c| c.to_le_bytes()).collect();
        std::fs::write(path, bytes).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    let audience: Audience = ids.iter().map(|&c| CustomerId(c)).collect();

    // ---- describe: two warm-ups (the first counts tag by tag, the second builds the
    // census), timed apart, then the timed runs
    let mut options = DescribeOptions::new();
    options.threads(args.threads);
    let t = Instant::now();
    let first = engine.describe(&audience, &options);
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let second = engine.describe(&audience, &options);
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    if second != first {
        return Err("describe gave a different result once the census was built".to_owned());
    }
    let stats = engine.stats();
    let mut runs_ms = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let t = Instant::now();
        let d = std::hint::black_box(engine.describe(std::hint::black_box(&audience), &options));
        runs_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if d != first {
            return Err("describe gave a different result between runs".to_owned());
        }
    }
    let mut sorted = runs_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    let best = sorted[0];
    eprintln!(
        "  audience describe: {} of {} customers over {n_tags} tags: best {best:.2} ms, median {median:.2} ms ({} runs; \
         first call {cold_ms:.1} ms, second, building the census of {:.1} MB, {build_ms:.1} ms)",
        first.size,
        first.live,
        runs_ms.len(),
        stats.census_bytes as f64 / 1e6,
    );

    let rows: Vec<serde_json::Value> =
        first.tags.iter().map(|t| serde_json::json!([t.tag, t.count, t.total, format!("{:.3}", t.lift)])).collect();
    let report = serde_json::json!({
        "peer": "audience",
        "version": format!("audience {}", env!("CARGO_PKG_VERSION")),
        // What describe chooses by default at this size (the available cores, at most 8).
        "threads": if args.threads > 0 {
            args.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        },
        "data": {"dir": args.data, "customers": customers, "tags": n_tags, "pairs": pairs},
        "load_s": load_s,
        "audience": {"seed": args.seed, "percent": args.percent, "size": first.size, "live": first.live},
        "cold_ms": cold_ms,
        "build_ms": build_ms,
        "census_bytes": stats.census_bytes,
        "bitmap_bytes": stats.bitmap_bytes,
        "runs_ms": runs_ms,
        "best_ms": best,
        "median_ms": median,
        "tags": rows,
    });
    std::fs::write(&args.out, format!("{report:#}\n")).map_err(|e| format!("cannot write {}: {e}", args.out))
}
