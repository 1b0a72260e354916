//! The stream table in guest memory: finding a StreamID's STE (linear or
//! two-level) and deciding what the host must attach the device to.

use crate::vmm::GuestMemory;

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
    /// Table base (STRTAB_BASE.ADDR, bits 51:6).
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
        let format = match (strtab_base_cfg >> 16) & 3 {
            0 => Format::Linear,
            1 => Format::TwoLevel,
            _ => return None,
        };
        Some(Config {
            base: strtab_base & ((1u64 << 52) - 1) & !0x3f,
            log2size: (strtab_base_cfg & 0x3f).min(sidsize),
            split: (strtab_base_cfg >> 6) & 0x1f,
            format,
        })
    }
}

/// Size of an STE in bytes.
pub const STE_SIZE: u64 = 64;

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
            let mut d = [0u8; 8];
            if !mem.read(cfg.base + l1 * 8, &mut d) {
                return Err(FetchError::Fetch);
            }
            let desc = u64::from_le_bytes(d);
            let span = (desc & 0x1f) as u32;
            if span == 0 {
                return Err(FetchError::NoL2);
            }
            let l2 = u64::from(sid) & ((1u64 << split) - 1);
            // SPAN covers 2^(SPAN-1) STEs.
            if span > 12 || l2 >> (span - 1) != 0 {
                return Err(FetchError::NoL2);
            }
            (desc & ((1u64 << 52) - 1) & !0x3f) + l2 * STE_SIZE
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
/// S1ContextPtr (51:6), S1CDMax (63:59).
const W0_ALLOWED: u64 = 1 | (0b111 << 1) | (0b11 << 4) | (((1u64 << 46) - 1) << 6) | (0x1f << 59);
/// STE word 1 bits the kernel accepts: S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS.
const W1_ALLOWED: u64 = 0xff | (1 << 27) | (0b11 << 28);

/// Decides the attachment for an STE's first two words. Stage-2 configs are
/// not offered to the guest (IDR0.S2P = 0), so they abort, as an invalid STE
/// does; reserved EATS values do too.
pub fn decide(ste: [u64; 2]) -> Attach {
    if ste[0] & 1 == 0 {
        return Attach::Abort;
    }
    match (ste[0] >> 1) & 0b111 {
        0b100 => Attach::Bypass,
        0b101 => {
            if (ste[1] >> 28) & 0b11 > 1 {
                return Attach::Abort;
            }
            Attach::Nested([ste[0] & W0_ALLOWED, ste[1] & W1_ALLOWED])
        }
        _ => Attach::Abort,
    }
}

/// The vSTE words that ask the kernel for an abort or bypass nested domain.
pub fn vste_for(a: Attach) -> [u64; 2] {
    match a {
        Attach::Abort => [1, 0],
        Attach::Bypass => [1 | (0b100 << 1), 0],
        Attach::Nested(w) => w,
    }
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
        assert_eq!(decide([s1, 1 << 40]), Attach::Nested([s1 & W0_ALLOWED, 0]));
        assert_eq!(decide([s1, 2 << 28]), Attach::Abort);
    }
}
