//! [`Segments`], the layer's state: saved queries materialized as tags. Two kinds:
//!
//! - **applied plans**: a [`SegmentPlan`] stored as an exclusive group, one value tag per
//!   segment (`campaign:champions`);
//! - **rule tags** (saved audiences): a tag whose members are whatever its query says.
//!
//! Both are computed in dependency order (`order.rs`) when defined or applied (with
//! everything that reads them), by [`Engine::refresh_rules`](crate::Engine::refresh_rules)
//! and by [`Engine::refresh`](crate::Engine::refresh) (after the RFM and stage tags). They
//! read through the planner and write through the tags layer: plans through the
//! derived-group API, rule tags through [`Tags::set_rule_members`]; the tags layer refuses
//! hand writes to both.
//!
//! A saved query is stored with the tags it reads, not the aliases it was written with
//! (`M` is kept as `gender:male`): removing the alias later leaves the rule as it is, and
//! the guards on what a rule reads (deleting or renaming it is refused, the order of
//! computation) see the tag itself.

use std::borrow::Cow;

use roaring::RoaringBitmap;

use super::order::{Graph, Node};
use super::{IntoRuleQuery, SegmentDiff, SegmentPlan, Segmentation};
use crate::attrs::Attrs;
use crate::audience::Audience;
use crate::error::{Error, Result, UsedBy};
use crate::feed::ChangeEvent;
use crate::id::TagId;
use crate::par::Threads;
use crate::query::{Planner, Query};
use crate::tags::{TagKind, Tags, normalize_tag};

/// Applying a plan again evaluates it for the customers touched since (rather than for
/// everyone) while they are at most one in this many of the live customers: each rule then
/// costs a few container intersections per touched customer, which passes the cost of a full
/// evaluation (a few bitmap passes) at about 2% of the customers.
const INCREMENTAL_SHARE: u64 = 50;

/// The saved queries: plans applied as groups and rule tags, each in definition order.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Segments {
    pub(super) plans: Vec<(String, SegmentPlan)>,
    pub(super) rules: Vec<RuleTag>,
}

/// A rule tag: the tag and the query that sets its members.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleTag {
    pub(super) tag: TagId,
    #[serde(with = "query_text")]
    pub(super) query: Query,
}

/// What one pass over the saved queries changed: who joined and left each rule tag, who
/// moved in each plan, in the order they were computed (each after what it reads).
///
/// From [`Engine::refresh_rules`](crate::Engine::refresh_rules); [`RefreshReport`](crate::RefreshReport)
/// carries the same lists.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RulesReport {
    /// Per rule tag, who joined and who left it.
    pub rules: Vec<RuleUpdate>,
    /// Per applied plan, its group and who moved.
    pub plans: Vec<(String, SegmentDiff)>,
}

/// Who joined and who left a rule tag when it was computed again.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RuleUpdate {
    /// The rule tag.
    pub name: String,
    /// Customers its query matches now and did not before.
    pub added: Audience,
    /// Customers it matched before and does not now.
    pub removed: Audience,
}

/// What a saved-query pass reads: the live customers and the attributes (the tags come
/// mutably, as the pass writes them).
#[derive(Copy, Clone)]
pub(crate) struct Inputs<'a> {
    pub(crate) live: &'a RoaringBitmap,
    pub(crate) attrs: &'a Attrs,
    /// The threads a plan's rules are evaluated on ([`Planner::select_many`]).
    pub(crate) threads: Threads,
}

impl Inputs<'_> {
    fn planner<'t>(&'t self, tags: &'t Tags) -> Planner<'t> {
        Planner {
            pool: tags.pool(),
            store: tags.store(),
            live: self.live,
            live_len: self.live.len(),
            attrs: self.attrs,
        }
    }
}

