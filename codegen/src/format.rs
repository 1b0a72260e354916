//! Pass 3 (format): prints generated token streams as readable Rust.
//!
//! prettyplease formats any Rust, but it first has to parse the tokens into
//! a syntax tree, and for the ~40,000 lines both maps produce that parse
//! alone costs several times the generator's 50 ms budget. The generator
//! only ever emits a small, regular subset of Rust (items, attributes,
//! `match`es, short expressions), so this pass prints the token stream
//! directly, in one walk, with a handful of layout rules:
//!
//! - items and statements one per line, brace blocks indented by four;
//! - `#[doc = ".."]` attributes as `///` comments, `#![doc]` as `//!`;
//! - `,` ends a line inside braces (fields, variants, match arms), and
//!   parenthesised or bracketed lists that would run past [`WIDTH`] columns
//!   are broken one element per line;
//! - spaces around binary operators, none after unary ones or inside paths
//!   and generics.
//!
//! Spacing never changes how the text lexes: the tests compare, for every
//! generated file, prettyplease's rendering of this output with
//! prettyplease's rendering of the original tokens. [`crate::format_pretty`]
//! keeps the prettyplease path for anyone who wants it.

use std::fmt::Write;

use proc_macro2::{Delimiter, Group, Ident, Literal, Spacing, TokenStream, TokenTree};

/// Lists longer than this many columns are broken one element per line.
pub const WIDTH: usize = 100;

/// Formats `tokens` as a Rust source file.
pub fn format_tokens(tokens: TokenStream) -> String {
    let toks: Vec<TokenTree> = tokens.into_iter().collect();
    let mut p = Printer {
        line_start: true,
        ..Printer::default()
    };
    p.block_body(&atoms(&toks));
    p.new_line();
    p.out
}

