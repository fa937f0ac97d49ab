//! The engine the fuzz checks evaluate on, and a naive model of it to compare with.
//!
//! Customers are dense ids in a few ranges: `0..10_000` (dense tags, more than 4,096 ids in
//! the block, so the per-block route and the views of dense tags are used), `65_530..65_546`
//! (straddling the first block boundary) and `200_000` (alone in its block), with a few of
//! them removed. Tags and attribute values are given per id range, so the customers fall
//! into a few dozen runs of consecutive ids with the same tags and values. The model is one
//! entry per run, read back through `Engine::tags_of` and `Engine::attrs_of` (the engine's
//! per-customer read path, not the query planner): a query is evaluated on it by walking the
//! tree once per run, and compared with the engine's answer run by run.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use audience::{CustomerId, Day, Engine, Expr, Money, SegmentPlan};

/// Ranges of tags, applied in order (an exclusive group's later value wins).
const TAGS: &[(&str, Range<u32>)] = &[
    ("vip", 0..6_000),
    ("outdoor", 3_000..9_000),
    ("High Value", 4_000..10_000),
    ("高消费", 5_000..5_100),
    ("高消费", 65_534..65_540),
    ("and", 7..9),
    ("a=b", 9_000..9_010),
    ("say \"hi\" \\o", 1..2),
    ("interest/sports/running", 100..200),
    ("interest/sports", 150..160),
    ("interest/music", 65_530..65_546),
    ("tier:gold", 0..3_000),
    ("tier:silver", 2_000..5_000),
    ("gender:male", 0..4_000),
    ("gender:female", 4_000..8_000),
    ("❤️", 200_000..200_001),
];

/// Ranges of attribute values, set in order (a later value wins).
const ATTRS: &[(&str, Range<u32>, i64)] = &[
    ("age", 0..2_000, 25),
    ("age", 2_000..4_500, 40),
    ("age", 4_500..4_600, -3),
    ("age", 65_530..65_533, i64::MAX),
    ("age", 65_533..65_536, i64::MIN),
    ("balance", 1_000..9_000, -10),
    ("balance", 200_000..200_001, 0),
    ("score", 3..4, 1 << 40),
];

/// Customers removed after everything is set: no query may match them.
const REMOVED: &[u32] = &[4_321, 9_999, 65_545];

/// `(customer, day, amount)`: the refresh gives these customers RFM scores, stages and the
/// derived attributes; every other live customer is a prospect.
const PURCHASES: &[(u32, &str, &str)] =
    &[(0, "2024-06-01", "49.90"), (0, "2024-01-10", "-5.00"), (65_531, "2023-06-01", "10.00"), (7, "2024-06-29", "1")];

thread_local! {
    static FIXTURE: Fixture = Fixture::build();
}

/// Runs `f` on this thread's fixture, built on first use (a fuzzer's process builds it once,
/// not once per input).
pub fn with<R>(f: impl FnOnce(&Fixture) -> R) -> R {
    FIXTURE.with(f)
}

/// Consecutive live customers with the same tags and attribute values.
struct Run {
    ids: Range<u32>,
    /// The tags each carries itself (`Engine::tags_of`).
    tags: BTreeSet<String>,
    attrs: BTreeMap<String, i64>,
}

/// The engine and its model.
pub struct Fixture {
    pub engine: Engine,
    runs: Vec<Run>,
    /// Every name a tag term resolves (tags, parents included, and aliases), to the tag it
    /// reads.
    names: BTreeMap<String, String>,
    /// Every attribute a comparison resolves.
    attrs: BTreeSet<String>,
}

