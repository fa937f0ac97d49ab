//! The purchase store: columnar, per customer, sorted by day.
//!
//! Three tiers, so that appends are O(1) and reads stay sorted without rewriting everything:
//!
//! - **base**: compressed sparse rows. `ids` (ascending customer ids) with, per customer, a
//!   start and a length into the columns `days` (i32 days since 1970-01-01) and `amounts`
//!   (i64 minor units): 12 bytes per purchase plus 16 per customer. A customer's rows are
//!   sorted by day.
//! - **recent**: records sorted by (customer, day), merged into the base once it grows past
//!   an eighth of it (so each record is copied O(1) times, amortized).
//! - **pending**: records in arrival order since the last [`History::flush`].
//!
//! Removing a customer empties its base range in place (the bytes are reclaimed at the next
//! compaction) and filters the two small tiers.

use std::sync::{Arc, Mutex};

use roaring::RoaringBitmap;

use super::bucket::{self, Columns, dense_max};
use super::rec::Rec;
use crate::par::{self, Threads};

/// Purchase history of every customer.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    // The columns and tiers are shared with the engine's clones and readers: a write copies
    // the one it changes when a reader still holds it ([`Arc::make_mut`]). Appending a
    // purchase writes `pending` only; removing a customer `lens` only.
    pub(super) ids: Arc<Vec<u32>>,
    pub(super) starts: Arc<Vec<u64>>,
    pub(super) lens: Arc<Vec<u32>>,
    pub(super) days: Arc<Vec<i32>>,
    pub(super) amounts: Arc<Vec<i64>>,
    /// Column entries no customer range covers any more (removed customers).
    pub(super) garbage: u64,
    pub(super) recent: Arc<Vec<Rec>>,
    pub(super) pending: Arc<Vec<Rec>>,
    /// Live records in all tiers.
    pub(super) records: u64,
    /// The pending records by customer, for one customer's reads between flushes.
    by_customer: PendingIndex,
}

/// Positions of the first `len` pending records sorted by customer (stably: arrival order
/// within one), so reading one customer's pending records is a binary search plus a scan of
/// what arrived since, not a scan of every pending record (a bulk load of millions before a
/// refresh). Built by the first read that needs it, rebuilt when the unindexed tail grows
/// past an eighth, dropped by any change other than an append.
#[derive(Default)]
struct PendingIndex(Mutex<Option<Sorted>>);

/// How many pending records an index covers, and their positions sorted by customer.
type Sorted = Arc<(usize, Vec<u32>)>;

/// Below this many pending records, a read scans them.
const SCAN_PENDING: usize = 4096;

impl Clone for PendingIndex {
    /// A clone shares the index: it indexes the same pending records (a write replaces or
    /// drops an index, never changes one).
    fn clone(&self) -> PendingIndex {
        PendingIndex(Mutex::new(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()))
    }
}

impl std::fmt::Debug for PendingIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingIndex")
    }
}

impl PendingIndex {
    fn reset(&mut self) {
        *self.0.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl History {
    pub(crate) fn push(&mut self, r: Rec) {
        Arc::make_mut(&mut self.pending).push(r);
        self.records += 1;
    }

    /// Drops pending records pushed after the record count was `records` (undoes a failed
    /// bulk load).
    pub(crate) fn truncate_pending(&mut self, records: u64) {
        self.by_customer.reset();
        let extra = (self.records - records) as usize;
        if extra > 0 {
            let keep = self.pending.len() - extra;
            Arc::make_mut(&mut self.pending).truncate(keep);
        }
        self.records = records;
    }

    /// Whether records were pushed since the last flush.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        if n > 0 {
            Arc::make_mut(&mut self.pending).reserve(n); // none: the tier stays shared
        }
    }

    /// Number of purchase records (refunds included).
    pub(crate) fn len(&self) -> u64 {
        self.records
    }

