//! Enums, widths, bit ranges and register fields with their access kinds and resets.

use std::collections::HashMap;

use super::*;

impl Cx {
    pub(super) fn enum_from_values(
        &mut self,
        name: &str,
        description: &str,
        bits: Option<u32>,
        values: &[S<RawEnumValue>],
        inline: bool,
    ) -> Enum {
        self.names_unique(values.iter().map(|v| &v.value.name), "enum value");
        let mut seen: HashMap<u64, String> = HashMap::new();
        let mut out = Vec::new();
        for v in values {
            let vv = &v.value;
            self.ident(&vv.name, "enum value name");
            if let Some(b) = bits {
                if b < 64 && vv.value.value >> b != 0 {
                    let msg = format!(
                        "value {:#x} of `{}` does not fit the enum's {b} bits",
                        vv.value.value, vv.name.value
                    );
                    self.err(Kind::ValueTooWide, span(&vv.value), msg);
                }
            }
            if let Some(other) = seen.get(&vv.value.value) {
                let msg = format!(
                    "enum `{name}` gives value {:#x} to both `{other}` and `{}`: values must be unique",
                    vv.value.value, vv.name.value
                );
                self.err(Kind::Duplicate, span(&vv.value), msg);
            } else {
                seen.insert(vv.value.value, vv.name.value.clone());
            }
            out.push(EnumValue {
                name: vv.name.value.clone(),
                value: vv.value.value,
                description: vv.description.clone(),
            });
        }
        if values.is_empty() {
            self.err(
                Kind::Syntax,
                Span::default(),
                format!("enum `{name}` has no values"),
            );
        }
        Enum {
            name: name.to_string(),
            description: description.to_string(),
            bits,
            values: out,
            inline,
        }
    }

    pub(super) fn width(&mut self, w: Option<&S<u32>>) -> Width {
        match w {
            None => Width::W32,
            Some(w) if w.value == 32 => Width::W32,
            Some(w) if w.value == 64 => Width::W64,
            Some(w) => {
                self.err(
                    Kind::BadWidth,
                    span(w),
                    format!("width must be 32 or 64, found {}", w.value),
                );
                Width::W32
            }
        }
    }

    /// Parses a bit range and checks it against `limit` bits.
    pub(super) fn bits(&mut self, b: &S<Bits>, limit: u32, what: &str) -> Option<(u32, u32)> {
        let sp = span(b);
        let (msb, lsb) = match &b.value {
            Bits::One(n) => (*n, *n),
            Bits::Text(t) => {
                let parsed = t
                    .split_once(':')
                    .and_then(|(m, l)| Some((parse_num(m.trim())?, parse_num(l.trim())?)));
                match parsed {
                    Some(p) => p,
                    None => {
                        self.err(Kind::BadBits, sp, format!("bit range `{t}` is malformed: expected `msb:lsb` or one bit number"));
                        return None;
                    }
                }
            }
        };
        if msb < lsb {
            self.err(
                Kind::BadBits,
                sp,
                format!("bit range {msb}:{lsb} is reversed: expected `msb:lsb` with msb >= lsb"),
            );
            return None;
        }
        if msb >= u64::from(limit) {
            self.err(
                Kind::BadBits,
                sp,
                format!(
                    "bit {msb} is past the {limit}-bit {what}: expected bits {}:0 at most",
                    limit - 1
                ),
            );
            return None;
        }
        Some((lsb as u32, msb as u32))
    }

    /// Resolves the enum of a field (reference or inline) and checks that
    /// every value fits `value_mask`.
    pub(super) fn field_enum(
        &mut self,
        owner: &str,
        field: &str,
        enum_ref: Option<&S<String>>,
        values: Option<&Vec<S<RawEnumValue>>>,
        value_mask: u64,
        sp: Span,
    ) -> Option<String> {
        let width = 64 - value_mask.leading_zeros();
        let name = match (enum_ref, values) {
            (Some(_), Some(_)) => {
                self.err(
                    Kind::Syntax,
                    sp,
                    format!("field `{field}` has both `enum` and `values`: expected one of them"),
                );
                return None;
            }
            (Some(r), None) => {
                if self.enums.iter().all(|e| e.name != r.value) {
                    self.err(
                        Kind::UnknownReference,
                        span(r),
                        format!("unknown enum `{}`", r.value),
                    );
                    return None;
                }
                r.value.clone()
            }
            (None, Some(vals)) => {
                let name = format!("{owner}_{field}");
                let en = self.enum_from_values(&name, "", None, vals, true);
                if self.enums.iter().any(|e| e.name == name) {
                    self.err(
                        Kind::Duplicate,
                        sp,
                        format!("inline enum name `{name}` clashes with another enum"),
                    );
                    return None;
                }
                self.enums.push(en);
                name
            }
            (None, None) => return None,
        };
        let bad: Vec<(String, u64)> = self
            .enums
            .iter()
            .find(|e| e.name == name)
            .map(|e| {
                e.values
                    .iter()
                    .filter(|v| v.value & !value_mask != 0)
                    .map(|v| (v.name.clone(), v.value))
                    .collect()
            })
            .unwrap_or_default();
        for (vn, v) in bad {
            self.err(
                Kind::ValueTooWide,
                sp,
                format!("enum `{name}` value `{vn}` ({v:#x}) does not fit the {width}-bit field `{field}`"),
            );
        }
        Some(name)
    }

