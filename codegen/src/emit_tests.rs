//! Pass 2c (emit): one `#[test]` per register field and per structure
//! field, generated from the map so the tests and the code can never drift
//! apart silently: mask and shift as the map says, the reset value, a write
//! and read back through the accessor over an in-memory backend (including
//! that a read-modify-write never writes back w1c or self-clearing bits),
//! index bounds, and the enum round trip.
//!
//! The output refers to the generated crate as `dev` and to a `TestMmio`
//! backend; [`emit`] defines both once at the top.

use std::collections::HashSet;

use regmap::model::{Device, RegAccess, Width};

use crate::emit_regs::lit;
use crate::emit_structs::struct_ty;
use crate::lower::{enum_ty, LBlock, Lowered};
use crate::names::{ident, test_name};

/// `v` as the generated accessors write it (hex at the register's width).
fn lit_at(w: Width, v: u64) -> String {
    lit(w, v).to_string()
}

/// (method, count) of every block enclosing each register, outermost first.
fn chains(low: &Lowered) -> Vec<Vec<(proc_macro2::Ident, u32)>> {
    fn walk(
        b: &LBlock,
        prefix: &[(proc_macro2::Ident, u32)],
        out: &mut Vec<Vec<(proc_macro2::Ident, u32)>>,
    ) {
        let mut p = prefix.to_vec();
        p.push((b.method.clone(), b.count));
        for &r in &b.regs {
            out[r] = p.clone();
        }
        for c in &b.children {
            walk(c, &p, out);
        }
    }
    let mut out = vec![Vec::new(); low.regs.len()];
    for b in &low.blocks {
        walk(b, &[], &mut out);
    }
    out
}

/// The enum a field's values are named by: its generated type path
/// (`dev::enums::Ttf`) and its definition.
fn field_enum<'d>(
    dev: &'d Device,
    name: Option<&str>,
) -> Option<(String, &'d regmap::model::Enum)> {
    let name = name?;
    let en = dev.enum_by_name(name)?;
    Some((format!("dev::enums::{}", enum_ty(name)), en))
}

