//! The read side: `GET /v1/fleet/report` gives a dashboard or an export job the audience report
//! of the screens it chose (by id, venue or tag) over a period, built from ClickHouse's hourly or
//! daily roll-ups by the same code that makes a kiosk's own report, so k-anonymity (k = 5 by
//! default), the CSV and the dashboard's format are the kiosk's. `GET /v1/fleet/screens` lists
//! the screens with their venues, tags and latest health (from the heartbeats). Readers log in with their own
//! tokens; every query runs as ClickHouse's readonly reader and is built here from the
//! configuration's screen ids and whole numbers only: nothing a browser sends reaches SQL.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use glance::audience::{
    AudienceConfig, AudienceReport, ExportFormat, ExportScreen, FleetRollups, Granularity,
    ReportOptions, RollupAdDay, RollupBucket, export_plays, fleet_plays_at, fleet_report,
};
use glance::fleet::{AudienceCell, CellGender, ProofOfPlay, RECORD_SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{ApiError, AppState};
use crate::clickhouse::{ClickHouse, StoreError, quote_list};
use crate::config::ScreenConfig;

/// Individual plays a report lists at most (the newest); totals come from the roll-ups.
pub const MAX_LISTED_PLAYS: usize = 2000;

/// Plays an export lists at most: a longer period is refused, never cut short.
pub const MAX_EXPORTED_PLAYS: usize = 100_000;

/// Heartbeats older than this are not read for a screen's health (a screen not heard from in a
/// week shows no health), so the health query reads a week of partitions, never the whole store.
pub const HEALTH_WINDOW_MS: i64 = 7 * 86_400_000;

/// A period at most this long (a year and a day), so one read stays one bounded query.
const MAX_PERIOD_MS: i64 = 367 * 86_400_000;

/// The query string of `GET /v1/fleet/report`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportQuery {
    /// Screen ids, comma-separated; absent: every screen (narrowed by `venue` and `tag`).
    pub screens: Option<String>,
    pub venue: Option<String>,
    pub tag: Option<String>,
    /// The period, ms since the epoch: from (inclusive) to (exclusive).
    pub from_ms: i64,
    pub to_ms: i64,
    /// `hour` (default) or `day` (each screen's local days).
    #[serde(default)]
    pub granularity: Option<Granularity>,
    /// Smallest count of people shown (default 5, at least 2).
    pub k: Option<u32>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The reader behind a request's token: a screen's token is refused here as a reader's is on
/// the record path.
fn check_reader(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let hash = crate::app::token_hash(headers).ok_or(ApiError::BadToken)?;
    if state.readers.contains(&hash) {
        Ok(())
    } else if state.tokens.contains_key(&hash) {
        Err(ApiError::NotAReader)
    } else {
        Err(ApiError::BadToken)
    }
}

/// A screen as `GET /v1/fleet/screens` lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScreenListing<'a> {
    id: &'a str,
    venue: &'a str,
    tags: &'a [String],
    /// From its latest heartbeat in the last week; `null`: none.
    health: Option<HealthRow>,
}

/// A screen's latest heartbeat, and the records its outbox dropped over the week.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthRow {
    #[serde(skip_serializing)]
    screen_id: String,
    #[serde(deserialize_with = "integer_text")]
    last_seen_ms: i64,
    camera: String,
    analysed_fps: f64,
    backend: String,
    outbox_depth: u32,
    records_dropped: u32,
    #[serde(deserialize_with = "integer_text")]
    last_ack_ms: i64,
    engine_version: String,
    #[serde(skip_serializing)]
    rules_source: String,
    #[serde(skip_serializing)]
    rules_etag: String,
    #[serde(skip_serializing)]
    rules_problem: String,
    /// The rules the screen played by at its latest heartbeat; `null`: not told.
    #[serde(skip_deserializing)]
    rules: Option<serde_json::Value>,
}

impl HealthRow {
    /// The rules columns as the heartbeat gave them (empty text: not given).
    fn with_rules(mut self) -> Self {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.rules = text(&self.rules_source).map(|source| {
            json!({
                "source": source,
                "etag": text(&self.rules_etag),
                "problem": text(&self.rules_problem),
            })
        });
        self
    }
}

