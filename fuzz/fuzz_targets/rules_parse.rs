//! Fuzzes the rules parser and validator: any input must give `Ok` or an error, never a panic,
//! and a document that validates must also decide and simulate without panicking.
//! Run from the repository root: `cargo fuzz run rules_parse` (nightly), or on stable
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none rules_parse fuzz/corpus/rules_parse examples/rules`.

#![no_main]

use glance::audience::AudienceSnapshot;
use glance::rules::{Scheduler, TimelineStep, Tz, parse_rules, parse_timeline, simulate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_timeline(text, Tz::UTC);
    let Ok(rules) = parse_rules(text) else {
        return;
    };
    let mut engine = Scheduler::new(rules.clone());
    let nobody = AudienceSnapshot::default();
    let crowd = AudienceSnapshot {
        present: 5,
        watchers: 4,
        looking_now: 3,
        group_size: 4,
        longest_attention_s: 6.0,
        nearest_distance_m: Some(1.5),
        ..AudienceSnapshot::default()
    };
    let mut now = 1_763_979_600_000_i64;
    for snapshot in [&nobody, &crowd, &crowd, &nobody] {
        let decision = engine.decide(snapshot, now);
        engine.ad_started(&decision.ad_id, now);
        let _ = engine.should_interrupt(snapshot, now + 6_000);
        now += decision.duration_ms;
        engine.ad_ended(&decision.ad_id, now, true);
    }
    let timeline = [
        TimelineStep {
            t_ms: now,
            snapshot: crowd.clone(),
        },
        TimelineStep {
            t_ms: now + 120_000,
            snapshot: nobody,
        },
    ];
    let _ = simulate(&rules, &timeline);
});
