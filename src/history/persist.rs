//! The purchase history's snapshot sections (see `persist/` and `docs/format.md`, "History").
//!
//! A header (`HIST`: every count and the two totals), then the base columns, one kind each
//! and cut into sections of about [`CHUNK`] bytes (`HIDS`, `HSTA`, `HLEN`, `HDAY`, `HAMT`),
//! then the recent (`HREC`) and pending (`HPEN`) records. Reading appends chunk by chunk to
//! columns reserved once from the header's counts (checked against the bytes left in the
//! file first), so opening holds one chunk beside the history, never a second copy of a
//! column. Every value is checked as it is read and the tiers against each other once read:
//! anything the store indexes on, binary-searches or `expect`s is an [`Error::Corrupt`] here.
//! The pending-records index is a cache and starts empty.

use std::ops::Range;

use super::{Day, History, Money, Rec};
use crate::customers::Directory;
use crate::error::Result;
use crate::id::CustomerId;
use crate::par::Threads;
use crate::persist::codec::corrupt;
use crate::persist::file::CHUNK;
use crate::persist::{Dec, Enc, Reader, Writer};

/// The header: counts and totals.
const HEADER: [u8; 4] = *b"HIST";
/// Base: customer ids, ascending (`u32`).
const IDS: [u8; 4] = *b"HIDS";
/// Base: each customer's first column entry (`u64`).
const STARTS: [u8; 4] = *b"HSTA";
/// Base: each customer's number of entries (`u32`).
const LENS: [u8; 4] = *b"HLEN";
/// Base: days since 1970-01-01 (`i32`).
const DAYS: [u8; 4] = *b"HDAY";
/// Base: amounts in minor units (`i64`).
const AMOUNTS: [u8; 4] = *b"HAMT";
/// Recent records, sorted by (customer, day).
const RECENT: [u8; 4] = *b"HREC";
/// Pending records, in arrival order.
const PENDING: [u8; 4] = *b"HPEN";

/// Bytes of one record in `HREC` / `HPEN`.
const REC_BYTES: u64 = 16;

