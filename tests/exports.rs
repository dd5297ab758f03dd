//! The exports buyers read, checked against the formats' published field lists (docs/fleet.md
//! names the sources): each export of a fleet report's plays parses into a mirror of its format
//! that refuses unknown fields, carries the report's counts (k-anonymous: a count the report
//! suppresses is nowhere in any export) and the plays' local times; `glance export` writes the
//! same text from a saved report.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use glance::audience::{
    AudienceConfig, AudienceReport, BroadsignIds, ExportError, ExportFormat, ExportScreen,
    FleetRollups, Granularity, PLAYS_CSV_HEADER, PlayReport, ReportOptions, export_plays,
    fleet_play_id, fleet_plays_at, fleet_report,
};
use glance::fleet::{AudienceCell, CellGender, ProofOfPlay, RECORD_SCHEMA_VERSION, Record};
use serde::Deserialize;

/// 2026-12-01 10:00:00 UTC.
const T0: i64 = 1_796_119_200_000;
const VENDOR: &str = "audience.example.com";

fn play(screen: &str, play_id: &str, ad_id: &str, start_ms: i64, people: u32) -> ProofOfPlay {
    ProofOfPlay {
        schema_version: RECORD_SCHEMA_VERSION,
        id: ProofOfPlay::record_id(screen, play_id),
        screen_id: screen.into(),
        play_id: play_id.into(),
        ad_id: ad_id.into(),
        start_ms,
        end_ms: start_ms + 15_250,
        utc_offset_minutes: if screen == "lobby-1" { 60 } else { -300 },
        completed: true,
        impressions: people,
        watchers: people / 2,
        attention_ms: f64::from(people) * 1000.0,
        cells: vec![AudienceCell {
            age_band: "25-34".into(),
            gender: CellGender::Female,
            present: people,
            watchers: people / 2,
            dwell_ms: 0.0,
            attention_ms: f64::from(people) * 1000.0,
        }],
    }
}

/// Plays of two screens: ad 5001 to 7, 3 and 6 people (3 under k = 5, and 6 hidden with it so
/// the ad's total cannot reveal it), ad 5002 to 12 people, and a play with nobody.
fn plays() -> Vec<ProofOfPlay> {
    vec![
        play("lobby-1", "p-1", "5001", T0, 7),
        play("lobby-1", "p-2", "5001", T0 + 60_000, 3),
        play("lobby-1", "p-3", "5002", T0 + 120_000, 12),
        play("food-2", "p-1", "5001", T0 + 30_000, 6),
        play("food-2", "p-2", "5002", T0 + 90_000, 0),
    ]
}

fn screens() -> Vec<ExportScreen> {
    vec![
        ExportScreen {
            id: "lobby-1".into(),
            venue: "Mall West".into(),
            broadsign: Some(BroadsignIds {
                player_id: 12345,
                display_unit_id: 4456,
                frame_id: 4457,
            }),
        },
        ExportScreen {
            id: "food-2".into(),
            venue: "Mall East, food court".into(),
            broadsign: Some(BroadsignIds {
                player_id: 12346,
                display_unit_id: 4458,
                frame_id: 4459,
            }),
        },
    ]
}

fn report(stored: &[ProofOfPlay]) -> AudienceReport {
    let records: Vec<Record> = stored.iter().cloned().map(Record::Play).collect();
    let rollups = FleetRollups::from_records(&records, Granularity::Day);
    let options = ReportOptions {
        from_ms: Some((T0 - 86_400_000) as f64),
        to_ms: Some((T0 + 86_400_000) as f64),
        granularity: Granularity::Day,
        k: 5,
        ..ReportOptions::default()
    };
    fleet_report(AudienceConfig::default(), &rollups, &options).unwrap()
}

fn export(stored: &[ProofOfPlay], screens: &[ExportScreen], format: ExportFormat) -> String {
    let report = report(stored);
    export_plays(
        &fleet_plays_at(&report, stored, screens),
        format,
        Some(VENDOR),
    )
    .unwrap()
}

/// The report's play of `screen`'s `play_id`.
fn reported<'a>(report: &'a AudienceReport, screen: &str, play_id: &str) -> &'a PlayReport {
    let id = fleet_play_id(screen, play_id);
    report.plays.iter().find(|p| p.play_id == id).unwrap()
}

