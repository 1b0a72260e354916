//! What the CMDQV [`Lifecycle`](super::Lifecycle) reports and takes: the
//! transitions an event caused, in order (the front end reacts to some, the
//! demo prints them), why an event failed, the errors its vEVENTQ
//! delivered, and the register cache of queues that have no HW queue.

use std::fmt;

use crate::backend::{Error, Tegra241Info, VintfPage};

/// Why an event of the lifecycle failed (for the VMM; the guest sees
/// registers, never this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleError {
    /// A backend call failed.
    Backend(Error),
    /// The host CMDQV does not offer what the model exposes.
    Unsupported(String),
    /// The vSID is already plugged.
    DuplicateVsid(u32),
    /// An index out of the model's range.
    BadIndex(usize),
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::Backend(e) => write!(f, "{e}"),
            LifecycleError::Unsupported(s) => write!(f, "host CMDQV unsupported: {s}"),
            LifecycleError::DuplicateVsid(v) => write!(f, "vSID {v:#x} already plugged"),
            LifecycleError::BadIndex(i) => write!(f, "index {i} out of range"),
        }
    }
}

impl std::error::Error for LifecycleError {}

impl From<Error> for LifecycleError {
    fn from(e: Error) -> Self {
        LifecycleError::Backend(e)
    }
}

/// What an event changed, in order: the front end reacts to some (GERROR on
/// an init error) and the demo prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `IOMMU_GET_HW_INFO` confirmed the host CMDQV.
    Probed(Tegra241Info),
    /// The vIOMMU was allocated, VINTF page 0 mapped, the vEVENTQ allocated.
    Bound {
        /// vIOMMU id.
        viommu: u32,
    },
    /// A logical VCMDQ got its HW queue; the cached registers were restored.
    QueueAllocated {
        /// Logical index.
        lidx: usize,
        /// HW queue id.
        hw_queue: u32,
    },
    /// `IOMMU_HW_QUEUE_ALLOC` failed: the guest must see CMDQ_INIT_ERR.
    QueueInitError {
        /// Logical index.
        lidx: usize,
        /// The backend error.
        error: Error,
    },
    /// A HW queue was freed (its registers saved into the cache first).
    QueueFreed {
        /// Logical index.
        lidx: usize,
    },
    /// VINTF page 0 installed into guest MMIO as RAM.
    RegionInstalled {
        /// Guest physical address.
        gpa: u64,
    },
    /// The VMM refused the region; accesses stay trapped (and still reach the
    /// page through the trap path).
    RegionInstallFailed(String),
    /// VINTF page 0 removed from guest MMIO.
    RegionRemoved {
        /// Guest physical address.
        gpa: u64,
    },
    /// A vDEVICE was allocated for a plugged device.
    VdeviceAllocated {
        /// The vSID.
        vsid: u32,
    },
    /// A vDEVICE was freed (unplug or teardown).
    VdeviceFreed {
        /// The vSID.
        vsid: u32,
    },
    /// Everything was released.
    TornDown,
}

/// The register cache of the logical VCMDQs' page-0 registers: the front end
/// keeps trapped values there while no HW queue exists.
pub trait QueueRegCache {
    /// After `IOMMU_HW_QUEUE_ALLOC` succeeded: copy the cached registers of
    /// queue `lidx` into the page.
    fn restore(&mut self, lidx: usize, page: &VintfPage);
    /// Before the queue is freed: copy the page's registers into the cache.
    fn save(&mut self, lidx: usize, page: &VintfPage);
}

/// A cache that keeps nothing (tests of the bare lifecycle).
pub struct NoCache;

impl QueueRegCache for NoCache {
    fn restore(&mut self, _lidx: usize, _page: &VintfPage) {}
    fn save(&mut self, _lidx: usize, _page: &VintfPage) {}
}

/// Errors delivered by the vEVENTQ since the last poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorEvents {
    /// OR of the LVCMDQ error maps reported.
    pub err_map: u128,
    /// Records were lost (queue overflow): the front end should re-read state.
    pub lost: bool,
    /// Records read.
    pub records: usize,
}
