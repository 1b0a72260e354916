//! What a VMM plugs the device models into: guest memory, a way to install host
//! memory as guest RAM, interrupt lines, device attachment, and an adapter onto
//! the rust-vmm `vm-device` MMIO bus.
//!
//! These are the VMM-facing traits; the production path (device models, real
//! backend) depends on them and never on the simulator, which implements some
//! of them for tests (`sim::SimGuestRam` is a [`GuestMemory`], `SimBackend` a
//! [`DeviceAttach`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use vm_device::bus::{MmioAddress, MmioAddressOffset};
use vm_device::MutDeviceMmio;

use crate::backend::{MappedRegion, ObjId, Result, SharedRegion};

mod vm_mem;
pub use vm_mem::AddressSpace;

/// Guest memory: what the VMM hands the device models (queues, tables and
/// event records live there) and, in tests, the simulated backend. An IOAS
/// IOVA is a guest physical address of this memory (the VMM maps guest RAM at
/// IOVA = GPA).
///
/// A VMM built on rust-vmm passes its `vm-memory` guest memory as it is:
/// every `vm_memory::GuestMemory` (`GuestMemoryMmap`, any
/// `GuestRegionContainer`) implements this trait, and [`AddressSpace`] wraps a
/// `GuestAddressSpace` (`GuestMemoryAtomic`, for memory hot-plug). The
/// simulator's [`crate::backend::sim::SimGuestRam`] is the other
/// implementation.
///
/// Physical contiguity is optional knowledge: the device models never need
/// it (the kernel checks it on a real host), only the simulator's model of
/// the kernel's HW queue rule asks [`GuestMemory::physically_contiguous`],
/// which uses [`GuestMemory::host_phys`] where the memory knows it and the
/// backing page size ([`GuestMemory::backing_page_size`]) otherwise.
pub trait GuestMemory: Send + Sync {
    /// Copies `buf.len()` bytes from `gpa`; `false` if any byte is not backed.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool;
    /// Copies `data` to `gpa`; `false` (and nothing written) if any byte is not backed.
    fn write(&self, gpa: u64, data: &[u8]) -> bool;
    /// Whether every byte of `[gpa, gpa + len)` is guest RAM; `false` for an
    /// empty or overflowing range.
    fn is_backed(&self, gpa: u64, len: u64) -> bool;
    /// The host physical address backing `gpa`, if the memory knows it (a
    /// simulator; a VMM that reads `/proc/self/pagemap`). `None` by default.
    fn host_phys(&self, gpa: u64) -> Option<u64> {
        let _ = gpa;
        None
    }
    /// The size `P` (a power of two) of the host page backing `gpa`, in the
    /// guest's terms: the `P`-aligned block of guest addresses around `gpa`,
    /// as far as this memory backs it, lies in one host page (4 KiB, 2 MiB,
    /// 1 GiB...), so it is physically contiguous. `None` when unknown; the
    /// device models then assume the smallest page.
    fn backing_page_size(&self, gpa: u64) -> Option<u64> {
        let _ = gpa;
        None
    }
    /// Whether `[gpa, gpa + len)` is backed by physically contiguous host
    /// memory, as far as the memory can tell: with [`GuestMemory::host_phys`],
    /// every backing page (at least 4 KiB) must follow the previous one, which
    /// costs one look-up per page of `len`; without it the range must lie in
    /// one backing page. `false` when it cannot tell: the kernel's rule fails
    /// closed.
    fn physically_contiguous(&self, gpa: u64, len: u64) -> bool {
        let Some(end) = gpa.checked_add(len) else {
            return false;
        };
        if !self.is_backed(gpa, len) {
            return false;
        }
        let page = |at: u64| self.backing_page_size(at).filter(|p| p.is_power_of_two());
        let Some(base) = self.host_phys(gpa) else {
            return page(gpa).is_some_and(|p| gpa & !(p - 1) == (end - 1) & !(p - 1));
        };
        let mut at = gpa;
        while at < end {
            match (self.host_phys(at), base.checked_add(at - gpa)) {
                (Some(pa), Some(want)) if pa == want => {}
                _ => return false,
            }
            let step = page(at).unwrap_or(4096).max(4096);
            at = match (at & !(step - 1)).checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        true
    }
}

/// Why the VMM could not install a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionError(pub String);

impl std::fmt::Display for RegionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "region install failed: {}", self.0)
    }
}

