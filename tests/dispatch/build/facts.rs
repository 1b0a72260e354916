//! Build-time half of the register-facts tables (`facts/*.csv`): parses and
//! checks them (every problem reported as `file:line: what`) and emits the
//! `Table` constant the library includes, plus, for maps with generated
//! guest accessors, one test per register comparing those accessors with the
//! row. Nothing here reads a map: the tables are the independent side.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

const ACCESS: [&str; 10] = [
    "rw", "ro", "wo", "w1c", "w1s", "rc", "sc", "res0", "res1", "raz_wi",
];
const REG_HEADER: &str = "path,offset,width,reset,access,alias,source";
const FIELD_HEADER: &str = "register,field,lsb,width,access,source";

/// One level of a register path: a name and, for an array, (count, stride).
pub struct Seg {
    pub name: String,
    pub dim: Option<(u32, u64)>,
}

pub struct Field {
    pub line: usize,
    pub name: String,
    pub lsb: u32,
    pub width: u32,
    pub access: &'static str,
    pub source: String,
}

impl Field {
    fn mask(&self) -> u64 {
        let v = if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        };
        v << self.lsb
    }
}

pub struct Reg {
    pub line: usize,
    pub segs: Vec<Seg>,
    pub offset: u64,
    pub width: u32,
    pub reset: Option<u64>,
    pub access: &'static str,
    /// (target path, mapped by an index map).
    pub alias: Option<(String, bool)>,
    pub source: String,
    pub fields: Vec<Field>,
}

impl Reg {
    pub fn path(&self) -> String {
        self.segs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
    fn dims(&self) -> Vec<(u32, u64)> {
        self.segs.iter().filter_map(|s| s.dim).collect()
    }
}

pub struct Table {
    pub device: String,
    pub file: String,
    pub regs: Vec<Reg>,
}

fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn access(s: &str) -> Option<&'static str> {
    ACCESS.iter().copied().find(|a| *a == s)
}

fn ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// `NAME` or `NAME[count@stride]`.
fn seg(s: &str) -> Option<Seg> {
    let (name, dim) = match s.split_once('[') {
        None => (s, None),
        Some((name, rest)) => {
            let (count, stride) = rest.strip_suffix(']')?.split_once('@')?;
            let count = u32::try_from(num(count)?).ok().filter(|&c| c > 0)?;
            let stride = num(stride).filter(|&s| s > 0)?;
            (name, Some((count, stride)))
        }
    };
    ident(name).then(|| Seg {
        name: name.to_string(),
        dim,
    })
}

/// Data lines of a CSV after the header: (line number, columns).
fn rows(
    file: &str,
    text: &str,
    header: &str,
    cols: usize,
    errs: &mut Vec<String>,
) -> Vec<(usize, Vec<String>)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    match lines.next() {
        Some((_, h)) if h == header => {}
        Some((n, h)) => errs.push(format!("{file}:{n}: header `{h}`, expected `{header}`")),
        None => errs.push(format!("{file}: empty table")),
    }
    lines
        .filter_map(|(n, l)| {
            let c: Vec<String> = l.splitn(cols, ',').map(|c| c.trim().to_string()).collect();
            if c.len() == cols {
                Some((n, c))
            } else {
                errs.push(format!("{file}:{n}: {} columns, expected {cols}", c.len()));
                None
            }
        })
        .collect()
}

