//! IOAS rules: `IOMMU_IOAS_ALLOC`, `IOMMU_IOAS_MAP` (page-aligned, no
//! overlap, backed memory) and `IOMMU_IOAS_UNMAP` (exact areas, none pinned),
//! and the pin a HW queue takes on its memory (every page mapped, physically
//! contiguous).

use super::super::objects::{Area, Obj, State};
use super::super::{e, SimBackend};
use crate::backend::{ObjId, Op, Result};

/// `IOMMU_IOAS_ALLOC`.
pub(crate) fn alloc(sim: &SimBackend) -> Result<ObjId> {
    let mut st = sim.begin(Op::IoasAlloc)?;
    let id = st.alloc_id();
    st.objs.insert(id, Obj::Ioas { areas: Vec::new() });
    Ok(id)
}

/// `IOMMU_IOAS_MAP` of guest memory at IOVA = GPA.
pub(crate) fn map(sim: &SimBackend, ioas: ObjId, iova: u64, length: u64) -> Result<()> {
    let op = Op::IoasMap;
    let ps = sim.sh.cfg.page_size;
    let mut st = sim.begin(op)?;
    if length == 0 || !iova.is_multiple_of(ps) || !length.is_multiple_of(ps) {
        return Err(e(op, libc::EINVAL));
    }
    let end = iova.checked_add(length).ok_or(e(op, libc::EOVERFLOW))?;
    let mem = sim.sh.mem.clone();
    let Some(Obj::Ioas { areas }) = st.objs.get_mut(&ioas) else {
        return Err(e(op, libc::ENOENT));
    };
    if areas.iter().any(|a| a.iova < end && iova < a.iova + a.len) {
        return Err(e(op, libc::EEXIST));
    }
    // The user memory behind the IOVA must exist, as get_user_pages needs.
    if !mem.is_backed(iova, length) {
        return Err(e(op, libc::EFAULT));
    }
    areas.push(Area {
        iova,
        len: length,
        pins: 0,
    });
    Ok(())
}

/// `IOMMU_IOAS_UNMAP` of exactly the areas in `[iova, iova + length)`.
pub(crate) fn unmap(sim: &SimBackend, ioas: ObjId, iova: u64, length: u64) -> Result<()> {
    let op = Op::IoasUnmap;
    let mut st = sim.begin(op)?;
    let Some(Obj::Ioas { areas }) = st.objs.get_mut(&ioas) else {
        return Err(e(op, libc::ENOENT));
    };
    let end = iova.checked_add(length).ok_or(e(op, libc::EOVERFLOW))?;
    let mut hit = false;
    for a in areas
        .iter()
        .filter(|a| a.iova < end && iova < a.iova + a.len)
    {
        hit = true;
        if a.pins > 0 {
            return Err(e(op, libc::EBUSY));
        }
        if a.iova < iova || a.iova + a.len > end {
            return Err(e(op, libc::ENOENT));
        }
    }
    if !hit {
        return Err(e(op, libc::ENOENT));
    }
    areas.retain(|a| !(a.iova < end && iova < a.iova + a.len));
    Ok(())
}

/// Pins `[iova, iova + length)` of `ioas` for a HW queue: every page mapped
/// (ENOENT) and physically contiguous (EFAULT). Returns the base PA and the pin.
pub(crate) fn pin(
    sim: &SimBackend,
    st: &mut State,
    ioas: ObjId,
    iova: u64,
    length: u64,
) -> std::result::Result<(u64, (ObjId, u64, u64)), i32> {
    let ps = sim.sh.cfg.page_size;
    let start = iova & !(ps - 1);
    let offset = iova - start;
    let span = offset
        .checked_add(length)
        .and_then(|l| l.checked_add(ps - 1))
        .ok_or(libc::ERANGE)?
        / ps
        * ps;
    let Some(Obj::Ioas { areas }) = st.objs.get_mut(&ioas) else {
        return Err(libc::ENOENT);
    };
    let npages = span / ps;
    // First every page must be mapped (the pin), then contiguous.
    for i in 0..npages {
        let p = start + i * ps;
        if !areas.iter().any(|a| a.iova <= p && p - a.iova < a.len) {
            return Err(libc::ENOENT);
        }
    }
    // Contiguous as far as the memory can tell: what it cannot tell fails,
    // as scattered pages would in the kernel.
    let mem = &sim.sh.mem;
    if !mem.physically_contiguous(start, span) {
        return Err(libc::EFAULT);
    }
    // A memory that knows no physical addresses (vm-memory's) proved the
    // span lies in one backing page, where the guest address has the
    // physical one's alignment: it stands in for it.
    let base_pa = mem.host_phys(start).unwrap_or(start);
    for a in areas.iter_mut() {
        if a.iova < start + span && start < a.iova + a.len {
            a.pins += 1;
        }
    }
    Ok((base_pa + offset, (ioas, start, span)))
}

