//! ClickHouse interop (issue 16) without a server: the `RowBinary` tables the engine writes,
//! read back here and against a model; `groupBitmap` states written by real ClickHouse
//! (chDB, `tests/clickhouse/make_fixtures.py`) imported exactly; hostile input; the SQL's
//! name resolution. The round trip through real ClickHouse is `tests/clickhouse/chdb_roundtrip.py`
//! (see `tests/clickhouse/README.md`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use audience::roaring::RoaringBitmap;
use audience::{Audience, ClickHouseRows, CustomerId, Engine, Error, Tables, TagKind};
use common::{Result, config};
use proptest::prelude::*;
use serde_json::Value;

// ------------------------------------------------------------------ reading RowBinary here

/// A plain reader of the three tables, independent of the crate's.
struct Rows<'a>(&'a [u8]);

impl Rows<'_> {
    fn done(&self) -> bool {
        self.0.is_empty()
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }

    fn varuint(&mut self) -> u64 {
        let mut v = 0;
        for shift in (0..).step_by(7) {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        unreachable!()
    }

    fn string(&mut self) -> String {
        let n = self.varuint() as usize;
        String::from_utf8(self.take(n).to_vec()).expect("UTF-8")
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take(8).try_into().unwrap())
    }

    /// A state: small sets must be exactly what ClickHouse writes (at most 32 values).
    fn state(&mut self) -> RoaringBitmap {
        match self.take(1)[0] {
            0 => {
                let n = self.varuint();
                assert!(n <= 32, "a small set of {n}");
                (0..n).map(|_| self.u32()).collect()
            }
            1 => {
                let n = self.varuint() as usize;
                let bits = Audience::from_portable_bytes(self.take(n)).expect("portable Roaring").bitmap().clone();
                assert!(bits.len() > 32, "ClickHouse keeps 32 values or fewer inline");
                bits
            }
            k => panic!("state kind {k}"),
        }
    }
}

fn tags_table(engine: &Engine) -> Vec<(String, String, RoaringBitmap)> {
    let mut out = Vec::new();
    let rows = engine.write_clickhouse_tags(&mut out).unwrap();
    let mut r = Rows(&out);
    let mut got = Vec::new();
    while !r.done() {
        got.push((r.string(), r.string(), r.state()));
    }
    assert_eq!(got.len() as u64, rows);
    got
}

// ------------------------------------------------------------------ export against a model

const NAMES: [&str; 8] =
    ["vip", "sports", "sports/running", "sports/running/trail", "高消费", "tier:gold", "tier:silver", "a'b\\c"];

#[derive(Clone, Debug)]
enum Op {
    Tag(u32, usize),
    Untag(u32, usize),
    Remove(u32),
    Attr(u32, usize, i64),
}

