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

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use regmap::model::{Device, RegAccess, Width};

use crate::emit_regs::lit;
use crate::emit_structs::struct_ty;
use crate::lower::{enum_ty, LBlock, Lowered};
use crate::names::{ident, test_name};

fn hex(v: u64) -> TokenStream {
    format!("{v:#x}").parse().expect("hex literal")
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

/// The generated per-field tests for `dev`, whose crate is `crate_name`.
pub fn emit(low: &Lowered, dev: &Device, crate_name: &str) -> TokenStream {
    let krate = ident(crate_name);
    let root = &low.root_ty;
    let chains = chains(low);
    let mut used = HashSet::new();
    let mut unique = |base: String| -> proc_macro2::Ident {
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        format_ident!("{}", name)
    };
    let mut tests = Vec::new();
    for (i, r) in dev.registers.iter().enumerate() {
        let lr = &low.regs[i];
        let path = &lr.path;
        let t = match r.width {
            Width::W32 => quote!(u32),
            Width::W64 => quote!(u64),
        };
        // Reach the last element of every array: the bound most likely wrong.
        let mut chain = Vec::new();
        let mut indices = Vec::new();
        for (m, count) in &chains[i] {
            if *count > 1 {
                let last = Literal::usize_unsuffixed(*count as usize - 1);
                let over = Literal::usize_unsuffixed(*count as usize);
                chain.push(quote!(.#m(#last).expect("last element")));
                let pre = chain[..chain.len() - 1].to_vec();
                indices.push(
                    quote!(assert!(d #(#pre)* .#m(#over).is_none(), "index past the array");),
                );
            } else {
                chain.push(quote!(.#m()));
            }
        }
        let m = &lr.method;
        let reg_expr = match lr.array {
            None => quote!(d #(#chain)* .#m()),
            Some((count, _)) => {
                let last = Literal::usize_unsuffixed(count as usize - 1);
                let over = Literal::usize_unsuffixed(count as usize);
                indices.push(
                    quote!(assert!(d #(#chain)* .#m(#over).is_none(), "index past the array");),
                );
                quote!(d #(#chain)* .#m(#last).expect("last element"))
            }
        };
        let last_idx: Vec<u32> = r.arrays.iter().map(|a| a.count - 1).collect();
        let Some(abs) = r.element_offset(&last_idx) else {
            continue;
        };
        let abs = hex(abs);
        for f in &r.fields {
            let name = unique(test_name(&[&r.path().replace('.', "_"), &f.name]));
            let fname = ident(&f.name);
            let mask = lit(r.width, f.value_mask());
            let shifted = lit(r.width, f.mask());
            let shift = Literal::usize_unsuffixed(f.lsb as usize);
            let reset = lit(r.width, f.reset);
            let access_check = match r.access {
                RegAccess::Rw => quote! {
                    reg.write(dev::#(#path)::*::#fname.val(#mask));
                    assert_eq!(peek(&mmio, #abs, W), u64::from(#shifted as #t), "write puts the field in place");
                    assert_eq!(reg.read(dev::#(#path)::*::#fname), #mask);
                    poke(&mmio, #abs, W, u64::MAX);
                    reg.modify(dev::#(#path)::*::#fname.val(0));
                    let expect = !(#shifted as #t) & !dev::#(#path)::*::KEEP_ZERO;
                    assert_eq!(peek(&mmio, #abs, W), u64::from(expect), "modify keeps other fields and never writes back w1c/sc bits");
                },
                RegAccess::Ro => quote! {
                    poke(&mmio, #abs, W, u64::from(#shifted as #t));
                    assert_eq!(reg.read(dev::#(#path)::*::#fname), #mask);
                    assert!(reg.is_set(dev::#(#path)::*::#fname));
                },
                RegAccess::Wo => quote! {
                    reg.write(dev::#(#path)::*::#fname.val(#mask));
                    assert_eq!(peek(&mmio, #abs, W), u64::from(#shifted as #t));
                },
            };
            let enum_check = f.enum_name.as_deref().and_then(|e| dev.enum_by_name(e).map(|en| (e, en))).map(|(e, en)| {
                let et = enum_ty(e);
                let checks = en.values.iter().map(|v| {
                    let vn = ident(&v.name);
                    let vv = lit(r.width, v.value);
                    quote! {
                        let fv = dev::#(#path)::*::#fname.val(#vv);
                        assert_eq!(dev::#(#path)::*::#fname.read_as_enum::<dev::enums::#et>(fv.value), Some(dev::enums::#et::#vn));
                        assert_eq!(dev::#(#path)::*::#fname::#vn.value, fv.value, "named field value");
                        assert_eq!(dev::enums::#et::#vn.value(), #vv as u64);
                    }
                });
                quote!(#(#checks)*)
            });
            tests.push(quote! {
                #[test]
                fn #name() {
                    const W: u32 = dev::#(#path)::*::WIDTH;
                    assert_eq!(dev::#(#path)::*::#fname.mask, #mask, "mask as in the map");
                    assert_eq!(dev::#(#path)::*::#fname.shift, #shift, "shift as in the map");
                    assert_eq!(dev::#(#path)::*::#fname.read(dev::#(#path)::*::RESET), #reset, "reset as in the map");
                    let mmio = TestMmio::default();
                    let d = dev::#root::new(&mmio);
                    #(#indices)*
                    let reg = #reg_expr;
                    assert_eq!(reg.offset(), #abs, "element offset");
                    #access_check
                    #enum_check
                }
            });
        }
    }
    for s in &dev.structs {
        let ty = struct_ty(s);
        for f in &s.fields {
            let name = unique(format!("struct_{}", test_name(&[&s.name, &f.name])));
            let fname = ident(&f.name);
            let w = Literal::usize_unsuffixed(f.word as usize);
            let mask = hex(f.value_mask());
            let shift = Literal::u32_unsuffixed(f.lsb);
            let enum_check = f.enum_name.as_deref().and_then(|e| dev.enum_by_name(e).map(|en| (e, en))).map(|(e, en)| {
                let et = enum_ty(e);
                let checks = en.values.iter().map(|v| {
                    let vn = ident(&v.name);
                    quote! {
                        let e = Words::with_enum(base, dev::structs::#ty::#fname, dev::enums::#et::#vn);
                        assert_eq!(Words::get_enum(&e, dev::structs::#ty::#fname), Some(dev::enums::#et::#vn));
                    }
                });
                quote!(#(#checks)*)
            });
            tests.push(quote! {
                #[test]
                fn #name() {
                    use dev::structs::Words;
                    let base = dev::structs::#ty::new();
                    let s = Words::with(base, dev::structs::#ty::#fname, #mask);
                    assert_eq!(Words::get(&s, dev::structs::#ty::#fname), #mask);
                    assert_eq!(s.0[#w] & (#mask << #shift), #mask << #shift, "field bits in place");
                    for (i, (a, b)) in s.0.iter().zip(base.0.iter()).enumerate() {
                        let expect = if i == #w { b | (#mask << #shift) } else { *b };
                        assert_eq!(*a, expect, "other bits untouched");
                    }
                    assert_eq!(Words::get(&Words::with(s, dev::structs::#ty::#fname, 0), dev::structs::#ty::#fname), 0);
                    #enum_check
                }
            });
        }
    }
    quote! {
        use #krate as dev;
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
            if width == 64 { m.read64(offset) } else { u64::from(m.read32(offset)) }
        }
        #[allow(dead_code)]
        fn poke(m: &TestMmio, offset: usize, width: u32, value: u64) {
            use regmap_rt::Mmio;
            if width == 64 { m.write64(offset, value) } else { m.write32(offset, value as u32) }
        }
        #(#tests)*
    }
}
