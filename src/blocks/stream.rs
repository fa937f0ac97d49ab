//! A bitmap's containers as `roaring` writes them, without keeping a copy.
//!
//! `RoaringBitmap::serialize_into` writes the portable image to any `io::Write`: the header,
//! then each container's bytes, an array or a bitset in one `write` call straight from the
//! container's memory. [`for_each_container`] is such a writer: it parses the header as it
//! arrives and hands each container to a callback, in ascending key order, borrowing the
//! bytes `roaring` passed (a run container, written two bytes at a time, is gathered first).
//! Two-operand counts use it for their larger operand, so only the smaller one is copied.

use std::io;

use roaring::RoaringBitmap;

use super::view::Container;

const COOKIE_NO_RUNS: u32 = 12346;
const COOKIE_RUNS: u16 = 12347;
const RUN_OFFSETS_FROM: usize = 4;

/// Calls `f(key, container)` for every container of `bits`, ascending.
pub(crate) fn for_each_container(bits: &RoaringBitmap, f: impl FnMut(u16, Container<'_>)) {
    let mut sink = Sink { f, header: Vec::new(), entries: Vec::new(), parsed: false, next: 0, pending: Vec::new() };
    bits.serialize_into(&mut sink).expect("the sink accepts every write");
    debug_assert_eq!(sink.next, sink.entries.len(), "every container was delivered");
}

#[derive(Clone, Copy)]
enum Kind {
    Array,
    Bitset,
    Run,
}

struct Sink<F> {
    f: F,
    header: Vec<u8>,
    /// `(key, kind, bytes of an array or bitset)` per container, once the header is parsed.
    entries: Vec<(u16, Kind, usize)>,
    parsed: bool,
    /// The next container to deliver.
    next: usize,
    /// Bytes of a container that arrived in pieces.
    pending: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<F: FnMut(u16, Container<'_>)> Sink<F> {
    /// The header's full length, once enough of it has arrived to know.
    fn header_len(&self) -> Option<usize> {
        let h = &self.header;
        if h.len() < 4 {
            return None;
        }
        let cookie = u32_at(h, 0);
        if cookie == COOKIE_NO_RUNS {
            (h.len() >= 8).then(|| 8 + 8 * u32_at(h, 4) as usize)
        } else {
            debug_assert_eq!(cookie as u16, COOKIE_RUNS);
            let n = (cookie >> 16) as usize + 1;
            Some(4 + n.div_ceil(8) + 4 * n + if n >= RUN_OFFSETS_FROM { 4 * n } else { 0 })
        }
    }

    fn parse_header(&mut self) {
        let h = &self.header;
        let cookie = u32_at(h, 0);
        let (n, runs_at, descriptions) = if cookie == COOKIE_NO_RUNS {
            (u32_at(h, 4) as usize, None, 8)
        } else {
            let n = (cookie >> 16) as usize + 1;
            (n, Some(4), 4 + n.div_ceil(8))
        };
        self.entries = (0..n)
            .map(|i| {
                let key = u16_at(h, descriptions + 4 * i);
                let card = u16_at(h, descriptions + 4 * i + 2) as usize + 1;
                if runs_at.is_some_and(|r| h[r + i / 8] & (1 << (i % 8)) != 0) {
                    (key, Kind::Run, 0)
                } else if card <= 4096 {
                    (key, Kind::Array, 2 * card)
                } else {
                    (key, Kind::Bitset, 8192)
                }
            })
            .collect();
        self.parsed = true;
    }

    /// Takes container bytes; delivers every container they complete.
    fn take(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() && self.next < self.entries.len() {
            let (key, kind, len) = self.entries[self.next];
            let want = match kind {
                Kind::Run if self.pending.len() >= 2 => 2 + 4 * u16_at(&self.pending, 0) as usize,
                Kind::Run => 2, // the run count comes first
                _ => len,
            };
            if self.pending.is_empty() && buf.len() >= want && !matches!(kind, Kind::Run) {
                // The usual case: a whole array or bitset in one write, read in place.
                let (bytes, rest) = buf.split_at(want);
                self.deliver(key, kind, bytes);
                buf = rest;
                continue;
            }
            let need = want - self.pending.len();
            let (part, rest) = buf.split_at(need.min(buf.len()));
            self.pending.extend_from_slice(part);
            buf = rest;
            let complete = match kind {
                Kind::Run => self.pending.len() >= 2 && self.pending.len() == 2 + 4 * u16_at(&self.pending, 0) as usize,
                _ => self.pending.len() == len,
            };
            if complete {
                let bytes = std::mem::take(&mut self.pending);
                match kind {
                    Kind::Run => self.deliver(key, kind, &bytes[2..]),
                    _ => self.deliver(key, kind, &bytes),
                }
                self.pending = bytes;
                self.pending.clear();
            }
        }
    }

    fn deliver(&mut self, key: u16, kind: Kind, bytes: &[u8]) {
        let c = match kind {
            Kind::Array => Container::Array(bytes),
            Kind::Bitset => Container::Bitset(bytes),
            Kind::Run => Container::Run(bytes),
        };
        (self.f)(key, c);
        self.next += 1;
    }
}

impl<F: FnMut(u16, Container<'_>)> io::Write for Sink<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.parsed {
            self.take(buf);
            return Ok(buf.len());
        }
        let mut rest = buf;
        while !rest.is_empty() && !self.parsed {
            let need = match self.header_len() {
                Some(len) => len - self.header.len(),
                None => 8 - self.header.len().min(8),
            }
            .max(1);
            let (part, more) = rest.split_at(need.min(rest.len()));
            self.header.extend_from_slice(part);
            rest = more;
            if self.header_len() == Some(self.header.len()) {
                self.parse_header();
            }
        }
        if !rest.is_empty() {
            self.take(rest);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::view::View;

    fn owned(c: Container<'_>) -> (u8, Vec<u8>) {
        match c {
            Container::Array(b) => (0, b.to_vec()),
            Container::Bitset(b) => (1, b.to_vec()),
            Container::Run(b) => (2, b.to_vec()),
        }
    }

    #[test]
    fn streams_what_a_view_reads() {
        let cases = crate::blocks::view::tests::sample_bitmaps();
        for b in cases {
            let v = View::new(&b);
            let want: Vec<(u16, (u8, Vec<u8>))> =
                v.keys().enumerate().map(|(i, k)| (k, owned(v.container(i)))).collect();
            let mut got = Vec::new();
            for_each_container(&b, |k, c| got.push((k, owned(c))));
            assert_eq!(got, want);
        }
    }
}
