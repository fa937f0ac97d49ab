//! Reading a snapshot: its sections in order, each checked against its checksum before it
//! is used.
//!
//! A big file is read by a thread of its own, a few sections ahead of the caller: it reads
//! each section's frame, payload and checksum, and checks them, while the caller (and the
//! threads it decodes columns on) work on the sections before. So the disk is busy while the
//! engine decodes, and the checksums are not on the caller's path. What the caller sees is
//! the same either way, errors included: the thread stops at the first error, and the
//! caller meets it where a reader going in order would have (after the sections before it,
//! and after a section of the wrong kind, which is reported first as it is on one thread).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use super::codec::{Dec, corrupt};
use super::file::{CHUNK, END, FRAME, HEADER, MAGIC, VERSION, io, kind_name};
use crate::error::{Error, Result};

/// Files of at least this many bytes (two sections of [`CHUNK`]) are read ahead by a thread:
/// below it, starting one would cost more than it saves.
const AHEAD_FROM: u64 = 2 * CHUNK as u64;
/// Sections the reading thread holds ready for the caller (about 16 MiB each at most, as
/// written; a foreign file's sections are bounded by its size, as on one thread).
const READ_AHEAD: usize = 4;
/// Payload buffers handed back to the reading thread, for its next sections (a buffer
/// reused is pages the kernel need not zero again).
const RETURNS: usize = 8;

/// How a [`Reader`] reads: chosen by the file's size, or forced by tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the calling thread, below [`AHEAD_FROM`] bytes; ahead on a thread from there.
    BySize,
    /// On the calling thread.
    #[cfg_attr(not(test), allow(dead_code))]
    Here,
    /// Ahead, on a thread of its own (the calling thread when none can be started).
    #[cfg_attr(not(test), allow(dead_code))]
    Ahead,
}

/// Fills `buf` from `input`, whose next byte is at file offset `at` (advanced).
fn read_at(input: &mut impl Read, path: &Path, at: &mut u64, buf: &mut [u8]) -> Result<()> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => corrupt(path, *at, "the file ends early"),
        _ => io(path, "read", e),
    })?;
    *at += buf.len() as u64;
    Ok(())
}

/// The frame of the section at file offset `at` (advanced past it) of a file of `size`
/// bytes: its kind and its payload's length, checked against the bytes left.
fn read_frame(input: &mut impl Read, path: &Path, at: &mut u64, size: u64) -> Result<([u8; 4], u64)> {
    let start = *at;
    if size - *at < FRAME {
        return Err(corrupt(path, start, "the file ends early: a section was expected"));
    }
    let mut frame = [0u8; 12];
    read_at(input, path, at, &mut frame)?;
    let kind: [u8; 4] = frame[..4].try_into().expect("4 bytes");
    let len = u64::from_le_bytes(frame[4..].try_into().expect("8 bytes"));
    if len > size - *at - 4 {
        return Err(corrupt(
            path,
            start,
            format!("section {}: a length of {len} bytes runs past the end of the file", kind_name(kind)),
        ));
    }
    Ok((kind, len))
}

/// The payload of the section whose frame [`read_frame`] just read, into `buf` (its
/// payload replaces what `buf` held; its capacity is reused, and nothing is zeroed first),
/// then its checksum, checked; `at` advanced past them.
fn read_payload(
    input: &mut impl Read,
    path: &Path,
    at: &mut u64,
    (kind, len): ([u8; 4], u64),
    buf: &mut Vec<u8>,
) -> Result<()> {
    let start = *at - 12;
    buf.clear();
    buf.reserve(len as usize); // within the file's size (read_frame checked)
    let got = input.take(len).read_to_end(buf).map_err(|e| io(path, "read", e))?;
    *at += got as u64;
    if got as u64 != len {
        return Err(corrupt(path, *at, "the file ends early"));
    }
    let mut crc = [0u8; 4];
    read_at(input, path, at, &mut crc)?;
    let want = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&kind), &len.to_le_bytes()), buf);
    if want.to_le_bytes() != crc {
        return Err(corrupt(path, start, format!("section {}: the checksum does not match", kind_name(kind))));
    }
    Ok(())
}

