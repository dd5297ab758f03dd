//! Additive audience aggregates: per time bucket (minute, hour, day), per ad play and per ad per
//! day. Only counts and sums live here: nothing per person, nothing derived from a face beyond
//! the count of people in each cell.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::Gender;

/// Upper bounds (exclusive, seconds) of the dwell and attention buckets: 0–5, 5–15, 15–30,
/// 30–60, 60+.
pub(crate) const TIME_BUCKETS_S: [f64; 4] = [5.0, 15.0, 30.0, 60.0];
pub(crate) const TIME_BUCKET_LABELS: [&str; 5] = ["0-5s", "5-15s", "15-30s", "30-60s", "60s+"];
/// Distance buckets (metres) of a visit's mean distance; the last counts visits without one.
pub(crate) const DISTANCE_BUCKETS_M: [f64; 3] = [1.0, 2.0, 4.0];
pub(crate) const DISTANCE_BUCKET_LABELS: [&str; 5] = ["0-1m", "1-2m", "2-4m", "4m+", "unknown"];
/// Group-size buckets: alone, pairs, 3–4, 5 or more.
pub(crate) const GROUP_BUCKET_LABELS: [&str; 4] = ["1", "2", "3-4", "5+"];

pub const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

pub(crate) fn time_bucket(s: f64) -> usize {
    TIME_BUCKETS_S
        .iter()
        .position(|&hi| s < hi)
        .unwrap_or(TIME_BUCKETS_S.len())
}

fn distance_bucket(d: Option<f64>) -> usize {
    match d {
        Some(d) => DISTANCE_BUCKETS_M
            .iter()
            .position(|&hi| d < hi)
            .unwrap_or(DISTANCE_BUCKETS_M.len()),
        None => DISTANCE_BUCKETS_M.len() + 1,
    }
}

fn group_bucket(g: u32) -> usize {
    match g {
        0 | 1 => 0,
        2 => 1,
        3 | 4 => 2,
        _ => 3,
    }
}

/// One finished visit as the aggregates need it (internal; the public, evaluation-only form is
/// [`super::CompletedVisit`]).
#[derive(Debug, Clone)]
pub(crate) struct VisitFacts {
    pub start_ms: f64,
    pub dwell_ms: f64,
    pub attention_ms: f64,
    pub attention_eyes_ms: f64,
    pub attention_head_ms: f64,
    pub watcher: bool,
    pub band: Option<u8>,
    pub gender: Option<Gender>,
    pub mean_distance_m: Option<f64>,
    pub group: u32,
}

/// People and time in one (age band, gender) cell. `band` indexes the configured bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CellAgg {
    pub band: Option<u8>,
    pub gender: Option<Gender>,
    pub present: u32,
    pub watchers: u32,
    pub dwell_ms: f64,
    pub attention_ms: f64,
}

pub(crate) fn cell_mut(
    cells: &mut Vec<CellAgg>,
    band: Option<u8>,
    gender: Option<Gender>,
) -> &mut CellAgg {
    let key = |c: &CellAgg| {
        (
            c.band.map_or(u16::MAX, u16::from),
            c.gender.map_or(2u8, |g| g as u8),
        )
    };
    let k = (
        band.map_or(u16::MAX, u16::from),
        gender.map_or(2u8, |g| g as u8),
    );
    let i = match cells.binary_search_by(|c| key(c).cmp(&k)) {
        Ok(i) => i,
        Err(i) => {
            cells.insert(
                i,
                CellAgg {
                    band,
                    gender,
                    present: 0,
                    watchers: 0,
                    dwell_ms: 0.0,
                    attention_ms: 0.0,
                },
            );
            i
        }
    };
    &mut cells[i]
}

/// Adds `c`'s people and times to its (band, gender) cell of `cells`.
pub(crate) fn add_cell(cells: &mut Vec<CellAgg>, c: &CellAgg) {
    let m = cell_mut(cells, c.band, c.gender);
    m.present += c.present;
    m.watchers += c.watchers;
    m.dwell_ms += c.dwell_ms;
    m.attention_ms += c.attention_ms;
}

