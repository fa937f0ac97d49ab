//! Work over every tag of the pool, on several threads when it pays: describe and compare
//! count audiences against each tag ([`counts_per_tag`]), and the tags are independent.
//!
//! The counts come in two passes. Block by block, over the tags' census
//! (`tags/layer/by_block.rs`: a block's assignments by group of 256 tags and page of 256
//! customers), each audience's words count every entry there ([`pages::count_group`]):
//! a page of the audience is one vector register, so an entry's bit is looked up in
//! registers, 32 at a time, and only the entries that hit are counted by tag. About 0.18
//! ns an entry with AVX-512 on this crate's Zen 4 host, 0.3 with AVX2, against 0.35-0.4
//! for a probe of each tag's values (a load of an audience word each): describe at 10M
//! customers x 1,000 tags (32M entries) went from 14 to 7 ms on one thread, 7.6 to 4 ms
//! on two. Then tag by tag, whatever the census does not hold is counted
//! ([`Counter::count_rest`]): the tags dense in a block, the blocks without a census, and
//! every parent tag (the census holds each tag's own members, a query on a parent reads
//! its subtree). A tag the census holds whole is not read again.

use std::num::NonZeroUsize;
use std::sync::Arc;

use roaring::RoaringBitmap;
use smallvec::SmallVec;

use crate::blocks::count::{Counter, Keys};
use crate::blocks::kernels;
use crate::blocks::pages::{self, PAGE};
use crate::blocks::stream::for_each_counted;
use crate::id::TagId;
use crate::tags::{Census, Tags};

/// Below this much work, one thread does it all: a thread costs tens of microseconds to
/// start, and the work (a value of the census probed, or an audience customer against a tag
/// counted tag by tag) a third to half a nanosecond a unit, so 2^21 units take about a
/// millisecond.
const PARALLEL_FROM: u64 = 1 << 21;

/// How many threads to use: `Some(n)` as asked (at least one), or, by default, the cores
/// the process may use (at most 8) when `work` is big enough to pay for them.
fn threads(asked: Option<NonZeroUsize>, work: u64) -> usize {
    match asked {
        Some(n) => n.get(),
        None if work < PARALLEL_FROM => 1,
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
    }
}