/// The error for a reading thread that stopped without one (after an error it sent, which
/// the caller has had; or a panic).
fn stopped(path: &Path) -> Error {
    io(path, "read", std::io::Error::other("the snapshot's reading thread stopped"))
}

/// Reads a snapshot's sections in order, each checked against its checksum before use.
pub(crate) struct Reader {
    input: Input,
    path: PathBuf,
    /// File offset of the next byte the caller has not read (sections read ahead by the
    /// thread do not count until the caller takes them).
    at: u64,
    size: u64,
    sections: u64,
    /// The next section, peeked by [`Reader::peek`].
    next: Option<Next>,
    /// The last section [`Reader::section`] read.
    buf: Vec<u8>,
    /// Buffers handed back ([`Reader::keep`]) for the next sections read on this thread
    /// (read ahead, they go back to the reading thread). A fresh buffer per 16 MiB section
    /// would be fresh pages each time, which the kernel zeroes on first touch (half of
    /// `open`'s time at 10M customers went there).
    spare: Vec<Vec<u8>>,
}

/// A section peeked: its kind and length, and, read ahead, its payload (or why it could
/// not be read, which the caller meets when it takes the section, after checking its kind).
/// On the calling thread the payload is read when the section is taken, so a section of
/// the wrong kind is refused without reading it.
struct Next {
    kind: [u8; 4],
    len: u64,
    payload: Option<Result<Vec<u8>>>,
}

/// Where a reader's sections come from.
enum Input {
    /// The file, read on the calling thread; the offset of its next byte.
    Here(BufReader<File>, u64),
    Ahead(Ahead),
}

/// What the reading thread sends per section: its kind, its length and its payload (or the
/// error reading it: the thread's last message); or the error reading its frame.
type Fetched = Result<([u8; 4], u64, Result<Vec<u8>>)>;

/// A thread reading sections ahead.
struct Ahead {
    sections: Receiver<Fetched>,
    give_back: SyncSender<Vec<u8>>,
    /// Set when the reader is dropped: the thread stops within a [`CHUNK`] of reading.
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The file as the reading thread reads it: at most a [`CHUNK`] a call, and nothing once
/// the reader is dropped (so a huge section of a foreign file does not hold up the drop).
struct Stoppable {
    input: BufReader<File>,
    stop: Arc<AtomicBool>,
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the snapshot's reader was dropped"));
        }
        let n = buf.len().min(CHUNK);
        self.input.read(&mut buf[..n])
    }
}

impl Ahead {
    /// Starts a thread reading `input` (at file offset `at`, `size` bytes in all) ahead; the
    /// input back when no thread can be started.
    fn start(input: BufReader<File>, path: &Path, at: u64, size: u64) -> std::result::Result<Ahead, BufReader<File>> {
        // The input goes to the thread once it runs, so a failed start keeps it here.
        let (hand_over, inbox) = sync_channel::<BufReader<File>>(1);
        let (out, sections) = sync_channel::<Fetched>(READ_AHEAD);
        let (give_back, returned) = sync_channel::<Vec<u8>>(RETURNS);
        let path = path.to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let started = std::thread::Builder::new().name("audience-read".into()).spawn(move || {
            if let Ok(input) = inbox.recv() {
                read_ahead(Stoppable { input, stop: stopped }, &path, at, size, &out, &returned);
            }
        });
        let Ok(thread) = started else { return Err(input) };
        match hand_over.send(input) {
            Ok(()) => Ok(Ahead { sections, give_back, stop, thread: Some(thread) }),
            Err(back) => Err(back.0),
        }
    }
}

