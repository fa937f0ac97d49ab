//! Planning a refresh: what it will write, computed without mutating anything (so an error
//! changes nothing). Four steps, one function each:
//!
//! 1. [`Models::summaries`]: per-customer summaries read from the history (everyone, or only
//!    the customers whose summary may have changed);
//! 2. [`Models::merge`]: the fresh summaries merged with the last refresh's rows;
//! 3. [`Models::scorer`]: the RFM cut points over every scored customer;
//! 4. [`Diffs::push`]: per customer, what moves between the derived tags and attributes,
//!    and the stage transitions.

use roaring::RoaringBitmap;

use super::{Code, Models, NO_ROW, Snapshot};
use crate::error::{Error, Result};
use crate::history::{Day, History, Summary};
use crate::id::derived;
use crate::lifecycle::{Lifecycle, Stage};
use crate::par::{self, Threads};
use crate::rfm::{RfmCuts, RfmGrid};
use crate::tags::TagKind;

/// Adds and removals for the value tags of one derived group, by value index.
#[derive(Debug)]
pub(crate) struct GroupDiff {
    pub(crate) group: &'static str,
    pub(crate) kind: TagKind,
    /// Value names (`"1"`, `"champions"`), in listing order.
    pub(crate) values: Vec<String>,
    pub(crate) adds: Vec<Vec<u32>>,
    pub(crate) removes: Vec<Vec<u32>>,
    /// Empty every existing value of the group first (the segment grid changed).
    pub(crate) reset: bool,
}

impl GroupDiff {
    fn new(group: &'static str, kind: TagKind, values: Vec<String>) -> GroupDiff {
        let n = values.len();
        GroupDiff { group, kind, values, adds: vec![Vec::new(); n], removes: vec![Vec::new(); n], reset: false }
    }

    /// Moves `customer` from value `old` to value `new` (either may be none).
    fn moved(&mut self, customer: u32, old: Option<usize>, new: Option<usize>) {
        if let Some(o) = old {
            self.removes[o].push(customer);
        }
        if let Some(n) = new {
            self.adds[n].push(customer);
        }
    }
}

/// Values to set and customers to clear for one derived attribute.
#[derive(Debug)]
pub(crate) struct AttrDiff {
    pub(crate) name: &'static str,
    pub(crate) set: Vec<(u32, i64)>,
    pub(crate) clear: Vec<u32>,
}

impl AttrDiff {
    fn new(name: &'static str) -> AttrDiff {
        AttrDiff { name, set: Vec::new(), clear: Vec::new() }
    }

    /// Records a change of `customer`'s value from `old` to `new`.
    fn changed(&mut self, customer: u32, old: Option<i64>, new: Option<i64>) {
        match (old, new) {
            (o, Some(n)) if o != Some(n) => self.set.push((customer, n)),
            (Some(_), None) => self.clear.push(customer),
            _ => {}
        }
    }
}

/// The derived tags one refresh moves customers between.
#[derive(Debug)]
pub(crate) struct TagDiffs {
    /// `r:1`..`r:5`.
    pub(crate) r: GroupDiff,
    /// `f:1`..`f:5`.
    pub(crate) f: GroupDiff,
    /// `m:1`..`m:5`.
    pub(crate) m: GroupDiff,
    /// `rfm:<segment>`, by segment index of the grid.
    pub(crate) segment: GroupDiff,
    /// `stage:<stage>` by [`Stage::index`]; nobody is added to or removed from
    /// `stage:prospect` here: it is set wholesale (every live customer without another stage).
    pub(crate) stage: GroupDiff,
}

/// The derived attributes one refresh writes.
#[derive(Debug)]
pub(crate) struct AttrDiffs {
    /// `recency_days`, stored as the day of the last purchase.
    pub(crate) recency: AttrDiff,
    pub(crate) frequency: AttrDiff,
    pub(crate) monetary: AttrDiff,
}

/// Everything one refresh writes, and the state the models keep once it is applied.
pub(crate) struct Plan {
    pub(crate) tags: TagDiffs,
    pub(crate) attrs: AttrDiffs,
    /// Customers per (from, to) stage move, ordered by (from, to), non-empty only.
    pub(crate) transitions: Vec<(Option<Stage>, Stage, RoaringBitmap)>,
    pub(crate) scored: u64,
    pub(crate) incremental: bool,
    pub(crate) recomputed: u64,
    pub(crate) next: Snapshot,
}

/// The rows of the next snapshot, before scoring: ids ascending, their summaries, and each
/// one's row in the last snapshot ([`NO_ROW`] for a customer new since, or removed since).
struct Rows {
    ids: Vec<u32>,
    sums: Vec<Summary>,
    prev: Vec<u32>,
}

