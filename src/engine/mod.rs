//! The engine in plain Rust, so it is tested natively: the options document, the state between
//! frames (frame clock, audience aggregator, rule engine) and [`Engine`], the frame loop every
//! host shares. `web` wraps it with wasm-bindgen; the CLI's `audience` runs it as it is.

mod frame_loop;

pub use frame_loop::{Backend, Engine, ProcessedFrame};

use serde::{Deserialize, Serialize};

use crate::analysis::FrameAnalysis;
use crate::audience::{
    AudienceAggregator, AudienceConfig, AudienceReport, AudienceSnapshot, CompletedVisit,
    ReportOptions,
};
use crate::disclosure::BannerOptions;
use crate::error::{GlanceError, Result};
use crate::fleet::Record;
use crate::fleet::records::check_screen_id;
use crate::rules::{Decision, RuleEngine, RuleSet, SimulationReport, ValidationIssue};
use crate::vision::PipelineOptions;

/// Which compute backend runs the networks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum BackendChoice {
    /// WebGPU when it works, else the CPU (also after the GPU is lost).
    #[default]
    Auto,
    /// WebGPU or fail.
    Webgpu,
    /// The CPU backend (Wasm SIMD).
    Cpu,
}

/// The engine's options as JSON (camelCase, every field optional). Binary parts (model bytes,
/// callbacks) are handled by the host layer and are not part of this document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EngineOptions {
    pub backend: BackendChoice,
    pub pipeline: PipelineOptions,
    pub audience: AudienceConfig,
    /// The rules document (see docs/rules.md); without it `nextAd` has nothing to decide from.
    #[schemars(with = "Option<crate::rules::RulesDocument>")]
    pub rules: Option<serde_json::Value>,
    /// The disclosure notice. The browser engine requires it and analyses only while it shows.
    pub banner: Option<BannerOptions>,
}

impl EngineOptions {
    /// Parses and validates options; errors carry the path of the offending field.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| GlanceError::Config {
                path: String::new(),
                message: e.to_string(),
            })?;
        let options: EngineOptions =
            serde_path_to_error::deserialize(&value).map_err(|e| GlanceError::Config {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        if let Some(path) = crate::json_shape::struct_given_as_non_object(&value, &options) {
            return Err(GlanceError::Config {
                path,
                message: "must be a JSON object ({...})".into(),
            });
        }
        options.pipeline.validate().map_err(|e| match e {
            GlanceError::Config { path, message } => GlanceError::Config {
                path: format!("pipeline.{path}"),
                message,
            },
            other => other,
        })?;
        options
            .audience
            .validate()
            .map_err(|e| GlanceError::Config {
                path: "audience".into(),
                message: e.to_string(),
            })?;
        if let Some(banner) = &options.banner {
            banner.validate().map_err(|e| GlanceError::Config {
                path: format!("banner.{}", e.path),
                message: e.message,
            })?;
        }
        Ok(options)
    }

    /// Applies a JSON merge patch (RFC 7396: `null` restores a default) and validates the result.
    /// `backend` and `audience` are fixed once the engine exists.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Self> {
        for fixed in ["backend", "audience"] {
            if patch.get(fixed).is_some() {
                return Err(GlanceError::Config {
                    path: fixed.into(),
                    message:
                        "is fixed when the engine is created; create a new engine to change it"
                            .into(),
                });
            }
        }
        let mut doc = serde_json::to_value(self).expect("options serialise");
        merge_patch(&mut doc, patch);
        Self::from_json(&doc.to_string())
    }
}

/// Every problem of a rules document with its JSON path; empty when it is valid.
pub fn validate_rules(json: &str) -> Vec<ValidationIssue> {
    match RuleSet::from_json(json) {
        Ok(_) => Vec::new(),
        Err(e) => e.issues(),
    }
}

