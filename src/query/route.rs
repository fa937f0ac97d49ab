//! Route choice: whether a plan is evaluated one bitmap operation at a time (`eval.rs`) or
//! block by block ([`crate::blocks::eval`]), and the two-tag counts that go to a dispatched
//! kernel instead of `roaring`. Operands of the block routes are read in place: through the
//! views the tag store keeps for wide tags (512 ids or more per block), or streamed as
//! `roaring` writes them; only what is left is copied.

use std::sync::Arc;

use roaring::RoaringBitmap;

use super::plan::{Node, Planner};
use crate::blocks::{
    self,
    eval::{Op, Operand, Program, and_len, largest_unviewed},
    view::View,
};
use crate::id::TagId;

/// A plan the per-block route evaluates: its distinct leaves (each with the tag it reads)
/// and its expression over them.
pub(super) struct BlockPlan<'a> {
    pub(super) leaves: Vec<(TagId, &'a RoaringBitmap)>,
    pub(super) op: Op,
}

impl<'a> Planner<'a> {
    /// `n` as a per-block program's operands and expression ([`crate::blocks::eval`]), when
    /// it is a tag expression where that route pays: see [`worth_blocks`].
    pub(super) fn block_plan(&self, n: &Node<'a>) -> Option<BlockPlan<'a>> {
        // Most queries have one or two operands: decide that before building anything.
        fn operands(n: &Node<'_>) -> usize {
            match n {
                Node::Leaf { .. } | Node::Range { .. } | Node::All | Node::Empty => 1,
                Node::And(xs) | Node::Or(xs) => xs.iter().map(operands).sum(),
                Node::AndNot(b, xs) => operands(b) + xs.iter().map(operands).sum::<usize>(),
            }
        }
        if operands(n) < 3 {
            return None;
        }
        let mut leaves = Leaves::default();
        let op = self.block_op(n, &mut leaves)?;
        let bits: Vec<&RoaringBitmap> = leaves.tags.iter().map(|&(_, b)| b).collect();
        worth_blocks(&op, &bits).then_some(BlockPlan { leaves: leaves.tags, op })
    }

    fn block_op(&self, n: &Node<'a>, leaves: &mut Leaves<'a>) -> Option<Op> {
        Some(match n {
            Node::Leaf { tag, bits, .. } => {
                // One operand per distinct bitmap (`a AND NOT b OR b AND NOT a` reads two).
                let next = leaves.tags.len();
                let i = *leaves.index.entry(std::ptr::from_ref(*bits) as usize).or_insert(next);
                if i == next {
                    leaves.tags.push((*tag, bits));
                }
                Op::Leaf(i)
            }
            Node::And(xs) => {
                Op::And(self.sorted(xs).into_iter().map(|x| self.block_op(x, leaves)).collect::<Option<_>>()?)
            }
            Node::Or(xs) => Op::Or(xs.iter().map(|x| self.block_op(x, leaves)).collect::<Option<_>>()?),
            Node::AndNot(base, negs) => Op::AndNot(
                Box::new(self.block_op(base, leaves)?),
                negs.iter().map(|x| self.block_op(x, leaves)).collect::<Option<_>>()?,
            ),
            Node::Range { .. } | Node::All | Node::Empty => return None,
        })
    }

    /// `|n|` when `n` is `a AND b`, `a OR b` or `a AND NOT b` of two dense tags and this
    /// build counts them faster than `roaring` ([`blocks::counts_faster_here`]): one
    /// dispatched `AND` + `POPCNT` pass over their bitsets ([`and_len`]), the tags read in
    /// place (`Planner::views`). `None` for any other node.
    pub(super) fn dense_pair_count(&self, n: &Node<'a>) -> Option<u64> {
        let two = |x: &Node<'a>, y: &Node<'a>| match (x, y) {
            (Node::Leaf { tag: ta, bits: a, .. }, Node::Leaf { tag: tb, bits: b, .. })
                if blocks::counts_faster_here(a) && blocks::counts_faster_here(b) =>
            {
                Some([(*ta, *a), (*tb, *b)])
            }
            _ => None,
        };
        let pair = match n {
            Node::And(xs) | Node::Or(xs) => match xs.as_slice() {
                [x, y] => two(x, y)?,
                _ => return None,
            },
            Node::AndNot(base, negs) => match negs.as_slice() {
                [y] => two(base, y)?,
                _ => return None,
            },
            _ => return None,
        };
        let (views, _) = self.views(&pair);
        let [a, b] = operands(&pair, &views)[..] else { unreachable!("two operands") };
        let both = and_len(a, b);
        Some(match n {
            Node::And(_) => both,
            Node::Or(_) => a.bits.len() + b.bits.len() - both,
            _ => a.bits.len() - both,
        })
    }

    /// Runs `f` on the program of `plan`, its operands read in place where they can be.
    pub(super) fn run_blocks<R>(&self, plan: BlockPlan<'a>, f: impl FnOnce(&Program<'_>) -> R) -> R {
        let (views, streamed) = self.views(&plan.leaves);
        f(&Program::new(&operands(&plan.leaves, &views), plan.op, streamed))
    }

