//! Durability: snapshots ([`Engine::save`], [`Engine::open`], [`Engine::open_or_create`])
//! and the journal of the changes since ([`Engine::checkpoint`], [`Engine::flush`],
//! [`Engine::set_sync_policy`], [`Engine::open_with_report`]), and the read-only open of a
//! store another engine writes ([`Engine::open_read_only`]).
//!
//! A snapshot holds a `META` section (its generation), then each layer's sections, in this
//! order: the directory, the tags, the attributes, the purchase history, the models, the
//! saved segments; then the engine checks what ties them together before handing the engine
//! out. The file itself (header, checksummed sections, atomic replacement) is
//! `persist/file.rs`; the journal's file `persist/journal/`, its records `journal.rs`; the
//! formats are described in `docs/format.md`.

use std::path::Path;

use super::Engine;
use super::journal::{Attached, Op};
use super::reader::Reader as View;
use crate::attrs::Attrs;
use crate::customers::Directory;
use crate::error::{Error, Result};
use crate::history::History;
use crate::persist::journal::{self, Access, Found, Journal, Next, OpenReport, Records, SyncPolicy};
use crate::persist::{Dec, Enc, Reader, Writer};
use crate::refresh::Models;
use crate::segment::{Inputs, Segments};
use crate::tags::Tags;

/// The first section of a snapshot: its generation.
const META: [u8; 4] = *b"META";

/// What tells one file at `path` from the next: its length, its modification time and (on
/// Unix) its inode. `None` when it cannot be read.
fn identity(path: &Path) -> Option<(u64, Option<std::time::SystemTime>, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok(), inode))
}

