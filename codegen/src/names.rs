//! Rust names for map names: modules keep the spec's spelling (`CR0`,
//! `SID_MATCH`), methods are snake case (`sid_match`), types camel case
//! (`VintfPage0`).

use proc_macro2::{Ident, Literal};
use quote::format_ident;

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// An identifier, with `_` appended when the name is a Rust keyword.
pub fn ident(name: &str) -> Ident {
    if KEYWORDS.contains(&name) {
        format_ident!("{}_", name)
    } else {
        format_ident!("{}", name)
    }
}

/// `SID_MATCH` -> `sid_match`.
pub fn snake(name: &str) -> Ident {
    ident(&name.to_ascii_lowercase())
}

/// `VINTF_PAGE0` -> `VintfPage0`; names already in camel case (`QueueBase`)
/// are kept.
pub fn camel(name: &str) -> Ident {
    let has_lower = name.chars().any(|c| c.is_ascii_lowercase());
    if has_lower && !name.contains('_') && name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return ident(name);
    }
    let mut out = String::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    ident(&out)
}

/// A test-function name from parts: `["VINTF", "CONFIG", "ENABLE"]` ->
/// `vintf_config_enable`.
pub fn test_name(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// A hexadecimal integer literal (`0x5df`). Built as a [`Literal`] rather
/// than by lexing a token stream: the generator writes tens of thousands.
pub fn hex(v: u64) -> Literal {
    format!("{v:#x}")
        .parse()
        .unwrap_or_else(|_| Literal::u64_unsuffixed(v))
}

/// [`hex`] with `_` every four digits (`0x1_0000`), for offsets and masks
/// read by people in `match` arms and tests.
pub fn hex_grouped(v: u64) -> Literal {
    let digits = format!("{v:x}");
    let mut out = String::with_capacity(digits.len() + digits.len() / 4 + 2);
    out.push_str("0x");
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 4 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    out.parse().unwrap_or_else(|_| Literal::u64_unsuffixed(v))
}
