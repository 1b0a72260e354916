//! The bus side of the device: how its two register windows reach a VMM's
//! bus, and a guest's view of the physical address space around it.
//!
//! * [`Window`] (a window of a [`SharedVsmmuv3`], for a bus with two
//!   regions; wrap it in [`crate::vmm::MmioAdapter`] for rust-vmm
//!   `vm-device`) and [`CmdqvView`] (the CMDQV window of a borrowed device):
//!   what a VMM registers.
//! * [`GuestBus`]: what a VMM's bus does for the devices' windows, for the
//!   demo, tests and a guest driver running in the same process; one vSMMUv3
//!   or several ([`GuestBus::add_device`]), each with its own two windows.
//!   A guest access at a physical address goes, in order, to RAM the VMM
//!   installed ([`RecordingRegions`]: the VINTF pages while HW queues exist;
//!   no trap), to the device whose SMMU or CMDQV window holds it; anything
//!   else reads as zero. After a store to installed RAM the bus calls
//!   [`Vsmmuv3::kick`] on the device whose CMDQV window the store fell in
//!   (its VINTF page), which on the simulated backend is the hardware
//!   noticing the store (on a real host the hardware runs by itself and the
//!   call only reads the vEVENTQ).

use std::sync::{Arc, Mutex};

use crate::cmdqv::device::CMDQV_WINDOW;
use crate::smmuv3::device::{Vsmmuv3, SMMU_WINDOW};
use crate::vmm::{MmioDevice, RecordingRegions};

impl Vsmmuv3 {
    /// The CMDQV window as an [`MmioDevice`], borrowing the device.
    pub fn cmdqv_window(&mut self) -> CmdqvView<'_> {
        CmdqvView(self)
    }
}

/// The CMDQV window of a borrowed [`Vsmmuv3`] as an [`MmioDevice`]
/// ([`Vsmmuv3::cmdqv_window`]).
pub struct CmdqvView<'a>(&'a mut Vsmmuv3);

impl MmioDevice for CmdqvView<'_> {
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        self.0.cmdqv_read(offset, data);
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        self.0.cmdqv_write(offset, data);
    }
}

/// A [`Vsmmuv3`] shared by its two MMIO windows on a VMM bus.
pub type SharedVsmmuv3 = Arc<Mutex<Vsmmuv3>>;

/// Which register window of a shared device a [`Window`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The SMMU registers ([`SMMU_WINDOW`] bytes).
    Smmu,
    /// The CMDQV registers ([`CMDQV_WINDOW`] bytes).
    Cmdqv,
}

/// One window of a shared [`Vsmmuv3`], to register on a bus (wrap it in
/// [`crate::vmm::MmioAdapter`] for a rust-vmm `vm-device` bus).
#[derive(Clone)]
pub struct Window {
    /// The device.
    pub device: SharedVsmmuv3,
    /// The window.
    pub kind: WindowKind,
}

impl Window {
    /// The SMMU and CMDQV windows of `device`.
    pub fn pair(device: &SharedVsmmuv3) -> (Window, Window) {
        (
            Window {
                device: device.clone(),
                kind: WindowKind::Smmu,
            },
            Window {
                device: device.clone(),
                kind: WindowKind::Cmdqv,
            },
        )
    }
}

impl MmioDevice for Window {
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        let mut d = self.device.lock().unwrap_or_else(|p| p.into_inner());
        match self.kind {
            WindowKind::Smmu => d.smmu_read(offset, data),
            WindowKind::Cmdqv => d.cmdqv_read(offset, data),
        }
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        let mut d = self.device.lock().unwrap_or_else(|p| p.into_inner());
        match self.kind {
            WindowKind::Smmu => d.smmu_write(offset, data),
            WindowKind::Cmdqv => d.cmdqv_write(offset, data),
        }
    }
}

/// Counters of the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusStats {
    /// Accesses that reached installed RAM without a trap.
    pub direct: u64,
    /// Accesses trapped into the SMMU window.
    pub smmu: u64,
    /// Accesses trapped into the CMDQV window.
    pub cmdqv: u64,
    /// Accesses that hit nothing.
    pub unmapped: u64,
}

