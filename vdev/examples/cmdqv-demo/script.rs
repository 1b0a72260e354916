//! The guest script, phase by phase: each phase prints its `==` header and
//! what the guest (`[guest]`), the VMM (`[vmm]`), the host (`[host]`) and
//! the models (`[model]`) did, and fails when the guest does not see what
//! the architecture promises. The guest only performs memory accesses; the
//! VMM's part (service_events, unplug, teardown) calls the device.

use cmdqv_regs as cq;
use smmuv3_regs as sm;
use vdev::backend::sim::SimBackend;
use vdev::smmuv3::strtab::Attach;
use vdev::vmm::{CountingIrq, RecordingRegions};

use crate::guest::{
    Guest, ATC_INV, CFGI_ALL, CFGI_STE, CMD_SYNC, EVENTQ_LOG2, LOG2Q, TLBI_NH_ASID, TLBI_NH_VA,
};
use crate::report::{print_transitions, Counters};
use crate::vmm::EventLoop;
use crate::{PSIDS, VSIDS};

// SMMUv3 event record fields (architecture).
const F_TRANSLATION: u64 = sm::enums::EventId::F_TRANSLATION as u64;
const EVT_RNW: u64 = 1 << 35;

/// Commands the bulk phase completed on each path.
pub struct Bulk {
    /// Through the emulated command queue.
    pub emu_done: u64,
    /// Through each LVCMDQ.
    pub vq_done: Vec<u64>,
}

/// A phase header: `== what`, for a vSMMU other than the first `== vSMMU k:
/// what`.
fn header(g: &Guest, what: &str) {
    match g.unit {
        0 => println!("== {what}"),
        k => println!("== vSMMU {k}: {what}"),
    }
}

/// "both VCMDQs" for QEMU's two, "the VCMDQ" or "all N VCMDQs" otherwise.
fn the_vcmdqs(n: usize) -> String {
    match n {
        1 => "the VCMDQ".into(),
        2 => "both VCMDQs".into(),
        n => format!("all {n} VCMDQs"),
    }
}

/// Reads the ID registers and the CMDQV PARAM.
pub fn probe(g: &mut Guest) {
    header(g, "probe");
    let idr0 = g.smmu_r32(sm::IDR0::OFFSET);
    let idr1 = g.smmu_r32(sm::IDR1::OFFSET);
    println!(
        "[guest] IDR0 {idr0:#010x} (S1P {}, S2P {}, ATS {}), IDR1 {idr1:#010x} (SIDSIZE {}, CMDQS {}, EVENTQS {})",
        sm::IDR0::S1P.read(idr0),
        sm::IDR0::S2P.read(idr0),
        sm::IDR0::ATS.read(idr0),
        sm::IDR1::SIDSIZE.read(idr1),
        sm::IDR1::CMDQS.read(idr1),
        sm::IDR1::EVENTQS.read(idr1)
    );
    let param = g.cmdqv_r32(cq::PARAM::OFFSET);
    println!(
        "[guest] CMDQV PARAM {param:#x}: version {}, {} VCMDQs, {} VINTF, {} SID slots",
        cq::PARAM::VER.read(param),
        1 << cq::PARAM::NUM_VCMDQ_LOG2.read(param),
        1 << cq::PARAM::NUM_VINTF_LOG2.read(param),
        1 << cq::PARAM::NUM_SID_PER_VM_LOG2.read(param)
    );
}

