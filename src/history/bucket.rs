//! Records bucketed by customer: counting sorts over dense customer ids, on threads.
//!
//! The customer ids `0..=max` are cut into as many ranges as there are threads; each thread
//! reads every record, counts the customers of its range, and then places its range's
//! records into its own part of the output (the parts follow each other in customer order).
//! A record is read once per thread (sequential, at memory bandwidth), written once (by the
//! one thread owning its customer), and the counts take no more memory than on one thread:
//! the same bytes come out at any thread count. A customer's run is then sorted by day where
//! it is not sorted yet (stable: arrival order within a day).

use std::ops::Range;

use super::rec::Rec;
use crate::par;

/// The largest customer id, when a counting sort by customer pays: enough records, and ids
/// not too sparse (the counting array is at most four entries per record).
pub(super) fn dense_max(recs: &[Rec]) -> Option<usize> {
    let max = recs.iter().map(|r| r.customer).max()? as usize;
    (recs.len() >= 1 << 16 && max <= recs.len().saturating_mul(4)).then_some(max)
}

/// Where records go: the output of one thread's range.
trait Out {
    fn put(&mut self, at: usize, r: &Rec);
    /// Sorts `run` (one customer's records) by day, stably, unless it is sorted.
    fn sort_run(&mut self, run: Range<usize>, scratch: &mut Vec<(i32, i64)>);
}

/// Records, in a customer-major order.
impl Out for &mut [Rec] {
    fn put(&mut self, at: usize, r: &Rec) {
        self[at] = *r;
    }

    fn sort_run(&mut self, run: Range<usize>, _: &mut Vec<(i32, i64)>) {
        let run = &mut self[run];
        if run.len() > 1 && !run.is_sorted_by_key(|r| r.day) {
            run.sort_by_key(|r| r.day);
        }
    }
}

/// The base's two columns (days, amounts).
impl Out for (&mut [i32], &mut [i64]) {
    fn put(&mut self, at: usize, r: &Rec) {
        self.0[at] = r.day;
        self.1[at] = r.amount;
    }

    fn sort_run(&mut self, run: Range<usize>, scratch: &mut Vec<(i32, i64)>) {
        if self.0[run.clone()].is_sorted() {
            return;
        }
        scratch.clear();
        scratch.extend(self.0[run.clone()].iter().copied().zip(self.1[run.clone()].iter().copied()));
        scratch.sort_by_key(|&(d, _)| d);
        for (i, (d, a)) in run.zip(scratch.iter().copied()) {
            self.0[i] = d;
            self.1[i] = a;
        }
    }
}

/// One thread's range of customers and each one's record count.
struct Part {
    first: usize,
    counts: Vec<u64>,
}

impl Part {
    fn total(&self) -> usize {
        self.counts.iter().sum::<u64>() as usize
    }

    /// Places the range's records of `recs` into `out` (sized for them), each customer's run
    /// sorted by day; the range's customers with records, and each one's start (in `out`)
    /// and length.
    fn place(mut self, recs: &[Rec], mut out: impl Out) -> (Vec<u32>, Vec<u64>, Vec<u32>) {
        let (mut ids, mut starts, mut lens) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = 0u64;
        for (c, n) in self.counts.iter_mut().enumerate() {
            if *n > 0 {
                ids.push((self.first + c) as u32); // at most `max`, a customer id
                starts.push(at);
                lens.push(*n as u32); // a customer's records in memory: far below 2^32
            }
            (*n, at) = (at, at + *n);
        }
        let next = &mut self.counts; // each customer's next slot
        for r in recs {
            if let Some(slot) = (r.customer as usize).checked_sub(self.first).and_then(|c| next.get_mut(c)) {
                out.put(*slot as usize, r);
                *slot += 1;
            }
        }
        let mut scratch = Vec::new();
        for (&s, &n) in starts.iter().zip(&lens) {
            if n > 1 {
                out.sort_run(s as usize..s as usize + n as usize, &mut scratch);
            }
        }
        (ids, starts, lens)
    }
}

/// The customers `0..=max` cut into `threads` ranges, each one's counts taken by a thread.
fn count(recs: &[Rec], max: usize, threads: usize) -> Vec<Part> {
    par::map(par::ranges(max + 1, threads), |_, range| {
        let mut counts = vec![0u64; range.len()];
        for r in recs {
            if let Some(n) = (r.customer as usize).checked_sub(range.start).and_then(|c| counts.get_mut(c)) {
                *n += 1;
            }
        }
        Part { first: range.start, counts }
    })
}

