//! The emulator's register file: storage for every register (one
//! `regmap_rt::regfile::Slot` per element, typed by the register's
//! layout, so the runtime applies its access semantics), the `Reg` enum,
//! the `Hooks` trait with typed values, device-side accessors, and the trap
//! dispatcher (in the `dispatch` module).
//!
//! The module is included below the accessors (`pub mod regfile { .. }`)
//! and names them through `super::`.

use regmap::model::RegAccess;

use super::{lit, word};
use crate::ir::{Hook, Ir, Slot};
use crate::names::string;
use crate::out::{Out, E};

/// The whole register-file module body.
pub fn emit(ir: &Ir, out: &mut Out) {
    out.line("pub use regmap_rt::regfile::AccessError;");
    out.line("use regmap_rt::regfile::{self as rt, Cells};");
    out.doc_line(&format!(
        "Name of the device (`{}`) this register file emulates.",
        ir.device
    ));
    out.line(&format!("pub const DEVICE: &str = {};", string(&ir.device)));
    out.doc_line("What a write hook receives: the register, its indices, its old and new values.");
    out.line("pub type Write<'a, V> = rt::Write<'a, Reg, V>;");
    out.doc_line("What a read hook receives: the register and its indices.");
    out.line("pub type Read<'a> = rt::Read<'a, Reg>;");
    reg_enum(ir, out);
    hooks_trait(ir, out);
    regfile(ir, out);
    super::dispatch::emit(ir, out);
}

fn reg_enum(ir: &Ir, out: &mut Out) {
    out.doc_line("A register with storage in the register file (aliases name their target).");
    out.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]");
    out.open("pub enum Reg");
    for s in &ir.slots {
        let r = &ir.regs[s.reg];
        let mut doc = r.doc.clone();
        if let Some(first) = doc.first_mut() {
            *first = format!("`{}`: {first}", r.path);
        }
        out.doc(&doc);
        out.line(&format!("{},", s.variant));
    }
    out.close();
    out.open("impl Reg");
    out.doc_line("Every register, in map order.");
    let all: Vec<String> = ir
        .slots
        .iter()
        .map(|s| format!("Reg::{}", s.variant))
        .collect();
    let head = format!("pub const ALL: [Reg; {}] =", all.len());
    out.assign(&head, &E::call_atoms("[", &all, "]"), ";");
    out.doc_line("The register's path in the map (`VCMDQ.PROD`).");
    out.open("pub const fn path(self) -> &'static str");
    out.open("match self");
    for s in &ir.slots {
        out.arm_text(
            &format!("Reg::{}", s.variant),
            &string(&ir.regs[s.reg].path),
        );
    }
    out.close();
    out.close();
    out.close();
}

/// The value type of registers with layout `layout`, as the register
/// module of `reg` re-exports it.
fn value_ty(ir: &Ir, reg: usize) -> String {
    format!("super::{}::Value", ir.regs[reg].module.join("::"))
}

fn hooks_trait(ir: &Ir, out: &mut Out) {
    out.doc_line("Side effects of the map's hooks. Every method defaults to doing nothing (an");
    out.doc_line("`index_map` hook to \"unmapped\"); a device model overrides the ones it");
    out.doc_line("implements. Write hooks run after the write is stored and see the register's");
    out.doc_line("old and new values as its layout's `Value`, so fields read by name; read hooks");
    out.doc_line("run before the value is read (they may update it). Both are told the register");
    out.doc_line("with storage (the target, for an alias) and its array indices.");
    out.line("#[allow(unused_variables)]");
    if ir.hooks.is_empty() {
        out.line("pub trait Hooks {}");
    } else {
        out.open("pub trait Hooks");
        for h in &ir.hooks {
            hook_methods(ir, h, out);
        }
        out.close();
    }
    out.doc_line("Hooks that do nothing: guest-visible semantics only.");
    out.line("#[derive(Clone, Copy, Debug, Default)]");
    out.line("pub struct NoHooks;");
    out.line("impl Hooks for NoHooks {}");
}

