//! Pass 3: emit the register file, hooks trait, metadata and dispatcher
//! from the IR and the decode tree. The output uses only `core`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use regmap::model::{Access, Width};

use super::decode::{Node, What};
use super::ir::{HookIr, Ir, Kind, RegIr, Role, Slot};
use super::names::{ident, snake};

use crate::names::hex_grouped as hex;

fn uty(w: Width) -> TokenStream {
    match w {
        Width::W32 => quote!(u32),
        Width::W64 => quote!(u64),
    }
}

fn doc(s: &str) -> TokenStream {
    quote!(#[doc = #s])
}

/// Methods of `RegFile` that register accessors must not shadow.
const RESERVED: &[&str] = &[
    "new",
    "reset",
    "read",
    "write",
    "read_with",
    "write_with",
    "get",
    "set",
    "read_bytes",
    "write_bytes",
];

/// Name of a slot's getter (its snake name, unless it collides).
pub fn getter(slot: &Slot) -> String {
    if RESERVED.contains(&slot.field.as_str()) {
        format!("{}_reg", slot.field)
    } else {
        slot.field.clone()
    }
}

/// Names of a slot's index parameters (from its dimension names, unique).
pub fn index_params(slot: &Slot) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, d) in slot.dims.iter().enumerate() {
        let mut n = snake(&d.name);
        if ["value", "clear", "set", "hooks"].contains(&n.as_str()) || out.contains(&n) {
            n = format!("{n}_{k}");
        }
        out.push(n);
    }
    out
}

