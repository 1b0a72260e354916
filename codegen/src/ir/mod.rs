//! The generator's one intermediate representation: a validated map
//! lowered once into everything the emitters need, with Rust names chosen,
//! checked for collisions, and masks, layouts, storage, hooks and the
//! offset decode tree computed. Every emitter (accessors, enums,
//! structures, register file, dispatcher, tests) reads only this.
//!
//! Offsets are kept both absolute and relative to the enclosing block
//! element, and every block keeps its element count, stride and offset, so
//! that constants for them are one emitter away.

mod decode;
mod lower;

pub use decode::{Cand, Node, What};
pub use lower::lower;

use regmap::model::{Access, RegAccess, Width};
use regmap::Span;

/// A lowered map.
#[derive(Clone, Debug)]
pub struct Ir {
    /// The map's device name (`smmuv3`).
    pub device: String,
    /// The root handle type (`Smmuv3`).
    pub root_ty: String,
    /// The device description, as documentation lines.
    pub doc: Vec<String>,
    /// Address windows, in map order.
    pub windows: Vec<Window>,
    /// Field layouts: shared fieldsets first, then the layouts registers
    /// declare inline.
    pub layouts: Vec<Layout>,
    /// Every register of the map (aliases included), in map order.
    pub regs: Vec<Reg>,
    /// Registers outside any block (indices into `regs`).
    pub root_regs: Vec<usize>,
    /// The top-level blocks.
    pub blocks: Vec<Block>,
    /// Register storage: one slot per register that is not an alias.
    pub slots: Vec<Slot>,
    /// The offset decode tree.
    pub decode: Node,
    /// Declared hooks that some register uses.
    pub hooks: Vec<Hook>,
    /// Enums.
    pub enums: Vec<Enum>,
    /// In-memory structures.
    pub structs: Vec<Struct>,
}

/// An address window of the device.
#[derive(Clone, Debug)]
pub struct Window {
    /// Rust name of its module (`PAGE0`).
    pub module: String,
    /// Byte offset from the device base.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Documentation.
    pub doc: Vec<String>,
}

impl Window {
    /// Byte offset of the end (offset plus size; saturating: a validated
    /// map is far below 64 bits).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// A field layout: a shared fieldset, or the fields a register declares.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The name `Debug` shows: the fieldset's name or the register's path.
    pub name: String,
    /// Module path from the accessors' root to where its items live
    /// (`["fieldsets", "Cr0Bits"]`, `["VINTF", "CONFIG"]`).
    pub home: Vec<String>,
    /// Register width.
    pub width: Width,
    /// Fields, by lowest bit.
    pub fields: Vec<Field>,
    /// Bits per access kind, in [`Access::ALL`] order.
    pub masks: [u64; 10],
    /// Documentation of a fieldset (empty for an inline layout).
    pub doc: Vec<String>,
}

impl Layout {
    /// The mask of access kind `a`.
    pub fn mask(&self, a: Access) -> u64 {
        Access::ALL
            .iter()
            .position(|k| *k == a)
            .map_or(0, |i| self.masks[i])
    }
}

/// A register field.
#[derive(Clone, Debug)]
pub struct Field {
    /// Rust name of its constant and module (`SMMUEN`).
    pub name: String,
    /// The map's name.
    pub spec: String,
    /// Lowest bit.
    pub lsb: u32,
    /// Highest bit.
    pub msb: u32,
    /// Unshifted value mask.
    pub value_mask: u64,
    /// Access kind.
    pub access: Access,
    /// Reset value of the field (shifted down).
    pub reset: u64,
    /// The enum naming its values (index into [`Ir::enums`]).
    pub enum_: Option<usize>,
    /// Documentation.
    pub doc: Vec<String>,
    /// Whether the field module gets `SET` and `CLEAR` (one-bit fields
    /// whose enum does not name those already).
    pub set_clear: bool,
}

impl Field {
    /// The field's bits in place.
    pub fn mask(&self) -> u64 {
        self.value_mask << self.lsb
    }
}

/// One array dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dim {
    /// The block or register the dimension belongs to (map name).
    pub name: String,
    /// Number of elements.
    pub count: u32,
    /// Distance between elements in bytes.
    pub stride: u64,
}

/// How a register reaches its storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Its own storage.
    Plain,
    /// A static alias of register `target`: the same storage, element for
    /// element.
    Alias {
        /// Index into [`Ir::regs`].
        target: usize,
    },
    /// An alias block element whose target element an `index_map` hook
    /// chooses: the hook maps the first `outer` indices to the target's
    /// first `target_outer` ones; the remaining (inner) indices carry over.
    Mapped {
        /// Index into [`Ir::regs`] of the target.
        target: usize,
        /// Index into [`Ir::hooks`].
        hook: usize,
        /// Number of this register's indices the hook receives.
        outer: usize,
        /// Number of target indices the hook returns.
        target_outer: usize,
    },
}

/// Where a register's field layout comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutUse {
    /// Declared by the register: its module defines the layout.
    Own,
    /// A shared fieldset or another register's layout, re-exported.
    Reexport,
}

