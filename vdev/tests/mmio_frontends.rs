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
use vdev::backend::sim::{Fault, FaultWhen, SimBackend, SimGuestRam};
use vdev::backend::{Backend, Device, Ioas, NestParent, Op};
use vdev::bus::{GuestBus, Window};
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::{Lifecycle, Transition};
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, MmioAdapter, MmioDevice, RecordingRegions};

mod common;

use common::{RAM, RAM_LEN};

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
    let common::Host {
        sim,
        ram,
        regions,
        devs,
        lc,
        baseline,
    } = common::host(VINTF_GPA);
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
    fn bring_up(&mut self) {
        self.cmdqv_en(true);
        for (i, mem) in QMEM.iter().enumerate() {
            self.alloc(i, i, true);
            self.base(i, *mem);
        }
        self.vintf_en(true);
        assert!(self.allocated(0) && self.allocated(1));
    }
    /// Puts commands into logical queue `l`'s memory and publishes them.
    fn vsubmit(&mut self, l: usize, prod: &mut u32, cmds: &[[u64; 2]]) -> u32 {
        for c in cmds {
            let slot = u64::from(*prod & ((1 << LOG2) - 1));
            assert!(self.ram.write_u64(QMEM[l] + slot * 16, c[0]));
            assert!(self.ram.write_u64(QMEM[l] + slot * 16 + 8, c[1]));
            *prod = (*prod + 1) & ((2 << LOG2) - 1);
        }
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

#[derive(Clone, Copy, Debug)]
enum Pre {
    Base,
    Alloc,
    CmdqvEn,
    VintfEn,
}

fn permutations(items: &[Pre]) -> Vec<Vec<Pre>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

fn apply(r: &mut Rig, p: Pre) {
    match p {
        Pre::Base => r.base(0, QMEM[0]),
        Pre::Alloc => r.alloc(0, 0, true),
        Pre::CmdqvEn => r.cmdqv_en(true),
        Pre::VintfEn => r.vintf_en(true),
    }
}

#[test]
fn all_24_orders_of_register_writes_allocate_at_the_last() {
    let orders = permutations(&[Pre::Base, Pre::Alloc, Pre::CmdqvEn, Pre::VintfEn]);
    assert_eq!(orders.len(), 24);
    for order in orders {
        let mut r = rig();
        r.plug_all();
        let viommu = r.viommu();
        // Registers written before the queue exists are cached and restored.
        r.bus.write32(q(0, cq::VCMDQ::PROD::OFFSET), 0);
        r.bus.write32(q(0, cq::VCMDQ::CONFIG::OFFSET), 1);
        for (k, p) in order.iter().enumerate() {
            apply(&mut r, *p);
            let last = k == order.len() - 1;
            assert_eq!(r.allocated(0), last, "{order:?} step {k}");
            let vintf_on = order[..=k].iter().any(|p| matches!(p, Pre::VintfEn));
            assert_eq!(
                r.regions.installed().iter().any(|(g, _)| *g == VINTF_GPA),
                vintf_on,
                "{order:?} step {k}"
            );
            let st = r.bus.read32(CMDQV + cq::VINTF::STATUS::OFFSET as u64);
            assert_eq!(cq::VINTF::STATUS::ENABLE_OK.read(st) == 1, vintf_on);
        }
        assert!(!r.init_err(0), "{order:?}");
        let snap = r.sim.vintf(viommu).unwrap();
        assert_eq!(snap.queues[0].map(|q| (q.1 != 0, q.2)), Some((true, LOG2)));
        // The cached CONFIG.CMDQ_EN reached the page: the queue runs.
        assert_eq!(
            r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::STATUS::OFFSET)),
            1,
            "{order:?}"
        );
        let mut prod = 0;
        let cons = r.vsubmit(0, &mut prod, &[[0x11, 0], [0x46, 0]]);
        assert_eq!(cons, 2, "{order:?}");
        r.finish();
    }
}

#[test]
fn base_written_in_halves_counts_once_the_upper_half_is_written() {
    let mut r = rig();
    r.plug_all();
    r.cmdqv_en(true);
    r.alloc(0, 0, true);
    r.vintf_en(true);
    let off = q(0, cq::VCMDQ_PAGE1::BASE::OFFSET);
    let v = QMEM[0] | u64::from(LOG2);
    r.bus.write32(off, v as u32);
    assert!(!r.allocated(0), "lower half alone must not allocate");
    r.bus.write32(off + 4, (v >> 32) as u32);
    assert!(r.allocated(0));
    r.finish();
}

