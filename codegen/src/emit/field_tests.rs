//! One `#[test]` per register field and per structure field, generated from
//! the map so the tests and the code can never drift apart silently: mask,
//! shift and reset as the map says, a write and read back through the
//! accessor of the last array element over an in-memory backend (including
//! that a read-modify-write never writes back w1c or self-clearing bits),
//! index bounds, and the enum round trip. The checks themselves are the
//! generic helpers of [`PRELUDE`]; each test is the map's facts for one
//! field.
//!
//! The output refers to the generated crate as `dev`.

use std::collections::HashSet;

use regmap::model::RegAccess;

use super::accessors::clears_on_read;
use super::lit;
use crate::ir::{Block, Ir, Reg};
use crate::names::hex;
use crate::out::{Kind, List, Out, E};

/// The blocks enclosing each register, outermost first.
fn chains(ir: &Ir) -> Vec<Vec<&Block>> {
    fn walk<'a>(b: &'a Block, prefix: &[&'a Block], out: &mut Vec<Vec<&'a Block>>) {
        let mut p = prefix.to_vec();
        p.push(b);
        for &r in &b.regs {
            out[r] = p.clone();
        }
        for c in &b.children {
            walk(c, &p, out);
        }
    }
    let mut out = vec![Vec::new(); ir.regs.len()];
    for b in &ir.blocks {
        walk(b, &[], &mut out);
    }
    out
}

/// Test names, unique within the file.
struct Names(HashSet<String>);

impl Names {
    fn unique(&mut self, base: String) -> String {
        let mut name = base.clone();
        let mut n = 2;
        while !self.0.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }
}

/// The per-field tests of `ir`, whose crate is `crate_name`.
pub fn emit(ir: &Ir, crate_name: &str, out: &mut Out) {
    out.line(&format!("use {crate_name} as dev;"));
    out.line("");
    for l in PRELUDE.lines() {
        out.line(l);
    }
    let chains = chains(ir);
    let mut names = Names(HashSet::new());
    for (k, r) in ir.regs.iter().enumerate() {
        register_tests(ir, r, &chains[k], &mut names, out);
    }
    for s in &ir.structs {
        for f in &s.fields {
            let name = names.unique(format!(
                "struct_{}_{}",
                s.ty.to_lowercase(),
                f.spec.to_lowercase()
            ));
            out.line("#[test]");
            out.open(&format!("fn {name}()"));
            out.line(&format!("use dev::structs::{} as S;", s.ty));
            let args = [
                "S::new()".to_string(),
                format!("S::{}", f.name),
                f.word.to_string(),
                f.lsb.to_string(),
                hex(f.value_mask),
            ];
            out.list("structure(", &args, ");", false);
            if let Some(e) = f.enum_.map(|e| &ir.enums[e]) {
                for v in &e.values {
                    let args = [
                        "S::new()".to_string(),
                        format!("S::{}", f.name),
                        format!("dev::enums::{}::{}", e.ty, v.name),
                    ];
                    out.list("structure_enum(", &args, ");", false);
                }
            }
            out.close();
        }
    }
}

fn register_tests(ir: &Ir, r: &Reg, blocks: &[&Block], names: &mut Names, out: &mut Out) {
    // The last element of every array: the bound most likely wrong.
    let last: Vec<u32> = r.dims.iter().map(|d| d.count - 1).collect();
    let abs = r
        .dims
        .iter()
        .zip(&last)
        .fold(r.offset, |o, (d, i)| o + u64::from(*i) * d.stride);
    let l = &ir.layouts[r.layout];
    for f in &l.fields {
        let name = names.unique(format!(
            "{}_{}",
            r.path.replace('.', "_").to_lowercase(),
            f.spec.to_lowercase()
        ));
        out.line("#[test]");
        out.open(&format!("fn {name}()"));
        out.line(&format!("use dev::{} as r;", r.module.join("::")));
        let args = [
            format!("r::{}", f.name),
            lit(l.width, f.value_mask),
            f.lsb.to_string(),
            "r::RESET".to_string(),
            lit(l.width, (r.reset >> f.lsb) & f.value_mask),
        ];
        out.list("field(", &args, ");", false);
        out.line("let mmio = TestMmio::default();");
        out.line(&format!("let e = dev::{}::new(&mmio);", ir.root_ty));
        for b in blocks {
            if b.count > 1 {
                last_element(out, "e", &b.method, b.count);
            } else {
                out.line(&format!("let e = e.{}();", b.method));
            }
        }
        match r.array {
            None => out.line(&format!("let reg = e.{}();", r.method)),
            Some((count, _)) => last_element(out, "reg", &r.method, count),
        }
        let check = match (r.access, clears_on_read(r)) {
            (RegAccess::Rw, false) => "rw(",
            (RegAccess::Rw, true) => "rw_rc(",
            (RegAccess::Ro, false) => "ro(",
            (RegAccess::Ro, true) => "ro_rc(",
            (RegAccess::Wo, _) => "wo(",
        };
        let args = [
            "&mmio".into(),
            "reg".into(),
            format!("r::{}", f.name),
            hex(abs),
        ];
        out.list(check, &args, ");", false);
        if let Some(e) = f.enum_.map(|e| &ir.enums[e]) {
            for v in &e.values {
                let args = [
                    format!("r::{}", f.name),
                    format!("r::{}::{}", f.name, v.name),
                    format!("dev::enums::{}::{}", e.ty, v.name),
                    hex(v.value),
                ];
                out.list("value(", &args, ");", false);
            }
        }
        out.close();
    }
}

