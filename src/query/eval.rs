//! Query evaluation: [`Query`] -> plan -> bitmap, and [`Explain`].
//!
//! Planning resolves names (a tag with descendants becomes the union of its subtree),
//! flattens `AND`/`OR`, and pushes every `NOT` to the top or into a difference, so a
//! complement is built at most once, at the very end, against the live set:
//!
//! | query shape            | plan                              |
//! |------------------------|-----------------------------------|
//! | `a AND NOT b`          | `a ANDNOT b`                      |
//! | `NOT a AND NOT b`      | complement of `a OR b`            |
//! | `a OR NOT b`           | complement of `b ANDNOT a`        |
//! | `NOT a OR NOT b`       | complement of `a AND b`           |
//!
//! The complement's count is `live - |x|` (every tag bitmap is a subset of the live set).

mod explain;

use std::borrow::Cow;

use roaring::{MultiOps, RoaringBitmap};

use super::ast::{Comparison, Expr, Query, TagRef};
use super::{MAX_QUERY_DEPTH, MAX_QUERY_TERMS};
use crate::attrs::CmpOp;
use crate::attrs::{Attribute, Attrs, normalize_attr};
use crate::blocks::eval::{Op, Program, and_len};
use crate::error::{Error, Result};
use crate::id::TagId;
use crate::tags::{Pool, Store, normalize_tag};

pub use explain::{Explain, ExplainNode};

/// A planned query node, borrowing the bitmaps it reads.
#[derive(Debug)]
enum Node<'a> {
    Leaf {
        tag: TagId,
        name: &'a str,
        bits: &'a RoaringBitmap,
    },
    /// An attribute predicate, evaluated on its bit-sliced index (within the running result
    /// when it is an operand of an `AND`, so it comes last there).
    Range {
        name: &'a str,
        attr: &'a Attribute,
        op: CmpOp,
        value: i64,
    },
    All,
    Empty,
    /// At least two operands.
    And(Vec<Node<'a>>),
    /// At least two operands.
    Or(Vec<Node<'a>>),
    /// The base minus every negative operand (at least one).
    AndNot(Box<Node<'a>>, Vec<Node<'a>>),
}

/// Evaluates queries against one engine's tag pool, bitmaps and live set.
pub(crate) struct Planner<'a> {
    pub(crate) pool: &'a Pool,
    pub(crate) store: &'a Store,
    pub(crate) live: &'a RoaringBitmap,
    pub(crate) attrs: &'a Attrs,
}

impl<'a> Planner<'a> {
    /// Plans `q`: the node and whether the result is its complement within the live set.
    fn plan(&self, q: &Query) -> Result<(Node<'a>, bool)> {
        if q.depth() > MAX_QUERY_DEPTH {
            return Err(Error::QueryTooLarge { what: "nesting depth", found: q.depth(), limit: MAX_QUERY_DEPTH });
        }
        let mut terms = 0;
        self.plan_expr(q.expr(), q, &mut terms)
    }

    fn plan_expr(&self, e: &Expr, q: &Query, terms: &mut usize) -> Result<(Node<'a>, bool)> {
        Ok(match e {
            Expr::Tag(_) | Expr::Compare(_) | Expr::Everyone => {
                *terms += 1;
                if *terms > MAX_QUERY_TERMS {
                    return Err(Error::QueryTooLarge {
                        what: "number of terms",
                        found: *terms,
                        limit: MAX_QUERY_TERMS,
                    });
                }
                match e {
                    Expr::Tag(t) => (self.resolve(t, q)?, false),
                    Expr::Compare(c) => (self.resolve_attr(c, q)?, false),
                    _ => (Node::All, false),
                }
            }
            Expr::Not(x) => {
                let (n, c) = self.plan_expr(x, q, terms)?;
                (n, !c)
            }
            Expr::And(xs) | Expr::Or(xs) => {
                let (mut pos, mut neg) = (Vec::new(), Vec::new());
                for x in xs {
                    let (n, c) = self.plan_expr(x, q, terms)?;
                    if c { neg.push(n) } else { pos.push(n) }
                }
                if matches!(e, Expr::And(_)) {
                    // pos AND NOT n1 AND NOT n2 = pos ANDNOT (n1, n2)
                    match (pos.is_empty(), neg.is_empty()) {
                        (_, true) => (and(pos), false),
                        (true, false) => (or(neg), true),
                        (false, false) => and_not(and(pos), neg),
                    }
                } else {
                    // p OR NOT n = NOT (n ANDNOT p)
                    match (pos.is_empty(), neg.is_empty()) {
                        (_, true) => (or(pos), false),
                        (true, false) => (and(neg), true),
                        (false, false) => {
                            let (n, c) = and_not(and(neg), pos);
                            (n, !c)
                        }
                    }
                }
            }
        })
    }

