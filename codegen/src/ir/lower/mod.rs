//! Lowering: the validated model to the IR, once per map. Chooses every
//! Rust name, checks that no two generated items in one namespace get the
//! same one (a located diagnostic otherwise), computes masks, layouts,
//! storage slots, hook roles and the decode tree.

use std::collections::HashMap;

use regmap::model::{self as m, Access, Device};
use regmap::{Diagnostic, Kind as DiagKind, Span};

use crate::doc;
use crate::ir::*;
use crate::names::{camel, ident, is_identifier, snake};

mod check;
mod layouts;
mod structs;
mod tree;

/// Items every layout's module defines; a field with one of these names
/// would collide with it.
const LAYOUT_ITEMS: &[&str] = &["MASKS", "FIELDS", "Register", "Fld", "Fv", "Value"];

/// Items a register module defines besides its layout's (`COUNT` and
/// `STRIDE` only for a register array); a field of that name would collide
/// with it, or, re-exported from a fieldset, be hidden by it.
fn register_items(array: bool) -> &'static [&'static str] {
    if array {
        &["OFFSET", "WIDTH", "RESET", "COUNT", "STRIDE"]
    } else {
        &["OFFSET", "WIDTH", "RESET"]
    }
}

/// Who holds a reserved name.
const RESERVED: &str = "an item the generator emits";

/// Methods of the generated `RegFile` that register accessors must not take.
const REGFILE_METHODS: &[&str] = &[
    "new",
    "reset",
    "read",
    "write",
    "read_with",
    "write_with",
    "get",
    "set",
    "read_bytes",
    "write_bytes",
];

/// Names a block handle defines besides its accessors.
const HANDLE_METHODS: &[&str] = &["new", "mmio", "window"];

/// Items of a structure's `impl` besides its field constants.
const STRUCT_ITEMS: &[&str] = &["FIELDS", "SIZE_BYTES", "new"];

/// Lowers `dev`, or returns every problem that keeps it from becoming Rust.
pub fn lower(dev: &Device) -> Result<Ir, Vec<Diagnostic>> {
    let mut cx = Cx {
        dev,
        diags: Vec::new(),
        enum_at: index_by_name(&dev.enums, |e| &e.name),
        fieldset_at: index_by_name(&dev.fieldsets, |f| &f.name),
        struct_at: index_by_name(&dev.structs, |s| &s.name),
    };
    let ir = cx.run();
    if cx.diags.is_empty() {
        Ok(ir)
    } else {
        cx.diags.sort_by_key(|d| d.span);
        cx.diags.dedup();
        Err(cx.diags)
    }
}

struct Cx<'d> {
    dev: &'d Device,
    diags: Vec<Diagnostic>,
    /// Enum, fieldset and structure name -> index in the device (the first
    /// of a name), so lowering a map costs no scan of them per reference.
    enum_at: HashMap<&'d str, usize>,
    fieldset_at: HashMap<&'d str, usize>,
    struct_at: HashMap<&'d str, usize>,
}

/// Name -> index of the first item of each name.
fn index_by_name<T>(items: &[T], name: impl Fn(&T) -> &str) -> HashMap<&str, usize> {
    let mut at = HashMap::new();
    for (k, it) in items.iter().enumerate().rev() {
        at.insert(name(it), k);
    }
    at
}

/// One namespace of generated items: the first claim of a name wins, a
/// second is reported where it was declared.
struct Scope {
    what: String,
    seen: HashMap<String, (String, Span)>,
}

impl Scope {
    fn new(what: &str) -> Self {
        Scope {
            what: what.to_string(),
            seen: HashMap::new(),
        }
    }

    /// Claims `name` for `who` (declared at `span`); false (and a
    /// diagnostic) when the name is taken.
    fn claim(&mut self, cx: &mut Cx<'_>, name: &str, who: &str, span: Span) -> bool {
        if let Some((first, at)) = self.seen.get(name) {
            let msg = if first == RESERVED {
                format!(
                    "{who} would be generated as `{name}` in {}, where the generator already emits an item of that name: rename it",
                    self.what
                )
            } else {
                format!(
                    "{who} would be generated as `{name}` in {}, which {first} (line {}) already is: rename one",
                    self.what, at.line
                )
            };
            cx.err(DiagKind::Duplicate, span, msg);
            false
        } else {
            self.seen.insert(name.to_string(), (who.to_string(), span));
            true
        }
    }

    /// Reserves `name` for an item the generator always emits.
    fn reserve(&mut self, name: &str) {
        self.seen
            .insert(name.to_string(), (RESERVED.into(), Span::default()));
    }
}