/// Enables the SMMU with a linear stream table and the STEs of both devices.
pub fn enable_smmu(g: &mut Guest) {
    header(g, "enable the SMMU, install STEs for two devices");
    let (strtab, cd) = (g.lay.strtab, g.lay.cd);
    for (i, vsid) in VSIDS.iter().enumerate() {
        // Stage-1 translated STE (Config = 0b101) pointing at a CD table.
        let ste0 = 1 | (0b101 << 1) | (cd + 0x40 * i as u64);
        g.put(strtab + u64::from(*vsid) * 64, &[ste0, 0, 0, 0, 0, 0, 0, 0]);
    }
    g.smmu_w64(sm::STRTAB_BASE::OFFSET, strtab);
    g.smmu_w32(sm::STRTAB_BASE_CFG::OFFSET, 8); // linear, 256 StreamIDs
    g.smmu_w64(sm::CMDQ_BASE::OFFSET, g.lay.cmdq | u64::from(LOG2Q));
    g.smmu_w32(sm::CMDQ_PROD::OFFSET, 0);
    g.smmu_w32(sm::CMDQ_CONS::OFFSET, 0);
    g.smmu_w64(
        sm::EVENTQ_BASE::OFFSET,
        g.lay.eventq | u64::from(EVENTQ_LOG2),
    );
    let irqs = sm::IRQ_CTRL::GERROR_IRQEN.val(1).value | sm::IRQ_CTRL::EVENTQ_IRQEN.val(1).value;
    g.smmu_w32(sm::IRQ_CTRL::OFFSET, irqs);
    println!(
        "[guest] IRQ_CTRL {irqs:#x} -> IRQ_CTRLACK {:#x}",
        g.smmu_r32(sm::IRQ_CTRLACK::OFFSET)
    );
    let gbpa = sm::GBPA::ABORT.val(1).value | sm::GBPA::UPDATE.val(1).value;
    g.smmu_w32(sm::GBPA::OFFSET, gbpa);
    println!(
        "[guest] GBPA <- ABORT|UPDATE, reads {:#x} (UPDATE complete)",
        g.smmu_r32(sm::GBPA::OFFSET)
    );
    let queues = sm::CR0::CMDQEN.val(1).value | sm::CR0::EVENTQEN.val(1).value;
    g.smmu_w32(sm::CR0::OFFSET, queues);
    let all = [[CFGI_ALL, 31], g.sync()];
    let (p, c) = g.cmdq_submit(&all);
    println!("[guest] CFGI_ALL + CMD_SYNC: PROD {p:#x} CONS {c:#x}");
    let en = queues | sm::CR0::SMMUEN.val(1).value;
    g.smmu_w32(sm::CR0::OFFSET, en);
    println!(
        "[guest] CR0 <- {en:#x}, CR0ACK {:#x}",
        g.smmu_r32(sm::CR0ACK::OFFSET)
    );
    let cmds: Vec<[u64; 2]> = VSIDS
        .iter()
        .map(|v| [CFGI_STE | (u64::from(*v) << 32), 1])
        .chain([g.sync()])
        .collect();
    let (p, c) = g.cmdq_submit(&cmds);
    println!("[guest] CFGI_STE x2 + CMD_SYNC: PROD {p:#x} CONS {c:#x}");
    for v in VSIDS {
        let what = match g.dev().core().attachment(v) {
            Some(Attach::Nested(w)) => {
                format!("a nested stage-1 HWPT (vSTE {:#x} {:#x})", w[0], w[1])
            }
            Some(Attach::Bypass) => "bypass".into(),
            Some(Attach::Abort) => "abort".into(),
            None => "nothing (not plugged)".into(),
        };
        println!("    [model] vSID {v:#x} attached to {what}");
    }
}

