//! What a guest write to a CMDQV register does beyond the register file:
//! the hooks the generated `cmdqv-regs` dispatcher calls turn CONFIG,
//! CMDQ_ALLOC_MAP, VINTF0 CONFIG and a VCMDQ's BASE into [`Lifecycle`]
//! events, an allocation failure into GERROR.CMDQ_INIT_ERR; and the
//! register cache the lifecycle saves queues into and restores them from
//! ([`Cache`]). The guest-visible rules are listed in [`super::device`].

use cmdqv_regs::regfile::{Hooks, Reg, RegFile};
use cmdqv_regs::{CMDQ_ALLOC_MAP, CONFIG, STATUS, VCMDQ, VCMDQ_PAGE1, VINTF};

use super::device::{
    CmdqvStats, CONS, GERROR, GERRORN, INIT_ERR, PROD, QCONFIG, QSTATUS, VCMDQ_STRIDE,
};
use super::lifecycle::{Lifecycle, QueueRegCache, Transition, NUM_LVCMDQS};
use crate::backend::VintfPage;

/// State the hooks need besides the register file.
pub(super) struct State {
    pub(super) max_log2: u32,
    /// BASE of global VCMDQ `q` was written (see the module documentation).
    pub(super) base_written: [bool; NUM_LVCMDQS],
    /// Set by the front end before dispatching a write: whether a BASE
    /// write completes the register (64-bit or upper half).
    pub(super) base_complete: bool,
    pub(super) trace: Vec<Transition>,
    /// An error appeared that the guest must be interrupted for.
    pub(super) raise: bool,
    pub(super) stats: CmdqvStats,
}

impl State {
    /// Toggles global VCMDQ `q`'s `GERROR.CMDQ_INIT_ERR` in the cache unless
    /// an init error is pending already, and asks for the interrupt.
    pub(super) fn init_error(&mut self, regs: &mut RegFile, q: usize) {
        let q = q as u32;
        let ge = regs.vcmdq_gerror(q).unwrap_or(0);
        let gn = regs.vcmdq_gerrorn(q).unwrap_or(0);
        if (ge ^ gn) & INIT_ERR == 0 {
            let _ = regs.set_vcmdq_gerror(q, ge ^ INIT_ERR);
            self.stats.init_errors += 1;
            self.raise = true;
        }
    }
}

/// The logical VCMDQ of VINTF 0 that global VCMDQ `q` is allocated to.
pub(super) fn lidx_of(regs: &RegFile, q: usize) -> Option<usize> {
    if q >= NUM_LVCMDQS {
        return None;
    }
    let l = lidx_of_raw(regs, q)?;
    // Two global queues mapped to one logical queue: the lower one owns it.
    (l < NUM_LVCMDQS && (0..q).all(|p| lidx_of_raw(regs, p) != Some(l))).then_some(l)
}

/// The logical VCMDQ of VINTF 0 that `CMDQ_ALLOC_MAP[q]` names, unchecked.
fn lidx_of_raw(regs: &RegFile, q: usize) -> Option<usize> {
    let m = regs.cmdq_alloc_map(q as u32)?;
    (CMDQ_ALLOC_MAP::ALLOC.is_set(m) && CMDQ_ALLOC_MAP::VIRT_INTF_INDX.read(m) == 0)
        .then_some(CMDQ_ALLOC_MAP::LVCMDQ.read(m) as usize)
}

/// The global VCMDQ allocated to logical VCMDQ `lidx` of VINTF 0.
pub(super) fn q_of(regs: &RegFile, lidx: usize) -> Option<usize> {
    (0..NUM_LVCMDQS).find(|&q| lidx_of(regs, q) == Some(lidx))
}

/// Offset of a logical VCMDQ's register in the VINTF page.
pub(super) fn page_off(lidx: usize, reg: u64) -> usize {
    lidx * VCMDQ_STRIDE as usize + reg as usize
}

/// The register cache as the lifecycle sees it.
pub(super) struct Cache<'a> {
    pub(super) regs: &'a mut RegFile,
}

impl QueueRegCache for Cache<'_> {
    fn restore(&mut self, lidx: usize, page: &VintfPage) {
        let Some(q) = q_of(self.regs, lidx) else {
            return;
        };
        let q = q as u32;
        let cons = self.regs.vcmdq_cons(q).unwrap_or(0)
            & !(VCMDQ::CONS::ERR.mask << VCMDQ::CONS::ERR.shift);
        page.write32(page_off(lidx, CONS), cons);
        page.write32(page_off(lidx, PROD), self.regs.vcmdq_prod(q).unwrap_or(0));
        // A fresh queue has no error; errors of the cached queue (an init
        // error) are not the hardware's to report.
        let gerror = page.read32(page_off(lidx, GERROR)).unwrap_or(0);
        page.write32(page_off(lidx, GERRORN), gerror);
        // Enable last, as a driver would.
        page.write32(
            page_off(lidx, QCONFIG),
            self.regs.vcmdq_config(q).unwrap_or(0),
        );
    }

    fn save(&mut self, lidx: usize, page: &VintfPage) {
        let Some(q) = q_of(self.regs, lidx) else {
            return;
        };
        let q = q as u32;
        let r = |reg| page.read32(page_off(lidx, reg)).unwrap_or(0);
        let _ = self.regs.set_vcmdq_cons(q, r(CONS));
        let _ = self.regs.set_vcmdq_prod(q, r(PROD));
        let _ = self.regs.set_vcmdq_config(q, r(QCONFIG));
        let _ = self.regs.set_vcmdq_status(q, r(QSTATUS));
        let _ = self.regs.set_vcmdq_gerror(q, r(GERROR));
        let _ = self.regs.set_vcmdq_gerrorn(q, r(GERRORN));
    }
}