/// `f(id, name, members)` for every tag of the pool but `excluded` (`members`: what a query
/// on the tag matches, descendants included), the `Some` results collected in no particular
/// order. With `threads > 1`, tags are dealt round-robin to that many threads (the calling
/// one among them), which balances the few big tags of a pool against its many small ones.
fn per_tag<T, F>(tags: &Tags, excluded: &[TagId], threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(TagId, &str, &RoaringBitmap) -> Option<T> + Sync,
{
    let (pool, store) = (tags.pool(), tags.store());
    let ids: Vec<(TagId, &str)> =
        pool.iter().filter(|(id, _)| !excluded.contains(id)).map(|(id, def)| (id, &*def.name)).collect();
    let run = |first: usize, step: usize| -> Vec<T> {
        ids.iter().skip(first).step_by(step).filter_map(|&(id, name)| f(id, name, store.members(pool, id))).collect()
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

/// The counts `[|a AND tag| for a in audiences]` of every tag of the pool but `excluded` (a
/// tag counting as a query naming it does: a parent includes its descendants), handed to
/// `f(id, name, members, counts, total)`, the `Some` results collected in no particular
/// order. `total` is `Some(members.len())` when the census gives it for free: for a tag it
/// holds whole when it spans every block of `live` (no member can be elsewhere), where
/// `members.len()` walks the tag's containers (at 10M x 1,000 tags about a millisecond
/// for all of them, memory latency).
/// Over the census of the audiences' blocks when it is kept, tag by tag otherwise; on
/// `asked` threads, or by default the cores when the census holds 2^21 values or more for
/// these blocks (tag by tag, when the audiences' customers times the tags are that many).
///
/// Every block of the audiences is counted over the census, however few customers they
/// have there: tag by tag, `intersection_len` walks each tag's containers whatever the
/// audience's size, so at 10M customers x 1,000 tags it takes 20-35 ms for an audience of
/// 300 to 3,000 customers and 60-180 ms for 1-5% (arrays against arrays), against 10-14 ms
/// over the census for any size. A census covering only some of the audience's blocks is
/// the worst of both (every tag read whole, and the census probed), so once part of it is
/// kept the missing blocks are built at once (`Tags::census`).
pub(crate) fn counts_per_tag<T, F>(
    tags: &Tags,
    audiences: &[&Counter],
    live: &RoaringBitmap,
    excluded: &[TagId],
    asked: Option<NonZeroUsize>,
    f: F,
) -> Vec<T>
where
    T: Send,
    F: Fn(TagId, &str, &RoaringBitmap, &[u64], Option<u64>) -> Option<T> + Sync,
{
    let blocks: Vec<Vec<(u16, usize)>> = audiences.iter().map(|a| a.blocks()).collect();
    let mut keys: Vec<u16> = blocks.iter().flatten().map(|&(k, _)| k).collect();
    keys.sort_unstable();
    keys.dedup();
    // Building a block's census takes about half a millisecond at 1,000 tags: threads pay
    // from two blocks on.
    let census = if keys.is_empty() {
        Vec::new()
    } else {
        tags.census(&keys, threads(asked, if keys.len() < 2 { 0 } else { u64::MAX }))
    };
    let (pool, store) = (tags.pool(), tags.store());
    // The tag's kept view, if it has one (made now when it is wide and fits the budget).
    let view = |id: TagId| store.view(pool, id);
    if census.is_empty() {
        let size: u64 = audiences.iter().map(|a| a.len()).sum();
        let threads = threads(asked, size.saturating_mul(pool.len() as u64));
        return per_tag(tags, excluded, threads, |id, name, members| {
            let view = view(id);
            let view = view.as_deref();
            let counts: SmallVec<[u64; 2]> = audiences.iter().map(|a| a.count(members, view)).collect();
            f(id, name, members, &counts, None)
        });
    }
    let covered = Keys::new(census.iter().map(|c| c.key()));
    // Whether every block of every audience is in the census: then a tag it holds whole
    // (sparse in every block, no subtree) is counted already.
    let all_covered = blocks.iter().flatten().all(|&(k, _)| covered.contains(k));
    // Whether the census spans every block a live customer is in.
    let mut spans_live = true;
    for_each_counted(live, |key, _, _| spans_live &= covered.contains(key));
    // Tag ids index the counts: the pool's, and any the census still holds of a tag deleted
    // since (its counts are never read).
    let slots = pool
        .iter()
        .last()
        .map(|(t, _)| t.index() + 1)
        .into_iter()
        .chain(census.iter().map(|c| c.tags_end()))
        .max()
        .unwrap_or(0);
    let mut dense_somewhere = vec![false; slots];
    for t in census.iter().flat_map(|c| c.dense()) {
        dense_somewhere[t.index()] = true;
    }
    let threads = threads(asked, census.iter().map(|c| c.len() as u64).sum());
    let counted = census_counts(&census, audiences, slots, threads);
    let stride = audiences.len() + 1;
    per_tag(tags, excluded, threads, |id, name, members| {
        let own = std::ptr::eq(members, store.get(id)); // no subtree
        let counted = counted.get(id.index() * stride..).unwrap_or_default();
        let whole = own && !dense_somewhere[id.index()];
        let total = (whole && spans_live).then(|| counted.get(audiences.len()).copied().unwrap_or(0));
        let counts: SmallVec<[u64; 2]> = if whole && all_covered {
            (0..audiences.len()).map(|i| counted.get(i).copied().unwrap_or(0)).collect()
        } else {
            let view = view(id);
            let view = view.as_deref();
            audiences
                .iter()
                .enumerate()
                .map(|(i, a)| match own {
                    true => counted.get(i).copied().unwrap_or(0) + a.count_rest(members, view, &covered),
                    false => a.count(members, view),
                })
                .collect()
        };
        f(id, name, members, &counts, total)
    })
}

/// Each census block's tags counted against each audience's words there: with `n`
/// audiences, `out[tag * (n + 1) + i]` is tag's count in audience `i` over these blocks and
/// `out[tag * (n + 1) + n]` the tag's values there. The blocks are split into `threads` runs
/// of about as many values each.
///
/// Group by group of a block, each audience with customers there counts the entries set in
/// its words ([`pages::count_group`]), into 256 counters that go to `out` when the group
/// is done.
fn census_counts(census: &[Arc<Census>], audiences: &[&Counter], slots: usize, threads: usize) -> Vec<u64> {
    let width = audiences.len() + 1;
    let level = kernels::level();
    let count = |blocks: &[Arc<Census>]| -> Vec<u64> {
        let mut out = vec![0u64; slots * width];
        let mut hits = Vec::new();
        let mut counts = [0u32; PAGE];
        for c in blocks {
            c.sparse().for_each(|(t, n)| out[t.index() * width + width - 1] += u64::from(n));
            for (i, a) in audiences.iter().enumerate() {
                let Some(w) = a.words(c.key()) else { continue };
                for g in c.groups() {
                    pages::count_group(level, w, g.starts, g.entries, &mut counts, &mut hits);
                    for (k, n) in counts.iter_mut().enumerate() {
                        if *n != 0 {
                            out[(g.first + k) * width + i] += u64::from(std::mem::take(n));
                        }
                    }
                }
            }
        }
        out
    };
    let threads = threads.clamp(1, census.len());
    if threads == 1 {
        return count(census);
    }
    // Runs of blocks with about the same number of values each.
    let total: usize = census.iter().map(|c| c.len()).sum();
    let mut runs: Vec<&[Arc<Census>]> = Vec::with_capacity(threads);
    let (mut start, mut seen) = (0, 0);
    for (i, c) in census.iter().enumerate() {
        seen += c.len();
        if seen * threads >= total * (runs.len() + 1) && runs.len() + 1 < threads {
            runs.push(&census[start..=i]);
            start = i + 1;
        }
    }
    runs.push(&census[start..]);
    std::thread::scope(|s| {
        let workers: Vec<_> = runs[1..].iter().map(|&run| s.spawn(move || count(run))).collect();
        let mut out = count(runs[0]);
        for w in workers {
            match w.join() {
                Ok(part) => out.iter_mut().zip(part).for_each(|(o, p)| *o += p),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}
