//! Register offsets and field positions the driver uses.
//!
//! TO BE REPLACED by the generated accessors of `smmuv3-regs` and
//! `cmdqv-regs` once they build: this module exists only so the driver
//! could be written and run before them, and holds nothing but the
//! numbers (from the SMMUv3 architecture and, for the CMDQV, Linux's
//! tegra241-cmdqv driver) that the generated code will provide.

/// A field: `width` bits at `shift`.
#[derive(Clone, Copy)]
pub struct F {
    pub shift: u32,
    pub width: u32,
}

impl F {
    pub const fn new(msb: u32, lsb: u32) -> F {
        F {
            shift: lsb,
            width: msb - lsb + 1,
        }
    }
    pub const fn bit(b: u32) -> F {
        F { shift: b, width: 1 }
    }
    pub const fn mask64(self) -> u64 {
        (if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }) << self.shift
    }
    pub const fn get(self, v: u64) -> u64 {
        (v & self.mask64()) >> self.shift
    }
    pub const fn get32(self, v: u32) -> u32 {
        self.get(v as u64) as u32
    }
    pub const fn val(self, v: u64) -> u64 {
        (v << self.shift) & self.mask64()
    }
    pub const fn val32(self, v: u32) -> u32 {
        self.val(v as u64) as u32
    }
}

/// SMMUv3 page 0 and page 1 registers.
pub mod smmu {
    use super::F;
    pub const IDR0: usize = 0x0;
    pub const IDR1: usize = 0x4;
    pub const IDR3: usize = 0xc;
    pub const IDR5: usize = 0x14;
    pub const IIDR: usize = 0x18;
    pub const AIDR: usize = 0x1c;
    pub const CR0: usize = 0x20;
    pub const CR0ACK: usize = 0x24;
    pub const CR1: usize = 0x28;
    pub const CR2: usize = 0x2c;
    pub const GBPA: usize = 0x44;
    pub const IRQ_CTRL: usize = 0x50;
    pub const GERROR: usize = 0x60;
    pub const GERRORN: usize = 0x64;
    pub const STRTAB_BASE: usize = 0x80;
    pub const STRTAB_BASE_CFG: usize = 0x88;
    pub const CMDQ_BASE: usize = 0x90;
    pub const CMDQ_PROD: usize = 0x98;
    pub const CMDQ_CONS: usize = 0x9c;
    pub const EVENTQ_BASE: usize = 0xa0;
    pub const EVENTQ_PROD: usize = 0x100a8;
    pub const EVENTQ_CONS: usize = 0x100ac;

