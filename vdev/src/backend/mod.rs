//! The kernel boundary of the device models.
//!
//! Two layers:
//!
//! * The operations, one method per iommufd call the SMMUv3/CMDQV models
//!   need, on plain object ids, split by audience:
//!   * [`Backend`]: the iommufd calls a production VMM makes (IOAS, HWPT,
//!     vIOMMU, vDEVICE, HW queue, invalidation, vEVENTQ, destroy, mmap);
//!   * [`Selftest`]: the extension the kernel's iommufd selftest mock
//!     (`CONFIG_IOMMUFD_TEST`) adds (`IOMMU_TEST_CMD`: a mock device, its
//!     re-attachment, a test vEVENT), for conformance programs;
//!   * [`Kick`]: hardware that cannot see the guest's stores into a mapped
//!     page by itself is told about them; only the simulator needs it, a VMM
//!     on real hardware never calls it.
//!
//!   Every method returns Linux's errno on failure ([`Error::errno`]). This
//!   layer can break the kernel's order rules on purpose, which conformance
//!   and differential tests need.
//! * [`handles`] — RAII handles over a `Arc<dyn Backend>`. Each kernel object is
//!   a value whose `Drop` releases it, and each handle keeps its parents alive
//!   (`Arc`), so the kernel's order rules follow from ownership: HW queues and the
//!   VINTF page mapping hold their vIOMMU (queues and munmap go before the
//!   vIOMMU's destroy), queue *n* holds queue *n−1* (descending free order), a
//!   vDEVICE holds its device.
//!
//! Implementations: `real::IommufdBackend` (Linux `/dev/iommu`, through the
//! rust-vmm `iommufd-ioctls` crate; [`Backend`] and [`Selftest`]) and, with the
//! default cargo feature `sim`, `sim::SimBackend` (an in-process model of the
//! kernel and the Tegra241 hardware, or of the kernel's selftest mock; all
//! three traits). A VMM built without `sim` carries no simulator code.
//!
//! Both are parameterized by [`ObjectTypes`]: [`ObjectTypes::TEGRA241`] for a
//! Grace host, [`ObjectTypes::SELFTEST`] for the iommufd selftest mock
//! (`CONFIG_IOMMUFD_TEST`), so the same code drives either.

pub mod deferred;
mod error;
pub mod handles;
#[cfg(target_os = "linux")]
pub mod real;
mod region;
#[cfg(feature = "sim")]
pub mod sim;
mod types;
pub mod uapi;

pub use error::{errno_name, Error, Op, Result};
pub use handles::{
    Device, HwQueue, Ioas, NestParent, NestedHwpt, VDevice, VEventQ, VintfPage, Viommu,
};
#[cfg(unix)]
pub use region::MmapRegion;
pub use region::RawRegion;
#[cfg(unix)]
pub use types::PollFd;
pub use types::{
    HwInfo, HwInfoQuery, MappedRegion, MockDomain, ObjId, ObjectTypes, SharedRegion, Smmuv3Info,
    Tegra241Info, VEvent, ViommuDataIn, ViommuDataOut, ViommuDataShape,
};

/// The iommufd operations a VMM makes, on raw object ids: what a production
/// VMM implements or wraps. See the module documentation; prefer the RAII
/// [`handles`] for device models.
pub trait Backend: Send + Sync {
    /// The object types this backend asks for.
    fn types(&self) -> &ObjectTypes;

    /// `IOMMU_GET_HW_INFO` on device `dev_id`.
    fn get_hw_info(&self, dev_id: ObjId, query: HwInfoQuery) -> Result<HwInfo>;

    /// `IOMMU_IOAS_ALLOC`.
    fn ioas_alloc(&self) -> Result<ObjId>;

    /// `IOMMU_IOAS_MAP` with a fixed IOVA, readable and writeable, of `length`
    /// bytes of this process's memory at `user_va`. The simulator ignores
    /// `user_va`: there IOVA = guest physical address in its guest memory.
    fn ioas_map(&self, ioas: ObjId, iova: u64, length: u64, user_va: u64) -> Result<()>;

    /// `IOMMU_IOAS_UNMAP` of exactly `[iova, iova + length)`.
    fn ioas_unmap(&self, ioas: ObjId, iova: u64, length: u64) -> Result<()>;

    /// `IOMMU_HWPT_ALLOC` of a nesting-parent (stage-2) HWPT on `ioas`.
    fn hwpt_alloc_nest_parent(&self, dev_id: ObjId, ioas: ObjId) -> Result<ObjId>;

    /// `IOMMU_HWPT_ALLOC` of a nested HWPT with driver data of `data_type` (for
    /// SMMUv3: the guest STE's first two words, little-endian). `pt` is a vIOMMU
    /// (the SMMUv3 way) or, where the driver allows it, a nesting-parent HWPT.
    fn hwpt_alloc_nested(
        &self,
        dev_id: ObjId,
        pt: ObjId,
        data_type: u32,
        data: &[u8],
    ) -> Result<ObjId>;

