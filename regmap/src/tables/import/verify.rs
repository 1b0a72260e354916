//! Passes 4 and 5: the edited map's diagnostics located back at the table
//! rows, and the loaded result checked against the tables and the base map.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::tables::export::{export, implicit_value_field};
use crate::tables::yaml::LineOrigin;

impl<'a> Importer<'a> {
    pub(super) fn relocate(
        &mut self,
        new_text: &str,
        origins: &[LineOrigin<Origin>],
        items: Vec<Diagnostic>,
    ) {
        let lines: Vec<&str> = new_text.lines().collect();
        for d in items {
            let l = d.span.line as usize;
            match origins.get(l.wrapping_sub(1)) {
                Some(LineOrigin::Original(n)) => {
                    let f = self.map_file.to_string();
                    self.problems.push(
                        &f,
                        Diagnostic {
                            span: Span::new(*n, d.span.col),
                            ..d
                        },
                    );
                }
                Some(LineOrigin::Edit(o)) => {
                    // The YAML key at or before the column names the cell.
                    let text = lines.get(l - 1).copied().unwrap_or("");
                    let upto: String = text.chars().take(d.span.col as usize).collect();
                    let key = o
                        .cells
                        .iter()
                        .filter_map(|(k, _)| upto.rfind(&format!("{k}:")).map(|p| (p, *k)))
                        .max()
                        .map(|(_, k)| k);
                    let span = key.map_or(Span::new(o.line, 1), |k| o.cell(k));
                    let span = if span.line == 0 {
                        Span::new(o.line, 1)
                    } else {
                        span
                    };
                    self.problems.push(&o.file, Diagnostic { span, ..d });
                }
                None => {
                    let f = self.map_file.to_string();
                    self.problems.push(&f, d);
                }
            }
        }
    }

    // ----- pass 5: verify -----

