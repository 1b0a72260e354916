//! The iommufd uAPI as the raw adapter passes it. Every number and
//! structure `include/uapi/linux/iommufd.h` defines comes from
//! `iommufd-bindings` (the same crate `vdev::backend::uapi` re-exports), so
//! nothing of the header is typed twice. The selftest interface
//! (`iommufd_test.h`) is not uAPI and so not in the bindings: it comes from
//! `vdev::backend::uapi::selftest`, whose items each say so. Written here
//! is only the `_IO` encoding the ioctl numbers need (Linux's ioctl
//! encoding, not a value of either header).

use iommufd_bindings::iommufd as b;
use vdev::backend::uapi::selftest;

pub(super) use b::{
    iommu_destroy as Destroy, iommu_hw_info as HwInfoCmd,
    iommu_hw_info__bindgen_ty_1 as HwInfoType, iommu_hw_queue_alloc as HwQueueAlloc,
    iommu_hwpt_alloc as HwptAlloc, iommu_hwpt_invalidate as HwptInvalidate,
    iommu_ioas_alloc as IoasAlloc, iommu_ioas_map as IoasMap, iommu_ioas_unmap as IoasUnmap,
    iommu_vdevice_alloc as VdeviceAlloc, iommu_veventq_alloc as VeventqAlloc,
    iommu_viommu_alloc as ViommuAlloc, iommufd_vevent_header as VeventHeader,
};
pub(super) use b::{
    iommu_veventq_flag_IOMMU_VEVENTQ_FLAG_LOST_EVENTS as VEVENTQ_FLAG_LOST_EVENTS,
    iommufd_hw_info_flags_IOMMU_HW_INFO_FLAG_INPUT_TYPE as HW_INFO_FLAG_INPUT_TYPE,
    iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_NEST_PARENT as HWPT_ALLOC_NEST_PARENT,
    iommufd_ioas_map_flags_IOMMU_IOAS_MAP_FIXED_IOVA as IOAS_MAP_FIXED_IOVA,
    iommufd_ioas_map_flags_IOMMU_IOAS_MAP_READABLE as IOAS_MAP_READABLE,
    iommufd_ioas_map_flags_IOMMU_IOAS_MAP_WRITEABLE as IOAS_MAP_WRITEABLE,
};
// Selftest interface: not in iommufd-bindings (see vdev's `selftest`).
pub(super) use selftest::{
    IommuTestCmd as TestCmd, IommuTestHwInfo as TestHwInfo,
    IommuViommuEventSelftest as SelftestVevent, IommuViommuSelftest as ViommuSelftest,
    OP_MOCK_DOMAIN as TEST_OP_MOCK_DOMAIN, OP_MOCK_DOMAIN_REPLACE as TEST_OP_MOCK_DOMAIN_REPLACE,
    OP_TRIGGER_VEVENT as TEST_OP_TRIGGER_VEVENT,
};

/// `_IO(IOMMUFD_TYPE, nr)`: iommufd ioctls carry no size or direction bits,
/// so the number is the type in bits 15:8 and `nr` in bits 7:0 (Linux's
/// ioctl encoding; both values from the bindings).
const fn iommufd_ioctl(nr: u32) -> libc::c_ulong {
    ((b::IOMMUFD_TYPE as u32) << 8 | nr) as libc::c_ulong
}

pub(super) const IOMMU_DESTROY: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_DESTROY);
pub(super) const IOMMU_IOAS_ALLOC: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_IOAS_ALLOC);
pub(super) const IOMMU_IOAS_MAP: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_IOAS_MAP);
pub(super) const IOMMU_IOAS_UNMAP: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_IOAS_UNMAP);
pub(super) const IOMMU_HWPT_ALLOC: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_HWPT_ALLOC);
pub(super) const IOMMU_GET_HW_INFO: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_GET_HW_INFO);
pub(super) const IOMMU_HWPT_INVALIDATE: libc::c_ulong =
    iommufd_ioctl(b::IOMMUFD_CMD_HWPT_INVALIDATE);
pub(super) const IOMMU_VIOMMU_ALLOC: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_VIOMMU_ALLOC);
pub(super) const IOMMU_VDEVICE_ALLOC: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_VDEVICE_ALLOC);
pub(super) const IOMMU_VEVENTQ_ALLOC: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_VEVENTQ_ALLOC);
pub(super) const IOMMU_HW_QUEUE_ALLOC: libc::c_ulong = iommufd_ioctl(b::IOMMUFD_CMD_HW_QUEUE_ALLOC);
/// Selftest interface, not in iommufd-bindings: its nr is vdev's
/// `selftest::TEST_CMD_NR` (the bindings' base plus `iommufd_test.h`'s 32).
pub(super) const IOMMU_TEST_CMD: libc::c_ulong = iommufd_ioctl(selftest::TEST_CMD_NR);

/// Size of `struct iommufd_vevent_header`, which precedes every vEVENT.
pub(super) const VEVENT_HDR: usize = std::mem::size_of::<VeventHeader>();
/// Payload bytes of one selftest vEVENT (`virt_id`; selftest interface).
pub(super) const SELFTEST_VEVENT_LEN: usize = std::mem::size_of::<SelftestVevent>();

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Independent of the bindings: the numbers and sizes as Linux builds
    // them, so a wrong binding or a wrong encoding fails here.
    #[test]
    fn ioctl_numbers() {
        assert_eq!(IOMMU_DESTROY, 0x3b80);
        assert_eq!(IOMMU_IOAS_ALLOC, 0x3b81);
        assert_eq!(IOMMU_IOAS_MAP, 0x3b85);
        assert_eq!(IOMMU_IOAS_UNMAP, 0x3b86);
        assert_eq!(IOMMU_HWPT_ALLOC, 0x3b89);
        assert_eq!(IOMMU_GET_HW_INFO, 0x3b8a);
        assert_eq!(IOMMU_HWPT_INVALIDATE, 0x3b8d);
        assert_eq!(IOMMU_VIOMMU_ALLOC, 0x3b90);
        assert_eq!(IOMMU_VDEVICE_ALLOC, 0x3b91);
        assert_eq!(IOMMU_VEVENTQ_ALLOC, 0x3b93);
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
        assert_eq!(offset_of!(HwInfoCmd, __bindgen_anon_1), 24);
        assert_eq!(size_of::<HwptInvalidate>(), 32);
        assert_eq!(size_of::<ViommuAlloc>(), 40);
        assert_eq!(size_of::<ViommuSelftest>(), 24);
        assert_eq!(size_of::<VdeviceAlloc>(), 24);
        assert_eq!(size_of::<VeventqAlloc>(), 32);
        assert_eq!(size_of::<HwQueueAlloc>(), 40);
        // 16-byte head, 48-byte union, `last`, padded to 8.
        assert_eq!(size_of::<TestCmd>(), 72);
        assert_eq!(offset_of!(TestCmd, last), 64);
        assert_eq!(size_of::<TestHwInfo>(), 8);
        assert_eq!(VEVENT_HDR, 8);
        assert_eq!(SELFTEST_VEVENT_LEN, 4);
        assert_eq!(
            (IOAS_MAP_FIXED_IOVA, IOAS_MAP_WRITEABLE, IOAS_MAP_READABLE),
            (1, 2, 4)
        );
        assert_eq!((HWPT_ALLOC_NEST_PARENT, HW_INFO_FLAG_INPUT_TYPE), (1, 1));
        assert_eq!(VEVENTQ_FLAG_LOST_EVENTS, 1);
    }
}