fn op() -> impl Strategy<Value = Op> {
    let c = prop_oneof![0u32..60, Just(70_000u32), Just(u32::MAX)];
    prop_oneof![
        6 => (c.clone(), 0..NAMES.len()).prop_map(|(c, t)| Op::Tag(c, t)),
        1 => (c.clone(), 0..NAMES.len()).prop_map(|(c, t)| Op::Untag(c, t)),
        1 => c.clone().prop_map(Op::Remove),
        2 => (c, 0..2usize, prop_oneof![-50i64..50, any::<i64>()]).prop_map(|(c, a, v)| Op::Attr(c, a, v)),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// The three tables hold exactly the engine's tags (own members, kinds), live customers
    /// with their keys, and attribute values; the tags read back into an engine with the
    /// same customers give the same members.
    #[test]
    fn tables_hold_the_engine_and_tags_read_back(ops in prop::collection::vec(op(), 0..80)) {
        let mut e = Engine::new();
        e.define_exclusive_group("tier").unwrap();
        e.define_tag("vip", TagKind::Value).unwrap();
        let mut tags: BTreeMap<&str, BTreeSet<u32>> = NAMES.iter().map(|&n| (n, BTreeSet::new())).collect();
        let mut live = BTreeSet::new();
        let mut attrs: BTreeMap<(&str, u32), i64> = BTreeMap::new();
        for name in NAMES {
            e.ensure_tag(name).unwrap();
        }
        for op in &ops {
            match *op {
                Op::Tag(c, t) => {
                    let key = format!("k{c}");
                    let id = e.customer(&key).unwrap();
                    live.insert(id.0);
                    e.tag(id, NAMES[t]).unwrap();
                    if NAMES[t].starts_with("tier:") {
                        for (n, set) in tags.iter_mut() {
                            if n.starts_with("tier:") {
                                set.remove(&id.0);
                            }
                        }
                    }
                    tags.get_mut(NAMES[t]).unwrap().insert(id.0);
                }
                Op::Untag(c, t) => {
                    if let Some(id) = e.id_of(&format!("k{c}")) {
                        e.untag(id, NAMES[t]).unwrap();
                        tags.get_mut(NAMES[t]).unwrap().remove(&id.0);
                    }
                }
                Op::Remove(c) => {
                    if let Some(id) = e.id_of(&format!("k{c}")) {
                        e.remove_customer(id).unwrap();
                        live.remove(&id.0);
                        tags.values_mut().for_each(|s| { s.remove(&id.0); });
                        attrs.retain(|&(_, x), _| x != id.0);
                    }
                }
                Op::Attr(c, a, v) => {
                    let id = e.customer(&format!("k{c}")).unwrap();
                    live.insert(id.0);
                    let name = ["age", "balance"][a];
                    e.set_attr(id, name, v).unwrap();
                    attrs.insert((name, id.0), v);
                }
            }
        }
        // tags: every tag of the pool (ancestors included), own members only
        let table = tags_table(&e);
        let names: Vec<&str> = table.iter().map(|(n, _, _)| n.as_str()).collect();
        prop_assert_eq!(names, e.tags().map(|t| t.name).collect::<Vec<_>>());
        for (name, kind, bits) in &table {
            prop_assert_eq!(kind.as_str(), e.tag_info(name).unwrap().kind.as_str());
            let want: Vec<u32> = tags.get(name.as_str()).map(|s| s.iter().copied().collect()).unwrap_or_default();
            prop_assert_eq!(bits.iter().collect::<Vec<_>>(), want, "{}", name);
        }
        // customers: every live customer, ascending, with its key
        let mut out = Vec::new();
        prop_assert_eq!(e.write_clickhouse_customers(&mut out).unwrap(), live.len() as u64);
        let mut r = Rows(&out);
        let mut seen = Vec::new();
        while !r.done() {
            let (id, key) = (r.u32(), r.string());
            prop_assert_eq!(key.as_str(), e.key_of(CustomerId(id)).unwrap());
            seen.push(id);
        }
        prop_assert_eq!(seen, live.iter().copied().collect::<Vec<_>>());
        // attrs: every value
        let mut out = Vec::new();
        e.write_clickhouse_attrs(&mut out).unwrap();
        let mut r = Rows(&out);
        let mut got = BTreeMap::new();
        while !r.done() {
            let (id, name, value) = (r.u32(), r.string(), r.i64());
            let name = ["age", "balance"].into_iter().find(|n| *n == name).unwrap();
            prop_assert!(got.insert((name, id), value).is_none());
        }
        prop_assert_eq!(got, attrs);

        // read back into an engine with the same customers (and one more: nobody's tag)
        let mut rows = Vec::new();
        e.write_clickhouse_tags(&mut rows).unwrap();
        let mut other = Engine::new();
        for &id in &live {
            other.customer_id(id).unwrap();
        }
        let done = other.read_clickhouse_tags(&rows[..], ClickHouseRows::TagKindCustomers, "tags.bin").unwrap();
        prop_assert_eq!(done.tags, e.tags().count() as u64);
        for t in e.tags() {
            let ids = |e: &Engine| Audience::from_portable_bytes(&e.tag_to_portable_bytes(t.name).unwrap()).unwrap().to_ids();
            prop_assert_eq!(ids(&other), ids(&e), "{}", t.name);
            prop_assert_eq!(other.tag_info(t.name).unwrap().kind, t.kind);
        }
    }
}

// ------------------------------------------------------------------ states written by ClickHouse

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/clickhouse")
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn fnv(ids: impl IntoIterator<Item = u32>) -> u64 {
    ids.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, id| (h ^ u64::from(id)).wrapping_mul(0x100_0000_01b3))
}

