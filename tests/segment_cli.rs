//! The `segment` example as users run it: the built binary on random pairs CSVs, attributes
//! CSVs and plans, its stdout compared with a naive model (each query evaluated on
//! `BTreeSet`s from its own tree, the first matching rule wins, else the fallback), and its
//! exit codes: 1 with the error on stderr for an invalid plan or a bad file, 2 with the usage
//! for a wrong command line.
//!
//! The binary is `target/<profile>/examples/segment`, which `cargo test` builds with the
//! tests; `cargo test --test segment_cli` alone does not build it (run `cargo build --example
//! segment` first).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use common::cli::{self, TempDir, csv, text};
use common::{Pick, config, pick};
use proptest::prelude::*;

/// Customer keys: CSV quoting (a comma, a quote) and a Unicode key among plain ones.
const KEYS: [&str; 12] =
    ["alice", "bob", "客户1", "o'brien, jr", "say \"hi\"", "c5", "c6", "c7", "c8", "c9", "c10", "c11"];
/// Tags: one that needs quoting in a query (a space), one in the CSV and the query (a comma).
const TAGS: [&str; 6] = ["vip", "高消费", "High Value", "shoes, red", "outdoor", "new"];
const ATTRS: [&str; 2] = ["age", "spend"];
const OPS: [&str; 6] = ["=", "!=", "<", "<=", ">", ">="];
/// Segment names, rules' and fallback's, distinct; Unicode ones among them.
const NAMES: [&str; 10] = [
    "champions",
    "at_risk",
    "高价值",
    "loyal",
    "new_ones",
    "big-spenders",
    "vip",
    "客户群",
    "dormant",
    "everyone_else",
];

// ------------------------------------------------------------------ running the binary

fn run(args: &[&str]) -> Output {
    cli::run("segment", args)
}

/// Runs with `args` and checks it exits with `code`, nothing on stdout and `wants` in stderr.
fn fails(args: &[&str], code: i32, wants: &[&str]) {
    cli::fails("segment", args, code, wants)
}

// ------------------------------------------------------------------ files

/// A plan file from `(name, query)` rules and a fallback.
fn plan_json(rules: &[(&str, String)], fallback: &str) -> String {
    let rules: Vec<serde_json::Value> =
        rules.iter().map(|(name, query)| serde_json::json!({"name": name, "query": query})).collect();
    serde_json::json!({"rules": rules, "fallback": fallback}).to_string()
}

// ------------------------------------------------------------------ the naive model

/// A random query's tree; leaves pick among the tags and attributes the files have.
#[derive(Clone, Debug)]
enum Q {
    /// A tag, quoted in the text when `quote` (always when its name has a space).
    Tag(Pick, bool),
    /// `attribute op value`; a tag when the files have no attribute.
    Cmp(Pick, usize, i64),
    All,
    Not(Box<Q>),
    And(Box<Q>, Box<Q>),
    Or(Box<Q>, Box<Q>),
}