/// Loads `<dir>/<device>.registers.csv` and `<dir>/<device>.fields.csv`.
pub fn load(dir: &Path, device: &str) -> Result<Table, Vec<String>> {
    let rfile = format!("facts/{device}.registers.csv");
    let ffile = format!("facts/{device}.fields.csv");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f.trim_start_matches("facts/")))
            .map_err(|e| vec![format!("{f}: {e}")])
    };
    let (rtext, ftext) = (read(&rfile)?, read(&ffile)?);
    let mut errs = Vec::new();
    let mut regs: Vec<Reg> = Vec::new();
    for (n, c) in rows(&rfile, &rtext, REG_HEADER, 7, &mut errs) {
        let at = format!("{rfile}:{n}");
        let segs: Option<Vec<Seg>> = c[0].split('.').map(seg).collect();
        let Some(segs) = segs else {
            errs.push(format!(
                "{at}: bad path `{}` (NAME or NAME[count@stride], dot-separated)",
                c[0]
            ));
            continue;
        };
        let width = match c[2].as_str() {
            "32" => 32,
            "64" => 64,
            w => {
                errs.push(format!("{at}: width `{w}`, expected 32 or 64"));
                continue;
            }
        };
        let Some(offset) = num(&c[1]) else {
            errs.push(format!("{at}: bad offset `{}`", c[1]));
            continue;
        };
        if offset % u64::from(width / 8) != 0 {
            errs.push(format!(
                "{at}: offset {offset:#x} not aligned to the {width}-bit width"
            ));
        }
        if let Some((_, stride)) = segs.last().and_then(|s| s.dim) {
            if stride < u64::from(width / 8) {
                errs.push(format!(
                    "{at}: stride {stride:#x} smaller than the register"
                ));
            }
        }
        let access = match c[4].as_str() {
            a @ ("rw" | "ro" | "wo") => access(a).unwrap_or("rw"),
            a => {
                errs.push(format!(
                    "{at}: register access `{a}`, expected rw, ro or wo"
                ));
                continue;
            }
        };
        let alias = match c[5].as_str() {
            "" => None,
            a => match a.strip_prefix("mapped:") {
                Some(t) => Some((t.to_string(), true)),
                None => Some((a.to_string(), false)),
            },
        };
        let reset = match (c[3].as_str(), &alias) {
            ("-", Some(_)) => None,
            (r, None) => match num(r) {
                Some(v) if width == 64 || v <= 0xffff_ffff => Some(v),
                _ => {
                    errs.push(format!("{at}: bad reset `{r}` for a {width}-bit register"));
                    continue;
                }
            },
            (r, Some(_)) => {
                errs.push(format!(
                    "{at}: an alias has no reset of its own (`-`), found `{r}`"
                ));
                continue;
            }
        };
        let r = Reg {
            line: n,
            segs,
            offset,
            width,
            reset,
            access,
            alias,
            source: c[6].clone(),
            fields: Vec::new(),
        };
        if regs.iter().any(|o| o.path() == r.path()) {
            errs.push(format!("{at}: register `{}` listed twice", r.path()));
            continue;
        }
        regs.push(r);
    }
    for (n, c) in rows(&ffile, &ftext, FIELD_HEADER, 6, &mut errs) {
        let at = format!("{ffile}:{n}");
        let Some(reg) = regs.iter_mut().find(|r| r.path() == c[0]) else {
            errs.push(format!("{at}: no register `{}` in {rfile}", c[0]));
            continue;
        };
        if reg.alias.is_some() {
            errs.push(format!(
                "{at}: `{}` is an alias; its fields are its target's",
                c[0]
            ));
            continue;
        }
        let (Some(lsb), Some(width)) = (num(&c[2]), num(&c[3])) else {
            errs.push(format!("{at}: bad lsb `{}` or width `{}`", c[2], c[3]));
            continue;
        };
        if width == 0 || lsb + width > u64::from(reg.width) {
            errs.push(format!(
                "{at}: bits {lsb}+{width} do not fit the {}-bit register",
                reg.width
            ));
            continue;
        }
        let Some(acc) = access(&c[4]) else {
            errs.push(format!("{at}: unknown access `{}`", c[4]));
            continue;
        };
        let allowed = match reg.access {
            "ro" => matches!(acc, "ro" | "rc" | "res0" | "res1" | "raz_wi"),
            "wo" => matches!(acc, "wo" | "sc" | "w1s" | "res0" | "res1" | "raz_wi"),
            _ => true,
        };
        if !allowed {
            errs.push(format!(
                "{at}: a `{acc}` field in a `{}` register",
                reg.access
            ));
        }
        if !ident(&c[1]) || reg.fields.iter().any(|f| f.name == c[1]) {
            errs.push(format!("{at}: bad or repeated field name `{}`", c[1]));
            continue;
        }
        reg.fields.push(Field {
            line: n,
            name: c[1].clone(),
            lsb: lsb as u32,
            width: width as u32,
            access: acc,
            source: c[5].clone(),
        });
    }
    // Per-register consistency: fields, reset, alias targets.
    let by_path: BTreeMap<String, usize> = regs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.path(), i))
        .collect();
    for r in &mut regs {
        r.fields.sort_by_key(|f| f.lsb);
    }
    for r in &regs {
        let at = format!("{rfile}:{}", r.line);
        match (&r.alias, r.reset) {
            (None, Some(reset)) => {
                if r.fields.is_empty() {
                    errs.push(format!("{at}: `{}` has no fields in {ffile}", r.path()));
                }
                for w in r.fields.windows(2) {
                    if w[1].lsb < w[0].lsb + w[0].width {
                        errs.push(format!(
                            "{ffile}:{}: field `{}` overlaps `{}`",
                            w[1].line, w[1].name, w[0].name
                        ));
                    }
                }
                let covered = r.fields.iter().fold(0, |m, f| m | f.mask());
                if reset & !covered != 0 {
                    errs.push(format!(
                        "{at}: reset {reset:#x} sets bits {:#x} no field covers",
                        reset & !covered
                    ));
                }
                for f in &r.fields {
                    let v = reset & f.mask();
                    let bad = match f.access {
                        "res1" => v != f.mask(),
                        "sc" | "res0" | "raz_wi" => v != 0,
                        _ => false,
                    };
                    if bad {
                        errs.push(format!(
                            "{at}: reset {reset:#x} contradicts the `{}` field `{}`",
                            f.access, f.name
                        ));
                    }
                }
            }
            (Some((target, mapped)), None) => match by_path.get(target).map(|&i| &regs[i]) {
                Some(t) if t.alias.is_none() => {
                    if t.width != r.width || t.access != r.access {
                        errs.push(format!(
                            "{at}: alias width/access {}/{} differ from `{target}` {}/{}",
                            r.width, r.access, t.width, t.access
                        ));
                    }
                    let counts = |x: &Reg| x.dims().iter().map(|d| d.0).collect::<Vec<_>>();
                    if !mapped && counts(r) != counts(t) {
                        errs.push(format!(
                            "{at}: a static alias needs the array shape of `{target}`"
                        ));
                    }
                }
                _ => errs.push(format!(
                    "{at}: alias target `{target}` is not a register row"
                )),
            },
            _ => unreachable!("reset presence follows the alias column"),
        }
    }
    // No two register elements may overlap.
    let mut spans: Vec<(u64, u64, usize)> = Vec::new();
    for (i, r) in regs.iter().enumerate() {
        let mut offs = vec![r.offset];
        for (count, stride) in r.dims() {
            offs = offs
                .iter()
                .flat_map(|o| (0..u64::from(count)).map(move |k| o + k * stride))
                .collect();
        }
        spans.extend(offs.into_iter().map(|o| (o, o + u64::from(r.width / 8), i)));
    }
    spans.sort();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            let (a, b) = (&regs[w[0].2], &regs[w[1].2]);
            errs.push(format!(
                "{rfile}:{}: an element of `{}` at {:#x} overlaps `{}` (line {})",
                b.line,
                b.path(),
                w[1].0,
                a.path(),
                a.line
            ));
            break;
        }
    }
    if errs.is_empty() {
        Ok(Table {
            device: device.to_string(),
            file: rfile,
            regs,
        })
    } else {
        Err(errs)
    }
}

