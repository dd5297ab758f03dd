#![cfg(not(target_arch = "wasm32"))]
//! The fuzz targets' properties (`fuzz/fuzz_targets`), run on stable in every test run: the y4m
//! reader, the options and configuration documents, `restoreState` and the simulator's timeline
//! give a result or an error on any input, never a panic, and what they accept round-trips.

use std::io::Cursor;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Value, json};

use glance::audience::{AudienceAggregator, AudienceConfig, ReportOptions};
use glance::engine::EngineOptions;
use glance::media::Y4mReader;
use glance::rules::{RuleSet, parse_timeline, simulate};

const SAVED_STATE: &str = include_str!("../www/tests/fixtures/audience-state.json");
const MALL_RULES: &str = include_str!("../examples/rules/mall.rules.json");
const WEEKDAY: &str = include_str!("../examples/rules/weekday.timeline.jsonl");

// ---------------------------------------------------------------------------------------------
// y4m

fn side() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => (1u64..9).prop_map(|n| n.to_string()),
        1 => select(vec!["0", "16385", "4294967296", "18446744073709551616", "-4", "", "8x"])
            .prop_map(String::from),
    ]
}

/// Bytes of one frame's planes for a header's sides and colour space, where they are sane.
fn planes_len(width: &str, height: &str, colour: &str) -> Option<usize> {
    let (w, h): (usize, usize) = (width.parse().ok()?, height.parse().ok()?);
    let chroma = match colour {
        " Cmono" => 0,
        " C444" => w * h,
        " C422" => w.div_ceil(2) * h,
        _ => w.div_ceil(2) * h.div_ceil(2),
    };
    (w <= 8 && h <= 8).then_some(w * h + 2 * chroma)
}

/// Headers a camera or a hostile file may give, frames of the right size (mostly) or not, the
/// clip cut somewhere now and then.
fn y4m_clip() -> impl Strategy<Value = Vec<u8>> {
    let header = (
        side(),
        side(),
        prop_oneof![
            4 => select(vec!["10:1", "30000:1001", "1000:1"]),
            1 => select(vec!["0:0", "1:0", "1:4294967295", "x"]),
        ],
        select(vec![
            " C420",
            " C420jpeg",
            " C422",
            " C444",
            " Cmono",
            "",
            " C420p10",
            " C411",
        ]),
        select(vec!["", " Ip", " A1:1", " XYSCSS=420", " W2", " H3"]),
    );
    let frame = (
        prop_oneof![
            6 => select(vec!["FRAME\n", "FRAME Ip\n", "FRAME XA=1\n"]),
            1 => select(vec!["FRAMEX\n", "GARBAGE\n"]),
        ],
        any::<u8>(),
        prop::option::weighted(0.2, 0usize..200),
    );
    (
        header,
        prop::collection::vec(frame, 0..4),
        prop::option::weighted(0.2, any::<Index>()),
    )
        .prop_map(|((w, h, rate, colour, extra), frames, cut)| {
            let mut clip = format!("YUV4MPEG2 W{w} H{h} F{rate}{colour}{extra}\n").into_bytes();
            let exact = planes_len(&w, &h, colour);
            for (marker, fill, odd_len) in frames {
                clip.extend_from_slice(marker.as_bytes());
                let len = odd_len.or(exact).unwrap_or(24);
                clip.extend((0..len).map(|i| fill.wrapping_add(i as u8)));
            }
            if let Some(cut) = cut {
                clip.truncate(cut.index(clip.len() + 1));
            }
            clip
        })
}

fn read_every_frame(clip: &[u8]) -> Result<(), TestCaseError> {
    let Ok(mut reader) =
        Y4mReader::from_reader("clip.y4m", Cursor::new(clip.to_vec()), clip.len() as u64)
    else {
        return Ok(());
    };
    prop_assert!(glance::frame::check_frame_shape(reader.width(), reader.height()).is_ok());
    for _ in 0..8 {
        match reader.next_frame() {
            Ok(Some(frame)) => prop_assert_eq!(
                frame.pixels.len(),
                3 * frame.width as usize * frame.height as usize
            ),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JSON documents

/// Values of every kind, extremes included.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (-2.0f64..5000.0).prop_map(Value::from),
        select(vec![
            0.0,
            1.0,
            8.0,
            60_000.0,
            1e300,
            -1e-300,
            4_294_967_295.0
        ])
        .prop_map(Value::from),
        "[a-zA-Z:/._-]{0,12}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!([0, 13, 18])),
    ]
}

/// Every property name the API's schema knows, so generated documents reach deep fields.
fn option_names() -> Vec<String> {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    out.extend(properties.keys().cloned());
                }
                map.values().for_each(|v| collect(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    collect(&glance::schema::api_schema(), &mut names);
    names.sort();
    names.dedup();
    names
}

/// Objects keyed by option names (and the odd unknown key), nested, with leaves of every kind.
fn options_document(names: Vec<String>) -> impl Strategy<Value = Value> {
    let key = prop_oneof![9 => select(names), 1 => "[a-z]{1,8}"];
    leaf().prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            3 => prop::collection::btree_map(key.clone(), inner.clone(), 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            1 => prop::collection::vec(inner, 0..4).prop_map(Value::Array),
        ]
    })
}

