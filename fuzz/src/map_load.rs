//! The `map_load` target: the loader, validator and generator on one map.
//! The first input byte picks the map: even, the rest of the input as YAML
//! text (lossily UTF-8); odd, a map [`crate::mapgen`] builds from the rest.
//! The property: `regmap` either rejects the map with diagnostics that are
//! all located (a line and column inside the text) or accepts it, and then
//! its documentation and JSON dump build and `codegen` either rejects it
//! with located diagnostics or generates every file, all without a panic.
//! (Compiling the generated code per input would be far too slow; codegen's
//! `tests/generated_maps.rs` compiles that of a few generated maps.)

use regmap::{Diagnostic, Span};

use crate::mapgen;

/// How one map ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The loader rejected it.
    Rejected,
    /// The loader accepted it and codegen's lowering rejected it.
    NotLowered,
    /// Every file was generated.
    Generated,
}

/// Runs one fuzz input.
pub fn run(data: &[u8]) -> Option<Outcome> {
    let (&mode, rest) = data.split_first()?;
    let text = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        mapgen::map(rest)
    };
    Some(check(&text))
}

/// Panics unless every diagnostic is located inside `text`, its lines
/// counted as YAML counts them (a parser error at the end of the text may
/// point one line past the last).
fn located(text: &str, items: &[Diagnostic]) {
    assert!(!items.is_empty(), "a rejection without a diagnostic");
    let lines = regmap::diag::yaml_lines(text).count() as u32 + 1;
    for d in items {
        let Span { line, col } = d.span;
        assert!(
            (1..=lines).contains(&line) && col >= 1,
            "diagnostic not located in the map ({} lines): {}:{}: {}",
            lines - 1,
            line,
            col,
            d.message
        );
    }
}

/// Loads, validates and generates `text`, checking the property.
pub fn check(text: &str) -> Outcome {
    let dev = match regmap::load_str("fuzz.yaml", text) {
        Err(d) => {
            located(text, &d.items);
            let _ = d.render();
            return Outcome::Rejected;
        }
        Ok(dev) => dev,
    };
    let _ = regmap::doc::to_markdown(&dev);
    let _ = regmap::dump::to_json(&dev);
    match codegen::ir::lower(&dev) {
        Err(items) => {
            located(text, &items);
            Outcome::NotLowered
        }
        Ok(ir) => {
            let _ = codegen::generate_ir(&ir, "fuzz_map");
            Outcome::Generated
        }
    }
}
