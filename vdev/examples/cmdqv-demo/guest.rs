//! The guest: physical memory accesses only. Loads and stores to its RAM,
//! and MMIO loads and stores through the [`GuestBus`], which traps into the
//! device's windows or reaches the VINTF page directly once the VMM
//! installed it; on top of them, its command queues (the emulated CMDQ and
//! the logical VCMDQs) as a driver fills and publishes them. With several
//! vSMMUs the guest's driver talks to one at a time ([`Guest::select`]),
//! each with its own structures in RAM ([`Layout`]).

use std::sync::Arc;

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use vdev::bus::GuestBus;
use vdev::smmuv3::device::Vsmmuv3;
use vdev::vmm::GuestMemory;

use crate::vmm::windows;

/// Where a vSMMU's structures are in guest RAM: vSMMU 0's at the start of
/// RAM, each further one [`Layout::span`] higher; VCMDQ `l` 1 MiB after
/// VCMDQ `l - 1`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub strtab: u64,
    pub cd: u64,
    pub cmdq: u64,
    pub eventq: u64,
    pub msi: u64,
    pub vcmdq: Vec<u64>,
}

impl Layout {
    /// Bytes of guest RAM one vSMMU with `lvcmdqs` VCMDQs takes (2 MiB
    /// aligned, the backing page).
    pub fn span(lvcmdqs: usize) -> u64 {
        (0x20_0000 + 0x10_0000 * lvcmdqs as u64).next_multiple_of(2 << 20)
    }

    /// vSMMU `k`'s structures.
    pub fn of(k: usize, lvcmdqs: usize) -> Self {
        let base = crate::RAM + Self::span(lvcmdqs) * k as u64;
        Layout {
            strtab: base + 0x1_0000,
            cd: base + 0x2_0000,
            cmdq: base + 0x10_0000,
            eventq: base + 0x11_0000,
            msi: base + 0x12_0000,
            vcmdq: (0..lvcmdqs)
                .map(|l| base + 0x20_0000 + 0x10_0000 * l as u64)
                .collect(),
        }
    }
}
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

/// The guest's driver state of one vSMMU.
struct Driver {
    cmdq_prod: u32,
    vq_prod: Vec<u32>,
    msi_seq: u32,
}

/// The guest: memory accesses only.
pub struct Guest {
    /// The physical address space: the devices' windows and installed RAM.
    pub bus: GuestBus,
    /// Guest RAM (queues, tables, event records).
    pub mem: Arc<dyn GuestMemory>,
    /// The vSMMU the driver talks to now (its index on the bus).
    pub unit: usize,
    /// Its logical VCMDQs.
    pub lvcmdqs: usize,
    /// Its structures in RAM.
    pub lay: Layout,
    /// Each vSMMU's driver state.
    drivers: Vec<Driver>,
}

impl Guest {
    /// A guest on `bus` with RAM `mem`, its queues empty, talking to vSMMU
    /// 0; each vSMMU has `lvcmdqs` VCMDQs.
    pub fn new(bus: GuestBus, mem: Arc<dyn GuestMemory>, lvcmdqs: usize) -> Self {
        let drivers = (0..bus.devices())
            .map(|_| Driver {
                cmdq_prod: 0,
                vq_prod: vec![0; lvcmdqs],
                msi_seq: 0,
            })
            .collect();
        Guest {
            bus,
            mem,
            unit: 0,
            lvcmdqs,
            lay: Layout::of(0, lvcmdqs),
            drivers,
        }
    }

    /// The driver turns to vSMMU `k`.
    pub fn select(&mut self, k: usize) {
        self.unit = k;
        self.lay = Layout::of(k, self.lvcmdqs);
    }

    /// The vSMMU the driver talks to (the VMM's view of it).
    pub fn dev(&self) -> &Vsmmuv3 {
        self.bus.device_at(self.unit).expect("selected vSMMU")
    }

    /// Likewise, mutably.
    pub fn dev_mut(&mut self) -> &mut Vsmmuv3 {
        self.bus.device_at_mut(self.unit).expect("selected vSMMU")
    }

    fn drv(&mut self) -> &mut Driver {
        &mut self.drivers[self.unit]
    }

    /// PROD of logical VCMDQ `l` as the guest last wrote it.
    pub fn vq_prod(&mut self, l: usize) -> &mut u32 {
        &mut self.drv().vq_prod[l]
    }

    /// The sequence number of the last CMD_SYNC's MSI.
    pub fn msi_seq(&self) -> u32 {
        self.drivers[self.unit].msi_seq
    }

    fn smmu(&self) -> u64 {
        windows(self.unit).0
    }
    fn cmdqv(&self) -> u64 {
        windows(self.unit).1
    }

    pub fn smmu_r32(&mut self, off: usize) -> u32 {
        self.bus.read32(self.smmu() + off as u64)
    }
    pub fn smmu_w32(&mut self, off: usize, v: u32) {
        self.bus.write32(self.smmu() + off as u64, v)
    }
    pub fn smmu_w64(&mut self, off: usize, v: u64) {
        self.bus.write64(self.smmu() + off as u64, v)
    }
    pub fn cmdqv_r32(&mut self, off: usize) -> u32 {
        self.bus.read32(self.cmdqv() + off as u64)
    }
    pub fn cmdqv_w32(&mut self, off: usize, v: u32) {
        self.bus.write32(self.cmdqv() + off as u64, v)
    }
    pub fn cmdqv_w64(&mut self, off: usize, v: u64) {
        self.bus.write64(self.cmdqv() + off as u64, v)
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
            let slot = u64::from(self.drv().cmdq_prod & ((1 << LOG2Q) - 1));
            self.put(self.lay.cmdq + slot * 16, c);
            let d = self.drv();
            d.cmdq_prod = (d.cmdq_prod + 1) & mask;
        }
        let prod = self.drv().cmdq_prod;
        self.smmu_w32(sm::CMDQ_PROD::OFFSET, prod);
        let cons = self.smmu_r32(sm::CMDQ_CONS::OFFSET);
        (prod, cons)
    }

    pub fn lvcmdq(l: usize, reg: usize) -> usize {
        reg + l * 0x80
    }

    /// Writes commands into logical VCMDQ `l` and publishes them through the
    /// VINTF page (direct once installed, trapped otherwise).
    pub fn vcmdq_submit(&mut self, l: usize, cmds: &[[u64; 2]]) -> (u32, u32) {
        let mask = (2u32 << LOG2Q) - 1;
        for c in cmds {
            let slot = u64::from(*self.vq_prod(l) & ((1 << LOG2Q) - 1));
            self.put(self.lay.vcmdq[l] + slot * 16, c);
            let p = self.vq_prod(l);
            *p = (*p + 1) & mask;
        }
        let prod = *self.vq_prod(l);
        let p = cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET;
        self.cmdqv_w32(Self::lvcmdq(l, p), prod);
        // Real hardware consumes asynchronously: poll until the queue caught
        // up or stopped (the simulator is done at the first read).
        let c = Self::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET);
        let mut cons = self.cmdqv_r32(c);
        for _ in 0..1_000_000 {
            if cons & ((2 << LOG2Q) - 1) == prod || cq::VCMDQ::CONS::ERR.read(cons) != 0 {
                break;
            }
            std::hint::spin_loop();
            cons = self.cmdqv_r32(c);
        }
        (prod, cons)
    }

    pub fn sync(&mut self) -> [u64; 2] {
        let d = self.drv();
        d.msi_seq += 1;
        let seq = d.msi_seq;
        [
            CMD_SYNC | SYNC_CS_IRQ | (u64::from(seq) << 32),
            self.lay.msi,
        ]
    }
}
