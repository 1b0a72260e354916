//! The CMDQV lifecycle core against the simulated Tegra241 kernel: every order
//! of the four VCMDQ preconditions, BASE semantics (not programmed, a new base
//! on a live queue), the page installed after the first HW queue, the first
//! device plugged after the guest enabled everything, injected failures at
//! each backend call with no leak, VINTF disable/re-enable, reset mid-flight,
//! unplug with live queues, and an illegal command on a VCMDQ.

use std::sync::Arc;

use vdev::backend::sim::{regs, Fault, FaultWhen, SimBackend, SimConfig, SimGuestRam};
use vdev::backend::{Backend, Device, Ioas, NestParent, Op};
use vdev::cmdqv::lifecycle::{
    cmdqv_enabled_at_reset, Lifecycle, LifecycleError, NoCache, QueueBase, Transition,
};
use vdev::vmm::{GuestMemory, RecordingRegions};

mod common;

use common::{permutations, Pre, RAM, RAM_LEN};

const VINTF_GPA: u64 = 0x0900_0000 + 0x3_0000;
const Q0: u64 = RAM + 0x10_0000;
const Q1: u64 = RAM + 0x20_0000;
const LOG2: u32 = 8; // 256 entries, 4 KiB

/// A programmed base of `LOG2` entries at `addr`.
fn at(addr: u64) -> Option<QueueBase> {
    Some(QueueBase::new(addr, LOG2))
}

struct Rig {
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    regions: Arc<RecordingRegions>,
    devs: Vec<Arc<Device>>,
    lc: Lifecycle,
    baseline: usize,
}

fn rig() -> Rig {
    Rig::from(common::host(VINTF_GPA))
}

impl From<common::Host> for Rig {
    fn from(h: common::Host) -> Self {
        Rig {
            sim: h.sim,
            ram: h.ram,
            regions: h.regions,
            devs: h.devs,
            lc: h.lc,
            baseline: h.baseline,
        }
    }
}

impl Rig {
    fn assert_clean(&mut self) {
        let t = self.lc.teardown();
        assert_eq!(t.last(), Some(&Transition::TornDown));
        assert_eq!(
            self.sim.live_objects(),
            self.baseline,
            "kernel objects leaked"
        );
        assert_eq!(self.sim.live_mappings(), 0, "mapping leaked");
        assert!(self.regions.installed().is_empty(), "region left installed");
    }
}

fn apply(lc: &mut Lifecycle, p: Pre, lidx: usize, base: u64) -> Vec<Transition> {
    match p {
        Pre::Base => lc.write_base(lidx, at(base), &mut NoCache).unwrap(),
        Pre::Alloc => lc.set_alloc(lidx, true, &mut NoCache).unwrap(),
        Pre::CmdqvEn => lc.set_cmdqv_enable(true, &mut NoCache),
        Pre::VintfEn => lc.set_vintf_enable(true, &mut NoCache),
    }
}

#[test]
fn all_24_orders_allocate_exactly_at_the_last_precondition() {
    let orders = permutations(&[Pre::Base, Pre::Alloc, Pre::CmdqvEn, Pre::VintfEn]);
    assert_eq!(orders.len(), 24);
    for order in orders {
        let mut r = rig();
        let dev = r.devs[0].clone();
        r.lc.plug(&dev, 0x10).unwrap();
        let viommu = r.lc.viommu().unwrap().id();
        // CONFIG.CMDQV_EN resets to 1: clear it so it can come in any order.
        assert!(r.lc.cmdqv_enabled());
        r.lc.set_cmdqv_enable(false, &mut NoCache);
        for (k, p) in order.iter().enumerate() {
            let t = apply(&mut r.lc, *p, 0, Q0);
            let last = k == order.len() - 1;
            assert_eq!(r.lc.queue_allocated(0), last, "{order:?} step {k}");
            assert_eq!(
                t.iter()
                    .any(|t| matches!(t, Transition::QueueAllocated { lidx: 0, .. })),
                last,
                "{order:?} step {k}: {t:?}"
            );
            // The page becomes guest RAM with the first HW queue, not before.
            assert_eq!(r.lc.region_installed(), last, "{order:?} step {k}");
            assert_eq!(
                t.last() == Some(&Transition::RegionInstalled { gpa: VINTF_GPA }),
                last,
                "{order:?} step {k}: {t:?}"
            );
        }
        let snap = r.sim.vintf(viommu).unwrap();
        assert!(snap.queues[0].is_some(), "{order:?}");
        assert_eq!(snap.queues[0].unwrap().2, LOG2);
        // Retrying a precondition on a live queue changes nothing.
        let t = apply(&mut r.lc, order[0], 0, Q0);
        assert!(t.is_empty(), "{order:?}: {t:?}");
        r.assert_clean();
    }
}

