//! The CMSIS-SVD output read back by an independent XML parser: every
//! register element of the map (arrays, blocks and aliases expanded) is at
//! the address the SVD gives once its peripherals, clusters and dims are
//! expanded, with the map's size, access, reset value and fields. The
//! schema check and the real consumers (svd2rust, the Python cmsis-svd
//! parser) run in `scripts/svd-consumers`.

use std::collections::BTreeMap;

use regmap::model::{Access, Device, RegAccess};
use roxmltree::{Document, Node};

const MAPS: [(&str, &str); 3] = [
    ("smmuv3.yaml", include_str!("../../smmuv3-regs/smmuv3.yaml")),
    ("cmdqv.yaml", include_str!("../../cmdqv-regs/cmdqv.yaml")),
    ("example.yaml", include_str!("example.yaml")),
];

/// One register element as the SVD describes it.
#[derive(Debug, PartialEq)]
struct Elem {
    name: String,
    size: u32,
    access: String,
    reset: u64,
    fields: Vec<String>,
}

fn num(s: &str) -> u64 {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

fn child<'a>(n: Node<'a, 'a>, tag: &str) -> Option<Node<'a, 'a>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn text<'a>(n: Node<'a, 'a>, tag: &str) -> Option<&'a str> {
    child(n, tag).and_then(|c| c.text())
}

