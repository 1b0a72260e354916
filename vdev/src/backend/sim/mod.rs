//! The simulated backend: an in-process model of Linux iommufd and of the
//! Tegra241 CMDQV hardware (or of the iommufd selftest mock), enforcing the
//! kernel's rules with the kernel's errnos.
//!
//! Facts come from Linux `drivers/iommu/iommufd/{viommu.c,main.c,io_pagetable.c,
//! selftest.c}`, `drivers/iommu/arm/arm-smmu-v3/{tegra241-cmdqv.c,
//! arm-smmu-v3.c,arm-smmu-v3-iommufd.c}` (the event forwarding of
//! [`SimBackend::report_smmu_event`]) and `include/uapi/linux/iommufd.h`; the
//! code is this crate's own.
//!
//! What the simulator adds for tests: guest memory supplied by the caller
//! ([`GuestMemory`], [`SimGuestRam`]), fault injection ([`Fault`]), a count of
//! live kernel objects ([`SimBackend::live_objects`]), snapshots of a VINTF
//! ([`SimBackend::vintf`]) and logs of the invalidations the VCMDQs and the
//! kernel performed.
//!
//! **The VCMDQs run on [`Kick::kick`]**: the simulator cannot trap stores to
//! the mmap'd VINTF page, so the device model calls `kick(viommu)` after the
//! guest wrote PROD, CONFIG or GERRORN; the queues then consume commands, advance
//! CONS, or stop with `CONS.ERR = CERROR_ILL` and a toggled GERROR, which is also
//! reported as a Tegra241 vEVENT (LVCMDQ error map).
//!
//! **Ids are the kernel's**: the lowest free id (from 1) for every new object,
//! so destroyed objects' ids are reused; a HW queue also takes the next id for
//! its internal access object; a vDEVICE destroyed with its device leaves its id
//! tombstoned; a device attached to an IOAS joins the IOAS's first automatic
//! domain. `tests/kernel` checks these against Linux's selftest mock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::uapi::{self, selftest};
use super::{
    Backend, Error, HwInfo, HwInfoQuery, Kick, MappedRegion, MockDomain, ObjId, ObjectTypes, Op,
    Result, Selftest, VEvent, ViommuDataIn, ViommuDataOut,
};
use crate::vmm::{DeviceAttach, GuestMemory};

pub mod guest;
pub mod hw;

pub use guest::SimGuestRam;
pub use hw::{regs, HwCommand, HwInvalidation};
use hw::{Lvq, PageMem, RunOutcome};

/// The host a Tegra241 simulation reports and enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tegra241Host {
    /// CMDQV version (PARAM bits 3:0); Linux's uAPI reports 1 on Grace.
    pub version: u8,
    /// VINTFs of the CMDQV; VINTF 0 stays with the host kernel.
    pub num_vintfs: u16,
    /// Logical VCMDQs per VINTF (a power of two).
    pub lvcmdqs_per_vintf: u16,
    /// SID_MATCH/SID_REPLACE slots per VINTF (a power of two).
    pub sids_per_vintf: u16,
    /// SMMU IDR0..IDR5 (IDR1.CMDQS bounds the VCMDQ length).
    pub idr: [u32; 6],
    /// SMMU IIDR.
    pub iidr: u32,
    /// SMMU AIDR.
    pub aidr: u32,
}

impl Default for Tegra241Host {
    fn default() -> Self {
        // IDR0: S2P, S1P, TTF=AArch64, COHACC, ATS, ASID16, VMID16, 2-level tables.
        let idr0 =
            1 | (1 << 1) | (2 << 2) | (1 << 4) | (1 << 10) | (1 << 12) | (1 << 18) | (1 << 27);
        // IDR1: SIDSIZE=16, EVENTQS=19, CMDQS=19 (8 MiB VCMDQs at most).
        let idr1 = 16 | (19 << 16) | (19 << 21);
        Tegra241Host {
            version: 1,
            num_vintfs: 4,
            lvcmdqs_per_vintf: 2,
            sids_per_vintf: 16,
            idr: [idr0, idr1, 0, 0, 0, 0x75],
            iidr: 0x0000_043b,
            aidr: 0x2,
        }
    }
}

impl Tegra241Host {
    /// IDR1.CMDQS (bits 25:21): log2 of the largest command queue in entries.
    pub fn cmdqs(&self) -> u32 {
        (self.idr[1] >> 21) & 0x1f
    }
}

/// What the simulator models behind the iommufd core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimModel {
    /// ARM SMMUv3 with the Tegra241 CMDQV (a Grace host).
    Tegra241(Tegra241Host),
    /// The iommufd selftest mock driver (`CONFIG_IOMMUFD_TEST`).
    Selftest,
}

/// Simulator configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Object types the backend reports in [`Backend::types`].
    pub types: ObjectTypes,
    /// The modelled driver and hardware.
    pub model: SimModel,
    /// Host page size (alignment of IOAS maps, mmap offsets, pinning).
    pub page_size: u64,
}

impl SimConfig {
    /// A Grace host with the default [`Tegra241Host`].
    pub fn tegra241() -> Self {
        SimConfig {
            types: ObjectTypes::TEGRA241,
            model: SimModel::Tegra241(Tegra241Host::default()),
            page_size: 4096,
        }
    }

    /// The kernel's selftest mock on a 4 KiB-page kernel.
    pub fn selftest() -> Self {
        SimConfig {
            types: ObjectTypes::SELFTEST,
            model: SimModel::Selftest,
            page_size: 4096,
        }
    }
}

/// When an injected fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultWhen {
    /// The n-th matching call after injection (1-based).
    Nth(u64),
    /// Every matching call.
    Every,
}

/// An injected failure: matching calls fail with `errno` before changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The call to fail (`None`: any call).
    pub op: Option<Op>,
    /// Which calls.
    pub when: FaultWhen,
    /// The errno to return.
    pub errno: i32,
}

/// An invalidation the simulated kernel performed for `IOMMU_HWPT_INVALIDATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelInvalidation {
    /// An SMMUv3 command issued to the host SMMU, vSID already replaced by pSID.
    Smmuv3 {
        /// The vIOMMU.
        viommu: ObjId,
        /// The command words as issued.
        cmd: [u64; 2],
    },
    /// A selftest mock nested-domain IOTLB invalidation.
    SelftestIotlb {
        /// The nested HWPT.
        hwpt: ObjId,
        /// IOTLB entry (`None`: all).
        iotlb_id: Option<u32>,
    },
    /// A selftest mock cache invalidation.
    Selftest {
        /// The vIOMMU.
        viommu: ObjId,
        /// Virtual device id.
        vdev_id: u32,
        /// Cache entry (`None`: all).
        cache_id: Option<u32>,
    },
}

/// A snapshot of a simulated VINTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VintfSnapshot {
    /// Global VINTF index (never 0).
    pub index: u16,
    /// VINTF_CONFIG (EN, VMID, HYP_OWN).
    pub config: u32,
    /// VMID taken from the nesting parent.
    pub vmid: u16,
    /// SID_MATCH registers.
    pub sid_match: Vec<u32>,
    /// SID_REPLACE registers.
    pub sid_replace: Vec<u32>,
    /// The LVCMDQ error map.
    pub err_map: u128,
    /// Per logical VCMDQ: (HW queue id, base PA, log2 entries) when allocated.
    pub queues: Vec<Option<(ObjId, u64, u32)>>,
}

struct Area {
    iova: u64,
    len: u64,
    pins: u32,
}

struct Vintf {
    idx: u16,
    vmid: u16,
    config: u32,
    sid_match: Vec<u32>,
    sid_replace: Vec<u32>,
    lvq: Vec<Option<Lvq>>,
    err_map: u128,
    page: Arc<PageMem>,
}

struct ViommuObj {
    hwpt: ObjId,
    vtype: u32,
    mmap_offset: Option<u64>,
    vintf: Option<Vintf>,
    /// Selftest mock queues by index.
    mock_queues: Vec<Option<ObjId>>,
}

enum Obj {
    Ioas {
        areas: Vec<Area>,
    },
    Device {
        psid: u32,
        vdev: Option<ObjId>,
        attached: Option<ObjId>,
    },
    Stdev {
        idev: ObjId,
    },
    HwptPaging {
        ioas: ObjId,
        nest_parent: bool,
        vmid: u16,
        /// Created by attaching a device to an IOAS; dies with its last device.
        auto: bool,
        /// Creation order: the kernel keeps an IOAS's HWPTs in a list in
        /// creation order and reuses the first compatible automatic one.
        order: u64,
    },
    HwptNested {
        /// The vIOMMU it was allocated on (`None`: directly on a nesting parent).
        viommu: Option<ObjId>,
        /// The nesting parent, when allocated on one directly.
        parent: ObjId,
    },
    Viommu(ViommuObj),
    Vdevice {
        viommu: ObjId,
        idev: ObjId,
        virt_id: u64,
        sid_slot: Option<usize>,
    },
    HwQueue {
        viommu: ObjId,
        index: u32,
        prev: Option<ObjId>,
        pin: (ObjId, u64, u64),
        /// Id of the internal access object pinning the queue memory.
        access: ObjId,
    },
    Veventq {
        viommu: ObjId,
        vtype: u32,
        depth: u32,
        events: VecDeque<VEvent>,
        /// Sequence number of the next vEVENT (or lost-events marker).
        seq: u32,
        /// The lost-events marker queued after `events`, with its own
        /// sequence number (that of the latest lost event).
        lost: Option<u32>,
    },
}

struct MmapEntry {
    owner: ObjId,
    page: Arc<PageMem>,
    mapped: usize,
}

#[derive(Clone, Copy)]
struct FaultRule {
    fault: Fault,
    seen: u64,
}

/// An id taken in the kernel's object table without a user-visible object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reserved {
    /// The internal access object a HW queue pins its memory with; it holds
    /// an extra reference, so `IOMMU_DESTROY` on it is EBUSY.
    Access,
    /// What a vDEVICE destroyed with its device leaves: the id is never
    /// reused and destroying it is ENOENT.
    Tombstone,
}

#[derive(Default)]
struct State {
    objs: BTreeMap<ObjId, Obj>,
    /// Ids in use that are not keys of `objs`.
    reserved: BTreeMap<ObjId, Reserved>,
    /// Next HWPT creation order number.
    next_hwpt_order: u64,
    mmaps: BTreeMap<u64, MmapEntry>,
    vintf_used: Vec<bool>,
    next_vmid: u16,
    next_psid: u32,
    faults: Vec<FaultRule>,
    hw_log: Vec<HwInvalidation>,
    kernel_log: Vec<KernelInvalidation>,
}

