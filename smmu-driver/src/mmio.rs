//! The register access the driver needs: 32- and 64-bit reads and writes
//! at byte offsets from a device's base.
//!
//! TO BE REPLACED by the MMIO backend trait of `regmap-rt` once it exists;
//! the driver is generic over this trait so any backend (volatile on real
//! or emulated hardware, loopback into a host-side model) can drive it.

/// A register window: single accesses of exactly the requested width.
pub trait Mmio {
    /// Reads the 32-bit register at `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&mut self, offset: usize, value: u32);
    /// Reads the 64-bit register at `offset` with one 64-bit access.
    fn read64(&mut self, offset: usize) -> u64;
    /// Writes the 64-bit register at `offset` with one 64-bit access.
    fn write64(&mut self, offset: usize, value: u64);
}

/// Volatile MMIO at a fixed base address (physical == virtual, or an
/// already-mapped window).
pub struct VolatileMmio {
    base: usize,
}

impl VolatileMmio {
    /// A window at `base`.
    ///
    /// # Safety
    /// `base` must map the device's registers for as long as the value is
    /// used, and nothing else may assume that memory is ordinary RAM.
    pub unsafe fn new(base: usize) -> Self {
        VolatileMmio { base }
    }
}

impl Mmio for VolatileMmio {
    fn read32(&mut self, offset: usize) -> u32 {
        // SAFETY: the constructor's contract; volatile so each access is
        // one load of exactly this width.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }
    fn write32(&mut self, offset: usize, value: u32) {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
    fn read64(&mut self, offset: usize) -> u64 {
        // SAFETY: as above.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u64) }
    }
    fn write64(&mut self, offset: usize, value: u64) {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u64, value) }
    }
}
