//! The CMDQV window: the four preconditions as register writes in any
//! order, failures at each backend call as CMDQ_INIT_ERR, VINTF disable and
//! re-enable, reset and unplug mid-flight, an illegal command on a VCMDQ
//! through both apertures, and the registers the model does not have.

use super::*;

fn apply(r: &mut Rig, p: Pre) {
    match p {
        Pre::Base => r.base(0, QMEM[0]),
        Pre::Alloc => r.alloc(0, 0, true),
        Pre::CmdqvEn => r.cmdqv_en(true),
        Pre::VintfEn => r.vintf_en(true),
    }
}

#[test]
fn all_24_orders_of_register_writes_allocate_at_the_last() {
    let orders = permutations(&[Pre::Base, Pre::Alloc, Pre::CmdqvEn, Pre::VintfEn]);
    assert_eq!(orders.len(), 24);
    for order in orders {
        let mut r = rig();
        r.plug_all();
        let viommu = r.viommu();
        // CONFIG resets with CMDQV_EN set; clear it so it can come in any order.
        r.cmdqv_en(false);
        // Registers written before the queue exists are cached and restored.
        r.bus.write32(q(0, cq::VCMDQ::PROD::OFFSET), 0);
        r.bus.write32(q(0, cq::VCMDQ::CONFIG::OFFSET), 1);
        for (k, p) in order.iter().enumerate() {
            apply(&mut r, *p);
            let last = k == order.len() - 1;
            assert_eq!(r.allocated(0), last, "{order:?} step {k}");
            // The page is guest RAM from the first HW queue on, not before.
            assert_eq!(
                r.regions.installed().iter().any(|(g, _)| *g == VINTF_GPA),
                last,
                "{order:?} step {k}"
            );
            let vintf_on = order[..=k].iter().any(|p| matches!(p, Pre::VintfEn));
            let st = r.bus.read32(CMDQV + cq::VINTF::STATUS::OFFSET as u64);
            assert_eq!(cq::VINTF::STATUS::ENABLE_OK.read(st) == 1, vintf_on);
            // CMDQ_EN_OK only with a HW queue, CONFIG.CMDQ_EN notwithstanding.
            let st = r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::STATUS::OFFSET));
            let ok = cq::VCMDQ::STATUS::CMDQ_EN_OK.read(st) == 1;
            if !last {
                assert!(!ok, "{order:?} step {k}: EN_OK without a HW queue");
            }
        }
        assert!(!r.init_err(0), "{order:?}");
        let snap = r.sim.vintf(viommu).unwrap();
        assert_eq!(snap.queues[0].map(|q| (q.1 != 0, q.2)), Some((true, LOG2)));
        // The cached CONFIG.CMDQ_EN reached the page: the queue runs.
        assert_eq!(
            r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::STATUS::OFFSET)),
            1,
            "{order:?}"
        );
        let mut prod = 0;
        let cons = r.vsubmit(0, &mut prod, &[[0x11, 0], [0x46, 0]]);
        assert_eq!(cons, 2, "{order:?}");
        r.finish();
    }
}

