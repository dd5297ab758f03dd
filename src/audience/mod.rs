//! Audience measurement: turns per-frame faces ([`FrameAnalysis`]) into what advertisers buy —
//! who had the opportunity to see the screen, who watched, for how long, and who they were by
//! age band and gender, overall, per time bucket and per ad play.
//!
//! # Pipeline
//! 1. **Tracking** (anonymous, SORT-like): a constant-velocity Kalman filter per face box and a
//!    Hungarian assignment on IoU and keypoint agreement give each person an ephemeral track id,
//!    random per session. A track needs `tracker.minHits` matched frames to be confirmed (one-frame
//!    false positives never count) and survives `tracker.maxAgeMs` without detections (occlusions,
//!    missed detections). No appearance embedding is computed or kept. When a track ends its visit
//!    is finalised into the aggregates and every per-track datum is dropped.
//! 2. **Attributes**: age and gender are averaged over the track's frames, weighted by face size,
//!    detector score and frontalness; the age band is the most voted band with its vote share as
//!    confidence. [`AudienceAggregator::needs_attributes`] / [`AudienceAggregator::plan_attributes`]
//!    tell the vision side when a stable track can skip the attribute models.
//! 3. **Looking**: a face looks when its gaze ray (`gaze` from `positionM`, camera coordinates)
//!    passes through the screen rectangle grown by `screen.marginM`, or within `screen.toleranceDeg`
//!    of it (`screen.headPoseToleranceDeg` when the direction comes from head pose alone: no eye
//!    gaze, or only yaw/pitch). The camera's offset, tilt and pan relative to the screen are
//!    configured. Without `positionM` the position is estimated from `distanceM` or from the box
//!    width and `screen.defaultFaceWidthM`. Attention from eyes and from head pose is recorded
//!    separately.
//!
//! # Definitions (also written into every report)
//! - **Impression / OTS** (opportunity to see): one person (confirmed track) present in the camera's
//!   zone, counted once per visit.
//! - **Watcher**: a person who looked at the screen for at least `minGlanceMs` (default 0.5 s)
//!   without interruption, at least once during the visit.
//! - **Dwell time**: from first detection to the end of the last frame the person was detected in;
//!   a visit that begins (ends) at the frame's edge with the face moving across it starts (ends)
//!   when the face crossed that edge, estimated from its speed (the detector needs most of a face
//!   in the picture; `tracker.maxEdgeExtensionMs`, default 1 s, bounds the estimate).
//! - **Attention time**: total time looking at the screen during the visit (≤ dwell). Each frame's
//!   look lasts until the next frame; a look interrupted by missed detections continues if the face
//!   still looks afterwards and the gap is at most `lookGapBridgeMs`.
//! - **Attraction ratio**: attention time / dwell time (summed over people).
//! - **Conversion ratio**: watchers / impressions.
//! - **Distance**: a visit's mean distance from the camera, metres.
//! - **Group size**: the largest number of people, within `groupDistanceM` of each other in a
//!   chain, that the person was with at any moment of the visit.
//! - Visits are counted in the time bucket in which they **started**.
//! - **Per ad play**: impressions = people present at any time during the play; watchers = people
//!   who looked for at least `minGlanceMs` without interruption within the play; attention = time
//!   looking within the play; band × gender of the people present and of the watchers.
//!
//! # Privacy
//! Reports apply k-anonymity (default k = 5): any people count in 1..k is suppressed (`null`, with
//! `suppressed: true`), ratios and times of suppressed groups are withheld, and a second cell is
//! suppressed where a lone suppressed cell could be recovered from a published total. Persisted
//! state ([`AudienceAggregator::save_state`]) holds only aggregates. The live
//! [`AudienceSnapshot`] and [`CompletedVisit`]s are in memory only and never persisted.

mod aggregate;
pub mod attributes;
mod config;
mod edges;
mod error;
mod exports;
mod geometry;
mod kalman;
mod records;
mod report;
mod rollups;
mod snapshot;
mod state;
mod tracker;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

