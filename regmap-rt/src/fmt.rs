//! `Debug` (and `defmt::Format`) bodies shared by every generated register
//! value and structure: one table per type instead of per-field code keeps
//! the generated crates small.

use crate::{Fields, StructField};

/// Writes `name { FIELD: 0x.., ... }` for a structure made of `words`, one
/// entry per named field.
pub fn debug_fields(
    f: &mut core::fmt::Formatter<'_>,
    name: &str,
    words: &[u64],
    fields: &[(&str, StructField)],
) -> core::fmt::Result {
    let mut d = f.debug_struct(name);
    for (n, fld) in fields {
        d.field(n, &format_args!("{:#x}", fld.extract(words)));
    }
    d.finish()
}

/// Writes `name { FIELD: 0x.., ... }` for a register value.
pub fn debug_register(
    f: &mut core::fmt::Formatter<'_>,
    name: &str,
    value: u64,
    fields: Fields,
) -> core::fmt::Result {
    let mut d = f.debug_struct(name);
    for &(n, shift, mask) in fields {
        d.field(n, &format_args!("{:#x}", field_bits(value, shift, mask)));
    }
    d.finish()
}

/// `(value >> shift) & mask`, zero for a shift past the word.
fn field_bits(value: u64, shift: u32, mask: u64) -> u64 {
    value.checked_shr(shift).unwrap_or(0) & mask
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
        defmt::write!(f, " {=str}: {=u64:#x}", n, fld.extract(words));
    }
    defmt::write!(f, " }}");
}

/// The `defmt` counterpart of [`debug_register`].
#[cfg(feature = "defmt")]
pub fn defmt_register(f: defmt::Formatter<'_>, name: &str, value: u64, fields: Fields) {
    defmt::write!(f, "{=str} {{", name);
    for &(n, shift, mask) in fields {
        defmt::write!(f, " {=str}: {=u64:#x}", n, field_bits(value, shift, mask));
    }
    defmt::write!(f, " }}");
}
