//! The loaders against the `csv` crate's own reading of the same bytes, at several thread
//! counts and block sizes (small blocks: many cuts, some inside quoted fields and long
//! records), and the documented bad-record cases one by one.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::{Column, CsvOptions, LoadReport};
use crate::{CsvProblem, CustomerId, Day, Engine, Error};

/// Options with a block size, so that tests cut inputs into many blocks.
fn opts(block: usize, threads: usize) -> CsvOptions {
    let mut o = CsvOptions::new("in.csv").threads(threads);
    o.block = block;
    o
}

/// (line, problem) of an `Error::Csv`.
fn at(e: &Error) -> (u64, String) {
    match e {
        Error::Csv { line, problem, .. } => (*line, problem.to_string()),
        other => panic!("not a CSV error: {other:?}"),
    }
}

/// Everything observable about a tag load: each key's id and sorted tags, customers, tags.
type TagState = (Vec<(String, u32, Vec<String>)>, u64, usize);

fn tag_state(engine: &Engine) -> TagState {
    let mut keys: Vec<(String, u32, Vec<String>)> = engine
        .customers()
        .iter()
        .map(|id| {
            let mut tags: Vec<String> = engine.tags_of(id).unwrap().into_iter().map(str::to_owned).collect();
            tags.sort();
            (engine.key_of(id).unwrap_or("").to_owned(), id.0, tags)
        })
        .collect();
    keys.sort();
    (keys, engine.customer_count(), engine.tags().count())
}

// ------------------------------------------------------------------ the model

/// A tag load as the `csv` crate reads `bytes` (headerless, flexible), with the documented
/// rules: (keys in order of first appearance with their tags, records, skipped, the lines
/// of the bad records).
struct Model {
    keys: Vec<(String, BTreeSet<String>)>,
    records: u64,
    bad_lines: Vec<u64>,
}

fn model(bytes: &[u8], keys_of_bad_records: bool) -> Model {
    let valid_tag = |t: &str| Engine::new().ensure_tag(t).is_ok();
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut m = Model { keys: Vec::new(), records: 0, bad_lines: Vec::new() };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut rec = csv::ByteRecord::new();
    while r.read_byte_record(&mut rec).unwrap() {
        m.records += 1;
        // The line the record's first byte is on (the crate's own line is the line the
        // previous record's terminator left it on, before any blank line or a CRLF's \n).
        let mut at = rec.position().unwrap().byte() as usize;
        if at == 0 && bytes.starts_with("\u{feff}".as_bytes()) {
            at = 3;
        }
        while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
            at += 1;
        }
        // Line breaks: \n, and \r not followed by \n.
        let before = &bytes[..at];
        let lone_cr = (0..before.len()).filter(|&i| before[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')).count();
        let line = 1 + (before.iter().filter(|&&b| b == b'\n').count() + lone_cr) as u64;
        let key = (rec.len() == 2).then(|| std::str::from_utf8(&rec[0]).ok()).flatten();
        let key = key.filter(|k| !k.is_empty() && k.len() <= crate::MAX_CUSTOMER_KEY_LEN);
        let tag = (rec.len() == 2).then(|| std::str::from_utf8(&rec[1]).ok()).flatten();
        let good = key.is_some() && tag.is_some_and(valid_tag);
        if !good {
            m.bad_lines.push(line);
        }
        if let Some(key) = key.filter(|_| good || keys_of_bad_records) {
            let i = *index.entry(key.to_owned()).or_insert_with(|| {
                m.keys.push((key.to_owned(), BTreeSet::new()));
                m.keys.len() - 1
            });
            if good {
                m.keys[i].1.insert(tag.unwrap().to_owned());
            }
        }
    }
    m
}

/// What a loaded engine should hold, in [`tag_state`]'s form.
fn expected(m: &Model, tags: usize) -> TagState {
    let mut keys: Vec<(String, u32, Vec<String>)> =
        m.keys.iter().enumerate().map(|(i, (k, t))| (k.clone(), i as u32, t.iter().cloned().collect())).collect();
    keys.sort();
    (keys, m.keys.len() as u64, tags)
}

// ------------------------------------------------------------------ random files

const KEYS: &[&str] = &[
    "alice",
    "bob",
    "a,b",
    "say \"hi\"",
    "two\nlines",
    "cr\rhere",
    "高消费客户",
    " spaced ",
    "🦀",
    "",
    "k1",
    "k2",
    "k3",
    "k4",
];
const TAGS: &[&str] = &["vip", "高消费", "outdoor, hiking", "say \"hi\"", "sports/running", "", "a//b", " ", "x\ny"];

/// One line of a random file.
#[derive(Clone, Debug)]
enum Line {
    Pair { key: usize, tag: usize, quote: bool },
    Blank,
    Fields(usize),
    BadUtf8,
    Long,
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        12 => (0..KEYS.len(), 0..TAGS.len(), any::<bool>()).prop_map(|(key, tag, quote)| Line::Pair { key, tag, quote }),
        1 => Just(Line::Blank),
        1 => (1usize..5).prop_map(Line::Fields),
        1 => Just(Line::BadUtf8),
    ]
}

