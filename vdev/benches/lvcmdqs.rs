//! Guest invalidations per second through 1, 2, 4 and 8 logical VCMDQs,
//! each driven by a thread of its own (a vCPU), on the simulated backend,
//! and through the emulated command queue for comparison.
//!
//! `cargo bench -p vdev --bench lvcmdqs` prints one line per configuration:
//!
//! ```text
//! lvcmdqs: queues=4 threads=4 commands=1048576 invalidations=1032192 runs=5 Minval_per_s=.. (median ..) ns_per_cmd=.. (median ..)
//! emulated_cmdq: queues=1 threads=1 commands=.. invalidations=.. runs=5 Minval_per_s=.. (median ..) ns_per_cmd=.. (median ..)
//! ```
//!
//! (the best of five runs, and their median).
//!
//! What one round of a thread is, on either path: the guest writes a batch
//! of [`BATCH`] commands into its queue in guest RAM (`BATCH - 1`
//! TLBI_NH_VA and a CMD_SYNC, Linux's batch), publishes PROD, and waits for
//! CONS to reach it.
//!
//! * VCMDQ: the queue is a logical VCMDQ of the vSMMU's VINTF, brought up
//!   through the device model's MMIO window; PROD is a plain store into the
//!   VINTF page the VMM installed (each thread has its own mapping of the
//!   page, as a vCPU would: no trap), then the simulated hardware is kicked
//!   (`Kick::kick`, what the device model does after such a store; a real
//!   host needs none) and executes the queues — decoding every command, the
//!   VMID and SID checks, CONS. What is measured is what the model and the
//!   simulated hardware cost per command; the device model's vEVENTQ poll
//!   after a kick is not in the loop. The kicks of all threads take the
//!   simulated kernel's one lock, so the figures say how much of the model
//!   runs in parallel, not what Grace hardware does.
//! * emulated CMDQ: the vSMMUv3's own command queue, PROD written through
//!   its MMIO window (a trap), consumed by the model and forwarded to
//!   `IOMMU_HWPT_INVALIDATE` in batches.
//!
//! Guest RAM is a rust-vmm `GuestMemoryMmap`, as a VMM's: the guest threads
//! and the simulated hardware share it without a lock (the simulator's
//! `SimGuestRam` takes one per access, which would be measured otherwise).
//!
//! `LVCMDQS_BENCH_COMMANDS=n` sets the commands per configuration (default
//! 2^20); arguments `1`, `2`, `4`, `8` or `emulated` run only those
//! configurations. For instruction counts per command, run one
//! configuration under `valgrind --tool=callgrind` with two command counts
//! and divide the difference of the totals by five times the difference of
//! the counts (five runs; the set-up and the fixed warm-up cancel out), e.g.
//! `LVCMDQS_BENCH_COMMANDS=32768 valgrind --tool=callgrind target/release/deps/lvcmdqs-* 4`.

use std::sync::Arc;
use std::time::Instant;

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use vdev::backend::sim::{SimBackend, SimConfig, SimModel};
use vdev::backend::{Backend, Device, Ioas, Kick, NestParent, VintfPage};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, GuestMemory, RecordingRegions};
use vm_memory::{GuestAddress, GuestMemoryMmap};

const SMMU: u64 = 0x0900_0000;
const CMDQV: u64 = 0x0910_0000;
/// Guest RAM: 2 MiB per queue (every queue in one host page).
const RAM: u64 = 0x4000_0000;
const RAM_LEN: u64 = 8 * (2 << 20);
/// Queue `l`'s memory.
fn qmem(l: usize) -> u64 {
    RAM + 0x20_0000 * l as u64
}

/// Every queue: 2^LOG2Q entries.
const LOG2Q: u32 = 8;
/// Commands per PROD write: 63 TLBI_NH_VA and a CMD_SYNC.
const BATCH: u32 = 64;

/// A vSMMUv3 with `n` LVCMDQs (a host with as many per VINTF), one device
/// plugged, on a guest bus.
struct Vm {
    sim: SimBackend,
    ram: Arc<GuestMemoryMmap>,
    bus: GuestBus,
    baseline: usize,
}

