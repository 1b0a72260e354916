//! The vSMMUv3 core against the simulated kernel: STEs from a linear and a
//! two-level stream table attach devices to abort, bypass or nested HWPTs;
//! invalidations reach `IOMMU_HWPT_INVALIDATE` with the vSID translated;
//! CMD_SYNC writes its MSI; illegal and kernel-refused commands stop the queue
//! at the right entry and the queue resumes afterwards; unplug and teardown
//! leave nothing behind.

use std::sync::Arc;

use vdev::backend::sim::{Fault, FaultWhen, KernelInvalidation, SimBackend, SimGuestRam};
use vdev::backend::{deferred, Backend, Device, Op};
use vdev::cmdqv::lifecycle::Transition;
use vdev::smmuv3::cmdq::{Geometry, CERROR_ILL};
use vdev::smmuv3::strtab::{Attach, Config};
use vdev::smmuv3::SmmuCore;

mod common;

use common::RAM;

const STRTAB: u64 = RAM + 0x1_0000;
const CMDQ: u64 = RAM + 0x4_0000;
const MSI: u64 = RAM + 0x8_0000;
const L2: u64 = RAM + 0x9_0000;
const CD: u64 = RAM + 0xa_0000;

struct Rig {
    sim: SimBackend,
    ram: Arc<SimGuestRam>,
    core: SmmuCore,
    devs: Vec<Arc<Device>>,
    baseline: usize,
    prod: u32,
    cons: u32,
}

const LOG2Q: u32 = 10;

fn rig() -> Rig {
    let common::Host {
        sim,
        ram,
        devs,
        lc,
        baseline,
        ..
    } = common::host(0x900_0000);
    let core = SmmuCore::new(lc, Arc::new(sim.clone()), ram.clone());
    Rig {
        sim,
        ram,
        core,
        devs,
        baseline,
        prod: 0,
        cons: 0,
    }
}

fn ste_s1() -> [u64; 2] {
    [1 | (0b101 << 1) | CD, 0]
}

fn ste_bypass() -> [u64; 2] {
    [1 | (0b100 << 1), 0]
}

impl Rig {
    /// Makes the simulated kernel fail `op` calls (`when`) with `errno`.
    fn fail(&self, op: Op, when: FaultWhen, errno: i32) {
        self.sim.inject(Fault {
            op: Some(op),
            when,
            errno,
        });
    }
    fn put_ste(&self, addr: u64, ste: [u64; 2]) {
        assert!(self.ram.write_u64(addr, ste[0]));
        assert!(self.ram.write_u64(addr + 8, ste[1]));
    }
    fn submit(&mut self, cmds: &[[u64; 2]]) -> vdev::smmuv3::cmdq::Outcome {
        let mask = (2u32 << LOG2Q) - 1;
        for c in cmds {
            let slot = u64::from(self.prod & ((1 << LOG2Q) - 1));
            assert!(self.ram.write_u64(CMDQ + slot * 16, c[0]));
            assert!(self.ram.write_u64(CMDQ + slot * 16 + 8, c[1]));
            self.prod = (self.prod + 1) & mask;
        }
        let out = self.core.consume(
            Geometry::from_base(CMDQ | u64::from(LOG2Q), 19),
            self.prod,
            self.cons,
        );
        self.cons = out.cons;
        out
    }
    fn plug_both(&mut self) {
        let (d0, d1) = (self.devs[0].clone(), self.devs[1].clone());
        self.core.plug(&d0, 0x10).unwrap();
        self.core.plug(&d1, 0x11).unwrap();
    }
    /// Both devices plugged, the SMMU enabled on a linear stream table in
    /// which vSID 0x10 translates through stage 1 (0x11's STE is zero).
    fn nested_0x10(&mut self) {
        self.plug_both();
        self.core.set_strtab(Config::from_regs(STRTAB, 8, 16));
        self.put_ste(STRTAB + 0x10 * 64, ste_s1());
        self.core.set_enable(true, false);
    }
    fn finish(mut self) {
        self.core.teardown();
        assert_eq!(self.sim.live_objects(), self.baseline, "leak");
        assert_eq!(self.sim.live_mappings(), 0);
    }
}