    pub(super) fn verify(&mut self, new: &Device) {
        let mut bad = Vec::new();
        let new_index: HashMap<String, &Register> =
            new.registers.iter().map(|r| (r.path(), r)).collect();
        for w in &self.regs {
            let p = w.path();
            let Some(r) = new_index.get(&p) else {
                bad.push(format!("{p} is missing from the updated map"));
                continue;
            };
            let block_base = {
                let mut level = &new.blocks;
                let mut base = 0u64;
                for name in &w.blocks {
                    if let Some(b) = level.iter().find(|b| &b.name == name) {
                        base += b.offset;
                        level = &b.blocks;
                    }
                }
                base
            };
            let dim = own_dim(new, r).map(|d| (d.count, d.stride));
            if (
                r.offset - block_base,
                r.width,
                r.access,
                r.reset,
                dim,
                &r.description,
            ) != (w.offset, w.width, w.access, w.reset, w.dim, &w.description)
            {
                bad.push(format!("{p}: the updated register differs from the tables"));
            }
            if let Some(want) = &w.fields {
                let same_as_implicit =
                    implicit_value_field(r) && want.len() == 1 && want[0].name == "VALUE";
                if Self::fields_differ(want, &r.fields) && !same_as_implicit {
                    bad.push(format!("{p}: the updated fields differ from the tables"));
                }
            }
        }
        for w in &self.enums {
            match new.enum_by_name(&w.name) {
                None => bad.push(format!("enum {} is missing from the updated map", w.name)),
                Some(e) => {
                    if !same_values(w, e) {
                        bad.push(format!(
                            "enum {}: the updated values differ from the tables",
                            w.name
                        ));
                    }
                }
            }
        }
        for b in &self.blocks {
            let mut level = &new.blocks;
            let mut found = None;
            for name in &b.path {
                found = level.iter().find(|x| &x.name == name);
                match found {
                    Some(x) => level = &x.blocks,
                    None => break,
                }
            }
            match found {
                None => bad.push(format!(
                    "block {} is missing from the updated map",
                    b.path.join(".")
                )),
                Some(x) => {
                    let dim = (x.count > 1).then_some((x.count, x.stride));
                    let want = b.count.map(|c| (c, b.stride.unwrap_or(0)));
                    if (x.offset, dim, &x.description)
                        != (b.offset, want.filter(|d| d.0 > 1), &b.description)
                    {
                        bad.push(format!(
                            "block {}: the updated block differs from the tables",
                            b.path.join(".")
                        ));
                    }
                }
            }
        }
        // What the tables do not name stays as it was.
        let named: HashSet<String> = self.regs.iter().map(WantReg::path).collect();
        let before = export(self.dev);
        let after = export(new);
        let rows = |t: &Tables| -> HashMap<String, String> {
            t.registers
                .iter()
                .map(|r| {
                    (
                        r.path(),
                        format!(
                            "{:?}",
                            (
                                r.offset.value,
                                r.width.value,
                                r.access.value,
                                r.reset.value,
                                r.count.value,
                                r.stride.value,
                                &r.description.value
                            )
                        ),
                    )
                })
                .collect()
        };
        let fields = |t: &Tables, reg: &str| -> Vec<String> {
            t.fields
                .iter()
                .filter(|f| f.register.text() == reg)
                .map(|f| {
                    format!(
                        "{:?}",
                        (
                            &f.name.value,
                            f.msb.value,
                            f.lsb.value,
                            f.access.value,
                            f.reset.value,
                            &f.enum_name.value,
                            &f.description.value
                        )
                    )
                })
                .collect()
        };
        let (rb, ra) = (rows(&before), rows(&after));
        for (p, v) in &rb {
            if named.contains(p) {
                continue;
            }
            if ra.get(p) != Some(v) || fields(&before, p) != fields(&after, p) {
                bad.push(format!("{p} changed although the tables do not name it"));
            }
        }
        let keep = |d: &Device| {
            let structs: Vec<String> = d
                .structs
                .iter()
                .map(|s| {
                    let fields: Vec<_> = s
                        .fields
                        .iter()
                        .map(|f| (&f.name, f.word, f.lsb, f.msb, &f.enum_name, &f.description))
                        .collect();
                    format!(
                        "{} {} {:?} {:?} {:?} {:?}",
                        s.name, s.size, s.extends, s.fixed, s.description, fields
                    )
                })
                .collect();
            (
                structs,
                d.hooks
                    .iter()
                    .map(|h| (h.name.clone(), h.description.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        if keep(self.dev) != keep(new) {
            bad.push("structures or hooks changed".into());
        }
        // Alias declarations: alias blocks, and alias registers outside them
        // (what an alias block expands to follows its target, which may change).
        let aliases = |d: &Device| {
            fn walk(bs: &[crate::model::Block], prefix: &str, out: &mut Vec<String>) {
                for b in bs {
                    let p = if prefix.is_empty() {
                        b.name.clone()
                    } else {
                        format!("{prefix}.{}", b.name)
                    };
                    if let Some(a) = &b.alias {
                        out.push(format!("{p} -> {a} {:?}", b.index_map));
                    }
                    walk(&b.blocks, &p, out);
                }
            }
            let mut out = Vec::new();
            walk(&d.blocks, "", &mut out);
            let under_alias_block = |r: &Register| {
                out.iter().any(|a| {
                    let p = a.split(' ').next().unwrap_or("");
                    r.path().starts_with(&format!("{p}."))
                })
            };
            let regs: Vec<String> = d
                .registers
                .iter()
                .filter(|r| !under_alias_block(r))
                .filter_map(|r| {
                    r.alias
                        .as_ref()
                        .map(|a| format!("{} -> {}", r.path(), a.target_path))
                })
                .collect();
            out.extend(regs);
            out
        };
        if aliases(self.dev) != aliases(new) {
            bad.push("aliases changed".into());
        }
        for b in bad {
            self.internal(&b);
        }
    }
}

/// Whether the tables' values of an enum are the map's (order aside: the
/// order of an enum's values means nothing).
pub(super) fn same_values(w: &WantEnum, e: &Enum) -> bool {
    let mut a: Vec<(&str, u64, &str)> = w
        .values
        .iter()
        .map(|(n, v, d, _)| (n.as_str(), *v, d.as_str()))
        .collect();
    let mut b: Vec<(&str, u64, &str)> = e
        .values
        .iter()
        .map(|x| (x.name.as_str(), x.value, x.description.as_str()))
        .collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}
