//! The printer: generated Rust is written as text, already laid out the
//! way rustfmt lays it out (default configuration), so `cargo fmt` leaves
//! the generated files unchanged (`tests/rustfmt.rs` checks every file of
//! every test and shipped map). The emitters only produce a small set of
//! shapes, and for each [`Out`] applies rustfmt's rule:
//!
//! - blocks indented by four spaces, one item or statement per line;
//! - a call's, tuple's or array's items ([`E::List`]) on one line when they
//!   take at most [`LIST_WIDTH`] columns and the line fits in [`MAX_WIDTH`];
//!   otherwise a lone list item is overflowed (`foo(bar(` .. `))`) and
//!   several are written one per line with a trailing comma (none inside
//!   a macro call);
//! - a method chain ([`E::Chain`]) on one line when it takes at most
//!   [`LIST_WIDTH`] columns and fits, otherwise one call per line;
//! - a function signature on one line when it fits, otherwise one
//!   parameter per line, breaking a long return type's generic arguments;
//! - a `match` arm's expression after `=>` when it fits (a call may wrap
//!   there), otherwise inside a block; an item's or `let`'s value after the
//!   `=`, or on the next line when only that fits.
//!
//! Writing text directly (rather than building token streams and
//! formatting them) is also what keeps generation well inside its time
//! budget.

/// Maximum line width (rustfmt's `max_width`).
pub const MAX_WIDTH: usize = 100;
/// Widest argument list or chain kept on one line (rustfmt's
/// `fn_call_width`, `array_width` and `chain_width`).
pub const LIST_WIDTH: usize = 60;

/// An expression or type that may have to wrap.
#[derive(Clone, Debug)]
pub enum E {
    /// Text that never wraps.
    Atom(String),
    /// A delimited list: a call, tuple, array or generic arguments.
    List(List),
    /// A method chain: a root and its links (`.field`, `.call(..)`, `?`).
    Chain(String, Vec<E>),
}

/// A delimited list of items.
#[derive(Clone, Debug)]
pub struct List {
    /// Everything up to and including the opening delimiter (`foo(`, `&[`).
    pub open: String,
    /// The items.
    pub items: Vec<E>,
    /// The closing delimiter and what follows it (`)`, `])?`).
    pub close: String,
    /// What kind of list it is.
    pub kind: Kind,
}

/// What rules a list follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A call, tuple or array: [`LIST_WIDTH`] applies, trailing comma.
    Call,
    /// A macro call: as a call, without a trailing comma.
    Macro,
    /// Generic arguments of a type: only the line width applies.
    Generics,
}

impl E {
    /// Text that never wraps.
    pub fn atom(s: impl Into<String>) -> E {
        E::Atom(s.into())
    }

    /// A call `open items close` (`open` ends with `(` or `[`).
    pub fn call(open: impl Into<String>, items: Vec<E>, close: impl Into<String>) -> E {
        E::List(List {
            open: open.into(),
            items,
            close: close.into(),
            kind: Kind::Call,
        })
    }

    /// A call of atoms.
    pub fn call_atoms(open: impl Into<String>, items: &[String], close: impl Into<String>) -> E {
        E::call(open, items.iter().map(E::atom).collect(), close)
    }

    /// A macro call of atoms.
    pub fn macro_atoms(open: impl Into<String>, items: &[String], close: impl Into<String>) -> E {
        E::List(List {
            open: open.into(),
            items: items.iter().map(E::atom).collect(),
            close: close.into(),
            kind: Kind::Macro,
        })
    }

    /// A type, with its outermost generic arguments breakable
    /// (`Head<A, B>`); anything else is an atom.
    pub fn ty(s: &str) -> E {
        let (Some(lt), true) = (s.find('<'), s.ends_with('>')) else {
            return E::atom(s);
        };
        let inner = &s[lt + 1..s.len() - 1];
        let mut items = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(E::ty(inner[start..i].trim()));
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(E::ty(inner[start..].trim()));
        E::List(List {
            open: s[..=lt].to_string(),
            items,
            close: ">".into(),
            kind: Kind::Generics,
        })
    }