fn cfgi_ste(sid: u32) -> [u64; 2] {
    [0x03 | (u64::from(sid) << 32), 1]
}

#[test]
fn stes_from_a_linear_table_attach_bypass_nested_abort() {
    let mut r = rig();
    r.plug_both();
    // SMMUEN = 0 with GBPA.ABORT = 0: bypass.
    assert_eq!(r.core.attachment(0x10), Some(Attach::Bypass));
    r.core.set_enable(false, true);
    assert_eq!(r.core.attachment(0x11), Some(Attach::Abort));
    r.core.set_strtab(Config::from_regs(STRTAB, 8, 16));
    r.put_ste(STRTAB + 0x10 * 64, ste_s1());
    r.put_ste(STRTAB + 0x11 * 64, ste_bypass());
    r.core.set_enable(true, false);
    assert!(matches!(r.core.attachment(0x10), Some(Attach::Nested(_))));
    assert_eq!(r.core.attachment(0x11), Some(Attach::Bypass));
    // The guest invalidates an STE it made invalid: abort after CFGI_STE.
    r.put_ste(STRTAB + 0x11 * 64, [0, 0]);
    let o = r.submit(&[cfgi_ste(0x11), [0x46, 0]]);
    assert_eq!(o.error, None);
    assert_eq!(r.core.attachment(0x11), Some(Attach::Abort));
    // CFGI_ALL (STE_RANGE with Range 31) re-reads both.
    r.put_ste(STRTAB + 0x11 * 64, ste_s1());
    r.put_ste(STRTAB + 0x10 * 64, ste_bypass());
    let o = r.submit(&[[0x04, 31], [0x46, 0]]);
    assert_eq!(o.error, None);
    assert_eq!(r.core.attachment(0x10), Some(Attach::Bypass));
    assert!(matches!(r.core.attachment(0x11), Some(Attach::Nested(_))));
    // A stage-2 config is not offered: abort, without a command error.
    r.put_ste(STRTAB + 0x10 * 64, [1 | (0b110 << 1), 0]);
    assert_eq!(r.submit(&[cfgi_ste(0x10)]).error, None);
    assert_eq!(r.core.attachment(0x10), Some(Attach::Abort));
    r.finish();
}

#[test]
fn two_level_stream_table() {
    let mut r = rig();
    r.plug_both();
    // 2^16 SIDs, split 8: SID 0x10/0x11 live in L1[0] -> L2 with SPAN 9.
    r.core
        .set_strtab(Config::from_regs(STRTAB, 16 | (8 << 6) | (1 << 16), 16));
    assert!(r.ram.write_u64(STRTAB, L2 | 9));
    r.put_ste(L2 + 0x10 * 64, ste_s1());
    r.core.set_enable(true, false);
    assert!(matches!(r.core.attachment(0x10), Some(Attach::Nested(_))));
    // 0x11's STE is zero: V = 0, abort.
    assert_eq!(r.core.attachment(0x11), Some(Attach::Abort));
    r.finish();
}

#[test]
fn invalidations_batch_translate_and_sync_writes_msi() {
    let mut r = rig();
    r.plug_both();
    let mut cmds = Vec::new();
    for i in 0..300u64 {
        cmds.push([0x12 | (7 << 48), i << 12]);
    }
    cmds.push([0x40 | (0x11 << 32), 0]); // ATC_INV for vSID 0x11
    cmds.push([0x40 | (0x55 << 32), 0]); // no such device: a no-op
    cmds.push([0x46 | (1 << 12) | (0xcafe << 32), MSI]);
    let o = r.submit(&cmds);
    assert_eq!(o.error, None);
    assert_eq!(o.executed, 303);
    let k = r.sim.kernel_invalidations();
    assert_eq!(k.len(), 301);
    assert!(matches!(
        k.last(),
        Some(KernelInvalidation::Smmuv3 { cmd, .. }) if cmd[0] >> 32 == 0x200
    ));
    let mut b = [0u8; 4];
    assert!(vdev::vmm::GuestMemory::read(r.ram.as_ref(), MSI, &mut b));
    assert_eq!(u32::from_le_bytes(b), 0xcafe);
    assert_eq!(r.core.stats.msis, 1);
    assert!(r.core.stats.flushes >= 3, "batches of at most 128");
    r.finish();
}

