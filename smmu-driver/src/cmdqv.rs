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
use crate::regs::cmdqv::*;
use crate::regs::smmu::CMDQ_CONS_ERR;
use crate::smmu::{CMD_WORDS, DEFAULT_POLL_LIMIT};
use crate::structs::Command;

/// What CMDQV_PARAM says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
/// where its registers are.
pub struct Vcmdq<'a> {
    queue: Queue<'a>,
    vintf: u32,
    lidx: u32,
    page0: usize,
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
    mmio: M,
    params: CmdqvParams,
    poll_limit: u32,
}

impl<M: Mmio> Cmdqv<M> {
    /// Reads CMDQV_PARAM. Fails on a version-0 or empty CMDQV.
    pub fn probe(mut mmio: M) -> Result<Self, Error> {
        let raw = mmio.read32(PARAM);
        let params = CmdqvParams {
            raw,
            version: PARAM_VER.get32(raw) as u8,
            num_vintfs: 1 << PARAM_NUM_VINTF_LOG2.get32(raw),
            num_vcmdqs: 1 << PARAM_NUM_VCMDQ_LOG2.get32(raw),
            sids_per_vintf: 1 << PARAM_NUM_SID_PER_VM_LOG2.get32(raw),
        };
        if params.version == 0 {
            return Err(Error::Unsupported("CMDQV_PARAM.CMDQV_VER is 0"));
        }
        Ok(Cmdqv {
            mmio,
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

    /// The register window.
    pub fn mmio(&mut self) -> &mut M {
        &mut self.mmio
    }

    /// Logical VCMDQs per VINTF when the VCMDQs are shared out evenly.
    pub fn lvcmdqs_per_vintf(&self) -> u32 {
        (self.params.num_vcmdqs / self.params.num_vintfs).max(1)
    }

    fn write_and_poll(
        &mut self,
        config: usize,
        status: usize,
        value: u32,
        what: &'static str,
    ) -> Result<(), Error> {
        self.mmio.write32(config, value);
        let want = value & 1;
        for _ in 0..self.poll_limit {
            if self.mmio.read32(status) & 1 == want {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout(what))
    }

    /// Sets CONFIG.CMDQV_EN and waits for STATUS.CMDQV_ENABLED to follow.
    pub fn set_enabled(&mut self, enable: bool) -> Result<(), Error> {
        let cfg = self.mmio.read32(CONFIG);
        let v = if enable {
            cfg | CONFIG_CMDQV_EN
        } else {
            cfg & !CONFIG_CMDQV_EN
        };
        self.write_and_poll(CONFIG, STATUS, v, "CMDQV_STATUS.CMDQV_ENABLED")
    }

    /// Whether STATUS.CMDQV_ENABLED is set.
    pub fn is_enabled(&mut self) -> bool {
        self.mmio.read32(STATUS) & STATUS_CMDQV_ENABLED != 0
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

    /// Maps global VCMDQ `q` to logical queue `lidx` of VINTF `vintf`
    /// (CMDQ_ALLOC_MAP with ALLOCATED = 1). Reads the register back and
    /// returns whether the allocation took effect.
    pub fn alloc_vcmdq(&mut self, q: u32, vintf: u32, lidx: u32) -> Result<bool, Error> {
        if q >= self.params.num_vcmdqs {
            return Err(Error::OutOfRange("VCMDQ index"));
        }
        self.check_vintf(vintf)?;
        self.check_lidx(lidx)?;
        let v = ALLOC_VINTF.val32(vintf) | ALLOC_LVCMDQ.val32(lidx) | ALLOC_ALLOCATED;
        let reg = CMDQ_ALLOC_MAP + 4 * q as usize;
        self.mmio.write32(reg, v);
        Ok(self.mmio.read32(reg) & ALLOC_ALLOCATED != 0)
    }

    /// Unmaps global VCMDQ `q`.
    pub fn free_vcmdq(&mut self, q: u32) -> Result<(), Error> {
        if q >= self.params.num_vcmdqs {
            return Err(Error::OutOfRange("VCMDQ index"));
        }
        self.mmio.write32(CMDQ_ALLOC_MAP + 4 * q as usize, 0);
        Ok(())
    }

    /// Enables VINTF `vintf` (asking for HYP_OWN = `hyp_own`) and waits
    /// for VINTF_STATUS.ENABLED. Returns HYP_OWN as read back: a guest
    /// always reads 0 and is limited to the guest command subset.
    pub fn enable_vintf(&mut self, vintf: u32, hyp_own: bool) -> Result<bool, Error> {
        self.check_vintf(vintf)?;
        let base = VINTF_BASE + VINTF_STRIDE * vintf as usize;
        let own = if hyp_own { VINTF_CONFIG_HYP_OWN } else { 0 };
        self.mmio.write32(base + VINTF_CONFIG, own);
        self.write_and_poll(
            base + VINTF_CONFIG,
            base + VINTF_STATUS,
            own | VINTF_CONFIG_ENABLE,
            "VINTF_STATUS.ENABLED",
        )?;
        Ok(self.mmio.read32(base + VINTF_CONFIG) & VINTF_CONFIG_HYP_OWN != 0)
    }

    /// Disables VINTF `vintf`.
    pub fn disable_vintf(&mut self, vintf: u32) -> Result<(), Error> {
        self.check_vintf(vintf)?;
        let base = VINTF_BASE + VINTF_STRIDE * vintf as usize;
        self.write_and_poll(
            base + VINTF_CONFIG,
            base + VINTF_STATUS,
            0,
            "VINTF_STATUS.ENABLED",
        )
    }

    fn lvcmdq_page0(vintf: u32, lidx: u32) -> usize {
        VINTF_PAGES + VINTF_PAGES_STRIDE * vintf as usize + VCMDQ_STRIDE * lidx as usize
    }

    fn lvcmdq_page1(vintf: u32, lidx: u32) -> usize {
        Self::lvcmdq_page0(vintf, lidx) + 0x10000
    }

    /// Sets up logical VCMDQ `lidx` of VINTF `vintf` on `buf` with
    /// `1 << log2size` commands: disables it, clears its indices and any
    /// stale error, programs VCMDQ_BASE, then sets CONFIG.EN and waits for
    /// STATUS.ENABLED.
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
        if queue.phys() & !VCMDQ_BASE_ADDR.mask64() != 0 {
            return Err(Error::BadBuffer("VCMDQ above the 48-bit address range"));
        }
        let p0 = Self::lvcmdq_page0(vintf, lidx);
        let p1 = Self::lvcmdq_page1(vintf, lidx);
        self.write_and_poll(
            p0 + VCMDQ_CONFIG,
            p0 + VCMDQ_STATUS,
            0,
            "VCMDQ_STATUS.ENABLED (disable)",
        )?;
        self.mmio.write32(p0 + VCMDQ_PROD, 0);
        self.mmio.write32(p0 + VCMDQ_CONS, 0);
        let gerror = self.mmio.read32(p0 + VCMDQ_GERROR);
        if gerror != self.mmio.read32(p0 + VCMDQ_GERRORN) {
            self.mmio.write32(p0 + VCMDQ_GERRORN, gerror);
        }
        let base = (queue.phys() & VCMDQ_BASE_ADDR.mask64())
            | VCMDQ_BASE_LOG2SIZE.val(u64::from(log2size));
        self.mmio.write64(p1 + VCMDQ_BASE, base);
        self.write_and_poll(
            p0 + VCMDQ_CONFIG,
            p0 + VCMDQ_STATUS,
            VCMDQ_CONFIG_EN,
            "VCMDQ_STATUS.ENABLED",
        )?;
        Ok(Vcmdq {
            queue,
            vintf,
            lidx,
            page0: p0,
        })
    }

    /// Disables a VCMDQ and clears its base, so the memory can be reused.
    pub fn teardown_vcmdq(&mut self, vq: Vcmdq<'_>) -> Result<(), Error> {
        let p0 = vq.page0;
        let p1 = Self::lvcmdq_page1(vq.vintf, vq.lidx);
        self.write_and_poll(
            p0 + VCMDQ_CONFIG,
            p0 + VCMDQ_STATUS,
            0,
            "VCMDQ_STATUS.ENABLED (disable)",
        )?;
        self.mmio.write32(p0 + VCMDQ_PROD, 0);
        self.mmio.write32(p0 + VCMDQ_CONS, 0);
        self.mmio.write64(p1 + VCMDQ_BASE, 0);
        Ok(())
    }

    fn vcmdq_err_active(&mut self, vq: &Vcmdq<'_>) -> bool {
        let g = self.mmio.read32(vq.page0 + VCMDQ_GERROR);
        let n = self.mmio.read32(vq.page0 + VCMDQ_GERRORN);
        (g ^ n) & VCMDQ_GERROR_CMDQ_ERR != 0
    }

    /// Writes `cmds` and a CMD_SYNC into the VCMDQ, publishes them through
    /// VCMDQ_PROD and waits (bounded) until CONS has passed the sync. A
    /// refused command stops the wait with [`Error::Command`].
    pub fn submit_and_sync(&mut self, vq: &mut Vcmdq<'_>, cmds: &[Command]) -> Result<(), Error> {
        let sync = Command::sync();
        let mut prod = vq.queue.prod;
        for cmd in cmds.iter().chain(core::iter::once(&sync)) {
            let mut waited = 0;
            loop {
                let cons = self.mmio.read32(vq.page0 + VCMDQ_CONS) & vq.queue.ptr_mask();
                if !vq.queue.is_full_at(prod, cons) {
                    break;
                }
                // Full: publish what is written so the queue drains.
                dma_wmb();
                self.mmio.write32(vq.page0 + VCMDQ_PROD, prod);
                vq.queue.prod = prod;
                if self.vcmdq_err_active(vq) {
                    let cons = self.mmio.read32(vq.page0 + VCMDQ_CONS);
                    return Err(Error::Command(CmdError::from_code(
                        CMDQ_CONS_ERR.get32(cons),
                    )));
                }
                waited += 1;
                if waited >= self.poll_limit {
                    return Err(Error::QueueFull);
                }
            }
            vq.queue.write_entry(prod, &cmd.0);
            prod = vq.queue.next(prod);
        }
        dma_wmb();
        self.mmio.write32(vq.page0 + VCMDQ_PROD, prod);
        vq.queue.prod = prod;
        for _ in 0..self.poll_limit {
            let cons_reg = self.mmio.read32(vq.page0 + VCMDQ_CONS);
            let cons = cons_reg & vq.queue.ptr_mask();
            vq.queue.cons = cons;
            if vq.queue.consumed(cons, prod) {
                return Ok(());
            }
            if self.vcmdq_err_active(vq) {
                return Err(Error::Command(CmdError::from_code(
                    CMDQ_CONS_ERR.get32(cons_reg),
                )));
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
        if !self.vcmdq_err_active(vq) {
            return Ok(None);
        }
        let cons_reg = self.mmio.read32(vq.page0 + VCMDQ_CONS);
        let cons = cons_reg & vq.queue.ptr_mask();
        let mut bad = [0u64; 2];
        dma_rmb();
        vq.queue.read_entry(cons, &mut bad);
        vq.queue.write_entry(cons, &Command::sync().0);
        dma_wmb();
        let fault = CommandFault {
            error: CmdError::from_code(CMDQ_CONS_ERR.get32(cons_reg)),
            slot: vq.queue.slot(cons),
            opcode: Command(bad).opcode(),
        };
        let gerror = self.mmio.read32(vq.page0 + VCMDQ_GERROR);
        self.mmio.write32(vq.page0 + VCMDQ_GERRORN, gerror);
        let target = vq.queue.prod;
        for _ in 0..self.poll_limit {
            let cons = self.mmio.read32(vq.page0 + VCMDQ_CONS) & vq.queue.ptr_mask();
            vq.queue.cons = cons;
            if vq.queue.consumed(cons, target) {
                return Ok(Some(fault));
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("VCMDQ drain after recovery"))
    }

    /// VINTFs with an error (CMDQV_VINTF_ERR_MAP, 64 bits as two words).
    pub fn vintf_error_map(&mut self) -> u64 {
        let lo = self.mmio.read32(VI_ERR_MAP);
        let hi = self.mmio.read32(VI_ERR_MAP + 4);
        u64::from(hi) << 32 | u64::from(lo)
    }

    /// Global VCMDQs with an error, word `m` (0..4) of CMDQV_CMDQ_ERR_MAP.
    pub fn vcmdq_error_map(&mut self, m: u32) -> Result<u32, Error> {
        if m >= 4 {
            return Err(Error::OutOfRange("CMDQ_ERR_MAP word"));
        }
        Ok(self.mmio.read32(CMDQ_ERR_MAP + 4 * m as usize))
    }

    /// Logical VCMDQs of `vintf` with an error, word `m` (0..2) of
    /// VINTF_LVCMDQ_ERR_MAP.
    pub fn lvcmdq_error_map(&mut self, vintf: u32, m: u32) -> Result<u64, Error> {
        self.check_vintf(vintf)?;
        if m >= 2 {
            return Err(Error::OutOfRange("LVCMDQ_ERR_MAP word"));
        }
        let base = VINTF_BASE + VINTF_STRIDE * vintf as usize;
        Ok(self
            .mmio
            .read64(base + VINTF_LVCMDQ_ERR_MAP + 8 * m as usize))
    }
}
