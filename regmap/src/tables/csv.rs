//! A small CSV reader and writer (RFC 4180): comma-separated fields, records
//! ending in LF or CRLF, fields quoted with `"` when they hold a comma, a
//! quote (doubled inside quotes) or a line break. The reader keeps the line
//! and column where each field starts, so a table's diagnostics point at the
//! cell, and it rejects what RFC 4180 does not allow (a stray quote inside
//! an unquoted field, text after a closing quote, an unterminated quote)
//! instead of guessing.

use crate::diag::{Diagnostic, Kind, Span};

/// One field of a record, with where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field's text, quotes removed and doubled quotes undone.
    pub text: String,
    /// Line and column (1-based, in characters) of the field's first character.
    pub span: Span,
}

/// One record (a line of the table, or several when a quoted field holds
/// line breaks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Line the record starts on (1-based).
    pub line: u32,
    /// The fields, in order.
    pub fields: Vec<Field>,
}

/// Parses `text` into records. Blank lines are skipped; a UTF-8 byte-order
/// mark at the start (spreadsheets write one) is ignored. Every malformed
/// quote is reported, located; parsing resumes at the next line.
pub fn parse(text: &str) -> Result<Vec<Record>, Vec<Diagnostic>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut diags = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1u32, 1u32);
    // Advances over one character, keeping line/column.
    macro_rules! bump {
        () => {{
            let c = chars.next();
            match c {
                Some('\n') => {
                    line = line.saturating_add(1);
                    col = 1;
                }
                Some(_) => col = col.saturating_add(1),
                None => {}
            }
            c
        }};
    }
    while chars.peek().is_some() {
        let start_line = line;
        let mut fields = Vec::new();
        let mut bad = false;
        loop {
            let span = Span::new(line, col);
            let mut text = String::new();
            if chars.peek() == Some(&'"') {
                bump!();
                loop {
                    match bump!() {
                        None => {
                            diags.push(Diagnostic::new(
                                Kind::Syntax,
                                span,
                                "unterminated quoted field: expected a closing `\"`",
                            ));
                            bad = true;
                            break;
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            bump!();
                            text.push('"');
                        }
                        Some('"') => break,
                        Some(c) => text.push(c),
                    }
                }
                if !bad && !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                    diags.push(Diagnostic::new(
                        Kind::Syntax,
                        Span::new(line, col),
                        "text after a closing quote: expected `,` or the end of the line",
                    ));
                    bad = true;
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if matches!(c, ',' | '\n' | '\r') {
                        break;
                    }
                    if c == '"' {
                        diags.push(Diagnostic::new(
                            Kind::Syntax,
                            Span::new(line, col),
                            "`\"` inside an unquoted field: quote the whole field and double the quote (`\"a \"\"b\"\"\"`)",
                        ));
                        bad = true;
                        break;
                    }
                    text.push(c);
                    bump!();
                }
            }
            if bad {
                // Skip to the end of the line and go on with the next record.
                while let Some(c) = bump!() {
                    if c == '\n' {
                        break;
                    }
                }
                break;
            }
            fields.push(Field { text, span });
            match chars.peek() {
                Some(',') => {
                    bump!();
                }
                Some('\r') => {
                    bump!();
                    if chars.peek() == Some(&'\n') {
                        bump!();
                    }
                    break;
                }
                Some('\n') => {
                    bump!();
                    break;
                }
                None => break,
                Some(_) => unreachable!("fields end at `,`, a line break or the end"),
            }
        }
        let blank = fields.len() == 1 && fields[0].text.trim().is_empty();
        if !bad && !blank {
            records.push(Record {
                line: start_line,
                fields,
            });
        }
    }
    if diags.is_empty() {
        Ok(records)
    } else {
        Err(diags)
    }
}

/// Quotes `field` when it needs it (comma, quote, line break, or spaces at
/// either end that a reader might trim).
pub fn quote(field: &str) -> String {
    let needs =
        field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if needs {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Writes records as CSV text, one LF-terminated line per record.
pub fn write<R, F>(rows: R) -> String
where
    R: IntoIterator<Item = F>,
    F: IntoIterator,
    F::Item: AsRef<str>,
{
    let mut out = String::new();
    for row in rows {
        let mut first = true;
        for f in row {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&quote(f.as_ref()));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(r: &Record) -> Vec<&str> {
        r.fields.iter().map(|f| f.text.as_str()).collect()
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let recs = parse("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nlast,,\n").unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(texts(&recs[1]), ["x, y", "say \"hi\"", "two\nlines"]);
        assert_eq!(recs[1].line, 2);
        assert_eq!(recs[2].line, 4, "the record after a quoted line break");
        assert_eq!(texts(&recs[2]), ["last", "", ""]);
        assert_eq!(recs[1].fields[1].span, Span::new(2, 8));
    }

    #[test]
    fn writer_output_reads_back_identically() {
        let rows = vec![
            vec!["name", "description"],
            vec!["A", "plain"],
            vec!["B", "comma, \"quote\" and\nnewline"],
            vec!["C", " padded "],
            vec!["", ""],
        ];
        let text = write(&rows);
        let back = parse(&text).unwrap();
        let got: Vec<Vec<&str>> = back.iter().map(texts).collect();
        assert_eq!(got, rows);
    }

    #[test]
    fn malformed_quotes_are_located_errors() {
        let e = parse("a,b\nx,y\"z\n").unwrap_err();
        assert_eq!(e[0].span, Span::new(2, 4));
        let e = parse("a,\"b\"c\n").unwrap_err();
        assert_eq!(e[0].span, Span::new(1, 6));
        let e = parse("a\n\"open,\nstill open\n").unwrap_err();
        assert_eq!(e[0].span, Span::new(2, 1));
        assert!(e[0].message.contains("unterminated"));
    }

    #[test]
    fn bom_and_blank_lines_are_skipped() {
        let recs = parse("\u{feff}a,b\n\n1,2\n").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].fields[0].text, "a");
        assert_eq!(recs[1].line, 3);
    }
}
