//! Bringing the SMMU up and driving its command queue: probe, enable,
//! CFGI/TLBI/SYNC, optional commands, illegal commands and recovery.

use super::{ensure, expect, Fail, Outcome, Platform, World, CMDQ_LOG2, EVTQ_LOG2, STRTAB_LOG2};
use crate::error::{CmdError, Error};
use crate::smmu::{Smmu, CMD_WORDS, EVT_WORDS};
use crate::structs::{cmd, Command};
use regmap_rt::Words;
use smmuv3_regs::enums::CmdOpcode;
use smmuv3_regs::structs::CmdCfgiSte;
use smmuv3_regs::{enums::StrtabFmt, STRTAB_BASE_CFG};
use smmuv3_regs::{AIDR, CMDQ_CONS, CMDQ_PROD, CR0, GBPA, IDR0, IDR1, IDR3, IDR5, IIDR};

/// Slots in the scenarios' command queue.
const CMDQ_SLOTS: u32 = 1 << CMDQ_LOG2;

/// probe: reads the ID registers (every field is recorded) and checks that
/// the SMMU offers what the later scenarios use.
pub(super) fn probe<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let smmu = Smmu::probe(w.p.smmu_mmio())?;
    let c = *smmu.capabilities();
    let aidr = smmu.regs().aidr().get();
    w.smmu = Some(smmu);
    w.rec_fields("idr0", c.idr0, IDR0::FIELDS);
    w.rec_fields("idr1", c.idr1, IDR1::FIELDS);
    w.rec_fields("idr3", c.idr3, IDR3::FIELDS);
    w.rec_fields("idr5", c.idr5, IDR5::FIELDS);
    w.rec_fields("iidr", c.iidr, IIDR::FIELDS);
    w.rec_fields("aidr", aidr, AIDR::FIELDS);
    // What the scenarios rely on: AArch64 stage 1 with the 4 KiB granule
    // and a 44-bit output range (the CD's IPS), two-level stream tables
    // for 16-bit StreamIDs, queues of the sizes installed below.
    ensure(c.stage1 && c.aarch64_tables, "no AArch64 stage 1")?;
    ensure(c.gran4k, "no 4 KiB granule")?;
    ensure(c.oas_bits >= 44, "output address size below 44 bits")?;
    ensure(c.two_level_strtab, "no two-level stream tables")?;
    ensure(c.sid_bits >= 16, "fewer than 16 StreamID bits")?;
    ensure(
        u32::from(c.cmdq_max_log2) >= CMDQ_LOG2 && u32::from(c.eventq_max_log2) >= EVTQ_LOG2,
        "queues smaller than the scenarios use",
    )
}

/// Allocates and installs a linear stream table and both queues, then
/// enables the SMMU (the SMMU must be disabled first: this does it).
pub(super) fn linear_bring_up<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let strtab = w.alloc(64 << STRTAB_LOG2, 64 << STRTAB_LOG2)?;
    let (cmdq, evtq) = queues(w)?;
    let smmu = w.smmu()?;
    smmu.disable()?;
    smmu.setup_strtab_linear(strtab, STRTAB_LOG2)?;
    smmu.setup_cmdq(cmdq, CMDQ_LOG2)?;
    smmu.setup_eventq(evtq, EVTQ_LOG2)?;
    smmu.enable()?;
    Ok(())
}

/// Fresh command and event queue memory of the scenarios' sizes.
pub(super) fn queues<P: Platform>(
    w: &mut World<'_, P>,
) -> Result<(crate::DmaBuf<'static>, crate::DmaBuf<'static>), Fail> {
    let cq = (CMD_WORDS * 8) << CMDQ_LOG2;
    let eq = (EVT_WORDS * 8) << EVTQ_LOG2;
    Ok((w.alloc(cq, cq)?, w.alloc(eq, eq)?))
}

/// Checks the state after an enable: CR0ACK echoes CR0 with SMMUEN,
/// EVENTQEN and CMDQEN, the enable's invalidations were consumed, no
/// global error.
pub(super) fn expect_enabled<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let r = w.smmu()?.regs();
    let (cr0, ack) = (r.cr0().get(), r.cr0ack().get());
    let (prod, cons) = (r.cmdq_prod().get(), r.cmdq_cons().get());
    let on = (CR0::SMMUEN::SET + CR0::EVENTQEN::SET + CR0::CMDQEN::SET).value;
    expect("CR0", cr0.into(), on.into())?;
    expect("CR0ACK", ack.into(), on.into())?;
    expect(
        "CMDQ_CONS.RD",
        CMDQ_CONS::RD.read(cons).into(),
        CMDQ_PROD::WR.read(prod).into(),
    )?;
    expect("CMDQ_CONS.ERR", CMDQ_CONS::ERR.read(cons).into(), 0)?;
    ensure(
        w.smmu()?.global_errors().is_empty(),
        "global error after enable",
    )
}

