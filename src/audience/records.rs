//! Fleet records from the aggregates: a minute once no visit that started in it can still end,
//! a play once it is final (ended, and everyone who saw it has left). Each is made once; the
//! marks of what was made live in the saved state, so a reload neither repeats nor skips one.

use super::AudienceAggregator;
use super::aggregate::{Aggregate, CellAgg, MINUTE_MS, PlayAudience, floor_to};
use crate::fleet::records::{
    AudienceCell, AudienceMinute, CellGender, ProofOfPlay, RECORD_SCHEMA_VERSION, Record,
    UNKNOWN_BAND,
};

impl AudienceAggregator {
    /// The records that became final since the last call, oldest first: minutes, then plays.
    /// `flush` closes every minute up to the latest frame (the end of a clip, after
    /// [`Self::finish`]); a visit that later starts in a closed minute is counted in the first
    /// open one, so no record ever misses a visit.
    ///
    /// The host must persist the records and [`Self::save_state`] together: state saved without
    /// its records would skip them after a reload.
    pub fn take_records(&mut self, screen_id: &str, flush: bool) -> Vec<Record> {
        let Some(now) = self.last_ts else {
            return Vec::new();
        };
        let through = self.closed_through(now, flush);
        let from = self.records_through_ms.unwrap_or(i64::MIN);
        let mut records = Vec::new();
        if through > from {
            records.extend(
                self.series
                    .minutes
                    .range(from..through)
                    .map(|(&start_ms, agg)| {
                        Record::AudienceMinute(self.minute(screen_id, start_ms, agg))
                    }),
            );
            self.records_through_ms = Some(through);
        }
        let final_plays: Vec<usize> = (0..self.plays.len())
            .filter(|&i| !self.plays[i].recorded && self.is_final(&self.plays[i]))
            .collect();
        for i in final_plays {
            records.push(Record::Play(self.proof_of_play(screen_id, &self.plays[i])));
            self.plays[i].recorded = true;
        }
        records
    }

    /// Minutes starting before the returned time are closed: no visit open now, nor one that
    /// starts from now on (its start may be put back to when it crossed the frame's edge), can
    /// start in them.
    fn closed_through(&self, now: f64, flush: bool) -> i64 {
        if flush && self.tracker.tracks.is_empty() {
            return floor_to(now, MINUTE_MS, 0) + MINUTE_MS;
        }
        let earliest_open = self
            .tracker
            .tracks
            .iter()
            .map(|t| t.first_seen_ms)
            .fold(now, f64::min);
        floor_to(
            earliest_open - self.config.tracker.max_edge_extension_ms,
            MINUTE_MS,
            0,
        )
    }

    fn is_final(&self, play: &PlayAudience) -> bool {
        play.end_ms.is_some()
            && !self
                .tracker
                .tracks
                .iter()
                .any(|t| t.plays.iter().any(|p| p.serial == play.serial))
    }

    fn cells(&self, cells: &[CellAgg]) -> Vec<AudienceCell> {
        cells
            .iter()
            .filter(|c| c.present > 0)
            .map(|c| AudienceCell {
                age_band: c
                    .band
                    .map_or(UNKNOWN_BAND, |b| self.band_labels[b as usize].as_str())
                    .to_string(),
                gender: CellGender::from(c.gender),
                present: c.present,
                watchers: c.watchers,
                dwell_ms: c.dwell_ms,
                attention_ms: c.attention_ms,
            })
            .collect()
    }

    fn minute(&self, screen_id: &str, start_ms: i64, a: &Aggregate) -> AudienceMinute {
        AudienceMinute {
            schema_version: RECORD_SCHEMA_VERSION,
            id: AudienceMinute::record_id(screen_id, start_ms),
            screen_id: screen_id.to_string(),
            start_ms,
            utc_offset_minutes: self.config.utc_offset_minutes,
            impressions: a.visits,
            watchers: a.watchers,
            dwell_ms: a.dwell_ms,
            attention_ms: a.attention_ms,
            attention_from_eyes_ms: a.attention_eyes_ms,
            attention_from_head_pose_ms: a.attention_head_ms,
            dwell_hist: a.dwell_hist,
            attention_hist: a.attention_hist,
            distance_sum_m: a.distance_sum_m,
            distance_count: a.distance_n,
            distance_hist: a.distance_hist,
            group_size_sum: a.group_sum,
            group_size_hist: a.group_hist,
            cells: self.cells(&a.cells),
        }
    }

    fn proof_of_play(&self, screen_id: &str, p: &PlayAudience) -> ProofOfPlay {
        let start_ms = p.start_ms.floor() as i64;
        ProofOfPlay {
            schema_version: RECORD_SCHEMA_VERSION,
            id: ProofOfPlay::record_id(screen_id, &p.play_id),
            screen_id: screen_id.to_string(),
            play_id: p.play_id.clone(),
            ad_id: p.ad_id.clone(),
            start_ms,
            end_ms: p
                .end_ms
                .map_or(start_ms, |e| (e.floor() as i64).max(start_ms)),
            utc_offset_minutes: self.config.utc_offset_minutes,
            completed: p.completed.unwrap_or(false),
            impressions: p.impressions,
            watchers: p.watchers,
            attention_ms: p.attention_ms,
            cells: self.cells(&p.cells),
        }
    }
}