/// Brings up every VCMDQ, the VINTF enabled last (the fourth
/// precondition).
pub fn bring_up_vcmdqs(g: &mut Guest, regions: &RecordingRegions) {
    let n = g.lvcmdqs;
    header(g, &format!("bring up {}", the_vcmdqs(n)));
    // Any order works; this one enables the CMDQV, maps the queues from the
    // highest down, writes the bases, and enables the VINTF last.
    g.cmdqv_w32(cq::CONFIG::OFFSET, cq::CONFIG::CMDQV_EN.val(1).value);
    for q in (0..n).rev() {
        let map =
            cq::CMDQ_ALLOC_MAP::ALLOC.val(1).value | cq::CMDQ_ALLOC_MAP::LVCMDQ.val(q as u32).value;
        g.cmdqv_w32(cq::CMDQ_ALLOC_MAP::OFFSET + 4 * q, map);
        let base = cq::VINTF_PAGE1::LVCMDQ::BASE::OFFSET + 0x80 * q;
        g.cmdqv_w64(base, g.lay.vcmdq[q] | u64::from(LOG2Q));
    }
    let maps = match n {
        1 => "CMDQ_ALLOC_MAP[0] <- ALLOC; BASE".to_string(),
        2 => "CMDQ_ALLOC_MAP[1], [0] <- ALLOC; BASE of both".to_string(),
        n => format!("CMDQ_ALLOC_MAP[{}] .. [0] <- ALLOC; BASE of each", n - 1),
    };
    println!("[guest] CONFIG <- CMDQV_EN; {maps} (VINTF page 1): no queue yet");
    print_transitions(&g.dev_mut().take_transitions());
    println!(
        "[guest] installed RAM regions: {:x?} (no HW queue yet: every VINTF page 0 access traps to the register cache)",
        regions.installed()
    );
    println!("[guest] VINTF0 CONFIG <- ENABLE (the fourth precondition; the page follows the first HW queue)");
    g.cmdqv_w32(
        cq::VINTF::CONFIG::OFFSET,
        cq::VINTF::CONFIG::ENABLE.val(1).value,
    );
    print_transitions(&g.dev_mut().take_transitions());
    println!(
        "[guest] STATUS {:#x}, VINTF0 STATUS {:#x}, installed RAM regions: {:x?}",
        g.cmdqv_r32(cq::STATUS::OFFSET),
        g.cmdqv_r32(cq::VINTF::STATUS::OFFSET),
        regions.installed()
    );
    for l in 0..n {
        let cfg = Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET);
        g.cmdqv_w32(cfg, 1);
        let st = g.cmdqv_r32(Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::STATUS::OFFSET));
        println!("[guest] LVCMDQ{l} CONFIG <- CMDQ_EN, STATUS {st:#x}");
    }
}

/// `per_path` invalidations through each VCMDQ and the emulated CMDQ.
pub fn bulk_invalidations(g: &mut Guest, per_path: u32) -> Result<Bulk, String> {
    header(g, &format!("{} invalidations per path", per_path));
    let batch = 127u32;
    let mut vq_done = vec![0u64; g.lvcmdqs];
    for (l, done) in vq_done.iter_mut().enumerate() {
        let mut left = per_path;
        while left > 0 {
            let n = left.min(batch);
            let mut cmds: Vec<[u64; 2]> = (0..n)
                .map(|i| {
                    // Odd queues also invalidate a device's ATC.
                    if l % 2 == 1 && i % 8 == 0 {
                        [ATC_INV | (u64::from(VSIDS[0]) << 32), 0]
                    } else {
                        [TLBI_NH_VA | (1 << 48), (u64::from(i) << 12) | 1]
                    }
                })
                .collect();
            cmds.push([CMD_SYNC, 0]);
            let (p, c) = g.vcmdq_submit(l, &cmds);
            if p != c {
                return Err(format!("LVCMDQ{l} stopped: PROD {p:#x} CONS {c:#x}"));
            }
            *done += u64::from(n) + 1;
            left -= n;
        }
        println!(
            "[guest] LVCMDQ{l}: {} commands completed (CONS == PROD)",
            *done
        );
    }
    let mut left = per_path;
    let mut emu_done = 0u64;
    while left > 0 {
        let n = left.min(batch);
        let mut cmds: Vec<[u64; 2]> = (0..n)
            .map(|i| [TLBI_NH_VA | (1 << 48), (u64::from(i) << 12) | 1])
            .collect();
        cmds.push(g.sync());
        let (p, c) = g.cmdq_submit(&cmds);
        if p != c {
            return Err(format!("CMDQ stopped: PROD {p:#x} CONS {c:#x}"));
        }
        emu_done += u64::from(n) + 1;
        left -= n;
    }
    let mut msi = [0u8; 4];
    g.mem.read(g.lay.msi, &mut msi);
    println!(
        "[guest] emulated CMDQ: {emu_done} commands completed, last CMD_SYNC MSI data {} (expected {})",
        u32::from_le_bytes(msi),
        g.msi_seq()
    );
    Ok(Bulk { emu_done, vq_done })
}

