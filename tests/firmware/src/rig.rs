//! The in-process platform: a VMM with `vdev`'s vSMMUv3 (and its CMDQV)
//! over the simulated Tegra241 host, one passthrough device plugged under
//! the StreamID the edu has under QEMU. Every register access of the
//! driver is a guest load or store on a [`GuestBus`] at QEMU virt's SMMU
//! address; queues and tables live in an in-memory guest RAM that the
//! driver, the models and the DMA master share.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use smmu_driver::scenarios::{Fail, Platform};
use smmu_driver::{DmaBuf, Mmio};
use vdev::backend::sim::{SimBackend, SimConfig};
use vdev::backend::{Backend, Device, Ioas, NestParent};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::strtab::Attach;
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, GuestMemory, RecordingRegions};

use crate::master::Master;

/// Guest physical layout: QEMU virt's RAM and SMMU addresses, the CMDQV
/// after the SMMU.
pub const SMMU_BASE: u64 = 0x0905_0000;
/// Guest physical base of the CMDQV window.
pub const CMDQV_BASE: u64 = 0x0910_0000;
/// Guest RAM base (QEMU virt's).
pub const RAM: u64 = 0x4000_0000;
/// Guest RAM size.
pub const RAM_LEN: usize = 16 << 20;
/// Backing page size of the guest RAM (huge pages).
pub const BACKING: u64 = 2 << 20;
/// The plugged device's StreamID in the guest: the edu's under QEMU
/// (requester ID 00:02.0).
pub const VSID: u32 = 0x10;
/// Its physical StreamID on the simulated host.
pub const PSID: u32 = 0x100;

/// In-memory guest RAM: one leaked host buffer seen by the guest at
/// [`RAM`]. The driver's buffers point into it (their device address is
/// the guest physical one) and the models read and write it through
/// [`GuestMemory`]; everything runs on one thread.
pub struct Ram {
    host: usize,
    len: usize,
}

impl Ram {
    fn new() -> Ram {
        let v: &'static mut [u64] = Vec::leak(vec![0u64; RAM_LEN / 8]);
        Ram {
            host: v.as_mut_ptr() as usize,
            len: RAM_LEN,
        }
    }

    fn offset(&self, gpa: u64, len: usize) -> Option<usize> {
        let off = usize::try_from(gpa.checked_sub(RAM)?).ok()?;
        (off.checked_add(len)? <= self.len).then_some(off)
    }
}

impl GuestMemory for Ram {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        let Some(off) = self.offset(gpa, buf.len()) else {
            return false;
        };
        // SAFETY: in range of the leaked buffer, which lives forever; no
        // Rust reference to it exists (the driver holds raw pointers).
        unsafe {
            std::ptr::copy_nonoverlapping(
                (self.host + off) as *const u8,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        true
    }

    fn write(&self, gpa: u64, data: &[u8]) -> bool {
        let Some(off) = self.offset(gpa, data.len()) else {
            return false;
        };
        // SAFETY: as in `read`.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), (self.host + off) as *mut u8, data.len())
        };
        true
    }

    fn is_backed(&self, gpa: u64, len: u64) -> bool {
        len > 0 && usize::try_from(len).is_ok_and(|l| self.offset(gpa, l).is_some())
    }

    fn host_phys(&self, gpa: u64) -> Option<u64> {
        // One contiguous block: host physical = guest physical.
        self.offset(gpa, 1).map(|_| gpa)
    }

    fn backing_page_size(&self, gpa: u64) -> Option<u64> {
        self.offset(gpa, 1).map(|_| BACKING)
    }
}

/// The loopback MMIO backend: the driver's register accesses become guest
/// loads and stores on the bus, at `base` plus the register offset.
#[derive(Clone)]
pub struct Loopback {
    bus: Rc<RefCell<GuestBus>>,
    base: u64,
}

impl Mmio for Loopback {
    fn read32(&self, offset: usize) -> u32 {
        self.bus.borrow_mut().read32(self.base + offset as u64)
    }
    fn read64(&self, offset: usize) -> u64 {
        self.bus.borrow_mut().read64(self.base + offset as u64)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.bus
            .borrow_mut()
            .write32(self.base + offset as u64, value)
    }
    fn write64(&self, offset: usize, value: u64) {
        self.bus
            .borrow_mut()
            .write64(self.base + offset as u64, value)
    }
}

/// The VMM, its guest RAM and the DMA master.
pub struct Rig {
    /// The guest's view of the device models.
    pub bus: Rc<RefCell<GuestBus>>,
    /// The simulated host (kernel and Tegra241 hardware).
    pub sim: SimBackend,
    ram: Arc<Ram>,
    /// Next free guest physical address for [`Rig::alloc`].
    next: u64,
    master: Master,
}

