//! The formats buyers' systems read, made from a report's plays: proof of play as Broadsign
//! Control's real-time POP request and as Xibo's proof-of-play stat records, the audience per play
//! as OpenRTB 2.6 `imp.qty`, and a flat CSV of plays. Every count comes from the report, so what
//! the report suppresses (k-anonymity) the exports suppress too; only finished plays whose
//! audience is final are exported. The field lists each format follows, with their sources, are
//! in docs/fleet.md; tests check every export against them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;

use super::{AudienceReport, PeopleCount, PlayReport, fleet_play_id};
use crate::fleet::ProofOfPlay;

/// A format buyers' systems read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// Broadsign Control real-time POP: one request body per player, records as objects.
    BroadsignPop,
    /// Xibo proof-of-play stats: `<stats><stat .../></stats>`, as a display submits them.
    XiboStats,
    /// OpenRTB 2.6: per play, a bid request fragment whose `imp.qty` is the play's audience.
    OpenrtbQty,
    /// One row per play.
    Csv,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 4] = [
        ExportFormat::BroadsignPop,
        ExportFormat::XiboStats,
        ExportFormat::OpenrtbQty,
        ExportFormat::Csv,
    ];

    /// Its name in URLs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::BroadsignPop => "broadsign-pop",
            ExportFormat::XiboStats => "xibo-stats",
            ExportFormat::OpenrtbQty => "openrtb-qty",
            ExportFormat::Csv => "csv",
        }
    }

    /// The format named `name`; the error lists the names.
    pub fn from_name(name: &str) -> Result<Self, ExportError> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| ExportError::UnknownFormat(name.to_string()))
    }

    /// The HTTP `Content-Type` of its text.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::BroadsignPop | ExportFormat::OpenrtbQty => "application/json",
            ExportFormat::XiboStats => "application/xml; charset=utf-8",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Why an export could not be made.
#[derive(Debug, Error, PartialEq)]
pub enum ExportError {
    #[error("export format \"{0}\": broadsign-pop, xibo-stats, openrtb-qty or csv")]
    UnknownFormat(String),
    #[error(
        "ad \"{ad_id}\" is not a whole number: {format} names ads by the numeric ids its CMS gave them, so the ads' ids in Glance must be those"
    )]
    AdIdNotNumeric { format: &'static str, ad_id: String },
    #[error(
        "screen \"{0}\" has no Broadsign ids (player, display unit and frame) in the configuration"
    )]
    NoBroadsignIds(String),
    #[error(
        "openrtb-qty needs the measurement vendor's domain (imp.qty.vendor): set it in the configuration"
    )]
    NoVendor,
    #[error("could not write the export: {0}")]
    Write(String),
}

/// A screen's Broadsign Control resource ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadsignIds {
    pub player_id: u64,
    pub display_unit_id: u64,
    pub frame_id: u64,
}

/// Where plays were measured: what the exports' records say about their screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportScreen {
    pub id: String,
    pub venue: String,
    pub broadsign: Option<BroadsignIds>,
}

/// A report's play and where it was played.
#[derive(Debug, Clone, Copy)]
pub struct PlayAt<'a> {
    pub play: &'a PlayReport,
    pub screen: &'a ExportScreen,
    /// The play's id as its player gave it (a fleet report prefixes the screen).
    pub play_id: &'a str,
    /// The screen's offset from UTC during the play, minutes: Broadsign and Xibo give local
    /// times.
    pub utc_offset_minutes: i32,
}

/// Every play of one screen's report (a kiosk's) at `screen`, `utc_offset_minutes` from UTC.
pub fn plays_at<'a>(
    report: &'a AudienceReport,
    screen: &'a ExportScreen,
    utc_offset_minutes: i32,
) -> Vec<PlayAt<'a>> {
    report
        .plays
        .iter()
        .map(|play| PlayAt {
            play,
            screen,
            play_id: &play.play_id,
            utc_offset_minutes,
        })
        .collect()
}

/// A fleet report's plays (`fleet_report`) at their screens: `stored` are the plays it was
/// made from, `screens` the screens they were played at (a play of a screen not given is left
/// out).
pub fn fleet_plays_at<'a>(
    report: &'a AudienceReport,
    stored: &'a [ProofOfPlay],
    screens: &'a [ExportScreen],
) -> Vec<PlayAt<'a>> {
    let by_id: BTreeMap<String, &ProofOfPlay> = stored
        .iter()
        .map(|p| (fleet_play_id(&p.screen_id, &p.play_id), p))
        .collect();
    report
        .plays
        .iter()
        .filter_map(|play| {
            let stored = by_id.get(&play.play_id)?;
            Some(PlayAt {
                play,
                screen: screens.iter().find(|s| s.id == stored.screen_id)?,
                play_id: &stored.play_id,
                utc_offset_minutes: stored.utc_offset_minutes,
            })
        })
        .collect()
}

