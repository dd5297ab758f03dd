//! Behaviour tests of the rules module: validation, every operator, dayparts across midnight and
//! DST, caps, cooldowns, priorities, interrupts, hot swaps, the simulator's golden outputs, the
//! committed schema, and no-panic property tests. Golden files regenerate with `GLANCE_BLESS=1`.
// Tests may run long: a scenario reads best as one story (the 80-line limit is for the code).
#![allow(clippy::too_many_lines)]

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::clock::local_to_utc_ms;
use super::*;
use crate::analysis::Gender;
use crate::audience::{AudienceSnapshot, BandGenderCount};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A small valid document in `tz`; `rules` and extra top-level fields are merged in.
fn document_with(tz: &str, rules: Value, extra: Value) -> Value {
    let mut doc = json!({
        "version": 1,
        "timeZone": tz,
        "ads": [
            {"id": "loop-a", "media": "a.png", "kind": "image", "durationS": 10},
            {"id": "loop-b", "media": "b.png", "kind": "image", "durationS": 10},
            {"id": "promo", "media": "promo.mp4", "kind": "video", "durationS": 15},
            {"id": "other", "media": "other.mp4", "kind": "video", "durationS": 20},
            {"id": "third", "media": "third.html", "kind": "html", "durationS": 5}
        ],
        "defaultLoop": ["loop-a", "loop-b"],
        "rules": rules
    });
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            doc.insert(key.clone(), value.clone());
        }
    }
    doc
}

fn berlin_doc(rules: Value) -> Value {
    document_with("Europe/Berlin", rules, json!({}))
}

fn new_engine(doc: &Value) -> Scheduler {
    match Scheduler::from_json(&doc.to_string()) {
        Ok(engine) => engine,
        Err(e) => panic!("test document should be valid: {e}"),
    }
}

fn invalid(doc: &Value) -> RulesError {
    match parse_rules(&doc.to_string()) {
        Ok(_) => panic!("document should be rejected: {doc}"),
        Err(e) => e,
    }
}

fn tz(name: &str) -> Tz {
    name.parse().expect("test time zone")
}

/// UTC ms of a local wall-clock time ("2025-11-24T12:00").
fn local(zone: &str, text: &str) -> i64 {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").expect("test time");
    local_to_utc_ms(tz(zone), naive)
}

fn utc(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .timestamp_millis()
}

fn watchers(count: u32) -> AudienceSnapshot {
    AudienceSnapshot {
        present: count,
        watchers: count,
        looking_now: count,
        group_size: count,
        ..AudienceSnapshot::default()
    }
}

fn nobody() -> AudienceSnapshot {
    AudienceSnapshot::default()
}

fn rule_id(decision: &Decision) -> Option<&str> {
    match &decision.source {
        DecisionSource::Rule { rule_id, .. } => Some(rule_id),
        DecisionSource::DefaultLoop { .. } => None,
    }
}

