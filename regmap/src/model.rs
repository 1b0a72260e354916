//! The elaborated model: what a map means once it has been loaded and
//! validated. Fieldsets and `extends` are resolved, array dimensions and
//! absolute offsets are computed, aliases point at their targets. Consumers
//! (`codegen`, the CLI) read only this, never the raw YAML.

use crate::diag::Span;

/// A validated device map.
#[derive(Clone, Debug)]
pub struct Device {
    /// Device identifier (`smmuv3`, `cmdqv`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Address windows the device occupies, in map order.
    pub windows: Vec<Window>,
    /// Declared hooks, in map order.
    pub hooks: Vec<Hook>,
    /// Every enum: shared ones in map order, then inline field enums.
    pub enums: Vec<Enum>,
    /// Shared fieldsets, in map order.
    pub fieldsets: Vec<Fieldset>,
    /// Every register, flattened depth-first in map order (blocks expanded
    /// into their registers; alias blocks expanded into one alias register
    /// per mirrored register).
    pub registers: Vec<Register>,
    /// The block tree (top-level blocks), for code that mirrors nesting.
    pub blocks: Vec<Block>,
    /// In-memory structures with `extends` resolved.
    pub structs: Vec<Struct>,
}

/// An address window (page) of the device.
#[derive(Clone, Debug)]
pub struct Window {
    /// Window name (`page0`).
    pub name: String,
    /// Byte offset from the device base.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Free-text description.
    pub description: String,
}

/// A named side effect registers refer to.
#[derive(Clone, Debug)]
pub struct Hook {
    /// Hook name (`cr0_write`).
    pub name: String,
    /// Free-text description.
    pub description: String,
}

/// A named enumeration of field values.
#[derive(Clone, Debug)]
pub struct Enum {
    /// Enum name (`Ttf`; inline enums are named `REGISTER_FIELD`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Declared width in bits for standalone enums, if given.
    pub bits: Option<u32>,
    /// The values, in map order.
    pub values: Vec<EnumValue>,
    /// True when the enum was declared inline in a field (`values:`).
    pub inline: bool,
}

/// One named value of an enum.
#[derive(Clone, Debug)]
pub struct EnumValue {
    /// Value name (`AARCH64`).
    pub name: String,
    /// Numeric value.
    pub value: u64,
    /// Free-text description.
    pub description: String,
}

/// A shared field layout.
#[derive(Clone, Debug)]
pub struct Fieldset {
    /// Fieldset name (`QueueBase`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Register width the layout is for.
    pub width: Width,
    /// The fields, in map order.
    pub fields: Vec<Field>,
}

/// Register width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit register.
    W32,
    /// 64-bit register.
    W64,
}

impl Width {
    /// Width in bits.
    pub fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
    /// Width in bytes.
    pub fn bytes(self) -> u64 {
        u64::from(self.bits() / 8)
    }
    /// All-ones mask of the width.
    pub fn mask(self) -> u64 {
        match self {
            Width::W32 => 0xffff_ffff,
            Width::W64 => u64::MAX,
        }
    }
}

/// Register-level access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegAccess {
    /// Readable and writable.
    Rw,
    /// Read-only.
    Ro,
    /// Write-only.
    Wo,
}

impl RegAccess {
    /// The map spelling (`rw`, `ro`, `wo`).
    pub fn as_str(self) -> &'static str {
        match self {
            RegAccess::Rw => "rw",
            RegAccess::Ro => "ro",
            RegAccess::Wo => "wo",
        }
    }
}

/// Field access kind; see FORMAT.md for the exact semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read/write.
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
    /// Self-clearing (reads zero; the write is seen by the hook).
    Sc,
    /// Reserved, zero.
    Res0,
    /// Reserved, one.
    Res1,
    /// Read as zero, writes ignored.
    RazWi,
}

impl Access {
    /// Every access kind, in a fixed order (used for per-kind masks).
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

    /// The map spelling (`rw`, `w1c`, `raz_wi`, ...).
    pub fn as_str(self) -> &'static str {
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

