//! Regions a driver publishes for mmap (the VINTF page 0, the mock's pages):
//! offsets from the second page on, first fit, reused once their owner is
//! gone; `mmap()` of exactly one region's offset and length; a live mapping
//! keeps its owner from being destroyed.

use std::sync::Arc;

use super::super::objects::{MmapEntry, State};
use super::super::tegra241::hw::PageMem;
use super::super::{e, Shared, SimBackend};
use crate::backend::{MappedRegion, ObjId, Op, Result};

/// A mapping of a simulated region.
struct SimMapping {
    sh: Arc<Shared>,
    offset: u64,
    page: Arc<PageMem>,
}

impl MappedRegion for SimMapping {
    fn len(&self) -> usize {
        self.page.len()
    }
    fn read32(&self, offset: usize) -> Option<u32> {
        self.page.read(offset)
    }
    fn write32(&self, offset: usize, value: u32) -> bool {
        self.page.write(offset, value)
    }
    fn host_ptr(&self) -> *mut u8 {
        self.page.ptr()
    }
}

impl Drop for SimMapping {
    fn drop(&mut self) {
        let mut st = self.sh.st.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.mmaps.get_mut(&self.offset) {
            e.mapped = e.mapped.saturating_sub(1);
        }
    }
}

/// Publishes a region for mmap at the lowest free offset it fits in,
/// from the second page on, as the kernel's range-allocating maple tree
/// does (offsets of destroyed regions are reused).
pub(crate) fn publish(
    sim: &SimBackend,
    st: &mut State,
    owner: ObjId,
    len: usize,
) -> (u64, Arc<PageMem>) {
    let ps = sim.sh.cfg.page_size;
    let span = |l: usize| (l as u64).div_ceil(ps) * ps;
    let mut off = ps;
    for (start, m) in &st.mmaps {
        if off + span(len) <= *start {
            break;
        }
        off = off.max(start + span(m.page.len()));
    }
    let page = Arc::new(PageMem::new(len));
    st.mmaps.insert(
        off,
        MmapEntry {
            owner,
            page: page.clone(),
            mapped: 0,
        },
    );
    (off, page)
}