    /// Bytes held by the columns and tiers (capacity).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 4
            + self.starts.capacity() * 8
            + self.lens.capacity() * 4
            + self.days.capacity() * 4
            + self.amounts.capacity() * 8
            + (self.recent.capacity() + self.pending.capacity()) * std::mem::size_of::<Rec>()
    }

    fn base_range(&self, row: usize) -> std::ops::Range<usize> {
        let s = self.starts[row] as usize;
        s..s + self.lens[row] as usize
    }

    /// Drops every record of `customer`; returns how many there were.
    pub(crate) fn remove_customer(&mut self, customer: u32) -> u64 {
        self.remove_customers(&RoaringBitmap::from_iter([customer]))
    }

    /// Drops every record of the customers in `customers` (one pass over the small tiers);
    /// returns how many there were.
    pub(crate) fn remove_customers(&mut self, customers: &RoaringBitmap) -> u64 {
        let before = self.pending.len() + self.recent.len();
        self.by_customer.reset();
        // Only what holds their records is written (and copied, when a reader shares it).
        for tier in [&mut self.pending, &mut self.recent] {
            if tier.iter().any(|r| customers.contains(r.customer)) {
                Arc::make_mut(tier).retain(|r| !customers.contains(r.customer));
            }
        }
        let mut removed = (before - self.pending.len() - self.recent.len()) as u64;
        for c in customers {
            if let Ok(row) = self.ids.binary_search(&c)
                && self.lens[row] > 0
            {
                removed += u64::from(self.lens[row]);
                self.garbage += u64::from(self.lens[row]);
                Arc::make_mut(&mut self.lens)[row] = 0;
            }
        }
        self.records -= removed;
        removed
    }

    /// Appends a copy of every record of `from` as a record of `into` (by day, in arrival
    /// order within a day, after `into`'s own records of that day); how many. They are
    /// pending records, so the next flush reports `into` among the customers with new
    /// records. `from` keeps its records (the caller removes them).
    pub(crate) fn copy_customer(&mut self, from: u32, into: u32) -> u64 {
        let recs = self.of(from);
        self.reserve(recs.len());
        for &(day, amount) in &recs {
            self.push(Rec { customer: into, day, amount });
        }
        recs.len() as u64
    }

    /// Sorts the pending records into the recent tier (compacting into the base when the
    /// recent tier has grown past an eighth of it), the counting sorts on up to `threads`
    /// threads. Returns the customers that had pending records, ascending.
    pub(crate) fn flush(&mut self, threads: Threads) -> Vec<u32> {
        self.by_customer.reset();
        let mut pending = Arc::unwrap_or_clone(std::mem::take(&mut self.pending));
        // The first load: scatter straight into the columns (no sorted copy in between).
        if self.days.is_empty()
            && self.recent.is_empty()
            && let Some(max) = dense_max(&pending)
        {
            let threads = threads.for_work(pending.len() as u64);
            return self.build_base(pending, max, threads);
        }
        sort_records(&mut pending, threads);
        let mut touched: Vec<u32> = pending.iter().map(|r| r.customer).collect();
        touched.dedup();
        if self.recent.is_empty() {
            self.recent = Arc::new(pending);
        } else if !pending.is_empty() {
            self.recent = Arc::new(merge_sorted(&self.recent, &pending));
        }
        if self.recent.len() as u64 * 8 > self.days.len() as u64 || self.garbage * 4 > self.days.len() as u64 {
            self.compact();
        }
        touched
    }

    /// Builds the (empty) base from `recs` (customer ids at most `max`) by a counting sort
    /// into the columns ([`Columns::of`]) on `threads` threads. Returns the customers,
    /// ascending.
    fn build_base(&mut self, recs: Vec<Rec>, max: usize, threads: usize) -> Vec<u32> {
        let c = Columns::of(&recs, max, threads);
        drop(recs);
        self.ids = Arc::new(c.ids.clone());
        (self.starts, self.lens, self.days, self.amounts) =
            (c.starts.into(), c.lens.into(), c.days.into(), c.amounts.into());
        self.garbage = 0;
        c.ids
    }

    /// Merges the recent tier into the base and drops removed customers' bytes.
    fn compact(&mut self) {
        let total = self.days.len() - self.garbage as usize + self.recent.len();
        let mut ids = Vec::with_capacity(self.ids.len() + 1024);
        let mut starts = Vec::with_capacity(self.ids.len() + 1024);
        let mut lens = Vec::with_capacity(self.ids.len() + 1024);
        let mut days = Vec::with_capacity(total);
        let mut amounts = Vec::with_capacity(total);
        let recent = std::mem::take(&mut self.recent);
        let mut scratch = Vec::new();
        self.for_each_in(
            0..self.ids.len(),
            &recent[..],
            |customer, d, a| {
                if d.is_empty() {
                    return;
                }
                ids.push(customer);
                starts.push(days.len() as u64);
                lens.push(d.len() as u32);
                days.extend_from_slice(d);
                amounts.extend_from_slice(a);
            },
            &mut scratch,
        );
        (self.ids, self.starts, self.lens) = (ids.into(), starts.into(), lens.into());
        (self.days, self.amounts) = (days.into(), amounts.into());
        self.garbage = 0;
    }

    /// Calls `f(customer, days, amounts)` for every customer with records (pending records
    /// must have been flushed), ascending by customer, with the base and recent tiers merged
    /// by day.
    #[cfg(test)]
    pub(crate) fn for_each(&self, f: impl FnMut(u32, &[i32], &[i64])) {
        debug_assert!(self.pending.is_empty());
        let mut scratch = Vec::new();
        self.for_each_in(0..self.ids.len(), &self.recent, f, &mut scratch);
    }

    /// What `f(customer, days, amounts)` returns for every customer with records (as
    /// [`History::for_each`] calls it), the `Some`s in customer order, on up to `threads`
    /// threads: the customers are cut into ranges of ids, a thread each.
    pub(crate) fn collect<T: Send>(
        &self,
        threads: Threads,
        f: impl Fn(u32, &[i32], &[i64]) -> Option<T> + Sync,
    ) -> Vec<T> {
        debug_assert!(self.pending.is_empty());
        let n = threads.for_work((self.ids.len() + self.recent.len()) as u64);
        // Range boundaries: customer ids cutting the larger tier evenly.
        let cut: Vec<u64> = if self.ids.len() >= self.recent.len() {
            par::ranges(self.ids.len(), n)
                .iter()
                .map(|r| self.ids.get(r.start).map_or(u64::MAX, |&c| c.into()))
                .collect()
        } else {
            par::ranges(self.recent.len(), n)
                .iter()
                .map(|r| self.recent.get(r.start).map_or(u64::MAX, |rec| rec.customer.into()))
                .collect()
        };
        let bounds: Vec<(u64, u64)> =
            (0..n).map(|k| (if k == 0 { 0 } else { cut[k] }, cut.get(k + 1).copied().unwrap_or(u64::MAX))).collect();
        let parts = par::map(bounds, |_, (lo, hi)| {
            let rows =
                self.ids.partition_point(|&c| u64::from(c) < lo)..self.ids.partition_point(|&c| u64::from(c) < hi);
            let i = self.recent.partition_point(|r| u64::from(r.customer) < lo);
            let j = self.recent.partition_point(|r| u64::from(r.customer) < hi);
            let mut out = Vec::new();
            self.for_each_in(rows, &self.recent[i..j], |c, d, a| out.extend(f(c, d, a)), &mut Vec::new());
            out
        });
        par::concat(parts)
    }

    /// `f(customer, days, amounts)` for the customers of rows `rows` of the base and the
    /// records `recent` (ascending by customer, days merged), ascending by customer.
    fn for_each_in(
        &self,
        rows: std::ops::Range<usize>,
        recent: &[Rec],
        mut f: impl FnMut(u32, &[i32], &[i64]),
        scratch: &mut Vec<(i32, i64)>,
    ) {
        let ids = &self.ids[..rows.end];
        let (mut row, mut i) = (rows.start, 0);
        let mut ds = Vec::new();
        let mut am = Vec::new();
        while row < ids.len() || i < recent.len() {
            let next_base = ids.get(row).copied().unwrap_or(u32::MAX);
            let next_recent = recent.get(i).map_or(u32::MAX, |r| r.customer);
            let customer = next_base.min(next_recent);
            let base = if row < ids.len() && next_base == customer {
                row += 1;
                self.base_range(row - 1)
            } else {
                0..0
            };
            // A linear scan: the run is short, and a binary search over the whole rest of
            // the tier would cost ~24 cache misses per customer.
            let j = i + recent[i..].iter().take_while(|r| r.customer == customer).count();
            let extra = &recent[i..j];
            i = j;
            if extra.is_empty() {
                f(customer, &self.days[base.clone()], &self.amounts[base]);
            } else {
                merge_customer(&self.days[base.clone()], &self.amounts[base], extra, scratch, &mut ds, &mut am);
                f(customer, &ds, &am);
            }
        }
    }

    /// Calls `f(customer, days, amounts)` for each customer of `customers` (ascending),
    /// with an empty history for customers without records. Pending records must have been
    /// flushed.
    pub(crate) fn for_each_of(&self, customers: &[u32], mut f: impl FnMut(u32, &[i32], &[i64])) {
        debug_assert!(self.pending.is_empty());
        let (mut scratch, mut ds, mut am) = (Vec::new(), Vec::new(), Vec::new());
        let (mut row, mut i) = (0, 0);
        for &customer in customers {
            row += self.ids[row..].partition_point(|&id| id < customer);
            let base = if self.ids.get(row) == Some(&customer) { self.base_range(row) } else { 0..0 };
            i += self.recent[i..].partition_point(|r| r.customer < customer);
            let j = i + self.recent[i..].partition_point(|r| r.customer == customer);
            let extra = &self.recent[i..j];
            if extra.is_empty() {
                f(customer, &self.days[base.clone()], &self.amounts[base]);
            } else {
                merge_customer(&self.days[base.clone()], &self.amounts[base], extra, &mut scratch, &mut ds, &mut am);
                f(customer, &ds, &am);
            }
        }
    }

    /// What `f` returns for each customer of `customers` (ascending; as
    /// [`History::for_each_of`] calls it), the `Some`s in order, on up to `threads` threads.
    pub(crate) fn collect_of<T: Send>(
        &self,
        customers: &[u32],
        threads: Threads,
        f: impl Fn(u32, &[i32], &[i64]) -> Option<T> + Sync,
    ) -> Vec<T> {
        let n = threads.for_work(customers.len() as u64);
        let chunks = par::ranges(customers.len(), n).into_iter().map(|r| &customers[r]).collect();
        par::concat(par::map(chunks, |_, chunk| {
            let mut out = Vec::new();
            self.for_each_of(chunk, |c, d, a| out.extend(f(c, d, a)));
            out
        }))
    }

    /// One customer's records sorted by day (all tiers; works without a flush).
    pub(crate) fn of(&self, customer: u32) -> Vec<(i32, i64)> {
        let mut out: Vec<(i32, i64)> = Vec::new();
        if let Ok(row) = self.ids.binary_search(&customer) {
            let r = self.base_range(row);
            out.extend(self.days[r.clone()].iter().copied().zip(self.amounts[r].iter().copied()));
        }
        let i = self.recent.partition_point(|r| r.customer < customer);
        out.extend(self.recent[i..].iter().take_while(|r| r.customer == customer).map(|r| (r.day, r.amount)));
        self.pending_of(customer, |r| out.push((r.day, r.amount)));
        out.sort_by_key(|&(d, _)| d); // stable: arrival order within a day
        out
    }

    /// `of` by scanning every pending record (the reference for the index).
    #[cfg(test)]
    fn of_scan(&self, customer: u32) -> Vec<(i32, i64)> {
        let mut out: Vec<(i32, i64)> = Vec::new();
        if let Ok(row) = self.ids.binary_search(&customer) {
            let r = self.base_range(row);
            out.extend(self.days[r.clone()].iter().copied().zip(self.amounts[r].iter().copied()));
        }
        out.extend(self.recent.iter().filter(|r| r.customer == customer).map(|r| (r.day, r.amount)));
        out.extend(self.pending.iter().filter(|r| r.customer == customer).map(|r| (r.day, r.amount)));
        out
    }

    /// Calls `f` with each pending record of `customer`, in arrival order.
    fn pending_of(&self, customer: u32, mut f: impl FnMut(&Rec)) {
        if self.pending.len() <= SCAN_PENDING {
            self.pending.iter().filter(|r| r.customer == customer).for_each(f);
            return;
        }
        let index = {
            let mut built = self.by_customer.0.lock().unwrap_or_else(|e| e.into_inner());
            match &*built {
                Some(ix) if ix.0 <= self.pending.len() && self.pending.len() - ix.0 <= ix.0 / 8 + SCAN_PENDING => {
                    Arc::clone(ix)
                }
                _ => {
                    let mut at: Vec<u32> = (0..self.pending.len() as u32).collect();
                    at.sort_by_key(|&i| self.pending[i as usize].customer); // stable
                    let ix = Arc::new((self.pending.len(), at));
                    *built = Some(Arc::clone(&ix));
                    ix
                }
            }
        };
        let (len, at) = (&index.0, &index.1);
        let first = at.partition_point(|&i| self.pending[i as usize].customer < customer);
        at[first..].iter().map(|&i| &self.pending[i as usize]).take_while(|r| r.customer == customer).for_each(&mut f);
        self.pending[*len..].iter().filter(|r| r.customer == customer).for_each(f);
    }

    /// How many records the recent and pending tiers hold, and the base's garbage (for
    /// tests that need every tier filled).
    #[cfg(test)]
    pub(crate) fn tiers(&self) -> (usize, usize, u64) {
        (self.recent.len(), self.pending.len(), self.garbage)
    }

    /// Customers with at least one record, as a bitmap.
    #[cfg(test)]
    pub(crate) fn customers(&self) -> RoaringBitmap {
        let mut b: RoaringBitmap =
            self.ids.iter().zip(self.lens.iter()).filter(|&(_, &l)| l > 0).map(|(&id, _)| id).collect();
        b.extend(self.recent.iter().map(|r| r.customer));
        b.extend(self.pending.iter().map(|r| r.customer));
        b
    }
}

