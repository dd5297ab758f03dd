//! How long one decision takes with 200 rules (target: under 50 µs).
//! `cargo bench --bench rules_decide`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use glance::audience::{AudienceSnapshot, BandGenderCount};
use glance::rules::Scheduler;
use serde_json::{Value, json};

const RULE_COUNT: usize = 200;

/// 200 rules of the kinds marketers write: audience shares and counts, dayparts, days of week,
/// date ranges, caps and cooldowns, weighted picks; about half of them match the test snapshot.
fn rules_document() -> String {
    let bands = ["18-24", "25-34", "35-44", "45-54", "55-64"];
    let ads: Vec<Value> = (0..40)
        .map(|i| {
            json!({
                "id": format!("ad-{i}"),
                "media": format!("https://cdn.example.com/{i}.mp4"),
                "kind": "video",
                "durationS": 10 + i % 10,
                "tags": [format!("tag-{}", i % 5)],
                "caps": {"perHour": 4 + i % 3}
            })
        })
        .collect();
    let rules: Vec<Value> = (0..RULE_COUNT)
        .map(|i| {
            let band = bands[i % bands.len()];
            let audience = match i % 4 {
                0 => json!({"share": {"ageBands": [band, bands[(i + 1) % 5]], "op": "gte", "value": 0.3}}),
                1 => json!({"count": {"among": "present", "gender": "female", "op": "between", "value": [1, 4]}}),
                2 => json!({"any": [{"watchers": {"op": "gte", "value": 2 + i % 3}}, {"not": {"distanceM": {"op": "gt", "value": 3}}}]}),
                _ => json!({"groupSize": {"op": "in", "value": [2, 3, 4]}}),
            };
            let clock = match i % 3 {
                0 => json!({"timeOfDay": {"start": format!("{:02}:00", i % 24), "end": format!("{:02}:30", (i + 6) % 24)}}),
                1 => json!({"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"]}),
                _ => json!({"dateRange": {"from": "2025-01-01", "to": "2026-12-31"}}),
            };
            let play = if i % 5 == 0 {
                json!({"pick": [{"ad": format!("ad-{}", i % 40), "weight": 3}, {"ad": format!("ad-{}", (i + 7) % 40)}]})
            } else {
                json!({"ad": format!("ad-{}", i % 40)})
            };
            json!({
                "id": format!("rule-{i}"),
                // Distinct priorities: equal priorities with overlapping dayparts are rejected.
                "priority": i,
                "when": {"all": [audience, clock, {"present": {"op": "gte", "value": 1}}]},
                "play": play,
                "caps": {"perHour": 6, "perDay": 40},
                "cooldownS": 30
            })
        })
        .collect();
    json!({
        "version": 1,
        "timeZone": "Europe/Berlin",
        "ads": ads,
        "defaultLoop": ["ad-0", "ad-1", "ad-2"],
        "rules": rules
    })
    .to_string()
}

fn snapshot() -> AudienceSnapshot {
    let cell = |band: &str, gender, present, watchers| BandGenderCount {
        age_band: Some(band.to_string()),
        gender: Some(gender),
        present,
        watchers,
    };
    use glance::analysis::Gender::{Female, Male};
    AudienceSnapshot {
        timestamp_ms: 0.0,
        present: 5,
        watchers: 4,
        looking_now: 3,
        group_size: 3,
        longest_attention_s: 6.5,
        nearest_distance_m: Some(2.2),
        by_band_gender: vec![
            cell("18-24", Female, 2, 2),
            cell("25-34", Male, 1, 1),
            cell("45-54", Female, 1, 1),
            cell("55-64", Male, 1, 0),
        ],
        people: Vec::new(),
    }
}

fn bench_decide(c: &mut Criterion) {
    let document = rules_document();
    let mut engine = Scheduler::from_json(&document).expect("benchmark rules are valid");
    let snapshot = snapshot();
    // Monday 2025-11-24 12:00 in Berlin, with some history so caps and cooldowns are consulted.
    let mut now = 1_763_982_000_000_i64;
    for _ in 0..50 {
        let decision = engine.decide(&snapshot, now);
        engine.ad_started(&decision.ad_id, now);
        now += decision.duration_ms;
        engine.ad_ended(&decision.ad_id, now, true);
    }
    c.bench_function("decide with 200 rules", |b| {
        b.iter(|| engine.decide(black_box(&snapshot), black_box(now)))
    });
    // An interrupt check while a default-loop ad has been on screen for 6 s (rules outrank it).
    let mut playing = engine.clone();
    let loop_ad = playing.decide(&AudienceSnapshot::default(), now);
    playing.ad_started(&loop_ad.ad_id, now);
    let check_at = now + 6_000;
    assert!(playing.should_interrupt(&snapshot, check_at).is_some());
    c.bench_function("should_interrupt with 200 rules", |b| {
        b.iter(|| playing.should_interrupt(black_box(&snapshot), black_box(check_at)))
    });
    c.bench_function("validate 200 rules", |b| {
        b.iter(|| glance::rules::parse_rules(black_box(&document)).expect("valid"))
    });
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