#[test]
fn the_report_suppresses_what_the_exports_must_not_show() {
    let report = report(&plays());
    let people = |screen, play| reported(&report, screen, play).impressions;
    assert!(people("lobby-1", "p-2").suppressed, "3 people, under k");
    assert!(people("food-2", "p-1").suppressed, "hidden with it");
    assert_eq!(people("lobby-1", "p-1").value, Some(7));
    assert_eq!(people("lobby-1", "p-3").value, Some(12));
    assert_eq!(people("food-2", "p-2").value, Some(0));
}

// Broadsign Control real-time POP: the request a player posts, records as objects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadsignRequest {
    api_key: String,
    player_id: u64,
    pop: Vec<BroadsignPop>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadsignPop {
    display_unit_id: u64,
    frame_id: u64,
    n_screens: u32,
    ad_copy_id: u64,
    campaign_id: u64,
    schedule_id: u64,
    impressions: u32,
    interactions: u32,
    /// ISO 8601 with milliseconds, the player's local time, no zone.
    end_time: String,
    /// Milliseconds.
    duration: u32,
    ext1: String,
    ext2: String,
    extra_data: String,
}

#[test]
fn broadsign_pop_is_one_request_per_player_in_broadsigns_fields() {
    let stored = plays();
    let report = report(&stored);
    let text = export(&stored, &screens(), ExportFormat::BroadsignPop);
    let requests: Vec<BroadsignRequest> = serde_json::from_str(&text).expect(&text);
    assert_eq!(
        requests.iter().map(|r| r.player_id).collect::<Vec<_>>(),
        [12345, 12346]
    );
    assert_eq!(requests.iter().map(|r| r.pop.len()).sum::<usize>(), 5);
    for request in &requests {
        assert_eq!(request.api_key, "", "the sender fills in its key");
        let (screen, offset_ms) = if request.player_id == 12345 {
            ("lobby-1", 3_600_000)
        } else {
            ("food-2", -18_000_000)
        };
        for pop in &request.pop {
            assert_eq!(pop.n_screens, 1);
            assert_eq!(pop.interactions, 0);
            assert_eq!(pop.ext1, "glance");
            let stored = stored
                .iter()
                .find(|p| p.screen_id == screen && p.play_id == pop.ext2)
                .unwrap();
            assert_eq!(pop.ad_copy_id.to_string(), stored.ad_id);
            assert_eq!(pop.duration, 15_250);
            let end = NaiveDateTime::parse_from_str(&pop.end_time, "%Y-%m-%dT%H:%M:%S%.3f")
                .unwrap()
                .and_utc()
                .timestamp_millis();
            assert_eq!(end, stored.end_ms + offset_ms, "local time");
            assert!(
                pop.end_time.len() == 23,
                "milliseconds, no zone: {}",
                pop.end_time
            );
            let play = reported(&report, screen, &pop.ext2);
            let reported = play.impressions;
            let extra: serde_json::Value = serde_json::from_str(&pop.extra_data).unwrap();
            assert_eq!(
                extra["glance"]["watchers"],
                serde_json::json!(play.watchers.value)
            );
            if reported.suppressed {
                assert_eq!(pop.impressions, 0);
                assert!(extra["glance"]["impressions"].is_null());
            } else {
                assert_eq!(Some(pop.impressions), reported.value);
                assert_eq!(pop.impressions, stored.impressions);
            }
            assert_eq!(
                pop.display_unit_id,
                if screen == "lobby-1" { 4456 } else { 4458 }
            );
            assert_eq!(pop.frame_id, pop.display_unit_id + 1);
            assert_eq!((pop.campaign_id, pop.schedule_id), (0, 0));
        }
    }
}

/// Xibo's `SubmitStats` record: attribute names, which are required, and the types.
const XIBO_ATTRIBUTES: [&str; 9] = [
    "type",
    "fromdt",
    "todt",
    "scheduleid",
    "layoutid",
    "mediaid",
    "tag",
    "count",
    "duration",
];

