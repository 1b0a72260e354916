//! Every backend failure injected through the device models: one scripted
//! guest session (plug, SMMU and CMDQV bring-up, STEs, commands on the
//! emulated CMDQ and both VCMDQs, an illegal command on each, a device
//! fault, unplug and re-plug, device reset, teardown) is run with call k of
//! one operation failing, for k = 1, 2, ... until a session no longer
//! reaches call k; then with every call of it failing; then with call k of
//! any operation failing. Each run checks that the fault fired, that the
//! guest saw the documented outcome, that the model's view of each device
//! matches the host's, and that teardown leaves nothing behind.

use super::device_faults::{f_translation, PSIDS};
use super::*;
use vdev::smmuv3::strtab::Attach;

const EVQ: u64 = RAM + 0x8_0000;
const CDS: u64 = RAM + 0xc_0000;

/// What the guest saw in one session.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// A VCMDQ showed GERROR.CMDQ_INIT_ERR.
    init_err: bool,
    /// Stops of the emulated CMDQ (CMDQ_CONS.ERR), the script's own included.
    cmdq_stops: u32,
    /// Stops of a VCMDQ (its GERROR.CMDQ_ERR), the script's own included.
    vcmdq_stops: u32,
    /// Records in the guest's event queue.
    events: u32,
}

fn smmu(o: usize) -> u64 {
    SMMU + o as u64
}

impl Rig {
    /// The emulated CMDQ runs `cmds` from `prod`; every stop is counted and
    /// recovered the guest's way (the failing entry replaced by a CMD_SYNC,
    /// GERRORN acknowledged), a bounded number of times.
    fn cmdq_run(&mut self, prod: &mut u32, cmds: &[[u64; 2]], seen: &mut Seen) {
        self.put_cmds(CMDQ, prod, cmds);
        self.bus.write32(smmu(sm::CMDQ_PROD::OFFSET), *prod);
        for _ in 0..=cmds.len() {
            let cons = self.bus.read32(smmu(sm::CMDQ_CONS::OFFSET));
            if sm::CMDQ_CONS::ERR.read(cons) == 0 {
                break;
            }
            seen.cmdq_stops += 1;
            let slot = u64::from(cons & ((1 << LOG2) - 1));
            self.ram.write_u64(CMDQ + slot * 16, 0x46);
            let gerror = self.bus.read32(smmu(sm::GERROR::OFFSET));
            self.bus.write32(smmu(sm::GERRORN::OFFSET), gerror);
        }
    }

    /// Logical VCMDQ `l` runs `cmds`; a stop is counted and recovered as
    /// Linux's ISR does (entry replaced, GERRORN = GERROR).
    fn vcmdq_run(&mut self, l: usize, prod: &mut u32, cmds: &[[u64; 2]], seen: &mut Seen) {
        use cq::VINTF_PAGE0::LVCMDQ as L;
        self.bus.write32(lv(l, L::CONFIG::OFFSET), 1);
        let cons = self.vsubmit(l, prod, cmds);
        let ge = self.bus.read32(lv(l, L::GERROR::OFFSET));
        let gn = self.bus.read32(lv(l, L::GERRORN::OFFSET));
        if cq::fieldsets::VcmdqErrors::CMDQ_ERR.read(ge ^ gn) == 1 {
            seen.vcmdq_stops += 1;
            let slot = u64::from(cons & ((1 << LOG2) - 1));
            self.ram.write_u64(QMEM[l] + slot * 16, 0x46);
            self.bus.write32(lv(l, L::GERRORN::OFFSET), ge);
        }
    }

    fn note_init_errors(&mut self, seen: &mut Seen) {
        for qi in 0..2 {
            seen.init_err |= self.init_err(qi);
        }
    }

    /// The model's view of each plugged device matches the host's: a
    /// device the model believes translated is attached to something, and
    /// one it detached to block it is attached to nothing.
    fn check_attachments(&self, what: &str) {
        let core = self.bus.device().core();
        for (i, v) in VSIDS.iter().enumerate() {
            let host = self.sim.device_attachment(self.devs[i].id());
            if let Some(Attach::Nested(_) | Attach::Bypass) = core.attachment(*v) {
                assert!(host.is_some(), "{what}: vSID {v:#x} believed attached");
            }
        }
    }

