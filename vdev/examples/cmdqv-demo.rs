//! The vSMMUv3 + Tegra241 CMDQV device models driven by a guest script.
//!
//! `cargo run --release -p vdev --example cmdqv-demo` runs on the simulated
//! backend (a Grace host: SMMUv3 with the CMDQV). The "guest" only performs
//! physical memory accesses: loads and stores to its RAM, and MMIO loads and
//! stores through a [`GuestBus`], which traps into the device's windows
//! (`MmioDevice` paths) or reaches the VINTF page directly once the VMM
//! installed it. The VMM's part (plugging devices, tearing down) calls the
//! device's methods.
//!
//! `--backend iommufd --vfio /dev/vfio/devices/vfioN [--vfio ...]` runs the
//! same script through `/dev/iommu` on a real host.

use std::process::ExitCode;
use std::sync::Arc;

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use vdev::backend::sim::{SimBackend, SimConfig, SimGuestRam};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::{Lifecycle, Transition};
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::strtab::Attach;
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, DeviceAttach, GuestMemory, RecordingRegions};

// Guest physical layout.
const RAM: u64 = 0x4000_0000;
const RAM_LEN: u64 = 64 << 20;
const BACKING: u64 = 2 << 20;
const SMMU_BASE: u64 = 0x0900_0000;
const CMDQV_BASE: u64 = 0x0910_0000;
const STRTAB: u64 = RAM + 0x1_0000;
const CD: u64 = RAM + 0x2_0000;
const CMDQ: u64 = RAM + 0x10_0000;
const EVENTQ: u64 = RAM + 0x11_0000;
const MSI: u64 = RAM + 0x12_0000;
const VCMDQ_MEM: [u64; 2] = [RAM + 0x20_0000, RAM + 0x30_0000];
const LOG2Q: u32 = 8; // 256 entries
const VSIDS: [u32; 2] = [0x10, 0x11];
const PSIDS: [u32; 2] = [0x100, 0x200];

// SMMUv3 command opcodes and fields (architecture).
const TLBI_NH_VA: u64 = sm::enums::CmdOpcode::TLBI_NH_VA as u64;
const TLBI_NH_ASID: u64 = sm::enums::CmdOpcode::TLBI_NH_ASID as u64;
const CFGI_STE: u64 = sm::enums::CmdOpcode::CFGI_STE as u64;
/// CMD_CFGI_ALL is CMD_CFGI_STE_RANGE with RANGE = 31.
const CFGI_ALL: u64 = sm::enums::CmdOpcode::CFGI_STE_RANGE as u64;
const CMD_SYNC: u64 = sm::enums::CmdOpcode::CMD_SYNC as u64;
const ATC_INV: u64 = sm::enums::CmdOpcode::ATC_INV as u64;
const SYNC_CS_IRQ: u64 = 1 << 12;
// SMMUv3 event record fields (architecture).
const F_TRANSLATION: u64 = sm::enums::EventId::F_TRANSLATION as u64;
const EVT_RNW: u64 = 1 << 35;
const EVENTQ_LOG2: u32 = 5; // 32 records

struct Args {
    backend: String,
    vfio: Vec<String>,
    per_path: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        backend: "sim".into(),
        vfio: Vec::new(),
        per_path: 2048,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--backend" => a.backend = it.next().ok_or("--backend needs sim or iommufd")?,
            "--vfio" => a.vfio.push(it.next().ok_or("--vfio needs a cdev path")?),
            "--commands" => {
                a.per_path = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--commands needs a number")?
            }
            "-h" | "--help" => {
                return Err("usage: cmdqv-demo [--backend sim|iommufd] [--vfio /dev/vfio/devices/vfioN]... [--commands N]".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.backend != "sim" && a.backend != "iommufd" {
        return Err(format!("unknown backend {:?} (sim or iommufd)", a.backend));
    }
    if a.backend == "iommufd" && a.vfio.is_empty() {
        return Err("--backend iommufd needs --vfio /dev/vfio/devices/vfioN".into());
    }
    Ok(a)
}

/// What the chosen backend provides the VMM.
struct Host {
    backend: Arc<dyn Backend>,
    sim: Option<SimBackend>,
    mem: Arc<dyn GuestMemory>,
    attach: Arc<dyn DeviceAttach>,
    devices: Vec<Arc<Device>>,
    /// Guest RAM mapped at IOVA = GPA (user_va for the real backend).
    ram_user_va: u64,
    /// Size of the host pages backing guest RAM.
    backing: u64,
    /// Objects that are not the VMM's (bound devices), for the final count.
    baseline: usize,
    /// The `/dev/iommu` file the VFIO devices are bound to (real host).
    _iommu: Option<std::fs::File>,
}

fn sim_host() -> Host {
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, RAM_LEN, BACKING));
    let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
    let devices: Vec<Arc<Device>> = {
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        PSIDS
            .iter()
            .map(|p| Device::external(&b, sim.add_device(*p)))
            .collect()
    };
    let baseline = sim.live_objects();
    Host {
        backend: Arc::new(sim.clone()),
        sim: Some(sim.clone()),
        mem: ram,
        attach: Arc::new(sim),
        devices,
        ram_user_va: 0,
        backing: BACKING,
        baseline,
        _iommu: None,
    }
}

