//! The demo's reporting: the lifecycle transitions in words, and the final
//! summary (commands per path, errors, device faults, interrupts, MMIO, and
//! the kernel objects left).

use std::collections::BTreeMap;

use vdev::bus::BusStats;
use vdev::cmdqv::device::CmdqvStats;
use vdev::cmdqv::lifecycle::Transition;
use vdev::smmuv3::device::DeviceStats;
use vdev::smmuv3::Stats;

use crate::script::Bulk;
use crate::vmm::IrqLines;

/// Commands the simulated hardware ran, by (vIOMMU id, logical VCMDQ).
pub type HwCounts = BTreeMap<(u32, u32), u64>;

/// One lifecycle transition in words.
fn describe(t: &Transition) -> String {
    match t {
        Transition::Probed(i) => format!(
            "host CMDQV (IOMMU_GET_HW_INFO, asked when the vSMMUv3 was built): Tegra241 version {}, {} VCMDQs and {} SID slots per VINTF",
            i.version,
            1u32 << i.log2vcmdqs.min(31),
            1u32 << i.log2vsids.min(31)
        ),
        Transition::Bound { viommu } => {
            format!("IOMMU_VIOMMU_ALLOC -> vIOMMU {viommu}; VINTF page 0 mmap'd; vEVENTQ allocated")
        }
        Transition::QueueAllocated { lidx, hw_queue } => format!(
            "IOMMU_HW_QUEUE_ALLOC: logical VCMDQ {lidx} -> HW queue {hw_queue}; its registers are the page's now"
        ),
        Transition::QueueInitError { lidx, error } => {
            format!("logical VCMDQ {lidx}: {error} -> guest sees GERROR.CMDQ_INIT_ERR")
        }
        Transition::QueueFreed { lidx } => {
            format!("logical VCMDQ {lidx}: registers saved, HW queue freed")
        }
        Transition::RegionInstalled { gpa } => {
            format!("VINTF page 0 installed as guest RAM at {gpa:#x}")
        }
        Transition::RegionInstallFailed(e) => format!("VINTF page install refused: {e}"),
        Transition::RegionRemoved { gpa } => format!("VINTF page 0 removed from {gpa:#x}"),
        Transition::VdeviceAllocated { vsid } => format!("IOMMU_VDEVICE_ALLOC for vSID {vsid:#x}"),
        Transition::VdeviceFreed { vsid } => format!("vDEVICE of vSID {vsid:#x} destroyed"),
        Transition::Unreleased(d) => format!("{} {} not destroyed: {}", d.what, d.id, d.error),
        Transition::TornDown => "vIOMMU destroyed: everything released".into(),
    }
}

/// Prints what the model did, one `[model]` line per transition.
pub fn print_transitions(t: &[Transition]) {
    for x in t {
        println!("    [model] {}", describe(x));
    }
}

/// The device's counters, collected before its teardown.
pub struct Counters {
    pub stats: DeviceStats,
    pub cstats: CmdqvStats,
    pub core_stats: Stats,
    pub bus_stats: BusStats,
    /// Its vIOMMU, to find the commands its VCMDQs ran.
    pub viommu: Option<u32>,
}

/// Commands the (simulated) hardware ran on each LVCMDQ of `viommu`
/// (`lvcmdqs` of them), from the counts by (vIOMMU, logical index).
fn per_queue(hw: &HwCounts, viommu: Option<u32>, lvcmdqs: usize) -> Vec<u64> {
    (0..lvcmdqs as u32)
        .map(|l| viommu.and_then(|v| hw.get(&(v, l))).copied().unwrap_or(0))
        .collect()
}

/// One entry per LVCMDQ, `each(l, count)`, joined by ", ".
fn per_lvcmdq<T: Copy>(counts: &[T], each: impl Fn(usize, T) -> String) -> String {
    let parts: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(l, n)| each(l, *n))
        .collect();
    parts.join(", ")
}

