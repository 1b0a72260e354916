//! Register tables: export, import into an empty map (round trip, both
//! shipped maps), updating an existing map (what is kept, what is
//! reported), and located diagnostics for tables that contradict themselves.

use regmap::diag::Kind;
use regmap::model::Device;
use regmap::tables::export::export;
use regmap::tables::import::{import, Imported};
use regmap::tables::{Problems, Table, Tables};
use regmap::{load_str, Span};

const SMMUV3: &str = include_str!("../../smmuv3-regs/smmuv3.yaml");
const CMDQV: &str = include_str!("../../cmdqv-regs/cmdqv.yaml");

fn load(file: &str, text: &str) -> Device {
    load_str(file, text).unwrap_or_else(|d| panic!("{}", d.render()))
}

/// The CSV texts of a map's tables, as `export-tables` writes them.
fn csv_of(dev: &Device) -> Vec<(Table, String)> {
    let t = export(dev);
    Table::ALL.iter().map(|&k| (k, t.to_csv(k))).collect()
}

fn parse(csv: &[(Table, String)]) -> Result<Tables, Problems> {
    Tables::parse(
        csv.iter()
            .map(|(t, s)| (*t, t.file_name().to_string(), s.clone()))
            .collect(),
    )
}

/// A map with only the device and its windows (the tables carry no windows).
fn skeleton(dev: &Device) -> String {
    let mut s = format!("device:\n  name: {}\n  windows:\n", dev.name);
    for w in &dev.windows {
        s.push_str(&format!(
            "    - {{ name: {}, offset: {:#x}, size: {:#x} }}\n",
            w.name, w.offset, w.size
        ));
    }
    s
}

/// Everything the tables carry about the registers that are not aliases.
fn registers_and_fields(dev: &Device) -> Vec<String> {
    dev.registers
        .iter()
        .filter(|r| r.alias.is_none())
        .map(|r| {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| {
                    let en = f.enum_name.as_deref().map(|n| {
                        let e = dev.enum_by_name(n).expect("enum exists");
                        e.values
                            .iter()
                            .map(|v| format!("{}={}:{}", v.name, v.value, v.description))
                            .collect::<Vec<_>>()
                    });
                    format!(
                        "{} {}:{} {} {:#x} {:?} {:?} {:?}",
                        f.name,
                        f.msb,
                        f.lsb,
                        f.access.as_str(),
                        f.reset,
                        f.description,
                        f.enum_name,
                        en
                    )
                })
                .collect();
            format!(
                "{} @{:#x} {:?} w{} {} reset={:#x} {:?} fields={:?}",
                r.path(),
                r.offset,
                r.arrays
                    .iter()
                    .map(|a| (a.count, a.stride))
                    .collect::<Vec<_>>(),
                r.width.bits(),
                r.access.as_str(),
                r.reset,
                r.description,
                fields
            )
        })
        .collect()
}

fn import_ok(file: &str, map: &str, csv: &[(Table, String)]) -> Imported {
    let tables = parse(csv).unwrap_or_else(|p| panic!("{}", p.render()));
    import(file, map, &tables).unwrap_or_else(|p| panic!("{}", p.render()))
}

fn import_err(map: &str, csv: &[(Table, String)]) -> Problems {
    let tables = match parse(csv) {
        Err(p) => return p,
        Ok(t) => t,
    };
    match import("map.yaml", map, &tables) {
        Ok(_) => panic!("the import should have failed"),
        Err(p) => p,
    }
}

/// Replaces exactly one occurrence of `from` in the text of `table`.
fn edit(csv: &mut [(Table, String)], table: Table, from: &str, to: &str) {
    let (_, text) = csv.iter_mut().find(|(t, _)| *t == table).unwrap();
    assert_eq!(text.matches(from).count(), 1, "`{from}` in {table:?}");
    *text = text.replacen(from, to, 1);
}

fn line_of(csv: &[(Table, String)], table: Table, needle: &str) -> u32 {
    let (_, text) = csv.iter().find(|(t, _)| *t == table).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1
}