/// Merges a customer's base columns with its recent records (both sorted by day; base first
/// on ties, which keeps arrival order) into `ds`/`am`.
fn merge_customer(
    days: &[i32],
    amounts: &[i64],
    extra: &[Rec],
    scratch: &mut Vec<(i32, i64)>,
    ds: &mut Vec<i32>,
    am: &mut Vec<i64>,
) {
    scratch.clear();
    let (mut a, mut b) = (0, 0);
    while a < days.len() || b < extra.len() {
        if b == extra.len() || (a < days.len() && days[a] <= extra[b].day) {
            scratch.push((days[a], amounts[a]));
            a += 1;
        } else {
            scratch.push((extra[b].day, extra[b].amount));
            b += 1;
        }
    }
    ds.clear();
    am.clear();
    ds.extend(scratch.iter().map(|&(d, _)| d));
    am.extend(scratch.iter().map(|&(_, a)| a));
}

/// Sorts records by (customer, day), keeping arrival order within a day. Dense customer ids
/// take a counting sort by customer on up to `threads` threads ([`bucket::sort`]); sparse
/// ones a comparison sort.
fn sort_records(recs: &mut Vec<Rec>, threads: Threads) {
    if recs.is_sorted_by_key(Rec::key) {
        return;
    }
    match dense_max(recs) {
        Some(max) => bucket::sort(recs, max, threads.for_work(recs.len() as u64)),
        None => recs.sort_by_key(Rec::key),
    }
}

