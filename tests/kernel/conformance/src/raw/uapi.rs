//! The iommufd uAPI as the raw adapter passes it: ioctl numbers and the
//! request structures, typed here from `include/uapi/linux/iommufd.h` and
//! the selftests' `iommufd_test.h` (facts only), layout-tested.

/// `_IO(';', 0x80 + nr)`: iommufd ioctls carry no size or direction bits.
pub(super) const fn iommufd_ioctl(nr: u32) -> libc::c_ulong {
    ((b';' as u32) << 8 | (0x80 + nr)) as libc::c_ulong
}

pub(super) const IOMMU_DESTROY: libc::c_ulong = iommufd_ioctl(0);
pub(super) const IOMMU_IOAS_ALLOC: libc::c_ulong = iommufd_ioctl(1);
pub(super) const IOMMU_IOAS_MAP: libc::c_ulong = iommufd_ioctl(5);
pub(super) const IOMMU_IOAS_UNMAP: libc::c_ulong = iommufd_ioctl(6);
pub(super) const IOMMU_HWPT_ALLOC: libc::c_ulong = iommufd_ioctl(9);
pub(super) const IOMMU_GET_HW_INFO: libc::c_ulong = iommufd_ioctl(0xa);
pub(super) const IOMMU_HWPT_INVALIDATE: libc::c_ulong = iommufd_ioctl(0xd);
pub(super) const IOMMU_VIOMMU_ALLOC: libc::c_ulong = iommufd_ioctl(0x10);
pub(super) const IOMMU_VDEVICE_ALLOC: libc::c_ulong = iommufd_ioctl(0x11);
pub(super) const IOMMU_VEVENTQ_ALLOC: libc::c_ulong = iommufd_ioctl(0x13);
pub(super) const IOMMU_HW_QUEUE_ALLOC: libc::c_ulong = iommufd_ioctl(0x14);
pub(super) const IOMMU_TEST_CMD: libc::c_ulong = iommufd_ioctl(32);

pub(super) const TEST_OP_MOCK_DOMAIN: u32 = 2;
pub(super) const TEST_OP_MOCK_DOMAIN_REPLACE: u32 = 10;
pub(super) const TEST_OP_TRIGGER_VEVENT: u32 = 17;

pub(super) const IOAS_MAP_FIXED_IOVA: u32 = 1;
pub(super) const HWPT_ALLOC_NEST_PARENT: u32 = 1;
pub(super) const HW_INFO_FLAG_INPUT_TYPE: u32 = 1;
/// Size of `struct iommufd_vevent_header`.
pub(super) const VEVENT_HDR: usize = 8;
/// Payload bytes of one selftest vEVENT (`virt_id`).
pub(super) const SELFTEST_VEVENT_LEN: usize = 4;
pub(super) const IOAS_MAP_WRITEABLE: u32 = 2;
pub(super) const IOAS_MAP_READABLE: u32 = 4;