fn field_line(f: Node) -> String {
    let values: Vec<String> = child(f, "enumeratedValues")
        .map(|e| {
            e.children()
                .filter(|v| v.has_tag_name("enumeratedValue"))
                .map(|v| {
                    format!(
                        "{}={}",
                        text(v, "name").unwrap(),
                        num(text(v, "value").unwrap())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{} {} {} {} {} {:?}",
        text(f, "name").unwrap(),
        text(f, "bitRange").unwrap(),
        text(f, "access").unwrap_or("-"),
        text(f, "modifiedWriteValues").unwrap_or("-"),
        text(f, "readAction").unwrap_or("-"),
        values
    )
}

/// Expands `n`'s registers and clusters, element 0 of the container at `base`.
fn expand(n: Node, base: u64, out: &mut BTreeMap<u64, Elem>) {
    for c in n.children().filter(|c| c.is_element()) {
        let dim = text(c, "dim").map_or(1, num);
        let inc = text(c, "dimIncrement").map_or(0, num);
        let off = base + text(c, "addressOffset").map_or(0, num);
        match c.tag_name().name() {
            "cluster" => (0..dim).for_each(|i| expand(c, off + i * inc, out)),
            "register" => {
                let name = text(c, "name")
                    .unwrap()
                    .trim_end_matches("[%s]")
                    .to_string();
                let fields: Vec<String> = child(c, "fields")
                    .map(|fs| {
                        fs.children()
                            .filter(|f| f.has_tag_name("field"))
                            .map(field_line)
                            .collect()
                    })
                    .unwrap_or_default();
                for i in 0..dim {
                    let e = Elem {
                        name: name.clone(),
                        size: num(text(c, "size").unwrap()) as u32,
                        access: text(c, "access").unwrap().to_string(),
                        reset: num(text(c, "resetValue").unwrap()),
                        fields: fields.clone(),
                    };
                    let prev = out.insert(off + i * inc, e);
                    assert!(prev.is_none(), "two SVD registers at {:#x}", off + i * inc);
                }
            }
            _ => {}
        }
    }
}

fn svd_elements(svd: &str) -> BTreeMap<u64, Elem> {
    let doc = Document::parse(svd).expect("well-formed XML");
    let dev = doc.root_element();
    assert_eq!(dev.attribute("schemaVersion"), Some("1.3"));
    let mut out = BTreeMap::new();
    for p in child(dev, "peripherals")
        .unwrap()
        .children()
        .filter(|p| p.has_tag_name("peripheral"))
    {
        let base = num(text(p, "baseAddress").unwrap());
        if let Some(regs) = child(p, "registers") {
            expand(regs, base, &mut out);
        }
    }
    out
}

/// What FORMAT.md says each access kind becomes in SVD:
/// (access, modifiedWriteValues, readAction); `None` for bits left out.
fn svd_access(a: Access) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match a {
        Access::Rw => ("read-write", "-", "-"),
        Access::Ro | Access::Res1 => ("read-only", "-", "-"),
        Access::Wo | Access::Sc => ("write-only", "-", "-"),
        Access::W1c => ("read-write", "oneToClear", "-"),
        Access::W1s => ("read-write", "oneToSet", "-"),
        Access::Rc => ("read-only", "-", "clear"),
        Access::Res0 | Access::RazWi => return None,
    })
}

fn model_elements(dev: &Device, base: u64) -> BTreeMap<u64, Elem> {
    let mut out = BTreeMap::new();
    for r in &dev.registers {
        let declared_none = r.fields.len() == 1
            && r.fields[0].name == "VALUE"
            && r.fields[0].span == r.span
            && r.fieldset.is_none();
        let fields: Vec<String> = r
            .fields
            .iter()
            .filter(|_| !declared_none)
            .filter_map(|f| {
                let (access, mwv, ra) = svd_access(f.access)?;
                let values: Vec<String> = f
                    .enum_name
                    .as_deref()
                    .and_then(|e| dev.enum_by_name(e))
                    .map(|e| {
                        e.values
                            .iter()
                            .map(|v| format!("{}={}", v.name, v.value))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(format!(
                    "{} [{}:{}] {access} {mwv} {ra} {values:?}",
                    f.name, f.msb, f.lsb
                ))
            })
            .collect();
        let access = match r.access {
            RegAccess::Rw => "read-write",
            RegAccess::Ro => "read-only",
            RegAccess::Wo => "write-only",
        };
        regmap::elaborate::for_each_element(r, &mut |off| {
            out.insert(
                base + off,
                Elem {
                    name: r.name.clone(),
                    size: r.width.bits(),
                    access: access.to_string(),
                    reset: r.reset,
                    fields: fields.clone(),
                },
            );
        });
    }
    out
}

#[test]
fn every_register_element_is_where_the_map_puts_it() {
    for (file, text) in MAPS {
        let dev = regmap::load_str(file, text).unwrap();
        for base in [0u64, 0x4_0000_0000] {
            let svd = regmap::svd::to_svd(&dev, base).unwrap();
            let (got, want) = (svd_elements(&svd), model_elements(&dev, base));
            assert_eq!(got.len(), want.len(), "{file}: element count");
            for ((ga, g), (wa, w)) in got.iter().zip(&want) {
                assert_eq!(ga, wa, "{file}: addresses");
                assert_eq!(g, w, "{file} at {ga:#x}");
            }
        }
    }
}

#[test]
fn aliases_and_hooks_are_described_in_words() {
    let dev = regmap::load_str(MAPS[0].0, MAPS[0].1).unwrap();
    let svd = regmap::svd::to_svd(&dev, 0).unwrap();
    assert!(svd.contains("Alias of EVENTQ_PROD: the same register (same storage)."));
    assert!(svd.contains("On write (hook `cr0_write`): CR0 changed"));
    let dev = regmap::load_str(MAPS[1].0, MAPS[1].1).unwrap();
    let svd = regmap::svd::to_svd(&dev, 0).unwrap();
    assert!(svd.contains("Alias of block VCMDQ: each element shows the VCMDQ element that hook `lvcmdq_to_vcmdq` maps it to"));
}

#[test]
fn text_is_escaped() {
    let map = "device: { name: d, description: \"a < b & c > \\\"d\\\"\", windows: [ { name: p, offset: 0, size: 0x1000 } ] }\n";
    let dev = regmap::load_str("d.yaml", map).unwrap();
    let svd = regmap::svd::to_svd(&dev, 0).unwrap();
    let doc = Document::parse(&svd).unwrap();
    assert_eq!(
        text(doc.root_element(), "description"),
        Some("a < b & c > \"d\"")
    );
}
