//! The records a screen sends to its fleet: per-minute audience buckets, proof of play and
//! health heartbeats. Aggregates only: nothing per visit or per person leaves the screen.
//!
//! Every record has a stable id made of its screen, its kind and its key (the minute's start,
//! the play id, the heartbeat's minute), so sending one twice is harmless: the ingest service
//! stores an id once. A record is made once its numbers can no longer change (see
//! [`crate::audience::AudienceAggregator::take_records`]), so a stored record is final.
//!
//! One line of NDJSON each. [`parse_batch`] reads a batch as the ingest service receives it and
//! checks every line against these types and their invariants, naming the line and field at fault.

use serde::{Deserialize, Serialize};

/// The version of the record format; a line with another version is refused.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// Longest screen, play or ad id, in bytes.
pub(crate) const MAX_ID_BYTES: usize = 128;
/// Most (age band, gender) cells in one record: up to 20 bands and unknown, by 3 genders.
pub(crate) const MAX_CELLS: usize = 63;
/// Most lines in one batch.
pub(crate) const MAX_BATCH_RECORDS: usize = 5_000;

/// Earliest and latest record time accepted, ms since the epoch (2000-01-01 to 2200-01-01):
/// anything else is a broken clock, not an audience.
const MIN_TIME_MS: i64 = 946_684_800_000;
const MAX_TIME_MS: i64 = 7_258_118_400_000;

/// One record, tagged by `kind` (`FleetRecord` in the schema: TypeScript has a `Record`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[schemars(rename = "FleetRecord")]
pub enum Record {
    /// The visits that started in one minute (UTC), sent once no visit that started in it is
    /// still going on.
    AudienceMinute(AudienceMinute),
    /// One ad play and the audience it had, sent once the play has ended and everyone who saw it
    /// has left.
    Play(ProofOfPlay),
    /// The screen's health, about once a minute.
    Heartbeat(Heartbeat),
}

/// Visits that started in one minute: their counts, sums and distributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceMinute {
    pub schema_version: u32,
    /// `<screenId>:minute:<startMs>`.
    pub id: String,
    pub screen_id: String,
    /// The minute's start, ms since the epoch (UTC, a whole minute).
    pub start_ms: i64,
    /// The screen's offset from UTC, minutes: where its local day begins.
    pub utc_offset_minutes: i32,
    /// People present (opportunities to see), once per visit.
    pub impressions: u32,
    /// People who looked at the screen for at least the minimum glance.
    pub watchers: u32,
    pub dwell_ms: f64,
    pub attention_ms: f64,
    pub attention_from_eyes_ms: f64,
    pub attention_from_head_pose_ms: f64,
    /// People by dwell: 0-5 s, 5-15 s, 15-30 s, 30-60 s, 60 s and more.
    pub dwell_hist: [u32; 5],
    /// Watchers by attention time, same buckets as dwell.
    pub attention_hist: [u32; 5],
    /// Sum of the visits' mean distances, metres, over `distanceCount` visits that had one.
    pub distance_sum_m: f64,
    pub distance_count: u32,
    /// People by mean distance: 0-1 m, 1-2 m, 2-4 m, 4 m and more, unknown.
    pub distance_hist: [u32; 5],
    /// Sum of the visits' largest group sizes.
    pub group_size_sum: u64,
    /// People by largest group: 1, 2, 3-4, 5 and more.
    pub group_size_hist: [u32; 4],
    /// People by (age band, gender); every visit is in exactly one cell.
    pub cells: Vec<AudienceCell>,
}

/// One ad play: when, whether it completed, and who saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProofOfPlay {
    pub schema_version: u32,
    /// `<screenId>:play:<playId>`.
    pub id: String,
    pub screen_id: String,
    /// The play id the player gave (unique per screen).
    pub play_id: String,
    pub ad_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The screen's offset from UTC, minutes: where its local day begins.
    pub utc_offset_minutes: i32,
    /// The ad played to its end (false: cut short).
    pub completed: bool,
    /// People present during the play.
    pub impressions: u32,
    /// People who looked at the screen for at least the minimum glance during the play.
    pub watchers: u32,
    /// Their attention during the play, summed.
    pub attention_ms: f64,
    /// People by (age band, gender); dwell is not measured per play (0).
    pub cells: Vec<AudienceCell>,
}

/// People and time in one (age band, gender) cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceCell {
    /// A configured age band's label, or `unknown`.
    pub age_band: String,
    pub gender: CellGender,
    pub present: u32,
    pub watchers: u32,
    pub dwell_ms: f64,
    pub attention_ms: f64,
}

