//! [`Audience`]: a set of customers, the result of a query.

use std::ops::{BitAnd, BitOr, BitXor, Sub};

use roaring::RoaringBitmap;

use crate::blocks::view::Container;
use crate::blocks::{decode, format, kernels, stream};
use crate::error::{Error, PortableProblem, Result};
use crate::id::CustomerId;

/// Bytes of a bitset decoded at a time by the id export: 4,096 ids at most, 16 KiB.
const IDS_PART: usize = 512;

/// A set of customers: what a query returns and what bulk tagging takes.
///
/// A thin wrapper over a [`RoaringBitmap`] of customer ids. Iteration is in ascending id
/// order, so [`Audience::page`] gives stable cursor pagination. Set algebra works between
/// audiences (`&a & &b`, `&a | &b`, `&a - &b`, `&a ^ &b`). An audience is a snapshot: later
/// changes to the engine do not change it.
///
/// ```
/// use audience::{Audience, CustomerId};
/// let a: Audience = [1, 2, 3, 10].into_iter().map(CustomerId).collect();
/// let b: Audience = [2, 3, 4].into_iter().map(CustomerId).collect();
/// assert_eq!((&a & &b).len(), 2);
/// assert_eq!((&a - &b).iter().collect::<Vec<_>>(), [CustomerId(1), CustomerId(10)]);
///
/// let page = a.page(None, 2);
/// assert_eq!(page.ids, [CustomerId(1), CustomerId(2)]);
/// let page = a.page(page.next, 2);
/// assert_eq!(page.ids, [CustomerId(3), CustomerId(10)]);
/// assert_eq!(page.next, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    bits: RoaringBitmap,
}

/// One page of an [`Audience`], from [`Audience::page`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The page's customers, ascending.
    pub ids: Vec<CustomerId>,
    /// The cursor for the next page (the last id of this one), or `None` on the last page.
    pub next: Option<CustomerId>,
}

impl Audience {
    /// An empty audience.
    pub fn new() -> Audience {
        Audience::default()
    }

    /// How many customers.
    pub fn len(&self) -> u64 {
        self.bits.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// Whether `id` is in the audience.
    pub fn contains(&self, id: CustomerId) -> bool {
        self.bits.contains(id.0)
    }

    /// The customers in ascending id order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { inner: self.bits.iter() }
    }

