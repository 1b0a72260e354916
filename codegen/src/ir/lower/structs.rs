//! In-memory structures: field constants, fixed words, ancestors.

use super::{Cx, Scope, STRUCT_ITEMS};
use crate::doc;
use crate::ir::*;
use crate::names::{camel, ident};

impl Cx<'_> {
    // ----- structures -----

    pub(super) fn structs(&mut self) -> Vec<Struct> {
        let dev = self.dev;
        let mut scope = Scope::new("module `structs`");
        scope.reserve("Words");
        let mut out = Vec::new();
        for s in &dev.structs {
            self.name(&s.name, "structure", s.span);
            let ty = camel(&s.name);
            let who = format!("structure `{}`", s.name);
            scope.claim(self, &ty, &who, s.span);
            let mut items = Scope::new("a structure's `impl`");
            for item in STRUCT_ITEMS {
                items.reserve(item);
            }
            let mut fields = Vec::new();
            for f in &s.fields {
                self.name(&f.name, "structure field", f.span);
                let name = ident(&f.name);
                items.claim(
                    self,
                    &name,
                    &format!("field `{}.{}`", s.name, f.name),
                    f.span,
                );
                let text = doc::lines(&f.description).join(" ");
                let what = if text.is_empty() {
                    f.name.clone()
                } else {
                    text
                };
                fields.push(StructField {
                    doc: format!(
                        "{} (word {}, bits {}:{}).",
                        what.trim_end_matches('.'),
                        f.word,
                        f.msb,
                        f.lsb
                    ),
                    name,
                    spec: f.name.clone(),
                    word: f.word,
                    lsb: f.lsb,
                    msb: f.msb,
                    value_mask: f.value_mask(),
                    enum_: f
                        .enum_name
                        .as_deref()
                        .and_then(|n| self.enum_at.get(n).copied()),
                });
            }
            let mut fixed = vec![0u64; s.words()];
            let field_at = super::index_by_name(&s.fields, |f| &f.name);
            for (name, v) in &s.fixed {
                if let Some(f) = field_at.get(name.as_str()).map(|&k| &s.fields[k]) {
                    if let Some(w) = fixed.get_mut(f.word as usize) {
                        *w |= (v & f.value_mask()) << f.lsb;
                    }
                }
            }
            let mut ancestors: Vec<String> = Vec::new();
            let mut cur = s.extends.as_deref();
            while let Some(b) = cur {
                if ancestors.iter().any(|a| *a == camel(b)) || ancestors.len() > dev.structs.len() {
                    break;
                }
                ancestors.push(camel(b));
                cur = self
                    .struct_at
                    .get(b)
                    .and_then(|&k| dev.structs[k].extends.as_deref());
            }
            let doc = if s.description.trim().is_empty() {
                vec![s.name.clone()]
            } else {
                doc::lines(&s.description)
            };
            out.push(Struct {
                ty,
                doc,
                size: s.size,
                fields,
                fixed,
                ancestors,
            });
        }
        out
    }
}