#[cfg(target_os = "linux")]
fn iommufd_host(vfio: &[String]) -> Result<Host, String> {
    real_host::open(vfio)
}

#[cfg(not(target_os = "linux"))]
fn iommufd_host(_vfio: &[String]) -> Result<Host, String> {
    Err("the iommufd backend needs Linux".into())
}

/// The pieces a VMM on a real host provides: guest RAM in host memory, VFIO
/// cdevs bound to the iommufd, and their attachment ioctls. Facts from
/// `include/uapi/linux/vfio.h` (ioctl numbers, structure layouts).
#[cfg(target_os = "linux")]
mod real_host {
    use std::collections::BTreeMap;
    use std::fs::File;
    use std::os::unix::io::AsRawFd;
    use std::sync::Arc;

    use super::{Host, BACKING, RAM, RAM_LEN};
    use vdev::backend::real::IommufdBackend;
    use vdev::backend::{Backend, Device, Error, ObjId, ObjectTypes, Op};
    use vdev::vmm::{DeviceAttach, GuestMemory};

    /// `VFIO_TYPE` and `VFIO_BASE`.
    const VFIO_TYPE: u64 = b';' as u64;
    const VFIO_BASE: u64 = 100;
    /// `_IO(VFIO_TYPE, VFIO_BASE + n)`.
    const fn vfio_io(n: u64) -> u64 {
        (VFIO_TYPE << 8) | (VFIO_BASE + n)
    }
    const VFIO_DEVICE_BIND_IOMMUFD: u64 = vfio_io(18);
    const VFIO_DEVICE_ATTACH_IOMMUFD_PT: u64 = vfio_io(19);
    const VFIO_DEVICE_DETACH_IOMMUFD_PT: u64 = vfio_io(20);

    #[repr(C)]
    struct BindIommufd {
        argsz: u32,
        flags: u32,
        iommufd: i32,
        out_devid: u32,
    }

    #[repr(C)]
    struct AttachPt {
        argsz: u32,
        flags: u32,
        pt_id: u32,
    }

    #[repr(C)]
    struct DetachPt {
        argsz: u32,
        flags: u32,
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }

    /// Guest RAM: anonymous host memory, huge pages when the host has them.
    pub struct HostRam {
        ptr: *mut u8,
        len: usize,
        page: u64,
    }

    // SAFETY: plain anonymous memory; the demo's accesses are bounds-checked
    // copies, which any thread may perform.
    unsafe impl Send for HostRam {}
    // SAFETY: see above.
    unsafe impl Sync for HostRam {}