fn query() -> impl Strategy<Value = Q> {
    let leaf = prop_oneof![
        4 => (pick(), any::<bool>()).prop_map(|(p, quote)| Q::Tag(p, quote)),
        2 => (pick(), 0..OPS.len(), -5i64..45).prop_map(|(p, op, v)| Q::Cmp(p, op, v)),
        1 => Just(Q::All),
    ];
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|q| Q::Not(Box::new(q))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Q::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Q::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// The data the files hold, as the model sees it.
struct Data {
    /// Every customer: the keys of both files.
    customers: BTreeSet<String>,
    /// Tag -> its customers; only tags some pair has.
    tags: BTreeMap<String, BTreeSet<String>>,
    /// Attribute -> customer -> value (the last line wins); only attributes some line has.
    attrs: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Data {
    fn new(pairs: &[(usize, usize)], attrs: &[(usize, usize, i64)]) -> Data {
        let mut d = Data { customers: BTreeSet::new(), tags: BTreeMap::new(), attrs: BTreeMap::new() };
        for &(k, t) in pairs {
            d.customers.insert(KEYS[k].to_owned());
            d.tags.entry(TAGS[t].to_owned()).or_default().insert(KEYS[k].to_owned());
        }
        for &(k, a, v) in attrs {
            d.customers.insert(KEYS[k].to_owned());
            d.attrs.entry(ATTRS[a].to_owned()).or_default().insert(KEYS[k].to_owned(), v);
        }
        d
    }

    fn tag_names(&self) -> Vec<&str> {
        self.tags.keys().map(String::as_str).collect()
    }

    fn attr_names(&self) -> Vec<&str> {
        self.attrs.keys().map(String::as_str).collect()
    }

    /// `q` as query text, naming only what the files have (there is at least one tag).
    fn text(&self, q: &Q) -> String {
        let (tags, attrs) = (self.tag_names(), self.attr_names());
        let bracket = |q: &Q, when: fn(&Q) -> bool| {
            if when(q) { format!("({})", self.text(q)) } else { self.text(q) }
        };
        match q {
            Q::Tag(p, quote) => {
                let t = p.of(&tags).unwrap();
                if *quote || t.contains(' ') { format!("\"{t}\"") } else { t.to_owned() }
            }
            Q::Cmp(p, op, v) => match p.of(&attrs) {
                Some(a) => format!("{a} {} {v}", OPS[*op]),
                None => self.text(&Q::Tag(*p, false)),
            },
            Q::All => "*".to_owned(),
            // NOT binds tighter than AND, AND than OR: brackets only where the tree needs them.
            Q::Not(a) => format!("NOT {}", bracket(a, |a| matches!(a, Q::And(..) | Q::Or(..)))),
            Q::And(a, b) => {
                let or = |q: &Q| matches!(q, Q::Or(..));
                format!("{} AND {}", bracket(a, or), bracket(b, or))
            }
            Q::Or(a, b) => format!("{} OR {}", self.text(a), self.text(b)),
        }
    }

    /// The customers `q` matches, from its tree: NOT is relative to every customer; a
    /// customer without a value matches no comparison.
    fn eval(&self, q: &Q) -> BTreeSet<String> {
        let (tags, attrs) = (self.tag_names(), self.attr_names());
        match q {
            Q::Tag(p, _) => self.tags[p.of(&tags).unwrap()].clone(),
            Q::Cmp(p, op, v) => match p.of(&attrs) {
                Some(a) => self.attrs[a]
                    .iter()
                    .filter(|&(_, x)| match OPS[*op] {
                        "=" => x == v,
                        "!=" => x != v,
                        "<" => x < v,
                        "<=" => x <= v,
                        ">" => x > v,
                        _ => x >= v,
                    })
                    .map(|(c, _)| c.clone())
                    .collect(),
                None => self.eval(&Q::Tag(*p, false)),
            },
            Q::All => self.customers.clone(),
            Q::Not(a) => self.customers.difference(&self.eval(a)).cloned().collect(),
            Q::And(a, b) => self.eval(a).intersection(&self.eval(b)).cloned().collect(),
            Q::Or(a, b) => self.eval(a).union(&self.eval(b)).cloned().collect(),
        }
    }

    /// The expected stdout: per customer the first rule that matches, else the fallback;
    /// `<segment>\t<count>` per segment in plan order, the fallback last.
    fn segment(&self, rules: &[(&str, Q)], fallback: &str) -> String {
        let matches: Vec<BTreeSet<String>> = rules.iter().map(|(_, q)| self.eval(q)).collect();
        let mut counts = vec![0u64; rules.len() + 1];
        for c in &self.customers {
            counts[matches.iter().position(|m| m.contains(c)).unwrap_or(rules.len())] += 1;
        }
        let names = rules.iter().map(|(name, _)| *name).chain([fallback]);
        names.zip(counts).map(|(name, n)| format!("{name}\t{n}\n")).collect()
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn stdout_is_the_naive_first_match_count_of_each_segment(
        pairs in prop::collection::vec((0..KEYS.len(), 0..TAGS.len()), 1..40),
        attrs in prop::option::of(prop::collection::vec((0..KEYS.len(), 0..ATTRS.len(), -5i64..45), 0..20)),
        rules in prop::collection::vec(query(), 1..=6),
        names in Just(NAMES.to_vec()).prop_shuffle(),
        crlf in any::<bool>(),
        attrs_first in any::<bool>(),
    ) {
        let data = Data::new(&pairs, attrs.as_deref().unwrap_or_default());
        let rules: Vec<(&str, Q)> = names.iter().copied().zip(rules).collect();
        let fallback = names[rules.len()];
        let plan: Vec<(&str, String)> = rules.iter().map(|(name, q)| (*name, data.text(q))).collect();

        let dir = TempDir::new("segment-cli");
        let rows: Vec<Vec<String>> = pairs.iter().map(|&(k, t)| vec![KEYS[k].into(), TAGS[t].into()]).collect();
        let pairs_csv = dir.file("pairs.csv", &csv(&rows, crlf));
        let plan_file = dir.file("plan.json", &plan_json(&plan, fallback));
        let mut args = vec![pairs_csv.as_str(), plan_file.as_str()];
        let attrs_csv = attrs.map(|attrs| {
            let rows: Vec<Vec<String>> =
                attrs.iter().map(|&(k, a, v)| vec![KEYS[k].into(), ATTRS[a].into(), v.to_string()]).collect();
            format!("--attrs={}", dir.file("attrs.csv", &csv(&rows, crlf)))
        });
        if let Some(attrs) = &attrs_csv {
            if attrs_first { args.insert(0, attrs.as_str()) } else { args.push(attrs.as_str()) }
        }
        let out = run(&args);
        let err = text(&out.stderr);
        prop_assert_eq!(out.status.code(), Some(0), "plan {:?}: stderr {}", plan, err);
        prop_assert_eq!(text(&out.stdout), data.segment(&rules, fallback), "plan {:?}", plan);
    }
}

/// A hand-checked case: quoting in both files, a Unicode key and tag, a key only in the
/// attributes (a customer all the same), `--attrs FILE` before the files.
#[test]
fn a_hand_checked_plan() {
    let dir = TempDir::new("segment-cli");
    let pairs = dir.file("pairs.csv", "alice,vip\nbob,\"High Value\"\nbob,vip\ncarol,outdoor\n客户1,高消费\n");
    let attrs = dir.file("attrs.csv", "alice,age,34\nbob,age,52\ndave,age,29\n");
    let plan = dir.file(
        "plan.json",
        r#"{"rules": [{"name": "vip_older", "query": "vip AND age >= 50"},
                      {"name": "高价值", "query": "高消费 OR vip"},
                      {"name": "nobody", "query": "outdoor AND vip"}],
            "fallback": "everyone_else"}"#,
    );
    let out = run(&["--attrs", &attrs, &pairs, &plan]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "vip_older\t1\n高价值\t2\nnobody\t0\neveryone_else\t2\n");
    // Without the attributes, the comparison names an attribute no customer has.
    fails(&[&pairs, &plan], 1, &["in the rule \"vip_older\"", "unknown attribute \"age\""]);
}

#[test]
fn an_invalid_plan_exits_1_with_the_error_on_stderr() {
    let dir = TempDir::new("segment-cli");
    let pairs = dir.file("pairs.csv", "alice,vip\nbob,outdoor\n");
    let cases: [(&str, &[&str]); 8] = [
        (
            r#"{"rules": [{"name": "ok", "query": "vip"}, {"name": "typo", "query": "vpi"}], "fallback": "rest"}"#,
            &["plan.json: in the rule \"typo\": unknown tag \"vpi\"", "did you mean \"vip\"?"],
        ),
        (
            "{\"rules\": [\n  {\"name\": \"a\", \"query\": \"vip\"}\n  {\"name\": \"b\", \"query\": \"outdoor\"}\n]}",
            &["plan.json:3:3: invalid JSON: expected `,` or `]`", "hint: a plan is {\"rules\""],
        ),
        ("", &["plan.json:1:0: invalid JSON: EOF while parsing a value"]),
        (
            r#"{"rules": [], "fallback": "rest"}"#,
            &["plan.json: invalid segment plan: a segment plan needs at least one rule"],
        ),
        (
            r#"{"rules": [{"name": "a", "query": "vip"}, {"name": "a", "query": "outdoor"}], "fallback": "rest"}"#,
            &["plan.json: invalid segment plan: two rules are named \"a\""],
        ),
        (
            r#"{"rules": [{"name": "a", "query": "vip AND (outdoor"}], "fallback": "rest"}"#,
            &["plan.json: in the rule \"a\": query parse error", "expected ')'"],
        ),
        (
            r#"{"rules": [{"name": "a", "query": "vip"}]}"#,
            &["plan.json:1:42: not a segment plan: missing field `fallback`"],
        ),
        (
            r#"{"rules": [{"name": "a", "query": "vip"}], "fallback": "a"}"#,
            &["plan.json: invalid segment plan: the fallback is named \"a\" like a rule"],
        ),
    ];
    for (json, wants) in cases {
        let plan = dir.file("plan.json", json);
        fails(&[&pairs, &plan], 1, wants);
    }
}

#[test]
fn an_unreadable_or_bad_file_exits_1_naming_it() {
    let dir = TempDir::new("segment-cli");
    let pairs = dir.file("pairs.csv", "alice,vip\nbob,outdoor\n");
    let plan = dir.file("plan.json", r#"{"rules": [{"name": "vips", "query": "vip"}], "fallback": "rest"}"#);
    let missing = dir.path("missing.csv");
    fails(&[&missing, &plan], 1, &["cannot open", "missing.csv"]);
    fails(&[&pairs, &dir.path("missing.json")], 1, &["cannot open", "missing.json"]);
    fails(&[&pairs, &plan, "--attrs", &missing], 1, &["cannot open", "missing.csv"]);
    let bad_pairs = dir.file("bad_pairs.csv", "alice,vip\nbob\n");
    fails(&[&bad_pairs, &plan], 1, &["bad_pairs.csv:2: expected 2 fields, found 1"]);
    let bad_attrs = dir.file("bad_attrs.csv", "alice,age,34\nbob,age,x\n");
    fails(&[&pairs, &plan, "--attrs", &bad_attrs], 1, &["bad_attrs.csv:2: invalid value \"x\""]);
    // A directory is not a plan.
    fails(&[&pairs, dir.0.to_str().unwrap()], 1, &["read error"]);
}

#[test]
fn a_wrong_command_line_exits_2_with_the_usage() {
    let usage = "usage: segment PAIRS.csv PLAN.json [--attrs ATTRS.csv]";
    fails(&[], 2, &[usage]);
    fails(&["p.csv"], 2, &["segment: missing PLAN.json", usage]);
    fails(&["p.csv", "plan.json", "extra"], 2, &["unexpected argument \"extra\"", usage]);
    fails(&["--frobnicate", "p.csv", "plan.json"], 2, &["unknown option \"--frobnicate\"", usage]);
    fails(&["p.csv", "plan.json", "--attrs"], 2, &["--attrs needs a file", usage]);
    fails(&["p.csv", "plan.json", "--attrs", "a.csv", "--attrs=b.csv"], 2, &["--attrs given twice", usage]);
    // After `--`, a name starting with `-` is a file (here a missing one: exit 1).
    let dir = TempDir::new("segment-cli");
    let plan = dir.file("plan.json", r#"{"rules": [{"name": "vips", "query": "vip"}], "fallback": "rest"}"#);
    fails(&["--", "-p.csv", &plan], 1, &["cannot open -p.csv"]);
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).starts_with(usage), "{}", text(&help.stdout));
}
