//! `IOMMU_HWPT_INVALIDATE`: the core checks (target, data type, entry
//! length), then the driver handles the entries one by one and the call
//! reports how many it handled, also when one fails. Every entry handled is
//! logged as a [`KernelInvalidation`] for tests.

use super::super::objects::{Obj, Reserved, State};
use super::super::{e, selftest, tegra241, SimBackend};
use crate::backend::uapi::{self, selftest as st_uapi};
use crate::backend::{Error, ObjId, Op, Result};

/// An invalidation the simulated kernel performed for `IOMMU_HWPT_INVALIDATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelInvalidation {
    /// An SMMUv3 command issued to the host SMMU, vSID already replaced by pSID.
    Smmuv3 {
        /// The vIOMMU.
        viommu: ObjId,
        /// The command words as issued.
        cmd: [u64; 2],
    },
    /// A selftest mock nested-domain IOTLB invalidation.
    SelftestIotlb {
        /// The nested HWPT.
        hwpt: ObjId,
        /// IOTLB entry (`None`: all).
        iotlb_id: Option<u32>,
    },
    /// A selftest mock cache invalidation.
    Selftest {
        /// The vIOMMU.
        viommu: ObjId,
        /// Virtual device id.
        vdev_id: u32,
        /// Cache entry (`None`: all).
        cache_id: Option<u32>,
    },
}

/// The little-endian 64-bit word `i` of an entry.
pub(crate) fn word64(entry: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&entry[i * 8..i * 8 + 8]);
    u64::from_le_bytes(b)
}

/// The little-endian 32-bit word `i` of an entry.
pub(crate) fn word32(entry: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([
        entry[i * 4],
        entry[i * 4 + 1],
        entry[i * 4 + 2],
        entry[i * 4 + 3],
    ])
}

impl State {
    /// The physical StreamID of the device bound as `vsid` on `viommu`.
    pub(crate) fn vsid_to_psid(&self, viommu: ObjId, vsid: u64) -> Option<u32> {
        self.objs.values().find_map(|o| match o {
            Obj::Vdevice {
                viommu: v,
                idev,
                virt_id,
                ..
            } if *v == viommu && *virt_id == vsid => match self.objs.get(idev) {
                Some(Obj::Device { psid, .. }) => Some(*psid),
                _ => None,
            },
            _ => None,
        })
    }
}

/// `IOMMU_HWPT_INVALIDATE` on vIOMMU or nested HWPT `id`.
pub(crate) fn invalidate(
    sim: &SimBackend,
    id: ObjId,
    data_type: u32,
    entry_len: u32,
    entries: &[u8],
) -> Result<u32> {
    let op = Op::HwptInvalidate;
    let mut st = sim.begin(op)?;
    let vtype = match st.objs.get(&id) {
        Some(Obj::Viommu(v)) => v.vtype,
        Some(Obj::HwptNested { .. }) => {
            // An SMMUv3 nested domain has no user invalidation; the mock's
            // has IOTLB entries.
            if sim.tegra() {
                return Err(e(op, libc::EOPNOTSUPP));
            }
            return selftest::invalidate_nested(&mut st, id, data_type, entry_len, entries);
        }
        Some(_) => return Err(e(op, libc::EINVAL)),
        // An internal access object is an object, of the wrong type.
        None if st.reserved.get(&id) == Some(&Reserved::Access) => return Err(e(op, libc::EINVAL)),
        None => return Err(e(op, libc::ENOENT)),
    };
    let selftest_type = vtype == st_uapi::VIOMMU_TYPE_SELFTEST;
    let (want_type, min_len) = if selftest_type {
        (st_uapi::VIOMMU_INVALIDATE_DATA_SELFTEST, 12)
    } else {
        (uapi::VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16)
    };
    if data_type != want_type {
        return Err(e(op, libc::EINVAL));
    }
    if entries.is_empty() {
        return Ok(0);
    }
    if entry_len < min_len || !entries.len().is_multiple_of(entry_len as usize) {
        return Err(e(op, libc::EINVAL));
    }
    let mut done = 0u32;
    for chunk in entries.chunks(entry_len as usize) {
        let result = if selftest_type {
            selftest::cache_invalidation(&st, id, chunk)
        } else {
            tegra241::smmu_invalidation(&st, id, chunk)
        };
        match result {
            Ok(k) => {
                st.kernel_log.record((), k);
                done += 1;
            }
            Err(x) => {
                return Err(Error {
                    op,
                    errno: x,
                    handled: Some(done),
                })
            }
        }
    }
    Ok(done)
}

impl SimBackend {
    /// The newest invalidations the simulated kernel performed for
    /// `IOMMU_HWPT_INVALIDATE`, oldest first: at most the journal's capacity
    /// ([`SimBackend::set_journal_capacity`]).
    pub fn kernel_invalidations(&self) -> Vec<KernelInvalidation> {
        self.lock().kernel_log.recent().cloned().collect()
    }

    /// How many invalidations the simulated kernel performed in all.
    pub fn kernel_invalidation_total(&self) -> u64 {
        self.lock().kernel_log.total()
    }

    /// How many entries the hardware and kernel journals keep (each; the
    /// oldest go first). Counts ([`SimBackend::hw_invalidation_total`] and
    /// the like) cover the whole run whatever the capacity. The default,
    /// [`DEFAULT_CAPACITY`](crate::backend::sim::journal::DEFAULT_CAPACITY),
    /// bounds what a guest's commands cost the host in memory.
    pub fn set_journal_capacity(&self, entries: usize) {
        let mut st = self.lock();
        st.hw_log.set_capacity(entries);
        st.kernel_log.set_capacity(entries);
    }
}
