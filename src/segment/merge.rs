//! The saved queries' side of tag housekeeping: who reads each tag ([`Segments::readers`],
//! for [`Engine::tag_stats`](crate::Engine::tag_stats)), and merging one tag into another
//! ([`Segments::merge_tags`]): the rule tags' and applied plans' queries that name the merged
//! tag are rewritten to name the tag it is merged into, checked for cycles before anything
//! changes; the bitmaps are the tags layer's to merge ([`Tags::merge`]).

use super::SegmentPlan;
use super::order::Node;
use super::saved::{Segments, cycle_error};
use crate::error::{Error, Result, UsedBy};
use crate::id::TagId;
use crate::query::Query;
use crate::tags::{IdMap, Tags};

/// What [`Engine::merge_tags`](crate::Engine::merge_tags) did: who moved, and which saved
/// queries now name the tag merged into.
///
/// ```
/// use audience::{Engine, UsedBy};
/// let mut engine = Engine::new();
/// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
/// engine.tag(a, "outdoors")?;
/// engine.tag(b, "outdoor")?;
/// engine.define_rule_tag("campers", "outdoors")?;
/// let m = engine.merge_tags("outdoors", "outdoor")?;
/// assert_eq!((m.moved, m.added), (1, 1));
/// assert_eq!(m.rewritten, [UsedBy::RuleTag { name: "campers".into() }]);
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagMerge {
    /// The tag merged, now deleted (normalized).
    pub from: String,
    /// The tag it was merged into (normalized).
    pub into: String,
    /// Customers who carried `from` (all of them carry `into` now).
    pub moved: u64,
    /// Of them, those who did not carry `into` before.
    pub added: u64,
    /// Customers who lost another value of `into`'s exclusive group (`into` wins); 0 for a
    /// tag of no group.
    pub displaced: u64,
    /// The saved queries rewritten to name `into` instead of `from`: rule tags in the order
    /// they were defined, then applied plans' rules in plan order.
    pub rewritten: Vec<UsedBy>,
}

impl Segments {
    /// Per tag, the saved queries that read it: those naming it or one of its ancestors (a
    /// query on `sports` reads `sports/run`). Rule tags in definition order, then each
    /// applied plan's rules in order; each query once per tag. A name no tag has (the query
    /// does not resolve) reads nothing.
    pub(crate) fn readers(&self, tags: &Tags) -> IdMap<Vec<UsedBy>> {
        let mut out: IdMap<Vec<UsedBy>> = IdMap::default();
        let mut read: Vec<TagId> = Vec::new();
        let mut note = |query: &Query, by: UsedBy| {
            read.clear();
            for name in query.tag_names() {
                if let Some(id) = tags.pool().lookup(name) {
                    tags.pool().subtree(id, &mut read);
                }
            }
            read.sort_unstable();
            read.dedup();
            for &t in &read {
                out.entry(t).or_default().push(by.clone());
            }
        };
        for r in &self.rules {
            note(&r.query, UsedBy::RuleTag { name: tags.name_of(r.tag).unwrap_or_default().to_owned() });
        }
        for (group, plan) in &self.plans {
            for rule in plan.rules() {
                note(rule.query(), UsedBy::Plan { group: group.clone(), rule: rule.name().to_owned() });
            }
        }
        out
    }

    /// Merges tag `from` into tag `into` (see [`Engine::merge_tags`](crate::Engine::merge_tags)):
    /// the tags layer checks the pair, the saved queries naming `from` are rewritten and the
    /// dependency graph checked with them, then the bitmaps merge and the rewrites are kept.
    /// Nothing changes on error. The saved queries are not computed again.
    pub(crate) fn merge_tags(&mut self, tags: &mut Tags, from: &str, into: &str) -> Result<TagMerge> {
        // `from` is deleted: named by its own name, as `delete_tag` wants; `into` may be an alias.
        let (from_id, into_id) = (tags.lookup_tag(from)?, tags.lookup(into)?);
        tags.check_merge(from_id, into_id)?;
        let from = tags.name_of(from_id).unwrap_or_default().to_owned();
        let into = tags.name_of(into_id).unwrap_or_default().to_owned();
        // Every rewrite is made, and checked, before anything changes.
        let mut rules: Vec<(usize, Query)> = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let rewritten = r.query.replace_tag(&from, &into).map_err(|e| Error::InRule {
                rule: tags.name_of(r.tag).unwrap_or_default().to_owned(),
                error: Box::new(e),
            })?;
            if let Some(query) = rewritten {
                rules.push((i, query));
            }
        }
        let mut plans: Vec<(usize, SegmentPlan, Vec<String>)> = Vec::new();
        for (i, (_, plan)) in self.plans.iter().enumerate() {
            if let Some((plan, names)) = plan.replace_tag(&from, &into)? {
                plans.push((i, plan, names));
            }
        }
        {
            // `into` may be, or be above, a rule tag, or be a value of a plan's group that
            // the rewritten query comes to read: a cycle is refused.
            let mut graph = self.graph(tags);
            for (i, query) in &rules {
                graph.rules[*i].1 = query;
            }
            for (i, plan, _) in &plans {
                graph.plans[*i].1 = plan.rules().iter().map(|r| r.query()).collect();
            }
            let start: Vec<Node> =
                rules.iter().map(|&(i, _)| Node::Rule(i)).chain(plans.iter().map(|&(i, _, _)| Node::Plan(i))).collect();
            graph.order(&start, &graph.edges()).map_err(|cycle| cycle_error(&graph, &cycle))?;
        }
        let merged = tags.merge(from_id, into_id)?;
        let mut rewritten = Vec::with_capacity(rules.len() + plans.len());
        for (i, query) in rules {
            rewritten.push(UsedBy::RuleTag { name: tags.name_of(self.rules[i].tag).unwrap_or_default().to_owned() });
            self.rules[i].query = query;
        }
        let plan_rewritten = !plans.is_empty();
        for (i, plan, names) in plans {
            let group = &self.plans[i].0;
            rewritten.extend(names.into_iter().map(|rule| UsedBy::Plan { group: group.clone(), rule }));
            self.plans[i].1 = plan;
        }
        if plan_rewritten {
            // A rewritten plan matches `into`'s customers where it matched `from`'s: applying
            // it again must look at all of them, not only at those the merge wrote.
            tags.touch_tag(into_id);
        }
        Ok(TagMerge { from, into, moved: merged.moved, added: merged.added, displaced: merged.displaced, rewritten })
    }
}
