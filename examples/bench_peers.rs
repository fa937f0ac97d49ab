//! The `audience` engine as one more column of the peer benchmark harness
//! (`benches/peers`, a copy of the team's shared harness; see its README, "Contract for an external engine").
//!
//! ```text
//! cargo build --release --example bench_peers
//! ENGINE=target/release/examples/bench_peers SCALES=n1M bash benches/peers/run.sh
//! target/release/examples/bench_peers --data DIR --queries FILE --out JSON [--repeat R]
//! ```
//!
//! Loads `DIR/tags.bin` through the public API only: customers `0..n` are registered with
//! [`Engine::customer_id_range`], tag `k` is named `t{k}` ([`Engine::ensure_tag`]) and its
//! (customer, tag) pairs go through one [`Engine::tag_id_pairs`] call (a sorted run, the
//! bitmap built from it and run-optimized). Each query line (`id shape: expression`) is parsed once into
//! a [`Query`] (the harness's syntax is a subset of ours); then [`Engine::count`] is timed with
//! the harness's rule (a warm-up run gives the count; timed runs until at least R runs and
//! 0.2 s, at most 201, or 3 runs once 4 s have passed; median and min reported), and so is
//! the id export (select + `write_ids`). The report is the contract's JSON; progress goes to
//! stderr.

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use audience::{CustomerId, Engine, Query, TagId};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("bench_peers: {msg}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    data: String,
    queries: String,
    out: String,
    repeat: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: bench_peers --data DIR --queries FILE --out JSON [--repeat R]";
    let (mut data, mut queries, mut out, mut repeat) = (None, None, None, 7usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{usage}"));
        match flag.as_str() {
            "--data" => data = Some(value()?),
            "--queries" => queries = Some(value()?),
            "--out" => out = Some(value()?),
            "--repeat" => {
                let v = value()?;
                repeat = v.parse().map_err(|_| format!("--repeat {v:?}: not a number"))?;
            }
            // The harness passes --ids only to its own peers; id export is always timed here.
            "--ids" => {}
            _ => return Err(format!("unknown argument {flag:?}\n{usage}")),
        }
    }
    let need = |v: Option<String>, what: &str| v.ok_or_else(|| format!("missing {what}\n{usage}"));
    Ok(Args { data: need(data, "--data")?, queries: need(queries, "--queries")?, out: need(out, "--out")?, repeat })
}

// ------------------------------------------------------------------------ tags.bin

/// `tags.bin`, borrowed: `b"AUDTAGS1"`, u32 n_customers, u32 n_tags, u64 n_pairs,
/// u64[n_tags + 1] offsets, u32[n_pairs] customer ids (little-endian). Tag k's ids are
/// `ids[offsets[k]..offsets[k + 1]]`, ascending.
struct TagsFile<'a> {
    customers: u32,
    /// Checked by [`TagsFile::parse`]: from 0 up to `n_pairs`, ascending.
    offsets: Vec<usize>,
    ids: &'a [u8],
}

/// The fixed part of `tags.bin`: magic, n_customers, n_tags, n_pairs.
const TAGS_HEADER: usize = 24;

