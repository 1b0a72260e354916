//! The kernel boundary of the device models.
//!
//! Two layers:
//!
//! * [`Backend`] — the raw operations, one method per iommufd call the SMMUv3/CMDQV
//!   models need, on plain object ids. Every method returns Linux's errno on
//!   failure ([`Error::errno`]). This layer can break the kernel's order rules on
//!   purpose, which conformance and differential tests need.
//! * [`handles`] — RAII handles over a `Arc<dyn Backend>`. Each kernel object is
//!   a value whose `Drop` releases it, and each handle keeps its parents alive
//!   (`Arc`), so the kernel's order rules follow from ownership: HW queues and the
//!   VINTF page mapping hold their vIOMMU (queues and munmap go before the
//!   vIOMMU's destroy), queue *n* holds queue *n−1* (descending free order), a
//!   vDEVICE holds its device.
//!
//! Implementations: [`real::IommufdBackend`] (Linux `/dev/iommu`, through the
//! rust-vmm `iommufd-ioctls` crate) and [`sim::SimBackend`] (an in-process model of
//! the kernel and the Tegra241 hardware, or of the kernel's selftest mock).
//!
//! Both are parameterized by [`ObjectTypes`]: [`ObjectTypes::TEGRA241`] for a
//! Grace host, [`ObjectTypes::SELFTEST`] for the iommufd selftest mock
//! (`CONFIG_IOMMUFD_TEST`), so the same code drives either.

use std::fmt;

pub mod handles;
#[cfg(target_os = "linux")]
pub mod real;
pub mod sim;
pub mod uapi;

pub use handles::{
    Device, HwQueue, Ioas, NestParent, NestedHwpt, VDevice, VEventQ, VintfPage, Viommu,
};

/// Which kernel call failed; part of every [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Opening `/dev/iommu` (the backend constructor).
    Open,
    /// `IOMMU_GET_HW_INFO`.
    GetHwInfo,
    /// `IOMMU_IOAS_ALLOC`.
    IoasAlloc,
    /// `IOMMU_IOAS_MAP`.
    IoasMap,
    /// `IOMMU_IOAS_UNMAP`.
    IoasUnmap,
    /// `IOMMU_HWPT_ALLOC` (nesting parent or nested).
    HwptAlloc,
    /// `IOMMU_HWPT_INVALIDATE`.
    HwptInvalidate,
    /// `IOMMU_VIOMMU_ALLOC`.
    ViommuAlloc,
    /// `IOMMU_VDEVICE_ALLOC`.
    VdeviceAlloc,
    /// `IOMMU_HW_QUEUE_ALLOC`.
    HwQueueAlloc,
    /// `IOMMU_VEVENTQ_ALLOC`.
    VeventqAlloc,
    /// `read()` on a vEVENTQ file descriptor.
    VeventqRead,
    /// `IOMMU_DESTROY`.
    Destroy,
    /// `mmap()` of an iommufd region.
    Mmap,
    /// `IOMMU_TEST_CMD` (selftest ops).
    TestCmd,
    /// The simulator's hardware kick ([`Backend::kick`]).
    Kick,
    /// `VFIO_DEVICE_BIND_IOMMUFD` on a VFIO device cdev (what gives a VMM the
    /// iommufd device id); not an iommufd call, the VMM makes it.
    VfioBind,
    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT` on a VFIO device cdev (or the
    /// simulator's [`sim::SimBackend::attach_device`]).
    VfioAttach,
    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT` on a VFIO device cdev (or the
    /// simulator's [`sim::SimBackend::detach_device`]).
    VfioDetach,
    /// The simulator's SMMUv3 event report
    /// ([`sim::SimBackend::report_smmu_event`]): the kernel's event handler
    /// refused to forward the record to user space.
    SmmuEvent,
}

