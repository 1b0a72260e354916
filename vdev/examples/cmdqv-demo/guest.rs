//! The guest: physical memory accesses only. Loads and stores to its RAM,
//! and MMIO loads and stores through the [`GuestBus`], which traps into the
//! device's windows or reaches the VINTF page directly once the VMM
//! installed it; on top of them, its command queues (the emulated CMDQ and
//! the logical VCMDQs) as a driver fills and publishes them.

use std::sync::Arc;

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use vdev::bus::GuestBus;
use vdev::vmm::GuestMemory;

use crate::{CMDQV_BASE, SMMU_BASE};

// Guest physical layout in RAM.
pub const STRTAB: u64 = crate::RAM + 0x1_0000;
pub const CD: u64 = crate::RAM + 0x2_0000;
pub const CMDQ: u64 = crate::RAM + 0x10_0000;
pub const EVENTQ: u64 = crate::RAM + 0x11_0000;
pub const MSI: u64 = crate::RAM + 0x12_0000;
pub const VCMDQ_MEM: [u64; 2] = [crate::RAM + 0x20_0000, crate::RAM + 0x30_0000];
/// log2 of the entries of every command queue (256).
pub const LOG2Q: u32 = 8;
/// log2 of the event queue's records (32).
pub const EVENTQ_LOG2: u32 = 5;

// SMMUv3 command opcodes and fields (architecture).
pub const TLBI_NH_VA: u64 = sm::enums::CmdOpcode::TLBI_NH_VA as u64;
pub const TLBI_NH_ASID: u64 = sm::enums::CmdOpcode::TLBI_NH_ASID as u64;
pub const CFGI_STE: u64 = sm::enums::CmdOpcode::CFGI_STE as u64;
/// CMD_CFGI_ALL is CMD_CFGI_STE_RANGE with RANGE = 31.
pub const CFGI_ALL: u64 = sm::enums::CmdOpcode::CFGI_STE_RANGE as u64;
pub const CMD_SYNC: u64 = sm::enums::CmdOpcode::CMD_SYNC as u64;
pub const ATC_INV: u64 = sm::enums::CmdOpcode::ATC_INV as u64;
const SYNC_CS_IRQ: u64 = 1 << 12;

/// The guest: memory accesses only.
pub struct Guest {
    /// The physical address space: the device's windows and installed RAM.
    pub bus: GuestBus,
    /// Guest RAM (queues, tables, event records).
    pub mem: Arc<dyn GuestMemory>,
    cmdq_prod: u32,
    /// PROD of each logical VCMDQ as the guest last wrote it.
    pub vq_prod: [u32; 2],
    /// The sequence number of the last CMD_SYNC's MSI.
    pub msi_seq: u32,
}

impl Guest {
    /// A guest on `bus` with RAM `mem`, its queues empty.
    pub fn new(bus: GuestBus, mem: Arc<dyn GuestMemory>) -> Self {
        Guest {
            bus,
            mem,
            cmdq_prod: 0,
            vq_prod: [0; 2],
            msi_seq: 0,
        }
    }

    pub fn smmu_r32(&mut self, off: usize) -> u32 {
        self.bus.read32(SMMU_BASE + off as u64)
    }
    pub fn smmu_w32(&mut self, off: usize, v: u32) {
        self.bus.write32(SMMU_BASE + off as u64, v)
    }
    pub fn smmu_w64(&mut self, off: usize, v: u64) {
        self.bus.write64(SMMU_BASE + off as u64, v)
    }
    pub fn cmdqv_r32(&mut self, off: usize) -> u32 {
        self.bus.read32(CMDQV_BASE + off as u64)
    }
    pub fn cmdqv_w32(&mut self, off: usize, v: u32) {
        self.bus.write32(CMDQV_BASE + off as u64, v)
    }
    pub fn cmdqv_w64(&mut self, off: usize, v: u64) {
        self.bus.write64(CMDQV_BASE + off as u64, v)
    }
    pub fn put(&self, addr: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            if !self.mem.write(addr + 8 * i as u64, &w.to_le_bytes()) {
                println!("[guest] RAM write at {addr:#x} failed");
            }
        }
    }

    /// Writes commands into the emulated command queue and publishes them.
    pub fn cmdq_submit(&mut self, cmds: &[[u64; 2]]) -> (u32, u32) {
        let mask = (2u32 << LOG2Q) - 1;
        for c in cmds {
            let slot = u64::from(self.cmdq_prod & ((1 << LOG2Q) - 1));
            self.put(CMDQ + slot * 16, c);
            self.cmdq_prod = (self.cmdq_prod + 1) & mask;
        }
        self.smmu_w32(sm::CMDQ_PROD::OFFSET, self.cmdq_prod);
        let cons = self.smmu_r32(sm::CMDQ_CONS::OFFSET);
        (self.cmdq_prod, cons)
    }

    pub fn lvcmdq(l: usize, reg: usize) -> usize {
        reg + l * 0x80
    }

    /// Writes commands into logical VCMDQ `l` and publishes them through the
    /// VINTF page (direct once installed, trapped otherwise).
    pub fn vcmdq_submit(&mut self, l: usize, cmds: &[[u64; 2]]) -> (u32, u32) {
        let mask = (2u32 << LOG2Q) - 1;
        for c in cmds {
            let slot = u64::from(self.vq_prod[l] & ((1 << LOG2Q) - 1));
            self.put(VCMDQ_MEM[l] + slot * 16, c);
            self.vq_prod[l] = (self.vq_prod[l] + 1) & mask;
        }
        let p = cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET;
        self.cmdqv_w32(Self::lvcmdq(l, p), self.vq_prod[l]);
        // Real hardware consumes asynchronously: poll until the queue caught
        // up or stopped (the simulator is done at the first read).
        let c = Self::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET);
        let mut cons = self.cmdqv_r32(c);
        for _ in 0..1_000_000 {
            if cons & ((2 << LOG2Q) - 1) == self.vq_prod[l] || cq::VCMDQ::CONS::ERR.read(cons) != 0
            {
                break;
            }
            std::hint::spin_loop();
            cons = self.cmdqv_r32(c);
        }
        (self.vq_prod[l], cons)
    }

    pub fn sync(&mut self) -> [u64; 2] {
        self.msi_seq += 1;
        [
            CMD_SYNC | SYNC_CS_IRQ | (u64::from(self.msi_seq) << 32),
            MSI,
        ]
    }
}
