//! The refresh layer: purchase history -> RFM scores, segments and lifecycle stages, stored
//! as derived tags and attributes, with a report of what moved.
//!
//! - `mod.rs`: [`Models`], the configuration and the last refresh's state (per-customer
//!   summaries and codes), and [`Models::refresh`], which runs the steps below.
//! - `plan.rs`: what a refresh writes, computed without mutating anything, as typed diffs.
//! - `apply.rs`: the diffs written through [`Tags`]' derived-group API and [`Attrs`].
//! - `report.rs`: [`RefreshReport`] and the other types the refresh hands out.
//!
//! How a refresh is incremental is documented on [`RefreshReport`]. Its per-customer steps
//! (the history's sort by customer and summaries, the codes and diffs, the derived
//! attributes' slices) run on [`Threads`](crate::par::Threads), each cut into ranges of
//! customers whose results are joined in order: the same plan at any thread count.

mod apply;
mod persist;
mod plan;
mod report;

use roaring::RoaringBitmap;

use crate::attrs::Attrs;
use crate::audience::Audience;
use crate::customers::Directory;
use crate::error::{Error, Result};
use crate::feed::ChangeEvent;
use crate::history::{Day, History, Summary};
use crate::lifecycle::{Lifecycle, Stage};
use crate::par::Threads;
use crate::rfm::RfmModel;
use crate::tags::Tags;
use apply::DerivedTags;

pub use report::{RefreshReport, RfmScores, StageTransition};

/// One customer's scores and stage as of the last refresh.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, bytemuck::Zeroable)]
pub(crate) struct Code {
    /// 0 when the customer has no purchase on or before the as-of day.
    pub(crate) r: u8,
    pub(crate) f: u8,
    pub(crate) m: u8,
    pub(crate) seg: u8,
    pub(crate) stage: u8,
}

impl Code {
    fn scored(&self) -> bool {
        self.r > 0
    }
}

/// The state of the last refresh.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    as_of: i32,
    rfm: RfmModel,
    lifecycle: Lifecycle,
    scored: u64,
    /// Customers with purchase records, ascending, and their summaries and codes.
    ids: Vec<u32>,
    sums: Vec<Summary>,
    codes: Vec<Code>,
    live: RoaringBitmap,
}

impl Snapshot {
    /// The state before any refresh.
    fn empty(as_of: i32, rfm: &RfmModel, lifecycle: Lifecycle) -> Snapshot {
        Snapshot {
            as_of,
            rfm: rfm.clone(),
            lifecycle,
            scored: 0,
            ids: Vec::new(),
            sums: Vec::new(),
            codes: Vec::new(),
            live: RoaringBitmap::new(),
        }
    }
}

/// The models' configuration and the last refresh's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Models {
    pub(crate) rfm: RfmModel,
    pub(crate) lifecycle: Lifecycle,
    /// Shared with the engine's clones and readers (a refresh replaces it).
    last: Option<std::sync::Arc<Snapshot>>,
    /// The derived groups the last refresh wrote.
    derived: Option<DerivedTags>,
    /// Customers removed since the last refresh.
    removed: RoaringBitmap,
    /// Customers with purchases recorded since the last refresh.
    touched: RoaringBitmap,
}

/// No previous row (`prev` of a new customer, or one removed since).
const NO_ROW: u32 = u32::MAX;

impl Models {
    pub(crate) fn note_removed(&mut self, customer: u32) {
        self.removed.insert(customer);
    }

    pub(crate) fn note_removed_all(&mut self, customers: &RoaringBitmap) {
        self.removed |= customers;
    }

    /// Notes customers with new purchase records (ascending).
    pub(crate) fn note_touched(&mut self, customers: &[u32]) {
        self.touched |= RoaringBitmap::from_sorted_iter(customers.iter().copied()).expect("ascending");
    }

    /// Whether a refresh as of `as_of` would change nothing: same day, same models, same
    /// live customers, no purchase recorded and no customer removed since the last one.
    /// Then the last refresh's customers with RFM scores and the groups it wrote.
    fn unchanged(&self, as_of: Day, live: &RoaringBitmap) -> Option<(u64, &DerivedTags)> {
        let s = self.last.as_ref()?;
        let groups = self.derived.as_ref()?;
        let same = s.as_of == as_of.days_since_epoch()
            && self.touched.is_empty()
            && self.removed.is_empty()
            && s.rfm == self.rfm
            && s.lifecycle == self.lifecycle
            && s.live == *live;
        same.then_some((s.scored, groups))
    }

    pub(crate) fn last_as_of(&self) -> Option<Day> {
        self.last.as_ref().and_then(|s| Day::from_days_since_epoch(s.as_of))
    }

