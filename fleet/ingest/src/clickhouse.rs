//! ClickHouse over HTTP: the queries the service builds itself (every value it interpolates is
//! escaped here), and records as rows of `glance.records`.

use std::time::Duration;

use glance::fleet::Record;
use serde_json::{Value, json};

use crate::config::ClickHouseConfig;

/// Why a query failed: the server could not be reached or said no.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("ClickHouse cannot be reached: {0}")]
    Unreachable(String),
    #[error("ClickHouse answered {status}: {message}")]
    Refused { status: u16, message: String },
}

#[derive(Clone)]
pub struct ClickHouse {
    http: reqwest::Client,
    config: ClickHouseConfig,
}

/// A string literal for ClickHouse SQL: quoted, with `\` and `'` escaped (control characters
/// cannot reach here: record ids refuse them).
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Values as a list of string literals, for `IN (...)`.
pub fn quote_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| quote(v))
        .collect::<Vec<_>>()
        .join(",")
}

impl ClickHouse {
    pub fn new(config: ClickHouseConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .expect("an HTTP client with a timeout builds");
        ClickHouse { http, config }
    }

    /// The database the queries name.
    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// Runs one statement: in the URL with `rows` as the body (an INSERT), or as the body.
    async fn run(&self, query: &str, rows: String) -> Result<String, StoreError> {
        let (in_url, body) = if rows.is_empty() {
            (None, query.to_string())
        } else {
            (Some(query), rows)
        };
        let mut params = vec![("database", self.config.database.as_str())];
        params.extend(in_url.map(|q| ("query", q)));
        // No settings in the URL: a readonly user may not change any. (18.16 quotes 64-bit
        // integers in JSON and current servers do not, so reads select 32-bit numbers.)
        let response = self
            .http
            .post(&self.config.url)
            .query(&params)
            .header("X-ClickHouse-User", &self.config.user)
            .header("X-ClickHouse-Key", &self.config.password)
            .body(body)
            .send()
            .await
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(StoreError::Refused {
                status: status.as_u16(),
                message: text.trim().chars().take(500).collect(),
            })
        }
    }

    /// The ids among `ids` (all of one screen) that are stored already.
    pub async fn stored_ids(
        &self,
        screen_id: &str,
        ids: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!(
            "SELECT DISTINCT id FROM records WHERE screen_id = {} AND id IN ({}) FORMAT JSONEachRow",
            quote(screen_id),
            quote_list(ids)
        );
        let text = self.run(&query, String::new()).await?;
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    /// Stores rows in one INSERT: all of them or none.
    pub async fn insert(&self, records: &[&Record], received_ms: i64) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut body = String::new();
        for record in records {
            body.push_str(&row(record, received_ms).to_string());
            body.push('\n');
        }
        self.run("INSERT INTO records FORMAT JSONEachRow", body)
            .await
            .map(|_| ())
    }

    /// Stores rows (JSON objects of `table`'s columns) in one INSERT.
    pub async fn insert_rows(&self, table: &str, rows: &[Value]) -> Result<(), StoreError> {
        let body: String = rows.iter().map(|r| r.to_string() + "\n").collect();
        self.run(&format!("INSERT INTO {table} FORMAT JSONEachRow"), body)
            .await
            .map(|_| ())
    }

    /// Runs a SELECT the service built (it ends without a FORMAT clause) and reads its rows.
    pub async fn select<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
    ) -> Result<Vec<T>, StoreError> {
        let text = self
            .run(&format!("{query} FORMAT JSONEachRow"), String::new())
            .await?;
        text.lines()
            .map(|line| {
                serde_json::from_str(line).map_err(|e| StoreError::Refused {
                    status: 200,
                    message: format!("an unexpected row ({e}): {line}"),
                })
            })
            .collect()
    }

    /// Whether the server answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run("SELECT 1", String::new()).await.map(|_| ())
    }
}

