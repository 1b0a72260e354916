//! RAII handles: one value per kernel object, released by `Drop`, each holding
//! `Arc`s of the objects it depends on so that the kernel's order rules hold by
//! construction:
//!
//! | rule (Linux)                                   | how the types keep it                         |
//! |------------------------------------------------|-----------------------------------------------|
//! | HW queues are destroyed before their vIOMMU     | [`HwQueue`] holds `Arc<Viommu>`                |
//! | HW queues are freed in descending index order   | queue *n* holds `Arc` of queue *n−1*           |
//! | HW queues are allocated in ascending order      | [`Viommu::alloc_hw_queue`] takes the previous queue and derives the index |
//! | munmap before the vIOMMU's destroy (else EBUSY) | [`VintfPage`]'s shared mapping holds `Arc<Viommu>` |
//! | a vDEVICE before its device                     | [`VDevice`] holds `Arc<Device>`                |
//! | vIOMMU before its nesting parent, HWPT before IOAS | [`Viommu`] holds `Arc<NestParent>`, which holds `Arc<Ioas>` |
//!
//! A destroy that still fails in `Drop` (it cannot, if only handles are used) is
//! logged (`log::error!`, target `vdev::backend::handles`), since `Drop` cannot
//! return it; each successful destroy is logged at debug level.

use std::sync::Arc;

use super::{
    Backend, Error, HwInfo, HwInfoQuery, MappedRegion, ObjId, Op, Result, Selftest, SharedRegion,
    VEvent, ViommuDataIn, ViommuDataOut,
};

/// Destroys `id` for a handle's `Drop`; a refusal is kept by the backend for
/// a retry at teardown (see [`super::deferred`]), or logged where the backend
/// keeps none.
pub(crate) fn release(b: &Arc<dyn Backend>, id: ObjId, what: &'static str) {
    match b.destroy(id) {
        Ok(()) => log::debug!("destroyed {what} {id}"),
        Err(error) => match b.deferred_destroys() {
            Some(kept) => {
                log::warn!("destroying {what} {id}: {error}; kept for a retry");
                kept.push(super::deferred::Deferred { id, what, error });
            }
            None => log::error!("destroying {what} {id}: {error}"),
        },
    }
}

/// An IOAS (`IOMMU_IOAS_ALLOC`), destroyed on drop.
pub struct Ioas {
    b: Arc<dyn Backend>,
    id: ObjId,
}

impl Ioas {
    /// Allocates an IOAS.
    pub fn new(b: &Arc<dyn Backend>) -> Result<Arc<Ioas>> {
        let id = b.ioas_alloc()?;
        Ok(Arc::new(Ioas { b: b.clone(), id }))
    }
    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }
    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.b
    }
    /// Maps guest RAM: `length` bytes of this process at `user_va` at `iova`
    /// (the guest physical address).
    pub fn map(&self, iova: u64, length: u64, user_va: u64) -> Result<()> {
        self.b.ioas_map(self.id, iova, length, user_va)
    }
    /// Unmaps exactly `[iova, iova + length)` (EBUSY while a HW queue pins it).
    pub fn unmap(&self, iova: u64, length: u64) -> Result<()> {
        self.b.ioas_unmap(self.id, iova, length)
    }
}

impl Drop for Ioas {
    fn drop(&mut self) {
        release(&self.b, self.id, "IOAS");
    }
}

/// A device bound to iommufd.
pub struct Device {
    b: Arc<dyn Backend>,
    dev_id: ObjId,
    /// The selftest object to destroy on drop, for a mock device.
    stdev: Option<ObjId>,
    /// A mock device's auto-domain HWPT hangs on this IOAS.
    _ioas: Option<Arc<Ioas>>,
}

impl Device {
    /// A device bound by its owner (e.g. a VFIO cdev bound with
    /// `VFIO_DEVICE_BIND_IOMMUFD`); dropping the handle leaves it bound.
    pub fn external(b: &Arc<dyn Backend>, dev_id: ObjId) -> Arc<Device> {
        Arc::new(Device {
            b: b.clone(),
            dev_id,
            stdev: None,
            _ioas: None,
        })
    }

    /// A selftest mock device attached to `ioas` (`IOMMU_TEST_OP_MOCK_DOMAIN`
    /// through `selftest`, the backend `ioas` lives on); dropping the handle
    /// destroys it.
    pub fn mock(selftest: &dyn Selftest, ioas: &Arc<Ioas>) -> Result<Arc<Device>> {
        let m = selftest.mock_domain(ioas.id)?;
        Ok(Arc::new(Device {
            b: ioas.b.clone(),
            dev_id: m.idev_id,
            stdev: Some(m.stdev_id),
            _ioas: Some(ioas.clone()),
        }))
    }

