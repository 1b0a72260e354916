//! The VMM's part: the IOAS over guest RAM, the nesting parent the devices
//! translate through until the guest configures its SMMU, the CMDQV
//! lifecycle and the vSMMUv3 with its interrupt lines, the devices plugged
//! under their vSIDs, and the guest bus the windows and the installed VINTF
//! page sit on.

use std::sync::Arc;

use vdev::backend::{Ioas, NestParent};
use vdev::bus::GuestBus;
use vdev::cmdqv::device::VINTF0_PAGE0;
use vdev::cmdqv::lifecycle::Lifecycle;
use vdev::smmuv3::device::{host_smmuv3_info, Irqs, Vsmmuv3, Vsmmuv3Config};
use vdev::smmuv3::SmmuCore;
use vdev::vmm::{CountingIrq, RecordingRegions};

use crate::host::Host;
use crate::report::print_transitions;
use crate::{CMDQV_BASE, RAM, RAM_LEN, SMMU_BASE, VSIDS};

/// What the VMM keeps besides the device on the guest bus.
pub struct Vm {
    /// Guest RAM mapped at IOVA = GPA; dropped after the device.
    pub ioas: Arc<Ioas>,
    /// The RAM regions the lifecycle installs (the VINTF page).
    pub regions: Arc<RecordingRegions>,
    /// The device's interrupt lines.
    pub irqs: IrqLines,
}

/// The device's interrupt lines, counting their edges.
pub struct IrqLines {
    pub gerror: Arc<CountingIrq>,
    pub eventq: Arc<CountingIrq>,
    pub cmdqv: Arc<CountingIrq>,
}

/// Builds the vSMMUv3 with its CMDQV over `host`, plugs the devices, and
/// puts the device on a guest bus.
pub fn setup(host: &Host) -> Result<(Vm, GuestBus), String> {
    let ioas = Ioas::new(&host.backend).map_err(|e| e.to_string())?;
    ioas.map(RAM, RAM_LEN, host.ram_user_va)
        .map_err(|e| e.to_string())?;
    let first = host.devices.first().ok_or("no passthrough device")?;
    let parent = NestParent::new(first, &ioas).map_err(|e| e.to_string())?;
    // Until the guest configures its SMMU, devices translate through the
    // VM's stage 2 only.
    for d in &host.devices {
        host.attach
            .attach(d.id(), parent.id())
            .map_err(|e| format!("attaching device {} to the nesting parent: {e}", d.id()))?;
    }
    let regions = Arc::new(RecordingRegions::new());
    let mut lc = Lifecycle::new(
        host.backend.clone(),
        parent,
        regions.clone(),
        CMDQV_BASE + VINTF0_PAGE0,
    );
    if let Some(sim) = &host.sim {
        // The simulated hardware cannot see the guest's stores to the page.
        lc = lc.with_kick(Arc::new(sim.clone()));
    }
    let core = SmmuCore::new(lc, host.attach.clone(), host.mem.clone());
    let info = host_smmuv3_info(first).map_err(|e| e.to_string())?;
    let (gerror_irq, eventq_irq, cmdqv_irq) = (
        Arc::new(CountingIrq::new()),
        Arc::new(CountingIrq::new()),
        Arc::new(CountingIrq::new()),
    );
    let cfg = Vsmmuv3Config {
        backing_page: host.backing,
        cmdqv: true,
        irqs: Irqs {
            gerror: gerror_irq.clone(),
            eventq: eventq_irq.clone(),
            cmdqv: cmdqv_irq.clone(),
        },
    };
    let mut dev = Vsmmuv3::new(core, &info, cfg).map_err(|e| e.to_string())?;
    println!(
        "[vmm] vSMMUv3 at {SMMU_BASE:#x}, CMDQV at {CMDQV_BASE:#x}, VINTF page at {:#x}",
        CMDQV_BASE + VINTF0_PAGE0
    );
    for (i, d) in host.devices.iter().enumerate() {
        let t = dev.plug(d, VSIDS[i]).map_err(|e| e.to_string())?;
        println!("[vmm] plugged device {} as vSID {:#x}", d.id(), VSIDS[i]);
        print_transitions(&t);
    }
    let bus = GuestBus::new(dev, regions.clone(), SMMU_BASE, CMDQV_BASE);
    let vm = Vm {
        ioas,
        regions,
        irqs: IrqLines {
            gerror: gerror_irq,
            eventq: eventq_irq,
            cmdqv: cmdqv_irq,
        },
    };
    Ok((vm, bus))
}