impl std::error::Error for RegionError {}

/// Installs host memory into the guest physical address space as RAM (a KVM
/// memory slot, a `RamDevice` subregion in QEMU terms). The models use it for
/// the mmap'd VINTF page 0, so guest loads and stores reach the hardware
/// without a trap.
///
/// The installer receives the mapping itself, shared ([`SharedRegion`]), not a
/// raw pointer: holding it until [`RegionInstaller::remove`] keeps the memory
/// mapped, so an installed region cannot outlive its mapping whatever order
/// the model and the VMM drop things in. A VMM mapping it into a memory slot
/// uses `region.host_ptr()` and `region.len()` (the slot registration is the
/// VMM's own `unsafe` call) and must keep the handle while the slot exists.
pub trait RegionInstaller: Send + Sync {
    /// Maps `region` at guest physical `gpa`, keeping the handle until
    /// [`RegionInstaller::remove`] for the same `gpa`.
    fn install(&self, gpa: u64, region: SharedRegion) -> std::result::Result<(), RegionError>;
    /// Removes the region installed at `gpa` (`len` bytes) and drops the
    /// installer's handle; accesses trap again afterwards.
    fn remove(&self, gpa: u64, len: usize);
}

/// An interrupt line of the device (wired SPI or a fixed MSI route).
pub trait IrqLine: Send + Sync {
    /// Drives the line to `level`.
    fn set_level(&self, level: bool);
    /// An edge: the line goes high then low (SMMUv3 wired interrupts are edges).
    fn pulse(&self) {
        self.set_level(true);
        self.set_level(false);
    }
}

/// Attaches a passthrough device to an iommufd page table. For a VFIO device
/// this is `VFIO_DEVICE_ATTACH_IOMMUFD_PT` on the device's cdev, which is not an
/// iommufd call, so the VMM provides it.
pub trait DeviceAttach: Send + Sync {
    /// Attaches (or re-attaches) device `dev_id` to HWPT `pt`.
    fn attach(&self, dev_id: ObjId, pt: ObjId) -> Result<()>;
    /// Detaches device `dev_id` (`VFIO_DEVICE_DETACH_IOMMUFD_PT`).
    fn detach(&self, dev_id: ObjId) -> Result<()>;
}

/// A trapped MMIO device: the models implement it on their register window,
/// offsets relative to the window's base.
pub trait MmioDevice {
    /// A guest load of `data.len()` bytes at `offset`. Unmapped or malformed
    /// accesses read as zero.
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]);
    /// A guest store of `data` at `offset`. Unmapped or malformed accesses are
    /// ignored.
    fn mmio_write(&mut self, offset: u64, data: &[u8]);
}

/// Adapter putting an [`MmioDevice`] on a rust-vmm `vm-device` bus
/// (`MutDeviceMmio`), e.g. behind a `Mutex` in an `IoManager`.
pub struct MmioAdapter<D> {
    /// The device.
    pub device: D,
}

impl<D> MmioAdapter<D> {
    /// Wraps `device`.
    pub fn new(device: D) -> Self {
        MmioAdapter { device }
    }
}

impl<D: MmioDevice> MutDeviceMmio for MmioAdapter<D> {
    fn mmio_read(&mut self, _base: MmioAddress, offset: MmioAddressOffset, data: &mut [u8]) {
        self.device.mmio_read(offset, data);
    }
    fn mmio_write(&mut self, _base: MmioAddress, offset: MmioAddressOffset, data: &[u8]) {
        self.device.mmio_write(offset, data);
    }
}

/// A [`RegionInstaller`] that records the installed regions, for tests and the
/// demo's guest bus: it can perform guest accesses to installed RAM itself, as
/// a CPU would without trapping.
///
/// Accesses go through the installed [`SharedRegion`]'s checked accessors
/// with the region table locked, so a [`RegionInstaller::remove`] returns
/// only after every access that found the region has finished, and none
/// starts afterwards.
#[derive(Default)]
pub struct RecordingRegions {
    regions: Mutex<BTreeMap<u64, SharedRegion>>,
    installs: AtomicU64,
    removes: AtomicU64,
    refuse: Mutex<bool>,
}

