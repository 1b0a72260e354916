//! Register facts typed from the public sources, independent of the maps and
//! of the generator: the CSV tables in `tests/dispatch/facts/` (see the
//! README there), parsed and checked by this crate's build script into the
//! constants below. The reference model takes its register layout from them,
//! and `tests/facts.rs` checks the generated crates and register files
//! against them.

/// An access kind, in FORMAT.md order (the order of the generated
/// `ACCESS_KINDS` and of the model's mask arrays).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read-write.
    Rw,
    /// Read-only (device-set).
    Ro,
    /// Write-only (reads zero).
    Wo,
    /// Write 1 to clear.
    W1c,
    /// Write 1 to set.
    W1s,
    /// Clear on read.
    Rc,
    /// Self-clearing: reads zero, a written 1 is seen by the hook then drops.
    Sc,
    /// Reserved, zero.
    Res0,
    /// Reserved, one.
    Res1,
    /// Not implemented: reads zero, writes ignored.
    RazWi,
}

impl Access {
    /// Every kind, in FORMAT.md order.
    pub const ALL: [Access; 10] = [
        Access::Rw,
        Access::Ro,
        Access::Wo,
        Access::W1c,
        Access::W1s,
        Access::Rc,
        Access::Sc,
        Access::Res0,
        Access::Res1,
        Access::RazWi,
    ];

    /// Position in [`Access::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in the tables and in FORMAT.md.
    pub fn name(self) -> &'static str {
        match self {
            Access::Rw => "rw",
            Access::Ro => "ro",
            Access::Wo => "wo",
            Access::W1c => "w1c",
            Access::W1s => "w1s",
            Access::Rc => "rc",
            Access::Sc => "sc",
            Access::Res0 => "res0",
            Access::Res1 => "res1",
            Access::RazWi => "raz_wi",
        }
    }
}

/// One field of a register row.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// Name.
    pub name: &'static str,
    /// Lowest bit.
    pub lsb: u32,
    /// Width in bits.
    pub width: u32,
    /// Access kind.
    pub access: Access,
    /// Line of the row in the fields CSV.
    pub line: u32,
    /// Where the fact comes from.
    pub source: &'static str,
}

impl Field {
    /// The field's bits in place.
    pub fn mask(&self) -> u64 {
        let value = if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        };
        value << self.lsb
    }
}

/// What an alias row mirrors.
#[derive(Clone, Copy, Debug)]
pub struct Alias {
    /// Path of the target register (no array counts).
    pub target: &'static str,
    /// Whether an index map (a hook) chooses the target element; otherwise
    /// element `i` of the alias is element `i` of the target.
    pub mapped: bool,
}

/// One register row.
#[derive(Clone, Copy, Debug)]
pub struct Register {
    /// Path without array counts (`VINTF.SID_MATCH`), as the maps name it.
    pub path: &'static str,
    /// `(count, stride)` of every array level enclosing the register,
    /// outermost first (the register's own last).
    pub dims: &'static [(u32, u64)],
    /// Offset of element 0 from the device base.
    pub offset: u64,
    /// Width in bits.
    pub width: u32,
    /// Reset value of the storage (an alias: its target's).
    pub reset: u64,
    /// Register-level access (`Rw`, `Ro` or `Wo`): the accessor's type.
    pub access: Access,
    /// Set for an alias row.
    pub alias: Option<Alias>,
    /// Fields (an alias: its target's), sorted by `lsb`.
    pub fields: &'static [Field],
    /// Line of the row in the registers CSV.
    pub line: u32,
    /// Where the facts come from.
    pub source: &'static str,
}

impl Register {
    /// Bits per access kind, in [`Access::ALL`] order.
    pub fn masks(&self) -> [u64; 10] {
        let mut m = [0; 10];
        for f in self.fields {
            m[f.access.index()] |= f.mask();
        }
        m
    }

    /// Bits no field covers (reserved).
    pub fn reserved(&self) -> u64 {
        let width = if self.width == 64 {
            u64::MAX
        } else {
            0xffff_ffff
        };
        width & !self.fields.iter().fold(0, |m, f| m | f.mask())
    }

    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.dims.iter().map(|&(c, _)| c as usize).product()
    }

    /// Offset of element `flat` (row-major over [`Register::dims`]).
    pub fn element_offset(&self, mut flat: usize) -> u64 {
        let mut off = self.offset;
        for &(count, stride) in self.dims.iter().rev() {
            off += (flat % count as usize) as u64 * stride;
            flat /= count as usize;
        }
        off
    }

    /// Path of the register whose storage this row reads and writes.
    pub fn owner(&self) -> &'static str {
        self.alias.map_or(self.path, |a| a.target)
    }
}

/// The register rows of one device.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// Device (map) name.
    pub device: &'static str,
    /// The registers CSV, relative to `tests/dispatch`.
    pub file: &'static str,
    /// Rows in file order.
    pub registers: &'static [Register],
}

impl Table {
    /// The row of `path` (no array counts).
    pub fn register(&self, path: &str) -> Option<&'static Register> {
        self.registers.iter().find(|r| r.path == path)
    }
}

/// SMMUv3 (`facts/smmuv3.*.csv`).
pub static SMMUV3: Table = include!(concat!(env!("OUT_DIR"), "/facts_smmuv3.rs"));
/// Tegra241 CMDQV (`facts/cmdqv.*.csv`).
pub static CMDQV: Table = include!(concat!(env!("OUT_DIR"), "/facts_cmdqv.rs"));
/// FORMAT.md's example map (`facts/example.*.csv`).
pub static EXAMPLE: Table = include!(concat!(env!("OUT_DIR"), "/facts_example.rs"));
/// The dispatcher-coverage map (`facts/features.*.csv`).
pub static FEATURES: Table = include!(concat!(env!("OUT_DIR"), "/facts_features.rs"));
