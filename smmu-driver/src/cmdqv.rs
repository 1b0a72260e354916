//! The NVIDIA Tegra241 CMDQV (command queue virtualization) extension:
//! global configuration, VINTFs (virtual interfaces) and VCMDQs (virtual
//! command queues, in the SMMUv3 command format).
//!
//! A guest sees one VINTF whose HYP_OWN bit reads 0; its VCMDQs then only
//! accept TLBI_NH_ASID, TLBI_NH_VA, ATC_INV and CMD_SYNC. The driver
//! programs a VCMDQ through the VINTF's logical-VCMDQ pages (the window a
//! hypervisor maps into the guest), and maps global VCMDQs to logical ones
//! through CMDQ_ALLOC_MAP.

use crate::dma::{dma_rmb, dma_wmb, DmaBuf};
use crate::error::{CmdError, CommandFault, Error};
use crate::mmio::Mmio;
use crate::queue::Queue;
use crate::smmu::{poll, CMD_WORDS, DEFAULT_POLL_LIMIT};
use crate::structs::{cmd, Command};
use cmdqv_regs::{
    Cmdqv as Regs, VintfPage0Lvcmdq, VintfPage1Lvcmdq, CMDQ_ALLOC_MAP, CONFIG, PARAM, STATUS,
    VINTF, VINTF_PAGE0, VINTF_PAGE1,
};

/// What CMDQV_PARAM says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CmdqvParams {
    /// Raw CMDQV_PARAM.
    pub raw: u32,
    /// CMDQV_VER.
    pub version: u8,
    /// Number of VINTFs.
    pub num_vintfs: u32,
    /// Number of VCMDQs (global).
    pub num_vcmdqs: u32,
    /// StreamID slots per VINTF (SID_MATCH/SID_REPLACE pairs).
    pub sids_per_vintf: u32,
}

/// A VCMDQ set up by [`Cmdqv::setup_vcmdq`]: its memory, indices and
/// which logical queue of which VINTF it is.
pub struct Vcmdq<'a> {
    queue: Queue<'a>,
    vintf: u32,
    lidx: u32,
}

impl Vcmdq<'_> {
    /// Index of the owning VINTF.
    pub fn vintf(&self) -> u32 {
        self.vintf
    }
    /// Logical index within the VINTF.
    pub fn lidx(&self) -> u32 {
        self.lidx
    }
}

/// A CMDQV driven through the register window `M` (its 0 is the CMDQV
/// base: global page, VCMDQ pages, VINTF pages).
pub struct Cmdqv<M: Mmio> {
    regs: Regs<M>,
    params: CmdqvParams,
    poll_limit: u32,
}

impl<M: Mmio> Cmdqv<M> {
    /// Reads CMDQV_PARAM. Fails on a version-0 or empty CMDQV.
    pub fn probe(mmio: M) -> Result<Self, Error> {
        let regs = Regs::new(mmio);
        let p = regs.param().extract();
        let params = CmdqvParams {
            raw: p.get(),
            version: p.read(PARAM::VER) as u8,
            num_vintfs: 1 << p.read(PARAM::NUM_VINTF_LOG2),
            num_vcmdqs: 1 << p.read(PARAM::NUM_VCMDQ_LOG2),
            sids_per_vintf: 1 << p.read(PARAM::NUM_SID_PER_VM_LOG2),
        };
        if params.version == 0 {
            return Err(Error::Unsupported("CMDQV_PARAM.CMDQV_VER is 0"));
        }
        Ok(Cmdqv {
            regs,
            params,
            poll_limit: DEFAULT_POLL_LIMIT,
        })
    }

    /// The probed parameters.
    pub fn params(&self) -> &CmdqvParams {
        &self.params
    }

    /// Sets the bound on every register poll.
    pub fn set_poll_limit(&mut self, limit: u32) {
        self.poll_limit = limit.max(1);
    }

    /// The generated register accessors, for registers the driver does
    /// not wrap (and for reading back what it did).
    pub fn regs(&self) -> &Regs<M> {
        &self.regs
    }

    /// Logical VCMDQs per VINTF when the VCMDQs are shared out evenly.
    pub fn lvcmdqs_per_vintf(&self) -> u32 {
        (self.params.num_vcmdqs / self.params.num_vintfs).max(1)
    }

    /// Sets CONFIG.CMDQV_EN and waits for STATUS.CMDQV_ENABLED to follow.
    pub fn set_enabled(&mut self, enable: bool) -> Result<(), Error> {
        self.regs.config().modify(if enable {
            CONFIG::CMDQV_EN::SET
        } else {
            CONFIG::CMDQV_EN::CLEAR
        });
        let status = self.regs.status();
        poll(self.poll_limit, "CMDQV_STATUS.CMDQV_ENABLED", || {
            status.is_set(STATUS::CMDQV_ENABLED) == enable
        })
    }