#[test]
fn round_trip_into_an_empty_map_gives_the_same_registers_and_fields() {
    for (file, text) in [("smmuv3.yaml", SMMUV3), ("cmdqv.yaml", CMDQV)] {
        let orig = load(file, text);
        let csv = csv_of(&orig);
        let done = import_ok("empty.yaml", &skeleton(&orig), &csv);
        let reloaded = load("new.yaml", &done.text);
        let (a, b) = (registers_and_fields(&orig), registers_and_fields(&reloaded));
        assert_eq!(a.len(), b.len(), "{file}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{file}");
        }
        // And the new map's tables are the original's, cell for cell.
        assert_eq!(csv_of(&reloaded), csv, "{file}");
        assert!(
            done.changes.len() > 20,
            "{file}: every register is reported new"
        );
    }
}

#[test]
fn importing_a_maps_own_tables_changes_nothing() {
    for (file, text) in [("smmuv3.yaml", SMMUV3), ("cmdqv.yaml", CMDQV)] {
        let csv = csv_of(&load(file, text));
        let done = import_ok(file, text, &csv);
        assert!(done.changes.is_empty(), "{:?}", done.changes);
        assert_eq!(done.text, text, "{file} is rewritten byte for byte");
    }
}

#[test]
fn an_update_reports_every_change_and_keeps_the_rest_of_the_file() {
    let orig = load("smmuv3.yaml", SMMUV3);
    let mut csv = csv_of(&orig);
    // Register cells (a block-style register and a flow-style one).
    edit(
        &mut csv,
        Table::Registers,
        ",IDR3,0xc,32,ro,0x404,",
        ",IDR3,0xc,32,ro,0x1404,",
    );
    edit(
        &mut csv,
        Table::Fields,
        "IDR3,BBML,12,11,ro,0x0,",
        "IDR3,BBML,12,11,ro,0x2,",
    );
    edit(
        &mut csv,
        Table::Registers,
        "Command queue producer index",
        "\"Command queue producer index, \"\"written by software\"\"\"",
    );
    // A field changed, one removed, one added.
    edit(
        &mut csv,
        Table::Fields,
        "Broadcast TLB maintenance",
        "Broadcast TLB maintenance (DVM)",
    );
    edit(
        &mut csv,
        Table::Fields,
        "IDR0,RME_IMPL,30,30,ro,0x0,,Realm management extension\n",
        "",
    );
    edit(
        &mut csv,
        Table::Fields,
        "CR2,PTM,2,2,",
        "CR2,NEW_BIT,5,5,rw,0x0,,\"A new bit, with a comma\"\nCR2,PTM,2,2,",
    );
    // A new register and an enum value changed.
    edit(
        &mut csv,
        Table::Registers,
        ",STATUSR,",
        ",SCRATCH,0x30,32,rw,0x0,,,Scratch register for the test\n,STATUSR,",
    );
    edit(
        &mut csv,
        Table::Enums,
        "Ttf,AARCH32_64,0x3,Both formats",
        "Ttf,AARCH32_64,0x3,Both table formats",
    );

    let done = import_ok("smmuv3.yaml", SMMUV3, &csv);
    let changes: Vec<String> = done.changes.iter().map(|c| c.to_string()).collect();
    let l = |t, n| line_of(&csv, t, n);
    let expected = [
        format!(
            "registers.csv:{}: IDR3: reset 0x404 -> 0x1404",
            l(Table::Registers, ",IDR3,")
        ),
        format!(
            "fields.csv:{}: IDR3.BBML: reset 0x0 -> 0x2",
            l(Table::Fields, "IDR3,BBML")
        ),
        format!(
            "registers.csv:{}: CMDQ_PROD: description changed",
            l(Table::Registers, ",CMDQ_PROD,")
        ),
        format!(
            "fields.csv:{}: IDR0.BTM: description changed",
            l(Table::Fields, "IDR0,BTM")
        ),
        format!(
            "fields.csv:{}: IDR0.RME_IMPL: removed (not in fields.csv)",
            l(Table::Fields, "IDR0,S2P")
        ),
        format!(
            "fields.csv:{}: CR2.NEW_BIT: new field, bits 5:5 rw",
            l(Table::Fields, "CR2,NEW_BIT")
        ),
        format!(
            "registers.csv:{}: SCRATCH: new register at offset 0x30, 0 fields",
            l(Table::Registers, ",SCRATCH,")
        ),
        format!(
            "enums.csv:{}: enum Ttf: AARCH32_64 description changed",
            l(Table::Enums, "AARCH32_64")
        ),
    ];
    for e in &expected {
        assert!(changes.contains(e), "missing `{e}` in {changes:#?}");
    }
    assert_eq!(changes.len(), expected.len(), "{changes:#?}");

    // The model has the changes.
    let new = &done.device;
    assert_eq!(new.register("IDR3").unwrap().reset, 0x1404);
    assert_eq!(
        new.register("IDR3").unwrap().field("BBML").unwrap().reset,
        2
    );
    assert_eq!(
        new.register("CMDQ_PROD").unwrap().description,
        "Command queue producer index, \"written by software\""
    );
    assert!(new.register("IDR0").unwrap().field("RME_IMPL").is_none());
    assert_eq!(
        new.register("CR2")
            .unwrap()
            .field("NEW_BIT")
            .unwrap()
            .description,
        "A new bit, with a comma"
    );
    assert_eq!(new.register("SCRATCH").unwrap().offset, 0x30);
    assert_eq!(
        new.enum_by_name("Ttf").unwrap().values[2].description,
        "Both table formats"
    );

    // What the tables do not carry is kept: hooks, aliases, fieldsets,
    // structures, the other registers, every comment line.
    assert_eq!(new.hooks.len(), orig.hooks.len());
    assert_eq!(new.structs.len(), orig.structs.len());
    assert_eq!(
        regmap::dump::to_json(new)["structs"],
        regmap::dump::to_json(&orig)["structs"]
    );
    assert_eq!(
        new.register("CR0").unwrap().on_write.as_deref(),
        Some("cr0_write")
    );
    assert_eq!(
        new.register("CMDQ_PROD").unwrap().fieldset.as_deref(),
        Some("CmdqProd")
    );
    assert_eq!(
        new.register("EVENTQ_PROD_PAGE0")
            .unwrap()
            .alias
            .as_ref()
            .unwrap()
            .target_path,
        "EVENTQ_PROD"
    );
    for line in SMMUV3.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(done.text.contains(line), "comment lost: {line}");
    }
    // Only the lines of changed nodes differ: count the original lines gone.
    let new_lines: std::collections::HashSet<&str> = done.text.lines().collect();
    let gone: Vec<&str> = SMMUV3.lines().filter(|l| !new_lines.contains(l)).collect();
    assert_eq!(gone.len(), 5, "{gone:#?}");
}