    /// The iommufd device id (`dev_id`).
    pub fn id(&self) -> ObjId {
        self.dev_id
    }

    /// For a mock device: the selftest object id (what
    /// [`Selftest::mock_domain_replace`] takes).
    pub fn stdev_id(&self) -> Option<ObjId> {
        self.stdev
    }

    /// `IOMMU_GET_HW_INFO` of this device's IOMMU.
    pub fn hw_info(&self, query: HwInfoQuery) -> Result<HwInfo> {
        self.b.get_hw_info(self.dev_id, query)
    }

    /// `IOMMU_GET_HW_INFO` of the backend's [`super::ObjectTypes::hw_info_type`].
    pub fn hw_info_typed(&self) -> Result<HwInfo> {
        self.hw_info(HwInfoQuery::Type(self.b.types().hw_info_type))
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Some(s) = self.stdev {
            release(&self.b, s, "mock device");
        }
    }
}

/// A nesting-parent (stage-2) HWPT on an IOAS.
pub struct NestParent {
    ioas: Arc<Ioas>,
    id: ObjId,
    dev_id: ObjId,
}

impl NestParent {
    /// `IOMMU_HWPT_ALLOC` with `IOMMU_HWPT_ALLOC_NEST_PARENT` for `dev` on `ioas`.
    pub fn new(dev: &Device, ioas: &Arc<Ioas>) -> Result<Arc<NestParent>> {
        let id = ioas.b.hwpt_alloc_nest_parent(dev.dev_id, ioas.id)?;
        Ok(Arc::new(NestParent {
            ioas: ioas.clone(),
            id,
            dev_id: dev.dev_id,
        }))
    }
    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }
    /// The device it was allocated for: its IOMMU is the host SMMU behind
    /// every device nested on this parent (what `IOMMU_GET_HW_INFO` asks).
    pub fn device_id(&self) -> ObjId {
        self.dev_id
    }
    /// The IOAS below.
    pub fn ioas(&self) -> &Arc<Ioas> {
        &self.ioas
    }
}

impl Drop for NestParent {
    fn drop(&mut self) {
        release(&self.ioas.b, self.id, "nesting-parent HWPT");
    }
}

/// A vIOMMU (for Tegra241: one VINTF).
pub struct Viommu {
    parent: Arc<NestParent>,
    out: ViommuDataOut,
}

impl Viommu {
    /// `IOMMU_VIOMMU_ALLOC` of the backend's vIOMMU type and data shape
    /// (`in_data` only matters for the selftest type).
    pub fn new(dev: &Device, parent: &Arc<NestParent>, in_data: u32) -> Result<Arc<Viommu>> {
        let t = *parent.ioas.b.types();
        Self::with_type(
            dev,
            parent,
            t.viommu_type,
            ViommuDataIn::for_shape(t.viommu_data, in_data),
        )
    }

    /// `IOMMU_VIOMMU_ALLOC` of an explicit type and data.
    pub fn with_type(
        dev: &Device,
        parent: &Arc<NestParent>,
        viommu_type: u32,
        data: ViommuDataIn,
    ) -> Result<Arc<Viommu>> {
        let out = parent
            .ioas
            .b
            .viommu_alloc(dev.dev_id, parent.id, viommu_type, data)?;
        Ok(Arc::new(Viommu {
            parent: parent.clone(),
            out,
        }))
    }

    fn b(&self) -> &Arc<dyn Backend> {
        &self.parent.ioas.b
    }

    /// The object id.
    pub fn id(&self) -> ObjId {
        self.out.viommu_id
    }
    /// What `IOMMU_VIOMMU_ALLOC` returned (mmap offset and length, `out_data`).
    pub fn data(&self) -> ViommuDataOut {
        self.out
    }
    /// The nesting parent.
    pub fn parent(&self) -> &Arc<NestParent> {
        &self.parent
    }

    /// mmaps the region the vIOMMU exposes (VINTF page 0), exact offset and length.
    pub fn map_page(self: &Arc<Self>) -> Result<VintfPage> {
        if self.out.mmap_length == 0 {
            return Err(Error::new(Op::Mmap, libc::ENXIO));
        }
        let region = self.b().mmap(self.out.mmap_offset, self.out.mmap_length)?;
        Ok(VintfPage {
            mapping: Arc::new(PageMapping {
                region,
                viommu: self.clone(),
            }),
        })
    }