    /// The scripted guest session; never panics on a backend failure.
    fn session(&mut self) -> Seen {
        let mut seen = Seen::default();
        for (i, v) in VSIDS.iter().enumerate() {
            let d = self.devs[i].clone();
            let _ = self.bus.device_mut().plug(&d, *v);
            // Both vSIDs translate through a stage-1 context of their own.
            let ste0 = 1 | (0b101 << 1) | (CDS + 0x1000 * i as u64);
            self.ram.write_u64(STRTAB + u64::from(*v) * 64, ste0);
        }
        self.bus.write64(smmu(sm::STRTAB_BASE::OFFSET), STRTAB);
        self.bus.write32(smmu(sm::STRTAB_BASE_CFG::OFFSET), 8);
        self.bus
            .write64(smmu(sm::CMDQ_BASE::OFFSET), CMDQ | u64::from(LOG2));
        self.bus.write64(smmu(sm::EVENTQ_BASE::OFFSET), EVQ | 3);
        let irqs =
            sm::IRQ_CTRL::GERROR_IRQEN.val(1).value | sm::IRQ_CTRL::EVENTQ_IRQEN.val(1).value;
        self.bus.write32(smmu(sm::IRQ_CTRL::OFFSET), irqs);
        let cr0 = sm::CR0::SMMUEN.val(1).value
            | sm::CR0::CMDQEN.val(1).value
            | sm::CR0::EVENTQEN.val(1).value;
        self.bus.write32(smmu(sm::CR0::OFFSET), cr0);
        self.enable_queues();
        self.note_init_errors(&mut seen);
        self.check_attachments("bring-up");

        // The emulated CMDQ: invalidations, a sync, an illegal command.
        let mut prod = 0;
        let tlbis = [[0x11 | (1 << 48), 0], [0x12 | (1 << 48), 0x1000], [0x46, 0]];
        self.cmdq_run(&mut prod, &tlbis, &mut seen);
        self.cmdq_run(&mut prod, &[[0x7f, 0], [0x46, 0]], &mut seen);
        // The guest aborts vSID 0x11's stream (STE.V = 0) and invalidates it.
        self.ram.write_u64(STRTAB + u64::from(VSIDS[1]) * 64, 0);
        let cfgi = [0x03 | (u64::from(VSIDS[1]) << 32), 0];
        self.cmdq_run(&mut prod, &[cfgi, [0x46, 0]], &mut seen);
        self.check_attachments("abort");

        // Both VCMDQs, and an illegal command on the second.
        let mut vprod = [0u32; 2];
        for (l, p) in vprod.iter_mut().enumerate() {
            self.vcmdq_run(l, p, &[[0x11, 0], [0x46, 0]], &mut seen);
        }
        self.vcmdq_run(1, &mut vprod[1], &[[0x7f, 0], [0x46, 0]], &mut seen);
        self.note_init_errors(&mut seen);

        // A device fault under the physical StreamID; the VMM services the
        // vEVENTQ twice (a failed read leaves the record queued).
        let _ = self.sim.report_smmu_event(f_translation(PSIDS[0], 0x5000));
        self.bus.device_mut().service_events();
        self.bus.device_mut().service_events();
        let evprod = self.bus.read32(smmu(sm::EVENTQ_PROD::OFFSET));
        seen.events = evprod & ((2 << 3) - 1);

        // Unplug and re-plug the second device, then a device reset and a
        // second bring-up of the queues with one command each.
        self.bus.device_mut().unplug(VSIDS[1]);
        let d1 = self.devs[1].clone();
        let _ = self.bus.device_mut().plug(&d1, VSIDS[1]);
        self.check_attachments("re-plug");
        self.bus.device_mut().reset();
        self.enable_queues();
        self.note_init_errors(&mut seen);
        for (l, p) in [0u32; 2].iter_mut().enumerate() {
            self.vcmdq_run(l, p, &[[0x46, 0]], &mut seen);
        }
        seen
    }

    /// Teardown with the injected faults still in place, then checks that
    /// nothing is left (what a refused destroy or detach held back is
    /// retried by teardown itself).
    fn finish_under_faults(self, what: &str) {
        let mut r = self;
        let t = r.bus.device_mut().teardown();
        assert_eq!(t.last(), Some(&Transition::TornDown), "{what}");
        assert!(
            !t.iter().any(|t| matches!(t, Transition::Unreleased(_))),
            "{what}: {t:?}"
        );
        assert_eq!(r.sim.live_objects(), r.baseline, "{what}: objects left");
        assert_eq!(r.sim.live_mappings(), 0, "{what}: mapping left");
        assert!(r.regions.installed().is_empty(), "{what}: region left");
    }
}

/// Operations the session never reaches once the rig is built (opening,
/// IOAS set-up, the selftest, VFIO bind, the host probe): every
/// other one must be reached, or the sweep proves nothing about it.
const NOT_REACHED: &[Op] = &[
    Op::Open,
    Op::GetHwInfo,
    Op::IoasAlloc,
    Op::IoasMap,
    Op::IoasUnmap,
    Op::TestCmd,
    Op::VfioBind,
];

/// Sessions past this many fault points of one operation mean the script
/// grew without the bound being revisited (a test that cannot end is not a
/// test).
const MAX_POINTS: u64 = 200;