#[test]
fn a_fieldset_is_edited_when_all_its_registers_agree_and_left_otherwise() {
    let orig = load("smmuv3.yaml", SMMUV3);
    let base = csv_of(&orig);

    // CR0 alone gets a new bit: it leaves the shared fieldset.
    let mut csv = base.clone();
    edit(
        &mut csv,
        Table::Fields,
        "CR0,PRIQEN,",
        "CR0,NEW,11,11,rw,0x0,,New enable\nCR0,PRIQEN,",
    );
    let done = import_ok("smmuv3.yaml", SMMUV3, &csv);
    let new = &done.device;
    assert_eq!(new.register("CR0").unwrap().fieldset, None);
    assert!(new.register("CR0").unwrap().field("NEW").is_some());
    assert_eq!(
        new.register("CR0ACK").unwrap().fieldset.as_deref(),
        Some("Cr0Bits")
    );
    assert!(new.register("CR0").unwrap().on_write.is_some(), "hook kept");
    assert!(
        done.changes
            .iter()
            .any(|c| c.what
                == "CR0: fields no longer match fieldset Cr0Bits: written in the register")
    );

    // Both users get it: the fieldset changes, both keep using it.
    edit(
        &mut csv,
        Table::Fields,
        "CR0ACK,PRIQEN,",
        "CR0ACK,NEW,11,11,ro,0x0,,New enable\nCR0ACK,PRIQEN,",
    );
    let done = import_ok("smmuv3.yaml", SMMUV3, &csv);
    let new = &done.device;
    for r in ["CR0", "CR0ACK"] {
        assert_eq!(
            new.register(r).unwrap().fieldset.as_deref(),
            Some("Cr0Bits"),
            "{r}"
        );
        assert!(new.register(r).unwrap().field("NEW").is_some(), "{r}");
    }
    assert_eq!(
        new.register("CR0ACK").unwrap().field("NEW").unwrap().access,
        regmap::model::Access::Ro
    );
    assert!(done
        .text
        .contains("      - { name: NEW, bits: 11, description: New enable }"));
}

