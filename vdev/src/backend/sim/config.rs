//! What the simulator models: a Grace host (SMMUv3 with the Tegra241 CMDQV)
//! with its ID registers and CMDQV sizes, or the iommufd selftest mock; the
//! object types it reports and its page size.

use crate::backend::ObjectTypes;

/// The host a Tegra241 simulation reports and enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tegra241Host {
    /// CMDQV version (PARAM bits 3:0); Linux's uAPI reports 1 on Grace.
    pub version: u8,
    /// VINTFs of the CMDQV; VINTF 0 stays with the host kernel.
    pub num_vintfs: u16,
    /// Logical VCMDQs per VINTF (a power of two).
    pub lvcmdqs_per_vintf: u16,
    /// SID_MATCH/SID_REPLACE slots per VINTF (a power of two).
    pub sids_per_vintf: u16,
    /// SMMU IDR0..IDR5 (IDR1.CMDQS bounds the VCMDQ length).
    pub idr: [u32; 6],
    /// SMMU IIDR.
    pub iidr: u32,
    /// SMMU AIDR.
    pub aidr: u32,
}

impl Default for Tegra241Host {
    fn default() -> Self {
        // IDR0: S2P, S1P, TTF=AArch64, COHACC, ATS, ASID16, VMID16, 2-level tables.
        let idr0 =
            1 | (1 << 1) | (2 << 2) | (1 << 4) | (1 << 10) | (1 << 12) | (1 << 18) | (1 << 27);
        // IDR1: SIDSIZE=16, EVENTQS=19, CMDQS=19 (8 MiB VCMDQs at most).
        let idr1 = 16 | (19 << 16) | (19 << 21);
        Tegra241Host {
            version: 1,
            num_vintfs: 4,
            lvcmdqs_per_vintf: 2,
            sids_per_vintf: 16,
            idr: [idr0, idr1, 0, 0, 0, 0x75],
            iidr: 0x0000_043b,
            aidr: 0x2,
        }
    }
}

impl Tegra241Host {
    /// IDR1.CMDQS (bits 25:21): log2 of the largest command queue in entries.
    pub fn cmdqs(&self) -> u32 {
        (self.idr[1] >> 21) & 0x1f
    }
}

/// What the simulator models behind the iommufd core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimModel {
    /// ARM SMMUv3 with the Tegra241 CMDQV (a Grace host).
    Tegra241(Tegra241Host),
    /// The iommufd selftest mock driver (`CONFIG_IOMMUFD_TEST`).
    Selftest,
}

/// Simulator configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Object types the backend reports in [`crate::backend::Backend::types`].
    pub types: ObjectTypes,
    /// The modelled driver and hardware.
    pub model: SimModel,
    /// Host page size (alignment of IOAS maps, mmap offsets, pinning).
    pub page_size: u64,
}

impl SimConfig {
    /// A Grace host with the default [`Tegra241Host`].
    pub fn tegra241() -> Self {
        SimConfig {
            types: ObjectTypes::TEGRA241,
            model: SimModel::Tegra241(Tegra241Host::default()),
            page_size: 4096,
        }
    }

    /// The kernel's selftest mock on a 4 KiB-page kernel.
    pub fn selftest() -> Self {
        SimConfig {
            types: ObjectTypes::SELFTEST,
            model: SimModel::Selftest,
            page_size: 4096,
        }
    }
}
