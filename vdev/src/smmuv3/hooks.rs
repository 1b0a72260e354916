//! What a guest write to an SMMU register does beyond the register file:
//! the hooks the generated `smmuv3-regs` dispatcher calls (CR0 and its
//! acknowledgement, IRQ_CTRL, GBPA's UPDATE, the stream table and queue base
//! registers, CMDQ_PROD running the emulated command queue, GERRORN
//! resuming it). The guest-visible rules are listed in [`super::device`].

use smmuv3_regs::regfile::{Hooks, Reg, RegFile, Write};
use smmuv3_regs::{
    CMDQ_BASE, CMDQ_CONS, CMDQ_PROD, CR0, EVENTQ_BASE, EVENTQ_PROD, GBPA, GERROR, GERRORN,
    IRQ_CTRL, STRTAB_BASE, STRTAB_BASE_CFG,
};

use super::cmdq::Geometry;
use super::device::{DeviceStats, Irqs};
use super::idr::GuestIdrs;
use super::strtab;
use super::SmmuCore;

/// State the hooks need besides the register file and the core.
pub(super) struct State {
    pub(super) idrs: GuestIdrs,
    pub(super) irqs: Irqs,
    pub(super) stats: DeviceStats,
}

impl State {
    /// Toggles the GERROR bit `bit` (an error the guest must acknowledge in
    /// GERRORN) and pulses the GERROR interrupt when IRQ_CTRL enables it.
    pub(super) fn gerror(&mut self, regs: &mut RegFile, bit: u32) {
        regs.set_gerror(regs.gerror() ^ bit);
        if IRQ_CTRL::GERROR_IRQEN.is_set(regs.irq_ctrlack()) {
            self.stats.gerror_irqs += 1;
            self.irqs.gerror.pulse();
        }
    }
}

/// The hooks of one guest access.
pub(super) struct Hk<'a> {
    pub(super) core: &'a mut SmmuCore,
    pub(super) st: &'a mut State,
}

impl Hk<'_> {
    fn smmu_enabled(regs: &RegFile) -> bool {
        CR0::SMMUEN.is_set(regs.cr0ack())
    }

    fn latch_strtab(&mut self, regs: &RegFile) {
        let cfg = strtab::Config::from_regs(
            regs.strtab_base(),
            regs.strtab_base_cfg(),
            self.st.idrs.sidsize(),
        );
        self.core.set_strtab(cfg);
    }

    /// Runs the command queue if it is enabled and not stopped on an error.
    fn run_cmdq(&mut self, regs: &mut RegFile) {
        if !CR0::CMDQEN.is_set(regs.cr0ack()) {
            return;
        }
        if (regs.gerror() ^ regs.gerrorn()) & GERROR::CMDQ_ERR.val(1).value != 0 {
            return;
        }
        let g = Geometry::from_base(regs.cmdq_base(), self.st.idrs.cmdqs());
        let out = self.core.consume(g, regs.cmdq_prod(), regs.cmdq_cons());
        regs.set_cmdq_cons(out.cons);
        if out.error.is_some() {
            self.st.stats.cmdq_errors += 1;
            self.st.gerror(regs, GERROR::CMDQ_ERR.val(1).value);
        }
    }

    /// A stream table register: kept at `old` while SMMUEN is 1, else the
    /// stream table is latched from the new value.
    fn strtab_reg(&mut self, regs: &mut RegFile, reg: Reg, old: u64) {
        if Self::smmu_enabled(regs) {
            let _ = regs.set(reg, &[], old);
        } else {
            self.latch_strtab(regs);
        }
    }

    /// Restores `old` into a queue index register the SMMU owns while its
    /// queue is `enabled` (CMDQ_CONS, EVENTQ_PROD).
    fn queue_index(regs: &mut RegFile, reg: Reg, enabled: bool, old: u64) {
        if enabled {
            let _ = regs.set(reg, &[], old);
        }
    }

    /// Restores `old` into a 64-bit queue base register and clamps LOG2SIZE.
    fn queue_base(regs: &mut RegFile, reg: Reg, enabled: bool, old: u64, new: u64, max: u32) {
        let log2 = CMDQ_BASE::LOG2SIZE;
        let v = if enabled {
            old
        } else {
            let size = (log2.read(new) as u32).min(max);
            (new & !(log2.mask << log2.shift)) | log2.val(u64::from(size)).value
        };
        let _ = regs.set(reg, &[], v);
    }
}

