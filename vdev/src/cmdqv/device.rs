//! The guest-visible CMDQV MMIO window: the generated `cmdqv-regs` register
//! file is the register cache of everything trapped, its hooks turn the
//! guest's writes into [`Lifecycle`] events, and accesses to a logical VCMDQ
//! whose registers live in the mmap'd VINTF page 0 reach the page.
//!
//! The window is the first [`CMDQV_WINDOW`] bytes of the CMDQV layout: the
//! global page (CONFIG, PARAM, error maps, CMDQ_ALLOC_MAP, VINTF 0), the direct
//! VCMDQ pages 0 and 1, and VINTF 0's logical pages 0 and 1. The model exposes
//! one VINTF and as many VCMDQs as the lifecycle has logical VCMDQs
//! ([`super::lifecycle::NUM_LVCMDQS`] unless
//! [`Lifecycle::with_lvcmdqs`] says otherwise, up to 128): PARAM says how
//! many, CMDQ_ALLOC_MAP, the VCMDQ pages, VINTF 0's logical pages and the
//! error maps have that many entries; registers of other VINTFs or VCMDQs
//! read as zero and ignore writes.
//!
//! What the guest sees:
//!
//! * `CONFIG.CMDQV_EN`, `CMDQ_ALLOC_MAP[q].ALLOC` (global VCMDQ `q` mapped to
//!   a logical VCMDQ of VINTF 0), `VINTF0 CONFIG.ENABLE` and a programmed
//!   BASE are the four preconditions of its HW queue; each write retries the
//!   allocation, and so does the first device plugged. BASE takes a new value
//!   on a 64-bit write or once both 32-bit halves were written, in either
//!   order (a lone half waits for the other: the allocation never uses a
//!   stale half). A value whose queue is not wholly guest RAM (ADDR 0
//!   included) is "not programmed": no allocation attempt, no error; on a
//!   live queue it frees it.
//! * An allocation failure toggles the queue's `GERROR.CMDQ_INIT_ERR` (in the
//!   trapped registers), sets the error maps and raises the CMDQV interrupt
//!   unless `VINTF_INT_MASK` masks VINTF 0. While it is not acknowledged the
//!   VINTF page stays out of guest MMIO, so the guest reads it where Linux
//!   does (the logical page). Once the queue is allocated (a later
//!   precondition write retried it) its registers are the hardware's, where
//!   no init error exists: the pending error is gone.
//! * `VINTF CONFIG.HYP_OWN` always reads 0; `STATUS.CMDQV_ENABLED` and
//!   `VINTF STATUS.ENABLE_OK` follow their enables; `VCMDQ STATUS.CMDQ_EN_OK`
//!   is set only by the hardware, for a queue that has a HW queue and
//!   CONFIG.CMDQ_EN (trapped, it reads 0).
//! * The error maps (`CMDQ_ERR_MAP`, `VINTF_ERR_MAP`, `LVCMDQ_ERR_MAP`,
//!   `VINTF STATUS.STATUS`) show every queue whose GERROR differs from its
//!   GERRORN, wherever the queue's registers live.

use std::sync::Arc;

use cmdqv_regs::enums::VintfStatus;
use cmdqv_regs::fieldsets::VcmdqErrors;
use cmdqv_regs::regfile::RegFile;
use cmdqv_regs::{CMDQ_ALLOC_MAP, VCMDQ, VCMDQ_PAGE1, VINTF, VINTF_PAGE0, VINTF_PAGE1};

use super::hooks::{lidx_of, owners, page_off, pending, BaseStore, Cache, Hk, State};
use super::lifecycle::{Lifecycle, Transition};
use crate::vmm::{GuestMemory, IrqLine};

