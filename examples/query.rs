//! Count the customers matching boolean queries over a CSV of (customer, tag) pairs, and
//! optionally a CSV of numeric attributes.
//!
//! ```text
//! cargo run --release --example query -- PAIRS.csv [--attrs ATTRS.csv] [QUERY...]
//! cargo run --release --example query -- pairs.csv 'vip AND NOT churned' '"High Value" OR outdoor'
//! cargo run --release --example query -- pairs.csv --attrs attrs.csv 'age >= 30 AND vip' 'balance<-5'
//! printf 'vip\nvip AND outdoor\n' | cargo run --release --example query -- pairs.csv
//! ```
//!
//! `PAIRS.csv` is headerless, one `customer_key,tag` pair a record, loaded by the crate's
//! [`Engine::load_tags_csv`] (see [`audience::CsvOptions`] for the format): RFC 4180, so a
//! tag with a comma is written `alice,"shoes, red"` (`""` is a quote inside a quoted field);
//! records end with `\n`, `\r\n` or `\r`; blank lines are skipped. A record with another
//! number of fields than two, an empty key, an invalid tag name, a field that is not UTF-8,
//! and a record longer than 1 MiB (never read into memory whole) are errors naming the file,
//! line and column (exit 1), and nothing is loaded. Keys are registered in order of first
//! appearance and all pairs applied by one bulk call, which groups them per tag and builds
//! every bitmap from a sorted run. `AUDIENCE_THREADS=N` sets the threads the file is parsed
//! on (default: the machine's).
//!
//! `--attrs ATTRS.csv` (anywhere before the first query) loads numeric attributes with
//! [`Engine::load_attrs_csv`], queried with comparisons (`age >= 30 AND age < 40`). The file
//! is headerless, one `customer_key,name,value` record per value, `value` an integer (`i64`,
//! white space around it ignored), with the same rules as the pairs file; an invalid
//! attribute name or a value that is not an integer is an error naming its line (exit 1).
//! When a key and name repeat, the last value wins. A key found only in this file is a
//! customer all the same (it counts for `NOT`). The values are applied by one bulk call,
//! after the pairs.
//!
//! Then every query argument (or, without any, every non-empty line of stdin) is counted and
//! printed as `<count>\t<query>` on stdout, the query exactly as given (a line break inside
//! an argument is echoed as a space, so there is always one line per query). A bad query prints
//! its error, with a caret under the problem, on stderr and `error\t<query>` on stdout, and
//! the run goes on. So does a stdin line that is not valid UTF-8 (`stdin:<line>: not valid
//! UTF-8 (...)` on stderr, `error\t<the line>` on stdout with each invalid sequence shown as
//! U+FFFD) and a stdin line longer than 1 MiB (`stdin:<line>: line longer than 1 MiB ...` on
//! stderr, `error\t<its first bytes>…` on stdout; the line is skipped without being held in
//! memory). Load time and memory go to stderr.
//!
//! Error messages quote at most an excerpt of a long line or field: up to 80 bytes whole,
//! beyond that its start, `…`, its end and its length (`"alice,…,x" (104857600 bytes)`).

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use audience::Engine;

#[path = "support/mod.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use support::{Line, MAX_LINE_BYTES, read_line_capped, too_long};

const USAGE: &str = "usage: query PAIRS.csv [--attrs ATTRS.csv] [QUERY...]\n\
    \n\
    PAIRS.csv: headerless `customer_key,tag` lines (RFC 4180 quoting: a tag with a comma is \"a,b\").\n\
    ATTRS.csv: headerless `customer_key,name,value` lines, value an integer (query: `age >= 30 AND vip`).\n\
    Prints `<count>\\t<query>` per query argument, or per non-empty stdin line when none is given.";

/// The command line: the pairs file, the attributes file, the queries.
struct Args<'a> {
    pairs: &'a str,
    attrs: Option<&'a str>,
    queries: &'a [String],
}