    /// Validates a field list of a register or fieldset.
    pub(super) fn fields(
        &mut self,
        owner: &str,
        raw: &[S<RawField>],
        width: Width,
        reg_access: RegAccess,
    ) -> Vec<Field> {
        self.names_unique(raw.iter().map(|f| &f.value.name), "field");
        let mut out = Vec::new();
        for f in raw {
            let fv = &f.value;
            self.ident(&fv.name, "field name");
            let Some((lsb, msb)) = self.bits(&fv.bits, width.bits(), "register") else {
                continue;
            };
            let access = match &fv.access {
                None => match reg_access {
                    RegAccess::Rw => Access::Rw,
                    RegAccess::Ro => Access::Ro,
                    RegAccess::Wo => Access::Wo,
                },
                Some(a) => match Access::parse(&a.value) {
                    Some(acc) => acc,
                    None => {
                        self.err(
                            Kind::BadAccess,
                            span(a),
                            format!("unknown access `{}`: expected one of rw, ro, wo, w1c, w1s, rc, sc, res0, res1, raz_wi", a.value),
                        );
                        continue;
                    }
                },
            };
            let mut field = Field {
                name: fv.name.value.clone(),
                lsb,
                msb,
                access,
                reset: 0,
                enum_name: None,
                description: fv.description.clone(),
                span: span(f),
            };
            if let Some(a) = &fv.access {
                self.access_bound(&field, reg_access, span(a));
            }
            let vmask = field.value_mask();
            if let Some(r) = &fv.reset {
                if r.value & !vmask != 0 {
                    self.err(
                        Kind::ValueTooWide,
                        span(r),
                        format!(
                            "reset {:#x} does not fit the {}-bit field `{}`",
                            r.value,
                            field.width(),
                            field.name
                        ),
                    );
                } else {
                    match access {
                        Access::Res0 | Access::RazWi | Access::Sc if r.value != 0 => self.err(
                            Kind::BadReset,
                            span(r),
                            format!(
                                "`{}` field `{}` must reset to 0, found {:#x}",
                                access.as_str(),
                                field.name,
                                r.value
                            ),
                        ),
                        Access::Res1 if r.value != vmask => self.err(
                            Kind::BadReset,
                            span(r),
                            format!(
                                "res1 field `{}` must reset to all ones ({vmask:#x}), found {:#x}",
                                field.name, r.value
                            ),
                        ),
                        _ => field.reset = r.value,
                    }
                }
            }
            if access == Access::Res1 {
                field.reset = vmask;
            }
            field.enum_name = self.field_enum(
                owner,
                &field.name,
                fv.enum_ref.as_ref(),
                fv.values.as_ref(),
                vmask,
                span(f),
            );
            out.push(field);
        }
        out.sort_by_key(|f| f.lsb);
        for pair in out.windows(2) {
            if pair[1].lsb <= pair[0].msb {
                let msg = format!(
                    "field `{}` (bits {}:{}) overlaps field `{}` (bits {}:{})",
                    pair[1].name, pair[1].msb, pair[1].lsb, pair[0].name, pair[0].msb, pair[0].lsb
                );
                self.err(Kind::FieldOverlap, pair[1].span, msg);
            }
        }
        out
    }

    /// A field's access must be possible within the register's access.
    pub(super) fn access_bound(&mut self, f: &Field, reg: RegAccess, sp: Span) {
        use Access::*;
        let ok = match reg {
            RegAccess::Rw => true,
            RegAccess::Ro => matches!(f.access, Ro | Rc | Res0 | Res1 | RazWi),
            RegAccess::Wo => matches!(f.access, Wo | Sc | W1s | Res0 | Res1 | RazWi),
        };
        if !ok {
            self.err(
                Kind::BadAccess,
                sp,
                format!(
                    "field `{}` is `{}` but its register is `{}`",
                    f.name,
                    f.access.as_str(),
                    reg.as_str()
                ),
            );
        }
    }
}

pub(super) fn parse_num(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}
