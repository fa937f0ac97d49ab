//! The `describe` example as users run it: the built binary on random pairs CSVs (and
//! attributes CSVs) and queries, its stdout compared with [`Engine::describe`] computed in
//! this process on the same data (the query's tag operands excluded); hand-checked outputs
//! (quoted and hierarchy names, Unicode, `--top`, `--min-count`); and its exit codes: 1 with
//! the error on stderr for a bad query or a bad file, 2 with the usage for a wrong command
//! line.
//!
//! The binary is `target/<profile>/examples/describe`, which `cargo test` builds with the
//! tests; `cargo test --test describe_cli` alone does not build it (run `cargo build
//! --example describe` first).

mod common;

use std::process::Output;

use audience::{DescribeOptions, Engine, Query};
use common::cli::{self, TempDir, csv, text};
use common::{Pick, config, pick};
use proptest::prelude::*;

/// Customer keys: CSV quoting (a comma, a quote) and a Unicode key among plain ones.
const KEYS: [&str; 12] =
    ["alice", "bob", "客户1", "o'brien, jr", "say \"hi\"", "c5", "c6", "c7", "c8", "c9", "c10", "c11"];
/// Tags: one that needs quoting in a query (a space), one in the CSV and the query (a comma),
/// a hierarchy (a child and its parent), Unicode.
const TAGS: [&str; 8] = ["vip", "高消费", "High Value", "shoes, red", "sports/run", "sports", "outdoor", "new"];
const ATTRS: [&str; 2] = ["age", "spend"];

// ------------------------------------------------------------------ running the binary

fn run(args: &[&str]) -> Output {
    cli::run("describe", args)
}

