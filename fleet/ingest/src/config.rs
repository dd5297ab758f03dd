//! The service's one configuration file (TOML). See docs/fleet.md for a commented example.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use glance::audience::BroadsignIds;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on, e.g. `0.0.0.0:8443`.
    pub listen: SocketAddr,
    /// HTTPS with this certificate and key; absent: plain HTTP (behind a TLS proxy only).
    pub tls: Option<TlsConfig>,
    /// Largest request body, bytes (default 4 MiB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Origins of kiosk pages allowed to send from a browser (CORS), e.g.
    /// `https://kiosk.example.com`; empty: none.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    pub clickhouse: ClickHouseConfig,
    /// Every screen allowed to send, with the SHA-256 of its token.
    #[serde(default)]
    pub screens: Vec<ScreenConfig>,
    /// Dashboards and exports allowed to read the fleet's reports, with the SHA-256 of their
    /// tokens. A reader's token cannot send records, and a screen's cannot read.
    #[serde(default)]
    pub readers: Vec<NamedToken>,
    /// Who publishes rules to screens (the rules editor), with the SHA-256 of their tokens. An
    /// editor's token neither sends records nor reads reports.
    #[serde(default)]
    pub editors: Vec<NamedToken>,
    #[serde(default)]
    pub exports: ExportsConfig,
}

/// What the exports say about who measured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportsConfig {
    /// The measurement vendor's domain, OpenRTB's `imp.qty.vendor` (e.g. "audience.example.com").
    pub vendor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// The HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default)]
    pub password: String,
    /// Longest wait for one query, ms (default 10 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The user every read runs as: a `readonly` one restricted to the Glance database
    /// (`glance_reader` in fleet/clickhouse/server/users.xml), so no read can change anything.
    #[serde(default = "default_reader_user")]
    pub reader_user: String,
    #[serde(default)]
    pub reader_password: String,
}

impl ClickHouseConfig {
    /// The same server, logged in as the reader.
    pub fn as_reader(&self) -> ClickHouseConfig {
        ClickHouseConfig {
            user: self.reader_user.clone(),
            password: self.reader_password.clone(),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenConfig {
    pub id: String,
    /// Lower-case hex SHA-256 of the screen's token (`glance-ingest hash-token`): the token
    /// itself is never stored.
    pub token_sha256: String,
    /// Where the screen is, for choosing screens on a dashboard (e.g. "Mall West, food court").
    #[serde(default)]
    pub venue: String,
    /// Labels for choosing groups of screens (e.g. "north", "entrance").
    #[serde(default)]
    pub tags: Vec<String>,
    /// The screen's Broadsign Control ids, for the `broadsign-pop` export.
    #[serde(default)]
    pub broadsign: Option<BroadsignIds>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedToken {
    /// Who holds it (a dashboard, a buyer's export job, a marketing team), for the operator and
    /// the rules' history.
    pub name: String,
    pub token_sha256: String,
}

fn default_max_body_bytes() -> usize {
    4 << 20
}
fn default_database() -> String {
    "glance".into()
}
fn default_user() -> String {
    "default".into()
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_reader_user() -> String {
    "glance_reader".into()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and checks a configuration: screen ids, token hashes, the database name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let db = &config.clickhouse.database;
        if db.is_empty() || !db.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "clickhouse.database {db:?}: letters, digits and '_' only"
            ));
        }
        let mut seen = HashMap::new();
        let hashes = config
            .screens
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("screens[{i}]"), &s.token_sha256))
            .chain(
                config
                    .readers
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("readers[{i}]"), &r.token_sha256)),
            );
        for (at, hash) in hashes {
            let hash_ok =
                hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !hash_ok {
                return Err(format!(
                    "{at}.token_sha256: 64 lower-case hex digits (glance-ingest hash-token TOKEN)"
                ));
            }
            if let Some(other) = seen.insert(hash.clone(), at.clone()) {
                return Err(format!("{at} and {other} share one token"));
            }
        }
        for (i, s) in config.screens.iter().enumerate() {
            glance::fleet::records::check_screen_id(&s.id)
                .map_err(|m| format!("screens[{i}].id {:?}: {m}", s.id))?;
        }
        Ok(config)
    }

    /// Token hashes of the readers.
    pub fn reader_tokens(&self) -> std::collections::HashSet<String> {
        self.readers
            .iter()
            .map(|r| r.token_sha256.clone())
            .collect()
    }

    /// Token hash to editor name.
    pub fn editor_tokens(&self) -> HashMap<String, String> {
        self.editors
            .iter()
            .map(|e| (e.token_sha256.clone(), e.name.clone()))
            .collect()
    }

    /// Token hash to screen id.
    pub fn tokens(&self) -> HashMap<String, String> {
        self.screens
            .iter()
            .map(|s| (s.token_sha256.clone(), s.id.clone()))
            .collect()
    }
}

/// Lower-case hex SHA-256 of a token, as the configuration stores it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes from the OS, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}
