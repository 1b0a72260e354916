//! The VMM's part: the IOAS over guest RAM, the nesting parent the devices
//! translate through until the guest configures its SMMU, the CMDQV
//! lifecycle and the vSMMUv3 with its interrupt lines, the devices plugged
//! under their vSIDs, the guest bus the windows and the installed VINTF
//! page sit on, and the event loop that waits on the device's vEVENTQ
//! descriptors.

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
    /// What the VMM's event thread waits on.
    pub events: EventLoop,
}

/// The VMM's event loop over the device's vEVENTQ descriptors
/// (`Vsmmuv3::event_fds`, in an epoll set): a VMM waits on them instead of
/// polling the device.
pub struct EventLoop {
    #[cfg(target_os = "linux")]
    epoll: vmm_sys_util::epoll::Epoll,
    /// How many descriptors are in the set.
    pub fds: usize,
}

impl EventLoop {
    /// An epoll set over the descriptors `dev` has now (after the first
    /// plug: its vIOMMU's vEVENTQs).
    #[cfg(target_os = "linux")]
    fn new(dev: &Vsmmuv3) -> Result<Self, String> {
        use std::os::fd::AsRawFd;
        use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
        let epoll = Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?;
        let fds = dev.event_fds();
        for (i, fd) in fds.iter().enumerate() {
            epoll
                .ctl(
                    ControlOperation::Add,
                    fd.as_raw_fd(),
                    EpollEvent::new(EventSet::IN, i as u64),
                )
                .map_err(|e| format!("epoll_ctl: {e}"))?;
        }
        Ok(EventLoop {
            epoll,
            fds: fds.len(),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_dev: &Vsmmuv3) -> Result<Self, String> {
        Ok(EventLoop { fds: 0 })
    }

    /// One turn: waits at most `timeout_ms` for a readable vEVENTQ, and
    /// kicks the device (which reads them) when one is. Returns how many
    /// were readable.
    #[cfg(target_os = "linux")]
    pub fn turn(&self, bus: &mut GuestBus, timeout_ms: i32) -> Result<usize, String> {
        let mut ready = [vmm_sys_util::epoll::EpollEvent::default(); 4];
        let n = self
            .epoll
            .wait(timeout_ms, &mut ready)
            .map_err(|e| format!("epoll_wait: {e}"))?;
        if n > 0 {
            bus.device_mut().kick();
        }
        Ok(n)
    }

    /// Without epoll the loop can only poll: it kicks the device.
    #[cfg(not(target_os = "linux"))]
    pub fn turn(&self, bus: &mut GuestBus, _timeout_ms: i32) -> Result<usize, String> {
        bus.device_mut().kick();
        Ok(0)
    }
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
    let events = EventLoop::new(&dev)?;
    println!(
        "[vmm] event loop: epoll over the device's {} vEVENTQ descriptor(s)",
        events.fds
    );
    let bus = GuestBus::new(dev, regions.clone(), SMMU_BASE, CMDQV_BASE);
    let vm = Vm {
        ioas,
        regions,
        irqs: IrqLines {
            gerror: gerror_irq,
            eventq: eventq_irq,
            cmdqv: cmdqv_irq,
        },
        events,
    };
    Ok((vm, bus))
}
