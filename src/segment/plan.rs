//! [`SegmentPlan`]: ordered rules and a fallback, validated when built, data in serde form.

use std::fmt;

use crate::error::{Error, NameProblem, PlanProblem, Result};
use crate::query::Query;
use crate::tags::normalize_tag;

/// The most rules a [`SegmentPlan`] may have: 1,024. A plan's cost grows with its rules
/// (one query and one difference each), and comparing two segmentations with the number of
/// segments squared at worst (who moved from which to which), so the limit bounds what one
/// plan can cost. A longer plan is an [`Error::InvalidPlan`] with
/// [`PlanProblem::TooManyRules`], refused before its rules are checked further.
pub const MAX_PLAN_RULES: usize = 1_024;

/// One rule of a [`SegmentPlan`]: a segment name and the query that puts customers in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRule {
    name: String,
    query: Query,
}

impl SegmentRule {
    /// The segment's name (its tag is `<group>:<name>` once the plan is applied).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's query.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// `e`, raised while evaluating this rule, as an error naming the rule.
    pub(crate) fn error(&self, e: Error) -> Error {
        Error::InRule { rule: self.name.clone(), error: Box::new(e) }
    }
}

/// An exclusive segment plan: an ordered list of rules `(name, query)` and a fallback name.
/// Evaluated ([`Engine::segment`](crate::Engine::segment)), it puts every live customer in
/// exactly one segment: the first rule whose query matches it, else the fallback. Stored
/// ([`Engine::apply_plan`](crate::Engine::apply_plan)), each segment is a tag of one
/// exclusive group, so segments are reachable from the query language.
///
/// A plan is data: it serializes (serde) as
/// `{"rules": [{"name": "champions", "query": "r:5 AND f:5"}, ...], "fallback": "everyone_else"}`
/// (queries in canonical text), and deserializing validates it as [`SegmentPlan::new`] does.
///
/// ```
/// use audience::SegmentPlan;
/// let plan = SegmentPlan::new([("champions", "r:5 AND f:5"), ("at_risk_vip", "stage:at_risk AND vip")], "everyone_else")?;
/// assert_eq!(plan.names().collect::<Vec<_>>(), ["champions", "at_risk_vip", "everyone_else"]);
/// assert!(SegmentPlan::new([("a", "vip"), ("a", "new")], "rest").is_err()); // duplicate names
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawPlan", into = "RawPlan")]
pub struct SegmentPlan {
    rules: Vec<SegmentRule>,
    fallback: String,
}

impl SegmentPlan {
    /// A plan of `rules` (`(name, query)`: query text or a built [`Query`]) and a fallback.
    ///
    /// Errors: [`Error::InvalidPlan`] for no rules, more than [`MAX_PLAN_RULES`], two rules
    /// with one name, a fallback named like a rule, or a name that is empty, has `/` or `:`,
    /// or breaks the tag-name rules;
    /// [`Error::InRule`] (naming the rule, with the parse error and its span) for query text
    /// that does not parse. Unknown tags and attributes are found when the plan is evaluated
    /// against an engine.
    pub fn new<N, Q>(rules: impl IntoIterator<Item = (N, Q)>, fallback: &str) -> Result<SegmentPlan>
    where
        N: AsRef<str>,
        Q: IntoRuleQuery,
    {
        let mut checked: Vec<SegmentRule> = Vec::new();
        for (name, query) in rules {
            if checked.len() == MAX_PLAN_RULES {
                return Err(Error::InvalidPlan { reason: PlanProblem::TooManyRules { limit: MAX_PLAN_RULES } });
            }
            let name = check_name(name.as_ref())?;
            let query = query.into_query().map_err(|e| Error::InRule { rule: name.clone(), error: Box::new(e) })?;
            if checked.iter().any(|r| r.name == name) {
                return Err(Error::InvalidPlan { reason: PlanProblem::DuplicateName { name } });
            }
            checked.push(SegmentRule { name, query });
        }
        if checked.is_empty() {
            return Err(Error::InvalidPlan { reason: PlanProblem::NoRules });
        }
        let fallback = check_name(fallback)?;
        if checked.iter().any(|r| r.name == fallback) {
            return Err(Error::InvalidPlan { reason: PlanProblem::FallbackIsRule { name: fallback } });
        }
        Ok(SegmentPlan { rules: checked, fallback })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[SegmentRule] {
        &self.rules
    }

    /// The fallback segment's name.
    pub fn fallback(&self) -> &str {
        &self.fallback
    }

    /// The plan with each tag name of its queries that `rename` maps replaced (see
    /// [`Query::renamed`]), or `None` when it maps none.
    pub(crate) fn renamed(&self, rename: impl Fn(&str) -> Option<Box<str>>) -> Result<Option<SegmentPlan>> {
        Ok(self.renamed_rules(rename)?.map(|(plan, _)| plan))
    }

    /// Every segment's name: the rules' in order, then the fallback.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.iter().map(|r| r.name.as_str()).chain([self.fallback.as_str()])
    }

