//! Evaluation: a plan ([`Node`]) one bitmap operation at a time, its count with the last
//! step cardinality-only, and the two entry points ([`Planner::select`], [`Planner::count`])
//! that send a plan to this route or the per-block one (`route.rs` decides).
//!
//! `AND` intersects smallest first and stops at the first empty result, an `OR` of more than
//! two operands is one multi-way union, `AND NOT` subtracts; an attribute predicate in an
//! `AND` is evaluated within the result so far.

use std::borrow::Cow;

use roaring::{MultiOps, RoaringBitmap};

use super::ast::Query;
use super::plan::{Node, Planner};
use crate::error::Result;

impl<'a> Planner<'a> {
    /// `n`'s result, one bitmap operation at a time (a leaf is borrowed, not copied).
    pub(super) fn eval(&self, n: &Node<'a>) -> Cow<'a, RoaringBitmap> {
        match n {
            Node::Leaf { bits, .. } => Cow::Borrowed(*bits),
            Node::Range { attr, op, value, .. } => Cow::Owned(attr.compare(*op, *value, None)),
            Node::All => Cow::Borrowed(self.live),
            Node::Empty => Cow::Owned(RoaringBitmap::new()),
            Node::And(xs) => self.eval_and(&self.sorted(xs)),
            Node::Or(xs) => {
                let parts: Vec<Cow<'a, RoaringBitmap>> = xs.iter().map(|x| self.eval(x)).collect();
                match parts.as_slice() {
                    [a, b] => Cow::Owned(&**a | &**b),
                    _ => Cow::Owned(parts.iter().map(|p| &**p).union()),
                }
            }
            Node::AndNot(base, negs) => Cow::Owned(self.eval_and_not(base, negs)),
        }
    }

    /// Intersects `xs` (sorted smallest first), stopping at the first empty result.
    fn eval_and(&self, xs: &[&Node<'a>]) -> Cow<'a, RoaringBitmap> {
        let Some((first, rest)) = xs.split_first() else { return Cow::Borrowed(self.live) };
        let a = self.eval(first);
        let Some((second, rest)) = rest.split_first() else { return a };
        if a.is_empty() {
            return a;
        }
        let mut r = self.intersect(&a, second);
        for x in rest {
            if r.is_empty() {
                break;
            }
            r = self.intersect(&r, x);
        }
        Cow::Owned(r)
    }

    /// `r AND x`; an attribute predicate is evaluated within `r` only.
    fn intersect(&self, r: &RoaringBitmap, x: &Node<'a>) -> RoaringBitmap {
        match x {
            Node::Range { attr, op, value, .. } => attr.compare(*op, *value, Some(r)),
            _ => r & &*self.eval(x),
        }
    }

    /// `r AND NOT x`; an attribute predicate is evaluated within `r` only.
    fn subtract(&self, r: &RoaringBitmap, x: &Node<'a>) -> RoaringBitmap {
        match x {
            Node::Range { attr, op, value, .. } => r - &attr.compare(*op, *value, Some(r)),
            _ => r - &*self.eval(x),
        }
    }

    fn eval_and_not(&self, base: &Node<'a>, negs: &[Node<'a>]) -> RoaringBitmap {
        let b = self.eval(base);
        let Some((first, rest)) = negs.split_first() else { return b.into_owned() };
        let mut r = self.subtract(&b, first);
        for x in rest {
            if r.is_empty() {
                break;
            }
            r = self.subtract(&r, x);
        }
        r
    }

    /// `|n|`, with the last step cardinality-only.
    fn count_node(&self, n: &Node<'a>) -> u64 {
        if let Some(c) = self.dense_pair_count(n) {
            return c;
        }
        match n {
            Node::Leaf { bits, .. } => bits.len(),
            Node::Range { .. } => self.eval(n).len(),
            Node::All => self.live_len,
            Node::Empty => 0,
            Node::And(xs) => {
                let order = self.sorted(xs);
                let (last, init) = order.split_last().expect("AND has operands");
                let r = self.eval_and(init);
                match last {
                    _ if r.is_empty() => 0,
                    Node::Range { .. } => self.intersect(&r, last).len(),
                    _ => r.intersection_len(&self.eval(last)),
                }
            }
            Node::Or(xs) => match xs.as_slice() {
                [a, b] => self.eval(a).union_len(&self.eval(b)),
                _ => self.eval(n).len(),
            },
            Node::AndNot(base, negs) => {
                let (last, init) = negs.split_last().expect("ANDNOT has negatives");
                // With one negative the base is read in place (a leaf is not copied).
                let r = if init.is_empty() { self.eval(base) } else { Cow::Owned(self.eval_and_not(base, init)) };
                match last {
                    _ if r.is_empty() => 0,
                    Node::Range { attr, op, value, .. } => r.len() - attr.compare(*op, *value, Some(&r)).len(),
                    _ => r.difference_len(&self.eval(last)),
                }
            }
        }
    }

    /// The customers matching `q`.
    pub(crate) fn select(&self, q: &Query) -> Result<RoaringBitmap> {
        self.select_planned(self.plan(q)?)
    }

    /// The customers matching a plan (a node and whether the result is its complement).
    pub(super) fn select_planned(&self, (n, complemented): (Node<'a>, bool)) -> Result<RoaringBitmap> {
        let r = match self.block_plan(&n) {
            Some(plan) => Cow::Owned(self.run_blocks(plan, |p| p.select())),
            None => self.eval(&n),
        };
        Ok(if complemented { self.live - &*r } else { r.into_owned() })
    }

    /// The customers of `scope` (live customers: not checked) matching `q`: `select(q) AND
    /// scope`, at a cost that follows `scope`, not the operands. Every node is evaluated
    /// inside the customers still in play: a tag is intersected with them, an `AND` narrows
    /// them operand by operand, a `NOT` subtracts from them, an attribute predicate reads
    /// only them. With a few thousand customers in `scope`, each step is a few container
    /// intersections.
    pub(crate) fn select_among(&self, q: &Query, scope: &RoaringBitmap) -> Result<RoaringBitmap> {
        let (n, complemented) = self.plan(q)?;
        let r = self.eval_within(&n, scope);
        Ok(if complemented { scope - r } else { r })
    }

    /// `n`'s customers among `scope`.
    fn eval_within(&self, n: &Node<'a>, scope: &RoaringBitmap) -> RoaringBitmap {
        if scope.is_empty() {
            return RoaringBitmap::new();
        }
        match n {
            Node::Leaf { bits, .. } => scope & *bits,
            Node::Range { attr, op, value, .. } => attr.compare(*op, *value, Some(scope)),
            Node::All => scope.clone(),
            Node::Empty => RoaringBitmap::new(),
            Node::And(xs) => {
                let mut r = scope.clone();
                for x in self.sorted(xs) {
                    r = self.eval_within(x, &r);
                    if r.is_empty() {
                        break;
                    }
                }
                r
            }
            Node::Or(xs) => xs.iter().map(|x| self.eval_within(x, scope)).union(),
            Node::AndNot(base, negs) => {
                let mut r = self.eval_within(base, scope);
                for neg in negs {
                    if r.is_empty() {
                        break;
                    }
                    let hit = self.eval_within(neg, &r);
                    r -= hit;
                }
                r
            }
        }
    }

    /// How many customers match `q`, without materializing the result where the plan allows.
    pub(crate) fn count(&self, q: &Query) -> Result<u64> {
        self.count_planned(self.plan(q)?)
    }

    /// How many customers match a plan (a node and whether the result is its complement).
    pub(super) fn count_planned(&self, (n, complemented): (Node<'a>, bool)) -> Result<u64> {
        let c = match self.block_plan(&n) {
            Some(plan) => self.run_blocks(plan, |p| p.count()),
            None => self.count_node(&n),
        };
        Ok(if complemented { self.live_len.saturating_sub(c) } else { c })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::plan::tests::engine;

    /// Query shapes over the test engine's tags `a`, `b`, `c`, `empty` (every node kind).
    const SHAPES: [&str; 14] = [
        "a",
        "a AND b",
        "a AND b AND c",
        "a OR b OR c",
        "a AND NOT b",
        "NOT a",
        "NOT a AND NOT b",
        "a OR NOT b",
        "NOT a OR NOT b",
        "empty AND a",
        "empty OR c",
        "(a OR c) AND NOT (b AND NOT a)",
        "*",
        "NOT *",
    ];

    #[test]
    fn counts_match_materialized_results() {
        let e = engine();
        for text in SHAPES {
            let q = Query::parse(text).unwrap();
            let p = e.planner();
            let count = p.count(&q).unwrap();
            assert_eq!(count, p.select(&q).unwrap().len(), "{text}");
            assert_eq!(count, p.explain(&q).unwrap().count(), "{text}");
        }
        assert_eq!(e.count("a AND NOT b").unwrap(), 4);
        assert_eq!(e.count("a OR NOT b").unwrap(), 8);
        assert_eq!(e.count("NOT a AND NOT b").unwrap(), 2);
    }

    #[test]
    fn select_among_is_select_and_the_scope() {
        let mut e = engine();
        for i in 0..10u32 {
            e.set_attr(crate::CustomerId(i), "age", i64::from(i) * 10).unwrap();
        }
        e.remove_customer(crate::CustomerId(3)).unwrap();
        let scopes: [&[u32]; 5] = [&[], &[0], &[1, 3, 4, 9], &[0, 2, 5, 6, 7, 8], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 42]];
        for text in SHAPES.iter().copied().chain([
            "p",
            "age >= 40",
            "a AND age < 30",
            "NOT age > 50 OR c",
            "b AND NOT (age <= 50 AND a)",
        ]) {
            let q = Query::parse(text).unwrap();
            let p = e.planner();
            let all = p.select(&q).unwrap();
            for scope in scopes {
                let scope: RoaringBitmap = scope.iter().copied().collect();
                let scope = &scope & p.live;
                assert_eq!(p.select_among(&q, &scope).unwrap(), &all & &scope, "{text} within {scope:?}");
            }
        }
    }

    #[test]
    fn and_evaluates_smallest_first() {
        let e = engine();
        let plan = e.explain("a AND b AND c").unwrap();
        let order: Vec<u64> = plan.root.children.iter().map(|c| c.cardinality).collect();
        assert_eq!(order, [1, 4, 6]);
        assert_eq!(plan.count(), 0);
    }
}
