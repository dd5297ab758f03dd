//! The ingest service against a real ClickHouse 18.16 server: batches stored once and rolled up,
//! every kind of bad batch refused with its error and nothing stored, ClickHouse down answered
//! with 503, HTTPS and CORS; and the same schema and roll-up queries on the current engine
//! (chdb-core) giving the same answers.
// Tests may run long: a scenario reads best as one story (the 80-line limit is for the code).
#![allow(clippy::too_many_lines)]

mod support;

use glance::fleet::{CameraState, CellGender, HealthBackend, Heartbeat, Record, ScreenHealth};
use serde_json::Value;
use support::{ClickHouseServer, Service, T0, batch, cell, config_toml, minute, play, post, repo};

const SCREEN: &str = "lobby-1";
const TOKEN: &str = "token-of-lobby-1";
const OTHER: &str = "mall-7";
const OTHER_TOKEN: &str = "token-of-mall-7";

fn heartbeat(screen: &str, at_ms: i64) -> Record {
    Record::Heartbeat(Heartbeat::new(
        screen,
        at_ms,
        ScreenHealth {
            camera: CameraState::Live,
            analysed_fps: 9.5,
            backend: HealthBackend::Cpu,
            outbox_depth: 3,
            outbox_dropped: 0,
            last_ack_ms: Some(at_ms - 5_000),
            rules: None,
        },
    ))
}

fn sample() -> Vec<Record> {
    use CellGender::*;
    vec![
        minute(
            SCREEN,
            T0,
            vec![cell("25-34", Female, 2, 1), cell("unknown", Unknown, 1, 0)],
        ),
        minute(
            SCREEN,
            T0 + 60_000,
            vec![cell("25-34", Female, 1, 1), cell("35-44", Male, 3, 2)],
        ),
        // The next hour, and (at UTC+1) still the same local day.
        minute(SCREEN, T0 + 3_600_000, vec![cell("35-44", Male, 4, 4)]),
        play(
            SCREEN,
            "p-1",
            "coffee",
            T0 + 5_000,
            vec![cell("25-34", Female, 2, 1)],
        ),
        play(
            SCREEN,
            "p-2",
            "coffee",
            T0 + 70_000,
            vec![cell("35-44", Male, 3, 2), cell("25-34", Female, 1, 1)],
        ),
        play(SCREEN, "p-3", "spa", T0 + 3_600_000, vec![]),
        heartbeat(SCREEN, T0 + 120_000),
    ]
}