    impl HostRam {
        fn new(len: usize) -> Result<Self, String> {
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
            for (extra, page) in [(libc::MAP_HUGETLB, BACKING), (0, 4096)] {
                // SAFETY: a fresh anonymous mapping; nothing else is touched.
                let p =
                    unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags | extra, -1, 0) };
                if p != libc::MAP_FAILED {
                    return Ok(HostRam {
                        ptr: p as *mut u8,
                        len,
                        page,
                    });
                }
            }
            Err(format!(
                "cannot allocate {len} bytes of guest RAM (errno {})",
                errno()
            ))
        }

        fn range(&self, gpa: u64, n: usize) -> Option<usize> {
            let off = gpa.checked_sub(RAM)? as usize;
            (off.checked_add(n)? <= self.len).then_some(off)
        }
    }

    impl Drop for HostRam {
        fn drop(&mut self) {
            // SAFETY: exactly the mapping `new` made, unmapped once.
            unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
        }
    }

    impl GuestMemory for HostRam {
        fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
            let Some(off) = self.range(gpa, buf.len()) else {
                return false;
            };
            // SAFETY: in bounds of the live mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(self.ptr.add(off), buf.as_mut_ptr(), buf.len())
            };
            true
        }
        fn write(&self, gpa: u64, data: &[u8]) -> bool {
            let Some(off) = self.range(gpa, data.len()) else {
                return false;
            };
            // SAFETY: in bounds of the live, writable mapping.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(off), data.len()) };
            true
        }
        fn host_phys(&self, _gpa: u64) -> Option<u64> {
            None
        }
        fn backing_page_size(&self, gpa: u64) -> Option<u64> {
            self.range(gpa, 1).map(|_| self.page)
        }
    }

    /// VFIO cdevs bound to the iommufd, by iommufd device id.
    pub struct Vfio {
        devs: BTreeMap<ObjId, File>,
    }

    impl DeviceAttach for Vfio {
        fn attach(&self, dev_id: ObjId, pt: ObjId) -> vdev::backend::Result<()> {
            let f = self
                .devs
                .get(&dev_id)
                .ok_or(Error::new(Op::VfioAttach, libc::ENODEV))?;
            let mut a = AttachPt {
                argsz: std::mem::size_of::<AttachPt>() as u32,
                flags: 0,
                pt_id: pt,
            };
            // SAFETY: a correctly sized vfio_device_attach_iommufd_pt (minimum
            // layout, argsz says so) live for the call.
            let rc =
                unsafe { libc::ioctl(f.as_raw_fd(), VFIO_DEVICE_ATTACH_IOMMUFD_PT as _, &mut a) };
            if rc < 0 {
                return Err(Error::new(Op::VfioAttach, errno()));
            }
            Ok(())
        }
        fn detach(&self, dev_id: ObjId) -> vdev::backend::Result<()> {
            let f = self
                .devs
                .get(&dev_id)
                .ok_or(Error::new(Op::VfioDetach, libc::ENODEV))?;
            let mut d = DetachPt {
                argsz: std::mem::size_of::<DetachPt>() as u32,
                flags: 0,
            };
            // SAFETY: as in `attach`.
            let rc =
                unsafe { libc::ioctl(f.as_raw_fd(), VFIO_DEVICE_DETACH_IOMMUFD_PT as _, &mut d) };
            if rc < 0 {
                return Err(Error::new(Op::VfioDetach, errno()));
            }
            Ok(())
        }
    }

    pub fn open(paths: &[String]) -> Result<Host, String> {
        let iommu = File::options()
            .read(true)
            .write(true)
            .open("/dev/iommu")
            .map_err(|e| {
                format!(
                    "open(/dev/iommu): {e}\n  the iommufd backend needs a Linux host with CONFIG_IOMMUFD \
                     (on Grace also CONFIG_TEGRA241_CMDQV, CONFIG_VFIO_DEVICE_CDEV and the device bound to vfio-pci)"
                )
            })?;
        let iommufd = iommu.as_raw_fd();
        let mut devs = BTreeMap::new();
        for p in paths.iter().take(2) {
            let f = File::options()
                .read(true)
                .write(true)
                .open(p)
                .map_err(|e| format!("open({p}): {e}"))?;
            let mut bind = BindIommufd {
                argsz: std::mem::size_of::<BindIommufd>() as u32,
                flags: 0,
                iommufd,
                out_devid: 0,
            };
            // SAFETY: a correctly sized vfio_device_bind_iommufd (minimum
            // layout) live for the call; the kernel writes `out_devid`.
            let rc =
                unsafe { libc::ioctl(f.as_raw_fd(), VFIO_DEVICE_BIND_IOMMUFD as _, &mut bind) };
            if rc < 0 {
                return Err(format!("{p}: {}", Error::new(Op::VfioBind, errno())));
            }
            devs.insert(bind.out_devid, f);
        }
        let ram = Arc::new(HostRam::new(RAM_LEN as usize)?);
        let backend: Arc<dyn Backend> = Arc::new(IommufdBackend::from_file(
            iommu.try_clone().map_err(|e| e.to_string())?,
            ObjectTypes::TEGRA241,
        ));
        let devices = devs
            .keys()
            .map(|id| Device::external(&backend, *id))
            .collect();
        let user_va = ram.ptr as u64;
        let page = ram.page;
        Ok(Host {
            backend,
            sim: None,
            mem: ram,
            attach: Arc::new(Vfio { devs }),
            devices,
            ram_user_va: user_va,
            backing: page,
            baseline: 0,
            _iommu: Some(iommu),
        })
    }
}

/// The guest: memory accesses only.
struct Guest {
    bus: GuestBus,
    mem: Arc<dyn GuestMemory>,
    cmdq_prod: u32,
    vq_prod: [u32; 2],
    msi_seq: u32,
}

impl Guest {
    fn smmu_r32(&mut self, off: usize) -> u32 {
        self.bus.read32(SMMU_BASE + off as u64)
    }
    fn smmu_w32(&mut self, off: usize, v: u32) {
        self.bus.write32(SMMU_BASE + off as u64, v)
    }
    fn smmu_w64(&mut self, off: usize, v: u64) {
        self.bus.write64(SMMU_BASE + off as u64, v)
    }
    fn cmdqv_r32(&mut self, off: usize) -> u32 {
        self.bus.read32(CMDQV_BASE + off as u64)
    }
    fn cmdqv_w32(&mut self, off: usize, v: u32) {
        self.bus.write32(CMDQV_BASE + off as u64, v)
    }
    fn cmdqv_w64(&mut self, off: usize, v: u64) {
        self.bus.write64(CMDQV_BASE + off as u64, v)
    }
    fn put(&self, addr: u64, words: &[u64]) {
        for (i, w) in words.iter().enumerate() {
            if !self.mem.write(addr + 8 * i as u64, &w.to_le_bytes()) {
                println!("[guest] RAM write at {addr:#x} failed");
            }
        }
    }

