//! The SMMUv3 driver: probe, tables, queues, enable, commands, events,
//! global errors.

use crate::dma::{dma_rmb, dma_wmb, DmaBuf};
use crate::error::{CmdError, CommandFault, Error};
use crate::mmio::Mmio;
use crate::queue::Queue;
use crate::structs::{cmd, ste, Cd, Command, Event, Ste};
use regmap_rt::tock_registers::fields::FieldValue;
use regmap_rt::Words;
use smmuv3_regs::enums::{AddrSize, StLevel, StallModel, TermModel, Ttf};
use smmuv3_regs::structs::L1Std;
use smmuv3_regs::{
    Smmuv3, AIDR, CMDQ_BASE, CMDQ_CONS, CMDQ_PROD, CR0, CR1, CR2, EVENTQ_BASE, EVENTQ_CONS,
    EVENTQ_PROD, GBPA, GERROR, IDR0, IDR1, IDR3, IDR5, STRTAB_BASE, STRTAB_BASE_CFG,
};

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
        let oas_bits = match IDR5::OAS.read_as_enum::<AddrSize>(idr5) {
            Some(AddrSize::BITS_32) => 32,
            Some(AddrSize::BITS_36) => 36,
            Some(AddrSize::BITS_40) => 40,
            Some(AddrSize::BITS_42) => 42,
            Some(AddrSize::BITS_44) => 44,
            Some(AddrSize::BITS_48) => 48,
            Some(AddrSize::BITS_52) => 52,
            Some(AddrSize::BITS_56) | None => 56,
        };
        Capabilities {
            idr0,
            idr1,
            idr3,
            idr5,
            iidr,
            arch_minor: AIDR::ARCHMINORREV.read(aidr) as u8,
            stage1: IDR0::S1P.is_set(idr0),
            stage2: IDR0::S2P.is_set(idr0),
            aarch64_tables: matches!(
                IDR0::TTF.read_as_enum::<Ttf>(idr0),
                Some(Ttf::AARCH64 | Ttf::AARCH32_64)
            ),
            coherent: IDR0::COHACC.is_set(idr0),
            asid16: IDR0::ASID16.is_set(idr0),
            vmid16: IDR0::VMID16.is_set(idr0),
            msi: IDR0::MSI.is_set(idr0),
            hyp: IDR0::HYP.is_set(idr0),
            two_level_strtab: IDR0::ST_LEVEL.read_as_enum::<StLevel>(idr0)
                == Some(StLevel::TWO_LEVEL),
            term_model_abort_only: IDR0::TERM_MODEL.read_as_enum::<TermModel>(idr0)
                == Some(TermModel::ABORT),
            stall_model: IDR0::STALL_MODEL.read(idr0) as u8,
            sid_bits: IDR1::SIDSIZE.read(idr1) as u8,
            ssid_bits: IDR1::SSIDSIZE.read(idr1) as u8,
            cmdq_max_log2: IDR1::CMDQS.read(idr1) as u8,
            eventq_max_log2: IDR1::EVENTQS.read(idr1) as u8,
            preset: IDR1::QUEUES_PRESET.is_set(idr1) || IDR1::TABLES_PRESET.is_set(idr1),
            range_inv: IDR3::RIL.is_set(idr3),
            oas_bits,
            gran4k: IDR5::GRAN4K.is_set(idr5),
            gran16k: IDR5::GRAN16K.is_set(idr5),
            gran64k: IDR5::GRAN64K.is_set(idr5),
        }
    }

    /// IDR0.STALL_MODEL as the map's enum.
    pub fn stall_model_kind(&self) -> Option<StallModel> {
        StallModel::from_value(u64::from(self.stall_model))
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
        GERROR::CMDQ_ERR.is_set(self.0)
    }
    /// EVENTQ_ABT_ERR is active.
    pub fn eventq_abt_err(self) -> bool {
        GERROR::EVENTQ_ABT_ERR.is_set(self.0)
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

    // ----- CR0 handshake -----

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

    fn require_disabled(&mut self, what: &'static str) -> Result<(), Error> {
        let ack = self.regs.cr0ack().extract();
        if ack.is_set(CR0::SMMUEN) || ack.is_set(CR0::CMDQEN) || ack.is_set(CR0::EVENTQEN) {
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
        self.regs
            .strtab_base()
            .write(STRTAB_BASE::RA::SET + STRTAB_BASE::ADDR.val(buf.phys() >> 6));
        self.regs
            .strtab_base_cfg()
            .write(STRTAB_BASE_CFG::FMT::LINEAR + STRTAB_BASE_CFG::LOG2SIZE.val(log2size));
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
        self.regs
            .strtab_base()
            .write(STRTAB_BASE::RA::SET + STRTAB_BASE::ADDR.val(l1.phys() >> 6));
        self.regs.strtab_base_cfg().write(
            STRTAB_BASE_CFG::FMT::TWO_LEVEL
                + STRTAB_BASE_CFG::SPLIT.val(split)
                + STRTAB_BASE_CFG::LOG2SIZE.val(log2size),
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
        let desc = L1Std::new()
            .with(L1Std::SPAN, u64::from(split) + 1)
            .with(L1Std::L2PTR, buf.phys() >> 6);
        dma_wmb();
        l1.write(l1_index as usize, desc.0[0]);
        l2[slot] = Some((l1_index, buf));
        if self.cmdq_running() {
            let first_sid = l1_index << split;
            let mut b = self.batch();
            b.push(cmd::cfgi_ste(first_sid, false))?;
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
        let was_valid = ste::is_valid(&Ste([buf.read(at), 0, 0, 0, 0, 0, 0, 0]));
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
        b.push(cmd::cfgi_ste(sid, true))?;
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

    fn cmdq_running(&mut self) -> bool {
        self.cmdq.is_some() && self.regs.cr0ack().is_set(CR0::CMDQEN)
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
        let cons_reg = self.regs.cmdq_cons().get();
        let q = self
            .cmdq
            .as_mut()
            .ok_or(Error::NotConfigured("command queue"))?;
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
            let cons_reg = self.regs.cmdq_cons().get();
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
                let code = CmdError::from_code(CMDQ_CONS::ERR.read(cons_reg));
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
