//! What the chosen backend provides the VMM: the iommufd backend, guest RAM,
//! the device attachment and the passthrough devices, on the simulated
//! Grace host or (with `--backend iommufd`) through `/dev/iommu`.

use std::sync::Arc;

use vdev::backend::sim::{SimBackend, SimConfig};
use vdev::backend::{Backend, Device};
use vdev::vmm::{DeviceAttach, GuestMemory};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::{PSIDS, RAM, RAM_LEN};

/// What the chosen backend provides the VMM.
pub struct Host {
    pub backend: Arc<dyn Backend>,
    /// The simulated host (its hardware kick, its SMMU, its counters).
    pub sim: Option<SimBackend>,
    pub mem: Arc<dyn GuestMemory>,
    pub attach: Arc<dyn DeviceAttach>,
    pub devices: Vec<Arc<Device>>,
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
/// anonymous memory otherwise. vdev derives the backing page size from it.
pub fn guest_ram() -> Result<Arc<GuestMemoryMmap>, String> {
    #[cfg(target_os = "linux")]
    if let Some(m) = hugetlb_ram() {
        return Ok(Arc::new(m));
    }
    GuestMemoryMmap::from_ranges(&[(GuestAddress(RAM), RAM_LEN as usize)])
        .map(Arc::new)
        .map_err(|e| format!("cannot allocate {RAM_LEN} bytes of guest RAM: {e}"))
}

/// Guest RAM on a huge page memfd, if the host can reserve the pages.
#[cfg(target_os = "linux")]
fn hugetlb_ram() -> Option<GuestMemoryMmap> {
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
    file.set_len(RAM_LEN).ok()?;
    // A shared hugetlbfs mapping without MAP_NORESERVE reserves its pages at
    // mmap time: a host short of huge pages fails here, not at first touch.
    let region = MmapRegionBuilder::new(RAM_LEN as usize)
        .with_file_offset(FileOffset::new(file, 0))
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_SHARED)
        .with_hugetlbfs(true)
        .build()
        .ok()?;
    GuestMemoryMmap::from_regions(vec![GuestRegionMmap::new(region, GuestAddress(RAM))?]).ok()
}

/// A simulated Grace host with two passthrough devices.
pub fn sim_host() -> Result<Host, String> {
    let ram = guest_ram()?;
    let backing = ram
        .backing_page_size(RAM)
        .ok_or("guest RAM without a host address")?;
    let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
    let devices: Vec<Arc<Device>> = {
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        PSIDS
            .iter()
            .map(|p| Device::external(&b, sim.add_device(*p)))
            .collect()
    };
    let baseline = sim.live_objects();
    Ok(Host {
        backend: Arc::new(sim.clone()),
        sim: Some(sim.clone()),
        mem: ram,
        attach: Arc::new(sim),
        devices,
        ram_user_va: 0,
        backing,
        baseline,
        _iommu: None,
    })
}

/// A real host: `/dev/iommu` and the VFIO cdevs `vfio`.
#[cfg(target_os = "linux")]
pub fn iommufd_host(vfio: &[String]) -> Result<Host, String> {
    crate::real_host::open(vfio)
}

/// A real host: the iommufd backend needs Linux.
#[cfg(not(target_os = "linux"))]
pub fn iommufd_host(_vfio: &[String]) -> Result<Host, String> {
    Err("the iommufd backend needs Linux".into())
}