/// Replays a timeline (JSON lines, as `glance simulate` reads) against a rules document.
pub fn simulate_rules(rules_json: &str, timeline_jsonl: &str) -> Result<SimulationReport> {
    let rules = RuleSet::from_json(rules_json)?;
    let timeline = crate::rules::parse_timeline(timeline_jsonl, rules.time_zone())?;
    if timeline.is_empty() {
        return Err(GlanceError::Config {
            path: "timeline".into(),
            message: "the timeline has no steps".into(),
        });
    }
    Ok(crate::rules::simulate(&rules, &timeline))
}

/// An aggregator for `audience`; a bad configuration is a `ConfigError` at `audience`.
fn aggregator(audience: AudienceConfig) -> Result<AudienceAggregator> {
    AudienceAggregator::new(audience).map_err(|e| GlanceError::Config {
        path: "audience".into(),
        message: e.to_string(),
    })
}

/// The report of saved aggregates (`save_state` output) without an engine: for a dashboard on
/// another page or machine. `audience` must name the same age bands the state was saved with.
pub fn report_from_state(
    state: &str,
    audience: AudienceConfig,
    options: &ReportOptions,
) -> Result<AudienceReport> {
    let mut aggregator = aggregator(audience)?;
    aggregator.restore_state(state)?;
    Ok(aggregator.report(options))
}

fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(
                map.entry(key.clone()).or_insert(serde_json::Value::Null),
                value,
            );
        }
    }
}

/// Most events kept for [`EngineState::take_events`]; older ones are dropped first.
pub const MAX_QUEUED_EVENTS: usize = 1_000;

/// The engine's state besides the networks: frame clock, audience and rules.
pub struct EngineState {
    audience: AudienceAggregator,
    rules: Option<RuleEngine>,
    last_timestamp_ms: Option<f64>,
    /// Track ids present after the last frame, to tell when a visit starts.
    present_tracks: Vec<u64>,
    /// The counts of the last frame's audience, to tell when it changes.
    last_counts: AudienceCounts,
    events: Vec<EngineEvent>,
    /// Finished visits in full, kept only for an evaluation host (see
    /// [`EngineState::keep_completed_visits`]); `None` otherwise.
    completed_visits: Option<Vec<CompletedVisit>>,
}

/// What a host is told as it happens (the web layer dispatches these as DOM events). Only
/// aggregate facts of a visit, never pixels, and the track id is ephemeral.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EngineEvent {
    /// A person was first tracked.
    VisitStart(VisitStart),
    /// A person's visit ended (the tracker let the track go).
    VisitEnd(VisitEnd),
    /// Who is present, watching or looking changed, or the band x gender counts did.
    AudienceChange(Box<AudienceSnapshot>),
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitStart {
    pub track_id: u64,
    pub start_ms: f64,
}

/// A finished visit's aggregate facts.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitEnd {
    pub track_id: u64,
    pub start_ms: f64,
    pub end_ms: f64,
    pub dwell_s: f64,
    pub attention_s: f64,
    pub is_watcher: bool,
    /// Null: unknown (not confident enough).
    pub age_band: Option<String>,
    pub age_band_confidence: Option<f32>,
    /// Apparent gender; null: unknown (not confident enough, or a child's).
    pub gender: Option<crate::analysis::Gender>,
    pub gender_confidence: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct AudienceCounts {
    present: u32,
    watchers: u32,
    looking_now: u32,
    group_size: u32,
    cells: Vec<(Option<String>, Option<crate::analysis::Gender>, u32, u32)>,
}

impl AudienceCounts {
    fn of(s: &AudienceSnapshot) -> Self {
        AudienceCounts {
            present: s.present,
            watchers: s.watchers,
            looking_now: s.looking_now,
            group_size: s.group_size,
            cells: s
                .by_band_gender
                .iter()
                // Empty cells are no news, so an empty audience equals the default.
                .filter(|c| c.present > 0 || c.watchers > 0)
                .map(|c| (c.age_band.clone(), c.gender, c.present, c.watchers))
                .collect(),
        }
    }
}

