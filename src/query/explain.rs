//! [`Explain`]: a query's plan with every node's cardinality, from the planner's nodes.

use std::fmt;

use roaring::RoaringBitmap;

use super::plan::{Node, Planner};
use crate::error::Result;
use crate::id::TagId;
use crate::query::ast::Query;

impl<'a> Planner<'a> {
    /// The plan of `q` with every node's cardinality.
    pub(crate) fn explain(&self, q: &Query) -> Result<Explain> {
        let (n, complemented) = self.plan(q)?;
        let mut budget = EXPLAIN_VISITS;
        let mut root = self.explain_node(&n, &mut budget);
        if complemented {
            let count = self.live_len.saturating_sub(root.cardinality);
            root = ExplainNode {
                label: "NOT (complement within the live customers)".into(),
                cardinality: count,
                children: vec![root],
            };
        }
        let per_block = self.block_plan(&n).is_some();
        Ok(Explain { query: q.to_string(), live: self.live_len, root, per_block })
    }

    /// `n`'s explanation; `budget` is how many more subtree tags parents may look at.
    fn explain_node(&self, n: &Node<'a>, budget: &mut usize) -> ExplainNode {
        let (label, children): (String, Vec<ExplainNode>) = match n {
            Node::Leaf { tag, name, bits } => return self.explain_tag(*tag, name, bits, budget),
            Node::Range { name, op, value, .. } => {
                let mut s = String::from("attribute ");
                crate::query::fmt::write_name(&mut s, name).expect("writing to a String");
                (format!("{s} {op} {value} (bit-sliced index)"), Vec::new())
            }
            Node::All => ("everyone (the live customers)".into(), Vec::new()),
            Node::Empty => ("nobody".into(), Vec::new()),
            Node::And(xs) => (
                "AND (smallest first, stops when empty)".into(),
                self.sorted(xs).into_iter().map(|x| self.explain_node(x, budget)).collect(),
            ),
            Node::Or(xs) => {
                ("OR (one multi-way union)".into(), xs.iter().map(|x| self.explain_node(x, budget)).collect())
            }
            Node::AndNot(base, negs) => {
                let mut c = vec![self.explain_node(base, budget)];
                for x in negs {
                    let mut e = self.explain_node(x, budget);
                    e.label = format!("minus {}", e.label);
                    c.push(e);
                }
                ("AND NOT (difference)".into(), c)
            }
        };
        ExplainNode { label, cardinality: self.eval(n).len(), children }
    }
}

impl Planner<'_> {
    /// A tag term. A tag with descendants reads one bitmap, its subtree's cached union; the
    /// explanation lists the subtree's tags that have customers (at most
    /// [`EXPLAIN_SUBTREE`]) under an `OR`, or shows the one that has them.
    fn explain_tag(&self, id: TagId, name: &str, bits: &RoaringBitmap, budget: &mut usize) -> ExplainNode {
        let leaf = |name: &str, cardinality| {
            let mut label = String::from("tag ");
            crate::query::fmt::write_name(&mut label, name).expect("writing to a String");
            ExplainNode { label, cardinality, children: Vec::new() }
        };
        if self.pool.children(id).len() == 0 {
            return leaf(name, bits.len());
        }
        // The subtree's tags with customers, parents before children, one more than shown
        // at most, and at most EXPLAIN_VISITS tags looked at in the whole explanation: a
        // parent of a million children, or many parents, cost no more.
        let mut parts = Vec::new();
        if !self.store.get(id).is_empty() {
            parts.push(id);
        }
        let mut levels = std::collections::VecDeque::from([self.pool.children(id)]);
        let mut cut = false;
        'walk: while let Some(mut level) = levels.pop_front() {
            while level.len() > 0 {
                if parts.len() > EXPLAIN_SUBTREE || *budget == 0 {
                    cut = true;
                    break 'walk;
                }
                let t = level.next().expect("not empty");
                *budget -= 1;
                if !self.store.get(t).is_empty() {
                    parts.push(t);
                }
                let below = self.pool.children(t);
                if below.len() > 0 {
                    levels.push_back(below);
                }
            }
        }
        cut |= parts.len() > EXPLAIN_SUBTREE;
        match parts.as_slice() {
            [one] if !cut => leaf(self.pool.name(*one), bits.len()),
            [] | [_] => leaf(name, bits.len()),
            many => {
                let mut label = String::from("OR (tag ");
                crate::query::fmt::write_name(&mut label, name).expect("writing to a String");
                label += " and its descendants: one cached union";
                if cut {
                    label += &format!("; the first {} tags with customers shown", many.len().min(EXPLAIN_SUBTREE));
                }
                let children = many
                    .iter()
                    .take(EXPLAIN_SUBTREE)
                    .map(|&t| leaf(self.pool.name(t), self.store.get(t).len()))
                    .collect();
                ExplainNode { label: label + ")", cardinality: bits.len(), children }
            }
        }
    }
}

