//! Decoding raw values into fields: what an engineer does with a value from
//! a kernel log (`regmap decode smmuv3.yaml CR0 0x5`).

use std::fmt::Write as _;

use crate::model::{Access, Device, Register, Struct};

/// What a decode selector names.
#[derive(Debug)]
pub enum Target<'a> {
    /// A register element.
    Register {
        /// The register.
        reg: &'a Register,
        /// Its indices, one per array dimension.
        indices: Vec<u32>,
        /// Absolute offset of the element.
        offset: u64,
    },
    /// A structure.
    Struct(&'a Struct),
}

/// Parses a number written in decimal or `0x` hex (`_` separators allowed).
pub fn parse_value(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        t.parse().ok()
    }
}

/// Resolves `VINTF[3].SID_MATCH[2]`, `CR0` or `STE`. Omitted indices are 0.
pub fn select<'a>(dev: &'a Device, selector: &str) -> Result<Target<'a>, String> {
    let mut path = Vec::new();
    let mut indices = Vec::new();
    for seg in selector.split('.') {
        let (name, idx) = match seg.split_once('[') {
            None => (seg, None),
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("`{seg}`: expected NAME[INDEX]"))?;
                let i = parse_value(inner)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| format!("`{seg}`: index `{inner}` is not a number"))?;
                (n, Some(i))
            }
        };
        path.push(name);
        indices.push((name, idx));
    }
    let path = path.join(".");
    if let Some(reg) = dev.register(&path) {
        let mut idx = Vec::new();
        for dim in &reg.arrays {
            // Dimension names are block or register names along the path.
            let given = indices
                .iter()
                .find(|(n, _)| *n == dim.name)
                .and_then(|(_, i)| *i)
                .unwrap_or(0);
            if given >= dim.count {
                return Err(format!(
                    "index {given} of `{}` is out of range (0 to {})",
                    dim.name,
                    dim.count - 1
                ));
            }
            idx.push(given);
        }
        for (n, i) in &indices {
            if i.is_some() && !reg.arrays.iter().any(|d| d.name == *n) {
                return Err(format!("`{n}` is not an array"));
            }
        }
        let offset = reg
            .element_offset(&idx)
            .ok_or_else(|| "index out of range".to_string())?;
        return Ok(Target::Register {
            reg,
            indices: idx,
            offset,
        });
    }
    if let Some(s) = dev.struct_by_name(&path) {
        return Ok(Target::Struct(s));
    }
    Err(format!(
        "no register or structure named `{path}` in map `{}`",
        dev.name
    ))
}

fn bits_label(msb: u32, lsb: u32) -> String {
    if msb == lsb {
        format!("{lsb}")
    } else {
        format!("{msb}:{lsb}")
    }
}

fn enum_label(dev: &Device, enum_name: Option<&str>, v: u64) -> String {
    match enum_name.and_then(|e| dev.enum_by_name(e)) {
        None => String::new(),
        Some(e) => match e.values.iter().find(|x| x.value == v) {
            Some(x) => x.name.clone(),
            None => format!("(not a value of {})", e.name),
        },
    }
}

