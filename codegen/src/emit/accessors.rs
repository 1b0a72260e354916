//! Register modules (offset, width, reset, array shape), shared fieldset
//! modules, and the field layouts they define: the marker type with its
//! `regmap_rt::Layout` (name, masks, field table), tock-registers field
//! types, field constants and field-value modules.

use regmap::model::{Access, RegAccess};

use super::{lit, mask_calls, supers, word};
use crate::ir::{Block, Field, Ir, Layout, LayoutUse, Reg};
use crate::names::{hex, string};
use crate::out::{Out, E};

/// Fieldsets, then the register modules nested like the block tree.
pub fn emit(ir: &Ir, out: &mut Out) {
    out.doc_line("Shared field layouts, re-exported by every register that uses them.");
    let fieldsets: Vec<&Layout> = ir
        .layouts
        .iter()
        .filter(|l| l.home.first().is_some_and(|h| h == "fieldsets"))
        .collect();
    if fieldsets.is_empty() {
        out.line("pub mod fieldsets {}");
    } else {
        out.open("pub mod fieldsets");
        for l in fieldsets {
            if l.doc.is_empty() {
                out.doc_line(&format!("Fields of the `{}` layout.", l.name));
            } else {
                out.doc(&l.doc);
            }
            out.open(&format!("pub mod {}", l.home[1]));
            layout_items(ir, l, out);
            out.close();
        }
        out.close();
    }
    for &k in &ir.root_regs {
        register_module(ir, &ir.regs[k], out);
    }
    for b in &ir.blocks {
        block_module(ir, b, out);
    }
}

fn block_module(ir: &Ir, b: &Block, out: &mut Out) {
    out.doc(&b.doc);
    out.open(&format!("pub mod {}", b.module));
    super::shape::block_consts(b, out);
    for &k in &b.regs {
        register_module(ir, &ir.regs[k], out);
    }
    for c in &b.children {
        block_module(ir, c, out);
    }
    out.close();
}

fn register_module(ir: &Ir, r: &Reg, out: &mut Out) {
    let t = word(r.width);
    out.doc(&r.doc);
    out.doc_line("");
    let mut facts = format!(
        "Offset {}, {}-bit, {}, reset {}.",
        hex(r.offset),
        r.width.bits(),
        r.access.as_str(),
        lit(r.width, r.reset)
    );
    if let Some(a) = &r.alias_doc {
        facts.push(' ');
        facts.push_str(a);
    }
    out.doc_line(&facts);
    let name = r.module.last().map_or("", String::as_str);
    out.open(&format!("pub mod {name}"));
    out.doc_line("Byte offset of element 0 from the device base.");
    out.line(&format!("pub const OFFSET: usize = {};", hex(r.offset)));
    super::shape::reg_rel_offset(r, out);
    out.doc_line("Width in bits.");
    out.line(&format!("pub const WIDTH: u32 = {};", r.width.bits()));
    out.doc_line("Reset value.");
    out.assign_text(
        &format!("pub const RESET: {t} ="),
        &lit(r.width, r.reset),
        ";",
    );
    if let Some((count, stride)) = r.array {
        out.doc_line("Number of elements of this register array.");
        out.line(&format!("pub const COUNT: usize = {count};"));
        out.doc_line("Bytes between elements.");
        out.line(&format!("pub const STRIDE: usize = {};", hex(stride)));
    }
    let l = &ir.layouts[r.layout];
    match r.layout_use {
        LayoutUse::Own => layout_items(ir, l, out),
        LayoutUse::Reexport => {
            let depth = r.module.len();
            let path = format!("{}{}::*", supers(depth), l.home.join("::"));
            out.line(&format!("pub use {path};"));
            if r.masks != l.masks {
                // A read-only or write-only register using a shared
                // fieldset: its rw fields follow the register.
                out.doc_line(&format!(
                    "Bits by access kind: the fieldset's, its `rw` fields {} here.",
                    if r.access == RegAccess::Ro {
                        "read-only"
                    } else {
                        "write-only"
                    }
                ));
                let calls = mask_calls(&r.masks).into_iter().map(E::Atom).collect();
                out.assign(
                    "pub const MASKS: regmap_rt::Masks =",
                    &E::Chain("regmap_rt::Masks::NONE".into(), calls),
                    ";",
                );
            }
        }
    }
    out.close();
}

