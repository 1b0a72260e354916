//! Per-register tests of the generated dispatcher, generated from the map:
//! reset values, every field's access semantics through guest reads and
//! writes, 64-bit halves, alias folding and bad accesses. The expected
//! values come from the map's fields (FORMAT.md's access table), not from
//! the IR masks the dispatcher was generated from.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use regmap::model::{Access, Device, Register, Width};

use super::decode::Node;
use super::emit::hex;
use super::ir::{Ir, Kind, RegIr, Role};
use super::names::ident;

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

/// Emits the tests.
pub fn emit(device: &Device, ir: &Ir, _tree: &Node) -> TokenStream {
    let write_hooks: Vec<_> = ir
        .hooks
        .iter()
        .filter(|h| h.roles.contains(&Role::Write))
        .map(|h| format_ident!("{}", h.method(Role::Write)))
        .collect();
    let map_hooks: Vec<_> = ir
        .hooks
        .iter()
        .flat_map(|h| {
            h.roles.iter().filter_map(move |r| match r {
                Role::Map { target_outer } => {
                    Some((format_ident!("{}", h.method(*r)), *target_outer))
                }
                _ => None,
            })
        })
        .collect();
    let map_methods = map_hooks.iter().map(|(m, n)| {
        quote! {
            fn #m(&mut self, _regs: &regfile::RegFile, _idx: &[u32]) -> Option<[u32; #n]> {
                Some([0; #n])
            }
        }
    });
    let helpers = quote! {
        /// Records the last write-hook call (for self-clearing fields).
        #[derive(Default)]
        pub(super) struct Rec {
            pub(super) calls: u32,
            pub(super) new: u64,
        }

        impl regfile::Hooks for Rec {
            #(
                fn #write_hooks(&mut self, _regs: &mut regfile::RegFile, _reg: regfile::Reg, _idx: &[u32], _old: u64, new: u64) {
                    self.calls += 1;
                    self.new = new;
                }
            )*
        }

        /// Maps every index-mapped alias element to target element 0.
        pub(super) struct MapFirst;

        impl regfile::Hooks for MapFirst {
            #(#map_methods)*
        }

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
    };

    let per_reg = ir.regs.iter().map(|r| register_test(device, ir, r));
    let bad = bad_access_tests(device, ir);
    quote! {
        #[allow(dead_code, clippy::identity_op, clippy::unusual_byte_groupings)]
        mod regfile_support {
            use super::regfile;
            #helpers
        }
        #[allow(unused_imports)]
        use regfile_support::*;
        #(#per_reg)*
        #bad
    }
}

