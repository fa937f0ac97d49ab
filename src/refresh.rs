//! `refresh(as_of)`: purchase history -> RFM scores, segments and lifecycle stages, stored as
//! tags and attributes, with a report of what moved.
//!
//! A refresh is planned first (no mutation, so an error changes nothing)
//! and then applied by the engine. It is incremental where it pays:
//!
//! - Per-customer summaries (first, last and comeback purchase, count, money total) of the
//!   last refresh are kept. When the as-of day does not move back and the windows are
//!   unchanged, only customers with new purchases, removed customers, and customers with
//!   purchases dated after the previous as-of day are read again from the history.
//! - Scores and stages are recomputed from the summaries (one pass of arithmetic: the
//!   quantile cut points move when anyone's metric moves), and only the customers whose
//!   scores, segment or stage changed are moved between tags, with one sorted bitmap
//!   union and difference per tag.
//! - `recency_days` is stored as the day of the last purchase and read as `as_of - day`, so
//!   a new as-of day rewrites no recency value.

use roaring::RoaringBitmap;

use crate::audience::Audience;
use crate::error::{Error, Result};
use crate::history::{Day, History, Summary};
use crate::lifecycle::{Lifecycle, Stage};
use crate::rfm::RfmModel;
use crate::tags::TagKind;

pub(crate) use crate::id::{DERIVED_ATTRS, DERIVED_GROUPS, DERIVED_OWNER as OWNER};

/// One customer's scores and stage as of the last refresh.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
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
    /// Customers per RFM segment, every segment of the map in its order.
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
}

impl RefreshReport {
    /// Customers in `stage`.
    pub fn stage_count(&self, stage: Stage) -> u64 {
        self.stages.iter().find(|(s, _)| *s == stage).map_or(0, |&(_, n)| n)
    }

    /// Customers in RFM segment `segment` (0 for a name not in the map).
    pub fn segment_count(&self, segment: &str) -> u64 {
        self.segments.iter().find(|(s, _)| s == segment).map_or(0, |&(_, n)| n)
    }

    /// The customers who moved from `from` to `to`, if any did.
    pub fn transition(&self, from: Option<Stage>, to: Stage) -> Option<&StageTransition> {
        self.transitions.iter().find(|t| t.from == from && t.to == to)
    }
}

/// The state of the last refresh.
#[derive(Clone, Debug)]
struct Snapshot {
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

/// The models' configuration and the last refresh's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Models {
    pub(crate) rfm: RfmModel,
    pub(crate) lifecycle: Lifecycle,
    last: Option<Snapshot>,
    /// Customers removed since the last refresh.
    removed: RoaringBitmap,
    /// Customers with purchases recorded since the last refresh.
    touched: RoaringBitmap,
}

/// Adds and removals for the value tags of one derived group.
#[derive(Debug, Default)]
pub(crate) struct GroupDiff {
    pub(crate) group: &'static str,
    pub(crate) kind: TagKind,
    /// Value names (`"1"`, `"champions"`), in listing order.
    pub(crate) values: Vec<String>,
    pub(crate) adds: Vec<Vec<u32>>,
    pub(crate) removes: Vec<Vec<u32>>,
    /// Empty every existing value of the group first (the segment map changed).
    pub(crate) reset: bool,
}

impl GroupDiff {
    fn new(group: &'static str, kind: TagKind, values: Vec<String>) -> GroupDiff {
        let n = values.len();
        GroupDiff { group, kind, values, adds: vec![Vec::new(); n], removes: vec![Vec::new(); n], reset: false }
    }
}

/// Values to set and customers to clear for one derived attribute.
#[derive(Debug, Default)]
pub(crate) struct AttrDiff {
    pub(crate) name: &'static str,
    pub(crate) set: Vec<(u32, i64)>,
    pub(crate) clear: Vec<u32>,
}