#[test]
fn base_takes_a_value_whole_or_once_both_halves_are_written_never_a_stale_half() {
    let mut r = rig();
    r.plug_all();
    let viommu = r.viommu();
    r.alloc(0, 0, true);
    r.vintf_en(true);
    let off = q(0, cq::VCMDQ_PAGE1::BASE::OFFSET);
    let pa = |r: &Rig| r.sim.vintf(viommu).unwrap().queues[0].map(|q| q.1);
    let ram = r.ram.clone();
    let phys = |gpa: u64| ram.host_phys(gpa);
    let val = |gpa: u64| gpa | u64::from(LOG2);
    let above_ram = 1u64 << 32;
    for low_first in [true, false] {
        // A 64-bit BASE above guest RAM: not programmed, no queue.
        r.bus.write64(off, above_ram | val(QMEM[0]));
        assert!(!r.allocated(0) && !r.init_err(0));
        let (lo, hi) = (val(QMEM[1]) as u32, (val(QMEM[1]) >> 32) as u32);
        if low_first {
            r.bus.write32(off, lo);
        } else {
            // The register now reads QMEM[0]'s value, which is guest RAM:
            // only the other half decides, nothing is allocated yet.
            r.bus.write32(off + 4, hi);
            assert_eq!(r.bus.read64(off), val(QMEM[0]));
        }
        assert!(!r.allocated(0), "low first {low_first}: half a value");
        if low_first {
            r.bus.write32(off + 4, hi);
        } else {
            r.bus.write32(off, lo);
        }
        assert_eq!(pa(&r), phys(QMEM[1]), "low first {low_first}");
        // The 64-bit write of the same value as two halves changes nothing;
        // a new whole value moves the queue.
        r.bus.write64(off, val(QMEM[1]));
        assert_eq!(pa(&r), phys(QMEM[1]));
        r.bus.write64(off, val(QMEM[0]));
        assert_eq!(pa(&r), phys(QMEM[0]));
        assert!(!r.init_err(0));
    }
    r.finish();
}

#[test]
fn failure_at_each_backend_call_is_init_err_or_plug_error_without_leak() {
    // IOMMU_GET_HW_INFO was asked when the device was built
    // (`the_host_decides_whether_the_guest_sees_a_cmdqv`).
    let ops = [
        Op::ViommuAlloc,
        Op::Mmap,
        Op::VeventqAlloc,
        Op::VdeviceAlloc,
        Op::HwQueueAlloc,
        Op::HwptAlloc,
        Op::Kick,
        Op::VeventqRead,
    ];
    for op in ops {
        let mut r = rig();
        r.sim.inject(Fault {
            op: Some(op),
            when: FaultWhen::Nth(1),
            errno: libc::ENOMEM,
        });
        let d0 = r.devs[0].clone();
        let plugged = r.bus.device_mut().plug(&d0, VSIDS[0]);
        let bind_op = matches!(
            op,
            Op::ViommuAlloc | Op::Mmap | Op::VeventqAlloc | Op::VdeviceAlloc
        );
        assert_eq!(plugged.is_err(), bind_op, "{op:?}: {plugged:?}");
        r.cmdqv_en(true);
        r.alloc(0, 0, true);
        r.base(0, QMEM[0]);
        r.vintf_en(true);
        let vintf_bound = r.bus.device().core().lc.page().is_some();
        match op {
            // Nothing bound: the queue waits for a device, without an error.
            Op::ViommuAlloc | Op::Mmap | Op::VeventqAlloc => {
                assert!(!r.allocated(0), "{op:?}");
                assert!(!r.init_err(0), "{op:?}: an error for a queue that waits");
                assert_eq!(r.cmdqv_irq.edges(), 0, "{op:?}");
            }
            // Bound, but queue 0's allocation failed: the guest sees
            // CMDQ_INIT_ERR and the error maps, never a hang.
            Op::HwQueueAlloc => {
                assert!(!r.allocated(0), "{op:?}");
                assert!(r.init_err(0), "{op:?}: CMDQ_INIT_ERR not visible");
                let map = r.bus.read32(CMDQV + cq::CMDQ_ERR_MAP::OFFSET as u64);
                assert_eq!(map & 1, 1, "{op:?}");
                assert!(r.cmdqv_irq.edges() >= 1, "{op:?}");
            }
            // The vDEVICE failed after the vIOMMU was bound: queues still work.
            Op::VdeviceAlloc => {
                assert!(vintf_bound);
                assert!(r.allocated(0));
                assert!(!r.bus.device().core().lc.has_vdevice(VSIDS[0]));
            }
            _ => assert!(r.allocated(0), "{op:?}"),
        }
        // A retry after the fault brings the queue up: the VMM re-plugging
        // after a failed plug (the lifecycle catches up by itself), or the
        // guest rewriting a precondition.
        let gerror = r.bus.read32(q(0, cq::VCMDQ::GERROR::OFFSET));
        if bind_op {
            r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
        } else {
            r.base(0, QMEM[0]);
        }
        assert!(r.allocated(0), "{op:?}: retry did not allocate");
        // The guest acknowledges what it saw; the live queue has no error.
        r.bus.write32(q(0, cq::VCMDQ::GERRORN::OFFSET), gerror);
        assert!(!r.init_err(0), "{op:?}");
        let map = r.bus.read32(CMDQV + cq::CMDQ_ERR_MAP::OFFSET as u64);
        assert_eq!(map, 0, "{op:?}: error map after the acknowledgement");
        let mut prod = 0;
        r.bus
            .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
        assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 1, "{op:?}");
        r.finish();
    }
}

