//! Stream table formats: a two-level table, then back to a linear one.

use super::dma::{IOVA_DST, IOVA_SRC};
use super::setup::{expect_enabled, expect_strtab_cfg, linear_bring_up, queues};
use super::{ensure, expect, Fail, Outcome, Platform, World, CMDQ_LOG2, EVTQ_LOG2, STRTAB_LOG2};
use crate::structs::{ste, Event};
use smmuv3_regs::enums::{EventId, StrtabFmt};
use smmuv3_regs::structs::{EvtCBadStreamid, L1Std, Ste};
use smmuv3_regs::GERROR;

/// StreamID bits of the two-level table (scenario parameter).
const SID_BITS: u32 = 16;
/// Its SPLIT (scenario parameter).
const SPLIT: u32 = 8;

/// two_level: the master through a two-level table (16-bit StreamIDs,
/// split 8). With no level-2 table for its StreamID its write must not
/// reach memory (any event: C_BAD_STREAMID); with one holding the stage-1
/// STE the round trip through IOVAs arrives without an event.
pub(super) fn two_level<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    let cd_phys = w.cd_phys.ok_or(Fail::Msg("no CD (stage1_dma failed)"))?;
    let l1 = w.alloc(L1Std::SIZE_BYTES << (SID_BITS - SPLIT), 4096)?;
    let l2 = w.alloc(Ste::SIZE_BYTES << SPLIT, Ste::SIZE_BYTES << SPLIT)?;
    let (cmdq, evtq) = queues(w)?;
    let smmu = w.smmu()?;
    smmu.disable()?;
    smmu.setup_strtab_2level(l1, SID_BITS, SPLIT)?;
    smmu.setup_cmdq(cmdq, CMDQ_LOG2)?;
    smmu.setup_eventq(evtq, EVTQ_LOG2)?;
    smmu.enable()?;
    expect_enabled(w)?;
    expect_strtab_cfg(w, StrtabFmt::TWO_LEVEL, SPLIT, SID_BITS)?;

    let (_, dst) = w.buffers()?;
    let untouched = w.write_probe(dst)?;
    let d = w.drain_events()?;
    w.rec(&["missing_l2", "untouched"], untouched.into());
    w.rec_events("missing_l2", &d, EvtCBadStreamid::FIELDS);
    ensure(untouched, "DMA without a level-2 table reached memory")?;
    d.only(EventId::C_BAD_STREAMID, sid)?;

    let stage1 = ste::stage1(cd_phys);
    let smmu = w.smmu()?;
    smmu.install_l2_table(sid >> SPLIT, l2)?;
    smmu.write_ste(sid, &stage1)?;
    ensure(smmu.read_ste(sid)? == stage1, "STE read back differs")?;
    let landed = w.round_trip(IOVA_SRC, IOVA_DST, 0x0f1e_2d3c_4b5a_6978)?;
    let d = w.drain_events()?;
    w.rec(&["with_l2", "copied"], landed.copied.into());
    w.rec_events("with_l2", &d, Event::FIELDS);
    ensure(
        landed.copied,
        "DMA through the two-level table did not copy the data",
    )?;
    expect("events", d.count, 0)
}

/// back_to_linear: after the two-level table, a fresh linear table with a
/// bypass STE. The architecture says the round trip arrives without an
/// event. QEMU 7.2 keeps walking the new table as level-1 descriptors (a
/// two-level flag that FMT = 0 never clears), so the other outcome that
/// passes is exactly that one: nothing arrives, and every event is
/// C_BAD_STREAMID for the master (a full queue may add EVENTQ_ABT_ERR).
/// Anything else fails: a partial copy, a silent loss, other events or
/// global errors. Which outcome each platform shows is recorded.
pub(super) fn back_to_linear<P: Platform>(w: &mut World<'_, P>) -> Outcome {
    let sid = w.sid()?;
    linear_bring_up(w)?;
    expect_enabled(w)?;
    expect_strtab_cfg(w, StrtabFmt::LINEAR, 0, STRTAB_LOG2)?;
    let smmu = w.smmu()?;
    smmu.write_ste(sid, &ste::bypass())?;
    ensure(
        smmu.read_ste(sid)? == ste::bypass(),
        "STE read back differs",
    )?;
    let (src, dst) = w.buffers()?;
    let landed = w.round_trip(src, dst, 0x0123_4567_89ab_cdef)?;
    let d = w.drain_events()?;
    let active = w.smmu()?.global_errors();
    w.rec(&["copied"], landed.copied.into());
    w.rec(&["untouched"], landed.untouched.into());
    w.rec_events("dma", &d, EvtCBadStreamid::FIELDS);
    w.rec(&["gerror_active"], active.0.into());
    if landed.copied {
        expect("events", d.count, 0)?;
        ensure(active.is_empty(), "global error after a clean round trip")?;
    } else {
        ensure(
            landed.untouched,
            "partial copy after returning to a linear table",
        )?;
        ensure(d.count > 0, "DMA lost without an event")?;
        d.only(EventId::C_BAD_STREAMID, sid)?;
        ensure(
            active.0 & !GERROR::EVENTQ_ABT_ERR::SET.value == 0,
            "global error other than EVENTQ_ABT_ERR",
        )?;
    }
    let smmu = w.smmu()?;
    smmu.ack_global_errors(active.0);
    ensure(
        smmu.global_errors().is_empty(),
        "global errors stay active after acknowledgement",
    )
}
