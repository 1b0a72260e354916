//! Runtime of the generated register files (host emulation): storage cells
//! that apply a register's access semantics from its [`Layout`]'s masks,
//! the offset-decode helpers, and what hooks receive.
//!
//! A generated `regfile` module holds one [`Slot`] (or array of slots) per
//! register with storage, decodes a trapped offset to the register and the
//! half of it the access covers ([`Lane`]), and calls [`Slot::read`] or
//! [`Slot::write`]; everything FORMAT.md says about `rw`, `w1c`, `rc`, `sc`
//! and the other access kinds lives here, once.

use core::marker::PhantomData;

use crate::{Access, Layout, ReadWrite, Value, Word};

/// Why a trapped access was not performed. The VMM decides whether to treat
/// it as RAZ/WI or to report a fault to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AccessError {
    /// No register at this offset.
    Unmapped,
    /// An access size other than 4 or 8 bytes.
    BadSize,
    /// An offset that is not a multiple of the access size.
    Unaligned,
    /// An 8-byte access to a 32-bit register: it would straddle two registers.
    Straddle,
    /// An index-mapped alias whose `index_map` hook reports no target element.
    AliasUnmapped,
    /// An array index out of range (from device code or an `index_map` hook).
    BadIndex,
}

/// The part of a register an access covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Lane {
    /// A 32-bit access to a 32-bit register, or to the low half of a 64-bit one.
    Low,
    /// A 32-bit access to the high half of a 64-bit register.
    High,
    /// An 8-byte access to a 64-bit register.
    Wide,
}

impl Lane {
    /// The lane of an access to a 32-bit register: an 8-byte access
    /// straddles it.
    #[inline(always)]
    pub fn of32(wide: bool) -> Result<Lane, AccessError> {
        if wide {
            Err(AccessError::Straddle)
        } else {
            Ok(Lane::Low)
        }
    }

    /// The lane of an access at the first byte of a 64-bit register.
    #[inline(always)]
    pub fn of64(wide: bool) -> Lane {
        if wide {
            Lane::Wide
        } else {
            Lane::Low
        }
    }

    /// The bits of a `W` register the lane covers.
    #[inline(always)]
    fn bits<W: Word>(self) -> u64 {
        if W::BITS == 32 {
            // The decoder never gives a 32-bit register another lane.
            return 0xffff_ffff;
        }
        match self {
            Lane::Low => 0xffff_ffff,
            Lane::High => 0xffff_ffff_0000_0000,
            Lane::Wide => u64::MAX,
        }
    }

    /// The lane's part of a `W` register's value `v`, as the access returns it.
    #[inline(always)]
    fn extract<W: Word>(self, v: u64) -> u64 {
        if W::BITS == 32 {
            return v;
        }
        // A branch per lane rather than a mask and a shift: with the lane
        // known at each decoded offset, each becomes one instruction.
        match self {
            Lane::Low => v & 0xffff_ffff,
            Lane::High => v >> 32,
            Lane::Wide => v,
        }
    }

    /// A written `value` placed at the lane of a `W` register.
    #[inline(always)]
    fn place<W: Word>(self, value: u64) -> u64 {
        if W::BITS == 32 {
            return value & 0xffff_ffff;
        }
        match self {
            Lane::Low => value & 0xffff_ffff,
            Lane::High => value << 32,
            Lane::Wide => value,
        }
    }
}

/// Checks the size and alignment of an access; `Ok(true)` for 8 bytes.
#[inline(always)]
pub fn check(offset: u64, size: usize) -> Result<bool, AccessError> {
    let wide = match size {
        4 => false,
        8 => true,
        _ => return Err(AccessError::BadSize),
    };
    // `size` is a power of two.
    if offset & (size as u64 - 1) != 0 {
        return Err(AccessError::Unaligned);
    }
    Ok(wide)
}

