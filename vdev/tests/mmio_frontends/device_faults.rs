//! Event records and device faults: the guest event queue with its
//! overflow handshake, the host's SMMUv3 vEVENTQ (allocated at the first
//! plug, its failure not fatal), and a device fault reported by the SMMU
//! under the physical StreamID reaching the guest under the vSID.

use super::*;

#[test]
fn event_records_reach_the_guest_event_queue_with_overflow() {
    let r = rig();
    const EVQ: u64 = RAM + 0x8_0000;
    let eventq_irq = Arc::new(CountingIrq::new());
    // Rebuild the device with an event queue interrupt the test can see.
    let info = host_smmuv3_info(&r.devs[0]).unwrap();
    let b: Arc<dyn Backend> = Arc::new(r.sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, RAM_LEN, 0).unwrap();
    let parent = NestParent::new(&r.devs[1], &ioas).unwrap();
    let lc =
        Lifecycle::new(b, parent, r.regions.clone(), VINTF_GPA).with_kick(Arc::new(r.sim.clone()));
    let core = SmmuCore::new(lc, Arc::new(r.sim.clone()), r.ram.clone());
    let irqs = Irqs {
        gerror: r.gerror_irq.clone(),
        eventq: eventq_irq.clone(),
        cmdqv: r.cmdqv_irq.clone(),
    };
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: false,
        irqs,
    };
    let mut dev = Vsmmuv3::new(core, &info, cfg).unwrap();
    let rec = [0x10, 0x42, 0, 0];
    assert!(!dev.push_event(&rec), "event queue disabled: record lost");
    let w32 = |d: &mut Vsmmuv3, o: usize, v: u32| d.mmio_write(o as u64, &v.to_le_bytes());
    dev.mmio_write(sm::EVENTQ_BASE::OFFSET as u64, &(EVQ | 1).to_le_bytes());
    w32(&mut dev, sm::IRQ_CTRL::OFFSET, 4);
    w32(&mut dev, sm::CR0::OFFSET, sm::CR0::EVENTQEN.val(1).value);
    assert!(dev.push_event(&rec));
    assert!(dev.push_event(&rec));
    assert_eq!(eventq_irq.edges(), 2);
    assert_eq!(r.ram.read_u64(EVQ + 32), Some(0x10));
    // Two entries, both full: the third is lost and PROD.OVFLG toggles.
    assert!(!dev.push_event(&rec));
    let mut b4 = [0u8; 4];
    dev.mmio_read(sm::EVENTQ_PROD::OFFSET as u64, &mut b4);
    let prod = u32::from_le_bytes(b4);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1);
    // The guest consumes both and acknowledges the overflow.
    w32(&mut dev, sm::EVENTQ_CONS::OFFSET, prod);
    assert!(dev.push_event(&rec));
    assert_eq!(dev.stats().events, 3);
    assert_eq!(dev.stats().events_lost, 2);
    drop(dev);
    drop(ioas);
    r.finish();
}

#[test]
fn the_smmuv3_veventq_follows_the_vintf_and_its_failure_is_not_fatal() {
    // Allocated at the first plug, read without records, released at teardown.
    let mut r = rig();
    let d0 = r.devs[0].clone();
    r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
    let with_queue = r.sim.live_objects();
    assert_eq!(r.bus.device_mut().service_events(), 0);
    assert_eq!(r.bus.device().stats().host_event_errors, 0);
    r.finish();
    // Its allocation fails (the second vEVENTQ of the first plug): the plug
    // succeeds without it (one object fewer), the next plug retries, and
    // nothing leaks.
    let mut r = rig();
    r.sim.inject(Fault {
        op: Some(Op::VeventqAlloc),
        when: FaultWhen::Nth(2),
        errno: libc::ENOMEM,
    });
    let d0 = r.devs[0].clone();
    r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
    assert_eq!(r.bus.device().stats().host_event_errors, 1);
    assert_eq!(r.sim.live_objects(), with_queue - 1);
    let before = r.sim.live_objects();
    let d1 = r.devs[1].clone();
    r.bus.device_mut().plug(&d1, VSIDS[1]).unwrap();
    // vDEVICE, nested HWPT, and now the vEVENTQ.
    assert_eq!(r.sim.live_objects(), before + 3);
    r.bring_up();
    r.finish();
}

/// Physical StreamIDs of the rig's devices (`rig()` binds them in this order).
pub(super) const PSIDS: [u32; 2] = [0x100, 0x200];

