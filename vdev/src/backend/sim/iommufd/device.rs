//! Devices and their attachment: a passthrough device bound to iommufd (what
//! `VFIO_DEVICE_BIND_IOMMUFD` gives a VMM) behind one physical SMMU, attached
//! to a paging HWPT of that SMMU, a nested HWPT (only on a vIOMMU of that
//! SMMU, with its vDEVICE there) or an IOAS through the IOAS's first
//! automatic domain of that SMMU, which dies with its last device.

use super::super::objects::{Obj, Reserved, State};
use super::super::{e, SimBackend};
use crate::backend::{ObjId, Op, Result};

impl State {
    /// Destroys an auto-domain HWPT once no device is attached to it.
    pub(crate) fn drop_auto_hwpt(&mut self, hwpt: ObjId) {
        let auto = matches!(
            self.objs.get(&hwpt),
            Some(Obj::HwptPaging { auto: true, .. })
        );
        let used = self
            .objs
            .values()
            .any(|o| matches!(o, Obj::Device { attached, .. } if *attached == Some(hwpt)));
        if auto && !used {
            self.objs.remove(&hwpt);
        }
    }

    /// Attaches (or re-attaches) device `idev` to `pt`: a paging HWPT, a nested
    /// HWPT whose vIOMMU has a vDEVICE for the device, or an IOAS (through an
    /// auto domain). Returns the HWPT the device is now attached to.
    pub(crate) fn attach(&mut self, idev: ObjId, pt: ObjId) -> std::result::Result<ObjId, i32> {
        let (vdev, old, smmu) = match self.objs.get(&idev) {
            Some(Obj::Device {
                vdev,
                attached,
                smmu,
                ..
            }) => (*vdev, *attached, *smmu),
            _ => return Err(libc::ENOENT),
        };
        let target = match self.objs.get(&pt) {
            // A page table of another SMMU: the SMMU driver refuses the
            // domain (EINVAL).
            Some(Obj::HwptPaging { smmu: s, .. }) if *s != smmu => return Err(libc::EINVAL),
            Some(Obj::HwptPaging { .. }) => pt,
            Some(Obj::HwptNested { viommu: None, .. }) => pt,
            Some(Obj::HwptNested {
                viommu: Some(viommu),
                ..
            }) => {
                if self.viommu(*viommu).is_some_and(|v| v.smmu != smmu) {
                    return Err(libc::EINVAL);
                }
                let bound = vdev.is_some_and(|v| {
                    matches!(self.objs.get(&v), Some(Obj::Vdevice { viommu: x, .. }) if x == viommu)
                });
                if !bound {
                    // A nested domain on a vIOMMU needs the device's vDEVICE there.
                    return Err(libc::ENOENT);
                }
                pt
            }
            Some(Obj::Ioas { .. }) => self.auto_domain(pt, smmu),
            // The internal access object of a HW queue: not a page table.
            None if self.reserved.get(&pt) == Some(&Reserved::Access) => return Err(libc::EINVAL),
            Some(_) => return Err(libc::EINVAL),
            None => return Err(libc::ENOENT),
        };
        if let Some(Obj::Device { attached, .. }) = self.objs.get_mut(&idev) {
            *attached = Some(target);
        }
        if let Some(o) = old.filter(|o| *o != target) {
            self.drop_auto_hwpt(o);
        }
        Ok(target)
    }

    /// The vIOMMU a device's events go to and its virtual id there: the
    /// device (whose vDEVICE and attachment are `vdev` and `attached`) is
    /// attached to a nested HWPT of a vIOMMU on which it has its vDEVICE.
    /// SMMU event forwarding and the mock's `TRIGGER_VEVENT` both need it.
    pub(crate) fn vmaster(
        &self,
        vdev: Option<ObjId>,
        attached: Option<ObjId>,
    ) -> Option<(ObjId, u64)> {
        let nested_viommu = match attached.and_then(|a| self.objs.get(&a)) {
            Some(Obj::HwptNested {
                viommu: Some(v), ..
            }) => *v,
            _ => return None,
        };
        match vdev.and_then(|v| self.objs.get(&v)) {
            Some(Obj::Vdevice {
                viommu, virt_id, ..
            }) if *viommu == nested_viommu => Some((*viommu, *virt_id)),
            _ => None,
        }
    }