/// Checks STRTAB_BASE_CFG's read-back.
pub(super) fn expect_strtab_cfg<P: Platform>(
    w: &mut World<'_, P>,
    fmt: StrtabFmt,
    split: u32,
    log2: u32,
) -> Outcome {
    let cfg = w.smmu()?.regs().strtab_base_cfg().get();
    expect(
        "STRTAB_BASE_CFG.FMT",
        STRTAB_BASE_CFG::FMT.read(cfg).into(),
        fmt.value(),
    )?;
    expect(
        "STRTAB_BASE_CFG.SPLIT",
        STRTAB_BASE_CFG::SPLIT.read(cfg).into(),
        split.into(),
    )?;
    expect(
        "STRTAB_BASE_CFG.LOG2SIZE",
        STRTAB_BASE_CFG::LOG2SIZE.read(cfg).into(),
        log2.into(),
    )
}

/// enable: linear stream table, queues, GBPA, CR0/CR0ACK up to SMMUEN.
pub(super) fn enable<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let smmu = w.smmu()?;
    smmu.disable()?;
    // The UPDATE handshake must finish even where GBPA is absent (reads 0).
    smmu.set_global_bypass_abort(false)?;
    let gbpa = smmu.regs().gbpa().get();
    w.rec(&["gbpa"], gbpa.into());
    ensure(!GBPA::UPDATE.is_set(gbpa), "GBPA.UPDATE still set")?;
    ensure(
        !GBPA::ABORT.is_set(gbpa),
        "GBPA.ABORT set after clearing it",
    )?;
    linear_bring_up(w)?;
    expect_enabled(w)?;
    expect_strtab_cfg(w, StrtabFmt::LINEAR, 0, STRTAB_LOG2)
}

/// cfgi_all_sync: CFGI_ALL + TLBI_NH_ALL + CMD_SYNC, then 800 commands in
/// batches that wrap the queue; every command is consumed and PROD moved
/// by exactly the number written.
pub(super) fn cfgi_all_sync<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let smmu = w.smmu()?;
    let before = smmu.regs().cmdq_prod().get();
    smmu.submit_and_sync(&[cmd::cfgi_all(), cmd::tlbi_nh_all()])?;
    let mut written = 3u32;
    for round in 0..4u16 {
        let mut b = smmu.batch();
        for i in 0..200u16 {
            b.push(cmd::tlbi_nh_asid(round * 200 + i))?;
        }
        b.sync()?;
        written += 201;
    }
    let (prod, cons) = (smmu.regs().cmdq_prod().get(), smmu.regs().cmdq_cons().get());
    ensure(smmu.global_errors().is_empty(), "global error after sync")?;
    // Index and wrap flag count modulo twice the queue size.
    expect(
        "CMDQ_PROD advance",
        u64::from(prod.wrapping_sub(before) % (2 * CMDQ_SLOTS)),
        u64::from(written % (2 * CMDQ_SLOTS)),
    )?;
    expect("CMDQ_CONS", cons.into(), prod.into())
}

/// Submits `c` with a CMD_SYNC. Returns the CMDQ_CONS.ERR code it ended
/// with (0: consumed); a refused command must be the one submitted, at its
/// slot, and after the driver's recovery the queue drains with no global
/// error.
fn submit_one<P: Platform>(w: &mut World<'_, P>, c: Command) -> Result<u64, Fail> {
    let smmu = w.smmu()?;
    let slot = smmu.regs().cmdq_prod().read(CMDQ_PROD::WR) % CMDQ_SLOTS;
    let code = match smmu.submit_and_sync(&[c]) {
        Ok(()) => return Ok(0),
        Err(Error::Command(e)) => e.code(),
        Err(e) => return Err(e.into()),
    };
    let active = smmu.global_errors();
    ensure(active.cmdq_err(), "command error without GERROR.CMDQ_ERR")?;
    let fault = smmu
        .recover_command_error()?
        .ok_or(Fail::Msg("recovery found no error"))?;
    expect(
        "refused opcode",
        fault.opcode.into(),
        cmd::opcode(&c).into(),
    )?;
    expect("refused slot", fault.slot.into(), slot.into())?;
    expect("fault code", fault.error.code(), code)?;
    ensure(
        smmu.global_errors().is_empty(),
        "GERROR still active after recovery",
    )?;
    let (prod, cons) = (smmu.regs().cmdq_prod().get(), smmu.regs().cmdq_cons().get());
    expect(
        "CMDQ_CONS.RD after recovery",
        CMDQ_CONS::RD.read(cons).into(),
        CMDQ_PROD::WR.read(prod).into(),
    )?;
    Ok(code)
}

