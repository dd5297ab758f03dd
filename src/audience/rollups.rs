//! A network's report from its store's roll-ups: the inverse of `records.rs`. The fleet store
//! sums the screens' records per hour and per local day; those sums, read back for the screens
//! and period a dashboard chose, become an aggregator's buckets, and the aggregator's own report
//! (k-anonymity, CSV, the dashboard's format) describes the fleet as it describes one screen.

use serde::Deserialize;

use super::aggregate::{AdDay, Aggregate, CellAgg, PlayAudience, add_cell};
use super::{AudienceAggregator, AudienceConfig, AudienceError, AudienceReport, ReportOptions};
use crate::analysis::Gender;
use crate::fleet::records::{AudienceCell, CellGender, ProofOfPlay, Record, UNKNOWN_BAND};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Audience totals of one bucket (an hour, or a local day), summed over the chosen screens: the
/// fields of an `audienceMinute` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupBucket {
    /// The bucket's start, ms: a UTC hour, or a local day's date at 00:00 UTC.
    #[serde(default)]
    pub start_ms: i64,
    pub impressions: u32,
    pub watchers: u32,
    pub dwell_ms: f64,
    pub attention_ms: f64,
    pub attention_from_eyes_ms: f64,
    pub attention_from_head_pose_ms: f64,
    pub dwell_hist: [u32; 5],
    pub attention_hist: [u32; 5],
    pub distance_sum_m: f64,
    pub distance_count: u32,
    pub distance_hist: [u32; 5],
    pub group_size_sum: u64,
    pub group_size_hist: [u32; 4],
    #[serde(default)]
    pub cells: Vec<AudienceCell>,
}

/// One ad's plays on one local day, summed over the chosen screens.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupAdDay {
    pub ad_id: String,
    /// The local day's date at 00:00 UTC, ms.
    #[serde(default)]
    pub day_start_ms: i64,
    pub plays: u32,
    pub completed_plays: u32,
    pub played_ms: f64,
    pub impressions: u32,
    pub watchers: u32,
    pub attention_ms: f64,
    #[serde(default)]
    pub cells: Vec<AudienceCell>,
}

/// What a fleet report is made of. Buckets are hours or days, as the report's granularity asks;
/// days are each screen's local days, labelled by their date (a fleet spans time zones, so the
/// report's UTC offset is 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetRollups {
    pub buckets: Vec<RollupBucket>,
    pub ad_days: Vec<RollupAdDay>,
    /// Individual plays (the latest ones; the store holds them all).
    pub plays: Vec<ProofOfPlay>,
}

impl FleetRollups {
    /// What the store's roll-ups hold for `records`, by hour or by local day: the sums the
    /// ClickHouse views make, made here (to check them, and for tools without a store).
    pub fn from_records(records: &[Record], granularity: super::Granularity) -> Self {
        let mut buckets: std::collections::BTreeMap<i64, RollupBucket> = Default::default();
        let mut ad_days: std::collections::BTreeMap<(String, i64), RollupAdDay> =
            Default::default();
        let mut plays = Vec::new();
        let local_day = |ms: i64, offset_minutes: i32| {
            (ms + offset_minutes as i64 * 60_000).div_euclid(DAY_MS) * DAY_MS
        };
        for record in records {
            match record {
                Record::AudienceMinute(m) => {
                    let start = match granularity {
                        super::Granularity::Day => local_day(m.start_ms, m.utc_offset_minutes),
                        _ => m.start_ms.div_euclid(HOUR_MS) * HOUR_MS,
                    };
                    let b = buckets.entry(start).or_insert_with(|| RollupBucket {
                        start_ms: start,
                        ..Default::default()
                    });
                    b.impressions += m.impressions;
                    b.watchers += m.watchers;
                    b.dwell_ms += m.dwell_ms;
                    b.attention_ms += m.attention_ms;
                    b.attention_from_eyes_ms += m.attention_from_eyes_ms;
                    b.attention_from_head_pose_ms += m.attention_from_head_pose_ms;
                    for i in 0..5 {
                        b.dwell_hist[i] += m.dwell_hist[i];
                        b.attention_hist[i] += m.attention_hist[i];
                        b.distance_hist[i] += m.distance_hist[i];
                    }
                    for i in 0..4 {
                        b.group_size_hist[i] += m.group_size_hist[i];
                    }
                    b.distance_sum_m += m.distance_sum_m;
                    b.distance_count += m.distance_count;
                    b.group_size_sum += m.group_size_sum;
                    b.cells.extend(m.cells.iter().cloned());
                }
                Record::Play(p) => {
                    let day = local_day(p.start_ms, p.utc_offset_minutes);
                    let d = ad_days
                        .entry((p.ad_id.clone(), day))
                        .or_insert_with(|| RollupAdDay {
                            ad_id: p.ad_id.clone(),
                            day_start_ms: day,
                            ..Default::default()
                        });
                    d.plays += 1;
                    d.completed_plays += p.completed as u32;
                    d.played_ms += (p.end_ms - p.start_ms) as f64;
                    d.impressions += p.impressions;
                    d.watchers += p.watchers;
                    d.attention_ms += p.attention_ms;
                    // The store keeps no dwell per play.
                    let cells: Vec<AudienceCell> = p
                        .cells
                        .iter()
                        .map(|c| AudienceCell {
                            dwell_ms: 0.0,
                            ..c.clone()
                        })
                        .collect();
                    d.cells.extend(cells.iter().cloned());
                    plays.push(ProofOfPlay { cells, ..p.clone() });
                }
                Record::Heartbeat(_) => {}
            }
        }
        FleetRollups {
            buckets: buckets.into_values().collect(),
            ad_days: ad_days.into_values().collect(),
            plays,
        }
    }
}