/// Apparent gender of a cell; `unknown` when not confident enough, or a child's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CellGender {
    Female,
    Male,
    Unknown,
}

impl From<Option<crate::analysis::Gender>> for CellGender {
    fn from(g: Option<crate::analysis::Gender>) -> Self {
        match g {
            Some(crate::analysis::Gender::Female) => CellGender::Female,
            Some(crate::analysis::Gender::Male) => CellGender::Male,
            None => CellGender::Unknown,
        }
    }
}

/// The label of the unknown age band in records.
pub(crate) const UNKNOWN_BAND: &str = "unknown";

/// The screen's health at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Heartbeat {
    pub schema_version: u32,
    /// `<screenId>:heartbeat:<minute start>`: at most one a minute is kept.
    pub id: String,
    pub screen_id: String,
    pub at_ms: i64,
    pub health: ScreenHealth,
    /// The engine's version.
    pub version: String,
}

/// What the host knows of the screen's health, for [`Heartbeat::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScreenHealth {
    pub camera: CameraState,
    /// Frames analysed per second over the last minute.
    pub analysed_fps: f64,
    /// The backend that analyses frames; `none` before the engine runs.
    pub backend: HealthBackend,
    /// Records waiting in the outbox.
    pub outbox_depth: u32,
    /// Records the outbox dropped (older than its cap) since the last heartbeat.
    pub outbox_dropped: u64,
    /// When the ingest service last acknowledged a batch, ms; `null`: never.
    pub last_ack_ms: Option<i64>,
    /// The rules the screen plays by, and why it refused newer ones; `null`: not told.
    #[serde(default)]
    pub rules: Option<RulesHealth>,
}

/// The rules a screen plays by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RulesHealth {
    pub source: RulesSource,
    /// The fleet document's ETag, when the rules came from the fleet.
    #[serde(default)]
    pub etag: Option<String>,
    /// Why the newest document the screen fetched was refused (it kept the rules it had).
    #[serde(default)]
    pub problem: Option<String>,
}

/// Where a screen's rules came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RulesSource {
    /// Published to the screen (or its group) through the ingest service.
    Fleet,
    /// Saved by the rules editor on the screen's own browser.
    Editor,
    /// The kiosk's configuration file.
    Config,
}

/// Longest rules problem a heartbeat carries, bytes.
pub(crate) const MAX_RULES_PROBLEM_BYTES: usize = 2048;

/// The camera as the host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CameraState {
    /// Frames arrive and are analysed.
    Live,
    /// Frames arrive but are not analysed (the disclosure notice is hidden, or the page is).
    Paused,
    /// No frame for a while.
    Stalled,
    /// The camera was refused or is missing.
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum HealthBackend {
    Webgpu,
    Cpu,
    None,
}

/// What is wrong with a record, and where.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[error("line {line}: {field}: {message}")]
pub struct RecordError {
    /// 1-based line of the batch; 0: the batch as a whole.
    pub line: usize,
    /// The field at fault as a JSON path (`cells[2].present`); empty: the line as a whole.
    pub field: String,
    pub message: String,
}

impl Record {
    pub fn id(&self) -> &str {
        match self {
            Record::AudienceMinute(r) => &r.id,
            Record::Play(r) => &r.id,
            Record::Heartbeat(r) => &r.id,
        }
    }

    pub fn screen_id(&self) -> &str {
        match self {
            Record::AudienceMinute(r) => &r.screen_id,
            Record::Play(r) => &r.screen_id,
            Record::Heartbeat(r) => &r.screen_id,
        }
    }

    /// The record as one NDJSON line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("records serialise")
    }

    /// Every invariant the types cannot state: ids, ranges, and counts that add up.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match self {
            Record::AudienceMinute(r) => r.validate(),
            Record::Play(r) => r.validate(),
            Record::Heartbeat(r) => r.validate(),
        }
    }
}

/// A screen id: 1 to 128 of `A-Z a-z 0-9 . _ -`, so ids and paths built from it need no escaping.
pub fn check_screen_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_ID_BYTES} characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        ))
    }
}

/// A play or ad id: 1 to 128 bytes, no control characters.
fn check_label(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.chars().any(char::is_control) {
        Err(format!(
            "must be 1 to {MAX_ID_BYTES} bytes without control characters"
        ))
    } else {
        Ok(())
    }
}

