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
/// Offsets are byte offsets from the window base. The generated handles
/// only produce offsets of the map's registers, aligned to the access
/// width, but the trait is safe to call with any offset, so an
/// implementation must be too: an offset outside its window or not aligned
/// to the access width must neither touch memory outside the window nor
/// panic. The backends of this crate read such an access as zero and drop
/// such a write; others document what they do.
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

/// The MMIO backend for real hardware: a device register window of `len`
/// bytes at `base`, accessed with volatile loads and stores of the exact
/// width.
///
/// The one unsafe step is [`VolatileMmio::new`], where the platform vouches
/// for the window; every access after that is checked against it: an
/// access that does not lie wholly inside `0..len`, or whose offset is not
/// a multiple of its width, is not performed (a read gives 0, a write is
/// dropped). So safe code holding the backend, generated handles or not,
/// cannot reach memory outside the window. For the constant offsets of the
/// generated accessors the check folds away (`scripts/modify-asm` compares
/// the instructions with plain `read_volatile`/`write_volatile`).
///
/// The backend is neither `Clone` nor `Sync`: whoever owns it is the only
/// user of the window, as the constructor's contract requires.
#[derive(Debug)]
pub struct VolatileMmio {
    base: *mut u8,
    len: usize,
}

impl VolatileMmio {
    /// A backend over the `len`-byte device window at `base`. For a
    /// generated device, `len` is usually its `WINDOW_SIZE` (every register
    /// of the map), or less when the platform maps less.
    ///
    /// # Safety
    /// For as long as the backend (or anything borrowing it) is used:
    /// - `base` is aligned to 8 bytes (any device window is page-aligned)
    ///   and `base..base + len` is one region valid for volatile reads and
    ///   writes of 4 and 8 bytes at every offset aligned to the width:
    ///   mapped device memory (or ordinary memory the caller owns), whose
    ///   side effects on access are the caller's to accept;
    /// - this backend is the only way the region is accessed: no Rust
    ///   reference to it exists or is created, and no other backend covers
    ///   any part of it (other than through this one by reference).
    pub const unsafe fn new(base: *mut u8, len: usize) -> Self {
        VolatileMmio { base, len }
    }

    /// The window's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty (every access is refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of an access of `size` bytes (4 or 8) at `offset`, when
    /// it lies inside the window and is aligned to its size.
    #[inline(always)]
    fn at(&self, offset: usize, size: usize) -> Option<*mut u8> {
        let last = self.len.checked_sub(size)?;
        // `size` is a power of two.
        if offset > last || offset & (size - 1) != 0 {
            return None;
        }
        // Device memory is outside any allocation Rust knows of, so no
        // in-bounds claim (`add`): the access itself is what the
        // constructor's contract covers.
        Some(self.base.wrapping_add(offset))
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
        match self.at(offset, 4) {
            // SAFETY: inside the window and 4-aligned (`at`), which the
            // constructor's contract makes valid for a volatile 4-byte read.
            Some(p) => unsafe { access::read32(p.cast()) },
            None => 0,
        }
    }
    #[inline(always)]
    fn read64(&self, offset: usize) -> u64 {
        match self.at(offset, 8) {
            // SAFETY: as in `read32`, for 8 bytes.
            Some(p) => unsafe { access::read64(p.cast()) },
            None => 0,
        }
    }
    #[inline(always)]
    fn write32(&self, offset: usize, value: u32) {
        if let Some(p) = self.at(offset, 4) {
            // SAFETY: as in `read32`, for a write.
            unsafe { access::write32(p.cast(), value) }
        }
    }
    #[inline(always)]
    fn write64(&self, offset: usize, value: u64) {
        if let Some(p) = self.at(offset, 8) {
            // SAFETY: as in `read32`, for an 8-byte write.
            unsafe { access::write64(p.cast(), value) }
        }
    }
}

/// An in-memory register window of `N` 32-bit words for host tests: plain
/// storage, no access semantics (use a generated register file for those).
/// An access outside the window or not aligned to 4 bytes reads zero and
/// is dropped, so tests never panic; a 64-bit access is two word accesses
/// (low word first) and happens only when both words are in the window.
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
    /// The word at `offset`, when `offset` is 4-aligned and in the window.
    fn word(&self, offset: usize) -> Option<&Cell<u32>> {
        if !offset.is_multiple_of(4) {
            return None;
        }
        self.words.get(offset / 4)
    }
    /// The two words of a 64-bit access at `offset`, when both are in the
    /// window (no overflow near `usize::MAX`).
    fn pair(&self, offset: usize) -> Option<(&Cell<u32>, &Cell<u32>)> {
        Some((self.word(offset)?, self.word(offset.checked_add(4)?)?))
    }
}

