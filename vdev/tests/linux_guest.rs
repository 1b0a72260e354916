//! Linux's own guest drivers, replayed register access by register access
//! against vdev's vSMMUv3 and CMDQV models on the simulated Tegra241 host,
//! through the guest's bus ([`GuestBus`]: the trapped windows, and the VINTF
//! page as guest RAM once the VMM installed it).
//!
//! The replay is this file's own code; what it follows are facts read in
//! Linux (the order of the accesses, the values written, the conditions
//! polled):
//!
//! * `drivers/iommu/arm/arm-smmu-v3/tegra241-cmdqv.c`, in two versions:
//!   - [`Driver::Merged`], as first merged (read in torvalds/linux at
//!     086a3c40): VCMDQs of `VCMDQ_LOG2SIZE_MAX` = 19 allocated at probe,
//!     `CMDQ_ALLOC_MAP` written with ALLOCATED in `tegra241_cmdqv_hw_reset`,
//!     `tegra241_cmdqv_remove_vintf` resetting the queues in ascending
//!     order;
//!   - [`Driver::Iommufd`], with user-space VINTF support (read in
//!     nicolinc/iommufd at 05dd00dc): queue size `min(CMDQ_MAX_SZ_SHIFT,
//!     IDR1.CMDQS)` at `init_structures`, ALLOCATED set by
//!     `tegra241_vcmdq_map_lvcmdq` (ascending) and cleared by
//!     `tegra241_vcmdq_unmap_lvcmdq` (descending), a CMD_SYNC on the SMMU's
//!     own queue in `tegra241_vcmdq_hw_deinit` (`..._hw_flush_timeout`), the
//!     SID slots cleared in `tegra241_vintf_hw_deinit`.
//! * `arm-smmu-v3.c`: `arm_smmu_device_hw_probe`, `arm_smmu_init_queues` /
//!   `arm_smmu_init_strtab_2lvl`, `arm_smmu_device_reset` (then the impl's
//!   `device_reset`), `arm_smmu_cmdq_issue_cmdlist` with its batching
//!   (`CMDQ_BATCH_ENTRIES` = 64), `arm_smmu_cmdq_build_sync_cmd` (MSI
//!   polling on the SMMU's queue, CS = NONE and busy polling of CONS on a
//!   Tegra241 VCMDQ), `__arm_smmu_cmdq_skip_err`,
//!   `arm_smmu_device_shutdown` / `_remove` (CR0 cleared; the impl's
//!   `device_remove` runs after, as a devres action).
//!
//! Where QEMU's later CMDQV series (`hw/arm/tegra241-cmdqv.c`) is the
//! reference instead: the reset values (CONFIG 0x20083 with CMDQV_EN,
//! STATUS.CMDQV_ENABLED, see cmdqv-regs/MAP-NOTES.md) and "a new BASE on a
//! queue with a HW queue frees and re-allocates it".
//!
//! Each replay runs with 1, 2 (QEMU's), 4 and 8 LVCMDQs per VINTF: the VMM
//! picks the count (`Lifecycle::with_lvcmdqs`), the guest reads it from
//! PARAM (`num_lvcmdqs_per_vintf = num_vcmdqs / num_vintfs`), assigns
//! global VCMDQ `l` to LVCMDQ `l` and issues from CPU `c` on LVCMDQ
//! `c % num_lvcmdqs_per_vintf` (`tegra241_cmdqv_get_cmdq`). One VM has two
//! vSMMUs on a host with two SMMUs, each driven by its own instance of the
//! driver, as Linux probes one per SMMU.
//!
//! Every register offset, field and command layout comes from the generated
//! `cmdqv-regs` / `smmuv3-regs` crates (typed accessors over a loopback
//! [`Mmio`] onto the bus).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use cmdqv_regs as cq;
use regmap_rt::Mmio;
use smmuv3_regs as sm;
use smmuv3_regs::enums::{MemAttr, Shareability, SteConfig, StrtabFmt, SyncCs};
use smmuv3_regs::structs::{
    CmdAtcInv, CmdCfgiAll, CmdCfgiSte, CmdSync, CmdTlbiEl2All, CmdTlbiNhAsid, CmdTlbiNhVa,
    CmdTlbiNhVaa, CmdTlbiNsnhAll, L1Std, Ste, Words,
};
use vdev::backend::sim::{HwCommand, SimBackend, SimConfig, SimGuestRam, Tegra241Host};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::{Lifecycle, Transition, NUM_LVCMDQS};
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, RecordingRegions};

// ---------------------------------------------------------------------------
// The VMM: guest RAM, the simulated Tegra241 host, the devices and the bus.
// ---------------------------------------------------------------------------

/// Guest physical layout: vSMMU `k`'s windows are `k * UNIT_STRIDE` above
/// the first one's.
const SMMU: u64 = 0x0905_0000;
const CMDQV: u64 = 0x0910_0000;
const UNIT_STRIDE: u64 = 0x20_0000;
const RAM: u64 = 0x4000_0000;
/// Guest RAM on 8 MiB host pages: IDR1.CMDQS = 19, so a VCMDQ of the size
/// Linux picks (2^19 entries, 8 MiB) is physically contiguous.
const BACKING: u64 = 8 << 20;
/// The passthrough devices: physical and virtual StreamIDs.
const PSIDS: [u32; 2] = [0x100, 0x200];
const VSIDS: [u32; 2] = [0x10, 0x11];
/// The LVCMDQ counts the replay runs with: the VMM's choice, which Linux
/// reads from PARAM (`num_vcmdqs / num_vintfs`). 2 is QEMU's.
const LVCMDQ_COUNTS: [usize; 4] = [1, 2, 4, 8];

/// What the vSMMUs of a VM share: the bus with their windows, guest RAM,
/// the simulated host, the installed RAM regions.
struct Machine {
    bus: RefCell<GuestBus>,
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    regions: Arc<RecordingRegions>,
    /// Objects that are not the devices' (IOAS, nesting parents, bound
    /// devices).
    baseline: usize,
}

/// One vSMMUv3 of a VM as its guest driver sees it: its windows, its
/// devices, its interrupt lines, and the guest RAM its driver allocates
/// from. Derefs to the [`Machine`] it shares with the VM's other vSMMUs.
struct Vm {
    m: Rc<Machine>,
    /// Its index on the bus.
    at: usize,
    smmu: u64,
    cmdqv: u64,
    psids: Vec<u32>,
    vsids: Vec<u32>,
    /// The guest RAM its driver allocates DMA memory from: `[start, end)`.
    dma: (u64, u64),
    cmdqv_irq: Arc<CountingIrq>,
    gerror_irq: Arc<CountingIrq>,
    eventq_irq: Arc<CountingIrq>,
}

impl std::ops::Deref for Vm {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        &self.m
    }
}

/// Guest RAM for `units` vSMMUs with `n` LVCMDQs each on `backing`-byte
/// pages: per vSMMU the VCMDQs (at most 8 MiB each), the SMMU's queues (at
/// most 8 + 16 MiB, naturally aligned), the stream table; at least QEMU's
/// 64 MiB each.
fn ram_len(units: u64, n: usize, backing: u64) -> u64 {
    let per = ((48 + 8 * n as u64) << 20).max(64 << 20);
    (units * per).div_ceil(backing) * backing
}

/// A vSMMU to build: its devices (the first one's SMMU is the vSMMU's) with
/// their physical StreamIDs, and its LVCMDQ count.
struct Unit {
    devs: Vec<(Arc<Device>, u32)>,
    lvcmdqs: usize,
}

/// The vSMMUs of `units` on `sim` (guest RAM `ram` of `len` bytes on
/// `backing`-byte pages, one IOAS over it), each over a nesting parent of
/// its first device's SMMU, its devices cold-plugged under [`VSIDS`], as a
/// VMM sets them up before the guest runs; all on one bus.
fn build(
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    len: u64,
    backing: u64,
    units: impl FnOnce(&Arc<dyn Backend>) -> Vec<Unit>,
) -> Vec<Vm> {
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, len, 0).unwrap();
    let units = units(&b);
    let parents: Vec<_> = units
        .iter()
        .map(|u| NestParent::new(&u.devs[0].0, &ioas).unwrap())
        .collect();
    let baseline = sim.live_objects();
    let regions = Arc::new(RecordingRegions::new());
    let share = len / units.len() as u64;
    let mut bus: Option<GuestBus> = None;
    let mut vms = Vec::new();
    for (k, (u, parent)) in units.into_iter().zip(parents).enumerate() {
        let (smmu, cmdqv) = (
            SMMU + UNIT_STRIDE * k as u64,
            CMDQV + UNIT_STRIDE * k as u64,
        );
        let lc = Lifecycle::new(b.clone(), parent, regions.clone(), cmdqv + VINTF0_PAGE0)
            .with_kick(Arc::new(sim.clone()))
            .with_lvcmdqs(u.lvcmdqs)
            .expect("a power of two");
        let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
        let info = host_smmuv3_info(&u.devs[0].0).unwrap();
        let (cmdqv_irq, gerror_irq, eventq_irq) = (
            Arc::new(CountingIrq::new()),
            Arc::new(CountingIrq::new()),
            Arc::new(CountingIrq::new()),
        );
        let cfg = Vsmmuv3Config {
            backing_page: backing,
            cmdqv: true,
            irqs: Irqs {
                gerror: gerror_irq.clone(),
                eventq: eventq_irq.clone(),
                cmdqv: cmdqv_irq.clone(),
            },
        };
        let mut dev = Vsmmuv3::new(core, &info, cfg).expect("a CMDQV host");
        let vsids = VSIDS[..u.devs.len()].to_vec();
        for ((d, _), v) in u.devs.iter().zip(&vsids) {
            dev.plug(d, *v).expect("plug");
        }
        match bus.as_mut() {
            None => bus = Some(GuestBus::new(dev, regions.clone(), smmu, cmdqv)),
            Some(bus) => assert_eq!(bus.add_device(dev, smmu, cmdqv), Ok(k)),
        }
        vms.push((
            k,
            smmu,
            cmdqv,
            u.devs.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            vsids,
            (RAM + share * k as u64, RAM + share * (k as u64 + 1)),
            [cmdqv_irq, gerror_irq, eventq_irq],
        ));
    }
    let m = Rc::new(Machine {
        bus: RefCell::new(bus.expect("at least one vSMMU")),
        sim,
        ram,
        regions,
        baseline,
    });
    vms.into_iter()
        .map(
            |(at, smmu, cmdqv, psids, vsids, dma, [cmdqv_irq, gerror_irq, eventq_irq])| Vm {
                m: m.clone(),
                at,
                smmu,
                cmdqv,
                psids,
                vsids,
                dma,
                cmdqv_irq,
                gerror_irq,
                eventq_irq,
            },
        )
        .collect()
}

/// A Grace host with `smmus` SMMUs whose CMDQVs have `n` LVCMDQs per VINTF
/// (at least their default two), over guest RAM of `len` bytes.
fn grace(smmus: usize, n: usize, len: u64, backing: u64) -> (SimBackend, Arc<SimGuestRam>) {
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, len, backing));
    let h = Tegra241Host {
        lvcmdqs_per_vintf: (n as u16).max(2),
        ..Default::default()
    };
    let cfg = SimConfig::tegra241_smmus(vec![h; smmus]);
    (SimBackend::new(cfg, ram.clone()), ram)
}

