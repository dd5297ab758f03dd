//! Building a report: the window's buckets, plays and ads as cells, suppressed together, then
//! read back as the report's types.

use std::collections::BTreeMap;

use super::suppression::{
    Arena, RawMetrics, RawPlay, band_gender, finish_metrics, link_series, ratio, raw_metrics,
    raw_play,
};
use super::{
    AdReport, AudienceReport, Granularity, KAnonymityInfo, PlayReport, ReportOptions, SeriesEntry,
    definitions,
};
use crate::audience::AudienceAggregator;
use crate::audience::aggregate::{
    AdDay, Aggregate, DAY_MS, HOUR_MS, MINUTE_MS, PlayAudience, floor_to,
};
use crate::audience::state::SCHEMA_VERSION;

/// The buckets a report reads: their size, the series they come from, and the period
/// `from..to` (ms, bucket-aligned at the start).
struct Window<'a> {
    granularity: Granularity,
    unit: i64,
    buckets: &'a BTreeMap<i64, Aggregate>,
    from: i64,
    to: i64,
}

/// A play in the period as cells: the play, whether its numbers are final (it ended, and no
/// one present during it is still in front of the screen), and its cells.
type PlayCells<'a> = (&'a PlayAudience, bool, RawPlay);
/// An ad's days overlapping the period, summed, and their cells.
type AdCells = (String, AdDay, RawPlay);

impl AudienceAggregator {
    /// Builds a report over the aggregates (visits still open are not in it: call
    /// [`AudienceAggregator::finish`] first at the end of a clip).
    pub fn report(&self, opts: &ReportOptions) -> AudienceReport {
        let k = opts.k.max(1);
        let window = self.window(opts);
        let mut notes: Vec<String> = self.pruned_note(&window).into_iter().collect();
        let mut arena = Arena::default();
        let (raw_series, raw_total) = self.raw_series(&mut arena, &window, opts.include_series);
        let (raw_plays, raw_ads) = if opts.include_plays {
            let plays = self.raw_plays(&mut arena, &window);
            let ads = self.raw_ads(&mut arena, &window, &plays);
            (plays, ads)
        } else {
            (Vec::new(), Vec::new())
        };
        let suppressed_cells = arena.suppress(k);
        let labels = &self.band_labels;
        let series = raw_series
            .iter()
            .map(|(start, m)| SeriesEntry {
                start_ms: *start,
                end_ms: start + window.unit,
                metrics: finish_metrics(&arena, m, labels),
            })
            .collect();
        let plays = raw_plays
            .iter()
            .map(|p| play_report(&arena, labels, p))
            .collect();
        let ads = raw_ads
            .iter()
            .map(|a| ad_report(&arena, labels, a))
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

    fn window(&self, opts: &ReportOptions) -> Window<'_> {
        let offset = self.offset_ms();
        let (unit, buckets, off) = match opts.granularity {
            Granularity::Minute => (MINUTE_MS, &self.series.minutes, 0),
            Granularity::Hour => (HOUR_MS, &self.series.hours, offset),
            Granularity::Day => (DAY_MS, &self.series.days, offset),
        };
        Window {
            granularity: opts.granularity,
            unit,
            buckets,
            from: opts.from_ms.map_or(i64::MIN, |f| floor_to(f, unit, off)),
            to: opts.to_ms.map_or(i64::MAX, |t| t.ceil() as i64),
        }
    }

    /// A note when the window reaches back before the finer buckets kept. Every visit is added
    /// to the minute, hour and day series alike, so a coarser bucket holding more visits than
    /// the finer buckets inside it means the finer ones were pruned.
    fn pruned_note(&self, window: &Window) -> Option<String> {
        let (coarse, coarse_unit) = match window.granularity {
            Granularity::Minute => (&self.series.hours, HOUR_MS),
            Granularity::Hour => (&self.series.days, DAY_MS),
            Granularity::Day => return None,
        };
        let pruned = coarse
            .range(..window.to)
            .filter(|(start, _)| **start + coarse_unit > window.from)
            .any(|(&start, agg)| {
                let fine: u32 = window
                    .buckets
                    .range(start..start + coarse_unit)
                    .map(|(_, a)| a.visits)
                    .sum();
                agg.visits > fine
            });
        let first = window.buckets.keys().next().filter(|_| pruned)?;
        Some(format!(
            "{:?} buckets are kept only from {first} ms on; older data is in coarser buckets.",
            window.granularity
        ))
    }