/// A decoded 32-bit register `at`: an 8-byte access straddles it.
#[inline(always)]
pub fn word<A>(at: A, wide: bool) -> Result<(A, Lane), AccessError> {
    Ok((at, Lane::of32(wide)?))
}

/// A decoded 64-bit register `at`, reached at its first byte: the whole
/// register for an 8-byte access, its low half otherwise.
#[inline(always)]
pub fn low<A>(at: A, wide: bool) -> Result<(A, Lane), AccessError> {
    Ok((at, Lane::of64(wide)))
}

/// A decoded 64-bit register `at`, reached at its high half (only a 4-byte
/// access can: an 8-byte one there is unaligned).
#[inline(always)]
pub fn high<A>(at: A) -> Result<(A, Lane), AccessError> {
    Ok((at, Lane::High))
}

/// Splits an offset inside an array of elements `stride` bytes apart into
/// the element index and the offset inside that element.
#[inline(always)]
pub fn split(offset: u64, stride: u64) -> (u32, u64) {
    ((offset / stride) as u32, offset % stride)
}

/// The target indices of an index-mapped alias element: the `index_map`
/// hook's answer `mapped` for the first `outer` of the alias's indices
/// `idx`, followed by the remaining (inner) indices, each checked against
/// the target's `counts`.
#[inline(always)]
pub fn remap<const M: usize, const I: usize, const T: usize>(
    mapped: Option<[u32; M]>,
    idx: [u32; I],
    outer: usize,
    counts: [u32; T],
) -> Result<[u32; T], AccessError> {
    let mapped = mapped.ok_or(AccessError::AliasUnmapped)?;
    let inner = idx.get(outer..).unwrap_or(&[]);
    if M + inner.len() != T {
        return Err(AccessError::BadIndex);
    }
    let mut out = [0u32; T];
    for ((o, i), c) in out.iter_mut().zip(mapped.iter().chain(inner)).zip(counts) {
        if *i >= c {
            return Err(AccessError::BadIndex);
        }
        *o = *i;
    }
    Ok(out)
}

/// The storage of one register element: its value, with the access
/// semantics of layout `L` in a register of access `A` applied by
/// [`Slot::read`] and [`Slot::write`].
pub struct Slot<L: Layout, A: Access = ReadWrite> {
    value: L::Word,
    _layout: PhantomData<(L, A)>,
}

impl<L: Layout, A: Access> Slot<L, A> {
    /// The masks that apply: the layout's, as the register's access changes them.
    const MASKS: crate::Masks = L::MASKS.with_access(A::KIND);

    /// A slot holding `reset`.
    pub const fn new(reset: L::Word) -> Self {
        Slot {
            value: reset,
            _layout: PhantomData,
        }
    }
    /// The stored value (device side: no guest semantics).
    #[inline(always)]
    pub fn get(&self) -> L::Word {
        self.value
    }
    /// The stored value, with its fields by name.
    #[inline(always)]
    pub fn value(&self) -> Value<L> {
        Value::new(self.value)
    }
    /// Stores `value` (device side: no guest semantics, no hooks).
    #[inline(always)]
    pub fn set(&mut self, value: L::Word) {
        self.value = value;
    }
    /// Clears the `clear` bits, then sets the `set` bits (device side).
    #[inline(always)]
    pub fn update(&mut self, clear: L::Word, set: L::Word) {
        self.value = (self.value & !clear) | set;
    }

    /// A guest read of `lane`: readable bits from storage, `res1` bits as
    /// one, everything else zero; `rc` bits of the lane clear afterwards.
    #[inline(always)]
    pub fn read(&mut self, lane: Lane) -> u64 {
        let m = Self::MASKS;
        let stored = self.value.to_u64();
        let v = (stored & m.readable()) | m.res1;
        if m.rc != 0 {
            self.value = L::Word::from_u64(stored & !(m.rc & lane.bits::<L::Word>()));
        }
        lane.extract::<L::Word>(v)
    }