/// A VM with one vSMMU of `n` LVCMDQs, guest RAM backed by `backing`-byte
/// pages and both devices cold-plugged.
fn vm_with(backing: u64, n: usize) -> Vm {
    let len = ram_len(1, n, backing);
    let (sim, ram) = grace(1, n, len, backing);
    let s = sim.clone();
    let mut vms = build(sim, ram, len, backing, |b| {
        let devs = PSIDS
            .iter()
            .map(|p| (Device::external(b, s.add_device(*p)), *p))
            .collect();
        vec![Unit { devs, lvcmdqs: n }]
    });
    vms.pop().expect("one vSMMU")
}

fn vm_with_backing(backing: u64) -> Vm {
    vm_with(backing, NUM_LVCMDQS)
}

fn vm() -> Vm {
    vm_with_backing(BACKING)
}

/// A VM with two vSMMUs of `n` LVCMDQs on a host with two SMMUs, vSMMU `k`
/// for SMMU `k` with both of that SMMU's devices (the same StreamIDs on
/// each: they are per SMMU), guest RAM on 2 MiB pages (VCMDQs of 2^17
/// entries: the iommufd driver sizes them from IDR1.CMDQS).
fn two_vms(n: usize) -> (Vm, Vm) {
    let backing = 2 << 20;
    let len = ram_len(2, n, backing);
    let (sim, ram) = grace(2, n, len, backing);
    let s = sim.clone();
    let mut vms = build(sim, ram, len, backing, |b| {
        (0..2)
            .map(|smmu| {
                let devs = PSIDS
                    .iter()
                    .map(|p| (Device::external(b, s.add_device_on(smmu, *p).unwrap()), *p))
                    .collect();
                Unit { devs, lvcmdqs: n }
            })
            .collect()
    });
    let second = vms.pop().unwrap();
    (vms.pop().unwrap(), second)
}

impl Vm {
    /// Runs `f` on this vSMMU's device.
    fn dev<R>(&self, f: impl FnOnce(&Vsmmuv3) -> R) -> R {
        f(self.bus.borrow().device_at(self.at).expect("on the bus"))
    }
    fn allocated(&self, lidx: usize) -> bool {
        self.dev(|d| d.core().lc.queue_allocated(lidx))
    }
    /// Whether each of the first `n` queues has its HW queue.
    fn all_allocated(&self, n: usize) -> bool {
        (0..n).all(|l| self.allocated(l))
    }
    fn none_allocated(&self, n: usize) -> bool {
        (0..n).all(|l| !self.allocated(l))
    }
    fn installed(&self) -> bool {
        self.regions
            .installed()
            .contains(&(self.cmdqv + VINTF0_PAGE0, 0x1_0000))
    }
    fn viommu(&self) -> u32 {
        self.dev(|d| d.core().lc.viommu().unwrap().id())
    }
    fn transitions(&self) -> Vec<Transition> {
        let mut bus = self.bus.borrow_mut();
        bus.device_at_mut(self.at).unwrap().take_transitions()
    }
    fn init_errors(&self) -> u64 {
        self.dev(|d| d.cmdqv_stats().map(|s| s.init_errors).unwrap_or(0))
    }
    /// What the simulated hardware executed on logical VCMDQ `lidx` of this
    /// vSMMU's VINTF.
    fn executed(&self, lidx: usize) -> Vec<HwCommand> {
        let viommu = self.viommu();
        self.sim
            .hw_invalidations()
            .into_iter()
            .filter(|h| h.viommu == viommu && h.lidx as usize == lidx)
            .map(|h| h.cmd)
            .collect()
    }
    /// How many commands logical VCMDQ `lidx` ran over the whole run (the
    /// simulator's journal keeps only the newest entries).
    fn executed_count(&self, lidx: usize) -> u64 {
        let key = (self.viommu(), lidx as u32);
        self.sim
            .hw_invalidation_counts()
            .get(&key)
            .copied()
            .unwrap_or(0)
    }
    /// The VMM's device reset (a guest reboot).
    fn reset(&self) {
        let mut bus = self.bus.borrow_mut();
        bus.device_at_mut(self.at).unwrap().reset();
    }
    /// The VMM tears the device down; once the last vSMMU of the machine is
    /// gone, nothing of them may remain.
    fn teardown(self) {
        let t = {
            let mut bus = self.bus.borrow_mut();
            bus.device_at_mut(self.at).unwrap().teardown()
        };
        assert_eq!(t.last(), Some(&Transition::TornDown));
        assert!(!self.installed(), "region left");
        if Rc::strong_count(&self.m) == 1 {
            assert_eq!(self.sim.live_objects(), self.baseline, "objects left");
            assert_eq!(self.sim.live_mappings(), 0, "mapping left");
            assert!(self.regions.installed().is_empty(), "region left");
        }
    }
}

/// The guest's loads and stores at `base + offset`, as a generated
/// accessor's backend.
struct Loopback<'a> {
    bus: &'a RefCell<GuestBus>,
    base: u64,
}

impl Mmio for Loopback<'_> {
    fn read32(&self, offset: usize) -> u32 {
        self.bus.borrow_mut().read32(self.base + offset as u64)
    }
    fn read64(&self, offset: usize) -> u64 {
        self.bus.borrow_mut().read64(self.base + offset as u64)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.bus
            .borrow_mut()
            .write32(self.base + offset as u64, value)
    }
    fn write64(&self, offset: usize, value: u64) {
        self.bus
            .borrow_mut()
            .write64(self.base + offset as u64, value)
    }
}

// ---------------------------------------------------------------------------
// The guest: Linux's arm-smmu-v3 and tegra241-cmdqv drivers.
// ---------------------------------------------------------------------------

/// Which tegra241-cmdqv.c is replayed (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Merged,
    Iommufd,
}

const DRIVERS: [Driver; 2] = [Driver::Merged, Driver::Iommufd];

/// `VCMDQ_LOG2SIZE_MAX` of the merged driver.
const VCMDQ_LOG2SIZE_MAX: u32 = 19;
/// `CMDQ_MAX_SZ_SHIFT` of the guest kernel: `PAGE_SHIFT + MAX_PAGE_ORDER`
/// minus the 16-byte entry, here a 64 KiB-page arm64 kernel (16 + 13 - 4).
const CMDQ_MAX_SZ_SHIFT: u32 = 25;
/// `EVTQ_MAX_SZ_SHIFT` likewise, with 32-byte events (16 + 13 - 5).
const EVTQ_MAX_SZ_SHIFT: u32 = 24;
/// `CMDQ_BATCH_ENTRIES` (`BITS_PER_LONG`).
const CMDQ_BATCH_ENTRIES: usize = 64;
/// `STRTAB_SPLIT`.
const STRTAB_SPLIT: u32 = 8;
/// How many reads a `readl_poll_timeout` gets here before it gives up (the
/// models answer at once; a real guest waits ARM_SMMU_POLL_TIMEOUT_US).
const POLL_LIMIT: u32 = 64;

/// An `arm_smmu_ll_queue` with its registers: indices with the wrap bit at
/// `max_n_shift`, as the driver keeps them.
#[derive(Debug, Clone, Copy)]
struct LlQueue {
    base: u64,
    max_n_shift: u32,
    ent_bytes: u64,
    prod: u32,
    cons: u32,
}

impl LlQueue {
    fn idx(&self, p: u32) -> u32 {
        p & ((1 << self.max_n_shift) - 1)
    }
    fn wrp(&self, p: u32) -> u32 {
        p & (1 << self.max_n_shift)
    }
    fn has_space(&self, n: u32) -> bool {
        let (p, c) = (self.idx(self.prod), self.idx(self.cons));
        let space = if self.wrp(self.prod) == self.wrp(self.cons) {
            (1 << self.max_n_shift) - (p - c)
        } else {
            c - p
        };
        space >= n
    }
    fn inc(&self, p: u32, n: u32) -> u32 {
        let q = (self.wrp(p) | self.idx(p)) + n;
        (p & (1 << 31)) | self.wrp(q) | self.idx(q)
    }
    /// `queue_consumed`: CONS has gone past `prod`.
    fn consumed(&self, cons: u32, prod: u32) -> bool {
        (self.wrp(cons) == self.wrp(prod) && self.idx(cons) > self.idx(prod))
            || (self.wrp(cons) != self.wrp(prod) && self.idx(cons) <= self.idx(prod))
    }
    fn slot(&self, p: u32) -> u64 {
        self.base + u64::from(self.idx(p)) * self.ent_bytes
    }
}

/// Which command queue a command goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmdq {
    /// The SMMU's own command queue (the emulated one).
    Smmu,
    /// Logical VCMDQ `l` of VINTF 0.
    Lv(usize),
}

/// A `tegra241_vcmdq` of VINTF 0.
#[derive(Debug, Clone, Copy)]
struct Vcmdq {
    /// Global index (`vintf->idx * num_lvcmdqs_per_vintf + lidx`).
    idx: usize,
    q: LlQueue,
    /// `q_base`: the BASE value.
    q_base: u64,
    enabled: bool,
}

/// What the guest's kernel log would show, and counters.
#[derive(Debug, Default)]
struct Dmesg {
    lines: Vec<String>,
    /// `tegra241_cmdqv_isr` runs.
    cmdqv_isr: u32,
    /// `arm_smmu_gerror_handler` runs.
    gerror_isr: u32,
    /// Event queue interrupts taken.
    evtq_isr: u32,
    /// Commands (CMD_SYNCs included) each queue completed: index 0 the
    /// SMMU's queue, 1 + l logical VCMDQ l.
    completed: Vec<u64>,
}

impl Dmesg {
    fn warn(&mut self, s: String) {
        self.lines.push(s);
    }
}

/// A booted Linux guest: its driver state and the VM under it.
struct Linux {
    vm: Vm,
    drv: Driver,
    /// The DMA allocator's next free guest physical address.
    dma_next: u64,
    // arm-smmu-v3
    msipoll: bool,
    hyp: bool,
    ats: bool,
    pri: bool,
    two_level: bool,
    sid_bits: u32,
    cmdqs: u32,
    cmdq: LlQueue,
    evtq: LlQueue,
    strtab_base: u64,
    strtab_base_cfg: u32,
    l1_table: u64,
    // tegra241-cmdqv
    num_vintfs: usize,
    num_lvcmdqs: usize,
    num_sids: usize,
    vintf_enabled: bool,
    hyp_own: bool,
    vcmdqs: Vec<Vcmdq>,
    // interrupts already taken
    seen_cmdqv: u64,
    seen_gerror: u64,
    seen_evtq: u64,
    log: Dmesg,
}