#[test]
fn queue_one_waits_for_queue_zero_then_follows() {
    let mut r = rig();
    let dev = r.devs[0].clone();
    r.lc.plug(&dev, 0x10).unwrap();
    r.lc.set_cmdqv_enable(true, &mut NoCache);
    r.lc.set_vintf_enable(true, &mut NoCache);
    r.lc.write_base(1, at(Q1), &mut NoCache).unwrap();
    r.lc.set_alloc(1, true, &mut NoCache).unwrap();
    assert!(!r.lc.queue_allocated(1), "ascending order: queue 1 waits");
    r.lc.write_base(0, at(Q0), &mut NoCache).unwrap();
    let t = r.lc.set_alloc(0, true, &mut NoCache).unwrap();
    let lidxs: Vec<usize> = t
        .iter()
        .filter_map(|t| match t {
            Transition::QueueAllocated { lidx, .. } => Some(*lidx),
            _ => None,
        })
        .collect();
    assert_eq!(lidxs, vec![0, 1]);
    // Clearing ALLOC of queue 0 frees 1 then 0 (descending); with the last
    // HW queue the page leaves guest MMIO.
    let t = r.lc.set_alloc(0, false, &mut NoCache).unwrap();
    assert_eq!(
        t,
        vec![
            Transition::QueueFreed { lidx: 1 },
            Transition::QueueFreed { lidx: 0 },
            Transition::RegionRemoved { gpa: VINTF_GPA }
        ]
    );
    assert!(!r.lc.queue_allocated(1));
    r.assert_clean();
}

#[test]
fn hw_queue_failure_is_an_init_error_and_each_write_retries() {
    for order in permutations(&[Pre::Base, Pre::Alloc, Pre::CmdqvEn, Pre::VintfEn]) {
        let mut r = rig();
        let dev = r.devs[0].clone();
        r.lc.plug(&dev, 0x10).unwrap();
        r.lc.set_cmdqv_enable(false, &mut NoCache);
        r.sim.inject(Fault {
            op: Some(Op::HwQueueAlloc),
            when: FaultWhen::Nth(1),
            errno: libc::ENOMEM,
        });
        let mut t = Vec::new();
        for p in &order {
            t = apply(&mut r.lc, *p, 0, Q0);
        }
        assert!(
            matches!(&t[..], [.., Transition::QueueInitError { lidx: 0, error }] if error.errno == libc::ENOMEM),
            "{order:?}: {t:?}"
        );
        assert!(r.lc.queue_failed(0));
        assert!(!r.lc.region_installed(), "no HW queue, no page");
        // Every precondition write retries; the fault fired once.
        let last = *order.last().unwrap();
        let t = apply(&mut r.lc, last, 0, Q0);
        assert!(
            matches!(
                &t[..],
                [
                    Transition::QueueAllocated { lidx: 0, .. },
                    Transition::RegionInstalled { .. }
                ]
            ),
            "{order:?}: {t:?}"
        );
        assert!(!r.lc.queue_failed(0));
        r.assert_clean();
    }
}

#[test]
fn kernel_rules_reach_the_guest_as_init_errors() {
    let mut r = rig();
    let dev = r.devs[0].clone();
    r.lc.plug(&dev, 0x10).unwrap();
    r.lc.set_cmdqv_enable(true, &mut NoCache);
    r.lc.set_vintf_enable(true, &mut NoCache);
    r.lc.set_alloc(0, true, &mut NoCache).unwrap();
    // Misaligned for its length: the kernel says EINVAL.
    let t = r.lc.write_base(0, at(Q0 + 0x100), &mut NoCache).unwrap();
    assert!(
        matches!(&t[..], [Transition::QueueInitError { error, .. }] if error.errno == libc::EINVAL),
        "{t:?}"
    );
    // Outside the IOAS: ENOENT.
    let t = r.lc.write_base(0, at(0x1000_0000), &mut NoCache).unwrap();
    assert!(
        matches!(&t[..], [Transition::QueueInitError { error, .. }] if error.errno == libc::ENOENT),
        "{t:?}"
    );
    let t = r.lc.write_base(0, at(Q0), &mut NoCache).unwrap();
    assert!(
        matches!(
            &t[..],
            [
                Transition::QueueAllocated { .. },
                Transition::RegionInstalled { .. }
            ]
        ),
        "{t:?}"
    );
    r.assert_clean();
}