fn ids(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_batch_is_stored_once_rolled_up_and_read_alike_by_both_engines() {
    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config_toml(&clickhouse.url(), &[(SCREEN, TOKEN)], ""));
    let records = sample();

    let (status, ack) = post(&service.url, Some(TOKEN), &batch(&records));
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ids(&ack, "stored").len(), records.len());
    assert!(ids(&ack, "duplicates").is_empty());

    // A resend (the acknowledgement was lost) and a batch overlapping it store nothing twice.
    let (status, ack) = post(&service.url, Some(TOKEN), &batch(&records));
    assert_eq!(status, 200, "{ack}");
    assert!(ids(&ack, "stored").is_empty());
    assert_eq!(ids(&ack, "duplicates").len(), records.len());
    let extra = minute(
        SCREEN,
        T0 + 120_000,
        vec![cell("unknown", CellGender::Unknown, 1, 0)],
    );
    let (status, ack) = post(
        &service.url,
        Some(TOKEN),
        &batch(&[records[0].clone(), extra.clone(), extra.clone()]),
    );
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ids(&ack, "stored"), vec![extra.id().to_string()]);

    assert_eq!(
        clickhouse.count("FROM glance.records"),
        records.len() as u64 + 1
    );
    let totals = clickhouse.query(
        "SELECT sum(impressions) AS i, sum(watchers) AS w FROM glance.records WHERE kind = 'audienceMinute'",
    );
    // 3 + 4 + 4 + 1 people, 1 + 3 + 4 watchers.
    assert_eq!(
        (totals[0]["i"].as_u64(), totals[0]["w"].as_u64()),
        (Some(12), Some(8))
    );

    // The roll-ups agree with the records: per hour, per local day, per cell, per ad.
    let hourly = clickhouse.query(
        "SELECT toString(hour) AS h, sumMerge(impressions) AS i, sumForEachMerge(dwell_hist) AS d FROM glance.audience_hourly GROUP BY hour ORDER BY hour",
    );
    assert_eq!(hourly.len(), 2);
    assert_eq!(hourly[0]["h"], "2026-12-01 10:00:00");
    assert_eq!(hourly[0]["i"], 8);
    assert_eq!(hourly[0]["d"], serde_json::json!([8, 0, 0, 0, 0]));
    assert_eq!(hourly[1]["i"], 4);
    let cells = clickhouse.query(
        "SELECT age_band, gender, sum(present) AS p, sum(watchers) AS w FROM glance.audience_cells_daily GROUP BY age_band, gender ORDER BY age_band, gender",
    );
    let cell_rows: Vec<(String, String, u64, u64)> = cells
        .iter()
        .map(|c| {
            (
                c["age_band"].as_str().unwrap().into(),
                c["gender"].as_str().unwrap().into(),
                c["p"].as_u64().unwrap(),
                c["w"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cell_rows,
        vec![
            ("25-34".into(), "female".into(), 3, 2),
            ("35-44".into(), "male".into(), 7, 6),
            ("unknown".into(), "unknown".into(), 2, 0),
        ]
    );
    let plays = clickhouse.query(
        "SELECT ad_id, sum(plays) AS n, sum(impressions) AS i, sum(played_ms) AS ms FROM glance.plays_daily GROUP BY ad_id ORDER BY ad_id",
    );
    assert_eq!(plays[0]["ad_id"], "coffee");
    assert_eq!(
        (plays[0]["n"].as_u64(), plays[0]["i"].as_u64()),
        (Some(2), Some(6))
    );
    assert_eq!(plays[0]["ms"].as_f64(), Some(30_000.0));
    assert_eq!(
        (plays[1]["ad_id"].as_str(), plays[1]["n"].as_u64()),
        (Some("spa"), Some(1))
    );

    // The dashboard's queries give the same answers on 18.16 and on the current engine.
    let stored: Vec<Record> = records.iter().cloned().chain([extra]).collect();
    let on_server = run_named_queries(&clickhouse);
    let on_chdb = support::run_on_chdb(&stored, &repo().join("fleet/clickhouse/queries.sql"));
    assert_eq!(on_server.as_object().unwrap().len(), 7);
    assert_eq!(support::normalise(&on_server), support::normalise(&on_chdb));
}

#[test]
fn refused_batches_say_why_and_store_nothing() {
    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config_toml(
        &clickhouse.url(),
        &[(SCREEN, TOKEN), (OTHER, OTHER_TOKEN)],
        "",
    ));
    let good = sample();
    let stored_before = || clickhouse.count("FROM glance.records");
    assert_eq!(stored_before(), 0);

    let refuse = |token: Option<&str>, body: &str, status: u16, code: &str| -> Value {
        let (got, answer) = post(&service.url, token, body);
        assert_eq!(got, status, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(stored_before(), 0, "a refused batch stored something");
        answer
    };

    refuse(None, &batch(&good), 401, "badToken");
    refuse(Some("not-a-token"), &batch(&good), 401, "badToken");
    // A token of one screen with a record of another refuses the whole batch.
    let mixed = batch(&[good[0].clone(), minute(OTHER, T0, vec![])]);
    let answer = refuse(Some(TOKEN), &mixed, 403, "wrongScreen");
    assert_eq!(answer["error"]["line"], 2);
    let answer = refuse(Some(OTHER_TOKEN), &batch(&good), 403, "wrongScreen");
    assert_eq!(answer["error"]["line"], 1);

    // A line that is not JSON: its line.
    let body = format!("{}{{\"kind\": \"play\",\n", batch(&good[..2]));
    let answer = refuse(Some(TOKEN), &body, 400, "invalidRecord");
    assert_eq!(answer["error"]["line"], 3);
    // A wrong type: the line and the field.
    let mut wrong: Value = serde_json::from_str(&good[1].to_line()).unwrap();
    wrong["impressions"] = Value::String("four".into());
    let body = format!("{}{}\n", batch(&good[..1]), wrong);
    let answer = refuse(Some(TOKEN), &body, 400, "invalidRecord");
    assert_eq!(
        (
            answer["error"]["line"].as_u64(),
            answer["error"]["field"].as_str()
        ),
        (Some(2), Some("impressions"))
    );
    // A field inside a cell.
    let mut wrong: Value = serde_json::from_str(&good[0].to_line()).unwrap();
    wrong["cells"][1]["present"] = Value::from(-1);
    let answer = refuse(Some(TOKEN), &format!("{wrong}\n"), 400, "invalidRecord");
    assert_eq!(answer["error"]["field"], "cells[1].present");
    // Counts that do not add up, an unknown field, an unknown kind, a wrong id.
    let mut wrong: Value = serde_json::from_str(&good[0].to_line()).unwrap();
    wrong["impressions"] = Value::from(99);
    let answer = refuse(Some(TOKEN), &format!("{wrong}\n"), 400, "invalidRecord");
    assert_eq!(answer["error"]["field"], "dwellHist");
    let mut wrong: Value = serde_json::from_str(&good[0].to_line()).unwrap();
    wrong["faceEmbedding"] = serde_json::json!([0.1, 0.2]);
    let answer = refuse(Some(TOKEN), &format!("{wrong}\n"), 400, "invalidRecord");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("faceEmbedding")
    );
    let answer = refuse(Some(TOKEN), "{\"kind\": \"visit\"}\n", 400, "invalidRecord");
    assert_eq!(answer["error"]["field"], "kind");
    let mut wrong: Value = serde_json::from_str(&good[3].to_line()).unwrap();
    wrong["id"] = Value::String(format!("{SCREEN}:play:p-2"));
    let answer = refuse(Some(TOKEN), &format!("{wrong}\n"), 400, "invalidRecord");
    assert_eq!(answer["error"]["field"], "id");

    // Over the body limit (64 KiB in this configuration).
    let huge: String = std::iter::repeat_n(batch(&good), 200).collect();
    refuse(Some(TOKEN), &huge, 413, "tooLarge");

    // And the good batch still goes in whole.
    let (status, ack) = post(&service.url, Some(TOKEN), &batch(&good));
    assert_eq!(status, 200, "{ack}");
    assert_eq!(stored_before(), good.len() as u64);
}

#[test]
fn clickhouse_down_is_a_503_and_the_batch_goes_in_when_it_is_back() {
    let clickhouse = ClickHouseServer::start();
    let service = Service::start(&config_toml(&clickhouse.url(), &[(SCREEN, TOKEN)], ""));
    let good = sample();
    clickhouse.stop();
    let (status, answer) = post(&service.url, Some(TOKEN), &batch(&good));
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "storeUnavailable");
    clickhouse.restart();
    let (status, ack) = post(&service.url, Some(TOKEN), &batch(&good));
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ids(&ack, "stored").len(), good.len());
    assert_eq!(clickhouse.count("FROM glance.records"), good.len() as u64);
}