#[test]
fn illegal_command_stops_at_it_and_the_queue_resumes() {
    let mut r = rig();
    r.plug_both();
    // TLBI_EL2_ALL (0x20) is not offered to a stage-1-only guest.
    let o = r.submit(&[[0x12, 0], [0x12, 0x1000], [0x20, 0], [0x46, 0]]);
    assert_eq!(o.error, Some(CERROR_ILL));
    assert_eq!(o.cons, 2 | (CERROR_ILL << 24));
    assert_eq!(o.executed, 2);
    assert_eq!(r.sim.kernel_invalidations().len(), 2);
    // The guest skips the bad entry (after acknowledging GERROR).
    r.cons = 3;
    let o = r.submit(&[]);
    assert_eq!(o.error, None);
    assert_eq!(o.cons, 4);
    assert_eq!(r.core.stats.cmd_errors, 1);
    r.finish();
}

#[test]
fn kernel_refused_invalidation_is_an_illegal_command_at_its_index() {
    let mut r = rig();
    r.plug_both();
    // The kernel refuses the batch before handling any entry (an injected
    // EIO): the queue stops at the first batched command.
    r.fail(Op::HwptInvalidate, FaultWhen::Nth(1), libc::EIO);
    let o = r.submit(&[[0x12, 0], [0x12, 0x1000], [0x46, 0]]);
    assert_eq!(o.error, Some(CERROR_ILL));
    assert_eq!(o.cons, CERROR_ILL << 24);
    r.cons = 0;
    let o = r.submit(&[]);
    assert_eq!(o.error, None);
    assert_eq!(o.cons, 3);
    r.finish();
}

#[test]
fn unplug_detaches_and_frees_and_teardown_is_clean() {
    let mut r = rig();
    r.nested_0x10();
    let before = r.sim.live_objects();
    let t = r.core.unplug(0x10);
    assert_eq!(
        t,
        vec![vdev::cmdqv::lifecycle::Transition::VdeviceFreed { vsid: 0x10 }]
    );
    // vDEVICE and the nested HWPT are gone.
    assert_eq!(r.sim.live_objects(), before - 2);
    assert_eq!(r.core.attachment(0x10), None);
    // Commands for the unplugged SID complete as no-ops.
    let o = r.submit(&[[0x40 | (0x10 << 32), 0], cfgi_ste(0x10), [0x46, 0]]);
    assert_eq!(o.error, None);
    r.finish();
}

/// A nested device whose STE the guest then clears, with every HWPT
/// allocation failing from now on: the model cannot build an abort HWPT.
fn nested_then_cleared_without_hwpts(r: &mut Rig) {
    r.nested_0x10();
    assert!(matches!(r.core.attachment(0x10), Some(Attach::Nested(_))));
    r.fail(Op::HwptAlloc, FaultWhen::Every, libc::ENOMEM);
    r.put_ste(STRTAB + 0x10 * 64, [0, 0]);
    assert_eq!(r.submit(&[cfgi_ste(0x10), [0x46, 0]]).error, None);
}

#[test]
fn a_cleared_ste_without_an_abort_hwpt_detaches_the_device() {
    let mut r = rig();
    nested_then_cleared_without_hwpts(&mut r);
    // Fail closed: off the old stage-1 table, blocked by the detach.
    assert_eq!(r.sim.device_attachment(r.devs[0].id()), None);
    assert_eq!(r.core.attachment(0x10), Some(Attach::Abort));
    assert_eq!(
        (r.core.stats.detached_to_block, r.core.stats.block_failed),
        (1, 0)
    );
    r.sim.clear_faults();
    // The guest makes it valid again: attached to a new nested HWPT.
    r.put_ste(STRTAB + 0x10 * 64, ste_s1());
    assert_eq!(r.submit(&[cfgi_ste(0x10)]).error, None);
    assert!(r.sim.device_attachment(r.devs[0].id()).is_some());
    r.finish();
}

