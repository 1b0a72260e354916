//! The trap dispatcher: `decode` turns an offset into the register with
//! storage it lands on (`At`, with the element's indices) and the part of
//! it the access covers, as one `Result`; `read_with` and `write_with`
//! apply that register's access semantics through its slot and call its
//! hooks. Static aliases decode straight to their target; index-mapped
//! aliases ask their `index_map` hook in `decode`.
//!
//! The decode is a `match` per level of the decode tree: exact offsets for
//! registers, ranges with stride arithmetic for arrays. rustc turns
//! consecutive single-value arms into one switch but tests range arms one
//! after the other, so a level with more than [`RANGE_ARMS_PER_MATCH`]
//! range arms is split in two by offset (`if o0 < bound { .. } else { .. }`),
//! recursively: a lookup then takes a logarithmic number of comparisons.

use regmap::model::Width;

use crate::ir::{Cand, Ir, Kind, Node, What};
use crate::names::hex;
use crate::out::{Out, E};

/// Range arms a single `match` may hold before it is split in two.
pub const RANGE_ARMS_PER_MATCH: usize = 3;

/// The `At` enum and, for maps without index-mapped aliases, the `decode`
/// function (module items after the `RegFile` impl).
pub fn emit(ir: &Ir, out: &mut Out) {
    out.doc_line("Where a guest access lands: a register with storage and its element's indices.");
    out.line("#[derive(Clone, Copy, Debug, PartialEq, Eq)]");
    if ir.slots.is_empty() {
        out.line("enum At {}");
    } else {
        out.open("enum At");
        for s in &ir.slots {
            let dims = ir.regs[s.reg].dims.len();
            if dims == 0 {
                out.line(&format!("{},", s.variant));
            } else {
                out.line(&format!("{}([u32; {dims}]),", s.variant));
            }
        }
        out.close();
    }
    if !has_mapped(ir) {
        decode_doc(out);
        out.line("#[inline(always)]");
        out.open("fn decode(o0: u64, wide: bool) -> Result<(At, rt::Lane), AccessError>");
        node(ir, &ir.decode, 0, out);
        out.close();
    }
}

fn has_mapped(ir: &Ir) -> bool {
    ir.regs
        .iter()
        .any(|r| matches!(r.kind, Kind::Mapped { .. }))
}

fn decode_doc(out: &mut Out) {
    out.doc_line("Decodes a trapped offset: the register it lands on and the part the access");
    out.doc_line("covers (`wide`: an 8-byte access).");
}

