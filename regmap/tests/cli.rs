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

const EXAMPLE: &str = "tests/example.yaml";
const CMDQV: &str = "../cmdqv-regs/cmdqv.yaml";

/// Every command `regmap --help` lists.
const COMMANDS: &[&str] = &[
    "check",
    "decode",
    "dump",
    "doc",
    "export-tables",
    "import",
    "svd",
    "help",
];

#[test]
fn version_prints_the_package_version() {
    for flag in ["--version", "-V"] {
        let (code, out, err) = regmap(&[flag]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, format!("regmap {}\n", env!("CARGO_PKG_VERSION")));
    }
    let (code, out, err) = regmap(&["--version", "x"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("unexpected argument `x` after --version"),
        "{err}"
    );
}

#[test]
fn each_wrong_invocation_gets_its_own_error_and_exit_2() {
    let dir = scratch("cli-usage");
    let d = dir.to_str().unwrap();
    // (arguments, what stderr must say, the command whose usage follows)
    let cases: &[(&[&str], &str, Option<&str>)] = &[
        (
            &[],
            "regmap: no command given (one of: check, decode,",
            None,
        ),
        (&["frob"], "regmap: unknown command `frob`\n", None),
        (
            &["chek"],
            "regmap: unknown command `chek` (did you mean `check`?)",
            None,
        ),
        (&["--frob"], "regmap: unknown option `--frob`", None),
        (
            &["check"],
            "regmap check: missing MAP",
            Some("check MAP..."),
        ),
        (
            &["decode"],
            "regmap decode: missing MAP",
            Some("decode MAP REGISTER|STRUCT VALUE..."),
        ),
        (
            &["decode", EXAMPLE],
            "regmap decode: missing REGISTER|STRUCT (the register or structure to decode)",
            Some("decode MAP REGISTER|STRUCT VALUE..."),
        ),
        (
            &["decode", EXAMPLE, "CTRL"],
            "regmap decode: missing VALUE",
            Some("decode MAP REGISTER|STRUCT VALUE..."),
        ),
        (
            &["decode", EXAMPLE, "--bogus", "CTRL", "1"],
            "regmap decode: unknown option `--bogus`",
            Some("decode MAP REGISTER|STRUCT VALUE..."),
        ),
        (&["dump"], "regmap dump: missing MAP", Some("dump MAP")),
        (
            &["dump", EXAMPLE, "extra"],
            "regmap dump: unexpected argument `extra` (dump takes MAP)",
            Some("dump MAP"),
        ),
        (
            &["doc", EXAMPLE, "a", "b"],
            "regmap doc: unexpected argument `a`",
            Some("doc MAP"),
        ),
        (
            &["export-tables", EXAMPLE],
            "regmap export-tables: missing DIR",
            Some("export-tables MAP DIR"),
        ),
        (
            &["import", EXAMPLE],
            "regmap import: missing DIR",
            Some("import MAP DIR [OUT]"),
        ),
        (
            &["import", EXAMPLE, d, "out.yaml", "more"],
            "regmap import: unexpected argument `more` (import takes MAP DIR [OUT])",
            Some("import MAP DIR [OUT]"),
        ),
        (
            &["svd", EXAMPLE, "0", "1"],
            "regmap svd: unexpected argument `1`",
            Some("svd MAP [BASE]"),
        ),
        (&["help", "nope"], "regmap: unknown command `nope`", None),
        (
            &["help", "decode", "dump"],
            "regmap help: unexpected argument `dump`",
            Some("help [COMMAND]"),
        ),
    ];
    for (args, says, usage) in cases {
        let (code, out, err) = regmap(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(err.starts_with(says), "{args:?}: {err}");
        // One error and one usage line, not the whole list of commands.
        assert!(!err.contains("commands:"), "{args:?}: {err}");
        match usage {
            Some(u) => {
                let cmd = u.split(' ').next().unwrap();
                assert_eq!(
                    err.lines().skip(1).collect::<Vec<_>>(),
                    [
                        format!("usage: regmap {u}"),
                        format!("run `regmap help {cmd}` for details")
                    ],
                    "{args:?}"
                );
            }
            None => assert!(
                err.ends_with("\nrun `regmap --help` for the list of commands\n"),
                "{args:?}: {err}"
            ),
        }
    }
    // Nothing was read or written: the import above never got to OUT.
    assert!(!std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("out.yaml")
        .exists());
}

#[test]
fn every_command_has_its_own_help() {
    let mut seen = Vec::new();
    for cmd in COMMANDS {
        let (code, out, err) = regmap(&["help", cmd]);
        assert_eq!(code, 0, "{cmd}: {err}");
        assert!(out.starts_with(&format!("usage: regmap {cmd}")), "{out}");
        assert!(out.contains("\narguments:\n"), "{out}");
        assert!(out.contains("2  the command line is wrong"), "{out}");
        for flag in ["--help", "-h"] {
            let (code, same, _) = regmap(&[cmd, flag]);
            assert_eq!(code, 0);
            assert_eq!(same, out, "{cmd} {flag}");
        }
        assert!(!seen.contains(&out), "{cmd} shares its help");
        seen.push(out);
    }
    // --help wins wherever it stands among the arguments...
    let (code, out, _) = regmap(&["decode", EXAMPLE, "CTRL", "--help"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("usage: regmap decode"));
    assert!(out.contains("VINTF[1].SID_MATCH[3]"), "{out}");
    // ...unless `--` ended the options: then it is a file name.
    let (code, out, err) = regmap(&["check", "--", "--help"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.starts_with("--help:") && err.contains("error: cannot read the map"),
        "{err}"
    );
}

#[test]
fn overview_lists_commands_and_exit_status() {
    let (code, out, _) = regmap(&["--help"]);
    assert_eq!(code, 0);
    for cmd in COMMANDS {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("  {cmd} "))),
            "{cmd}: {out}"
        );
    }
    for status in [
        "  0  success",
        "  1  a map or an input is wrong",
        "  2  the command line is wrong",
    ] {
        assert!(out.contains(status), "{out}");
    }
    for same in [&["-h"][..], &["help"]] {
        assert_eq!(regmap(same), (0, out.clone(), String::new()));
    }
}

#[test]
fn names_match_in_any_case() {
    for (exact, other) in [
        ("CTRL", "ctrl"),
        ("QUEUE[3].SLOT[1]", "queue[3].Slot[1]"),
        ("PROD_P1", "prod_p1"),
    ] {
        let want = regmap(&["decode", EXAMPLE, exact, "0x105"]);
        assert_eq!(want.0, 0, "{}", want.2);
        assert_eq!(regmap(&["decode", EXAMPLE, other, "0x105"]), want);
    }
    let (code, out, err) = regmap(&["decode", EXAMPLE, "cmdsync", "0x1046"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("CmdSync (16 bytes)"), "{out}");
    let (code, out, _) = regmap(&["decode", CMDQV, "vintf[1].sid_match[3]", "0x21"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("VINTF.SID_MATCH [1, 3] @ "), "{out}");
}

#[test]
fn an_exact_name_wins_and_names_differing_only_in_case_are_ambiguous() {
    let dir = scratch("cli-case");
    let map = dir.join("case.yaml");
    std::fs::write(
        &map,
        "device: { name: d, windows: [ { name: p, offset: 0, size: 0x1000 } ] }\n\
         registers:\n\
         \x20 - { name: Ab, offset: 0x0, fields: [ { name: LOW, bits: 0 } ] }\n\
         \x20 - { name: AB, offset: 0x4, fields: [ { name: HIGH, bits: 31 } ] }\n",
    )
    .unwrap();
    let m = map.to_str().unwrap();
    let (code, out, err) = regmap(&["decode", m, "Ab", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Ab @ 0x0") && out.contains("LOW"), "{out}");
    let (code, out, _) = regmap(&["decode", m, "AB", "1"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("AB @ 0x4") && out.contains("HIGH"), "{out}");
    let (code, out, err) = regmap(&["decode", m, "ab", "1"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("`ab` matches `Ab` and `AB` (they differ only in case)"),
        "{err}"
    );
}

#[test]
fn an_unknown_name_gets_the_closest_names() {
    for (typo, hint) in [
        ("CTLR", "(did you mean `CTRL`?)"),
        ("ctrlak", "(did you mean `CTRLACK` or `CTRL`?)"),
        ("SLOT", "(did you mean `QUEUE.SLOT`?)"),
        ("QUEUE[1].SLTO[0]", "(did you mean `QUEUE.SLOT`?)"),
        ("CmdSnyc", "(did you mean `CmdSync`?)"),
    ] {
        let (code, out, err) = regmap(&["decode", EXAMPLE, typo, "0"]);
        assert_eq!(code, 1, "{typo}");
        assert!(out.is_empty());
        assert!(
            err.contains("no register or structure named") && err.contains(hint),
            "{typo}: {err}"
        );
    }
    let (code, _, err) = regmap(&["decode", EXAMPLE, "NOTHING_ALIKE", "0"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "no register or structure named `NOTHING_ALIKE` in map `example`\n"
    );
}

#[test]
fn an_omitted_array_index_is_an_error_naming_it_and_its_range() {
    // The ranges come from the map itself, not from this test.
    let dev = regmap::load_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cmdqv-regs/cmdqv.yaml"
    )))
    .unwrap();
    let reg = dev.register("VINTF.SID_MATCH").unwrap();
    let [vintf, slot] = [&reg.arrays[0], &reg.arrays[1]];
    assert_eq!(
        (vintf.name.as_str(), slot.name.as_str()),
        ("VINTF", "SID_MATCH")
    );
    let range =
        |d: &regmap::model::ArrayDim| format!("an array of {}: 0 to {}", d.count, d.count - 1);

    let (code, out, err) = regmap(&["decode", CMDQV, "VINTF.SID_MATCH", "0x1"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        err,
        format!(
            "`VINTF.SID_MATCH` is an array: missing the index of `VINTF` ({}) and of `SID_MATCH` ({}); write e.g. `VINTF[0].SID_MATCH[0]`\n",
            range(vintf),
            range(slot)
        )
    );
    let (code, _, err) = regmap(&["decode", CMDQV, "vintf[2].sid_match", "0x1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "missing the index of `SID_MATCH` ({});",
            range(slot)
        )) && err.contains("write e.g. `VINTF[2].SID_MATCH[0]`")
            && !err.contains("of `VINTF`"),
        "{err}"
    );
    let (code, _, err) = regmap(&["decode", EXAMPLE, "QUEUE.CFG", "0"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("missing the index of `QUEUE` (an array of 4: 0 to 3)"),
        "{err}"
    );
}

#[test]
fn an_index_out_of_range_or_on_a_non_array_is_an_error() {
    let cases: &[(&str, &str, &str)] = &[
        (
            CMDQV,
            "VINTF[64].SID_MATCH[0]",
            "index 64 of `VINTF` is out of range (0 to 63)",
        ),
        (
            CMDQV,
            "VINTF[0].SID_MATCH[16]",
            "index 16 of `SID_MATCH` is out of range (0 to 15)",
        ),
        (
            EXAMPLE,
            "QUEUE[3].SLOT[4]",
            "index 4 of `SLOT` is out of range (0 to 3)",
        ),
        (
            EXAMPLE,
            "CTRL[0]",
            "`CTRL` is not an array: write it without `[0]`",
        ),
        (
            EXAMPLE,
            "QUEUE[1].CFG[2]",
            "`CFG` is not an array: write it without `[2]`",
        ),
        (
            EXAMPLE,
            "Cmd[1]",
            "`Cmd` is a structure, not an array: write it without `[1]`",
        ),
        (
            EXAMPLE,
            "QUEUE[x].CFG",
            "`QUEUE[x]`: index `x` is not a number",
        ),
        (EXAMPLE, "QUEUE[1.CFG", "`QUEUE[1`: expected NAME[INDEX]"),
        (EXAMPLE, "QUEUE..CFG", "empty name in the path"),
    ];
    for (map, sel, says) in cases {
        let (code, out, err) = regmap(&["decode", map, sel, "0"]);
        assert_eq!(code, 1, "{sel}");
        assert!(out.is_empty(), "{sel}: {out}");
        assert!(err.contains(says), "{sel}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(env!("CARGO_BIN_EXE_regmap"))
        .arg("check")
        .arg(std::ffi::OsStr::from_bytes(b"map\xff.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("regmap: argument `map\u{fffd}.yaml` is not UTF-8 text"),
        "{err}"
    );
}