#[repr(C)]
#[derive(Default)]
pub(super) struct Destroy {
    pub(super) size: u32,
    pub(super) id: u32,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct IoasAlloc {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) out_ioas_id: u32,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct IoasMap {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) ioas_id: u32,
    pub(super) reserved: u32,
    pub(super) user_va: u64,
    pub(super) length: u64,
    pub(super) iova: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct IoasUnmap {
    pub(super) size: u32,
    pub(super) ioas_id: u32,
    pub(super) iova: u64,
    pub(super) length: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct HwptAlloc {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) dev_id: u32,
    pub(super) pt_id: u32,
    pub(super) out_hwpt_id: u32,
    pub(super) reserved: u32,
    pub(super) data_type: u32,
    pub(super) data_len: u32,
    pub(super) data_uptr: u64,
    pub(super) fault_id: u32,
    pub(super) reserved2: u32,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct HwInfoCmd {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) dev_id: u32,
    pub(super) data_len: u32,
    pub(super) data_uptr: u64,
    pub(super) data_type: u32,
    pub(super) out_max_pasid_log2: u8,
    pub(super) reserved: [u8; 3],
    pub(super) out_capabilities: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct HwptInvalidate {
    pub(super) size: u32,
    pub(super) hwpt_id: u32,
    pub(super) data_uptr: u64,
    pub(super) data_type: u32,
    pub(super) entry_len: u32,
    pub(super) entry_num: u32,
    pub(super) reserved: u32,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct ViommuAlloc {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) viommu_type: u32,
    pub(super) dev_id: u32,
    pub(super) hwpt_id: u32,
    pub(super) out_viommu_id: u32,
    pub(super) data_len: u32,
    pub(super) reserved: u32,
    pub(super) data_uptr: u64,
}

/// `struct iommu_viommu_selftest`.
#[repr(C)]
#[derive(Default)]
pub(super) struct ViommuSelftest {
    pub(super) in_data: u32,
    pub(super) out_data: u32,
    pub(super) out_mmap_offset: u64,
    pub(super) out_mmap_length: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct VdeviceAlloc {
    pub(super) size: u32,
    pub(super) viommu_id: u32,
    pub(super) dev_id: u32,
    pub(super) out_vdevice_id: u32,
    pub(super) virt_id: u64,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct VeventqAlloc {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) viommu_id: u32,
    pub(super) veventq_type: u32,
    pub(super) veventq_depth: u32,
    pub(super) out_veventq_id: u32,
    pub(super) out_veventq_fd: u32,
    pub(super) reserved: u32,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct HwQueueAlloc {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) viommu_id: u32,
    pub(super) queue_type: u32,
    pub(super) index: u32,
    pub(super) out_hw_queue_id: u32,
    pub(super) nesting_parent_iova: u64,
    pub(super) length: u64,
}

/// `struct iommu_test_cmd` with the union as twelve words (its largest
/// member is 48 bytes) followed by `last`.
#[repr(C, align(8))]
#[derive(Default)]
pub(super) struct TestCmd {
    pub(super) size: u32,
    pub(super) op: u32,
    pub(super) id: u32,
    pub(super) reserved: u32,
    pub(super) payload: [u32; 12],
    pub(super) last: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn ioctl_numbers() {
        assert_eq!(IOMMU_DESTROY, 0x3b80);
        assert_eq!(IOMMU_IOAS_ALLOC, 0x3b81);
        assert_eq!(IOMMU_HWPT_INVALIDATE, 0x3b8d);
        assert_eq!(IOMMU_VIOMMU_ALLOC, 0x3b90);
        assert_eq!(IOMMU_HW_QUEUE_ALLOC, 0x3b94);
        assert_eq!(IOMMU_TEST_CMD, 0x3ba0);
    }

    #[test]
    fn uapi_layouts() {
        assert_eq!(size_of::<IoasMap>(), 40);
        assert_eq!(size_of::<IoasUnmap>(), 24);
        assert_eq!(size_of::<HwptAlloc>(), 48);
        assert_eq!(offset_of!(HwptAlloc, data_uptr), 32);
        assert_eq!(size_of::<HwInfoCmd>(), 40);
        assert_eq!(offset_of!(HwInfoCmd, data_type), 24);
        assert_eq!(size_of::<HwptInvalidate>(), 32);
        assert_eq!(size_of::<ViommuAlloc>(), 40);
        assert_eq!(size_of::<ViommuSelftest>(), 24);
        assert_eq!(size_of::<VdeviceAlloc>(), 24);
        assert_eq!(size_of::<VeventqAlloc>(), 32);
        assert_eq!(size_of::<HwQueueAlloc>(), 40);
        // 16-byte head, 48-byte union, `last`, padded to 8.
        assert_eq!(size_of::<TestCmd>(), 72);
        assert_eq!(offset_of!(TestCmd, last), 64);
    }
}