/// Runs with `args`, checks it exits 0; its stdout.
fn stdout(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: stderr {}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs with `args` and checks it exits with `code`, nothing on stdout and `wants` in stderr.
fn fails(args: &[&str], code: i32, wants: &[&str]) {
    cli::fails("describe", args, code, wants)
}

// ------------------------------------------------------------------ files and the engine

/// The engine the files make, built in this process through the single-item API.
fn engine_of(pairs: &[(usize, usize)], attrs: &[(usize, usize, i64)]) -> Engine {
    let mut e = Engine::new();
    for &(k, t) in pairs {
        let c = e.customer(KEYS[k]).unwrap();
        e.tag(c, TAGS[t]).unwrap();
    }
    for &(k, a, v) in attrs {
        let c = e.customer(KEYS[k]).unwrap();
        e.set_attr(c, ATTRS[a], v).unwrap();
    }
    e
}

/// What the example prints for `query` on `engine`, computed in this process: `Ok(stdout)`, or
/// the query's error.
fn expected(engine: &Engine, query: &str, top: usize, min_count: u64) -> Result<String, String> {
    let q = Query::parse(query).map_err(|e| e.to_string())?;
    let audience = engine.select(&q).map_err(|e| e.to_string())?;
    let mut options = DescribeOptions::new();
    options.top(top).min_count(min_count).exclude(q.tag_names());
    let d = engine.describe(&audience, &options);
    let mut out = format!("audience\t{}\t{}\n", d.size, d.live);
    for t in &d.tags {
        out += &format!("{}\t{}\t{}\t{:.3}\n", t.tag, t.count, t.total, t.lift);
    }
    Ok(out)
}

// ------------------------------------------------------------------ random queries

/// One operand of a random query: a tag (quoted or not, negated or not) or a comparison.
#[derive(Clone, Debug)]
enum Operand {
    Tag { tag: Pick, quote: bool, not: bool },
    Cmp { attr: Pick, value: i64 },
}

/// The query's text: the operands joined by AND / OR (`or[i]` between operands i and i + 1),
/// naming only tags the pairs have and attributes the attributes file has (a comparison is
/// a tag when it has none).
fn query_text(operands: &[Operand], or: &[bool], tags: &[&str], attrs: &[&str]) -> String {
    let mut q = String::new();
    for (i, op) in operands.iter().enumerate() {
        if i > 0 {
            q += if or[i - 1] { " OR " } else { " AND " };
        }
        match *op {
            Operand::Cmp { attr, value } if !attrs.is_empty() => {
                q += &format!("{} >= {value}", attr.of(attrs).unwrap());
            }
            Operand::Tag { tag, quote, not } => {
                let t = tag.of(tags).unwrap();
                let t = if quote || t.contains(' ') { format!("\"{t}\"") } else { t.to_owned() };
                q += &if not { format!("NOT {t}") } else { t };
            }
            Operand::Cmp { attr, .. } => q += &format!("\"{}\"", attr.of(tags).unwrap()),
        }
    }
    q
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        4 => (pick(), any::<bool>(), prop::bool::weighted(0.25)).prop_map(|(tag, quote, not)| Operand::Tag { tag, quote, not }),
        1 => (pick(), -5i64..45).prop_map(|(attr, value)| Operand::Cmp { attr, value }),
    ]
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn stdout_is_engine_describe_of_the_query_without_its_tags(
        pairs in prop::collection::vec((0..KEYS.len(), 0..TAGS.len()), 1..50),
        attrs in prop::option::of(prop::collection::vec((0..KEYS.len(), 0..ATTRS.len(), -5i64..45), 0..20)),
        operands in prop::collection::vec(operand(), 1..4),
        or in prop::collection::vec(any::<bool>(), 3),
        top in prop::option::of(0usize..8),
        min_count in prop::option::of(0u64..4),
        crlf in any::<bool>(),
        flags_first in any::<bool>(),
    ) {
        let attrs = attrs.unwrap_or_default();
        let engine = engine_of(&pairs, &attrs);
        let mut tags: Vec<&str> = pairs.iter().map(|&(_, t)| TAGS[t]).collect();
        tags.sort_unstable();
        tags.dedup();
        let mut attr_names: Vec<&str> = attrs.iter().map(|&(_, a, _)| ATTRS[a]).collect();
        attr_names.sort_unstable();
        attr_names.dedup();
        let query = query_text(&operands, &or, &tags, &attr_names);

        let dir = TempDir::new("describe-cli");
        let rows: Vec<Vec<String>> = pairs.iter().map(|&(k, t)| vec![KEYS[k].into(), TAGS[t].into()]).collect();
        let pairs_csv = dir.file("pairs.csv", &csv(&rows, crlf));
        let mut flags: Vec<String> = Vec::new();
        if !attrs.is_empty() {
            let rows: Vec<Vec<String>> =
                attrs.iter().map(|&(k, a, v)| vec![KEYS[k].into(), ATTRS[a].into(), v.to_string()]).collect();
            flags.push("--attrs".into());
            flags.push(dir.file("attrs.csv", &csv(&rows, crlf)));
        }
        if let Some(k) = top {
            flags.push(format!("--top={k}"));
        }
        if let Some(m) = min_count {
            flags.push("--min-count".into());
            flags.push(m.to_string());
        }
        let mut args: Vec<&str> = vec![pairs_csv.as_str()];
        if flags_first {
            args.splice(0..0, flags.iter().map(String::as_str));
            args.push(&query);
        } else {
            args.push(&query);
            args.extend(flags.iter().map(String::as_str));
        }
        let out = run(&args);
        let err = text(&out.stderr);
        let want = expected(&engine, &query, top.unwrap_or(20), min_count.unwrap_or(1)).unwrap();
        prop_assert_eq!(out.status.code(), Some(0), "{:?}: stderr {}", args, err);
        prop_assert_eq!(text(&out.stdout), want, "{:?}", args);
    }
}

// ------------------------------------------------------------------ hand-checked cases

