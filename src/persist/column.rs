//! A column of fixed-width values, read back on several threads.
//!
//! Most of a big snapshot is columns (at 10M customers with 100M purchases, 1.36 GB of its
//! 1.87 GB are the purchase history's): sections of about 16 MiB, each a count and that
//! many values, little-endian. Decoding one is a copy, and the copy's cost is mostly the
//! kernel zeroing each fresh page of the column on its first touch. So [`read_column`]
//! takes the sections in order on the calling thread and checks their counts (the reader
//! reads and checksums them, a big file on a thread of its own: `read.rs`) while other
//! threads decode the sections taken before into their own parts of the column, their
//! page faults in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::codec::corrupt;
use super::file::CHUNK;
use super::read::Reader;
use crate::error::Result;

/// Sections in flight per decoding thread: read ahead, or decoded and not yet handed back.
pub(super) const AHEAD: usize = 2;

/// Below this many bytes (two sections), the calling thread reads and decodes alone:
/// starting threads would cost more than they save.
pub(super) const PARALLEL_FROM: usize = 2 * CHUNK;

/// Decoding threads: the cores the process may use, at most 4 (the calling thread reads).
pub(super) fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |t| t.get()).clamp(1, 4)
}

/// The column written as sections of `kind` (each a `u64` count, then that many values of
/// `N` bytes, as `Enc::u32s` and its kin write them): `n` values (a count checked against
/// the file beforehand, read at offset `at`), each `f` of its bytes, and the index of the
/// first value `valid` refuses, if any (checked as each value is decoded, while its bytes
/// are in cache: a second pass over a column of 100M values cost a tenth of `open`). `what`
/// names the column in errors. A section of more values than are left, a count that does
/// not match its section's length, or fewer values in all than `n` is [`Error::Corrupt`].
///
/// [`Error::Corrupt`]: crate::Error::Corrupt
pub(crate) fn read_column<T, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    (n, at): (usize, u64),
    what: &str,
    f: impl Fn([u8; N]) -> T + Copy + Send,
    valid: impl Fn(T) -> bool + Copy + Send,
) -> Result<(Vec<T>, Option<usize>)>
where
    T: Copy + Default + Send,
{
    if n.saturating_mul(N) < PARALLEL_FROM {
        read_column_here(r, kind, (n, at), what, f, valid)
    } else {
        read_column_threads(r, kind, (n, at), what, f, valid)
    }
}

/// [`read_column`] with the decoding on other threads.
fn read_column_threads<T, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    (n, at): (usize, u64),
    what: &str,
    f: impl Fn([u8; N]) -> T + Copy + Send,
    valid: impl Fn(T) -> bool + Copy + Send,
) -> Result<(Vec<T>, Option<usize>)>
where
    T: Copy + Default + Send,
{
    let mut out = vec![T::default(); n];
    let threads = workers();
    let first_invalid = AtomicUsize::new(usize::MAX);
    let (give_back, returned) = sync_channel::<Vec<u8>>(threads * AHEAD + 1);
    let filled = std::thread::scope(|s| -> Result<usize> {
        let (to_workers, inbox) = sync_channel::<Part<'_, T>>(threads * AHEAD);
        let inbox = Arc::new(Mutex::new(inbox));
        for _ in 0..threads {
            let (inbox, give_back, first_invalid) = (Arc::clone(&inbox), give_back.clone(), &first_invalid);
            s.spawn(move || decode(&inbox, &give_back, first_invalid, f, valid));
        }
        drop(give_back);
        let result = feed::<T, N>(r, kind, what, &mut out, &to_workers, &returned);
        drop(to_workers); // the workers finish the sections sent, then stop
        result
    });
    // The workers are done: their buffers serve the next column.
    while let Ok(buf) = returned.try_recv() {
        r.keep(buf);
    }
    let filled = filled?;
    if filled != n {
        let what = format!("{what}: the header counts {n} values, the sections hold {filled}");
        return Err(corrupt(r.path(), at, what));
    }
    let first_invalid = first_invalid.into_inner();
    Ok((out, (first_invalid != usize::MAX).then_some(first_invalid)))
}

/// [`read_column`] on the calling thread alone.
fn read_column_here<T, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    (n, at): (usize, u64),
    what: &str,
    f: impl Fn([u8; N]) -> T,
    valid: impl Fn(T) -> bool,
) -> Result<(Vec<T>, Option<usize>)>
where
    T: Copy,
{
    let path = r.path().to_path_buf();
    let mut out = Vec::with_capacity(n);
    loop {
        let s = r.section(kind)?;
        let mut d = s.dec(&path);
        d.column_into(what, n - out.len(), &mut out, &f)?;
        d.finish(what)?;
        if r.peek()? != kind {
            break;
        }
    }
    if out.len() != n {
        let what = format!("{what}: the header counts {n} values, the sections hold {}", out.len());
        return Err(corrupt(&path, at, what));
    }
    let first_invalid = out.iter().position(|&v| !valid(v));
    Ok((out, first_invalid))
}

/// A section's payload for a decoding thread, the index of its first value in the column,
/// and the column's part it fills.
type Part<'o, T> = (Vec<u8>, usize, &'o mut [T]);

/// Reads the column's sections, checks each one's count, and sends each with its part of
/// `out` to the decoding threads; returns how many values the sections held.
fn feed<'o, T, const N: usize>(
    r: &mut Reader,
    kind: [u8; 4],
    what: &str,
    out: &'o mut [T],
    to_workers: &SyncSender<Part<'o, T>>,
    returned: &Receiver<Vec<u8>>,
) -> Result<usize> {
    let total = out.len();
    let mut rest: &'o mut [T] = out;
    loop {
        while let Ok(buf) = returned.try_recv() {
            r.keep(buf); // for the sections to come
        }
        let (buf, base) = r.take(kind)?;
        let count = section_count::<N>(r, &buf, base, (what, "values"), (rest.len(), total))?;
        let start = total - rest.len();
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(count);
        rest = tail;
        if to_workers.send((buf, start, part)).is_err() {
            break; // no worker left: a worker panicked, and the scope reports it
        }
        if r.peek()? != kind {
            break;
        }
    }
    Ok(total - rest.len())
}