/// A token, or a run of tokens the printer treats as one unit.
enum Atom<'a> {
    /// An identifier or keyword.
    Word(&'a Ident),
    /// A literal, printed as written.
    Lit(&'a Literal),
    /// A lifetime (`'a`, `'static`).
    Lifetime(&'a Ident),
    /// An operator: one or more joint punctuation characters (`::`, `=>`).
    Op(Op),
    /// A delimited group.
    Group(&'a Group),
    /// `#[..]` (outer) or `#![..]` (inner).
    Attr { inner: bool, body: &'a Group },
}

/// An operator's characters, without allocating (the printer sees
/// hundreds of thousands).
#[derive(Clone, Copy)]
struct Op {
    buf: [u8; 8],
    len: usize,
}

impl Op {
    fn new(c: char) -> Op {
        let mut op = Op {
            buf: [0; 8],
            len: 0,
        };
        op.push(c);
        op
    }

    /// Appends `c`; false when full or not ASCII (the caller starts a new
    /// operator, which only costs a space).
    fn push(&mut self, c: char) -> bool {
        if self.len == self.buf.len() || !c.is_ascii() {
            return false;
        }
        self.buf[self.len] = c as u8;
        self.len += 1;
        true
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// Groups punctuation into operators and recognises attributes and lifetimes.
fn atoms(toks: &[TokenTree]) -> Vec<Atom<'_>> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            TokenTree::Ident(id) => out.push(Atom::Word(id)),
            TokenTree::Literal(l) => out.push(Atom::Lit(l)),
            TokenTree::Group(g) => out.push(Atom::Group(g)),
            TokenTree::Punct(p) if p.as_char() == '#' => {
                let bang =
                    matches!(toks.get(i + 1), Some(TokenTree::Punct(q)) if q.as_char() == '!');
                let at = i + 1 + usize::from(bang);
                if let Some(TokenTree::Group(g)) = toks.get(at) {
                    if g.delimiter() == Delimiter::Bracket {
                        out.push(Atom::Attr {
                            inner: bang,
                            body: g,
                        });
                        i = at + 1;
                        continue;
                    }
                }
                out.push(Atom::Op(Op::new('#')));
            }
            TokenTree::Punct(p) if p.as_char() == '\'' && p.spacing() == Spacing::Joint => {
                if let Some(TokenTree::Ident(id)) = toks.get(i + 1) {
                    out.push(Atom::Lifetime(id));
                    i += 2;
                    continue;
                }
                out.push(Atom::Op(Op::new('\'')));
            }
            TokenTree::Punct(p) => {
                let mut op = Op::new(p.as_char());
                let mut spacing = p.spacing();
                while spacing == Spacing::Joint {
                    match toks.get(i + 1) {
                        Some(TokenTree::Punct(q))
                            if q.as_char() != '\'' && op.push(q.as_char()) =>
                        {
                            spacing = q.spacing();
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(Atom::Op(op));
            }
        }
        i += 1;
    }
    out
}

/// What the previous atom on the line was, for spacing decisions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of a line or just after an opening delimiter: no space.
    Open,
    /// Ends an operand (identifier, literal, closing delimiter, `?`).
    Value,
    /// A keyword that takes an expression after it (`if`, `return`, ...).
    Keyword,
    /// A binary operator or `,` / `;` / `:` (a space follows).
    Spaced,
    /// A prefix or path operator (`&`, `!`, `::`, `.`, `<` of generics).
    Tight,
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
    /// Nothing printed on the current line yet.
    line_start: bool,
    prev: Option<Prev>,
    /// Open `<` of generics not yet closed.
    generics: usize,
    /// The previous atom, when it was a word.
    last_word: Word,
    /// The word before that was `fn` (`fn name<T>`).
    after_fn: bool,
    /// Inside the `|..|` parameters of a closure.
    closure_params: bool,
}

const EXPR_KEYWORDS: &[&str] = &[
    "if", "while", "match", "in", "return", "for", "let", "mut", "as", "where", "impl", "move",
    "else", "unsafe", "dyn", "ref", "const", "static", "pub", "use", "mod", "struct", "enum",
    "type", "trait", "fn", "break", "loop",
];

/// What kind of word the previous atom was, for the few decisions that
/// depend on it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Word {
    /// The previous atom was not a word.
    #[default]
    None,
    Impl,
    Fn,
    Pub,
    /// Another keyword that takes an expression or type after it.
    Keyword,
    /// Capitalised and mixed case (`Field`, `Option`): a `<` after it opens
    /// generics.
    TypeName,
    /// Any other identifier.
    Other,
}

impl Word {
    fn of(w: &str) -> Word {
        match w {
            "impl" => Word::Impl,
            "fn" => Word::Fn,
            "pub" => Word::Pub,
            _ if EXPR_KEYWORDS.contains(&w) => Word::Keyword,
            _ if w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.bytes().any(|c| c.is_ascii_lowercase()) =>
            {
                Word::TypeName
            }
            _ => Word::Other,
        }
    }

    fn is_keyword(self) -> bool {
        matches!(self, Word::Impl | Word::Fn | Word::Pub | Word::Keyword)
    }
}

impl Printer {
    /// Ends the current line, if anything is on it.
    fn new_line(&mut self) {
        if !self.line_start {
            self.out.push('\n');
            self.line_start = true;
        }
        self.prev = None;
    }

    /// Starts text on the current line, with the indentation or the
    /// separating space `space` asks for.
    fn put(&mut self, text: &str, space: bool) {
        if self.line_start {
            for _ in 0..self.indent {
                self.out.push_str("    ");
            }
            self.line_start = false;
        } else if space {
            self.out.push(' ');
        }
        self.out.push_str(text);
    }

    /// Whether an operand starting here needs a space before it.
    fn space_before_operand(&self) -> bool {
        matches!(
            self.prev,
            Some(Prev::Value) | Some(Prev::Keyword) | Some(Prev::Spaced)
        )
    }

    /// Items and statements: the top level and the inside of `{}`.
    fn block_body(&mut self, atoms: &[Atom<'_>]) {
        self.new_line();
        for (i, a) in atoms.iter().enumerate() {
            let next = atoms.get(i + 1);
            match a {
                Atom::Op(op) if op.as_str() == ";" => {
                    self.put(";", false);
                    self.generics = 0;
                    self.new_line();
                }
                Atom::Op(op) if op.as_str() == "," && self.generics == 0 => {
                    self.put(",", false);
                    self.new_line();
                }
                Atom::Attr { inner, body } => {
                    self.new_line();
                    self.attr(*inner, body);
                    self.new_line();
                }
                Atom::Group(g) if g.delimiter() == Delimiter::Brace => {
                    self.generics = 0;
                    self.brace(g);
                    // A block ends its line unless the expression goes on.
                    let goes_on = match next {
                        Some(Atom::Op(op)) => matches!(op.as_str(), "," | ";" | "." | "?"),
                        Some(Atom::Word(w)) => *w == "else",
                        _ => false,
                    };
                    if !goes_on {
                        self.new_line();
                    }
                }
                _ => self.inline_atom(a, next),
            }
        }
    }

    /// A `{}` group: `{}` when empty, an indented block otherwise; inline
    /// `{a, b}` in `use` paths.
    fn brace(&mut self, g: &Group) {
        let toks: Vec<TokenTree> = g.stream().into_iter().collect();
        if self.prev == Some(Prev::Tight) {
            // `use a::{b, c}`
            self.put("{", false);
            self.prev = Some(Prev::Open);
            self.list(&atoms(&toks), "}");
            return;
        }
        let space = self.prev.is_some();
        if toks.is_empty() {
            self.put("{}", space);
            self.prev = Some(Prev::Value);
            return;
        }
        self.put("{", space);
        self.indent += 1;
        self.block_body(&atoms(&toks));
        self.indent -= 1;
        self.new_line();
        self.put("}", false);
        self.prev = Some(Prev::Value);
    }

    fn attr(&mut self, inner: bool, body: &Group) {
        let toks: Vec<TokenTree> = body.stream().into_iter().collect();
        if let [TokenTree::Ident(id), TokenTree::Punct(eq), TokenTree::Literal(lit)] =
            toks.as_slice()
        {
            if id == "doc" && eq.as_char() == '=' {
                if let Some(text) = string_value(&lit.to_string()) {
                    let marker = if inner { "//!" } else { "///" };
                    for line in text.split('\n') {
                        self.new_line();
                        self.put(marker, false);
                        self.out.push_str(line.trim_end());
                    }
                    return;
                }
            }
        }
        self.put(if inner { "#![" } else { "#[" }, self.prev.is_some());
        self.prev = Some(Prev::Open);
        self.list(&atoms(&toks), "]");
    }

    /// The inside of `()` or `[]` (or a `use` brace), then `close`: on one
    /// line when it fits, otherwise one element per line.
    fn list(&mut self, items: &[Atom<'_>], close: &str) {
        let start = self.out.len();
        let col = start - self.out.rfind('\n').map_or(0, |n| n + 1);
        let saved = (self.prev, self.generics, self.closure_params);
        // Try it flat, in place; undo and break it if it does not fit.
        self.line(items);
        let flat = &self.out[start..];
        let has_comma = items
            .iter()
            .any(|a| matches!(a, Atom::Op(o) if o.as_str() == ","));
        if flat.contains('\n') || (col + flat.len() >= WIDTH && has_comma) {
            self.out.truncate(start);
            (self.prev, self.generics, self.closure_params) = saved;
            self.line_start = false;
            self.indent += 1;
            self.new_line();
            for (i, a) in items.iter().enumerate() {
                if matches!(a, Atom::Op(o) if o.as_str() == ",") {
                    self.put(",", false);
                    self.new_line();
                } else {
                    self.inline_atom(a, items.get(i + 1));
                }
            }
            self.indent -= 1;
            self.new_line();
        }
        self.put(close, false);
        self.prev = Some(Prev::Value);
    }

    /// A run of atoms on one line (a list's flat rendering).
    fn line(&mut self, atoms: &[Atom<'_>]) {
        for (i, a) in atoms.iter().enumerate() {
            self.inline_atom(a, atoms.get(i + 1));
        }
    }

    /// One atom inside an expression, type or path.
    fn inline_atom(&mut self, a: &Atom<'_>, next: Option<&Atom<'_>>) {
        match a {
            Atom::Word(w) => {
                let space = self.space_before_operand();
                self.put("", space);
                let start = self.out.len();
                let _ = write!(self.out, "{w}");
                let word = Word::of(&self.out[start..]);
                self.after_fn = self.last_word == Word::Fn;
                self.last_word = word;
                self.prev = Some(if word.is_keyword() {
                    Prev::Keyword
                } else {
                    Prev::Value
                });
                return;
            }
            Atom::Lit(l) => {
                let space = self.space_before_operand();
                self.put("", space);
                let _ = write!(self.out, "{l}");
                self.prev = Some(Prev::Value);
            }
            Atom::Lifetime(l) => {
                let space = self.space_before_operand();
                self.put("'", space);
                let _ = write!(self.out, "{l}");
                self.prev = Some(Prev::Value);
            }
            Atom::Attr { inner, body } => self.attr(*inner, body),
            Atom::Group(g) => self.group(g),
            Atom::Op(op) => self.op(op.as_str(), next),
        }
        self.last_word = Word::None;
    }

    fn group(&mut self, g: &Group) {
        let toks: Vec<TokenTree> = g.stream().into_iter().collect();
        match g.delimiter() {
            Delimiter::Brace => self.brace(g),
            Delimiter::Parenthesis | Delimiter::Bracket => {
                // Calls and indexing hug the callee; everything else is spaced.
                let hug = self.prev == Some(Prev::Value)
                    || self.prev == Some(Prev::Tight)
                    || self.last_word == Word::Pub;
                let space = !hug && self.prev.is_some() && self.prev != Some(Prev::Open);
                let (open, close) = if g.delimiter() == Delimiter::Parenthesis {
                    ("(", ")")
                } else {
                    ("[", "]")
                };
                self.put(open, space);
                self.prev = Some(Prev::Open);
                let saved = std::mem::take(&mut self.generics);
                self.list(&atoms(&toks), close);
                self.generics = saved;
            }
            Delimiter::None => self.line(&atoms(&toks)),
        }
    }

    fn op(&mut self, op: &str, next: Option<&Atom<'_>>) {
        let prev = self.prev;
        let operand_before = matches!(prev, Some(Prev::Value));
        match op {
            "," | ";" => {
                self.put(op, false);
                self.prev = Some(Prev::Spaced);
            }
            ":" => {
                self.put(op, false);
                self.prev = Some(Prev::Spaced);
            }
            "." | ".." | "..=" => {
                self.put(op, false);
                self.prev = Some(Prev::Tight);
            }
            "?" => {
                // `x?` hugs its operand; `?Sized` is a bound.
                self.put(op, prev == Some(Prev::Spaced));
                self.prev = Some(if operand_before {
                    Prev::Value
                } else {
                    Prev::Tight
                });
            }
            "|" if self.closure_params => {
                self.put(op, false);
                self.closure_params = false;
                self.prev = Some(Prev::Spaced);
            }
            "|" | "||" if !operand_before => {
                // Closure parameters: `|x| ..`, `|| ..`.
                let space = matches!(prev, Some(Prev::Keyword) | Some(Prev::Spaced));
                self.put(op, space);
                self.closure_params = op == "|";
                self.prev = Some(if op == "|" { Prev::Open } else { Prev::Spaced });
            }
            "::" => {
                let space = prev == Some(Prev::Spaced);
                self.put(op, space);
                self.prev = Some(Prev::Tight);
            }
            "!" if operand_before && matches!(next, Some(Atom::Group(_))) => {
                // A macro call: `assert_eq!(..)`.
                self.put(op, false);
                self.prev = Some(Prev::Tight);
            }
            "<" if self.opens_generics() => {
                self.put(op, false);
                self.generics += 1;
                self.prev = Some(Prev::Tight);
            }
            _ if self.generics > 0 && op.chars().all(|c| c == '>') && op.len() <= self.generics => {
                self.put(op, false);
                self.generics -= op.len();
                self.prev = Some(Prev::Value);
            }
            "&" | "*" | "-" | "!" | "&&" if !operand_before => {
                // Prefix: `&x`, `*p`, `-1`, `!mask`, `&&x`.
                let space = matches!(prev, Some(Prev::Keyword) | Some(Prev::Spaced));
                self.put(op, space);
                self.prev = Some(Prev::Tight);
            }
            _ => {
                self.put(op, self.prev.is_some() && self.prev != Some(Prev::Open));
                self.prev = Some(Prev::Spaced);
            }
        }
    }

    /// Whether a `<` here opens generic arguments rather than comparing.
    fn opens_generics(&self) -> bool {
        match self.prev {
            Some(Prev::Tight) => self.out.ends_with("::"),
            Some(Prev::Value) | Some(Prev::Keyword) => match self.last_word {
                Word::None => false,
                Word::Impl | Word::TypeName => true,
                _ => self.after_fn,
            },
            _ => false,
        }
    }
}

/// The value of a string literal as the lexer wrote it (`"a\nb"`,
/// `r"x"`, `r#"x"#`); `None` for anything else.
fn string_value(lit: &str) -> Option<String> {
    if let Some(raw) = lit.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw.get(hashes..raw.len().checked_sub(hashes)?)?;
        return Some(body.strip_prefix('"')?.strip_suffix('"')?.to_string());
    }
    let body = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => {
                let rest = chars.as_str();
                let end = rest.find('}')?;
                let code = u32::from_str_radix(rest.get(1..end)?, 16).ok()?;
                out.push(char::from_u32(code)?);
                chars = rest[end + 1..].chars();
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn same_as_prettyplease(ts: TokenStream) {
        let ours = format_tokens(ts.clone());
        let reparsed: syn::File = syn::parse_file(&ours)
            .unwrap_or_else(|e| panic!("formatted output does not parse: {e}\n{ours}"));
        let original: syn::File = syn::parse2(ts).expect("input parses");
        assert_eq!(
            prettyplease::unparse(&reparsed),
            prettyplease::unparse(&original),
            "formatting changed the tokens:\n{ours}"
        );
    }

    #[test]
    fn items_blocks_and_docs() {
        let ts = quote! {
            #![doc = " crate doc"]
            /// A register.
            /// Second line.
            #[derive(Clone, Copy)]
            pub struct Value(pub u32);
            impl<'a> core::fmt::Debug for Wrapper<'a, Vec<Vec<u8>>> {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    if self.0 < 4 && !self.ok() { return Err(core::fmt::Error); }
                    let x = -1i32 as u32 * 2 - *p + &q[3..=4][0];
                    match x { 0 => {}, 1 | 2 => f.write_str("a")?, _ => unreachable!() }
                    Ok(())
                }
            }
            use crate::{a::B, c};
            const T: &[(&str, u64)] = &[("A", 1), ("B", 2), ("C", 3), ("D", 4), ("E", 5), ("F", 6), ("G", 7), ("H", 8), ("I", 9)];
        };
        same_as_prettyplease(ts.clone());
        let out = format_tokens(ts);
        assert!(out.starts_with("//! crate doc\n/// A register.\n/// Second line.\n#[derive(Clone, Copy)]\npub struct Value(pub u32);\n"), "{out}");
        assert!(
            out.contains("impl<'a> core::fmt::Debug for Wrapper<'a, Vec<Vec<u8>>> {\n"),
            "{out}"
        );
        assert!(
            out.contains("        if self.0 < 4 && !self.ok() {\n"),
            "{out}"
        );
        assert!(out.contains("use crate::{a::B, c};\n"), "{out}");
        assert!(out.contains("    (\"I\", 9)\n];\n"), "{out}");
    }

    #[test]
    fn doc_string_escapes() {
        assert_eq!(
            string_value(r#""a\nb \"q\" \u{e9}""#).as_deref(),
            Some("a\nb \"q\" é")
        );
        assert_eq!(string_value(r##"r#"x "y""#"##).as_deref(), Some("x \"y\""));
        assert_eq!(string_value("1"), None);
    }
}