/// The report of a fleet's roll-ups, with `config`'s age bands (every screen must use them) and
/// `options` (k-anonymity included). `options.granularity` says what `rollups.buckets` are:
/// hours or days (minutes are not rolled up).
pub fn fleet_report(
    config: AudienceConfig,
    rollups: &FleetRollups,
    options: &ReportOptions,
) -> Result<AudienceReport, AudienceError> {
    let config = AudienceConfig {
        utc_offset_minutes: 0,
        ..config
    };
    let mut fleet = AudienceAggregator::with_seed(config, 0)?;
    let series = match options.granularity {
        super::Granularity::Hour => &mut fleet.series.hours,
        super::Granularity::Day => &mut fleet.series.days,
        super::Granularity::Minute => {
            return Err(AudienceError::Config(
                "a fleet report's granularity is hour or day: minutes are not rolled up".into(),
            ));
        }
    };
    let bands = fleet.band_labels.clone();
    for bucket in &rollups.buckets {
        let aggregate = series.entry(bucket.start_ms).or_default();
        aggregate.merge(&aggregate_of(bucket, &bands)?);
    }
    for day in &rollups.ad_days {
        let totals = fleet
            .ad_days
            .entry((day.ad_id.clone(), day.day_start_ms))
            .or_default();
        totals.merge(&AdDay {
            plays: day.plays,
            completed: day.completed_plays,
            played_ms: day.played_ms,
            impressions: day.impressions,
            watchers: day.watchers,
            attention_ms: day.attention_ms,
            cells: cells_of(&day.cells, &bands)?,
        });
    }
    let mut plays = rollups.plays.clone();
    plays.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
    for (serial, play) in (1..).zip(plays) {
        fleet.plays.push_back(PlayAudience {
            serial,
            play_id: fleet_play_id(&play.screen_id, &play.play_id),
            ad_id: play.ad_id,
            start_ms: play.start_ms as f64,
            end_ms: Some(play.end_ms as f64),
            completed: Some(play.completed),
            impressions: play.impressions,
            watchers: play.watchers,
            attention_ms: play.attention_ms,
            cells: cells_of(&play.cells, &bands)?,
            recorded: true,
        });
        fleet.next_serial = serial + 1;
    }
    Ok(fleet.report(options))
}

/// A play's id in a fleet report: play ids are unique per screen only.
pub fn fleet_play_id(screen_id: &str, play_id: &str) -> String {
    format!("{screen_id}:{play_id}")
}

fn aggregate_of(bucket: &RollupBucket, bands: &[String]) -> Result<Aggregate, AudienceError> {
    Ok(Aggregate {
        visits: bucket.impressions,
        watchers: bucket.watchers,
        dwell_ms: bucket.dwell_ms,
        attention_ms: bucket.attention_ms,
        attention_eyes_ms: bucket.attention_from_eyes_ms,
        attention_head_ms: bucket.attention_from_head_pose_ms,
        dwell_hist: bucket.dwell_hist,
        attention_hist: bucket.attention_hist,
        distance_sum_m: bucket.distance_sum_m,
        distance_n: bucket.distance_count,
        distance_hist: bucket.distance_hist,
        group_sum: bucket.group_size_sum,
        group_hist: bucket.group_size_hist,
        cells: cells_of(&bucket.cells, bands)?,
    })
}

/// Record cells (band labels) as aggregate cells (band indexes into `bands`).
fn cells_of(cells: &[AudienceCell], bands: &[String]) -> Result<Vec<CellAgg>, AudienceError> {
    let mut out = Vec::new();
    for cell in cells {
        let band = match cell.age_band.as_str() {
            UNKNOWN_BAND => None,
            label => Some(bands.iter().position(|b| b == label).ok_or_else(|| {
                AudienceError::Config(format!(
                    "age band \"{label}\" in the store is not one of the configured bands ({})",
                    bands.join(", ")
                ))
            })? as u8),
        };
        let gender = match cell.gender {
            CellGender::Female => Some(Gender::Female),
            CellGender::Male => Some(Gender::Male),
            CellGender::Unknown => None,
        };
        add_cell(
            &mut out,
            &CellAgg {
                band,
                gender,
                present: cell.present,
                watchers: cell.watchers,
                dwell_ms: cell.dwell_ms,
                attention_ms: cell.attention_ms,
            },
        );
    }
    Ok(out)
}
