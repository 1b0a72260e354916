//! What the simulator models: a Grace host (one or several SMMUv3 instances,
//! each with its Tegra241 CMDQV) with their ID registers and CMDQV sizes, or
//! the iommufd selftest mock; the object types it reports and its page size.

use crate::backend::ObjectTypes;

/// One physical SMMUv3 with its Tegra241 CMDQV, as a Tegra241 simulation
/// reports and enforces it: each SMMU of a host has its own VINTFs, SID
/// slots and VCMDQs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tegra241Host {
    /// CMDQV version (PARAM bits 3:0); Linux's uAPI reports 1 on Grace.
    pub version: u8,
    /// VINTFs of the CMDQV; VINTF 0 stays with the host kernel, so a guest
    /// can have `num_vintfs - 1` of them (one per vIOMMU).
    pub num_vintfs: u16,
    /// Logical VCMDQs per VINTF (a power of two): what `IOMMU_GET_HW_INFO`
    /// reports as `log2vcmdqs` (Linux: the CMDQV's VCMDQs divided by its
    /// VINTFs) and the bound of a HW queue's index.
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
        use smmuv3_regs::{IDR0, IDR1, IDR5};
        // The simulated host (model parameters, from a Grace host's SMMU):
        // IDR0: S2P, S1P, TTF=AArch64, COHACC, ATS, ASID16, VMID16, 2-level tables.
        let idr0 = (IDR0::S2P::SET
            + IDR0::S1P::SET
            + IDR0::TTF::AARCH64
            + IDR0::COHACC::SET
            + IDR0::ATS::SET
            + IDR0::ASID16::SET
            + IDR0::VMID16::SET
            + IDR0::ST_LEVEL::TWO_LEVEL)
            .value;
        // IDR1: SIDSIZE=16, EVENTQS=19, CMDQS=19 (8 MiB VCMDQs at most).
        let idr1 = (IDR1::SIDSIZE.val(16) + IDR1::EVENTQS.val(19) + IDR1::CMDQS.val(19)).value;
        // IDR5: 48-bit OAS, 4K/16K/64K granules.
        let idr5 =
            (IDR5::OAS::BITS_48 + IDR5::GRAN4K::SET + IDR5::GRAN16K::SET + IDR5::GRAN64K::SET)
                .value;
        Tegra241Host {
            version: 1,
            num_vintfs: 4,
            lvcmdqs_per_vintf: 2,
            sids_per_vintf: 16,
            idr: [idr0, idr1, 0, 0, 0, idr5],
            // Implementer ARM (JEP106 0x43b), SMMUv3.2.
            iidr: smmuv3_regs::IIDR::IMPLEMENTER.val(0x43b).value,
            aidr: smmuv3_regs::AIDR::ARCHMINORREV.val(2).value,
        }
    }
}

impl Tegra241Host {
    /// IDR1.CMDQS: log2 of the largest command queue in entries.
    pub fn cmdqs(&self) -> u32 {
        smmuv3_regs::IDR1::CMDQS.read(self.idr[1])
    }
}

/// What the simulator models behind the iommufd core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimModel {
    /// ARM SMMUv3 with the Tegra241 CMDQV (a Grace host with one SMMU, the
    /// SMMU 0 of every device).
    Tegra241(Tegra241Host),
    /// A Grace host with several SMMUv3 instances, SMMU `i` with the CMDQV
    /// `hosts[i]` (at least one). A device sits behind one of them
    /// ([`crate::backend::sim::SimBackend::add_device_on`]); the kernel
    /// objects built through a device belong to its SMMU.
    Tegra241Smmus(Vec<Tegra241Host>),
    /// The iommufd selftest mock driver (`CONFIG_IOMMUFD_TEST`).
    Selftest,
}

impl SimModel {
    /// The physical SMMUs with their CMDQV, SMMU `i` at index `i` (none for
    /// the selftest mock).
    pub fn smmus(&self) -> &[Tegra241Host] {
        match self {
            SimModel::Tegra241(h) => std::slice::from_ref(h),
            SimModel::Tegra241Smmus(hs) => hs,
            SimModel::Selftest => &[],
        }
    }
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

    /// A Grace host with one SMMU (and its CMDQV) per entry of `smmus`.
    pub fn tegra241_smmus(smmus: Vec<Tegra241Host>) -> Self {
        SimConfig {
            model: SimModel::Tegra241Smmus(smmus),
            ..Self::tegra241()
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