#[test]
fn any_call_failing_in_turn_never_panics_or_leaks() {
    for n in 1..=24u64 {
        let mut r = rig();
        r.sim.inject(Fault {
            op: None,
            when: FaultWhen::Nth(n),
            errno: libc::EIO,
        });
        let _ = {
            let d0 = r.devs[0].clone();
            r.bus.device_mut().plug(&d0, VSIDS[0])
        };
        r.cmdqv_en(true);
        for (i, mem) in QMEM.iter().enumerate() {
            r.alloc(i, i, true);
            r.base(i, *mem);
        }
        r.vintf_en(true);
        let mut prod = 0;
        r.bus
            .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
        let _ = r.vsubmit(0, &mut prod, &[[0x03, 0]]);
        r.sim.clear_faults();
        r.finish();
    }
}

#[test]
fn vintf_disable_saves_queue_state_and_reenable_restores_it() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    assert_eq!(
        r.vsubmit(0, &mut prod, &[[0x11, 0], [0x11, 0], [0x46, 0]]),
        3
    );
    assert_eq!(r.regions.installed().len(), 1);
    r.vintf_en(false);
    assert!(!r.allocated(0) && !r.allocated(1));
    assert!(r.regions.installed().is_empty());
    // Trapped now, served from the cache: the state the queue had.
    assert_eq!(
        r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)),
        3
    );
    assert_eq!(r.bus.read32(q(0, cq::VCMDQ::PROD::OFFSET)), 3);
    let st = r.bus.read32(CMDQV + cq::VINTF::STATUS::OFFSET as u64);
    assert_eq!(cq::VINTF::STATUS::ENABLE_OK.read(st), 0);
    r.vintf_en(true);
    assert!(r.allocated(0) && r.allocated(1));
    assert_eq!(r.regions.counts(), (2, 1));
    // The page got the cached indices back and the queue continues.
    assert_eq!(
        r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)),
        3
    );
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 4);
    r.finish();
}

