//! In-memory structures (STE, CD, commands, events) as arrays of 64-bit
//! words: field constants ([`StructField`], [`EnumField`]), enum
//! conversions ([`FieldEnum`]) and field access ([`Words`]), plus the two
//! macros the generated code uses to implement them.

use core::marker::PhantomData;

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

    /// The field's value in `words`; 0 for a word or shift outside them.
    #[inline]
    pub fn extract(&self, words: &[u64]) -> u64 {
        words
            .get(self.word)
            .map_or(0, |w| w.checked_shr(self.shift).unwrap_or(0) & self.mask)
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
        f.into().extract(&self.words())
    }
    /// This structure with field `f` set to `value` (bits beyond the field's
    /// width are dropped).
    #[inline]
    #[must_use]
    fn with(self, f: impl Into<StructField>, value: u64) -> Self {
        let f = f.into();
        let mut w = self.words();
        if let (Some(word), Some(mask)) = (w.get_mut(f.word), f.mask.checked_shl(f.shift)) {
            *word = (*word & !mask) | ((value & f.mask) << f.shift);
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

/// Implements, for a generated structure `$ty(pub [u64; $n])` with a
/// `FIELDS` table: [`Words`], the constructor `new()` (the words `$fixed`:
/// the map's `fixed` values, such as a command's opcode, other fields zero),
/// `SIZE_BYTES`, `Default`, `Debug` and, with the calling crate's `defmt`
/// feature, `defmt::Format`; and `From` into each listed ancestor
/// structure of the same size.
#[macro_export]
macro_rules! impl_words {
    ($ty:ident, $n:literal, $fixed:expr $(, $ancestor:ident)*) => {
        impl $ty {
            /// Size in bytes.
            pub const SIZE_BYTES: usize = $n * 8;
            /// A structure with its fixed values set (an opcode), other fields zero.
            pub const fn new() -> Self {
                Self($fixed)
            }
        }
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

/// Implements, for a generated `#[repr(u64)]` enum of field values listed
/// with its variants: `value()`, `from_value()`, [`FieldEnum`] and
/// tock-registers' `TryFromValue` for both register widths.
#[macro_export]
macro_rules! impl_field_enum {
    ($ty:ident: $($variant:ident),+ $(,)?) => {
        impl $ty {
            /// The numeric value.
            pub const fn value(self) -> u64 {
                self as u64
            }
            /// The variant for `value`, if the map names it.
            pub const fn from_value(value: u64) -> Option<Self> {
                $(
                    if value == Self::$variant as u64 {
                        return Some(Self::$variant);
                    }
                )+
                None
            }
        }
        impl $crate::FieldEnum for $ty {
            fn to_value(self) -> u64 {
                self.value()
            }
            fn from_field_value(value: u64) -> Option<Self> {
                Self::from_value(value)
            }
        }
        impl $crate::tock_registers::fields::TryFromValue<u32> for $ty {
            type EnumType = $ty;
            fn try_from_value(v: u32) -> Option<$ty> {
                Self::from_value(u64::from(v))
            }
        }
        impl $crate::tock_registers::fields::TryFromValue<u64> for $ty {
            type EnumType = $ty;
            fn try_from_value(v: u64) -> Option<$ty> {
                Self::from_value(v)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // A field constant can never name a word past the structure or a
        // shift past the word, but a hand-made one must not panic.
        let bad = StructField::new(5, 0, 1);
        assert_eq!(t.with(bad, 1), t);
        assert_eq!(t.get(bad), 0);
        let far = StructField::new(0, 64, 1);
        assert_eq!(t.with(far, 1), t);
        assert_eq!(t.get(far), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: if cfg!(miri) { 16 } else { 2048 },
            failure_persistence: None,
            ..Default::default()
        })]

        /// Any field, hand-made ones included (a word past the structure, a
        /// shift of 64 or more, a mask wider than the bits left): `get` and
        /// `with` never panic, `with` touches only the field's bits of its
        /// word, and a field that fits reads back what was set.
        #[test]
        fn any_field_is_total(
            words in proptest::array::uniform2(proptest::prelude::any::<u64>()),
            word in 0usize..4,
            shift in proptest::prop_oneof![0u32..64, 60u32..70, proptest::prelude::any::<u32>()],
            mask in proptest::prelude::any::<u64>(),
            value in proptest::prelude::any::<u64>(),
        ) {
            let f = StructField::new(word, shift, mask);
            let t = Two(words);
            let _ = t.get(f);
            let u = t.with(f, value);
            let bits = mask.checked_shl(shift).unwrap_or(0);
            for i in 0..2 {
                let changed = u.0[i] ^ t.0[i];
                let allowed = if i == word { bits } else { 0 };
                proptest::prop_assert_eq!(changed & !allowed, 0, "word {}", i);
            }
            if word < 2 && shift < 64 {
                // The bits of the mask that survive the shift.
                let fits = mask & (u64::MAX >> shift);
                proptest::prop_assert_eq!(u.get(f) & fits, value & fits);
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u64)]
    enum Mode {
        Off = 0,
        Auto = 3,
    }
    crate::impl_field_enum! { Mode: Off, Auto }

    #[test]
    fn field_enums_convert_both_ways() {
        assert_eq!(Mode::from_value(3), Some(Mode::Auto));
        assert_eq!(Mode::from_value(1), None);
        assert_eq!(Mode::Off.value(), 0);
        use tock_registers::fields::TryFromValue;
        assert_eq!(
            <Mode as TryFromValue<u32>>::try_from_value(0),
            Some(Mode::Off)
        );
    }
}