    /// The expression on one line.
    pub fn flat(&self) -> String {
        match self {
            E::Atom(s) => s.clone(),
            E::List(l) => {
                let items: Vec<String> = l.items.iter().map(E::flat).collect();
                format!("{}{}{}", l.open, items.join(", "), l.close)
            }
            E::Chain(root, links) => {
                let mut s = root.clone();
                for l in links {
                    s.push_str(&l.flat());
                }
                s
            }
        }
    }

    /// Whether rustfmt keeps the expression on one line, width allowing:
    /// no list or chain in it is wider than [`LIST_WIDTH`].
    pub fn flat_ok(&self) -> bool {
        match self {
            E::Atom(_) => true,
            E::List(l) => {
                let items: Vec<String> = l.items.iter().map(E::flat).collect();
                let width = items.join(", ").len();
                (l.kind == Kind::Generics || width <= LIST_WIDTH) && l.items.iter().all(E::flat_ok)
            }
            // One link: only the line width applies (rustfmt's chain width
            // counts for chains of two links or more).
            E::Chain(_, links) if links.len() < 2 => links.iter().all(E::flat_ok),
            E::Chain(_, links) => self.flat().len() <= LIST_WIDTH && links.iter().all(E::flat_ok),
        }
    }
}

/// Generated source text and the current indentation.
#[derive(Default)]
pub struct Out {
    text: String,
    indent: usize,
}

impl Out {
    /// An empty file.
    pub fn new() -> Out {
        Out {
            text: String::with_capacity(256 * 1024),
            indent: 0,
        }
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.text
    }

    /// Columns left on a line at the current indentation.
    pub fn room(&self) -> usize {
        MAX_WIDTH.saturating_sub(self.indent * 4)
    }

    /// Whether `s` fits on one line at the current indentation.
    pub fn fits(&self, s: &str) -> bool {
        s.len() <= self.room()
    }

    /// One line at the current indentation.
    pub fn line(&mut self, s: &str) {
        if !s.is_empty() {
            for _ in 0..self.indent {
                self.text.push_str("    ");
            }
            self.text.push_str(s);
        }
        self.text.push('\n');
    }

    /// `head {`, then the block's body is indented.
    pub fn open(&mut self, head: &str) {
        if head.is_empty() {
            self.line("{");
        } else {
            self.line(&format!("{head} {{"));
        }
        self.indent += 1;
    }

    /// Writes `line` (ending in an opening delimiter) and indents.
    pub fn open_raw(&mut self, line: &str) {
        self.line(line);
        self.indent += 1;
    }

    /// Dedents and writes `line` (starting with a closing delimiter).
    pub fn close_raw(&mut self, line: &str) {
        self.indent = self.indent.saturating_sub(1);
        self.line(line);
    }

    /// `} head {`: ends a block and opens the next (`} else {`).
    pub fn close_open(&mut self, head: &str) {
        self.indent = self.indent.saturating_sub(1);
        self.line(&format!("}} {head} {{"));
        self.indent += 1;
    }

    /// Ends a block with `}` followed by `tail` (`;`, `,`, `)` or nothing).
    pub fn close_with(&mut self, tail: &str) {
        self.indent = self.indent.saturating_sub(1);
        self.line(&format!("}}{tail}"));
    }

    /// Ends a block.
    pub fn close(&mut self) {
        self.close_with("");
    }

    /// `///` lines (text already made safe by [`crate::doc`]).
    pub fn doc(&mut self, lines: &[String]) {
        for l in lines {
            self.doc_line(l);
        }
    }

    /// One `///` line.
    pub fn doc_line(&mut self, l: &str) {
        if l.is_empty() {
            self.line("///");
        } else {
            self.line(&format!("/// {l}"));
        }
    }

