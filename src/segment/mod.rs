//! The segment layer: exclusive segment plans. A [`SegmentPlan`] is an ordered list of rules
//! and a fallback; evaluating it puts every live customer in exactly one segment (the first
//! rule that matches, else the fallback), with bitmap differences, never per customer.
//!
//! - `plan.rs`: [`SegmentPlan`], its validation and its serde form.
//! - `mod.rs`: [`Segmentation`] (one plan's segments), [`SegmentDiff`] (who moved between
//!   two of them), and the layer's state: the plans applied as exclusive groups, which
//!   `refresh` re-evaluates. It reads audiences through the planner and writes through the
//!   tags layer's derived-group API, as `refresh/` does.

mod plan;

use roaring::{MultiOps, RoaringBitmap};

use crate::attrs::Attrs;
use crate::audience::Audience;
use crate::error::Result;
use crate::id::CustomerId;
use crate::query::Planner;
use crate::tags::{TagKind, Tags};

pub use plan::{IntoRuleQuery, SegmentPlan, SegmentRule};

/// One plan's segments: every live customer in exactly one, in plan order (the fallback
/// last). From [`Engine::segment`](crate::Engine::segment).
///
/// ```
/// use audience::{Engine, SegmentPlan};
/// let mut engine = Engine::new();
/// for (key, tag) in [("a", "vip"), ("b", "vip"), ("c", "new")] {
///     let c = engine.customer(key)?;
///     engine.tag(c, tag)?;
/// }
/// let plan = SegmentPlan::new([("vips", "vip"), ("newcomers", "new OR vip")], "everyone_else")?;
/// let s = engine.segment(&plan)?;
/// let sizes: Vec<(&str, u64)> = s.iter().map(|(name, a)| (name, a.len())).collect();
/// assert_eq!(sizes, [("vips", 2), ("newcomers", 1), ("everyone_else", 0)]); // first match wins
/// assert_eq!(s.segment_of(engine.id_of("c").unwrap()), Some("newcomers"));
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Segmentation {
    names: Vec<String>,
    members: Vec<Audience>,
}

