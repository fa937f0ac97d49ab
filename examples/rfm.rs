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
//! The first line must be exactly `customer_id,date,amount` (a UTF-8 byte order mark before
//! it is ignored). Every other line is `customer_id,date,amount`, split on commas, nothing
//! trimmed and no quoting:
//!
//! - `customer_id`: any non-empty text, taken byte for byte;
//! - `date`: `YYYY-MM-DD`, or an RFC 3339 timestamp, which counts on its UTC day
//!   (`2024-06-30T23:30:00-05:00` is 2024-07-01), parsed by [`Day`]'s `FromStr`;
//! - `amount`: a decimal with at most two fractional digits, parsed exactly (no floating
//!   point) by [`Money::parse`]; a negative amount is a refund, zero is a purchase.
//!
//! A trailing `\r` is dropped and empty lines are skipped. A malformed line (an impossible
//! date such as `2024-02-30`, three decimals, `NaN`, a field missing or one too many, an
//! empty `customer_id`, invalid UTF-8, more than 1 MiB long) stops the run with an error
//! naming the file and line, exit 1. With `--skip-bad-lines` such lines are left out instead:
//! their number and the first few errors go to stderr. A line longer than 1 MiB is never
//! read into memory whole, and error messages quote at most an excerpt of a long line or
//! value (its start, `…`, its end and its length). A wrong command line exits 2.
//!
//! # Output
//!
//! CSV on stdout, one row per customer key seen in the file, in order of first appearance
//! (with `--skip-bad-lines`, a skipped line that still has its three fields and a key counts
//! as seeing the key: only its purchase is bad, so the customer gets a row, a prospect unless
//! a good line has a purchase of it):
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
//! Each key is registered with [`Engine::customer`], all rows are recorded with one bulk
//! [`Engine::record_purchases`] call, then [`Engine::refresh`] computes the models as of the
//! day and each row reads [`Engine::rfm_of`] and [`Engine::stage_of`].

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use audience::{CustomerId, Day, Engine, Money, RefreshReport};

#[path = "support/mod.rs"]
mod support;

use support::{Line, MAX_LINE_BYTES, excerpt, read_line_capped, too_long};

const USAGE: &str = "usage: rfm TRANSACTIONS.csv --as-of YYYY-MM-DD [--skip-bad-lines]\n\
    \n\
    TRANSACTIONS.csv: header `customer_id,date,amount`, then one purchase (negative amount: a refund)\n\
    \x20 per line; date YYYY-MM-DD or RFC 3339 (counted on its UTC day); amount with at most two decimals.\n\
    Prints `customer_id,recency_days,frequency,monetary,r,f,m,rfm_segment,stage` per customer, in order of\n\
    first appearance; a summary goes to stderr.\n\
    \n\
    \x20 --as-of YYYY-MM-DD   the day the scores and stages are computed for (later rows are ignored)\n\
    \x20 --skip-bad-lines     leave malformed lines out (counted on stderr) instead of stopping at the first\n\
    \x20 -h, --help           this text";

const HEADER: &str = "customer_id,date,amount";
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
    let loaded = load(&mut engine, &args.path, args.skip_bad_lines)?;
    let load_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let report = engine.refresh(args.as_of).map_err(|e| format!("{}: refresh as of {}: {e}", args.path, args.as_of))?;
    let refresh_s = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let written = write_report(&engine, &loaded.order, &mut out).and_then(|()| out.flush().map_err(WriteError::from));
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

/// What the load kept.
struct Loaded {
    /// Customers in order of first appearance.
    order: Vec<CustomerId>,
    /// Data lines read (valid and bad; empty lines not counted).
    lines: u64,
    purchases: u64,
    bad: u64,
    /// The first [`SHOW_BAD`] bad lines' errors.
    bad_shown: Vec<String>,
}