/// Bytes of one CMDQV page (the direct VCMDQ aperture's page 0, up to its
/// page 1).
const PAGE: u64 = (VCMDQ_PAGE1::OFFSET - VCMDQ::OFFSET) as u64;
/// Bytes of the guest-visible CMDQV window (VMM parameter: the guest gets
/// one VINTF, so the window ends with VINTF 0's page 1; five 64 KiB pages).
pub const CMDQV_WINDOW: u64 = VINTF_PAGE1::OFFSET as u64 + PAGE;
/// Offset of VINTF 0's logical page 0 in the window: where the VMM installs
/// the mmap'd VINTF page while at least one HW queue exists.
pub const VINTF0_PAGE0: u64 = VINTF_PAGE0::OFFSET as u64;
/// Offset of the direct VCMDQ page 0 aperture.
const VCMDQ_PAGE0: u64 = VCMDQ::OFFSET as u64;
/// Bytes between VCMDQs in a page.
pub(super) const VCMDQ_STRIDE: u64 = VCMDQ::STRIDE as u64;
/// Bytes of the page-0 registers of one VCMDQ (CONS .. GERRORN).
const VCMDQ_REGS: u64 = (VCMDQ::GERRORN::REL_OFFSET + VCMDQ::GERRORN::WIDTH as usize / 8) as u64;
/// Offset of VINTF 0's CONFIG; VINTF `v` is `v * VINTF_STRIDE` further.
const VINTF0: u64 = VINTF::OFFSET as u64;
/// Bytes between VINTF register blocks.
const VINTF_STRIDE: u64 = VINTF::STRIDE as u64;
/// End of the VINTF register blocks.
const VINTF_END: u64 = VINTF0 + VINTF::COUNT as u64 * VINTF_STRIDE;
/// Offsets of the page-0 registers inside one VCMDQ block.
pub(super) const CONS: u64 = VCMDQ::CONS::REL_OFFSET as u64;
pub(super) const PROD: u64 = VCMDQ::PROD::REL_OFFSET as u64;
pub(super) const QCONFIG: u64 = VCMDQ::CONFIG::REL_OFFSET as u64;
pub(super) const QSTATUS: u64 = VCMDQ::STATUS::REL_OFFSET as u64;
pub(super) const GERROR: u64 = VCMDQ::GERROR::REL_OFFSET as u64;
pub(super) const GERRORN: u64 = VCMDQ::GERRORN::REL_OFFSET as u64;
/// `GERROR.CMDQ_INIT_ERR`.
pub(super) const INIT_ERR: u32 = bit(VcmdqErrors::CMDQ_INIT_ERR);
/// All VCMDQ error bits.
pub(super) const ERR_BITS: u32 =
    bit(VcmdqErrors::CMDQ_ERR) | bit(VcmdqErrors::CONS_DRAM_WR_ABT_ERR) | INIT_ERR;
/// `CONS.ERR` in place.
pub(super) const CONS_ERR: u32 = VCMDQ::CONS::ERR.mask << VCMDQ::CONS::ERR.shift;
/// `VINTF STATUS.STATUS` value `VCMDQ_ERROR`.
const VINTF_STATUS_VCMDQ_ERROR: u32 = VintfStatus::VCMDQ_ERROR.value() as u32;

/// The in-place bits of a one-bit VCMDQ error field.
const fn bit(f: VcmdqErrors::Fld) -> u32 {
    f.mask << f.shift
}

/// Counters of the window, for the VMM's logs and the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CmdqvStats {
    /// Guest accesses trapped into the window.
    pub traps: u64,
    /// Trapped accesses that reached the VINTF page (a live queue).
    pub page_accesses: u64,
    /// Accesses outside the model's registers (read as zero, writes ignored).
    pub ignored: u64,
    /// `GERROR.CMDQ_INIT_ERR` raised (HW queue allocation failures).
    pub init_errors: u64,
    /// Queue errors the host reported on the vEVENTQ.
    pub queue_errors: u64,
    /// Edges raised on the CMDQV interrupt.
    pub irqs: u64,
}

/// The CMDQV front end. It owns the register cache; the [`Lifecycle`] (owned by
/// the vSMMUv3 core, which shares its kernel objects) is passed to each access.
pub struct Cmdqv {
    regs: RegFile,
    st: State,
    irq: Arc<dyn IrqLine>,
}

/// Where a guest access of the window goes.
enum Route {
    /// Outside the model (another VINTF or VCMDQ, beyond the window).
    Ignore,
    /// Page-0 register `reg` of logical VCMDQ `lidx`, which has a HW queue.
    Page { lidx: usize, reg: u64 },
    /// The register file (the cache) and its hooks.
    Regs,
}

