//! The `regmap` command line, run as a user would.

use std::process::Command;

fn regmap(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_regmap"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_exits_zero_on_valid_and_one_on_invalid_maps() {
    let (code, out, _) = regmap(&["check", "tests/example.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("tests/example.yaml: ok"));
    let (code, _, err) = regmap(&[
        "check",
        "tests/example.yaml",
        "tests/bad/07-field-overlap.yaml",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("tests/bad/07-field-overlap.yaml:11:9: error: field `B` (bits 9:4) overlaps field `A` (bits 7:0)"), "{err}");
}

#[test]
fn decode_shows_fields_enums_and_flags_reserved_bits() {
    let (code, out, _) = regmap(&["decode", "tests/example.yaml", "CTRL", "0x00000105"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("CTRL @ 0x4 (32-bit, rw) = 0x00000105"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("MODE")
            && l.contains("0x2")
            && l.ends_with("(not a value of Mode)")),
        "{out}"
    );
    assert!(
        out.contains("warning: reserved bits set: 0x100 (bits 8)"),
        "{out}"
    );
    assert!(
        out.contains("warning: field ONE is res1 but reads 0x0"),
        "{out}"
    );
}

#[test]
fn decode_indexes_arrays_and_refines_structures() {
    let (_, out, _) = regmap(&[
        "decode",
        "tests/example.yaml",
        "QUEUE[3].SLOT[1]",
        "0x100007",
    ]);
    assert!(out.starts_with("QUEUE.SLOT [3, 1] @ 0x16c"), "{out}");
    let (code, _, err) = regmap(&["decode", "tests/example.yaml", "QUEUE[4].CFG", "0"]);
    assert_eq!(code, 1);
    assert!(err.contains("out of range"), "{err}");
    let (_, out, _) = regmap(&["decode", "tests/example.yaml", "Cmd", "0x1046"]);
    assert!(out.starts_with("CmdSync (16 bytes)"), "{out}");
    assert!(out.contains("SYNC"));
    assert!(out.contains("word 1 = 0x0000000000000000 (not given, 0)"));
}

#[test]
fn dump_follows_the_documented_schema() {
    let (code, out, _) = regmap(&["dump", "tests/example.yaml"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["device"], "example");
    let slot = v["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "QUEUE.SLOT")
        .unwrap();
    assert_eq!(slot["offset"], 0x108);
    assert_eq!(
        slot["arrays"],
        serde_json::json!([{"count": 4, "stride": 32}, {"count": 4, "stride": 4}])
    );
    assert_eq!(slot["fields"][0]["name"], "IDX");
    let ctrl = v["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "CTRL")
        .unwrap();
    assert_eq!(
        ctrl["fields"][1]["enum"],
        serde_json::json!({"OFF": 0, "ON": 1, "AUTO": 3})
    );
    let p1 = v["registers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "PROD_P1")
        .unwrap();
    assert_eq!(p1["alias"], "PROD");
    let sync = v["structs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "CmdSync")
        .unwrap();
    assert_eq!(
        sync["fields"][2],
        serde_json::json!({"name": "ADDR", "lsb": 66, "msb": 115})
    );
}

#[test]
fn doc_renders_a_bit_diagram_per_register() {
    let (code, out, _) = regmap(&["doc", "tests/example.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("### CTRL"));
    assert!(out.contains("| 31 | 30:4 | 3 | 2:1 | 0 |"), "{out}");
    assert!(out.contains("| ONE | — | KICK | MODE | EN |"));
}

/// A fresh directory under the target dir for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn export_tables_then_import_reports_changes_at_csv_rows() {
    let dir = scratch("cli-tables");
    let tables = dir.join("tables");
    let (code, out, err) = regmap(&[
        "export-tables",
        "tests/example.yaml",
        tables.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("registers"), "{out}");
    let regs = tables.join("registers.csv");
    let text = std::fs::read_to_string(&regs).unwrap();
    let line = text.lines().position(|l| l.starts_with(",ID,")).unwrap() + 1;
    std::fs::write(
        &regs,
        text.replace(",ID,0x0,32,ro,0x12,", ",ID,0x0,32,ro,0x13,"),
    )
    .unwrap();
    let new = dir.join("new.yaml");
    let (code, out, err) = regmap(&[
        "import",
        "tests/example.yaml",
        tables.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "the REV field still says 0x12: {out}");
    assert!(err.contains("fields.csv:"), "{err}");
    assert!(err.contains("error: `REV` resets to 0x12 here"), "{err}");
    let fields = tables.join("fields.csv");
    let f = std::fs::read_to_string(&fields).unwrap();
    std::fs::write(
        &fields,
        f.replace("ID,REV,7,0,ro,0x12,", "ID,REV,7,0,ro,0x13,"),
    )
    .unwrap();
    let (code, out, err) = regmap(&[
        "import",
        "tests/example.yaml",
        tables.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("registers.csv:{line}: ID: reset 0x12 -> 0x13")),
        "{out}"
    );
    assert!(out.contains("2 change(s)"), "{out}");
    let (code, _, err) = regmap(&["check", new.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn svd_writes_a_device_and_rejects_a_bad_base() {
    let (code, out, _) = regmap(&["svd", "tests/example.yaml", "0x40000000"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("<?xml"));
    assert!(
        out.contains("<baseAddress>0x40010000</baseAddress>"),
        "page1"
    );
    let (code, _, err) = regmap(&["svd", "tests/example.yaml", "zz"]);
    assert_eq!(code, 1);
    assert!(err.contains("`zz` is not an address"), "{err}");
}