/// An illegal command on the emulated CMDQ and its recovery through GERRORN.
pub fn illegal_on_cmdq(g: &mut Guest, gerror_irq: &CountingIrq) -> Result<(), String> {
    println!("== illegal command on the emulated CMDQ");
    let edges = gerror_irq.edges();
    let sync = g.sync();
    let (p, c) = g.cmdq_submit(&[[TLBI_NH_ASID | (1 << 48), 0], [0x7f, 0], sync]);
    let gerror = g.smmu_r32(sm::GERROR::OFFSET);
    println!(
        "[guest] PROD {p:#x} CONS {c:#x}: CONS.ERR {} (CERROR_ILL = 1), GERROR {gerror:#x}, GERROR irq edges +{}",
        sm::CMDQ_CONS::ERR.read(c),
        gerror_irq.edges() - edges
    );
    // Recovery as a driver does it: replace the bad command with a CMD_SYNC,
    // then acknowledge the error by toggling GERRORN to match.
    let bad = u64::from(sm::CMDQ_CONS::RD.read(c) & ((1 << LOG2Q) - 1));
    let sync = g.sync();
    g.put(g.lay.cmdq + bad * 16, &sync);
    g.smmu_w32(sm::GERRORN::OFFSET, gerror);
    let c = g.smmu_r32(sm::CMDQ_CONS::OFFSET);
    println!("[guest] fixed and acknowledged: CONS {c:#x} (PROD {p:#x})");
    if c != p {
        return Err("emulated CMDQ did not resume".into());
    }
    Ok(())
}

/// An illegal command on LVCMDQ0 and its recovery.
pub fn illegal_on_vcmdq(g: &mut Guest, cmdqv_irq: &CountingIrq) -> Result<(), String> {
    println!("== illegal command on LVCMDQ0");
    let irq_before = cmdqv_irq.edges();
    let (p, c) = g.vcmdq_submit(
        0,
        &[[TLBI_NH_ASID | (2 << 48), 0], [CFGI_STE, 0], [CMD_SYNC, 0]],
    );
    let ge_off = Guest::lvcmdq(0, cq::VINTF_PAGE0::LVCMDQ::GERROR::OFFSET);
    let gerror = g.cmdqv_r32(ge_off);
    println!(
        "[guest] PROD {p:#x} CONS {c:#x}: CONS.ERR {} (CERROR_ILL), GERROR {gerror:#x}, LVCMDQ_ERR_MAP {:#x}, CMDQV irq edges +{}",
        cq::VCMDQ::CONS::ERR.read(c),
        g.cmdqv_r32(cq::VINTF::LVCMDQ_ERR_MAP::OFFSET),
        cmdqv_irq.edges() - irq_before
    );
    let bad = u64::from(cq::VCMDQ::CONS::INDEX.read(c) & ((1 << LOG2Q) - 1));
    g.put(g.lay.vcmdq[0] + bad * 16, &[CMD_SYNC, 0]);
    g.cmdqv_w32(
        Guest::lvcmdq(0, cq::VINTF_PAGE0::LVCMDQ::GERRORN::OFFSET),
        gerror,
    );
    let c = g.cmdqv_r32(Guest::lvcmdq(0, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET));
    println!(
        "[guest] fixed and acknowledged: CONS {c:#x} (PROD {p:#x}), LVCMDQ_ERR_MAP {:#x}",
        g.cmdqv_r32(cq::VINTF::LVCMDQ_ERR_MAP::OFFSET)
    );
    if c != p {
        return Err("LVCMDQ0 did not resume".into());
    }
    Ok(())
}