/// One full bring-up: two devices, two queues. Returns the first error.
fn full_bringup(r: &mut Rig) -> Result<Vec<Transition>, LifecycleError> {
    let mut all = Vec::new();
    let (d0, d1) = (r.devs[0].clone(), r.devs[1].clone());
    all.extend(r.lc.plug(&d0, 0x10)?);
    all.extend(r.lc.plug(&d1, 0x11)?);
    all.extend(r.lc.set_cmdqv_enable(true, &mut NoCache));
    all.extend(r.lc.write_base(0, at(Q0), &mut NoCache)?);
    all.extend(r.lc.write_base(1, at(Q1), &mut NoCache)?);
    all.extend(r.lc.set_alloc(0, true, &mut NoCache)?);
    all.extend(r.lc.set_alloc(1, true, &mut NoCache)?);
    all.extend(r.lc.set_vintf_enable(true, &mut NoCache));
    Ok(all)
}

#[test]
fn failure_at_each_backend_call_leaks_nothing() {
    let ops = [
        Op::GetHwInfo,
        Op::ViommuAlloc,
        Op::Mmap,
        Op::VeventqAlloc,
        Op::VdeviceAlloc,
        Op::HwQueueAlloc,
    ];
    for op in ops {
        for nth in 1..=2u64 {
            let mut r = rig();
            r.sim.inject(Fault {
                op: Some(op),
                when: FaultWhen::Nth(nth),
                errno: libc::ENOMEM,
            });
            let res = full_bringup(&mut r);
            match (op, nth) {
                // Binding failures: the plug fails and nothing remains.
                (Op::GetHwInfo | Op::ViommuAlloc | Op::Mmap | Op::VeventqAlloc, 1) => {
                    let e = res.unwrap_err();
                    assert!(
                        matches!(&e, LifecycleError::Backend(x) if x.op == op && x.errno == libc::ENOMEM),
                        "{op:?}: {e}"
                    );
                    assert!(r.lc.viommu().is_none());
                    assert_eq!(r.sim.live_objects(), r.baseline, "{op:?}");
                    assert_eq!(r.sim.live_mappings(), 0, "{op:?}");
                }
                // Called once only: the second never happens.
                (Op::GetHwInfo | Op::ViommuAlloc | Op::Mmap | Op::VeventqAlloc, _) => {
                    res.unwrap();
                    assert!(r.lc.queue_allocated(1));
                }
                (Op::VdeviceAlloc, n) => {
                    let e = res.unwrap_err();
                    assert!(
                        matches!(&e, LifecycleError::Backend(x) if x.op == op),
                        "{e}"
                    );
                    assert_eq!(r.lc.has_vdevice(0x10), n == 2);
                    assert!(!r.lc.has_vdevice(0x11));
                }
                (Op::HwQueueAlloc, n) => {
                    let t = res.unwrap();
                    let errs: Vec<usize> = t
                        .iter()
                        .filter_map(|t| match t {
                            Transition::QueueInitError { lidx, .. } => Some(*lidx),
                            _ => None,
                        })
                        .collect();
                    assert_eq!(errs, vec![n as usize - 1], "{t:?}");
                    assert_eq!(r.lc.queue_allocated(0), n == 2);
                    assert!(!r.lc.queue_allocated(1));
                }
                _ => unreachable!(),
            }
            r.assert_clean();
        }
    }
}

#[test]
fn any_call_failing_in_turn_never_panics_or_leaks() {
    for n in 1..=16u64 {
        let mut r = rig();
        r.sim.inject(Fault {
            op: None,
            when: FaultWhen::Nth(n),
            errno: libc::EIO,
        });
        let _ = full_bringup(&mut r);
        let _ = r.lc.poll_errors();
        // A refused IOMMU_DESTROY leaks by definition; teardown runs clean.
        r.sim.clear_faults();
        r.assert_clean();
    }
}

