//! The simulated backend: an in-process model of Linux iommufd and of the
//! Tegra241 CMDQV hardware (or of the iommufd selftest mock), enforcing the
//! kernel's rules with the kernel's errnos. Built with the default cargo
//! feature `sim`; a VMM builds `vdev` without it.
//!
//! Facts come from Linux `drivers/iommu/iommufd/{viommu.c,main.c,io_pagetable.c,
//! selftest.c}`, `drivers/iommu/arm/arm-smmu-v3/{tegra241-cmdqv.c,
//! arm-smmu-v3.c,arm-smmu-v3-iommufd.c}` (the event forwarding of
//! [`SimBackend::report_smmu_event`]) and `include/uapi/linux/iommufd.h`; the
//! code is this crate's own.
//!
//! One file per set of rules, each with its tests:
//!
//! | file | rules |
//! |---|---|
//! | `objects.rs` | the object table: ids (lowest free, tombstones, access objects), who keeps whom alive, `IOMMU_DESTROY` and its order |
//! | `iommufd/` | the iommufd core: IOAS map/unmap and pinning, devices and attachment, HWPTs, vIOMMU/vDEVICE/HW queue, vEVENTQs, mmap, invalidation, hardware info |
//! | `tegra241/` | the Tegra241 CMDQV driver (VINTFs, SID slots, HW queue rules, vSTE, invalidation forwarding), its hardware (`hw.rs`: the VCMDQs, run on the kick) and what it reports (`events.rs`: queue errors, SMMU events) |
//! | `config.rs` | what is modelled ([`SimConfig`]): one SMMU or several ([`SimModel::Tegra241Smmus`]), each with its CMDQV's VINTFs, LVCMDQs per VINTF and SID slots |
//! | `selftest.rs` | the iommufd selftest mock as a driver |
//! | `faults.rs` | fault injection |
//! | `guest.rs` | [`SimGuestRam`], guest memory with scattered backing pages |
//!
//! This file binds them to the backend traits: every call of [`Backend`],
//! [`Selftest`] and [`Kick`] consults the injected faults, then runs its
//! rule. The rule modules are private; their `pub(crate)` items are the
//! simulator's own.
//!
//! **Several SMMUs**: a device sits behind one physical SMMU
//! ([`SimBackend::add_device_on`]); what is built through it belongs to that
//! SMMU, as in Linux: a nesting parent is a page table of the device's SMMU
//! (with that SMMU's VMIDs), a vIOMMU needs a nesting parent of its device's
//! SMMU and takes a VINTF of that SMMU's CMDQV, and a device of another SMMU
//! gets `EINVAL` at `IOMMU_VDEVICE_ALLOC`, at a nested HWPT allocation on
//! the vIOMMU and at an attach to its HWPTs.
//!
//! What the simulator adds for tests: guest memory supplied by the caller
//! (a [`GuestMemory`], [`SimGuestRam`]), fault injection ([`Fault`]), a count of
//! live kernel objects ([`SimBackend::live_objects`]), snapshots of a VINTF
//! ([`SimBackend::vintf`]) and logs of the invalidations the VCMDQs and the
//! kernel performed.
//!
//! **The VCMDQs run on [`Kick::kick`]**: the simulator cannot trap stores to
//! the mmap'd VINTF page, so the device model calls `kick(viommu)` after the
//! guest wrote PROD, CONFIG or GERRORN; the queues then consume commands, advance
//! CONS, or stop with `CONS.ERR` (`CERROR_ILL_OPCODE`, or `CERROR_ILL_ACCESS`
//! for an ATC_INV of a StreamID the VINTF has not matched) and a toggled GERROR,
//! which is also reported as a Tegra241 vEVENT (LVCMDQ error map).

use std::sync::{Arc, Mutex, MutexGuard};

use super::deferred::DeferredDestroys;
use super::{
    Backend, Error, HwInfo, HwInfoQuery, Kick, MappedRegion, MockDomain, ObjId, ObjectTypes, Op,
    Result, Selftest, VEvent, ViommuDataIn, ViommuDataOut,
};
use crate::vmm::{DeviceAttach, GuestMemory};

mod config;
mod faults;
pub mod guest;
mod iommufd;
pub mod journal;
mod objects;
mod selftest;
mod tegra241;
#[cfg(test)]
mod testing;

pub use config::{SimConfig, SimModel, Tegra241Host};
pub use faults::{Fault, FaultWhen};
pub use guest::SimGuestRam;
pub use iommufd::invalidate::KernelInvalidation;
pub use tegra241::hw::{regs, HwCommand, HwInvalidation};
pub use tegra241::VintfSnapshot;

use iommufd::{hwpt, invalidate, ioas, mmap, veventq, viommu};
use objects::State;

struct Shared {
    cfg: SimConfig,
    mem: Arc<dyn GuestMemory>,
    st: Mutex<State>,
    /// Destroys refused in a handle's `Drop`, for a retry at teardown.
    deferred: DeferredDestroys,
}

/// The simulated backend. Cloning gives another handle to the same simulated
/// kernel (for tests that inspect it while handles use it).
#[derive(Clone)]
pub struct SimBackend {
    sh: Arc<Shared>,
}

fn e(op: Op, errno: i32) -> Error {
    Error::new(op, errno)
}

