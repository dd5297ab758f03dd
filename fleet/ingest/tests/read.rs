//! The read side against a real ClickHouse 18.16 server: two screens' records, read back as one
//! fleet report per hour and per day, equal to the report made from the same records in
//! Rust; the report's queries giving the same rows on the current engine (chdb-core); screens
//! chosen by id, venue and tag; k-anonymity on the JSON and the CSV; a reader's token cannot
//! send and a screen's cannot read.
// Tests may run long: a scenario reads best as one story (the 80-line limit is for the code).
#![allow(clippy::too_many_lines)]

mod support;

use glance::audience::{
    AudienceConfig, AudienceReport, FleetRollups, Granularity, ReportOptions, fleet_report,
};
use glance::fleet::{CameraState, CellGender, HealthBackend, Heartbeat, Record, ScreenHealth};
use glance_ingest::read::{ReportQueries, health_query};
use serde_json::Value;
use support::{ClickHouseServer, Service, T0, TempDir, batch, cell, minute, play, post};

const LOBBY: (&str, &str) = ("lobby-1", "token-of-lobby-1");
const FOOD: (&str, &str) = ("food-2", "token-of-food-2");
const READER: &str = "token-of-the-marketing-dashboard";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn config(clickhouse_url: &str) -> String {
    let hash = glance_ingest::hash_token;
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [clickhouse]\nurl = \"{clickhouse_url}\"\nuser = \"glance_ingest\"\npassword = \"ingest-dev-password\"\n\
         reader_password = \"reader-dev-password\"\n\
         [[screens]]\nid = \"{}\"\ntoken_sha256 = \"{}\"\nvenue = \"Mall West\"\ntags = [\"entrance\"]\n\
         [[screens]]\nid = \"{}\"\ntoken_sha256 = \"{}\"\nvenue = \"Mall East\"\ntags = [\"food\", \"entrance\"]\n\
         [[readers]]\nname = \"marketing dashboard\"\ntoken_sha256 = \"{}\"\n",
        LOBBY.0,
        hash(LOBBY.1),
        FOOD.0,
        hash(FOOD.1),
        hash(READER)
    )
}

/// Two hours of two screens: minutes, plays of two ads, cells under and over k = 5.
fn records(screen: &str, scale: u32) -> Vec<Record> {
    use CellGender::*;
    vec![
        minute(
            screen,
            T0,
            vec![
                cell("25-34", Female, 3 * scale, scale),
                cell("unknown", Unknown, 1, 0),
            ],
        ),
        minute(
            screen,
            T0 + 60_000,
            vec![
                cell("25-34", Female, 2, 1),
                cell("35-44", Male, 3 * scale, 2),
            ],
        ),
        minute(screen, T0 + HOUR + 120_000, vec![cell("35-44", Male, 4, 4)]),
        play(
            screen,
            "p-1",
            "coffee",
            T0 + 5_000,
            vec![cell("25-34", Female, 3, 1)],
        ),
        play(
            screen,
            "p-2",
            "coffee",
            T0 + 70_000,
            vec![
                cell("35-44", Male, 3 * scale, 2),
                cell("25-34", Female, 1, 1),
            ],
        ),
        play(screen, "p-3", "spa", T0 + HOUR, vec![]),
    ]
}

/// The report the same records make in Rust, summed as the roll-ups sum them.
fn expected(
    records: &[Record],
    granularity: Granularity,
    k: u32,
    period: (i64, i64),
) -> AudienceReport {
    let options = ReportOptions {
        from_ms: Some(period.0 as f64),
        to_ms: Some(period.1 as f64),
        granularity,
        k,
        ..ReportOptions::default()
    };
    let rollups = FleetRollups::from_records(records, granularity);
    fleet_report(AudienceConfig::default(), &rollups, &options).unwrap()
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().expect("the service answers");
    (response.status().as_u16(), response.text().unwrap())
}

