//! The SMMUv3 driver: probe, tables, queues, enable, commands, events,
//! global errors.

use crate::dma::{dma_rmb, dma_wmb, DmaBuf};
use crate::error::{CmdError, CommandFault, Error};
use crate::mmio::Mmio;
use crate::queue::Queue;
use crate::regs::mem::{L1STD_L2PTR, L1STD_SPAN};
use crate::regs::smmu::*;
use crate::structs::{Cd, Command, Event, Ste};

/// Words per command (16 bytes).
pub const CMD_WORDS: usize = 2;
/// Words per event record (32 bytes).
pub const EVT_WORDS: usize = 4;
/// Words per STE (64 bytes).
pub const STE_WORDS: usize = 8;
/// Words per CD (64 bytes).
pub const CD_WORDS: usize = 8;
/// Level-2 stream tables the driver can track (two-level format).
pub const MAX_L2_TABLES: usize = 8;
/// Default bound on register polls (acknowledgements, queue drains).
pub const DEFAULT_POLL_LIMIT: u32 = 1_000_000;

/// What the ID registers say the SMMU supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Raw IDR0.
    pub idr0: u32,
    /// Raw IDR1.
    pub idr1: u32,
    /// Raw IDR3.
    pub idr3: u32,
    /// Raw IDR5.
    pub idr5: u32,
    /// Raw IIDR.
    pub iidr: u32,
    /// Architecture revision 3.`minor` (AIDR.ARCHMINORREV).
    pub arch_minor: u8,
    /// Stage 1 translation (IDR0.S1P).
    pub stage1: bool,
    /// Stage 2 translation (IDR0.S2P).
    pub stage2: bool,
    /// AArch64 translation tables (IDR0.TTF includes AArch64).
    pub aarch64_tables: bool,
    /// Coherent table and queue access (IDR0.COHACC).
    pub coherent: bool,
    /// 16-bit ASIDs (IDR0.ASID16).
    pub asid16: bool,
    /// 16-bit VMIDs (IDR0.VMID16).
    pub vmid16: bool,
    /// MSIs (IDR0.MSI).
    pub msi: bool,
    /// EL2 StreamWorld (IDR0.HYP).
    pub hyp: bool,
    /// Two-level stream tables (IDR0.ST_LEVEL = 1).
    pub two_level_strtab: bool,
    /// Terminated transactions can only abort (IDR0.TERM_MODEL).
    pub term_model_abort_only: bool,
    /// IDR0.STALL_MODEL (0: stall and terminate, 1: terminate only, 2: stall forced).
    pub stall_model: u8,
    /// Stream ID bits (IDR1.SIDSIZE).
    pub sid_bits: u8,
    /// Substream ID bits (IDR1.SSIDSIZE).
    pub ssid_bits: u8,
    /// log2 of the largest command queue (IDR1.CMDQS).
    pub cmdq_max_log2: u8,
    /// log2 of the largest event queue (IDR1.EVENTQS).
    pub eventq_max_log2: u8,
    /// Queue or table bases are fixed (IDR1.QUEUES_PRESET / TABLES_PRESET).
    pub preset: bool,
    /// Range invalidations (IDR3.RIL).
    pub range_inv: bool,
    /// Output address size in bits (IDR5.OAS decoded).
    pub oas_bits: u8,
    /// 4 KiB granule (IDR5.GRAN4K).
    pub gran4k: bool,
    /// 16 KiB granule (IDR5.GRAN16K).
    pub gran16k: bool,
    /// 64 KiB granule (IDR5.GRAN64K).
    pub gran64k: bool,
}

