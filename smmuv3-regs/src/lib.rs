//! ARM SMMUv3 registers, generated from [`smmuv3.yaml`](../smmuv3.yaml).
//!
//! Guest side (no_std, allocation-free): one module per register with its
//! offset, reset, masks per access kind and tock-registers field types
//! (`CR0::SMMUEN::SET + CR0::EVENTQEN::SET`, `IDR0::TTF`), typed accessors
//! through [`Smmuv3`] over any [`regmap_rt::Mmio`] backend, enums in
//! [`enums`] and the in-memory structures (STE, CD, commands, events) in
//! [`structs`].
//!
//! Host side: [`regfile`] holds the emulator's register file and trap
//! dispatcher with the map's access semantics and a hooks trait.
//!
//! ```
//! use smmuv3_regs::{Smmuv3, CR0, IDR0, enums::Ttf};
//! use regmap_rt::FakeMmio;
//!
//! let mmio = FakeMmio::<0x100>::new();
//! let smmu = Smmuv3::new(&mmio);
//! smmu.cr0().write(CR0::SMMUEN::SET + CR0::EVENTQEN::SET);
//! assert_eq!(smmu.cr0().get(), 0b101);
//! assert_eq!(IDR0::TTF.read_as_enum::<Ttf>(0x0D40101A), Some(Ttf::AARCH64));
//! ```
#![no_std]
// Register and field names keep the spec's spelling (`CR0`, `SMMUEN`).
#![allow(non_snake_case, non_camel_case_types, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/accessors.rs"));

/// Host emulation: the register file and trap dispatcher of the SMMUv3.
pub mod regfile {
    include!(concat!(env!("OUT_DIR"), "/regfile.rs"));
}
