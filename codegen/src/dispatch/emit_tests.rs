//! Per-register tests of the generated dispatcher, generated from the map:
//! reset values, every field's access semantics through guest reads and
//! writes, 64-bit halves, alias folding and bad accesses. The expected
//! values come from the map's fields (FORMAT.md's access table), not from
//! the IR masks the dispatcher was generated from.

use std::collections::HashSet;
use std::fmt::Write;

use regmap::model::{Access, Device, Register, Width};

use super::decode::Node;
use super::ir::{Ir, Kind, RegIr, Role};
use super::names::ident;
use crate::names::hex_grouped as hex;

/// Element index combinations to test: first, last (and a middle one).
fn elements(r: &RegIr) -> Vec<Vec<u32>> {
    if r.dims.is_empty() {
        return vec![vec![]];
    }
    let first: Vec<u32> = r.dims.iter().map(|_| 0).collect();
    let last: Vec<u32> = r.dims.iter().map(|d| d.count - 1).collect();
    let mid: Vec<u32> = r.dims.iter().map(|d| d.count / 2).collect();
    let mut out = vec![first];
    for e in [mid, last] {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

fn offset_of(offset: u64, dims: &[super::ir::Dim], idx: &[u32]) -> u64 {
    dims.iter()
        .zip(idx)
        .fold(offset, |o, (d, i)| o + u64::from(*i) * d.stride)
}

/// The value a guest read returns for a stored value, from the field table.
fn read_value(r: &Register, stored: u64) -> u64 {
    r.fields.iter().fold(0, |v, f| match f.access {
        Access::Rw | Access::Ro | Access::W1c | Access::W1s | Access::Rc => v | (stored & f.mask()),
        Access::Res1 => v | f.mask(),
        Access::Wo | Access::Sc | Access::Res0 | Access::RazWi => v,
    })
}

/// Writes `{ let mut rf = regfile::RegFile::new(); <lines> }` into a test
/// body (one scope per check, so every check starts from reset).
fn scope(body: &mut String, lines: &str) {
    body.push_str("    {\n        let mut rf = regfile::RegFile::new();\n");
    for l in lines.lines() {
        body.push_str("        ");
        body.push_str(l);
        body.push('\n');
    }
    body.push_str("    }\n");
}

/// `[0, 1]` as a Rust slice expression.
fn slice(idx: &[u32]) -> String {
    let items: Vec<String> = idx.iter().map(u32::to_string).collect();
    format!("&[{}]", items.join(", "))
}

/// Emits the tests, as text (they are printed directly rather than through
/// tokens and the format pass: see [`crate::emit_tests`]).
pub fn emit(device: &Device, ir: &Ir, _tree: &Node) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(SUPPORT_HEAD);
    for h in ir.hooks.iter().filter(|h| h.roles.contains(&Role::Write)) {
        let _ = write!(
            out,
            "        fn {}(&mut self, _regs: &mut regfile::RegFile, _reg: regfile::Reg, _idx: &[u32], _old: u64, new: u64) {{
            self.calls += 1;
            self.new = new;
        }}
",
            h.method(Role::Write)
        );
    }
    out.push_str(SUPPORT_MID);
    for h in &ir.hooks {
        for r in &h.roles {
            if let Role::Map { target_outer } = r {
                let _ = write!(
                    out,
                    "        fn {}(&mut self, _regs: &regfile::RegFile, _idx: &[u32]) -> Option<[u32; {target_outer}]> {{
            Some([0; {target_outer}])
        }}
",
                    h.method(*r)
                );
            }
        }
    }
    out.push_str(SUPPORT_TAIL);
    for r in &ir.regs {
        register_test(&mut out, device, ir, r);
    }
    bad_access_tests(&mut out, device, ir);
    out
}

/// Shared helpers of the generated tests, up to the write hooks of `Rec`.
const SUPPORT_HEAD: &str =
    "#[allow(dead_code, clippy::identity_op, clippy::unusual_byte_groupings)]
