//! Snapshots: [`Engine::save`], [`Engine::open`], [`Engine::open_or_create`]. Each layer
//! writes and reads its own sections, in this order: the directory, the tags, the
//! attributes, the purchase history, the models, the saved segments; then the engine checks
//! what ties them together before handing the engine out. The file itself (header,
//! checksummed sections, atomic replacement) is `persist/file.rs`; the format is described in
//! `docs/format.md`.

use std::path::Path;

use super::Engine;
use crate::attrs::Attrs;
use crate::customers::Directory;
use crate::error::Result;
use crate::history::History;
use crate::persist::{Reader, Writer};
use crate::refresh::Models;
use crate::segment::{Inputs, Segments};
use crate::tags::Tags;

impl Engine {
    /// Writes everything the engine holds to one snapshot file at `path`, replacing it
    /// atomically: the snapshot goes to a temporary file in the same directory, is synced,
    /// renamed over `path`, and the directory is synced, so a crash at any point leaves the
    /// old snapshot or the new one, never a mix. Returns the bytes written.
    ///
    /// [`Engine::open`] gives back an engine indistinguishable from this one through the
    /// public API: keys and ids (removed ids stay retired), the tag pool and its bitmaps,
    /// aliases, expiring tags, attributes, purchases (merged or not), the models and what
    /// the next (incremental) refresh needs, segment plans and rule tags, and the change
    /// feed (on or off, its sequence, undrained events). Caches (query views, the customer
    /// index, the census) are not saved; they are rebuilt by reads.
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) when the directory cannot be written.
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
        let mut w = Writer::create(path.as_ref())?;
        self.customers.write_snapshot(&mut w)?;
        self.tags.write_snapshot(&mut w)?;
        self.attrs.write_snapshot(&mut w)?;
        self.history.write_snapshot(&mut w)?;
        self.models.write_snapshot(&mut w)?;
        self.segments.write_snapshot(&mut w)?;
        w.finish()
    }

    /// Reads the snapshot at `path` that [`Engine::save`] wrote.
    ///
    /// Every section is checked against its checksum before it is used, and every length
    /// against what backs it, so a damaged or foreign file is an error and never a panic, an
    /// oversized allocation or a half-loaded engine.
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) when the file is missing (kind
    /// `NotFound`) or cannot be read, or is a directory;
    /// [`Error::Corrupt`](crate::Error::Corrupt) (the path, the byte offset, what does not
    /// check) for an empty file, a file that is not a snapshot, a truncated or damaged one;
    /// [`Error::UnsupportedVersion`](crate::Error::UnsupportedVersion) for another format
    /// version.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        let mut r = Reader::open(path.as_ref())?;
        let customers = Directory::read_snapshot(&mut r)?;
        let tags = Tags::read_snapshot(&mut r, &customers)?;
        let attrs = Attrs::read_snapshot(&mut r, &customers)?;
        let history = History::read_snapshot(&mut r, &customers)?;
        let models = Models::read_snapshot(&mut r, &tags)?;
        let segments = Segments::read_snapshot(&mut r, &tags, Inputs { live: customers.live(), attrs: &attrs })?;
        r.finish()?;
        Ok(Engine { customers, tags, attrs, history, models, segments })
    }

    /// [`Engine::open`] the snapshot at `path`, or a new, empty engine when there is no file
    /// there (nothing is written until [`Engine::save`]). Any other error is returned as
    /// `open` returns it.
    pub fn open_or_create(path: impl AsRef<Path>) -> Result<Engine> {
        match Engine::open(path) {
            Err(crate::Error::Io { kind: std::io::ErrorKind::NotFound, .. }) => Ok(Engine::new()),
            other => other,
        }
    }
}
