//! Test helpers for the layers' snapshot tests: temporary files, and files built from raw
//! sections (so a test can damage a payload and still give it a valid checksum).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Reader, Writer};
use crate::error::{Error, Result};

/// A temporary directory, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("audience-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a snapshot holding what `write` writes.
pub(crate) fn write_file(path: &Path, write: impl FnOnce(&mut Writer) -> Result<()>) {
    let mut w = Writer::create(path).unwrap();
    write(&mut w).unwrap();
    w.finish().unwrap();
}

/// Writes a snapshot of the raw `sections`, each framed with its checksum, as
/// [`Writer`] would, but without syncing (tests write thousands of damaged files).
pub(crate) fn write_sections(path: &Path, sections: &[([u8; 4], Vec<u8>)]) {
    fn frame(out: &mut Vec<u8>, kind: [u8; 4], payload: &[u8]) {
        let len = (payload.len() as u64).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&kind), &len), payload);
        out.extend_from_slice(&kind);
        out.extend_from_slice(&len);
        out.extend_from_slice(payload);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    let mut out = Vec::new();
    out.extend_from_slice(&super::file::MAGIC);
    out.extend_from_slice(&super::file::VERSION.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&out).to_le_bytes());
    for (kind, payload) in sections {
        frame(&mut out, *kind, payload);
    }
    let mut end = (sections.len() as u64).to_le_bytes().to_vec();
    end.extend_from_slice(&(out.len() as u64 + 16 + 16).to_le_bytes());
    frame(&mut out, *b"END\0", &end);
    overwrite(path, &out);
}

/// Writes `bytes` to `path` in place: a write then a truncation to its length, which on
/// some file systems costs far less than the truncation to nothing that `fs::write`
/// starts with (tests write thousands of damaged files).
pub(crate) fn overwrite(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.set_len(bytes.len() as u64).unwrap();
}

/// Every section of the snapshot at `path` but the end one: kind and payload.
pub(crate) fn sections(path: &Path) -> Vec<([u8; 4], Vec<u8>)> {
    let mut r = Reader::open(path).unwrap();
    let mut out = Vec::new();
    loop {
        let kind = r.peek().unwrap();
        if kind == *b"END\0" {
            return out;
        }
        out.push((kind, r.section(kind).unwrap().payload.to_vec()));
    }
}

/// Reads the snapshot at `path` with `read`, then checks that the file ends there.
pub(crate) fn read_file<T>(path: &Path, read: impl FnOnce(&mut Reader) -> Result<T>) -> Result<T> {
    let mut r = Reader::open(path)?;
    let out = read(&mut r)?;
    r.finish()?;
    Ok(out)
}

/// Panics unless `r` is an [`Error::Corrupt`].
#[track_caller]
pub(crate) fn assert_corrupt<T: std::fmt::Debug>(r: Result<T>, context: &str) {
    match r {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("{context}: expected Error::Corrupt, got {other:?}"),
    }
}