impl Capabilities {
    fn decode(idr0: u32, idr1: u32, idr3: u32, idr5: u32, iidr: u32, aidr: u32) -> Self {
        let oas_bits = match IDR5_OAS.get32(idr5) {
            0 => 32,
            1 => 36,
            2 => 40,
            3 => 42,
            4 => 44,
            5 => 48,
            _ => 52,
        };
        Capabilities {
            idr0,
            idr1,
            idr3,
            idr5,
            iidr,
            arch_minor: AIDR_ARCHMINORREV.get32(aidr) as u8,
            stage1: IDR0_S1P.get32(idr0) != 0,
            stage2: IDR0_S2P.get32(idr0) != 0,
            aarch64_tables: IDR0_TTF.get32(idr0) & 2 != 0,
            coherent: IDR0_COHACC.get32(idr0) != 0,
            asid16: IDR0_ASID16.get32(idr0) != 0,
            vmid16: IDR0_VMID16.get32(idr0) != 0,
            msi: IDR0_MSI.get32(idr0) != 0,
            hyp: IDR0_HYP.get32(idr0) != 0,
            two_level_strtab: IDR0_ST_LEVEL.get32(idr0) == 1,
            term_model_abort_only: IDR0_TERM_MODEL.get32(idr0) != 0,
            stall_model: IDR0_STALL_MODEL.get32(idr0) as u8,
            sid_bits: IDR1_SIDSIZE.get32(idr1) as u8,
            ssid_bits: IDR1_SSIDSIZE.get32(idr1) as u8,
            cmdq_max_log2: IDR1_CMDQS.get32(idr1) as u8,
            eventq_max_log2: IDR1_EVENTQS.get32(idr1) as u8,
            preset: IDR1_QUEUES_PRESET.get32(idr1) != 0 || IDR1_TABLES_PRESET.get32(idr1) != 0,
            range_inv: IDR3_RIL.get32(idr3) != 0,
            oas_bits,
            gran4k: IDR5_GRAN4K.get32(idr5) != 0,
            gran16k: IDR5_GRAN16K.get32(idr5) != 0,
            gran64k: IDR5_GRAN64K.get32(idr5) != 0,
        }
    }
}

/// Active global errors (GERROR ^ GERRORN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalErrors(pub u32);

impl GlobalErrors {
    /// No error active.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// CMDQ_ERR is active.
    pub fn cmdq_err(self) -> bool {
        self.0 & GERROR_CMDQ_ERR != 0
    }
    /// EVENTQ_ABT_ERR is active.
    pub fn eventq_abt_err(self) -> bool {
        self.0 & GERROR_EVENTQ_ABT_ERR != 0
    }
}