#[test]
fn failure_at_each_backend_call_is_init_err_or_plug_error_without_leak() {
    let ops = [
        Op::GetHwInfo,
        Op::ViommuAlloc,
        Op::Mmap,
        Op::VeventqAlloc,
        Op::VdeviceAlloc,
        Op::HwQueueAlloc,
        Op::HwptAlloc,
        Op::Kick,
        Op::VeventqRead,
    ];
    for op in ops {
        let mut r = rig();
        r.sim.inject(Fault {
            op: Some(op),
            when: FaultWhen::Nth(1),
            errno: libc::ENOMEM,
        });
        let d0 = r.devs[0].clone();
        let plugged = r.bus.device_mut().plug(&d0, VSIDS[0]);
        let bind_op = matches!(
            op,
            Op::GetHwInfo | Op::ViommuAlloc | Op::Mmap | Op::VeventqAlloc | Op::VdeviceAlloc
        );
        assert_eq!(plugged.is_err(), bind_op, "{op:?}: {plugged:?}");
        r.cmdqv_en(true);
        r.alloc(0, 0, true);
        r.base(0, QMEM[0]);
        r.vintf_en(true);
        let vintf_bound = r.bus.device().core().lc.page().is_some();
        match op {
            // Nothing bound (or bound, but queue 0's allocation failed): the
            // guest sees CMDQ_INIT_ERR and the error maps, never a hang.
            Op::GetHwInfo | Op::ViommuAlloc | Op::Mmap | Op::VeventqAlloc | Op::HwQueueAlloc => {
                assert!(!r.allocated(0), "{op:?}");
                assert!(r.init_err(0), "{op:?}: CMDQ_INIT_ERR not visible");
                let map = r.bus.read32(CMDQV + cq::CMDQ_ERR_MAP::OFFSET as u64);
                assert_eq!(map & 1, 1, "{op:?}");
                assert!(r.cmdqv_irq.edges() >= 1, "{op:?}");
            }
            // The vDEVICE failed after the vIOMMU was bound: queues still work.
            Op::VdeviceAlloc => {
                assert!(vintf_bound);
                assert!(r.allocated(0));
                assert!(!r.bus.device().core().lc.has_vdevice(VSIDS[0]));
            }
            _ => assert!(r.allocated(0), "{op:?}"),
        }
        // A retry after the fault (the guest rewrites a precondition; the
        // VMM re-plugs after a failed plug) brings the queue up.
        if bind_op {
            r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
        }
        let gerror = r.bus.read32(q(0, cq::VCMDQ::GERROR::OFFSET));
        r.base(0, QMEM[0]);
        assert!(r.allocated(0), "{op:?}: retry did not allocate");
        // The guest acknowledges what it saw; the live queue has no error.
        r.bus.write32(q(0, cq::VCMDQ::GERRORN::OFFSET), gerror);
        assert!(!r.init_err(0), "{op:?}");
        let map = r.bus.read32(CMDQV + cq::CMDQ_ERR_MAP::OFFSET as u64);
        assert_eq!(map, 0, "{op:?}: error map after the acknowledgement");
        let mut prod = 0;
        r.bus
            .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
        assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 1, "{op:?}");
        r.finish();
    }
}

#[test]
fn any_call_failing_in_turn_never_panics_or_leaks() {
    for n in 1..=24u64 {
        let mut r = rig();
        r.sim.inject(Fault {
            op: None,
            when: FaultWhen::Nth(n),
            errno: libc::EIO,
        });
        let _ = {
            let d0 = r.devs[0].clone();
            r.bus.device_mut().plug(&d0, VSIDS[0])
        };
        r.cmdqv_en(true);
        for (i, mem) in QMEM.iter().enumerate() {
            r.alloc(i, i, true);
            r.base(i, *mem);
        }
        r.vintf_en(true);
        let mut prod = 0;
        r.bus
            .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
        let _ = r.vsubmit(0, &mut prod, &[[0x03, 0]]);
        r.sim.clear_faults();
        r.finish();
    }
}

#[test]
fn vintf_disable_saves_queue_state_and_reenable_restores_it() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    assert_eq!(
        r.vsubmit(0, &mut prod, &[[0x11, 0], [0x11, 0], [0x46, 0]]),
        3
    );
    assert_eq!(r.regions.installed().len(), 1);
    r.vintf_en(false);
    assert!(!r.allocated(0) && !r.allocated(1));
    assert!(r.regions.installed().is_empty());
    // Trapped now, served from the cache: the state the queue had.
    assert_eq!(
        r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)),
        3
    );
    assert_eq!(r.bus.read32(q(0, cq::VCMDQ::PROD::OFFSET)), 3);
    let st = r.bus.read32(CMDQV + cq::VINTF::STATUS::OFFSET as u64);
    assert_eq!(cq::VINTF::STATUS::ENABLE_OK.read(st), 0);
    r.vintf_en(true);
    assert!(r.allocated(0) && r.allocated(1));
    assert_eq!(r.regions.counts(), (2, 1));
    // The page got the cached indices back and the queue continues.
    assert_eq!(
        r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)),
        3
    );
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 4);
    r.finish();
}