/// One analysed frame as the host gets it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameResult<'a> {
    #[serde(flatten)]
    pub analysis: &'a FrameAnalysis,
    /// The backend that analysed this frame.
    #[schemars(extend("enum" = ["webgpu", "cpu"]))]
    pub backend: &'static str,
    /// The host's timestamp went backwards (or was not a number) and was replaced.
    pub timestamp_clamped: bool,
    /// The GPU was lost on this frame and the CPU backend analysed it instead.
    pub backend_changed: bool,
    /// Where this frame's time went, milliseconds by stage.
    pub timings_ms: crate::vision::FrameTimings,
}

/// A frame's timestamp after clamping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTime {
    pub timestamp_ms: f64,
    /// The host's timestamp went backwards (or was not a number) and was replaced.
    pub clamped: bool,
}

impl EngineState {
    pub fn new(options: &EngineOptions) -> Result<Self> {
        let audience = aggregator(options.audience.clone())?;
        let rules = options
            .rules
            .as_ref()
            .map(|doc| RuleEngine::from_json(&doc.to_string()))
            .transpose()?;
        Ok(EngineState {
            audience,
            rules,
            last_timestamp_ms: None,
            present_tracks: Vec::new(),
            last_counts: AudienceCounts::default(),
            events: Vec::new(),
            completed_visits: None,
        })
    }

    /// Timestamps never go backwards: a smaller (or non-finite) one is replaced by the last one,
    /// never rejected, so a host clock hiccup costs nothing.
    pub fn clamp_timestamp(&mut self, timestamp_ms: f64) -> FrameTime {
        let last = self.last_timestamp_ms;
        let (t, clamped) = match last {
            Some(last) if timestamp_ms < last || !timestamp_ms.is_finite() => (last, true),
            None if !timestamp_ms.is_finite() => (0.0, true),
            _ => (timestamp_ms, false),
        };
        self.last_timestamp_ms = Some(t);
        FrameTime {
            timestamp_ms: t,
            clamped,
        }
    }

    /// Adds a frame to the audience and queues the events it caused (see [`Self::take_events`]).
    pub fn observe(&mut self, analysis: &FrameAnalysis) -> AudienceSnapshot {
        let snapshot = self.audience.observe(analysis);
        // Ended visits first: a track that ends and one that starts in the same frame are two
        // people, told in the order they happened.
        self.queue_visit_ends();
        let present: Vec<u64> = snapshot.people.iter().map(|p| p.track_id).collect();
        for &track_id in present
            .iter()
            .filter(|id| !self.present_tracks.contains(id))
        {
            self.events.push(EngineEvent::VisitStart(VisitStart {
                track_id,
                start_ms: snapshot.timestamp_ms,
            }));
        }
        self.present_tracks = present;
        let counts = AudienceCounts::of(&snapshot);
        if self.last_counts != counts {
            self.events
                .push(EngineEvent::AudienceChange(Box::new(snapshot.clone())));
            self.last_counts = counts;
        }
        self.cap_events();
        snapshot
    }

    /// Ends every open visit at its last sighting (the end of a clip, or before a final
    /// report) and queues their `visitend` events.
    pub fn finish(&mut self, end_ms: f64) {
        self.audience.finish(end_ms);
        self.queue_visit_ends();
        self.present_tracks.clear();
        self.cap_events();
    }

    /// From now on keep each finished visit in full for [`Self::take_completed_visits`]: for
    /// evaluation hosts (the CLI's `audience --visits`), never for the browser.
    pub fn keep_completed_visits(&mut self) {
        self.completed_visits.get_or_insert_with(Vec::new);
    }