mod regfile_support {
    use super::regfile;
    /// Records the last write-hook call (for self-clearing fields).
    #[derive(Default)]
    pub(super) struct Rec {
        pub(super) calls: u32,
        pub(super) new: u64,
    }
    impl regfile::Hooks for Rec {
";

/// Between `Rec`'s hooks and `MapFirst`'s.
const SUPPORT_MID: &str = "    }
    /// Maps every index-mapped alias element to target element 0.
    pub(super) struct MapFirst;
    impl regfile::Hooks for MapFirst {
";

/// After `MapFirst`'s hooks: guest-access and device-side helpers.
const SUPPORT_TAIL: &str = r#"    }
    pub(super) fn rd(rf: &mut regfile::RegFile, off: u64, bits: u32) -> u64 {
        let size = if bits == 64 { 8 } else { 4 };
        match rf.read(off, size) {
            Ok(v) => v,
            Err(e) => panic!("read {off:#x}/{size}: {e:?}"),
        }
    }
    pub(super) fn wr(rf: &mut regfile::RegFile, off: u64, bits: u32, v: u64) {
        let size = if bits == 64 { 8 } else { 4 };
        if let Err(e) = rf.write(off, size, v) {
            panic!("write {off:#x}/{size} = {v:#x}: {e:?}");
        }
    }
    pub(super) fn get(rf: &regfile::RegFile, reg: regfile::Reg, idx: &[u32]) -> u64 {
        match rf.get(reg, idx) {
            Ok(v) => v,
            Err(e) => panic!("get {reg:?} {idx:?}: {e:?}"),
        }
    }
    pub(super) fn set(rf: &mut regfile::RegFile, reg: regfile::Reg, idx: &[u32], v: u64) {
        if let Err(e) = rf.set(reg, idx, v) {
            panic!("set {reg:?} {idx:?}: {e:?}");
        }
    }
}
#[allow(unused_imports)]
use regfile_support::*;
"#;

fn register_test(out: &mut String, device: &Device, ir: &Ir, r: &RegIr) {
    let model = &device.registers[r.reg];
    let slot = &ir.slots[r.slot];
    let st = format!("regfile::Reg::{}", ident(&slot.variant));
    let bits = r.width.bits();
    let size = if bits == 64 { 8 } else { 4 };
    let wmask = r.width.mask();
    let path = &r.path;
    let mut body = String::new();
    for idx in elements(r) {
        let off = offset_of(r.offset, &r.dims, &idx);
        let offl = hex(off);
        let idx_s = slice(&idx);
        let ctx = format!("{:?}", format!("{path}{idx:?} at {off:#x}"));
        if let Kind::Mapped {
            target_outer,
            outer,
            ..
        } = &r.kind
        {
            // Unmapped with the default hooks; mapped to element 0 otherwise.
            let rw = model.mask_of(Access::Rw);
            let mut tidx = vec![0u32; *target_outer];
            tidx.extend(idx.iter().skip(*outer));
            let mut lines = format!(
                "assert_eq!(rf.read({offl}, {size}), Err(regfile::AccessError::AliasUnmapped), {ctx});
assert_eq!(rf.write({offl}, {size}, 0), Err(regfile::AccessError::AliasUnmapped), {ctx});
"
            );
            if rw != 0 {
                let rwl = hex(rw);
                let t = slice(&tidx);
                let _ = write!(
                    lines,
                    "rf.write_with(&mut MapFirst, {offl}, {size}, {rwl}).unwrap();
assert_eq!(get(&rf, {st}, {t}) & {rwl}, {rwl}, \"{{}}: write through the mapped alias\", {ctx});
assert_eq!(rf.read_with(&mut MapFirst, {offl}, {size}).unwrap() & {rwl}, {rwl}, \"{{}}: read through the mapped alias\", {ctx});
"
                );
            }
            scope(&mut body, &lines);
            continue;
        }
        let reset_read = hex(read_value(model, slot.reset) & wmask);
        scope(
            &mut body,
            &format!("assert_eq!(rd(&mut rf, {offl}, {bits}), {reset_read}, \"{{}}: reset value\", {ctx});"),
        );
        if r.width == Width::W64 && model.mask_of(Access::Rc) == 0 {
            let offh = hex(off + 4);
            scope(
                &mut body,
                &format!(
                    "set(&mut rf, {st}, {idx_s}, 0x0123_4567_89ab_cdef);
let full = rd(&mut rf, {offl}, 64);
let lo = rf.read({offl}, 4).unwrap();
let hi = rf.read({offh}, 4).unwrap();
assert_eq!(full, lo | (hi << 32), \"{{}}: 64-bit halves compose on read\", {ctx});
let mut a = regfile::RegFile::new();
let mut b = regfile::RegFile::new();
a.write({offl}, 8, 0xfedc_ba98_7654_3210).unwrap();
b.write({offl}, 4, 0x7654_3210).unwrap();
b.write({offh}, 4, 0xfedc_ba98).unwrap();
assert_eq!(a, b, \"{{}}: two 32-bit writes equal one 64-bit write\", {ctx});"
                ),
            );
        }
        if r.width == Width::W32 && off & 7 == 0 {
            scope(
                &mut body,
                &format!(
                    "assert_eq!(rf.read({offl}, 8), Err(regfile::AccessError::Straddle), {ctx});
assert_eq!(rf.write({offl}, 8, 0), Err(regfile::AccessError::Straddle), {ctx});"
                ),
            );
        }
        if r.kind == Kind::Alias {
            let rw = model.mask_of(Access::Rw);
            if rw != 0 {
                let target = &device.registers[model.alias.as_ref().map_or(r.reg, |a| a.target)];
                let tdims: Vec<super::ir::Dim> = target
                    .arrays
                    .iter()
                    .map(|a| super::ir::Dim {
                        name: a.name.clone(),
                        count: a.count,
                        stride: a.stride,
                    })
                    .collect();
                let toff = hex(offset_of(target.offset, &tdims, &idx));
                let rwl = hex(rw);
                scope(
                    &mut body,
                    &format!(
                        "wr(&mut rf, {offl}, {bits}, {rwl});
assert_eq!(rd(&mut rf, {toff}, {bits}) & {rwl}, {rwl}, \"{{}}: alias writes the target's storage\", {ctx});
wr(&mut rf, {toff}, {bits}, 0);
assert_eq!(rd(&mut rf, {offl}, {bits}) & {rwl}, 0, \"{{}}: alias reads the target's storage\", {ctx});"
                    ),
                );
            }
        }
        for f in &model.fields {
            let fm = hex(f.mask());
            let fctx = format!(
                "{:?}",
                format!(
                    "{path}{idx:?} at {off:#x}: field {} ({})",
                    f.name,
                    f.access.as_str()
                )
            );
            let wr = |v: &str| format!("wr(&mut rf, {offl}, {bits}, {v});\n");
            let expect = |value: &str, what: &str| {
                format!("assert_eq!(rd(&mut rf, {offl}, {bits}) & {fm}, {value}, \"{{}}: {what}\", {fctx});\n")
            };
            let device_sees = |value: &str, what: &str| {
                format!("assert_eq!(get(&rf, {st}, {idx_s}) & {fm}, {value}, \"{{}}: {what}\", {fctx});\n")
            };
            let device_set = |op: &str| {
                format!("let s = get(&rf, {st}, {idx_s});\nset(&mut rf, {st}, {idx_s}, s {op});\n")
            };
            let fm_s = fm.to_string();
            let check = match f.access {
                Access::Rw => [
                    wr(&fm_s),
                    expect(&fm_s, "writes ones"),
                    wr("0"),
                    expect("0", "writes zeros"),
                ]
                .concat(),
                Access::Ro => {
                    let r = hex(slot.reset & f.mask()).to_string();
                    [
                        wr(&fm_s),
                        expect(&r, "ignores ones"),
                        wr("0"),
                        expect(&r, "ignores zeros"),
                        device_set(&format!("| {fm}")),
                        expect(&fm_s, "device side sets it"),
                    ]
                    .concat()
                }
                Access::Wo => [
                    wr(&fm_s),
                    expect("0", "reads zero"),
                    device_sees(&fm_s, "the device sees the write"),
                ]
                .concat(),
                Access::W1c => [
                    device_set(&format!("| {fm}")),
                    wr("0"),
                    expect(&fm_s, "zeros leave it"),
                    wr(&fm_s),
                    expect("0", "ones clear it"),
                ]
                .concat(),
                Access::W1s => [
                    device_set(&format!("& !{fm}")),
                    wr("0"),
                    expect("0", "zeros leave it"),
                    wr(&fm_s),
                    expect(&fm_s, "ones set it"),
                    wr("0"),
                    expect(&fm_s, "zeros do not clear it"),
                ]
                .concat(),
                Access::Rc => [
                    device_set(&format!("| {fm}")),
                    expect(&fm_s, "reads the value"),
                    expect("0", "cleared by the read"),
                    wr(&fm_s),
                    device_sees("0", "writes ignored"),
                ]
                .concat(),
                Access::Sc => {
                    let seen = if model.on_write.is_some() {
                        format!(
                            "let mut rec = Rec::default();
rf.write_with(&mut rec, {offl}, {size}, {fm}).unwrap();
assert_eq!(rec.calls, 1, \"{{}}: the write hook runs\", {fctx});
assert_eq!(rec.new & {fm}, {fm}, \"{{}}: the hook sees the written one\", {fctx});
"
                        )
                    } else {
                        wr(&fm_s)
                    };
                    [
                        seen,
                        device_sees("0", "clears itself"),
                        expect("0", "reads zero"),
                    ]
                    .concat()
                }
                Access::Res0 | Access::RazWi => [
                    wr(&fm_s),
                    expect("0", "reads zero"),
                    device_sees("0", "writes ignored"),
                ]
                .concat(),
                Access::Res1 => [wr("0"), expect(&fm_s, "reads one")].concat(),
            };
            scope(&mut body, &check);
        }
        let um = model.unmapped_mask();
        if um != 0 {
            let uml = hex(um);
            scope(
                &mut body,
                &format!(
                    "wr(&mut rf, {offl}, {bits}, {uml});
assert_eq!(rd(&mut rf, {offl}, {bits}) & {uml}, 0, \"{{}}: unmapped bits read zero\", {ctx});"
                ),
            );
        }
    }
    let _ = write!(
        out,
        "#[test]
#[allow(clippy::identity_op, clippy::unusual_byte_groupings, clippy::bad_bit_mask, unused_mut, unused_variables)]
fn regfile_{}() {{
{body}}}
",
        r.func
    );
}

/// Tests of bad accesses: sizes, alignment, unmapped offsets.
fn bad_access_tests(out: &mut String, device: &Device, ir: &Ir) {
    let Some(first) = ir.regs.iter().find(|r| r.kind != Kind::Alias) else {
        return;
    };
    let off = hex(first.offset);
    let off2 = hex(first.offset + 2);
    // Every 4-byte word that holds a register element.
    let mut used: HashSet<u64> = HashSet::new();
    for r in &ir.regs {
        let words = r.width.bytes() / 4;
        let mut offs = vec![r.offset];
        for d in &r.dims {
            offs = offs
                .iter()
                .flat_map(|o| (0..u64::from(d.count)).map(move |i| o + i * d.stride))
                .collect();
            if offs.len() > 1 << 20 {
                break;
            }
        }
        for o in offs {
            for w in 0..words {
                used.insert(o + 4 * w);
            }
        }
    }
    let mut holes = Vec::new();
    for w in &device.windows {
        let mut o = w.offset;
        while o < w.offset.saturating_add(w.size) && holes.len() < 4 {
            if !used.contains(&o) {
                holes.push(o);
                o = o.saturating_add(0x40);
            } else {
                o += 4;
            }
        }
    }
    holes.push(!7);
    holes.push(!3);
    let holes: Vec<String> = holes.into_iter().map(|h| hex(h).to_string()).collect();
    let holes = holes.join(", ");
    let ctx = format!("{:?}", format!("{} bad accesses", device.name));
    let _ = write!(
        out,
        "#[test]
fn regfile_bad_accesses() {{
    let mut rf = regfile::RegFile::new();
    let before = rf.clone();
    for size in [0usize, 1, 2, 3, 5, 6, 7, 16, usize::MAX] {{
        assert_eq!(rf.read({off}, size), Err(regfile::AccessError::BadSize), \"{{}}: size {{}}\", {ctx}, size);
        assert_eq!(rf.write({off}, size, u64::MAX), Err(regfile::AccessError::BadSize), \"{{}}: size {{}}\", {ctx}, size);
    }}
    assert_eq!(rf.read({off2}, 4), Err(regfile::AccessError::Unaligned), \"{{}}\", {ctx});
    assert_eq!(rf.write({off2}, 4, u64::MAX), Err(regfile::AccessError::Unaligned), \"{{}}\", {ctx});
    for hole in [{holes}] {{
        assert_eq!(rf.read(hole, 4), Err(regfile::AccessError::Unmapped), \"{{}}: {{:#x}}\", {ctx}, hole);
        assert_eq!(rf.write(hole, 4, u64::MAX), Err(regfile::AccessError::Unmapped), \"{{}}: {{:#x}}\", {ctx}, hole);
    }}
    assert_eq!(rf, before, \"{{}}: bad accesses change nothing\", {ctx});
}}
"
    );
}