fn hook_methods(ir: &Ir, h: &Hook, out: &mut Out) {
    let mut doc = h.doc.clone();
    match doc.first_mut() {
        Some(first) => *first = format!("Hook `{}`: {first}", h.name),
        None => doc.push(format!("Hook `{}`.", h.name)),
    }
    let users = |f: &dyn Fn(&crate::ir::Reg) -> bool| -> String {
        let paths: Vec<String> = ir
            .slots
            .iter()
            .map(|s| &ir.regs[s.reg])
            .filter(|r| f(r))
            .map(|r| format!("`{}`", r.path))
            .collect();
        paths.join(", ")
    };
    let me = ir.hooks.iter().position(|x| x.name == h.name);
    if let Some((method, _)) = &h.write {
        let writers = users(&|r| r.on_write == me);
        out.doc(&doc);
        out.doc_line("");
        out.doc_line(&format!("Called after a guest write of {writers}."));
        let reg = ir
            .slots
            .iter()
            .map(|s| s.reg)
            .find(|&k| ir.regs[k].on_write == me)
            .unwrap_or(0);
        let v = value_ty(ir, reg);
        out.sig_empty(
            &format!("fn {method}"),
            &[
                "&mut self".into(),
                "regs: &mut RegFile".into(),
                format!("write: Write<'_, {v}>"),
            ],
            "",
        );
    }
    if let Some(method) = &h.read {
        out.doc(&doc);
        out.doc_line("");
        out.doc_line(&format!(
            "Called before a guest read of {}; may update the stored value.",
            users(&|r| r.on_read == me)
        ));
        out.sig_empty(
            &format!("fn {method}"),
            &[
                "&mut self".into(),
                "regs: &mut RegFile".into(),
                "read: Read<'_>".into(),
            ],
            "",
        );
    }
    if let Some((method, n)) = &h.map {
        out.doc(&doc);
        out.doc_line("");
        out.doc_line("Maps an alias element's indices to the target's, or `None` when unmapped.");
        out.sig(
            &format!("fn {method}"),
            &[
                "&mut self".into(),
                "regs: &RegFile".into(),
                "idx: &[u32]".into(),
            ],
            &format!(" -> Option<[u32; {n}]>"),
        );
        out.line("None");
        out.close();
    }
}

/// The storage type of a slot: a `Slot` nested in one array per dimension.
fn storage_ty(ir: &Ir, s: &Slot) -> E {
    let r = &ir.regs[s.reg];
    let mut args = vec![E::atom(format!("super::{}::Register", r.module.join("::")))];
    match r.access {
        RegAccess::Rw => {}
        RegAccess::Ro => args.push(E::atom("regmap_rt::ReadOnly")),
        RegAccess::Wo => args.push(E::atom("regmap_rt::WriteOnly")),
    }
    let mut close = ">".to_string();
    for d in r.dims.iter().rev() {
        close.push_str(&format!("; {}]", d.count));
    }
    E::List(crate::out::List {
        open: format!("{}rt::Slot<", "[".repeat(r.dims.len())),
        items: args,
        close,
        kind: crate::out::Kind::Generics,
    })
}

fn regfile(ir: &Ir, out: &mut Out) {
    out.doc_line(&format!(
        "The emulated registers of `{}`: every register's stored value (array elements",
        ir.device
    ));
    out.doc_line("included), initialised to the reset values.");
    out.doc_line("");
    out.doc_line("Guest accesses go through [`RegFile::read_with`] and [`RegFile::write_with`]");
    out.doc_line("(field semantics, aliases, hooks); device code updates registers directly with");
    out.doc_line("the typed accessors, which bypass guest semantics.");
    out.line("#[derive(Clone, Debug, PartialEq, Eq)]");
    out.open("pub struct RegFile");
    for s in &ir.slots {
        out.assign(&format!("{}:", s.field), &storage_ty(ir, s), ",");
    }
    out.close();
    out.open("impl Default for RegFile");
    out.open("fn default() -> Self");
    out.line("Self::new()");
    out.close();
    out.close();
    out.open("impl RegFile");
    out.doc_line("A register file holding every register's reset value.");
    out.open("pub const fn new() -> Self");
    out.open("Self");
    for s in &ir.slots {
        let r = &ir.regs[s.reg];
        let mut init = format!("rt::Slot::new({})", lit(r.width, r.reset));
        for d in r.dims.iter().rev() {
            init = format!("[{init}; {}]", d.count);
        }
        out.line(&format!("{}: {init},", s.field));
    }
    out.close();
    out.close();
    out.doc_line("Puts every register back to its reset value.");
    out.open("pub fn reset(&mut self)");
    out.line("*self = Self::new();");
    out.close();
    out.doc_line("Stored value of `reg` at `idx` (one index per array dimension), bypassing");
    out.doc_line("guest semantics.");
    out.open("pub fn get(&self, reg: Reg, idx: &[u32]) -> Result<u64, AccessError>");
    out.open("match reg");
    for s in &ir.slots {
        out.arm(
            &format!("Reg::{}", s.variant),
            &on_field(s, ".stored(", &["idx"]),
        );
    }
    out.close();
    out.close();
    out.doc_line("Stores `value` (truncated to the register's width) into `reg` at `idx`,");
    out.doc_line("bypassing guest semantics and hooks.");
    out.sig(
        "pub fn set",
        &[
            "&mut self".into(),
            "reg: Reg".into(),
            "idx: &[u32]".into(),
            "value: u64".into(),
        ],
        " -> Result<(), AccessError>",
    );
    out.open("match reg");
    for s in &ir.slots {
        out.arm(
            &format!("Reg::{}", s.variant),
            &on_field(s, ".store(", &["idx", "value"]),
        );
    }
    out.close();
    out.close();
    super::dispatch::methods(ir, out);
    for s in &ir.slots {
        accessors(ir, s, out);
    }
    out.close();
}

