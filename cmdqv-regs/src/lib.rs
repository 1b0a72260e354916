//! NVIDIA Tegra241 CMDQV registers, generated from [`cmdqv.yaml`](../cmdqv.yaml).
//!
//! Guest side (no_std, allocation-free): one module per register (`CONFIG`,
//! `PARAM`, `VINTF::CONFIG`, `VCMDQ::PROD`, ...) with offsets, resets,
//! masks per access kind and tock-registers field types; typed accessors
//! through [`Cmdqv`] over any [`regmap_rt::Mmio`] backend (arrays return
//! `None` out of range); the VINTF logical pages as alias accessors
//! (`vintf_page0(v)?.lvcmdq(l)?.prod()`).
//!
//! Host side: [`regfile`] holds the emulator's register file and trap
//! dispatcher; logical-VCMDQ accesses are folded onto the global VCMDQ that
//! the `lvcmdq_to_vcmdq` hook names.
//!
//! ```
//! use cmdqv_regs::{Cmdqv, PARAM, enums::GuestParam};
//! let guest = regmap_rt::tock_registers::LocalRegisterCopy::<u32, PARAM::Register>::new(
//!     GuestParam::QEMU_GUEST.value() as u32,
//! );
//! assert_eq!(guest.read(PARAM::NUM_VCMDQ_LOG2), 1);
//! assert_eq!(guest.read(PARAM::NUM_SID_PER_VM_LOG2), 4);
//! let mmio = regmap_rt::FakeMmio::<0x100>::new();
//! let cmdqv = Cmdqv::new(&mmio);
//! assert!(cmdqv.vintf(64).is_none());
//! ```
#![no_std]
// Register and field names keep the spec's spelling (`CR0`, `SMMUEN`).
#![allow(non_snake_case, non_camel_case_types, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/accessors.rs"));

/// Host emulation: the register file and trap dispatcher of the CMDQV.
pub mod regfile {
    include!(concat!(env!("OUT_DIR"), "/regfile.rs"));
}
