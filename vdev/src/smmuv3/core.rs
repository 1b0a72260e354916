//! The host side of the vSMMUv3 that does not depend on register decoding:
//! device configuration from guest STEs (attach to an abort, bypass or nested
//! stage-1 HWPT), the command executor behind the emulated command queue
//! (invalidations batched into `IOMMU_HWPT_INVALIDATE`, CMD_SYNC with its
//! MSI), and device plug/unplug together with the CMDQV [`Lifecycle`] that
//! owns the shared kernel objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::cmdq::{self, Command, Executor, CERROR_ILL};
use super::strtab::{self, Attach};
use crate::backend::{Device, Error, NestedHwpt};
use crate::cmdqv::lifecycle::{Lifecycle, LifecycleError, Transition};
use crate::vmm::{DeviceAttach, GuestMemory};
use smmuv3_regs::enums::{CmdOpcode as Op, SyncCs};

/// Counters of what the core did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Commands completed by the emulated queue.
    pub commands: u64,
    /// Commands forwarded to `IOMMU_HWPT_INVALIDATE`.
    pub invalidations: u64,
    /// `IOMMU_HWPT_INVALIDATE` calls.
    pub flushes: u64,
    /// CMD_SYNCs completed.
    pub syncs: u64,
    /// Completion MSIs written.
    pub msis: u64,
    /// STEs applied (CFGI_STE and friends).
    pub ste_applied: u64,
    /// STEs the kernel refused (the device was attached to abort instead).
    pub ste_refused: u64,
    /// Commands that stopped the queue.
    pub cmd_errors: u64,
    /// Devices taken off every domain (detached, so blocked) because no
    /// abort HWPT could be allocated or attached for them.
    pub detached_to_block: u64,
    /// Devices the model could neither attach to abort nor detach: they
    /// keep their previous attachment (reported as an error each time).
    pub block_failed: u64,
}

/// A device's current configuration on the host.
struct Binding {
    attach: Attach,
    // Keeps the HWPT the device is attached to alive; `None` once the device
    // was detached to block it (`attach` is then `Abort`).
    _hwpt: Option<NestedHwpt>,
}

/// See the module documentation.
pub struct SmmuCore {
    /// The kernel objects shared with the CMDQV.
    pub lc: Lifecycle,
    attach: Arc<dyn DeviceAttach>,
    mem: Arc<dyn GuestMemory>,
    strtab: Option<strtab::Config>,
    smmu_enabled: bool,
    gbpa_abort: bool,
    bindings: BTreeMap<u32, Binding>,
    /// Unplugged devices whose detach the kernel refused, with the HWPT they
    /// are still attached to: destroying it now would be refused too, so it
    /// waits for [`SmmuCore::teardown`] to retry the detach.
    stranded: Vec<(Arc<Device>, Binding)>,
    batch: Vec<u8>,
    batch_len: usize,
    /// Counters.
    pub stats: Stats,
}

impl SmmuCore {
    /// A core over a lifecycle, the VMM's device attachment and guest memory.
    pub fn new(lc: Lifecycle, attach: Arc<dyn DeviceAttach>, mem: Arc<dyn GuestMemory>) -> Self {
        SmmuCore {
            lc,
            attach,
            mem,
            strtab: None,
            smmu_enabled: false,
            gbpa_abort: false,
            bindings: BTreeMap::new(),
            stranded: Vec::new(),
            batch: Vec::with_capacity(smmuv3_regs::structs::Command::SIZE_BYTES * cmdq::MAX_BATCH),
            batch_len: 0,
            stats: Stats::default(),
        }
    }

    /// Guest memory.
    pub fn mem(&self) -> &Arc<dyn GuestMemory> {
        &self.mem
    }

    /// Latches the stream table configuration (None: reserved format).
    pub fn set_strtab(&mut self, cfg: Option<strtab::Config>) {
        self.strtab = cfg;
    }

    /// CR0.SMMUEN changed, or GBPA.ABORT was latched: reconfigures every device.
    pub fn set_enable(&mut self, smmu_enabled: bool, gbpa_abort: bool) {
        let changed = smmu_enabled != self.smmu_enabled || gbpa_abort != self.gbpa_abort;
        self.smmu_enabled = smmu_enabled;
        self.gbpa_abort = gbpa_abort;
        if changed {
            for vsid in self.lc.vsids() {
                self.configure(vsid);
            }
        }
    }

    /// What `vsid` is attached to now.
    pub fn attachment(&self, vsid: u32) -> Option<Attach> {
        self.bindings.get(&vsid).map(|b| b.attach)
    }

    /// Plugs a passthrough device as `vsid`: vDEVICE (and on the first device
    /// the vIOMMU, page and vEVENTQ), then the attachment its STE asks for.
    pub fn plug(
        &mut self,
        dev: &Arc<Device>,
        vsid: u32,
    ) -> Result<Vec<Transition>, LifecycleError> {
        let t = self.lc.plug(dev, vsid)?;
        self.configure(vsid);
        Ok(t)
    }

