//! Past one machine: the engine's tags, keys and attributes in ClickHouse's own formats, and
//! queries of this crate's language as ClickHouse SQL over them.
//!
//! - `mod.rs`: [`Tables`], and ClickHouse's `RowBinary` values: a `String` (LEB128 length,
//!   bytes), fixed-width integers (little-endian), and a `groupBitmap` state
//!   ([`write_state`], [`read_state`]).
//! - `sql.rs`: [`Query::to_clickhouse_sql`](crate::Query::to_clickhouse_sql).
//!
//! The engine's side (which rows, read from which layer) is `engine/clickhouse.rs`.
//!
//! ## The `groupBitmap` state
//!
//! A column of type `AggregateFunction(groupBitmap, UInt32)` holds, per row, the state
//! ClickHouse's `RoaringBitmapWithSmallSet<UInt32, 32>` writes, with no length before it in
//! `RowBinary`:
//!
//! - one byte: `0` for a small set, `1` for a Roaring bitmap;
//! - a small set (at most 32 values): a LEB128 count, then each value as 4 bytes
//!   little-endian;
//! - a Roaring bitmap (what `groupBitmapState` writes for more than 32 values; a state
//!   made by `bitmapAnd` and its kin stays one at any size): a LEB128 byte length, then the bitmap in the
//!   [portable Roaring format](https://github.com/RoaringBitmap/RoaringFormatSpec), as
//!   CRoaring writes it.
//!
//! This crate writes what `groupBitmapState` writes (a small set up to 32 values, the
//! portable format above) and reads both kinds at any size, each checked: a small set of
//! more than 32 values is refused (ClickHouse refuses it too), a small set's repeated value
//! counts once (ClickHouse would count it twice), and a Roaring bitmap is checked whole
//! before it is read ([`Audience::from_portable_bytes`](crate::Audience::from_portable_bytes):
//! ClickHouse does not check the order of its containers or values).

mod sql;

pub(crate) use sql::{Names, render as render_sql};

use std::io::{self, Read, Write};

use roaring::RoaringBitmap;

use crate::audience::Audience;
use crate::blocks::format;
use crate::error::{Error, Result};

/// The largest set ClickHouse's `groupBitmap` keeps inline (`RoaringBitmapWithSmallSet`'s
/// small set); past it, a Roaring bitmap.
pub const CLICKHOUSE_SMALL_SET: usize = 32;

/// The names of the three ClickHouse tables the engine's data goes to, for
/// [`Query::to_clickhouse_sql`](crate::Query::to_clickhouse_sql) and
/// [`Engine::to_clickhouse_sql`](crate::Engine::to_clickhouse_sql): by default `tags`,
/// `customers` and `attrs`. A name may be qualified with a database (`crm.tags`); each part
/// is quoted with backquotes in the SQL.
///
/// | table | columns | written by |
/// |---|---|---|
/// | `tags` | `tag String, kind String, customers AggregateFunction(groupBitmap, UInt32)` | [`Engine::write_clickhouse_tags`](crate::Engine::write_clickhouse_tags) |
/// | `customers` | `customer_id UInt32, key String` | [`Engine::write_clickhouse_customers`](crate::Engine::write_clickhouse_customers) |
/// | `attrs` | `customer_id UInt32, name String, value Int64` | [`Engine::write_clickhouse_attrs`](crate::Engine::write_clickhouse_attrs) |
///
/// ```
/// use audience::Tables;
/// let tables = Tables { tags: "crm.user_tags".into(), ..Tables::default() };
/// assert_eq!((tables.customers.as_str(), tables.attrs.as_str()), ("customers", "attrs"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    /// The tags table.
    pub tags: String,
    /// The key directory: every live customer, the universe of `NOT` and `*`.
    pub customers: String,
    /// The numeric attributes.
    pub attrs: String,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables { tags: "tags".into(), customers: "customers".into(), attrs: "attrs".into() }
    }
}

/// How the rows of a `groupBitmap` table read by
/// [`Engine::read_clickhouse_tags`](crate::Engine::read_clickhouse_tags) are laid out.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClickHouseRows {
    /// `tag String, kind String, customers AggregateFunction(groupBitmap, UInt32)`: what
    /// [`Engine::write_clickhouse_tags`](crate::Engine::write_clickhouse_tags) writes.
    #[default]
    TagKindCustomers,
    /// `tag String, customers AggregateFunction(groupBitmap, UInt32)`: the output of
    /// `SELECT tag, groupBitmapState(customer_id) ... GROUP BY tag FORMAT RowBinary`.
    TagCustomers,
}