/// A device fault the simulated SMMU reports, read by the guest from its
/// event queue under the vSID (simulated backend only).
pub fn device_fault(
    g: &mut Guest,
    sim: &SimBackend,
    eventq_irq: &CountingIrq,
    events: &EventLoop,
) -> Result<(), String> {
    println!("== a device fault through the host's SMMUv3 vEVENTQ");
    // The (simulated) SMMU reports a stage-1 translation fault of the
    // first device under its physical StreamID; on a real host the device
    // itself would fault. The kernel forwards it under the vSID.
    let iova = 0xdead_0000u64;
    let rec = [
        (u64::from(PSIDS[0]) << 32) | F_TRANSLATION,
        EVT_RNW,
        iova,
        0,
    ];
    sim.report_smmu_event(rec).map_err(|e| e.to_string())?;
    println!(
        "[host] SMMU event F_TRANSLATION, StreamID {:#x}, input address {iova:#x}",
        PSIDS[0]
    );
    let irq_before = eventq_irq.edges();
    let before = g.dev().stats().events;
    // The VMM's event thread wakes up on the readable vEVENTQ (bounded
    // wait: a lost wake-up is an error, not a hang).
    let ready = events.turn(&mut g.bus, 1000)?;
    let n = g.dev().stats().events - before;
    println!("[vmm] epoll: {ready} vEVENTQ descriptor(s) readable -> kick(): {n} record(s) into the guest's event queue");
    if events.fds > 0 && ready == 0 {
        return Err("the SMMUv3 vEVENTQ never became readable".into());
    }
    let prod = g.smmu_r32(sm::EVENTQ_PROD::OFFSET);
    let cons = g.smmu_r32(sm::EVENTQ_CONS::OFFSET);
    let slot = u64::from(cons & ((1 << EVENTQ_LOG2) - 1));
    // Word 0 (event id, StreamID) and word 2 (input address).
    let (mut w0, mut w2) = ([0u8; 8], [0u8; 8]);
    let eventq = g.lay.eventq;
    if !g.mem.read(eventq + slot * 32, &mut w0) || !g.mem.read(eventq + slot * 32 + 16, &mut w2) {
        return Err("guest event queue unreadable".into());
    }
    let (w0, addr) = (u64::from_le_bytes(w0), u64::from_le_bytes(w2));
    println!(
            "[guest] EVENTQ PROD {prod:#x} CONS {cons:#x}, event irq edges +{}: record {:#x} StreamID {:#x}, input address {addr:#x}",
            eventq_irq.edges() - irq_before,
            w0 & 0xff,
            w0 >> 32
        );
    if w0 >> 32 != u64::from(VSIDS[0]) || addr != iova || prod == cons {
        return Err("the fault did not reach the guest under its vSID".into());
    }
    g.smmu_w32(sm::EVENTQ_CONS::OFFSET, prod);
    Ok(())
}