/// The items of a layout, in its home module.
fn layout_items(ir: &Ir, l: &Layout, out: &mut Out) {
    let t = word(l.width);
    out.doc_line("Marker type naming this field layout in tock-registers types.");
    out.line("#[derive(Clone, Copy, Debug)]");
    out.line("pub struct Register;");
    out.line("impl regmap_rt::tock_registers::RegisterLongName for Register {}");
    out.open("impl regmap_rt::Layout for Register");
    out.line(&format!("type Word = {t};"));
    out.assign_text("const NAME: &'static str =", &string(&l.name), ";");
    out.line("const MASKS: regmap_rt::Masks = MASKS;");
    out.line("const FIELDS: regmap_rt::Fields = FIELDS;");
    out.close();
    out.doc_line("Bits by access kind; bits no field covers are reserved (read as zero).");
    let calls = mask_calls(&l.masks).into_iter().map(E::Atom).collect();
    out.assign(
        "pub const MASKS: regmap_rt::Masks =",
        &E::Chain("regmap_rt::Masks::NONE".into(), calls),
        ";",
    );
    let table: Vec<E> = l
        .fields
        .iter()
        .map(|f| {
            let items = [string(&f.spec), f.lsb.to_string(), hex(f.value_mask)];
            E::call_atoms("(", &items, ")")
        })
        .collect();
    out.doc_line("Every field by name: (name, shift, unshifted mask), for `Debug` and tools.");
    out.assign(
        "pub const FIELDS: regmap_rt::Fields =",
        &E::call("&[", table, "]"),
        ";",
    );
    out.doc_line("A field of this layout.");
    out.assign_text(
        "pub type Fld =",
        &format!("regmap_rt::tock_registers::fields::Field<{t}, Register>"),
        ";",
    );
    out.doc_line("Field values of this layout, combined with `+`.");
    out.assign_text(
        "pub type Fv =",
        &format!("regmap_rt::tock_registers::fields::FieldValue<{t}, Register>"),
        ";",
    );
    out.doc_line("A value of this layout: fields are read by name and `Debug` shows them all.");
    out.line("pub type Value = regmap_rt::Value<Register>;");
    for f in &l.fields {
        field_items(ir, l, f, out);
    }
}

fn field_items(ir: &Ir, l: &Layout, f: &Field, out: &mut Out) {
    let bits = format!("bits {}:{}, {}", f.msb, f.lsb, f.access.as_str());
    let mut doc = f.doc.clone();
    match doc.last_mut() {
        Some(last) if !last.is_empty() => {
            let end = last.trim_end_matches('.').to_string();
            *last = format!("{end}; {bits}.");
        }
        _ => doc.push(format!("Field `{}`: {bits}.", f.spec)),
    }
    out.doc(&doc);
    let mask = lit(l.width, f.value_mask);
    let new = E::call_atoms("Fld::new(", &[mask.clone(), f.lsb.to_string()], ")");
    out.assign(&format!("pub const {}: Fld =", f.name), &new, ";");
    let en = f.enum_.map(|e| &ir.enums[e]);
    if !f.set_clear && en.is_none() {
        return;
    }
    out.doc_line(&format!("Values of field `{}`.", f.spec));
    out.open(&format!("pub mod {}", f.name));
    let fv = |v: u64| {
        let items = [mask.clone(), f.lsb.to_string(), lit(l.width, v)];
        E::call_atoms("super::Fv::new(", &items, ")")
    };
    if f.set_clear {
        out.doc_line("The bit set.");
        out.assign("pub const SET: super::Fv =", &fv(1), ";");
        out.doc_line("The bit clear.");
        out.assign("pub const CLEAR: super::Fv =", &fv(0), ";");
    }
    if let Some(e) = en {
        out.doc_line("The enum naming this field's values (for `read_as_enum`).");
        let depth = l.home.len() + 1;
        out.assign_text(
            "pub type Value =",
            &format!("{}enums::{}", supers(depth), e.ty),
            ";",
        );
        for v in &e.values {
            out.doc_line(&format!("`{}::{}` ({}).", e.ty, v.name, hex(v.value)));
            out.assign(
                &format!("pub const {}: super::Fv =", v.name),
                &fv(v.value),
                ";",
            );
        }
    }
    out.close();
}

/// The handle type of a register: its access, and whether a read changes
/// it (any `rc` field), in which case its reads take `&mut self`.
pub fn access_handle(r: &Reg) -> &'static str {
    match (r.access, clears_on_read(r)) {
        (RegAccess::Rw, false) => "regmap_rt::Rw",
        (RegAccess::Rw, true) => "regmap_rt::RwRc",
        (RegAccess::Ro, false) => "regmap_rt::Ro",
        (RegAccess::Ro, true) => "regmap_rt::RoRc",
        // Nothing to read, nothing to clear.
        (RegAccess::Wo, _) => "regmap_rt::Wo",
    }
}

/// Whether reading register `r` clears some of its bits.
pub fn clears_on_read(r: &Reg) -> bool {
    Access::ALL
        .iter()
        .zip(&r.masks)
        .any(|(a, m)| *a == Access::Rc && *m != 0)
}