#[test]
fn a_fleet_report_is_the_sum_of_its_screens_as_the_kiosks_own_reports_make_it() {
    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config(&clickhouse.url()));
    let base = service.url.replace("/v1/records", "");
    let (lobby, food) = (records(LOBBY.0, 1), records(FOOD.0, 2));
    for ((_, token), screen_records) in [(LOBBY, &lobby), (FOOD, &food)] {
        let (status, ack) = post(&service.url, Some(token), &batch(screen_records));
        assert_eq!(status, 200, "{ack}");
    }
    let period = (T0 - HOUR, T0 + 2 * HOUR);
    let report_url = |query: &str| {
        format!(
            "{base}/v1/fleet/report?fromMs={}&toMs={}&{query}",
            period.0, period.1
        )
    };
    let read = |query: &str| -> (Vec<String>, AudienceReport) {
        let (status, text) = get(&report_url(query), Some(READER));
        assert_eq!(status, 200, "{query}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        let screens = body["screens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        (
            screens,
            serde_json::from_value(body["report"].clone()).unwrap(),
        )
    };
    let both: Vec<Record> = lobby.iter().chain(&food).cloned().collect();

    // Every screen, per hour and per (local) day, with k = 5 and with k = 2.
    for (granularity, name) in [(Granularity::Hour, "hour"), (Granularity::Day, "day")] {
        for k in [5, 2] {
            let (screens, report) = read(&format!("granularity={name}&k={k}"));
            assert_eq!(screens, vec![LOBBY.0, FOOD.0]);
            let unit = if granularity == Granularity::Day {
                DAY
            } else {
                HOUR
            };
            let want = expected(
                &both,
                granularity,
                k,
                (period.0.div_euclid(unit) * unit, period.1),
            );
            assert_eq!(report, want, "{name}, k = {k}");
        }
    }
    let (_, report) = read("");
    // 3+1+2+3+4 people at the lobby, 6+1+2+6+4 at the food court.
    assert_eq!(report.totals.impressions.value, Some(13 + 19));
    assert_eq!(report.series.len(), 2, "two hours");
    let coffee = report.ads.iter().find(|a| a.ad_id == "coffee").unwrap();
    assert_eq!(coffee.plays, 4);
    assert_eq!(report.plays.len(), 6);
    // k-anonymity: no published cell describes fewer than 5 people.
    let published = report
        .totals
        .by_band_gender
        .iter()
        .chain(report.series.iter().flat_map(|s| &s.metrics.by_band_gender))
        .chain(report.ads.iter().flat_map(|a| &a.by_band_gender))
        .flat_map(|c| [c.present, c.watchers]);
    for count in published {
        assert!(count.value.is_none_or(|n| n == 0 || n >= 5), "{count:?}");
    }
    assert!(
        report.k_anonymity.suppressed_cells > 0,
        "the 1-person unknown cells are hidden"
    );

    // The report's queries read the same rows on the current engine.
    for granularity in [Granularity::Hour, Granularity::Day] {
        let queries = ReportQueries::new(
            "glance",
            &[LOBBY.0, FOOD.0],
            period,
            granularity,
            glance_ingest::read::MAX_LISTED_PLAYS,
        );
        let dir = TempDir::new("report-queries");
        let file = dir.0.join("queries.sql");
        let text: String = queries
            .named()
            .iter()
            .map(|(name, sql)| format!("-- name: {name}\n{sql};\n\n"))
            .collect();
        std::fs::write(&file, text).unwrap();
        let on_chdb = support::run_on_chdb(&both, &file);
        for (name, sql) in queries.named() {
            let on_server = Value::Array(clickhouse.query(sql));
            assert!(
                on_server.as_array().is_some_and(|rows| !rows.is_empty()),
                "{name}"
            );
            assert_eq!(
                support::normalise(&on_server),
                support::normalise(&on_chdb[name]),
                "{granularity:?} {name}"
            );
        }
    }

    // The screens, with their venues, tags and health from their latest heartbeat.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let beat = |at_ms: i64, depth: u32, dropped: u64| {
        Record::Heartbeat(Heartbeat::new(
            LOBBY.0,
            at_ms,
            ScreenHealth {
                camera: CameraState::Live,
                analysed_fps: 7.5,
                backend: HealthBackend::Cpu,
                outbox_depth: depth,
                outbox_dropped: dropped,
                last_ack_ms: Some(at_ms - 2_000),
                rules: None,
            },
        ))
    };
    let beats = [beat(now - 180_000, 40, 3), beat(now - 60_000, 2, 4)];
    assert_eq!(post(&service.url, Some(LOBBY.1), &batch(&beats)).0, 200);
    let (status, text) = get(&format!("{base}/v1/fleet/screens"), Some(READER));
    assert_eq!(status, 200, "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let lobby_listing = &listed["screens"][0];
    assert_eq!(lobby_listing["id"], LOBBY.0);
    assert_eq!(lobby_listing["venue"], "Mall West");
    assert_eq!(lobby_listing["tags"], serde_json::json!(["entrance"]));
    let health = &lobby_listing["health"];
    assert_eq!(health["lastSeenMs"], now - 60_000);
    assert_eq!(health["lastAckMs"], now - 62_000);
    assert_eq!(
        (health["camera"].as_str(), health["backend"].as_str()),
        (Some("live"), Some("cpu"))
    );
    assert_eq!(
        (
            health["outboxDepth"].as_u64(),
            health["recordsDropped"].as_u64()
        ),
        (Some(2), Some(7))
    );
    assert_eq!(health["analysedFps"], 7.5);
    assert_eq!(listed["screens"][1]["id"], FOOD.0);
    assert!(
        listed["screens"][1]["health"].is_null(),
        "no heartbeat from the food court"
    );
    assert_eq!(
        get(&format!("{base}/v1/fleet/screens"), Some(FOOD.1)).0,
        403
    );
    let sql = health_query("glance", &[LOBBY.0, FOOD.0], now - 7 * DAY);
    let dir = TempDir::new("health-query");
    std::fs::write(dir.0.join("q.sql"), format!("-- name: health\n{sql};\n")).unwrap();
    let on_chdb = support::run_on_chdb(&beats, &dir.0.join("q.sql"));
    assert_eq!(
        support::normalise(&Value::Array(clickhouse.query(&sql))),
        support::normalise(&on_chdb["health"])
    );

    // Screens chosen by id, venue and tag.
    let lobby_only = expected(&lobby, Granularity::Hour, 5, (period.0, period.1));
    for query in [
        format!("screens={}", LOBBY.0),
        "venue=Mall%20West".into(),
        "tag=entrance&venue=Mall%20West".into(),
    ] {
        let (screens, report) = read(&query);
        assert_eq!(screens, vec![LOBBY.0], "{query}");
        assert_eq!(report, lobby_only, "{query}");
    }
    let (screens, _) = read("tag=food");
    assert_eq!(screens, vec![FOOD.0]);

    // The CSV is the kiosk's, k-anonymous alike.
    let (status, csv) = get(&report_url("format=csv"), Some(READER));
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("section,") && csv.contains("meta,,,,,,,,k,5,,"),
        "{csv}"
    );
    assert_eq!(csv, read("").1.to_csv().unwrap());

    // Who may do what: a reader cannot send, a screen cannot read, nobody else can do either.
    let (status, body) = post(&service.url, Some(READER), &batch(&lobby[..1]));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("badToken"))
    );
    let (status, body) = get(&report_url(""), Some(LOBBY.1));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("notAReader"), "{body}");
    assert_eq!(get(&report_url(""), None).0, 401);
    assert_eq!(get(&report_url(""), Some("a-guess")).0, 401);

    // Bad questions get their reason, and nothing reaches SQL.
    for (query, reason) in [
        ("screens=lobby-1'%20OR%201=1", "no screen"),
        ("venue=Nowhere", "no configured screen matches"),
        ("granularity=minute", "minutes are not rolled up"),
        ("k=1", "at least 2"),
        ("format=xml", "json or csv"),
        ("granularity=week", "granularity"),
    ] {
        let (status, body) = get(&report_url(query), Some(READER));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains("badQuery") && body.contains(reason),
            "{query}: {body}"
        );
    }
    let (status, body) = get(
        &format!("{base}/v1/fleet/report?fromMs=5&toMs=1"),
        Some(READER),
    );
    assert!(status == 400 && body.contains("before toMs"), "{body}");
    let (status, body) = get(
        &format!("{base}/v1/fleet/report?fromMs=0&toMs={}", 400 * DAY),
        Some(READER),
    );
    assert!(status == 400 && body.contains("367 days"), "{body}");
}

