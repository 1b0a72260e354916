//! What a guest write to a CMDQV register does beyond the register file:
//! the hooks the generated `cmdqv-regs` dispatcher calls turn CONFIG,
//! CMDQ_ALLOC_MAP, VINTF0 CONFIG and a VCMDQ's BASE into [`Lifecycle`]
//! events; and the register cache ([`Cache`]) that keeps the
//! [`QueueRegCache`] contract: where each queue's registers live, their
//! moves between the cache and the VINTF page, CMDQ_INIT_ERR on an
//! allocation failure. The guest-visible rules are listed in
//! [`super::device`].

use std::sync::Arc;

use cmdqv_regs::regfile::{Hooks, RegFile, Write};
use cmdqv_regs::{CMDQ_ALLOC_MAP, CONFIG, STATUS, VCMDQ, VCMDQ_PAGE1, VINTF};

use super::device::{
    CmdqvStats, CONS, CONS_ERR, ERR_BITS, GERROR, GERRORN, INIT_ERR, PROD, QCONFIG, VCMDQ_STRIDE,
};
use super::lifecycle::{Lifecycle, QueueBase, QueueRegCache, Transition};
use crate::backend::VintfPage;
use crate::vmm::GuestMemory;

/// Which part of a 64-bit BASE a guest store wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BaseStore {
    /// All 64 bits at once.
    Whole,
    /// Bits 31:0.
    Low,
    /// Bits 63:32.
    High,
}

impl BaseStore {
    /// The halves it covers, as the bits of [`State::halves`].
    fn halves(self) -> u8 {
        match self {
            BaseStore::Whole => 3,
            BaseStore::Low => 1,
            BaseStore::High => 2,
        }
    }
}

/// State the hooks need besides the register file.
pub(super) struct State {
    /// The logical VCMDQs of VINTF 0, and the global VCMDQs the model has:
    /// the lifecycle's count.
    pub(super) n: usize,
    pub(super) max_log2: u32,
    /// Guest RAM: a BASE is programmed only if its queue lies wholly in it.
    pub(super) mem: Arc<dyn GuestMemory>,
    /// Per global VCMDQ: the halves of BASE written since its last complete
    /// value (bit 0 the low half, bit 1 the high half).
    pub(super) halves: Vec<u8>,
    /// Per global VCMDQ: BASE's last complete value, what the lifecycle saw.
    pub(super) latched: Vec<u64>,
    /// Set by the front end before dispatching a store: what part of a BASE
    /// it writes, if it is one.
    pub(super) base_store: BaseStore,
    pub(super) trace: Vec<Transition>,
    /// An error appeared that the guest must be interrupted for.
    pub(super) raise: bool,
    pub(super) stats: CmdqvStats,
}

impl State {
    /// Toggles global VCMDQ `q`'s `GERROR.CMDQ_INIT_ERR` in the cache unless
    /// an init error is pending already, and asks for the interrupt.
    pub(super) fn init_error(&mut self, regs: &mut RegFile, q: usize) {
        if pending(regs, q) & INIT_ERR == 0 {
            let ge = regs.vcmdq_gerror(q as u32).unwrap_or(0);
            let _ = regs.set_vcmdq_gerror(q as u32, ge ^ INIT_ERR);
            self.stats.init_errors += 1;
            self.raise = true;
        }
    }

    /// BASE value `raw` as the lifecycle takes it: programmed when the
    /// whole queue (its size clamped to what the model advertises) is guest
    /// RAM.
    fn programmed(&self, raw: u64) -> Option<QueueBase> {
        let addr = raw & (VCMDQ_PAGE1::BASE::ADDR.mask << VCMDQ_PAGE1::BASE::ADDR.shift);
        let log2 = (VCMDQ_PAGE1::BASE::LOG2SIZE.read(raw) as u32).min(self.max_log2);
        let base = QueueBase::new(addr, log2);
        is_guest_ram(self.mem.as_ref(), base.addr, base.bytes()).then_some(base)
    }
}

