//! One customer's tags, fast: [`Tags::of`] for profiles.
//!
//! Probing every tag's bitmap costs about 300 ns a tag for a customer whose containers are
//! not in cache (a binary search over the tag's ~150 containers, then one inside an array
//! container: several misses each), so 300 µs over a pool of 1,000 tags at 10M customers.
//! An index from customer to tags answers in a microsecond, but kept for every customer
//! it costs as much as the bitmaps and a second write on every tagging.
//!
//! So the index is kept per 2^16-id block, built on demand (`per_block.rs`): the second read
//! in a block since its last write builds the block's index (one range walk per tag: about
//! 3.5 ms at 10M customers x 1,000 tags), later reads use it, and any write to the block
//! drops it. A block's index
//! holds the tags whose container there is an array (the sparse ones, where probing is
//! slow) as a row of `u16` positions per customer; tags dense in the block (a bitset or run
//! container, one cache miss to probe) are probed. Blocks are kept within a budget of the
//! tag bitmaps' serialized size, or 16 MiB when that is more (a block past it is
//! used for the read that built it and not kept), so past small engines the index never
//! more than doubles what tags cost.

use std::sync::Arc;

use super::Tags;
use super::per_block::{HeapBytes, PerBlock, Read};
use crate::blocks::format::ARRAY_LIMIT;
use crate::id::TagId;

/// The customer index's blocks: built lazily by reads (`&self`), dropped by writes
/// (`per_block.rs`).
pub(super) type ByCustomer = PerBlock<Block>;

/// Customers per checkpoint of a block's row starts.
const STRIDE: usize = 64;

/// One block's index.
pub(super) struct Block {
    /// The tags indexed here (sparse in the block), in id order.
    sparse: Vec<TagId>,
    /// The tags dense in the block, probed.
    dense: Vec<TagId>,
    /// Customer `low`'s row is `lens[low]` positions in `sparse`, starting in `rows` at
    /// `marks[low / STRIDE]` plus the lengths of the rows before it since that mark (a byte
    /// a customer and 4 per 64, instead of 4 a customer).
    lens: Vec<u8>,
    marks: Vec<u32>,
    rows: Vec<u16>,
}

impl HeapBytes for Block {
    fn heap_bytes(&self) -> usize {
        (self.sparse.capacity() + self.dense.capacity()) * size_of::<TagId>()
            + self.lens.capacity()
            + self.marks.capacity() * 4
            + self.rows.capacity() * 2
    }
}

impl Block {
    /// Customer `low`'s positions in `sparse`.
    fn row(&self, low: usize) -> &[u16] {
        let mark = low / STRIDE * STRIDE;
        let start =
            self.marks[low / STRIDE] as usize + self.lens[mark..low].iter().map(|&n| usize::from(n)).sum::<usize>();
        &self.rows[start..start + usize::from(self.lens[low])]
    }
}

impl Tags {
    /// The tags `customer` carries (exactly, not their ancestors), in id order.
    pub(crate) fn of_ids(&self, customer: u32) -> Vec<TagId> {
        let key = (customer >> 16) as u16;
        let low = (customer & 0xFFFF) as usize;
        match self.customer_block(key) {
            Some(b) => {
                let mut out: Vec<TagId> = b.row(low).iter().map(|&i| b.sparse[usize::from(i)]).collect();
                out.extend(b.dense.iter().copied().filter(|&t| self.store.get(t).contains(customer)));
                // A tag deleted since the block was built: its slot is empty (ids are not reused).
                out.retain(|&t| self.pool.def(t).is_some());
                out.sort_unstable();
                out
            }
            None => self.pool.iter().map(|(t, _)| t).filter(|&t| self.store.get(t).contains(customer)).collect(),
        }
    }

    /// Block `key`'s index: kept, or built now when the block is read again and fits the
    /// budget; `None` to probe.
    fn customer_block(&self, key: u16) -> Option<Arc<Block>> {
        match self.by_customer.read(key) {
            Read::Kept(b) => Some(b),
            Read::Without => None,
            Read::Build => match self.build_block(key) {
                Some(block) => Some(self.by_customer.keep(key, block, self.store.serialized_bytes())),
                None => {
                    self.by_customer.unbuildable(key);
                    None
                }
            },
        }
    }