#[test]
fn cmdqv_update_keeps_alias_blocks_and_index_maps() {
    let orig = load("cmdqv.yaml", CMDQV);
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Registers,
        "VCMDQ,GERRORN,0x14,32,rw,0x0,,,",
        "VCMDQ,GERRORN,0x14,32,rw,0x0,,,",
    );
    let gerrorn = line_of(&csv, Table::Registers, "VCMDQ,GERRORN");
    let (_, regs) = csv
        .iter_mut()
        .find(|(t, _)| *t == Table::Registers)
        .unwrap();
    let mut lines: Vec<String> = regs.lines().map(str::to_string).collect();
    lines.insert(
        gerrorn as usize,
        "VCMDQ,EXTRA,0x18,32,ro,0x0,,,A new queue register".into(),
    );
    *regs = lines.join("\n") + "\n";
    edit(
        &mut csv,
        Table::Blocks,
        "VINTF,0x1000,64,0x100,",
        "VINTF,0x1000,32,0x100,",
    );
    let done = import_ok("cmdqv.yaml", CMDQV, &csv);
    let new = &done.device;
    assert_eq!(new.register("VCMDQ.EXTRA").unwrap().offset, 0x10018);
    // The logical pages mirror the new register through the same hook.
    let alias = new
        .register("VINTF_PAGE0.LVCMDQ.EXTRA")
        .unwrap()
        .alias
        .clone()
        .unwrap();
    assert_eq!(alias.target_path, "VCMDQ.EXTRA");
    assert_eq!(alias.index_map.as_deref(), Some("lvcmdq_to_vcmdq"));
    assert_eq!(new.register("VINTF.CONFIG").unwrap().arrays[0].count, 32);
    assert!(done
        .changes
        .iter()
        .any(|c| c.what == "VINTF: count 64 stride 0x100 -> count 32 stride 0x100"));
    assert!(done.text.contains("index_map: lvcmdq_to_vcmdq"));
}

/// The single rendered problem, with its file:line:col.
fn only(p: &Problems) -> (String, Span, Kind, String) {
    assert_eq!(p.items.len(), 1, "{}", p.render());
    let i = &p.items[0];
    (i.file.clone(), i.diag.span, i.diag.kind, p.render())
}

#[test]
fn a_register_reset_contradicting_a_field_reset_is_located_at_the_field_cell() {
    let orig = load("smmuv3.yaml", SMMUV3);
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Registers,
        ",IDR3,0xc,32,ro,0x404,",
        ",IDR3,0xc,32,ro,0x1404,",
    );
    let p = import_err(SMMUV3, &csv);
    let (file, span, kind, text) = only(&p);
    let line = line_of(&csv, Table::Fields, "IDR3,BBML");
    assert_eq!(
        (file.as_str(), span.line, kind),
        ("fields.csv", line, Kind::BadReset),
        "{text}"
    );
    assert_eq!(span.col, 20, "the reset cell: {text}");
    assert!(
        text.contains("registers.csv:"),
        "names the register row: {text}"
    );
    assert!(
        text.contains(&format!("fields.csv:{line}:20: error:")),
        "{text}"
    );
}

