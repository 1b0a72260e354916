//! Decoding raw values into fields: what an engineer does with a value from
//! a kernel log (`regmap decode smmuv3.yaml CR0 0x5`).

use std::fmt::Write as _;

use crate::model::{Access, ArrayDim, Device, Register, Struct};

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

/// One `.`-separated segment of a selector: `SID_MATCH[3]`.
struct Segment<'s> {
    name: &'s str,
    index: Option<u32>,
}

fn parse_selector(selector: &str) -> Result<Vec<Segment<'_>>, String> {
    selector
        .split('.')
        .map(|seg| {
            let (name, index) = match seg.split_once('[') {
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
            if name.is_empty() {
                return Err(format!(
                    "`{selector}`: empty name in the path (expected NAME or BLOCK.NAME)"
                ));
            }
            Ok(Segment { name, index })
        })
        .collect()
}

/// Resolves a selector: `CR0`, `VINTF[3].SID_MATCH[2]` (a register, with
/// the index of every array on its path, none optional) or `STE` (a
/// structure). Names match ignoring ASCII case when no name matches
/// exactly; an unknown name is reported with the closest names.
pub fn select<'a>(dev: &'a Device, selector: &str) -> Result<Target<'a>, String> {
    let segs = parse_selector(selector)?;
    let path = segs.iter().map(|s| s.name).collect::<Vec<_>>().join(".");
    // An exact match wins, so two names that differ only in case stay
    // reachable; otherwise a unique case-insensitive match is taken.
    let found = match (dev.register(&path), dev.struct_by_name(&path)) {
        (Some(r), _) => Found::Register(r),
        (None, Some(s)) => Found::Struct(s),
        (None, None) => {
            let mut hits: Vec<Found> = dev
                .registers
                .iter()
                .filter(|r| r.path().eq_ignore_ascii_case(&path))
                .map(Found::Register)
                .chain(
                    dev.structs
                        .iter()
                        .filter(|s| s.name.eq_ignore_ascii_case(&path))
                        .map(Found::Struct),
                )
                .collect();
            match hits.len() {
                0 => return Err(not_found(dev, &path)),
                1 => hits.remove(0),
                _ => {
                    let names: Vec<String> =
                        hits.iter().map(|h| format!("`{}`", h.name())).collect();
                    return Err(format!(
                        "`{path}` matches {} (they differ only in case): write the name exactly",
                        names.join(" and ")
                    ));
                }
            }
        }
    };
    match found {
        Found::Struct(s) => match segs.iter().find_map(|g| g.index) {
            Some(i) => Err(format!(
                "`{}` is a structure, not an array: write it without `[{i}]`",
                s.name
            )),
            None => Ok(Target::Struct(s)),
        },
        Found::Register(reg) => {
            let indices = register_indices(reg, &segs)?;
            let offset = reg
                .element_offset(&indices)
                .ok_or_else(|| format!("{}: index out of range", reg.path()))?;
            Ok(Target::Register {
                reg,
                indices,
                offset,
            })
        }
    }
}

/// A name a selector resolved to, before its indices are checked.
enum Found<'a> {
    Register(&'a Register),
    Struct(&'a Struct),
}

impl Found<'_> {
    fn name(&self) -> String {
        match self {
            Found::Register(r) => r.path(),
            Found::Struct(s) => s.name.clone(),
        }
    }
}

fn not_found(dev: &Device, path: &str) -> String {
    let paths: Vec<String> = dev.registers.iter().map(Register::path).collect();
    let names = paths
        .iter()
        .map(String::as_str)
        .chain(dev.structs.iter().map(|s| s.name.as_str()));
    let hint = crate::suggest::did_you_mean(&crate::suggest::closest(path, names, 3));
    format!(
        "no register or structure named `{path}` in map `{}`{hint}",
        dev.name
    )
}

/// The indices a selector gives `reg`, one per array dimension, outermost
/// first. `segs` has one segment per block of the register's path and one
/// for the register itself.
fn register_indices(reg: &Register, segs: &[Segment]) -> Result<Vec<u32>, String> {
    let names: Vec<&str> = reg
        .blocks
        .iter()
        .map(String::as_str)
        .chain([reg.name.as_str()])
        .collect();
    // Each dimension is named after the block or register it belongs to;
    // they come in path order (the convention codegen's lowering relies on
    // too), so each one is the next segment of that name.
    let mut dim_at: Vec<Option<&ArrayDim>> = vec![None; names.len()];
    let mut from = 0;
    for dim in &reg.arrays {
        let pos = names[from..]
            .iter()
            .position(|n| *n == dim.name)
            .map(|p| from + p)
            .ok_or_else(|| {
                format!(
                    "{}: array `{}` is not on the register's path",
                    reg.path(),
                    dim.name
                )
            })?;
        dim_at[pos] = Some(dim);
        from = pos + 1;
    }
    let mut indices = Vec::new();
    let mut missing = Vec::new();
    for ((seg, name), dim) in segs.iter().zip(&names).zip(&dim_at) {
        match (dim, seg.index) {
            (None, Some(i)) => {
                return Err(format!(
                    "`{name}` is not an array: write it without `[{i}]`"
                ))
            }
            (None, None) => {}
            (Some(d), Some(i)) if i >= d.count => {
                return Err(format!(
                    "index {i} of `{name}` is out of range (0 to {})",
                    d.count.saturating_sub(1)
                ));
            }
            (Some(_), Some(i)) => indices.push(i),
            (Some(d), None) => {
                missing.push(format!(
                    "`{name}` (an array of {}: 0 to {})",
                    d.count,
                    d.count.saturating_sub(1)
                ));
                indices.push(0);
            }
        }
    }
    if !missing.is_empty() {
        // Show the selector as it must be written, with the indices given
        // kept and `[0]` where one is missing.
        let example: Vec<String> = segs
            .iter()
            .zip(&names)
            .zip(&dim_at)
            .map(|((seg, name), dim)| match (dim, seg.index) {
                (None, _) => (*name).to_string(),
                (Some(_), i) => format!("{name}[{}]", i.unwrap_or(0)),
            })
            .collect();
        return Err(format!(
            "`{}` is an array: missing the index of {}; write e.g. `{}`",
            reg.path(),
            missing.join(" and of "),
            example.join(".")
        ));
    }
    Ok(indices)
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
