//! The engine's state besides the networks: frame clock, audience and rules, and the events
//! and results a host is given.

use serde::Serialize;

use super::EngineOptions;
use crate::analysis::FrameAnalysis;
use crate::audience::{
    AudienceAggregator, AudienceConfig, AudienceReport, AudienceSnapshot, CompletedVisit,
    ReportOptions,
};
use crate::error::{GlanceError, Result};
use crate::fleet::Record;
use crate::fleet::records::check_screen_id;
use crate::rules::{Decision, Scheduler};

/// An aggregator for `audience`; a bad configuration is a `ConfigError` at `audience`.
pub(super) fn aggregator(audience: AudienceConfig) -> Result<AudienceAggregator> {
    AudienceAggregator::new(audience).map_err(|e| GlanceError::Config {
        path: "audience".into(),
        message: e.to_string(),
    })
}

/// Most events kept for [`EngineState::take_events`]; older ones are dropped first.
pub const MAX_QUEUED_EVENTS: usize = 1_000;

/// The engine's state besides the networks: frame clock, audience and rules.
pub struct EngineState {
    audience: AudienceAggregator,
    rules: Option<Scheduler>,
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

/// A frame's timestamp after clamping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FrameTime {
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
            .map(|doc| Scheduler::from_json(&doc.to_string()))
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
    pub(crate) fn clamp_timestamp(&mut self, timestamp_ms: f64) -> FrameTime {
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
        eligible: &[bool],
    ) -> Vec<bool> {
        self.audience.plan_attributes(timestamp_ms, faces, eligible)
    }

    pub fn snapshot(&self) -> AudienceSnapshot {
        self.audience.snapshot()
    }

    /// The ad to play next and why. `ConfigError` when no rules were given.
    pub(crate) fn next_ad(&mut self, now_ms: f64) -> Result<Decision> {
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
            None => self.rules = Some(Scheduler::from_json(json)?),
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
