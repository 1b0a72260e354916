//! Checks the SMMUv3 map against known register values and structure
//! encodings, using only the elaborated model: fields are looked up by name
//! and enum values by name, then shifted into place here. Every expected
//! constant is derived by hand from the architectural bit positions (the
//! derivation is in the comment next to it), so a wrong position in the map
//! makes the assembled value differ.

use std::path::Path;

use regmap::model::{Device, Register, Struct};

/// Loads `smmuv3.yaml`, failing the test with the rendered diagnostics.
fn map() -> Device {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("smmuv3.yaml");
    match regmap::load_file(&path) {
        Ok(dev) => dev,
        Err(d) => panic!("smmuv3.yaml does not load: {d:?}"),
    }
}

/// A field value: a number, or the name of a value of the field's enum.
#[derive(Clone, Copy)]
enum V {
    N(u64),
    E(&'static str),
}

/// Resolves `v` for a field whose enum (if any) is `enum_name`.
fn resolve(dev: &Device, owner: &str, field: &str, enum_name: Option<&str>, v: V) -> u64 {
    match v {
        V::N(n) => n,
        V::E(name) => {
            let en = enum_name.unwrap_or_else(|| panic!("{owner}.{field} has no enum"));
            let e = dev
                .enum_by_name(en)
                .unwrap_or_else(|| panic!("enum {en} missing"));
            e.values
                .iter()
                .find(|x| x.name == name)
                .unwrap_or_else(|| panic!("enum {en} has no value {name}"))
                .value
        }
    }
}

fn reg<'a>(dev: &'a Device, path: &str) -> &'a Register {
    dev.register(path)
        .unwrap_or_else(|| panic!("register {path} missing"))
}

/// Assembles a register value from named field values.
fn reg_value(dev: &Device, path: &str, fields: &[(&str, V)]) -> u64 {
    let r = reg(dev, path);
    fields.iter().fold(0, |acc, &(name, v)| {
        let f = r
            .field(name)
            .unwrap_or_else(|| panic!("{path} has no field {name}"));
        let n = resolve(dev, path, name, f.enum_name.as_deref(), v);
        assert!(n <= f.value_mask(), "{path}.{name} = {n:#x} does not fit");
        acc | (n << f.lsb)
    })
}

fn strukt<'a>(dev: &'a Device, name: &str) -> &'a Struct {
    dev.struct_by_name(name)
        .unwrap_or_else(|| panic!("structure {name} missing"))
}

/// Builds a structure's words: the `fixed` values first, then `fields`.
fn build(dev: &Device, name: &str, fields: &[(&str, V)]) -> Vec<u64> {
    let s = strukt(dev, name);
    let mut words = vec![0u64; s.words()];
    let fixed = s.fixed.iter().map(|(f, v)| (f.as_str(), V::N(*v)));
    let given = fields.iter().copied();
    for (fname, v) in fixed.chain(given) {
        let f = s
            .fields
            .iter()
            .find(|f| f.name == fname)
            .unwrap_or_else(|| panic!("{name} has no field {fname}"));
        let n = resolve(dev, name, fname, f.enum_name.as_deref(), v);
        assert!(n <= f.value_mask(), "{name}.{fname} = {n:#x} does not fit");
        let w = &mut words[f.word as usize];
        *w = (*w & !(f.value_mask() << f.lsb)) | (n << f.lsb);
    }
    words
}

/// Reads a field of a structure from its words.
fn get(dev: &Device, name: &str, words: &[u64], fname: &str) -> u64 {
    let s = strukt(dev, name);
    let f = s
        .fields
        .iter()
        .find(|f| f.name == fname)
        .unwrap_or_else(|| panic!("{name} has no field {fname}"));
    (words[f.word as usize] >> f.lsb) & f.value_mask()
}

#[test]
fn idr0_matches_qemu() {
    let dev = map();
    // S1P bit 1 (0x2) | TTF=2 at [3:2] (0x8) | COHACC bit 4 (0x10)
    // | ASID16 bit 12 (0x1000) | TTENDIAN=2 at [22:21] (0x40_0000)
    // | STALL_MODEL=1 at [25:24] (0x100_0000) | TERM_MODEL bit 26 (0x400_0000)
    // | ST_LEVEL=1 at [28:27] (0x800_0000) = 0x0D40_101A.
    let v = reg_value(
        &dev,
        "IDR0",
        &[
            ("S1P", V::N(1)),
            ("TTF", V::E("AARCH64")),
            ("COHACC", V::N(1)),
            ("ASID16", V::N(1)),
            ("TTENDIAN", V::E("LE")),
            ("STALL_MODEL", V::E("TERMINATE")),
            ("TERM_MODEL", V::E("ABORT")),
            ("ST_LEVEL", V::E("TWO_LEVEL")),
        ],
    );
    assert_eq!(v, 0x0D40_101A);
    assert_eq!(reg(&dev, "IDR0").reset, v, "IDR0 reset is QEMU's value");
}

