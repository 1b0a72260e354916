//! The device on a VMM's bus: both windows of a shared device through
//! rust-vmm `vm-device` (the adapters, then a guest's whole bring-up through
//! an `IoManager` with the VINTF page as a memory slot, which must look to
//! the guest exactly as through `GuestBus`), and the device behind the bus's
//! lock.

use super::*;

#[test]
fn windows_plug_into_a_vm_device_bus() {
    use vm_device::bus::MmioAddress;
    use vm_device::MutDeviceMmio;
    let mut r = rig();
    r.plug_all();
    let Rig {
        sim, bus, baseline, ..
    } = r;
    let shared = Arc::new(std::sync::Mutex::new(bus.into_device()));
    let (smmu, cmdqv) = Window::pair(&shared);
    let mut smmu = MmioAdapter::new(smmu);
    let mut cmdqv = MmioAdapter::new(cmdqv);
    let base = MmioAddress(SMMU);
    smmu.mmio_write(base, sm::IRQ_CTRL::OFFSET as u64, &3u32.to_le_bytes());
    let mut b = [0u8; 4];
    MutDeviceMmio::mmio_read(&mut smmu, base, sm::IRQ_CTRLACK::OFFSET as u64, &mut b);
    assert_eq!(u32::from_le_bytes(b), 3);
    MutDeviceMmio::mmio_read(
        &mut cmdqv,
        MmioAddress(CMDQV),
        cq::PARAM::OFFSET as u64,
        &mut b,
    );
    assert_eq!(u32::from_le_bytes(b), cq::PARAM::RESET);
    {
        let mut dev = shared.lock().unwrap();
        let mut view = dev.cmdqv_window();
        view.mmio_write(cq::CONFIG::OFFSET as u64, &1u32.to_le_bytes());
        MmioDevice::mmio_read(&mut view, cq::STATUS::OFFSET as u64, &mut b);
        assert_eq!(u32::from_le_bytes(b), 1, "STATUS.CMDQV_ENABLED follows");
    }
    drop((smmu, cmdqv));
    // The last handle releases everything, down to the nesting parent and
    // IOAS the device held last: only the two bound devices remain.
    drop(shared);
    assert_eq!(sim.live_objects(), baseline - 2);
    assert_eq!(sim.live_mappings(), 0);
}

#[test]
fn the_device_can_live_behind_a_vmm_bus_lock() {
    fn send<T: Send>() {}
    send::<Vsmmuv3>();
    send::<Window>();
}

/// A guest's physical address space as a guest sees it: 32- and 64-bit
/// loads and stores. Served by the crate's [`GuestBus`] and, below, the way
/// a KVM-based rust-vmm VMM serves it.
trait GuestPhys {
    fn read32(&mut self, gpa: u64) -> u32;
    fn write32(&mut self, gpa: u64, v: u32);
    fn write64(&mut self, gpa: u64, v: u64);
}

impl GuestPhys for GuestBus {
    fn read32(&mut self, gpa: u64) -> u32 {
        GuestBus::read32(self, gpa)
    }
    fn write32(&mut self, gpa: u64, v: u32) {
        GuestBus::write32(self, gpa, v)
    }
    fn write64(&mut self, gpa: u64, v: u64) {
        GuestBus::write64(self, gpa, v)
    }
}

/// A KVM VMM's view: RAM the VMM installed (a memory slot: the VINTF page)
/// is reached without an exit, every other access is an MMIO exit the VMM
/// hands to vm-device's `IoManager`, where both windows of the shared
/// device are registered (`Window::pair` through `MmioAdapter`). After a
/// store to installed RAM the simulated hardware needs its kick, as on
/// [`GuestBus`].
struct KvmGuest {
    io: vm_device::device_manager::IoManager,
    regions: Arc<RecordingRegions>,
    dev: vdev::bus::SharedVsmmuv3,
    exits: u64,
    direct: u64,
}

