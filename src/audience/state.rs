//! Persisted state: only aggregates (time buckets, ad plays, per-ad days), never per-track data.
//! The JSON carries `schemaVersion`; any other version is rejected with a clear error.

use serde::{Deserialize, Serialize};

use super::AudienceAggregator;
use super::aggregate::{AdDay, Aggregate, PlayAudience};
use super::error::AudienceError;
use super::tracker::PlayWindow;

/// Version of the persisted state and of reports.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketState {
    start_ms: i64,
    #[serde(flatten)]
    agg: Aggregate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdDayState {
    ad_id: String,
    day_start_ms: i64,
    #[serde(flatten)]
    totals: AdDay,
}

/// Everything the aggregator must keep across a page reload: counts and sums only. Open it with
/// [`AudienceAggregator::restore_state`]; its fields are private so it stays a faithful copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceState {
    schema_version: u32,
    /// Labels of the age bands that band indexes in the buckets refer to.
    age_bands: Vec<String>,
    utc_offset_minutes: i32,
    saved_at_ms: Option<f64>,
    minutes: Vec<BucketState>,
    hours: Vec<BucketState>,
    days: Vec<BucketState>,
    plays: Vec<PlayAudience>,
    next_play_serial: u64,
    ad_days: Vec<AdDayState>,
    /// Minutes starting before this were sent as fleet records (absent: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    records_through_ms: Option<i64>,
}

impl AudienceState {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("state serialises")
    }

    /// Parses state JSON, checking `schemaVersion` first.
    pub fn from_json(json: &str) -> Result<Self, AudienceError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| AudienceError::InvalidState(e.to_string()))?;
        Self::from_value(value)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Self, AudienceError> {
        let version = value.get("schemaVersion");
        if version.and_then(|v| v.as_u64()) != Some(SCHEMA_VERSION as u64) {
            return Err(AudienceError::UnsupportedSchemaVersion {
                found: version.map_or_else(|| "none".to_string(), |v| v.to_string()),
                supported: SCHEMA_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| AudienceError::InvalidState(e.to_string()))
    }
}

fn buckets(map: &std::collections::BTreeMap<i64, Aggregate>) -> Vec<BucketState> {
    map.iter()
        .map(|(&start_ms, agg)| BucketState {
            start_ms,
            agg: agg.clone(),
        })
        .collect()
}

impl AudienceAggregator {
    /// The aggregates to persist (no visit in progress is included: those are per person).
    pub fn state(&self) -> AudienceState {
        AudienceState {
            schema_version: SCHEMA_VERSION,
            age_bands: self.band_labels.clone(),
            utc_offset_minutes: self.config.utc_offset_minutes,
            saved_at_ms: self.last_ts,
            minutes: buckets(&self.series.minutes),
            hours: buckets(&self.series.hours),
            days: buckets(&self.series.days),
            plays: self.plays.iter().cloned().collect(),
            next_play_serial: self.next_serial,
            ad_days: self
                .ad_days
                .iter()
                .map(|((ad_id, day), totals)| AdDayState {
                    ad_id: ad_id.clone(),
                    day_start_ms: *day,
                    totals: totals.clone(),
                })
                .collect(),
            records_through_ms: self.records_through_ms,
        }
    }

    /// [`Self::state`] as compact JSON.
    pub fn save_state(&self) -> String {
        self.state().to_json()
    }

    /// Replaces the aggregates with saved ones (meant for start-up: people being tracked now
    /// are forgotten). Plays that were running when saved keep running, so `ad_ended` still
    /// finds them.
    pub fn restore_state(&mut self, json: &str) -> Result<(), AudienceError> {
        self.restore(AudienceState::from_json(json)?)
    }

    pub fn restore(&mut self, s: AudienceState) -> Result<(), AudienceError> {
        if s.age_bands != self.band_labels {
            return Err(AudienceError::AgeBandsMismatch {
                stored: s.age_bands,
                configured: self.band_labels.clone(),
            });
        }
        if s.utc_offset_minutes != self.config.utc_offset_minutes {
            return Err(AudienceError::InvalidState(format!(
                "state uses utcOffsetMinutes {} but the configuration has {}",
                s.utc_offset_minutes, self.config.utc_offset_minutes
            )));
        }
        let n_bands = self.band_labels.len();
        let bad_cell = |cells: &[super::aggregate::CellAgg]| {
            cells
                .iter()
                .any(|c| c.band.is_some_and(|b| b as usize >= n_bands))
        };
        let all_buckets = s.minutes.iter().chain(&s.hours).chain(&s.days);
        if all_buckets.clone().any(|b| bad_cell(&b.agg.cells))
            || s.plays.iter().any(|p| bad_cell(&p.cells))
            || s.ad_days.iter().any(|a| bad_cell(&a.totals.cells))
        {
            return Err(AudienceError::InvalidState(
                "age band index out of range".into(),
            ));
        }
        if s.plays.windows(2).any(|w| w[0].serial >= w[1].serial)
            || s.plays
                .last()
                .is_some_and(|p| p.serial >= s.next_play_serial)
        {
            return Err(AudienceError::InvalidState("plays are not in order".into()));
        }
        self.tracker.reset();
        self.series.minutes = s.minutes.into_iter().map(|b| (b.start_ms, b.agg)).collect();
        self.series.hours = s.hours.into_iter().map(|b| (b.start_ms, b.agg)).collect();
        self.series.days = s.days.into_iter().map(|b| (b.start_ms, b.agg)).collect();
        self.windows = s
            .plays
            .iter()
            .filter(|p| p.end_ms.is_none())
            .map(|p| PlayWindow {
                serial: p.serial,
                start_ms: p.start_ms,
                end_ms: None,
            })
            .collect();
        self.plays = s.plays.into();
        self.next_serial = s.next_play_serial;
        self.ad_days = s
            .ad_days
            .into_iter()
            .map(|a| ((a.ad_id, a.day_start_ms), a.totals))
            .collect();
        self.last_ts = match (self.last_ts, s.saved_at_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.visits_out.clear();
        self.records_through_ms = s.records_through_ms;
        // A saved state holds no more than this configuration keeps (one written by hand, or
        // under a longer retention, would otherwise stay until the next minute and play).
        let retention = &self.config.retention;
        while self.plays.len() > retention.max_plays.max(1) {
            self.plays.pop_front();
        }
        if let Some(now) = self.last_ts {
            self.series
                .prune(now, retention.minute_hours, retention.hour_days);
        }
        Ok(())
    }

    /// A new aggregator restored from saved state.
    pub fn from_state(config: super::AudienceConfig, json: &str) -> Result<Self, AudienceError> {
        let mut a = Self::new(config)?;
        a.restore_state(json)?;
        Ok(a)
    }
}
