//! Rust names for map names, in one place: modules keep the spec's spelling
//! (`CR0`, `SID_MATCH`), methods and storage are snake case (`sid_match`,
//! `vcmdq_prod`), types camel case (`VintfPage0`), enum variants of the
//! register file upper snake case (`VCMDQ_PROD`). A name that would be a
//! Rust keyword gets a trailing `_`.

/// Rust keywords (strict, reserved and the 2024 edition's `gen`) that a map
/// name could collide with; none can be a plain identifier.
const KEYWORDS: &[&str] = &[
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Whether `name` is a Rust keyword.
pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// Whether `name` is an ASCII identifier (the loader only accepts those,
/// but the generator checks what it relies on).
pub fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_"
}

/// `name` as an identifier: kept, with `_` appended to a keyword.
pub fn ident(name: &str) -> String {
    if is_keyword(name) {
        format!("{name}_")
    } else {
        name.to_string()
    }
}

/// Lower snake case of a map name or path (`VCMDQ.PROD` -> `vcmdq_prod`).
pub fn snake(name: &str) -> String {
    ident(&cased(name, char::to_ascii_lowercase))
}

/// Upper snake case of a path (`VCMDQ.PROD` -> `VCMDQ_PROD`).
pub fn upper(name: &str) -> String {
    ident(&cased(name, char::to_ascii_uppercase))
}

fn cased(name: &str, case: fn(&char) -> char) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                case(&c)
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// `VINTF_PAGE0` -> `VintfPage0`; names already in camel case (`QueueBase`)
/// are kept.
pub fn camel(name: &str) -> String {
    let has_lower = name.chars().any(|c| c.is_ascii_lowercase());
    if has_lower && !name.contains('_') && name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return ident(name);
    }
    let mut out = String::new();
    for part in name.split(['_', '.']).filter(|p| !p.is_empty()) {
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

/// A hexadecimal literal with `_` every four digits (`0x1_0000`, `0x5df`),
/// the one spelling of numbers in generated code.
pub fn hex(v: u64) -> String {
    let digits = format!("{v:x}");
    let mut out = String::with_capacity(digits.len() + digits.len() / 4 + 2);
    out.push_str("0x");
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 4 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// A string literal for `s` (escaped as Rust's `Debug` does, which is valid
/// Rust source).
pub fn string(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_keywords_and_numbers() {
        assert_eq!(snake("VCMDQ.PROD"), "vcmdq_prod");
        assert_eq!(snake("TYPE"), "type_");
        assert_eq!(snake("0X"), "_0x");
        assert_eq!(upper("vintf.sid_match"), "VINTF_SID_MATCH");
        assert_eq!(upper("self"), "SELF");
        assert_eq!(ident("Self"), "Self_");
        assert_eq!(camel("VINTF_PAGE0"), "VintfPage0");
        assert_eq!(camel("QueueBase"), "QueueBase");
        assert_eq!(camel("VINTF.LVCMDQ"), "VintfLvcmdq");
        assert_eq!(hex(0x1_0000), "0x1_0000");
        assert_eq!(hex(0x5df), "0x5df");
        assert_eq!(hex(0), "0x0");
        assert!(is_identifier("A_1") && !is_identifier("1A") && !is_identifier("_"));
        assert_eq!(string("a\"b\r"), "\"a\\\"b\\r\"");
    }
}