#[test]
fn reset_mid_flight_frees_queues_and_the_guest_can_start_over() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    let viommu = r.viommu();
    // Commands published on a disabled queue: nothing consumed yet.
    let mut prod = 0;
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x11, 0], [0x46, 0]]), 0);
    let before = r.sim.live_objects();
    r.bus.device_mut().reset();
    assert_eq!(r.sim.live_objects(), before - 2, "both HW queues freed");
    assert!(r.regions.installed().is_empty());
    assert!(r
        .sim
        .vintf(viommu)
        .unwrap()
        .queues
        .iter()
        .all(|q| q.is_none()));
    assert_eq!(
        r.bus.read32(CMDQV + cq::CONFIG::OFFSET as u64),
        cq::CONFIG::RESET
    );
    assert_eq!(
        r.bus.read32(CMDQV + cq::CMDQ_ALLOC_MAP::OFFSET as u64),
        0,
        "registers back to reset"
    );
    assert_eq!(r.bus.read32(SMMU + sm::CR0::OFFSET as u64), 0);
    assert!(
        r.bus.device().core().lc.has_vdevice(VSIDS[1]),
        "devices stay plugged"
    );
    // The guest starts over.
    r.bring_up();
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 1);
    r.finish();
}

#[test]
fn unplug_with_live_queues_frees_the_vdevice_only() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    let viommu = r.viommu();
    let matched = |r: &Rig| {
        r.sim
            .vintf(viommu)
            .unwrap()
            .sid_match
            .iter()
            .filter(|m| *m & 1 != 0)
            .count()
    };
    assert_eq!(matched(&r), 2);
    let before = r.sim.live_objects();
    let t = r.bus.device_mut().unplug(VSIDS[1]);
    assert!(t.contains(&Transition::VdeviceFreed { vsid: VSIDS[1] }));
    assert_eq!(matched(&r), 1);
    assert!(r.sim.live_objects() < before);
    assert!(r.allocated(0) && r.allocated(1));
    // ATC_INV for the unplugged vSID is now illegal on the VCMDQ; the
    // remaining device's works.
    r.bus
        .write32(lv(1, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    let atc = |sid: u32| [0x40 | (u64::from(sid) << 32), 0];
    assert_eq!(r.vsubmit(1, &mut prod, &[atc(VSIDS[0]), [0x46, 0]]), 2);
    let cons = r.vsubmit(1, &mut prod, &[atc(VSIDS[1])]);
    assert_eq!(cq::VCMDQ::CONS::ERR.read(cons), 1);
    r.finish();
}

#[test]
fn illegal_command_on_a_vcmdq_recovers_through_both_apertures() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    let cons = r.vsubmit(0, &mut prod, &[[0x11, 0], [0x03, 0], [0x46, 0]]);
    assert_eq!(cq::VCMDQ::CONS::INDEX.read(cons), 1);
    assert_eq!(cq::VCMDQ::CONS::ERR.read(cons), 1, "CERROR_ILL");
    // The trapped direct aperture of global VCMDQ 0 reaches the same page.
    let gerror = r.bus.read32(q(0, cq::VCMDQ::GERROR::OFFSET));
    assert_eq!(gerror & 1, 1);
    assert_eq!(r.bus.read32(q(0, cq::VCMDQ::CONS::OFFSET)), cons);
    assert_eq!(r.cmdqv_irq.edges(), 1);
    let lmap = r
        .bus
        .read32(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64);
    assert_eq!(lmap, 1);
    assert_eq!(r.bus.read32(CMDQV + cq::VINTF_ERR_MAP::OFFSET as u64), 1);
    // Skip the bad command and acknowledge through the trapped aperture.
    assert!(r.ram.write_u64(QMEM[0] + 16, 0x46));
    r.bus.write32(q(0, cq::VCMDQ::GERRORN::OFFSET), gerror);
    assert_eq!(r.bus.read32(q(0, cq::VCMDQ::CONS::OFFSET)), 3);
    assert_eq!(
        r.bus
            .read32(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64),
        0
    );
    // A second error, acknowledged through the installed page this time,
    // with the VINTF interrupt masked.
    r.bus.write32(CMDQV + cq::VINTF_INT_MASK::OFFSET as u64, 1);
    let cons = r.vsubmit(0, &mut prod, &[[0x13, 0]]);
    assert_eq!(cq::VCMDQ::CONS::ERR.read(cons), 1);
    assert_eq!(r.cmdqv_irq.edges(), 1, "VI_INT_MASK masks the interrupt");
    let gerror = r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::GERROR::OFFSET));
    assert!(r.ram.write_u64(QMEM[0] + 3 * 16, 0x46));
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::GERRORN::OFFSET), gerror);
    assert_eq!(
        r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)),
        4
    );
    r.finish();
}

fn cmdq_put(r: &Rig, prod: &mut u32, cmds: &[[u64; 2]]) {
    for c in cmds {
        let slot = u64::from(*prod & ((1 << LOG2) - 1));
        assert!(r.ram.write_u64(CMDQ + slot * 16, c[0]));
        assert!(r.ram.write_u64(CMDQ + slot * 16 + 8, c[1]));
        *prod = (*prod + 1) & ((2 << LOG2) - 1);
    }
}

