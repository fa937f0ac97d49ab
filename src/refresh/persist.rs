//! The models' snapshot sections (see `persist/` and `docs/format.md`, "Models").
//!
//! `MODL`: the configured models, the customers removed and touched since the last refresh,
//! and, when there was one, the last refresh's figures (day, models, live set) and the
//! derived groups it wrote (tag ids, checked against the tag pool just read). `MROW`
//! (cut into sections of about 16 MiB): the last refresh's rows, one per customer with
//! purchase records, ascending. What the next, incremental, refresh reads is all here, so
//! it gives after [`Engine::open`](crate::Engine::open) what it would have given without
//! the round trip. Every row is checked against the rest as it is read (ids ascending and
//! live at that refresh, scores 1-5 or none, the segment the grid gives, the stage the
//! lifecycle windows give): a damaged file is an [`Error::Corrupt`](crate::Error::Corrupt),
//! never a panic in a later refresh or profile.

use bytemuck::allocation::zeroed_vec;

use super::apply::DerivedTags;
use super::{Code, Models, Snapshot};
use crate::error::Result;
use crate::history::{Day, Money, NO_DAY, Summary};
use crate::id::{TagId, derived};
use crate::lifecycle::{Lifecycle, Stage};
use crate::persist::rows::read_rows;
use crate::persist::{Dec, Enc, Reader, Writer};
use crate::rfm::{RfmGrid, RfmModel};
use crate::tags::{DerivedGroup, Tags};

/// The models, the pending notes, the last refresh's figures and groups.
const MODELS: [u8; 4] = *b"MODL";
/// The last refresh's rows.
const ROWS: [u8; 4] = *b"MROW";

/// Bytes of one row in `MROW`.
const ROW_BYTES: u64 = 34;
const ROW: usize = ROW_BYTES as usize;

/// `Summary` flags.
const OVERFLOW: u8 = 1;
const LATER: u8 = 2;

