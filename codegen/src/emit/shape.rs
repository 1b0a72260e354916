//! Where blocks and registers sit: the constants device code needs to
//! decode an offset or address an element without retyping the map
//! (a block's element count, stride and offset; a block register's offset
//! inside its element).

use crate::ir::{Block, Ir, Reg};
use crate::names::hex;
use crate::out::Out;

/// `OFFSET`, `REL_OFFSET`, `COUNT` and `STRIDE` of a block, in its module.
pub fn block_consts(b: &Block, out: &mut Out) {
    out.doc_line("Byte offset of element 0 from the device base.");
    out.line(&format!("pub const OFFSET: usize = {};", hex(b.offset)));
    out.doc_line(
        "Byte offset of element 0 from its parent element (the device base at top level).",
    );
    out.line(&format!(
        "pub const REL_OFFSET: usize = {};",
        hex(b.rel_offset)
    ));
    out.doc_line("Number of elements (1: not an array).");
    out.line(&format!("pub const COUNT: usize = {};", b.count));
    out.doc_line("Bytes between elements.");
    out.line(&format!("pub const STRIDE: usize = {};", hex(b.stride)));
}

/// `REL_OFFSET` of a register declared inside a block: its offset from
/// the start of the block element, so that `block::OFFSET + i *
/// block::STRIDE + REL_OFFSET` is element `i`'s register.
pub fn reg_rel_offset(r: &Reg, out: &mut Out) {
    if r.blocks.is_empty() {
        return;
    }
    out.doc_line("Byte offset from the start of the enclosing block element.");
    out.line(&format!(
        "pub const REL_OFFSET: usize = {};",
        hex(r.rel_offset)
    ));
}

/// The `windows` module: each address window's offset and size, the
/// apertures a VMM maps or traps.
pub fn windows(ir: &Ir, out: &mut Out) {
    out.doc_line("Address windows of the device: where each starts and how many bytes it spans.");
    if ir.windows.is_empty() {
        out.line("pub mod windows {}");
        return;
    }
    out.open("pub mod windows");
    for w in &ir.windows {
        if w.doc.is_empty() {
            out.doc_line(&format!("Window `{}`.", w.module));
        } else {
            out.doc(&w.doc);
        }
        out.open(&format!("pub mod {}", w.module));
        out.doc_line("Byte offset from the device base.");
        out.line(&format!("pub const OFFSET: usize = {};", hex(w.offset)));
        out.doc_line("Size in bytes.");
        out.line(&format!("pub const SIZE: usize = {};", hex(w.size)));
        out.doc_line("Byte offset of the end (offset plus size).");
        out.line(&format!("pub const END: usize = {};", hex(w.end())));
        out.close();
    }
    out.close();
}