/// The health query for `screens` (configured ids) in `database`: each screen's latest heartbeat
/// since `since_ms`. The tests run the same text on chdb-core.
pub fn health_query(database: &str, screens: &[&str], since_ms: i64) -> String {
    format!(
        "SELECT screen_id AS screenId, toString(max(time_ms)) AS lastSeenMs, \
         argMax(camera, time_ms) AS camera, argMax(analysed_fps, time_ms) AS analysedFps, \
         argMax(backend, time_ms) AS backend, \
         toUInt32(argMax(outbox_depth, time_ms)) AS outboxDepth, \
         toUInt32(sum(outbox_dropped)) AS recordsDropped, \
         toString(argMax(last_ack_ms, time_ms)) AS lastAckMs, \
         argMax(engine_version, time_ms) AS engineVersion, \
         argMax(rules_source, time_ms) AS rulesSource, argMax(rules_etag, time_ms) AS rulesEtag, \
         argMax(rules_problem, time_ms) AS rulesProblem \
         FROM {database}.records FINAL WHERE kind = 'heartbeat' AND screen_id IN ({}) \
         AND time >= toDateTime({}) GROUP BY screen_id ORDER BY screen_id",
        quote_list(screens),
        since_ms.div_euclid(1000)
    )
}

pub async fn screens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_reader(&state, &headers)?;
    let ids: Vec<&str> = state.screens.iter().map(|s| s.id.as_str()).collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut health: BTreeMap<String, HealthRow> = state
        .reader
        .select::<HealthRow>(&health_query(
            state.reader.database(),
            &ids,
            now_ms - HEALTH_WINDOW_MS,
        ))
        .await
        .map_err(ApiError::StoreUnavailable)?
        .into_iter()
        .map(|row| (row.screen_id.clone(), row.with_rules()))
        .collect();
    let listed: Vec<ScreenListing> = state
        .screens
        .iter()
        .map(|s| ScreenListing {
            id: &s.id,
            venue: &s.venue,
            tags: &s.tags,
            health: health.remove(&s.id),
        })
        .collect();
    Ok(axum::Json(json!({ "screens": listed })).into_response())
}

/// The configured screens a query chose (ids comma-separated, a venue, a tag), in
/// configuration order.
fn chosen_screens<'a>(
    screens: &'a [ScreenConfig],
    named: Option<&str>,
    venue: Option<&str>,
    tag: Option<&str>,
) -> Result<Vec<&'a ScreenConfig>, ApiError> {
    let named: Option<Vec<&str>> = named.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    if let Some(unknown) = named
        .iter()
        .flatten()
        .find(|id| !screens.iter().any(|s| s.id == **id))
    {
        return Err(ApiError::BadQuery(format!(
            "no screen \"{unknown}\" is configured"
        )));
    }
    let chosen: Vec<&ScreenConfig> = screens
        .iter()
        .filter(|s| {
            named
                .as_ref()
                .is_none_or(|ids| ids.contains(&s.id.as_str()))
        })
        .filter(|s| venue.is_none_or(|v| s.venue == v))
        .filter(|s| tag.is_none_or(|t| s.tags.iter().any(|x| x == t)))
        .collect();
    if chosen.is_empty() {
        return Err(ApiError::BadQuery("no configured screen matches".into()));
    }
    Ok(chosen)
}

/// A period a read may cover, and its k: checked as every read path checks them.
fn checked_period_and_k(from_ms: i64, to_ms: i64, k: Option<u32>) -> Result<u32, ApiError> {
    if !(from_ms < to_ms && to_ms - from_ms <= MAX_PERIOD_MS) {
        return Err(ApiError::BadQuery(format!(
            "fromMs must come before toMs, at most {} days apart",
            MAX_PERIOD_MS / 86_400_000
        )));
    }
    let k = k.unwrap_or(5);
    if k < 2 {
        return Err(ApiError::BadQuery("k must be at least 2".into()));
    }
    Ok(k)
}

