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

use super::export::{export, implicit_value_field, own_dim};
use super::yaml::{self, Edit, LineOrigin, Node, NodeKind, Y};
use super::{BlockRow, EnumValueRow, FieldRow, Problems, RegisterRow, Table, Tables};
use crate::diag::{Diagnostic, Kind, Span};
use crate::model::{Access, Device, Enum, Field, RegAccess, Register, Width};

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

/// A pending rewrite of one YAML mapping node.
struct NodeEdit {
    node: Node,
    order: &'static [&'static str],
    origin: Origin,
    set: Vec<(String, Y, Origin)>,
    remove: Vec<String>,
    lists: Vec<(String, Vec<ItemOp>)>,
}

/// An operation on a list (sequence) of a mapping.
enum ItemOp {
    Replace(usize, Y, Origin),
    Remove(usize, Origin),
    /// Insert before item `Some(i)`, or at the end.
    Insert(Option<usize>, Y, Origin),
}

const REG_ORDER: &[&str] = &[
    "name",
    "offset",
    "width",
    "access",
    "reset",
    "count",
    "stride",
    "description",
    "fieldset",
    "fields",
    "alias",
    "on_write",
    "on_read",
];
const BLOCK_ORDER: &[&str] = &[
    "name",
    "offset",
    "count",
    "stride",
    "description",
    "alias",
    "index_map",
    "registers",
    "blocks",
];
const ENUM_ORDER: &[&str] = &["name", "description", "bits", "values"];
const FIELDSET_ORDER: &[&str] = &["name", "description", "width", "fields"];
const ROOT_ORDER: &[&str] = &[
    "device",
    "hooks",
    "enums",
    "fieldsets",
    "registers",
    "blocks",
    "structs",
];

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
    fn new(
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

    fn file(&self, t: Table) -> String {
        self.t.file_of(t).to_string()
    }

    fn err(&mut self, t: Table, span: Span, kind: Kind, msg: impl Into<String>) {
        let f = self.file(t);
        self.problems.push(&f, Diagnostic::new(kind, span, msg));
    }

    fn internal(&mut self, msg: &str) {
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

    fn change(&mut self, t: Table, line: u32, what: String) {
        let file = self.file(t);
        self.changes.push(Change { file, line, what });
    }

    fn note(&mut self, t: Table, line: u32, what: String) {
        let file = self.file(t);
        self.notes.push(Change { file, line, what });
    }

    fn at(&self, t: Table, line: u32) -> String {
        format!("{}:{line}", self.t.file_of(t))
    }

    // ----- lookups in the base map -----

    fn block_of(&self, path: &[String]) -> Option<&'a crate::model::Block> {
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
    fn block_base(&self, path: &[String]) -> u64 {
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

    fn rel_offset(&self, r: &Register) -> u64 {
        r.offset.saturating_sub(self.block_base(&r.blocks))
    }

    fn existing_dim(&self, r: &Register) -> Option<(u32, u64)> {
        own_dim(self.dev, r).map(|d| (d.count, d.stride))
    }

    /// The YAML node holding the lists of `blocks` (root or a block mapping).
    fn container_node(&self, blocks: &[String]) -> Option<&Node> {
        let mut n = &self.root;
        for b in blocks {
            n = n.get("blocks")?.item_named(b)?.1;
        }
        Some(n)
    }

    fn register_node(&self, blocks: &[String], name: &str) -> Option<&Node> {
        self.container_node(blocks)?
            .get("registers")?
            .item_named(name)
            .map(|(_, n)| n)
    }

    // ----- pass 1 and 2: check the tables, build what they want -----

    fn check_and_want(&mut self) {
        self.want_blocks();
        self.want_registers();
        self.want_fields();
        self.want_enums();
        self.check_enum_refs();
    }

    fn split(path: &str) -> Vec<String> {
        path.split('.').map(|s| s.trim().to_string()).collect()
    }

    fn want_blocks(&mut self) {
        let t = self.t;
        let mut seen: HashMap<String, u32> = HashMap::new();
        for row in &t.blocks {
            let (Some(path), Some(offset)) = (&row.path.value, row.offset.value) else {
                continue;
            };
            if let Some(first) = seen.insert(path.clone(), row.line) {
                let msg = format!(
                    "block `{path}` appears twice (first at {})",
                    self.at(Table::Blocks, first)
                );
                self.err(Table::Blocks, row.path.span, Kind::Duplicate, msg);
                continue;
            }
            let segs = Self::split(path);
            let existing = self.block_of(&segs);
            if existing.is_some_and(|b| b.alias.is_some()) {
                let msg = format!("block `{path}` is an alias block in the map; the tables do not carry aliases (remove the row)");
                self.err(Table::Blocks, row.path.span, Kind::BadAlias, msg);
                continue;
            }
            self.blocks.push(WantBlock {
                path: segs,
                offset,
                count: row
                    .count
                    .value
                    .or(existing.and_then(|b| (b.count > 1).then_some(b.count))),
                stride: row
                    .stride
                    .value
                    .or(existing.and_then(|b| (b.count > 1).then_some(b.stride))),
                description: row
                    .description
                    .value
                    .clone()
                    .or(existing.map(|b| b.description.clone()))
                    .unwrap_or_default(),
                row,
                exists: existing.is_some(),
            });
        }
        // Every new block's parent exists somewhere.
        let known: HashSet<Vec<String>> = self.blocks.iter().map(|b| b.path.clone()).collect();
        for i in 0..self.blocks.len() {
            let b = &self.blocks[i];
            if b.exists || b.path.len() < 2 {
                continue;
            }
            let parent = &b.path[..b.path.len() - 1];
            if self.block_of(parent).is_none() && !known.contains(parent) {
                let (span, p) = (b.row.path.span, parent.join("."));
                let msg =
                    format!("the enclosing block `{p}` is neither in the map nor in blocks.csv");
                self.err(Table::Blocks, span, Kind::UnknownReference, msg);
            }
        }
    }

    fn block_known(&self, segs: &[String]) -> bool {
        self.block_of(segs).is_some_and(|b| b.alias.is_none())
            || self.blocks.iter().any(|b| b.path == segs)
    }

    fn want_registers(&mut self) {
        let t = self.t;
        let mut seen: HashMap<String, u32> = HashMap::new();
        for row in &t.registers {
            let (Some(name), Some(offset)) = (&row.name.value, row.offset.value) else {
                continue;
            };
            let blocks = row
                .block
                .value
                .as_deref()
                .map(Self::split)
                .unwrap_or_default();
            let path = path_of(&blocks, name);
            if let Some(first) = seen.insert(path.clone(), row.line) {
                let msg = format!(
                    "register `{path}` appears twice (first at {})",
                    self.at(Table::Registers, first)
                );
                self.err(Table::Registers, row.name.span, Kind::Duplicate, msg);
                continue;
            }
            if !blocks.is_empty() && !self.block_known(&blocks) {
                let msg = format!(
                    "block `{}` is neither in the map nor in blocks.csv",
                    blocks.join(".")
                );
                self.err(
                    Table::Registers,
                    row.block.span,
                    Kind::UnknownReference,
                    msg,
                );
                continue;
            }
            let existing = self.reg_index.get(&path).copied();
            let ex = existing.map(|i| &self.dev.registers[i]);
            if let Some(r) = ex.filter(|r| r.alias.is_some()) {
                let target = r.alias.as_ref().map_or("", |a| a.target_path.as_str());
                let msg = format!("{path} is an alias of {target} in the map: row skipped (aliases are not imported)");
                self.note(Table::Registers, row.line, msg);
                continue;
            }
            let width = match row.width.value {
                None => ex.map_or(Width::W32, |r| r.width),
                Some(w) => match width_of(w) {
                    Some(w) => w,
                    None => {
                        let msg = format!("width must be 32 or 64, found {w}");
                        self.err(Table::Registers, row.width.span, Kind::BadWidth, msg);
                        continue;
                    }
                },
            };
            if let Some(r) = row.reset.value {
                if r & !width.mask() != 0 {
                    let msg = format!(
                        "reset {r:#x} does not fit the {}-bit register",
                        width.bits()
                    );
                    self.err(Table::Registers, row.reset.span, Kind::ValueTooWide, msg);
                    continue;
                }
            }
            let dim = match (row.count.value, row.stride.value) {
                (None, None) => ex.and_then(|r| self.existing_dim(r)),
                (c, s) => {
                    let old = ex.and_then(|r| self.existing_dim(r));
                    Some((
                        c.or(old.map(|o| o.0)).unwrap_or(1),
                        s.or(old.map(|o| o.1)).unwrap_or(0),
                    ))
                }
            };
            self.regs.push(WantReg {
                blocks,
                name: name.clone(),
                row: Some(row),
                existing,
                offset,
                width,
                access: row
                    .access
                    .value
                    .or(ex.map(|r| r.access))
                    .unwrap_or(RegAccess::Rw),
                reset: row.reset.value.or(ex.map(|r| r.reset)).unwrap_or(0),
                dim,
                description: row
                    .description
                    .value
                    .clone()
                    .or(ex.map(|r| r.description.clone()))
                    .unwrap_or_default(),
                fields: None,
            });
        }
        if t.has(Table::Registers) {
            let listed: HashSet<String> = self.regs.iter().map(WantReg::path).collect();
            let skipped: HashSet<String> = t.registers.iter().map(RegisterRow::path).collect();
            for r in self.dev.registers.iter().filter(|r| r.alias.is_none()) {
                let p = r.path();
                if !listed.contains(&p) && !skipped.contains(&p) {
                    let f = self.map_file.to_string();
                    self.notes.push(Change {
                        file: f,
                        line: r.span.line,
                        what: format!("{p} is not in registers.csv: kept"),
                    });
                }
            }
        }
    }

    fn want_fields(&mut self) {
        let t = self.t;
        // Rows grouped by register, in table order.
        let mut groups: Vec<(String, Vec<&'a FieldRow>)> = Vec::new();
        for row in &t.fields {
            let Some(reg) = &row.register.value else {
                continue;
            };
            match groups.iter_mut().find(|(r, _)| r == reg) {
                Some((_, g)) => g.push(row),
                None => groups.push((reg.clone(), vec![row])),
            }
        }
        for (reg, rows) in groups {
            let wi = match self.regs.iter().position(|w| w.path() == reg) {
                Some(i) => i,
                None => match self.reg_index.get(&reg).copied() {
                    Some(i) if self.dev.registers[i].alias.is_some() => {
                        let msg = format!("{reg} is an alias in the map: its field rows are skipped (aliases are not imported)");
                        self.note(Table::Fields, rows[0].line, msg);
                        continue;
                    }
                    Some(i) => {
                        let r = &self.dev.registers[i];
                        self.regs.push(WantReg {
                            blocks: r.blocks.clone(),
                            name: r.name.clone(),
                            row: None,
                            existing: Some(i),
                            offset: self.rel_offset(r),
                            width: r.width,
                            access: r.access,
                            reset: r.reset,
                            dim: self.existing_dim(r),
                            description: r.description.clone(),
                            fields: None,
                        });
                        self.regs.len() - 1
                    }
                    None => {
                        if t.registers.iter().any(|r| r.path() == reg) {
                            continue; // its register row was rejected already
                        }
                        let msg =
                            format!("register `{reg}` is neither in the map nor in registers.csv");
                        self.err(
                            Table::Fields,
                            rows[0].register.span,
                            Kind::UnknownReference,
                            msg,
                        );
                        continue;
                    }
                },
            };
            let fields = self.want_register_fields(wi, &rows);
            let w = &mut self.regs[wi];
            let reg_reset_cell = w.row.and_then(|r| r.reset.value.map(|v| (v, r.line)));
            let mut reset = 0u64;
            let mut bad = Vec::new();
            let mut fields = fields;
            for f in &mut fields {
                let vmask = f.value_mask();
                if let Some((r, line)) = reg_reset_cell {
                    let from_reg = (r >> f.lsb) & vmask;
                    match f.row.reset.value {
                        Some(v) if v != from_reg => bad.push((f.row.reset.span, format!(
                            "`{}` resets to {v:#x} here, but the register reset {r:#x} (registers.csv:{line}) gives bits {}:{} the value {from_reg:#x}",
                            f.name, f.msb, f.lsb
                        ))),
                        _ => f.reset = from_reg,
                    }
                }
                reset |= f.reset << f.lsb;
            }
            w.reset = reg_reset_cell.map_or(reset, |(r, _)| r);
            w.fields = Some(fields);
            for (span, msg) in bad {
                self.err(Table::Fields, span, Kind::BadReset, msg);
            }
        }
    }

    /// The wanted fields of register `wi` from its rows.
    fn want_register_fields(&mut self, wi: usize, rows: &[&'a FieldRow]) -> Vec<WantField<'a>> {
        let ex = self.regs[wi].existing.map(|i| &self.dev.registers[i]);
        let reg_access = self.regs[wi].access;
        let reg_path = self.regs[wi].path();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut out = Vec::new();
        for row in rows {
            let (Some(name), Some(msb), Some(lsb)) =
                (&row.name.value, row.msb.value, row.lsb.value)
            else {
                continue;
            };
            if let Some(first) = seen.insert(name, row.line) {
                let msg = format!(
                    "field `{name}` of `{reg_path}` appears twice (first at {})",
                    self.at(Table::Fields, first)
                );
                self.err(Table::Fields, row.name.span, Kind::Duplicate, msg);
                continue;
            }
            if msb < lsb {
                let msg = format!("bit range {msb}:{lsb} is reversed: expected msb >= lsb");
                self.err(Table::Fields, row.msb.span, Kind::BadBits, msg);
                continue;
            }
            if msb > 63 {
                let msg = format!("bit {msb} is past bit 63");
                self.err(Table::Fields, row.msb.span, Kind::BadBits, msg);
                continue;
            }
            let old: Option<&Field> = ex.and_then(|r| r.field(name));
            let access = row
                .access
                .value
                .or(old.map(|f| f.access))
                .unwrap_or(default_access(reg_access));
            let vmask = mask(msb - lsb + 1);
            if let Some(v) = row.reset.value {
                if v & !vmask != 0 {
                    let msg = format!(
                        "reset {v:#x} does not fit the {}-bit field `{name}`",
                        msb - lsb + 1
                    );
                    self.err(Table::Fields, row.reset.span, Kind::ValueTooWide, msg);
                    continue;
                }
            }
            let reset = row
                .reset
                .value
                .or(old.map(|f| f.reset))
                .unwrap_or(if access == Access::Res1 { vmask } else { 0 });
            out.push(WantField {
                name: name.clone(),
                lsb,
                msb,
                access,
                reset,
                enum_name: row
                    .enum_name
                    .value
                    .clone()
                    .or(old.and_then(|f| f.enum_name.clone())),
                description: row
                    .description
                    .value
                    .clone()
                    .or(old.map(|f| f.description.clone()))
                    .unwrap_or_default(),
                row,
            });
        }
        out.sort_by_key(|f| f.lsb);
        out
    }

    fn want_enums(&mut self) {
        let t = self.t;
        let mut seen: HashMap<(String, String), u32> = HashMap::new();
        for row in &t.enums {
            let (Some(en), Some(name), Some(value)) =
                (&row.enum_name.value, &row.name.value, row.value.value)
            else {
                continue;
            };
            if let Some(first) = seen.insert((en.clone(), name.clone()), row.line) {
                let msg = format!(
                    "value `{name}` of enum `{en}` appears twice (first at {})",
                    self.at(Table::Enums, first)
                );
                self.err(Table::Enums, row.name.span, Kind::Duplicate, msg);
                continue;
            }
            let old = self
                .dev
                .enum_by_name(en)
                .and_then(|e| e.values.iter().find(|v| &v.name == name));
            let description = row
                .description
                .value
                .clone()
                .or(old.map(|v| v.description.clone()))
                .unwrap_or_default();
            match self.enums.iter_mut().find(|e| &e.name == en) {
                Some(e) => e.values.push((name.clone(), value, description, row)),
                None => self.enums.push(WantEnum {
                    name: en.clone(),
                    values: vec![(name.clone(), value, description, row)],
                }),
            }
        }
    }

    fn check_enum_refs(&mut self) {
        let mut bad = Vec::new();
        for w in &self.regs {
            for f in w.fields.iter().flatten() {
                if let Some(e) = &f.enum_name {
                    let known = self.dev.enum_by_name(e).is_some()
                        || self.enums.iter().any(|x| &x.name == e);
                    if !known {
                        bad.push((
                            f.row.enum_name.span,
                            format!("unknown enum `{e}`: give its values in enums.csv"),
                        ));
                    }
                }
            }
        }
        for (span, msg) in bad {
            self.err(Table::Fields, span, Kind::UnknownReference, msg);
        }
        // Every value of an enum from enums.csv fits every field using it.
        let mut users: Vec<(String, String, u32)> = Vec::new();
        for w in &self.regs {
            for f in w.fields.iter().flatten() {
                if let Some(e) = &f.enum_name {
                    users.push((
                        e.clone(),
                        format!("{}.{}", w.path(), f.name),
                        f.msb - f.lsb + 1,
                    ));
                }
            }
        }
        let named: HashSet<String> = users.iter().map(|(_, p, _)| p.clone()).collect();
        for r in self.dev.registers.iter().filter(|r| r.alias.is_none()) {
            for f in &r.fields {
                let p = format!("{}.{}", r.path(), f.name);
                if let (Some(e), false) = (&f.enum_name, named.contains(&p)) {
                    users.push((e.clone(), p, f.width()));
                }
            }
        }
        let mut too_wide = Vec::new();
        for e in &self.enums {
            for (en, field, width) in users.iter().filter(|(n, ..)| n == &e.name) {
                let _ = en;
                for (n, v, _, row) in &e.values {
                    if v & !mask(*width) != 0 {
                        too_wide.push((row.value.span, format!("value {v:#x} of `{n}` does not fit the {width}-bit field {field} that uses enum `{}`", e.name)));
                    }
                }
            }
        }
        for (span, msg) in too_wide {
            self.err(Table::Enums, span, Kind::ValueTooWide, msg);
        }
    }

    // ----- origins -----

    fn reg_origin(&self, w: &WantReg) -> Origin {
        match w.row {
            Some(r) => Origin {
                file: self.file(Table::Registers),
                line: r.line,
                cells: vec![
                    ("name", r.name.span),
                    ("offset", r.offset.span),
                    ("width", r.width.span),
                    ("access", r.access.span),
                    ("reset", r.reset.span),
                    ("count", r.count.span),
                    ("stride", r.stride.span),
                    ("description", r.description.span),
                ],
            },
            None => self.field_origin(w.fields.as_ref().and_then(|f| f.first()).map(|f| f.row)),
        }
    }

    fn field_origin(&self, row: Option<&FieldRow>) -> Origin {
        match row {
            Some(r) => Origin {
                file: self.file(Table::Fields),
                line: r.line,
                cells: vec![
                    ("name", r.name.span),
                    ("bits", r.msb.span),
                    ("access", r.access.span),
                    ("reset", r.reset.span),
                    ("enum", r.enum_name.span),
                    ("values", r.enum_name.span),
                    ("description", r.description.span),
                ],
            },
            None => Origin {
                file: self.file(Table::Fields),
                line: 1,
                cells: Vec::new(),
            },
        }
    }

    fn enum_origin(&self, r: &EnumValueRow) -> Origin {
        Origin {
            file: self.file(Table::Enums),
            line: r.line,
            cells: vec![
                ("name", r.name.span),
                ("value", r.value.span),
                ("description", r.description.span),
            ],
        }
    }

    fn block_origin(&self, r: &BlockRow) -> Origin {
        Origin {
            file: self.file(Table::Blocks),
            line: r.line,
            cells: vec![
                ("name", r.path.span),
                ("offset", r.offset.span),
                ("count", r.count.span),
                ("stride", r.stride.span),
                ("description", r.description.span),
            ],
        }
    }

    // ----- pass 3: plan changes and edits -----

    fn node_edit(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        origin: &Origin,
    ) -> &mut NodeEdit {
        self.node_edits
            .entry(node.start)
            .or_insert_with(|| NodeEdit {
                node: node.clone(),
                order,
                origin: origin.clone(),
                set: Vec::new(),
                remove: Vec::new(),
                lists: Vec::new(),
            })
    }

    fn list_op(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        key: &str,
        op: ItemOp,
        origin: &Origin,
    ) {
        let ne = self.node_edit(node, order, origin);
        match ne.lists.iter_mut().find(|(k, _)| k == key) {
            Some((_, ops)) => ops.push(op),
            None => ne.lists.push((key.to_string(), vec![op])),
        }
    }

    fn set_key(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        key: &str,
        y: Y,
        origin: &Origin,
    ) {
        self.node_edit(node, order, origin)
            .set
            .push((key.to_string(), y, origin.clone()));
    }

    fn plan(&mut self) {
        self.plan_blocks();
        let regs = std::mem::take(&mut self.regs);
        let fieldset_users = self.plan_fieldsets(&regs);
        let mut new_regs: Vec<&WantReg> = Vec::new();
        for (i, w) in regs.iter().enumerate() {
            match w.existing {
                Some(_) => self.plan_register(i, w, &fieldset_users),
                None => new_regs.push(w),
            }
        }
        self.plan_new_registers(&new_regs, &regs);
        self.plan_new_blocks(&regs);
        self.regs = regs;
        self.plan_enums();
        self.lower();
    }

    fn plan_blocks(&mut self) {
        for i in 0..self.blocks.len() {
            let w = self.blocks[i].clone();
            if !w.exists {
                continue;
            }
            let Some(b) = self.block_of(&w.path) else {
                continue;
            };
            let o = self.block_origin(w.row);
            let (line, p) = (w.row.line, w.path.join("."));
            let Some(node) = self.container_node(&w.path).cloned() else {
                self.internal(&format!("block {p} not found in the YAML"));
                continue;
            };
            if w.offset != b.offset {
                self.change(
                    Table::Blocks,
                    line,
                    format!("{p}: offset {:#x} -> {:#x}", b.offset, w.offset),
                );
                self.set_key(&node, BLOCK_ORDER, "offset", hex(w.offset), &o);
            }
            let old = (b.count > 1).then_some((b.count, b.stride));
            let new = w.count.map(|c| (c, w.stride.unwrap_or(0)));
            if old != new {
                let show = |d: Option<(u32, u64)>| {
                    d.map_or("not an array".to_string(), |(c, s)| {
                        format!("count {c} stride {s:#x}")
                    })
                };
                self.change(
                    Table::Blocks,
                    line,
                    format!("{p}: {} -> {}", show(old), show(new)),
                );
                if let Some(c) = w.count {
                    self.set_key(&node, BLOCK_ORDER, "count", dec(c), &o);
                }
                if let Some(s) = w.stride {
                    self.set_key(&node, BLOCK_ORDER, "stride", hex(s), &o);
                }
            }
            if w.description != b.description {
                self.change(Table::Blocks, line, format!("{p}: description changed"));
                self.set_key(
                    &node,
                    BLOCK_ORDER,
                    "description",
                    Y::S(yaml::string(&w.description)),
                    &o,
                );
            }
        }
    }

    /// Fieldsets whose users all want the same new fields are edited in
    /// place; returns the registers (by want index) handled that way.
    fn plan_fieldsets(&mut self, regs: &[WantReg<'a>]) -> HashSet<usize> {
        let mut handled = HashSet::new();
        let mut by_fs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, w) in regs.iter().enumerate() {
            let Some(ex) = w.existing.map(|e| &self.dev.registers[e]) else {
                continue;
            };
            if let (Some(fs), Some(_)) = (&ex.fieldset, &w.fields) {
                by_fs.entry(fs.clone()).or_default().push(i);
            }
        }
        for (fs_name, wants) in by_fs {
            let Some(fs) = self.dev.fieldsets.iter().find(|f| f.name == fs_name) else {
                continue;
            };
            let users = self
                .dev
                .registers
                .iter()
                .filter(|r| r.alias.is_none() && r.fieldset.as_deref() == Some(&fs_name))
                .count();
            let norm: Vec<Vec<WantField>> = wants
                .iter()
                .map(|&i| {
                    let w = &regs[i];
                    w.fields
                        .iter()
                        .flatten()
                        .map(|f| {
                            let cur = fs
                                .fields
                                .iter()
                                .find(|x| x.name == f.name)
                                .map(|x| x.access);
                            let access = match cur {
                                Some(c) if in_register(c, w.access) == f.access => c,
                                _ if in_register(Access::Rw, w.access) == f.access => Access::Rw,
                                _ => f.access,
                            };
                            WantField {
                                access,
                                ..f.clone()
                            }
                        })
                        .collect()
                })
                .collect();
            let same = |a: &[WantField], b: &[Field]| {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| {
                        x.name == y.name
                            && x.lsb == y.lsb
                            && x.msb == y.msb
                            && x.access == y.access
                            && x.enum_name == y.enum_name
                            && x.description == y.description
                    })
            };
            let all_agree = norm.windows(2).all(|p| {
                p[0].len() == p[1].len()
                    && p[0].iter().zip(&p[1]).all(|(x, y)| {
                        (
                            &x.name,
                            x.lsb,
                            x.msb,
                            x.access,
                            &x.enum_name,
                            &x.description,
                        ) == (
                            &y.name,
                            y.lsb,
                            y.msb,
                            y.access,
                            &y.enum_name,
                            &y.description,
                        )
                    })
            });
            if norm.iter().all(|n| same(n, &fs.fields)) {
                handled.extend(wants.iter().copied());
                continue;
            }
            if !(all_agree && wants.len() == users) {
                continue; // the differing registers get their own fields
            }
            // Edit the fieldset itself.
            let Some(node) = self
                .root
                .get("fieldsets")
                .and_then(|l| l.item_named(&fs_name))
                .map(|(_, n)| n.clone())
            else {
                self.internal(&format!("fieldset {fs_name} not found in the YAML"));
                continue;
            };
            let names: Vec<String> = wants.iter().map(|&i| regs[i].path()).collect();
            let first = &regs[wants[0]];
            for &i in &wants {
                let w = &regs[i];
                let ex = &self.dev.registers[w.existing.unwrap_or(0)];
                self.report_field_changes(
                    w,
                    ex,
                    &format!(" (in fieldset {fs_name}, shared by {})", names.join(", ")),
                );
            }
            let fields_list = node.get("fields").cloned();
            let fake = WantReg {
                access: RegAccess::Rw,
                ..first.clone()
            };
            self.plan_field_list(
                &node,
                FIELDSET_ORDER,
                fields_list.as_ref(),
                &norm[0],
                &fs.fields,
                &fake,
                &fs_name,
            );
            handled.extend(wants.iter().copied());
        }
        handled
    }

    fn report_field_changes(&mut self, w: &WantReg, ex: &Register, suffix: &str) {
        let p = w.path();
        let Some(want) = &w.fields else { return };
        for f in want {
            let line = f.row.line;
            match ex.field(&f.name) {
                None => self.change(
                    Table::Fields,
                    line,
                    format!(
                        "{p}.{}: new field, bits {}:{} {}{suffix}",
                        f.name,
                        f.msb,
                        f.lsb,
                        f.access.as_str()
                    ),
                ),
                Some(old) => {
                    let mut what = Vec::new();
                    if (old.msb, old.lsb) != (f.msb, f.lsb) {
                        what.push(format!(
                            "bits {}:{} -> {}:{}",
                            old.msb, old.lsb, f.msb, f.lsb
                        ));
                    }
                    if old.access != f.access {
                        what.push(format!(
                            "access {} -> {}",
                            old.access.as_str(),
                            f.access.as_str()
                        ));
                    }
                    if old.reset != f.reset {
                        what.push(format!("reset {:#x} -> {:#x}", old.reset, f.reset));
                    }
                    if old.enum_name != f.enum_name {
                        let s = |e: &Option<String>| e.clone().unwrap_or_else(|| "none".into());
                        what.push(format!("enum {} -> {}", s(&old.enum_name), s(&f.enum_name)));
                    }
                    if old.description != f.description {
                        what.push("description changed".into());
                    }
                    if !what.is_empty() {
                        self.change(
                            Table::Fields,
                            line,
                            format!("{p}.{}: {}{suffix}", f.name, what.join(", ")),
                        );
                    }
                }
            }
        }
        if implicit_value_field(ex) {
            return;
        }
        let line = want.first().map_or(0, |f| f.row.line);
        for old in &ex.fields {
            if !want.iter().any(|f| f.name == old.name) {
                self.change(
                    Table::Fields,
                    line,
                    format!("{p}.{}: removed (not in fields.csv){suffix}", old.name),
                );
            }
        }
    }

    fn fields_differ(want: &[WantField], have: &[Field]) -> bool {
        want.len() != have.len()
            || want.iter().zip(have).any(|(x, y)| {
                (
                    &x.name,
                    x.lsb,
                    x.msb,
                    x.access,
                    x.reset,
                    &x.enum_name,
                    &x.description,
                ) != (
                    &y.name,
                    y.lsb,
                    y.msb,
                    y.access,
                    y.reset,
                    &y.enum_name,
                    &y.description,
                )
            })
    }

    /// Whether the enum `name`, used by field `field` of `owner`, is (or is
    /// to be) written inline in the field.
    fn inline_enum(&self, owner: &str, field: &str, name: &str) -> bool {
        let own = format!("{owner}_{field}");
        name == own
            && match self.dev.enum_by_name(name) {
                Some(e) => e.inline,
                None => true,
            }
    }

    /// The YAML of a field item. `old` is the item it replaces and the
    /// field it described: keys whose value did not change are copied
    /// verbatim, so their spelling and quoting stay.
    fn field_y(
        &mut self,
        f: &WantField,
        reg_default: Access,
        old: Option<(&Node, &Field)>,
        owner: &str,
    ) -> Y {
        let item = old.map(|(n, _)| n);
        let was = old.map(|(_, f)| f);
        let keep = |this: &Self, key: &str, unchanged: bool, y: Y| -> Y {
            match item.and_then(|n| n.entry(key)) {
                Some((k, v)) if unchanged => this.verbatim(k, v).unwrap_or(y),
                _ => y,
            }
        };
        let mut es = vec![("name".to_string(), Y::S(f.name.clone()))];
        let same_bits = was.is_some_and(|o| (o.msb, o.lsb) == (f.msb, f.lsb));
        es.push((
            "bits".into(),
            keep(self, "bits", same_bits, bits_y(f.msb, f.lsb)),
        ));
        let had = |k: &str| item.is_some_and(|n| n.get(k).is_some());
        if f.access != reg_default || had("access") {
            let same = was.is_some_and(|o| o.access == f.access);
            es.push((
                "access".into(),
                keep(self, "access", same, Y::S(f.access.as_str().into())),
            ));
        }
        if had("reset") {
            let same = was.is_some_and(|o| o.reset == f.reset);
            es.push(("reset".into(), keep(self, "reset", same, hex(f.reset))));
        }
        let same_desc = was.is_some_and(|o| o.description == f.description);
        let desc = keep(
            self,
            "description",
            same_desc,
            Y::S(yaml::string(&f.description)),
        );
        if let Some(e) = &f.enum_name {
            if self.inline_enum(owner, &f.name, e) {
                let values = self.enum_values_y(e, item.and_then(|n| n.get("values")));
                self.inline_written.insert(e.clone());
                if !f.description.is_empty() {
                    es.push(("description".into(), desc));
                }
                es.push(("values".into(), Y::L(values)));
                return Y::M(es);
            }
            let same = was.is_some_and(|o| o.enum_name.as_deref() == Some(e));
            es.push(("enum".into(), keep(self, "enum", same, Y::S(e.clone()))));
        }
        if !f.description.is_empty() {
            es.push(("description".into(), desc));
        }
        Y::M(es)
    }

    /// The value items of enum `name`: from enums.csv when it lists the
    /// enum, else from the map. Items of `old` (the list being replaced)
    /// whose value did not change are copied verbatim.
    fn enum_values_y(&self, name: &str, old: Option<&Node>) -> Vec<Y> {
        let map_enum = self.dev.enum_by_name(name);
        let value_y = |n: &str, v: u64, d: &str| {
            let unchanged = map_enum
                .and_then(|e: &Enum| e.values.iter().find(|x| x.name == n))
                .is_some_and(|x| (x.value, x.description.as_str()) == (v, d));
            if let Some((_, it)) = old.and_then(|l| l.item_named(n)).filter(|_| unchanged) {
                let text = &self.text[it.start..it.end];
                if !text.contains('\n') {
                    return Y::R(text.to_string());
                }
            }
            let mut es = vec![
                ("name".to_string(), Y::S(n.to_string())),
                ("value".to_string(), if v < 10 { dec(v) } else { hex(v) }),
            ];
            if !d.is_empty() {
                es.push(("description".to_string(), Y::S(yaml::string(d))));
            }
            Y::M(es)
        };
        match self.enums.iter().find(|e| e.name == name) {
            Some(w) => w
                .values
                .iter()
                .map(|(n, v, d, _)| value_y(n, *v, d))
                .collect(),
            None => map_enum
                .map(|e: &Enum| {
                    e.values
                        .iter()
                        .map(|v| value_y(&v.name, v.value, &v.description))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether enum `name`'s values in the tables differ from the map's.
    fn enum_changed(&self, name: &str) -> bool {
        let Some(w) = self.enums.iter().find(|e| e.name == name) else {
            return false;
        };
        let Some(e) = self.dev.enum_by_name(name) else {
            return true;
        };
        !same_values(w, e)
    }

    /// Edits the `fields` list of `node` (a register or fieldset) from `have` to `want`.
    #[allow(clippy::too_many_arguments)]
    fn plan_field_list(
        &mut self,
        node: &Node,
        order: &'static [&'static str],
        list: Option<&Node>,
        want: &[WantField],
        have: &[Field],
        w: &WantReg,
        owner: &str,
    ) {
        let reg_default = default_access(w.access);
        let origin = self.reg_origin(w);
        let Some(list) = list else {
            let items: Vec<Y> = want
                .iter()
                .map(|f| self.field_y(f, reg_default, None, owner))
                .collect();
            self.set_key(node, order, "fields", Y::L(items), &origin);
            return;
        };
        for f in want {
            let o = self.field_origin(Some(f.row));
            let old = have.iter().find(|h| h.name == f.name);
            let inline_changed = f
                .enum_name
                .as_deref()
                .is_some_and(|e| self.inline_enum(owner, &f.name, e) && self.enum_changed(e));
            match (old, list.item_named(&f.name)) {
                (Some(old), Some((idx, item))) => {
                    let same = (
                        old.lsb,
                        old.msb,
                        old.access,
                        &old.enum_name,
                        &old.description,
                    ) == (f.lsb, f.msb, f.access, &f.enum_name, &f.description)
                        && (old.reset == f.reset || item.get("reset").is_none());
                    if !same || inline_changed {
                        let item = item.clone();
                        let y = self.field_y(f, reg_default, Some((&item, old)), owner);
                        self.list_op(
                            node,
                            order,
                            "fields",
                            ItemOp::Replace(idx, y, o.clone()),
                            &o,
                        );
                    }
                }
                _ => {
                    let before = list.items().iter().position(|it| {
                        it.get("name")
                            .and_then(Node::scalar)
                            .and_then(|n| have.iter().find(|h| h.name == n))
                            .is_some_and(|h| h.lsb > f.lsb)
                    });
                    let y = self.field_y(f, reg_default, None, owner);
                    self.list_op(
                        node,
                        order,
                        "fields",
                        ItemOp::Insert(before, y, o.clone()),
                        &o,
                    );
                }
            }
        }
        for (idx, item) in list.items().iter().enumerate() {
            let n = item.get("name").and_then(Node::scalar).unwrap_or("");
            if !want.iter().any(|f| f.name == n) {
                self.list_op(
                    node,
                    order,
                    "fields",
                    ItemOp::Remove(idx, origin.clone()),
                    &origin,
                );
            }
        }
    }

    fn plan_register(
        &mut self,
        want_index: usize,
        w: &WantReg<'a>,
        fieldset_handled: &HashSet<usize>,
    ) {
        let Some(ei) = w.existing else { return };
        let r = &self.dev.registers[ei];
        let p = w.path();
        let Some(node) = self.register_node(&r.blocks, &r.name).cloned() else {
            self.internal(&format!("register {p} not found in the YAML"));
            return;
        };
        let o = self.reg_origin(w);
        let (t, line) = match w.row {
            Some(row) => (Table::Registers, row.line),
            None => (Table::Fields, o.line),
        };
        let old_offset = self.rel_offset(r);
        if w.offset != old_offset {
            self.change(
                t,
                line,
                format!("{p}: offset {old_offset:#x} -> {:#x}", w.offset),
            );
            self.set_key(&node, REG_ORDER, "offset", hex(w.offset), &o);
        }
        if w.width != r.width {
            self.change(
                t,
                line,
                format!("{p}: width {} -> {}", r.width.bits(), w.width.bits()),
            );
            self.set_key(&node, REG_ORDER, "width", dec(w.width.bits()), &o);
        }
        if w.access != r.access {
            self.change(
                t,
                line,
                format!("{p}: access {} -> {}", r.access.as_str(), w.access.as_str()),
            );
            self.set_key(
                &node,
                REG_ORDER,
                "access",
                Y::S(w.access.as_str().into()),
                &o,
            );
        }
        let old_dim = self.existing_dim(r);
        if w.dim != old_dim {
            let show = |d: Option<(u32, u64)>| {
                d.map_or("not an array".to_string(), |(c, s)| {
                    format!("count {c} stride {s:#x}")
                })
            };
            self.change(
                t,
                line,
                format!("{p}: {} -> {}", show(old_dim), show(w.dim)),
            );
            if let Some((c, s)) = w.dim {
                self.set_key(&node, REG_ORDER, "count", dec(c), &o);
                self.set_key(&node, REG_ORDER, "stride", hex(s), &o);
            }
        }
        if w.description != r.description {
            self.change(t, line, format!("{p}: description changed"));
            self.set_key(
                &node,
                REG_ORDER,
                "description",
                Y::S(yaml::string(&w.description)),
                &o,
            );
        }
        if w.reset != r.reset {
            self.change(
                t,
                line,
                format!("{p}: reset {:#x} -> {:#x}", r.reset, w.reset),
            );
        }

        // Fields, and what the YAML's field resets add up to afterwards.
        let mut derived: Option<u64> = None;
        if let Some(want) = &w.fields {
            let owner = p.replace('.', "_");
            let changed = Self::fields_differ(want, &r.fields)
                || want.iter().any(|f| {
                    f.enum_name.as_deref().is_some_and(|e| {
                        self.inline_enum(&owner, &f.name, e) && self.enum_changed(e)
                    })
                });
            let implicit = implicit_value_field(r);
            let same_as_implicit = implicit
                && matches!(want.as_slice(), [f] if f.name == "VALUE" && f.lsb == 0 && f.msb == r.width.bits() - 1 && f.enum_name.is_none() && f.access == default_access(w.access) && (f.description == "The whole register" || f.description.is_empty()));
            if r.fieldset.is_some() {
                if !fieldset_handled.contains(&want_index) && changed {
                    let fs = r.fieldset.clone().unwrap_or_default();
                    self.report_field_changes(w, r, "");
                    self.change(
                        t,
                        line,
                        format!(
                            "{p}: fields no longer match fieldset {fs}: written in the register"
                        ),
                    );
                    self.node_edit(&node, REG_ORDER, &o)
                        .remove
                        .push("fieldset".into());
                    self.plan_field_list(&node, REG_ORDER, None, want, &[], w, &owner);
                    derived = Some(Self::res1_bits(want));
                }
            } else if changed && !same_as_implicit {
                self.report_field_changes(w, r, "");
                let list = if implicit {
                    None
                } else {
                    node.get("fields").cloned()
                };
                self.plan_field_list(&node, REG_ORDER, list.as_ref(), want, &r.fields, w, &owner);
                // Field reset keys kept (present before) plus res1 bits.
                let mut d = Self::res1_bits(want);
                if let Some(list) = &list {
                    for f in want {
                        if list
                            .item_named(&f.name)
                            .is_some_and(|(_, it)| it.get("reset").is_some())
                        {
                            d |= f.reset << f.lsb;
                        }
                    }
                }
                derived = Some(d);
            }
        }
        // The register's `reset:` key, when the fields alone no longer give the reset.
        let has_key = node.get("reset").is_some();
        if has_key {
            if w.reset != r.reset {
                self.set_key(&node, REG_ORDER, "reset", hex(w.reset), &o);
            }
        } else {
            let d = derived.unwrap_or(r.reset);
            if w.reset != d {
                self.set_key(&node, REG_ORDER, "reset", hex(w.reset), &o);
            }
        }
    }

    fn res1_bits(fields: &[WantField]) -> u64 {
        fields
            .iter()
            .filter(|f| f.access == Access::Res1)
            .fold(0, |m, f| m | (f.value_mask() << f.lsb))
    }

    /// The YAML of a new register.
    fn register_y(&mut self, w: &WantReg) -> Y {
        let mut es = vec![
            ("name".to_string(), Y::S(w.name.clone())),
            ("offset".to_string(), hex(w.offset)),
        ];
        if w.width != Width::W32 {
            es.push(("width".into(), dec(w.width.bits())));
        }
        if w.access != RegAccess::Rw {
            es.push(("access".into(), Y::S(w.access.as_str().into())));
        }
        let derived = w.fields.as_deref().map_or(0, Self::res1_bits);
        if w.reset != derived {
            es.push(("reset".into(), hex(w.reset)));
        }
        if let Some((c, s)) = w.dim {
            es.push(("count".into(), dec(c)));
            es.push(("stride".into(), hex(s)));
        }
        if !w.description.is_empty() {
            es.push(("description".into(), Y::S(yaml::string(&w.description))));
        }
        if let Some(fields) = &w.fields {
            let owner = w.path().replace('.', "_");
            let items = fields
                .iter()
                .map(|f| self.field_y(f, default_access(w.access), None, &owner))
                .collect();
            es.push(("fields".into(), Y::L(items)));
        }
        Y::M(es)
    }

    fn report_new_register(&mut self, w: &WantReg) {
        let (t, line) = match w.row {
            Some(r) => (Table::Registers, r.line),
            None => (Table::Fields, 0),
        };
        let n = w.fields.as_ref().map_or(0, Vec::len);
        self.change(
            t,
            line,
            format!(
                "{}: new register at offset {:#x}, {} fields",
                w.path(),
                w.offset,
                n
            ),
        );
    }

    fn plan_new_registers(&mut self, new: &[&WantReg<'a>], _all: &[WantReg<'a>]) {
        // Registers of existing containers; those of new blocks are written
        // with their block.
        let mut by_parent: BTreeMap<Vec<String>, Vec<&WantReg>> = BTreeMap::new();
        for w in new {
            by_parent.entry(w.blocks.clone()).or_default().push(w);
        }
        for (parent, mut regs) in by_parent {
            let exists = parent.is_empty() || self.block_of(&parent).is_some();
            if !exists {
                continue;
            }
            regs.sort_by_key(|w| w.offset);
            let Some(node) = self.container_node(&parent).cloned() else {
                self.internal(&format!("block {} not found in the YAML", parent.join(".")));
                continue;
            };
            let order = if parent.is_empty() {
                ROOT_ORDER
            } else {
                BLOCK_ORDER
            };
            let list = node.get("registers").cloned();
            for w in regs {
                self.report_new_register(w);
                let o = self.reg_origin(w);
                let y = self.register_y(w);
                let before = list.as_ref().and_then(|l| {
                    l.items().iter().position(|it| {
                        it.get("offset")
                            .and_then(Node::scalar)
                            .and_then(super::parse_number)
                            .is_some_and(|off| off > w.offset)
                    })
                });
                match &list {
                    Some(_) => self.list_op(
                        &node,
                        order,
                        "registers",
                        ItemOp::Insert(before, y, o.clone()),
                        &o,
                    ),
                    None => self.list_op(
                        &node,
                        order,
                        "registers",
                        ItemOp::Insert(None, y, o.clone()),
                        &o,
                    ),
                }
            }
        }
    }

    /// The YAML of a new block with its new registers and sub-blocks.
    fn block_y(&mut self, b: &WantBlock, regs: &[WantReg<'a>]) -> Y {
        let name = b.path.last().cloned().unwrap_or_default();
        let mut es = vec![
            ("name".to_string(), Y::S(name)),
            ("offset".to_string(), hex(b.offset)),
        ];
        if let Some(c) = b.count {
            es.push(("count".into(), dec(c)));
        }
        if let Some(s) = b.stride {
            es.push(("stride".into(), hex(s)));
        }
        if !b.description.is_empty() {
            es.push(("description".into(), Y::S(yaml::string(&b.description))));
        }
        let mut mine: Vec<&WantReg> = regs
            .iter()
            .filter(|w| w.existing.is_none() && w.blocks == b.path)
            .collect();
        mine.sort_by_key(|w| w.offset);
        let mut items = Vec::new();
        for w in mine {
            self.report_new_register(w);
            items.push(self.register_y(w));
        }
        if !items.is_empty() {
            es.push(("registers".into(), Y::L(items)));
        }
        let children: Vec<WantBlock> = self
            .blocks
            .iter()
            .filter(|c| {
                !c.exists
                    && c.path.len() == b.path.len() + 1
                    && c.path[..b.path.len()] == b.path[..]
            })
            .cloned()
            .collect();
        let mut sub = Vec::new();
        for c in &children {
            self.change(
                Table::Blocks,
                c.row.line,
                format!("{}: new block", c.path.join(".")),
            );
            sub.push(self.block_y(c, regs));
        }
        if !sub.is_empty() {
            es.push(("blocks".into(), Y::L(sub)));
        }
        Y::M(es)
    }

    fn plan_new_blocks(&mut self, regs: &[WantReg<'a>]) {
        let tops: Vec<WantBlock> = self
            .blocks
            .iter()
            .filter(|b| {
                !b.exists
                    && (b.path.len() == 1 || self.block_of(&b.path[..b.path.len() - 1]).is_some())
            })
            .cloned()
            .collect();
        for b in tops {
            let parent = b.path[..b.path.len() - 1].to_vec();
            let Some(node) = self.container_node(&parent).cloned() else {
                self.internal(&format!("block {} not found in the YAML", parent.join(".")));
                continue;
            };
            self.change(
                Table::Blocks,
                b.row.line,
                format!("{}: new block", b.path.join(".")),
            );
            let y = self.block_y(&b, regs);
            let o = self.block_origin(b.row);
            let order = if parent.is_empty() {
                ROOT_ORDER
            } else {
                BLOCK_ORDER
            };
            self.list_op(
                &node,
                order,
                "blocks",
                ItemOp::Insert(None, y, o.clone()),
                &o,
            );
        }
    }

    fn plan_enums(&mut self) {
        let enums = self.enums.clone();
        for w in &enums {
            let name = w.name.clone();
            let first = w.values[0].3;
            let o = self.enum_origin(first);
            let Some(e) = self.dev.enum_by_name(&name) else {
                if self.inline_written.contains(&name) {
                    self.change(
                        Table::Enums,
                        first.line,
                        format!(
                            "enum {name}: new, {} values (inline in its field)",
                            w.values.len()
                        ),
                    );
                    continue;
                }
                self.change(
                    Table::Enums,
                    first.line,
                    format!("enum {name}: new, {} values", w.values.len()),
                );
                let y = Y::M(vec![
                    ("name".into(), Y::S(name.clone())),
                    ("values".into(), Y::L(self.enum_values_y(&name, None))),
                ]);
                let root = self.root.clone();
                self.list_op(
                    &root,
                    ROOT_ORDER,
                    "enums",
                    ItemOp::Insert(None, y, o.clone()),
                    &o,
                );
                continue;
            };
            // Report every value change.
            for (n, v, d, row) in &w.values {
                match e.values.iter().find(|x| &x.name == n) {
                    None => self.change(
                        Table::Enums,
                        row.line,
                        format!("enum {name}: new value {n} = {v:#x}"),
                    ),
                    Some(x) => {
                        if x.value != *v {
                            self.change(
                                Table::Enums,
                                row.line,
                                format!("enum {name}: {n} {:#x} -> {v:#x}", x.value),
                            );
                        }
                        if &x.description != d {
                            self.change(
                                Table::Enums,
                                row.line,
                                format!("enum {name}: {n} description changed"),
                            );
                        }
                    }
                }
            }
            for x in &e.values {
                if !w.values.iter().any(|(n, ..)| n == &x.name) {
                    self.change(
                        Table::Enums,
                        first.line,
                        format!("enum {name}: value {} removed (not in enums.csv)", x.name),
                    );
                }
            }
            if !self.enum_changed(&name) || self.inline_written.contains(&name) {
                continue;
            }
            // The list that holds the values: a shared enum's, or the field's.
            let node = if e.inline {
                self.inline_enum_field_node(&name)
            } else {
                self.root
                    .get("enums")
                    .and_then(|l| l.item_named(&name))
                    .map(|(_, n)| n.clone())
            };
            let Some(node) = node else {
                self.internal(&format!("enum {name} not found in the YAML"));
                continue;
            };
            let Some(list) = node.get("values").cloned() else {
                self.internal(&format!("enum {name} has no values list in the YAML"));
                continue;
            };
            for (k, (n, v, d, row)) in w.values.iter().enumerate() {
                let vo = self.enum_origin(row);
                // A new value goes before the next value of the table that the list has.
                let before = w.values[k + 1..]
                    .iter()
                    .find_map(|(m, ..)| list.item_named(m).map(|(i, _)| i));
                let mut es = vec![
                    ("name".to_string(), Y::S(n.clone())),
                    ("value".to_string(), if *v < 10 { dec(v) } else { hex(*v) }),
                ];
                if !d.is_empty() {
                    es.push(("description".into(), Y::S(yaml::string(d))));
                }
                let y = Y::M(es);
                match (e.values.iter().find(|x| &x.name == n), list.item_named(n)) {
                    (Some(x), Some((idx, _))) => {
                        if (x.value, &x.description) != (*v, d) {
                            self.list_op(
                                &node,
                                ENUM_ORDER,
                                "values",
                                ItemOp::Replace(idx, y, vo.clone()),
                                &vo,
                            );
                        }
                    }
                    _ => self.list_op(
                        &node,
                        ENUM_ORDER,
                        "values",
                        ItemOp::Insert(before, y, vo.clone()),
                        &vo,
                    ),
                }
            }
            for (idx, item) in list.items().iter().enumerate() {
                let n = item.get("name").and_then(Node::scalar).unwrap_or("");
                if !w.values.iter().any(|(x, ..)| x == n) {
                    self.list_op(
                        &node,
                        ENUM_ORDER,
                        "values",
                        ItemOp::Remove(idx, o.clone()),
                        &o,
                    );
                }
            }
        }
    }

    /// The field item whose inline `values:` define enum `name`.
    fn inline_enum_field_node(&self, name: &str) -> Option<Node> {
        for r in self
            .dev
            .registers
            .iter()
            .filter(|r| r.alias.is_none() && r.fieldset.is_none())
        {
            if let Some(f) = r
                .fields
                .iter()
                .find(|f| f.enum_name.as_deref() == Some(name))
            {
                let node = self.register_node(&r.blocks, &r.name)?;
                return node
                    .get("fields")?
                    .item_named(&f.name)
                    .map(|(_, n)| n.clone());
            }
        }
        for fs in &self.dev.fieldsets {
            if let Some(f) = fs
                .fields
                .iter()
                .find(|f| f.enum_name.as_deref() == Some(name))
            {
                let node = self.root.get("fieldsets")?.item_named(&fs.name)?.1;
                return node
                    .get("fields")?
                    .item_named(&f.name)
                    .map(|(_, n)| n.clone());
            }
        }
        None
    }

    // ----- lowering node edits to text edits -----

    fn lower(&mut self) {
        let nes = std::mem::take(&mut self.node_edits);
        // Later nodes first: when an inner list's append and an outer
        // list's insertion meet at one point (the end of the inner list's
        // last line), the inner one must come first. A node nested in
        // another rewritten node would give overlapping edits; the planner
        // never produces that, and `apply` refuses it.
        for (_, ne) in nes.into_iter().rev() {
            if ne.node.flow {
                self.lower_flow(ne);
            } else {
                self.lower_block(ne);
            }
        }
    }

    fn verbatim(&self, key: &Node, value: &Node) -> Result<Y, String> {
        let s = yaml::value_start(self.text, key, value);
        let t = &self.text[s..value.end];
        if t.contains('\n') {
            // A multi-line scalar inside a mapping being rewritten: write its value.
            match value.scalar() {
                Some(v) => Ok(Y::S(yaml::string(v))),
                None => Err(format!(
                    "cannot rewrite the mapping at byte {}: `{}` spans several lines",
                    key.start,
                    key.scalar().unwrap_or("")
                )),
            }
        } else {
            Ok(Y::R(t.to_string()))
        }
    }

    fn apply_list_ops(&self, items: &[Node], ops: Vec<ItemOp>) -> Vec<Y> {
        let mut out: Vec<Option<Y>> = items
            .iter()
            .map(|n| Some(Y::R(self.text[n.start..n.end].to_string())))
            .collect();
        let mut inserts_before: BTreeMap<usize, Vec<Y>> = BTreeMap::new();
        let mut tail = Vec::new();
        for op in ops {
            match op {
                ItemOp::Replace(i, y, _) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(y);
                    }
                }
                ItemOp::Remove(i, _) => {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = None;
                    }
                }
                ItemOp::Insert(Some(i), y, _) if i < items.len() => {
                    inserts_before.entry(i).or_default().push(y)
                }
                ItemOp::Insert(_, y, _) => tail.push(y),
            }
        }
        let mut res = Vec::new();
        for (i, slot) in out.into_iter().enumerate() {
            if let Some(ins) = inserts_before.remove(&i) {
                res.extend(ins);
            }
            res.extend(slot);
        }
        res.extend(tail);
        res
    }

    fn lower_flow(&mut self, ne: NodeEdit) {
        let NodeKind::Map(entries) = &ne.node.kind else {
            self.internal("a flow edit on a node that is not a mapping");
            return;
        };
        let mut es: Vec<(String, Y)> = Vec::new();
        for (k, v) in entries {
            let key = k.scalar().unwrap_or("").to_string();
            match self.verbatim(k, v) {
                Ok(y) => es.push((key, y)),
                Err(e) => {
                    self.internal(&e);
                    return;
                }
            }
        }
        es.retain(|(k, _)| !ne.remove.contains(k));
        for (key, y, _) in ne.set {
            put(&mut es, ne.order, key, y);
        }
        for (key, ops) in ne.lists {
            let items = ne
                .node
                .get(&key)
                .map(|n| n.items().to_vec())
                .unwrap_or_default();
            let list = self.apply_list_ops(&items, ops);
            put(&mut es, ne.order, key, Y::L(list));
        }
        let y = Y::M(es);
        let text = if ne.node.in_flow {
            y.flow()
        } else {
            y.block_item(yaml::column(self.text, ne.node.start))
        };
        self.edits.push(Edit {
            start: ne.node.start,
            end: ne.node.end,
            text,
            origin: ne.origin,
        });
    }

    fn lower_block(&mut self, ne: NodeEdit) {
        let text = self.text;
        let col = yaml::column(text, ne.node.start);
        let indent = " ".repeat(col);
        let present = ne.node.keys();
        // Where a new key goes: after the nearest present key before it in
        // the canonical order, else after the last key.
        let insert_at = |key: &str| -> usize {
            let pos = ne
                .order
                .iter()
                .position(|k| *k == key)
                .unwrap_or(ne.order.len());
            let pred = ne.order[..pos].iter().rev().find(|k| present.contains(k));
            let (_, v) = match pred.and_then(|k| ne.node.entry(k)) {
                Some(e) => e,
                None => match &ne.node.kind {
                    NodeKind::Map(es) => match es.last() {
                        Some((k, v)) => (k, v),
                        None => return ne.node.end,
                    },
                    _ => return ne.node.end,
                },
            };
            yaml::line_end(text, v.end)
        };
        let mut new_edits = Vec::new();
        for key in &ne.remove {
            if let Some((k, v)) = ne.node.entry(key) {
                let (s, e) = lines_of(text, k.start, v.end);
                new_edits.push(Edit {
                    start: s,
                    end: e,
                    text: String::new(),
                    origin: ne.origin.clone(),
                });
            }
        }
        // New keys go in canonical order, so several inserted at one point read well.
        let rank = |k: &str| ne.order.iter().position(|o| *o == k).unwrap_or(usize::MAX);
        let mut new_keys: Vec<(usize, Edit<Origin>)> = Vec::new();
        for (key, y, o) in ne.set {
            match ne.node.entry(&key) {
                Some((k, v)) => {
                    if let Y::L(items) = &y {
                        if !items.is_empty() {
                            new_edits.push(Edit {
                                start: k.end,
                                end: v.end,
                                text: format!(":{}", y.block_value(col)),
                                origin: o,
                            });
                            continue;
                        }
                    }
                    let s = yaml::value_start(text, k, v);
                    new_edits.push(Edit {
                        start: s,
                        end: v.end,
                        text: y.flow(),
                        origin: o,
                    });
                }
                None => {
                    let at = insert_at(&key);
                    let t = format!("\n{indent}{key}:{}", y.block_value(col));
                    new_keys.push((
                        rank(&key),
                        Edit {
                            start: at,
                            end: at,
                            text: t,
                            origin: o,
                        },
                    ));
                }
            }
        }
        for (key, ops) in ne.lists {
            match ne.node.entry(&key) {
                Some((_, list)) if !list.flow => {
                    let items = list.items();
                    let dash = yaml::column(text, list.start);
                    for op in ops {
                        match op {
                            ItemOp::Replace(i, y, o) => {
                                if let Some(it) = items.get(i) {
                                    let c = yaml::column(text, it.start);
                                    new_edits.push(Edit {
                                        start: it.start,
                                        end: it.end,
                                        text: y.block_item(c),
                                        origin: o,
                                    });
                                }
                            }
                            ItemOp::Remove(i, o) => {
                                if let Some(it) = items.get(i) {
                                    let (s, e) = lines_of(text, it.start, it.end);
                                    new_edits.push(Edit {
                                        start: s,
                                        end: e,
                                        text: String::new(),
                                        origin: o,
                                    });
                                }
                            }
                            ItemOp::Insert(Some(i), y, o) if i < items.len() => {
                                // At the end of the line before the item: an
                                // insertion and a removal of that item then
                                // meet without overlapping.
                                let at = yaml::line_start(text, items[i].start).saturating_sub(1);
                                let t =
                                    format!("\n{}- {}", " ".repeat(dash), y.block_item(dash + 2));
                                new_edits.push(Edit {
                                    start: at,
                                    end: at,
                                    text: t,
                                    origin: o,
                                });
                            }
                            ItemOp::Insert(_, y, o) => {
                                let at = yaml::line_end(text, list.end);
                                let t =
                                    format!("\n{}- {}", " ".repeat(dash), y.block_item(dash + 2));
                                new_edits.push(Edit {
                                    start: at,
                                    end: at,
                                    text: t,
                                    origin: o,
                                });
                            }
                        }
                    }
                }
                Some((k, list)) => {
                    // A flow list: written again as a block list.
                    let items = self.apply_list_ops(list.items(), ops);
                    let y = Y::L(items);
                    let t = if list.in_flow || y_is_empty(&y) {
                        format!(": {}", y.flow())
                    } else {
                        format!(":{}", y.block_value(col))
                    };
                    new_edits.push(Edit {
                        start: k.end,
                        end: list.end,
                        text: t,
                        origin: ne.origin.clone(),
                    });
                }
                None => {
                    let items = self.apply_list_ops(&[], ops);
                    let at = insert_at(&key);
                    let y = Y::L(items);
                    let t = format!("\n{indent}{key}:{}", y.block_value(col));
                    new_keys.push((
                        rank(&key),
                        Edit {
                            start: at,
                            end: at,
                            text: t,
                            origin: ne.origin.clone(),
                        },
                    ));
                }
            }
        }
        new_keys.sort_by_key(|(r, e)| (e.start, *r));
        new_edits.extend(new_keys.into_iter().map(|(_, e)| e));
        self.edits.extend(new_edits);
    }

    // ----- pass 4: diagnostics of the edited map, located back -----

    fn relocate(&mut self, new_text: &str, origins: &[LineOrigin<Origin>], items: Vec<Diagnostic>) {
        let lines: Vec<&str> = new_text.lines().collect();
        for d in items {
            let l = d.span.line as usize;
            match origins.get(l.wrapping_sub(1)) {
                Some(LineOrigin::Original(n)) => {
                    let f = self.map_file.to_string();
                    self.problems.push(
                        &f,
                        Diagnostic {
                            span: Span::new(*n, d.span.col),
                            ..d
                        },
                    );
                }
                Some(LineOrigin::Edit(o)) => {
                    // The YAML key at or before the column names the cell.
                    let text = lines.get(l - 1).copied().unwrap_or("");
                    let upto: String = text.chars().take(d.span.col as usize).collect();
                    let key = o
                        .cells
                        .iter()
                        .filter_map(|(k, _)| upto.rfind(&format!("{k}:")).map(|p| (p, *k)))
                        .max()
                        .map(|(_, k)| k);
                    let span = key.map_or(Span::new(o.line, 1), |k| o.cell(k));
                    let span = if span.line == 0 {
                        Span::new(o.line, 1)
                    } else {
                        span
                    };
                    self.problems.push(&o.file, Diagnostic { span, ..d });
                }
                None => {
                    let f = self.map_file.to_string();
                    self.problems.push(&f, d);
                }
            }
        }
    }

    // ----- pass 5: verify -----

    fn verify(&mut self, new: &Device) {
        let mut bad = Vec::new();
        let new_index: HashMap<String, &Register> =
            new.registers.iter().map(|r| (r.path(), r)).collect();
        for w in &self.regs {
            let p = w.path();
            let Some(r) = new_index.get(&p) else {
                bad.push(format!("{p} is missing from the updated map"));
                continue;
            };
            let block_base = {
                let mut level = &new.blocks;
                let mut base = 0u64;
                for name in &w.blocks {
                    if let Some(b) = level.iter().find(|b| &b.name == name) {
                        base += b.offset;
                        level = &b.blocks;
                    }
                }
                base
            };
            let dim = own_dim(new, r).map(|d| (d.count, d.stride));
            if (
                r.offset - block_base,
                r.width,
                r.access,
                r.reset,
                dim,
                &r.description,
            ) != (w.offset, w.width, w.access, w.reset, w.dim, &w.description)
            {
                bad.push(format!("{p}: the updated register differs from the tables"));
            }
            if let Some(want) = &w.fields {
                let same_as_implicit =
                    implicit_value_field(r) && want.len() == 1 && want[0].name == "VALUE";
                if Self::fields_differ(want, &r.fields) && !same_as_implicit {
                    bad.push(format!("{p}: the updated fields differ from the tables"));
                }
            }
        }
        for w in &self.enums {
            match new.enum_by_name(&w.name) {
                None => bad.push(format!("enum {} is missing from the updated map", w.name)),
                Some(e) => {
                    if !same_values(w, e) {
                        bad.push(format!(
                            "enum {}: the updated values differ from the tables",
                            w.name
                        ));
                    }
                }
            }
        }
        for b in &self.blocks {
            let mut level = &new.blocks;
            let mut found = None;
            for name in &b.path {
                found = level.iter().find(|x| &x.name == name);
                match found {
                    Some(x) => level = &x.blocks,
                    None => break,
                }
            }
            match found {
                None => bad.push(format!(
                    "block {} is missing from the updated map",
                    b.path.join(".")
                )),
                Some(x) => {
                    let dim = (x.count > 1).then_some((x.count, x.stride));
                    let want = b.count.map(|c| (c, b.stride.unwrap_or(0)));
                    if (x.offset, dim, &x.description)
                        != (b.offset, want.filter(|d| d.0 > 1), &b.description)
                    {
                        bad.push(format!(
                            "block {}: the updated block differs from the tables",
                            b.path.join(".")
                        ));
                    }
                }
            }
        }
        // What the tables do not name stays as it was.
        let named: HashSet<String> = self.regs.iter().map(WantReg::path).collect();
        let before = export(self.dev);
        let after = export(new);
        let rows = |t: &Tables| -> HashMap<String, String> {
            t.registers
                .iter()
                .map(|r| {
                    (
                        r.path(),
                        format!(
                            "{:?}",
                            (
                                r.offset.value,
                                r.width.value,
                                r.access.value,
                                r.reset.value,
                                r.count.value,
                                r.stride.value,
                                &r.description.value
                            )
                        ),
                    )
                })
                .collect()
        };
        let fields = |t: &Tables, reg: &str| -> Vec<String> {
            t.fields
                .iter()
                .filter(|f| f.register.text() == reg)
                .map(|f| {
                    format!(
                        "{:?}",
                        (
                            &f.name.value,
                            f.msb.value,
                            f.lsb.value,
                            f.access.value,
                            f.reset.value,
                            &f.enum_name.value,
                            &f.description.value
                        )
                    )
                })
                .collect()
        };
        let (rb, ra) = (rows(&before), rows(&after));
        for (p, v) in &rb {
            if named.contains(p) {
                continue;
            }
            if ra.get(p) != Some(v) || fields(&before, p) != fields(&after, p) {
                bad.push(format!("{p} changed although the tables do not name it"));
            }
        }
        let keep = |d: &Device| {
            let structs: Vec<String> = d
                .structs
                .iter()
                .map(|s| {
                    let fields: Vec<_> = s
                        .fields
                        .iter()
                        .map(|f| (&f.name, f.word, f.lsb, f.msb, &f.enum_name, &f.description))
                        .collect();
                    format!(
                        "{} {} {:?} {:?} {:?} {:?}",
                        s.name, s.size, s.extends, s.fixed, s.description, fields
                    )
                })
                .collect();
            (
                structs,
                d.hooks
                    .iter()
                    .map(|h| (h.name.clone(), h.description.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        if keep(self.dev) != keep(new) {
            bad.push("structures or hooks changed".into());
        }
        // Alias declarations: alias blocks, and alias registers outside them
        // (what an alias block expands to follows its target, which may change).
        let aliases = |d: &Device| {
            fn walk(bs: &[crate::model::Block], prefix: &str, out: &mut Vec<String>) {
                for b in bs {
                    let p = if prefix.is_empty() {
                        b.name.clone()
                    } else {
                        format!("{prefix}.{}", b.name)
                    };
                    if let Some(a) = &b.alias {
                        out.push(format!("{p} -> {a} {:?}", b.index_map));
                    }
                    walk(&b.blocks, &p, out);
                }
            }
            let mut out = Vec::new();
            walk(&d.blocks, "", &mut out);
            let under_alias_block = |r: &Register| {
                out.iter().any(|a| {
                    let p = a.split(' ').next().unwrap_or("");
                    r.path().starts_with(&format!("{p}."))
                })
            };
            let regs: Vec<String> = d
                .registers
                .iter()
                .filter(|r| !under_alias_block(r))
                .filter_map(|r| {
                    r.alias
                        .as_ref()
                        .map(|a| format!("{} -> {}", r.path(), a.target_path))
                })
                .collect();
            out.extend(regs);
            out
        };
        if aliases(self.dev) != aliases(new) {
            bad.push("aliases changed".into());
        }
        for b in bad {
            self.internal(&b);
        }
    }
}

/// Whether the tables' values of an enum are the map's (order aside: the
/// order of an enum's values means nothing).
fn same_values(w: &WantEnum, e: &Enum) -> bool {
    let mut a: Vec<(&str, u64, &str)> = w
        .values
        .iter()
        .map(|(n, v, d, _)| (n.as_str(), *v, d.as_str()))
        .collect();
    let mut b: Vec<(&str, u64, &str)> = e
        .values
        .iter()
        .map(|x| (x.name.as_str(), x.value, x.description.as_str()))
        .collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Sets `key` in an entry list, keeping the canonical order for a new key.
fn put(es: &mut Vec<(String, Y)>, order: &[&str], key: String, y: Y) {
    if let Some(slot) = es.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = y;
        return;
    }
    if matches!(&y, Y::L(items) if !items.is_empty()) {
        // A block list reads best after the mapping's one-line keys.
        es.push((key, y));
        return;
    }
    let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(usize::MAX);
    let r = rank(&key);
    let at = es.iter().position(|(k, _)| rank(k) > r).unwrap_or(es.len());
    es.insert(at, (key, y));
}

/// The byte range removing the whole lines from `start` to `end`: from the
/// line break before them to the end of the last line, so that text
/// inserted at either end of the range never overlaps it.
fn lines_of(text: &str, start: usize, end: usize) -> (usize, usize) {
    let s = yaml::line_start(text, start);
    let e = yaml::line_end(text, end);
    if s == 0 {
        (0, (e + 1).min(text.len()))
    } else {
        (s - 1, e)
    }
}

fn y_is_empty(y: &Y) -> bool {
    matches!(y, Y::L(v) if v.is_empty())
}