/// Whether every byte of `[gpa, gpa + len)` is guest RAM (one look-up of the
/// memory's regions; whether it is physically contiguous is the kernel's
/// check, on the HW queue allocation).
fn is_guest_ram(mem: &dyn GuestMemory, gpa: u64, len: u64) -> bool {
    mem.is_backed(gpa, len)
}

/// The error bits of global VCMDQ `q` the cache shows pending
/// (GERROR ^ GERRORN).
pub(super) fn pending(regs: &RegFile, q: usize) -> u32 {
    let q = q as u32;
    (regs.vcmdq_gerror(q).unwrap_or(0) ^ regs.vcmdq_gerrorn(q).unwrap_or(0)) & ERR_BITS
}

/// The global VCMDQs (of the `n` the model has) allocated to a logical
/// VCMDQ of VINTF 0, ascending, with that logical VCMDQ: one pass over
/// CMDQ_ALLOC_MAP. Two global queues mapped to one logical queue: the lower
/// one owns it.
pub(super) fn mapped(regs: &RegFile, n: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    owners(regs, n).filter_map(|(q, l)| l.map(|l| (q, l)))
}

/// Each of the `n` global VCMDQs with the logical VCMDQ of VINTF 0 it owns,
/// if any (see [`mapped`]): one pass over CMDQ_ALLOC_MAP.
pub(super) fn owners(
    regs: &RegFile,
    n: usize,
) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
    // n <= MAX_LVCMDQS = 128: one bit per logical queue.
    let mut owned = 0u128;
    (0..n.min(u128::BITS as usize)).map(move |q| {
        let l = lidx_of_raw(regs, q).filter(|l| *l < n && owned & (1 << l) == 0);
        if let Some(l) = l {
            owned |= 1 << l;
        }
        (q, l)
    })
}

/// The logical VCMDQ of VINTF 0 that global VCMDQ `q` is allocated to.
pub(super) fn lidx_of(regs: &RegFile, n: usize, q: usize) -> Option<usize> {
    if q >= n {
        return None;
    }
    let l = lidx_of_raw(regs, q).filter(|l| *l < n)?;
    (0..q).all(|p| lidx_of_raw(regs, p) != Some(l)).then_some(l)
}

/// The logical VCMDQ of VINTF 0 that `CMDQ_ALLOC_MAP[q]` names, unchecked.
fn lidx_of_raw(regs: &RegFile, q: usize) -> Option<usize> {
    let m = regs.cmdq_alloc_map(q as u32)?;
    (CMDQ_ALLOC_MAP::ALLOC.is_set(m) && CMDQ_ALLOC_MAP::VIRT_INTF_INDX.read(m) == 0)
        .then_some(CMDQ_ALLOC_MAP::LVCMDQ.read(m) as usize)
}

/// The global VCMDQ allocated to logical VCMDQ `lidx` of VINTF 0: the
/// lowest one CMDQ_ALLOC_MAP maps to it.
pub(super) fn q_of(regs: &RegFile, n: usize, lidx: usize) -> Option<usize> {
    if lidx >= n {
        return None;
    }
    (0..n).find(|&q| lidx_of_raw(regs, q) == Some(lidx))
}

/// Offset of a logical VCMDQ's register in the VINTF page.
pub(super) fn page_off(lidx: usize, reg: u64) -> usize {
    lidx * VCMDQ_STRIDE as usize + reg as usize
}

/// The register cache as the lifecycle sees it.
pub(super) struct Cache<'a> {
    pub(super) regs: &'a mut RegFile,
    pub(super) st: &'a mut State,
}