/// A register handle's owner for the accessors below.
macro_rules! cmdqv {
    ($g:expr) => {
        cq::Cmdqv::new(Loopback {
            bus: &$g.vm.bus,
            base: $g.vm.cmdqv,
        })
    };
}
macro_rules! smmu {
    ($g:expr) => {
        sm::Smmuv3::new(Loopback {
            bus: &$g.vm.bus,
            base: $g.vm.smmu,
        })
    };
}

impl Linux {
    /// The guest boots on `vm`: `arm_smmu_device_probe` with the Tegra241
    /// implementation (`tegra241_cmdqv_probe` first, then
    /// `arm_smmu_device_hw_probe`, `arm_smmu_init_structures`,
    /// `arm_smmu_device_reset` which ends in `tegra241_cmdqv_hw_reset`),
    /// then the two passthrough devices' `arm_smmu_probe_device`.
    fn boot(vm: Vm, drv: Driver) -> Result<Linux, String> {
        let mut g = Linux {
            dma_next: vm.dma.0,
            vm,
            drv,
            msipoll: false,
            hyp: false,
            ats: false,
            pri: false,
            two_level: false,
            sid_bits: 0,
            cmdqs: 0,
            cmdq: LlQueue {
                base: 0,
                max_n_shift: 0,
                ent_bytes: 16,
                prod: 0,
                cons: 0,
            },
            evtq: LlQueue {
                base: 0,
                max_n_shift: 0,
                ent_bytes: 32,
                prod: 0,
                cons: 0,
            },
            strtab_base: 0,
            strtab_base_cfg: 0,
            l1_table: 0,
            num_vintfs: 0,
            num_lvcmdqs: 0,
            num_sids: 0,
            vintf_enabled: false,
            hyp_own: false,
            vcmdqs: Vec::new(),
            seen_cmdqv: 0,
            seen_gerror: 0,
            seen_evtq: 0,
            log: Dmesg::default(),
        };
        g.seen_cmdqv = g.vm.cmdqv_irq.edges();
        g.seen_gerror = g.vm.gerror_irq.edges();
        g.seen_evtq = g.vm.eventq_irq.edges();
        g.tegra241_cmdqv_probe()?;
        g.log.completed = vec![0; 1 + g.num_lvcmdqs];
        g.arm_smmu_device_hw_probe()?;
        g.arm_smmu_init_structures()?;
        g.arm_smmu_device_reset()?;
        for vsid in g.vm.vsids.clone() {
            g.arm_smmu_probe_device(vsid)?;
        }
        Ok(g)
    }

    /// CPUs issuing commands: `tegra241_cmdqv_get_cmdq` picks LVCMDQ
    /// `cpu % num_lvcmdqs_per_vintf`, so with fewer than two queues two
    /// CPUs share one.
    fn cpus(&self) -> usize {
        self.num_lvcmdqs.max(2)
    }

    /// `dmam_alloc_coherent`: zeroed, naturally aligned (buddy allocator).
    fn dma_alloc(&mut self, bytes: u64) -> u64 {
        let align = bytes.next_power_of_two().max(4096);
        let at = (self.dma_next + align - 1) & !(align - 1);
        assert!(at + bytes <= self.vm.dma.1, "guest RAM exhausted");
        self.dma_next = at + bytes;
        let zero = vec![0u8; bytes as usize];
        assert!(vdev::vmm::GuestMemory::write(
            self.vm.ram.as_ref(),
            at,
            &zero
        ));
        at
    }

    /// Takes the interrupts the device raised since the last look, as the
    /// CPU would between two instructions.
    fn irqs(&mut self) {
        if self.vm.cmdqv_irq.edges() > self.seen_cmdqv {
            self.seen_cmdqv = self.vm.cmdqv_irq.edges();
            self.tegra241_cmdqv_isr();
        }
        if self.vm.gerror_irq.edges() > self.seen_gerror {
            self.seen_gerror = self.vm.gerror_irq.edges();
            self.arm_smmu_gerror_handler();
        }
        if self.vm.eventq_irq.edges() > self.seen_evtq {
            self.seen_evtq = self.vm.eventq_irq.edges();
            self.log.evtq_isr += 1;
            self.log.warn("arm-smmu-v3: event received".into());
        }
    }

    /// `readl_poll_timeout`: reads until `done` holds, taking interrupts.
    fn poll(
        &mut self,
        what: &str,
        mut read: impl FnMut(&Self) -> u32,
        done: impl Fn(u32) -> bool,
    ) -> Result<u32, String> {
        for _ in 0..POLL_LIMIT {
            let v = read(self);
            if done(v) {
                return Ok(v);
            }
            self.irqs();
        }
        let v = read(self);
        Err(format!("{what}: timed out, last read {v:#x}"))
    }

    // ----- tegra241-cmdqv.c -------------------------------------------------

    /// `__tegra241_cmdqv_probe` (and, in the merged driver, the VINTF 0
    /// LVCMDQs allocated there: `tegra241_vintf_alloc_lvcmdq`).
    fn tegra241_cmdqv_probe(&mut self) -> Result<(), String> {
        let c = cmdqv!(self);
        // Read for the disable_cmdqv module parameter (not set).
        let _config = c.config().get();
        let param = c.param().extract();
        let num_vintfs = 1usize << param.read(cq::PARAM::NUM_VINTF_LOG2);
        let num_vcmdqs = 1usize << param.read(cq::PARAM::NUM_VCMDQ_LOG2);
        self.num_vintfs = num_vintfs;
        self.num_lvcmdqs = num_vcmdqs / num_vintfs;
        self.num_sids = 1usize << param.read(cq::PARAM::NUM_SID_PER_VM_LOG2);
        if self.drv == Driver::Merged {
            self.alloc_lvcmdqs(VCMDQ_LOG2SIZE_MAX);
        }
        Ok(())
    }

    /// `tegra241_vintf_alloc_lvcmdq` for every LVCMDQ of VINTF 0, with
    /// `tegra241_vcmdq_alloc_smmu_cmdq`'s queue of `2^log2` entries.
    fn alloc_lvcmdqs(&mut self, log2: u32) {
        for lidx in 0..self.num_lvcmdqs {
            let base = self.dma_alloc(16u64 << log2);
            let addr =
                base & (cq::VCMDQ_PAGE1::BASE::ADDR.mask << cq::VCMDQ_PAGE1::BASE::ADDR.shift);
            let q_base = addr | cq::VCMDQ_PAGE1::BASE::LOG2SIZE.val(u64::from(log2)).value;
            self.vcmdqs.push(Vcmdq {
                idx: lidx,
                q: LlQueue {
                    base,
                    max_n_shift: log2,
                    ent_bytes: 16,
                    prod: 0,
                    cons: 0,
                },
                q_base,
                enabled: false,
            });
        }
    }

    /// `tegra241_cmdqv_write_config` on one CONFIG/STATUS pair: write, then
    /// poll bit 0 of the status until it matches.
    fn write_config(
        &mut self,
        what: &str,
        write: impl Fn(&Self),
        status: impl Fn(&Self) -> u32,
        en: bool,
    ) -> Result<bool, String> {
        write(self);
        let r = self.poll(what, status, |s| (s & 1 == 1) == en);
        match r {
            Ok(s) => Ok(s & 1 == 1),
            Err(e) => {
                self.log.warn(format!(
                    "tegra241_cmdqv: {e}: failed to {}able",
                    if en { "en" } else { "dis" }
                ));
                Err(e)
            }
        }
    }

    fn cmdqv_write_config(&mut self, v: u32) -> Result<bool, String> {
        self.write_config(
            "CMDQV",
            |g| cmdqv!(g).config().set(v),
            |g| cmdqv!(g).status().get(),
            v & 1 == 1,
        )
    }

    fn vintf_write_config(&mut self, v: u32) -> Result<bool, String> {
        let r = self.write_config(
            "VINTF0",
            |g| cmdqv!(g).vintf(0).unwrap().config().set(v),
            |g| cmdqv!(g).vintf(0).unwrap().status().get(),
            v & 1 == 1,
        );
        self.vintf_enabled = matches!(r, Ok(true));
        r
    }

    fn vcmdq_write_config(&mut self, lidx: usize, v: u32) -> Result<bool, String> {
        let r = self.write_config(
            &format!("VINTF0: LVCMDQ{lidx}"),
            |g| lvcmdq0(g, lidx, |p| p.config().set(v)),
            |g| lvcmdq0(g, lidx, |p| p.status().get()),
            v & 1 == 1,
        );
        self.vcmdqs[lidx].enabled = matches!(r, Ok(true));
        if r.is_err() {
            // The driver prints the queue's error registers.
            let (gn, ge, cons) = lvcmdq0(self, lidx, |p| {
                (p.gerrorn().get(), p.gerror().get(), p.cons().get())
            });
            self.log.warn(format!(
                "LVCMDQ{lidx}: GERRORN={gn:#x}, GERROR={ge:#x}, CONS={cons:#x}"
            ));
        }
        r
    }

    /// `tegra241_cmdqv_hw_reset`: CMDQV_EN off and on again, every global
    /// VCMDQ assigned to its VINTF as an LVCMDQ, then VINTF 0 initialised.
    fn tegra241_cmdqv_hw_reset(&mut self) -> Result<(), String> {
        let regval = cmdqv!(self).config().get();
        let en = cq::CONFIG::CMDQV_EN.val(1).value;
        self.cmdqv_write_config(regval & !en)?;
        self.cmdqv_write_config(regval | en)?;
        let mut qidx = 0;
        for idx in 0..self.num_vintfs {
            for lidx in 0..self.num_lvcmdqs {
                let mut v = cq::CMDQ_ALLOC_MAP::VIRT_INTF_INDX.val(idx as u32).value
                    | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(lidx as u32).value;
                if self.drv == Driver::Merged {
                    v |= cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value;
                }
                cmdqv!(self).cmdq_alloc_map(qidx).unwrap().set(v);
                qidx += 1;
            }
        }
        self.tegra241_vintf_hw_init(true)
    }

    /// `tegra241_vintf_hw_init`: VINTF 0 reset, configured with HYP_OWN,
    /// enabled, HYP_OWN read back (a guest reads 0), then each LVCMDQ
    /// mapped (iommufd driver) and initialised, ascending.
    fn tegra241_vintf_hw_init(&mut self, hyp_own: bool) -> Result<(), String> {
        self.tegra241_vintf_hw_deinit();
        // VMID 0: VINTF 0 belongs to this (guest) kernel.
        let regval = cq::VINTF::CONFIG::HYP_OWN.val(u32::from(hyp_own)).value;
        cmdqv!(self).vintf(0).unwrap().config().set(regval);
        self.vintf_write_config(regval | cq::VINTF::CONFIG::ENABLE.val(1).value)?;
        self.hyp_own = cmdqv!(self)
            .vintf(0)
            .unwrap()
            .config()
            .is_set(cq::VINTF::CONFIG::HYP_OWN);
        for lidx in 0..self.vcmdqs.len() {
            if self.drv == Driver::Iommufd {
                self.tegra241_vcmdq_map_lvcmdq(lidx);
            }
            if let Err(e) = self.tegra241_vcmdq_hw_init(lidx) {
                self.tegra241_vintf_hw_deinit();
                return Err(e);
            }
        }
        Ok(())
    }