impl History {
    /// Writes the history's sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let mut e = Enc::default();
        for n in [self.ids.len(), self.days.len(), self.recent.len(), self.pending.len()] {
            e.len(n);
        }
        e.u64(self.garbage);
        e.u64(self.records);
        w.section(HEADER, &e.buf)?;
        write_column(w, IDS, &self.ids, CHUNK / 4, Enc::u32s)?;
        write_column(w, STARTS, &self.starts, CHUNK / 8, Enc::u64s)?;
        write_column(w, LENS, &self.lens, CHUNK / 4, Enc::u32s)?;
        write_column(w, DAYS, &self.days, CHUNK / 4, Enc::i32s)?;
        write_column(w, AMOUNTS, &self.amounts, CHUNK / 8, Enc::i64s)?;
        for (kind, recs) in [(RECENT, &self.recent[..]), (PENDING, &self.pending[..])] {
            w.chunked(kind, recs, |e, r| {
                e.u32(r.customer);
                e.i32(r.day);
                e.i64(r.amount);
            })?;
        }
        Ok(())
    }

    /// Reads what [`History::write_snapshot`] wrote; `customers` (already read) to check
    /// that every purchase is a live customer's.
    pub(crate) fn read_snapshot(r: &mut Reader, customers: &Directory) -> Result<History> {
        let path = r.path().to_path_buf();
        let s = r.section(HEADER)?;
        let mut d = s.dec(&path);
        // A count and its offset; each item takes at least `width` bytes of what follows in
        // the file, so the count may reserve room.
        let mut count = |width: u64, what: &str| -> Result<(usize, u64)> {
            let at = d.offset();
            let n = d.u64(what)?;
            match usize::try_from(n) {
                Ok(n) if n as u64 <= s.left / width => Ok((n, at)),
                _ => Err(corrupt(&path, at, format!("{what}: a count of {n} does not fit the file"))),
            }
        };
        let rows = count(16, "history: customers in the base")?;
        let entries = count(12, "history: purchases in the base")?;
        let recent = count(REC_BYTES, "history: recent records")?;
        let pending = count(REC_BYTES, "history: pending records")?;
        let garbage = d.u64("history: unreachable base entries")?;
        let records = d.u64("history: records")?;
        let header_end = d.offset();
        d.finish("history header")?;

        let mut h = History::default();
        // Each day and amount is checked as it is decoded; the first refused is reported
        // once the columns are read, in the order the checks below had before.
        let days = Day::valid_days();
        h.ids = read_column(r, IDS, rows, u32::from_le_bytes, |_| true)?.0.into();
        h.starts = read_column(r, STARTS, rows, u64::from_le_bytes, |_| true)?.0.into();
        h.lens = read_column(r, LENS, rows, u32::from_le_bytes, |_| true)?.0.into();
        let (day_column, bad_day) = read_column(r, DAYS, entries, i32::from_le_bytes, |d| days.contains(&d))?;
        let max = Money::MAX_MINOR as u64;
        let (amount_column, bad_amount) =
            read_column(r, AMOUNTS, entries, i64::from_le_bytes, |a| a.unsigned_abs() <= max)?;
        (h.days, h.amounts) = (day_column.into(), amount_column.into());
        let entries = entries.0;
        let live = customers.live();
        let check = |d: &Dec<'_>, rec: &Rec, what: &str| -> Result<()> {
            if !live.contains(rec.customer) {
                return Err(d.corrupt(format!("{what}: customer {} is not live", rec.customer)));
            }
            check_value(d, rec.day, rec.amount, what)
        };
        h.recent = read_records(r, RECENT, recent, |d, rec, prev| {
            check(d, &rec, "a recent record")?;
            if prev.is_some_and(|p| p.key() > rec.key()) {
                return Err(d.corrupt("recent records out of (customer, day) order"));
            }
            Ok(())
        })?
        .into();
        h.pending = read_records(r, PENDING, pending, |d, rec, _| check(d, &rec, "a pending record"))?.into();

        // The base: rows ascending by customer, ranges in order inside the columns, each
        // sorted by day; what no range covers is exactly `garbage`. Checked in parts on
        // several threads (10M rows took a sixth of a second on one); the first part with
        // an error holds the first row with one.
        let bad = |what: String| corrupt(&path, header_end, what);
        // No customer ever removed: live is every id up to the last (no lookup per row).
        let live_to = crate::blocks::full_prefix(live);
        let is_live = |id: u32| live_to.map_or_else(|| customers.is_live(CustomerId(id)), |last| id <= last);
        let parts = crate::par::ranges(h.ids.len(), Threads::default().for_work(h.ids.len() as u64));
        let mut covered = 0u64;
        for part in crate::par::map(parts, |_, rows| check_base(&h, rows, entries, is_live)) {
            covered += part.map_err(bad)?;
        }
        if let Some(i) = bad_day {
            return Err(bad(format!("history: base entry {i}: day {} is not a valid date", h.days[i])));
        }
        if let Some(i) = bad_amount {
            return Err(bad(format!("history: base entry {i}: amount {} is out of range", h.amounts[i])));
        }
        if covered + garbage != entries as u64 {
            return Err(bad(format!(
                "history: {entries} base entries, {covered} in customer ranges and {garbage} unreachable"
            )));
        }
        let total = covered + (recent.0 + pending.0) as u64;
        if records != total {
            return Err(bad(format!("history: {records} records counted, {total} held")));
        }
        h.garbage = garbage;
        h.records = records;
        Ok(h)
    }
}

/// Checks the base's `rows` (see [`History::read_snapshot`]) in a history of `entries`
/// base entries: what they cover, or what is wrong with the first row that is.
fn check_base(h: &History, rows: Range<usize>, entries: usize, is_live: impl Fn(u32) -> bool) -> Result<u64, String> {
    // Where the row before ends (it is checked first: nothing past the end of the columns).
    let mut end = rows.start.checked_sub(1).map_or(0, |r| h.starts[r].saturating_add(u64::from(h.lens[r])));
    let mut covered = 0u64;
    for row in rows {
        let (id, start, len) = (h.ids[row], h.starts[row], h.lens[row]);
        if row > 0 && h.ids[row - 1] >= id {
            return Err(format!("history: base customers not ascending at row {row} (customer {id})"));
        }
        let stop = start.checked_add(u64::from(len)).filter(|&s| start >= end && s <= entries as u64);
        let Some(stop) = stop else {
            return Err(format!("history: customer {id}'s range {start}+{len} overlaps or runs past the columns"));
        };
        if len > 0 && !is_live(id) {
            return Err(format!("history: customer {id} has purchases but is not live"));
        }
        if !h.days[start as usize..stop as usize].is_sorted() {
            return Err(format!("history: customer {id}'s purchases are not sorted by day"));
        }
        end = stop;
        covered += u64::from(len);
    }
    Ok(covered)
}

/// Checks one record's day and amount (`d` at the end of the record).
fn check_value(d: &Dec<'_>, day: i32, amount: i64, what: &str) -> Result<()> {
    if Day::from_days_since_epoch(day).is_none() {
        return Err(d.corrupt(format!("{what}: day {day} is not a valid date")));
    }
    if Money::from_minor(amount).is_err() {
        return Err(d.corrupt(format!("{what}: amount {amount} is out of range")));
    }
    Ok(())
}