fn field(out: &mut Vec<u8>, s: &str, quote: bool) {
    if quote || s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn file(lines: &[Line], terminators: &[u8], bom: bool, final_break: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    for (i, l) in lines.iter().enumerate() {
        match l {
            Line::Pair { key, tag, quote } => {
                field(&mut out, KEYS[*key], *quote);
                out.push(b',');
                field(&mut out, TAGS[*tag], false);
            }
            Line::Blank => {}
            Line::Fields(n) => out.extend_from_slice(vec!["f"; *n].join(",").as_bytes()),
            Line::BadUtf8 => out.extend_from_slice(b"bad\xff,vip"),
            Line::Long => {
                out.extend_from_slice(b"long,");
                out.extend(std::iter::repeat_n(b'x', super::MAX_RECORD_BYTES + 1));
            }
        }
        if i + 1 < lines.len() || final_break {
            match terminators[i % terminators.len()] {
                0 => out.push(b'\n'),
                1 => out.extend_from_slice(b"\r\n"),
                _ => out.push(b'\r'),
            }
        }
    }
    out
}

/// Loads `bytes` at every (block, threads) setting; all must agree (errors included).
fn load_everywhere(bytes: &[u8], skip: bool, keys_of_bad: bool) -> (Result<LoadReport, Error>, Engine) {
    let settings: &[(usize, usize)] = if bytes.len() > 100_000 {
        &[(1 << 22, 1), (1 << 16, 1), (1 << 16, 3), (100_000, 2)]
    } else {
        &[(1 << 22, 1), (7, 1), (7, 3), (64, 2), (1000, 2)]
    };
    let mut first: Option<(Result<LoadReport, Error>, Engine)> = None;
    for &(block, threads) in settings {
        let mut engine = Engine::new();
        let o = opts(block, threads).skip_bad_records(skip).keep_errors(1000).register_keys_of_bad_records(keys_of_bad);
        let got = engine.load_tags_csv(bytes, &o);
        match &first {
            None => first = Some((got, engine)),
            Some((want, e0)) => {
                assert_eq!(&got, want, "block {block}, {threads} threads");
                assert_eq!(tag_state(&engine), tag_state(e0), "block {block}, {threads} threads");
            }
        }
    }
    first.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Skipping bad records: the engine holds what the `csv` crate's reading says, at
    /// every block size and thread count.
    #[test]
    fn tag_loads_agree_with_the_csv_crate(
        lines in prop::collection::vec(line(), 0..60),
        terminators in prop::collection::vec(0u8..3, 1..4),
        bom in any::<bool>(),
        final_break in any::<bool>(),
        keys_of_bad in any::<bool>(),
    ) {
        let bytes = file(&lines, &terminators, bom, final_break);
        let m = model(&bytes, keys_of_bad);
        let (got, engine) = load_everywhere(&bytes, true, keys_of_bad);
        let report = got.unwrap();
        prop_assert_eq!(report.records, m.records);
        prop_assert_eq!(report.skipped, m.bad_lines.len() as u64);
        prop_assert_eq!(report.errors.iter().map(|e| at(e).0).collect::<Vec<_>>(), m.bad_lines.clone());
        prop_assert_eq!(report.new_customers, m.keys.len() as u64);
        let tags = engine.tags().count();
        prop_assert_eq!(tag_state(&engine), expected(&m, tags));

        // Stopping at the first bad record: its line, and nothing applied.
        let (got, engine) = load_everywhere(&bytes, false, false);
        match m.bad_lines.first() {
            Some(&line) => {
                prop_assert_eq!(at(&got.unwrap_err()).0, line);
                prop_assert_eq!(tag_state(&engine), tag_state(&Engine::new()));
            }
            None => prop_assert_eq!(got.unwrap().loaded, m.records),
        }
    }
}

/// Records longer than the cap among short ones, cut into blocks of all sizes.
#[test]
fn long_records_across_blocks() {
    let lines = [
        Line::Pair { key: 0, tag: 0, quote: false },
        Line::Long,
        Line::Pair { key: 4, tag: 2, quote: true },
        Line::Long,
        Line::Long,
        Line::Pair { key: 1, tag: 1, quote: false },
    ];
    for terminators in [[0u8], [1], [2]] {
        let bytes = file(&lines, &terminators, true, false);
        let m = model(&bytes, false);
        let (got, engine) = load_everywhere(&bytes, true, false);
        let report = got.unwrap();
        let lines: Vec<u64> = report.errors.iter().map(|e| at(e).0).collect();
        assert_eq!(lines, m.bad_lines, "terminators {terminators:?}");
        assert_eq!(tag_state(&engine), expected(&m, engine.tags().count()));
    }
}

// ------------------------------------------------------------------ bad records, one by one

/// The error of loading `text` with `load`, which must fail, and the engine must not have
/// changed.
fn fails(text: &str, load: impl Fn(&mut Engine, &[u8]) -> crate::Result<LoadReport>) -> (u64, String) {
    let mut engine = Engine::new();
    let keep = engine.customer("kept").unwrap();
    let e = load(&mut engine, text.as_bytes()).unwrap_err();
    assert_eq!(engine.customer_count(), 1, "{text:?}: nothing registered");
    assert_eq!((engine.tags().count(), engine.attributes().count(), engine.purchase_count()), (0, 0, 0));
    assert_eq!(engine.key_of(keep), Some("kept"));
    let shown = e.to_string();
    assert!(shown.starts_with("in.csv:"), "{shown}");
    at(&e)
}

fn purchases(e: &mut Engine, b: &[u8]) -> crate::Result<LoadReport> {
    e.load_purchases_csv(b, &opts(1 << 20, 1))
}

fn attrs(e: &mut Engine, b: &[u8]) -> crate::Result<LoadReport> {
    e.load_attrs_csv(b, &opts(1 << 20, 1))
}

fn tags(e: &mut Engine, b: &[u8]) -> crate::Result<LoadReport> {
    e.load_tags_csv(b, &opts(1 << 20, 1))
}

#[test]
fn every_documented_bad_purchase_names_its_line_and_column() {
    let cases: &[(&str, u64, &str)] = &[
        ("a,2024-01-01,10\nb,2024-02-30,1\n", 2, "invalid date \"2024-02-30\""),
        ("a,2024-01-01,1.005\n", 1, "invalid amount \"1.005\""),
        ("a,2024-01-01,NaN\n", 1, "invalid amount \"NaN\""),
        ("a,2024-01-01\n", 1, "expected 3 fields, found 2"),
        ("a,2024-01-01,1,2\n", 1, "expected 3 fields, found 4"),
        (",2024-01-01,1\n", 1, "invalid customer key \"\""),
        ("a, 2024-01-01,1\n", 1, "invalid date \" 2024-01-01\""),
        ("a,2024-01-01,1 \n", 1, "invalid amount \"1 \""),
        ("\n\na,2024-01-01,1\r\n\"b\nc\",2024-01-01,x\n", 4, "invalid amount \"x\""),
    ];
    for &(text, line, start) in cases {
        let (got_line, msg) = fails(text, purchases);
        assert_eq!(got_line, line, "{text:?}");
        assert!(msg.starts_with(start), "{text:?}: {msg}");
    }
    // The column is named, and the message says it.
    let e = purchases(&mut Engine::new(), b"a,2024-01-01,1.005\n").unwrap_err();
    assert!(e.to_string().ends_with("(column 3, \"amount\")"), "{e}");
    let mut engine = Engine::new();
    let e = engine.load_purchases_csv(&b"a,2024-01-01,1\nb,x,1\n"[..], &opts(1 << 20, 1).columns(["c", "d", "e"]));
    assert!(matches!(e, Err(Error::Csv { line: 1, problem: CsvProblem::MissingColumn { .. }, .. })), "{e:?}");
    let csv = "when,who,amount\n2024-01-01,a,1\n2024-13-01,b,2\n";
    let e = engine.load_purchases_csv(csv.as_bytes(), &opts(1 << 20, 1).columns(["who", "when", "amount"]));
    assert!(e.unwrap_err().to_string().ends_with("(column 1, \"when\")"));
}

#[test]
fn not_utf8_too_long_and_invalid_names() {
    let mut engine = Engine::new();
    engine.load_tags_csv("a\u{0},vip\n".as_bytes(), &opts(1 << 20, 1)).unwrap();
    assert!(engine.id_of("a\u{0}").is_some(), "a NUL is data in a key");
    let (line, msg) = fails("a,vip\nb,bell\u{7}\n", tags);
    assert!(line == 2 && msg.contains("invalid tag name"), "{msg}");
    let mut bytes = b"a,vip\n".to_vec();
    bytes.extend_from_slice(b"b,\xff\xfe\n");
    let e = tags(&mut Engine::new(), &bytes).unwrap_err();
    assert!(matches!(e, Error::Csv { line: 2, problem: CsvProblem::NotUtf8 { valid_up_to: 0 }, .. }), "{e:?}");
    let long = format!("a,vip\nb,{}\nc,vip\n", "x".repeat(super::MAX_RECORD_BYTES + 10));
    let e = tags(&mut Engine::new(), long.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::Csv { line: 2, problem: CsvProblem::TooLong { .. }, .. }), "{e:?}");
    assert!(e.to_string().len() < 400);
    // An unterminated quote runs to the end: one long record, never held whole.
    let open = format!("a,vip\nb,\"{}", "y\n".repeat(super::MAX_RECORD_BYTES));
    assert!(matches!(tags(&mut Engine::new(), open.as_bytes()), Err(Error::Csv { line: 2, .. })));
    let (line, msg) = fails("a,age,1\nb,a//b,2\n", attrs);
    assert!(line == 2 && msg.contains("invalid attribute name"), "{msg}");
    let (line, msg) = fails("a,age,1\nb,age,1.5\n", attrs);
    assert!(line == 2 && msg.starts_with("invalid value \"1.5\" for attribute \"age\""), "{msg}");
    let (line, msg) = fails("a,age,99999999999999999999\n", attrs);
    assert!(line == 1 && msg.contains("too large"), "{msg}");
    let (line, msg) = fails("a,recency_days,1\n", attrs);
    assert!(line == 1 && msg.contains("recency_days"), "{msg}");
    let key = "k".repeat(crate::MAX_CUSTOMER_KEY_LEN + 1);
    let (line, msg) = fails(&format!("{key},vip\n"), tags);
    assert!(line == 1 && msg.contains("4097 bytes"), "{msg}");
}

