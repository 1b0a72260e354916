//! The generated field tests match the map one for one: as many register
//! field tests as the map has register fields (aliases included), as many
//! structure tests as structure fields.

use std::path::Path;

fn check(map: &str, krate: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(map);
    let dev = regmap::load_file(&path).unwrap_or_else(|d| panic!("{}", d.render()));
    let gen = codegen::generate(&dev, krate).unwrap_or_else(|d| panic!("{d:?}"));
    let register_fields: usize = dev.registers.iter().map(|r| r.fields.len()).sum();
    let struct_fields: usize = dev.structs.iter().map(|s| s.fields.len()).sum();
    let tests: Vec<&str> = gen
        .field_tests
        .lines()
        .zip(gen.field_tests.lines().skip(1))
        .filter(|(attr, _)| attr.trim() == "#[test]")
        .filter_map(|(_, f)| f.trim().strip_prefix("fn "))
        .collect();
    let register_tests = tests.iter().filter(|t| !t.starts_with("struct_")).count();
    let structure_tests = tests.iter().filter(|t| t.starts_with("struct_")).count();
    assert!(register_fields > 0, "{map}: the map has register fields");
    assert_eq!(
        register_tests, register_fields,
        "{map}: one test per register field"
    );
    assert_eq!(
        structure_tests, struct_fields,
        "{map}: one test per structure field"
    );
}

#[test]
fn format_example() {
    check("regmap/tests/example.yaml", "example_regs");
}

#[test]
fn smmuv3_map() {
    check("smmuv3-regs/smmuv3.yaml", "smmuv3_regs");
}

#[test]
fn cmdqv_map() {
    check("cmdqv-regs/cmdqv.yaml", "cmdqv_regs");
}
