//! The iommufd selftest mock (Linux `drivers/iommu/iommufd/selftest.c`,
//! `CONFIG_IOMMUFD_TEST`) as a driver behind the core:
//!
//! * `IOMMU_TEST_CMD`: a mock device (a selftest object, a bound device, the
//!   attach to an IOAS), its re-attachment, and a test vEVENT carrying the
//!   device's virtual id;
//! * its hardware info (`test_reg`), a vIOMMU whose driver data is echoed in
//!   `out_data` and in the first word of a two-page mmap region;
//! * two HW queues per vIOMMU, allocated in ascending order, no length or
//!   alignment rule;
//! * nested HWPTs with an IOTLB tag, their IOTLB invalidation and the
//!   vIOMMU's cache invalidation.

use super::iommufd::invalidate::{word32, KernelInvalidation};
use super::iommufd::mmap;
use super::objects::{Obj, State, ViommuObj};
use super::{e, SimBackend};
use crate::backend::uapi::selftest;
use crate::backend::{Error, MockDomain, ObjId, Op, Result, ViommuDataIn, ViommuDataOut};

/// `IOMMU_TEST_OP_MOCK_DOMAIN`: a mock device bound and attached to `ioas`.
pub(crate) fn mock_domain(sim: &SimBackend, ioas: ObjId) -> Result<MockDomain> {
    let op = Op::TestCmd;
    let mut st = sim.begin(op)?;
    if !matches!(st.objs.get(&ioas), Some(Obj::Ioas { .. })) {
        return Err(e(op, libc::ENOENT));
    }
    // As the kernel: the selftest object, then the bound device, then
    // the attach to the IOAS (an existing automatic domain, or a new one).
    let stdev_id = st.alloc_id();
    st.objs.insert(stdev_id, Obj::Stdev { idev: 0 });
    let idev_id = st.alloc_id();
    let psid = st.next_psid;
    st.next_psid += 1;
    st.objs.insert(
        idev_id,
        Obj::Device {
            // The mock is one IOMMU.
            smmu: 0,
            psid,
            vdev: None,
            attached: None,
        },
    );
    if let Some(Obj::Stdev { idev }) = st.objs.get_mut(&stdev_id) {
        *idev = idev_id;
    }
    let hwpt_id = match st.attach(idev_id, ioas) {
        Ok(h) => h,
        Err(x) => {
            // Undone like the kernel's error path.
            st.objs.remove(&idev_id);
            st.objs.remove(&stdev_id);
            return Err(e(op, x));
        }
    };
    Ok(MockDomain {
        stdev_id,
        hwpt_id,
        idev_id,
    })
}

/// `IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE`: the mock device re-attached to `pt`.
pub(crate) fn mock_domain_replace(sim: &SimBackend, stdev_id: ObjId, pt: ObjId) -> Result<()> {
    let op = Op::TestCmd;
    let mut st = sim.begin(op)?;
    let idev = match st.objs.get(&stdev_id) {
        Some(Obj::Stdev { idev }) => *idev,
        _ => return Err(e(op, libc::ENOENT)),
    };
    st.attach(idev, pt).map(|_| ()).map_err(|x| e(op, x))
}

/// `IOMMU_TEST_OP_TRIGGER_VEVENT` for device `dev_id`.
pub(crate) fn trigger_vevent(sim: &SimBackend, dev_id: ObjId) -> Result<()> {
    let op = Op::TestCmd;
    let mut st = sim.begin(op)?;
    // The mock reports for the vIOMMU of the nested domain the device is
    // attached to, under the device's virtual id there.
    let (vdev, attached) = match st.objs.get(&dev_id) {
        Some(Obj::Device { vdev, attached, .. }) => (*vdev, *attached),
        _ => return Err(e(op, libc::ENOENT)),
    };
    let (viommu, virt_id) = st.vmaster(vdev, attached).ok_or(e(op, libc::ENOENT))?;
    st.report(
        viommu,
        selftest::VEVENTQ_TYPE_SELFTEST,
        (virt_id as u32).to_le_bytes().to_vec(),
    )
    .map_err(|x| e(op, x))
}

/// The data of `IOMMU_GET_HW_INFO` of type `t` (0: the default): the
/// mock's `struct iommu_test_hw_info`, or `None` for another type.
pub(crate) fn hw_info(t: u32) -> Option<(u32, Vec<u8>)> {
    match t {
        0 | selftest::HW_INFO_TYPE_SELFTEST => {
            let mut data = Vec::new();
            data.extend_from_slice(&0u32.to_le_bytes());
            data.extend_from_slice(&selftest::HW_INFO_SELFTEST_REGVAL.to_le_bytes());
            Some((selftest::HW_INFO_TYPE_SELFTEST, data))
        }
        _ => None,
    }
}

