//! The in-memory structures the driver writes and reads (STEs, CDs,
//! commands, event records) are the generated ones of `smmuv3-regs`
//! ([`Ste`], [`Cd`], [`Command`], [`Event`] and the per-opcode and
//! per-event layouts), built and read through [`Words`]. This module only
//! adds the driver's choices: which fields its STEs, CDs and commands set.

use regmap_rt::Words;
pub use smmuv3_regs::structs::{Cd, Command, Event, Ste};

/// Event records taken together from the event queue
/// ([`crate::Smmu::pop_events`]): a fixed capacity, no allocator.
pub type EventBatch<const N: usize> = heapless::Vec<Event, N>;

/// Stream table entries the driver installs.
pub mod ste {
    use super::{Ste, Words};
    use smmuv3_regs::enums::{S1Dss, S1Fmt, ShCfg, Shareability, SteConfig, Strw, WalkCache};

    /// An invalid STE (V = 0): the SMMU reports C_BAD_STE for its traffic.
    pub fn invalid() -> Ste {
        Ste::new()
    }

    /// Valid, CONFIG = abort: traffic is terminated without an event.
    pub fn abort() -> Ste {
        Ste::new()
            .with(Ste::V, 1)
            .with_enum(Ste::CONFIG, SteConfig::ABORT)
    }

    /// Valid, CONFIG = bypass: traffic passes untranslated, with the
    /// incoming shareability.
    pub fn bypass() -> Ste {
        Ste::new()
            .with(Ste::V, 1)
            .with_enum(Ste::CONFIG, SteConfig::BYPASS)
            .with_enum(Ste::SHCFG, ShCfg::USE_INCOMING)
    }

    /// Valid, stage 1 translation through the single CD at `cd_phys`
    /// (64-byte aligned; no substreams: S1CDMAX = 0, S1FMT linear).
    /// CD fetches are write-back cacheable, inner shareable; the stream
    /// world is NS-EL1.
    pub fn stage1(cd_phys: u64) -> Ste {
        Ste::new()
            .with(Ste::V, 1)
            .with_enum(Ste::CONFIG, SteConfig::S1_TRANS)
            .with_enum(Ste::S1FMT, S1Fmt::LINEAR)
            .with(Ste::S1CONTEXTPTR, cd_phys >> Ste::S1CONTEXTPTR.shift)
            .with(Ste::S1CDMAX, 0)
            .with_enum(Ste::S1DSS, S1Dss::TERMINATE)
            .with_enum(Ste::S1CIR, WalkCache::WBRA)
            .with_enum(Ste::S1COR, WalkCache::WBRA)
            .with_enum(Ste::S1CSH, Shareability::ISH)
            .with_enum(Ste::STRW, Strw::NSEL1)
            .with_enum(Ste::SHCFG, ShCfg::USE_INCOMING)
    }