/// The `glance.records` row of a record (columns a kind does not use keep their defaults).
pub fn row(record: &Record, received_ms: i64) -> Value {
    let seconds = |ms: i64| ms.div_euclid(1000);
    let mut row = json!({
        "id": record.id(),
        "screen_id": record.screen_id(),
        "schema_version": glance::fleet::RECORD_SCHEMA_VERSION,
        "received": seconds(received_ms),
    });
    let fields = match record {
        Record::AudienceMinute(m) => {
            let mut f = json!({
                "kind": "audienceMinute",
                "time": seconds(m.start_ms),
                "time_ms": m.start_ms,
                "utc_offset_minutes": m.utc_offset_minutes,
                "impressions": m.impressions,
                "watchers": m.watchers,
                "dwell_ms": m.dwell_ms,
                "attention_ms": m.attention_ms,
                "attention_from_eyes_ms": m.attention_from_eyes_ms,
                "attention_from_head_pose_ms": m.attention_from_head_pose_ms,
                "dwell_hist": m.dwell_hist,
                "attention_hist": m.attention_hist,
                "distance_sum_m": m.distance_sum_m,
                "distance_count": m.distance_count,
                "distance_hist": m.distance_hist,
                "group_size_sum": m.group_size_sum,
                "group_size_hist": m.group_size_hist,
            });
            add_cells(&mut f, &m.cells);
            f
        }
        Record::Play(p) => {
            let mut f = json!({
                "kind": "play",
                "time": seconds(p.start_ms),
                "time_ms": p.start_ms,
                "utc_offset_minutes": p.utc_offset_minutes,
                "play_id": p.play_id,
                "ad_id": p.ad_id,
                "end_ms": p.end_ms,
                "completed": p.completed as u8,
                "impressions": p.impressions,
                "watchers": p.watchers,
                "attention_ms": p.attention_ms,
            });
            add_cells(&mut f, &p.cells);
            f
        }
        Record::Heartbeat(h) => json!({
            "kind": "heartbeat",
            "time": seconds(h.at_ms),
            "time_ms": h.at_ms,
            "camera": h.health.camera,
            "analysed_fps": h.health.analysed_fps,
            "backend": h.health.backend,
            "outbox_depth": h.health.outbox_depth,
            "outbox_dropped": h.health.outbox_dropped,
            "last_ack_ms": h.health.last_ack_ms.unwrap_or(0),
            "engine_version": h.version,
            "rules_source": h.health.rules.as_ref().map_or(json!(""), |r| json!(r.source)),
            "rules_etag": h.health.rules.as_ref().and_then(|r| r.etag.as_deref()).unwrap_or(""),
            "rules_problem": h.health.rules.as_ref().and_then(|r| r.problem.as_deref()).unwrap_or(""),
        }),
    };
    let (Value::Object(row_map), Value::Object(fields)) = (&mut row, fields) else {
        unreachable!("both are objects")
    };
    row_map.extend(fields);
    row
}

/// A Nested column goes in as one array per sub-column.
fn add_cells(fields: &mut Value, cells: &[glance::fleet::AudienceCell]) {
    let column = |f: &dyn Fn(&glance::fleet::AudienceCell) -> Value| -> Value {
        Value::Array(cells.iter().map(f).collect())
    };
    let map = fields.as_object_mut().expect("an object");
    map.insert("cells.age_band".into(), column(&|c| json!(c.age_band)));
    map.insert("cells.gender".into(), column(&|c| json!(c.gender)));
    map.insert("cells.present".into(), column(&|c| json!(c.present)));
    map.insert("cells.watchers".into(), column(&|c| json!(c.watchers)));
    map.insert("cells.dwell_ms".into(), column(&|c| json!(c.dwell_ms)));
    map.insert(
        "cells.attention_ms".into(),
        column(&|c| json!(c.attention_ms)),
    );
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting_escapes_what_would_end_the_literal() {
        assert_eq!(quote("a'b"), "'a\\'b'");
        assert_eq!(
            quote("a\\'); DROP TABLE x; --"),
            "'a\\\\\\'); DROP TABLE x; --'"
        );
    }
}
