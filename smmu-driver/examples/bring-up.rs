//! The driver bringing up an SMMUv3 and attaching a device, against vdev's
//! vSMMUv3 model in the same process instead of hardware.
//!
//! The "hardware" is what a rust-vmm VMM would run: guest RAM as a
//! vm-memory `GuestMemoryMmap`, the vSMMUv3 on vdev's simulated host (the
//! iommufd kernel and SMMU in software), one passthrough device plugged
//! under a virtual StreamID, and a guest bus that traps MMIO. The guest is
//! this program's `main`: every register access of the driver goes through
//! [`Loopback`] onto that bus, and every queue or table the driver fills
//! lives in the guest RAM the model reads.
//!
//! ```sh
//! cargo run -p smmu-driver --example bring-up
//! ```
//!
//! It checks what it prints (the attachment the VMM derived from each STE,
//! an empty event queue) and exits with an error otherwise; `.ci/run` runs
//! it.
//!
//! On bare metal the same driver calls take a `VolatileMmio` over the
//! SMMU's mapped registers and buffers from the firmware's own memory
//! (`firmware/` does exactly that under QEMU).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use smmu_driver::{cd, cmd, ste, DmaBuf, Granule, Mmio, Smmu, Stage1Config};
use vdev::backend::sim::{SimBackend, SimConfig};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::strtab::Attach;
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, RecordingRegions};
use vm_memory::{GuestAddress, GuestMemory as _, GuestMemoryMmap};

/// Guest physical layout (QEMU virt's SMMU and RAM addresses).
const SMMU_BASE: u64 = 0x0905_0000;
/// Where the CMDQV window would be (this example does not expose it).
const CMDQV_BASE: u64 = 0x0910_0000;
const RAM: u64 = 0x4000_0000;
const RAM_LEN: usize = 16 << 20;
/// The device's StreamID in the guest, and on the simulated host.
const VSID: u32 = 0x10;
const PSID: u32 = 0x100;

/// Queue and table sizes: 2^6 commands, 2^5 events, 2^8 STEs.
const CMDQ_LOG2: u32 = 6;
const EVTQ_LOG2: u32 = 5;
const STRTAB_LOG2: u32 = 8;

/// The driver's MMIO backend: each register access becomes a guest load or
/// store on the VMM's bus at `base` + offset, which traps into the model.
#[derive(Clone)]
struct Loopback {
    bus: Rc<RefCell<GuestBus>>,
    base: u64,
}

impl Mmio for Loopback {
    fn read32(&self, offset: usize) -> u32 {
        self.bus.borrow_mut().read32(self.base + offset as u64)
    }
    fn read64(&self, offset: usize) -> u64 {
        self.bus.borrow_mut().read64(self.base + offset as u64)
    }
    fn write32(&self, offset: usize, value: u32) {
        let gpa = self.base + offset as u64;
        self.bus.borrow_mut().write32(gpa, value)
    }
    fn write64(&self, offset: usize, value: u64) {
        let gpa = self.base + offset as u64;
        self.bus.borrow_mut().write64(gpa, value)
    }
}

/// A bump allocator over guest RAM handing out the driver's DMA buffers:
/// host pointers into the mapping, with their guest physical address as
/// the device address (the vSMMU sees guest physical addresses).
struct GuestAlloc {
    ram: Arc<GuestMemoryMmap>,
    next: u64,
}

impl GuestAlloc {
    fn alloc(&mut self, bytes: usize, align: u64) -> Result<DmaBuf<'static>, String> {
        let gpa = self.next.next_multiple_of(align);
        if !self.ram.check_range(GuestAddress(gpa), bytes) || !bytes.is_multiple_of(8) {
            return Err(format!("guest RAM cannot hold {bytes} bytes at {gpa:#x}"));
        }
        let host = self.ram.get_host_address(GuestAddress(gpa)).map_err(text)?;
        self.next = gpa + bytes as u64;
        // SAFETY: a fresh piece of the single mmap region (checked above),
        // 8-byte aligned, never handed out again, reached only through raw
        // pointers (the model's volatile copies and this buffer). The
        // mapping lives in `self.ram` until `main` returns, after the
        // driver that holds the buffer.
        let mut buf = unsafe { DmaBuf::from_raw(host.cast::<u64>(), bytes / 8, gpa) };
        buf.zero();
        Ok(buf)
    }
}