impl Cmdqv {
    /// A CMDQV window raising `irq` for queue errors, offering `lvcmdqs`
    /// VCMDQs (the lifecycle's [`Lifecycle::num_lvcmdqs`]; a power of two,
    /// at most 128: larger counts are clamped) of at most `2^max_log2size`
    /// entries (the vSMMUv3's IDR1.CMDQS, so a queue fits in one backing
    /// page of guest RAM), in guest RAM `mem`.
    pub fn new(
        irq: Arc<dyn IrqLine>,
        max_log2size: u32,
        lvcmdqs: usize,
        mem: Arc<dyn GuestMemory>,
    ) -> Self {
        let n = lvcmdqs.clamp(1, super::lifecycle::MAX_LVCMDQS);
        let mut regs = RegFile::new();
        regs.set_param(guest_param(n));
        Cmdqv {
            regs,
            st: State {
                n,
                max_log2: max_log2size.min(super::lifecycle::MAX_LOG2_ENTRIES),
                mem,
                halves: vec![0; n],
                latched: vec![0; n],
                base_store: BaseStore::Whole,
                trace: Vec::new(),
                raise: false,
                stats: CmdqvStats::default(),
            },
            irq,
        }
    }

    /// The register cache (device side, for inspection).
    pub fn regs(&self) -> &RegFile {
        &self.regs
    }

    /// Counters.
    pub fn stats(&self) -> CmdqvStats {
        self.st.stats
    }