    /// The window's buckets as cells, and their total; tied together when the series is
    /// reported (else the series comes back empty).
    fn raw_series(
        &self,
        arena: &mut Arena,
        window: &Window,
        include_series: bool,
    ) -> (Vec<(i64, RawMetrics)>, RawMetrics) {
        let mut total = Aggregate::default();
        let mut series = Vec::new();
        for (&start, agg) in window.buckets.range(window.from..window.to) {
            total.merge(agg);
            series.push((start, raw_metrics(arena, agg)));
        }
        let raw_total = raw_metrics(arena, &total);
        if !include_series {
            return (Vec::new(), raw_total);
        }
        let ms: Vec<&RawMetrics> = series.iter().map(|(_, m)| m).collect();
        link_series(arena, &raw_total, &ms);
        (series, raw_total)
    }

    /// Plays that started in the period.
    fn raw_plays<'a>(&'a self, arena: &mut Arena, window: &Window) -> Vec<PlayCells<'a>> {
        let in_range = |t: f64| t >= window.from as f64 && t < window.to as f64;
        self.plays
            .iter()
            .filter(|p| in_range(p.start_ms))
            .map(|p| {
                let tracked = self
                    .tracker
                    .tracks
                    .iter()
                    .any(|t| t.plays.iter().any(|x| x.serial == p.serial));
                let cells = raw_play(arena, p.impressions, p.watchers, p.attention_ms, &p.cells);
                (p, p.end_ms.is_some() && !tracked, cells)
            })
            .collect()
    }

    /// Each ad's days overlapping the period.
    fn raw_ads(&self, arena: &mut Arena, window: &Window, plays: &[PlayCells]) -> Vec<AdCells> {
        let day_from = if window.from == i64::MIN {
            i64::MIN
        } else {
            floor_to(window.from as f64, DAY_MS, self.offset_ms())
        };
        let mut ads: BTreeMap<&str, AdDay> = BTreeMap::new();
        for ((ad, day), v) in &self.ad_days {
            if *day >= day_from && *day < window.to {
                ads.entry(ad.as_str()).or_default().merge(v);
            }
        }
        ads.into_iter()
            .map(|(ad, v)| {
                let cells = raw_play(arena, v.impressions, v.watchers, v.attention_ms, &v.cells);
                tie_plays_to_ad(arena, &cells, &v, ad, plays);
                (ad.to_string(), v, cells)
            })
            .collect()
    }
}

/// When the listed plays of `ad` add up to the ad's totals, ties them so that one play's
/// suppressed count cannot be recovered by subtraction.
fn tie_plays_to_ad(
    arena: &mut Arena,
    ad_cells: &RawPlay,
    v: &AdDay,
    ad: &str,
    plays: &[PlayCells],
) {
    let mine: Vec<&RawPlay> = plays
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
        arena.group(ad_cells.impressions, i);
        arena.group(ad_cells.watchers, w);
    }
}

/// A play's or an ad's people counts after suppression: impressions, watchers, conversion
/// ratio and attention (withheld where their counts are hidden), and the band and gender cells.
struct Audience {
    impressions: super::PeopleCount,
    watchers: super::PeopleCount,
    conversion_ratio: Option<f64>,
    attention_s: Option<f64>,
    by_band_gender: Vec<super::BandGenderReport>,
}

fn audience(arena: &Arena, labels: &[String], rp: &RawPlay) -> Audience {
    let open = !arena.hidden(rp.impressions);
    let open_w = open && !arena.hidden(rp.watchers);
    Audience {
        impressions: arena.get(rp.impressions),
        watchers: arena.get(rp.watchers),
        conversion_ratio: if open_w {
            ratio(rp.raw.1 as f64, rp.raw.0 as f64)
        } else {
            None
        },
        attention_s: open.then_some(rp.attention_ms / 1000.0),
        by_band_gender: band_gender(arena, &rp.cells, labels, false),
    }
}

fn play_report(arena: &Arena, labels: &[String], (p, is_final, rp): &PlayCells) -> PlayReport {
    let a = audience(arena, labels, rp);
    PlayReport {
        play_id: p.play_id.clone(),
        ad_id: p.ad_id.clone(),
        start_ms: p.start_ms,
        end_ms: p.end_ms,
        completed: p.completed,
        is_final: *is_final,
        impressions: a.impressions,
        watchers: a.watchers,
        conversion_ratio: a.conversion_ratio,
        attention_s: a.attention_s,
        by_band_gender: a.by_band_gender,
    }
}

fn ad_report(arena: &Arena, labels: &[String], (ad, v, ra): &AdCells) -> AdReport {
    let a = audience(arena, labels, ra);
    AdReport {
        ad_id: ad.clone(),
        plays: v.plays,
        completed_plays: v.completed,
        played_s: v.played_ms / 1000.0,
        impressions: a.impressions,
        watchers: a.watchers,
        conversion_ratio: a.conversion_ratio,
        attention_s: a.attention_s,
        by_band_gender: a.by_band_gender,
    }
}
