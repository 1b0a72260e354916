//! Runtime support for code generated from register maps by `codegen`.
//!
//! * [`Mmio`]: the backend trait every register access goes through (32- and
//!   64-bit reads and writes at a byte offset). Nothing here ever creates a
//!   Rust reference to device memory.
//! * [`VolatileMmio`]: the backend for real hardware; on aarch64 each access
//!   is one single-register `ldr`/`str` of the exact width with no writeback,
//!   so a trapping hypervisor always gets a valid syndrome.
//! * [`FakeMmio`]: an in-memory register file for host tests.
//! * [`Reg`]: a typed handle on one register (its width, field layout and
//!   access), used by the generated block accessors.
#![no_std]

use core::cell::Cell;
use core::marker::PhantomData;

pub use tock_registers;
use tock_registers::fields::{Field, FieldValue, TryFromValue};
use tock_registers::{LocalRegisterCopy, RegisterLongName, UIntLike};

/// A memory-mapped register window: every generated accessor reads and
/// writes through this trait, so a volatile pointer, a fake register file or
/// a loopback into an emulator's trap dispatcher can stand behind it.
///
/// Offsets are byte offsets from the window base, aligned to the access
/// width by construction of the generated code.
pub trait Mmio {
    /// A 32-bit read at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// A 64-bit read at `offset`.
    fn read64(&self, offset: usize) -> u64;
    /// A 32-bit write at `offset`.
    fn write32(&self, offset: usize, value: u32);
    /// A 64-bit write at `offset`.
    fn write64(&self, offset: usize, value: u64);
}

impl<M: Mmio + ?Sized> Mmio for &M {
    fn read32(&self, offset: usize) -> u32 {
        (**self).read32(offset)
    }
    fn read64(&self, offset: usize) -> u64 {
        (**self).read64(offset)
    }
    fn write32(&self, offset: usize, value: u32) {
        (**self).write32(offset, value)
    }
    fn write64(&self, offset: usize, value: u64) {
        (**self).write64(offset, value)
    }
}

/// A register width: `u32` or `u64`, dispatching to the matching [`Mmio`]
/// method.
pub trait Word: UIntLike + Default + 'static {
    /// Reads a value of this width.
    fn load<M: Mmio + ?Sized>(mmio: &M, offset: usize) -> Self;
    /// Writes a value of this width.
    fn store<M: Mmio + ?Sized>(mmio: &M, offset: usize, value: Self);
}

impl Word for u32 {
    #[inline(always)]
    fn load<M: Mmio + ?Sized>(mmio: &M, offset: usize) -> Self {
        mmio.read32(offset)
    }
    #[inline(always)]
    fn store<M: Mmio + ?Sized>(mmio: &M, offset: usize, value: Self) {
        mmio.write32(offset, value)
    }
}

impl Word for u64 {
    #[inline(always)]
    fn load<M: Mmio + ?Sized>(mmio: &M, offset: usize) -> Self {
        mmio.read64(offset)
    }
    #[inline(always)]
    fn store<M: Mmio + ?Sized>(mmio: &M, offset: usize, value: Self) {
        mmio.write64(offset, value)
    }
}

/// Access marker: readable and writable.
#[derive(Debug, Clone, Copy)]
pub enum ReadWrite {}
/// Access marker: read-only (no write methods).
#[derive(Debug, Clone, Copy)]
pub enum ReadOnly {}
/// Access marker: write-only (no read methods).
#[derive(Debug, Clone, Copy)]
pub enum WriteOnly {}

/// Access markers whose registers can be read.
pub trait Readable {}
/// Access markers whose registers can be written.
pub trait Writable {}
impl Readable for ReadWrite {}
impl Readable for ReadOnly {}
impl Writable for ReadWrite {}
impl Writable for WriteOnly {}

/// A typed handle on one register: width `T`, field layout `R` (the
/// generated marker type) and access `A`. It holds the backend and the
/// register's byte offset, never a reference to device memory.
pub struct Reg<'a, M: Mmio + ?Sized, T: Word, R: RegisterLongName, A> {
    mmio: &'a M,
    offset: usize,
    /// Bits a read-modify-write must write as zero: write-1-to-clear and
    /// self-clearing fields, which writing back what was read would trigger.
    keep_zero: T,
    _layout: PhantomData<(R, A)>,
}