/// Writes a `RowBinary` `String`: its length as LEB128, then its bytes.
pub(crate) fn write_string(out: &mut impl Write, s: &[u8]) -> io::Result<()> {
    write_varuint(out, s.len() as u64)?;
    out.write_all(s)
}

/// Writes `v` as LEB128 (ClickHouse's `VarUInt`).
pub(crate) fn write_varuint(out: &mut impl Write, mut v: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let mut n = 0;
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        buf[n] = if v == 0 { byte } else { byte | 0x80 };
        n += 1;
        if v == 0 {
            break;
        }
    }
    out.write_all(&buf[..n])
}

/// Writes the `groupBitmap` state of `bits` (see the module docs).
pub(crate) fn write_state(out: &mut impl Write, bits: &RoaringBitmap) -> io::Result<()> {
    if bits.len() <= CLICKHOUSE_SMALL_SET as u64 {
        out.write_all(&[0])?;
        write_varuint(out, bits.len())?;
        let mut values = [0u8; 4 * CLICKHOUSE_SMALL_SET];
        for (chunk, v) in values.chunks_exact_mut(4).zip(bits) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        return out.write_all(&values[..4 * bits.len() as usize]);
    }
    let image = format::image(bits);
    out.write_all(&[1])?;
    write_varuint(out, image.len() as u64)?;
    out.write_all(&image)
}

/// The longest `String` read (a tag or attribute name, a customer key): names are at most
/// 256 bytes and keys 4 KiB, so anything longer is refused before it is read.
const MAX_STRING: u64 = 1 << 16;

/// The longest portable Roaring bitmap of `u32` ids: a header and offsets of 8 bytes a
/// container, 65,536 bitset containers of 8 KiB.
const MAX_PORTABLE: u64 = 8 + (1 << 16) * (8 + 8192);

/// Reads `RowBinary` values from a buffered input, counting bytes and rows for errors.
pub(crate) struct RowReader<R> {
    input: R,
    name: String,
    /// Bytes read so far.
    offset: u64,
    /// The row being read (from 1).
    row: u64,
}

impl<R: io::BufRead> RowReader<R> {
    pub(crate) fn new(input: R, name: &str) -> RowReader<R> {
        RowReader { input, name: name.to_owned(), offset: 0, row: 0 }
    }

    /// Whether another row follows (`false` at the end of the input); counts it.
    pub(crate) fn next_row(&mut self) -> Result<bool> {
        let more = loop {
            match self.input.fill_buf() {
                Ok(b) => break !b.is_empty(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.error(format!("read error: {e}"))),
            }
        };
        self.row += u64::from(more);
        Ok(more)
    }

    /// An [`Error::InvalidRowBinary`] at the current row and offset.
    pub(crate) fn error(&self, what: String) -> Error {
        self.error_at(self.offset, what)
    }

    /// An [`Error::InvalidRowBinary`] at the current row and byte `offset`.
    pub(crate) fn error_at(&self, offset: u64, what: String) -> Error {
        Error::InvalidRowBinary { input: self.name.clone(), row: self.row, offset, what }
    }

