//! The MMIO seam: the [`Mmio`] trait every generated accessor goes through,
//! the register widths ([`Word`]), and two backends: [`VolatileMmio`] for
//! real hardware and [`FakeMmio`] for host tests.

use core::cell::Cell;

use tock_registers::fields::{Field, FieldValue};
use tock_registers::{RegisterLongName, UIntLike};

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
/// method and converting to and from the `u64` the trap dispatcher works in.
pub trait Word: UIntLike + Default + core::hash::Hash + 'static {
    /// Width in bits.
    const BITS: u32;
    /// Reads a value of this width.
    fn load<M: Mmio + ?Sized>(mmio: &M, offset: usize) -> Self;
    /// Writes a value of this width.
    fn store<M: Mmio + ?Sized>(mmio: &M, offset: usize, value: Self);
    /// The value, zero-extended.
    fn to_u64(self) -> u64;
    /// The low bits of `value` that fit this width.
    fn from_u64(value: u64) -> Self;
    /// Field `field` set to `value` (tock-registers builds field values
    /// per width; this is the width-generic form).
    fn field_value<R: RegisterLongName>(field: Field<Self, R>, value: Self) -> FieldValue<Self, R>;
}

impl Word for u32 {
    const BITS: u32 = 32;
    #[inline(always)]
    fn field_value<R: RegisterLongName>(field: Field<Self, R>, value: Self) -> FieldValue<Self, R> {
        FieldValue::<u32, R>::new(field.mask, field.shift, value)
    }
    #[inline(always)]
    fn load<M: Mmio + ?Sized>(mmio: &M, offset: usize) -> Self {
        mmio.read32(offset)
    }
    #[inline(always)]
    fn store<M: Mmio + ?Sized>(mmio: &M, offset: usize, value: Self) {
        mmio.write32(offset, value)
    }
    #[inline(always)]
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    #[inline(always)]
    fn from_u64(value: u64) -> Self {
        value as u32
    }
}

impl Word for u64 {
    const BITS: u32 = 64;
    #[inline(always)]
    fn field_value<R: RegisterLongName>(field: Field<Self, R>, value: Self) -> FieldValue<Self, R> {
        FieldValue::<u64, R>::new(field.mask, field.shift, value)
    }
    #[inline(always)]
    fn load<M: Mmio + ?Sized>(mmio: &M, offset: usize) -> Self {
        mmio.read64(offset)
    }
    #[inline(always)]
    fn store<M: Mmio + ?Sized>(mmio: &M, offset: usize, value: Self) {
        mmio.write64(offset, value)
    }
    #[inline(always)]
    fn to_u64(self) -> u64 {
        self
    }
    #[inline(always)]
    fn from_u64(value: u64) -> Self {
        value
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