/// Additive totals of the visits that started in one time bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Aggregate {
    pub visits: u32,
    pub watchers: u32,
    pub dwell_ms: f64,
    pub attention_ms: f64,
    pub attention_eyes_ms: f64,
    pub attention_head_ms: f64,
    pub dwell_hist: [u32; 5],
    /// Watchers only, by their attention time.
    pub attention_hist: [u32; 5],
    pub distance_sum_m: f64,
    pub distance_n: u32,
    pub distance_hist: [u32; 5],
    pub group_sum: u64,
    pub group_hist: [u32; 4],
    pub cells: Vec<CellAgg>,
}

impl Aggregate {
    pub(crate) fn add_visit(&mut self, v: &VisitFacts) {
        self.visits += 1;
        self.watchers += v.watcher as u32;
        self.dwell_ms += v.dwell_ms;
        self.attention_ms += v.attention_ms;
        self.attention_eyes_ms += v.attention_eyes_ms;
        self.attention_head_ms += v.attention_head_ms;
        self.dwell_hist[time_bucket(v.dwell_ms / 1000.0)] += 1;
        if v.watcher {
            self.attention_hist[time_bucket(v.attention_ms / 1000.0)] += 1;
        }
        if let Some(d) = v.mean_distance_m {
            self.distance_sum_m += d;
            self.distance_n += 1;
        }
        self.distance_hist[distance_bucket(v.mean_distance_m)] += 1;
        self.group_sum += v.group as u64;
        self.group_hist[group_bucket(v.group)] += 1;
        let c = cell_mut(&mut self.cells, v.band, v.gender);
        c.present += 1;
        c.watchers += v.watcher as u32;
        c.dwell_ms += v.dwell_ms;
        c.attention_ms += v.attention_ms;
    }

    pub fn merge(&mut self, o: &Aggregate) {
        self.visits += o.visits;
        self.watchers += o.watchers;
        self.dwell_ms += o.dwell_ms;
        self.attention_ms += o.attention_ms;
        self.attention_eyes_ms += o.attention_eyes_ms;
        self.attention_head_ms += o.attention_head_ms;
        for i in 0..5 {
            self.dwell_hist[i] += o.dwell_hist[i];
            self.attention_hist[i] += o.attention_hist[i];
            self.distance_hist[i] += o.distance_hist[i];
        }
        self.distance_sum_m += o.distance_sum_m;
        self.distance_n += o.distance_n;
        self.group_sum += o.group_sum;
        for i in 0..4 {
            self.group_hist[i] += o.group_hist[i];
        }
        for c in &o.cells {
            add_cell(&mut self.cells, c);
        }
    }
}

/// Minute, hour and day buckets, keyed by their start in ms. Every visit is added to all three
/// levels at once, so dropping old minutes (or hours) loses no totals: their hour (or day)
/// already holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TimeSeries {
    pub minutes: BTreeMap<i64, Aggregate>,
    pub hours: BTreeMap<i64, Aggregate>,
    pub days: BTreeMap<i64, Aggregate>,
}

pub(crate) fn floor_to(ts_ms: f64, unit: i64, offset_ms: i64) -> i64 {
    let t = ts_ms.floor() as i64 + offset_ms;
    t.div_euclid(unit) * unit - offset_ms
}

impl TimeSeries {
    /// Adds a visit to its minute, hour and day. A visit whose minute was already sent as a
    /// record (it starts before `sent_through_ms`) goes into the first minute not yet sent.
    pub(crate) fn add_visit(
        &mut self,
        v: &VisitFacts,
        offset_ms: i64,
        sent_through_ms: Option<i64>,
    ) {
        let t = v.start_ms;
        let minute = floor_to(t, MINUTE_MS, 0).max(sent_through_ms.unwrap_or(i64::MIN));
        self.minutes.entry(minute).or_default().add_visit(v);
        self.hours
            .entry(floor_to(t, HOUR_MS, offset_ms))
            .or_default()
            .add_visit(v);
        self.days
            .entry(floor_to(t, DAY_MS, offset_ms))
            .or_default()
            .add_visit(v);
    }

