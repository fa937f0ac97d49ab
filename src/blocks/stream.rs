//! A bitmap's containers as `roaring` writes them, without keeping a copy.
//!
//! `RoaringBitmap::serialize_into` writes the portable image to any `io::Write`: the header,
//! then each container's bytes, an array or a bitset in one `write` call straight from the
//! container's memory. [`for_each_container`] is such a writer: it parses the header as it
//! arrives and hands each container to a callback, in ascending key order, borrowing the
//! bytes `roaring` passed (a run container, written two bytes at a time, is gathered first).
//! Queries read the largest operand that has no kept view this way.

use std::io;

use roaring::RoaringBitmap;

use super::format::{self, Container, Description, Kind, RUN_COUNT_BYTES, u16_at};

/// Calls `f(key, container)` for every container of `bits`, ascending.
pub(crate) fn for_each_container(bits: &RoaringBitmap, mut f: impl FnMut(u16, Container<'_>)) {
    for_each_counted(bits, |key, _, c| f(key, c));
}

/// Calls `f(key, cardinality, container)` for every container of `bits`, ascending.
pub(crate) fn for_each_counted(bits: &RoaringBitmap, f: impl FnMut(u16, usize, Container<'_>)) {
    let mut sink = Sink { f, header: Vec::new(), header_len: None, entries: Vec::new(), next: 0, pending: Vec::new() };
    bits.serialize_into(&mut sink).expect("the sink accepts every write");
    debug_assert_eq!(sink.next, sink.entries.len(), "every container was delivered");
}

struct Sink<F> {
    f: F,
    header: Vec<u8>,
    /// The header's full length, once enough of it has arrived to tell.
    header_len: Option<usize>,
    /// The containers, once the header is read.
    entries: Vec<Description>,
    /// The next container to deliver.
    next: usize,
    /// Bytes of a container that arrived in pieces.
    pending: Vec<u8>,
}

impl<F: FnMut(u16, usize, Container<'_>)> Sink<F> {
    fn parsed(&self) -> bool {
        self.header_len == Some(self.header.len())
    }

    /// Bytes container `d` takes, its run count included, as far as `pending` tells.
    fn wanted(&self, d: &Description) -> usize {
        match d.kind {
            Kind::Run if self.pending.len() >= RUN_COUNT_BYTES => Kind::Run.bytes(0, u16_at(&self.pending, 0) as usize),
            Kind::Run => RUN_COUNT_BYTES, // the run count comes first
            kind => kind.bytes(d.card, 0),
        }
    }

    /// Takes container bytes; delivers every container they complete.
    fn take(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() && self.next < self.entries.len() {
            let d = self.entries[self.next];
            let want = self.wanted(&d);
            if self.pending.is_empty() && buf.len() >= want && d.kind != Kind::Run {
                // The usual case: a whole array or bitset in one write, read in place.
                let (bytes, rest) = buf.split_at(want);
                self.deliver(d, bytes);
                buf = rest;
                continue;
            }
            let need = want - self.pending.len();
            let (part, rest) = buf.split_at(need.min(buf.len()));
            self.pending.extend_from_slice(part);
            buf = rest;
            if self.pending.len() == self.wanted(&d) {
                let bytes = std::mem::take(&mut self.pending);
                let store = if d.kind == Kind::Run { &bytes[RUN_COUNT_BYTES..] } else { &bytes[..] };
                self.deliver(d, store);
                self.pending = bytes;
                self.pending.clear();
            }
        }
    }

    fn deliver(&mut self, d: Description, bytes: &[u8]) {
        (self.f)(d.key, d.card, Container::new(d.kind, bytes));
        self.next += 1;
    }
}

impl<F: FnMut(u16, usize, Container<'_>)> io::Write for Sink<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.parsed() {
            self.take(buf);
            return Ok(buf.len());
        }
        let mut rest = buf;
        while !rest.is_empty() && !self.parsed() {
            let need = match self.header_len {
                Some(len) => len - self.header.len(),
                None => 8 - self.header.len().min(8),
            }
            .max(1);
            let (part, more) = rest.split_at(need.min(rest.len()));
            self.header.extend_from_slice(part);
            rest = more;
            if self.header_len.is_none() {
                self.header_len = format::header_len(&self.header);
            }
            if self.parsed() {
                self.entries = format::read_header(&self.header).collect();
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
