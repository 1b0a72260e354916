//! Register tables into a map, new or existing.
//!
//! Passes, each over the whole input:
//!
//! 1. **check** the tables against themselves and the base map: duplicate
//!    rows, rows naming blocks, registers or enums that exist nowhere, a
//!    register reset contradicting its fields' resets, values too wide for
//!    their fields. Every problem is reported at its CSV cell.
//! 2. **want**: what each block, register, field and enum the tables name
//!    should be. An empty cell means "the table does not say": the map's
//!    value stays (a new item gets the format's default).
//! 3. **plan**: compare with the base map's model; each difference becomes
//!    a change (reported at its CSV row) and a text edit of the map's YAML.
//!    Only changed nodes are rewritten, so comments, ordering, hooks,
//!    aliases, index maps, structures and everything else the tables do
//!    not carry are kept byte for byte.
//! 4. **load**: the edited text goes through the normal load/validate path
//!    ([`crate::load_str`]). Its diagnostics are located back at the CSV
//!    row (and cell) whose edit wrote the line, or at the map's own line.
//! 5. **verify**: the loaded model is compared with what was wanted again,
//!    and what the tables do not carry with the base map; any difference is
//!    an error, never a silently different map.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

mod lower;
mod plan;
mod verify;
mod want;

use super::export::own_dim;
use super::yaml::{self, Edit, Node};
use super::{BlockRow, EnumValueRow, FieldRow, Problems, RegisterRow, Table, Tables};
use crate::diag::{Diagnostic, Kind, Span};
use crate::model::{Access, Device, Enum, Field, RegAccess, Register, Width};
use lower::NodeEdit;

/// A YAML value whose parts know the table row they come from.
type Y = yaml::Y<Origin>;
/// Text to write, its parts marked with their table rows.
type Text = yaml::Text<Origin>;

/// One change (or note) of an import, at the table row that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The table (or map) file.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// What changed: `IDR3: reset 0x404 -> 0x1404`.
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    /// The updated map text.
    pub text: String,
    /// The updated map, loaded and validated.
    pub device: Device,
    /// Every change made, in table order.
    pub changes: Vec<Change>,
    /// Things kept as they were that the tables might have been expected
    /// to change (registers missing from the tables, alias rows skipped).
    pub notes: Vec<Change>,
}

/// Updates the map `map_text` (named `map_file` in diagnostics) from
/// `tables`. An "empty map" is one with only its `device:` (name and
/// windows); the tables do not carry windows.
pub fn import(map_file: &str, map_text: &str, tables: &Tables) -> Result<Imported, Problems> {
    let mut problems = Problems::default();
    problems.source(map_file, map_text);
    for s in tables.sources.iter().flatten() {
        problems.source(&s.file, &s.text);
    }
    let dev = match crate::load_str(map_file, map_text) {
        Ok(d) => d,
        Err(d) => {
            d.items.into_iter().for_each(|i| problems.push(map_file, i));
            return Err(problems);
        }
    };
    let root = match yaml::parse(map_text) {
        Ok(r) => r,
        Err(e) => {
            problems.push(
                map_file,
                Diagnostic::new(
                    Kind::Syntax,
                    Span::default(),
                    format!("cannot edit the map: {e}"),
                ),
            );
            return Err(problems);
        }
    };
    let mut cx = Importer::new(&dev, tables, map_file, map_text, root, problems);
    cx.check_and_want();
    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    cx.plan();
    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    let edits = std::mem::take(&mut cx.edits);
    let (text, origins) = match yaml::apply(map_text, edits) {
        Ok(x) => x,
        Err(e) => {
            cx.internal(&e);
            return Err(cx.problems);
        }
    };
    let device = match crate::load_str(map_file, &text) {
        Ok(d) => d,
        Err(d) => {
            cx.relocate(&text, &origins, d.items);
            return Err(cx.problems);
        }
    };
    cx.verify(&device);
    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    Ok(Imported {
        text,
        device,
        changes: cx.changes,
        notes: cx.notes,
    })
}

/// What asked for an edit: a table row and the positions of its cells,
/// named by the YAML key each cell becomes.
#[derive(Clone, Debug)]
struct Origin {
    file: String,
    line: u32,
    cells: Vec<(&'static str, Span)>,
}

impl Origin {
    fn cell(&self, key: &str) -> Span {
        self.cells
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Span::new(self.line, 1), |(_, s)| *s)
    }
}

/// A block the tables want.
#[derive(Clone, Debug)]
struct WantBlock<'t> {
    path: Vec<String>,
    offset: u64,
    count: Option<u32>,
    stride: Option<u64>,
    description: String,
    row: &'t BlockRow,
    exists: bool,
}

/// A field the tables want.
#[derive(Clone, Debug)]
struct WantField<'t> {
    name: String,
    lsb: u32,
    msb: u32,
    access: Access,
    reset: u64,
    enum_name: Option<String>,
    description: String,
    row: &'t FieldRow,
}

impl WantField<'_> {
    fn value_mask(&self) -> u64 {
        mask(self.msb - self.lsb + 1)
    }
}

/// A register the tables want.
#[derive(Clone, Debug)]
struct WantReg<'t> {
    blocks: Vec<String>,
    name: String,
    /// Its row in registers.csv (none when only fields.csv names it).
    row: Option<&'t RegisterRow>,
    /// Index in the base map's registers.
    existing: Option<usize>,
    offset: u64,
    width: Width,
    access: RegAccess,
    reset: u64,
    dim: Option<(u32, u64)>,
    description: String,
    /// The fields, when fields.csv lists any.
    fields: Option<Vec<WantField<'t>>>,
}

