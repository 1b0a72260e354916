//! What only the in-process side can run: the CMDQV (QEMU 7.2 has none)
//! and an event queue overflow fed by the VMM (QEMU's overflow is in the
//! known differences: it raises GERROR.EVENTQ_ABT_ERR instead).

use firmware_tests::rig::{Loopback, Rig, VSID};
use smmu_driver::cmdqv::Cmdqv;
use smmu_driver::smmu::{CMD_WORDS, EVT_WORDS};
use smmu_driver::smmuv3_regs::enums::EventId;
use smmu_driver::smmuv3_regs::structs::EvtCBadSte;
use smmu_driver::{cmd, event, CmdError, Error, Smmu, Words};

/// An SMMU brought up as the scenarios do (linear table of 256 STEs,
/// 256-entry command queue, 128-entry event queue).
fn enabled_smmu(rig: &mut Rig) -> Smmu<'static, Loopback> {
    let mut smmu = Smmu::probe(rig.smmu_mmio()).expect("probe");
    let strtab = rig.alloc(64 << 8, 64 << 8).unwrap();
    let cq = rig
        .alloc((CMD_WORDS * 8) << 8, (CMD_WORDS * 8) << 8)
        .unwrap();
    let eq = rig
        .alloc((EVT_WORDS * 8) << 7, (EVT_WORDS * 8) << 7)
        .unwrap();
    smmu.disable().unwrap();
    smmu.setup_strtab_linear(strtab, 8).unwrap();
    smmu.setup_cmdq(cq, 8).unwrap();
    smmu.setup_eventq(eq, 7).unwrap();
    smmu.enable().unwrap();
    smmu
}

#[test]
fn events_from_the_vmm_overflow_the_guest_queue() {
    let mut rig = Rig::new();
    let mut smmu = enabled_smmu(&mut rig);
    let rec = EvtCBadSte::new().with(EvtCBadSte::SID, u64::from(VSID));
    for _ in 0..16 {
        assert!(rig.bus.borrow_mut().device_mut().push_event(&rec.0));
    }
    let mut n = 0;
    while let (Some(e), ovf) = smmu.pop_event().unwrap() {
        assert!(!ovf);
        assert_eq!(e.0, rec.0);
        assert_eq!(event::kind(&e), Some(EventId::C_BAD_STE));
        n += 1;
    }
    assert_eq!(n, 16);
    // 200 more into a 128-entry queue: the architecture's overflow flag,
    // no global error.
    for _ in 0..200 {
        rig.bus.borrow_mut().device_mut().push_event(&rec.0);
    }
    let prod = smmu.regs().eventq_prod().get();
    assert!(!smmu.global_errors().eventq_abt_err());
    let (first, overflow) = smmu.pop_event().unwrap();
    assert!(first.is_some());
    assert!(overflow, "OVFLG reported");
    // PROD stopped at CONS (16) + 128 entries, a full queue, with OVFLG
    // (bit 31) toggled.
    assert_eq!(prod, 0x8000_0090);
}

#[test]
fn cmdqv_guest_vcmdq_on_the_model() {
    let mut rig = Rig::new();
    let _smmu = enabled_smmu(&mut rig);
    let mut cmdqv = Cmdqv::probe(rig.cmdqv_mmio()).expect("CMDQV probe");
    let p = *cmdqv.params();
    assert!(p.version >= 1);
    cmdqv.set_enabled(true).unwrap();
    assert!(cmdqv.is_enabled());
    assert!(cmdqv.alloc_vcmdq(0, 0, 0).unwrap());
    assert!(
        !cmdqv.enable_vintf(0, true).unwrap(),
        "a guest reads HYP_OWN = 0"
    );
    let buf = rig.alloc(16 << 4, 16 << 4).unwrap();
    let mut vq = cmdqv.setup_vcmdq(0, 0, buf, 4).unwrap();
    // 20 invalidations through a 16-entry queue: wraps.
    let cmds: Vec<_> = (0..20).map(cmd::tlbi_nh_asid).collect();
    cmdqv.submit_and_sync(&mut vq, &cmds).unwrap();
    assert_eq!(cmdqv.vcmdq_error_map(0).unwrap(), 0);
    // CFGI_ALL is outside the guest subset: refused, then skipped.
    let r = cmdqv.submit_and_sync(&mut vq, &[cmd::cfgi_all()]);
    assert_eq!(r, Err(Error::Command(CmdError::Ill)));
    // The error maps name global VCMDQ 0, VINTF 0 and its logical VCMDQ 0.
    assert_eq!(cmdqv.vcmdq_error_map(0).unwrap(), 1);
    assert_eq!(cmdqv.vintf_error_map(), 1);
    assert_eq!(cmdqv.lvcmdq_error_map(0, 0).unwrap(), 1);
    let f = cmdqv.recover_vcmdq_error(&mut vq).unwrap().unwrap();
    assert_eq!((f.opcode, f.error), (0x04, CmdError::Ill));
    assert_eq!(cmdqv.vcmdq_error_map(0).unwrap(), 0);
    assert_eq!(cmdqv.vintf_error_map(), 0);
    assert_eq!(cmdqv.lvcmdq_error_map(0, 0).unwrap(), 0);
    cmdqv
        .submit_and_sync(&mut vq, &[cmd::tlbi_nh_asid(7)])
        .unwrap();
    cmdqv.teardown_vcmdq(vq).unwrap();
}
