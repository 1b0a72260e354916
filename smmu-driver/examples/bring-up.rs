//! The driver bringing up an SMMUv3 and attaching a device, against vdev's
//! vSMMUv3 model in the same process instead of hardware.
//!
//! The "hardware" is what a rust-vmm VMM would run: guest RAM as a
//! vm-memory `GuestMemoryMmap`, the vSMMUv3 on vdev's simulated host (the
//! iommufd kernel and SMMU in software), one passthrough device plugged
//! under a virtual StreamID, and the device's register window on a
//! vm-device `IoManager`. The guest is this program's `main`: every
//! register access of the driver is an MMIO exit ([`Exits`]) the
//! `IoManager` routes to the model, and every queue or table the driver
//! fills lives in the guest RAM the model reads.
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

use std::sync::{Arc, Mutex};

use smmu_driver::{cd, cmd, ste, DmaBuf, Granule, Mmio, Smmu, Stage1Config};
use vdev::backend::sim::{SimBackend, SimConfig};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::bus::{SharedVsmmuv3, Window};
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config, SMMU_WINDOW};
use vdev::smmuv3::strtab::Attach;
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, MmioAdapter, RecordingRegions};
use vm_device::bus::{MmioAddress, MmioRange};
use vm_device::device_manager::{IoManager, MmioManager};
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

/// The driver's MMIO backend: each register access is an MMIO exit the VMM
/// hands to its vm-device `IoManager`, which finds the device by address
/// and calls it with the offset into its window.
struct Exits {
    io: Arc<IoManager>,
    base: u64,
}

impl Exits {
    fn read<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut data = [0u8; N];
        let gpa = MmioAddress(self.base + offset as u64);
        // An address no device claims reads as zero, as on a real bus.
        if self.io.mmio_read(gpa, &mut data).is_err() {
            data = [0; N];
        }
        data
    }
    fn write(&self, offset: usize, data: &[u8]) {
        // A store no device claims is dropped.
        let _ = self
            .io
            .mmio_write(MmioAddress(self.base + offset as u64), data);
    }
}

impl Mmio for Exits {
    fn read32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.read(offset))
    }
    fn read64(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.read(offset))
    }
    fn write32(&self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes())
    }
    fn write64(&self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes())
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
    let (io, dev) = vmm(&ram)?;
    let mut mem = GuestAlloc {
        ram: ram.clone(),
        next: RAM + 0x10_0000,
    };

    // Guest: probe reads the ID registers through the generated accessors.
    let mut smmu = Smmu::probe(Exits {
        io,
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

    let attachment = || {
        let d = dev.lock().unwrap_or_else(|p| p.into_inner());
        d.core().attachment(VSID)
    };

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

    // Stage 1: a context descriptor for a 48-bit input range (T0SZ 16) with
    // 4 KiB pages, its output size the SMMU's own (IDR5.OAS as CD.IPS), and
    // MAIR attribute 0 normal write-back memory, 1 device nGnRE; the
    // translation tables (empty here) are the guest's. The VMM hands the
    // STE's stage-1 words to the host for nesting.
    let ips = ips_for(caps.oas_bits).ok_or("an output address size without an IPS encoding")?;
    let mut cd_buf = mem.alloc(64, 64)?;
    let ttb0 = mem.alloc(4096, 4096)?.phys();
    let cd = cd::stage1(&Stage1Config {
        record_faults: true,
        granule: Granule::Size4K,
        t0sz: 16,
        ips,
        ttb0,
        mair: 0x04ff,
        asid: 1,
    });
    let cd_phys = Smmu::<Exits>::write_cd(&mut cd_buf, &cd).map_err(text)?;
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

/// The CD.IPS (and TCR) encoding of an output address size in bits.
fn ips_for(bits: u8) -> Option<u8> {
    [32, 36, 40, 42, 44, 48, 52]
        .iter()
        .position(|&b| b == bits)
        .map(|i| i as u8)
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
/// its SMMU window registered on a vm-device `IoManager` at [`SMMU_BASE`]
/// (through `MmioAdapter`, as a rust-vmm VMM registers a device).
fn vmm(ram: &Arc<GuestMemoryMmap>) -> Result<(Arc<IoManager>, SharedVsmmuv3), String> {
    let backing = vdev::vmm::GuestMemory::backing_page_size(ram.as_ref(), RAM)
        .ok_or("guest RAM without a host mapping")?;
    let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).map_err(text)?;
    ioas.map(RAM, RAM_LEN as u64, 0).map_err(text)?;
    let dev = Device::external(&b, sim.add_device(PSID));
    let parent = NestParent::new(&dev, &ioas).map_err(text)?;
    // The CMDQV's VINTF page would be installed as guest RAM through
    // `regions`; this example exposes no CMDQV.
    let regions = Arc::new(RecordingRegions::new());
    let lc = Lifecycle::new(b, parent, regions, CMDQV_BASE + VINTF0_PAGE0)
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
    let shared: SharedVsmmuv3 = Arc::new(Mutex::new(vsmmu));
    let (smmu_window, _cmdqv_window) = Window::pair(&shared);
    let mut io = IoManager::new();
    let range =
        MmioRange::new(MmioAddress(SMMU_BASE), SMMU_WINDOW).map_err(|e| format!("{e:?}"))?;
    io.register_mmio(range, Arc::new(Mutex::new(MmioAdapter::new(smmu_window))))
        .map_err(|e| format!("{e:?}"))?;
    Ok((Arc::new(io), shared))
}
