//! Register tables in CSV, the way they are copied out of an architecture
//! document: one table of blocks, one of registers, one of fields and one
//! of enum values (see FORMAT.md, "Register tables").
//!
//! - [`csv`]: the CSV reader and writer;
//! - this module: the four tables as typed rows, each cell with its
//!   position, read from CSV (header names the columns);
//! - [`export`]: a validated map to tables;
//! - [`import`]: tables into a map (new or existing), through the normal
//!   load/validate path; `yaml` keeps the untouched parts of the file.

pub mod csv;
pub mod export;
pub mod import;
mod yaml;

use std::collections::HashMap;
use std::path::Path;

use crate::diag::{Diagnostic, Kind, Span};
use crate::model::{Access, RegAccess};

/// One of the four tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `blocks.csv`: groups of registers and their arrays.
    Blocks,
    /// `registers.csv`: one row per register.
    Registers,
    /// `fields.csv`: one row per field of a register.
    Fields,
    /// `enums.csv`: one row per named value of an enum.
    Enums,
}

impl Table {
    /// Every table, in the order they are read.
    pub const ALL: [Table; 4] = [Table::Blocks, Table::Registers, Table::Fields, Table::Enums];

    /// The file name of the table in a tables directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Table::Blocks => "blocks.csv",
            Table::Registers => "registers.csv",
            Table::Fields => "fields.csv",
            Table::Enums => "enums.csv",
        }
    }

    /// The columns, in the order they are written.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Blocks => &["block", "offset", "count", "stride", "description"],
            Table::Registers => &[
                "block",
                "name",
                "offset",
                "width",
                "access",
                "reset",
                "count",
                "stride",
                "description",
            ],
            Table::Fields => &[
                "register",
                "name",
                "msb",
                "lsb",
                "access",
                "reset",
                "enum",
                "description",
            ],
            Table::Enums => &["enum", "name", "value", "description"],
        }
    }

    /// Columns every row must fill.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Table::Blocks => &["block", "offset"],
            Table::Registers => &["name", "offset"],
            Table::Fields => &["register", "name", "msb", "lsb"],
            Table::Enums => &["enum", "name", "value"],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A cell: its value (`None` when empty) and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell<T> {
    /// The value, `None` for an empty cell ("the table does not say").
    pub value: Option<T>,
    /// Line and column of the cell (0:0 for tables built in memory).
    pub span: Span,
}

impl<T> Default for Cell<T> {
    fn default() -> Self {
        Cell::none()
    }
}

impl<T> Cell<T> {
    /// A cell holding `v`, built in memory.
    pub fn some(v: T) -> Cell<T> {
        Cell {
            value: Some(v),
            span: Span::default(),
        }
    }
    /// An empty cell.
    pub fn none() -> Cell<T> {
        Cell {
            value: None,
            span: Span::default(),
        }
    }
    /// A cell holding `v` when it is `Some`.
    pub fn opt(v: Option<T>) -> Cell<T> {
        Cell {
            value: v,
            span: Span::default(),
        }
    }
}

