//! The customer key directory at scale: interning rate, bytes per key beyond the keys' own,
//! lookups both ways, and the hash functions it could use, on the same keys.
//!
//! ```text
//! cargo run --release --example bench_keys -- [--keys N] [--hashers]
//! ```
//!
//! Interns N keys (default 10,000,000) with [`Engine::customer`], one call each as a
//! loader makes them: `customer-<i>@example.com` for `i` in a seeded shuffle of `0..N`
//! (22 to 33 bytes, about 31 at 10M). Prints the rate, the directory's heap bytes
//! ([`Stats::directory_bytes`](audience::Stats)) beyond the keys' bytes per key, the
//! process's resident memory per key, then 1,000,000 lookups each way ([`Engine::id_of`]
//! of random known keys, [`Engine::key_of`] of random ids, [`Engine::id_of`] of unknown
//! keys), and a view ([`Engine::reader`]) and the first new key after it. With
//! `--hashers`, also the time to hash the keys with foldhash (the directory's), std's
//! SipHash-1-3 and FNV-1a. Only the public API: the same program measures an older
//! directory built at an older commit. Progress goes to stderr.

use std::hash::{BuildHasher, RandomState};
use std::process::ExitCode;
use std::time::Instant;

use audience::{CustomerId, Engine};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_keys: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// This process's resident memory (`VmRSS`), in bytes (Linux; 0 elsewhere).
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn key(i: u64) -> String {
    format!("customer-{i}@example.com")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn run() -> Result<(), String> {
    let (mut n, mut hashers) = (10_000_000u64, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--keys" => {
                let v = args.next().ok_or("--keys needs a number")?;
                n = v.parse().map_err(|_| format!("--keys {v:?}: not a number"))?;
            }
            "--hashers" => hashers = true,
            _ => return Err(format!("unknown argument {flag:?}; usage: bench_keys [--keys N] [--hashers]")),
        }
    }
    // A seeded shuffle of 0..n (an affine permutation: odd multiplier modulo a power of two,
    // the values past n skipped), so the keys do not arrive in their numbers' order.
    let span = n.next_power_of_two();
    let mul = (splitmix64(7) | 1) & (span - 1).max(1);
    let order =
        move || (0..span).map(move |i| (i.wrapping_mul(mul).wrapping_add(12_345)) & (span - 1)).filter(move |&i| i < n);

    let mut engine = Engine::new();
    let before = resident();
    let t = Instant::now();
    let mut key_bytes = 0u64;
    for i in order() {
        let k = key(i);
        key_bytes += k.len() as u64;
        engine.customer(&k).map_err(|e| e.to_string())?;
    }
    let intern = t.elapsed().as_secs_f64();
    let rss = resident().saturating_sub(before);
    let stats = engine.stats();
    let beyond = (stats.directory_bytes as f64 - key_bytes as f64) / n as f64;
    println!(
        "{n} keys ({:.1} bytes each): interned in {intern:.2} s ({:.2} M keys/s); directory {:.1} MB, \
         {beyond:.1} bytes a key beyond its own; resident memory {:.1} bytes a key",
        key_bytes as f64 / n as f64,
        n as f64 / intern / 1e6,
        stats.directory_bytes as f64 / 1e6,
        rss as f64 / n as f64,
    );

    let probes = 1_000_000u64.min(n);
    let known: Vec<String> = (0..probes).map(|i| key(splitmix64(i) % n)).collect();
    let t = Instant::now();
    let found = known.iter().filter(|k| engine.id_of(k).is_some()).count() as u64;
    let id_of = t.elapsed().as_secs_f64();
    let unknown: Vec<String> = (0..probes).map(|i| key(n + splitmix64(i) % n)).collect();
    let t = Instant::now();
    let missing = unknown.iter().filter(|k| engine.id_of(k).is_none()).count() as u64;
    let miss = t.elapsed().as_secs_f64();
    let ids: Vec<CustomerId> = (0..probes).map(|i| CustomerId((splitmix64(i ^ 0xABCD) % n) as u32)).collect();
    let t = Instant::now();
    let bytes: usize = ids.iter().filter_map(|&id| engine.key_of(id)).map(str::len).sum();
    let key_of = t.elapsed().as_secs_f64();
    if found != probes || missing != probes || bytes == 0 {
        return Err(format!("lookups: {found} and {missing} of {probes}, {bytes} key bytes"));
    }
    let ns = |secs: f64| secs * 1e9 / probes as f64;
    println!(
        "lookups ({probes} each): id_of of a known key {:.0} ns, of an unknown key {:.0} ns; key_of {:.0} ns",
        ns(id_of),
        ns(miss),
        ns(key_of)
    );

    let t = Instant::now();
    let view = engine.reader();
    let take = t.elapsed().as_secs_f64();
    let t = Instant::now();
    engine.customer("one more after the view").map_err(|e| e.to_string())?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    engine.customer("and another").map_err(|e| e.to_string())?;
    let second = t.elapsed().as_secs_f64();
    println!(
        "a view {:.1} µs; the first new key after it {:.1} µs, the next {:.2} µs",
        take * 1e6,
        first * 1e6,
        second * 1e6
    );
    drop(view);

    if hashers {
        let keys: Vec<String> = order().take(probes as usize).map(key).collect();
        let time = |name: &str, f: &dyn Fn(&[u8]) -> u64| {
            let t = Instant::now();
            let x = keys.iter().fold(0u64, |acc, k| acc ^ f(k.as_bytes()));
            let secs = t.elapsed().as_secs_f64();
            println!("hash {name}: {:.1} ns a key ({x:x})", secs * 1e9 / keys.len() as f64);
        };
        let fold = foldhash::fast::RandomState::default();
        let sip = RandomState::new();
        time("foldhash (fast)", &|k| fold.hash_one(k));
        time("std SipHash-1-3", &|k| sip.hash_one(k));
        time("FNV-1a", &fnv1a);
    }
    Ok(())
}