fn main() -> Result<(), String> {
    let ram = Arc::new(
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(RAM), RAM_LEN)]).map_err(text)?,
    );
    let bus = vmm(&ram)?;
    let mut mem = GuestAlloc {
        ram: ram.clone(),
        next: RAM + 0x10_0000,
    };

    // Guest: probe reads the ID registers through the generated accessors.
    let mut smmu = Smmu::probe(Loopback {
        bus: bus.clone(),
        base: SMMU_BASE,
    })
    .map_err(text)?;
    let caps = *smmu.capabilities();
    println!(
        "probe: SMMUv3.{}, stage 1 {}, stage 2 {}, {} StreamID bits, command queue up to 2^{}",
        caps.arch_minor, caps.stage1, caps.stage2, caps.sid_bits, caps.cmdq_max_log2
    );
    if u32::from(caps.cmdq_max_log2) < CMDQ_LOG2 || u32::from(caps.eventq_max_log2) < EVTQ_LOG2 {
        return Err("the SMMU's queues are smaller than this example's".into());
    }

    // Tables and queues in guest RAM, then SMMUEN with the CR0/CR0ACK
    // handshake (enable() also invalidates everything the SMMU may cache).
    let strtab = mem.alloc(64 << STRTAB_LOG2, 64 << STRTAB_LOG2)?;
    let cmdq = mem.alloc(16 << CMDQ_LOG2, 16 << CMDQ_LOG2)?;
    let evtq = mem.alloc(32 << EVTQ_LOG2, 32 << EVTQ_LOG2)?;
    smmu.disable().map_err(text)?;
    smmu.setup_strtab_linear(strtab, STRTAB_LOG2)
        .map_err(text)?;
    smmu.setup_cmdq(cmdq, CMDQ_LOG2).map_err(text)?;
    smmu.setup_eventq(evtq, EVTQ_LOG2).map_err(text)?;
    smmu.enable().map_err(text)?;
    println!(
        "enabled: CR0ACK {:#x}, global errors: {}",
        smmu.cr0ack(),
        if smmu.global_errors().is_empty() {
            "none"
        } else {
            "some"
        }
    );

    let attachment = || bus.borrow().device().core().attachment(VSID);

    // The device in bypass: the VMM sees the STE (through CFGI_STE) and
    // attaches the passthrough device accordingly.
    smmu.write_ste(VSID, &ste::bypass()).map_err(text)?;
    println!(
        "STE {VSID:#x} bypass: the VMM attached it as {:x?}",
        attachment()
    );
    expect(
        matches!(attachment(), Some(Attach::Bypass)),
        "bypass STE not attached as bypass",
    )?;

    // Stage 1: a context descriptor (ASID 1, 4 KiB granule, 39-bit input
    // range) whose translation tables the guest would build; the VMM hands
    // the STE's stage-1 words to the host for nesting.
    let mut cd_buf = mem.alloc(64, 64)?;
    let ttb0 = mem.alloc(4096, 4096)?.phys();
    let cd = cd::stage1(&Stage1Config {
        asid: 1,
        ttb0,
        t0sz: 25,
        granule: Granule::Size4K,
        ips: 4,
        mair: 0xff,
        record_faults: true,
    });
    let cd_phys = Smmu::<Loopback>::write_cd(&mut cd_buf, &cd).map_err(text)?;
    smmu.write_ste(VSID, &ste::stage1(cd_phys)).map_err(text)?;
    smmu.submit_and_sync(&[cmd::cfgi_cd(VSID, true), cmd::tlbi_nh_asid(1)])
        .map_err(text)?;
    println!(
        "STE {VSID:#x} stage 1 (CD at {cd_phys:#x}): {:x?}",
        attachment()
    );
    expect(
        matches!(attachment(), Some(Attach::Nested(_))),
        "stage-1 STE not nested",
    )?;

    // Invalidations as a guest's unmap would issue them, then a SYNC.
    let iovas = [0x1000u64, 0x2000, 0x3000];
    let cmds: Vec<_> = iovas
        .iter()
        .map(|&va| cmd::tlbi_nh_va(1, va, true))
        .collect();
    smmu.submit_and_sync(&cmds).map_err(text)?;
    println!("{} TLBI_NH_VA + CMD_SYNC consumed", cmds.len());

    // Nothing faulted: the event queue is empty.
    let (event, overflow) = smmu.pop_event().map_err(text)?;
    expect(event.is_none() && !overflow, "an event without a fault")?;
    println!(
        "event queue: {}{}",
        if event.is_some() { "an event" } else { "empty" },
        if overflow { " (overflowed)" } else { "" }
    );

    // Teardown: abort the device's transactions, disable the SMMU.
    smmu.write_ste(VSID, &ste::abort()).map_err(text)?;
    println!("STE {VSID:#x} abort: {:x?}", attachment());
    expect(
        matches!(attachment(), Some(Attach::Abort)),
        "abort STE not attached as abort",
    )?;
    smmu.disable().map_err(text)?;
    println!("disabled: CR0ACK {:#x}", smmu.cr0ack());
    Ok(())
}

/// `Err(what)` unless `ok`: the example checks what it shows.
fn expect(ok: bool, what: &str) -> Result<(), String> {
    ok.then_some(()).ok_or_else(|| what.to_string())
}

/// An error as the message `main` reports.
fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The VMM: the simulated host with one SMMU and the device, an IOAS
/// mapping guest RAM, the vSMMUv3 with the device plugged as [`VSID`], and
/// the guest bus with the SMMU window at [`SMMU_BASE`].
fn vmm(ram: &Arc<GuestMemoryMmap>) -> Result<Rc<RefCell<GuestBus>>, String> {
    let backing = vdev::vmm::GuestMemory::backing_page_size(ram.as_ref(), RAM)
        .ok_or("guest RAM without a host mapping")?;
    let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).map_err(text)?;
    ioas.map(RAM, RAM_LEN as u64, 0).map_err(text)?;
    let dev = Device::external(&b, sim.add_device(PSID));
    let parent = NestParent::new(&dev, &ioas).map_err(text)?;
    let regions = Arc::new(RecordingRegions::new());
    let lc = Lifecycle::new(b, parent, regions.clone(), CMDQV_BASE + VINTF0_PAGE0)
        .with_kick(Arc::new(sim.clone()));
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
    let info = host_smmuv3_info(&dev).map_err(text)?;
    let cfg = Vsmmuv3Config {
        backing_page: backing,
        cmdqv: false,
        irqs: Irqs::shared(Arc::new(CountingIrq::new())),
    };
    let mut vsmmu = Vsmmuv3::new(core, &info, cfg).map_err(text)?;
    vsmmu.plug(&dev, VSID).map_err(text)?;
    let bus = GuestBus::new(vsmmu, regions, SMMU_BASE, CMDQV_BASE);
    Ok(Rc::new(RefCell::new(bus)))
}