/// The driver half of a selftest vIOMMU's allocation: its queue slots and,
/// with driver data, the mmap region whose first word echoes `in_data`.
pub(crate) fn init_viommu(
    sim: &SimBackend,
    st: &mut State,
    data: ViommuDataIn,
    obj: &mut ViommuObj,
    out: &mut ViommuDataOut,
) {
    obj.mock_queues = vec![None; selftest::HW_QUEUE_MAX as usize];
    if let ViommuDataIn::Selftest { in_data } = data {
        let len = (selftest::MMAP_PAGES * sim.sh.cfg.page_size) as usize;
        let (off, page) = mmap::publish(sim, st, out.viommu_id, len);
        page.write(0, in_data);
        obj.mmap_offset = Some(off);
        out.mmap_offset = off;
        out.mmap_length = len as u64;
        out.out_data = Some(in_data);
    }
}

/// The mock's HW queue rules: an index below `IOMMU_TEST_HW_QUEUE_MAX`, not
/// taken, its predecessor allocated. Returns the previous queue.
pub(crate) fn queue_rules(
    queues: &[Option<ObjId>],
    index: u32,
) -> std::result::Result<(Option<ObjId>, Option<u32>), i32> {
    let i = index as usize;
    if index >= selftest::HW_QUEUE_MAX || i >= queues.len() {
        return Err(libc::EINVAL);
    }
    if queues[i].is_some() {
        return Err(libc::EEXIST);
    }
    let prev = if i > 0 {
        Some(queues[i - 1].ok_or(libc::EIO)?)
    } else {
        None
    };
    Ok((prev, None))
}

/// The mock's check of a nested HWPT's data (`struct iommu_hwpt_selftest`).
pub(crate) fn check_nested_data(data_type: u32, data: &[u8]) -> std::result::Result<(), i32> {
    if data_type != selftest::HWPT_DATA_SELFTEST {
        return Err(libc::EOPNOTSUPP);
    }
    if data.len() < 4 {
        return Err(libc::EINVAL);
    }
    Ok(())
}

/// One entry of `IOMMU_HWPT_INVALIDATE` on a selftest vIOMMU
/// (`struct iommu_viommu_invalidate_selftest`): a device cache entry of a
/// vDEVICE, or all of them.
pub(crate) fn cache_invalidation(
    st: &State,
    viommu: ObjId,
    entry: &[u8],
) -> std::result::Result<KernelInvalidation, i32> {
    let (flags, vdev_id, cache_id) = (word32(entry, 0), word32(entry, 1), word32(entry, 2));
    if flags & !selftest::INVALIDATE_FLAG_ALL != 0 {
        Err(libc::EOPNOTSUPP)
    } else if cache_id > selftest::DEV_CACHE_ID_MAX
        || st.vsid_to_psid(viommu, vdev_id as u64).is_none()
    {
        Err(libc::EINVAL)
    } else {
        Ok(KernelInvalidation::Selftest {
            viommu,
            vdev_id,
            cache_id: (flags & selftest::INVALIDATE_FLAG_ALL == 0).then_some(cache_id),
        })
    }
}

