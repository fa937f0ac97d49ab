//! Put every customer of a CSV of (customer, tag) pairs, and optionally of numeric
//! attributes, in exactly one segment of a segment plan, and count each segment.
//!
//! ```text
//! cargo run --release --example segment -- PAIRS.csv PLAN.json [--attrs ATTRS.csv]
//! cargo run --release --example segment -- pairs.csv plan.json --attrs attrs.csv
//! ```
//!
//! `PAIRS.csv` and `ATTRS.csv` are read exactly as the `query` example reads them (the same
//! code, `support/load.rs`, with the crate's CSV loaders): headerless `customer_key,tag` and
//! `customer_key,name,value` records, RFC 4180 quoting, a bad record an error naming the
//! file, line and column.
//!
//! `PLAN.json` is a [`SegmentPlan`] in its serde form, ordered rules and a fallback:
//!
//! ```json
//! {"rules": [{"name": "champions", "query": "r:5 AND f:5"},
//!            {"name": "big_spenders", "query": "spend >= 1000 AND NOT churned"}],
//!  "fallback": "everyone_else"}
//! ```
//!
//! Every customer lands in the first rule whose query matches it, else in the fallback
//! ([`Engine::segment`]). The output is one line per segment, in plan order with the
//! fallback last, `<segment>\t<count>` on stdout (the counts add up to the customers; shown
//! here with spaces for the tabs):
//!
//! ```text
//! champions      120
//! big_spenders   31
//! everyone_else  849
//! ```
//!
//! Exit 1, with the error on stderr and nothing on stdout, for a plan that is not valid JSON
//! (`plan.json:3:17: invalid JSON: ...`, line and column as `serde_json` reports them), that
//! does not have the plan's shape or fails validation (no rules, two rules with one name, an
//! invalid segment name, a query that does not parse: [`Error::InvalidPlan`],
//! [`Error::InRule`]), or whose rule names a tag or attribute the files do not have
//! (`Error::InRule` naming the rule, with the query's own error and suggestions), and for a
//! file that cannot be read or has a bad line. Exit 2, with the usage on stderr, for a wrong
//! command line: a file not given, an unknown option, an extra argument. Load time, engine
//! sizes, memory and the evaluation time go to stderr.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use audience::SegmentPlan;
#[cfg(doc)]
use audience::{Engine, Error};

#[path = "support/mod.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use support::excerpt;

const USAGE: &str = "usage: segment PAIRS.csv PLAN.json [--attrs ATTRS.csv]\n\
    \n\
    PAIRS.csv: headerless `customer_key,tag` lines (RFC 4180 quoting: a tag with a comma is \"a,b\").\n\
    PLAN.json: {\"rules\": [{\"name\": \"champions\", \"query\": \"r:5 AND f:5\"}, ...], \"fallback\": \"everyone_else\"}\n\
    ATTRS.csv: headerless `customer_key,name,value` lines, value an integer (query: `age >= 30 AND vip`).\n\
    Prints `<segment>\\t<count>` per segment, in plan order with the fallback last.";

/// The plan's shape, for the hint of an error that is about the shape.
const PLAN_SHAPE: &str = r#"hint: a plan is {"rules": [{"name": "champions", "query": "vip AND outdoor"}, ...], "fallback": "everyone_else"}"#;

/// The largest plan file read: a plan is a few rules, and a longer file is more likely a
/// wrong path than a plan.
const MAX_PLAN_BYTES: u64 = 16 << 20;

/// The command line: the pairs file, the plan, the attributes file.
struct Args<'a> {
    pairs: &'a str,
    plan: &'a str,
    attrs: Option<&'a str>,
}

/// `Ok(None)` for `-h`/`--help`. `--attrs FILE` (or `--attrs=FILE`) may come anywhere; the
/// other arguments are the two files, in order. After `--` every argument is a file (for a
/// file whose name starts with `-`).
fn parse_args(args: &[String]) -> Result<Option<Args<'_>>, String> {
    let (mut files, mut attrs) = (Vec::new(), None);
    let mut options = true;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if !options || arg == "-" || !arg.starts_with('-') {
            files.push(arg);
            continue;
        }
        let file = match arg {
            "--" => {
                options = false;
                continue;
            }
            "-h" | "--help" => return Ok(None),
            "--attrs" => {
                i += 1;
                args.get(i - 1).ok_or("--attrs needs a file: --attrs ATTRS.csv")?.as_str()
            }
            _ => arg.strip_prefix("--attrs=").ok_or_else(|| {
                format!("unknown option {} (hint: the only option is --attrs ATTRS.csv)", excerpt(arg))
            })?,
        };
        if attrs.replace(file).is_some() {
            return Err("--attrs given twice (hint: put every attribute in one file)".to_owned());
        }
    }
    match files[..] {
        [pairs, plan] => Ok(Some(Args { pairs, plan, attrs })),
        [] => Err("missing PAIRS.csv and PLAN.json".to_owned()),
        [_] => Err("missing PLAN.json".to_owned()),
        [_, _, extra, ..] => Err(format!(
            "unexpected argument {} (hint: one pairs file, one plan; attributes go with --attrs ATTRS.csv)",
            excerpt(extra)
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match support::command_line("segment", USAGE, &args, parse_args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    // The plan first: a bad plan is found before a long load.
    let counts = read_plan(args.plan).and_then(|plan| {
        let engine = load::load_engine(args.pairs, args.attrs)?;
        let t0 = Instant::now();
        let segments = engine.segment(&plan).map_err(|e| format!("{}: {e}", args.plan))?;
        let counts: Vec<(String, u64)> = segments.iter().map(|(name, a)| (name.to_owned(), a.len())).collect();
        eprintln!(
            "segmented {} customers into {} segments in {:.3} ms",
            engine.customer_count(),
            counts.len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        Ok(counts)
    });
    let counts = match counts {
        Ok(counts) => counts,
        Err(msg) => {
            eprintln!("segment: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = io::stdout().lock();
    let written = counts.iter().try_for_each(|(name, n)| writeln!(out, "{name}\t{n}")).and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // `segment ... | head -1`: the reader is gone, which is not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("segment: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and validates the plan at `path` (the crate's own serde form, so the example accepts
/// exactly what [`SegmentPlan`]'s `Deserialize` does). Errors are ready to print, the file
/// first: `plan.json:3:17: invalid JSON: ...`.
fn read_plan(path: &str) -> Result<SegmentPlan, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_PLAN_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("{path}: read error: {e}"))?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(format!(
            "{path}: larger than {} MiB (hint: a plan is a few rules as JSON; is this the plan file?)",
            MAX_PLAN_BYTES >> 20
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| plan_error(path, &e))
}

/// `e` as `path:line:column: what (hint)`: serde_json's message ends with ` at line L column
/// C`, which the prefix replaces. A syntax error is invalid JSON; an error serde_json found
/// while reading (it has a position) is JSON not of the plan's shape, a field missing or of
/// the wrong type, both with the shape as a hint. An error without a position is the plan's
/// own validation ([`Error::InvalidPlan`], [`Error::InRule`]), raised once the plan is read
/// whole, which brings its own message and hint.
fn plan_error(path: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let (line, column) = (e.line(), e.column());
    if line == 0 {
        return format!("{path}: {text}");
    }
    let msg = text.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&text);
    match e.classify() {
        Category::Syntax | Category::Eof => format!("{path}:{line}:{column}: invalid JSON: {msg} ({PLAN_SHAPE})"),
        Category::Data => format!("{path}:{line}:{column}: not a segment plan: {msg} ({PLAN_SHAPE})"),
        Category::Io => format!("{path}: read error: {msg}"),
    }
}