    /// Writes commands into the emulated command queue and publishes them.
    fn cmdq_submit(&mut self, cmds: &[[u64; 2]]) -> (u32, u32) {
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

    fn lvcmdq(l: usize, reg: usize) -> usize {
        reg + l * 0x80
    }

    /// Writes commands into logical VCMDQ `l` and publishes them through the
    /// VINTF page (direct once installed, trapped otherwise).
    fn vcmdq_submit(&mut self, l: usize, cmds: &[[u64; 2]]) -> (u32, u32) {
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

    fn sync(&mut self) -> [u64; 2] {
        self.msi_seq += 1;
        [
            CMD_SYNC | SYNC_CS_IRQ | (u64::from(self.msi_seq) << 32),
            MSI,
        ]
    }
}

fn describe(t: &Transition) -> String {
    match t {
        Transition::Probed(i) => format!(
            "IOMMU_GET_HW_INFO: Tegra241 CMDQV version {}, {} VCMDQs and {} SID slots per VINTF",
            i.version,
            1u32 << i.log2vcmdqs.min(31),
            1u32 << i.log2vsids.min(31)
        ),
        Transition::Bound { viommu } => {
            format!("IOMMU_VIOMMU_ALLOC -> vIOMMU {viommu}; VINTF page 0 mmap'd; vEVENTQ allocated")
        }
        Transition::QueueAllocated { lidx, hw_queue } => format!(
            "IOMMU_HW_QUEUE_ALLOC: logical VCMDQ {lidx} -> HW queue {hw_queue}; cached registers copied into the page"
        ),
        Transition::QueueInitError { lidx, error } => {
            format!("logical VCMDQ {lidx}: {error} -> guest sees GERROR.CMDQ_INIT_ERR")
        }
        Transition::QueueFreed { lidx } => {
            format!("logical VCMDQ {lidx}: registers saved, HW queue freed")
        }
        Transition::RegionInstalled { gpa } => {
            format!("VINTF page 0 installed as guest RAM at {gpa:#x}")
        }
        Transition::RegionInstallFailed(e) => format!("VINTF page install refused: {e}"),
        Transition::RegionRemoved { gpa } => format!("VINTF page 0 removed from {gpa:#x}"),
        Transition::VdeviceAllocated { vsid } => format!("IOMMU_VDEVICE_ALLOC for vSID {vsid:#x}"),
        Transition::VdeviceFreed { vsid } => format!("vDEVICE of vSID {vsid:#x} destroyed"),
        Transition::TornDown => "vIOMMU destroyed: everything released".into(),
    }
}

fn print_transitions(t: &[Transition]) {
    for x in t {
        println!("    [model] {}", describe(x));
    }
}

fn run(args: &Args) -> Result<(), String> {
    let host = if args.backend == "sim" {
        sim_host()
    } else {
        iommufd_host(&args.vfio)?
    };
    println!("== setup ({} backend)", args.backend);
    let ioas = Ioas::new(&host.backend).map_err(|e| e.to_string())?;
    ioas.map(RAM, RAM_LEN, host.ram_user_va)
        .map_err(|e| e.to_string())?;
    let first = host.devices.first().ok_or("no passthrough device")?;
    let parent = NestParent::new(first, &ioas).map_err(|e| e.to_string())?;
    // Until the guest configures its SMMU, devices translate through the
    // VM's stage 2 only.
    for d in &host.devices {
        host.attach
            .attach(d.id(), parent.id())
            .map_err(|e| format!("attaching device {} to the nesting parent: {e}", d.id()))?;
    }
    let regions = Arc::new(RecordingRegions::new());
    let mut lc = Lifecycle::new(
        host.backend.clone(),
        parent,
        regions.clone(),
        CMDQV_BASE + VINTF0_PAGE0,
    );
    if let Some(sim) = &host.sim {
        // The simulated hardware cannot see the guest's stores to the page.
        lc = lc.with_kick(Arc::new(sim.clone()));
    }
    let core = SmmuCore::new(lc, host.attach.clone(), host.mem.clone());
    let info = host_smmuv3_info(first).map_err(|e| e.to_string())?;
    let (gerror_irq, eventq_irq, cmdqv_irq) = (
        Arc::new(CountingIrq::new()),
        Arc::new(CountingIrq::new()),
        Arc::new(CountingIrq::new()),
    );
    let cfg = Vsmmuv3Config {
        backing_page: host.backing,
        cmdqv: true,
        irqs: Irqs {
            gerror: gerror_irq.clone(),
            eventq: eventq_irq.clone(),
            cmdqv: cmdqv_irq.clone(),
        },
    };
    let mut dev = Vsmmuv3::new(core, &info, cfg).map_err(|e| e.to_string())?;
    println!(
        "[vmm] vSMMUv3 at {SMMU_BASE:#x}, CMDQV at {CMDQV_BASE:#x}, VINTF page at {:#x}",
        CMDQV_BASE + VINTF0_PAGE0
    );
    for (i, d) in host.devices.iter().enumerate() {
        let t = dev.plug(d, VSIDS[i]).map_err(|e| e.to_string())?;
        println!("[vmm] plugged device {} as vSID {:#x}", d.id(), VSIDS[i]);
        print_transitions(&t);
    }
    let mut g = Guest {
        bus: GuestBus::new(dev, regions.clone(), SMMU_BASE, CMDQV_BASE),
        mem: host.mem.clone(),
        cmdq_prod: 0,
        vq_prod: [0; 2],
        msi_seq: 0,
    };

    println!("== probe");
    let idr0 = g.smmu_r32(sm::IDR0::OFFSET);
    let idr1 = g.smmu_r32(sm::IDR1::OFFSET);
    println!(
        "[guest] IDR0 {idr0:#010x} (S1P {}, S2P {}, ATS {}), IDR1 {idr1:#010x} (SIDSIZE {}, CMDQS {}, EVENTQS {})",
        sm::IDR0::S1P.read(idr0),
        sm::IDR0::S2P.read(idr0),
        sm::IDR0::ATS.read(idr0),
        sm::IDR1::SIDSIZE.read(idr1),
        sm::IDR1::CMDQS.read(idr1),
        sm::IDR1::EVENTQS.read(idr1)
    );
    let param = g.cmdqv_r32(cq::PARAM::OFFSET);
    println!(
        "[guest] CMDQV PARAM {param:#x}: version {}, {} VCMDQs, {} VINTF, {} SID slots",
        cq::PARAM::VER.read(param),
        1 << cq::PARAM::NUM_VCMDQ_LOG2.read(param),
        1 << cq::PARAM::NUM_VINTF_LOG2.read(param),
        1 << cq::PARAM::NUM_SID_PER_VM_LOG2.read(param)
    );

    println!("== enable the SMMU, install STEs for two devices");
    for (i, vsid) in VSIDS.iter().enumerate() {
        // Stage-1 translated STE (Config = 0b101) pointing at a CD table.
        let ste0 = 1 | (0b101 << 1) | (CD + 0x40 * i as u64);
        g.put(STRTAB + u64::from(*vsid) * 64, &[ste0, 0, 0, 0, 0, 0, 0, 0]);
    }
    g.smmu_w64(sm::STRTAB_BASE::OFFSET, STRTAB);
    g.smmu_w32(sm::STRTAB_BASE_CFG::OFFSET, 8); // linear, 256 StreamIDs
    g.smmu_w64(sm::CMDQ_BASE::OFFSET, CMDQ | u64::from(LOG2Q));
    g.smmu_w32(sm::CMDQ_PROD::OFFSET, 0);
    g.smmu_w32(sm::CMDQ_CONS::OFFSET, 0);
    g.smmu_w64(sm::EVENTQ_BASE::OFFSET, EVENTQ | u64::from(EVENTQ_LOG2));
    let irqs = sm::IRQ_CTRL::GERROR_IRQEN.val(1).value | sm::IRQ_CTRL::EVENTQ_IRQEN.val(1).value;
    g.smmu_w32(sm::IRQ_CTRL::OFFSET, irqs);
    println!(
        "[guest] IRQ_CTRL {irqs:#x} -> IRQ_CTRLACK {:#x}",
        g.smmu_r32(sm::IRQ_CTRLACK::OFFSET)
    );
    let gbpa = sm::GBPA::ABORT.val(1).value | sm::GBPA::UPDATE.val(1).value;
    g.smmu_w32(sm::GBPA::OFFSET, gbpa);
    println!(
        "[guest] GBPA <- ABORT|UPDATE, reads {:#x} (UPDATE complete)",
        g.smmu_r32(sm::GBPA::OFFSET)
    );
    let queues = sm::CR0::CMDQEN.val(1).value | sm::CR0::EVENTQEN.val(1).value;
    g.smmu_w32(sm::CR0::OFFSET, queues);
    let all = [[CFGI_ALL, 31], g.sync()];
    let (p, c) = g.cmdq_submit(&all);
    println!("[guest] CFGI_ALL + CMD_SYNC: PROD {p:#x} CONS {c:#x}");
    let en = queues | sm::CR0::SMMUEN.val(1).value;
    g.smmu_w32(sm::CR0::OFFSET, en);
    println!(
        "[guest] CR0 <- {en:#x}, CR0ACK {:#x}",
        g.smmu_r32(sm::CR0ACK::OFFSET)
    );
    let cmds: Vec<[u64; 2]> = VSIDS
        .iter()
        .map(|v| [CFGI_STE | (u64::from(*v) << 32), 1])
        .chain([g.sync()])
        .collect();
    let (p, c) = g.cmdq_submit(&cmds);
    println!("[guest] CFGI_STE x2 + CMD_SYNC: PROD {p:#x} CONS {c:#x}");
    for v in VSIDS {
        let what = match g.bus.device().core().attachment(v) {
            Some(Attach::Nested(w)) => {
                format!("a nested stage-1 HWPT (vSTE {:#x} {:#x})", w[0], w[1])
            }
            Some(Attach::Bypass) => "bypass".into(),
            Some(Attach::Abort) => "abort".into(),
            None => "nothing (not plugged)".into(),
        };
        println!("    [model] vSID {v:#x} attached to {what}");
    }

    println!("== bring up both VCMDQs");
    // Any order works; this one enables the CMDQV, maps queue 1 before
    // queue 0, writes the bases, and enables the VINTF last.
    g.cmdqv_w32(cq::CONFIG::OFFSET, cq::CONFIG::CMDQV_EN.val(1).value);
    for q in [1usize, 0] {
        let map =
            cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(q as u32).value;
        g.cmdqv_w32(cq::CMDQ_ALLOC_MAP::OFFSET + 4 * q, map);
        let base = cq::VINTF_PAGE1::LVCMDQ::BASE::OFFSET + 0x80 * q;
        g.cmdqv_w64(base, VCMDQ_MEM[q] | u64::from(LOG2Q));
    }
    println!(
        "[guest] CONFIG <- CMDQV_EN; CMDQ_ALLOC_MAP[1], [0] <- ALLOC; BASE of both (VINTF page 1): no queue yet"
    );
    print_transitions(&g.bus.device_mut().take_transitions());
    println!("[guest] VINTF0 CONFIG <- ENABLE (the fourth precondition)");
    g.cmdqv_w32(
        cq::VINTF::CONFIG::OFFSET,
        cq::VINTF::CONFIG::ENABLE.val(1).value,
    );
    print_transitions(&g.bus.device_mut().take_transitions());
    println!(
        "[guest] STATUS {:#x}, VINTF0 STATUS {:#x}, installed RAM regions: {:x?}",
        g.cmdqv_r32(cq::STATUS::OFFSET),
        g.cmdqv_r32(cq::VINTF::STATUS::OFFSET),
        regions.installed()
    );
    for l in 0..2 {
        let cfg = Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET);
        g.cmdqv_w32(cfg, 1);
        let st = g.cmdqv_r32(Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::STATUS::OFFSET));
        println!("[guest] LVCMDQ{l} CONFIG <- CMDQ_EN, STATUS {st:#x}");
    }