impl<const N: usize> Mmio for FakeMmio<N> {
    fn read32(&self, offset: usize) -> u32 {
        self.word(offset).map_or(0, Cell::get)
    }
    fn read64(&self, offset: usize) -> u64 {
        self.pair(offset).map_or(0, |(lo, hi)| {
            u64::from(lo.get()) | (u64::from(hi.get()) << 32)
        })
    }
    fn write32(&self, offset: usize, value: u32) {
        if let Some(w) = self.word(offset) {
            w.set(value);
        }
    }
    fn write64(&self, offset: usize, value: u64) {
        if let Some((lo, hi)) = self.pair(offset) {
            lo.set(value as u32);
            hi.set((value >> 32) as u32);
        }
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
    use proptest::prelude::*;

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
        // Half in the window: neither half is written, the read gives 0.
        m.write64(4, u64::MAX);
        assert_eq!((m.read32(0), m.read32(4)), (0x5566_7788, 0x1122_3344));
        assert_eq!(m.read64(4), 0);
        // No overflow next to the top of the address space.
        for off in [usize::MAX, usize::MAX - 3, usize::MAX - 7] {
            m.write64(off, 1);
            m.write32(off, 1);
            assert_eq!((m.read64(off), m.read32(off)), (0, 0));
        }
    }

    /// Sixteen 64-bit words: the memory a test backend covers (8-aligned).
    const WORDS: usize = 16;

    #[test]
    fn volatile_mmio_accesses_exactly_its_window() {
        let mut mem = [0u64; WORDS];
        let base = mem.as_mut_ptr().cast::<u8>();
        // SAFETY: `mem` is 8-aligned, 128 bytes, and reached only through
        // the backend until the backend is dropped.
        let m = unsafe { VolatileMmio::new(base, 24) };
        assert_eq!((m.len(), m.is_empty()), (24, false));
        m.write64(16, 0x1122_3344_5566_7788);
        m.write32(4, 0xdead_beef);
        assert_eq!(m.read64(16), 0x1122_3344_5566_7788);
        assert_eq!(m.read32(20), 0x1122_3344);
        assert_eq!(m.read32(4), 0xdead_beef);
        // Past the window (the memory beyond it exists, but is not the
        // backend's), straddling its end, unaligned, near usize::MAX.
        for off in [24, 20, 2, 12, usize::MAX - 3, usize::MAX - 7, usize::MAX] {
            m.write64(off, u64::MAX);
            assert_eq!(m.read64(off), 0, "read64 at {off:#x}");
        }
        for off in [24, 22, 1, usize::MAX - 3, usize::MAX] {
            m.write32(off, u32::MAX);
            assert_eq!(m.read32(off), 0, "read32 at {off:#x}");
        }
        // The backend is not used past here.
        let mut want = [0u64; WORDS];
        want[0] = 0xdead_beef_u64 << 32;
        want[2] = 0x1122_3344_5566_7788;
        assert_eq!(mem, want, "nothing written outside the window");

        // A window shorter than one access performs none.
        // SAFETY: as above.
        let m = unsafe { VolatileMmio::new(mem.as_mut_ptr().cast(), 4) };
        m.write64(0, 1);
        assert_eq!((m.read64(0), m.read32(0)), (0, 0));
        // SAFETY: an empty window is valid for every access it makes (none).
        let m = unsafe { VolatileMmio::new(core::ptr::null_mut(), 0) };
        assert!(m.is_empty());
        m.write32(0, 1);
        assert_eq!(m.read32(0), 0);
    }

    #[test]
    fn volatile_mmio_over_a_whole_allocation() {
        // The window is the allocation: an access the bounds check let
        // through past its end would be undefined behaviour, which Miri
        // (scripts/miri) reports.
        let mut mem = std::boxed::Box::new([0u64; 2]);
        // SAFETY: 16 bytes, 8-aligned, reached only through the backend.
        let m = unsafe { VolatileMmio::new(mem.as_mut_ptr().cast(), 16) };
        for off in 0..=32 {
            m.write64(off, u64::MAX);
            m.write32(off, 1);
            let _ = (m.read64(off), m.read32(off));
        }
        // Last writes that landed: write64(8) then write32(8), write32(12).
        assert_eq!(m.read64(8), 0x1_0000_0001);
        assert_eq!(*mem, [0x1_0000_0001, 0x1_0000_0001]);
    }