/// Six customers: alice and bob are `vip`, alice, bob and carol `outdoor`, bob and dave `High
/// Value`, alice `高消费`, carol `interest/outdoor`, erin `interest/books` (so `interest`
/// counts carol and erin), frank `new`.
const PAIRS: &str = "alice,vip\nbob,vip\nalice,outdoor\nbob,outdoor\ncarol,outdoor\nbob,\"High Value\"\n\
                     dave,\"High Value\"\nalice,高消费\ncarol,interest/outdoor\nerin,interest/books\nfrank,new\n";

#[test]
fn a_hand_checked_description() {
    let dir = TempDir::new("describe-cli");
    let pairs = dir.file("pairs.csv", PAIRS);
    // vip: alice and bob of 6. outdoor 2 of 3: (2/2)/(3/6) = 2; 高消费 1 of 1: 3; High Value
    // 1 of 2: 1.5. Equal lifts go by count, then name.
    assert_eq!(
        stdout(&[&pairs, "vip"]),
        "audience\t2\t6\n高消费\t1\t1\t3.000\noutdoor\t2\t3\t2.000\nHigh Value\t1\t2\t1.500\n"
    );
    // The same with the options before, between and after, in both spellings.
    let want = "audience\t2\t6\noutdoor\t2\t3\t2.000\n";
    assert_eq!(stdout(&["--top", "1", &pairs, "--min-count=2", "vip"]), want);
    assert_eq!(stdout(&[&pairs, "vip", "--min-count", "2", "--top=1"]), want);
    assert_eq!(stdout(&[&pairs, "--top", "0", "vip"]), "audience\t2\t6\n");
    // --min-count 0 is 1; a min count nobody reaches lists nothing.
    assert_eq!(stdout(&[&pairs, "--min-count", "0", "vip"]), stdout(&[&pairs, "vip"]));
    assert_eq!(stdout(&[&pairs, "--min-count", "3", "vip"]), "audience\t2\t6\n");
    // An empty audience lists nothing.
    assert_eq!(stdout(&[&pairs, "vip AND new"]), "audience\t0\t6\n");
}

#[test]
fn the_query_operands_are_not_listed() {
    let dir = TempDir::new("describe-cli");
    let pairs = dir.file("pairs.csv", PAIRS);
    // A quoted name is excluded by its name unquoted; under NOT too.
    assert_eq!(
        stdout(&[&pairs, "\"High Value\" OR 高消费"]),
        "audience\t3\t6\nvip\t2\t2\t2.000\noutdoor\t2\t3\t1.333\n"
    );
    // alice and carol: 高消费 and interest/outdoor (3.000, by name), interest and vip (1.500).
    assert_eq!(
        stdout(&[&pairs, "outdoor AND NOT \"High Value\""]),
        "audience\t2\t6\ninterest/outdoor\t1\t1\t3.000\n高消费\t1\t1\t3.000\ninterest\t1\t2\t1.500\nvip\t1\t2\t1.500\n"
    );
    // A child names itself only: its parent (which counts it) is listed.
    assert_eq!(stdout(&[&pairs, "interest/outdoor"]), "audience\t1\t6\ninterest\t1\t2\t3.000\noutdoor\t1\t3\t2.000\n");
    // A parent names itself only: its children are listed.
    assert_eq!(
        stdout(&[&pairs, "interest"]),
        "audience\t2\t6\ninterest/books\t1\t1\t3.000\ninterest/outdoor\t1\t1\t3.000\noutdoor\t1\t3\t1.000\n"
    );
    // A Unicode name, and `*` (no tag operand: nothing excluded, every lift 1).
    assert_eq!(stdout(&[&pairs, "高消费"]), "audience\t1\t6\nvip\t1\t2\t3.000\noutdoor\t1\t3\t2.000\n");
    let all = stdout(&[&pairs, "*", "--top", "2"]);
    assert_eq!(all, "audience\t6\t6\noutdoor\t3\t3\t1.000\nHigh Value\t2\t2\t1.000\n");
}