#[test]
fn queue_registers_move_between_cache_and_page_and_no_write_is_lost() {
    use cq::VINTF_PAGE0::LVCMDQ as L;
    let mut r = rig();
    r.plug_all();
    r.alloc(0, 0, true);
    r.alloc(1, 1, true);
    r.vintf_en(true);
    // Trapped (no page yet): queue 1's PROD lives in the cache.
    r.bus.write32(lv(1, L::PROD::OFFSET), 5);
    assert!(r.regions.installed().is_empty());
    r.base(0, QMEM[0]);
    assert_eq!(r.regions.installed().len(), 1, "installed with HW queue 0");
    let direct = r.bus.stats().direct;
    // Installed: queue 1 (no HW queue yet) is read in the page, where the
    // value written while trapped was copied.
    assert_eq!(r.bus.read32(lv(1, L::PROD::OFFSET)), 5);
    assert_eq!(r.bus.stats().direct, direct + 1, "no trap");
    r.bus.write32(lv(1, L::PROD::OFFSET), 7);
    // Its HW queue comes while the page is installed: the page's 7 stays,
    // the cache's stale 5 does not come back.
    r.base(1, QMEM[1]);
    assert!(r.allocated(1));
    assert_eq!(r.bus.read32(lv(1, L::PROD::OFFSET)), 7);
    // Queue 1 reset (BASE 0) while queue 0 stays: the kernel resets the
    // freed queue's page registers; the guest still reads its own values
    // there, and no CMDQ_EN_OK without a HW queue.
    r.bus.write32(lv(1, L::CONFIG::OFFSET), 1);
    r.bus.write64(q(1, cq::VCMDQ_PAGE1::BASE::OFFSET), 0);
    assert!(!r.allocated(1) && r.allocated(0));
    assert_eq!(r.regions.installed().len(), 1);
    assert_eq!(r.bus.read32(lv(1, L::PROD::OFFSET)), 7);
    assert_eq!(r.bus.read32(lv(1, L::CONFIG::OFFSET)), 1);
    assert_eq!(r.bus.read32(lv(1, L::STATUS::OFFSET)), 0);
    r.bus.write32(lv(1, L::PROD::OFFSET), 9);
    r.bus.write32(lv(0, L::PROD::OFFSET), 3);
    // The last HW queue goes: the page leaves guest MMIO and both queues'
    // values move to the cache, where the trapped reads find them.
    r.bus.write64(q(0, cq::VCMDQ_PAGE1::BASE::OFFSET), 0);
    assert!(r.regions.installed().is_empty());
    let traps = r.bus.stats().cmdqv;
    assert_eq!(r.bus.read32(lv(1, L::PROD::OFFSET)), 9);
    assert_eq!(r.bus.read32(lv(0, L::PROD::OFFSET)), 3);
    assert_eq!(r.bus.stats().cmdqv, traps + 2, "trapped");
    assert_eq!(r.bus.read32(lv(0, L::STATUS::OFFSET)), 0);
    // And back: both queues come up again with what the guest left.
    r.base(0, QMEM[0]);
    r.base(1, QMEM[1]);
    assert!(r.allocated(0) && r.allocated(1));
    assert_eq!(r.bus.read32(lv(0, L::PROD::OFFSET)), 3);
    assert_eq!(r.bus.read32(lv(1, L::PROD::OFFSET)), 9);
    assert_eq!(r.bus.read32(lv(1, L::STATUS::OFFSET)), 1, "enabled: EN_OK");
    r.finish();
}

#[test]
fn an_init_error_keeps_the_page_out_until_the_guest_acknowledges_it() {
    use cq::VINTF_PAGE0::LVCMDQ as L;
    let mut r = rig();
    r.plug_all();
    r.alloc(0, 0, true);
    r.alloc(1, 1, true);
    r.vintf_en(true);
    r.base(0, QMEM[0]);
    r.bus.write32(lv(0, L::CONFIG::OFFSET), 1);
    assert_eq!(r.regions.installed().len(), 1);
    // Queue 1: guest RAM, but misaligned for its length: the kernel refuses.
    r.base(1, QMEM[1] + 0x100);
    assert!(!r.allocated(1));
    assert!(r.regions.installed().is_empty(), "held out for the error");
    assert_eq!(r.cmdqv_irq.edges(), 1);
    // The guest reads it where Linux does: the logical page (trapped now).
    let ge = r.bus.read32(lv(1, L::GERROR::OFFSET));
    let gn = r.bus.read32(lv(1, L::GERRORN::OFFSET));
    assert_eq!(cq::fieldsets::VcmdqErrors::CMDQ_INIT_ERR.read(ge ^ gn), 1);
    let errmap = cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64;
    assert_eq!(r.bus.read64(CMDQV + errmap), 0b10);
    r.bus.write32(lv(1, L::CONFIG::OFFSET), 1);
    assert_eq!(r.bus.read32(lv(1, L::STATUS::OFFSET)), 0, "no EN_OK");
    // Queue 0 keeps working through the trapped path meanwhile.
    let mut prod = 0;
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x11, 0], [0x46, 0]]), 2);
    // Acknowledged: the page is guest RAM again, the maps are clear.
    r.bus.write32(lv(1, L::GERRORN::OFFSET), ge);
    assert_eq!(r.regions.installed().len(), 1);
    assert_eq!(r.bus.read64(CMDQV + errmap), 0);
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 3);
    assert_eq!(r.cmdqv_irq.edges(), 1);
    r.finish();
}