#[test]
fn illegal_command_on_the_emulated_cmdq_stops_it_until_gerrorn() {
    let mut r = rig();
    r.plug_all();
    let s = |o: usize| SMMU + o as u64;
    r.bus
        .write64(s(sm::CMDQ_BASE::OFFSET), CMDQ | u64::from(LOG2));
    r.bus.write32(s(sm::IRQ_CTRL::OFFSET), 1);
    r.bus
        .write32(s(sm::CR0::OFFSET), sm::CR0::CMDQEN.val(1).value);
    assert_eq!(
        r.bus.read32(s(sm::CR0ACK::OFFSET)),
        sm::CR0::CMDQEN.val(1).value
    );
    let mut prod = 0;
    cmdq_put(
        &r,
        &mut prod,
        &[[0x12 | (1 << 48), 0], [0x7f, 0], [0x46, 0]],
    );
    r.bus.write32(s(sm::CMDQ_PROD::OFFSET), prod);
    let cons = r.bus.read32(s(sm::CMDQ_CONS::OFFSET));
    assert_eq!(sm::CMDQ_CONS::RD.read(cons), 1);
    assert_eq!(sm::CMDQ_CONS::ERR.read(cons), 1, "CERROR_ILL");
    let gerror = r.bus.read32(s(sm::GERROR::OFFSET));
    assert_eq!(sm::GERROR::CMDQ_ERR.read(gerror), 1);
    assert_eq!(r.gerror_irq.edges(), 1);
    // Stopped: more commands wait; CONS cannot be moved while enabled.
    cmdq_put(&r, &mut prod, &[[0x46, 0]]);
    r.bus.write32(s(sm::CMDQ_PROD::OFFSET), prod);
    assert_eq!(r.bus.read32(s(sm::CMDQ_CONS::OFFSET)), cons);
    r.bus.write32(s(sm::CMDQ_CONS::OFFSET), 0);
    assert_eq!(r.bus.read32(s(sm::CMDQ_CONS::OFFSET)), cons);
    // Fix the command, acknowledge: the queue drains.
    assert!(r.ram.write_u64(CMDQ + 16, 0x46));
    r.bus.write32(s(sm::GERRORN::OFFSET), gerror);
    assert_eq!(r.bus.read32(s(sm::CMDQ_CONS::OFFSET)), prod);
    assert_eq!(r.bus.device().stats().cmdq_resumes, 1);
    r.finish();
}

#[test]
fn smmu_registers_follow_the_architecture() {
    let mut r = rig();
    r.plug_all();
    let s = |o: usize| SMMU + o as u64;
    // ID registers: stage 1 only, CMDQS capped by the 2 MiB backing page.
    let idr0 = r.bus.read32(s(sm::IDR0::OFFSET));
    assert_eq!(sm::IDR0::S1P.read(idr0), 1);
    assert_eq!(sm::IDR0::S2P.read(idr0), 0);
    let idr1 = r.bus.read32(s(sm::IDR1::OFFSET));
    assert_eq!(sm::IDR1::CMDQS.read(idr1), 17);
    // CMDQ_BASE LOG2SIZE is clamped to CMDQS.
    r.bus.write64(s(sm::CMDQ_BASE::OFFSET), CMDQ | 0x1f);
    let b = r.bus.read64(s(sm::CMDQ_BASE::OFFSET));
    assert_eq!(sm::CMDQ_BASE::LOG2SIZE.read(b), 17);
    // GBPA: attributes change only with UPDATE, which reads back as done.
    let abort = sm::GBPA::ABORT.val(1).value;
    r.bus.write32(s(sm::GBPA::OFFSET), abort);
    assert_eq!(sm::GBPA::ABORT.read(r.bus.read32(s(sm::GBPA::OFFSET))), 0);
    assert_eq!(
        r.bus.device().core().attachment(VSIDS[0]),
        Some(vdev::smmuv3::strtab::Attach::Bypass)
    );
    r.bus
        .write32(s(sm::GBPA::OFFSET), abort | sm::GBPA::UPDATE.val(1).value);
    let g = r.bus.read32(s(sm::GBPA::OFFSET));
    assert_eq!((sm::GBPA::ABORT.read(g), sm::GBPA::UPDATE.read(g)), (1, 0));
    assert_eq!(
        r.bus.device().core().attachment(VSIDS[0]),
        Some(vdev::smmuv3::strtab::Attach::Abort)
    );
    // IRQ_CTRL is acknowledged at once.
    r.bus.write32(s(sm::IRQ_CTRL::OFFSET), 5);
    assert_eq!(r.bus.read32(s(sm::IRQ_CTRLACK::OFFSET)), 5);
    // The stream table latches while SMMUEN is 0 and is ignored after.
    assert!(r
        .ram
        .write_u64(STRTAB + u64::from(VSIDS[0]) * 64, 1 | (0b100 << 1)));
    r.bus.write64(s(sm::STRTAB_BASE::OFFSET), STRTAB);
    r.bus.write32(s(sm::STRTAB_BASE_CFG::OFFSET), 8);
    r.bus.write32(s(sm::CR0::OFFSET), 1);
    assert_eq!(r.bus.read32(s(sm::CR0ACK::OFFSET)), 1);
    assert_eq!(
        r.bus.device().core().attachment(VSIDS[0]),
        Some(vdev::smmuv3::strtab::Attach::Bypass)
    );
    assert_eq!(
        r.bus.device().core().attachment(VSIDS[1]),
        Some(vdev::smmuv3::strtab::Attach::Abort)
    );
    r.bus.write64(s(sm::STRTAB_BASE::OFFSET), STRTAB + 0x1000);
    assert_eq!(r.bus.read64(s(sm::STRTAB_BASE::OFFSET)), STRTAB);
    // Undefined offsets and sizes read as zero and ignore writes.
    r.bus.write32(s(0x1234), 0xffff_ffff);
    assert_eq!(r.bus.read32(s(0x1234)), 0);
    let mut odd = [0xaau8; 3];
    r.bus
        .device_mut()
        .smmu_read(sm::CR0::OFFSET as u64, &mut odd);
    assert_eq!(odd, [0; 3]);
    assert!(r.bus.device().save_state().is_err());
    assert!(r.bus.device_mut().restore_state(&[]).is_err());
    r.finish();
}