#[test]
fn vintf_disable_frees_queues_and_removes_the_page_reenable_restores() {
    let mut r = rig();
    full_bringup(&mut r).unwrap();
    let viommu = r.lc.viommu().unwrap().id();
    assert!(r.lc.queue_allocated(0) && r.lc.queue_allocated(1));
    assert_eq!(
        r.regions.installed(),
        vec![(VINTF_GPA, regs::VINTF_PAGE0_SIZE)]
    );
    let t = r.lc.set_vintf_enable(false, &mut NoCache);
    assert_eq!(
        t,
        vec![
            Transition::QueueFreed { lidx: 1 },
            Transition::QueueFreed { lidx: 0 },
            Transition::RegionRemoved { gpa: VINTF_GPA }
        ]
    );
    assert!(r.regions.installed().is_empty());
    assert!(r
        .sim
        .vintf(viommu)
        .unwrap()
        .queues
        .iter()
        .all(|q| q.is_none()));
    let t = r.lc.set_vintf_enable(true, &mut NoCache);
    assert!(
        matches!(
            &t[..],
            [
                Transition::QueueAllocated { lidx: 0, .. },
                Transition::QueueAllocated { lidx: 1, .. },
                Transition::RegionInstalled { .. }
            ]
        ),
        "{t:?}"
    );
    assert_eq!(r.regions.counts(), (2, 1));
    r.assert_clean();
}

#[test]
fn refused_region_keeps_the_queues_working() {
    let mut r = rig();
    r.regions.refuse_installs(true);
    let t = full_bringup(&mut r).unwrap();
    assert!(t
        .iter()
        .any(|t| matches!(t, Transition::RegionInstallFailed(_))));
    assert!(!r.lc.region_installed());
    assert!(r.lc.queue_allocated(1));
    r.assert_clean();
}

#[test]
fn reset_mid_flight_frees_queues_keeps_devices() {
    let mut r = rig();
    full_bringup(&mut r).unwrap();
    let page = r.lc.page().unwrap();
    // Commands published but not yet consumed.
    assert!(r.ram.write_u64(Q0, 0x11));
    page.write32(regs::lvcmdq(0, regs::CONFIG), regs::CONFIG_EN);
    page.write32(regs::lvcmdq(0, regs::PROD), 1);
    let bound = r.baseline + 2 /* viommu, veventq */ + 2 /* vdevices */;
    assert_eq!(r.sim.live_objects(), bound + 2);
    let t = r.lc.reset(&mut NoCache);
    assert_eq!(
        t,
        vec![
            Transition::QueueFreed { lidx: 1 },
            Transition::QueueFreed { lidx: 0 },
            Transition::RegionRemoved { gpa: VINTF_GPA }
        ]
    );
    assert_eq!(r.sim.live_objects(), bound);
    assert!(r.lc.has_vdevice(0x10) && r.lc.has_vdevice(0x11));
    // The guest can bring the queues up again after the reset.
    full_bringup_again(&mut r);
    assert!(r.lc.queue_allocated(1));
    r.assert_clean();
}

fn full_bringup_again(r: &mut Rig) {
    r.lc.set_cmdqv_enable(true, &mut NoCache);
    r.lc.write_base(0, at(Q0), &mut NoCache).unwrap();
    r.lc.write_base(1, at(Q1), &mut NoCache).unwrap();
    r.lc.set_alloc(0, true, &mut NoCache).unwrap();
    r.lc.set_alloc(1, true, &mut NoCache).unwrap();
    r.lc.set_vintf_enable(true, &mut NoCache);
}

#[test]
fn unplug_with_live_queues_frees_only_the_vdevice() {
    let mut r = rig();
    full_bringup(&mut r).unwrap();
    let viommu = r.lc.viommu().unwrap().id();
    let before = r.sim.vintf(viommu).unwrap();
    assert_eq!(before.sid_match.iter().filter(|m| *m & 1 != 0).count(), 2);
    let (dev, t) = r.lc.unplug(0x10);
    assert!(dev.is_some());
    assert_eq!(t, vec![Transition::VdeviceFreed { vsid: 0x10 }]);
    let after = r.sim.vintf(viommu).unwrap();
    assert_eq!(after.sid_match.iter().filter(|m| *m & 1 != 0).count(), 1);
    assert!(r.lc.queue_allocated(0) && r.lc.queue_allocated(1));
    assert!(r.lc.unplug(0x10).0.is_none());
    // Re-plug with the same vSID works; a duplicate is refused.
    let d0 = r.devs[0].clone();
    r.lc.plug(&d0, 0x10).unwrap();
    assert_eq!(
        r.lc.plug(&d0, 0x10).unwrap_err(),
        LifecycleError::DuplicateVsid(0x10)
    );
    r.assert_clean();
}

