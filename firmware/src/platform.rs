//! The scenarios' platform under QEMU: the virt machine's SMMUv3 window,
//! the linker-reserved DMA arena, and the edu PCIe device as the DMA
//! master; and the recorder that prints what they observed on the UART.

use crate::arena::Arena;
use crate::pci::{Edu, EDU_IDENT_MAGIC};
use smmu_driver::scenarios::{write_outcome, write_value, Fail, Outcome, Platform, Recorder};
use smmu_driver::{DmaBuf, VolatileMmio};

/// Base of QEMU virt's SMMUv3 (`VIRT_SMMU`: page 0 and page 1). Platform
/// parameter, not a map fact: the window's length and every register offset
/// inside it come from `smmuv3-regs` (through `smmu_driver`).
const SMMU_BASE: usize = 0x0905_0000;

/// QEMU's virt machine as a scenario platform.
pub struct Qemu {
    arena: Arena,
    edu: Option<Edu>,
}

impl Qemu {
    /// The machine; call once (it takes the whole DMA arena).
    pub fn take() -> Qemu {
        Qemu {
            arena: Arena::take(),
            edu: None,
        }
    }

    fn edu(&self) -> Result<&Edu, Fail> {
        self.edu.as_ref().ok_or(Fail::Msg("no edu device"))
    }
}

impl Platform for Qemu {
    type Mmio = VolatileMmio;

    fn smmu_mmio(&mut self) -> VolatileMmio {
        let len = smmu_driver::smmuv3_regs::WINDOW_SIZE;
        // SAFETY: the virt machine's SMMUv3 register window (page 0 and 1:
        // the map's WINDOW_SIZE, 128 KiB), 64 KiB-aligned device memory with
        // the MMU off; nothing else in the firmware accesses it, and the
        // scenarios ask for it once per run.
        unsafe { VolatileMmio::new(SMMU_BASE as *mut u8, len) }
    }

    fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuf<'static>> {
        self.arena.alloc(bytes, align)
    }

    fn find_dma_master(&mut self) -> Option<u32> {
        let edu = Edu::find()?;
        // edu 1.0 identifies itself as 0x010000ed: the low byte is the magic.
        if edu.ident() & 0xff != EDU_IDENT_MAGIC {
            return None;
        }
        let rid = edu.rid;
        self.edu = Some(edu);
        Some(rid.into())
    }

    fn dma_read(&mut self, addr: u64, len: u32) -> Result<(), Fail> {
        self.edu()?.dma(addr, len, true).map_err(Fail::Msg)
    }

    fn dma_write(&mut self, addr: u64, len: u32) -> Result<(), Fail> {
        self.edu()?.dma(addr, len, false).map_err(Fail::Msg)
    }
}

/// Prints each observed value and verdict as one line on the UART (the
/// format `tests/firmware/run` collects and compares).
pub struct Console;

impl Recorder for Console {
    fn value(&mut self, scenario: &'static str, key: &[&str], value: u64) {
        let _ = write_value(&mut crate::uart::Uart, scenario, key, value);
    }

    fn outcome(&mut self, scenario: &'static str, outcome: &Outcome) {
        let _ = write_outcome(&mut crate::uart::Uart, scenario, outcome);
    }
}