fn fault(op: Option<Op>, when: FaultWhen) -> Fault {
    Fault {
        op,
        when,
        errno: libc::EIO,
    }
}

/// The session without faults: the baseline every outcome is compared with.
fn clean_session() -> Seen {
    let mut r = rig();
    let seen = r.session();
    assert!(!seen.init_err);
    assert_eq!((seen.cmdq_stops, seen.vcmdq_stops, seen.events), (1, 1, 1));
    r.finish_under_faults("no fault");
    seen
}

/// What the guest must have seen when call k of `op` failed (k = 0: every
/// call failed).
fn check_outcome(op: Op, k: u64, seen: Seen, clean: Seen, r: &Rig) {
    let what = format!("{op:?} call {k}");
    let stats = r.bus.device().core().stats;
    match op {
        // A VCMDQ's HW queue could not be allocated: CMDQ_INIT_ERR.
        Op::HwQueueAlloc => assert!(seen.init_err, "{what}: no CMDQ_INIT_ERR"),
        // IOMMU_HWPT_INVALIDATE refused: the emulated CMDQ stopped at it.
        Op::HwptInvalidate => assert!(seen.cmdq_stops > clean.cmdq_stops, "{what}: {seen:?}"),
        // An STE's HWPT could not be built: the stream was aborted (or
        // detached to block it), never left on its old configuration.
        Op::HwptAlloc => assert!(
            stats.ste_refused + stats.detached_to_block >= 1,
            "{what}: {stats:?}"
        ),
        // A failed vEVENTQ read leaves the record queued: the next service
        // delivers it. With every read failing it stays in the host's
        // queue, and the device counts each failure.
        Op::VeventqRead if k == 0 => {
            assert_eq!(seen.events, 0, "{what}");
            assert!(r.bus.device().stats().host_event_errors >= 2, "{what}");
        }
        Op::VeventqRead => assert_eq!(seen.events, clean.events, "{what}: event lost"),
        _ => {}
    }
}

#[test]
fn call_k_of_every_operation_failing_is_seen_by_the_guest_and_leaves_nothing() {
    let clean = clean_session();
    let mut points = 0u64;
    for op in Op::ALL {
        let mut k = 1;
        loop {
            let mut r = rig();
            r.sim.inject(fault(Some(*op), FaultWhen::Nth(k)));
            let seen = r.session();
            let fired = r.sim.faults_fired();
            if fired == 0 {
                // The session no longer reaches call k: passes clean.
                assert_eq!(
                    seen, clean,
                    "{op:?}: call {k} not reached, yet the guest saw more"
                );
                r.finish_under_faults(&format!("{op:?} call {k} (not reached)"));
                break;
            }
            assert_eq!(fired, 1, "{op:?} call {k}");
            check_outcome(*op, k, seen, clean, &r);
            r.finish_under_faults(&format!("{op:?} call {k}"));
            points += 1;
            k += 1;
            assert!(k <= MAX_POINTS, "{op:?}: more than {MAX_POINTS} calls");
        }
        assert_eq!(
            k == 1,
            NOT_REACHED.contains(op),
            "{op:?}: reached up to k = {k}"
        );
    }
    println!(
        "fault sweep: {points} single-fault points over {} operations",
        Op::ALL.len() - NOT_REACHED.len()
    );
}

#[test]
fn every_call_of_an_operation_failing_never_panics_and_teardown_recovers_all() {
    let clean = clean_session();
    for op in Op::ALL {
        let mut r = rig();
        r.sim.inject(fault(Some(*op), FaultWhen::Every));
        let seen = r.session();
        if !NOT_REACHED.contains(op) {
            assert!(r.sim.faults_fired() >= 1, "{op:?}: never fired");
        }
        check_outcome(*op, 0, seen, clean, &r);
        r.check_attachments(&format!("{op:?} every call"));
        // Teardown while every call still fails reports what it could not
        // release instead of losing it; once the kernel lets go, a second
        // teardown releases everything.
        let t = r.bus.device_mut().teardown();
        assert_eq!(t.last(), Some(&Transition::TornDown), "{op:?}");
        r.sim.clear_faults();
        r.finish_under_faults(&format!("{op:?} every call, then cleared"));
    }
}

#[test]
fn call_k_of_any_operation_failing_never_panics_and_leaves_nothing() {
    let mut k = 1;
    loop {
        let mut r = rig();
        r.sim.inject(fault(None, FaultWhen::Nth(k)));
        r.session();
        let fired = r.sim.faults_fired();
        r.check_attachments(&format!("any call {k}"));
        r.finish_under_faults(&format!("any call {k}"));
        if fired == 0 {
            break;
        }
        k += 1;
        assert!(k <= 10 * MAX_POINTS, "more than {} calls", 10 * MAX_POINTS);
    }
    println!("fault sweep: {} calls of any operation", k - 1);
}