impl<'a, M: Mmio + ?Sized, T: Word, R: RegisterLongName, A> Reg<'a, M, T, R, A> {
    /// A handle on the register at `offset` of `mmio`; `keep_zero` lists the
    /// bits [`Reg::modify`] must not write back (w1c and self-clearing).
    #[inline(always)]
    pub fn new(mmio: &'a M, offset: usize, keep_zero: T) -> Self {
        Reg {
            mmio,
            offset,
            keep_zero,
            _layout: PhantomData,
        }
    }

    /// The register's byte offset from the window base.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<M: Mmio + ?Sized, T: Word, R: RegisterLongName, A: Readable> Reg<'_, M, T, R, A> {
    /// Reads the raw value.
    #[inline(always)]
    pub fn get(&self) -> T {
        T::load(self.mmio, self.offset)
    }
    /// Reads the register into a local copy for field access.
    #[inline(always)]
    pub fn extract(&self) -> LocalRegisterCopy<T, R> {
        LocalRegisterCopy::new(self.get())
    }
    /// Reads one field's value.
    #[inline(always)]
    pub fn read(&self, field: Field<T, R>) -> T {
        field.read(self.get())
    }
    /// Reads one field as its enum (`None` for a value the map does not name).
    #[inline(always)]
    pub fn read_as_enum<E: TryFromValue<T, EnumType = E>>(&self, field: Field<T, R>) -> Option<E> {
        field.read_as_enum(self.get())
    }
    /// Whether any bit of the field is set.
    #[inline(always)]
    pub fn is_set(&self, field: Field<T, R>) -> bool {
        field.is_set(self.get())
    }
    /// Whether every field of `value` matches.
    #[inline(always)]
    pub fn matches_all(&self, value: FieldValue<T, R>) -> bool {
        value.matches_all(self.get())
    }
}

impl<M: Mmio + ?Sized, T: Word, R: RegisterLongName, A: Writable> Reg<'_, M, T, R, A> {
    /// Writes a raw value. For registers with write-1-to-clear fields this is
    /// the way to clear them on purpose.
    #[inline(always)]
    pub fn set(&self, value: T) {
        T::store(self.mmio, self.offset, value)
    }
    /// Writes the given fields; every other bit is written as zero.
    #[inline(always)]
    pub fn write(&self, value: FieldValue<T, R>) {
        self.set(value.value)
    }
}

impl<M: Mmio + ?Sized, T: Word, R: RegisterLongName> Reg<'_, M, T, R, ReadWrite> {
    /// Read-modify-write of the given fields. Write-1-to-clear and
    /// self-clearing bits are written as zero, so a modify of one field never
    /// acknowledges an error or retriggers an action by accident.
    #[inline(always)]
    pub fn modify(&self, value: FieldValue<T, R>) {
        let old = self.get();
        self.set((old & !self.keep_zero & !value.mask()) | value.value);
    }
}

impl<M: Mmio + ?Sized, T: Word, R: RegisterLongName, A> core::fmt::Debug for Reg<'_, M, T, R, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Reading has side effects on some registers (clear-on-read), so
        // Debug shows where the register is, not its value.
        write!(f, "Reg@{:#x}", self.offset)
    }
}

/// The MMIO backend for real hardware: a base pointer to the device window.
#[derive(Debug)]
pub struct VolatileMmio {
    base: *mut u8,
}

impl VolatileMmio {
    /// A backend over the window at `base`.
    ///
    /// # Safety
    /// `base` must be the start of the device's mapped MMIO window, valid for
    /// every offset the generated accessors use, for as long as the backend
    /// is used, and not accessed through Rust references meanwhile.
    pub const unsafe fn new(base: *mut u8) -> Self {
        VolatileMmio { base }
    }
}

