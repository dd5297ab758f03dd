use super::state::FrameTime;
use super::*;
use crate::audience::{AudienceConfig, ReportOptions};
use crate::rules::ValidationIssue;
use crate::vision::PipelineOptions;

#[test]
fn options_errors_name_the_field() {
    // An array is not read as a struct's fields in order: `[]` is no way to say "defaults".
    for (json, at) in [("[]", ""), (r#"{"pipeline":[]}"#, "pipeline")] {
        let err = EngineOptions::from_json(json).unwrap_err();
        assert!(
            matches!(&err, GlanceError::Config { path, message } if path == at && message.contains("JSON object")),
            "{json}: {err:?}"
        );
    }
    let err = EngineOptions::from_json(r#"{"pipeline":{"maxFaces":"many"}}"#).unwrap_err();
    assert!(
        matches!(&err, GlanceError::Config { path, .. } if path == "pipeline.maxFaces"),
        "{err}"
    );
    let err = EngineOptions::from_json(r#"{"pipeline":{"minDetectionScore":2}}"#).unwrap_err();
    assert!(
        matches!(&err, GlanceError::Config { path, .. } if path == "pipeline.minDetectionScore"),
        "{err}"
    );
    let err = EngineOptions::from_json(r#"{"backnd":"cpu"}"#).unwrap_err();
    assert_eq!(err.kind(), "ConfigError");
    assert_eq!(
        EngineOptions::from_json("{}").unwrap(),
        EngineOptions::default()
    );
    let options = EngineOptions::from_json(r#"{"backend":"cpu"}"#).unwrap();
    assert_eq!(options.backend, BackendChoice::Cpu);
}

#[test]
fn merge_patch_changes_and_restores_defaults() {
    let options =
        EngineOptions::from_json(r#"{"pipeline":{"maxFaces":3,"minDetectionScore":0.7}}"#).unwrap();
    let patched = options
        .patched(&serde_json::json!({"pipeline": {"maxFaces": null, "ageGender": false}}))
        .unwrap();
    assert_eq!(
        patched.pipeline.max_faces,
        PipelineOptions::default().max_faces
    );
    assert_eq!(patched.pipeline.min_detection_score, 0.7);
    assert!(!patched.pipeline.age_gender);
    assert!(
        options
            .patched(&serde_json::json!({"backend": "cpu"}))
            .is_err()
    );
    let bad = options
        .patched(&serde_json::json!({"pipeline": {"nmsIouThreshold": -1}}))
        .unwrap_err();
    assert!(bad.to_string().contains("nmsIouThreshold"), "{bad}");
}

#[test]
fn a_visit_is_told_as_start_changes_and_end_once_each() {
    use crate::analysis::{FaceAnalysis, FrameAnalysis};
    let options = EngineOptions::from_json(r#"{"audience":{"tracker":{"maxAgeMs":300}}}"#).unwrap();
    let mut state = EngineState::new(&options).unwrap();
    let frame = |t: f64, with_face: bool| FrameAnalysis {
        width: 640,
        height: 480,
        timestamp_ms: t,
        faces: if with_face {
            vec![FaceAnalysis {
                yaw: Some(0.0),
                pitch: Some(0.0),
                ..FaceAnalysis::detected([300.0, 200.0, 60.0, 60.0], 0.9, [[0.0; 2]; 6])
            }]
        } else {
            Vec::new()
        },
        rejected: Vec::new(),
        scene_cut: false,
    };
    let mut events = Vec::new();
    for i in 0..30 {
        state.observe(&frame(i as f64 * 100.0, true));
    }
    events.extend(state.take_events());
    for i in 30..45 {
        state.observe(&frame(i as f64 * 100.0, false));
    }
    events.extend(state.take_events());
    assert!(state.take_events().is_empty(), "taken events are gone");
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "visitstart").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "visitend").count(),
        1,
        "{kinds:?}"
    );
    let start = kinds.iter().position(|k| k == "visitstart").unwrap();
    let end = kinds.iter().position(|k| k == "visitend").unwrap();
    assert!(start < end, "{kinds:?}");
    let (EngineEvent::VisitStart(started), EngineEvent::VisitEnd(ended)) =
        (&events[start], &events[end])
    else {
        unreachable!()
    };
    assert_eq!(started.track_id, ended.track_id);
    assert!(
        ended.dwell_s > 2.0 && ended.dwell_s < 3.5,
        "dwell {}",
        ended.dwell_s
    );
    let present: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::AudienceChange(s) => Some(s.present),
            _ => None,
        })
        .collect();
    assert_eq!(
        (present.first(), present.last()),
        (Some(&1), Some(&0)),
        "{present:?}"
    );
    // Serialised as the DOM event's detail: the tag beside the fields.
    let end_json = serde_json::to_value(&events[end]).unwrap();
    assert_eq!(end_json["type"], "visitend");
    assert!(end_json.get("dwellS").is_some() && end_json.get("trackId").is_some());
}

#[test]
fn timestamps_are_clamped_never_rejected() {
    let mut state = EngineState::new(&EngineOptions::default()).unwrap();
    // (given, used, clamped), in call order.
    let cases = [
        (100.0, 100.0, false),
        (50.0, 100.0, true),
        (f64::NAN, 100.0, true),
        (f64::INFINITY, 100.0, true),
        (100.0, 100.0, false),
        (140.0, 140.0, false),
    ];
    for (given, used, clamped) in cases {
        let expected = FrameTime {
            timestamp_ms: used,
            clamped,
        };
        assert_eq!(state.clamp_timestamp(given), expected, "timestamp {given}");
    }
}

#[test]
fn bad_rules_are_rejected_with_paths_and_the_old_rules_keep_deciding() {
    let good = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/rules/mall.rules.json"
    ))
    .unwrap();
    let options = EngineOptions {
        rules: Some(serde_json::from_str(&good).unwrap()),
        ..Default::default()
    };
    let mut state = EngineState::new(&options).unwrap();
    let now = 1_763_980_000_000.0;
    let before = state.next_ad(now).unwrap();
    let bad = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rules/invalid.rules.json"
    ))
    .unwrap();
    let err = state.set_rules(&bad).unwrap_err();
    assert_eq!(err.kind(), "RulesValidationError");
    assert!(
        err.issues().iter().any(|i| i.path == "$.rules[0].play.ad"),
        "{:?}",
        err.issues()
    );
    assert_eq!(
        state.next_ad(now).unwrap().ad_id,
        before.ad_id,
        "the old rules still decide"
    );
}

