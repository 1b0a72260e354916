//! Just enough PCIe for the scenarios: find QEMU's `edu` device through
//! the virt machine's ECAM, give it a BAR and let it master the bus.

use crate::timer::Deadline;

// Everything numeric in this module is a platform parameter, not a register
// map fact: QEMU virt's memory map, the PCI configuration header (PCI Local
// Bus spec) and QEMU's `edu` device (docs/specs/edu.rst). The project has no
// map for either, and the SMMU never sees these addresses.

/// ECAM window of the virt machine's PCIe host bridge (the high one, used
/// when the machine has high memory, as QEMU 7.2's virt does by default).
/// Platform parameter (QEMU virt's memory map).
const ECAM_BASE: usize = 0x40_1000_0000;
/// Start of the 32-bit PCIe MMIO window; the edu BAR is placed here.
/// Platform parameter (QEMU virt's memory map).
const MMIO_WINDOW: u32 = 0x1000_0000;

/// QEMU's educational device: PCI vendor ID. Platform parameter (edu).
const EDU_VENDOR: u16 = 0x1234;
/// QEMU's educational device: PCI device ID. Platform parameter (edu).
const EDU_DEVICE: u16 = 0x11e8;

/// Configuration header: Command register offset. Platform parameter (PCI).
const CFG_COMMAND: usize = 0x04;
/// Command: memory space (bit 1) and bus master (bit 2) enable. Platform
/// parameter (PCI).
const CFG_COMMAND_MEM_MASTER: u32 = 0x6;
/// Configuration header: BAR0 offset. Platform parameter (PCI).
const CFG_BAR0: usize = 0x10;

/// edu register: DMA source address. Platform parameter (edu).
const EDU_DMA_SRC: usize = 0x80;
/// edu register: DMA destination address. Platform parameter (edu).
const EDU_DMA_DST: usize = 0x88;
/// edu register: DMA transfer count. Platform parameter (edu).
const EDU_DMA_CNT: usize = 0x90;
/// edu register: DMA command (bit 0 start/busy, bit 1 direction: edu to
/// RAM). Platform parameter (edu).
const EDU_DMA_CMD: usize = 0x98;
/// edu DMA command: start; reads as set while the transfer runs.
const EDU_DMA_START: u32 = 1;
/// edu DMA command: direction from the edu buffer to RAM.
const EDU_DMA_TO_RAM: u32 = 2;
/// edu's identification register value's low byte (edu 1.0 reads
/// 0x010000ed). Platform parameter (edu).
pub const EDU_IDENT_MAGIC: u32 = 0xed;

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

/// Device address of the edu's internal DMA buffer. Platform parameter (edu).
pub const EDU_BUF: u64 = 0x40000;

impl Edu {
    /// Scans bus 0 for the edu device, assigns BAR0 and enables memory
    /// decoding and bus mastering.
    pub fn find() -> Option<Edu> {
        for dev in 0..32u16 {
            let bdf = dev << 3;
            let id = cfg_read32(bdf, 0);
            if id as u16 == EDU_VENDOR && (id >> 16) as u16 == EDU_DEVICE {
                cfg_write32(bdf, CFG_BAR0, MMIO_WINDOW);
                cfg_write32(bdf, CFG_COMMAND, CFG_COMMAND_MEM_MASTER);
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
        // SAFETY: as above; the edu accepts 8-byte accesses from EDU_DMA_SRC up.
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
            (EDU_BUF, iova, EDU_DMA_TO_RAM)
        };
        self.write64(EDU_DMA_SRC, src);
        self.write64(EDU_DMA_DST, dst);
        self.write64(EDU_DMA_CNT, u64::from(len));
        self.write32(EDU_DMA_CMD, EDU_DMA_START | dir);
        // The edu device runs its DMA from a 100 ms (virtual time) timer.
        let deadline = Deadline::after_ms(3000);
        while self.read32(EDU_DMA_CMD) & EDU_DMA_START != 0 {
            if deadline.expired() {
                return Err("edu DMA did not complete within 3 s");
            }
        }
        Ok(())
    }
}
