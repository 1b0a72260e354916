//! Values of the in-memory structures the driver writes and reads: STEs,
//! CDs, commands and event records, as arrays of little-endian 64-bit words.

use crate::regs::mem::*;

/// A stream table entry (64 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ste(pub [u64; 8]);

impl Ste {
    /// An invalid STE (V = 0): the SMMU reports C_BAD_STE for its traffic.
    pub const fn invalid() -> Ste {
        Ste([0; 8])
    }

    /// Valid, CONFIG = abort: traffic is terminated without an event.
    pub const fn abort() -> Ste {
        let mut w = [0; 8];
        w[0] = STE_V.val(1) | STE_CONFIG.val(STE_CONFIG_ABORT);
        Ste(w)
    }

    /// Valid, CONFIG = bypass: traffic passes untranslated, with the
    /// incoming shareability.
    pub const fn bypass() -> Ste {
        let mut w = [0; 8];
        w[0] = STE_V.val(1) | STE_CONFIG.val(STE_CONFIG_BYPASS);
        w[1] = STE_SHCFG.val(1);
        Ste(w)
    }

    /// Valid, stage 1 translation through the single CD at `cd_phys`
    /// (64-byte aligned; no substreams: S1CDMAX = 0, S1FMT linear).
    /// CD fetches are write-back cacheable, inner shareable; the stream
    /// world is NS-EL1.
    pub const fn stage1(cd_phys: u64) -> Ste {
        let mut w = [0; 8];
        w[0] = STE_V.val(1)
            | STE_CONFIG.val(STE_CONFIG_S1_TRANS)
            | STE_S1FMT.val(0)
            | STE_S1CONTEXTPTR.val(cd_phys >> 6)
            | STE_S1CDMAX.val(0);
        w[1] = STE_S1DSS.val(0)
            | STE_S1CIR.val(1)
            | STE_S1COR.val(1)
            | STE_S1CSH.val(3)
            | STE_STRW.val(0)
            | STE_SHCFG.val(1);
        Ste(w)
    }

    /// Whether V is set.
    pub const fn is_valid(&self) -> bool {
        STE_V.get(self.0[0]) != 0
    }
}

/// Translation granule of a CD's TTB0 walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granule {
    /// 4 KiB pages.
    Size4K,
    /// 16 KiB pages.
    Size16K,
    /// 64 KiB pages.
    Size64K,
}

/// Parameters of a stage-1 context descriptor using TTB0 only.
#[derive(Clone, Copy, Debug)]
pub struct Stage1Config {
    /// Address space identifier (tags the SMMU's TLB entries).
    pub asid: u16,
    /// Physical address of the level-0/1 translation table.
    pub ttb0: u64,
    /// TCR.T0SZ: the input range is 2^(64 - t0sz) bytes.
    pub t0sz: u8,
    /// Granule of the TTB0 tables.
    pub granule: Granule,
    /// Intermediate physical address size encoding (TCR.IPS: 0 = 32 bits,
    /// 1 = 36, 2 = 40, 3 = 42, 4 = 44, 5 = 48, 6 = 52).
    pub ips: u8,
    /// MAIR (attribute index i in byte i).
    pub mair: u64,
    /// Record translation faults in the event queue (CD.R).
    pub record_faults: bool,
}

/// A context descriptor (64 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cd(pub [u64; 8]);

impl Cd {
    /// A valid AArch64 stage-1 CD walking TTB0, TTB1 disabled (EPD1).
    /// Faults abort the transaction (A = 1, the only model when
    /// IDR0.TERM_MODEL = 1) and never stall (S = 0).
    pub fn stage1(cfg: &Stage1Config) -> Cd {
        let tg0 = match cfg.granule {
            Granule::Size4K => 0,
            Granule::Size64K => 1,
            Granule::Size16K => 2,
        };
        let mut w = [0u64; 8];
        w[0] = CD_T0SZ.val(u64::from(cfg.t0sz))
            | CD_TG0.val(tg0)
            | CD_IR0.val(1)
            | CD_OR0.val(1)
            | CD_SH0.val(3)
            | CD_EPD0.val(0)
            // TTB1 is unused, but describe a legal 4K/39-bit range so a
            // strict decoder accepts the CD.
            | CD_T1SZ.val(25)
            | CD_TG1.val(2)
            | CD_EPD1.val(1)
            | CD_V.val(1)
            | CD_IPS.val(u64::from(cfg.ips))
            | CD_AFFD.val(1)
            | CD_AA64.val(1)
            | CD_R.val(u64::from(cfg.record_faults))
            | CD_A.val(1)
            | CD_ASET.val(1)
            | CD_ASID.val(u64::from(cfg.asid));
        w[1] = CD_TTB0.val(cfg.ttb0 >> 4);
        w[3] = cfg.mair;
        Cd(w)
    }

    /// Whether V is set.
    pub const fn is_valid(&self) -> bool {
        CD_V.get(self.0[0]) != 0
    }
}

/// A command (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command(pub [u64; 2]);

impl Command {
    /// A command made of raw words (any opcode, including illegal ones).
    pub const fn raw(w0: u64, w1: u64) -> Command {
        Command([w0, w1])
    }

    /// The opcode.
    pub const fn opcode(&self) -> u8 {
        CMD_OPCODE.get(self.0[0]) as u8
    }