#[test]
fn cmdqv_registers_outside_the_model_and_hyp_own() {
    let mut r = rig();
    r.plug_all();
    // HYP_OWN never sticks; VMID does.
    let cfg = cq::VINTF::CONFIG::HYP_OWN.val(1).value | cq::VINTF::CONFIG::VMID.val(7).value;
    r.bus.write32(CMDQV + cq::VINTF::CONFIG::OFFSET as u64, cfg);
    let v = r.bus.read32(CMDQV + cq::VINTF::CONFIG::OFFSET as u64);
    assert_eq!(cq::VINTF::CONFIG::HYP_OWN.read(v), 0);
    assert_eq!(cq::VINTF::CONFIG::VMID.read(v), 7);
    // VINTF 1, VCMDQ 2 and their mappings do not exist in the model.
    let vintf1 = CMDQV + cq::VINTF::CONFIG::OFFSET as u64 + 0x100;
    r.bus.write32(vintf1, 1);
    assert_eq!(r.bus.read32(vintf1), 0);
    let map2 = CMDQV + cq::CMDQ_ALLOC_MAP::OFFSET as u64 + 8;
    r.bus.write32(map2, 1);
    assert_eq!(r.bus.read32(map2), 0);
    r.bus.write32(q(2, cq::VCMDQ::PROD::OFFSET), 5);
    assert_eq!(r.bus.read32(q(2, cq::VCMDQ::PROD::OFFSET)), 0);
    assert_eq!(r.bus.read32(CMDQV + 0x5_0000), 0);
    // An unmapped logical VCMDQ reads as zero.
    r.bus
        .write32(lv(1, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET), 9);
    assert_eq!(
        r.bus.read32(lv(1, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET)),
        0
    );
    r.finish();
}

#[test]
fn hostile_mmio_never_panics_or_leaks() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    // A small xorshift: deterministic, covers both windows with every size.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let v = next();
        let size = [1usize, 2, 3, 4, 8, 16][(v % 6) as usize];
        let off = (v >> 8) % 0x5_2000;
        let val = next();
        let bytes = val.to_le_bytes();
        let mut data = vec![0u8; size];
        if v & 1 == 0 {
            r.bus.device_mut().cmdqv_write(off, &bytes[..size.min(8)]);
            r.bus.device_mut().cmdqv_read(off, &mut data);
        } else {
            // Keep the SMMU enabled-state changes but avoid turning the
            // test into a stream-table walk of random memory.
            r.bus
                .device_mut()
                .smmu_write(off % 0x2_0000, &bytes[..size.min(8)]);
            r.bus.device_mut().smmu_read(off % 0x2_0000, &mut data);
        }
    }
    r.finish();
}

#[test]
fn windows_plug_into_a_vm_device_bus() {
    use vm_device::bus::MmioAddress;
    use vm_device::MutDeviceMmio;
    let mut r = rig();
    r.plug_all();
    let Rig {
        sim, bus, baseline, ..
    } = r;
    let shared = Arc::new(std::sync::Mutex::new(bus.into_device()));
    let (smmu, cmdqv) = Window::pair(&shared);
    let mut smmu = MmioAdapter::new(smmu);
    let mut cmdqv = MmioAdapter::new(cmdqv);
    let base = MmioAddress(SMMU);
    smmu.mmio_write(base, sm::IRQ_CTRL::OFFSET as u64, &3u32.to_le_bytes());
    let mut b = [0u8; 4];
    MutDeviceMmio::mmio_read(&mut smmu, base, sm::IRQ_CTRLACK::OFFSET as u64, &mut b);
    assert_eq!(u32::from_le_bytes(b), 3);
    MutDeviceMmio::mmio_read(
        &mut cmdqv,
        MmioAddress(CMDQV),
        cq::PARAM::OFFSET as u64,
        &mut b,
    );
    assert_eq!(u32::from_le_bytes(b), cq::PARAM::RESET);
    {
        let mut dev = shared.lock().unwrap();
        let mut view = dev.cmdqv_window();
        view.mmio_write(cq::CONFIG::OFFSET as u64, &1u32.to_le_bytes());
        MmioDevice::mmio_read(&mut view, cq::STATUS::OFFSET as u64, &mut b);
        assert_eq!(u32::from_le_bytes(b), 1, "STATUS.CMDQV_ENABLED follows");
    }
    drop((smmu, cmdqv));
    // The last handle releases everything, down to the nesting parent and
    // IOAS the device held last: only the two bound devices remain.
    drop(shared);
    assert_eq!(sim.live_objects(), baseline - 2);
    assert_eq!(sim.live_mappings(), 0);
}

