//! The DMA arena: a linker-reserved region of RAM handed out, aligned, as
//! the buffers the driver and the test device use. The MMU is off, so a
//! buffer's physical address is its address.

use smmu_driver::DmaBuf;

extern "C" {
    static mut __dma_start: u8;
    static __dma_end: u8;
}

/// A bump allocator over the arena; nothing is ever freed.
pub struct Arena {
    next: usize,
    end: usize,
}

impl Arena {
    /// The whole arena. Call once.
    pub fn take() -> Arena {
        // Only the addresses of the linker symbols are used.
        let (start, end) = (
            core::ptr::addr_of_mut!(__dma_start) as usize,
            core::ptr::addr_of!(__dma_end) as usize,
        );
        Arena { next: start, end }
    }

    /// `bytes` bytes aligned to `align` (a power of two), zeroed.
    pub fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuf<'static>> {
        let start = (self.next + align - 1) & !(align - 1);
        let end = start.checked_add(bytes)?;
        if end > self.end || !bytes.is_multiple_of(8) {
            return None;
        }
        self.next = end;
        // SAFETY: the region lies in the reserved arena and is handed out
        // once; the MMU is off so its address is also its physical address.
        let mut buf = unsafe { DmaBuf::from_raw(start as *mut u64, bytes / 8, start as u64) };
        buf.zero();
        Some(buf)
    }
}
