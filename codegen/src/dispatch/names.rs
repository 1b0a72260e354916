//! Identifiers for generated items, derived from map names.

use proc_macro2::{Ident, Span};

/// Rust keywords (strict and reserved) that a map name could collide with.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Lower snake case of a map name or path (`VCMDQ.PROD` -> `vcmdq_prod`),
/// suffixed with `_` when it would be a keyword or start with a digit.
pub fn snake(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// Upper snake case of a path for enum variants (`VCMDQ.PROD` -> `VCMDQ_PROD`).
pub fn upper(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if s == "SELF" {
        s.push('_');
    }
    s
}

/// An identifier at the call site.
pub fn ident(s: &str) -> Ident {
    Ident::new(s, Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_paths() {
        assert_eq!(snake("VCMDQ.PROD"), "vcmdq_prod");
        assert_eq!(snake("TYPE"), "type_");
        assert_eq!(snake("0X"), "_0x");
        assert_eq!(upper("vintf.sid_match"), "VINTF_SID_MATCH");
    }
}