/// Decodes one register value. Reserved bits that are set are flagged.
pub fn decode_register(
    dev: &Device,
    reg: &Register,
    indices: &[u32],
    offset: u64,
    value: u64,
) -> Result<String, String> {
    if value & !reg.width.mask() != 0 {
        return Err(format!(
            "value {value:#x} does not fit the {}-bit register {}",
            reg.width.bits(),
            reg.path()
        ));
    }
    let mut out = String::new();
    let idx = if indices.is_empty() {
        String::new()
    } else {
        format!(" {indices:?}")
    };
    let digits = (reg.width.bits() / 4) as usize;
    let _ = writeln!(
        out,
        "{}{idx} @ {offset:#x} ({}-bit, {}) = {value:#0w$x}",
        reg.path(),
        reg.width.bits(),
        reg.access.as_str(),
        w = digits + 2
    );
    let _ = writeln!(
        out,
        "  {:<7} {:<22} {:<6} {:<18} meaning",
        "bits", "field", "access", "value"
    );
    let mut flags = Vec::new();
    for f in reg.fields.iter().rev() {
        let v = (value >> f.lsb) & f.value_mask();
        let mut meaning = enum_label(dev, f.enum_name.as_deref(), v);
        if matches!(f.access, Access::Res0 | Access::RazWi) && v != 0 {
            meaning = "! reserved (res0) bits set".into();
            flags.push(format!(
                "field {} is {} but reads {v:#x}",
                f.name,
                f.access.as_str()
            ));
        }
        if f.access == Access::Res1 && v != f.value_mask() {
            meaning = "! res1 bits clear".into();
            flags.push(format!("field {} is res1 but reads {v:#x}", f.name));
        }
        let _ = writeln!(
            out,
            "  {:<7} {:<22} {:<6} {:<18} {meaning}",
            bits_label(f.msb, f.lsb),
            f.name,
            f.access.as_str(),
            format!("{v:#x}")
        );
    }
    let reserved = value & reg.unmapped_mask();
    if reserved != 0 {
        flags.push(format!(
            "reserved bits set: {reserved:#x} (bits {})",
            bit_list(reserved)
        ));
    }
    for f in flags {
        let _ = writeln!(out, "  warning: {f}");
    }
    Ok(out)
}

fn bit_list(mut m: u64) -> String {
    let mut v = Vec::new();
    while m != 0 {
        let b = m.trailing_zeros();
        v.push(b.to_string());
        m &= m - 1;
    }
    v.join(", ")
}

/// Finds the most specific structure extending `base` whose fixed values
/// match `words` (a command decoded as `CmdCfgiSte` rather than `Command`).
pub fn refine<'a>(dev: &'a Device, base: &'a Struct, words: &[u64]) -> &'a Struct {
    let extends_base = |s: &Struct| {
        let mut cur = s.extends.as_deref();
        while let Some(n) = cur {
            if n == base.name {
                return true;
            }
            cur = dev.struct_by_name(n).and_then(|p| p.extends.as_deref());
        }
        false
    };
    dev.structs
        .iter()
        .filter(|s| extends_base(s) && !s.fixed.is_empty())
        .find(|s| {
            s.fixed.iter().all(|(name, v)| {
                s.fields.iter().find(|f| &f.name == name).is_some_and(|f| {
                    let w = words.get(f.word as usize).copied().unwrap_or(0);
                    (w >> f.lsb) & f.value_mask() == *v
                })
            })
        })
        .unwrap_or(base)
}

/// Decodes a structure from its words (missing trailing words read as 0).
pub fn decode_struct(dev: &Device, s: &Struct, words: &[u64]) -> Result<String, String> {
    if words.len() > s.words() {
        return Err(format!(
            "{} has {} words, {} given",
            s.name,
            s.words(),
            words.len()
        ));
    }
    let s = refine(dev, s, words);
    let mut out = String::new();
    let _ = writeln!(out, "{} ({} bytes)", s.name, s.size);
    for w in 0..s.words() {
        let value = words.get(w).copied().unwrap_or(0);
        let note = if w >= words.len() {
            " (not given, 0)"
        } else {
            ""
        };
        let _ = writeln!(out, "  word {w} = {value:#018x}{note}");
        let mut covered = 0u64;
        let mut fields: Vec<_> = s.fields.iter().filter(|f| f.word as usize == w).collect();
        fields.sort_by_key(|f| std::cmp::Reverse(f.lsb));
        for f in fields {
            covered |= f.value_mask() << f.lsb;
            let v = (value >> f.lsb) & f.value_mask();
            let meaning = enum_label(dev, f.enum_name.as_deref(), v);
            let _ = writeln!(
                out,
                "    {:<7} {:<22} {:<18} {meaning}",
                bits_label(f.msb, f.lsb),
                f.name,
                format!("{v:#x}")
            );
        }
        let reserved = value & !covered;
        if reserved != 0 {
            let _ = writeln!(
                out,
                "    warning: reserved bits set in word {w}: {reserved:#x} (bits {})",
                bit_list(reserved)
            );
        }
    }
    Ok(out)
}