    /// `tegra241_vintf_hw_deinit`: each LVCMDQ reset (merged: ascending;
    /// iommufd: descending, each also unmapped), VINTF 0 disabled, and
    /// (iommufd) its SID slots cleared.
    fn tegra241_vintf_hw_deinit(&mut self) {
        let n = self.vcmdqs.len();
        match self.drv {
            Driver::Merged => (0..n).for_each(|l| self.tegra241_vcmdq_hw_deinit(l)),
            Driver::Iommufd => {
                for l in (0..n).rev() {
                    self.tegra241_vcmdq_hw_deinit(l);
                    self.tegra241_vcmdq_unmap_lvcmdq(l);
                }
            }
        }
        let _ = self.vintf_write_config(0);
        if self.drv == Driver::Iommufd {
            for s in 0..self.num_sids {
                let c = cmdqv!(self);
                c.vintf(0).unwrap().sid_match(s).unwrap().set(0);
                c.vintf(0).unwrap().sid_replace(s).unwrap().set(0);
            }
        }
    }

    fn tegra241_vcmdq_map_lvcmdq(&mut self, lidx: usize) {
        let idx = self.vcmdqs[lidx].idx;
        let c = cmdqv!(self);
        let m = c.cmdq_alloc_map(idx).unwrap();
        m.set(m.get() | cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value);
    }

    fn tegra241_vcmdq_unmap_lvcmdq(&mut self, lidx: usize) {
        let idx = self.vcmdqs[lidx].idx;
        let c = cmdqv!(self);
        let m = c.cmdq_alloc_map(idx).unwrap();
        m.set(m.get() & !cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value);
    }

    /// `tegra241_vcmdq_hw_deinit`: CONFIG 0 polling STATUS, (iommufd) a
    /// CMD_SYNC on the SMMU's queue, PROD 0, CONS 0, BASE 0, CONS_INDX_BASE
    /// 0, and an uncleared error acknowledged.
    fn tegra241_vcmdq_hw_deinit(&mut self, lidx: usize) {
        let _ = self.vcmdq_write_config(lidx, 0);
        if self.drv == Driver::Iommufd {
            // tegra241_vcmdq_hw_flush_timeout: a CS=NONE CMD_SYNC, issued
            // with a sync of its own; the result is not looked at.
            let sync = CmdSync::new().with_enum(CmdSync::CS, SyncCs::NONE);
            let _ = self.issue_cmdlist(Cmdq::Smmu, &[sync.0], true);
        }
        lvcmdq0(self, lidx, |p| p.prod().set(0));
        lvcmdq0(self, lidx, |p| p.cons().set(0));
        lvcmdq1(self, lidx, |p| p.base().set(0));
        lvcmdq1(self, lidx, |p| p.cons_indx_base().set(0));
        let gerrorn = lvcmdq0(self, lidx, |p| p.gerrorn().get());
        let gerror = lvcmdq0(self, lidx, |p| p.gerror().get());
        if gerror != gerrorn {
            self.log.warn(format!(
                "VINTF0: LVCMDQ{lidx}: uncleared error detected, resetting"
            ));
            lvcmdq0(self, lidx, |p| p.gerrorn().set(gerror));
        }
    }

    /// `tegra241_vcmdq_hw_init`: reset, BASE, then CONFIG.CMDQ_EN polling
    /// STATUS.CMDQ_EN_OK.
    fn tegra241_vcmdq_hw_init(&mut self, lidx: usize) -> Result<(), String> {
        self.tegra241_vcmdq_hw_deinit(lidx);
        let q_base = self.vcmdqs[lidx].q_base;
        lvcmdq1(self, lidx, |p| p.base().set(q_base));
        self.vcmdq_write_config(lidx, cq::VCMDQ::CONFIG::CMDQ_EN.val(1).value)?;
        Ok(())
    }

    /// `tegra241_cmdqv_isr`: the VINTF error map (two 32-bit halves, high
    /// first), the VCMDQ error maps, then VINTF 0's LVCMDQ error maps: each
    /// queue in error has its command skipped and its GERROR acknowledged.
    fn tegra241_cmdqv_isr(&mut self) {
        self.log.cmdqv_isr += 1;
        let c = cmdqv!(self);
        let hi = c.vintf_err_map(1).unwrap().get();
        let lo = c.vintf_err_map(0).unwrap().get();
        let vintf_map = u64::from(hi) << 32 | u64::from(lo);
        let maps: Vec<u32> = (0..4)
            .rev()
            .map(|m| c.cmdq_err_map(m).unwrap().get())
            .collect();
        self.log.warn(format!(
            "tegra241_cmdqv: unexpected error reported. vintf_map: {vintf_map:016x}, vcmdq_map {:08x}:{:08x}:{:08x}:{:08x}",
            maps[0], maps[1], maps[2], maps[3]
        ));
        if vintf_map & 1 == 0 {
            return;
        }
        for i in 0..2 {
            let mut map = cmdqv!(self)
                .vintf(0)
                .unwrap()
                .lvcmdq_err_map(i)
                .unwrap()
                .get();
            while map != 0 {
                let lidx = map.trailing_zeros() as usize;
                let gerror = lvcmdq0(self, lidx, |p| p.gerror().get());
                self.arm_smmu_cmdq_skip_err(Cmdq::Lv(lidx));
                lvcmdq0(self, lidx, |p| p.gerrorn().set(gerror));
                map &= !(1 << lidx);
            }
        }
    }

    /// `tegra241_cmdqv_remove` (via `tegra241_cmdqv_remove_vintf`).
    fn tegra241_cmdqv_remove(&mut self) {
        match self.drv {
            Driver::Merged => {
                // tegra241_vintf_remove_lvcmdq for each queue, ascending:
                // queue 0 is reset while queue 1 is still live.
                for l in 0..self.vcmdqs.len() {
                    self.tegra241_vcmdq_hw_deinit(l);
                }
                // The queues are gone from lvcmdqs[]: only the VINTF is left.
                let _ = self.vintf_write_config(0);
            }
            Driver::Iommufd => self.tegra241_vintf_hw_deinit(),
        }
        self.vcmdqs.clear();
    }

    /// `tegra241_cmdqv_get_cmdq`: VINTF 0's LVCMDQ `cpu % n` for the
    /// commands a guest-owned VCMDQ supports, when enabled.
    fn get_cmdq(&self, cpu: usize, opcode: u8) -> Cmdq {
        use sm::enums::CmdOpcode as Op;
        let supported = [Op::TLBI_NH_ASID, Op::TLBI_NH_VA, Op::ATC_INV]
            .iter()
            .any(|o| o.value() as u8 == opcode);
        if !self.vintf_enabled || self.vcmdqs.is_empty() {
            return Cmdq::Smmu;
        }
        let lidx = cpu % self.num_lvcmdqs;
        match self.vcmdqs.get(lidx) {
            Some(v) if v.enabled && (self.hyp_own || supported) => Cmdq::Lv(lidx),
            _ => Cmdq::Smmu,
        }
    }

    // ----- arm-smmu-v3.c ----------------------------------------------------

    /// `arm_smmu_device_hw_probe`: the ID registers the driver acts on.
    fn arm_smmu_device_hw_probe(&mut self) -> Result<(), String> {
        let s = smmu!(self);
        let idr0 = s.idr0().extract();
        self.two_level = idr0.read(sm::IDR0::ST_LEVEL) == 1;
        // Coherent as the firmware describes it: COHACC.
        self.msipoll = idr0.is_set(sm::IDR0::MSI) && idr0.is_set(sm::IDR0::COHACC);
        self.hyp = idr0.is_set(sm::IDR0::HYP);
        self.ats = idr0.is_set(sm::IDR0::ATS);
        self.pri = idr0.is_set(sm::IDR0::PRI);
        let idr1 = s.idr1().extract();
        if idr1.is_set(sm::IDR1::TABLES_PRESET)
            || idr1.is_set(sm::IDR1::QUEUES_PRESET)
            || idr1.is_set(sm::IDR1::REL)
        {
            return Err("embedded implementation not supported".into());
        }
        self.cmdqs = idr1.read(sm::IDR1::CMDQS);
        self.cmdq.max_n_shift = CMDQ_MAX_SZ_SHIFT.min(self.cmdqs);
        if self.cmdq.max_n_shift <= CMDQ_BATCH_ENTRIES.ilog2() {
            return Err("command queue size too small".into());
        }
        self.evtq.max_n_shift = EVTQ_MAX_SZ_SHIFT.min(idr1.read(sm::IDR1::EVENTQS));
        self.sid_bits = idr1.read(sm::IDR1::SIDSIZE);
        if self.sid_bits <= STRTAB_SPLIT {
            self.two_level = false;
        }
        let _ = s.idr3().get();
        let _ = s.idr5().get();
        let _ = s.iidr().get();
        Ok(())
    }

    /// `arm_smmu_init_structures`: the queues, the stream table and, in the
    /// iommufd driver, the impl's `tegra241_cmdqv_init_structures`.
    fn arm_smmu_init_structures(&mut self) -> Result<(), String> {
        self.cmdq.base = self.dma_alloc(16 << self.cmdq.max_n_shift);
        self.evtq.base = self.dma_alloc(32 << self.evtq.max_n_shift);
        if !self.two_level {
            return Err("the model's IDR0 offers a 2-level stream table".into());
        }
        // arm_smmu_init_strtab_2lvl
        let l1_ents = 1u64 << (self.sid_bits - STRTAB_SPLIT);
        self.l1_table = self.dma_alloc(l1_ents * 8);
        self.strtab_base_cfg = sm::STRTAB_BASE_CFG::FMT
            .val(StrtabFmt::TWO_LEVEL.value() as u32)
            .value
            | sm::STRTAB_BASE_CFG::LOG2SIZE.val(self.sid_bits).value
            | sm::STRTAB_BASE_CFG::SPLIT.val(STRTAB_SPLIT).value;
        let addr = self.l1_table & (sm::STRTAB_BASE::ADDR.mask << sm::STRTAB_BASE::ADDR.shift);
        self.strtab_base = addr | sm::STRTAB_BASE::RA.val(1).value;
        if self.drv == Driver::Iommufd {
            // tegra241_cmdqv_init_structures -> tegra241_vcmdq_alloc_smmu_cmdq
            let cmdqs = smmu!(self).idr1().read(sm::IDR1::CMDQS);
            self.alloc_lvcmdqs(CMDQ_MAX_SZ_SHIFT.min(cmdqs));
        }
        Ok(())
    }

    /// `arm_smmu_write_reg_sync`: write, poll the ACK register until equal.
    fn write_reg_sync(
        &mut self,
        what: &str,
        v: u32,
        write: impl Fn(&Self, u32),
        ack: impl Fn(&Self) -> u32,
    ) -> Result<(), String> {
        write(self, v);
        self.poll(what, ack, |a| a == v).map(|_| ())
    }

    fn cr0_sync(&mut self, v: u32) -> Result<(), String> {
        self.write_reg_sync(
            "CR0",
            v,
            |g, v| smmu!(g).cr0().set(v),
            |g| smmu!(g).cr0ack().get(),
        )
    }

