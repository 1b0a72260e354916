//! The CMDQV lifecycle as a small state machine over the [`Backend`] handles,
//! driven by explicit events (device plug/unplug, the four VCMDQ
//! preconditions, reset, teardown). It owns every kernel object the CMDQV and
//! the vSMMUv3 front end share: the vIOMMU (one VINTF), the mmap'd VINTF page
//! 0, the vEVENTQ, the vDEVICEs and the HW queues.
//!
//! The rules it keeps (DESIGN.md, "The CMDQV lifecycle"):
//!
//! * the logical VCMDQs of its VINTF: [`NUM_LVCMDQS`] (QEMU's two) unless
//!   [`Lifecycle::with_lvcmdqs`] asks for another power of two up to
//!   [`MAX_LVCMDQS`]; every rule below holds for any count.
//! * probe: `IOMMU_GET_HW_INFO` (Tegra241 CMDQV: version 1, at least as
//!   many VCMDQs per VINTF as the model exposes, at least 16 SIDs), through
//!   the nesting parent's device
//!   ([`Lifecycle::probe_host`], what a VMM asks before it exposes a CMDQV) or
//!   the first attached device.
//! * first device attach: `IOMMU_VIOMMU_ALLOC` on the nesting parent, mmap of
//!   VINTF page 0 at once, a vEVENTQ for the error maps. Any failure undoes
//!   what was done and the attach fails; nothing leaks.
//! * a logical VCMDQ is allocated once its BASE is programmed (the whole
//!   queue in guest RAM: the front end decides, [`QueueBase`]),
//!   CMDQ_ALLOC_MAP.ALLOC, CONFIG.CMDQV_EN and VINTF_CONFIG.ENABLE are set, in
//!   any order; every precondition event retries, and so does
//!   [`Lifecycle::catch_up`] after the first device arrives. A BASE that is
//!   not programmed is no allocation attempt; on a live queue it frees it, and
//!   a new programmed BASE on a live queue frees and re-allocates it. The
//!   kernel allocates in ascending index order (queue *n* waits for queue
//!   *n−1*) and frees in descending order: freeing queue *n* frees the higher
//!   ones first (their registers kept), and those still ready are allocated
//!   again when queue *n* is. A failed allocation is
//!   [`Transition::QueueInitError`]: the front end raises GERROR.CMDQ_INIT_ERR.
//! * the page is installed into guest MMIO (through [`RegionInstaller`]) only
//!   while at least one HW queue exists (step 4 of the review thread) and the
//!   register cache does not hold it back ([`QueueRegCache::hold_page`]: a
//!   queue shows an error only the trapped registers can carry). Where a
//!   queue's registers live, and when they move, is [`QueueRegCache`]'s
//!   contract.
//! * a vDEVICE follows the device's plugged state.
//! * teardown: queues in descending order, region removed, munmap, vDEVICEs,
//!   vEVENTQ, then the vIOMMU.

use std::collections::BTreeMap;
use std::sync::Arc;

use cmdqv_regs::{CMDQ_ALLOC_MAP, CONFIG};

use crate::backend::{
    uapi, Backend, Device, HwInfoQuery, HwQueue, Kick, NestParent, ObjId, Tegra241Info, VDevice,
    VEventQ, VintfPage, Viommu, ViommuDataIn,
};
use crate::vmm::RegionInstaller;

pub use super::transition::{
    ErrorEvents, LifecycleError, NoCache, QueueBase, QueueRegCache, Transition,
};

/// Logical VCMDQs the model exposes per VINTF unless
/// [`Lifecycle::with_lvcmdqs`] says otherwise (model parameter; QEMU's
/// model: two).
pub const NUM_LVCMDQS: usize = 2;
/// The most logical VCMDQs a VINTF can have: one per global VCMDQ the
/// CMDQV map has (`CMDQ_ALLOC_MAP`), which is also the width of
/// `LVCMDQ_ERR_MAP` and of `CMDQ_ALLOC_MAP.LVCMDQ`.
pub const MAX_LVCMDQS: usize = CMDQ_ALLOC_MAP::COUNT;
/// SID_MATCH/SID_REPLACE slots the model exposes (model parameter).
pub const NUM_SIDS: usize = 16;
/// log2 of the largest VCMDQ in 16-byte entries (8 MiB): the most the
/// index field (`VCMDQ_PROD.INDEX`, index bits and the wrap flag) can count.
pub const MAX_LOG2_ENTRIES: u32 = cmdqv_regs::VCMDQ::PROD::INDEX.mask.count_ones() - 1;
/// Depth of the vEVENTQ that carries the LVCMDQ error maps (VMM parameter).
pub const VEVENTQ_DEPTH: u32 = 64;

