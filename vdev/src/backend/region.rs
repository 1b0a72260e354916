//! [`RawRegion`]: checked 32-bit accesses to memory mapped from a device or
//! the kernel, the one place the crate dereferences such a mapping, and
//! [`MmapRegion`], one that unmaps it when dropped.

use std::ptr::NonNull;

use super::MappedRegion;

/// Memory this process mapped from a device or the kernel (an iommufd
/// region, a VFIO BAR), accessed only through checked volatile 32-bit loads
/// and stores. It does not own the mapping: whoever created it unmaps it
/// after this value is gone (the real backend's mapping wraps one and
/// `munmap`s in its `Drop`).
///
/// Every access checks the offset against the length, and the alignment of
/// both the offset and the address it would touch (the pointer is not
/// required to be aligned: a misaligned base only makes every access fail),
/// so no call can reach outside the mapping or perform a misaligned access.
#[derive(Debug)]
pub struct RawRegion {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the memory is device or kernel memory (contract of `new`), which any
// thread may access with single aligned volatile words; nothing else is owned.
unsafe impl Send for RawRegion {}
// SAFETY: as above; the accessors take `&self` and issue single volatile words.
unsafe impl Sync for RawRegion {}

impl RawRegion {
    /// Wraps `len` bytes at `ptr`; `None` for a null pointer or a range that
    /// wraps around the address space.
    ///
    /// # Safety
    ///
    /// For as long as the value lives:
    /// * `[ptr, ptr + len)` is mapped, readable and writable by this process;
    /// * the memory is not accessed through Rust references (it is device or
    ///   kernel memory, or memory only this value accesses), so volatile
    ///   accesses from any thread cannot form a data race with Rust code.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Option<Self> {
        (ptr as usize).checked_add(len)?;
        Some(RawRegion {
            ptr: NonNull::new(ptr)?,
            len,
        })
    }

    /// The word at byte `offset`, if it lies inside and is 4-byte aligned,
    /// both as an offset (what the device sees) and as an address (what the
    /// CPU needs).
    fn word(&self, offset: usize) -> Option<*mut u32> {
        if !offset.is_multiple_of(4) || offset.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY (of `add`): `offset + 4 <= len`, inside the mapping.
        let p = unsafe { self.ptr.as_ptr().add(offset) } as *mut u32;
        p.is_aligned().then_some(p)
    }
}

impl MappedRegion for RawRegion {
    fn len(&self) -> usize {
        self.len
    }
    fn read32(&self, offset: usize) -> Option<u32> {
        let p = self.word(offset)?;
        // SAFETY: in bounds, aligned, mapped readable (contract of `new`);
        // volatile because a device or the kernel owns the contents.
        Some(unsafe { std::ptr::read_volatile(p) })
    }
    fn write32(&self, offset: usize, value: u32) -> bool {
        let Some(p) = self.word(offset) else {
            return false;
        };
        // SAFETY: as in `read32`; mapped writable.
        unsafe { std::ptr::write_volatile(p, value) };
        true
    }
    fn host_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

/// A shared read/write mapping this process made with `mmap` (an iommufd
/// region): accesses through [`RawRegion`], `munmap` when dropped.
#[cfg(unix)]
#[derive(Debug)]
pub struct MmapRegion {
    raw: RawRegion,
}

#[cfg(unix)]
impl MmapRegion {
    /// Takes over the mapping of `len` bytes at `ptr`. `None` (and the range
    /// unmapped) for a null pointer or a range that wraps around, which no
    /// successful `mmap` returns.
    ///
    /// # Safety
    ///
    /// `ptr` and `len` are exactly what a successful `mmap` with
    /// `PROT_READ | PROT_WRITE` returned, of a device's or the kernel's
    /// memory; nothing else unmaps it or makes Rust references into it.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Option<Self> {
        // SAFETY: mapped readable and writable until `drop` unmaps it, and
        // only accessed through the region (the caller's contract).
        match unsafe { RawRegion::new(ptr, len) } {
            Some(raw) => Some(MmapRegion { raw }),
            None => {
                // SAFETY: the range the caller's mmap returned, unmapped once.
                unsafe { libc::munmap(ptr as *mut libc::c_void, len) };
                None
            }
        }
    }
}

#[cfg(unix)]
impl MappedRegion for MmapRegion {
    fn len(&self) -> usize {
        self.raw.len
    }
    fn read32(&self, offset: usize) -> Option<u32> {
        self.raw.read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) -> bool {
        self.raw.write32(offset, value)
    }
    fn host_ptr(&self) -> *mut u8 {
        self.raw.host_ptr()
    }
}

#[cfg(unix)]
impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: exactly the range mmap returned (contract of `new`),
        // unmapped once, by its only owner.
        unsafe { libc::munmap(self.raw.ptr.as_ptr() as *mut libc::c_void, self.raw.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory of `words` words only the region under test accesses.
    fn backing(words: usize) -> Box<[u32]> {
        vec![0u32; words].into_boxed_slice()
    }

    #[test]
    fn raw_region_checks_bounds() {
        let mut mem = backing(4);
        // SAFETY: 16 bytes of live memory only `r` accesses until `mem` is read.
        let r = unsafe { RawRegion::new(mem.as_mut_ptr() as *mut u8, 16) }.unwrap();
        assert!(r.write32(12, 0x1234_5678));
        assert_eq!(r.read32(12), Some(0x1234_5678));
        assert_eq!(r.read32(16), None);
        assert!(!r.write32(16, 1));
        assert!(!r.write32(13, 1));
        assert_eq!(r.read32(2), None);
        assert_eq!(r.read32(usize::MAX - 1), None);
        assert!(!r.write32(usize::MAX, 1));
        // `r` is not used again: `mem` is read directly from here on.
        assert_eq!(mem[3], 0x1234_5678);
    }

    #[test]
    fn raw_region_with_a_misaligned_base_refuses_every_access() {
        let mut mem = backing(4);
        // SAFETY: 12 bytes from byte 1 of live memory only `r` accesses.
        let r = unsafe { RawRegion::new((mem.as_mut_ptr() as *mut u8).add(1), 12) }.unwrap();
        for off in 0..16 {
            assert_eq!(r.read32(off), None, "offset {off}");
            assert!(!r.write32(off, u32::MAX), "offset {off}");
        }
        // `r` is not used again: `mem` is read directly from here on.
        assert!(mem.iter().all(|w| *w == 0));
    }

    #[test]
    fn raw_region_refuses_null_and_wrapping_ranges() {
        // SAFETY: refused before any access.
        assert!(unsafe { RawRegion::new(std::ptr::null_mut(), 4) }.is_none());
        let top = std::ptr::without_provenance_mut::<u8>(usize::MAX);
        // SAFETY: refused before any access.
        assert!(unsafe { RawRegion::new(top, 2) }.is_none());
    }
}