    /// `prefix e suffix`, wrapped as rustfmt wraps it (see the module docs).
    pub fn expr(&mut self, prefix: &str, e: &E, suffix: &str) {
        let flat = format!("{prefix}{}{suffix}", e.flat());
        if e.flat_ok() && self.fits(&flat) {
            self.line(&flat);
            return;
        }
        match e {
            E::Atom(_) => self.line(&flat),
            E::List(l) => {
                let lone = l.items.len() == 1 && l.kind != Kind::Generics;
                let overflows = match l.items.first() {
                    Some(E::List(inner)) => inner.kind != Kind::Generics && !inner.items.is_empty(),
                    Some(c @ E::Chain(..)) => !c.flat_ok(),
                    _ => false,
                };
                if lone && overflows {
                    let open = format!("{prefix}{}", l.open);
                    let close = format!("{}{suffix}", l.close);
                    self.expr(&open, &l.items[0], &close);
                    return;
                }
                self.line(&format!("{prefix}{}", l.open));
                self.indent += 1;
                if l.open.ends_with('[') && l.items.iter().all(is_short_simple) {
                    // rustfmt's "mixed" layout for arrays of short literals
                    // and names: as many per line as fit.
                    let mut line = String::new();
                    for item in &l.items {
                        let it = format!("{},", item.flat());
                        if !line.is_empty() && !self.fits(&format!("{line} {it}")) {
                            self.line(&line);
                            line.clear();
                        }
                        if !line.is_empty() {
                            line.push(' ');
                        }
                        line.push_str(&it);
                    }
                    self.line(&line);
                    self.indent -= 1;
                    self.line(&format!("{}{suffix}", l.close));
                    return;
                }
                for (i, item) in l.items.iter().enumerate() {
                    let last = i + 1 == l.items.len();
                    let sep = if last && l.kind == Kind::Macro {
                        ""
                    } else {
                        ","
                    };
                    self.expr("", item, sep);
                }
                self.indent -= 1;
                self.line(&format!("{}{suffix}", l.close));
            }
            E::Chain(root, links) => {
                // A root no wider than an indent keeps the first link on its
                // line when the chain starts the line.
                let (first, rest) = match links.split_first() {
                    Some((l, rest)) if root.len() <= 4 && prefix.is_empty() => {
                        (format!("{root}{}", l.flat()), rest)
                    }
                    _ => (root.clone(), &links[..]),
                };
                self.line(&format!("{prefix}{first}"));
                self.indent += 1;
                for (i, l) in rest.iter().enumerate() {
                    let sep = if i + 1 == rest.len() { suffix } else { "" };
                    self.expr("", l, sep);
                }
                self.indent -= 1;
            }
        }
    }

    /// `head(items)tail` for a call or list of atoms (see [`Out::expr`]).
    pub fn list(&mut self, head: &str, items: &[String], tail: &str, macro_call: bool) {
        let e = if macro_call {
            E::macro_atoms(head, items, "")
        } else {
            E::call_atoms(head, items, "")
        };
        let (close, suffix) = split_close(tail);
        let e = match e {
            E::List(mut l) => {
                l.close = close.to_string();
                E::List(l)
            }
            e => e,
        };
        self.expr("", &e, suffix);
    }

    /// A function signature `head(params)ret {`, opening its body: on one
    /// line when it fits, otherwise one parameter per line.
    pub fn sig(&mut self, head: &str, params: &[String], ret: &str) {
        let one = format!("{head}({}){ret} {{", params.join(", "));
        if self.fits(&one) {
            self.line(&one);
        } else {
            self.line(&format!("{head}("));
            self.indent += 1;
            for p in params {
                self.line(&format!("{p},"));
            }
            self.indent -= 1;
            let close = format!("){ret} {{");
            if self.fits(&close) {
                self.line(&close);
            } else if format!("){ret}").len() <= self.room() + 2 || !ret.starts_with(" -> ") {
                // A long return type pushes the brace to its own line
                // (rustfmt lets that line run two columns past the width).
                self.line(&format!("){ret}"));
                self.line("{");
            } else {
                self.expr(") -> ", &E::ty(&ret[4..]), " {");
            }
        }
        self.indent += 1;
    }

    /// A function with an empty body: `head(params)ret {}` on one line when
    /// it fits, otherwise [`Out::sig`]'s layout with the braces on two lines.
    pub fn sig_empty(&mut self, head: &str, params: &[String], ret: &str) {
        let one = format!("{head}({}){ret} {{}}", params.join(", "));
        if self.fits(&one) {
            self.line(&one);
        } else {
            self.sig(head, params, ret);
            self.close();
        }
    }

    /// A `match` arm `pat => expr,`: on one line when it fits; inside a
    /// block when it fits on one line there; otherwise a call or chain
    /// wraps after the arrow (anything else goes in a block anyway).
    pub fn arm(&mut self, pat: &str, e: &E) {
        let head = format!("{pat} => ");
        let flat = format!("{head}{},", e.flat());
        if e.flat_ok() && self.fits(&flat) {
            self.line(&flat);
        } else if (e.flat_ok() && e.flat().len() + 4 <= self.room())
            || matches!(e, E::Atom(_))
            || matches!(e, E::List(l) if l.kind == Kind::Generics)
        {
            self.open(&format!("{pat} =>"));
            self.expr("", e, "");
            self.close();
        } else {
            self.expr(&head, e, ",");
        }
    }