/// The report of `ids` over a period, made from the roll-ups (and at most `listed_plays` plays)
/// as ClickHouse's reader reads them; also the plays as stored.
async fn read_fleet_report(
    state: &AppState,
    ids: &[&str],
    (from_ms, to_ms): (i64, i64),
    granularity: Granularity,
    k: u32,
    listed_plays: usize,
) -> Result<(AudienceReport, Vec<ProofOfPlay>), ApiError> {
    let period = Period::new(from_ms, to_ms, granularity);
    let queries = ReportQueries::new(
        state.reader.database(),
        ids,
        (from_ms, to_ms),
        granularity,
        listed_plays,
    );
    let rollups = read_rollups(&state.reader, &queries)
        .await
        .map_err(ApiError::StoreUnavailable)?;
    let options = ReportOptions {
        from_ms: Some(period.from_ms as f64),
        to_ms: Some(period.to_ms as f64),
        granularity,
        k,
        ..ReportOptions::default()
    };
    let report = fleet_report(AudienceConfig::default(), &rollups, &options)
        .map_err(|e| ApiError::ReportFailed(e.to_string()))?;
    Ok((report, rollups.plays))
}

pub async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    check_reader(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let k = checked_period_and_k(query.from_ms, query.to_ms, query.k)?;
    let granularity = query.granularity.unwrap_or(Granularity::Hour);
    if granularity == Granularity::Minute {
        return Err(ApiError::BadQuery(
            "granularity is hour or day: minutes are not rolled up".into(),
        ));
    }
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadQuery(format!(
                "format \"{other}\": json or csv"
            )));
        }
    };
    let chosen = chosen_screens(
        &state.screens,
        query.screens.as_deref(),
        query.venue.as_deref(),
        query.tag.as_deref(),
    )?;
    let ids: Vec<&str> = chosen.iter().map(|s| s.id.as_str()).collect();
    let (report, _) = read_fleet_report(
        &state,
        &ids,
        (query.from_ms, query.to_ms),
        granularity,
        k,
        MAX_LISTED_PLAYS,
    )
    .await?;
    if csv {
        let text = report
            .to_csv()
            .map_err(|e| ApiError::ReportFailed(e.to_string()))?;
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            text,
        )
            .into_response());
    }
    Ok(axum::Json(json!({ "screens": ids, "report": report })).into_response())
}

/// The query string of `GET /v1/fleet/export`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportQuery {
    /// `broadsign-pop`, `xibo-stats`, `openrtb-qty` or `csv`.
    pub format: String,
    pub screens: Option<String>,
    pub venue: Option<String>,
    pub tag: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub k: Option<u32>,
}

/// The plays of the chosen screens over a period, in a format buyers' systems read; counts as the
/// fleet report gives them (k-anonymous), every play of the period or a request to narrow it.
pub async fn export(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    check_reader(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let format =
        ExportFormat::from_name(&query.format).map_err(|e| ApiError::BadQuery(e.to_string()))?;
    let k = checked_period_and_k(query.from_ms, query.to_ms, query.k)?;
    let chosen = chosen_screens(
        &state.screens,
        query.screens.as_deref(),
        query.venue.as_deref(),
        query.tag.as_deref(),
    )?;
    let ids: Vec<&str> = chosen.iter().map(|s| s.id.as_str()).collect();
    let (report, stored) = read_fleet_report(
        &state,
        &ids,
        (query.from_ms, query.to_ms),
        Granularity::Day,
        k,
        MAX_EXPORTED_PLAYS + 1,
    )
    .await?;
    if stored.len() > MAX_EXPORTED_PLAYS {
        return Err(ApiError::BadQuery(format!(
            "the period holds more than {MAX_EXPORTED_PLAYS} plays: ask for a shorter one or fewer screens"
        )));
    }
    let screens: Vec<ExportScreen> = chosen
        .iter()
        .map(|s| ExportScreen {
            id: s.id.clone(),
            venue: s.venue.clone(),
            broadsign: s.broadsign,
        })
        .collect();
    let plays = fleet_plays_at(&report, &stored, &screens);
    let text = export_plays(&plays, format, state.exports_vendor.as_deref())
        .map_err(|e| ApiError::BadQuery(e.to_string()))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        text,
    )
        .into_response())
}

