//! The command and event queues: installation, and taking event records.

use super::{Smmu, CMD_WORDS, EVT_WORDS};
use crate::dma::{dma_rmb, DmaBuf};
use crate::error::Error;
use crate::mmio::Mmio;
use crate::queue::Queue;
use crate::structs::Event;
use smmuv3_regs::{CMDQ_BASE, CMDQ_CONS, CMDQ_PROD, EVENTQ_BASE, EVENTQ_CONS, EVENTQ_PROD};

impl<'a, M: Mmio> Smmu<'a, M> {
    /// Installs the command queue (`1 << log2size` entries of 16 bytes in
    /// `buf`, aligned to its size). The SMMU must be disabled.
    pub fn setup_cmdq(&mut self, buf: DmaBuf<'a>, log2size: u32) -> Result<(), Error> {
        self.require_disabled("command queue set up while enabled")?;
        if log2size > u32::from(self.caps.cmdq_max_log2) {
            return Err(Error::OutOfRange("command queue larger than IDR1.CMDQS"));
        }
        let q =
            Queue::new(buf, log2size, CMD_WORDS).ok_or(Error::BadBuffer("command queue buffer"))?;
        self.regs.cmdq_base().write(
            CMDQ_BASE::RA::SET
                + CMDQ_BASE::ADDR.val(q.phys() >> 5)
                + CMDQ_BASE::LOG2SIZE.val(u64::from(log2size)),
        );
        self.regs.cmdq_prod().write(CMDQ_PROD::WR.val(0));
        self.regs.cmdq_cons().write(CMDQ_CONS::RD.val(0));
        self.cmdq = Some(q);
        Ok(())
    }

    /// Installs the event queue (`1 << log2size` records of 32 bytes).
    /// The SMMU must be disabled.
    pub fn setup_eventq(&mut self, buf: DmaBuf<'a>, log2size: u32) -> Result<(), Error> {
        self.require_disabled("event queue set up while enabled")?;
        if log2size > u32::from(self.caps.eventq_max_log2) {
            return Err(Error::OutOfRange("event queue larger than IDR1.EVENTQS"));
        }
        let q =
            Queue::new(buf, log2size, EVT_WORDS).ok_or(Error::BadBuffer("event queue buffer"))?;
        self.regs.eventq_base().write(
            EVENTQ_BASE::WA::SET
                + EVENTQ_BASE::ADDR.val(q.phys() >> 5)
                + EVENTQ_BASE::LOG2SIZE.val(u64::from(log2size)),
        );
        self.regs.eventq_prod().write(EVENTQ_PROD::WR.val(0));
        self.regs.eventq_cons().write(EVENTQ_CONS::RD.val(0));
        self.evtq = Some(q);
        Ok(())
    }

    /// Takes the next event record, if the SMMU has written one. Also
    /// acknowledges an event queue overflow (records lost), reported in
    /// the returned flag.
    pub fn pop_event(&mut self) -> Result<(Option<Event>, bool), Error> {
        let prod_reg = self.regs.eventq_prod().extract();
        let cons_reg = self.regs.eventq_cons().extract();
        let q = self
            .evtq
            .as_mut()
            .ok_or(Error::NotConfigured("event queue"))?;
        let ovflg = prod_reg.read(EVENTQ_PROD::OVFLG);
        let overflow = ovflg != cons_reg.read(EVENTQ_CONS::OVACKFLG);
        let prod = prod_reg.read(EVENTQ_PROD::WR) & q.ptr_mask();
        let cons = cons_reg.read(EVENTQ_CONS::RD) & q.ptr_mask();
        // Acknowledging copies OVFLG into OVACKFLG; otherwise keep OVACKFLG.
        let ovack = EVENTQ_CONS::OVACKFLG.val(if overflow {
            ovflg
        } else {
            cons_reg.read(EVENTQ_CONS::OVACKFLG)
        });
        if q.is_empty_at(prod, cons) {
            if overflow {
                self.regs
                    .eventq_cons()
                    .write(EVENTQ_CONS::RD.val(cons) + ovack);
            }
            return Ok((None, overflow));
        }
        dma_rmb();
        let mut w = [0u64; EVT_WORDS];
        q.read_entry(cons, &mut w);
        let next = q.next(cons);
        q.cons = next;
        self.regs
            .eventq_cons()
            .write(EVENTQ_CONS::RD.val(next) + ovack);
        Ok((Some(Event(w)), overflow))
    }
}