impl SimBackend {
    /// A simulated kernel over `mem`.
    ///
    /// Panics on a [`SimModel::Tegra241Smmus`] without an SMMU: test set-up,
    /// not guest input.
    pub fn new(cfg: SimConfig, mem: Arc<dyn GuestMemory>) -> Self {
        let smmus = cfg.model.smmus();
        assert!(
            !matches!(cfg.model, SimModel::Tegra241Smmus(_)) || !smmus.is_empty(),
            "a Tegra241 host needs at least one SMMU"
        );
        let vintf_used = smmus
            .iter()
            .map(|h| {
                let mut used = vec![false; h.num_vintfs as usize];
                if let Some(v0) = used.first_mut() {
                    *v0 = true; // VINTF 0 belongs to the host kernel
                }
                used
            })
            .collect();
        let st = State {
            vintf_used,
            // Each SMMU allocates its own VMIDs (the selftest mock: one).
            next_vmid: vec![1; smmus.len().max(1)],
            next_psid: 0x100,
            ..Default::default()
        };
        SimBackend {
            sh: Arc::new(Shared {
                cfg,
                mem,
                st: Mutex::new(st),
                deferred: DeferredDestroys::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.sh.cfg
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.sh.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state for one call of `op`, once the injected faults let it run.
    fn begin(&self, op: Op) -> Result<MutexGuard<'_, State>> {
        let mut st = self.lock();
        faults::consult(&mut st, op)?;
        Ok(st)
    }

    /// Whether a Grace host (SMMUv3 with the Tegra241 CMDQV) is modelled,
    /// not the selftest mock.
    fn tegra(&self) -> bool {
        !matches!(self.sh.cfg.model, SimModel::Selftest)
    }

    /// SMMU `smmu` of the modelled Grace host, `None` for the selftest mock.
    fn host(&self, smmu: usize) -> Option<&Tegra241Host> {
        self.sh.cfg.model.smmus().get(smmu)
    }

    /// Number of live kernel objects (IOAS, HWPTs, devices, vIOMMUs, vDEVICEs,
    /// HW queues, vEVENTQs); HW queues' internal access objects and tombstoned
    /// ids are not counted.
    pub fn live_objects(&self) -> usize {
        self.lock().objs.len()
    }
}

impl Backend for SimBackend {
    fn types(&self) -> &ObjectTypes {
        &self.sh.cfg.types
    }

    fn get_hw_info(&self, dev_id: ObjId, query: HwInfoQuery) -> Result<HwInfo> {
        iommufd::get_hw_info(self, dev_id, query)
    }

    fn ioas_alloc(&self) -> Result<ObjId> {
        ioas::alloc(self)
    }

    fn ioas_map(&self, ioas: ObjId, iova: u64, length: u64, _user_va: u64) -> Result<()> {
        ioas::map(self, ioas, iova, length)
    }

    fn ioas_unmap(&self, ioas: ObjId, iova: u64, length: u64) -> Result<()> {
        ioas::unmap(self, ioas, iova, length)
    }

    fn hwpt_alloc_nest_parent(&self, dev_id: ObjId, ioas: ObjId) -> Result<ObjId> {
        hwpt::alloc_nest_parent(self, dev_id, ioas)
    }

    fn hwpt_alloc_nested(
        &self,
        dev_id: ObjId,
        pt: ObjId,
        data_type: u32,
        data: &[u8],
    ) -> Result<ObjId> {
        hwpt::alloc_nested(self, dev_id, pt, data_type, data)
    }

    fn viommu_alloc(
        &self,
        dev_id: ObjId,
        hwpt: ObjId,
        viommu_type: u32,
        data: ViommuDataIn,
    ) -> Result<ViommuDataOut> {
        viommu::alloc(self, dev_id, hwpt, viommu_type, data)
    }

    fn vdevice_alloc(&self, viommu: ObjId, dev_id: ObjId, virt_id: u64) -> Result<ObjId> {
        viommu::alloc_vdevice(self, viommu, dev_id, virt_id)
    }

    fn hw_queue_alloc(
        &self,
        viommu: ObjId,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Result<ObjId> {
        viommu::alloc_hw_queue(self, viommu, queue_type, index, iova, length)
    }

    fn invalidate(&self, id: ObjId, data_type: u32, entry_len: u32, entries: &[u8]) -> Result<u32> {
        invalidate::invalidate(self, id, data_type, entry_len, entries)
    }

    fn veventq_alloc(&self, viommu: ObjId, veventq_type: u32, depth: u32) -> Result<ObjId> {
        veventq::alloc(self, viommu, veventq_type, depth)
    }

    fn veventq_read(&self, veventq: ObjId) -> Result<Vec<VEvent>> {
        veventq::read(self, veventq)
    }

    #[cfg(unix)]
    fn veventq_fd(&self, veventq: ObjId) -> Result<super::PollFd> {
        veventq::fd(self, veventq)
    }

    fn destroy(&self, id: ObjId) -> Result<()> {
        let op = Op::Destroy;
        self.begin(op)?.destroy(id).map_err(|x| e(op, x))
    }

    fn deferred_destroys(&self) -> Option<&DeferredDestroys> {
        Some(&self.sh.deferred)
    }

    fn mmap(&self, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>> {
        mmap::map(self, offset, length)
    }
}

impl Selftest for SimBackend {
    fn mock_domain(&self, ioas: ObjId) -> Result<MockDomain> {
        selftest::mock_domain(self, ioas)
    }

    fn mock_domain_replace(&self, stdev_id: ObjId, pt: ObjId) -> Result<()> {
        selftest::mock_domain_replace(self, stdev_id, pt)
    }

    fn trigger_vevent(&self, dev_id: ObjId) -> Result<()> {
        selftest::trigger_vevent(self, dev_id)
    }
}

impl Kick for SimBackend {
    fn kick(&self, viommu: ObjId) -> Result<()> {
        tegra241::hw::kick(self, viommu)
    }
}

impl DeviceAttach for SimBackend {
    fn attach(&self, dev_id: ObjId, pt: ObjId) -> Result<()> {
        self.attach_device(dev_id, pt)
    }
    fn detach(&self, dev_id: ObjId) -> Result<()> {
        self.detach_device(dev_id)
    }
}
