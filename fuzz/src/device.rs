//! The whole device under a hostile guest: a vSMMUv3 with its CMDQV window
//! on a simulated two-device Tegra241 host, driven by a sequence of actions
//! decoded from the fuzz input: MMIO accesses to both windows (biased to the
//! real registers and the VCMDQ/VINTF pages), guest memory stores where the
//! queues, stream table and commands live, plug/unplug, device reset, kick,
//! event reports and injected backend failures.
//!
//! Invariants, each a crash when broken: no panic; no action runs more than
//! a work bound of commands (one queue's worth per queue); after teardown,
//! with the faults cleared, no kernel object, mapping or installed region is
//! left.

use std::sync::Arc;

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use vdev::backend::sim::{Fault, FaultWhen, SimBackend, SimConfig, SimGuestRam};
use vdev::backend::{deferred, Backend, Device, Ioas, NestParent, Op};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, RecordingRegions};

use crate::Input;

const RAM: u64 = 0x4000_0000;
/// Room for one queue of the largest size the model offers (2^19 entries of
/// 16 bytes, at the base of RAM); more makes every run slower under ASan.
const RAM_LEN: u64 = 8 << 20;
const SMMU: u64 = 0x0900_0000;
const CMDQV: u64 = 0x0910_0000;
const VSIDS: [u32; 2] = [0x10, 0x11];
const PSIDS: [u32; 2] = [0x100, 0x200];
/// Commands one queue may run per action: its largest size.
const QUEUE_BOUND: u64 = 1 << 19;

/// Offsets (in the SMMU window) of the registers a guest programs.
const SMMU_REGS: &[usize] = &[
    sm::CR0::OFFSET,
    sm::CR1::OFFSET,
    sm::CR2::OFFSET,
    sm::GBPA::OFFSET,
    sm::IRQ_CTRL::OFFSET,
    sm::GERROR::OFFSET,
    sm::GERRORN::OFFSET,
    sm::STRTAB_BASE::OFFSET,
    sm::STRTAB_BASE_CFG::OFFSET,
    sm::CMDQ_BASE::OFFSET,
    sm::CMDQ_PROD::OFFSET,
    sm::CMDQ_CONS::OFFSET,
    sm::EVENTQ_BASE::OFFSET,
    sm::EVENTQ_PROD::OFFSET,
    sm::EVENTQ_CONS::OFFSET,
];

/// Offsets (in the CMDQV window) of its global and VINTF 0 registers; the
/// VCMDQ and logical pages are reached through [`vcmdq_offset`].
const CMDQV_REGS: &[usize] = &[
    cq::CONFIG::OFFSET,
    cq::STATUS::OFFSET,
    cq::CMDQ_ALLOC_MAP::OFFSET,
    cq::CMDQ_ALLOC_MAP::OFFSET + 4,
    cq::VINTF::CONFIG::OFFSET,
    cq::VINTF::STATUS::OFFSET,
];

/// A register of VCMDQ (or logical VCMDQ) `q` in one of its pages: the
/// direct VCMDQ pages 0 and 1, VINTF 0's logical pages 0 and 1.
fn vcmdq_offset(page: u8, q: u8, reg: u8) -> u64 {
    use cq::VINTF_PAGE0::LVCMDQ as L;
    // Page-0 registers relative to the queue's CONS.
    let page0 = [
        L::CONS::OFFSET,
        L::PROD::OFFSET,
        L::CONFIG::OFFSET,
        L::STATUS::OFFSET,
        L::GERROR::OFFSET,
        L::GERRORN::OFFSET,
    ]
    .map(|o| o - L::CONS::OFFSET);
    let (base, reg) = match page % 4 {
        0 => (cq::VCMDQ::CONS::OFFSET, page0[usize::from(reg) % 6]),
        1 => (cq::VCMDQ_PAGE1::BASE::OFFSET, 8 * usize::from(reg % 3)),
        2 => (L::CONS::OFFSET, page0[usize::from(reg) % 6]),
        _ => (
            cq::VINTF_PAGE1::LVCMDQ::BASE::OFFSET,
            8 * usize::from(reg % 3),
        ),
    };
    (base + 0x80 * usize::from(q % 4) + reg) as u64
}

/// Guest addresses where the interesting memory is: the stream table,
/// command and event queues, the VCMDQ memories, anywhere.
fn guest_addr(inp: &mut Input<'_>) -> u64 {
    let at = u64::from(inp.u16()) * 8;
    match inp.u8() % 6 {
        0 => RAM + 0x1_0000 + at,  // stream table
        1 => RAM + 0x4_0000 + at,  // emulated CMDQ
        2 => RAM + 0x10_0000 + at, // VCMDQ 0
        3 => RAM + 0x20_0000 + at, // VCMDQ 1
        4 => RAM + 0x8_0000 + at,  // event queue, CDs
        _ => RAM + (inp.u64() % RAM_LEN),
    }
}

struct Rig {
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    regions: Arc<RecordingRegions>,
    devs: Vec<Arc<Device>>,
    bus: GuestBus,
    baseline: usize,
}