impl State {
    /// Unpins a HW queue's range from its IOAS.
    pub(crate) fn unpin(&mut self, pin: (ObjId, u64, u64)) {
        let (ioas, start, len) = pin;
        if let Some(Obj::Ioas { areas }) = self.objs.get_mut(&ioas) {
            for a in areas.iter_mut() {
                if a.iova < start + len && start < a.iova + a.len {
                    a.pins = a.pins.saturating_sub(1);
                }
            }
        }
    }
}

impl SimBackend {
    /// Whether the IOAS area holding `iova` is pinned by a HW queue.
    pub fn is_pinned(&self, ioas: ObjId, iova: u64) -> bool {
        match self.lock().objs.get(&ioas) {
            Some(Obj::Ioas { areas }) => areas
                .iter()
                .any(|a| a.pins > 0 && a.iova <= iova && iova < a.iova + a.len),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::backend::sim::testing::{errno, hwq, rig, FRAG, FRAG_LEN, RAM, RAM_LEN};
    use crate::backend::Viommu;
    use libc::{EBUSY, EFAULT, EIO, ENOENT, EOPNOTSUPP, EOVERFLOW};

    #[test]
    fn hw_queue_memory_rules() {
        let r = rig();
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        assert_eq!(hwq(&r, &v, 0, u64::MAX - 0xfff, 0x2000), EOVERFLOW);
        assert_eq!(
            hwq(&r, &v, 0, 0x1000_0000, 4096),
            ENOENT,
            "not mapped in the IOAS"
        );
        assert_eq!(
            hwq(&r, &v, 0, RAM + RAM_LEN - 4096, 8192),
            ENOENT,
            "runs off the mapping"
        );
        assert_eq!(
            hwq(&r, &v, 0, FRAG, 8192),
            EFAULT,
            "not physically contiguous"
        );
        assert_eq!(hwq(&r, &v, 0, FRAG, 4096), 0, "one page is contiguous");
        assert_eq!(
            errno(r.b.hw_queue_alloc(v.id(), 0x55, 0, RAM, 4096)),
            EOPNOTSUPP,
            "queue type"
        );
        assert_eq!(errno(r.b.hw_queue_alloc(999, 1, 0, RAM, 4096)), ENOENT);
    }

    #[test]
    // Miri does not model it: GuestMemoryMmap mmaps and asks the page size.
    #[cfg_attr(miri, ignore)]
    fn hw_queue_contiguity_on_vm_memory_comes_from_the_backing_page() {
        use crate::backend::sim::{SimBackend, SimConfig};
        use crate::backend::{Backend, Device, Ioas, NestParent};
        use std::sync::Arc;
        use vm_memory::{GuestAddress, GuestMemoryMmap};
        // A VMM's guest RAM: anonymous, so contiguous within a base page and
        // not known to be beyond it.
        let ram = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(RAM), 1 << 20)]).unwrap();
        let page = crate::vmm::GuestMemory::backing_page_size(&ram, RAM).unwrap();
        assert!(page <= 0x1_0000, "{page:#x}");
        let sim = SimBackend::new(SimConfig::tegra241(), Arc::new(ram));
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        let ioas = Ioas::new(&b).unwrap();
        assert_eq!(errno(ioas.map(RAM, 2 << 20, 0)), EFAULT, "past the RAM");
        ioas.map(RAM, 1 << 20, 0).unwrap();
        let dev = Device::external(&b, sim.add_device(0x77));
        let parent = NestParent::new(&dev, &ioas).unwrap();
        let v = Viommu::new(&dev, &parent, 0).unwrap();
        let q = v.alloc_hw_queue(None, RAM + 0x1_0000, page).unwrap();
        let r = v.alloc_hw_queue(Some(&q), RAM + 0x2_0000, 2 * page);
        assert_eq!(errno(r), EFAULT, "two base pages: not known contiguous");
        let r = v.alloc_hw_queue(Some(&q), RAM + 0x2_0100, page);
        assert_eq!(errno(r), EFAULT, "straddles two base pages");
        let q1 = v
            .alloc_hw_queue(Some(&q), RAM + 0x2_0000, page / 2)
            .unwrap();
        drop((q1, q));
    }

    #[test]
    fn hw_queue_pins_its_memory() {
        let r = rig();
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        let q = v.alloc_hw_queue(None, FRAG, 4096).unwrap();
        assert!(r.sim.is_pinned(r.ioas.id(), FRAG));
        assert_eq!(errno(r.ioas.unmap(FRAG, FRAG_LEN)), EBUSY);
        drop(q);
        assert!(!r.sim.is_pinned(r.ioas.id(), FRAG));
        r.ioas.unmap(FRAG, FRAG_LEN).unwrap();
        assert_eq!(errno(r.ioas.unmap(FRAG, FRAG_LEN)), ENOENT);
    }

    #[test]
    fn failed_hw_queue_alloc_leaves_no_pin() {
        let r = rig();
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        assert_eq!(hwq(&r, &v, 1, FRAG, 4096), EIO); // pinned, then refused by the driver
        assert!(!r.sim.is_pinned(r.ioas.id(), FRAG));
    }
}