impl Models {
    /// Writes the models' sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let mut e = Enc::default();
        put_rfm(&mut e, &self.rfm);
        put_lifecycle(&mut e, &self.lifecycle);
        e.bitmap(&self.removed);
        e.bitmap(&self.touched);
        match (&self.last, &self.derived) {
            (Some(s), Some(groups)) => {
                e.u8(1);
                e.i32(s.as_of);
                put_rfm(&mut e, &s.rfm);
                put_lifecycle(&mut e, &s.lifecycle);
                e.u64(s.scored);
                e.len(s.ids.len());
                e.bitmap(&s.live);
                for g in [&groups.r, &groups.f, &groups.m, &groups.segment, &groups.stage] {
                    let (name, values, quiet) = g.parts();
                    e.str(name);
                    e.u8(u8::from(quiet));
                    e.u32s(&values.iter().map(|t| t.0).collect::<Vec<_>>());
                }
            }
            _ => e.u8(0), // both are set by the same refresh
        }
        w.section(MODELS, &e.buf)?;
        let rows = self.last.as_ref().map_or(0, |s| s.ids.len());
        let s = self.last.as_ref();
        w.chunked(ROWS, 0..rows, |e, i| {
            let s = s.expect("rows only with a last refresh");
            let (sum, code) = (&s.sums[i], &s.codes[i]);
            e.u32(s.ids[i]);
            e.u32(sum.count);
            e.i32(sum.first);
            e.i32(sum.last);
            e.i32(sum.comeback);
            e.i64(sum.monetary);
            e.u8(if sum.overflow { OVERFLOW } else { 0 } | if sum.later { LATER } else { 0 });
            for v in [code.r, code.f, code.m, code.seg, code.stage] {
                e.u8(v);
            }
        })
    }

    /// Reads what [`Models::write_snapshot`] wrote; `tags` (already read) for the derived
    /// groups: each value must be the pool's tag of that name in that group.
    pub(crate) fn read_snapshot(r: &mut Reader, tags: &Tags) -> Result<Models> {
        let path = r.path().to_path_buf();
        let section = r.section(MODELS)?;
        let left = section.left;
        let mut d = section.dec(&path);
        let mut m = Models {
            rfm: get_rfm(&mut d)?,
            lifecycle: get_lifecycle(&mut d)?,
            removed: d.bitmap("customers removed since the last refresh")?,
            touched: d.bitmap("customers with purchases since the last refresh")?,
            ..Models::default()
        };
        let mut last = match d.u8("whether there was a refresh")? {
            0 => None,
            1 => Some(get_last(&mut d, tags, left)?),
            n => return Err(d.corrupt(format!("a refresh flag of {n}, not 0 or 1"))),
        };
        let rows_at = d.offset();
        d.finish("models")?;

        // The rows, decoded and checked on several threads straight into the columns,
        // sized for the rows counted (zeroed, so their pages are fresh where the threads
        // write them: nothing is copied, nothing written twice).
        let want = last.as_ref().map_or(0, |(_, _, want)| *want);
        let (mut ids, mut sums, mut codes) = (vec![0u32; want], zeroed_vec::<Summary>(want), zeroed_vec::<Code>(want));
        let snapshot = last.as_ref().map(|(s, _, _)| s);
        let live_to = snapshot.and_then(|s| crate::blocks::full_prefix(&s.live));
        let first_day = *Day::valid_days().start();
        let decode = |d: &mut Dec<'_>, prev: Option<&[u8; ROW]>| -> Result<(Row, u64)> {
            // Without a refresh no rows are counted: a section holding one is refused first.
            let Some(s) = snapshot else { return Err(d.corrupt("a refresh row without a refresh")) };
            let row = get_row(d, s, live_to, first_day)?;
            if prev.is_some_and(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) >= row.0) {
                return Err(d.corrupt(format!("refresh rows not ascending by customer (customer {})", row.0)));
            }
            Ok((row, u64::from(row.2.scored())))
        };
        let columns = (ids.as_mut_slice(), sums.as_mut_slice(), codes.as_mut_slice());
        let what = if snapshot.is_some() { "refresh rows" } else { "refresh rows without a refresh" };
        let scored = read_rows(r, ROWS, rows_at, what, columns, decode)?;
        if let Some((s, _, _)) = last.as_mut() {
            (s.ids, s.sums, s.codes) = (ids, sums, codes);
        }
        if let Some((s, groups, want)) = last {
            if scored != s.scored {
                return Err(crate::persist::codec::corrupt(
                    &path,
                    rows_at,
                    format!("the last refresh counts {} of its {want} rows scored; the rows hold {scored}", s.scored),
                ));
            }
            m.last = Some(s.into());
            m.derived = Some(groups);
        }
        Ok(m)
    }
}

/// Scoring (`0` quantiles, `1` thresholds and their twelve cut points), then the segment
/// grid (25 names, R1 F1 .. R1 F5, R2 F1, .., R5 F5).
fn put_rfm(e: &mut Enc, rfm: &RfmModel) {
    match rfm.threshold_cuts() {
        None => e.u8(0),
        Some(cuts) => {
            e.u8(1);
            cuts.iter().flatten().for_each(|&c| e.i64(c));
        }
    }
    rfm.segments().grid().iter().flatten().for_each(|name| e.str(name));
}