/// The period in the roll-ups' units: UTC hours, or local days by their date.
#[derive(Debug, Clone, Copy)]
struct Period {
    from_ms: i64,
    to_ms: i64,
    granularity: Granularity,
}

impl Period {
    fn new(from_ms: i64, to_ms: i64, granularity: Granularity) -> Self {
        let unit = match granularity {
            Granularity::Day => 86_400_000,
            _ => 3_600_000,
        };
        Period {
            from_ms: from_ms.div_euclid(unit) * unit,
            to_ms,
            granularity,
        }
    }

    /// The WHERE clause of a roll-up table for `screens`: its time column against the period.
    fn filter(&self, screens: &[&str], time_column: &str) -> String {
        let range = if self.granularity == Granularity::Day {
            // Dates as days since the epoch: no time zone is involved.
            format!(
                "toUInt32(toUInt16({time_column})) >= {} AND toUInt32(toUInt16({time_column})) < {}",
                self.from_ms.div_euclid(86_400_000),
                (self.to_ms + 86_400_000 - 1).div_euclid(86_400_000)
            )
        } else {
            format!(
                "{time_column} >= toDateTime({}) AND {time_column} < toDateTime({})",
                self.from_ms.div_euclid(1000),
                (self.to_ms + 999).div_euclid(1000)
            )
        };
        format!("screen_id IN ({}) AND {range}", quote_list(screens))
    }

    /// A bucket's start in seconds since the epoch (a 32-bit number: see [`BucketRow`]), from a
    /// roll-up's time column.
    fn start_s(&self, time_column: &str) -> String {
        if self.granularity == Granularity::Day {
            format!("toUInt32(toUInt16({time_column}) * 86400)")
        } else {
            format!("toUInt32({time_column})")
        }
    }
}

/// Rows carry 32-bit numbers only: ClickHouse 18.16 writes 64-bit integers in JSON as strings
/// unless told otherwise, and a readonly user may not tell it (current servers write numbers).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketRow {
    start_s: u32,
    #[serde(flatten)]
    bucket: RollupBucket,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdDayRow {
    start_s: u32,
    #[serde(flatten)]
    ad_day: RollupAdDay,
}

/// A 64-bit integer column selected as text (`toString`), for either server's JSON.
pub(crate) fn integer_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// A cell row of a roll-up, keyed by its bucket (and ad, for plays).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CellRow {
    start_s: u32,
    #[serde(default)]
    ad_id: String,
    age_band: String,
    gender: CellGender,
    present: u32,
    watchers: u32,
    #[serde(default)]
    dwell_ms: f64,
    attention_ms: f64,
}

impl CellRow {
    fn cell(self) -> AudienceCell {
        AudienceCell {
            age_band: self.age_band,
            gender: self.gender,
            present: self.present,
            watchers: self.watchers,
            dwell_ms: self.dwell_ms,
            attention_ms: self.attention_ms,
        }
    }
}

/// A play as `glance.records` holds it (its cells as parallel arrays).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlayRow {
    id: String,
    screen_id: String,
    play_id: String,
    ad_id: String,
    #[serde(deserialize_with = "integer_text")]
    start_ms: i64,
    #[serde(deserialize_with = "integer_text")]
    end_ms: i64,
    utc_offset_minutes: i32,
    completed: u8,
    impressions: u32,
    watchers: u32,
    attention_ms: f64,
    cell_bands: Vec<String>,
    cell_genders: Vec<CellGender>,
    cell_present: Vec<u32>,
    cell_watchers: Vec<u32>,
    cell_attention_ms: Vec<f64>,
}

