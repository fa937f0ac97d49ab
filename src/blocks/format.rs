//! The portable Roaring format, written and read here only.
//!
//! The [portable format] is the public, stable image of what `roaring` keeps private: a
//! header, then every container's bytes in ascending key order. Two header layouts exist:
//!
//! ```text
//! without run containers: u32 COOKIE_NO_RUNS, u32 n,
//!                         n x (u16 key, u16 cardinality - 1), n x u32 offset
//! with run containers:    u32 COOKIE_RUNS | (n - 1) << 16, ceil(n / 8) bytes of run flags,
//!                         n x (u16 key, u16 cardinality - 1), n x u32 offset (only when n >= 4)
//! ```
//!
//! A container is a run container when its flag is set; otherwise its cardinality says its
//! kind: up to [`ARRAY_LIMIT`] values are a sorted `u16` array (2 bytes each), more are a
//! 1,024-word bitset ([`BITSET_BYTES`]). A run container is a `u16` run count and then
//! `(start, length - 1)` pairs of `u16`. Everything is little-endian.
//!
//! Images this crate writes are trusted and read without checks; a foreign image (from
//! [`Audience::from_portable_bytes`](crate::Audience::from_portable_bytes)) is checked
//! whole by [`check_image`] first.
//!
//! [portable format]: https://github.com/RoaringBitmap/RoaringFormatSpec

use roaring::RoaringBitmap;

use crate::error::PortableProblem;

/// Cookie of the layout without run containers (followed by a `u32` container count).
const COOKIE_NO_RUNS: u32 = 12346;
/// Cookie of the layout with run containers (container count - 1 in the high 16 bits).
const COOKIE_RUNS: u16 = 12347;
/// The run layout stores container offsets only from this many containers on.
const RUN_OFFSETS_FROM: usize = 4;

/// An array container holds at most this many values; a block with more is a bitset. It is
/// also the density boundary of [`super::is_dense`] and [`super::is_sparse`].
pub(crate) const ARRAY_LIMIT: usize = 4096;
/// Bytes of a bitset container (1,024 `u64` words).
pub(crate) const BITSET_BYTES: usize = 8192;
/// Bytes of a run container's run count, before its pairs.
pub(crate) const RUN_COUNT_BYTES: usize = 2;

/// A container's kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Array,
    Bitset,
    Run,
}

impl Kind {
    /// The kind of a container of `card` values that is not a run container.
    pub(crate) fn plain(card: usize) -> Kind {
        if card <= ARRAY_LIMIT { Kind::Array } else { Kind::Bitset }
    }

    /// Bytes of a container of this kind, `card` values or (a run container) `runs` runs,
    /// its run count included.
    pub(crate) fn bytes(self, card: usize, runs: usize) -> usize {
        match self {
            Kind::Array => 2 * card,
            Kind::Bitset => BITSET_BYTES,
            Kind::Run => RUN_COUNT_BYTES + 4 * runs,
        }
    }
}

