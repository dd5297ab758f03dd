//! Reports: totals, time series, ad plays and ads, with k-anonymity, exported as JSON or CSV.
//!
//! k-anonymity: every cell that counts people is a [`PeopleCount`]. A count in 1..k is suppressed
//! (`value: null, suppressed: true`). Cells that add up to a published total form a group; where a
//! group would leave a single suppressed cell (recoverable as total − the rest), the smallest other
//! cell is suppressed too (secondary suppression), repeated until stable. Ratios and times of a
//! suppressed group are withheld (`null`). The report states k and how many cells it suppressed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::aggregate::{
    Aggregate, CellAgg, DAY_MS, DISTANCE_BUCKET_LABELS, GROUP_BUCKET_LABELS, HOUR_MS, MINUTE_MS,
    TIME_BUCKET_LABELS, floor_to,
};
use super::error::AudienceError;
use super::{AudienceAggregator, state::SCHEMA_VERSION};
use crate::analysis::Gender;

/// Size of the time buckets in a report's series.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Granularity {
    Minute,
    #[default]
    Hour,
    Day,
}

/// What a report covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportOptions {
    /// Start of the period, ms (inclusive, rounded down to the granularity); `None`: everything.
    pub from_ms: Option<f64>,
    /// End of the period, ms (exclusive); `None`: up to now.
    pub to_ms: Option<f64>,
    /// Bucket size of the series and of the data the totals are summed from (default hour).
    /// Minutes cover only the minute retention (24 h by default), hours the hour retention.
    pub granularity: Granularity,
    /// Minimum number of people a published count may describe (default 5).
    pub k: u32,
    pub include_series: bool,
    pub include_plays: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            from_ms: None,
            to_ms: None,
            granularity: Granularity::Hour,
            k: 5,
            include_series: true,
            include_plays: true,
        }
    }
}

/// A count of people: `value` is `null` when `suppressed` (it was between 1 and k − 1, or had to
/// hide such a cell).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeopleCount {
    pub value: Option<u32>,
    pub suppressed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketCount {
    pub label: String,
    pub count: PeopleCount,
}

/// One (age band, gender) cell. `None` band or gender: unknown, its own category (not confident
/// enough, too few good frames, or a child's gender).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BandGenderReport {
    pub age_band: Option<String>,
    pub gender: Option<Gender>,
    pub present: PeopleCount,
    pub watchers: PeopleCount,
    /// Summed attention of the cell's people, seconds.
    pub attention_s: Option<f64>,
    /// Summed dwell of the cell's people, seconds (not measured per play: `null` there).
    pub dwell_s: Option<f64>,
}

