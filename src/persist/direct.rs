//! A snapshot's output: its bytes gathered in aligned blocks of [`BLOCK`] bytes and, once
//! the file reaches a block, written around the page cache (`O_DIRECT`, Linux) by a thread
//! of their own while the next block fills.
//!
//! Why: through the page cache, `save` copied every byte into fresh cache pages and then
//! waited for the sync to write them all; on this crate's test VM that first touch of
//! cache pages made a 1.9 GB save take 1.5 to 5 s where the disk writes it in 0.7 s
//! (`dd oflag=direct`). Written directly, the blocks go from this process's memory to the
//! disk while encoding goes on, and a big snapshot does not push the application's own
//! data out of the cache.
//!
//! - A file smaller than one block (most tests, small engines) is written through the page
//!   cache as before: no thread, no direct I/O.
//! - Direct writes need the buffer's address, the length and the file offset aligned to
//!   the device's logical block size: blocks are [`ALIGN`]-aligned windows of their
//!   allocation and are written whole; the last one's aligned part goes directly and its
//!   tail (under [`ALIGN`] bytes) through the page cache, at its offset.
//! - Where direct I/O is not offered (another OS, or a file system that refuses
//!   `O_DIRECT`, such as tmpfs, at open or at the first write) every block goes through
//!   the page cache, as the small files do.
//! - Durability is unchanged: the caller syncs the file (`fsync` flushes the inode, both
//!   kinds of write) before renaming it into place.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes of a block: the unit written, and the size from which a file is written directly.
pub(crate) const BLOCK: usize = 8 << 20;
/// The alignment of a direct write's buffer, length and offset (the largest logical block
/// size of common devices).
pub(crate) const ALIGN: usize = 4096;
/// Blocks at most: one filling, one queued, one being written.
const BLOCKS: usize = 3;

/// [`BLOCK`] bytes at an [`ALIGN`]-aligned address inside a larger allocation.
struct Block {
    mem: Vec<u8>,
    /// Where the aligned window starts in `mem`.
    off: usize,
    /// Bytes filled.
    len: usize,
}

impl Block {
    fn new() -> Block {
        let mem = vec![0u8; BLOCK + ALIGN];
        let off = mem.as_ptr().align_offset(ALIGN);
        assert!(off < ALIGN, "a byte pointer can always be aligned");
        Block { mem, off, len: 0 }
    }

    fn data(&self) -> &[u8] {
        &self.mem[self.off..self.off + self.len]
    }

    /// Copies as much of `bytes` as fits; returns how much.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(BLOCK - self.len);
        let at = self.off + self.len;
        self.mem[at..at + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }
}

/// How full blocks are written.
enum Mode {
    /// Nothing written yet: the first full block decides.
    Undecided,
    /// Through the page cache, on the calling thread, each block at its offset.
    Cached,
    /// Around it, by the writing thread.
    Direct { to_writer: SyncSender<Block>, back: Receiver<Block>, writer: JoinHandle<io::Result<()>>, blocks: usize },
    /// The writing thread failed: nothing more is written.
    Failed,
}

/// A failure injected into the writing thread (tests): at its `n`th block (counted from 0,
/// the file's second block), the direct write fails with this kind.
#[derive(Copy, Clone)]
struct Inject {
    at: usize,
    kind: io::ErrorKind,
}

/// A file being written, block by block. [`Output::finish`] writes what is left and hands
/// the file back for syncing.
pub(crate) struct Output {
    /// The file, opened for writing through the page cache (written at offsets, never
    /// through its cursor).
    file: File,
    block: Block,
    /// The file offset of the block's first byte.
    at: u64,
    mode: Mode,
    inject: Option<Inject>,
}

/// Whether a direct write's error means "not like this" (alignment, support), so the
/// same bytes are written through the page cache instead: a refused write wrote nothing
/// that the cached write does not write again at the same offset.
fn refused(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported)
}

impl Output {
    pub(crate) fn new(file: File) -> Output {
        Output { file, block: Block::new(), at: 0, mode: Mode::Undecided, inject: None }
    }