    /// Whether V is set.
    pub fn is_valid(ste: &Ste) -> bool {
        ste.get(Ste::V) != 0
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

/// Context descriptors the driver installs.
pub mod cd {
    use super::{Cd, Granule, Stage1Config, Words};
    use smmuv3_regs::enums::{Shareability, Tg0, Tg1, WalkCache};

    /// A valid AArch64 stage-1 CD walking TTB0, TTB1 disabled (EPD1).
    /// Faults abort the transaction (A = 1, the only model when
    /// IDR0.TERM_MODEL = 1) and never stall (S = 0).
    pub fn stage1(cfg: &Stage1Config) -> Cd {
        let tg0 = match cfg.granule {
            Granule::Size4K => Tg0::GRAN_4K,
            Granule::Size64K => Tg0::GRAN_64K,
            Granule::Size16K => Tg0::GRAN_16K,
        };
        Cd::new()
            .with(Cd::T0SZ, u64::from(cfg.t0sz))
            .with_enum(Cd::TG0, tg0)
            .with_enum(Cd::IR0, WalkCache::WBRA)
            .with_enum(Cd::OR0, WalkCache::WBRA)
            .with_enum(Cd::SH0, Shareability::ISH)
            .with(Cd::EPD0, 0)
            // TTB1 is unused, but describe a legal 4K/39-bit range so a
            // strict decoder accepts the CD.
            .with(Cd::T1SZ, 25)
            .with_enum(Cd::TG1, Tg1::GRAN_4K)
            .with(Cd::EPD1, 1)
            .with(Cd::V, 1)
            .with(Cd::IPS, u64::from(cfg.ips))
            .with(Cd::AFFD, 1)
            .with(Cd::AA64, 1)
            .with(Cd::R, u64::from(cfg.record_faults))
            .with(Cd::A, 1)
            .with(Cd::ASET, 1)
            .with(Cd::ASID, u64::from(cfg.asid))
            .with(Cd::TTB0, cfg.ttb0 >> Cd::TTB0.shift)
            // `with` keeps the field's width: the low half of MAIR; the high
            // half sits where MAIR1 does in the one 64-bit word.
            .with(Cd::MAIR0, cfg.mair)
            .with(Cd::MAIR1, cfg.mair >> Cd::MAIR1.shift)
    }

    /// Whether V is set.
    pub fn is_valid(cd: &Cd) -> bool {
        cd.get(Cd::V) != 0
    }
}

/// Commands the driver issues, built from the generated per-opcode
/// layouts (each `new()` sets its opcode).
pub mod cmd {
    use super::{Command, Words};
    use smmuv3_regs::enums::{CmdOpcode, SyncCs};
    use smmuv3_regs::structs::{
        CmdCfgiAll, CmdCfgiCd, CmdCfgiCdAll, CmdCfgiSte, CmdSync, CmdTlbiEl2All, CmdTlbiNhAll,
        CmdTlbiNhAsid, CmdTlbiNhVa, CmdTlbiNsnhAll,
    };

    /// A command made of raw words (any opcode, including illegal ones).
    pub fn raw(w0: u64, w1: u64) -> Command {
        Command([w0, w1])
    }

    /// The opcode byte.
    pub fn opcode(c: &Command) -> u8 {
        c.get(Command::OPCODE) as u8
    }

    /// The opcode, when the map names it.
    pub fn kind(c: &Command) -> Option<CmdOpcode> {
        c.get_enum(Command::OPCODE)
    }

    /// CMD_CFGI_STE: the STE of `sid` changed (`leaf`: only the STE, no L1
    /// descriptor).
    pub fn cfgi_ste(sid: u32, leaf: bool) -> Command {
        CmdCfgiSte::new()
            .with(CmdCfgiSte::SID, u64::from(sid))
            .with(CmdCfgiSte::LEAF, u64::from(leaf))
            .into()
    }

    /// CMD_CFGI_ALL: CFGI_STE_RANGE with RANGE = 31, every cached STE and CD.
    pub fn cfgi_all() -> Command {
        CmdCfgiAll::new().into()
    }

    /// CMD_CFGI_CD: the CD of (`sid`, substream 0) changed.
    pub fn cfgi_cd(sid: u32, leaf: bool) -> Command {
        CmdCfgiCd::new()
            .with(CmdCfgiCd::SID, u64::from(sid))
            .with(CmdCfgiCd::LEAF, u64::from(leaf))
            .into()
    }

    /// CMD_CFGI_CD_ALL: every CD of `sid` changed.
    pub fn cfgi_cd_all(sid: u32) -> Command {
        CmdCfgiCdAll::new()
            .with(CmdCfgiCdAll::SID, u64::from(sid))
            .into()
    }

    /// CMD_TLBI_NH_ALL: every non-hypervisor stage-1 TLB entry.
    pub fn tlbi_nh_all() -> Command {
        CmdTlbiNhAll::new().into()
    }

    /// CMD_TLBI_NH_ASID: every entry tagged `asid` (VMID 0).
    pub fn tlbi_nh_asid(asid: u16) -> Command {
        CmdTlbiNhAsid::new()
            .with(CmdTlbiNhAsid::ASID, u64::from(asid))
            .into()
    }

    /// CMD_TLBI_NH_VA: the entries for `addr` (page aligned) tagged `asid`.
    pub fn tlbi_nh_va(asid: u16, addr: u64, leaf: bool) -> Command {
        CmdTlbiNhVa::new()
            .with(CmdTlbiNhVa::ASID, u64::from(asid))
            .with(CmdTlbiNhVa::ADDR, addr >> CmdTlbiNhVa::ADDR.shift)
            .with(CmdTlbiNhVa::LEAF, u64::from(leaf))
            .into()
    }

    /// CMD_TLBI_EL2_ALL.
    pub fn tlbi_el2_all() -> Command {
        CmdTlbiEl2All::new().into()
    }

    /// CMD_TLBI_NSNH_ALL: every non-secure, non-hypervisor entry.
    pub fn tlbi_nsnh_all() -> Command {
        CmdTlbiNsnhAll::new().into()
    }

    /// CMD_SYNC without a completion signal (completion is observed by
    /// CONS moving past it).
    pub fn sync() -> Command {
        CmdSync::new().with_enum(CmdSync::CS, SyncCs::NONE).into()
    }
}

/// Reading event records.
pub mod event {
    use super::{Event, Words};
    use smmuv3_regs::enums::EventId;
    use smmuv3_regs::structs::EvtFTranslation;

    /// The event type number (EVENT_ID).
    pub fn id(e: &Event) -> u8 {
        e.get(Event::EVENT_ID) as u8
    }

    /// The event type, when the map names it (its `Debug` is the
    /// architecture's name, e.g. `C_BAD_STE`).
    pub fn kind(e: &Event) -> Option<EventId> {
        e.get_enum(Event::EVENT_ID)
    }

    /// Stream ID of the faulting transaction.
    pub fn sid(e: &Event) -> u32 {
        e.get(Event::SID) as u32
    }

    /// The input address of a translation-stage fault (F_TRANSLATION,
    /// F_ADDR_SIZE, F_ACCESS, F_PERMISSION share the layout).
    pub fn input_addr(e: &Event) -> u64 {
        EvtFTranslation(e.0).get(EvtFTranslation::INPUT_ADDR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected words from the SMMUv3 architecture's layouts, written out
    // by hand: STE V = bit 0, Config = bits 3:1 (abort 0b000, bypass
    // 0b100, S1 0b101), SHCFG = bits 45:44 of word 1; commands carry the
    // opcode in bits 7:0 and StreamIDs in 63:32.
    #[test]
    fn ste_encodings() {
        assert_eq!(ste::abort().0[0], 0x1);
        assert_eq!(ste::bypass().0[..2], [0x9, 1 << 44]);
        let s1 = ste::stage1(0x4012_3440);
        assert_eq!(s1.0[0], 0x4012_3440 | 0xb);
        // S1CIR = S1COR = WBRA (1), S1CSH = inner shareable (3), SHCFG 1.
        assert_eq!(s1.0[1], 1 << 2 | 1 << 4 | 3 << 6 | 1 << 44);
        assert!(ste::is_valid(&s1) && !ste::is_valid(&ste::invalid()));
    }

    #[test]
    fn command_encodings() {
        assert_eq!(cmd::cfgi_all().0, [0x04, 31]);
        assert_eq!(cmd::cfgi_ste(0x10, true).0, [0x03 | 0x10 << 32, 1]);
        assert_eq!(cmd::cfgi_cd(0x11, false).0, [0x05 | 0x11 << 32, 0]);
        assert_eq!(cmd::tlbi_nh_asid(7).0, [0x11 | 7 << 48, 0]);
        assert_eq!(
            cmd::tlbi_nh_va(2, 0x1234_5000, true).0,
            [0x12 | 2 << 48, 0x1234_5000 | 1]
        );
        assert_eq!(cmd::sync().0, [0x46, 0]);
        assert_eq!(cmd::tlbi_nsnh_all().0, [0x30, 0]);
        assert_eq!(cmd::opcode(&cmd::raw(0x7f, 0)), 0x7f);
    }

    #[test]
    fn cd_encoding() {
        let c = cd::stage1(&Stage1Config {
            asid: 0xabc,
            ttb0: 0x4567_8000,
            t0sz: 25,
            granule: Granule::Size4K,
            ips: 4,
            mair: 0x44ff,
            record_faults: true,
        });
        // T0SZ 25, IR0/OR0 WBRA, SH0 inner, T1SZ 25, TG1 4K (2), EPD1, V,
        // IPS 4, AFFD, AA64, R, A, ASET, ASID.
        let w0 = 25
            | 1 << 8
            | 1 << 10
            | 3 << 12
            | 25 << 16
            | 2 << 22
            | 1 << 30
            | 1 << 31
            | 4 << 32
            | 1 << 35
            | 1 << 41
            | 1 << 45
            | 1 << 46
            | 1 << 47
            | 0xabc << 48;
        assert_eq!(c.0[..4], [w0, 0x4567_8000, 0, 0x44ff]);
        assert!(cd::is_valid(&c));
    }

    #[test]
    fn event_fields() {
        let e = Event([0x0000_0010_0000_0010, 0x8_0000_0000, 0x5000, 0]);
        assert_eq!((event::id(&e), event::sid(&e)), (0x10, 0x10));
        assert_eq!(
            event::kind(&e),
            Some(smmuv3_regs::enums::EventId::F_TRANSLATION)
        );
        assert_eq!(event::input_addr(&e), 0x5000);
    }
}