/// Decides and plays the decision to its end.
fn play(engine: &mut Scheduler, snapshot: &AudienceSnapshot, now: i64) -> Decision {
    let decision = engine.decide(snapshot, now);
    engine.ad_started(&decision.ad_id, now);
    engine.ad_ended(&decision.ad_id, now + decision.duration_ms, true);
    decision
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with the committed file, or rewrites it when `GLANCE_BLESS=1`.
fn assert_golden(path: &Path, actual: &str) {
    if std::env::var("GLANCE_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("golden file has a parent"))
            .expect("create golden directory");
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {} ({e}); create it with GLANCE_BLESS=1 cargo test rules::",
            path.display()
        )
    });
    if expected != actual {
        let first_difference = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} is out of date (first difference at line {}).\nexpected: {}\nactual:   {}\nIf the change is intended, regenerate with: GLANCE_BLESS=1 cargo test rules::",
            path.display(),
            first_difference + 1,
            expected
                .lines()
                .nth(first_difference)
                .unwrap_or("<end of file>"),
            actual
                .lines()
                .nth(first_difference)
                .unwrap_or("<end of file>"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

#[test]
fn every_semantic_problem_is_reported_with_its_path() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "unknown ad id",
            berlin_doc(json!([{"id": "r", "play": {"ad": "promoo"}}])),
            "$.rules[0].play.ad",
            "unknown ad id \"promoo\"; did you mean \"promo\"?",
        ),
        (
            "unknown ad in the loop",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"defaultLoop": ["loop-a", "nope"]}),
            ),
            "$.defaultLoop[1]",
            "unknown ad id \"nope\"",
        ),
        (
            "empty default loop",
            document_with("Europe/Berlin", json!([]), json!({"defaultLoop": []})),
            "$.defaultLoop",
            "the default loop is empty",
        ),
        (
            "duplicate ad id",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"ads": [
                    {"id": "x", "media": "x", "kind": "image", "durationS": 1},
                    {"id": "x", "media": "y", "kind": "image", "durationS": 1}
                ], "defaultLoop": ["x"]}),
            ),
            "$.ads[1].id",
            "duplicate ad id \"x\" (also $.ads[0])",
        ),
        (
            "bad time zone",
            document_with("Europe/Berlinn", json!([]), json!({})),
            "$.timeZone",
            "unknown time zone \"Europe/Berlinn\"",
        ),
        (
            "bad rule time zone",
            berlin_doc(json!([{"id": "r", "timeZone": "Mars/Olympus", "play": {"ad": "promo"}}])),
            "$.rules[0].timeZone",
            "unknown time zone",
        ),
        (
            "malformed time 25:00",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"dayparts": {"late": {"start": "25:00", "end": "02:00"}}}),
            ),
            "$.dayparts.late.start",
            "hours must be 00 to 23",
        ),
        (
            "malformed inline time",
            berlin_doc(
                json!([{"id": "r", "when": {"timeOfDay": {"start": "9:00", "end": "10:00"}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.timeOfDay.start",
            "write it as \"HH:MM\"",
        ),
        (
            "share above 1",
            berlin_doc(
                json!([{"id": "r", "when": {"all": [{"share": {"ageBands": ["18-24"], "op": "gte", "value": 50}}]}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.all[0].share.value",
            "a share is between 0 and 1, so 50 can never match (for 50% write 0.5)",
        ),
        (
            "between with min > max",
            berlin_doc(
                json!([{"id": "r", "when": {"groupSize": {"op": "between", "value": [5, 2]}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.groupSize.value",
            "min is greater than max",
        ),
        (
            "between without a list",
            berlin_doc(
                json!([{"id": "r", "when": {"present": {"op": "between", "value": 3}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.present.value",
            "between needs a list [min, max]",
        ),
        (
            "list for a single-value operator",
            berlin_doc(
                json!([{"id": "r", "when": {"present": {"op": "gte", "value": [1, 2]}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.present.value",
            "compares with one number",
        ),
        (
            "empty in",
            berlin_doc(
                json!([{"id": "r", "when": {"watchers": {"op": "in", "value": []}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.watchers.value",
            "in needs a non-empty list",
        ),
        (
            "fractional head count",
            berlin_doc(
                json!([{"id": "r", "when": {"count": {"op": "eq", "value": 1.5}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.count.value",
            "whole numbers",
        ),
        (
            "less than zero",
            berlin_doc(
                json!([{"id": "r", "when": {"watchers": {"op": "lt", "value": 0}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.watchers.value",
            "nothing is less than 0",
        ),
        (
            "share greater than 1",
            berlin_doc(
                json!([{"id": "r", "when": {"share": {"op": "gt", "value": 1}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.share.value",
            "a share is never greater than 1",
        ),
        (
            "negative distance",
            berlin_doc(
                json!([{"id": "r", "when": {"not": {"distanceM": {"op": "gte", "value": -1}}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.not.distanceM.value",
            "negative",
        ),
        (
            "unknown daypart",
            berlin_doc(
                json!([{"id": "r", "when": {"any": [{"daypart": "lunch"}]}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.any[0].daypart",
            "unknown daypart \"lunch\"",
        ),
        (
            "unknown age band",
            document_with(
                "Europe/Berlin",
                json!([{"id": "r", "when": {"share": {"ageBands": ["18-35"], "op": "gte", "value": 0.5}}, "play": {"ad": "promo"}}]),
                json!({"ageBands": ["18-24", "25-34"]}),
            ),
            "$.rules[0].when.share.ageBands[0]",
            "unknown age band \"18-35\"",
        ),
        (
            "empty all",
            berlin_doc(json!([{"id": "r", "when": {"all": []}, "play": {"ad": "promo"}}])),
            "$.rules[0].when.all",
            "needs at least one condition",
        ),
        (
            "empty days of week",
            berlin_doc(json!([{"id": "r", "when": {"daysOfWeek": []}, "play": {"ad": "promo"}}])),
            "$.rules[0].when.daysOfWeek",
            "at least one day",
        ),
        (
            "date range backwards",
            berlin_doc(
                json!([{"id": "r", "when": {"dateRange": {"from": "2025-12-24", "to": "2025-12-01"}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.dateRange",
            "is after",
        ),
        (
            "malformed date",
            berlin_doc(
                json!([{"id": "r", "when": {"dateRange": {"from": "2025-02-30"}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.dateRange.from",
            "is not a date",
        ),
        (
            "whole-day daypart",
            berlin_doc(
                json!([{"id": "r", "when": {"timeOfDay": {"start": "08:00", "end": "08:00"}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.timeOfDay",
            "whole day",
        ),
        (
            "duplicate rule id",
            berlin_doc(
                json!([{"id": "r", "play": {"ad": "promo"}}, {"id": "r", "play": {"ad": "other"}}]),
            ),
            "$.rules[1].id",
            "duplicate rule id \"r\"",
        ),
        (
            "cap of zero",
            berlin_doc(json!([{"id": "r", "play": {"ad": "promo"}, "caps": {"perHour": 0}}])),
            "$.rules[0].caps.perHour",
            "a cap of 0",
        ),
        (
            "zero weight",
            berlin_doc(json!([{"id": "r", "play": {"pick": [{"ad": "promo", "weight": 0}]}}])),
            "$.rules[0].play.pick[0].weight",
            "at least 1",
        ),
        (
            "empty pick",
            berlin_doc(json!([{"id": "r", "play": {"pick": []}}])),
            "$.rules[0].play.pick",
            "at least one ad",
        ),
        (
            "unknown tag",
            berlin_doc(json!([{"id": "r", "play": {"tagged": "menu"}}])),
            "$.rules[0].play.tagged",
            "no ad has the tag \"menu\"",
        ),
        (
            "share of voice as percent",
            berlin_doc(json!([{"id": "r", "play": {"ad": "promo"}, "shareOfVoice": 20}])),
            "$.rules[0].shareOfVoice",
            "(for 20% write 0.2)",
        ),
        (
            "share of voice over 100%",
            berlin_doc(json!([
                {"id": "a", "play": {"ad": "promo"}, "shareOfVoice": 0.7},
                {"id": "b", "play": {"ad": "other"}, "shareOfVoice": 0.6}
            ])),
            "$.rules",
            "add up to 1.300",
        ),
        (
            "negative cooldown",
            berlin_doc(json!([{"id": "r", "play": {"ad": "promo"}, "cooldownS": -5}])),
            "$.rules[0].cooldownS",
            "0 or more seconds",
        ),
        (
            "a script as media",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"ads": [{"id": "x", "media": "javascript:alert(1)", "kind": "image", "durationS": 5}], "defaultLoop": ["x"]}),
            ),
            "$.ads[0].media",
            "not \"javascript:\"",
        ),
        (
            "a script hidden by a tab",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"ads": [{"id": "x", "media": "java\tscript:alert(1)", "kind": "image", "durationS": 5}], "defaultLoop": ["x"]}),
            ),
            "$.ads[0].media",
            "control characters",
        ),
        (
            "an HTML data URL",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"ads": [{"id": "x", "media": "data:text/html,<script>alert(1)</script>", "kind": "html", "durationS": 5}], "defaultLoop": ["x"]}),
            ),
            "$.ads[0].media",
            "not \"data:\"",
        ),
        (
            "zero duration",
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"ads": [{"id": "x", "media": "x", "kind": "image", "durationS": 0}], "defaultLoop": ["x"]}),
            ),
            "$.ads[0].durationS",
            "duration must be from 0.001",
        ),
        (
            "overlapping dayparts with equal priority",
            document_with(
                "Europe/Berlin",
                json!([
                    {"id": "lunch", "priority": 5, "when": {"daypart": "lunch"}, "play": {"ad": "promo"}},
                    {"id": "noon", "priority": 5, "when": {"all": [{"present": {"op": "gte", "value": 1}}, {"timeOfDay": {"start": "12:30", "end": "15:00"}}]}, "play": {"ad": "other"}}
                ]),
                json!({"dayparts": {"lunch": {"start": "11:30", "end": "14:00"}}}),
            ),
            "$.rules[1].priority",
            "rule \"noon\" has the same priority (5) as rule \"lunch\" ($.rules[0]) and their dayparts overlap (e.g. Mon 12:30)",
        ),
        (
            "overlap across midnight",
            berlin_doc(json!([
                {"id": "night", "when": {"timeOfDay": {"start": "22:00", "end": "02:00", "days": ["fri"]}}, "play": {"ad": "promo"}},
                {"id": "saturday-early", "when": {"all": [{"daysOfWeek": ["sat"]}, {"timeOfDay": {"start": "01:00", "end": "05:00"}}]}, "play": {"ad": "other"}}
            ])),
            "$.rules[1].priority",
            "overlap (e.g. Sat 01:00)",
        ),
    ];
    for (name, doc, path, fragment) in cases {
        let error = invalid(&doc);
        let issues = error.issues();
        assert!(
            issues
                .iter()
                .any(|i| i.path == path && i.message.contains(fragment)),
            "{name}: expected {path} containing {fragment:?}, got {issues:#?}"
        );
    }
}

#[test]
fn playable_media_urls_are_accepted() {
    for media in [
        "https://cdn.example.com/a.png",
        "HTTP://cdn.example.com/a.png",
        "/ads/a.svg",
        "ads/b.webm?v=1:2",
        "//cdn.example.com/c.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:video/webm;base64,GkXfow==",
    ] {
        let doc = document_with(
            "Europe/Berlin",
            json!([]),
            json!({"ads": [{"id": "x", "media": media, "kind": "image", "durationS": 5}], "defaultLoop": ["x"]}),
        );
        assert!(parse_rules(&doc.to_string()).is_ok(), "{media} refused");
    }
}

#[test]
fn all_semantic_problems_are_returned_together() {
    let doc = document_with(
        "Nowhere/Special",
        json!([
            {"id": "a", "when": {"share": {"op": "gte", "value": 2}}, "play": {"ad": "missing"}},
            {"id": "a", "when": {"timeOfDay": {"start": "25:00", "end": "26:00"}}, "play": {"ad": "promo"}}
        ]),
        json!({"defaultLoop": []}),
    );
    let RulesError::Invalid(issues) = invalid(&doc) else {
        panic!("expected semantic errors");
    };
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "$.timeZone",
            "$.defaultLoop",
            "$.rules[0].when.share.value",
            "$.rules[0].play.ad",
            "$.rules[1].id",
            "$.rules[1].when.timeOfDay.start",
            "$.rules[1].when.timeOfDay.end",
        ]
    );
}

#[test]
fn rules_that_may_tie_are_accepted_when_they_cannot_overlap() {
    let docs = [
        // Same priority, different days.
        berlin_doc(json!([
            {"id": "weekday", "when": {"all": [{"daysOfWeek": ["mon", "tue"]}, {"timeOfDay": {"start": "11:00", "end": "14:00"}}]}, "play": {"ad": "promo"}},
            {"id": "weekend", "when": {"all": [{"daysOfWeek": ["sat"]}, {"timeOfDay": {"start": "11:00", "end": "14:00"}}]}, "play": {"ad": "other"}}
        ])),
        // Same priority, disjoint date ranges.
        berlin_doc(json!([
            {"id": "advent", "when": {"all": [{"dateRange": {"from": "2025-12-01", "to": "2025-12-24"}}, {"timeOfDay": {"start": "11:00", "end": "14:00"}}]}, "play": {"ad": "promo"}},
            {"id": "easter", "when": {"all": [{"dateRange": {"from": "2026-03-30", "to": "2026-04-06"}}, {"timeOfDay": {"start": "11:00", "end": "14:00"}}]}, "play": {"ad": "other"}}
        ])),
        // Overlapping, but different priorities.
        berlin_doc(json!([
            {"id": "a", "priority": 2, "when": {"timeOfDay": {"start": "11:00", "end": "14:00"}}, "play": {"ad": "promo"}},
            {"id": "b", "priority": 1, "when": {"timeOfDay": {"start": "12:00", "end": "15:00"}}, "play": {"ad": "other"}}
        ])),
        // Adjacent windows: end is exclusive.
        berlin_doc(json!([
            {"id": "a", "when": {"timeOfDay": {"start": "11:00", "end": "12:00"}}, "play": {"ad": "promo"}},
            {"id": "b", "when": {"timeOfDay": {"start": "12:00", "end": "13:00"}}, "play": {"ad": "other"}}
        ])),
        // One of them disabled.
        berlin_doc(json!([
            {"id": "a", "when": {"timeOfDay": {"start": "11:00", "end": "14:00"}}, "play": {"ad": "promo"}},
            {"id": "b", "enabled": false, "when": {"timeOfDay": {"start": "12:00", "end": "13:00"}}, "play": {"ad": "other"}}
        ])),
    ];
    for doc in docs {
        if let Err(e) = parse_rules(&doc.to_string()) {
            panic!("should be accepted: {e}\n{doc}");
        }
    }
}

#[test]
fn structural_errors_carry_the_path_of_the_offending_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            berlin_doc(
                json!([{"id": "r", "when": {"all": [{"share": {"op": "gte", "valu": 0.5}}]}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.all[0].share.valu",
            "unknown field \"valu\", expected one of \"among\", \"ageBands\", \"gender\", \"op\", \"value\"",
        ),
        (
            berlin_doc(json!([{"id": "r", "play": {"ad": "promo"}, "prority": 3}])),
            "$.rules[0].prority",
            "unknown field \"prority\"",
        ),
        (
            berlin_doc(json!([{"id": "r", "when": {"shares": {}}, "play": {"ad": "promo"}}])),
            "$.rules[0].when",
            "unknown variant \"shares\"",
        ),
        (
            berlin_doc(
                json!([{"id": "r", "when": {"present": {"op": "gte", "value": "two"}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.present.value",
            "value must be a number",
        ),
        (
            berlin_doc(
                json!([{"id": "r", "when": {"present": {"op": "greater", "value": 2}}, "play": {"ad": "promo"}}]),
            ),
            "$.rules[0].when.present.op",
            "unknown variant \"greater\"",
        ),
        (
            document_with(
                "Europe/Berlin",
                json!([]),
                json!({"ads": [{"id": "x", "media": "x", "kind": "gif", "durationS": 1}]}),
            ),
            "$.ads[0].kind",
            "unknown variant \"gif\"",
        ),
        (
            berlin_doc(json!([{"id": "r"}])),
            "$.rules[0]",
            "missing field \"play\"",
        ),
    ];
    for (doc, path, fragment) in cases {
        match invalid(&doc) {
            RulesError::Structure(issues) => assert!(
                issues
                    .iter()
                    .any(|i| i.path == path && i.message.contains(fragment)),
                "expected {path} containing {fragment:?}, got {issues:?}"
            ),
            other => panic!("expected a structural error at {path}, got {other}"),
        }
    }
}

#[test]
fn every_ad_and_rule_with_a_wrong_type_is_reported_at_once() {
    let doc = document_with(
        "Europe/Berlin",
        json!([{"id": "r", "priority": "high", "play": {"ad": "promo"}}]),
        json!({"ads": [
            {"id": "a", "media": "a.png", "kind": "image", "durationS": "ten"},
            {"id": "b", "media": "b.png", "kind": "image", "durationS": 10},
            {"id": "c", "media": 7, "kind": "image", "durationS": 10}
        ], "defaultLoop": ["a"]}),
    );
    match invalid(&doc) {
        RulesError::Structure(issues) => {
            let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "$.ads[0].durationS",
                    "$.ads[2].media",
                    "$.rules[0].priority"
                ],
                "{issues:?}"
            );
        }
        other => panic!("expected structural errors, got {other}"),
    }
    // Nesting past what the JSON reader follows is said as such.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let err = parse_rules(&deep).unwrap_err();
    assert!(
        matches!(err, RulesError::TooDeep { max: 128, .. })
            && err.to_string().contains("nests deeper"),
        "{err}"
    );
}

#[test]
fn versions_syntax_and_non_objects_are_rejected_plainly() {
    let unsupported = parse_rules(r#"{"version": 2, "futureField": true}"#).unwrap_err();
    assert!(
        matches!(&unsupported, RulesError::UnsupportedVersion { message } if message.contains("unsupported rules version 2")),
        "{unsupported}"
    );
    assert_eq!(unsupported.issues()[0].path, "$.version");
    let missing = parse_rules(r#"{"timeZone": "UTC"}"#).unwrap_err();
    assert!(
        missing.to_string().contains("missing \"version\""),
        "{missing}"
    );
    let syntax = parse_rules("{\n  \"version\": 1,\n  oops\n}").unwrap_err();
    assert!(
        matches!(syntax, RulesError::Syntax { line: 3, .. }),
        "{syntax:?}"
    );
    let array = parse_rules("[1, 2]").unwrap_err();
    assert!(matches!(array, RulesError::Structure { .. }), "{array:?}");
}

#[test]
fn invalid_fixture_reports_match_golden() {
    let dir = manifest_dir().join("tests/fixtures/rules");
    let text = std::fs::read_to_string(dir.join("invalid.rules.json")).expect("fixture");
    let issues = parse_rules(&text).expect_err("fixture is invalid").issues();
    assert!(
        issues.len() >= 8,
        "all problems reported, got {}",
        issues.len()
    );
    let mut actual = serde_json::to_string_pretty(&issues).expect("serialise");
    actual.push('\n');
    assert_golden(&dir.join("invalid.expected.json"), &actual);
}

// ---------------------------------------------------------------------------------------------
// Operators and audience conditions, end to end through parsing and decide

#[test]
fn every_operator_on_audience_metrics() {
    let young_share = |op: &str, value: Value| json!({"share": {"ageBands": ["18-24"], "op": op, "value": value}});
    let snapshot = AudienceSnapshot {
        timestamp_ms: 0.0,
        present: 4,
        watchers: 3,
        looking_now: 2,
        group_size: 3,
        longest_attention_s: 4.5,
        nearest_distance_m: Some(1.5),
        by_band_gender: vec![
            BandGenderCount {
                age_band: Some("18-24".into()),
                gender: Some(Gender::Female),
                present: 2,
                watchers: 2,
            },
            BandGenderCount {
                age_band: Some("45-54".into()),
                gender: Some(Gender::Male),
                present: 2,
                watchers: 1,
            },
        ],
        people: Vec::new(),
    };
    let cases: Vec<(Value, bool)> = vec![
        (json!({"present": {"op": "eq", "value": 4}}), true),
        (json!({"present": {"op": "eq", "value": 3}}), false),
        (json!({"watchers": {"op": "neq", "value": 3}}), false),
        (json!({"watchers": {"op": "neq", "value": 2}}), true),
        (json!({"lookingNow": {"op": "lt", "value": 2}}), false),
        (json!({"lookingNow": {"op": "lt", "value": 3}}), true),
        (json!({"groupSize": {"op": "lte", "value": 3}}), true),
        (json!({"groupSize": {"op": "lte", "value": 2}}), false),
        (json!({"attentionS": {"op": "gt", "value": 4.5}}), false),
        (json!({"attentionS": {"op": "gt", "value": 4}}), true),
        (json!({"distanceM": {"op": "gte", "value": 1.5}}), true),
        (json!({"distanceM": {"op": "gte", "value": 1.6}}), false),
        (
            json!({"groupSize": {"op": "between", "value": [3, 6]}}),
            true,
        ),
        (
            json!({"groupSize": {"op": "between", "value": [4, 6]}}),
            false,
        ),
        (json!({"watchers": {"op": "in", "value": [1, 3]}}), true),
        (json!({"watchers": {"op": "in", "value": [1, 2]}}), false),
        (young_share("gte", json!(0.66)), true),
        (young_share("gte", json!(0.67)), false),
        (young_share("eq", json!(0.6666666666666666)), true),
        (young_share("between", json!([0.5, 0.7])), true),
        (
            json!({"share": {"among": "present", "ageBands": ["18-24"], "op": "eq", "value": 0.5}}),
            true,
        ),
        (
            json!({"share": {"gender": "male", "op": "lt", "value": 0.34}}),
            true,
        ),
        (
            json!({"count": {"among": "present", "gender": "male", "op": "eq", "value": 2}}),
            true,
        ),
        (
            json!({"count": {"gender": "male", "op": "eq", "value": 2}}),
            false,
        ),
        (
            json!({"not": {"present": {"op": "gte", "value": 1}}}),
            false,
        ),
        (
            json!({"any": [{"present": {"op": "eq", "value": 0}}, {"watchers": {"op": "eq", "value": 3}}]}),
            true,
        ),
        (
            json!({"all": [{"present": {"op": "eq", "value": 4}}, {"watchers": {"op": "eq", "value": 2}}]}),
            false,
        ),
    ];
    for (condition, expected) in cases {
        let mut engine = new_engine(&berlin_doc(
            json!([{"id": "r", "when": condition, "play": {"ad": "promo"}}]),
        ));
        let decision = engine.decide(&snapshot, local("Europe/Berlin", "2025-11-24T12:00"));
        assert_eq!(rule_id(&decision) == Some("r"), expected, "{condition}");
    }
}

#[test]
fn undefined_values_never_match_and_show_as_null() {
    let mut engine = new_engine(&berlin_doc(json!([
        {"id": "share", "when": {"share": {"op": "lte", "value": 1}}, "play": {"ad": "promo"}},
        {"id": "distance", "when": {"distanceM": {"op": "lt", "value": 100}}, "play": {"ad": "other"}},
        {"id": "not-share", "priority": -1, "when": {"not": {"share": {"op": "gte", "value": 0}}}, "play": {"ad": "third"}}
    ])));
    let decision = engine.decide(&nobody(), 0);
    assert_eq!(
        rule_id(&decision),
        Some("not-share"),
        "a share of nobody is undefined, so not(...) holds"
    );
    assert_eq!(decision.reason.conditions[0].actual, Value::Null);
    assert!(!decision.reason.conditions[0].held);
}

#[test]
fn reason_lists_conditions_with_actual_values() {
    let mut engine = new_engine(&berlin_doc(json!([{
        "id": "young",
        "priority": 7,
        "when": {"all": [
            {"watchers": {"op": "gte", "value": 2}},
            {"share": {"ageBands": ["18-24"], "op": "gte", "value": 0.5}}
        ]},
        "play": {"ad": "promo"}
    }])));
    let snapshot = AudienceSnapshot {
        by_band_gender: vec![BandGenderCount {
            age_band: Some("18-24".into()),
            gender: None,
            present: 2,
            watchers: 2,
        }],
        ..watchers(3)
    };
    let decision = engine.decide(&snapshot, local("Europe/Berlin", "2025-11-24T12:00"));
    let as_json = serde_json::to_value(&decision).expect("serialise");
    assert_eq!(as_json["adId"], "promo");
    assert_eq!(as_json["durationMs"], 15000);
    assert_eq!(
        as_json["source"],
        json!({"type": "rule", "ruleId": "young", "priority": 7})
    );
    assert_eq!(
        as_json["reason"]["conditions"],
        json!([
            {"path": "$.rules[0].when.all[0]", "condition": "watchers", "actual": 3, "op": "gte", "expected": 2.0, "held": true},
            {"path": "$.rules[0].when.all[1]", "condition": "share of watchers in 18-24", "actual": 0.666667, "op": "gte", "expected": 0.5, "held": true}
        ])
    );
    assert_eq!(
        decision.reason.summary,
        "rule \"young\" (priority 7) matched: watchers = 3 (≥ 2.0); share of watchers in 18-24 = 0.666667 (≥ 0.5)"
    );
    assert_eq!(
        decision.reason.local_time,
        "Mon 2025-11-24 12:00:00 Europe/Berlin"
    );
}

// ---------------------------------------------------------------------------------------------
// Clock: dayparts, midnight wrap, DST, days, dates

/// Whether a rule with `when` in zone `zone` matches at each UTC instant.
fn matches_at(zone: &str, when: Value, instants: &[(&str, bool)]) {
    let mut engine = new_engine(&document_with(
        zone,
        json!([{"id": "r", "when": when, "play": {"ad": "promo"}}]),
        json!({}),
    ));
    for (instant, expected) in instants {
        let decision = engine.decide(&watchers(1), utc(instant));
        assert_eq!(
            rule_id(&decision) == Some("r"),
            *expected,
            "{zone} {when} at {instant} ({})",
            decision.reason.local_time
        );
    }
}

#[test]
fn daypart_wrapping_midnight() {
    matches_at(
        "Europe/Berlin",
        json!({"timeOfDay": {"start": "22:00", "end": "02:00"}}),
        &[
            ("2025-11-24T20:59:59Z", false), // 21:59:59 CET
            ("2025-11-24T21:00:00Z", true),  // 22:00
            ("2025-11-24T22:59:59Z", true),  // 23:59:59
            ("2025-11-24T23:00:00Z", true),  // 00:00 next day
            ("2025-11-25T00:59:59Z", true),  // 01:59:59
            ("2025-11-25T01:00:00Z", false), // 02:00, end exclusive
        ],
    );
    // Starting days: a Friday-night window includes early Saturday but not early Friday.
    matches_at(
        "Europe/Berlin",
        json!({"timeOfDay": {"start": "22:00", "end": "02:00", "days": ["fri"]}}),
        &[
            ("2025-11-28T00:30:00Z", false), // Fri 01:30
            ("2025-11-28T21:30:00Z", true),  // Fri 22:30
            ("2025-11-29T00:30:00Z", true),  // Sat 01:30
            ("2025-11-29T21:30:00Z", false), // Sat 22:30
        ],
    );
}

#[test]
fn dayparts_across_dst_in_berlin() {
    // Spring forward, 2025-03-30: 02:00 CET becomes 03:00 CEST; 02:xx never exists.
    matches_at(
        "Europe/Berlin",
        json!({"timeOfDay": {"start": "02:00", "end": "03:00"}}),
        &[
            ("2025-03-30T00:59:59Z", false), // 01:59:59 CET
            ("2025-03-30T01:00:00Z", false), // 03:00 CEST
            ("2025-03-31T00:30:00Z", true),  // next day 02:30 CEST
        ],
    );
    matches_at(
        "Europe/Berlin",
        json!({"timeOfDay": {"start": "01:30", "end": "03:30"}}),
        &[
            ("2025-03-30T00:29:59Z", false), // 01:29:59 CET
            ("2025-03-30T00:30:00Z", true),  // 01:30 CET
            ("2025-03-30T01:29:59Z", true),  // 03:29:59 CEST: one real hour after 01:30
            ("2025-03-30T01:30:00Z", false), // 03:30 CEST
        ],
    );
    // Fall back, 2025-10-26: 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
    matches_at(
        "Europe/Berlin",
        json!({"timeOfDay": {"start": "02:15", "end": "02:45"}}),
        &[
            ("2025-10-26T00:10:00Z", false), // 02:10 CEST
            ("2025-10-26T00:30:00Z", true),  // 02:30 CEST
            ("2025-10-26T01:00:00Z", false), // 02:00 CET
            ("2025-10-26T01:30:00Z", true),  // 02:30 CET, the second time
            ("2025-10-26T01:45:00Z", false), // 02:45 CET
        ],
    );
}

#[test]
fn dayparts_across_dst_in_new_york() {
    // Spring forward, 2025-03-09: 02:00 EST becomes 03:00 EDT.
    matches_at(
        "America/New_York",
        json!({"timeOfDay": {"start": "01:00", "end": "03:00"}}),
        &[
            ("2025-03-09T05:59:59Z", false), // 00:59:59 EST
            ("2025-03-09T06:00:00Z", true),  // 01:00 EST
            ("2025-03-09T06:59:59Z", true),  // 01:59:59 EST
            ("2025-03-09T07:00:00Z", false), // 03:00 EDT: the window lasted one real hour
        ],
    );
    // Fall back, 2025-11-02: 02:00 EDT becomes 01:00 EST; 01:xx happens twice.
    matches_at(
        "America/New_York",
        json!({"timeOfDay": {"start": "01:00", "end": "02:00"}}),
        &[
            ("2025-11-02T04:59:59Z", false), // 00:59:59 EDT
            ("2025-11-02T05:00:00Z", true),  // 01:00 EDT
            ("2025-11-02T06:00:00Z", true),  // 01:00 EST
            ("2025-11-02T06:59:59Z", true),  // 01:59:59 EST: two real hours in the window
            ("2025-11-02T07:00:00Z", false), // 02:00 EST
        ],
    );
}

#[test]
fn days_of_week_and_date_ranges_use_local_dates() {
    // 23:30 UTC on Sunday is already Monday in Berlin.
    matches_at(
        "Europe/Berlin",
        json!({"daysOfWeek": ["mon"]}),
        &[
            ("2025-11-23T22:59:59Z", false),
            ("2025-11-23T23:00:00Z", true),
            ("2025-11-24T22:59:59Z", true),
            ("2025-11-24T23:00:00Z", false),
        ],
    );
    matches_at(
        "America/New_York",
        json!({"dateRange": {"from": "2025-12-01", "to": "2025-12-24"}}),
        &[
            ("2025-12-01T04:59:59Z", false), // Nov 30, 23:59:59 EST
            ("2025-12-01T05:00:00Z", true),
            ("2025-12-25T04:59:59Z", true), // Dec 24, 23:59:59 EST, inclusive
            ("2025-12-25T05:00:00Z", false),
        ],
    );
    matches_at(
        "Europe/Berlin",
        json!({"dateRange": {"to": "2025-01-31"}}),
        &[
            ("2025-01-31T22:59:59Z", true),
            ("2025-01-31T23:00:00Z", false),
        ],
    );
}

#[test]
fn named_dayparts_and_rule_time_zone_override() {
    let doc = document_with(
        "Europe/Berlin",
        json!([
            {"id": "ny-morning", "priority": 2, "timeZone": "America/New_York", "when": {"daypart": "morning"}, "play": {"ad": "promo"}},
            {"id": "berlin-morning", "priority": 1, "when": {"daypart": "morning"}, "play": {"ad": "other"}}
        ]),
        json!({"dayparts": {"morning": {"start": "08:00", "end": "10:00"}}}),
    );
    let mut engine = new_engine(&doc);
    // 08:30 in Berlin is 02:30 in New York.
    let decision = engine.decide(&watchers(1), utc("2025-11-24T07:30:00Z"));
    assert_eq!(rule_id(&decision), Some("berlin-morning"));
    // 08:30 in New York is 14:30 in Berlin.
    let decision = engine.decide(&watchers(1), utc("2025-11-24T13:30:00Z"));
    assert_eq!(rule_id(&decision), Some("ny-morning"));
    assert_eq!(
        decision.reason.conditions[0].actual,
        json!("Mon 2025-11-24 08:30:00")
    );
}

#[test]
fn extreme_clock_values_do_not_panic() {
    for zone in [
        "Europe/Berlin",
        "America/New_York",
        "Pacific/Kiritimati",
        "UTC",
    ] {
        let mut engine = new_engine(&document_with(
            zone,
            json!([{"id": "r", "when": {"timeOfDay": {"start": "22:00", "end": "02:00"}}, "play": {"ad": "promo"}}]),
            json!({}),
        ));
        for now in [
            i64::MIN,
            -8_334_632_851_200_001,
            0,
            8_210_298_412_800_000,
            i64::MAX,
        ] {
            let decision = engine.decide(&watchers(1), now);
            engine.ad_started(&decision.ad_id, now);
            let _ = engine.should_interrupt(&watchers(1), now.saturating_add(10_000));
            engine.ad_ended(&decision.ad_id, now.saturating_add(10_000), true);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Caps, cooldowns, priorities

#[test]
fn per_hour_cap_is_a_rolling_sixty_minutes() {
    let mut engine = new_engine(&berlin_doc(json!([
        {"id": "r", "play": {"ad": "promo"}, "caps": {"perHour": 2}}
    ])));
    let t0 = local("Europe/Berlin", "2025-11-24T10:00");
    let cases: &[(i64, bool)] = &[
        (t0, true),
        (t0 + 10 * MINUTE, true),
        (t0 + 20 * MINUTE, false),
        (t0 + HOUR - 1, false), // the first play is still within the last 60 minutes
        (t0 + HOUR, true),      // ...and now it is not
        (t0 + HOUR + MINUTE, false),
        (t0 + HOUR + 10 * MINUTE, true),
    ];
    for (at, expected) in cases {
        let decision = play(&mut engine, &watchers(1), *at);
        assert_eq!(
            rule_id(&decision) == Some("r"),
            *expected,
            "at +{} ms: {}",
            at - t0,
            decision.reason.summary
        );
        if !expected {
            assert!(
                matches!(
                    decision.reason.skipped[0].reason,
                    RuleSkipReason::RuleCap {
                        window: CapWindow::Hour,
                        limit: 2,
                        count: 2
                    }
                ),
                "{:?}",
                decision.reason.skipped
            );
        }
    }
}

#[test]
fn per_day_cap_resets_at_local_midnight_including_dst_days() {
    let doc = document_with(
        "Europe/Berlin",
        json!([{"id": "r", "play": {"ad": "promo"}}]),
        json!({"ads": [
            {"id": "loop-a", "media": "a", "kind": "image", "durationS": 10},
            {"id": "promo", "media": "p", "kind": "video", "durationS": 15, "caps": {"perDay": 2}}
        ], "defaultLoop": ["loop-a"]}),
    );
    let mut engine = new_engine(&doc);
    // 2025-03-30 has 23 hours in Berlin: it starts 2025-03-29T23:00Z and ends 2025-03-30T22:00Z.
    let cases: &[(&str, bool)] = &[
        ("2025-03-29T22:30:00Z", true),  // Sat 23:30 CET
        ("2025-03-29T23:00:00Z", true),  // Sun 00:00: new day
        ("2025-03-30T03:00:00Z", true),  // Sun 05:00 CEST
        ("2025-03-30T21:59:59Z", false), // Sun 23:59:59 CEST: cap of 2 reached
        ("2025-03-30T22:00:00Z", true),  // Mon 00:00 CEST
    ];
    for (instant, expected) in cases {
        let decision = play(&mut engine, &watchers(1), utc(instant));
        assert_eq!(
            decision.ad_id == "promo",
            *expected,
            "{instant}: {}",
            decision.reason.summary
        );
        if !expected {
            assert_eq!(
                decision.reason.skipped[0].reason,
                RuleSkipReason::AdCap {
                    ad_id: "promo".into(),
                    window: CapWindow::Day,
                    limit: 2,
                    count: 2
                }
            );
            assert_eq!(decision.ad_id, "loop-a", "falls back to the loop");
        }
    }
}

#[test]
fn ad_caps_count_plays_from_any_source() {
    // "promo" is both in the loop and played by a rule; its cap counts both.
    let doc = document_with(
        "Europe/Berlin",
        json!([{"id": "r", "when": {"watchers": {"op": "gte", "value": 1}}, "play": {"ad": "promo"}}]),
        json!({"ads": [
            {"id": "loop-a", "media": "a", "kind": "image", "durationS": 10},
            {"id": "promo", "media": "p", "kind": "video", "durationS": 15, "caps": {"perHour": 2}}
        ], "defaultLoop": ["promo", "loop-a"]}),
    );
    let mut engine = new_engine(&doc);
    let t0 = local("Europe/Berlin", "2025-11-24T10:00");
    assert_eq!(play(&mut engine, &nobody(), t0).ad_id, "promo"); // loop
    assert_eq!(play(&mut engine, &watchers(1), t0 + MINUTE).ad_id, "promo"); // rule
    let blocked = play(&mut engine, &watchers(1), t0 + 2 * MINUTE);
    assert_eq!(blocked.ad_id, "loop-a");
    // The loop skips the capped ad too.
    assert_eq!(
        play(&mut engine, &nobody(), t0 + 3 * MINUTE).ad_id,
        "loop-a"
    );
}

#[test]
fn when_every_loop_ad_is_capped_the_loop_plays_on() {
    let doc = document_with(
        "UTC",
        json!([]),
        json!({"ads": [
            {"id": "only", "media": "a", "kind": "image", "durationS": 10, "caps": {"perHour": 1}}
        ], "defaultLoop": ["only"]}),
    );
    let mut engine = new_engine(&doc);
    assert_eq!(play(&mut engine, &nobody(), 0).ad_id, "only");
    let decision = play(&mut engine, &nobody(), MINUTE);
    assert_eq!(decision.ad_id, "only");
    assert!(
        decision.reason.summary.contains("these limits are ignored"),
        "{}",
        decision.reason.summary
    );
}

#[test]
fn cooldown_is_measured_from_the_last_trigger() {
    let mut engine = new_engine(&berlin_doc(json!([
        {"id": "r", "play": {"ad": "third"}, "cooldownS": 60}
    ])));
    let t0 = 1_000_000;
    let cases: &[(i64, Option<i64>)] = &[
        (t0, None),
        (t0 + 30_000, Some(30_000)),
        (t0 + 59_999, Some(1)),
        (t0 + 60_000, None),
    ];
    for (at, remaining) in cases {
        let decision = play(&mut engine, &watchers(1), *at);
        match remaining {
            None => assert_eq!(rule_id(&decision), Some("r"), "at {at}"),
            Some(remaining_ms) => {
                assert_eq!(rule_id(&decision), None, "at {at}");
                assert_eq!(
                    decision.reason.skipped[0].reason,
                    RuleSkipReason::Cooldown {
                        cooldown_ms: 60_000,
                        remaining_ms: *remaining_ms
                    }
                );
            }
        }
    }
}

#[test]
fn priority_then_document_order_decides_ties() {
    let rules = |first: &str, second: &str, first_priority: i32| {
        json!([
            {"id": first, "priority": first_priority, "when": {"watchers": {"op": "gte", "value": 1}}, "play": {"ad": "promo"}},
            {"id": second, "priority": 3, "when": {"present": {"op": "gte", "value": 1}}, "play": {"ad": "other"}}
        ])
    };
    let cases: &[(&str, &str, i32, &str)] = &[
        ("a", "b", 3, "a"), // tie: first listed wins
        ("b", "a", 3, "b"), // tie: first listed wins, whatever the id
        ("a", "b", 2, "b"), // higher priority wins regardless of order
        ("a", "b", 4, "a"),
    ];
    for (first, second, priority, winner) in cases {
        let mut engine = new_engine(&berlin_doc(rules(first, second, *priority)));
        let decision = engine.decide(&watchers(1), 0);
        assert_eq!(
            rule_id(&decision),
            Some(*winner),
            "{first},{second} @ {priority}"
        );
        let loser = if winner == first { second } else { first };
        assert_eq!(
            decision.reason.skipped,
            vec![SkippedRule {
                rule_id: loser.to_string(),
                priority: if loser == first { *priority } else { 3 },
                reason: RuleSkipReason::Outranked {
                    by_rule_id: winner.to_string()
                },
                message: format!("matched but rule \"{winner}\" ranks higher"),
            }]
        );
    }
}

#[test]
fn only_the_first_ten_outranked_rules_are_listed() {
    let rules: Vec<Value> = (0..25)
        .map(|i| json!({"id": format!("r{i}"), "priority": 100 - i, "play": {"ad": "promo"}}))
        .collect();
    let mut engine = new_engine(&berlin_doc(Value::from(rules)));
    let decision = engine.decide(&watchers(1), 0);
    assert_eq!(rule_id(&decision), Some("r0"));
    let listed: Vec<&str> = decision
        .reason
        .skipped
        .iter()
        .map(|s| s.rule_id.as_str())
        .collect();
    assert_eq!(
        listed,
        (1..=10).map(|i| format!("r{i}")).collect::<Vec<_>>()
    );
    assert_eq!(decision.reason.outranked_not_listed, 14);
}

#[test]
fn share_of_voice_deficit_breaks_priority_ties() {
    let mut engine = new_engine(&berlin_doc(json!([
        {"id": "first", "play": {"ad": "promo"}},
        {"id": "behind", "play": {"ad": "other"}, "shareOfVoice": 0.5}
    ])));
    let t0 = local("Europe/Berlin", "2025-11-24T10:00");
    // "behind" starts with a deficit of 0.5 and wins despite being listed second.
    let d1 = play(&mut engine, &watchers(1), t0);
    assert_eq!(rule_id(&d1), Some("behind"));
    // After 20 s of "other" out of 20 s total it is ahead (deficit -0.5) and ranks last.
    let d2 = play(&mut engine, &watchers(1), t0 + 20_000);
    assert_eq!(rule_id(&d2), Some("first"));
    // 20 s of 35 s is 57% > 50%: still ahead, "first" again.
    let d3 = play(&mut engine, &watchers(1), t0 + 35_000);
    assert_eq!(rule_id(&d3), Some("first"));
    // 20 of 50 s is 40% < 50%: behind again.
    let d4 = play(&mut engine, &watchers(1), t0 + 50_000);
    assert_eq!(rule_id(&d4), Some("behind"));
}

#[test]
fn a_rule_at_its_share_of_voice_target_sits_out_even_with_higher_priority() {
    let mut engine = new_engine(&berlin_doc(json!([
        {"id": "booked", "priority": 2, "play": {"ad": "promo"}, "shareOfVoice": 0.5},
        {"id": "filler", "priority": 1, "play": {"ad": "third"}}
    ])));
    let t0 = local("Europe/Berlin", "2025-11-24T10:00");
    assert_eq!(
        rule_id(&play(&mut engine, &watchers(1), t0)),
        Some("booked")
    );
    let held_back = play(&mut engine, &watchers(1), t0 + 15_000);
    assert_eq!(rule_id(&held_back), Some("filler"));
    assert_eq!(
        held_back.reason.skipped[0].reason,
        RuleSkipReason::ShareOfVoiceReached {
            target: 0.5,
            achieved: 1.0
        }
    );
    // 15 s of 20 s is still 75%; after three more 5 s fillers it is 15 of 35 s, below 50%.
    for k in 0..3 {
        let at = t0 + 20_000 + k * 5_000;
        assert_eq!(
            rule_id(&play(&mut engine, &watchers(1), at)),
            Some("filler")
        );
    }
    assert_eq!(
        rule_id(&play(&mut engine, &watchers(1), t0 + 35_000)),
        Some("booked")
    );
}

#[test]
fn ads_at_their_share_of_voice_target_sit_out_of_picks() {
    let doc = document_with(
        "UTC",
        json!([{"id": "r", "play": {"pick": [{"ad": "a"}, {"ad": "b"}]}}]),
        json!({"ads": [
            {"id": "a", "media": "a", "kind": "image", "durationS": 10, "shareOfVoice": 0.2},
            {"id": "b", "media": "b", "kind": "image", "durationS": 10},
            {"id": "c", "media": "c", "kind": "image", "durationS": 10}
        ], "defaultLoop": ["c"]}),
    );
    let mut engine = new_engine(&doc);
    let first = play(&mut engine, &watchers(1), 0);
    assert_eq!(first.ad_id, "a");
    // "a" now has 100% of today's time, above its 20%: the pick takes "b" and says why.
    let second = play(&mut engine, &watchers(1), 10_000);
    assert_eq!(second.ad_id, "b");
    let candidates = &second.reason.pick.as_ref().expect("pick trace").candidates;
    assert_eq!(
        candidates
            .iter()
            .map(|c| (c.ad_id.as_str(), c.blocked))
            .collect::<Vec<_>>(),
        vec![("a", true), ("b", false)]
    );
}

#[test]
fn default_loop_rotates_and_catches_up_on_share_of_voice() {
    let doc = document_with(
        "UTC",
        json!([]),
        json!({"ads": [
            {"id": "a", "media": "a", "kind": "image", "durationS": 10},
            {"id": "b", "media": "b", "kind": "image", "durationS": 10},
            {"id": "c", "media": "c", "kind": "image", "durationS": 10, "shareOfVoice": 0.5}
        ], "defaultLoop": ["a", "b", "c"]}),
    );
    let mut engine = new_engine(&doc);
    let mut sequence = Vec::new();
    let mut t = 0;
    for _ in 0..8 {
        sequence.push(play(&mut engine, &nobody(), t).ad_id);
        t += 10_000;
    }
    // c catches up whenever it is below 50%; otherwise the loop goes on in order.
    // Catch-up plays are inserted without moving the loop on, so a and b keep alternating.
    assert_eq!(sequence, vec!["c", "a", "b", "c", "a", "c", "b", "c"]);
}

#[test]
fn weighted_pick_and_tagged_rotation_are_deterministic() {
    let doc = document_with(
        "UTC",
        json!([{"id": "w", "play": {"pick": [{"ad": "a", "weight": 3}, {"ad": "b"}]}}]),
        json!({"ads": [
            {"id": "a", "media": "a", "kind": "image", "durationS": 10, "tags": ["t"]},
            {"id": "b", "media": "b", "kind": "image", "durationS": 10, "tags": ["t"]},
            {"id": "c", "media": "c", "kind": "image", "durationS": 10, "tags": ["t"]}
        ], "defaultLoop": ["c"]}),
    );
    let mut engine = new_engine(&doc);
    // decide without ad_started does not advance the rotation.
    assert_eq!(engine.decide(&watchers(1), 0).ad_id, "a");
    assert_eq!(engine.decide(&watchers(1), 0).ad_id, "a");
    let sequence: Vec<String> = (0..8)
        .map(|i| play(&mut engine, &watchers(1), i * 10_000).ad_id)
        .collect();
    assert_eq!(sequence, vec!["a", "a", "b", "a", "a", "a", "b", "a"]);

    let mut doc = doc;
    doc["rules"] = json!([{"id": "t", "play": {"tagged": "t"}}]);
    let mut engine = new_engine(&doc);
    let sequence: Vec<String> = (0..6)
        .map(|i| play(&mut engine, &watchers(1), i * 10_000).ad_id)
        .collect();
    assert_eq!(sequence, vec!["a", "b", "c", "a", "b", "c"]);
}

// ---------------------------------------------------------------------------------------------
// Interrupts

#[test]
fn interrupts_need_minimum_time_higher_priority_and_permission() {
    let doc = berlin_doc(json!([
        {"id": "high", "priority": 10, "when": {"watchers": {"op": "gte", "value": 3}}, "play": {"ad": "promo"}},
        {"id": "polite", "priority": 20, "canInterrupt": false, "when": {"watchers": {"op": "eq", "value": 2}}, "play": {"ad": "other"}},
        {"id": "low", "priority": 5, "when": {"watchers": {"op": "eq", "value": 1}}, "play": {"ad": "third"}, "minOnScreenS": 2}
    ]));
    let mut engine = new_engine(&doc);
    let t0 = 0;
    // Nothing on screen: nothing to interrupt.
    assert!(engine.should_interrupt(&watchers(3), t0).is_none());
    let loop_ad = engine.decide(&nobody(), t0);
    engine.ad_started(&loop_ad.ad_id, t0);
    // Before the default minimum of 5 s nothing interrupts.
    assert!(engine.should_interrupt(&watchers(3), t0 + 4_999).is_none());
    // A rule that may not interrupt does not.
    assert!(engine.should_interrupt(&watchers(2), t0 + 5_000).is_none());
    let interrupt = engine
        .should_interrupt(&watchers(3), t0 + 5_000)
        .expect("a rule outranks the loop");
    assert_eq!(rule_id(&interrupt), Some("high"));
    let trace = interrupt
        .reason
        .interrupts
        .as_ref()
        .expect("interrupt trace");
    assert_eq!(
        (trace.ad_id.as_str(), trace.on_screen_ms),
        ("loop-a", 5_000)
    );
    engine.ad_ended("loop-a", t0 + 5_000, false);
    engine.ad_started("promo", t0 + 5_000);
    // Equal or lower priority never interrupts.
    assert!(engine.should_interrupt(&watchers(3), t0 + 15_000).is_none());
    assert!(engine.should_interrupt(&watchers(1), t0 + 15_000).is_none());
    // After the higher rule's ad, the low rule plays with its own minimum time of 2 s.
    engine.ad_ended("promo", t0 + 20_000, true);
    let low = engine.decide(&watchers(1), t0 + 20_000);
    assert_eq!((rule_id(&low), low.min_on_screen_ms), (Some("low"), 2_000));
    engine.ad_started(&low.ad_id, t0 + 20_000);
    assert!(engine.should_interrupt(&watchers(3), t0 + 21_999).is_none());
    assert_eq!(
        engine
            .should_interrupt(&watchers(3), t0 + 22_000)
            .map(|d| d.ad_id),
        Some("promo".to_string())
    );
}

#[test]
fn no_interrupt_for_the_ad_already_on_screen() {
    let doc = document_with(
        "UTC",
        json!([{"id": "r", "when": {"watchers": {"op": "gte", "value": 1}}, "play": {"ad": "loop-a"}}]),
        json!({}),
    );
    let mut engine = new_engine(&doc);
    let loop_ad = engine.decide(&nobody(), 0);
    assert_eq!(loop_ad.ad_id, "loop-a");
    engine.ad_started("loop-a", 0);
    assert!(engine.should_interrupt(&watchers(1), 6_000).is_none());
}

// ---------------------------------------------------------------------------------------------
// Hot swap

#[test]
fn set_rules_validates_first_and_keeps_history_by_id() {
    let capped = |rule_id: &str| {
        berlin_doc(json!([
            {"id": rule_id, "play": {"ad": "promo"}, "caps": {"perHour": 1}, "cooldownS": 600}
        ]))
    };
    let mut engine = new_engine(&capped("r"));
    let t0 = local("Europe/Berlin", "2025-11-24T10:00");
    assert_eq!(rule_id(&play(&mut engine, &watchers(1), t0)), Some("r"));

    // A bad document changes nothing.
    let error = engine.set_rules(r#"{"version": 1, "timeZone": "Nope/Nope"}"#);
    assert!(error.is_err());
    assert_eq!(engine.rules().document().rules[0].id, "r");

    // Same ids: the cap still applies after the swap.
    engine.set_rules(&capped("r").to_string()).expect("valid");
    let decision = play(&mut engine, &watchers(1), t0 + MINUTE);
    assert_eq!(rule_id(&decision), None);
    assert_eq!(decision.reason.skipped[0].rule_id, "r");

    // A renamed rule starts fresh.
    engine
        .set_rules(&capped("renamed").to_string())
        .expect("valid");
    assert_eq!(
        rule_id(&play(&mut engine, &watchers(1), t0 + 2 * MINUTE)),
        Some("renamed")
    );
}

#[test]
fn ads_the_engine_did_not_decide_are_tracked_but_count_for_nothing() {
    let mut engine = new_engine(&berlin_doc(json!([
        {"id": "r", "priority": 1, "play": {"ad": "promo"}, "caps": {"perHour": 1}}
    ])));
    engine.ad_started("unknown-ad", 0);
    assert_eq!(engine.now_playing(), Some("unknown-ad"));
    // Playing "promo" manually counts towards the ad but not the rule.
    engine.ad_started("promo", 1_000);
    engine.ad_ended("promo", 16_000, true);
    assert_eq!(rule_id(&engine.decide(&watchers(1), 20_000)), Some("r"));
    let plays: Vec<(String, bool)> = engine
        .recent_plays()
        .map(|p| (p.ad_id.clone(), p.completed))
        .collect();
    assert_eq!(
        plays,
        vec![
            ("unknown-ad".to_string(), false),
            ("promo".to_string(), true)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Simulator

fn examples_dir() -> PathBuf {
    manifest_dir().join("examples/rules")
}

#[test]
fn simulator_golden_outputs_of_the_shipped_examples() {
    for timeline in ["weekday", "saturday-night", "dst-night"] {
        let mut output = Vec::new();
        let summary = run_simulate_cli(
            &examples_dir().join("mall.rules.json"),
            &examples_dir().join(format!("{timeline}.timeline.jsonl")),
            &mut output,
        )
        .unwrap_or_else(|e| panic!("{timeline}: {e}"));
        assert!(summary.plays > 0 && !summary.truncated, "{timeline}");
        let text = String::from_utf8(output).expect("utf-8");
        assert_golden(
            &manifest_dir().join(format!("tests/fixtures/rules/{timeline}.expected.jsonl")),
            &text,
        );
    }
}

#[test]
fn simulated_plays_tile_the_timeline_without_gaps() {
    let rules = parse_rules(
        &std::fs::read_to_string(examples_dir().join("mall.rules.json")).expect("example"),
    )
    .expect("valid");
    let timeline_text =
        std::fs::read_to_string(examples_dir().join("weekday.timeline.jsonl")).expect("example");
    let timeline = parse_timeline(&timeline_text, rules.time_zone()).expect("valid timeline");
    let report = simulate(&rules, &timeline);
    let first = timeline.first().expect("steps").t_ms;
    let last = timeline.last().expect("steps").t_ms;
    assert_eq!(report.plays.first().map(|p| p.at_ms), Some(first));
    assert_eq!(report.plays.last().map(|p| p.ended_at_ms), Some(last));
    for pair in report.plays.windows(2) {
        assert_eq!(pair[0].ended_at_ms, pair[1].at_ms, "contiguous");
        assert!(pair[0].on_screen_ms <= pair[0].decision.duration_ms);
        assert_eq!(
            pair[0].completed,
            pair[0].on_screen_ms == pair[0].decision.duration_ms
        );
        assert_eq!(pair[0].interrupted_by.is_some(), !pair[0].completed);
    }
    let seconds: f64 = report.summary.ads.values().map(|a| a.seconds).sum();
    assert!((seconds - report.summary.simulated_s).abs() < 1e-6);
    // Every feature the example timeline is meant to show actually happened.
    let rules_played: std::collections::BTreeSet<&str> = report
        .plays
        .iter()
        .filter_map(|p| rule_id(&p.decision))
        .collect();
    for rule in [
        "crowd-watching",
        "young-groups",
        "families",
        "close-women-35-plus",
        "lunch-menu",
        "passers-by",
    ] {
        assert!(rules_played.contains(rule), "{rule} never played");
    }
    assert!(report.summary.interrupts > 0);
    assert!(report.summary.caps_hit > 0);
    assert!(report.summary.cooldowns_hit > 0);
    assert!(report.summary.default_loop.plays > 0);
    // The simulation is deterministic.
    assert_eq!(simulate(&rules, &timeline), report);
}

#[test]
fn timeline_lines_are_validated_with_line_numbers() {
    let berlin = tz("Europe/Berlin");
    let both = format!(
        "{{\"t\": 1, \"audience\": {{}}, \"snapshot\": {}}}",
        serde_json::to_string(&AudienceSnapshot::default()).expect("serialise")
    );
    let cases: &[(&str, usize, &str)] = &[
        ("{\"t\": 5}\n{\"t\": 4}", 2, "time goes backwards"),
        ("# comment\n\n{\"t\": \"noon\"}", 3, "is not a time"),
        (
            "{\"t\": 1, \"audience\": {\"watcher\": 2}}",
            1,
            "unknown field",
        ),
        (&both, 1, "not both"),
        ("{\"t\": true}", 1, "\"t\" must be UTC milliseconds"),
        ("# only comments", 0, "no lines"),
        (
            // Two lines 8,000 years apart once wrote 223 MB of default-loop plays.
            "{\"t\": \"2025-01-01T00:00\"}\n{\"t\": \"2025-01-31T00:00\"}\n{\"t\": \"2025-03-01T00:00\"}",
            3,
            "at most 31 days",
        ),
    ];
    for (text, line, fragment) in cases {
        match parse_timeline(text, berlin) {
            Err(RulesError::Timeline { line: l, message }) => {
                assert!(
                    l == *line && message.contains(fragment),
                    "{text}: line {l}: {message}"
                )
            }
            other => panic!("{text}: expected a timeline error, got {other:?}"),
        }
    }
    let steps = parse_timeline(
        "{\"t\": \"2025-11-24T12:00\", \"audience\": {\"byBandGender\": [{\"ageBand\": \"18-24\", \"watchers\": 2}, {\"present\": 1}]}}\n{\"t\": \"2025-11-24T11:30:00Z\"}",
        berlin,
    )
    .expect("valid");
    assert_eq!(
        steps[0].t_ms,
        utc("2025-11-24T11:00:00Z"),
        "local time in the rules' zone"
    );
    let s = &steps[0].snapshot;
    assert_eq!(
        (s.present, s.watchers, s.group_size, s.looking_now),
        (3, 2, 3, 0)
    );
    assert_eq!(steps[1].snapshot.watchers, 2, "audience carries over");
}

// ---------------------------------------------------------------------------------------------
// Schema and examples

#[test]
fn committed_schema_matches_the_rust_types() {
    assert_golden(
        &examples_dir().join("glance-rules.schema.json"),
        &rules_json_schema(),
    );
    let schema: Value = serde_json::from_str(&rules_json_schema()).expect("schema is JSON");
    assert_eq!(schema["additionalProperties"], json!(false));
    assert!(schema["properties"]["defaultLoop"].is_object());
}

#[test]
fn example_rules_round_trip_through_the_types() {
    let text = std::fs::read_to_string(examples_dir().join("mall.rules.json")).expect("example");
    let rules = parse_rules(&text).expect("the example is valid");
    let again = serde_json::to_string(rules.document()).expect("serialise");
    let reparsed = parse_rules(&again).expect("re-serialised document is valid");
    assert_eq!(reparsed.document(), rules.document());
}

// ---------------------------------------------------------------------------------------------
// No panics on any input (the fuzz target's property, run on stable)

// proptest is a native-only dev-dependency (the wasm32 tests run in a browser).
#[cfg(not(target_arch = "wasm32"))]
mod no_panic {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::super::*;
    use crate::audience::{AudienceSnapshot, BandGenderCount};

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-5i64..10).prop_map(Value::from),
            (-2.0f64..3.0).prop_map(Value::from),
            Just(json!(1e300)),
        ]
    }

    fn comparison() -> impl Strategy<Value = Value> {
        let op = prop::sample::select(vec![
            "eq", "neq", "lt", "lte", "gt", "gte", "between", "in", "bad",
        ]);
        let value = prop_oneof![
            number(),
            prop::collection::vec(number(), 0..4).prop_map(Value::from)
        ];
        (op, value).prop_map(|(op, value)| json!({"op": op, "value": value}))
    }

    fn time() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u32..26, 0u32..62).prop_map(|(h, m)| Value::from(format!("{h:02}:{m:02}"))),
            any::<String>().prop_map(Value::from),
        ]
    }

    fn condition() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            comparison().prop_map(|c| json!({"present": c})),
            comparison().prop_map(|c| json!({"watchers": c})),
            comparison().prop_map(|c| json!({"groupSize": c})),
            comparison().prop_map(|c| json!({"distanceM": c})),
            (
                comparison(),
                prop::sample::select(vec!["watchers", "present"]),
                prop::sample::select(vec!["18-24", "x", ""])
            )
                .prop_map(|(c, among, band)| {
                    let mut c = c;
                    c["among"] = json!(among);
                    c["ageBands"] = json!([band]);
                    json!({"share": c})
                }),
            (
                time(),
                time(),
                prop::collection::vec(prop::sample::select(vec!["mon", "fri", "sun"]), 0..3)
            )
                .prop_map(
                    |(s, e, days)| json!({"timeOfDay": {"start": s, "end": e, "days": days}})
                ),
            prop::sample::select(vec!["lunch", "nope"]).prop_map(|d| json!({"daypart": d})),
            prop::collection::vec(prop::sample::select(vec!["mon", "sat"]), 0..3)
                .prop_map(|d| json!({"daysOfWeek": d})),
            (any::<Option<u8>>(), any::<Option<u8>>()).prop_map(|(a, b)| json!({"dateRange": {
                "from": a.map(|d| format!("2025-12-{:02}", d % 35)),
                "to": b.map(|d| format!("2025-12-{:02}", d % 35))
            }})),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"all": v})),
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| json!({"any": v})),
                inner.prop_map(|c| json!({"not": c})),
            ]
        })
    }

    fn rule() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["r1", "r2", "r3", ""]),
            -2i32..3,
            prop::option::of(condition()),
            prop_oneof![
                prop::sample::select(vec!["a", "b", "zz"]).prop_map(|a| json!({"ad": a})),
                prop::collection::vec((prop::sample::select(vec!["a", "b"]), 0u32..4), 0..3)
                    .prop_map(|v| json!({"pick": v.into_iter().map(|(ad, weight)| json!({"ad": ad, "weight": weight})).collect::<Vec<_>>()})),
                prop::sample::select(vec!["t", "none"]).prop_map(|t| json!({"tagged": t})),
            ],
            prop::option::of((0u32..3, 0u32..3)),
            prop::option::of(-1.0f64..100.0),
            prop::option::of(0.0f64..1.5),
            any::<bool>(),
        )
            .prop_map(|(id, priority, when, play, caps, cooldown, sov, can_interrupt)| {
                let mut rule = json!({"id": id, "priority": priority, "play": play, "canInterrupt": can_interrupt});
                if let Some(when) = when {
                    rule["when"] = when;
                }
                if let Some((h, d)) = caps {
                    rule["caps"] = json!({"perHour": h, "perDay": d});
                }
                if let Some(c) = cooldown {
                    rule["cooldownS"] = json!(c);
                }
                if let Some(s) = sov {
                    rule["shareOfVoice"] = json!(s);
                }
                rule
            })
    }

    fn document() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["Europe/Berlin", "America/New_York", "UTC", "Bad/Zone"]),
            prop::collection::vec(rule(), 0..5),
            prop::sample::select(vec![vec!["a"], vec!["a", "b"], vec![], vec!["zz"]]),
            (0.0f64..30.0, prop::option::of(1u32..3)),
        )
            .prop_map(|(tz, rules, default_loop, (duration, cap))| {
                json!({
                    "version": 1,
                    "timeZone": tz,
                    "dayparts": {"lunch": {"start": "11:30", "end": "14:00"}},
                    "ads": [
                        {"id": "a", "media": "a", "kind": "image", "durationS": duration, "tags": ["t"], "caps": {"perHour": cap}},
                        {"id": "b", "media": "b", "kind": "video", "durationS": 10}
                    ],
                    "defaultLoop": default_loop,
                    "rules": rules
                })
            })
    }

    fn snapshot() -> impl Strategy<Value = AudienceSnapshot> {
        (
            0u32..6,
            0u32..6,
            0u32..6,
            prop::option::of(0.0f32..10.0),
            0u32..4,
        )
            .prop_map(
                |(present, watchers, group, distance, young)| AudienceSnapshot {
                    present,
                    watchers,
                    looking_now: watchers,
                    group_size: group,
                    longest_attention_s: 3.0,
                    nearest_distance_m: distance,
                    by_band_gender: vec![BandGenderCount {
                        age_band: Some("18-24".into()),
                        gender: None,
                        present: young,
                        watchers: young,
                    }],
                    ..AudienceSnapshot::default()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = parse_rules(&text);
            let _ = parse_timeline(&text, chrono_tz::Tz::UTC);
        }

        #[test]
        fn mutated_json_never_panics(doc in document(), cut in 0usize..2000) {
            // Truncated documents exercise the syntax-error path at every position.
            let text = doc.to_string();
            let end = (0..=cut.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            let _ = parse_rules(&text[..end]);
        }

        #[test]
        fn documents_of_the_right_shape_validate_or_run_without_panicking(
            doc in document(),
            snapshots in prop::collection::vec(snapshot(), 1..6),
            start in -4_000_000_000_000i64..4_000_000_000_000i64,
            steps in prop::collection::vec(0i64..200_000, 1..6),
        ) {
            if let Ok(rules) = parse_rules(&doc.to_string()) {
                let mut engine = Scheduler::new(rules.clone());
                let mut now = start;
                for (snapshot, step) in snapshots.iter().zip(steps.iter().cycle()) {
                    let decision = engine.decide(snapshot, now);
                    prop_assert!(rules.document().ads.iter().any(|ad| ad.id == decision.ad_id));
                    engine.ad_started(&decision.ad_id, now);
                    now += step;
                    let _ = engine.should_interrupt(snapshot, now);
                    engine.ad_ended(&decision.ad_id, now, false);
                }
                let timeline: Vec<TimelineStep> = snapshots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| TimelineStep { t_ms: start + i as i64 * 30_000, snapshot: s.clone() })
                    .collect();
                let report = simulate(&rules, &timeline);
                prop_assert_eq!(report.summary.simulated_s, (timeline.len() as f64 - 1.0) * 30.0);
            }
        }
    }
}