impl Segmentation {
    /// The segments in plan order, the fallback last, each with its customers.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Audience)> + '_ {
        self.names.iter().map(String::as_str).zip(&self.members)
    }

    /// How many segments (the rules and the fallback).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always `false`: a plan has at least one rule and a fallback.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The customers of segment `name`, if the plan has it.
    pub fn audience(&self, name: &str) -> Option<&Audience> {
        self.names.iter().position(|n| n == name).map(|i| &self.members[i])
    }

    /// How many customers segment `name` has (0 for a name the plan does not have).
    pub fn size(&self, name: &str) -> u64 {
        self.audience(name).map_or(0, Audience::len)
    }

    /// The segment of `customer`; `None` for a customer that was not live when the plan was
    /// evaluated.
    pub fn segment_of(&self, customer: CustomerId) -> Option<&str> {
        self.iter().find(|(_, a)| a.contains(customer)).map(|(name, _)| name)
    }

    /// Who moved from `previous` to this segmentation. Segments are matched by name, so two
    /// versions of a plan can be compared; a customer in no segment of one side (not live
    /// then) moves from or to `None`.
    ///
    /// ```
    /// use audience::{Engine, SegmentPlan, TagKind};
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// engine.define_tag("vip", TagKind::Value)?; // a rule's tags must exist
    /// let plan = SegmentPlan::new([("vips", "vip")], "rest")?;
    /// let before = engine.segment(&plan)?;
    /// engine.tag(a, "vip")?;
    /// let diff = engine.segment(&plan)?.diff(&before);
    /// assert_eq!(diff.entered("vips").map(|a| a.len()), Some(1));
    /// assert_eq!(diff.left("rest").map(|a| a.len()), Some(1));
    /// let m = &diff.moves()[0];
    /// assert_eq!((m.from.as_deref(), m.to.as_deref(), m.audience.len()), (Some("rest"), Some("vips"), 1));
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn diff(&self, previous: &Segmentation) -> SegmentDiff {
        fn bits<'s>(s: &'s Segmentation, name: &str) -> Option<&'s RoaringBitmap> {
            s.audience(name).map(Audience::bitmap)
        }
        let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        names.extend(previous.names.iter().map(String::as_str).filter(|n| !self.names.iter().any(|m| m == n)));
        let empty = RoaringBitmap::new();
        let mut entered = Vec::new();
        let mut left = Vec::new();
        for name in names {
            let (now, then) = (bits(self, name).unwrap_or(&empty), bits(previous, name).unwrap_or(&empty));
            let (came, went) = (now - then, then - now);
            if !came.is_empty() {
                entered.push((name.to_owned(), Audience::from(came)));
            }
            if !went.is_empty() {
                left.push((name.to_owned(), Audience::from(went)));
            }
        }
        // Moves from the entries and exits alone, so the work follows the movers: a customer
        // who entered `to` and left `from` moved from `from` to `to`; one who entered and
        // left nothing was in no segment before, one who left and entered nothing is in none
        // now.
        let all_entered = entered.iter().map(|(_, a)| a.bitmap()).union();
        let all_left = left.iter().map(|(_, a)| a.bitmap()).union();
        let mut moves = Vec::new();
        let mut push = |from: Option<&str>, to: Option<&str>, moved: RoaringBitmap| {
            if !moved.is_empty() {
                let (from, to) = (from.map(str::to_owned), to.map(str::to_owned));
                moves.push(SegmentMove { from, to, audience: Audience::from(moved) });
            }
        };
        for (from, went) in &left {
            for (to, came) in &entered {
                if from != to {
                    push(Some(from), Some(to), went.bitmap() & came.bitmap());
                }
            }
            push(Some(from), None, went.bitmap() - &all_entered);
        }
        for (to, came) in &entered {
            push(None, Some(to), came.bitmap() - &all_left);
        }
        SegmentDiff { entered, left, moves }
    }
}

/// Who moved between two [`Segmentation`]s of a plan: per segment who entered and who
/// left, and the moves between segments. Segments and moves with nobody are not listed.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub struct SegmentDiff {
    entered: Vec<(String, Audience)>,
    left: Vec<(String, Audience)>,
    moves: Vec<SegmentMove>,
}

/// Customers who moved from one segment to another.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SegmentMove {
    /// Their segment before; `None` for customers that were in none (not live then).
    pub from: Option<String>,
    /// Their segment now; `None` for customers in none (no longer live).
    pub to: Option<String>,
    /// Who moved.
    pub audience: Audience,
}

impl SegmentDiff {
    /// Whether nobody moved.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
    }

    /// The customers who entered segment `name` (`None` when nobody did).
    pub fn entered(&self, name: &str) -> Option<&Audience> {
        self.entered.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// The customers who left segment `name` (`None` when nobody did).
    pub fn left(&self, name: &str) -> Option<&Audience> {
        self.left.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// Every segment that someone entered, with who, in plan order (then segments only the
    /// previous plan had).
    pub fn entries(&self) -> &[(String, Audience)] {
        &self.entered
    }

    /// Every segment that someone left, with who, in the same order.
    pub fn exits(&self) -> &[(String, Audience)] {
        &self.left
    }

    /// The moves: per segment customers left, in plan order, the segments they entered in
    /// plan order and then `None` (no longer live); then the customers that were in no
    /// segment (new since), by the segment they entered.
    pub fn moves(&self) -> &[SegmentMove] {
        &self.moves
    }
}

/// The plans applied as exclusive groups, in the order they were applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct Segments {
    applied: Vec<(String, SegmentPlan)>,
}

