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
//! The plain `#[test]`s at the end cover the edge cases by hand: empty operands, the same tag
//! used twice in one query, `NOT` of a 3-way `OR`, a full block, ids at `u32::MAX`, and
//! `write_ids` of a result that is exactly one full block.
//!
//! Failure persistence is off so a failing run writes no files. `PROPTEST_CASES=n` runs longer.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use audience::{Audience, CustomerId, Engine, Query, TagId};
use common::{Rng, TestResult, config};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

// ------------------------------------------------------------------ id regions

/// Region A: `0..LOW_END` (blocks 0..=2 full, block 3 partial).
const LOW_END: u32 = 200_000;
/// Region B: `TOP..=u32::MAX` (block 65,534 partial, block 65,535 full).
const TOP: u32 = u32::MAX - 70_000;
/// Size of the compact universe (both regions end to end).
const UNIVERSE: usize = LOW_END as usize + (u32::MAX - TOP) as usize + 1;

/// The model's index of a customer id.
fn index(id: u32) -> usize {
    if id < LOW_END {
        id as usize
    } else {
        assert!(id >= TOP, "id {id} outside the regions");
        LOW_END as usize + (id - TOP) as usize
    }
}

/// The customer id at a model index.
fn id_at(i: usize) -> u32 {
    if i < LOW_END as usize { i as u32 } else { TOP + (i - LOW_END as usize) as u32 }
}

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

/// Registers both regions as live customers.
fn register_regions(e: &mut Engine) {
    assert_eq!(e.customer_id_range(0..LOW_END).unwrap(), u64::from(LOW_END));
    assert_eq!(e.customer_id_range(TOP..u32::MAX).unwrap(), u64::from(u32::MAX - TOP));
    e.customer_id(u32::MAX).unwrap();
    assert_eq!(e.customer_count(), UNIVERSE as u64);
}

// ------------------------------------------------------------------ the model

/// A plain bit vector over the compact universe.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn empty() -> Bits {
        Bits(vec![0; UNIVERSE.div_ceil(64)])
    }

    fn full() -> Bits {
        let mut b = Bits::empty();
        for i in 0..UNIVERSE {
            b.0[i / 64] |= 1 << (i % 64);
        }
        b
    }

    fn contains(&self, id: u32) -> bool {
        let i = index(id);
        self.0[i / 64] >> (i % 64) & 1 == 1
    }

    /// Inserts; whether it was absent.
    fn insert(&mut self, id: u32) -> bool {
        let was = self.contains(id);
        let i = index(id);
        self.0[i / 64] |= 1 << (i % 64);
        !was
    }

    /// Removes; whether it was present.
    fn remove(&mut self, id: u32) -> bool {
        let was = self.contains(id);
        let i = index(id);
        self.0[i / 64] &= !(1 << (i % 64));
        was
    }

    fn zip(&self, other: &Bits, f: impl Fn(u64, u64) -> u64) -> Bits {
        Bits(self.0.iter().zip(&other.0).map(|(&a, &b)| f(a, b)).collect())
    }

    fn and(&self, o: &Bits) -> Bits {
        self.zip(o, |a, b| a & b)
    }

    fn or(&self, o: &Bits) -> Bits {
        self.zip(o, |a, b| a | b)
    }

    fn minus(&self, o: &Bits) -> Bits {
        self.zip(o, |a, b| a & !b)
    }

    fn len(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The customer ids, ascending (the index order is the id order).
    fn ids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for (w, &x) in self.0.iter().enumerate() {
            let mut x = x;
            while x != 0 {
                out.push(id_at(w * 64 + x.trailing_zeros() as usize));
                x &= x - 1;
            }
        }
        out
    }
}

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