    /// Appends `bytes`. `path` is the file's (direct I/O opens it a second time).
    pub(crate) fn write(&mut self, path: &Path, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = self.block.fill(bytes);
            bytes = &bytes[n..];
            if self.block.len == BLOCK {
                self.flush_block(path)?;
            }
        }
        Ok(())
    }

    /// Writes the full block and starts the next.
    fn flush_block(&mut self, path: &Path) -> io::Result<()> {
        match &mut self.mode {
            Mode::Undecided => {
                self.mode = Mode::Cached;
                let direct = open_direct(path).ok().and_then(|mut direct| match direct.write_all(self.block.data()) {
                    Ok(()) => Some(Ok(direct)),
                    Err(e) if refused(&e) => None, // written through the cache below
                    Err(e) => Some(Err(e)),
                });
                match direct.transpose()? {
                    Some(direct) => {
                        let plain = self.file.try_clone()?;
                        // No thread to be had: the rest through the cache.
                        self.mode = start_writer(direct, plain, self.inject).unwrap_or(Mode::Cached);
                    }
                    None => write_at(&self.file, self.block.data(), self.at)?,
                }
                self.block.len = 0;
            }
            Mode::Cached => {
                write_at(&self.file, self.block.data(), self.at)?;
                self.block.len = 0;
            }
            Mode::Direct { to_writer, back, blocks, .. } => {
                let next = match back.try_recv() {
                    Ok(b) => Some(b),
                    Err(_) if *blocks < BLOCKS => {
                        *blocks += 1;
                        Some(Block::new())
                    }
                    Err(_) => back.recv().ok(), // None: the writer stopped on an error
                };
                let sent = next.is_some_and(|mut next| {
                    next.len = 0;
                    to_writer.send(std::mem::replace(&mut self.block, next)).is_ok()
                });
                if !sent {
                    return Err(self.stop_writer().err().unwrap_or_else(stopped));
                }
            }
            Mode::Failed => return Err(stopped()),
        }
        self.at += BLOCK as u64;
        Ok(())
    }

    /// Waits for the writing thread and returns its error, if any; after an error nothing
    /// more is written.
    fn stop_writer(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.mode, Mode::Failed) {
            Mode::Direct { to_writer, writer, .. } => {
                drop(to_writer);
                let result =
                    writer.join().unwrap_or_else(|_| Err(io::Error::other("the snapshot's writing thread panicked")));
                if result.is_ok() {
                    self.mode = Mode::Cached;
                }
                result
            }
            other => {
                self.mode = other;
                Ok(())
            }
        }
    }

    /// Writes what is left and returns the file, for the caller to sync. On an error the
    /// file is incomplete (the caller removes it).
    pub(crate) fn finish(mut self) -> io::Result<File> {
        match self.mode {
            Mode::Direct { .. } => {}
            Mode::Failed => return Err(stopped()),
            Mode::Undecided | Mode::Cached => {
                write_at(&self.file, self.block.data(), self.at)?;
                return self.file.try_clone();
            }
        }
        // The aligned part of the last block directly, after the blocks before it; the
        // tail through the cache at its offset, once the writer is done.
        let aligned = self.block.len / ALIGN * ALIGN;
        let tail = self.block.data()[aligned..].to_vec();
        if aligned > 0 {
            self.block.len = aligned;
            let last = std::mem::replace(&mut self.block, Block { mem: Vec::new(), off: 0, len: 0 });
            if let Mode::Direct { to_writer, .. } = &self.mode
                && to_writer.send(last).is_err()
            {
                return Err(self.stop_writer().err().unwrap_or_else(stopped));
            }
        }
        self.stop_writer()?;
        write_at(&self.file, &tail, self.at + aligned as u64)?;
        self.file.try_clone()
    }
}

impl Drop for Output {
    /// An output dropped before [`Output::finish`] (an error while encoding) waits for its
    /// writing thread, so no write goes on after the save has returned.
    fn drop(&mut self) {
        let _ = self.stop_writer();
    }
}

/// The error for a writing thread that stopped without one (it cannot, but must not hang),
/// and for writing on after the thread failed.
fn stopped() -> io::Error {
    io::Error::other("the snapshot's writing thread stopped")
}

/// Starts the thread writing blocks to `direct` (already past the first block), each
/// handed back once written; a block the direct write refuses, and every block after it,
/// go through the cache (`plain`) at their offsets. `None` when no thread can be started.
fn start_writer(mut direct: File, plain: File, inject: Option<Inject>) -> Option<Mode> {
    let (to_writer, inbox) = sync_channel::<Block>(1);
    let (give_back, back) = sync_channel::<Block>(BLOCKS);
    let run = move || -> io::Result<()> {
        let (mut at, mut cached) = (BLOCK as u64, false);
        for (n, block) in inbox.into_iter().enumerate() {
            if !cached {
                let written = match inject {
                    Some(i) if i.at == n => Err(io::Error::new(i.kind, "injected failure")),
                    _ => direct.write_all(block.data()),
                };
                match written {
                    Ok(()) => {}
                    Err(e) if refused(&e) => cached = true,
                    Err(e) => return Err(e),
                }
            }
            if cached {
                write_at(&plain, block.data(), at)?;
            }
            at += block.len as u64;
            let _ = give_back.try_send(block);
        }
        Ok(())
    };
    let writer = std::thread::Builder::new().name("audience-save".into()).spawn(run).ok()?;
    Some(Mode::Direct { to_writer, back, writer, blocks: 1 })
}