impl Segments {
    /// Evaluates `plan`: rule `i`'s segment is its query's customers minus those of the rules
    /// before it; the fallback is every live customer no rule matched.
    pub(crate) fn evaluate(planner: &Planner<'_>, plan: &SegmentPlan) -> Result<Segmentation> {
        let mut taken = RoaringBitmap::new();
        let mut members = Vec::with_capacity(plan.rules().len() + 1);
        for rule in plan.rules() {
            let bits = planner.select(rule.query()).map_err(|e| rule.error(e))?;
            let mine = if taken.is_empty() { bits } else { bits - &taken };
            taken |= &mine;
            members.push(Audience::from(mine));
        }
        members.push(Audience::from(planner.live - &taken));
        Ok(Segmentation { names: plan.names().map(str::to_owned).collect(), members })
    }

    /// Applies `plan`, evaluated as `now`, as exclusive group `group` (normalized): one
    /// value tag per segment, customers moved only where their segment changed; who moved.
    /// The plan is kept, and `refresh` applies it again.
    pub(crate) fn apply(
        &mut self,
        tags: &mut Tags,
        group: &str,
        plan: &SegmentPlan,
        now: &Segmentation,
    ) -> Result<SegmentDiff> {
        let diff = write(tags, group, plan, now)?;
        match self.applied.iter_mut().find(|(g, _)| g == group) {
            Some((_, p)) => *p = plan.clone(),
            None => self.applied.push((group.to_owned(), plan.clone())),
        }
        Ok(diff)
    }

    /// Checks that every applied plan still resolves (its tags and attributes exist), so a
    /// refresh can re-apply them after it wrote its own tags.
    pub(crate) fn check(&self, planner: &Planner<'_>) -> Result<()> {
        for (_, plan) in &self.applied {
            for rule in plan.rules() {
                planner.resolves(rule.query()).map_err(|e| rule.error(e))?;
            }
        }
        Ok(())
    }

    /// Applies every kept plan again (after `refresh` wrote the tags they may read), in the
    /// order they were first applied; per plan its group and who moved.
    pub(crate) fn reapply(
        &self,
        tags: &mut Tags,
        live: &RoaringBitmap,
        attrs: &Attrs,
    ) -> Result<Vec<(String, SegmentDiff)>> {
        let mut diffs = Vec::with_capacity(self.applied.len());
        for (group, plan) in &self.applied {
            let now = Segments::evaluate(&Planner { pool: tags.pool(), store: tags.store(), live, attrs }, plan)?;
            diffs.push((group.clone(), write(tags, group, plan, &now)?));
        }
        Ok(diffs)
    }

    /// The applied plans, `(group, plan)`, in the order they were first applied.
    pub(crate) fn applied(&self) -> &[(String, SegmentPlan)] {
        &self.applied
    }
}

/// Writes segmentation `now` of `plan` into group `group`; who moved since what the group
/// held.
fn write(tags: &mut Tags, group: &str, plan: &SegmentPlan, now: &Segmentation) -> Result<SegmentDiff> {
    let values = tags.derived_group(group, TagKind::Custom, plan.names())?;
    // What the group holds now, by the plan's names; values of an earlier plan it no longer
    // has are read too, so their customers are seen leaving.
    let (names, members) = tags.group_members(group).into_iter().map(|(n, bits)| (n, Audience::from(bits))).unzip();
    let before = Segmentation { names, members };
    let diff = now.diff(&before);
    let listed: Vec<&str> = plan.names().collect();
    let stale = before.names.iter().any(|n| !listed.contains(&n.as_str()) && before.size(n) > 0);
    if stale {
        tags.clear_group(&values); // a value the plan no longer has: start from empty
        for (i, (_, seg)) in now.iter().enumerate() {
            tags.replace_members(&values, i, seg.bitmap().clone());
        }
    } else {
        let empty = RoaringBitmap::new();
        for (i, (name, seg)) in now.iter().enumerate() {
            let then = before.audience(name).map_or(&empty, Audience::bitmap);
            tags.move_member_bits(&values, i, &(then - seg.bitmap()), seg.bitmap() - then);
        }
    }
    Ok(diff)
}
