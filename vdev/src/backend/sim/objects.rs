//! The kernel's object table: what exists ([`Obj`]), the ids (the lowest
//! free one, tombstones, internal access objects), who keeps whom alive, and
//! `IOMMU_DESTROY` with its order rules.
//!
//! **Ids are the kernel's**: the lowest free id (from 1) for every new
//! object, so destroyed objects' ids are reused; a HW queue also takes the
//! next id for its internal access object; a vDEVICE destroyed with its
//! device leaves its id tombstoned. `tests/kernel` checks these against
//! Linux's selftest mock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::faults::FaultRule;
use super::iommufd::invalidate::KernelInvalidation;
use super::iommufd::veventq::Readable;
use super::journal::Journal;
use super::tegra241::hw::{HwInvalidation, PageMem};
use super::tegra241::{self, Vintf};
use crate::backend::{ObjId, VEvent};

/// A mapped range of an IOAS and how many HW queues pin it.
pub(super) struct Area {
    pub(super) iova: u64,
    pub(super) len: u64,
    pub(super) pins: u32,
}

/// A vIOMMU and what its driver keeps.
pub(super) struct ViommuObj {
    pub(super) hwpt: ObjId,
    /// The physical SMMU it virtualizes (that of the device it was
    /// allocated through).
    pub(super) smmu: usize,
    pub(super) vtype: u32,
    pub(super) mmap_offset: Option<u64>,
    /// The Tegra241 CMDQV VINTF behind it.
    pub(super) vintf: Option<Vintf>,
    /// Selftest mock queues by index.
    pub(super) mock_queues: Vec<Option<ObjId>>,
}

/// A user-visible kernel object.
pub(super) enum Obj {
    Ioas {
        areas: Vec<Area>,
    },
    Device {
        /// The physical SMMU the device sits behind.
        smmu: usize,
        psid: u32,
        vdev: Option<ObjId>,
        attached: Option<ObjId>,
    },
    Stdev {
        idev: ObjId,
    },
    HwptPaging {
        ioas: ObjId,
        /// The SMMU whose page table it is: the allocating device's (a
        /// nesting parent) or the first attached device's (automatic).
        smmu: usize,
        nest_parent: bool,
        vmid: u16,
        /// Created by attaching a device to an IOAS; dies with its last device.
        auto: bool,
        /// Creation order: the kernel keeps an IOAS's HWPTs in a list in
        /// creation order and reuses the first compatible automatic one.
        order: u64,
    },
    HwptNested {
        /// The vIOMMU it was allocated on (`None`: directly on a nesting parent).
        viommu: Option<ObjId>,
        /// The nesting parent, when allocated on one directly.
        parent: ObjId,
    },
    Viommu(ViommuObj),
    Vdevice {
        viommu: ObjId,
        idev: ObjId,
        virt_id: u64,
        sid_slot: Option<usize>,
    },
    HwQueue {
        viommu: ObjId,
        index: u32,
        prev: Option<ObjId>,
        pin: (ObjId, u64, u64),
        /// Id of the internal access object pinning the queue memory.
        access: ObjId,
    },
    Veventq {
        viommu: ObjId,
        vtype: u32,
        depth: u32,
        events: VecDeque<VEvent>,
        /// Sequence number of the next vEVENT (or lost-events marker).
        seq: u32,
        /// The lost-events marker queued after `events`, with its own
        /// sequence number (that of the latest lost event).
        lost: Option<u32>,
        /// The queue's descriptor: readable while something is queued.
        readable: Readable,
    },
}

/// A region published for mmap, its owner and its live mappings.
pub(super) struct MmapEntry {
    pub(super) owner: ObjId,
    pub(super) page: Arc<PageMem>,
    pub(super) mapped: usize,
}

/// An id taken in the kernel's object table without a user-visible object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reserved {
    /// The internal access object a HW queue pins its memory with; it holds
    /// an extra reference, so `IOMMU_DESTROY` on it is EBUSY.
    Access,
    /// What a vDEVICE destroyed with its device leaves: the id is never
    /// reused and destroying it is ENOENT.
    Tombstone,
}