impl KvmGuest {
    fn new(dev: vdev::bus::SharedVsmmuv3, regions: Arc<RecordingRegions>) -> Self {
        use std::sync::Mutex;
        use vdev::cmdqv::device::CMDQV_WINDOW;
        use vdev::smmuv3::device::SMMU_WINDOW;
        use vm_device::bus::{MmioAddress, MmioRange};
        use vm_device::device_manager::{IoManager, MmioManager};
        let mut io = IoManager::new();
        let (smmu, cmdqv) = Window::pair(&dev);
        for (base, len, w) in [(SMMU, SMMU_WINDOW, smmu), (CMDQV, CMDQV_WINDOW, cmdqv)] {
            let range = MmioRange::new(MmioAddress(base), len).unwrap();
            io.register_mmio(range, Arc::new(Mutex::new(MmioAdapter::new(w))))
                .unwrap();
        }
        KvmGuest {
            io,
            regions,
            dev,
            exits: 0,
            direct: 0,
        }
    }
    fn exit_read(&mut self, gpa: u64, data: &mut [u8]) {
        use vm_device::bus::MmioAddress;
        use vm_device::device_manager::MmioManager;
        self.exits += 1;
        if self.io.mmio_read(MmioAddress(gpa), data).is_err() {
            data.fill(0);
        }
    }
    fn exit_write(&mut self, gpa: u64, data: &[u8]) {
        use vm_device::bus::MmioAddress;
        use vm_device::device_manager::MmioManager;
        self.exits += 1;
        let _ = self.io.mmio_write(MmioAddress(gpa), data);
    }
    fn direct_write32(&mut self, gpa: u64, v: u32) -> bool {
        if !self.regions.write32(gpa, v) {
            return false;
        }
        self.direct += 1;
        self.dev.lock().unwrap().kick();
        true
    }
}

impl GuestPhys for KvmGuest {
    fn read32(&mut self, gpa: u64) -> u32 {
        if let Some(v) = self.regions.read32(gpa) {
            self.direct += 1;
            return v;
        }
        let mut b = [0u8; 4];
        self.exit_read(gpa, &mut b);
        u32::from_le_bytes(b)
    }
    fn write32(&mut self, gpa: u64, v: u32) {
        if !self.direct_write32(gpa, v) {
            self.exit_write(gpa, &v.to_le_bytes());
        }
    }
    fn write64(&mut self, gpa: u64, v: u64) {
        if self.direct_write32(gpa, v as u32) {
            self.write32(gpa + 4, (v >> 32) as u32);
        } else {
            self.exit_write(gpa, &v.to_le_bytes());
        }
    }
}