    // IDR0
    pub const IDR0_S2P: F = F::bit(0);
    pub const IDR0_S1P: F = F::bit(1);
    pub const IDR0_TTF: F = F::new(3, 2);
    pub const IDR0_COHACC: F = F::bit(4);
    pub const IDR0_HYP: F = F::bit(9);
    pub const IDR0_ASID16: F = F::bit(12);
    pub const IDR0_MSI: F = F::bit(13);
    pub const IDR0_VMID16: F = F::bit(18);
    pub const IDR0_STALL_MODEL: F = F::new(25, 24);
    pub const IDR0_TERM_MODEL: F = F::bit(26);
    pub const IDR0_ST_LEVEL: F = F::new(28, 27);
    // IDR1
    pub const IDR1_SIDSIZE: F = F::new(5, 0);
    pub const IDR1_SSIDSIZE: F = F::new(10, 6);
    pub const IDR1_EVENTQS: F = F::new(20, 16);
    pub const IDR1_CMDQS: F = F::new(25, 21);
    pub const IDR1_QUEUES_PRESET: F = F::bit(29);
    pub const IDR1_TABLES_PRESET: F = F::bit(30);
    // IDR3
    pub const IDR3_RIL: F = F::bit(10);
    // IDR5
    pub const IDR5_OAS: F = F::new(2, 0);
    pub const IDR5_GRAN4K: F = F::bit(4);
    pub const IDR5_GRAN16K: F = F::bit(5);
    pub const IDR5_GRAN64K: F = F::bit(6);
    // AIDR
    pub const AIDR_ARCHMINORREV: F = F::new(3, 0);
    pub const AIDR_ARCHMAJORREV: F = F::new(7, 4);
    // CR0 / CR0ACK
    pub const CR0_SMMUEN: u32 = 1 << 0;
    pub const CR0_EVENTQEN: u32 = 1 << 2;
    pub const CR0_CMDQEN: u32 = 1 << 3;
    // CR1: cacheability 1 = write-back, shareability 3 = inner shareable
    pub const CR1_QUEUE_IC: F = F::new(1, 0);
    pub const CR1_QUEUE_OC: F = F::new(3, 2);
    pub const CR1_QUEUE_SH: F = F::new(5, 4);
    pub const CR1_TABLE_IC: F = F::new(7, 6);
    pub const CR1_TABLE_OC: F = F::new(9, 8);
    pub const CR1_TABLE_SH: F = F::new(11, 10);
    // CR2
    pub const CR2_RECINVSID: u32 = 1 << 1;
    pub const CR2_PTM: u32 = 1 << 2;
    // GBPA
    pub const GBPA_ABORT: u32 = 1 << 20;
    pub const GBPA_UPDATE: u32 = 1 << 31;
    // GERROR / GERRORN
    pub const GERROR_CMDQ_ERR: u32 = 1 << 0;
    pub const GERROR_EVENTQ_ABT_ERR: u32 = 1 << 2;
    // STRTAB_BASE(_CFG)
    pub const STRTAB_BASE_ADDR: F = F::new(55, 6);
    pub const STRTAB_BASE_RA: F = F::bit(62);
    pub const STRTAB_BASE_CFG_LOG2SIZE: F = F::new(5, 0);
    pub const STRTAB_BASE_CFG_SPLIT: F = F::new(10, 6);
    pub const STRTAB_BASE_CFG_FMT: F = F::new(17, 16);
    // Queue bases, indices
    pub const Q_BASE_LOG2SIZE: F = F::new(4, 0);
    pub const Q_BASE_ADDR: F = F::new(55, 5);
    pub const Q_BASE_RWA: F = F::bit(62);
    pub const CMDQ_CONS_ERR: F = F::new(30, 24);
    pub const EVENTQ_PROD_OVFLG: u32 = 1 << 31;
    pub const EVENTQ_CONS_OVACKFLG: u32 = 1 << 31;
}

/// SMMUv3 in-memory structures: STE, CD, L1 descriptors, commands, events.
pub mod mem {
    use super::F;
    // STE word 0
    pub const STE_V: F = F::bit(0);
    pub const STE_CONFIG: F = F::new(3, 1);
    pub const STE_S1FMT: F = F::new(5, 4);
    pub const STE_S1CONTEXTPTR: F = F::new(55, 6);
    pub const STE_S1CDMAX: F = F::new(63, 59);
    // STE word 1
    pub const STE_S1DSS: F = F::new(1, 0);
    pub const STE_S1CIR: F = F::new(3, 2);
    pub const STE_S1COR: F = F::new(5, 4);
    pub const STE_S1CSH: F = F::new(7, 6);
    pub const STE_STRW: F = F::new(31, 30);
    pub const STE_SHCFG: F = F::new(45, 44);
    pub const STE_CONFIG_ABORT: u64 = 0;
    pub const STE_CONFIG_BYPASS: u64 = 4;
    pub const STE_CONFIG_S1_TRANS: u64 = 5;
    // CD word 0
    pub const CD_T0SZ: F = F::new(5, 0);
    pub const CD_TG0: F = F::new(7, 6);
    pub const CD_IR0: F = F::new(9, 8);
    pub const CD_OR0: F = F::new(11, 10);
    pub const CD_SH0: F = F::new(13, 12);
    pub const CD_EPD0: F = F::bit(14);
    pub const CD_T1SZ: F = F::new(21, 16);
    pub const CD_TG1: F = F::new(23, 22);
    pub const CD_EPD1: F = F::bit(30);
    pub const CD_V: F = F::bit(31);
    pub const CD_IPS: F = F::new(34, 32);
    pub const CD_AFFD: F = F::bit(35);
    pub const CD_AA64: F = F::bit(41);
    pub const CD_R: F = F::bit(45);
    pub const CD_A: F = F::bit(46);
    pub const CD_ASET: F = F::bit(47);
    pub const CD_ASID: F = F::new(63, 48);
    // CD word 1 and 3
    pub const CD_TTB0: F = F::new(55, 4);
    // L1STD
    pub const L1STD_SPAN: F = F::new(4, 0);
    pub const L1STD_L2PTR: F = F::new(55, 6);
    // Commands (word 0 unless noted)
    pub const CMD_OPCODE: F = F::new(7, 0);
    pub const CMD_SID: F = F::new(63, 32);
    pub const CMD_ASID: F = F::new(63, 48); // word 0
    pub const CMD_LEAF: F = F::bit(0); // word 1
    pub const CMD_RANGE: F = F::new(4, 0); // word 1
    pub const CMD_ADDR: F = F::new(63, 12); // word 1
    pub const CMD_SYNC_CS: F = F::new(13, 12);
    pub const OP_CFGI_STE: u64 = 0x03;
    pub const OP_CFGI_STE_RANGE: u64 = 0x04;
    pub const OP_CFGI_CD: u64 = 0x05;
    pub const OP_CFGI_CD_ALL: u64 = 0x06;
    pub const OP_TLBI_NH_ALL: u64 = 0x10;
    pub const OP_TLBI_NH_ASID: u64 = 0x11;
    pub const OP_TLBI_NH_VA: u64 = 0x12;
    pub const OP_TLBI_EL2_ALL: u64 = 0x20;
    pub const OP_TLBI_NSNH_ALL: u64 = 0x30;
    pub const OP_CMD_SYNC: u64 = 0x46;
    // Events
    pub const EVT_ID: F = F::new(7, 0);
    pub const EVT_SSV: F = F::bit(11);
    pub const EVT_SSID: F = F::new(31, 12);
    pub const EVT_SID: F = F::new(63, 32);
}

