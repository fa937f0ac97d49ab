//! RFM scores, segments and lifecycle stages of every customer in a transactions CSV, as of
//! a day.
//!
//! ```text
//! cargo run --release --example rfm -- TRANSACTIONS.csv --as-of YYYY-MM-DD [--skip-bad-lines]
//! cargo run --release --example rfm -- tests/sql/tiny.csv --as-of 2024-06-30
//! ```
//!
//! # Input
//!
//! CSV (RFC 4180) whose header names the columns `customer_id`, `date` and `amount` (in any
//! order; other columns are ignored; a UTF-8 byte order mark before it is skipped), read by
//! [`Engine::load_purchases_csv`]: a field may be double-quoted (`"a,b"`, `""` for a quote),
//! records end with `\n`, `\r\n` or `\r`, blank lines are skipped, nothing is trimmed.
//!
//! - `customer_id`: any non-empty text, taken byte for byte;
//! - `date`: `YYYY-MM-DD`, or an RFC 3339 timestamp, which counts on its UTC day
//!   (`2024-06-30T23:30:00-05:00` is 2024-07-01), parsed by [`Day`]'s `FromStr`;
//! - `amount`: a decimal with at most two fractional digits, parsed exactly (no floating
//!   point) by [`Money::parse`]; a negative amount is a refund, zero is a purchase.
//!
//! A malformed record (an impossible date such as `2024-02-30`, three decimals, `NaN`, a
//! field missing or one too many, an empty `customer_id`, invalid UTF-8, more than 1 MiB
//! long) stops the run with an error naming the file, line and column, exit 1, and nothing
//! is loaded. With `--skip-bad-lines` such records are left out instead: their number and
//! the first few errors go to stderr. A record longer than 1 MiB is never read into memory
//! whole, and error messages quote at most an excerpt of a long value (its start, `…`, its
//! end and its length). A wrong command line exits 2. `AUDIENCE_THREADS=N` sets the threads
//! the file is parsed on (default: the machine's; the output is the same at any count).
//!
//! # Output
//!
//! CSV on stdout, one row per customer key seen in the file, in order of first appearance
//! (with `--skip-bad-lines`, a skipped record that still has its fields and a key counts as
//! seeing the key: only its purchase is bad, so the customer gets a row, a prospect unless a
//! good record has a purchase of it). A key with a comma, a quote or a line break is
//! double-quoted (RFC 4180, quotes doubled), so the report reads back to the same keys:
//!
//! ```text
//! customer_id,recency_days,frequency,monetary,r,f,m,rfm_segment,stage
//! alice,90,3,90.00,1,4,5,at_risk,active
//! grace,,,,,,,,prospect
//! ```
//!
//! `monetary` is the sum of every amount on or before the as-of day, refunds included, with
//! exactly two decimals. A customer without a purchase on or before the as-of day has empty
//! RFM fields and stage `prospect`. The rules are in the docs of [`audience::RfmModel`] and
//! [`audience::Stage`]; `tests/sql/` holds an independent SQL implementation to diff
//! against. Counts per segment and per stage, sizes and timings go to stderr.
//!
//! # How
//!
//! [`Engine::load_purchases_csv`] registers the keys in order of first appearance (so
//! customer ids `0, 1, ...` are that order) and records every purchase with one bulk call,
//! then [`Engine::refresh`] computes the models as of the day and each row reads
//! [`Engine::rfm_of`] and [`Engine::stage_of`].

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

#[cfg(doc)]
use audience::Money;
use audience::{CsvOptions, Day, Engine, LoadReport, RefreshReport};

#[path = "support/mod.rs"]
mod support;

use support::excerpt;

const USAGE: &str = "usage: rfm TRANSACTIONS.csv --as-of YYYY-MM-DD [--skip-bad-lines]\n\
    \n\
    TRANSACTIONS.csv: a header naming `customer_id,date,amount`, then one purchase (negative amount: a refund)\n\
    \x20 per line; date YYYY-MM-DD or RFC 3339 (counted on its UTC day); amount with at most two decimals.\n\
    Prints `customer_id,recency_days,frequency,monetary,r,f,m,rfm_segment,stage` per customer, in order of\n\
    first appearance; a summary goes to stderr.\n\
    \n\
    \x20 --as-of YYYY-MM-DD   the day the scores and stages are computed for (later rows are ignored)\n\
    \x20 --skip-bad-lines     leave malformed lines out (counted on stderr) instead of stopping at the first\n\
    \x20 -h, --help           this text";