#[test]
fn a_live_queue_rebased_to_a_base_the_kernel_refuses_loses_en_ok() {
    use cq::VINTF_PAGE0::LVCMDQ as L;
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    r.bus.write32(lv(0, L::CONFIG::OFFSET), 1);
    let en_ok = |r: &mut Rig| {
        let st = r.bus.read32(lv(0, L::STATUS::OFFSET));
        cq::VCMDQ::STATUS::CMDQ_EN_OK.read(st)
    };
    assert_eq!(en_ok(&mut r), 1, "a live, enabled queue");
    // A new, valid BASE frees the HW queue and allocates it again; the
    // kernel refuses the new allocation.
    r.sim.inject(Fault {
        op: Some(Op::HwQueueAlloc),
        when: FaultWhen::Nth(1),
        errno: libc::ENOMEM,
    });
    r.base(0, RAM + 0x30_0000);
    assert!(!r.allocated(0));
    assert_eq!(en_ok(&mut r), 0, "EN_OK cleared with the HW queue gone");
    assert!(
        r.init_err(0),
        "and the failure is the guest's CMDQ_INIT_ERR"
    );
    r.finish();
}

#[test]
fn the_first_device_plugged_after_the_guest_enabled_everything_catches_up() {
    let mut r = rig();
    // The guest brings both queues up before any device is plugged.
    r.enable_queues();
    assert!(!r.allocated(0) && !r.allocated(1));
    assert!(!r.init_err(0) && !r.init_err(1), "waiting is no error");
    assert!(r.regions.installed().is_empty());
    let d0 = r.devs[0].clone();
    r.bus.device_mut().plug(&d0, VSIDS[0]).unwrap();
    assert!(r.allocated(0) && r.allocated(1), "caught up at the plug");
    assert_eq!(r.regions.installed().len(), 1);
    assert_eq!(r.cmdqv_irq.edges(), 0);
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x11, 0], [0x46, 0]]), 2);
    r.finish();
}

#[test]
fn the_host_decides_whether_the_guest_sees_a_cmdqv() {
    let build = |fault: Option<i32>, cmdqv: bool| {
        let h = common::host(VINTF_GPA);
        let info = host_smmuv3_info(&h.devs[0]).unwrap();
        if let Some(errno) = fault {
            // The next IOMMU_GET_HW_INFO: the CMDQV probe of `new`.
            h.sim.inject(Fault {
                op: Some(Op::GetHwInfo),
                when: FaultWhen::Nth(1),
                errno,
            });
        }
        let core = SmmuCore::new(h.lc, Arc::new(h.sim.clone()), h.ram.clone());
        let irq = Arc::new(CountingIrq::new());
        let cfg = Vsmmuv3Config {
            backing_page: 2 << 20,
            cmdqv,
            irqs: Irqs::shared(irq),
        };
        Vsmmuv3::new(core, &info, cfg)
    };
    // A host without a CMDQV answers EOPNOTSUPP: refused at construction.
    let e = build(Some(libc::EOPNOTSUPP), true).err().expect("refused");
    assert!(e.0.contains("no Tegra241 CMDQV"), "{e}");
    let e = build(Some(libc::EIO), true).err().expect("refused");
    assert!(e.0.contains("IOMMU_GET_HW_INFO"), "{e}");
    // Without asking for a CMDQV the same host is fine: no window.
    let mut d = build(Some(libc::EOPNOTSUPP), false).expect("plain vSMMUv3");
    assert!(!d.has_cmdqv());
    let mut b = [0xffu8; 4];
    d.cmdqv_read(cq::PARAM::OFFSET as u64, &mut b);
    assert_eq!(b, [0; 4], "no CMDQV window");
    // A CMDQV host: the window is there and PARAM says what it offers.
    let mut d = build(None, true).expect("vSMMUv3 with CMDQV");
    assert!(d.has_cmdqv());
    d.cmdqv_read(cq::PARAM::OFFSET as u64, &mut b);
    assert_eq!(u32::from_le_bytes(b), cq::PARAM::RESET);
    // A host CMDQV the model cannot expose (version 2) is refused too.
    use vdev::backend::sim::{SimConfig, SimModel};
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, RAM_LEN, 2 << 20));
    let mut cfg = SimConfig::tegra241();
    if let SimModel::Tegra241(h) = &mut cfg.model {
        h.version = 2;
    }
    let sim = SimBackend::new(cfg, ram.clone());
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    let dev = Device::external(&b, sim.add_device(0x100));
    let parent = NestParent::new(&dev, &ioas).unwrap();
    let lc = Lifecycle::new(b, parent, Arc::new(RecordingRegions::new()), VINTF_GPA);
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram);
    let irq = Arc::new(CountingIrq::new());
    let cfg = Vsmmuv3Config {
        backing_page: 2 << 20,
        cmdqv: true,
        irqs: Irqs::shared(irq),
    };
    let info = host_smmuv3_info(&dev).unwrap();
    let e = Vsmmuv3::new(core, &info, cfg).err().expect("refused");
    assert!(e.0.contains("version 1"), "{e}");
}

