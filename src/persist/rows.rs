//! A table of fixed-width rows, decoded in place on several threads.
//!
//! Like a column (`column.rs`), but each row is checked by a fallible decoder (which may
//! compare it with the row before) and lands in several columns at once (a struct of
//! slices, [`Rows`]). The columns are sized before the first section is read, so each
//! section's rows are decoded straight into their place by a decoding thread, the fresh
//! pages faulted in there: nothing is copied after, and the calling thread only takes the
//! sections and checks their counts (the refresh rows at 10M customers spent a fifth of `open` copying
//! parts into the columns on the calling thread).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use super::codec::{Dec, corrupt};
use super::column::{AHEAD, PARALLEL_FROM, section_count, workers};
use super::read::Reader;
use crate::error::{Error, Result};

/// Columns filled a part at a time: split where sections end, each part filled by one
/// thread, row by row.
pub(crate) trait Rows: Send + Sized {
    /// What one row decodes to.
    type Row;
    /// Rows held.
    fn len(&self) -> usize;
    /// The first `mid` rows, and the rest (`mid <= len`).
    fn split_at(self, mid: usize) -> (Self, Self);
    /// Sets row `i` (`i < len`).
    fn set(&mut self, i: usize, row: Self::Row);
}

/// A section for a decoding thread.
struct Job<R, const N: usize> {
    /// The section's place among the table's.
    index: usize,
    payload: Vec<u8>,
    /// The payload's offset in the file.
    base: u64,
    /// The rows it fills.
    part: R,
    /// The bytes of the row before its first, if any.
    before: Option<[u8; N]>,
}

/// The table written as sections of `kind` (each a `u64` count, then that many rows of `N`
/// bytes), into `out`, which holds as many rows as the header counts (read at offset `at`).
/// Each row is `decode(dec, previous)`: `dec` at the row, to be advanced past its `N`
/// bytes; `previous` the bytes of the row before it in the table (`None` for the first);
/// the row is set in place, with a tally (what it counts toward a total: the sum is
/// returned). `what` names the table in errors.
///
/// The error is the one a reader going in order would have met first: a section whose
/// count does not match its length or runs past the rows counted, a row `decode` refuses,
/// fewer rows in all than counted.
pub(crate) fn read_rows<R: Rows, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    at: u64,
    what: &str,
    out: R,
    decode: impl Fn(&mut Dec<'_>, Option<&[u8; N]>) -> Result<(R::Row, u64)> + Sync,
) -> Result<u64> {
    let threads = out.len().saturating_mul(N) >= PARALLEL_FROM;
    read_rows_with(r, kind, at, what, out, decode, threads)
}

/// [`read_rows`], on other threads or not.
fn read_rows_with<R: Rows, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    at: u64,
    what: &str,
    out: R,
    decode: impl Fn(&mut Dec<'_>, Option<&[u8; N]>) -> Result<(R::Row, u64)> + Sync,
    threads: bool,
) -> Result<u64> {
    let total = out.len();
    let path = r.path().to_path_buf();
    // One section's rows into their part: the decoding thread's work.
    let fill = |Job { payload, base, mut part, before, .. }: Job<R, N>| -> (Result<u64>, Vec<u8>) {
        let mut d = Dec::new(&payload, base, &path);
        let mut tally = 0;
        let result = (|| {
            d.u64("row count")?; // feed checked it
            for i in 0..part.len() {
                let before = match i {
                    0 => before.as_ref(),
                    _ => Some(payload[8 + (i - 1) * N..8 + i * N].try_into().expect("N bytes")),
                };
                let (row, t) = decode(&mut d, before)?;
                debug_assert_eq!(d.offset(), base + (8 + (i + 1) * N) as u64, "a row decoded is N bytes read");
                tally += t;
                part.set(i, row);
            }
            d.finish(what)
        })();
        (result.map(|()| tally), payload)
    };
    let (tally, filled) = if !threads {
        let mut tally = 0;
        let filled = feed(r, kind, what, out, |job| {
            let (result, buf) = fill(job);
            tally += result?;
            Ok(Some(buf))
        })?;
        (tally, filled)
    } else {
        read_rows_threads(r, kind, what, out, &fill)?
    };
    if filled != total {
        return Err(corrupt(
            r.path(),
            at,
            format!("{what}: the header counts {total} rows, the sections hold {filled}"),
        ));
    }
    Ok(tally)
}

