//! Evaluating compiled conditions against a snapshot and the clock: a fast path for every rule,
//! and a traced path (every leaf with its actual value) for the rule that wins a decision.

use chrono_tz::Tz;
use serde::Serialize;

use super::clock::LocalClock;
use super::document::{Among, Operator};
use super::validate::{Cmp, Cond, CondKind, Metric, days_text};
use crate::audience::{AudienceSnapshot, BandGenderCount};

/// One leaf condition of the winning rule, with the value it saw.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionTrace {
    /// JSON path of the condition in the rules document.
    pub path: String,
    /// What was measured, in words ("share of watchers in 18-24, 25-34").
    pub condition: String,
    /// The measured value (number, local time text, or null when undefined, e.g. a share of an
    /// empty audience).
    pub actual: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<Operator>,
    pub expected: serde_json::Value,
    /// Whether this leaf held (inside a `not`, a leaf that did not hold makes the `not` hold).
    pub held: bool,
}

/// Everything a condition may look at. Clocks in zones other than the document's are computed on
/// first use and cached for the decision.
pub(crate) struct EvalContext<'a> {
    pub snapshot: &'a AudienceSnapshot,
    pub now_ms: i64,
    pub doc_tz: Tz,
    pub doc_clock: LocalClock,
    other_clocks: Vec<(Tz, LocalClock)>,
}

impl<'a> EvalContext<'a> {
    pub fn new(snapshot: &'a AudienceSnapshot, now_ms: i64, doc_tz: Tz) -> Self {
        Self {
            snapshot,
            now_ms,
            doc_tz,
            doc_clock: LocalClock::at(doc_tz, now_ms),
            other_clocks: Vec::new(),
        }
    }

    pub fn clock(&mut self, tz: Option<Tz>) -> LocalClock {
        match tz {
            None => self.doc_clock,
            Some(tz) if tz == self.doc_tz => self.doc_clock,
            Some(tz) => {
                if let Some((_, clock)) = self.other_clocks.iter().find(|(z, _)| *z == tz) {
                    return *clock;
                }
                let clock = LocalClock::at(tz, self.now_ms);
                self.other_clocks.push((tz, clock));
                clock
            }
        }
    }
}

fn metric_value(metric: Metric, snapshot: &AudienceSnapshot) -> Option<f64> {
    Some(match metric {
        Metric::Present => f64::from(snapshot.present),
        Metric::Watchers => f64::from(snapshot.watchers),
        Metric::LookingNow => f64::from(snapshot.looking_now),
        Metric::GroupSize => f64::from(snapshot.group_size),
        Metric::AttentionS => f64::from(snapshot.longest_attention_s),
        Metric::DistanceM => f64::from(snapshot.nearest_distance_m?),
    })
}

/// Count (or share) of the audience in the given bands/gender. `None` for a share of nobody.
fn audience_value(
    snapshot: &AudienceSnapshot,
    share: bool,
    among: Among,
    age_bands: &[String],
    gender: Option<crate::analysis::Gender>,
) -> Option<f64> {
    let matching: u32 = snapshot
        .by_band_gender
        .iter()
        .filter(|cell| {
            (age_bands.is_empty()
                || cell
                    .age_band
                    .as_deref()
                    .is_some_and(|band| age_bands.iter().any(|b| b == band)))
                && (gender.is_none() || cell.gender == gender)
        })
        .map(|cell| among_count(cell, among))
        .sum();
    if !share {
        return Some(f64::from(matching));
    }
    // The snapshot's totals are the denominator, so people whose band or gender is unknown
    // count as "not in the band" rather than being ignored.
    let total = match among {
        Among::Watchers => snapshot.watchers,
        Among::Present => snapshot.present,
    };
    (total > 0).then(|| (f64::from(matching) / f64::from(total)).min(1.0))
}

/// People (among watchers or those present) that a band or gender filter cannot place: their
/// band or gender is unknown, so the filter does not count them.
fn unknown_to_filter(
    snapshot: &AudienceSnapshot,
    among: Among,
    age_bands: &[String],
    gender: Option<crate::analysis::Gender>,
) -> u32 {
    snapshot
        .by_band_gender
        .iter()
        .filter(|c| {
            (!age_bands.is_empty() && c.age_band.is_none())
                || (gender.is_some() && c.gender.is_none())
        })
        .map(|c| among_count(c, among))
        .sum()
}

/// A cell's watchers or people present, as the condition counts them.
fn among_count(cell: &BandGenderCount, among: Among) -> u32 {
    match among {
        Among::Watchers => cell.watchers,
        Among::Present => cell.present,
    }
}

