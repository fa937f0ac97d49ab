//! Many queries at once: [`Planner::count_many`] and [`Planner::select_many`], behind
//! `Engine::count_many` and `Engine::select_many`.
//!
//! The queries that take the per-block route on their own (`route.rs`: three or more
//! operands, and not a flat `AND` with a sparse operand) run together in one
//! [`Batch`]: one table of distinct operands (a tag named by ten of the queries is one
//! operand, read through its kept view or copied once), and every query evaluated at each
//! block while that block's containers are in cache. The others (a tag, two tags, attribute
//! ranges, an `AND` led by a sparse tag) run one by one, as `count` and `select` run them.
//!
//! Both kinds are spread over the engine's threads ([`Threads`]): each thread takes a
//! contiguous range of the batch's blocks and every n-th of the other queries. Results are
//! joined in order, so they are the same at any thread count, and the same as each query's
//! `count` or `select`.

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::ast::Query;
use super::plan::{Node, Planner};
use super::prepared::Prepared;
use super::route::operands;
use crate::blocks::batch::{self, Batch};
use crate::blocks::eval::Op;
use crate::blocks::view::View;
use crate::error::Result;
use crate::id::TagId;
use crate::par::{self, Threads};

/// A query of a batch, planned against the engine: its plan, and whether the result is the
/// complement of the plan's.
pub(crate) struct Planned<'a>(Node<'a>, bool);

/// One block of one query in the units [`Threads::for_work`] counts (20-200 ns each): it
/// reads and combines a few containers of at most 8 KiB, 1-2 µs.
const UNITS_PER_BLOCK: u64 = 32;

