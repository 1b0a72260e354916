//! Guest memory for the simulator and tests ([`SimGuestRam`]): guest physical
//! address -> bytes, and which host physical address backs each page (for the
//! kernel's contiguity rule on HW queue memory).

use std::sync::Mutex;

use crate::vmm::GuestMemory;

struct Region {
    gpa: u64,
    bytes: Mutex<Vec<u8>>,
    backing_page: u64,
    phys_base: u64,
}

impl Region {
    fn len(&self) -> u64 {
        self.bytes.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
    }
}

/// A [`GuestMemory`] of zero-filled heap regions. Each region is backed by host
/// pages of a chosen size (4 KiB, 2 MiB, 1 GiB...): bytes inside one backing page
/// are physically contiguous, consecutive backing pages are not — as with a
/// memory backend whose pages the host scattered.
#[derive(Default)]
pub struct SimGuestRam {
    regions: Vec<Region>,
}

/// Where synthetic host physical addresses start (simulator parameter).
const PHYS_BASE: u64 = 0x80_0000_0000;

impl SimGuestRam {
    /// No memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `size` bytes at `gpa`, backed by host pages of `backing_page` bytes
    /// (a power of two). Panics on overlapping or malformed regions: this is test
    /// set-up, not guest input.
    pub fn with_region(mut self, gpa: u64, size: u64, backing_page: u64) -> Self {
        assert!(backing_page.is_power_of_two() && backing_page >= 4096);
        assert!(gpa.is_multiple_of(backing_page) && size.is_multiple_of(backing_page) && size > 0);
        for r in &self.regions {
            assert!(gpa + size <= r.gpa || r.gpa + r.len() <= gpa, "overlap");
        }
        // Each region gets its own 2^40-aligned window; backing page k sits at
        // (2k + 1) pages into it, so neighbours are never adjacent.
        let phys_base = PHYS_BASE + ((self.regions.len() as u64 + 1) << 40);
        self.regions.push(Region {
            gpa,
            bytes: Mutex::new(vec![0; size as usize]),
            backing_page,
            phys_base,
        });
        self
    }

    fn find(&self, gpa: u64, len: u64) -> Option<(&Region, usize)> {
        self.regions.iter().find_map(|r| {
            let end = gpa.checked_add(len)?;
            (gpa >= r.gpa && end <= r.gpa + r.len()).then(|| (r, (gpa - r.gpa) as usize))
        })
    }

    /// Writes a little-endian u64 (test helper).
    pub fn write_u64(&self, gpa: u64, v: u64) -> bool {
        self.write(gpa, &v.to_le_bytes())
    }

    /// Reads a little-endian u64 (test helper).
    pub fn read_u64(&self, gpa: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b).then(|| u64::from_le_bytes(b))
    }
}

impl GuestMemory for SimGuestRam {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        match self.find(gpa, buf.len() as u64) {
            Some((r, off)) => {
                let bytes = r.bytes.lock().unwrap_or_else(|p| p.into_inner());
                buf.copy_from_slice(&bytes[off..off + buf.len()]);
                true
            }
            None => false,
        }
    }

    fn write(&self, gpa: u64, data: &[u8]) -> bool {
        match self.find(gpa, data.len() as u64) {
            Some((r, off)) => {
                let mut bytes = r.bytes.lock().unwrap_or_else(|p| p.into_inner());
                bytes[off..off + data.len()].copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    fn is_backed(&self, gpa: u64, len: u64) -> bool {
        len > 0 && self.find(gpa, len).is_some()
    }

    fn host_phys(&self, gpa: u64) -> Option<u64> {
        let (r, off) = self.find(gpa, 1)?;
        let off = off as u64;
        let k = off / r.backing_page;
        Some(r.phys_base + (2 * k + 1) * r.backing_page + off % r.backing_page)
    }

    fn backing_page_size(&self, gpa: u64) -> Option<u64> {
        self.find(gpa, 1).map(|(r, _)| r.backing_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguity_follows_backing_pages() {
        let m = SimGuestRam::new().with_region(0x4000_0000, 0x40_0000, 0x20_0000);
        let a = m.host_phys(0x4000_0000).unwrap();
        assert_eq!(m.host_phys(0x4000_1000).unwrap(), a + 0x1000);
        assert_ne!(m.host_phys(0x4020_0000).unwrap(), a + 0x20_0000);
        assert_eq!(a % 0x20_0000, 0);
        assert!(m.host_phys(0x4040_0000).is_none());
        assert!(m.write_u64(0x4000_0010, 0xabcd));
        assert_eq!(m.read_u64(0x4000_0010), Some(0xabcd));
        assert!(!m.write(0x403f_fffc, &[0; 8]));
    }

    #[test]
    fn a_range_partly_outside_guest_ram_is_not_backed() {
        // What makes a VCMDQ BASE "not programmed": any byte of the queue
        // outside RAM (the CMDQV window's rule, `cmdqv::hooks`).
        let m = SimGuestRam::new()
            .with_region(0x4000_0000, 0x1000, 0x1000)
            .with_region(0x4000_2000, 0x1000, 0x1000);
        assert!(m.is_backed(0x4000_0000, 0x1000));
        assert!(!m.is_backed(0x4000_0000, 0x2000), "runs past the region");
        assert!(!m.is_backed(0x4000_0800, 0x1000), "straddles the end");
        assert!(!m.is_backed(0x4000_1000, 0x2000), "starts in the gap");
        assert!(!m.is_backed(0x3fff_f000, 0x2000), "starts below RAM");
        assert!(!m.is_backed(0x4000_0000, 0), "empty");
        assert!(!m.is_backed(u64::MAX - 0x10, 0x100), "wraps");
    }
}