    /// An arm whose expression is plain text.
    pub fn arm_text(&mut self, pat: &str, expr: &str) {
        self.arm(pat, &E::atom(expr));
    }

    /// `head value;` for an item or `let` (`head` ends with `=` or `:`):
    /// the value after `head` when it fits, on the next line when only
    /// that fits, otherwise wrapped after `head`.
    pub fn assign(&mut self, head: &str, value: &E, end: &str) {
        let one = format!("{head} {}{end}", value.flat());
        if value.flat_ok() && self.fits(&one) {
            self.line(&one);
            return;
        }
        let next = format!("{}{end}", value.flat());
        if value.flat_ok() && next.len() + 4 <= self.room() {
            self.line(head);
            self.indent += 1;
            self.line(&next);
            self.indent -= 1;
            return;
        }
        self.expr(&format!("{head} "), value, end);
    }

    /// `head text;` where `text` never wraps.
    pub fn assign_text(&mut self, head: &str, value: &str, end: &str) {
        self.assign(head, &E::atom(value), end);
    }
}

/// Whether rustfmt counts `e` as a short simple array element: a literal
/// or a one-segment name of at most ten characters.
fn is_short_simple(e: &E) -> bool {
    match e {
        E::Atom(s) => {
            s.len() <= 10
                && !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    }
}

/// Splits a list's tail into the closing delimiter and what follows it
/// (`");"` -> `(")", ";")`).
fn split_close(tail: &str) -> (&str, &str) {
    let n = tail
        .char_indices()
        .find(|(_, c)| !matches!(c, ')' | ']' | '}' | '>'))
        .map_or(tail.len(), |(i, _)| i);
    tail.split_at(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_break_past_their_width() {
        let mut o = Out::new();
        o.list("f(", &["a".into(), "b".into()], ");", false);
        let long: Vec<String> = (0..12).map(|i| format!("arg{i}")).collect();
        o.list("g(", &long, ");", false);
        o.list("m!(", &long, ");", true);
        let t = o.finish();
        assert!(t.starts_with("f(a, b);\ng(\n    arg0,\n"), "{t}");
        assert!(t.contains("    arg11,\n);\nm!(\n"), "{t}");
        assert!(t.ends_with("    arg11\n);\n"), "{t}");
    }

    #[test]
    fn a_lone_list_item_overflows() {
        let mut o = Out::new();
        let items: Vec<String> = (0..8).map(|i| format!("argument{i}")).collect();
        let inner = E::call_atoms("g(", &items, ")");
        o.expr("", &E::call("foo(", vec![inner], ")"), ";");
        assert_eq!(o.finish(), "foo(g(\n    argument0,\n    argument1,\n    argument2,\n    argument3,\n    argument4,\n    argument5,\n    argument6,\n    argument7,\n));\n");
    }

    #[test]
    fn signatures_break_one_parameter_per_line() {
        let mut o = Out::new();
        o.sig("pub fn short", &["&self".into()], " -> u32");
        o.close();
        let params: Vec<String> = (0..8).map(|i| format!("parameter{i}: u32")).collect();
        o.sig("pub fn long", &params, " -> u32");
        o.close();
        let t = o.finish();
        assert!(
            t.starts_with("pub fn short(&self) -> u32 {\n}\npub fn long(\n    parameter0: u32,\n")
        );
        assert!(t.ends_with("    parameter7: u32,\n) -> u32 {\n}\n"), "{t}");
    }

    #[test]
    fn chains_break_one_call_per_line() {
        let mut o = Out::new();
        let links = vec![
            E::atom(".a_rather_long_field_name_for_a_register"),
            E::call_atoms(".update(", &["clear".into(), "set".into()], ")"),
        ];
        o.expr("", &E::Chain("self".into(), links), ";");
        assert_eq!(
            o.finish(),
            "self.a_rather_long_field_name_for_a_register\n    .update(clear, set);\n"
        );
    }
}
