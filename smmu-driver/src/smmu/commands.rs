//! Submitting commands: batches, CMD_SYNC and waiting for consumption.

use super::Smmu;
use crate::dma::dma_wmb;
use crate::error::{CmdError, Error};
use crate::mmio::Mmio;
use crate::structs::{cmd, Command};
use smmuv3_regs::{CMDQ_CONS, CMDQ_PROD};

impl<'a, M: Mmio> Smmu<'a, M> {
    /// Starts a batch of commands; nothing reaches the SMMU until
    /// [`CommandBatch::submit`] or [`CommandBatch::sync`].
    pub fn batch(&mut self) -> CommandBatch<'_, 'a, M> {
        let prod = self.cmdq.as_ref().map_or(0, |q| q.prod);
        CommandBatch {
            smmu: self,
            prod,
            pushed: 0,
        }
    }

    /// Submits `cmds` followed by a CMD_SYNC and waits for completion.
    pub fn submit_and_sync(&mut self, cmds: &[Command]) -> Result<(), Error> {
        let mut b = self.batch();
        for c in cmds {
            b.push(*c)?;
        }
        b.sync()
    }

    pub(super) fn wait_cmdq_drained(&mut self) -> Result<(), Error> {
        let target = self
            .cmdq
            .as_ref()
            .ok_or(Error::NotConfigured("command queue"))?
            .prod;
        self.wait_consumed(target)
    }

    pub(super) fn wait_consumed(&mut self, target: u32) -> Result<(), Error> {
        for _ in 0..self.poll_limit {
            let (cons_reg, q) = self.cmdq_cons()?;
            let cons = cons_reg & q.ptr_mask();
            q.cons = cons;
            if q.consumed(cons, target) {
                return Ok(());
            }
            if self.global_errors().cmdq_err() {
                let code = CmdError::from_code(CMDQ_CONS::ERR.read(cons_reg));
                return Err(Error::Command(code));
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("command queue consumption"))
    }
}

/// Commands being written into the command queue; see [`Smmu::batch`].
pub struct CommandBatch<'s, 'a, M: Mmio> {
    smmu: &'s mut Smmu<'a, M>,
    prod: u32,
    pushed: u32,
}

impl<M: Mmio> CommandBatch<'_, '_, M> {
    /// Appends `cmd`, waiting (bounded) for the SMMU to make room.
    pub fn push(&mut self, cmd: Command) -> Result<(), Error> {
        let limit = self.smmu.poll_limit;
        for _ in 0..limit {
            let q = self
                .smmu
                .cmdq
                .as_mut()
                .ok_or(Error::NotConfigured("command queue"))?;
            // CONS only moves forward: while the last value read leaves
            // room, the command goes in without a register read.
            if q.is_full_at(self.prod, q.cons) {
                q.cons = self.smmu.regs.cmdq_cons().get() & q.ptr_mask();
            }
            if !q.is_full_at(self.prod, q.cons) {
                q.write_entry(self.prod, &cmd.0);
                self.prod = q.next(self.prod);
                self.pushed += 1;
                return Ok(());
            }
            // Full: publish what we have so the SMMU can make progress.
            if self.pushed > 0 {
                self.publish();
            }
            if self.smmu.global_errors().cmdq_err() {
                return Err(Error::Command(self.smmu.cmdq_error_code()));
            }
            core::hint::spin_loop();
        }
        Err(Error::QueueFull)
    }

    fn publish(&mut self) {
        dma_wmb();
        self.smmu
            .regs
            .cmdq_prod()
            .write(CMDQ_PROD::WR.val(self.prod));
        if let Some(q) = self.smmu.cmdq.as_mut() {
            q.prod = self.prod;
        }
    }

    /// Number of commands pushed so far.
    pub fn len(&self) -> u32 {
        self.pushed
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.pushed == 0
    }

    /// Publishes the batch (writes CMDQ_PROD) without waiting.
    pub fn submit(mut self) {
        self.publish();
    }

    /// Appends a CMD_SYNC, publishes the batch and waits until the SMMU
    /// has consumed it. A command error stops the wait with
    /// [`Error::Command`].
    pub fn sync(mut self) -> Result<(), Error> {
        self.push(cmd::sync())?;
        self.publish();
        let target = self.prod;
        self.smmu.wait_consumed(target)
    }
}