impl Rig {
    /// A VMM with the vSMMUv3 and CMDQV, the device plugged as [`VSID`].
    pub fn new() -> Rig {
        let ram = Arc::new(Ram::new());
        let sim = SimBackend::new(SimConfig::tegra241(), ram.clone());
        let b: Arc<dyn Backend> = Arc::new(sim.clone());
        let ioas = Ioas::new(&b).expect("IOAS");
        ioas.map(RAM, RAM_LEN as u64, 0).expect("map guest RAM");
        let dev = Device::external(&b, sim.add_device(PSID));
        let parent = NestParent::new(&dev, &ioas).expect("nesting parent");
        let regions = Arc::new(RecordingRegions::new());
        // The simulated hardware cannot see the guest's stores into the
        // VINTF page by itself: the lifecycle kicks it.
        let lc = Lifecycle::new(b, parent, regions.clone(), CMDQV_BASE + VINTF0_PAGE0)
            .with_kick(Arc::new(sim.clone()));
        let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
        let info = host_smmuv3_info(&dev).expect("host SMMUv3 info");
        let cfg = Vsmmuv3Config {
            backing_page: BACKING,
            cmdqv: true,
            irqs: Irqs {
                gerror: Arc::new(CountingIrq::new()),
                eventq: Arc::new(CountingIrq::new()),
                cmdqv: Arc::new(CountingIrq::new()),
            },
        };
        let mut vsmmu = Vsmmuv3::new(core, &info, cfg).expect("vSMMUv3");
        vsmmu.plug(&dev, VSID).expect("plug");
        Rig {
            bus: Rc::new(RefCell::new(GuestBus::new(
                vsmmu, regions, SMMU_BASE, CMDQV_BASE,
            ))),
            sim,
            ram,
            next: RAM + 0x10_0000,
            master: Master::new(PSID),
        }
    }

    /// The SMMU's register window.
    pub fn smmu_mmio(&self) -> Loopback {
        Loopback {
            bus: self.bus.clone(),
            base: SMMU_BASE,
        }
    }

    /// The CMDQV's register window.
    pub fn cmdqv_mmio(&self) -> Loopback {
        Loopback {
            bus: self.bus.clone(),
            base: CMDQV_BASE,
        }
    }

    /// What the VMM attached the device to, from the guest's STE.
    pub fn attachment(&self) -> Option<Attach> {
        self.bus.borrow().device().core().attachment(VSID)
    }

    /// `bytes` of guest RAM aligned to `align`, zeroed; `None` when the
    /// RAM is exhausted.
    pub fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuf<'static>> {
        let align = align as u64;
        if !align.is_power_of_two() || !bytes.is_multiple_of(8) {
            return None;
        }
        let gpa = self.next.checked_add(align - 1)? & !(align - 1);
        let off = self.ram.offset(gpa, bytes)?;
        self.next = gpa + bytes as u64;
        // SAFETY: a fresh, disjoint, 8-byte aligned piece of the leaked
        // buffer that is never handed out again; only raw-pointer accesses
        // reach it.
        let mut b = unsafe { DmaBuf::from_raw((self.ram.host + off) as *mut u64, bytes / 8, gpa) };
        b.zero();
        Some(b)
    }

    /// Runs one transfer of the DMA master, then lets the VMM copy the
    /// faults the host reported into the guest's event queue.
    fn dma(&mut self, addr: u64, len: u32, write: bool) -> Result<(), Fail> {
        if len > crate::master::BUF_LEN {
            return Err(Fail::Msg("DMA longer than the master's buffer"));
        }
        let attach = self.attachment();
        let (ram, sim, bus) = (&*self.ram, &self.sim, &self.bus);
        self.master
            .transfer(attach, addr, len, write, ram, |record| {
                // The kernel forwards some faults to the vEVENTQ and drops the
                // rest (`report_smmu_event` says which); a VMM that keeps up
                // reads the vEVENTQ as soon as it is readable.
                if sim.report_smmu_event(record).is_ok() {
                    bus.borrow_mut().device_mut().service_events();
                }
            });
        Ok(())
    }
}

impl Default for Rig {
    fn default() -> Self {
        Rig::new()
    }
}

impl Platform for Rig {
    type Mmio = Loopback;

    fn smmu_mmio(&mut self) -> Loopback {
        Rig::smmu_mmio(self)
    }

    fn alloc(&mut self, bytes: usize, align: usize) -> Option<DmaBuf<'static>> {
        Rig::alloc(self, bytes, align)
    }

    fn find_dma_master(&mut self) -> Option<u32> {
        self.bus.borrow().device().core().attachment(VSID)?;
        Some(VSID)
    }

    fn dma_read(&mut self, addr: u64, len: u32) -> Result<(), Fail> {
        self.dma(addr, len, false)
    }

    fn dma_write(&mut self, addr: u64, len: u32) -> Result<(), Fail> {
        self.dma(addr, len, true)
    }
}
