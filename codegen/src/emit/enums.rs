//! Enums of field values, command opcodes, event ids and error codes, with
//! their conversions (`regmap_rt::impl_field_enum!`).

use crate::ir::Ir;
use crate::names::hex;
use crate::out::{Out, MAX_WIDTH};

/// The `enums` module.
pub fn emit(ir: &Ir, out: &mut Out) {
    out.doc_line("Enums of the map: field values, command opcodes, event ids, error codes.");
    if ir.enums.is_empty() {
        out.line("pub mod enums {}");
        return;
    }
    out.open("pub mod enums");
    for e in &ir.enums {
        out.doc(&e.doc);
        out.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]");
        out.line("#[cfg_attr(feature = \"defmt\", derive(defmt::Format))]");
        out.line("#[repr(u64)]");
        out.open(&format!("pub enum {}", e.ty));
        for v in &e.values {
            out.doc(&v.doc);
            out.line(&format!("{} = {},", v.name, hex(v.value)));
        }
        out.close();
        // rustfmt leaves the inside of a brace-delimited macro call as
        // written: it is wrapped here like a paragraph.
        let names: Vec<&str> = e.values.iter().map(|v| v.name.as_str()).collect();
        let one = format!(
            "regmap_rt::impl_field_enum! {{ {}: {} }}",
            e.ty,
            names.join(", ")
        );
        if out.fits(&one) {
            out.line(&one);
        } else {
            out.open("regmap_rt::impl_field_enum!");
            let mut line = format!("{}:", e.ty);
            for (i, n) in names.iter().enumerate() {
                let sep = if i + 1 == names.len() { "" } else { "," };
                if line.len() + n.len() + 2 > MAX_WIDTH - 8 {
                    out.line(&line);
                    line = String::new();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(n);
                line.push_str(sep);
            }
            out.line(&line);
            out.close();
        }
    }
    out.close();
}