/// [`read_rows`] with the sections decoded on other threads: the tally and the rows filled.
fn read_rows_threads<R: Rows, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    what: &str,
    out: R,
    fill: &(impl Fn(Job<R, N>) -> (Result<u64>, Vec<u8>) + Sync),
) -> Result<(u64, usize)> {
    let threads = workers();
    let tally = AtomicU64::new(0);
    // The error of the first section in the table that has one, and whether there is one.
    let failed: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let (give_back, returned) = sync_channel::<Vec<u8>>(threads * AHEAD + 1);
    let fed = std::thread::scope(|s| {
        let (to_workers, inbox) = sync_channel::<Job<R, N>>(threads * AHEAD);
        let inbox = Arc::new(Mutex::new(inbox));
        for _ in 0..threads {
            let (inbox, give_back, tally, failed, stop) =
                (Arc::clone(&inbox), give_back.clone(), &tally, &failed, &stop);
            s.spawn(move || {
                loop {
                    let next = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = next else { return };
                    let index = job.index;
                    let (result, buf) = fill(job);
                    match result {
                        Ok(t) => _ = tally.fetch_add(t, Ordering::Relaxed),
                        Err(e) => {
                            let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                            if failed.as_ref().is_none_or(|(i, _)| index < *i) {
                                *failed = Some((index, e));
                            }
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    let _ = give_back.try_send(buf); // a full return queue drops the buffer
                }
            });
        }
        drop(give_back);
        let fed = feed(r, kind, what, out, |job| {
            if stop.load(Ordering::Relaxed) || to_workers.send(job).is_err() {
                return Ok(None); // a section failed (reported below), or a worker panicked
            }
            Ok(Some(returned.try_recv().unwrap_or_default()))
        });
        drop(to_workers); // the workers finish the sections sent, then stop
        fed
    });
    while let Ok(buf) = returned.try_recv() {
        r.keep(buf);
    }
    // A section a thread refused comes before any the calling thread could not read.
    if let Some((_, e)) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok((tally.into_inner(), fed?))
}

/// Reads the table's sections, checks each one's count, and hands each with its part of
/// `out` to `sink`, which gives back a buffer for the reader to keep (empty if none), or
/// `None` to stop; returns the rows the sections held.
fn feed<R: Rows, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    what: &str,
    out: R,
    mut sink: impl FnMut(Job<R, N>) -> Result<Option<Vec<u8>>>,
) -> Result<usize> {
    let total = out.len();
    let mut rest = out;
    let mut prev: Option<[u8; N]> = None;
    for index in 0.. {
        let (buf, base) = r.take(kind)?;
        let count = section_count::<N>(r, &buf, base, (what, "rows"), (rest.len(), total))?;
        let (part, tail) = rest.split_at(count);
        rest = tail;
        let last = count.checked_sub(1).map(|i| buf[8 + i * N..8 + (i + 1) * N].try_into().expect("N bytes"));
        let before = prev;
        prev = last.or(prev);
        match sink(Job { index, payload: buf, base, part, before })? {
            Some(done) => r.keep(done),
            None => break,
        }
        if r.peek()? != kind {
            break;
        }
    }
    Ok(total - rest.len())
}

impl<T: Send> Rows for &mut [T] {
    type Row = T;

    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }

    fn set(&mut self, i: usize, row: T) {
        self[i] = row;
    }
}

#[cfg(test)]
impl<A: Rows, B: Rows> Rows for (A, B) {
    type Row = (A::Row, B::Row);

    fn len(&self) -> usize {
        self.0.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let ((a0, a1), (b0, b1)) = (self.0.split_at(mid), self.1.split_at(mid));
        ((a0, b0), (a1, b1))
    }

    fn set(&mut self, i: usize, (a, b): Self::Row) {
        self.0.set(i, a);
        self.1.set(i, b);
    }
}

impl<A: Rows, B: Rows, C: Rows> Rows for (A, B, C) {
    type Row = (A::Row, B::Row, C::Row);

    fn len(&self) -> usize {
        self.0.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let ((a0, a1), (b0, b1), (c0, c1)) = (self.0.split_at(mid), self.1.split_at(mid), self.2.split_at(mid));
        ((a0, b0, c0), (a1, b1, c1))
    }