    /// `IOMMU_VIOMMU_ALLOC` of `viommu_type` on a nesting-parent HWPT.
    fn viommu_alloc(
        &self,
        dev_id: ObjId,
        hwpt: ObjId,
        viommu_type: u32,
        data: ViommuDataIn,
    ) -> Result<ViommuDataOut>;

    /// `IOMMU_VDEVICE_ALLOC`: bind `dev_id` as virtual id `virt_id` (vSID) on a vIOMMU.
    fn vdevice_alloc(&self, viommu: ObjId, dev_id: ObjId, virt_id: u64) -> Result<ObjId>;

    /// `IOMMU_HW_QUEUE_ALLOC`: queue `index` of `queue_type` over guest memory at
    /// `nesting_parent_iova`, `length` bytes.
    fn hw_queue_alloc(
        &self,
        viommu: ObjId,
        queue_type: u32,
        index: u32,
        nesting_parent_iova: u64,
        length: u64,
    ) -> Result<ObjId>;

    /// `IOMMU_HWPT_INVALIDATE` on a vIOMMU or nested HWPT: `entries` holds
    /// `entries.len() / entry_len` entries of `data_type`. Returns how many the
    /// kernel handled; on failure [`Error::handled`] says so too.
    fn invalidate(&self, id: ObjId, data_type: u32, entry_len: u32, entries: &[u8]) -> Result<u32>;

    /// `IOMMU_VEVENTQ_ALLOC` of `veventq_type` with room for `depth` events.
    fn veventq_alloc(&self, viommu: ObjId, veventq_type: u32, depth: u32) -> Result<ObjId>;

    /// Reads the pending vEVENTs of a vEVENTQ without blocking (empty: none).
    fn veventq_read(&self, veventq: ObjId) -> Result<Vec<VEvent>>;

    /// The vEVENTQ's descriptor, readable while it holds records: what a VMM
    /// waits on (epoll) before [`Backend::veventq_read`]. The kernel's
    /// vEVENTQ file on a real host, an eventfd signalled with each queued
    /// record on the simulator. Hold it no longer than the vEVENTQ: an open
    /// vEVENTQ file keeps the kernel object busy (its `IOMMU_DESTROY` fails
    /// with `EBUSY`), and the simulator enforces the same. `EOPNOTSUPP` by
    /// default, for a backend without descriptors.
    #[cfg(unix)]
    fn veventq_fd(&self, veventq: ObjId) -> Result<PollFd> {
        let _ = veventq;
        Err(Error::new(Op::VeventqFd, libc::EOPNOTSUPP))
    }

    /// `IOMMU_DESTROY`.
    fn destroy(&self, id: ObjId) -> Result<()>;

    /// Where the handles keep objects whose destroy (in their `Drop`) the
    /// kernel refused, for [`deferred::retry`] at teardown. `None` (the
    /// default) means such objects are only logged.
    fn deferred_destroys(&self) -> Option<&deferred::DeferredDestroys> {
        None
    }

    /// `mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, iommufd, offset)`;
    /// never executable. The mapping is unmapped when the returned value drops.
    fn mmap(&self, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>>;
}

/// The iommufd selftest mock's extension (`IOMMU_TEST_CMD`, kernels with
/// `CONFIG_IOMMUFD_TEST`): a mock device bound and attached in one call, its
/// re-attachment, and a test vEVENT. Conformance programs use it to drive the
/// same [`Backend`] calls against the kernel's mock; a VMM never does.
pub trait Selftest: Backend {
    /// Selftest `IOMMU_TEST_OP_MOCK_DOMAIN` on `ioas`: a mock device, bound and
    /// attached. `ENOTTY` where the kernel has no `CONFIG_IOMMUFD_TEST`.
    fn mock_domain(&self, ioas: ObjId) -> Result<MockDomain>;

    /// Selftest `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE`: re-attaches the mock device
    /// `stdev_id` to `pt` (a paging or nested HWPT, or an IOAS). Attaching a
    /// nested HWPT needs the device's vDEVICE on that vIOMMU (ENOENT otherwise).
    fn mock_domain_replace(&self, stdev_id: ObjId, pt: ObjId) -> Result<()>;

    /// Selftest `IOMMU_TEST_OP_TRIGGER_VEVENT` for device `dev_id` (the idev id):
    /// the mock reports `{virt_id}` on the selftest vEVENTQ of the vIOMMU whose
    /// nested HWPT the device is attached to (ENOENT when detached or without a
    /// vDEVICE, EOPNOTSUPP without such a vEVENTQ).
    fn trigger_vevent(&self, dev_id: ObjId) -> Result<()>;
}

/// The simulator's hardware kick. Real hardware sees the guest's stores into
/// the mapped VINTF page by itself and runs its queues, so a VMM on a real
/// host has no `Kick`; the simulator cannot trap stores to that memory, so
/// the device model tells it after guest writes to the page (PROD, CONFIG,
/// GERRORN), through the `Kick` the VMM handed the CMDQV lifecycle
/// (`Lifecycle::with_kick`).
pub trait Kick: Send + Sync {
    /// The simulated VCMDQs of `viommu` act on what was stored into its page.
    fn kick(&self, viommu: ObjId) -> Result<()>;
}
