//! Loading the CSV files of the `query`, `segment` and `describe` examples into an
//! [`Engine`] with the crate's loaders: the pairs file (`customer_key,tag`) with
//! [`Engine::load_tags_csv`], then the optional attributes file (`customer_key,name,value`)
//! with [`Engine::load_attrs_csv`], with load time, engine sizes and memory on stderr.
//! Errors are ready to print: `file:line: what went wrong (hint: ...)`.
//!
//! Both files are headerless RFC 4180 CSV, read as [`CsvOptions`] describes; the first bad
//! line stops the load, with nothing loaded. `AUDIENCE_THREADS=N` sets the threads the
//! loaders parse on (default: the machine's).
//!
//! Included by each of these examples, next to [`support`](crate::support), with
//! `#[path = "support/load.rs"] mod load;`.

use std::fs::File;
use std::time::Instant;

use audience::{CsvOptions, Engine, LoadReport};

/// A new engine with the pairs of `pairs` and, if given, the attributes of `attrs`; load
/// times, engine sizes and memory on stderr.
pub fn load_engine(pairs: &str, attrs: Option<&str>) -> Result<Engine, String> {
    let mut engine = Engine::new();
    let rss_before = proc_status_kb("VmRSS:");
    let t0 = Instant::now();
    let r = load(pairs, |file, o| engine.load_tags_csv(file, o))?;
    eprintln!(
        "loaded {pairs}: {} records, {} pairs ({} duplicates), {} customers, {} tags in {:.3} s",
        r.records,
        r.loaded,
        r.loaded - r.changed,
        r.new_customers,
        r.new_names,
        t0.elapsed().as_secs_f64()
    );
    if let Some(path) = attrs {
        let t1 = Instant::now();
        let r = load(path, |file, o| engine.load_attrs_csv(file, o))?;
        eprintln!(
            "loaded {path}: {} records, {} values of {} new attributes, {} customers not in the pairs in {:.3} s",
            r.records,
            r.changed,
            r.new_names,
            r.new_customers,
            t1.elapsed().as_secs_f64()
        );
    }
    report_engine(&engine, rss_before);
    Ok(engine)
}

/// Opens `path` and loads it with `load`; errors ready to print.
fn load(
    path: &str,
    load: impl FnOnce(File, &CsvOptions) -> audience::Result<LoadReport>,
) -> Result<LoadReport, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    load(file, &options(path)).map_err(|e| e.to_string())
}

/// The loaders' options for file `path`: headerless, `AUDIENCE_THREADS` threads.
fn options(path: &str) -> CsvOptions {
    CsvOptions::new(path).threads(crate::support::threads())
}

/// Engine sizes and memory, on stderr.
fn report_engine(engine: &Engine, rss_before: Option<f64>) {
    let s = engine.stats();
    let rss = proc_status_kb("VmRSS:");
    let hwm = proc_status_kb("VmHWM:");
    eprintln!(
        "engine: {} customers ({} keyed), {} tags, {} assignments; bitmaps {:.1} MB serialized, directory ~{:.1} MB",
        s.customers,
        s.keyed_customers,
        s.tags,
        s.assignments,
        mb(s.bitmap_bytes as f64),
        mb(s.directory_bytes as f64),
    );
    match (rss, hwm) {
        (Some(rss), Some(hwm)) => eprintln!(
            "memory: RSS {:.1} MB (+{:.1} MB for the load), peak {:.1} MB",
            rss / 1024.0,
            (rss - rss_before.unwrap_or(0.0)) / 1024.0,
            hwm / 1024.0
        ),
        _ => eprintln!("memory: /proc/self/status not available"),
    }
}

fn mb(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// A `VmRSS:`-style field of /proc/self/status, in kB.
fn proc_status_kb(field: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_names_its_file_and_line() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("audience-load-test-{}.csv", std::process::id()));
        std::fs::write(&path, format!("alice,vip\nbob,{}\ncarol,vip\n", "x".repeat(2 << 20))).unwrap();
        let path_str = path.to_str().unwrap().to_owned();
        let got = load_engine(&path_str, None);
        let _ = std::fs::remove_file(&path);
        let e = got.err().unwrap();
        assert!(e.starts_with(&format!("{path_str}:2: record longer than 1 MiB")), "{e}");
        assert!(load_engine("/nonexistent/pairs.csv", None).err().unwrap().starts_with("cannot open /nonexistent"));
    }
}