/// The simulated kernel's state, behind the backend's lock.
#[derive(Default)]
pub(super) struct State {
    pub(super) objs: BTreeMap<ObjId, Obj>,
    /// Ids in use that are not keys of `objs`.
    pub(super) reserved: BTreeMap<ObjId, Reserved>,
    /// Next HWPT creation order number.
    pub(super) next_hwpt_order: u64,
    pub(super) mmaps: BTreeMap<u64, MmapEntry>,
    /// Per SMMU: which VINTFs of its CMDQV are taken.
    pub(super) vintf_used: Vec<Vec<bool>>,
    /// Per SMMU: the VMID its next nesting parent takes.
    pub(super) next_vmid: Vec<u16>,
    pub(super) next_psid: u32,
    pub(super) faults: Vec<FaultRule>,
    /// Commands the simulated VCMDQs executed, per (vIOMMU, logical VCMDQ).
    pub(super) hw_log: Journal<HwInvalidation, (u32, u32)>,
    /// Invalidations the simulated kernel performed.
    pub(super) kernel_log: Journal<KernelInvalidation>,
}

impl State {
    /// The lowest free object id, as the kernel's allocating xarray (ids
    /// start at 1) gives it: ids of destroyed objects are reused, tombstones
    /// and internal access objects keep theirs. The caller must insert the
    /// object (or reserve the id) before allocating the next one.
    pub(super) fn alloc_id(&mut self) -> ObjId {
        // The kernel's limit is 2^31 - 1 ids, far beyond what memory holds
        // here, so the search always ends.
        let mut id: ObjId = 1;
        while self.objs.contains_key(&id) || self.reserved.contains_key(&id) {
            id += 1;
        }
        id
    }

    /// The next HWPT creation order number.
    pub(super) fn hwpt_order(&mut self) -> u64 {
        self.next_hwpt_order += 1;
        self.next_hwpt_order
    }

    pub(super) fn viommu(&self, id: ObjId) -> Option<&ViommuObj> {
        match self.objs.get(&id) {
            Some(Obj::Viommu(v)) => Some(v),
            _ => None,
        }
    }

    pub(super) fn viommu_mut(&mut self, id: ObjId) -> Option<&mut ViommuObj> {
        match self.objs.get_mut(&id) {
            Some(Obj::Viommu(v)) => Some(v),
            _ => None,
        }
    }

    /// The physical SMMU of device `id`, if it is one.
    pub(super) fn device_smmu(&self, id: ObjId) -> Option<usize> {
        match self.objs.get(&id) {
            Some(Obj::Device { smmu, .. }) => Some(*smmu),
            _ => None,
        }
    }

    /// Whether anything keeps `id` alive: an object built on it, a device
    /// attached to it, or a live mapping of its region.
    fn users(&self, id: ObjId) -> bool {
        let in_use = self.objs.values().any(|o| match o {
            Obj::HwptPaging { ioas, .. } => *ioas == id,
            Obj::Viommu(v) => v.hwpt == id,
            Obj::HwptNested {
                viommu: Some(viommu),
                ..
            } => *viommu == id,
            Obj::HwptNested {
                viommu: None,
                parent,
            } => *parent == id,
            Obj::Vdevice { viommu, .. } | Obj::Veventq { viommu, .. } => *viommu == id,
            Obj::HwQueue { viommu, prev, .. } => *viommu == id || *prev == Some(id),
            Obj::Device { attached, .. } => *attached == Some(id),
            _ => false,
        });
        in_use || self.mmaps.values().any(|m| m.owner == id && m.mapped > 0)
    }