    /// The visits finished since the last call, oldest first, when they are kept.
    pub fn take_completed_visits(&mut self) -> Vec<CompletedVisit> {
        self.completed_visits
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn queue_visit_ends(&mut self) {
        let ended = self.audience.completed_visits();
        for v in &ended {
            self.events.push(EngineEvent::VisitEnd(VisitEnd {
                track_id: v.track_id,
                start_ms: v.start_ms,
                end_ms: v.end_ms,
                dwell_s: v.dwell_s,
                attention_s: v.attention_s,
                is_watcher: v.is_watcher,
                age_band: v.age_band.clone(),
                age_band_confidence: v.age_band_confidence,
                gender: v.gender,
                gender_confidence: v.gender_confidence,
            }));
        }
        if let Some(kept) = &mut self.completed_visits {
            kept.extend(ended);
        }
    }

    /// A host that never takes its events must not grow memory.
    fn cap_events(&mut self) {
        if self.events.len() > MAX_QUEUED_EVENTS {
            let excess = self.events.len() - MAX_QUEUED_EVENTS;
            self.events.drain(..excess);
        }
    }

    /// The events since the last call, oldest first (at most [`MAX_QUEUED_EVENTS`]).
    pub fn take_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.events)
    }

    /// Which faces of the coming frame need the age/gender model (stable tracks only every
    /// `audience.attributes.intervalMs`).
    pub fn plan_attributes(
        &self,
        timestamp_ms: f64,
        faces: &[crate::analysis::FaceAnalysis],
    ) -> Vec<bool> {
        self.audience.plan_attributes(timestamp_ms, faces)
    }

    pub fn snapshot(&self) -> AudienceSnapshot {
        self.audience.snapshot()
    }

    /// The ad to play next and why. `ConfigError` when no rules were given.
    pub fn next_ad(&mut self, now_ms: f64) -> Result<Decision> {
        let snapshot = self.audience.snapshot();
        let rules = self.rules.as_mut().ok_or_else(no_rules)?;
        Ok(rules.decide(&snapshot, now_ms as i64))
    }

    /// A rule that should interrupt the ad on screen now, if any.
    pub fn interrupt(&mut self, now_ms: f64) -> Result<Option<Decision>> {
        let snapshot = self.audience.snapshot();
        let rules = self.rules.as_mut().ok_or_else(no_rules)?;
        Ok(rules.should_interrupt(&snapshot, now_ms as i64))
    }

    /// Replaces the rules; on any error the running rules stay as they were.
    pub fn set_rules(&mut self, json: &str) -> Result<()> {
        match &mut self.rules {
            Some(rules) => rules.set_rules(json)?,
            None => self.rules = Some(RuleEngine::from_json(json)?),
        }
        Ok(())
    }

    pub fn ad_started(&mut self, play_id: &str, ad_id: &str, now_ms: f64) -> Result<()> {
        self.audience.ad_started(play_id, ad_id, now_ms)?;
        if let Some(rules) = &mut self.rules {
            rules.ad_started(ad_id, now_ms as i64);
        }
        Ok(())
    }

    pub fn ad_ended(
        &mut self,
        play_id: &str,
        ad_id: &str,
        now_ms: f64,
        completed: bool,
    ) -> Result<()> {
        self.audience.ad_ended(play_id, now_ms, completed)?;
        if let Some(rules) = &mut self.rules {
            rules.ad_ended(ad_id, now_ms as i64, completed);
        }
        Ok(())
    }

    pub fn report(&self, options: &ReportOptions) -> AudienceReport {
        self.audience.report(options)
    }

    /// The fleet records that became final since the last call (see
    /// [`AudienceAggregator::take_records`]); `flush` closes every minute up to now, after
    /// [`Self::finish`]. Persist them together with [`Self::save_state`].
    pub fn take_records(&mut self, screen_id: &str, flush: bool) -> Result<Vec<Record>> {
        check_screen_id(screen_id).map_err(|message| GlanceError::Config {
            path: "screenId".into(),
            message,
        })?;
        Ok(self.audience.take_records(screen_id, flush))
    }

    /// Aggregates only (never per-person data), for the host to persist.
    pub fn save_state(&self) -> String {
        self.audience.save_state()
    }

    pub fn restore_state(&mut self, state: &str) -> Result<()> {
        Ok(self.audience.restore_state(state)?)
    }
}

fn no_rules() -> GlanceError {
    GlanceError::Config {
        path: "rules".into(),
        message: "no rules document was given; call setRules first".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            EngineOptions::from_json(r#"{"pipeline":{"maxFaces":3,"minDetectionScore":0.7}}"#)
                .unwrap();
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
        let options =
            EngineOptions::from_json(r#"{"audience":{"tracker":{"maxAgeMs":300}}}"#).unwrap();
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
}
