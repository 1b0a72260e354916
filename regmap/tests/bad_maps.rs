//! The malformed-map corpus: every file in `tests/bad/` starts with one or
//! more `# expect: LINE:COL Kind` lines, and loading it must produce exactly
//! those diagnostics (position and kind), in order.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use regmap::Kind;

fn kind_name(k: Kind) -> String {
    format!("{k:?}")
}

fn expectations(text: &str) -> Vec<(u32, u32, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let (pos, kind) = e.split_once(' ').expect("`LINE:COL Kind`");
            let (line, col) = pos.split_once(':').expect("LINE:COL");
            (
                line.parse().unwrap(),
                col.parse().unwrap(),
                kind.trim().to_string(),
            )
        })
        .collect()
}

/// The corpus files, sorted.
fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_map_gives_its_located_diagnostics() {
    let files = corpus();
    assert!(files.len() >= 30, "the corpus must hold at least 30 maps");
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let want = expectations(&text);
        assert!(!want.is_empty(), "{} has no `# expect:` line", f.display());
        let got: Vec<(u32, u32, String)> = match regmap::load_file(f) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .items
                .iter()
                .map(|i| (i.span.line, i.span.col, kind_name(i.kind)))
                .collect(),
        };
        if got != want {
            let rendered = regmap::load_file(f)
                .err()
                .map(|d| d.render())
                .unwrap_or_default();
            failures.push(format!(
                "{}:\n  want {want:?}\n  got  {got:?}\n{rendered}",
                f.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rendered_diagnostics_are_rustc_style_with_a_caret() {
    let text = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x100 } ] }\nregisters:\n  - { name: A, offset: 0x2 }\n";
    let err = regmap::load_str("m.yaml", text).unwrap_err();
    let r = err.render();
    let mut lines = r.lines();
    assert_eq!(
        lines.next().unwrap(),
        "m.yaml:3:24: error: offset 0x2 of `A` is not aligned to its 32-bit width"
    );
    assert_eq!(lines.next().unwrap(), "  |");
    assert_eq!(lines.next().unwrap(), "3 |   - { name: A, offset: 0x2 }");
    assert_eq!(lines.next().unwrap(), "  |                        ^");
}

#[test]
fn lines_are_counted_as_yaml_counts_them() {
    // Found by the map_load fuzz target: with lone carriage returns as line
    // breaks the parser's line 3 was past the text's `lines()`, so the
    // rendered diagnostic lost its source line.
    let text = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x100 } ] }\rregisters:\r  - { name: A, offset: 0x2 }\r";
    let err = regmap::load_str("m.yaml", text).unwrap_err();
    let r = err.render();
    assert!(r.starts_with("m.yaml:3:24: error: offset 0x2"), "{r}");
    assert!(r.contains("3 |   - { name: A, offset: 0x2 }"), "{r}");
    let lines: Vec<&str> = regmap::diag::yaml_lines("a\r\nb\rc\n\nd").collect();
    assert_eq!(lines, ["a", "b", "c", "", "d"]);
}

#[test]
fn every_corpus_map_fails_the_cli_with_its_locations() {
    // `regmap check` as a user runs it: exit status 1, each expected
    // FILE:LINE:COL, no panic; the time each took is printed.
    for f in corpus() {
        let text = std::fs::read_to_string(&f).unwrap();
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_regmap"))
            .arg("check")
            .arg(&f)
            .output()
            .unwrap();
        let took = start.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", f.display());
        assert!(!err.contains("panicked"), "{}: {err}", f.display());
        for (line, col, _) in expectations(&text) {
            let want = format!("{}:{line}:{col}: error: ", f.display());
            assert!(
                err.contains(&want),
                "{}: no `{want}` in\n{err}",
                f.display()
            );
        }
        // A figure, not a check (speed is measured, not unit-tested):
        // `cargo test -p regmap --test bad_maps -- --nocapture` prints it.
        eprintln!("{}: {took:?}", f.display());
    }
}

#[test]
fn a_map_that_is_not_utf8_is_located_at_the_invalid_byte() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (bytes, pos) in [
        (&b"device:\n  name: d\xff\n"[..], "2:10"),
        (b"\xff", "1:1"),
        (b"a\r\n\xff", "2:1"),
    ] {
        let f = dir.join("not-utf8.yaml");
        std::fs::write(&f, bytes).unwrap();
        let d = regmap::load_file(&f).unwrap_err();
        let r = d.render();
        assert!(
            r.starts_with(&format!(
                "{}:{pos}: error: the map is not UTF-8",
                f.display()
            )),
            "{r}"
        );
    }
}
