//! The order saved queries are computed in. Rule tags and applied plans read tags, and some
//! of those tags are other rule tags and plans' segments, so each must be computed after
//! what it reads: a topological order of the graph "reads", found by depth-first search,
//! with a cycle reported as the path that closes it.
//!
//! Nodes are named as the tags layer names them: a rule tag by its tag name, a plan by its
//! group. A query reads a rule tag when it names it or an ancestor of it (`audiences` reads
//! the union of `audiences/...`), and a plan when it names one of its values
//! (`campaign:vips`).

use crate::query::Query;
use crate::tags::group_prefix;

/// A saved query: a rule tag or an applied plan.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// The `i`-th rule tag.
    Rule(usize),
    /// The `i`-th applied plan.
    Plan(usize),
}

/// The graph: each node's name and the queries it evaluates.
pub(crate) struct Graph<'a> {
    /// Rule tags: name and query.
    pub(crate) rules: Vec<(&'a str, &'a Query)>,
    /// Plans: group and their rules' queries.
    pub(crate) plans: Vec<(&'a str, Vec<&'a Query>)>,
}

impl Graph<'_> {
    fn nodes(&self) -> impl Iterator<Item = Node> + use<> {
        (0..self.rules.len()).map(Node::Rule).chain((0..self.plans.len()).map(Node::Plan))
    }

    pub(crate) fn index(&self, n: Node) -> usize {
        match n {
            Node::Rule(i) => i,
            Node::Plan(i) => self.rules.len() + i,
        }
    }

    /// How node `n` is named in a cycle: a rule tag by its name, a plan as `plan <group>`.
    pub(crate) fn label(&self, n: Node) -> String {
        match n {
            Node::Rule(i) => self.rules[i].0.to_owned(),
            Node::Plan(i) => format!("plan {}", self.plans[i].0),
        }
    }

    /// What each node's queries read (by [`Graph::index`]), in the order the queries name
    /// them. With the rule tags sorted by name once, a name finds the rule tags at or below
    /// it by a range search, so the cost follows the names the queries hold, not the number
    /// of rules times names.
    pub(crate) fn edges(&self) -> Vec<Vec<Node>> {
        let mut by_name: Vec<(&str, usize)> = self.rules.iter().enumerate().map(|(i, (n, _))| (*n, i)).collect();
        by_name.sort_unstable();
        fn at_or_below<'n>(by_name: &'n [(&str, usize)], name: &'n str) -> impl Iterator<Item = Node> + 'n {
            let from = by_name.partition_point(|(n, _)| *n < name);
            by_name[from..]
                .iter()
                .take_while(move |(n, _)| n.starts_with(name))
                .filter(move |(n, _)| n.len() == name.len() || n.as_bytes()[name.len()] == b'/')
                .map(|&(_, i)| Node::Rule(i))
        }
        let mut edges = Vec::with_capacity(self.rules.len() + self.plans.len());
        for n in self.nodes() {
            let queries: &[&Query] = match n {
                Node::Rule(i) => std::slice::from_ref(&self.rules[i].1),
                Node::Plan(i) => &self.plans[i].1,
            };
            let mut out = Vec::new();
            for name in queries.iter().flat_map(|q| q.tag_names()) {
                let plan = group_prefix(name).and_then(|g| self.plans.iter().position(|(group, _)| *group == g));
                for read in at_or_below(&by_name, name).chain(plan.map(Node::Plan)) {
                    if !out.contains(&read) {
                        out.push(read);
                    }
                }
            }
            edges.push(out);
        }
        edges
    }

    /// Every node, each after the nodes it reads (rules first, then plans, where the
    /// graph leaves the order free); or a cycle, as the path of nodes that closes it (the
    /// first node repeated at the end), starting from the first node of `start` on a cycle.
    pub(crate) fn order(&self, start: &[Node], edges: &[Vec<Node>]) -> std::result::Result<Vec<Node>, Vec<Node>> {
        #[derive(Copy, Clone, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let n = self.rules.len() + self.plans.len();
        let mut mark = vec![Mark::New; n];
        let mut order = Vec::with_capacity(n);
        let roots: Vec<Node> = start.iter().copied().chain(self.nodes()).collect();
        for root in roots {
            if mark[self.index(root)] != Mark::New {
                continue;
            }
            // An explicit stack of (node, what it reads, next to visit): the path is the
            // nodes on it, so a cycle is read off it.
            let mut path: Vec<(Node, &[Node], usize)> = vec![(root, &edges[self.index(root)], 0)];
            mark[self.index(root)] = Mark::Open;
            while let Some((node, reads, next)) = path.last_mut() {
                if let Some(&dep) = reads.get(*next) {
                    *next += 1;
                    match mark[self.index(dep)] {
                        Mark::Done => {}
                        Mark::Open => {
                            let from = path.iter().position(|(p, _, _)| *p == dep).expect("open nodes are on the path");
                            let mut cycle: Vec<Node> = path[from..].iter().map(|(p, _, _)| *p).collect();
                            cycle.push(dep);
                            return Err(cycle);
                        }
                        Mark::New => {
                            mark[self.index(dep)] = Mark::Open;
                            path.push((dep, &edges[self.index(dep)], 0));
                        }
                    }
                } else {
                    let node = *node;
                    mark[self.index(node)] = Mark::Done;
                    order.push(node);
                    path.pop();
                }
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Query {
        Query::parse(text).unwrap()
    }

    #[test]
    fn reads_come_first_and_cycles_are_named() {
        let (a, b, c) = (q("b AND vip"), q("campaign:x OR c"), q("vip"));
        let plan = [q("audiences")];
        let g = Graph {
            rules: vec![("a", &a), ("b", &b), ("audiences/c", &c)],
            plans: vec![("campaign", plan.iter().collect())],
        };
        let order = g.order(&[], &g.edges()).unwrap();
        let pos = |n: Node| order.iter().position(|&m| m == n).unwrap();
        assert!(pos(Node::Rule(1)) < pos(Node::Rule(0)));
        assert!(pos(Node::Plan(0)) < pos(Node::Rule(1)));
        assert!(pos(Node::Rule(2)) < pos(Node::Plan(0)));
        assert_eq!(order.len(), 4);

        let (x, y) = (q("y"), q("campaign:vips"));
        let plan = [q("x OR vip")];
        let g = Graph { rules: vec![("x", &x), ("y", &y)], plans: vec![("campaign", plan.iter().collect())] };
        let cycle = g.order(&[Node::Rule(1)], &g.edges()).unwrap_err();
        let names: Vec<String> = cycle.iter().map(|&n| g.label(n)).collect();
        assert_eq!(names, ["y", "plan campaign", "x", "y"]);
        let me = q("me OR vip");
        let g = Graph { rules: vec![("me", &me)], plans: vec![] };
        assert_eq!(g.order(&[], &g.edges()).unwrap_err(), [Node::Rule(0), Node::Rule(0)]);
        // `aud` reads `aud` and `aud/x`, not `audience`.
        let (aud, x, other, reader) = (q("vip"), q("vip"), q("vip"), q("aud"));
        let g =
            Graph { rules: vec![("audience", &other), ("aud/x", &x), ("aud", &aud), ("r", &reader)], plans: vec![] };
        assert_eq!(g.edges()[3], [Node::Rule(2), Node::Rule(1)]);
    }
}