#[test]
fn empty_inputs_headers_and_options() {
    let mut engine = Engine::new();
    for text in ["", "\n\n", "\r\n", "\u{feff}"] {
        let r = engine.load_tags_csv(text.as_bytes(), &opts(1 << 20, 1)).unwrap();
        assert_eq!((r.records, r.loaded, r.new_customers), (0, 0, 0), "{text:?}");
        let e = engine.load_tags_csv(text.as_bytes(), &opts(1 << 20, 1).header(true)).unwrap_err();
        assert!(matches!(e, Error::Csv { problem: CsvProblem::NoHeader, .. }), "{text:?}");
    }
    // A header only.
    let r = engine.load_tags_csv(&b"customer,tag\r\n"[..], &opts(1 << 20, 1).header(true)).unwrap();
    assert_eq!(r.records, 0);
    // Named columns with a BOM and CRLF, extra columns ignored, lines counted after the header.
    let text = "\u{feff}tag,x,customer\r\nvip,1,alice\r\n\r\nvip,2\r\n";
    let e = engine.load_tags_csv(text.as_bytes(), &opts(1 << 20, 1).columns(["customer", "tag"])).unwrap_err();
    assert_eq!(at(&e).0, 4);
    let r = engine
        .load_tags_csv(text.as_bytes(), &opts(1 << 20, 1).columns(["customer", "tag"]).skip_bad_records(true))
        .unwrap();
    assert_eq!((r.records, r.loaded, r.skipped), (2, 1, 1));
    assert_eq!(engine.count("vip").unwrap(), 1);
    // Wrong options.
    let e = engine.load_tags_csv(&b"a,b\n"[..], &opts(1 << 20, 1).columns([0usize, 1, 2])).unwrap_err();
    assert!(matches!(e, Error::Csv { line: 0, problem: CsvProblem::Columns { .. }, .. }), "{e}");
    let e = engine.load_tags_csv(&b"a,b\n"[..], &opts(1 << 20, 1).columns([0usize, 5])).unwrap_err();
    assert!(e.to_string().contains("position 5"), "{e}");
    // Positions without a header: the first record sets the width.
    let r = engine.load_tags_csv(&b"1,dora,x,new\n2,erin,y,new\n"[..], &opts(1 << 20, 1).columns([1usize, 3])).unwrap();
    assert_eq!((r.loaded, r.new_customers), (2, 2));
    assert_eq!(engine.count("new").unwrap(), 2);
    // Another delimiter; a quoted delimiter.
    let o = opts(1 << 20, 1).delimiter(b';');
    engine.load_tags_csv(&b"fay;\"a;b\"\n"[..], &o).unwrap();
    assert_eq!(engine.tags_of(engine.id_of("fay").unwrap()).unwrap(), ["a;b"]);
}