impl Segments {
    /// Evaluates `plan`: rule `i`'s segment is its query's customers minus those of the rules
    /// before it; the fallback is every live customer no rule matched. The rules' queries
    /// are evaluated together ([`Planner::select_many`]: one pass over the blocks for those
    /// of three or more tags, on `threads`), then taken in order.
    pub(crate) fn evaluate(planner: &Planner<'_>, plan: &SegmentPlan, threads: Threads) -> Result<Segmentation> {
        let planned = plan
            .rules()
            .iter()
            .map(|rule| planner.planned(rule.query()).map_err(|e| rule.error(e)))
            .collect::<Result<Vec<_>>>()?;
        let mut taken = RoaringBitmap::new();
        let mut members = Vec::with_capacity(plan.rules().len() + 1);
        for bits in planner.select_many(planned, threads)? {
            let mine = if taken.is_empty() { bits } else { bits - &taken };
            taken |= &mine;
            members.push(Audience::from(mine));
        }
        members.push(Audience::from(planner.live - &taken));
        Ok(Segmentation { names: plan.names().map(str::to_owned).collect(), members })
    }

    /// [`Segments::evaluate`] for the live customers of `scope` only, at a cost that follows
    /// `scope`: each rule's query evaluated within the customers no earlier rule took.
    fn evaluate_within(planner: &Planner<'_>, plan: &SegmentPlan, scope: &RoaringBitmap) -> Result<Segmentation> {
        let mut left = scope & planner.live;
        let mut members = Vec::with_capacity(plan.rules().len() + 1);
        for rule in plan.rules() {
            let mine = planner.select_among(rule.query(), &left).map_err(|e| rule.error(e))?;
            left -= &mine;
            members.push(Audience::from(mine));
        }
        members.push(Audience::from(left));
        Ok(Segmentation { names: plan.names().map(str::to_owned).collect(), members })
    }

    // ------------------------------------------------------------------ defining

    /// Applies `plan` as exclusive group `group`: checked (the group is the plan's or new,
    /// no cycle, every rule resolves), kept, then written with everything that reads it.
    /// Who moved in the group. Nothing changes on error.
    pub(crate) fn apply_plan(
        &mut self,
        tags: &mut Tags,
        input: Inputs<'_>,
        group: &str,
        plan: &SegmentPlan,
    ) -> Result<SegmentDiff> {
        let plan = &*canonical_plan(tags, plan)?;
        for rule in plan.rules() {
            rule.query().check_storable().map_err(|e| rule.error(e))?;
        }
        let group = tags.check_plan_group(group)?.into_owned();
        tags.check_plan_values(&group, plan.names())?;
        let at = self.plans.iter().position(|(g, _)| *g == group);
        {
            let mut graph = self.graph(tags);
            let node = match at {
                Some(i) => {
                    graph.plans[i].1 = plan.rules().iter().map(|r| r.query()).collect();
                    Node::Plan(i)
                }
                None => {
                    graph.plans.push((&group, plan.rules().iter().map(|r| r.query()).collect()));
                    Node::Plan(graph.plans.len() - 1)
                }
            };
            graph.order(&[node], &graph.edges()).map_err(|cycle| cycle_error(&graph, &cycle))?;
            let planner = input.planner(tags);
            for rule in plan.rules() {
                planner.resolves(rule.query()).map_err(|e| rule.error(e))?;
            }
        }
        // The same plan again, over a group it wrote: only the customers touched since the
        // saved queries were last all computed can have moved (the rest hold what that
        // computation, or a later application, gave them).
        let again = at.is_some_and(|i| self.plans[i].1 == *plan) && tags.notes_touches();
        let within =
            again.then(|| tags.touched() & input.live).filter(|w| w.len() <= input.live.len() / INCREMENTAL_SHARE);
        tags.claim_plan_group(&group);
        let i = match at {
            Some(i) => {
                self.plans[i].1 = plan.clone();
                i
            }
            None => {
                self.plans.push((group, plan.clone()));
                self.plans.len() - 1
            }
        };
        let mut report = self.compute(tags, input, Some(Node::Plan(i)), within.as_ref())?;
        Ok(report.plans.swap_remove(0).1) // the plan itself is computed first
    }