/// The audience metrics of a set of visits (see the `definitions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsReport {
    pub impressions: PeopleCount,
    pub watchers: PeopleCount,
    pub conversion_ratio: Option<f64>,
    pub dwell_total_s: Option<f64>,
    pub dwell_mean_s: Option<f64>,
    pub attention_total_s: Option<f64>,
    pub attention_mean_per_watcher_s: Option<f64>,
    pub attraction_ratio: Option<f64>,
    pub attention_from_eyes_s: Option<f64>,
    pub attention_from_head_pose_s: Option<f64>,
    pub mean_distance_m: Option<f64>,
    pub mean_group_size: Option<f64>,
    pub dwell_buckets: Vec<BucketCount>,
    /// Watchers by their attention time.
    pub attention_buckets: Vec<BucketCount>,
    pub distance_buckets: Vec<BucketCount>,
    pub group_size_buckets: Vec<BucketCount>,
    pub by_band_gender: Vec<BandGenderReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesEntry {
    pub start_ms: i64,
    pub end_ms: i64,
    pub metrics: MetricsReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayReport {
    pub play_id: String,
    pub ad_id: String,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub completed: Option<bool>,
    /// False while the play runs or people present during it are still being tracked.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub impressions: PeopleCount,
    pub watchers: PeopleCount,
    pub conversion_ratio: Option<f64>,
    pub attention_s: Option<f64>,
    pub by_band_gender: Vec<BandGenderReport>,
}

/// All plays of one ad on the days overlapping the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdReport {
    pub ad_id: String,
    pub plays: u32,
    pub completed_plays: u32,
    pub played_s: f64,
    pub impressions: PeopleCount,
    pub watchers: PeopleCount,
    pub conversion_ratio: Option<f64>,
    pub attention_s: Option<f64>,
    pub by_band_gender: Vec<BandGenderReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KAnonymityInfo {
    pub k: u32,
    pub suppressed_cells: u32,
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudienceReport {
    pub schema_version: u32,
    /// Latest frame time seen when the report was made, ms.
    pub generated_at_ms: Option<f64>,
    pub definitions: BTreeMap<String, String>,
    pub k_anonymity: KAnonymityInfo,
    pub age_bands: Vec<String>,
    pub min_glance_s: f64,
    pub from_ms: Option<f64>,
    pub to_ms: Option<f64>,
    pub granularity: Granularity,
    pub totals: MetricsReport,
    pub series: Vec<SeriesEntry>,
    pub plays: Vec<PlayReport>,
    pub ads: Vec<AdReport>,
    pub notes: Vec<String>,
}

/// The industry definitions the numbers follow, written into every report.
pub fn definitions(min_glance_s: f64, bridge_s: f64, group_m: f32) -> BTreeMap<String, String> {
    [
        ("impressions", "Opportunities to see (OTS): people (confirmed tracks) present in the camera's zone, once per visit.".to_string()),
        ("watchers", format!("People who looked at the screen for at least {min_glance_s} s without interruption at least once during the visit.")),
        ("dwellTime", "From a person's first detection to the end of the last frame they were detected in; a visit that begins or ends at the edge of the picture with the face moving across it is extended to when the face crossed that edge, estimated from its speed.".to_string()),
        ("attentionTime", format!("Time spent looking at the screen (gaze ray within the screen plus tolerance); never more than dwell. Gaps in detection of up to {bridge_s} s between two looking frames count as looking.")),
        ("attractionRatio", "Total attention time / total dwell time.".to_string()),
        ("conversionRatio", "Watchers / impressions.".to_string()),
        ("distance", "A visit's mean distance from the camera, metres.".to_string()),
        ("groupSize", format!("Largest number of people within {group_m} m of each other (in a chain) the person was with during the visit.")),
        ("dwellBuckets", "People by dwell time: 0-5 s, 5-15 s, 15-30 s, 30-60 s, 60 s and more.".to_string()),
        ("attentionBuckets", "Watchers by attention time, same buckets as dwell.".to_string()),
        ("timeBuckets", "A visit counts in the bucket in which it started.".to_string()),
        ("play", format!("Per ad play: impressions are people present at any time during the play; watchers looked for at least {min_glance_s} s without interruption within it; attention is looking time within it.")),
        ("ageBand", "Apparent age band and gender: estimates of appearance, pooled over the visit's frames, with calibrated probabilities; null (\"unknown\" in CSV) when the probability is below the configured threshold, before enough good frames, and for children's gender. A band or gender filter counts only people whose estimate is known.".to_string()),
        ("kAnonymity", "Counts of people between 1 and k-1 are suppressed (value null, suppressed true), with a second cell suppressed where a lone one could be recovered from a total; ratios and times of suppressed groups are null.".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Cells that count people, and the additive groups they form, for suppression.
#[derive(Default)]
struct Arena {
    value: Vec<u32>,
    suppressed: Vec<bool>,
    groups: Vec<(usize, Vec<usize>)>,
}

impl Arena {
    fn cell(&mut self, v: u32) -> usize {
        self.value.push(v);
        self.suppressed.push(false);
        self.value.len() - 1
    }

    fn group(&mut self, total: usize, parts: Vec<usize>) {
        if !parts.is_empty() {
            self.groups.push((total, parts));
        }
    }

    /// Primary suppression of counts in 1..k, then secondary suppression until no group has a
    /// lone hidden cell that its published total would reveal. Returns the number suppressed.
    fn suppress(&mut self, k: u32) -> u32 {
        for (v, s) in self.value.iter().zip(self.suppressed.iter_mut()) {
            *s = *v > 0 && *v < k;
        }
        loop {
            let mut changed = false;
            for (total, parts) in &self.groups {
                let hidden = parts.iter().filter(|&&p| self.suppressed[p]).count();
                let lone = !self.suppressed[*total] && hidden == 1;
                // A hidden total is recomputable from fully published parts.
                let exposed_total =
                    self.suppressed[*total] && hidden == 0 && self.value[*total] > 0;
                if !(lone || exposed_total) {
                    continue;
                }
                let pick = parts
                    .iter()
                    .copied()
                    .filter(|&p| !self.suppressed[p])
                    .min_by_key(|&p| (self.value[p] == 0, self.value[p]));
                match pick {
                    Some(p) => self.suppressed[p] = true,
                    None => self.suppressed[*total] = true,
                }
                changed = true;
            }
            if !changed {
                break;
            }
        }
        self.suppressed.iter().filter(|&&s| s).count() as u32
    }

    fn get(&self, id: usize) -> PeopleCount {
        let s = self.suppressed[id];
        PeopleCount {
            value: (!s).then_some(self.value[id]),
            suppressed: s,
        }
    }
    fn hidden(&self, id: usize) -> bool {
        self.suppressed[id]
    }
}

/// Cell ids of a metrics block before suppression.
struct RawMetrics {
    agg: Aggregate,
    impressions: usize,
    watchers: usize,
    dwell: Vec<usize>,
    attention: Vec<usize>,
    distance: Vec<usize>,
    group: Vec<usize>,
    cells: Vec<(CellAgg, usize, usize)>,
}

fn raw_metrics(a: &mut Arena, agg: &Aggregate) -> RawMetrics {
    let impressions = a.cell(agg.visits);
    let watchers = a.cell(agg.watchers);
    let dwell: Vec<usize> = agg.dwell_hist.iter().map(|&v| a.cell(v)).collect();
    let attention: Vec<usize> = agg.attention_hist.iter().map(|&v| a.cell(v)).collect();
    let distance: Vec<usize> = agg.distance_hist.iter().map(|&v| a.cell(v)).collect();
    let group: Vec<usize> = agg.group_hist.iter().map(|&v| a.cell(v)).collect();
    let cells: Vec<(CellAgg, usize, usize)> = agg
        .cells
        .iter()
        .map(|c| (c.clone(), a.cell(c.present), a.cell(c.watchers)))
        .collect();
    a.group(impressions, dwell.clone());
    a.group(watchers, attention.clone());
    a.group(impressions, distance.clone());
    a.group(impressions, group.clone());
    a.group(impressions, cells.iter().map(|c| c.1).collect());
    a.group(watchers, cells.iter().map(|c| c.2).collect());
    RawMetrics {
        agg: agg.clone(),
        impressions,
        watchers,
        dwell,
        attention,
        distance,
        group,
        cells,
    }
}

/// Groups tying the totals to the series: each total cell is the sum of its buckets' cells.
fn link_series(a: &mut Arena, total: &RawMetrics, series: &[RawMetrics]) {
    let pick = |f: &dyn Fn(&RawMetrics) -> usize| series.iter().map(f).collect::<Vec<_>>();
    a.group(total.impressions, pick(&|m| m.impressions));
    a.group(total.watchers, pick(&|m| m.watchers));
    for i in 0..5 {
        a.group(total.dwell[i], pick(&|m| m.dwell[i]));
        a.group(total.attention[i], pick(&|m| m.attention[i]));
        a.group(total.distance[i], pick(&|m| m.distance[i]));
    }
    for i in 0..4 {
        a.group(total.group[i], pick(&|m| m.group[i]));
    }
    for (c, present, watchers) in &total.cells {
        let same = |m: &RawMetrics, w: bool| {
            m.cells
                .iter()
                .find(|x| x.0.band == c.band && x.0.gender == c.gender)
                .map(|x| if w { x.2 } else { x.1 })
        };
        a.group(
            *present,
            series.iter().filter_map(|m| same(m, false)).collect(),
        );
        a.group(
            *watchers,
            series.iter().filter_map(|m| same(m, true)).collect(),
        );
    }
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn buckets(a: &Arena, ids: &[usize], labels: &[&str]) -> Vec<BucketCount> {
    ids.iter()
        .zip(labels)
        .map(|(&id, l)| BucketCount {
            label: l.to_string(),
            count: a.get(id),
        })
        .collect()
}

fn band_gender(
    a: &Arena,
    cells: &[(CellAgg, usize, usize)],
    labels: &[String],
    with_dwell: bool,
) -> Vec<BandGenderReport> {
    cells
        .iter()
        .map(|(c, p, w)| {
            let open = !a.hidden(*p) && !a.hidden(*w);
            BandGenderReport {
                age_band: c.band.and_then(|b| labels.get(b as usize).cloned()),
                gender: c.gender,
                present: a.get(*p),
                watchers: a.get(*w),
                attention_s: open.then_some(c.attention_ms / 1000.0),
                dwell_s: (open && with_dwell).then_some(c.dwell_ms / 1000.0),
            }
        })
        .collect()
}

fn finish_metrics(a: &Arena, m: &RawMetrics, labels: &[String]) -> MetricsReport {
    let g = &m.agg;
    let open = !a.hidden(m.impressions);
    let open_w = open && !a.hidden(m.watchers);
    let when = |ok: bool, v: Option<f64>| if ok { v } else { None };
    MetricsReport {
        impressions: a.get(m.impressions),
        watchers: a.get(m.watchers),
        conversion_ratio: when(open_w, ratio(g.watchers as f64, g.visits as f64)),
        dwell_total_s: when(open, Some(g.dwell_ms / 1000.0)),
        dwell_mean_s: when(open, ratio(g.dwell_ms / 1000.0, g.visits as f64)),
        attention_total_s: when(open, Some(g.attention_ms / 1000.0)),
        attention_mean_per_watcher_s: when(
            open_w,
            ratio(g.attention_ms / 1000.0, g.watchers as f64),
        ),
        attraction_ratio: when(open, ratio(g.attention_ms, g.dwell_ms)),
        attention_from_eyes_s: when(open, Some(g.attention_eyes_ms / 1000.0)),
        attention_from_head_pose_s: when(open, Some(g.attention_head_ms / 1000.0)),
        mean_distance_m: when(open, ratio(g.distance_sum_m, g.distance_n as f64)),
        mean_group_size: when(open, ratio(g.group_sum as f64, g.visits as f64)),
        dwell_buckets: buckets(a, &m.dwell, &TIME_BUCKET_LABELS),
        attention_buckets: buckets(a, &m.attention, &TIME_BUCKET_LABELS),
        distance_buckets: buckets(a, &m.distance, &DISTANCE_BUCKET_LABELS),
        group_size_buckets: buckets(a, &m.group, &GROUP_BUCKET_LABELS),
        by_band_gender: band_gender(a, &m.cells, labels, true),
    }
}

struct RawPlay {
    impressions: usize,
    watchers: usize,
    attention_ms: f64,
    raw: (u32, u32),
    cells: Vec<(CellAgg, usize, usize)>,
}

fn raw_play(
    a: &mut Arena,
    impressions: u32,
    watchers: u32,
    attention_ms: f64,
    cells: &[CellAgg],
) -> RawPlay {
    let i = a.cell(impressions);
    let w = a.cell(watchers);
    let cells: Vec<_> = cells
        .iter()
        .map(|c| (c.clone(), a.cell(c.present), a.cell(c.watchers)))
        .collect();
    a.group(i, cells.iter().map(|c| c.1).collect());
    a.group(w, cells.iter().map(|c| c.2).collect());
    RawPlay {
        impressions: i,
        watchers: w,
        attention_ms,
        raw: (impressions, watchers),
        cells,
    }
}

impl AudienceAggregator {
    /// Builds a report over the aggregates (visits still open are not in it: call
    /// [`AudienceAggregator::finish`] first at the end of a clip).
    pub fn report(&self, opts: &ReportOptions) -> AudienceReport {
        let k = opts.k.max(1);
        let offset = self.offset_ms();
        let (unit, map, off) = match opts.granularity {
            Granularity::Minute => (MINUTE_MS, &self.series.minutes, 0),
            Granularity::Hour => (HOUR_MS, &self.series.hours, offset),
            Granularity::Day => (DAY_MS, &self.series.days, offset),
        };
        let from = opts.from_ms.map_or(i64::MIN, |f| floor_to(f, unit, off));
        let to = opts.to_ms.map_or(i64::MAX, |t| t.ceil() as i64);
        let mut notes = Vec::new();
        // Every visit is added to the minute, hour and day series alike, so a coarser bucket
        // holding more visits than the finer buckets inside it means the finer ones were pruned.
        let coarser = match opts.granularity {
            Granularity::Minute => Some((&self.series.hours, HOUR_MS)),
            Granularity::Hour => Some((&self.series.days, DAY_MS)),
            Granularity::Day => None,
        };
        let pruned = coarser.is_some_and(|(coarse, coarse_unit)| {
            coarse
                .range(..to)
                .filter(|(start, _)| **start + coarse_unit > from)
                .any(|(&start, agg)| {
                    let fine: u32 = map
                        .range(start..start + coarse_unit)
                        .map(|(_, a)| a.visits)
                        .sum();
                    agg.visits > fine
                })
        });
        if pruned && let Some(first) = map.keys().next() {
            notes.push(format!(
                "{:?} buckets are kept only from {first} ms on; older data is in coarser buckets.",
                opts.granularity
            ));
        }
        let mut arena = Arena::default();
        let mut total = Aggregate::default();
        let mut raw_series = Vec::new();
        for (&start, agg) in map.range(from..to) {
            total.merge(agg);
            raw_series.push((start, raw_metrics(&mut arena, agg)));
        }
        let raw_total = raw_metrics(&mut arena, &total);
        if opts.include_series {
            let ms: Vec<RawMetrics> = raw_series
                .iter()
                .map(|(_, m)| RawMetrics {
                    agg: Aggregate::default(),
                    impressions: m.impressions,
                    watchers: m.watchers,
                    dwell: m.dwell.clone(),
                    attention: m.attention.clone(),
                    distance: m.distance.clone(),
                    group: m.group.clone(),
                    cells: m.cells.clone(),
                })
                .collect();
            link_series(&mut arena, &raw_total, &ms);
        }

        // Plays that started in the period, and each ad's days overlapping it.
        let mut raw_plays = Vec::new();
        let mut raw_ads = Vec::new();
        if opts.include_plays {
            let in_range = |t: f64| t >= from as f64 && t < to as f64;
            for p in self.plays.iter().filter(|p| in_range(p.start_ms)) {
                let tracked = self
                    .tracker
                    .tracks
                    .iter()
                    .any(|t| t.plays.iter().any(|x| x.serial == p.serial));
                let rp = raw_play(
                    &mut arena,
                    p.impressions,
                    p.watchers,
                    p.attention_ms,
                    &p.cells,
                );
                raw_plays.push((p, p.end_ms.is_some() && !tracked, rp));
            }
            let day_from = if from == i64::MIN {
                i64::MIN
            } else {
                floor_to(from as f64, DAY_MS, offset)
            };
            let mut ads: BTreeMap<&str, super::aggregate::AdDay> = BTreeMap::new();
            for ((ad, day), v) in &self.ad_days {
                if *day >= day_from && *day < to {
                    ads.entry(ad.as_str()).or_default().merge(v);
                }
            }
            for (ad, v) in ads {
                let ra = raw_play(
                    &mut arena,
                    v.impressions,
                    v.watchers,
                    v.attention_ms,
                    &v.cells,
                );
                // When the listed plays add up to the ad's totals, tie them so that one play's
                // suppressed count cannot be recovered by subtraction.
                let mine: Vec<&RawPlay> = raw_plays
                    .iter()
                    .filter(|p| p.0.ad_id == ad)
                    .map(|p| &p.2)
                    .collect();
                let sum = mine
                    .iter()
                    .fold((0, 0), |s, p| (s.0 + p.raw.0, s.1 + p.raw.1));
                if !mine.is_empty() && sum == (v.impressions, v.watchers) {
                    let (i, w): (Vec<usize>, Vec<usize>) =
                        mine.iter().map(|p| (p.impressions, p.watchers)).unzip();
                    arena.group(ra.impressions, i);
                    arena.group(ra.watchers, w);
                }
                raw_ads.push((ad.to_string(), v, ra));
            }
        }

        let suppressed_cells = arena.suppress(k);
        let labels = &self.band_labels;
        let series = if opts.include_series {
            raw_series
                .iter()
                .map(|(start, m)| SeriesEntry {
                    start_ms: *start,
                    end_ms: start + unit,
                    metrics: finish_metrics(&arena, m, labels),
                })
                .collect()
        } else {
            Vec::new()
        };
        let play_block = |rp: &RawPlay| {
            let open = !arena.hidden(rp.impressions);
            let open_w = open && !arena.hidden(rp.watchers);
            (
                arena.get(rp.impressions),
                arena.get(rp.watchers),
                if open_w {
                    ratio(rp.raw.1 as f64, rp.raw.0 as f64)
                } else {
                    None
                },
                open.then_some(rp.attention_ms / 1000.0),
                band_gender(&arena, &rp.cells, labels, false),
            )
        };
        let plays = raw_plays
            .iter()
            .map(|(p, is_final, rp)| {
                let (impressions, watchers, conversion_ratio, attention_s, by_band_gender) =
                    play_block(rp);
                PlayReport {
                    play_id: p.play_id.clone(),
                    ad_id: p.ad_id.clone(),
                    start_ms: p.start_ms,
                    end_ms: p.end_ms,
                    completed: p.completed,
                    is_final: *is_final,
                    impressions,
                    watchers,
                    conversion_ratio,
                    attention_s,
                    by_band_gender,
                }
            })
            .collect();
        let ads = raw_ads
            .iter()
            .map(|(ad, v, ra)| {
                let (impressions, watchers, conversion_ratio, attention_s, by_band_gender) =
                    play_block(ra);
                AdReport {
                    ad_id: ad.clone(),
                    plays: v.plays,
                    completed_plays: v.completed,
                    played_s: v.played_ms / 1000.0,
                    impressions,
                    watchers,
                    conversion_ratio,
                    attention_s,
                    by_band_gender,
                }
            })
            .collect();
        let open_visits = self.tracker.tracks.iter().filter(|t| t.confirmed).count();
        if open_visits > 0 {
            notes.push(format!(
                "{open_visits} visit(s) still in progress are not counted yet."
            ));
        }
        AudienceReport {
            schema_version: SCHEMA_VERSION,
            generated_at_ms: self.last_ts,
            definitions: definitions(
                self.config.min_glance_ms / 1000.0,
                self.config.look_gap_bridge_ms / 1000.0,
                self.config.group_distance_m,
            ),
            k_anonymity: KAnonymityInfo {
                k,
                suppressed_cells,
                method: "suppression with secondary suppression".into(),
            },
            age_bands: labels.clone(),
            min_glance_s: self.config.min_glance_ms / 1000.0,
            from_ms: opts.from_ms,
            to_ms: opts.to_ms,
            granularity: opts.granularity,
            totals: finish_metrics(&arena, &raw_total, labels),
            series,
            plays,
            ads,
            notes,
        }
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// One row of the long-format CSV.
#[derive(Default)]
struct Row<'a> {
    section: &'a str,
    start: String,
    end: String,
    play_id: &'a str,
    ad_id: &'a str,
    age_band: &'a str,
    gender: &'a str,
    bucket: &'a str,
    metric: &'a str,
    value: String,
    suppressed: &'a str,
    note: &'a str,
}

const CSV_HEADER: [&str; 12] = [
    "section",
    "periodStartMs",
    "periodEndMs",
    "playId",
    "adId",
    "ageBand",
    "gender",
    "bucket",
    "metric",
    "value",
    "suppressed",
    "note",
];

fn count_value(c: &PeopleCount) -> (String, &'static str) {
    (
        c.value.map(|v| v.to_string()).unwrap_or_default(),
        if c.suppressed { "true" } else { "false" },
    )
}

/// A cell whose band or gender is not known (not confident enough, or a child's gender), in CSV.
const UNKNOWN: &str = "unknown";

fn gender_str(g: Option<Gender>) -> &'static str {
    match g {
        Some(Gender::Female) => "female",
        Some(Gender::Male) => "male",
        None => UNKNOWN,
    }
}

impl AudienceReport {
    /// Pretty-printed JSON of the whole report.
    pub fn to_json(&self) -> Result<String, AudienceError> {
        serde_json::to_string_pretty(self).map_err(|e| AudienceError::Export(e.to_string()))
    }

    /// Long-format CSV: one value per row, with `meta` rows (schema version, k, suppressed cells)
    /// and `definition` rows first. Suppressed people counts have an empty value and
    /// `suppressed` = true; empty values without that marker are undefined or withheld.
    pub fn to_csv(&self) -> Result<String, AudienceError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let err = |e: csv::Error| AudienceError::Export(e.to_string());
        w.write_record(CSV_HEADER).map_err(err)?;
        let mut rows: Vec<Row> = Vec::new();
        let meta = [
            ("schemaVersion", self.schema_version.to_string()),
            ("k", self.k_anonymity.k.to_string()),
            (
                "suppressedCells",
                self.k_anonymity.suppressed_cells.to_string(),
            ),
            (
                "granularity",
                format!("{:?}", self.granularity).to_lowercase(),
            ),
            ("minGlanceS", self.min_glance_s.to_string()),
            ("fromMs", num(self.from_ms)),
            ("toMs", num(self.to_ms)),
        ];
        for (metric, value) in meta {
            rows.push(Row {
                section: "meta",
                metric,
                value,
                ..Default::default()
            });
        }
        for n in &self.notes {
            rows.push(Row {
                section: "meta",
                metric: "note",
                note: n,
                ..Default::default()
            });
        }
        for (k, v) in &self.definitions {
            rows.push(Row {
                section: "definition",
                metric: k,
                note: v,
                ..Default::default()
            });
        }
        metric_rows(
            &mut rows,
            "totals",
            String::new(),
            String::new(),
            &self.totals,
        );
        for s in &self.series {
            metric_rows(
                &mut rows,
                "series",
                s.start_ms.to_string(),
                s.end_ms.to_string(),
                &s.metrics,
            );
        }
        for p in &self.plays {
            let base = Row {
                section: "play",
                start: p.start_ms.to_string(),
                end: num(p.end_ms),
                play_id: &p.play_id,
                ad_id: &p.ad_id,
                ..Default::default()
            };
            rows.push(Row {
                metric: "completed",
                value: p.completed.map(|c| c.to_string()).unwrap_or_default(),
                ..with(&base)
            });
            rows.push(Row {
                metric: "final",
                value: p.is_final.to_string(),
                ..with(&base)
            });
            play_rows(
                &mut rows,
                base,
                &p.impressions,
                &p.watchers,
                p.conversion_ratio,
                p.attention_s,
                &p.by_band_gender,
            );
        }
        for a in &self.ads {
            let base = Row {
                section: "ad",
                ad_id: &a.ad_id,
                ..Default::default()
            };
            rows.push(Row {
                section: "ad",
                ad_id: &a.ad_id,
                metric: "plays",
                value: a.plays.to_string(),
                ..Default::default()
            });
            rows.push(Row {
                section: "ad",
                ad_id: &a.ad_id,
                metric: "completedPlays",
                value: a.completed_plays.to_string(),
                ..Default::default()
            });
            rows.push(Row {
                section: "ad",
                ad_id: &a.ad_id,
                metric: "playedS",
                value: a.played_s.to_string(),
                ..Default::default()
            });
            play_rows(
                &mut rows,
                base,
                &a.impressions,
                &a.watchers,
                a.conversion_ratio,
                a.attention_s,
                &a.by_band_gender,
            );
        }
        for r in rows {
            w.write_record([
                r.section,
                &r.start,
                &r.end,
                &spreadsheet_text(r.play_id),
                &spreadsheet_text(r.ad_id),
                r.age_band,
                r.gender,
                r.bucket,
                r.metric,
                &r.value,
                r.suppressed,
                r.note,
            ])
            .map_err(err)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| AudienceError::Export(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| AudienceError::Export(e.to_string()))
    }
}

/// A text cell a spreadsheet will not run: ids come from rules documents, and a cell starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel or Calc (CSV
/// injection); such a cell gets a leading apostrophe, as OWASP advises.
pub(super) fn spreadsheet_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn with<'a>(base: &Row<'a>) -> Row<'a> {
    Row {
        section: base.section,
        start: base.start.clone(),
        end: base.end.clone(),
        play_id: base.play_id,
        ad_id: base.ad_id,
        ..Default::default()
    }
}

fn count_row<'a>(base: &Row<'a>, metric: &'a str, c: &PeopleCount) -> Row<'a> {
    let (value, suppressed) = count_value(c);
    Row {
        metric,
        value,
        suppressed,
        ..with(base)
    }
}

fn band_rows<'a>(rows: &mut Vec<Row<'a>>, base: &Row<'a>, cells: &'a [BandGenderReport]) {
    for c in cells {
        let band = c.age_band.as_deref().unwrap_or(UNKNOWN);
        let gender = gender_str(c.gender);
        let cell = |r: Row<'a>| Row {
            age_band: band,
            gender,
            ..r
        };
        rows.push(cell(count_row(base, "present", &c.present)));
        rows.push(cell(count_row(base, "watchers", &c.watchers)));
        rows.push(cell(Row {
            metric: "attentionS",
            value: num(c.attention_s),
            ..with(base)
        }));
        if c.dwell_s.is_some() || base.section == "totals" || base.section == "series" {
            rows.push(cell(Row {
                metric: "dwellS",
                value: num(c.dwell_s),
                ..with(base)
            }));
        }
    }
}

fn play_rows<'a>(
    rows: &mut Vec<Row<'a>>,
    base: Row<'a>,
    impressions: &PeopleCount,
    watchers: &PeopleCount,
    conversion: Option<f64>,
    attention: Option<f64>,
    cells: &'a [BandGenderReport],
) {
    rows.push(count_row(&base, "impressions", impressions));
    rows.push(count_row(&base, "watchers", watchers));
    rows.push(Row {
        metric: "conversionRatio",
        value: num(conversion),
        ..with(&base)
    });
    rows.push(Row {
        metric: "attentionS",
        value: num(attention),
        ..with(&base)
    });
    band_rows(rows, &base, cells);
}

fn metric_rows<'a>(
    rows: &mut Vec<Row<'a>>,
    section: &'a str,
    start: String,
    end: String,
    m: &'a MetricsReport,
) {
    let base = Row {
        section,
        start,
        end,
        ..Default::default()
    };
    rows.push(count_row(&base, "impressions", &m.impressions));
    rows.push(count_row(&base, "watchers", &m.watchers));
    let values = [
        ("conversionRatio", m.conversion_ratio),
        ("dwellTotalS", m.dwell_total_s),
        ("dwellMeanS", m.dwell_mean_s),
        ("attentionTotalS", m.attention_total_s),
        ("attentionMeanPerWatcherS", m.attention_mean_per_watcher_s),
        ("attractionRatio", m.attraction_ratio),
        ("attentionFromEyesS", m.attention_from_eyes_s),
        ("attentionFromHeadPoseS", m.attention_from_head_pose_s),
        ("meanDistanceM", m.mean_distance_m),
        ("meanGroupSize", m.mean_group_size),
    ];
    for (metric, v) in values {
        rows.push(Row {
            metric,
            value: num(v),
            ..with(&base)
        });
    }
    for (metric, list) in [
        ("dwellBucket", &m.dwell_buckets),
        ("attentionBucket", &m.attention_buckets),
        ("distanceBucket", &m.distance_buckets),
        ("groupSizeBucket", &m.group_size_buckets),
    ] {
        for b in list {
            rows.push(Row {
                bucket: &b.label,
                ..count_row(&base, metric, &b.count)
            });
        }
    }
    band_rows(rows, &base, &m.by_band_gender);
}

