//! The generated files are rustfmt's layout already: for every file of
//! every shipped and test map, `rustfmt` (default configuration) changes
//! nothing. rustfmt must be installed (`rustup component add rustfmt`; CI
//! has it for `cargo fmt --check`): the test fails if it is not.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What rustfmt makes of `text`.
fn rustfmt(text: &str) -> String {
    let rustfmt = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into());
    // An empty directory: no rustfmt.toml can change the defaults.
    let dir = std::env::temp_dir().join(format!("codegen-rustfmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut child = Command::new(&rustfmt)
        .args(["--edition", "2021", "--emit", "stdout"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{rustfmt}` (is rustfmt installed?): {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("rustfmt runs");
    writer
        .join()
        .expect("writer")
        .expect("rustfmt reads its input");
    assert!(
        out.status.success(),
        "rustfmt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("rustfmt writes UTF-8")
}

/// Fails at the first line rustfmt changes, with the context around it.
fn same(map: &str, name: &str, ours: &str) {
    let theirs = rustfmt(ours);
    if theirs == ours {
        return;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(3);
    let dump = std::env::temp_dir().join(format!("{}-{name}", map.replace('/', "_")));
    let _ = std::fs::write(&dump, ours);
    panic!(
        "{map}: rustfmt changes the generated {name} at line {} (written to {}):\n--- generated\n{}\n--- rustfmt\n{}",
        at + 1,
        dump.display(),
        a[from..(at + 4).min(a.len())].join("\n"),
        b[from..(at + 4).min(b.len())].join("\n"),
    );
}

fn check(map: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(map);
    let ir = codegen::load(&path).unwrap_or_else(|d| panic!("{}", d.render()));
    let gen = codegen::generate_ir(&ir, "the_crate::the_map");
    same(map, "accessors.rs", &gen.accessors);
    same(map, "regfile.rs", &gen.regfile);
    same(map, "field_tests.rs", &gen.field_tests);
    same(map, "regfile_tests.rs", &gen.regfile_tests);
}

#[test]
fn smmuv3_map() {
    check("smmuv3-regs/smmuv3.yaml");
}

#[test]
fn cmdqv_map() {
    check("cmdqv-regs/cmdqv.yaml");
}

#[test]
fn test_maps() {
    check("codegen/tests/example.yaml");
    check("codegen/tests/features.yaml");
    check("regmap/tests/example.yaml");
}

#[test]
fn layout_coverage_map() {
    check("codegen/tests/layout.yaml");
}