/// Sorts `recs` (customer ids at most `max`) by (customer, day), keeping arrival order
/// within a day, on `threads` threads.
pub(super) fn sort(recs: &mut Vec<Rec>, max: usize, threads: usize) {
    let parts = count(recs, max, threads);
    let mut out = vec![Rec { customer: 0, day: 0, amount: 0 }; recs.len()];
    let outs = par::split_mut(&mut out, parts.iter().map(Part::total));
    let recs_ref = &recs[..];
    par::map(parts.into_iter().zip(outs).collect(), |_, (part, out)| {
        part.place(recs_ref, out);
    });
    *recs = out;
}

/// The base's columns of `recs` (customer ids at most `max`), built on `threads` threads:
/// customers with records ascending, each one's start and length, and the days and
/// amounts columns, each customer's run sorted by day.
pub(super) struct Columns {
    pub(super) ids: Vec<u32>,
    pub(super) starts: Vec<u64>,
    pub(super) lens: Vec<u32>,
    pub(super) days: Vec<i32>,
    pub(super) amounts: Vec<i64>,
}

impl Columns {
    pub(super) fn of(recs: &[Rec], max: usize, threads: usize) -> Columns {
        let parts = count(recs, max, threads);
        let totals: Vec<usize> = parts.iter().map(Part::total).collect();
        let mut days = vec![0i32; recs.len()];
        let mut amounts = vec![0i64; recs.len()];
        let outs = par::split_mut(&mut days, totals.iter().copied())
            .into_iter()
            .zip(par::split_mut(&mut amounts, totals.iter().copied()));
        let placed = par::map(parts.into_iter().zip(outs).collect(), |_, (part, out)| part.place(recs, out));
        let customers = placed.iter().map(|p| p.0.len()).sum();
        let mut c = Columns {
            ids: Vec::with_capacity(customers),
            starts: Vec::with_capacity(customers),
            lens: Vec::with_capacity(customers),
            days: Vec::new(),
            amounts: Vec::new(),
        };
        let mut base = 0u64;
        for ((ids, starts, lens), total) in placed.into_iter().zip(totals) {
            c.ids.extend(ids);
            c.starts.extend(starts.into_iter().map(|s| s + base));
            c.lens.extend(lens);
            base += total as u64;
        }
        (c.days, c.amounts) = (days, amounts);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(n: usize, customers: u64, seed: u64) -> Vec<Rec> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Rec { customer: (x % customers) as u32, day: (x >> 40) as i32 % 50, amount: i as i64 }
            })
            .collect()
    }

    #[test]
    fn counting_sort_agrees_with_a_stable_sort_at_any_thread_count() {
        for (n, customers) in [(100_000, 30_000), (1000, 1), (5000, 7), (3, 3)] {
            let recs = recs(n, customers, 0x9E37_79B9_7F4A_7C15);
            let max = recs.iter().map(|r| r.customer).max().unwrap() as usize;
            let mut want = recs.clone();
            want.sort_by_key(Rec::key);
            for threads in 1..=5 {
                let mut got = recs.clone();
                sort(&mut got, max, threads);
                assert_eq!(got, want, "{n} records of {customers} customers, {threads} threads");
            }
        }
    }

    #[test]
    fn columns_are_the_sorted_records_at_any_thread_count() {
        let recs = recs(50_000, 9_000, 0x2545_F491_4F6C_DD1D);
        let mut sorted = recs.clone();
        sorted.sort_by_key(Rec::key);
        // A gap in the ids (no records for 9,000..=12,000) and a max beyond every record.
        for threads in [1, 2, 3, 8] {
            let c = Columns::of(&recs, 12_000, threads);
            assert_eq!(c.days, sorted.iter().map(|r| r.day).collect::<Vec<_>>());
            assert_eq!(c.amounts, sorted.iter().map(|r| r.amount).collect::<Vec<_>>());
            let mut ids: Vec<u32> = sorted.iter().map(|r| r.customer).collect();
            ids.dedup();
            assert_eq!(c.ids, ids, "{threads} threads");
            for (k, &id) in c.ids.iter().enumerate() {
                let run = c.starts[k] as usize..(c.starts[k] + u64::from(c.lens[k])) as usize;
                assert!(sorted[run].iter().all(|r| r.customer == id));
            }
        }
    }
}
