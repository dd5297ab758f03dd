//! Fuzzes the simulator's timeline (JSON lines) against the example mall rules: any text gives
//! a timeline or an error, never a panic, and a timeline replays to a report.
//! Run from the repository root:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none timeline fuzz/corpus/timeline examples/rules`.

#![no_main]

use std::sync::OnceLock;

use glance::rules::{RuleSet, parse_timeline, simulate};
use libfuzzer_sys::fuzz_target;

fn mall() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        RuleSet::from_json(include_str!("../../examples/rules/mall.rules.json"))
            .expect("mall rules")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = mall();
    if let Ok(timeline) = parse_timeline(text, rules.time_zone()) {
        let report = simulate(rules, &timeline);
        assert_eq!(report.summary.plays, report.plays.len());
    }
});
