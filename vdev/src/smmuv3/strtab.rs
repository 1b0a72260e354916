//! The stream table in guest memory: finding a StreamID's STE (linear or
//! two-level) and deciding what the host must attach the device to.

use regmap_rt::StructField;
use smmuv3_regs::enums::{Eats, SteConfig, StrtabFmt};
use smmuv3_regs::structs::{L1Std, Ste, Words};
use smmuv3_regs::{STRTAB_BASE, STRTAB_BASE_CFG};

use super::cmdq::MODEL_PA_MASK;
use crate::vmm::GuestMemory;

/// A structure field's bits in place in its word.
const fn bits(f: StructField) -> u64 {
    f.mask << f.shift
}

/// Stream table format (STRTAB_BASE_CFG.FMT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One array of STEs.
    Linear,
    /// Level-1 descriptors pointing at arrays of STEs.
    TwoLevel,
}

/// The stream table configuration latched from STRTAB_BASE and
/// STRTAB_BASE_CFG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Table base (STRTAB_BASE.ADDR within the model's physical addresses).
    pub base: u64,
    /// log2 of the number of StreamIDs the table covers (LOG2SIZE).
    pub log2size: u32,
    /// StreamID bits resolved by the second level (SPLIT).
    pub split: u32,
    /// Format.
    pub format: Format,
}

impl Config {
    /// From the register values, clamping LOG2SIZE to `sidsize` (IDR1.SIDSIZE).
    /// `None` for a reserved format.
    pub fn from_regs(strtab_base: u64, strtab_base_cfg: u32, sidsize: u32) -> Option<Self> {
        let format = match STRTAB_BASE_CFG::FMT.read_as_enum(strtab_base_cfg)? {
            StrtabFmt::LINEAR => Format::Linear,
            StrtabFmt::TWO_LEVEL => Format::TwoLevel,
        };
        Some(Config {
            base: strtab_base & STRTAB_BASE::ADDR.val(u64::MAX).value & MODEL_PA_MASK,
            log2size: STRTAB_BASE_CFG::LOG2SIZE.read(strtab_base_cfg).min(sidsize),
            split: STRTAB_BASE_CFG::SPLIT.read(strtab_base_cfg),
            format,
        })
    }
}

/// Size of an STE in bytes (the map's `STE` structure).
pub const STE_SIZE: u64 = Ste::SIZE_BYTES as u64;

/// Why an STE could not be fetched (the event the architecture would record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// StreamID beyond the table (C_BAD_STREAMID).
    BadStreamId,
    /// Level-1 descriptor invalid or SID beyond its span (C_BAD_STREAMID).
    NoL2,
    /// Guest memory not readable (F_STE_FETCH).
    Fetch,
}

/// Reads the first two words of `sid`'s STE (all the host needs).
pub fn fetch_ste(cfg: &Config, sid: u32, mem: &dyn GuestMemory) -> Result<[u64; 2], FetchError> {
    if cfg.log2size < 32 && u64::from(sid) >> cfg.log2size != 0 {
        return Err(FetchError::BadStreamId);
    }
    let addr = match cfg.format {
        Format::Linear => cfg.base + u64::from(sid) * STE_SIZE,
        Format::TwoLevel => {
            let split = cfg.split.min(cfg.log2size);
            let l1 = u64::from(sid) >> split;
            let mut d = [0u8; L1Std::SIZE_BYTES];
            if !mem.read(cfg.base + l1 * L1Std::SIZE_BYTES as u64, &mut d) {
                return Err(FetchError::Fetch);
            }
            let desc = L1Std([u64::from_le_bytes(d)]);
            let span = desc.get(L1Std::SPAN) as u32;
            if span == 0 {
                return Err(FetchError::NoL2);
            }
            let l2 = u64::from(sid) & ((1u64 << split) - 1);
            // SPAN covers 2^(SPAN-1) STEs; the architecture's largest
            // SPAN is 12.
            if span > 12 || l2 >> (span - 1) != 0 {
                return Err(FetchError::NoL2);
            }
            (desc.0[0] & bits(L1Std::L2PTR) & MODEL_PA_MASK) + l2 * STE_SIZE
        }
    };
    let mut b = [0u8; 16];
    if !mem.read(addr, &mut b) {
        return Err(FetchError::Fetch);
    }
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    Ok([w(0), w(1)])
}

/// What the host attaches a device to for a given STE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// Transactions abort (V=0, Config=abort, or an STE the model refuses).
    Abort,
    /// Transactions bypass stage 1 (stage 2 of the VM still applies).
    Bypass,
    /// Nested: the guest's stage-1 context, these vSTE words for the kernel.
    Nested([u64; 2]),
}

