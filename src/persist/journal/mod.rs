//! The journal: an append-only file beside a snapshot (`<snapshot>.journal`) holding the
//! changes made since the snapshot, one record per successful mutating call. What a record
//! holds (an `Op`, `engine/journal.rs`) is the engine's business; this file is the
//! bytes around it: the header, the frames, the sync policy, and reading it back with a
//! torn tail told apart from damage.
//!
//! ```text
//! header: b"AUDJRNL\0" | version: u32 | generation: u64 | crc32c(the 20 bytes before): u32
//! record: len: u32 | crc32c(payload): u32 | crc32c(len ++ payload crc): u32 | payload: len bytes
//! long record (a payload of u32::MAX bytes or more):
//!         u32::MAX | crc32c(payload): u32 | len: u64 | crc32c(the 16 bytes before): u32 | payload: len bytes
//! ```
//!
//! `generation` is the generation of the snapshot the journal follows (the snapshot's
//! `META` section): a journal of an older generation is stale (a crash between writing a new
//! snapshot and resetting the journal left it; its records are in the snapshot) and is
//! never replayed. Each record is written whole before the next one starts (one `write` call
//! up to the 2 GiB a Linux `write` takes), so a process that dies leaves at most one record
//! cut short: a *torn tail*, dropped when the journal is opened.
//! The frame's own checksum tells a torn tail from damage: a frame that checks with a
//! payload that runs past the end of the file is torn; a frame that does not check is
//! damage, unless nothing but zero bytes follows (space the file system extended but never
//! wrote).

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::codec::corrupt;
use super::file::{io, sync_dir};
use crate::error::{Error, Result};

/// The first 8 bytes of every journal.
pub(crate) const MAGIC: [u8; 8] = *b"AUDJRNL\0";
/// The journal format version this build writes: 2 added the long frame (records of 4 GiB
/// and more). It reads version 1 too (the same frames, none long).
pub(crate) const VERSION: u32 = 2;
/// Header bytes: magic, version, generation, checksum.
pub(crate) const HEADER: u64 = 24;
/// Bytes before a record's payload: length, payload checksum, frame checksum.
pub(crate) const FRAME: u64 = 12;
/// Bytes before a long record's payload: `u32::MAX`, payload checksum, the `u64` length,
/// frame checksum.
pub(crate) const LONG_FRAME: u64 = 20;
/// The length field that announces a long frame; payloads of this many bytes or more take one
/// (a bulk call over 4 GiB is still one record).
const LONG: u64 = u32::MAX as u64;

/// When the journal asks the operating system to put its records on disk (`fdatasync`).
///
/// Whatever the policy, every record is handed to the operating system (written whole)
/// before the call that made it returns: a process that crashes or is killed loses nothing
/// it was told had succeeded. The policy decides what a *machine* crash (the kernel, the
/// power) may lose: the records written since the last sync.
///
/// | policy | a machine crash loses at most | cost per write |
/// |---|---|---|
/// | `EveryWrite` (the default) | nothing acknowledged | one `fdatasync`: tens of microseconds on an NVMe drive with a write cache, milliseconds on a disk or a cloud volume (see README, "Durability") |
/// | `EveryN(n)` | the last `n - 1` writes | one `fdatasync` per `n` writes |
/// | `EveryMillis(ms)` | the writes of the last `ms` milliseconds, and those since the last write if the engine then sits idle | about one `fdatasync` per `ms` |
/// | `Manual` | everything since the last [`Engine::flush`](crate::Engine::flush) | none until `flush` |
///
/// There is no background thread: `EveryMillis` syncs at the first write at least `ms`
/// after the last sync, so call [`Engine::flush`](crate::Engine::flush) before going idle.
/// [`Engine::checkpoint`](crate::Engine::checkpoint) and dropping the engine sync too.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum SyncPolicy {
    /// Sync after every write, before it returns: an acknowledged write survives a machine
    /// crash. The default: safe first; batch with the others when the sync costs too much.
    #[default]
    EveryWrite,
    /// Sync after every `n` writes (`EveryN(0)` and `EveryN(1)` are `EveryWrite`).
    EveryN(u32),
    /// Sync at the first write at least this many milliseconds after the last sync
    /// (`EveryMillis(0)` is `EveryWrite`).
    EveryMillis(u64),
    /// Sync only on [`Engine::flush`](crate::Engine::flush), a checkpoint, or drop.
    Manual,
}