    /// One access of a random sequence: (is a write, is 64-bit, offset, value).
    type Op = (bool, bool, usize, u64);

    fn ops() -> impl Strategy<Value = std::vec::Vec<Op>> {
        let offset = prop_oneof![
            0usize..WORDS * 8 + 16,
            (usize::MAX - 16)..=usize::MAX,
            any::<usize>(),
        ];
        proptest::collection::vec((any::<bool>(), any::<bool>(), offset, any::<u64>()), 0..24)
    }

    /// What a backend is documented to do: plain little-endian memory of
    /// `len` bytes for an access that lies inside it at an offset aligned
    /// to `align` (the access width, or 4 for every access to FakeMmio);
    /// any other access reads 0 and writes nothing.
    struct Model {
        bytes: [u8; WORDS * 8],
        len: usize,
        wide_align: usize,
    }

    impl Model {
        fn range(&self, off: usize, size: usize) -> Option<core::ops::Range<usize>> {
            let align = if size == 8 { self.wide_align } else { 4 };
            let end = off.checked_add(size)?;
            (end <= self.len && off.is_multiple_of(align)).then_some(off..end)
        }
        /// Runs `op` on `m` and the model; the value a read gave and should give.
        fn run(&mut self, m: &dyn Mmio, (write, wide, off, value): Op) -> Option<(u64, u64)> {
            let size = if wide { 8 } else { 4 };
            let range = self.range(off, size);
            if write {
                if wide {
                    m.write64(off, value);
                } else {
                    m.write32(off, value as u32);
                }
                if let Some(r) = range {
                    self.bytes[r].copy_from_slice(&value.to_le_bytes()[..size]);
                }
                return None;
            }
            let got = if wide {
                m.read64(off)
            } else {
                u64::from(m.read32(off))
            };
            let mut b = [0u8; 8];
            if let Some(r) = range {
                b[..size].copy_from_slice(&self.bytes[r]);
            }
            Some((got, u64::from_le_bytes(b)))
        }
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            // Miri runs each case a few thousand times slower.
            cases: if cfg!(miri) { 12 } else { 512 },
            // Under Miri's isolation there is no file system to persist to.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Any sequence of accesses at any offsets, on a VolatileMmio window
        /// of any length up to the memory's: the backend agrees with the
        /// model, and the memory beyond the window is never written.
        #[test]
        fn volatile_mmio_matches_a_bounded_memory(len in 0usize..=WORDS * 8, ops in ops()) {
            let mut mem = [0u64; WORDS];
            let mut model = Model { bytes: [0; WORDS * 8], len, wide_align: 8 };
            // SAFETY: `mem` is 8-aligned, WORDS * 8 >= len bytes, and
            // reached only through the backend until it is dropped.
            let m = unsafe { VolatileMmio::new(mem.as_mut_ptr().cast(), len) };
            for op in ops {
                if let Some((got, want)) = model.run(&m, op) {
                    prop_assert_eq!(got, want, "{:x?}", op);
                }
            }
            // The backend is not used past here.
            let got: std::vec::Vec<u8> = mem.iter().flat_map(|w| w.to_le_bytes()).collect();
            prop_assert_eq!(&got[..], &model.bytes[..]);
        }

        /// The same for FakeMmio, whose 64-bit accesses need only 4-byte
        /// alignment: no offset panics, none reaches past the window.
        #[test]
        fn fake_mmio_matches_a_bounded_memory(ops in ops()) {
            let m = FakeMmio::<{ WORDS * 2 - 3 }>::new();
            let len = (WORDS * 2 - 3) * 4;
            let mut model = Model { bytes: [0; WORDS * 8], len, wide_align: 4 };
            for op in ops {
                if let Some((got, want)) = model.run(&m, op) {
                    prop_assert_eq!(got, want, "{:x?}", op);
                }
            }
            for (i, w) in m.words.iter().enumerate() {
                let b: [u8; 4] = model.bytes[i * 4..i * 4 + 4].try_into().unwrap_or_default();
                prop_assert_eq!(w.get(), u32::from_le_bytes(b));
            }
        }
    }
}
