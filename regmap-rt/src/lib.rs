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
//!
//! # Soundness of the MMIO seam
//!
//! Safe code can never reach memory it was not given. Of the two ways to
//! get there, this crate takes a bounds-checked backend rather than an
//! unsafe trait:
//!
//! * [`Mmio`] is a safe trait with safe methods taking any offset.
//!   Implementing it safely is the common case (an in-memory fake, a
//!   loopback into an emulator's trap dispatcher, a test recorder); making
//!   the raw-offset methods `unsafe fn` would put `unsafe` into every one of
//!   them and into every generated accessor, to protect only one backend.
//! * That backend, [`VolatileMmio`], is the only code here that
//!   dereferences a pointer. Its constructor is `unsafe`, with the contract
//!   written down (base aligned and valid for the window's length, device
//!   memory, exclusive use), and it knows the window's length: every access
//!   is checked to lie inside it and to be aligned to its width, and one
//!   that is not reads 0 and writes nothing. The generated accessors'
//!   offsets are constants or bounds-checked array elements, so the check
//!   folds away for the former and costs one comparison for the latter.
//!
//! A register with clear-on-read (`rc`) fields changes when it is read, so
//! its handle ([`RoRc`], [`RwRc`]) reads through `&mut self`; a handle lent
//! out by shared reference cannot clear them:
//!
//! ```compile_fail
//! fn peek<M: regmap_rt::Mmio, L: regmap_rt::Layout>(r: &regmap_rt::RoRc<'_, M, L>) -> L::Word {
//!     r.get() // error: `r` is a `&` reference, `get` needs `&mut`
//! }
//! ```
//!
//! ```
//! fn take<M: regmap_rt::Mmio, L: regmap_rt::Layout>(r: &mut regmap_rt::RoRc<'_, M, L>) -> L::Word {
//!     r.get()
//! }
//! fn peek<M: regmap_rt::Mmio, L: regmap_rt::Layout>(r: &regmap_rt::Ro<'_, M, L>) -> L::Word {
//!     r.get()
//! }
//! ```
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
    Access, AccessKind, ReadOnly, ReadOnlyRc, ReadWrite, ReadWriteRc, Readable, Reg, Ro, RoRc, Rw,
    RwRc, Window, Wo, Writable, WriteOnly,
};
pub use words::{EnumField, FieldEnum, StructField, Words};