    /// `arm_smmu_update_gbpa`.
    fn update_gbpa(&mut self, set: u32, clr: u32) -> Result<(), String> {
        let upd = sm::GBPA::UPDATE.val(1).value;
        let reg = self.poll("GBPA", |g| smmu!(g).gbpa().get(), |r| r & upd == 0)?;
        smmu!(self).gbpa().set(((reg & !clr) | set) | upd);
        self.poll("GBPA", |g| smmu!(g).gbpa().get(), |r| r & upd == 0)
            .map(|_| ())
    }

    /// `arm_smmu_device_reset`: CR0 cleared, CR1/CR2, the stream table, the
    /// command queue enabled, configuration and TLBs invalidated, the event
    /// queue, ATS checks, the interrupts, SMMUEN; then the implementation's
    /// `device_reset` (`tegra241_cmdqv_hw_reset`).
    fn arm_smmu_device_reset(&mut self) -> Result<(), String> {
        if smmu!(self).cr0().is_set(sm::CR0::SMMUEN) {
            self.log
                .warn("arm-smmu-v3: SMMU currently enabled! Resetting...".into());
            self.update_gbpa(sm::GBPA::ABORT.val(1).value, 0)?;
        }
        self.cr0_sync(0)?;
        let wb = 1; // CR1_CACHE_WB
        let ish = Shareability::ISH.value() as u32;
        smmu!(self).cr1().set(
            sm::CR1::TABLE_SH.val(ish).value
                | sm::CR1::TABLE_OC.val(wb).value
                | sm::CR1::TABLE_IC.val(wb).value
                | sm::CR1::QUEUE_SH.val(ish).value
                | sm::CR1::QUEUE_OC.val(wb).value
                | sm::CR1::QUEUE_IC.val(wb).value,
        );
        smmu!(self)
            .cr2()
            .set(sm::CR2::PTM.val(1).value | sm::CR2::RECINVSID.val(1).value);
        let (sb, sbc) = (self.strtab_base, self.strtab_base_cfg);
        smmu!(self).strtab_base().set(sb);
        smmu!(self).strtab_base_cfg().set(sbc);
        let cmdq_base = self.q_base(&self.cmdq, true);
        let (p, c) = (self.cmdq.prod, self.cmdq.cons);
        smmu!(self).cmdq_base().set(cmdq_base);
        smmu!(self).cmdq_prod().set(p);
        smmu!(self).cmdq_cons().set(c);
        let mut enables = sm::CR0::CMDQEN.val(1).value;
        self.cr0_sync(enables)?;
        // Invalidate any cached configuration, then stale TLB entries.
        self.issue_with_sync(CmdCfgiAll::new().0)?;
        if self.hyp {
            self.issue_with_sync(CmdTlbiEl2All::new().0)?;
        }
        self.issue_with_sync(CmdTlbiNsnhAll::new().0)?;
        let evtq_base = self.q_base(&self.evtq, false);
        let (p, c) = (self.evtq.prod, self.evtq.cons);
        smmu!(self).eventq_base().set(evtq_base);
        smmu!(self).eventq_prod().set(p);
        smmu!(self).eventq_cons().set(c);
        enables |= sm::CR0::EVENTQEN.val(1).value;
        self.cr0_sync(enables)?;
        if self.pri {
            return Err("the model offers no PRI queue".into());
        }
        if self.ats {
            enables |= sm::CR0::ATSCHK.val(1).value;
            self.cr0_sync(enables)?;
        }
        // arm_smmu_setup_irqs: off, the MSI addresses cleared (wired
        // interrupts here), on.
        self.write_reg_sync(
            "IRQ_CTRL",
            0,
            |g, v| smmu!(g).irq_ctrl().set(v),
            |g| smmu!(g).irq_ctrlack().get(),
        )?;
        smmu!(self).gerror_irq_cfg0().set(0);
        smmu!(self).eventq_irq_cfg0().set(0);
        let irqen =
            sm::IRQ_CTRL::EVENTQ_IRQEN.val(1).value | sm::IRQ_CTRL::GERROR_IRQEN.val(1).value;
        self.write_reg_sync(
            "IRQ_CTRL",
            irqen,
            |g, v| smmu!(g).irq_ctrl().set(v),
            |g| smmu!(g).irq_ctrlack().get(),
        )?;
        enables |= sm::CR0::SMMUEN.val(1).value;
        self.cr0_sync(enables)?;
        self.tegra241_cmdqv_hw_reset()
    }

    /// `q_base` of an SMMU queue: RA/WA, the address, LOG2SIZE.
    fn q_base(&self, q: &LlQueue, cmdq: bool) -> u64 {
        let addr = q.base & (sm::CMDQ_BASE::ADDR.mask << sm::CMDQ_BASE::ADDR.shift);
        let ra = if cmdq {
            sm::CMDQ_BASE::RA.val(1).value
        } else {
            sm::EVENTQ_BASE::WA.val(1).value
        };
        addr | ra | sm::CMDQ_BASE::LOG2SIZE.val(u64::from(q.max_n_shift)).value
    }

    /// `arm_smmu_probe_device` -> `arm_smmu_init_sid_strtab`: the device's
    /// level-2 stream table (abort STEs: disable_bypass) and its L1
    /// descriptor.
    fn arm_smmu_probe_device(&mut self, sid: u32) -> Result<(), String> {
        let l1 = u64::from(sid >> STRTAB_SPLIT);
        let desc_at = self.l1_table + l1 * 8;
        if self.vm.ram.read_u64(desc_at) != Some(0) {
            return Ok(());
        }
        let ents = 1u64 << STRTAB_SPLIT;
        let l2 = self.dma_alloc(ents * 64);
        let abort = Ste::new()
            .with(Ste::V, 1)
            .with_enum(Ste::CONFIG, SteConfig::ABORT);
        for i in 0..ents {
            for (w, v) in abort.0.iter().enumerate() {
                assert!(self.vm.ram.write_u64(l2 + i * 64 + w as u64 * 8, *v));
            }
        }
        let desc = L1Std::new()
            .with(L1Std::L2PTR, l2 >> 6)
            .with(L1Std::SPAN, u64::from(STRTAB_SPLIT + 1));
        assert!(self.vm.ram.write_u64(desc_at, desc.0[0]));
        Ok(())
    }

    /// `arm_smmu_cmdq_issue_cmd_with_sync` on the SMMU's queue.
    fn issue_with_sync(&mut self, cmd: [u64; 2]) -> Result<(), String> {
        self.issue_cmdlist(Cmdq::Smmu, &[cmd], true)
    }

    fn queue(&mut self, q: Cmdq) -> &mut LlQueue {
        match q {
            Cmdq::Smmu => &mut self.cmdq,
            Cmdq::Lv(l) => &mut self.vcmdqs[l].q,
        }
    }

    fn read_cons(&self, q: Cmdq) -> u32 {
        match q {
            Cmdq::Smmu => smmu!(self).cmdq_cons().get(),
            Cmdq::Lv(l) => lvcmdq0(self, l, |p| p.cons().get()),
        }
    }

    fn write_prod(&self, q: Cmdq, v: u32) {
        match q {
            Cmdq::Smmu => smmu!(self).cmdq_prod().set(v),
            Cmdq::Lv(l) => lvcmdq0(self, l, |p| p.prod().set(v)),
        }
    }

    /// `arm_smmu_cmdq_build_sync_cmd` for a CMD_SYNC at `prod` of `q`.
    fn build_sync(&self, q: Cmdq, prod: u32) -> [u64; 2] {
        let c = CmdSync::new()
            .with_enum(CmdSync::MSH, Shareability::ISH)
            .with_enum(CmdSync::MSIATTR, MemAttr::NORMAL_WB);
        match q {
            // arm_smmu_cmdq_needs_busy_polling: a Tegra241 VCMDQ.
            Cmdq::Lv(_) => c.with_enum(CmdSync::CS, SyncCs::NONE).0,
            Cmdq::Smmu if self.msipoll => {
                let at = self.cmdq.slot(prod);
                c.with_enum(CmdSync::CS, SyncCs::IRQ)
                    .with(CmdSync::MSIADDR, at >> 2)
                    .0
            }
            Cmdq::Smmu => c.with_enum(CmdSync::CS, SyncCs::SEV).0,
        }
    }

    /// `arm_smmu_cmdq_issue_cmdlist` on one CPU: room (CONS re-read while
    /// the queue looks full), the commands and an optional CMD_SYNC written
    /// at PROD, PROD published, then the sync waited for (its MSI write on
    /// the SMMU's queue, CONS passing it on a VCMDQ).
    fn issue_cmdlist(&mut self, which: Cmdq, cmds: &[[u64; 2]], sync: bool) -> Result<(), String> {
        let n = (cmds.len() + usize::from(sync)) as u32;
        let mut polls = 0;
        while !self.queue(which).has_space(n) {
            let cons = self.read_cons(which);
            self.queue(which).cons = cons;
            self.irqs();
            polls += 1;
            if polls > POLL_LIMIT {
                return Err(format!("{which:?}: no room for {n} commands"));
            }
        }
        let q = *self.queue(which);
        for (i, c) in cmds.iter().enumerate() {
            let at = q.slot(q.inc(q.prod, i as u32));
            assert!(self.vm.ram.write_u64(at, c[0]) && self.vm.ram.write_u64(at + 8, c[1]));
        }
        let sync_prod = q.inc(q.prod, cmds.len() as u32);
        if sync {
            let s = self.build_sync(which, sync_prod);
            let at = q.slot(sync_prod);
            assert!(self.vm.ram.write_u64(at, s[0]) && self.vm.ram.write_u64(at + 8, s[1]));
        }
        let prod = q.inc(q.prod, n);
        self.queue(which).prod = prod;
        self.write_prod(which, prod & !(1 << 31));
        let slot = match which {
            Cmdq::Smmu => 0,
            Cmdq::Lv(l) => 1 + l,
        };
        if !sync {
            self.log.completed[slot] += u64::from(n);
            return Ok(());
        }
        let msi = which == Cmdq::Smmu && self.msipoll;
        let at = q.slot(sync_prod);
        let res = if msi {
            // __arm_smmu_cmdq_poll_until_msi: the first word of the CMD_SYNC
            // becomes its MSI data (0).
            self.poll(
                "CMD_SYNC",
                |g| g.vm.ram.read_u64(at).unwrap_or(0) as u32,
                |v| v == 0,
            )
            .map(|_| prod)
        } else {
            self.poll(
                "CMD_SYNC",
                |g| g.read_cons(which),
                |c| q.consumed(c, sync_prod),
            )
        };
        match res {
            Ok(cons) => {
                self.queue(which).cons = if msi { prod } else { cons };
                self.log.completed[slot] += u64::from(n);
                Ok(())
            }
            Err(e) => {
                let hw = self.read_cons(which);
                self.log.warn(format!("arm-smmu-v3: CMD_SYNC timeout at {sync_prod:#x} [hwprod {prod:#x}, hwcons {hw:#x}] ({which:?})"));
                Err(e)
            }
        }
    }

