//! The vSMMUv3 device a VMM plugs in: the generated `smmuv3-regs` register
//! file and trap dispatcher, whose hooks drive the [`SmmuCore`], plus the
//! CMDQV window ([`Cmdqv`]) over the same kernel objects.
//!
//! Guest-visible behaviour of the SMMU window ([`SMMU_WINDOW`] bytes, pages 0
//! and 1):
//!
//! * ID registers from the host's `IOMMU_GET_HW_INFO` ([`super::idr`]).
//! * CR0 is mirrored into CR0ACK at once; SMMUEN (re)configures every device
//!   from its STE; IRQ_CTRL is mirrored into IRQ_CTRLACK.
//! * GBPA: a write with UPDATE latches the new attributes (ABORT decides
//!   where devices go while SMMUEN is 0); a write without it changes nothing.
//! * STRTAB_BASE/STRTAB_BASE_CFG latch the stream table while SMMUEN is 0 and
//!   are ignored while it is 1; CMDQ_BASE and CMDQ_CONS (EVENTQ_BASE and
//!   EVENTQ_PROD) are ignored while their queue is enabled; queue sizes are
//!   clamped to IDR1.
//! * A CMDQ_PROD write runs the emulated command queue ([`SmmuCore::consume`]);
//!   a bad command stops it with CMDQ_CONS.ERR and toggles GERROR.CMDQ_ERR
//!   (with the GERROR interrupt when enabled); the guest's GERRORN
//!   acknowledgement resumes it.
//! * Event records go to the guest event queue with the overflow handshake
//!   and the event queue interrupt: those of the host's SMMUv3 vEVENTQ
//!   (allocated at the first plug, read by [`Vsmmuv3::service_events`]) or
//!   any the VMM passes to [`Vsmmuv3::push_event`]. Records the host's
//!   vEVENTQ reports lost toggle EVENTQ_PROD.OVFLG like a full guest queue.
//!
//! Accesses the map does not define read as zero and ignore writes; nothing
//! the guest writes can panic the model. The device implements
//! [`MmioDevice`] for its SMMU window; the CMDQV window and a device shared by
//! two bus regions are [`crate::bus`]'s.

use std::sync::Arc;

use smmuv3_regs::regfile::RegFile;
use smmuv3_regs::{CMDQ_BASE, CR0, EVENTQ_BASE, GBPA, GERROR, IRQ_CTRL};

use super::eventq::{self, Pushed};
use super::hooks::{Hk, State};
use super::idr::{guest_idrs, GuestIdrs, Incompatible};
use super::vevents::HostEvents;
use super::SmmuCore;
use crate::backend::{Device, Error, HwInfoQuery, Smmuv3Info};
use crate::cmdqv::device::{Cmdqv, CmdqvStats, CMDQV_WINDOW};
use crate::cmdqv::lifecycle::{LifecycleError, Transition};
use crate::vmm::{IrqLine, MmioDevice};

/// Bytes of the SMMU register window (the map's page 0 and page 1).
pub const SMMU_WINDOW: u64 = smmuv3_regs::windows::PAGE1::END as u64;

/// The interrupt lines of the device.
#[derive(Clone)]
pub struct Irqs {
    /// The SMMU's global error interrupt (GERROR).
    pub gerror: Arc<dyn IrqLine>,
    /// The SMMU's event queue interrupt.
    pub eventq: Arc<dyn IrqLine>,
    /// The CMDQV's error interrupt.
    pub cmdqv: Arc<dyn IrqLine>,
}

impl Irqs {
    /// One line for all three interrupts (tests and benches counting them
    /// together).
    pub fn shared(line: Arc<dyn IrqLine>) -> Self {
        Irqs {
            gerror: line.clone(),
            eventq: line.clone(),
            cmdqv: line,
        }
    }
}

/// How the VMM configures the device.
#[derive(Clone)]
pub struct Vsmmuv3Config {
    /// Size of the host pages backing guest RAM (caps IDR1.CMDQS so a VCMDQ
    /// is physically contiguous).
    pub backing_page: u64,
    /// Whether to expose the Tegra241 CMDQV window. [`Vsmmuv3::new`] asks
    /// the host (`IOMMU_GET_HW_INFO`) and refuses a host without a CMDQV the
    /// model can expose, rather than showing the guest a CMDQV whose queues
    /// never come up.
    pub cmdqv: bool,
    /// The interrupt lines.
    pub irqs: Irqs,
}

/// Why [`Vsmmuv3::save_state`] and [`Vsmmuv3::restore_state`] refuse.
const NOT_MIGRATABLE: &str = "the Tegra241 CMDQV VINTF and HW queues are host hardware state; \
                              snapshot and live migration are not supported";

