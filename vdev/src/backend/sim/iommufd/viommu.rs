//! The vIOMMU and what hangs on it, core rules first, then the driver's:
//! `IOMMU_VIOMMU_ALLOC` on a nesting parent of the device's SMMU (the driver
//! initializes it: a Tegra241 VINTF of that SMMU's CMDQV, or the mock's
//! queues and page), `IOMMU_VDEVICE_ALLOC` (a device behind the vIOMMU's
//! SMMU, one per device, virtual ids unique per vIOMMU; a VINTF also takes a
//! SID slot) and `IOMMU_HW_QUEUE_ALLOC` (type, overflow, the pin of its memory,
//! then the driver's index and size rules; the queue and its access object
//! take two ids).

use super::super::objects::{Obj, Reserved, State, ViommuObj};
use super::super::{e, selftest, tegra241, SimBackend};
use super::ioas;
use crate::backend::uapi::{self, selftest as st_uapi};
use crate::backend::{ObjId, Op, Result, ViommuDataIn, ViommuDataOut};

/// `IOMMU_VIOMMU_ALLOC` of `viommu_type` on nesting parent `hwpt`.
pub(crate) fn alloc(
    sim: &SimBackend,
    dev_id: ObjId,
    hwpt: ObjId,
    viommu_type: u32,
    data: ViommuDataIn,
) -> Result<ViommuDataOut> {
    let op = Op::ViommuAlloc;
    let mut st = sim.begin(op)?;
    if viommu_type == 0 {
        return Err(e(op, libc::EOPNOTSUPP));
    }
    let Some(smmu) = st.device_smmu(dev_id) else {
        return Err(e(op, libc::ENOENT));
    };
    let supported = if sim.tegra() {
        matches!(
            viommu_type,
            uapi::VIOMMU_TYPE_ARM_SMMUV3 | uapi::VIOMMU_TYPE_TEGRA241_CMDQV
        )
    } else {
        viommu_type == st_uapi::VIOMMU_TYPE_SELFTEST
    };
    if !supported {
        return Err(e(op, libc::EOPNOTSUPP));
    }
    let (vmid, parent_smmu) = match st.objs.get(&hwpt) {
        Some(Obj::HwptPaging {
            nest_parent: true,
            vmid,
            smmu,
            ..
        }) => (*vmid, *smmu),
        Some(Obj::HwptPaging { .. }) => return Err(e(op, libc::EINVAL)),
        _ => return Err(e(op, libc::ENOENT)),
    };
    // The SMMU driver's vIOMMU init: the stage 2 must be a page table of the
    // device's own SMMU (`arm_vsmmu_init`), before its implementation takes
    // a VINTF.
    if parent_smmu != smmu {
        return Err(e(op, libc::EINVAL));
    }
    let id = st.alloc_id();
    let (mut obj, out) = match driver_init(sim, &mut st, id, viommu_type, smmu, vmid, data) {
        Ok(x) => x,
        // The id was never published: it is free again (nothing was
        // inserted under it).
        Err(x) => return Err(e(op, x)),
    };
    obj.hwpt = hwpt;
    st.objs.insert(id, Obj::Viommu(obj));
    Ok(out)
}

/// The driver half of `IOMMU_VIOMMU_ALLOC`.
fn driver_init(
    sim: &SimBackend,
    st: &mut State,
    id: ObjId,
    viommu_type: u32,
    smmu: usize,
    vmid: u16,
    data: ViommuDataIn,
) -> std::result::Result<(ViommuObj, ViommuDataOut), i32> {
    let mut obj = ViommuObj {
        hwpt: 0,
        smmu,
        vtype: viommu_type,
        mmap_offset: None,
        vintf: None,
        mock_queues: Vec::new(),
    };
    let mut out = ViommuDataOut {
        viommu_id: id,
        ..Default::default()
    };
    match (viommu_type, sim.host(smmu)) {
        (uapi::VIOMMU_TYPE_TEGRA241_CMDQV, Some(h)) => {
            tegra241::init_viommu(sim, st, h, vmid, data, &mut obj, &mut out)?
        }
        (uapi::VIOMMU_TYPE_ARM_SMMUV3, Some(_)) => {}
        (st_uapi::VIOMMU_TYPE_SELFTEST, None) => {
            selftest::init_viommu(sim, st, data, &mut obj, &mut out)
        }
        _ => return Err(libc::EOPNOTSUPP),
    }
    Ok((obj, out))
}

/// `IOMMU_VDEVICE_ALLOC`: device `dev_id` as `virt_id` on `viommu`.
pub(crate) fn alloc_vdevice(
    sim: &SimBackend,
    viommu: ObjId,
    dev_id: ObjId,
    virt_id: u64,
) -> Result<ObjId> {
    let op = Op::VdeviceAlloc;
    let mut st = sim.begin(op)?;
    let Some(viommu_smmu) = st.viommu(viommu).map(|v| v.smmu) else {
        return Err(e(op, libc::ENOENT));
    };
    let (psid, has_vdev, smmu) = match st.objs.get(&dev_id) {
        Some(Obj::Device {
            psid, vdev, smmu, ..
        }) => (*psid, vdev.is_some(), *smmu),
        _ => return Err(e(op, libc::ENOENT)),
    };
    // The core's check: the vIOMMU stands for the device's own SMMU.
    if smmu != viommu_smmu {
        return Err(e(op, libc::EINVAL));
    }
    if has_vdev {
        return Err(e(op, libc::EEXIST));
    }
    let dup = st.objs.values().any(|o| {
        matches!(o, Obj::Vdevice { viommu: v, virt_id: x, .. } if *v == viommu && *x == virt_id)
    });
    if dup {
        return Err(e(op, libc::EEXIST));
    }
    let mut sid_slot = None;
    if let Some(vi) = st.viommu_mut(viommu).and_then(|v| v.vintf.as_mut()) {
        let slot = tegra241::take_sid_slot(vi, psid, virt_id).map_err(|x| e(op, x))?;
        sid_slot = Some(slot);
    }
    let id = st.alloc_id();
    st.objs.insert(
        id,
        Obj::Vdevice {
            viommu,
            idev: dev_id,
            virt_id,
            sid_slot,
        },
    );
    if let Some(Obj::Device { vdev, .. }) = st.objs.get_mut(&dev_id) {
        *vdev = Some(id);
    }
    Ok(id)
}

