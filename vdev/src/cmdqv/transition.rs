//! What the CMDQV [`Lifecycle`](super::Lifecycle) reports and takes: the
//! transitions an event caused, in order (the front end reacts to some, the
//! demo prints them), why an event failed, the errors its vEVENTQ
//! delivered, a programmed queue base, and the register cache whose
//! contract says where each queue's registers live.

use std::fmt;

use super::lifecycle::MAX_LOG2_ENTRIES;
use crate::backend::deferred::Deferred;
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
    /// A count of logical VCMDQs the model cannot expose (not a power of
    /// two from 1 to [`super::lifecycle::MAX_LVCMDQS`]).
    LvcmdqCount(usize),
    /// The host refused the vIOMMU or vDEVICE of a device behind another
    /// physical SMMU than the vSMMU's: `EINVAL` from `IOMMU_VIOMMU_ALLOC`
    /// (the nesting parent is another SMMU's) or `IOMMU_VDEVICE_ALLOC` (the
    /// vIOMMU is). Plug the device into the vSMMU of its own SMMU.
    OtherSmmu(Error),
    /// The host's CMDQV has no free VINTF for this vSMMU's vIOMMU (`ENOSPC`
    /// from `IOMMU_VIOMMU_ALLOC`): every VINTF but the host's own is taken
    /// by other vIOMMUs.
    NoVintf(Error),
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::Backend(e) => write!(f, "{e}"),
            LifecycleError::Unsupported(s) => write!(f, "host CMDQV unsupported: {s}"),
            LifecycleError::DuplicateVsid(v) => write!(f, "vSID {v:#x} already plugged"),
            LifecycleError::BadIndex(i) => write!(f, "index {i} out of range"),
            LifecycleError::LvcmdqCount(n) => write!(
                f,
                "{n} logical VCMDQs per VINTF: not a power of two from 1 to {}",
                super::lifecycle::MAX_LVCMDQS
            ),
            LifecycleError::OtherSmmu(e) => write!(
                f,
                "the device is behind another physical SMMU than this vSMMU ({e})"
            ),
            LifecycleError::NoVintf(e) => {
                write!(f, "the host CMDQV has no free VINTF for this vSMMU ({e})")
            }
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
    /// The host CMDQV (`IOMMU_GET_HW_INFO`, asked once) is bound.
    Probed(Tegra241Info),
    /// The vIOMMU was allocated, VINTF page 0 mapped, the vEVENTQ allocated.
    Bound {
        /// vIOMMU id.
        viommu: u32,
    },
    /// A logical VCMDQ got its HW queue; its registers are in the page
    /// (copied from the cache if the page was not installed).
    QueueAllocated {
        /// Logical index.
        lidx: usize,
        /// HW queue id.
        hw_queue: u32,
    },
    /// `IOMMU_HW_QUEUE_ALLOC` failed ([`QueueRegCache::init_error`] was told).
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
    /// Teardown could not destroy a kernel object (its destroy was refused
    /// when its handle dropped and again on the retry); the backend keeps it
    /// for a later [`crate::backend::deferred::retry`].
    Unreleased(Deferred),
    /// Everything was released (but what [`Transition::Unreleased`] names).
    TornDown,
}

/// Where a logical VCMDQ's page-0 registers (CONS, PROD, CONFIG, STATUS,
/// GERROR, GERRORN) live, and the moves between the two homes.
///
/// * In the **page** while the queue has a HW queue (a trapped access is
///   forwarded to it), and for every queue while the page is installed (the
///   guest reaches it without a trap).
/// * In the **cache** (the front end's register file) otherwise: a queue
///   without a HW queue while the page is not installed.
///
/// The lifecycle calls these at each change of home, so no value the guest
/// wrote is lost and no stale value overwrites a newer one.
pub trait QueueRegCache {
    /// Queue `lidx`'s registers move from the cache into the page: it has no
    /// HW queue and the page is about to be installed, or its HW queue was
    /// just freed while the page stays installed (the kernel reset them).
    fn to_page(&mut self, lidx: usize, page: &VintfPage);
    /// Queue `lidx`'s registers move from the page into the cache: its HW
    /// queue is about to be freed, or the page was removed and the queue has
    /// none.
    fn to_cache(&mut self, lidx: usize, page: &VintfPage);
    /// Queue `lidx` just got its HW queue; `from_cache`: its registers were in
    /// the cache (the page is not installed) and are copied in first. A new
    /// queue reports no error: earlier errors and CMDQ_INIT_ERR are gone.
    fn new_queue(&mut self, lidx: usize, page: &VintfPage, from_cache: bool);
    /// `IOMMU_HW_QUEUE_ALLOC` failed for queue `lidx`: the guest must see
    /// GERROR.CMDQ_INIT_ERR.
    fn init_error(&mut self, lidx: usize);
    /// Whether the page must stay out of guest MMIO for now: a queue shows an
    /// error only the cache can hold (CMDQ_INIT_ERR: GERROR is read-only in
    /// the hardware's page).
    fn hold_page(&self) -> bool;
}

/// A cache that keeps nothing (tests of the bare lifecycle).
pub struct NoCache;

impl QueueRegCache for NoCache {
    fn to_page(&mut self, _lidx: usize, _page: &VintfPage) {}
    fn to_cache(&mut self, _lidx: usize, _page: &VintfPage) {}
    fn new_queue(&mut self, _lidx: usize, _page: &VintfPage, _from_cache: bool) {}
    fn init_error(&mut self, _lidx: usize) {}
    fn hold_page(&self) -> bool {
        false
    }
}

/// A programmed VCMDQ base: a queue of `2^log2size` 16-byte entries at
/// guest physical `addr`, wholly inside guest RAM (the front end checks
/// that; anything else is "not programmed" and never reaches the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBase {
    /// Guest physical address (BASE.ADDR, bits 47:5).
    pub addr: u64,
    /// log2 of the entries, at most [`MAX_LOG2_ENTRIES`].
    pub log2size: u32,
}

impl QueueBase {
    /// A base of `2^log2size` entries at `addr` (the size clamped to
    /// [`MAX_LOG2_ENTRIES`]).
    pub fn new(addr: u64, log2size: u32) -> Self {
        QueueBase {
            addr,
            log2size: log2size.min(MAX_LOG2_ENTRIES),
        }
    }

    /// Bytes of the queue: what `IOMMU_HW_QUEUE_ALLOC` is asked for.
    pub fn bytes(&self) -> u64 {
        (smmuv3_regs::structs::Command::SIZE_BYTES as u64) << self.log2size
    }
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
