//! The HTTP side: `POST /v1/records` takes a batch, `GET /v1/fleet/report` and
//! `GET /v1/fleet/screens` give readers a fleet's report and its screens (`read.rs`),
//! `GET /healthz` says whether ClickHouse answers. Every error is a
//! JSON body `{"error": {"code", "message", "line"?, "field"?}}`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use glance::fleet::{Record, RecordError, parse_batch};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::clickhouse::{ClickHouse, StoreError};
use crate::config::{Config, ScreenConfig, hash_token};

/// What the handlers share.
pub struct AppState {
    /// Token hash to screen id.
    pub(crate) tokens: HashMap<String, String>,
    /// Token hashes of the readers (dashboards, export jobs).
    pub(crate) readers: HashSet<String>,
    /// Token hash to the name of an editor (who publishes rules).
    pub(crate) editors: HashMap<String, String>,
    /// The rules documents published now.
    pub(crate) rules: crate::rules::RulesCache,
    /// The configured screens, for choosing them by id, venue or tag.
    pub(crate) screens: Vec<ScreenConfig>,
    /// OpenRTB's `imp.qty.vendor` for the exports.
    pub(crate) exports_vendor: Option<String>,
    pub(crate) store: ClickHouse,
    /// The same server as its readonly reader: every read goes through it.
    pub(crate) reader: ClickHouse,
    /// One batch at a time per screen, so a resend racing its original cannot store an id
    /// twice (the check for stored ids and the insert are one step).
    screen_locks: HashMap<String, Arc<Mutex<()>>>,
}

/// A refused request, as the client sees it.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no token, or one no screen (or, on the read path, no reader) has.
    BadToken,
    /// 403: a screen's token on the read path.
    NotAReader,
    /// 403: a screen's or a reader's token where rules are published.
    NotAnEditor,
    /// 400: a rules document a kiosk would refuse, with every issue.
    InvalidRules(Vec<glance::rules::ValidationIssue>),
    /// 404: no rules are published for the screen (it keeps its own).
    NoRules,
    /// 400: a read's query string is not one the service answers.
    BadQuery(String),
    /// 500: the store's data could not be made into a report.
    ReportFailed(String),
    /// 403: a record of another screen than the token's.
    WrongScreen { line: usize, screen_id: String },
    /// 400: a line that is not a valid record.
    InvalidRecord(RecordError),
    /// 413: the body is over the limit.
    TooLarge,
    /// 503: ClickHouse is down or refused; the client keeps the batch and retries.
    StoreUnavailable(StoreError),
}

/// An error as the client reads it: the status, a code, a message, and where one applies the
/// batch line and record field at fault or a rules document's problems.
struct ErrorBody {
    status: StatusCode,
    code: &'static str,
    message: String,
    line: Option<usize>,
    field: Option<String>,
    issues: Option<serde_json::Value>,
}

impl ErrorBody {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ErrorBody {
            status,
            code,
            message: message.into(),
            line: None,
            field: None,
            issues: None,
        }
    }
}

impl ApiError {
    fn body(self) -> ErrorBody {
        match self {
            ApiError::InvalidRules(issues) => ErrorBody {
                issues: Some(json!(issues)),
                ..ErrorBody::new(
                    StatusCode::BAD_REQUEST,
                    "invalidRules",
                    format!(
                        "the rules document has {} problem(s); a kiosk would refuse it",
                        issues.len()
                    ),
                )
            },
            ApiError::NotAnEditor => ErrorBody::new(
                StatusCode::FORBIDDEN,
                "notAnEditor",
                "only an editor's token publishes rules",
            ),
            ApiError::NoRules => ErrorBody::new(
                StatusCode::NOT_FOUND,
                "noRules",
                "no rules are published for this screen: it plays by its own",
            ),
            ApiError::BadToken => ErrorBody::new(
                StatusCode::UNAUTHORIZED,
                "badToken",
                "send the screen's token as 'Authorization: Bearer <token>'",
            ),
            ApiError::NotAReader => ErrorBody::new(
                StatusCode::FORBIDDEN,
                "notAReader",
                "a screen's token can send records, not read reports: use a reader's token",
            ),
            ApiError::BadQuery(message) => {
                ErrorBody::new(StatusCode::BAD_REQUEST, "badQuery", message)
            }
            ApiError::ReportFailed(message) => {
                eprintln!("glance-ingest: a report failed: {message}");
                ErrorBody::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "reportFailed",
                    format!("the report could not be made: {message}"),
                )
            }
            ApiError::WrongScreen { line, screen_id } => ErrorBody {
                line: Some(line),
                field: Some("screenId".to_string()),
                ..ErrorBody::new(
                    StatusCode::FORBIDDEN,
                    "wrongScreen",
                    format!("line {line} is a record of screen \"{screen_id}\", not the token's"),
                )
            },
            ApiError::InvalidRecord(e) => ErrorBody {
                line: Some(e.line),
                field: Some(e.field.clone()),
                ..ErrorBody::new(StatusCode::BAD_REQUEST, "invalidRecord", e.to_string())
            },
            ApiError::TooLarge => ErrorBody::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "tooLarge",
                "the batch is over the size limit: send fewer records at a time",
            ),
            ApiError::StoreUnavailable(e) => {
                eprintln!("glance-ingest: {e}");
                ErrorBody::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storeUnavailable",
                    "the store cannot be reached now: try again later (a screen keeps its batch and sends it again)",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut error = json!({ "code": body.code, "message": body.message });
        if let Some(issues) = body.issues {
            error["issues"] = issues;
        }
        if let Some(line) = body.line {
            error["line"] = json!(line);
        }
        if let Some(field) = body.field {
            error["field"] = json!(field);
        }
        let mut response = (body.status, axum::Json(json!({ "error": error }))).into_response();
        if body.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        response
    }
}

