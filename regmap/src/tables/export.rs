//! A validated map to register tables: what the tables carry of it (blocks,
//! registers, fields, enum values) and nothing else. Aliases, hooks,
//! fieldset sharing, structures and standalone enums stay in the map
//! (FORMAT.md says what survives).

use std::collections::{HashMap, HashSet};

use super::{BlockRow, Cell, EnumValueRow, FieldRow, RegisterRow, Tables};
use crate::model::{ArrayDim, Block, Device, Register};

/// Builds the tables of `dev`. Every cell the map determines is filled, so
/// importing the tables into an empty map gives the same registers.
pub fn export(dev: &Device) -> Tables {
    let mut t = Tables::default();
    let mut bases = HashMap::new();
    for b in &dev.blocks {
        blocks(dev, b, "", 0, &mut bases, &mut t.blocks);
    }
    let mut used_enums = HashSet::new();
    for r in dev.registers.iter().filter(|r| r.alias.is_none()) {
        let block = r.blocks.join(".");
        let base = bases.get(&block).copied().unwrap_or(0);
        let own = own_dim(dev, r);
        t.registers.push(RegisterRow {
            block: Cell::some(block),
            name: Cell::some(r.name.clone()),
            offset: Cell::some(r.offset - base),
            width: Cell::some(r.width.bits()),
            access: Cell::some(r.access),
            reset: Cell::some(r.reset),
            count: Cell::opt(own.map(|d| d.count)),
            stride: Cell::opt(own.map(|d| d.stride)),
            description: Cell::some(r.description.clone()),
            ..RegisterRow::default()
        });
        if implicit_value_field(r) {
            continue;
        }
        for f in &r.fields {
            if let Some(e) = &f.enum_name {
                used_enums.insert(e.clone());
            }
            t.fields.push(FieldRow {
                register: Cell::some(r.path()),
                name: Cell::some(f.name.clone()),
                msb: Cell::some(f.msb),
                lsb: Cell::some(f.lsb),
                access: Cell::some(f.access),
                reset: Cell::some(f.reset),
                enum_name: Cell::opt(f.enum_name.clone()),
                description: Cell::some(f.description.clone()),
                ..FieldRow::default()
            });
        }
    }
    for e in dev.enums.iter().filter(|e| used_enums.contains(&e.name)) {
        for v in &e.values {
            t.enums.push(EnumValueRow {
                enum_name: Cell::some(e.name.clone()),
                name: Cell::some(v.name.clone()),
                value: Cell::some(v.value),
                description: Cell::some(v.description.clone()),
                ..EnumValueRow::default()
            });
        }
    }
    t
}

/// Writes the rows of `b` and its sub-blocks (alias blocks and blocks
/// holding nothing but aliases have no rows) and records each block's
/// absolute base by path.
fn blocks(
    dev: &Device,
    b: &Block,
    parent: &str,
    parent_base: u64,
    bases: &mut HashMap<String, u64>,
    out: &mut Vec<BlockRow>,
) {
    if b.alias.is_some() {
        return;
    }
    let path = if parent.is_empty() {
        b.name.clone()
    } else {
        format!("{parent}.{}", b.name)
    };
    let base = parent_base + b.offset;
    bases.insert(path.clone(), base);
    if holds_registers(dev, b) {
        let array = b.count > 1;
        out.push(BlockRow {
            path: Cell::some(path.clone()),
            offset: Cell::some(b.offset),
            count: Cell::opt(array.then_some(b.count)),
            stride: Cell::opt(array.then_some(b.stride)),
            description: Cell::some(b.description.clone()),
            ..BlockRow::default()
        });
    }
    for c in &b.blocks {
        blocks(dev, c, &path, base, bases, out);
    }
}

/// Whether `b` or a block inside it declares a register that is not an alias.
pub(crate) fn holds_registers(dev: &Device, b: &Block) -> bool {
    b.alias.is_none()
        && (b
            .registers
            .iter()
            .any(|&i| dev.registers.get(i).is_some_and(|r| r.alias.is_none()))
            || b.blocks.iter().any(|c| holds_registers(dev, c)))
}

/// The register's own array dimension (`count`/`stride` on the register
/// itself), as opposed to those of its enclosing blocks.
pub(crate) fn own_dim<'a>(dev: &Device, r: &'a Register) -> Option<&'a ArrayDim> {
    let mut level = &dev.blocks;
    let mut enclosing = 0;
    for name in &r.blocks {
        match level.iter().find(|b| &b.name == name) {
            Some(b) => {
                if b.count > 1 {
                    enclosing += 1;
                }
                level = &b.blocks;
            }
            None => break,
        }
    }
    r.arrays.get(enclosing)
}

/// Whether the register's only field is the one the loader makes for a
/// register that declares none (`VALUE`, the whole register).
pub(crate) fn implicit_value_field(r: &Register) -> bool {
    match r.fields.as_slice() {
        [f] => {
            f.name == "VALUE"
                && f.lsb == 0
                && f.msb == r.width.bits() - 1
                && f.enum_name.is_none()
                && f.description == "The whole register"
                && f.span == r.span
                && r.fieldset.is_none()
        }
        _ => false,
    }
}