/// Imports a fixture and checks each tag against the manifest chDB wrote. The customers
/// are every id the manifest lists (all of a row given by ranges, the sample of the others);
/// ids of a sampled row beyond its sample are not customers, so they are skipped, and
/// counted.
fn import_fixture(file: &str, rows: ClickHouseRows) -> Result {
    let bytes = std::fs::read(fixtures().join(format!("{file}.bin"))).expect("committed");
    let text = std::fs::read_to_string(fixtures().join(format!("{file}.json"))).expect("committed");
    let manifest: Value = serde_json::from_str(&text).expect("JSON");
    let want = manifest["rows"].as_array().expect("rows");
    let mut known = RoaringBitmap::new();
    for w in want {
        match w["ranges"].as_array() {
            Some(ranges) => ranges.iter().for_each(|r| {
                known.insert_range(num(&r[0]) as u32..=num(&r[1]) as u32);
            }),
            None => w["sample"].as_array().expect("a sample").iter().for_each(|id| {
                known.insert(num(id) as u32);
            }),
        }
    }
    let mut engine = Engine::new();
    common::register(&mut engine, &known)?;
    let r = engine.read_clickhouse_tags(&bytes[..], rows, file)?;
    assert_eq!(r.rows, want.len() as u64);
    let mut members = 0;
    for w in want {
        let name = w["tag"].as_str().expect("a tag");
        let got = Audience::from_portable_bytes(&engine.tag_to_portable_bytes(name)?)?;
        members += got.len();
        if w["ranges"].as_array().is_some() {
            assert_eq!(got.len(), num(&w["cardinality"]), "{name}");
            assert_eq!(fnv(got.iter().map(u32::from)), num(&w["fnv"]), "{name}");
            assert_eq!(got.first().map(|c| u64::from(c.0)), w["min"].as_u64(), "{name}");
            assert_eq!(got.last().map(|c| u64::from(c.0)), w["max"].as_u64(), "{name}");
        } else {
            for id in w["sample"].as_array().expect("a sample") {
                assert!(got.contains(CustomerId(num(id) as u32)), "{name}: {id} is a member");
            }
            for id in w["absent"].as_array().expect("non-members") {
                assert!(!got.contains(CustomerId(num(id) as u32)), "{name}: {id} is no member");
            }
            assert!(got.len() < num(&w["cardinality"]), "{name}: ids beyond the sample are skipped");
        }
        if rows == ClickHouseRows::TagKindCustomers {
            assert_eq!(engine.tag_info(name)?.kind.as_str(), w["kind"].as_str().expect("a kind"), "{name}");
        }
    }
    let total: u64 = want.iter().map(|w| num(&w["cardinality"])).sum();
    assert_eq!(r.skipped + members, total, "every id a member or skipped");
    Ok(())
}

#[test]
fn states_written_by_clickhouse_import_exactly() -> Result {
    import_fixture("tags_from_chdb", ClickHouseRows::TagKindCustomers)?;
    import_fixture("tag_customers_from_chdb", ClickHouseRows::TagCustomers)
}

// ------------------------------------------------------------------ hostile input

fn sample_engine() -> Engine {
    let mut e = Engine::new();
    for c in 0..100u32 {
        let id = e.customer(&format!("c{c}")).unwrap();
        e.tag(id, if c % 2 == 0 { "even" } else { "odd" }).unwrap();
        if c < 5 {
            e.tag(id, "few").unwrap();
        }
    }
    e
}