impl State {
    /// The lowest free object id, as the kernel's allocating xarray (ids
    /// start at 1) gives it: ids of destroyed objects are reused, tombstones
    /// and internal access objects keep theirs. The caller must insert the
    /// object (or reserve the id) before allocating the next one.
    fn alloc_id(&mut self) -> ObjId {
        // The kernel's limit is 2^31 - 1 ids, far beyond what memory holds
        // here, so the search always ends.
        let mut id: ObjId = 1;
        while self.objs.contains_key(&id) || self.reserved.contains_key(&id) {
            id += 1;
        }
        id
    }

    /// The next HWPT creation order number.
    fn hwpt_order(&mut self) -> u64 {
        self.next_hwpt_order += 1;
        self.next_hwpt_order
    }
    fn viommu(&self, id: ObjId) -> Option<&ViommuObj> {
        match self.objs.get(&id) {
            Some(Obj::Viommu(v)) => Some(v),
            _ => None,
        }
    }
    fn viommu_mut(&mut self, id: ObjId) -> Option<&mut ViommuObj> {
        match self.objs.get_mut(&id) {
            Some(Obj::Viommu(v)) => Some(v),
            _ => None,
        }
    }
    fn is_device(&self, id: ObjId) -> bool {
        matches!(self.objs.get(&id), Some(Obj::Device { .. }))
    }

    /// Appends a vEVENT to `viommu`'s queue of `vtype`, as
    /// `iommufd_viommu_report_event` does (a full queue loses it).
    fn report(&mut self, viommu: ObjId, vtype: u32, data: Vec<u8>) -> std::result::Result<(), i32> {
        let q = self.objs.values_mut().find_map(|o| match o {
            Obj::Veventq {
                viommu: v,
                vtype: t,
                depth,
                events,
                seq,
                lost,
            } if *v == viommu && *t == vtype => Some((depth, events, seq, lost)),
            _ => None,
        });
        let (depth, events, seq, lost) = q.ok_or(libc::EOPNOTSUPP)?;
        // Every report takes a sequence number, a lost one included: a full
        // queue moves the lost-events marker to the tail under that number.
        if events.len() as u32 >= *depth {
            *lost = Some(*seq);
        } else {
            // The kernel drops a marker that is last in the list when a
            // vEVENT is queued behind it (the gap in sequence numbers shows
            // the loss); reads here drain the whole queue, so this only keeps
            // the model exact.
            *lost = None;
            events.push_back(VEvent {
                flags: 0,
                sequence: *seq,
                data,
            });
        }
        *seq = (*seq + 1) & 0x7fff_ffff;
        Ok(())
    }

    /// Unpins a HW queue's range from its IOAS.
    fn unpin(&mut self, pin: (ObjId, u64, u64)) {
        let (ioas, start, len) = pin;
        if let Some(Obj::Ioas { areas }) = self.objs.get_mut(&ioas) {
            for a in areas.iter_mut() {
                if a.iova < start + len && start < a.iova + a.len {
                    a.pins = a.pins.saturating_sub(1);
                }
            }
        }
    }
}

struct Shared {
    cfg: SimConfig,
    mem: Arc<dyn GuestMemory>,
    st: Mutex<State>,
}

/// The simulated backend. Cloning gives another handle to the same simulated
/// kernel (for tests that inspect it while handles use it).
#[derive(Clone)]
pub struct SimBackend {
    sh: Arc<Shared>,
}

/// A mapping of a simulated region.
struct SimMapping {
    sh: Arc<Shared>,
    offset: u64,
    page: Arc<PageMem>,
}

impl MappedRegion for SimMapping {
    fn len(&self) -> usize {
        self.page.len()
    }
    fn read32(&self, offset: usize) -> Option<u32> {
        self.page.read(offset)
    }
    fn write32(&self, offset: usize, value: u32) -> bool {
        self.page.write(offset, value)
    }
    fn host_ptr(&self) -> *mut u8 {
        self.page.ptr()
    }
}

impl Drop for SimMapping {
    fn drop(&mut self) {
        let mut st = self.sh.st.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.mmaps.get_mut(&self.offset) {
            e.mapped = e.mapped.saturating_sub(1);
        }
    }
}

fn e(op: Op, errno: i32) -> Error {
    Error::new(op, errno)
}

/// Validates a guest STE's two words as Linux's `arm_smmu_validate_vste` does.
fn validate_vste(ste: [u64; 2]) -> std::result::Result<(), i32> {
    const V: u64 = 1;
    const CFG_MASK: u64 = 0b111 << 1;
    // V, CFG, S1FMT, S1CTXPTR (51:6), S1CDMAX (63:59)
    const W0_ALLOWED: u64 = V | CFG_MASK | (0b11 << 4) | (((1u64 << 46) - 1) << 6) | (0x1f << 59);
    // S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS
    const W1_ALLOWED: u64 = 0xff | (1 << 27) | (0b11 << 28);
    if ste[0] & V == 0 {
        return Ok(());
    }
    let cfg = (ste[0] & CFG_MASK) >> 1;
    if !matches!(cfg, 0b000 | 0b100 | 0b101) {
        return Err(libc::EIO);
    }
    if ste[0] & !W0_ALLOWED != 0 || ste[1] & !W1_ALLOWED != 0 {
        return Err(libc::EIO);
    }
    if (ste[1] >> 28) & 0b11 > 1 {
        return Err(libc::EIO);
    }
    Ok(())
}