    /// The customers with an id greater than `after`, ascending: the continuation of a cursor.
    pub fn iter_from(&self, after: CustomerId) -> Iter<'_> {
        use std::ops::Bound::{Excluded, Unbounded};
        Iter { inner: self.bits.range((Excluded(after.0), Unbounded)) }
    }

    /// Up to `limit` customers after the cursor `after` (from the start when `None`), and the
    /// cursor of the next page. A cursor stays valid while the audience is kept, and pages
    /// never repeat or skip an id. A `limit` of 0 is taken as 1, so a paging loop always
    /// makes progress.
    pub fn page(&self, after: Option<CustomerId>, limit: usize) -> Page {
        let limit = limit.max(1);
        let mut it = match after {
            Some(a) => self.iter_from(a),
            None => self.iter(),
        };
        let ids: Vec<CustomerId> = it.by_ref().take(limit).collect();
        let next = match (ids.last(), it.next()) {
            (Some(&last), Some(_)) => Some(last),
            _ => None,
        };
        Page { ids, next }
    }

    /// The smallest id.
    pub fn first(&self) -> Option<CustomerId> {
        self.bits.min().map(CustomerId)
    }

    /// The largest id.
    pub fn last(&self) -> Option<CustomerId> {
        self.bits.max().map(CustomerId)
    }

    /// Appends the ids, ascending, to `out` as plain `u32`s (for export).
    ///
    /// The ids are written by [`copy_ids`](Audience::copy_ids) over as many zeros appended
    /// first (safe Rust cannot grow a `Vec` over memory it has not written): about 0.2 ns an
    /// id for dense results on the crate's Zen 4 host, `copy_ids` into a buffer kept across
    /// calls 0.12.
    ///
    /// ```
    /// use audience::Engine;
    /// let mut engine = Engine::new();
    /// for key in ["a", "b", "c"] {
    ///     let c = engine.customer(key)?;
    ///     engine.tag(c, "vip")?;
    /// }
    /// let mut ids = vec![99];
    /// engine.query("vip")?.write_ids(&mut ids);
    /// assert_eq!(ids, [99, 0, 1, 2]);
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn write_ids(&self, out: &mut Vec<u32>) {
        let at = out.len();
        out.resize(at + usize::try_from(self.bits.len()).unwrap_or(usize::MAX), 0);
        let n = self.copy_ids(&mut out[at..]);
        debug_assert_eq!(at + n, out.len());
    }

    /// Copies the ids, ascending, to the front of `out`, as many as fit; returns how many it
    /// copied (`min(self.len(), out.len())`). What `out` holds past that count afterwards is
    /// unspecified (the decoder writes whole vectors).
    ///
    /// Container by container, as `roaring` writes its portable image (no copy of the
    /// bitmap): an array's values get their block's high bits added in one vectorizable
    /// pass; a bitset is expanded 64 bits at a time in vector registers (AVX-512 or AVX2,
    /// detected at run time; a scalar loop elsewhere), 4,096 bits at a time; a run is
    /// written as ranges. For export into a buffer the caller keeps across calls: nothing is
    /// allocated (the last few thousand ids, when `out` ends within them, go through a buffer
    /// on the stack), and each id is written once, where [`write_ids`](Audience::write_ids)
    /// first grows its `Vec` over zeros (about 0.12 against 0.2 ns an id for 6M ids on the
    /// crate's Zen 4 host).
    ///
    /// ```
    /// use audience::{Audience, CustomerId};
    /// let a: Audience = [3, 70_000, 70_001].into_iter().map(CustomerId).collect();
    /// let mut buf = vec![0u32; 8];
    /// let n = a.copy_ids(&mut buf);
    /// assert_eq!(&buf[..n], [3, 70_000, 70_001]);
    /// assert_eq!(a.copy_ids(&mut buf[..2]), 2); // the first two only
    /// assert_eq!(&buf[..2], [3, 70_000]);
    /// ```
    pub fn copy_ids(&self, out: &mut [u32]) -> usize {
        let level = kernels::level();
        let mut at = 0;
        stream::for_each_counted(&self.bits, |key, card, c| {
            if at == out.len() {
                return;
            }
            let high = u32::from(key) << 16;
            match c {
                Container::Array(b) => {
                    let room = &mut out[at..];
                    room.iter_mut().zip(format::array_values(b)).for_each(|(o, v)| *o = high | v as u32);
                    at += card.min(room.len());
                }
                Container::Bitset(b) => {
                    for (i, part) in b.chunks(IDS_PART).enumerate() {
                        let n = kernels::popcount_bytes(level, part) as usize;
                        let high = high | (i * IDS_PART * 8) as u32;
                        let room = out.len() - at;
                        if room >= n + decode::IDS_SLACK {
                            decode::decode_ids(level, part, high, &mut out[at..], card >= 1 << 15);
                            at += n;
                        } else {
                            // The end of `out`: through a scratch, cut to what fits.
                            let mut scratch = [0u32; IDS_PART * 8 + decode::IDS_SLACK];
                            decode::decode_ids(level, part, high, &mut scratch, card >= 1 << 15);
                            let k = n.min(room);
                            out[at..at + k].copy_from_slice(&scratch[..k]);
                            at += k;
                            if at == out.len() {
                                return;
                            }
                        }
                    }
                }
                Container::Run(b) => {
                    for (lo, hi) in format::run_ranges(b) {
                        let k = (out.len() - at).min(hi - lo + 1);
                        let start = high | lo as u32;
                        out[at..at + k].iter_mut().zip(0..k as u32).for_each(|(o, i)| *o = start + i);
                        at += k;
                        if at == out.len() {
                            return;
                        }
                    }
                }
            }
        });
        at
    }

    /// The ids, ascending, as plain `u32`s.
    pub fn to_ids(&self) -> Vec<u32> {
        let mut v = Vec::new();
        self.write_ids(&mut v);
        v
    }

    /// Customers in both.
    pub fn intersection(&self, other: &Audience) -> Audience {
        self & other
    }

    /// Customers in either.
    pub fn union(&self, other: &Audience) -> Audience {
        self | other
    }

    /// Customers in `self` but not in `other`.
    pub fn difference(&self, other: &Audience) -> Audience {
        self - other
    }

    /// Customers in exactly one of the two.
    pub fn symmetric_difference(&self, other: &Audience) -> Audience {
        self ^ other
    }

    /// `|self ∩ other|`, without building the intersection.
    pub fn intersection_len(&self, other: &Audience) -> u64 {
        self.bits.intersection_len(&other.bits)
    }

    /// The audience as one bitmap of the [portable Roaring format]: the bytes CRoaring
    /// (`roaring_bitmap_portable_deserialize`), pyroaring (`BitMap.deserialize`), Java
    /// (`RoaringBitmap.deserialize`), Go (`ReadFrom`), ClickHouse and `roaring`
    /// (`RoaringBitmap::deserialize_from`) read. [`Audience::from_portable_bytes`] reads
    /// them back.
    ///
    /// The containers are written as they are held: arrays, bitsets, and runs where a bulk
    /// write or `optimize` made them. Every reader gets the same set; the bytes equal
    /// another writer's when it picked the same containers (pyroaring's after
    /// `run_optimize()`, for a bitmap run-optimized here too). About 2 bytes per id in sparse
    /// blocks, 8 KiB per dense block, 4 bytes per run.
    ///
    /// ```
    /// use audience::{Audience, CustomerId};
    /// let a: Audience = [1, 5, u32::MAX].into_iter().map(CustomerId).collect();
    /// let bytes = a.to_portable_bytes();
    /// assert_eq!(bytes[..4], 12346u32.to_le_bytes()); // the cookie of the layout without runs
    /// assert_eq!(Audience::from_portable_bytes(&bytes)?, a);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// [portable Roaring format]: https://github.com/RoaringBitmap/RoaringFormatSpec
    pub fn to_portable_bytes(&self) -> Vec<u8> {
        format::image(&self.bits)
    }

    /// Reads one bitmap of the [portable Roaring format] (see
    /// [`Audience::to_portable_bytes`]): `bytes` must be exactly one bitmap, as CRoaring's
    /// `roaring_bitmap_portable_serialize`, pyroaring's `serialize`, Java's `serialize`, Go's
    /// `WriteTo` or `roaring`'s `serialize_into` write it.
    ///
    /// The bytes are checked whole before anything is built, and every byte must mean what
    /// the spec says, so bytes another reader could take for another set are refused:
    /// container keys and array values strictly ascending; runs inside their block,
    /// separate and ascending; each container holding as many ids as the header says (a run
    /// container's too, which `roaring`'s own reader does not check); the header's offsets
    /// where the containers start; no run flag past the last container; nothing after the
    /// bitmap. Hostile bytes cost one pass over their own length: nothing is allocated by a
    /// declared length before the bytes it declares are there.
    ///
    /// ```
    /// use audience::{Audience, Error, PortableProblem};
    /// // CRoaring's bytes for {7} (pyroaring: `BitMap([7]).serialize()`)
    /// let bytes = [0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 7, 0];
    /// let a = Audience::from_portable_bytes(&bytes)?;
    /// assert_eq!(a.to_ids(), [7]);
    ///
    /// let err = Audience::from_portable_bytes(&bytes[..12]).unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     Error::InvalidPortableBitmap { offset: 0, len: 12, reason: PortableProblem::Truncated { .. } }
    /// ));
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::InvalidPortableBitmap`], with the byte at fault and a
    /// [`PortableProblem`](crate::PortableProblem).
    ///
    /// [portable Roaring format]: https://github.com/RoaringBitmap/RoaringFormatSpec
    pub fn from_portable_bytes(bytes: &[u8]) -> Result<Audience> {
        let invalid = |offset, reason| Error::InvalidPortableBitmap { offset, len: bytes.len(), reason };
        format::check_image(bytes).map_err(|(offset, reason)| invalid(offset, reason))?;
        // Checked again by `roaring` (sorted arrays, bitset counts, runs): a second line.
        let bits = RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| invalid(0, PortableProblem::Rejected { message: e.to_string() }))?;
        Ok(Audience { bits })
    }

    /// The underlying bitmap.
    pub fn bitmap(&self) -> &RoaringBitmap {
        &self.bits
    }

    /// The underlying bitmap, by value.
    pub fn into_bitmap(self) -> RoaringBitmap {
        self.bits
    }
}

/// Ascending iterator over an [`Audience`]'s customers.
#[derive(Clone)]
pub struct Iter<'a> {
    inner: roaring::bitmap::Iter<'a>,
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("remaining", &self.inner.size_hint().0).finish()
    }
}

impl Iterator for Iter<'_> {
    type Item = CustomerId;

    #[inline]
    fn next(&mut self) -> Option<CustomerId> {
        self.inner.next().map(CustomerId)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<CustomerId> {
        self.inner.next_back().map(CustomerId)
    }
}

impl<'a> IntoIterator for &'a Audience {
    type Item = CustomerId;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl From<RoaringBitmap> for Audience {
    fn from(bits: RoaringBitmap) -> Audience {
        Audience { bits }
    }
}

impl From<Audience> for RoaringBitmap {
    fn from(a: Audience) -> RoaringBitmap {
        a.bits
    }
}

impl FromIterator<CustomerId> for Audience {
    fn from_iter<I: IntoIterator<Item = CustomerId>>(iter: I) -> Audience {
        Audience { bits: iter.into_iter().map(|c| c.0).collect() }
    }
}

impl Extend<CustomerId> for Audience {
    fn extend<I: IntoIterator<Item = CustomerId>>(&mut self, iter: I) {
        self.bits.extend(iter.into_iter().map(|c| c.0));
    }
}

macro_rules! set_op {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait<&Audience> for &Audience {
            type Output = Audience;
            fn $method(self, rhs: &Audience) -> Audience {
                Audience { bits: &self.bits $op &rhs.bits }
            }
        }
        impl $trait<Audience> for Audience {
            type Output = Audience;
            fn $method(self, rhs: Audience) -> Audience {
                Audience { bits: self.bits $op rhs.bits }
            }
        }
    };
}

set_op!(BitAnd, bitand, &);
set_op!(BitOr, bitor, |);
set_op!(Sub, sub, -);
set_op!(BitXor, bitxor, ^);

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(a: &Audience) -> Vec<u32> {
        a.iter().map(u32::from).collect()
    }

    #[test]
    fn write_ids_crosses_containers_and_appends() {
        // an array container, a dense bitmap container and a run, in three 2^16 blocks
        let mut bits = RoaringBitmap::new();
        bits.extend([1, 5, 9]);
        bits.extend((1 << 16..(1 << 16) + 10_000).step_by(2));
        bits.insert_range(2 << 16..(2 << 16) + 70_000);
        bits.insert_range(u32::MAX - 70_000..=u32::MAX);
        bits.optimize();
        let a = Audience::from(bits.clone());
        let mut out = vec![7, 7];
        a.write_ids(&mut out);
        assert_eq!(&out[..2], [7, 7]);
        assert_eq!(out[2..], bits.iter().collect::<Vec<_>>()[..]);
        assert_eq!(a.to_ids().len() as u64, a.len());
    }

    #[test]
    fn write_ids_in_the_top_block_and_without_regrowing() {
        // A bitset container in block 65535 (ids up to u32::MAX).
        let mut bits: RoaringBitmap = (0xFFFF_0000u32..0xFFFF_0000 + 5_000).collect();
        bits.insert(u32::MAX);
        let a = Audience::from(bits.clone());
        assert_eq!(a.to_ids(), bits.iter().collect::<Vec<_>>());
        // A result ending in a bitset: one reservation covers the decoder's slack.
        let dense: RoaringBitmap = (0..1_000_000u32).filter(|x| x % 3 != 0).collect();
        let mut out = Vec::new();
        Audience::from(dense).write_ids(&mut out);
        assert!(out.capacity() <= out.len() + decode::IDS_SLACK, "len {} capacity {}", out.len(), out.capacity());
    }

    #[test]
    fn cursors_continue_after_the_last_id() {
        let a: Audience = [0, 3, u32::MAX].into_iter().map(CustomerId).collect();
        assert_eq!(a.iter_from(CustomerId(0)).map(u32::from).collect::<Vec<_>>(), [3, u32::MAX]);
        assert_eq!(a.iter_from(CustomerId(u32::MAX)).count(), 0);
        let p = a.page(None, 0);
        assert_eq!(p.ids, [CustomerId(0)], "a limit of 0 is taken as 1");
        assert_eq!(p.next, Some(CustomerId(0)));
        let p = a.page(Some(CustomerId(3)), 5);
        assert_eq!((p.ids, p.next), (vec![CustomerId(u32::MAX)], None));
        assert_eq!(Audience::new().page(None, 3), Page::default());
    }

    #[test]
    fn set_algebra() {
        let a: Audience = [1, 2, 3].into_iter().map(CustomerId).collect();
        let b: Audience = [3, 4].into_iter().map(CustomerId).collect();
        assert_eq!(ids(&a.intersection(&b)), [3]);
        assert_eq!(ids(&a.union(&b)), [1, 2, 3, 4]);
        assert_eq!(ids(&a.difference(&b)), [1, 2]);
        assert_eq!(ids(&a.symmetric_difference(&b)), [1, 2, 4]);
        assert_eq!(a.intersection_len(&b), 1);
        assert_eq!((a.first(), a.last()), (Some(CustomerId(1)), Some(CustomerId(3))));
        assert_eq!(a.iter().next_back(), Some(CustomerId(3)));
    }
}