/// The guest's event queue.
const EVQ: u64 = RAM + 0x8_0000;

/// An F_TRANSLATION record as the SMMU writes it: StreamID `sid`, SubstreamID
/// 3, a read of `iova` that missed in the stage-1 tables.
pub(super) fn f_translation(sid: u32, iova: u64) -> [u64; 4] {
    let mut e = sm::structs::EvtFTranslation::new()
        .with(sm::structs::EvtFTranslation::SID, u64::from(sid))
        .with(sm::structs::EvtFTranslation::SSV, 1)
        .with(sm::structs::EvtFTranslation::SSID, 3)
        .with(sm::structs::EvtFTranslation::RNW, 1)
        .with(sm::structs::EvtFTranslation::INPUT_ADDR, iova);
    e.set(sm::structs::EvtFTranslation::CLASS, 1);
    e.0
}

impl Rig {
    /// The guest programs its event queue (2^`log2` records at `EVQ`), the
    /// event interrupt and a stream table whose STEs for both vSIDs select
    /// stage-1 translation, then enables the SMMU and the event queue.
    fn guest_event_queue(&mut self, log2: u64) {
        let s = |o: usize| SMMU + o as u64;
        for (i, v) in VSIDS.iter().enumerate() {
            // V, Config = stage 1 translate, S1ContextPtr (a CD table per device).
            let ste0 = 1 | (0b101 << 1) | (RAM + 0xc_0000 + 0x1000 * i as u64);
            assert!(self.ram.write_u64(STRTAB + u64::from(*v) * 64, ste0));
        }
        self.bus.write64(s(sm::STRTAB_BASE::OFFSET), STRTAB);
        self.bus.write32(s(sm::STRTAB_BASE_CFG::OFFSET), 8);
        self.bus.write64(s(sm::EVENTQ_BASE::OFFSET), EVQ | log2);
        self.bus.write32(
            s(sm::IRQ_CTRL::OFFSET),
            sm::IRQ_CTRL::EVENTQ_IRQEN.val(1).value,
        );
        let cr0 = sm::CR0::SMMUEN.val(1).value | sm::CR0::EVENTQEN.val(1).value;
        self.bus.write32(s(sm::CR0::OFFSET), cr0);
        assert_eq!(self.bus.read32(s(sm::CR0ACK::OFFSET)), cr0);
        for v in VSIDS {
            assert!(matches!(
                self.bus.device().core().attachment(v),
                Some(vdev::smmuv3::strtab::Attach::Nested(_))
            ));
        }
    }
    /// The guest's view of record `slot` of its event queue.
    fn guest_record(&self, slot: u64) -> [u64; 4] {
        let mut rec = [0u64; 4];
        for (i, w) in rec.iter_mut().enumerate() {
            *w = self.ram.read_u64(EVQ + slot * 32 + 8 * i as u64).unwrap();
        }
        rec
    }
    fn eventq_prod(&mut self) -> u32 {
        self.bus.read32(SMMU + sm::EVENTQ_PROD::OFFSET as u64)
    }
}