/// ignored_opcodes: commands an SMMU may act on or not (prefetches, ATC
/// invalidation) or that are only valid with features a stage-1-only
/// SMMU need not have (EL2 and stage-2 invalidation, stall termination),
/// one at a time: each is consumed or refused with CERROR_ILL, and the
/// queue works on after it. Which one each platform accepts is recorded.
pub(super) fn ignored_opcodes<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let optional = [
        ("PREFETCH_CONFIG", CmdOpcode::PREFETCH_CONFIG),
        ("PREFETCH_ADDR", CmdOpcode::PREFETCH_ADDR),
        ("TLBI_EL2_ALL", CmdOpcode::TLBI_EL2_ALL),
        ("TLBI_S12_VMALL", CmdOpcode::TLBI_S12_VMALL),
        ("ATC_INV", CmdOpcode::ATC_INV),
        ("STALL_TERM", CmdOpcode::STALL_TERM),
    ];
    for (name, op) in optional {
        let code = submit_one(w, cmd::raw(op.value(), 0))?;
        w.rec(&[name, "cerror"], code);
        ensure(
            code == 0 || code == CmdError::Ill.code(),
            "optional command refused with other than CERROR_ILL",
        )?;
    }
    w.smmu()?.submit_and_sync(&[cmd::tlbi_nh_all()])?;
    Ok(())
}

/// illegal_opcode: an undefined opcode in the middle of a batch stops the
/// queue at it with CMDQ_CONS.ERR = CERROR_ILL and GERROR.CMDQ_ERR; the
/// driver replaces it and the rest of the batch runs. Then opcode 0,
/// CFGI_VMS_PIDM (needs a VMS, absent on a stage-1 SMMU) and CFGI_STE
/// with SSEC = 1 from the non-secure queue must be refused the same way.
pub(super) fn illegal_opcode<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let smmu = w.smmu()?;
    let slot = (smmu.regs().cmdq_prod().read(CMDQ_PROD::WR) + 1) % CMDQ_SLOTS;
    let mut b = smmu.batch();
    b.push(cmd::tlbi_nh_all())?;
    b.push(cmd::raw(0x7f, 0))?;
    b.push(cmd::tlbi_nh_all())?;
    let r = b.sync();
    ensure(
        r == Err(Error::Command(CmdError::Ill)),
        "opcode 0x7f not refused with CERROR_ILL",
    )?;
    w.rec_cmdq("stopped")?;
    let smmu = w.smmu()?;
    let cons = smmu.regs().cmdq_cons().get();
    ensure(
        smmu.global_errors().cmdq_err(),
        "GERROR.CMDQ_ERR not active",
    )?;
    expect(
        "CMDQ_CONS.ERR",
        CMDQ_CONS::ERR.read(cons).into(),
        CmdError::Ill.code(),
    )?;
    expect(
        "CMDQ_CONS.RD at the refused command",
        (CMDQ_CONS::RD.read(cons) % CMDQ_SLOTS).into(),
        slot.into(),
    )?;
    let fault = smmu
        .recover_command_error()?
        .ok_or(Fail::Msg("recovery found no error"))?;
    expect("refused opcode", fault.opcode.into(), 0x7f)?;
    expect("refused slot", fault.slot.into(), slot.into())?;
    ensure(
        smmu.global_errors().is_empty(),
        "GERROR still active after recovery",
    )?;
    // The rest of the batch (TLBI_NH_ALL, CMD_SYNC) ran.
    w.rec_cmdq("recovered")?;
    let ssec = CmdCfgiSte::new().with(CmdCfgiSte::SSEC, 1).into();
    let illegal = [
        ("opcode_0", cmd::raw(0, 0)),
        (
            "CFGI_VMS_PIDM",
            cmd::raw(CmdOpcode::CFGI_VMS_PIDM.value(), 0),
        ),
        ("CFGI_STE_SSEC", ssec),
    ];
    for (name, c) in illegal {
        let code = submit_one(w, c)?;
        w.rec(&[name, "cerror"], code);
        expect(
            "CMDQ_CONS.ERR of an illegal command",
            code,
            CmdError::Ill.code(),
        )?;
    }
    w.smmu()?.submit_and_sync(&[cmd::sync()])?;
    ensure(
        w.smmu()?.global_errors().is_empty(),
        "global error at the end",
    )
}
