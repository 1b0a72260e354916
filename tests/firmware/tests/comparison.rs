//! The comparison fails on any difference it has not been told about, on
//! a known difference that is no longer seen and on a missing scenario;
//! the observation lines and the known list load strictly.

use std::collections::BTreeMap;

use firmware_tests::compare::{compare, Seen};
use firmware_tests::known::Known;
use firmware_tests::observe::Observations;
use firmware_tests::run_in_process;
use smmu_driver::scenarios::NAMES;

fn known(keys: &[&str]) -> Known {
    Known {
        scenarios: NAMES.len(),
        reasons: keys
            .iter()
            .map(|k| (k.to_string(), format!("because of {k}")))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[test]
fn a_run_agrees_with_itself() {
    let m = run_in_process();
    let r = compare(&m, &m, &known(&[]));
    assert!(r.ok(), "{}", r.render());
    assert_eq!(r.agree, m.values.len() + m.outcomes.len());
}

#[test]
fn a_changed_value_is_a_new_difference() {
    let m = run_in_process();
    let mut q = m.clone();
    *q.values.get_mut("enable.end.cr0ack").unwrap() ^= 1;
    let r = compare(&q, &m, &known(&[]));
    assert!(!r.ok());
    assert_eq!(r.new.len(), 1, "{}", r.render());
    assert_eq!(r.new[0].key, "enable.end.cr0ack");
    assert_eq!(r.new[0].model, Seen::Value(0xd));
    assert_eq!(r.new[0].qemu, Seen::Value(0xc));
    assert!(r
        .render()
        .contains("NEW   enable.end.cr0ack: qemu 0xc model 0xd"));
}

#[test]
fn a_listed_difference_passes_and_a_stale_entry_fails() {
    let m = run_in_process();
    let mut q = m.clone();
    *q.values.get_mut("probe.idr0.ATS").unwrap() ^= 1;
    let r = compare(&q, &m, &known(&["probe.idr0.ATS"]));
    assert!(r.ok(), "{}", r.render());
    assert_eq!(r.known.len(), 1);
    assert_eq!(r.known[0].1, "because of probe.idr0.ATS");
    // Listed, but both runs agree: the list must shrink.
    let r = compare(&m, &m, &known(&["probe.idr0.ATS"]));
    assert!(!r.ok());
    assert_eq!(r.stale.len(), 1);
    // Listed, but neither run records it.
    let r = compare(&m, &m, &known(&["probe.no_such_key"]));
    assert_eq!(r.stale.len(), 1);
}

#[test]
fn a_missing_scenario_or_value_fails() {
    let m = run_in_process();
    let mut q = m.clone();
    q.outcomes.pop();
    let r = compare(&q, &m, &known(&[]));
    assert!(!r.ok());
    assert_eq!(r.count.len(), 1, "{}", r.render());
    assert!(r.count[0].starts_with("qemu: 12 scenarios reported, 13 declared"));
    assert_eq!(r.new[0].key, "back_to_linear.outcome");
    assert_eq!(r.new[0].qemu, Seen::Absent);
    let mut q = m.clone();
    q.values.remove("probe.idr1.SIDSIZE");
    let r = compare(&q, &m, &known(&[]));
    assert_eq!(r.new.len(), 1);
    assert_eq!(r.new[0].qemu, Seen::Absent);
    // A failing verdict differs from a passing one.
    let mut q = m.clone();
    q.outcomes[0].1 = Some("IDR0 = 0x0".into());
    let r = compare(&q, &m, &known(&[]));
    assert_eq!(r.new[0].key, "probe.outcome");
}

#[test]
fn the_checked_in_list_names_keys_the_scenarios_record() {
    let k = Known::checked_in().unwrap();
    let m = run_in_process();
    for key in k.reasons.keys() {
        let scenario_outcome = key
            .strip_suffix(".outcome")
            .is_some_and(|s| NAMES.contains(&s));
        assert!(
            m.values.contains_key(key) || scenario_outcome,
            "{key} is listed as a known difference but no scenario records it"
        );
    }
}

#[test]
fn observation_lines_round_trip_and_reject_garbage() {
    let m = run_in_process();
    assert_eq!(Observations::parse(&m.to_text()).unwrap(), m);
    // The firmware's console: carriage returns, other lines in between.
    let console = "firmware: booted at EL1\r\nOBS probe idr0.S1P 0x1\r\n-- x\r\nPASS probe\r\nFAIL enable: CR0 = 0x0, expected 0xd\r\n";
    let o = Observations::parse(console).unwrap();
    assert_eq!(o.values["probe.idr0.S1P"], 1);
    assert_eq!(o.verdict_of("probe"), Some(&None));
    assert_eq!(
        o.verdict_of("enable"),
        Some(&Some("CR0 = 0x0, expected 0xd".to_string()))
    );
    for (bad, line) in [
        ("OBS probe idr0.S1P\n", 1),
        ("PASS a\nOBS probe k 12\n", 2),
        ("OBS probe k 0xzz\n", 1),
        ("OBS probe k 0x1 extra\n", 1),
        ("OBS probe k 0x1\nOBS probe k 0x2\n", 2),
        ("PASS a\nPASS a\n", 2),
        ("PASS \n", 1),
    ] {
        let e = Observations::parse(bad).unwrap_err();
        assert_eq!(e.line, line, "{bad:?}: {e}");
    }
}

#[test]
fn the_known_list_loads_strictly() {
    let ok = "scenarios: 13\nknown:\n  - keys: [probe.idr0.ATS]\n    reason: x\n";
    assert_eq!(Known::parse(ok, "t").unwrap().reasons.len(), 1);
    for (bad, what) in [
        ("scenarios: 13\nknown:\n  - keys: [probe.a]\n    reason: ' '\n", "empty reason"),
        ("scenarios: 13\nknown:\n  - keys: []\n    reason: x\n", "no keys"),
        ("scenarios: 13\nknown:\n  - keys: [nosuch.a]\n    reason: x\n", "scenario name"),
        ("scenarios: 13\nknown:\n  - keys: [probe]\n    reason: x\n", "scenario name"),
        (
            "scenarios: 13\nknown:\n  - keys: [probe.a]\n    reason: x\n  - keys: [probe.a]\n    reason: y\n",
            "listed twice",
        ),
        ("scenarios: 13\nknown:\n  - keys: [probe.a]\n    reason: x\n    why: y\n", "why"),
        ("scenarios: 13\n", "known"),
        ("scenarios: many\nknown: []\n", "scenarios"),
    ] {
        let e = Known::parse(bad, "t.yaml").unwrap_err().to_string();
        assert!(e.starts_with("t.yaml"), "{e}");
        assert!(e.contains(what), "{bad:?}: {e}");
    }
}
