//! Rules sent to screens. An editor publishes a rules document to one screen (`screen:<id>`),
//! the screens with a tag (`tag:<tag>`) or the whole fleet (`fleet`); the service checks it as
//! a kiosk would (`glance::rules::parse_rules`) and keeps every version in ClickHouse. A screen
//! asks for its rules with its own token and gets the newest document meant for it: its own,
//! else the newest of its tags', else the fleet's, with an ETag, so an unchanged document costs a
//! 304. The current documents are cached for a few seconds, so 100,000 polling screens cost
//! ClickHouse one small query per instance every few seconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::{ApiError, AppState};
use crate::clickhouse::StoreError;
use crate::config::ScreenConfig;

/// How long the current documents are served from memory before ClickHouse is asked again.
pub const CACHE_FOR: Duration = Duration::from_secs(5);

/// Whom a rules document is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesTarget {
    Screen(String),
    Tag(String),
    Fleet,
}

impl RulesTarget {
    /// `screen:<id>`, `tag:<tag>` or `fleet`, naming a configured screen or tag.
    pub fn parse(text: &str, screens: &[ScreenConfig]) -> Result<Self, String> {
        let target = match text.split_once(':') {
            None if text == "fleet" => RulesTarget::Fleet,
            Some(("screen", id)) if screens.iter().any(|s| s.id == id) => {
                RulesTarget::Screen(id.to_string())
            }
            Some(("tag", tag)) if screens.iter().any(|s| s.tags.iter().any(|t| t == tag)) => {
                RulesTarget::Tag(tag.to_string())
            }
            Some(("screen", id)) => return Err(format!("no screen \"{id}\" is configured")),
            Some(("tag", tag)) => {
                return Err(format!("no configured screen has the tag \"{tag}\""));
            }
            _ => {
                return Err(format!(
                    "target \"{text}\": screen:<id>, tag:<tag> or fleet"
                ));
            }
        };
        Ok(target)
    }

    /// Its key in the store.
    pub fn key(&self) -> String {
        match self {
            RulesTarget::Screen(id) => format!("screen:{id}"),
            RulesTarget::Tag(tag) => format!("tag:{tag}"),
            RulesTarget::Fleet => "fleet".to_string(),
        }
    }
}

/// A target's newest document as stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub target: String,
    pub etag: String,
    pub document: String,
    #[serde(deserialize_with = "crate::read::integer_text")]
    pub published_ms: i64,
}

/// The query for every target's newest document (the tests run it on chdb-core too).
pub fn current_query(database: &str) -> String {
    format!(
        "SELECT target, argMax(etag, published_ms) AS etag, \
         argMax(document, published_ms) AS document, toString(max(published_ms)) AS publishedMs \
         FROM {database}.rules_published GROUP BY target ORDER BY target"
    )
}

/// The document `screen` plays by among the current ones: its own, else the newest of its
/// tags', else the fleet's.
pub fn rules_for<'a>(
    screen: &ScreenConfig,
    current: &'a BTreeMap<String, Published>,
) -> Option<&'a Published> {
    let own = current.get(&RulesTarget::Screen(screen.id.clone()).key());
    let tagged = screen
        .tags
        .iter()
        .filter_map(|tag| current.get(&RulesTarget::Tag(tag.clone()).key()))
        .max_by_key(|p| (p.published_ms, p.target.clone()));
    own.or(tagged)
        .or_else(|| current.get(&RulesTarget::Fleet.key()))
}

/// Every target's newest document, by target.
type Current = Arc<BTreeMap<String, Published>>;

/// The current documents, from memory when read less than [`CACHE_FOR`] ago.
#[derive(Default)]
pub struct RulesCache {
    read: tokio::sync::Mutex<Option<(Instant, Current)>>,
}

impl RulesCache {
    async fn current(&self, state: &AppState) -> Result<Current, StoreError> {
        let mut read = self.read.lock().await;
        if let Some((at, current)) = read.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(current.clone());
        }
        let rows: Vec<Published> = state
            .reader
            .select(&current_query(state.reader.database()))
            .await?;
        let current = Arc::new(
            rows.into_iter()
                .map(|p| (p.target.clone(), p))
                .collect::<BTreeMap<_, _>>(),
        );
        *read = Some((Instant::now(), current.clone()));
        Ok(current)
    }

    async fn forget(&self) {
        *self.read.lock().await = None;
    }
}

/// The query string of `PUT /v1/fleet/rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishQuery {
    pub target: String,
}

/// What a publication reached.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Publication {
    target: String,
    etag: String,
    /// The screens that play by this document now (a screen with rules of its own, or of a tag
    /// published later, keeps those).
    screens: Vec<String>,
}

fn etag_of(document: &str) -> String {
    let digest = Sha256::digest(document.as_bytes());
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// `PUT /v1/fleet/rules?target=...` with an editor's token: checks the document as a kiosk
/// would and publishes it.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<PublishQuery>, axum::extract::rejection::QueryRejection>,
    body: String,
) -> Result<Response, ApiError> {
    let editor = check_editor(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let target = RulesTarget::parse(&query.target, &state.screens).map_err(ApiError::BadQuery)?;
    glance::rules::parse_rules(&body).map_err(|e| ApiError::InvalidRules(e.issues()))?;
    let etag = etag_of(&body);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let row = json!({
        "target": target.key(),
        "published": now_ms.div_euclid(1000),
        "published_ms": now_ms,
        "etag": etag,
        "document": body,
        "publisher": editor,
    });
    state
        .store
        .insert_rows("rules_published", &[row])
        .await
        .map_err(ApiError::StoreUnavailable)?;
    state.rules.forget().await;
    let current = state
        .rules
        .current(&state)
        .await
        .map_err(ApiError::StoreUnavailable)?;
    let screens = state
        .screens
        .iter()
        .filter(|s| rules_for(s, &current).is_some_and(|p| p.target == target.key()))
        .map(|s| s.id.clone())
        .collect();
    Ok(axum::Json(Publication {
        target: target.key(),
        etag,
        screens,
    })
    .into_response())
}

/// `GET /v1/rules` with a screen's token: the newest document meant for it, or 304 when its
/// `If-None-Match` names it, or 404 when none is.
pub async fn for_screen(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let hash = crate::app::token_hash(&headers).ok_or(ApiError::BadToken)?;
    let screen_id = state.tokens.get(&hash).ok_or(ApiError::BadToken)?;
    let screen = state
        .screens
        .iter()
        .find(|s| &s.id == screen_id)
        .ok_or(ApiError::BadToken)?;
    let current = state
        .rules
        .current(&state)
        .await
        .map_err(ApiError::StoreUnavailable)?;
    let published = rules_for(screen, &current).ok_or(ApiError::NoRules)?;
    let etag = HeaderValue::from_str(&published.etag)
        .map_err(|e| ApiError::ReportFailed(format!("a stored ETag: {e}")))?;
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == published.etag));
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (header::ETAG, etag),
            cache,
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        published.document.clone(),
    )
        .into_response())
}

/// The editor behind a request's token (its name, for the history).
fn check_editor(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let hash = crate::app::token_hash(headers).ok_or(ApiError::BadToken)?;
    if let Some(name) = state.editors.get(&hash) {
        Ok(name.clone())
    } else if state.tokens.contains_key(&hash) || state.readers.contains(&hash) {
        Err(ApiError::NotAnEditor)
    } else {
        Err(ApiError::BadToken)
    }
}