impl Drop for Ahead {
    /// Stops the thread (its next send fails once no one receives) and waits for it, so no
    /// read goes on after the reader is gone.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(std::mem::replace(&mut self.sections, sync_channel(0).1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The reading thread: every section from `at` on, in order, until the end section, the
/// first error, or a caller no longer listening.
fn read_ahead(
    mut input: Stoppable,
    path: &Path,
    mut at: u64,
    size: u64,
    out: &SyncSender<Fetched>,
    returned: &Receiver<Vec<u8>>,
) {
    loop {
        let (kind, len) = match read_frame(&mut input, path, &mut at, size) {
            Ok(frame) => frame,
            Err(e) => {
                let _ = out.send(Err(e));
                return;
            }
        };
        let mut buf = returned.try_recv().unwrap_or_default();
        let payload = read_payload(&mut input, path, &mut at, (kind, len), &mut buf).map(|()| buf);
        let last = payload.is_err() || kind == END;
        if out.send(Ok((kind, len, payload))).is_err() || last {
            return;
        }
    }
}

/// One section read: its payload and the payload's offset in the file.
pub(crate) struct Section<'r> {
    pub(crate) payload: &'r [u8],
    pub(crate) base: u64,
    /// Bytes of the file after it: a bound for any count it holds of what follows (a layer
    /// may reserve room for `n` items of `w` bytes each once `n * w <= left`).
    pub(crate) left: u64,
}

impl Section<'_> {
    pub(crate) fn dec<'a>(&'a self, path: &'a Path) -> Dec<'a> {
        Dec::new(self.payload, self.base, path)
    }
}

impl Reader {
    /// Opens `path` and checks its header: a missing file is an [`Error::Io`] (not found), a
    /// directory, an empty file or a file that is not a snapshot an [`Error::Corrupt`], a
    /// snapshot of another format version an [`Error::UnsupportedVersion`]. A big file is
    /// read ahead on a thread (see the module's docs).
    pub(crate) fn open(path: &Path) -> Result<Reader> {
        Reader::open_mode(path, Mode::BySize)
    }