impl Engine {
    /// Writes everything the engine holds to one snapshot file at `path`, replacing it
    /// atomically: the snapshot goes to a temporary file in the same directory, is synced,
    /// renamed over `path`, and the directory is synced, so a crash at any point leaves the
    /// old snapshot or the new one, never a mix. Returns the bytes written.
    ///
    /// On Linux a snapshot of 8 MiB or more is written around the page cache (`O_DIRECT`,
    /// by a thread of its own while the rest is encoded), so a big save neither copies
    /// every byte into the cache first nor pushes the application's data out of it; file
    /// systems that refuse direct writes (tmpfs) get it through the cache.
    ///
    /// [`Engine::open`] gives back an engine indistinguishable from this one through the
    /// public API: keys and ids (removed ids stay retired), the tag pool and its bitmaps,
    /// aliases, expiring tags, attributes, purchases (merged or not), the models and what
    /// the next (incremental) refresh needs, segment plans and rule tags, and the change
    /// feed (on or off, its sequence, undrained events). Caches (query views, the customer
    /// index, the census) are not saved; they are rebuilt by reads.
    ///
    /// `save` writes a snapshot and nothing else: the engine's own journal, if it has one,
    /// goes on as before (see [`Engine::checkpoint`] to start a new one). A journal left
    /// beside `path` by an engine that had `path` open followed the snapshot this one
    /// replaces: the new snapshot gets the next generation, so the old journal is never
    /// replayed on it, and `save` removes it.
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) when the directory cannot be written;
    /// [`Error::JournalInUse`](crate::Error::JournalInUse) when an engine (this one, or
    /// another) has `path` open with its journal: saving over its snapshot would leave that
    /// journal following nothing. Checkpoint that engine instead.
    ///
    /// ```
    /// use audience::Engine;
    /// let dir = std::env::temp_dir().join(format!("audience-doc-save-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("crm.snap");
    ///
    /// let mut engine = Engine::new();
    /// let ann = engine.customer("ann@example.com")?;
    /// engine.tag(ann, "vip")?;
    /// engine.save(&path)?;
    ///
    /// let reopened = Engine::open(&path)?;
    /// assert_eq!(reopened.count("vip")?, 1);
    /// assert_eq!(reopened.id_of("ann@example.com"), Some(ann));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let Some((_lock, generation)) = journal::claim(path)? else {
            return self.write_snapshot(path, 0);
        };
        let written = self.write_snapshot(path, generation.map_or(0, |g| g.saturating_add(1)))?;
        journal::remove(path)?;
        Ok(written)
    }

    /// The snapshot of generation `generation` at `path`.
    fn write_snapshot(&self, path: &Path, generation: u64) -> Result<u64> {
        let mut w = Writer::create(path)?;
        let mut meta = Enc::default();
        meta.u64(generation);
        w.section(META, &meta.buf)?;
        self.customers.write_snapshot(&mut w)?;
        self.tags.write_snapshot(&mut w)?;
        self.attrs.write_snapshot(&mut w)?;
        self.history.write_snapshot(&mut w)?;
        self.models.write_snapshot(&mut w)?;
        self.segments.write_snapshot(&mut w)?;
        w.finish()
    }

    /// The snapshot at `path`, and its generation.
    fn read_snapshot(path: &Path) -> Result<(Engine, u64)> {
        let mut r = Reader::open(path)?;
        let meta = r.section(META)?;
        let mut d = meta.dec(path);
        let generation = d.u64("generation")?;
        d.finish("META")?;
        let customers = Directory::read_snapshot(&mut r)?;
        let tags = Tags::read_snapshot(&mut r, &customers)?;
        let attrs = Attrs::read_snapshot(&mut r, &customers)?;
        let history = History::read_snapshot(&mut r, &customers)?;
        let models = Models::read_snapshot(&mut r, &tags)?;
        let segments = Segments::read_snapshot(
            &mut r,
            &tags,
            Inputs { live: customers.live(), attrs: &attrs, threads: Default::default() },
        )?;
        r.finish()?;
        let journal = Attached::default();
        Ok((
            Engine { customers, tags, attrs, history, models, segments, journal, threads: Default::default() },
            generation,
        ))
    }

    /// Opens the snapshot at `path` that [`Engine::save`] or [`Engine::checkpoint`] wrote,
    /// replays its journal (`<path>.journal`: the changes made since, see
    /// [`Engine::checkpoint`]), and keeps the journal open: from then on every successful
    /// mutating call is recorded in it before it returns, under the
    /// [`SyncPolicy`](crate::SyncPolicy) (default: sync every write).
    ///
    /// Every section and record is checked against its checksum before it is used, and
    /// every length against what backs it, so a damaged or foreign file is an error and
    /// never a panic, an oversized allocation or a half-loaded engine. The journal is
    /// forgiving at its end only: a record cut short there (the process writing it died) is
    /// dropped and cut off the file, and [`Engine::open_with_report`] says so. A journal
    /// that followed an older snapshot (a crash in the middle of a checkpoint) is not
    /// replayed: a fresh one replaces it. A missing journal is started.
    ///
    /// One engine per snapshot: the journal is locked while the engine lives. A
    /// [`Clone`] of the engine has no journal.
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) when the file is missing (kind
    /// `NotFound`) or cannot be read, or is a directory, or the journal cannot be written;
    /// [`Error::Corrupt`](crate::Error::Corrupt) (the path, the byte offset, what does not
    /// check) for an empty file, a file that is not a snapshot, a truncated or damaged one,
    /// a damaged journal record before its last, or a journal that follows a newer snapshot
    /// than this one (an older snapshot put back: the journal is left as it is);
    /// [`Error::UnsupportedVersion`](crate::Error::UnsupportedVersion) for another format
    /// version; [`Error::JournalInUse`](crate::Error::JournalInUse) when another engine has
    /// the snapshot open.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        Engine::open_with_report(path).map(|(engine, _)| engine)
    }

    /// [`Engine::open`], and what it found beside the snapshot: how many journal records
    /// it replayed, a torn tail it dropped, a stale journal it ignored ([`OpenReport`]).
    ///
    /// ```
    /// use audience::Engine;
    /// let dir = std::env::temp_dir().join(format!("audience-doc-report-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("crm.snap");
    ///
    /// let mut engine = Engine::open_or_create(&path)?;
    /// let ann = engine.customer("ann@example.com")?;
    /// engine.tag(ann, "vip")?;
    /// drop(engine); // no checkpoint: the two calls are in the journal
    ///
    /// let (engine, report) = Engine::open_with_report(&path)?;
    /// assert_eq!(report.replayed, 2);
    /// assert_eq!(report.torn_tail, None);
    /// assert_eq!(engine.count("vip")?, 1);
    /// # drop(engine);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::open`].
    pub fn open_with_report(path: impl AsRef<Path>) -> Result<(Engine, OpenReport)> {
        let path = path.as_ref();
        let (mut engine, generation) = Engine::read_snapshot(path)?;
        let mut report = OpenReport { generation, ..OpenReport::default() };
        let policy = SyncPolicy::default();
        let journal = match journal::read(path, generation, Access::Append)? {
            Found::Missing => Journal::create(path, generation, policy)?,
            Found::Stale(old) => {
                report.stale_journal = Some(old);
                Journal::create(path, generation, policy)?
            }
            Found::Newer(found) => return Err(journal::newer(path, found, generation)),
            Found::Current(mut records) => {
                engine.replay_all(&mut records, &mut report)?;
                records.into_journal(policy)?
            }
        };
        if report.journal_bytes == 0 {
            report.journal_bytes = journal::HEADER;
        }
        engine.journal = Attached(Some(journal));
        Ok((engine, report))
    }

    /// Replays the records of a journal of the engine's generation, up to its end or its
    /// torn tail, into `report`.
    fn replay_all(&mut self, records: &mut Records, report: &mut OpenReport) -> Result<()> {
        let jpath = records.path().to_path_buf();
        loop {
            match records.next()? {
                Next::Record(at, payload_at, payload) => {
                    let mut d = Dec::new(payload, payload_at, &jpath);
                    let op = Op::decode(&mut d)?;
                    d.finish("journal record")?;
                    self.replay(op, &jpath, at)?;
                    report.replayed += 1;
                }
                Next::End => break,
                Next::Torn(t) => {
                    report.torn_tail = Some(t);
                    break;
                }
            }
        }
        report.journal_bytes = records.end();
        Ok(())
    }

    /// The snapshot at `path` with its journal replayed, read without writing, creating or
    /// locking anything: a [`Reader`](crate::Reader) (an immutable view; nothing to append to), for a
    /// process that only queries, audits or copies a store another process writes, or one on
    /// read-only media.
    ///
    /// It sees the snapshot and every journal record whole when it was read, including those
    /// a live writer (in this process or another) has written but not yet synced. Unlike
    /// [`Engine::open`], it leaves the files as they are: a torn tail is skipped (reported,
    /// not cut off), a stale journal ignored (reported, not replaced; beside a live writer,
    /// that is also a checkpoint between its new snapshot and its new journal), a missing
    /// one not started. A writer's checkpoint that replaces the snapshot while it reads shows
    /// as a journal newer than the snapshot read: it then reads the new snapshot (as long as
    /// the file keeps changing, 20 times at most); a writer that cuts its journal's torn tail
    /// while it reads (opening the store) is read again (twice at most).
    ///
    /// ```
    /// use audience::Engine;
    /// let dir = std::env::temp_dir().join(format!("audience-doc-read-only-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("crm.snap");
    ///
    /// let mut writer = Engine::open_or_create(&path)?;
    /// let ann = writer.customer("ann@example.com")?;
    /// writer.tag(ann, "vip")?; // in the journal, not in the snapshot
    ///
    /// // While the writer holds the journal: Engine::open would be refused (JournalInUse).
    /// let (view, report) = Engine::open_read_only_with_report(&path)?;
    /// assert_eq!(report.replayed, 2);
    /// assert_eq!(view.count("vip")?, 1);
    /// writer.untag(ann, "vip")?; // the view stays as it was read
    /// assert_eq!(view.count("vip")?, 1);
    /// # drop(writer);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::open`], except [`Error::JournalInUse`](crate::Error::JournalInUse)
    /// (it takes no lock) and writing errors (it writes nothing). A journal newer than the
    /// snapshot is the same [`Error::Corrupt`](crate::Error::Corrupt) (offset 12) when the
    /// snapshot did not change while it was read (an older snapshot put back).
    pub fn open_read_only_with_report(path: impl AsRef<Path>) -> Result<(View, OpenReport)> {
        let path = path.as_ref();
        let mut snapshots = 0;
        loop {
            let before = identity(path);
            let (base, generation) = Engine::read_snapshot(path)?;
            #[cfg(test)]
            tests::between_snapshot_and_journal();
            let mut tries = 0;
            let read = loop {
                // Replayed onto a copy (cheap: the parts are shared), so a try can start over.
                let mut engine = base.clone();
                let mut report = OpenReport { generation, ..OpenReport::default() };
                let replayed = match journal::read(path, generation, Access::ReadOnly) {
                    Ok(Found::Missing) => Ok(()),
                    Ok(Found::Stale(old)) => {
                        report.stale_journal = Some(old);
                        Ok(())
                    }
                    Ok(Found::Newer(found)) => break Err(journal::newer(path, found, generation)),
                    Ok(Found::Current(mut records)) => engine.replay_all(&mut records, &mut report),
                    Err(e) => Err(e),
                };
                match replayed {
                    Ok(()) => break Ok((engine, report)),
                    // A writer opening the store cuts its journal's torn tail, under this
                    // reader's feet: read the journal again.
                    Err(_) if tries < 2 => tries += 1,
                    Err(e) => break Err(e),
                }
            };
            match read {
                Ok((engine, report)) => return Ok((View::of(engine), report)),
                // The snapshot was replaced since it was read (a writer's checkpoint, whose
                // new journal this read found): read the new one.
                Err(_) if snapshots < 20 && identity(path) != before => snapshots += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// [`Engine::open_read_only_with_report`] without the report.
    ///
    /// Errors: as [`Engine::open_read_only_with_report`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<View> {
        Engine::open_read_only_with_report(path).map(|(view, _)| view)
    }

    /// [`Engine::open`] the snapshot at `path`, or, when there is no file there, write an
    /// empty engine's snapshot and open that (with a new journal). Any other error is
    /// returned as `open` returns it.
    ///
    /// Errors: as [`Engine::open`]; [`Error::Corrupt`](crate::Error::Corrupt) when there is
    /// no snapshot but a journal is there (its snapshot was removed: the journal alone
    /// cannot say what it follows; move it away to start afresh).
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Engine> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let jpath = journal::journal_path(path);
                if jpath.exists() {
                    let what = format!(
                        "a journal without its snapshot ({} is missing); move the journal away to start a new engine",
                        path.display()
                    );
                    return Err(crate::persist::codec::corrupt(&jpath, 0, what));
                }
                Engine::new().write_snapshot(path, 0)?;
            }
            _ => {} // open reports what is wrong
        }
        Engine::open(path)
    }

    /// Writes a new snapshot of the engine over the one it was opened from (the next
    /// generation, atomically, as [`Engine::save`] does) and starts an empty journal for
    /// it: the journal's records are in the snapshot now. Call it when the journal has
    /// grown (replaying it is what [`Engine::open`] costs beyond the snapshot), after a big
    /// [`Engine::refresh`], or to clear a broken journal.
    ///
    /// A crash in the middle leaves the old snapshot with its journal, or the new snapshot
    /// with the old journal, which [`Engine::open`] knows for stale by its generation and
    /// ignores: never a change applied twice.
    ///
    /// ```
    /// use audience::Engine;
    /// let dir = std::env::temp_dir().join(format!("audience-doc-checkpoint-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("crm.snap");
    ///
    /// let mut engine = Engine::open_or_create(&path)?;
    /// let ann = engine.customer("ann@example.com")?;
    /// engine.tag(ann, "vip")?;
    /// engine.checkpoint()?;
    /// drop(engine);
    ///
    /// let (engine, report) = Engine::open_with_report(&path)?;
    /// assert_eq!((report.generation, report.replayed), (1, 0));
    /// assert_eq!(engine.count("vip")?, 1);
    /// # drop(engine);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: [`Error::NoJournal`](crate::Error::NoJournal) for an engine without a
    /// journal (not opened from a snapshot); [`Error::Io`](crate::Error::Io) when the
    /// snapshot or the journal cannot be written. When the snapshot could not be written,
    /// the journal goes on as before; when the snapshot was written but the new journal
    /// could not be, the journal is broken (writes fail) until a checkpoint succeeds.
    pub fn checkpoint(&mut self) -> Result<()> {
        let Some(j) = &mut self.journal.0 else { return Err(Error::NoJournal) };
        let (path, generation, policy) = (j.snapshot().to_path_buf(), j.generation() + 1, j.policy());
        self.write_snapshot(&path, generation)?;
        let j = self.journal.0.as_mut().expect("a journal");
        match Journal::create(&path, generation, policy) {
            Ok(fresh) => {
                if let Some(old) = self.journal.0.replace(fresh) {
                    old.retire();
                }
                Ok(())
            }
            Err(e) => Err(j.fail(e)),
        }
    }

    /// Puts every journal record written so far on disk (`fdatasync`), whatever the
    /// [`SyncPolicy`](crate::SyncPolicy): after `Ok`, every write made before survives a
    /// machine crash. Without a journal, nothing to do.
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) when the sync fails, or a write failed to
    /// reach the journal before (the journal is broken: see [`Engine::set_sync_policy`]).
    pub fn flush(&mut self) -> Result<()> {
        self.journal.0.as_mut().map_or(Ok(()), Journal::sync)
    }

    /// Sets when the journal syncs its records to disk ([`SyncPolicy`], default
    /// [`SyncPolicy::EveryWrite`]); it takes effect at the next write. Without a journal,
    /// nothing to set.
    ///
    /// Whatever the policy, a mutating call's record is written to the journal (handed to
    /// the operating system) before the call returns: a process crash loses no
    /// acknowledged write. The record is written after the call succeeded in memory (the
    /// call is what checks it). If writing or syncing it fails, the call returns the
    /// [`Error::Io`](crate::Error::Io) with its change made in memory but perhaps not in the
    /// journal, and the journal is *broken*: every later mutating call is refused with that
    /// error (changing nothing), until [`Engine::checkpoint`] writes the whole state to a
    /// new snapshot and journal. The few calls that return no `Result`
    /// ([`Engine::expire`], [`Engine::changes`], [`Engine::track_changes`],
    /// [`Engine::set_rfm_model`], [`Engine::set_lifecycle`]) cannot refuse: on a broken
    /// journal they change the engine in memory only.
    ///
    /// ```
    /// use audience::{Engine, SyncPolicy};
    /// let dir = std::env::temp_dir().join(format!("audience-doc-sync-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let mut engine = Engine::open_or_create(dir.join("crm.snap"))?;
    /// engine.set_sync_policy(SyncPolicy::EveryMillis(100)); // a machine crash loses at most ~100 ms
    /// for key in ["a", "b", "c"] {
    ///     engine.customer(key)?;
    /// }
    /// engine.flush()?; // all three on disk
    /// # drop(engine);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn set_sync_policy(&mut self, policy: SyncPolicy) {
        if let Some(j) = &mut self.journal.0 {
            j.set_policy(policy);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    thread_local! {
        /// Run by [`Engine::open_read_only_with_report`](super::Engine::open_read_only_with_report)
        /// between reading the snapshot and the journal: a test's writer acting there.
        pub(crate) static BETWEEN: RefCell<Option<Box<dyn FnMut()>>> = RefCell::new(None);
    }

    pub(super) fn between_snapshot_and_journal() {
        let hook = BETWEEN.with(|h| h.borrow_mut().take());
        if let Some(mut f) = hook {
            f();
            BETWEEN.with(|h| {
                h.borrow_mut().get_or_insert(f);
            });
        }
    }
}