/// "2065 through LVCMDQ0, 2065 through LVCMDQ1, ..."
fn through(done: &[u64]) -> String {
    per_lvcmdq(done, |l, n| format!("{n} through LVCMDQ{l}"))
}

/// "LVCMDQ0 2068, LVCMDQ1 2069, ..."
fn queue_counts(n: &[u64]) -> String {
    per_lvcmdq(n, |l, n| format!("LVCMDQ{l} {n}"))
}

/// Prints the summary of each vSMMU (`c`, `bulk`, `irqs` by vSMMU; the
/// first one's in full): `hw` the commands the simulated VCMDQs executed
/// and `alive` kernel objects left (`None` on a real host, which counts
/// neither). Fails when objects leaked.
pub fn summary(
    c: &[Counters],
    bulk: &[Bulk],
    irqs: &[IrqLines],
    hw: Option<&HwCounts>,
    alive: Option<usize>,
) -> Result<(), String> {
    println!("== summary");
    let (c0, bulk0, irq0) = (&c[0], &bulk[0], &irqs[0]);
    let lvcmdqs = bulk0.vq_done.len();
    let queues: Option<Vec<Vec<u64>>> =
        hw.map(|hw| c.iter().map(|x| per_queue(hw, x.viommu, lvcmdqs)).collect());
    println!(
        "commands executed: emulated CMDQ {} by the model ({} forwarded to IOMMU_HWPT_INVALIDATE in {} calls); VCMDQs {}",
        c0.core_stats.commands,
        c0.core_stats.invalidations,
        c0.core_stats.flushes,
        queues
            .as_ref()
            .map(|q| format!("{} by the (simulated) hardware", q[0].iter().sum::<u64>()))
            .unwrap_or_else(|| "run by the hardware".into()),
    );
    println!(
        "bulk phase: {} commands through the emulated CMDQ, {}",
        bulk0.emu_done,
        through(&bulk0.vq_done)
    );
    if let Some(q) = &queues {
        println!(
            "per-queue commands run by the (simulated) hardware: {}",
            queue_counts(&q[0])
        );
    }
    println!(
        "errors seen: CMDQ stops {} (resumed {}), VCMDQ errors reported {}, CMDQ_INIT_ERR {}",
        c0.stats.cmdq_errors, c0.stats.cmdq_resumes, c0.cstats.queue_errors, c0.cstats.init_errors
    );
    println!(
        "device faults: {} delivered to the guest's event queue, {} lost",
        c0.stats.events, c0.stats.events_lost
    );
    // The bus counts for every vSMMU on it.
    let bus = if c.len() > 1 { " (whole bus)" } else { "" };
    println!(
        "interrupts: GERROR {}, CMDQV {}, EVENTQ {}; MMIO{bus}: SMMU traps {}, CMDQV traps {} ({} reached the page), direct VINTF page accesses {}",
        irq0.gerror.edges(),
        irq0.cmdqv.edges(),
        irq0.eventq.edges(),
        c0.bus_stats.smmu,
        c0.bus_stats.cmdqv,
        c0.cstats.page_accesses,
        c0.bus_stats.direct
    );
    for k in 1..c.len() {
        let run = queues
            .as_ref()
            .map(|q| format!("; run by the (simulated) hardware: {}", queue_counts(&q[k])))
            .unwrap_or_default();
        println!(
            "vSMMU {k}: emulated CMDQ {} commands; bulk phase {} through the emulated CMDQ, {}{run}; errors {}; interrupts: GERROR {}, CMDQV {}",
            c[k].core_stats.commands,
            bulk[k].emu_done,
            through(&bulk[k].vq_done),
            c[k].stats.cmdq_errors + c[k].cstats.queue_errors + c[k].cstats.init_errors,
            irqs[k].gerror.edges(),
            irqs[k].cmdqv.edges(),
        );
    }
    match alive {
        Some(n) => println!("alive: {n}"),
        None => println!("alive: (not counted on this backend)"),
    }
    if alive.unwrap_or(0) != 0 {
        return Err(format!("{} kernel objects leaked", alive.unwrap_or(0)));
    }
    Ok(())
}
