//! What a refresh reports: [`RefreshReport`], [`StageTransition`], and one customer's
//! [`RfmScores`]; the counts are read off the derived tags.

use crate::audience::Audience;
use crate::history::Day;
use crate::lifecycle::Stage;
use crate::rfm::RfmGrid;
use crate::segment::{RuleUpdate, SegmentDiff};
use crate::tags::Tags;

use super::apply::DerivedTags;

/// A customer's RFM figures as of the last refresh, from [`Engine::rfm_of`](crate::Engine::rfm_of).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RfmScores<'a> {
    /// Days from the last purchase to the as-of day.
    pub recency_days: i64,
    /// Purchases on or before the as-of day.
    pub frequency: u32,
    /// Sum of every amount on or before the as-of day, refunds included, in minor units.
    pub monetary: i64,
    /// Recency score, 1-5 (5: most recent).
    pub r: u8,
    /// Frequency score, 1-5.
    pub f: u8,
    /// Monetary score, 1-5.
    pub m: u8,
    /// The named RFM segment.
    pub segment: &'a str,
}

/// Customers who moved from one lifecycle stage to another between two refreshes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StageTransition {
    /// The stage at the previous refresh; `None` for customers that had none (the first
    /// refresh, customers added since, and customers removed and registered anew).
    pub from: Option<Stage>,
    /// The stage now.
    pub to: Stage,
    /// How many moved.
    pub count: u64,
    /// Who moved.
    pub audience: Audience,
}

/// What a [`refresh`](crate::Engine::refresh) computed.
///
/// # How a refresh runs
///
/// A refresh is planned first (no mutation, so an error changes nothing)
/// and then applied. It is incremental where it pays:
///
/// - Per-customer summaries (first, last and comeback purchase, count, money total) of the
///   last refresh are kept. When the as-of day does not move back and the windows are
///   unchanged, only customers with new purchases, removed customers, and customers with
///   purchases dated after the previous as-of day are read again from the history.
/// - Scores and stages are recomputed from the summaries (one pass of arithmetic: the
///   quantile cut points move when anyone's metric moves), and only the customers whose
///   scores, segment or stage changed are moved between tags, with one sorted bitmap
///   union and difference per tag.
/// - `recency_days` is stored as the day of the last purchase and read as `as_of - day`, so
///   a new as-of day rewrites no recency value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RefreshReport {
    /// The as-of day.
    pub as_of: Day,
    /// Live customers (each has a stage).
    pub customers: u64,
    /// Customers with RFM scores (a purchase on or before the as-of day).
    pub scored: u64,
    /// Customers per stage, every stage in [`Stage::ALL`] order.
    pub stages: Vec<(Stage, u64)>,
    /// Customers per RFM segment, every segment of the grid in its order.
    pub segments: Vec<(String, u64)>,
    /// Stage changes since the previous refresh, ordered by (from, to); customers whose
    /// stage did not change are not listed.
    pub transitions: Vec<StageTransition>,
    /// Whether only changed customers' history was read (else every customer's was: the
    /// first refresh, an earlier as-of day than before, or a new churn window, which
    /// decides what a comeback is).
    pub incremental: bool,
    /// Customers whose purchase history was read.
    pub recomputed: u64,
    /// Per applied segment plan ([`Engine::apply_plan`](crate::Engine::apply_plan)), its
    /// group and who moved between its segments, in the order they were computed (each
    /// after the rule tags and plans it reads).
    pub plans: Vec<(String, SegmentDiff)>,
    /// Per rule tag ([`Engine::define_rule_tag`](crate::Engine::define_rule_tag)), who
    /// joined and who left it, in the order they were computed.
    pub rules: Vec<RuleUpdate>,
    /// Expiring (customer, tag) assignments this refresh removed: those ending on the as-of
    /// day or before ([`Engine::expire`](crate::Engine::expire), run before the derived tags
    /// and the segment plans are written, so a plan sees them gone).
    pub expired: u64,
}

impl RefreshReport {
    /// Customers in `stage`.
    pub fn stage_count(&self, stage: Stage) -> u64 {
        self.stages.iter().find(|(s, _)| *s == stage).map_or(0, |&(_, n)| n)
    }

    /// Customers in RFM segment `segment` (0 for a name not in the grid).
    pub fn segment_count(&self, segment: &str) -> u64 {
        self.segments.iter().find(|(s, _)| s == segment).map_or(0, |&(_, n)| n)
    }

    /// The customers who moved from `from` to `to`, if any did.
    pub fn transition(&self, from: Option<Stage>, to: Stage) -> Option<&StageTransition> {
        self.transitions.iter().find(|t| t.from == from && t.to == to)
    }
}

/// Customers per stage, read off the derived tags.
pub(super) fn stage_counts(tags: &Tags, groups: &DerivedTags) -> Vec<(Stage, u64)> {
    Stage::ALL.iter().map(|s| (*s, tags.members(&groups.stage, s.index()).len())).collect()
}

/// Customers per segment of `grid`, in its order.
pub(super) fn segment_counts(tags: &Tags, groups: &DerivedTags, grid: &RfmGrid) -> Vec<(String, u64)> {
    grid.names().enumerate().map(|(i, n)| (n.to_owned(), tags.members(&groups.segment, i).len())).collect()
}