/// The columns read, by their names in the header.
const COLUMNS: [&str; 3] = ["customer_id", "date", "amount"];
const OUT_HEADER: &str = "customer_id,recency_days,frequency,monetary,r,f,m,rfm_segment,stage";
/// How many bad lines `--skip-bad-lines` quotes on stderr.
const SHOW_BAD: usize = 5;

/// The command line.
struct Args {
    path: String,
    as_of: Day,
    skip_bad_lines: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("rfm: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("rfm: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` for `--help`.
fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut path = None;
    let mut as_of = None;
    let mut skip_bad_lines = false;
    let mut options_done = false;
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            _ if options_done || !arg.starts_with('-') => {
                if path.replace(arg.clone()).is_some() {
                    return Err(format!("one transactions file expected, got a second one: {}", excerpt(&arg)));
                }
            }
            "--" => options_done = true,
            "-h" | "--help" => return Ok(None),
            "--skip-bad-lines" => skip_bad_lines = true,
            a if a == "--as-of" || a.starts_with("--as-of=") => {
                let v = match a.strip_prefix("--as-of=") {
                    Some(v) => v.to_owned(),
                    None => raw.next().ok_or("--as-of needs a value, e.g. --as-of 2024-06-30")?,
                };
                as_of = Some(parse_as_of(&v)?);
            }
            _ => return Err(format!("unknown option {}", excerpt(&arg))),
        }
    }
    let path = path.ok_or("missing TRANSACTIONS.csv")?;
    let as_of = as_of.ok_or("missing --as-of YYYY-MM-DD")?;
    Ok(Some(Args { path, as_of, skip_bad_lines }))
}

/// `--as-of` is a calendar day written `YYYY-MM-DD` (not a timestamp: whose day would it be?).
fn parse_as_of(v: &str) -> Result<Day, String> {
    let b = v.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| if i == 4 || i == 7 { c == b'-' } else { c.is_ascii_digit() });
    if !shape {
        return Err(format!("--as-of {}: expected YYYY-MM-DD, e.g. 2024-06-30", excerpt(v)));
    }
    v.parse::<Day>().map_err(|e| format!("--as-of: {e}"))
}

fn run(args: &Args) -> Result<(), String> {
    let t0 = Instant::now();
    let mut engine = Engine::new();
    engine.set_threads(support::threads()); // the refresh's
    let loaded = load(&mut engine, &args.path, args.skip_bad_lines)?;
    let load_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let report = engine.refresh(args.as_of).map_err(|e| format!("{}: refresh as of {}: {e}", args.path, args.as_of))?;
    let refresh_s = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let written = write_report(&engine, &mut out).and_then(|()| out.flush().map_err(WriteError::from));
    let output_s = t2.elapsed().as_secs_f64();
    let piped_away = match written {
        Ok(()) => false,
        // `rfm ... | head`: the reader is gone, which is not an error of ours.
        Err(WriteError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => true,
        Err(WriteError::Io(e)) => return Err(format!("writing the report: {e}")),
        Err(WriteError::Engine(e)) => return Err(e.to_string()),
    };
    drop(out); // a flush that fails again on a closed pipe is ignored by the drop

    summary(args, &loaded, &report, [load_s, refresh_s, output_s], piped_away);
    Ok(())
}

/// Whether `--skip-bad-lines` would have gone past a load's error (a bad record, not a bad
/// header or a read error).
fn skippable(problem: &audience::CsvProblem) -> bool {
    use audience::CsvProblem as P;
    !matches!(problem, P::MissingColumn { .. } | P::NoHeader | P::Columns { .. } | P::Read { .. })
}

/// Reads the file into `engine` with the crate's loader; errors ready to print.
fn load(engine: &mut Engine, path: &str, skip_bad_lines: bool) -> Result<LoadReport, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let options = CsvOptions::new(path)
        .columns(COLUMNS)
        .skip_bad_records(skip_bad_lines)
        .register_keys_of_bad_records(true)
        .keep_errors(SHOW_BAD)
        .threads(support::threads());
    engine.load_purchases_csv(file, &options).map_err(|e| match e {
        audience::Error::Csv { ref problem, .. } if !skip_bad_lines && skippable(problem) => format!(
            "{e}\nrfm: stopped at the first bad line (hint: fix it, or pass --skip-bad-lines to leave bad lines out)"
        ),
        e => e.to_string(),
    })
}

enum WriteError {
    Io(io::Error),
    Engine(audience::Error),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> WriteError {
        WriteError::Io(e)
    }
}

impl From<audience::Error> for WriteError {
    fn from(e: audience::Error) -> WriteError {
        WriteError::Engine(e)
    }
}

/// The CSV report, one row per customer, in id order: the order of first appearance (the
/// engine is new, and the load registers keys in that order).
fn write_report(engine: &Engine, out: &mut impl Write) -> Result<(), WriteError> {
    writeln!(out, "{OUT_HEADER}")?;
    for id in engine.customers().iter() {
        let key = engine.key_of(id).expect("registered by key");
        let stage = engine.stage_of(id)?.expect("every live customer has a stage after a refresh");
        write_field(out, key)?;
        match engine.rfm_of(id)? {
            Some(s) => {
                write!(out, ",{},{},", s.recency_days, s.frequency)?;
                write_money(out, s.monetary)?;
                writeln!(out, ",{},{},{},{},{stage}", s.r, s.f, s.m, s.segment)?;
            }
            None => writeln!(out, ",,,,,,,,{stage}")?,
        }
    }
    Ok(())
}

/// `field` as RFC 4180 writes it: as it is, or double-quoted (quotes doubled) when it holds
/// a comma, a quote or a line break.
fn write_field(out: &mut impl Write, field: &str) -> io::Result<()> {
    if !field.contains([',', '"', '\n', '\r']) {
        return out.write_all(field.as_bytes());
    }
    out.write_all(b"\"")?;
    for (i, part) in field.split('"').enumerate() {
        if i > 0 {
            out.write_all(b"\"\"")?;
        }
        out.write_all(part.as_bytes())?;
    }
    out.write_all(b"\"")
}

/// Minor units as major units with exactly two decimals: `-3.50`, `0.00`, `-0.05`. Works
/// from the absolute value as `u64`, so `i64::MIN` formats too.
fn write_money(out: &mut impl Write, minor: i64) -> io::Result<()> {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    write!(out, "{sign}{}.{:02}", abs / 100, abs % 100)
}

fn summary(
    args: &Args,
    loaded: &LoadReport,
    report: &RefreshReport,
    [load_s, refresh_s, output_s]: [f64; 3],
    piped_away: bool,
) {
    let mut e = io::stderr().lock();
    let _ = writeln!(
        e,
        "rfm: {path} as of {as_of}: {customers} customers ({scored} with a purchase), {purchases} purchase records \
         from {lines} data records",
        path = args.path,
        as_of = report.as_of,
        customers = report.customers,
        scored = report.scored,
        purchases = loaded.changed,
        lines = loaded.records,
    );
    // Without --skip-bad-lines a bad line stops the run, so there is nothing to list then.
    let _ = writeln!(e, "bad lines skipped: {}", loaded.skipped);
    for msg in &loaded.errors {
        let _ = writeln!(e, "  {msg}");
    }
    if loaded.skipped > loaded.errors.len() as u64 {
        let _ = writeln!(e, "  ... and {} more", loaded.skipped - loaded.errors.len() as u64);
    }
    let list = |items: &mut dyn Iterator<Item = (String, u64)>| {
        items.map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(e, "segments: {}", list(&mut report.segments.iter().cloned()));
    let _ = writeln!(e, "stages: {}", list(&mut report.stages.iter().map(|(s, n)| (s.to_string(), *n))));
    let _ = writeln!(
        e,
        "time: load {load_s:.3} s, refresh {refresh_s:.3} s, output {output_s:.3} s{}",
        if piped_away { " (output cut short: the reader closed the pipe)" } else { "" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64) -> String {
        let mut v = Vec::new();
        write_money(&mut v, minor).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(-350), "-3.50");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(-99), "-0.99");
        assert_eq!(money(123_405), "1234.05");
        assert_eq!(money(i64::MIN), "-92233720368547758.08");
        assert_eq!(money(i64::MAX), "92233720368547758.07");
    }

    #[test]
    fn long_arguments_are_quoted_as_an_excerpt() {
        let e = parse_as_of(&"2".repeat(1000)).unwrap_err();
        assert!(e.starts_with("--as-of \"222") && e.contains("(1000 bytes)") && e.len() < 300, "{e}");
        let e = parse_args(["f.csv".to_owned(), format!("--{}", "x".repeat(1000))].into_iter()).err().unwrap();
        assert!(e.starts_with("unknown option \"--xxx") && e.len() < 300, "{e}");
    }

    /// Runs the whole example on `text`: the report, or the error.
    fn run_on(text: &[u8], skip_bad_lines: bool) -> (Result<String, String>, String) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("audience-rfm-test-{}-{n}.csv", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap().to_owned();
        let mut engine = Engine::new();
        let got = load(&mut engine, &path, skip_bad_lines).and_then(|_| {
            engine.refresh(Day::from_ymd(2024, 6, 30).unwrap()).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            write_report(&engine, &mut out).map_err(|_| "write".to_owned())?;
            Ok(String::from_utf8(out).unwrap())
        });
        let _ = std::fs::remove_file(&path);
        (got, path)
    }

    #[test]
    fn keys_with_commas_quotes_and_line_breaks_round_trip() {
        let keys = ["plain", "a,b", "say \"hi\"", "two\nlines", "cr\rkey", "高消费", " spaced "];
        let mut text = "amount,customer_id,date\r\n".to_owned();
        for (i, k) in keys.iter().enumerate() {
            let quoted = format!("\"{}\"", k.replace('"', "\"\""));
            text.push_str(&format!("{}.50,{quoted},2024-06-0{}\r\n", i + 1, i + 1));
        }
        let (report, _) = run_on(text.as_bytes(), false);
        let report = report.unwrap();
        let mut r = csv::ReaderBuilder::new().from_reader(report.as_bytes());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), OUT_HEADER.split(',').collect::<Vec<_>>());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.iter().map(|r| r[0].to_owned()).collect::<Vec<_>>(), keys, "in order of first appearance");
        assert_eq!(&rows[1][3], "2.50");
    }

    #[test]
    fn a_bad_line_stops_the_run_unless_skipped() {
        let text = "customer_id,date,amount\na,2024-01-01,10\nb,2024-01-01,1.005\nc,2024-02-30,1\nd,2024-01-01\n";
        let (got, path) = run_on(text.as_bytes(), false);
        let e = got.unwrap_err();
        assert!(e.starts_with(&format!("{path}:3: invalid amount \"1.005\"")), "{e}");
        assert!(e.contains("(column 3, \"amount\")") && e.contains("--skip-bad-lines"), "{e}");
        // Skipped: b and c keep a row (their fields are all there), d does not.
        let (got, _) = run_on(text.as_bytes(), true);
        let report = got.unwrap();
        let keys: Vec<&str> = report.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert!(report.ends_with("b,,,,,,,,prospect\nc,,,,,,,,prospect\n"), "{report}");
    }

    #[test]
    fn headers_and_long_lines() {
        let (got, path) = run_on(b"", false);
        assert!(got.unwrap_err().starts_with(&format!("{path}:1: empty input, expected a header line")));
        let (got, _) = run_on(b"customer,date,amount\na,2024-01-01,1\n", false);
        let e = got.unwrap_err();
        assert!(e.contains("the header has no column \"customer_id\"") && !e.contains("--skip-bad-lines"), "{e}");
        let long =
            format!("customer_id,date,amount\na,2024-01-01,10\nb,2024-01-01,{}\nc,2024-01-02,5\n", "1".repeat(2 << 20));
        let (got, path) = run_on(long.as_bytes(), false);
        let e = got.unwrap_err();
        assert!(e.starts_with(&format!("{path}:3: record longer than 1 MiB")) && e.len() < 500, "{e}");
        let (got, _) = run_on(long.as_bytes(), true);
        assert_eq!(got.unwrap().lines().count(), 3, "the too-long record gives no key");
    }

    #[test]
    fn args() {
        let p = |v: &[&str]| parse_args(v.iter().map(|s| s.to_string()));
        let a = p(&["f.csv", "--as-of", "2024-06-30"]).unwrap().unwrap();
        assert_eq!((a.path.as_str(), a.as_of.to_string(), a.skip_bad_lines), ("f.csv", "2024-06-30".to_owned(), false));
        assert!(p(&["--skip-bad-lines", "--as-of=2024-06-30", "f.csv"]).unwrap().unwrap().skip_bad_lines);
        assert!(p(&["--help"]).unwrap().is_none());
        for bad in [
            &["f.csv"][..],
            &["--as-of", "2024-06-30"],
            &["f.csv", "--as-of"],
            &["f.csv", "--as-of", "2024-6-30"],
            &["f.csv", "--as-of", "2024-02-30"],
            &["f.csv", "g.csv", "--as-of", "2024-06-30"],
            &["f.csv", "--as-of", "2024-06-30", "-x"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