/// The queries of a batch by route: those evaluated together block by block, and the rest.
struct Split<'a> {
    /// The distinct operands of the batched queries.
    leaves: Vec<(TagId, &'a RoaringBitmap)>,
    /// The batched queries' expressions over `leaves`.
    roots: Vec<Op>,
    /// Per batched query, its index among all queries.
    batched: Vec<usize>,
    /// The other queries, with their indexes.
    alone: Vec<(usize, Planned<'a>)>,
}

impl<'a> Planner<'a> {
    /// `q` planned for [`Planner::count_many`] or [`Planner::select_many`].
    pub(crate) fn planned(&self, q: &Query) -> Result<Planned<'a>> {
        let (n, complemented) = self.plan(q)?;
        Ok(Planned(n, complemented))
    }

    /// A prepared query planned for [`Planner::count_many`] or [`Planner::select_many`]
    /// (its names resolved already while the pool is unchanged).
    pub(crate) fn planned_prepared(&self, p: &Prepared) -> Result<Planned<'a>> {
        let (n, complemented) = self.plan_prepared(p)?;
        Ok(Planned(n, complemented))
    }

    /// Sorts `plans` by route; the complement flags, by query, are returned apart.
    fn split(&self, plans: Vec<Planned<'a>>) -> (Split<'a>, Vec<bool>) {
        let complemented = plans.iter().map(|p| p.1).collect();
        let mut split = Split { leaves: Vec::new(), roots: Vec::new(), batched: Vec::new(), alone: Vec::new() };
        let mut index: HashMap<usize, usize> = HashMap::new();
        let mut programs = Vec::new();
        for (i, p) in plans.into_iter().enumerate() {
            match self.block_plan(&p.0) {
                Some(plan) => programs.push((i, p, plan)),
                None => split.alone.push((i, p)),
            }
        }
        if programs.len() < 2 {
            // One program alone streams its largest operand instead of copying it.
            split.alone.extend(programs.into_iter().map(|(i, p, _)| (i, p)));
            split.alone.sort_unstable_by_key(|&(i, _)| i);
            return (split, complemented);
        }
        for (i, _, plan) in programs {
            // One operand per distinct bitmap across the whole batch.
            let map: Vec<usize> = plan
                .leaves
                .iter()
                .map(|&(tag, bits)| {
                    let next = split.leaves.len();
                    let at = *index.entry(std::ptr::from_ref(bits) as usize).or_insert(next);
                    if at == next {
                        split.leaves.push((tag, bits));
                    }
                    at
                })
                .collect();
            split.roots.push(remap(plan.op, &map));
            split.batched.push(i);
        }
        (split, complemented)
    }

    /// The views the batch reads its operands through: each one's kept view, made now where
    /// the tag store keeps one (a wide tag, within the budget); `None` for the operands the
    /// batch copies.
    fn batch_views(&self, leaves: &[(TagId, &'a RoaringBitmap)]) -> Vec<Option<Arc<View>>> {
        leaves.iter().map(|&(tag, _)| self.store.view(self.pool, tag)).collect()
    }

    /// The threads for a batch and `alone` other queries.
    fn batch_threads(&self, batch: &Batch<'_>, alone: usize, threads: Threads) -> usize {
        // A query on its own reads at most every block of the live set.
        let blocks = self.live.max().map_or(0, |m| u64::from(m >> 16) + 1);
        let work = (batch.blocks() as u64 * batch.queries() as u64 + alone as u64 * blocks) * UNITS_PER_BLOCK;
        threads.for_work(work).min((batch.blocks() + alone).max(1))
    }

    /// How many live customers each of `plans` matches, in order: each as
    /// [`Planner::count`] gives it.
    pub(crate) fn count_many(&self, plans: Vec<Planned<'a>>, threads: Threads) -> Result<Vec<u64>> {
        self.run_many(
            plans,
            threads,
            |batch, range| batch.count_range(range),
            batch::join_counts,
            |plan| self.count_planned(plan),
            |c| self.live_len.saturating_sub(c),
        )
    }

    /// The live customers each of `plans` matches, in order: each as [`Planner::select`]
    /// gives it.
    pub(crate) fn select_many(&self, plans: Vec<Planned<'a>>, threads: Threads) -> Result<Vec<RoaringBitmap>> {
        self.run_many(
            plans,
            threads,
            |batch, range| batch.select_range(range),
            batch::join_selects,
            |plan| self.select_planned(plan),
            |r| self.live - r,
        )
    }

    /// Each of `plans`' answer, in order: the batched ones by `part` on each thread's range
    /// of blocks, joined by `join` (and `complement`ed where the plan says), the others by
    /// `alone` (which complements them itself).
    fn run_many<T: Default + Send, P: Send>(
        &self,
        plans: Vec<Planned<'a>>,
        threads: Threads,
        part: impl Fn(&Batch<'_>, std::ops::Range<usize>) -> P + Sync,
        join: impl FnOnce(Vec<P>) -> Vec<T>,
        alone: impl Fn((Node<'a>, bool)) -> Result<T> + Sync,
        complement: impl Fn(T) -> T,
    ) -> Result<Vec<T>> {
        let (split, complemented) = self.split(plans);
        let views = self.batch_views(&split.leaves);
        let batch = Batch::new(&operands(&split.leaves, &views), split.roots);
        let n = self.batch_threads(&batch, split.alone.len(), threads);
        let parts = par::map(shares(&batch, split.alone, n), |_, (range, mine)| {
            let alone: Vec<(usize, Result<T>)> =
                mine.into_iter().map(|(i, Planned(n, c))| (i, alone((n, c)))).collect();
            (part(&batch, range), alone)
        });
        let mut out: Vec<T> = (0..complemented.len()).map(|_| T::default()).collect();
        let mut batched = Vec::with_capacity(parts.len());
        for (part, alone) in parts {
            batched.push(part);
            for (i, r) in alone {
                out[i] = r?; // complemented already
            }
        }
        for (&i, r) in split.batched.iter().zip(join(batched)) {
            out[i] = if complemented[i] { complement(r) } else { r };
        }
        Ok(out)
    }
}

/// One thread's share of a batch: a range of the batch's blocks, and other queries (with
/// their indexes).
type Share<'a> = (std::ops::Range<usize>, Vec<(usize, Planned<'a>)>);

/// Each thread's share: a range of the batch's blocks and every `n`-th other query.
fn shares<'a>(batch: &Batch<'_>, alone: Vec<(usize, Planned<'a>)>, n: usize) -> Vec<Share<'a>> {
    let mut parts: Vec<Share<'a>> = batch.parts(n).into_iter().map(|r| (r, Vec::new())).collect();
    for (k, q) in alone.into_iter().enumerate() {
        parts[k % n].1.push(q);
    }
    parts
}

/// `op` with each leaf `i` renamed `map[i]`.
fn remap(op: Op, map: &[usize]) -> Op {
    let all = |xs: Vec<Op>| xs.into_iter().map(|x| remap(x, map)).collect();
    match op {
        Op::Leaf(i) => Op::Leaf(map[i]),
        Op::And(xs) => Op::And(all(xs)),
        Op::Or(xs) => Op::Or(all(xs)),
        Op::AndNot(base, negs) => Op::AndNot(Box::new(remap(*base, map)), all(negs)),
    }
}