/// A VCMDQ reset the way Linux resets one (BASE 0 with everything enabled:
/// "not programmed", no error), then a BASE the kernel refuses
/// (GERROR.CMDQ_INIT_ERR, the page held out of guest RAM until the guest
/// acknowledges), fixed and retried.
pub fn vcmdq_init_error(g: &mut Guest, regions: &RecordingRegions) {
    if g.lvcmdqs < 2 {
        println!("== (one VCMDQ: the reset and CMDQ_INIT_ERR phase needs a second queue to keep the page; skipped)");
        return;
    }
    println!("== a VCMDQ reset, and a VCMDQ that cannot be allocated: CMDQ_INIT_ERR");
    let base1 = cq::VCMDQ_PAGE1::BASE::OFFSET + 0x80;
    let ge1 = cq::VCMDQ::GERROR::OFFSET + 0x80;
    let errors = |g: &mut Guest| g.dev().cmdqv_stats().unwrap_or_default().init_errors;
    let before = errors(g);
    g.cmdqv_w64(base1, 0);
    println!("[guest] VCMDQ1 BASE <- 0 (tegra241_vcmdq_hw_deinit): not programmed, no allocation attempt");
    print_transitions(&g.dev_mut().take_transitions());
    println!(
        "[guest] CMDQ_INIT_ERR raised: {}; installed RAM regions: {:x?} (LVCMDQ0 still has its HW queue)",
        errors(g) - before,
        regions.installed()
    );
    // Queue 1's base is not aligned to its size (and on 4 KiB pages spans
    // two of them): the kernel refuses it.
    g.cmdqv_w64(base1, (g.lay.vcmdq[1] + 0x100) | u64::from(LOG2Q));
    print_transitions(&g.dev_mut().take_transitions());
    let gerror1 = g.cmdqv_r32(ge1);
    println!(
        "[guest] VCMDQ1 GERROR {gerror1:#x} (CMDQ_INIT_ERR {}), CMDQ_ERR_MAP {:#x}; installed RAM regions: {:x?} (held out: the hardware's page cannot show CMDQ_INIT_ERR)",
        cq::fieldsets::VcmdqErrors::CMDQ_INIT_ERR.read(gerror1),
        g.cmdqv_r32(cq::CMDQ_ERR_MAP::OFFSET),
        regions.installed()
    );
    g.cmdqv_w64(base1, g.lay.vcmdq[1] | u64::from(LOG2Q));
    g.cmdqv_w32(cq::VCMDQ::GERRORN::OFFSET + 0x80, gerror1);
    print_transitions(&g.dev_mut().take_transitions());
    for l in 0..g.lvcmdqs {
        let cfg = Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONFIG::OFFSET);
        g.cmdqv_w32(cfg, 1);
        // The queue kept its registers across the reset: continue from CONS.
        let cons = g.cmdqv_r32(Guest::lvcmdq(l, cq::VINTF_PAGE0::LVCMDQ::CONS::OFFSET));
        *g.vq_prod(l) = cons & ((2 << LOG2Q) - 1);
    }
    let (p, c) = g.vcmdq_submit(1, &[[TLBI_NH_VA | (3 << 48), 0x1000], [CMD_SYNC, 0]]);
    println!(
        "[guest] fixed BASE (the write retried the allocation), acknowledged: CMDQ_ERR_MAP {:#x}, installed RAM regions {:x?}; LVCMDQ1 runs again: PROD {p:#x} CONS {c:#x}",
        g.cmdqv_r32(cq::CMDQ_ERR_MAP::OFFSET),
        regions.installed()
    );
}

/// The VMM unplugs `vsid` while the queues live; LVCMDQ0 keeps running.
pub fn unplug_with_live_queues(g: &mut Guest, vsid: u32) {
    println!("== unplug vSID {vsid:#x} with live queues");
    let t = g.dev_mut().unplug(vsid);
    print_transitions(&t);
    let (p, c) = g.vcmdq_submit(0, &[[TLBI_NH_VA | (1 << 48), 0x2000], [CMD_SYNC, 0]]);
    println!("[guest] LVCMDQ0 still runs: PROD {p:#x} CONS {c:#x}");
}

/// The guest disables everything; the VMM refuses a snapshot, collects the
/// counters and tears the device down.
pub fn teardown(g: &mut Guest) -> Counters {
    header(g, "teardown");
    g.smmu_w32(sm::CR0::OFFSET, 0);
    g.cmdqv_w32(cq::VINTF::CONFIG::OFFSET, 0);
    g.cmdqv_w32(cq::CONFIG::OFFSET, 0);
    let refused = g.dev().save_state().unwrap_err();
    println!("[vmm] snapshot: {refused}");
    let stats = g.dev().stats();
    let cstats = g.dev().cmdqv_stats().unwrap_or_default();
    let core_stats = g.dev().core().stats;
    let bus_stats = g.bus.stats();
    let viommu = g.dev().core().lc.viommu().map(|v| v.id());
    let t = g.dev_mut().teardown();
    print_transitions(&t);
    Counters {
        stats,
        cstats,
        core_stats,
        bus_stats,
        viommu,
    }
}