    /// The views to read `leaves` through: each one's kept view, made now where the tag
    /// store keeps one for it ([`crate::blocks::cache`]: a tag of 512 ids a block or more,
    /// its arrays widened into bitsets, within the budget); of the leaves left without one,
    /// the largest is streamed in place (its index is the second value), the others copied.
    fn views(&self, leaves: &[(TagId, &'a RoaringBitmap)]) -> (Vec<Option<Arc<View>>>, Option<usize>) {
        let views: Vec<Option<Arc<View>>> = leaves.iter().map(|&(tag, _)| self.store.view(self.pool, tag)).collect();
        let streamed = largest_unviewed(&operands(leaves, &views));
        (views, streamed)
    }
}

/// `leaves` as operands, with their `views`.
pub(super) fn operands<'v>(leaves: &[(TagId, &'v RoaringBitmap)], views: &'v [Option<Arc<View>>]) -> Vec<Operand<'v>> {
    leaves.iter().zip(views).map(|(&(_, bits), v)| Operand { bits, view: v.as_deref() }).collect()
}

/// The distinct bitmaps of a block program (with the tag each is the members of), indexed
/// by address.
#[derive(Default)]
struct Leaves<'a> {
    tags: Vec<(TagId, &'a RoaringBitmap)>,
    index: std::collections::HashMap<usize, usize>,
}

/// Whether a tag expression is evaluated per block ([`crate::blocks::eval`]) rather than one
/// bitmap operation at a time. Block evaluation never materializes an intermediate, so it
/// pays from three operands on, except for a flat `AND` (or `AND NOT`) of tags with a sparse
/// operand among the ones the result must belong to ([`blocks::is_sparse`]: mostly array
/// containers). The operator route intersects
/// that operand first and touches little else, while the block route still works through
/// every block of every operand (measured at 10M customers: `t40 AND t0 AND t1` 0.10 ms
/// against 0.16 ms per block, `r AND t0 AND t1` with a 200-id `r` 3 µs against 108 µs). An
/// `AND` with an `OR` inside goes per block even then: the operator route would build the
/// whole union first (`q24`, `t0 AND (10 rare tags OR'ed)`: 0.13 ms against 1.0 ms).
///
/// With two operands the operator route is as fast or faster (measured on the harness's 25
/// shapes, `README.md`), except for counts of two dense tags (see `count_node`).
fn worth_blocks(op: &Op, leaves: &[&RoaringBitmap]) -> bool {
    fn occurrences(op: &Op) -> usize {
        match op {
            Op::Leaf(_) => 1,
            Op::And(xs) | Op::Or(xs) => xs.iter().map(occurrences).sum(),
            Op::AndNot(b, xs) => occurrences(b) + xs.iter().map(occurrences).sum::<usize>(),
        }
    }
    /// The leaves every result id must belong to, when `op` is a flat `AND` / `AND NOT` of
    /// leaves (else `None`).
    fn flat_and(op: &Op, out: &mut Vec<usize>) -> Option<()> {
        let leaf = |x: &Op| if let Op::Leaf(i) = x { Some(*i) } else { None };
        match op {
            Op::And(xs) => {
                for x in xs {
                    out.push(leaf(x)?);
                }
            }
            Op::AndNot(b, negs) => {
                match &**b {
                    Op::And(_) => flat_and(b, out)?,
                    b => out.push(leaf(b)?),
                }
                for x in negs {
                    leaf(x)?;
                }
            }
            Op::Leaf(_) | Op::Or(_) => return None,
        }
        Some(())
    }
    if occurrences(op) < 3 {
        return false;
    }
    let mut conf = Vec::new();
    if flat_and(op, &mut conf).is_none() {
        return true;
    }
    !conf.iter().any(|&i| blocks::is_sparse(leaves[i]))
}