    /// The automatic domain of `ioas` a device behind `smmu` attaching to the
    /// IOAS joins.
    fn auto_domain(&mut self, ioas: ObjId, smmu: usize) -> ObjId {
        // The first automatic domain of the IOAS, in creation order, that
        // takes the device: the core tries each and skips those whose
        // attach fails with EINVAL, here the domains of other SMMUs. Only
        // without one is a new domain made.
        let existing = self
            .objs
            .iter()
            .filter_map(|(id, o)| match o {
                Obj::HwptPaging {
                    ioas: i,
                    smmu: s,
                    auto: true,
                    order,
                    ..
                } if *i == ioas && *s == smmu => Some((*order, *id)),
                _ => None,
            })
            .min()
            .map(|(_, id)| id);
        if let Some(id) = existing {
            return id;
        }
        let id = self.alloc_id();
        let order = self.hwpt_order();
        self.objs.insert(
            id,
            Obj::HwptPaging {
                ioas,
                smmu,
                nest_parent: false,
                vmid: 0,
                auto: true,
                order,
            },
        );
        id
    }
}

impl SimBackend {
    /// Binds a passthrough device with physical StreamID `psid` behind SMMU
    /// 0 (what binding a VFIO cdev to iommufd gives a VMM); returns its
    /// `dev_id`.
    pub fn add_device(&self, psid: u32) -> ObjId {
        let mut st = self.lock();
        bind_device(&mut st, 0, psid)
    }

    /// Binds a passthrough device with physical StreamID `psid` behind SMMU
    /// `smmu` of a host with several ([`super::super::SimModel::Tegra241Smmus`]);
    /// returns its `dev_id`. No such SMMU: `ENODEV` (the VFIO bind of a
    /// device no IOMMU serves).
    pub fn add_device_on(&self, smmu: usize, psid: u32) -> Result<ObjId> {
        if self.host(smmu).is_none() {
            return Err(e(Op::VfioBind, libc::ENODEV));
        }
        let mut st = self.lock();
        Ok(bind_device(&mut st, smmu, psid))
    }

    /// The physical SMMU device `dev_id` sits behind (what a VMM learns from
    /// the device's IOMMU in sysfs), `None` for an unknown device.
    pub fn device_smmu(&self, dev_id: ObjId) -> Option<usize> {
        self.lock().device_smmu(dev_id)
    }

    /// The HWPT device `dev_id` is attached to, `None` when it is detached
    /// (blocked: no DMA) or unknown.
    pub fn device_attachment(&self, dev_id: ObjId) -> Option<ObjId> {
        match self.lock().objs.get(&dev_id) {
            Some(Obj::Device { attached, .. }) => *attached,
            _ => None,
        }
    }

    /// Attaches a device to a HWPT (what `VFIO_DEVICE_ATTACH_IOMMUFD_PT` does
    /// for a VFIO device), with the rules of
    /// [`crate::backend::Selftest::mock_domain_replace`].
    pub fn attach_device(&self, dev_id: ObjId, pt: ObjId) -> Result<()> {
        let mut st = self.begin(Op::VfioAttach)?;
        st.attach(dev_id, pt)
            .map(|_| ())
            .map_err(|x| e(Op::VfioAttach, x))
    }