#[test]
fn contradictions_found_by_the_loader_point_at_the_csv_row() {
    let orig = load("smmuv3.yaml", SMMUV3);
    // Overlapping fields.
    let mut csv = csv_of(&orig);
    edit(&mut csv, Table::Fields, "CR2,PTM,2,2,", "CR2,PTM,2,1,");
    let (file, span, kind, text) = only(&import_err(SMMUV3, &csv));
    assert_eq!(
        (file.as_str(), span.line, kind),
        (
            "fields.csv",
            line_of(&csv, Table::Fields, "CR2,PTM"),
            Kind::FieldOverlap
        ),
        "{text}"
    );
    // A misaligned offset, at its cell.
    let mut csv = csv_of(&orig);
    edit(&mut csv, Table::Registers, ",CR2,0x2c,", ",CR2,0x2e,");
    let (file, span, kind, text) = only(&import_err(SMMUV3, &csv));
    let line = line_of(&csv, Table::Registers, ",CR2,");
    assert_eq!(
        (file.as_str(), span, kind),
        ("registers.csv", Span::new(line, 6), Kind::Misaligned),
        "{text}"
    );
    // Two registers at one offset.
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Registers,
        ",STATUSR,",
        ",CLASH,0x2c,32,rw,0x0,,,\n,STATUSR,",
    );
    let p = import_err(SMMUV3, &csv);
    let text = p.render();
    assert!(
        p.items.iter().all(|i| i.diag.kind == Kind::RegisterOverlap),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "registers.csv:{}:",
            line_of(&csv, Table::Registers, ",CLASH,")
        )),
        "{text}"
    );
}

#[test]
fn a_new_maps_diagnostics_point_at_the_field_and_register_rows() {
    // Into an empty map, every register and field is new: the loader's
    // diagnostics still name the row that wrote each line.
    let orig = load("cmdqv.yaml", CMDQV);
    let empty = skeleton(&orig);
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Fields,
        "VINTF.STATUS,STATUS,3,1,",
        "VINTF.STATUS,STATUS,3,0,",
    );
    let (file, span, kind, text) = only(&import_err(&empty, &csv));
    let line = line_of(&csv, Table::Fields, "VINTF.STATUS,STATUS,3,0,");
    assert_eq!(
        (file.as_str(), span.line, kind),
        ("fields.csv", line, Kind::FieldOverlap),
        "{text}"
    );
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Registers,
        "VCMDQ,STATUS,0xc,",
        "VCMDQ,STATUS,0xa,",
    );
    let p = import_err(&empty, &csv);
    let line = line_of(&csv, Table::Registers, "VCMDQ,STATUS,0xa,");
    let text = p.render();
    assert!(
        p.items
            .iter()
            .all(|i| i.file == "registers.csv" && i.diag.span.line == line),
        "{text}"
    );
    let mis = p
        .items
        .iter()
        .find(|i| i.diag.kind == Kind::Misaligned)
        .expect("misaligned");
    assert_eq!(
        mis.diag.span,
        Span::new(line, 14),
        "the offset cell: {text}"
    );
}

#[test]
fn a_crlf_map_stays_crlf() {
    let example = include_str!("example.yaml");
    let crlf = example.replace('\n', "\r\n");
    let mut csv = csv_of(&load("example.yaml", example));
    edit(&mut csv, Table::Fields, "ERR,LATCH,1,1,rc,0x0,,\n", "");
    edit(
        &mut csv,
        Table::Fields,
        "ERR,Q,0,0,",
        "ERR,NEW,2,2,rw,0x0,,New\nERR,Q,0,0,",
    );
    edit(
        &mut csv,
        Table::Registers,
        ",ERR,0xc,32,rw,0x0,,,",
        ",ERR,0xc,32,rw,0x0,,,Errors",
    );
    edit(
        &mut csv,
        Table::Registers,
        ",BASE,",
        ",SPARE,0x1c,32,ro,0x0,,,\n,BASE,",
    );
    let done = import_ok("example.yaml", &crlf, &csv);
    assert_eq!(done.changes.len(), 4, "{:?}", done.changes);
    assert!(
        done.text.split_inclusive('\n').all(|l| l.ends_with("\r\n")),
        "{:?}",
        done.text
    );
    let err = done.device.register("ERR").unwrap();
    assert!(err.field("LATCH").is_none() && err.field("NEW").is_some());
    assert_eq!(done.device.register("SPARE").unwrap().offset, 0x1c);
}

