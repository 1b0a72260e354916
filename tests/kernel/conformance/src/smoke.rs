//! Bring-up smoke check on the raw uAPI: proves the booted kernel offers
//! `/dev/iommu` with the selftest mock before any case runs, so a broken
//! kernel configuration is reported as such and not as a backend
//! disagreement.

use crate::ctx::Ctx;
use crate::raw::RawKernel;

/// Opens `/dev/iommu`, allocates an IOAS and attaches a mock device to it.
/// Returns one line per step; `Err` names the failed step.
pub fn run() -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut k = Ctx::new(Box::new(
        RawKernel::open().map_err(|e| format!("open /dev/iommu: {e}"))?,
    ));
    lines.push("open /dev/iommu: ok".to_string());
    let ioas = k.ioas_alloc().map_err(|e| format!("IOAS_ALLOC: {e}"))?;
    lines.push(format!("IOAS_ALLOC: ok ioas={ioas}"));
    let dev = k
        .mock_domain(ioas)
        .map_err(|e| format!("MOCK_DOMAIN: {e} (is CONFIG_IOMMUFD_TEST set?)"))?;
    lines.push(format!(
        "MOCK_DOMAIN: ok stdev={} hwpt={} idev={}",
        dev.stdev, dev.hwpt, dev.idev
    ));
    Ok(lines)
}