impl Op {
    /// The kernel's name for the call, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open(/dev/iommu)",
            Op::GetHwInfo => "IOMMU_GET_HW_INFO",
            Op::IoasAlloc => "IOMMU_IOAS_ALLOC",
            Op::IoasMap => "IOMMU_IOAS_MAP",
            Op::IoasUnmap => "IOMMU_IOAS_UNMAP",
            Op::HwptAlloc => "IOMMU_HWPT_ALLOC",
            Op::HwptInvalidate => "IOMMU_HWPT_INVALIDATE",
            Op::ViommuAlloc => "IOMMU_VIOMMU_ALLOC",
            Op::VdeviceAlloc => "IOMMU_VDEVICE_ALLOC",
            Op::HwQueueAlloc => "IOMMU_HW_QUEUE_ALLOC",
            Op::VeventqAlloc => "IOMMU_VEVENTQ_ALLOC",
            Op::VeventqRead => "read(vEVENTQ)",
            Op::Destroy => "IOMMU_DESTROY",
            Op::Mmap => "mmap(iommufd)",
            Op::TestCmd => "IOMMU_TEST_CMD",
            Op::Kick => "kick",
            Op::VfioBind => "VFIO_DEVICE_BIND_IOMMUFD",
            Op::VfioAttach => "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            Op::VfioDetach => "VFIO_DEVICE_DETACH_IOMMUFD_PT",
            Op::SmmuEvent => "SMMU event report",
        }
    }
}

/// A failed backend call: the call and Linux's errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The call that failed.
    pub op: Op,
    /// Linux errno (positive, e.g. `libc::EINVAL`).
    pub errno: i32,
    /// For [`Op::HwptInvalidate`]: how many entries the kernel handled before failing.
    pub handled: Option<u32>,
}

impl Error {
    /// An error of `op` with `errno`.
    pub fn new(op: Op, errno: i32) -> Self {
        Error {
            op,
            errno,
            handled: None,
        }
    }

    /// Linux's errno.
    pub fn errno(&self) -> i32 {
        self.errno
    }
}

/// The symbolic name of the errnos the kernel rules use (`"EINVAL"`), or `"E?"`.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOTTY => "ENOTTY",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EACCES => "EACCES",
        _ => "E?",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} ({})",
            self.op.name(),
            errno_name(self.errno),
            std::io::Error::from_raw_os_error(self.errno)
        )?;
        if let Some(n) = self.handled {
            write!(f, " after {n} handled entries")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Result of a backend call.
pub type Result<T> = std::result::Result<T, Error>;

/// An iommufd object id (`IOMMU_DESTROY` takes it).
pub type ObjId = u32;

/// Shape of the driver data `IOMMU_VIOMMU_ALLOC` exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViommuDataShape {
    /// No driver data (plain `IOMMU_VIOMMU_TYPE_ARM_SMMUV3`).
    None,
    /// `struct iommu_viommu_tegra241_cmdqv {out_vintf_mmap_offset, out_vintf_mmap_length}`.
    Tegra241,
    /// The selftest mock's `struct iommu_viommu_selftest {in_data, out_data,
    /// out_mmap_offset, out_mmap_length}`.
    Selftest,
}

/// The object types a backend asks the kernel for. The Tegra241 set drives a Grace
/// host; the selftest set drives the kernel's mock, so a conformance program can
/// run the same calls against `CONFIG_IOMMUFD_TEST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectTypes {
    /// `IOMMU_GET_HW_INFO` type asked with `IOMMU_HW_INFO_FLAG_INPUT_TYPE`.
    pub hw_info_type: u32,
    /// `IOMMU_VIOMMU_ALLOC` type.
    pub viommu_type: u32,
    /// Driver data of that vIOMMU type.
    pub viommu_data: ViommuDataShape,
    /// `IOMMU_HW_QUEUE_ALLOC` type.
    pub hw_queue_type: u32,
    /// `IOMMU_VEVENTQ_ALLOC` type for the queue-error / test events.
    pub veventq_type: u32,
    /// Bytes of one vEVENT payload of `veventq_type` (after the 8-byte header).
    pub veventq_record_len: usize,
    /// `IOMMU_HWPT_ALLOC` data type of nested HWPTs.
    pub nested_hwpt_data_type: u32,
    /// `IOMMU_HWPT_INVALIDATE` data type on the vIOMMU.
    pub invalidate_data_type: u32,
    /// Bytes of one invalidation entry of that type.
    pub invalidate_entry_len: u32,
}