    println!("== {} invalidations per path", args.per_path);
    let batch = 127u32;
    let mut vq_done = [0u64; 2];
    for (l, done) in vq_done.iter_mut().enumerate() {
        let mut left = args.per_path;
        while left > 0 {
            let n = left.min(batch);
            let mut cmds: Vec<[u64; 2]> = (0..n)
                .map(|i| {
                    if l == 1 && i % 8 == 0 {
                        [ATC_INV | (u64::from(VSIDS[0]) << 32), 0]
                    } else {
                        [TLBI_NH_VA | (1 << 48), (u64::from(i) << 12) | 1]
                    }
                })
                .collect();
            cmds.push([CMD_SYNC, 0]);
            let (p, c) = g.vcmdq_submit(l, &cmds);
            if p != c {
                return Err(format!("LVCMDQ{l} stopped: PROD {p:#x} CONS {c:#x}"));
            }
            *done += u64::from(n) + 1;
            left -= n;
        }
        println!(
            "[guest] LVCMDQ{l}: {} commands completed (CONS == PROD)",
            *done
        );
    }
    let mut left = args.per_path;
    let mut emu_done = 0u64;
    while left > 0 {
        let n = left.min(batch);
        let mut cmds: Vec<[u64; 2]> = (0..n)
            .map(|i| [TLBI_NH_VA | (1 << 48), (u64::from(i) << 12) | 1])
            .collect();
        cmds.push(g.sync());
        let (p, c) = g.cmdq_submit(&cmds);
        if p != c {
            return Err(format!("CMDQ stopped: PROD {p:#x} CONS {c:#x}"));
        }
        emu_done += u64::from(n) + 1;
        left -= n;
    }
    let mut msi = [0u8; 4];
    g.mem.read(MSI, &mut msi);
    println!(
        "[guest] emulated CMDQ: {emu_done} commands completed, last CMD_SYNC MSI data {} (expected {})",
        u32::from_le_bytes(msi),
        g.msi_seq
    );

