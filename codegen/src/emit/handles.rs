//! The typed handles over an MMIO backend: the device's root type and one
//! handle type per block, with an accessor per register and nested block.
//! Handles are built on `regmap_rt::Window`; arrays are bounds-checked
//! (`None` out of range).

use super::accessors::{access_handle, clears_on_read};
use crate::ir::{Block, Ir, Reg};
use crate::names::hex;
use crate::out::{Out, E};

/// The root handle and every block handle.
pub fn emit(ir: &Ir, out: &mut Out) {
    let ty = &ir.root_ty;
    out.doc_line(&format!(
        "Bytes of the `{}` register window from offset 0 to the end of its last address window: the length to give `regmap_rt::VolatileMmio::new` when the platform maps all of it.",
        ir.device
    ));
    out.line(&format!(
        "pub const WINDOW_SIZE: usize = {};",
        hex(window_size(ir))
    ));
    out.doc_line(&format!(
        "The `{}` register window: typed accessors over any [`regmap_rt::Mmio`] backend.",
        ir.device
    ));
    if !ir.doc.is_empty() {
        out.doc_line("");
        out.doc(&ir.doc);
    }
    out.open(&format!("pub struct {ty}<M: regmap_rt::Mmio>"));
    out.line("mmio: M,");
    out.close();
    out.open(&format!("impl<M: regmap_rt::Mmio> {ty}<M>"));
    out.doc_line("Accessors over `mmio` (whose offset 0 is the device base).");
    out.open("pub const fn new(mmio: M) -> Self");
    out.line("Self { mmio }");
    out.close();
    out.doc_line("The backend.");
    out.open("pub fn mmio(&self) -> &M");
    out.line("&self.mmio");
    out.close();
    out.doc_line("The device's window: offset 0 of the backend.");
    out.open("pub fn window(&self) -> regmap_rt::Window<'_, M>");
    out.line("regmap_rt::Window::new(&self.mmio, 0)");
    out.close();
    let window = [E::atom(".window()")];
    for &k in &ir.root_regs {
        reg_accessor(&ir.regs[k], "'_", &window, out);
    }
    for b in &ir.blocks {
        block_accessor(b, "'_", &window, out);
    }
    out.close();
    out.open(&format!(
        "impl<M: regmap_rt::Mmio> core::fmt::Debug for {ty}<M>"
    ));
    out.open("fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result");
    out.line(&format!("f.write_str(\"{ty}\")"));
    out.close();
    out.close();
    for b in &ir.blocks {
        block_handle(ir, b, out);
    }
}

/// The end of the last address window of `ir`: the validator puts every
/// register inside a window.
pub fn window_size(ir: &Ir) -> u64 {
    ir.windows.iter().map(|w| w.end()).max().unwrap_or(0)
}

/// `self` and the links reaching the handle's window, then `link`.
fn reach(window: &[E], link: E) -> E {
    let mut links = window.to_vec();
    links.push(link);
    E::Chain("self".into(), links)
}

fn reg_accessor(r: &Reg, lt: &str, window: &[E], out: &mut Out) {
    let path = r.module.join("::");
    let handle = format!("{}<{lt}, M, {path}::Register>", access_handle(r));
    out.doc(&r.doc);
    if clears_on_read(r) {
        out.doc_line("");
        out.doc_line("Reading clears its `rc` fields, so the handle reads through `&mut self`.");
    }
    match r.array {
        None => {
            out.line("#[inline(always)]");
            out.sig(
                &format!("pub fn {}", r.method),
                &["&self".into()],
                &format!(" -> {handle}"),
            );
            let call = E::call_atoms(".reg(", &[hex(r.rel_offset)], ")");
            out.expr("", &reach(window, call), "");
        }
        Some((count, stride)) => {
            out.doc_line("");
            out.doc_line("`None` when `index` is out of range.");
            out.line("#[inline(always)]");
            out.sig(
                &format!("pub fn {}", r.method),
                &["&self".into(), "index: usize".into()],
                &format!(" -> Option<{handle}>"),
            );
            let args = [
                hex(r.rel_offset),
                "index".into(),
                count.to_string(),
                hex(stride),
            ];
            out.expr(
                "",
                &reach(window, E::call_atoms(".reg_at(", &args, ")")),
                "",
            );
        }
    }
    out.close();
}

fn block_accessor(b: &Block, lt: &str, window: &[E], out: &mut Out) {
    let ty = format!("{}<{lt}, M>", b.ty);
    out.doc(&b.doc);
    if b.count <= 1 {
        out.line("#[inline(always)]");
        out.sig(
            &format!("pub fn {}", b.method),
            &["&self".into()],
            &format!(" -> {ty}"),
        );
        let inner = reach(window, E::call_atoms(".block(", &[hex(b.rel_offset)], ")"));
        out.expr("", &E::call(format!("{}(", b.ty), vec![inner], ")"), "");
    } else {
        out.doc_line("");
        out.doc_line("`None` when `index` is out of range.");
        out.line("#[inline(always)]");
        out.sig(
            &format!("pub fn {}", b.method),
            &["&self".into(), "index: usize".into()],
            &format!(" -> Option<{ty}>"),
        );
        let args = [
            hex(b.rel_offset),
            "index".into(),
            b.count.to_string(),
            hex(b.stride),
        ];
        let mut links = window.to_vec();
        links.push(E::call_atoms(".block_at(", &args, ")"));
        links.push(E::call_atoms(".map(", std::slice::from_ref(&b.ty), ")"));
        out.expr("", &E::Chain("self".into(), links), "");
    }
    out.close();
}

fn block_handle(ir: &Ir, b: &Block, out: &mut Out) {
    let ty = &b.ty;
    out.doc_line(&format!("Handle on one element of block `{}`.", b.path));
    out.line("#[derive(Clone, Copy, Debug)]");
    let head = format!("pub struct {ty}<'a, M: regmap_rt::Mmio>(");
    out.list(&head, &["regmap_rt::Window<'a, M>".into()], ");", false);
    out.open(&format!("impl<'a, M: regmap_rt::Mmio> {ty}<'a, M>"));
    out.doc_line("The element's window; `window().base()` is its offset from the device base.");
    out.open("pub fn window(&self) -> regmap_rt::Window<'a, M>");
    out.line("self.0");
    out.close();
    let window = [E::atom(".0")];
    for &k in &b.regs {
        reg_accessor(&ir.regs[k], "'a", &window, out);
    }
    for c in &b.children {
        block_accessor(c, "'a", &window, out);
    }
    out.close();
    for c in &b.children {
        block_handle(ir, c, out);
    }
}
