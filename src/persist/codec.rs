//! The values a snapshot's sections are made of, written and read back: little-endian
//! fixed-width integers, length-prefixed UTF-8 strings, bitmaps in the portable Roaring
//! format, JSON documents. `docs/format.md` describes them for a reader in another language.
//!
//! [`Dec`] reads from one section's payload, which its checksum has already vouched for; it
//! still checks every length against what is left (a crafted file can carry a valid
//! checksum), so a count never sizes an allocation past the bytes that back it, and every
//! failure is an [`Error::Corrupt`] naming the file and the absolute byte offset.

use std::path::Path;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};

/// Builds a section's payload.
#[derive(Default)]
pub(crate) struct Enc {
    pub(crate) buf: Vec<u8>,
}

impl Enc {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A count of what follows (`u64`).
    pub(crate) fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }

    /// `u32` byte length, then the UTF-8 bytes.
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(u32::try_from(s.len()).expect("names and keys are far shorter than 4 GiB"));
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// `u64` byte length, then the bitmap in the portable Roaring format.
    pub(crate) fn bitmap(&mut self, b: &RoaringBitmap) {
        self.u64(b.serialized_size() as u64);
        b.serialize_into(&mut self.buf).expect("writing to a Vec cannot fail");
    }

    /// `u64` byte length, then `value` as JSON.
    pub(crate) fn json<T: serde::Serialize>(&mut self, value: &T) {
        let text = serde_json::to_vec(value).expect("the engine's own state serializes");
        self.u64(text.len() as u64);
        self.buf.extend_from_slice(&text);
    }

    /// A column of `u32`s: its length, then the values.
    pub(crate) fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        self.buf.reserve(4 * v.len());
        v.iter().for_each(|&x| self.u32(x));
    }

    pub(crate) fn i32s(&mut self, v: &[i32]) {
        self.len(v.len());
        self.buf.reserve(4 * v.len());
        v.iter().for_each(|&x| self.i32(x));
    }

    pub(crate) fn u64s(&mut self, v: &[u64]) {
        self.len(v.len());
        self.buf.reserve(8 * v.len());
        v.iter().for_each(|&x| self.u64(x));
    }

    pub(crate) fn i64s(&mut self, v: &[i64]) {
        self.len(v.len());
        self.buf.reserve(8 * v.len());
        v.iter().for_each(|&x| self.i64(x));
    }
}

/// Reads a section's payload back.
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    at: usize,
    /// The payload's offset in the file.
    base: u64,
    path: &'a Path,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8], base: u64, path: &'a Path) -> Dec<'a> {
        Dec { buf, at: 0, base, path }
    }

    /// The file offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.at as u64
    }

    /// An [`Error::Corrupt`] at the next byte.
    pub(crate) fn corrupt(&self, what: impl Into<String>) -> Error {
        corrupt(self.path, self.offset(), what)
    }

    /// An [`Error::Corrupt`] at file offset `offset` (a value read earlier, found wrong
    /// once what follows it was read).
    pub(crate) fn corrupt_at(&self, offset: u64, what: impl Into<String>) -> Error {
        corrupt(self.path, offset, what)
    }

    fn rest(&self) -> usize {
        self.buf.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.rest() {
            return Err(self.corrupt(format!("{what}: {n} bytes needed, {} left in the section", self.rest())));
        }
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    pub(crate) fn i32(&mut self, what: &str) -> Result<i32> {
        self.array(what).map(i32::from_le_bytes)
    }

    pub(crate) fn i64(&mut self, what: &str) -> Result<i64> {
        self.array(what).map(i64::from_le_bytes)
    }

    /// A count of items of at least `min_bytes` bytes each that follow: never more than the
    /// section's remaining bytes can hold, so it may size an allocation.
    pub(crate) fn len(&mut self, min_bytes: usize, what: &str) -> Result<usize> {
        let at = self.offset();
        let n = self.u64(what)?;
        let fits = usize::try_from(n).ok().filter(|&n| n.saturating_mul(min_bytes.max(1)) <= self.rest());
        fits.ok_or_else(|| corrupt(self.path, at, format!("{what}: a count of {n} does not fit the section")))
    }

    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str> {
        let at = self.offset();
        let n = self.u32(what)? as usize;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes).map_err(|_| corrupt(self.path, at, format!("{what}: not UTF-8")))
    }

    pub(crate) fn bitmap(&mut self, what: &str) -> Result<RoaringBitmap> {
        let at = self.offset();
        let n = self.u64(what)?;
        let n = usize::try_from(n).map_err(|_| self.corrupt(format!("{what}: {n} bytes")))?;
        let bytes = self.take(n, what)?;
        // The whole image checked first (header, offsets, run counts, no trailing bytes:
        // what `roaring` itself does not check), then `roaring`'s own checks.
        let image = at + 8;
        crate::blocks::format::check_image(bytes)
            .map_err(|(offset, problem)| corrupt(self.path, image + offset as u64, format!("{what}: {problem}")))?;
        RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| corrupt(self.path, image, format!("{what}: not a portable Roaring bitmap ({e})")))
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&mut self, what: &str) -> Result<T> {
        let at = self.offset();
        let n = self.u64(what)?;
        let n = usize::try_from(n).map_err(|_| self.corrupt(format!("{what}: {n} bytes")))?;
        let bytes = self.take(n, what)?;
        serde_json::from_slice(bytes).map_err(|e| corrupt(self.path, at, format!("{what}: {e}")))
    }

    fn column<T, const N: usize>(&mut self, what: &str, f: fn([u8; N]) -> T) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.column_into(what, usize::MAX, &mut out, f)?;
        Ok(out)
    }

    /// A column of values `f` reads from `N` bytes each, appended to `out`: its count, at
    /// most `room` (else an error: more values than the reader expects), then the values.
    /// Appending spares a column read in chunks a copy of each chunk.
    pub(crate) fn column_into<T, const N: usize>(
        &mut self,
        what: &str,
        room: usize,
        out: &mut Vec<T>,
        f: impl Fn([u8; N]) -> T,
    ) -> Result<()> {
        let at = self.offset();
        let n = self.len(N, what)?;
        if n > room {
            return Err(corrupt(self.path, at, format!("{what}: {n} values, more than the {room} expected")));
        }
        let bytes = self.take(n * N, what)?;
        out.extend(bytes.chunks_exact(N).map(|c| f(c.try_into().expect("N bytes"))));
        Ok(())
    }

    pub(crate) fn u32s(&mut self, what: &str) -> Result<Vec<u32>> {
        self.column(what, u32::from_le_bytes)
    }

    pub(crate) fn i32s(&mut self, what: &str) -> Result<Vec<i32>> {
        self.column(what, i32::from_le_bytes)
    }

    pub(crate) fn i64s(&mut self, what: &str) -> Result<Vec<i64>> {
        self.column(what, i64::from_le_bytes)
    }

    /// Checks that the payload was read to its end.
    pub(crate) fn finish(self, what: &str) -> Result<()> {
        match self.rest() {
            0 => Ok(()),
            n => Err(self.corrupt(format!("{what}: {n} bytes left over"))),
        }
    }
}

