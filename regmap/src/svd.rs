//! The map as a CMSIS-SVD file, for debuggers' peripheral views (probe-rs,
//! Cortex-Debug, Segger) and SVD-driven generators (svd2rust, chiptool).
//!
//! - one `<peripheral>` per device window, at `base` + the window offset;
//! - one `<cluster>` per block, `dim`/`dimIncrement` for block arrays;
//! - `<register>` with `size`, `access`, `resetValue`/`resetMask`, and
//!   `dim`/`dimIncrement` for register arrays;
//! - `<field>` with `bitRange`, `access`, `modifiedWriteValues` for `w1c`
//!   (`oneToClear`) and `w1s` (`oneToSet`), `readAction` `clear` for `rc`,
//!   and `enumeratedValues` for fields with an enum.
//!
//! SVD has no hooks, aliases or structures. Hooks become a sentence of the
//! register's description; an alias is written as a full copy of its target
//! (same fields) whose description names the target (and, for an alias
//! block, the index-mapping hook); structures are left out. FORMAT.md has
//! the full list.

use std::fmt::Write as _;

use crate::model::{Access, Block, Device, Field, RegAccess, Register};

/// The SVD schema version the output follows.
pub const SCHEMA_VERSION: &str = "1.3";

/// Writes the SVD of `dev` with its windows at `base` + their offsets.
/// Fails (with a message) only if a top-level block straddles two windows,
/// which a peripheral cannot express.
pub fn to_svd(dev: &Device, base: u64) -> Result<String, String> {
    let mut w = Xml::default();
    w.raw("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    w.open_attrs(
        "device",
        &format!(
            "schemaVersion=\"{SCHEMA_VERSION}\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema-instance\" xs:noNamespaceSchemaLocation=\"CMSIS-SVD.xsd\""
        ),
    );
    w.leaf("name", &dev.name);
    w.leaf("version", env!("CARGO_PKG_VERSION"));
    w.leaf("description", nonempty(&dev.description, &dev.name));
    w.leaf("addressUnitBits", "8");
    w.leaf("width", "32");
    w.leaf("size", "32");
    w.leaf("access", "read-write");
    w.leaf("resetValue", "0x0");
    w.leaf("resetMask", "0xFFFFFFFF");
    w.open("peripherals");
    let top_regs: Vec<&Register> = dev
        .registers
        .iter()
        .filter(|r| r.blocks.is_empty())
        .collect();
    for win in &dev.windows {
        let (lo, hi) = (win.offset, win.offset.saturating_add(win.size));
        let inside = |a: u64| lo <= a && a < hi;
        w.open("peripheral");
        w.leaf("name", &win.name);
        if !win.description.is_empty() {
            w.leaf("description", &win.description);
        }
        w.leaf("baseAddress", &hex(base.wrapping_add(win.offset)));
        w.open("addressBlock");
        w.leaf("offset", "0x0");
        w.leaf("size", &hex(win.size));
        w.leaf("usage", "registers");
        w.close("addressBlock");
        let regs: Vec<&&Register> = top_regs.iter().filter(|r| inside(r.offset)).collect();
        let blocks: Vec<&Block> = dev
            .blocks
            .iter()
            .filter(|b| inside(b.offset) && !block_registers(b).is_empty())
            .collect();
        for b in &blocks {
            let end = block_end(dev, b);
            if end > hi {
                return Err(format!(
                    "block `{}` spans {:#x}..{end:#x}, past window `{}` ({lo:#x}..{hi:#x}): one SVD peripheral cannot hold it",
                    b.name, b.offset, win.name
                ));
            }
        }
        if !regs.is_empty() || !blocks.is_empty() {
            w.open("registers");
            for r in regs {
                register(&mut w, dev, r, lo);
            }
            for b in blocks {
                cluster(&mut w, dev, b, b.offset, lo);
            }
            w.close("registers");
        }
        w.close("peripheral");
    }
    w.close("peripherals");
    w.close("device");
    Ok(w.out)
}

/// Indices of every register inside `b` (nested blocks included).
fn block_registers(b: &Block) -> Vec<usize> {
    let mut v = b.registers.clone();
    for c in &b.blocks {
        v.extend(block_registers(c));
    }
    v
}

/// End (exclusive) of the last register element inside `b`.
fn block_end(dev: &Device, b: &Block) -> u64 {
    block_registers(b)
        .iter()
        .filter_map(|&i| dev.registers.get(i))
        .map(|r| {
            let last: u64 = r
                .arrays
                .iter()
                .map(|d| u64::from(d.count.saturating_sub(1)).saturating_mul(d.stride))
                .fold(0u64, u64::saturating_add);
            r.offset
                .saturating_add(last)
                .saturating_add(r.width.bytes())
        })
        .max()
        .unwrap_or(b.offset)
}

/// Writes block `b` (element 0 at `abs`) as a cluster inside a container
/// whose element 0 is at `parent`.
fn cluster(w: &mut Xml, dev: &Device, b: &Block, abs: u64, parent: u64) {
    let regs = block_registers(b);
    if regs.is_empty() {
        return;
    }
    w.open("cluster");
    if b.count > 1 {
        w.leaf("dim", &b.count.to_string());
        w.leaf("dimIncrement", &hex(b.stride));
    }
    let name = if b.count > 1 {
        format!("{}[%s]", b.name)
    } else {
        b.name.clone()
    };
    w.leaf("name", &name);
    let mut desc = nonempty(&b.description, &b.name).to_string();
    if let Some(target) = &b.alias {
        let note = match &b.index_map {
            Some(h) => format!(
                " Alias of block {target}: each element shows the {target} element that hook `{h}` maps it to ({})",
                hook_text(dev, h)
            ),
            None => format!(" Alias of block {target}: the same registers, element for element."),
        };
        desc.push_str(&note);
    }
    w.leaf("description", &desc);
    w.leaf("addressOffset", &hex(abs.saturating_sub(parent)));
    for &i in &b.registers {
        if let Some(r) = dev.registers.get(i) {
            register(w, dev, r, abs);
        }
    }
    for c in &b.blocks {
        cluster(w, dev, c, abs.saturating_add(c.offset), abs);
    }
    w.close("cluster");
}