#[test]
fn a_register_access_change_carries_its_fields_unless_they_say_otherwise() {
    let example = include_str!("example.yaml");
    let orig = load("example.yaml", example);
    // BASE's fields have no `access:` of their own: with empty access
    // cells they follow the register to ro.
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Registers,
        ",BASE,0x10,64,rw,",
        ",BASE,0x10,64,ro,",
    );
    edit(
        &mut csv,
        Table::Fields,
        "BASE,ADDR,51,5,rw,",
        "BASE,ADDR,51,5,,",
    );
    edit(
        &mut csv,
        Table::Fields,
        "BASE,LOG2SIZE,4,0,rw,",
        "BASE,LOG2SIZE,4,0,,",
    );
    let done = import_ok("example.yaml", example, &csv);
    let base = done.device.register("BASE").unwrap();
    assert!(base
        .fields
        .iter()
        .all(|f| f.access == regmap::model::Access::Ro));
    // Rows that still say rw contradict the ro register: located at the field.
    let mut csv = csv_of(&orig);
    edit(
        &mut csv,
        Table::Registers,
        ",BASE,0x10,64,rw,",
        ",BASE,0x10,64,ro,",
    );
    let p = import_err(example, &csv);
    let text = p.render();
    assert!(!text.contains("internal error"), "{text}");
    let line = line_of(&csv, Table::Fields, "BASE,ADDR");
    assert!(
        p.items.iter().any(|i| i.file == "fields.csv"
            && i.diag.span.line == line
            && i.diag.kind == Kind::BadAccess),
        "{text}"
    );
}

#[test]
fn table_level_mistakes_are_located() {
    let orig = load("cmdqv.yaml", CMDQV);
    let base = csv_of(&orig);
    let cases: Vec<(Table, &str, &str, Kind, &str)> = vec![
        (
            Table::Registers,
            ",PARAM,0x4,",
            ",CONFIG,0x4,",
            Kind::Duplicate,
            "register `CONFIG` appears twice",
        ),
        (
            Table::Fields,
            "PARAM,VER,",
            "PARAMS,VER,",
            Kind::UnknownReference,
            "register `PARAMS` is neither",
        ),
        (
            Table::Registers,
            "VINTF,STATUS,",
            "VINTFS,STATUS,",
            Kind::UnknownReference,
            "block `VINTFS`",
        ),
        (
            Table::Fields,
            "VINTF.STATUS,STATUS,3,1,ro,0x0,VintfStatus",
            "VINTF.STATUS,STATUS,3,1,ro,0x0,VintfState",
            Kind::UnknownReference,
            "unknown enum `VintfState`",
        ),
        (
            Table::Enums,
            "VintfStatus,VCMDQ_ERROR,0x1,",
            "VintfStatus,VCMDQ_ERROR,0x9,",
            Kind::ValueTooWide,
            "does not fit the 3-bit field VINTF.STATUS.STATUS",
        ),
        (
            Table::Fields,
            "CONFIG,CMDQV_EN,0,0,rw",
            "CONFIG,CMDQV_EN,0,0,rwx",
            Kind::BadAccess,
            "`access` is `rwx`",
        ),
        (
            Table::Registers,
            ",STATUS,0x8,32",
            ",STATUS,0x8,48",
            Kind::BadWidth,
            "width must be 32 or 64",
        ),
        (
            Table::Fields,
            "CONFIG,CMDQV_EN,0,0",
            "CONFIG,CMDQV_EN,0,1",
            Kind::BadBits,
            "reversed",
        ),
        (
            Table::Registers,
            "block,name,offset",
            "block,nmae,offset",
            Kind::UnknownKey,
            "unknown column `nmae`",
        ),
        (
            Table::Fields,
            "CONFIG,CMDQV_EN,0,0,rw,0x1,,Enable the CMDQV",
            "CONFIG,CMDQV_EN,0,0,rw,0x1,,Enable \"the\" CMDQV",
            Kind::Syntax,
            "inside an unquoted field",
        ),
    ];
    for (table, from, to, kind, message) in cases {
        let mut csv = base.clone();
        edit(&mut csv, table, from, to);
        let p = import_err(CMDQV, &csv);
        let text = p.render();
        let hit = p.items.iter().find(|i| i.diag.kind == kind);
        let Some(hit) = hit else {
            panic!("no {kind:?} for `{to}`: {text}")
        };
        assert_eq!(hit.file, table.file_name(), "{text}");
        let line = line_of(&csv, table, to.lines().next().unwrap());
        assert_eq!(hit.diag.span.line, line, "{text}");
        assert!(hit.diag.message.contains(message), "{text}");
        assert!(
            text.contains(&format!("{}:{}:", table.file_name(), line)),
            "{text}"
        );
    }
}