/// `IOMMU_HWPT_INVALIDATE` on a mock nested HWPT: its IOTLB entries.
pub(crate) fn invalidate_nested(
    st: &mut State,
    hwpt: ObjId,
    data_type: u32,
    entry_len: u32,
    entries: &[u8],
) -> Result<u32> {
    let op = Op::HwptInvalidate;
    if data_type != selftest::HWPT_INVALIDATE_DATA_SELFTEST {
        return Err(e(op, libc::EINVAL));
    }
    if entries.is_empty() {
        return Ok(0);
    }
    if entry_len < 8 || !entries.len().is_multiple_of(entry_len as usize) {
        return Err(e(op, libc::EINVAL));
    }
    let mut done = 0;
    for c in entries.chunks(entry_len as usize) {
        let (flags, iotlb_id) = (word32(c, 0), word32(c, 1));
        let errno = if flags & !selftest::INVALIDATE_FLAG_ALL != 0 {
            libc::EOPNOTSUPP
        } else if iotlb_id > selftest::NESTED_IOTLB_ID_MAX {
            libc::EINVAL
        } else {
            st.kernel_log.record(
                (),
                KernelInvalidation::SelftestIotlb {
                    hwpt,
                    iotlb_id: (flags & selftest::INVALIDATE_FLAG_ALL == 0).then_some(iotlb_id),
                },
            );
            done += 1;
            continue;
        };
        return Err(Error {
            op,
            errno,
            handled: Some(done),
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, rig_with, RAM};
    use crate::backend::sim::SimConfig;
    use crate::backend::{
        uapi, Device, HwInfoQuery, NestParent, ObjectTypes, Viommu, ViommuDataIn,
    };
    use libc::{EBUSY, EINVAL, EIO, ENOENT, ENXIO, EOPNOTSUPP};

    #[test]
    fn selftest_model_matches_the_mock() {
        let r = rig_with(SimConfig::selftest());
        assert_eq!(*r.b.types(), ObjectTypes::SELFTEST);
        let mock = Device::mock(&r.sim, &r.ioas).unwrap();
        let info = mock.hw_info(HwInfoQuery::Default).unwrap();
        assert_eq!(
            info.selftest_reg(),
            Some(uapi::selftest::HW_INFO_SELFTEST_REGVAL)
        );
        assert_eq!(
            errno(mock.hw_info(HwInfoQuery::Type(uapi::HW_INFO_TYPE_TEGRA241_CMDQV))),
            EOPNOTSUPP
        );
        let parent = NestParent::new(&mock, &r.ioas).unwrap();
        let v = Viommu::new(&mock, &parent, 0x1234_5678).unwrap();
        assert_eq!(v.data().out_data, Some(0x1234_5678));
        assert_eq!(v.data().mmap_length, 8192, "two 4 KiB pages");
        let page = v.map_page().unwrap();
        assert_eq!(page.read32(0), Some(0x1234_5678));
        // The mock's HW queue rules: at most 2, ascending, descending; no length rule.
        let t = uapi::selftest::HW_QUEUE_TYPE_SELFTEST;
        assert_eq!(errno(r.b.hw_queue_alloc(v.id(), t, 2, RAM, 4096)), EINVAL);
        assert_eq!(errno(r.b.hw_queue_alloc(v.id(), t, 1, RAM, 4096)), EIO);
        assert_eq!(errno(r.b.hw_queue_alloc(v.id(), t, 0, RAM, 0)), EINVAL);
        assert_eq!(
            errno(r.b.hw_queue_alloc(v.id(), t, 0, 0x1000_0000, 4096)),
            ENOENT
        );
        let q0 = v.alloc_hw_queue(None, RAM + 8, 100).unwrap();
        let q1 = v.alloc_hw_queue(Some(&q0), RAM + 0x3000, 3 * 4096).unwrap();
        assert_eq!(errno(r.b.destroy(q0.id())), EBUSY);
        assert_eq!(errno(r.b.destroy(v.id())), EBUSY);
        drop((q1, q0));
        // Plain vDEVICE rules, no SID slots.
        let devs: Vec<_> = (0..20)
            .map(|_| Device::mock(&r.sim, &r.ioas).unwrap())
            .collect();
        let vds: Vec<_> = devs
            .iter()
            .enumerate()
            .map(|(i, d)| v.alloc_vdevice(d, i as u64).unwrap())
            .collect();
        assert_eq!(vds.len(), 20);
        // Invalidation of the mock's device cache.
        let mut e = Vec::new();
        for w in [0u32, 3, 2] {
            e.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(v.invalidate(&e).unwrap(), 1);
        let mut bad = e.clone();
        bad[8] = 4; // cache_id beyond MOCK_DEV_CACHE_ID_MAX
        assert_eq!(errno(v.invalidate(&bad)), EINVAL);
        drop(vds);
        drop(devs);
        drop(page);
    }

    #[test]
    fn selftest_viommu_without_data_has_no_mmap() {
        let r = rig_with(SimConfig::selftest());
        let mock = Device::mock(&r.sim, &r.ioas).unwrap();
        let parent = NestParent::new(&mock, &r.ioas).unwrap();
        let v = Viommu::with_type(
            &mock,
            &parent,
            uapi::selftest::VIOMMU_TYPE_SELFTEST,
            ViommuDataIn::None,
        )
        .unwrap();
        assert_eq!(v.data().mmap_length, 0);
        assert_eq!(errno(v.map_page()), ENXIO);
        assert_eq!(
            errno(Viommu::with_type(
                &mock,
                &parent,
                uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
                ViommuDataIn::Tegra241
            )),
            EOPNOTSUPP
        );
    }
}