/// The generated per-field tests for `dev`, whose crate is `crate_name`.
///
/// Written as text rather than tokens: the tests are most of the generated
/// lines, and printing them directly, already indented, keeps the generator
/// within its time budget (see the crate docs).
pub fn emit(low: &Lowered, dev: &Device, crate_name: &str) -> String {
    use std::fmt::Write;
    let root = &low.root_ty;
    let chains = chains(low);
    let mut used = HashSet::new();
    let mut unique = |base: String| -> String {
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    };
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(&PRELUDE.replace("CRATE", crate_name));
    for (i, r) in dev.registers.iter().enumerate() {
        let lr = &low.regs[i];
        let path: Vec<String> = lr.path.iter().map(|p| p.to_string()).collect();
        let path = format!("dev::{}", path.join("::"));
        let t = match r.width {
            Width::W32 => "u32",
            Width::W64 => "u64",
        };
        // Reach the last element of every array: the bound most likely wrong.
        let mut chain = String::new();
        let mut indices = String::new();
        for (m, count) in &chains[i] {
            if *count > 1 {
                let _ = writeln!(
                    indices,
                    "    assert!(d{chain}.{m}({count}).is_none(), \"index past the array\");"
                );
                let _ = write!(chain, ".{m}({}).expect(\"last element\")", count - 1);
            } else {
                let _ = write!(chain, ".{m}()");
            }
        }
        let m = &lr.method;
        let reg_expr = match lr.array {
            None => format!("d{chain}.{m}()"),
            Some((count, _)) => {
                let _ = writeln!(
                    indices,
                    "    assert!(d{chain}.{m}({count}).is_none(), \"index past the array\");"
                );
                format!("d{chain}.{m}({}).expect(\"last element\")", count - 1)
            }
        };
        let last_idx: Vec<u32> = r.arrays.iter().map(|a| a.count - 1).collect();
        let Some(abs) = r.element_offset(&last_idx) else {
            continue;
        };
        let abs = format!("{abs:#x}");
        for f in &r.fields {
            let name = unique(test_name(&[&r.path().replace('.', "_"), &f.name]));
            let field = format!("{path}::{}", ident(&f.name));
            let mask = lit_at(r.width, f.value_mask());
            let shifted = lit_at(r.width, f.mask());
            let reset = lit_at(r.width, f.reset);
            let _ = write!(
                out,
                "#[test]
fn {name}() {{
    const W: u32 = {path}::WIDTH;
    assert_eq!({field}.mask, {mask}, \"mask as in the map\");
    assert_eq!({field}.shift, {shift}, \"shift as in the map\");
    assert_eq!({field}.read({path}::RESET), {reset}, \"reset as in the map\");
    let mmio = TestMmio::default();
    let d = dev::{root}::new(&mmio);
{indices}    let reg = {reg_expr};
    assert_eq!(reg.offset(), {abs}, \"element offset\");
",
                shift = f.lsb,
            );
            let _ = match r.access {
                RegAccess::Rw => write!(
                    out,
                    "    reg.write({field}.val({mask}));
    assert_eq!(peek(&mmio, {abs}, W), u64::from({shifted} as {t}), \"write puts the field in place\");
    assert_eq!(reg.read({field}), {mask});
    poke(&mmio, {abs}, W, u64::MAX);
    reg.modify({field}.val(0));
    let expect = !({shifted} as {t}) & !{path}::KEEP_ZERO;
    assert_eq!(
        peek(&mmio, {abs}, W),
        u64::from(expect),
        \"modify keeps other fields and never writes back w1c/sc bits\"
    );
"
                ),
                RegAccess::Ro => write!(
                    out,
                    "    poke(&mmio, {abs}, W, u64::from({shifted} as {t}));
    assert_eq!(reg.read({field}), {mask});
    assert!(reg.is_set({field}));
"
                ),
                RegAccess::Wo => write!(
                    out,
                    "    reg.write({field}.val({mask}));
    assert_eq!(peek(&mmio, {abs}, W), u64::from({shifted} as {t}));
"
                ),
            };
            if let Some((et, en)) = field_enum(dev, f.enum_name.as_deref()) {
                for v in &en.values {
                    let vn = ident(&v.name);
                    let vv = lit_at(r.width, v.value);
                    let _ = write!(
                        out,
                        "    let fv = {field}.val({vv});
    assert_eq!({field}.read_as_enum::<{et}>(fv.value), Some({et}::{vn}));
    assert_eq!({field}::{vn}.value, fv.value, \"named field value\");
    assert_eq!({et}::{vn}.value(), {vv} as u64);
"
                    );
                }
            }
            out.push_str("}\n");
        }
    }
    for s in &dev.structs {
        let ty = format!("dev::structs::{}", struct_ty(s));
        for f in &s.fields {
            let name = unique(format!("struct_{}", test_name(&[&s.name, &f.name])));
            let field = format!("{ty}::{}", ident(&f.name));
            let w = f.word;
            let mask = format!("{:#x}", f.value_mask());
            let shift = f.lsb;
            let _ = write!(
                out,
                "#[test]
fn {name}() {{
    use dev::structs::Words;
    let base = {ty}::new();
    let s = Words::with(base, {field}, {mask});
    assert_eq!(Words::get(&s, {field}), {mask});
    assert_eq!(s.0[{w}] & ({mask} << {shift}), {mask} << {shift}, \"field bits in place\");
    for (i, (a, b)) in s.0.iter().zip(base.0.iter()).enumerate() {{
        let expect = if i == {w} {{ b | ({mask} << {shift}) }} else {{ *b }};
        assert_eq!(*a, expect, \"other bits untouched\");
    }}
    assert_eq!(Words::get(&Words::with(s, {field}, 0), {field}), 0);
"
            );
            if let Some((et, en)) = field_enum(dev, f.enum_name.as_deref()) {
                for v in &en.values {
                    let vn = ident(&v.name);
                    let _ = write!(
                        out,
                        "    let e = Words::with_enum(base, {field}, {et}::{vn});
    assert_eq!(Words::get_enum(&e, {field}), Some({et}::{vn}));
"
                    );
                }
            }
            out.push_str("}\n");
        }
    }
    out
}

/// The top of every generated test file: the crate under test as `dev` and
/// a sparse in-memory MMIO backend.
const PRELUDE: &str = "use CRATE as dev;
use std::cell::RefCell;
use std::collections::HashMap;
/// A sparse in-memory register window for the generated tests.
#[derive(Default)]
struct TestMmio(RefCell<HashMap<usize, u32>>);
impl regmap_rt::Mmio for TestMmio {
    fn read32(&self, offset: usize) -> u32 {
        self.0.borrow().get(&offset).copied().unwrap_or(0)
    }
    fn read64(&self, offset: usize) -> u64 {
        u64::from(self.read32(offset)) | (u64::from(self.read32(offset + 4)) << 32)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.0.borrow_mut().insert(offset, value);
    }
    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}
#[allow(dead_code)]
fn peek(m: &TestMmio, offset: usize, width: u32) -> u64 {
    use regmap_rt::Mmio;
    if width == 64 {
        m.read64(offset)
    } else {
        u64::from(m.read32(offset))
    }
}
#[allow(dead_code)]
fn poke(m: &TestMmio, offset: usize, width: u32, value: u64) {
    use regmap_rt::Mmio;
    if width == 64 {
        m.write64(offset, value)
    } else {
        m.write32(offset, value as u32)
    }
}
";
