//! The checked-in list of known differences between QEMU and the
//! in-process run (`tests/firmware/known-differences.yaml`), and the
//! declared number of scenarios.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use smmu_driver::scenarios::NAMES;

/// Where the list lives, for the tools and tests of this crate.
pub const DEFAULT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/known-differences.yaml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    scenarios: usize,
    known: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    keys: Vec<String>,
    reason: String,
}

/// The loaded list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// How many scenarios each run must report (the one place the count
    /// is declared; `tests/firmware/run` reads it too).
    pub scenarios: usize,
    /// `scenario.key` -> why the two runs differ there.
    pub reasons: BTreeMap<String, String>,
}

/// A list that does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownError(pub String);

impl fmt::Display for KnownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KnownError {}

impl Known {
    /// Parses the YAML text of a list (`origin` names it in errors). Every
    /// key must name a scenario of [`NAMES`] and appear once; every entry
    /// needs keys and a reason.
    pub fn parse(text: &str, origin: &str) -> Result<Known, KnownError> {
        let raw: RawFile =
            serde_saphyr::from_str(text).map_err(|e| KnownError(format!("{origin}: {e}")))?;
        let mut reasons = BTreeMap::new();
        for (i, entry) in raw.known.iter().enumerate() {
            let at = |msg: String| KnownError(format!("{origin}: known[{i}]: {msg}"));
            let reason = entry.reason.trim();
            if reason.is_empty() {
                return Err(at("empty reason".into()));
            }
            if entry.keys.is_empty() {
                return Err(at("no keys".into()));
            }
            for key in &entry.keys {
                let scenario = key.split_once('.').map(|(s, _)| s);
                if !scenario.is_some_and(|s| NAMES.contains(&s)) {
                    return Err(at(format!(
                        "key {key:?} does not start with a scenario name and a dot"
                    )));
                }
                if reasons.insert(key.clone(), reason.to_string()).is_some() {
                    return Err(at(format!("key {key:?} is listed twice")));
                }
            }
        }
        Ok(Known {
            scenarios: raw.scenarios,
            reasons,
        })
    }

    /// Reads and parses the list at `path`.
    pub fn load(path: &Path) -> Result<Known, KnownError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KnownError(format!("{}: {e}", path.display())))?;
        Known::parse(&text, &path.display().to_string())
    }

    /// The checked-in list.
    pub fn checked_in() -> Result<Known, KnownError> {
        Known::load(Path::new(DEFAULT_PATH))
    }
}
