//! Pass 2 (validate and elaborate): turns the raw map into the model,
//! checking every rule of FORMAT.md and collecting every problem rather than
//! stopping at the first. The sub-passes run in dependency order: names and
//! enums, hooks, fieldsets, the register/block tree, aliases, the expanded
//! layout (overlaps, windows), then structures.

mod aliases;
mod fields;
mod layout;
mod names;
mod structs;
mod tree;

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, Kind, Span};
use crate::model::*;
use crate::raw::{self, span, Bits, NumOrName, RawBlock, RawEnumValue, RawField, RawMap, S};

pub use layout::for_each_element;

/// Upper bound on register elements after array expansion: a hostile map
/// with huge counts gets an error instead of exhausting memory.
pub const MAX_ELEMENTS: u64 = 1 << 20;
/// Upper bound on the `extends` hops from a structure to its root: every
/// structure carries its ancestors' fields, so an unbounded chain would copy
/// fields quadratically in the map's length.
pub const MAX_EXTENDS_DEPTH: usize = 64;
/// Upper bound on a structure's size in bytes.
pub const MAX_STRUCT_SIZE: u64 = 4096;

/// Validates `raw` and builds the model, or returns every diagnostic.
pub fn elaborate(raw: &RawMap) -> Result<Device, Vec<Diagnostic>> {
    let mut cx = Cx::default();
    let device = cx.run(raw);
    if cx.diags.is_empty() {
        Ok(device)
    } else {
        let mut d = cx.diags;
        d.sort_by_key(|d| d.span);
        d.dedup();
        Err(d)
    }
}

#[derive(Default)]
struct Cx {
    diags: Vec<Diagnostic>,
    enums: Vec<Enum>,
    hooks: HashSet<String>,
    fieldsets: Vec<Fieldset>,
    registers: Vec<Register>,
    /// Block path -> what an alias block of it needs.
    block_bases: HashMap<String, BlockBase>,
    /// Alias registers waiting for their target: (register index, target path).
    pending_register_aliases: Vec<(usize, S<String>)>,
}

/// A (non-alias) block as alias blocks mirroring it see it.
struct BlockBase {
    /// Absolute offset of element 0.
    base: u64,
    /// All enclosing arrays, including the block's own dimension.
    arrays: Vec<ArrayDim>,
    /// The registers declared in the block and its nested blocks: the walk
    /// pushes them depth first, so they are one contiguous run of
    /// `Cx::registers` (alias blocks inside it expand later, at the end).
    regs: std::ops::Range<usize>,
}

/// An alias block waiting for its target to be known.
struct PendingBlockAlias {
    path: Vec<String>,
    base: u64,
    arrays: Vec<ArrayDim>,
    target: (String, Span),
    index_map: Option<String>,
    span: Span,
}

impl Cx {
    fn err(&mut self, kind: Kind, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::new(kind, span, msg));
    }

    fn run(&mut self, raw: &RawMap) -> Device {
        let dev = &raw.device.value;
        self.ident(&dev.name, "device name");
        let windows = self.windows(&raw.device);

        self.names_unique(raw.hooks.iter().map(|h| &h.value.name), "hook");
        for h in &raw.hooks {
            self.ident(&h.value.name, "hook name");
            self.hooks.insert(h.value.name.value.clone());
        }
        let hooks = raw
            .hooks
            .iter()
            .map(|h| Hook {
                name: h.value.name.value.clone(),
                description: h.value.description.clone(),
            })
            .collect();

        self.names_unique(raw.enums.iter().map(|e| &e.value.name), "enum");
        for e in &raw.enums {
            let e = &e.value;
            self.ident(&e.name, "enum name");
            let bits = match &e.bits {
                Some(b) if b.value == 0 || b.value > 64 => {
                    self.err(
                        Kind::BadWidth,
                        span(b),
                        format!("enum width must be 1 to 64 bits, found {}", b.value),
                    );
                    None
                }
                b => b.as_ref().map(|b| b.value),
            };
            let en = self.enum_from_values(&e.name.value, &e.description, bits, &e.values, false);
            self.enums.push(en);
        }

        self.names_unique(raw.fieldsets.iter().map(|f| &f.value.name), "fieldset");
        for fs in &raw.fieldsets {
            let f = &fs.value;
            self.ident(&f.name, "fieldset name");
            let width = self.width(f.width.as_ref());
            let fields = self.fields(&f.name.value, &f.fields, width, RegAccess::Rw);
            self.fieldsets.push(Fieldset {
                name: f.name.value.clone(),
                description: f.description.clone(),
                width,
                fields,
            });
        }

        // The register tree. Top-level registers and blocks are siblings.
        let mut pending_blocks = Vec::new();
        let top_names = raw
            .registers
            .iter()
            .map(|r| &r.value.name)
            .chain(raw.blocks.iter().map(|b| &b.value.name));
        self.names_unique(top_names, "register or block");
        let mut top_blocks = Vec::new();
        self.walk(
            &raw.registers,
            &raw.blocks,
            &[],
            0,
            &[],
            &mut top_blocks,
            &mut pending_blocks,
        );

        self.resolve_register_aliases();
        self.resolve_block_aliases(pending_blocks, &mut top_blocks);
        self.check_layout(&windows, span(&raw.device));

        let structs = self.structs(&raw.structs);

        Device {
            name: dev.name.value.clone(),
            description: dev.description.clone(),
            windows,
            hooks,
            enums: std::mem::take(&mut self.enums),
            fieldsets: std::mem::take(&mut self.fieldsets),
            registers: std::mem::take(&mut self.registers),
            blocks: top_blocks,
            structs,
        }
    }
}