    /// The last refresh's figures for `customer`: `None` when there was no refresh or the
    /// customer has no purchase record; else the summary and code.
    fn row(&self, customer: u32) -> Option<(&Snapshot, usize)> {
        let s = self.last.as_ref()?;
        let i = s.ids.binary_search(&customer).ok()?;
        Some((s, i))
    }

    /// The stage of a live customer at the last refresh (`None` if there was none, or the
    /// customer was added or removed since).
    pub(crate) fn stage_of(&self, customer: u32) -> Option<Stage> {
        let s = self.last.as_ref()?;
        if self.removed.contains(customer) || !s.live.contains(customer) {
            return None;
        }
        Some(match self.row(customer) {
            Some((s, i)) => Stage::ALL[usize::from(s.codes[i].stage)],
            None => Stage::Prospect,
        })
    }

    pub(crate) fn rfm_of(&self, customer: u32) -> Option<RfmScores<'_>> {
        if self.removed.contains(customer) {
            return None;
        }
        let (s, i) = self.row(customer)?;
        let (sum, code) = (&s.sums[i], &s.codes[i]);
        if !code.scored() {
            return None;
        }
        Some(RfmScores {
            recency_days: i64::from(s.as_of) - i64::from(sum.last),
            frequency: sum.count,
            monetary: sum.monetary, // checked to fit when the refresh was planned
            r: code.r,
            f: code.f,
            m: code.m,
            segment: s.rfm.segments().name(code.seg),
        })
    }

    /// Refreshes as of `as_of`: the history flushed, a plan made (nothing changes on
    /// error), the expiring tags due by `as_of` removed ([`Tags::expire`]), the plan applied
    /// to the derived tags and attributes, and reported; the models keep the plan's state for
    /// the next, incremental, refresh.
    pub(crate) fn refresh(
        &mut self,
        as_of: Day,
        customers: &Directory,
        history: &mut History,
        tags: &mut Tags,
        attrs: &mut Attrs,
        threads: Threads,
    ) -> Result<RefreshReport> {
        let live = customers.live();
        let quiet = !history.has_pending();
        if let Some((scored, groups)) = self.unchanged(as_of, live).filter(|_| quiet) {
            // Same day, same models, nothing new: the derived data is current.
            let expired = tags.expire(as_of);
            return Ok(RefreshReport {
                expired,
                ..self.report(tags, groups, live, as_of, scored, Vec::new(), (true, 0))
            });
        }
        let touched = history.flush(threads);
        self.note_touched(&touched);
        let mut plan = self.plan(history, live, as_of, threads).map_err(|e| match e {
            Error::MonetaryOverflow { customer, .. } => {
                Error::MonetaryOverflow { customer, key: customers.key_of(customer).map(str::to_owned) }
            }
            e => e,
        })?;
        // The plan (which reads no tag) is made: expiring tags go before anything is written.
        let expired = tags.expire(as_of);
        let groups = apply::apply(&mut plan, tags, attrs, live, as_of, threads)?;
        let transitions: Vec<StageTransition> = std::mem::take(&mut plan.transitions)
            .into_iter()
            .map(|(from, to, bits)| StageTransition { from, to, count: bits.len(), audience: Audience::from(bits) })
            .collect();
        if tags.tracks_changes() {
            for t in &transitions {
                tags.record(ChangeEvent::StageChanged { from: t.from, to: t.to, audience: t.audience.clone() });
            }
        }
        let report = RefreshReport {
            expired,
            ..self.report(tags, &groups, live, as_of, plan.scored, transitions, (plan.incremental, plan.recomputed))
        };
        self.last = Some(std::sync::Arc::new(plan.next));
        self.derived = Some(groups);
        self.removed.clear();
        self.touched.clear();
        Ok(report)
    }

    /// A report read off the derived tags; `work`: whether the refresh was incremental, and
    /// how many customers' history it read.
    #[allow(clippy::too_many_arguments)] // each is one figure of the report
    fn report(
        &self,
        tags: &Tags,
        groups: &DerivedTags,
        live: &RoaringBitmap,
        as_of: Day,
        scored: u64,
        transitions: Vec<StageTransition>,
        (incremental, recomputed): (bool, u64),
    ) -> RefreshReport {
        RefreshReport {
            as_of,
            customers: live.len(),
            scored,
            stages: report::stage_counts(tags, groups),
            segments: report::segment_counts(tags, groups, self.rfm.segments()),
            transitions,
            incremental,
            recomputed,
            plans: Vec::new(),
            rules: Vec::new(),
            expired: 0,
        }
    }
}
