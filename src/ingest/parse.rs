//! Records out of CSV bytes: the `csv` crate's parser ([`csv_core`]) driven block by block,
//! a record kept within [`MAX_RECORD_BYTES`], each record with the line it starts on.
//!
//! A big input is cut into blocks that end, most likely, at a record boundary (after a line
//! break outside quotes, judging by the count of quotes), so that blocks can be parsed on
//! several threads, each from a fresh parser. Whether the cut was right is known once the
//! block before it is parsed: it must end with no record begun ([`Parser::clean`]). When
//! it does not (a quoted field with a line break that the quote count misjudged, a record
//! longer than a block), the next block is parsed again, on from that parser: the result
//! is always the one a single parser reading the input front to back gives.

use std::io::{self, Read};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder, Terminator};

/// The longest record read: 1 MiB of field bytes. A longer record is a bad record, never a
/// buffer of its full length.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes read at a time, and a block's size (before its cut at a line break).
pub(super) const BLOCK: usize = 4 << 20;

/// The dialect: RFC 4180 with a chosen delimiter.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dialect {
    pub(super) delimiter: u8,
}

impl Dialect {
    fn reader(&self) -> Reader {
        ReaderBuilder::new()
            .delimiter(self.delimiter)
            .terminator(Terminator::CRLF)
            .quote(b'"')
            .double_quote(true)
            .escape(None)
            .comment(None)
            .build()
    }
}

/// One record, as [`Parser::feed`] hands it over.
pub(super) struct Record<'a> {
    /// The line (counting `\n`, from 1) the record starts on.
    pub(super) line: u64,
    /// Its fields, unquoted; empty when the record is too long.
    out: &'a [u8],
    ends: &'a [usize],
    /// How many fields (also those beyond `ends`).
    pub(super) fields: usize,
    /// For a record longer than [`MAX_RECORD_BYTES`]: its field bytes.
    pub(super) too_long: Option<u64>,
}

impl Record<'_> {
    /// Field `i`, if the record has it and is not too long.
    pub(super) fn field(&self, i: usize) -> Option<&[u8]> {
        if self.too_long.is_some() || i >= self.ends.len() {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.out[start..self.ends[i]])
    }
}

/// A CSV parser that keeps its state from one block to the next.
///
/// Not `Clone`: csv-core 0.1.13's `Reader::clone` keeps only part of its tables (the
/// clone splits every byte into a record of its own).
pub(super) struct Parser {
    core: Reader,
    /// The record being read: its field bytes and ends so far.
    out: Vec<u8>,
    ends: Vec<usize>,
    nout: usize,
    nend: usize,
    /// Fields of the record beyond `ends`' room, and field bytes dropped (too long).
    extra_fields: usize,
    dropped: u64,
    too_long: bool,
    /// Whether a byte of the record (not a blank line) has been read, and its line.
    started: bool,
    start_line: u64,
    /// The line the parser is on, and whether the last byte read was a `\r` (a line break
    /// unless a `\n` follows): see [`Lines`].
    lines: Lines,
}

impl Parser {
    /// A parser at the start of the input that keeps up to `fields` field ends of a record
    /// (more are counted). A byte order mark is [`Blocks`]' to skip: the parser reads one as
    /// data.
    pub(super) fn new(dialect: Dialect, fields: usize) -> Parser {
        Parser::mid_input(dialect, fields, 1)
    }

    /// A parser for a block that starts on line `line`.
    pub(super) fn mid_input(dialect: Dialect, fields: usize, line: u64) -> Parser {
        let mut p = Parser {
            core: dialect.reader(),
            // One byte more than a record may hold: a full buffer means a longer record.
            out: vec![0; MAX_RECORD_BYTES + 1],
            ends: vec![0; fields.max(1)],
            nout: 0,
            nend: 0,
            extra_fields: 0,
            dropped: 0,
            too_long: false,
            started: false,
            start_line: 0,
            lines: Lines { line, cr: false },
        };
        // csv-core strips a mark only before its first read, and only when it sees its three
        // bytes at once; a read into no room reads nothing but counts as one.
        let _ = p.core.read_record(b"x", &mut [], &mut [0]);
        p
    }