fn xibo_stats(text: &str) -> Vec<BTreeMap<String, String>> {
    use quick_xml::events::Event;
    use quick_xml::{Reader, XmlVersion};
    let mut reader = Reader::from_str(text);
    let mut stats = Vec::new();
    let mut depth = 0;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                assert_eq!((depth, e.name().0), (0, "stats"));
                depth += 1;
            }
            Event::Empty(e) => {
                assert_eq!((depth, e.name().0), (1, "stat"));
                let attributes: BTreeMap<String, String> = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let name = a.key.0.to_string();
                        assert!(XIBO_ATTRIBUTES.contains(&name.as_str()), "{name}");
                        let value = a.normalized_value(XmlVersion::Explicit1_0).unwrap();
                        (name, value.into_owned())
                    })
                    .collect();
                stats.push(attributes);
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            Event::Decl(_) | Event::Text(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(depth, 0);
    stats
}

#[test]
fn xibo_stats_are_media_stats_as_a_display_submits_them() {
    let stored = plays();
    let stats = xibo_stats(&export(&stored, &screens(), ExportFormat::XiboStats));
    assert_eq!(stats.len(), 5);
    let date = |s: &str| {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .expect(s)
            .and_utc()
            .timestamp_millis()
    };
    // Plays in the report's order (start time), each covered by whole local seconds.
    let mut in_order = stored.clone();
    in_order.sort_by_key(|p| p.start_ms);
    for (stat, stored) in stats.iter().zip(&in_order) {
        for required in ["type", "fromdt", "todt"] {
            assert!(stat.contains_key(required), "{required}");
        }
        assert_eq!(stat["type"], "media");
        let offset_ms = i64::from(stored.utc_offset_minutes) * 60_000;
        let (from, to) = (date(&stat["fromdt"]), date(&stat["todt"]));
        assert!(from < to);
        assert_eq!(from, (stored.start_ms + offset_ms).div_euclid(1000) * 1000);
        assert!(to >= stored.end_ms + offset_ms && to - 1000 < stored.end_ms + offset_ms);
        assert_eq!(stat["mediaid"], stored.ad_id);
        for number in ["scheduleid", "layoutid", "mediaid", "count", "duration"] {
            stat[number].parse::<u64>().expect(number);
        }
        assert_eq!(stat["duration"], "15");
        assert_eq!(stat["count"], "1");
    }
}

