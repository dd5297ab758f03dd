//! Reports: totals, time series, ad plays and ads, with k-anonymity, exported as JSON or CSV.
//!
//! k-anonymity: every cell that counts people is a [`PeopleCount`]. A count in 1..k is suppressed
//! (`value: null, suppressed: true`). Cells that add up to a published total form a group; where a
//! group would leave a single suppressed cell (recoverable as total − the rest), the smallest other
//! cell is suppressed too (secondary suppression), repeated until stable. Ratios and times of a
//! suppressed group are withheld (`null`). The report states k and how many cells it suppressed.
//!
//! Files: this one (the report's types), `suppression` (the cells and k-anonymity), `build`
//! (from the aggregates to a report), `csv_export` (the long-format CSV).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::AudienceError;
use crate::analysis::Gender;

mod build;
mod csv_export;
mod suppression;

pub(super) use csv_export::spreadsheet_text;

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

impl AudienceReport {
    /// Pretty-printed JSON of the whole report.
    pub fn to_json(&self) -> Result<String, AudienceError> {
        serde_json::to_string_pretty(self).map_err(|e| AudienceError::Export(e.to_string()))
    }
}

// proptest is a native-only dev-dependency (the wasm32 tests run in a browser).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::audience::AudienceAggregator;
    use crate::audience::aggregate::{PlayContribution, VisitFacts};
    use crate::audience::{AudienceConfig, COMPLETED_VISITS_CAP};

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
