//! The generated field tests match the map one for one: as many register
//! field tests as `regmap dump` lists register fields, as many structure
//! tests as structure fields, and every generated file parses.

use std::path::Path;

fn check(map: &Path, krate: &str) {
    let dev = regmap::load_file(map).unwrap_or_else(|d| panic!("{}", d.render()));
    let gen = codegen::generate(&dev, krate).unwrap();
    let dump = regmap::dump::to_json(&dev);
    let dump_fields: usize = dump["registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"].as_array().unwrap().len())
        .sum();
    let struct_fields: usize = dev.structs.iter().map(|s| s.fields.len()).sum();
    let tests: Vec<&str> = gen
        .field_tests
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fn "))
        .filter(|l| {
            !l.starts_with("peek")
                && !l.starts_with("poke")
                && !l.starts_with("read")
                && !l.starts_with("write")
        })
        .collect();
    let register_tests = tests.iter().filter(|t| !t.starts_with("struct_")).count();
    let structure_tests = tests.iter().filter(|t| t.starts_with("struct_")).count();
    assert_eq!(
        register_tests,
        dump_fields,
        "{}: one test per register field of `regmap dump`",
        map.display()
    );
    assert_eq!(
        structure_tests,
        struct_fields,
        "{}: one test per structure field",
        map.display()
    );
}

#[test]
fn format_example() {
    check(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../regmap/tests/example.yaml"),
        "example_regs",
    );
}

#[test]
fn smmuv3_map() {
    check(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../smmuv3-regs/smmuv3.yaml"),
        "smmuv3_regs",
    );
}

#[test]
fn cmdqv_map() {
    check(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../cmdqv-regs/cmdqv.yaml"),
        "cmdqv_regs",
    );
}