/// `self.field.method(args)`.
fn on_field(s: &Slot, method: &str, args: &[&str]) -> E {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    E::Chain(
        "self".into(),
        vec![
            E::atom(format!(".{}", s.field)),
            E::call_atoms(method, &args, ")"),
        ],
    )
}

/// `self.field.method(&[indices], args)`, binding the indices first when
/// the call would not fit on one line.
fn on_element(out: &mut Out, s: &Slot, method: &str, args: &[&str], end: &str) {
    let idx = format!("&[{}]", s.params.join(", "));
    let mut inline = vec![idx.as_str()];
    inline.extend_from_slice(args);
    let e = on_field(s, method, &inline);
    if e.flat_ok() && out.fits(&format!("{}{end}", e.flat())) {
        out.line(&format!("{}{end}", e.flat()));
        return;
    }
    out.assign("let idx =", &E::call_atoms("[", &s.params, "]"), ";");
    let mut bound = vec!["&idx"];
    bound.extend_from_slice(args);
    out.expr("", &on_field(s, method, &bound), end);
}

/// The device-side getter, setter and updater of a slot.
fn accessors(ir: &Ir, s: &Slot, out: &mut Out) {
    let r = &ir.regs[s.reg];
    let t = word(r.width);
    let what = format!("`{}`", r.path);
    if r.dims.is_empty() {
        out.doc_line(&format!(
            "Stored value of {what} (device side: no guest semantics)."
        ));
        out.sig(
            &format!("pub fn {}", s.getter),
            &["&self".into()],
            &format!(" -> {t}"),
        );
        out.expr("", &on_field(s, ".get(", &[]), "");
        out.close();
        out.doc_line(&format!(
            "Stores `value` into {what} (device side: no guest semantics, no hooks)."
        ));
        out.sig(
            &format!("pub fn {}", s.setter),
            &["&mut self".into(), format!("value: {t}")],
            "",
        );
        out.expr("", &on_field(s, ".set(", &["value"]), ";");
        out.close();
        out.doc_line(&format!(
            "Clears the `clear` bits, then sets the `set` bits of {what} (device side)."
        ));
        out.sig(
            &format!("pub fn {}", s.updater),
            &[
                "&mut self".into(),
                format!("clear: {t}"),
                format!("set: {t}"),
            ],
            "",
        );
        out.expr("", &on_field(s, ".update(", &["clear", "set"]), ";");
        out.close();
        return;
    }
    let params: Vec<String> = s.params.iter().map(|p| format!("{p}: u32")).collect();
    let with = |extra: &[String]| -> Vec<String> {
        let mut v = params.clone();
        v.extend_from_slice(extra);
        v
    };
    out.doc_line(&format!(
        "Stored value of {what} (device side: no guest semantics); `None` when an index is"
    ));
    out.doc_line("out of range.");
    let mut p = vec!["&self".to_string()];
    p.extend(params.iter().cloned());
    out.sig(
        &format!("pub fn {}", s.getter),
        &p,
        &format!(" -> Option<{t}>"),
    );
    on_element(out, s, ".value_at(", &[], "");
    out.close();
    out.doc_line(&format!(
        "Stores `value` into {what} (device side: no guest semantics, no hooks)."
    ));
    let mut p = vec!["&mut self".to_string()];
    p.extend(with(&[format!("value: {t}")]));
    out.sig(
        &format!("pub fn {}", s.setter),
        &p,
        " -> Result<(), AccessError>",
    );
    on_element(out, s, ".set_at(", &["value"], "");
    out.close();
    out.doc_line(&format!(
        "Clears the `clear` bits, then sets the `set` bits of {what} (device side)."
    ));
    let mut p = vec!["&mut self".to_string()];
    p.extend(with(&[format!("clear: {t}"), format!("set: {t}")]));
    out.sig(
        &format!("pub fn {}", s.updater),
        &p,
        " -> Result<(), AccessError>",
    );
    on_element(out, s, ".update_at(", &["clear", "set"], "");
    out.close();
}