fn dates_hold(
    clock: &LocalClock,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> bool {
    from.is_none_or(|f| clock.date >= f) && to.is_none_or(|t| clock.date <= t)
}

/// Fast evaluation, short-circuiting, no allocation.
pub(crate) fn holds(cond: &Cond, ctx: &mut EvalContext<'_>, tz: Option<Tz>) -> bool {
    match &cond.kind {
        CondKind::All(children) => children.iter().all(|c| holds(c, ctx, tz)),
        CondKind::Any(children) => children.iter().any(|c| holds(c, ctx, tz)),
        CondKind::Not(inner) => !holds(inner, ctx, tz),
        CondKind::Metric(metric, cmp) => {
            metric_value(*metric, ctx.snapshot).is_some_and(|v| cmp.holds(v))
        }
        CondKind::Audience {
            share,
            among,
            age_bands,
            gender,
            cmp,
        } => audience_value(ctx.snapshot, *share, *among, age_bands, *gender)
            .is_some_and(|v| cmp.holds(v)),
        CondKind::Window { window, .. } => window.contains(&ctx.clock(tz)),
        CondKind::Days(days) => days & (1 << ctx.clock(tz).weekday) != 0,
        CondKind::Dates { from, to } => dates_hold(&ctx.clock(tz), *from, *to),
    }
}

/// Full evaluation recording every leaf (no short-circuit, so the reason shows all values).
pub(crate) fn holds_traced(
    cond: &Cond,
    ctx: &mut EvalContext<'_>,
    tz: Option<Tz>,
    out: &mut Vec<ConditionTrace>,
) -> bool {
    match &cond.kind {
        // Collected first so every child is evaluated (and traced), unlike `all`/`any`.
        CondKind::All(children) => {
            let results: Vec<bool> = children
                .iter()
                .map(|c| holds_traced(c, ctx, tz, out))
                .collect();
            results.into_iter().all(|held| held)
        }
        CondKind::Any(children) => {
            let results: Vec<bool> = children
                .iter()
                .map(|c| holds_traced(c, ctx, tz, out))
                .collect();
            results.into_iter().any(|held| held)
        }
        CondKind::Not(inner) => !holds_traced(inner, ctx, tz, out),
        _ => {
            let leaf = leaf(&cond.kind, ctx, tz);
            let held = leaf.held;
            out.push(ConditionTrace {
                path: cond.path.clone(),
                condition: leaf.condition,
                actual: leaf.actual,
                op: leaf.cmp.map(|c| c.op),
                expected: leaf.cmp.map(Cmp::expected_json).unwrap_or(leaf.expected),
                held,
            });
            held
        }
    }
}

/// A leaf condition's verdict and what it compared: the trace's matter.
struct Leaf<'a> {
    condition: String,
    actual: serde_json::Value,
    /// The comparison of a metric or audience leaf (it gives the expected value).
    cmp: Option<&'a Cmp>,
    /// What a clock leaf expected.
    expected: serde_json::Value,
    held: bool,
}

/// Evaluates a leaf (`all`, `any` and `not` are no leaves).
fn leaf<'a>(kind: &'a CondKind, ctx: &mut EvalContext<'_>, tz: Option<Tz>) -> Leaf<'a> {
    let clock_leaf = |condition: String, actual: String, expected: String, held: bool| Leaf {
        condition,
        actual: serde_json::Value::from(actual),
        cmp: None,
        expected: serde_json::Value::from(expected),
        held,
    };
    match kind {
        CondKind::All(_) | CondKind::Any(_) | CondKind::Not(_) => {
            unreachable!("holds_traced evaluates all, any and not itself")
        }
        CondKind::Metric(metric, cmp) => {
            let value = metric_value(*metric, ctx.snapshot);
            Leaf {
                condition: metric.name().to_string(),
                actual: json_number(value),
                cmp: Some(cmp),
                expected: serde_json::Value::Null,
                held: value.is_some_and(|v| cmp.holds(v)),
            }
        }
        CondKind::Audience {
            share,
            among,
            age_bands,
            gender,
            cmp,
        } => {
            let value = audience_value(ctx.snapshot, *share, *among, age_bands, *gender);
            let unknown = unknown_to_filter(ctx.snapshot, *among, age_bands, *gender);
            Leaf {
                condition: audience_description(*share, *among, age_bands, *gender, unknown),
                actual: json_number(value.map(|v| (v * 1e6).round() / 1e6)),
                cmp: Some(cmp),
                expected: serde_json::Value::Null,
                held: value.is_some_and(|v| cmp.holds(v)),
            }
        }
        CondKind::Window { name, window } => {
            let clock = ctx.clock(tz);
            let label = match name {
                Some(name) => format!("daypart \"{name}\""),
                None => "time of day".to_string(),
            };
            let held = window.contains(&clock);
            clock_leaf(label, clock.describe(), window.describe(), held)
        }
        CondKind::Days(days) => {
            let clock = ctx.clock(tz);
            let held = days & (1 << clock.weekday) != 0;
            let day = "day of week".to_string();
            clock_leaf(day, clock.describe(), days_text(*days), held)
        }
        CondKind::Dates { from, to } => {
            let clock = ctx.clock(tz);
            let held = dates_hold(&clock, *from, *to);
            let text = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
            let expected = format!("{}..{}", text(*from), text(*to));
            clock_leaf("date".to_string(), clock.date.to_string(), expected, held)
        }
    }
}