/// CONFIG.CMDQV_EN after a reset: the register file's reset value, so the
/// lifecycle, CONFIG and STATUS.CMDQV_ENABLED agree from the start.
pub fn cmdqv_enabled_at_reset() -> bool {
    CONFIG::CMDQV_EN.is_set(CONFIG::RESET)
}

/// A logical VCMDQ's preconditions and HW queue.
#[derive(Default)]
struct Queue {
    /// The programmed base, if any.
    base: Option<QueueBase>,
    alloc: bool,
    hw: Option<Arc<HwQueue>>,
    /// The last allocation attempt failed (cleared by a success or a free).
    failed: bool,
}

/// What the first attach created. Field order is drop order: the page is
/// unmapped before the vIOMMU can be destroyed (the handles enforce it too).
struct Bound {
    page: Option<VintfPage>,
    veventq: Option<VEventQ>,
    viommu: Arc<Viommu>,
    info: Option<Tegra241Info>,
}

struct Plugged {
    device: Arc<Device>,
    vdevice: Option<VDevice>,
}

/// The CMDQV lifecycle state machine. See the module documentation.
pub struct Lifecycle {
    backend: Arc<dyn Backend>,
    parent: Arc<NestParent>,
    regions: Arc<dyn RegionInstaller>,
    vintf_gpa: u64,
    /// Per logical VCMDQ: as many as the model exposes.
    queues: Vec<Queue>,
    cmdqv_en: bool,
    vintf_en: bool,
    installed: bool,
    /// The VMM refused the last install; not retried until the page is
    /// wanted out and in again.
    refused: bool,
    devices: BTreeMap<u32, Plugged>,
    /// Devices attached before their vSID is known.
    unnamed: Vec<Arc<Device>>,
    bound: Option<Bound>,
    /// Whether the host offers the CMDQV (else a plain SMMUv3 vIOMMU).
    cmdqv: bool,
    /// The host's answer to `IOMMU_GET_HW_INFO`, once asked.
    host: Option<Option<Tegra241Info>>,
    /// The simulator's hardware kick; `None` on a real host.
    kick: Option<Arc<dyn Kick>>,
}

impl Lifecycle {
    /// A lifecycle over the VM's nesting parent (its stage-2), installing VINTF
    /// page 0 at guest physical `vintf_gpa` through `regions`.
    pub fn new(
        backend: Arc<dyn Backend>,
        parent: Arc<NestParent>,
        regions: Arc<dyn RegionInstaller>,
        vintf_gpa: u64,
    ) -> Self {
        Lifecycle {
            backend,
            parent,
            regions,
            vintf_gpa,
            queues: fresh_queues(NUM_LVCMDQS),
            cmdqv_en: cmdqv_enabled_at_reset(),
            vintf_en: false,
            installed: false,
            refused: false,
            devices: BTreeMap::new(),
            unnamed: Vec::new(),
            bound: None,
            cmdqv: true,
            host: None,
            kick: None,
        }
    }

    /// Exposes `n` logical VCMDQs (a power of two from 1 to [`MAX_LVCMDQS`])
    /// instead of [`NUM_LVCMDQS`]; the host must offer at least as many per
    /// VINTF ([`Lifecycle::probe_host`] checks). A Linux guest uses them all:
    /// it reads the count from PARAM and picks LVCMDQ `cpu % n`.
    pub fn with_lvcmdqs(mut self, n: usize) -> Result<Self, LifecycleError> {
        if !n.is_power_of_two() || n > MAX_LVCMDQS {
            return Err(LifecycleError::LvcmdqCount(n));
        }
        self.queues = fresh_queues(n);
        Ok(self)
    }

