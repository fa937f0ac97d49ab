//! Segment plans and rule tags: evaluated through the planner, kept and computed by the
//! segment layer, written through the tags layer.

use std::borrow::Cow;

use super::Engine;
use super::journal::Op;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::id::TagId;
use crate::query::Query;
use crate::segment::{Inputs, IntoRuleQuery, RulesReport, SegmentDiff, SegmentPlan, Segmentation, Segments};

/// A rule's query, parsed already (or not), passed on as given.
struct Parsed(Result<Query>);

impl IntoRuleQuery for Parsed {
    fn into_query(self) -> Result<Query> {
        self.0
    }
}

impl Engine {
    /// Puts every live customer in exactly one segment of `plan`: the first rule whose query
    /// matches it, else the fallback. Computed with bitmaps: rule `i`'s segment is its query
    /// minus the rules before it, the fallback every live customer no rule matched. Changes
    /// nothing; see [`Engine::apply_plan`] to store the segments as tags.
    ///
    /// Errors: [`Error::InRule`] naming the rule whose query names an unknown tag or
    /// attribute (with suggestions) or is too large.
    pub fn segment(&self, plan: &SegmentPlan) -> Result<Segmentation> {
        Segments::evaluate(&self.planner(), plan, self.threads)
    }

    /// Evaluates `plan` and stores it as exclusive group `group`: one tag per segment
    /// (`campaign:champions`), so `campaign:champions AND NOT vip` is a query. Applying
    /// again (the same plan or a new version of it) moves only the customers whose segment
    /// changed; a value the new plan no longer has stays as an empty tag. Returns who moved
    /// since the group's last state ([`SegmentDiff`]); customers removed since are not in
    /// it (their removal already took them out of every tag).
    ///
    /// The plan is kept and owns the group: its tags cannot be written by hand. Rule tags
    /// and other plans that read the group are computed again after it.
    ///
    /// Applying the same plan again costs what changed, not the customer count: from its
    /// first application on, the engine notes which customers any write touches (tags,
    /// bulk loads, attributes, new and removed customers, renames moving customers under a
    /// parent, expiry), and applying again evaluates the plan for those customers only
    /// (while they are at most 2% of the customers; beyond that, for everyone, which is
    /// cheaper then). The notes are dropped when every saved query is computed again
    /// ([`Engine::refresh_rules`], [`Engine::refresh`]).
    /// [`Engine::refresh`] applies it again after the RFM and stage tags, so a plan may use
    /// `stage:` and `r:`, and its diff is in [`RefreshReport::plans`](crate::RefreshReport::plans).
    ///
    /// ```
    /// use audience::{Engine, SegmentPlan};
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// engine.tag(a, "vip")?;
    /// let plan = SegmentPlan::new([("vips", "vip")], "others")?;
    /// engine.apply_plan("campaign", &plan)?;
    /// assert_eq!(engine.count("campaign:vips")?, 1);
    /// engine.tag(b, "vip")?;
    /// let moved = engine.apply_plan("campaign", &plan)?;
    /// assert_eq!(moved.entered("vips").map(|a| a.len()), Some(1));
    /// assert_eq!(engine.count("campaign:vips AND NOT campaign:others")?, 2);
    /// assert!(engine.tag(a, "campaign:others").is_err()); // the plan owns the group
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::segment`]; [`Error::InvalidTagName`] for a group name with `/`
    /// or `:`; [`Error::DerivedName`] for a group `refresh` owns; [`Error::GroupInUse`] for
    /// a group with hand-written tags; [`Error::RuleCycle`] when the plan reads, through
    /// rule tags, its own group. Nothing changes on error.
    pub fn apply_plan(&mut self, group: &str, plan: &SegmentPlan) -> Result<SegmentDiff> {
        let apply = |e: &mut Engine| {
            let input = Inputs { live: e.customers.live(), attrs: &e.attrs, threads: e.threads };
            e.segments.apply_plan(&mut e.tags, input, group, plan)
        };
        self.logged(apply, |_| Some(Op::ApplyPlan { group, plan: Cow::Borrowed(plan) }))
    }

    /// The applied plans, `(group, plan)`, in the order they were first applied.
    pub fn applied_plans(&self) -> impl Iterator<Item = (&str, &SegmentPlan)> + '_ {
        self.segments.applied().iter().map(|(g, p)| (g.as_str(), p))
    }

    /// Defines rule tag `name`: a tag whose members are whatever `query` says (a saved
    /// audience), computed now, by [`Engine::refresh_rules`] and by [`Engine::refresh`].
    /// Defining an existing rule tag again gives it the new query. A rule may read other
    /// rule tags and applied plans' segments: they are computed in dependency order, and
    /// rule tags that read this one are computed again with it. Between computations a
    /// rule tag keeps the members it was given (a `tag` that changes a customer's match
    /// shows at the next `refresh_rules`).
    ///
    /// The tag belongs to its rule: tagging it by hand is an [`Error::DerivedName`];
    /// deleting it ([`Engine::delete_tag`]) drops the rule; deleting or renaming a tag a
    /// rule reads is an [`Error::TagInUse`] naming the rule.
    ///
    /// ```
    /// use audience::{Engine, TagKind};
    /// let mut engine = Engine::new();
    /// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
    /// engine.tag(a, "vip")?;
    /// engine.tag(b, "outdoor")?;
    /// engine.set_attr(a, "spend", 1_500)?;
    /// engine.define_rule_tag("high_value", "spend >= 1000 AND vip")?;
    /// engine.define_rule_tag("reachable", "high_value OR outdoor")?;
    /// assert_eq!(engine.count("reachable")?, 2);
    /// let err = engine.define_rule_tag("high_value", "reachable").unwrap_err();
    /// assert_eq!(err.to_string().contains("high_value -> reachable -> high_value"), true);
    /// engine.set_attr(b, "spend", 2_000)?;
    /// engine.tag(b, "vip")?;
    /// engine.refresh_rules()?;
    /// assert_eq!(engine.count("high_value")?, 2);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InRule`] naming the rule for a query that does not parse or names
    /// an unknown tag or attribute (with suggestions); [`Error::RuleCycle`] naming the
    /// cycle (`a -> b -> a`) when the rule would read itself; [`Error::TagExists`] for a
    /// name a hand-written tag has; [`Error::DerivedName`] for a name another layer owns;
    /// [`Error::InvalidTagName`] for an invalid name or a value of an exclusive group.
    /// Nothing changes on error.
    pub fn define_rule_tag(&mut self, name: &str, query: impl IntoRuleQuery) -> Result<TagId> {
        if self.journal.0.is_none() {
            let input = Inputs { live: self.customers.live(), attrs: &self.attrs, threads: self.threads };
            return self.segments.define_rule(&mut self.tags, input, name, query);
        }
        let parsed = query.into_query();
        let query = parsed.as_ref().ok().cloned();
        let apply = |e: &mut Engine| {
            let input = Inputs { live: e.customers.live(), attrs: &e.attrs, threads: e.threads };
            e.segments.define_rule(&mut e.tags, input, name, Parsed(parsed)) // its errors as without a journal
        };
        self.logged(apply, |_| query.as_ref().map(|q| Op::DefineRuleTag { name, query: Cow::Borrowed(q) }))
    }

    /// The rule tags, `(name, query)`, in the order they were defined.
    pub fn rule_tags(&self) -> impl Iterator<Item = (&str, &Query)> + '_ {
        self.segments.rule_tags(&self.tags)
    }

    /// Computes every rule tag and applied plan again from the tags as they are now, each
    /// after what it reads; who joined and left each rule tag, who moved in each plan.
    /// ([`Engine::refresh`] does this too, after the RFM and stage tags.)
    ///
    /// Errors: [`Error::InRule`] when a saved query no longer resolves; nothing changes then.
    pub fn refresh_rules(&mut self) -> Result<RulesReport> {
        let apply = |e: &mut Engine| {
            let input = Inputs { live: e.customers.live(), attrs: &e.attrs, threads: e.threads };
            e.segments.check(&e.tags, input)?;
            e.segments.compute_all(&mut e.tags, input)
        };
        self.logged(apply, |_| Some(Op::RefreshRules))
    }
}
