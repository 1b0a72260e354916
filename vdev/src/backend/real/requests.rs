//! The request structures of every iommufd call the real backend makes,
//! built from plain arguments so unit tests check what would reach the
//! kernel (sizes, field offsets, flags) without a `/dev/iommu`; and the
//! parser of what a vEVENTQ read returns.

use iommufd_bindings::iommufd as b;

use super::super::uapi;
use super::super::{HwInfoQuery, ObjId, VEvent};

/// The `IOMMU_GET_HW_INFO` request for `dev_id`, writing into `buf`.
pub fn hw_info_request(dev_id: ObjId, query: HwInfoQuery, buf: &mut [u8]) -> b::iommu_hw_info {
    let mut req = b::iommu_hw_info {
        size: std::mem::size_of::<b::iommu_hw_info>() as u32,
        dev_id,
        data_len: buf.len() as u32,
        data_uptr: buf.as_mut_ptr() as u64,
        ..Default::default()
    };
    if let HwInfoQuery::Type(t) = query {
        req.flags = uapi::HW_INFO_FLAG_INPUT_TYPE;
        req.__bindgen_anon_1.in_data_type = t;
    }
    req
}

/// The `IOMMU_IOAS_MAP` request: fixed IOVA, readable and writeable.
pub fn ioas_map_request(ioas: ObjId, iova: u64, length: u64, user_va: u64) -> b::iommu_ioas_map {
    b::iommu_ioas_map {
        size: std::mem::size_of::<b::iommu_ioas_map>() as u32,
        flags: b::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_FIXED_IOVA
            | b::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_READABLE
            | b::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_WRITEABLE,
        ioas_id: ioas,
        __reserved: 0,
        user_va,
        length,
        iova,
    }
}

/// The `IOMMU_HWPT_ALLOC` request of a nesting parent on an IOAS.
pub fn nest_parent_request(dev_id: ObjId, ioas: ObjId) -> b::iommu_hwpt_alloc {
    b::iommu_hwpt_alloc {
        size: std::mem::size_of::<b::iommu_hwpt_alloc>() as u32,
        flags: uapi::HWPT_ALLOC_NEST_PARENT,
        dev_id,
        pt_id: ioas,
        data_type: b::iommu_hwpt_data_type_IOMMU_HWPT_DATA_NONE,
        ..Default::default()
    }
}

/// The `IOMMU_HWPT_ALLOC` request of a nested HWPT on a vIOMMU.
pub fn nested_request(
    dev_id: ObjId,
    viommu: ObjId,
    data_type: u32,
    data: &[u8],
) -> b::iommu_hwpt_alloc {
    b::iommu_hwpt_alloc {
        size: std::mem::size_of::<b::iommu_hwpt_alloc>() as u32,
        flags: 0,
        dev_id,
        pt_id: viommu,
        data_type,
        data_len: data.len() as u32,
        data_uptr: data.as_ptr() as u64,
        ..Default::default()
    }
}

/// The `IOMMU_VIOMMU_ALLOC` request; `data_uptr`/`data_len` point at `data`.
pub fn viommu_request(
    dev_id: ObjId,
    hwpt: ObjId,
    viommu_type: u32,
    data: Option<(*mut u8, usize)>,
) -> b::iommu_viommu_alloc {
    let (ptr, len) = data.unwrap_or((std::ptr::null_mut(), 0));
    b::iommu_viommu_alloc {
        size: std::mem::size_of::<b::iommu_viommu_alloc>() as u32,
        flags: 0,
        type_: viommu_type,
        dev_id,
        hwpt_id: hwpt,
        data_len: len as u32,
        data_uptr: ptr as u64,
        ..Default::default()
    }
}

/// The `IOMMU_VDEVICE_ALLOC` request.
pub fn vdevice_request(viommu: ObjId, dev_id: ObjId, virt_id: u64) -> b::iommu_vdevice_alloc {
    b::iommu_vdevice_alloc {
        size: std::mem::size_of::<b::iommu_vdevice_alloc>() as u32,
        viommu_id: viommu,
        dev_id,
        out_vdevice_id: 0,
        virt_id,
    }
}

/// The `IOMMU_HW_QUEUE_ALLOC` request.
pub fn hw_queue_request(
    viommu: ObjId,
    queue_type: u32,
    index: u32,
    iova: u64,
    length: u64,
) -> b::iommu_hw_queue_alloc {
    b::iommu_hw_queue_alloc {
        size: std::mem::size_of::<b::iommu_hw_queue_alloc>() as u32,
        flags: 0,
        viommu_id: viommu,
        type_: queue_type,
        index,
        out_hw_queue_id: 0,
        nesting_parent_iova: iova,
        length,
    }
}