/// Scores a summary: the RFM cut points, the segment grid and the lifecycle windows of one
/// refresh.
struct Scorer<'a> {
    day: i32,
    cuts: RfmCuts,
    grid: &'a RfmGrid,
    lifecycle: &'a Lifecycle,
}

impl Scorer<'_> {
    fn code(&self, s: &Summary) -> Code {
        let stage = self.lifecycle.stage(s, self.day).index() as u8;
        if !s.scored() {
            return Code { stage, ..Code::default() };
        }
        let c = &self.cuts;
        let (r, f, m) =
            (c.last_day.score(i64::from(s.last)), c.frequency.score(i64::from(s.count)), c.monetary.score(s.monetary));
        Code { r, f, m, seg: self.grid.index(r, f).expect("scores are 1-5"), stage }
    }
}

/// What moves, customer by customer.
struct Diffs {
    tags: TagDiffs,
    attrs: AttrDiffs,
    moves: Moves,
}

/// The lists of one [`Diffs`]: customers (tag moves, cleared attributes, stage moves) and
/// values set.
type Lists<'a> = (Vec<&'a mut Vec<u32>>, Vec<&'a mut Vec<(u32, i64)>>);

/// Customers per stage move (from no stage or a stage, to a stage), in (from, to) order.
struct Moves(Vec<Vec<u32>>);

impl Moves {
    const FROM: usize = 1 + Stage::ALL.len();

    fn new() -> Moves {
        Moves(vec![Vec::new(); Moves::FROM * Stage::ALL.len()])
    }

    fn push(&mut self, from: Option<Stage>, to: Stage, customer: u32) {
        self.0[from.map_or(0, |f| f.index() + 1) * Stage::ALL.len() + to.index()].push(customer);
    }

    /// Every move, `(from, to, customers ascending)`, in (from, to) order.
    fn into_moves(self) -> impl Iterator<Item = (Option<Stage>, Stage, Vec<u32>)> {
        self.0.into_iter().enumerate().map(|(k, moved)| {
            let (from, to) = (k / Stage::ALL.len(), Stage::ALL[k % Stage::ALL.len()]);
            (from.checked_sub(1).map(|i| Stage::ALL[i]), to, moved)
        })
    }
}

impl Diffs {
    fn new(grid: &RfmGrid, reset_segments: bool) -> Diffs {
        let nums = || (1..=5).map(|i: u8| i.to_string()).collect::<Vec<_>>();
        let mut segment = GroupDiff::new(derived::SEGMENT, TagKind::Value, grid.names().map(str::to_owned).collect());
        segment.reset = reset_segments;
        Diffs {
            tags: TagDiffs {
                r: GroupDiff::new(derived::R, TagKind::Value, nums()),
                f: GroupDiff::new(derived::F, TagKind::Value, nums()),
                m: GroupDiff::new(derived::M, TagKind::Value, nums()),
                segment,
                stage: GroupDiff::new(
                    derived::STAGE,
                    TagKind::Lifecycle,
                    Stage::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
                ),
            },
            attrs: AttrDiffs {
                recency: AttrDiff::new(derived::RECENCY_DAYS),
                frequency: AttrDiff::new(derived::FREQUENCY),
                monetary: AttrDiff::new(derived::MONETARY),
            },
            moves: Moves::new(),
        }
    }

    /// Files customer `id`'s moves from its last refresh's figures (`old`, if it had a row)
    /// to the new ones; `from` is its stage at the last refresh, if it had one.
    fn push(&mut self, id: u32, old: Option<(Code, Summary)>, new: Code, sum: &Summary, from: Option<Stage>) {
        let old_code = old.map(|(c, _)| c);
        // score and segment tags
        let old_scored = old_code.filter(Code::scored);
        let score = |c: Option<Code>, pick: fn(&Code) -> u8| c.map(|c| usize::from(pick(&c) - 1));
        let new_scored = new.scored().then_some(new);
        for (group, pick) in [
            (&mut self.tags.r, (|c: &Code| c.r) as fn(&Code) -> u8),
            (&mut self.tags.f, |c: &Code| c.f),
            (&mut self.tags.m, |c: &Code| c.m),
        ] {
            let (o, n) = (score(old_scored, pick), score(new_scored, pick));
            if o != n {
                group.moved(id, o, n);
            }
        }
        let segment = &mut self.tags.segment;
        let o = if segment.reset { None } else { old_scored.map(|c| usize::from(c.seg)) };
        let n = new_scored.map(|c| usize::from(c.seg));
        if o != n || segment.reset {
            segment.moved(id, o, n);
        }
        // stage tags (prospect is set wholesale) and transitions
        let to = Stage::ALL[usize::from(new.stage)];
        if from != Some(to) {
            let leaves = from.filter(|&f| f != Stage::Prospect).filter(|_| old_code.is_some());
            let joins = Some(to).filter(|&t| t != Stage::Prospect);
            self.tags.stage.moved(id, leaves.map(Stage::index), joins.map(Stage::index));
            self.moves.push(from, to, id);
        }
        // metric attributes
        let old_sum = old.map(|(_, s)| s).filter(Summary::scored);
        let new_sum = Some(*sum).filter(Summary::scored);
        self.attrs.recency.changed(id, old_sum.map(|s| i64::from(s.last)), new_sum.map(|s| i64::from(s.last)));
        self.attrs.frequency.changed(id, old_sum.map(|s| i64::from(s.count)), new_sum.map(|s| i64::from(s.count)));
        self.attrs.monetary.changed(id, old_sum.map(|s| s.monetary), new_sum.map(|s| s.monetary));
    }