impl QueueRegCache for Cache<'_> {
    fn to_page(&mut self, lidx: usize, page: &VintfPage) {
        let Some(q) = q_of(self.regs, self.st.n, lidx) else {
            return;
        };
        let r = &*self.regs;
        let qi = q as u32;
        page.write32(page_off(lidx, CONS), r.vcmdq_cons(qi).unwrap_or(0));
        page.write32(page_off(lidx, PROD), r.vcmdq_prod(qi).unwrap_or(0));
        // GERROR is the hardware's: carry the pending errors over (not
        // CMDQ_INIT_ERR, which is the model's and keeps the page out).
        let ge = page.read32(page_off(lidx, GERROR)).unwrap_or(0);
        let carried = pending(r, q) & !INIT_ERR;
        page.write32(page_off(lidx, GERRORN), ge ^ carried);
        page.write32(page_off(lidx, QCONFIG), r.vcmdq_config(qi).unwrap_or(0));
    }

    fn to_cache(&mut self, lidx: usize, page: &VintfPage) {
        let Some(q) = q_of(self.regs, self.st.n, lidx) else {
            return;
        };
        let rd = |reg| page.read32(page_off(lidx, reg)).unwrap_or(0);
        let from_page = (rd(GERROR) ^ rd(GERRORN)) & ERR_BITS & !INIT_ERR;
        let keep = pending(self.regs, q) & INIT_ERR;
        let qi = q as u32;
        let r = &mut *self.regs;
        let _ = r.set_vcmdq_cons(qi, rd(CONS));
        let _ = r.set_vcmdq_prod(qi, rd(PROD));
        let _ = r.set_vcmdq_config(qi, rd(QCONFIG));
        // No HW queue from now on: nothing reports the queue enabled.
        let _ = r.set_vcmdq_status(qi, 0);
        let ge = r.vcmdq_gerror(qi).unwrap_or(0);
        let _ = r.set_vcmdq_gerrorn(qi, ge ^ (from_page | keep));
    }

    fn new_queue(&mut self, lidx: usize, page: &VintfPage, from_cache: bool) {
        let Some(q) = q_of(self.regs, self.st.n, lidx) else {
            return;
        };
        let qi = q as u32;
        let r = &mut *self.regs;
        let cons = if from_cache {
            page.write32(page_off(lidx, PROD), r.vcmdq_prod(qi).unwrap_or(0));
            r.vcmdq_cons(qi).unwrap_or(0)
        } else {
            page.read32(page_off(lidx, CONS)).unwrap_or(0)
        };
        page.write32(page_off(lidx, CONS), cons & !CONS_ERR);
        let ge = page.read32(page_off(lidx, GERROR)).unwrap_or(0);
        page.write32(page_off(lidx, GERRORN), ge);
        // The model's init error is over: the queue exists.
        let gn = r.vcmdq_gerrorn(qi).unwrap_or(0);
        let _ = r.set_vcmdq_gerrorn(qi, gn ^ (pending(r, q) & INIT_ERR));
        if from_cache {
            // Enable last, as a driver would.
            page.write32(page_off(lidx, QCONFIG), r.vcmdq_config(qi).unwrap_or(0));
        }
    }

    fn init_error(&mut self, lidx: usize) {
        if let Some(q) = q_of(self.regs, self.st.n, lidx) {
            self.st.init_error(self.regs, q);
        }
    }

    fn hold_page(&self) -> bool {
        // A pending CMDQ_INIT_ERR is on a queue without a HW queue (a new
        // queue drops it): while the guest has not acknowledged it, it must
        // read it from the trapped registers.
        mapped(self.regs, self.st.n).any(|(q, _)| pending(self.regs, q) & INIT_ERR != 0)
    }
}

/// The hooks of one guest access: the register file's side effects on the
/// lifecycle.
pub(super) struct Hk<'a> {
    pub(super) lc: &'a mut Lifecycle,
    pub(super) st: &'a mut State,
}

impl Hk<'_> {
    /// Records what an event changed.
    pub(super) fn absorb(&mut self, t: Vec<Transition>) {
        if t.iter()
            .any(|tr| matches!(tr, Transition::QueueAllocated { .. }))
        {
            // The restored registers may ask the queue to run.
            let _ = self.lc.kick();
        }
        self.st.trace.extend(t);
    }

    /// Hands global VCMDQ `q`'s last complete BASE to the logical queue it
    /// is mapped to.
    fn push_base(&mut self, regs: &mut RegFile, q: usize) {
        let Some(lidx) = lidx_of(regs, self.st.n, q) else {
            return;
        };
        let base = self
            .st
            .latched
            .get(q)
            .and_then(|raw| self.st.programmed(*raw));
        let mut cache = Cache {
            regs,
            st: &mut *self.st,
        };
        if let Ok(t) = self.lc.write_base(lidx, base, &mut cache) {
            self.absorb(t);
        }
    }
}