/// The guest-access methods of `RegFile`.
pub fn methods(ir: &Ir, out: &mut Out) {
    let hooks_param = |out: &mut Out, name: &str, extra: &[&str], ret: &str| {
        let used = match name {
            "read_with" => has_mapped(ir) || ir.regs.iter().any(|r| r.on_read.is_some()),
            "write_with" => has_mapped(ir) || ir.regs.iter().any(|r| r.on_write.is_some()),
            _ => true,
        };
        let hooks = if used {
            "hooks: &mut H"
        } else {
            "_hooks: &mut H"
        };
        let mut p = vec!["&mut self".to_string(), hooks.to_string()];
        p.extend(extra.iter().map(|s| s.to_string()));
        out.sig(&format!("pub fn {name}<H: Hooks + ?Sized>"), &p, ret);
    };
    out.doc_line("A guest read of `size` bytes at `offset` without hooks.");
    out.line("#[inline]");
    out.open("pub fn read(&mut self, offset: u64, size: usize) -> Result<u64, AccessError>");
    out.line("self.read_with(&mut NoHooks, offset, size)");
    out.close();
    out.doc_line("A guest write of `size` bytes at `offset` without hooks.");
    out.line("#[inline]");
    out.sig(
        "pub fn write",
        &[
            "&mut self".into(),
            "offset: u64".into(),
            "size: usize".into(),
            "value: u64".into(),
        ],
        " -> Result<(), AccessError>",
    );
    out.line("self.write_with(&mut NoHooks, offset, size, value)");
    out.close();
    let decode = if has_mapped(ir) {
        "self.decode(hooks, offset, rt::check(offset, size)?)?"
    } else {
        "decode(offset, rt::check(offset, size)?)?"
    };

    out.doc_line("A trapped guest read: decodes `offset`, applies the fields' read semantics");
    out.doc_line("(`rc` bits clear after the read) and calls the register's read hook first. A");
    out.doc_line("32-bit access to a 64-bit register returns the addressed half.");
    out.line("#[inline]");
    hooks_param(
        out,
        "read_with",
        &["offset: u64", "size: usize"],
        " -> Result<u64, AccessError>",
    );
    out.line(&format!("let (at, lane) = {decode};"));
    if ir.slots.is_empty() {
        out.line("match at {}");
    } else {
        out.open("Ok(match at");
        for s in &ir.slots {
            let r = &ir.regs[s.reg];
            let (pat, cell) = target(s, r.dims.is_empty());
            let read = cell.then(E::atom(".read(lane)"));
            match r.on_read.map(|h| &ir.hooks[h]) {
                None => out.arm(&pat, &read),
                Some(h) => {
                    let method = h.read.as_deref().unwrap_or_default();
                    out.open(&format!("{pat} =>"));
                    let args = [format!("Reg::{}", s.variant), idx(r.dims.is_empty()).into()];
                    out.assign("let read =", &E::call_atoms("Read::new(", &args, ")"), ";");
                    out.line(&format!("hooks.{method}(self, read);"));
                    out.expr("", &read, "");
                    out.close();
                }
            }
        }
        out.close_with(")");
    }
    out.close();

    out.doc_line("A trapped guest write: decodes `offset`, applies the fields' write semantics");
    out.doc_line("and calls the register's write hook with the old and new values. A 32-bit");
    out.doc_line("access to a 64-bit register writes the addressed half; `value` bits beyond");
    out.doc_line("the access are ignored.");
    out.line("#[inline]");
    hooks_param(
        out,
        "write_with",
        &["offset: u64", "size: usize", "value: u64"],
        " -> Result<(), AccessError>",
    );
    out.line(&format!("let (at, lane) = {decode};"));
    if ir.slots.is_empty() {
        out.line("match at {}");
    } else {
        out.open("match at");
        for s in &ir.slots {
            let r = &ir.regs[s.reg];
            let (pat, cell) = target(s, r.dims.is_empty());
            match r.on_write.map(|h| &ir.hooks[h]) {
                None => out.arm(&pat, &cell.then(E::atom(".write(lane, value)"))),
                Some(h) => {
                    let method = h.write.as_ref().map_or("", |w| w.0.as_str());
                    out.open(&format!("{pat} =>"));
                    let seen = cell.clone().then(E::atom(".write_seen(lane, value)"));
                    out.assign("let (old, new) =", &seen, ";");
                    let args = [
                        format!("Reg::{}", s.variant),
                        idx(r.dims.is_empty()).into(),
                        "old".into(),
                        "new".into(),
                    ];
                    out.assign(
                        "let write =",
                        &E::call_atoms("Write::new(", &args, ")"),
                        ";",
                    );
                    out.line(&format!("hooks.{method}(self, write);"));
                    if ir.layouts[r.layout].mask(regmap::model::Access::Sc) != 0 {
                        out.expr("", &cell.then(E::atom(".settle()")), ";");
                    }
                    out.close();
                }
            }
        }
        out.close();
    }
    out.line("Ok(())");
    out.close();

    out.doc_line("[`RegFile::read_with`] into a little-endian byte buffer of 4 or 8 bytes.");
    hooks_param(
        out,
        "read_bytes",
        &["offset: u64", "data: &mut [u8]"],
        " -> Result<(), AccessError>",
    );
    out.line("let value = self.read_with(hooks, offset, data.len())?;");
    out.line("rt::to_bytes(value, data);");
    out.line("Ok(())");
    out.close();
    out.doc_line("[`RegFile::write_with`] from a little-endian byte buffer of 4 or 8 bytes.");
    hooks_param(
        out,
        "write_bytes",
        &["offset: u64", "data: &[u8]"],
        " -> Result<(), AccessError>",
    );
    out.line("self.write_with(hooks, offset, data.len(), rt::from_bytes(data))");
    out.close();

    if has_mapped(ir) {
        decode_doc(out);
        out.doc_line("Index-mapped aliases ask their `index_map` hook for the target element.");
        out.line("#[inline(always)]");
        out.sig(
            "fn decode<H: Hooks + ?Sized>",
            &[
                "&self".into(),
                "hooks: &mut H".into(),
                "o0: u64".into(),
                "wide: bool".into(),
            ],
            " -> Result<(At, rt::Lane), AccessError>",
        );
        node(ir, &ir.decode, 0, out);
        out.close();
    }
}