fn reg_access(a: RegAccess) -> &'static str {
    match a {
        RegAccess::Rw => "read-write",
        RegAccess::Ro => "read-only",
        RegAccess::Wo => "write-only",
    }
}

fn hook_text(dev: &Device, name: &str) -> String {
    dev.hooks
        .iter()
        .find(|h| h.name == name)
        .map_or(String::new(), |h| h.description.clone())
}

/// Writes register `r` inside a container whose element 0 is at `parent`.
fn register(w: &mut Xml, dev: &Device, r: &Register, parent: u64) {
    let own = crate::tables::export::own_dim(dev, r);
    w.open("register");
    if let Some(d) = own {
        w.leaf("dim", &d.count.to_string());
        w.leaf("dimIncrement", &hex(d.stride));
    }
    let name = if own.is_some() {
        format!("{}[%s]", r.name)
    } else {
        r.name.clone()
    };
    w.leaf("name", &name);
    let mut desc = r.description.clone();
    if let Some(a) = &r.alias {
        if a.index_map.is_none() && r.description == format!("Alias of {}.", a.target_path) {
            desc.clear();
        }
        if a.index_map.is_none() {
            let note = format!(
                "Alias of {}: the same register (same storage).",
                a.target_path
            );
            desc = if desc.is_empty() {
                note
            } else {
                format!("{desc} {note}")
            };
        }
    }
    for (what, hook) in [("On write", &r.on_write), ("On read", &r.on_read)] {
        if let Some(h) = hook {
            let _ = write!(
                desc,
                "{}{what} (hook `{h}`): {}",
                sep(&desc),
                hook_text(dev, h)
            );
        }
    }
    if !desc.is_empty() {
        w.leaf("description", &desc);
    }
    w.leaf("addressOffset", &hex(r.offset.saturating_sub(parent)));
    w.leaf("size", &r.width.bits().to_string());
    w.leaf("access", reg_access(r.access));
    w.leaf("resetValue", &hex(r.reset));
    w.leaf("resetMask", &hex(r.width.mask()));
    let shown: Vec<&Field> = r
        .fields
        .iter()
        .filter(|f| !matches!(f.access, Access::Res0 | Access::RazWi))
        .filter(|_| !crate::tables::export::implicit_value_field(r))
        .collect();
    if !shown.is_empty() {
        w.open("fields");
        for f in shown {
            field(w, dev, f);
        }
        w.close("fields");
    }
    w.close("register");
}

fn sep(s: &str) -> &'static str {
    if s.is_empty() {
        ""
    } else if s.ends_with('.') {
        " "
    } else {
        ". "
    }
}

fn field(w: &mut Xml, dev: &Device, f: &Field) {
    w.open("field");
    w.leaf("name", &f.name);
    let mut desc = f.description.clone();
    let extra = match f.access {
        Access::Sc => Some("Self-clearing: a write of 1 starts the action; reads as zero."),
        Access::Res1 => Some("Reserved, reads as one (RES1); writes are ignored."),
        Access::Wo => Some("Reads as zero."),
        _ => None,
    };
    if let Some(e) = extra {
        let _ = write!(desc, "{}{e}", sep(&desc));
    }
    if !desc.is_empty() {
        w.leaf("description", &desc);
    }
    w.leaf("bitRange", &format!("[{}:{}]", f.msb, f.lsb));
    let (access, mwv, read_action) = match f.access {
        Access::Rw => ("read-write", None, None),
        Access::Ro | Access::Res1 => ("read-only", None, None),
        Access::Wo | Access::Sc => ("write-only", None, None),
        Access::W1c => ("read-write", Some("oneToClear"), None),
        Access::W1s => ("read-write", Some("oneToSet"), None),
        Access::Rc => ("read-only", None, Some("clear")),
        Access::Res0 | Access::RazWi => ("read-only", None, None),
    };
    w.leaf("access", access);
    if let Some(m) = mwv {
        w.leaf("modifiedWriteValues", m);
    }
    if let Some(a) = read_action {
        w.leaf("readAction", a);
    }
    if let Some(e) = f.enum_name.as_deref().and_then(|n| dev.enum_by_name(n)) {
        let fitting: Vec<_> = e
            .values
            .iter()
            .filter(|v| v.value & !f.value_mask() == 0)
            .collect();
        if !fitting.is_empty() {
            w.open("enumeratedValues");
            for v in fitting {
                w.open("enumeratedValue");
                w.leaf("name", &v.name);
                if !v.description.is_empty() {
                    w.leaf("description", &v.description);
                }
                w.leaf("value", &hex(v.value));
                w.close("enumeratedValue");
            }
            w.close("enumeratedValues");
        }
    }
    w.close("field");
}

fn hex(v: u64) -> String {
    format!("{v:#X}").replacen("0X", "0x", 1)
}

fn nonempty<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.is_empty() {
        fallback
    } else {
        s
    }
}

/// A tiny indenting XML writer.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
    fn open(&mut self, tag: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>");
        self.depth += 1;
    }
    fn open_attrs(&mut self, tag: &str, attrs: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag} {attrs}>");
        self.depth += 1;
    }
    fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{tag}>");
    }
    fn leaf(&mut self, tag: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>{}</{tag}>", escape(text));
    }
}

/// Escapes text for an XML element.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}