/// STE word 0 bits the kernel accepts in a vSTE: V, Config, S1Fmt,
/// S1ContextPtr (within the model's physical addresses), S1CDMax.
pub(crate) const VSTE_W0_ALLOWED: u64 = bits(Ste::V)
    | bits(Ste::CONFIG.field)
    | bits(Ste::S1FMT.field)
    | (bits(Ste::S1CONTEXTPTR) & MODEL_PA_MASK)
    | bits(Ste::S1CDMAX);
/// STE word 1 bits the kernel accepts: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS.
pub(crate) const VSTE_W1_ALLOWED: u64 = bits(Ste::S1DSS.field)
    | bits(Ste::S1CIR.field)
    | bits(Ste::S1COR.field)
    | bits(Ste::S1CSH.field)
    | bits(Ste::S1STALLD)
    | bits(Ste::EATS.field);

/// Decides the attachment for an STE's first two words. Stage-2 configs are
/// not offered to the guest (IDR0.S2P = 0), so they abort, as an invalid STE
/// does; reserved EATS values do too.
pub fn decide(ste: [u64; 2]) -> Attach {
    let s = Ste([ste[0], ste[1], 0, 0, 0, 0, 0, 0]);
    if s.get(Ste::V) == 0 {
        return Attach::Abort;
    }
    match s.get_enum(Ste::CONFIG) {
        Some(SteConfig::BYPASS) => Attach::Bypass,
        Some(SteConfig::S1_TRANS) => {
            if s.get(Ste::EATS) > Eats::TRANS.value() {
                return Attach::Abort;
            }
            Attach::Nested([ste[0] & VSTE_W0_ALLOWED, ste[1] & VSTE_W1_ALLOWED])
        }
        _ => Attach::Abort,
    }
}

/// The vSTE words that ask the kernel for an abort or bypass nested domain.
pub fn vste_for(a: Attach) -> [u64; 2] {
    let valid = Ste::new().with(Ste::V, 1);
    let s = match a {
        Attach::Abort => valid,
        Attach::Bypass => valid.with_enum(Ste::CONFIG, SteConfig::BYPASS),
        Attach::Nested(w) => return w,
    };
    [s.0[0], s.0[1]]
}

// The tests take guest memory (or a host's ID registers) from the simulator.
#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::backend::sim::SimGuestRam;

    #[test]
    fn linear_and_two_level_lookups() {
        let m = SimGuestRam::new().with_region(0, 0x10_0000, 4096);
        // Linear, 2^4 SIDs at 0x1000.
        let lin = Config::from_regs(0x1000, 4, 16).unwrap();
        assert!(m.write_u64(0x1000 + 5 * 64, 0xab));
        assert_eq!(fetch_ste(&lin, 5, &m), Ok([0xab, 0]));
        assert_eq!(fetch_ste(&lin, 16, &m), Err(FetchError::BadStreamId));
        // Two-level, 2^8 SIDs, split 4; L1[1] -> 0x8000 with SPAN 3 (4 STEs).
        let two = Config::from_regs(0x2000, 8 | (4 << 6) | (1 << 16), 16).unwrap();
        assert!(m.write_u64(0x2000 + 8, 0x8000 | 3));
        assert!(m.write_u64(0x8000 + 2 * 64, 0xcd));
        assert_eq!(fetch_ste(&two, 0x12, &m), Ok([0xcd, 0]));
        assert_eq!(fetch_ste(&two, 0x14, &m), Err(FetchError::NoL2));
        assert_eq!(fetch_ste(&two, 0x02, &m), Err(FetchError::NoL2));
        assert_eq!(fetch_ste(&two, 0x100, &m), Err(FetchError::BadStreamId));
        let far = Config::from_regs(0xf_ff00, 4, 16).unwrap();
        assert_eq!(fetch_ste(&far, 15, &m), Err(FetchError::Fetch));
        assert_eq!(Config::from_regs(0, 2 << 16, 16), None);
    }

    #[test]
    fn attach_decisions() {
        assert_eq!(decide([0, 0]), Attach::Abort);
        assert_eq!(decide([1, 0]), Attach::Abort);
        assert_eq!(decide([1 | (0b100 << 1), 0]), Attach::Bypass);
        assert_eq!(decide([1 | (0b110 << 1), 0]), Attach::Abort);
        let s1 = 1 | (0b101 << 1) | 0x4_0000 | (1 << 55);
        assert_eq!(
            decide([s1, 1 << 40]),
            Attach::Nested([s1 & VSTE_W0_ALLOWED, 0])
        );
        assert_eq!(decide([s1, 2 << 28]), Attach::Abort);
    }
}