#[test]
fn reset_mid_flight_frees_queues_and_the_guest_can_start_over() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    let viommu = r.viommu();
    // Commands published on a disabled queue: nothing consumed yet.
    let mut prod = 0;
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x11, 0], [0x46, 0]]), 0);
    let before = r.sim.live_objects();
    r.bus.device_mut().reset();
    assert_eq!(r.sim.live_objects(), before - 2, "both HW queues freed");
    assert!(r.regions.installed().is_empty());
    assert!(r
        .sim
        .vintf(viommu)
        .unwrap()
        .queues
        .iter()
        .all(|q| q.is_none()));
    assert_eq!(
        r.bus.read32(CMDQV + cq::CONFIG::OFFSET as u64),
        cq::CONFIG::RESET
    );
    assert_eq!(
        r.bus.read32(CMDQV + cq::CMDQ_ALLOC_MAP::OFFSET as u64),
        0,
        "registers back to reset"
    );
    assert_eq!(r.bus.read32(SMMU + sm::CR0::OFFSET as u64), 0);
    assert!(
        r.bus.device().core().lc.has_vdevice(VSIDS[1]),
        "devices stay plugged"
    );
    // The guest starts over.
    r.bring_up();
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    assert_eq!(r.vsubmit(0, &mut prod, &[[0x46, 0]]), 1);
    r.finish();
}