/// A register.
#[derive(Clone, Debug)]
pub struct Reg {
    /// Index in the model's registers.
    pub model: usize,
    /// The map's path (`VINTF.CONFIG`).
    pub path: String,
    /// Names of the enclosing blocks (map names, outermost first).
    pub blocks: Vec<String>,
    /// Module path from the accessors' root (`["VINTF", "CONFIG"]`).
    pub module: Vec<String>,
    /// Accessor method name (`config`).
    pub method: String,
    /// Absolute offset of element 0.
    pub offset: u64,
    /// Offset relative to its enclosing block element.
    pub rel_offset: u64,
    /// Width.
    pub width: Width,
    /// Register-level access.
    pub access: RegAccess,
    /// Reset value.
    pub reset: u64,
    /// Field layout (index into [`Ir::layouts`]).
    pub layout: usize,
    /// Bits per access kind in [`Access::ALL`] order: the layout's, with
    /// `rw` fields following a read-only or write-only register.
    pub masks: [u64; 10],
    /// Whether the register's module defines the layout or re-exports it.
    pub layout_use: LayoutUse,
    /// The register's own array: (count, stride).
    pub array: Option<(u32, u64)>,
    /// Every array dimension enclosing it (blocks and its own), outermost
    /// first.
    pub dims: Vec<Dim>,
    /// How it reaches storage.
    pub kind: Kind,
    /// Storage slot (index into [`Ir::slots`]; the target's for an alias).
    pub slot: usize,
    /// Write hook (index into [`Ir::hooks`]; the target's for an alias).
    pub on_write: Option<usize>,
    /// Read hook (likewise).
    pub on_read: Option<usize>,
    /// Documentation.
    pub doc: Vec<String>,
    /// What the register's doc adds about aliasing (`Alias of ...`).
    pub alias_doc: Option<String>,
    /// Where the map declares it.
    pub span: Span,
}

/// A block of the register tree.
#[derive(Clone, Debug)]
pub struct Block {
    /// Rust name of its module (`VINTF`).
    pub module: String,
    /// The map's path (`VINTF_PAGE0.LVCMDQ`).
    pub path: String,
    /// Handle type (`VintfPage0Lvcmdq`).
    pub ty: String,
    /// Accessor method on the parent (`lvcmdq`).
    pub method: String,
    /// Offset of element 0 relative to the parent element.
    pub rel_offset: u64,
    /// Absolute offset of element 0.
    pub offset: u64,
    /// Number of elements (1: not an array).
    pub count: u32,
    /// Distance between elements.
    pub stride: u64,
    /// Registers declared directly in it (indices into [`Ir::regs`]).
    pub regs: Vec<usize>,
    /// Nested blocks.
    pub children: Vec<Block>,
    /// Documentation.
    pub doc: Vec<String>,
}

/// Storage of one register that is not an alias (all its elements).
#[derive(Clone, Debug)]
pub struct Slot {
    /// Index into [`Ir::regs`].
    pub reg: usize,
    /// Storage field name (`vcmdq_prod`).
    pub field: String,
    /// `Reg` variant and decode target (`VCMDQ_PROD`).
    pub variant: String,
    /// Device-side getter, setter and updater names.
    pub getter: String,
    /// Setter name (`set_vcmdq_prod`).
    pub setter: String,
    /// Updater name (`update_vcmdq_prod`).
    pub updater: String,
    /// Index parameter names of the typed accessors (one per dimension).
    pub params: Vec<String>,
}

/// A hook some register uses, and the trait methods it becomes.
#[derive(Clone, Debug)]
pub struct Hook {
    /// The map's name.
    pub name: String,
    /// Documentation.
    pub doc: Vec<String>,
    /// `on_write` role: method name and the layout of the registers written.
    pub write: Option<(String, usize)>,
    /// `on_read` role: method name.
    pub read: Option<String>,
    /// `index_map` role: method name and the number of target indices.
    pub map: Option<(String, usize)>,
}

/// An enum of field values.
#[derive(Clone, Debug)]
pub struct Enum {
    /// Rust type name (`Ttf`).
    pub ty: String,
    /// The map's name.
    pub spec: String,
    /// Documentation.
    pub doc: Vec<String>,
    /// Values.
    pub values: Vec<EnumValue>,
}

/// One value of an enum.
#[derive(Clone, Debug)]
pub struct EnumValue {
    /// Variant name (`AARCH64`).
    pub name: String,
    /// Numeric value.
    pub value: u64,
    /// Documentation (the map's description, or the name).
    pub doc: Vec<String>,
}

/// An in-memory structure.
#[derive(Clone, Debug)]
pub struct Struct {
    /// Rust type name (`CmdCfgiSte`).
    pub ty: String,
    /// Documentation.
    pub doc: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Fields (inherited first).
    pub fields: Vec<StructField>,
    /// The words `new()` returns (the map's `fixed` values set).
    pub fixed: Vec<u64>,
    /// Types of every ancestor (`extends` chain), nearest first.
    pub ancestors: Vec<String>,
}

/// A field of a structure.
#[derive(Clone, Debug)]
pub struct StructField {
    /// Constant name (`S1CONTEXTPTR`).
    pub name: String,
    /// The map's name.
    pub spec: String,
    /// Word index.
    pub word: u32,
    /// Lowest bit in the word.
    pub lsb: u32,
    /// Highest bit in the word.
    pub msb: u32,
    /// Unshifted value mask.
    pub value_mask: u64,
    /// The enum naming its values (index into [`Ir::enums`]).
    pub enum_: Option<usize>,
    /// Documentation (one line).
    pub doc: String,
}

impl Ir {
    /// The register that owns slot `s`.
    pub fn slot_reg(&self, s: usize) -> &Reg {
        &self.regs[self.slots[s].reg]
    }
}

#[cfg(test)]
mod tests;