#[test]
fn the_device_can_live_behind_a_vmm_bus_lock() {
    fn send<T: Send>() {}
    send::<Vsmmuv3>();
    send::<Window>();
}

#[test]
fn event_records_reach_the_guest_event_queue_with_overflow() {
    let r = rig();
    const EVQ: u64 = RAM + 0x8_0000;
    let eventq_irq = Arc::new(CountingIrq::new());
    // Rebuild the device with an event queue interrupt the test can see.
    let info = host_smmuv3_info(&r.devs[0]).unwrap();
    let b: Arc<dyn Backend> = Arc::new(r.sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, RAM_LEN, 0).unwrap();
    let parent = NestParent::new(&r.devs[1], &ioas).unwrap();
    let lc =
        Lifecycle::new(b, parent, r.regions.clone(), VINTF_GPA).with_kick(Arc::new(r.sim.clone()));
    let core = SmmuCore::new(lc, Arc::new(r.sim.clone()), r.ram.clone());
    let irqs = Irqs {
        gerror: r.gerror_irq.clone(),
        eventq: eventq_irq.clone(),
        cmdqv: r.cmdqv_irq.clone(),
    };
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: false,
        irqs,
    };
    let mut dev = Vsmmuv3::new(core, &info, cfg).unwrap();
    let rec = [0x10, 0x42, 0, 0];
    assert!(!dev.push_event(&rec), "event queue disabled: record lost");
    let w32 = |d: &mut Vsmmuv3, o: usize, v: u32| d.mmio_write(o as u64, &v.to_le_bytes());
    dev.mmio_write(sm::EVENTQ_BASE::OFFSET as u64, &(EVQ | 1).to_le_bytes());
    w32(&mut dev, sm::IRQ_CTRL::OFFSET, 4);
    w32(&mut dev, sm::CR0::OFFSET, sm::CR0::EVENTQEN.val(1).value);
    assert!(dev.push_event(&rec));
    assert!(dev.push_event(&rec));
    assert_eq!(eventq_irq.edges(), 2);
    assert_eq!(r.ram.read_u64(EVQ + 32), Some(0x10));
    // Two entries, both full: the third is lost and PROD.OVFLG toggles.
    assert!(!dev.push_event(&rec));
    let mut b4 = [0u8; 4];
    dev.mmio_read(sm::EVENTQ_PROD::OFFSET as u64, &mut b4);
    let prod = u32::from_le_bytes(b4);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1);
    // The guest consumes both and acknowledges the overflow.
    w32(&mut dev, sm::EVENTQ_CONS::OFFSET, prod);
    assert!(dev.push_event(&rec));
    assert_eq!(dev.stats().events, 3);
    assert_eq!(dev.stats().events_lost, 2);
    drop(dev);
    drop(ioas);
    r.finish();
}

#[test]
fn the_smmuv3_veventq_follows_the_vintf_and_its_failure_is_not_fatal() {
    // Allocated at the first plug, read without records, released at teardown.
    let mut r = rig();
    let d0 = r.devs[0].clone();
    r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
    let with_queue = r.sim.live_objects();
    assert_eq!(r.bus.device_mut().service_events(), 0);
    assert_eq!(r.bus.device().stats().host_event_errors, 0);
    r.finish();
    // Its allocation fails (the second vEVENTQ of the first plug): the plug
    // succeeds without it (one object fewer), the next plug retries, and
    // nothing leaks.
    let mut r = rig();
    r.sim.inject(Fault {
        op: Some(Op::VeventqAlloc),
        when: FaultWhen::Nth(2),
        errno: libc::ENOMEM,
    });
    let d0 = r.devs[0].clone();
    r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
    assert_eq!(r.bus.device().stats().host_event_errors, 1);
    assert_eq!(r.sim.live_objects(), with_queue - 1);
    let before = r.sim.live_objects();
    let d1 = r.devs[1].clone();
    r.bus.device_mut().plug(&d1, VSIDS[1]).unwrap();
    // vDEVICE, nested HWPT, and now the vEVENTQ.
    assert_eq!(r.sim.live_objects(), before + 3);
    r.bring_up();
    r.finish();
}

/// Physical StreamIDs of the rig's devices (`rig()` binds them in this order).
const PSIDS: [u32; 2] = [0x100, 0x200];
/// The guest's event queue.
const EVQ: u64 = RAM + 0x8_0000;

/// An F_TRANSLATION record as the SMMU writes it: StreamID `sid`, SubstreamID
/// 3, a read of `iova` that missed in the stage-1 tables.
fn f_translation(sid: u32, iova: u64) -> [u64; 4] {
    let mut e = sm::structs::EvtFTranslation::new()
        .with(sm::structs::EvtFTranslation::SID, u64::from(sid))
        .with(sm::structs::EvtFTranslation::SSV, 1)
        .with(sm::structs::EvtFTranslation::SSID, 3)
        .with(sm::structs::EvtFTranslation::RNW, 1)
        .with(sm::structs::EvtFTranslation::INPUT_ADDR, iova);
    e.set(sm::structs::EvtFTranslation::CLASS, 1);
    e.0
}

