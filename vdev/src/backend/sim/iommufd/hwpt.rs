//! HWPT allocation: a nesting parent (stage 2) on an IOAS, a page table of
//! the device's SMMU, which takes that SMMU's next VMID; a nested HWPT on a
//! vIOMMU of the device's SMMU or on a nesting parent, whose driver data the
//! driver checks ([`tegra241::check_nested_data`],
//! [`selftest::check_nested_data`]).

use super::super::objects::Obj;
use super::super::{e, selftest, tegra241, SimBackend};
use crate::backend::{ObjId, Op, Result};

/// `IOMMU_HWPT_ALLOC` with `IOMMU_HWPT_ALLOC_NEST_PARENT` on an IOAS.
pub(crate) fn alloc_nest_parent(sim: &SimBackend, dev_id: ObjId, ioas: ObjId) -> Result<ObjId> {
    let op = Op::HwptAlloc;
    let mut st = sim.begin(op)?;
    let Some(smmu) = st.device_smmu(dev_id) else {
        return Err(e(op, libc::ENOENT));
    };
    match st.objs.get(&ioas) {
        Some(Obj::Ioas { .. }) => {}
        // A HWPT as pt_id asks for a nested one, which needs data: EINVAL;
        // any other object cannot hold a page table either, and the core
        // answers EINVAL for an id naming no object too.
        Some(_) | None => return Err(e(op, libc::EINVAL)),
    }
    // The SMMU driver's VMID allocator is per SMMU instance.
    let next = st.next_vmid.get_mut(smmu).ok_or(e(op, libc::ENODEV))?;
    let vmid = *next;
    *next = next.wrapping_add(1).max(1);
    let id = st.alloc_id();
    let order = st.hwpt_order();
    st.objs.insert(
        id,
        Obj::HwptPaging {
            ioas,
            smmu,
            nest_parent: true,
            vmid,
            auto: false,
            order,
        },
    );
    Ok(id)
}

/// `IOMMU_HWPT_ALLOC` of a nested HWPT on `pt` with driver data.
pub(crate) fn alloc_nested(
    sim: &SimBackend,
    dev_id: ObjId,
    pt: ObjId,
    data_type: u32,
    data: &[u8],
) -> Result<ObjId> {
    let op = Op::HwptAlloc;
    let mut st = sim.begin(op)?;
    let Some(smmu) = st.device_smmu(dev_id) else {
        return Err(e(op, libc::ENOENT));
    };
    // The core dispatches on what pt_id names.
    let (viommu, parent) = match st.objs.get(&pt) {
        // The core answers EINVAL for an id naming no object.
        None => return Err(e(op, libc::EINVAL)),
        // A vIOMMU only takes devices behind its own SMMU.
        Some(Obj::Viommu(v)) if v.smmu != smmu => return Err(e(op, libc::EINVAL)),
        Some(Obj::Viommu(v)) => (Some(pt), v.hwpt),
        Some(Obj::HwptPaging {
            nest_parent: true, ..
        }) => (None, pt),
        // A paging request carrying driver data: no driver here takes it.
        Some(Obj::Ioas { .. }) => return Err(e(op, libc::EOPNOTSUPP)),
        Some(_) => return Err(e(op, libc::EINVAL)),
    };
    if data_type == 0 {
        return Err(e(op, libc::EINVAL));
    }
    if sim.tegra() {
        tegra241::check_nested_data(viommu.is_some(), data_type, data)
    } else {
        selftest::check_nested_data(data_type, data)
    }
    .map_err(|x| e(op, x))?;
    let id = st.alloc_id();
    st.objs.insert(id, Obj::HwptNested { viommu, parent });
    Ok(id)
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, selftest_viommu};
    use crate::backend::uapi::selftest;
    use crate::backend::Backend;

    #[test]
    fn missing_page_table_is_einval_for_hwpt_alloc() {
        let (b, dev, _v) = selftest_viommu();
        assert_eq!(
            errno(b.hwpt_alloc_nest_parent(dev.idev_id, 999)),
            libc::EINVAL
        );
        assert_eq!(
            errno(b.hwpt_alloc_nested(dev.idev_id, 999, selftest::HWPT_DATA_SELFTEST, &[0; 8])),
            libc::EINVAL
        );
    }
}