#[test]
fn idr1_matches_qemu() {
    let dev = map();
    // SIDSIZE=16 at [5:0] (0x10) | EVENTQS=19 at [20:16] (0x13_0000)
    // | CMDQS=19 at [25:21] (19 << 21 = 0x260_0000) = 0x0273_0010.
    let v = reg_value(
        &dev,
        "IDR1",
        &[
            ("SIDSIZE", V::N(16)),
            ("EVENTQS", V::N(19)),
            ("CMDQS", V::N(19)),
        ],
    );
    assert_eq!(v, 0x0273_0010);
    assert_eq!(reg(&dev, "IDR1").reset, v);
}

#[test]
fn other_qemu_resets() {
    let dev = map();
    // IDR3: HAD bit 2 (0x4) | RIL bit 10 (0x400).
    let idr3 = reg_value(&dev, "IDR3", &[("HAD", V::N(1)), ("RIL", V::N(1))]);
    assert_eq!((idr3, reg(&dev, "IDR3").reset), (0x404, 0x404));
    // IDR5: OAS=4 (44 bits) at [2:0] | GRAN4K bit 4 (0x10) | GRAN64K bit 6 (0x40).
    let idr5 = reg_value(
        &dev,
        "IDR5",
        &[
            ("OAS", V::E("BITS_44")),
            ("GRAN4K", V::N(1)),
            ("GRAN64K", V::N(1)),
        ],
    );
    assert_eq!((idr5, reg(&dev, "IDR5").reset), (0x54, 0x54));
    // GBPA: SHCFG=1 (use incoming) at [13:12] = 0x1000.
    let gbpa = reg_value(&dev, "GBPA", &[("SHCFG", V::E("USE_INCOMING"))]);
    assert_eq!((gbpa, reg(&dev, "GBPA").reset), (0x1000, 0x1000));
    // Queue bases reset with LOG2SIZE = 19 in QEMU.
    for q in ["CMDQ_BASE", "EVENTQ_BASE"] {
        assert_eq!(reg(&dev, q).field("LOG2SIZE").unwrap().reset, 19, "{q}");
    }
    assert_eq!(reg(&dev, "AIDR").reset, 1);
    // QEMU's identification bytes, 0xFD0 upwards in steps of 4.
    let ids = [
        ("PIDR4", 0x04),
        ("PIDR5", 0),
        ("PIDR6", 0),
        ("PIDR7", 0),
        ("PIDR0", 0x84),
        ("PIDR1", 0xB4),
        ("PIDR2", 0xF0),
        ("PIDR3", 0x10),
        ("CIDR0", 0x0D),
        ("CIDR1", 0xF0),
        ("CIDR2", 0x05),
        ("CIDR3", 0xB1),
    ];
    for (i, (name, value)) in ids.iter().enumerate() {
        let r = reg(&dev, name);
        assert_eq!(r.offset, 0xFD0 + 4 * i as u64, "{name} offset");
        assert_eq!(r.reset, *value, "{name} reset");
    }
}

#[test]
fn queue_registers_and_aliases() {
    let dev = map();
    // Page-1 registers are the real ones; page-0 copies alias them.
    for (name, off) in [
        ("EVENTQ_PROD", 0x100A8),
        ("EVENTQ_CONS", 0x100AC),
        ("PRIQ_PROD", 0x100C8),
        ("PRIQ_CONS", 0x100CC),
    ] {
        let r = reg(&dev, name);
        assert_eq!(r.offset, off, "{name}");
        assert!(r.alias.is_none(), "{name} is the primary");
        let p0 = reg(&dev, &format!("{name}_PAGE0"));
        assert_eq!(p0.offset, off - 0x10000);
        assert_eq!(
            p0.alias.as_ref().map(|a| a.target_path.as_str()),
            Some(name)
        );
    }
    // CMDQ_CONS: RD [19:0], ERR [30:24]; CERROR_ABT (2) lands at 0x0200_0000.
    let cons = reg_value(
        &dev,
        "CMDQ_CONS",
        &[("ERR", V::E("CERROR_ABT")), ("RD", V::N(0x8_0001))],
    );
    assert_eq!(cons, 0x0208_0001);
    // EVENTQ_PROD: OVFLG is bit 31, WR the low 20 bits.
    let prod = reg_value(
        &dev,
        "EVENTQ_PROD",
        &[("OVFLG", V::N(1)), ("WR", V::N(0xF_FFFF))],
    );
    assert_eq!(prod, 0x800F_FFFF);
    // Queue base: ADDR [51:5] keeps the address in place, LOG2SIZE [4:0], RA bit 62.
    let base = reg_value(
        &dev,
        "CMDQ_BASE",
        &[
            ("ADDR", V::N(0x8_0000_0000 >> 5)),
            ("LOG2SIZE", V::N(8)),
            ("RA", V::N(1)),
        ],
    );
    assert_eq!(base, 0x4000_0008_0000_0008);
}