fn get_rfm(d: &mut Dec<'_>) -> Result<RfmModel> {
    let at = d.offset();
    let model = match d.u8("RFM scoring")? {
        0 => RfmModel::quantiles(),
        1 => {
            let mut cuts = [[0i64; 4]; 3];
            for c in cuts.iter_mut().flatten() {
                *c = d.i64("an RFM cut point")?;
            }
            let [recency, frequency, monetary] = cuts;
            let money: Result<Vec<Money>> = monetary.iter().map(|&m| Money::from_minor(m)).collect();
            let model = money.and_then(|m| RfmModel::thresholds(recency, frequency, [m[0], m[1], m[2], m[3]]));
            model.map_err(|e| d.corrupt_at(at, format!("RFM thresholds: {e}")))?
        }
        n => return Err(d.corrupt(format!("RFM scoring {n}, not 0 (quantiles) or 1 (thresholds)"))),
    };
    let at = d.offset();
    let mut grid: [[&str; 5]; 5] = [[""; 5]; 5];
    for name in grid.iter_mut().flatten() {
        *name = d.str("an RFM segment name")?;
    }
    let grid = RfmGrid::from_grid(grid).map_err(|e| d.corrupt_at(at, format!("RFM segments: {e}")))?;
    Ok(model.with_segments(grid))
}

/// The `new`, `active` and `churn` windows.
fn put_lifecycle(e: &mut Enc, l: &Lifecycle) {
    e.u32(l.new_days());
    e.u32(l.active_days());
    e.u32(l.churn_days());
}

fn get_lifecycle(d: &mut Dec<'_>) -> Result<Lifecycle> {
    let at = d.offset();
    let (new, active, churn) = (d.u32("new window")?, d.u32("active window")?, d.u32("churn window")?);
    Lifecycle::new(new, active, churn).map_err(|e| d.corrupt_at(at, format!("lifecycle windows: {e}")))
}

/// The last refresh's figures and groups, its rows still to read (how many: the third);
/// `left`: the bytes of the file after this section, which hold the rows.
fn get_last(d: &mut Dec<'_>, tags: &Tags, left: u64) -> Result<(Snapshot, DerivedTags, usize)> {
    let at = d.offset();
    let as_of = d.i32("the last refresh's day")?;
    if Day::from_days_since_epoch(as_of).is_none() {
        return Err(d.corrupt_at(at, format!("refresh day {as_of} is not a valid date")));
    }
    let rfm = get_rfm(d)?;
    let lifecycle = get_lifecycle(d)?;
    let scored = d.u64("customers scored")?;
    let rows = d.u64("refresh rows")?;
    let live = d.bitmap("live customers at the last refresh")?;
    // Every row is a customer with purchase records, so a live one, and takes ROW_BYTES
    // of the file: both bound the rows (and the reservation below).
    if rows > live.len() || rows > left / ROW_BYTES || scored > rows {
        return Err(d.corrupt(format!("{rows} refresh rows, {scored} scored, for {} live customers", live.len())));
    }
    let rows = rows as usize;
    let nums: Vec<String> = (1..=5).map(|i: u8| i.to_string()).collect();
    let stages: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    let segments: Vec<&str> = rfm.segments().names().collect();
    let mut group = |name: &str, values: &[&str]| -> Result<DerivedGroup> {
        let at = d.offset();
        let found = d.str("a derived group")?;
        let quiet = d.u8("whether the group is quiet")?;
        let ids = d.u32s("a derived group's tags")?.into_iter().map(TagId).collect();
        let group =
            (found == name && quiet <= 1).then(|| tags.derived_group_of(name, ids, values, quiet == 1)).flatten();
        group.ok_or_else(|| {
            d.corrupt_at(
                at,
                format!("derived group {found:?}: not the tags {name}:{} of the tag pool", values.join("|")),
            )
        })
    };
    let nums: Vec<&str> = nums.iter().map(String::as_str).collect();
    let groups = DerivedTags {
        r: group(derived::R, &nums)?,
        f: group(derived::F, &nums)?,
        m: group(derived::M, &nums)?,
        segment: group(derived::SEGMENT, &segments)?,
        stage: group(derived::STAGE, &stages)?,
    };
    let s = Snapshot { as_of, rfm, lifecycle, scored, ids: Vec::new(), sums: Vec::new(), codes: Vec::new(), live };
    Ok((s, groups, rows))
}

/// One row of the last refresh `s`, checked against its day, grid, windows and live set.
/// One refresh row: the customer, the summary of their purchases, their codes.
type Row = (u32, Summary, Code);