/// Every truncation of a valid table: the rows before the cut when it falls between rows,
/// else a typed error naming a row, with nothing changed.
#[test]
fn every_truncation_is_a_typed_error_or_the_rows_before_it() {
    let source = sample_engine();
    let mut bytes = Vec::new();
    source.write_clickhouse_tags(&mut bytes).unwrap();
    let mut target = Engine::new();
    target.customer_id_range(0..100).unwrap();
    target.tag(CustomerId(1), "even").unwrap(); // a member the import would remove
    let before = tags_table(&target);
    for cut in 0..bytes.len() {
        let mut e = target.clone();
        match e.read_clickhouse_tags(&bytes[..cut], ClickHouseRows::TagKindCustomers, "t.bin") {
            Ok(r) => assert!(r.rows < 3, "cut {cut}: {r:?}"),
            Err(err) => {
                assert!(matches!(err, Error::InvalidRowBinary { row: 1..=3, .. }), "cut {cut}: {err}");
                assert_eq!(tags_table(&e), before, "cut {cut}: nothing changed");
            }
        }
    }
}

#[test]
fn bad_rows_are_refused_whole() {
    let mut e = sample_engine();
    let before = tags_table(&e);
    let mut good = Vec::new();
    e.write_clickhouse_tags(&mut good).unwrap();
    let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
    let mut bad_kind = good.clone();
    bad_kind.extend(b"\x01x\x04nope\x00\x00");
    cases.push((bad_kind, "kind"));
    let mut small33 = good.clone();
    small33.extend(b"\x01x\x06custom\x00\x21");
    small33.extend((0..33u32).flat_map(u32::to_le_bytes));
    cases.push((small33, "small set of 33"));
    let mut long_name = good.clone();
    long_name.extend([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
    cases.push((long_name, "bytes (at most"));
    let mut not_utf8 = good.clone();
    not_utf8.extend(b"\x02\xFF\xFE\x06custom\x00\x00");
    cases.push((not_utf8, "UTF-8"));
    let mut huge_roaring = good.clone();
    huge_roaring.extend(b"\x01x\x06custom\x01\xFF\xFF\xFF\xFF\x0F\x3a\x30");
    cases.push((huge_roaring, "no set of u32 ids needs more"));
    let mut cut_roaring = good.clone();
    cut_roaring.extend(b"\x01x\x06custom\x01\xFF\xFF\x7F\x3a\x30");
    cases.push((cut_roaring, "ends inside a Roaring bitmap"));
    let mut alias_child = good.clone();
    alias_child.extend(b"\x04M/xx\x06custom\x00\x00");
    e.alias_tag("M", "even").unwrap();
    cases.push((alias_child, "alias"));
    for (bytes, what) in cases {
        let err = e.read_clickhouse_tags(&bytes[..], ClickHouseRows::TagKindCustomers, "t.bin").unwrap_err();
        assert!(err.to_string().contains(what), "{what}: {err}");
        assert_eq!(tags_table(&e), before, "{what}: nothing changed");
    }
}

/// Rows naming one tag by spellings that normalize alike, or by an alias, are one tag; a
/// layer's own tags in an engine's export are left to the layer; without a kind column a
/// new tag gets the kind its name implies; in an exclusive group the later value in name
/// order wins, counted.
#[test]
fn rows_unite_by_tag_and_derived_tags_are_left_to_their_layer() -> Result {
    let row = |name: &str, kind: Option<&str>, ids: &[u32]| {
        let mut out = Vec::new();
        out.push(name.len() as u8);
        out.extend(name.as_bytes());
        if let Some(k) = kind {
            out.push(k.len() as u8);
            out.extend(k.as_bytes());
        }
        out.extend([0, ids.len() as u8]);
        ids.iter().for_each(|i| out.extend(i.to_le_bytes()));
        out
    };
    let mut e = Engine::new();
    e.customer_id_range(0..10)?;
    e.ensure_tag("gender:male")?;
    e.alias_tag("M", "gender:male")?;
    let rows = [
        row(" vip", Some("value"), &[1, 2]),
        row("vip", Some("behavior"), &[3]),
        row("M", Some("custom"), &[4]),
        row("gender:male", Some("custom"), &[5]),
    ]
    .concat();
    let done = e.read_clickhouse_tags(&rows[..], ClickHouseRows::TagKindCustomers, "t")?;
    assert_eq!((done.rows, done.tags, done.new_tags, done.added), (4, 2, 1, 5));
    assert_eq!(e.query("vip")?.to_ids(), [1, 2, 3]);
    assert_eq!(e.tag_info("vip")?.kind, TagKind::Value, "the first row's kind");
    assert_eq!(e.query("gender:male")?.to_ids(), [4, 5]);

    // No kind column: the kind a new name gets; an exclusive group's overlap, counted.
    e.define_exclusive_group_with_kind("tier", TagKind::Value)?;
    let rows = [row("tier:gold", None, &[1, 2]), row("tier:silver", None, &[2, 3])].concat();
    let done = e.read_clickhouse_tags(&rows[..], ClickHouseRows::TagCustomers, "t")?;
    assert_eq!((done.tags, done.new_tags, done.displaced), (2, 2, 1));
    assert_eq!(e.tag_info("tier:gold")?.kind, TagKind::Value);
    assert_eq!((e.query("tier:gold")?.to_ids(), e.query("tier:silver")?.to_ids()), (vec![1], vec![2, 3]));

    // An engine's own export after a refresh: its derived tags are skipped, the rest read.
    let mut source = sample_engine();
    let c = source.customer("buyer")?;
    source.record_purchase(c, audience::Day::from_ymd(2024, 1, 2)?, audience::Money::parse("5.00")?)?;
    source.refresh(audience::Day::from_ymd(2024, 6, 30)?)?;
    let mut out = Vec::new();
    source.write_clickhouse_tags(&mut out)?;
    let mut target = Engine::new();
    target.customer_id_range(0..101)?;
    let done = target.read_clickhouse_tags(&out[..], ClickHouseRows::TagKindCustomers, "t")?;
    assert!(done.derived >= 10, "{done:?}");
    assert_eq!(done.tags + done.derived, source.tags().count() as u64);
    assert_eq!(target.query("even")?, source.query("even")?);
    Ok(())
}

// ------------------------------------------------------------------ SQL names, journal

#[test]
fn the_engines_sql_resolves_aliases_and_refuses_unknown_names() -> Result {
    let mut e = sample_engine();
    e.alias_tag("pair", "even")?;
    e.set_attr(CustomerId(0), "age", 3)?;
    let t = Tables::default();
    assert_eq!(e.to_clickhouse_sql("pair", &t)?, audience::Query::parse("even")?.to_clickhouse_sql(&t)?);
    assert!(matches!(e.to_clickhouse_sql("evn", &t), Err(Error::UnknownTag { .. })));
    assert!(matches!(e.to_clickhouse_sql("agee > 1", &t), Err(Error::UnknownAttribute { .. })));
    assert!(e.to_clickhouse_sql("age > 1 AND NOT few", &t)?.contains("name = 'age' AND value > 1"));
    Ok(())
}

#[test]
fn an_import_is_journaled() -> Result {
    let dir = std::env::temp_dir().join(format!("audience-clickhouse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("crm.snap");
    let mut rows = Vec::new();
    sample_engine().write_clickhouse_tags(&mut rows)?;
    let want = {
        let mut e = Engine::open_or_create(&path)?;
        e.customer_id_range(0..100)?;
        e.read_clickhouse_tags(&rows[..], ClickHouseRows::TagKindCustomers, "tags.bin")?;
        tags_table(&e)
    };
    let reopened = Engine::open(&path)?;
    assert_eq!(tags_table(&reopened), want);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