// proptest is a native-only dev-dependency (the wasm32 tests run in a browser).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::audience::aggregate::{PlayContribution, VisitFacts};
    use crate::audience::{AudienceConfig, COMPLETED_VISITS_CAP};

    #[test]
    fn a_lone_small_cell_gets_a_second_cell_suppressed() {
        let mut a = Arena::default();
        let total = a.cell(13);
        let parts = vec![a.cell(10), a.cell(3), a.cell(0)];
        a.group(total, parts.clone());
        assert_eq!(a.suppress(5), 2);
        assert!(a.hidden(parts[0]) && a.hidden(parts[1]));
        assert!(!a.hidden(parts[2]) && !a.hidden(total));
    }

    #[test]
    fn a_hidden_total_is_not_left_recomputable_from_its_parts() {
        let mut a = Arena::default();
        // Series: a bucket of 2 forces its sibling bucket (10) to be hidden; that bucket's own
        // parts (5 + 5) must then not all be shown, or they would give back 10 and then 2.
        let grand = a.cell(12);
        let b1 = a.cell(2);
        let b2 = a.cell(10);
        a.group(grand, vec![b1, b2]);
        let d1 = a.cell(5);
        let d2 = a.cell(5);
        a.group(b2, vec![d1, d2]);
        a.suppress(5);
        assert!(a.hidden(b1) && a.hidden(b2) && !a.hidden(grand));
        assert!(a.hidden(d1) || a.hidden(d2));
    }

    fn visit() -> impl Strategy<Value = VisitFacts> {
        let gender = proptest::option::of(prop_oneof![Just(Gender::Female), Just(Gender::Male)]);
        (
            0i64..240,
            0.0f64..120.0,
            0.0f64..1.0,
            any::<bool>(),
            proptest::option::of(0u8..8),
            gender,
            proptest::option::of(0.3f64..6.0),
            1u32..7,
        )
            .prop_map(
                |(minute, dwell_s, frac, watcher, band, gender, mean_distance_m, group)| {
                    VisitFacts {
                        start_ms: minute as f64 * 60_000.0 + 1234.0,
                        dwell_ms: dwell_s * 1000.0,
                        attention_ms: dwell_s * 1000.0 * frac,
                        attention_eyes_ms: dwell_s * 500.0 * frac,
                        attention_head_ms: dwell_s * 500.0 * frac,
                        watcher,
                        band,
                        gender,
                        mean_distance_m,
                        group,
                    }
                },
            )
    }

    /// Every `{value, suppressed}` object: hidden ones carry no value, shown ones are 0 or ≥ k.
    fn check_json(v: &serde_json::Value, k: u64, path: &str) -> Result<(), TestCaseError> {
        match v {
            serde_json::Value::Object(m) => {
                if let (Some(value), Some(s)) = (m.get("value"), m.get("suppressed")) {
                    if s.as_bool() == Some(true) {
                        prop_assert!(value.is_null(), "{path}: suppressed but shows {value}");
                    } else {
                        let n = value.as_u64().unwrap();
                        prop_assert!(n == 0 || n >= k, "{path}: count {n} < k {k}");
                    }
                }
                for (key, x) in m {
                    check_json(x, k, &format!("{path}.{key}"))?;
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    check_json(x, k, &format!("{path}[{i}]"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// In a list of cells under a shown total, never exactly one is hidden.
    fn check_no_lone(total: &PeopleCount, parts: &[PeopleCount]) -> Result<(), TestCaseError> {
        if !total.suppressed {
            prop_assert_ne!(parts.iter().filter(|p| p.suppressed).count(), 1);
        }
        Ok(())
    }

    fn check_metrics(m: &MetricsReport) -> Result<(), TestCaseError> {
        let counts = |b: &[BucketCount]| b.iter().map(|x| x.count).collect::<Vec<_>>();
        check_no_lone(&m.impressions, &counts(&m.dwell_buckets))?;
        check_no_lone(&m.impressions, &counts(&m.group_size_buckets))?;
        check_no_lone(&m.impressions, &counts(&m.distance_buckets))?;
        check_no_lone(&m.watchers, &counts(&m.attention_buckets))?;
        check_no_lone(
            &m.impressions,
            &m.by_band_gender
                .iter()
                .map(|c| c.present)
                .collect::<Vec<_>>(),
        )?;
        check_no_lone(
            &m.watchers,
            &m.by_band_gender
                .iter()
                .map(|c| c.watchers)
                .collect::<Vec<_>>(),
        )?;
        if m.watchers.suppressed || m.impressions.suppressed {
            prop_assert!(m.conversion_ratio.is_none() && m.attention_mean_per_watcher_s.is_none());
        }
        if m.impressions.suppressed {
            prop_assert!(m.dwell_mean_s.is_none() && m.attention_total_s.is_none());
        }
        for c in &m.by_band_gender {
            if c.present.suppressed || c.watchers.suppressed {
                prop_assert!(c.attention_s.is_none() && c.dwell_s.is_none());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn no_exported_count_below_k_is_revealed(
            visits in proptest::collection::vec(visit(), 0..150),
            plays in proptest::collection::vec(
                (0usize..3, proptest::collection::vec((any::<bool>(), proptest::option::of(0u8..8), any::<bool>()), 0..12)),
                0..6,
            ),
            k in 2u32..8,
            granularity in prop_oneof![Just(Granularity::Minute), Just(Granularity::Hour), Just(Granularity::Day)],
        ) {
            let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
            for v in &visits {
                agg.series.add_visit(v, 0, None);
            }
            for (i, (ad, people)) in plays.iter().enumerate() {
                let start = i as f64 * 60_000.0;
                agg.ad_started(&format!("p{i}"), &format!("ad{ad}"), start).unwrap();
                agg.ad_ended(&format!("p{i}"), start + 15_000.0, true).unwrap();
                for (watcher, band, female) in people {
                    let c = PlayContribution {
                        watcher: *watcher,
                        attention_ms: 700.0,
                        band: *band,
                        gender: Some(if *female { Gender::Female } else { Gender::Male }),
                    };
                    agg.add_to_play(agg.next_serial - 1, &c);
                }
            }
            let report = agg.report(&ReportOptions { granularity, k, ..Default::default() });
            prop_assert_eq!(report.k_anonymity.k, k);
            let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
            check_json(&json, k as u64, "report")?;
            check_metrics(&report.totals)?;
            for s in &report.series {
                check_metrics(&s.metrics)?;
            }
            let totals: Vec<PeopleCount> = report.series.iter().map(|s| s.metrics.impressions).collect();
            check_no_lone(&report.totals.impressions, &totals)?;
            for p in report.plays.iter().map(|p| (&p.impressions, &p.watchers, &p.by_band_gender, p.conversion_ratio))
                .chain(report.ads.iter().map(|a| (&a.impressions, &a.watchers, &a.by_band_gender, a.conversion_ratio)))
            {
                check_no_lone(p.0, &p.2.iter().map(|c| c.present).collect::<Vec<_>>())?;
                check_no_lone(p.1, &p.2.iter().map(|c| c.watchers).collect::<Vec<_>>())?;
                if p.0.suppressed || p.1.suppressed {
                    prop_assert!(p.3.is_none());
                }
            }
            // CSV: the same cells, flagged in the `suppressed` column.
            let csv_text = report.to_csv().unwrap();
            let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
            let (mut counted, mut hidden) = (0, 0);
            for row in rd.records() {
                let row = row.unwrap();
                match &row[10] {
                    "true" => {
                        prop_assert_eq!(&row[9], "");
                        hidden += 1;
                    }
                    "false" => {
                        let n: u32 = row[9].parse().unwrap();
                        prop_assert!(n == 0 || n >= k, "CSV row {:?}", row);
                        counted += 1;
                    }
                    other => prop_assert_eq!(other, ""),
                }
            }
            prop_assert!(counted > 0);
            // The report says how much it suppressed (the `suppressed` column, not a value
            // such as a play's `completed` that reads "true").
            prop_assert_eq!(hidden > 0, report.k_anonymity.suppressed_cells > 0);
            let _ = COMPLETED_VISITS_CAP;
        }
    }

    /// A 10 s visit at minute 0 with 2 s of attention, 1.5 m away.
    fn ten_second_visit(band: Option<u8>, gender: Option<Gender>, watcher: bool) -> VisitFacts {
        VisitFacts {
            start_ms: 0.0,
            dwell_ms: 10_000.0,
            attention_ms: 2000.0,
            attention_eyes_ms: 2000.0,
            attention_head_ms: 0.0,
            watcher,
            band,
            gender,
            mean_distance_m: Some(1.5),
            group: 1,
        }
    }

    #[test]
    fn small_counts_are_really_hidden_and_large_ones_shown() {
        let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
        let v = |band, watcher| ten_second_visit(Some(band), Some(Gender::Female), watcher);
        for _ in 0..8 {
            agg.series.add_visit(&v(3, true), 0, None);
        }
        for _ in 0..2 {
            agg.series.add_visit(&v(5, false), 0, None);
        }
        let r = agg.report(&ReportOptions::default());
        assert_eq!(r.totals.impressions.value, Some(10));
        assert_eq!(r.totals.watchers.value, Some(8));
        let cells = &r.totals.by_band_gender;
        assert_eq!(cells.len(), 2);
        // 8 vs 2 under a total of 10: both hidden, else 10 − 8 gives the 2 away.
        assert!(
            cells
                .iter()
                .all(|c| c.present.suppressed && c.present.value.is_none())
        );
        assert!(r.k_anonymity.suppressed_cells >= 2);
        let csv = r.to_csv().unwrap();
        assert!(csv.contains("meta,,,,,,,,k,5,,"));
        assert!(csv.contains("definition,,,,,,,,watchers,"));
        let json = r.to_json().unwrap();
        assert!(json.contains("\"definitions\"") && json.contains("\"suppressedCells\""));
        let r1 = agg.report(&ReportOptions {
            k: 1,
            ..Default::default()
        });
        assert_eq!(r1.totals.by_band_gender[1].present.value, Some(2));
        assert_eq!(r1.k_anonymity.suppressed_cells, 0);
    }

    #[test]
    fn ids_a_spreadsheet_would_run_as_formulas_are_written_as_text() {
        let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
        let ids = [
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\tcmd",
            "summer-sale",
        ];
        for (i, id) in ids.iter().enumerate() {
            let t = i as f64 * 10_000.0;
            agg.ad_started(&format!("p{i}"), id, t).unwrap();
            agg.ad_ended(&format!("p{i}"), t + 5_000.0, true).unwrap();
        }
        let csv = agg.report(&ReportOptions::default()).to_csv().unwrap();
        let mut written: Vec<String> = csv::Reader::from_reader(csv.as_bytes())
            .records()
            .map(|r| r.unwrap()[4].to_string())
            .filter(|id| !id.is_empty())
            .collect();
        written.sort();
        written.dedup();
        let mut expected: Vec<String> = ids
            .iter()
            .map(|id| match id.starts_with(['=', '+', '-', '@', '\t']) {
                true => format!("'{id}"),
                false => id.to_string(),
            })
            .collect();
        expected.sort();
        assert_eq!(written, expected);
    }

    #[test]
    fn unknown_band_and_gender_are_their_own_category() {
        let mut agg = AudienceAggregator::with_seed(AudienceConfig::default(), 1).unwrap();
        let v = |band, gender| ten_second_visit(band, gender, false);
        for _ in 0..6 {
            agg.series
                .add_visit(&v(Some(3), Some(Gender::Male)), 0, None);
            agg.series.add_visit(&v(Some(3), None), 0, None);
            agg.series.add_visit(&v(None, None), 0, None);
        }
        let r = agg.report(&ReportOptions::default());
        let cells = &r.totals.by_band_gender;
        assert_eq!(cells.len(), 3, "{cells:?}");
        let count = |band: Option<&str>, gender| {
            cells
                .iter()
                .find(|c| c.age_band.as_deref() == band && c.gender == gender)
                .and_then(|c| c.present.value)
        };
        assert_eq!(count(Some("25-34"), Some(Gender::Male)), Some(6));
        assert_eq!(count(Some("25-34"), None), Some(6));
        assert_eq!(count(None, None), Some(6));
        let csv = r.to_csv().unwrap();
        assert!(csv.contains(",25-34,male,,present,6,"), "{csv}");
        assert!(csv.contains(",25-34,unknown,,present,6,"), "{csv}");
        assert!(csv.contains(",unknown,unknown,,present,6,"), "{csv}");
    }
}