/// Merges two record lists sorted by (customer, day); `a` first on ties.
fn merge_sorted(a: &[Rec], b: &[Rec]) -> Vec<Rec> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].key() <= b[j].key() {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One customer's records read between flushes, past the size where the pending
    /// records get an index: appended to, truncated, filtered and flushed, `of` gives what a
    /// scan of every tier gives.
    #[test]
    fn a_customers_pending_records_read_through_the_index_as_by_a_scan() {
        fn naive(h: &History, c: u32) -> Vec<(i32, i64)> {
            let mut out: Vec<(i32, i64)> = h.of_scan(c);
            out.sort_by_key(|&(d, _)| d);
            out
        }
        let mut h = History::default();
        let mut x = 7u64;
        let mut next = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        let check = |h: &History| {
            for c in [0u32, 1, 17, 99, 250, 499] {
                assert_eq!(h.of(c), naive(h, c), "customer {c}");
            }
        };
        for round in 0..3 {
            for _ in 0..(3 * SCAN_PENDING) {
                let r = Rec { customer: next() % 500, day: (next() % 50) as i32, amount: i64::from(next() % 1000) };
                h.push(r);
            }
            check(&h);
            for _ in 0..100 {
                h.push(Rec { customer: 17, day: 3, amount: 1 }); // the unindexed tail
            }
            check(&h);
            let records = h.records;
            h.push(Rec { customer: 99, day: 1, amount: 5 });
            h.truncate_pending(records);
            check(&h);
            h.remove_customers(&[250u32].into_iter().collect());
            check(&h);
            if round == 1 {
                h.flush(Threads::new(2));
                check(&h);
            }
        }
    }

    fn rec(customer: u32, day: i32, amount: i64) -> Rec {
        Rec { customer, day, amount }
    }

    fn all(h: &History) -> Vec<(u32, Vec<(i32, i64)>)> {
        let mut out = Vec::new();
        h.for_each(|c, d, a| out.push((c, d.iter().copied().zip(a.iter().copied()).collect())));
        out
    }

    #[test]
    fn tiers_merge_by_customer_and_day() {
        let mut h = History::default();
        for r in [rec(2, 5, 1), rec(1, 9, 2), rec(1, 3, 3), rec(2, 5, 4)] {
            h.push(r);
        }
        assert_eq!(h.flush(Threads::new(2)), [1, 2]);
        h.compact();
        h.push(rec(1, 4, 5));
        h.push(rec(3, -7, 6));
        h.push(rec(2, 5, 7));
        assert_eq!(h.of(1), [(3, 3), (4, 5), (9, 2)]);
        assert_eq!(h.flush(Threads::new(2)), [1, 2, 3]);
        let want = vec![(1, vec![(3, 3), (4, 5), (9, 2)]), (2, vec![(5, 1), (5, 4), (5, 7)]), (3, vec![(-7, 6)])];
        assert_eq!(all(&h), want);
        let mut some = Vec::new();
        h.for_each_of(&[0, 2, 3], |c, d, _| some.push((c, d.len())));
        assert_eq!(some, [(0, 0), (2, 3), (3, 1)]);
        assert_eq!(h.len(), 7);
        assert_eq!(h.remove_customer(2), 3);
        assert_eq!(h.len(), 4);
        h.compact();
        assert_eq!(all(&h), vec![want[0].clone(), want[2].clone()]);
        assert_eq!(h.customers().iter().collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn the_first_load_scatters_into_the_columns_like_the_general_path() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let recs: Vec<Rec> = (0..70_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                rec((x % 9_000) as u32 * 2, (x >> 40) as i32 % 30, i)
            })
            .collect();
        assert!(dense_max(&recs).is_some());
        let mut direct = History::default();
        let mut general = History::default();
        for &r in &recs {
            direct.push(r);
            general.push(r);
        }
        general.recent = {
            let mut p = std::mem::take(&mut general.pending);
            let p2 = Arc::make_mut(&mut p);
            sort_records(p2, Threads::new(1));
            p
        };
        general.compact();
        let touched = direct.flush(Threads::new(3));
        assert_eq!(touched, *general.ids);
        assert_eq!(all(&direct), all(&general));
        assert_eq!((direct.len(), direct.ids.len()), (general.len(), general.ids.len()));
    }
}