/// An [`Error::Corrupt`] in `d`'s file at `offset`, or at `d`'s next byte.
pub(crate) fn corrupt_at(d: &Dec<'_>, offset: Option<u64>, what: impl Into<String>) -> Error {
    corrupt(d.path, offset.unwrap_or_else(|| d.offset()), what)
}

pub(crate) fn corrupt(path: &Path, offset: u64, what: impl Into<String>) -> Error {
    Error::Corrupt { path: path.to_path_buf(), offset, what: what.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_lengths_are_checked() {
        let mut e = Enc::default();
        e.u8(7);
        e.u32(u32::MAX);
        e.i64(-5);
        e.str("高消费");
        let b: RoaringBitmap = [1u32, 70_000, u32::MAX].into_iter().collect();
        e.bitmap(&b);
        e.u32s(&[1, 2, 3]);
        e.json(&vec!["a", "b"]);
        let path = Path::new("x.snap");
        let mut d = Dec::new(&e.buf, 100, path);
        assert_eq!(d.u8("a").unwrap(), 7);
        assert_eq!(d.u32("b").unwrap(), u32::MAX);
        assert_eq!(d.i64("c").unwrap(), -5);
        assert_eq!(d.str("d").unwrap(), "高消费");
        assert_eq!(d.bitmap("e").unwrap(), b);
        assert_eq!(d.u32s("f").unwrap(), [1, 2, 3]);
        assert_eq!(d.json::<Vec<String>>("g").unwrap(), ["a", "b"]);
        d.finish("h").unwrap();
        // Every truncation is an error at an offset inside the payload, never a panic.
        for cut in 0..e.buf.len() {
            let mut d = Dec::new(&e.buf[..cut], 100, path);
            let r = (|| -> Result<()> {
                d.u8("a")?;
                d.u32("b")?;
                d.i64("c")?;
                d.str("d")?;
                d.bitmap("e")?;
                d.u32s("f")?;
                d.json::<Vec<String>>("g")?;
                Ok(())
            })();
            match r {
                Err(Error::Corrupt { offset, .. }) => assert!((100..=100 + cut as u64).contains(&offset)),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        // A count larger than the bytes left is refused before any allocation.
        let mut e = Enc::default();
        e.u64(u64::MAX / 2);
        assert!(matches!(Dec::new(&e.buf, 0, path).u32s("x"), Err(Error::Corrupt { .. })));
        assert!(matches!(Dec::new(&e.buf, 0, path).len(1, "x"), Err(Error::Corrupt { .. })));
    }
}