    /// `IOMMU_HW_QUEUE_ALLOC` of the backend's queue type: queue 0 with
    /// `prev = None`, queue n+1 with `prev = Some(queue n)`. A `prev` of another
    /// vIOMMU is refused with EINVAL before reaching the kernel.
    pub fn alloc_hw_queue(
        self: &Arc<Self>,
        prev: Option<&Arc<HwQueue>>,
        iova: u64,
        length: u64,
    ) -> Result<Arc<HwQueue>> {
        let index = match prev {
            None => 0,
            Some(p) if p.viommu.id() == self.id() => p.index + 1,
            Some(_) => return Err(Error::new(Op::HwQueueAlloc, libc::EINVAL)),
        };
        let t = self.b().types().hw_queue_type;
        let id = self.b().hw_queue_alloc(self.id(), t, index, iova, length)?;
        Ok(Arc::new(HwQueue {
            viommu: self.clone(),
            prev: prev.cloned(),
            id,
            index,
            iova,
            length,
        }))
    }

    /// `IOMMU_VDEVICE_ALLOC`: binds `dev` as virtual id `virt_id` (the vSID).
    pub fn alloc_vdevice(self: &Arc<Self>, dev: &Arc<Device>, virt_id: u64) -> Result<VDevice> {
        let id = self.b().vdevice_alloc(self.id(), dev.dev_id, virt_id)?;
        Ok(VDevice {
            viommu: self.clone(),
            device: dev.clone(),
            id,
            virt_id,
        })
    }

    /// `IOMMU_HWPT_ALLOC` of a nested HWPT with driver data.
    pub fn alloc_nested(
        self: &Arc<Self>,
        dev: &Device,
        data_type: u32,
        data: &[u8],
    ) -> Result<NestedHwpt> {
        let id = self
            .b()
            .hwpt_alloc_nested(dev.dev_id, self.id(), data_type, data)?;
        Ok(NestedHwpt {
            viommu: self.clone(),
            id,
        })
    }

    /// A nested HWPT from a guest STE's first two words (SMMUv3 data).
    pub fn alloc_nested_ste(self: &Arc<Self>, dev: &Device, ste: [u64; 2]) -> Result<NestedHwpt> {
        let mut data = [0u8; 16];
        data[..8].copy_from_slice(&ste[0].to_le_bytes());
        data[8..].copy_from_slice(&ste[1].to_le_bytes());
        self.alloc_nested(dev, super::uapi::HWPT_DATA_ARM_SMMUV3, &data)
    }

    /// `IOMMU_HWPT_INVALIDATE` on this vIOMMU with entries of the backend's
    /// invalidation type (for SMMUv3: 16-byte commands). Returns entries handled.
    pub fn invalidate(&self, entries: &[u8]) -> Result<u32> {
        let t = *self.b().types();
        self.b().invalidate(
            self.id(),
            t.invalidate_data_type,
            t.invalidate_entry_len,
            entries,
        )
    }

    /// `IOMMU_VEVENTQ_ALLOC` of the backend's vEVENTQ type, with its
    /// pollable descriptor where the backend has one.
    pub fn alloc_veventq(self: &Arc<Self>, depth: u32) -> Result<VEventQ> {
        let t = self.b().types().veventq_type;
        let id = self.b().veventq_alloc(self.id(), t, depth)?;
        #[cfg(unix)]
        let fd = poll_fd(self.b(), id)?;
        Ok(VEventQ {
            viommu: self.clone(),
            id,
            #[cfg(unix)]
            fd,
        })
    }
}

impl Drop for Viommu {
    fn drop(&mut self) {
        release(&self.parent.ioas.b, self.out.viommu_id, "vIOMMU");
    }
}

/// The vIOMMU's mmap'd page (VINTF page 0). Dropping its last holder (this
/// value, or a [`crate::vmm::RegionInstaller`] it was installed into through
/// [`VintfPage::shared`]) unmaps it, before the vIOMMU it keeps alive can be
/// destroyed.
pub struct VintfPage {
    mapping: Arc<PageMapping>,
}

/// The mapping and the vIOMMU it belongs to, shared by the page and the
/// regions it is installed as: however the holders drop, the munmap comes
/// before the vIOMMU's destroy.
struct PageMapping {
    // Field order matters: the mapping is dropped (munmap) before the vIOMMU.
    region: Box<dyn MappedRegion>,
    viommu: Arc<Viommu>,
}

impl MappedRegion for PageMapping {
    fn len(&self) -> usize {
        self.region.len()
    }
    fn read32(&self, offset: usize) -> Option<u32> {
        self.region.read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) -> bool {
        self.region.write32(offset, value)
    }
    fn host_ptr(&self) -> *mut u8 {
        self.region.host_ptr()
    }
}

