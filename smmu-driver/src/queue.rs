//! Circular queues in the SMMUv3 format, shared by the SMMU's own command
//! and event queues and the CMDQV's virtual command queues.
//!
//! A queue of 2^n entries is indexed by an (n+1)-bit value: the low n bits
//! are the slot, bit n the wrap flag. The queue is empty when producer and
//! consumer are equal and full when only their wrap flags differ.

use crate::dma::DmaBuf;

/// Largest LOG2SIZE the register format can express: the index field
/// (`CMDQ_PROD.WR`, 20 bits in the map) holds the index bits and the wrap
/// flag.
pub const MAX_LOG2SIZE: u32 = smmuv3_regs::CMDQ_PROD::WR.mask.count_ones() - 1;

/// Queue geometry and the driver's copy of one index pair.
pub struct Queue<'a> {
    buf: DmaBuf<'a>,
    log2size: u32,
    entry_words: usize,
    /// Producer index (with wrap flag) as last written or read.
    pub(crate) prod: u32,
    /// Consumer index (with wrap flag) as last written or read.
    pub(crate) cons: u32,
}

impl<'a> Queue<'a> {
    /// Wraps `buf` as a queue of `1 << log2size` entries of `entry_words`
    /// words each, zeroing it. Returns `None` when the buffer is too small,
    /// the size is out of range, or the base is not aligned to the queue
    /// size (and at least to 32 bytes), as the architecture requires.
    pub fn new(mut buf: DmaBuf<'a>, log2size: u32, entry_words: usize) -> Option<Self> {
        if log2size > MAX_LOG2SIZE {
            return None;
        }
        let bytes = (entry_words as u64 * 8) << log2size;
        if (buf.len_bytes() as u64) < bytes || !buf.is_aligned(bytes.max(32)) {
            return None;
        }
        buf.zero();
        Some(Queue {
            buf,
            log2size,
            entry_words,
            prod: 0,
            cons: 0,
        })
    }

    /// log2 of the number of entries.
    pub fn log2size(&self) -> u32 {
        self.log2size
    }

    /// Device address of the queue.
    pub fn phys(&self) -> u64 {
        self.buf.phys()
    }

    /// Number of entries.
    pub fn entries(&self) -> u32 {
        1 << self.log2size
    }

    /// Mask of the index and wrap bits of a PROD/CONS value.
    pub fn ptr_mask(&self) -> u32 {
        (2u32 << self.log2size) - 1
    }

    /// Slot of a PROD/CONS value.
    pub fn slot(&self, ptr: u32) -> u32 {
        ptr & ((1u32 << self.log2size) - 1)
    }

    fn wrap(&self, ptr: u32) -> u32 {
        ptr & (1u32 << self.log2size)
    }

    /// The value after `ptr`.
    pub fn next(&self, ptr: u32) -> u32 {
        ptr.wrapping_add(1) & self.ptr_mask()
    }

    /// Whether a queue with these indices is empty.
    pub fn is_empty_at(&self, prod: u32, cons: u32) -> bool {
        prod & self.ptr_mask() == cons & self.ptr_mask()
    }

    /// Whether a queue with these indices is full.
    pub fn is_full_at(&self, prod: u32, cons: u32) -> bool {
        self.slot(prod) == self.slot(cons) && self.wrap(prod) != self.wrap(cons)
    }

    /// Free entries with these indices.
    pub fn space_at(&self, prod: u32, cons: u32) -> u32 {
        let (p, c) = (self.slot(prod), self.slot(cons));
        if self.wrap(prod) == self.wrap(cons) {
            self.entries() - (p - c)
        } else {
            c.saturating_sub(p)
        }
    }

    /// Whether the consumer `cons` has consumed every entry before
    /// `target`, where `target` is the current producer value (so `cons`
    /// lies at most one lap behind it and never ahead: with different wrap
    /// flags the consumer is still on the previous lap).
    pub fn consumed(&self, cons: u32, target: u32) -> bool {
        self.wrap(cons) == self.wrap(target) && self.slot(cons) >= self.slot(target)
    }

    /// Writes `entry` into the slot of `ptr`.
    pub fn write_entry(&mut self, ptr: u32, entry: &[u64]) {
        let base = self.slot(ptr) as usize * self.entry_words;
        for (i, w) in entry.iter().take(self.entry_words).enumerate() {
            self.buf.write(base + i, *w);
        }
    }

    /// Reads the slot of `ptr` into `out` (as many words as fit).
    pub fn read_entry(&self, ptr: u32, out: &mut [u64]) {
        let base = self.slot(ptr) as usize * self.entry_words;
        for (i, w) in out.iter_mut().take(self.entry_words).enumerate() {
            *w = self.buf.read(base + i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_arithmetic() {
        let mut mem = [0u64; 2 * 4];
        let phys = 0x1000;
        let q = Queue::new(DmaBuf::new(&mut mem, phys), 2, 2).unwrap();
        assert!(q.is_empty_at(0, 0));
        assert_eq!(q.space_at(0, 0), 4);
        assert_eq!(q.space_at(3, 0), 1);
        assert!(q.is_full_at(4, 0)); // slot 0, wrap set
        assert_eq!(q.space_at(4, 0), 0);
        assert_eq!(q.space_at(5, 2), 1);
        assert_eq!(q.next(7), 0);
        assert!(q.consumed(3, 3));
        assert!(!q.consumed(2, 3));
        assert!(!q.consumed(4, 5));
        assert!(q.consumed(5, 5));
        assert!(!q.consumed(3, 7)); // previous lap, same slot
        assert!(!q.consumed(0, 4)); // full queue: nothing consumed yet
    }

    #[test]
    fn rejects_misaligned_or_short_buffers() {
        let mut mem = [0u64; 8];
        assert!(Queue::new(DmaBuf::new(&mut mem, 0x1008), 2, 2).is_none());
        let mut mem = [0u64; 7];
        assert!(Queue::new(DmaBuf::new(&mut mem, 0x1000), 2, 2).is_none());
        let mut mem = [0u64; 8];
        assert!(Queue::new(DmaBuf::new(&mut mem, 0x1000), 20, 2).is_none());
    }
}