    /// Drops minutes and hours older than the retention windows ending at `now_ms`.
    pub(crate) fn prune(&mut self, now_ms: f64, minute_hours: u32, hour_days: u32) {
        let now = now_ms.floor() as i64;
        let min_keep = now - minute_hours as i64 * HOUR_MS;
        let hour_keep = now - hour_days as i64 * DAY_MS;
        self.minutes = self.minutes.split_off(&(min_keep - MINUTE_MS + 1));
        self.hours = self.hours.split_off(&(hour_keep - HOUR_MS + 1));
    }
}

/// One ad play and the audience it had (visits add to it when they end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlayAudience {
    pub serial: u64,
    pub play_id: String,
    pub ad_id: String,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub completed: Option<bool>,
    pub impressions: u32,
    pub watchers: u32,
    pub attention_ms: f64,
    pub cells: Vec<CellAgg>,
    /// Sent as a proof-of-play record (see `AudienceAggregator::take_records`).
    #[serde(default)]
    pub recorded: bool,
}

/// Per ad per day: plays and their audience, kept for ever (tiny).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdDay {
    pub plays: u32,
    pub completed: u32,
    pub played_ms: f64,
    pub impressions: u32,
    pub watchers: u32,
    pub attention_ms: f64,
    pub cells: Vec<CellAgg>,
}

impl AdDay {
    pub(crate) fn merge(&mut self, o: &AdDay) {
        self.plays += o.plays;
        self.completed += o.completed;
        self.played_ms += o.played_ms;
        self.impressions += o.impressions;
        self.watchers += o.watchers;
        self.attention_ms += o.attention_ms;
        for c in &o.cells {
            add_cell(&mut self.cells, c);
        }
    }
}

/// Adds one visit's part in a play to the play (if still kept) and to its ad's day.
pub(crate) struct PlayContribution {
    pub watcher: bool,
    pub attention_ms: f64,
    pub band: Option<u8>,
    pub gender: Option<Gender>,
}

pub(crate) fn add_play_contribution(cells: &mut Vec<CellAgg>, c: &PlayContribution) {
    let cell = cell_mut(cells, c.band, c.gender);
    cell.present += 1;
    cell.watchers += c.watcher as u32;
    cell.attention_ms += c.attention_ms;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_documented_edges() {
        assert_eq!(time_bucket(0.0), 0);
        assert_eq!(time_bucket(4.99), 0);
        assert_eq!(time_bucket(5.0), 1);
        assert_eq!(time_bucket(59.9), 3);
        assert_eq!(time_bucket(60.0), 4);
        assert_eq!(distance_bucket(None), 4);
        assert_eq!(distance_bucket(Some(1.5)), 1);
        assert_eq!(group_bucket(4), 2);
    }

    #[test]
    fn day_buckets_honour_the_utc_offset() {
        // 23:30 UTC on day 0 is 01:30 on day 1 at UTC+2.
        let t = (DAY_MS - 30 * MINUTE_MS) as f64;
        assert_eq!(floor_to(t, DAY_MS, 0), 0);
        assert_eq!(floor_to(t, DAY_MS, 2 * HOUR_MS), DAY_MS - 2 * HOUR_MS);
    }

    #[test]
    fn pruning_keeps_hours_and_days_whole() {
        let mut ts = TimeSeries::default();
        let v = VisitFacts {
            start_ms: 0.0,
            dwell_ms: 1000.0,
            attention_ms: 0.0,
            attention_eyes_ms: 0.0,
            attention_head_ms: 0.0,
            watcher: false,
            band: None,
            gender: None,
            mean_distance_m: None,
            group: 1,
        };
        for m in 0..(48 * 60) {
            ts.add_visit(
                &VisitFacts {
                    start_ms: (m * MINUTE_MS) as f64,
                    ..v.clone()
                },
                0,
                None,
            );
        }
        ts.prune((48 * HOUR_MS) as f64, 24, 1);
        assert_eq!(ts.minutes.len(), 24 * 60);
        assert_eq!(ts.hours.len(), 24);
        assert_eq!(ts.days.values().map(|a| a.visits).sum::<u32>(), 48 * 60);
    }
}