    /// Every list of customers, in an order the same for every `Diffs` of one plan.
    fn lists(&mut self) -> Lists<'_> {
        let (t, a) = (&mut self.tags, &mut self.attrs);
        let mut ids: Vec<&mut Vec<u32>> = Vec::new();
        for group in [&mut t.r, &mut t.f, &mut t.m, &mut t.segment, &mut t.stage] {
            ids.extend(group.adds.iter_mut().chain(&mut group.removes));
        }
        let mut sets = Vec::new();
        for attr in [&mut a.recency, &mut a.frequency, &mut a.monetary] {
            ids.push(&mut attr.clear);
            sets.push(&mut attr.set);
        }
        ids.extend(&mut self.moves.0);
        (ids, sets)
    }

    /// Appends the diffs of `rest` (of later customers, in order), each list grown once.
    fn append(&mut self, rest: &mut [Diffs]) {
        fn extend<T>(list: &mut Vec<T>, more: Vec<Vec<T>>) {
            list.reserve_exact(more.iter().map(Vec::len).sum());
            more.into_iter().for_each(|m| list.extend(m));
        }
        let (ids, sets) = self.lists();
        let mut more: Vec<_> = rest.iter_mut().map(Diffs::lists).collect();
        for (k, list) in ids.into_iter().enumerate() {
            extend(list, more.iter_mut().map(|(m, _)| std::mem::take(&mut *m[k])).collect());
        }
        for (k, list) in sets.into_iter().enumerate() {
            extend(list, more.iter_mut().map(|(_, m)| std::mem::take(&mut *m[k])).collect());
        }
    }

    /// The stage transitions, ordered by (from, to), with `newcomers` (live customers new
    /// since the last refresh without purchase records) moved from no stage to prospect.
    fn transitions(&mut self, newcomers: &RoaringBitmap) -> Vec<(Option<Stage>, Stage, RoaringBitmap)> {
        let mut transitions = Vec::new();
        for (from, to, moved) in std::mem::replace(&mut self.moves, Moves::new()).into_moves() {
            let mut bits = RoaringBitmap::from_sorted_iter(moved).expect("rows ascend");
            if from.is_none() && to == Stage::Prospect {
                bits |= newcomers;
            }
            if !bits.is_empty() {
                transitions.push((from, to, bits));
            }
        }
        transitions
    }
}