impl PlayRow {
    fn play(self) -> ProofOfPlay {
        let cells = (self.cell_bands.into_iter())
            .zip(self.cell_genders)
            .zip(self.cell_present.into_iter().zip(self.cell_watchers))
            .zip(self.cell_attention_ms)
            .map(
                |(((age_band, gender), (present, watchers)), attention_ms)| AudienceCell {
                    age_band,
                    gender,
                    present,
                    watchers,
                    dwell_ms: 0.0,
                    attention_ms,
                },
            )
            .collect();
        ProofOfPlay {
            schema_version: RECORD_SCHEMA_VERSION,
            id: self.id,
            screen_id: self.screen_id,
            play_id: self.play_id,
            ad_id: self.ad_id,
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            utc_offset_minutes: self.utc_offset_minutes,
            completed: self.completed != 0,
            impressions: self.impressions,
            watchers: self.watchers,
            attention_ms: self.attention_ms,
            cells,
        }
    }
}

/// The SELECTs a fleet report reads, as text: the service runs them as ClickHouse's reader, and
/// the tests run the same text on the current engine (chdb-core) too.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQueries {
    /// The audience per bucket (hour or local day), summed over the screens.
    pub buckets: String,
    /// People per bucket by (age band, gender).
    pub cells: String,
    /// Each ad's plays per local day.
    pub ad_days: String,
    /// Each ad's audience per local day by (age band, gender).
    pub ad_cells: String,
    /// The newest plays, each as stored.
    pub plays: String,
}

impl ReportQueries {
    /// The queries for `screens` (configured ids, quoted here) in `database` over a period
    /// (ms since the epoch, from inclusive, to exclusive) in hours or days, listing at most
    /// `listed_plays` plays (the newest).
    pub fn new(
        database: &str,
        screens: &[&str],
        (from_ms, to_ms): (i64, i64),
        granularity: Granularity,
        listed_plays: usize,
    ) -> Self {
        let period = Period::new(from_ms, to_ms, granularity);
        let (audience, cells, time) = if granularity == Granularity::Day {
            ("audience_daily", "audience_cells_daily", "day")
        } else {
            ("audience_hourly", "audience_cells_hourly", "hour")
        };
        let start = period.start_s(time);
        let filter = period.filter(screens, time);
        let buckets = buckets_query(database, audience, &start, &filter, time);
        let cells = format!(
            "SELECT {start} AS startS, age_band AS ageBand, gender, \
             toUInt32(sum(present)) AS present, toUInt32(sum(watchers)) AS watchers, \
             sum(dwell_ms) AS dwellMs, sum(attention_ms) AS attentionMs \
             FROM {database}.{cells} WHERE {filter} GROUP BY {time}, age_band, gender \
             ORDER BY {time}, age_band, gender"
        );
        // Each ad's local days: plays and their audience.
        let days = Period::new(from_ms, to_ms, Granularity::Day);
        let day_filter = days.filter(screens, "day");
        let day_start = days.start_s("day");
        let ad_days = format!(
            "SELECT ad_id AS adId, {day_start} AS startS, toUInt32(sum(plays)) AS plays, \
             toUInt32(sum(completed_plays)) AS completedPlays, sum(played_ms) AS playedMs, \
             toUInt32(sum(impressions)) AS impressions, toUInt32(sum(watchers)) AS watchers, \
             sum(attention_ms) AS attentionMs \
             FROM {database}.plays_daily WHERE {day_filter} GROUP BY ad_id, day \
             ORDER BY ad_id, day"
        );
        let ad_cells = format!(
            "SELECT {day_start} AS startS, ad_id AS adId, age_band AS ageBand, gender, \
             toUInt32(sum(present)) AS present, toUInt32(sum(watchers)) AS watchers, \
             sum(attention_ms) AS attentionMs \
             FROM {database}.play_cells_daily WHERE {day_filter} \
             GROUP BY ad_id, day, age_band, gender ORDER BY ad_id, day, age_band, gender"
        );
        let plays = plays_query(database, screens, &period, listed_plays);
        ReportQueries {
            buckets,
            cells,
            ad_days,
            ad_cells,
            plays,
        }
    }

