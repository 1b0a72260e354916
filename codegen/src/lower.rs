//! Pass 1 (lower): the validated model to what the emitters need: Rust
//! names, per-access-kind masks, the layout each register takes its fields
//! from (inline, a shared fieldset, or an alias target), and the block tree
//! with offsets relative to each block element.

use proc_macro2::Ident;
use regmap::model::{Access, Device, Field, RegAccess, Register, Width};

use crate::names::{camel, ident, snake};

/// A field of a register layout.
pub struct LField {
    /// Module/const name (`SMMUEN`).
    pub name: Ident,
    /// Spec name, for tests and docs.
    pub spec_name: String,
    /// Lowest bit.
    pub lsb: u32,
    /// Unshifted value mask.
    pub value_mask: u64,
    /// Access kind.
    pub access: Access,
    /// Enum type naming the values, if any.
    pub enum_ty: Option<Ident>,
    /// The map's name of that enum.
    pub enum_name: Option<String>,
    /// Documentation.
    pub doc: String,
}

/// Where a register's field layout is defined.
pub enum Layout {
    /// In the register's own module.
    Inline(Vec<LField>),
    /// In `fieldsets::NAME`, re-exported.
    Fieldset(Ident),
    /// In another register's module (an alias), re-exported.
    Alias(Vec<Ident>),
}

/// One register, lowered.
pub struct LReg {
    /// Index into `Device::registers`.
    pub index: usize,
    /// Module path from the crate root (`[VINTF, CONFIG]`).
    pub path: Vec<Ident>,
    /// Accessor method name (`config`).
    pub method: Ident,
    /// Absolute offset of element 0.
    pub offset: u64,
    /// Offset relative to its block element (== `offset` at top level).
    pub rel_offset: u64,
    /// Register width.
    pub width: Width,
    /// Access marker.
    pub access: RegAccess,
    /// Reset value.
    pub reset: u64,
    /// Masks per access kind, in `Access::ALL` order.
    pub masks: Vec<(Access, u64)>,
    /// Bits no field covers.
    pub reserved: u64,
    /// The register's own array: (count, stride).
    pub array: Option<(u32, u64)>,
    /// Field layout.
    pub layout: Layout,
    /// Documentation.
    pub doc: String,
}

/// A block of the register tree.
pub struct LBlock {
    /// Handle type name (`VintfPage0Lvcmdq`).
    pub ty: Ident,
    /// Accessor method name on the parent (`lvcmdq`).
    pub method: Ident,
    /// Offset of element 0 relative to the parent element.
    pub rel_offset: u64,
    /// Number of elements (1: not an array).
    pub count: u32,
    /// Distance between elements.
    pub stride: u64,
    /// Registers declared directly in the block (indices into `regs`).
    pub regs: Vec<usize>,
    /// Nested blocks.
    pub children: Vec<LBlock>,
    /// Module path (`[VINTF]`).
    pub path: Vec<Ident>,
    /// Documentation.
    pub doc: String,
}

/// The lowered device.
pub struct Lowered {
    /// Root handle type (`Smmuv3`).
    pub root_ty: Ident,
    /// Device name.
    pub name: String,
    /// Device description.
    pub doc: String,
    /// Registers, in `Device::registers` order.
    pub regs: Vec<LReg>,
    /// Top level: registers not in a block.
    pub root_regs: Vec<usize>,
    /// Top-level blocks.
    pub blocks: Vec<LBlock>,
    /// Fieldsets: (module name, width, fields, doc).
    pub fieldsets: Vec<(Ident, Width, Vec<LField>, String)>,
}

/// The Rust type name of enum `name`.
pub fn enum_ty(name: &str) -> Ident {
    camel(name)
}

fn lower_fields(fields: &[Field]) -> Vec<LField> {
    fields
        .iter()
        .map(|f| LField {
            name: ident(&f.name),
            spec_name: f.name.clone(),
            lsb: f.lsb,
            value_mask: f.value_mask(),
            access: f.access,
            enum_ty: f.enum_name.as_deref().map(enum_ty),
            enum_name: f.enum_name.clone(),
            doc: f.description.clone(),
        })
        .collect()
}

fn doc_of(r: &Register) -> String {
    let mut d = r.description.trim().to_string();
    if d.is_empty() {
        d = r.path();
    }
    d
}

/// Lowers a validated device.
pub fn lower(dev: &Device) -> Lowered {
    let module_path = |r: &Register| -> Vec<Ident> {
        r.blocks
            .iter()
            .map(|b| ident(b))
            .chain(std::iter::once(ident(&r.name)))
            .collect()
    };
    let mut regs: Vec<LReg> = dev
        .registers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let layout = if let Some(a) = &r.alias {
                Layout::Alias(module_path(&dev.registers[a.target]))
            } else if let Some(fs) = &r.fieldset {
                Layout::Fieldset(ident(fs))
            } else {
                Layout::Inline(lower_fields(&r.fields))
            };
            let array = r
                .arrays
                .last()
                .filter(|d| d.name == r.name)
                .map(|d| (d.count, d.stride));
            LReg {
                index: i,
                path: module_path(r),
                method: snake(&r.name),
                offset: r.offset,
                rel_offset: r.offset,
                width: r.width,
                access: r.access,
                reset: r.reset,
                masks: Access::ALL.iter().map(|&a| (a, r.mask_of(a))).collect(),
                reserved: r.unmapped_mask(),
                array,
                layout,
                doc: doc_of(r),
            }
        })
        .collect();

    fn block(
        b: &regmap::model::Block,
        parent_abs: u64,
        parent_path: &[Ident],
        parent_names: &[String],
        dev: &Device,
        regs: &mut [LReg],
    ) -> LBlock {
        let abs = parent_abs + b.offset;
        let mut path = parent_path.to_vec();
        path.push(ident(&b.name));
        let mut names = parent_names.to_vec();
        names.push(b.name.clone());
        let own: Vec<usize> = b
            .registers
            .iter()
            .copied()
            .filter(|&i| dev.registers[i].blocks == names)
            .collect();
        for &i in &own {
            regs[i].rel_offset = regs[i].offset - abs;
        }
        let children = b
            .blocks
            .iter()
            .map(|c| block(c, abs, &path, &names, dev, regs))
            .collect();
        LBlock {
            ty: camel(&names.join("_")),
            method: snake(&b.name),
            rel_offset: b.offset,
            count: b.count,
            stride: b.stride,
            regs: own,
            children,
            path,
            doc: if b.description.is_empty() {
                names.join(".")
            } else {
                b.description.clone()
            },
        }
    }
    let blocks = dev
        .blocks
        .iter()
        .map(|b| block(b, 0, &[], &[], dev, &mut regs))
        .collect();
    let root_regs = (0..dev.registers.len())
        .filter(|&i| dev.registers[i].blocks.is_empty())
        .collect();
    let fieldsets = dev
        .fieldsets
        .iter()
        .map(|f| {
            (
                ident(&f.name),
                f.width,
                lower_fields(&f.fields),
                f.description.clone(),
            )
        })
        .collect();
    Lowered {
        root_ty: camel(&dev.name),
        name: dev.name.clone(),
        doc: dev.description.clone(),
        regs,
        root_regs,
        blocks,
        fieldsets,
    }
}