    /// A guest write of `value` to `lane`, as its hook sees it: stored bits
    /// take the written value, `w1c` bits clear where it has ones, `w1s`
    /// bits set; `sc` bits are stored too, for the hook to see, until
    /// [`Slot::settle`]. Returns the stored values before and after.
    #[inline(always)]
    pub fn write_seen(&mut self, lane: Lane, value: u64) -> (Value<L>, Value<L>) {
        let m = Self::MASKS;
        let v = lane.place::<L::Word>(value);
        let old = self.value.to_u64();
        let store = m.stored();
        let new = (old & !(store & lane.bits::<L::Word>())) | (v & store);
        let new = (new & !(v & m.w1c)) | (v & m.w1s);
        let old = self.value;
        self.value = L::Word::from_u64(new);
        (Value::new(old), Value::new(self.value))
    }

    /// A guest write with no hook to see it: [`Slot::write_seen`], then
    /// [`Slot::settle`].
    #[inline(always)]
    pub fn write(&mut self, lane: Lane, value: u64) {
        self.write_seen(lane, value);
        self.settle();
    }

    /// Drops the `sc` bits a write stored (after its hook has seen them).
    #[inline(always)]
    pub fn settle(&mut self) {
        let sc = Self::MASKS.sc;
        if sc != 0 {
            self.value = L::Word::from_u64(self.value.to_u64() & !sc);
        }
    }
}

impl<L: Layout, A: Access> Clone for Slot<L, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: Layout, A: Access> Copy for Slot<L, A> {}
impl<L: Layout, A: Access> PartialEq for Slot<L, A> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<L: Layout, A: Access> Eq for Slot<L, A> {}
impl<L: Layout, A: Access> core::fmt::Debug for Slot<L, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.value.to_u64())
    }
}

/// A register's storage: one [`Slot`], or an array of them (nested once per
/// array dimension, outermost first), addressed by one index per dimension.
pub trait Cells {
    /// The layout of every element.
    type Layout: Layout;
    /// The register-level access.
    type Access: Access;
    /// The element at `idx`, if `idx` names one.
    fn cell(&self, idx: &[u32]) -> Option<&Slot<Self::Layout, Self::Access>>;
    /// The element at `idx`, if `idx` names one, for update.
    fn cell_mut(&mut self, idx: &[u32]) -> Option<&mut Slot<Self::Layout, Self::Access>>;

    /// The element at `idx`, or [`AccessError::BadIndex`].
    #[inline(always)]
    fn at(&mut self, idx: &[u32]) -> Result<&mut Slot<Self::Layout, Self::Access>, AccessError> {
        self.cell_mut(idx).ok_or(AccessError::BadIndex)
    }
    /// The stored value at `idx` (device side), if `idx` names an element.
    #[inline]
    fn value_at(&self, idx: &[u32]) -> Option<<Self::Layout as Layout>::Word> {
        self.cell(idx).map(Slot::get)
    }
    /// The stored value at `idx`, widened (device side).
    #[inline]
    fn stored(&self, idx: &[u32]) -> Result<u64, AccessError> {
        self.value_at(idx)
            .map(Word::to_u64)
            .ok_or(AccessError::BadIndex)
    }
    /// Stores `value` at `idx` (device side; truncated to the width).
    #[inline]
    fn store(&mut self, idx: &[u32], value: u64) -> Result<(), AccessError> {
        self.at(idx)?.set(Word::from_u64(value));
        Ok(())
    }
    /// Stores `value` at `idx` (device side).
    #[inline]
    fn set_at(
        &mut self,
        idx: &[u32],
        value: <Self::Layout as Layout>::Word,
    ) -> Result<(), AccessError> {
        self.at(idx)?.set(value);
        Ok(())
    }
    /// Clears the `clear` bits, then sets the `set` bits at `idx` (device side).
    #[inline]
    fn update_at(
        &mut self,
        idx: &[u32],
        clear: <Self::Layout as Layout>::Word,
        set: <Self::Layout as Layout>::Word,
    ) -> Result<(), AccessError> {
        self.at(idx)?.update(clear, set);
        Ok(())
    }
}