impl Fixture {
    pub fn build() -> Fixture {
        let mut e = Engine::new();
        e.customer_id_range(0..10_000).unwrap();
        e.customer_id_range(65_530..65_546).unwrap();
        e.customer_id(200_000).unwrap();
        e.define_exclusive_group("tier").unwrap();
        e.define_exclusive_group("gender").unwrap();
        for (name, ids) in TAGS {
            let who = ids.clone().map(CustomerId).collect();
            e.tag_all(&who, name).unwrap();
        }
        e.ensure_tag("nobody_yet").unwrap();
        e.alias_tag("M", "gender:male").unwrap();
        e.alias_tag("sport", "interest/sports").unwrap();
        for &(name, ref ids, value) in ATTRS {
            e.set_attrs(ids.clone().map(|i| (CustomerId(i), name, value))).unwrap();
        }
        e.define_attr("unset").unwrap();
        for &(id, day, amount) in PURCHASES {
            e.record_purchase(CustomerId(id), day.parse::<Day>().unwrap(), Money::parse(amount).unwrap()).unwrap();
        }
        e.define_rule_tag("older_vip", "vip AND age >= 30").unwrap();
        let plan = SegmentPlan::new([("gold", "tier:gold"), ("fans", "高消费 OR interest/music")], "rest").unwrap();
        e.apply_plan("campaign", &plan).unwrap();
        for &id in REMOVED {
            e.remove_customer(CustomerId(id)).unwrap();
        }
        e.refresh(Day::from_ymd(2024, 6, 30).unwrap()).unwrap();

        let mut cuts: BTreeSet<u32> = [0, 10_000, 65_530, 65_546, 200_000, 200_001].into();
        cuts.extend(TAGS.iter().flat_map(|(_, r)| [r.start, r.end]));
        cuts.extend(ATTRS.iter().flat_map(|(_, r, _)| [r.start, r.end]));
        cuts.extend(REMOVED.iter().chain(PURCHASES.iter().map(|(id, _, _)| id)).flat_map(|&id| [id, id + 1]));
        let cuts: Vec<u32> = cuts.into_iter().collect();
        let mut runs = Vec::new();
        for w in cuts.windows(2) {
            let ids = w[0]..w[1];
            if !e.is_customer(CustomerId(ids.start)) {
                continue;
            }
            let read = |id: u32| {
                let tags: BTreeSet<String> =
                    e.tags_of(CustomerId(id)).unwrap().into_iter().map(str::to_owned).collect();
                let attrs = e.attrs_of(CustomerId(id)).unwrap().into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
                (tags, attrs)
            };
            let (tags, attrs) = read(ids.start);
            assert_eq!((&tags, &attrs), (&read(ids.end - 1).0, &read(ids.end - 1).1), "run {ids:?} is not uniform");
            runs.push(Run { ids, tags, attrs });
        }
        let mut names: BTreeMap<String, String> = e.tags().map(|t| (t.name.to_owned(), t.name.to_owned())).collect();
        names.extend(e.aliases().map(|(a, t)| (a.to_owned(), t.to_owned())));
        let attrs = e.attributes().map(|(n, _)| n.to_owned()).collect();
        Fixture { engine: e, runs, names, attrs }
    }

    /// The tag a (normalized) tag term reads, if it resolves.
    pub fn resolve_tag(&self, name: &str) -> Option<&str> {
        self.names.get(name).map(String::as_str)
    }

    /// Whether a (normalized) attribute name resolves.
    pub fn knows_attr(&self, name: &str) -> bool {
        self.attrs.contains(name)
    }

    /// The live customers, as runs: `(ids, whether the expression matches them)`. Every
    /// name in `e` must resolve.
    pub fn eval<'a>(&'a self, e: &'a Expr) -> impl Iterator<Item = (Range<u32>, bool)> + 'a {
        self.runs.iter().map(move |run| (run.ids.clone(), self.matches(e, run)))
    }

    /// The expression on one run, by the rules of the grammar's docs (recursive: parsed
    /// queries are at most `MAX_QUERY_DEPTH` deep).
    fn matches(&self, e: &Expr, run: &Run) -> bool {
        match e {
            Expr::Tag(t) => {
                let tag = self.resolve_tag(t.name()).expect("resolved before evaluation");
                run.tags
                    .iter()
                    .any(|have| have == tag || have.strip_prefix(tag).is_some_and(|rest| rest.starts_with('/')))
            }
            Expr::Compare(c) => run.attrs.get(c.name()).is_some_and(|&v| c.op().holds(v, c.value())),
            Expr::Everyone => true,
            Expr::Not(x) => !self.matches(x, run),
            Expr::And(xs) => xs.iter().all(|x| self.matches(x, run)),
            Expr::Or(xs) => xs.iter().any(|x| self.matches(x, run)),
            other => panic!("a new kind of term, {other:?}: teach the fuzz model about it"),
        }
    }
}
