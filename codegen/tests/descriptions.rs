//! Map descriptions are text, never code: in every generated file of the
//! layout-coverage map (whose descriptions hold a fenced Rust block that
//! would fail to compile, an indented code block and a lone carriage
//! return), no doc comment opens a code block rustdoc would run and no
//! control character other than the line break is left. dispatch-tests
//! includes the same output, so `cargo test` compiling it and running its
//! doctests (none) is the end-to-end check.

use std::path::Path;

#[test]
fn no_doctest_and_no_control_character_in_generated_docs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layout.yaml");
    let ir = codegen::load(&path).unwrap_or_else(|d| panic!("{}", d.render()));
    let gen = codegen::generate_ir(&ir, "layout");
    let mut fences = 0;
    for text in [
        &gen.accessors,
        &gen.regfile,
        &gen.field_tests,
        &gen.regfile_tests,
    ] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character is left in the generated code"
        );
        let mut open = false;
        for line in text.lines() {
            let Some(doc) = line.trim_start().strip_prefix("///") else {
                continue;
            };
            let doc = doc.strip_prefix(' ').unwrap_or(doc);
            let body = doc.trim_start();
            if body.starts_with("```") || body.starts_with("~~~") {
                if !open {
                    assert!(body.ends_with("text"), "a fence rustdoc would run: {line}");
                    fences += 1;
                }
                open = !open;
            } else if !open {
                assert!(!doc.starts_with("    "), "an indented code block: {line}");
            }
        }
        assert!(!open, "a fence left open");
    }
    assert!(fences > 0, "the map's fenced block is kept, as text");
    assert!(
        gen.regfile.contains("Computes\\u{d}STATUS"),
        "the lone CR is escaped"
    );
}