    /// A batch as `arm_smmu_cmdq_batch_add` / `_submit` build it from CPU
    /// `cpu`: the queue chosen by the first command, a full batch issued
    /// without a sync, a command the queue does not take flushing the batch
    /// to a new queue, the rest with a sync.
    fn batch(&mut self, cpu: usize, cmds: &[[u64; 2]]) -> Result<(), String> {
        let mut q = match cmds.first() {
            Some(c) => self.get_cmdq(cpu, c[0] as u8),
            None => return Ok(()),
        };
        let mut pending: Vec<[u64; 2]> = Vec::new();
        for c in cmds {
            let want = self.get_cmdq(cpu, c[0] as u8);
            if want != q {
                self.issue_cmdlist(q, &pending, false)?;
                pending.clear();
                q = want;
            }
            if pending.len() == CMDQ_BATCH_ENTRIES {
                self.issue_cmdlist(q, &pending, false)?;
                pending.clear();
            }
            pending.push(*c);
        }
        self.issue_cmdlist(q, &pending, true)
    }

    /// `__arm_smmu_cmdq_skip_err`: CONS.ERR read; an illegal command is
    /// replaced by a CMD_SYNC (CS = NONE on a VCMDQ).
    fn arm_smmu_cmdq_skip_err(&mut self, which: Cmdq) {
        let cons = self.read_cons(which);
        let idx = sm::CMDQ_CONS::ERR.read(cons);
        self.log.warn(format!(
            "arm-smmu-v3: CMDQ error (cons {cons:#010x}): code {idx}"
        ));
        use sm::enums::CmdError;
        if idx == CmdError::CERROR_ABT.value() as u32
            || idx == CmdError::CERROR_NONE.value() as u32
            || idx == CmdError::CERROR_ATC_INV_SYNC.value() as u32
        {
            return;
        }
        let q = *self.queue(which);
        let at = q.slot(cons);
        let mut s = CmdSync::new()
            .with_enum(CmdSync::CS, SyncCs::SEV)
            .with_enum(CmdSync::MSH, Shareability::ISH)
            .with_enum(CmdSync::MSIATTR, MemAttr::NORMAL_WB);
        if matches!(which, Cmdq::Lv(_)) {
            s = s.with_enum(CmdSync::CS, SyncCs::NONE);
        }
        self.log
            .warn("arm-smmu-v3: skipping command in error state".into());
        assert!(self.vm.ram.write_u64(at, s.0[0]) && self.vm.ram.write_u64(at + 8, s.0[1]));
    }

    /// `arm_smmu_gerror_handler`: active errors, CMDQ_ERR skipped, all
    /// acknowledged.
    fn arm_smmu_gerror_handler(&mut self) {
        self.log.gerror_isr += 1;
        let (ge, gn) = (smmu!(self).gerror().get(), smmu!(self).gerrorn().get());
        let active = ge ^ gn;
        if active == 0 {
            return;
        }
        self.log.warn(format!(
            "arm-smmu-v3: unexpected global error reported ({active:#x})"
        ));
        if active & sm::GERROR::CMDQ_ERR.val(1).value != 0 {
            self.arm_smmu_cmdq_skip_err(Cmdq::Smmu);
        }
        smmu!(self).gerrorn().set(ge);
    }

    /// `arm_smmu_device_shutdown` (a reboot): CR0 cleared.
    fn shutdown(mut self) -> Vm {
        let _ = self.cr0_sync(0);
        self.vm
    }

    /// `arm_smmu_device_remove` (CR0 cleared by `arm_smmu_device_disable`)
    /// and then, as its devres action, `tegra241_cmdqv_remove`.
    fn remove(mut self) -> (Vm, Dmesg) {
        if let Err(e) = self.cr0_sync(0) {
            self.log
                .warn(format!("arm-smmu-v3: failed to clear cr0: {e}"));
        }
        self.tegra241_cmdqv_remove();
        (self.vm, self.log)
    }
}

/// Runs `f` on VINTF 0's logical VCMDQ `lidx`, page 0 (what the driver's
/// `vcmdq->page0` points at).
fn lvcmdq0<R>(
    g: &Linux,
    lidx: usize,
    f: impl FnOnce(cq::VintfPage0Lvcmdq<'_, Loopback<'_>>) -> R,
) -> R {
    let c = cmdqv!(g);
    let p = c.vintf_page0(0).unwrap();
    f(p.lvcmdq(lidx).unwrap())
}

/// Likewise on page 1 (`vcmdq->page1`).
fn lvcmdq1<R>(
    g: &Linux,
    lidx: usize,
    f: impl FnOnce(cq::VintfPage1Lvcmdq<'_, Loopback<'_>>) -> R,
) -> R {
    let c = cmdqv!(g);
    let p = c.vintf_page1(0).unwrap();
    f(p.lvcmdq(lidx).unwrap())
}

// ---------------------------------------------------------------------------
// Workloads: the commands Linux sends through a guest VCMDQ.
// ---------------------------------------------------------------------------

/// `arm_smmu_tlb_inv_range_asid`-style invalidations: `n` leaf TLBI_NH_VA
/// of 4 KiB pages (no range: one command per page).
fn tlbi_va(asid: u16, iova: u64, n: usize) -> Vec<[u64; 2]> {
    (0..n as u64)
        .map(|i| {
            CmdTlbiNhVa::new()
                .with(CmdTlbiNhVa::ASID, u64::from(asid))
                .with(CmdTlbiNhVa::LEAF, 1)
                .with(CmdTlbiNhVa::ADDR, (iova >> 12) + i)
                .0
        })
        .collect()
}

/// `arm_smmu_tlb_inv_asid`.
fn tlbi_asid(asid: u16) -> [u64; 2] {
    CmdTlbiNhAsid::new()
        .with(CmdTlbiNhAsid::ASID, u64::from(asid))
        .0
}

/// `arm_smmu_atc_inv_to_cmd`: a span of `2^size` pages at `iova`, or
/// everything (size 52) with or without a substream.
fn atc_inv(sid: u32, ssid: Option<u32>, iova: u64, size: u64, global: bool) -> [u64; 2] {
    let mut c = CmdAtcInv::new()
        .with(CmdAtcInv::SID, u64::from(sid))
        .with(CmdAtcInv::SIZE, size)
        .with(CmdAtcInv::ADDR, iova >> 12)
        .with(CmdAtcInv::GLOBAL, u64::from(global));
    if let Some(s) = ssid {
        c = c
            .with(CmdAtcInv::SSV, 1)
            .with(CmdAtcInv::SSID, u64::from(s));
    }
    c.0
}

/// What a CPU sends in one round: a range of TLBI_NH_VA (a full batch and
/// more), a TLBI_NH_ASID, ATC invalidations for both devices; each a batch
/// ending in a CMD_SYNC. Returns the commands sent, syncs included.
fn round(g: &mut Linux, cpu: usize, k: u64) -> Result<u64, String> {
    let asid = 1 + cpu as u16;
    let va = tlbi_va(asid, 0x1_0000_0000 + (k << 20), CMDQ_BATCH_ENTRIES + 6);
    let atc: Vec<_> =
        g.vm.vsids
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    atc_inv(*s, None, 0x8000_0000 + (k << 16), 4, false)
                } else {
                    atc_inv(*s, Some(3), 0, 52, true)
                }
            })
            .collect();
    g.batch(cpu, &va)?;
    g.batch(cpu, &[tlbi_asid(asid)])?;
    g.batch(cpu, &atc)?;
    // Two syncs for the batch of 70 (a full batch goes out without one).
    Ok(va.len() as u64 + 1 + 1 + 1 + atc.len() as u64 + 1)
}

/// Sends at least `per_cpu` commands from each CPU; returns how many each
/// logical VCMDQ received (syncs included).
fn workload(g: &mut Linux, per_cpu: u64) -> Result<Vec<u64>, String> {
    let mut sent = vec![0u64; g.cpus()];
    let mut k = 0;
    while sent.iter().any(|s| *s < per_cpu) {
        for (cpu, s) in sent.iter_mut().enumerate() {
            *s += round(g, cpu, k)?;
        }
        k += 1;
    }
    // CPU c's commands went to LVCMDQ c % n.
    let mut per_queue = vec![0u64; g.num_lvcmdqs];
    for (cpu, s) in sent.iter().enumerate() {
        per_queue[cpu % g.num_lvcmdqs] += s;
    }
    Ok(per_queue)
}

