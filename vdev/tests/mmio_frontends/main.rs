//! The vSMMUv3 and CMDQV front ends driven the way a guest drives them:
//! register accesses through the device's MMIO windows (and through the VINTF
//! page once the VMM installed it), against the simulated Tegra241 kernel.
//! The lifecycle core's own rules are covered by `cmdqv_lifecycle.rs`; these
//! tests check that register writes reach them and that the guest sees the
//! outcome in registers.

use std::sync::Arc;

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use smmuv3_regs::structs::Words;
use vdev::backend::sim::{Fault, FaultWhen, HwCommand, SimBackend, SimGuestRam};
use vdev::backend::{Backend, Device, Ioas, NestParent, Op};
use vdev::bus::{GuestBus, Window};
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::{Lifecycle, Transition};
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, GuestMemory, MmioAdapter, MmioDevice, RecordingRegions};

mod cmdqv_window;
#[path = "../common/mod.rs"]
mod common;
mod device_faults;
mod fault_sweep;
mod lvcmdqs;
mod smmu_window;
mod vmm_bus;
mod vsmmus;

use common::{permutations, Pre, RAM, RAM_LEN};

const SMMU: u64 = 0x0900_0000;
const CMDQV: u64 = 0x0910_0000;
const VINTF_GPA: u64 = CMDQV + VINTF0_PAGE0;
const STRTAB: u64 = RAM + 0x1_0000;
const CMDQ: u64 = RAM + 0x4_0000;
const QMEM: [u64; 2] = [RAM + 0x10_0000, RAM + 0x20_0000];
const LOG2: u32 = 8;
const VSIDS: [u32; 2] = [0x10, 0x11];

struct Rig {
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    regions: Arc<RecordingRegions>,
    devs: Vec<Arc<Device>>,
    bus: GuestBus,
    cmdqv_irq: Arc<CountingIrq>,
    gerror_irq: Arc<CountingIrq>,
    eventq_irq: Arc<CountingIrq>,
    /// Live objects that are not the device's (IOAS, nesting parent, bound devices).
    baseline: usize,
}

fn rig() -> Rig {
    rig_n(vdev::cmdqv::lifecycle::NUM_LVCMDQS)
}

/// [`rig`] with `n` logical VCMDQs (the host has as many per VINTF).
fn rig_n(n: usize) -> Rig {
    let common::Host {
        sim,
        ram,
        regions,
        devs,
        lc,
        baseline,
    } = common::host_with_lvcmdqs(VINTF_GPA, n);
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
    let info = host_smmuv3_info(&devs[0]).unwrap();
    let cmdqv_irq = Arc::new(CountingIrq::new());
    let gerror_irq = Arc::new(CountingIrq::new());
    let eventq_irq = Arc::new(CountingIrq::new());
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: true,
        irqs: Irqs {
            gerror: gerror_irq.clone(),
            eventq: eventq_irq.clone(),
            cmdqv: cmdqv_irq.clone(),
        },
    };
    let dev = Vsmmuv3::new(core, &info, cfg).unwrap();
    let bus = GuestBus::new(dev, regions.clone(), SMMU, CMDQV);
    Rig {
        sim,
        ram,
        regions,
        devs,
        bus,
        cmdqv_irq,
        gerror_irq,
        eventq_irq,
        baseline,
    }
}

fn lv(l: usize, off: usize) -> u64 {
    CMDQV + (off + 0x80 * l) as u64
}

fn q(qi: usize, off: usize) -> u64 {
    CMDQV + (off + 0x80 * qi) as u64
}

impl Rig {
    fn plug_all(&mut self) {
        for (i, v) in VSIDS.iter().enumerate() {
            let d = self.devs[i].clone();
            self.bus.device_mut().plug(&d, *v).unwrap();
        }
    }
    fn viommu(&self) -> u32 {
        self.bus.device().core().lc.viommu().unwrap().id()
    }
    fn allocated(&self, l: usize) -> bool {
        self.bus.device().core().lc.queue_allocated(l)
    }
    fn cmdqv_en(&mut self, on: bool) {
        self.bus
            .write32(CMDQV + cq::CONFIG::OFFSET as u64, u32::from(on));
    }
    fn vintf_en(&mut self, on: bool) {
        self.bus
            .write32(CMDQV + cq::VINTF::CONFIG::OFFSET as u64, u32::from(on));
    }
    fn alloc(&mut self, qi: usize, l: usize, on: bool) {
        let v = cq::CMDQ_ALLOC_MAP::ALLOC.val(u32::from(on)).value
            | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(l as u32).value;
        self.bus
            .write32(CMDQV + (cq::CMDQ_ALLOC_MAP::OFFSET + 4 * qi) as u64, v);
    }
    fn base(&mut self, qi: usize, addr: u64) {
        self.bus
            .write64(q(qi, cq::VCMDQ_PAGE1::BASE::OFFSET), addr | u64::from(LOG2));
    }
    /// The guest's part of a bring-up: CMDQV on (its reset value), both
    /// queues mapped with a BASE, VINTF on.
    fn enable_queues(&mut self) {
        self.cmdqv_en(true);
        for (i, mem) in QMEM.iter().enumerate() {
            self.alloc(i, i, true);
            self.base(i, *mem);
        }
        self.vintf_en(true);
    }
    /// [`Rig::enable_queues`] with the devices plugged: both queues come up.
    fn bring_up(&mut self) {
        self.enable_queues();
        assert!(self.allocated(0) && self.allocated(1));
    }
    /// Writes commands into the queue of 2^LOG2 entries at `queue` from
    /// `prod` on, advancing `prod` (its wrap bit included); publishes nothing.
    fn put_cmds(&self, queue: u64, prod: &mut u32, cmds: &[[u64; 2]]) {
        for c in cmds {
            let slot = u64::from(*prod & ((1 << LOG2) - 1));
            assert!(self.ram.write_u64(queue + slot * 16, c[0]));
            assert!(self.ram.write_u64(queue + slot * 16 + 8, c[1]));
            *prod = (*prod + 1) & ((2 << LOG2) - 1);
        }
    }
    /// Puts commands into logical queue `l`'s memory and publishes them.
    fn vsubmit(&mut self, l: usize, prod: &mut u32, cmds: &[[u64; 2]]) -> u32 {
        self.put_cmds(QMEM[l], prod, cmds);
        self.bus
            .write32(lv(l, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET), *prod);
        self.bus
            .read32(lv(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET))
    }
    fn init_err(&mut self, qi: usize) -> bool {
        let ge = self.bus.read32(q(qi, cq::VCMDQ::GERROR::OFFSET));
        let gn = self.bus.read32(q(qi, cq::VCMDQ::GERRORN::OFFSET));
        cq::fieldsets::VcmdqErrors::CMDQ_INIT_ERR.read(ge ^ gn) == 1
    }
    fn finish(mut self) {
        let t = self.bus.device_mut().teardown();
        assert_eq!(t.last(), Some(&Transition::TornDown));
        assert_eq!(
            self.sim.live_objects(),
            self.baseline,
            "kernel objects leaked"
        );
        assert_eq!(self.sim.live_mappings(), 0, "mapping leaked");
        assert!(self.regions.installed().is_empty(), "region left installed");
    }
}