    /// `IOMMU_DESTROY`: an object nothing uses goes, with what it owns.
    pub(super) fn destroy(&mut self, id: ObjId) -> std::result::Result<(), i32> {
        if self.reserved.get(&id) == Some(&Reserved::Access) {
            // Its HW queue holds a reference.
            return Err(libc::EBUSY);
        }
        if !self.objs.contains_key(&id) {
            return Err(libc::ENOENT);
        }
        if matches!(self.objs.get(&id), Some(Obj::Device { .. })) {
            // The device belongs to its VFIO owner (or its selftest object).
            return Err(libc::EBUSY);
        }
        if self.users(id) {
            return Err(libc::EBUSY);
        }
        if matches!(self.objs.get(&id), Some(Obj::Veventq { readable, .. }) if readable.shared()) {
            // An open vEVENTQ file holds a reference on its object.
            return Err(libc::EBUSY);
        }
        match self.objs.get(&id) {
            Some(Obj::Stdev { idev }) => {
                let idev = *idev;
                self.remove_device(idev);
                self.objs.remove(&id);
            }
            Some(Obj::Vdevice { .. }) => self.destroy_vdevice(id),
            Some(Obj::HwQueue { .. }) => {
                if let Some(Obj::HwQueue {
                    viommu,
                    index,
                    pin,
                    access,
                    ..
                }) = self.objs.remove(&id)
                {
                    self.reserved.remove(&access);
                    self.unpin(pin);
                    if let Some(v) = self.viommu_mut(viommu) {
                        if let Some(vi) = v.vintf.as_mut() {
                            tegra241::free_queue(vi, index as usize);
                        } else if let Some(s) = v.mock_queues.get_mut(index as usize) {
                            *s = None;
                        }
                    }
                }
            }
            Some(Obj::Viommu(_)) => {
                if let Some(Obj::Viommu(v)) = self.objs.remove(&id) {
                    if let Some(off) = v.mmap_offset {
                        self.mmaps.remove(&off);
                    }
                    if let Some(vi) = v.vintf {
                        let used = self.vintf_used.get_mut(v.smmu);
                        if let Some(u) = used.and_then(|u| u.get_mut(vi.idx as usize)) {
                            *u = false;
                        }
                    }
                }
            }
            _ => {
                self.objs.remove(&id);
            }
        }
        Ok(())
    }

    /// Tears a device out: its vDEVICE is forcibly destroyed (SID slot cleared)
    /// and its auto-domain HWPT goes with it.
    pub(super) fn remove_device(&mut self, idev: ObjId) {
        let (vdev, auto) = match self.objs.get(&idev) {
            Some(Obj::Device { vdev, attached, .. }) => (*vdev, *attached),
            _ => return,
        };
        if let Some(vd) = vdev {
            self.destroy_vdevice(vd);
            // The kernel leaves the id tombstoned: the VMM still holds it
            // and must not see it name another object.
            self.reserved.insert(vd, Reserved::Tombstone);
        }
        self.objs.remove(&idev);
        if let Some(h) = auto {
            self.drop_auto_hwpt(h);
        }
    }

