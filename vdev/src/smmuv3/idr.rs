//! The guest's ID registers, built from the host's `IOMMU_GET_HW_INFO`: the
//! model reports a feature only when the host has it and the model implements
//! it, and caps IDR1.CMDQS so a command queue fits in one backing page of
//! guest RAM (a VCMDQ must be physically contiguous; the guest never learns
//! why).

use crate::backend::Smmuv3Info;
use smmuv3_regs::enums::TtEndian;

use smmuv3_regs::{IDR0, IDR1};

/// The IDR bits the model reads or reports, each the map's field (or field
/// value) in place.
mod f {
    use regmap_rt::tock_registers::fields::Field;
    use regmap_rt::tock_registers::RegisterLongName;
    use smmuv3_regs::{IDR0, IDR3, IDR5};

    /// A field's bits in place.
    const fn bits<R: RegisterLongName>(f: Field<u32, R>) -> u32 {
        f.mask << f.shift
    }

    pub const S1P: u32 = IDR0::S1P::SET.value;
    pub const TTF_AARCH64: u32 = IDR0::TTF::AARCH64.value;
    pub const COHACC: u32 = IDR0::COHACC::SET.value;
    pub const ASID16: u32 = IDR0::ASID16::SET.value;
    pub const MSI: u32 = IDR0::MSI::SET.value;
    pub const SEV: u32 = IDR0::SEV::SET.value;
    pub const ATS: u32 = IDR0::ATS::SET.value;
    pub const CD2L: u32 = IDR0::CD2L::SET.value;
    pub const STALL_MODEL_TERMINATE: u32 = IDR0::STALL_MODEL::TERMINATE.value;
    pub const TERM_MODEL: u32 = bits(IDR0::TERM_MODEL);
    pub const ST_LEVEL_2LVL: u32 = IDR0::ST_LEVEL::TWO_LEVEL.value;
    pub const IDR3_RIL: u32 = IDR3::RIL::SET.value;
    pub const IDR5_OAS: u32 = bits(IDR5::OAS);
    pub const IDR5_GRANS: u32 = bits(IDR5::GRAN4K) | bits(IDR5::GRAN16K) | bits(IDR5::GRAN64K);
    pub const IDR5_VAX: u32 = bits(IDR5::VAX);
}

/// StreamID bits the model exposes (model parameter: its stream table walk
/// handles 2^16).
pub const MODEL_SIDSIZE: u32 = 16;
/// Largest queue the model offers: the architecture's largest, 2^19
/// entries, the most the index field (`CMDQ_PROD.WR`, index bits and the
/// wrap flag) can count.
pub const MODEL_MAX_QS: u32 = smmuv3_regs::CMDQ_PROD::WR.mask.count_ones() - 1;

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
        IDR1::SIDSIZE.read(self.idr[1])
    }
    /// IDR1.CMDQS.
    pub fn cmdqs(&self) -> u32 {
        IDR1::CMDQS.read(self.idr[1])
    }
    /// IDR1.EVENTQS.
    pub fn eventqs(&self) -> u32 {
        IDR1::EVENTQS.read(self.idr[1])
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
    // Mixed or little-endian hosts serve a little-endian-only guest; an
    // encoding the map does not name (1, reserved) is read as mixed.
    if IDR0::TTENDIAN.read_as_enum(h0) == Some(TtEndian::BE) {
        return Err(Incompatible("big-endian table walks only".into()));
    }
    i0 |= IDR0::TTENDIAN::LE.value;

    let h1 = host.idr[1];
    let host_ssid = IDR1::SSIDSIZE.read(h1);
    let host_evq = IDR1::EVENTQS.read(h1);
    let host_cmdqs = IDR1::CMDQS.read(h1);
    // 16-byte entries: a queue of 2^n entries spans 2^(n+4) bytes.
    let page_log2 = backing_page.max(4096).ilog2();
    let entry_log2 = (smmuv3_regs::structs::Command::SIZE_BYTES as u32).ilog2();
    let cmdqs = host_cmdqs.min(MODEL_MAX_QS).min(page_log2 - entry_log2);
    // SSIDSIZE capped at 20, the architecture's largest.
    let i1 = (IDR1::SIDSIZE.val(MODEL_SIDSIZE)
        + IDR1::SSIDSIZE.val(host_ssid.min(20))
        + IDR1::EVENTQS.val(host_evq.min(MODEL_MAX_QS))
        + IDR1::CMDQS.val(cmdqs))
    .value;
    let i3 = host.idr[3] & f::IDR3_RIL;
    let i5 = host.idr[5] & (f::IDR5_OAS | f::IDR5_GRANS | f::IDR5_VAX);
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