#[test]
fn illegal_command_on_a_vcmdq_stops_it_reports_and_recovers() {
    let mut r = rig();
    full_bringup(&mut r).unwrap();
    let page = r.lc.page().unwrap();
    // TLBI_NH_ASID, then an opcode the VCMDQ refuses (CFGI_STE), then SYNC.
    assert!(r.ram.write_u64(Q0, 0x11 | (5 << 48)));
    assert!(r.ram.write_u64(Q0 + 16, 0x03));
    assert!(r.ram.write_u64(Q0 + 32, 0x46));
    page.write32(regs::lvcmdq(0, regs::CONFIG), regs::CONFIG_EN);
    page.write32(regs::lvcmdq(0, regs::PROD), 3);
    r.lc.kick().unwrap();
    let page = r.lc.page().unwrap();
    let cons = page.read32(regs::lvcmdq(0, regs::CONS)).unwrap();
    assert_eq!(cons & 0xff, 1);
    assert_eq!(
        (cons & regs::CONS_ERR_MASK) >> regs::CONS_ERR_SHIFT,
        regs::CERROR_ILL
    );
    let gerror = page.read32(regs::lvcmdq(0, regs::GERROR)).unwrap();
    assert_eq!(gerror & regs::GERROR_CMDQ_ERR, 1);
    let ev = r.lc.poll_errors().unwrap();
    assert_eq!(ev.err_map, 1);
    // The guest skips the bad command and acknowledges.
    let page = r.lc.page().unwrap();
    page.write32(regs::lvcmdq(0, regs::CONS), 2);
    page.write32(regs::lvcmdq(0, regs::GERRORN), gerror);
    r.lc.kick().unwrap();
    let page = r.lc.page().unwrap();
    assert_eq!(page.read32(regs::lvcmdq(0, regs::CONS)), Some(3));
    assert_eq!(r.lc.poll_errors().unwrap().err_map, 0);
    r.assert_clean();
}