#[cfg(target_arch = "aarch64")]
mod access {
    //! One `ldr`/`str` of the exact width and no writeback addressing, so a
    //! hypervisor trapping the access gets a valid ISS (ESR_EL2.ISV = 1).
    use core::arch::asm;

    #[inline(always)]
    pub unsafe fn read32(p: *const u32) -> u32 {
        let v: u32;
        unsafe {
            asm!("ldr {v:w}, [{p}]", p = in(reg) p, v = out(reg) v, options(nostack, readonly, preserves_flags))
        };
        v
    }
    #[inline(always)]
    pub unsafe fn read64(p: *const u64) -> u64 {
        let v: u64;
        unsafe {
            asm!("ldr {v:x}, [{p}]", p = in(reg) p, v = out(reg) v, options(nostack, readonly, preserves_flags))
        };
        v
    }
    #[inline(always)]
    pub unsafe fn write32(p: *mut u32, v: u32) {
        unsafe {
            asm!("str {v:w}, [{p}]", p = in(reg) p, v = in(reg) v, options(nostack, preserves_flags))
        };
    }
    #[inline(always)]
    pub unsafe fn write64(p: *mut u64, v: u64) {
        unsafe {
            asm!("str {v:x}, [{p}]", p = in(reg) p, v = in(reg) v, options(nostack, preserves_flags))
        };
    }
}

#[cfg(not(target_arch = "aarch64"))]
mod access {
    #[inline(always)]
    pub unsafe fn read32(p: *const u32) -> u32 {
        unsafe { p.read_volatile() }
    }
    #[inline(always)]
    pub unsafe fn read64(p: *const u64) -> u64 {
        unsafe { p.read_volatile() }
    }
    #[inline(always)]
    pub unsafe fn write32(p: *mut u32, v: u32) {
        unsafe { p.write_volatile(v) }
    }
    #[inline(always)]
    pub unsafe fn write64(p: *mut u64, v: u64) {
        unsafe { p.write_volatile(v) }
    }
}

impl Mmio for VolatileMmio {
    #[inline(always)]
    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: the constructor's contract covers every generated offset.
        unsafe { access::read32(self.base.wrapping_add(offset).cast()) }
    }
    #[inline(always)]
    fn read64(&self, offset: usize) -> u64 {
        // SAFETY: as above.
        unsafe { access::read64(self.base.wrapping_add(offset).cast()) }
    }
    #[inline(always)]
    fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as above.
        unsafe { access::write32(self.base.wrapping_add(offset).cast(), value) }
    }
    #[inline(always)]
    fn write64(&self, offset: usize, value: u64) {
        // SAFETY: as above.
        unsafe { access::write64(self.base.wrapping_add(offset).cast(), value) }
    }
}

/// An in-memory register window of `N` 32-bit words for host tests: plain
/// storage, no access semantics (use a generated register file for those).
/// Out-of-range accesses read zero and are ignored, so tests never panic.
pub struct FakeMmio<const N: usize> {
    words: [Cell<u32>; N],
}

impl<const N: usize> Default for FakeMmio<N> {
    fn default() -> Self {
        FakeMmio {
            words: core::array::from_fn(|_| Cell::new(0)),
        }
    }
}

impl<const N: usize> FakeMmio<N> {
    /// An all-zero window.
    pub fn new() -> Self {
        Self::default()
    }
    fn word(&self, offset: usize) -> Option<&Cell<u32>> {
        if !offset.is_multiple_of(4) {
            return None;
        }
        self.words.get(offset / 4)
    }
}

impl<const N: usize> Mmio for FakeMmio<N> {
    fn read32(&self, offset: usize) -> u32 {
        self.word(offset).map_or(0, Cell::get)
    }
    fn read64(&self, offset: usize) -> u64 {
        u64::from(self.read32(offset)) | (u64::from(self.read32(offset + 4)) << 32)
    }
    fn write32(&self, offset: usize, value: u32) {
        if let Some(w) = self.word(offset) {
            w.set(value);
        }
    }
    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}

impl<const N: usize> core::fmt::Debug for FakeMmio<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FakeMmio<{N} words>")
    }
}

