//! What the generated code says about a register's fields: its [`Layout`]
//! (width, field table, access masks), the [`Masks`] of the map's access
//! kinds, and [`Value`], a register value whose fields are read by name.

use core::marker::PhantomData;

use tock_registers::fields::{Field, FieldValue, TryFromValue};
use tock_registers::RegisterLongName;

use crate::{AccessKind, Word};

/// Spelling of the access kinds, in the order of [`Masks::by_kind`].
pub const ACCESS_KINDS: [&str; 10] = [
    "rw", "ro", "wo", "w1c", "w1s", "rc", "sc", "res0", "res1", "raz_wi",
];

/// The bits of one register layout by the map's access kind (FORMAT.md).
/// Bits no field covers are reserved: they read as zero and ignore writes.
///
/// Built with one call per kind that has bits, so a register's masks read
/// like its map entry: `Masks::NONE.rw(0x5df)`, `Masks::NONE.ro(0x1).w1c(0x6)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Masks {
    /// Read/write.
    pub rw: u64,
    /// Read-only (the device sets them).
    pub ro: u64,
    /// Write-only (reads zero).
    pub wo: u64,
    /// Write one to clear.
    pub w1c: u64,
    /// Write one to set.
    pub w1s: u64,
    /// Cleared by a read.
    pub rc: u64,
    /// Self-clearing: a write stores them for the hook to see, then they drop.
    pub sc: u64,
    /// Reserved, zero.
    pub res0: u64,
    /// Reserved, one.
    pub res1: u64,
    /// Read as zero, writes ignored.
    pub raz_wi: u64,
}

impl Masks {
    /// No field at all.
    pub const NONE: Masks = Masks {
        rw: 0,
        ro: 0,
        wo: 0,
        w1c: 0,
        w1s: 0,
        rc: 0,
        sc: 0,
        res0: 0,
        res1: 0,
        raz_wi: 0,
    };

    /// These masks with `bits` read/write.
    pub const fn rw(self, bits: u64) -> Masks {
        Masks { rw: bits, ..self }
    }
    /// These masks with `bits` read-only.
    pub const fn ro(self, bits: u64) -> Masks {
        Masks { ro: bits, ..self }
    }
    /// These masks with `bits` write-only.
    pub const fn wo(self, bits: u64) -> Masks {
        Masks { wo: bits, ..self }
    }
    /// These masks with `bits` write-one-to-clear.
    pub const fn w1c(self, bits: u64) -> Masks {
        Masks { w1c: bits, ..self }
    }
    /// These masks with `bits` write-one-to-set.
    pub const fn w1s(self, bits: u64) -> Masks {
        Masks { w1s: bits, ..self }
    }
    /// These masks with `bits` clear-on-read.
    pub const fn rc(self, bits: u64) -> Masks {
        Masks { rc: bits, ..self }
    }
    /// These masks with `bits` self-clearing.
    pub const fn sc(self, bits: u64) -> Masks {
        Masks { sc: bits, ..self }
    }
    /// These masks with `bits` reserved zero.
    pub const fn res0(self, bits: u64) -> Masks {
        Masks { res0: bits, ..self }
    }
    /// These masks with `bits` reserved one.
    pub const fn res1(self, bits: u64) -> Masks {
        Masks { res1: bits, ..self }
    }
    /// These masks with `bits` read-as-zero, writes ignored.
    pub const fn raz_wi(self, bits: u64) -> Masks {
        Masks {
            raz_wi: bits,
            ..self
        }
    }

    /// These masks in a register of access `kind`: `rw` bits become `ro`
    /// (read-only register) or `wo` (write-only register).
    pub const fn with_access(self, kind: AccessKind) -> Masks {
        match kind {
            AccessKind::ReadWrite => self,
            AccessKind::ReadOnly => Masks {
                ro: self.ro | self.rw,
                rw: 0,
                ..self
            },
            AccessKind::WriteOnly => Masks {
                wo: self.wo | self.rw,
                rw: 0,
                ..self
            },
        }
    }

