//! The VMM's part: the IOAS over guest RAM; per vSMMU the nesting parent the
//! devices translate through until the guest configures its SMMU, the CMDQV
//! lifecycle and the vSMMUv3 with its interrupt lines, the devices plugged
//! under their vSIDs; the guest bus the windows and the installed VINTF
//! pages sit on, and the event loop that waits on the devices' vEVENTQ
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
use crate::{ram_len, Args, CMDQV_BASE, RAM, SMMU_BASE, UNIT_STRIDE, VSIDS};

/// What the VMM keeps besides the devices on the guest bus.
pub struct Vm {
    /// Guest RAM mapped at IOVA = GPA; dropped after the devices.
    pub ioas: Arc<Ioas>,
    /// The RAM regions the lifecycles install (the VINTF pages).
    pub regions: Arc<RecordingRegions>,
    /// Each vSMMU's interrupt lines.
    pub irqs: Vec<IrqLines>,
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
    /// An epoll set over the descriptors the devices on `bus` have now
    /// (after their first plug: their vIOMMUs' vEVENTQs), each tagged with
    /// its device's index on the bus.
    #[cfg(target_os = "linux")]
    fn new(bus: &GuestBus) -> Result<Self, String> {
        use std::os::fd::AsRawFd;
        use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
        let epoll = Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?;
        let mut n = 0;
        for k in 0..bus.devices() {
            let Some(dev) = bus.device_at(k) else {
                continue;
            };
            for fd in dev.event_fds() {
                epoll
                    .ctl(
                        ControlOperation::Add,
                        fd.as_raw_fd(),
                        EpollEvent::new(EventSet::IN, k as u64),
                    )
                    .map_err(|e| format!("epoll_ctl: {e}"))?;
                n += 1;
            }
        }
        Ok(EventLoop { epoll, fds: n })
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_bus: &GuestBus) -> Result<Self, String> {
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
        for e in &ready[..n] {
            if let Some(dev) = bus.device_at_mut(e.data() as usize) {
                dev.kick();
            }
        }
        Ok(n)
    }

    /// Without epoll the loop can only poll: it kicks every device.
    #[cfg(not(target_os = "linux"))]
    pub fn turn(&self, bus: &mut GuestBus, _timeout_ms: i32) -> Result<usize, String> {
        for k in 0..bus.devices() {
            if let Some(dev) = bus.device_at_mut(k) {
                dev.kick();
            }
        }
        Ok(0)
    }
}

/// The device's interrupt lines, counting their edges.
pub struct IrqLines {
    pub gerror: Arc<CountingIrq>,
    pub eventq: Arc<CountingIrq>,
    pub cmdqv: Arc<CountingIrq>,
}

/// Where vSMMU `k`'s SMMU and CMDQV windows are.
pub fn windows(k: usize) -> (u64, u64) {
    let off = UNIT_STRIDE * k as u64;
    (SMMU_BASE + off, CMDQV_BASE + off)
}

/// Builds one vSMMUv3 with its CMDQV (`args.lvcmdqs` VCMDQs) per device
/// group of `host` over one IOAS, plugs the devices, puts the devices on a
/// guest bus, and sets up the event loop. With several vSMMUs on the
/// simulated host, also shows a device plugged into the vSMMU of another
/// SMMU being refused.
pub fn setup(host: &Host, args: &Args) -> Result<(Vm, GuestBus), String> {
    let ioas = Ioas::new(&host.backend).map_err(|e| e.to_string())?;
    ioas.map(RAM, ram_len(args.lvcmdqs, args.vsmmus), host.ram_user_va)
        .map_err(|e| e.to_string())?;
    let regions = Arc::new(RecordingRegions::new());
    let mut bus: Option<GuestBus> = None;
    let mut irqs = Vec::new();
    for (k, devices) in host.units.iter().enumerate() {
        let (smmu_base, cmdqv_base) = windows(k);
        let dev = vsmmu(host, &ioas, &regions, devices, k, args.lvcmdqs, &mut irqs)?;
        match bus.as_mut() {
            None => bus = Some(GuestBus::new(dev, regions.clone(), smmu_base, cmdqv_base)),
            Some(b) => {
                b.add_device(dev, smmu_base, cmdqv_base)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    let mut bus = bus.ok_or("no passthrough device")?;
    if let (Some(first), Some(other)) = (bus.device_at_mut(0), host.units.get(1)) {
        if host.sim.is_some() {
            // The VMM got it wrong: SMMU 1's device into vSMMU 0.
            let e = first
                .plug(&other[0], 0x12)
                .err()
                .ok_or("a device of SMMU 1 was accepted by vSMMU 0")?;
            println!(
                "[vmm] plugging device {} (behind SMMU 1) into vSMMU 0: refused: {e}",
                other[0].id()
            );
        }
    }
    let events = EventLoop::new(&bus)?;
    let whose = match bus.devices() {
        1 => "the device's".to_string(),
        n => format!("the {n} devices'"),
    };
    println!(
        "[vmm] event loop: epoll over {whose} {} vEVENTQ descriptor(s)",
        events.fds
    );
    let vm = Vm {
        ioas,
        regions,
        irqs,
        events,
    };
    Ok((vm, bus))
}

/// vSMMU `k` over `devices` (the first one's SMMU is its own): its nesting
/// parent, lifecycle and device, the devices attached and plugged.
fn vsmmu(
    host: &Host,
    ioas: &Arc<Ioas>,
    regions: &Arc<RecordingRegions>,
    devices: &[Arc<vdev::backend::Device>],
    k: usize,
    lvcmdqs: usize,
    irqs: &mut Vec<IrqLines>,
) -> Result<Vsmmuv3, String> {
    let (smmu_base, cmdqv_base) = windows(k);
    let first = devices.first().ok_or("no passthrough device")?;
    let parent = NestParent::new(first, ioas).map_err(|e| e.to_string())?;
    // Until the guest configures its SMMU, devices translate through the
    // VM's stage 2 only.
    for d in devices {
        host.attach
            .attach(d.id(), parent.id())
            .map_err(|e| format!("attaching device {} to the nesting parent: {e}", d.id()))?;
    }
    let mut lc = Lifecycle::new(
        host.backend.clone(),
        parent,
        regions.clone(),
        cmdqv_base + VINTF0_PAGE0,
    )
    .with_lvcmdqs(lvcmdqs)
    .map_err(|e| e.to_string())?;
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
    let name = if k == 0 {
        "vSMMUv3".to_string()
    } else {
        format!("vSMMUv3 {k}")
    };
    println!(
        "[vmm] {name} at {smmu_base:#x}, CMDQV at {cmdqv_base:#x}, VINTF page at {:#x}",
        cmdqv_base + VINTF0_PAGE0
    );
    for (i, d) in devices.iter().enumerate() {
        let t = dev.plug(d, VSIDS[i]).map_err(|e| e.to_string())?;
        println!("[vmm] plugged device {} as vSID {:#x}", d.id(), VSIDS[i]);
        print_transitions(&t);
    }
    irqs.push(IrqLines {
        gerror: gerror_irq,
        eventq: eventq_irq,
        cmdqv: cmdqv_irq,
    });
    Ok(dev)
}