// One per SMMU and no allocator to box into: the size difference is fine.
#[allow(clippy::large_enum_variant)]
enum StreamTable<'a> {
    Linear {
        buf: DmaBuf<'a>,
        log2size: u32,
    },
    TwoLevel {
        l1: DmaBuf<'a>,
        log2size: u32,
        split: u32,
        l2: [Option<(u32, DmaBuf<'a>)>; MAX_L2_TABLES],
    },
}

/// An SMMUv3 driven through the register window `M`.
pub struct Smmu<'a, M: Mmio> {
    mmio: M,
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
    pub fn probe(mut mmio: M) -> Result<Self, Error> {
        let idr0 = mmio.read32(IDR0);
        let idr1 = mmio.read32(IDR1);
        let idr3 = mmio.read32(IDR3);
        let idr5 = mmio.read32(IDR5);
        let iidr = mmio.read32(IIDR);
        let aidr = mmio.read32(AIDR);
        if AIDR_ARCHMAJORREV.get32(aidr) != 0 {
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
            mmio,
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

    /// The register window, for reads the driver does not wrap.
    pub fn mmio(&mut self) -> &mut M {
        &mut self.mmio
    }

    // ----- CR0 handshake -----

    /// Writes CR0 and waits until CR0ACK reports the same enables.
    pub fn write_cr0(&mut self, value: u32) -> Result<(), Error> {
        const ACKED: u32 = 0x1f;
        self.mmio.write32(CR0, value);
        for _ in 0..self.poll_limit {
            if self.mmio.read32(CR0ACK) & ACKED == value & ACKED {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("CR0ACK"))
    }

    /// Current CR0ACK.
    pub fn cr0ack(&mut self) -> u32 {
        self.mmio.read32(CR0ACK)
    }

    /// Disables translation and all queues (CR0 = 0, acknowledged).
    pub fn disable(&mut self) -> Result<(), Error> {
        self.write_cr0(0)
    }

    /// Sets GBPA.ABORT (what traffic does while SMMUEN = 0) through the
    /// UPDATE handshake.
    pub fn set_global_bypass_abort(&mut self, abort: bool) -> Result<(), Error> {
        let old = self.mmio.read32(GBPA) & !GBPA_UPDATE;
        let new = if abort {
            old | GBPA_ABORT
        } else {
            old & !GBPA_ABORT
        };
        self.mmio.write32(GBPA, new | GBPA_UPDATE);
        for _ in 0..self.poll_limit {
            if self.mmio.read32(GBPA) & GBPA_UPDATE == 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("GBPA.UPDATE"))
    }

    fn require_disabled(&mut self, what: &'static str) -> Result<(), Error> {
        if self.mmio.read32(CR0ACK) & (CR0_SMMUEN | CR0_CMDQEN | CR0_EVENTQEN) != 0 {
            return Err(Error::OutOfRange(what));
        }
        Ok(())
    }

    // ----- queues -----

    /// Installs the command queue (`1 << log2size` entries of 16 bytes in
    /// `buf`, aligned to its size). The SMMU must be disabled.
    pub fn setup_cmdq(&mut self, buf: DmaBuf<'a>, log2size: u32) -> Result<(), Error> {
        self.require_disabled("command queue set up while enabled")?;
        if log2size > u32::from(self.caps.cmdq_max_log2) {
            return Err(Error::OutOfRange("command queue larger than IDR1.CMDQS"));
        }
        let q =
            Queue::new(buf, log2size, CMD_WORDS).ok_or(Error::BadBuffer("command queue buffer"))?;
        let base = Q_BASE_RWA.val(1)
            | Q_BASE_ADDR.val(q.phys() >> 5)
            | Q_BASE_LOG2SIZE.val(u64::from(log2size));
        self.mmio.write64(CMDQ_BASE, base);
        self.mmio.write32(CMDQ_PROD, 0);
        self.mmio.write32(CMDQ_CONS, 0);
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
        let base = Q_BASE_RWA.val(1)
            | Q_BASE_ADDR.val(q.phys() >> 5)
            | Q_BASE_LOG2SIZE.val(u64::from(log2size));
        self.mmio.write64(EVENTQ_BASE, base);
        self.mmio.write32(EVENTQ_PROD, 0);
        self.mmio.write32(EVENTQ_CONS, 0);
        self.evtq = Some(q);
        Ok(())
    }

    // ----- stream table -----

    /// Installs a linear stream table of `1 << log2size` STEs, all invalid.
    /// The SMMU must be disabled.
    pub fn setup_strtab_linear(&mut self, mut buf: DmaBuf<'a>, log2size: u32) -> Result<(), Error> {
        self.require_disabled("stream table set up while enabled")?;
        if log2size > u32::from(self.caps.sid_bits) {
            return Err(Error::OutOfRange("stream table larger than IDR1.SIDSIZE"));
        }
        let bytes = 64u64 << log2size;
        if (buf.len_bytes() as u64) < bytes || !buf.is_aligned(bytes) {
            return Err(Error::BadBuffer("linear stream table"));
        }
        buf.zero();
        self.mmio.write64(
            STRTAB_BASE,
            STRTAB_BASE_RA.val(1) | STRTAB_BASE_ADDR.val(buf.phys() >> 6),
        );
        self.mmio.write32(
            STRTAB_BASE_CFG,
            STRTAB_BASE_CFG_FMT.val32(0) | STRTAB_BASE_CFG_LOG2SIZE.val32(log2size),
        );
        self.strtab = Some(StreamTable::Linear { buf, log2size });
        Ok(())
    }

    /// Installs a two-level stream table covering `1 << log2size` stream
    /// IDs, `split` of whose bits index the level-2 tables; every level-1
    /// descriptor starts invalid (add level-2 tables with
    /// [`Smmu::install_l2_table`]). The SMMU must be disabled.
    pub fn setup_strtab_2level(
        &mut self,
        mut l1: DmaBuf<'a>,
        log2size: u32,
        split: u32,
    ) -> Result<(), Error> {
        self.require_disabled("stream table set up while enabled")?;
        if !self.caps.two_level_strtab {
            return Err(Error::Unsupported(
                "two-level stream tables (IDR0.ST_LEVEL)",
            ));
        }
        if log2size > u32::from(self.caps.sid_bits) {
            return Err(Error::OutOfRange("stream table larger than IDR1.SIDSIZE"));
        }
        // The architecture allows SPLIT values 6, 8 and 10.
        if !matches!(split, 6 | 8 | 10) || split > log2size {
            return Err(Error::OutOfRange(
                "SPLIT must be 6, 8 or 10 and <= LOG2SIZE",
            ));
        }
        let l1_entries = 1u64 << (log2size - split);
        let bytes = l1_entries * 8;
        if (l1.len_bytes() as u64) < bytes || !l1.is_aligned(bytes.max(64)) {
            return Err(Error::BadBuffer("level-1 stream table"));
        }
        l1.zero();
        self.mmio.write64(
            STRTAB_BASE,
            STRTAB_BASE_RA.val(1) | STRTAB_BASE_ADDR.val(l1.phys() >> 6),
        );
        self.mmio.write32(
            STRTAB_BASE_CFG,
            STRTAB_BASE_CFG_FMT.val32(1)
                | STRTAB_BASE_CFG_SPLIT.val32(split)
                | STRTAB_BASE_CFG_LOG2SIZE.val32(log2size),
        );
        self.strtab = Some(StreamTable::TwoLevel {
            l1,
            log2size,
            split,
            l2: [const { None }; MAX_L2_TABLES],
        });
        Ok(())
    }

    /// Gives the two-level stream table a level-2 table for the stream IDs
    /// whose upper bits are `l1_index` (2^split STEs, all invalid), and
    /// invalidates the SMMU's cached copy of the level-1 descriptor when
    /// the command queue runs.
    pub fn install_l2_table(&mut self, l1_index: u32, mut buf: DmaBuf<'a>) -> Result<(), Error> {
        let Some(StreamTable::TwoLevel {
            l1,
            log2size,
            split,
            l2,
        }) = self.strtab.as_mut()
        else {
            return Err(Error::NotConfigured("two-level stream table"));
        };
        let (log2size, split) = (*log2size, *split);
        if u64::from(l1_index) >= 1u64 << (log2size - split) {
            return Err(Error::OutOfRange("level-1 index"));
        }
        let bytes = 64u64 << split;
        if (buf.len_bytes() as u64) < bytes || !buf.is_aligned(bytes) {
            return Err(Error::BadBuffer("level-2 stream table"));
        }
        let slot = match l2
            .iter()
            .position(|e| matches!(e, Some((i, _)) if *i == l1_index))
        {
            Some(s) => s,
            None => l2
                .iter()
                .position(|e| e.is_none())
                .ok_or(Error::OutOfRange("too many level-2 tables"))?,
        };
        buf.zero();
        let desc = L1STD_SPAN.val(u64::from(split) + 1) | L1STD_L2PTR.val(buf.phys() >> 6);
        dma_wmb();
        l1.write(l1_index as usize, desc);
        l2[slot] = Some((l1_index, buf));
        if self.cmdq_running() {
            let first_sid = l1_index << split;
            let mut b = self.batch();
            b.push(Command::cfgi_ste(first_sid, false))?;
            b.sync()?;
        }
        Ok(())
    }

    fn ste_location(&mut self, sid: u32) -> Result<(&mut DmaBuf<'a>, usize), Error> {
        match self.strtab.as_mut() {
            None => Err(Error::NotConfigured("stream table")),
            Some(StreamTable::Linear { buf, log2size }) => {
                if u64::from(sid) >= 1u64 << *log2size {
                    return Err(Error::OutOfRange("stream ID beyond the stream table"));
                }
                Ok((buf, sid as usize * STE_WORDS))
            }
            Some(StreamTable::TwoLevel {
                log2size,
                split,
                l2,
                ..
            }) => {
                if u64::from(sid) >= 1u64 << *log2size {
                    return Err(Error::OutOfRange("stream ID beyond the stream table"));
                }
                let (hi, lo) = (sid >> *split, sid & ((1 << *split) - 1));
                let table = l2
                    .iter_mut()
                    .flatten()
                    .find(|(i, _)| *i == hi)
                    .ok_or(Error::NotConfigured("no level-2 table for this stream ID"))?;
                Ok((&mut table.1, lo as usize * STE_WORDS))
            }
        }
    }

    /// Reads back the STE of `sid`.
    pub fn read_ste(&mut self, sid: u32) -> Result<Ste, Error> {
        let (buf, at) = self.ste_location(sid)?;
        let mut w = [0u64; 8];
        for (i, x) in w.iter_mut().enumerate() {
            *x = buf.read(at + i);
        }
        Ok(Ste(w))
    }

    /// Installs `ste` for `sid`. A live STE is first made invalid and the
    /// SMMU told (CFGI_STE + SYNC), then words 1-7 are written, then word 0
    /// (which holds V), then CFGI_STE + SYNC again, so the SMMU never sees
    /// a half-written valid entry.
    pub fn write_ste(&mut self, sid: u32, ste: &Ste) -> Result<(), Error> {
        let running = self.cmdq_running();
        let (buf, at) = self.ste_location(sid)?;
        let was_valid = buf.read(at) & 1 != 0;
        if was_valid {
            buf.write(at, 0);
            if running {
                dma_wmb();
                self.invalidate_ste(sid)?;
            }
        }
        let (buf, at) = self.ste_location(sid)?;
        for i in 1..STE_WORDS {
            buf.write(at + i, ste.0[i]);
        }
        dma_wmb();
        buf.write(at, ste.0[0]);
        dma_wmb();
        if running {
            self.invalidate_ste(sid)?;
        }
        Ok(())
    }

    fn invalidate_ste(&mut self, sid: u32) -> Result<(), Error> {
        let mut b = self.batch();
        b.push(Command::cfgi_ste(sid, true))?;
        b.sync()
    }

    /// Writes the CD `cd` into `buf` (8 words, 64-byte aligned), V last.
    /// Returns the device address to put in an STE.
    pub fn write_cd(buf: &mut DmaBuf<'_>, cd: &Cd) -> Result<u64, Error> {
        if buf.len_words() < CD_WORDS || !buf.is_aligned(64) {
            return Err(Error::BadBuffer("context descriptor"));
        }
        for i in 1..CD_WORDS {
            buf.write(i, cd.0[i]);
        }
        dma_wmb();
        buf.write(0, cd.0[0]);
        dma_wmb();
        Ok(buf.phys())
    }

    // ----- enable -----

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
        let cr1 = CR1_QUEUE_IC.val32(1)
            | CR1_QUEUE_OC.val32(1)
            | CR1_QUEUE_SH.val32(3)
            | CR1_TABLE_IC.val32(1)
            | CR1_TABLE_OC.val32(1)
            | CR1_TABLE_SH.val32(3);
        self.mmio.write32(CR1, cr1);
        self.mmio.write32(CR2, CR2_RECINVSID | CR2_PTM);
        self.mmio.write32(IRQ_CTRL, 0);
        let mut cr0 = CR0_CMDQEN;
        self.write_cr0(cr0)?;
        {
            let hyp = self.caps.hyp;
            let mut b = self.batch();
            b.push(Command::cfgi_all())?;
            if hyp {
                b.push(Command::tlbi_el2_all())?;
            }
            b.push(Command::tlbi_nsnh_all())?;
            b.sync()?;
        }
        if self.evtq.is_some() {
            cr0 |= CR0_EVENTQEN;
            self.write_cr0(cr0)?;
        }
        cr0 |= CR0_SMMUEN;
        self.write_cr0(cr0)
    }

    fn cmdq_running(&mut self) -> bool {
        self.cmdq.is_some() && self.mmio.read32(CR0ACK) & CR0_CMDQEN != 0
    }

    // ----- commands -----

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

    fn read_cmdq_cons(&mut self) -> u32 {
        self.mmio.read32(CMDQ_CONS)
    }

    /// Active global errors.
    pub fn global_errors(&mut self) -> GlobalErrors {
        GlobalErrors(self.mmio.read32(GERROR) ^ self.mmio.read32(GERRORN))
    }

    /// Acknowledges the active global errors in `mask` by toggling their
    /// GERRORN bits to match GERROR.
    pub fn ack_global_errors(&mut self, mask: u32) {
        let gerror = self.mmio.read32(GERROR);
        let gerrorn = self.mmio.read32(GERRORN);
        let active = (gerror ^ gerrorn) & mask;
        if active != 0 {
            self.mmio.write32(GERRORN, gerrorn ^ active);
        }
    }

    /// CMDQ_CONS.ERR now.
    pub fn cmdq_error_code(&mut self) -> CmdError {
        CmdError::from_code(CMDQ_CONS_ERR.get32(self.mmio.read32(CMDQ_CONS)))
    }

    /// Recovers from a command queue error, if one is active: finds the
    /// refused command at CONS, replaces it with a CMD_SYNC so that the
    /// queue can run past it, acknowledges GERROR.CMDQ_ERR and waits for
    /// the queue to drain. Returns what was refused.
    pub fn recover_command_error(&mut self) -> Result<Option<CommandFault>, Error> {
        if !self.global_errors().cmdq_err() {
            return Ok(None);
        }
        let cons_reg = self.mmio.read32(CMDQ_CONS);
        let q = self
            .cmdq
            .as_mut()
            .ok_or(Error::NotConfigured("command queue"))?;
        let cons = cons_reg & q.ptr_mask();
        let mut bad = [0u64; 2];
        dma_rmb();
        q.read_entry(cons, &mut bad);
        q.write_entry(cons, &Command::sync().0);
        dma_wmb();
        let fault = CommandFault {
            error: CmdError::from_code(CMDQ_CONS_ERR.get32(cons_reg)),
            slot: q.slot(cons),
            opcode: Command(bad).opcode(),
        };
        self.ack_global_errors(GERROR_CMDQ_ERR);
        self.wait_cmdq_drained()?;
        Ok(Some(fault))
    }

    fn wait_cmdq_drained(&mut self) -> Result<(), Error> {
        let target = self
            .cmdq
            .as_ref()
            .ok_or(Error::NotConfigured("command queue"))?
            .prod;
        self.wait_consumed(target)
    }

    fn wait_consumed(&mut self, target: u32) -> Result<(), Error> {
        for _ in 0..self.poll_limit {
            let cons_reg = self.read_cmdq_cons();
            let q = self
                .cmdq
                .as_mut()
                .ok_or(Error::NotConfigured("command queue"))?;
            let cons = cons_reg & q.ptr_mask();
            q.cons = cons;
            if q.consumed(cons, target) {
                return Ok(());
            }
            if self.global_errors().cmdq_err() {
                let code = CmdError::from_code(CMDQ_CONS_ERR.get32(cons_reg));
                return Err(Error::Command(code));
            }
            core::hint::spin_loop();
        }
        Err(Error::Timeout("command queue consumption"))
    }

    // ----- events -----

    /// Takes the next event record, if the SMMU has written one. Also
    /// acknowledges an event queue overflow (records lost), reported in
    /// the returned flag.
    pub fn pop_event(&mut self) -> Result<(Option<Event>, bool), Error> {
        let prod_reg = self.mmio.read32(EVENTQ_PROD);
        let cons_reg = self.mmio.read32(EVENTQ_CONS);
        let q = self
            .evtq
            .as_mut()
            .ok_or(Error::NotConfigured("event queue"))?;
        let overflow = (prod_reg ^ cons_reg) & EVENTQ_PROD_OVFLG != 0;
        let prod = prod_reg & q.ptr_mask();
        let cons = cons_reg & q.ptr_mask();
        let ovack = if overflow {
            prod_reg & EVENTQ_PROD_OVFLG
        } else {
            cons_reg & EVENTQ_CONS_OVACKFLG
        };
        if q.is_empty_at(prod, cons) {
            if overflow {
                self.mmio.write32(EVENTQ_CONS, cons | ovack);
            }
            return Ok((None, overflow));
        }
        dma_rmb();
        let mut w = [0u64; 4];
        q.read_entry(cons, &mut w);
        let next = q.next(cons);
        q.cons = next;
        self.mmio.write32(EVENTQ_CONS, next | ovack);
        Ok((Some(Event(w)), overflow))
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
            let cons_reg = self.smmu.read_cmdq_cons();
            let q = self
                .smmu
                .cmdq
                .as_mut()
                .ok_or(Error::NotConfigured("command queue"))?;
            let cons = cons_reg & q.ptr_mask();
            if !q.is_full_at(self.prod, cons) {
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
        self.smmu.mmio.write32(CMDQ_PROD, self.prod);
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
        self.push(Command::sync())?;
        self.publish();
        let target = self.prod;
        self.smmu.wait_consumed(target)
    }
}