/// One refresh row, checked against the refresh `s`; `live_to` is `s.live`'s last id when
/// it holds every id up to it (`blocks::full_prefix`), to spare a lookup per row;
/// `first_day` the first of [`Day::valid_days`].
fn get_row(d: &mut Dec<'_>, s: &Snapshot, live_to: Option<u32>, first_day: i32) -> Result<Row> {
    // One bounds check a row (10M rows at 10M customers), its fields at fixed offsets.
    let b: [u8; ROW_BYTES as usize] = d.array("refresh row")?;
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let i32_at = |at: usize| u32_at(at) as i32;
    let id = u32_at(0);
    let mut sum = Summary {
        count: u32_at(4),
        first: i32_at(8),
        last: i32_at(12),
        comeback: i32_at(16),
        monetary: i64::from_le_bytes(b[20..28].try_into().expect("8 bytes")),
        ..Summary::default()
    };
    let flags = b[28];
    (sum.overflow, sum.later) = (flags & OVERFLOW != 0, flags & LATER != 0);
    let [r, f, m, seg, stage] = [b[29], b[30], b[31], b[32], b[33]];
    let code = Code { r, f, m, seg, stage };
    let bad = |what: String| d.corrupt(format!("refresh row of customer {id}: {what}"));
    if flags & !(OVERFLOW | LATER) != 0 {
        return Err(bad(format!("summary flags {flags:#x}")));
    }
    if !live_to.map_or_else(|| s.live.contains(id), |last| id <= last) {
        return Err(bad("not live at that refresh".into()));
    }
    if sum.overflow && sum.monetary != 0 {
        return Err(bad("an overflowing sum with a value".into()));
    }
    let day = |x: i32| first_day <= x && x <= s.as_of; // as_of is a valid day
    let dates = if sum.scored() {
        day(sum.first)
            && day(sum.last)
            && sum.first <= sum.last
            && (sum.comeback == NO_DAY || (sum.first < sum.comeback && sum.comeback <= sum.last))
    } else {
        (sum.first, sum.last, sum.comeback) == (0, 0, NO_DAY)
    };
    if !dates {
        return Err(bad(format!("purchase days {}, {}, {} as of {}", sum.first, sum.last, sum.comeback, s.as_of)));
    }
    let scores = if sum.scored() {
        [r, f, m].iter().all(|x| (1..=5).contains(x)) && s.rfm.segments().index(r, f) == Some(seg)
    } else {
        (r, f, m, seg) == (0, 0, 0, 0)
    };
    if !scores {
        return Err(bad(format!("scores {r}, {f}, {m} and segment {seg}")));
    }
    if usize::from(stage) != s.lifecycle.stage(&sum, s.as_of).index() {
        return Err(bad(format!("stage {stage} is not the one its purchases give")));
    }
    Ok((id, sum, code))
}

#[cfg(test)]
mod tests {
    //! The history and the models through a snapshot file: what the public API and the next
    //! refresh read comes back exactly, and a damaged payload (with a valid checksum) is an
    //! [`Error::Corrupt`], never a panic then or later.

    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use roaring::RoaringBitmap;

    use super::*;
    use crate::attrs::Attrs;
    use crate::customers::Directory;
    use crate::error::Error;
    use crate::history::{History, Purchase};
    use crate::id::CustomerId;

    /// The engine's parts these layers need.
    #[derive(Clone)]
    struct World {
        dir: Directory,
        tags: Tags,
        attrs: Attrs,
        history: History,
        models: Models,
    }

    fn day(d: i32) -> Day {
        Day::from_days_since_epoch(d).unwrap()
    }

    impl World {
        fn buy(&mut self, c: CustomerId, d: i32, minor: i64) {
            self.history.record(Purchase::new(c, day(d), Money::from_minor(minor).unwrap()));
        }