    /// Destroys a vDEVICE: its SID slot is cleared, its device unbound.
    fn destroy_vdevice(&mut self, id: ObjId) {
        if let Some(Obj::Vdevice {
            viommu,
            idev,
            sid_slot,
            ..
        }) = self.objs.remove(&id)
        {
            if let (Some(slot), Some(v)) = (sid_slot, self.viommu_mut(viommu)) {
                if let Some(vi) = v.vintf.as_mut() {
                    tegra241::clear_sid_slot(vi, slot);
                }
            }
            if let Some(Obj::Device { vdev, .. }) = self.objs.get_mut(&idev) {
                *vdev = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, rig, selftest_viommu, RAM};
    use crate::backend::uapi::selftest;
    use crate::backend::{Backend, ObjId, Selftest, Viommu, ViommuDataIn};
    use libc::{EBUSY, ENOENT};

    #[test]
    fn freed_ids_are_reused_lowest_first() {
        let (b, dev, v) = selftest_viommu();
        let q = b
            .veventq_alloc(v, selftest::VEVENTQ_TYPE_SELFTEST, 2)
            .unwrap();
        let vd = b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        assert_eq!((q, vd), (7, 8));
        b.destroy(q).unwrap();
        b.destroy(vd).unwrap();
        assert_eq!(b.vdevice_alloc(v, dev.idev_id, 0x88).unwrap(), 7);
        assert_eq!(b.ioas_alloc().unwrap(), 8);
        assert_eq!(b.ioas_alloc().unwrap(), 9);
        // A failed allocation takes no id.
        assert_eq!(errno(b.veventq_alloc(v, 0, 2)), libc::EOPNOTSUPP);
        assert_eq!(
            errno(b.viommu_alloc(dev.idev_id, 5, 0x1234, ViommuDataIn::None)),
            libc::EOPNOTSUPP
        );
        assert_eq!(b.ioas_alloc().unwrap(), 10);
    }

    #[test]
    fn tombstoned_vdevice_id_is_never_reused() {
        let (b, dev, v) = selftest_viommu();
        let vd = b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        assert_eq!(vd, 7);
        // Unplugging the device destroys the vDEVICE but keeps its id.
        b.destroy(v).unwrap_err();
        b.destroy(dev.stdev_id).unwrap();
        assert_eq!(errno(b.destroy(vd)), libc::ENOENT);
        let ids: Vec<ObjId> = (0..4).map(|_| b.ioas_alloc().unwrap()).collect();
        // stdev 2, idev 3 and the automatic HWPT 4 went with the device.
        assert_eq!(ids, vec![2, 3, 4, 8]);
    }

    #[test]
    fn hw_queue_takes_an_access_id() {
        let (b, _dev, v) = selftest_viommu();
        b.ioas_map(1, RAM, 2 * 4096, 0).unwrap();
        let q0 = b
            .hw_queue_alloc(v, selftest::HW_QUEUE_TYPE_SELFTEST, 0, RAM, 4096)
            .unwrap();
        let q1 = b
            .hw_queue_alloc(v, selftest::HW_QUEUE_TYPE_SELFTEST, 1, RAM + 4096, 4096)
            .unwrap();
        assert_eq!((q0, q1), (7, 9));
        // The access object exists but is not the user's to destroy or use.
        assert_eq!(errno(b.destroy(8)), libc::EBUSY);
        assert_eq!(errno(b.invalidate(8, 0, 0, &[])), libc::EINVAL);
        assert_eq!(errno(b.mock_domain_replace(2, 8)), libc::EINVAL);
        assert_eq!(errno(b.destroy(10)), libc::EBUSY, "q1's access");
        assert_eq!(errno(b.destroy(11)), libc::ENOENT);
        // A queue that fails (already taken) leaves no id behind.
        assert_eq!(
            errno(b.hw_queue_alloc(v, selftest::HW_QUEUE_TYPE_SELFTEST, 0, RAM, 4096)),
            libc::EEXIST
        );
        assert_eq!(b.ioas_alloc().unwrap(), 11);
        b.destroy(q1).unwrap();
        b.destroy(q0).unwrap();
        // Both queues' and both accesses' ids are free again.
        let ids: Vec<ObjId> = (0..4).map(|_| b.ioas_alloc().unwrap()).collect();
        assert_eq!(ids, vec![7, 8, 9, 10]);
    }

    #[test]
    fn handles_release_everything_in_order() {
        let r = rig();
        let base = r.sim.live_objects();
        {
            let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
            let _page = v.map_page().unwrap();
            let q0 = v.alloc_hw_queue(None, RAM, 4096).unwrap();
            let q1 = v.alloc_hw_queue(Some(&q0), RAM + 4096, 4096).unwrap();
            drop(q0); // kept alive by q1
            let _vd = v.alloc_vdevice(&r.dev, 3).unwrap();
            let _q = v.alloc_veventq(1).unwrap();
            drop(v); // kept alive by the page, the queue, the vDEVICE, the vEVENTQ
            assert_eq!(r.sim.live_objects(), base + 5);
            drop(q1);
        }
        assert_eq!(r.sim.live_objects(), base);
        assert_eq!(r.sim.live_mappings(), 0);
    }

    #[test]
    fn destroy_refuses_objects_in_use() {
        let r = rig();
        assert_eq!(errno(r.b.destroy(r.ioas.id())), EBUSY, "HWPT on the IOAS");
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        assert_eq!(
            errno(r.b.destroy(r.parent.id())),
            EBUSY,
            "vIOMMU on the parent"
        );
        assert_eq!(errno(r.b.destroy(12345)), ENOENT);
        drop(v);
    }
}