impl Hooks for Hk<'_> {
    fn cr0_write(&mut self, regs: &mut RegFile, w: Write<'_, CR0::Value>) {
        regs.set_cr0ack(w.new.get());
        if w.new.is_set(CR0::SMMUEN) && !w.old.is_set(CR0::SMMUEN) {
            self.latch_strtab(regs);
        }
        let abort = GBPA::ABORT.is_set(regs.gbpa());
        self.core.set_enable(w.new.is_set(CR0::SMMUEN), abort);
        if w.new.is_set(CR0::CMDQEN) && !w.old.is_set(CR0::CMDQEN) {
            self.run_cmdq(regs);
        }
    }

    fn irq_ctrl_write(&mut self, regs: &mut RegFile, w: Write<'_, IRQ_CTRL::Value>) {
        regs.set_irq_ctrlack(w.new.get());
    }

    fn gerrorn_write(&mut self, regs: &mut RegFile, w: Write<'_, GERRORN::Value>) {
        let bit = GERROR::CMDQ_ERR.val(1).value;
        let acked_now = (regs.gerror() ^ w.new.get()) & bit == 0;
        let was_pending = (regs.gerror() ^ w.old.get()) & bit != 0;
        if acked_now && was_pending {
            self.st.stats.cmdq_resumes += 1;
            self.run_cmdq(regs);
        }
    }

    fn gbpa_write(&mut self, regs: &mut RegFile, w: Write<'_, GBPA::Value>) {
        if !w.new.is_set(GBPA::UPDATE) {
            // Attributes change only together with UPDATE.
            regs.set_gbpa(w.old.get());
            return;
        }
        let enabled = Self::smmu_enabled(regs);
        self.core.set_enable(enabled, w.new.is_set(GBPA::ABORT));
    }

    fn strtab_base_write(&mut self, regs: &mut RegFile, w: Write<'_, STRTAB_BASE::Value>) {
        self.strtab_reg(regs, w.reg, w.old.get());
    }

    fn strtab_base_cfg_write(&mut self, regs: &mut RegFile, w: Write<'_, STRTAB_BASE_CFG::Value>) {
        self.strtab_reg(regs, w.reg, u64::from(w.old.get()));
    }

    fn cmdq_base_write(&mut self, regs: &mut RegFile, w: Write<'_, CMDQ_BASE::Value>) {
        let en = CR0::CMDQEN.is_set(regs.cr0ack());
        let (old, new) = (w.old.get(), w.new.get());
        Self::queue_base(regs, w.reg, en, old, new, self.st.idrs.cmdqs());
    }

    fn cmdq_prod_write(&mut self, regs: &mut RegFile, _: Write<'_, CMDQ_PROD::Value>) {
        self.run_cmdq(regs);
    }

    fn cmdq_cons_write(&mut self, regs: &mut RegFile, w: Write<'_, CMDQ_CONS::Value>) {
        let en = CR0::CMDQEN.is_set(regs.cr0ack());
        Self::queue_index(regs, w.reg, en, u64::from(w.old.get()));
    }

    fn eventq_base_write(&mut self, regs: &mut RegFile, w: Write<'_, EVENTQ_BASE::Value>) {
        let en = CR0::EVENTQEN.is_set(regs.cr0ack());
        let (old, new) = (w.old.get(), w.new.get());
        Self::queue_base(regs, w.reg, en, old, new, self.st.idrs.eventqs());
    }

    fn eventq_prod_write(&mut self, regs: &mut RegFile, w: Write<'_, EVENTQ_PROD::Value>) {
        let en = CR0::EVENTQEN.is_set(regs.cr0ack());
        Self::queue_index(regs, w.reg, en, u64::from(w.old.get()));
    }
}