/// `Ok(None)` for `-h`/`--help` in the place of the pairs file. `--attrs FILE` (or
/// `--attrs=FILE`) may come before or after the pairs file; the first other argument after
/// the pairs file starts the queries.
fn parse_args(args: &[String]) -> Result<Option<Args<'_>>, String> {
    let (mut pairs, mut attrs) = (None, None);
    let mut i = 0;
    while i < args.len() {
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
        } else if pairs.is_none() {
            if arg == "-h" || arg == "--help" {
                return Ok(None);
            }
            pairs = Some(arg);
        } else {
            break;
        }
        i += 1;
    }
    let pairs = pairs.ok_or("missing PAIRS.csv")?;
    Ok(Some(Args { pairs, attrs, queries: &args[i..] }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match support::command_line("query", USAGE, &args, parse_args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let queries = args.queries;

    let engine = match load::load_engine(args.pairs, args.attrs) {
        Ok(engine) => engine,
        Err(msg) => {
            eprintln!("query: {msg}");
            return ExitCode::FAILURE;
        }
    };

    let mut out = io::stdout().lock();
    let result = if queries.is_empty() {
        if io::stdin().is_terminal() {
            eprintln!("reading queries from stdin, one per line (Ctrl-D ends)");
        }
        run_stdin(&engine, io::stdin().lock(), &mut out, &mut io::stderr())
    } else {
        queries.iter().try_for_each(|q| run_query(&engine, q, &mut out, &mut io::stderr()))
    };
    match result.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // `query ... | head`: the reader is gone, which is not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("query: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Counts each non-empty line of `input` as a query, answering each as it comes (interactive
/// use). A line that is not UTF-8 or is longer than [`MAX_LINE_BYTES`] is reported on `err`
/// with its line number and answered `error\t...` on `out`, like a bad query; the run goes on.
fn run_stdin(engine: &Engine, mut input: impl BufRead, out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
    let mut raw = Vec::new();
    let mut lineno = 0u64;
    loop {
        let line = read_line_capped(&mut input, &mut raw, MAX_LINE_BYTES)?;
        lineno += 1;
        match line {
            Line::End => return Ok(()),
            Line::TooLong(len) => {
                writeln!(err, "stdin:{lineno}: {}", too_long(len))?;
                // Echo the start of the line, cut before a UTF-8 continuation byte.
                let mut end = raw.len().min(60);
                while end > 0 && end < raw.len() && raw[end] & 0xC0 == 0x80 {
                    end -= 1;
                }
                writeln!(out, "error\t{}…", echo(&String::from_utf8_lossy(&raw[..end])))?;
            }
            Line::Text => match std::str::from_utf8(&raw) {
                Ok(q) if q.trim().is_empty() => continue,
                Ok(q) => run_query(engine, q, out, err)?,
                Err(e) => {
                    writeln!(err, "stdin:{lineno}: not valid UTF-8 ({e})")?;
                    writeln!(out, "error\t{}", echo(&String::from_utf8_lossy(&raw)))?;
                }
            },
        }
        out.flush()?;
    }
}

/// `query` on one line: a line break inside an argument (white space to the grammar) is
/// echoed as a space, so the output stays one line per query.
fn echo(query: &str) -> std::borrow::Cow<'_, str> {
    if query.contains(['\n', '\r']) { query.replace(['\n', '\r'], " ").into() } else { query.into() }
}

/// Counts one query: `<count>\t<query>` on `out`, or the error on `err` and `error\t<query>`.
fn run_query(engine: &Engine, query: &str, out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
    match engine.count(query) {
        Ok(n) => writeln!(out, "{n}\t{}", echo(query)),
        Err(e) => {
            writeln!(err, "{e}")?;
            writeln!(out, "error\t{}", echo(query))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine where alice is `vip` and bob is not.
    fn small_engine() -> Engine {
        let mut engine = Engine::new();
        let alice = engine.customer("alice").unwrap();
        engine.customer("bob").unwrap();
        engine.tag(alice, "vip").unwrap();
        engine
    }

    /// `run_stdin` over `input`: (stdout, stderr).
    fn stdin_run(input: &[u8]) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        run_stdin(&small_engine(), input, &mut out, &mut err).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn stdin_goes_on_after_a_line_that_is_not_utf8() {
        let (out, err) = stdin_run(b"vip\nvip AND \xff\xfe x\r\n\n  \nNOT vip");
        assert_eq!(out, "1\tvip\nerror\tvip AND \u{fffd}\u{fffd} x\n1\tNOT vip\n");
        assert!(err.starts_with("stdin:2: not valid UTF-8 (invalid utf-8 sequence"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn stdin_goes_on_after_a_line_longer_than_the_cap() {
        let mut input = b"vip\n".to_vec();
        input.extend("高".repeat(MAX_LINE_BYTES / 3 + 1).bytes());
        input.extend_from_slice(b"\nNOT vip\n");
        let (out, err) = stdin_run(&input);
        assert_eq!(out, format!("1\tvip\nerror\t{}…\n1\tNOT vip\n", "高".repeat(20)));
        let len = (MAX_LINE_BYTES / 3 + 1) * 3;
        assert!(err.starts_with(&format!("stdin:2: line longer than 1 MiB ({len} bytes; hint: ")), "{err}");
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn args() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let parsed = |v: &[&str]| {
            let args = a(v);
            parse_args(&args).map(|o| o.map(|x| (x.pairs.to_owned(), x.attrs.map(str::to_owned), x.queries.to_vec())))
        };
        let want = |p: &str, at: Option<&str>, q: &[&str]| Ok(Some((p.to_owned(), at.map(str::to_owned), a(q))));
        assert_eq!(parsed(&["p.csv", "vip"]), want("p.csv", None, &["vip"]));
        assert_eq!(parsed(&["p.csv", "--attrs", "a.csv", "age >= 30"]), want("p.csv", Some("a.csv"), &["age >= 30"]));
        assert_eq!(parsed(&["--attrs=a.csv", "p.csv"]), want("p.csv", Some("a.csv"), &[]));
        assert_eq!(
            parsed(&["p.csv", "vip", "--attrs"]),
            want("p.csv", None, &["vip", "--attrs"]),
            "after a query: a query"
        );
        assert_eq!(parsed(&["--help"]), Ok(None));
        assert_eq!(parsed(&["p.csv", "--help"]), want("p.csv", None, &["--help"]), "after the pairs file: a query");
        assert!(parsed(&[]).is_err());
        assert!(parsed(&["p.csv", "--attrs"]).is_err());
        assert!(parsed(&["--attrs", "a.csv"]).is_err());
        assert!(parsed(&["p.csv", "--attrs", "a", "--attrs", "b"]).is_err());
    }
}