/// A guest's bring-up of both windows: probe, the SMMU with its emulated
/// command queue, the CMDQV with both VCMDQs, commands through each queue.
/// Returns every value the guest read, in order.
fn guest_bring_up(g: &mut dyn GuestPhys, ram: &SimGuestRam) -> Vec<u32> {
    use sm::enums::CmdOpcode;
    let mut seen = Vec::new();
    let s = |o: usize| SMMU + o as u64;
    let c = |o: usize| CMDQV + o as u64;
    for o in [sm::IDR0::OFFSET, sm::IDR1::OFFSET, sm::IDR5::OFFSET] {
        seen.push(g.read32(s(o)));
    }
    seen.push(g.read32(c(cq::PARAM::OFFSET)));
    // The SMMU: stream table, command queue, enabled.
    g.write64(s(sm::STRTAB_BASE::OFFSET), STRTAB);
    g.write32(s(sm::STRTAB_BASE_CFG::OFFSET), 8);
    g.write64(s(sm::CMDQ_BASE::OFFSET), CMDQ | u64::from(LOG2));
    let cr0 = sm::CR0::SMMUEN.val(1).value | sm::CR0::CMDQEN.val(1).value;
    g.write32(s(sm::CR0::OFFSET), cr0);
    seen.push(g.read32(s(sm::CR0ACK::OFFSET)));
    // The CMDQV: both VCMDQs to VINTF 0, their BASEs, the VINTF on.
    g.write32(c(cq::CONFIG::OFFSET), 1);
    for (qi, mem) in QMEM.iter().enumerate() {
        let v = cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value
            | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(qi as u32).value;
        g.write32(c(cq::CMDQ_ALLOC_MAP::OFFSET + 4 * qi), v);
        g.write64(q(qi, cq::VCMDQ_PAGE1::BASE::OFFSET), mem | u64::from(LOG2));
    }
    g.write32(c(cq::VINTF::CONFIG::OFFSET), 1);
    seen.push(g.read32(c(cq::STATUS::OFFSET)));
    seen.push(g.read32(c(cq::VINTF::STATUS::OFFSET)));
    // Commands on each logical VCMDQ (through the installed page).
    let put = |base: u64, slot: u32, cmd: [u64; 2]| {
        assert!(ram.write_u64(base + u64::from(slot) * 16, cmd[0]));
        assert!(ram.write_u64(base + u64::from(slot) * 16 + 8, cmd[1]));
    };
    let cmds = [
        [CmdOpcode::TLBI_NH_ASID as u64 | (7 << 48), 0],
        [CmdOpcode::CMD_SYNC as u64, 0],
    ];
    for (l, mem) in QMEM.iter().enumerate() {
        g.write32(lv(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
        seen.push(g.read32(lv(l, cq::VINTF_PAGE0::LVCMDQ::STATUS::OFFSET)));
        for (i, cmd) in cmds.iter().enumerate() {
            put(*mem, i as u32, *cmd);
        }
        g.write32(lv(l, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET), 2);
        seen.push(g.read32(lv(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)));
    }
    // And on the emulated command queue.
    for (i, cmd) in cmds.iter().enumerate() {
        put(CMDQ, i as u32, *cmd);
    }
    g.write32(s(sm::CMDQ_PROD::OFFSET), 2);
    seen.push(g.read32(s(sm::CMDQ_CONS::OFFSET)));
    seen.push(g.read32(s(sm::GERROR::OFFSET)));
    seen
}

#[test]
fn the_guest_brings_the_device_up_through_a_vm_device_io_manager() {
    // The reference: the same bring-up through the crate's GuestBus.
    let mut r = rig();
    r.plug_all();
    let want = guest_bring_up(&mut r.bus, &r.ram);
    let want_hw = r.sim.hw_invalidations().len();
    r.finish();

    let mut r = rig();
    r.plug_all();
    let Rig {
        sim,
        ram,
        regions,
        bus,
        baseline,
        ..
    } = r;
    let shared = Arc::new(std::sync::Mutex::new(bus.into_device()));
    let mut g = KvmGuest::new(shared.clone(), regions.clone());
    let seen = guest_bring_up(&mut g, &ram);
    assert_eq!(seen, want, "the same guest-visible outcome on both buses");
    // What the outcome is: the SMMU on (CR0ACK), the CMDQV and VINTF
    // enabled, each VCMDQ enabled with both commands consumed, the emulated
    // queue drained, no GERROR.
    let cr0 = sm::CR0::SMMUEN.val(1).value | sm::CR0::CMDQEN.val(1).value;
    assert_eq!(&seen[4..], &[cr0, 1, 1, 1, 2, 1, 2, 2, 0], "{seen:x?}");
    assert_eq!(seen[3], cq::PARAM::RESET);
    assert_eq!(sim.hw_invalidations().len(), want_hw);
    assert_eq!(want_hw, 4, "two commands through each VCMDQ");
    {
        let d = shared.lock().unwrap();
        assert!(d.core().lc.queue_allocated(0) && d.core().lc.queue_allocated(1));
    }
    assert_eq!(
        regions.installed().len(),
        1,
        "VINTF page 0 is a memory slot"
    );
    assert!(
        g.exits > 0 && g.direct > 0,
        "exits {} direct {}",
        g.exits,
        g.direct
    );
    // Teardown through the shared device; the bus's windows go last.
    shared.lock().unwrap().teardown();
    drop(g);
    drop(shared);
    // The device held the nesting parent and IOAS last: only the two bound
    // devices remain.
    assert_eq!(sim.live_objects(), baseline - 2, "kernel objects leaked");
    assert_eq!(sim.live_mappings(), 0, "mapping leaked");
    assert!(regions.installed().is_empty());
}