impl SimBackend {
    /// A simulated kernel over `mem`.
    pub fn new(cfg: SimConfig, mem: Arc<dyn GuestMemory>) -> Self {
        let vintfs = match &cfg.model {
            SimModel::Tegra241(h) => h.num_vintfs as usize,
            SimModel::Selftest => 0,
        };
        let mut vintf_used = vec![false; vintfs];
        if let Some(v0) = vintf_used.first_mut() {
            *v0 = true; // VINTF 0 belongs to the host kernel
        }
        let st = State {
            vintf_used,
            next_vmid: 1,
            next_psid: 0x100,
            ..Default::default()
        };
        SimBackend {
            sh: Arc::new(Shared {
                cfg,
                mem,
                st: Mutex::new(st),
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

    fn host(&self) -> Option<&Tegra241Host> {
        match &self.sh.cfg.model {
            SimModel::Tegra241(h) => Some(h),
            SimModel::Selftest => None,
        }
    }

    /// Consults the injected faults for a call of `op`.
    fn fault(st: &mut State, op: Op) -> Result<()> {
        for r in st.faults.iter_mut() {
            if r.fault.op.is_none_or(|o| o == op) {
                r.seen += 1;
                let fire = match r.fault.when {
                    FaultWhen::Every => true,
                    FaultWhen::Nth(n) => r.seen == n,
                };
                if fire {
                    return Err(e(op, r.fault.errno));
                }
            }
        }
        Ok(())
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(FaultRule { fault, seen: 0 });
    }

    /// Removes all injected faults.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Number of live kernel objects (IOAS, HWPTs, devices, vIOMMUs, vDEVICEs,
    /// HW queues, vEVENTQs); HW queues' internal access objects and tombstoned
    /// ids are not counted.
    pub fn live_objects(&self) -> usize {
        self.lock().objs.len()
    }

    /// Number of live mappings of simulated regions.
    pub fn live_mappings(&self) -> usize {
        self.lock().mmaps.values().map(|m| m.mapped).sum()
    }

    /// Binds a passthrough device with physical StreamID `psid` (what binding a
    /// VFIO cdev to iommufd gives a VMM); returns its `dev_id`.
    pub fn add_device(&self, psid: u32) -> ObjId {
        let mut st = self.lock();
        let id = st.alloc_id();
        st.objs.insert(
            id,
            Obj::Device {
                psid,
                vdev: None,
                attached: None,
            },
        );
        id
    }

    /// The VINTF behind a Tegra241 vIOMMU.
    pub fn vintf(&self, viommu: ObjId) -> Option<VintfSnapshot> {
        let st = self.lock();
        let v = st.viommu(viommu)?.vintf.as_ref()?;
        Some(VintfSnapshot {
            index: v.idx,
            config: v.config,
            vmid: v.vmid,
            sid_match: v.sid_match.clone(),
            sid_replace: v.sid_replace.clone(),
            err_map: v.err_map,
            queues: v
                .lvq
                .iter()
                .map(|q| q.map(|q| (q.hw_queue, q.base_pa, q.log2size)))
                .collect(),
        })
    }

    /// Commands the simulated VCMDQs executed, oldest first.
    pub fn hw_invalidations(&self) -> Vec<HwInvalidation> {
        self.lock().hw_log.clone()
    }

    /// Invalidations the simulated kernel performed for `IOMMU_HWPT_INVALIDATE`.
    pub fn kernel_invalidations(&self) -> Vec<KernelInvalidation> {
        self.lock().kernel_log.clone()
    }

    /// Whether the IOAS area holding `iova` is pinned by a HW queue.
    pub fn is_pinned(&self, ioas: ObjId, iova: u64) -> bool {
        match self.lock().objs.get(&ioas) {
            Some(Obj::Ioas { areas }) => areas
                .iter()
                .any(|a| a.pins > 0 && a.iova <= iova && iova < a.iova + a.len),
            _ => false,
        }
    }

    /// Tears a device out: its vDEVICE is forcibly destroyed (SID slot cleared)
    /// and its auto-domain HWPT goes with it.
    fn remove_device(st: &mut State, idev: ObjId) {
        let (vdev, auto) = match st.objs.get(&idev) {
            Some(Obj::Device { vdev, attached, .. }) => (*vdev, *attached),
            _ => return,
        };
        if let Some(vd) = vdev {
            Self::destroy_vdevice(st, vd);
            // The kernel leaves the id tombstoned: the VMM still holds it
            // and must not see it name another object.
            st.reserved.insert(vd, Reserved::Tombstone);
        }
        st.objs.remove(&idev);
        if let Some(h) = auto {
            Self::drop_auto_hwpt(st, h);
        }
    }

    /// Destroys an auto-domain HWPT once no device is attached to it.
    fn drop_auto_hwpt(st: &mut State, hwpt: ObjId) {
        let auto = matches!(st.objs.get(&hwpt), Some(Obj::HwptPaging { auto: true, .. }));
        let used = st
            .objs
            .values()
            .any(|o| matches!(o, Obj::Device { attached, .. } if *attached == Some(hwpt)));
        if auto && !used {
            st.objs.remove(&hwpt);
        }
    }

    /// Attaches (or re-attaches) device `idev` to `pt`: a paging HWPT, a nested
    /// HWPT whose vIOMMU has a vDEVICE for the device, or an IOAS (through an
    /// auto domain). Returns the HWPT the device is now attached to.
    fn attach(st: &mut State, idev: ObjId, pt: ObjId) -> std::result::Result<ObjId, i32> {
        let (vdev, old) = match st.objs.get(&idev) {
            Some(Obj::Device { vdev, attached, .. }) => (*vdev, *attached),
            _ => return Err(libc::ENOENT),
        };
        let target = match st.objs.get(&pt) {
            Some(Obj::HwptPaging { .. }) => pt,
            Some(Obj::HwptNested { viommu: None, .. }) => pt,
            Some(Obj::HwptNested {
                viommu: Some(viommu),
                ..
            }) => {
                let bound = vdev.is_some_and(|v| {
                    matches!(st.objs.get(&v), Some(Obj::Vdevice { viommu: x, .. }) if x == viommu)
                });
                if !bound {
                    // A nested domain on a vIOMMU needs the device's vDEVICE there.
                    return Err(libc::ENOENT);
                }
                pt
            }
            Some(Obj::Ioas { .. }) => {
                // The first automatic domain of the IOAS, in creation order,
                // takes the device (one simulated IOMMU: every automatic domain
                // is compatible); only without one is a new domain made.
                let existing = st
                    .objs
                    .iter()
                    .filter_map(|(id, o)| match o {
                        Obj::HwptPaging {
                            ioas,
                            auto: true,
                            order,
                            ..
                        } if *ioas == pt => Some((*order, *id)),
                        _ => None,
                    })
                    .min()
                    .map(|(_, id)| id);
                match existing {
                    Some(id) => id,
                    None => {
                        let id = st.alloc_id();
                        let order = st.hwpt_order();
                        st.objs.insert(
                            id,
                            Obj::HwptPaging {
                                ioas: pt,
                                nest_parent: false,
                                vmid: 0,
                                auto: true,
                                order,
                            },
                        );
                        id
                    }
                }
            }
            // The internal access object of a HW queue: not a page table.
            None if st.reserved.get(&pt) == Some(&Reserved::Access) => return Err(libc::EINVAL),
            Some(_) => return Err(libc::EINVAL),
            None => return Err(libc::ENOENT),
        };
        if let Some(Obj::Device { attached, .. }) = st.objs.get_mut(&idev) {
            *attached = Some(target);
        }
        if let Some(o) = old.filter(|o| *o != target) {
            Self::drop_auto_hwpt(st, o);
        }
        Ok(target)
    }

    /// Attaches a device to a HWPT (what `VFIO_DEVICE_ATTACH_IOMMUFD_PT` does
    /// for a VFIO device), with the rules of [`Selftest::mock_domain_replace`].
    pub fn attach_device(&self, dev_id: ObjId, pt: ObjId) -> Result<()> {
        let mut st = self.lock();
        Self::attach(&mut st, dev_id, pt)
            .map(|_| ())
            .map_err(|x| e(Op::VfioAttach, x))
    }

    /// Detaches a device from whatever it is attached to (what
    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT` does for a VFIO device).
    pub fn detach_device(&self, dev_id: ObjId) -> Result<()> {
        let mut st = self.lock();
        let old = match st.objs.get_mut(&dev_id) {
            Some(Obj::Device { attached, .. }) => attached.take(),
            _ => return Err(e(Op::VfioDetach, libc::ENOENT)),
        };
        if let Some(o) = old {
            Self::drop_auto_hwpt(&mut st, o);
        }
        Ok(())
    }

    /// The SMMU writes `record` (a 32-byte event record, StreamID in bits
    /// 63:32 of word 0) to the host's event queue, and the host kernel's
    /// event handler forwards it to user space the way Linux's arm-smmu-v3
    /// driver does (`arm_smmu_handle_event`, `arm_vmaster_report_event`,
    /// `iommufd_viommu_report_event`):
    ///
    /// * only C_BAD_STE, F_STREAM_DISABLED, C_BAD_SUBSTREAMID, C_BAD_CD,
    ///   F_TRANSLATION, F_ADDR_SIZE, F_ACCESS and F_PERMISSION are handled;
    /// * the StreamID names the device (no bound device has it: `EINVAL`);
    /// * a record with STALL (word 1 bit 31) goes to the I/O page fault path,
    ///   which this model lacks, and one with S2 (word 1 bit 39) is the
    ///   host's own stage-2 fault: neither reaches the vIOMMU;
    /// * the device must be attached to a nested HWPT of a vIOMMU on which it
    ///   has its vDEVICE (the kernel's per-device "vmaster", set at that
    ///   attach); the record then goes to that vIOMMU's
    ///   `IOMMU_VEVENTQ_TYPE_ARM_SMMUV3` vEVENTQ with the StreamID replaced by
    ///   the vDEVICE's virtual id, all other bits unchanged;
    /// * a full vEVENTQ loses the record behind its lost-events marker, as
    ///   for every vEVENTQ type (still `Ok`).
    ///
    /// A record that is not forwarded is dropped: the kernel only logs it
    /// (rate-limited) and user space never learns of it. The error says why,
    /// for tests: `EOPNOTSUPP` for an unhandled event id, a stall or stage-2
    /// record, a device without that attachment, or a vIOMMU without an SMMUv3
    /// vEVENTQ (and always on the selftest model, which has no SMMU);
    /// `EINVAL` for an unknown StreamID.
    pub fn report_smmu_event(&self, record: [u64; 4]) -> Result<()> {
        use smmuv3_regs::enums::EventId;
        use smmuv3_regs::structs::{EvtTranslationFault as Evt, Words};
        let op = Op::SmmuEvent;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if self.host().is_none() {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let evt = Evt(record);
        let handled = [
            EventId::C_BAD_STE,
            EventId::F_STREAM_DISABLED,
            EventId::C_BAD_SUBSTREAMID,
            EventId::C_BAD_CD,
            EventId::F_TRANSLATION,
            EventId::F_ADDR_SIZE,
            EventId::F_ACCESS,
            EventId::F_PERMISSION,
        ];
        let id = evt.get(Evt::EVENT_ID);
        if !handled.iter().any(|h| *h as u64 == id) {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let psid = evt.get(Evt::SID) as u32;
        let dev = st.objs.values().find_map(|o| match o {
            Obj::Device {
                psid: p,
                vdev,
                attached,
            } if *p == psid => Some((*vdev, *attached)),
            _ => None,
        });
        let (vdev, attached) = dev.ok_or(e(op, libc::EINVAL))?;
        // The kernel reads STALL and S2 from word 1 whatever the event id.
        if evt.get(Evt::STALL) != 0 || evt.get(Evt::S2) != 0 {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let nested_viommu = match attached.and_then(|a| st.objs.get(&a)) {
            Some(Obj::HwptNested {
                viommu: Some(v), ..
            }) => *v,
            _ => return Err(e(op, libc::EOPNOTSUPP)),
        };
        let (viommu, virt_id) = match vdev.and_then(|v| st.objs.get(&v)) {
            Some(Obj::Vdevice {
                viommu, virt_id, ..
            }) if *viommu == nested_viommu => (*viommu, *virt_id),
            _ => return Err(e(op, libc::EOPNOTSUPP)),
        };
        // The virtual id fills the 32-bit StreamID field.
        let out = evt.with(Evt::SID, virt_id);
        let data = out.0.iter().flat_map(|w| w.to_le_bytes()).collect();
        st.report(viommu, uapi::VEVENTQ_TYPE_ARM_SMMUV3, data)
            .map_err(|x| e(op, x))
    }

    fn destroy_vdevice(st: &mut State, id: ObjId) {
        if let Some(Obj::Vdevice {
            viommu,
            idev,
            sid_slot,
            ..
        }) = st.objs.remove(&id)
        {
            if let (Some(slot), Some(v)) = (sid_slot, st.viommu_mut(viommu)) {
                if let Some(vi) = v.vintf.as_mut() {
                    vi.sid_match[slot] = 0;
                    vi.sid_replace[slot] = 0;
                }
            }
            if let Some(Obj::Device { vdev, .. }) = st.objs.get_mut(&idev) {
                *vdev = None;
            }
        }
    }

    fn users(st: &State, id: ObjId) -> bool {
        let in_use = st.objs.values().any(|o| match o {
            Obj::HwptPaging { ioas, .. } => *ioas == id,
            Obj::Viommu(v) => v.hwpt == id,
            Obj::HwptNested {
                viommu: Some(viommu),
                ..
            } => *viommu == id,
            Obj::HwptNested {
                viommu: None,
                parent,
            } => *parent == id,
            Obj::Vdevice { viommu, .. } | Obj::Veventq { viommu, .. } => *viommu == id,
            Obj::HwQueue { viommu, prev, .. } => *viommu == id || *prev == Some(id),
            Obj::Device { attached, .. } => *attached == Some(id),
            _ => false,
        });
        in_use || st.mmaps.values().any(|m| m.owner == id && m.mapped > 0)
    }

    /// Publishes a region for mmap at the lowest free offset it fits in,
    /// from the second page on, as the kernel's range-allocating maple tree
    /// does (offsets of destroyed regions are reused).
    fn alloc_mmap(&self, st: &mut State, owner: ObjId, len: usize) -> (u64, Arc<PageMem>) {
        let ps = self.sh.cfg.page_size;
        let span = |l: usize| (l as u64).div_ceil(ps) * ps;
        let mut off = ps;
        for (start, m) in &st.mmaps {
            if off + span(len) <= *start {
                break;
            }
            off = off.max(start + span(m.page.len()));
        }
        let page = Arc::new(PageMem::new(len));
        st.mmaps.insert(
            off,
            MmapEntry {
                owner,
                page: page.clone(),
                mapped: 0,
            },
        );
        (off, page)
    }

    /// Pins `[iova, iova + length)` of `ioas` for a HW queue: every page mapped
    /// (ENOENT) and physically contiguous (EFAULT). Returns the base PA and the pin.
    fn pin(
        &self,
        st: &mut State,
        ioas: ObjId,
        iova: u64,
        length: u64,
    ) -> std::result::Result<(u64, (ObjId, u64, u64)), i32> {
        let ps = self.sh.cfg.page_size;
        let start = iova & !(ps - 1);
        let offset = iova - start;
        let span = offset
            .checked_add(length)
            .and_then(|l| l.checked_add(ps - 1))
            .ok_or(libc::ERANGE)?
            / ps
            * ps;
        let Some(Obj::Ioas { areas }) = st.objs.get_mut(&ioas) else {
            return Err(libc::ENOENT);
        };
        let npages = span / ps;
        let mut prev_pa = None;
        let mut base_pa = 0;
        // First every page must be mapped (the pin), then contiguous.
        for i in 0..npages {
            let p = start + i * ps;
            if !areas.iter().any(|a| a.iova <= p && p - a.iova < a.len) {
                return Err(libc::ENOENT);
            }
        }
        for i in 0..npages {
            let p = start + i * ps;
            let pa = self.sh.mem.host_phys(p).ok_or(libc::EFAULT)?;
            match prev_pa {
                Some(q) if pa != q + ps => return Err(libc::EFAULT),
                None => base_pa = pa,
                _ => {}
            }
            prev_pa = Some(pa);
        }
        for a in areas.iter_mut() {
            if a.iova < start + span && start < a.iova + a.len {
                a.pins += 1;
            }
        }
        Ok((base_pa + offset, (ioas, start, span)))
    }

    fn hw_queue_checks(
        &self,
        st: &mut State,
        viommu: ObjId,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> std::result::Result<ObjId, i32> {
        if queue_type == 0 {
            return Err(libc::EOPNOTSUPP);
        }
        if length == 0 {
            return Err(libc::EINVAL);
        }
        iova.checked_add(length - 1).ok_or(libc::EOVERFLOW)?;
        let v = st.viommu(viommu).ok_or(libc::ENOENT)?;
        let supported = match v.vtype {
            uapi::VIOMMU_TYPE_TEGRA241_CMDQV => queue_type == uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV,
            selftest::VIOMMU_TYPE_SELFTEST => queue_type == selftest::HW_QUEUE_TYPE_SELFTEST,
            _ => false,
        };
        if !supported {
            return Err(libc::EOPNOTSUPP);
        }
        let ioas = match st.objs.get(&v.hwpt) {
            Some(Obj::HwptPaging { ioas, .. }) => *ioas,
            _ => return Err(libc::ENOENT),
        };
        let (base_pa, pin) = self.pin(st, ioas, iova, length)?;
        // From here on a failure must unpin.
        let driver = self.hw_queue_driver(st, viommu, index, base_pa, length);
        let (prev, lvq_log2) = match driver {
            Ok(x) => x,
            Err(errno) => {
                st.unpin(pin);
                return Err(errno);
            }
        };
        // The queue's id, then its internal access object's id (the kernel
        // allocates the object first, then the access that pins its memory).
        let id = st.alloc_id();
        st.objs.insert(
            id,
            Obj::HwQueue {
                viommu,
                index,
                prev,
                pin,
                access: 0,
            },
        );
        let access_id = st.alloc_id();
        st.reserved.insert(access_id, Reserved::Access);
        if let Some(Obj::HwQueue { access, .. }) = st.objs.get_mut(&id) {
            *access = access_id;
        }
        let v = st.viommu_mut(viommu).ok_or(libc::ENOENT)?;
        if let (Some(vi), Some(log2size)) = (v.vintf.as_mut(), lvq_log2) {
            vi.lvq[index as usize] = Some(Lvq {
                hw_queue: id,
                base_pa,
                base_gpa: iova,
                log2size,
            });
        } else if let Some(slot) = v.mock_queues.get_mut(index as usize) {
            *slot = Some(id);
        }
        Ok(id)
    }

    /// The driver half of HW_QUEUE_ALLOC: index and order rules, and for Tegra241
    /// the length and alignment rules. Returns the previous queue (the destroy
    /// dependency) and, for Tegra241, log2 of the entries.
    fn hw_queue_driver(
        &self,
        st: &State,
        viommu: ObjId,
        index: u32,
        base_pa: u64,
        length: u64,
    ) -> std::result::Result<(Option<ObjId>, Option<u32>), i32> {
        let v = st.viommu(viommu).ok_or(libc::ENOENT)?;
        match (&v.vintf, self.host()) {
            (Some(vi), Some(h)) => {
                let i = index as usize;
                if i >= vi.lvq.len() {
                    return Err(libc::EINVAL);
                }
                if vi.lvq[i].is_some() {
                    return Err(libc::EEXIST);
                }
                let prev = if i > 0 {
                    Some(vi.lvq[i - 1].ok_or(libc::EIO)?.hw_queue)
                } else {
                    None
                };
                let max = 1u64 << (h.cmdqs() + 4);
                if !length.is_power_of_two() || length < 32 || length > max {
                    return Err(libc::EINVAL);
                }
                if base_pa & !regs::VCMDQ_ADDR_MASK != 0 || base_pa & (length - 1) != 0 {
                    return Err(libc::EINVAL);
                }
                Ok((prev, Some(length.trailing_zeros() - 4)))
            }
            _ => {
                let i = index as usize;
                if index >= selftest::HW_QUEUE_MAX || i >= v.mock_queues.len() {
                    return Err(libc::EINVAL);
                }
                if v.mock_queues[i].is_some() {
                    return Err(libc::EEXIST);
                }
                let prev = if i > 0 {
                    Some(v.mock_queues[i - 1].ok_or(libc::EIO)?)
                } else {
                    None
                };
                Ok((prev, None))
            }
        }
    }

    /// `IOMMU_HWPT_INVALIDATE` on a nested HWPT: the mock's IOTLB entries; an
    /// SMMUv3 nested domain has no user invalidation (EOPNOTSUPP).
    fn invalidate_nested(
        &self,
        st: &mut State,
        hwpt: ObjId,
        data_type: u32,
        entry_len: u32,
        entries: &[u8],
    ) -> Result<u32> {
        let op = Op::HwptInvalidate;
        if self.host().is_some() {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        if data_type != selftest::HWPT_INVALIDATE_DATA_SELFTEST {
            return Err(e(op, libc::EINVAL));
        }
        if entries.is_empty() {
            return Ok(0);
        }
        if entry_len < 8 || !entries.len().is_multiple_of(entry_len as usize) {
            return Err(e(op, libc::EINVAL));
        }
        let mut done = 0;
        for c in entries.chunks(entry_len as usize) {
            let flags = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let iotlb_id = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            let errno = if flags & !selftest::INVALIDATE_FLAG_ALL != 0 {
                libc::EOPNOTSUPP
            } else if iotlb_id > selftest::NESTED_IOTLB_ID_MAX {
                libc::EINVAL
            } else {
                st.kernel_log.push(KernelInvalidation::SelftestIotlb {
                    hwpt,
                    iotlb_id: (flags & selftest::INVALIDATE_FLAG_ALL == 0).then_some(iotlb_id),
                });
                done += 1;
                continue;
            };
            return Err(Error {
                op,
                errno,
                handled: Some(done),
            });
        }
        Ok(done)
    }

    fn viommu_driver_init(
        &self,
        st: &mut State,
        id: ObjId,
        viommu_type: u32,
        vmid: u16,
        data: ViommuDataIn,
    ) -> std::result::Result<(ViommuObj, ViommuDataOut), i32> {
        let mut obj = ViommuObj {
            hwpt: 0,
            vtype: viommu_type,
            mmap_offset: None,
            vintf: None,
            mock_queues: Vec::new(),
        };
        let mut out = ViommuDataOut {
            viommu_id: id,
            ..Default::default()
        };
        match (viommu_type, self.host()) {
            (uapi::VIOMMU_TYPE_TEGRA241_CMDQV, Some(h)) => {
                if data != ViommuDataIn::Tegra241 {
                    return Err(libc::EINVAL);
                }
                let idx = st.vintf_used.iter().position(|u| !u).ok_or(libc::ENOSPC)?;
                let (off, page) = self.alloc_mmap(st, id, regs::VINTF_PAGE0_SIZE);
                st.vintf_used[idx] = true;
                obj.vintf = Some(Vintf {
                    idx: idx as u16,
                    vmid,
                    // HYP_OWN forced to 0: a guest-owned VINTF.
                    config: ((vmid as u32) << regs::VINTF_VMID_SHIFT) | regs::VINTF_EN,
                    sid_match: vec![0; h.sids_per_vintf as usize],
                    sid_replace: vec![0; h.sids_per_vintf as usize],
                    lvq: vec![None; h.lvcmdqs_per_vintf as usize],
                    err_map: 0,
                    page,
                });
                obj.mmap_offset = Some(off);
                out.mmap_offset = off;
                out.mmap_length = regs::VINTF_PAGE0_SIZE as u64;
            }
            (uapi::VIOMMU_TYPE_ARM_SMMUV3, Some(_)) => {}
            (selftest::VIOMMU_TYPE_SELFTEST, None) => {
                obj.mock_queues = vec![None; selftest::HW_QUEUE_MAX as usize];
                if let ViommuDataIn::Selftest { in_data } = data {
                    let len = (selftest::MMAP_PAGES * self.sh.cfg.page_size) as usize;
                    let (off, page) = self.alloc_mmap(st, id, len);
                    page.write(0, in_data);
                    obj.mmap_offset = Some(off);
                    out.mmap_offset = off;
                    out.mmap_length = len as u64;
                    out.out_data = Some(in_data);
                }
            }
            _ => return Err(libc::EOPNOTSUPP),
        }
        Ok((obj, out))
    }
}

impl Backend for SimBackend {
    fn types(&self) -> &ObjectTypes {
        &self.sh.cfg.types
    }

    fn get_hw_info(&self, dev_id: ObjId, query: HwInfoQuery) -> Result<HwInfo> {
        let op = Op::GetHwInfo;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if !st.is_device(dev_id) {
            return Err(e(op, libc::ENOENT));
        }
        let t = match query {
            HwInfoQuery::Default => 0,
            HwInfoQuery::Type(t) => t,
        };
        let mut data = Vec::new();
        let data_type = match self.host() {
            Some(h) => match t {
                0 | uapi::HW_INFO_TYPE_ARM_SMMUV3 => {
                    data.extend_from_slice(&[0u8; 8]);
                    for r in h.idr {
                        data.extend_from_slice(&r.to_le_bytes());
                    }
                    data.extend_from_slice(&h.iidr.to_le_bytes());
                    data.extend_from_slice(&h.aidr.to_le_bytes());
                    uapi::HW_INFO_TYPE_ARM_SMMUV3
                }
                uapi::HW_INFO_TYPE_TEGRA241_CMDQV => {
                    data.extend_from_slice(&[0u8; 4]);
                    data.push(h.version);
                    data.push(h.lvcmdqs_per_vintf.trailing_zeros() as u8);
                    data.push(h.sids_per_vintf.trailing_zeros() as u8);
                    data.push(0);
                    uapi::HW_INFO_TYPE_TEGRA241_CMDQV
                }
                _ => return Err(e(op, libc::EOPNOTSUPP)),
            },
            None => match t {
                0 | selftest::HW_INFO_TYPE_SELFTEST => {
                    data.extend_from_slice(&0u32.to_le_bytes());
                    data.extend_from_slice(&selftest::HW_INFO_SELFTEST_REGVAL.to_le_bytes());
                    selftest::HW_INFO_TYPE_SELFTEST
                }
                _ => return Err(e(op, libc::EOPNOTSUPP)),
            },
        };
        Ok(HwInfo {
            data_type,
            data,
            capabilities: 0,
            max_pasid_log2: 0,
        })
    }

    fn ioas_alloc(&self) -> Result<ObjId> {
        let mut st = self.lock();
        Self::fault(&mut st, Op::IoasAlloc)?;
        let id = st.alloc_id();
        st.objs.insert(id, Obj::Ioas { areas: Vec::new() });
        Ok(id)
    }

    fn ioas_map(&self, ioas: ObjId, iova: u64, length: u64, _user_va: u64) -> Result<()> {
        let op = Op::IoasMap;
        let ps = self.sh.cfg.page_size;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if length == 0 || !iova.is_multiple_of(ps) || !length.is_multiple_of(ps) {
            return Err(e(op, libc::EINVAL));
        }
        let end = iova.checked_add(length).ok_or(e(op, libc::EOVERFLOW))?;
        let mem = self.sh.mem.clone();
        let Some(Obj::Ioas { areas }) = st.objs.get_mut(&ioas) else {
            return Err(e(op, libc::ENOENT));
        };
        if areas.iter().any(|a| a.iova < end && iova < a.iova + a.len) {
            return Err(e(op, libc::EEXIST));
        }
        // The user memory behind the IOVA must exist, as get_user_pages needs.
        let mut p = iova;
        while p < end {
            if mem.host_phys(p).is_none() {
                return Err(e(op, libc::EFAULT));
            }
            p += ps;
        }
        areas.push(Area {
            iova,
            len: length,
            pins: 0,
        });
        Ok(())
    }

    fn ioas_unmap(&self, ioas: ObjId, iova: u64, length: u64) -> Result<()> {
        let op = Op::IoasUnmap;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        let Some(Obj::Ioas { areas }) = st.objs.get_mut(&ioas) else {
            return Err(e(op, libc::ENOENT));
        };
        let end = iova.checked_add(length).ok_or(e(op, libc::EOVERFLOW))?;
        let mut hit = false;
        for a in areas
            .iter()
            .filter(|a| a.iova < end && iova < a.iova + a.len)
        {
            hit = true;
            if a.pins > 0 {
                return Err(e(op, libc::EBUSY));
            }
            if a.iova < iova || a.iova + a.len > end {
                return Err(e(op, libc::ENOENT));
            }
        }
        if !hit {
            return Err(e(op, libc::ENOENT));
        }
        areas.retain(|a| !(a.iova < end && iova < a.iova + a.len));
        Ok(())
    }

    fn hwpt_alloc_nest_parent(&self, dev_id: ObjId, ioas: ObjId) -> Result<ObjId> {
        let op = Op::HwptAlloc;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if !st.is_device(dev_id) {
            return Err(e(op, libc::ENOENT));
        }
        match st.objs.get(&ioas) {
            Some(Obj::Ioas { .. }) => {}
            // A HWPT as pt_id asks for a nested one, which needs data: EINVAL;
            // any other object cannot hold a page table either, and the core
            // answers EINVAL for an id naming no object too.
            Some(_) | None => return Err(e(op, libc::EINVAL)),
        }
        let vmid = st.next_vmid;
        st.next_vmid = st.next_vmid.wrapping_add(1).max(1);
        let id = st.alloc_id();
        let order = st.hwpt_order();
        st.objs.insert(
            id,
            Obj::HwptPaging {
                ioas,
                nest_parent: true,
                vmid,
                auto: false,
                order,
            },
        );
        Ok(id)
    }

    fn hwpt_alloc_nested(
        &self,
        dev_id: ObjId,
        pt: ObjId,
        data_type: u32,
        data: &[u8],
    ) -> Result<ObjId> {
        let op = Op::HwptAlloc;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if !st.is_device(dev_id) {
            return Err(e(op, libc::ENOENT));
        }
        // The core dispatches on what pt_id names.
        let (viommu, parent) = match st.objs.get(&pt) {
            // The core answers EINVAL for an id naming no object.
            None => return Err(e(op, libc::EINVAL)),
            Some(Obj::Viommu(v)) => (Some(pt), v.hwpt),
            Some(Obj::HwptPaging {
                nest_parent: true, ..
            }) => (None, pt),
            // A paging request carrying driver data: no driver here takes it.
            Some(Obj::Ioas { .. }) => return Err(e(op, libc::EOPNOTSUPP)),
            Some(_) => return Err(e(op, libc::EINVAL)),
        };
        if data_type == 0 {
            return Err(e(op, libc::EINVAL));
        }
        match self.host() {
            None => {
                if data_type != selftest::HWPT_DATA_SELFTEST {
                    return Err(e(op, libc::EOPNOTSUPP));
                }
                if data.len() < 4 {
                    return Err(e(op, libc::EINVAL));
                }
            }
            Some(_) => {
                // ARM SMMUv3 nests only through a vIOMMU.
                if viommu.is_none() || data_type != uapi::HWPT_DATA_ARM_SMMUV3 {
                    return Err(e(op, libc::EOPNOTSUPP));
                }
                if data.len() < 16 {
                    return Err(e(op, libc::EINVAL));
                }
                let w = |i: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&data[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(b)
                };
                validate_vste([w(0), w(1)]).map_err(|x| e(op, x))?;
            }
        }
        let id = st.alloc_id();
        st.objs.insert(id, Obj::HwptNested { viommu, parent });
        Ok(id)
    }

    fn viommu_alloc(
        &self,
        dev_id: ObjId,
        hwpt: ObjId,
        viommu_type: u32,
        data: ViommuDataIn,
    ) -> Result<ViommuDataOut> {
        let op = Op::ViommuAlloc;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if viommu_type == 0 {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        if !st.is_device(dev_id) {
            return Err(e(op, libc::ENOENT));
        }
        let supported = match self.host() {
            Some(_) => matches!(
                viommu_type,
                uapi::VIOMMU_TYPE_ARM_SMMUV3 | uapi::VIOMMU_TYPE_TEGRA241_CMDQV
            ),
            None => viommu_type == selftest::VIOMMU_TYPE_SELFTEST,
        };
        if !supported {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        let vmid = match st.objs.get(&hwpt) {
            Some(Obj::HwptPaging {
                nest_parent: true,
                vmid,
                ..
            }) => *vmid,
            Some(Obj::HwptPaging { .. }) => return Err(e(op, libc::EINVAL)),
            _ => return Err(e(op, libc::ENOENT)),
        };
        let id = st.alloc_id();
        let (mut obj, out) = match self.viommu_driver_init(&mut st, id, viommu_type, vmid, data) {
            Ok(x) => x,
            // The id was never published: it is free again (nothing was
            // inserted under it).
            Err(x) => return Err(e(op, x)),
        };
        obj.hwpt = hwpt;
        st.objs.insert(id, Obj::Viommu(obj));
        Ok(out)
    }

    fn vdevice_alloc(&self, viommu: ObjId, dev_id: ObjId, virt_id: u64) -> Result<ObjId> {
        let op = Op::VdeviceAlloc;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if st.viommu(viommu).is_none() {
            return Err(e(op, libc::ENOENT));
        }
        let (psid, has_vdev) = match st.objs.get(&dev_id) {
            Some(Obj::Device { psid, vdev, .. }) => (*psid, vdev.is_some()),
            _ => return Err(e(op, libc::ENOENT)),
        };
        if has_vdev {
            return Err(e(op, libc::EEXIST));
        }
        let dup = st.objs.values().any(|o| {
            matches!(o, Obj::Vdevice { viommu: v, virt_id: x, .. } if *v == viommu && *x == virt_id)
        });
        if dup {
            return Err(e(op, libc::EEXIST));
        }
        let mut sid_slot = None;
        if let Some(vi) = st.viommu_mut(viommu).and_then(|v| v.vintf.as_mut()) {
            if virt_id > u32::MAX as u64 {
                return Err(e(op, libc::EINVAL));
            }
            // The lowest free SID_MATCH/SID_REPLACE pair.
            let slot = vi
                .sid_match
                .iter()
                .position(|m| m & 1 == 0)
                .ok_or(e(op, libc::ENOSPC))?;
            vi.sid_replace[slot] = psid;
            vi.sid_match[slot] = ((virt_id as u32) << 1) | 1;
            sid_slot = Some(slot);
        }
        let id = st.alloc_id();
        st.objs.insert(
            id,
            Obj::Vdevice {
                viommu,
                idev: dev_id,
                virt_id,
                sid_slot,
            },
        );
        if let Some(Obj::Device { vdev, .. }) = st.objs.get_mut(&dev_id) {
            *vdev = Some(id);
        }
        Ok(id)
    }

    fn hw_queue_alloc(
        &self,
        viommu: ObjId,
        queue_type: u32,
        index: u32,
        iova: u64,
        length: u64,
    ) -> Result<ObjId> {
        let op = Op::HwQueueAlloc;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        self.hw_queue_checks(&mut st, viommu, queue_type, index, iova, length)
            .map_err(|x| e(op, x))
    }

    fn invalidate(&self, id: ObjId, data_type: u32, entry_len: u32, entries: &[u8]) -> Result<u32> {
        let op = Op::HwptInvalidate;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        let vtype = match st.objs.get(&id) {
            Some(Obj::Viommu(v)) => v.vtype,
            Some(Obj::HwptNested { .. }) => {
                return self.invalidate_nested(&mut st, id, data_type, entry_len, entries);
            }
            Some(_) => return Err(e(op, libc::EINVAL)),
            // An internal access object is an object, of the wrong type.
            None if st.reserved.get(&id) == Some(&Reserved::Access) => {
                return Err(e(op, libc::EINVAL))
            }
            None => return Err(e(op, libc::ENOENT)),
        };
        let selftest_type = vtype == selftest::VIOMMU_TYPE_SELFTEST;
        let (want_type, min_len) = if selftest_type {
            (selftest::VIOMMU_INVALIDATE_DATA_SELFTEST, 12)
        } else {
            (uapi::VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16)
        };
        if data_type != want_type {
            return Err(e(op, libc::EINVAL));
        }
        if entries.is_empty() {
            return Ok(0);
        }
        if entry_len < min_len || !entries.len().is_multiple_of(entry_len as usize) {
            return Err(e(op, libc::EINVAL));
        }
        let vsid_to_psid = |st: &State, vsid: u64| {
            st.objs.values().find_map(|o| match o {
                Obj::Vdevice {
                    viommu,
                    idev,
                    virt_id,
                    ..
                } if *viommu == id && *virt_id == vsid => match st.objs.get(idev) {
                    Some(Obj::Device { psid, .. }) => Some(*psid),
                    _ => None,
                },
                _ => None,
            })
        };
        let mut done = 0u32;
        for chunk in entries.chunks(entry_len as usize) {
            let w = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&chunk[i * 8..i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            let u = |i: usize| {
                u32::from_le_bytes([
                    chunk[i * 4],
                    chunk[i * 4 + 1],
                    chunk[i * 4 + 2],
                    chunk[i * 4 + 3],
                ])
            };
            let result = if selftest_type {
                let (flags, vdev_id, cache_id) = (u(0), u(1), u(2));
                if flags & !selftest::INVALIDATE_FLAG_ALL != 0 {
                    Err(libc::EOPNOTSUPP)
                } else if cache_id > selftest::DEV_CACHE_ID_MAX
                    || vsid_to_psid(&st, vdev_id as u64).is_none()
                {
                    Err(libc::EINVAL)
                } else {
                    Ok(KernelInvalidation::Selftest {
                        viommu: id,
                        vdev_id,
                        cache_id: (flags & selftest::INVALIDATE_FLAG_ALL == 0).then_some(cache_id),
                    })
                }
            } else {
                let mut cmd = [w(0), w(1)];
                use hw::opcode as o;
                match (cmd[0] & 0xff) as u8 {
                    o::TLBI_NSNH_ALL
                    | o::TLBI_NH_VA
                    | o::TLBI_NH_VAA
                    | o::TLBI_NH_ALL
                    | o::TLBI_NH_ASID => Ok(KernelInvalidation::Smmuv3 { viommu: id, cmd }),
                    o::ATC_INV | o::CFGI_CD | o::CFGI_CD_ALL => {
                        match vsid_to_psid(&st, cmd[0] >> 32) {
                            Some(psid) => {
                                cmd[0] = (cmd[0] & 0xffff_ffff) | ((psid as u64) << 32);
                                Ok(KernelInvalidation::Smmuv3 { viommu: id, cmd })
                            }
                            None => Err(libc::EIO),
                        }
                    }
                    _ => Err(libc::EIO),
                }
            };
            match result {
                Ok(k) => {
                    st.kernel_log.push(k);
                    done += 1;
                }
                Err(x) => {
                    return Err(Error {
                        op,
                        errno: x,
                        handled: Some(done),
                    })
                }
            }
        }
        Ok(done)
    }

    fn veventq_alloc(&self, viommu: ObjId, veventq_type: u32, depth: u32) -> Result<ObjId> {
        let op = Op::VeventqAlloc;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if veventq_type == 0 {
            return Err(e(op, libc::EOPNOTSUPP));
        }
        if depth == 0 || depth > uapi::VEVENTQ_MAX_DEPTH {
            return Err(e(op, libc::EINVAL));
        }
        if st.viommu(viommu).is_none() {
            return Err(e(op, libc::ENOENT));
        }
        let dup = st
            .objs
            .values()
            .any(|o| matches!(o, Obj::Veventq { viommu: v, vtype, .. } if *v == viommu && *vtype == veventq_type));
        if dup {
            return Err(e(op, libc::EEXIST));
        }
        let id = st.alloc_id();
        st.objs.insert(
            id,
            Obj::Veventq {
                viommu,
                vtype: veventq_type,
                depth,
                events: VecDeque::new(),
                seq: 0,
                lost: None,
            },
        );
        Ok(id)
    }

    fn veventq_read(&self, veventq: ObjId) -> Result<Vec<VEvent>> {
        let op = Op::VeventqRead;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        let Some(Obj::Veventq { events, lost, .. }) = st.objs.get_mut(&veventq) else {
            return Err(e(op, libc::ENOENT));
        };
        let mut out: Vec<VEvent> = events.drain(..).collect();
        if let Some(sequence) = lost.take() {
            out.push(VEvent {
                flags: uapi::VEVENTQ_FLAG_LOST_EVENTS,
                sequence,
                data: Vec::new(),
            });
        }
        Ok(out)
    }

    fn destroy(&self, id: ObjId) -> Result<()> {
        let op = Op::Destroy;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if st.reserved.get(&id) == Some(&Reserved::Access) {
            // Its HW queue holds a reference.
            return Err(e(op, libc::EBUSY));
        }
        if !st.objs.contains_key(&id) {
            return Err(e(op, libc::ENOENT));
        }
        if matches!(st.objs.get(&id), Some(Obj::Device { .. })) {
            // The device belongs to its VFIO owner (or its selftest object).
            return Err(e(op, libc::EBUSY));
        }
        if Self::users(&st, id) {
            return Err(e(op, libc::EBUSY));
        }
        match st.objs.get(&id) {
            Some(Obj::Stdev { idev }) => {
                let idev = *idev;
                Self::remove_device(&mut st, idev);
                st.objs.remove(&id);
            }
            Some(Obj::Vdevice { .. }) => Self::destroy_vdevice(&mut st, id),
            Some(Obj::HwQueue { .. }) => {
                if let Some(Obj::HwQueue {
                    viommu,
                    index,
                    pin,
                    access,
                    ..
                }) = st.objs.remove(&id)
                {
                    st.reserved.remove(&access);
                    st.unpin(pin);
                    if let Some(v) = st.viommu_mut(viommu) {
                        if let Some(vi) = v.vintf.as_mut() {
                            hw::deinit_queue(&vi.page, index as usize);
                            vi.err_map &= !(1u128 << index);
                            vi.lvq[index as usize] = None;
                        } else if let Some(s) = v.mock_queues.get_mut(index as usize) {
                            *s = None;
                        }
                    }
                }
            }
            Some(Obj::Viommu(_)) => {
                if let Some(Obj::Viommu(v)) = st.objs.remove(&id) {
                    if let Some(off) = v.mmap_offset {
                        st.mmaps.remove(&off);
                    }
                    if let Some(vi) = v.vintf {
                        if let Some(u) = st.vintf_used.get_mut(vi.idx as usize) {
                            *u = false;
                        }
                    }
                }
            }
            _ => {
                st.objs.remove(&id);
            }
        }
        Ok(())
    }

    fn mmap(&self, offset: u64, length: u64) -> Result<Box<dyn MappedRegion>> {
        let op = Op::Mmap;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        let ps = self.sh.cfg.page_size;
        if length == 0 || !length.is_multiple_of(ps) {
            return Err(e(op, libc::EINVAL));
        }
        // Like the kernel's maple tree: the region containing the offset, which
        // must then start exactly there and have exactly this length.
        let hit = st
            .mmaps
            .range(..=offset)
            .next_back()
            .filter(|(start, m)| offset < **start + m.page.len() as u64)
            .map(|(s, _)| *s);
        let Some(start) = hit else {
            return Err(e(op, libc::ENXIO));
        };
        let entry = st.mmaps.get_mut(&start).ok_or(e(op, libc::ENXIO))?;
        if start != offset || entry.page.len() as u64 != length {
            return Err(e(op, libc::ENXIO));
        }
        entry.mapped += 1;
        Ok(Box::new(SimMapping {
            sh: self.sh.clone(),
            offset,
            page: entry.page.clone(),
        }))
    }
}

impl Selftest for SimBackend {
    fn mock_domain(&self, ioas: ObjId) -> Result<MockDomain> {
        let op = Op::TestCmd;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        if !matches!(st.objs.get(&ioas), Some(Obj::Ioas { .. })) {
            return Err(e(op, libc::ENOENT));
        }
        // As the kernel: the selftest object, then the bound device, then
        // the attach to the IOAS (an existing automatic domain, or a new one).
        let stdev_id = st.alloc_id();
        st.objs.insert(stdev_id, Obj::Stdev { idev: 0 });
        let idev_id = st.alloc_id();
        let psid = st.next_psid;
        st.next_psid += 1;
        st.objs.insert(
            idev_id,
            Obj::Device {
                psid,
                vdev: None,
                attached: None,
            },
        );
        if let Some(Obj::Stdev { idev }) = st.objs.get_mut(&stdev_id) {
            *idev = idev_id;
        }
        let hwpt_id = match Self::attach(&mut st, idev_id, ioas) {
            Ok(h) => h,
            Err(x) => {
                // Undone like the kernel's error path.
                st.objs.remove(&idev_id);
                st.objs.remove(&stdev_id);
                return Err(e(op, x));
            }
        };
        Ok(MockDomain {
            stdev_id,
            hwpt_id,
            idev_id,
        })
    }

    fn trigger_vevent(&self, dev_id: ObjId) -> Result<()> {
        let op = Op::TestCmd;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        // The mock reports for the vIOMMU of the nested domain the device is
        // attached to, under the device's virtual id there.
        let (vdev, attached) = match st.objs.get(&dev_id) {
            Some(Obj::Device { vdev, attached, .. }) => (*vdev, *attached),
            _ => return Err(e(op, libc::ENOENT)),
        };
        let nested_viommu = match attached.and_then(|a| st.objs.get(&a)) {
            Some(Obj::HwptNested {
                viommu: Some(v), ..
            }) => *v,
            _ => return Err(e(op, libc::ENOENT)),
        };
        let (viommu, virt_id) = match vdev.and_then(|v| st.objs.get(&v)) {
            Some(Obj::Vdevice {
                viommu, virt_id, ..
            }) if *viommu == nested_viommu => (*viommu, *virt_id),
            _ => return Err(e(op, libc::ENOENT)),
        };
        st.report(
            viommu,
            selftest::VEVENTQ_TYPE_SELFTEST,
            (virt_id as u32).to_le_bytes().to_vec(),
        )
        .map_err(|x| e(op, x))
    }

    fn mock_domain_replace(&self, stdev_id: ObjId, pt: ObjId) -> Result<()> {
        let op = Op::TestCmd;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        let idev = match st.objs.get(&stdev_id) {
            Some(Obj::Stdev { idev }) => *idev,
            _ => return Err(e(op, libc::ENOENT)),
        };
        Self::attach(&mut st, idev, pt)
            .map(|_| ())
            .map_err(|x| e(op, x))
    }
}

impl Kick for SimBackend {
    fn kick(&self, viommu: ObjId) -> Result<()> {
        let op = Op::Kick;
        let mut st = self.lock();
        Self::fault(&mut st, op)?;
        let mem = self.sh.mem.clone();
        let mut log = std::mem::take(&mut st.hw_log);
        let v = st.viommu_mut(viommu).ok_or(e(op, libc::ENOENT))?;
        let mut report = None;
        if let Some(vi) = v.vintf.as_mut() {
            for lidx in 0..vi.lvq.len() {
                let Some(q) = vi.lvq[lidx] else { continue };
                let out = hw::run_queue(
                    &vi.page,
                    lidx,
                    &q,
                    mem.as_ref(),
                    vi.vmid,
                    &vi.sid_match,
                    &vi.sid_replace,
                    &mut vi.err_map,
                    &mut log,
                    viommu,
                );
                if let RunOutcome::Error = out {
                    report = Some(vi.err_map);
                }
            }
        }
        st.hw_log = log;
        if let Some(map) = report {
            // As the kernel's CMDQV interrupt handler: the VINTF's LVCMDQ error
            // map, delivered to user space. No vEVENTQ: the event is dropped.
            let _ = st.report(
                viommu,
                uapi::VEVENTQ_TYPE_TEGRA241_CMDQV,
                map.to_le_bytes().to_vec(),
            );
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vste_rules() {
        assert_eq!(validate_vste([0, 0]), Ok(()));
        assert_eq!(validate_vste([1 | (0b100 << 1), 0]), Ok(()));
        assert_eq!(validate_vste([1 | (0b101 << 1) | 0x1000, 0]), Ok(()));
        assert_eq!(validate_vste([1 | (0b110 << 1), 0]), Err(libc::EIO));
        assert_eq!(
            validate_vste([1 | (0b101 << 1) | (1 << 52), 0]),
            Err(libc::EIO)
        );
        assert_eq!(validate_vste([1 | (0b101 << 1), 2 << 28]), Err(libc::EIO));
        assert_eq!(validate_vste([1 | (0b101 << 1), 1 << 8]), Err(libc::EIO));
    }

    const RAM: u64 = 0x4000_0000;

    fn sim(cfg: SimConfig) -> SimBackend {
        let ram = SimGuestRam::new().with_region(RAM, 4 << 20, 2 << 20);
        SimBackend::new(cfg, Arc::new(ram))
    }

    fn errno<T>(r: Result<T>) -> i32 {
        r.err().map_or(0, |x| x.errno)
    }

    /// The HWPT a device is attached to.
    fn attached(b: &SimBackend, dev: ObjId) -> Option<ObjId> {
        match b.lock().objs.get(&dev) {
            Some(Obj::Device { attached, .. }) => *attached,
            _ => None,
        }
    }

    /// Selftest: IOAS 1, mock device (stdev 2, idev 3, HWPT 4), parent 5,
    /// vIOMMU 6.
    fn selftest_viommu() -> (SimBackend, MockDomain, ObjId) {
        let b = sim(SimConfig::selftest());
        let ioas = b.ioas_alloc().unwrap();
        let dev = b.mock_domain(ioas).unwrap();
        let parent = b.hwpt_alloc_nest_parent(dev.idev_id, ioas).unwrap();
        let v = b
            .viommu_alloc(
                dev.idev_id,
                parent,
                selftest::VIOMMU_TYPE_SELFTEST,
                ViommuDataIn::None,
            )
            .unwrap();
        assert_eq!((ioas, dev.stdev_id, dev.idev_id, dev.hwpt_id), (1, 2, 3, 4));
        assert_eq!((parent, v.viommu_id), (5, 6));
        (b, dev, v.viommu_id)
    }

    #[test]
    fn freed_ids_are_reused_lowest_first() {
        let (b, dev, v) = selftest_viommu();
        let q = b
            .veventq_alloc(v, selftest::VEVENTQ_TYPE_SELFTEST, 2)
            .unwrap();
        let vd = b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        assert_eq!((q, vd), (7, 8));
        b.destroy(q).unwrap();
        b.destroy(vd).unwrap();
        assert_eq!(b.vdevice_alloc(v, dev.idev_id, 0x88).unwrap(), 7);
        assert_eq!(b.ioas_alloc().unwrap(), 8);
        assert_eq!(b.ioas_alloc().unwrap(), 9);
        // A failed allocation takes no id.
        assert_eq!(errno(b.veventq_alloc(v, 0, 2)), libc::EOPNOTSUPP);
        assert_eq!(
            errno(b.viommu_alloc(dev.idev_id, 5, 0x1234, ViommuDataIn::None)),
            libc::EOPNOTSUPP
        );
        assert_eq!(b.ioas_alloc().unwrap(), 10);
    }

    #[test]
    fn tombstoned_vdevice_id_is_never_reused() {
        let (b, dev, v) = selftest_viommu();
        let vd = b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        assert_eq!(vd, 7);
        // Unplugging the device destroys the vDEVICE but keeps its id.
        b.destroy(v).unwrap_err();
        b.destroy(dev.stdev_id).unwrap();
        assert_eq!(errno(b.destroy(vd)), libc::ENOENT);
        let ids: Vec<ObjId> = (0..4).map(|_| b.ioas_alloc().unwrap()).collect();
        // stdev 2, idev 3 and the automatic HWPT 4 went with the device.
        assert_eq!(ids, vec![2, 3, 4, 8]);
    }

    #[test]
    fn hw_queue_takes_an_access_id() {
        let (b, _dev, v) = selftest_viommu();
        b.ioas_map(1, RAM, 2 * 4096, 0).unwrap();
        let q0 = b
            .hw_queue_alloc(v, selftest::HW_QUEUE_TYPE_SELFTEST, 0, RAM, 4096)
            .unwrap();
        let q1 = b
            .hw_queue_alloc(v, selftest::HW_QUEUE_TYPE_SELFTEST, 1, RAM + 4096, 4096)
            .unwrap();
        assert_eq!((q0, q1), (7, 9));
        // The access object exists but is not the user's to destroy or use.
        assert_eq!(errno(b.destroy(8)), libc::EBUSY);
        assert_eq!(errno(b.invalidate(8, 0, 0, &[])), libc::EINVAL);
        assert_eq!(errno(b.mock_domain_replace(2, 8)), libc::EINVAL);
        assert_eq!(errno(b.destroy(10)), libc::EBUSY, "q1's access");
        assert_eq!(errno(b.destroy(11)), libc::ENOENT);
        // A queue that fails (already taken) leaves no id behind.
        assert_eq!(
            errno(b.hw_queue_alloc(v, selftest::HW_QUEUE_TYPE_SELFTEST, 0, RAM, 4096)),
            libc::EEXIST
        );
        assert_eq!(b.ioas_alloc().unwrap(), 11);
        b.destroy(q1).unwrap();
        b.destroy(q0).unwrap();
        // Both queues' and both accesses' ids are free again.
        let ids: Vec<ObjId> = (0..4).map(|_| b.ioas_alloc().unwrap()).collect();
        assert_eq!(ids, vec![7, 8, 9, 10]);
    }

    #[test]
    fn automatic_domain_is_shared_and_reused() {
        let (b, dev, v) = selftest_viommu();
        let dev2 = b.mock_domain(1).unwrap();
        assert_eq!((dev2.stdev_id, dev2.idev_id, dev2.hwpt_id), (7, 8, 4));
        // Replacing onto the IOAS it is already attached through: no change.
        b.mock_domain_replace(dev.stdev_id, 1).unwrap();
        assert_eq!(attached(&b, dev.idev_id), Some(4));
        // The shared domain lives while one device is attached to it.
        b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        let nested = b
            .hwpt_alloc_nested(dev.idev_id, v, selftest::HWPT_DATA_SELFTEST, &[0; 8])
            .unwrap();
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        b.mock_domain_replace(dev.stdev_id, 1).unwrap();
        assert_eq!(attached(&b, dev.idev_id), Some(4));
        // With no device left on it, the domain goes; the next attach makes a
        // new one under the lowest free id.
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        b.mock_domain_replace(dev2.stdev_id, nested).unwrap_err();
        b.destroy(dev2.stdev_id).unwrap();
        assert!(!b.lock().objs.contains_key(&4));
        b.mock_domain_replace(dev.stdev_id, 1).unwrap();
        assert_eq!(attached(&b, dev.idev_id), Some(4));
    }

    #[test]
    fn automatic_domain_first_in_creation_order() {
        let b = sim(SimConfig::tegra241());
        let ioas = b.ioas_alloc().unwrap();
        let (d1, d2, d3) = (b.add_device(0x10), b.add_device(0x11), b.add_device(0x12));
        let filler = b.ioas_alloc().unwrap();
        b.attach_device(d1, ioas).unwrap();
        let h1 = attached(&b, d1).unwrap();
        assert_eq!(h1, 6);
        // A manual paging HWPT on the same IOAS is never picked automatically.
        let manual = b.hwpt_alloc_nest_parent(d1, ioas).unwrap();
        b.attach_device(d2, ioas).unwrap();
        assert_eq!(attached(&b, d2), Some(h1));
        // Make a second automatic domain with a lower id than the first: d1
        // moves to the manual HWPT (h1 dies), d2 too, then d3 and d1 come back.
        b.attach_device(d1, manual).unwrap();
        b.attach_device(d2, manual).unwrap();
        assert!(!b.lock().objs.contains_key(&h1));
        b.destroy(filler).unwrap();
        b.attach_device(d3, ioas).unwrap();
        let h2 = attached(&b, d3).unwrap();
        assert_eq!(h2, filler);
        b.attach_device(d1, ioas).unwrap();
        assert_eq!(attached(&b, d1), Some(h2));
    }

    #[test]
    fn tegra241_ids_follow_the_core() {
        let b = sim(SimConfig::tegra241());
        let ioas = b.ioas_alloc().unwrap();
        let dev = b.add_device(0x10);
        b.ioas_map(ioas, RAM, 2 << 20, 0).unwrap();
        let parent = b.hwpt_alloc_nest_parent(dev, ioas).unwrap();
        let v = b
            .viommu_alloc(
                dev,
                parent,
                uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
                ViommuDataIn::Tegra241,
            )
            .unwrap()
            .viommu_id;
        assert_eq!((ioas, dev, parent, v), (1, 2, 3, 4));
        let t = uapi::HW_QUEUE_TYPE_TEGRA241_CMDQV;
        let q0 = b.hw_queue_alloc(v, t, 0, RAM, 4096).unwrap();
        let q1 = b.hw_queue_alloc(v, t, 1, RAM + 4096, 4096).unwrap();
        assert_eq!((q0, q1), (5, 7));
        assert_eq!(errno(b.destroy(6)), libc::EBUSY);
        let vd = b.vdevice_alloc(v, dev, 0x99).unwrap();
        assert_eq!(vd, 9, "after two queues and their two accesses");
        b.destroy(vd).unwrap();
        let q = b
            .veventq_alloc(v, uapi::VEVENTQ_TYPE_TEGRA241_CMDQV, 2)
            .unwrap();
        assert_eq!(q, 9);
    }

    #[test]
    fn lost_events_marker_takes_its_own_sequence() {
        let (b, dev, v) = selftest_viommu();
        let q = b
            .veventq_alloc(v, selftest::VEVENTQ_TYPE_SELFTEST, 2)
            .unwrap();
        b.vdevice_alloc(v, dev.idev_id, 0x99).unwrap();
        let nested = b
            .hwpt_alloc_nested(dev.idev_id, v, selftest::HWPT_DATA_SELFTEST, &[0; 8])
            .unwrap();
        b.mock_domain_replace(dev.stdev_id, nested).unwrap();
        let seqs = |ev: Vec<VEvent>| -> Vec<(u32, bool)> {
            ev.iter()
                .map(|e| (e.sequence, e.flags & uapi::VEVENTQ_FLAG_LOST_EVENTS != 0))
                .collect()
        };
        for _ in 0..3 {
            b.trigger_vevent(dev.idev_id).unwrap();
        }
        assert_eq!(
            seqs(b.veventq_read(q).unwrap()),
            vec![(0, false), (1, false), (2, true)]
        );
        b.trigger_vevent(dev.idev_id).unwrap();
        assert_eq!(seqs(b.veventq_read(q).unwrap()), vec![(3, false)]);
        // Losing more moves the one marker to the latest lost number.
        for _ in 0..4 {
            b.trigger_vevent(dev.idev_id).unwrap();
        }
        assert_eq!(
            seqs(b.veventq_read(q).unwrap()),
            vec![(4, false), (5, false), (7, true)]
        );
        assert!(b.veventq_read(q).unwrap().is_empty());
        b.trigger_vevent(dev.idev_id).unwrap();
        assert_eq!(seqs(b.veventq_read(q).unwrap()), vec![(8, false)]);
    }

    #[test]
    fn mmap_offsets_first_fit() {
        let b = sim(SimConfig::tegra241());
        let ioas = b.ioas_alloc().unwrap();
        let dev = b.add_device(0x10);
        let parent = b.hwpt_alloc_nest_parent(dev, ioas).unwrap();
        let alloc = || {
            b.viommu_alloc(
                dev,
                parent,
                uapi::VIOMMU_TYPE_TEGRA241_CMDQV,
                ViommuDataIn::Tegra241,
            )
            .unwrap()
        };
        let len = regs::VINTF_PAGE0_SIZE as u64;
        let (a, c) = (alloc(), alloc());
        assert_eq!((a.mmap_offset, c.mmap_offset), (4096, 4096 + len));
        assert_eq!(a.mmap_length, len);
        // The first region's offset is free again once its vIOMMU is gone.
        b.destroy(a.viommu_id).unwrap();
        let d = alloc();
        assert_eq!((d.viommu_id, d.mmap_offset), (a.viommu_id, 4096));
        let e2 = alloc();
        assert_eq!(e2.mmap_offset, 4096 + 2 * len);
    }

    #[test]
    fn missing_page_table_is_einval_for_hwpt_alloc() {
        let (b, dev, _v) = selftest_viommu();
        assert_eq!(
            errno(b.hwpt_alloc_nest_parent(dev.idev_id, 999)),
            libc::EINVAL
        );
        assert_eq!(
            errno(b.hwpt_alloc_nested(dev.idev_id, 999, selftest::HWPT_DATA_SELFTEST, &[0; 8])),
            libc::EINVAL
        );
    }

    #[test]
    fn smmu_events_follow_the_kernels_forwarding_rules() {
        let b = sim(SimConfig::tegra241());
        let ioas = b.ioas_alloc().unwrap();
        b.ioas_map(ioas, RAM, 2 << 20, 0).unwrap();
        let d0 = b.add_device(0x100);
        b.add_device(0x200);
        let parent = b.hwpt_alloc_nest_parent(d0, ioas).unwrap();
        let v = b
            .viommu_alloc(d0, parent, uapi::VIOMMU_TYPE_ARM_SMMUV3, ViommuDataIn::None)
            .unwrap()
            .viommu_id;
        // F_TRANSLATION from SID 0x100: SSV/SSID, RnW, input address, IPA.
        let rec = |sid: u64, id: u64, w1: u64| {
            [(sid << 32) | (1 << 11) | (5 << 12) | id, w1, 0x5000, 0x7000]
        };
        let fault = rec(0x100, 0x10, 1 << 35);
        // No vEVENTQ, no vDEVICE, not attached: dropped.
        assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
        let q = b
            .veventq_alloc(v, uapi::VEVENTQ_TYPE_ARM_SMMUV3, 2)
            .unwrap();
        assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
        b.vdevice_alloc(v, d0, 0x42).unwrap();
        // A vDEVICE but attached to the nesting parent: no vmaster yet.
        b.attach_device(d0, parent).unwrap();
        assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
        let ste: Vec<u8> = [1u64 | (0b100 << 1), 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let nested = b
            .hwpt_alloc_nested(d0, v, uapi::HWPT_DATA_ARM_SMMUV3, &ste)
            .unwrap();
        b.attach_device(d0, nested).unwrap();
        assert!(b.veventq_read(q).unwrap().is_empty());
        // Unknown StreamID, unhandled id, stall, stage 2: not forwarded.
        assert_eq!(
            errno(b.report_smmu_event(rec(0x300, 0x10, 0))),
            libc::EINVAL
        );
        assert_eq!(
            errno(b.report_smmu_event(rec(0x100, 0x01, 0))),
            libc::EOPNOTSUPP
        );
        assert_eq!(
            errno(b.report_smmu_event(rec(0x100, 0x10, 1 << 31))),
            libc::EOPNOTSUPP
        );
        assert_eq!(
            errno(b.report_smmu_event(rec(0x100, 0x13, 1 << 39))),
            libc::EOPNOTSUPP
        );
        // The other device has no vDEVICE.
        assert_eq!(
            errno(b.report_smmu_event(rec(0x200, 0x10, 0))),
            libc::EOPNOTSUPP
        );
        assert!(b.veventq_read(q).unwrap().is_empty());
        // Forwarded: the virtual id in the SID field, every other bit kept.
        b.report_smmu_event(fault).unwrap();
        b.report_smmu_event(rec(0x100, 0x04, 0)).unwrap();
        let ev = b.veventq_read(q).unwrap();
        assert_eq!(ev.len(), 2);
        let words = |e: &VEvent| -> Vec<u64> {
            e.data
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        let mut want = fault;
        want[0] = (0x42 << 32) | (fault[0] & 0xffff_ffff);
        assert_eq!(words(&ev[0]), want.to_vec());
        assert_eq!((ev[0].sequence, ev[1].sequence), (0, 1));
        assert_eq!(
            words(&ev[1])[0],
            (0x42 << 32) | (1 << 11) | (5 << 12) | 0x04
        );
        // A full queue keeps its records and reports the loss after them.
        for _ in 0..3 {
            b.report_smmu_event(fault).unwrap();
        }
        let ev = b.veventq_read(q).unwrap();
        let seqs: Vec<(u32, bool)> = ev
            .iter()
            .map(|e| (e.sequence, e.is_lost_marker()))
            .collect();
        assert_eq!(seqs, vec![(2, false), (3, false), (4, true)]);
        // Detached from the nested domain: the vmaster is gone.
        b.attach_device(d0, parent).unwrap();
        assert_eq!(errno(b.report_smmu_event(fault)), libc::EOPNOTSUPP);
        // The selftest mock has no SMMU.
        let (st, _, _) = selftest_viommu();
        assert_eq!(errno(st.report_smmu_event(fault)), libc::EOPNOTSUPP);
    }

    #[test]
    fn vfio_calls_are_tagged_as_vfio() {
        let b = sim(SimConfig::tegra241());
        let err = b.attach_device(99, 1).unwrap_err();
        assert_eq!((err.op, err.errno), (Op::VfioAttach, libc::ENOENT));
        assert!(err
            .to_string()
            .starts_with("VFIO_DEVICE_ATTACH_IOMMUFD_PT failed: ENOENT"));
        let err = b.detach_device(99).unwrap_err();
        assert_eq!(err.op, Op::VfioDetach);
        assert!(err.to_string().starts_with("VFIO_DEVICE_DETACH_IOMMUFD_PT"));
        assert_eq!(
            Error::new(Op::VfioBind, libc::EBUSY).to_string(),
            format!(
                "VFIO_DEVICE_BIND_IOMMUFD failed: EBUSY ({})",
                std::io::Error::from_raw_os_error(libc::EBUSY)
            )
        );
    }
}