    /// Bytes read so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.error(format!("the input ends inside {what} (a row cut short)")))
            }
            Err(e) => Err(self.error(format!("read error in {what}: {e}"))),
        }
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b, what)?;
        Ok(b[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.exact(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn varuint(&mut self, what: &str) -> Result<u64> {
        let at = self.offset;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        self.offset = at;
        Err(self.error(format!("{what}: a LEB128 length longer than 64 bits")))
    }

    /// A `String` of at most `max` bytes, as UTF-8.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        let at = self.offset;
        let len = self.varuint(what)?;
        if len > MAX_STRING {
            self.offset = at;
            return Err(self.error(format!("{what} of {len} bytes (at most {MAX_STRING})")));
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf, what)?;
        String::from_utf8(buf).map_err(|e| {
            self.offset = at;
            self.error(format!("{what} is not UTF-8 ({e})"))
        })
    }

    /// A `groupBitmap(UInt32)` state (see the module docs).
    pub(crate) fn state(&mut self) -> Result<RoaringBitmap> {
        let at = self.offset;
        match self.u8("a groupBitmap state")? {
            0 => {
                let n = self.varuint("a small set's count")?;
                if n > CLICKHOUSE_SMALL_SET as u64 {
                    self.offset = at;
                    return Err(self.error(format!(
                        "a groupBitmap small set of {n} values (at most {CLICKHOUSE_SMALL_SET}; more are a Roaring bitmap)"
                    )));
                }
                let mut bits = RoaringBitmap::new();
                for _ in 0..n {
                    bits.insert(self.u32("a small set's value")?);
                }
                Ok(bits)
            }
            1 => {
                let len = self.varuint("a Roaring bitmap's length")?;
                if len > MAX_PORTABLE {
                    return Err(self.error(format!(
                        "a Roaring bitmap of {len} bytes (no set of u32 ids needs more than {MAX_PORTABLE})"
                    )));
                }
                let start = self.offset;
                let mut image = Vec::new();
                // Grown as bytes arrive: a length larger than the input allocates no more
                // than the input holds.
                let got = (&mut self.input)
                    .take(len)
                    .read_to_end(&mut image)
                    .map_err(|e| self.error(format!("read error in a Roaring bitmap: {e}")))?;
                self.offset += got as u64;
                if (got as u64) < len {
                    return Err(
                        self.error(format!("the input ends inside a Roaring bitmap of {len} bytes ({got} there)"))
                    );
                }
                Audience::from_portable_bytes(&image).map(Audience::into_bitmap).map_err(|e| {
                    self.offset = start;
                    self.error(format!("a groupBitmap state's Roaring bitmap: {e}"))
                })
            }
            kind => {
                self.offset = at;
                Err(self.error(format!("a groupBitmap state of kind {kind} (0 is a small set, 1 a Roaring bitmap)")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_bytes(bits: &RoaringBitmap) -> Vec<u8> {
        let mut out = Vec::new();
        write_state(&mut out, bits).unwrap();
        out
    }

    fn read(bytes: &[u8]) -> Result<RoaringBitmap> {
        let mut r = RowReader::new(bytes, "t");
        assert!(r.next_row()?);
        r.state()
    }

    #[test]
    fn varuints_are_leb128() {
        for (v, want) in [(0u64, &[0u8][..]), (127, &[127]), (128, &[0x80, 1]), (300, &[0xAC, 0x02])] {
            let mut out = Vec::new();
            write_varuint(&mut out, v).unwrap();
            assert_eq!(out, want);
            assert_eq!(RowReader::new(&out[..], "t").varuint("v").unwrap(), v);
        }
        let mut out = Vec::new();
        write_varuint(&mut out, u64::MAX).unwrap();
        assert_eq!(out.len(), 10);
        assert_eq!(RowReader::new(&out[..], "t").varuint("v").unwrap(), u64::MAX);
        let too_long = [0xFFu8; 11];
        assert!(RowReader::new(&too_long[..], "t").varuint("v").is_err());
    }

    #[test]
    fn small_sets_inline_and_larger_ones_as_portable_roaring() {
        let small: RoaringBitmap = [0, 7, u32::MAX].into_iter().collect();
        let b = state_bytes(&small);
        assert_eq!(b[..2], [0, 3]);
        assert_eq!(b[2..6], 0u32.to_le_bytes());
        assert_eq!(b[10..14], u32::MAX.to_le_bytes());
        assert_eq!(read(&b).unwrap(), small);
        let at_limit: RoaringBitmap = (0..32).collect();
        assert_eq!(state_bytes(&at_limit)[0], 0);
        let large: RoaringBitmap = (0..33).chain(70_000..140_000).collect();
        let b = state_bytes(&large);
        assert_eq!(b[0], 1);
        assert_eq!(read(&b).unwrap(), large);
        assert_eq!(read(&state_bytes(&RoaringBitmap::new())).unwrap(), RoaringBitmap::new());
    }

    #[test]
    fn bad_states_are_typed_errors() {
        let mut too_many = vec![0u8, 33];
        too_many.extend((0..33u32).flat_map(u32::to_le_bytes));
        for bad in
            [&[2u8][..], &[0, 2, 1, 0, 0, 0], &too_many, &[1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2], &[1, 4, 1, 2, 3, 4]]
        {
            let e = read(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidRowBinary { row: 1, .. }), "{e}");
        }
    }
}
