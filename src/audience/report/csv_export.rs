//! A report as long-format CSV: one value per row.

use super::{AdReport, AudienceReport, BandGenderReport, MetricsReport, PeopleCount, PlayReport};
use crate::analysis::Gender;
use crate::audience::error::AudienceError;

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
    /// Long-format CSV: one value per row, with `meta` rows (schema version, k, suppressed cells)
    /// and `definition` rows first. Suppressed people counts have an empty value and
    /// `suppressed` = true; empty values without that marker are undefined or withheld.
    pub fn to_csv(&self) -> Result<String, AudienceError> {
        let mut rows = self.meta_rows();
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
            report_play_rows(&mut rows, p);
        }
        for a in &self.ads {
            ad_rows(&mut rows, a);
        }
        write_rows(rows)
    }

    /// The `meta` rows (schema version, k, suppressed cells, the period, notes), then the
    /// `definition` rows.
    fn meta_rows(&self) -> Vec<Row<'_>> {
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
        let mut rows: Vec<Row> = meta
            .into_iter()
            .map(|(metric, value)| Row {
                section: "meta",
                metric,
                value,
                ..Default::default()
            })
            .collect();
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
        rows
    }
}

/// The CSV text of `rows` under [`CSV_HEADER`].
fn write_rows(rows: Vec<Row>) -> Result<String, AudienceError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| AudienceError::Export(e.to_string());
    w.write_record(CSV_HEADER).map_err(err)?;
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

fn report_play_rows<'a>(rows: &mut Vec<Row<'a>>, p: &'a PlayReport) {
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
        rows,
        base,
        &p.impressions,
        &p.watchers,
        p.conversion_ratio,
        p.attention_s,
        &p.by_band_gender,
    );
}

fn ad_rows<'a>(rows: &mut Vec<Row<'a>>, a: &'a AdReport) {
    let base = Row {
        section: "ad",
        ad_id: &a.ad_id,
        ..Default::default()
    };
    let counts = [
        ("plays", a.plays.to_string()),
        ("completedPlays", a.completed_plays.to_string()),
        ("playedS", a.played_s.to_string()),
    ];
    for (metric, value) in counts {
        rows.push(Row {
            metric,
            value,
            ..with(&base)
        });
    }
    play_rows(
        rows,
        base,
        &a.impressions,
        &a.watchers,
        a.conversion_ratio,
        a.attention_s,
        &a.by_band_gender,
    );
}

/// A text cell a spreadsheet will not run: ids come from rules documents, and a cell starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel or Calc (CSV
/// injection); such a cell gets a leading apostrophe, as OWASP advises.
pub(in crate::audience) fn spreadsheet_text(text: &str) -> std::borrow::Cow<'_, str> {
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