    /// [`Reader::open`], reading as `mode` says.
    pub(crate) fn open_mode(path: &Path, mode: Mode) -> Result<Reader> {
        let file = File::open(path).map_err(|e| io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| io(path, "read", e))?;
        if !meta.is_file() {
            return Err(io(path, "read", std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")));
        }
        let size = meta.len();
        if size < HEADER {
            return Err(corrupt(path, 0, format!("{size} bytes: too short for a snapshot's 16-byte header")));
        }
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut at = 0;
        let mut header = [0u8; HEADER as usize];
        read_at(&mut input, path, &mut at, &mut header)?;
        if header[..8] != MAGIC {
            return Err(corrupt(path, 0, "not an audience snapshot (its first 8 bytes are not AUDSNAP\\0)"));
        }
        if crc32c::crc32c(&header[..12]).to_le_bytes() != header[12..] {
            return Err(corrupt(path, 8, "the header's checksum does not match"));
        }
        let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(Error::UnsupportedVersion { path: path.to_path_buf(), found: version, supported: VERSION });
        }
        let ahead = match mode {
            Mode::BySize => size >= AHEAD_FROM,
            Mode::Here => false,
            Mode::Ahead => true,
        };
        let input = match ahead {
            true => Ahead::start(input, path, at, size).map_or_else(|input| Input::Here(input, at), Input::Ahead),
            false => Input::Here(input, at),
        };
        Ok(Reader {
            input,
            path: path.to_path_buf(),
            at,
            size,
            sections: 0,
            next: None,
            buf: Vec::new(),
            spare: Vec::new(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The next section's kind, its length checked against the file's (an error in its
    /// frame is returned here). Read ahead, its payload came with it, checked against its
    /// checksum; an error there is returned by [`Reader::take`] once the kind is checked.
    pub(crate) fn peek(&mut self) -> Result<[u8; 4]> {
        if let Some(next) = &self.next {
            return Ok(next.kind);
        }
        let (kind, len, payload) = match &mut self.input {
            Input::Here(input, at) => {
                let (kind, len) = read_frame(input, &self.path, at, self.size)?;
                (kind, len, None)
            }
            Input::Ahead(ahead) => {
                let (kind, len, payload) = ahead.sections.recv().unwrap_or_else(|_| Err(stopped(&self.path)))?;
                (kind, len, Some(payload))
            }
        };
        self.at += 12;
        self.next = Some(Next { kind, len, payload });
        Ok(kind)
    }

    /// The next section, which must be of `kind`.
    pub(crate) fn section(&mut self, kind: [u8; 4]) -> Result<Section<'_>> {
        let (payload, base) = self.take(kind)?;
        let old = std::mem::replace(&mut self.buf, payload);
        self.keep(old);
        Ok(Section { payload: &self.buf, base, left: self.size - self.at })
    }

    /// Keeps `buf` for the next sections read on this thread, or hands it to the reading
    /// thread for its next ones (a few at most, for as long as the reader lives).
    pub(crate) fn keep(&mut self, buf: Vec<u8>) {
        match &self.input {
            _ if buf.capacity() == 0 => {}
            Input::Here(..) if self.spare.len() < 16 => self.spare.push(buf),
            Input::Here(..) => {}
            Input::Ahead(ahead) => {
                let _ = ahead.give_back.try_send(buf); // a full return queue drops it
            }
        }
    }

    /// The next section, which must be of `kind`: its payload (in a buffer handed back
    /// before, if any: nothing is zeroed first) and the payload's offset in the file. Hand
    /// the buffer back with [`Reader::keep`] once done with it.
    pub(crate) fn take(&mut self, kind: [u8; 4]) -> Result<(Vec<u8>, u64)> {
        let found = self.peek()?;
        let start = self.at - 12;
        if found != kind {
            return Err(corrupt(
                &self.path,
                start,
                format!("section {} found where {} was expected", kind_name(found), kind_name(kind)),
            ));
        }
        let next = self.next.take().expect("peeked");
        let payload = match (next.payload, &mut self.input) {
            (Some(payload), _) => payload?,
            (None, Input::Here(input, at)) => {
                let mut buf = self.spare.pop().unwrap_or_default();
                read_payload(input, &self.path, at, (kind, next.len), &mut buf)?;
                buf
            }
            (None, Input::Ahead(_)) => return Err(stopped(&self.path)), // a section is peeked where it is read
        };
        self.at += next.len + 4;
        self.sections += 1;
        Ok((payload, start + 12))
    }

    /// Every section of `kind` from here on, as [`Writer::chunked`] wrote them: `get` is
    /// called once per item.
    ///
    /// [`Writer::chunked`]: super::Writer::chunked
    pub(crate) fn chunked(&mut self, kind: [u8; 4], mut get: impl FnMut(&mut Dec<'_>) -> Result<()>) -> Result<()> {
        let path = self.path.clone();
        loop {
            let s = self.section(kind)?;
            let mut d = s.dec(&path);
            let n = d.len(1, "item count")?;
            for _ in 0..n {
                get(&mut d)?;
            }
            d.finish("chunk")?;
            if self.peek()? != kind {
                return Ok(());
            }
        }
    }

    /// Reads the end section and checks that it closes the file.
    pub(crate) fn finish(mut self) -> Result<()> {
        let (sections, size, path) = (self.sections, self.size, self.path.clone());
        let s = self.section(END)?;
        let (base, end) = (s.base, s.left == 0);
        let mut d = s.dec(&path);
        let (n, len) = (d.u64("section count")?, d.u64("file length")?);
        d.finish("end")?;
        if n != sections || len != size || !end {
            return Err(corrupt(
                &path,
                base,
                format!(
                    "the end section says {n} sections and {len} bytes; the file has {sections} sections and {} bytes",
                    self.size
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::testing::{TempDir, overwrite, write_sections};

    /// Reads the snapshot at `path` as `mode` says, asking for the sections `kinds` in
    /// order (by `section` and `take` in turns, peeking before some), then the end:
    /// each payload with its offset and the bytes after it, or the error, as text.
    fn drive(path: &Path, mode: Mode, kinds: &[[u8; 4]]) -> String {
        let run = || -> Result<Vec<(u64, u64, Vec<u8>)>> {
            let mut r = Reader::open_mode(path, mode)?;
            let mut out = Vec::new();
            for (i, &kind) in kinds.iter().enumerate() {
                if i % 3 == 1 {
                    r.peek()?;
                }
                if i % 2 == 0 {
                    let s = r.section(kind)?;
                    out.push((s.base, s.left, s.payload.to_vec()));
                } else {
                    let (buf, base) = r.take(kind)?;
                    out.push((base, r.size - r.at, buf.clone()));
                    r.keep(buf);
                }
            }
            r.finish()?;
            Ok(out)
        };
        format!("{:?}", run())
    }

    /// Sections of several sizes (none, one byte, a few hundred), more of them than the
    /// reading thread holds ahead.
    fn sample() -> Vec<([u8; 4], Vec<u8>)> {
        (0..READ_AHEAD as u8 * 3)
            .map(|i| {
                let len = [0usize, 1, 7, 300, 33][usize::from(i) % 5];
                ([b'S', b'E', b'C', b'0' + i], (0..len).map(|j| (j as u8).wrapping_mul(31) ^ i).collect())
            })
            .collect()
    }

    /// Read ahead on a thread, a snapshot reads back the same as on the calling thread:
    /// whole, cut at every length, with any one byte changed (a frame's kind or length, a
    /// payload, a checksum, the end section), or asked for sections of the wrong kind.
    #[test]
    fn ahead_reads_as_here_does() {
        let dir = TempDir::new("read-ahead");
        let path = dir.path("s.snap");
        let sections = sample();
        let kinds: Vec<[u8; 4]> = sections.iter().map(|(k, _)| *k).collect();
        write_sections(&path, &sections);
        let whole = std::fs::read(&path).unwrap();
        let check = |what: &str, kinds: &[[u8; 4]]| {
            let here = drive(&path, Mode::Here, kinds);
            assert_eq!(drive(&path, Mode::Ahead, kinds), here, "{what}");
            here
        };
        let good = check("whole", &kinds);
        assert!(good.starts_with("Ok("), "{good}");
        // Asked for the wrong kind: at the first section, a middle one, the end.
        for at in [0, kinds.len() / 2, kinds.len() - 1] {
            let mut wrong = kinds.clone();
            wrong[at] = *b"NOPE";
            assert!(check(&format!("wrong kind at {at}"), &wrong).contains("found where NOPE was expected"));
        }
        let mut fewer = kinds.clone();
        fewer.pop();
        assert!(check("one section left unread", &fewer).contains("found where END. was expected"));
        for len in 0..whole.len() {
            overwrite(&path, &whole[..len]);
            let got = check(&format!("cut at {len}"), &kinds);
            assert!(got.starts_with("Err(Corrupt"), "cut at {len}: {got}");
        }
        for at in 0..whole.len() {
            let mut bytes = whole.clone();
            bytes[at] ^= 0x5a;
            overwrite(&path, &bytes);
            let got = check(&format!("byte {at} changed"), &kinds);
            assert!(got.starts_with("Err("), "byte {at} changed: {got}");
        }
    }

    /// A reader dropped with the thread still reading ahead (its queue full) stops it; a
    /// file that shrinks under the thread is corrupt, not a hang or a panic.
    #[test]
    fn a_dropped_reader_stops_its_thread() {
        let dir = TempDir::new("read-drop");
        let path = dir.path("s.snap");
        let sections: Vec<([u8; 4], Vec<u8>)> = (0..40).map(|i| (*b"BIGS", vec![i as u8; 1 << 16])).collect();
        write_sections(&path, &sections);
        for taken in [0, 1, 5, 39] {
            let mut r = Reader::open_mode(&path, Mode::Ahead).unwrap();
            assert!(matches!(r.input, Input::Ahead(_)));
            for i in 0..taken {
                assert_eq!(r.section(*b"BIGS").unwrap().payload, vec![i as u8; 1 << 16]);
            }
            std::thread::sleep(std::time::Duration::from_millis(5)); // the queue fills up
            drop(r);
        }
        let mut r = Reader::open_mode(&path, Mode::Ahead).unwrap();
        r.section(*b"BIGS").unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 20).unwrap();
        let got = (1..40).map(|_| r.section(*b"BIGS").map(|_| ())).find(Result::is_err);
        assert!(matches!(got, Some(Err(Error::Corrupt { .. }))), "{got:?}");
    }
}