    /// CMD_CFGI_STE: the STE of `sid` changed (`leaf`: only the STE, no L1
    /// descriptor).
    pub const fn cfgi_ste(sid: u32, leaf: bool) -> Command {
        Command([
            CMD_OPCODE.val(OP_CFGI_STE) | CMD_SID.val(sid as u64),
            CMD_LEAF.val(leaf as u64),
        ])
    }

    /// CMD_CFGI_ALL: CFGI_STE_RANGE with RANGE = 31, every cached STE and CD.
    pub const fn cfgi_all() -> Command {
        Command([CMD_OPCODE.val(OP_CFGI_STE_RANGE), CMD_RANGE.val(31)])
    }

    /// CMD_CFGI_CD: the CD of (`sid`, substream 0) changed.
    pub const fn cfgi_cd(sid: u32, leaf: bool) -> Command {
        Command([
            CMD_OPCODE.val(OP_CFGI_CD) | CMD_SID.val(sid as u64),
            CMD_LEAF.val(leaf as u64),
        ])
    }

    /// CMD_CFGI_CD_ALL: every CD of `sid` changed.
    pub const fn cfgi_cd_all(sid: u32) -> Command {
        Command([CMD_OPCODE.val(OP_CFGI_CD_ALL) | CMD_SID.val(sid as u64), 0])
    }

    /// CMD_TLBI_NH_ALL: every non-hypervisor stage-1 TLB entry.
    pub const fn tlbi_nh_all() -> Command {
        Command([CMD_OPCODE.val(OP_TLBI_NH_ALL), 0])
    }

    /// CMD_TLBI_NH_ASID: every entry tagged `asid` (VMID 0).
    pub const fn tlbi_nh_asid(asid: u16) -> Command {
        Command([
            CMD_OPCODE.val(OP_TLBI_NH_ASID) | CMD_ASID.val(asid as u64),
            0,
        ])
    }

    /// CMD_TLBI_NH_VA: the entries for `addr` (page aligned) tagged `asid`.
    pub const fn tlbi_nh_va(asid: u16, addr: u64, leaf: bool) -> Command {
        Command([
            CMD_OPCODE.val(OP_TLBI_NH_VA) | CMD_ASID.val(asid as u64),
            CMD_ADDR.val(addr >> 12) | CMD_LEAF.val(leaf as u64),
        ])
    }

    /// CMD_TLBI_EL2_ALL.
    pub const fn tlbi_el2_all() -> Command {
        Command([CMD_OPCODE.val(OP_TLBI_EL2_ALL), 0])
    }

    /// CMD_TLBI_NSNH_ALL: every non-secure, non-hypervisor entry.
    pub const fn tlbi_nsnh_all() -> Command {
        Command([CMD_OPCODE.val(OP_TLBI_NSNH_ALL), 0])
    }

    /// CMD_SYNC without a completion signal (completion is observed by
    /// CONS moving past it).
    pub const fn sync() -> Command {
        Command([CMD_OPCODE.val(OP_CMD_SYNC) | CMD_SYNC_CS.val(0), 0])
    }
}

/// An event record (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event(pub [u64; 4]);

impl Event {
    /// Event type (EventId).
    pub const fn id(&self) -> u8 {
        EVT_ID.get(self.0[0]) as u8
    }
    /// Stream ID of the faulting transaction.
    pub const fn sid(&self) -> u32 {
        EVT_SID.get(self.0[0]) as u32
    }
    /// Substream ID, when `ssv()`.
    pub const fn ssid(&self) -> u32 {
        EVT_SSID.get(self.0[0]) as u32
    }
    /// Whether the substream ID is valid.
    pub const fn ssv(&self) -> bool {
        EVT_SSV.get(self.0[0]) != 0
    }
    /// The input address (word 2) of translation and permission faults.
    pub const fn input_addr(&self) -> u64 {
        self.0[2]
    }
    /// The architecture's name of the event type.
    pub const fn name(&self) -> &'static str {
        match self.id() {
            0x01 => "F_UUT",
            0x02 => "C_BAD_STREAMID",
            0x03 => "F_STE_FETCH",
            0x04 => "C_BAD_STE",
            0x05 => "F_BAD_ATS_TREQ",
            0x06 => "F_STREAM_DISABLED",
            0x07 => "F_TRANSL_FORBIDDEN",
            0x08 => "C_BAD_SUBSTREAMID",
            0x09 => "F_CD_FETCH",
            0x0a => "C_BAD_CD",
            0x0b => "F_WALK_EABT",
            0x10 => "F_TRANSLATION",
            0x11 => "F_ADDR_SIZE",
            0x12 => "F_ACCESS",
            0x13 => "F_PERMISSION",
            0x20 => "F_TLB_CONFLICT",
            0x21 => "F_CFG_CONFLICT",
            0x24 => "E_PAGE_REQUEST",
            0x25 => "F_VMS_FETCH",
            _ => "unknown",
        }
    }
}

/// Event type numbers the firmware checks for.
pub mod event_id {
    /// C_BAD_STREAMID.
    pub const C_BAD_STREAMID: u8 = 0x02;
    /// C_BAD_STE.
    pub const C_BAD_STE: u8 = 0x04;
    /// C_BAD_CD.
    pub const C_BAD_CD: u8 = 0x0a;
    /// F_TRANSLATION.
    pub const F_TRANSLATION: u8 = 0x10;
    /// F_PERMISSION.
    pub const F_PERMISSION: u8 = 0x13;
}