fn rig() -> Rig {
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, RAM_LEN, 2 << 20));
    let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).expect("IOAS");
    ioas.map(RAM, RAM_LEN, 0).expect("guest RAM mapped");
    let devs: Vec<_> = PSIDS
        .iter()
        .map(|p| Device::external(&b, sim.add_device(*p)))
        .collect();
    let parent = NestParent::new(&devs[0], &ioas).expect("nesting parent");
    let baseline = sim.live_objects();
    let regions = Arc::new(RecordingRegions::new());
    let lc = Lifecycle::new(b, parent, regions.clone(), CMDQV + VINTF0_PAGE0)
        .with_kick(Arc::new(sim.clone()));
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
    let info = host_smmuv3_info(&devs[0]).expect("host SMMUv3 info");
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: true,
        irqs: Irqs::shared(Arc::new(CountingIrq::new())),
    };
    let dev = Vsmmuv3::new(core, &info, cfg).expect("vSMMUv3");
    let bus = GuestBus::new(dev, regions.clone(), SMMU, CMDQV);
    Rig {
        sim,
        ram,
        regions,
        devs,
        bus,
        baseline,
    }
}

/// Commands run so far: the emulated CMDQ's and the simulated VCMDQs'.
fn commands(r: &Rig) -> (u64, u64) {
    (
        r.bus.device().core().stats.commands,
        r.sim.hw_invalidation_total(),
    )
}

/// One action of the guest (or the VMM acting for it).
fn step(r: &mut Rig, inp: &mut Input<'_>) {
    match inp.u8() % 16 {
        0..=3 => {
            let off = SMMU_REGS[usize::from(inp.u8()) % SMMU_REGS.len()] as u64;
            let v = inp.u64();
            if inp.u8() & 1 == 0 {
                r.bus.write32(SMMU + off, v as u32);
            } else {
                r.bus.write64(SMMU + (off & !7), v);
            }
        }
        4..=6 => {
            let off = if inp.u8() & 1 == 0 {
                CMDQV_REGS[usize::from(inp.u8()) % CMDQV_REGS.len()] as u64
            } else {
                vcmdq_offset(inp.u8(), inp.u8(), inp.u8())
            };
            let v = inp.u64();
            match inp.u8() % 3 {
                0 => r.bus.write32(CMDQV + off, v as u32),
                1 => r.bus.write64(CMDQV + (off & !7), v),
                _ => {
                    r.bus.read32(CMDQV + off);
                }
            }
        }
        7..=9 => {
            let at = guest_addr(inp);
            let v = inp.u64();
            r.ram.write_u64(at & !7, v);
        }
        10 => {
            // Anywhere in either window, any size the bus takes.
            let off = u64::from(inp.u16()) << 4 | u64::from(inp.u8() & 0xf);
            if inp.u8() & 1 == 0 {
                r.bus.read32(SMMU + off % (128 << 10));
            } else {
                r.bus.write32(CMDQV + off % (320 << 10), inp.u64() as u32);
            }
        }
        11 => {
            let i = usize::from(inp.u8() & 1);
            if inp.u8() & 1 == 0 {
                let d = r.devs[i].clone();
                let _ = r.bus.device_mut().plug(&d, VSIDS[i]);
            } else {
                r.bus.device_mut().unplug(VSIDS[i]);
            }
        }
        12 => r.bus.device_mut().reset(),
        13 => {
            r.bus.device_mut().kick();
            r.bus.device_mut().service_events();
        }
        14 => {
            let mut rec = [inp.u64(), inp.u64(), inp.u64(), inp.u64()];
            rec[0] = (rec[0] & 0xffff_ffff) | u64::from(PSIDS[usize::from(inp.u8() & 1)]) << 32;
            let _ = r.sim.report_smmu_event(rec);
        }
        _ => {
            let sel = inp.u8();
            if sel == 0xff {
                r.sim.clear_faults();
                return;
            }
            let op = Op::ALL[usize::from(sel) % Op::ALL.len()];
            let when = match inp.u8() {
                0 => FaultWhen::Every,
                n => FaultWhen::Nth(u64::from(n % 16) + 1),
            };
            r.sim.inject(Fault {
                op: Some(op),
                when,
                errno: [libc::EIO, libc::ENOMEM, libc::EBUSY, libc::EINVAL]
                    [usize::from(inp.u8() & 3)],
            });
        }
    }
}

/// Runs one fuzz input; panics (a crash for libFuzzer) when an invariant
/// breaks.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut r = rig();
    // One action per few bytes; a cap keeps a run short whatever the input.
    for _ in 0..512 {
        if inp.is_empty() {
            break;
        }
        let before = commands(&r);
        step(&mut r, &mut inp);
        let after = commands(&r);
        assert!(
            after.0 - before.0 <= QUEUE_BOUND,
            "one action ran {} emulated commands",
            after.0 - before.0
        );
        // Each logical VCMDQ runs at most its queue per kick; two of them,
        // and a write can kick once for each window it reaches.
        assert!(
            after.1 - before.1 <= 4 * QUEUE_BOUND,
            "one action ran {} VCMDQ commands",
            after.1 - before.1
        );
    }
    r.sim.clear_faults();
    r.bus.device_mut().teardown();
    let left = deferred::retry(&r.sim);
    assert!(left.is_empty(), "still refused: {left:?}");
    assert_eq!(r.sim.live_objects(), r.baseline, "kernel objects left");
    assert_eq!(r.sim.live_mappings(), 0, "mapping left");
    assert!(r.regions.installed().is_empty(), "region left installed");
}

#[cfg(test)]
mod tests {
    /// A few thousand pseudo-random inputs outside libFuzzer (a quick check
    /// that the harness itself holds, without the sanitizer build).
    #[test]
    fn random_inputs_hold_the_invariants() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let len = (x % 600) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            super::run(&data);
        }
    }
}
