//! The values backend calls exchange: object ids, the object types a
//! backend asks for, `IOMMU_GET_HW_INFO` answers, vIOMMU driver data,
//! vEVENTs, and the memory a backend maps into this process.

use std::fmt;
use std::mem::size_of;

use iommufd_bindings::iommufd as b;

use super::uapi;

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
        veventq_record_len: size_of::<b::iommu_vevent_tegra241_cmdqv>(),
        nested_hwpt_data_type: uapi::HWPT_DATA_ARM_SMMUV3,
        invalidate_data_type: uapi::VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
        invalidate_entry_len: size_of::<b::iommu_viommu_arm_smmuv3_invalidate>() as u32,
    };

    /// The iommufd selftest mock (`drivers/iommu/iommufd/selftest.c`).
    pub const SELFTEST: ObjectTypes = ObjectTypes {
        hw_info_type: uapi::selftest::HW_INFO_TYPE_SELFTEST,
        viommu_type: uapi::selftest::VIOMMU_TYPE_SELFTEST,
        viommu_data: ViommuDataShape::Selftest,
        hw_queue_type: uapi::selftest::HW_QUEUE_TYPE_SELFTEST,
        veventq_type: uapi::selftest::VEVENTQ_TYPE_SELFTEST,
        veventq_record_len: size_of::<uapi::selftest::IommuViommuEventSelftest>(),
        nested_hwpt_data_type: uapi::selftest::HWPT_DATA_SELFTEST,
        invalidate_data_type: uapi::selftest::VIOMMU_INVALIDATE_DATA_SELFTEST,
        invalidate_entry_len: size_of::<uapi::selftest::IommuViommuInvalidateSelftest>() as u32,
    };
}

/// A vEVENTQ's pollable descriptor ([`super::Backend::veventq_fd`]):
/// readable (`POLLIN`/`EPOLLIN`) while the vEVENTQ holds records. Shared, not
/// duplicated: the backend keeps the descriptor open for as long as the
/// vEVENTQ lives and closes it when it is destroyed, so a VMM registers it
/// with its poll loop and never owns it.
#[cfg(unix)]
pub type PollFd = std::sync::Arc<dyn std::os::fd::AsFd + Send + Sync>;

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
///
/// The safe accessors are the only way this crate touches the memory: each
/// one checks the offset against the length and the alignment of the address
/// it accesses, so no call can reach outside the mapping. Sharing a mapping
/// ([`SharedRegion`]) keeps it mapped for as long as any holder needs it.
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
    /// Start of the mapping in this process, e.g. for a VMM to install it as
    /// guest RAM (a KVM memory slot). The pointer is valid for [`Self::len`]
    /// bytes while the region lives; whoever dereferences it takes on the
    /// memory's rules (the simulator's pages are `AtomicU32` words, accessed
    /// with aligned atomic 32-bit operations only).
    fn host_ptr(&self) -> *mut u8;
}

/// A mapping shared between its owner and the VMM it was installed into
/// ([`crate::vmm::RegionInstaller`]): the memory stays mapped until the last
/// holder drops it, so an installed region cannot outlive its mapping.
pub type SharedRegion = std::sync::Arc<dyn MappedRegion>;

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