type Invalid = (String, String);

fn field(name: &str, message: impl Into<String>) -> Invalid {
    (name.to_string(), message.into())
}

fn check(ok: bool, name: &str, message: &str) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(field(name, message))
    }
}

fn check_common(
    schema_version: u32,
    screen_id: &str,
    id: &str,
    expected: &str,
) -> Result<(), Invalid> {
    check(
        schema_version == RECORD_SCHEMA_VERSION,
        "schemaVersion",
        &format!("this service reads version {RECORD_SCHEMA_VERSION}"),
    )?;
    check_screen_id(screen_id).map_err(|m| field("screenId", m))?;
    check(id == expected, "id", &format!("must be \"{expected}\""))
}

fn check_time(ms: i64, name: &str) -> Result<(), Invalid> {
    check(
        (MIN_TIME_MS..MAX_TIME_MS).contains(&ms),
        name,
        "must be between 2000 and 2200 (ms since the epoch)",
    )
}

fn check_offset(minutes: i32) -> Result<(), Invalid> {
    check(
        minutes.abs() <= 14 * 60,
        "utcOffsetMinutes",
        "must be within ±14 h",
    )
}

fn check_amount(value: f64, name: &str) -> Result<(), Invalid> {
    check(
        value.is_finite() && value >= 0.0,
        name,
        "must be a finite number, 0 or more",
    )
}

/// Cells: few, valid, and adding up to the record's people and watchers.
fn check_cells(cells: &[AudienceCell], impressions: u32, watchers: u32) -> Result<(), Invalid> {
    check(
        cells.len() <= MAX_CELLS,
        "cells",
        &format!("at most {MAX_CELLS} cells"),
    )?;
    for (i, c) in cells.iter().enumerate() {
        let at = |f: &str| format!("cells[{i}].{f}");
        check_label(&c.age_band).map_err(|m| field(&at("ageBand"), m))?;
        check(
            c.watchers <= c.present,
            &at("watchers"),
            "must not exceed present",
        )?;
        check_amount(c.dwell_ms, &at("dwellMs"))?;
        check_amount(c.attention_ms, &at("attentionMs"))?;
        if cells[..i]
            .iter()
            .any(|o| o.age_band == c.age_band && o.gender == c.gender)
        {
            return Err(field(
                &at("ageBand"),
                "the same (ageBand, gender) cell twice",
            ));
        }
    }
    let sum = |f: fn(&AudienceCell) -> u32| cells.iter().map(|c| f(c) as u64).sum::<u64>();
    check(
        sum(|c| c.present) == impressions as u64,
        "cells",
        "the cells' present must add up to impressions",
    )?;
    check(
        sum(|c| c.watchers) == watchers as u64,
        "cells",
        "the cells' watchers must add up to watchers",
    )
}

fn hist_total(hist: &[u32]) -> u64 {
    hist.iter().map(|&n| n as u64).sum()
}

impl AudienceMinute {
    pub fn record_id(screen_id: &str, start_ms: i64) -> String {
        format!("{screen_id}:minute:{start_ms}")
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_common(
            self.schema_version,
            &self.screen_id,
            &self.id,
            &Self::record_id(&self.screen_id, self.start_ms),
        )?;
        check_time(self.start_ms, "startMs")?;
        check(
            self.start_ms % 60_000 == 0,
            "startMs",
            "must be a whole minute",
        )?;
        check_offset(self.utc_offset_minutes)?;
        check(
            self.watchers <= self.impressions,
            "watchers",
            "must not exceed impressions",
        )?;
        for (name, value) in [
            ("dwellMs", self.dwell_ms),
            ("attentionMs", self.attention_ms),
            ("attentionFromEyesMs", self.attention_from_eyes_ms),
            ("attentionFromHeadPoseMs", self.attention_from_head_pose_ms),
            ("distanceSumM", self.distance_sum_m),
        ] {
            check_amount(value, name)?;
        }
        let people = self.impressions as u64;
        for (name, total, expected) in [
            ("dwellHist", hist_total(&self.dwell_hist), people),
            (
                "attentionHist",
                hist_total(&self.attention_hist),
                self.watchers as u64,
            ),
            ("distanceHist", hist_total(&self.distance_hist), people),
            ("groupSizeHist", hist_total(&self.group_size_hist), people),
        ] {
            check(
                total == expected,
                name,
                "must add up to the people it counts",
            )?;
        }
        check(
            self.distance_count <= self.impressions,
            "distanceCount",
            "must not exceed impressions",
        )?;
        check_cells(&self.cells, self.impressions, self.watchers)
    }
}