/// The `At` pattern of a slot and the chain reaching its storage cell.
fn target(s: &crate::ir::Slot, scalar: bool) -> (String, Cell) {
    let field = E::atom(format!(".{}", s.field));
    if scalar {
        (format!("At::{}", s.variant), Cell(vec![field]))
    } else {
        let at = E::atom(".at(&i)?");
        (format!("At::{}(i)", s.variant), Cell(vec![field, at]))
    }
}

/// The links after `self` reaching a storage cell.
#[derive(Clone)]
struct Cell(Vec<E>);

impl Cell {
    /// `self`, the cell's links, then `link`.
    fn then(mut self, link: E) -> E {
        self.0.push(link);
        E::Chain("self".into(), self.0)
    }
}

/// The indices argument of a hook call.
fn idx(scalar: bool) -> &'static str {
    if scalar {
        "&[]"
    } else {
        "&i"
    }
}

/// One arm of a decode level.
struct Arm<'a> {
    /// First offset it matches (sort and split key).
    key: (u64, u8, u64),
    /// Whether its pattern is a range.
    range: bool,
    pat: String,
    body: Body<'a>,
}

enum Body<'a> {
    Leaf(&'a Cand),
    Array(&'a Cand),
    /// Block arrays whose ranges overlap, tried in order.
    Group(Vec<&'a Cand>),
}

/// Writes the decode of `node` on offset `o{level}` as a block's tail
/// expression.
fn node(ir: &Ir, node: &Node, level: usize, out: &mut Out) {
    let arrays: Vec<&Cand> = node.cands.iter().filter(|c| c.is_array()).collect();
    // Block arrays whose intervals overlap become one group.
    let mut groups: Vec<Vec<&Cand>> = Vec::new();
    for a in arrays {
        match groups.last_mut() {
            Some(g) if g.iter().any(|b| a.lo <= b.hi) => g.push(a),
            _ => groups.push(vec![a]),
        }
    }
    let mut arms: Vec<Arm> = Vec::new();
    for g in &groups {
        let lo = g.iter().map(|c| c.lo).min().unwrap_or(0);
        let hi = g.iter().map(|c| c.hi).max().unwrap_or(0);
        arms.push(Arm {
            key: (lo, 1, 0),
            range: true,
            pat: range(lo, hi),
            body: if g.len() == 1 {
                Body::Array(g[0])
            } else {
                Body::Group(g.clone())
            },
        });
    }
    for c in node.cands.iter().filter(|c| !c.is_array()) {
        // An exact offset inside an array's range (a register in the gap
        // of a block array) comes first, so the range does not hide it.
        let inside = arms
            .iter()
            .find(|a| a.range && a.key.0 <= c.lo && c.lo <= range_hi(a));
        let key = match inside {
            Some(a) => (a.key.0, 0, c.lo),
            None => (c.lo, 0, c.lo),
        };
        arms.push(Arm {
            key,
            range: false,
            pat: hex(c.lo),
            body: Body::Leaf(c),
        });
    }
    arms.sort_by_key(|a| a.key);
    split(ir, &arms, level, out);
}

fn range_hi(a: &Arm<'_>) -> u64 {
    match &a.body {
        Body::Array(c) => c.hi,
        Body::Group(g) => g.iter().map(|c| c.hi).max().unwrap_or(0),
        Body::Leaf(c) => c.lo,
    }
}

fn range(lo: u64, hi: u64) -> String {
    format!("{}..={}", hex(lo), hex(hi))
}

/// `match o { arms.., _ => unmapped }`, split by offset into
/// `if o < bound { .. } else { .. }` while it has more than
/// [`RANGE_ARMS_PER_MATCH`] range arms.
fn split(ir: &Ir, arms: &[Arm<'_>], level: usize, out: &mut Out) {
    let ranges: Vec<usize> = (0..arms.len()).filter(|&i| arms[i].range).collect();
    if ranges.len() <= RANGE_ARMS_PER_MATCH {
        out.open(&format!("match o{level}"));
        for a in arms {
            arm(ir, a, level, out);
        }
        out.line("_ => Err(AccessError::Unmapped),");
        out.close();
        return;
    }
    // Split at the middle range arm: both halves get about half of the
    // range arms; the right half starts at that arm's first offset (and
    // takes the exact offsets inside its range, which sort just before it).
    let bound = arms[ranges[ranges.len() / 2]].key.0;
    let at = arms
        .iter()
        .position(|a| a.key.0 >= bound)
        .unwrap_or(arms.len());
    out.open(&format!("if o{level} < {}", hex(bound)));
    split(ir, &arms[..at], level, out);
    out.close_open("else");
    split(ir, &arms[at..], level, out);
    out.close();
}

fn arm(ir: &Ir, a: &Arm<'_>, level: usize, out: &mut Out) {
    match &a.body {
        Body::Leaf(c) => leaf(ir, &a.pat, c, out),
        Body::Array(c) => {
            out.open(&format!("{} =>", a.pat));
            array(ir, c, level, out);
            out.close();
        }
        Body::Group(g) => {
            out.open(&format!("{} =>", a.pat));
            for c in g {
                out.open(&format!("if ({}).contains(&o{level})", range(c.lo, c.hi)));
                out.open("let found =");
                array(ir, c, level, out);
                out.close_with(";");
                out.open("if found != Err(AccessError::Unmapped)");
                out.line("return found;");
                out.close();
                out.close();
            }
            out.line("Err(AccessError::Unmapped)");
            out.close();
        }
    }
}

/// The statements decoding inside an array candidate, ending in the
/// child level's `match`.
fn array(ir: &Ir, c: &Cand, level: usize, out: &mut Out) {
    let What::Array {
        stride,
        depth,
        child,
        ..
    } = &c.what
    else {
        return;
    };
    let rel = if c.lo == 0 {
        format!("o{level}")
    } else {
        format!("o{level} - {}", hex(c.lo))
    };
    out.line(&format!(
        "let (i{depth}, o{}) = rt::split({rel}, {});",
        level + 1,
        hex(*stride)
    ));
    node(ir, child, level + 1, out);
}

/// A register (or half of one) at exactly `pat`.
fn leaf(ir: &Ir, pat: &str, c: &Cand, out: &mut Out) {
    let What::Leaf { reg, high } = c.what else {
        return;
    };
    let r = &ir.regs[reg];
    let indices: Vec<String> = (0..r.dims.len()).map(|d| format!("i{d}")).collect();
    let slot = &ir.slots[r.slot];
    let wide64 = r.width == Width::W64;
    match &r.kind {
        Kind::Plain | Kind::Alias { .. } => {
            let at = if indices.is_empty() {
                E::atom(format!("At::{}", slot.variant))
            } else {
                let idx = E::call_atoms("[", &indices, "]");
                E::call(format!("At::{}(", slot.variant), vec![idx], ")")
            };
            let e = match (wide64, high) {
                (false, _) => E::call("rt::word(", vec![at, E::atom("wide")], ")"),
                (true, false) => E::call("rt::low(", vec![at, E::atom("wide")], ")"),
                (true, true) => E::call("rt::high(", vec![at], ")"),
            };
            out.arm(pat, &e);
        }
        Kind::Mapped {
            target,
            hook,
            outer,
            ..
        } => {
            let method = ir.hooks[*hook].map.as_ref().map_or("", |m| m.0.as_str());
            let counts: Vec<String> = ir.regs[*target]
                .dims
                .iter()
                .map(|d| d.count.to_string())
                .collect();
            out.open(&format!("{pat} =>"));
            out.line(&match (wide64, high) {
                (false, _) => "let lane = rt::Lane::of32(wide)?;".to_string(),
                (true, false) => "let lane = rt::Lane::of64(wide);".to_string(),
                (true, true) => "let lane = rt::Lane::High;".to_string(),
            });
            let outer_idx = E::call_atoms("&[", &indices[..(*outer).min(indices.len())], "]");
            let call = E::call(format!(".{method}("), vec![E::atom("self"), outer_idx], ")");
            out.assign("let mapped =", &E::Chain("hooks".into(), vec![call]), ";");
            let remap = E::call(
                "rt::remap(",
                vec![
                    E::atom("mapped"),
                    E::call_atoms("[", &indices, "]"),
                    E::atom(outer.to_string()),
                    E::call_atoms("[", &counts, "]"),
                ],
                ")?",
            );
            // A target outside every array (an index-mapped alias block of
            // a plain block) has a unit variant: the remap only checks the
            // hook's answer.
            let at = if counts.is_empty() {
                out.expr("", &remap, ";");
                format!("At::{}", slot.variant)
            } else {
                out.assign("let t =", &remap, ";");
                format!("At::{}(t)", slot.variant)
            };
            let pair = E::call_atoms("(", &[at, "lane".into()], ")");
            out.expr("", &E::call("Ok(", vec![pair], ")"), "");
            out.close();
        }
    }
}
