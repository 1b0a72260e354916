//! `regmap`: the register-map format shared by every crate of the workspace.
//!
//! A map is a YAML file (see `FORMAT.md`) describing a device's registers,
//! fields, arrays, aliases, hooks, in-memory structures and enums. Loading
//! runs two passes, like a compiler front end:
//!
//! 1. [`raw`]: YAML to spanned serde types (syntax, types, unknown keys);
//! 2. [`elaborate`]: every semantic rule, producing the [`model::Device`]
//!    that code generators and tools consume.
//!
//! Problems come back as [`diag::Diagnostics`], rendered rustc style as
//! `FILE:LINE:COL: error: ...` with the source line and a caret. No input,
//! however malformed, panics the loader.
//!
//! ```
//! let map = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x1000 } ] }\n\
//!            registers: [ { name: CTRL, offset: 0, fields: [ { name: EN, bits: 0 } ] } ]\n";
//! let dev = regmap::load_str("d.yaml", map).unwrap();
//! assert_eq!(dev.register("CTRL").unwrap().field("EN").unwrap().mask(), 1);
//! ```

pub mod decode;
pub mod diag;
pub mod doc;
#[cfg(feature = "cli")]
pub mod dump;
pub mod elaborate;
pub mod model;
pub mod raw;
pub mod suggest;
pub mod svd;
pub mod tables;

use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, Kind, Span};
pub use model::Device;

/// Loads and validates a map from text; `file` names it in diagnostics.
pub fn load_str(file: &str, text: &str) -> Result<Device, Diagnostics> {
    let fail = |items| Diagnostics {
        file: file.to_string(),
        source: text.to_string(),
        items,
    };
    let raw = raw::parse(text).map_err(|d| fail(vec![d]))?;
    elaborate::elaborate(&raw).map_err(fail)
}

/// Loads and validates a map file.
pub fn load_file(path: &Path) -> Result<Device, Diagnostics> {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Err(e) => Err(Diagnostics {
            file,
            source: String::new(),
            items: vec![Diagnostic::new(
                Kind::Io,
                Span::default(),
                format!("cannot read the map: {e}"),
            )],
        }),
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => load_str(&file, &text),
            Err(e) => {
                // Located at the invalid byte, lines counted as YAML does,
                // in the text before it (which is valid UTF-8).
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
                // After a line break (or at the start) the byte opens a
                // new line; otherwise it follows the last line's text.
                let lines = diag::yaml_lines(&text).count();
                let (line, col) = match diag::yaml_lines(&text).last() {
                    Some(last) if !text.ends_with(['\n', '\r']) => {
                        (lines, last.chars().count() + 1)
                    }
                    _ => (lines + 1, 1),
                };
                Err(Diagnostics {
                    file,
                    source: text,
                    items: vec![Diagnostic::new(
                        Kind::Syntax,
                        Span::new(line, col),
                        format!("the map is not UTF-8 text (invalid byte at offset {at})"),
                    )],
                })
            }
        },
    }
}