    /// The lifecycle transitions since the last call, in order.
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.st.trace)
    }

    fn route(&self, lc: &Lifecycle, offset: u64, size: usize) -> Route {
        if offset >= CMDQV_WINDOW {
            return Route::Ignore;
        }
        let alloc_map = CMDQ_ALLOC_MAP::OFFSET as u64;
        let queue = |base: u64| -> Option<(usize, u64)> {
            let rel = offset.checked_sub(base)?;
            let q = (rel / VCMDQ_STRIDE) as usize;
            (rel < PAGE).then_some((q, rel % VCMDQ_STRIDE))
        };
        // Registers of VINTFs, VCMDQs or logical VCMDQs the model lacks.
        let n = self.st.n;
        let maps = alloc_map + 4 * n as u64..alloc_map + 4 * CMDQ_ALLOC_MAP::COUNT as u64;
        let beyond = maps.contains(&offset) || (VINTF0 + VINTF_STRIDE..VINTF_END).contains(&offset);
        if beyond {
            return Route::Ignore;
        }
        let page1 = VCMDQ_PAGE1::BASE::OFFSET as u64;
        for base in [VCMDQ_PAGE0, page1, VINTF0_PAGE0, VINTF0_PAGE0 + PAGE] {
            if let Some((q, reg)) = queue(base) {
                if q >= n {
                    return Route::Ignore;
                }
                let lidx = if base == VCMDQ_PAGE0 {
                    lidx_of(&self.regs, n, q)
                } else if base == VINTF0_PAGE0 {
                    Some(q)
                } else {
                    None
                };
                if let Some(lidx) = lidx {
                    if reg < VCMDQ_REGS && size == 4 && in_page(lc, lidx) {
                        return Route::Page { lidx, reg };
                    }
                }
                return Route::Regs;
            }
        }
        Route::Regs
    }

    /// A trapped guest load of `data.len()` bytes at `offset` in the window.
    /// Unmapped or malformed accesses read as zero.
    pub fn read(&mut self, lc: &mut Lifecycle, offset: u64, data: &mut [u8]) {
        self.st.stats.traps += 1;
        match self.route(lc, offset, data.len()) {
            Route::Ignore => {
                self.st.stats.ignored += 1;
                data.fill(0);
            }
            Route::Page { lidx, reg } => {
                self.st.stats.page_accesses += 1;
                let v = lc
                    .page()
                    .and_then(|p| p.read32(page_off(lidx, reg)))
                    .unwrap_or(0);
                data.copy_from_slice(&v.to_le_bytes());
            }
            Route::Regs => {
                if offset < VCMDQ_PAGE0 {
                    self.refresh_errors(lc);
                }
                let mut hk = Hk {
                    lc,
                    st: &mut self.st,
                };
                if self.regs.read_bytes(&mut hk, offset, data).is_err() {
                    self.st.stats.ignored += 1;
                    data.fill(0);
                }
            }
        }
    }

    /// A trapped guest store of `data` at `offset` in the window. Unmapped or
    /// malformed accesses are ignored.
    pub fn write(&mut self, lc: &mut Lifecycle, offset: u64, data: &[u8]) {
        self.st.stats.traps += 1;
        match self.route(lc, offset, data.len()) {
            Route::Ignore => self.st.stats.ignored += 1,
            Route::Page { lidx, reg } => {
                self.st.stats.page_accesses += 1;
                let v = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                if let Some(p) = lc.page() {
                    match reg {
                        // STATUS and GERROR are the hardware's.
                        QSTATUS | GERROR => {}
                        // CMDQ_INIT_ERR is the model's, and a queue in the
                        // page has none: the guest cannot raise it here.
                        GERRORN => {
                            let ge = p.read32(page_off(lidx, GERROR)).unwrap_or(0);
                            let v = (v & !INIT_ERR) | (ge & INIT_ERR);
                            p.write32(page_off(lidx, reg), v);
                        }
                        _ => {
                            p.write32(page_off(lidx, reg), v);
                        }
                    }
                }
                self.kick(lc);
            }
            Route::Regs => {
                self.st.base_store = match (data.len(), offset & 4) {
                    (8, _) => BaseStore::Whole,
                    (_, 0) => BaseStore::Low,
                    _ => BaseStore::High,
                };
                let mut hk = Hk {
                    lc,
                    st: &mut self.st,
                };
                if self.regs.write_bytes(&mut hk, offset, data).is_err() {
                    self.st.stats.ignored += 1;
                }
                self.st.base_store = BaseStore::Whole;
                self.sync_region(lc);
                self.raise_if_needed(lc);
            }
        }
    }

    /// A device was plugged: the lifecycle catches up with what the guest
    /// already enabled (pending queues allocated, page installed; a failure
    /// is a CMDQ_INIT_ERR like any other).
    pub fn plugged(&mut self, lc: &mut Lifecycle) {
        let t = lc.catch_up(&mut Cache {
            regs: &mut self.regs,
            st: &mut self.st,
        });
        Hk {
            lc,
            st: &mut self.st,
        }
        .absorb(t);
        self.raise_if_needed(lc);
    }

    /// Lets the hardware act on guest stores to the VINTF page and collects
    /// the queue errors it reported. On a real host the hardware runs by
    /// itself (the lifecycle has no [`crate::backend::Kick`]), so this only
    /// polls the vEVENTQ; the VMM calls it when the vEVENTQ is readable.
    pub fn kick(&mut self, lc: &mut Lifecycle) {
        let _ = lc.kick();
        self.service(lc);
    }

    /// Reads the vEVENTQ: the host's LVCMDQ error maps become the guest's
    /// error maps and an interrupt (unless masked).
    pub fn service(&mut self, lc: &mut Lifecycle) {
        if let Ok(ev) = lc.poll_errors() {
            if ev.err_map != 0 || ev.lost {
                self.st.stats.queue_errors += u64::from(ev.err_map.count_ones());
                self.st.raise = true;
            }
        }
        self.raise_if_needed(lc);
    }

    /// After a trapped store (a GERRORN acknowledgement of CMDQ_INIT_ERR, say):
    /// the page goes back into guest MMIO if nothing holds it out any more.
    fn sync_region(&mut self, lc: &mut Lifecycle) {
        let t = lc.sync(&mut Cache {
            regs: &mut self.regs,
            st: &mut self.st,
        });
        self.st.trace.extend(t);
    }

    fn raise_if_needed(&mut self, lc: &Lifecycle) {
        if !std::mem::take(&mut self.st.raise) {
            return;
        }
        self.refresh_errors(lc);
        let masked = self.regs.vintf_int_mask(0).unwrap_or(0) & 1 != 0;
        let pending = self.regs.vintf_err_map(0).unwrap_or(0) & 1 != 0;
        if pending && !masked {
            self.st.stats.irqs += 1;
            self.irq.pulse();
        }
    }

    /// Recomputes the error maps from the queues' GERROR/GERRORN, read where
    /// each queue's registers live.
    fn refresh_errors(&mut self, lc: &Lifecycle) {
        let mut lmap = 0u128;
        let mut qmap = 0u128;
        for (q, lidx) in owners(&self.regs, self.st.n) {
            let errs = match (lidx.filter(|l| in_page(lc, *l)), lc.page()) {
                (Some(l), Some(p)) => {
                    let rd = |reg| p.read32(page_off(l, reg)).unwrap_or(0);
                    (rd(GERROR) ^ rd(GERRORN)) & ERR_BITS
                }
                _ => pending(&self.regs, q),
            };
            if errs != 0 {
                qmap |= 1 << q;
                if let Some(l) = lidx {
                    lmap |= 1 << l;
                }
            }
        }
        // CMDQ_ERR_MAP: 32 global VCMDQs a word; LVCMDQ_ERR_MAP: 64
        // logical VCMDQs a doubleword.
        for m in 0..cmdqv_regs::CMDQ_ERR_MAP::COUNT as u32 {
            let _ = self.regs.set_cmdq_err_map(m, (qmap >> (32 * m)) as u32);
        }
        for m in 0..VINTF::LVCMDQ_ERR_MAP::COUNT as u32 {
            let _ = self
                .regs
                .set_vintf_lvcmdq_err_map(0, m, (lmap >> (64 * m)) as u64);
        }
        let _ = self.regs.set_vintf_err_map(0, u32::from(lmap != 0));
        let status = if lmap != 0 {
            VINTF_STATUS_VCMDQ_ERROR
        } else {
            0
        };
        let _ = self.regs.update_vintf_status(
            0,
            VINTF::STATUS::STATUS.mask << VINTF::STATUS::STATUS.shift,
            VINTF::STATUS::STATUS.val(status).value,
        );
    }

    /// A reset of the CMDQV: the lifecycle frees the queues (descending) and
    /// removes the page; every register returns to its reset value.
    pub fn reset(&mut self, lc: &mut Lifecycle) {
        let t = lc.reset(&mut Cache {
            regs: &mut self.regs,
            st: &mut self.st,
        });
        self.st.trace.extend(t);
        self.regs.reset();
        self.regs.set_param(guest_param(self.st.n));
        self.st.halves.fill(0);
        self.st.latched.fill(0);
        self.st.raise = false;
    }
}