/// The test's screens with their Broadsign ids, and the vendor the OpenRTB export names.
fn config_with_exports(clickhouse_url: &str) -> String {
    config(clickhouse_url)
        .replace(
            "venue = \"Mall West\"\n",
            "venue = \"Mall West\"\nbroadsign = { player_id = 12345, display_unit_id = 4456, frame_id = 4457 }\n",
        )
        .replace(
            "venue = \"Mall East\"\n",
            "venue = \"Mall East\"\nbroadsign = { player_id = 12346, display_unit_id = 4458, frame_id = 4459 }\n",
        )
        + "[exports]\nvendor = \"audience.example.com\"\n"
}

#[test]
fn exports_from_the_service_are_the_exports_of_the_stored_plays() {
    use CellGender::*;
    use glance::audience::{
        BroadsignIds, ExportFormat, ExportScreen, export_plays, fleet_plays_at,
    };
    use glance::fleet::ProofOfPlay;

    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config_with_exports(&clickhouse.url()));
    let base = service.url.replace("/v1/records", "");
    // Ads by their CMS's numeric ids: 7, 3 (under k) and 12 people at the lobby, 6 and 0 at the
    // food court; three days later an ad named by text.
    let people = |n: u32| vec![cell("25-34", Female, n, n / 2)];
    let lobby = vec![
        play(LOBBY.0, "p-1", "5001", T0, people(7)),
        play(LOBBY.0, "p-2", "5001", T0 + 60_000, people(3)),
        play(LOBBY.0, "p-3", "5002", T0 + 120_000, people(12)),
        play(LOBBY.0, "p-4", "coffee", T0 + 3 * DAY, people(8)),
    ];
    let food = vec![
        play(FOOD.0, "p-1", "5001", T0 + 30_000, people(6)),
        play(FOOD.0, "p-2", "5002", T0 + 90_000, vec![]),
    ];
    for ((_, token), screen_records) in [(LOBBY, &lobby), (FOOD, &food)] {
        let (status, ack) = post(&service.url, Some(token), &batch(screen_records));
        assert_eq!(status, 200, "{ack}");
    }
    let period = (T0 - HOUR, T0 + DAY);
    let export_url = |format: &str, (from, to): (i64, i64)| {
        format!("{base}/v1/fleet/export?format={format}&fromMs={from}&toMs={to}")
    };

    // What the same plays give in Rust: the day report, its plays at their screens.
    let both: Vec<Record> = lobby[..3].iter().chain(&food).cloned().collect();
    let stored: Vec<ProofOfPlay> = both
        .iter()
        .filter_map(|r| match r {
            Record::Play(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let report = expected(
        &both,
        Granularity::Day,
        5,
        (period.0.div_euclid(DAY) * DAY, period.1),
    );
    let screen = |id: &str, venue: &str, ids: (u64, u64, u64)| ExportScreen {
        id: id.into(),
        venue: venue.into(),
        broadsign: Some(BroadsignIds {
            player_id: ids.0,
            display_unit_id: ids.1,
            frame_id: ids.2,
        }),
    };
    let screens = [
        screen(LOBBY.0, "Mall West", (12345, 4456, 4457)),
        screen(FOOD.0, "Mall East", (12346, 4458, 4459)),
    ];
    let plays = fleet_plays_at(&report, &stored, &screens);
    assert_eq!(plays.len(), 5);
    for format in ExportFormat::ALL {
        let response = reqwest::blocking::Client::new()
            .get(export_url(format.name(), period))
            .header("Authorization", format!("Bearer {READER}"))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{format:?}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            format.content_type()
        );
        let want = export_plays(&plays, format, Some("audience.example.com")).unwrap();
        assert_eq!(response.text().unwrap(), want, "{format:?}");
    }
    // Under k nowhere: the 3-person play is in the CSV without its count.
    let (_, csv) = get(&export_url("csv", period), Some(READER));
    let row = csv
        .lines()
        .find(|l| l.starts_with("lobby-1,Mall West,p-2,"))
        .unwrap();
    assert!(row.ends_with(",,,,true"), "{row}");

    // One screen, by tag or id, as the report chooses them.
    let (status, text) = get(
        &format!("{}&screens={}", export_url("openrtb-qty", period), FOOD.0),
        Some(READER),
    );
    assert_eq!(status, 200, "{text}");
    let requests: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(requests.as_array().unwrap().len(), 2);

    // Refusals say why.
    let later = (T0 + 3 * DAY, T0 + 4 * DAY);
    let (status, text) = get(&export_url("xibo-stats", later), Some(READER));
    assert_eq!(status, 400);
    assert!(
        text.contains("\\\"coffee\\\" is not a whole number"),
        "{text}"
    );
    let (status, text) = get(&export_url("csv", later), Some(READER));
    assert_eq!(status, 200);
    assert!(text.contains(",p-4,coffee,"), "{text}");
    let (status, text) = get(&export_url("pdf", period), Some(READER));
    assert_eq!(status, 400);
    assert!(
        text.contains("broadsign-pop, xibo-stats, openrtb-qty or csv"),
        "{text}"
    );
    assert_eq!(get(&export_url("csv", period), Some(LOBBY.1)).0, 403);
    assert_eq!(get(&export_url("csv", period), None).0, 401);
}