#[test]
fn a_device_fault_reaches_the_guest_under_its_vsid() {
    let mut r = rig();
    r.plug_all();
    r.guest_event_queue(3);
    assert_eq!(r.eventq_prod(), 0);
    // The physical SMMU reports faults of both devices under their physical
    // StreamIDs; the kernel forwards them to the vIOMMU's vEVENTQ.
    let host = [
        f_translation(PSIDS[0], 0x5000),
        f_translation(PSIDS[1], 0x6000),
    ];
    for e in host {
        r.sim.report_smmu_event(e).unwrap();
    }
    // Nothing reaches the guest until the VMM services the vEVENTQ.
    assert_eq!(r.eventq_irq.edges(), 0);
    assert_eq!(r.bus.device_mut().service_events(), 2);
    assert_eq!(r.eventq_prod(), 2);
    assert_eq!(r.eventq_irq.edges(), 2);
    for (i, e) in host.iter().enumerate() {
        let got = sm::structs::EvtFTranslation(r.guest_record(i as u64));
        assert_eq!(
            got.get(sm::structs::EvtFTranslation::SID),
            u64::from(VSIDS[i])
        );
        // Everything but the StreamID is the hardware's record.
        let mut want = *e;
        want[0] = (want[0] & 0xffff_ffff) | (u64::from(VSIDS[i]) << 32);
        assert_eq!(got.0, want, "record {i}");
        assert_eq!(
            got.get(sm::structs::EvtFTranslation::EVENT_ID),
            sm::enums::EventId::F_TRANSLATION as u64
        );
        assert_eq!(
            got.get(sm::structs::EvtFTranslation::INPUT_ADDR),
            0x5000 + 0x1000 * i as u64
        );
    }
    assert_eq!(r.bus.device().stats().events, 2);
    // A stage-2 fault is the host's: the guest never sees it.
    let mut s2 = f_translation(PSIDS[0], 0x7000);
    s2[1] |= 1 << 39;
    assert_eq!(
        r.sim.report_smmu_event(s2).map_err(|e| e.errno),
        Err(libc::EOPNOTSUPP)
    );
    // Unplugged: no vDEVICE, the kernel drops the device's faults.
    r.bus.device_mut().unplug(VSIDS[1]);
    assert!(r.sim.report_smmu_event(host[1]).is_err());
    assert_eq!(r.bus.device_mut().service_events(), 0);
    assert_eq!(r.eventq_prod(), 2);
    // The guest consumes; the next fault lands in the next slot.
    r.bus.write32(SMMU + sm::EVENTQ_CONS::OFFSET as u64, 2);
    r.sim.report_smmu_event(host[0]).unwrap();
    r.bus.device_mut().kick();
    assert_eq!(r.eventq_prod(), 3);
    assert_eq!(
        sm::structs::EvtFTranslation(r.guest_record(2)).0[0] >> 32,
        u64::from(VSIDS[0])
    );
    assert_eq!(r.eventq_irq.edges(), 3);
    r.finish();
}

#[test]
fn device_faults_overflow_the_guest_queue_and_the_host_veventq() {
    // The guest's queue (2 records) overflows: PROD.OVFLG toggles once.
    let mut r = rig();
    r.plug_all();
    r.guest_event_queue(1);
    for i in 0..3 {
        r.sim
            .report_smmu_event(f_translation(PSIDS[0], 0x1000 * i))
            .unwrap();
    }
    assert_eq!(r.bus.device_mut().service_events(), 3);
    let prod = r.eventq_prod();
    assert_eq!(sm::EVENTQ_PROD::WR.read(prod), 2);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1);
    assert_eq!(r.eventq_irq.edges(), 2);
    assert_eq!(r.guest_record(1)[2], 0x1000, "the third record was lost");
    assert_eq!(
        (
            r.bus.device().stats().events,
            r.bus.device().stats().events_lost
        ),
        (2, 1)
    );
    // The guest drains and acknowledges; delivery resumes.
    r.bus.write32(SMMU + sm::EVENTQ_CONS::OFFSET as u64, prod);
    r.sim
        .report_smmu_event(f_translation(PSIDS[1], 0x9000))
        .unwrap();
    assert_eq!(r.bus.device_mut().service_events(), 1);
    assert_eq!(r.guest_record(0)[0] >> 32, u64::from(VSIDS[1]));
    assert_eq!(r.bus.device().stats().events, 3);
    r.finish();

    // The host's vEVENTQ overflows while the VMM is not servicing it: the
    // kernel keeps the first `DEPTH` records and marks the loss after them.
    // The guest's queue (128 records) has room for all of them, yet the loss
    // reaches the guest as a PROD.OVFLG toggle.
    let mut r = rig();
    r.plug_all();
    r.guest_event_queue(7);
    let depth = u64::from(vdev::smmuv3::vevents::DEPTH);
    let overflow_host = |r: &mut Rig, first: u64| {
        for i in first..first + depth + 5 {
            r.sim
                .report_smmu_event(f_translation(PSIDS[0], i << 12))
                .unwrap();
        }
        assert_eq!(r.bus.device_mut().service_events() as u64, depth);
    };
    let cons = SMMU + sm::EVENTQ_CONS::OFFSET as u64;
    assert_eq!(r.eventq_prod(), 0);
    overflow_host(&mut r, 0);
    let prod = r.eventq_prod();
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), depth);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1, "host loss flagged");
    assert_eq!(r.guest_record(depth - 1)[2], (depth - 1) << 12);
    let st = r.bus.device().stats();
    assert_eq!((st.events, st.events_lost), (depth, 1));
    assert_eq!(r.eventq_irq.edges(), depth);
    // Later faults are still delivered, behind the kept records; the flag
    // stays until the guest acknowledges it.
    r.sim
        .report_smmu_event(f_translation(PSIDS[1], 0xa_b000))
        .unwrap();
    assert_eq!(r.bus.device_mut().service_events(), 1);
    let prod = r.eventq_prod();
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), depth + 1);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1);
    assert_eq!(r.guest_record(depth)[0] >> 32, u64::from(VSIDS[1]));
    assert_eq!(r.guest_record(depth)[2], 0xa_b000);
    assert_eq!(r.eventq_irq.edges(), depth + 1);
    // The guest consumes everything but does not acknowledge: a second host
    // loss finds the overflow still pending and does not toggle again.
    r.bus
        .write32(cons, prod & !sm::EVENTQ_PROD::OVFLG.val(1).value);
    overflow_host(&mut r, 0x100);
    let prod = r.eventq_prod();
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), 2 * depth + 1);
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 1, "still pending");
    assert_eq!(r.guest_record(depth + 1)[2], 0x100 << 12);
    // Acknowledged (OVACKFLG = OVFLG): the next host loss toggles OVFLG back.
    r.bus.write32(cons, prod);
    overflow_host(&mut r, 0x200);
    let prod = r.eventq_prod();
    assert_eq!(sm::EVENTQ_PROD::OVFLG.read(prod), 0, "new loss flagged");
    assert_eq!(u64::from(sm::EVENTQ_PROD::WR.read(prod)), 3 * depth + 1);
    let st = r.bus.device().stats();
    assert_eq!((st.events, st.events_lost), (3 * depth + 1, 3));
    // Acknowledged again, then the event queue is disabled: a host loss no
    // longer reaches the guest's registers.
    r.bus.write32(cons, prod);
    r.bus
        .write32(SMMU + sm::CR0::OFFSET as u64, sm::CR0::SMMUEN.val(1).value);
    overflow_host(&mut r, 0x300);
    assert_eq!(r.eventq_prod(), prod);
    let st = r.bus.device().stats();
    assert_eq!((st.events, st.events_lost), (3 * depth + 1, 3 + depth + 1));
    r.finish();
}