/// The plays in `format`. `vendor`: the measurement vendor's domain, for OpenRTB.
pub fn export_plays(
    plays: &[PlayAt],
    format: ExportFormat,
    vendor: Option<&str>,
) -> Result<String, ExportError> {
    let finished: Vec<Finished> = plays.iter().filter_map(Finished::of).collect();
    match format {
        ExportFormat::BroadsignPop => broadsign_pop(&finished),
        ExportFormat::XiboStats => xibo_stats(&finished),
        ExportFormat::OpenrtbQty => openrtb_qty(&finished, vendor.ok_or(ExportError::NoVendor)?),
        ExportFormat::Csv => plays_csv(&finished),
    }
}

/// A play that ended, with its final audience.
struct Finished<'a> {
    at: PlayAt<'a>,
    start_ms: i64,
    end_ms: i64,
}

impl<'a> Finished<'a> {
    fn of(at: &PlayAt<'a>) -> Option<Self> {
        let end_ms = at.play.end_ms.filter(|_| at.play.is_final)?.round() as i64;
        let start_ms = at.play.start_ms.round() as i64;
        // A play that lasted no time showed nothing to anyone.
        (end_ms > start_ms).then_some(Finished {
            at: *at,
            start_ms,
            end_ms,
        })
    }

    fn duration_ms(&self) -> i64 {
        (self.end_ms - self.start_ms).max(0)
    }

    /// A time of this play in its screen's local time.
    fn local(&self, ms: i64) -> NaiveDateTime {
        let local = ms + i64::from(self.at.utc_offset_minutes) * 60_000;
        DateTime::from_timestamp_millis(local)
            .unwrap_or_default()
            .naive_utc()
    }

    fn numeric_ad_id(&self, format: ExportFormat) -> Result<u64, ExportError> {
        let ad_id = &self.at.play.ad_id;
        ad_id
            .parse()
            .ok()
            .filter(|_| ad_id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ExportError::AdIdNotNumeric {
                format: format.name(),
                ad_id: ad_id.clone(),
            })
    }

    /// What Glance adds to a record: its own ids and the counts, `null` where suppressed.
    fn glance_extension(&self) -> serde_json::Value {
        let play = self.at.play;
        json!({
            "screenId": self.at.screen.id,
            "playId": self.at.play_id,
            "adId": play.ad_id,
            "impressions": play.impressions.value,
            "watchers": play.watchers.value,
        })
    }
}

fn json_text(value: &serde_json::Value) -> Result<String, ExportError> {
    serde_json::to_string_pretty(value).map_err(|e| ExportError::Write(e.to_string()))
}

/// Broadsign's real-time POP: `[{"api_key", "player_id", "pop": [record]}]`, one body per
/// player. A suppressed audience is sent as 0 impressions with `extra_data` saying so (the field
/// is a whole number, required); `api_key` is left empty for the sender to fill in.
fn broadsign_pop(plays: &[Finished]) -> Result<String, ExportError> {
    let mut bodies: Vec<(u64, Vec<serde_json::Value>)> = Vec::new();
    for p in plays {
        let screen = p.at.screen;
        let ids = screen
            .broadsign
            .ok_or_else(|| ExportError::NoBroadsignIds(screen.id.clone()))?;
        let record = json!({
            "display_unit_id": ids.display_unit_id,
            "frame_id": ids.frame_id,
            "n_screens": 1,
            "ad_copy_id": p.numeric_ad_id(ExportFormat::BroadsignPop)?,
            "campaign_id": 0,
            "schedule_id": 0,
            "impressions": p.at.play.impressions.value.unwrap_or(0),
            "interactions": 0,
            "end_time": p.local(p.end_ms).format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
            "duration": p.duration_ms(),
            "ext1": "glance",
            "ext2": p.at.play_id,
            "extra_data": json!({ "glance": p.glance_extension() }).to_string(),
        });
        match bodies
            .iter_mut()
            .find(|(player, _)| *player == ids.player_id)
        {
            Some((_, records)) => records.push(record),
            None => bodies.push((ids.player_id, vec![record])),
        }
    }
    let bodies: Vec<serde_json::Value> = bodies
        .into_iter()
        .map(|(player_id, pop)| json!({ "api_key": "", "player_id": player_id, "pop": pop }))
        .collect();
    json_text(&serde_json::Value::Array(bodies))
}