fn vm(n: usize) -> Vm {
    let ram = Arc::new(
        GuestMemoryMmap::from_ranges(&[(GuestAddress(RAM), RAM_LEN as usize)]).expect("guest RAM"),
    );
    let mut cfg = SimConfig::tegra241();
    if let SimModel::Tegra241(h) = &mut cfg.model {
        h.lvcmdqs_per_vintf = h.lvcmdqs_per_vintf.max(n as u16);
    }
    let sim = SimBackend::new(cfg, ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).expect("ioas");
    ioas.map(RAM, RAM_LEN, 0).expect("map");
    let dev = Device::external(&b, sim.add_device(0x100));
    let parent = NestParent::new(&dev, &ioas).expect("parent");
    let baseline = sim.live_objects();
    let regions = Arc::new(RecordingRegions::new());
    let lc = Lifecycle::new(b, parent, regions.clone(), CMDQV + VINTF0_PAGE0)
        .with_kick(Arc::new(sim.clone()))
        .with_lvcmdqs(n)
        .expect("a power of two");
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
    let irq = Arc::new(CountingIrq::new());
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: true,
        irqs: Irqs::shared(irq),
    };
    let info = host_smmuv3_info(&dev).expect("hw info");
    let mut smmu = Vsmmuv3::new(core, &info, cfg).expect("vsmmu");
    smmu.plug(&dev, 0x10).expect("plug");
    Vm {
        sim,
        ram,
        bus: GuestBus::new(smmu, regions, SMMU, CMDQV),
        baseline,
    }
}

/// One TLBI_NH_VA (ASID 1, leaf) of page `i`, or the batch's CMD_SYNC.
fn command(i: u32) -> [u8; 16] {
    let w = if i % BATCH == BATCH - 1 {
        [sm::enums::CmdOpcode::CMD_SYNC.value(), 0]
    } else {
        [
            sm::enums::CmdOpcode::TLBI_NH_VA.value() | (1 << 48),
            (u64::from(i) << 12) | 1,
        ]
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&w[0].to_le_bytes());
    b[8..].copy_from_slice(&w[1].to_le_bytes());
    b
}

/// Writes `BATCH` commands at `prod` of a queue at `base`; the new PROD.
fn fill(mem: &dyn GuestMemory, base: u64, prod: u32) -> u32 {
    let entries = 1u32 << LOG2Q;
    for i in 0..BATCH {
        let p = prod.wrapping_add(i);
        let slot = u64::from(p & (entries - 1));
        assert!(mem.write(base + slot * 16, &command(p)));
    }
    (prod + BATCH) & ((entries << 1) - 1)
}

/// What one run of a configuration did.
struct Figures {
    commands: u64,
    secs: f64,
}

/// Runs `f` [`RUNS`] times and prints the best and the median run: the
/// machine is shared, so single runs are noisy.
fn report(what: &str, queues: usize, threads: usize, mut f: impl FnMut() -> Figures) {
    let mut runs: Vec<Figures> = (0..RUNS).map(|_| f()).collect();
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let (best, median) = (&runs[0], &runs[runs.len() / 2]);
    let inval = best.commands / u64::from(BATCH) * u64::from(BATCH - 1);
    let mps = |r: &Figures| inval as f64 / r.secs / 1e6;
    let ns = |r: &Figures| r.secs * 1e9 / r.commands as f64;
    println!(
        "{what}: queues={queues} threads={threads} commands={} invalidations={inval} runs={RUNS} Minval_per_s={:.2} (median {:.2}) ns_per_cmd={:.1} (median {:.1})",
        best.commands,
        mps(best),
        mps(median),
        ns(best),
        ns(median)
    );
}

/// Runs of each configuration.
const RUNS: usize = 5;