        fn remove(&mut self, c: CustomerId) {
            self.dir.remove(c).unwrap();
            self.history.remove_customer(c.0);
            self.models.note_removed(c.0);
        }

        fn refresh(&mut self, d: i32) -> String {
            let report = self.models.refresh(
                day(d),
                &self.dir,
                &mut self.history,
                &mut self.tags,
                &mut self.attrs,
                crate::par::Threads::default(),
            );
            format!("{report:?}")
        }
    }

    /// Several customers (one keyed `高消费`), two refreshes, a thresholds model and other
    /// windows configured since, a removed customer (garbage in the base), recent records
    /// (not compacted) and pending ones (not flushed).
    fn world() -> World {
        let mut w = World {
            dir: Directory::default(),
            tags: Tags::default(),
            attrs: Attrs::default(),
            history: History::default(),
            models: Models::default(),
        };
        let ids: Vec<CustomerId> =
            ["a", "b", "c", "高消费", "e", "f", "g"].iter().map(|k| w.dir.intern(k).unwrap()).collect();
        for (i, &c) in ids.iter().enumerate().take(6) {
            for k in 0..(i as i32 + 2) {
                w.buy(c, 19_000 + 37 * k - 50 * i as i32, 100 * (i as i64 + 1) - 30 * i64::from(k == 1));
            }
        }
        w.buy(ids[2], 19_400, -500); // a refund, dated after the first refresh
        w.refresh(19_200);
        w.buy(ids[0], 19_210, 999); // recent after the next flush
        w.buy(ids[6], 18_000, 5);
        w.refresh(19_250);
        w.remove(ids[1]); // its base range becomes garbage
        w.models.rfm = RfmModel::thresholds(
            [10, 30, 90, 400],
            [1, 2, 3, 5],
            [100, 200, 400, 800].map(|m| Money::from_minor(m).unwrap()),
        )
        .unwrap()
        .with_segments(RfmGrid::from_grid([["low"; 5], ["low"; 5], ["mid"; 5], ["mid"; 5], ["top"; 5]]).unwrap());
        w.models.lifecycle = Lifecycle::new(20, 60, 120).unwrap();
        w.buy(ids[3], 19_260, 70); // pending
        w.buy(ids[4], 19_100, 1);
        w
    }

