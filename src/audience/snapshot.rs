//! The live audience snapshot: who is in front of the screen right now. The rules' scheduler
//! decides from this alone (plus the clock), so this is the contract between `audience` and `rules`.

use serde::{Deserialize, Serialize};

use crate::analysis::Gender;

/// One person currently tracked in front of the screen. `trackId` is ephemeral: random per
/// session, never reused, forgotten when the person leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonNow {
    pub track_id: u64,
    /// Label of the configured age band (e.g. "25-34", "65+"); `None` (unknown) until judged
    /// or while its probability is below `minAgeBandConfidence`.
    pub age_band: Option<String>,
    /// Probability of the most likely band, in [0, 1] (calibrated on the dev sets); `None` until
    /// judged.
    pub age_band_confidence: Option<f32>,
    /// Apparent gender; `None` (unknown) until judged, while its probability is below
    /// `minGenderConfidence`, and for children unless `genderForChildren`.
    pub gender: Option<Gender>,
    /// Probability of the more likely apparent gender, in [0.5, 1] (calibrated on the dev
    /// sets); `None` until judged.
    pub gender_confidence: Option<f32>,
    /// Looking at the screen in the latest frame.
    pub looking: bool,
    /// Has looked for at least the minimum glance duration during this visit.
    pub is_watcher: bool,
    /// Seconds since first detected in this visit.
    pub dwell_s: f32,
    /// Seconds of attention (looking) in this visit.
    pub attention_s: f32,
    /// Length of the current uninterrupted look, 0 when not looking.
    pub current_look_s: f32,
    pub distance_m: Option<f32>,
}

/// Counts for one (age band, gender) cell among the people present now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BandGenderCount {
    pub age_band: Option<String>,
    pub gender: Option<Gender>,
    pub present: u32,
    pub watchers: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudienceSnapshot {
    /// Milliseconds on the host's clock (the frame timestamp the snapshot reflects).
    pub timestamp_ms: f64,
    /// People present (tracked) now: opportunities to see.
    pub present: u32,
    /// People present now who are watchers (looked at least the minimum glance this visit).
    pub watchers: u32,
    /// People looking at the screen in the latest frame.
    pub looking_now: u32,
    /// Size of the largest group of people present together.
    pub group_size: u32,
    /// Longest attention time among people present, seconds.
    pub longest_attention_s: f32,
    /// Nearest present person's distance, metres.
    pub nearest_distance_m: Option<f32>,
    pub by_band_gender: Vec<BandGenderCount>,
    pub people: Vec<PersonNow>,
}