impl ObjectTypes {
    /// NVIDIA Tegra241 CMDQV on ARM SMMUv3 (Grace).
    pub const TEGRA241: ObjectTypes = ObjectTypes {
        hw_info_type: uapi::HW_INFO_TYPE_TEGRA241_CMDQV,
        viommu_type: uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
        viommu_data: ViommuDataShape::Tegra241,
        hw_queue_type: uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV,
        veventq_type: uapi::VEVENTQ_TYPE_TEGRA241_CMDQV,
        veventq_record_len: 16,
        nested_hwpt_data_type: uapi::HWPT_DATA_ARM_SMMUV3,
        invalidate_data_type: uapi::VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
        invalidate_entry_len: 16,
    };

    /// The iommufd selftest mock (`drivers/iommu/iommufd/selftest.c`).
    pub const SELFTEST: ObjectTypes = ObjectTypes {
        hw_info_type: uapi::selftest::HW_INFO_TYPE_SELFTEST,
        viommu_type: uapi::selftest::VIOMMU_TYPE_SELFTEST,
        viommu_data: ViommuDataShape::Selftest,
        hw_queue_type: uapi::selftest::HW_QUEUE_TYPE_SELFTEST,
        veventq_type: uapi::selftest::VEVENTQ_TYPE_SELFTEST,
        veventq_record_len: 4,
        nested_hwpt_data_type: uapi::selftest::HWPT_DATA_SELFTEST,
        invalidate_data_type: uapi::selftest::VIOMMU_INVALIDATE_DATA_SELFTEST,
        invalidate_entry_len: 12,
    };
}

/// Which info `IOMMU_GET_HW_INFO` should return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwInfoQuery {
    /// No input type: the IOMMU's default type (ARM SMMUv3 on Grace).
    Default,
    /// `IOMMU_HW_INFO_FLAG_INPUT_TYPE` with this type (e.g. Tegra241 CMDQV).
    Type(u32),
}

/// The answer of `IOMMU_GET_HW_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwInfo {
    /// `out_data_type`.
    pub data_type: u32,
    /// The type-specific data (as long as the kernel's `data_len`, at most 64 bytes).
    pub data: Vec<u8>,
    /// `out_capabilities`.
    pub capabilities: u64,
    /// `out_max_pasid_log2`.
    pub max_pasid_log2: u8,
}

/// Decoded `struct iommu_hw_info_arm_smmuv3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Smmuv3Info {
    /// IDR0..IDR5.
    pub idr: [u32; 6],
    /// IIDR.
    pub iidr: u32,
    /// AIDR.
    pub aidr: u32,
}

/// Decoded `struct iommu_hw_info_tegra241_cmdqv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tegra241Info {
    /// CMDQV version (PARAM bits 3:0).
    pub version: u8,
    /// log2 of VCMDQs per VINTF.
    pub log2vcmdqs: u8,
    /// log2 of SID replacement slots per VINTF.
    pub log2vsids: u8,
}

fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl HwInfo {
    /// The SMMUv3 info, if this answer is of that type and long enough.
    pub fn smmuv3(&self) -> Option<Smmuv3Info> {
        if self.data_type != uapi::HW_INFO_TYPE_ARM_SMMUV3 {
            return None;
        }
        let mut idr = [0u32; 6];
        for (i, v) in idr.iter_mut().enumerate() {
            *v = le_u32(&self.data, 8 + 4 * i)?;
        }
        Some(Smmuv3Info {
            idr,
            iidr: le_u32(&self.data, 32)?,
            aidr: le_u32(&self.data, 36)?,
        })
    }

    /// The Tegra241 CMDQV info, if this answer is of that type and long enough.
    pub fn tegra241(&self) -> Option<Tegra241Info> {
        if self.data_type != uapi::HW_INFO_TYPE_TEGRA241_CMDQV || self.data.len() < 8 {
            return None;
        }
        Some(Tegra241Info {
            version: self.data[4],
            log2vcmdqs: self.data[5],
            log2vsids: self.data[6],
        })
    }

    /// The selftest mock's `test_reg`, if this answer is of the selftest type.
    pub fn selftest_reg(&self) -> Option<u32> {
        if self.data_type != uapi::selftest::HW_INFO_TYPE_SELFTEST {
            return None;
        }
        le_u32(&self.data, 4)
    }
}

