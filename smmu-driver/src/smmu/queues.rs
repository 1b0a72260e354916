//! The command and event queues: installation, and taking event records.

use super::{Smmu, CMD_WORDS, EVT_WORDS};
use crate::dma::{dma_rmb, DmaBuf};
use crate::error::Error;
use crate::mmio::Mmio;
use crate::queue::Queue;
use crate::structs::{Event, EventBatch};
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
        let mut one = EventBatch::<1>::new();
        let overflow = self.pop_events(&mut one)?;
        Ok((one.pop(), overflow))
    }

    /// Appends the records the SMMU has written to `out`, oldest first,
    /// until the queue is empty or `out` is full, and frees their slots
    /// with one EVENTQ_CONS write. Also acknowledges an event queue
    /// overflow (records lost), reported in the returned flag. A batch of
    /// the queue's size takes everything pending in one call.
    pub fn pop_events<const N: usize>(&mut self, out: &mut EventBatch<N>) -> Result<bool, Error> {
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
        // Records up to PROD are visible once PROD has been read.
        if !q.is_empty_at(prod, cons) {
            dma_rmb();
        }
        let mut next = cons;
        while !out.is_full() && !q.is_empty_at(prod, next) {
            let mut w = [0u64; EVT_WORDS];
            q.read_entry(next, &mut w);
            // Room was checked: this only stops on a full batch.
            if out.push(Event(w)).is_err() {
                break;
            }
            next = q.next(next);
        }
        q.cons = next;
        if next != cons || overflow {
            self.regs
                .eventq_cons()
                .write(EVENTQ_CONS::RD.val(next) + ovack);
        }
        Ok(overflow)
    }
}