    /// Defines rule tag `name` with `query` (or gives an existing rule tag a new query):
    /// checked (no cycle, the query resolves, the name is free or the rule's), kept, then
    /// computed with everything that reads it. Nothing changes on error.
    pub(crate) fn define_rule(
        &mut self,
        tags: &mut Tags,
        input: Inputs<'_>,
        name: &str,
        query: impl IntoRuleQuery,
    ) -> Result<TagId> {
        let norm = normalize_tag(name)?.into_owned();
        let query = query.into_query().map_err(|e| Error::InRule { rule: norm.clone(), error: Box::new(e) })?;
        let in_rule = |e: Error| Error::InRule { rule: norm.clone(), error: Box::new(e) };
        let query = query.renamed(|n| tags.alias_target_name(n).map(Box::from)).map_err(in_rule)?.unwrap_or(query);
        query.check_storable().map_err(in_rule)?;
        let at = self.rules.iter().position(|r| tags.name_of(r.tag) == Some(&norm));
        {
            let mut graph = self.graph(tags);
            let node = match at {
                Some(i) => {
                    graph.rules[i].1 = &query;
                    Node::Rule(i)
                }
                None => {
                    graph.rules.push((&norm, &query));
                    Node::Rule(graph.rules.len() - 1)
                }
            };
            graph.order(&[node], &graph.edges()).map_err(|cycle| cycle_error(&graph, &cycle))?;
            input
                .planner(tags)
                .resolves(&query)
                .map_err(|e| Error::InRule { rule: norm.clone(), error: Box::new(e) })?;
        }
        let tag = tags.rule_tag(&norm)?;
        let i = match at {
            Some(i) => {
                self.rules[i].query = query;
                i
            }
            None => {
                self.rules.push(RuleTag { tag, query });
                self.rules.len() - 1
            }
        };
        self.compute(tags, input, Some(Node::Rule(i)), None)?;
        Ok(tag)
    }

    // ------------------------------------------------------------------ computing

    /// Checks that every saved query still resolves (its tags and attributes exist), so a
    /// refresh can compute them after it wrote its own tags.
    pub(crate) fn check(&self, tags: &Tags, input: Inputs<'_>) -> Result<()> {
        let planner = input.planner(tags);
        for (_, plan) in &self.plans {
            for rule in plan.rules() {
                planner.resolves(rule.query()).map_err(|e| rule.error(e))?;
            }
        }
        for r in &self.rules {
            let rule = tags.name_of(r.tag).unwrap_or_default().to_owned();
            planner.resolves(&r.query).map_err(|e| Error::InRule { rule, error: Box::new(e) })?;
        }
        Ok(())
    }

    /// Computes every saved query again, each after what it reads.
    pub(crate) fn compute_all(&self, tags: &mut Tags, input: Inputs<'_>) -> Result<RulesReport> {
        let report = self.compute(tags, input, None, None)?;
        tags.clear_touches(); // every saved query now holds for everyone
        Ok(report)
    }