impl WantReg<'_> {
    fn path(&self) -> String {
        path_of(&self.blocks, &self.name)
    }
}

/// An enum the tables want.
#[derive(Clone, Debug)]
struct WantEnum<'t> {
    name: String,
    values: Vec<(String, u64, String, &'t EnumValueRow)>,
}

struct Importer<'a> {
    dev: &'a Device,
    t: &'a Tables,
    map_file: &'a str,
    text: &'a str,
    root: Node,
    problems: Problems,
    changes: Vec<Change>,
    notes: Vec<Change>,
    edits: Vec<Edit<Origin>>,
    node_edits: BTreeMap<usize, NodeEdit>,
    reg_index: HashMap<String, usize>,
    blocks: Vec<WantBlock<'a>>,
    regs: Vec<WantReg<'a>>,
    enums: Vec<WantEnum<'a>>,
    /// Inline enums written as part of a field item.
    inline_written: HashSet<String>,
}

fn path_of(blocks: &[String], name: &str) -> String {
    let mut p = blocks.join(".");
    if !p.is_empty() {
        p.push('.');
    }
    p.push_str(name);
    p
}

fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

fn hex(v: u64) -> Y {
    Y::S(format!("{v:#x}"))
}

fn dec(v: impl fmt::Display) -> Y {
    Y::S(v.to_string())
}

fn bits_y(msb: u32, lsb: u32) -> Y {
    if msb == lsb {
        dec(msb)
    } else {
        Y::S(format!("\"{msb}:{lsb}\""))
    }
}

fn default_access(r: RegAccess) -> Access {
    match r {
        RegAccess::Rw => Access::Rw,
        RegAccess::Ro => Access::Ro,
        RegAccess::Wo => Access::Wo,
    }
}

/// What a fieldset field declared with `a` becomes in a register with access `r`.
fn in_register(a: Access, r: RegAccess) -> Access {
    if a == Access::Rw {
        default_access(r)
    } else {
        a
    }
}

fn width_of(bits: u32) -> Option<Width> {
    match bits {
        32 => Some(Width::W32),
        64 => Some(Width::W64),
        _ => None,
    }
}

impl<'a> Importer<'a> {
    pub(super) fn new(
        dev: &'a Device,
        t: &'a Tables,
        map_file: &'a str,
        text: &'a str,
        root: Node,
        problems: Problems,
    ) -> Self {
        let reg_index = dev
            .registers
            .iter()
            .enumerate()
            .map(|(i, r)| (r.path(), i))
            .collect();
        Importer {
            dev,
            t,
            map_file,
            text,
            root,
            problems,
            changes: Vec::new(),
            notes: Vec::new(),
            edits: Vec::new(),
            node_edits: BTreeMap::new(),
            reg_index,
            blocks: Vec::new(),
            regs: Vec::new(),
            enums: Vec::new(),
            inline_written: HashSet::new(),
        }
    }

    pub(super) fn file(&self, t: Table) -> String {
        self.t.file_of(t).to_string()
    }

    pub(super) fn err(&mut self, t: Table, span: Span, kind: Kind, msg: impl Into<String>) {
        let f = self.file(t);
        self.problems.push(&f, Diagnostic::new(kind, span, msg));
    }

    pub(super) fn internal(&mut self, msg: &str) {
        let f = self.map_file.to_string();
        self.problems.push(
            &f,
            Diagnostic::new(
                Kind::Syntax,
                Span::default(),
                format!("internal error of the importer (the map was not written): {msg}"),
            ),
        );
    }

    pub(super) fn change(&mut self, t: Table, line: u32, what: String) {
        let file = self.file(t);
        self.changes.push(Change { file, line, what });
    }

    pub(super) fn note(&mut self, t: Table, line: u32, what: String) {
        let file = self.file(t);
        self.notes.push(Change { file, line, what });
    }

    pub(super) fn at(&self, t: Table, line: u32) -> String {
        format!("{}:{line}", self.t.file_of(t))
    }

    // ----- lookups in the base map -----

    pub(super) fn block_of(&self, path: &[String]) -> Option<&'a crate::model::Block> {
        let mut level = &self.dev.blocks;
        let mut found = None;
        for name in path {
            let b = level.iter().find(|b| &b.name == name)?;
            level = &b.blocks;
            found = Some(b);
        }
        found
    }

    /// Absolute base of element 0 of the block at `path` (0 for the top level).
    pub(super) fn block_base(&self, path: &[String]) -> u64 {
        let mut level = &self.dev.blocks;
        let mut base = 0u64;
        for name in path {
            match level.iter().find(|b| &b.name == name) {
                Some(b) => {
                    base = base.saturating_add(b.offset);
                    level = &b.blocks;
                }
                None => break,
            }
        }
        base
    }

    pub(super) fn rel_offset(&self, r: &Register) -> u64 {
        r.offset.saturating_sub(self.block_base(&r.blocks))
    }

    pub(super) fn existing_dim(&self, r: &Register) -> Option<(u32, u64)> {
        own_dim(self.dev, r).map(|d| (d.count, d.stride))
    }

    /// The YAML node holding the lists of `blocks` (root or a block mapping).
    pub(super) fn container_node(&self, blocks: &[String]) -> Option<&Node> {
        let mut n = &self.root;
        for b in blocks {
            n = n.get("blocks")?.item_named(b)?.1;
        }
        Some(n)
    }

    pub(super) fn register_node(&self, blocks: &[String], name: &str) -> Option<&Node> {
        self.container_node(blocks)?
            .get("registers")?
            .item_named(name)
            .map(|(_, n)| n)
    }
}