    fn set(&mut self, i: usize, (a, b, c): Self::Row) {
        self.0.set(i, a);
        self.1.set(i, b);
        self.2.set(i, c);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::persist::read::Mode;
    use crate::persist::testing::overwrite;
    use crate::persist::{Enc, Writer};

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("audience-rows-{name}-{}.snap", std::process::id()))
    }

    /// Twenty sections of rows (more than the threads have in flight), section `i` holding
    /// `sizes[i]` rows, each a `u32` id (ascending from 0) and a `u32` twice the id, then an
    /// `ENDS` section.
    fn write(path: &Path, sizes: &[usize]) {
        let mut w = Writer::create(path).unwrap();
        let mut id = 0u32;
        for &n in sizes {
            let mut e = Enc::default();
            e.u64(n as u64);
            for _ in 0..n {
                e.u32(id);
                e.u32(id * 2);
                id += 1;
            }
            w.section(*b"ROWS", &e.buf).unwrap();
        }
        w.section(*b"ENDS", &[]).unwrap();
        w.finish().unwrap();
    }

    /// Reads the table at `path` (`n` rows counted) into two columns, refusing rows whose
    /// id is in `bad` and ids not ascending; decoded on threads or on the calling thread,
    /// the file read as `mode` says.
    fn read(path: &Path, n: usize, bad: &[u32], threads: bool, mode: Mode) -> Result<(Vec<u32>, Vec<u32>, u64)> {
        let mut r = Reader::open_mode(path, mode)?;
        let (mut ids, mut twice) = (vec![0u32; n], vec![0u32; n]);
        let decode = |d: &mut Dec<'_>, prev: Option<&[u8; 8]>| -> Result<((u32, u32), u64)> {
            let (id, two) = (d.u32("id")?, d.u32("twice")?);
            if bad.contains(&id) {
                return Err(d.corrupt(format!("bad row {id}")));
            }
            if prev.is_some_and(|p| u32::from_le_bytes(p[..4].try_into().unwrap()) >= id) {
                return Err(d.corrupt(format!("not ascending at {id}")));
            }
            Ok(((id, two), u64::from(id % 2)))
        };
        let out = (ids.as_mut_slice(), twice.as_mut_slice());
        let tally = read_rows_with(&mut r, *b"ROWS", 3, "test rows", out, decode, threads)?;
        r.section(*b"ENDS")?;
        r.finish()?;
        Ok((ids, twice, tally))
    }

    /// The error's text, or the rows' sum of ids and tally.
    fn outcome(r: Result<(Vec<u32>, Vec<u32>, u64)>) -> String {
        match r {
            Ok((ids, twice, tally)) => {
                assert!(ids.iter().zip(&twice).all(|(&i, &t)| t == i * 2), "every row whole");
                format!("{} rows, sum {}, tally {tally}", ids.len(), ids.iter().map(|&i| u64::from(i)).sum::<u64>())
            }
            Err(Error::Corrupt { offset, what, .. }) => format!("corrupt at {offset}: {what}"),
            Err(e) => format!("{e:?}"),
        }
    }

    /// Rows come back whole and in place across many sections (empty ones too), and the
    /// tally is the rows'; the same on threads and on the calling thread.
    #[test]
    fn rows_come_back_in_place() {
        let path = temp("whole");
        let sizes = [7, 0, 13, 1, 9, 9, 0, 30, 2, 5, 11, 3, 8, 8, 8, 1, 1, 40, 6, 4];
        let n: usize = sizes.iter().sum();
        write(&path, &sizes);
        for (threads, mode) in [(true, Mode::Ahead), (true, Mode::Here), (false, Mode::Ahead), (false, Mode::Here)] {
            let (ids, twice, tally) = read(&path, n, &[], threads, mode).unwrap();
            assert_eq!(ids, (0..n as u32).collect::<Vec<_>>());
            assert_eq!(twice, (0..n as u32).map(|i| i * 2).collect::<Vec<_>>());
            assert_eq!(tally, (0..n as u64).filter(|i| i % 2 == 1).count() as u64);
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// The error is the first in the table's order, whichever thread met it: a refused row,
    /// a row not after the one before it (across a section's edge too), a count over or
    /// under the header's, a file cut anywhere. Threads and the calling thread agree on
    /// every one, the file read ahead or not.
    #[test]
    fn the_first_error_in_order_wins() {
        let path = temp("errors");
        let sizes = [5usize; 20];
        write(&path, &sizes);
        let cases: [(usize, &[u32]); 8] = [
            (100, &[0]),
            (100, &[99]),
            (100, &[37, 38, 80]),
            (100, &[80, 37]),
            (99, &[]),
            (101, &[]),
            (99, &[50]),
            (3, &[]),
        ];
        for (n, bad) in cases {
            let here = outcome(read(&path, n, bad, false, Mode::Here));
            for _ in 0..5 {
                for (threads, mode) in [(true, Mode::Ahead), (true, Mode::Here), (false, Mode::Ahead)] {
                    assert_eq!(outcome(read(&path, n, bad, threads, mode)), here, "{n} rows, bad {bad:?}");
                }
            }
            let first_bad = bad.iter().copied().min().filter(|&b| (b as usize) < n.min(100));
            match first_bad {
                Some(b) => assert!(here.contains(&format!("bad row {b}")), "{here}"),
                None if n == 100 => assert!(here.starts_with("100 rows"), "{here}"),
                None if n < 100 => assert!(here.contains("more than the"), "{here}"),
                None => assert!(here.contains("the header counts 101 rows, the sections hold 100"), "{here}"),
            }
        }
        let whole = std::fs::read(&path).unwrap();
        for len in (0..whole.len()).step_by(7) {
            overwrite(&path, &whole[..len]);
            let here = outcome(read(&path, 100, &[], false, Mode::Here));
            assert!(here.starts_with("corrupt"), "cut at {len}: {here}");
            assert_eq!(outcome(read(&path, 100, &[], true, Mode::Ahead)), here, "cut at {len}");
        }
        // Rows out of order at a section's edge: the first row of section 3 repeats the
        // last of section 2.
        let mut w = Writer::create(&path).unwrap();
        for ids in [[0u32, 1], [2, 3], [4, 5], [5, 6], [7, 8]] {
            let mut e = Enc::default();
            e.u64(2);
            for id in ids {
                e.u32(id);
                e.u32(id * 2);
            }
            w.section(*b"ROWS", &e.buf).unwrap();
        }
        w.section(*b"ENDS", &[]).unwrap();
        w.finish().unwrap();
        for threads in [true, false] {
            let got = outcome(read(&path, 10, &[], threads, Mode::Ahead));
            assert!(got.contains("not ascending at 5"), "{got}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