    /// Whether no record is begun: the input so far ended at a record boundary.
    pub(super) fn clean(&self) -> bool {
        !self.started && self.nout == 0 && self.nend == 0
    }

    /// Where the parser is: its line and whether a `\r` was the last byte read.
    pub(super) fn lines(&self) -> Lines {
        self.lines
    }

    /// Parses `input`, handing each complete record to `each` until it returns `false`;
    /// with `last`, `input` is the end of the input and its last record is complete too.
    /// Returns how many bytes of `input` were read (all, unless `each` stopped).
    pub(super) fn feed(&mut self, mut input: &[u8], last: bool, each: &mut impl FnMut(&Record<'_>) -> bool) -> usize {
        let len = input.len();
        loop {
            if input.is_empty() && !last {
                return len;
            }
            let (res, nin, nout, nend) =
                self.core.read_record(input, &mut self.out[self.nout..], &mut self.ends[self.nend..]);
            let read = &input[..nin];
            match read.iter().position(|&b| b != b'\n' && b != b'\r').filter(|_| !self.started) {
                Some(k) => {
                    // The record's first byte: its line counts a `\r` just before it.
                    self.lines.advance(&read[..k]);
                    self.started = true;
                    self.start_line = self.lines.line + u64::from(self.lines.cr);
                    self.lines.advance(&read[k..]);
                }
                None => self.lines.advance(read),
            }
            input = &input[nin..];
            self.nout += nout;
            self.nend += nend;
            match res {
                ReadRecordResult::Record => {
                    let go_on = self.emit(each);
                    if !go_on {
                        return len - input.len();
                    }
                }
                ReadRecordResult::InputEmpty => {
                    if input.is_empty() && !last {
                        return len;
                    }
                }
                ReadRecordResult::OutputFull => {
                    // Too long: keep counting its bytes and fields, not the bytes.
                    self.too_long = true;
                    self.dropped += self.nout as u64;
                    self.nout = 0;
                }
                ReadRecordResult::OutputEndsFull => {
                    self.extra_fields += self.nend;
                    self.nend = 0;
                }
                ReadRecordResult::End => return len,
            }
        }
    }

    fn emit(&mut self, each: &mut impl FnMut(&Record<'_>) -> bool) -> bool {
        let fields = self.extra_fields + self.nend;
        let too_long = (self.too_long || self.nout > MAX_RECORD_BYTES).then_some(self.dropped + self.nout as u64);
        // Ends count from the record's first byte, dropped bytes included: kept only when
        // nothing was dropped.
        let ends_ok = self.extra_fields == 0 && too_long.is_none();
        let record = Record {
            line: self.start_line.max(1),
            out: &self.out[..self.nout],
            ends: if ends_ok { &self.ends[..self.nend] } else { &[] },
            fields,
            too_long,
        };
        let go_on = each(&record);
        self.nout = 0;
        self.nend = 0;
        self.extra_fields = 0;
        self.dropped = 0;
        self.too_long = false;
        self.started = false;
        go_on
    }
}

/// A position's line, counting line breaks as csv-core splits records: `\n`, `\r\n`, and a
/// `\r` not followed by `\n` (csv-core itself counts `\n` only, so every record of a file
/// with `\r` line ends would be on line 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Lines {
    /// The line, from 1, not counting a `\r` just read.
    pub(super) line: u64,
    /// Whether the last byte read was a `\r`: a line break, unless the next byte is `\n`.
    pub(super) cr: bool,
}

impl Lines {
    /// Reads `bytes`.
    pub(super) fn advance(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        let mut breaks = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        if self.cr && bytes[0] != b'\n' {
            breaks += 1;
        }
        if bytes.contains(&b'\r') {
            breaks += bytes.windows(2).filter(|w| w[0] == b'\r' && w[1] != b'\n').count() as u64;
        }
        self.line += breaks;
        self.cr = last == b'\r';
    }

