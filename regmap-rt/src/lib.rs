//! Runtime support for code generated from register maps by `codegen`.
//!
//! * [`Mmio`]: the backend trait every register access goes through (32- and
//!   64-bit reads and writes at a byte offset). Nothing here ever creates a
//!   Rust reference to device memory. [`VolatileMmio`] is the backend for
//!   real hardware (on aarch64 each access is one single-register `ldr`/`str`
//!   of the exact width with no writeback, so a trapping hypervisor always
//!   gets a valid syndrome); [`FakeMmio`] an in-memory window for host tests.
//! * [`Layout`], [`Masks`], [`Value`]: what a generated register layout
//!   carries (width, fields by name, bits by access kind), and register
//!   values whose fields are read by name.
//! * [`Reg`], [`Window`]: typed handles on registers and block elements, used
//!   by the generated accessors.
//! * [`regfile`]: the access semantics of the generated trap dispatchers.
//! * [`Words`], [`StructField`], [`EnumField`]: in-memory structures.
#![no_std]

#[cfg(test)]
extern crate std;

mod fmt;
mod layout;
mod mmio;
mod reg;
pub mod regfile;
mod words;

pub use tock_registers;

pub use fmt::debug_fields;
#[cfg(feature = "defmt")]
pub use fmt::defmt_fields;
pub use layout::{Fields, Layout, Masks, Value, ACCESS_KINDS};
pub use mmio::{FakeMmio, Mmio, VolatileMmio, Word};
pub use reg::{
    Access, AccessKind, ReadOnly, ReadWrite, Readable, Reg, Ro, Rw, Window, Wo, Writable, WriteOnly,
};
pub use words::{EnumField, FieldEnum, StructField, Words};