    /// Whether STATUS.CMDQV_ENABLED is set.
    pub fn is_enabled(&self) -> bool {
        self.regs.status().is_set(STATUS::CMDQV_ENABLED)
    }

    fn check_vintf(&self, vintf: u32) -> Result<(), Error> {
        if vintf >= self.params.num_vintfs {
            return Err(Error::OutOfRange("VINTF index"));
        }
        Ok(())
    }

    fn check_lidx(&self, lidx: u32) -> Result<(), Error> {
        if lidx >= self.lvcmdqs_per_vintf() {
            return Err(Error::OutOfRange("logical VCMDQ index"));
        }
        Ok(())
    }

    fn vintf_regs(&self, vintf: u32) -> Result<cmdqv_regs::Vintf<'_, M>, Error> {
        self.check_vintf(vintf)?;
        self.regs
            .vintf(vintf as usize)
            .ok_or(Error::OutOfRange("VINTF index"))
    }

    /// Page-0 registers of logical VCMDQ `lidx` of VINTF `vintf` (the
    /// VINTF's logical-VCMDQ window, the one a hypervisor maps into the
    /// guest).
    fn lvcmdq0(&self, vintf: u32, lidx: u32) -> Result<VintfPage0Lvcmdq<'_, M>, Error> {
        self.regs
            .vintf_page0(vintf as usize)
            .and_then(|p| p.lvcmdq(lidx as usize))
            .ok_or(Error::OutOfRange("logical VCMDQ"))
    }

    /// Page-1 registers (the base) of the same logical VCMDQ.
    fn lvcmdq1(&self, vintf: u32, lidx: u32) -> Result<VintfPage1Lvcmdq<'_, M>, Error> {
        self.regs
            .vintf_page1(vintf as usize)
            .and_then(|p| p.lvcmdq(lidx as usize))
            .ok_or(Error::OutOfRange("logical VCMDQ"))
    }

    /// Maps global VCMDQ `q` to logical queue `lidx` of VINTF `vintf`
    /// (CMDQ_ALLOC_MAP with ALLOC = 1). Reads the register back and
    /// returns whether the allocation took effect.
    pub fn alloc_vcmdq(&mut self, q: u32, vintf: u32, lidx: u32) -> Result<bool, Error> {
        if q >= self.params.num_vcmdqs {
            return Err(Error::OutOfRange("VCMDQ index"));
        }
        self.check_vintf(vintf)?;
        self.check_lidx(lidx)?;
        let reg = self
            .regs
            .cmdq_alloc_map(q as usize)
            .ok_or(Error::OutOfRange("VCMDQ index"))?;
        reg.write(
            CMDQ_ALLOC_MAP::VIRT_INTF_INDX.val(vintf)
                + CMDQ_ALLOC_MAP::LVCMDQ.val(lidx)
                + CMDQ_ALLOC_MAP::ALLOC::SET,
        );
        Ok(reg.is_set(CMDQ_ALLOC_MAP::ALLOC))
    }

    /// Unmaps global VCMDQ `q`.
    pub fn free_vcmdq(&mut self, q: u32) -> Result<(), Error> {
        if q >= self.params.num_vcmdqs {
            return Err(Error::OutOfRange("VCMDQ index"));
        }
        self.regs
            .cmdq_alloc_map(q as usize)
            .ok_or(Error::OutOfRange("VCMDQ index"))?
            .set(0);
        Ok(())
    }

    /// Enables VINTF `vintf` (asking for HYP_OWN = `hyp_own`) and waits
    /// for VINTF_STATUS.ENABLE_OK. Returns HYP_OWN as read back: a guest
    /// always reads 0 and is limited to the guest command subset.
    pub fn enable_vintf(&mut self, vintf: u32, hyp_own: bool) -> Result<bool, Error> {
        let limit = self.poll_limit;
        let v = self.vintf_regs(vintf)?;
        let own = if hyp_own {
            VINTF::CONFIG::HYP_OWN::SET
        } else {
            VINTF::CONFIG::HYP_OWN::CLEAR
        };
        v.config().write(own);
        v.config().write(own + VINTF::CONFIG::ENABLE::SET);
        poll(limit, "VINTF_STATUS.ENABLE_OK", || {
            v.status().is_set(VINTF::STATUS::ENABLE_OK)
        })?;
        Ok(v.config().is_set(VINTF::CONFIG::HYP_OWN))
    }

    /// Disables VINTF `vintf`.
    pub fn disable_vintf(&mut self, vintf: u32) -> Result<(), Error> {
        let limit = self.poll_limit;
        let v = self.vintf_regs(vintf)?;
        v.config().write(VINTF::CONFIG::ENABLE::CLEAR);
        poll(limit, "VINTF_STATUS.ENABLE_OK", || {
            !v.status().is_set(VINTF::STATUS::ENABLE_OK)
        })
    }

    fn set_lvcmdq_enabled(&self, vintf: u32, lidx: u32, enable: bool) -> Result<(), Error> {
        let q = self.lvcmdq0(vintf, lidx)?;
        q.config().write(if enable {
            VINTF_PAGE0::LVCMDQ::CONFIG::CMDQ_EN::SET
        } else {
            VINTF_PAGE0::LVCMDQ::CONFIG::CMDQ_EN::CLEAR
        });
        poll(
            self.poll_limit,
            if enable {
                "VCMDQ_STATUS.CMDQ_EN_OK"
            } else {
                "VCMDQ_STATUS.CMDQ_EN_OK (disable)"
            },
            || q.status().is_set(VINTF_PAGE0::LVCMDQ::STATUS::CMDQ_EN_OK) == enable,
        )
    }

    /// Sets up logical VCMDQ `lidx` of VINTF `vintf` on `buf` with
    /// `1 << log2size` commands: disables it, clears its indices and any
    /// stale error, programs VCMDQ_BASE, then sets CONFIG.CMDQ_EN and
    /// waits for STATUS.CMDQ_EN_OK.
    pub fn setup_vcmdq<'a>(
        &mut self,
        vintf: u32,
        lidx: u32,
        buf: DmaBuf<'a>,
        log2size: u32,
    ) -> Result<Vcmdq<'a>, Error> {
        self.check_vintf(vintf)?;
        self.check_lidx(lidx)?;
        let queue = Queue::new(buf, log2size, CMD_WORDS).ok_or(Error::BadBuffer("VCMDQ buffer"))?;
        let addr_field = VINTF_PAGE1::LVCMDQ::BASE::ADDR;
        if (queue.phys() >> 5) & !addr_field.mask != 0 {
            return Err(Error::BadBuffer("VCMDQ above the 48-bit address range"));
        }
        self.set_lvcmdq_enabled(vintf, lidx, false)?;
        let q0 = self.lvcmdq0(vintf, lidx)?;
        q0.prod().write(VINTF_PAGE0::LVCMDQ::PROD::INDEX.val(0));
        q0.cons().write(VINTF_PAGE0::LVCMDQ::CONS::INDEX.val(0));
        let gerror = q0.gerror().get();
        if gerror != q0.gerrorn().get() {
            q0.gerrorn().set(gerror);
        }
        self.lvcmdq1(vintf, lidx)?.base().write(
            addr_field.val(queue.phys() >> 5)
                + VINTF_PAGE1::LVCMDQ::BASE::LOG2SIZE.val(u64::from(log2size)),
        );
        self.set_lvcmdq_enabled(vintf, lidx, true)?;
        Ok(Vcmdq { queue, vintf, lidx })
    }

    /// Disables a VCMDQ and clears its base, so the memory can be reused.
    pub fn teardown_vcmdq(&mut self, vq: Vcmdq<'_>) -> Result<(), Error> {
        self.set_lvcmdq_enabled(vq.vintf, vq.lidx, false)?;
        let q0 = self.lvcmdq0(vq.vintf, vq.lidx)?;
        q0.prod().set(0);
        q0.cons().set(0);
        self.lvcmdq1(vq.vintf, vq.lidx)?.base().set(0);
        Ok(())
    }

    /// Whether VCMDQ_GERROR.CMDQ_ERR is active on the logical VCMDQ `q0`.
    fn vcmdq_err_active(q0: &VintfPage0Lvcmdq<'_, M>) -> bool {
        let active = q0.gerror().get() ^ q0.gerrorn().get();
        VINTF_PAGE0::LVCMDQ::GERROR::CMDQ_ERR.is_set(active)
    }

    fn publish(q0: &VintfPage0Lvcmdq<'_, M>, vq: &mut Vcmdq<'_>, prod: u32) {
        dma_wmb();
        q0.prod().write(VINTF_PAGE0::LVCMDQ::PROD::INDEX.val(prod));
        vq.queue.prod = prod;
    }

    fn command_error(cons_reg: u32) -> Error {
        Error::Command(CmdError::from_code(
            VINTF_PAGE0::LVCMDQ::CONS::ERR.read(cons_reg),
        ))
    }

    /// Writes `cmds` and a CMD_SYNC into the VCMDQ, publishes them through
    /// VCMDQ_PROD and waits (bounded) until CONS has passed the sync. A
    /// refused command stops the wait with [`Error::Command`].
    pub fn submit_and_sync(&mut self, vq: &mut Vcmdq<'_>, cmds: &[Command]) -> Result<(), Error> {
        // The queue's registers, located once for the whole submission.
        let q0 = self.lvcmdq0(vq.vintf, vq.lidx)?;
        let sync = cmd::sync();
        let mut prod = vq.queue.prod;
        for c in cmds.iter().chain(core::iter::once(&sync)) {
            let mut waited = 0;
            loop {
                // CONS only moves forward: while the last value read leaves
                // room, the command goes in without a register read.
                if vq.queue.is_full_at(prod, vq.queue.cons) {
                    vq.queue.cons = q0.cons().get() & vq.queue.ptr_mask();
                }
                if !vq.queue.is_full_at(prod, vq.queue.cons) {
                    break;
                }
                // Full: publish what is written so the queue drains.
                Self::publish(&q0, vq, prod);
                if Self::vcmdq_err_active(&q0) {
                    return Err(Self::command_error(q0.cons().get()));
                }
                waited += 1;
                if waited >= self.poll_limit {
                    return Err(Error::QueueFull);
                }
            }
            vq.queue.write_entry(prod, &c.0);
            prod = vq.queue.next(prod);
        }
        Self::publish(&q0, vq, prod);
        for _ in 0..self.poll_limit {
            let cons_reg = q0.cons().get();
            let cons = VINTF_PAGE0::LVCMDQ::CONS::INDEX.read(cons_reg) & vq.queue.ptr_mask();
            vq.queue.cons = cons;
            if vq.queue.consumed(cons, prod) {
                return Ok(());
            }
            if Self::vcmdq_err_active(&q0) {
                return Err(Self::command_error(cons_reg));
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("VCMDQ consumption"))
    }

    /// Recovers a VCMDQ stopped on an error: replaces the refused command
    /// at CONS with a CMD_SYNC, acknowledges VCMDQ_GERROR through
    /// VCMDQ_GERRORN and waits for the queue to drain.
    pub fn recover_vcmdq_error(
        &mut self,
        vq: &mut Vcmdq<'_>,
    ) -> Result<Option<CommandFault>, Error> {
        let q0 = self.lvcmdq0(vq.vintf, vq.lidx)?;
        if !Self::vcmdq_err_active(&q0) {
            return Ok(None);
        }
        let cons_reg = q0.cons().get();
        let cons = VINTF_PAGE0::LVCMDQ::CONS::INDEX.read(cons_reg) & vq.queue.ptr_mask();
        let mut bad = [0u64; CMD_WORDS];
        dma_rmb();
        vq.queue.read_entry(cons, &mut bad);
        vq.queue.write_entry(cons, &cmd::sync().0);
        dma_wmb();
        let fault = CommandFault {
            error: CmdError::from_code(VINTF_PAGE0::LVCMDQ::CONS::ERR.read(cons_reg)),
            slot: vq.queue.slot(cons),
            opcode: cmd::opcode(&Command(bad)),
        };
        q0.gerrorn().set(q0.gerror().get());
        let target = vq.queue.prod;
        for _ in 0..self.poll_limit {
            let cons = q0.cons().get() & vq.queue.ptr_mask();
            vq.queue.cons = cons;
            if vq.queue.consumed(cons, target) {
                return Ok(Some(fault));
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("VCMDQ drain after recovery"))
    }

    /// VINTFs with an error (CMDQV_VINTF_ERR_MAP, 64 bits as two words).
    pub fn vintf_error_map(&self) -> u64 {
        let word = |i| self.regs.vintf_err_map(i).map_or(0, |r| r.get());
        u64::from(word(1)) << 32 | u64::from(word(0))
    }

    /// Global VCMDQs with an error, word `m` (0..4) of CMDQV_CMDQ_ERR_MAP.
    pub fn vcmdq_error_map(&self, m: u32) -> Result<u32, Error> {
        Ok(self
            .regs
            .cmdq_err_map(m as usize)
            .ok_or(Error::OutOfRange("CMDQ_ERR_MAP word"))?
            .get())
    }

    /// Logical VCMDQs of `vintf` with an error, word `m` (0..2) of
    /// VINTF_LVCMDQ_ERR_MAP.
    pub fn lvcmdq_error_map(&self, vintf: u32, m: u32) -> Result<u64, Error> {
        Ok(self
            .vintf_regs(vintf)?
            .lvcmdq_err_map(m as usize)
            .ok_or(Error::OutOfRange("LVCMDQ_ERR_MAP word"))?
            .get())
    }
}