/// The count a section of `N`-byte items starts with (a `u64`), checked against the
/// section's length and against `room`, the items left of the `total` the header counts;
/// `what` names the column or table in errors, and `noun` its items.
pub(super) fn section_count<const N: usize>(
    r: &Reader,
    payload: &[u8],
    base: u64,
    (what, noun): (&str, &str),
    (room, total): (usize, usize),
) -> Result<usize> {
    let count = payload.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let Some(count) = count.and_then(|c| usize::try_from(c).ok()) else {
        return Err(corrupt(r.path(), base, format!("{what}: a section without its count")));
    };
    let held = payload.len() - 8;
    if count.checked_mul(N) != Some(held) {
        return Err(corrupt(r.path(), base, format!("{what}: a count of {count} {noun} in {held} bytes")));
    }
    if count > room {
        return Err(corrupt(r.path(), base, format!("{what}: more than the {total} {noun} the header counts")));
    }
    Ok(count)
}

/// A decoding thread: each section's values into its part, checked by `valid` on the way
/// (the lowest index refused goes to `first_invalid`), the buffer handed back.
fn decode<T: Copy, const N: usize>(
    inbox: &Mutex<Receiver<Part<'_, T>>>,
    give_back: &SyncSender<Vec<u8>>,
    first_invalid: &AtomicUsize,
    f: impl Fn([u8; N]) -> T,
    valid: impl Fn(T) -> bool,
) {
    loop {
        let next = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok((buf, start, part)) = next else { return };
        let mut all = true;
        for (v, bytes) in part.iter_mut().zip(buf[8..].chunks_exact(N)) {
            let x = f(bytes.try_into().expect("N bytes"));
            all &= valid(x);
            *v = x;
        }
        if !all && let Some(i) = part.iter().position(|&v| !valid(v)) {
            first_invalid.fetch_min(start + i, Ordering::Relaxed);
        }
        let _ = give_back.try_send(buf); // a full return queue drops the buffer
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::error::Error;
    use crate::persist::{Enc, Writer};

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("audience-column-{name}-{}.snap", std::process::id()))
    }

    /// Twenty sections of `kind` (more than the threads have in flight), section `i` holding
    /// the items `i * 10 .. i * 10 + 10` as `u32`s, then an `ENDS` section.
    fn write(path: &Path, kind: [u8; 4]) {
        let mut w = Writer::create(path).unwrap();
        for i in 0..20u32 {
            let mut e = Enc::default();
            e.u32s(&(i * 10..i * 10 + 10).collect::<Vec<_>>());
            w.section(kind, &e.buf).unwrap();
        }
        w.section(*b"ENDS", &[]).unwrap();
        w.finish().unwrap();
    }

    /// A column comes back whole and in order across many sections; a count one short or
    /// one over is corrupt at the offset of the header's count or of the section past it.
    #[test]
    fn a_column_comes_back_in_order() {
        let path = temp("col");
        write(&path, *b"COLS");
        type Read = fn(&mut Reader, [u8; 4], (usize, u64), &str, fn([u8; 4]) -> u32) -> Result<Vec<u32>>;
        fn threads(r: &mut Reader, k: [u8; 4], n: (usize, u64), what: &str, f: fn([u8; 4]) -> u32) -> Result<Vec<u32>> {
            read_column_threads(r, k, n, what, f, |_| true).map(|(v, _)| v)
        }
        fn here(r: &mut Reader, k: [u8; 4], n: (usize, u64), what: &str, f: fn([u8; 4]) -> u32) -> Result<Vec<u32>> {
            read_column_here(r, k, n, what, f, |_| true).map(|(v, _)| v)
        }
        for read in [threads as Read, here] {
            let mut r = Reader::open(&path).unwrap();
            let got = read(&mut r, *b"COLS", (200, 7), "test column", u32::from_le_bytes).unwrap();
            assert_eq!(got, (0..200).collect::<Vec<u32>>());
            r.section(*b"ENDS").unwrap();
            r.finish().unwrap();
        }
        // The first value refused, wherever it is and whichever thread checked it.
        for bad in [[].as_slice(), &[0], &[199], &[37, 38, 150], &[150, 37]] {
            let mut r = Reader::open(&path).unwrap();
            let t = read_column_threads(&mut r, *b"COLS", (200, 7), "c", u32::from_le_bytes, |v| !bad.contains(&v));
            let mut r = Reader::open(&path).unwrap();
            let h = read_column_here(&mut r, *b"COLS", (200, 7), "c", u32::from_le_bytes, |v| !bad.contains(&v));
            let want = bad.iter().min().map(|&v| v as usize);
            assert_eq!(t.unwrap().1, want, "{bad:?}");
            assert_eq!(h.unwrap().1, want, "{bad:?}");
        }
        for (n, at, read) in
            [(199, None, threads as Read), (201, Some(7), threads), (199, None, here), (201, Some(7), here)]
        {
            let mut r = Reader::open(&path).unwrap();
            match read(&mut r, *b"COLS", (n, 7), "test column", u32::from_le_bytes) {
                Err(Error::Corrupt { offset, what, .. }) => {
                    assert!(what.contains("test column"), "{what}");
                    if let Some(at) = at {
                        assert_eq!(offset, at);
                    }
                }
                other => panic!("{n} values: {other:?}"),
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
}