impl Cx<'_> {
    fn err(&mut self, kind: DiagKind, span: Span, msg: String) {
        self.diags.push(Diagnostic::new(kind, span, msg));
    }

    /// Checks a map name the generator turns into an identifier.
    fn name(&mut self, name: &str, what: &str, span: Span) {
        if !is_identifier(name) {
            self.err(
                DiagKind::BadName,
                span,
                format!("{what} `{name}` is not an identifier: expected letters, digits and `_`"),
            );
        }
    }

    fn run(&mut self) -> Ir {
        let dev = self.dev;
        self.name(&dev.name, "the device name", Span::default());
        let enums = self.enums();
        let mut layouts = self.fieldsets(&enums);
        let mut regs = self.registers(&enums, &mut layouts);
        let blocks = self.blocks(&mut regs);
        let root_regs: Vec<usize> = (0..regs.len())
            .filter(|&i| regs[i].blocks.is_empty())
            .collect();
        let hooks = self.hooks(&mut regs);
        let slots = self.storage(&mut regs);
        let structs = self.structs();
        let mut ir = Ir {
            device: dev.name.clone(),
            root_ty: camel(&dev.name),
            doc: doc::lines(&dev.description),
            windows: dev
                .windows
                .iter()
                .map(|w| super::Window {
                    module: crate::names::upper(&w.name),
                    offset: w.offset,
                    size: w.size,
                    doc: doc::lines(&w.description),
                })
                .collect(),
            layouts,
            regs,
            root_regs,
            blocks,
            slots,
            decode: Node::default(),
            hooks,
            enums,
            structs,
        };
        ir.decode = super::decode::build(&ir);
        self.check_modules(&ir);
        ir
    }
}

/// The span of the first register in `b` or its nested blocks.
fn first_span(ir: &Ir, b: &Block) -> Span {
    b.regs
        .iter()
        .map(|&k| ir.regs[k].span)
        .chain(b.children.iter().map(|c| first_span(ir, c)))
        .find(|s| *s != Span::default())
        .unwrap_or_default()
}

/// Masks of `fields` per access kind, in `Access::ALL` order.
fn masks_of(fields: &[m::Field]) -> [u64; 10] {
    let mut out = [0u64; 10];
    for (slot, a) in out.iter_mut().zip(Access::ALL) {
        *slot = fields
            .iter()
            .filter(|f| f.access == a)
            .fold(0, |m, f| m | f.mask());
    }
    out
}

/// `masks` in a register of access `a`: `rw` bits follow a read-only or
/// write-only register (FORMAT.md: fieldset fields follow the register),
/// as `regmap_rt::Masks::with_access` computes it at run time.
pub fn with_access(masks: [u64; 10], a: m::RegAccess) -> [u64; 10] {
    let pos = |k: Access| Access::ALL.iter().position(|x| *x == k).unwrap_or(0);
    let mut out = masks;
    let to = match a {
        m::RegAccess::Rw => return out,
        m::RegAccess::Ro => pos(Access::Ro),
        m::RegAccess::Wo => pos(Access::Wo),
    };
    out[to] |= out[pos(Access::Rw)];
    out[pos(Access::Rw)] = 0;
    out
}

fn module_path(r: &m::Register) -> Vec<String> {
    r.blocks
        .iter()
        .map(|b| ident(b))
        .chain(std::iter::once(ident(&r.name)))
        .collect()
}

fn reg_doc(r: &m::Register) -> Vec<String> {
    let d = doc::lines(&r.description);
    if d.is_empty() {
        vec![format!("`{}`.", r.path())]
    } else {
        d
    }
}

/// Names of the index parameters of a slot's typed accessors, from its
/// dimension names (unique, never a parameter the accessors also take).
fn index_params(dims: &[Dim]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, d) in dims.iter().enumerate() {
        let mut n = snake(&d.name);
        if ["value", "clear", "set", "self_"].contains(&n.as_str()) || out.contains(&n) {
            n = format!("{n}_{k}");
        }
        out.push(n);
    }
    out
}

/// The block at dotted `path` (`Q`, `VINTF.LVCMDQ`).
fn find_block<'a>(blocks: &'a [m::Block], path: &str) -> Option<&'a m::Block> {
    let mut level = blocks;
    let mut found = None;
    for name in path.split('.') {
        let b = level.iter().find(|b| b.name == name)?;
        level = &b.blocks;
        found = Some(b);
    }
    found
}

/// Number of array dimensions contributed by the blocks along `path`.
fn block_dims(blocks: &[m::Block], path: &[&str]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter().find(|b| b.name == *first)?;
    let here = usize::from(b.count > 1);
    if rest.is_empty() {
        Some(here)
    } else {
        Some(here + block_dims(&b.blocks, rest)?)
    }
}

/// The alias block an index-mapped alias register was expanded from: the
/// first block along the register's path that declares an alias.
fn alias_block<'a>(blocks: &'a [m::Block], path: &[String]) -> Option<&'a m::Block> {
    let (first, rest) = path.split_first()?;
    let b = blocks.iter().find(|b| &b.name == first)?;
    if b.alias.is_some() {
        Some(b)
    } else {
        alias_block(&b.blocks, rest)
    }
}

/// Counting the block dimensions of a register, to tell its own array
/// dimension from its blocks'.
trait BlockDims {
    fn blocks_with_arrays(&self) -> usize;
}

impl BlockDims for m::Register {
    /// The number of `arrays` entries that belong to enclosing blocks: the
    /// dimensions named after one of its blocks, in order.
    fn blocks_with_arrays(&self) -> usize {
        let mut p = 0;
        let mut n = 0;
        for a in &self.arrays {
            if let Some(q) = self.blocks[p.min(self.blocks.len())..]
                .iter()
                .position(|b| *b == a.name)
            {
                p += q + 1;
                n += 1;
            } else {
                break;
            }
        }
        n
    }
}
