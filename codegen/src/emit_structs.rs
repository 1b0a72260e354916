//! Pass 2b (emit): in-memory structures (STE, CD, commands, events) as
//! `#[repr(transparent)]` value types over `[u64; N]`. Each field is a
//! typed constant (`Ste::S1CONTEXTPTR`, enum-typed `Ste::CONFIG`) read and
//! updated through [`regmap_rt::Words`] (`ste.get(Ste::V)`,
//! `ste.with_enum(Ste::CONFIG, SteConfig::BYPASS)`): one line per field
//! instead of a family of methods, which keeps generated crates small.
//! Constructors apply `fixed:` values (a command's opcode); a `heapless`
//! batch type is emitted per structure family (a command batch).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use regmap::model::{Device, Struct};

use crate::lower::enum_ty;
use crate::names::{camel, hex, ident};

/// The Rust type of a structure.
pub fn struct_ty(s: &Struct) -> proc_macro2::Ident {
    camel(&s.name)
}

fn one(s: &Struct, dev: &Device) -> TokenStream {
    let ty = struct_ty(s);
    let n = Literal::usize_unsuffixed(s.words());
    let size = Literal::usize_unsuffixed(s.size as usize);
    let doc_text = if s.description.is_empty() {
        s.name.clone()
    } else {
        s.description.clone()
    };
    let doc = format!(
        " {doc_text}\n\n {} bytes; words are little-endian in memory.",
        s.size
    );
    let fixed = s.fixed.iter().filter_map(|(name, v)| {
        let f = s.fields.iter().find(|f| &f.name == name)?;
        let w = Literal::usize_unsuffixed(f.word as usize);
        let shift = Literal::u32_unsuffixed(f.lsb);
        let mask = hex(f.value_mask());
        let v = hex(*v);
        Some(quote!(w[#w] |= (#v & #mask) << #shift;))
    });
    let fields = s.fields.iter().map(|f| {
        let name = ident(&f.name);
        let w = Literal::usize_unsuffixed(f.word as usize);
        let shift = Literal::u32_unsuffixed(f.lsb);
        let mask = hex(f.value_mask());
        let d = format!(
            " {} (word {}, bits {}:{}).",
            if f.description.is_empty() {
                f.name.as_str()
            } else {
                f.description.trim()
            },
            f.word,
            f.msb,
            f.lsb
        );
        match f.enum_name.as_deref() {
            None => quote! {
                #[doc = #d]
                pub const #name: Sf = Sf::new(#w, #shift, #mask);
            },
            Some(e) => {
                let et = enum_ty(e);
                quote! {
                    #[doc = #d]
                    pub const #name: Ef<e::#et> = Ef::new(#w, #shift, #mask);
                }
            }
        }
    });
    let table = s.fields.iter().map(|f| {
        let name = ident(&f.name);
        let n = &f.name;
        if f.enum_name.is_some() {
            quote!((#n, Self::#name.field),)
        } else {
            quote!((#n, Self::#name),)
        }
    });
    // Conversions into every ancestor: a `CmdCfgiSte` is a `Command`.
    let mut ancestors: Vec<String> = Vec::new();
    let mut cur = s.extends.as_deref();
    while let Some(b) = cur {
        if ancestors.iter().any(|a| a == b) {
            break;
        }
        ancestors.push(b.to_string());
        cur = dev.struct_by_name(b).and_then(|p| p.extends.as_deref());
    }
    let ancestors = ancestors.iter().map(|b| camel(b));
    quote! {
        #[doc = #doc]
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct #ty(pub [u64; #n]);
        #[allow(non_upper_case_globals)]
        impl #ty {
            /// Size in bytes.
            pub const SIZE_BYTES: usize = #size;
            /// A structure with its fixed values set (an opcode), other fields zero.
            #[allow(unused_mut)]
            pub const fn new() -> Self {
                let mut w = [0u64; #n];
                #(#fixed)*
                Self(w)
            }
            #(#fields)*
            /// Every field by name, for `Debug` and tools.
            pub const FIELDS: &'static [(&'static str, Sf)] = &[#(#table)*];
        }
        regmap_rt::impl_words!(#ty, #n #(, #ancestors)*);
    }
}

/// All structures, and a batch type per structure family root.
pub fn emit(dev: &Device) -> TokenStream {
    let items = dev.structs.iter().map(|s| one(s, dev));
    let batches = dev
        .structs
        .iter()
        .filter(|s| {
            s.extends.is_none()
                && dev
                    .structs
                    .iter()
                    .any(|o| o.extends.as_deref() == Some(&s.name))
        })
        .map(|s| {
            let ty = struct_ty(s);
            let batch = format_ident!("{}Batch", ty);
            let d = format!(
                " A fixed-capacity batch of [`{ty}`] values (e.g. commands to submit together)."
            );
            quote! {
                #[doc = #d]
                pub type #batch<const N: usize> = heapless::Vec<#ty, N>;
            }
        });
    quote! {
        /// In-memory structures of the map. Read and update fields with
        /// [`regmap_rt::Words`]: `ste.get(Ste::V)`, `ste.with(Ste::S1CONTEXTPTR, pa >> 6)`.
        pub mod structs {
            pub use regmap_rt::Words;
            #[allow(unused_imports)]
            use super::enums as e;
            #[allow(unused_imports)]
            use regmap_rt::{EnumField as Ef, StructField as Sf};
            #(#items)*
            #(#batches)*
        }
    }
}