    /// Bits a guest read returns from storage.
    pub const fn readable(&self) -> u64 {
        self.rw | self.ro | self.w1c | self.w1s | self.rc
    }
    /// Bits a guest write stores as written.
    pub const fn stored(&self) -> u64 {
        self.rw | self.wo | self.sc
    }
    /// Bits a read-modify-write must write as zero: writing back what was
    /// read would acknowledge (w1c) or retrigger (sc) them.
    pub const fn keep_zero(&self) -> u64 {
        self.w1c | self.sc
    }
    /// Bits some field covers.
    pub const fn fields(&self) -> u64 {
        self.rw
            | self.ro
            | self.wo
            | self.w1c
            | self.w1s
            | self.rc
            | self.sc
            | self.res0
            | self.res1
            | self.raz_wi
    }
    /// Bits of a `bits`-wide register that no field covers.
    pub const fn reserved(&self, bits: u32) -> u64 {
        let width = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        width & !self.fields()
    }
    /// The masks in [`ACCESS_KINDS`] order.
    pub const fn by_kind(&self) -> [u64; 10] {
        [
            self.rw,
            self.ro,
            self.wo,
            self.w1c,
            self.w1s,
            self.rc,
            self.sc,
            self.res0,
            self.res1,
            self.raz_wi,
        ]
    }
}

/// Every field of a layout by name: `(name, shift, unshifted mask)`.
pub type Fields = &'static [(&'static str, u32, u64)];

/// A register field layout: the marker type the generator emits per layout
/// (`CR0::Register`), naming the register's fields in tock-registers types
/// and carrying what the runtime needs to apply the access semantics.
pub trait Layout: RegisterLongName + Copy + 'static {
    /// The register width.
    type Word: Word;
    /// The layout's name, for `Debug`.
    const NAME: &'static str;
    /// The fields' bits by access kind.
    const MASKS: Masks;
    /// Every field by name.
    const FIELDS: Fields;
}

/// A value of a register with layout `L`: fields are read by name
/// (`new.is_set(CR0::SMMUEN)`, `value.read(CMDQ_BASE::LOG2SIZE)`), and
/// `Debug` (and `defmt::Format` with the `defmt` feature) show every field.
pub struct Value<L: Layout> {
    raw: L::Word,
    _layout: PhantomData<L>,
}

impl<L: Layout> Value<L> {
    /// The value `raw`.
    #[inline(always)]
    pub const fn new(raw: L::Word) -> Self {
        Value {
            raw,
            _layout: PhantomData,
        }
    }
    /// The raw value.
    #[inline(always)]
    pub fn get(self) -> L::Word {
        self.raw
    }
    /// One field's value.
    #[inline(always)]
    pub fn read(self, field: Field<L::Word, L>) -> L::Word {
        field.read(self.raw)
    }
    /// Whether any bit of the field is set.
    #[inline(always)]
    pub fn is_set(self, field: Field<L::Word, L>) -> bool {
        field.is_set(self.raw)
    }
    /// One field as its enum (`None` for a value the map does not name).
    #[inline(always)]
    pub fn read_as_enum<E: TryFromValue<L::Word, EnumType = E>>(
        self,
        field: Field<L::Word, L>,
    ) -> Option<E> {
        field.read_as_enum(self.raw)
    }
    /// Whether every field of `value` matches.
    #[inline(always)]
    pub fn matches_all(self, value: FieldValue<L::Word, L>) -> bool {
        value.matches_all(self.raw)
    }
    /// This value with the fields of `value` replaced.
    #[inline(always)]
    #[must_use]
    pub fn with(self, value: FieldValue<L::Word, L>) -> Self {
        Self::new(value.modify(self.raw))
    }
}

impl<L: Layout> Clone for Value<L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: Layout> Copy for Value<L> {}
impl<L: Layout> PartialEq for Value<L> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl<L: Layout> Eq for Value<L> {}
impl<L: Layout> core::hash::Hash for Value<L> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}
impl<L: Layout> Default for Value<L> {
    fn default() -> Self {
        Self::new(L::Word::default())
    }
}

impl<L: Layout> core::fmt::Debug for Value<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        crate::fmt::debug_register(f, L::NAME, self.raw.to_u64(), L::FIELDS)
    }
}

#[cfg(feature = "defmt")]
impl<L: Layout> defmt::Format for Value<L> {
    fn format(&self, f: defmt::Formatter<'_>) {
        crate::fmt::defmt_register(f, L::NAME, self.raw.to_u64(), L::FIELDS)
    }
}