    println!("== illegal command on the emulated CMDQ");
    let edges = gerror_irq.edges();
    let sync = g.sync();
    let (p, c) = g.cmdq_submit(&[[TLBI_NH_ASID | (1 << 48), 0], [0x7f, 0], sync]);
    let gerror = g.smmu_r32(sm::GERROR::OFFSET);
    println!(
        "[guest] PROD {p:#x} CONS {c:#x}: CONS.ERR {} (CERROR_ILL = 1), GERROR {gerror:#x}, GERROR irq edges +{}",
        sm::CMDQ_CONS::ERR.read(c),
        gerror_irq.edges() - edges
    );
    // Recovery as a driver does it: replace the bad command with a CMD_SYNC,
    // then acknowledge the error by toggling GERRORN to match.
    let bad = u64::from(sm::CMDQ_CONS::RD.read(c) & ((1 << LOG2Q) - 1));
    let sync = g.sync();
    g.put(CMDQ + bad * 16, &sync);
    g.smmu_w32(sm::GERRORN::OFFSET, gerror);
    let c = g.smmu_r32(sm::CMDQ_CONS::OFFSET);
    println!("[guest] fixed and acknowledged: CONS {c:#x} (PROD {p:#x})");
    if c != p {
        return Err("emulated CMDQ did not resume".into());
    }