/// Reads the file into `engine`: customers registered one by one, purchases recorded in bulk.
fn load(engine: &mut Engine, path: &str, skip_bad_lines: bool) -> Result<Loaded, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut loaded = Loaded { order: Vec::new(), lines: 0, purchases: 0, bad: 0, bad_shown: Vec::new() };
    let mut purchases: Vec<(CustomerId, Day, Money)> = Vec::new();
    let mut seen: Vec<bool> = Vec::new(); // by customer id: already in `order`
    // Rows mostly come in time order: consecutive lines often carry the same date text.
    let mut last_date: (Vec<u8>, Option<Day>) = (Vec::new(), None);
    let mut raw: Vec<u8> = Vec::new();
    let mut lineno = 0u64;

    loop {
        let line =
            read_line_capped(&mut reader, &mut raw, MAX_LINE_BYTES).map_err(|e| format!("{path}: read error: {e}"))?;
        if line == Line::End {
            break;
        }
        lineno += 1;
        let mut bytes = raw.as_slice();
        if lineno == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
            if let Line::TooLong(len) = line {
                return Err(format!("{path}:1: expected the header {HEADER:?}, found a {}", too_long(len)));
            }
            if bytes != HEADER.as_bytes() {
                return Err(format!(
                    "{path}:1: expected the header {HEADER:?}, found {}",
                    excerpt(&String::from_utf8_lossy(bytes))
                ));
            }
            continue;
        }
        if bytes.is_empty() {
            continue;
        }
        loaded.lines += 1;
        let parsed = match line {
            Line::TooLong(len) => Err(too_long(len)),
            _ => parse_line(bytes, &mut last_date),
        };
        match parsed {
            Ok((key, day, amount)) => {
                let id = engine.customer(key).map_err(|e| format!("{path}:{lineno}: {e}"))?;
                note_seen(id, &mut seen, &mut loaded.order);
                purchases.push((id, day, amount));
            }
            Err(msg) => {
                let msg = format!("{path}:{lineno}: {msg}");
                if !skip_bad_lines {
                    return Err(format!(
                        "{msg}\nrfm: stopped at the first bad line (hint: fix it, or pass --skip-bad-lines to leave bad lines out)"
                    ));
                }
                // The customer was seen even if its purchase is bad: a line with its three
                // fields and a key still gives the key a row (a prospect, unless a good line
                // has a purchase of it). A line too long to read has no fields.
                if let Some(key) = key_of_bad_line(bytes).filter(|_| line == Line::Text) {
                    let id = engine.customer(key).map_err(|e| format!("{path}:{lineno}: {e}"))?;
                    note_seen(id, &mut seen, &mut loaded.order);
                }
                loaded.bad += 1;
                if loaded.bad_shown.len() < SHOW_BAD {
                    loaded.bad_shown.push(msg);
                }
            }
        }
    }
    if lineno == 0 {
        return Err(format!("{path}: empty file (expected the header {HEADER:?})"));
    }
    loaded.purchases = engine.record_purchases(purchases).map_err(|e| format!("{path}: recording purchases: {e}"))?;
    Ok(loaded)
}

/// Adds `id` to `order` the first time it is seen.
fn note_seen(id: CustomerId, seen: &mut Vec<bool>, order: &mut Vec<CustomerId>) {
    let i = id.0 as usize;
    if i >= seen.len() {
        seen.resize(i + 1, false);
    }
    if !seen[i] {
        seen[i] = true;
        order.push(id);
    }
}

/// The key of a bad line that still has three fields and a non-empty key.
fn key_of_bad_line(bytes: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(bytes).ok()?;
    let mut fields = line.split(',');
    match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(key), Some(_), Some(_), None) if !key.is_empty() => Some(key),
        _ => None,
    }
}

/// One data line: (customer key, day, amount), or what is wrong with it.
fn parse_line<'a>(bytes: &'a [u8], last_date: &mut (Vec<u8>, Option<Day>)) -> Result<(&'a str, Day, Money), String> {
    let line = std::str::from_utf8(bytes).map_err(|e| format!("not valid UTF-8 ({e})"))?;
    let mut fields = line.split(',');
    let (Some(key), Some(date), Some(amount), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected 3 fields `customer_id,date,amount`, found {} in {}",
            line.split(',').count(),
            excerpt(line)
        ));
    };
    if key.is_empty() {
        return Err("empty customer_id".to_owned());
    }
    let day = match last_date {
        (text, Some(day)) if text.as_slice() == date.as_bytes() => *day,
        _ => {
            let day = date.parse::<Day>().map_err(|e| e.to_string())?;
            last_date.0.clear();
            last_date.0.extend_from_slice(date.as_bytes());
            last_date.1 = Some(day);
            day
        }
    };
    let amount = Money::parse(amount).map_err(|e| e.to_string())?;
    Ok((key, day, amount))
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