/// `IOMMU_HW_QUEUE_ALLOC`: queue `index` of `queue_type` over guest memory.
pub(crate) fn alloc_hw_queue(
    sim: &SimBackend,
    viommu: ObjId,
    queue_type: u32,
    index: u32,
    iova: u64,
    length: u64,
) -> Result<ObjId> {
    let op = Op::HwQueueAlloc;
    let mut st = sim.begin(op)?;
    hw_queue(sim, &mut st, viommu, queue_type, index, iova, length).map_err(|x| e(op, x))
}

fn hw_queue(
    sim: &SimBackend,
    st: &mut State,
    viommu: ObjId,
    queue_type: u32,
    index: u32,
    iova: u64,
    length: u64,
) -> std::result::Result<ObjId, i32> {
    if queue_type == 0 {
        return Err(libc::EOPNOTSUPP);
    }
    if length == 0 {
        return Err(libc::EINVAL);
    }
    iova.checked_add(length - 1).ok_or(libc::EOVERFLOW)?;
    let v = st.viommu(viommu).ok_or(libc::ENOENT)?;
    let supported = match v.vtype {
        uapi::VIOMMU_TYPE_TEGRA241_CMDQV => queue_type == uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV,
        st_uapi::VIOMMU_TYPE_SELFTEST => queue_type == st_uapi::HW_QUEUE_TYPE_SELFTEST,
        _ => false,
    };
    if !supported {
        return Err(libc::EOPNOTSUPP);
    }
    let ioas = match st.objs.get(&v.hwpt) {
        Some(Obj::HwptPaging { ioas, .. }) => *ioas,
        _ => return Err(libc::ENOENT),
    };
    let (base_pa, pin) = ioas::pin(sim, st, ioas, iova, length)?;
    // From here on a failure must unpin.
    let (prev, lvq_log2) = match queue_rules(sim, st, viommu, index, base_pa, length) {
        Ok(x) => x,
        Err(errno) => {
            st.unpin(pin);
            return Err(errno);
        }
    };
    // The queue's id, then its internal access object's id (the kernel
    // allocates the object first, then the access that pins its memory).
    let id = st.alloc_id();
    st.objs.insert(
        id,
        Obj::HwQueue {
            viommu,
            index,
            prev,
            pin,
            access: 0,
        },
    );
    let access_id = st.alloc_id();
    st.reserved.insert(access_id, Reserved::Access);
    if let Some(Obj::HwQueue { access, .. }) = st.objs.get_mut(&id) {
        *access = access_id;
    }
    let v = st.viommu_mut(viommu).ok_or(libc::ENOENT)?;
    if let (Some(vi), Some(log2size)) = (v.vintf.as_mut(), lvq_log2) {
        tegra241::set_queue(vi, index as usize, id, base_pa, iova, log2size);
    } else if let Some(slot) = v.mock_queues.get_mut(index as usize) {
        *slot = Some(id);
    }
    Ok(id)
}

/// The driver half of HW_QUEUE_ALLOC: index and order rules, and for Tegra241
/// the length and alignment rules. Returns the previous queue (the destroy
/// dependency) and, for Tegra241, log2 of the entries.
fn queue_rules(
    sim: &SimBackend,
    st: &State,
    viommu: ObjId,
    index: u32,
    base_pa: u64,
    length: u64,
) -> std::result::Result<(Option<ObjId>, Option<u32>), i32> {
    let v = st.viommu(viommu).ok_or(libc::ENOENT)?;
    match (&v.vintf, sim.host(v.smmu)) {
        (Some(vi), Some(h)) => tegra241::queue_rules(vi, h, index, base_pa, length),
        _ => selftest::queue_rules(&v.mock_queues, index),
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, rig};
    use crate::backend::{uapi, Selftest, ViommuDataIn};
    use libc::{EINVAL, ENOENT, EOPNOTSUPP};

    #[test]
    fn viommu_alloc_argument_rules() {
        let r = rig();
        let t = uapi::VIOMMU_TYPE_TEGRA241_CMDQV;
        assert_eq!(
            errno(r.b.viommu_alloc(r.dev.id(), r.parent.id(), 0, ViommuDataIn::Tegra241)),
            EOPNOTSUPP
        );
        assert_eq!(
            errno(r.b.viommu_alloc(r.dev.id(), r.parent.id(), t, ViommuDataIn::None)),
            EINVAL
        );
        assert_eq!(
            errno(r.b.viommu_alloc(999, r.parent.id(), t, ViommuDataIn::Tegra241)),
            ENOENT
        );
        assert_eq!(
            errno(r.b.viommu_alloc(r.dev.id(), 999, t, ViommuDataIn::Tegra241)),
            ENOENT
        );
        // A paging HWPT that is not a nesting parent.
        let m = r.sim.mock_domain(r.ioas.id()).unwrap();
        assert_eq!(
            errno(r.b.viommu_alloc(m.idev_id, m.hwpt_id, t, ViommuDataIn::Tegra241)),
            EINVAL
        );
        r.b.destroy(m.stdev_id).unwrap();
    }
}