/// `values` in sections of `kind` of `per` values each (about [`CHUNK`] bytes), each `put`
/// as a count and the values; one empty section for no values.
fn write_column<T>(w: &mut Writer, kind: [u8; 4], values: &[T], per: usize, put: fn(&mut Enc, &[T])) -> Result<()> {
    let mut e = Enc::default();
    let mut chunks = values.chunks(per).peekable();
    if chunks.peek().is_none() {
        put(&mut e, &[]);
        return w.section(kind, &e.buf);
    }
    for chunk in chunks {
        e.buf.clear();
        put(&mut e, chunk);
        w.section(kind, &e.buf)?;
    }
    Ok(())
}

/// The column [`write_column`] wrote: `n` values (a count checked against the file, read at
/// offset `at`), each `f` of its bytes, decoded on several threads.
fn read_column<T: Copy + Default + Send, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    rows: (usize, u64),
    f: impl Fn([u8; N]) -> T + Copy + Send,
    valid: impl Fn(T) -> bool + Copy + Send,
) -> Result<(Vec<T>, Option<usize>)> {
    let what = format!("history column {}", String::from_utf8_lossy(&kind));
    crate::persist::column::read_column(r, kind, rows, &what, f, valid)
}

/// The records [`Writer::chunked`] wrote: `n` of them (a count checked against the file,
/// read at offset `at`), each checked by `check(dec, record, previous record)`.
fn read_records(
    r: &mut Reader,
    kind: [u8; 4],
    (n, at): (usize, u64),
    mut check: impl FnMut(&Dec<'_>, Rec, Option<Rec>) -> Result<()>,
) -> Result<Vec<Rec>> {
    let mut out: Vec<Rec> = Vec::with_capacity(n);
    let what = if kind == RECENT { "recent records" } else { "pending records" };
    r.chunked(kind, |d| {
        if out.len() == n {
            return Err(d.corrupt(format!("history: more {what} than the {n} the header counts")));
        }
        let rec = Rec { customer: d.u32("customer")?, day: d.i32("day")?, amount: d.i64("amount")? };
        check(d, rec, out.last().copied())?;
        out.push(rec);
        Ok(())
    })?;
    if out.len() != n {
        let what = format!("history: the header counts {n} {what}, the sections hold {}", out.len());
        return Err(corrupt(r.path(), at, what));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::error::Error;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("audience-history-{name}-{}.snap", std::process::id()))
    }

    /// The base checked in parts gives what it gives in one part, cut anywhere: the same
    /// coverage, or the first bad row's error, whatever row is damaged and however.
    #[test]
    fn the_base_checked_in_parts_is_checked_as_in_one() {
        // Ten customers 0, 2, 4, .. with 0-3 purchases each, days ascending in each range.
        let mut good = History::default();
        let (mut ids, mut starts, mut lens, mut days) = (vec![], vec![], vec![], vec![]);
        for c in 0..10u32 {
            ids.push(c * 2);
            starts.push(days.len() as u64);
            lens.push(c % 4);
            days.extend((0..c % 4).map(|k| (c * 10 + k) as i32));
        }
        let entries = days.len();
        (good.ids, good.starts, good.lens, good.days) = (ids.into(), starts.into(), lens.into(), days.into());
        let is_live = |id: u32| id != 13;
        let damages: [fn(&mut History, usize); 6] = [
            |_, _| {},
            |h, r| Arc::make_mut(&mut h.ids)[r] = if r > 0 { h.ids[r - 1] } else { 13 },
            |h, r| Arc::make_mut(&mut h.starts)[r] = h.starts[r].saturating_sub(1),
            |h, r| Arc::make_mut(&mut h.starts)[r] = u64::MAX,
            |h, r| Arc::make_mut(&mut h.lens)[r] += 1,
            |h, r| {
                let (s, l) = (h.starts[r] as usize, h.lens[r] as usize);
                if l > 1 {
                    Arc::make_mut(&mut h.days)[s..s + l].reverse();
                }
            },
        ];
        for (k, damage) in damages.iter().enumerate() {
            for row in 0..10 {
                let mut h = good.clone();
                damage(&mut h, row);
                let whole = check_base(&h, 0..10, entries, is_live);
                if k == 0 {
                    assert_eq!(whole, Ok(entries as u64));
                }
                for cut in 0..=10 {
                    let parts = [check_base(&h, 0..cut, entries, is_live), check_base(&h, cut..10, entries, is_live)];
                    let split = parts.into_iter().try_fold(0, |sum, p| p.map(|c| sum + c));
                    assert_eq!(split, whole, "damage {k} at row {row}, cut at {cut}");
                }
            }
        }
    }

    /// A column cut into several sections comes back whole; one value more or fewer than
    /// the count is corrupt.
    #[test]
    fn a_column_is_read_back_chunk_by_chunk() {
        let path = temp("column");
        let values: Vec<i64> = (0..10).map(|i| i * 1_000_000_007 - 3).collect();
        for (n, ok) in [(10, true), (9, false), (11, false)] {
            let mut w = Writer::create(&path).unwrap();
            write_column(&mut w, AMOUNTS, &values, 4, Enc::i64s).unwrap(); // 3 sections
            write_column(&mut w, DAYS, &[] as &[i32], 4, Enc::i32s).unwrap(); // 1, empty
            w.finish().unwrap();
            let mut r = Reader::open(&path).unwrap();
            let got = read_column(&mut r, AMOUNTS, (n, 0), i64::from_le_bytes, |_| true).map(|(v, _)| v);
            if ok {
                assert_eq!(got.unwrap(), values);
                assert!(read_column(&mut r, DAYS, (0, 0), i32::from_le_bytes, |_| true).unwrap().0.is_empty());
                r.finish().unwrap();
            } else {
                assert!(matches!(got, Err(Error::Corrupt { .. })), "{n}: {got:?}");
            }
        }
        std::fs::remove_file(&path).unwrap();
    }

    fn round_trip(h: &History, customers: &Directory, path: &Path) -> Result<History> {
        let mut w = Writer::create(path).unwrap();
        h.write_snapshot(&mut w).unwrap();
        w.finish().unwrap();
        let mut r = Reader::open(path)?;
        let back = History::read_snapshot(&mut r, customers)?;
        r.finish()?;
        Ok(back)
    }

    /// Values that check one by one but not together (or not against the directory), each
    /// written with valid checksums: corrupt.
    #[test]
    fn inconsistent_tiers_are_corrupt() {
        let mut customers = Directory::default();
        for k in ["a", "b", "c", "d"] {
            customers.intern(k).unwrap();
        }
        let mut h = History::default();
        for (c, d, a) in [(0, 5, 10), (0, 3, 20), (1, 7, -5), (2, 1, 1), (3, 2, 2)] {
            h.push(Rec { customer: c, day: d, amount: a });
        }
        for d in 10..50 {
            h.push(Rec { customer: 0, day: d, amount: 1 });
        }
        h.flush(crate::par::Threads::default()); // compacted into the base (it was empty)
        h.remove_customer(3); // garbage
        customers.remove(CustomerId(3)).unwrap();
        h.push(Rec { customer: 1, day: 2, amount: 3 });
        h.flush(crate::par::Threads::default()); // recent
        h.push(Rec { customer: 2, day: 9, amount: 4 }); // pending
        assert!(h.tiers().0 > 0 && h.tiers().1 > 0 && h.tiers().2 > 0, "{:?}", h.tiers());
        let path = temp("tiers");
        let back = round_trip(&h, &customers, &path).unwrap();
        assert_eq!(format!("{back:?}"), format!("{h:?}"));

        type Break = (&'static str, fn(&mut History));
        let breaks: [Break; 12] = [
            ("ids not ascending", |h| Arc::make_mut(&mut h.ids).swap(0, 1)),
            ("a range past the columns", |h| Arc::make_mut(&mut h.lens)[2] += 5),
            ("overlapping ranges", |h| Arc::make_mut(&mut h.starts)[1] -= 1),
            ("a range not sorted by day", |h| Arc::make_mut(&mut h.days).swap(0, 1)),
            ("garbage miscounted", |h| h.garbage += 1),
            ("records miscounted", |h| h.records -= 1),
            ("recent out of order", |h| Arc::make_mut(&mut h.recent).push(Rec { customer: 0, day: 0, amount: 0 })),
            ("a day Day refuses", |h| Arc::make_mut(&mut h.days)[41] = i32::MAX), // customer 0's last
            ("an amount Money refuses", |h| Arc::make_mut(&mut h.amounts)[0] = i64::MIN),
            ("a pending day Day refuses", |h| Arc::make_mut(&mut h.pending)[0].day = i32::MIN),
            ("a customer not live", |h| Arc::make_mut(&mut h.pending)[0].customer = 9),
            ("a removed customer with purchases", |h| Arc::make_mut(&mut h.lens)[3] = 1),
        ];
        for (what, f) in breaks {
            let mut bad = h.clone();
            f(&mut bad);
            bad.records = match what {
                "records miscounted" => bad.records,
                _ => bad.records + bad.recent.len() as u64 - h.recent.len() as u64,
            };
            if what == "a removed customer with purchases" {
                (bad.garbage, bad.records) = (bad.garbage - 1, bad.records + 1);
            }
            match round_trip(&bad, &customers, &path) {
                Err(Error::Corrupt { .. }) => {}
                other => panic!("{what}: {other:?}"),
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
}
