//! The device on a VMM's bus: both windows of a shared device through
//! rust-vmm `vm-device`, and the device behind the bus's lock.

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