/// A field of an in-memory structure: which 64-bit word, where in it, how
/// wide. Generated structures expose one constant per field
/// (`Ste::S1CONTEXTPTR`) and read or update fields through [`Words`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructField {
    /// Index of the 64-bit word.
    pub word: usize,
    /// Lowest bit within the word.
    pub shift: u32,
    /// Value mask before shifting.
    pub mask: u64,
}

impl StructField {
    /// A field of `mask` at bit `shift` of word `word`.
    pub const fn new(word: usize, shift: u32, mask: u64) -> Self {
        StructField { word, shift, mask }
    }
}

/// A structure field whose values an enum names (`Ste::CONFIG`).
#[derive(Debug)]
pub struct EnumField<E> {
    /// Where the field is.
    pub field: StructField,
    _enum: PhantomData<E>,
}

impl<E> Clone for EnumField<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for EnumField<E> {}

impl<E> From<EnumField<E>> for StructField {
    fn from(f: EnumField<E>) -> StructField {
        f.field
    }
}

impl<E> EnumField<E> {
    /// An enum-typed field of `mask` at bit `shift` of word `word`.
    pub const fn new(word: usize, shift: u32, mask: u64) -> Self {
        EnumField {
            field: StructField::new(word, shift, mask),
            _enum: PhantomData,
        }
    }
}

/// Enums generated from a map: conversion to and from the field value.
pub trait FieldEnum: Sized + Copy {
    /// The numeric value.
    fn to_value(self) -> u64;
    /// The variant for `value`, if the map names it.
    fn from_field_value(value: u64) -> Option<Self>;
}

/// Field access for structures stored as `N` little-endian 64-bit words.
/// Reads of a word outside the structure give 0 and writes are ignored,
/// which cannot happen with the generated field constants.
pub trait Words<const N: usize>: Sized + Copy {
    /// The words.
    fn words(&self) -> [u64; N];
    /// A structure from its words.
    fn from_words(words: [u64; N]) -> Self;

    /// Reads a field (plain or enum-typed) as a number.
    #[inline]
    fn get(&self, f: impl Into<StructField>) -> u64 {
        let f = f.into();
        self.words()
            .get(f.word)
            .map_or(0, |w| (w >> f.shift) & f.mask)
    }
    /// This structure with field `f` set to `value` (bits beyond the field's
    /// width are dropped).
    #[inline]
    #[must_use]
    fn with(self, f: impl Into<StructField>, value: u64) -> Self {
        let f = f.into();
        let mut w = self.words();
        if let Some(word) = w.get_mut(f.word) {
            *word = (*word & !(f.mask << f.shift)) | ((value & f.mask) << f.shift);
        }
        Self::from_words(w)
    }
    /// Sets field `f` to `value` in place.
    #[inline]
    fn set(&mut self, f: impl Into<StructField>, value: u64) {
        *self = self.with(f, value);
    }
    /// Reads an enum-typed field; `None` for a value the map does not name.
    #[inline]
    fn get_enum<E: FieldEnum>(&self, f: EnumField<E>) -> Option<E> {
        E::from_field_value(self.get(f.field))
    }
    /// This structure with enum-typed field `f` set to `value`.
    #[inline]
    #[must_use]
    fn with_enum<E: FieldEnum>(self, f: EnumField<E>, value: E) -> Self {
        self.with(f.field, value.to_value())
    }
    /// Sets enum-typed field `f` in place.
    #[inline]
    fn set_enum<E: FieldEnum>(&mut self, f: EnumField<E>, value: E) {
        self.set(f.field, value.to_value())
    }
}

/// Writes `name { FIELD: 0x.., ... }` for a value made of `words`, one
/// entry per named field: the shared `Debug` body of generated register
/// values and structures (a table instead of per-field code keeps the
/// generated crates small).
pub fn debug_fields(
    f: &mut core::fmt::Formatter<'_>,
    name: &str,
    words: &[u64],
    fields: &[(&str, StructField)],
) -> core::fmt::Result {
    let mut d = f.debug_struct(name);
    for (n, fld) in fields {
        let v = words
            .get(fld.word)
            .map_or(0, |w| (w >> fld.shift) & fld.mask);
        d.field(n, &format_args!("{v:#x}"));
    }
    d.finish()
}

