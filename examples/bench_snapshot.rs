//! [`Engine::save`] and [`Engine::open`] timed at scale, beside `cp` of the same file.
//!
//! ```text
//! cargo build --release --example bench_snapshot
//! target/release/examples/bench_snapshot --data DIR --dir OUT [--purchases N] [--runs R]
//! ```
//!
//! Loads `DIR/tags.bin` (the peer harness's data: customers `0..n`, tag `k` named `t{k}`),
//! records N purchases (default 100,000,000; seeded: customer, day within two years, amount
//! in cents), refreshes the models, then records 1% more (pending, not yet merged), and
//! saves to `OUT/engine.snap`. Then, R times (default 3), one after the other: `save` again
//! (it syncs) beside `cp` of the snapshot to `OUT/copy.snap` followed by `sync` of the copy;
//! then, with the snapshot in the file cache (warm: just written) and again with its pages
//! dropped from the cache first (cold: `dd iflag=nocache count=0`, so both read the disk),
//! `cp` of it and `open` in a child process (this program with `--open FILE`), which
//! reports its time, its peak resident memory, and its resident memory once the engine is
//! open (the engine's). Prints each with MB/s. Progress goes to stderr.
//!
//! Two floors beside them, for what any in-memory store pays and `cp` does not: "read" is
//! `std::fs::read` of the snapshot in a child process (the file's bytes copied into fresh
//! memory of a new process, as `open` must land them, warm and cold), and "write" is the
//! snapshot's bytes, already in memory, written to a new file beside it and synced while the
//! snapshot is still there (as `save` writes its new file before the old one goes; `cp`
//! here reuses the pages of the copy removed just before it).
//!
//! One step alone, for A/B runs of two builds: `--open FILE` (time, peak and resident
//! bytes, customers), `--read FILE` (the read floor), `--save FILE TO` (opens FILE read
//! only, then times `save` to TO).

use std::process::{Command, ExitCode};
use std::time::Instant;

use audience::{CustomerId, Day, Engine, Money, TagId};

#[path = "support/tags_bin.rs"]
mod tags_bin;

use tags_bin::TagsFile;

