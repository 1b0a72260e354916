//! The demo's reporting: the lifecycle transitions in words, and the final
//! summary (commands per path, errors, device faults, interrupts, MMIO, and
//! the kernel objects left).

use vdev::bus::BusStats;
use vdev::cmdqv::device::CmdqvStats;
use vdev::cmdqv::lifecycle::Transition;
use vdev::smmuv3::device::DeviceStats;
use vdev::smmuv3::Stats;

use crate::script::Bulk;
use crate::vmm::IrqLines;

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
}

/// Prints the summary: `hw` commands the simulated VCMDQs executed and
/// `alive` kernel objects left (`None` on a real host, which counts neither).
/// Fails when objects leaked.
pub fn summary(
    c: &Counters,
    bulk: &Bulk,
    irqs: &IrqLines,
    hw: Option<usize>,
    alive: Option<usize>,
) -> Result<(), String> {
    println!("== summary");
    println!(
        "commands executed: emulated CMDQ {} by the model ({} forwarded to IOMMU_HWPT_INVALIDATE in {} calls); VCMDQs {}",
        c.core_stats.commands,
        c.core_stats.invalidations,
        c.core_stats.flushes,
        hw.map(|n| format!("{n} by the (simulated) hardware"))
            .unwrap_or_else(|| "run by the hardware".into()),
    );
    println!(
        "bulk phase: {} commands through the emulated CMDQ, {} through LVCMDQ0, {} through LVCMDQ1",
        bulk.emu_done, bulk.vq_done[0], bulk.vq_done[1]
    );
    println!(
        "errors seen: CMDQ stops {} (resumed {}), VCMDQ errors reported {}, CMDQ_INIT_ERR {}",
        c.stats.cmdq_errors, c.stats.cmdq_resumes, c.cstats.queue_errors, c.cstats.init_errors
    );
    println!(
        "device faults: {} delivered to the guest's event queue, {} lost",
        c.stats.events, c.stats.events_lost
    );
    println!(
        "interrupts: GERROR {}, CMDQV {}, EVENTQ {}; MMIO: SMMU traps {}, CMDQV traps {} ({} reached the page), direct VINTF page accesses {}",
        irqs.gerror.edges(),
        irqs.cmdqv.edges(),
        irqs.eventq.edges(),
        c.bus_stats.smmu,
        c.bus_stats.cmdqv,
        c.cstats.page_accesses,
        c.bus_stats.direct
    );
    match alive {
        Some(n) => println!("alive: {n}"),
        None => println!("alive: (not counted on this backend)"),
    }
    if alive.unwrap_or(0) != 0 {
        return Err(format!("{} kernel objects leaked", alive.unwrap_or(0)));
    }
    Ok(())
}