    /// Computes, in dependency order, `from` and every saved query that reads it (directly
    /// or through others), or all of them (`None`).
    /// `within`: the only customers `from` (a plan) can have moved, when known.
    fn compute(
        &self,
        tags: &mut Tags,
        input: Inputs<'_>,
        from: Option<Node>,
        within: Option<&RoaringBitmap>,
    ) -> Result<RulesReport> {
        let due: Vec<Node> = {
            let graph = self.graph(tags);
            let edges = graph.edges();
            let order = graph.order(&[], &edges).expect("the saved queries are checked acyclic when defined");
            // In dependency order, a node is due when it is `from` or reads a due node.
            let mut is_due = vec![from.is_none(); edges.len()];
            let mut due = Vec::with_capacity(order.len());
            for node in order {
                let i = graph.index(node);
                is_due[i] = is_due[i] || from == Some(node) || edges[i].iter().any(|&r| is_due[graph.index(r)]);
                if is_due[i] {
                    due.push(node);
                }
            }
            due
        };
        let mut report = RulesReport::default();
        for node in due {
            match node {
                Node::Rule(i) => {
                    let rule = &self.rules[i];
                    let members = input.planner(tags).select(&rule.query)?;
                    let (added, removed) = tags.without_touches(|tags| tags.set_rule_members(rule.tag, members));
                    let name = tags.name_of(rule.tag).unwrap_or_default().to_owned();
                    report.rules.push(RuleUpdate { name, added: added.into(), removed: removed.into() });
                }
                Node::Plan(i) => {
                    let (group, plan) = &self.plans[i];
                    let scope = within.filter(|_| from == Some(node));
                    let now = match scope {
                        Some(scope) => Segments::evaluate_within(&input.planner(tags), plan, scope)?,
                        None => Segments::evaluate(&input.planner(tags), plan, input.threads)?,
                    };
                    report.plans.push((group.clone(), write(tags, group, plan, &now, scope)?));
                }
            }
        }
        Ok(report)
    }

    pub(super) fn graph<'a>(&'a self, tags: &'a Tags) -> Graph<'a> {
        Graph {
            rules: self.rules.iter().map(|r| (tags.name_of(r.tag).unwrap_or_default(), &r.query)).collect(),
            plans: self
                .plans
                .iter()
                .map(|(g, p)| (g.as_str(), p.rules().iter().map(|r| r.query()).collect()))
                .collect(),
        }
    }

    // ------------------------------------------------------------------ guards

    /// Deletes tag `name`: refused while a saved query names it; a rule tag takes its rule
    /// with it. How many customers carried it.
    pub(crate) fn delete_tag(&mut self, tags: &mut Tags, name: &str) -> Result<u64> {
        let id = tags.lookup_tag(name)?;
        let norm = tags.name_of(id).unwrap_or_default();
        if let Some(by) = self.used_by(tags, |n| n == norm, Some(id)) {
            return Err(Error::TagInUse { tag: norm.to_owned(), by });
        }
        if !tags.is_rule_tag(id) {
            return tags.delete(name);
        }
        let n = tags.delete_rule_tag(id)?;
        self.rules.retain(|r| r.tag != id);
        Ok(n)
    }

    /// Refuses a rename of tag `old` while a saved query names it or a descendant (which
    /// the rename would move).
    pub(crate) fn check_rename(&self, tags: &Tags, old: &str) -> Result<()> {
        let id = tags.lookup_tag(old)?;
        let norm = tags.name_of(id).unwrap_or_default();
        let below = |n: &str| n.strip_prefix(norm).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        match self.used_by(tags, below, None) {
            Some(by) => {
                let tag = self.names().into_iter().find(|n| below(n)).unwrap_or(norm).to_owned();
                Err(Error::TagInUse { tag, by })
            }
            None => Ok(()),
        }
    }

    /// The first saved query (rule tags, then plans) naming a tag that `hit` picks, other
    /// than rule tag `except`'s own.
    fn used_by(&self, tags: &Tags, hit: impl Fn(&str) -> bool, except: Option<TagId>) -> Option<UsedBy> {
        for r in self.rules.iter().filter(|r| Some(r.tag) != except) {
            if r.query.tag_names().into_iter().any(&hit) {
                return Some(UsedBy::RuleTag { name: tags.name_of(r.tag).unwrap_or_default().to_owned() });
            }
        }
        for (group, plan) in &self.plans {
            if let Some(rule) = plan.rules().iter().find(|r| r.query().tag_names().into_iter().any(&hit)) {
                return Some(UsedBy::Plan { group: group.clone(), rule: rule.name().to_owned() });
            }
        }
        None
    }

    /// Every tag name a saved query names.
    fn names(&self) -> Vec<&str> {
        let rules = self.rules.iter().flat_map(|r| r.query.tag_names());
        rules.chain(self.plans.iter().flat_map(|(_, p)| p.rules().iter().flat_map(|r| r.query().tag_names()))).collect()
    }

