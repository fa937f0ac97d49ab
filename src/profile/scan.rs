//! Work over every tag of the pool, on several threads when it pays: describe and compare
//! count an audience against each tag, and the tags are independent.

use std::num::NonZeroUsize;

use roaring::RoaringBitmap;

use crate::blocks::view::View;
use crate::id::TagId;
use crate::tags::Tags;

/// Below this many (audience customer, tag) pairs of work, one thread does it all: a thread
/// costs tens of microseconds to start, the work about half a nanosecond a pair.
const PARALLEL_FROM: u64 = 1 << 24;

/// How many threads to use: `Some(n)` as asked (at least one), or, by default, the cores
/// the process may use (at most 8) when the work is big enough to pay for them.
pub(crate) fn threads(asked: Option<NonZeroUsize>, audience: u64, tags: usize) -> usize {
    match asked {
        Some(n) => n.get(),
        None if audience.saturating_mul(tags as u64) < PARALLEL_FROM => 1,
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
    }
}

/// `f(id, name, members, view)` for every tag of the pool but `excluded` (`members`: what a
/// query on the tag matches, descendants included; `view`: its kept view, if any), the
/// `Some` results collected in no particular order. With `threads > 1`, tags are dealt
/// round-robin to that many threads (the calling one among them), which balances the few
/// big tags of a pool against its many small ones.
pub(crate) fn per_tag<T, F>(tags: &Tags, excluded: &[TagId], threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(TagId, &str, &RoaringBitmap, Option<&View>) -> Option<T> + Sync,
{
    let (pool, store) = (tags.pool(), tags.store());
    let ids: Vec<(TagId, &str)> =
        pool.iter().filter(|(id, _)| !excluded.contains(id)).map(|(id, def)| (id, &*def.name)).collect();
    let run = |first: usize, step: usize| -> Vec<T> {
        ids.iter()
            .skip(first)
            .step_by(step)
            .filter_map(|&(id, name)| f(id, name, store.members(pool, id), store.view(pool, id).as_deref()))
            .collect()
    };
    let threads = threads.clamp(1, ids.len().max(1));
    if threads == 1 {
        return run(0, 1);
    }
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads).map(|k| s.spawn(move || run(k, threads))).collect();
        let mut out = run(0, threads);
        for w in workers {
            match w.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}