impl Rig {
    /// The guest programs its event queue (2^`log2` records at `EVQ`), the
    /// event interrupt and a stream table whose STEs for both vSIDs select
    /// stage-1 translation, then enables the SMMU and the event queue.
    fn guest_event_queue(&mut self, log2: u64) {
        let s = |o: usize| SMMU + o as u64;
        for (i, v) in VSIDS.iter().enumerate() {
            // V, Config = stage 1 translate, S1ContextPtr (a CD table per device).
            let ste0 = 1 | (0b101 << 1) | (RAM + 0xc_0000 + 0x1000 * i as u64);
            assert!(self.ram.write_u64(STRTAB + u64::from(*v) * 64, ste0));
        }
        self.bus.write64(s(sm::STRTAB_BASE::OFFSET), STRTAB);
        self.bus.write32(s(sm::STRTAB_BASE_CFG::OFFSET), 8);
        self.bus.write64(s(sm::EVENTQ_BASE::OFFSET), EVQ | log2);
        self.bus.write32(
            s(sm::IRQ_CTRL::OFFSET),
            sm::IRQ_CTRL::EVENTQ_IRQEN.val(1).value,
        );
        let cr0 = sm::CR0::SMMUEN.val(1).value | sm::CR0::EVENTQEN.val(1).value;
        self.bus.write32(s(sm::CR0::OFFSET), cr0);
        assert_eq!(self.bus.read32(s(sm::CR0ACK::OFFSET)), cr0);
        for v in VSIDS {
            assert!(matches!(
                self.bus.device().core().attachment(v),
                Some(vdev::smmuv3::strtab::Attach::Nested(_))
            ));
        }
    }
    /// The guest's view of record `slot` of its event queue.
    fn guest_record(&self, slot: u64) -> [u64; 4] {
        let mut rec = [0u64; 4];
        for (i, w) in rec.iter_mut().enumerate() {
            *w = self.ram.read_u64(EVQ + slot * 32 + 8 * i as u64).unwrap();
        }
        rec
    }
    fn eventq_prod(&mut self) -> u32 {
        self.bus.read32(SMMU + sm::EVENTQ_PROD::OFFSET as u64)
    }
}

#[test]
fn a_device_fault_reaches_the_guest_under_its_vsid() {
    let mut r = rig();
    r.plug_all();
    r.guest_event_queue(3);
    assert_eq!(r.eventq_prod(), 0);
    // The physical SMMU reports faults of both devices under their physical
    // StreamIDs; the kernel forwards them to the vIOMMU's vEVENTQ.
    let host = [
        f_translation(PSIDS[0], 0x5000),
        f_translation(PSIDS[1], 0x6000),
    ];
    for e in host {
        r.sim.report_smmu_event(e).unwrap();
    }
    // Nothing reaches the guest until the VMM services the vEVENTQ.
    assert_eq!(r.eventq_irq.edges(), 0);
    assert_eq!(r.bus.device_mut().service_events(), 2);
    assert_eq!(r.eventq_prod(), 2);
    assert_eq!(r.eventq_irq.edges(), 2);
    for (i, e) in host.iter().enumerate() {
        let got = sm::structs::EvtFTranslation(r.guest_record(i as u64));
        assert_eq!(
            got.get(sm::structs::EvtFTranslation::SID),
            u64::from(VSIDS[i])
        );
        // Everything but the StreamID is the hardware's record.
        let mut want = *e;
        want[0] = (want[0] & 0xffff_ffff) | (u64::from(VSIDS[i]) << 32);
        assert_eq!(got.0, want, "record {i}");
        assert_eq!(
            got.get(sm::structs::EvtFTranslation::EVENT_ID),
            sm::enums::EventId::F_TRANSLATION as u64
        );
        assert_eq!(
            got.get(sm::structs::EvtFTranslation::INPUT_ADDR),
            0x5000 + 0x1000 * i as u64
        );
    }
    assert_eq!(r.bus.device().stats().events, 2);
    // A stage-2 fault is the host's: the guest never sees it.
    let mut s2 = f_translation(PSIDS[0], 0x7000);
    s2[1] |= 1 << 39;
    assert_eq!(
        r.sim.report_smmu_event(s2).map_err(|e| e.errno),
        Err(libc::EOPNOTSUPP)
    );
    // Unplugged: no vDEVICE, the kernel drops the device's faults.
    r.bus.device_mut().unplug(VSIDS[1]);
    assert!(r.sim.report_smmu_event(host[1]).is_err());
    assert_eq!(r.bus.device_mut().service_events(), 0);
    assert_eq!(r.eventq_prod(), 2);
    // The guest consumes; the next fault lands in the next slot.
    r.bus.write32(SMMU + sm::EVENTQ_CONS::OFFSET as u64, 2);
    r.sim.report_smmu_event(host[0]).unwrap();
    r.bus.device_mut().kick();
    assert_eq!(r.eventq_prod(), 3);
    assert_eq!(
        sm::structs::EvtFTranslation(r.guest_record(2)).0[0] >> 32,
        u64::from(VSIDS[0])
    );
    assert_eq!(r.eventq_irq.edges(), 3);
    r.finish();
}

