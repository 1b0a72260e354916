//! rust-vmm `vm-memory` guest memory as the models' [`GuestMemory`]: every
//! `vm_memory::GuestMemory` (a VMM's `GuestMemoryMmap`) directly, a
//! `GuestAddressSpace` (`GuestMemoryAtomic`) through [`AddressSpace`].
//!
//! Accesses are vm-memory's own (volatile copies through its slices); a
//! range is checked whole before anything is copied, so a partly backed
//! access reads or writes nothing. vm-memory knows no host physical
//! addresses, so [`GuestMemory::host_phys`] is `None`; the backing page size
//! comes from the region's backing file where it has one (a hugetlbfs file
//! or a `MFD_HUGETLB` memfd: its huge page size), else it is the host's base
//! page size (anonymous memory; anonymous `MAP_HUGETLB` mappings are not
//! told apart through vm-memory's region trait, so they count as base pages,
//! which only understates contiguity).

use vm_memory::{GuestAddress, GuestAddressSpace, GuestMemoryRegion};

use super::GuestMemory;

/// `[gpa, gpa + len)` as vm-memory takes it, if wholly backed.
fn whole<M: vm_memory::GuestMemory + ?Sized>(m: &M, gpa: u64, len: usize) -> bool {
    len > 0 && gpa.checked_add(len as u64).is_some() && m.check_range(GuestAddress(gpa), len)
}

fn read<M: vm_memory::GuestMemory + ?Sized>(m: &M, gpa: u64, buf: &mut [u8]) -> bool {
    use vm_memory::Bytes;
    buf.is_empty() || (whole(m, gpa, buf.len()) && m.read_slice(buf, GuestAddress(gpa)).is_ok())
}

fn write<M: vm_memory::GuestMemory + ?Sized>(m: &M, gpa: u64, data: &[u8]) -> bool {
    use vm_memory::Bytes;
    data.is_empty() || (whole(m, gpa, data.len()) && m.write_slice(data, GuestAddress(gpa)).is_ok())
}

fn is_backed<M: vm_memory::GuestMemory + ?Sized>(m: &M, gpa: u64, len: u64) -> bool {
    usize::try_from(len).is_ok_and(|len| whole(m, gpa, len))
}