/// See the module documentation.
pub struct GuestBus {
    /// The devices in the order they were added; the first is
    /// [`GuestBus::device`].
    units: Vec<Unit>,
    regions: Arc<RecordingRegions>,
    stats: BusStats,
}

/// A device on the bus and where its windows are.
struct Unit {
    dev: Vsmmuv3,
    smmu_base: u64,
    cmdqv_base: u64,
}

impl Unit {
    fn windows(&self) -> [(u64, u64); 2] {
        [
            (self.smmu_base, SMMU_WINDOW),
            (self.cmdqv_base, CMDQV_WINDOW),
        ]
    }
}

/// Why [`GuestBus::add_device`] refused a device: one of its windows
/// overlaps a window already on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOverlap {
    /// Guest physical base of the refused window.
    pub base: u64,
    /// Guest physical base of the window it overlaps.
    pub other: u64,
}

impl std::fmt::Display for WindowOverlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a window at {:#x} overlaps the window at {:#x} on the guest bus",
            self.base, self.other
        )
    }
}

impl std::error::Error for WindowOverlap {}

enum Target {
    Smmu(usize, u64),
    Cmdqv(usize, u64),
    None,
}

impl GuestBus {
    /// A bus with the SMMU window at `smmu_base`, the CMDQV window at
    /// `cmdqv_base`, and the RAM regions the device's lifecycle installs
    /// through `regions`.
    pub fn new(
        dev: Vsmmuv3,
        regions: Arc<RecordingRegions>,
        smmu_base: u64,
        cmdqv_base: u64,
    ) -> Self {
        GuestBus {
            units: vec![Unit {
                dev,
                smmu_base,
                cmdqv_base,
            }],
            regions,
            stats: BusStats::default(),
        }
    }

    /// Adds another vSMMUv3 (a VM with several, one per physical SMMU) with
    /// its SMMU window at `smmu_base` and its CMDQV window at `cmdqv_base`;
    /// its lifecycle installs its VINTF page through the bus's
    /// [`RecordingRegions`] too. Returns its index for
    /// [`GuestBus::device_at`]. Windows that overlap one on the bus are
    /// refused, and the refused device is dropped (which tears it down).
    pub fn add_device(
        &mut self,
        dev: Vsmmuv3,
        smmu_base: u64,
        cmdqv_base: u64,
    ) -> Result<usize, WindowOverlap> {
        let new = Unit {
            dev,
            smmu_base,
            cmdqv_base,
        };
        let mut taken: Vec<(u64, u64)> = self.units.iter().flat_map(|u| u.windows()).collect();
        for (base, len) in new.windows() {
            let end = base.saturating_add(len);
            if let Some((other, _)) = taken
                .iter()
                .find(|(b, l)| base < b.saturating_add(*l) && *b < end)
            {
                return Err(WindowOverlap {
                    base,
                    other: *other,
                });
            }
            taken.push((base, len));
        }
        self.units.push(new);
        Ok(self.units.len() - 1)
    }

    /// How many devices are on the bus.
    pub fn devices(&self) -> usize {
        self.units.len()
    }

    /// The (first) device.
    pub fn device(&self) -> &Vsmmuv3 {
        &self.units[0].dev
    }

    /// The (first) device, mutably (plug, unplug, reset, teardown: the
    /// VMM's side).
    pub fn device_mut(&mut self) -> &mut Vsmmuv3 {
        &mut self.units[0].dev
    }

    /// Device `i` (in the order added; 0 is [`GuestBus::device`]).
    pub fn device_at(&self, i: usize) -> Option<&Vsmmuv3> {
        self.units.get(i).map(|u| &u.dev)
    }

    /// Device `i`, mutably.
    pub fn device_at_mut(&mut self, i: usize) -> Option<&mut Vsmmuv3> {
        self.units.get_mut(i).map(|u| &mut u.dev)
    }