/// Why [`Vsmmuv3::new`] refuses a CMDQV window on this host.
const NO_CMDQV: &str = "the host SMMU has no Tegra241 CMDQV (IOMMU_GET_HW_INFO)";
const CMDQV_UNKNOWN: &str = "IOMMU_GET_HW_INFO for the Tegra241 CMDQV failed";

/// Why the device state cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationError(pub &'static str);

impl std::fmt::Display for MigrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vSMMUv3 migration refused: {}", self.0)
    }
}

impl std::error::Error for MigrationError {}

/// Counters of the SMMU window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceStats {
    /// Guest accesses trapped into the SMMU window.
    pub traps: u64,
    /// Accesses the map does not define (read as zero, writes ignored).
    pub ignored: u64,
    /// Times the emulated command queue stopped on an error.
    pub cmdq_errors: u64,
    /// Times a GERRORN acknowledgement resumed the command queue.
    pub cmdq_resumes: u64,
    /// Event records written to the guest's event queue.
    pub events: u64,
    /// Event records lost (queue full or not enabled), plus one per read of
    /// the host's vEVENTQ that reported lost events.
    pub events_lost: u64,
    /// Edges raised on the GERROR interrupt.
    pub gerror_irqs: u64,
    /// Edges raised on the event queue interrupt.
    pub eventq_irqs: u64,
    /// Failed allocations or reads of the host's SMMUv3 vEVENTQ.
    pub host_event_errors: u64,
}

/// The vSMMUv3 device. See the module documentation.
pub struct Vsmmuv3 {
    regs: RegFile,
    /// The host's SMMUv3 vEVENTQ, once a device is plugged. Declared before
    /// `core` so it is destroyed before the vIOMMU the core's lifecycle owns.
    host_events: Option<HostEvents>,
    core: SmmuCore,
    st: State,
    cmdqv: Option<Cmdqv>,
}

/// Reads the host SMMU's ID registers (`IOMMU_GET_HW_INFO` of the default
/// type) through a passthrough device.
pub fn host_smmuv3_info(dev: &Device) -> Result<Smmuv3Info, Error> {
    let hi = dev.hw_info(HwInfoQuery::Default)?;
    hi.smmuv3()
        .ok_or_else(|| Error::new(crate::backend::Op::GetHwInfo, libc::EOPNOTSUPP))
}

impl Vsmmuv3 {
    /// A vSMMUv3 over `core`, reporting the features `host` (the host SMMU's
    /// `IOMMU_GET_HW_INFO`, see [`host_smmuv3_info`]) and the model share.
    /// With [`Vsmmuv3Config::cmdqv`], the host's Tegra241 CMDQV is probed
    /// through the lifecycle's nesting parent ([`crate::cmdqv::Lifecycle::probe_host`]):
    /// a host without one, or with one the model cannot expose, is refused.
    pub fn new(
        mut core: SmmuCore,
        host: &Smmuv3Info,
        cfg: Vsmmuv3Config,
    ) -> Result<Self, Incompatible> {
        let idrs = guest_idrs(host, cfg.backing_page)?;
        let cmdqv = if cfg.cmdqv {
            match core.lc.probe_host() {
                Ok(Some(_)) => Some(Cmdqv::new(
                    cfg.irqs.cmdqv.clone(),
                    idrs.cmdqs(),
                    core.lc.num_lvcmdqs(),
                    core.mem().clone(),
                )),
                Ok(None) => return Err(Incompatible(NO_CMDQV.into())),
                Err(LifecycleError::Backend(_)) => return Err(Incompatible(CMDQV_UNKNOWN.into())),
                Err(e) => {
                    return Err(Incompatible(
                        format!("the host's Tegra241 CMDQV cannot back the model's: {e}").into(),
                    ))
                }
            }
        } else {
            None
        };
        let mut dev = Vsmmuv3 {
            regs: RegFile::new(),
            host_events: None,
            core,
            st: State {
                idrs,
                irqs: cfg.irqs,
                stats: DeviceStats::default(),
            },
            cmdqv,
        };
        dev.load_idrs();
        Ok(dev)
    }

    fn load_idrs(&mut self) {
        let i = self.st.idrs;
        let r = &mut self.regs;
        r.set_idr0(i.idr[0]);
        r.set_idr1(i.idr[1]);
        r.set_idr2(i.idr[2]);
        r.set_idr3(i.idr[3]);
        r.set_idr4(i.idr[4]);
        r.set_idr5(i.idr[5]);
        r.set_iidr(i.iidr);
        r.set_aidr(i.aidr);
        // Queue bases reset to the largest size the guest may use.
        let q = CMDQ_BASE::LOG2SIZE;
        r.set_cmdq_base(q.val(u64::from(i.cmdqs())).value);
        let e = EVENTQ_BASE::LOG2SIZE;
        r.set_eventq_base(e.val(u64::from(i.eventqs())).value);
    }

