//! The segment layer: exclusive segment plans. A [`SegmentPlan`] is an ordered list of rules
//! and a fallback; evaluating it puts every live customer in exactly one segment (the first
//! rule that matches, else the fallback), with bitmap differences, never per customer.
//!
//! - `plan.rs`: [`SegmentPlan`], its validation and its serde form.
//! - `mod.rs`: [`Segmentation`] (one plan's segments), [`SegmentDiff`] (who moved between
//!   two of them).
//! - `saved.rs`: the layer's state, saved queries materialized as tags: plans applied as
//!   exclusive groups and rule tags (saved audiences), computed when defined, by
//!   `refresh_rules` and by `refresh`. It reads audiences through the planner and writes
//!   through the tags layer, as `refresh/` does.
//! - `order.rs`: the order saved queries are computed in (each after what it reads), and
//!   cycles.
//! - `merge.rs`: tag housekeeping's side here: who reads each tag, and the rewrite of the
//!   saved queries when one tag is merged into another ([`TagMerge`]).

mod merge;
mod order;
mod persist;
mod plan;
mod saved;

use roaring::{MultiOps, RoaringBitmap};

use crate::audience::Audience;
use crate::id::CustomerId;

pub use merge::TagMerge;
pub use plan::{IntoRuleQuery, MAX_PLAN_RULES, SegmentPlan, SegmentRule};
pub(crate) use saved::{Inputs, Segments};
pub use saved::{RuleUpdate, RulesReport};

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
        let then: Vec<(&str, &RoaringBitmap)> = previous.iter().map(|(n, a)| (n, a.bitmap())).collect();
        self.diff_from(&then)
    }

    /// [`Segmentation::diff`] from segments given as borrowed bitmaps (a group's value tags),
    /// so nothing is copied to compare.
    pub(crate) fn diff_from(&self, previous: &[(&str, &RoaringBitmap)]) -> SegmentDiff {
        let bits = |name: &str| previous.iter().find(|(n, _)| *n == name).map(|&(_, b)| b);
        let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        names.extend(previous.iter().map(|&(n, _)| n).filter(|n| !self.names.iter().any(|m| m == n)));
        let empty = RoaringBitmap::new();
        let mut entered = Vec::new();
        let mut left = Vec::new();
        for name in names {
            let now = self.audience(name).map_or(&empty, Audience::bitmap);
            let then = bits(name).unwrap_or(&empty);
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
