//! Typed handles over an MMIO backend: [`Reg`] (one register: its layout
//! and access) and [`Window`] (a block element's base, from which the
//! generated handles reach their registers and nested blocks).

use core::marker::PhantomData;

use tock_registers::fields::{Field, FieldValue, TryFromValue};
use tock_registers::LocalRegisterCopy;

use crate::{Layout, Mmio, Value, Word};

/// Access marker: readable and writable.
#[derive(Debug, Clone, Copy)]
pub enum ReadWrite {}
/// Access marker: read-only (no write methods).
#[derive(Debug, Clone, Copy)]
pub enum ReadOnly {}
/// Access marker: write-only (no read methods).
#[derive(Debug, Clone, Copy)]
pub enum WriteOnly {}
/// Access marker: readable and writable, with clear-on-read (`rc`) fields:
/// every read changes the register, so reads take `&mut self`.
#[derive(Debug, Clone, Copy)]
pub enum ReadWriteRc {}
/// Access marker: read-only, with clear-on-read (`rc`) fields: every read
/// changes the register, so reads take `&mut self`.
#[derive(Debug, Clone, Copy)]
pub enum ReadOnlyRc {}

/// What a register-level access does to a layout shared through a
/// fieldset: its `rw` fields become `ro` in a read-only register and `wo`
/// in a write-only one (FORMAT.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Read/write: the layout's masks as they are.
    ReadWrite,
    /// Read-only.
    ReadOnly,
    /// Write-only.
    WriteOnly,
}

/// The access markers, naming their [`AccessKind`].
pub trait Access: 'static {
    /// The register-level access.
    const KIND: AccessKind;
}
impl Access for ReadWrite {
    const KIND: AccessKind = AccessKind::ReadWrite;
}
impl Access for ReadOnly {
    const KIND: AccessKind = AccessKind::ReadOnly;
}
impl Access for WriteOnly {
    const KIND: AccessKind = AccessKind::WriteOnly;
}
impl Access for ReadWriteRc {
    const KIND: AccessKind = AccessKind::ReadWrite;
}
impl Access for ReadOnlyRc {
    const KIND: AccessKind = AccessKind::ReadOnly;
}

/// Access markers whose registers can be read without changing them
/// (through `&self`). The `rc` markers are not: their reads need `&mut`.
pub trait Readable {}
/// Access markers whose registers can be written.
pub trait Writable {}
impl Readable for ReadWrite {}
impl Readable for ReadOnly {}
impl Writable for ReadWrite {}
impl Writable for WriteOnly {}
impl Writable for ReadWriteRc {}

/// A typed handle on one register: field layout `L` (the generated marker
/// type, which also names the width) and access `A`. It holds the backend
/// and the register's byte offset, never a reference to device memory.
pub struct Reg<'a, M: Mmio + ?Sized, L: Layout, A> {
    mmio: &'a M,
    offset: usize,
    _layout: PhantomData<(L, A)>,
}

/// A read/write register handle.
pub type Rw<'a, M, L> = Reg<'a, M, L, ReadWrite>;
/// A read-only register handle.
pub type Ro<'a, M, L> = Reg<'a, M, L, ReadOnly>;
/// A write-only register handle.
pub type Wo<'a, M, L> = Reg<'a, M, L, WriteOnly>;
/// A read/write register handle whose reads clear its `rc` fields.
pub type RwRc<'a, M, L> = Reg<'a, M, L, ReadWriteRc>;
/// A read-only register handle whose reads clear its `rc` fields.
pub type RoRc<'a, M, L> = Reg<'a, M, L, ReadOnlyRc>;

impl<'a, M: Mmio + ?Sized, L: Layout, A> Reg<'a, M, L, A> {
    /// A handle on the register at `offset` of `mmio`.
    #[inline(always)]
    pub fn new(mmio: &'a M, offset: usize) -> Self {
        Reg {
            mmio,
            offset,
            _layout: PhantomData,
        }
    }

