//! The journal's cost per write under each [`SyncPolicy`], beside an engine without a
//! journal, and what reopening costs (replaying the records).
//!
//! ```text
//! cargo run --release --example bench_journal -- [--dir DIR] [--writes N]
//! ```
//!
//! In DIR (default: the system's temp dir), an engine of 100,000 customers is saved and
//! opened; then N single writes (default 20,000; a tenth of that for `EveryWrite`), each a
//! `tag` or `untag` of a random customer, are timed under each policy, then the engine is
//! dropped without a checkpoint and opened again (the replay timed). Then one `tag_all` of
//! all 100,000 customers and one `tag_pairs` of 100,000 pairs: a record each, their bytes.
//! The sync cost is the file system's: run it on the disk the snapshots will live on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use audience::{CustomerId, Engine, SyncPolicy};

const CUSTOMERS: u32 = 100_000;
const TAGS: [&str; 4] = ["vip", "coupon", "高消费", "sports/run"];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_journal: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut dir = std::env::temp_dir().join(format!("audience-bench-journal-{}", std::process::id()));
    let mut writes = 20_000u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = PathBuf::from(args.next().ok_or("--dir needs a directory")?),
            "--writes" => writes = args.next().and_then(|n| n.parse().ok()).ok_or("--writes needs a number")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("bench.snap");
    let journal = dir.join("bench.snap.journal");
    let mut base = Engine::new();
    base.customer_id_range(0..CUSTOMERS).map_err(|e| e.to_string())?;
    for tag in TAGS {
        base.ensure_tag(tag).map_err(|e| e.to_string())?;
    }

    println!("{:<22} {:>8} {:>12} {:>14} {:>12}", "policy", "writes", "per write", "journal bytes", "replay");
    let mut plain = base.clone();
    let t = Instant::now();
    write(&mut plain, writes)?;
    println!("{:<22} {:>8} {:>9.2} µs {:>14} {:>12}", "no journal", writes, per(t, writes), "-", "-");
    for policy in [SyncPolicy::EveryWrite, SyncPolicy::EveryN(100), SyncPolicy::EveryMillis(10), SyncPolicy::Manual] {
        let _ = std::fs::remove_file(&journal);
        base.save(&path).map_err(|e| e.to_string())?;
        let mut e = Engine::open(&path).map_err(|e| e.to_string())?;
        e.set_sync_policy(policy);
        let n = if policy == SyncPolicy::EveryWrite { (writes / 10).max(1) } else { writes };
        let t = Instant::now();
        write(&mut e, n)?;
        e.flush().map_err(|e| e.to_string())?;
        let per_write = per(t, n);
        drop(e);
        let bytes = std::fs::metadata(&journal).map_err(|e| e.to_string())?.len();
        let t = Instant::now();
        let (_, report) = Engine::open_with_report(&path).map_err(|e| e.to_string())?;
        let replay = t.elapsed();
        assert_eq!(report.replayed, n);
        println!(
            "{:<22} {:>8} {:>9.2} µs {:>14} {:>9.1} ms",
            format!("{policy:?}"),
            n,
            per_write,
            bytes,
            replay.as_secs_f64() * 1e3
        );
    }

    // Bulk calls: one record each.
    let _ = std::fs::remove_file(&journal);
    base.save(&path).map_err(|e| e.to_string())?;
    let mut e = Engine::open(&path).map_err(|e| e.to_string())?;
    let all = e.customers();
    let before = std::fs::metadata(&journal).map_err(|e| e.to_string())?.len();
    let t = Instant::now();
    e.tag_all(&all, "campaign").map_err(|e| e.to_string())?;
    let took = t.elapsed();
    let after = std::fs::metadata(&journal).map_err(|e| e.to_string())?.len();
    println!("tag_all of {CUSTOMERS}: one record of {} bytes, {:.2} ms", after - before, took.as_secs_f64() * 1e3);
    let t = Instant::now();
    e.tag_pairs((0..CUSTOMERS).map(|c| (CustomerId(c), TAGS[c as usize % TAGS.len()]))).map_err(|e| e.to_string())?;
    let took = t.elapsed();
    let last = std::fs::metadata(&journal).map_err(|e| e.to_string())?.len();
    println!(
        "tag_pairs of {CUSTOMERS} pairs: one record of {} bytes, {:.2} ms",
        last - after,
        took.as_secs_f64() * 1e3
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `n` single writes: a tag or an untag of a pseudo-random customer.
fn write(e: &mut Engine, n: u64) -> Result<(), String> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let c = CustomerId((x % u64::from(CUSTOMERS)) as u32);
        let tag = TAGS[(i % 4) as usize];
        let r = if i % 3 == 2 { e.untag(c, tag) } else { e.tag(c, tag) };
        r.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn per(t: Instant, n: u64) -> f64 {
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}
