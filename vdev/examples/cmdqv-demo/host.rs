//! What the chosen backend provides the VMM: the iommufd backend, guest RAM,
//! the device attachment and the passthrough devices, on the simulated
//! Grace host or (with `--backend iommufd`) through `/dev/iommu`.

use std::sync::Arc;

use vdev::backend::sim::{SimBackend, SimConfig, SimGuestRam};
use vdev::backend::{Backend, Device};
use vdev::vmm::{DeviceAttach, GuestMemory};

use crate::{BACKING, PSIDS, RAM, RAM_LEN};

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

/// A simulated Grace host with two passthrough devices.
pub fn sim_host() -> Host {
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
