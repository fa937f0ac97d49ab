//! The naive model of saved queries (rule tags and applied segment plans) on top of the naive
//! tag model ([`Model`]), written from the docs of `Engine::define_rule_tag`,
//! `Engine::apply_plan`, `Engine::refresh_rules` and `Engine::delete_tag`:
//!
//! - a rule tag is a tag of the model whose members its query sets; an applied plan is an
//!   exclusive group of the model, one value per segment, each live customer in the first
//!   segment whose query matches it (else the fallback);
//! - a saved query reads rule tag `R` when it names `R` or an ancestor of `R`, and the plan
//!   applied as `P` when it names a value `P:...`; a definition that would make a saved
//!   query read itself (through others or not) is refused;
//! - defining a rule (applying a plan) computes it and every saved query that reads it,
//!   directly or not, each after what it reads; `refresh_rules` computes all of them; in
//!   between a rule tag keeps its members (a removed customer leaves every tag);
//! - hand writes to a rule tag or a plan's group are refused; a tag a saved query names can
//!   be neither deleted nor renamed (nor an ancestor of it renamed); deleting a rule tag
//!   drops its rule.
//!
//! - merging tag `F` into tag `I` (`Engine::merge_tags`): refused for an unknown name, one
//!   tag twice, a derived tag on either side, an `F` with children, and a rewrite that makes
//!   a saved query read itself; otherwise every customer of `F` carries `I` (losing its other
//!   value of `I`'s exclusive group), `F` leaves the pool, and every saved query naming `F`
//!   names `I` instead (nothing is computed again).
//!
//! Each operation fails without changing anything, returning the error kinds the engine may
//! give ([`Errs`]), or applies; the graph ([`Graph`]) is exposed so a test can check that a
//! cycle the engine reports is a real one.

use std::collections::{BTreeMap, BTreeSet};

use audience::UsedBy;

use super::DERIVED_GROUPS;
use super::model::{Errs, Model, Q, err, in_subtree, normalize};

/// An applied plan: its group, its rules `(segment, query)` and its fallback.
#[derive(Clone, Debug)]
pub struct Plan {
    pub group: String,
    pub rules: Vec<(String, Q)>,
    pub fallback: String,
}

impl Plan {
    /// The segment names, the fallback last.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.iter().map(|(n, _)| n.as_str()).chain([self.fallback.as_str()])
    }
}

/// A saved query: the `i`-th rule tag or the `i`-th applied plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Rule(usize),
    Plan(usize),
}

/// Who joined and who left a rule tag: name, added, removed.
pub type Update = (String, BTreeSet<u32>, BTreeSet<u32>);

/// Who moved in a plan: (from, to) -> customers.
pub type Moves = BTreeMap<(Option<String>, Option<String>), BTreeSet<u32>>;

/// What a computation changed, per rule tag and per plan, in the order computed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub rules: Vec<Update>,
    pub plans: Vec<(String, Moves)>,
}

