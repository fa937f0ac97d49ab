//! Container-level work on roaring bitmaps, through the portable serialized format.
//!
//! `roaring` keeps its containers private. The [portable format] is their public, stable
//! image: a header with each 2^16-id block's key and cardinality, then each container's
//! bytes (a sorted `u16` array, a 1,024-word bitset, or runs). This module writes and reads
//! that image, and is the one place that knows it:
//!
//! - [`format`]: the image itself (cookies, header layout, offsets, container kinds, the
//!   4,096-value boundary between an array and a bitset), written once and read once.
//! - [`build`]: a bitmap from sorted ids, written as the portable image and read back by
//!   `roaring`, so every container is allocated at its exact size and already in its
//!   smallest kind (what `optimize` would choose). Bulk loads use it.
//! - [`view`]: the containers of a bitmap, read from one copy of its image.
//! - [`cache`]: views kept between queries for wide tags (arrays of 512 values or more
//!   widened into bitsets), within a memory budget, so a query reads their containers in
//!   place, as flat words, instead of copying them.
//! - [`stream`]: the containers of a bitmap as `roaring` writes its image, without a copy.
//! - [`kernels`]: word kernels over one block, runtime-dispatched (AVX-512, AVX2, SSE4.2
//!   with `POPCNT`, or the portable baseline) in safe code.
//! - [`decode`]: a bitset's set bits out as `u32` ids, expanded in vector registers.
//! - [`count`]: one set (an audience) counted against many bitmaps, for describe and
//!   compare.
//! - [`eval`]: a whole expression evaluated block by block into a dense scratch, the
//!   planner's route for expressions of three or more operands, and two-operand counts.
//! - [`batch`]: many such expressions at once over one table of operands, block by block,
//!   so the queries of a batch read each operand's block while it is in cache.
//!
//! The planner asks this module about density ([`is_dense`], [`is_sparse`],
//! [`counts_faster_here`]) rather than knowing container kinds itself.
//!
//! Id export ([`Audience::write_ids`](crate::Audience::write_ids)) streams the containers
//! and decodes bitsets with [`decode`].
//!
//! [portable format]: https://github.com/RoaringBitmap/RoaringFormatSpec

pub(crate) mod batch;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod count;
pub(crate) mod decode;
pub(crate) mod eval;
pub(crate) mod format;
pub(crate) mod kernels;
pub(crate) mod pages;
pub(crate) mod stream;
pub(crate) mod view;

use roaring::RoaringBitmap;

/// `b`'s ids per 2^16-id block it spans, compared with the array limit: more means mostly
/// bitset containers, fewer mostly arrays. `None` for an empty bitmap.
fn density(b: &RoaringBitmap) -> Option<std::cmp::Ordering> {
    let (lo, hi) = (b.min()?, b.max()?);
    let span = u64::from(hi >> 16) - u64::from(lo >> 16) + 1;
    Some(b.len().cmp(&(format::ARRAY_LIMIT as u64 * span)))
}

/// Whether `b` has, on average, more than 4,096 ids ([`format::ARRAY_LIMIT`]) per 2^16-id
/// block it spans: mostly bitset containers.
pub(crate) fn is_dense(b: &RoaringBitmap) -> bool {
    density(b) == Some(std::cmp::Ordering::Greater)
}

/// Whether `b` has, on average, at least [`view::WIDEN_FROM`] ids per 2^16-id block it
/// spans: mostly bitsets, or arrays a widened view holds as bitsets. The tags worth a kept
/// view ([`cache`]).
pub(crate) fn is_wide(b: &RoaringBitmap) -> bool {
    let (Some(lo), Some(hi)) = (b.min(), b.max()) else { return false };
    let span = u64::from(hi >> 16) - u64::from(lo >> 16) + 1;
    b.len() >= view::WIDEN_FROM as u64 * span
}

/// `Some(last)` when `b` is every id from 0 to `last` (the live customers of an engine that
/// never removed one), else `None`. Cheap (the containers' cardinalities), where `is_subset`
/// against such a set walks the other bitmap value by value when `b` is held as runs.
pub(crate) fn full_prefix(b: &RoaringBitmap) -> Option<u32> {
    let last = b.max()?;
    (b.min() == Some(0) && b.len() == u64::from(last) + 1).then_some(last)
}

/// Whether every id of `bits` is in `set`, when that is cheap to tell: `bits` is empty, or
/// `set` is a [`full_prefix`]. `None` otherwise.
pub(crate) fn within_prefix(bits: &RoaringBitmap, set: &RoaringBitmap) -> Option<bool> {
    match (bits.max(), full_prefix(set)) {
        (None, _) => Some(true),
        (Some(top), Some(last)) => Some(top <= last),
        (Some(_), None) => None,
    }
}

/// Whether every id of `bits` is in `set`: by [`within_prefix`] when it tells.
pub(crate) fn is_within(bits: &RoaringBitmap, set: &RoaringBitmap) -> bool {
    within_prefix(bits, set).unwrap_or_else(|| bits.is_subset(set))
}

/// Whether `b` is empty or has, on average, fewer than 4,096 ids per 2^16-id block it spans:
/// mostly array containers, cheap to intersect first.
pub(crate) fn is_sparse(b: &RoaringBitmap) -> bool {
    density(b).is_none_or(|d| d == std::cmp::Ordering::Less)
}

/// Whether `roaring`'s own bitset counts were compiled without a `POPCNT` instruction: an
/// x86 target without the feature (the default `x86-64` target). Builds with
/// `-C target-cpu=x86-64-v2` or above, and other architectures, count with the CPU's
/// instruction inside `roaring`.
const ROARING_WITHOUT_POPCNT: bool =
    cfg!(all(any(target_arch = "x86", target_arch = "x86_64"), not(target_feature = "popcnt")));

/// Whether a count of `b` against another such bitmap is faster here ([`eval::and_len`]: a
/// dispatched `AND` + `POPCNT` pass over their bitsets) than in `roaring`: `b` is dense and
/// `roaring` counts without `POPCNT` in this build.
pub(crate) fn counts_faster_here(b: &RoaringBitmap) -> bool {
    ROARING_WITHOUT_POPCNT && is_dense(b)
}
