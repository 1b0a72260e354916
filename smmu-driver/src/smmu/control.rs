//! Turning the SMMU on and off: the CR0/CR0ACK handshake, GBPA, and the
//! bring-up sequence of [`Smmu::enable`].

use super::{poll, Smmu};
use crate::error::Error;
use crate::mmio::Mmio;
use crate::structs::cmd;
use regmap_rt::tock_registers::fields::FieldValue;
use smmuv3_regs::{CR0, CR1, CR2, GBPA};

impl<'a, M: Mmio> Smmu<'a, M> {
    /// Writes CR0 (the given fields set, all others zero) and waits until
    /// CR0ACK reports the same enables (SMMUEN, PRIQEN, EVENTQEN, CMDQEN,
    /// ATSCHK).
    pub fn write_cr0(&mut self, value: FieldValue<u32, CR0::Register>) -> Result<(), Error> {
        let acked = (CR0::SMMUEN::SET
            + CR0::PRIQEN::SET
            + CR0::EVENTQEN::SET
            + CR0::CMDQEN::SET
            + CR0::ATSCHK::SET)
            .mask();
        self.regs.cr0().write(value);
        let cr0ack = self.regs.cr0ack();
        poll(self.poll_limit, "CR0ACK", || {
            cr0ack.get() & acked == value.value & acked
        })
    }

    /// Current CR0ACK.
    pub fn cr0ack(&self) -> u32 {
        self.regs.cr0ack().get()
    }

    /// Disables translation and all queues (CR0 = 0, acknowledged).
    pub fn disable(&mut self) -> Result<(), Error> {
        self.write_cr0(FieldValue::<u32, CR0::Register>::new(0, 0, 0))
    }

    /// Sets GBPA.ABORT (what traffic does while SMMUEN = 0) through the
    /// UPDATE handshake.
    pub fn set_global_bypass_abort(&mut self, abort: bool) -> Result<(), Error> {
        let abort = if abort {
            GBPA::ABORT::SET
        } else {
            GBPA::ABORT::CLEAR
        };
        // `modify` never writes back the self-clearing UPDATE bit it read.
        let gbpa = self.regs.gbpa();
        gbpa.modify(abort + GBPA::UPDATE::SET);
        poll(self.poll_limit, "GBPA.UPDATE", || {
            !gbpa.is_set(GBPA::UPDATE)
        })
    }

    pub(super) fn require_disabled(&mut self, what: &'static str) -> Result<(), Error> {
        let ack = self.regs.cr0ack().extract();
        if ack.is_set(CR0::SMMUEN) || ack.is_set(CR0::CMDQEN) || ack.is_set(CR0::EVENTQEN) {
            return Err(Error::OutOfRange(what));
        }
        Ok(())
    }

    /// Brings the SMMU up: requires the stream table and command queue
    /// (the event queue is optional). Sets table and queue attributes
    /// (write-back, inner shareable), enables the command queue,
    /// invalidates every cached configuration and TLB entry, enables the
    /// event queue, and finally translation (SMMUEN), each through the
    /// CR0/CR0ACK handshake. Interrupts stay off: the driver polls.
    pub fn enable(&mut self) -> Result<(), Error> {
        if self.strtab.is_none() {
            return Err(Error::NotConfigured("stream table"));
        }
        if self.cmdq.is_none() {
            return Err(Error::NotConfigured("command queue"));
        }
        self.disable()?;
        self.regs.cr1().write(
            CR1::QUEUE_IC::WB
                + CR1::QUEUE_OC::WB
                + CR1::QUEUE_SH::ISH
                + CR1::TABLE_IC::WB
                + CR1::TABLE_OC::WB
                + CR1::TABLE_SH::ISH,
        );
        self.regs.cr2().write(CR2::RECINVSID::SET + CR2::PTM::SET);
        self.regs.irq_ctrl().set(0);
        let mut cr0 = CR0::CMDQEN::SET;
        self.write_cr0(cr0)?;
        {
            let hyp = self.caps.hyp;
            let mut b = self.batch();
            b.push(cmd::cfgi_all())?;
            if hyp {
                b.push(cmd::tlbi_el2_all())?;
            }
            b.push(cmd::tlbi_nsnh_all())?;
            b.sync()?;
        }
        if self.evtq.is_some() {
            cr0 += CR0::EVENTQEN::SET;
            self.write_cr0(cr0)?;
        }
        cr0 += CR0::SMMUEN::SET;
        self.write_cr0(cr0)
    }

    pub(super) fn cmdq_running(&mut self) -> bool {
        self.cmdq.is_some() && self.regs.cr0ack().is_set(CR0::CMDQEN)
    }
}