/// Attributes: a comparison is not a tag, so nothing is excluded for it; a key only in the
/// attributes file is a customer all the same.
#[test]
fn attributes_are_not_tags() {
    let dir = TempDir::new("describe-cli");
    let pairs = dir.file("pairs.csv", PAIRS);
    let attrs = dir.file("attrs.csv", "alice,age,34\nbob,age,52\ngrace,age,61\n");
    assert_eq!(
        stdout(&[&pairs, "--attrs", &attrs, "age >= 50"]),
        "audience\t2\t7\nHigh Value\t1\t2\t1.750\nvip\t1\t2\t1.750\noutdoor\t1\t3\t1.167\n"
    );
    assert_eq!(
        stdout(&[&pairs, "age >= 50 AND vip", "--attrs", &attrs]),
        "audience\t1\t7\nHigh Value\t1\t2\t3.500\noutdoor\t1\t3\t2.333\n"
    );
}

#[test]
fn a_bad_query_or_file_exits_1_with_the_error_on_stderr() {
    let dir = TempDir::new("describe-cli");
    let pairs = dir.file("pairs.csv", PAIRS);
    fails(
        &[&pairs, "vpi AND outdoor"],
        1,
        &["describe: unknown tag \"vpi\" at 0..3 (did you mean \"vip\"?)\n  vpi AND outdoor\n  ^^^"],
    );
    fails(&[&pairs, "vip AND ("], 1, &["query parse error at 9..9", "  vip AND (\n           ^"]);
    fails(&[&pairs, ""], 1, &["query parse error"]);
    fails(&[&pairs, "age >= 30"], 1, &["unknown attribute \"age\""]);
    // A syntax error is found before the files are read.
    fails(&[&dir.path("missing.csv"), "vip AND"], 1, &["query parse error"]);
    fails(&[&dir.path("missing.csv"), "vip"], 1, &["describe: cannot open", "missing.csv"]);
    let bad_pairs = dir.file("bad_pairs.csv", "alice,vip\nbob\n");
    fails(&[&bad_pairs, "vip"], 1, &["bad_pairs.csv:2: expected 2 fields, found 1"]);
    let bad_attrs = dir.file("bad_attrs.csv", "alice,age,34\nbob,age,x\n");
    fails(&[&pairs, "--attrs", &bad_attrs, "vip"], 1, &["bad_attrs.csv:2: invalid value \"x\""]);
}

#[test]
fn a_wrong_command_line_exits_2_with_the_usage() {
    let usage = "usage: describe PAIRS.csv [--attrs ATTRS.csv] [--top K] [--min-count M] QUERY";
    fails(&[], 2, &[usage]);
    fails(&["p.csv"], 2, &["describe: missing QUERY", usage]);
    fails(&["p.csv", "vip", "outdoor"], 2, &["unexpected argument \"outdoor\"", usage]);
    fails(&["--frobnicate", "p.csv", "vip"], 2, &["unknown option \"--frobnicate\"", usage]);
    fails(&["p.csv", "vip", "--top"], 2, &["--top needs a number", usage]);
    fails(&["p.csv", "vip", "--top", "x"], 2, &["--top \"x\": not a non-negative integer", usage]);
    fails(&["p.csv", "vip", "--top=-1"], 2, &["--top \"-1\": not a non-negative integer", usage]);
    fails(&["p.csv", "vip", "--min-count", "1.5"], 2, &["--min-count \"1.5\": not a non-negative integer", usage]);
    fails(&["p.csv", "vip", "--top", "1", "--top=2"], 2, &["--top given twice", usage]);
    fails(&["p.csv", "vip", "--attrs", "a.csv", "--attrs=b.csv"], 2, &["--attrs given twice", usage]);
    // After `--`, an argument starting with `-` is positional (here a query naming a tag the
    // file does not have: exit 1).
    let dir = TempDir::new("describe-cli");
    let pairs = dir.file("pairs.csv", PAIRS);
    fails(&[&pairs, "--", "-vip"], 1, &["unknown tag \"-vip\" at 0..4 (did you mean \"vip\"?)"]);
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).starts_with(usage), "{}", text(&help.stdout));
}
