//! Per-register tests of the generated dispatcher: reset values, every
//! field's access semantics through guest reads and writes, 64-bit halves,
//! aliases, index-mapped aliases and bad accesses. Each test lists the map's
//! facts for one register (its elements, its fields' access kinds and
//! bits); what each access kind must do is written once, in the helpers of
//! [`PRELUDE`], from FORMAT.md's table, not from the runtime that
//! implements it.

use std::collections::HashSet;

use regmap::model::{Access, Width};

use super::lit;
use crate::ir::{Dim, Ir, Kind, Reg};
use crate::names::hex;
use crate::out::{Out, E};

/// Element index combinations to test: first, middle and last.
fn elements(r: &Reg) -> Vec<Vec<u32>> {
    if r.dims.is_empty() {
        return vec![vec![]];
    }
    let first: Vec<u32> = r.dims.iter().map(|_| 0).collect();
    let mid: Vec<u32> = r.dims.iter().map(|d| d.count / 2).collect();
    let last: Vec<u32> = r.dims.iter().map(|d| d.count - 1).collect();
    let mut out = vec![first];
    for e in [mid, last] {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

fn offset_of(offset: u64, dims: &[Dim], idx: &[u32]) -> u64 {
    dims.iter()
        .zip(idx)
        .fold(offset, |o, (d, i)| o + u64::from(*i) * d.stride)
}

fn slice(idx: &[u32]) -> String {
    let items: Vec<String> = idx.iter().map(u32::to_string).collect();
    format!("&[{}]", items.join(", "))
}

/// The register-file tests of `ir`; `crate_name` is the path of the
/// accessors' root (the generated crate, or the module including them).
pub fn emit(ir: &Ir, crate_name: &str, out: &mut Out) {
    out.line(&format!("use {crate_name} as dev;"));
    out.line("");
    for l in PRELUDE.lines() {
        out.line(l);
    }
    support_hooks(ir, out);
    for r in &ir.regs {
        register_test(ir, r, out);
    }
    bad_accesses(ir, out);
}

/// `Rec` records write-hook calls of registers with self-clearing fields;
/// `MapFirst` maps every index-mapped alias element to target element 0.
fn support_hooks(ir: &Ir, out: &mut Out) {
    let sc_hooks: Vec<usize> = (0..ir.hooks.len())
        .filter(|&h| {
            ir.regs
                .iter()
                .any(|r| r.on_write == Some(h) && ir.layouts[r.layout].mask(Access::Sc) != 0)
        })
        .collect();
    out.doc_line("Records the last write-hook call (for self-clearing fields).");
    out.line("#[derive(Default)]");
    out.open("struct Rec");
    out.line("calls: u32,");
    out.line("new: u64,");
    out.close();
    if sc_hooks.is_empty() {
        out.line("impl regfile::Hooks for Rec {}");
    } else {
        out.open("impl regfile::Hooks for Rec");
        for &h in &sc_hooks {
            let hook = &ir.hooks[h];
            let Some((method, _)) = &hook.write else {
                continue;
            };
            let reg = ir
                .regs
                .iter()
                .find(|r| r.on_write == Some(h))
                .map(|r| r.module.join("::"))
                .unwrap_or_default();
            out.sig(
                &format!("fn {method}"),
                &[
                    "&mut self".into(),
                    "_: &mut RegFile".into(),
                    format!("w: regfile::Write<'_, dev::{reg}::Value>"),
                ],
                "",
            );
            out.line("self.calls += 1;");
            out.line("self.new = regmap_rt::Word::to_u64(w.new.get());");
            out.close();
        }
        out.close();
    }
    out.doc_line("Maps every index-mapped alias element to target element 0.");
    out.line("struct MapFirst;");
    let maps: Vec<(&String, usize)> = ir
        .hooks
        .iter()
        .filter_map(|h| h.map.as_ref().map(|(m, n)| (m, *n)))
        .collect();
    if maps.is_empty() {
        out.line("impl regfile::Hooks for MapFirst {}");
    } else {
        out.open("impl regfile::Hooks for MapFirst");
        for (m, n) in maps {
            out.sig(
                &format!("fn {m}"),
                &["&mut self".into(), "_: &RegFile".into(), "_: &[u32]".into()],
                &format!(" -> Option<[u32; {n}]>"),
            );
            out.line(&format!("Some([0; {n}])"));
            out.close();
        }
        out.close();
    }
}

/// The value a guest read returns for a stored value, from the fields'
/// access kinds.
fn read_value(r: &Reg, masks: &[u64; 10], stored: u64) -> u64 {
    let m = |a: Access| {
        Access::ALL
            .iter()
            .position(|k| *k == a)
            .map_or(0, |i| masks[i])
    };
    let readable = m(Access::Rw) | m(Access::Ro) | m(Access::W1c) | m(Access::W1s) | m(Access::Rc);
    ((stored & readable) | m(Access::Res1)) & r.width.mask()
}

fn register_test(ir: &Ir, r: &Reg, out: &mut Out) {
    let slot = &ir.slots[r.slot];
    let owner = &ir.regs[slot.reg];
    let l = &ir.layouts[r.layout];
    let bits = r.width.bits();
    out.line("#[test]");
    out.open(&format!(
        "fn regfile_{}()",
        r.path.replace('.', "_").to_lowercase()
    ));
    for idx in elements(r) {
        let off = offset_of(r.offset, &r.dims, &idx);
        if let Kind::Mapped {
            outer,
            target_outer,
            ..
        } = &r.kind
        {
            // The target element MapFirst picks: 0 for the mapped
            // dimensions, the alias's own inner indices after them.
            let mut t = vec![0u32; *target_outer];
            t.extend(idx.iter().skip(*outer));
            let args = [
                format!("Reg::{}", slot.variant),
                slice(&t),
                hex(off),
                bits.to_string(),
            ];
            out.list("let e = El::new(", &args, ");", false);
            out.line(&format!("mapped(e, {});", lit(r.width, r.masks[0])));
            continue;
        }
        let args = [
            format!("Reg::{}", slot.variant),
            slice(&idx),
            hex(off),
            bits.to_string(),
        ];
        out.list("let e = El::new(", &args, ");", false);
        let reset = read_value(r, &r.masks, owner.reset);
        out.line(&format!("reset(e, {});", lit(r.width, reset)));
        if r.width == Width::W64 && r.masks[5] == 0 {
            out.line("halves(e);");
        }
        if r.width == Width::W32 && off & 7 == 0 {
            out.line("straddle(e);");
        }
        if let Kind::Alias { target } = r.kind {
            let t = &ir.regs[target];
            let rw = r.masks[0];
            if rw != 0 {
                let toff = offset_of(t.offset, &t.dims, &idx);
                out.line(&format!("alias(e, {}, {});", hex(toff), lit(r.width, rw)));
            }
        }
        let sc_hook = r.on_write.is_some();
        for f in &l.fields {
            let access = if f.access == Access::Rw {
                // A shared fieldset's rw fields follow the register.
                match r.access {
                    regmap::model::RegAccess::Rw => Access::Rw,
                    regmap::model::RegAccess::Ro => Access::Ro,
                    regmap::model::RegAccess::Wo => Access::Wo,
                }
            } else {
                f.access
            };
            let m = lit(r.width, f.mask());
            let call = match access {
                Access::Rw => format!("rw(e, {m});"),
                Access::Ro => format!("ro(e, {m}, {});", lit(r.width, owner.reset & f.mask())),
                Access::Wo => format!("wo(e, {m});"),
                Access::W1c => format!("w1c(e, {m});"),
                Access::W1s => format!("w1s(e, {m});"),
                Access::Rc => format!("rc(e, {m});"),
                Access::Sc if sc_hook => format!("sc_hooked(e, {m});"),
                Access::Sc => format!("sc(e, {m});"),
                Access::Res0 | Access::RazWi => format!("zero(e, {m});"),
                Access::Res1 => format!("res1(e, {m});"),
            };
            out.line(&call);
        }
        let unmapped = !r.masks.iter().fold(0, |a, m| a | m) & r.width.mask();
        if unmapped != 0 {
            out.line(&format!("zero(e, {});", lit(r.width, unmapped)));
        }
    }
    out.close();
}

/// Bad sizes, misalignment and offsets no register holds.
fn bad_accesses(ir: &Ir, out: &mut Out) {
    let Some(first) = ir.regs.iter().find(|r| r.kind == Kind::Plain) else {
        return;
    };
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
    for w in &ir.windows {
        let mut o = w.offset;
        while o < w.end() && holes.len() < 4 {
            if used.contains(&o) {
                o += 4;
            } else {
                holes.push(o);
                o = o.saturating_add(0x40);
            }
        }
    }
    holes.push(!7);
    holes.push(!3);
    let holes: Vec<String> = holes.into_iter().map(hex).collect();
    out.line("#[test]");
    out.open("fn regfile_bad_accesses()");
    out.assign("let holes =", &E::call_atoms("[", &holes, "]"), ";");
    out.line(&format!("bad_accesses({}, &holes);", hex(first.offset)));
    out.close();
}

/// The helpers every test calls (after `use CRATE as dev;`): one register
/// element under test, and what each access kind must do (FORMAT.md).
pub const PRELUDE: &str = r#"use dev::regfile::{self, AccessError, Reg, RegFile};
#[allow(dead_code)]
mod support {
    use super::*;
    /// One register element: its storage, indices, offset and width.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct El {
        reg: Reg,
        idx: &'static [u32],
        off: u64,
        bits: u32,
    }
    impl El {
        pub(super) fn new(reg: Reg, idx: &'static [u32], off: u64, bits: u32) -> El {
            El {
                reg,
                idx,
                off,
                bits,
            }
        }
        fn size(self) -> usize {
            if self.bits == 64 {
                8
            } else {
                4
            }
        }
        fn rd(self, rf: &mut RegFile) -> u64 {
            match rf.read(self.off, self.size()) {
                Ok(v) => v,
                Err(e) => panic!("{self:?}: read: {e:?}"),
            }
        }
        fn wr(self, rf: &mut RegFile, v: u64) {
            if let Err(e) = rf.write(self.off, self.size(), v) {
                panic!("{self:?}: write {v:#x}: {e:?}");
            }
        }
        fn get(self, rf: &RegFile) -> u64 {
            match rf.get(self.reg, self.idx) {
                Ok(v) => v,
                Err(e) => panic!("{self:?}: get: {e:?}"),
            }
        }
        fn set(self, rf: &mut RegFile, v: u64) {
            if let Err(e) = rf.set(self.reg, self.idx, v) {
                panic!("{self:?}: set {v:#x}: {e:?}");
            }
        }
    }
    /// A guest read at reset returns `value`.
    pub(super) fn reset(e: El, value: u64) {
        assert_eq!(e.rd(&mut RegFile::new()), value, "{e:?}: reset value");
    }
    /// Two 32-bit halves read and write like one 64-bit access.
    pub(super) fn halves(e: El) {
        let mut rf = RegFile::new();
        e.set(&mut rf, 0x0123_4567_89ab_cdef);
        let full = e.rd(&mut rf);
        let lo = rf.read(e.off, 4).unwrap();
        let hi = rf.read(e.off + 4, 4).unwrap();
        assert_eq!(
            full,
            lo | (hi << 32),
            "{e:?}: 64-bit halves compose on read"
        );
        let (mut a, mut b) = (RegFile::new(), RegFile::new());
        a.write(e.off, 8, 0xfedc_ba98_7654_3210).unwrap();
        b.write(e.off, 4, 0x7654_3210).unwrap();
        b.write(e.off + 4, 4, 0xfedc_ba98).unwrap();
        assert_eq!(a, b, "{e:?}: two 32-bit writes equal one 64-bit write");
    }
    /// An 8-byte access to a 32-bit register would straddle the next one.
    pub(super) fn straddle(e: El) {
        let mut rf = RegFile::new();
        assert_eq!(rf.read(e.off, 8), Err(AccessError::Straddle), "{e:?}");
        assert_eq!(rf.write(e.off, 8, 0), Err(AccessError::Straddle), "{e:?}");
    }
    /// A static alias reads and writes its target's storage (`target`: the
    /// target element's offset; `rw`: its read/write bits).
    pub(super) fn alias(e: El, target: u64, rw: u64) {
        let t = El { off: target, ..e };
        let mut rf = RegFile::new();
        e.wr(&mut rf, rw);
        assert_eq!(
            t.rd(&mut rf) & rw,
            rw,
            "{e:?}: the alias writes the target's storage"
        );
        t.wr(&mut rf, 0);
        assert_eq!(
            e.rd(&mut rf) & rw,
            0,
            "{e:?}: the alias reads the target's storage"
        );
    }
    /// An index-mapped alias: unmapped without hooks, the target element
    /// `MapFirst` names with them (`e`: the target storage and indices at
    /// the alias's offset).
    pub(super) fn mapped(e: El, rw: u64) {
        let mut rf = RegFile::new();
        let s = e.size();
        assert_eq!(rf.read(e.off, s), Err(AccessError::AliasUnmapped), "{e:?}");
        assert_eq!(
            rf.write(e.off, s, 0),
            Err(AccessError::AliasUnmapped),
            "{e:?}"
        );
        if rw != 0 {
            rf.write_with(&mut MapFirst, e.off, s, rw).unwrap();
            assert_eq!(
                e.get(&rf) & rw,
                rw,
                "{e:?}: a write through the mapped alias"
            );
            let v = rf.read_with(&mut MapFirst, e.off, s).unwrap();
            assert_eq!(v & rw, rw, "{e:?}: a read through the mapped alias");
        }
    }
    /// `rw`: writes store ones and zeros.
    pub(super) fn rw(e: El, m: u64) {
        let mut rf = RegFile::new();
        e.wr(&mut rf, m);
        assert_eq!(e.rd(&mut rf) & m, m, "{e:?} {m:#x}: rw writes ones");
        e.wr(&mut rf, 0);
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: rw writes zeros");
    }
    /// `ro`: writes are ignored (the field keeps `reset`); the device sets it.
    pub(super) fn ro(e: El, m: u64, reset: u64) {
        let mut rf = RegFile::new();
        e.wr(&mut rf, m);
        assert_eq!(e.rd(&mut rf) & m, reset, "{e:?} {m:#x}: ro ignores ones");
        e.wr(&mut rf, 0);
        assert_eq!(e.rd(&mut rf) & m, reset, "{e:?} {m:#x}: ro ignores zeros");
        let s = e.get(&rf);
        e.set(&mut rf, s | m);
        assert_eq!(
            e.rd(&mut rf) & m,
            m,
            "{e:?} {m:#x}: the device sets ro bits"
        );
    }
    /// `wo`: reads zero; the device sees the write.
    pub(super) fn wo(e: El, m: u64) {
        let mut rf = RegFile::new();
        e.wr(&mut rf, m);
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: wo reads zero");
        assert_eq!(e.get(&rf) & m, m, "{e:?} {m:#x}: the device sees the write");
    }
    /// `w1c`: zeros leave the bits, ones clear them.
    pub(super) fn w1c(e: El, m: u64) {
        let mut rf = RegFile::new();
        let s = e.get(&rf);
        e.set(&mut rf, s | m);
        e.wr(&mut rf, 0);
        assert_eq!(e.rd(&mut rf) & m, m, "{e:?} {m:#x}: w1c zeros leave it");
        e.wr(&mut rf, m);
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: w1c ones clear it");
    }
    /// `w1s`: zeros leave the bits, ones set them.
    pub(super) fn w1s(e: El, m: u64) {
        let mut rf = RegFile::new();
        let s = e.get(&rf);
        e.set(&mut rf, s & !m);
        e.wr(&mut rf, 0);
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: w1s zeros leave it");
        e.wr(&mut rf, m);
        assert_eq!(e.rd(&mut rf) & m, m, "{e:?} {m:#x}: w1s ones set it");
        e.wr(&mut rf, 0);
        assert_eq!(
            e.rd(&mut rf) & m,
            m,
            "{e:?} {m:#x}: w1s zeros do not clear it"
        );
    }
    /// `rc`: a read returns the bits and clears them; writes are ignored.
    pub(super) fn rc(e: El, m: u64) {
        let mut rf = RegFile::new();
        let s = e.get(&rf);
        e.set(&mut rf, s | m);
        assert_eq!(e.rd(&mut rf) & m, m, "{e:?} {m:#x}: rc reads the value");
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: rc cleared by the read");
        e.wr(&mut rf, m);
        assert_eq!(e.get(&rf) & m, 0, "{e:?} {m:#x}: rc ignores writes");
    }
    /// `sc` without a hook: the bits clear themselves and read zero.
    pub(super) fn sc(e: El, m: u64) {
        let mut rf = RegFile::new();
        e.wr(&mut rf, m);
        assert_eq!(e.get(&rf) & m, 0, "{e:?} {m:#x}: sc clears itself");
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: sc reads zero");
    }
    /// `sc` with a write hook: the hook sees the written ones, then they clear.
    pub(super) fn sc_hooked(e: El, m: u64) {
        let mut rf = RegFile::new();
        let mut rec = Rec::default();
        rf.write_with(&mut rec, e.off, e.size(), m).unwrap();
        assert_eq!(rec.calls, 1, "{e:?} {m:#x}: the write hook runs");
        assert_eq!(
            rec.new & m,
            m,
            "{e:?} {m:#x}: the hook sees the written ones"
        );
        assert_eq!(e.get(&rf) & m, 0, "{e:?} {m:#x}: sc clears itself");
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: sc reads zero");
    }
    /// `res0`, `raz_wi` and bits no field covers: read zero, ignore writes.
    pub(super) fn zero(e: El, m: u64) {
        let mut rf = RegFile::new();
        e.wr(&mut rf, m);
        assert_eq!(e.rd(&mut rf) & m, 0, "{e:?} {m:#x}: reads zero");
        assert_eq!(e.get(&rf) & m, 0, "{e:?} {m:#x}: writes ignored");
    }
    /// `res1`: reads one whatever is written.
    pub(super) fn res1(e: El, m: u64) {
        let mut rf = RegFile::new();
        e.wr(&mut rf, 0);
        assert_eq!(e.rd(&mut rf) & m, m, "{e:?} {m:#x}: res1 reads one");
    }
    /// Bad sizes and alignment at `off` (a register), and accesses to
    /// `holes` (no register), fail and change nothing.
    pub(super) fn bad_accesses(off: u64, holes: &[u64]) {
        let mut rf = RegFile::new();
        let before = rf.clone();
        for size in [0usize, 1, 2, 3, 5, 6, 7, 16, usize::MAX] {
            assert_eq!(rf.read(off, size), Err(AccessError::BadSize), "size {size}");
            let w = rf.write(off, size, u64::MAX);
            assert_eq!(w, Err(AccessError::BadSize), "size {size}");
        }
        assert_eq!(rf.read(off + 2, 4), Err(AccessError::Unaligned));
        assert_eq!(rf.write(off + 2, 4, u64::MAX), Err(AccessError::Unaligned));
        for &hole in holes {
            assert_eq!(rf.read(hole, 4), Err(AccessError::Unmapped), "{hole:#x}");
            let w = rf.write(hole, 4, u64::MAX);
            assert_eq!(w, Err(AccessError::Unmapped), "{hole:#x}");
        }
        assert_eq!(rf, before, "bad accesses change nothing");
    }
}
use support::*;"#;
