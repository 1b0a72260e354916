//! In-memory structures (STE, CD, commands, events) as
//! `#[repr(transparent)]` value types over `[u64; N]`. Each field is a
//! typed constant (`Ste::S1CONTEXTPTR`, enum-typed `Ste::CONFIG`) read and
//! updated through `regmap_rt::Words` (`ste.get(Ste::V)`,
//! `ste.with_enum(Ste::CONFIG, SteConfig::BYPASS)`): one line per field
//! instead of a family of methods, which keeps generated crates small.
//! `new()` applies the map's `fixed:` values (a command's opcode). No
//! container types are emitted: a fixed-capacity batch is the user's
//! `heapless::Vec<Command, N>` (smmu-driver's `EventBatch`), so the
//! generated crates depend on nothing but regmap-rt.

use crate::ir::Ir;
use crate::names::{hex, string};
use crate::out::{Out, E};

/// The `structs` module.
pub fn emit(ir: &Ir, out: &mut Out) {
    out.doc_line("In-memory structures of the map. Read and update fields with");
    out.doc_line("`regmap_rt::Words`: `ste.get(Ste::V)`, `ste.with(Ste::S1CONTEXTPTR, pa >> 6)`.");
    out.open("pub mod structs");
    let enums = ir
        .structs
        .iter()
        .any(|s| s.fields.iter().any(|f| f.enum_.is_some()));
    if enums {
        out.line("use super::enums as e;");
    }
    // In rustfmt's order: `StructField` sorts before `Words`, a braced
    // list after it (`enums` implies a structure).
    if !ir.structs.is_empty() && !enums {
        out.line("use regmap_rt::StructField as Sf;");
    }
    out.line("pub use regmap_rt::Words;");
    if enums {
        out.line("use regmap_rt::{EnumField as Ef, StructField as Sf};");
    }
    for s in &ir.structs {
        let n = s.fixed.len();
        out.doc(&s.doc);
        out.doc_line("");
        out.doc_line(&format!(
            "{} bytes; words are little-endian in memory.",
            s.size
        ));
        out.line("#[repr(transparent)]");
        out.line("#[derive(Clone, Copy, PartialEq, Eq, Hash)]");
        out.line(&format!("pub struct {}(pub [u64; {n}]);", s.ty));
        out.open(&format!("impl {}", s.ty));
        for f in &s.fields {
            out.doc_line(&f.doc);
            let args = [f.word.to_string(), f.lsb.to_string(), hex(f.value_mask)];
            match f.enum_ {
                None => out.assign(
                    &format!("pub const {}: Sf =", f.name),
                    &E::call_atoms("Sf::new(", &args, ")"),
                    ";",
                ),
                Some(e) => out.assign(
                    &format!("pub const {}: Ef<e::{}> =", f.name, ir.enums[e].ty),
                    &E::call_atoms("Ef::new(", &args, ")"),
                    ";",
                ),
            }
        }
        out.doc_line("Every field by name, for `Debug` and tools.");
        let table: Vec<E> = s
            .fields
            .iter()
            .map(|f| {
                let field = if f.enum_.is_some() { ".field" } else { "" };
                let items = [string(&f.spec), format!("Self::{}{field}", f.name)];
                E::call_atoms("(", &items, ")")
            })
            .collect();
        out.assign(
            "pub const FIELDS: &'static [(&'static str, Sf)] =",
            &E::call("&[", table, "]"),
            ";",
        );
        out.close();
        let fixed = if s.fixed.iter().all(|w| *w == 0) {
            format!("[0; {n}]")
        } else {
            let w: Vec<String> = s.fixed.iter().map(|w| hex(*w)).collect();
            format!("[{}]", w.join(", "))
        };
        let mut args = vec![s.ty.clone(), n.to_string(), fixed];
        args.extend(s.ancestors.iter().cloned());
        out.list("regmap_rt::impl_words!(", &args, ");", true);
    }
    out.close();
}