    /// The line a fresh parser starting at `next` (the next byte) is on: a `\r` just read
    /// counts unless `next` is the `\n` that completes it.
    pub(super) fn fresh(&self, next: Option<u8>) -> u64 {
        self.line + u64::from(self.cr && next.is_some_and(|b| b != b'\n'))
    }
}

/// Reads `input` in blocks of about [`BLOCK`] bytes, each cut after its last line break
/// outside quotes (judging by the count of quote bytes since the block's start); the bytes
/// after the cut start the next block.
pub(super) struct Blocks<R> {
    input: R,
    /// The block size.
    size: usize,
    carry: Vec<u8>,
    done: bool,
    /// Bytes read so far.
    pub(super) bytes: u64,
}

impl<R: Read> Blocks<R> {
    pub(super) fn new(input: R, size: usize) -> Blocks<R> {
        // At least 3 bytes: a first block holds a whole byte order mark.
        Blocks { input, size: size.max(BOM.len()), carry: Vec::new(), done: false, bytes: 0 }
    }

    /// The next block and whether it ends the input; `None` after the end. A UTF-8 byte
    /// order mark at the start of the input is left out.
    pub(super) fn next_block(&mut self) -> io::Result<Option<(Vec<u8>, bool)>> {
        if self.done {
            return Ok(None);
        }
        let first = self.bytes == 0;
        // A first block is whole: `BLOCK` bytes, or the whole input.
        let mut block = self.fill()?;
        if first
            && let Some((buf, _)) = &mut block
            && buf.starts_with(BOM)
        {
            buf.drain(..BOM.len());
        }
        Ok(block)
    }