#[test]
fn quoted_cells_with_commas_quotes_and_newlines_survive_the_round_trip() {
    let map = "device: { name: d, windows: [ { name: p, offset: 0, size: 0x1000 } ] }\n";
    let regs = "name,offset,description\nR,0x0,\"one, \"\"two\"\"\nthree: four # five\"\n";
    let fields = "register,name,msb,lsb,description\nR,F,3,0,\"[a, b] {c}\"\n";
    let csv = vec![
        (Table::Registers, regs.to_string()),
        (Table::Fields, fields.to_string()),
    ];
    let done = import_ok("d.yaml", map, &csv);
    let r = done.device.register("R").unwrap();
    assert_eq!(r.description, "one, \"two\"\nthree: four # five");
    assert_eq!(r.field("F").unwrap().description, "[a, b] {c}");
    let back = export(&done.device);
    assert_eq!(
        back.registers[0].description.value.as_deref(),
        Some(r.description.as_str())
    );
    let again = parse(&[(Table::Registers, back.to_csv(Table::Registers))]).unwrap();
    assert_eq!(
        again.registers[0].description.value.as_deref(),
        Some(r.description.as_str())
    );
}

mod hostile {
    //! Whatever the tables say, the import gives located diagnostics or a
    //! valid map: never a panic, and never an internal error of the planner.
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = include_str!("example.yaml");

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..0x120).prop_map(|v| format!("{v:#x}")),
            (0u64..70).prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| format!("{v:#x}")),
            prop::sample::select(vec![
                "",
                "rw",
                "ro",
                "wo",
                "w1c",
                "rc",
                "sc",
                "res0",
                "res1",
                "RAZ/WI",
                "Mode",
                "Opcode",
                "QUEUE",
                "QUEUE.SLOT",
                "CTRL",
                "EN",
                "NEW",
                "32",
                "64",
                "-1",
                "1.5",
                "a,b",
                "x\"y",
                "line\nbreak",
                "99999999999999999999999",
                "QUEUE.CFG",
            ])
            .prop_map(String::from),
        ]
    }

    fn run(csv: &[(Table, String)]) -> Result<(), String> {
        let Ok(tables) = parse(csv) else {
            return Ok(());
        };
        match import("example.yaml", EXAMPLE, &tables) {
            Ok(done) => {
                load_str("new.yaml", &done.text).map_err(|d| d.render())?;
                Ok(())
            }
            Err(p) if p.render().contains("internal error") => Err(p.render()),
            Err(_) => Ok(()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn edited_cells_never_panic(edits in prop::collection::vec((0usize..4, any::<prop::sample::Index>(), any::<prop::sample::Index>(), value()), 1..6)) {
            let t = export(&load("example.yaml", EXAMPLE));
            let mut rows: Vec<Vec<Vec<String>>> = Table::ALL.iter().map(|&k| {
                let recs = regmap::tables::csv::parse(&t.to_csv(k)).unwrap();
                recs.into_iter().map(|r| r.fields.into_iter().map(|f| f.text).collect()).collect()
            }).collect();
            for (table, row, col, v) in edits {
                let rs = &mut rows[table];
                if rs.len() < 2 { continue; }
                let r = 1 + row.index(rs.len() - 1);
                if v == "NEW" {
                    let copy = rs[r].clone();
                    rs.push(copy);
                    let c = col.index(rs[r].len());
                    rs.last_mut().unwrap()[c] = v;
                } else {
                    let c = col.index(rs[r].len());
                    rs[r][c] = v;
                }
            }
            let csv: Vec<(Table, String)> = Table::ALL.iter().zip(&rows).map(|(&k, rs)| (k, regmap::tables::csv::write(rs))).collect();
            prop_assert_eq!(run(&csv), Ok(()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(table in 0usize..4, bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let csv = vec![(Table::ALL[table], format!("{}\n{text}", Table::ALL[table].columns().join(",")))];
            prop_assert_eq!(run(&csv), Ok(()));
        }
    }
}