impl Hooks for Hk<'_> {
    fn config_write(&mut self, regs: &mut RegFile, w: Write<'_, CONFIG::Value>) {
        let en = w.new.is_set(CONFIG::CMDQV_EN);
        let t = self.lc.set_cmdqv_enable(
            en,
            &mut Cache {
                regs,
                st: &mut *self.st,
            },
        );
        regs.update_status(
            STATUS::CMDQV_ENABLED.mask,
            STATUS::CMDQV_ENABLED.val(u32::from(en)).value,
        );
        self.absorb(t);
    }

    fn alloc_map_write(&mut self, regs: &mut RegFile, w: Write<'_, CMDQ_ALLOC_MAP::Value>) {
        let Some(&q) = w.idx.first() else { return };
        let q = q as usize;
        let n = self.st.n;
        if q >= n {
            return;
        }
        let now = regs.cmdq_alloc_map(q as u32).unwrap_or(0);
        let after = lidx_of(regs, n, q);
        // Who owned the logical queue before the write: the old value is put
        // back while the lifecycle saves the queue it unmaps.
        let _ = regs.set_cmdq_alloc_map(q as u32, w.old.get());
        let before = lidx_of(regs, n, q);
        // Unmapped (or remapped): the logical queue loses its HW queue.
        let freed = before.filter(|l| Some(*l) != after).map(|l| {
            self.lc.set_alloc(
                l,
                false,
                &mut Cache {
                    regs,
                    st: &mut *self.st,
                },
            )
        });
        let _ = regs.set_cmdq_alloc_map(q as u32, now);
        if let Some(Ok(t)) = freed {
            self.absorb(t);
        }
        if let Some(l) = after {
            self.push_base(regs, q);
            if let Ok(t) = self.lc.set_alloc(
                l,
                true,
                &mut Cache {
                    regs,
                    st: &mut *self.st,
                },
            ) {
                self.absorb(t);
            }
        }
    }

    fn vintf_config_write(&mut self, regs: &mut RegFile, w: Write<'_, VINTF::CONFIG::Value>) {
        if w.idx.first() != Some(&0) {
            return;
        }
        // HYP_OWN is the host's: a guest-owned VINTF never has it.
        let guest = w.new.with(VINTF::CONFIG::HYP_OWN::CLEAR);
        let _ = regs.set_vintf_config(0, guest.get());
        let en = w.new.is_set(VINTF::CONFIG::ENABLE);
        let t = self.lc.set_vintf_enable(
            en,
            &mut Cache {
                regs,
                st: &mut *self.st,
            },
        );
        let _ = regs.update_vintf_status(
            0,
            VINTF::STATUS::ENABLE_OK.mask,
            VINTF::STATUS::ENABLE_OK.val(u32::from(en)).value,
        );
        self.absorb(t);
    }

    fn vcmdq_config_write(&mut self, regs: &mut RegFile, w: Write<'_, VCMDQ::CONFIG::Value>) {
        // Trapped, so the queue has no HW queue: nothing takes the enable
        // up and CMDQ_EN_OK stays 0 (the hardware sets it, see `route`).
        let Some(&q) = w.idx.first() else { return };
        let _ = regs.set_vcmdq_status(q, 0);
    }

    fn vcmdq_base_write(&mut self, regs: &mut RegFile, w: Write<'_, VCMDQ_PAGE1::BASE::Value>) {
        let Some(&q) = w.idx.first() else { return };
        let q = q as usize;
        let Some(h) = self.st.halves.get_mut(q) else {
            return;
        };
        *h |= self.st.base_store.halves();
        if *h != 3 {
            // Half a value: the other half decides what the queue is.
            return;
        }
        *h = 0;
        self.st.latched[q] = regs.vcmdq_page1_base(q as u32).unwrap_or(0);
        self.push_base(regs, q);
    }

    fn lvcmdq_to_vcmdq(&mut self, regs: &RegFile, idx: &[u32]) -> Option<[u32; 1]> {
        match idx {
            [0, l] => q_of(regs, self.st.n, *l as usize).map(|q| [q as u32]),
            _ => None,
        }
    }
}