impl RecordingRegions {
    /// No region installed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes further installs fail (to test the models' error paths).
    pub fn refuse_installs(&self, refuse: bool) {
        *self.refuse.lock().unwrap_or_else(|p| p.into_inner()) = refuse;
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<u64, SharedRegion>> {
        self.regions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The installed regions: `(gpa, len)`.
    pub fn installed(&self) -> Vec<(u64, usize)> {
        self.table().iter().map(|(g, r)| (*g, r.len())).collect()
    }

    /// How many installs and removes happened.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.installs.load(Ordering::Relaxed),
            self.removes.load(Ordering::Relaxed),
        )
    }

    /// Runs `f` on the region containing `gpa` and the offset of `gpa` in
    /// it, with the table locked for the whole access; `None` when no
    /// installed region contains `gpa`.
    fn with_region<R>(&self, gpa: u64, f: impl FnOnce(&dyn MappedRegion, usize) -> R) -> Option<R> {
        let table = self.table();
        let (start, region) = table.range(..=gpa).next_back()?;
        let off = usize::try_from(gpa - start).ok()?;
        (off < region.len()).then(|| f(region.as_ref(), off))
    }

    /// A guest 32-bit load from installed RAM, `None` when `gpa` is not in an
    /// installed region (the access would trap), the word does not fit in it,
    /// or the access is misaligned.
    pub fn read32(&self, gpa: u64) -> Option<u32> {
        if !gpa.is_multiple_of(4) {
            return None;
        }
        self.with_region(gpa, |r, off| r.read32(off)).flatten()
    }

    /// A guest 32-bit store to installed RAM; `false` when it would trap, or
    /// is misaligned or does not fit in the region.
    pub fn write32(&self, gpa: u64, value: u32) -> bool {
        if !gpa.is_multiple_of(4) {
            return false;
        }
        self.with_region(gpa, |r, off| r.write32(off, value))
            .unwrap_or(false)
    }
}

impl RegionInstaller for RecordingRegions {
    fn install(&self, gpa: u64, region: SharedRegion) -> std::result::Result<(), RegionError> {
        if *self.refuse.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(RegionError("refused by test".into()));
        }
        // The last byte, in u128: a region may end exactly at 2^64.
        let len = region.len() as u128;
        let last = (gpa as u128 + len)
            .checked_sub(1)
            .filter(|l| len > 0 && *l <= u64::MAX as u128)
            .ok_or_else(|| RegionError(format!("{gpa:#x}: empty or past the address space")))?;
        let mut r = self.table();
        // One region per address: the one starting last at or below our last
        // byte must end at or before `gpa`.
        if let Some((at, old)) = r.range(..=last as u64).next_back() {
            if *at as u128 + old.len() as u128 > gpa as u128 {
                return Err(RegionError(format!(
                    "{gpa:#x} overlaps the region at {at:#x}"
                )));
            }
        }
        r.insert(gpa, region);
        self.installs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn remove(&self, gpa: u64, _len: usize) {
        let gone = self.table().remove(&gpa);
        if gone.is_some() {
            self.removes.fetch_add(1, Ordering::Relaxed);
        }
        // `gone` drops here, after the table's lock: the last holder's
        // munmap (or the simulator's bookkeeping) runs without it.
        drop(gone);
    }
}

/// An [`IrqLine`] that counts rising edges and remembers the level.
#[derive(Default)]
pub struct CountingIrq {
    level: Mutex<bool>,
    edges: AtomicU64,
}

impl CountingIrq {
    /// A low line.
    pub fn new() -> Self {
        Self::default()
    }
    /// Rising edges seen.
    pub fn edges(&self) -> u64 {
        self.edges.load(Ordering::Relaxed)
    }
    /// Current level.
    pub fn level(&self) -> bool {
        *self.level.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl IrqLine for CountingIrq {
    fn set_level(&self, level: bool) {
        let mut l = self.level.lock().unwrap_or_else(|p| p.into_inner());
        if level && !*l {
            self.edges.fetch_add(1, Ordering::Relaxed);
        }
        *l = level;
    }
}

/// An interrupt line shared between a model and the VMM.
pub type SharedIrq = Arc<dyn IrqLine>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RawRegion;
    use std::sync::atomic::{AtomicBool, AtomicU32};
    use std::sync::mpsc;

    struct Reg32(u32);
    impl MmioDevice for Reg32 {
        fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
            if offset == 0 && data.len() == 4 {
                data.copy_from_slice(&self.0.to_le_bytes());
            } else {
                data.fill(0);
            }
        }
        fn mmio_write(&mut self, offset: u64, data: &[u8]) {
            if offset == 0 && data.len() == 4 {
                self.0 = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            }
        }
    }

