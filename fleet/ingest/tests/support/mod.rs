//! A real ClickHouse server (Debian's clickhouse-server, started by fleet/clickhouse/start) and
//! the ingest service in front of it, for the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use glance::fleet::{
    AudienceCell, AudienceMinute, CellGender, ProofOfPlay, RECORD_SCHEMA_VERSION, Record,
};
use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A throwaway directory under the target directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "glance-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// clickhouse-server on a free loopback port with the schema applied; stopped on drop.
pub struct ClickHouseServer {
    pub dir: TempDir,
    pub port: u16,
}

impl ClickHouseServer {
    pub fn start() -> Self {
        let dir = TempDir::new("clickhouse");
        let port = start_in(&dir.0, None);
        ClickHouseServer { dir, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn stop(&self) {
        let pid = std::fs::read_to_string(self.dir.0.join("pid")).unwrap();
        let pid = pid.trim();
        let _ = Command::new("kill").arg(pid).status();
        // Wait until it has let go of its port and data.
        for _ in 0..1200 {
            let alive = Command::new("kill")
                .args(["-0", pid])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("clickhouse-server {pid} did not stop within 60 s");
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        start_in(&self.dir.0, Some(self.port));
    }

    /// Runs a query as the default user; its JSONEachRow rows.
    pub fn query(&self, sql: &str) -> Vec<Value> {
        let client = reqwest::blocking::Client::new();
        let response = client
            .post(self.url())
            .query(&[("output_format_json_quote_64bit_integers", "0")])
            .body(format!("{sql} FORMAT JSONEachRow"))
            .send()
            .expect("ClickHouse answers");
        let status = response.status();
        let text = response.text().unwrap();
        assert!(status.is_success(), "{sql}: {text}");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON row"))
            .collect()
    }

    pub fn count(&self, sql_from_where: &str) -> u64 {
        self.query(&format!("SELECT count() AS n {sql_from_where}"))[0]["n"]
            .as_u64()
            .unwrap()
    }
}

fn start_in(dir: &Path, port: Option<u16>) -> u16 {
    let mut command = Command::new(repo().join("fleet/clickhouse/start"));
    command.arg(dir);
    if let Some(port) = port {
        command.env("HTTP_PORT", port.to_string());
    }
    let out = command
        .output()
        .expect("fleet/clickhouse/start runs (clickhouse-server installed by scripts/dev test)");
    assert!(
        out.status.success(),
        "ClickHouse did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The ingest service's configuration for a test: one or two screens, plain HTTP.
pub fn config_toml(clickhouse_url: &str, screens: &[(&str, &str)], extra: &str) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\nmax_body_bytes = 65536\ncors_origins = [\"http://kiosk.test\"]\n{extra}\n\
         [clickhouse]\nurl = \"{clickhouse_url}\"\nuser = \"glance_ingest\"\npassword = \"ingest-dev-password\"\n\
         reader_password = \"reader-dev-password\"\ntimeout_ms = 3000\n"
    );
    for (id, token) in screens {
        text.push_str(&format!(
            "\n[[screens]]\nid = \"{id}\"\ntoken_sha256 = \"{}\"\n",
            glance_ingest::hash_token(token)
        ));
    }
    text
}

/// The service in this process on a free port; stopped on drop.
pub struct Service {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    pub fn start(config_text: &str) -> Self {
        let config = glance_ingest::Config::parse(config_text).expect("a valid configuration");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/records", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime
                .block_on(glance_ingest::serve(config, listener, async {
                    let _ = stopped.await;
                }))
                .unwrap();
        });
        Service {
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// POSTs a batch; the status and the JSON body.
pub fn post(url: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .post(url)
        .header("Content-Type", "application/x-ndjson")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().expect("the service answers");
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A child process killed on drop, so a failing test leaves none behind.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// 2026-12-01 10:00 UTC.
pub const T0: i64 = 1_796_119_200_000;

/// A cell whose times are exact in binary (sums do not depend on their order).
pub fn cell(band: &str, gender: CellGender, present: u32, watchers: u32) -> AudienceCell {
    AudienceCell {
        age_band: band.into(),
        gender,
        present,
        watchers,
        dwell_ms: present as f64 * 4000.5,
        attention_ms: watchers as f64 * 1500.25,
    }
}

pub fn minute(screen: &str, start_ms: i64, cells: Vec<AudienceCell>) -> Record {
    let people: u32 = cells.iter().map(|c| c.present).sum();
    let watchers: u32 = cells.iter().map(|c| c.watchers).sum();
    Record::AudienceMinute(AudienceMinute {
        schema_version: RECORD_SCHEMA_VERSION,
        id: AudienceMinute::record_id(screen, start_ms),
        screen_id: screen.into(),
        start_ms,
        utc_offset_minutes: 60,
        impressions: people,
        watchers,
        dwell_ms: cells.iter().map(|c| c.dwell_ms).sum(),
        attention_ms: cells.iter().map(|c| c.attention_ms).sum(),
        attention_from_eyes_ms: 0.0,
        attention_from_head_pose_ms: cells.iter().map(|c| c.attention_ms).sum(),
        dwell_hist: [people, 0, 0, 0, 0],
        attention_hist: [watchers, 0, 0, 0, 0],
        distance_sum_m: people as f64 * 1.5,
        distance_count: people,
        distance_hist: [0, people, 0, 0, 0],
        group_size_sum: people as u64,
        group_size_hist: [people, 0, 0, 0],
        cells,
    })
}

pub fn play(
    screen: &str,
    play_id: &str,
    ad_id: &str,
    start_ms: i64,
    cells: Vec<AudienceCell>,
) -> Record {
    Record::Play(ProofOfPlay {
        schema_version: RECORD_SCHEMA_VERSION,
        id: ProofOfPlay::record_id(screen, play_id),
        screen_id: screen.into(),
        play_id: play_id.into(),
        ad_id: ad_id.into(),
        start_ms,
        end_ms: start_ms + 15_000,
        utc_offset_minutes: 60,
        completed: true,
        impressions: cells.iter().map(|c| c.present).sum(),
        watchers: cells.iter().map(|c| c.watchers).sum(),
        attention_ms: cells.iter().map(|c| c.attention_ms).sum(),
        cells,
    })
}

/// Records as an NDJSON batch.
pub fn batch(records: &[Record]) -> String {
    records.iter().map(|r| r.to_line() + "\n").collect()
}

/// `queries` (a file of `-- name:` queries) over `records` on the current engine (chdb-core):
/// query name to rows.
pub fn run_on_chdb(records: &[Record], queries: &Path) -> Value {
    let dir = TempDir::new("chdb");
    let rows: String = records
        .iter()
        .map(|r| glance_ingest::clickhouse::row(r, T0).to_string() + "\n")
        .collect();
    let rows_path = dir.0.join("rows.ndjson");
    std::fs::write(&rows_path, rows).unwrap();
    let clickhouse_dir = repo().join("fleet/clickhouse");
    let out = std::process::Command::new("python3")
        .arg(clickhouse_dir.join("chdb_run.py"))
        .arg(clickhouse_dir.join("schema.sql"))
        .arg(queries)
        .arg(&rows_path)
        .current_dir(&clickhouse_dir)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "chdb (pip install chdb-core, done by scripts/dev test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Numbers as f64 (18.16 and 26.x type some sums differently), everything else as it is.
pub fn normalise(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::String(s) => match s.parse::<f64>() {
            Ok(f) if !s.contains('-') && !s.contains(':') => serde_json::json!(f),
            _ => value.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        other => other.clone(),
    }
}