/// The `defmt` counterpart of [`debug_fields`].
#[cfg(feature = "defmt")]
pub fn defmt_fields(
    f: defmt::Formatter<'_>,
    name: &str,
    words: &[u64],
    fields: &[(&str, StructField)],
) {
    defmt::write!(f, "{=str} {{", name);
    for (n, fld) in fields {
        let v = words
            .get(fld.word)
            .map_or(0, |w| (w >> fld.shift) & fld.mask);
        defmt::write!(f, " {=str}: {=u64:#x}", n, v);
    }
    defmt::write!(f, " }}");
}

/// Implements [`Words`], `Default` (the constructor `new()`), `Debug` and,
/// with the calling crate's `defmt` feature, `defmt::Format` for a generated
/// structure `$ty(pub [u64; $n])` with a `FIELDS` table; and `From` into each
/// listed ancestor structure of the same size.
#[macro_export]
macro_rules! impl_words {
    ($ty:ident, $n:literal $(, $ancestor:ident)*) => {
        impl $crate::Words<$n> for $ty {
            fn words(&self) -> [u64; $n] {
                self.0
            }
            fn from_words(words: [u64; $n]) -> Self {
                Self(words)
            }
        }
        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }
        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                $crate::debug_fields(f, stringify!($ty), &self.0, Self::FIELDS)
            }
        }
        #[cfg(feature = "defmt")]
        impl defmt::Format for $ty {
            fn format(&self, f: defmt::Formatter) {
                $crate::defmt_fields(f, stringify!($ty), &self.0, Self::FIELDS)
            }
        }
        $(
            impl From<$ty> for $ancestor {
                fn from(v: $ty) -> $ancestor {
                    $ancestor(v.0)
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug)]
    struct Layout;
    impl RegisterLongName for Layout {}
    const EN: Field<u32, Layout> = Field::<u32, Layout>::new(1, 0);
    const ERR: Field<u32, Layout> = Field::<u32, Layout>::new(1, 4);

    #[test]
    fn modify_never_writes_back_w1c_bits() {
        let m = FakeMmio::<4>::new();
        m.write32(4, 0x10); // ERR (w1c) pending
        let r: Reg<'_, _, u32, Layout, ReadWrite> = Reg::new(&m, 4, 0x10);
        r.modify(FieldValue::<u32, Layout>::new(1, 0, 1));
        assert_eq!(
            m.read32(4),
            0x1,
            "the pending w1c bit must not be acknowledged by a modify"
        );
        assert_eq!(r.read(EN), 1);
        assert!(!r.is_set(ERR));
        r.set(0x10); // an explicit write clears on purpose
        assert_eq!(m.read32(4), 0x10);
    }

    #[test]
    fn fake_mmio_ignores_out_of_range_and_unaligned() {
        let m = FakeMmio::<2>::new();
        m.write32(8, 1);
        m.write32(2, 1);
        assert_eq!(m.read32(8), 0);
        assert_eq!(m.read32(2), 0);
        m.write64(0, 0x1122_3344_5566_7788);
        assert_eq!(m.read64(0), 0x1122_3344_5566_7788);
        assert_eq!(m.read32(4), 0x1122_3344);
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Two([u64; 2]);
    impl Words<2> for Two {
        fn words(&self) -> [u64; 2] {
            self.0
        }
        fn from_words(w: [u64; 2]) -> Self {
            Two(w)
        }
    }

    #[test]
    fn words_fields_mask_and_stay_in_their_word() {
        const F: StructField = StructField::new(1, 4, 0xff);
        let t = Two([0, 0]).with(F, 0x1ab);
        assert_eq!(t.0, [0, 0xab0]);
        assert_eq!(t.get(F), 0xab);
        // A field constant can never name a word past the structure, but a
        // hand-made one must not panic.
        let bad = StructField::new(5, 0, 1);
        assert_eq!(t.with(bad, 1), t);
        assert_eq!(t.get(bad), 0);
    }
}