fn register_test(device: &Device, ir: &Ir, r: &RegIr) -> TokenStream {
    let model = &device.registers[r.reg];
    let slot = &ir.slots[r.slot];
    let storage = ident(&slot.variant);
    let bits = r.width.bits();
    let wmask = r.width.mask();
    let name = format_ident!("regfile_{}", r.func);
    let path = &r.path;
    let mut body = Vec::new();
    for idx in elements(r) {
        let off = offset_of(r.offset, &r.dims, &idx);
        let offl = hex(off);
        let idx_ts = quote!(&[ #(#idx),* ]);
        let ctx = format!("{path}{idx:?} at {off:#x}");
        if let Kind::Mapped { .. } = r.kind {
            // Unmapped with the default hooks; mapped to element 0 otherwise.
            let rw = model.mask_of(Access::Rw);
            let mut tidx: Vec<u32> = Vec::new();
            if let Kind::Mapped {
                target_outer,
                outer,
                ..
            } = &r.kind
            {
                tidx = vec![0u32; *target_outer];
                tidx.extend(idx.iter().skip(*outer));
            }
            let size = if bits == 64 { 8usize } else { 4 };
            let check_rw = if rw == 0 {
                quote!()
            } else {
                let rwl = hex(rw);
                quote! {
                    rf.write_with(&mut MapFirst, #offl, #size, #rwl).unwrap();
                    assert_eq!(get(&rf, regfile::Reg::#storage, &[ #(#tidx),* ]) & #rwl, #rwl, "{}: write through the mapped alias", #ctx);
                    assert_eq!(rf.read_with(&mut MapFirst, #offl, #size).unwrap() & #rwl, #rwl, "{}: read through the mapped alias", #ctx);
                }
            };
            body.push(quote! {
                {
                    let mut rf = regfile::RegFile::new();
                    assert_eq!(rf.read(#offl, #size), Err(regfile::AccessError::AliasUnmapped), "{}", #ctx);
                    assert_eq!(rf.write(#offl, #size, 0), Err(regfile::AccessError::AliasUnmapped), "{}", #ctx);
                    #check_rw
                }
            });
            continue;
        }
        let reset_read = hex(read_value(model, slot.reset) & wmask);
        body.push(quote! {
            {
                let mut rf = regfile::RegFile::new();
                assert_eq!(rd(&mut rf, #offl, #bits), #reset_read, "{}: reset value", #ctx);
            }
        });
        if r.width == Width::W64 && model.mask_of(Access::Rc) == 0 {
            let offh = hex(off + 4);
            body.push(quote! {
                {
                    let mut rf = regfile::RegFile::new();
                    set(&mut rf, regfile::Reg::#storage, #idx_ts, 0x0123_4567_89ab_cdef);
                    let full = rd(&mut rf, #offl, 64);
                    let lo = rf.read(#offl, 4).unwrap();
                    let hi = rf.read(#offh, 4).unwrap();
                    assert_eq!(full, lo | (hi << 32), "{}: 64-bit halves compose on read", #ctx);
                    let mut a = regfile::RegFile::new();
                    let mut b = regfile::RegFile::new();
                    a.write(#offl, 8, 0xfedc_ba98_7654_3210).unwrap();
                    b.write(#offl, 4, 0x7654_3210).unwrap();
                    b.write(#offh, 4, 0xfedc_ba98).unwrap();
                    assert_eq!(a, b, "{}: two 32-bit writes equal one 64-bit write", #ctx);
                }
            });
        }
        if r.width == Width::W32 && off & 7 == 0 {
            body.push(quote! {
                {
                    let mut rf = regfile::RegFile::new();
                    assert_eq!(rf.read(#offl, 8), Err(regfile::AccessError::Straddle), "{}", #ctx);
                    assert_eq!(rf.write(#offl, 8, 0), Err(regfile::AccessError::Straddle), "{}", #ctx);
                }
            });
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
                body.push(quote! {
                    {
                        let mut rf = regfile::RegFile::new();
                        wr(&mut rf, #offl, #bits, #rwl);
                        assert_eq!(rd(&mut rf, #toff, #bits) & #rwl, #rwl, "{}: alias writes the target's storage", #ctx);
                        wr(&mut rf, #toff, #bits, 0);
                        assert_eq!(rd(&mut rf, #offl, #bits) & #rwl, 0, "{}: alias reads the target's storage", #ctx);
                    }
                });
            }
        }
        for f in &model.fields {
            let fm = hex(f.mask());
            let fctx = format!("{ctx}: field {} ({})", f.name, f.access.as_str());
            let st = quote!(regfile::Reg::#storage);
            let check = match f.access {
                Access::Rw => quote! {
                    wr(&mut rf, #offl, #bits, #fm);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: writes ones", #fctx);
                    wr(&mut rf, #offl, #bits, 0);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: writes zeros", #fctx);
                },
                Access::Ro => {
                    let r = hex(slot.reset & f.mask());
                    quote! {
                        wr(&mut rf, #offl, #bits, #fm);
                        assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #r, "{}: ignores ones", #fctx);
                        wr(&mut rf, #offl, #bits, 0);
                        assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #r, "{}: ignores zeros", #fctx);
                        let s = get(&rf, #st, #idx_ts);
                        set(&mut rf, #st, #idx_ts, s | #fm);
                        assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: device side sets it", #fctx);
                    }
                }
                Access::Wo => quote! {
                    wr(&mut rf, #offl, #bits, #fm);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: reads zero", #fctx);
                    assert_eq!(get(&rf, #st, #idx_ts) & #fm, #fm, "{}: the device sees the write", #fctx);
                },
                Access::W1c => quote! {
                    let s = get(&rf, #st, #idx_ts);
                    set(&mut rf, #st, #idx_ts, s | #fm);
                    wr(&mut rf, #offl, #bits, 0);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: zeros leave it", #fctx);
                    wr(&mut rf, #offl, #bits, #fm);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: ones clear it", #fctx);
                },
                Access::W1s => quote! {
                    let s = get(&rf, #st, #idx_ts);
                    set(&mut rf, #st, #idx_ts, s & !#fm);
                    wr(&mut rf, #offl, #bits, 0);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: zeros leave it", #fctx);
                    wr(&mut rf, #offl, #bits, #fm);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: ones set it", #fctx);
                    wr(&mut rf, #offl, #bits, 0);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: zeros do not clear it", #fctx);
                },
                Access::Rc => quote! {
                    let s = get(&rf, #st, #idx_ts);
                    set(&mut rf, #st, #idx_ts, s | #fm);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: reads the value", #fctx);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: cleared by the read", #fctx);
                    wr(&mut rf, #offl, #bits, #fm);
                    assert_eq!(get(&rf, #st, #idx_ts) & #fm, 0, "{}: writes ignored", #fctx);
                },
                Access::Sc => {
                    let hooked = model.on_write.is_some();
                    let size = if bits == 64 { 8usize } else { 4 };
                    let seen = if hooked {
                        quote! {
                            let mut rec = Rec::default();
                            rf.write_with(&mut rec, #offl, #size, #fm).unwrap();
                            assert_eq!(rec.calls, 1, "{}: the write hook runs", #fctx);
                            assert_eq!(rec.new & #fm, #fm, "{}: the hook sees the written one", #fctx);
                        }
                    } else {
                        quote!(wr(&mut rf, #offl, #bits, #fm);)
                    };
                    quote! {
                        #seen
                        assert_eq!(get(&rf, #st, #idx_ts) & #fm, 0, "{}: clears itself", #fctx);
                        assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: reads zero", #fctx);
                    }
                }
                Access::Res0 | Access::RazWi => quote! {
                    wr(&mut rf, #offl, #bits, #fm);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, 0, "{}: reads zero", #fctx);
                    assert_eq!(get(&rf, #st, #idx_ts) & #fm, 0, "{}: writes ignored", #fctx);
                },
                Access::Res1 => quote! {
                    wr(&mut rf, #offl, #bits, 0);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #fm, #fm, "{}: reads one", #fctx);
                },
            };
            body.push(quote! {
                {
                    let mut rf = regfile::RegFile::new();
                    #check
                }
            });
        }
        let um = model.unmapped_mask();
        if um != 0 {
            let uml = hex(um);
            body.push(quote! {
                {
                    let mut rf = regfile::RegFile::new();
                    wr(&mut rf, #offl, #bits, #uml);
                    assert_eq!(rd(&mut rf, #offl, #bits) & #uml, 0, "{}: unmapped bits read zero", #ctx);
                }
            });
        }
    }
    quote! {
        #[test]
        #[allow(clippy::identity_op, clippy::unusual_byte_groupings, clippy::bad_bit_mask, unused_mut, unused_variables)]
        fn #name() {
            #(#body)*
        }
    }
}

/// Tests of bad accesses: sizes, alignment, unmapped offsets.
fn bad_access_tests(device: &Device, ir: &Ir) -> TokenStream {
    let Some(first) = ir.regs.iter().find(|r| r.kind != Kind::Alias) else {
        return quote!();
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
    let holes = holes.into_iter().map(hex);
    let ctx = format!("{} bad accesses", device.name);
    quote! {
        #[test]
        fn regfile_bad_accesses() {
            let mut rf = regfile::RegFile::new();
            let before = rf.clone();
            for size in [0usize, 1, 2, 3, 5, 6, 7, 16, usize::MAX] {
                assert_eq!(rf.read(#off, size), Err(regfile::AccessError::BadSize), "{}: size {}", #ctx, size);
                assert_eq!(rf.write(#off, size, u64::MAX), Err(regfile::AccessError::BadSize), "{}: size {}", #ctx, size);
            }
            assert_eq!(rf.read(#off2, 4), Err(regfile::AccessError::Unaligned), "{}", #ctx);
            assert_eq!(rf.write(#off2, 4, u64::MAX), Err(regfile::AccessError::Unaligned), "{}", #ctx);
            for hole in [#(#holes),*] {
                assert_eq!(rf.read(hole, 4), Err(regfile::AccessError::Unmapped), "{}: {:#x}", #ctx, hole);
                assert_eq!(rf.write(hole, 4, u64::MAX), Err(regfile::AccessError::Unmapped), "{}: {:#x}", #ctx, hole);
            }
            assert_eq!(rf, before, "{}: bad accesses change nothing", #ctx);
        }
    }
}