// OpenRTB 2.6: the parts of a bid request an audience per play fills in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BidRequest {
    id: String,
    imp: Vec<Imp>,
    dooh: Dooh,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Imp {
    id: String,
    /// Ms since the epoch, a float.
    dt: Option<f64>,
    qty: Option<Qty>,
    ext: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Qty {
    multiplier: f64,
    sourcetype: Option<u32>,
    vendor: Option<String>,
    #[allow(dead_code)]
    ext: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Dooh {
    id: Option<String>,
    name: Option<String>,
    venuetype: Option<Vec<String>>,
    venuetypetax: Option<u32>,
    publisher: Option<serde_json::Value>,
    domain: Option<String>,
    keywords: Option<String>,
    content: Option<serde_json::Value>,
    ext: Option<serde_json::Value>,
}

#[test]
fn openrtb_qty_is_the_audience_per_play_as_a_measurement_vendors_count() {
    let stored = plays();
    let report = report(&stored);
    let text = export(&stored, &screens(), ExportFormat::OpenrtbQty);
    let requests: Vec<BidRequest> = serde_json::from_str(&text).expect(&text);
    assert_eq!(requests.len(), 5);
    for request in &requests {
        let (screen, play_id) = request.id.split_once(':').unwrap();
        assert_eq!(request.dooh.id.as_deref(), Some(screen));
        assert!(request.dooh.name.is_some());
        let [imp] = &request.imp[..] else {
            panic!("one imp")
        };
        assert!(!imp.id.is_empty());
        let stored = stored
            .iter()
            .find(|p| p.screen_id == screen && p.play_id == play_id)
            .unwrap();
        assert_eq!(imp.dt, Some(stored.start_ms as f64));
        let reported = reported(&report, screen, play_id).impressions;
        let glance = &imp.ext.as_ref().unwrap()["glance"];
        assert_eq!(glance["impressions"], serde_json::json!(reported.value));
        match (&imp.qty, reported.value) {
            (Some(qty), Some(people)) => {
                assert_eq!(qty.multiplier, f64::from(people));
                assert_eq!(qty.sourcetype, Some(1), "a measurement vendor");
                assert_eq!(qty.vendor.as_deref(), Some(VENDOR));
            }
            (None, None) => assert!(glance["impressions"].is_null()),
            (qty, value) => panic!("{qty:?} for {value:?}"),
        }
    }
}

#[test]
fn the_csv_lists_each_play_with_its_counts_or_marks_them_suppressed() {
    let stored = plays();
    let report = report(&stored);
    let text = export(&stored, &screens(), ExportFormat::Csv);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        PLAYS_CSV_HEADER
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let reported = reported(&report, &row[0], &row[2]);
        let shown = |c: glance::audience::PeopleCount| c.value.map(|v| v.to_string());
        assert_eq!(shown(reported.impressions).unwrap_or_default(), &row[10]);
        assert_eq!(shown(reported.watchers).unwrap_or_default(), &row[11]);
        assert_eq!(
            &row[13],
            (reported.impressions.suppressed || reported.watchers.suppressed).to_string()
        );
        assert_eq!(&row[8], "15250");
    }
    let lobby = rows
        .iter()
        .find(|r| &r[0] == "lobby-1" && &r[2] == "p-1")
        .unwrap();
    assert_eq!(
        (&lobby[6], &lobby[7]),
        ("2026-12-01T10:00:00.000Z", "2026-12-01T11:00:00.000")
    );
    assert_eq!(&lobby[10], "7");
}

#[test]
fn an_export_says_what_it_lacks() {
    let stored = plays();
    let report = report(&stored);
    let mut screens = screens();
    assert_eq!(
        export_plays(
            &fleet_plays_at(&report, &stored, &screens),
            ExportFormat::OpenrtbQty,
            None
        ),
        Err(ExportError::NoVendor)
    );
    screens[1].broadsign = None;
    assert_eq!(
        export_plays(
            &fleet_plays_at(&report, &stored, &screens),
            ExportFormat::BroadsignPop,
            None
        ),
        Err(ExportError::NoBroadsignIds("food-2".into()))
    );
    let mut named = stored.clone();
    named[2].ad_id = "summer-sale".into();
    let report = self::report(&named);
    let plays = fleet_plays_at(&report, &named, &screens);
    let error = export_plays(&plays, ExportFormat::XiboStats, None).unwrap_err();
    assert_eq!(
        error,
        ExportError::AdIdNotNumeric {
            format: "xibo-stats",
            ad_id: "summer-sale".into()
        }
    );
    assert!(
        error
            .to_string()
            .contains("\"summer-sale\" is not a whole number")
    );
    // Formats that name ads by any id take it.
    assert!(export_plays(&plays, ExportFormat::Csv, None).is_ok());
    assert_eq!(
        ExportFormat::from_name("pdf"),
        Err(ExportError::UnknownFormat("pdf".into()))
    );
}

#[test]
fn glance_export_writes_a_saved_reports_plays() {
    let stored: Vec<ProofOfPlay> = plays()
        .into_iter()
        .filter(|p| p.screen_id == "lobby-1")
        .collect();
    let report = report(&stored);
    let dir = std::env::temp_dir().join(format!("glance-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.json");
    std::fs::write(&file, report.to_json().unwrap()).unwrap();
    let glance = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_glance"))
            .arg("export")
            .arg(&file)
            .args(args)
            .output()
            .unwrap()
    };
    let out = glance(&[
        "--format",
        "broadsign-pop",
        "--screen",
        "lobby-1",
        "--utc-offset-minutes",
        "60",
        "--broadsign-ids",
        "12345,4456,4457",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The saved report's plays are the kiosk's own: their ids as the report gives them.
    let screen = ExportScreen {
        venue: String::new(),
        ..screens()[0].clone()
    };
    let expected = export_plays(
        &glance::audience::plays_at(&report, &screen, 60),
        ExportFormat::BroadsignPop,
        None,
    )
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    let out = glance(&["--format", "openrtb-qty", "--screen", "lobby-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vendor"));
    let out = glance(&["--format", "pdf", "--screen", "lobby-1"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