impl VintfPage {
    /// The vIOMMU.
    pub fn viommu(&self) -> &Arc<Viommu> {
        &self.mapping.viommu
    }
    /// The mapping.
    pub fn region(&self) -> &dyn MappedRegion {
        self.mapping.region.as_ref()
    }
    /// The mapping as a shared handle, to install as guest RAM: it keeps the
    /// page mapped (and its vIOMMU alive) for as long as it is held.
    pub fn shared(&self) -> SharedRegion {
        self.mapping.clone()
    }
    /// A 32-bit load from the page.
    pub fn read32(&self, offset: usize) -> Option<u32> {
        self.mapping.read32(offset)
    }
    /// A 32-bit store to the page (on the simulator, [`super::Kick::kick`]
    /// the vIOMMU after guest writes).
    pub fn write32(&self, offset: usize, value: u32) -> bool {
        self.mapping.write32(offset, value)
    }
}

/// A HW queue (for Tegra241: a logical VCMDQ of the VINTF), pinning its guest
/// memory while it exists.
pub struct HwQueue {
    viommu: Arc<Viommu>,
    prev: Option<Arc<HwQueue>>,
    id: ObjId,
    index: u32,
    iova: u64,
    length: u64,
}

impl HwQueue {
    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }
    /// The queue index in its vIOMMU.
    pub fn index(&self) -> u32 {
        self.index
    }
    /// Guest address of the queue memory.
    pub fn iova(&self) -> u64 {
        self.iova
    }
    /// Queue memory length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }
    /// The queue below this one (index − 1).
    pub fn prev(&self) -> Option<&Arc<HwQueue>> {
        self.prev.as_ref()
    }
}

impl Drop for HwQueue {
    fn drop(&mut self) {
        // Runs before `prev` and `viommu` are released: descending order.
        release(self.viommu.b(), self.id, "HW queue");
    }
}

/// A vDEVICE: a device's virtual id (vSID) on a vIOMMU.
pub struct VDevice {
    viommu: Arc<Viommu>,
    device: Arc<Device>,
    id: ObjId,
    virt_id: u64,
}

impl VDevice {
    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }
    /// The virtual id.
    pub fn virt_id(&self) -> u64 {
        self.virt_id
    }
    /// The device.
    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }
}

impl Drop for VDevice {
    fn drop(&mut self) {
        release(self.viommu.b(), self.id, "vDEVICE");
    }
}

/// A nested (stage-1) HWPT on a vIOMMU.
pub struct NestedHwpt {
    viommu: Arc<Viommu>,
    id: ObjId,
}

impl NestedHwpt {
    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }
}

impl Drop for NestedHwpt {
    fn drop(&mut self) {
        release(self.viommu.b(), self.id, "nested HWPT");
    }
}

/// A vEVENTQ of a vIOMMU, with its pollable descriptor ([`VEventQ::fd`]).
/// Dropping it closes the descriptor, then destroys the vEVENTQ.
pub struct VEventQ {
    viommu: Arc<Viommu>,
    id: ObjId,
    #[cfg(unix)]
    fd: Option<super::PollFd>,
}

/// The descriptor of vEVENTQ `id`: `None` from a backend without
/// descriptors (`EOPNOTSUPP`); any other failure is the allocation's, and
/// the vEVENTQ is destroyed again.
#[cfg(unix)]
pub(crate) fn poll_fd(b: &Arc<dyn Backend>, id: ObjId) -> Result<Option<super::PollFd>> {
    match b.veventq_fd(id) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.errno == libc::EOPNOTSUPP => Ok(None),
        Err(e) => {
            release(b, id, "vEVENTQ");
            Err(e)
        }
    }
}

impl VEventQ {
    /// The object id.
    pub fn id(&self) -> ObjId {
        self.id
    }
    /// Reads the pending records without blocking.
    pub fn read(&self) -> Result<Vec<VEvent>> {
        self.viommu.b().veventq_read(self.id)
    }
    /// The descriptor a VMM's poll loop waits on: readable while the
    /// vEVENTQ holds records (`None` when the backend has no descriptors).
    /// It is valid for as long as this handle.
    #[cfg(unix)]
    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }
}

impl Drop for VEventQ {
    fn drop(&mut self) {
        // The descriptor first: an open vEVENTQ file keeps the object busy.
        #[cfg(unix)]
        drop(self.fd.take());
        release(self.viommu.b(), self.id, "vEVENTQ");
    }
}
