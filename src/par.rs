//! Bulk work on several threads (std's scoped threads, no pool): how many threads a step
//! gets ([`Threads`]), and running a step's parts ([`map`]) with the results in
//! part order, so that the outcome is the same at any thread count.

use std::ops::Range;

/// The most threads one step of bulk work uses: [`Engine::set_threads`] and
/// [`CsvOptions::threads`] are capped here.
///
/// [`Engine::set_threads`]: crate::Engine::set_threads
/// [`CsvOptions::threads`]: crate::CsvOptions::threads
pub const MAX_THREADS: usize = 64;

/// By default, at most this many: past it, the steps this crate splits (memory-bound scans
/// and scatters) gain little on the machines it was measured on, and an embedded library
/// should not take a big server's every core unasked.
const DEFAULT_MAX: usize = 8;

/// Below this many units of work (customers, records), the default is one thread: a thread
/// costs tens of microseconds to start, and a unit of the steps split here 20-200 ns, so
/// 2^16 units take a few milliseconds.
const PARALLEL_FROM: u64 = 1 << 16;

/// How many threads a bulk step may use: asked for (`n > 0`), or by default (`0`) the
/// cores the process may use (at most 8) when the step is big enough to pay for them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Threads(usize);

impl Threads {
    /// `n` threads (at most [`MAX_THREADS`]); `0` for the default.
    pub(crate) fn new(n: usize) -> Threads {
        Threads(n.min(MAX_THREADS))
    }

    /// As asked: `0` for the default.
    pub(crate) fn asked(self) -> usize {
        self.0
    }

    /// The threads for a step of `units` units of work: as asked (but not more than one
    /// per unit), or the default.
    pub(crate) fn for_work(self, units: u64) -> usize {
        let n = match self.0 {
            0 if units < PARALLEL_FROM => 1,
            0 => std::thread::available_parallelism().map_or(1, usize::from).min(DEFAULT_MAX),
            n => n,
        };
        n.min(usize::try_from(units).unwrap_or(usize::MAX)).max(1)
    }
}

/// `f(k, part)` for each part, part `k` on a thread of its own (the first on the calling
/// thread); the results in part order.
pub(crate) fn map<P: Send, T: Send>(parts: Vec<P>, f: impl Fn(usize, P) -> T + Sync) -> Vec<T> {
    if parts.len() <= 1 {
        return parts.into_iter().enumerate().map(|(k, p)| f(k, p)).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let mut parts = parts.into_iter().enumerate();
        let first = parts.next();
        let workers: Vec<_> = parts.map(|(k, p)| s.spawn(move || f(k, p))).collect();
        let mut out = Vec::with_capacity(workers.len() + 1);
        out.extend(first.map(|(k, p)| f(k, p)));
        // A worker's panic is the caller's (a bug: the steps split here do not fail).
        out.extend(workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
        out
    })
}

/// The parts' items, in order, moved into one vector.
pub(crate) fn concat<T>(parts: Vec<Vec<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for mut part in parts {
        out.append(&mut part);
    }
    out
}

/// `0..len` cut into `n` (at least one) contiguous ranges as even as can be, in order.
pub(crate) fn ranges(len: usize, n: usize) -> Vec<Range<usize>> {
    let n = n.max(1);
    (0..n).map(|k| len * k / n..len * (k + 1) / n).collect()
}

/// Takes the parts of `whole` of the given lengths, in order, as mutable slices (the
/// lengths sum to at most the slice's).
pub(crate) fn split_mut<T>(mut whole: &mut [T], lens: impl IntoIterator<Item = usize>) -> Vec<&mut [T]> {
    lens.into_iter()
        .map(|n| {
            let (part, rest) = std::mem::take(&mut whole).split_at_mut(n);
            whole = rest;
            part
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_in_order() {
        for len in [0, 1, 2, 7, 100] {
            for n in 1..=9 {
                let r = ranges(len, n);
                assert_eq!(r.len(), n);
                assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), len);
                assert!(r.windows(2).all(|w| w[0].end == w[1].start));
                assert!(r.iter().all(|x| x.len() <= len / n + 1));
            }
        }
    }

    #[test]
    fn map_keeps_part_order() {
        let out = map((0..9).collect(), |k, p: i32| (k, p * 2));
        assert_eq!(out, (0..9).map(|p| (p as usize, p * 2)).collect::<Vec<_>>());
        assert_eq!(map(Vec::<u8>::new(), |k, _| k), Vec::<usize>::new());
        assert_eq!(concat(vec![vec![1, 2], vec![], vec![3]]), [1, 2, 3]);
    }

    #[test]
    fn split_mut_hands_out_disjoint_parts() {
        let mut v = [0u8; 10];
        let parts = split_mut(&mut v, [3, 0, 5]);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [3, 0, 5]);
        for (k, p) in parts.into_iter().enumerate() {
            p.fill(k as u8 + 1);
        }
        assert_eq!(v, [1, 1, 1, 3, 3, 3, 3, 3, 0, 0]);
    }

    #[test]
    fn threads_as_asked_or_by_size() {
        assert_eq!(Threads::new(3).for_work(10), 3);
        assert_eq!(Threads::new(3).for_work(2), 2);
        assert_eq!(Threads::new(3).for_work(0), 1);
        assert_eq!(Threads::new(1000).asked(), MAX_THREADS);
        assert_eq!(Threads::default().for_work(PARALLEL_FROM - 1), 1);
        let big = Threads::default().for_work(u64::MAX);
        assert!((1..=DEFAULT_MAX).contains(&big));
    }
}