    fn fill(&mut self) -> io::Result<Option<(Vec<u8>, bool)>> {
        let mut buf = std::mem::take(&mut self.carry);
        while buf.len() < self.size {
            let at = buf.len();
            buf.resize(self.size, 0);
            let read = self.input.read(&mut buf[at..]);
            buf.truncate(at + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => {
                    self.done = true;
                    return Ok(Some((buf, true)));
                }
                Ok(n) => self.bytes += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let cut = cut_point(&buf);
        self.carry = buf.split_off(cut);
        Ok(Some((buf, false)))
    }
}

/// Where to cut a full block: after its last line break (`\n`, or `\r` in a file that has
/// no `\n`) with an even count of `"` before it (the line break is outside quotes if the
/// block starts outside them and quoting is well formed), else at its end (the parse then
/// carries over into the next block).
fn cut_point(buf: &[u8]) -> usize {
    let line_break = if buf.contains(&b'\n') { b'\n' } else { b'\r' };
    if !buf.contains(&b'"') {
        return buf.iter().rposition(|&b| b == line_break).map_or(buf.len(), |i| i + 1);
    }
    let (mut quotes, mut cut) = (0u64, None);
    for (i, &b) in buf.iter().enumerate() {
        if b == b'"' {
            quotes += 1;
        } else if b == line_break && quotes % 2 == 0 {
            cut = Some(i + 1);
        }
    }
    cut.unwrap_or(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `input` parsed in pieces of `piece` bytes: (line, fields or the
    /// too-long length).
    fn records(input: &[u8], piece: usize) -> Vec<(u64, Result<Vec<String>, u64>)> {
        let mut p = Parser::new(Dialect { delimiter: b',' }, 4);
        let mut out = Vec::new();
        let mut each = |r: &Record<'_>| {
            let fields = match r.too_long {
                Some(n) => Err(n),
                None if r.fields > 4 => Err(r.fields as u64),
                None => Ok((0..r.fields).map(|i| String::from_utf8_lossy(r.field(i).unwrap()).into_owned()).collect()),
            };
            out.push((r.line, fields));
            true
        };
        let chunks: Vec<&[u8]> = input.chunks(piece.max(1)).collect();
        for c in &chunks {
            p.feed(c, false, &mut each);
        }
        p.feed(&[], true, &mut each);
        out
    }

    fn ok(line: u64, fields: &[&str]) -> (u64, Result<Vec<String>, u64>) {
        (line, Ok(fields.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn lines_quotes_and_blank_lines() {
        let input = "a,b\r\n\r\n\n\"x\ny\",\"say \"\"hi\"\"\"\nlast,1";
        for piece in [1, 2, 3, 5, 1000] {
            assert_eq!(
                records(input.as_bytes(), piece),
                [ok(1, &["a", "b"]), ok(4, &["x\ny", "say \"hi\""]), ok(6, &["last", "1"])],
                "piece {piece}"
            );
        }
    }

    #[test]
    fn a_lone_cr_ends_a_line_too() {
        for piece in [1, 2, 3, 100] {
            let got = records(b"a,b\rc,d\r\re,f\r\n\rg,h\n\ri,j", piece);
            let lines: Vec<u64> = got.iter().map(|r| r.0).collect();
            assert_eq!(lines, [1, 2, 4, 6, 8], "piece {piece}");
        }
        let mut l = Lines { line: 1, cr: false };
        l.advance(b"a\r");
        assert_eq!(
            (l, l.fresh(Some(b'\n')), l.fresh(Some(b'b')), l.fresh(None)),
            (Lines { line: 1, cr: true }, 1, 2, 1)
        );
        l.advance(b"\nb\r\r");
        assert_eq!(l, Lines { line: 3, cr: true });
    }

    #[test]
    fn a_record_of_exactly_the_cap_is_read() {
        for last_break in [true, false] {
            // Field bytes: the cap exactly, then one over.
            let mut input = format!("{},z\n{},z", "x".repeat(MAX_RECORD_BYTES - 1), "y".repeat(MAX_RECORD_BYTES));
            if last_break {
                input.push('\n');
            }
            let got: Vec<(u64, Result<usize, u64>)> =
                records(input.as_bytes(), 1 << 16).into_iter().map(|(l, r)| (l, r.map(|f| f[0].len()))).collect();
            assert_eq!(got, [(1, Ok(MAX_RECORD_BYTES - 1)), (2, Err(MAX_RECORD_BYTES as u64 + 1))]);
        }
    }

    #[test]
    fn too_long_and_too_many_fields_are_counted_not_kept() {
        let long = "x".repeat(MAX_RECORD_BYTES + 5);
        let input = format!("a,b\n{long},y\nc,d\n{}\ne,f\n", ",".repeat(100));
        let got = records(input.as_bytes(), 64 << 10);
        assert_eq!(got[0], ok(1, &["a", "b"]));
        assert_eq!(got[1], (2, Err(MAX_RECORD_BYTES as u64 + 6)));
        assert_eq!(got[2], ok(3, &["c", "d"]));
        assert_eq!(got[3], (4, Err(101)));
        assert_eq!(got[4], ok(5, &["e", "f"]));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_at_the_start_only() {
        let blocks = |input: &[u8]| {
            let mut b = Blocks::new(input, 2);
            let mut out = Vec::new();
            while let Some((block, _)) = b.next_block().unwrap() {
                out.extend(block);
            }
            out
        };
        assert_eq!(blocks(b"\xEF\xBB\xBFa,b\n"), b"a,b\n");
        assert_eq!(blocks(b"\xEF\xBB\xBF"), b"");
        assert_eq!(blocks(b"\xEF\xBB"), b"\xEF\xBB");
        assert_eq!(blocks(b"a\n\xEF\xBB\xBF"), b"a\n\xEF\xBB\xBF");
        // The parser reads a mark as data (in the middle of the input, it is).
        let got = records("\u{feff}a,b".as_bytes(), 100);
        assert_eq!(got, [ok(1, &["\u{feff}a", "b"])]);
    }

    #[test]
    fn blocks_cut_outside_quotes() {
        assert_eq!(cut_point(b"a,b\nc,d\ne"), 8);
        assert_eq!(cut_point(b"a,\"b\nc\"\nd"), 8);
        assert_eq!(cut_point(b"a,\"b\nc"), 6, "no line break outside quotes: cut at the end");
        assert_eq!(cut_point(b"abc"), 3);
        assert_eq!(cut_point(b"a,b\rc,d\re"), 8, "old Mac line ends");
        assert_eq!(cut_point(b"a\r\nb\rc"), 3, "a \\n somewhere: cut at the \\n only");
    }
}