fn access_variant(a: &str) -> &'static str {
    match a {
        "rw" => "Rw",
        "ro" => "Ro",
        "wo" => "Wo",
        "w1c" => "W1c",
        "w1s" => "W1s",
        "rc" => "Rc",
        "sc" => "Sc",
        "res0" => "Res0",
        "res1" => "Res1",
        _ => "RazWi",
    }
}

impl Table {
    fn target<'a>(&'a self, r: &'a Reg) -> &'a Reg {
        match &r.alias {
            Some((t, _)) => self
                .regs
                .iter()
                .find(|x| &x.path() == t)
                .expect("checked by load"),
            None => r,
        }
    }

    /// The `Table` constant (an expression of type `crate::facts::Table`).
    pub fn emit(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "crate::facts::Table {{ device: {:?}, file: {:?}, registers: &[",
            self.device, self.file
        );
        for r in &self.regs {
            let t = self.target(r);
            let dims: Vec<String> = r
                .dims()
                .iter()
                .map(|(c, st)| format!("({c}, {st:#x})"))
                .collect();
            let alias = match &r.alias {
                Some((target, mapped)) => {
                    format!("Some(crate::facts::Alias {{ target: {target:?}, mapped: {mapped} }})")
                }
                None => "None".into(),
            };
            let _ = writeln!(
                s,
                "crate::facts::Register {{ path: {:?}, dims: &[{}], offset: {:#x}, width: {}, reset: {:#x}, access: crate::facts::Access::{}, alias: {alias}, line: {}, source: {:?}, fields: &[",
                r.path(),
                dims.join(", "),
                r.offset,
                r.width,
                t.reset.unwrap_or(0),
                access_variant(r.access),
                r.line,
                r.source,
            );
            for f in &t.fields {
                let _ = writeln!(
                    s,
                    "crate::facts::Field {{ name: {:?}, lsb: {}, width: {}, access: crate::facts::Access::{}, line: {}, source: {:?} }},",
                    f.name,
                    f.lsb,
                    f.width,
                    access_variant(f.access),
                    f.line,
                    f.source
                );
            }
            s.push_str("] },\n");
        }
        s.push_str("] }\n");
        s
    }

    /// One `#[test]` per register comparing the generated guest accessors of
    /// crate `krate` (device struct `dev`) with the row: the register
    /// module's constants (offset, width, reset, masks per access kind,
    /// reserved bits, array count and stride), every field's mask and shift,
    /// the module's field list, and the offset, width and access type of the
    /// accessor of every element (through a recording MMIO backend).
    pub fn emit_accessor_tests(&self, krate: &str, dev: &str) -> String {
        let mut s = String::new();
        let mut names = BTreeSet::new();
        for r in &self.regs {
            let t = self.target(r);
            let module = format!(
                "{krate}::{}",
                r.segs
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join("::")
            );
            let mut name = r.path().to_lowercase().replace('.', "_");
            while !names.insert(name.clone()) {
                name.push('_');
            }
            let row = format!("{}:{} {}", self.file, r.line, r.path());
            let _ = writeln!(s, "#[test]\nfn {name}() {{");
            let _ = writeln!(s, "    let row = {:?};\n    let reg = {}.register({:?}).expect(\"row in the table\");", row, self.device.to_uppercase(), r.path());
            let _ = writeln!(
                s,
                "    check_consts(row, reg, Consts {{ offset: {m}::OFFSET as u64, width: {m}::WIDTH, reset: w({m}::RESET), masks: {m}::MASKS.by_kind(), reserved: {m}::MASKS.reserved({m}::WIDTH) }});",
                m = module
            );
            let fields: Vec<String> = t
                .fields
                .iter()
                .map(|f| {
                    format!(
                        "({:?}, w({module}::{n}.mask), {module}::{n}.shift)",
                        f.name,
                        n = f.name
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "    check_fields(row, reg, &[{}], <{module}::Register as regmap_rt::Layout>::FIELDS);",
                fields.join(", ")
            );
            if let Some((count, stride)) = r.segs.last().and_then(|g| g.dim) {
                let _ = writeln!(s, "    assert_eq!(({module}::COUNT, {module}::STRIDE as u64), ({count}, {stride:#x}), \"{{row}}: COUNT/STRIDE\");");
            }
            // The accessor chain, one loop per array level.
            let _ = writeln!(s, "    let rec = Recorder::default();\n    let dev = {krate}::{dev}::new(&rec);\n    let mut elements = 0usize;");
            let mut expr = "dev".to_string();
            let mut offset = format!("{:#x}u64", r.offset);
            let mut depth = 0;
            for (k, g) in r.segs.iter().enumerate() {
                let method = g.name.to_lowercase();
                match g.dim {
                    Some((count, stride)) => {
                        let ind = "    ".repeat(depth + 1);
                        let _ = writeln!(s, "{ind}assert!({expr}.{method}({count}).is_none(), \"{{row}}: {method}({count}) is out of range\");");
                        let _ = writeln!(s, "{ind}for i{k} in 0..{count}usize {{");
                        let _ = writeln!(
                            s,
                            "{ind}    let h{k} = {expr}.{method}(i{k}).expect(\"in range\");"
                        );
                        offset = format!("{offset} + i{k} as u64 * {stride:#x}");
                        expr = format!("h{k}");
                        depth += 1;
                    }
                    None => {
                        let ind = "    ".repeat(depth + 1);
                        let _ = writeln!(s, "{ind}let h{k} = {expr}.{method}();");
                        expr = format!("h{k}");
                    }
                }
            }
            let ind = "    ".repeat(depth + 1);
            let _ = writeln!(
                s,
                "{ind}check_accessor(row, reg, &rec, &{expr}, {offset});\n{ind}elements += 1;"
            );
            for d in (0..depth).rev() {
                let _ = writeln!(s, "{}}}", "    ".repeat(d + 1));
            }
            let _ = writeln!(
                s,
                "    assert_eq!(elements, reg.elements(), \"{{row}}: elements\");\n}}"
            );
        }
        s
    }
}
