//! Memory the SMMU reads or writes (queues, tables, descriptors).
//!
//! The driver owns no memory: the caller hands it buffers together with
//! the physical address the device must use for them. Every access goes
//! through volatile reads and writes because the device reads and writes
//! the same memory behind the compiler's back.

use core::marker::PhantomData;

/// A caller-provided buffer of 64-bit words that a device accesses by DMA.
pub struct DmaBuf<'a> {
    ptr: *mut u64,
    words: usize,
    phys: u64,
    _borrow: PhantomData<&'a mut [u64]>,
}

impl<'a> DmaBuf<'a> {
    /// Wraps `mem`, which the device sees at physical address `phys`.
    pub fn new(mem: &'a mut [u64], phys: u64) -> Self {
        DmaBuf {
            ptr: mem.as_mut_ptr(),
            words: mem.len(),
            phys,
            _borrow: PhantomData,
        }
    }

    /// Wraps `words` 64-bit words at `ptr`, seen by the device at `phys`.
    ///
    /// # Safety
    /// `ptr` must be valid for volatile reads and writes of `words` words,
    /// 8-byte aligned, and not accessed through any other Rust reference
    /// for `'a`.
    pub unsafe fn from_raw(ptr: *mut u64, words: usize, phys: u64) -> Self {
        DmaBuf {
            ptr,
            words,
            phys,
            _borrow: PhantomData,
        }
    }

    /// Physical (device) address of the first word.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Length in 64-bit words.
    pub fn len_words(&self) -> usize {
        self.words
    }

    /// Length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.words * 8
    }

    /// Whether the device address is aligned to `align` bytes (a power of two).
    pub fn is_aligned(&self, align: u64) -> bool {
        align.is_power_of_two() && self.phys & (align - 1) == 0
    }

    /// Reads word `i`; out-of-range indices read as zero.
    pub fn read(&self, i: usize) -> u64 {
        if i >= self.words {
            return 0;
        }
        // SAFETY: in range; validity is the constructor's contract.
        unsafe { core::ptr::read_volatile(self.ptr.add(i)) }
    }

    /// Writes word `i`; out-of-range indices are ignored.
    pub fn write(&mut self, i: usize, value: u64) {
        if i >= self.words {
            return;
        }
        // SAFETY: in range; validity is the constructor's contract.
        unsafe { core::ptr::write_volatile(self.ptr.add(i), value) }
    }

    /// Zeroes the whole buffer.
    pub fn zero(&mut self) {
        for i in 0..self.words {
            self.write(i, 0);
        }
    }

    /// Splits off the first `words` words; `None` when the buffer is shorter.
    pub fn split_at(self, words: usize) -> Option<(DmaBuf<'a>, DmaBuf<'a>)> {
        if words > self.words {
            return None;
        }
        // SAFETY: both halves are disjoint parts of the original buffer.
        unsafe {
            Some((
                DmaBuf::from_raw(self.ptr, words, self.phys),
                DmaBuf::from_raw(
                    self.ptr.add(words),
                    self.words - words,
                    self.phys + words as u64 * 8,
                ),
            ))
        }
    }
}

/// Orders the CPU's writes to DMA memory before a following MMIO write
/// that tells the device to look at them.
#[inline]
pub fn dma_wmb() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier has no operands and no memory effects of its own.
    unsafe {
        core::arch::asm!("dsb st", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

/// Orders an MMIO read that reported new device-written data before the
/// CPU's reads of that data.
#[inline]
pub fn dma_rmb() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        core::arch::asm!("dsb ld", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}