/// The acknowledgement: every id of the batch is stored now (`stored` by this request,
/// `duplicates` already before).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    pub screen_id: String,
    pub stored: Vec<String>,
    pub duplicates: Vec<String>,
}

pub fn router(config: &Config) -> Router {
    let state = Arc::new(AppState {
        tokens: config.tokens(),
        readers: config.reader_tokens(),
        editors: config.editor_tokens(),
        rules: crate::rules::RulesCache::default(),
        screens: config.screens.clone(),
        exports_vendor: config.exports.vendor.clone(),
        store: ClickHouse::new(config.clickhouse.clone()),
        reader: ClickHouse::new(config.clickhouse.as_reader()),
        screen_locks: config
            .screens
            .iter()
            .map(|s| (s.id.clone(), Arc::new(Mutex::new(()))))
            .collect(),
    });
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::GET, Method::PUT])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::ETAG]);
    Router::new()
        .route("/v1/records", post(take_batch))
        .route("/v1/fleet/report", get(crate::read::report))
        .route("/v1/fleet/screens", get(crate::read::screens))
        .route("/v1/fleet/export", get(crate::read::export))
        .route("/v1/fleet/rules", put(crate::rules::publish))
        .route("/v1/rules", get(crate::rules::for_screen))
        .route("/healthz", get(health))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors)
        .with_state(state)
}

/// The hash of the request's bearer token, if it has one.
pub(crate) fn token_hash(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(hash_token)
}

fn screen_of(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let hash = token_hash(headers).ok_or(ApiError::BadToken)?;
    state.tokens.get(&hash).cloned().ok_or(ApiError::BadToken)
}

async fn take_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Ack>, ApiError> {
    let screen_id = screen_of(&state, &headers)?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => ApiError::InvalidRecord(RecordError {
            line: 0,
            field: String::new(),
            message: e.body_text(),
        }),
    })?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        ApiError::InvalidRecord(RecordError {
            line: 0,
            field: String::new(),
            message: format!("the body is not UTF-8: {e}"),
        })
    })?;
    let records = parse_batch(text, None).map_err(ApiError::InvalidRecord)?;
    if let Some((i, other)) = records
        .iter()
        .enumerate()
        .find(|(_, r)| r.screen_id() != screen_id)
    {
        return Err(ApiError::WrongScreen {
            line: line_of(text, i),
            screen_id: other.screen_id().to_string(),
        });
    }
    let _one_at_a_time = state.screen_locks[&screen_id].lock().await;
    let ids: Vec<&str> = records.iter().map(Record::id).collect();
    let held = state
        .store
        .stored_ids(&screen_id, &ids)
        .await
        .map_err(ApiError::StoreUnavailable)?;
    // Ids stored before, then each of this batch's the first time it comes.
    let mut seen: HashSet<&str> = held.iter().map(String::as_str).collect();
    let new: Vec<&Record> = records.iter().filter(|r| seen.insert(r.id())).collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    state
        .store
        .insert(&new, now_ms)
        .await
        .map_err(ApiError::StoreUnavailable)?;
    let stored_now: HashSet<&str> = new.iter().map(|r| r.id()).collect();
    let duplicates = ids
        .iter()
        .filter(|id| !stored_now.contains(*id))
        .map(|id| id.to_string())
        .collect();
    let stored = new.iter().map(|r| r.id().to_string()).collect();
    Ok(axum::Json(Ack {
        screen_id,
        stored,
        duplicates,
    }))
}

/// The 1-based line of the `index`-th record (blank lines are skipped by the reader).
fn line_of(text: &str, index: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .nth(index)
        .map_or(0, |(i, _)| i + 1)
}

async fn health(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(ApiError::StoreUnavailable)?;
    Ok("ok\n")
}