/// Emits the whole register-file module body.
pub fn emit(ir: &Ir, tree: &Node) -> TokenStream {
    let errors = ir.errors.iter().map(|e| {
        let msg = format!("regfile for `{}`: {e}", ir.device);
        quote!(compile_error!(#msg);)
    });
    let common = common(ir);
    let regs_enum = reg_enum(ir);
    let hooks = hooks_trait(ir);
    let meta = metadata(ir);
    let file = regfile(ir, tree);
    quote! {
        #(#errors)*
        #common
        #regs_enum
        #hooks
        #meta
        #file
    }
}

fn common(ir: &Ir) -> TokenStream {
    let dev_doc = format!(
        "Name of the device (`{}`) this register file emulates.",
        ir.device
    );
    let dev = &ir.device;
    quote! {
        #[doc = #dev_doc]
        pub const DEVICE: &str = #dev;

        /// Why a trapped access was not performed. The VMM decides whether
        /// to treat it as RAZ/WI or to report a fault to the guest.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AccessError {
            /// No register at this offset.
            Unmapped,
            /// An access size other than 4 or 8 bytes.
            BadSize,
            /// An offset that is not a multiple of the access size.
            Unaligned,
            /// An 8-byte access to a 32-bit register: it would straddle two registers.
            Straddle,
            /// An index-mapped alias whose `index_map` hook reports no target element.
            AliasUnmapped,
            /// An array index out of range (from device code or an `index_map` hook).
            BadIndex,
        }

        /// Row-major element number of `idx` in an array of `counts`, or
        /// `None` when the number of indices is wrong or one is out of range.
        #[allow(dead_code)] // maps without arrays do not need it
        #[inline(always)]
        fn flat_index(idx: &[u32], counts: &[u32]) -> Option<usize> {
            if idx.len() != counts.len() {
                return None;
            }
            let mut f: usize = 0;
            for (&i, &c) in idx.iter().zip(counts) {
                if i >= c {
                    return None;
                }
                f = f * (c as usize) + (i as usize);
            }
            Some(f)
        }

        /// Checks the size and alignment of an access; `Ok(true)` for 8 bytes.
        #[inline(always)]
        fn check_access(offset: u64, size: usize) -> Result<bool, AccessError> {
            let wide = match size {
                4 => false,
                8 => true,
                _ => return Err(AccessError::BadSize),
            };
            // `size` is a power of two.
            if offset & (size as u64 - 1) != 0 {
                return Err(AccessError::Unaligned);
            }
            Ok(wide)
        }
    }
}

fn reg_enum(ir: &Ir) -> TokenStream {
    let variants: Vec<_> = ir.slots.iter().map(|s| ident(&s.variant)).collect();
    let docs = ir.slots.iter().map(|s| {
        let d = if s.description.is_empty() {
            format!("`{}`.", s.path)
        } else {
            format!("`{}`: {}", s.path, s.description)
        };
        doc(&d)
    });
    let paths = ir.slots.iter().map(|s| &s.path);
    let n = ir.slots.len();
    quote! {
        /// A register with storage in the register file (aliases name their target).
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reg {
            #( #docs #variants, )*
        }

        impl Reg {
            /// Every register, in map order.
            pub const ALL: [Reg; #n] = [ #( Reg::#variants ),* ];

            /// The register's path in the map (`VCMDQ.PROD`).
            pub const fn path(self) -> &'static str {
                match self {
                    #( Reg::#variants => #paths, )*
                }
            }
        }
    }
}

fn hooks_trait(ir: &Ir) -> TokenStream {
    let methods = ir.hooks.iter().flat_map(hook_methods);
    quote! {
        /// Side effects of the map's hooks. Every method defaults to doing
        /// nothing (an `index_map` hook defaults to "unmapped"); a device
        /// model overrides the ones it implements. Write hooks run after the
        /// write is stored, read hooks before the value is read (they may
        /// update it); both receive the register with storage (the target
        /// for an alias) and its array indices.
        pub trait Hooks {
            #(#methods)*
        }

        /// Hooks that do nothing: guest-visible semantics only.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct NoHooks;

        impl Hooks for NoHooks {}
    }
}

fn hook_methods(h: &HookIr) -> Vec<TokenStream> {
    h.roles
        .iter()
        .map(|&role| {
            let name = format_ident!("{}", h.method(role));
            let desc = if h.description.is_empty() {
                format!("Hook `{}`.", h.name)
            } else {
                format!("Hook `{}`: {}", h.name, h.description)
            };
            match role {
                Role::Write => {
                    let d = format!("{desc}\n\nCalled after a write with the register's old and new stored values.");
                    quote! {
                        #[doc = #d]
                        fn #name(&mut self, _regs: &mut RegFile, _reg: Reg, _idx: &[u32], _old: u64, _new: u64) {}
                    }
                }
                Role::Read => {
                    let d = format!("{desc}\n\nCalled before a read; may update the stored value.");
                    quote! {
                        #[doc = #d]
                        fn #name(&mut self, _regs: &mut RegFile, _reg: Reg, _idx: &[u32]) {}
                    }
                }
                Role::Map { target_outer } => {
                    let d = format!("{desc}\n\nMaps an alias element's indices to the target's, or `None` when unmapped.");
                    quote! {
                        #[doc = #d]
                        fn #name(&mut self, _regs: &RegFile, _idx: &[u32]) -> Option<[u32; #target_outer]> {
                            None
                        }
                    }
                }
            }
        })
        .collect()
}