/// The CSV report, one row per customer of `order`.
fn write_report(engine: &Engine, order: &[CustomerId], out: &mut impl Write) -> Result<(), WriteError> {
    writeln!(out, "{OUT_HEADER}")?;
    for &id in order {
        let key = engine.key_of(id).expect("registered by key");
        let stage = engine.stage_of(id)?.expect("every live customer has a stage after a refresh");
        match engine.rfm_of(id)? {
            Some(s) => {
                write!(out, "{key},{},{},", s.recency_days, s.frequency)?;
                write_money(out, s.monetary)?;
                writeln!(out, ",{},{},{},{},{stage}", s.r, s.f, s.m, s.segment)?;
            }
            None => writeln!(out, "{key},,,,,,,,{stage}")?,
        }
    }
    Ok(())
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
    loaded: &Loaded,
    report: &RefreshReport,
    [load_s, refresh_s, output_s]: [f64; 3],
    piped_away: bool,
) {
    let mut e = io::stderr().lock();
    let _ = writeln!(
        e,
        "rfm: {path} as of {as_of}: {customers} customers ({scored} with a purchase), {purchases} purchase records \
         from {lines} data lines",
        path = args.path,
        as_of = report.as_of,
        customers = report.customers,
        scored = report.scored,
        purchases = loaded.purchases,
        lines = loaded.lines,
    );
    // Without --skip-bad-lines a bad line stops the run, so there is nothing to list then.
    let _ = writeln!(e, "bad lines skipped: {}", loaded.bad);
    for msg in &loaded.bad_shown {
        let _ = writeln!(e, "  {msg}");
    }
    if loaded.bad > loaded.bad_shown.len() as u64 {
        let _ = writeln!(e, "  ... and {} more", loaded.bad - loaded.bad_shown.len() as u64);
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
    fn lines() {
        let mut cache = (Vec::new(), None);
        let (k, d, m) = parse_line(b"a,2024-06-30T23:30:00-05:00,-0.5", &mut cache).unwrap();
        assert_eq!((k, d.to_string(), m.minor()), ("a", "2024-07-01".to_owned(), -50));
        for bad in [
            "a,2024-02-30,1",
            "a,2024-01-01,1.005",
            "a,2024-01-01,NaN",
            "a,2024-01-01",
            "a,2024-01-01,1,2",
            ",2024-01-01,1",
        ] {
            assert!(parse_line(bad.as_bytes(), &mut cache).is_err(), "{bad}");
        }
        assert!(parse_line(b"a,2024-01-01,1.005", &mut cache).unwrap_err().starts_with("invalid amount \"1.005\": "));
    }

    #[test]
    fn bad_lines_quote_an_excerpt() {
        let mut cache = (Vec::new(), None);
        let line = format!("a,2024-01-01,1,{}", ",".repeat(10 << 20));
        let e = parse_line(line.as_bytes(), &mut cache).unwrap_err();
        assert!(e.starts_with("expected 3 fields `customer_id,date,amount`, found 10485764 in \"a,2024"), "{e}");
        assert!(e.len() < 300 && e.ends_with(&format!("({} bytes)", line.len())), "{e}");
        let e = parse_as_of(&"2".repeat(1000)).unwrap_err();
        assert!(e.starts_with("--as-of \"222") && e.contains("(1000 bytes)") && e.len() < 300, "{e}");
        let e = parse_args(["f.csv".to_owned(), format!("--{}", "x".repeat(1000))].into_iter()).err().unwrap();
        assert!(e.starts_with("unknown option \"--xxx") && e.len() < 300, "{e}");
    }

    /// Loads `text` from a temporary file: the result, and the file's path.
    fn load_text(text: &[u8], skip_bad_lines: bool) -> (Result<Loaded, String>, String) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("audience-rfm-test-{}-{n}.csv", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap().to_owned();
        let got = load(&mut Engine::new(), &path, skip_bad_lines);
        let _ = std::fs::remove_file(&path);
        (got, path)
    }

    #[test]
    fn a_line_longer_than_the_cap_is_a_bad_line() {
        let long = format!("b,2024-01-01,{}", "1".repeat(MAX_LINE_BYTES));
        let text = format!("{HEADER}\r\na,2024-01-01,10\r\n{long}\r\nc,2024-01-02,5\r\n");
        let (got, path) = load_text(text.as_bytes(), false);
        let e = got.err().unwrap();
        let want = format!("{path}:3: line longer than 1 MiB ({} bytes; hint: ", long.len());
        assert!(e.starts_with(&want) && e.len() < 500, "{e}");

        let (got, _) = load_text(text.as_bytes(), true);
        let loaded = got.unwrap();
        assert_eq!((loaded.lines, loaded.bad, loaded.order.len()), (3, 1, 2), "the too-long line gives no key");
        assert!(loaded.bad_shown[0].contains(":3: line longer than 1 MiB"), "{:?}", loaded.bad_shown);
    }

    #[test]
    fn a_bad_header_is_quoted_as_an_excerpt() {
        let (got, path) = load_text(format!("{}\na,2024-01-01,1\n", "h".repeat(2 * MAX_LINE_BYTES)).as_bytes(), true);
        let e = got.err().unwrap();
        let want = format!(
            "{path}:1: expected the header \"customer_id,date,amount\", found a line longer than 1 MiB ({} bytes",
            2 * MAX_LINE_BYTES
        );
        assert!(e.starts_with(&want), "{e}");
        let (got, path) = load_text(format!("\u{feff}customer_id,date,amount,{}\n", "x".repeat(500)).as_bytes(), false);
        let e = got.err().unwrap();
        let want =
            format!("{path}:1: expected the header \"customer_id,date,amount\", found \"customer_id,date,amount,xx");
        assert!(e.starts_with(&want) && e.ends_with("(524 bytes)") && e.len() < 300, "{e}");
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
