//! In-memory structures: `extends`, word/bit ranges, overlaps and fixed values.

use std::collections::HashMap;

use super::*;

/// Where a structure is in the resolution of `extends`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not looked at yet.
    Todo,
    /// On the chain being followed now (seeing it again is a cycle).
    OnChain,
    /// Built, `extends` hops below its root.
    Done(usize),
    /// Rejected, or extends a rejected structure.
    Failed,
}

impl Cx {
    /// Resolves every structure. `extends` is followed iteratively (a chain
    /// as long as the map costs no stack) and at most [`MAX_EXTENDS_DEPTH`]
    /// hops deep, so inherited fields, copied into every descendant, stay
    /// linear in the map's size.
    pub(super) fn structs(&mut self, raw: &[S<raw::RawStruct>]) -> Vec<Struct> {
        self.names_unique(raw.iter().map(|s| &s.value.name), "structure");
        for s in raw {
            self.ident(&s.value.name, "structure name");
        }
        let by_name: HashMap<&str, usize> = raw
            .iter()
            .enumerate()
            .map(|(i, s)| (s.value.name.value.as_str(), i))
            .collect();
        let mut done: Vec<Option<Struct>> = vec![None; raw.len()];
        let mut state = vec![State::Todo; raw.len()];
        for i in 0..raw.len() {
            // Follow `extends` from `i` to a built or rejected structure, a
            // root, an unknown name or a cycle.
            let mut chain = Vec::new();
            let mut j = i;
            let below = loop {
                match state[j] {
                    State::Done(depth) => break Some((Some(j), depth + 1)),
                    State::Failed => break None,
                    State::OnChain => {
                        let name = &raw[j].value.name;
                        self.err(
                            Kind::UnknownReference,
                            span(name),
                            format!("structure `{}` extends itself through a cycle", name.value),
                        );
                        break None;
                    }
                    State::Todo => {
                        state[j] = State::OnChain;
                        chain.push(j);
                        let Some(e) = &raw[j].value.extends else {
                            break Some((None, 0));
                        };
                        match by_name.get(e.value.as_str()) {
                            Some(&k) => j = k,
                            None => {
                                self.err(
                                    Kind::UnknownReference,
                                    span(e),
                                    format!("unknown structure `{}` in `extends`", e.value),
                                );
                                break None;
                            }
                        }
                    }
                }
            };
            // Build the chain from its base outwards; once one fails, the
            // rest (which extend it) fail without a diagnostic of their own.
            let mut below = below;
            while let Some(c) = chain.pop() {
                let Some((base, depth)) = below else {
                    state[c] = State::Failed;
                    continue;
                };
                if depth > MAX_EXTENDS_DEPTH {
                    let sv = &raw[c].value;
                    let at = sv.extends.as_ref().map_or(span(&sv.name), span);
                    self.err(
                        Kind::UnknownReference,
                        at,
                        format!(
                            "structure `{}` is {depth} `extends` below its root; at most {MAX_EXTENDS_DEPTH} are supported",
                            sv.name.value
                        ),
                    );
                    state[c] = State::Failed;
                    below = None;
                    continue;
                }
                let built = self.build_struct(&raw[c], base.and_then(|b| done[b].as_ref()));
                match built {
                    Some(st) => {
                        done[c] = Some(st);
                        state[c] = State::Done(depth);
                        below = Some((Some(c), depth + 1));
                    }
                    None => {
                        state[c] = State::Failed;
                        below = None;
                    }
                }
            }
        }
        done.into_iter().flatten().collect()
    }

    /// Builds one structure on top of its resolved base, if it has one.
    fn build_struct(&mut self, raw: &S<raw::RawStruct>, base: Option<&Struct>) -> Option<Struct> {
        let sv = &raw.value;
        let size = match (&sv.size, base) {
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
                return None;
            }
        };
        let words = (size / 8) as u32;
        let mut fields = base.map(|b| b.fields.clone()).unwrap_or_default();
        let inherited = fields.len();
        let names: HashMap<String, Span> =
            fields.iter().map(|f| (f.name.clone(), f.span)).collect();
        for f in &sv.fields {
            let fv = &f.value;
            self.ident(&fv.name, "field name");
            if let Some(first) = names.get(&fv.name.value) {
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
        let mut fixed = base.map(|b| b.fixed.clone()).unwrap_or_default();
        let field_index: HashMap<&str, usize> = fields
            .iter()
            .enumerate()
            .rev()
            .map(|(k, f)| (f.name.as_str(), k))
            .collect();
        for fx in &sv.fixed {
            let fxv = &fx.value;
            let Some(field) = field_index
                .get(fxv.field.value.as_str())
                .map(|&k| &fields[k])
            else {
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
            span: span(raw),
        };
        Some(s)
    }
}