impl Cell<String> {
    /// The text, or `""` when empty.
    pub fn text(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// A row of `blocks.csv`.
#[derive(Clone, Debug, Default)]
pub struct BlockRow {
    /// Line of the row.
    pub line: u32,
    /// Path of the block, enclosing blocks joined with `.` (`VINTF`).
    pub path: Cell<String>,
    /// Offset of element 0 from the enclosing block's element (top level:
    /// the device base).
    pub offset: Cell<u64>,
    /// Number of elements (empty: not an array).
    pub count: Cell<u32>,
    /// Distance between elements.
    pub stride: Cell<u64>,
    /// Free text.
    pub description: Cell<String>,
}

/// A row of `registers.csv`.
#[derive(Clone, Debug, Default)]
pub struct RegisterRow {
    /// Line of the row.
    pub line: u32,
    /// Path of the enclosing block (empty: top level).
    pub block: Cell<String>,
    /// Register name.
    pub name: Cell<String>,
    /// Offset from the enclosing block's element (top level: device base).
    pub offset: Cell<u64>,
    /// 32 or 64.
    pub width: Cell<u32>,
    /// `rw`, `ro` or `wo`.
    pub access: Cell<RegAccess>,
    /// Reset value of the whole register.
    pub reset: Cell<u64>,
    /// Number of elements of a register array.
    pub count: Cell<u32>,
    /// Distance between elements.
    pub stride: Cell<u64>,
    /// Free text.
    pub description: Cell<String>,
}

impl RegisterRow {
    /// The register's path (`VINTF.CONFIG`).
    pub fn path(&self) -> String {
        match self.block.text() {
            "" => self.name.text().to_string(),
            b => format!("{b}.{}", self.name.text()),
        }
    }
}

/// A row of `fields.csv`.
#[derive(Clone, Debug, Default)]
pub struct FieldRow {
    /// Line of the row.
    pub line: u32,
    /// Path of the register (`VINTF.SID_MATCH`).
    pub register: Cell<String>,
    /// Field name.
    pub name: Cell<String>,
    /// Highest bit.
    pub msb: Cell<u32>,
    /// Lowest bit.
    pub lsb: Cell<u32>,
    /// Access kind (FORMAT.md vocabulary; `RW`, `RAZ/WI` also read).
    pub access: Cell<Access>,
    /// Reset value of the field (shifted down).
    pub reset: Cell<u64>,
    /// Name of the enum naming the field's values.
    pub enum_name: Cell<String>,
    /// Free text.
    pub description: Cell<String>,
}

/// A row of `enums.csv`.
#[derive(Clone, Debug, Default)]
pub struct EnumValueRow {
    /// Line of the row.
    pub line: u32,
    /// The enum's name.
    pub enum_name: Cell<String>,
    /// The value's name.
    pub name: Cell<String>,
    /// The number.
    pub value: Cell<u64>,
    /// Free text.
    pub description: Cell<String>,
}

/// A file and its text, for rendering diagnostics.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The name diagnostics use.
    pub file: String,
    /// The text.
    pub text: String,
}

/// The four tables. A table that was not given has no rows and no source.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// `blocks.csv` rows.
    pub blocks: Vec<BlockRow>,
    /// `registers.csv` rows.
    pub registers: Vec<RegisterRow>,
    /// `fields.csv` rows.
    pub fields: Vec<FieldRow>,
    /// `enums.csv` rows.
    pub enums: Vec<EnumValueRow>,
    /// Where each table came from, indexed like [`Table::ALL`].
    pub sources: [Option<Source>; 4],
}

/// A diagnostic in one of several files (tables, map).
#[derive(Clone, Debug)]
pub struct Located {
    /// The file it is in.
    pub file: String,
    /// The problem.
    pub diag: Diagnostic,
}

/// Every problem found in a set of files, with their texts for rendering.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    /// File name -> text.
    pub sources: HashMap<String, String>,
    /// The problems, in the order found (sorted by file and position when rendered).
    pub items: Vec<Located>,
}

impl Problems {
    /// Adds `diag` in `file`.
    pub fn push(&mut self, file: &str, diag: Diagnostic) {
        self.items.push(Located {
            file: file.to_string(),
            diag,
        });
    }