/// Equal id lists, reported by the first difference rather than by printing 200,000 ids.
fn same_ids(got: &[u32], want: &[u32], what: &str) -> TestResult {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let show = |v: &[u32]| format!("{:?}", &v[at.saturating_sub(2)..(at + 3).min(v.len())]);
    Err(TestCaseError::fail(format!(
        "{what}: {} ids, want {}; first difference at #{at}: got {} want {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )))
}

/// Every way of reading a result agrees with `want`.
fn check_audience(a: &Audience, want: &[u32], what: &str) -> TestResult {
    prop_assert_eq!(a.len(), want.len() as u64, "len of {}", what);
    same_ids(&a.to_ids(), want, &format!("to_ids of {what}"))?;
    let mut out = vec![7, u32::MAX, 0];
    a.write_ids(&mut out);
    prop_assert_eq!(&out[..3], &[7, u32::MAX, 0][..], "write_ids of {} overwrote the prefix", what);
    same_ids(&out[3..], want, &format!("write_ids of {what}"))?;
    let iterated: Vec<u32> = a.iter().map(u32::from).collect();
    same_ids(&iterated, want, &format!("iter of {what}"))?;
    prop_assert_eq!(a.first().map(u32::from), want.first().copied(), "first of {}", what);
    prop_assert_eq!(a.last().map(u32::from), want.last().copied(), "last of {}", what);
    Ok(())
}

/// Checks one query text against `want`; returns whether it ran per block.
fn check_query(e: &Engine, text: &str, want: &Bits, live: u64) -> Result<bool, TestCaseError> {
    let err = |x: audience::Error| TestCaseError::fail(format!("{text}: {x}"));
    let want_ids = want.ids();
    let n = want_ids.len() as u64;
    prop_assert_eq!(e.count(text).map_err(err)?, n, "count of {}", text);
    check_audience(&e.query(text).map_err(err)?, &want_ids, text)?;
    let parsed = Query::parse(text).map_err(err)?;
    prop_assert_eq!(e.count(&parsed).map_err(err)?, n, "count of parsed {}", text);
    prop_assert_eq!(e.select(&parsed).map_err(err)?.len(), n, "select of parsed {}", text);
    let plan = e.explain(text).map_err(err)?;
    prop_assert_eq!(plan.count(), n, "explain of {}:\n{}", text, plan);
    prop_assert_eq!(plan.live, live, "explain's live count, {}", text);
    Ok(plan.per_block)
}

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

// ------------------------------------------------------------------ edge cases by hand

/// `check_query` for plain tests.
fn expect(e: &Engine, text: &str, want: &[u32]) -> bool {
    let mut b = Bits::empty();
    want.iter().for_each(|&id| {
        b.insert(id);
    });
    assert_eq!(b.ids(), want, "the expectation of {text} must be sorted and distinct");
    check_query(e, text, &b, e.customer_count()).unwrap_or_else(|err| panic!("{err}"))
}

/// An engine with both regions live and the given tags (bulk loaded, in this order).
fn engine_with(tags: &[(&str, Vec<u32>)]) -> Engine {
    let mut e = Engine::new();
    register_regions(&mut e);
    for (name, ids) in tags {
        let t = e.ensure_tag(name).unwrap();
        e.tag_id_pairs(ids.iter().map(|&id| (CustomerId(id), t))).unwrap();
    }
    e
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Every third id of a block: a bitset container.
fn dense(block: u32) -> Vec<u32> {
    (block << 16..=(block << 16 | 0xFFFF)).step_by(3).collect()
}

#[test]
fn or_of_empty_tags_is_empty() {
    let e = engine_with(&[("e0", vec![]), ("e1", vec![]), ("e2", vec![]), ("x", dense(1))]);
    assert!(expect(&e, "e0 OR e1 OR e2", &[]), "a 3-way OR runs per block");
    expect(&e, "(e0 OR e1) OR (e2 OR e0)", &[]);
    expect(&e, "e0 OR e1 OR e2 OR x", &dense(1));
    let everyone: Vec<u32> = e.customers().to_ids();
    assert_eq!(everyone.len(), UNIVERSE);
    expect(&e, "NOT (e0 OR e1 OR e2)", &everyone);
    let mut out = vec![1, 2, 3];
    e.query("e0 OR e1 OR e2").unwrap().write_ids(&mut out);
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn and_with_an_empty_operand_is_empty() {
    let full: Vec<u32> = (65_536..131_072).collect();
    let big: Vec<u32> = (0..LOW_END).collect();
    let e = engine_with(&[("full", full), ("big", big), ("d", dense(1)), ("empty", vec![])]);
    for text in [
        "full AND big AND empty",
        "empty AND full AND big",
        "full AND empty AND d",
        "(full OR d) AND big AND empty",
        "full AND d AND big AND NOT big",
        "full AND d AND NOT empty AND empty",
    ] {
        expect(&e, text, &[]);
    }
    expect(&e, "full AND big AND d", &dense(1));
    expect(&e, "full AND big AND d AND NOT empty", &dense(1));
}

#[test]
fn not_of_a_three_way_or_is_the_complement_within_live_customers() {
    let a: Vec<u32> = (1_000..70_000).collect(); // runs across a block boundary
    let b = dense(2);
    let c: Vec<u32> = vec![5, 65_535, TOP, TOP + 1, u32::MAX - 1, u32::MAX];
    let mut e = engine_with(&[("a", a.clone()), ("b", b.clone()), ("c", c.clone())]);
    // Removed customers match no NOT: one tagged, one untagged, one in the top block.
    for gone in [1_500, 150_001, u32::MAX - 2] {
        e.remove_customer(CustomerId(gone)).unwrap();
    }
    let live: Vec<u32> = e.customers().to_ids();
    assert_eq!(live.len(), UNIVERSE - 3);
    let or = sorted([a, b, c].concat().into_iter().filter(|id| ![1_500, 150_001, u32::MAX - 2].contains(id)).collect());
    assert!(expect(&e, "a OR b OR c", &or));
    let not: Vec<u32> = live.iter().copied().filter(|id| or.binary_search(id).is_err()).collect();
    assert!(expect(&e, "NOT (a OR b OR c)", &not), "NOT of a 3-way OR runs per block");
    expect(&e, "NOT a AND NOT b AND NOT c", &not);
    expect(&e, "NOT (a OR b OR c) OR NOT (c OR b OR a)", &not);
    assert_eq!(e.count("NOT (a OR b OR c)").unwrap() + e.count("a OR b OR c").unwrap(), e.customer_count());
}

#[test]
fn the_same_tag_twice_in_one_query() {
    // t0: a run across blocks 0-1, a bitset in block 2, a few ids at the top;
    // t1: a bitset in block 1, a run in block 2, an array at the top.
    let t0 = sorted([(60_000..70_000).collect::<Vec<u32>>(), dense(2), vec![TOP, u32::MAX]].concat());
    let t1 = sorted([dense(1), (140_000..150_000).collect(), vec![TOP + 7, u32::MAX]].concat());
    let e = engine_with(&[("t0", t0.clone()), ("t1", t1.clone())]);
    expect(&e, "t0 AND t1 AND NOT t0", &[]);
    expect(&e, "t0 AND NOT t0 AND t1", &[]);
    expect(&e, "t0 AND t0 AND t0", &t0);
    expect(&e, "t0 OR t0 OR t0", &t0);
    let xor: Vec<u32> = sorted(
        t0.iter()
            .filter(|x| t1.binary_search(x).is_err())
            .chain(t1.iter().filter(|x| t0.binary_search(x).is_err()))
            .copied()
            .collect(),
    );
    assert!(expect(&e, "(t0 AND NOT t1) OR (t1 AND NOT t0)", &xor), "the symmetric difference runs per block");
    expect(&e, "(t0 OR t1) AND NOT (t0 AND t1)", &xor);
    let both: Vec<u32> = t0.iter().copied().filter(|x| t1.binary_search(x).is_ok()).collect();
    assert!(both.len() > 1_000, "the tags overlap");
    expect(&e, "(t0 OR t1) AND NOT ((t0 AND NOT t1) OR (t1 AND NOT t0))", &both);
}

#[test]
fn a_full_block_or_sparse_tags() {
    let full: Vec<u32> = (65_536..131_072).collect();
    let s1: Vec<u32> = vec![0, 3, 65_535, 131_072, 131_073, 199_999];
    let s2: Vec<u32> = vec![70_000, 196_608, TOP, u32::MAX];
    let e = engine_with(&[("full", full.clone()), ("s1", s1.clone()), ("s2", s2.clone())]);
    let want = sorted([full.clone(), s1, s2].concat());
    assert!(expect(&e, "full OR s1 OR s2", &want));
    expect(&e, "s2 OR full OR s1", &want);
    expect(&e, "full AND (s1 OR s2 OR full)", &full);
    expect(&e, "full AND NOT s1 AND NOT s2", &full.iter().copied().filter(|&x| x != 70_000).collect::<Vec<_>>());
    expect(&e, "(s1 OR s2) AND NOT full", &[0, 3, 65_535, 131_072, 131_073, 196_608, 199_999, TOP, u32::MAX]);
}

#[test]
fn ids_at_the_top_of_u32() {
    let top: Vec<u32> = vec![0, 65_535, TOP, 0xFFFF_0000, u32::MAX - 1, u32::MAX];
    let top_run: Vec<u32> = (u32::MAX - 40_000..=u32::MAX).collect();
    let top_dense = dense(0xFFFF);
    let e = engine_with(&[("a", top.clone()), ("b", top_run.clone()), ("c", top_dense.clone())]);
    expect(&e, "a", &top);
    expect(&e, "b", &top_run);
    assert!(expect(&e, "a OR b OR c", &sorted([top.clone(), top_run.clone(), top_dense.clone()].concat())));
    let abc: Vec<u32> = top
        .iter()
        .copied()
        .filter(|x| top_run.binary_search(x).is_ok() && top_dense.binary_search(x).is_ok())
        .collect();
    expect(&e, "a AND b AND c", &abc);
    expect(&e, "b AND c AND a", &abc);
    let b_only: Vec<u32> = top_run
        .iter()
        .copied()
        .filter(|x| top.binary_search(x).is_err() && top_dense.binary_search(x).is_err())
        .collect();
    expect(&e, "b AND NOT a AND NOT c", &b_only);
    assert_eq!(*e.query("a OR b OR c").unwrap().to_ids().last().unwrap(), u32::MAX);
    // The whole top block: full, and the last result id is u32::MAX.
    let full_top: Vec<u32> = (0xFFFF_0000..=u32::MAX).collect();
    let mut e = e;
    let f = e.ensure_tag("f").unwrap();
    e.tag_id_pairs(full_top.iter().map(|&id| (CustomerId(id), f))).unwrap();
    expect(&e, "f OR a OR c", &sorted([full_top.clone(), top.clone()].concat()));
    expect(
        &e,
        "f AND NOT (a OR b)",
        &full_top.iter().copied().filter(|x| *x < u32::MAX - 40_000 && !top.contains(x)).collect::<Vec<_>>(),
    );
}

#[test]
fn write_ids_of_one_full_block_lists_all_65536_ids() {
    let full: Vec<u32> = (65_536..131_072).collect();
    let halves = [(65_536..98_304).collect::<Vec<u32>>(), (98_304..131_072).collect()];
    let e = engine_with(&[
        ("full", full.clone()),
        ("lo", halves[0].clone()),
        ("hi", halves[1].clone()),
        ("odd", (65_537..131_072).step_by(2).collect()),
        ("even", (65_536..131_072).step_by(2).collect()),
        ("d", dense(1)),
        ("first", vec![65_536]),
        ("last", vec![131_071]),
    ]);
    for text in [
        "full",
        "lo OR hi",
        "lo OR hi OR d",
        "odd OR even OR d",
        "full AND (lo OR hi) AND (odd OR even)",
        "full OR lo OR d",
    ] {
        expect(&e, text, &full);
        let a = e.query(text).unwrap();
        let mut out = vec![42];
        a.write_ids(&mut out);
        assert_eq!(out.len(), 1 + 65_536, "{text}");
        assert_eq!(out[0], 42);
        assert!(out[1..].iter().copied().eq(65_536..131_072), "{text}");
    }
    assert!(e.explain("odd OR even OR d").unwrap().per_block);
    // A full block minus its last id, and minus its first: nearly full bitsets.
    expect(&e, "(odd OR even OR d) AND NOT last", &(65_536..131_071).collect::<Vec<_>>());
    expect(&e, "(odd OR even OR d) AND NOT first", &(65_537..131_072).collect::<Vec<_>>());
    expect(&e, "(odd OR even OR d) AND NOT first AND NOT last OR first OR last", &full);
    let e2 = engine_with(&[("a", (65_536..131_071).collect()), ("b", vec![]), ("c", vec![65_540])]);
    expect(&e2, "a OR b OR c", &(65_536..131_071).collect::<Vec<_>>());
}

#[test]
fn block_results_at_the_array_bitset_boundary() {
    // Per-block results of 4,095 / 4,096 / 4,097 ids (array or bitset) and other sizes,
    // every other id of a block, split over three tags; at the bottom and at the top of u32.
    for base in [65_536u32, 0xFFFF_0000] {
        for n in [1u32, 3, 4, 5, 4_095, 4_096, 4_097, 32_767, 32_768] {
            let ids: Vec<u32> = (0..n).map(|i| base + 2 * i).collect();
            let part = |k: u32| ids.iter().copied().filter(|id| id / 2 % 3 == k).collect::<Vec<u32>>();
            let e = engine_with(&[("a", part(0)), ("b", part(1)), ("c", part(2)), ("all", ids.clone())]);
            assert!(expect(&e, "a OR b OR c", &ids), "{n} at {base}");
            expect(&e, "all AND (a OR b OR c) AND NOT (a AND b)", &ids);
        }
    }
}

/// Regression: decoding a bitset container of the top block (`0xFFFF_0000..`) whose last
/// 64-id word holds a count of ids that is not a multiple of four (here: none) computed
/// `0xFFFF_FFC0 + 64` for the word decoder's unconditional slack writes, a `u32` overflow:
/// a panic with overflow checks (debug builds), before 44be6c1.
#[test]
fn write_ids_of_a_bitset_in_the_top_block() {
    let mut e = Engine::new();
    e.customer_id_range(0xFFFF_0000..u32::MAX).unwrap();
    let t = e.ensure_tag("d").unwrap();
    // 5,000 ids (a bitset), none in the last word (ids u32::MAX - 63..=u32::MAX).
    let ids: Vec<u32> = (0..5_000).map(|i| 0xFFFF_0000 + 13 * i).collect();
    e.tag_id_pairs(ids.iter().map(|&id| (CustomerId(id), t))).unwrap();
    assert_eq!(e.query("d").unwrap().to_ids(), ids);
}
