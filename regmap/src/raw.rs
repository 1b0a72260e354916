//! Pass 1 (load): the map as written, deserialized with spans. Every struct
//! denies unknown keys so a typo is an error, not a silently ignored line.
//! Nothing here checks meaning; that is [`crate::elaborate`]'s job.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Kind, Span};

/// A value with the position it was written at.
pub type S<T> = Spanned<T>;

/// The span of a spanned value.
pub fn span<T>(s: &S<T>) -> Span {
    Span::new(s.referenced.line(), s.referenced.column())
}

/// A top-level map file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMap {
    pub device: S<RawDevice>,
    #[serde(default)]
    pub hooks: Vec<S<RawHook>>,
    #[serde(default)]
    pub enums: Vec<S<RawEnum>>,
    #[serde(default)]
    pub fieldsets: Vec<S<RawFieldset>>,
    #[serde(default)]
    pub registers: Vec<S<RawRegister>>,
    #[serde(default)]
    pub blocks: Vec<S<RawBlock>>,
    #[serde(default)]
    pub structs: Vec<S<RawStruct>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub name: S<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub windows: Vec<S<RawWindow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub name: S<String>,
    pub offset: S<u64>,
    pub size: S<u64>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    pub name: S<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnum {
    pub name: S<String>,
    #[serde(default)]
    pub description: String,
    pub bits: Option<S<u32>>,
    pub values: Vec<S<RawEnumValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnumValue {
    pub name: S<String>,
    pub value: S<u64>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFieldset {
    pub name: S<String>,
    #[serde(default)]
    pub description: String,
    pub width: Option<S<u32>>,
    pub fields: Vec<S<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    pub name: S<String>,
    pub bits: S<Bits>,
    pub access: Option<S<String>>,
    pub reset: Option<S<u64>>,
    #[serde(rename = "enum")]
    pub enum_ref: Option<S<String>>,
    pub values: Option<Vec<S<RawEnumValue>>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegister {
    pub name: S<String>,
    pub offset: S<u64>,
    pub width: Option<S<u32>>,
    pub access: Option<S<String>>,
    pub reset: Option<S<u64>>,
    #[serde(default)]
    pub description: String,
    pub fields: Option<Vec<S<RawField>>>,
    pub fieldset: Option<S<String>>,
    pub count: Option<S<u32>>,
    pub stride: Option<S<u64>>,
    pub alias: Option<S<String>>,
    pub on_write: Option<S<String>>,
    pub on_read: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlock {
    pub name: S<String>,
    pub offset: S<u64>,
    #[serde(default)]
    pub description: String,
    pub count: Option<S<u32>>,
    pub stride: Option<S<u64>>,
    #[serde(default)]
    pub registers: Vec<S<RawRegister>>,
    #[serde(default)]
    pub blocks: Vec<S<RawBlock>>,
    pub alias: Option<S<String>>,
    pub index_map: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStruct {
    pub name: S<String>,
    #[serde(default)]
    pub description: String,
    pub size: Option<S<u64>>,
    pub extends: Option<S<String>>,
    #[serde(default)]
    pub fixed: Vec<S<RawFixed>>,
    #[serde(default)]
    pub fields: Vec<S<RawStructField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFixed {
    pub field: S<String>,
    pub value: S<NumOrName>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStructField {
    pub name: S<String>,
    pub word: S<u32>,
    pub bits: S<Bits>,
    #[serde(rename = "enum")]
    pub enum_ref: Option<S<String>>,
    pub values: Option<Vec<S<RawEnumValue>>>,
    #[serde(default)]
    pub description: String,
}

/// A bit range as written: one bit number or `msb:lsb` text, parsed later so
/// a malformed range gets a located, specific message.
#[derive(Debug)]
pub enum Bits {
    One(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for Bits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bits;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bit number or a range `msb:lsb`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bits, E> {
                Ok(Bits::One(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bits, E> {
                u64::try_from(v).map(Bits::One).map_err(|_| {
                    E::custom("expected a bit number or `msb:lsb`, found a negative number")
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bits, E> {
                Ok(Bits::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number or the name of an enum value (for `fixed:`).
#[derive(Debug)]
pub enum NumOrName {
    Num(u64),
    Name(String),
}

impl<'de> Deserialize<'de> for NumOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumOrName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or the name of an enum value")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrName, E> {
                Ok(NumOrName::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrName, E> {
                u64::try_from(v)
                    .map(NumOrName::Num)
                    .map_err(|_| E::custom("expected a non-negative number or an enum value name"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrName, E> {
                Ok(NumOrName::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `text` into a [`RawMap`], turning the parser's error into a
/// located diagnostic with a message that says what was expected.
pub fn parse(text: &str) -> Result<RawMap, Diagnostic> {
    serde_saphyr::from_str::<RawMap>(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let raw = e.without_snippet().to_string();
        let message = clean_parser_message(&raw);
        let kind = if message.starts_with("unknown key") {
            Kind::UnknownKey
        } else {
            Kind::Syntax
        };
        Diagnostic::new(kind, Span::new(line, col), message)
    })
}

/// Drops the parser's own " at line L, column C" suffix (the diagnostic
/// carries the position) and rewords the terse number errors.
fn clean_parser_message(raw: &str) -> String {
    let mut msg = raw.trim().to_string();
    if let Some(i) = msg.rfind(" at line ") {
        msg.truncate(i);
    }
    for (pat, better) in [
        (
            "invalid u64",
            "expected an unsigned integer (decimal or 0x hex) that fits in 64 bits",
        ),
        (
            "invalid u32",
            "expected an unsigned integer (decimal or 0x hex) that fits in 32 bits",
        ),
    ] {
        if msg.starts_with(pat) {
            return better.to_string();
        }
    }
    if msg.starts_with("unknown field") {
        // serde says "expected one of a, b"; keep it, it lists the valid keys.
        return msg.replacen("unknown field", "unknown key", 1);
    }
    msg
}