pub use config::{AttributeConfig, AudienceConfig, RetentionConfig, ScreenGeometry, TrackerConfig};
pub use error::AudienceError;
pub use exports::{
    BroadsignIds, ExportError, ExportFormat, ExportScreen, PLAYS_CSV_HEADER, PlayAt, export_plays,
    fleet_plays_at, plays_at,
};
pub use geometry::{GazeSource, LookModel, LookResult, head_pose_direction};
pub use report::{
    AdReport, AudienceReport, BandGenderReport, BucketCount, Granularity, KAnonymityInfo,
    MetricsReport, PeopleCount, PlayReport, ReportOptions, SeriesEntry,
};
pub use rollups::{FleetRollups, RollupAdDay, RollupBucket, fleet_play_id, fleet_report};
pub use snapshot::{AudienceSnapshot, BandGenderCount, PersonNow};
pub use state::{AudienceState, SCHEMA_VERSION};

use aggregate::{AdDay, PlayAudience, PlayContribution, TimeSeries, VisitFacts};
use tracker::{Ended, PlayWindow, Tracker};

use crate::analysis::{FaceAnalysis, FrameAnalysis, Gender};

/// Most finished visits kept for [`AudienceAggregator::completed_visits`] between calls.
pub const COMPLETED_VISITS_CAP: usize = 10_000;

/// One person's finished visit. **For evaluation only** (comparing with ground truth at the end
/// of a clip): it lives in memory until [`AudienceAggregator::completed_visits`] takes it, is
/// never persisted nor reported, and the track id is meaningless outside this session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletedVisit {
    pub track_id: u64,
    pub start_ms: f64,
    pub end_ms: f64,
    pub dwell_s: f64,
    pub attention_s: f64,
    pub attention_from_eyes_s: f64,
    pub attention_from_head_pose_s: f64,
    pub longest_glance_s: f64,
    pub is_watcher: bool,
    pub age_band: Option<String>,
    pub age_band_confidence: Option<f32>,
    pub gender: Option<Gender>,
    pub gender_confidence: Option<f32>,
    pub mean_distance_m: Option<f64>,
    pub max_group_size: u32,
    pub frames_observed: u32,
    /// Play ids of the ad plays this person was present during.
    pub play_ids: Vec<String>,
}

/// The audience measurement engine: feed it frames, tell it when ads play, ask it for reports.
pub struct AudienceAggregator {
    config: AudienceConfig,
    look: LookModel,
    band_labels: Vec<String>,
    tracker: Tracker,
    series: TimeSeries,
    /// Individual plays, oldest first (serials increase).
    plays: VecDeque<PlayAudience>,
    next_serial: u64,
    /// Plays that tracks may still credit: running ones and those ended moments ago.
    windows: Vec<PlayWindow>,
    ad_days: BTreeMap<(String, i64), AdDay>,
    visits_out: VecDeque<CompletedVisit>,
    last_ts: Option<f64>,
    last_prune_minute: i64,
    largest_group: u32,
    ended: Vec<Ended>,
    /// Minutes starting before this were sent as records ([`Self::take_records`]); a visit
    /// that starts earlier still is counted in this minute, so no record misses it.
    records_through_ms: Option<i64>,
}

impl AudienceAggregator {
    /// A new aggregator with ids drawn from the OS random source.
    pub fn new(config: AudienceConfig) -> Result<Self, AudienceError> {
        Self::with_rng(config, rand::make_rng::<StdRng>())
    }

