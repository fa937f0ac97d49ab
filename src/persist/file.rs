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
//! reading holds more than one chunk beside the engine).

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::{Dec, Enc, corrupt};
use super::direct::Output;
use crate::error::{Error, Result};

/// The first 8 bytes of every snapshot.
pub(crate) const MAGIC: [u8; 8] = *b"AUDSNAP\0";
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Header bytes: magic, version, checksum.
const HEADER: u64 = 16;
/// Bytes around a payload: kind, length, checksum.
const FRAME: u64 = 16;
/// The kind of the last section.
const END: [u8; 4] = *b"END\0";
/// Big data is cut into sections of about this many bytes.
pub(crate) const CHUNK: usize = 16 << 20;

/// An [`Error::Io`] for `action` on `path`.
pub(crate) fn io(path: &Path, action: &'static str, e: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), action, kind: e.kind(), message: e.to_string() }
}

fn kind_name(kind: [u8; 4]) -> String {
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

/// Fills `buf` from `input`, whose next byte is at file offset `at` (advanced).
fn read_at(input: &mut impl Read, path: &Path, at: &mut u64, buf: &mut [u8]) -> Result<()> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => corrupt(path, *at, "the file ends early"),
        _ => io(path, "read", e),
    })?;
    *at += buf.len() as u64;
    Ok(())
}

/// Reads a snapshot's sections in order, each checked against its checksum before use.
pub(crate) struct Reader {
    input: BufReader<File>,
    path: PathBuf,
    /// File offset of the next unread byte.
    at: u64,
    size: u64,
    sections: u64,
    /// The next section's kind and length, read ahead by [`Reader::peek`].
    next: Option<([u8; 4], u64)>,
    /// The last section's payload. One buffer for all of them: a fresh one per 16 MiB
    /// section would be fresh pages each time, which the kernel zeroes on first touch (half
    /// of `open`'s time at 10M customers went there).
    buf: Vec<u8>,
    /// Section buffers handed back by column reads ([`Reader::keep`]).
    spare: Vec<Vec<u8>>,
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
    /// snapshot of another format version an [`Error::UnsupportedVersion`].
    pub(crate) fn open(path: &Path) -> Result<Reader> {
        let file = File::open(path).map_err(|e| io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| io(path, "read", e))?;
        if !meta.is_file() {
            return Err(io(path, "read", std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")));
        }
        let mut r = Reader {
            input: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            at: 0,
            size: meta.len(),
            sections: 0,
            next: None,
            buf: Vec::new(),
            spare: Vec::new(),
        };
        if r.size < HEADER {
            return Err(corrupt(path, 0, format!("{} bytes: too short for a snapshot's 16-byte header", r.size)));
        }
        let mut header = [0u8; HEADER as usize];
        r.read(&mut header)?;
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
        Ok(r)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<()> {
        read_at(&mut self.input, &self.path, &mut self.at, buf)
    }

    /// The next section's kind, read ahead (its length checked against the file's).
    pub(crate) fn peek(&mut self) -> Result<[u8; 4]> {
        if let Some((kind, _)) = self.next {
            return Ok(kind);
        }
        let start = self.at;
        if self.size - self.at < FRAME {
            return Err(corrupt(&self.path, start, "the file ends early: a section was expected"));
        }
        let mut frame = [0u8; 12];
        self.read(&mut frame)?;
        let kind: [u8; 4] = frame[..4].try_into().expect("4 bytes");
        let len = u64::from_le_bytes(frame[4..].try_into().expect("8 bytes"));
        if len > self.size - self.at - 4 {
            return Err(corrupt(
                &self.path,
                start,
                format!("section {}: a length of {len} bytes runs past the end of the file", kind_name(kind)),
            ));
        }
        self.next = Some((kind, len));
        Ok(kind)
    }

    /// The next section, which must be of `kind`.
    pub(crate) fn section(&mut self, kind: [u8; 4]) -> Result<Section<'_>> {
        let mut buf = std::mem::take(&mut self.buf);
        let read = self.section_into(kind, &mut buf);
        self.buf = buf;
        let base = read?;
        Ok(Section { payload: &self.buf, base, left: self.size - self.at })
    }

    /// A buffer for a section: one a column read before handed back, or a new one. Kept
    /// buffers spare the next column fresh pages (zeroed by the kernel on first touch).
    pub(crate) fn spare(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `buf` for [`Reader::spare`] (a few at most, for as long as the reader lives).
    pub(crate) fn keep(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 16 {
            self.spare.push(buf);
        }
    }

    /// The next section, which must be of `kind`, read into `buf` (its payload replaces what
    /// `buf` held; its capacity is reused, and nothing is zeroed first); returns the
    /// payload's offset in the file.
    pub(crate) fn section_into(&mut self, kind: [u8; 4], buf: &mut Vec<u8>) -> Result<u64> {
        let found = self.peek()?;
        let start = self.at - 12;
        if found != kind {
            return Err(corrupt(
                &self.path,
                start,
                format!("section {} found where {} was expected", kind_name(found), kind_name(kind)),
            ));
        }
        let (_, len) = self.next.take().expect("peeked");
        let base = self.at;
        buf.clear();
        buf.reserve(len as usize); // within the file's size (peek checked)
        let got = (&mut self.input).take(len).read_to_end(buf).map_err(|e| io(&self.path, "read", e))?;
        self.at += got as u64;
        if got as u64 != len {
            return Err(corrupt(&self.path, self.at, "the file ends early"));
        }
        let mut crc = [0u8; 4];
        self.read(&mut crc)?;
        let want = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&kind), &len.to_le_bytes()), buf);
        if want.to_le_bytes() != crc {
            return Err(corrupt(
                &self.path,
                start,
                format!("section {}: the checksum does not match", kind_name(kind)),
            ));
        }
        self.sections += 1;
        Ok(base)
    }

    /// Every section of `kind` from here on, as [`Writer::chunked`] wrote them: `get` is
    /// called once per item.
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