#[test]
fn unplug_with_live_queues_frees_the_vdevice_only() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    let viommu = r.viommu();
    let matched = |r: &Rig| {
        r.sim
            .vintf(viommu)
            .unwrap()
            .sid_match
            .iter()
            .filter(|m| *m & 1 != 0)
            .count()
    };
    assert_eq!(matched(&r), 2);
    let before = r.sim.live_objects();
    let t = r.bus.device_mut().unplug(VSIDS[1]);
    assert!(t.contains(&Transition::VdeviceFreed { vsid: VSIDS[1] }));
    assert_eq!(matched(&r), 1);
    assert!(r.sim.live_objects() < before);
    assert!(r.allocated(0) && r.allocated(1));
    // ATC_INV for the unplugged vSID is now an illegal access on the VCMDQ
    // (no SID_MATCH slot holds it); the remaining device's works.
    r.bus
        .write32(lv(1, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    let atc = |sid: u32| [0x40 | (u64::from(sid) << 32), 0];
    assert_eq!(r.vsubmit(1, &mut prod, &[atc(VSIDS[0]), [0x46, 0]]), 2);
    let cons = r.vsubmit(1, &mut prod, &[atc(VSIDS[1])]);
    assert_eq!(
        cq::VCMDQ::CONS::ERR.read_as_enum(cons),
        Some(cq::enums::VcmdqError::CERROR_ILL_ACCESS)
    );
    r.finish();
}

#[test]
fn illegal_command_on_a_vcmdq_recovers_through_both_apertures() {
    let mut r = rig();
    r.plug_all();
    r.bring_up();
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET), 1);
    let mut prod = 0;
    let cons = r.vsubmit(0, &mut prod, &[[0x11, 0], [0x03, 0], [0x46, 0]]);
    assert_eq!(cq::VCMDQ::CONS::INDEX.read(cons), 1);
    assert_eq!(cq::VCMDQ::CONS::ERR.read(cons), 1, "CERROR_ILL");
    // The trapped direct aperture of global VCMDQ 0 reaches the same page.
    let gerror = r.bus.read32(q(0, cq::VCMDQ::GERROR::OFFSET));
    assert_eq!(gerror & 1, 1);
    assert_eq!(r.bus.read32(q(0, cq::VCMDQ::CONS::OFFSET)), cons);
    assert_eq!(r.cmdqv_irq.edges(), 1);
    let lmap = r
        .bus
        .read32(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64);
    assert_eq!(lmap, 1);
    assert_eq!(r.bus.read32(CMDQV + cq::VINTF_ERR_MAP::OFFSET as u64), 1);
    // Skip the bad command and acknowledge through the trapped aperture.
    assert!(r.ram.write_u64(QMEM[0] + 16, 0x46));
    r.bus.write32(q(0, cq::VCMDQ::GERRORN::OFFSET), gerror);
    assert_eq!(r.bus.read32(q(0, cq::VCMDQ::CONS::OFFSET)), 3);
    assert_eq!(
        r.bus
            .read32(CMDQV + cq::VINTF::LVCMDQ_ERR_MAP::OFFSET as u64),
        0
    );
    // A second error, acknowledged through the installed page this time,
    // with the VINTF interrupt masked.
    r.bus.write32(CMDQV + cq::VINTF_INT_MASK::OFFSET as u64, 1);
    let cons = r.vsubmit(0, &mut prod, &[[0x13, 0]]);
    assert_eq!(cq::VCMDQ::CONS::ERR.read(cons), 1);
    assert_eq!(r.cmdqv_irq.edges(), 1, "VI_INT_MASK masks the interrupt");
    let gerror = r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::GERROR::OFFSET));
    assert!(r.ram.write_u64(QMEM[0] + 3 * 16, 0x46));
    r.bus
        .write32(lv(0, cq::VINTF_PAGE0::LVCMDQ::GERRORN::OFFSET), gerror);
    assert_eq!(
        r.bus.read32(lv(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET)),
        4
    );
    r.finish();
}

#[test]
fn cmdqv_registers_outside_the_model_and_hyp_own() {
    let mut r = rig();
    r.plug_all();
    // HYP_OWN never sticks; VMID does.
    let cfg = cq::VINTF::CONFIG::HYP_OWN.val(1).value | cq::VINTF::CONFIG::VMID.val(7).value;
    r.bus.write32(CMDQV + cq::VINTF::CONFIG::OFFSET as u64, cfg);
    let v = r.bus.read32(CMDQV + cq::VINTF::CONFIG::OFFSET as u64);
    assert_eq!(cq::VINTF::CONFIG::HYP_OWN.read(v), 0);
    assert_eq!(cq::VINTF::CONFIG::VMID.read(v), 7);
    // VINTF 1, VCMDQ 2 and their mappings do not exist in the model.
    let vintf1 = CMDQV + cq::VINTF::CONFIG::OFFSET as u64 + 0x100;
    r.bus.write32(vintf1, 1);
    assert_eq!(r.bus.read32(vintf1), 0);
    let map2 = CMDQV + cq::CMDQ_ALLOC_MAP::OFFSET as u64 + 8;
    r.bus.write32(map2, 1);
    assert_eq!(r.bus.read32(map2), 0);
    r.bus.write32(q(2, cq::VCMDQ::PROD::OFFSET), 5);
    assert_eq!(r.bus.read32(q(2, cq::VCMDQ::PROD::OFFSET)), 0);
    assert_eq!(r.bus.read32(CMDQV + 0x5_0000), 0);
    // An unmapped logical VCMDQ reads as zero.
    r.bus
        .write32(lv(1, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET), 9);
    assert_eq!(
        r.bus.read32(lv(1, cq::VINTF_PAGE0::LVCMDQ::PROD::OFFSET)),
        0
    );
    r.finish();
}