impl<L: Layout, A: Access> Cells for Slot<L, A> {
    type Layout = L;
    type Access = A;
    #[inline(always)]
    fn cell(&self, idx: &[u32]) -> Option<&Slot<L, A>> {
        idx.is_empty().then_some(self)
    }
    #[inline(always)]
    fn cell_mut(&mut self, idx: &[u32]) -> Option<&mut Slot<L, A>> {
        idx.is_empty().then_some(self)
    }
}

impl<T: Cells, const N: usize> Cells for [T; N] {
    type Layout = T::Layout;
    type Access = T::Access;
    #[inline(always)]
    fn cell(&self, idx: &[u32]) -> Option<&Slot<T::Layout, T::Access>> {
        let (first, rest) = idx.split_first()?;
        self.get(*first as usize)?.cell(rest)
    }
    #[inline(always)]
    fn cell_mut(&mut self, idx: &[u32]) -> Option<&mut Slot<T::Layout, T::Access>> {
        let (first, rest) = idx.split_first()?;
        self.get_mut(*first as usize)?.cell_mut(rest)
    }
}

/// What a write hook is told: the register with storage that was written
/// (the target, for an alias), its array indices, and its stored value
/// before and after the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write<'a, R, V> {
    /// The register written.
    pub reg: R,
    /// Its indices, one per array dimension.
    pub idx: &'a [u32],
    /// The stored value before the write.
    pub old: V,
    /// The stored value after it (with any self-clearing bits still set).
    pub new: V,
}

impl<'a, R, V> Write<'a, R, V> {
    /// A write of `reg` at `idx` from `old` to `new`.
    #[inline(always)]
    pub fn new(reg: R, idx: &'a [u32], old: V, new: V) -> Self {
        Write { reg, idx, old, new }
    }
}

/// What a read hook is told: the register with storage about to be read
/// (the target, for an alias) and its array indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read<'a, R> {
    /// The register read.
    pub reg: R,
    /// Its indices, one per array dimension.
    pub idx: &'a [u32],
}

impl<'a, R> Read<'a, R> {
    /// A read of `reg` at `idx`.
    #[inline(always)]
    pub fn new(reg: R, idx: &'a [u32]) -> Self {
        Read { reg, idx }
    }
}

/// Copies the low `data.len()` bytes of `value` into `data`, little-endian
/// (the byte-buffer form of a trapped read).
#[inline]
pub fn to_bytes(value: u64, data: &mut [u8]) {
    for (d, s) in data.iter_mut().zip(value.to_le_bytes()) {
        *d = s;
    }
}

