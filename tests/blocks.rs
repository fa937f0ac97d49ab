//! Per-block evaluation and container decoding, checked against a naive model.
//!
//! Queries with three or more tag operands are evaluated block by block (the whole
//! expression per 2^16-id block over the tag bitmaps' array / bitset / run containers, into a
//! dense scratch), and `Audience::write_ids` decodes containers of every kind. The random
//! operations of the other test files use small ids, so their containers are mostly arrays.
//! Here tags are built with random *shapes* so every container kind occurs: sparse random ids
//! (arrays), dense random ids (more than 4,096 in a block: bitsets), contiguous ranges and
//! long stripes (runs, also across block boundaries), full aligned blocks, and empty tags;
//! over several blocks at the bottom of the id space and just below and at `u32::MAX`.
//!
//! The model is deliberately naive, and its own (the shared one of `common::model`, built on
//! `BTreeSet`s, would be too slow for 270,000 ids): one plain bit vector per tag over the
//! *compact* universe of customer ids (the two id regions laid end to end, no 2^16 blocks, no
//! containers), and a query is evaluated on it straight from its syntax tree (`NOT` = live
//! minus the operand).
//! Every query is compared on `count`, `query(..).to_ids()`, `iter`, `write_ids` appended to a
//! non-empty `Vec`, a parsed `Query` and `explain(..).count()` (which is computed one
//! operator at a time, so it is a second, independent reference inside the engine).
//! Random mutations (untag, tag, remove customers, re-register, range untag/tag, optimize)
//! run between query rounds so no cached or derived state can go stale unnoticed.
//!
//! The edge cases by hand are in `blocks_edges.rs`; the id regions, the bit vector and the
//! checks of a query that both files use are in `common::blocks`.
//!
//! Failure persistence is off so a failing run writes no files. `PROPTEST_CASES=n` runs longer.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use audience::{Audience, CustomerId, Engine, TagId};
use common::blocks::{Bits, LOW_END, TOP, UNIVERSE, check_audience, check_query, id_at, register_regions};
use common::{Rng, TestResult, config};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

// ------------------------------------------------------------------ id regions

/// Id ranges (inclusive) of the blocks the regions touch: parts of tags are drawn in these.
const SLOTS: [(u32, u32); 6] = [
    (0, 65_535),
    (65_536, 131_071),
    (131_072, 196_607),
    (196_608, LOW_END - 1),
    (TOP, 0xFFFE_FFFF),
    (0xFFFF_0000, u32::MAX),
];

/// Slots that are whole aligned 65,536-id blocks.
const FULL_SLOTS: [usize; 4] = [0, 1, 2, 5];

// ------------------------------------------------------------------ the model

/// Live customers and one bit vector per tag (`t0`, `t1`, ...); every tag is within `live`.
#[derive(Clone, Debug)]
struct Model {
    live: Bits,
    tags: Vec<Bits>,
}