/// The checks of a clean boot: every queue up in the page, no
/// CMDQ_INIT_ERR, no interrupt, nothing in the kernel log.
fn assert_clean_boot(g: &Linux, what: &str) {
    assert!(
        g.vcmdqs.len() == g.num_lvcmdqs,
        "{what}: a VCMDQ per LVCMDQ"
    );
    assert!(g.vm.all_allocated(g.num_lvcmdqs), "{what}: queues up");
    assert!(g.vm.installed(), "{what}: VINTF page installed");
    assert!(g.vintf_enabled, "{what}: VINTF enabled");
    assert!(!g.hyp_own, "{what}: HYP_OWN reads 0 in a guest");
    for (l, v) in g.vcmdqs.iter().enumerate() {
        assert!(v.enabled, "{what}: LVCMDQ{l} CMDQ_EN_OK");
    }
    assert_eq!(g.vm.init_errors(), 0, "{what}: CMDQ_INIT_ERR raised");
    assert_eq!(g.vm.cmdqv_irq.edges(), 0, "{what}: CMDQV interrupt");
    assert_eq!(g.vm.gerror_irq.edges(), 0, "{what}: GERROR interrupt");
    assert_eq!(g.log.cmdqv_isr, 0, "{what}");
    assert!(
        g.log.lines.is_empty(),
        "{what}: kernel log {:?}",
        g.log.lines
    );
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

/// The transitions that move queues and the page.
fn moves(t: &[Transition]) -> Vec<&Transition> {
    t.iter()
        .filter(|t| {
            matches!(
                t,
                Transition::QueueAllocated { .. }
                    | Transition::QueueFreed { .. }
                    | Transition::QueueInitError { .. }
                    | Transition::RegionInstalled { .. }
                    | Transition::RegionRemoved { .. }
            )
        })
        .collect()
}

/// `__tegra241_cmdqv_probe`: CONFIG and PARAM as the guest reads them, and
/// the reset state they imply, agreeing with STATUS and the lifecycle; PARAM
/// says as many VCMDQs as the VMM gave the vSMMU.
#[test]
fn tegra241_cmdqv_probe_reads_config_and_param() {
    for n in LVCMDQ_COUNTS {
        let vm = vm_with(BACKING, n);
        let c = cq::Cmdqv::new(Loopback {
            bus: &vm.bus,
            base: vm.cmdqv,
        });
        let config = c.config().get();
        assert_eq!(config, cq::CONFIG::RESET);
        assert!(cq::CONFIG::CMDQV_EN.is_set(config), "CMDQV_EN resets to 1");
        assert!(
            c.status().is_set(cq::STATUS::CMDQV_ENABLED),
            "STATUS agrees"
        );
        assert!(vm.dev(|d| d.core().lc.cmdqv_enabled()), "lifecycle agrees");
        let param = c.param().extract();
        assert_eq!(1 << param.read(cq::PARAM::NUM_VINTF_LOG2), 1);
        assert_eq!(1 << param.read(cq::PARAM::NUM_VCMDQ_LOG2), n);
        assert_eq!(1 << param.read(cq::PARAM::NUM_SID_PER_VM_LOG2), 16);
        assert_eq!(param.read(cq::PARAM::VER), 1);
        if n == NUM_LVCMDQS {
            assert_eq!(param.get(), cq::PARAM::RESET, "QEMU's instance");
        }
        // Nothing was allocated by reading.
        assert!(!vm.allocated(0) && !vm.installed());
        // The same after the VMM's device reset.
        vm.reset();
        let c = cq::Cmdqv::new(Loopback {
            bus: &vm.bus,
            base: vm.cmdqv,
        });
        assert_eq!(c.config().get(), cq::CONFIG::RESET);
        assert!(c.status().is_set(cq::STATUS::CMDQV_ENABLED));
        assert_eq!(1 << c.param().read(cq::PARAM::NUM_VCMDQ_LOG2), n);
        assert!(vm.dev(|d| d.core().lc.cmdqv_enabled()));
        vm.teardown();
    }
}

/// `arm_smmu_device_hw_probe` + `arm_smmu_device_reset` on the SMMU window:
/// CR0 off polling CR0ACK, tables and queues, CMDQEN, CFGI_ALL and TLBI
/// each with a CMD_SYNC (MSI polled), the event queue, ATSCHK, the
/// interrupts, SMMUEN; then the CMDQV's reset.
#[test]
fn arm_smmu_device_reset_brings_the_smmu_window_up() {
    for n in LVCMDQ_COUNTS {
        for drv in DRIVERS {
            let g = Linux::boot(vm_with(BACKING, n), drv).expect("boot");
            let s = smmu!(g);
            let cr0 = s.cr0ack().extract();
            for f in [
                sm::CR0::SMMUEN,
                sm::CR0::CMDQEN,
                sm::CR0::EVENTQEN,
                sm::CR0::ATSCHK,
            ] {
                assert!(cr0.is_set(f), "{drv:?}: CR0ACK {:#x}", cr0.get());
            }
            assert_eq!(s.irq_ctrlack().get(), s.irq_ctrl().get());
            assert_eq!(s.gerror().get(), s.gerrorn().get(), "no global error");
            assert!(g.msipoll, "IDR0.MSI + COHACC: CMD_SYNC completion by MSI");
            assert!(!g.hyp, "no TLBI_EL2_ALL for a guest (IDR0.HYP = 0)");
            // CFGI_ALL + SYNC and TLBI_NSNH_ALL + SYNC, and (iommufd) a
            // CMD_SYNC + SYNC pair from each LVCMDQ's hw_deinit, twice per
            // queue (vintf_hw_deinit, then vcmdq_hw_init).
            let flushes = if drv == Driver::Iommufd { 2 * 2 * n } else { 0 } as u64;
            assert_eq!(g.log.completed[0], 4 + flushes, "{drv:?} n={n}");
            assert_eq!(g.vm.dev(|d| d.core().stats.commands), 4 + flushes);
            assert_eq!(g.vm.eventq_irq.edges(), 0);
            assert_clean_boot(&g, &format!("{drv:?} n={n}"));
            g.remove().0.teardown();
        }
    }
}

/// `tegra241_cmdqv_hw_reset` (CMDQV_EN off then on polling STATUS,
/// CMDQ_ALLOC_MAP for every queue, `tegra241_vintf_hw_init` with HYP_OWN
/// written and read back as 0, each `tegra241_vcmdq_hw_init`:
/// `tegra241_vcmdq_hw_deinit` then BASE and CONFIG.CMDQ_EN polling EN_OK):
/// every LVCMDQ comes up, the BASE=0 of each reset is no allocation
/// attempt, the page is installed at the first allocation, and nothing is
/// reported.
#[test]
fn tegra241_cmdqv_hw_reset_brings_every_lvcmdq_up_without_an_error() {
    for n in LVCMDQ_COUNTS {
        for drv in DRIVERS {
            let what = format!("{drv:?} n={n}");
            let g = Linux::boot(vm_with(BACKING, n), drv).expect("boot");
            assert_clean_boot(&g, &what);
            let t = g.vm.transitions();
            // Allocated exactly once each, ascending; installed after queue
            // 0, never removed; no init error.
            let mut want = vec![Transition::QueueAllocated {
                lidx: 0,
                hw_queue: 0,
            }];
            want.push(Transition::RegionInstalled {
                gpa: g.vm.cmdqv + VINTF0_PAGE0,
            });
            want.extend((1..n).map(|lidx| Transition::QueueAllocated { lidx, hw_queue: 0 }));
            let got: Vec<Transition> = moves(&t)
                .into_iter()
                .map(|t| match t {
                    // HW queue ids are the kernel's business.
                    Transition::QueueAllocated { lidx, .. } => Transition::QueueAllocated {
                        lidx: *lidx,
                        hw_queue: 0,
                    },
                    other => other.clone(),
                })
                .collect();
            assert_eq!(got, want, "{what}");
            assert_eq!(g.vm.regions.counts(), (1, 0));
            // The queues Linux sized: 2^19 entries, at the BASE it wrote.
            let snap = g.vm.sim.vintf(g.vm.viommu()).unwrap();
            for (l, v) in g.vcmdqs.iter().enumerate() {
                assert_eq!(v.q.max_n_shift, 19, "{what}");
                let (_, pa, log2) = snap.queues[l].expect("HW queue");
                assert_eq!(log2, 19);
                assert_eq!(
                    Some(pa),
                    vdev::vmm::GuestMemory::host_phys(g.vm.ram.as_ref(), v.q.base)
                );
            }
            // The VINTF's ALLOC_MAP as the driver left it.
            let c = cmdqv!(g);
            for q in 0..n {
                let m = c.cmdq_alloc_map(q).unwrap().extract();
                assert!(m.is_set(cq::CMDQ_ALLOC_MAP::ALLOC));
                assert_eq!(m.read(cq::CMDQ_ALLOC_MAP::LVCMDQ), q as u32);
            }
            g.remove().0.teardown();
        }
    }
}

/// Checks what the hardware executed on each LVCMDQ after a [`workload`]
/// that sent `sent[l]` commands there: the count, the VINTF's VMID on the
/// TLBIs, the ASIDs of the CPUs that share the queue, each vSID replaced by
/// the device's physical SID.
fn assert_executed(g: &Linux, sent: &[u64], what: &str) {
    let vintf_vmid = g.vm.sim.vintf(g.vm.viommu()).unwrap().vmid;
    for (l, &sent_l) in sent.iter().enumerate() {
        assert_eq!(g.log.completed[1 + l], sent_l, "{what}: LVCMDQ{l}");
        let done = g.vm.executed(l);
        assert_eq!(done.len() as u64, sent_l, "{what}: executed on LVCMDQ{l}");
        // CPU c uses ASID 1 + c and LVCMDQ c % n.
        let asids: Vec<u16> = (0..g.cpus())
            .filter(|c| c % g.num_lvcmdqs == l)
            .map(|c| 1 + c as u16)
            .collect();
        let mut atc = 0;
        for c in &done {
            match *c {
                HwCommand::TlbiNhVa {
                    vmid,
                    asid: a,
                    leaf,
                    ..
                } => assert!(vmid == vintf_vmid && asids.contains(&a) && leaf, "{c:?}"),
                HwCommand::TlbiNhAsid { vmid, asid: a } => {
                    assert!(vmid == vintf_vmid && asids.contains(&a), "{c:?}")
                }
                HwCommand::AtcInv {
                    vsid,
                    psid,
                    ssid,
                    size,
                    global,
                    ..
                } => {
                    let i =
                        g.vm.vsids
                            .iter()
                            .position(|v| *v == vsid)
                            .expect("a plugged vSID");
                    assert_eq!(psid, g.vm.psids[i]);
                    // What `round` sent: device 0 a 16-page span, device 1
                    // everything of substream 3 with the Global bit.
                    let want = if i == 0 {
                        (None, 4, false)
                    } else {
                        (Some(3), 52, true)
                    };
                    assert_eq!((ssid, size, global), want, "{c:?}");
                    atc += 1;
                }
                HwCommand::Sync { cs } => assert_eq!(cs, SyncCs::NONE.value() as u8),
            }
        }
        assert!(atc > 0, "{what}: LVCMDQ{l}");
        // PROD and CONS as the driver and the hardware left them.
        let (prod, cons) = lvcmdq0(g, l, |p| (p.prod().get(), p.cons().get()));
        assert_eq!(prod, g.vcmdqs[l].q.prod);
        assert_eq!(cons, prod, "{what}: LVCMDQ{l} drained");
    }
}

/// Command batches through each LVCMDQ with the driver's own command set
/// (`tegra241_guest_vcmdq_supports_cmd`: TLBI_NH_ASID, TLBI_NH_VA, ATC_INV;
/// CMD_SYNC) and its PROD/CONS handling (`arm_smmu_cmdq_issue_cmdlist`) on
/// 2^19-entry queues, from CPUs that pick LVCMDQ `cpu % n`; what the queue
/// does not take (CFGI_STE) goes to the SMMU's own queue.
#[test]
fn arm_smmu_cmdq_issue_cmdlist_completes_every_command_on_every_lvcmdq() {
    for n in LVCMDQ_COUNTS {
        for drv in DRIVERS {
            let what = format!("{drv:?} n={n}");
            let mut g = Linux::boot(vm_with(BACKING, n), drv).expect("boot");
            let smmu_before = g.log.completed[0];
            let sent = workload(&mut g, 2048).expect("commands");
            assert_eq!(sent.len(), n);
            assert!(sent.iter().all(|s| *s >= 2048), "{what}: {sent:?}");
            // CFGI_STE is not a guest VCMDQ's: the SMMU's queue takes it.
            let cfgi = CmdCfgiSte::new()
                .with(CmdCfgiSte::SID, u64::from(VSIDS[0]))
                .with(CmdCfgiSte::LEAF, 1);
            assert_eq!(g.get_cmdq(0, cfgi.0[0] as u8), Cmdq::Smmu);
            g.batch(0, &[cfgi.0]).unwrap();
            assert_eq!(g.log.completed[0], smmu_before + 2);
            assert_executed(&g, &sent, &what);
            assert_clean_boot(&g, &format!("{what} after the commands"));
            g.remove().0.teardown();
        }
    }
}

/// `tegra241_cmdqv_isr` after an illegal command on the highest LVCMDQ (one
/// Linux itself never puts on a guest VCMDQ, standing for a corrupted
/// entry): VINTF_ERR_MAP, the VCMDQ error maps, LVCMDQ_ERR_MAP, GERROR, the
/// command turned into a CMD_SYNC (`__arm_smmu_cmdq_skip_err`), GERRORN;
/// the waiting CMD_SYNC then completes and the queue goes on.
#[test]
fn tegra241_cmdqv_isr_recovers_a_vcmdq_from_an_illegal_command() {
    for n in LVCMDQ_COUNTS {
        for drv in DRIVERS {
            let mut g = Linux::boot(vm_with(BACKING, n), drv).expect("boot");
            let lidx = n - 1;
            let bad = CmdTlbiNhVaa::new().with(CmdTlbiNhVaa::ADDR, 0x1234).0;
            let cmds = [tlbi_asid(2), bad, tlbi_asid(2)];
            g.issue_cmdlist(Cmdq::Lv(lidx), &cmds, true)
                .expect("recovered");
            assert_eq!(g.log.cmdqv_isr, 1, "{drv:?}");
            assert_eq!(g.vm.cmdqv_irq.edges(), 1);
            let lines = g.log.lines.join("\n");
            // Global VCMDQ lidx (VINTF 0's) in CMDQ_ERR_MAP word lidx / 32,
            // printed highest word first.
            let mut words = [0u32; 4];
            words[lidx / 32] = 1 << (lidx % 32);
            let map = format!(
                "vintf_map: 0000000000000001, vcmdq_map {:08x}:{:08x}:{:08x}:{:08x}",
                words[3], words[2], words[1], words[0]
            );
            assert!(lines.contains(&map), "{lines}");
            assert!(
                lines.contains(&format!(
                    "code {}",
                    cq::enums::VcmdqError::CERROR_ILL_OPCODE.value()
                )),
                "{lines}"
            );
            // The bad entry now holds the CMD_SYNC the hardware executed.
            let done = g.vm.executed(lidx);
            assert_eq!(done.len(), 4, "{done:?}");
            assert!(matches!(done[1], HwCommand::Sync { .. }));
            // Nothing pending any more, and the queue goes on.
            let c = cmdqv!(g);
            assert_eq!(c.vintf(0).unwrap().lvcmdq_err_map(0).unwrap().get(), 0);
            assert_eq!(c.vintf_err_map(0).unwrap().get(), 0);
            let (ge, gn) = lvcmdq0(&g, lidx, |p| (p.gerror().get(), p.gerrorn().get()));
            assert_eq!(ge, gn);
            g.batch(lidx, &[tlbi_asid(2)]).unwrap();
            assert_eq!(g.vm.executed_count(lidx), 6);
            // An ATC_INV for a StreamID the VINTF has not matched (no device
            // with it): CERROR_ILL_ACCESS, which the ISR skips like any other.
            let stray = atc_inv(0x99, None, 0, 52, false);
            g.issue_cmdlist(Cmdq::Lv(lidx), &[stray], true)
                .expect("recovered");
            assert_eq!(g.log.cmdqv_isr, 2);
            let code = cq::enums::VcmdqError::CERROR_ILL_ACCESS.value();
            assert!(g
                .log
                .lines
                .iter()
                .any(|l| l.ends_with(&format!("code {code}"))));
            assert_eq!(g.vm.executed_count(lidx), 8, "the stray one skipped");
            assert_eq!(g.vm.init_errors(), 0);
            g.remove().0.teardown();
        }
    }
}

/// A reboot: `arm_smmu_device_shutdown`, the VMM's device reset, and the
/// same boot again. Over two boots: every queue up, no CMDQ_INIT_ERR, no
/// CMDQV interrupt, every command completed.
#[test]
fn a_reboot_with_a_device_reset_boots_the_same_way() {
    for n in LVCMDQ_COUNTS {
        for drv in DRIVERS {
            let mut vm = vm_with(BACKING, n);
            for boot in 0..2 {
                let what = format!("{drv:?} n={n} boot {boot}");
                let mut g = Linux::boot(vm, drv).expect("boot");
                assert_clean_boot(&g, &what);
                let before: Vec<_> = (0..n).map(|l| g.vm.executed_count(l)).collect();
                let sent = workload(&mut g, 256).expect("commands");
                for l in 0..n {
                    assert_eq!(g.vm.executed_count(l) - before[l], sent[l]);
                }
                assert_clean_boot(&g, &format!("{what}, after commands"));
                vm = g.shutdown();
                vm.reset();
                assert!(vm.none_allocated(n));
                assert!(vm.regions.installed().is_empty());
            }
            assert_eq!(vm.regions.counts(), (2, 2));
            vm.teardown();
        }
    }
}

/// The remove path: `arm_smmu_device_remove` (CR0 cleared), then
/// `tegra241_cmdqv_remove`. Every HW queue is freed by the queues' BASE=0,
/// highest first, the page leaves guest MMIO, and after the VMM's teardown
/// nothing is left.
#[test]
fn tegra241_cmdqv_remove_frees_every_queue_and_nothing_is_left() {
    for n in LVCMDQ_COUNTS {
        for drv in DRIVERS {
            let mut g = Linux::boot(vm_with(BACKING, n), drv).expect("boot");
            workload(&mut g, 256).expect("commands");
            let _ = g.vm.transitions();
            let (vm, log) = g.remove();
            assert!(vm.none_allocated(n), "{drv:?}");
            assert!(vm.regions.installed().is_empty());
            assert_eq!(vm.init_errors(), 0);
            assert_eq!(vm.cmdqv_irq.edges(), 0);
            let t = vm.transitions();
            let frees: Vec<_> = t
                .iter()
                .filter_map(|t| match t {
                    Transition::QueueFreed { lidx } => Some(*lidx),
                    _ => None,
                })
                .collect();
            // Descending either way: the merged driver resets queue 0
            // first, which takes the others down with it (the kernel's
            // order rule).
            assert_eq!(frees, (0..n).rev().collect::<Vec<_>>(), "{drv:?}: {t:?}");
            assert!(!t
                .iter()
                .any(|t| matches!(t, Transition::QueueAllocated { .. })));
            match drv {
                Driver::Merged => assert!(log.lines.is_empty(), "{:?}", log.lines),
                // The iommufd driver's hw_deinit sends a CMD_SYNC to the
                // SMMU's queue after arm_smmu_device_remove disabled it (CR0
                // = 0): the hardware leaves it unconsumed, so each one (one
                // per LVCMDQ) times out.
                Driver::Iommufd => {
                    assert_eq!(log.lines.len(), n, "{:?}", log.lines);
                    assert!(log.lines.iter().all(|l| l.contains("CMD_SYNC timeout")));
                }
            }
            vm.teardown();
        }
    }
}

/// `tegra241_vcmdq_alloc_smmu_cmdq` of the iommufd driver caps the queue at
/// IDR1.CMDQS, which the model caps at the guest RAM backing page (2 MiB:
/// 2^17 entries): the queues still come up cleanly and run.
#[test]
fn the_iommufd_driver_sizes_its_vcmdqs_from_idr1_cmdqs() {
    for n in LVCMDQ_COUNTS {
        let mut g = Linux::boot(vm_with(2 << 20, n), Driver::Iommufd).expect("boot");
        assert_eq!(g.cmdqs, 17);
        assert!(g.vcmdqs.iter().all(|v| v.q.max_n_shift == 17));
        assert_clean_boot(&g, &format!("2 MiB backing, n={n}"));
        let sent = workload(&mut g, 256).expect("commands");
        for (l, s) in sent.iter().enumerate() {
            assert_eq!(g.vm.executed_count(l), *s);
        }
        g.remove().0.teardown();
    }
}

/// Two vSMMUs in one VM on a host with two SMMUs: Linux probes each SMMU
/// (with its CMDQV) as it would two ACPI nodes, every LVCMDQ of both comes
/// up in its own VINTF, and the CPUs' commands run on every queue of both,
/// each with its own VINTF's VMID and its own devices' physical StreamIDs
/// (the same numbers on both SMMUs).
#[test]
fn two_vsmmus_on_two_smmus_run_commands_on_every_queue() {
    for n in [2usize, 4] {
        let (vm0, vm1) = two_vms(n);
        let mut g0 = Linux::boot(vm0, Driver::Iommufd).expect("boot vSMMU 0");
        let mut g1 = Linux::boot(vm1, Driver::Iommufd).expect("boot vSMMU 1");
        for (k, g) in [&g0, &g1].into_iter().enumerate() {
            assert_clean_boot(g, &format!("vSMMU{k} n={n}"));
            let s = g.vm.sim.vintf(g.vm.viommu()).unwrap();
            assert_eq!((s.smmu, s.index), (k, 1), "a VINTF of SMMU {k}'s CMDQV");
        }
        assert_eq!(g0.vm.regions.installed().len(), 2, "both VINTF pages");
        // The CPUs of the VM issue through both SMMUs, round by round.
        let mut sent = [vec![0u64; n], vec![0u64; n]];
        for k in 0..16u64 {
            for (u, g) in [&mut g0, &mut g1].into_iter().enumerate() {
                for cpu in 0..g.cpus() {
                    sent[u][cpu % n] += round(g, cpu, k).expect("commands");
                }
            }
        }
        assert_executed(&g0, &sent[0], &format!("vSMMU0 n={n}"));
        assert_executed(&g1, &sent[1], &format!("vSMMU1 n={n}"));
        assert_ne!(g0.vm.viommu(), g1.vm.viommu());
        assert_clean_boot(&g0, "vSMMU0 after the commands");
        assert_clean_boot(&g1, "vSMMU1 after the commands");
        g0.remove().0.teardown();
        g1.remove().0.teardown();
    }
}

/// `arm_smmu_cmdq_issue_cmdlist` past the end of a 2^19-entry LVCMDQ: full
/// batches go out without a CMD_SYNC until the driver's copy of CONS says
/// the queue is full and it re-reads CONS; PROD wraps at bit 19; one
/// CMD_SYNC at the end waits for all of it.
#[test]
fn prod_and_cons_wrap_around_a_2_pow_19_entry_lvcmdq() {
    for drv in DRIVERS {
        let mut g = Linux::boot(vm(), drv).expect("boot");
        let entries = 1u64 << g.vcmdqs[0].q.max_n_shift;
        assert_eq!(entries, 1 << 19);
        let mut sent = 0u64;
        let mut k = 0u64;
        while sent < entries + 1000 {
            let va = tlbi_va(1, 0x1_0000_0000 + (k << 20), CMDQ_BATCH_ENTRIES);
            g.issue_cmdlist(Cmdq::Lv(0), &va, false).expect("room");
            sent += va.len() as u64;
            k += 1;
        }
        g.issue_cmdlist(Cmdq::Lv(0), &[tlbi_asid(1)], true)
            .expect("sync");
        sent += 2;
        let q = g.vcmdqs[0].q;
        assert_ne!(q.wrp(q.prod), 0, "{drv:?}: PROD wrapped");
        assert_eq!(u64::from(q.idx(q.prod)), sent - entries);
        let (prod, cons) = lvcmdq0(&g, 0, |p| (p.prod().get(), p.cons().get()));
        assert_eq!((prod, cons), (q.prod, q.prod), "{drv:?}: drained");
        assert_eq!(g.vm.executed_count(0), sent);
        assert_clean_boot(&g, &format!("{drv:?} after the wrap"));
        g.remove().0.teardown();
    }
}