#[test]
fn device_faults_overflow_the_guest_queue_and_the_host_veventq() {
    // The guest's queue (2 records) overflows: PROD.OVFLG toggles once.
    let mut r = rig();
    r.plug_all();
    r.guest_event_queue(1);
    for i in 0..3 {
        r.sim
            .report_smmu_event(f_translation(PSIDS[0], 0x1000 * i))
            .unwrap();
    }
    assert_eq!(r.bus.device_mut().service_events(), 3);
    let prod = r.eventq_prod();
    assert_eq!(sm::EVENTQ_PROD::WR.read(prod), 2);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1);
    assert_eq!(r.eventq_irq.edges(), 2);
    assert_eq!(r.guest_record(1)[2], 0x1000, "the third record was lost");
    assert_eq!(
        (
            r.bus.device().stats().events,
            r.bus.device().stats().events_lost
        ),
        (2, 1)
    );
    // The guest drains and acknowledges; delivery resumes.
    r.bus.write32(SMMU + sm::EVENTQ_CONS::OFFSET as u64, prod);
    r.sim
        .report_smmu_event(f_translation(PSIDS[1], 0x9000))
        .unwrap();
    assert_eq!(r.bus.device_mut().service_events(), 1);
    assert_eq!(r.guest_record(0)[0] >> 32, u64::from(VSIDS[1]));
    assert_eq!(r.bus.device().stats().events, 3);
    r.finish();

    // The host's vEVENTQ overflows while the VMM is not servicing it: the
    // kernel keeps the first `DEPTH` records and marks the loss after them.
    // The guest's queue (128 records) has room for all of them, yet the loss
    // reaches the guest as a PROD.OVFLG toggle.
    let mut r = rig();
    r.plug_all();
    r.guest_event_queue(7);
    let depth = u64::from(vdev::smmuv3::vevents::DEPTH);
    let overflow_host = |r: &mut Rig, first: u64| {
        for i in first..first + depth + 5 {
            r.sim
                .report_smmu_event(f_translation(PSIDS[0], i << 12))
                .unwrap();
        }
        assert_eq!(r.bus.device_mut().service_events() as u64, depth);
    };
    let cons = SMMU + sm::EVENTQ_CONS::OFFSET as u64;
    assert_eq!(r.eventq_prod(), 0);
    overflow_host(&mut r, 0);
    let prod = r.eventq_prod();
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), depth);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1, "host loss flagged");
    assert_eq!(r.guest_record(depth - 1)[2], (depth - 1) << 12);
    let st = r.bus.device().stats();
    assert_eq!((st.events, st.events_lost), (depth, 1));
    assert_eq!(r.eventq_irq.edges(), depth);
    // Later faults are still delivered, behind the kept records; the flag
    // stays until the guest acknowledges it.
    r.sim
        .report_smmu_event(f_translation(PSIDS[1], 0xa_b000))
        .unwrap();
    assert_eq!(r.bus.device_mut().service_events(), 1);
    let prod = r.eventq_prod();
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), depth + 1);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1);
    assert_eq!(r.guest_record(depth)[0] >> 32, u64::from(VSIDS[1]));
    assert_eq!(r.guest_record(depth)[2], 0xa_b000);
    assert_eq!(r.eventq_irq.edges(), depth + 1);
    // The guest consumes everything but does not acknowledge: a second host
    // loss finds the overflow still pending and does not toggle again.
    r.bus
        .write32(cons, prod & !sm::EVENTQ_PROD::OVFLG.val(1).value);
    overflow_host(&mut r, 0x100);
    let prod = r.eventq_prod();
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), 2 * depth + 1);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1, "still pending");
    assert_eq!(r.guest_record(depth + 1)[2], 0x100 << 12);
    // Acknowledged (OVACKFLG = OVFLG): the next host loss toggles OVFLG back.
    r.bus.write32(cons, prod);
    overflow_host(&mut r, 0x200);
    let prod = r.eventq_prod();
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 0, "new loss flagged");
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), 3 * depth + 1);
    let st = r.bus.device().stats();
    assert_eq!((st.events, st.events_lost), (3 * depth + 1, 3));
    // Acknowledged again, then the event queue is disabled: a host loss no
    // longer reaches the guest's registers.
    r.bus.write32(cons, prod);
    r.bus
        .write32(SMMU + sm::CR0::OFFSET as u64, sm::CR0::SMMUEN.val(1).value);
    overflow_host(&mut r, 0x300);
    assert_eq!(r.eventq_prod(), prod);
    let st = r.bus.device().stats();
    assert_eq!((st.events, st.events_lost), (3 * depth + 1, 3 + depth + 1));
    r.finish();
}