/// Driver data handed to `IOMMU_VIOMMU_ALLOC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViommuDataIn {
    /// No data (`data_len = 0`).
    None,
    /// `struct iommu_viommu_tegra241_cmdqv` (outputs only).
    Tegra241,
    /// `struct iommu_viommu_selftest` with this `in_data`.
    Selftest {
        /// Echoed by the mock in `out_data` and in the first word of its mmap page.
        in_data: u32,
    },
}

impl ViommuDataIn {
    /// The natural input for a data shape (`in_data` for the selftest one).
    pub fn for_shape(shape: ViommuDataShape, in_data: u32) -> Self {
        match shape {
            ViommuDataShape::None => ViommuDataIn::None,
            ViommuDataShape::Tegra241 => ViommuDataIn::Tegra241,
            ViommuDataShape::Selftest => ViommuDataIn::Selftest { in_data },
        }
    }
}

/// Outputs of `IOMMU_VIOMMU_ALLOC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViommuDataOut {
    /// The new vIOMMU's id.
    pub viommu_id: ObjId,
    /// mmap offset of the region the driver exposes (VINTF page 0), if any.
    pub mmap_offset: u64,
    /// mmap length of that region (0: none).
    pub mmap_length: u64,
    /// Selftest only: `out_data`.
    pub out_data: Option<u32>,
}

/// Outputs of the selftest `IOMMU_TEST_OP_MOCK_DOMAIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockDomain {
    /// The selftest device object (destroy it to unplug the device).
    pub stdev_id: ObjId,
    /// The paging HWPT the device got attached to.
    pub hwpt_id: ObjId,
    /// The iommufd device id (`dev_id` of other calls).
    pub idev_id: ObjId,
}

/// One record read from a vEVENTQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VEvent {
    /// Header flags (`IOMMU_VEVENTQ_FLAG_LOST_EVENTS` = 1).
    pub flags: u32,
    /// Header sequence number.
    pub sequence: u32,
    /// Payload (empty for a lost-events header).
    pub data: Vec<u8>,
}

impl VEvent {
    /// Whether this is the lost-events marker.
    pub fn is_lost_marker(&self) -> bool {
        self.flags & uapi::VEVENTQ_FLAG_LOST_EVENTS != 0
    }

    /// For a Tegra241 CMDQV record: the 128-bit LVCMDQ error map.
    pub fn lvcmdq_err_map(&self) -> Option<u128> {
        let b: [u8; 16] = self.data.get(..16)?.try_into().ok()?;
        Some(u128::from_le_bytes(b))
    }
}

/// Memory a backend mapped into this process (the VINTF page 0, or the mock's
/// pages). Dropping it unmaps it (`munmap`).
pub trait MappedRegion: Send + Sync {
    /// Length in bytes.
    fn len(&self) -> usize;
    /// Whether the length is zero (never, for a successful mmap).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A 32-bit load at a 4-byte aligned offset (`None` when out of range or unaligned).
    fn read32(&self, offset: usize) -> Option<u32>;
    /// A 32-bit store at a 4-byte aligned offset (`false` when out of range or unaligned).
    fn write32(&self, offset: usize, value: u32) -> bool;
    /// Start of the mapping in this process, e.g. to install it as guest RAM.
    fn host_ptr(&self) -> *mut u8;
}

impl fmt::Debug for dyn MappedRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MappedRegion({:p}, {} bytes)",
            self.host_ptr(),
            self.len()
        )
    }
}

/// The raw iommufd operations. See the module documentation; prefer the RAII
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

    /// `IOMMU_DESTROY`.
    fn destroy(&self, id: ObjId) -> Result<()>;

    /// `mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, iommufd, offset)`;
    /// never executable. The mapping is unmapped when the returned value drops.
    fn mmap(&self, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>>;

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

    /// Lets hardware act on what the guest wrote into a mapped page. Real hardware
    /// runs by itself, so the real backend does nothing; the simulator cannot trap
    /// stores to the mapped memory, so the device model calls this after guest
    /// writes to the VINTF page (PROD, CONFIG, GERRORN), and the simulated VCMDQs
    /// of `viommu` then run.
    fn kick(&self, viommu: ObjId) -> Result<()> {
        let _ = viommu;
        Ok(())
    }
}
