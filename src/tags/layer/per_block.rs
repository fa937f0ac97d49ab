//! What the tags layer keeps per 2^16-id block, built by reads and dropped by writes: the
//! customer index (`by_customer.rs`) and the census (`by_block.rs`) share this bookkeeping.
//!
//! A block is built by the second read since its last write ([`BUILD_ON_READ`]): a one-off
//! read does without, a block read again pays for itself. Built blocks are kept within a
//! budget (the tag bitmaps' serialized size, or [`MIN_BUDGET`] when that is more); a block
//! past it serves the read that built it and is not kept, and reads after that do without
//! until a write frees some room. A block that cannot be built is not tried again until a
//! write to it. Any write drops the blocks it spans ([`PerBlock::wrote`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Reads of a block, since its last write, before it is built.
const BUILD_ON_READ: u32 = 2;

/// In `Inner::reads`: the block cannot be built; its reads do without until a write to it.
const UNBUILDABLE: u32 = u32::MAX;

/// The least a cache may keep, whatever the bitmaps' size.
pub(super) const MIN_BUDGET: usize = 16 << 20;

/// A block's heap bytes, for the budget.
pub(super) trait HeapBytes {
    fn heap_bytes(&self) -> usize;
}

/// Blocks of `B`, by key: built lazily by reads (`&self`), dropped by writes.
pub(super) struct PerBlock<B> {
    inner: RwLock<Inner<B>>,
}

struct Inner<B> {
    blocks: HashMap<u16, Arc<B>>,
    /// Reads per block not built, since the block's last write.
    reads: HashMap<u16, u32>,
    /// Heap bytes of `blocks`.
    bytes: usize,
    /// A block built did not fit the budget: reads do without until a write frees some.
    full: bool,
}

/// What a read of a block is to do.
pub(super) enum Read<B> {
    /// Use the kept block.
    Kept(Arc<B>),
    /// Build it (then [`PerBlock::keep`] it).
    Build,
    /// Do without it.
    Without,
}

impl<B> Default for PerBlock<B> {
    fn default() -> PerBlock<B> {
        PerBlock { inner: RwLock::new(Inner { blocks: HashMap::new(), reads: HashMap::new(), bytes: 0, full: false }) }
    }
}

impl<B> Clone for PerBlock<B> {
    /// A clone shares the blocks kept (they are immutable: a write drops its blocks from its
    /// own engine only), so a reader starts with what the writer had built.
    fn clone(&self) -> PerBlock<B> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        PerBlock {
            inner: RwLock::new(Inner {
                blocks: inner.blocks.clone(),
                reads: inner.reads.clone(),
                bytes: inner.bytes,
                full: inner.full,
            }),
        }
    }
}

impl<B> std::fmt::Debug for PerBlock<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("PerBlock").field("blocks", &inner.blocks.len()).field("bytes", &inner.bytes).finish()
    }
}

impl<B: HeapBytes> PerBlock<B> {
    /// Block `key`, kept.
    pub(super) fn kept(&self, key: u16) -> Option<Arc<B>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).blocks.get(&key).cloned()
    }

    /// A read of block `key`: counted when it is not kept, and [`Read::Build`] when it is
    /// read again and may be kept.
    pub(super) fn read(&self, key: u16) -> Read<B> {
        if let Some(b) = self.kept(key) {
            return Read::Kept(b);
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = inner.blocks.get(&key) {
            return Read::Kept(Arc::clone(b)); // another reader built it meanwhile
        }
        if inner.full {
            return Read::Without;
        }
        let reads = inner.reads.entry(key).or_insert(0);
        if *reads == UNBUILDABLE {
            return Read::Without;
        }
        *reads += 1;
        if *reads < BUILD_ON_READ { Read::Without } else { Read::Build }
    }

    /// Whether a block built did not fit the budget (and no write has freed room since).
    pub(super) fn is_full(&self) -> bool {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).full
    }

    /// Block `key` cannot be built: its reads do without until a write to it.
    pub(super) fn unbuildable(&self, key: u16) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).reads.insert(key, UNBUILDABLE);
    }

    /// Keeps `block` as block `key` when it fits `budget` (or [`MIN_BUDGET`], the more);
    /// returns the block kept (another reader's, if one kept it meanwhile) or `block`,
    /// unkept, for this read alone.
    pub(super) fn keep(&self, key: u16, block: B, budget: usize) -> Arc<B> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = inner.blocks.get(&key) {
            return Arc::clone(b);
        }
        let block = Arc::new(block);
        if inner.bytes + block.heap_bytes() > budget.max(MIN_BUDGET) {
            inner.full = true;
            return block;
        }
        inner.bytes += block.heap_bytes();
        inner.reads.remove(&key);
        inner.blocks.insert(key, Arc::clone(&block));
        block
    }

    /// Drops what blocks `lo..=hi` (keys) hold: their customers' tags changed.
    pub(super) fn wrote(&mut self, lo: u16, hi: u16) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if inner.blocks.is_empty() && inner.reads.is_empty() {
            return;
        }
        let mut freed = 0;
        if usize::from(hi - lo) < 64 {
            // A write to a few blocks (one customer's, most often): drop them by key.
            for k in lo..=hi {
                inner.reads.remove(&k);
                freed += inner.blocks.remove(&k).map_or(0, |b| b.heap_bytes());
            }
        } else {
            inner.reads.retain(|&k, _| k < lo || k > hi);
            inner.blocks.retain(|&k, b| {
                let keep = k < lo || k > hi;
                if !keep {
                    freed += b.heap_bytes();
                }
                keep
            });
        }
        inner.bytes -= freed;
        inner.full &= freed == 0;
    }

    /// Heap bytes of the blocks kept.
    pub(super) fn bytes(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// Whether block `key` is marked unbuildable (for tests).
    #[cfg(test)]
    pub(super) fn is_unbuildable(&self, key: u16) -> bool {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).reads.get(&key) == Some(&UNBUILDABLE)
    }
}
