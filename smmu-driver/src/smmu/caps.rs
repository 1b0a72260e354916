//! What the ID registers say: [`Capabilities`] decoded from IDR0/1/3/5,
//! IIDR and AIDR through the generated fields.

use smmuv3_regs::enums::{AddrSize, StLevel, StallModel, TermModel, Ttf};
use smmuv3_regs::{AIDR, IDR0, IDR1, IDR3, IDR5};

/// What the ID registers say the SMMU supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    pub(super) fn decode(idr0: u32, idr1: u32, idr3: u32, idr5: u32, iidr: u32, aidr: u32) -> Self {
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