/// The hooks of one guest access: the register file's side effects on the
/// lifecycle.
pub(super) struct Hk<'a> {
    pub(super) lc: &'a mut Lifecycle,
    pub(super) st: &'a mut State,
}

impl Hk<'_> {
    /// Records what an event changed and reacts to init errors.
    fn absorb(&mut self, regs: &mut RegFile, t: Vec<Transition>) {
        for tr in &t {
            match tr {
                Transition::QueueInitError { lidx, .. } => {
                    if let Some(q) = q_of(regs, *lidx) {
                        self.st.init_error(regs, q);
                    }
                }
                Transition::QueueAllocated { .. } => {
                    // The restored registers may ask the queue to run.
                    let _ = self.lc.kick();
                }
                _ => {}
            }
        }
        self.st.trace.extend(t);
    }

    fn retry_base(&mut self, regs: &mut RegFile, q: usize) {
        let Some(lidx) = lidx_of(regs, q) else { return };
        if !self.st.base_written[q] {
            return;
        }
        let base = regs.vcmdq_page1_base(q as u32).unwrap_or(0);
        let addr = base & (VCMDQ_PAGE1::BASE::ADDR.mask << VCMDQ_PAGE1::BASE::ADDR.shift);
        let log2 = (VCMDQ_PAGE1::BASE::LOG2SIZE.read(base) as u32).min(self.st.max_log2);
        if let Ok(t) = self.lc.write_base(lidx, addr, log2, &mut Cache { regs }) {
            self.absorb(regs, t);
        }
    }
}

impl Hooks for Hk<'_> {
    fn config_write(&mut self, regs: &mut RegFile, _reg: Reg, _idx: &[u32], _old: u64, new: u64) {
        let en = CONFIG::CMDQV_EN.is_set(new as u32);
        let t = self.lc.set_cmdqv_enable(en, &mut Cache { regs });
        regs.update_status(
            STATUS::CMDQV_ENABLED.mask,
            STATUS::CMDQV_ENABLED.val(u32::from(en)).value,
        );
        self.absorb(regs, t);
    }

    fn alloc_map_write(&mut self, regs: &mut RegFile, _reg: Reg, idx: &[u32], old: u64, _new: u64) {
        let Some(&q) = idx.first() else { return };
        let q = q as usize;
        if q >= NUM_LVCMDQS {
            return;
        }
        let now = regs.cmdq_alloc_map(q as u32).unwrap_or(0);
        let after = lidx_of(regs, q);
        // Who owned the logical queue before the write: the old value is put
        // back while the lifecycle saves the queue it unmaps.
        let _ = regs.set_cmdq_alloc_map(q as u32, old as u32);
        let before = lidx_of(regs, q);
        // Unmapped (or remapped): the logical queue loses its HW queue.
        let freed = before
            .filter(|l| Some(*l) != after)
            .map(|l| self.lc.set_alloc(l, false, &mut Cache { regs }));
        let _ = regs.set_cmdq_alloc_map(q as u32, now);
        if let Some(Ok(t)) = freed {
            self.absorb(regs, t);
        }
        if let Some(l) = after {
            self.retry_base(regs, q);
            if let Ok(t) = self.lc.set_alloc(l, true, &mut Cache { regs }) {
                self.absorb(regs, t);
            }
        }
    }

    fn vintf_config_write(
        &mut self,
        regs: &mut RegFile,
        _reg: Reg,
        idx: &[u32],
        _old: u64,
        new: u64,
    ) {
        if idx.first() != Some(&0) {
            return;
        }
        // HYP_OWN is the host's: a guest-owned VINTF never has it.
        let hyp = VINTF::CONFIG::HYP_OWN.mask << VINTF::CONFIG::HYP_OWN.shift;
        let _ = regs.set_vintf_config(0, new as u32 & !hyp);
        let en = VINTF::CONFIG::ENABLE.is_set(new as u32);
        let t = self.lc.set_vintf_enable(en, &mut Cache { regs });
        let _ = regs.update_vintf_status(
            0,
            VINTF::STATUS::ENABLE_OK.mask,
            VINTF::STATUS::ENABLE_OK.val(u32::from(en)).value,
        );
        self.absorb(regs, t);
    }

    fn vcmdq_config_write(
        &mut self,
        regs: &mut RegFile,
        _reg: Reg,
        idx: &[u32],
        _old: u64,
        new: u64,
    ) {
        // Trapped path only (no HW queue): the status follows the enable.
        let Some(&q) = idx.first() else { return };
        let en = VCMDQ::CONFIG::CMDQ_EN.is_set(new as u32);
        let _ = regs.set_vcmdq_status(q, u32::from(en));
    }

    fn vcmdq_base_write(
        &mut self,
        regs: &mut RegFile,
        _reg: Reg,
        idx: &[u32],
        _old: u64,
        _new: u64,
    ) {
        let Some(&q) = idx.first() else { return };
        let q = q as usize;
        if q >= NUM_LVCMDQS || !self.st.base_complete {
            return;
        }
        self.st.base_written[q] = true;
        self.retry_base(regs, q);
    }

    fn lvcmdq_to_vcmdq(&mut self, regs: &RegFile, idx: &[u32]) -> Option<[u32; 1]> {
        match idx {
            [0, l] => q_of(regs, *l as usize).map(|q| [q as u32]),
            _ => None,
        }
    }
}
