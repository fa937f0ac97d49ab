//! Move an engine's tags to ClickHouse: load the same files as the `query` example, write
//! ClickHouse `RowBinary` tables, and print each query as ClickHouse SQL over them.
//!
//! ```text
//! cargo run --release --example clickhouse -- PAIRS.csv OUT_DIR [--attrs ATTRS.csv] [QUERY...]
//! cargo run --release --example clickhouse -- pairs.csv out --attrs attrs.csv 'vip AND NOT churned' 'age >= 30'
//! ```
//!
//! `PAIRS.csv` and `--attrs ATTRS.csv` are read exactly as the `query` example reads them
//! (headerless `customer_key,tag` and `customer_key,name,value` records, the crate's CSV
//! loaders; a bad record stops the run with its file, line and column, exit 1). Then:
//!
//! - `OUT_DIR/tags.bin`: `RowBinary` rows of `tag String, kind String, customers
//!   AggregateFunction(groupBitmap, UInt32)`, one per tag, its own members in ClickHouse's
//!   `groupBitmap` state;
//! - `OUT_DIR/customers.bin`: rows of `customer_id UInt32, key String`, every customer;
//! - with `--attrs`, `OUT_DIR/attrs.bin`: rows of `customer_id UInt32, name String, value
//!   Int64`, every value.
//!
//! `OUT_DIR` is created if missing; the files are replaced. Then one line per query
//! argument on stdout: a complete ClickHouse `SELECT` over tables named `tags`, `customers`
//! and `attrs` that returns one row with one column named `audience`, the query's result
//! bitmap (its `bitmapCardinality` is what the `query` example counts). A query the engine
//! refuses (a syntax error, an unknown tag) prints its error on stderr and `-- error: ...`
//! in its line, and the run ends with exit status 1 after the other queries. Rows, bytes
//! and times go to stderr. Load the files into ClickHouse with:
//!
//! ```sql
//! CREATE TABLE tags (tag String, kind String, customers AggregateFunction(groupBitmap, UInt32)) ENGINE = MergeTree ORDER BY tag;
//! CREATE TABLE customers (customer_id UInt32, key String) ENGINE = MergeTree ORDER BY customer_id;
//! CREATE TABLE attrs (customer_id UInt32, name String, value Int64) ENGINE = MergeTree ORDER BY (name, customer_id);
//! INSERT INTO tags FROM INFILE 'out/tags.bin' FORMAT RowBinary;
//! INSERT INTO customers FROM INFILE 'out/customers.bin' FORMAT RowBinary;
//! INSERT INTO attrs FROM INFILE 'out/attrs.bin' FORMAT RowBinary;
//! ```
//!
//! A wrong command line exits 2.

#[path = "support/load.rs"]
mod load;
#[path = "support/mod.rs"]
mod support;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use audience::Tables;

const USAGE: &str = "usage: clickhouse PAIRS.csv OUT_DIR [--attrs ATTRS.csv] [QUERY...]\n\
    PAIRS.csv: headerless `customer_key,tag` lines; ATTRS.csv: headerless `customer_key,name,value` lines.\n\
    Writes OUT_DIR/tags.bin, customers.bin (and attrs.bin) as ClickHouse RowBinary, then prints\n\
    each query as a ClickHouse SELECT over tables `tags`, `customers` and `attrs` returning `audience`.";

/// The command line.
struct Args<'a> {
    pairs: &'a str,
    out: &'a str,
    attrs: Option<&'a str>,
    queries: &'a [String],
}

/// `Ok(None)` for `-h`/`--help`. `--attrs FILE` (or `--attrs=FILE`) may come anywhere
/// before the first query; the first other argument after the two paths starts the queries.
fn parse_args(args: &[String]) -> Result<Option<Args<'_>>, String> {
    let (mut paths, mut attrs) = (Vec::new(), None);
    let mut i = 0;
    while i < args.len() && paths.len() < 2 {
        let arg = args[i].as_str();
        let file = if arg == "--attrs" {
            i += 1;
            Some(args.get(i).ok_or("--attrs needs a file: --attrs ATTRS.csv")?.as_str())
        } else {
            arg.strip_prefix("--attrs=")
        };
        if let Some(file) = file {
            if attrs.replace(file).is_some() {
                return Err("--attrs given twice (hint: put every attribute in one file)".to_owned());
            }
        } else if arg == "-h" || arg == "--help" {
            return Ok(None);
        } else {
            paths.push(arg);
        }
        i += 1;
    }
    // `--attrs` may also follow OUT_DIR, before the queries.
    if attrs.is_none() && i < args.len() {
        let arg = args[i].as_str();
        if arg == "--attrs" {
            attrs = Some(args.get(i + 1).ok_or("--attrs needs a file: --attrs ATTRS.csv")?.as_str());
            i += 2;
        } else if let Some(file) = arg.strip_prefix("--attrs=") {
            attrs = Some(file);
            i += 1;
        }
    }
    match paths[..] {
        [pairs, out] => Ok(Some(Args { pairs, out, attrs, queries: &args[i..] })),
        [_] => Err("missing OUT_DIR".to_owned()),
        _ => Err("missing PAIRS.csv and OUT_DIR".to_owned()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match support::command_line("clickhouse", USAGE, &args, parse_args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let engine = match load::load_engine(args.pairs, args.attrs) {
        Ok(engine) => engine,
        Err(msg) => {
            eprintln!("clickhouse: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let t = Instant::now();
    let written = match engine.export_clickhouse(args.out, args.attrs.is_some()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("clickhouse: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let bytes = written.tags.1 + written.customers.1 + written.attrs.map_or(0, |a| a.1);
    eprintln!(
        "wrote {}: tags.bin {} rows {} bytes, customers.bin {} rows {} bytes{} in {secs:.3} s ({:.0} MB/s)",
        args.out,
        written.tags.0,
        written.tags.1,
        written.customers.0,
        written.customers.1,
        written.attrs.map_or(String::new(), |(rows, b)| format!(", attrs.bin {rows} rows {b} bytes")),
        bytes as f64 / 1e6 / secs.max(1e-9),
    );

    let tables = Tables::default();
    let mut out = io::stdout().lock();
    let mut failed = false;
    for query in args.queries {
        let line = match engine.to_clickhouse_sql(query.as_str(), &tables) {
            Ok(sql) => sql,
            Err(e) => {
                eprintln!("{e}");
                failed = true;
                format!("-- error: {}", e.to_string().replace(['\n', '\r'], " "))
            }
        };
        if let Err(e) = writeln!(out, "{line}") {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("clickhouse: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = out.flush()
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("clickhouse: {e}");
        return ExitCode::FAILURE;
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_attrs_and_queries() {
        let a = args(&["p.csv", "out", "--attrs", "a.csv", "vip", "x"]);
        let got = parse_args(&a).unwrap().unwrap();
        assert_eq!((got.pairs, got.out, got.attrs, got.queries.len()), ("p.csv", "out", Some("a.csv"), 2));
        let a = args(&["--attrs=a.csv", "p.csv", "out", "vip"]);
        let got = parse_args(&a).unwrap().unwrap();
        assert_eq!((got.pairs, got.out, got.attrs, got.queries.len()), ("p.csv", "out", Some("a.csv"), 1));
        let a = args(&["p.csv", "out"]);
        assert!(parse_args(&a).unwrap().unwrap().queries.is_empty());
        assert!(parse_args(&args(&["p.csv"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["p.csv", "out", "--attrs"])).is_err());
        assert!(parse_args(&args(&["--help"])).unwrap().is_none());
    }
}