    /// The register's byte offset from the window base.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// The read methods of a register handle, with `self` taken as `$recv`:
/// `&Self` for registers whose reads change nothing, `&mut Self` for those
/// with clear-on-read fields (one method set, two receivers).
macro_rules! read_methods {
    ($recv:ty) => {
        /// Reads the raw value.
        #[inline(always)]
        pub fn get(self: $recv) -> L::Word {
            L::Word::load(self.mmio, self.offset)
        }
        /// Reads the register as a [`Value`] whose fields are read by name.
        #[inline(always)]
        pub fn value(self: $recv) -> Value<L> {
            Value::new(self.get())
        }
        /// Reads the register into a tock-registers local copy.
        #[inline(always)]
        pub fn extract(self: $recv) -> LocalRegisterCopy<L::Word, L> {
            LocalRegisterCopy::new(self.get())
        }
        /// Reads one field's value (the whole register is read).
        #[inline(always)]
        pub fn read(self: $recv, field: Field<L::Word, L>) -> L::Word {
            field.read(self.get())
        }
        /// Reads one field as its enum (`None` for a value the map does not name).
        #[inline(always)]
        pub fn read_as_enum<E: TryFromValue<L::Word, EnumType = E>>(
            self: $recv,
            field: Field<L::Word, L>,
        ) -> Option<E> {
            field.read_as_enum(self.get())
        }
        /// Whether any bit of the field is set.
        #[inline(always)]
        pub fn is_set(self: $recv, field: Field<L::Word, L>) -> bool {
            field.is_set(self.get())
        }
        /// Whether every field of `value` matches.
        #[inline(always)]
        pub fn matches_all(self: $recv, value: FieldValue<L::Word, L>) -> bool {
            value.matches_all(self.get())
        }
    };
}

#[allow(clippy::needless_arbitrary_self_type)]
impl<M: Mmio + ?Sized, L: Layout, A: Readable> Reg<'_, M, L, A> {
    read_methods!(&Self);
}

/// Registers with clear-on-read fields: a read changes the register (its
/// `rc` bits drop), so it takes the handle by `&mut`, and a handle lent out
/// by shared reference (to a logger, a `Debug` impl) cannot clear them.
/// Every method reads the whole register and so clears every `rc` field:
/// read once with `value()` and take the fields from the [`Value`].
#[allow(clippy::needless_arbitrary_self_type)]
impl<M: Mmio + ?Sized, L: Layout> Reg<'_, M, L, ReadOnlyRc> {
    read_methods!(&mut Self);
}

/// As for [`ReadOnlyRc`] handles: reads take `&mut self`.
#[allow(clippy::needless_arbitrary_self_type)]
impl<M: Mmio + ?Sized, L: Layout> Reg<'_, M, L, ReadWriteRc> {
    read_methods!(&mut Self);

    /// Read-modify-write of the given fields, as `modify` of a plain
    /// read/write register does it; the read clears the `rc` fields.
    #[inline(always)]
    pub fn modify(&mut self, value: FieldValue<L::Word, L>) {
        let old = self.get();
        self.set(merge::<L>(old, value));
    }
}

/// What a read-modify-write of `value` writes over `old`: the fields of
/// `value`, other bits as read except write-1-to-clear and self-clearing
/// ones, which are written as zero.
#[inline(always)]
fn merge<L: Layout>(old: L::Word, value: FieldValue<L::Word, L>) -> L::Word {
    let keep_zero = L::Word::from_u64(L::MASKS.keep_zero());
    (old & !keep_zero & !value.mask()) | value.value
}

impl<M: Mmio + ?Sized, L: Layout, A: Writable> Reg<'_, M, L, A> {
    /// Writes a raw value. For registers with write-1-to-clear fields this is
    /// the way to clear them on purpose.
    #[inline(always)]
    pub fn set(&self, value: L::Word) {
        L::Word::store(self.mmio, self.offset, value)
    }
    /// Writes the given fields; every other bit is written as zero.
    #[inline(always)]
    pub fn write(&self, value: FieldValue<L::Word, L>) {
        self.set(value.value)
    }
}