/// The normalized tag names a query names, each once.
pub fn tag_names(q: &Q) -> BTreeSet<String> {
    fn walk(q: &Q, out: &mut BTreeSet<String>) {
        match q {
            Q::Tag(raw) => {
                out.insert(normalize(raw).expect("queries use valid names"));
            }
            Q::Cmp(..) | Q::Everyone | Q::Nobody => {}
            Q::Not(x) => walk(x, out),
            Q::And(xs) | Q::Or(xs) => xs.iter().for_each(|x| walk(x, out)),
            Q::AndNot(a, b) => {
                walk(a, out);
                walk(b, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(q, &mut out);
    out
}

/// `q` with every tag term naming `from` (normalized) naming `into` instead.
pub fn replace_tag(q: &Q, from: &str, into: &str) -> Q {
    let go = |x: &Q| replace_tag(x, from, into);
    match q {
        Q::Tag(raw) if normalize(raw).as_deref() == Some(from) => Q::Tag(into.to_owned()),
        Q::Tag(_) | Q::Cmp(..) | Q::Everyone | Q::Nobody => q.clone(),
        Q::Not(x) => Q::Not(Box::new(go(x))),
        Q::And(xs) => Q::And(xs.iter().map(go).collect()),
        Q::Or(xs) => Q::Or(xs.iter().map(go).collect()),
        Q::AndNot(a, b) => Q::AndNot(Box::new(go(a)), Box::new(go(b))),
    }
}

/// What a merge did: customers who carried the merged tag, those of them new to the tag
/// merged into, those who lost another value of its exclusive group, and the saved queries
/// rewritten (rule tags in definition order, then plans' rules).
pub type Merge = (u64, u64, u64, Vec<UsedBy>);

/// The group part of `group:value`.
fn group_of(name: &str) -> Option<&str> {
    name.split_once(':').map(|(g, _)| g)
}

// ------------------------------------------------------------------ the graph

/// The saved queries as a graph: each node's name and the tag names its queries name.
#[derive(Clone, Debug)]
pub struct Graph {
    pub rules: Vec<(String, BTreeSet<String>)>,
    pub plans: Vec<(String, BTreeSet<String>)>,
}

impl Graph {
    pub fn nodes(&self) -> Vec<Node> {
        (0..self.rules.len()).map(Node::Rule).chain((0..self.plans.len()).map(Node::Plan)).collect()
    }

    /// How the engine names a node in a cycle: a rule tag by its name, a plan `plan <group>`.
    pub fn label(&self, n: Node) -> String {
        match n {
            Node::Rule(i) => self.rules[i].0.clone(),
            Node::Plan(i) => format!("plan {}", self.plans[i].0),
        }
    }

    /// The nodes `n` reads.
    pub fn reads(&self, n: Node) -> BTreeSet<Node> {
        let names = match n {
            Node::Rule(i) => &self.rules[i].1,
            Node::Plan(i) => &self.plans[i].1,
        };
        let mut out = BTreeSet::new();
        for name in names {
            for (i, (rule, _)) in self.rules.iter().enumerate() {
                if in_subtree(rule, name) {
                    out.insert(Node::Rule(i));
                }
            }
            for (i, (group, _)) in self.plans.iter().enumerate() {
                if group_of(name) == Some(group.as_str()) {
                    out.insert(Node::Plan(i));
                }
            }
        }
        out
    }

    /// Every node, each after what it reads (Kahn's algorithm); `None` for a cyclic graph.
    pub fn order(&self) -> Option<Vec<Node>> {
        let nodes = self.nodes();
        let mut order: Vec<Node> = Vec::new();
        while order.len() < nodes.len() {
            let next =
                nodes.iter().find(|n| !order.contains(n) && self.reads(**n).iter().all(|r| order.contains(r)))?;
            order.push(*next);
        }
        Some(order)
    }

    /// The nodes `n` reads directly or through others.
    pub fn reads_transitively(&self, n: Node) -> BTreeSet<Node> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![n];
        while let Some(x) = stack.pop() {
            for r in self.reads(x) {
                if seen.insert(r) {
                    stack.push(r);
                }
            }
        }
        seen
    }

    /// Whether `labels` names a cycle of the graph: at least one edge, first and last the
    /// same, each node reading the next.
    pub fn is_cycle(&self, labels: &[String]) -> bool {
        let node = |l: &String| self.nodes().into_iter().find(|&n| self.label(n) == *l);
        let Some(nodes) = labels.iter().map(node).collect::<Option<Vec<Node>>>() else { return false };
        nodes.len() >= 2 && nodes.first() == nodes.last() && nodes.windows(2).all(|w| self.reads(w[0]).contains(&w[1]))
    }
}

// ------------------------------------------------------------------ the model

#[derive(Clone, Debug, Default)]
pub struct Saved {
    pub m: Model,
    /// Rule tags in definition order: name (normalized) and query.
    pub rules: Vec<(String, Q)>,
    /// Applied plans in the order first applied.
    pub plans: Vec<Plan>,
}

impl Saved {
    pub fn new(m: Model) -> Saved {
        Saved { m, rules: Vec::new(), plans: Vec::new() }
    }

    pub fn graph(&self) -> Graph {
        Graph {
            rules: self.rules.iter().map(|(n, q)| (n.clone(), tag_names(q))).collect(),
            plans: self
                .plans
                .iter()
                .map(|p| (p.group.clone(), p.rules.iter().flat_map(|(_, q)| tag_names(q)).collect()))
                .collect(),
        }
    }

    /// The graph with rule `norm` given query `q` (added when new), and its node.
    pub fn graph_with_rule(&self, norm: &str, q: &Q) -> (Graph, Node) {
        let mut g = self.graph();
        let node = match self.rule_index(norm) {
            Some(i) => {
                g.rules[i].1 = tag_names(q);
                Node::Rule(i)
            }
            None => {
                g.rules.push((norm.to_owned(), tag_names(q)));
                Node::Rule(g.rules.len() - 1)
            }
        };
        (g, node)
    }

    /// The graph with `plan` applied (added when its group is new), and its node.
    pub fn graph_with_plan(&self, plan: &Plan) -> (Graph, Node) {
        let mut g = self.graph();
        let names: BTreeSet<String> = plan.rules.iter().flat_map(|(_, q)| tag_names(q)).collect();
        let node = match self.plan_index(&plan.group) {
            Some(i) => {
                g.plans[i].1 = names;
                Node::Plan(i)
            }
            None => {
                g.plans.push((plan.group.clone(), names));
                Node::Plan(g.plans.len() - 1)
            }
        };
        (g, node)
    }

    pub fn rule_index(&self, norm: &str) -> Option<usize> {
        self.rules.iter().position(|(n, _)| n == norm)
    }

    pub fn plan_index(&self, group: &str) -> Option<usize> {
        self.plans.iter().position(|p| p.group == group)
    }

    /// A value of a group a layer owns (a plan's or `refresh`'s).
    fn owned_value(&self, norm: &str) -> bool {
        group_of(norm).is_some_and(|g| DERIVED_GROUPS.contains(&g) || self.plan_index(g).is_some())
    }

    /// Whether a hand write to tag `norm` is refused: a rule tag or an owned group's value.
    pub fn derived(&self, norm: &str) -> bool {
        self.rule_index(norm).is_some() || self.owned_value(norm)
    }

    /// Whether a strict ancestor of `norm` is a rule tag: nothing may be written below one
    /// (a query on the rule tag would read it).
    pub fn under_rule(&self, norm: &str) -> bool {
        norm.match_indices('/').any(|(at, _)| self.rule_index(&norm[..at]).is_some())
    }

    /// Whether a saved query (other than rule `except`'s own) names a tag `hit` picks.
    fn named(&self, hit: impl Fn(&str) -> bool, except: Option<&str>) -> bool {
        let rules = self.rules.iter().filter(|(n, _)| Some(n.as_str()) != except).map(|(_, q)| q);
        let plans = self.plans.iter().flat_map(|p| p.rules.iter().map(|(_, q)| q));
        rules.chain(plans).any(|q| tag_names(q).iter().any(|n| hit(n)))
    }

    // ---- hand writes

    pub fn tag(&mut self, c: u32, raw: &str) -> Result<bool, Errs> {
        if normalize(raw).is_some_and(|n| self.derived(&n)) {
            return err("DerivedName");
        }
        if normalize(raw).is_some_and(|n| self.under_rule(&n)) {
            return err("InvalidTagName"); // NameProblem::UnderRuleTag
        }
        self.m.tag(c, raw)
    }

    pub fn untag(&mut self, c: u32, raw: &str) -> Result<bool, Errs> {
        if normalize(raw).is_some_and(|n| self.m.pool.contains(&n) && self.derived(&n)) {
            return err("DerivedName");
        }
        self.m.untag(c, raw)
    }

    pub fn tag_all(&mut self, audience: &BTreeSet<u32>, raw: &str) -> Result<u64, Errs> {
        if normalize(raw).is_some_and(|n| self.derived(&n)) {
            return err("DerivedName");
        }
        if normalize(raw).is_some_and(|n| self.under_rule(&n)) {
            return err("InvalidTagName"); // NameProblem::UnderRuleTag
        }
        self.m.tag_all(audience, raw)
    }

    pub fn delete_tag(&mut self, raw: &str) -> Result<u64, Errs> {
        let Some(norm) = normalize(raw) else { return err("InvalidTagName") };
        if !self.m.pool.contains(&norm) {
            return err("UnknownTag");
        }
        if self.named(|n| n == norm, Some(&norm)) {
            return err("TagInUse");
        }
        if self.owned_value(&norm) {
            return err("DerivedName");
        }
        let n = self.m.delete_tag(&norm)?;
        self.rules.retain(|(r, _)| *r != norm);
        Ok(n)
    }

    pub fn rename_tag(&mut self, old_raw: &str, new_raw: &str) -> Result<(), Errs> {
        let Some(old) = normalize(old_raw) else { return err("InvalidTagName") };
        if !self.m.pool.contains(&old) {
            return err("UnknownTag");
        }
        if self.named(|n| in_subtree(n, &old), None) {
            return err("TagInUse");
        }
        let subtree: Vec<&String> = self.m.pool.iter().filter(|n| in_subtree(n, &old)).collect();
        let mut derived = subtree.iter().any(|n| self.derived(n));
        let mut under = false;
        if let Some(new) = normalize(new_raw).filter(|new| *new != old) {
            derived |= subtree.iter().any(|n| self.owned_value(&format!("{new}{}", &n[old.len()..])));
            under = subtree.iter().any(|n| self.under_rule(&format!("{new}{}", &n[old.len()..])));
        }
        if derived || under {
            // The engine checks ownership among the rename's other checks: any of them.
            let mut errs: Errs = [if derived { "DerivedName" } else { "InvalidTagName" }].into_iter().collect();
            if derived && under {
                errs.insert("InvalidTagName");
            }
            errs.extend(self.m.clone().rename_tag(&old, new_raw).err().unwrap_or_default());
            return Err(errs);
        }
        self.m.rename_tag(&old, new_raw)
    }

    /// Merges tag `from_raw` into tag `into_raw` (see the module docs).
    pub fn merge_tags(&mut self, from_raw: &str, into_raw: &str) -> Result<Merge, Errs> {
        let Some(from) = normalize(from_raw) else { return err("InvalidTagName") };
        if !self.m.pool.contains(&from) {
            return err("UnknownTag");
        }
        let Some(into) = normalize(into_raw) else { return err("InvalidTagName") };
        if !self.m.pool.contains(&into) {
            return err("UnknownTag");
        }
        if from == into {
            return err("InvalidMerge");
        }
        if self.derived(&from) || self.derived(&into) {
            return err("DerivedName");
        }
        if self.m.has_children(&from) {
            return err("InvalidMerge");
        }
        let mut after = self.clone();
        let mut rewritten = Vec::new();
        for (name, q) in &mut after.rules {
            if tag_names(q).contains(&from) {
                *q = replace_tag(q, &from, &into);
                rewritten.push(UsedBy::RuleTag { name: name.clone() });
            }
        }
        for p in &mut after.plans {
            for (segment, q) in &mut p.rules {
                if tag_names(q).contains(&from) {
                    *q = replace_tag(q, &from, &into);
                    rewritten.push(UsedBy::Plan { group: p.group.clone(), rule: segment.clone() });
                }
            }
        }
        if after.graph().order().is_none() {
            return err("RuleCycle");
        }
        let (moved, added, displaced) = after.m.merge_tag(&from, &into);
        *self = after;
        Ok((moved, added, displaced, rewritten))
    }

    /// Per tag of the pool, the saved queries that read it: those naming it or an ancestor,
    /// rule tags in definition order, then plans' rules.
    pub fn readers(&self, tag: &str) -> Vec<UsedBy> {
        let reads = |q: &Q| tag_names(q).iter().any(|n| in_subtree(tag, n));
        let rules = self.rules.iter().filter(|(_, q)| reads(q)).map(|(n, _)| UsedBy::RuleTag { name: n.clone() });
        let plans = self.plans.iter().flat_map(|p| {
            p.rules
                .iter()
                .filter(|(_, q)| reads(q))
                .map(|(r, _)| UsedBy::Plan { group: p.group.clone(), rule: r.clone() })
        });
        rules.chain(plans).collect()
    }

    // ---- saved queries

    /// Defines rule tag `raw` as `q` (or gives it the new query), computing it and what
    /// reads it.
    pub fn define_rule(&mut self, raw: &str, q: &Q) -> Result<(), Errs> {
        let Some(norm) = normalize(raw) else { return err("InvalidTagName") };
        let (graph, _) = self.graph_with_rule(&norm, q);
        if graph.order().is_none() {
            return err("RuleCycle");
        }
        if self.m.eval(q).is_err() {
            return err("InRule");
        }
        let at = self.rule_index(&norm);
        if at.is_none() {
            if self.m.pool.contains(&norm) {
                return err(if self.owned_value(&norm) { "DerivedName" } else { "TagExists" });
            }
            if self.owned_value(&norm) {
                return err("DerivedName");
            }
            if self.under_rule(&norm) {
                return err("InvalidTagName"); // NameProblem::UnderRuleTag
            }
            if group_of(&norm).is_some_and(|g| self.m.groups.iter().any(|d| d == g)) {
                return err("InvalidTagName"); // NameProblem::RuleInGroup
            }
        }
        let i = match at {
            Some(i) => {
                self.rules[i].1 = q.clone();
                i
            }
            None => {
                self.m.ensure(&norm);
                self.rules.push((norm, q.clone()));
                self.rules.len() - 1
            }
        };
        self.compute(Some(Node::Rule(i)));
        Ok(())
    }

    /// Applies `plan` as its group (or gives the group the new plan), computing it and what
    /// reads it; who moved in the group.
    pub fn apply_plan(&mut self, plan: &Plan) -> Result<Moves, Errs> {
        let g = &plan.group;
        if DERIVED_GROUPS.contains(&g.as_str()) {
            return err("DerivedName");
        }
        let at = self.plan_index(g);
        let hand_written = self.m.groups.contains(g) || self.m.pool.iter().any(|n| group_of(n) == Some(g.as_str()));
        if at.is_none() && hand_written {
            return err("GroupInUse");
        }
        let (graph, _) = self.graph_with_plan(plan);
        if graph.order().is_none() {
            return err("RuleCycle");
        }
        if plan.rules.iter().any(|(_, q)| self.m.eval(q).is_err()) {
            return err("InRule");
        }
        let i = match at {
            Some(i) => {
                self.plans[i] = plan.clone();
                i
            }
            None => {
                self.m.groups.push(g.clone());
                self.plans.push(plan.clone());
                self.plans.len() - 1
            }
        };
        let mut report = self.compute(Some(Node::Plan(i)));
        Ok(report.plans.swap_remove(0).1)
    }

    /// Computes every saved query again.
    pub fn refresh_rules(&mut self) -> Report {
        self.compute(None)
    }

    /// The rule tags that do not hold what their query gives now (none after
    /// `refresh_rules`).
    pub fn stale_rules(&self) -> Vec<String> {
        let stale = |(n, q): &&(String, Q)| self.m.members(n) != self.m.eval(q).expect("saved queries resolve");
        self.rules.iter().filter(stale).map(|(n, _)| n.clone()).collect()
    }

    /// Computes `from` and every saved query reading it, directly or not (or every one),
    /// each after what it reads.
    fn compute(&mut self, from: Option<Node>) -> Report {
        let graph = self.graph();
        let order = graph.order().expect("the saved queries are acyclic");
        let mut due: BTreeSet<Node> = match from {
            Some(n) => [n].into_iter().collect(),
            None => order.iter().copied().collect(),
        };
        loop {
            let more: Vec<Node> =
                order.iter().copied().filter(|n| !due.contains(n) && !graph.reads(*n).is_disjoint(&due)).collect();
            if more.is_empty() {
                break;
            }
            due.extend(more);
        }
        let mut report = Report::default();
        for node in order.into_iter().filter(|n| due.contains(n)) {
            match node {
                Node::Rule(i) => report.rules.push(self.compute_rule(i)),
                Node::Plan(i) => report.plans.push(self.compute_plan(i)),
            }
        }
        report
    }

    fn compute_rule(&mut self, i: usize) -> Update {
        let (name, q) = self.rules[i].clone();
        let now = self.m.eval(&q).expect("saved queries resolve");
        let old = self.m.members(&name);
        for (c, tags) in self.m.tags.iter_mut() {
            if now.contains(c) {
                tags.insert(name.clone());
            } else {
                tags.remove(&name);
            }
        }
        let added = now.difference(&old).copied().collect();
        let removed = old.difference(&now).copied().collect();
        (name, added, removed)
    }

    fn compute_plan(&mut self, i: usize) -> (String, Moves) {
        let p = self.plans[i].clone();
        let matches: Vec<BTreeSet<u32>> =
            p.rules.iter().map(|(_, q)| self.m.eval(q).expect("saved queries resolve")).collect();
        let prefix = format!("{}:", p.group);
        for name in p.names() {
            self.m.ensure(&format!("{prefix}{name}"));
        }
        let mut moves = Moves::new();
        for (c, tags) in self.m.tags.iter_mut() {
            let seg = p.rules.iter().zip(&matches).find(|(_, m)| m.contains(c)).map_or(&p.fallback, |((n, _), _)| n);
            let held: Vec<String> = tags.iter().filter(|t| t.starts_with(&prefix)).cloned().collect();
            assert!(held.len() <= 1, "model: customer {c} holds two values of {}: {held:?}", p.group);
            let from = held.first().map(|t| t[prefix.len()..].to_owned());
            for t in held {
                tags.remove(&t);
            }
            tags.insert(format!("{prefix}{seg}"));
            if from.as_ref() != Some(seg) {
                moves.entry((from, Some(seg.clone()))).or_default().insert(*c);
            }
        }
        (p.group, moves)
    }
}