    fn temp(name: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("audience-models-{name}-{}-{n}.snap", std::process::id()))
    }

    fn save(w: &World, path: &Path) {
        let mut out = Writer::create(path).unwrap();
        w.history.write_snapshot(&mut out).unwrap();
        w.models.write_snapshot(&mut out).unwrap();
        out.finish().unwrap();
    }

    /// `w` with its history and models read back from `path`.
    fn load(w: &World, path: &Path) -> Result<World> {
        let (history, models) = read(w, path)?;
        Ok(World { history, models, ..w.clone() })
    }

    fn read(w: &World, path: &Path) -> Result<(History, Models)> {
        let mut r = Reader::open(path)?;
        let history = History::read_snapshot(&mut r, &w.dir)?;
        let models = Models::read_snapshot(&mut r, &w.tags)?;
        r.finish()?;
        Ok((history, models))
    }

    /// Everything these layers show: their state (bitmaps listed in full), each customer's
    /// purchases, stage and scores, and the derived tags' members.
    fn observe(w: &World) -> String {
        let m = &w.models;
        let bits = |b: &RoaringBitmap| b.iter().collect::<Vec<_>>();
        let mut out = format!("{:?}\n{:?}\n", w.history, m);
        out += &format!("removed {:?} touched {:?}\n", bits(&m.removed), bits(&m.touched));
        if let Some(s) = &m.last {
            out += &format!("live {:?}\n", bits(&s.live));
        }
        if let Some(g) = &m.derived {
            for g in [&g.r, &g.f, &g.m, &g.segment, &g.stage] {
                for i in 0..g.len() {
                    out += &format!("{:?}[{i}] {:?}\n", g.parts(), bits(w.tags.members(g, i)));
                }
            }
        }
        for c in 0..10 {
            out += &format!(
                "{c}: {:?} {:?} {:?} {:?}\n",
                w.history.purchases_of(CustomerId(c)),
                m.stage_of(c),
                m.rfm_of(c),
                m.last_as_of()
            );
        }
        out
    }

    #[test]
    fn history_and_models_round_trip_and_the_next_refresh_is_the_same() {
        let w = world();
        let (recent, pending, garbage) = w.history.tiers();
        assert!(recent > 0 && pending > 0 && garbage > 0, "{:?}", w.history.tiers());
        assert!(!w.models.removed.is_empty() && w.models.last.is_some());
        let path = temp("round-trip");
        save(&w, &path);
        let back = load(&w, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(observe(&back), observe(&w));

        // The next refreshes (incremental: later day; then a full one: other windows' churn)
        // give the same reports and the same state.
        let (mut a, mut b) = (w.clone(), back);
        for d in [19_300, 19_300, 19_600] {
            assert_eq!(b.refresh(d), a.refresh(d), "refresh as of {d}");
            assert_eq!(observe(&b), observe(&a));
            let path = temp("again");
            save(&a, &path);
            b = load(&a, &path).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(observe(&b), observe(&a));
        }

        // Before any refresh, and for nothing at all.
        for fresh in [World { models: Models::default(), ..world() }, World { history: History::default(), ..world() }]
        {
            let mut fresh = fresh;
            fresh.models = Models::default();
            let path = temp("fresh");
            save(&fresh, &path);
            let back = load(&fresh, &path).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(observe(&back), observe(&fresh));
        }
    }

    /// Rows and groups that check one by one but not against the rest (or the tag pool),
    /// written with valid checksums: corrupt.
    #[test]
    fn inconsistent_refresh_state_is_corrupt() {
        let w = world();
        type Break = (&'static str, fn(&mut Models));
        let breaks: [Break; 8] = [
            ("rows not ascending", |m| Arc::make_mut(m.last.as_mut().unwrap()).ids.swap(0, 1)),
            ("a stage the windows do not give", |m| {
                let c = &mut Arc::make_mut(m.last.as_mut().unwrap()).codes[0];
                c.stage = (c.stage + 1) % 6;
            }),
            ("a segment the grid does not give", |m| {
                let c = &mut Arc::make_mut(m.last.as_mut().unwrap()).codes[0];
                c.seg = (c.seg + 1) % 10;
            }),
            ("a score without purchases", |m| {
                let s = Arc::make_mut(m.last.as_mut().unwrap());
                let i = s.sums.iter().position(|s| s.scored()).unwrap();
                s.sums[i] = Summary { comeback: NO_DAY, ..Summary::default() };
            }),
            ("a row of a customer not live then", |m| {
                let s = Arc::make_mut(m.last.as_mut().unwrap());
                let id = *s.ids.last().unwrap();
                s.live.remove(id);
            }),
            ("scored miscounted", |m| Arc::make_mut(m.last.as_mut().unwrap()).scored += 1),
            ("a group's tags swapped", |m| {
                let g = m.derived.as_mut().unwrap();
                std::mem::swap(&mut g.r, &mut g.f);
            }),
            ("a purchase after the refresh day", |m| {
                let s = Arc::make_mut(m.last.as_mut().unwrap());
                let i = s.sums.iter().position(|s| s.scored()).unwrap();
                s.sums[i].last = s.as_of + 1;
            }),
        ];
        let path = temp("inconsistent");
        for (what, f) in breaks {
            let mut bad = w.clone();
            f(&mut bad.models);
            save(&bad, &path);
            match read(&w, &path) {
                Err(Error::Corrupt { .. }) => {}
                other => panic!("{what}: {:?}", other.map(|_| ())),
            }
        }
        // Another tag pool: the groups' tags are not its tags.
        save(&w, &path);
        let other = World { tags: Tags::default(), ..w.clone() };
        assert!(matches!(read(&other, &path), Err(Error::Corrupt { .. })));
        std::fs::remove_file(&path).unwrap();
    }

    /// The file's sections, as (kind, payload); the end section left out.
    fn sections(path: &Path) -> Vec<([u8; 4], Vec<u8>)> {
        let bytes = std::fs::read(path).unwrap();
        let mut at = 16;
        let mut out = Vec::new();
        loop {
            let kind: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
            if kind == *b"END\0" {
                return out;
            }
            out.push((kind, bytes[at + 12..at + 12 + len].to_vec()));
            at += 16 + len;
        }
    }

    /// A snapshot of `sections` at `path`, framed and checksummed as [`Writer`] does (but
    /// not synced: thousands of these are written).
    fn rebuild(path: &Path, sections: &[([u8; 4], Vec<u8>)]) {
        let good = std::fs::read(path.with_extension("good")).unwrap();
        let mut bytes = good[..16].to_vec();
        let frame = |bytes: &mut Vec<u8>, kind: [u8; 4], payload: &[u8]| {
            let len = (payload.len() as u64).to_le_bytes();
            let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&kind), &len), payload);
            bytes.extend_from_slice(&kind);
            bytes.extend_from_slice(&len);
            bytes.extend_from_slice(payload);
            bytes.extend_from_slice(&crc.to_le_bytes());
        };
        for (kind, payload) in sections {
            frame(&mut bytes, *kind, payload);
        }
        let mut end = Enc::default();
        end.u64(sections.len() as u64);
        end.u64((bytes.len() + 32) as u64);
        frame(&mut bytes, *b"END\0", &end.buf);
        std::fs::write(path, bytes).unwrap();
    }

    /// Every truncation of every payload, and every byte of every payload with a bit
    /// flipped, re-checksummed: a truncation is an `Error::Corrupt`; a flip is one too, or
    /// loads layers that every read and a refresh work on without a panic.
    #[test]
    fn damaged_payloads_are_corrupt_never_a_panic() {
        let w = world();
        let path = temp("bad");
        let good = path.with_extension("good");
        save(&w, &good);
        let secs = sections(&good);
        rebuild(&path, &secs);
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&good).unwrap());
        let kinds: Vec<String> = secs.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
        assert_eq!(kinds, ["HIST", "HIDS", "HSTA", "HLEN", "HDAY", "HAMT", "HREC", "HPEN", "MODL", "MROW"]);
        let expect_corrupt = |what: &str| match read(&w, &path) {
            Err(Error::Corrupt { .. }) => {}
            Err(e) => panic!("{what}: {e}"),
            Ok(_) => panic!("{what}: loaded"),
        };
        for (i, (kind, payload)) in secs.iter().enumerate() {
            let kind = String::from_utf8_lossy(kind);
            for cut in 0..payload.len() {
                let mut bad = secs.clone();
                bad[i].1.truncate(cut);
                rebuild(&path, &bad);
                expect_corrupt(&format!("{kind} cut at {cut}"));
            }
            // A section left out, or one more.
            let mut bad = secs.clone();
            bad.remove(i);
            rebuild(&path, &bad);
            expect_corrupt(&format!("{kind} left out"));
            for (at, bit) in (0..payload.len()).map(|at| (at, 1u8 << (at * 3 % 8))) {
                let mut bad = secs.clone();
                bad[i].1[at] ^= bit;
                rebuild(&path, &bad);
                match read(&w, &path) {
                    Err(Error::Corrupt { .. }) => {}
                    Err(e) => panic!("{kind} byte {at} ^ {bit:#x}: {e}"),
                    Ok((history, models)) => {
                        let mut back = World { history, models, ..w.clone() };
                        observe(&back);
                        back.refresh(19_700);
                        observe(&back);
                    }
                }
            }
        }
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&good).unwrap();
    }
}