/// `assert!(e.method(count).is_none());` and `let name = e.method(count - 1).expect("last");`.
fn last_element(out: &mut Out, name: &str, method: &str, count: u32) {
    let past = E::Chain(
        "e".into(),
        vec![
            E::atom(format!(".{method}({count})")),
            E::atom(".is_none()"),
        ],
    );
    let assert = E::List(List {
        open: "assert!(".into(),
        items: vec![past],
        close: ")".into(),
        kind: Kind::Macro,
    });
    out.expr("", &assert, ";");
    let last = E::Chain(
        "e".into(),
        vec![
            E::atom(format!(".{method}({})", count - 1)),
            E::atom(".expect(\"last\")"),
        ],
    );
    out.assign(&format!("let {name} ="), &last, ";");
}

/// The helpers every test calls (after `use CRATE as dev;`): a sparse
/// in-memory register window and the checks, generic over the layout.
pub const PRELUDE: &str = r#"use regmap_rt::tock_registers::fields::{Field, FieldValue, TryFromValue};
use regmap_rt::{Layout, Mmio, Word, Words};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
#[allow(dead_code)]
mod support {
    use super::*;
    /// A sparse in-memory register window for the generated tests.
    #[derive(Default)]
    pub(super) struct TestMmio(RefCell<HashMap<usize, u32>>);
    impl Mmio for TestMmio {
        fn read32(&self, offset: usize) -> u32 {
            self.0.borrow().get(&offset).copied().unwrap_or(0)
        }
        fn read64(&self, offset: usize) -> u64 {
            u64::from(self.read32(offset)) | (u64::from(self.read32(offset.wrapping_add(4))) << 32)
        }
        fn write32(&self, offset: usize, value: u32) {
            self.0.borrow_mut().insert(offset, value);
        }
        fn write64(&self, offset: usize, value: u64) {
            self.write32(offset, value as u32);
            self.write32(offset.wrapping_add(4), (value >> 32) as u32);
        }
    }
    /// The stored value of a `W` register at `offset`.
    pub(super) fn peek<W: Word>(m: &TestMmio, offset: usize) -> u64 {
        W::load(m, offset).to_u64()
    }
    /// Stores `value` into the `W` register at `offset`.
    pub(super) fn poke<W: Word>(m: &TestMmio, offset: usize, value: u64) {
        W::store(m, offset, W::from_u64(value));
    }
    /// The field's mask, shift and reset value are the map's.
    pub(super) fn field<L: Layout>(
        f: Field<L::Word, L>,
        mask: L::Word,
        shift: usize,
        reset: L::Word,
        v: L::Word,
    ) {
        assert_eq!(f.mask, mask, "mask as in the map");
        assert_eq!(f.shift, shift, "shift as in the map");
        assert_eq!(f.read(reset), v, "reset as in the map");
    }
    /// The read/write and read-only checks, for handles `$rw` and `$ro`
    /// (the plain ones, or those of registers with clear-on-read fields,
    /// whose reads take `&mut self`).
    macro_rules! readable_checks {
        ($rw_fn:ident, $rw:ident, $ro_fn:ident, $ro:ident) => {
            /// A read/write register at `at`: a field write lands in place and
            /// reads back; a modify of the field keeps the others and never
            /// writes back w1c or self-clearing bits.
            #[allow(unused_mut)]
            pub(super) fn $rw_fn<L: Layout>(
                m: &TestMmio,
                mut reg: regmap_rt::$rw<'_, &TestMmio, L>,
                f: Field<L::Word, L>,
                at: usize,
            ) {
                assert_eq!(reg.offset(), at, "element offset");
                let shifted = f.mask.to_u64() << f.shift;
                reg.write(L::Word::field_value(f, f.mask));
                assert_eq!(
                    peek::<L::Word>(m, at),
                    shifted,
                    "the write puts the field in place"
                );
                assert_eq!(reg.read(f), f.mask);
                poke::<L::Word>(m, at, u64::MAX);
                reg.modify(L::Word::field_value(f, L::Word::from_u64(0)));
                let expect = L::Word::from_u64(!shifted & !L::MASKS.keep_zero()).to_u64();
                assert_eq!(
                    peek::<L::Word>(m, at),
                    expect,
                    "modify keeps other fields, not w1c/sc bits"
                );
            }
            /// A read-only register at `at`: the field reads what the device stored.
            #[allow(unused_mut)]
            pub(super) fn $ro_fn<L: Layout>(
                m: &TestMmio,
                mut reg: regmap_rt::$ro<'_, &TestMmio, L>,
                f: Field<L::Word, L>,
                at: usize,
            ) {
                assert_eq!(reg.offset(), at, "element offset");
                poke::<L::Word>(m, at, f.mask.to_u64() << f.shift);
                assert_eq!(reg.read(f), f.mask);
                assert!(reg.is_set(f));
            }
        };
    }
    readable_checks!(rw, Rw, ro, Ro);
    readable_checks!(rw_rc, RwRc, ro_rc, RoRc);
    /// A write-only register at `at`: a field write lands in place.
    pub(super) fn wo<L: Layout>(
        m: &TestMmio,
        reg: regmap_rt::Wo<'_, &TestMmio, L>,
        f: Field<L::Word, L>,
        at: usize,
    ) {
        assert_eq!(reg.offset(), at, "element offset");
        reg.write(L::Word::field_value(f, f.mask));
        assert_eq!(peek::<L::Word>(m, at), f.mask.to_u64() << f.shift);
    }
    /// The field value `named` is the field set to `v`, which reads as `e`.
    pub(super) fn value<L: Layout, E>(
        f: Field<L::Word, L>,
        named: FieldValue<L::Word, L>,
        e: E,
        v: u64,
    ) where
        E: TryFromValue<L::Word, EnumType = E> + regmap_rt::FieldEnum + PartialEq + Debug,
    {
        let fv = L::Word::field_value(f, L::Word::from_u64(v));
        assert_eq!(named.value, fv.value, "named field value");
        assert_eq!(f.read_as_enum::<E>(fv.value), Some(e));
        assert_eq!(e.to_value(), v);
    }
    /// Structure field `f` is `mask` at bit `shift` of word `word`, and
    /// setting it touches no other bit.
    pub(super) fn structure<const N: usize, S>(
        base: S,
        f: impl Into<regmap_rt::StructField>,
        word: usize,
        shift: u32,
        mask: u64,
    ) where
        S: Words<N>,
    {
        let f = f.into();
        assert_eq!(
            (f.word, f.shift, f.mask),
            (word, shift, mask),
            "position as in the map"
        );
        let s = base.with(f, mask);
        assert_eq!(s.get(f), mask);
        for (i, (a, b)) in s.words().iter().zip(base.words().iter()).enumerate() {
            let expect = if i == word { b | (mask << shift) } else { *b };
            assert_eq!(
                *a, expect,
                "the field's bits in place, other bits untouched"
            );
        }
        assert_eq!(s.with(f, 0).get(f), 0);
    }
    /// Enum-typed structure field `f` round-trips `e`.
    pub(super) fn structure_enum<const N: usize, S, E>(base: S, f: regmap_rt::EnumField<E>, e: E)
    where
        S: Words<N>,
        E: regmap_rt::FieldEnum + PartialEq + Debug,
    {
        assert_eq!(base.with_enum(f, e).get_enum(f), Some(e));
    }
}
use support::*;"#;
