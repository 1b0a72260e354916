//! What one run of the scenarios observed, as the lines the firmware
//! prints (`OBS scenario key value`, `PASS scenario`, `FAIL scenario: why`)
//! and back.

use std::collections::BTreeMap;
use std::fmt;

use smmu_driver::scenarios::{write_outcome, write_value, Outcome, Recorder};

/// The values and verdicts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations {
    /// `scenario.key` -> value.
    pub values: BTreeMap<String, u64>,
    /// Scenario -> `None` for PASS, `Some(why)` for FAIL, in run order.
    pub outcomes: Vec<(String, Option<String>)>,
}

/// A line of an observations file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

impl Observations {
    /// The outcome of `scenario`, if it ran.
    pub fn verdict_of(&self, scenario: &str) -> Option<&Option<String>> {
        self.outcomes
            .iter()
            .find(|(s, _)| s == scenario)
            .map(|(_, o)| o)
    }

    /// Names of the scenarios that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_some())
            .map(|(s, _)| s.as_str())
            .collect()
    }

    /// Reads the `OBS`/`PASS`/`FAIL` lines of a console log (other lines,
    /// and carriage returns, are ignored). A malformed line of those
    /// kinds, a value recorded twice or a scenario with two verdicts is an
    /// error.
    pub fn parse(text: &str) -> Result<Observations, ParseError> {
        let mut o = Observations::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            let err = |msg: String| ParseError { line: i + 1, msg };
            if let Some(rest) = line.strip_prefix("OBS ") {
                let mut parts = rest.split(' ');
                let (Some(scenario), Some(key), Some(value), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(err(format!(
                        "expected `OBS scenario key 0xvalue`: {line:?}"
                    )));
                };
                let hex = value
                    .strip_prefix("0x")
                    .ok_or_else(|| err(format!("value {value:?} is not 0x-prefixed hex")))?;
                let v = u64::from_str_radix(hex, 16)
                    .map_err(|e| err(format!("value {value:?}: {e}")))?;
                if scenario.is_empty() || key.is_empty() {
                    return Err(err(format!("empty scenario or key: {line:?}")));
                }
                let full = format!("{scenario}.{key}");
                if o.values.insert(full.clone(), v).is_some() {
                    return Err(err(format!("{full} recorded twice")));
                }
            } else if let Some(name) = line.strip_prefix("PASS ") {
                o.verdict(name, None).map_err(err)?;
            } else if let Some(rest) = line.strip_prefix("FAIL ") {
                let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
                o.verdict(name, Some(why.to_string())).map_err(err)?;
            }
        }
        Ok(o)
    }

    fn verdict(&mut self, name: &str, why: Option<String>) -> Result<(), String> {
        if name.is_empty() || name.contains(' ') {
            return Err(format!("bad scenario name {name:?}"));
        }
        if self.verdict_of(name).is_some() {
            return Err(format!("scenario {name} has two verdicts"));
        }
        self.outcomes.push((name.to_string(), why));
        Ok(())
    }

    /// The lines [`Observations::parse`] reads (values sorted by key, then
    /// the verdicts in run order).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (full, v) in &self.values {
            let (scenario, key) = full.split_once('.').unwrap_or((full, ""));
            let _ = write_value(&mut out, scenario, &[key], *v);
        }
        for (name, why) in &self.outcomes {
            let _ = match why {
                None => write_outcome(&mut out, name, &Ok(())),
                Some(w) => {
                    use std::fmt::Write;
                    writeln!(out, "FAIL {name}: {w}")
                }
            };
        }
        out
    }
}

impl Recorder for Observations {
    fn value(&mut self, scenario: &'static str, key: &[&str], value: u64) {
        let full = format!("{scenario}.{}", key.join("."));
        // A scenario that records a key twice is a bug in the scenario:
        // make it a difference the comparison cannot miss.
        if self.values.insert(full.clone(), value).is_some() {
            self.values.insert(format!("{full}.recorded_twice"), 1);
        }
    }

    fn outcome(&mut self, scenario: &'static str, outcome: &Outcome) {
        let why = outcome.as_ref().err().map(|e| e.to_string());
        self.outcomes.push((scenario.to_string(), why));
    }
}