/// `document` with the value at a path chosen by `steps` replaced by `replacement`.
fn mutate(mut document: Value, steps: &[Index], replacement: Value) -> Value {
    let mut pointer = String::new();
    let mut here = &document;
    for step in steps {
        let (token, next) = match here {
            Value::Object(map) if !map.is_empty() => {
                let (key, value) = map.iter().nth(step.index(map.len())).expect("in range");
                (key.replace('~', "~0").replace('/', "~1"), value)
            }
            Value::Array(items) if !items.is_empty() => {
                let i = step.index(items.len());
                (i.to_string(), &items[i])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&token);
        here = next;
    }
    *document.pointer_mut(&pointer).expect("a path just walked") = replacement;
    document
}

fn cut(text: &str, at: Option<Index>) -> &str {
    let Some(at) = at else { return text };
    let end = at.index(text.len() + 1);
    let end = (0..=end)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[..end]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn any_y4m_clip_gives_frames_of_an_accepted_shape_or_an_error(clip in y4m_clip()) {
        read_every_frame(&clip)?;
    }

    #[test]
    fn any_bytes_after_a_y4m_magic_give_frames_or_an_error(
        tail in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        read_every_frame(&[b"YUV4MPEG2 ".as_slice(), &tail].concat())?;
    }

    #[test]
    fn a_saved_state_changed_anywhere_restores_or_is_refused_and_what_restores_round_trips(
        steps in prop::collection::vec(any::<Index>(), 1..6),
        replacement in leaf(),
        at in prop::option::weighted(0.2, any::<Index>()),
    ) {
        let saved: Value = serde_json::from_str(SAVED_STATE).unwrap();
        let changed = mutate(saved, &steps, replacement).to_string();
        let text = cut(&changed, at);
        let mut aggregator = AudienceAggregator::new(AudienceConfig::default()).unwrap();
        if aggregator.restore_state(text).is_ok() {
            let _ = aggregator.report(&ReportOptions::default());
            let saved = aggregator.save_state();
            let mut again = AudienceAggregator::new(AudienceConfig::default()).unwrap();
            prop_assert!(again.restore_state(&saved).is_ok(), "a saved state restores");
            prop_assert_eq!(again.save_state(), saved);
        }
    }

    #[test]
    fn a_timeline_changed_anywhere_parses_and_replays_or_is_refused(
        line in any::<Index>(),
        steps in prop::collection::vec(any::<Index>(), 1..4),
        replacement in leaf(),
        at in prop::option::weighted(0.2, any::<Index>()),
    ) {
        let rules = RuleSet::from_json(MALL_RULES).unwrap();
        let mut lines: Vec<String> = WEEKDAY.lines().map(String::from).collect();
        let steps_of_json: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with('{'))
            .map(|(i, _)| i)
            .collect();
        let chosen = steps_of_json[line.index(steps_of_json.len())];
        let step: Value = serde_json::from_str(&lines[chosen]).unwrap();
        lines[chosen] = mutate(step, &steps, replacement).to_string();
        let text = lines.join("\n");
        if let Ok(timeline) = parse_timeline(cut(&text, at), rules.time_zone()) {
            let report = simulate(&rules, &timeline);
            prop_assert_eq!(report.summary.plays, report.plays.len());
        }
    }
}

#[test]
fn any_options_document_parses_or_names_its_fault_and_what_parses_round_trips() {
    let names = option_names();
    assert!(
        names.iter().any(|n| n == "minHits"),
        "the schema's names reach deep fields"
    );
    proptest!(ProptestConfig::with_cases(512), |(document in options_document(names.clone()))| {
        let text = document.to_string();
        let _ = AudienceConfig::from_json(&text);
        let _ = EngineOptions::default().patched(&document);
        match EngineOptions::from_json(&text) {
            Ok(options) => {
                let again = serde_json::to_string(&options).unwrap();
                prop_assert_eq!(EngineOptions::from_json(&again).unwrap(), options);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    });
}
