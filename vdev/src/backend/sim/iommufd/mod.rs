//! The iommufd core (Linux `drivers/iommu/iommufd/`): the rules every
//! driver shares, each call checking its arguments and objects before the
//! driver ([`super::tegra241`] or [`super::selftest`]) has its say.
//!
//! * [`ioas`] — IOAS map/unmap, the pin of HW queue memory;
//! * [`device`] — bound devices and their attachment (automatic domains);
//! * [`hwpt`] — nesting-parent and nested HWPTs;
//! * [`viommu`] — vIOMMU, vDEVICE and HW queue allocation;
//! * [`veventq`] — vEVENTQs, reports, the lost-events marker;
//! * [`mmap`] — regions published for mmap and their mappings;
//! * [`invalidate`] — `IOMMU_HWPT_INVALIDATE`;
//! * `IOMMU_GET_HW_INFO` (here) — the device, then the driver's data.

pub(crate) mod device;
pub(crate) mod hwpt;
pub(crate) mod invalidate;
pub(crate) mod ioas;
pub(crate) mod mmap;
pub(crate) mod veventq;
pub(crate) mod viommu;

use super::{e, selftest, tegra241, SimBackend};
use crate::backend::{HwInfo, HwInfoQuery, ObjId, Op, Result};

/// `IOMMU_GET_HW_INFO` on device `dev_id`: the info of the asked type (its
/// default type without one) from the driver of the device's SMMU.
pub(crate) fn get_hw_info(sim: &SimBackend, dev_id: ObjId, query: HwInfoQuery) -> Result<HwInfo> {
    let op = Op::GetHwInfo;
    let st = sim.begin(op)?;
    let Some(smmu) = st.device_smmu(dev_id) else {
        return Err(e(op, libc::ENOENT));
    };
    let t = match query {
        HwInfoQuery::Default => 0,
        HwInfoQuery::Type(t) => t,
    };
    // The device's own SMMU (and its CMDQV) answers.
    let (data_type, data) = match (sim.tegra(), sim.host(smmu)) {
        (true, Some(h)) => tegra241::hw_info(h, t),
        (true, None) => None,
        (false, _) => selftest::hw_info(t),
    }
    .ok_or(e(op, libc::EOPNOTSUPP))?;
    Ok(HwInfo {
        data_type,
        data,
        capabilities: 0,
        max_pasid_log2: 0,
    })
}
