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
//! - [`stream`]: the containers of a bitmap as `roaring` writes its image, without a copy.
//! - [`kernels`]: word kernels over one block, runtime-dispatched (AVX-512, AVX2, SSE4.2
//!   with `POPCNT`, or the portable baseline) in safe code.
//! - [`eval`]: a whole expression evaluated block by block into a dense scratch, the
//!   planner's route for expressions of three or more operands.
//!
//! Id export ([`Audience::write_ids`](crate::Audience::write_ids)) decodes a view too.
//!
//! [portable format]: https://github.com/RoaringBitmap/RoaringFormatSpec

pub(crate) mod build;
pub(crate) mod eval;
pub(crate) mod format;
pub(crate) mod kernels;
pub(crate) mod stream;
pub(crate) mod view;