const USAGE: &str = "usage: bench_snapshot --data DIR --dir OUT [--purchases N] [--runs R] | --open FILE | --read FILE | --save FILE TO";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_snapshot: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `VmHWM` (peak) and `VmRSS` (now) of this process, in bytes (Linux; 0 elsewhere).
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Drops `path`'s pages from the file cache (`dd iflag=nocache count=0`, GNU coreutils:
/// `posix_fadvise(DONTNEED)` on the whole file, no privileges needed), so the next read
/// comes from the disk. False when that could not be done.
fn evict(path: &str) -> bool {
    Command::new("dd")
        .args([&format!("if={path}"), "iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success())
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, file] = args.as_slice()
        && flag == "--open"
    {
        let t = Instant::now();
        let engine = Engine::open(file).map_err(|e| e.to_string())?;
        let secs = t.elapsed().as_secs_f64();
        let (peak, now) = memory();
        println!("{secs} {peak} {now} {}", engine.customer_count());
        return Ok(());
    }
    if let [flag, file, to] = args.as_slice()
        && flag == "--save"
    {
        let engine = Engine::open_read_only(file).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let bytes = engine.save(to).map_err(|e| e.to_string())?;
        println!("{} {bytes}", t.elapsed().as_secs_f64());
        return Ok(());
    }
    if let [flag, file] = args.as_slice()
        && flag == "--read"
    {
        let t = Instant::now();
        let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let secs = t.elapsed().as_secs_f64();
        println!("{secs} {}", bytes.len());
        return Ok(());
    }
    let (mut data, mut dir, mut purchases, mut runs) = (None, None, 100_000_000u64, 3usize);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag} {value:?}: not a number\n{USAGE}"));
        match flag.as_str() {
            "--data" => data = Some(value.clone()),
            "--dir" => dir = Some(value.clone()),
            "--purchases" => purchases = number()?,
            "--runs" => runs = number()?.max(1) as usize,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    let (data, dir) = (data.ok_or(USAGE)?, dir.ok_or(USAGE)?);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{dir}: {e}"))?;

    // ---- the engine
    let t0 = Instant::now();
    let raw = std::fs::read(format!("{data}/tags.bin")).map_err(|e| format!("{data}/tags.bin: {e}"))?;
    let file = TagsFile::parse(&raw)?;
    let mut engine = Engine::new();
    engine.customer_id_range(0..file.customers).map_err(|e| e.to_string())?;
    let tags: Vec<TagId> = (0..file.n_tags())
        .map(|k| engine.ensure_tag(&format!("t{k}")))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for (k, &tag) in tags.iter().enumerate() {
        engine.tag_id_pairs(file.tag(k).map(|c| (CustomerId(c), tag))).map_err(|e| e.to_string())?;
    }
    let (customers, pairs) = (u64::from(file.customers), file.n_pairs());
    drop(raw);
    let start = Day::from_ymd(2024, 1, 1).map_err(|e| e.to_string())?;
    let purchase = |i: u64| {
        let h = splitmix64(i);
        let customer = CustomerId((h % customers) as u32);
        let day = Day::from_days_since_epoch(start.days_since_epoch() + ((h >> 32) % 730) as i32).expect("a day");
        (customer, day, Money::from_minor(((h >> 12) % 50_000) as i64 + 100).expect("cents"))
    };
    const BATCH: u64 = 10_000_000;
    let mut at = 0;
    while at < purchases {
        let end = (at + BATCH).min(purchases);
        engine.record_purchases((at..end).map(purchase)).map_err(|e| e.to_string())?;
        at = end;
    }
    engine.refresh(Day::from_ymd(2026, 1, 1).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    engine.record_purchases((purchases..purchases + purchases / 100).map(purchase)).map_err(|e| e.to_string())?;
    eprintln!(
        "  built: {customers} customers, {} tags, {pairs} pairs, {} purchases in {:.1} s",
        tags.len(),
        engine.purchase_count(),
        t0.elapsed().as_secs_f64()
    );

    // ---- save, cp, open
    let snap = format!("{dir}/engine.snap");
    let copy = format!("{dir}/copy.snap");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let open_child = |file: &str| -> Result<[f64; 3], String> {
        let out = Command::new(&exe).arg("--open").arg(file).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("open: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let [open, peak, resident, n] = v[..] else { return Err(format!("open printed {text:?}")) };
        if n as u64 != engine.customer_count() {
            return Err(format!("open: {n} customers, saved {}", engine.customer_count()));
        }
        Ok([open, peak, resident])
    };
    let read_child = |file: &str| -> Result<f64, String> {
        let out = Command::new(&exe).arg("--read").arg(file).output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.split_whitespace().next().and_then(|x| x.parse().ok()) {
            Some(secs) if out.status.success() => Ok(secs),
            _ => Err(format!("read: {}", String::from_utf8_lossy(&out.stderr))),
        }
    };
    // The floor for `save`: its bytes, in memory, to a new file beside the snapshot, synced.
    let write_floor = |bytes: &[u8], to: &str| -> Result<f64, String> {
        use std::io::Write;
        let t = Instant::now();
        let mut f = std::fs::File::create(to).map_err(|e| format!("{to}: {e}"))?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| format!("{to}: {e}"))?;
        Ok(t.elapsed().as_secs_f64())
    };
    let timed = |program: &str, args: &[&str]| -> Result<f64, String> {
        let t = Instant::now();
        let status = Command::new(program).args(args).status().map_err(|e| format!("{program}: {e}"))?;
        if !status.success() {
            return Err(format!("{program} {args:?} exited with {status}"));
        }
        Ok(t.elapsed().as_secs_f64())
    };
    for run in 1..=runs {
        let t = Instant::now();
        let bytes = engine.save(&snap).map_err(|e| e.to_string())?;
        let save = t.elapsed().as_secs_f64();
        let image = std::fs::read(&snap).map_err(|e| format!("{snap}: {e}"))?;
        let _ = std::fs::remove_file(&copy);
        let write = write_floor(&image, &copy)?;
        drop(image);
        let _ = std::fs::remove_file(&copy);
        // What `save` does beyond writing: put the file on disk before it returns.
        let cp_sync = timed("cp", &[&snap, &copy])? + timed("sync", &[&copy])?;
        let _ = std::fs::remove_file(&copy);
        // Warm: the snapshot is in the file cache (just written).
        let cp_warm = timed("cp", &[&snap, &copy])?;
        let read_warm = read_child(&snap)?;
        let [open_warm, peak, resident] = open_child(&snap)?;
        // Cold: the snapshot's pages dropped from the file cache first, so both read the disk.
        let _ = std::fs::remove_file(&copy);
        let cold = evict(&snap);
        let cp_cold = timed("cp", &[&snap, &copy])?;
        let _ = std::fs::remove_file(&copy);
        let cold = cold && evict(&snap);
        let [open_cold, ..] = open_child(&snap)?;
        let cold = cold && evict(&snap);
        let read_cold = read_child(&snap)?;
        let mb = bytes as f64 / 1e6;
        let rate = |secs: f64| format!("{secs:.2} s ({:.0} MB/s)", mb / secs);
        let cold = if cold {
            format!("cold: cp {}, read {}, open {}", rate(cp_cold), rate(read_cold), rate(open_cold))
        } else {
            "cold: not measured (could not drop the file from the cache)".to_string()
        };
        println!(
            "run {run}: {mb:.0} MB; save {}, write {}, cp + sync {}; warm: cp {}, read {}, open {}; \
             {cold}; open's peak memory {:.0} MB, the opened engine {:.0} MB ({:.2}x)",
            rate(save),
            rate(write),
            rate(cp_sync),
            rate(cp_warm),
            rate(read_warm),
            rate(open_warm),
            peak / 1e6,
            resident / 1e6,
            peak / resident
        );
    }
    let _ = std::fs::remove_file(&copy);
    Ok(())
}
