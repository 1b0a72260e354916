//! What the chosen backend provides the VMM: the iommufd backend, guest RAM,
//! the device attachment and the passthrough devices grouped by physical
//! SMMU, on the simulated Grace host or (with `--backend iommufd`) through
//! `/dev/iommu`.

use std::sync::Arc;

use vdev::backend::sim::{SimBackend, SimConfig, Tegra241Host};
use vdev::backend::{Backend, Device};
use vdev::vmm::{DeviceAttach, GuestMemory};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::{ram_len, Args, PSIDS, RAM};

/// What the chosen backend provides the VMM.
pub struct Host {
    pub backend: Arc<dyn Backend>,
    /// The simulated host (its hardware kick, its SMMU, its counters).
    pub sim: Option<SimBackend>,
    pub mem: Arc<dyn GuestMemory>,
    pub attach: Arc<dyn DeviceAttach>,
    /// The passthrough devices of each vSMMU: those behind physical SMMU
    /// `k` for vSMMU `k`.
    pub units: Vec<Vec<Arc<Device>>>,
    /// Guest RAM mapped at IOVA = GPA (user_va for the real backend).
    pub ram_user_va: u64,
    /// Size of the host pages backing guest RAM.
    pub backing: u64,
    /// Objects that are not the VMM's (bound devices), for the final count.
    pub baseline: usize,
    /// The `/dev/iommu` file the VFIO devices are bound to (real host).
    pub _iommu: Option<std::fs::File>,
}

/// Guest RAM as a rust-vmm VMM allocates it: a `GuestMemoryMmap`, on 2 MiB
/// huge pages (a `MFD_HUGETLB` memfd) where the host has enough of them, on
/// anonymous memory otherwise; `len` bytes at [`RAM`]. vdev derives the
/// backing page size from it.
pub fn guest_ram(len: u64) -> Result<Arc<GuestMemoryMmap>, String> {
    #[cfg(target_os = "linux")]
    if let Some(m) = hugetlb_ram(len) {
        return Ok(Arc::new(m));
    }
    GuestMemoryMmap::from_ranges(&[(GuestAddress(RAM), len as usize)])
        .map(Arc::new)
        .map_err(|e| format!("cannot allocate {len} bytes of guest RAM: {e}"))
}

/// Guest RAM on a huge page memfd, if the host can reserve the pages.
#[cfg(target_os = "linux")]
fn hugetlb_ram(len: u64) -> Option<GuestMemoryMmap> {
    use std::os::fd::FromRawFd;
    use vm_memory::mmap::MmapRegionBuilder;
    use vm_memory::{FileOffset, GuestRegionMmap};
    // SAFETY: a NUL-terminated name and plain flags; the call creates a new
    // descriptor and touches nothing else.
    let fd =
        unsafe { libc::memfd_create(c"guest-ram".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_HUGETLB) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.set_len(len).ok()?;
    // A shared hugetlbfs mapping without MAP_NORESERVE reserves its pages at
    // mmap time: a host short of huge pages fails here, not at first touch.
    let region = MmapRegionBuilder::new(len as usize)
        .with_file_offset(FileOffset::new(file, 0))
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_SHARED)
        .with_hugetlbfs(true)
        .build()
        .ok()?;
    GuestMemoryMmap::from_regions(vec![GuestRegionMmap::new(region, GuestAddress(RAM))?]).ok()
}

/// A simulated Grace host with one SMMU per vSMMU of `args`, each with a
/// CMDQV of at least `args.lvcmdqs` LVCMDQs per VINTF and two passthrough
/// devices (the same StreamIDs behind every SMMU: they are per SMMU).
pub fn sim_host(args: &Args) -> Result<Host, String> {
    let ram = guest_ram(ram_len(args.lvcmdqs, args.vsmmus))?;
    let backing = ram
        .backing_page_size(RAM)
        .ok_or("guest RAM without a host address")?;
    let smmu = Tegra241Host {
        lvcmdqs_per_vintf: (args.lvcmdqs as u16).max(Tegra241Host::default().lvcmdqs_per_vintf),
        ..Default::default()
    };
    let cfg = SimConfig::tegra241_smmus(vec![smmu; args.vsmmus]);
    let sim = SimBackend::new(cfg, ram.clone());
    let units: Vec<Vec<Arc<Device>>> = {
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        (0..args.vsmmus)
            .map(|k| {
                PSIDS
                    .iter()
                    .map(|p| {
                        let id = sim.add_device_on(k, *p).expect("an SMMU per vSMMU");
                        Device::external(&b, id)
                    })
                    .collect()
            })
            .collect()
    };
    let baseline = sim.live_objects();
    Ok(Host {
        backend: Arc::new(sim.clone()),
        sim: Some(sim.clone()),
        mem: ram,
        attach: Arc::new(sim),
        units,
        ram_user_va: 0,
        backing,
        baseline,
        _iommu: None,
    })
}

/// A real host: `/dev/iommu` and the VFIO cdevs of `args`.
#[cfg(target_os = "linux")]
pub fn iommufd_host(args: &Args) -> Result<Host, String> {
    crate::real_host::open(args)
}

/// A real host: the iommufd backend needs Linux.
#[cfg(not(target_os = "linux"))]
pub fn iommufd_host(_args: &Args) -> Result<Host, String> {
    Err("the iommufd backend needs Linux".into())
}