#[test]
fn the_binary_serves_https_with_the_configured_certificate_and_kiosk_origins_only() {
    let clickhouse = ClickHouseServer::start();
    let dir = support::TempDir::new("tls");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    // A CA of the test's own, and the service's certificate signed by it.
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir.0)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Glance test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "req.csr",
    ]);
    std::fs::write(
        dir.0.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config_toml(
        &clickhouse.url(),
        &[(SCREEN, TOKEN)],
        &format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert, key),
    )
    .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let config_path = dir.0.join("ingest.toml");
    std::fs::write(&config_path, config).unwrap();
    let _service = support::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_glance-ingest"))
            .arg("serve")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.0.join("ca.pem")).unwrap()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/v1/records");
    let mut answer = Err(String::new());
    for _ in 0..100 {
        match client
            .post(&url)
            .header("Authorization", format!("Bearer {TOKEN}"))
            .body(batch(&sample()))
            .send()
        {
            Ok(r) => {
                answer = Ok(r);
                break;
            }
            Err(e) => {
                answer = Err(format!("{e:?}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
    let answer = answer.expect("the service answers over HTTPS");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        clickhouse.count("FROM glance.records"),
        sample().len() as u64
    );

    // A kiosk page of a configured origin may send; another origin's preflight gets no grant.
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
            .unwrap()
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(
        preflight("http://kiosk.test").as_deref(),
        Some("http://kiosk.test")
    );
    assert_eq!(preflight("http://elsewhere.test"), None);
    // Plain HTTP to an HTTPS port is not served.
    assert!(
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"))
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );
}

fn run_named_queries(clickhouse: &ClickHouseServer) -> Value {
    let text = std::fs::read_to_string(repo().join("fleet/clickhouse/queries.sql")).unwrap();
    let mut out = serde_json::Map::new();
    let mut parts = text.split("-- name: ").skip(1);
    for part in parts.by_ref() {
        let (name, sql) = part.split_once('\n').unwrap();
        let sql = sql.trim().trim_end_matches(';');
        out.insert(name.trim().to_string(), Value::Array(clickhouse.query(sql)));
    }
    Value::Object(out)
}