    #[test]
    fn adapter_forwards_offsets() {
        let mut a = MmioAdapter::new(Reg32(0));
        a.mmio_write(MmioAddress(0x1000), 0, &7u32.to_le_bytes());
        let mut b = [0u8; 4];
        MutDeviceMmio::mmio_read(&mut a, MmioAddress(0x1000), 0, &mut b);
        assert_eq!(u32::from_le_bytes(b), 7);
        MutDeviceMmio::mmio_read(&mut a, MmioAddress(0x1000), 4, &mut b);
        assert_eq!(b, [0; 4]);
    }

    /// A region over `len` bytes from byte `skew` of the words at `base`.
    /// The tests take `base` once (`Vec::as_mut_ptr`, which makes no
    /// reference to the elements) and read the vector only after the last
    /// access through a region: a `&mut` of it in between would invalidate
    /// the regions' pointer (Miri's Stacked Borrows reports it).
    fn raw(base: *mut u32, skew: usize, len: usize) -> SharedRegion {
        // SAFETY: the callers' vectors hold `skew + len` bytes at `base` and
        // are not touched through references while a region is in use.
        Arc::new(unsafe { RawRegion::new((base as *mut u8).add(skew), len) }.unwrap())
    }

    #[test]
    fn recording_regions_route_accesses() {
        let mut mem = vec![0u32; 16];
        let base = mem.as_mut_ptr();
        let r = RecordingRegions::new();
        assert!(!r.write32(0x1000, 1));
        r.install(0x1000, raw(base, 0, 64)).unwrap();
        assert!(r.install(0x1000, raw(base, 0, 64)).is_err());
        // Overlapping either end, inside, or empty: refused.
        assert!(r.install(0xff0, raw(base, 0, 32)).is_err());
        assert!(r.install(0x103c, raw(base, 0, 8)).is_err());
        assert!(r.install(0x1010, raw(base, 0, 4)).is_err());
        assert!(r.install(0x2000, raw(base, 0, 0)).is_err());
        assert_eq!(r.counts(), (1, 0));
        assert_eq!(r.installed(), vec![(0x1000, 64)]);
        assert!(r.write32(0x1004, 0xabcd));
        assert_eq!(r.read32(0x1004), Some(0xabcd));
        assert_eq!(r.read32(0x1040), None);
        assert_eq!(r.read32(0x1002), None);
        r.remove(0x1000, 64);
        assert_eq!(r.read32(0x1004), None);
        assert_eq!(r.counts(), (1, 1));
        assert_eq!(mem[1], 0xabcd);
    }

    #[test]
    fn recording_regions_refuse_out_of_range_and_misaligned_accesses() {
        let mut mem = vec![0u32; 8];
        let base = mem.as_mut_ptr();
        let r = RecordingRegions::new();
        // 6 bytes: the word at 4 would straddle the end.
        r.install(0x1000, raw(base, 0, 6)).unwrap();
        assert!(r.write32(0x1000, 5));
        assert!(!r.write32(0x1004, 1));
        assert_eq!(r.read32(0x1004), None);
        assert_eq!(r.read32(0x1008), None);
        assert_eq!(r.read32(0xffc), None, "below the region");
        for gpa in [0x1001, 0x1002, 0x1003] {
            assert_eq!(r.read32(gpa), None);
            assert!(!r.write32(gpa, 1));
        }
        // A region at the top of the guest address space: no wrap-around.
        r.install(u64::MAX - 3, raw(base, 16, 4)).unwrap();
        assert!(r.write32(u64::MAX - 3, 9));
        assert_eq!(r.read32(u64::MAX - 3), Some(9));
        assert_eq!(r.read32(u64::MAX), None);
        // A host mapping that is not word aligned: every access fails.
        r.install(0x2000, raw(base, 21, 8)).unwrap();
        assert_eq!(r.read32(0x2000), None);
        assert!(!r.write32(0x2000, 1));
        r.remove(0x1000, 6);
        r.remove(u64::MAX - 3, 4);
        r.remove(0x2000, 8);
        assert!(r.installed().is_empty());
        assert_eq!(mem, [5, 0, 0, 0, 9, 0, 0, 0]);
    }