    /// Detaches a device from whatever it is attached to (what
    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT` does for a VFIO device).
    pub fn detach_device(&self, dev_id: ObjId) -> Result<()> {
        let mut st = self.begin(Op::VfioDetach)?;
        let old = match st.objs.get_mut(&dev_id) {
            Some(Obj::Device { attached, .. }) => attached.take(),
            _ => return Err(e(Op::VfioDetach, libc::ENOENT)),
        };
        if let Some(o) = old {
            st.drop_auto_hwpt(o);
        }
        Ok(())
    }
}

/// A new bound device behind `smmu`.
fn bind_device(st: &mut State, smmu: usize, psid: u32) -> ObjId {
    let id = st.alloc_id();
    st.objs.insert(
        id,
        Obj::Device {
            smmu,
            psid,
            vdev: None,
            attached: None,
        },
    );
    id
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{attached, errno, rig_with, selftest_viommu, sim};
    use crate::backend::sim::SimConfig;
    use crate::backend::uapi::selftest;
    use crate::backend::{uapi, Backend, Device, Error, NestParent, Op, Selftest, Viommu};
    use libc::{EINVAL, ENOENT};

    #[test]
    fn automatic_domain_is_shared_and_reused() {
        let (b, dev, v) = selftest_viommu();
        let dev2 = b.mock_domain(1).unwrap();
        assert_eq!((dev2.stdev_id, dev2.idev_id, dev2.hwpt_id), (7, 8, 4));
        // Replacing onto the IOAS it is already attached through: no change.
        b.mock_domain_replace(dev.stdev_id, 1).unwrap();
        assert_eq!(attached(&b, dev.idev_id), Some(4));
        // The shared domain lives while one device is attached to it.
        b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        let nested = b
            .hwpt_alloc_nested(dev.idev_id, v, selftest::HWPT_DATA_SELFTEST, &[0; 8])
            .unwrap();
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        b.mock_domain_replace(dev.stdev_id, 1).unwrap();
        assert_eq!(attached(&b, dev.idev_id), Some(4));
        // With no device left on it, the domain goes; the next attach makes a
        // new one under the lowest free id.
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        b.mock_domain_replace(dev2.stdev_id, nested).unwrap_err();
        b.destroy(dev2.stdev_id).unwrap();
        assert!(!b.lock().objs.contains_key(&4));
        b.mock_domain_replace(dev.stdev_id, 1).unwrap();
        assert_eq!(attached(&b, dev.idev_id), Some(4));
    }

    #[test]
    fn automatic_domain_first_in_creation_order() {
        let b = sim(SimConfig::tegra241());
        let ioas = b.ioas_alloc().unwrap();
        let (d1, d2, d3) = (b.add_device(0x10), b.add_device(0x11), b.add_device(0x12));
        let filler = b.ioas_alloc().unwrap();
        b.attach_device(d1, ioas).unwrap();
        let h1 = attached(&b, d1).unwrap();
        assert_eq!(h1, 6);
        // A manual paging HWPT on the same IOAS is never picked automatically.
        let manual = b.hwpt_alloc_nest_parent(d1, ioas).unwrap();
        b.attach_device(d2, ioas).unwrap();
        assert_eq!(attached(&b, d2), Some(h1));
        // Make a second automatic domain with a lower id than the first: d1
        // moves to the manual HWPT (h1 dies), d2 too, then d3 and d1 come back.
        b.attach_device(d1, manual).unwrap();
        b.attach_device(d2, manual).unwrap();
        assert!(!b.lock().objs.contains_key(&h1));
        b.destroy(filler).unwrap();
        b.attach_device(d3, ioas).unwrap();
        let h2 = attached(&b, d3).unwrap();
        assert_eq!(h2, filler);
        b.attach_device(d1, ioas).unwrap();
        assert_eq!(attached(&b, d1), Some(h2));
    }

    #[test]
    fn vfio_calls_are_tagged_as_vfio() {
        let b = sim(SimConfig::tegra241());
        let err = b.attach_device(99, 1).unwrap_err();
        assert_eq!((err.op, err.errno), (Op::VfioAttach, libc::ENOENT));
        assert!(err
            .to_string()
            .starts_with("VFIO_DEVICE_ATTACH_IOMMUFD_PT failed: ENOENT"));
        let err = b.detach_device(99).unwrap_err();
        assert_eq!(err.op, Op::VfioDetach);
        assert!(err.to_string().starts_with("VFIO_DEVICE_DETACH_IOMMUFD_PT"));
        assert_eq!(
            Error::new(Op::VfioBind, libc::EBUSY).to_string(),
            format!(
                "VFIO_DEVICE_BIND_IOMMUFD failed: EBUSY ({})",
                std::io::Error::from_raw_os_error(libc::EBUSY)
            )
        );
    }

    #[test]
    fn attaching_a_nested_hwpt_needs_the_vdevice() {
        let r = rig_with(SimConfig::selftest());
        let mock = Device::mock(&r.sim, &r.ioas).unwrap();
        let parent = NestParent::new(&mock, &r.ioas).unwrap();
        let v = Viommu::new(&mock, &parent, 5).unwrap();
        let nested = v
            .alloc_nested(&mock, uapi::selftest::HWPT_DATA_SELFTEST, &[0u8; 8])
            .unwrap();
        let stdev = mock.stdev_id().unwrap();
        assert_eq!(errno(r.sim.mock_domain_replace(stdev, nested.id())), ENOENT);
        assert_eq!(errno(r.sim.mock_domain_replace(stdev, 999)), ENOENT);
        assert_eq!(errno(r.sim.mock_domain_replace(stdev, v.id())), EINVAL);
        // The nested HWPT's own invalidation (mock IOTLB ids 0..=3).
        let t = uapi::selftest::HWPT_INVALIDATE_DATA_SELFTEST;
        let mut e = Vec::new();
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(&3u32.to_le_bytes());
        assert_eq!(r.b.invalidate(nested.id(), t, 8, &e).unwrap(), 1);
        e[4] = 4;
        assert_eq!(errno(r.b.invalidate(nested.id(), t, 8, &e)), EINVAL);
        assert_eq!(
            errno(r.b.invalidate(r.ioas.id(), t, 8, &e)),
            EINVAL,
            "not an invalidation target"
        );
    }
}