/// `path` opened a second time for writing around the page cache.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &Path) -> io::Result<File> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, at)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of every size around the block and alignment edges read back byte for byte,
    /// written in pieces of awkward sizes (here on whatever file system the temporary
    /// directory is: directly where it allows, through the cache where not).
    #[test]
    fn every_size_reads_back() {
        let dir = std::env::temp_dir();
        let bytes: Vec<u8> = (0..3 * BLOCK as u64 + 2 * ALIGN as u64 + 17).map(|i| (i * 31 % 251) as u8).collect();
        for (k, len) in [0, 1, ALIGN, BLOCK - 1, BLOCK, BLOCK + 1, BLOCK + ALIGN, 2 * BLOCK + 5, bytes.len()]
            .into_iter()
            .enumerate()
        {
            let path = dir.join(format!("audience-direct-{}-{k}", std::process::id()));
            let file = File::create(&path).unwrap();
            let mut out = Output::new(file);
            let mut rest = &bytes[..len];
            let mut piece = 1;
            while !rest.is_empty() {
                let n = piece.min(rest.len());
                out.write(&path, &rest[..n]).unwrap();
                rest = &rest[n..];
                piece = piece * 7 + 3; // 1, 10, 73, ... up to millions
            }
            out.finish().unwrap().sync_all().unwrap();
            let back = std::fs::read(&path).unwrap();
            assert!(back == bytes[..len], "{len} bytes");
            std::fs::remove_file(&path).unwrap();
        }
    }

    /// An error of the writing thread reaches the caller: at the next full block when the
    /// thread has stopped by then, else at `finish`, whose tail write would succeed. A
    /// direct write refused (`InvalidInput`, as for a device of larger blocks) is written
    /// through the cache instead, that block and every one after it, and the file is whole.
    /// (Only where the temporary directory takes direct writes: elsewhere there is no
    /// thread, and every case writes the file whole.)
    #[test]
    fn the_writing_threads_error_is_returned_or_the_block_written_through_the_cache() {
        let path = std::env::temp_dir().join(format!("audience-direct-fail-{}", std::process::id()));
        // Pieces of half a block and 3,000 bytes, two a block: the first block is written
        // on the calling thread, the next `blocks - 1` by the thread (its blocks 0 to
        // `blocks - 2`), then the last block's aligned part (its block `blocks - 1`), then
        // the tail through the cache. Failing past that is no failure.
        let piece: Vec<u8> = (0..BLOCK / 2 + 3_000).map(|i| (i % 253) as u8).collect();
        for kind in [io::ErrorKind::Other, io::ErrorKind::InvalidInput] {
            for (at, blocks) in [(0, 2), (1, 2), (2, 6), (5, 6), (6, 6)] {
                let mut out = Output::new(File::create(&path).unwrap());
                out.inject = Some(Inject { at, kind });
                let mut result = Ok(());
                for _ in 0..blocks * 2 {
                    result = result.and_then(|()| out.write(&path, &piece));
                }
                // Direct writes were taken (the thread may have failed since).
                let direct = matches!(out.mode, Mode::Direct { .. } | Mode::Failed);
                let result = result.and_then(|()| out.finish().map(drop));
                let fails = direct && at < blocks && kind == io::ErrorKind::Other;
                let case = format!("{kind:?} at {at} of {blocks}");
                match result {
                    Err(e) => {
                        assert!(fails, "{case}: {e}");
                        assert_eq!(e.to_string(), "injected failure", "{case}");
                    }
                    Ok(()) => {
                        assert!(!fails, "{case}: no error");
                        let back = std::fs::read(&path).unwrap();
                        assert_eq!(back.len(), piece.len() * blocks * 2, "{case}");
                        assert!(back.chunks(piece.len()).all(|c| c == piece), "{case}: the file is whole");
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    /// An output dropped in the middle (an error while encoding) has its blocks written
    /// when the drop returns: no write goes on behind the caller's back.
    #[test]
    fn a_dropped_output_waits_for_its_writes() {
        let path = std::env::temp_dir().join(format!("audience-direct-drop-{}", std::process::id()));
        let mut out = Output::new(File::create(&path).unwrap());
        let piece = vec![1u8; BLOCK / 2 + 3_000];
        for _ in 0..7 {
            out.write(&path, &piece).unwrap();
        }
        drop(out); // blocks 0 to 2 full and sent; block 3 partly filled, never written
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * BLOCK as u64);
        let _ = std::fs::remove_file(&path);
    }
}
