//! Pass 2a (emit): register modules (constants, tock-registers field types,
//! field values), shared fieldset modules, enums, and the block handles that
//! give typed, bounds-checked access through an MMIO backend.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use regmap::model::{Access, Device, RegAccess, Width};

use crate::lower::{enum_ty, LBlock, LField, LReg, Layout, Lowered};
use crate::names::{hex, ident};

fn word_ty(w: Width) -> TokenStream {
    match w {
        Width::W32 => quote!(u32),
        Width::W64 => quote!(u64),
    }
}

/// A literal of the register's width, in hex.
pub fn lit(w: Width, v: u64) -> Literal {
    match w {
        Width::W32 => hex(u64::from(v as u32)),
        Width::W64 => hex(v),
    }
}

fn docs(text: &str) -> TokenStream {
    let lines: Vec<String> = text.lines().map(|l| format!(" {}", l.trim_end())).collect();
    quote!(#(#[doc = #lines])*)
}

/// Field constants and field-value modules of one layout, plus its marker
/// type and its `Value` wrapper (Debug / defmt of a register value).
fn layout_items(fields: &[LField], width: Width, what: &str, dev: &Device) -> TokenStream {
    let t = word_ty(width);
    let field_items = fields.iter().map(|f| {
        let name = &f.name;
        let mask = lit(width, f.value_mask);
        let shift = Literal::usize_unsuffixed(f.lsb as usize);
        let doc = docs(&format!(
            "{}{}(bits {}:{}, {})",
            f.doc,
            if f.doc.is_empty() { "" } else { " " },
            f.lsb + (64 - f.value_mask.leading_zeros()) - 1,
            f.lsb,
            f.access.as_str()
        ));
        let values: Vec<(proc_macro2::Ident, u64, String)> = f
            .enum_name
            .as_deref()
            .and_then(|e| dev.enum_by_name(e))
            .map(|e| {
                e.values
                    .iter()
                    .map(|v| {
                        let doc = if v.description.is_empty() {
                            format!(" The field set to `{}` ({:#x}).", v.name, v.value)
                        } else {
                            format!(" {} ({:#x}).", v.description.trim_end_matches('.'), v.value)
                        };
                        (ident(&v.name), v.value, doc)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let clash = values
            .iter()
            .any(|(n, _, _)| n == "SET" || n == "CLEAR" || n == "Value");
        let set_clear = if f.value_mask == 1 && !clash {
            quote! {
                /// The bit set.
                pub const SET: super::Fv = super::Fv::new(#mask, #shift, 1);
                /// The bit clear.
                pub const CLEAR: super::Fv = super::Fv::new(#mask, #shift, 0);
            }
        } else {
            quote!()
        };
        let enum_items = match &f.enum_ty {
            None => quote!(),
            Some(e) => {
                let consts = values.iter().map(|(n, v, doc)| {
                    let v = lit(width, *v);
                    quote!(#[doc = #doc] pub const #n: super::Fv = super::Fv::new(#mask, #shift, #v);)
                });
                quote! {
                    /// The enum naming this field's values (for `read_as_enum`).
                    pub type Value = crate::enums::#e;
                    #(#consts)*
                }
            }
        };
        let module = if set_clear.is_empty() && enum_items.is_empty() {
            quote!()
        } else {
            quote! {
                #doc
                #[allow(non_snake_case)]
                pub mod #name {
                    #set_clear
                    #enum_items
                }
            }
        };
        quote! {
            #doc
            pub const #name: Fld = Fld::new(#mask, #shift);
            #module
        }
    });
    let table = fields.iter().map(|f| {
        let n = &f.name;
        let s = &f.spec_name;
        quote!((#s, regmap_rt::StructField::new(0, #n.shift as u32, #n.mask as u64)),)
    });
    quote! {
        /// Marker type naming this field layout in tock-registers types.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        /// A field of this layout.
        pub type Fld = regmap_rt::tock_registers::fields::Field<#t, Register>;
        /// Field values of this layout, combined with `+`.
        pub type Fv = regmap_rt::tock_registers::fields::FieldValue<#t, Register>;
        impl regmap_rt::tock_registers::RegisterLongName for Register {}
        /// A raw value of this layout; `Debug` (and `defmt::Format` with the
        /// `defmt` feature) show every field.
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct Value(pub #t);
        /// Every field by name (bit positions within the register), for `Debug` and tools.
        pub const FIELDS: &[(&str, regmap_rt::StructField)] = &[#(#table)*];
        impl core::fmt::Debug for Value {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                regmap_rt::debug_fields(f, #what, &[self.0 as u64], FIELDS)
            }
        }
        #[cfg(feature = "defmt")]
        impl defmt::Format for Value {
            fn format(&self, f: defmt::Formatter) {
                regmap_rt::defmt_fields(f, #what, &[self.0 as u64], FIELDS)
            }
        }
        #(#field_items)*
    }
}

fn access_marker(a: RegAccess) -> TokenStream {
    match a {
        RegAccess::Rw => quote!(regmap_rt::ReadWrite),
        RegAccess::Ro => quote!(regmap_rt::ReadOnly),
        RegAccess::Wo => quote!(regmap_rt::WriteOnly),
    }
}

fn mask_name(a: Access) -> proc_macro2::Ident {
    format_ident!("{}_MASK", a.as_str().to_ascii_uppercase())
}

/// One register's module body.
fn register_module(r: &LReg, dev: &Device) -> TokenStream {
    let t = word_ty(r.width);
    let offset = hex(r.offset);
    let width = Literal::u32_unsuffixed(r.width.bits());
    let reset = lit(r.width, r.reset);
    let masks = r.masks.iter().map(|(a, m)| {
        let n = mask_name(*a);
        let v = lit(r.width, *m);
        let doc = format!(" Bits of fields with access `{}`.", a.as_str());
        quote!(#[doc = #doc] pub const #n: #t = #v;)
    });
    let reserved = lit(r.width, r.reserved);
    let keep_zero = lit(
        r.width,
        r.masks
            .iter()
            .filter(|(a, _)| matches!(a, Access::W1c | Access::Sc))
            .fold(0, |m, (_, v)| m | v),
    );
    let array = match r.array {
        None => quote!(),
        Some((count, stride)) => {
            let c = Literal::usize_unsuffixed(count as usize);
            let s = hex(stride);
            quote! {
                /// Number of elements of this register array.
                pub const COUNT: usize = #c;
                /// Bytes between elements.
                pub const STRIDE: usize = #s;
            }
        }
    };
    let reg = &dev.registers[r.index];
    let layout = match &r.layout {
        Layout::Inline(fields) => layout_items(fields, r.width, &reg.path(), dev),
        Layout::Fieldset(fs) => quote!(pub use crate::fieldsets::#fs::*;),
        Layout::Alias(target) => quote!(pub use crate::#(#target)::*::*;),
    };
    let alias_doc = reg
        .alias
        .as_ref()
        .map(|a| {
            format!(
                " Alias of `{}`{}.",
                a.target_path,
                a.index_map
                    .as_ref()
                    .map(|h| format!(" (element mapped by hook `{h}`)"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let name = r.path.last().expect("register path");
    let doc = docs(&format!(
        "{}\n\nOffset {:#x}, {}-bit, {}, reset {:#x}.{}",
        r.doc,
        r.offset,
        r.width.bits(),
        r.access.as_str(),
        r.reset,
        alias_doc
    ));
    quote! {
        #doc
        #[allow(non_snake_case)]
        pub mod #name {
            /// Byte offset of element 0 from the device base.
            pub const OFFSET: usize = #offset;
            /// Width in bits.
            pub const WIDTH: u32 = #width;
            /// Reset value.
            pub const RESET: #t = #reset;
            #(#masks)*
            /// Bits no field covers (reserved: read as zero, writes ignored).
            pub const RESERVED_MASK: #t = #reserved;
            /// Bits a read-modify-write writes as zero (w1c and self-clearing).
            pub const KEEP_ZERO: #t = #keep_zero;
            #array
            #layout
        }
    }
}

fn accessor(r: &LReg, base: TokenStream, lifetime: TokenStream, mmio: TokenStream) -> TokenStream {
    let t = word_ty(r.width);
    let path = &r.path;
    let m = &r.method;
    let acc = access_marker(r.access);
    let rel = hex(r.rel_offset);
    let doc = docs(&r.doc);
    let ty = quote!(regmap_rt::Reg<#lifetime, M, #t, crate::#(#path)::*::Register, #acc>);
    match r.array {
        None => quote! {
            #doc
            #[inline(always)]
            pub fn #m(&self) -> #ty {
                regmap_rt::Reg::new(#mmio, #base + #rel, crate::#(#path)::*::KEEP_ZERO)
            }
        },
        Some((count, stride)) => {
            let c = Literal::usize_unsuffixed(count as usize);
            let s = hex(stride);
            quote! {
                #doc
                ///
                /// `None` when `index` is out of range.
                #[inline(always)]
                pub fn #m(&self, index: usize) -> Option<#ty> {
                    if index < #c {
                        Some(regmap_rt::Reg::new(#mmio, #base + #rel + index * #s, crate::#(#path)::*::KEEP_ZERO))
                    } else {
                        None
                    }
                }
            }
        }
    }
}

fn block_accessor(
    b: &LBlock,
    base: TokenStream,
    lifetime: TokenStream,
    mmio: TokenStream,
) -> TokenStream {
    let ty = &b.ty;
    let m = &b.method;
    let rel = hex(b.rel_offset);
    let doc = docs(&b.doc);
    if b.count <= 1 {
        quote! {
            #doc
            #[inline(always)]
            pub fn #m(&self) -> #ty<#lifetime, M> {
                #ty { mmio: #mmio, base: #base + #rel }
            }
        }
    } else {
        let c = Literal::usize_unsuffixed(b.count as usize);
        let s = hex(b.stride);
        quote! {
            #doc
            ///
            /// `None` when `index` is out of range.
            #[inline(always)]
            pub fn #m(&self, index: usize) -> Option<#ty<#lifetime, M>> {
                if index < #c {
                    Some(#ty { mmio: #mmio, base: #base + #rel + index * #s })
                } else {
                    None
                }
            }
        }
    }
}

fn block_items(b: &LBlock, low: &Lowered, out: &mut Vec<TokenStream>) {
    let ty = &b.ty;
    let doc = docs(&format!(
        "Handle on one element of block `{}`.",
        b.path
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(".")
    ));
    let regs = b.regs.iter().map(|&i| {
        accessor(
            &low.regs[i],
            quote!(self.base),
            quote!('a),
            quote!(self.mmio),
        )
    });
    let subs = b
        .children
        .iter()
        .map(|c| block_accessor(c, quote!(self.base), quote!('a), quote!(self.mmio)));
    out.push(quote! {
        #doc
        #[derive(Clone, Copy)]
        pub struct #ty<'a, M: regmap_rt::Mmio> {
            mmio: &'a M,
            base: usize,
        }
        impl<'a, M: regmap_rt::Mmio> #ty<'a, M> {
            /// Byte offset of this element from the device base.
            pub fn block_offset(&self) -> usize {
                self.base
            }
            #(#regs)*
            #(#subs)*
        }
        impl<M: regmap_rt::Mmio> core::fmt::Debug for #ty<'_, M> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}@{:#x}", stringify!(#ty), self.base)
            }
        }
    });
    for c in &b.children {
        block_items(c, low, out);
    }
}

/// Register modules nested like the block tree.
fn module_tree(b: &LBlock, low: &Lowered, dev: &Device) -> TokenStream {
    let name = b.path.last().expect("block path");
    let regs = b.regs.iter().map(|&i| register_module(&low.regs[i], dev));
    let subs = b.children.iter().map(|c| module_tree(c, low, dev));
    let doc = docs(&b.doc);
    quote! {
        #doc
        #[allow(non_snake_case)]
        pub mod #name {
            #(#regs)*
            #(#subs)*
        }
    }
}

/// Enums with `TryFromValue` for both register widths.
pub fn enums(dev: &Device) -> TokenStream {
    let items = dev.enums.iter().map(|e| {
        let ty = enum_ty(&e.name);
        let doc = docs(if e.description.is_empty() {
            &e.name
        } else {
            &e.description
        });
        let variants = e.values.iter().map(|v| {
            let n = ident(&v.name);
            let val = hex(v.value);
            let d = docs(if v.description.is_empty() {
                &v.name
            } else {
                &v.description
            });
            quote!(#d #n = #val,)
        });
        let arms = e.values.iter().map(|v| {
            let n = ident(&v.name);
            let val = hex(v.value);
            quote!(#val => Some(Self::#n),)
        });
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[cfg_attr(feature = "defmt", derive(defmt::Format))]
            #[allow(non_camel_case_types)]
            #[repr(u64)]
            pub enum #ty {
                #(#variants)*
            }
            impl #ty {
                /// The numeric value.
                pub const fn value(self) -> u64 {
                    self as u64
                }
                /// The variant for `value`, if the map names it.
                pub const fn from_value(value: u64) -> Option<Self> {
                    match value {
                        #(#arms)*
                        _ => None,
                    }
                }
            }
            impl regmap_rt::FieldEnum for #ty {
                fn to_value(self) -> u64 {
                    self.value()
                }
                fn from_field_value(value: u64) -> Option<Self> {
                    Self::from_value(value)
                }
            }
            impl TryFromValue<u32> for #ty {
                type EnumType = #ty;
                fn try_from_value(v: u32) -> Option<#ty> {
                    Self::from_value(u64::from(v))
                }
            }
            impl TryFromValue<u64> for #ty {
                type EnumType = #ty;
                fn try_from_value(v: u64) -> Option<#ty> {
                    Self::from_value(v)
                }
            }
        }
    });
    quote! {
        /// Enums of the map: field values, command opcodes, event ids, error codes.
        pub mod enums {
            use regmap_rt::tock_registers::fields::TryFromValue;
            #(#items)*
        }
    }
}

/// Everything register-related: fieldsets, register modules, handles.
pub fn emit(low: &Lowered, dev: &Device) -> TokenStream {
    let fieldsets = low.fieldsets.iter().map(|(name, w, fields, doc)| {
        let items = layout_items(fields, *w, &name.to_string(), dev);
        let doc = docs(if doc.is_empty() {
            "Shared field layout."
        } else {
            doc
        });
        quote! {
            #doc
            #[allow(non_snake_case)]
            pub mod #name {
                #items
            }
        }
    });
    let root_mods = low
        .root_regs
        .iter()
        .map(|&i| register_module(&low.regs[i], dev));
    let block_mods = low.blocks.iter().map(|b| module_tree(b, low, dev));
    let root_ty = &low.root_ty;
    let root_doc = docs(&format!(
        "The `{}` register window: typed accessors over any [`regmap_rt::Mmio`] backend.\n\n{}",
        low.name, low.doc
    ));
    let root_regs = low
        .root_regs
        .iter()
        .map(|&i| accessor(&low.regs[i], quote!(0), quote!('_), quote!(&self.mmio)));
    let root_blocks = low
        .blocks
        .iter()
        .map(|b| block_accessor(b, quote!(0), quote!('_), quote!(&self.mmio)));
    let mut handles = Vec::new();
    for b in &low.blocks {
        block_items(b, low, &mut handles);
    }
    quote! {
        /// Shared field layouts, re-exported by every register that uses them.
        pub mod fieldsets {
            #(#fieldsets)*
        }
        #(#root_mods)*
        #(#block_mods)*
        #root_doc
        pub struct #root_ty<M: regmap_rt::Mmio> {
            mmio: M,
        }
        impl<M: regmap_rt::Mmio> #root_ty<M> {
            /// Accessors over `mmio` (whose offset 0 is the device base).
            pub const fn new(mmio: M) -> Self {
                Self { mmio }
            }
            /// The backend.
            pub fn mmio(&self) -> &M {
                &self.mmio
            }
            #(#root_regs)*
            #(#root_blocks)*
        }
        impl<M: regmap_rt::Mmio> core::fmt::Debug for #root_ty<M> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!(#root_ty))
            }
        }
        #(#handles)*
    }
}