/// What [`Engine::open_with_report`](crate::Engine::open_with_report) found beside the
/// snapshot.
///
/// This struct is `#[non_exhaustive]`: fields may be added in minor releases.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OpenReport {
    /// The snapshot's generation: 0 for a snapshot [`Engine::save`](crate::Engine::save)
    /// wrote to a path without a journal, one more at each
    /// [`Engine::checkpoint`](crate::Engine::checkpoint).
    pub generation: u64,
    /// Journal records replayed after the snapshot (one per mutating call made since it).
    pub replayed: u64,
    /// The bytes of the journal that were replayed, its header included (after
    /// [`Engine::open`](crate::Engine::open), the file's length; a read-only open leaves the
    /// file as it is, and reports 0 when there is no journal or a stale one).
    pub journal_bytes: u64,
    /// A record cut short at the end of the journal (the process writing it died, or, for
    /// a read-only open beside a live writer, is writing it), dropped (`open` cuts it off
    /// the file; a read-only open leaves it).
    pub torn_tail: Option<TornTail>,
    /// The generation of a journal that followed an older snapshot (a crash between writing
    /// a snapshot and starting its journal left it, or, for a read-only open, a writer's
    /// checkpoint is between the two): its records are in the snapshot; it was not
    /// replayed (`open` replaces it with a fresh journal; a read-only open leaves it).
    pub stale_journal: Option<u64>,
}

/// A record cut short at the end of a journal, dropped when it was opened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// Where it starts: the end of the last whole record.
    pub offset: u64,
    /// How many bytes were cut off.
    pub bytes: u64,
}

/// The journal path of the snapshot at `snapshot`: `<snapshot>.journal`.
pub(crate) fn journal_path(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// An open journal that records are appended to.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// The snapshot it follows, and that snapshot's generation.
    snapshot: PathBuf,
    generation: u64,
    policy: SyncPolicy,
    /// Records written since the last sync, and when that was.
    unsynced: u32,
    synced_at: Instant,
    /// The error that broke the journal: every later write is refused with it until a
    /// checkpoint starts a new journal.
    broken: Option<Error>,
    /// The record being built, after [`LONG_FRAME`] bytes of room for its frame (kept to
    /// reuse its allocation).
    pub(crate) buf: Vec<u8>,
    /// Payloads of this many bytes or more take the long frame: [`LONG`], lowered by tests
    /// to write long frames without 4 GiB payloads.
    long_from: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .field("policy", &self.policy)
            .field("broken", &self.broken.is_some())
            .finish()
    }
}

fn header(generation: u64) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&h[..20]);
    h[20..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The frame of a payload (its length, its checksum, and the checksum of those two) and
/// its size: [`FRAME`] bytes, or [`LONG_FRAME`] when `long` (the length field holds
/// `u32::MAX` and the length follows as a `u64`).
fn frame(payload: &[u8], long: bool) -> ([u8; LONG_FRAME as usize], usize) {
    let mut f = [0u8; LONG_FRAME as usize];
    f[4..8].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let len = payload.len() as u64;
    let checked = if long {
        f[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        f[8..16].copy_from_slice(&len.to_le_bytes());
        16
    } else {
        debug_assert!(len < LONG);
        f[..4].copy_from_slice(&(len as u32).to_le_bytes());
        8
    };
    let crc = crc32c::crc32c(&f[..checked]);
    f[checked..checked + 4].copy_from_slice(&crc.to_le_bytes());
    (f, checked + 4)
}

/// How long a lock held elsewhere is waited for before [`Error::JournalInUse`]: a child
/// process this one spawns holds a copy of every open file (and so of the lock) from its
/// fork to its `exec`, a few milliseconds at most; an engine that holds the journal holds it
/// far longer.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(200);

/// Locks `file` for this process, so two engines never append to one journal.
fn lock(file: &File, path: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(fs::TryLockError::WouldBlock) => return Err(Error::JournalInUse { path: path.to_path_buf() }),
            Err(fs::TryLockError::Error(e)) => return Err(io(path, "lock", e)),
        }
    }
}

