//! A snapshot file: a header, then checksummed sections, then an end section; written to a
//! temporary file beside the target and renamed over it, so a crash leaves the old snapshot
//! or the new one, never a mix.
//!
//! ```text
//! header:  b"AUDSNAP\0" | version: u32 | crc32c(the 12 bytes before): u32
//! section: kind: [u8; 4] | len: u64 | payload: len bytes | crc32c(kind ++ len ++ payload): u32
//! end:     a section of kind b"END\0" whose payload is the number of sections before it
//!          (u64) and the file's length (u64); nothing follows it
//! ```
//!
//! All integers little-endian. Sections come in a fixed order (`docs/format.md`); a kind may
//! repeat (big data is cut into chunks of about [`CHUNK`] bytes, so neither writing nor
//! reading holds more than a few chunks beside the engine). Reading is `read.rs`.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::Enc;
use super::direct::Output;
use crate::error::{Error, Result};

/// The first 8 bytes of every snapshot.
pub(crate) const MAGIC: [u8; 8] = *b"AUDSNAP\0";
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Header bytes: magic, version, checksum.
pub(crate) const HEADER: u64 = 16;
/// Bytes around a payload: kind, length, checksum.
pub(crate) const FRAME: u64 = 16;
/// The kind of the last section.
pub(crate) const END: [u8; 4] = *b"END\0";
/// Big data is cut into sections of about this many bytes.
pub(crate) const CHUNK: usize = 16 << 20;

/// An [`Error::Io`] for `action` on `path`.
pub(crate) fn io(path: &Path, action: &'static str, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), action, kind: e.kind(), message: e.to_string() }
}

pub(crate) fn kind_name(kind: [u8; 4]) -> String {
    kind.iter().map(|&b| if b.is_ascii_graphic() { char::from(b) } else { '.' }).collect()
}

/// Writes a snapshot to a temporary file beside `path`; [`Writer::finish`] puts it in place.
pub(crate) struct Writer {
    /// `None` once finished.
    out: Option<Output>,
    tmp: PathBuf,
    path: PathBuf,
    written: u64,
    sections: u64,
}

impl Writer {
    pub(crate) fn create(path: &Path) -> Result<Writer> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().ok_or_else(|| {
            io(path, "create", std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"))
        })?;
        let tmp = path.with_file_name(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io(&tmp, "create", e))?;
        let mut w = Writer { out: Some(Output::new(file)), tmp, path: path.to_path_buf(), written: 0, sections: 0 };
        let mut header = Vec::with_capacity(HEADER as usize);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&crc32c::crc32c(&header).to_le_bytes());
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self.out.as_mut().expect("not finished");
        out.write(&self.tmp, bytes).map_err(|e| io(&self.tmp, "write", e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// One section of `kind` holding `payload`.
    pub(crate) fn section(&mut self, kind: [u8; 4], payload: &[u8]) -> Result<()> {
        let len = (payload.len() as u64).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&kind), &len), payload);
        self.write(&kind)?;
        self.write(&len)?;
        self.write(payload)?;
        self.write(&crc.to_le_bytes())?;
        self.sections += 1;
        Ok(())
    }

    /// `items` in sections of `kind` of about [`CHUNK`] bytes each: every payload is its
    /// item count (`u64`), then the items as `put` writes them. At least one section, even
    /// for no items.
    pub(crate) fn chunked<T>(
        &mut self,
        kind: [u8; 4],
        items: impl IntoIterator<Item = T>,
        mut put: impl FnMut(&mut Enc, T),
    ) -> Result<()> {
        let mut e = Enc::default();
        let mut n = 0u64;
        e.u64(0);
        let mut any = false;
        for item in items {
            put(&mut e, item);
            n += 1;
            if e.buf.len() >= CHUNK {
                e.buf[..8].copy_from_slice(&n.to_le_bytes());
                self.section(kind, &e.buf)?;
                any = true;
                e.buf.clear();
                e.u64(0);
                n = 0;
            }
        }
        if n > 0 || !any {
            e.buf[..8].copy_from_slice(&n.to_le_bytes());
            self.section(kind, &e.buf)?;
        }
        Ok(())
    }

    /// Ends the file, syncs it, renames it over the target and syncs the directory. Bytes
    /// written.
    pub(crate) fn finish(mut self) -> Result<u64> {
        let mut end = Enc::default();
        end.u64(self.sections);
        end.u64(self.written + FRAME + 16); // this section's frame and payload included
        self.section(END, &end.buf)?;
        let result = (|| {
            let out = self.out.take().expect("not finished");
            let file = out.finish().map_err(|e| io(&self.tmp, "write", e))?;
            file.sync_all().map_err(|e| io(&self.tmp, "sync", e))?;
            drop(file);
            fs::rename(&self.tmp, &self.path).map_err(|e| io(&self.path, "rename onto", e))?;
            sync_dir(&self.path)
        })();
        result.map(|()| self.written) // on an error, Drop removes the temporary file
    }
}

impl Drop for Writer {
    /// A writer dropped before [`Writer::finish`] put its file in place (an error while
    /// encoding or writing) removes its temporary file.
    fn drop(&mut self) {
        if self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Syncs the directory holding `path`, so the rename that put it there is durable.
pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, "sync", e))?;
    }
    #[cfg(not(unix))]
    let _ = path; // directories cannot be opened for syncing here; the rename is what we have
    Ok(())
}