/// The value of a little-endian byte buffer of up to 8 bytes (the
/// byte-buffer form of a trapped write).
#[inline]
pub fn from_bytes(data: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(data) {
        *d = *s;
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Masks;
    use tock_registers::RegisterLongName;

    #[derive(Clone, Copy, Debug)]
    struct Ctrl;
    impl RegisterLongName for Ctrl {}
    impl Layout for Ctrl {
        type Word = u32;
        const NAME: &'static str = "CTRL";
        // EN rw, GO sc, KEY wo, RSVD res0, NI raz_wi, ONE res1.
        const MASKS: Masks = Masks::NONE
            .rw(0x1)
            .sc(0x2)
            .wo(0xff00)
            .res0(0xff_0000)
            .raz_wi(0x0f00_0000)
            .res1(0x8000_0000);
        const FIELDS: crate::Fields = &[];
    }

    #[derive(Clone, Copy, Debug)]
    struct Evt;
    impl RegisterLongName for Evt {}
    impl Layout for Evt {
        type Word = u64;
        const NAME: &'static str = "EVT";
        const MASKS: Masks = Masks::NONE
            .rc(0xf_0000_000f)
            .w1c(0xff00_0000_0000)
            .rw(0xff_ff00)
            .w1s(0xf000_0000_0000_0000);
        const FIELDS: crate::Fields = &[];
    }

    #[test]
    fn write_semantics_per_kind() {
        let mut s = Slot::<Ctrl>::new(0);
        let (old, new) = s.write_seen(Lane::Low, u64::MAX);
        assert_eq!((old.get(), new.get()), (0, 0xff03), "rw + sc + wo stored");
        s.settle();
        assert_eq!(s.get(), 0xff01, "sc drops after the hook");
        assert_eq!(s.read(Lane::Low), 0x8000_0001, "wo reads zero, res1 one");
    }

    #[test]
    fn sixty_four_bit_lanes() {
        let mut s = Slot::<Evt>::new(0x0000_ff0f_0000_0f05);
        assert_eq!(s.read(Lane::High), 0xff0f);
        assert_eq!(
            s.get(),
            0x0000_ff00_0000_0f05,
            "only the high rc bits cleared"
        );
        s.write(Lane::High, 0x0f00);
        assert_eq!(s.get(), 0x0000_f000_0000_0f05, "w1c in the high half");
        s.write(Lane::Low, 0x1234_5678);
        assert_eq!(s.get(), 0x0000_f000_0034_5605, "rw bits of the low half");
        s.write(Lane::Wide, 0xf000_0000_0000_0000);
        assert_eq!(s.get() >> 60, 0xf, "w1s through a wide write");
    }

    #[test]
    fn a_read_only_register_turns_rw_fields_read_only() {
        let mut s = Slot::<Ctrl, crate::ReadOnly>::new(0x1);
        s.write(Lane::Low, 0);
        assert_eq!(s.get(), 0x1, "EN is read-only here");
        assert_eq!(s.read(Lane::Low), 0x8000_0001);
    }

    #[test]
    fn cells_check_every_index() {
        let mut a = [[Slot::<Ctrl>::new(1); 3]; 2];
        assert_eq!(a.stored(&[1, 2]), Ok(1));
        assert_eq!(a.stored(&[2, 0]), Err(AccessError::BadIndex));
        assert_eq!(a.stored(&[0]), Err(AccessError::BadIndex));
        assert_eq!(a.stored(&[0, 0, 0]), Err(AccessError::BadIndex));
        a.store(&[1, 1], 0x1_0000_0007).unwrap();
        assert_eq!(a.value_at(&[1, 1]), Some(7), "truncated to the width");
        let mut s = Slot::<Ctrl>::new(0);
        assert_eq!(s.stored(&[]), Ok(0));
        assert!(s.at(&[0]).is_err());
    }

    #[test]
    fn remap_checks_the_target() {
        assert_eq!(remap(Some([5]), [1, 2, 3], 2, [8, 4]), Ok([5, 3]));
        assert_eq!(
            remap(None::<[u32; 1]>, [1, 2], 2, [8]),
            Err(AccessError::AliasUnmapped)
        );
        assert_eq!(remap(Some([8]), [0, 0], 2, [8]), Err(AccessError::BadIndex));
        assert_eq!(
            remap(Some([1]), [0, 9], 1, [8, 4]),
            Err(AccessError::BadIndex)
        );
    }

    #[test]
    fn decode_helpers() {
        assert_eq!(check(0x10, 8), Ok(true));
        assert_eq!(check(0x14, 8), Err(AccessError::Unaligned));
        assert_eq!(check(0x10, 3), Err(AccessError::BadSize));
        assert_eq!(word(1, true), Err(AccessError::Straddle));
        assert_eq!(low(1, true), Ok((1, Lane::Wide)));
        assert_eq!(split(0x1234, 0x100), (0x12, 0x34));
        let mut b = [0u8; 4];
        to_bytes(0x1122_3344_5566, &mut b);
        assert_eq!(b, [0x66, 0x55, 0x44, 0x33]);
        assert_eq!(from_bytes(&[1, 2]), 0x201);
    }
}