impl Journal {
    /// Starts an empty journal for the snapshot at `snapshot` of `generation`, replacing
    /// any journal there atomically (a temporary file renamed over it, then the directory
    /// synced), and opens it for appending.
    pub(crate) fn create(snapshot: &Path, generation: u64, policy: SyncPolicy) -> Result<Journal> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = journal_path(snapshot);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp =
            path.with_file_name(format!(".{name}.tmp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let made = (|| {
            let mut f =
                OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io(&tmp, "create", e))?;
            f.write_all(&header(generation)).map_err(|e| io(&tmp, "write", e))?;
            f.sync_all().map_err(|e| io(&tmp, "sync", e))?;
            fs::rename(&tmp, &path).map_err(|e| io(&path, "rename onto", e))?;
            sync_dir(&path)
        })();
        if made.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        made?;
        Journal::attach(snapshot, generation, policy, HEADER)
    }

    /// Opens the journal of `snapshot` (of `generation`) for appending.
    fn attach(snapshot: &Path, generation: u64, policy: SyncPolicy, len: u64) -> Result<Journal> {
        let path = journal_path(snapshot);
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| io(&path, "open", e))?;
        lock(&file, &path)?;
        Journal::resume(file, path, snapshot, generation, policy, len)
    }

    /// Appends to `file` (locked) after its first `len` bytes: what was read back whole; a
    /// torn tail beyond is cut off, and the cut synced.
    fn resume(
        mut file: File,
        path: PathBuf,
        snapshot: &Path,
        generation: u64,
        policy: SyncPolicy,
        len: u64,
    ) -> Result<Journal> {
        let size = file.metadata().map_err(|e| io(&path, "read", e))?.len();
        if size != len {
            file.set_len(len).map_err(|e| io(&path, "truncate", e))?;
            file.sync_all().map_err(|e| io(&path, "sync", e))?;
        }
        file.seek(SeekFrom::Start(len)).map_err(|e| io(&path, "seek", e))?;
        Ok(Journal {
            file,
            path,
            snapshot: snapshot.to_path_buf(),
            generation,
            policy,
            unsynced: 0,
            synced_at: Instant::now(),
            broken: None,
            buf: Vec::new(),
            long_from: LONG,
        })
    }

    pub(crate) fn snapshot(&self) -> &Path {
        &self.snapshot
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn policy(&self) -> SyncPolicy {
        self.policy
    }

    pub(crate) fn set_policy(&mut self, policy: SyncPolicy) {
        self.policy = policy;
    }

    /// The error that broke the journal, if one did.
    pub(crate) fn check(&self) -> Result<()> {
        self.broken.clone().map_or(Ok(()), Err)
    }

    /// Marks the journal broken by `e` (a failed write elsewhere); returns `e`.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        self.broken.get_or_insert(e).clone()
    }

    /// Appends the record whose payload is `self.buf[LONG_FRAME..]` (the caller encoded it
    /// there after [`Journal::start`]) and syncs as the policy says. On an error the journal
    /// is broken: the file may end in part of this record, so nothing more is appended.
    pub(crate) fn append(&mut self) -> Result<()> {
        self.check()?;
        let room = LONG_FRAME as usize;
        let payload = &self.buf[room..];
        let (f, n) = frame(payload, payload.len() as u64 >= self.long_from);
        self.buf[room - n..room].copy_from_slice(&f[..n]);
        if let Err(e) = self.file.write_all(&self.buf[room - n..]) {
            return Err(self.fail(io(&self.path, "append to", e)));
        }
        self.unsynced += 1;
        let due = match self.policy {
            SyncPolicy::EveryWrite => true,
            SyncPolicy::EveryN(n) => self.unsynced >= n,
            SyncPolicy::EveryMillis(ms) => self.synced_at.elapsed() >= Duration::from_millis(ms),
            SyncPolicy::Manual => false,
        };
        if due { self.sync() } else { Ok(()) }
    }

    /// Clears the record buffer for the next payload (after room for its frame).
    pub(crate) fn start(&mut self) -> &mut Vec<u8> {
        self.buf.clear();
        self.buf.resize(LONG_FRAME as usize, 0);
        &mut self.buf
    }

    /// Swaps the file for a read-only handle of it, so the next write fails as a full disk
    /// or a lost device would (tests).
    #[cfg(test)]
    pub(crate) fn fail_writes(&mut self) {
        self.file = File::open(&self.path).expect("the journal, read-only");
    }

    /// Writes payloads of `from` bytes or more in long frames (tests: a long frame without a
    /// 4 GiB payload).
    #[cfg(test)]
    pub(crate) fn set_long_from(&mut self, from: u64) {
        self.long_from = from;
    }

    /// Puts every record written so far on disk.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.check()?;
        if self.unsynced > 0 {
            if let Err(e) = self.file.sync_data() {
                return Err(self.fail(io(&self.path, "sync", e)));
            }
            self.unsynced = 0;
        }
        self.synced_at = Instant::now();
        Ok(())
    }
}

