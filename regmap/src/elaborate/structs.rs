//! In-memory structures: `extends`, word/bit ranges, overlaps and fixed values.

use std::collections::{HashMap, HashSet};

use super::*;

impl Cx {
    pub(super) fn structs(&mut self, raw: &[S<raw::RawStruct>]) -> Vec<Struct> {
        self.names_unique(raw.iter().map(|s| &s.value.name), "structure");
        let by_name: HashMap<&str, usize> = raw
            .iter()
            .enumerate()
            .map(|(i, s)| (s.value.name.value.as_str(), i))
            .collect();
        let mut done: Vec<Option<Struct>> = vec![None; raw.len()];
        let mut failed: HashSet<usize> = HashSet::new();
        for i in 0..raw.len() {
            let mut stack = Vec::new();
            self.struct_at(i, raw, &by_name, &mut done, &mut failed, &mut stack);
        }
        done.into_iter().flatten().collect()
    }

    pub(super) fn struct_at(
        &mut self,
        i: usize,
        raw: &[S<raw::RawStruct>],
        by_name: &HashMap<&str, usize>,
        done: &mut Vec<Option<Struct>>,
        failed: &mut HashSet<usize>,
        stack: &mut Vec<usize>,
    ) -> Option<Struct> {
        if let Some(s) = &done[i] {
            return Some(s.clone());
        }
        if failed.contains(&i) {
            return None;
        }
        let sv = &raw[i].value;
        if stack.contains(&i) {
            self.err(
                Kind::UnknownReference,
                span(&sv.name),
                format!(
                    "structure `{}` extends itself through a cycle",
                    sv.name.value
                ),
            );
            failed.insert(i);
            return None;
        }
        stack.push(i);
        self.ident(&sv.name, "structure name");
        let base = match &sv.extends {
            None => None,
            Some(e) => match by_name.get(e.value.as_str()) {
                None => {
                    self.err(
                        Kind::UnknownReference,
                        span(e),
                        format!("unknown structure `{}` in `extends`", e.value),
                    );
                    failed.insert(i);
                    stack.pop();
                    return None;
                }
                Some(&j) => match self.struct_at(j, raw, by_name, done, failed, stack) {
                    Some(b) => Some(b),
                    None => {
                        failed.insert(i);
                        stack.pop();
                        return None;
                    }
                },
            },
        };
        stack.pop();
        let size = match (&sv.size, &base) {
            (Some(s), Some(b)) if s.value != b.size => {
                self.err(
                    Kind::BadWidth,
                    span(s),
                    format!(
                        "size {} differs from the extended structure's {}",
                        s.value, b.size
                    ),
                );
                b.size
            }
            (Some(s), _) => {
                if s.value == 0 || s.value % 8 != 0 || s.value > MAX_STRUCT_SIZE {
                    self.err(Kind::BadWidth, span(s), format!("structure size must be a non-zero multiple of 8 bytes up to {MAX_STRUCT_SIZE}, found {}", s.value));
                    failed.insert(i);
                    return None;
                }
                s.value
            }
            (None, Some(b)) => b.size,
            (None, None) => {
                self.err(
                    Kind::Syntax,
                    span(&sv.name),
                    format!(
                        "structure `{}` needs a `size` (bytes) or `extends`",
                        sv.name.value
                    ),
                );
                failed.insert(i);
                return None;
            }
        };
        let words = (size / 8) as u32;
        let mut fields = base.as_ref().map(|b| b.fields.clone()).unwrap_or_default();
        let inherited = fields.len();
        let names = fields
            .iter()
            .map(|f| (f.name.clone(), f.span))
            .collect::<Vec<_>>();
        for f in &sv.fields {
            let fv = &f.value;
            self.ident(&fv.name, "field name");
            if let Some((_, first)) = names.iter().find(|(n, _)| *n == fv.name.value) {
                self.err(
                    Kind::Duplicate,
                    span(&fv.name),
                    format!(
                        "duplicate field name `{}` (inherited, declared at line {})",
                        fv.name.value, first.line
                    ),
                );
                continue;
            }
            if fv.word.value >= words {
                self.err(
                    Kind::BadBits,
                    span(&fv.word),
                    format!(
                        "word {} is past the {size}-byte structure (words 0 to {})",
                        fv.word.value,
                        words - 1
                    ),
                );
                continue;
            }
            let Some((lsb, msb)) = self.bits(&fv.bits, 64, "word") else {
                continue;
            };
            let mut field = StructField {
                name: fv.name.value.clone(),
                word: fv.word.value,
                lsb,
                msb,
                enum_name: None,
                description: fv.description.clone(),
                span: span(f),
            };
            let owner = sv.name.value.clone();
            field.enum_name = self.field_enum(
                &owner,
                &field.name,
                fv.enum_ref.as_ref(),
                fv.values.as_ref(),
                field.value_mask(),
                span(f),
            );
            fields.push(field);
        }
        self.names_unique(sv.fields.iter().map(|f| &f.value.name), "field");
        let mut order: Vec<usize> = (0..fields.len()).collect();
        order.sort_by_key(|&k| (fields[k].word, fields[k].lsb));
        for w in order.windows(2) {
            let (a, b) = (&fields[w[0]], &fields[w[1]]);
            if a.word == b.word && b.lsb <= a.msb {
                let (later, earlier) = if w[1] >= inherited || w[0] < inherited {
                    (b, a)
                } else {
                    (a, b)
                };
                self.err(
                    Kind::FieldOverlap,
                    later.span,
                    format!(
                        "field `{}` (word {}, bits {}:{}) overlaps field `{}` (bits {}:{})",
                        later.name,
                        later.word,
                        later.msb,
                        later.lsb,
                        earlier.name,
                        earlier.msb,
                        earlier.lsb
                    ),
                );
            }
        }
        let mut fixed = base.as_ref().map(|b| b.fixed.clone()).unwrap_or_default();
        for fx in &sv.fixed {
            let fxv = &fx.value;
            let Some(field) = fields.iter().find(|f| f.name == fxv.field.value) else {
                self.err(
                    Kind::UnknownReference,
                    span(&fxv.field),
                    format!("`fixed` names unknown field `{}`", fxv.field.value),
                );
                continue;
            };
            let value = match &fxv.value.value {
                NumOrName::Num(n) => *n,
                NumOrName::Name(n) => {
                    let found = field
                        .enum_name
                        .as_ref()
                        .and_then(|e| self.enums.iter().find(|x| &x.name == e))
                        .and_then(|e| e.values.iter().find(|v| &v.name == n))
                        .map(|v| v.value);
                    match found {
                        Some(v) => v,
                        None => {
                            self.err(
                                Kind::UnknownReference,
                                span(&fxv.value),
                                format!("`{n}` is not a value of field `{}`'s enum", field.name),
                            );
                            continue;
                        }
                    }
                }
            };
            if value & !field.value_mask() != 0 {
                self.err(
                    Kind::ValueTooWide,
                    span(&fxv.value),
                    format!(
                        "fixed value {value:#x} does not fit the {}-bit field `{}`",
                        field.width(),
                        field.name
                    ),
                );
                continue;
            }
            fixed.retain(|(n, _)| n != &field.name);
            fixed.push((field.name.clone(), value));
        }
        let s = Struct {
            name: sv.name.value.clone(),
            description: sv.description.clone(),
            size,
            extends: sv.extends.as_ref().map(|e| e.value.clone()),
            fields,
            fixed,
            span: span(&raw[i]),
        };
        done[i] = Some(s.clone());
        Some(s)
    }
}