/// The logical indexes of the allocations and frees in `t`, in order:
/// `+l` allocated, `-l` freed.
fn queue_moves(t: &[Transition]) -> Vec<i32> {
    t.iter()
        .filter_map(|t| match t {
            Transition::QueueAllocated { lidx, .. } => Some(*lidx as i32 + 1),
            Transition::QueueFreed { lidx } => Some(-(*lidx as i32 + 1)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_base_not_programmed_is_no_attempt_and_frees_a_live_queue() {
    let mut r = rig();
    let dev = r.devs[0].clone();
    r.lc.plug(&dev, 0x10).unwrap();
    r.lc.set_vintf_enable(true, &mut NoCache);
    r.lc.set_alloc(0, true, &mut NoCache).unwrap();
    // Linux's queue reset: BASE = 0 with ALLOC, CMDQV_EN and ENABLE set.
    let t = r.lc.write_base(0, None, &mut NoCache).unwrap();
    assert!(t.is_empty(), "{t:?}");
    assert!(!r.lc.queue_failed(0) && !r.lc.queue_allocated(0));
    r.lc.write_base(1, at(Q1), &mut NoCache).unwrap();
    r.lc.set_alloc(1, true, &mut NoCache).unwrap();
    let t = r.lc.write_base(0, at(Q0), &mut NoCache).unwrap();
    assert_eq!(queue_moves(&t), vec![1, 2], "{t:?}");
    // Queue 0 reset while queue 1 is live: 1 goes first (the kernel's
    // descending rule), then 0; no HW queue is left, so the page goes.
    let t = r.lc.write_base(0, None, &mut NoCache).unwrap();
    assert_eq!(
        t,
        vec![
            Transition::QueueFreed { lidx: 1 },
            Transition::QueueFreed { lidx: 0 },
            Transition::RegionRemoved { gpa: VINTF_GPA }
        ]
    );
    assert!(!r.lc.queue_failed(0) && !r.lc.queue_failed(1));
    // Queue 1 is still ready: it comes back with queue 0.
    let t = r.lc.write_base(0, at(Q0), &mut NoCache).unwrap();
    assert_eq!(queue_moves(&t), vec![1, 2], "{t:?}");
    assert_eq!(
        t.last(),
        Some(&Transition::RegionInstalled { gpa: VINTF_GPA })
    );
    r.assert_clean();
}

#[test]
fn a_new_base_on_a_live_queue_frees_and_reallocates_it() {
    let mut r = rig();
    full_bringup(&mut r).unwrap();
    let viommu = r.lc.viommu().unwrap().id();
    let q1b = Q1 + 0x10_0000;
    // The same value again changes nothing.
    assert!(r.lc.write_base(1, at(Q1), &mut NoCache).unwrap().is_empty());
    let t = r.lc.write_base(1, at(q1b), &mut NoCache).unwrap();
    assert_eq!(queue_moves(&t), vec![-2, 2], "{t:?}");
    let pa = |gpa| r.ram.host_phys(gpa).unwrap();
    assert_eq!(r.sim.vintf(viommu).unwrap().queues[1].unwrap().1, pa(q1b));
    // A new base for queue 0 takes queue 1 down and up again around it; the
    // page stays installed throughout.
    let q0b = Q0 + 0x10_0000 + 0x8_0000;
    let t = r.lc.write_base(0, at(q0b), &mut NoCache).unwrap();
    assert_eq!(queue_moves(&t), vec![-2, -1, 1, 2], "{t:?}");
    assert!(!t
        .iter()
        .any(|t| matches!(t, Transition::RegionRemoved { .. })));
    let snap = r.sim.vintf(viommu).unwrap();
    assert_eq!(snap.queues[0].unwrap().1, pa(q0b));
    assert_eq!(snap.queues[1].unwrap().1, pa(q1b));
    assert_eq!(r.regions.counts(), (1, 0));
    r.assert_clean();
}

#[test]
fn the_first_device_plugged_after_the_guest_enabled_everything_catches_up() {
    let mut r = rig();
    // The guest programs both queues before any device is there.
    r.lc.write_base(0, at(Q0), &mut NoCache).unwrap();
    r.lc.write_base(1, at(Q1), &mut NoCache).unwrap();
    r.lc.set_alloc(0, true, &mut NoCache).unwrap();
    r.lc.set_alloc(1, true, &mut NoCache).unwrap();
    let t = r.lc.set_vintf_enable(true, &mut NoCache);
    assert!(t.is_empty(), "nothing to allocate on yet: {t:?}");
    let dev = r.devs[0].clone();
    r.lc.plug(&dev, 0x10).unwrap();
    let t = r.lc.catch_up(&mut NoCache);
    assert_eq!(queue_moves(&t), vec![1, 2], "{t:?}");
    assert_eq!(
        t.last(),
        Some(&Transition::RegionInstalled { gpa: VINTF_GPA })
    );
    // Nothing more to do the second time.
    assert!(r.lc.catch_up(&mut NoCache).is_empty());
    r.assert_clean();
}

#[test]
fn cmdqv_en_starts_as_config_resets_and_returns_there_on_reset() {
    use cmdqv_regs::{CONFIG, STATUS};
    let mut r = rig();
    let en = CONFIG::CMDQV_EN.is_set(CONFIG::RESET);
    assert_eq!(cmdqv_enabled_at_reset(), en);
    assert_eq!(STATUS::CMDQV_ENABLED.is_set(STATUS::RESET), en);
    assert_eq!(r.lc.cmdqv_enabled(), en);
    r.lc.set_cmdqv_enable(!en, &mut NoCache);
    r.lc.reset(&mut NoCache);
    assert_eq!(r.lc.cmdqv_enabled(), en);
    r.assert_clean();
}

#[test]
fn the_host_cmdqv_is_probed_through_the_nesting_parent() {
    let mut r = rig();
    let info = r.lc.probe_host().unwrap().expect("a Tegra241 host");
    assert_eq!(info.version, 1);
    // Asked once: a later failure of the call changes nothing.
    r.sim.inject(Fault {
        op: Some(Op::GetHwInfo),
        when: FaultWhen::Nth(1),
        errno: libc::EIO,
    });
    assert_eq!(r.lc.probe_host().unwrap(), Some(info));
    // A host without a CMDQV answers EOPNOTSUPP to the Tegra241 type.
    let mut r = rig();
    r.sim.inject(Fault {
        op: Some(Op::GetHwInfo),
        when: FaultWhen::Nth(1),
        errno: libc::EOPNOTSUPP,
    });
    assert_eq!(r.lc.probe_host().unwrap(), None);
    let mut r = rig();
    r.sim.inject(Fault {
        op: Some(Op::GetHwInfo),
        when: FaultWhen::Nth(1),
        errno: libc::EIO,
    });
    assert!(matches!(
        r.lc.probe_host(),
        Err(LifecycleError::Backend(e)) if e.errno == libc::EIO
    ));
}

#[test]
fn unknown_cmdqv_version_is_refused_cleanly() {
    use vdev::backend::sim::SimModel;
    let ram = Arc::new(SimGuestRam::new().with_region(RAM, RAM_LEN, 2 << 20));
    let mut cfg = SimConfig::tegra241();
    if let SimModel::Tegra241(h) = &mut cfg.model {
        h.version = 2;
    }
    let sim = SimBackend::new(cfg, ram);
    let b: Arc<dyn Backend> = Arc::new(sim.clone());
    let ioas = Ioas::new(&b).unwrap();
    ioas.map(RAM, RAM_LEN, 0).unwrap();
    let dev = Device::external(&b, sim.add_device(0x100));
    let parent = NestParent::new(&dev, &ioas).unwrap();
    let base = sim.live_objects();
    let mut lc = Lifecycle::new(b, parent, Arc::new(RecordingRegions::new()), VINTF_GPA)
        .with_kick(Arc::new(sim.clone()));
    let e = lc.plug(&dev, 1).unwrap_err();
    assert!(matches!(e, LifecycleError::Unsupported(_)), "{e}");
    assert_eq!(sim.live_objects(), base);
    drop(lc);
    // The lifecycle held the last handle of the nesting parent.
    assert_eq!(sim.live_objects(), base - 1);
}

/// A rig whose lifecycle exposes `n` logical VCMDQs (the host has as many
/// per VINTF), a device plugged, CMDQV and VINTF enabled.
fn rig_n(n: usize) -> Rig {
    let mut r = Rig::from(common::host_with_lvcmdqs(VINTF_GPA, n));
    let dev = r.devs[0].clone();
    r.lc.plug(&dev, 0x10).unwrap();
    r.lc.set_cmdqv_enable(true, &mut NoCache);
    r.lc.set_vintf_enable(true, &mut NoCache);
    r
}

/// Queue `l`'s memory in the many-queue tests: 4 KiB apart.
fn qmem(l: usize) -> u64 {
    RAM + 0x40_0000 + 0x1000 * l as u64
}

fn allocated_lidxs(t: &[Transition]) -> Vec<usize> {
    t.iter()
        .filter_map(|t| match t {
            Transition::QueueAllocated { lidx, .. } => Some(*lidx),
            _ => None,
        })
        .collect()
}

fn freed_lidxs(t: &[Transition]) -> Vec<usize> {
    t.iter()
        .filter_map(|t| match t {
            Transition::QueueFreed { lidx } => Some(*lidx),
            _ => None,
        })
        .collect()
}

#[test]
fn any_lvcmdq_count_allocates_ascending_and_frees_descending() {
    for n in [1usize, 2, 4, 8, 128] {
        let mut r = rig_n(n);
        assert_eq!(r.lc.num_lvcmdqs(), n);
        let viommu = r.lc.viommu().unwrap().id();
        // The guest readies the queues from the top down: each waits for the
        // one below, until queue 0 comes and all of them follow in order.
        for l in (1..n).rev() {
            r.lc.write_base(l, at(qmem(l)), &mut NoCache).unwrap();
            let t = r.lc.set_alloc(l, true, &mut NoCache).unwrap();
            assert!(allocated_lidxs(&t).is_empty(), "n={n}: queue {l} waits");
        }
        r.lc.write_base(0, at(qmem(0)), &mut NoCache).unwrap();
        let t = r.lc.set_alloc(0, true, &mut NoCache).unwrap();
        assert_eq!(allocated_lidxs(&t), (0..n).collect::<Vec<_>>(), "n={n}");
        let snap = r.sim.vintf(viommu).unwrap();
        assert!(snap.queues[..n].iter().all(|q| q.is_some()), "n={n}");
        // Per-queue limits: nothing beyond the count.
        assert_eq!(
            r.lc.write_base(n, at(qmem(0)), &mut NoCache),
            Err(LifecycleError::BadIndex(n))
        );
        assert_eq!(
            r.lc.set_alloc(n, true, &mut NoCache),
            Err(LifecycleError::BadIndex(n))
        );
        assert!(!r.lc.queue_allocated(n) && !r.lc.queue_failed(n));
        // Unmapping a queue in the middle frees it and those above it, the
        // highest first; they come back with it.
        let mid = n / 2;
        let t = r.lc.set_alloc(mid, false, &mut NoCache).unwrap();
        assert_eq!(freed_lidxs(&t), (mid..n).rev().collect::<Vec<_>>(), "n={n}");
        assert!((0..mid).all(|l| r.lc.queue_allocated(l)));
        let t = r.lc.set_alloc(mid, true, &mut NoCache).unwrap();
        assert_eq!(allocated_lidxs(&t), (mid..n).collect::<Vec<_>>(), "n={n}");
        // The VINTF disabled: everything freed, descending.
        let t = r.lc.set_vintf_enable(false, &mut NoCache);
        assert_eq!(freed_lidxs(&t), (0..n).rev().collect::<Vec<_>>(), "n={n}");
        assert!(!r.lc.region_installed());
        r.assert_clean();
    }
}

#[test]
fn a_kernel_refusal_on_a_high_queue_is_its_own_init_error() {
    let n = 8;
    let mut r = rig_n(n);
    r.lc.set_vintf_enable(false, &mut NoCache);
    for l in 0..n {
        r.lc.write_base(l, at(qmem(l)), &mut NoCache).unwrap();
        r.lc.set_alloc(l, true, &mut NoCache).unwrap();
    }
    // The VINTF comes up last; the sixth allocation (queue 5) fails:
    // queues 0..5 are up, 5 has its init error, 6 and 7 wait for it.
    r.sim.inject(Fault {
        op: Some(Op::HwQueueAlloc),
        when: FaultWhen::Nth(6),
        errno: libc::ENOMEM,
    });
    let t = r.lc.set_vintf_enable(true, &mut NoCache);
    assert_eq!(allocated_lidxs(&t), vec![0, 1, 2, 3, 4]);
    assert!(t
        .iter()
        .any(|t| matches!(t, Transition::QueueInitError { lidx: 5, error } if error.errno == libc::ENOMEM)));
    assert!(r.lc.queue_failed(5) && !r.lc.queue_allocated(6));
    // Any precondition write retries (here queue 7's ALLOC again): 5, 6 and
    // 7 come up, in order.
    let t = r.lc.set_alloc(7, true, &mut NoCache).unwrap();
    assert_eq!(allocated_lidxs(&t), vec![5, 6, 7]);
    assert!(!r.lc.queue_failed(5));
    r.assert_clean();
}

#[test]
fn the_lvcmdq_count_is_a_power_of_two_the_host_offers() {
    let h = common::host(VINTF_GPA);
    let e = h.lc.with_lvcmdqs(3).err().expect("not a power of two");
    assert_eq!(e, LifecycleError::LvcmdqCount(3));
    assert!(e.to_string().contains("from 1 to 128"), "{e}");
    for bad in [0, 129, 256] {
        let h = common::host(VINTF_GPA);
        assert_eq!(
            h.lc.with_lvcmdqs(bad).err(),
            Some(LifecycleError::LvcmdqCount(bad))
        );
    }
    // The default host offers two per VINTF: four is refused at the probe
    // and at the first plug, and nothing is left behind.
    let common::Host {
        sim,
        devs,
        lc,
        baseline,
        ..
    } = common::host(VINTF_GPA);
    let mut lc = lc.with_lvcmdqs(4).unwrap();
    let e = lc.probe_host().unwrap_err();
    assert!(
        matches!(&e, LifecycleError::Unsupported(s) if s.contains("need version 1, 4")),
        "{e}"
    );
    assert!(matches!(
        lc.plug(&devs[0], 0x10),
        Err(LifecycleError::Unsupported(_))
    ));
    assert_eq!(sim.live_objects(), baseline);
    // One is fewer than the host has: fine.
    let mut r = rig_n(1);
    r.lc.write_base(0, at(qmem(0)), &mut NoCache).unwrap();
    let t = r.lc.set_alloc(0, true, &mut NoCache).unwrap();
    assert_eq!(allocated_lidxs(&t), vec![0]);
    assert_eq!(
        r.lc.set_alloc(1, true, &mut NoCache),
        Err(LifecycleError::BadIndex(1))
    );
    r.assert_clean();
}