/// The host's base page size.
fn base_page() -> u64 {
    // SAFETY: sysconf only reads a system value.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// The page size of a file's mapping when it is not the base page: the huge
/// page size of a hugetlbfs file (memfds with `MFD_HUGETLB` are hugetlbfs
/// files too).
#[cfg(target_os = "linux")]
pub(crate) fn file_page_size(f: &std::fs::File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero statfs is a valid value of the plain C structure.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `f` is an open file for the call and `st` a live, writable
    // statfs the kernel fills.
    if unsafe { libc::fstatfs(f.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    (st.f_type == libc::HUGETLBFS_MAGIC)
        .then(|| u64::try_from(st.f_bsize).ok())
        .flatten()
        .filter(|p| p.is_power_of_two())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn file_page_size(_f: &std::fs::File) -> Option<u64> {
    None
}

/// See [`GuestMemory::backing_page_size`]: the region's page size, reduced
/// until guest and host addresses agree modulo it and the aligned block
/// around `gpa` lies in the region.
fn backing_page_size<M: vm_memory::GuestMemory + ?Sized>(m: &M, gpa: u64) -> Option<u64> {
    let (r, ra) = m.to_region_addr(GuestAddress(gpa))?;
    let hva = r.get_host_address(ra).ok()? as u64;
    let mut p = r
        .file_offset()
        .and_then(|fo| file_page_size(fo.file()))
        .unwrap_or_else(base_page);
    // A P-aligned guest block maps into one P-aligned host block only when
    // the two addresses agree modulo P.
    let skew = hva.wrapping_sub(gpa);
    if skew != 0 {
        p = p.min(1 << skew.trailing_zeros());
    }
    let (start, last) = (r.start_addr().0, r.last_addr().0);
    while p > 1 && (gpa & !(p - 1) < start || gpa | (p - 1) > last) {
        p >>= 1;
    }
    Some(p)
}

impl<M> GuestMemory for M
where
    M: vm_memory::GuestMemory + Send + Sync,
{
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        read(self, gpa, buf)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> bool {
        write(self, gpa, data)
    }
    fn is_backed(&self, gpa: u64, len: u64) -> bool {
        is_backed(self, gpa, len)
    }
    fn backing_page_size(&self, gpa: u64) -> Option<u64> {
        backing_page_size(self, gpa)
    }
}

/// A `vm-memory` address space (`GuestMemoryAtomic<GuestMemoryMmap>`,
/// `Arc<GuestMemoryMmap>`...) as a [`GuestMemory`]: each access takes the
/// current snapshot (`GuestAddressSpace::memory`), so the models see memory
/// the VMM hot-plugged after they were built.
#[derive(Clone)]
pub struct AddressSpace<S>(pub S);

impl<S> GuestMemory for AddressSpace<S>
where
    S: GuestAddressSpace + Send + Sync,
    S::M: vm_memory::GuestMemory,
{
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        read(&*self.0.memory(), gpa, buf)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> bool {
        write(&*self.0.memory(), gpa, data)
    }
    fn is_backed(&self, gpa: u64, len: u64) -> bool {
        is_backed(&*self.0.memory(), gpa, len)
    }
    fn backing_page_size(&self, gpa: u64) -> Option<u64> {
        backing_page_size(&*self.0.memory(), gpa)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vm_memory::mmap::MmapRegionBuilder;
    use vm_memory::{GuestMemoryMmap, GuestRegionMmap};

    use super::*;

    const A: u64 = 0x4000_0000;

    fn mmap(ranges: &[(u64, usize)]) -> GuestMemoryMmap {
        let r: Vec<_> = ranges.iter().map(|&(g, l)| (GuestAddress(g), l)).collect();
        GuestMemoryMmap::from_ranges(&r).unwrap()
    }

    #[test]
    // Miri does not model it: GuestMemoryMmap mmaps.
    #[cfg_attr(miri, ignore)]
    fn accesses_are_whole_or_nothing() {
        // Two adjacent regions and a hole after them.
        let m = mmap(&[(A, 0x2000), (A + 0x2000, 0x1000)]);
        let g: &dyn GuestMemory = &m;
        assert!(g.write(A + 0x1ffc, &0x1122_3344_5566_7788u64.to_le_bytes()));
        let mut b = [0u8; 8];
        assert!(g.read(A + 0x1ffc, &mut b), "across the region boundary");
        assert_eq!(u64::from_le_bytes(b), 0x1122_3344_5566_7788);
        assert!(!g.write(A + 0x2ffc, &[0xaa; 8]), "runs into the hole");
        assert!(g.read(A + 0x2ff8, &mut b));
        assert_eq!(b, [0; 8], "nothing of the refused write landed");
        assert!(!g.read(u64::MAX - 3, &mut b), "overflow");
        assert!(g.is_backed(A, 0x3000));
        assert!(!g.is_backed(A, 0x3001));
        assert!(!g.is_backed(A, 0), "empty");
        assert!(!g.is_backed(u64::MAX, 2));
        assert_eq!(g.host_phys(A), None, "vm-memory knows no physical address");
    }

    #[test]
    // Miri does not model it: GuestMemoryMmap mmaps.
    #[cfg_attr(miri, ignore)]
    fn anonymous_memory_is_contiguous_within_a_base_page() {
        let m = mmap(&[(A, 0x4000)]);
        let g: &dyn GuestMemory = &m;
        let page = base_page();
        assert_eq!(g.backing_page_size(A + 0x10), Some(page));
        assert_eq!(g.backing_page_size(A + 0x4000), None, "not backed");
        assert!(g.physically_contiguous(A, page));
        assert!(g.physically_contiguous(A + 0x100, 0x100));
        assert!(
            !g.physically_contiguous(A + 0x100, page),
            "straddles two pages"
        );
        assert!(!g.physically_contiguous(A, 2 * page));
        assert!(
            !g.physically_contiguous(A + 0x3f00, 0x200),
            "runs off the region"
        );
    }

    #[test]
    // Miri does not model it: GuestMemoryMmap mmaps.
    #[cfg_attr(miri, ignore)]
    fn a_guest_base_that_disagrees_with_the_host_address_shrinks_the_page() {
        // A page-aligned mapping at a guest address 0x800 into a page: no
        // guest block larger than 2 KiB maps into one host page.
        let region = MmapRegionBuilder::<()>::new(0x2000)
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .build()
            .unwrap();
        let gpa = A + 0x800;
        let m =
            GuestMemoryMmap::from_regions(vec![
                GuestRegionMmap::new(region, GuestAddress(gpa)).unwrap()
            ])
            .unwrap();
        let g: &dyn GuestMemory = &m;
        assert_eq!(g.backing_page_size(gpa + 0x10), Some(0x800));
        assert!(g.physically_contiguous(gpa, 0x800));
        assert!(!g.physically_contiguous(gpa + 0x400, 0x800));
    }

    #[cfg(target_os = "linux")]
    #[test]
    // Miri does not model it: memfd, mmap and fstatfs.
    #[cfg_attr(miri, ignore)]
    fn the_page_size_of_a_file_comes_from_its_filesystem() {
        use std::os::fd::FromRawFd;
        let memfd = |flags| {
            // SAFETY: a NUL-terminated name and plain flags.
            let fd =
                unsafe { libc::memfd_create(c"vdev-test".as_ptr(), libc::MFD_CLOEXEC | flags) };
            // SAFETY: a fresh descriptor nothing else owns.
            (fd >= 0).then(|| unsafe { std::fs::File::from_raw_fd(fd) })
        };
        let plain = memfd(0).expect("memfd_create");
        assert_eq!(file_page_size(&plain), None, "tmpfs: the base page");
        // A huge page memfd needs hugetlbfs in the kernel (not free pages:
        // nothing is mapped); where the kernel has none there is nothing to
        // check.
        match memfd(libc::MFD_HUGETLB) {
            Some(huge) => {
                let p = file_page_size(&huge).expect("a hugetlbfs file");
                assert!(p.is_power_of_two() && p >= 1 << 16, "{p:#x}");
            }
            None => eprintln!("no MFD_HUGETLB on this kernel: the hugetlbfs case is not checked"),
        }
    }

    #[test]
    // Miri does not model it: GuestMemoryMmap mmaps.
    #[cfg_attr(miri, ignore)]
    fn an_address_space_sees_the_current_memory() {
        let m = Arc::new(mmap(&[(A, 0x1000)]));
        let s = AddressSpace(m.clone());
        let g: &dyn GuestMemory = &s;
        assert!(g.write(A, &[1, 2, 3, 4]));
        let mut b = [0u8; 4];
        assert!(GuestMemory::read(m.as_ref(), A, &mut b));
        assert_eq!(b, [1, 2, 3, 4]);
        assert_eq!(g.backing_page_size(A), Some(base_page()));
        assert!(!g.is_backed(A + 0x1000, 1));
    }
}