    println!("== illegal command on LVCMDQ0");
    let irq_before = cmdqv_irq.edges();
    let (p, c) = g.vcmdq_submit(
        0,
        &[[TLBI_NH_ASID | (2 << 48), 0], [CFGI_STE, 0], [CMD_SYNC, 0]],
    );
    let ge_off = Guest::lvcmdq(0, cq::VINTF_PAGE0::LVCMDQ::GERROR::OFFSET);
    let gerror = g.cmdqv_r32(ge_off);
    println!(
        "[guest] PROD {p:#x} CONS {c:#x}: CONS.ERR {} (CERROR_ILL), GERROR {gerror:#x}, LVCMDQ_ERR_MAP {:#x}, CMDQV irq edges +{}",
        cq::VCMDQ::CONS::ERR.read(c),
        g.cmdqv_r32(cq::VINTF::LVCMDQ_ERR_MAP::OFFSET),
        cmdqv_irq.edges() - irq_before
    );
    let bad = u64::from(cq::VCMDQ::CONS::INDEX.read(c) & ((1 << LOG2Q) - 1));
    g.put(VCMDQ_MEM[0] + bad * 16, &[CMD_SYNC, 0]);
    g.cmdqv_w32(
        Guest::lvcmdq(0, cq::VINTF_PAGE0::LVCMDQ::GERRORN::OFFSET),
        gerror,
    );
    let c = g.cmdqv_r32(Guest::lvcmdq(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET));
    println!(
        "[guest] fixed and acknowledged: CONS {c:#x} (PROD {p:#x}), LVCMDQ_ERR_MAP {:#x}",
        g.cmdqv_r32(cq::VINTF::LVCMDQ_ERR_MAP::OFFSET)
    );
    if c != p {
        return Err("LVCMDQ0 did not resume".into());
    }

    if let Some(sim) = host.sim.as_ref() {
        println!("== a device fault through the host's SMMUv3 vEVENTQ");
        // The (simulated) SMMU reports a stage-1 translation fault of the
        // first device under its physical StreamID; on a real host the device
        // itself would fault. The kernel forwards it under the vSID.
        let iova = 0xdead_0000u64;
        let rec = [
            (u64::from(PSIDS[0]) << 32) | F_TRANSLATION,
            EVT_RNW,
            iova,
            0,
        ];
        sim.report_smmu_event(rec).map_err(|e| e.to_string())?;
        println!(
            "[host] SMMU event F_TRANSLATION, StreamID {:#x}, input address {iova:#x}",
            PSIDS[0]
        );
        let irq_before = eventq_irq.edges();
        let n = g.bus.device_mut().service_events();
        println!("[vmm] service_events: {n} record(s) from the vEVENTQ");
        let prod = g.smmu_r32(sm::EVENTQ_PROD::OFFSET);
        let cons = g.smmu_r32(sm::EVENTQ_CONS::OFFSET);
        let slot = u64::from(cons & ((1 << EVENTQ_LOG2) - 1));
        // Word 0 (event id, StreamID) and word 2 (input address).
        let (mut w0, mut w2) = ([0u8; 8], [0u8; 8]);
        if !g.mem.read(EVENTQ + slot * 32, &mut w0) || !g.mem.read(EVENTQ + slot * 32 + 16, &mut w2)
        {
            return Err("guest event queue unreadable".into());
        }
        let (w0, addr) = (u64::from_le_bytes(w0), u64::from_le_bytes(w2));
        println!(
            "[guest] EVENTQ PROD {prod:#x} CONS {cons:#x}, event irq edges +{}: record {:#x} StreamID {:#x}, input address {addr:#x}",
            eventq_irq.edges() - irq_before,
            w0 & 0xff,
            w0 >> 32
        );
        if w0 >> 32 != u64::from(VSIDS[0]) || addr != iova || prod == cons {
            return Err("the fault did not reach the guest under its vSID".into());
        }
        g.smmu_w32(sm::EVENTQ_CONS::OFFSET, prod);
    }

