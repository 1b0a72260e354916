//! iommufd uAPI values the backends and the simulator use, and the small
//! bindings the rust-vmm `iommufd-bindings` crate lacks.
//!
//! Every value `include/uapi/linux/iommufd.h` defines comes from
//! `iommufd-bindings` (re-exported below under short names, so the simulator
//! and the device models read like the header). Hand-written here, each with
//! the reason, are only what that crate does not have: the kernel-internal
//! bound [`VEVENTQ_MAX_DEPTH`] and the iommufd selftest interface
//! ([`selftest`], from `drivers/iommu/iommufd/iommufd_test.h`, which is not a
//! uAPI header and so is not in the bindings). The unit tests check every
//! structure defined here by `size_of`/`offset_of` against the kernel's
//! layout.

use iommufd_bindings::iommufd as b;

#[doc(inline)]
pub use b::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_ARM_SMMUV3 as HW_INFO_TYPE_ARM_SMMUV3;
#[doc(inline)]
pub use b::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV as HW_INFO_TYPE_TEGRA241_CMDQV;
#[doc(inline)]
pub use b::iommu_hw_queue_type_IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV as HW_QUEUE_TYPE_TEGRA241_CMDQV;
#[doc(inline)]
pub use b::iommu_hwpt_data_type_IOMMU_HWPT_DATA_ARM_SMMUV3 as HWPT_DATA_ARM_SMMUV3;
#[doc(inline)]
pub use b::iommu_hwpt_invalidate_data_type_IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 as VIOMMU_INVALIDATE_DATA_ARM_SMMUV3;
#[doc(inline)]
pub use b::iommu_veventq_flag_IOMMU_VEVENTQ_FLAG_LOST_EVENTS as VEVENTQ_FLAG_LOST_EVENTS;
#[doc(inline)]
pub use b::iommu_veventq_type_IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 as VEVENTQ_TYPE_ARM_SMMUV3;
#[doc(inline)]
pub use b::iommu_veventq_type_IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV as VEVENTQ_TYPE_TEGRA241_CMDQV;
#[doc(inline)]
pub use b::iommu_viommu_type_IOMMU_VIOMMU_TYPE_ARM_SMMUV3 as VIOMMU_TYPE_ARM_SMMUV3;
#[doc(inline)]
pub use b::iommu_viommu_type_IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV as VIOMMU_TYPE_TEGRA241_CMDQV;
#[doc(inline)]
pub use b::iommufd_hw_info_flags_IOMMU_HW_INFO_FLAG_INPUT_TYPE as HW_INFO_FLAG_INPUT_TYPE;
#[doc(inline)]
pub use b::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_NEST_PARENT as HWPT_ALLOC_NEST_PARENT;
#[doc(inline)]
pub use b::IOMMUFD_TYPE;

/// `IOMMU_VEVENTQ_MAX_DEPTH`, the core's bound on `veventq_depth`. Not in
/// `iommufd-bindings`: the kernel defines it outside the uAPI header
/// (`iommufd_private.h`), user space only meets it as `EINVAL`.
pub const VEVENTQ_MAX_DEPTH: u32 = 1 << 19;

/// `_IO(type, nr)` as Linux encodes it (direction none, size 0): `type << 8 | nr`.
/// Written out for the tests only, so they check the numbers the real
/// backend takes from `iommufd-ioctls` and `vmm-sys-util` against an
/// independent computation.
#[cfg(test)]
pub(crate) const fn io_nr(ty: u8, nr: u32) -> u64 {
    // _IOC_NRSHIFT = 0, _IOC_TYPESHIFT = 8, size and direction are zero for _IO.
    ((ty as u64) << 8) | (nr as u64 & 0xff)
}

/// Payload bytes of one vEVENT of `veventq_type`, for the types this crate
/// knows (the sizes of the header's per-type records, and of the selftest's).
pub fn vevent_record_len(veventq_type: u32) -> Option<usize> {
    match veventq_type {
        VEVENTQ_TYPE_ARM_SMMUV3 => Some(core::mem::size_of::<b::iommu_vevent_arm_smmuv3>()),
        VEVENTQ_TYPE_TEGRA241_CMDQV => Some(core::mem::size_of::<b::iommu_vevent_tegra241_cmdqv>()),
        selftest::VEVENTQ_TYPE_SELFTEST => {
            Some(core::mem::size_of::<selftest::IommuViommuEventSelftest>())
        }
        _ => None,
    }
}

