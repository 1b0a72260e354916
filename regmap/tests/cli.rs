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