    println!("== a VCMDQ that cannot be allocated: CMDQ_INIT_ERR");
    g.cmdqv_w32(cq::VINTF::CONFIG::OFFSET, 0);
    print_transitions(&g.bus.device_mut().take_transitions());
    // Queue 1's base is not aligned to its size: the kernel refuses it.
    let base1 = cq::VCMDQ_PAGE1::BASE::OFFSET + 0x80;
    g.cmdqv_w64(base1, (VCMDQ_MEM[1] + 0x100) | u64::from(LOG2Q));
    g.cmdqv_w32(cq::VINTF::CONFIG::OFFSET, 1);
    print_transitions(&g.bus.device_mut().take_transitions());
    let ge1 = cq::VCMDQ::GERROR::OFFSET + 0x80;
    let gerror1 = g.cmdqv_r32(ge1);
    println!(
        "[guest] VCMDQ1 GERROR {gerror1:#x} (CMDQ_INIT_ERR {}), CMDQ_ERR_MAP {:#x}",
        cq::fieldsets::VcmdqErrors::CMDQ_INIT_ERR.read(gerror1),
        g.cmdqv_r32(cq::CMDQ_ERR_MAP::OFFSET)
    );
    g.cmdqv_w64(base1, VCMDQ_MEM[1] | u64::from(LOG2Q));
    g.cmdqv_w32(cq::VCMDQ::GERRORN::OFFSET + 0x80, gerror1);
    print_transitions(&g.bus.device_mut().take_transitions());
    g.vq_prod = [0; 2];
    for l in 0..2 {
        let cfg = Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET);
        g.cmdqv_w32(cfg, 1);
        // Fresh queues start at index 0; continue from the restored CONS.
        g.vq_prod[l] = g.cmdqv_r32(Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET))
            & ((2 << LOG2Q) - 1);
    }
    let (p, c) = g.vcmdq_submit(1, &[[TLBI_NH_VA | (3 << 48), 0x1000], [CMD_SYNC, 0]]);
    println!(
        "[guest] fixed BASE (the write retried the allocation), acknowledged: CMDQ_ERR_MAP {:#x}; LVCMDQ1 runs again: PROD {p:#x} CONS {c:#x}",
        g.cmdqv_r32(cq::CMDQ_ERR_MAP::OFFSET)
    );

    let last = host.devices.len() - 1;
    println!("== unplug vSID {:#x} with live queues", VSIDS[last]);
    let t = g.bus.device_mut().unplug(VSIDS[last]);
    print_transitions(&t);
    let (p, c) = g.vcmdq_submit(0, &[[TLBI_NH_VA | (1 << 48), 0x2000], [CMD_SYNC, 0]]);
    println!("[guest] LVCMDQ0 still runs: PROD {p:#x} CONS {c:#x}");

    println!("== teardown");
    g.smmu_w32(sm::CR0::OFFSET, 0);
    g.cmdqv_w32(cq::VINTF::CONFIG::OFFSET, 0);
    g.cmdqv_w32(cq::CONFIG::OFFSET, 0);
    let refused = g.bus.device().save_state().unwrap_err();
    println!("[vmm] snapshot: {refused}");
    let stats = g.bus.device().stats();
    let cstats = g.bus.device().cmdqv_stats().unwrap_or_default();
    let core_stats = g.bus.device().core().stats;
    let bus_stats = g.bus.stats();
    let t = g.bus.device_mut().teardown();
    print_transitions(&t);
    drop(g);
    drop(ioas);
    let hw = host.sim.as_ref().map(|s| s.hw_invalidations().len());
    let alive = host
        .sim
        .as_ref()
        .map(|s| s.live_objects().saturating_sub(host.baseline));

    println!("== summary");
    println!(
        "commands executed: emulated CMDQ {} by the model ({} forwarded to IOMMU_HWPT_INVALIDATE in {} calls); VCMDQs {}",
        core_stats.commands,
        core_stats.invalidations,
        core_stats.flushes,
        hw.map(|n| format!("{n} by the (simulated) hardware"))
            .unwrap_or_else(|| "run by the hardware".into()),
    );
    println!(
        "bulk phase: {emu_done} commands through the emulated CMDQ, {} through LVCMDQ0, {} through LVCMDQ1",
        vq_done[0], vq_done[1]
    );
    println!(
        "errors seen: CMDQ stops {} (resumed {}), VCMDQ errors reported {}, CMDQ_INIT_ERR {}",
        stats.cmdq_errors, stats.cmdq_resumes, cstats.queue_errors, cstats.init_errors
    );
    println!(
        "device faults: {} delivered to the guest's event queue, {} lost",
        stats.events, stats.events_lost
    );
    println!(
        "interrupts: GERROR {}, CMDQV {}, EVENTQ {}; MMIO: SMMU traps {}, CMDQV traps {} ({} reached the page), direct VINTF page accesses {}",
        gerror_irq.edges(),
        cmdqv_irq.edges(),
        eventq_irq.edges(),
        bus_stats.smmu,
        bus_stats.cmdqv,
        cstats.page_accesses,
        bus_stats.direct
    );
    match alive {
        Some(n) => println!("alive: {n}"),
        None => println!("alive: (not counted on this backend)"),
    }
    if alive.unwrap_or(0) != 0 {
        return Err(format!("{} kernel objects leaked", alive.unwrap_or(0)));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cmdqv-demo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cmdqv-demo: error: {e}");
            ExitCode::FAILURE
        }
    }
}