/// The iommufd selftest mock (`CONFIG_IOMMUFD_TEST`): its object types, its
/// structures and the `IOMMU_TEST_CMD` ioctl. None of it is in
/// `iommufd-bindings`: `iommufd_test.h` is a kernel-internal header the
/// selftests include, not uAPI, so the bindings are generated without it.
pub mod selftest {
    /// `IOMMUFD_CMD_BASE + 32`, the test command's ioctl nr (the base from
    /// `iommufd-bindings`, the offset from `iommufd_test.h`).
    pub const TEST_CMD_NR: u32 = iommufd_bindings::iommufd::IOMMUFD_CMD_BASE + 32;
    /// `IOMMU_TEST_OP_MOCK_DOMAIN` (the second value of the op enum, which starts at 1).
    pub const OP_MOCK_DOMAIN: u32 = 2;
    /// `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE`.
    pub const OP_MOCK_DOMAIN_REPLACE: u32 = 10;
    /// `IOMMU_TEST_OP_TRIGGER_VEVENT`.
    pub const OP_TRIGGER_VEVENT: u32 = 17;
    /// `IOMMU_HW_INFO_TYPE_SELFTEST`.
    pub const HW_INFO_TYPE_SELFTEST: u32 = 0xfeed_beef;
    /// `IOMMU_HW_INFO_SELFTEST_REGVAL`, the mock's `test_reg`.
    pub const HW_INFO_SELFTEST_REGVAL: u32 = 0xdead_beef;
    /// `IOMMU_VIOMMU_TYPE_SELFTEST`.
    pub const VIOMMU_TYPE_SELFTEST: u32 = 0xdead_beef;
    /// `IOMMU_HW_QUEUE_TYPE_SELFTEST`.
    pub const HW_QUEUE_TYPE_SELFTEST: u32 = 0xdead_beef;
    /// `IOMMU_TEST_HW_QUEUE_MAX`.
    pub const HW_QUEUE_MAX: u32 = 2;
    /// `IOMMU_VEVENTQ_TYPE_SELFTEST`.
    pub const VEVENTQ_TYPE_SELFTEST: u32 = 0xbeef_beef;
    /// `IOMMU_HWPT_DATA_SELFTEST`.
    pub const HWPT_DATA_SELFTEST: u32 = 0xdead;
    /// `IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST`.
    pub const VIOMMU_INVALIDATE_DATA_SELFTEST: u32 = 0xdead_beef;
    /// `IOMMU_HWPT_INVALIDATE_DATA_SELFTEST` (nested HWPT invalidation type).
    pub const HWPT_INVALIDATE_DATA_SELFTEST: u32 = 0xdead_beef;
    /// `MOCK_NESTED_DOMAIN_IOTLB_ID_MAX`.
    pub const NESTED_IOTLB_ID_MAX: u32 = 3;
    /// `IOMMU_TEST_INVALIDATE_FLAG_ALL`.
    pub const INVALIDATE_FLAG_ALL: u32 = 1;
    /// `MOCK_DEV_CACHE_ID_MAX`.
    pub const DEV_CACHE_ID_MAX: u32 = 3;
    /// The mock's mmap region, in pages (`PAGE_SIZE * 2`).
    pub const MMAP_PAGES: u64 = 2;

    /// `struct iommu_test_cmd`: a 16-byte header, a union whose largest member is
    /// 48 bytes (8-byte aligned), and `last`.
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct IommuTestCmd {
        /// `sizeof(struct iommu_test_cmd)`.
        pub size: u32,
        /// `IOMMU_TEST_OP_*`.
        pub op: u32,
        /// Object id the op works on (the IOAS for `MOCK_DOMAIN`).
        pub id: u32,
        /// Must be 0.
        pub reserved: u32,
        /// The op-specific union, as raw 64-bit words.
        pub payload: [u64; 6],
        /// Marks the end of the structure for the kernel's minimum-size check.
        pub last: u32,
        /// Tail padding of the C structure.
        pub pad: u32,
    }

    impl IommuTestCmd {
        /// A command of `op` on object `id`, all else zero.
        pub fn new(op: u32, id: u32) -> Self {
            IommuTestCmd {
                size: core::mem::size_of::<Self>() as u32,
                op,
                id,
                ..Default::default()
            }
        }

        /// The i-th 32-bit word of the union (little-endian halves of `payload`).
        pub fn payload_u32(&self, i: usize) -> u32 {
            let w = self.payload[i / 2];
            if i.is_multiple_of(2) {
                w as u32
            } else {
                (w >> 32) as u32
            }
        }

        /// Sets the i-th 32-bit word of the union.
        pub fn set_payload_u32(&mut self, i: usize, v: u32) {
            let w = &mut self.payload[i / 2];
            if i.is_multiple_of(2) {
                *w = (*w & !0xffff_ffff) | v as u64;
            } else {
                *w = (*w & 0xffff_ffff) | ((v as u64) << 32);
            }
        }
    }

    /// `struct iommu_viommu_selftest`.
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct IommuViommuSelftest {
        /// Input word echoed by the mock.
        pub in_data: u32,
        /// `in_data`, echoed.
        pub out_data: u32,
        /// mmap offset of the mock's region.
        pub out_mmap_offset: u64,
        /// mmap length of the mock's region (two pages).
        pub out_mmap_length: u64,
    }