impl Journal {
    /// Forgets the unsynced records of a journal a checkpoint replaced (its records are in
    /// the new snapshot), so dropping it costs no sync.
    pub(crate) fn retire(mut self) {
        self.unsynced = 0;
    }
}

impl Drop for Journal {
    /// Syncs what the policy left unsynced (best effort: a drop cannot report).
    fn drop(&mut self) {
        if self.unsynced > 0 && self.broken.is_none() {
            let _ = self.file.sync_data();
        }
    }
}

/// The journal beside `snapshot`, locked, with the generation its header gives (`None` for
/// a header that does not check), or `None` when there is none: what saving over the
/// snapshot must see first. The lock is held while the returned file lives.
pub(crate) fn claim(snapshot: &Path) -> Result<Option<(File, Option<u64>)>> {
    let path = journal_path(snapshot);
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path, "open", e)),
    };
    lock(&file, &path)?;
    let mut h = [0u8; HEADER as usize];
    let generation = match file.read_exact(&mut h) {
        Ok(()) if h[..8] == MAGIC && crc32c::crc32c(&h[..20]).to_le_bytes() == h[20..] => {
            Some(u64::from_le_bytes(h[12..20].try_into().expect("8 bytes")))
        }
        _ => None,
    };
    Ok(Some((file, generation)))
}

/// Removes the journal beside `snapshot` (after a save replaced the snapshot it followed).
pub(crate) fn remove(snapshot: &Path) -> Result<()> {
    let path = journal_path(snapshot);
    fs::remove_file(&path).map_err(|e| io(&path, "remove", e))?;
    sync_dir(&path)
}

/// What reading a journal found.
pub(crate) enum Found {
    /// No journal beside the snapshot.
    Missing,
    /// A journal of an older generation than the snapshot's: stale.
    Stale(u64),
    /// A journal of a newer generation than the snapshot's (its generation): an older
    /// snapshot put back, or, for a reader that does not lock, a checkpoint that replaced the
    /// snapshot after it was read.
    Newer(u64),
    /// A journal of the snapshot's generation, to be read record by record.
    Current(Records),
}

/// How a journal is opened: to append to it once read (opened for writing and locked: one
/// engine per journal), or to read it only (opened read-only, not locked, never changed: a
/// torn tail stays where it is).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Append,
    ReadOnly,
}

/// The error for a journal of generation `found` beside a snapshot of `generation`.
pub(crate) fn newer(snapshot: &Path, found: u64, generation: u64) -> Error {
    corrupt(
        &journal_path(snapshot),
        12,
        format!(
            "the journal follows snapshot generation {found}, but {} is generation {generation} \
             (an older snapshot put back?); it was neither replayed nor removed: move it away to open the snapshot alone",
            snapshot.display()
        ),
    )
}

/// Opens the journal beside `snapshot` and checks its header against the snapshot's
/// `generation`. A journal of a newer generation than the snapshot is [`Found::Newer`]:
/// replaying it would apply changes to the wrong state, and dropping it would lose them.
pub(crate) fn read(snapshot: &Path, generation: u64, access: Access) -> Result<Found> {
    let path = journal_path(snapshot);
    let not_a_file = || io(&path, "read", std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    // Checked before opening too: opening a FIFO for reading would wait for a writer.
    match fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => return Err(not_a_file()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(io(&path, "read", e)),
    }
    let file = match OpenOptions::new().read(true).write(access == Access::Append).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(io(&path, "open", e)),
    };
    let meta = file.metadata().map_err(|e| io(&path, "read", e))?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if access == Access::Append {
        lock(&file, &path)?;
    }
    let size = meta.len();
    if size < HEADER {
        return Err(corrupt(&path, 0, format!("{size} bytes: too short for a journal's 24-byte header")));
    }
    let mut input = BufReader::with_capacity(1 << 16, file);
    let mut h = [0u8; HEADER as usize];
    input.read_exact(&mut h).map_err(|e| io(&path, "read", e))?;
    if h[..8] != MAGIC {
        return Err(corrupt(&path, 0, "not an audience journal (its first 8 bytes are not AUDJRNL\\0)"));
    }
    if crc32c::crc32c(&h[..20]).to_le_bytes() != h[20..] {
        return Err(corrupt(&path, 8, "the journal header's checksum does not match"));
    }
    let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
    if !(1..=VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion { path, found: version, supported: VERSION });
    }
    let found = u64::from_le_bytes(h[12..20].try_into().expect("8 bytes"));
    if found > generation {
        return Ok(Found::Newer(found));
    }
    if found < generation {
        return Ok(Found::Stale(found));
    }
    Ok(Found::Current(Records {
        input,
        path,
        snapshot: snapshot.to_path_buf(),
        generation,
        at: HEADER,
        size,
        payload: Vec::new(),
    }))
}

