//! The guest's ID registers, built from the host's `IOMMU_GET_HW_INFO`: the
//! model reports a feature only when the host has it and the model implements
//! it, and caps IDR1.CMDQS so a command queue fits in one backing page of
//! guest RAM (a VCMDQ must be physically contiguous; the guest never learns
//! why).

use crate::backend::Smmuv3Info;

/// Field positions of IDR0/IDR1/IDR3/IDR5 (SMMUv3 architecture).
mod f {
    pub const S1P: u32 = 1 << 1;
    pub const TTF_AARCH64: u32 = 2 << 2;
    pub const COHACC: u32 = 1 << 4;
    pub const ASID16: u32 = 1 << 12;
    pub const MSI: u32 = 1 << 13;
    pub const SEV: u32 = 1 << 14;
    pub const ATS: u32 = 1 << 10;
    pub const CD2L: u32 = 1 << 19;
    pub const TTENDIAN_SHIFT: u32 = 21;
    pub const TTENDIAN_LE: u32 = 2;
    pub const TTENDIAN_BE: u32 = 3;
    pub const STALL_MODEL_TERMINATE: u32 = 1 << 24;
    pub const TERM_MODEL: u32 = 1 << 26;
    pub const ST_LEVEL_2LVL: u32 = 1 << 27;
    pub const SIDSIZE_MASK: u32 = 0x3f;
    pub const SSIDSIZE_SHIFT: u32 = 6;
    pub const EVENTQS_SHIFT: u32 = 16;
    pub const CMDQS_SHIFT: u32 = 21;
    pub const IDR3_RIL: u32 = 1 << 10;
    pub const IDR5_OAS_MASK: u32 = 0x7;
    pub const IDR5_GRANS: u32 = 0b111 << 4;
    pub const IDR5_VAX: u32 = 0b11 << 10;
}

/// StreamID bits the model exposes (its stream table walk handles 2^16).
pub const MODEL_SIDSIZE: u32 = 16;
/// Largest queue the model offers (2^19 entries, 8 MiB).
pub const MODEL_MAX_QS: u32 = 19;

/// The guest-visible identification registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestIdrs {
    /// IDR0..IDR5.
    pub idr: [u32; 6],
    /// IIDR (the host's).
    pub iidr: u32,
    /// AIDR (the host's architecture revision).
    pub aidr: u32,
}

impl GuestIdrs {
    /// IDR1.SIDSIZE.
    pub fn sidsize(&self) -> u32 {
        self.idr[1] & f::SIDSIZE_MASK
    }
    /// IDR1.CMDQS.
    pub fn cmdqs(&self) -> u32 {
        (self.idr[1] >> f::CMDQS_SHIFT) & 0x1f
    }
    /// IDR1.EVENTQS.
    pub fn eventqs(&self) -> u32 {
        (self.idr[1] >> f::EVENTQS_SHIFT) & 0x1f
    }
}

/// Why the host cannot back the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatible(pub std::borrow::Cow<'static, str>);

impl std::fmt::Display for Incompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host SMMU cannot back the vSMMUv3: {}", self.0)
    }
}

impl std::error::Error for Incompatible {}

/// Builds the guest IDRs from the host's, for guest RAM backed by pages of
/// `backing_page` bytes.
pub fn guest_idrs(host: &Smmuv3Info, backing_page: u64) -> Result<GuestIdrs, Incompatible> {
    let h0 = host.idr[0];
    if h0 & f::S1P == 0 {
        return Err(Incompatible("no stage-1 translation".into()));
    }
    if h0 & f::TTF_AARCH64 == 0 {
        return Err(Incompatible("no AArch64 translation tables".into()));
    }
    // Stage 1 only (S2P = 0), AArch64 tables, terminate model, 2-level stream
    // tables (walked by the model); the rest only where the host has it.
    let mut i0 = f::S1P | f::TTF_AARCH64 | f::STALL_MODEL_TERMINATE | f::ST_LEVEL_2LVL;
    i0 |= h0 & (f::COHACC | f::ASID16 | f::ATS | f::SEV | f::CD2L | f::TERM_MODEL);
    // CMD_SYNC completion MSIs are writes the model performs itself.
    i0 |= f::MSI;
    let endian = (h0 >> f::TTENDIAN_SHIFT) & 3;
    let le = match endian {
        0 | f::TTENDIAN_LE => f::TTENDIAN_LE,
        f::TTENDIAN_BE => return Err(Incompatible("big-endian table walks only".into())),
        _ => f::TTENDIAN_LE,
    };
    i0 |= le << f::TTENDIAN_SHIFT;

    let h1 = host.idr[1];
    let host_ssid = (h1 >> f::SSIDSIZE_SHIFT) & 0x1f;
    let host_evq = (h1 >> f::EVENTQS_SHIFT) & 0x1f;
    let host_cmdqs = (h1 >> f::CMDQS_SHIFT) & 0x1f;
    // 16-byte entries: a queue of 2^n entries spans 2^(n+4) bytes.
    let page_log2 = backing_page.max(4096).ilog2();
    let cmdqs = host_cmdqs.min(MODEL_MAX_QS).min(page_log2 - 4);
    let i1 = MODEL_SIDSIZE
        | (host_ssid.min(20) << f::SSIDSIZE_SHIFT)
        | (host_evq.min(MODEL_MAX_QS) << f::EVENTQS_SHIFT)
        | (cmdqs << f::CMDQS_SHIFT);
    let i3 = host.idr[3] & f::IDR3_RIL;
    let i5 = host.idr[5] & (f::IDR5_OAS_MASK | f::IDR5_GRANS | f::IDR5_VAX);
    Ok(GuestIdrs {
        idr: [i0, i1, 0, i3, 0, i5],
        iidr: host.iidr,
        aidr: host.aidr,
    })
}

// The tests take guest memory (or a host's ID registers) from the simulator.
#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::backend::sim::Tegra241Host;

    fn host() -> Smmuv3Info {
        let h = Tegra241Host::default();
        Smmuv3Info {
            idr: h.idr,
            iidr: h.iidr,
            aidr: h.aidr,
        }
    }

    #[test]
    fn cmdqs_follows_the_backing_page() {
        assert_eq!(guest_idrs(&host(), 4096).unwrap().cmdqs(), 8);
        assert_eq!(guest_idrs(&host(), 64 << 10).unwrap().cmdqs(), 12);
        assert_eq!(guest_idrs(&host(), 2 << 20).unwrap().cmdqs(), 17);
        assert_eq!(guest_idrs(&host(), 1 << 30).unwrap().cmdqs(), 19);
    }

    #[test]
    fn only_common_features() {
        let g = guest_idrs(&host(), 2 << 20).unwrap();
        // Stage 2 never offered; the host's ATS, COHACC, ASID16 kept.
        assert_eq!(g.idr[0] & 1, 0);
        assert_ne!(g.idr[0] & f::ATS, 0);
        assert_ne!(g.idr[0] & f::COHACC, 0);
        assert_eq!(g.sidsize(), MODEL_SIDSIZE);
        let mut h = host();
        h.idr[0] &= !(f::ATS | f::COHACC);
        let g = guest_idrs(&h, 2 << 20).unwrap();
        assert_eq!(g.idr[0] & (f::ATS | f::COHACC), 0);
        h.idr[0] &= !f::S1P;
        assert!(guest_idrs(&h, 4096).is_err());
    }
}