    /// `struct iommu_test_hw_info`.
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct IommuTestHwInfo {
        /// Flags (0).
        pub flags: u32,
        /// [`HW_INFO_SELFTEST_REGVAL`].
        pub test_reg: u32,
    }

    /// `struct iommu_hwpt_selftest` (nested HWPT data).
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct IommuHwptSelftest {
        /// Default IOTLB value.
        pub iotlb: u32,
    }

    /// `struct iommu_viommu_invalidate_selftest` (vIOMMU invalidation entry).
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct IommuViommuInvalidateSelftest {
        /// [`INVALIDATE_FLAG_ALL`] or 0.
        pub flags: u32,
        /// Virtual device id whose cache to invalidate.
        pub vdev_id: u32,
        /// Cache entry (at most [`DEV_CACHE_ID_MAX`]).
        pub cache_id: u32,
    }

    /// `struct iommu_viommu_event_selftest` (vEVENT payload).
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct IommuViommuEventSelftest {
        /// Virtual id of the device the event is for.
        pub virt_id: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::selftest::*;
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn io_nr_matches_linux_encoding() {
        // IOMMU_DESTROY is _IO(';', 0x80) = 0x3b80 in every Linux build.
        assert_eq!(io_nr(IOMMUFD_TYPE, 0x80), 0x3b80);
        assert_eq!(io_nr(IOMMUFD_TYPE, TEST_CMD_NR), 0x3ba0);
    }

    #[test]
    fn selftest_layouts_match_iommufd_test_h() {
        assert_eq!(size_of::<IommuTestCmd>(), 72);
        assert_eq!(offset_of!(IommuTestCmd, size), 0);
        assert_eq!(offset_of!(IommuTestCmd, op), 4);
        assert_eq!(offset_of!(IommuTestCmd, id), 8);
        assert_eq!(offset_of!(IommuTestCmd, reserved), 12);
        assert_eq!(offset_of!(IommuTestCmd, payload), 16);
        assert_eq!(offset_of!(IommuTestCmd, last), 64);
        assert_eq!(core::mem::align_of::<IommuTestCmd>(), 8);

        assert_eq!(size_of::<IommuViommuSelftest>(), 24);
        assert_eq!(offset_of!(IommuViommuSelftest, out_data), 4);
        assert_eq!(offset_of!(IommuViommuSelftest, out_mmap_offset), 8);
        assert_eq!(offset_of!(IommuViommuSelftest, out_mmap_length), 16);
        assert_eq!(size_of::<IommuTestHwInfo>(), 8);
        assert_eq!(offset_of!(IommuTestHwInfo, test_reg), 4);
        assert_eq!(size_of::<IommuHwptSelftest>(), 4);
        assert_eq!(size_of::<IommuViommuInvalidateSelftest>(), 12);
        assert_eq!(offset_of!(IommuViommuInvalidateSelftest, cache_id), 8);
        assert_eq!(size_of::<IommuViommuEventSelftest>(), 4);
    }

    #[test]
    fn test_cmd_payload_words_are_union_offsets() {
        // mock_domain {out_stdev_id, out_hwpt_id, out_idev_id} sit at union bytes 0, 4, 8.
        let mut c = IommuTestCmd::new(OP_MOCK_DOMAIN, 7);
        c.set_payload_u32(0, 0x11);
        c.set_payload_u32(1, 0x22);
        c.set_payload_u32(2, 0x33);
        // SAFETY: IommuTestCmd is repr(C) plain data; viewing it as bytes is sound.
        let bytes: &[u8] = unsafe {
            core::slice::from_raw_parts(&c as *const _ as *const u8, size_of::<IommuTestCmd>())
        };
        assert_eq!(&bytes[16..20], &0x11u32.to_ne_bytes());
        assert_eq!(&bytes[20..24], &0x22u32.to_ne_bytes());
        assert_eq!(&bytes[24..28], &0x33u32.to_ne_bytes());
        assert_eq!(c.payload_u32(1), 0x22);
        assert_eq!(&bytes[0..4], &72u32.to_ne_bytes());
        assert_eq!(&bytes[4..8], &2u32.to_ne_bytes());
    }

    #[test]
    fn record_lengths() {
        // iommu_vevent_arm_smmuv3 is four u64 (an SMMUv3 event record),
        // iommu_vevent_tegra241_cmdqv two (the LVCMDQ error map).
        assert_eq!(vevent_record_len(VEVENTQ_TYPE_ARM_SMMUV3), Some(32));
        assert_eq!(vevent_record_len(VEVENTQ_TYPE_TEGRA241_CMDQV), Some(16));
        assert_eq!(vevent_record_len(VEVENTQ_TYPE_SELFTEST), Some(4));
        assert_eq!(vevent_record_len(0), None);
    }
}