/// A journal's records, read one by one, each checked before it is handed out.
pub(crate) struct Records {
    input: BufReader<File>,
    path: PathBuf,
    snapshot: PathBuf,
    generation: u64,
    /// The offset of the next record.
    at: u64,
    size: u64,
    payload: Vec<u8>,
}

/// The next thing in a journal.
pub(crate) enum Next<'a> {
    /// A whole record: its offset in the file, its payload's offset, and its payload.
    Record(u64, u64, &'a [u8]),
    /// The end of the file, after the last whole record.
    End,
    /// A torn tail from here to the end of the file.
    Torn(TornTail),
}

impl Records {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The end of the last whole record read.
    pub(crate) fn end(&self) -> u64 {
        self.at
    }

    /// The journal, open for appending after the last whole record read (a torn tail
    /// beyond it is cut off).
    pub(crate) fn into_journal(self, policy: SyncPolicy) -> Result<Journal> {
        let Records { input, path, snapshot, generation, at, .. } = self;
        Journal::resume(input.into_inner(), path, &snapshot, generation, policy, at)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        self.input.read_exact(buf).map_err(|e| io(&self.path, "read", e))
    }

    /// Whether every byte from `from` to the size read at the start is zero (space never
    /// written).
    fn zeros_from(&mut self, from: u64) -> Result<bool> {
        self.input.seek(SeekFrom::Start(from)).map_err(|e| io(&self.path, "read", e))?;
        let mut chunk = [0u8; 8192];
        let mut left = self.size.saturating_sub(from);
        while left > 0 {
            let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = self.input.read(&mut chunk[..want]).map_err(|e| io(&self.path, "read", e))?;
            if n == 0 {
                break;
            }
            if chunk[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            left -= n as u64;
        }
        Ok(true)
    }

    /// The next record, the end, or a torn tail; damage before the last record is an
    /// [`Error::Corrupt`] at the record's offset.
    pub(crate) fn next(&mut self) -> Result<Next<'_>> {
        let (at, left) = (self.at, self.size - self.at);
        let torn = Next::Torn(TornTail { offset: at, bytes: left });
        if left == 0 {
            return Ok(Next::End);
        }
        if left < FRAME {
            return Ok(torn);
        }
        let mut f = [0u8; LONG_FRAME as usize];
        self.read(&mut f[..FRAME as usize])?;
        let long = f[..4] == u32::MAX.to_le_bytes();
        let head = if long { LONG_FRAME } else { FRAME };
        if left < head {
            return Ok(torn); // a long frame cut short
        }
        if long {
            self.read(&mut f[FRAME as usize..])?;
        }
        let checked = head as usize - 4;
        if crc32c::crc32c(&f[..checked]).to_le_bytes() != f[checked..head as usize] {
            if self.zeros_from(at)? {
                return Ok(torn);
            }
            return Err(corrupt(&self.path, at, "a journal record's frame checksum does not match"));
        }
        let len = if long {
            u64::from_le_bytes(f[8..16].try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_le_bytes(f[..4].try_into().expect("4 bytes")))
        };
        if len > left - head {
            return Ok(torn); // the payload was cut short
        }
        // Within the file's size (checked above), but perhaps more than this process holds.
        let size = usize::try_from(len).ok().filter(|&n| n <= isize::MAX as usize);
        self.payload.clear();
        if size.is_none_or(|n| self.payload.try_reserve_exact(n).is_err()) {
            let e = std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("the journal record at offset {at} holds {len} bytes: more than this process can allocate"),
            );
            return Err(io(&self.path, "read", e));
        }
        self.payload.resize(size.unwrap_or_default(), 0);
        let mut payload = std::mem::take(&mut self.payload);
        let read = self.read(&mut payload);
        self.payload = payload;
        read?;
        if crc32c::crc32c(&self.payload).to_le_bytes() != f[4..8] {
            if len == left - head {
                return Ok(torn); // the last record, partly on disk
            }
            return Err(corrupt(&self.path, at, "a journal record's checksum does not match"));
        }
        self.at += head + len;
        Ok(Next::Record(at, at + head, &self.payload))
    }
}

#[cfg(test)]
mod tests;