#[test]
fn cmd_sync_encodings() {
    let dev = map();
    // MSI-signalled sync as Linux builds it: OPCODE 0x46 | CS=IRQ (1 << 12)
    // | MSH=ISH (3 << 22 = 0xC0_0000) | MSIATTR=0xF (0xF << 24) = 0x0FC0_1046;
    // word 1 carries the address bits [51:2] in place.
    let w = build(
        &dev,
        "CmdSync",
        &[
            ("CS", V::E("IRQ")),
            ("MSH", V::E("ISH")),
            ("MSIATTR", V::E("NORMAL_WB")),
            ("MSIADDR", V::N(0x8000_1000 >> 2)),
        ],
    );
    assert_eq!(w, [0x0FC0_1046, 0x8000_1000]);
    // SEV-signalled sync: 0x46 | 2 << 12 = 0x2046.
    assert_eq!(build(&dev, "CmdSync", &[("CS", V::E("SEV"))]), [0x2046, 0]);
}

#[test]
fn cfgi_encodings() {
    let dev = map();
    // CFGI_STE: opcode 0x03, SID at [63:32], LEAF word 1 bit 0.
    let w = build(
        &dev,
        "CmdCfgiSte",
        &[("SID", V::N(0x1234)), ("LEAF", V::N(1))],
    );
    assert_eq!(w, [0x0000_1234_0000_0003, 1]);
    // CFGI_ALL is CFGI_STE_RANGE (0x04) with RANGE = 31 (0x1F) in word 1.
    assert_eq!(build(&dev, "CmdCfgiAll", &[]), [0x04, 0x1F]);
}

#[test]
fn tlbi_nh_va_encoding() {
    let dev = map();
    // word 0: 0x12 | NUM=3 << 12 (0x3000) | ASID=5 << 48 = 0x0005_0000_0000_3012.
    // word 1: VA 0x7F_1234_5000 in place | TG=4K (1 << 10 = 0x400)
    //         | TTL=3 << 8 (0x300) | LEAF (1) = 0x7F_1234_5701.
    let w = build(
        &dev,
        "CmdTlbiNhVa",
        &[
            ("NUM", V::N(3)),
            ("ASID", V::N(5)),
            ("ADDR", V::N(0x7F_1234_5000 >> 12)),
            ("TG", V::E("GRAN_4K")),
            ("TTL", V::N(3)),
            ("LEAF", V::N(1)),
        ],
    );
    assert_eq!(w, [0x0005_0000_0000_3012, 0x7F_1234_5701]);
}