    /// Takes the (first) device back (e.g. to share it between bus
    /// windows); the others are dropped, which tears them down.
    pub fn into_device(self) -> Vsmmuv3 {
        self.into_devices().swap_remove(0)
    }

    /// Takes every device back, in the order added.
    pub fn into_devices(self) -> Vec<Vsmmuv3> {
        self.units.into_iter().map(|u| u.dev).collect()
    }

    /// Counters.
    pub fn stats(&self) -> BusStats {
        self.stats
    }

    fn target(&self, gpa: u64) -> Target {
        for (i, u) in self.units.iter().enumerate() {
            if let Some(o) = gpa.checked_sub(u.smmu_base).filter(|o| *o < SMMU_WINDOW) {
                return Target::Smmu(i, o);
            }
            if let Some(o) = gpa.checked_sub(u.cmdqv_base).filter(|o| *o < CMDQV_WINDOW) {
                return Target::Cmdqv(i, o);
            }
        }
        Target::None
    }

    /// A trapped load of `data.len()` bytes at `gpa`.
    fn trap_read(&mut self, gpa: u64, data: &mut [u8]) {
        match self.target(gpa) {
            Target::Smmu(i, o) => {
                self.stats.smmu += 1;
                self.units[i].dev.smmu_read(o, data);
            }
            Target::Cmdqv(i, o) => {
                self.stats.cmdqv += 1;
                self.units[i].dev.cmdqv_read(o, data);
            }
            Target::None => {
                self.stats.unmapped += 1;
                data.fill(0);
            }
        }
    }

    fn trap_write(&mut self, gpa: u64, data: &[u8]) {
        match self.target(gpa) {
            Target::Smmu(i, o) => {
                self.stats.smmu += 1;
                self.units[i].dev.smmu_write(o, data);
            }
            Target::Cmdqv(i, o) => {
                self.stats.cmdqv += 1;
                self.units[i].dev.cmdqv_write(o, data);
            }
            Target::None => self.stats.unmapped += 1,
        }
    }

    /// A guest 32-bit load.
    pub fn read32(&mut self, gpa: u64) -> u32 {
        if let Some(v) = self.regions.read32(gpa) {
            self.stats.direct += 1;
            return v;
        }
        let mut b = [0u8; 4];
        self.trap_read(gpa, &mut b);
        u32::from_le_bytes(b)
    }

    /// A guest 32-bit store.
    pub fn write32(&mut self, gpa: u64, value: u32) {
        if !self.direct_write32(gpa, value) {
            self.trap_write(gpa, &value.to_le_bytes());
        }
    }

    /// A 32-bit store to installed RAM, which the hardware then notices;
    /// `false` when `gpa` is not installed RAM (the store traps).
    fn direct_write32(&mut self, gpa: u64, value: u32) -> bool {
        if !self.regions.write32(gpa, value) {
            return false;
        }
        self.stats.direct += 1;
        // The VINTF page is installed inside its device's CMDQV window.
        match self.target(gpa) {
            Target::Cmdqv(i, _) => self.units[i].dev.kick(),
            // RAM installed elsewhere: any device may have noticed.
            _ => self.units.iter_mut().for_each(|u| u.dev.kick()),
        }
        true
    }

    /// A guest 64-bit load (trapped windows only; installed RAM is read as
    /// two 32-bit halves).
    pub fn read64(&mut self, gpa: u64) -> u64 {
        if let Some(lo) = self.regions.read32(gpa) {
            self.stats.direct += 1;
            let hi = self.read32(gpa + 4);
            return u64::from(lo) | (u64::from(hi) << 32);
        }
        let mut b = [0u8; 8];
        self.trap_read(gpa, &mut b);
        u64::from_le_bytes(b)
    }

    /// A guest 64-bit store.
    pub fn write64(&mut self, gpa: u64, value: u64) {
        if self.direct_write32(gpa, value as u32) {
            self.write32(gpa + 4, (value >> 32) as u32);
            return;
        }
        self.trap_write(gpa, &value.to_le_bytes());
    }
}