impl<'a> TagsFile<'a> {
    /// Checks the layout with checked arithmetic throughout: a malformed file (short,
    /// counts that overflow or exceed the file, offsets out of range or descending) is an
    /// `Err` naming the problem, never a panic, and nothing is allocated beyond what the
    /// file's own length backs.
    fn parse(raw: &'a [u8]) -> Result<TagsFile<'a>, String> {
        let size = raw.len() as u64;
        if raw.len() < TAGS_HEADER {
            return Err(format!("tags.bin: file too short for the {TAGS_HEADER}-byte header ({size} bytes)"));
        }
        if &raw[..8] != b"AUDTAGS1" {
            return Err("tags.bin: bad magic (expected AUDTAGS1)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let customers = u32_at(8);
        let n_tags = u32_at(12);
        let n_pairs = u64_at(16);
        // In u64: (2^32) * 8 + 24 cannot overflow; 4 * n_pairs can.
        let offsets_at = TAGS_HEADER as u64;
        let ids_at = offsets_at + (u64::from(n_tags) + 1) * 8;
        if size < ids_at {
            return Err(format!(
                "tags.bin: file too short for the offsets of {n_tags} tags ({ids_at} bytes needed, the file has {size})"
            ));
        }
        let ids_len = n_pairs
            .checked_mul(4)
            .ok_or_else(|| format!("tags.bin: n_pairs {n_pairs} is impossibly large (4 * n_pairs bytes overflows)"))?;
        let end = ids_at.checked_add(ids_len).filter(|&end| end <= size).ok_or_else(|| {
            format!(
                "tags.bin: file too short for {n_pairs} pairs ({ids_at} + {ids_len} bytes needed, the file has {size})"
            )
        })?;
        // Every position and count below is within the file's length now, so fits in usize.
        let (ids_at, end) = (ids_at as usize, end as usize);
        let mut offsets: Vec<usize> = Vec::with_capacity(n_tags as usize + 1);
        for (k, b) in raw[TAGS_HEADER..ids_at].chunks_exact(8).enumerate() {
            let o = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            if k == 0 && o != 0 {
                return Err(format!("tags.bin: offsets[0] is {o}, not 0"));
            }
            if o > n_pairs {
                return Err(format!("tags.bin: offsets[{k}] = {o} is past n_pairs ({n_pairs})"));
            }
            let (o, prev) = (o as usize, offsets.last().copied().unwrap_or(0));
            if o < prev {
                let j = k - 1;
                return Err(format!(
                    "tags.bin: offsets are not ascending (offsets[{k}] = {o} < offsets[{j}] = {prev})"
                ));
            }
            offsets.push(o);
        }
        if offsets.last() != Some(&(n_pairs as usize)) {
            return Err(format!(
                "tags.bin: the last offset (offsets[{n_tags}] = {}) is not n_pairs ({n_pairs})",
                offsets.last().expect("n_tags + 1 >= 1 offsets")
            ));
        }
        Ok(TagsFile { customers, offsets, ids: &raw[ids_at..end] })
    }

    fn n_tags(&self) -> usize {
        self.offsets.len() - 1
    }

    fn n_pairs(&self) -> usize {
        self.ids.len() / 4
    }

    /// Tag k's customer ids.
    fn tag(&self, k: usize) -> impl Iterator<Item = u32> + 'a {
        let ids: &'a [u8] = &self.ids[4 * self.offsets[k]..4 * self.offsets[k + 1]];
        ids.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

// ------------------------------------------------------------------------ timing

struct Timing {
    median_ms: f64,
    min_ms: f64,
    runs: usize,
}

/// The harness's rule: one warm-up run (its result is returned), then timed runs until at
/// least `repeat` runs and 0.2 s, at most 201 runs, or 3 runs once 4 s have passed.
fn time_it(mut f: impl FnMut() -> audience::Result<u64>, repeat: usize) -> Result<(u64, Timing), String> {
    let result = black_box(f().map_err(|e| e.to_string())?);
    let mut times = Vec::with_capacity(201);
    let start = Instant::now();
    loop {
        let t0 = Instant::now();
        let r = black_box(f());
        times.push(t0.elapsed().as_nanos() as f64);
        if r.as_ref().ok() != Some(&result) {
            return Err(format!("result changed between runs: {result} then {r:?}"));
        }
        let spent = start.elapsed().as_secs_f64();
        let n = times.len();
        if n >= 201 || (n >= 3 && spent >= 4.0) || (n >= repeat && spent >= 0.2) {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let median = if n % 2 == 1 { times[n / 2] } else { (times[n / 2 - 1] + times[n / 2]) / 2.0 };
    Ok((result, Timing { median_ms: median / 1e6, min_ms: times[0] / 1e6, runs: n }))
}

/// A field of /proc/self/status (`VmRSS:`, `VmHWM:`), in MB; 0 where unavailable.
fn proc_mb(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A finite f64 as a JSON number (Rust's `Display` never uses an exponent).
fn num(x: f64) -> String {
    if x.is_finite() { x.to_string() } else { "null".into() }
}

// ------------------------------------------------------------------------ main

fn run() -> Result<(), String> {
    let args = parse_args()?;

    // ---- load: read the file, then build the engine through the public API
    let rss_base = proc_mb("VmRSS:");
    let t0 = Instant::now();
    let path = format!("{}/tags.bin", args.data);
    let raw = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let file = TagsFile::parse(&raw)?;
    let read_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let mut engine = Engine::new();
    engine.customer_id_range(0..file.customers).map_err(|e| e.to_string())?;
    let customers_s = t1.elapsed().as_secs_f64();
    let tags: Vec<TagId> = (0..file.n_tags())
        .map(|k| engine.ensure_tag(&format!("t{k}")))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    // One bulk call per tag: the file is grouped by tag already. (One call over all pairs
    // builds the same bitmaps at the same speed, but buffers every pair at once: at 1M
    // customers +11 MB peak RSS and +5 MB RSS kept after the load.)
    let mut added = 0;
    for (k, &tag) in tags.iter().enumerate() {
        let pairs = file.tag(k).map(|c| (CustomerId(c), tag));
        added += engine.tag_id_pairs(pairs).map_err(|e| format!("bulk load of t{k}: {e}"))?;
    }
    let build_s = t1.elapsed().as_secs_f64();
    let (n, n_pairs, n_tags) = (u64::from(file.customers), file.n_pairs(), file.n_tags());
    drop(file);
    drop(raw);
    let rss_loaded = proc_mb("VmRSS:");
    let peak_after_load = proc_mb("VmHWM:");
    if added != n_pairs as u64 {
        return Err(format!("tags.bin has {n_pairs} pairs but {added} assignments were made (duplicates?)"));
    }
    let stats = engine.stats();
    eprintln!(
        "  audience load: read {read_s:.3} s, build {build_s:.3} s (customers {customers_s:.3} s), RSS +{:.1} MB, \
         bitmaps {:.1} MB serialized",
        rss_loaded - rss_base,
        stats.bitmap_bytes as f64 / 1048576.0
    );

    // Container statistics, read back through query results (outside every timing).
    let (mut arr, mut bit, mut run, mut cbytes) = (0u64, 0u64, 0u64, 0u64);
    for k in 0..n_tags {
        let a = engine.select(&Query::tag(format!("t{k}"))).map_err(|e| e.to_string())?;
        let s = a.bitmap().statistics();
        arr += u64::from(s.n_array_containers);
        bit += u64::from(s.n_bitset_containers);
        run += u64::from(s.n_run_containers);
        cbytes += s.n_bytes_array_containers + s.n_bytes_bitset_containers + s.n_bytes_run_containers;
    }

    // ---- queries: parse each line once, then time count and id export
    let text = std::fs::read_to_string(&args.queries).map_err(|e| format!("cannot read {}: {e}", args.queries))?;
    let mut rows = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |msg: String| format!("{}:{}: {msg}", args.queries, lineno + 1);
        let (head, body) = line.split_once(':').ok_or_else(|| at("expected `id shape: expression`".into()))?;
        let mut head = head.split_whitespace();
        let qid = head.next().ok_or_else(|| at("no query id".into()))?;
        let shape = head.next().unwrap_or("");
        let body = body.trim();
        let query = Query::parse(body).map_err(|e| at(e.to_string()))?;

        let (count, t) = time_it(|| engine.count(&query), args.repeat).map_err(at)?;
        // Id export as the harness defines it (the result ids as a contiguous u32 array):
        // select (the query's bitmap) + `write_ids` into one Vec reused across runs, so no
        // allocation or page faults of a fresh array are timed.
        let (ids_len, ti) = time_it(
            || {
                let a = engine.select(&query)?;
                ids.clear();
                a.write_ids(&mut ids);
                Ok(ids.len() as u64)
            },
            args.repeat,
        )
        .map_err(at)?;
        // The same into a fresh Vec each run (`to_ids`), as the roaring-rs peer's `collect` does.
        let (fresh_len, tf) =
            time_it(|| engine.select(&query).map(|a| a.to_ids().len() as u64), args.repeat).map_err(at)?;
        if ids_len != count || fresh_len != count {
            return Err(at(format!("{qid}: id list length {ids_len} / {fresh_len} differs from count {count}")));
        }
        eprintln!(
            "  audience {qid} {shape:18} count={count:>10} median={:9.4} ms ids={:9.4} ms fresh={:9.4} ms",
            t.median_ms, ti.median_ms, tf.median_ms
        );
        rows.push(format!(
            "{{\"id\": {}, \"shape\": {}, \"query\": {}, \"count\": {count}, \"median_ms\": {}, \"min_ms\": {}, \
             \"runs\": {}, \"ids_median_ms\": {}, \"ids_min_ms\": {}, \"ids_fresh_vec_median_ms\": {}}}",
            json_str(qid),
            json_str(shape),
            json_str(body),
            num(t.median_ms),
            num(t.min_ms),
            t.runs,
            num(ti.median_ms),
            num(ti.min_ms),
            num(tf.median_ms),
        ));
    }

    // The views queries kept of dense tags (made by the queries above, within their budget).
    let view_bytes = engine.stats().view_bytes;
    eprintln!(
        "  audience views kept by queries: {:.1} MB ({:.1}% of the serialized bitmaps)",
        view_bytes as f64 / 1048576.0,
        100.0 * view_bytes as f64 / stats.bitmap_bytes.max(1) as f64
    );
    let mb = |b: f64| num(b / 1048576.0);
    let report = format!(
        "{{\"peer\": \"audience\", \"version\": {}, \"threads\": 1,\n \"data\": {{\"dir\": {}, \"customers\": {n}, \"pairs\": {n_pairs}}},\n \
         \"load\": {{\"read_s\": {}, \"build_s\": {}, \"customers_s\": {}, \"rss_base_mb\": {}, \"rss_loaded_mb\": {}, \
         \"rss_delta_mb\": {}, \"peak_rss_mb\": {}, \"peak_rss_after_load_mb\": {}, \"serialized_bytes\": {}, \
         \"serialized_mb\": {}, \"container_bytes_mb\": {}, \"directory_bytes\": {}, \"n_array_containers\": {arr}, \
         \"n_bitset_containers\": {bit}, \"n_run_containers\": {run}, \"view_bytes\": {view_bytes}}},\n \"queries\": [\n  {}\n ]}}\n",
        json_str(&format!("audience {}", env!("CARGO_PKG_VERSION"))),
        json_str(&args.data),
        num(read_s),
        num(build_s),
        num(customers_s),
        num(rss_base),
        num(rss_loaded),
        num(rss_loaded - rss_base),
        num(proc_mb("VmHWM:")),
        num(peak_after_load),
        stats.bitmap_bytes,
        mb(stats.bitmap_bytes as f64),
        mb(cbytes as f64),
        stats.directory_bytes,
        rows.join(",\n  "),
    );
    std::fs::write(&args.out, report).map_err(|e| format!("cannot write {}: {e}", args.out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tags.bin` image with the given header fields, offsets and ids.
    fn image(customers: u32, n_tags: u32, n_pairs: u64, offsets: &[u64], ids: &[u32]) -> Vec<u8> {
        let mut v = b"AUDTAGS1".to_vec();
        v.extend(customers.to_le_bytes());
        v.extend(n_tags.to_le_bytes());
        v.extend(n_pairs.to_le_bytes());
        offsets.iter().for_each(|o| v.extend(o.to_le_bytes()));
        ids.iter().for_each(|i| v.extend(i.to_le_bytes()));
        v
    }

    /// Two tags: t0 = {1, 5}, t1 = {2}.
    fn tiny() -> Vec<u8> {
        image(6, 2, 3, &[0, 2, 3], &[1, 5, 2])
    }

    fn err(raw: &[u8]) -> String {
        TagsFile::parse(raw).err().expect("a malformed file is an error")
    }

    #[test]
    fn a_valid_tiny_file_parses() {
        let raw = tiny();
        let f = TagsFile::parse(&raw).unwrap();
        assert_eq!((f.customers, f.n_tags(), f.n_pairs()), (6, 2, 3));
        assert_eq!((f.tag(0).collect::<Vec<_>>(), f.tag(1).collect::<Vec<_>>()), (vec![1, 5], vec![2]));
        let empty = image(0, 0, 0, &[0], &[]);
        assert_eq!(TagsFile::parse(&empty).unwrap().n_tags(), 0);
    }

    #[test]
    fn crafted_headers_are_errors() {
        let big = u64::MAX / 4;
        let cases: [(Vec<u8>, &str); 13] = [
            (Vec::new(), "too short for the 24-byte header"),
            (b"AUDTAGS2".iter().copied().chain([0; 16]).collect(), "bad magic"),
            // Offsets consistent with the count, so only the arithmetic on it can catch these.
            (image(1, 1, big + 1, &[0, big + 1], &[]), "impossibly large"),
            (image(1, 1, big, &[0, big], &[]), "too short for 4611686018427387903 pairs"),
            (image(1, 0, big + 1, &[0], &[]), "impossibly large"),
            (image(1, 0, big, &[0], &[]), "too short for 4611686018427387903 pairs"),
            (image(1, 0, u64::MAX, &[0], &[]), "impossibly large"),
            (image(1, u32::MAX, 3, &[0, 3], &[1, 2, 3]), "too short for the offsets of 4294967295 tags"),
            (image(6, 2, 3, &[0, 5, 3], &[1, 5, 2]), "offsets[1] = 5 is past n_pairs (3)"),
            (image(6, 2, 3, &[0, 2, u64::MAX], &[1, 5, 2]), "offsets[2] = 18446744073709551615 is past n_pairs"),
            (image(6, 3, 3, &[0, 2, 1, 3], &[1, 5, 2]), "not ascending (offsets[2] = 1 < offsets[1] = 2)"),
            (image(6, 2, 3, &[1, 2, 3], &[1, 5, 2]), "offsets[0] is 1, not 0"),
            (image(6, 2, 3, &[0, 1, 2], &[1, 5, 2]), "the last offset (offsets[2] = 2) is not n_pairs (3)"),
        ];
        for (raw, want) in cases {
            let e = err(&raw);
            assert!(e.starts_with("tags.bin: ") && e.contains(want), "{e} (want {want})");
        }
        let raw = tiny();
        for len in 0..raw.len() {
            err(&raw[..len]);
        }
    }

    /// A deterministic xorshift64 generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parses `raw`; when it parses, reads every tag (which must not panic either).
    fn parse_and_read(raw: &[u8]) {
        if let Ok(f) = TagsFile::parse(raw) {
            let read: usize = (0..f.n_tags()).map(|k| f.tag(k).count()).sum();
            assert_eq!(read, f.n_pairs());
        }
    }

    #[test]
    fn random_and_mutated_files_never_panic() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let valid = image(9, 4, 6, &[0, 1, 1, 4, 6], &[3, 0, 2, 8, 1, 4]);
        parse_and_read(&valid);
        for i in 0..4_000 {
            // Random bytes, half of them behind a valid magic so the header is read.
            let mut raw: Vec<u8> = (0..rng.below(120)).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 {
                raw.splice(0..raw.len().min(8), *b"AUDTAGS1");
            }
            parse_and_read(&raw);
            // Mutations of the valid file: flipped bytes, extreme fields, truncation.
            let mut raw = valid.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(5) {
                    0 => {
                        let at = rng.below(raw.len());
                        raw[at] = rng.next() as u8;
                    }
                    1 => {
                        let at = 8 + 4 * rng.below((raw.len() - 8) / 4);
                        let v = [0, 1, u32::MAX, u32::MAX / 4, rng.next() as u32][rng.below(5)];
                        raw[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    2 => raw.truncate(rng.below(raw.len() + 1)),
                    // A huge n_pairs that the last offset agrees with.
                    3 if raw.len() >= 64 => {
                        let v = [u64::MAX / 4, u64::MAX / 4 + 1, u64::MAX, rng.next()][rng.below(4)];
                        raw[16..24].copy_from_slice(&v.to_le_bytes());
                        raw[56..64].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => raw.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                }
                if raw.len() < 12 {
                    break;
                }
            }
            parse_and_read(&raw);
        }
    }
}