    /// Unplugs `vsid`: detaches the device, then releases its HWPT and
    /// vDEVICE. A detach the kernel refuses leaves the device attached, so
    /// its HWPT is kept (the kernel would refuse its destroy) until
    /// [`SmmuCore::teardown`] retries; [`SmmuCore::stranded`] lists them.
    pub fn unplug(&mut self, vsid: u32) -> Vec<Transition> {
        let mut binding = self.bindings.remove(&vsid);
        if let Some(dev) = self.lc.device(vsid).cloned() {
            if let Err(e) = self.detach_or_strand(dev, binding.take()) {
                log::error!("detaching vSID {vsid:#x}: {e}; its HWPT waits for teardown");
            }
        }
        // The HWPT goes before the vDEVICE, as before the device moved away.
        drop(binding);
        self.lc.unplug(vsid).1
    }

    /// Detaches `dev`, releasing `binding` (its HWPT) once it is off it. A
    /// refused detach leaves the device attached, so the binding moves to
    /// `stranded` for [`SmmuCore::teardown`] to retry rather than have its
    /// HWPT's destroy refused too.
    fn detach_or_strand(
        &mut self,
        dev: Arc<Device>,
        binding: Option<Binding>,
    ) -> Result<(), Error> {
        let r = self.attach.detach(dev.id());
        if r.is_err() {
            if let Some(b) = binding {
                self.stranded.push((dev, b));
            }
        }
        r
    }

    /// Unplugged devices (their kernel ids) whose detach was refused and whose
    /// HWPT is therefore still held.
    pub fn stranded(&self) -> Vec<u32> {
        self.stranded.iter().map(|(d, _)| d.id()).collect()
    }

    /// Releases everything: devices detached, HWPTs, then the lifecycle's
    /// objects in the kernel's order. A device whose detach is refused keeps
    /// its HWPT (listed by [`SmmuCore::stranded`], and logged): destroying
    /// it would only be refused and lose track of it.
    pub fn teardown(&mut self) -> Vec<Transition> {
        for vsid in self.lc.vsids() {
            let Some(dev) = self.lc.device(vsid).cloned() else {
                continue;
            };
            let binding = self.bindings.remove(&vsid);
            if let Err(e) = self.detach_or_strand(dev, binding) {
                log::error!("teardown: detaching vSID {vsid:#x}: {e}");
            }
        }
        self.bindings.clear();
        // Retry the devices whose detach failed before.
        let attach = self.attach.clone();
        self.stranded
            .retain(|(dev, _)| match attach.detach(dev.id()) {
                Ok(()) => false,
                Err(e) => {
                    log::error!("teardown: device {} still attached: {e}", dev.id());
                    true
                }
            });
        self.lc.teardown()
    }

    /// What the guest asks for `vsid` right now.
    fn wanted(&self, vsid: u32) -> Attach {
        if !self.smmu_enabled {
            return if self.gbpa_abort {
                Attach::Abort
            } else {
                Attach::Bypass
            };
        }
        match &self.strtab {
            Some(cfg) => match strtab::fetch_ste(cfg, vsid, self.mem.as_ref()) {
                Ok(ste) => strtab::decide(ste),
                Err(_) => Attach::Abort,
            },
            None => Attach::Abort,
        }
    }

    /// Applies `vsid`'s configuration: a nested HWPT for the vSTE, the device
    /// attached to it, the old HWPT released afterwards. A vSTE the kernel
    /// refuses leaves the device attached to abort.
    pub fn configure(&mut self, vsid: u32) {
        let Some(dev) = self.lc.device(vsid).cloned() else {
            return;
        };
        let Some(viommu) = self.lc.viommu().cloned() else {
            return;
        };
        let want = self.wanted(vsid);
        if self.bindings.get(&vsid).map(|b| b.attach) == Some(want) {
            return;
        }
        self.stats.ste_applied += 1;
        let try_attach = |a: Attach| -> Result<NestedHwpt, Error> {
            let h = viommu.alloc_nested_ste(&dev, strtab::vste_for(a))?;
            self.attach.attach(dev.id(), h.id())?;
            Ok(h)
        };
        let (attach, hwpt) = match try_attach(want) {
            Ok(h) => (want, Some(h)),
            Err(_) => {
                self.stats.ste_refused += 1;
                match try_attach(Attach::Abort) {
                    Ok(h) => (Attach::Abort, Some(h)),
                    // Fail closed: a device iommufd has detached is blocked,
                    // so the guest's DMA no longer uses the old table.
                    Err(e) => match self.attach.detach(dev.id()) {
                        Ok(()) => {
                            log::warn!("vSID {vsid:#x}: no abort HWPT ({e}): detached");
                            self.stats.detached_to_block += 1;
                            (Attach::Abort, None)
                        }
                        Err(d) => {
                            log::error!(
                                "vSID {vsid:#x}: cannot attach to abort ({e}) nor detach ({d}): \
                                 the previous attachment stays"
                            );
                            self.stats.block_failed += 1;
                            return;
                        }
                    },
                }
            }
        };
        // The old binding (if any) drops here, after the device moved away.
        self.bindings.insert(
            vsid,
            Binding {
                attach,
                _hwpt: hwpt,
            },
        );
    }