/// `mmap()` of the iommufd at `offset`, `length` bytes.
pub(crate) fn map(sim: &SimBackend, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>> {
    let op = Op::Mmap;
    let mut st = sim.begin(op)?;
    let ps = sim.sh.cfg.page_size;
    if length == 0 || !length.is_multiple_of(ps) {
        return Err(e(op, libc::EINVAL));
    }
    // Like the kernel's maple tree: the region containing the offset, which
    // must then start exactly there and have exactly this length.
    let hit = st
        .mmaps
        .range(..=offset)
        .next_back()
        .filter(|(start, m)| offset < **start + m.page.len() as u64)
        .map(|(s, _)| *s);
    let Some(start) = hit else {
        return Err(e(op, libc::ENXIO));
    };
    let entry = st.mmaps.get_mut(&start).ok_or(e(op, libc::ENXIO))?;
    if start != offset || entry.page.len() as u64 != length {
        return Err(e(op, libc::ENXIO));
    }
    entry.mapped += 1;
    Ok(Box::new(SimMapping {
        sh: sim.sh.clone(),
        offset,
        page: entry.page.clone(),
    }))
}

impl SimBackend {
    /// Number of live mappings of simulated regions.
    pub fn live_mappings(&self) -> usize {
        self.lock().mmaps.values().map(|m| m.mapped).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::backend::sim::testing::{errno, rig, sim, RAM};
    use crate::backend::sim::{regs, SimBackend, SimConfig, SimGuestRam};
    use crate::backend::{
        uapi, Backend, Device, Ioas, NestParent, VintfPage, Viommu, ViommuDataIn,
    };
    use crate::vmm::{RecordingRegions, RegionInstaller};
    use libc::{EBUSY, EINVAL, ENXIO};

    /// Where the tests install the page in guest physical memory.
    const GPA: u64 = 0x900_0000;

    #[test]
    fn mmap_offsets_first_fit() {
        let b = sim(SimConfig::tegra241());
        let ioas = b.ioas_alloc().unwrap();
        let dev = b.add_device(0x10);
        let parent = b.hwpt_alloc_nest_parent(dev, ioas).unwrap();
        let alloc = || {
            b.viommu_alloc(
                dev,
                parent,
                uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
                ViommuDataIn::Tegra241,
            )
            .unwrap()
        };
        let len = regs::VINTF_PAGE0_SIZE as u64;
        let (a, c) = (alloc(), alloc());
        assert_eq!((a.mmap_offset, c.mmap_offset), (4096, 4096 + len));
        assert_eq!(a.mmap_length, len);
        // The first region's offset is free again once its vIOMMU is gone.
        b.destroy(a.viommu_id).unwrap();
        let d = alloc();
        assert_eq!((d.viommu_id, d.mmap_offset), (a.viommu_id, 4096));
        let e2 = alloc();
        assert_eq!(e2.mmap_offset, 4096 + 2 * len);
    }

    #[test]
    fn mmap_needs_the_exact_offset_and_length() {
        let r = rig();
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        let (off, len) = (v.data().mmap_offset, v.data().mmap_length);
        assert_eq!(errno(r.b.mmap(off + 4096, len - 4096)), ENXIO);
        assert_eq!(errno(r.b.mmap(off, len - 4096)), ENXIO);
        assert_eq!(errno(r.b.mmap(off, 2 * len)), ENXIO);
        assert_eq!(errno(r.b.mmap(off + (1 << 30), len)), ENXIO);
        assert_eq!(errno(r.b.mmap(off, 100)), EINVAL);
        let m = r.b.mmap(off, len).unwrap();
        assert_eq!(m.len(), 64 << 10);
    }

    #[test]
    fn destroying_a_mapped_viommu_is_ebusy() {
        let r = rig();
        let v = Viommu::new(&r.dev, &r.parent, 0).unwrap();
        let page = v.map_page().unwrap();
        assert_eq!(r.sim.live_mappings(), 1);
        assert_eq!(errno(r.b.destroy(v.id())), EBUSY);
        drop(page);
        assert_eq!(r.sim.live_mappings(), 0);
        // Now only the handle holds it: a raw destroy succeeds.
        r.b.destroy(v.id()).unwrap();
        // Its Drop destroys a second time: refused, and kept for the
        // teardown's retry rather than panicking or leaking the handle.
        drop(v);
        assert_eq!(r.sim.sh.deferred.len(), 1);
    }

    /// A Tegra241 host with a bound device and a nesting parent over 64 KiB
    /// of guest RAM (small enough for Miri), and a vIOMMU with its page.
    fn small_host() -> (SimBackend, Arc<Viommu>, VintfPage) {
        let ram = SimGuestRam::new().with_region(RAM, 64 << 10, 4096);
        let sim = SimBackend::new(SimConfig::tegra241(), Arc::new(ram));
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        let ioas = Ioas::new(&b).unwrap();
        let dev = Device::external(&b, sim.add_device(0x10));
        let parent = NestParent::new(&dev, &ioas).unwrap();
        let v = Viommu::new(&dev, &parent, 0).unwrap();
        let page = v.map_page().unwrap();
        (sim, v, page)
    }

    #[test]
    fn an_installed_page_outlives_its_handles() {
        let (sim, v, page) = small_host();
        let regions = RecordingRegions::new();
        regions.install(GPA, page.shared()).unwrap();
        let id = v.id();
        drop(page);
        drop(v);
        // The installer's handle keeps the mapping, and the mapping the vIOMMU.
        assert_eq!(sim.live_mappings(), 1);
        assert!(sim.lock().objs.contains_key(&id));
        let prod = GPA + regs::lvcmdq(1, regs::PROD) as u64;
        assert!(regions.write32(prod, 5));
        assert_eq!(regions.read32(prod), Some(5));
        regions.remove(GPA, regs::VINTF_PAGE0_SIZE);
        // Unmapped first, then destroyed without a refusal kept for later.
        assert_eq!(sim.live_mappings(), 0);
        assert!(!sim.lock().objs.contains_key(&id));
        assert!(sim.sh.deferred.is_empty());
        assert_eq!(regions.read32(prod), None);
    }

    #[test]
    fn guest_stores_and_hardware_loads_of_the_page_are_atomic() {
        // The "guest" stores through the installed region while the
        // "hardware" loads the same words: both through the page's atomics
        // (Miri reports a data race if either side were a plain access).
        let (_sim, _v, page) = small_host();
        let regions = Arc::new(RecordingRegions::new());
        regions.install(GPA, page.shared()).unwrap();
        let n = if cfg!(miri) { 50 } else { 5000 };
        let off = regs::lvcmdq(3, regs::PROD);
        let guest = {
            let regions = regions.clone();
            std::thread::spawn(move || {
                for i in 1..=n {
                    assert!(regions.write32(GPA + off as u64, i));
                }
            })
        };
        let mut last = 0;
        while last != n {
            let seen = page.read32(off).unwrap();
            assert!(seen >= last, "stores are seen in order");
            last = seen;
            std::thread::yield_now();
        }
        guest.join().unwrap();
        regions.remove(GPA, regs::VINTF_PAGE0_SIZE);
        // Out of range and misaligned offsets of the page itself.
        assert_eq!(page.read32(regs::VINTF_PAGE0_SIZE), None);
        assert!(!page.write32(regs::VINTF_PAGE0_SIZE - 2, 1));
        assert_eq!(page.read32(off + 1), None);
        assert_eq!(page.read32(usize::MAX), None);
    }
}
