//! `glance audience CLIP --push URL` against the real service and ClickHouse 18.16, with the
//! service stopped mid-run and started again: at the end ClickHouse holds exactly the CLI's own
//! report (impressions, watchers, attention, band x gender), nothing lost, nothing twice.
// Tests may run long: a scenario reads best as one story (the 80-line limit is for the code).
#![allow(clippy::too_many_lines)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::{Child, ClickHouseServer, TempDir, config_toml, repo};

const SCREEN: &str = "edge-box-1";
const TOKEN: &str = "token-of-edge-box-1";

/// The astronaut (public domain) walking across a 640x480 picture five times, 2 fps.
fn make_clip(path: &std::path::Path) {
    let out = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=640x480:r=2",
            "-loop",
            "1",
            "-i",
        ])
        .arg(repo().join("tests/fixtures/astronaut.jpg"))
        .args([
            "-filter_complex",
            "[1]scale=260:260[p];[0][p]overlay=x='-260+mod(t,12)*80':y=110",
            "-t",
            "60",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(path)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CLI. A workspace member's test cannot name another member's binary, but `cargo test
/// --workspace` (as scripts/dev test runs it) builds every binary into the same directory before
/// any test runs.
fn glance_bin() -> std::path::PathBuf {
    let glance =
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_glance-ingest")).with_file_name("glance");
    assert!(
        glance.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        glance.display()
    );
    glance
}

fn start_service(config: &std::path::Path) -> Child {
    Child(
        Command::new(env!("CARGO_BIN_EXE_glance-ingest"))
            .arg("serve")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn the_cli_pushes_through_a_service_restart_and_clickhouse_matches_its_report() {
    let glance = glance_bin();
    let clickhouse = ClickHouseServer::start();
    let dir = TempDir::new("push");
    let clip = dir.0.join("walk.y4m");
    make_clip(&clip);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.0.join("ingest.toml");
    std::fs::write(
        &config,
        config_toml(&clickhouse.url(), &[(SCREEN, TOKEN)], "")
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let mut service = Some(start_service(&config));
    let url = format!("http://127.0.0.1:{port}/v1/records");

    let mut cli = Child(
        Command::new(&glance)
            .arg("audience")
            .arg(&clip)
            .args([
                "--k",
                "1",
                "--push",
                &url,
                "--screen",
                SCREEN,
                "--start-ms",
                "1796119230000",
                "--push-wait-s",
                "120",
            ])
            .env("GLANCE_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = cli.0.stderr.take().unwrap();
    let (failed_tx, failed_rx) = mpsc::channel();
    let stderr_lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("push failed") {
                let _ = failed_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });

    // The first records arrive; then the service goes away until the CLI has had to retry.
    for _ in 0..600 {
        if clickhouse.count("FROM glance.records") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        clickhouse.count("FROM glance.records") > 0,
        "nothing arrived"
    );
    drop(service.take());
    failed_rx
        .recv_timeout(Duration::from_secs(300))
        .expect("the CLI retried while the service was down");
    service = Some(start_service(&config));

    let mut stdout = String::new();
    std::io::Read::read_to_string(cli.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let status = cli.0.wait().unwrap();
    let log = stderr_lines.join().unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("0 refused, 0 unsent"), "{log}");
    let report: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("report").cloned())
        .expect("the CLI printed its report");
    let totals = &report["totals"];
    let impressions = totals["impressions"]["value"].as_u64().unwrap_or(0);
    assert!(impressions >= 3, "the clip's walks were counted: {totals}");

    // ClickHouse, read exactly (FINAL) and through the roll-ups, equals the report.
    let stored = clickhouse.query(
        "SELECT sum(impressions) AS i, sum(watchers) AS w, sum(attention_ms) AS a, sum(dwell_ms) AS d \
         FROM glance.records FINAL WHERE kind = 'audienceMinute'",
    );
    assert_eq!(stored[0]["i"].as_u64(), Some(impressions));
    assert_eq!(
        stored[0]["w"].as_u64(),
        totals["watchers"]["value"].as_u64().or(Some(0))
    );
    let seconds = |v: &Value| v.as_f64().unwrap_or(0.0);
    assert!((seconds(&stored[0]["a"]) / 1000.0 - seconds(&totals["attentionTotalS"])).abs() < 1e-6);
    assert!((seconds(&stored[0]["d"]) / 1000.0 - seconds(&totals["dwellTotalS"])).abs() < 1e-6);
    let rolled = clickhouse.query("SELECT sumMerge(impressions) AS i FROM glance.audience_daily");
    assert_eq!(rolled[0]["i"].as_u64(), Some(impressions));
    let cells = clickhouse.query(
        "SELECT age_band, gender, sum(present) AS p FROM glance.audience_cells_daily GROUP BY age_band, gender",
    );
    for cell in report["totals"]["byBandGender"].as_array().unwrap() {
        let Some(present) = cell["present"]["value"].as_u64().filter(|&p| p > 0) else {
            continue;
        };
        let band = cell["ageBand"].as_str().unwrap_or("unknown");
        let gender = cell["gender"].as_str().unwrap_or("unknown");
        let row = cells
            .iter()
            .find(|r| r["age_band"] == band && r["gender"] == gender)
            .unwrap_or_else(|| panic!("no cell {band} {gender} in {cells:?}"));
        assert_eq!(row["p"].as_u64(), Some(present), "{band} {gender}");
    }
    // Each record once, and heartbeats among them.
    assert_eq!(
        clickhouse.count("FROM glance.records"),
        clickhouse.count("FROM glance.records FINAL")
    );
    assert!(clickhouse.count("FROM glance.records WHERE kind = 'heartbeat'") >= 1);
    drop(service);
}