/// Whether logical VCMDQ `lidx`'s page-0 registers live in the VINTF page
/// (see [`QueueRegCache`]): it has a HW queue, or the page is installed.
fn in_page(lc: &Lifecycle, lidx: usize) -> bool {
    lc.queue_allocated(lidx) || lc.region_installed()
}

/// PARAM of the guest-visible instance: version 1, `n` VCMDQs (a power of
/// two), one VINTF, [`super::lifecycle::NUM_SIDS`] SID slots. A guest
/// divides the VCMDQs by the VINTFs: `n` logical VCMDQs in VINTF 0.
fn guest_param(n: usize) -> u32 {
    use cmdqv_regs::PARAM;
    PARAM::VER.val(1).value
        | PARAM::NUM_VCMDQ_LOG2.val(n.trailing_zeros()).value
        | PARAM::NUM_VINTF_LOG2.val(0).value
        | PARAM::NUM_SID_PER_VM_LOG2
            .val(super::lifecycle::NUM_SIDS.trailing_zeros())
            .value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_map() {
        assert_eq!(PROD, 0x4);
        assert_eq!(GERRORN, 0x14);
        assert_eq!(
            VINTF0_PAGE0,
            cmdqv_regs::VINTF_PAGE0::LVCMDQ::CONS::OFFSET as u64
        );
        assert_eq!(
            guest_param(super::super::lifecycle::NUM_LVCMDQS),
            cmdqv_regs::PARAM::RESET
        );
        let log2 = |n| cmdqv_regs::PARAM::NUM_VCMDQ_LOG2.read(guest_param(n));
        assert_eq!([1, 2, 8, 128].map(log2), [0, 1, 3, 7]);
        assert_eq!(
            INIT_ERR,
            VcmdqErrors::CMDQ_INIT_ERR.mask << VcmdqErrors::CMDQ_INIT_ERR.shift
        );
        assert_eq!(
            cmdqv_regs::VINTF_PAGE0::LVCMDQ::GERRORN::OFFSET as u64 - VINTF0_PAGE0,
            GERRORN
        );
    }
}