/// The most tags of a subtree an [`Explain`] lists...
const EXPLAIN_SUBTREE: usize = 64;
/// ...and the most one explanation looks at to find them, over all its parents.
const EXPLAIN_VISITS: usize = 4_096;

/// A query's plan with the cardinality of every node, from
/// [`Engine::explain`](crate::Engine::explain). `Display` prints it as an indented tree.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explain {
    /// The query, in canonical text.
    pub query: String,
    /// Live customers (the universe of `NOT`).
    pub live: u64,
    /// The plan's root; its cardinality is the query's count.
    pub root: ExplainNode,
    /// Whether `count` and `select` evaluate this plan block by block (the whole expression
    /// per 2^16-id block, for tag expressions of three or more operands) rather than one
    /// bitmap operation at a time; see [`Query`](crate::Query#evaluation).
    /// The tree and its cardinalities are the same either way.
    pub per_block: bool,
}

/// One node of an [`Explain`] tree.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExplainNode {
    /// What the node does: `tag "vip"`, `AND (...)`, `OR (...)`, `AND NOT (...)`, ...
    pub label: String,
    /// Customers in the node's result.
    pub cardinality: u64,
    /// Operands, in evaluation order.
    pub children: Vec<ExplainNode>,
}

impl Explain {
    /// The query's count.
    pub fn count(&self) -> u64 {
        self.root.cardinality
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "query: {}", self.query)?;
        writeln!(f, "count: {} of {} live customers", self.root.cardinality, self.live)?;
        let mut stack = vec![(&self.root, 0usize)];
        while let Some((n, depth)) = stack.pop() {
            writeln!(f, "{:indent$}{}  [{}]", "", n.label, n.cardinality, indent = 2 * depth)?;
            stack.extend(n.children.iter().rev().map(|c| (c, depth + 1)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CustomerId, Engine};

    #[test]
    fn explaining_parents_is_bounded_per_query() {
        let mut e = Engine::new();
        e.customer_id_range(0..200).unwrap();
        let pairs: Vec<(CustomerId, String)> = (0..100u32).map(|i| (CustomerId(i), format!("p/c{i}"))).collect();
        e.tag_pairs(pairs.iter().map(|(c, n)| (*c, n.as_str()))).unwrap();
        // q: one customer of its own, 5,000 empty children.
        e.tag(CustomerId(150), "q").unwrap();
        for i in 0..5_000 {
            e.ensure_tag(&format!("q/e{i}")).unwrap();
        }
        let plan = e.explain("p").unwrap();
        assert_eq!(plan.count(), 100);
        assert_eq!(plan.root.children.len(), EXPLAIN_SUBTREE, "{plan}");
        assert!(plan.root.label.contains("the first 64"), "{}", plan.root.label);
        // Many parents in one query share one walk budget: 1,000 terms of q would look at
        // 5 million children without it.
        let text = vec!["q"; 1_000].join(" AND ");
        let t = std::time::Instant::now();
        let plan = e.explain(text.as_str()).unwrap();
        assert_eq!(plan.count(), 1);
        assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());
        // One walk to its end is not called cut: q alone, its own customer.
        assert_eq!(e.explain("q").unwrap().root.label, "tag q");
    }
}