    /// Block `key`'s index, from one range walk per tag; `None` when more tags are sparse
    /// there than a `u16` position holds, or a customer carries more than 255 of them (the
    /// block is probed then).
    fn build_block(&self, key: u16) -> Option<Block> {
        let (lo, hi) = (u32::from(key) << 16, (u32::from(key) << 16) | 0xFFFF);
        let (mut sparse, mut dense) = (Vec::new(), Vec::new());
        let mut pairs: Vec<(u16, u16)> = Vec::new();
        for (t, _) in self.pool.iter() {
            let bits = self.store.get(t);
            match bits.range_cardinality(lo..=hi) {
                0 => {}
                n if n > ARRAY_LIMIT as u64 => dense.push(t),
                _ => {
                    let at = u16::try_from(sparse.len()).ok()?;
                    sparse.push(t);
                    pairs.extend(bits.range(lo..=hi).map(|c| ((c & 0xFFFF) as u16, at)));
                }
            }
        }
        // Rows by customer (a counting sort; within a row, tag order).
        let mut lens = vec![0u8; 1 << 16];
        for &(low, _) in &pairs {
            // More than 255 sparse tags on one customer of the block: probe the block.
            lens[usize::from(low)] = lens[usize::from(low)].checked_add(1)?;
        }
        let mut marks = Vec::with_capacity((1 << 16) / STRIDE);
        let mut next = Vec::with_capacity(1 << 16);
        let mut at = 0u32;
        for (low, &n) in lens.iter().enumerate() {
            if low % STRIDE == 0 {
                marks.push(at);
            }
            next.push(at);
            at += u32::from(n);
        }
        let mut rows = vec![0u16; pairs.len()];
        for (low, at) in pairs {
            let slot = &mut next[usize::from(low)];
            rows[*slot as usize] = at;
            *slot += 1;
        }
        Some(Block { sparse, dense, lens, marks, rows })
    }

    /// Heap bytes of the customer index's blocks.
    pub(crate) fn customer_index_bytes(&self) -> usize {
        self.by_customer.bytes()
    }
}

#[cfg(test)]
mod tests {
    use roaring::RoaringBitmap;

    use super::*;

    fn probe(tags: &Tags, customer: u32) -> Vec<TagId> {
        tags.pool.iter().map(|(t, _)| t).filter(|&t| tags.store.get(t).contains(customer)).collect()
    }

    /// The index answers as probing does, across sparse and dense tags, after each kind of
    /// write (which drops the block), and past a deleted tag.
    #[test]
    fn the_index_answers_as_probing_does() {
        let mut tags = Tags::default();
        let dense = tags.ensure("dense").unwrap();
        let sparse = tags.ensure("sparse").unwrap();
        let other = tags.ensure("other").unwrap();
        tags.put_many(dense, (0..70_000u32).filter(|c| c % 3 != 0).collect());
        tags.put_many(sparse, (0..140_000u32).step_by(97).collect());
        tags.put_many(other, [5u32, 97, 65_541, 131_072].into_iter().collect());
        let check = |tags: &Tags| {
            for c in [0u32, 1, 5, 97, 194, 65_536, 65_541, 69_999, 131_072, 139_999] {
                for _ in 0..3 {
                    assert_eq!(tags.of_ids(c), probe(tags, c), "customer {c}");
                }
            }
        };
        check(&tags);
        assert!(tags.customer_index_bytes() > 0, "read twice: indexed");
        tags.put(other, 1);
        tags.take(sparse, 97);
        check(&tags);
        tags.take_many(dense, &(65_536..65_600).collect::<RoaringBitmap>());
        check(&tags);
        tags.set_members(other, [2u32, 131_073].into_iter().collect());
        check(&tags);
        tags.take_everywhere(&[5u32, 65_541].into_iter().collect());
        check(&tags);
        tags.delete_id(other).unwrap();
        check(&tags);
        assert_eq!(tags.of_ids(2), [dense]);
        // A clone (a reader's view) shares the index kept and answers alike; a write to the
        // original drops its own blocks only.
        let copy = tags.clone();
        assert_eq!(copy.customer_index_bytes(), tags.customer_index_bytes());
        check(&copy);
        tags.take_everywhere(&[2u32].into_iter().collect());
        check(&tags);
        check(&copy);
    }

    /// A customer with more than 255 sparse tags in a block: the block is probed, and the
    /// answer is the same.
    #[test]
    fn a_customer_with_too_many_tags_for_a_row_is_probed() {
        let mut tags = Tags::default();
        let ids: Vec<TagId> = (0..300).map(|k| tags.ensure(&format!("t{k}")).unwrap()).collect();
        for &t in &ids {
            tags.put(t, 7);
        }
        tags.put(ids[3], 8);
        for _ in 0..3 {
            assert_eq!(tags.of_ids(7), ids);
            assert_eq!(tags.of_ids(8), [ids[3]]);
        }
        assert_eq!(tags.customer_index_bytes(), 0, "not indexed");
        assert!(tags.by_customer.is_unbuildable(0), "not tried again until a write");
        // A write makes the block worth trying again: still too many tags for a row.
        tags.take(ids[0], 7);
        for _ in 0..3 {
            assert_eq!(tags.of_ids(7), ids[1..]);
        }
    }
}