#[cfg(test)]
mod tests {
    use roaring::RoaringBitmap;

    use crate::query::plan::tests::engine;
    use crate::{CustomerId, Engine};

    #[test]
    fn a_small_operand_confining_an_and_keeps_the_operator_route() {
        let mut e = Engine::new();
        e.customer_id_range(0..200_000).unwrap();
        let (big, r1, r2) = (e.ensure_tag("big").unwrap(), e.ensure_tag("r1").unwrap(), e.ensure_tag("r2").unwrap());
        let mut pairs: Vec<(CustomerId, _)> = (0..200_000).step_by(2).map(|c| (CustomerId(c), big)).collect();
        pairs.extend([10, 5_000, 150_000].map(|c| (CustomerId(c), r1)));
        pairs.extend([10, 7_000, 150_000].map(|c| (CustomerId(c), r2)));
        e.tag_id_pairs(pairs).unwrap();
        for (text, per_block, count) in [
            ("r1 AND r2 AND big", false, 2),
            ("r1 AND NOT r2 AND big", false, 1),
            ("big OR r1 OR r2", true, 100_000),
            ("big AND (r1 OR r2)", true, 4),
        ] {
            let plan = e.explain(text).unwrap();
            assert_eq!((plan.per_block, plan.count(), e.count(text).unwrap()), (per_block, count, count), "{text}");
        }
    }

    #[test]
    fn dense_pairs_count_like_roaring() {
        let mut e = Engine::new();
        e.customer_id_range(0..300_000).unwrap();
        let (a, b) = (e.ensure_tag("a").unwrap(), e.ensure_tag("b").unwrap());
        let even: RoaringBitmap = (0..300_000).step_by(2).collect();
        let mut third: RoaringBitmap = (0..300_000).step_by(3).collect();
        third.insert_range(100_000..170_000); // a run and a full block among the bitsets
        let pairs = even.iter().map(|c| (CustomerId(c), a)).chain(third.iter().map(|c| (CustomerId(c), b)));
        e.tag_id_pairs(pairs.collect::<Vec<_>>()).unwrap();
        let live = 300_000u64;
        for (text, want) in [
            ("a AND b", even.intersection_len(&third)),
            ("a AND NOT b", even.difference_len(&third)),
            ("b AND NOT a", third.difference_len(&even)),
            ("a OR b", even.union_len(&third)),
            ("NOT a OR b", live - even.difference_len(&third)),
            ("NOT (a AND b)", live - even.intersection_len(&third)),
        ] {
            assert_eq!(e.count(text).unwrap(), want, "{text}");
            assert_eq!(e.query(text).unwrap().len(), want, "{text}");
        }
    }

    #[test]
    fn explain_says_which_queries_run_per_block() {
        let e = engine();
        for (text, per_block) in [
            ("a", false),
            ("a AND b", false),
            ("a AND b AND NOT c", false),
            ("(a OR c) AND b AND NOT c", true),
            ("a OR b OR c", true),
            ("NOT (a OR b OR c)", true),
        ] {
            let plan = e.explain(text).unwrap();
            assert_eq!(plan.per_block, per_block, "{text}");
            assert_eq!(plan.count(), e.count(text).unwrap(), "{text}");
        }
    }
}
