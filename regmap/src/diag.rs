//! Diagnostics in rustc style: `FILE:LINE:COL: error: MESSAGE`, followed by
//! the offending source line and a caret under the column.

use std::fmt;

/// Longest stretch of a source line shown under a diagnostic.
const MAX_CONTEXT: usize = 120;

/// A position in a map file (1-based line and column; 0 when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// 1-based line, 0 when unknown.
    pub line: u32,
    /// 1-based column (in characters), 0 when unknown.
    pub col: u32,
}

impl Span {
    /// A span at `line`:`col` (saturating at `u32::MAX`).
    pub fn new(line: impl TryInto<u32>, col: impl TryInto<u32>) -> Span {
        Span {
            line: line.try_into().unwrap_or(u32::MAX),
            col: col.try_into().unwrap_or(u32::MAX),
        }
    }
}

/// The kind of a diagnostic, so tests can assert what went wrong without
/// matching message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The file could not be read.
    Io,
    /// YAML syntax, type or structure error reported by the parser
    /// (includes missing keys).
    Syntax,
    /// A key the format does not define.
    UnknownKey,
    /// A name declared twice among siblings.
    Duplicate,
    /// A bit range that is malformed or past the register/word width.
    BadBits,
    /// Two fields sharing bits.
    FieldOverlap,
    /// A value (reset, enum value, fixed value) that does not fit its field.
    ValueTooWide,
    /// A reset value contradicting the field access (res0 bits set, ...).
    BadReset,
    /// An access kind that is unknown or contradicts the register access.
    BadAccess,
    /// An offset not aligned to the register width.
    Misaligned,
    /// A stride smaller than the element, or a zero count.
    BadArray,
    /// Two register elements overlapping after array expansion.
    RegisterOverlap,
    /// A register outside every window, or windows overlapping.
    OutsideWindow,
    /// A reference to an undeclared fieldset, enum, hook, alias or struct.
    UnknownReference,
    /// A width other than 32/64, a fieldset width mismatch, a bad struct size.
    BadWidth,
    /// An alias whose shape does not match its target.
    BadAlias,
    /// A name that is not an identifier.
    BadName,
}

/// One located problem in a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem.
    pub kind: Kind,
    /// Where.
    pub span: Span,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic of `kind` at `span`.
    pub fn new(kind: Kind, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            kind,
            span,
            message: message.into(),
        }
    }

    /// Renders the diagnostic against the file's name and text.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = format!(
            "{}:{}:{}: error: {}\n",
            file, self.span.line, self.span.col, self.message
        );
        if self.span.line > 0 {
            if let Some(line) = yaml_lines(source).nth(self.span.line as usize - 1) {
                let gutter = self.span.line.to_string();
                let pad = " ".repeat(gutter.len());
                // Long lines are cut to a window around the column.
                let col = self.span.col.saturating_sub(1) as usize;
                let start = col.saturating_sub(MAX_CONTEXT / 2);
                let chars: Vec<char> = line.chars().collect();
                let end = chars.len().min(start + MAX_CONTEXT);
                let mut text: String = chars.get(start..end).unwrap_or_default().iter().collect();
                let mut caret_col = col - start;
                if start > 0 {
                    text.insert_str(0, "...");
                    caret_col += 3;
                }
                if end < chars.len() {
                    text.push_str("...");
                }
                out.push_str(&format!("{pad} |\n{gutter} | {text}\n"));
                // Columns count characters; keep tabs so the caret lines up.
                let lead: String = text
                    .chars()
                    .take(caret_col)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!("{pad} | {lead}^\n"));
            }
        }
        out
    }
}

/// The lines of `source` as YAML counts them (and so the parser's line
/// numbers): a line ends at `\r\n`, `\n` or a lone `\r`.
pub fn yaml_lines(source: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(source);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            None => {
                rest = None;
                (!text.is_empty()).then_some(text)
            }
            Some(i) => {
                let skip = if text[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[i + skip..]);
                Some(&text[..i])
            }
        }
    })
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: error: {}",
            self.span.line, self.span.col, self.message
        )
    }
}

/// All diagnostics of one map, with the text needed to render them.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    /// The file name as given by the caller.
    pub file: String,
    /// The file's text (empty when it could not be read).
    pub source: String,
    /// The problems, sorted by position.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Renders every diagnostic, rustc style.
    pub fn render(&self) -> String {
        self.items
            .iter()
            .map(|d| d.render(&self.file, &self.source))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}