impl Models {
    /// Plans a refresh as of `as_of` (the history flushed). Mutates nothing.
    pub(crate) fn plan(&self, history: &History, live: &RoaringBitmap, as_of: Day, threads: Threads) -> Result<Plan> {
        let d = as_of.days_since_epoch();
        let churn = self.lifecycle.churn_days();
        let incremental = self.last.as_ref().is_some_and(|s| d >= s.as_of && s.lifecycle.churn_days() == churn);
        let empty = Snapshot::empty(d, &self.rfm, self.lifecycle);
        let old: &Snapshot = self.last.as_deref().unwrap_or(&empty);

        let fresh = self.summaries(history, old, d, incremental, threads);
        let recomputed = fresh.len() as u64;
        let rows = self.merge(old, fresh, incremental);
        let (scorer, scored) = self.scorer(&rows, d)?;

        let grid = self.rfm.segments();
        let reset_segments = old.rfm.segments() != grid && self.last.is_some();
        // Customer by customer, on threads: each a range of rows, the ranges' codes and
        // diffs appended in order (the same as one thread's).
        let parts = par::ranges(rows.ids.len(), threads.for_work(rows.ids.len() as u64));
        let mut done = par::map(parts, |_, range| {
            let mut diffs = Diffs::new(grid, reset_segments);
            let mut codes = Vec::with_capacity(range.len());
            for ((&id, sum), &p) in rows.ids[range.clone()].iter().zip(&rows.sums[range.clone()]).zip(&rows.prev[range])
            {
                let new = scorer.code(sum);
                codes.push(new);
                let old_row = (p != NO_ROW).then(|| (old.codes[p as usize], old.sums[p as usize]));
                let from = match old_row {
                    Some((c, _)) => Some(Stage::ALL[usize::from(c.stage)]),
                    None if old.live.contains(id) && !self.removed.contains(id) => Some(Stage::Prospect),
                    None => None,
                };
                diffs.push(id, old_row, new, sum, from);
            }
            (diffs, codes)
        })
        .into_iter();
        let (mut diffs, mut codes) = done.next().unwrap_or_else(|| (Diffs::new(grid, reset_segments), Vec::new()));
        let (mut rest, more_codes): (Vec<Diffs>, Vec<Vec<Code>>) = done.unzip();
        diffs.append(&mut rest);
        codes.reserve_exact(more_codes.iter().map(Vec::len).sum());
        more_codes.into_iter().for_each(|more| codes.extend(more));

        // Customers without purchase records: prospects; new ones since the last refresh
        // (or removed and registered anew) moved from no stage.
        let mut newcomers = live - &old.live;
        newcomers |= &self.removed & live;
        if !newcomers.is_empty() {
            newcomers -= RoaringBitmap::from_sorted_iter(rows.ids.iter().copied()).expect("ascending");
        }
        let transitions = diffs.transitions(&newcomers);

        let next = Snapshot {
            as_of: d,
            rfm: self.rfm.clone(),
            lifecycle: self.lifecycle,
            scored,
            ids: rows.ids,
            sums: rows.sums,
            codes,
            live: live.clone(),
        };
        Ok(Plan { tags: diffs.tags, attrs: diffs.attrs, transitions, scored, incremental, recomputed, next })
    }

    /// Step 1: fresh summaries, ascending by customer: everyone's, or (incremental) those
    /// of the customers with new purchases, removed customers, and customers with purchases
    /// dated after the last as-of day when it moved forward.
    fn summaries(
        &self,
        history: &History,
        old: &Snapshot,
        d: i32,
        incremental: bool,
        threads: Threads,
    ) -> Vec<(u32, Summary)> {
        let churn = self.lifecycle.churn_days() as i32; // bounded by MAX_WINDOW
        // A customer without records (removed; or, read in full, one whose emptied range
        // lingers until the next compaction) keeps no row.
        let summary =
            |id, days: &[i32], amounts: &[i64]| (!days.is_empty()).then(|| (id, Summary::of(days, amounts, d, churn)));
        if !incremental {
            return history.collect(threads, summary);
        }
        let mut redo = &self.touched | &self.removed;
        if d > old.as_of {
            redo.extend(old.ids.iter().zip(&old.sums).filter(|(_, s)| s.later).map(|(&id, _)| id));
        }
        let redo: Vec<u32> = redo.iter().collect();
        history.collect_of(&redo, threads, summary)
    }

    /// Step 2: the fresh summaries merged with the old rows: carried over (incremental),
    /// replaced, added or dropped.
    fn merge(&self, old: &Snapshot, fresh: Vec<(u32, Summary)>, incremental: bool) -> Rows {
        let cap = if incremental { old.ids.len() + fresh.len() } else { fresh.len() };
        let mut rows =
            Rows { ids: Vec::with_capacity(cap), sums: Vec::with_capacity(cap), prev: Vec::with_capacity(cap) };
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
            rows.ids.push(id);
            rows.sums.push(sum);
            rows.prev.push(p);
        }
        rows
    }

    /// Step 3: the cut points over every scored customer's metrics, and how many are scored.
    fn scorer(&self, rows: &Rows, d: i32) -> Result<(Scorer<'_>, u64)> {
        let mut last_days = Vec::new();
        let mut frequency = Vec::new();
        let mut monetary = Vec::new();
        for (id, sum) in rows.ids.iter().zip(&rows.sums).filter(|(_, s)| s.scored()) {
            if sum.overflow {
                return Err(Error::MonetaryOverflow { customer: (*id).into(), key: None });
            }
            last_days.push(i64::from(sum.last));
            frequency.push(i64::from(sum.count));
            monetary.push(sum.monetary);
        }
        let scored = last_days.len() as u64;
        let cuts = self.rfm.cuts(d, &mut last_days, &mut frequency, &mut monetary);
        Ok((Scorer { day: d, cuts, grid: self.rfm.segments(), lifecycle: &self.lifecycle }, scored))
    }
}