    /// The logical VCMDQs the model exposes per VINTF.
    pub fn num_lvcmdqs(&self) -> usize {
        self.queues.len()
    }

    /// Hands the lifecycle the hardware kick of a simulated host, which
    /// cannot see the guest's stores into the VINTF page by itself (see
    /// [`Kick`]). A real host has none: its hardware runs by itself.
    pub fn with_kick(mut self, kick: Arc<dyn Kick>) -> Self {
        self.kick = Some(kick);
        self
    }

    /// Whether the host offers a Tegra241 CMDQV the model can expose:
    /// `IOMMU_GET_HW_INFO` of the nesting parent's device, asked once.
    /// `Ok(None)`: a plain SMMUv3 host (no CMDQV window for the guest);
    /// [`LifecycleError::Unsupported`]: a CMDQV the model cannot use.
    pub fn probe_host(&mut self) -> Result<Option<Tegra241Info>, LifecycleError> {
        let dev = self.parent.device_id();
        self.host_cmdqv(dev)
    }

    /// The cached probe, or `IOMMU_GET_HW_INFO` through device `dev`.
    fn host_cmdqv(&mut self, dev: ObjId) -> Result<Option<Tegra241Info>, LifecycleError> {
        if let Some(h) = self.host {
            return Ok(h);
        }
        let query = HwInfoQuery::Type(self.backend.types().hw_info_type);
        let info = match self.backend.get_hw_info(dev, query) {
            Ok(hi) => hi.tegra241(),
            // A host without the CMDQV answers EOPNOTSUPP: plain SMMUv3.
            Err(e) if e.errno == libc::EOPNOTSUPP => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(i) = info {
            check_host(i, self.queues.len())?;
        }
        self.host = Some(info);
        Ok(info)
    }

    /// The vIOMMU, once a device was attached.
    pub fn viommu(&self) -> Option<&Arc<Viommu>> {
        self.bound.as_ref().map(|b| &b.viommu)
    }

    /// The vIOMMU's vEVENTQ (the LVCMDQ error maps the host reports), once
    /// a device was attached.
    pub fn veventq(&self) -> Option<&VEventQ> {
        self.bound.as_ref().and_then(|b| b.veventq.as_ref())
    }

    /// The mapped VINTF page 0, once a device was attached (CMDQV hosts only).
    pub fn page(&self) -> Option<&VintfPage> {
        self.bound.as_ref().and_then(|b| b.page.as_ref())
    }

    /// What the host reported, once probed.
    pub fn host_info(&self) -> Option<Tegra241Info> {
        self.bound.as_ref().and_then(|b| b.info)
    }

    /// Whether the host offers the CMDQV (known after the first attach).
    pub fn cmdqv_available(&self) -> bool {
        self.cmdqv && self.bound.as_ref().is_none_or(|b| b.page.is_some())
    }

    /// Whether logical VCMDQ `lidx` has a HW queue.
    pub fn queue_allocated(&self, lidx: usize) -> bool {
        self.queues.get(lidx).is_some_and(|q| q.hw.is_some())
    }

    /// Whether the last allocation attempt of `lidx` failed.
    pub fn queue_failed(&self, lidx: usize) -> bool {
        self.queues.get(lidx).is_some_and(|q| q.failed)
    }

    /// Whether VINTF page 0 is installed into guest MMIO.
    pub fn region_installed(&self) -> bool {
        self.installed
    }

    /// The device plugged with `vsid`.
    pub fn device(&self, vsid: u32) -> Option<&Arc<Device>> {
        self.devices.get(&vsid).map(|p| &p.device)
    }

    /// Whether `vsid` has a vDEVICE.
    pub fn has_vdevice(&self, vsid: u32) -> bool {
        self.devices.get(&vsid).is_some_and(|p| p.vdevice.is_some())
    }

    /// The plugged vSIDs.
    pub fn vsids(&self) -> Vec<u32> {
        self.devices.keys().copied().collect()
    }

    /// Lets the simulated hardware run the VCMDQs after guest writes to the
    /// page ([`Kick`], given with [`Lifecycle::with_kick`]); nothing on a real
    /// host, whose hardware runs by itself.
    pub fn kick(&self) -> crate::backend::Result<()> {
        match (&self.bound, &self.kick) {
            (Some(b), Some(k)) if b.page.is_some() => k.kick(b.viommu.id()),
            _ => Ok(()),
        }
    }

    /// The first attach: probe, vIOMMU, mmap, vEVENTQ. All or nothing.
    fn bind(&mut self, dev: &Arc<Device>, out: &mut Vec<Transition>) -> Result<(), LifecycleError> {
        if self.bound.is_some() {
            return Ok(());
        }
        let types = *self.backend.types();
        let Some(info) = self.host_cmdqv(dev.id())? else {
            self.cmdqv = false;
            let viommu = Viommu::with_type(
                dev,
                &self.parent,
                uapi::VIOMMU_TYPE_ARM_SMMUV3,
                ViommuDataIn::None,
            )
            .map_err(viommu_error)?;
            out.push(Transition::Bound {
                viommu: viommu.id(),
            });
            self.bound = Some(Bound {
                page: None,
                veventq: None,
                viommu,
                info: None,
            });
            return Ok(());
        };
        out.push(Transition::Probed(info));
        let viommu = Viommu::with_type(
            dev,
            &self.parent,
            types.viommu_type,
            ViommuDataIn::for_shape(types.viommu_data, 0),
        )
        .map_err(viommu_error)?;
        // Dropping `viommu` on any error below destroys it (after the page).
        let page = viommu.map_page()?;
        let veventq = viommu.alloc_veventq(VEVENTQ_DEPTH)?;
        out.push(Transition::Bound {
            viommu: viommu.id(),
        });
        self.cmdqv = true;
        self.bound = Some(Bound {
            page: Some(page),
            veventq: Some(veventq),
            viommu,
            info: Some(info),
        });
        Ok(())
    }

    /// A passthrough device was attached to the SMMU whose vSID is not known
    /// yet. The first attach binds the host (vIOMMU, page, vEVENTQ).
    pub fn attach_device(&mut self, dev: &Arc<Device>) -> Result<Vec<Transition>, LifecycleError> {
        let mut out = Vec::new();
        self.bind(dev, &mut out)?;
        if !self.unnamed.iter().any(|d| Arc::ptr_eq(d, dev)) {
            self.unnamed.push(dev.clone());
        }
        Ok(out)
    }

    /// A device is plugged with its vSID known: binds the host on the first
    /// attach, then allocates the vDEVICE (`IOMMU_VDEVICE_ALLOC`). On failure
    /// nothing of this call remains.
    pub fn plug(
        &mut self,
        dev: &Arc<Device>,
        vsid: u32,
    ) -> Result<Vec<Transition>, LifecycleError> {
        if self.devices.contains_key(&vsid) {
            return Err(LifecycleError::DuplicateVsid(vsid));
        }
        let mut out = Vec::new();
        self.bind(dev, &mut out)?;
        let viommu = self
            .viommu()
            .cloned()
            .ok_or_else(|| LifecycleError::Unsupported("no vIOMMU after binding".into()))?;
        let vdevice = viommu
            .alloc_vdevice(dev, u64::from(vsid))
            .map_err(|e| match e.errno {
                // The core's check that the device is behind the vIOMMU's
                // SMMU (a 32-bit vSID is never too wide).
                libc::EINVAL => LifecycleError::OtherSmmu(e),
                _ => e.into(),
            })?;
        out.push(Transition::VdeviceAllocated { vsid });
        self.unnamed.retain(|d| !Arc::ptr_eq(d, dev));
        self.devices.insert(
            vsid,
            Plugged {
                device: dev.clone(),
                vdevice: Some(vdevice),
            },
        );
        Ok(out)
    }

    /// The device with `vsid` is unplugged: its vDEVICE is freed. Queues stay.
    /// Returns the device so the caller can detach it.
    pub fn unplug(&mut self, vsid: u32) -> (Option<Arc<Device>>, Vec<Transition>) {
        let mut out = Vec::new();
        let dev = self.devices.remove(&vsid).map(|p| {
            if p.vdevice.is_some() {
                out.push(Transition::VdeviceFreed { vsid });
            }
            drop(p.vdevice);
            p.device
        });
        (dev, out)
    }

    /// Logical VCMDQ `lidx`'s state, if the model has it.
    fn queue_mut(&mut self, lidx: usize) -> Result<&mut Queue, LifecycleError> {
        self.queues
            .get_mut(lidx)
            .ok_or(LifecycleError::BadIndex(lidx))
    }

    /// After a device was plugged (or attached): the first one binds the
    /// host, and whatever the guest enabled before has to catch up — pending
    /// queues are allocated and the page installed, without the guest
    /// writing a register again.
    pub fn catch_up(&mut self, cache: &mut dyn QueueRegCache) -> Vec<Transition> {
        let mut out = Vec::new();
        self.retry(cache, &mut out);
        out
    }

    /// The guest's BASE of logical VCMDQ `lidx` took a complete new value:
    /// `Some` when it names a queue wholly in guest RAM, `None` when it is
    /// "not programmed" (0 included, as Linux writes while it resets a
    /// queue). `None` is no allocation attempt and frees a live queue; a new
    /// `Some` on a live queue frees and re-allocates it; the same value again
    /// changes nothing.
    pub fn write_base(
        &mut self,
        lidx: usize,
        base: Option<QueueBase>,
        cache: &mut dyn QueueRegCache,
    ) -> Result<Vec<Transition>, LifecycleError> {
        let q = self.queue_mut(lidx)?;
        let mut out = Vec::new();
        if q.hw.is_some() && q.base == base {
            return Ok(out);
        }
        if q.hw.is_some() {
            self.free_from(lidx, cache, &mut out);
        }
        self.queues[lidx].base = base;
        if base.is_none() {
            self.queues[lidx].failed = false;
        }
        self.retry(cache, &mut out);
        Ok(out)
    }

    /// The guest set or cleared CMDQ_ALLOC_MAP.ALLOC of logical VCMDQ `lidx`.
    pub fn set_alloc(
        &mut self,
        lidx: usize,
        alloc: bool,
        cache: &mut dyn QueueRegCache,
    ) -> Result<Vec<Transition>, LifecycleError> {
        let q = self.queue_mut(lidx)?;
        q.alloc = alloc;
        let mut out = Vec::new();
        if !alloc {
            self.free_from(lidx, cache, &mut out);
        }
        self.retry(cache, &mut out);
        Ok(out)
    }

    /// The guest set or cleared CONFIG.CMDQV_EN.
    pub fn set_cmdqv_enable(&mut self, en: bool, cache: &mut dyn QueueRegCache) -> Vec<Transition> {
        self.cmdqv_en = en;
        let mut out = Vec::new();
        if !en {
            self.free_from(0, cache, &mut out);
        }
        self.retry(cache, &mut out);
        out
    }

    /// The guest set or cleared VINTF_CONFIG.ENABLE: disabling frees every
    /// queue (and so removes the page), enabling retries the allocations.
    pub fn set_vintf_enable(&mut self, en: bool, cache: &mut dyn QueueRegCache) -> Vec<Transition> {
        self.vintf_en = en;
        let mut out = Vec::new();
        if !en {
            self.free_from(0, cache, &mut out);
        }
        self.retry(cache, &mut out);
        out
    }

    /// Re-evaluates whether the page belongs in guest MMIO, after the guest
    /// acknowledged what held it back ([`QueueRegCache::hold_page`]).
    pub fn sync(&mut self, cache: &mut dyn QueueRegCache) -> Vec<Transition> {
        let mut out = Vec::new();
        self.sync_region(cache, &mut out);
        out
    }

    /// Whether VINTF_CONFIG.ENABLE is set.
    pub fn vintf_enabled(&self) -> bool {
        self.vintf_en
    }

    /// Whether CONFIG.CMDQV_EN is set.
    pub fn cmdqv_enabled(&self) -> bool {
        self.cmdqv_en
    }

    /// Installs the page while a HW queue exists and nothing holds it back;
    /// removes it otherwise. Registers move between the homes of
    /// [`QueueRegCache`]: into the page before it becomes guest MMIO, back
    /// into the cache after it stopped being guest MMIO.
    fn sync_region(&mut self, cache: &mut dyn QueueRegCache, out: &mut Vec<Transition>) {
        let any_queue = self.queues.iter().any(|q| q.hw.is_some());
        let want = any_queue && self.page().is_some() && !cache.hold_page();
        if !want {
            self.refused = false;
            if self.installed {
                let len = self.page().map(|p| p.region().len()).unwrap_or(0);
                self.regions.remove(self.vintf_gpa, len);
                self.installed = false;
                self.for_queues_without_hw(|l, p| cache.to_cache(l, p));
                out.push(Transition::RegionRemoved {
                    gpa: self.vintf_gpa,
                });
            }
            return;
        }
        if self.installed || self.refused {
            return;
        }
        self.for_queues_without_hw(|l, p| cache.to_page(l, p));
        let Some(page) = self.page() else { return };
        match self.regions.install(self.vintf_gpa, page.shared()) {
            Ok(()) => {
                self.installed = true;
                out.push(Transition::RegionInstalled {
                    gpa: self.vintf_gpa,
                });
            }
            Err(e) => {
                self.refused = true;
                out.push(Transition::RegionInstallFailed(e.0));
            }
        }
    }

    /// Calls `f` for every logical VCMDQ without a HW queue, with the page.
    fn for_queues_without_hw(&self, mut f: impl FnMut(usize, &VintfPage)) {
        let Some(page) = self.page() else { return };
        for (lidx, q) in self.queues.iter().enumerate() {
            if q.hw.is_none() {
                f(lidx, page);
            }
        }
    }

    fn ready(&self, lidx: usize) -> bool {
        let q = &self.queues[lidx];
        self.cmdqv_en && self.vintf_en && q.alloc && q.base.is_some() && q.hw.is_none()
    }

    /// Tries every ready queue in ascending order (the kernel's order rule),
    /// then installs or removes the page.
    fn retry(&mut self, cache: &mut dyn QueueRegCache, out: &mut Vec<Transition>) {
        let Some(b) = &self.bound else { return };
        let (viommu, has_page) = (b.viommu.clone(), b.page.is_some());
        if !has_page {
            return;
        }
        for lidx in 0..self.queues.len() {
            if !self.ready(lidx) {
                continue;
            }
            let prev = if lidx == 0 {
                None
            } else {
                match &self.queues[lidx - 1].hw {
                    Some(p) => Some(p.clone()),
                    // Waits for queue lidx-1; retried when that one comes up.
                    None => continue,
                }
            };
            let Some(base) = self.queues[lidx].base else {
                continue;
            };
            match viommu.alloc_hw_queue(prev.as_ref(), base.addr, base.bytes()) {
                Ok(hw) => {
                    let id = hw.id();
                    self.queues[lidx].hw = Some(hw);
                    self.queues[lidx].failed = false;
                    let from_cache = !self.installed;
                    if let Some(page) = self.page() {
                        cache.new_queue(lidx, page, from_cache);
                    }
                    out.push(Transition::QueueAllocated { lidx, hw_queue: id });
                }
                Err(error) => {
                    self.queues[lidx].failed = true;
                    cache.init_error(lidx);
                    out.push(Transition::QueueInitError { lidx, error });
                }
            }
        }
        self.sync_region(cache, out);
    }

    /// Frees the HW queues `lidx..` in descending order (queue n+1 holds
    /// queue n, so a lower queue can only go after the higher ones). Each
    /// queue's registers go to the cache first; while the page stays
    /// installed they are put back into the page, where the guest reads them.
    fn free_from(&mut self, lidx: usize, cache: &mut dyn QueueRegCache, out: &mut Vec<Transition>) {
        for i in (lidx..self.queues.len()).rev() {
            if let Some(hw) = self.queues[i].hw.take() {
                let page = self.bound.as_ref().and_then(|b| b.page.as_ref());
                if let Some(page) = page {
                    cache.to_cache(i, page);
                }
                drop(hw);
                if let (true, Some(page)) = (self.installed, page) {
                    cache.to_page(i, page);
                }
                out.push(Transition::QueueFreed { lidx: i });
            }
            self.queues[i].failed = false;
        }
    }

    /// Reads the vEVENTQ: the LVCMDQ error maps the host reported.
    pub fn poll_errors(&mut self) -> crate::backend::Result<ErrorEvents> {
        let mut ev = ErrorEvents::default();
        let Some(q) = self.bound.as_ref().and_then(|b| b.veventq.as_ref()) else {
            return Ok(ev);
        };
        for r in q.read()? {
            ev.records += 1;
            if r.is_lost_marker() {
                ev.lost = true;
            } else if let Some(m) = r.lvcmdq_err_map() {
                ev.err_map |= m;
            }
        }
        Ok(ev)
    }

    /// A device or system reset of the CMDQV: queues freed (descending), the
    /// region removed, every precondition back to its reset value
    /// (CONFIG.CMDQV_EN as [`cmdqv_enabled_at_reset`]). The vIOMMU, page and
    /// vDEVICEs stay: the devices are still plugged.
    pub fn reset(&mut self, cache: &mut dyn QueueRegCache) -> Vec<Transition> {
        let mut out = Vec::new();
        self.free_from(0, cache, &mut out);
        self.sync_region(cache, &mut out);
        self.queues = fresh_queues(self.queues.len());
        self.cmdqv_en = cmdqv_enabled_at_reset();
        self.vintf_en = false;
        self.refused = false;
        out
    }

    /// Releases everything in the kernel's order: queues (descending), region
    /// removed, munmap, vDEVICEs, vEVENTQ, vIOMMU.
    pub fn teardown(&mut self) -> Vec<Transition> {
        let mut out = self.reset(&mut NoCache);
        let vsids: Vec<u32> = self.devices.keys().copied().collect();
        if let Some(mut b) = self.bound.take() {
            drop(b.page.take());
            for vsid in vsids {
                let (_, t) = self.unplug(vsid);
                out.extend(t);
            }
            drop(b.veventq.take());
            drop(b);
        } else {
            self.devices.clear();
        }
        self.unnamed.clear();
        // Destroys refused while their handles dropped (here or earlier) get
        // one more try now that their holders are gone.
        let left = crate::backend::deferred::retry(self.backend.as_ref());
        out.extend(left.into_iter().map(Transition::Unreleased));
        out.push(Transition::TornDown);
        out
    }
}

/// What a failed `IOMMU_VIOMMU_ALLOC` of [`Lifecycle::bind`] means: with the
/// lifecycle's own nesting parent and driver data, `EINVAL` is the SMMU
/// driver refusing a nesting parent of another SMMU than the device's, and
/// `ENOSPC` the CMDQV out of VINTFs.
fn viommu_error(e: crate::backend::Error) -> LifecycleError {
    match e.errno {
        libc::EINVAL => LifecycleError::OtherSmmu(e),
        libc::ENOSPC => LifecycleError::NoVintf(e),
        _ => e.into(),
    }
}

/// One [`Queue`] for each of `n` logical VCMDQs.
fn fresh_queues(n: usize) -> Vec<Queue> {
    (0..n).map(|_| Queue::default()).collect()
}

/// Whether the host CMDQV offers what the model exposes: `lvcmdqs`
/// logical VCMDQs per VINTF.
fn check_host(info: Tegra241Info, lvcmdqs: usize) -> Result<(), LifecycleError> {
    if info.version != 1
        || (1usize << info.log2vcmdqs.min(63)) < lvcmdqs
        || (1usize << info.log2vsids.min(63)) < NUM_SIDS
    {
        return Err(LifecycleError::Unsupported(format!(
            "version {}, {} VCMDQs, {} SIDs per VINTF (need version 1, {lvcmdqs}, {NUM_SIDS})",
            info.version,
            1u64 << info.log2vcmdqs.min(63),
            1u64 << info.log2vsids.min(63)
        )));
    }
    Ok(())
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        if self.bound.is_some() || self.installed {
            self.teardown();
        }
    }
}