/// Tegra241 CMDQV registers (offsets from the CMDQV base).
pub mod cmdqv {
    use super::F;
    pub const CONFIG: usize = 0x0;
    pub const PARAM: usize = 0x4;
    pub const STATUS: usize = 0x8;
    pub const VI_ERR_MAP: usize = 0x14;
    pub const CMDQ_ERR_MAP: usize = 0x24;
    pub const CMDQ_ALLOC_MAP: usize = 0x200;
    pub const VINTF_BASE: usize = 0x1000;
    pub const VINTF_STRIDE: usize = 0x100;
    pub const VINTF_CONFIG: usize = 0x0;
    pub const VINTF_STATUS: usize = 0x4;
    pub const VINTF_LVCMDQ_ERR_MAP: usize = 0xc0;
    pub const VCMDQ_STRIDE: usize = 0x80;
    /// VINTF v's logical VCMDQ pages (aliases of its allocated VCMDQs).
    pub const VINTF_PAGES: usize = 0x30000;
    pub const VINTF_PAGES_STRIDE: usize = 0x20000;
    // within a VCMDQ page-0 slot
    pub const VCMDQ_CONS: usize = 0x0;
    pub const VCMDQ_PROD: usize = 0x4;
    pub const VCMDQ_CONFIG: usize = 0x8;
    pub const VCMDQ_STATUS: usize = 0xc;
    pub const VCMDQ_GERROR: usize = 0x10;
    pub const VCMDQ_GERRORN: usize = 0x14;
    // within a VCMDQ page-1 slot
    pub const VCMDQ_BASE: usize = 0x0;

    pub const CONFIG_CMDQV_EN: u32 = 1 << 0;
    pub const STATUS_CMDQV_ENABLED: u32 = 1 << 0;
    pub const PARAM_VER: F = F::new(3, 0);
    pub const PARAM_NUM_VCMDQ_LOG2: F = F::new(7, 4);
    pub const PARAM_NUM_VINTF_LOG2: F = F::new(11, 8);
    pub const PARAM_NUM_SID_PER_VM_LOG2: F = F::new(15, 12);
    pub const ALLOC_ALLOCATED: u32 = 1 << 0;
    pub const ALLOC_LVCMDQ: F = F::new(7, 1);
    pub const ALLOC_VINTF: F = F::new(20, 15);
    pub const VINTF_CONFIG_ENABLE: u32 = 1 << 0;
    pub const VINTF_CONFIG_HYP_OWN: u32 = 1 << 17;
    pub const VCMDQ_CONFIG_EN: u32 = 1 << 0;
    pub const VCMDQ_GERROR_CMDQ_ERR: u32 = 1 << 0;
    pub const VCMDQ_BASE_ADDR: F = F::new(47, 5);
    pub const VCMDQ_BASE_LOG2SIZE: F = F::new(4, 0);
}