    /// Each query with its name, in the order they run.
    pub fn named(&self) -> [(&'static str, &str); 5] {
        [
            ("buckets", &self.buckets),
            ("cells", &self.cells),
            ("ad_days", &self.ad_days),
            ("ad_cells", &self.ad_cells),
            ("plays", &self.plays),
        ]
    }
}

/// The audience buckets of the period: each hour's or day's counts, times and histograms,
/// summed over the screens.
fn buckets_query(database: &str, audience: &str, start: &str, filter: &str, time: &str) -> String {
    let count = |column: &str| format!("toUInt32(sumMerge({column}))");
    let histogram = |column: &str| format!("arrayMap(x -> toUInt32(x), sumForEachMerge({column}))");
    format!(
        "SELECT {start} AS startS, {} AS impressions, {} AS watchers, \
         sumMerge(dwell_ms) AS dwellMs, sumMerge(attention_ms) AS attentionMs, \
         sumMerge(attention_from_eyes_ms) AS attentionFromEyesMs, \
         sumMerge(attention_from_head_pose_ms) AS attentionFromHeadPoseMs, \
         {} AS dwellHist, {} AS attentionHist, \
         sumMerge(distance_sum_m) AS distanceSumM, {} AS distanceCount, \
         {} AS distanceHist, {} AS groupSizeSum, {} AS groupSizeHist \
         FROM {database}.{audience} WHERE {filter} GROUP BY {time} ORDER BY {time}",
        count("impressions"),
        count("watchers"),
        histogram("dwell_hist"),
        histogram("attention_hist"),
        count("distance_count"),
        histogram("distance_hist"),
        count("group_size_sum"),
        histogram("group_size_hist"),
    )
}

/// The newest `listed_plays` plays of the period, each as stored.
fn plays_query(database: &str, screens: &[&str], period: &Period, listed_plays: usize) -> String {
    format!(
        "SELECT id, screen_id AS screenId, play_id AS playId, ad_id AS adId, \
         toString(time_ms) AS startMs, toString(end_ms) AS endMs, \
         utc_offset_minutes AS utcOffsetMinutes, completed, impressions, watchers, \
         attention_ms AS attentionMs, cells.age_band AS cellBands, \
         cells.gender AS cellGenders, cells.present AS cellPresent, \
         cells.watchers AS cellWatchers, cells.attention_ms AS cellAttentionMs \
         FROM {database}.records FINAL WHERE kind = 'play' AND screen_id IN ({}) \
         AND time_ms >= {} AND time_ms < {} \
         ORDER BY time_ms DESC, id LIMIT {listed_plays}",
        quote_list(screens),
        period.from_ms,
        period.to_ms
    )
}

/// The roll-ups the queries read, summed across the screens, as a report is made of them.
async fn read_rollups(
    reader: &ClickHouse,
    queries: &ReportQueries,
) -> Result<FleetRollups, StoreError> {
    let bucket_rows: Vec<BucketRow> = reader.select(&queries.buckets).await?;
    let mut by_bucket: BTreeMap<u32, Vec<AudienceCell>> = BTreeMap::new();
    for row in reader.select::<CellRow>(&queries.cells).await? {
        by_bucket.entry(row.start_s).or_default().push(row.cell());
    }
    let buckets = bucket_rows
        .into_iter()
        .map(|row| RollupBucket {
            start_ms: row.start_s as i64 * 1000,
            cells: by_bucket.remove(&row.start_s).unwrap_or_default(),
            ..row.bucket
        })
        .collect();
    let ad_day_rows: Vec<AdDayRow> = reader.select(&queries.ad_days).await?;
    let mut by_ad_day: BTreeMap<(String, u32), Vec<AudienceCell>> = BTreeMap::new();
    for row in reader.select::<CellRow>(&queries.ad_cells).await? {
        by_ad_day
            .entry((row.ad_id.clone(), row.start_s))
            .or_default()
            .push(row.cell());
    }
    let ad_days = ad_day_rows
        .into_iter()
        .map(|row| RollupAdDay {
            day_start_ms: row.start_s as i64 * 1000,
            cells: by_ad_day
                .remove(&(row.ad_day.ad_id.clone(), row.start_s))
                .unwrap_or_default(),
            ..row.ad_day
        })
        .collect();
    let plays: Vec<PlayRow> = reader.select(&queries.plays).await?;
    Ok(FleetRollups {
        buckets,
        ad_days,
        plays: plays.into_iter().map(PlayRow::play).collect(),
    })
}