/// Xibo's stat records as a display submits them (`SubmitStats`): one `media` stat per play,
/// `mediaid` the ad's (widget's) id, local times, duration in whole seconds. Xibo's record has no
/// audience field: the audience goes in the other formats.
fn xibo_stats(plays: &[Finished]) -> Result<String, ExportError> {
    let write_error = |e: std::io::Error| ExportError::Write(e.to_string());
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(write_error)?;
    writer
        .write_event(Event::Start(BytesStart::new("stats")))
        .map_err(write_error)?;
    for p in plays {
        // Whole seconds that cover the play, so `fromdt` is always before `todt`.
        let format = |ms| p.local(ms).format("%Y-%m-%d %H:%M:%S").to_string();
        let to_ms = (p.end_ms + 999).div_euclid(1000) * 1000;
        let media_id = p.numeric_ad_id(ExportFormat::XiboStats)?.to_string();
        let duration_s = ((p.duration_ms() + 500) / 1000).to_string();
        let stat = BytesStart::new("stat").with_attributes([
            ("type", "media"),
            ("fromdt", format(p.start_ms).as_str()),
            ("todt", format(to_ms).as_str()),
            ("scheduleid", "0"),
            ("layoutid", "0"),
            ("mediaid", media_id.as_str()),
            ("tag", ""),
            ("count", "1"),
            ("duration", duration_s.as_str()),
        ]);
        writer
            .write_event(Event::Empty(stat))
            .map_err(write_error)?;
    }
    writer
        .write_event(Event::End(BytesEnd::new("stats")))
        .map_err(write_error)?;
    String::from_utf8(writer.into_inner()).map_err(|e| ExportError::Write(e.to_string()))
}

/// OpenRTB 2.6: per play a bid request fragment `{id, imp: [{id, dt, qty, ext}], dooh}` whose
/// `imp.qty` carries the people present during the play (`multiplier`) as a measurement vendor's
/// count (`sourcetype` 1, `vendor`). A suppressed audience has no `qty` (its multiplier is
/// required) and says so in `imp.ext.glance`.
fn openrtb_qty(plays: &[Finished], vendor: &str) -> Result<String, ExportError> {
    let requests: Vec<serde_json::Value> = plays
        .iter()
        .map(|p| {
            let mut imp = json!({
                "id": "1",
                "dt": p.start_ms as f64,
                "ext": { "glance": p.glance_extension() },
            });
            if let PeopleCount {
                value: Some(people),
                suppressed: false,
            } = p.at.play.impressions
            {
                imp["qty"] = json!({
                    "multiplier": f64::from(people),
                    "sourcetype": 1,
                    "vendor": vendor,
                });
            }
            let mut dooh = json!({ "id": p.at.screen.id });
            if !p.at.screen.venue.is_empty() {
                dooh["name"] = json!(p.at.screen.venue);
            }
            json!({
                "id": format!("{}:{}", p.at.screen.id, p.at.play_id),
                "imp": [imp],
                "dooh": dooh,
            })
        })
        .collect();
    json_text(&serde_json::Value::Array(requests))
}

/// The CSV's columns: times in UTC (ms and ISO 8601) and the screen's local time; a suppressed
/// count is empty with `suppressed` true, as in the report's CSV.
pub const PLAYS_CSV_HEADER: [&str; 14] = [
    "screenId",
    "venue",
    "playId",
    "adId",
    "startMs",
    "endMs",
    "startUtc",
    "startLocal",
    "durationMs",
    "completed",
    "impressions",
    "watchers",
    "attentionS",
    "suppressed",
];

fn plays_csv(plays: &[Finished]) -> Result<String, ExportError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ExportError::Write(e.to_string());
    out.write_record(PLAYS_CSV_HEADER).map_err(csv_error)?;
    for p in plays {
        let play = p.at.play;
        let count = |c: &PeopleCount| c.value.map(|v| v.to_string()).unwrap_or_default();
        let mut attention = String::new();
        if let Some(s) = play.attention_s {
            let _ = write!(attention, "{s}");
        }
        let utc = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        out.write_record([
            super::report::spreadsheet_text(&p.at.screen.id).as_ref(),
            &super::report::spreadsheet_text(&p.at.screen.venue),
            &super::report::spreadsheet_text(p.at.play_id),
            &super::report::spreadsheet_text(&play.ad_id),
            &p.start_ms.to_string(),
            &p.end_ms.to_string(),
            &utc(p.start_ms),
            &p.local(p.start_ms)
                .format("%Y-%m-%dT%H:%M:%S%.3f")
                .to_string(),
            &p.duration_ms().to_string(),
            if play.completed == Some(true) {
                "true"
            } else {
                "false"
            },
            &count(&play.impressions),
            &count(&play.watchers),
            &attention,
            if play.impressions.suppressed || play.watchers.suppressed {
                "true"
            } else {
                "false"
            },
        ])
        .map_err(csv_error)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ExportError::Write(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ExportError::Write(e.to_string()))
}