    /// Same as [`Self::new`] with reproducible track ids (tests, offline evaluation).
    pub fn with_seed(config: AudienceConfig, seed: u64) -> Result<Self, AudienceError> {
        Self::with_rng(config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: AudienceConfig, rng: StdRng) -> Result<Self, AudienceError> {
        config.validate()?;
        Ok(Self {
            look: LookModel::new(&config.screen),
            band_labels: config.age_band_labels(),
            config,
            tracker: Tracker::new(rng),
            series: TimeSeries::default(),
            plays: VecDeque::new(),
            next_serial: 1,
            windows: Vec::new(),
            ad_days: BTreeMap::new(),
            visits_out: VecDeque::new(),
            last_ts: None,
            last_prune_minute: i64::MIN,
            largest_group: 0,
            ended: Vec::new(),
            records_through_ms: None,
        })
    }

    pub fn config(&self) -> &AudienceConfig {
        &self.config
    }

    /// Processes one frame and returns who is here now. Frames must come in timestamp order; a
    /// timestamp going back ends all open visits first. A confirmed person whose face is missed
    /// stays present (not looking) for up to `tracker.maxAgeMs`.
    pub fn observe(&mut self, frame: &FrameAnalysis) -> AudienceSnapshot {
        self.update(frame);
        self.snapshot()
    }

    /// Processes one frame without building a snapshot (cheaper when nobody needs it).
    pub fn update(&mut self, frame: &FrameAnalysis) {
        let ts = frame.timestamp_ms;
        if !ts.is_finite() {
            return;
        }
        if let Some(last) = self.last_ts
            && (ts < last || frame.scene_cut)
        {
            // The host clock went back (new clip, reset), or the scene cut: no one seen so far
            // is followed across, so close everything.
            self.finish(last);
        }
        let mut ended = std::mem::take(&mut self.ended);
        self.tracker
            .update(frame, &self.config, &self.look, &self.windows, &mut ended);
        for e in ended.drain(..) {
            self.finalise(e);
        }
        self.ended = ended;
        self.largest_group = self.tracker.largest_group;
        self.last_ts = Some(ts);
        let keep = self.config.tracker.max_age_ms
            + self.config.look_gap_bridge_ms
            + 3.0 * self.tracker.frame_ms;
        self.windows
            .retain(|w| w.end_ms.is_none_or(|e| ts - e <= keep));
        let minute = (ts / aggregate::MINUTE_MS as f64).floor() as i64;
        if minute != self.last_prune_minute {
            self.last_prune_minute = minute;
            let r = &self.config.retention;
            self.series.prune(ts, r.minute_hours, r.hour_days);
        }
    }

    /// Ends every open visit at its last detection (end of a clip, or before a final report).
    pub fn finish(&mut self, ts_ms: f64) {
        let mut ended = std::mem::take(&mut self.ended);
        self.tracker
            .end_all(&self.windows, &self.config, &mut ended);
        for e in ended.drain(..) {
            self.finalise(e);
        }
        self.ended = ended;
        self.largest_group = 0;
        if self.last_ts.is_none_or(|l| ts_ms > l) {
            self.last_ts = Some(ts_ms);
        }
    }

    fn offset_ms(&self) -> i64 {
        self.config.utc_offset_minutes as i64 * aggregate::MINUTE_MS
    }

    fn finalise(&mut self, e: Ended) {
        let t = e.track;
        if !t.confirmed {
            return;
        }
        let cfg = &self.config;
        let band = t.attrs.band(&cfg.attributes, &cfg.age_bands);
        let gender = t.attrs.gender(&cfg.attributes);
        let watcher = t.longest_run_ms >= cfg.min_glance_ms;
        let mean_distance_m = (t.distance_n > 0).then(|| t.distance_sum_m / t.distance_n as f64);
        let start_ms = t.entered_ms(cfg);
        let facts = VisitFacts {
            start_ms,
            dwell_ms: e.end_ms - start_ms,
            attention_ms: t.attention_ms,
            attention_eyes_ms: t.attention_eyes_ms,
            attention_head_ms: t.attention_head_ms,
            watcher,
            band: band.and_then(|b| b.value),
            gender: gender.and_then(|g| g.value),
            mean_distance_m,
            group: t.max_group,
        };
        self.series
            .add_visit(&facts, self.offset_ms(), self.records_through_ms);
        let mut play_ids = Vec::new();
        for p in &t.plays {
            let contribution = PlayContribution {
                watcher: p.longest_run_ms >= self.config.min_glance_ms,
                attention_ms: p.attention_ms,
                band: facts.band,
                gender: facts.gender,
            };
            if let Some(id) = self.add_to_play(p.serial, &contribution) {
                play_ids.push(id);
            }
        }
        if self.visits_out.len() == COMPLETED_VISITS_CAP {
            self.visits_out.pop_front();
        }
        self.visits_out.push_back(CompletedVisit {
            track_id: t.id,
            start_ms,
            end_ms: e.end_ms,
            dwell_s: facts.dwell_ms / 1000.0,
            attention_s: t.attention_ms / 1000.0,
            attention_from_eyes_s: t.attention_eyes_ms / 1000.0,
            attention_from_head_pose_s: t.attention_head_ms / 1000.0,
            longest_glance_s: t.longest_run_ms / 1000.0,
            is_watcher: watcher,
            age_band: facts.band.map(|b| self.band_labels[b as usize].clone()),
            age_band_confidence: band.map(|b| b.confidence),
            gender: facts.gender,
            gender_confidence: gender.map(|g| g.confidence),
            mean_distance_m,
            max_group_size: t.max_group,
            frames_observed: t.frames_observed,
            play_ids,
        });
    }

    /// Adds one person's part in a play to the play (if still kept) and to its ad's day;
    /// returns the play id.
    fn add_to_play(&mut self, serial: u64, c: &PlayContribution) -> Option<String> {
        let offset = self.offset_ms();
        // The play may have been dropped by retention while this visit went on.
        let i = self
            .plays
            .binary_search_by_key(&serial, |r| r.serial)
            .ok()?;
        let rec = &mut self.plays[i];
        rec.impressions += 1;
        rec.watchers += c.watcher as u32;
        rec.attention_ms += c.attention_ms;
        aggregate::add_play_contribution(&mut rec.cells, c);
        let day = aggregate::floor_to(rec.start_ms, aggregate::DAY_MS, offset);
        let ad = self.ad_days.entry((rec.ad_id.clone(), day)).or_default();
        ad.impressions += 1;
        ad.watchers += c.watcher as u32;
        ad.attention_ms += c.attention_ms;
        aggregate::add_play_contribution(&mut ad.cells, c);
        Some(rec.play_id.clone())
    }

    /// Who is in front of the screen after the latest frame.
    pub fn snapshot(&self) -> AudienceSnapshot {
        let cfg = &self.config;
        let ts = self.last_ts.unwrap_or(0.0);
        let mut snap = AudienceSnapshot {
            timestamp_ms: ts,
            group_size: self.largest_group,
            ..Default::default()
        };
        let mut cells: Vec<(u16, u8, BandGenderCount)> = Vec::new();
        snap.people.reserve(self.tracker.tracks.len());
        for t in self.tracker.tracks.iter().filter(|t| t.confirmed) {
            let band = t.attrs.band(&cfg.attributes, &cfg.age_bands);
            let gender = t.attrs.gender(&cfg.attributes);
            let watcher = t.longest_run_ms >= cfg.min_glance_ms;
            let band_index = band.and_then(|b| b.value);
            let person = PersonNow {
                track_id: t.id,
                age_band: band_index.map(|b| self.band_labels[b as usize].clone()),
                age_band_confidence: band.map(|b| b.confidence),
                gender: gender.and_then(|g| g.value),
                gender_confidence: gender.map(|g| g.confidence),
                looking: t.looking_now,
                is_watcher: watcher,
                dwell_s: ((ts - t.entered_ms(cfg)) / 1000.0) as f32,
                attention_s: (t.attention_ms / 1000.0) as f32,
                current_look_s: if t.looking_now {
                    (t.run_ms / 1000.0) as f32
                } else {
                    0.0
                },
                distance_m: t.last_distance_m,
            };
            snap.present += 1;
            snap.watchers += watcher as u32;
            snap.looking_now += t.looking_now as u32;
            snap.longest_attention_s = snap.longest_attention_s.max(person.attention_s);
            if let Some(d) = person.distance_m {
                snap.nearest_distance_m =
                    Some(snap.nearest_distance_m.map_or(d, |n: f32| n.min(d)));
            }
            let key = (
                band_index.map_or(u16::MAX, |b| b as u16),
                person.gender.map_or(2, |g| g as u8),
            );
            match cells.iter_mut().find(|c| (c.0, c.1) == key) {
                Some(c) => {
                    c.2.present += 1;
                    c.2.watchers += watcher as u32;
                }
                None => cells.push((
                    key.0,
                    key.1,
                    BandGenderCount {
                        age_band: person.age_band.clone(),
                        gender: person.gender,
                        present: 1,
                        watchers: watcher as u32,
                    },
                )),
            }
            snap.people.push(person);
        }
        cells.sort_by_key(|c| (c.0, c.1));
        snap.by_band_gender = cells.into_iter().map(|c| c.2).collect();
        snap
    }

    /// Track id of each face of the latest frame (same order as `frame.faces`), `None` for faces
    /// below the detection threshold.
    pub fn face_track_ids(&self) -> &[Option<u64>] {
        &self.tracker.face_tracks
    }

    /// Whether the attribute models should run on this track's face in the next frame. Unknown
    /// tracks say yes.
    pub fn needs_attributes(&self, track_id: u64) -> bool {
        let ts = self.last_ts.unwrap_or(0.0) + self.tracker.frame_ms;
        self.tracker
            .tracks
            .iter()
            .find(|t| t.id == track_id)
            .is_none_or(|t| t.attrs.needs_attributes(&self.config.attributes, ts))
    }

    /// Before the attribute models run on a frame at `ts_ms`: for each detected face (box,
    /// score and keypoints filled), whether to run them. Of the faces they can run on
    /// (`eligible`: analysed and large enough, as the vision pipeline says), those due: faces
    /// of new people, tracks not yet stable every `attributes.unsettledIntervalMs`, stable ones
    /// every `attributes.intervalMs`; at most `attributes.maxFacesPerFrame`, the longest overdue
    /// first. Empty boxes say no (they are not tracked). Changes nothing.
    pub fn plan_attributes(
        &self,
        ts_ms: f64,
        faces: &[FaceAnalysis],
        eligible: &[bool],
    ) -> Vec<bool> {
        self.tracker
            .plan_attributes(ts_ms, faces, eligible, &self.config)
    }

    /// Tells the aggregator an ad play started at `ts_ms` (host clock, as frame timestamps).
    /// `play_id` identifies this play; `ad_id` the creative.
    pub fn ad_started(
        &mut self,
        play_id: &str,
        ad_id: &str,
        ts_ms: f64,
    ) -> Result<(), AudienceError> {
        if self.windows.iter().any(|w| {
            w.end_ms.is_none() && self.play(w.serial).is_some_and(|p| p.play_id == play_id)
        }) {
            return Err(AudienceError::DuplicatePlay(play_id.to_string()));
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        self.plays.push_back(PlayAudience {
            serial,
            play_id: play_id.to_string(),
            ad_id: ad_id.to_string(),
            start_ms: ts_ms,
            end_ms: None,
            completed: None,
            impressions: 0,
            watchers: 0,
            attention_ms: 0.0,
            cells: Vec::new(),
            recorded: false,
        });
        while self.plays.len() > self.config.retention.max_plays.max(1) {
            self.plays.pop_front();
        }
        let day = aggregate::floor_to(ts_ms, aggregate::DAY_MS, self.offset_ms());
        self.ad_days
            .entry((ad_id.to_string(), day))
            .or_default()
            .plays += 1;
        self.windows.push(PlayWindow {
            serial,
            start_ms: ts_ms,
            end_ms: None,
        });
        Ok(())
    }

    /// Tells the aggregator a play ended. `id` is the play id, or the ad id of a running play.
    pub fn ad_ended(&mut self, id: &str, ts_ms: f64, completed: bool) -> Result<(), AudienceError> {
        let running = |by_ad: bool| {
            self.windows.iter().position(|w| {
                w.end_ms.is_none()
                    && self.play(w.serial).is_some_and(|p| {
                        if by_ad {
                            p.ad_id == id
                        } else {
                            p.play_id == id
                        }
                    })
            })
        };
        let wi = running(false)
            .or_else(|| running(true))
            .ok_or_else(|| AudienceError::UnknownPlay(id.to_string()))?;
        let w = &mut self.windows[wi];
        let end = ts_ms.max(w.start_ms);
        w.end_ms = Some(end);
        let serial = w.serial;
        let offset = self.offset_ms();
        let i = self
            .plays
            .binary_search_by_key(&serial, |r| r.serial)
            .expect("running play is kept");
        let rec = &mut self.plays[i];
        rec.end_ms = Some(end);
        rec.completed = Some(completed);
        let day = aggregate::floor_to(rec.start_ms, aggregate::DAY_MS, offset);
        let ad = self.ad_days.entry((rec.ad_id.clone(), day)).or_default();
        ad.completed += completed as u32;
        ad.played_ms += end - rec.start_ms;
        Ok(())
    }

    fn play(&self, serial: u64) -> Option<&PlayAudience> {
        self.plays
            .binary_search_by_key(&serial, |r| r.serial)
            .ok()
            .map(|i| &self.plays[i])
    }

    /// Visits finalised since the last call, oldest first (at most [`COMPLETED_VISITS_CAP`]).
    /// **For evaluation only**: per-person data, never persisted nor reported.
    pub fn completed_visits(&mut self) -> Vec<CompletedVisit> {
        self.visits_out.drain(..).collect()
    }

    /// Number of minute, hour and day buckets held (memory is bounded by the retention config).
    pub fn bucket_counts(&self) -> (usize, usize, usize) {
        (
            self.series.minutes.len(),
            self.series.hours.len(),
            self.series.days.len(),
        )
    }

    /// Number of people tracked right now, confirmed or not.
    pub fn live_tracks(&self) -> usize {
        self.tracker.tracks.len()
    }
}