    // ------------------------------------------------------------------ listings

    /// The applied plans, `(group, plan)`, in the order they were first applied.
    pub(crate) fn applied(&self) -> &[(String, SegmentPlan)] {
        &self.plans
    }

    /// The rule tags, `(name, query)`, in the order they were defined.
    pub(crate) fn rule_tags<'a>(&'a self, tags: &'a Tags) -> impl Iterator<Item = (&'a str, &'a Query)> + 'a {
        self.rules.iter().map(|r| (tags.name_of(r.tag).unwrap_or_default(), &r.query))
    }
}

/// `plan` with the aliases its queries name replaced by the tags they stand for.
fn canonical_plan<'p>(tags: &Tags, plan: &'p SegmentPlan) -> Result<Cow<'p, SegmentPlan>> {
    Ok(match plan.renamed(|n| tags.alias_target_name(n).map(Box::from))? {
        Some(p) => Cow::Owned(p),
        None => Cow::Borrowed(plan),
    })
}

/// The error for a cycle of saved queries.
pub(super) fn cycle_error(graph: &Graph<'_>, cycle: &[Node]) -> Error {
    Error::RuleCycle { cycle: cycle.iter().map(|&n| graph.label(n)).collect() }
}

/// Writes segmentation `now` of `plan` into group `group`; who moved since what the group
/// held. The diff is taken against the group's value tags as they are (no copy), and only
/// the customers in it are written: the work follows the movers.
/// With `scope`, `now` covers those customers only, and so does the comparison.
fn write(
    tags: &mut Tags,
    group: &str,
    plan: &SegmentPlan,
    now: &Segmentation,
    scope: Option<&RoaringBitmap>,
) -> Result<SegmentDiff> {
    // The plan's values, then those of an earlier plan it no longer has (stale: their
    // customers are seen leaving, and the tags stay, empty, so stored queries still resolve).
    let mut names: Vec<String> = plan.names().map(str::to_owned).collect();
    let stale: Vec<String> =
        tags.group_values(group).into_iter().filter(|v| !names.iter().any(|n| n == v)).map(str::to_owned).collect();
    names.extend(stale);
    // Moves reach the change feed as segment moves (below), not as tag events.
    let values = tags.derived_group(group, TagKind::Custom, &names)?.quiet();
    let diff = {
        let held = |i: usize| match scope {
            Some(scope) => Cow::Owned(tags.members(&values, i) & scope),
            None => Cow::Borrowed(tags.members(&values, i)),
        };
        let then: Vec<(&str, Cow<'_, RoaringBitmap>)> =
            names.iter().enumerate().map(|(i, n)| (n.as_str(), held(i))).collect();
        let then: Vec<(&str, &RoaringBitmap)> = then.iter().map(|(n, b)| (*n, &**b)).collect();
        now.diff_from(&then)
    };
    let empty = RoaringBitmap::new();
    tags.without_touches(|tags| {
        for (i, name) in names.iter().enumerate() {
            let went = diff.left(name).map_or(&empty, Audience::bitmap);
            let came = diff.entered(name).map_or_else(RoaringBitmap::new, |a| a.bitmap().clone());
            tags.move_member_bits(&values, i, went, came);
        }
    });
    if tags.tracks_changes() {
        for m in diff.moves() {
            let (from, to, audience) = (m.from.clone(), m.to.clone(), m.audience.clone());
            tags.record(ChangeEvent::SegmentMoved { group: group.to_owned(), from, to, audience });
        }
    }
    Ok(diff)
}

/// A query stored as its canonical text (serde), parsed back when read.
mod query_text {
    use crate::query::Query;

    pub(super) fn serialize<S: serde::Serializer>(q: &Query, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(q)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Query, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Query::parse(&text).map_err(serde::de::Error::custom)
    }
}
