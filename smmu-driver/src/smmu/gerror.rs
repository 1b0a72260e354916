//! Global errors (GERROR/GERRORN) and recovery from a command queue
//! error.

use super::{Smmu, CMD_WORDS};
use crate::dma::{dma_rmb, dma_wmb};
use crate::error::{CmdError, CommandFault, Error};
use crate::mmio::Mmio;
use crate::structs::{cmd, Command};
use smmuv3_regs::{CMDQ_CONS, GERROR};

/// Active global errors (GERROR ^ GERRORN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GlobalErrors(pub u32);

impl GlobalErrors {
    /// No error active.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// CMDQ_ERR is active.
    pub fn cmdq_err(self) -> bool {
        GERROR::CMDQ_ERR.is_set(self.0)
    }
    /// EVENTQ_ABT_ERR is active.
    pub fn eventq_abt_err(self) -> bool {
        GERROR::EVENTQ_ABT_ERR.is_set(self.0)
    }
}

impl<M: Mmio> Smmu<'_, M> {
    /// Active global errors.
    pub fn global_errors(&self) -> GlobalErrors {
        GlobalErrors(self.regs.gerror().get() ^ self.regs.gerrorn().get())
    }

    /// Acknowledges the active global errors in `mask` by toggling their
    /// GERRORN bits to match GERROR.
    pub fn ack_global_errors(&mut self, mask: u32) {
        let gerror = self.regs.gerror().get();
        let gerrorn = self.regs.gerrorn().get();
        let active = (gerror ^ gerrorn) & mask;
        if active != 0 {
            self.regs.gerrorn().set(gerrorn ^ active);
        }
    }

    /// CMDQ_CONS.ERR now.
    pub fn cmdq_error_code(&self) -> CmdError {
        CmdError::from_code(self.regs.cmdq_cons().read(CMDQ_CONS::ERR))
    }

    /// Recovers from a command queue error, if one is active: finds the
    /// refused command at CONS, replaces it with a CMD_SYNC so that the
    /// queue can run past it, acknowledges GERROR.CMDQ_ERR and waits for
    /// the queue to drain. Returns what was refused. When a later command
    /// is refused as well, the queue stops on it again (GERROR.CMDQ_ERR
    /// active) and another call recovers that one.
    pub fn recover_command_error(&mut self) -> Result<Option<CommandFault>, Error> {
        if !self.global_errors().cmdq_err() {
            return Ok(None);
        }
        let (cons_reg, q) = self.cmdq_cons()?;
        let cons = cons_reg & q.ptr_mask();
        let mut bad = [0u64; CMD_WORDS];
        dma_rmb();
        q.read_entry(cons, &mut bad);
        q.write_entry(cons, &cmd::sync().0);
        dma_wmb();
        let fault = CommandFault {
            error: CmdError::from_code(CMDQ_CONS::ERR.read(cons_reg)),
            slot: q.slot(cons),
            opcode: cmd::opcode(&Command(bad)),
        };
        self.ack_global_errors(GERROR::CMDQ_ERR::SET.value);
        match self.wait_cmdq_drained() {
            // A later command of the same batch was refused too: the queue
            // stopped again with GERROR.CMDQ_ERR active, and the next call
            // recovers that one.
            Ok(()) | Err(Error::Command(_)) => Ok(Some(fault)),
            Err(e) => Err(e),
        }
    }
}