fn metadata(ir: &Ir) -> TokenStream {
    let kinds = Access::ALL.iter().map(|a| a.as_str());
    let infos = ir.regs.iter().map(|r| {
        let path = &r.path;
        let offset = hex(r.offset);
        let bits = r.width.bits();
        let dims = r.dims.iter().map(|d| {
            let c = d.count;
            let s = hex(d.stride);
            quote!((#c, #s))
        });
        let reset = hex(ir.slots[r.slot].reset);
        let masks = r.masks.by_access.iter().map(|m| hex(*m));
        let storage = ident(&ir.slots[r.slot].variant);
        let alias = r.kind != Kind::Plain;
        let mapped = matches!(r.kind, Kind::Mapped { .. });
        quote! {
            RegInfo {
                path: #path,
                offset: #offset,
                bits: #bits,
                dims: &[ #(#dims),* ],
                reset: #reset,
                masks: [ #(#masks),* ],
                storage: Reg::#storage,
                alias: #alias,
                index_mapped: #mapped,
            }
        }
    });
    quote! {
        /// Spelling of the access kinds, in the order of [`RegInfo::masks`].
        pub const ACCESS_KINDS: [&str; 10] = [ #(#kinds),* ];

        /// What the map says about one register (aliases included), for
        /// generic tests, documentation and slow-path tools.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct RegInfo {
            /// Path in the map.
            pub path: &'static str,
            /// Absolute offset of element 0.
            pub offset: u64,
            /// Width in bits (32 or 64).
            pub bits: u32,
            /// Array dimensions `(count, stride)`, outermost first.
            pub dims: &'static [(u32, u64)],
            /// Reset value of the storage.
            pub reset: u64,
            /// Bits per access kind, in [`ACCESS_KINDS`] order.
            pub masks: [u64; 10],
            /// The storage the register reads and writes.
            pub storage: Reg,
            /// Whether the register is an alias of another.
            pub alias: bool,
            /// Whether an `index_map` hook decides the target element.
            pub index_mapped: bool,
        }

        /// Every register of the map in map order, aliases included.
        pub const REGISTERS: &[RegInfo] = &[ #(#infos),* ];
    }
}

fn slot_storage_ty(s: &Slot) -> TokenStream {
    let t = uty(s.width);
    if s.dims.is_empty() {
        t
    } else {
        let n = s.len as usize;
        quote!([#t; #n])
    }
}

fn counts(s: &Slot) -> TokenStream {
    let c = s.dims.iter().map(|d| d.count);
    quote!(&[ #(#c),* ])
}

fn regfile(ir: &Ir, tree: &Node) -> TokenStream {
    let fields = ir.slots.iter().map(|s| {
        let f = ident(&s.field);
        let t = slot_storage_ty(s);
        quote!(#f: #t)
    });
    let inits = ir.slots.iter().map(|s| {
        let f = ident(&s.field);
        let r = hex(s.reset);
        if s.dims.is_empty() {
            quote!(#f: #r)
        } else {
            let n = s.len as usize;
            quote!(#f: [#r; #n])
        }
    });
    let accessors = ir.slots.iter().map(accessors);
    let get_arms = ir.slots.iter().map(|s| {
        let f = ident(&s.field);
        let v = ident(&s.variant);
        if s.dims.is_empty() {
            quote!(Reg::#v => if idx.is_empty() { Ok(u64::from(self.#f)) } else { Err(AccessError::BadIndex) })
        } else {
            let c = counts(s);
            quote!(Reg::#v => {
                let f = flat_index(idx, #c).ok_or(AccessError::BadIndex)?;
                self.#f.get(f).map(|v| u64::from(*v)).ok_or(AccessError::BadIndex)
            })
        }
    });
    let set_arms = ir.slots.iter().map(|s| {
        let f = ident(&s.field);
        let v = ident(&s.variant);
        let t = uty(s.width);
        if s.dims.is_empty() {
            quote!(Reg::#v => {
                if !idx.is_empty() {
                    return Err(AccessError::BadIndex);
                }
                self.#f = value as #t;
                Ok(())
            })
        } else {
            let c = counts(s);
            quote!(Reg::#v => {
                let f = flat_index(idx, #c).ok_or(AccessError::BadIndex)?;
                let s = self.#f.get_mut(f).ok_or(AccessError::BadIndex)?;
                *s = value as #t;
                Ok(())
            })
        }
    });
    let per_reg = ir.regs.iter().map(|r| per_register(ir, r));
    let read_decode = decode_expr(ir, tree, 0, Action::Read);
    let write_decode = decode_expr(ir, tree, 0, Action::Write);
    let name_doc = format!(
        "The emulated registers of `{}`: every register's stored value (array elements included), initialised to the reset values.",
        ir.device
    );
    quote! {
        #[doc = #name_doc]
        ///
        /// Guest accesses go through [`RegFile::read_with`] and
        /// [`RegFile::write_with`] (field semantics, aliases, hooks); device
        /// code updates registers directly with the typed accessors, which
        /// bypass guest semantics.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct RegFile {
            #(#fields,)*
        }

        impl Default for RegFile {
            fn default() -> Self {
                Self::new()
            }
        }

        // Storage of 64-bit registers makes some generic conversions no-ops.
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        impl RegFile {
            /// A register file holding every register's reset value.
            pub const fn new() -> Self {
                Self { #(#inits,)* }
            }

            /// Puts every register back to its reset value.
            pub fn reset(&mut self) {
                *self = Self::new();
            }

            /// Stored value of `reg` at `idx` (one index per array dimension),
            /// bypassing guest semantics.
            pub fn get(&self, reg: Reg, idx: &[u32]) -> Result<u64, AccessError> {
                match reg {
                    #(#get_arms,)*
                }
            }

            /// Stores `value` (truncated to the register's width) into `reg`
            /// at `idx`, bypassing guest semantics and hooks.
            pub fn set(&mut self, reg: Reg, idx: &[u32], value: u64) -> Result<(), AccessError> {
                match reg {
                    #(#set_arms,)*
                }
            }

            /// A guest read of `size` bytes at `offset` without hooks.
            #[inline]
            pub fn read(&mut self, offset: u64, size: usize) -> Result<u64, AccessError> {
                self.read_with(&mut NoHooks, offset, size)
            }

            /// A guest write of `size` bytes at `offset` without hooks.
            #[inline]
            pub fn write(&mut self, offset: u64, size: usize, value: u64) -> Result<(), AccessError> {
                self.write_with(&mut NoHooks, offset, size, value)
            }

            /// A trapped guest read: decodes `offset`, applies the fields'
            /// read semantics (`rc` bits clear after the read) and calls the
            /// register's read hook first. A 32-bit access to a 64-bit
            /// register returns the addressed half.
            #[inline]
            pub fn read_with<H: Hooks + ?Sized>(&mut self, hooks: &mut H, offset: u64, size: usize) -> Result<u64, AccessError> {
                let wide = check_access(offset, size)?;
                let o0 = offset;
                #read_decode.unwrap_or(Err(AccessError::Unmapped))
            }

            /// A trapped guest write: decodes `offset`, applies the fields'
            /// write semantics and calls the register's write hook with the
            /// old and new values. A 32-bit access to a 64-bit register writes
            /// the addressed half; `value` bits beyond the access are ignored.
            #[inline]
            pub fn write_with<H: Hooks + ?Sized>(&mut self, hooks: &mut H, offset: u64, size: usize, value: u64) -> Result<(), AccessError> {
                let wide = check_access(offset, size)?;
                let o0 = offset;
                #write_decode.unwrap_or(Err(AccessError::Unmapped))
            }

            /// [`RegFile::read_with`] into a little-endian byte buffer of 4 or 8 bytes.
            pub fn read_bytes<H: Hooks + ?Sized>(&mut self, hooks: &mut H, offset: u64, data: &mut [u8]) -> Result<(), AccessError> {
                let v = self.read_with(hooks, offset, data.len())?;
                for (d, s) in data.iter_mut().zip(v.to_le_bytes()) {
                    *d = s;
                }
                Ok(())
            }

            /// [`RegFile::write_with`] from a little-endian byte buffer of 4 or 8 bytes.
            pub fn write_bytes<H: Hooks + ?Sized>(&mut self, hooks: &mut H, offset: u64, data: &[u8]) -> Result<(), AccessError> {
                let mut b = [0u8; 8];
                for (d, s) in b.iter_mut().zip(data) {
                    *d = *s;
                }
                self.write_with(hooks, offset, data.len(), u64::from_le_bytes(b))
            }

            #(#accessors)*
            #(#per_reg)*
        }
    }
}

fn accessors(s: &Slot) -> TokenStream {
    let t = uty(s.width);
    let f = ident(&s.field);
    let g = ident(&getter(s));
    let set = format_ident!("set_{}", s.field);
    let upd = format_ident!("update_{}", s.field);
    let what = format!("`{}`", s.path);
    let gd = format!("Stored value of {what} (device side: no guest semantics).");
    let sd = format!("Stores a value into {what} (device side: no guest semantics, no hooks).");
    let ud = format!("Clears the `clear` bits then sets the `set` bits of {what} (device side).");
    if s.dims.is_empty() {
        return quote! {
            #[doc = #gd]
            pub fn #g(&self) -> #t {
                self.#f
            }
            #[doc = #sd]
            pub fn #set(&mut self, value: #t) {
                self.#f = value;
            }
            #[doc = #ud]
            pub fn #upd(&mut self, clear: #t, set: #t) {
                self.#f = (self.#f & !clear) | set;
            }
        };
    }
    let params: Vec<_> = index_params(s).iter().map(|p| ident(p)).collect();
    let c = counts(s);
    let gd = format!("{gd} `None` when an index is out of range.");
    quote! {
        #[doc = #gd]
        pub fn #g(&self, #(#params: u32),*) -> Option<#t> {
            let f = flat_index(&[#(#params),*], #c)?;
            self.#f.get(f).copied()
        }
        #[doc = #sd]
        pub fn #set(&mut self, #(#params: u32,)* value: #t) -> Result<(), AccessError> {
            let f = flat_index(&[#(#params),*], #c).ok_or(AccessError::BadIndex)?;
            let s = self.#f.get_mut(f).ok_or(AccessError::BadIndex)?;
            *s = value;
            Ok(())
        }
        #[doc = #ud]
        pub fn #upd(&mut self, #(#params: u32,)* clear: #t, set: #t) -> Result<(), AccessError> {
            let f = flat_index(&[#(#params),*], #c).ok_or(AccessError::BadIndex)?;
            let s = self.#f.get_mut(f).ok_or(AccessError::BadIndex)?;
            *s = (*s & !clear) | set;
            Ok(())
        }
    }
}

/// Emits the private read and write functions of one register.
fn per_register(ir: &Ir, r: &RegIr) -> TokenStream {
    let slot = &ir.slots[r.slot];
    let rd = format_ident!("rd_{}", r.func);
    let wr = format_ident!("wr_{}", r.func);
    let f = ident(&slot.field);
    let t = uty(r.width);
    let variant = ident(&slot.variant);
    let m = r.masks;
    let is64 = r.width == Width::W64;
    let wmask = r.width.mask();

    // Wide accesses to 32-bit registers straddle the next register.
    let straddle = if is64 {
        quote!()
    } else {
        quote! {
            if wide {
                return Err(AccessError::Straddle);
            }
        }
    };

    // Target indices (storage indices) from the decoded indices.
    let target = match &r.kind {
        Kind::Plain | Kind::Alias => quote!(let t = idx;),
        Kind::Mapped {
            hook,
            outer,
            target_outer,
        } => {
            let method = ir
                .hook(hook)
                .map(|h| {
                    h.method(Role::Map {
                        target_outer: *target_outer,
                    })
                })
                .unwrap_or_else(|| snake(hook));
            let method = ident(&method);
            let n = slot.dims.len();
            quote! {
                let outer = idx.get(..#outer).unwrap_or(&[]);
                let mapped = hooks.#method(&*self, outer).ok_or(AccessError::AliasUnmapped)?;
                let mut tbuf = [0u32; #n];
                for (d, s) in tbuf.iter_mut().zip(mapped.iter().chain(idx.iter().skip(#outer))) {
                    *d = *s;
                }
                let t: &[u32] = &tbuf;
            }
        }
    };
    let c = counts(slot);
    let (place, place_again) = if slot.dims.is_empty() {
        (
            quote! {
                let _ = t;
                let s = &mut self.#f;
            },
            quote!(let s = &mut self.#f;),
        )
    } else {
        (
            quote! {
                let fi = flat_index(t, #c).ok_or(AccessError::BadIndex)?;
                let s = self.#f.get_mut(fi).ok_or(AccessError::BadIndex)?;
            },
            quote!(let Some(s) = self.#f.get_mut(fi) else { return Ok(()); };),
        )
    };
    // The flat index is computed before the read hook runs; recompute the place after it.
    let (pre_read, place_read) = match &r.on_read {
        Some(h) => {
            let method = ident(
                &ir.hook(h)
                    .map(|h| h.method(Role::Read))
                    .unwrap_or_else(|| snake(h)),
            );
            let check = if slot.dims.is_empty() {
                quote!()
            } else {
                quote!(let fi = flat_index(t, #c).ok_or(AccessError::BadIndex)?;)
            };
            let get = if slot.dims.is_empty() {
                quote!(let s = &mut self.#f;)
            } else {
                quote!(let s = self.#f.get_mut(fi).ok_or(AccessError::BadIndex)?;)
            };
            (
                quote! {
                    #check
                    hooks.#method(self, Reg::#variant, t);
                },
                get,
            )
        }
        None => (quote!(), place.clone()),
    };

    // Read value.
    let read_val = {
        let rd_mask = m.read;
        let base = if rd_mask == 0 {
            None
        } else if rd_mask == wmask {
            Some(quote!(u64::from(*s)))
        } else {
            let h = hex(rd_mask);
            Some(quote!(u64::from(*s) & #h))
        };
        match (base, m.res1) {
            (None, 0) => quote!(0u64),
            (None, r) => {
                let h = hex(r);
                quote!(#h)
            }
            (Some(b), 0) => b,
            (Some(b), r) => {
                let h = hex(r);
                quote!((#b) | #h)
            }
        }
    };
    let rc_clear = if m.rc == 0 {
        quote!()
    } else if is64 {
        let h = hex(m.rc);
        quote! {
            let lane: u64 = if wide { u64::MAX } else if high { 0xffff_ffff_0000_0000 } else { 0xffff_ffff };
            *s &= !(#h & lane);
        }
    } else {
        let h = hex(!m.rc & wmask);
        quote!(*s &= #h;)
    };
    let read_ret = if is64 {
        quote!(Ok(if wide {
            v
        } else if high {
            v >> 32
        } else {
            v & 0xffff_ffff
        }))
    } else {
        quote!(Ok(v))
    };
    let v_binding = quote!(let v = #read_val;);
    let keep_s = if m.read == 0 && m.rc == 0 {
        quote!(let _ = s;)
    } else {
        quote!()
    };

    // Write.
    let (lane_setup, store) = if is64 {
        (
            quote! {
                let (v, lane): (u64, u64) = if wide {
                    (value, u64::MAX)
                } else if high {
                    ((value & 0xffff_ffff) << 32, 0xffff_ffff_0000_0000)
                } else {
                    (value & 0xffff_ffff, 0xffff_ffff)
                };
            },
            if m.store == 0 {
                quote!(let _ = lane; let new = old;)
            } else {
                let h = hex(m.store);
                quote!(let new = (old & !(#h & lane)) | (v & #h);)
            },
        )
    } else {
        (
            quote!(let v = value & 0xffff_ffff;),
            if m.store == 0 {
                quote!(let new = old;)
            } else if m.store == wmask {
                quote!(let new = v;)
            } else {
                let keep = hex(!m.store & wmask);
                let h = hex(m.store);
                quote!(let new = (old & #keep) | (v & #h);)
            },
        )
    };
    let w1c = if m.w1c == 0 {
        quote!()
    } else {
        let h = hex(m.w1c);
        quote!(let new = new & !(v & #h);)
    };
    let w1s = if m.w1s == 0 {
        quote!()
    } else {
        let h = hex(m.w1s);
        quote!(let new = new | (v & #h);)
    };
    let unused_v = if m.store == 0 && m.w1c == 0 && m.w1s == 0 {
        quote!(let _ = v;)
    } else {
        quote!()
    };
    let (hook_call, sc) = {
        let call = match &r.on_write {
            Some(h) => {
                let method = ident(
                    &ir.hook(h)
                        .map(|h| h.method(Role::Write))
                        .unwrap_or_else(|| snake(h)),
                );
                quote!(hooks.#method(self, Reg::#variant, t, old, new);)
            }
            None => quote!(),
        };
        let sc = if m.sc == 0 {
            quote!()
        } else {
            let keep = hex(!m.sc & wmask);
            quote! {
                #place_again
                *s &= #keep;
            }
        };
        (call, sc)
    };
    let unused = quote!(let _ = (&hooks, high););
    let old_used = r.on_write.is_some() || !(r.width == Width::W32 && m.store == wmask);
    let old_unused = if old_used {
        quote!()
    } else {
        quote!(let _ = old;)
    };
    quote! {
        #[inline(always)]
        fn #rd<H: Hooks + ?Sized>(&mut self, hooks: &mut H, idx: &[u32], high: bool, wide: bool) -> Result<u64, AccessError> {
            #unused
            #straddle
            #target
            #pre_read
            #place_read
            #keep_s
            #v_binding
            #rc_clear
            #read_ret
        }

        #[inline(always)]
        fn #wr<H: Hooks + ?Sized>(&mut self, hooks: &mut H, idx: &[u32], high: bool, wide: bool, value: u64) -> Result<(), AccessError> {
            #unused
            #straddle
            #target
            #lane_setup
            #unused_v
            #place
            let old = u64::from(*s);
            #old_unused
            #store
            #w1c
            #w1s
            *s = new as #t;
            #hook_call
            #sc
            Ok(())
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Read,
    Write,
}

fn leaf_call(ir: &Ir, reg: usize, high: bool, action: Action) -> TokenStream {
    let r = &ir.regs[reg];
    let idx = (0..r.dims.len()).map(|d| format_ident!("i{}", d));
    let idx = quote!(&[ #(#idx),* ]);
    match action {
        Action::Read => {
            let f = format_ident!("rd_{}", r.func);
            quote!(Some(self.#f(&mut *hooks, #idx, #high, wide)))
        }
        Action::Write => {
            let f = format_ident!("wr_{}", r.func);
            quote!(Some(self.#f(&mut *hooks, #idx, #high, wide, value)))
        }
    }
}

/// Emits the decode of `node` on the offset variable `o{level}` as an
/// expression of type `Option<Result<..>>` (`None`: nothing decoded here).
fn decode_expr(ir: &Ir, node: &Node, level: usize, action: Action) -> TokenStream {
    let o = format_ident!("o{}", level);
    let cand_expr = |i: usize, guard_exact: bool| -> TokenStream {
        let c = &node.cands[i];
        match &c.what {
            What::Leaf { reg, high } => {
                let call = leaf_call(ir, *reg, *high, action);
                if guard_exact {
                    let lo = hex(c.lo);
                    quote!(if #o == #lo { #call } else { None })
                } else {
                    call
                }
            }
            What::Array {
                count,
                stride,
                depth,
                child,
            } => {
                let i = format_ident!("i{}", depth);
                let next = format_ident!("o{}", level + 1);
                let rel = if c.lo == 0 {
                    quote!(#o)
                } else {
                    let lo = hex(c.lo);
                    quote!((#o - #lo))
                };
                let bind = if *count <= 1 {
                    quote! {
                        let #i: u32 = 0;
                        let #next = #rel;
                    }
                } else {
                    let s = hex(*stride);
                    quote! {
                        let #i = (#rel / #s) as u32;
                        let #next = #rel % #s;
                    }
                };
                let inner = decode_expr(ir, child, level + 1, action);
                quote!({ #bind #inner })
            }
        }
    };
    let pat = |lo: u64, hi: u64| {
        if lo == hi {
            let l = hex(lo);
            quote!(#l)
        } else {
            let (l, h) = (hex(lo), hex(hi));
            quote!(#l..=#h)
        }
    };
    let arms: Vec<TokenStream> = if !node.overlaps() {
        node.cands
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let p = match c.what {
                    What::Leaf { .. } => pat(c.lo, c.lo),
                    What::Array { .. } => pat(c.lo, c.hi),
                };
                let e = cand_expr(i, false);
                quote!(#p => #e,)
            })
            .collect()
    } else {
        node.segments()
            .into_iter()
            .map(|(lo, hi, cands)| {
                if let [only] = cands.as_slice() {
                    // One candidate: a plain arm, as without overlaps.
                    let c = &node.cands[*only];
                    let p = match c.what {
                        What::Leaf { .. } => pat(c.lo, c.lo),
                        What::Array { .. } => pat(lo, hi),
                    };
                    let e = cand_expr(*only, false);
                    return quote!(#p => #e,);
                }
                let p = pat(lo, hi);
                let mut e = quote!(None);
                for &i in cands.iter().rev() {
                    let exact = matches!(node.cands[i].what, What::Leaf { .. })
                        && lo == hi
                        && lo == node.cands[i].lo;
                    let guard = matches!(node.cands[i].what, What::Leaf { .. }) && !exact;
                    let ce = cand_expr(i, guard);
                    e = if e.to_string() == "None" {
                        ce
                    } else {
                        quote!(if let Some(r) = #ce { Some(r) } else { #e })
                    };
                }
                quote!(#p => #e,)
            })
            .collect()
    };
    // First offset of each arm and whether its pattern is a range, in arm
    // order (the candidates and segments are sorted by offset).
    let keys: Vec<(u64, bool)> = if !node.overlaps() {
        node.cands
            .iter()
            .map(|c| (c.lo, matches!(c.what, What::Array { .. }) && c.lo != c.hi))
            .collect()
    } else {
        node.segments()
            .into_iter()
            .map(|(lo, hi, cands)| match cands.as_slice() {
                [only] if matches!(node.cands[*only].what, What::Leaf { .. }) => {
                    (node.cands[*only].lo, false)
                }
                _ => (lo, lo != hi),
            })
            .collect()
    };
    split_match(&o, &arms, &keys)
}

/// Range arms a single `match` may hold before it is split in two.
const RANGE_ARMS_PER_MATCH: usize = 3;

/// `match o { arms.., _ => None }`, split by offset into nested
/// `if o < first_of_right_half { .. } else { .. }` while it has more than
/// [`RANGE_ARMS_PER_MATCH`] range arms. rustc lowers consecutive single-value
/// arms to one switch (a jump table or a binary search), but tests range
/// arms one after the other, so an unsplit node with many block arrays (the
/// CMDQV's top level has ten) would test them linearly; split, a lookup
/// takes a logarithmic number of comparisons.
fn split_match(o: &proc_macro2::Ident, arms: &[TokenStream], keys: &[(u64, bool)]) -> TokenStream {
    let ranges: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].1).collect();
    if ranges.len() <= RANGE_ARMS_PER_MATCH || arms.len() != keys.len() {
        return quote! {
            match #o {
                #(#arms)*
                _ => None,
            }
        };
    }
    // Split before the middle range arm: both halves get about half of the
    // range arms, and the right half starts at that arm's first offset.
    let at = ranges[ranges.len() / 2];
    let bound = hex(keys[at].0);
    let left = split_match(o, &arms[..at], &keys[..at]);
    let right = split_match(o, &arms[at..], &keys[at..]);
    quote! {
        if #o < #bound { #left } else { #right }
    }
}
