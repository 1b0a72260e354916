//! The comparison of a QEMU run with the in-process run: every value and
//! verdict either agrees, or differs at a key the known list explains.
//! It fails on a difference the list does not name, on a listed key where
//! the runs now agree (the list must shrink with the differences), and on
//! a run that does not report exactly the declared scenarios.

use std::collections::BTreeSet;
use std::fmt::{self, Write};

use crate::known::Known;
use crate::observe::Observations;

/// One side's value at a key: a number, a verdict, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not recorded by this run.
    Absent,
    /// A recorded value.
    Value(u64),
    /// A scenario's verdict (`None`: PASS).
    Verdict(Option<String>),
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Absent => f.write_str("(absent)"),
            Seen::Value(v) => write!(f, "{v:#x}"),
            Seen::Verdict(None) => f.write_str("PASS"),
            Seen::Verdict(Some(why)) => write!(f, "FAIL: {why}"),
        }
    }
}

/// A key where the runs differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `scenario.key`, or `scenario.outcome` for a verdict.
    pub key: String,
    /// QEMU's side.
    pub qemu: Seen,
    /// The in-process side.
    pub model: Seen,
}

/// What the comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Keys where both runs agree.
    pub agree: usize,
    /// Differences the known list explains, with its reason.
    pub known: Vec<(Difference, String)>,
    /// Differences it does not.
    pub new: Vec<Difference>,
    /// Listed keys where the runs agree (or that neither run recorded).
    pub stale: Vec<(String, String)>,
    /// Runs that did not report exactly the declared scenarios.
    pub count: Vec<String>,
}

impl Report {
    /// Whether the comparison passes.
    pub fn ok(&self) -> bool {
        self.new.is_empty() && self.stale.is_empty() && self.count.is_empty()
    }

    /// A readable account: every difference with both values (and the
    /// reason of the known ones), then the verdict.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.count {
            let _ = writeln!(s, "SCENARIOS {c}");
        }
        for d in &self.new {
            let _ = writeln!(s, "NEW   {}: qemu {} model {}", d.key, d.qemu, d.model);
        }
        for (key, reason) in &self.stale {
            let _ = writeln!(
                s,
                "STALE {key}: listed as known but both runs agree ({reason})"
            );
        }
        // Known differences grouped under their reason, in key order.
        let mut reasons: Vec<&str> = Vec::new();
        for (_, r) in &self.known {
            if !reasons.contains(&r.as_str()) {
                reasons.push(r);
            }
        }
        for r in reasons {
            for (d, _) in self.known.iter().filter(|(_, kr)| kr == r) {
                let _ = writeln!(s, "known {}: qemu {} model {}", d.key, d.qemu, d.model);
            }
            let _ = writeln!(s, "      {r}");
        }
        let _ = writeln!(
            s,
            "{} keys agree, {} known differences, {} new, {} stale, {} scenario-count errors: {}",
            self.agree,
            self.known.len(),
            self.new.len(),
            self.stale.len(),
            self.count.len(),
            if self.ok() { "OK" } else { "FAILED" }
        );
        s
    }
}

fn seen_at(o: &Observations, key: &str) -> Seen {
    if let Some(v) = o.values.get(key) {
        return Seen::Value(*v);
    }
    match key.strip_suffix(".outcome").and_then(|s| o.verdict_of(s)) {
        Some(verdict) => Seen::Verdict(verdict.clone()),
        None => Seen::Absent,
    }
}

fn check_count(side: &str, o: &Observations, declared: usize, report: &mut Report) {
    let n = o.outcomes.len();
    if n != declared {
        let names: Vec<&str> = o.outcomes.iter().map(|(s, _)| s.as_str()).collect();
        report.count.push(format!(
            "{side}: {n} scenarios reported, {declared} declared ({})",
            names.join(" ")
        ));
    }
}

/// Compares the QEMU run with the in-process run under `known`.
pub fn compare(qemu: &Observations, model: &Observations, known: &Known) -> Report {
    let mut report = Report::default();
    check_count("qemu", qemu, known.scenarios, &mut report);
    check_count("model", model, known.scenarios, &mut report);
    let mut keys: BTreeSet<String> = qemu.values.keys().cloned().collect();
    keys.extend(model.values.keys().cloned());
    for (s, _) in qemu.outcomes.iter().chain(&model.outcomes) {
        keys.insert(format!("{s}.outcome"));
    }
    for key in &keys {
        let (q, m) = (seen_at(qemu, key), seen_at(model, key));
        let reason = known.reasons.get(key);
        match (q == m, reason) {
            (true, None) => report.agree += 1,
            (true, Some(r)) => report.stale.push((key.clone(), r.clone())),
            (false, Some(r)) => report.known.push((
                Difference {
                    key: key.clone(),
                    qemu: q,
                    model: m,
                },
                r.clone(),
            )),
            (false, None) => report.new.push(Difference {
                key: key.clone(),
                qemu: q,
                model: m,
            }),
        }
    }
    for (key, r) in &known.reasons {
        if !keys.contains(key) {
            report.stale.push((key.clone(), r.clone()));
        }
    }
    report
}
