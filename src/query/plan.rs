//! Planning: [`Query`] -> [`Node`], the tree the evaluation routes read.
//!
//! Planning resolves names (a tag with descendants becomes one operand, the cached union of
//! its subtree), flattens `AND`/`OR`, and pushes every `NOT` to the top or into a
//! difference, so a complement is built at most once, at the very end, against the live set:
//!
//! | query shape            | plan                              |
//! |------------------------|-----------------------------------|
//! | `a AND NOT b`          | `a ANDNOT b`                      |
//! | `NOT a AND NOT b`      | complement of `a OR b`            |
//! | `a OR NOT b`           | complement of `b ANDNOT a`        |
//! | `NOT a OR NOT b`       | complement of `a AND b`           |
//!
//! The complement's count is `live - |x|` (every tag bitmap is a subset of the live set).
//! Evaluation is in `eval.rs` (operator at a time), `route.rs` (which route a plan takes)
//! and `explain.rs`.

use roaring::RoaringBitmap;

use super::ast::{Comparison, Expr, Query, TagRef};
use super::{MAX_QUERY_DEPTH, MAX_QUERY_TERMS};
use crate::attrs::{Attribute, Attrs, CmpOp, normalize_attr};
use crate::error::{Error, Result};
use crate::id::TagId;
use crate::tags::{Pool, Store, normalize_tag};

/// A planned query node, borrowing the bitmaps it reads.
#[derive(Debug)]
pub(super) enum Node<'a> {
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
    /// `live.len()`, counted once (the directory keeps it).
    pub(crate) live_len: u64,
    pub(crate) attrs: &'a Attrs,
}

impl<'a> Planner<'a> {
    /// Plans `q`: the node and whether the result is its complement within the live set.
    /// Whether `q` resolves here (every name known, within the limits), without evaluating
    /// it: the error it would give, if any.
    pub(crate) fn resolves(&self, q: &Query) -> Result<()> {
        self.plan(q).map(|_| ())
    }

    pub(super) fn plan(&self, q: &Query) -> Result<(Node<'a>, bool)> {
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
    /// The name is a tag's or an alias's (which reads as the tag it points at, descendants
    /// included).
    fn resolve(&self, t: &TagRef, q: &Query) -> Result<Node<'a>> {
        let name = normalize_tag(t.name())?;
        let Some(id) = self.pool.resolve(&name) else {
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
    pub(super) fn estimate(&self, n: &Node<'_>) -> u64 {
        match n {
            Node::Leaf { bits, .. } => bits.len(),
            Node::Range { attr, .. } => attr.len(),
            Node::All => self.live_len,
            Node::Empty => 0,
            Node::And(xs) => xs.iter().map(|x| self.estimate(x)).min().unwrap_or(0),
            Node::Or(xs) => xs.iter().map(|x| self.estimate(x)).sum::<u64>().min(self.live_len),
            Node::AndNot(base, _) => self.estimate(base),
        }
    }

    /// `xs` in evaluation order: smallest estimate first, attribute predicates last.
    pub(super) fn sorted<'n>(&self, xs: &'n [Node<'a>]) -> Vec<&'n Node<'a>> {
        let mut v: Vec<&Node<'a>> = xs.iter().collect();
        // Attribute predicates last: they are evaluated within the result so far.
        v.sort_by_cached_key(|x| (matches!(x, Node::Range { .. }), self.estimate(x)));
        v
    }
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
pub(super) mod tests {
    use super::*;
    use crate::{CustomerId, Engine};

    /// Customers 0..10; `a` = 0..6, `b` = 4..8, `c` = {9}, `empty` has none, `p/x` = {1}.
    pub(in crate::query) fn engine() -> Engine {
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
}