impl ProofOfPlay {
    pub fn record_id(screen_id: &str, play_id: &str) -> String {
        format!("{screen_id}:play:{play_id}")
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_label(&self.play_id).map_err(|m| field("playId", m))?;
        check_common(
            self.schema_version,
            &self.screen_id,
            &self.id,
            &Self::record_id(&self.screen_id, &self.play_id),
        )?;
        check_label(&self.ad_id).map_err(|m| field("adId", m))?;
        check_time(self.start_ms, "startMs")?;
        check_time(self.end_ms, "endMs")?;
        check(
            self.end_ms >= self.start_ms,
            "endMs",
            "must not be before startMs",
        )?;
        check_offset(self.utc_offset_minutes)?;
        check(
            self.watchers <= self.impressions,
            "watchers",
            "must not exceed impressions",
        )?;
        check_amount(self.attention_ms, "attentionMs")?;
        check_cells(&self.cells, self.impressions, self.watchers)
    }
}

impl Heartbeat {
    pub fn record_id(screen_id: &str, at_ms: i64) -> String {
        format!(
            "{screen_id}:heartbeat:{}",
            at_ms.div_euclid(60_000) * 60_000
        )
    }

    /// A heartbeat of this engine version.
    pub fn new(screen_id: &str, at_ms: i64, health: ScreenHealth) -> Self {
        Heartbeat {
            schema_version: RECORD_SCHEMA_VERSION,
            id: Self::record_id(screen_id, at_ms),
            screen_id: screen_id.to_string(),
            at_ms,
            health,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_common(
            self.schema_version,
            &self.screen_id,
            &self.id,
            &Self::record_id(&self.screen_id, self.at_ms),
        )?;
        check_time(self.at_ms, "atMs")?;
        check(
            self.health.analysed_fps.is_finite()
                && (0.0..=1000.0).contains(&self.health.analysed_fps),
            "health.analysedFps",
            "must be between 0 and 1000",
        )?;
        if let Some(ack) = self.health.last_ack_ms {
            check_time(ack, "health.lastAckMs")?;
        }
        if let Some(rules) = &self.health.rules {
            if let Some(etag) = &rules.etag {
                check_label(etag).map_err(|m| field("health.rules.etag", m))?;
            }
            if let Some(problem) = &rules.problem {
                check(
                    problem.len() <= MAX_RULES_PROBLEM_BYTES,
                    "health.rules.problem",
                    &format!("must be at most {MAX_RULES_PROBLEM_BYTES} bytes"),
                )?;
            }
        }
        check_label(&self.version).map_err(|m| field("version", m))
    }
}

/// Reads a batch (one record per line; blank lines are skipped) and checks every line. With
/// `screen_id`, every record must be that screen's. The first fault refuses the whole batch.
pub fn parse_batch(body: &str, screen_id: Option<&str>) -> Result<Vec<Record>, RecordError> {
    let mut records = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if records.len() == MAX_BATCH_RECORDS {
            return Err(RecordError {
                line: line_no,
                field: String::new(),
                message: format!("a batch holds at most {MAX_BATCH_RECORDS} records"),
            });
        }
        let record = parse_line(line).map_err(|(field, message)| RecordError {
            line: line_no,
            field,
            message,
        })?;
        if let Some(screen) = screen_id
            && record.screen_id() != screen
        {
            return Err(RecordError {
                line: line_no,
                field: "screenId".into(),
                message: format!("the token is for screen \"{screen}\""),
            });
        }
        records.push(record);
    }
    Ok(records)
}

/// Parses one line. The kind is read first so that a fault inside the record is reported with
/// its path (serde's tagged enums buffer the content and lose it).
fn parse_line(line: &str) -> Result<Record, Invalid> {
    let mut value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| field("", format!("not JSON: {e}")))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| field("", "must be a JSON object"))?;
    let kind = object.remove("kind");
    let record = match kind.as_ref().and_then(|k| k.as_str()) {
        Some("audienceMinute") => Record::AudienceMinute(typed(value)?),
        Some("play") => Record::Play(typed(value)?),
        Some("heartbeat") => Record::Heartbeat(typed(value)?),
        _ => {
            return Err(field(
                "kind",
                "must be one of \"audienceMinute\", \"play\", \"heartbeat\"",
            ));
        }
    };
    record.validate()?;
    Ok(record)
}

fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })
}