/// `n` LVCMDQs, thread `l` driving LVCMDQ `l`, `total` commands in all.
fn vcmdqs(n: usize, total: u64) -> Figures {
    let mut vm = vm(n);
    // The guest brings the queues up through the MMIO window.
    let w = |bus: &mut GuestBus, off: usize, v: u32| bus.write32(CMDQV + off as u64, v);
    w(&mut vm.bus, cq::CONFIG::OFFSET, 1);
    for l in 0..n {
        let map =
            cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(l as u32).value;
        w(&mut vm.bus, cq::CMDQ_ALLOC_MAP::OFFSET + 4 * l, map);
        let base = CMDQV + (cq::VCMDQ_PAGE1::BASE::OFFSET + 0x80 * l) as u64;
        vm.bus.write64(base, qmem(l) | u64::from(LOG2Q));
    }
    w(&mut vm.bus, cq::VINTF::CONFIG::OFFSET, 1);
    for l in 0..n {
        w(
            &mut vm.bus,
            cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET + 0x80 * l,
            1,
        );
        assert!(vm.bus.device().core().lc.queue_allocated(l));
    }
    let viommu = vm.bus.device().core().lc.viommu().expect("bound").clone();
    let rounds = (total / n as u64 / u64::from(BATCH)).max(1);
    let reg = |l: usize, r: usize| 0x80 * l + r;
    let (prod_r, cons_r) = (
        cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET - VINTF0_PAGE0 as usize,
        cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET - VINTF0_PAGE0 as usize,
    );
    // Each vCPU maps the VINTF page (as the VMM installed it for the guest).
    let pages: Vec<VintfPage> = (0..n).map(|_| viommu.map_page().expect("mmap")).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (l, page) in pages.iter().enumerate() {
            let (sim, ram) = (vm.sim.clone(), vm.ram.clone());
            let id = viommu.id();
            s.spawn(move || {
                let mut prod = 0u32;
                for _ in 0..rounds {
                    prod = fill(ram.as_ref(), qmem(l), prod);
                    assert!(page.write32(reg(l, prod_r), prod));
                    sim.kick(id).expect("kick");
                    let cons = page.read32(reg(l, cons_r)).expect("CONS");
                    assert_eq!(cons, prod, "LVCMDQ{l} stopped or fell behind");
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    drop((pages, viommu));
    let commands = rounds * n as u64 * u64::from(BATCH);
    let ran = vm.sim.hw_invalidation_total();
    assert_eq!(ran, commands, "every command executed by the hardware");
    finish(vm);
    Figures { commands, secs }
}

/// The emulated CMDQ: one thread, PROD through the MMIO window.
fn emulated(total: u64) -> Figures {
    let mut vm = vm(1);
    let s = |bus: &mut GuestBus, off: usize, v: u32| bus.write32(SMMU + off as u64, v);
    let cmdq = qmem(0);
    vm.bus
        .write64(SMMU + sm::CMDQ_BASE::OFFSET as u64, cmdq | u64::from(LOG2Q));
    s(&mut vm.bus, sm::CR0::OFFSET, sm::CR0::CMDQEN.val(1).value);
    let rounds = (total / u64::from(BATCH)).max(1);
    let mut prod = 0u32;
    let start = Instant::now();
    for _ in 0..rounds {
        prod = fill(vm.ram.as_ref(), cmdq, prod);
        s(&mut vm.bus, sm::CMDQ_PROD::OFFSET, prod);
        let cons = vm.bus.read32(SMMU + sm::CMDQ_CONS::OFFSET as u64);
        assert_eq!(cons, prod, "CMDQ stopped");
    }
    let secs = start.elapsed().as_secs_f64();
    let commands = rounds * u64::from(BATCH);
    assert_eq!(vm.bus.device().core().stats.commands, commands);
    finish(vm);
    Figures { commands, secs }
}

/// Tears the VM down: nothing may be left.
fn finish(mut vm: Vm) {
    vm.bus.device_mut().teardown();
    assert_eq!(vm.sim.live_objects(), vm.baseline, "objects left");
    assert_eq!(vm.sim.live_mappings(), 0, "mappings left");
}

fn main() {
    let total: u64 = std::env::var("LVCMDQS_BENCH_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    // `cargo bench` passes `--bench`; anything else names configurations.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |what: &str| only.is_empty() || only.iter().any(|o| o == what);
    // Warm-up (allocator, page faults), the same whatever `total` is.
    vcmdqs(8, 8 * u64::from(BATCH));
    for n in [1usize, 2, 4, 8] {
        if wanted(&n.to_string()) {
            report("lvcmdqs", n, n, || vcmdqs(n, total));
        }
    }
    if wanted("emulated") {
        report("emulated_cmdq", 1, 1, || emulated(total));
    }
}