#[test]
fn plays_reach_both_the_audience_and_the_rules() {
    let mut state = EngineState::new(&EngineOptions::default()).unwrap();
    assert_eq!(state.next_ad(0.0).unwrap_err().kind(), "ConfigError");
    state.ad_started("p1", "coffee", 1000.0).unwrap();
    assert_eq!(
        state.ad_started("p1", "coffee", 1500.0).unwrap_err().kind(),
        "AdPlayError"
    );
    state.ad_ended("p1", "coffee", 2000.0, true).unwrap();
    assert_eq!(
        state
            .ad_ended("p1", "coffee", 2500.0, true)
            .unwrap_err()
            .kind(),
        "AdPlayError"
    );
    let report = state.report(&ReportOptions::default());
    assert_eq!(report.plays.len(), 1);
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

#[test]
fn validation_lists_every_issue_with_its_path() {
    assert_eq!(
        validate_rules(&read("examples/rules/mall.rules.json")),
        vec![]
    );
    let issues = validate_rules(&read("tests/fixtures/rules/invalid.rules.json"));
    let expected: Vec<ValidationIssue> =
        serde_json::from_str(&read("tests/fixtures/rules/invalid.expected.json")).unwrap();
    assert_eq!(issues, expected);
}

#[test]
fn simulation_without_an_engine_matches_the_cli_golden_output() {
    let report = simulate_rules(
        &read("examples/rules/mall.rules.json"),
        &read("examples/rules/weekday.timeline.jsonl"),
    )
    .unwrap();
    // The CLI's golden output: one play per line, then the summary.
    let mut cli_output = Vec::new();
    crate::rules::write_report(&report, &mut cli_output).unwrap();
    assert_eq!(
        String::from_utf8(cli_output).unwrap(),
        read("tests/fixtures/rules/weekday.expected.jsonl")
    );
    let err = simulate_rules(&read("examples/rules/mall.rules.json"), "").unwrap_err();
    assert!(err.to_string().contains("timeline"), "{err}");
    let err = simulate_rules("{}", "{}").unwrap_err();
    assert_eq!(err.kind(), "RulesValidationError");
}

#[test]
fn saved_aggregates_report_without_an_engine() {
    let mut state = EngineState::new(&EngineOptions::default()).unwrap();
    state.ad_started("p1", "coffee", 1000.0).unwrap();
    state.ad_ended("p1", "coffee", 9000.0, true).unwrap();
    let saved = state.save_state();
    let options = ReportOptions::default();
    let report = report_from_state(&saved, AudienceConfig::default(), &options).unwrap();
    assert_eq!(report, state.report(&options));
    let other_bands = AudienceConfig {
        age_bands: vec![0, 18, 65],
        ..AudienceConfig::default()
    };
    let err = report_from_state(&saved, other_bands, &options).unwrap_err();
    assert_eq!(err.kind(), "StateError");
}

#[test]
fn banner_options_are_checked_with_their_path() {
    let err = EngineOptions::from_json(
        r#"{"banner":{"controller":{"name":"Mall","contact":""},"noticeUrl":"/p"}}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, GlanceError::Config { path, .. } if path == "banner.controller.contact"),
        "{err}"
    );
    let err = EngineOptions::from_json(r#"{"banner":{"colour":"red"}}"#).unwrap_err();
    assert!(matches!(&err, GlanceError::Config { path, .. } if path == "banner.colour"));
    let ok = EngineOptions::from_json(
        r#"{"banner":{"controller":{"name":"Mall","contact":"a@b"},"noticeUrl":"/p","language":"de"}}"#,
    )
    .unwrap();
    assert_eq!(
        ok.banner.unwrap().language,
        crate::disclosure::LanguageChoice::De
    );
}

/// The frame loop itself, on the CPU with the embedded weights.
#[cfg(all(feature = "flex", feature = "embed-models"))]
mod frame_loop {
    use super::*;
    use crate::vision::cpu_pipeline;

    fn engine(options: EngineOptions) -> Engine {
        let pipeline = cpu_pipeline(options.pipeline.clone()).unwrap();
        Engine::new(pipeline, BackendSetup::cpu(), options).unwrap()
    }

    fn grey(width: u32, height: u32) -> Vec<u8> {
        vec![128; (width * height * 4) as usize]
    }

    #[test]
    fn a_frame_is_clamped_analysed_and_observed() {
        let engine = engine(EngineOptions::default());
        let px = grey(64, 48);
        let frame = Frame::from_rgba(64, 48, &px).unwrap();
        let first = pollster::block_on(engine.process_frame(&frame, 1000.0)).unwrap();
        assert_eq!(first.backend, Backend::Cpu);
        assert!(!first.timestamp_clamped && !first.backend_changed);
        assert!(first.analysis.faces.is_empty());
        // A clock that goes backwards is clamped to the last time, never rejected.
        let second = pollster::block_on(engine.process_frame(&frame, 500.0)).unwrap();
        assert!(second.timestamp_clamped);
        assert_eq!(second.analysis.timestamp_ms, 1000.0);
        assert_eq!(engine.snapshot().present, 0);
    }

    #[test]
    fn options_apply_from_the_next_frame_and_a_bad_patch_changes_nothing() {
        let engine = engine(EngineOptions::default());
        let px = grey(64, 48);
        let frame = Frame::from_rgba(64, 48, &px).unwrap();
        engine
            .set_options(&serde_json::json!({"pipeline": {"maxFaces": 2}}))
            .unwrap();
        assert_eq!(engine.options().pipeline.max_faces, 2);
        pollster::block_on(engine.process_frame(&frame, 0.0)).unwrap();
        assert!(!engine.options_pending.get(), "applied before the frame");
        let err = engine
            .set_options(&serde_json::json!({"pipeline": {"maxFaces": "many"}}))
            .unwrap_err();
        assert_eq!(err.kind(), "ConfigError");
        assert_eq!(engine.options().pipeline.max_faces, 2);
        assert!(!engine.options_pending.get());
    }

    #[test]
    fn a_frame_says_where_its_time_went() {
        let astronaut =
            image::load_from_memory(include_bytes!("../../tests/fixtures/astronaut.jpg"))
                .unwrap()
                .into_rgba8();
        let (width, height) = astronaut.dimensions();
        let frame = Frame::from_rgba(width, height, astronaut.as_raw()).unwrap();
        // Video mode: the detectors run on the first frame and rest on the next.
        let engine = engine(EngineOptions {
            pipeline: crate::vision::PipelineOptions {
                detection_interval_ms: 1000.0,
                ..Default::default()
            },
            ..Default::default()
        });
        let first = pollster::block_on(engine.process_frame(&frame, 0.0)).unwrap();
        assert_eq!(first.analysis.faces.len(), 1);
        let t = first.timings;
        assert!(
            t.detection > 0.0 && t.mesh > 0.0 && t.irises > 0.0 && t.age_gender > 0.0,
            "{t:?}"
        );
        let stages = t.detection
            + t.fine_scan
            + t.confirmation
            + t.mesh
            + t.irises
            + t.age_gender
            + t.other
            + t.audience;
        assert!((t.total - stages).abs() < 1e-9, "{t:?}");
        assert_eq!(t.read_pixels, 0.0, "the host's to add");
        let second = pollster::block_on(engine.process_frame(&frame, 66.0)).unwrap();
        assert_eq!(second.analysis.faces.len(), 1);
        assert_eq!(second.timings.detection, 0.0, "the detectors rest");
        assert!(
            second.timings.mesh > 0.0,
            "the face is followed by its mesh"
        );
    }

    #[test]
    fn a_closed_engine_analyses_nothing() {
        let engine = engine(EngineOptions::default());
        engine.close();
        assert!(engine.is_closed());
        let px = grey(8, 8);
        let frame = Frame::from_rgba(8, 8, &px).unwrap();
        let err = pollster::block_on(engine.process_frame(&frame, 0.0)).unwrap_err();
        assert_eq!(err.kind(), "EngineClosedError");
    }
}