/// One container of an image: the bytes of its store (a run container's without its run
/// count), little-endian, as in the image.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Container<'a> {
    /// Sorted `u16` values, 2 bytes each.
    Array(&'a [u8]),
    /// 1,024 `u64` words, 8 bytes each; bit `k` of the block is bit `k % 64` of word `k / 64`.
    Bitset(&'a [u8]),
    /// `(start, length - 1)` pairs of `u16`, 4 bytes each.
    Run(&'a [u8]),
}

impl<'a> Container<'a> {
    pub(crate) fn new(kind: Kind, bytes: &'a [u8]) -> Container<'a> {
        match kind {
            Kind::Array => Container::Array(bytes),
            Kind::Bitset => Container::Bitset(bytes),
            Kind::Run => Container::Run(bytes),
        }
    }
}

/// A container as the header describes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Description {
    pub(crate) key: u16,
    pub(crate) card: usize,
    pub(crate) kind: Kind,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The length of a header of `n` containers, with or without run containers.
fn header_bytes(n: usize, runs: bool) -> usize {
    if runs { 4 + n.div_ceil(8) + 4 * n + if n >= RUN_OFFSETS_FROM { 4 * n } else { 0 } } else { 8 + 8 * n }
}

/// The full length of the header that `prefix` starts, once `prefix` is long enough to
/// tell (8 bytes always are).
pub(crate) fn header_len(prefix: &[u8]) -> Option<usize> {
    if prefix.len() < 4 {
        return None;
    }
    let cookie = u32_at(prefix, 0);
    if cookie == COOKIE_NO_RUNS {
        (prefix.len() >= 8).then(|| header_bytes(u32_at(prefix, 4) as usize, false))
    } else {
        debug_assert_eq!(cookie as u16, COOKIE_RUNS, "roaring writes one of the two cookies");
        Some(header_bytes((cookie >> 16) as usize + 1, true))
    }
}

/// The containers a whole header (as long as [`header_len`] says) describes, in order.
pub(crate) fn read_header(h: &[u8]) -> impl ExactSizeIterator<Item = Description> + '_ {
    let cookie = u32_at(h, 0);
    let (n, runs_at, descriptions) = if cookie == COOKIE_NO_RUNS {
        (u32_at(h, 4) as usize, None, 8)
    } else {
        let n = (cookie >> 16) as usize + 1;
        (n, Some(4), 4 + n.div_ceil(8))
    };
    (0..n).map(move |i| {
        let key = u16_at(h, descriptions + 4 * i);
        let card = u16_at(h, descriptions + 4 * i + 2) as usize + 1;
        let is_run = runs_at.is_some_and(|r| h[r + i / 8] & (1 << (i % 8)) != 0);
        Description { key, card, kind: if is_run { Kind::Run } else { Kind::plain(card) } }
    })
}

/// Where the store of the container `d` that starts at `at` in a whole image lies:
/// `(start, end)` (a run container's store begins after its run count; `end` is where the
/// next container starts).
pub(crate) fn container_at(image: &[u8], at: usize, d: &Description) -> (usize, usize) {
    match d.kind {
        Kind::Run => {
            let runs = u16_at(image, at) as usize;
            (at + RUN_COUNT_BYTES, at + Kind::Run.bytes(0, runs))
        }
        kind => (at, at + kind.bytes(d.card, 0)),
    }
}

/// Bytes of the header [`write_header`] writes for `blocks`.
pub(crate) fn header_size(blocks: &[(u16, usize, Kind, usize)]) -> usize {
    header_bytes(blocks.len(), blocks.iter().any(|b| b.2 == Kind::Run))
}

/// Writes the header of an image of `blocks`: `(key, cardinality, kind, bytes)` per
/// container, keys ascending, every cardinality at least 1.
pub(crate) fn write_header(out: &mut Vec<u8>, blocks: &[(u16, usize, Kind, usize)]) {
    let n = blocks.len();
    let has_runs = blocks.iter().any(|b| b.2 == Kind::Run);
    let header = header_size(blocks);
    let start = out.len();
    if has_runs {
        out.extend_from_slice(&(u32::from(COOKIE_RUNS) | ((n as u32 - 1) << 16)).to_le_bytes());
        let flags = out.len();
        out.resize(flags + n.div_ceil(8), 0);
        for (i, b) in blocks.iter().enumerate() {
            if b.2 == Kind::Run {
                out[flags + i / 8] |= 1 << (i % 8);
            }
        }
    } else {
        out.extend_from_slice(&COOKIE_NO_RUNS.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    for &(key, card, _, _) in blocks {
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&((card - 1) as u16).to_le_bytes());
    }
    if !has_runs || n >= RUN_OFFSETS_FROM {
        let mut offset = header as u32;
        for &(_, _, _, bytes) in blocks {
            out.extend_from_slice(&offset.to_le_bytes());
            offset += bytes as u32;
        }
    }
    debug_assert_eq!(out.len() - start, header);
}

/// The portable image of `bits`, as `roaring` writes it (arrays and bitsets with one
/// `memcpy` each), at its exact size.
pub(crate) fn image(bits: &RoaringBitmap) -> Vec<u8> {
    let mut image = Vec::with_capacity(bits.serialized_size());
    bits.serialize_into(&mut image).expect("writing to a Vec cannot fail");
    image
}

// ------------------------------------------------------------------ checking foreign images

/// Checks that `b` is exactly one image, every byte of it as the spec says: a known cookie,
/// at most 65,536 containers, no run flag past the last container, keys strictly
/// ascending, every offset where its container starts, array values strictly ascending,
/// runs inside their block, separate (neither overlapping nor touching) and ascending, every
/// container holding as many ids as its description says, and nothing after the last
/// container. Reads the bytes in place and allocates nothing, so a hostile image costs one
/// pass over its own length.
///
/// `roaring`'s checked reader (`deserialize_from`) rejects most of this too, but not a run
/// container whose runs hold another count than its description says (it keeps the runs),
/// offsets that are wrong (it ignores them), stray run flags, or bytes after the image (it
/// stops reading): a reader that seeks by the offsets (a memory-mapped one) or trusts the
/// counts could take such bytes for another set. On error: the offset of the part at fault
/// and what is wrong.
pub(crate) fn check_image(b: &[u8]) -> Result<(), (usize, PortableProblem)> {
    let truncated = |at: usize, part: &'static str, needed: usize| {
        Err((at, PortableProblem::Truncated { part, needed, left: b.len() - at }))
    };
    if b.is_empty() {
        return Err((0, PortableProblem::Empty));
    }
    if b.len() < 4 {
        return truncated(0, "cookie", 4);
    }
    let cookie = u32_at(b, 0);
    let (n, runs) = if cookie == COOKIE_NO_RUNS {
        if b.len() < 8 {
            return truncated(4, "container count", 4);
        }
        let n = u32_at(b, 4);
        if n > 1 << 16 {
            return Err((4, PortableProblem::TooManyContainers { count: n }));
        }
        (n as usize, false)
    } else if cookie as u16 == COOKIE_RUNS {
        ((cookie >> 16) as usize + 1, true)
    } else {
        return Err((0, PortableProblem::UnknownCookie { cookie }));
    };
    let header = header_bytes(n, runs);
    if b.len() < header {
        return truncated(0, "header", header);
    }
    let descriptions = if runs { 4 + n.div_ceil(8) } else { 8 };
    if runs && n % 8 != 0 && b[descriptions - 1] >> (n % 8) != 0 {
        return Err((descriptions - 1, PortableProblem::StrayRunFlag));
    }
    let offsets = (!runs || n >= RUN_OFFSETS_FROM).then_some(descriptions + 4 * n);
    let mut at = header;
    let mut previous = None;
    for (i, d) in read_header(&b[..header]).enumerate() {
        if let Some(previous) = previous.filter(|&p| d.key <= p) {
            return Err((descriptions + 4 * i, PortableProblem::KeysNotAscending { key: d.key, previous }));
        }
        previous = Some(d.key);
        if let Some(o) = offsets {
            let declared = u32_at(b, o + 4 * i);
            if declared as usize != at {
                return Err((o + 4 * i, PortableProblem::WrongOffset { container: i, declared, actual: at }));
            }
        }
        if d.kind == Kind::Run && b.len() - at < RUN_COUNT_BYTES {
            return truncated(at, "run count", RUN_COUNT_BYTES);
        }
        let (start, end) = container_at(b, at, &d);
        if end > b.len() {
            return truncated(at, "container", end - at);
        }
        check_container(&b[start..end], start, &d)?;
        at = end;
    }
    if at < b.len() {
        return Err((at, PortableProblem::TrailingBytes { count: b.len() - at }));
    }
    Ok(())
}

/// Checks one container's store (`bytes`, from byte `at` of the image) against its
/// description.
fn check_container(bytes: &[u8], at: usize, d: &Description) -> Result<(), (usize, PortableProblem)> {
    let key = d.key;
    let mismatch =
        |actual: usize| PortableProblem::CardinalityMismatch { key, declared: d.card as u32, actual: actual as u32 };
    match Container::new(d.kind, bytes) {
        Container::Array(values) => {
            let mut previous = None;
            for (i, v) in array_values(values).enumerate() {
                if let Some(p) = previous.filter(|&p| v <= p) {
                    let (value, previous) = (v as u16, p as u16);
                    return Err((at + 2 * i, PortableProblem::ValuesNotAscending { key, value, previous }));
                }
                previous = Some(v);
            }
        }
        Container::Bitset(words) => {
            let card: u32 = words.iter().map(|w| w.count_ones()).sum();
            if card as usize != d.card {
                return Err((at, mismatch(card as usize)));
            }
        }
        Container::Run(pairs) => {
            if pairs.is_empty() {
                return Err((at - RUN_COUNT_BYTES, PortableProblem::EmptyRun { key }));
            }
            let (mut previous_end, mut card) = (None, 0);
            for (i, (lo, hi)) in run_ranges(pairs).enumerate() {
                let (start, pair) = (lo as u16, at + 4 * i);
                if hi > usize::from(u16::MAX) {
                    return Err((pair, PortableProblem::RunPastBlock { key, start, length: (hi - lo + 1) as u32 }));
                }
                if let Some(p) = previous_end.filter(|&p: &usize| lo <= p + 1) {
                    return Err((pair, PortableProblem::RunsNotAscending { key, start, previous_end: p as u16 }));
                }
                previous_end = Some(hi);
                card += hi - lo + 1;
            }
            if card != d.card {
                return Err((at - RUN_COUNT_BYTES, mismatch(card)));
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ container contents

/// The values of an array container's bytes: sorted `u16`s, little-endian.
pub(crate) fn array_values(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    b.chunks_exact(2).map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
}

/// Writes array value `v` into its 2 bytes.
pub(crate) fn write_array_value(dst: &mut [u8], v: u16) {
    dst.copy_from_slice(&v.to_le_bytes());
}

/// The inclusive ranges of a run container's bytes (after its run count): `(start, length
/// - 1)` pairs of little-endian `u16`s.
pub(crate) fn run_ranges(b: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    b.chunks_exact(4).map(|c| {
        let start = usize::from(u16::from_le_bytes([c[0], c[1]]));
        (start, start + usize::from(u16::from_le_bytes([c[2], c[3]])))
    })
}

/// Writes the run `start..=start + extra` into its 4 bytes.
pub(crate) fn write_run(pair: &mut [u8], start: u16, extra: u16) {
    pair[..2].copy_from_slice(&start.to_le_bytes());
    pair[2..].copy_from_slice(&extra.to_le_bytes());
}

/// Where a bitset container's bytes keep the block's bit `low`: the byte, and the bit in it
/// (bit `k` of the block is bit `k % 64` of little-endian word `k / 64`).
pub(crate) fn bitset_bit(low: usize) -> (usize, u8) {
    (low / 8, 1 << (low % 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every image `roaring` writes passes the checks of foreign images, optimized or not.
    #[test]
    fn roarings_images_pass_the_checks() {
        for mut b in crate::blocks::view::tests::sample_bitmaps() {
            assert_eq!(check_image(&image(&b)), Ok(()));
            b.optimize();
            assert_eq!(check_image(&image(&b)), Ok(()));
        }
    }

    /// Every sample's header, read back and written again, is the header `roaring` wrote.
    #[test]
    fn headers_round_trip_through_roaring() {
        for b in crate::blocks::view::tests::sample_bitmaps() {
            let mut image = Vec::new();
            b.serialize_into(&mut image).unwrap();
            if b.is_empty() {
                continue;
            }
            let len = header_len(&image[..8]).unwrap();
            let ds: Vec<Description> = read_header(&image[..len]).collect();
            assert_eq!(ds.len() as u64, b.iter().map(|v| v >> 16).collect::<RoaringBitmap>().len());
            let mut at = len;
            let mut blocks = Vec::new();
            for d in &ds {
                let (_, end) = container_at(&image, at, d);
                blocks.push((d.key, d.card, d.kind, end - at));
                at = end;
            }
            assert_eq!(at, image.len());
            let mut header = Vec::new();
            write_header(&mut header, &blocks);
            assert_eq!(header, image[..len]);
        }
    }
}
