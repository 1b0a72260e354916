//! The SMMUv3 driver, one module per job: the ID registers (`caps`),
//! CR0 and bring-up (`control`), the queues (`queues`), the stream table
//! (`strtab`), commands (`commands`) and global errors (`gerror`).

mod caps;
mod commands;
mod control;
mod gerror;
mod queues;
mod strtab;

pub use caps::Capabilities;
pub use commands::CommandBatch;
pub use gerror::GlobalErrors;

use crate::error::Error;
use crate::mmio::Mmio;
use crate::queue::Queue;
use crate::structs::{Cd, Command, Event, Ste};
use smmuv3_regs::{Smmuv3, AIDR};
use strtab::StreamTable;

/// Words per command (16 bytes).
pub const CMD_WORDS: usize = Command::SIZE_BYTES / 8;
/// Words per event record (32 bytes).
pub const EVT_WORDS: usize = Event::SIZE_BYTES / 8;
/// Words per STE (64 bytes).
pub const STE_WORDS: usize = Ste::SIZE_BYTES / 8;
/// Words per CD (64 bytes).
pub const CD_WORDS: usize = Cd::SIZE_BYTES / 8;
/// Level-2 stream tables the driver can track (two-level format).
pub const MAX_L2_TABLES: usize = 8;
/// Default bound on register polls (acknowledgements, queue drains).
pub const DEFAULT_POLL_LIMIT: u32 = 1_000_000;

/// Polls `done` up to `limit` times; [`Error::Timeout`]`(what)` if it never
/// holds.
pub(crate) fn poll(
    limit: u32,
    what: &'static str,
    mut done: impl FnMut() -> bool,
) -> Result<(), Error> {
    for _ in 0..limit {
        if done() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(Error::Timeout(what))
}

/// An SMMUv3 driven through the register window `M`.
pub struct Smmu<'a, M: Mmio> {
    regs: Smmuv3<M>,
    caps: Capabilities,
    cmdq: Option<Queue<'a>>,
    evtq: Option<Queue<'a>>,
    strtab: Option<StreamTable<'a>>,
    poll_limit: u32,
}

impl<'a, M: Mmio> Smmu<'a, M> {
    /// Reads the ID registers. Fails for a device that is not an SMMUv3
    /// (AIDR.ARCHMAJORREV != 0) or cannot run this driver (no AArch64
    /// stage 1, or preset tables and queues).
    pub fn probe(mmio: M) -> Result<Self, Error> {
        let regs = Smmuv3::new(mmio);
        let idr0 = regs.idr0().get();
        let idr1 = regs.idr1().get();
        let idr3 = regs.idr3().get();
        let idr5 = regs.idr5().get();
        let iidr = regs.iidr().get();
        let aidr = regs.aidr().get();
        if AIDR::ARCHMAJORREV.read(aidr) != 0 {
            return Err(Error::Unsupported("AIDR.ARCHMAJORREV is not SMMUv3"));
        }
        let caps = Capabilities::decode(idr0, idr1, idr3, idr5, iidr, aidr);
        if !caps.stage1 || !caps.aarch64_tables {
            return Err(Error::Unsupported("no AArch64 stage 1"));
        }
        if caps.preset {
            return Err(Error::Unsupported("preset queue or table bases"));
        }
        Ok(Smmu {
            regs,
            caps,
            cmdq: None,
            evtq: None,
            strtab: None,
            poll_limit: DEFAULT_POLL_LIMIT,
        })
    }

    /// The probed capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Sets the bound on every register poll.
    pub fn set_poll_limit(&mut self, limit: u32) {
        self.poll_limit = limit.max(1);
    }

    /// The generated register accessors, for registers the driver does
    /// not wrap (and for reading back what it did).
    pub fn regs(&self) -> &Smmuv3<M> {
        &self.regs
    }

    /// CMDQ_CONS as read now, and the command queue.
    fn cmdq_cons(&mut self) -> Result<(u32, &mut Queue<'a>), Error> {
        let cons_reg = self.regs.cmdq_cons().get();
        let q = self
            .cmdq
            .as_mut()
            .ok_or(Error::NotConfigured("command queue"))?;
        Ok((cons_reg, q))
    }
}