impl<M: Mmio + ?Sized, L: Layout> Reg<'_, M, L, ReadWrite> {
    /// Read-modify-write of the given fields. Write-1-to-clear and
    /// self-clearing bits are written as zero, so a modify of one field never
    /// acknowledges an error or retriggers an action by accident.
    #[inline(always)]
    pub fn modify(&self, value: FieldValue<L::Word, L>) {
        self.set(merge::<L>(self.get(), value));
    }
}

impl<M: Mmio + ?Sized, L: Layout, A> core::fmt::Debug for Reg<'_, M, L, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Reading has side effects on some registers (clear-on-read), so
        // Debug shows where the register is, not its value.
        write!(f, "{}@{:#x}", L::NAME, self.offset)
    }
}

/// The base of one block element (or of the whole device) in an MMIO
/// backend: the generated handles wrap one and reach their registers and
/// nested blocks at offsets relative to it.
pub struct Window<'a, M: Mmio + ?Sized> {
    mmio: &'a M,
    base: usize,
}

impl<M: Mmio + ?Sized> Clone for Window<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M: Mmio + ?Sized> Copy for Window<'_, M> {}

/// The byte offset of element `index` of an array of `count` elements
/// `stride` apart, or `None` when `index` is out of range.
#[inline(always)]
fn element(index: usize, count: usize, stride: usize) -> Option<usize> {
    if index < count {
        index.checked_mul(stride)
    } else {
        None
    }
}

impl<'a, M: Mmio + ?Sized> Window<'a, M> {
    /// The window at `base` of `mmio`.
    #[inline(always)]
    pub const fn new(mmio: &'a M, base: usize) -> Self {
        Window { mmio, base }
    }
    /// The byte offset of this window from the device base.
    pub fn base(&self) -> usize {
        self.base
    }
    /// The backend.
    pub fn mmio(&self) -> &'a M {
        self.mmio
    }
    /// The register at `offset` in this window.
    #[inline(always)]
    pub fn reg<L: Layout, A>(self, offset: usize) -> Reg<'a, M, L, A> {
        // Wrapping: a hand-made window or offset past `usize::MAX` gives an
        // offset the backend refuses, never a panic.
        Reg::new(self.mmio, self.base.wrapping_add(offset))
    }
    /// Element `index` of the register array at `offset` (`count` elements
    /// `stride` bytes apart), or `None` when `index` is out of range.
    #[inline(always)]
    pub fn reg_at<L: Layout, A>(
        self,
        offset: usize,
        index: usize,
        count: usize,
        stride: usize,
    ) -> Option<Reg<'a, M, L, A>> {
        Some(self.reg(offset.wrapping_add(element(index, count, stride)?)))
    }
    /// The nested block at `offset` in this window.
    #[inline(always)]
    pub fn block(self, offset: usize) -> Self {
        Window::new(self.mmio, self.base.wrapping_add(offset))
    }
    /// Element `index` of the block array at `offset`, or `None` when
    /// `index` is out of range.
    #[inline(always)]
    pub fn block_at(
        self,
        offset: usize,
        index: usize,
        count: usize,
        stride: usize,
    ) -> Option<Self> {
        Some(self.block(offset.wrapping_add(element(index, count, stride)?)))
    }
}

impl<M: Mmio + ?Sized> core::fmt::Debug for Window<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Window@{:#x}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FakeMmio, Masks};
    use tock_registers::RegisterLongName;

    #[derive(Clone, Copy, Debug)]
    struct Layout1;
    impl RegisterLongName for Layout1 {}
    impl Layout for Layout1 {
        type Word = u32;
        const NAME: &'static str = "L";
        const MASKS: Masks = Masks::NONE.rw(0x1).w1c(0x10);
        const FIELDS: crate::Fields = &[("EN", 0, 1), ("ERR", 4, 1)];
    }
    const EN: Field<u32, Layout1> = Field::<u32, Layout1>::new(1, 0);
    const ERR: Field<u32, Layout1> = Field::<u32, Layout1>::new(1, 4);