/// "share of watchers female in 18-24 (2 of unknown age band or gender not counted)".
fn audience_description(
    share: bool,
    among: Among,
    age_bands: &[String],
    gender: Option<crate::analysis::Gender>,
    unknown: u32,
) -> String {
    let mut who = Vec::new();
    if let Some(g) = gender {
        who.push(format!("{g:?}").to_lowercase());
    }
    if !age_bands.is_empty() {
        who.push(format!("in {}", age_bands.join(", ")));
    }
    format!(
        "{} of {}{}{}{}",
        if share { "share" } else { "count" },
        match among {
            Among::Watchers => "watchers",
            Among::Present => "people present",
        },
        if who.is_empty() { "" } else { " " },
        who.join(" "),
        if unknown > 0 {
            format!(" ({unknown} of unknown age band or gender not counted)")
        } else {
            String::new()
        }
    )
}

fn json_number(value: Option<f64>) -> serde_json::Value {
    value
        .and_then(serde_json::Number::from_f64)
        .map(|n| {
            // Whole numbers print as integers ("3", not "3.0") for readability.
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15)
            {
                serde_json::Value::from(n.as_f64().unwrap_or_default() as i64)
            } else {
                serde_json::Value::Number(n)
            }
        })
        .unwrap_or(serde_json::Value::Null)
}

