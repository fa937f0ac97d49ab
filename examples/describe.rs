//! What makes the audience of a query different: its size, and the tags that over-index in
//! it, from a CSV of (customer, tag) pairs and optionally one of numeric attributes.
//!
//! ```text
//! cargo run --release --example describe -- PAIRS.csv [--attrs ATTRS.csv] [--top K] [--min-count M] QUERY
//! cargo run --release --example describe -- pairs.csv 'vip AND NOT churned'
//! cargo run --release --example describe -- pairs.csv --attrs attrs.csv --top 5 --min-count 100 'age >= 30'
//! ```
//!
//! `PAIRS.csv` and `ATTRS.csv` are read exactly as the `query` example reads them (the same
//! code, `support/load.rs`, with the crate's CSV loaders): headerless `customer_key,tag` and
//! `customer_key,name,value` records, RFC 4180 quoting, a bad record an error naming the
//! file, line and column.
//!
//! The options may come anywhere; the other arguments are the pairs file, then exactly one
//! query (quote it for the shell). After `--` every argument is positional (for a file or a
//! query that starts with `-`).
//!
//! - `--top K`: list at most K tags (default 20; 0 lists none).
//! - `--min-count M`: list only tags at least M customers of the audience carry (default 1;
//!   0 is taken as 1).
//!
//! The output, on stdout, is the audience's size and the live customers, then one line per
//! listed tag, [`Engine::describe`]'s list: customers of the audience with the tag (`in`),
//! live customers with it (`all`), and the lift `(in / size) / (all / live)` with three
//! decimals, highest lift first (compared exactly), then the larger `in`, then the name. A
//! tag counts as a query naming it does: a parent includes its descendants. The tags the
//! query's own tag operands name ([`Query::tag_names`], unquoted and normalized) are not
//! listed: they over-index by construction (attributes are not tags). Shown here with spaces
//! for the tabs:
//!
//! ```text
//! audience  120      1000
//! outdoor   48       100     4.000
//! app       60       300     1.667
//! ```
//!
//! Exit 1, with the error on stderr and nothing on stdout, for a query that does not parse or
//! names a tag or attribute the files do not have (the error with a caret under the problem,
//! and suggestions), and for a file that cannot be read or has a bad line. Exit 2, with the
//! usage on stderr, for a wrong command line: the file or the query missing, a second query,
//! an unknown option, a `--top` or `--min-count` that is not a non-negative integer, an option
//! given twice. Load time, engine sizes, memory and the time of `describe` go to stderr.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

#[cfg(doc)]
use audience::Engine;
use audience::{DescribeOptions, Description, Query};

#[path = "support/mod.rs"]
mod support;

#[path = "support/load.rs"]
mod load;

use support::excerpt;

const USAGE: &str = "usage: describe PAIRS.csv [--attrs ATTRS.csv] [--top K] [--min-count M] QUERY\n\
    \n\
    PAIRS.csv: headerless `customer_key,tag` lines (RFC 4180 quoting: a tag with a comma is \"a,b\").\n\
    ATTRS.csv: headerless `customer_key,name,value` lines, value an integer (query: `age >= 30 AND vip`).\n\
    --top K: list at most K tags (default 20). --min-count M: only tags M of the audience carry (default 1).\n\
    Prints `audience\\t<size>\\t<live>`, then `<tag>\\t<in>\\t<all>\\t<lift>` per over-indexing tag,\n\
    highest lift first, without the tags QUERY names.";

/// The command line.
struct Args<'a> {
    pairs: &'a str,
    attrs: Option<&'a str>,
    top: usize,
    min_count: u64,
    query: &'a str,
}

/// `Ok(None)` for `-h`/`--help`. Options (`--attrs FILE`, `--top K`, `--min-count M`, each
/// also as `--name=value`) may come anywhere; the other arguments are the pairs file and the
/// query, in order. After `--` every argument is positional.
fn parse_args(args: &[String]) -> Result<Option<Args<'_>>, String> {
    let mut positional = Vec::new();
    let (mut attrs, mut top, mut min_count): (Option<&str>, Option<usize>, Option<u64>) = (None, None, None);
    let mut options = true;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if !options || arg == "-" || !arg.starts_with('-') {
            positional.push(arg);
            continue;
        }
        if arg == "--" {
            options = false;
            continue;
        }
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg, None),
        };
        let what = match name {
            "--attrs" => "a file: --attrs ATTRS.csv",
            "--top" => "a number: --top 20",
            "--min-count" => "a number: --min-count 1",
            _ => {
                return Err(format!(
                    "unknown option {} (hint: the options are --attrs ATTRS.csv, --top K and --min-count M; \
                     put `--` before a query that starts with `-`)",
                    excerpt(arg)
                ));
            }
        };
        let value = match inline {
            Some(value) => value,
            None => {
                i += 1;
                args.get(i - 1).ok_or_else(|| format!("{name} needs {what}"))?.as_str()
            }
        };
        let twice = || format!("{name} given twice");
        match name {
            "--attrs" => {
                if attrs.replace(value).is_some() {
                    return Err(format!("{} (hint: put every attribute in one file)", twice()));
                }
            }
            "--top" => {
                if top.replace(count(name, value)?).is_some() {
                    return Err(twice());
                }
            }
            _ => {
                if min_count.replace(count(name, value)?).is_some() {
                    return Err(twice());
                }
            }
        }
    }
    match positional[..] {
        [pairs, query] => {
            Ok(Some(Args { pairs, attrs, top: top.unwrap_or(20), min_count: min_count.unwrap_or(1), query }))
        }
        [] => Err("missing PAIRS.csv and QUERY".to_owned()),
        [_] => Err("missing QUERY".to_owned()),
        [_, _, extra, ..] => Err(format!(
            "unexpected argument {} (hint: one pairs file, then one query, quoted for the shell: 'vip AND outdoor')",
            excerpt(extra)
        )),
    }
}

/// The value of `--top` or `--min-count`: a non-negative integer.
fn count<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("{name} {}: not a non-negative integer", excerpt(value)))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match support::command_line("describe", USAGE, &args, parse_args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(description) => print(&description),
        Err(msg) => {
            eprintln!("describe: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the query (before the load: a syntax error is found at once), loads the files,
/// evaluates the query and describes its audience. Errors are ready to print.
fn run(args: &Args<'_>) -> Result<Description, String> {
    let query = Query::parse(args.query).map_err(|e| e.to_string())?;
    let engine = load::load_engine(args.pairs, args.attrs)?;
    let audience = engine.select(&query).map_err(|e| e.to_string())?;
    let mut options = DescribeOptions::new();
    options.top(args.top).min_count(args.min_count).exclude(query.tag_names());
    let t0 = Instant::now();
    let description = engine.describe(&audience, &options);
    eprintln!(
        "described {} of {} customers over {} tags in {:.3} ms",
        description.size,
        description.live,
        engine.stats().tags,
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(description)
}

/// The description on stdout: `audience\t<size>\t<live>`, then a line per tag.
fn print(d: &Description) -> ExitCode {
    let mut out = io::stdout().lock();
    let written = writeln!(out, "audience\t{}\t{}", d.size, d.live)
        .and_then(|()| {
            d.tags.iter().try_for_each(|t| writeln!(out, "{}\t{}\t{}\t{:.3}", t.tag, t.count, t.total, t.lift))
        })
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // `describe ... | head -3`: the reader is gone, which is not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("describe: {e}");
            ExitCode::FAILURE
        }
    }
}