#[test]
fn ste_encodings() {
    let dev = map();
    // Abort STE: V (bit 0) with CONFIG 0.
    let abort = build(&dev, "STE", &[("V", V::N(1)), ("CONFIG", V::E("ABORT"))]);
    assert_eq!(abort, [1, 0, 0, 0, 0, 0, 0, 0]);
    // Bypass STE as Linux writes it: V | CONFIG=4 << 1 (0x8) = 0x9,
    // SHCFG=1 (incoming) at word 1 [45:44] = 1 << 44.
    let bypass = build(
        &dev,
        "STE",
        &[
            ("V", V::N(1)),
            ("CONFIG", V::E("BYPASS")),
            ("SHCFG", V::E("USE_INCOMING")),
        ],
    );
    assert_eq!(bypass, [0x9, 1 << 44, 0, 0, 0, 0, 0, 0]);
    // Stage-1 STE pointing at a linear CD table at 0x4_0000_1000:
    // word 0 = V | CONFIG=5 << 1 (0xA) | pointer bits [51:6] in place = 0x4_0000_100B;
    // word 1 = S1CIR=WBRA (1 << 2) | S1COR=WBRA (1 << 4) | S1CSH=ISH (3 << 6) = 0xD4.
    let s1 = build(
        &dev,
        "STE",
        &[
            ("V", V::N(1)),
            ("CONFIG", V::E("S1_TRANS")),
            ("S1FMT", V::E("LINEAR")),
            ("S1CONTEXTPTR", V::N(0x4_0000_1000 >> 6)),
            ("S1DSS", V::E("TERMINATE")),
            ("S1CIR", V::E("WBRA")),
            ("S1COR", V::E("WBRA")),
            ("S1CSH", V::E("ISH")),
            ("STRW", V::E("NSEL1")),
        ],
    );
    assert_eq!(s1, [0x4_0000_100B, 0xD4, 0, 0, 0, 0, 0, 0]);
    // The context pointer reaches bit 55 (56-bit physical addresses), and
    // S1CDMAX sits above it at [63:59]: 0x00F0_0000_0000_0040 in place
    // | 10 << 59 (0x5000_0000_0000_0000).
    let wide = build(
        &dev,
        "STE",
        &[
            ("S1CONTEXTPTR", V::N(0x00F0_0000_0000_0040 >> 6)),
            ("S1CDMAX", V::N(10)),
        ],
    );
    assert_eq!(wide[0], 0x50F0_0000_0000_0040);
    // Stage-2 word: VMID 7 | T0SZ 24 << 32 | SL0 1 << 38 | IR0 1 << 40
    // | OR0 1 << 42 | SH0 3 << 44 | PS 4 << 48 | AA64 1 << 51 | PTW 1 << 54
    // | R 1 << 58 = 0x044C_3558_0000_0007; S2TTB bits [51:4] in place.
    let s2 = build(
        &dev,
        "STE",
        &[
            ("S2VMID", V::N(7)),
            ("S2T0SZ", V::N(24)),
            ("S2SL0", V::N(1)),
            ("S2IR0", V::E("WBRA")),
            ("S2OR0", V::E("WBRA")),
            ("S2SH0", V::E("ISH")),
            ("S2TG", V::E("GRAN_4K")),
            ("S2PS", V::E("BITS_44")),
            ("S2AA64", V::N(1)),
            ("S2PTW", V::N(1)),
            ("S2R", V::N(1)),
            ("S2TTB", V::N(0x8_1234_5000 >> 4)),
        ],
    );
    assert_eq!(s2[2], 0x044C_3558_0000_0007);
    assert_eq!(s2[3], 0x8_1234_5000);
}

#[test]
fn event_record_decodes() {
    let dev = map();
    // A stage-1 translation fault as QEMU records it: id 0x10, SID 0x5 in
    // [63:32]; RnW is bit 35 of word 1; input address fills word 2.
    let words = [0x0000_0005_0000_0010, 1 << 35, 0xDEAD_B000, 0];
    let s = "EvtFTranslation";
    assert_eq!(get(&dev, s, &words, "EVENT_ID"), 0x10);
    assert_eq!(get(&dev, s, &words, "SID"), 5);
    assert_eq!(get(&dev, s, &words, "RNW"), 1);
    assert_eq!(get(&dev, s, &words, "S2"), 0);
    assert_eq!(get(&dev, s, &words, "INPUT_ADDR"), 0xDEAD_B000);
    // The constructor's fixed id matches the enum.
    assert_eq!(build(&dev, s, &[])[0], 0x10);
    assert_eq!(build(&dev, "EvtFPermission", &[])[0], 0x13);
}

#[test]
fn windows_are_the_two_64k_pages() {
    use smmuv3_regs::windows::{PAGE0, PAGE1};
    // SMMUv3 architecture: the Non-secure programming interface is page 0
    // at the base and page 1 64 KiB above it (EVENTQ/PRIQ PROD and CONS).
    assert_eq!(
        (PAGE0::OFFSET, PAGE0::SIZE, PAGE0::END),
        (0, 0x1_0000, 0x1_0000)
    );
    assert_eq!(
        (PAGE1::OFFSET, PAGE1::SIZE, PAGE1::END),
        (0x1_0000, 0x1_0000, 0x2_0000)
    );
    // Page 1's registers fall inside page 1.
    let prod = smmuv3_regs::EVENTQ_PROD::OFFSET;
    assert!((PAGE1::OFFSET..PAGE1::END).contains(&prod));
}