    /// StreamIDs in `[start, start + count)` that have a plugged device.
    fn plugged_in(&self, start: u64, count: u64) -> Vec<u32> {
        self.lc
            .vsids()
            .into_iter()
            .filter(|v| u64::from(*v) >= start && u64::from(*v) - start < count)
            .collect()
    }

    /// Runs the command queue between `cons` and `prod`.
    pub fn consume(&mut self, g: cmdq::Geometry, prod: u32, cons: u32) -> cmdq::Outcome {
        let mem = self.mem.clone();
        let out = cmdq::consume(g, prod, cons, mem.as_ref(), self);
        self.stats.commands += out.executed;
        if out.error.is_some() {
            self.stats.cmd_errors += 1;
        }
        out
    }
}

/// The commands one `IOMMU_HWPT_INVALIDATE` forwards: stage-1 TLB and ATC
/// invalidations and CD invalidations.
fn is_invalidation(cmd: &Command) -> bool {
    matches!(
        cmd.op(),
        Some(
            Op::TLBI_NH_ALL
                | Op::TLBI_NH_ASID
                | Op::TLBI_NH_VA
                | Op::TLBI_NH_VAA
                | Op::TLBI_NSNH_ALL
                | Op::ATC_INV
                | Op::CFGI_CD
                | Op::CFGI_CD_ALL
        )
    )
}

impl Executor for SmmuCore {
    fn batchable(&self, cmd: &Command) -> bool {
        let invalidation = is_invalidation(cmd);
        // Without a vIOMMU there is no cache to invalidate, and a command
        // naming a StreamID without a vDEVICE has nothing to act on (the
        // kernel would refuse it): those complete as no-ops in `execute`.
        invalidation
            && self.lc.viommu().is_some()
            && (!matches!(cmd.op(), Some(Op::ATC_INV | Op::CFGI_CD | Op::CFGI_CD_ALL))
                || self.lc.has_vdevice(cmd.sid()))
    }

    fn batch(&mut self, cmd: &Command) {
        self.batch.extend_from_slice(&cmd.0[0].to_le_bytes());
        self.batch.extend_from_slice(&cmd.0[1].to_le_bytes());
        self.batch_len += 1;
    }

    fn flush(&mut self) -> Result<(), (usize, u32)> {
        if self.batch_len == 0 {
            return Ok(());
        }
        let n = self.batch_len;
        self.batch_len = 0;
        let r = match self.lc.viommu() {
            Some(v) => v.invalidate(&self.batch),
            None => Ok(0),
        };
        self.batch.clear();
        self.stats.flushes += 1;
        match r {
            Ok(_) => {
                self.stats.invalidations += n as u64;
                Ok(())
            }
            Err(e) => {
                let done = e.handled.unwrap_or(0) as usize;
                self.stats.invalidations += done as u64;
                Err((done.min(n), CERROR_ILL))
            }
        }
    }

    fn execute(&mut self, cmd: &Command) -> Result<(), u32> {
        match cmd.op() {
            // Not batched (see `batchable`): nothing to invalidate.
            _ if is_invalidation(cmd) => Ok(()),
            Some(Op::PREFETCH_CONFIG | Op::PREFETCH_ADDR) => Ok(()),
            Some(Op::CFGI_STE) => {
                self.configure(cmd.sid());
                Ok(())
            }
            Some(Op::CFGI_STE_RANGE) => {
                // 2^(Range+1) StreamIDs, aligned; Range 31 is CFGI_ALL.
                let count = 2u64 << cmd.range();
                let start = u64::from(cmd.sid()) & !(count - 1);
                for vsid in self.plugged_in(start, count) {
                    self.configure(vsid);
                }
                Ok(())
            }
            Some(Op::CMD_SYNC) => {
                self.stats.syncs += 1;
                if u64::from(cmd.sync_cs()) == SyncCs::IRQ.value() {
                    let data = cmd.sync_msi_data().to_le_bytes();
                    if self.mem.write(cmd.sync_msi_addr(), &data) {
                        self.stats.msis += 1;
                    }
                }
                Ok(())
            }
            // Stage-2, EL2/EL3 and stall/PRI commands name features the model
            // does not offer; anything else is not a command.
            _ => Err(CERROR_ILL),
        }
    }
}

impl Drop for SmmuCore {
    fn drop(&mut self) {
        self.teardown();
    }
}