    /// A tag term: its bitmap, or for a tag with children the (cached) union of its subtree.
    fn resolve(&self, t: &TagRef, q: &Query) -> Result<Node<'a>> {
        let name = normalize_tag(t.name())?;
        let Some(id) = self.pool.lookup(&name) else {
            return Err(Error::UnknownTag {
                suggestions: self.pool.suggestions(&name),
                name: name.into_owned(),
                span: t.span(),
                query: q.source().map(str::to_owned),
            });
        };
        Ok(Node::Leaf { tag: id, name: self.pool.name(id), bits: self.store.members(self.pool, id) })
    }

    /// An attribute predicate: its attribute's index.
    fn resolve_attr(&self, c: &Comparison, q: &Query) -> Result<Node<'a>> {
        let name = normalize_attr(c.name())?;
        match self.attrs.get_full(&name) {
            Some((name, attr)) => Ok(Node::Range { name, attr, op: c.op(), value: c.value() }),
            None => Err(match self.attrs.unknown(&name) {
                Error::UnknownAttribute { name, suggestions, .. } => {
                    Error::UnknownAttribute { name, span: c.span(), query: q.source().map(str::to_owned), suggestions }
                }
                e => e,
            }),
        }
    }

    /// Upper bound of a node's cardinality, for ordering intersections.
    fn estimate(&self, n: &Node<'_>) -> u64 {
        match n {
            Node::Leaf { bits, .. } => bits.len(),
            Node::Range { attr, .. } => attr.len(),
            Node::All => self.live.len(),
            Node::Empty => 0,
            Node::And(xs) => xs.iter().map(|x| self.estimate(x)).min().unwrap_or(0),
            Node::Or(xs) => xs.iter().map(|x| self.estimate(x)).sum::<u64>().min(self.live.len()),
            Node::AndNot(base, _) => self.estimate(base),
        }
    }

    fn sorted<'n>(&self, xs: &'n [Node<'a>]) -> Vec<&'n Node<'a>> {
        let mut v: Vec<&Node<'a>> = xs.iter().collect();
        // Attribute predicates last: they are evaluated within the result so far.
        v.sort_by_cached_key(|x| (matches!(x, Node::Range { .. }), self.estimate(x)));
        v
    }

    fn eval(&self, n: &Node<'a>) -> Cow<'a, RoaringBitmap> {
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
        if let Some(c) = dense_pair_count(n) {
            return c;
        }
        match n {
            Node::Leaf { bits, .. } => bits.len(),
            Node::Range { .. } => self.eval(n).len(),
            Node::All => self.live.len(),
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
        let (n, complemented) = self.plan(q)?;
        let r = match self.block_plan(&n) {
            Some((leaves, op)) => Cow::Owned(Program::new(&leaves, op).select()),
            None => self.eval(&n),
        };
        Ok(if complemented { self.live - &*r } else { r.into_owned() })
    }

    /// How many customers match `q`, without materializing the result where the plan allows.
    pub(crate) fn count(&self, q: &Query) -> Result<u64> {
        let (n, complemented) = self.plan(q)?;
        let c = match self.block_plan(&n) {
            Some((leaves, op)) => Program::new(&leaves, op).count(),
            None => self.count_node(&n),
        };
        Ok(if complemented { self.live.len().saturating_sub(c) } else { c })
    }

    /// `n` as a per-block program's operands and expression ([`crate::blocks::eval`]), when
    /// it is a tag expression that pays for the copy of its operands: see [`worth_blocks`].
    fn block_plan(&self, n: &Node<'a>) -> Option<(Vec<&'a RoaringBitmap>, Op)> {
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
        worth_blocks(&op, &leaves.bits).then_some((leaves.bits, op))
    }

    fn block_op(&self, n: &Node<'a>, leaves: &mut Leaves<'a>) -> Option<Op> {
        Some(match n {
            Node::Leaf { bits, .. } => {
                // One operand per distinct bitmap (`a AND NOT b OR b AND NOT a` reads two).
                let next = leaves.bits.len();
                let i = *leaves.index.entry(std::ptr::from_ref(*bits) as usize).or_insert(next);
                if i == next {
                    leaves.bits.push(bits);
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
}

/// `|n|` when `n` is `a AND b`, `a OR b` or `a AND NOT b` of two dense tags: one dispatched
/// `AND` + `POPCNT` pass over their bitsets (`blocks::eval::and_len`) instead of `roaring`'s
/// portable popcount. `None` for any other node.
fn dense_pair_count<'a>(n: &Node<'a>) -> Option<u64> {
    let two = |x: &Node<'a>, y: &Node<'a>| -> Option<(&'a RoaringBitmap, &'a RoaringBitmap)> {
        match (x, y) {
            (Node::Leaf { bits: a, .. }, Node::Leaf { bits: b, .. }) if dense(a) && dense(b) => Some((*a, *b)),
            _ => None,
        }
    };
    match n {
        Node::And(xs) => match xs.as_slice() {
            [x, y] => two(x, y).map(|(a, b)| and_len(a, b)),
            _ => None,
        },
        Node::Or(xs) => match xs.as_slice() {
            [x, y] => two(x, y).map(|(a, b)| a.len() + b.len() - and_len(a, b)),
            _ => None,
        },
        Node::AndNot(base, negs) => match negs.as_slice() {
            [y] => two(base, y).map(|(a, b)| a.len() - and_len(a, b)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `roaring`'s own bitset counts were compiled without a `POPCNT` instruction: an
/// x86 target without the feature (the default `x86-64` target). Builds with
/// `-C target-cpu=x86-64-v2` or above, and other architectures, count with the CPU's
/// instruction inside `roaring`, and two-tag counts stay there.
const ROARING_WITHOUT_POPCNT: bool =
    cfg!(all(any(target_arch = "x86", target_arch = "x86_64"), not(target_feature = "popcnt")));

/// Whether `b` has, on average, more than 4,096 ids per 2^16-id block it spans (so mostly
/// bitset containers, where a dispatched `POPCNT` pays for copying the operand) and
/// `roaring` would count it without `POPCNT`.
fn dense(b: &RoaringBitmap) -> bool {
    if !ROARING_WITHOUT_POPCNT {
        return false;
    }
    match (b.min(), b.max()) {
        (Some(lo), Some(hi)) => b.len() > 4096 * (u64::from(hi >> 16) - u64::from(lo >> 16) + 1),
        _ => false,
    }
}

/// The distinct bitmaps of a block program, indexed by address.
#[derive(Default)]
struct Leaves<'a> {
    bits: Vec<&'a RoaringBitmap>,
    index: std::collections::HashMap<usize, usize>,
}

/// Whether a tag expression is evaluated per block ([`crate::blocks::eval`]) rather than one
/// bitmap operation at a time. Block evaluation never materializes an intermediate, so it
/// pays from three operands on, except for a flat `AND` (or `AND NOT`) of tags with a sparse
/// operand among the ones the result must belong to: one with fewer than 4,096 ids per
/// 2^16-id block it spans, an array container in `roaring`. The operator route intersects
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
    let sparse = |b: &RoaringBitmap| match (b.min(), b.max()) {
        (Some(lo), Some(hi)) => b.len() < 4096 * (u64::from(hi >> 16) - u64::from(lo >> 16) + 1),
        _ => true,
    };
    if occurrences(op) < 3 {
        return false;
    }
    let mut conf = Vec::new();
    if flat_and(op, &mut conf).is_none() {
        return true;
    }
    !conf.iter().any(|&i| sparse(leaves[i]))
}

/// `AND` of planned nodes, simplified: an empty operand empties it, `All` operands vanish,
/// nested `AND`s are spliced.
fn and(xs: Vec<Node<'_>>) -> Node<'_> {
    let mut flat = Vec::with_capacity(xs.len());
    for x in xs {
        match x {
            Node::Empty => return Node::Empty,
            Node::All => {}
            Node::And(inner) => flat.extend(inner),
            x => flat.push(x),
        }
    }
    match flat.len() {
        0 => Node::All,
        1 => flat.pop().expect("one operand"),
        _ => Node::And(flat),
    }
}

/// `OR` of planned nodes, simplified: `All` fills it, empty operands vanish, nested `OR`s are
/// spliced.
fn or(xs: Vec<Node<'_>>) -> Node<'_> {
    let mut flat = Vec::with_capacity(xs.len());
    for x in xs {
        match x {
            Node::All => return Node::All,
            Node::Empty => {}
            Node::Or(inner) => flat.extend(inner),
            x => flat.push(x),
        }
    }
    match flat.len() {
        0 => Node::Empty,
        1 => flat.pop().expect("one operand"),
        _ => Node::Or(flat),
    }
}

/// `base ANDNOT (negs...)`, with its complement flag: `All ANDNOT n` is the complement of `n`.
fn and_not<'a>(base: Node<'a>, negs: Vec<Node<'a>>) -> (Node<'a>, bool) {
    let negs = match or(negs) {
        Node::Empty => return (base, false),
        Node::All => return (Node::Empty, false),
        Node::Or(xs) => xs,
        one => vec![one],
    };
    match base {
        Node::Empty => (Node::Empty, false),
        Node::All => (or(negs), true),
        Node::AndNot(inner, mut more) => {
            more.extend(negs);
            (Node::AndNot(inner, more), false)
        }
        base => (Node::AndNot(Box::new(base), negs), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CustomerId, Engine};

    /// Customers 0..10; `a` = 0..6, `b` = 4..8, `c` = {9}, `empty` has none, `p/x` = {1}.
    fn engine() -> Engine {
        let mut e = Engine::new();
        for i in 0..10u32 {
            e.customer_id(i).unwrap();
        }
        let tag = |e: &mut Engine, name: &str, ids: std::ops::Range<u32>| {
            for i in ids {
                e.tag(CustomerId(i), name).unwrap();
            }
        };
        tag(&mut e, "a", 0..6);
        tag(&mut e, "b", 4..8);
        tag(&mut e, "c", 9..10);
        tag(&mut e, "p/x", 1..2);
        e.ensure_tag("empty").unwrap();
        e
    }

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

    /// The plan's shape as text, and whether it is complemented.
    fn shape(e: &Engine, text: &str) -> (String, bool) {
        fn show(n: &Node<'_>) -> String {
            let list = |xs: &[Node<'_>]| xs.iter().map(show).collect::<Vec<_>>().join(" ");
            match n {
                Node::Leaf { name, .. } => name.to_string(),
                Node::Range { name, op, value, .. } => format!("{name}{op}{value}"),
                Node::All => "ALL".into(),
                Node::Empty => "EMPTY".into(),
                Node::And(xs) => format!("and({})", list(xs)),
                Node::Or(xs) => format!("or({})", list(xs)),
                Node::AndNot(b, negs) => format!("andnot({} - {})", show(b), list(negs)),
            }
        }
        let (n, c) = e.planner().plan(&Query::parse(text).unwrap()).unwrap();
        (show(&n), c)
    }

    #[test]
    fn not_is_pushed_into_differences_and_one_final_complement() {
        let e = engine();
        assert_eq!(shape(&e, "a AND NOT b"), ("andnot(a - b)".into(), false));
        assert_eq!(shape(&e, "NOT a AND NOT b"), ("or(a b)".into(), true));
        assert_eq!(shape(&e, "a OR NOT b"), ("andnot(b - a)".into(), true));
        assert_eq!(shape(&e, "NOT a OR NOT b"), ("and(a b)".into(), true));
        assert_eq!(shape(&e, "NOT NOT a"), ("a".into(), false));
        assert_eq!(shape(&e, "a AND NOT b AND NOT c"), ("andnot(a - b c)".into(), false));
        assert_eq!(shape(&e, "(a AND NOT b) AND NOT c"), ("andnot(a - b c)".into(), false));
    }

    #[test]
    fn attribute_predicates_come_last_in_an_and_and_are_evaluated_within_it() {
        let mut e = engine();
        for c in 0..10u32 {
            let id = CustomerId(c);
            e.set_attr(id, "age", i64::from(c) * 10).unwrap();
        }
        assert_eq!(shape(&e, "age >= 30 AND c"), ("and(age>=30 c)".into(), false));
        assert_eq!(shape(&e, "a AND NOT age < 20"), ("andnot(a - age<20)".into(), false));
        assert_eq!(e.count("age >= 30 AND a").unwrap(), 3); // a: 0..6 -> ages 30, 40, 50
        assert_eq!(e.count("a AND NOT age < 20").unwrap(), 4);
        assert_eq!(e.count("age >= 30 AND age < 60").unwrap(), 3);
        assert_eq!(e.count("NOT age >= 30").unwrap(), 3);
        let plan = e.explain("age >= 30 AND c").unwrap();
        assert_eq!(plan.count(), 1);
        assert!(plan.to_string().contains("attribute age >= 30 (bit-sliced index)"), "{plan}");
        assert_eq!(plan.root.children[0].label, "tag c", "evaluated first: {plan}");
    }

    #[test]
    fn everyone_and_nobody_simplify() {
        let e = engine();
        assert_eq!(shape(&e, "* AND a"), ("a".into(), false));
        assert_eq!(shape(&e, "a OR *"), ("ALL".into(), false));
        assert_eq!(shape(&e, "a AND NOT *"), ("EMPTY".into(), false));
        assert_eq!(shape(&e, "* AND NOT a"), ("a".into(), true));
    }

    #[test]
    fn a_parent_is_one_operand_its_subtree_union() {
        let e = engine();
        assert_eq!(shape(&e, "p"), ("p".into(), false), "one leaf, not the OR of the subtree");
        assert_eq!(e.count("p").unwrap(), 1);
        assert_eq!(e.count("p AND a").unwrap(), 1);
        assert_eq!(e.query("p").unwrap().iter().collect::<Vec<_>>(), [CustomerId(1)]);
    }

    #[test]
    fn counts_match_materialized_results() {
        let e = engine();
        for text in [
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
        ] {
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
    fn and_evaluates_smallest_first() {
        let e = engine();
        let plan = e.explain("a AND b AND c").unwrap();
        let order: Vec<u64> = plan.root.children.iter().map(|c| c.cardinality).collect();
        assert_eq!(order, [1, 4, 6]);
        assert_eq!(plan.count(), 0);
    }
}