/// The `IOMMU_HWPT_INVALIDATE` request over `entries`.
pub fn invalidate_request(
    id: ObjId,
    data_type: u32,
    entry_len: u32,
    entries: &[u8],
) -> b::iommu_hwpt_invalidate {
    let num = if entry_len == 0 {
        0
    } else {
        (entries.len() / entry_len as usize) as u32
    };
    b::iommu_hwpt_invalidate {
        size: std::mem::size_of::<b::iommu_hwpt_invalidate>() as u32,
        hwpt_id: id,
        data_uptr: entries.as_ptr() as u64,
        data_type,
        entry_len,
        entry_num: num,
        __reserved: 0,
    }
}

/// The `IOMMU_VEVENTQ_ALLOC` request.
pub fn veventq_request(viommu: ObjId, veventq_type: u32, depth: u32) -> b::iommu_veventq_alloc {
    b::iommu_veventq_alloc {
        size: std::mem::size_of::<b::iommu_veventq_alloc>() as u32,
        flags: 0,
        viommu_id: viommu,
        type_: veventq_type,
        veventq_depth: depth,
        ..Default::default()
    }
}

/// Splits bytes read from a vEVENTQ into records of `record_len`-byte payloads.
/// `None` when the bytes end inside a record.
pub fn parse_vevents(buf: &[u8], record_len: usize) -> Option<Vec<VEvent>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let h = buf.get(off..off + 8)?;
        let flags = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
        let sequence = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
        off += 8;
        let data = if flags & uapi::VEVENTQ_FLAG_LOST_EVENTS != 0 {
            Vec::new()
        } else {
            let d = buf.get(off..off + record_len)?.to_vec();
            off += record_len;
            d
        };
        out.push(VEvent {
            flags,
            sequence,
            data,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::uapi::selftest;
    use core::mem::{offset_of, size_of};

    #[test]
    fn hw_info_request_layout_and_input_type() {
        assert_eq!(size_of::<b::iommu_hw_info>(), 40);
        assert_eq!(offset_of!(b::iommu_hw_info, data_uptr), 16);
        assert_eq!(offset_of!(b::iommu_hw_info, __bindgen_anon_1), 24);
        assert_eq!(offset_of!(b::iommu_hw_info, out_max_pasid_log2), 28);
        assert_eq!(offset_of!(b::iommu_hw_info, out_capabilities), 32);
        assert_eq!(size_of::<b::iommu_hw_info_tegra241_cmdqv>(), 8);
        assert_eq!(offset_of!(b::iommu_hw_info_tegra241_cmdqv, version), 4);
        assert_eq!(offset_of!(b::iommu_hw_info_tegra241_cmdqv, log2vsids), 6);
        assert_eq!(size_of::<b::iommu_hw_info_arm_smmuv3>(), 40);
        let mut buf = [0u8; 64];
        let r = hw_info_request(
            5,
            HwInfoQuery::Type(uapi::HW_INFO_TYPE_TEGRA241_CMDQV),
            &mut buf,
        );
        assert_eq!(r.size, 40);
        assert_eq!(r.flags, 1);
        assert_eq!(r.dev_id, 5);
        assert_eq!(r.data_len, 64);
        assert_eq!(r.data_uptr, buf.as_ptr() as u64);
        // SAFETY: one u32 under either name.
        assert_eq!(unsafe { r.__bindgen_anon_1.in_data_type }, 3);
        let r = hw_info_request(5, HwInfoQuery::Default, &mut buf);
        assert_eq!(r.flags, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { r.__bindgen_anon_1.in_data_type }, 0);
    }

    #[test]
    fn ioas_requests() {
        assert_eq!(size_of::<b::iommu_ioas_alloc>(), 12);
        assert_eq!(size_of::<b::iommu_ioas_map>(), 40);
        assert_eq!(offset_of!(b::iommu_ioas_map, user_va), 16);
        assert_eq!(offset_of!(b::iommu_ioas_map, length), 24);
        assert_eq!(offset_of!(b::iommu_ioas_map, iova), 32);
        assert_eq!(size_of::<b::iommu_ioas_unmap>(), 24);
        assert_eq!(offset_of!(b::iommu_ioas_unmap, iova), 8);
        let r = ioas_map_request(3, 0x8000_0000, 0x20_0000, 0x7f00_0000_0000);
        // FIXED_IOVA 1, WRITEABLE 2, READABLE 4 in the uAPI.
        assert_eq!(r.flags, 0b111);
        assert_eq!(
            (r.ioas_id, r.iova, r.length, r.user_va),
            (3, 0x8000_0000, 0x20_0000, 0x7f00_0000_0000)
        );
        assert_eq!(size_of::<b::iommu_destroy>(), 8);
    }

    #[test]
    fn hwpt_requests() {
        assert_eq!(size_of::<b::iommu_hwpt_alloc>(), 48);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, pt_id), 12);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, out_hwpt_id), 16);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, data_type), 24);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, data_len), 28);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, data_uptr), 32);
        assert_eq!(offset_of!(b::iommu_hwpt_alloc, fault_id), 40);
        let p = nest_parent_request(4, 2);
        assert_eq!(
            (p.size, p.flags, p.dev_id, p.pt_id, p.data_type, p.data_len),
            (48, 1, 4, 2, 0, 0)
        );
        let ste = [0x11u8; 16];
        let n = nested_request(4, 9, uapi::HWPT_DATA_ARM_SMMUV3, &ste);
        assert_eq!((n.flags, n.pt_id, n.data_type, n.data_len), (0, 9, 2, 16));
        assert_eq!(n.data_uptr, ste.as_ptr() as u64);
        assert_eq!(size_of::<b::iommu_hwpt_arm_smmuv3>(), 16);
    }

    #[test]
    fn viommu_request_layouts() {
        assert_eq!(size_of::<b::iommu_viommu_alloc>(), 40);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, type_), 8);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, hwpt_id), 16);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, out_viommu_id), 20);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, data_len), 24);
        assert_eq!(offset_of!(b::iommu_viommu_alloc, data_uptr), 32);
        assert_eq!(size_of::<b::iommu_viommu_tegra241_cmdqv>(), 16);
        assert_eq!(
            offset_of!(b::iommu_viommu_tegra241_cmdqv, out_vintf_mmap_length),
            8
        );
        let mut d = b::iommu_viommu_tegra241_cmdqv::default();
        let r = viommu_request(
            4,
            6,
            uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
            Some((&mut d as *mut _ as *mut u8, 16)),
        );
        assert_eq!(
            (r.size, r.flags, r.type_, r.dev_id, r.hwpt_id, r.data_len),
            (40, 0, 2, 4, 6, 16)
        );
        let r = viommu_request(4, 6, selftest::VIOMMU_TYPE_SELFTEST, None);
        assert_eq!((r.type_, r.data_len, r.data_uptr), (0xdead_beef, 0, 0));
    }

    #[test]
    fn vdevice_hw_queue_veventq_invalidate_requests() {
        assert_eq!(size_of::<b::iommu_vdevice_alloc>(), 24);
        assert_eq!(offset_of!(b::iommu_vdevice_alloc, virt_id), 16);
        let v = vdevice_request(7, 4, 0x1234);
        assert_eq!(
            (v.size, v.viommu_id, v.dev_id, v.virt_id),
            (24, 7, 4, 0x1234)
        );

        assert_eq!(size_of::<b::iommu_hw_queue_alloc>(), 40);
        assert_eq!(offset_of!(b::iommu_hw_queue_alloc, index), 16);
        assert_eq!(offset_of!(b::iommu_hw_queue_alloc, nesting_parent_iova), 24);
        assert_eq!(offset_of!(b::iommu_hw_queue_alloc, length), 32);
        let q = hw_queue_request(
            7,
            uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV,
            1,
            0x4000_0000,
            0x1000,
        );
        assert_eq!(
            (q.size, q.flags, q.viommu_id, q.type_, q.index),
            (40, 0, 7, 1, 1)
        );
        assert_eq!((q.nesting_parent_iova, q.length), (0x4000_0000, 0x1000));

        assert_eq!(size_of::<b::iommu_veventq_alloc>(), 32);
        assert_eq!(offset_of!(b::iommu_veventq_alloc, veventq_depth), 16);
        assert_eq!(offset_of!(b::iommu_veventq_alloc, out_veventq_fd), 24);
        let e = veventq_request(7, uapi::VEVENTQ_TYPE_TEGRA241_CMDQV, 64);
        assert_eq!(
            (e.size, e.viommu_id, e.type_, e.veventq_depth),
            (32, 7, 2, 64)
        );

        assert_eq!(size_of::<b::iommu_hwpt_invalidate>(), 32);
        assert_eq!(offset_of!(b::iommu_hwpt_invalidate, data_uptr), 8);
        assert_eq!(offset_of!(b::iommu_hwpt_invalidate, data_type), 16);
        assert_eq!(offset_of!(b::iommu_hwpt_invalidate, entry_num), 24);
        let cmds = [0u8; 48];
        let i = invalidate_request(7, 1, 16, &cmds);
        assert_eq!(
            (i.size, i.hwpt_id, i.data_type, i.entry_len, i.entry_num),
            (32, 7, 1, 16, 3)
        );
        assert_eq!(size_of::<b::iommufd_vevent_header>(), 8);
        assert_eq!(size_of::<b::iommu_vevent_tegra241_cmdqv>(), 16);
    }

    #[test]
    fn vevent_parsing() {
        let mut raw = Vec::new();
        raw.extend_from_slice(&0u32.to_ne_bytes());
        raw.extend_from_slice(&5u32.to_ne_bytes());
        raw.extend_from_slice(&[1, 0, 0, 0]);
        raw.extend_from_slice(&1u32.to_ne_bytes());
        raw.extend_from_slice(&6u32.to_ne_bytes());
        let ev = parse_vevents(&raw, 4).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!((ev[0].sequence, ev[0].data.clone()), (5, vec![1, 0, 0, 0]));
        assert!(ev[1].is_lost_marker());
        assert!(parse_vevents(&raw[..10], 4).is_none());
    }
}