    /// This plan with every tag term `from` (a normalized name) reading `into` instead, and
    /// the rules that named it, in order; `None` when no rule names `from` (see
    /// [`Query::replace_tag`]). Errors name the rule ([`Error::InRule`]).
    pub(crate) fn replace_tag(&self, from: &str, into: &str) -> Result<Option<(SegmentPlan, Vec<String>)>> {
        self.renamed_rules(|n| (n == from).then(|| into.into()))
    }

    /// The plan with each tag name `rename` maps replaced, and the rules it changed, in
    /// order; `None` when it changes none. Errors name the rule ([`Error::InRule`]).
    fn renamed_rules(&self, rename: impl Fn(&str) -> Option<Box<str>>) -> Result<Option<(SegmentPlan, Vec<String>)>> {
        let mut rules = self.rules.clone();
        let mut rewritten = Vec::new();
        for rule in &mut rules {
            if let Some(query) = rule.query.renamed(&rename).map_err(|e| rule.error(e))? {
                rule.query = query;
                rewritten.push(rule.name.clone());
            }
        }
        let plan = SegmentPlan { rules, fallback: self.fallback.clone() };
        Ok((!rewritten.is_empty()).then_some((plan, rewritten)))
    }
}

impl fmt::Display for SegmentPlan {
    /// One line per rule, `name: query`, then `else: fallback`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rules {
            writeln!(f, "{}: {}", r.name, r.query)?;
        }
        write!(f, "else: {}", self.fallback)
    }
}

/// What a rule's query can be given as: query text (parsed) or a [`Query`].
pub trait IntoRuleQuery {
    /// The query, parsed if needed.
    fn into_query(self) -> Result<Query>;
}

impl IntoRuleQuery for &str {
    fn into_query(self) -> Result<Query> {
        Query::parse(self)
    }
}

impl IntoRuleQuery for String {
    fn into_query(self) -> Result<Query> {
        Query::parse(&self)
    }
}

impl IntoRuleQuery for &String {
    fn into_query(self) -> Result<Query> {
        Query::parse(self)
    }
}

impl IntoRuleQuery for Query {
    fn into_query(self) -> Result<Query> {
        Ok(self)
    }
}

/// A segment name: a valid tag-name level without `/` or `:` (it becomes `<group>:<name>`).
fn check_name(raw: &str) -> Result<String> {
    let invalid = |reason| Error::InvalidPlan { reason: PlanProblem::InvalidName { name: raw.to_owned(), reason } };
    let norm = normalize_tag(raw).map_err(|e| match e {
        Error::InvalidTagName { reason, .. } => invalid(reason),
        e => e,
    })?;
    if norm.contains(['/', ':']) {
        return Err(invalid(NameProblem::SegmentSeparator));
    }
    Ok(norm.into_owned())
}

/// The serde form of a plan. Unknown fields are refused, so a misspelt `"fallbak"` is
/// named as such rather than reported as a missing `fallback`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    rules: Vec<RawRule>,
    fallback: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    query: String,
}

impl TryFrom<RawPlan> for SegmentPlan {
    type Error = Error;

    fn try_from(raw: RawPlan) -> Result<SegmentPlan> {
        SegmentPlan::new(raw.rules.into_iter().map(|r| (r.name, r.query)), &raw.fallback)
    }
}

impl From<SegmentPlan> for RawPlan {
    fn from(plan: SegmentPlan) -> RawPlan {
        RawPlan {
            rules: plan.rules.iter().map(|r| RawRule { name: r.name.clone(), query: r.query.to_string() }).collect(),
            fallback: plan.fallback,
        }
    }
}