    /// Parses the map spelling.
    pub fn parse(s: &str) -> Option<Access> {
        Access::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether software can change the field by writing the register.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            Access::Rw | Access::Wo | Access::W1c | Access::W1s | Access::Sc
        )
    }

    /// Whether a read returns the stored value (as opposed to a constant).
    pub fn is_readable(self) -> bool {
        matches!(
            self,
            Access::Rw | Access::Ro | Access::W1c | Access::W1s | Access::Rc
        )
    }
}

/// A bit field of a register or a fieldset.
#[derive(Clone, Debug)]
pub struct Field {
    /// Field name (`SMMUEN`).
    pub name: String,
    /// Lowest bit.
    pub lsb: u32,
    /// Highest bit (inclusive).
    pub msb: u32,
    /// Access kind.
    pub access: Access,
    /// Reset value of the field (already shifted down, i.e. a field value).
    pub reset: u64,
    /// Name of the enum (in [`Device::enums`]) naming this field's values.
    pub enum_name: Option<String>,
    /// Free-text description.
    pub description: String,
    /// Where the field is declared.
    pub span: Span,
}

impl Field {
    /// Width in bits.
    pub fn width(&self) -> u32 {
        self.msb - self.lsb + 1
    }
    /// Mask of the field's value before shifting (`(1 << width) - 1`).
    pub fn value_mask(&self) -> u64 {
        if self.width() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width()) - 1
        }
    }
    /// Mask of the field's bits in place.
    pub fn mask(&self) -> u64 {
        self.value_mask() << self.lsb
    }
}

/// One dimension of an array enclosing a register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayDim {
    /// Name of the block or register the dimension belongs to.
    pub name: String,
    /// Number of elements.
    pub count: u32,
    /// Distance between elements in bytes.
    pub stride: u64,
}

/// What a register mirrors.
#[derive(Clone, Debug)]
pub struct Alias {
    /// Index into [`Device::registers`] of the mirrored register.
    pub target: usize,
    /// Path of the mirrored register (`VCMDQ.PROD`).
    pub target_path: String,
    /// Hook mapping this register's indices to the target's, when dynamic.
    pub index_map: Option<String>,
}

/// A register, flattened: its absolute offset and enclosing arrays resolved.
#[derive(Clone, Debug)]
pub struct Register {
    /// The register's own name (`SID_MATCH`).
    pub name: String,
    /// Names of enclosing blocks, outermost first (`["VINTF"]`).
    pub blocks: Vec<String>,
    /// Byte offset from the device base of element 0.
    pub offset: u64,
    /// Enclosing arrays outermost first, the register's own last.
    pub arrays: Vec<ArrayDim>,
    /// Width.
    pub width: Width,
    /// Register-level access.
    pub access: RegAccess,
    /// Reset value.
    pub reset: u64,
    /// Free-text description.
    pub description: String,
    /// Fields, sorted by `lsb` (for an alias: the target's fields).
    pub fields: Vec<Field>,
    /// The shared fieldset these fields come from, if any.
    pub fieldset: Option<String>,
    /// Hook called after a write.
    pub on_write: Option<String>,
    /// Hook called before a read.
    pub on_read: Option<String>,
    /// Set when this register mirrors another one.
    pub alias: Option<Alias>,
    /// Where the register is declared.
    pub span: Span,
}

impl Register {
    /// Path of the register: block names and its name joined with `.`.
    pub fn path(&self) -> String {
        let mut p = self.blocks.join(".");
        if !p.is_empty() {
            p.push('.');
        }
        p.push_str(&self.name);
        p
    }

    /// Mask of the bits whose fields have `access`.
    pub fn mask_of(&self, access: Access) -> u64 {
        self.fields
            .iter()
            .filter(|f| f.access == access)
            .fold(0, |m, f| m | f.mask())
    }

    /// Mask of the bits no field covers (reserved, read as zero).
    pub fn unmapped_mask(&self) -> u64 {
        let covered = self.fields.iter().fold(0, |m, f| m | f.mask());
        !covered & self.width.mask()
    }

