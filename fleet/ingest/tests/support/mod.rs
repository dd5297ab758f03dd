//! A real ClickHouse server (Debian's clickhouse-server, started by fleet/clickhouse/start) and
//! the ingest service in front of it, for the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
         [clickhouse]\nurl = \"{clickhouse_url}\"\nuser = \"glance_ingest\"\npassword = \"ingest-dev-password\"\ntimeout_ms = 3000\n"
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