#[test]
fn neither_abort_nor_detach_is_reported_and_retried() {
    let mut r = rig();
    r.fail(Op::VfioDetach, FaultWhen::Nth(1), libc::EIO);
    nested_then_cleared_without_hwpts(&mut r);
    // The kernel refused both ways out: counted and logged, and the next
    // CFGI_STE tries again (the binding was not marked as done).
    assert_eq!(r.core.stats.block_failed, 1);
    assert!(r.sim.device_attachment(r.devs[0].id()).is_some());
    assert_eq!(r.submit(&[cfgi_ste(0x10)]).error, None);
    assert_eq!(r.sim.device_attachment(r.devs[0].id()), None);
    assert_eq!(r.core.stats.detached_to_block, 1);
    r.sim.clear_faults();
    r.finish();
}

#[test]
fn an_unplug_whose_detach_is_refused_keeps_the_hwpt_until_teardown() {
    let mut r = rig();
    r.nested_0x10();
    let hwpt = r.sim.device_attachment(r.devs[0].id()).expect("attached");
    r.fail(Op::VfioDetach, FaultWhen::Nth(1), libc::EIO);
    r.core.unplug(0x10);
    // Still attached, so the HWPT was kept rather than destroyed (which the
    // kernel refuses while a device uses it) and lost.
    assert_eq!(r.core.stranded(), [r.devs[0].id()]);
    assert_eq!(r.sim.device_attachment(r.devs[0].id()), Some(hwpt));
    // Teardown retries the detach, then releases it and everything else.
    r.finish();
}

#[test]
fn teardown_keeps_and_reports_what_it_cannot_release() {
    let mut r = rig();
    r.nested_0x10();
    r.fail(Op::VfioDetach, FaultWhen::Every, libc::EIO);
    r.core.teardown();
    let mut left = r.core.stranded();
    left.sort_unstable();
    let mut want = vec![r.devs[0].id(), r.devs[1].id()];
    want.sort_unstable();
    assert_eq!(left, want, "both devices still attached, both kept");
    r.sim.clear_faults();
    r.finish();
}

#[test]
fn a_destroy_refused_in_drop_is_kept_and_retried_at_teardown() {
    let mut r = rig();
    r.nested_0x10();
    // The guest moves 0x10 to bypass; the old nested HWPT's destroy fails.
    r.fail(Op::Destroy, FaultWhen::Nth(1), libc::EBUSY);
    r.put_ste(STRTAB + 0x10 * 64, ste_bypass());
    assert_eq!(r.submit(&[cfgi_ste(0x10)]).error, None);
    assert_eq!(r.core.attachment(0x10), Some(Attach::Bypass));
    let kept = r.sim.deferred_destroys().expect("the simulator keeps them");
    assert_eq!(kept.len(), 1, "kept, not lost");
    // Teardown retries it: nothing is left (finish checks every object).
    r.finish();
}

#[test]
fn teardown_names_every_object_whose_destroy_stays_refused() {
    let mut r = rig();
    r.plug_both();
    r.fail(Op::Destroy, FaultWhen::Every, libc::EIO);
    let t = r.core.teardown();
    let unreleased: Vec<_> = t
        .iter()
        .filter_map(|t| match t {
            Transition::Unreleased(d) => Some((d.what, d.error.errno)),
            _ => None,
        })
        .collect();
    assert!(
        unreleased.iter().any(|(w, _)| *w == "vIOMMU"),
        "{unreleased:?}"
    );
    assert!(unreleased.iter().all(|(_, e)| *e == libc::EIO));
    assert!(r.sim.live_objects() > r.baseline);
    // Once the kernel lets go, one more retry releases all of it.
    r.sim.clear_faults();
    assert!(deferred::retry(&r.sim).is_empty());
    r.finish();
}