    /// Registers the text of `file` for rendering.
    pub fn source(&mut self, file: &str, text: &str) {
        self.sources.insert(file.to_string(), text.to_string());
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Renders every problem rustc style, sorted by file and position.
    pub fn render(&self) -> String {
        let mut items: Vec<&Located> = self.items.iter().collect();
        items.sort_by(|a, b| (&a.file, a.diag.span).cmp(&(&b.file, b.diag.span)));
        items.dedup_by(|a, b| a.file == b.file && a.diag == b.diag);
        items
            .iter()
            .map(|l| {
                let src = self.sources.get(&l.file).map_or("", String::as_str);
                l.diag.render(&l.file, src)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Problems {}

/// Parses `s` as a number: decimal or `0x` hexadecimal, `_` separators allowed.
pub(crate) fn parse_number(s: &str) -> Option<u64> {
    let t: String = s.trim().chars().filter(|&c| c != '_').collect();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if t.chars().all(|c| c.is_ascii_digit()) {
        t.parse().ok()
    } else {
        None
    }
}

/// Parses a field access as written in a table: the map's words in any
/// case, and `RAZ/WI` for `raz_wi`.
pub(crate) fn parse_access(s: &str) -> Option<Access> {
    let l = s.trim().to_ascii_lowercase().replace('/', "_");
    Access::parse(&l)
}

/// Parses a register access (`rw`, `ro`, `wo`, any case).
pub(crate) fn parse_reg_access(s: &str) -> Option<RegAccess> {
    match s.trim().to_ascii_lowercase().as_str() {
        "rw" => Some(RegAccess::Rw),
        "ro" => Some(RegAccess::Ro),
        "wo" => Some(RegAccess::Wo),
        _ => None,
    }
}

/// Reads one table's CSV text into rows of cells, checking the header.
struct Reader {
    table: Table,
    columns: HashMap<String, usize>,
    diags: Vec<Diagnostic>,
}

impl Reader {
    fn cell<'r>(&self, rec: &'r csv::Record, col: &str) -> Option<&'r csv::Field> {
        self.columns.get(col).and_then(|&i| rec.fields.get(i))
    }

    /// A text cell (trimmed; empty is `None`).
    fn text(&mut self, rec: &csv::Record, col: &str) -> Cell<String> {
        let Some(f) = self.cell(rec, col) else {
            return self.missing(rec, col);
        };
        let t = f.text.trim();
        let cell = Cell {
            value: (!t.is_empty()).then(|| t.to_string()),
            span: f.span,
        };
        if cell.value.is_none() {
            return self.missing(rec, col);
        }
        cell
    }

    /// An empty cell, reported when the column is required.
    fn missing<T>(&mut self, rec: &csv::Record, col: &str) -> Cell<T> {
        let span = self
            .cell(rec, col)
            .map_or(Span::new(rec.line, 1), |f| f.span);
        if self.table.required().contains(&col) {
            self.diags.push(Diagnostic::new(
                Kind::Syntax,
                span,
                format!(
                    "empty `{col}`: every row of {} needs one",
                    self.table.file_name()
                ),
            ));
        }
        Cell { value: None, span }
    }

    fn parsed<T>(
        &mut self,
        rec: &csv::Record,
        col: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Cell<T> {
        let t = self.text(rec, col);
        match &t.value {
            None => Cell {
                value: None,
                span: t.span,
            },
            Some(s) => match parse(s) {
                Some(v) => Cell {
                    value: Some(v),
                    span: t.span,
                },
                None => {
                    let kind = if col == "access" {
                        Kind::BadAccess
                    } else {
                        Kind::Syntax
                    };
                    self.diags.push(Diagnostic::new(
                        kind,
                        t.span,
                        format!("`{col}` is `{s}`: expected {expected}"),
                    ));
                    Cell {
                        value: None,
                        span: t.span,
                    }
                }
            },
        }
    }

    fn u64(&mut self, rec: &csv::Record, col: &str) -> Cell<u64> {
        self.parsed(
            rec,
            col,
            parse_number,
            "an unsigned integer (decimal or 0x hex) that fits in 64 bits",
        )
    }

    fn u32(&mut self, rec: &csv::Record, col: &str) -> Cell<u32> {
        self.parsed(
            rec,
            col,
            |s| parse_number(s).and_then(|v| u32::try_from(v).ok()),
            "an unsigned integer (decimal or 0x hex) that fits in 32 bits",
        )
    }
}

impl Tables {
    /// Reads the tables of directory `dir`: any of `blocks.csv`,
    /// `registers.csv`, `fields.csv`, `enums.csv` (at least one).
    pub fn read_dir(dir: &Path) -> Result<Tables, Problems> {
        let mut inputs = Vec::new();
        let mut problems = Problems::default();
        for t in Table::ALL {
            let path = dir.join(t.file_name());
            let file = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => inputs.push((t, file, text)),
                    Err(e) => problems.push(
                        &file,
                        Diagnostic::new(
                            Kind::Syntax,
                            Span::default(),
                            format!(
                                "the table is not UTF-8 text (invalid byte at offset {})",
                                e.utf8_error().valid_up_to()
                            ),
                        ),
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(
                    &file,
                    Diagnostic::new(
                        Kind::Io,
                        Span::default(),
                        format!("cannot read the table: {e}"),
                    ),
                ),
            }
        }
        if inputs.is_empty() && problems.is_empty() {
            problems.push(
                &dir.display().to_string(),
                Diagnostic::new(
                    Kind::Io,
                    Span::default(),
                    "no tables here: expected blocks.csv, registers.csv, fields.csv or enums.csv",
                ),
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Tables::parse(inputs)
    }

    /// Parses tables from `(table, file name, CSV text)` triples.
    pub fn parse(inputs: Vec<(Table, String, String)>) -> Result<Tables, Problems> {
        let mut tables = Tables::default();
        let mut problems = Problems::default();
        for (table, file, text) in inputs {
            problems.source(&file, &text);
            match csv::parse(&text) {
                Err(ds) => ds.into_iter().for_each(|d| problems.push(&file, d)),
                Ok(records) => {
                    for d in tables.read(table, &records) {
                        problems.push(&file, d);
                    }
                }
            }
            tables.sources[table.index()] = Some(Source { file, text });
        }
        if problems.is_empty() {
            Ok(tables)
        } else {
            Err(problems)
        }
    }

    /// Reads the rows of one table; returns its diagnostics.
    fn read(&mut self, table: Table, records: &[csv::Record]) -> Vec<Diagnostic> {
        let mut r = Reader {
            table,
            columns: HashMap::new(),
            diags: Vec::new(),
        };
        let Some((header, rows)) = records.split_first() else {
            r.diags.push(Diagnostic::new(
                Kind::Syntax,
                Span::new(1, 1),
                format!(
                    "{} is empty: expected a header line naming the columns ({})",
                    table.file_name(),
                    table.columns().join(", ")
                ),
            ));
            return r.diags;
        };
        for (i, f) in header.fields.iter().enumerate() {
            let name = f.text.trim().to_ascii_lowercase();
            if !table.columns().contains(&name.as_str()) {
                r.diags.push(Diagnostic::new(
                    Kind::UnknownKey,
                    f.span,
                    format!(
                        "unknown column `{}` in {}: expected one of {}",
                        f.text.trim(),
                        table.file_name(),
                        table.columns().join(", ")
                    ),
                ));
            } else if r.columns.insert(name.clone(), i).is_some() {
                r.diags.push(Diagnostic::new(
                    Kind::Duplicate,
                    f.span,
                    format!("column `{name}` appears twice"),
                ));
            }
        }
        for col in table.required() {
            if !r.columns.contains_key(*col) {
                r.diags.push(Diagnostic::new(
                    Kind::Syntax,
                    Span::new(header.line, 1),
                    format!("{} has no `{col}` column", table.file_name()),
                ));
            }
        }
        if !r.diags.is_empty() {
            return r.diags;
        }
        for rec in rows {
            if rec.fields.len() > header.fields.len() {
                let extra = &rec.fields[header.fields.len()];
                r.diags.push(Diagnostic::new(
                    Kind::Syntax,
                    extra.span,
                    format!(
                        "this row has {} cells but the header names {} columns",
                        rec.fields.len(),
                        header.fields.len()
                    ),
                ));
                continue;
            }
            let line = rec.line;
            match table {
                Table::Blocks => {
                    let row = BlockRow {
                        line,
                        path: r.text(rec, "block"),
                        offset: r.u64(rec, "offset"),
                        count: r.u32(rec, "count"),
                        stride: r.u64(rec, "stride"),
                        description: r.text(rec, "description"),
                    };
                    self.blocks.push(row);
                }
                Table::Registers => {
                    let row = RegisterRow {
                        line,
                        block: r.text(rec, "block"),
                        name: r.text(rec, "name"),
                        offset: r.u64(rec, "offset"),
                        width: r.u32(rec, "width"),
                        access: r.parsed(rec, "access", parse_reg_access, "rw, ro or wo"),
                        reset: r.u64(rec, "reset"),
                        count: r.u32(rec, "count"),
                        stride: r.u64(rec, "stride"),
                        description: r.text(rec, "description"),
                    };
                    self.registers.push(row);
                }
                Table::Fields => {
                    let row = FieldRow {
                        line,
                        register: r.text(rec, "register"),
                        name: r.text(rec, "name"),
                        msb: r.u32(rec, "msb"),
                        lsb: r.u32(rec, "lsb"),
                        access: r.parsed(
                            rec,
                            "access",
                            parse_access,
                            "one of rw, ro, wo, w1c, w1s, rc, sc, res0, res1, raz_wi",
                        ),
                        reset: r.u64(rec, "reset"),
                        enum_name: r.text(rec, "enum"),
                        description: r.text(rec, "description"),
                    };
                    self.fields.push(row);
                }
                Table::Enums => {
                    let row = EnumValueRow {
                        line,
                        enum_name: r.text(rec, "enum"),
                        name: r.text(rec, "name"),
                        value: r.u64(rec, "value"),
                        description: r.text(rec, "description"),
                    };
                    self.enums.push(row);
                }
            }
        }
        r.diags
    }

    /// The file name of `table` as given, or its default name.
    pub fn file_of(&self, table: Table) -> &str {
        self.sources[table.index()]
            .as_ref()
            .map_or(table.file_name(), |s| s.file.as_str())
    }

    /// Whether `table` was given.
    pub fn has(&self, table: Table) -> bool {
        self.sources[table.index()].is_some()
    }

    /// Writes `table` as CSV text (header first, every column).
    pub fn to_csv(&self, table: Table) -> String {
        fn hex(c: &Cell<u64>) -> String {
            c.value.map_or(String::new(), |v| format!("{v:#x}"))
        }
        fn dec<T: ToString>(c: &Cell<T>) -> String {
            c.value.as_ref().map_or(String::new(), T::to_string)
        }
        let header = table
            .columns()
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>();
        let rows: Vec<Vec<String>> = match table {
            Table::Blocks => self
                .blocks
                .iter()
                .map(|b| {
                    vec![
                        b.path.text().into(),
                        hex(&b.offset),
                        dec(&b.count),
                        hex(&b.stride),
                        b.description.text().into(),
                    ]
                })
                .collect(),
            Table::Registers => self
                .registers
                .iter()
                .map(|r| {
                    vec![
                        r.block.text().into(),
                        r.name.text().into(),
                        hex(&r.offset),
                        dec(&r.width),
                        r.access.value.map_or("", RegAccess::as_str).into(),
                        hex(&r.reset),
                        dec(&r.count),
                        hex(&r.stride),
                        r.description.text().into(),
                    ]
                })
                .collect(),
            Table::Fields => self
                .fields
                .iter()
                .map(|f| {
                    vec![
                        f.register.text().into(),
                        f.name.text().into(),
                        dec(&f.msb),
                        dec(&f.lsb),
                        f.access.value.map_or("", Access::as_str).into(),
                        hex(&f.reset),
                        f.enum_name.text().into(),
                        f.description.text().into(),
                    ]
                })
                .collect(),
            Table::Enums => self
                .enums
                .iter()
                .map(|e| {
                    vec![
                        e.enum_name.text().into(),
                        e.name.text().into(),
                        hex(&e.value),
                        e.description.text().into(),
                    ]
                })
                .collect(),
        };
        csv::write(std::iter::once(header).chain(rows))
    }
}