    /// The guest's ID registers.
    pub fn idrs(&self) -> &GuestIdrs {
        &self.st.idrs
    }

    /// The register file (device side, for inspection).
    pub fn regs(&self) -> &RegFile {
        &self.regs
    }

    /// The core (stream table, command executor, kernel objects).
    pub fn core(&self) -> &SmmuCore {
        &self.core
    }

    /// The descriptors a VMM's poll loop waits on for this device: the
    /// vEVENTQs of its vIOMMU (the host's SMMUv3 events for its devices, and
    /// on a CMDQV host the LVCMDQ error maps), each readable while it holds
    /// records; call [`Vsmmuv3::kick`] when one is. They exist from the
    /// first plug until teardown (ask again after a plug; a closed
    /// descriptor leaves an epoll set by itself) and stay valid while the
    /// device is borrowed. Empty on a backend without descriptors.
    #[cfg(unix)]
    pub fn event_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        let cmdqv = self.core.lc.veventq().and_then(|q| q.fd());
        let smmu = self.host_events.as_ref().and_then(|q| q.fd());
        cmdqv.into_iter().chain(smmu).collect()
    }

    /// Counters of the SMMU window.
    pub fn stats(&self) -> DeviceStats {
        self.st.stats
    }

    /// Counters of the CMDQV window, if exposed.
    pub fn cmdqv_stats(&self) -> Option<CmdqvStats> {
        self.cmdqv.as_ref().map(|c| c.stats())
    }

    /// Whether the CMDQV window is exposed.
    pub fn has_cmdqv(&self) -> bool {
        self.cmdqv.is_some()
    }

    /// The lifecycle transitions the CMDQV window caused since the last call.
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        self.cmdqv
            .as_mut()
            .map(|c| c.take_transitions())
            .unwrap_or_default()
    }

    /// Plugs a passthrough device as `vsid` (first device: probe, vIOMMU,
    /// VINTF page, vEVENTQ; then its vDEVICE and the attachment its STE asks
    /// for). VCMDQs the guest enabled before are allocated now.
    pub fn plug(
        &mut self,
        dev: &Arc<Device>,
        vsid: u32,
    ) -> Result<Vec<Transition>, LifecycleError> {
        let t = self.core.plug(dev, vsid)?;
        if let Some(c) = self.cmdqv.as_mut() {
            // What the guest enabled before any device was there catches up
            // (its transitions are in `take_transitions`, like a write's).
            c.plugged(&mut self.core.lc);
        }
        if self.host_events.is_none() {
            if let Some(v) = self.core.lc.viommu() {
                // Without it the guest sees no device faults; the device
                // still works, so this is not a plug failure.
                match HostEvents::alloc(v) {
                    Ok(q) => self.host_events = Some(q),
                    Err(e) => {
                        self.st.stats.host_event_errors += 1;
                        log::warn!(
                            "no SMMUv3 vEVENTQ, device faults will not reach the guest: {e}"
                        );
                    }
                }
            }
        }
        Ok(t)
    }

    /// Unplugs `vsid`: detached, its HWPT and vDEVICE freed; queues stay.
    pub fn unplug(&mut self, vsid: u32) -> Vec<Transition> {
        self.core.unplug(vsid)
    }

    /// A guest load from the SMMU window.
    pub fn smmu_read(&mut self, offset: u64, data: &mut [u8]) {
        self.st.stats.traps += 1;
        let mut hk = Hk {
            core: &mut self.core,
            st: &mut self.st,
        };
        if self.regs.read_bytes(&mut hk, offset, data).is_err() {
            self.st.stats.ignored += 1;
            data.fill(0);
        }
    }

    /// A guest store to the SMMU window.
    pub fn smmu_write(&mut self, offset: u64, data: &[u8]) {
        self.st.stats.traps += 1;
        let mut hk = Hk {
            core: &mut self.core,
            st: &mut self.st,
        };
        if self.regs.write_bytes(&mut hk, offset, data).is_err() {
            self.st.stats.ignored += 1;
        }
    }

    /// A guest load from the CMDQV window (zero without a CMDQV).
    pub fn cmdqv_read(&mut self, offset: u64, data: &mut [u8]) {
        match self.cmdqv.as_mut() {
            Some(c) if offset < CMDQV_WINDOW => c.read(&mut self.core.lc, offset, data),
            _ => data.fill(0),
        }
    }

    /// A guest store to the CMDQV window (ignored without a CMDQV).
    pub fn cmdqv_write(&mut self, offset: u64, data: &[u8]) {
        if let Some(c) = self.cmdqv.as_mut() {
            if offset < CMDQV_WINDOW {
                c.write(&mut self.core.lc, offset, data);
            }
        }
    }

    /// Lets the hardware act on guest stores to the installed VINTF page and
    /// collects the queue errors the host reported (the CMDQV interrupt). On a
    /// real host the queues run by themselves and this only reads the
    /// vEVENTQ: call it when the vEVENTQ file descriptor is readable.
    pub fn kick(&mut self) {
        if let Some(c) = self.cmdqv.as_mut() {
            c.kick(&mut self.core.lc);
        }
        self.service_events();
    }

    /// Copies the records of the host's SMMUv3 vEVENTQ into the guest's
    /// event queue ([`Vsmmuv3::push_event`]); call it when that vEVENTQ is
    /// readable. A read with the vEVENTQ's lost-events marker (it overflowed
    /// and dropped records) counts one lost record and, while the event queue
    /// is enabled, toggles EVENTQ_PROD.OVFLG as a full guest queue does (not
    /// while an earlier overflow awaits the guest's EVENTQ_CONS.OVACKFLG).
    /// Returns how many records were read.
    pub fn service_events(&mut self) -> usize {
        let Some(q) = self.host_events.as_ref() else {
            return 0;
        };
        match q.read() {
            Ok(r) => {
                let n = r.records.len();
                for rec in &r.records {
                    self.push_event(rec);
                }
                if r.lost {
                    self.host_events_lost();
                }
                n
            }
            Err(_) => {
                self.st.stats.host_event_errors += 1;
                0
            }
        }
    }

    /// The host's vEVENTQ dropped records the guest will never see: the
    /// guest learns it through the overflow flag, if its queue is enabled.
    fn host_events_lost(&mut self) {
        self.st.stats.events_lost += 1;
        let r = &mut self.regs;
        if CR0::EVENTQEN.is_set(r.cr0ack()) {
            r.set_eventq_prod(eventq::discard(r.eventq_prod(), r.eventq_cons()));
        }
    }

    /// Writes an event record (e.g. from the host's SMMUv3 vEVENTQ) into the
    /// guest's event queue, with the overflow handshake and the event queue
    /// interrupt. Returns whether the record was written.
    pub fn push_event(&mut self, record: &[u64; 4]) -> bool {
        let r = &mut self.regs;
        if !CR0::EVENTQEN.is_set(r.cr0ack()) {
            self.st.stats.events_lost += 1;
            return false;
        }
        let (prod, what) = eventq::push(
            r.eventq_base(),
            self.st.idrs.eventqs(),
            r.eventq_prod(),
            r.eventq_cons(),
            record,
            self.core.mem().as_ref(),
        );
        r.set_eventq_prod(prod);
        match what {
            Pushed::Written => {
                self.st.stats.events += 1;
                if IRQ_CTRL::EVENTQ_IRQEN.is_set(r.irq_ctrlack()) {
                    self.st.stats.eventq_irqs += 1;
                    self.st.irqs.eventq.pulse();
                }
                true
            }
            Pushed::Overflow => {
                self.st.stats.events_lost += 1;
                false
            }
            Pushed::Fault => {
                self.st.stats.events_lost += 1;
                self.st.gerror(r, GERROR::EVENTQ_ABT_ERR.val(1).value);
                false
            }
        }
    }

    /// A device reset: registers back to reset (ID registers kept), devices
    /// back to GBPA's bypass, the CMDQV's queues freed and its page removed;
    /// plugged devices stay plugged.
    pub fn reset(&mut self) {
        self.regs.reset();
        self.load_idrs();
        self.core.set_strtab(None);
        self.core
            .set_enable(false, GBPA::ABORT.is_set(self.regs.gbpa()));
        if let Some(c) = self.cmdqv.as_mut() {
            c.reset(&mut self.core.lc);
        }
    }

    /// Releases every kernel object in the kernel's order (queues descending,
    /// region removed, munmap, vDEVICEs, vEVENTQ, vIOMMU). Also done on drop.
    pub fn teardown(&mut self) -> Vec<Transition> {
        self.host_events = None;
        let mut t = self.take_transitions();
        t.extend(self.core.teardown());
        t
    }

    /// Device state for migration: always refused, because the VINTF, its
    /// HW queues and the vDEVICEs are host hardware state that cannot be
    /// carried to another host.
    pub fn save_state(&self) -> Result<Vec<u8>, MigrationError> {
        Err(MigrationError(NOT_MIGRATABLE))
    }

    /// Restoring a snapshot: always refused (see [`Vsmmuv3::save_state`]).
    pub fn restore_state(&mut self, _state: &[u8]) -> Result<(), MigrationError> {
        Err(MigrationError(NOT_MIGRATABLE))
    }
}

impl MmioDevice for Vsmmuv3 {
    fn mmio_read(&mut self, offset: u64, data: &mut [u8]) {
        self.smmu_read(offset, data);
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) {
        self.smmu_write(offset, data);
    }
}
