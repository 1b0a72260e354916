//! Just enough PCIe for the scenarios: find QEMU's `edu` device through
//! the virt machine's ECAM, give it a BAR and let it master the bus.

use crate::timer::Deadline;

/// ECAM window of the virt machine's PCIe host bridge (the high one, used
/// when the machine has high memory, as QEMU 7.2's virt does by default).
const ECAM_BASE: usize = 0x40_1000_0000;
/// Start of the 32-bit PCIe MMIO window; the edu BAR is placed here.
const MMIO_WINDOW: u32 = 0x1000_0000;

/// QEMU's educational device.
const EDU_VENDOR: u16 = 0x1234;
const EDU_DEVICE: u16 = 0x11e8;

fn cfg_addr(bdf: u16, off: usize) -> usize {
    ECAM_BASE + ((bdf as usize) << 12) + off
}

fn cfg_read32(bdf: u16, off: usize) -> u32 {
    // SAFETY: ECAM of the virt machine; config reads have no side effects.
    unsafe { core::ptr::read_volatile(cfg_addr(bdf, off) as *const u32) }
}

fn cfg_write32(bdf: u16, off: usize, v: u32) {
    // SAFETY: ECAM of the virt machine.
    unsafe { core::ptr::write_volatile(cfg_addr(bdf, off) as *mut u32, v) }
}

/// The edu device, configured.
pub struct Edu {
    /// Requester ID (bus << 8 | device << 3 | function) = its StreamID.
    pub rid: u16,
    bar: usize,
}

/// Device address of the edu's internal DMA buffer.
pub const EDU_BUF: u64 = 0x40000;

impl Edu {
    /// Scans bus 0 for the edu device, assigns BAR0 and enables memory
    /// decoding and bus mastering.
    pub fn find() -> Option<Edu> {
        for dev in 0..32u16 {
            let bdf = dev << 3;
            let id = cfg_read32(bdf, 0);
            if id as u16 == EDU_VENDOR && (id >> 16) as u16 == EDU_DEVICE {
                cfg_write32(bdf, 0x10, MMIO_WINDOW);
                // Command: memory space (bit 1) and bus master (bit 2).
                cfg_write32(bdf, 0x04, 0x6);
                let edu = Edu {
                    rid: bdf,
                    bar: MMIO_WINDOW as usize,
                };
                return Some(edu);
            }
        }
        None
    }

    fn read32(&self, off: usize) -> u32 {
        // SAFETY: the BAR this module assigned.
        unsafe { core::ptr::read_volatile((self.bar + off) as *const u32) }
    }
    fn write32(&self, off: usize, v: u32) {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile((self.bar + off) as *mut u32, v) }
    }
    fn write64(&self, off: usize, v: u64) {
        // SAFETY: as above; the edu accepts 8-byte accesses from 0x80 up.
        unsafe { core::ptr::write_volatile((self.bar + off) as *mut u64, v) }
    }

    /// The identification register (0x010000ed for edu 1.0).
    pub fn ident(&self) -> u32 {
        self.read32(0)
    }

    /// Runs one DMA of `len` bytes (at most 4096) and waits for it, with
    /// `to_device` choosing the direction: from `iova` into the edu buffer,
    /// or from the edu buffer to `iova`. The device cannot report a failed
    /// transfer; the caller checks memory and the SMMU's events.
    pub fn dma(&self, iova: u64, len: u32, to_device: bool) -> Result<(), &'static str> {
        let (src, dst, dir) = if to_device {
            (iova, EDU_BUF, 0)
        } else {
            (EDU_BUF, iova, 2)
        };
        self.write64(0x80, src);
        self.write64(0x88, dst);
        self.write64(0x90, u64::from(len));
        self.write32(0x98, 1 | dir);
        // The edu device runs its DMA from a 100 ms (virtual time) timer.
        let deadline = Deadline::after_ms(3000);
        while self.read32(0x98) & 1 != 0 {
            if deadline.expired() {
                return Err("edu DMA did not complete within 3 s");
            }
        }
        Ok(())
    }
}
