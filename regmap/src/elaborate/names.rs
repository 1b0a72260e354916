//! Identifiers, sibling uniqueness and device windows.

use std::collections::HashMap;

use super::*;

impl Cx {
    pub(super) fn ident(&mut self, name: &S<String>, what: &str) {
        let n = &name.value;
        let ok = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.err(
                Kind::BadName,
                span(name),
                format!("{what} `{n}` is not an identifier: expected letters, digits and `_`, starting with a letter"),
            );
        }
    }

    pub(super) fn names_unique<'a>(
        &mut self,
        names: impl Iterator<Item = &'a S<String>>,
        what: &str,
    ) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for n in names {
            if let Some(first) = seen.get(n.value.as_str()) {
                let msg = format!(
                    "duplicate {what} name `{}` (first declared at line {})",
                    n.value, first.line
                );
                self.err(Kind::Duplicate, span(n), msg);
            } else {
                seen.insert(&n.value, span(n));
            }
        }
    }

    // ----- device windows -----

    pub(super) fn windows(&mut self, dev: &S<raw::RawDevice>) -> Vec<Window> {
        let d = &dev.value;
        if d.windows.is_empty() {
            self.err(
                Kind::OutsideWindow,
                span(dev),
                "the device declares no `windows`: expected at least one address window",
            );
        }
        self.names_unique(d.windows.iter().map(|w| &w.value.name), "window");
        let mut out: Vec<(Window, Span)> = Vec::new();
        for w in &d.windows {
            let wv = &w.value;
            self.ident(&wv.name, "window name");
            if wv.size.value == 0 {
                self.err(
                    Kind::OutsideWindow,
                    span(&wv.size),
                    "window size must not be zero",
                );
                continue;
            }
            if wv.offset.value.checked_add(wv.size.value).is_none() {
                self.err(
                    Kind::OutsideWindow,
                    span(&wv.size),
                    "window end overflows 64 bits",
                );
                continue;
            }
            out.push((
                Window {
                    name: wv.name.value.clone(),
                    offset: wv.offset.value,
                    size: wv.size.value,
                    description: wv.description.clone(),
                },
                span(w),
            ));
        }
        let mut sorted: Vec<&(Window, Span)> = out.iter().collect();
        sorted.sort_by_key(|(w, _)| w.offset);
        for pair in sorted.windows(2) {
            let (a, b) = (&pair[0].0, &pair[1].0);
            if b.offset < a.offset + a.size {
                let msg = format!("window `{}` overlaps window `{}`", b.name, a.name);
                self.err(Kind::OutsideWindow, pair[1].1, msg);
            }
        }
        out.into_iter().map(|(w, _)| w).collect()
    }
}