#[test]
fn skipped_records_are_counted_and_the_first_errors_kept() {
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!("c{i},2024-01-0{},1\n", if i % 2 == 0 { "1" } else { "x" }));
    }
    let mut engine = Engine::new();
    let r = engine.load_purchases_csv(text.as_bytes(), &opts(1 << 20, 1).skip_bad_records(true)).unwrap();
    assert_eq!((r.records, r.loaded, r.skipped, r.errors.len()), (20, 10, 10, 5));
    assert_eq!(r.errors.iter().map(|e| at(e).0).collect::<Vec<_>>(), [2, 4, 6, 8, 10]);
    assert_eq!((engine.customer_count(), engine.purchase_count()), (10, 10));
    // The keys of bad records, when asked: in order of first appearance with the others.
    let mut engine = Engine::new();
    let o = opts(1 << 20, 1).skip_bad_records(true).register_keys_of_bad_records(true);
    let r = engine.load_purchases_csv(text.as_bytes(), &o).unwrap();
    assert_eq!((r.new_customers, engine.customer_count()), (20, 20));
    assert_eq!(engine.id_of("c7"), Some(CustomerId(7)));
    assert!(engine.purchases_of(CustomerId(7)).unwrap().is_empty());
}

#[test]
fn loads_apply_like_calls_in_file_order() {
    let mut engine = Engine::new();
    engine.define_exclusive_group("tier").unwrap();
    let known = engine.customer("zed").unwrap();
    let text = "zed,tier:gold\namy,tier:silver\namy,tier:gold\nzed,tier:silver\nnew,vip\n";
    let r = engine.load_tags_csv(text.as_bytes(), &opts(8, 2)).unwrap();
    assert_eq!((r.new_customers, r.records), (2, 5));
    assert_eq!(engine.tags_of(known).unwrap(), ["tier:silver"]);
    assert_eq!(engine.tags_of(engine.id_of("amy").unwrap()).unwrap(), ["tier:gold"]);
    assert_eq!(engine.id_of("amy"), Some(CustomerId(1)));
    // Attributes: the last value of a key and name wins.
    engine.load_attrs_csv(&b"amy,age,30\namy,age,31\nzed,age, -4 \n"[..], &opts(1 << 20, 1)).unwrap();
    assert_eq!(engine.attr(engine.id_of("amy").unwrap(), "age").unwrap(), Some(31));
    assert_eq!(engine.attr(known, "age").unwrap(), Some(-4));
    // Purchases with RFC 3339 timestamps counted on their UTC day.
    engine.load_purchases_csv(&b"amy,2024-06-30T23:30:00-05:00,1.50\n"[..], &opts(1 << 20, 1)).unwrap();
    let p = engine.purchases_of(engine.id_of("amy").unwrap()).unwrap();
    assert_eq!((p[0].day, p[0].amount.minor()), (Day::from_ymd(2024, 7, 1).unwrap(), 150));
}