/// Everything one refresh writes.
pub(crate) struct Plan {
    /// r, f, m, rfm, stage (the stage group without `prospect`, which is set wholesale).
    pub(crate) groups: [GroupDiff; 5],
    /// recency_days (stored as the last purchase day), frequency, monetary.
    pub(crate) attrs: [AttrDiff; 3],
    pub(crate) transitions: Vec<(Option<Stage>, Stage, RoaringBitmap)>,
    pub(crate) scored: u64,
    pub(crate) incremental: bool,
    pub(crate) recomputed: u64,
    /// The state the models keep once the plan is applied.
    next: Snapshot,
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
    /// Then the last refresh's customers with RFM scores.
    pub(crate) fn unchanged(&self, as_of: Day, live: &RoaringBitmap) -> Option<u64> {
        let s = self.last.as_ref()?;
        let same = s.as_of == as_of.days_since_epoch()
            && self.touched.is_empty()
            && self.removed.is_empty()
            && s.rfm == self.rfm
            && s.lifecycle == self.lifecycle
            && s.live == *live;
        same.then_some(s.scored)
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

    /// Plans a refresh as of `as_of` (the history flushed). Mutates nothing.
    pub(crate) fn plan(&self, history: &History, live: &RoaringBitmap, as_of: Day) -> Result<Plan> {
        let d = as_of.days_since_epoch();
        let churn = self.lifecycle.churn_days();
        let churn_i32 = churn as i32; // bounded by MAX_WINDOW
        let incremental = self.last.as_ref().is_some_and(|s| d >= s.as_of && s.lifecycle.churn_days() == churn);
        let empty = Snapshot {
            as_of: d,
            rfm: self.rfm.clone(),
            lifecycle: self.lifecycle,
            scored: 0,
            ids: Vec::new(),
            sums: Vec::new(),
            codes: Vec::new(),
            live: RoaringBitmap::new(),
        };
        let old = self.last.as_ref().unwrap_or(&empty);

        // 1. Fresh summaries: everyone, or the customers whose summary may have changed.
        let mut fresh: Vec<(u32, Summary)> = Vec::with_capacity(if incremental { 0 } else { old.ids.len() });
        if incremental {
            let mut redo = &self.touched | &self.removed;
            if d > old.as_of {
                redo.extend(old.ids.iter().zip(&old.sums).filter(|(_, s)| s.later).map(|(&id, _)| id));
            }
            let redo: Vec<u32> = redo.iter().collect();
            history.for_each_of(&redo, |id, days, amounts| {
                // A customer without records (removed) keeps no row.
                if !days.is_empty() {
                    fresh.push((id, Summary::of(days, amounts, d, churn_i32)));
                }
            });
        } else {
            history.for_each(|id, days, amounts| {
                // A removed customer's emptied range lingers until the next compaction.
                if !days.is_empty() {
                    fresh.push((id, Summary::of(days, amounts, d, churn_i32)));
                }
            });
        }
        let recomputed = fresh.len() as u64;

        // 2. Merge with the old rows: carried over (incremental), replaced, added or dropped.
        //    Columns: the new snapshot's ids and summaries, and each row's old row (NO_ROW
        //    for a customer new since, or removed since).
        let cap = if incremental { old.ids.len() + fresh.len() } else { fresh.len() };
        let (mut ids, mut sums, mut prev) = (Vec::with_capacity(cap), Vec::with_capacity(cap), Vec::with_capacity(cap));
        {
            let (mut i, mut j) = (0, 0);
            let prev_of = |i: usize| if self.removed.contains(old.ids[i]) { NO_ROW } else { i as u32 };
            while i < old.ids.len() || j < fresh.len() {
                let a = old.ids.get(i).copied().unwrap_or(u32::MAX);
                let b = fresh.get(j).map_or(u32::MAX, |f| f.0);
                let (id, sum, p) = if i < old.ids.len() && (j == fresh.len() || a < b) {
                    i += 1;
                    // Not re-read: unchanged when incremental, gone when full.
                    if !incremental || self.removed.contains(a) {
                        continue;
                    }
                    (a, old.sums[i - 1], prev_of(i - 1))
                } else if i < old.ids.len() && a == b {
                    (i, j) = (i + 1, j + 1);
                    (b, fresh[j - 1].1, prev_of(i - 1))
                } else {
                    j += 1;
                    (b, fresh[j - 1].1, NO_ROW)
                };
                ids.push(id);
                sums.push(sum);
                prev.push(p);
            }
        }
        drop(fresh);

        // 3. Scores.
        let mut last_days = Vec::new();
        let mut frequency = Vec::new();
        let mut monetary = Vec::new();
        for (id, sum) in ids.iter().zip(&sums).filter(|(_, s)| s.scored()) {
            if sum.overflow {
                return Err(Error::MonetaryOverflow { customer: (*id).into(), key: None });
            }
            last_days.push(i64::from(sum.last));
            frequency.push(i64::from(sum.count));
            monetary.push(sum.monetary);
        }
        let scored = last_days.len() as u64;
        let cuts = self.rfm.cuts(d, &mut last_days, &mut frequency, &mut monetary);
        let map = self.rfm.segments();
        let reset_segments = old.rfm.segments() != map;
        let code_of = |s: &Summary| -> Code {
            let stage = self.lifecycle.stage(s, d).index() as u8;
            if !s.scored() {
                return Code { stage, ..Code::default() };
            }
            let (r, f, m) =
                (cuts[0].score(i64::from(s.last)), cuts[1].score(i64::from(s.count)), cuts[2].score(s.monetary));
            Code { r, f, m, seg: map.index(r, f).expect("scores are 1-5"), stage }
        };

        // 4. Diffs.
        let nums = || (1..=5).map(|i: u8| i.to_string()).collect::<Vec<_>>();
        let mut groups = [
            GroupDiff::new("r", TagKind::Value, nums()),
            GroupDiff::new("f", TagKind::Value, nums()),
            GroupDiff::new("m", TagKind::Value, nums()),
            GroupDiff::new("rfm", TagKind::Value, map.names().map(str::to_owned).collect()),
            GroupDiff::new("stage", TagKind::Lifecycle, Stage::ALL.iter().map(|s| s.as_str().to_owned()).collect()),
        ];
        groups[3].reset = reset_segments && self.last.is_some();
        let mut attrs = [
            AttrDiff { name: "recency_days", ..AttrDiff::default() },
            AttrDiff { name: "frequency", ..AttrDiff::default() },
            AttrDiff { name: "monetary", ..AttrDiff::default() },
        ];
        let mut moves: Vec<Vec<u32>> = vec![Vec::new(); 7 * 6]; // (from: None or a stage) x to
        let mut codes = Vec::with_capacity(ids.len());
        for ((&id, sum), &p) in ids.iter().zip(&sums).zip(&prev) {
            let new = code_of(sum);
            codes.push(new);
            let (old_code, old_sum) = match p {
                NO_ROW => (None, None),
                p => (Some(old.codes[p as usize]), Some(old.sums[p as usize])),
            };
            // score and segment tags
            let old_scored = old_code.filter(Code::scored);
            let pairs = [
                (old_scored.map(|c| c.r), new.scored().then_some(new.r)),
                (old_scored.map(|c| c.f), new.scored().then_some(new.f)),
                (old_scored.map(|c| c.m), new.scored().then_some(new.m)),
            ];
            for (g, (o, n)) in pairs.into_iter().enumerate() {
                if o != n {
                    if let Some(o) = o {
                        groups[g].removes[usize::from(o - 1)].push(id);
                    }
                    if let Some(n) = n {
                        groups[g].adds[usize::from(n - 1)].push(id);
                    }
                }
            }
            let o = if groups[3].reset { None } else { old_scored.map(|c| c.seg) };
            let n = new.scored().then_some(new.seg);
            if o != n || groups[3].reset {
                if let Some(o) = o {
                    groups[3].removes[usize::from(o)].push(id);
                }
                if let Some(n) = n {
                    groups[3].adds[usize::from(n)].push(id);
                }
            }
            // stage tags (prospect is set wholesale) and transitions
            let from = match old_code {
                Some(c) => Some(Stage::ALL[usize::from(c.stage)]),
                None if old.live.contains(id) && !self.removed.contains(id) => Some(Stage::Prospect),
                None => None,
            };
            let to = Stage::ALL[usize::from(new.stage)];
            if from != Some(to) {
                if let Some(f) = from.filter(|&f| f != Stage::Prospect).filter(|_| old_code.is_some()) {
                    groups[4].removes[f.index()].push(id);
                }
                if to != Stage::Prospect {
                    groups[4].adds[to.index()].push(id);
                }
                moves[from.map_or(0, |f| f.index() + 1) * 6 + to.index()].push(id);
            }
            // metric attributes
            let old_vals = old_sum.filter(Summary::scored).map(|s| [i64::from(s.last), i64::from(s.count), s.monetary]);
            let new_vals = sum.scored().then(|| [i64::from(sum.last), i64::from(sum.count), sum.monetary]);
            for (k, attr) in attrs.iter_mut().enumerate() {
                match (old_vals.map(|v| v[k]), new_vals.map(|v| v[k])) {
                    (o, Some(n)) if o != Some(n) => attr.set.push((id, n)),
                    (Some(_), None) => attr.clear.push(id),
                    _ => {}
                }
            }
        }

        // 5. Customers without purchase records: prospects; new ones since the last refresh
        //    (or removed and registered anew) moved from no stage.
        let mut newcomers = live - &old.live;
        newcomers |= &self.removed & live;
        if !newcomers.is_empty() {
            newcomers -= RoaringBitmap::from_sorted_iter(ids.iter().copied()).expect("ascending");
        }
        let mut transitions = Vec::new();
        for (k, moved) in moves.into_iter().enumerate() {
            let (from, to) = (k / 6, Stage::ALL[k % 6]);
            let from = from.checked_sub(1).map(|i| Stage::ALL[i]);
            let mut bits = RoaringBitmap::from_sorted_iter(moved).expect("rows ascend");
            if from.is_none() && to == Stage::Prospect {
                bits |= &newcomers;
            }
            if !bits.is_empty() {
                transitions.push((from, to, bits));
            }
        }

        let next = Snapshot {
            as_of: d,
            rfm: self.rfm.clone(),
            lifecycle: self.lifecycle,
            scored,
            ids,
            sums,
            codes,
            live: live.clone(),
        };
        Ok(Plan { groups, attrs, transitions, scored, incremental, recomputed, next })
    }

    /// Keeps the state of an applied plan.
    pub(crate) fn commit(&mut self, plan: Plan) {
        self.last = Some(plan.next);
        self.removed.clear();
        self.touched.clear();
    }
}