/// A query's syntax tree over tags `t0..`.
#[derive(Clone, Debug)]
enum Expr {
    Tag(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    fn eval(&self, m: &Model) -> Bits {
        match self {
            Expr::Tag(t) => m.tags[*t].clone(),
            Expr::Not(x) => m.live.minus(&x.eval(m)),
            Expr::And(xs) => xs.iter().map(|x| x.eval(m)).reduce(|a, b| a.and(&b)).expect("operands"),
            Expr::Or(xs) => xs.iter().map(|x| x.eval(m)).reduce(|a, b| a.or(&b)).expect("operands"),
        }
    }

    fn leaves(&self) -> usize {
        match self {
            Expr::Tag(_) => 1,
            Expr::Not(x) => x.leaves(),
            Expr::And(xs) | Expr::Or(xs) => xs.iter().map(Expr::leaves).sum(),
        }
    }

    /// Query text; `lower` spells keywords in lower case (they are case-insensitive).
    fn text(&self, lower: bool) -> String {
        let kw = |k: &str| if lower { k.to_lowercase() } else { k.to_string() };
        let atom = |x: &Expr| match x {
            Expr::And(_) | Expr::Or(_) => format!("({})", x.text(lower)),
            _ => x.text(lower),
        };
        match self {
            Expr::Tag(t) => format!("t{t}"),
            Expr::Not(x) => format!("{} {}", kw("NOT"), atom(x)),
            Expr::And(xs) => xs.iter().map(atom).collect::<Vec<_>>().join(&format!(" {} ", kw("AND"))),
            Expr::Or(xs) => xs.iter().map(atom).collect::<Vec<_>>().join(&format!(" {} ", kw("OR"))),
        }
    }
}

// ------------------------------------------------------------------ randomness

/// An id in slot `slot`.
fn in_slot(rng: &mut Rng, slot: usize) -> u32 {
    let (lo, hi) = SLOTS[slot];
    lo + rng.below(u64::from(hi - lo) + 1) as u32
}

/// An id anywhere in the two regions.
fn any_id(rng: &mut Rng) -> u32 {
    id_at(rng.below(UNIVERSE as u64) as usize)
}

/// A query with exactly `n` tag operands over `tags` tags.
fn gen_expr(rng: &mut Rng, n: usize, tags: usize) -> Expr {
    let e = if n == 1 {
        Expr::Tag(rng.below(tags as u64) as usize)
    } else {
        let k = 2 + rng.below(n.min(4) as u64 - 1) as usize; // 2..=min(n, 4) children
        // A random composition of n into k positive parts.
        let mut sizes = vec![1; k];
        for _ in 0..n - k {
            sizes[rng.below(k as u64) as usize] += 1;
        }
        let kids = sizes.into_iter().map(|s| gen_expr(rng, s, tags)).collect();
        if rng.chance(2) { Expr::And(kids) } else { Expr::Or(kids) }
    };
    if rng.chance(4) { Expr::Not(Box::new(e)) } else { e }
}

// ------------------------------------------------------------------ tag shapes

/// One part of a tag's ids; a tag is the union of up to three parts.
#[derive(Clone, Debug)]
enum Part {
    /// Up to 400 random ids in one block: an array container.
    Sparse { slot: usize, count: u32, seed: u64 },
    /// 4,500..40,000 random ids in one block: a bitset container (where the block is big).
    Dense { slot: usize, count: u32, seed: u64 },
    /// A contiguous range inside a region, often across block boundaries: run containers.
    Range { top: bool, start: u32, len: u32 },
    /// One whole aligned 65,536-id block.
    Full { slot: usize },
    /// Runs of `run` ids every `run + gap` ids through a block: runs, bitsets or arrays.
    Stripes { slot: usize, run: u32, gap: u32 },
}

impl Part {
    /// The ids, unsorted and with duplicates (as a bulk load may get them).
    fn ids(&self) -> Vec<u32> {
        match *self {
            Part::Sparse { slot, count, seed } | Part::Dense { slot, count, seed } => {
                let mut rng = Rng::new(seed);
                (0..count).map(|_| in_slot(&mut rng, slot)).collect()
            }
            Part::Range { top, start, len } => {
                let (lo, size) = if top { (TOP, u32::MAX - TOP + 1) } else { (0, LOW_END) };
                let start = start % size;
                let len = 1 + len % (size - start);
                (0..len).map(|i| lo + start + i).collect()
            }
            Part::Full { slot } => {
                let (lo, hi) = SLOTS[FULL_SLOTS[slot % FULL_SLOTS.len()]];
                (lo..=hi).collect()
            }
            Part::Stripes { slot, run, gap } => {
                let (lo, hi) = SLOTS[slot];
                let mut out = Vec::new();
                let mut at = u64::from(lo) + u64::from(gap);
                while at <= u64::from(hi) {
                    let end = (at + u64::from(run) - 1).min(u64::from(hi));
                    out.extend((at..=end).map(|v| v as u32));
                    at = end + 1 + u64::from(gap);
                }
                out
            }
        }
    }
}

fn part() -> impl Strategy<Value = Part> {
    let slot = 0..SLOTS.len();
    prop_oneof![
        3 => (slot.clone(), 1u32..400, any::<u64>()).prop_map(|(slot, count, seed)| Part::Sparse { slot, count, seed }),
        3 => (slot.clone(), 4_500u32..40_000, any::<u64>()).prop_map(|(slot, count, seed)| Part::Dense { slot, count, seed }),
        3 => (any::<bool>(), any::<u32>(), 0u32..150_000).prop_map(|(top, start, len)| Part::Range { top, start, len }),
        2 => (0..FULL_SLOTS.len()).prop_map(|slot| Part::Full { slot }),
        2 => (slot, 1u32..400, 1u32..400).prop_map(|(slot, run, gap)| Part::Stripes { slot, run, gap }),
    ]
}

/// How a tag's ids reach the engine.
#[derive(Clone, Copy, Debug)]
enum Load {
    /// In the one `tag_id_pairs` call shared by every tag loaded this way.
    Bulk,
    /// Two `tag_id_pairs` calls (the second merges into an existing bitmap).
    BulkTwice,
    /// `tag` one id at a time (small tags; larger ones load as `Mixed`).
    OneByOne,
    /// `tag_id_pairs` for all but the last 1,500 ids, then `tag` one at a time.
    Mixed,
}

#[derive(Clone, Debug)]
struct TagSpec {
    parts: Vec<Part>,
    load: Load,
}

fn tag_spec() -> impl Strategy<Value = TagSpec> {
    let load = prop_oneof![Just(Load::Bulk), Just(Load::BulkTwice), Just(Load::OneByOne), Just(Load::Mixed)];
    // One tag in eight is empty (no parts).
    (prop_oneof![1 => Just(0usize), 7 => 1usize..=3], proptest::collection::vec(part(), 3), load).prop_map(
        |(n, mut parts, load)| {
            parts.truncate(n);
            TagSpec { parts, load }
        },
    )
}

#[derive(Clone, Debug)]
struct Case {
    tags: Vec<TagSpec>,
    optimize: bool,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (proptest::collection::vec(tag_spec(), 4..=6), any::<bool>(), any::<u64>())
        .prop_map(|(tags, optimize, seed)| Case { tags, optimize, seed })
}

// ------------------------------------------------------------------ checks

/// Queries run, and how many of them per block, over the whole property test.
static QUERIES: AtomicUsize = AtomicUsize::new(0);
static PER_BLOCK: AtomicUsize = AtomicUsize::new(0);

/// One round of queries: every tag alone, everyone, fixed 3-operand shapes and random ones.
fn check_round(e: &Engine, m: &Model, rng: &mut Rng) -> TestResult {
    let live = m.live.len();
    check_audience(&e.customers(), &m.live.ids(), "customers()")?;
    for (t, bits) in m.tags.iter().enumerate() {
        // One operand: the tag's own bitmap (run containers after a bulk load or optimize).
        let text = format!("t{t}");
        check_query(e, &text, bits, live)?;
        prop_assert_eq!(e.tag_count(&text).unwrap(), bits.len(), "tag_count {}", text);
    }
    // A pure OR of three distinct tags always runs per block (no AND confines it).
    let or3 = Expr::Or(vec![Expr::Tag(0), Expr::Tag(1), Expr::Tag(2)]);
    prop_assert!(check_query(e, &or3.text(false), &or3.eval(m), live)?, "{} is not per block", or3.text(false));
    let not_or3 = Expr::Not(Box::new(or3));
    prop_assert!(check_query(e, &not_or3.text(false), &not_or3.eval(m), live)?, "NOT of a 3-way OR is not per block");
    // The same tag twice: a symmetric difference and a contradiction.
    let xor = Expr::Or(vec![
        Expr::And(vec![Expr::Tag(0), Expr::Not(Box::new(Expr::Tag(1)))]),
        Expr::And(vec![Expr::Tag(1), Expr::Not(Box::new(Expr::Tag(0)))]),
    ]);
    check_query(e, &xor.text(false), &xor.eval(m), live)?;
    let none = Expr::And(vec![Expr::Tag(0), Expr::Tag(1), Expr::Not(Box::new(Expr::Tag(0)))]);
    check_query(e, &none.text(false), &none.eval(m), live)?;
    prop_assert_eq!(none.eval(m).len(), 0);

    for _ in 0..10 {
        let n = 3 + rng.below(5) as usize; // 3..=7 operands
        let q = gen_expr(rng, n, m.tags.len());
        debug_assert_eq!(q.leaves(), n);
        let text = q.text(rng.chance(5));
        let per_block = check_query(e, &text, &q.eval(m), live)?;
        QUERIES.fetch_add(1, Ordering::Relaxed);
        if per_block {
            PER_BLOCK.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// An audience of `len` consecutive ids from a random position in one region.
fn id_range(rng: &mut Rng, max_len: u64) -> Vec<u32> {
    let start = rng.below(UNIVERSE as u64) as usize;
    let region_end = if start < LOW_END as usize { LOW_END as usize } else { UNIVERSE };
    let len = (1 + rng.below(max_len) as usize).min(region_end - start);
    (start..start + len).map(id_at).collect()
}

/// Random mutations, applied to the engine and the model alike.
fn mutate(e: &mut Engine, m: &mut Model, rng: &mut Rng, tag_ids: &[TagId]) -> TestResult {
    for _ in 0..1 + rng.below(40) {
        let t = rng.below(m.tags.len() as u64) as usize;
        let name = format!("t{t}");
        match rng.below(20) {
            // untag one id (often one the tag has, so runs and bitsets lose members)
            0..=6 => {
                let id = if rng.chance(2) {
                    let ids = m.tags[t].ids();
                    if ids.is_empty() { any_id(rng) } else { ids[rng.below(ids.len() as u64) as usize] }
                } else {
                    any_id(rng)
                };
                let r = e.untag(CustomerId(id), &name);
                if m.live.contains(id) {
                    prop_assert_eq!(r.ok(), Some(m.tags[t].remove(id)), "untag {} {}", id, name);
                } else {
                    prop_assert!(r.is_err(), "untag of removed customer {} succeeded", id);
                }
            }
            // tag one id
            7..=10 => {
                let id = any_id(rng);
                let r = e.tag(CustomerId(id), &name);
                if m.live.contains(id) {
                    prop_assert_eq!(r.ok(), Some(m.tags[t].insert(id)), "tag {} {}", id, name);
                } else {
                    prop_assert!(r.is_err(), "tag of removed customer {} succeeded", id);
                }
            }
            // remove a customer
            11..=13 => {
                let id = any_id(rng);
                let r = e.remove_customer(CustomerId(id));
                if m.live.remove(id) {
                    prop_assert!(r.is_ok(), "remove_customer {}: {:?}", id, r);
                    m.tags.iter_mut().for_each(|b| {
                        b.remove(id);
                    });
                } else {
                    prop_assert!(r.is_err(), "second removal of {} succeeded", id);
                }
            }
            // untag a range of ids at once (holes in runs and bitsets)
            14 | 15 => {
                let ids = id_range(rng, 6_000);
                let want = ids.iter().filter(|&&id| m.tags[t].remove(id)).count() as u64;
                let audience: Audience = ids.iter().map(|&id| CustomerId(id)).collect();
                prop_assert_eq!(e.untag_all(&audience, &name).unwrap(), want, "untag_all {}", name);
            }
            // tag a range of ids at once (removed customers are skipped)
            16 => {
                let ids = id_range(rng, 6_000);
                let audience: Audience = ids.iter().map(|&id| CustomerId(id)).collect();
                let want = ids.iter().filter(|&&id| m.live.contains(id) && m.tags[t].insert(id)).count() as u64;
                prop_assert_eq!(e.tag_all(&audience, &name).unwrap(), want, "tag_all {}", name);
            }
            // remove a range of customers
            17 => {
                let ids = id_range(rng, 300);
                let want = ids.iter().filter(|&&id| m.live.remove(id)).count() as u64;
                for b in &mut m.tags {
                    ids.iter().for_each(|&id| {
                        b.remove(id);
                    });
                }
                let audience: Audience = ids.iter().map(|&id| CustomerId(id)).collect();
                prop_assert_eq!(e.remove_customers(&audience).unwrap(), want, "remove_customers");
            }
            // register an id again (a removed one comes back live, without tags)
            18 => {
                let id = any_id(rng);
                prop_assert_eq!(e.customer_id(id).unwrap(), CustomerId(id));
                m.live.insert(id);
            }
            // a bulk load onto existing bitmaps
            _ => {
                let ids = id_range(rng, 2_000);
                let pairs: Vec<(CustomerId, TagId)> =
                    ids.iter().filter(|&&id| m.live.contains(id)).map(|&id| (CustomerId(id), tag_ids[t])).collect();
                let want = pairs.iter().filter(|(c, _)| m.tags[t].insert(c.0)).count() as u64;
                prop_assert_eq!(e.tag_id_pairs(pairs).unwrap(), want, "tag_id_pairs onto {}", name);
            }
        }
    }
    if rng.chance(3) {
        e.optimize();
    }
    Ok(())
}

/// Builds the engine and the model for a case.
fn build(case: &Case) -> Result<(Engine, Model, Vec<TagId>), TestCaseError> {
    let mut e = Engine::new();
    register_regions(&mut e);
    let mut m = Model { live: Bits::full(), tags: Vec::new() };
    let tag_ids: Vec<TagId> = (0..case.tags.len()).map(|t| e.ensure_tag(&format!("t{t}")).unwrap()).collect();
    let mut shared: Vec<(CustomerId, TagId)> = Vec::new();
    let mut shared_new = 0u64;
    for (t, spec) in case.tags.iter().enumerate() {
        let ids: Vec<u32> = spec.parts.iter().flat_map(Part::ids).collect();
        let mut bits = Bits::empty();
        let distinct = ids.iter().filter(|&&id| bits.insert(id)).count() as u64;
        let pairs = |ids: &[u32]| ids.iter().map(|&id| (CustomerId(id), tag_ids[t])).collect::<Vec<_>>();
        let name = format!("t{t}");
        let one_by_one = |e: &mut Engine, ids: &[u32]| -> u64 {
            ids.iter().filter(|&&id| e.tag(CustomerId(id), &name).unwrap()).count() as u64
        };
        let added = match spec.load {
            Load::Bulk => {
                shared.extend(pairs(&ids));
                shared_new += distinct;
                distinct
            }
            Load::BulkTwice => {
                let half = ids.len() / 2;
                e.tag_id_pairs(pairs(&ids[..half])).unwrap() + e.tag_id_pairs(pairs(&ids[half..])).unwrap()
            }
            Load::OneByOne if ids.len() <= 8_000 => one_by_one(&mut e, &ids),
            Load::OneByOne | Load::Mixed => {
                let split = ids.len().saturating_sub(1_500);
                e.tag_id_pairs(pairs(&ids[..split])).unwrap() + one_by_one(&mut e, &ids[split..])
            }
        };
        prop_assert_eq!(added, distinct, "assignments added for t{} ({:?})", t, spec.load);
        m.tags.push(bits);
    }
    prop_assert_eq!(e.tag_id_pairs(shared).unwrap(), shared_new, "the shared bulk load");
    if case.optimize {
        e.optimize();
    }
    Ok((e, m, tag_ids))
}

#[test]
fn per_block_queries_match_the_model() {
    let mut runner = TestRunner::new(config(48));
    runner
        .run(&case(), |case| {
            let (mut e, mut m, tag_ids) = build(&case)?;
            let mut rng = Rng::new(case.seed);
            for round in 0..3 {
                check_round(&e, &m, &mut rng)?;
                if round < 2 {
                    mutate(&mut e, &mut m, &mut rng, &tag_ids)?;
                }
            }
            Ok(())
        })
        .unwrap();
    let (queries, per_block) = (QUERIES.load(Ordering::Relaxed), PER_BLOCK.load(Ordering::Relaxed));
    eprintln!("{per_block} of {queries} random queries ran per block");
    assert!(per_block * 4 >= queries, "only {per_block} of {queries} random queries ran per block");
}