    /// A region of atomic words that records accesses in flight and its own
    /// drop (the "munmap"), and can hold one read open until released.
    struct Watched {
        words: Vec<AtomicU32>,
        in_access: Arc<AtomicBool>,
        unmapped: Arc<AtomicBool>,
        /// A read at offset 0 reports it started and waits for a release.
        gate: Option<(mpsc::Sender<()>, Mutex<mpsc::Receiver<()>>)>,
    }

    impl Watched {
        fn access<R>(&self, f: impl FnOnce() -> R) -> R {
            self.in_access.store(true, Ordering::SeqCst);
            let v = f();
            self.in_access.store(false, Ordering::SeqCst);
            v
        }
    }

    impl MappedRegion for Watched {
        fn len(&self) -> usize {
            self.words.len() * 4
        }
        fn read32(&self, offset: usize) -> Option<u32> {
            self.access(|| {
                if let (0, Some((started, release))) = (offset, &self.gate) {
                    started.send(()).unwrap();
                    release.lock().unwrap().recv().unwrap();
                }
                let w = self
                    .words
                    .get(offset / 4)
                    .filter(|_| offset.is_multiple_of(4))?;
                Some(w.load(Ordering::SeqCst))
            })
        }
        fn write32(&self, offset: usize, value: u32) -> bool {
            self.access(|| match self.words.get(offset / 4) {
                Some(w) if offset.is_multiple_of(4) => {
                    w.store(value, Ordering::SeqCst);
                    true
                }
                _ => false,
            })
        }
        fn host_ptr(&self) -> *mut u8 {
            self.words.as_ptr() as *mut u8
        }
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            assert!(!self.in_access.load(Ordering::SeqCst));
            self.unmapped.store(true, Ordering::SeqCst);
        }
    }

    fn watched(
        gate: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
    ) -> (Watched, Arc<AtomicBool>, Arc<AtomicBool>) {
        let (busy, gone) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let w = Watched {
            words: (0..4).map(|_| AtomicU32::new(0)).collect(),
            in_access: busy.clone(),
            unmapped: gone.clone(),
            gate: gate.map(|(s, r)| (s, Mutex::new(r))),
        };
        (w, busy, gone)
    }

    #[test]
    fn remove_waits_for_the_access_in_flight() {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let (w, busy, gone) = watched(Some((started_tx, release_rx)));
        let r = Arc::new(RecordingRegions::new());
        r.install(0x1000, Arc::new(w)).unwrap();
        let reader = {
            let r = r.clone();
            std::thread::spawn(move || r.read32(0x1000))
        };
        started.recv().unwrap();
        let removed = Arc::new(AtomicBool::new(false));
        let remover = {
            let (r, removed) = (r.clone(), removed.clone());
            std::thread::spawn(move || {
                r.remove(0x1000, 16);
                removed.store(true, Ordering::SeqCst);
            })
        };
        // The remover is blocked behind the read holding the table.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!removed.load(Ordering::SeqCst));
        assert!(busy.load(Ordering::SeqCst));
        release.send(()).unwrap();
        assert_eq!(reader.join().unwrap(), Some(0));
        remover.join().unwrap();
        assert!(
            gone.load(Ordering::SeqCst),
            "the last holder dropped the mapping"
        );
        assert_eq!(r.read32(0x1000), None);
    }

    #[test]
    fn concurrent_remove_and_accesses() {
        let rounds = if cfg!(miri) { 20 } else { 2000 };
        let r = Arc::new(RecordingRegions::new());
        let stop = Arc::new(AtomicBool::new(false));
        let accessor = {
            let (r, stop) = (r.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut hits = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    if r.write32(0x100c, 7) {
                        hits += 1;
                    }
                    if let Some(v) = r.read32(0x100c) {
                        assert!(v == 0 || v == 7);
                    }
                    std::thread::yield_now();
                }
                hits
            })
        };
        for _ in 0..rounds {
            let (w, _, gone) = watched(None);
            r.install(0x1000, Arc::new(w)).unwrap();
            std::thread::yield_now();
            r.remove(0x1000, 16);
            assert!(gone.load(Ordering::SeqCst));
        }
        stop.store(true, Ordering::SeqCst);
        let _hits = accessor.join().unwrap();
        assert_eq!(r.counts(), (rounds, rounds));
        assert!(r.installed().is_empty());
    }

    #[test]
    fn irq_counts_edges() {
        let i = CountingIrq::new();
        i.pulse();
        i.set_level(true);
        i.set_level(true);
        assert_eq!(i.edges(), 2);
        assert!(i.level());
    }
}