#[test]
fn a_load_is_journaled_and_replayed() {
    let dir = std::env::temp_dir().join(format!("audience-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("e.audience");
    let text = "a,vip\nb,\"x, y\"\nc,vip\na,高消费\n";
    let want = {
        let mut engine = Engine::open_or_create(&path).unwrap();
        engine.customer("before").unwrap();
        engine.load_tags_csv(text.as_bytes(), &opts(5, 2)).unwrap();
        engine.load_attrs_csv(&b"d,age,3\n"[..], &opts(1 << 20, 1)).unwrap();
        engine.customer("after").unwrap();
        engine.flush().unwrap();
        tag_state(&engine)
    };
    let engine = Engine::open(&path).unwrap();
    assert_eq!(tag_state(&engine), want);
    assert_eq!(engine.id_of("after"), Some(CustomerId(5)));
    assert_eq!(engine.attr(engine.id_of("d").unwrap(), "age").unwrap(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn columns_convert() {
    assert_eq!(Column::from(3usize), Column::At(3));
    assert_eq!(Column::from("id"), Column::Named("id".to_owned()));
    assert!(CsvOptions::new("x").columns(["a", "b"]).header);
}

#[test]
fn a_read_error_is_a_csv_error() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            buf[..6].copy_from_slice(b"a,vip\n");
            Ok(6)
        }
    }
    let mut engine = Engine::new();
    let e = engine.load_tags_csv(Failing(3), &opts(1 << 20, 1)).unwrap_err();
    assert!(matches!(&e, Error::Csv { problem: CsvProblem::Read { .. }, .. }), "{e:?}");
    assert!(e.to_string().contains("disk on fire"));
    assert_eq!(engine.customer_count(), 0);

    // A bad record read before the failure comes first, at any thread count.
    struct BadThenFailing(bool);
    impl std::io::Read for BadThenFailing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                return Err(std::io::Error::other("disk on fire"));
            }
            buf[..8].copy_from_slice(b"a,vip\nb\n");
            Ok(8)
        }
    }
    for threads in [1, 2, 3] {
        let e = Engine::new().load_tags_csv(BadThenFailing(false), &opts(8, threads)).unwrap_err();
        assert!(matches!(&e, Error::Csv { line: 2, problem: CsvProblem::FieldCount { .. }, .. }), "{threads}: {e:?}");
    }
}

#[test]
fn many_bad_records_keep_few_errors() {
    // 200,000 bad records of a long header name: only the kept errors are built.
    let name = "n".repeat(10_000);
    let mut text = format!("customer,{name}\n");
    text.push_str(&"a,\u{7}\n".repeat(200_000));
    let o = opts(1 << 16, 2).header(true).skip_bad_records(true).keep_errors(3);
    let r = Engine::new().load_tags_csv(text.as_bytes(), &o).unwrap();
    assert_eq!((r.skipped, r.errors.len()), (200_000, 3));
    let shown = r.errors[0].to_string();
    assert!(shown.len() < 1_000 && shown.contains("nnn…nnn"), "{shown}");
}