/// A VMM's event loop: the device's vEVENTQ descriptors in an epoll set,
/// the device kicked when one is readable, nothing readable once it has
/// read them.
#[cfg(target_os = "linux")]
#[test]
fn an_epoll_loop_services_the_veventqs_when_they_are_readable() {
    use std::os::fd::AsRawFd;
    use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
    let mut r = rig();
    assert!(r.bus.device().event_fds().is_empty(), "no vIOMMU yet");
    r.plug_all();
    r.guest_event_queue(3);
    let fds: Vec<i32> = r
        .bus
        .device()
        .event_fds()
        .iter()
        .map(|f| f.as_raw_fd())
        .collect();
    assert_eq!(fds.len(), 2, "the Tegra241 and the SMMUv3 vEVENTQ");
    let epoll = Epoll::new().unwrap();
    for (i, fd) in fds.iter().enumerate() {
        let ev = EpollEvent::new(EventSet::IN, i as u64);
        epoll.ctl(ControlOperation::Add, *fd, ev).unwrap();
    }
    let mut ready = [EpollEvent::default(); 4];
    assert_eq!(epoll.wait(0, &mut ready).unwrap(), 0, "nothing queued");
    r.sim
        .report_smmu_event(f_translation(PSIDS[0], 0x5000))
        .unwrap();
    r.sim
        .report_smmu_event(f_translation(PSIDS[1], 0x6000))
        .unwrap();
    // The loop: wait (bounded, so a missed wake-up fails the test instead
    // of hanging it), kick the device for what is readable.
    let n = epoll.wait(1000, &mut ready).unwrap();
    assert_eq!(n, 1, "one vEVENTQ has records");
    assert_eq!(ready[0].data(), 1, "the SMMUv3 one");
    assert_eq!(r.eventq_irq.edges(), 0, "nothing reaches the guest before");
    r.bus.device_mut().kick();
    assert_eq!(
        r.eventq_prod(),
        2,
        "both records in the guest's event queue"
    );
    assert_eq!(r.eventq_irq.edges(), 2);
    assert_eq!(epoll.wait(0, &mut ready).unwrap(), 0, "drained");
    // Teardown closes the descriptors before destroying the vEVENTQs (an
    // open one would keep its object busy): nothing leaks.
    r.finish();
}