    /// Total number of elements (product of array counts), saturating at
    /// `u64::MAX` (the loader rejects any register over
    /// [`crate::elaborate::MAX_ELEMENTS`], but a model can be built by hand).
    pub fn element_count(&self) -> u64 {
        self.arrays
            .iter()
            .fold(1u64, |n, a| n.saturating_mul(u64::from(a.count)))
    }

    /// Absolute offset of the element at `indices` (one per array dimension),
    /// or `None` when the number of indices is wrong, one is out of range or
    /// the offset does not fit in 64 bits (never for a loaded map).
    pub fn element_offset(&self, indices: &[u32]) -> Option<u64> {
        if indices.len() != self.arrays.len() {
            return None;
        }
        let mut off = self.offset;
        for (i, dim) in indices.iter().zip(&self.arrays) {
            if *i >= dim.count {
                return None;
            }
            off = off.checked_add(u64::from(*i).checked_mul(dim.stride)?)?;
        }
        Some(off)
    }

    /// Looks a field up by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A block of the map's tree, as declared (offsets relative to the parent).
#[derive(Clone, Debug)]
pub struct Block {
    /// Block name (`VINTF`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Offset relative to the parent element's base.
    pub offset: u64,
    /// Number of elements (1 when not an array).
    pub count: u32,
    /// Distance between elements (0 when not an array).
    pub stride: u64,
    /// Indices into [`Device::registers`] of the registers declared directly
    /// in this block (for an alias block: the alias registers it expanded to).
    pub registers: Vec<usize>,
    /// Nested blocks.
    pub blocks: Vec<Block>,
    /// Path of the mirrored block, for an alias block.
    pub alias: Option<String>,
    /// Index-mapping hook of an alias block.
    pub index_map: Option<String>,
}

/// An in-memory structure of little-endian 64-bit words.
#[derive(Clone, Debug)]
pub struct Struct {
    /// Structure name (`STE`, `CmdCfgiSte`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Size in bytes (a multiple of 8).
    pub size: u64,
    /// The structure it extends, if any (its fields are already included).
    pub extends: Option<String>,
    /// Fields (inherited first), in map order.
    pub fields: Vec<StructField>,
    /// Values a constructor sets: (field name, value).
    pub fixed: Vec<(String, u64)>,
    /// Where the structure is declared.
    pub span: Span,
}

impl Struct {
    /// Number of 64-bit words.
    pub fn words(&self) -> usize {
        (self.size / 8) as usize
    }
}

/// A field of a structure.
#[derive(Clone, Debug)]
pub struct StructField {
    /// Field name (`S1CONTEXTPTR`).
    pub name: String,
    /// Index of the 64-bit word.
    pub word: u32,
    /// Lowest bit within the word.
    pub lsb: u32,
    /// Highest bit within the word (inclusive).
    pub msb: u32,
    /// Name of the enum naming this field's values.
    pub enum_name: Option<String>,
    /// Free-text description.
    pub description: String,
    /// Where the field is declared.
    pub span: Span,
}

impl StructField {
    /// Width in bits.
    pub fn width(&self) -> u32 {
        self.msb - self.lsb + 1
    }
    /// Mask of the value before shifting.
    pub fn value_mask(&self) -> u64 {
        if self.width() >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width()) - 1
        }
    }
    /// Lowest bit counted from the start of the structure (`word * 64 +
    /// lsb`; saturating, though a loaded structure is at most 4096 bytes).
    pub fn abs_lsb(&self) -> u32 {
        self.word.saturating_mul(64).saturating_add(self.lsb)
    }
    /// Highest bit counted from the start of the structure (saturating).
    pub fn abs_msb(&self) -> u32 {
        self.word.saturating_mul(64).saturating_add(self.msb)
    }
}

impl Device {
    /// Looks an enum up by name.
    pub fn enum_by_name(&self, name: &str) -> Option<&Enum> {
        self.enums.iter().find(|e| e.name == name)
    }
    /// Looks a register up by path (`CR0`, `VINTF.CONFIG`).
    pub fn register(&self, path: &str) -> Option<&Register> {
        self.registers.iter().find(|r| r.path() == path)
    }
    /// Looks a structure up by name.
    pub fn struct_by_name(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }
}