    #[test]
    fn modify_never_writes_back_w1c_bits() {
        let m = FakeMmio::<4>::new();
        m.write32(4, 0x10); // ERR (w1c) pending
        let r: Rw<'_, _, Layout1> = Window::new(&m, 0).reg(4);
        r.modify(FieldValue::<u32, Layout1>::new(1, 0, 1));
        assert_eq!(
            m.read32(4),
            0x1,
            "the pending w1c bit must not be acknowledged by a modify"
        );
        assert_eq!(r.read(EN), 1);
        assert!(!r.is_set(ERR));
        r.set(0x10); // an explicit write clears on purpose
        assert_eq!(m.read32(4), 0x10);
        assert_eq!(std::format!("{:?}", r.value()), "L { EN: 0x0, ERR: 0x1 }");
    }

    /// LATCH (bit 0) clears on read, EN (bit 4) is read/write.
    #[derive(Clone, Copy, Debug)]
    struct Latch;
    impl RegisterLongName for Latch {}
    impl Layout for Latch {
        type Word = u32;
        const NAME: &'static str = "LATCH";
        const MASKS: Masks = Masks::NONE.rc(0x1).rw(0x10);
        const FIELDS: crate::Fields = &[("LATCH", 0, 1), ("EN", 4, 1)];
    }

    /// A one-register device with the access semantics of `Latch` (the
    /// runtime's register-file slot behind an MMIO backend).
    struct Device(core::cell::RefCell<crate::regfile::Slot<Latch>>);
    impl Mmio for Device {
        fn read32(&self, _: usize) -> u32 {
            self.0.borrow_mut().read(crate::regfile::Lane::Low) as u32
        }
        fn read64(&self, _: usize) -> u64 {
            0
        }
        fn write32(&self, _: usize, value: u32) {
            self.0
                .borrow_mut()
                .write(crate::regfile::Lane::Low, u64::from(value));
        }
        fn write64(&self, _: usize, _: u64) {}
    }

    #[test]
    fn clear_on_read_registers_read_through_mut_handles() {
        let dev = Device(core::cell::RefCell::new(crate::regfile::Slot::new(0x1)));
        let mut r: RwRc<'_, _, Latch> = Window::new(&dev, 0).reg(0);
        let v = r.value();
        assert_eq!(v.get(), 0x1, "the latched bit, once");
        assert_eq!(r.get(), 0, "the read cleared it");
        dev.0.borrow_mut().set(0x1);
        let en = Field::<u32, Latch>::new(1, 4);
        r.modify(FieldValue::<u32, Latch>::new(1, 4, 1));
        assert_eq!(dev.0.borrow().get(), 0x10, "modify's read cleared LATCH");
        assert!(r.is_set(en));
        let mut ro: RoRc<'_, _, Latch> = Window::new(&dev, 0).reg(0);
        assert_eq!(ro.read(en), 1);
    }

    #[test]
    fn hand_made_offsets_wrap_instead_of_panicking() {
        let m = FakeMmio::<4>::new();
        let w = Window::new(&m, usize::MAX);
        let r: Rw<'_, _, Layout1> = w.reg(2);
        assert_eq!(r.offset(), 1);
        r.set(5); // unaligned for the fake: dropped
        assert_eq!(r.get(), 0);
        assert_eq!(w.block(usize::MAX).base(), usize::MAX - 1);
        assert!(w.reg_at::<Layout1, ReadOnly>(usize::MAX, 1, 2, 8).is_some());
        assert!(w.block_at(usize::MAX, 1, 2, usize::MAX).is_some());
    }

    #[test]
    fn arrays_are_bounds_checked() {
        let m = FakeMmio::<4>::new();
        let w = Window::new(&m, 0x100);
        let r: Option<Ro<'_, _, Layout1>> = w.reg_at(0x8, 3, 4, 0x4);
        assert_eq!(r.map(|r| r.offset()), Some(0x114));
        assert!(w.reg_at::<Layout1, ReadOnly>(0x8, 4, 4, 0x4).is_none());
        assert_eq!(w.block_at(0x40, 1, 2, 0x20).map(|b| b.base()), Some(0x160));
        assert!(w.block_at(0x40, usize::MAX, usize::MAX, 2).is_none());
    }
}