/// "share of watchers in 18-24 = 0.67 (≥ 0.5)" for one-line summaries.
pub(crate) fn describe_trace(trace: &ConditionTrace) -> String {
    match trace.op {
        Some(op) => format!(
            "{} = {} ({} {})",
            trace.condition,
            trace.actual,
            op.symbol(),
            trace.expected
        ),
        None => format!(
            "{} {} (window {})",
            trace.condition,
            trace.actual.as_str().unwrap_or_default(),
            trace.expected.as_str().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Gender;
    use crate::audience::BandGenderCount;

    fn cmp(op: Operator, list: &[f64]) -> Cmp {
        Cmp {
            op,
            list: list.to_vec(),
        }
    }

    #[test]
    fn every_operator_at_its_edges() {
        use Operator::*;
        let cases: &[(Operator, &[f64], f64, bool)] = &[
            (Eq, &[2.0], 2.0, true),
            (Eq, &[2.0], 3.0, false),
            (Eq, &[1.0 / 3.0], 0.333_333_333_333, true),
            (Neq, &[2.0], 2.0, false),
            (Neq, &[2.0], 1.0, true),
            (Lt, &[2.0], 1.0, true),
            (Lt, &[2.0], 2.0, false),
            (Lte, &[2.0], 2.0, true),
            (Lte, &[2.0], 2.5, false),
            (Gt, &[2.0], 2.0, false),
            (Gt, &[2.0], 2.5, true),
            (Gte, &[2.0], 2.0, true),
            (Gte, &[2.0], 1.9, false),
            (Between, &[1.0, 3.0], 1.0, true),
            (Between, &[1.0, 3.0], 3.0, true),
            (Between, &[1.0, 3.0], 0.9, false),
            (Between, &[1.0, 3.0], 3.1, false),
            (Between, &[2.0, 2.0], 2.0, true),
            (In, &[1.0, 3.0], 3.0, true),
            (In, &[1.0, 3.0], 2.0, false),
        ];
        for (op, list, actual, expected) in cases {
            assert_eq!(
                cmp(*op, list).holds(*actual),
                *expected,
                "{op:?} {list:?} with {actual}"
            );
        }
    }

    fn cell(band: &str, gender: Gender, present: u32, watchers: u32) -> BandGenderCount {
        BandGenderCount {
            age_band: Some(band.to_string()),
            gender: Some(gender),
            present,
            watchers,
        }
    }

    #[test]
    fn shares_and_counts_among_watchers_and_present() {
        let snapshot = AudienceSnapshot {
            present: 5,
            watchers: 4,
            by_band_gender: vec![
                cell("18-24", Gender::Female, 2, 2),
                cell("25-34", Gender::Male, 1, 1),
                cell("45-54", Gender::Male, 1, 1),
                BandGenderCount {
                    age_band: None,
                    gender: None,
                    present: 1,
                    watchers: 0,
                },
            ],
            ..AudienceSnapshot::default()
        };
        let young = vec!["18-24".to_string(), "25-34".to_string()];
        let value = |share, among, bands: &[String], gender| {
            audience_value(&snapshot, share, among, bands, gender)
        };
        assert_eq!(value(true, Among::Watchers, &young, None), Some(0.75));
        assert_eq!(value(true, Among::Present, &young, None), Some(0.6));
        assert_eq!(value(false, Among::Present, &young, None), Some(3.0));
        assert_eq!(
            value(false, Among::Watchers, &[], Some(Gender::Male)),
            Some(2.0)
        );
        assert_eq!(
            value(true, Among::Watchers, &young, Some(Gender::Female)),
            Some(0.5)
        );
        // "Men 25-34" counts only people known to be both; the unknown one is named, not counted.
        assert_eq!(
            value(false, Among::Present, &young[1..], Some(Gender::Male)),
            Some(1.0)
        );
        assert_eq!(
            unknown_to_filter(&snapshot, Among::Present, &young[1..], Some(Gender::Male)),
            1
        );
        assert_eq!(
            unknown_to_filter(&snapshot, Among::Watchers, &young, None),
            0
        );
        assert_eq!(unknown_to_filter(&snapshot, Among::Present, &[], None), 0);
        let empty = AudienceSnapshot::default();
        assert_eq!(
            audience_value(&empty, true, Among::Watchers, &young, None),
            None,
            "a share of nobody is undefined"
        );
        assert_eq!(
            audience_value(&empty, false, Among::Watchers, &young, None),
            Some(0.0)
        );
    }

    /// The traced evaluator (run for the winning rule, to explain it) and the fast one (run for
    /// every rule) must never disagree: random condition trees over every kind of leaf, random
    /// audiences and times. The trace also names every leaf once, short-circuit or not.
    /// (proptest is a native-only dev-dependency: the wasm32 tests run in a browser.)
    #[cfg(not(target_arch = "wasm32"))]
    mod traced_agrees_with_fast {
        use super::super::*;
        use crate::analysis::Gender;
        use crate::rules::RuleSet;
        use proptest::prelude::*;
        use serde_json::{Value, json};

        const BANDS: [&str; 3] = ["18-24", "25-34", "35-44"];

        /// Values on a grid of `step` (whole numbers for counts of people), so `eq` and `in`
        /// meet the measured values.
        fn comparison(step: f64) -> impl Strategy<Value = (String, Value)> {
            let ops = ["eq", "neq", "lt", "lte", "gt", "gte", "between", "in"];
            (0..ops.len(), prop::collection::vec(0..8u32, 1..4)).prop_map(move |(op, steps)| {
                let values: Vec<f64> = steps.iter().map(|&v| f64::from(v) * step).collect();
                let value = match ops[op] {
                    // Nothing is less than 0: the validator refuses a condition that never holds.
                    "lt" => json!(values[0].max(step)),
                    "between" => {
                        let (a, b) = (values[0], values[values.len() - 1]);
                        json!([a.min(b), a.max(b)])
                    }
                    "in" => json!(values),
                    _ => json!(values[0]),
                };
                (ops[op].to_string(), value)
            })
        }

        fn metric_leaf() -> impl Strategy<Value = Value> {
            let counts =
                prop::sample::select(vec!["present", "watchers", "lookingNow", "groupSize"]);
            let measures = prop::sample::select(vec!["attentionS", "distanceM"]);
            prop_oneof![(counts, comparison(1.0)), (measures, comparison(0.5))]
                .prop_map(|(metric, (op, value))| json!({ metric: {"op": op, "value": value} }))
        }

        fn audience_leaf() -> impl Strategy<Value = Value> {
            (
                any::<bool>(),
                any::<bool>(),
                prop::sample::subsequence(BANDS.to_vec(), 0..=3),
                prop::option::of(prop::sample::select(vec!["female", "male"])),
                comparison(1.0),
                comparison(1.0 / 8.0),
            )
                .prop_map(|(share, present, bands, gender, count_cmp, share_cmp)| {
                    let (op, value) = if share { share_cmp } else { count_cmp };
                    let mut filter = json!({
                        "among": if present { "present" } else { "watchers" },
                        "ageBands": bands,
                        "op": op,
                        "value": value,
                    });
                    if let Some(gender) = gender {
                        filter["gender"] = json!(gender);
                    }
                    json!({ if share { "share" } else { "count" }: filter })
                })
        }

        fn clock_leaf() -> impl Strategy<Value = Value> {
            let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            prop_oneof![
                // Windows of 15 minutes to 23 h 45 (one from a time to itself is refused),
                // across midnight or not.
                (0..96u32, 1..96u32).prop_map(|(start, length)| {
                    let at = |q: u32| format!("{:02}:{:02}", q / 4, q % 4 * 15);
                    json!({"timeOfDay": {"start": at(start), "end": at((start + length) % 96)}})
                }),
                Just(json!({"daypart": "lunch"})),
                prop::sample::subsequence(days.to_vec(), 1..=7)
                    .prop_map(|d| json!({"daysOfWeek": d})),
                (1..15u32, 0..6u32).prop_map(|(from, span)| json!({
                    "dateRange": {
                        "from": format!("2026-12-{from:02}"),
                        "to": format!("2026-12-{:02}", from + span),
                    }
                })),
            ]
        }

        fn condition() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![metric_leaf(), audience_leaf(), clock_leaf()];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4).prop_map(|c| json!({"all": c})),
                    prop::collection::vec(inner.clone(), 1..4).prop_map(|c| json!({"any": c})),
                    inner.prop_map(|c| json!({"not": c})),
                ]
            })
        }

        fn leaves(condition: &Value) -> usize {
            match condition.as_object().and_then(|o| o.iter().next()) {
                Some((key, Value::Array(children))) if key == "all" || key == "any" => {
                    children.iter().map(leaves).sum()
                }
                Some((key, inner)) if key == "not" => leaves(inner),
                _ => 1,
            }
        }

        fn audience() -> impl Strategy<Value = AudienceSnapshot> {
            let cell = (
                prop::option::of(prop::sample::select(BANDS.to_vec())),
                prop::option::of(prop::sample::select(vec![Gender::Female, Gender::Male])),
                0..3u32,
                0..3u32,
            )
                .prop_map(|(band, gender, present, watchers)| BandGenderCount {
                    age_band: band.map(str::to_string),
                    gender,
                    present: present + watchers,
                    watchers,
                });
            (
                prop::collection::vec(cell, 0..5),
                0..4u32,
                0..12u32,
                prop::option::of(0..12u32),
            )
                .prop_map(|(cells, looking, attention, distance)| {
                    let present: u32 = cells.iter().map(|c| c.present).sum();
                    let watchers: u32 = cells.iter().map(|c| c.watchers).sum();
                    AudienceSnapshot {
                        present,
                        watchers,
                        looking_now: looking.min(watchers),
                        group_size: present.min(3),
                        longest_attention_s: attention as f32 / 2.0,
                        nearest_distance_m: distance.map(|d| d as f32 / 2.0),
                        by_band_gender: cells,
                        ..AudienceSnapshot::default()
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn on_any_condition_audience_and_time(
                when in condition(),
                snapshot in audience(),
                // Local times across two weeks of December 2026, by the quarter hour.
                quarter in 0..(14 * 96i64),
            ) {
                let document = json!({
                    "version": 1,
                    "timeZone": "Europe/Paris",
                    "ads": [{"id": "a", "media": "a.png", "kind": "image", "durationS": 5}],
                    "defaultLoop": ["a"],
                    "dayparts": {"lunch": {"start": "11:30", "end": "14:00"}},
                    "rules": [{"id": "r", "when": when, "play": {"ad": "a"}}],
                });
                let rules = RuleSet::from_json(&document.to_string());
                prop_assert!(rules.is_ok(), "{when}: {:?}", rules.err());
                let rules = rules.unwrap();
                let cond = rules.rules[0].when.as_ref().unwrap();
                // 2026-12-01 00:00 UTC.
                let now_ms = 1_796_083_200_000 + quarter * 15 * 60_000;
                let fast = holds(cond, &mut EvalContext::new(&snapshot, now_ms, rules.time_zone), None);
                let mut trace = Vec::new();
                let mut ctx = EvalContext::new(&snapshot, now_ms, rules.time_zone);
                let traced = holds_traced(cond, &mut ctx, None, &mut trace);
                prop_assert_eq!(fast, traced, "{}", when);
                prop_assert_eq!(trace.len(), leaves(&when), "{}", when);
            }
        }
    }
}
