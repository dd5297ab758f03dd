//! Parsing and validation: JSON text → [`RulesDocument`] → [`RuleSet`] (the compiled, checked
//! form the engine runs). Structural problems (unknown field, wrong type) come from serde and stop
//! at the first one; semantic problems are all collected so a marketer can fix them in one go.
//!
//! Files: this one (the compiled types and parsing), `compile` (a document's parts compiled in
//! order), `checker` (the checks of numbers, references, dayparts and conditions), `overlap`
//! (rules that could tie).

mod checker;
mod compile;
mod overlap;

use compile::compile;

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::clock::{TimeWindow, describe_days};
use super::document::{AdKind, Among, Caps, Operator, RULES_VERSION, RulesDocument};
use super::error::{RulesError, ValidationIssue};
use crate::analysis::Gender;

/// Default minimum time on screen before an interruption, when neither the document, the ad nor
/// the rule says otherwise.
pub const DEFAULT_MIN_ON_SCREEN_S: f64 = 5.0;

/// A validated, compiled rules document, ready for [`super::Scheduler`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) document: RulesDocument,
    pub(crate) time_zone: Tz,
    pub(crate) ads: Vec<CompiledAd>,
    pub(crate) ad_index: HashMap<String, usize>,
    pub(crate) default_loop: Vec<usize>,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) min_on_screen_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledAd {
    pub id: String,
    pub media: String,
    pub kind: AdKind,
    pub duration_ms: i64,
    pub caps: Caps,
    pub min_on_screen_ms: Option<i64>,
    pub share_of_voice: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub id: String,
    /// "$.rules[3]", prefix of every path in this rule's traces.
    pub path: String,
    pub enabled: bool,
    pub priority: i32,
    pub when: Option<Cond>,
    pub choices: Vec<Choice>,
    pub pick_kind: PickKind,
    pub caps: Caps,
    pub cooldown_ms: i64,
    pub can_interrupt: bool,
    pub min_on_screen_ms: Option<i64>,
    pub share_of_voice: Option<f64>,
    /// `None`: the document's zone.
    pub time_zone: Option<Tz>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PickKind {
    Single,
    Weighted,
    Tagged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    pub ad: usize,
    pub weight: u32,
}

/// A compiled condition; `path` is its JSON path, for traces.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub path: String,
    pub kind: CondKind,
}

#[derive(Debug, Clone)]
pub(crate) enum CondKind {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Metric(Metric, Cmp),
    Audience {
        share: bool,
        among: Among,
        age_bands: Vec<String>,
        gender: Option<Gender>,
        cmp: Cmp,
    },
    Window {
        name: Option<String>,
        window: TimeWindow,
    },
    Days(u8),
    Dates {
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    Present,
    Watchers,
    LookingNow,
    GroupSize,
    AttentionS,
    DistanceM,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Present => "present",
            Metric::Watchers => "watchers",
            Metric::LookingNow => "lookingNow",
            Metric::GroupSize => "groupSize",
            Metric::AttentionS => "attentionS",
            Metric::DistanceM => "distanceM",
        }
    }

    fn is_count(self) -> bool {
        matches!(
            self,
            Metric::Present | Metric::Watchers | Metric::LookingNow | Metric::GroupSize
        )
    }
}

/// A compiled comparison. `list` holds the values of `in`, `[min, max]` of `between`, or the
/// single value otherwise.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cmp {
    pub op: Operator,
    pub list: Vec<f64>,
}

/// Tolerance for `eq`/`neq`/`in` so that a share of 1/3 equals 0.3333333333.
const EQ_TOLERANCE: f64 = 1e-9;

impl Cmp {
    pub fn holds(&self, actual: f64) -> bool {
        let v = &self.list;
        match self.op {
            Operator::Eq => (actual - v[0]).abs() <= EQ_TOLERANCE,
            Operator::Neq => (actual - v[0]).abs() > EQ_TOLERANCE,
            Operator::Lt => actual < v[0],
            Operator::Lte => actual <= v[0],
            Operator::Gt => actual > v[0],
            Operator::Gte => actual >= v[0],
            Operator::Between => actual >= v[0] && actual <= v[1],
            Operator::In => v.iter().any(|x| (actual - x).abs() <= EQ_TOLERANCE),
        }
    }

    /// The expected side as JSON (a number or a list), for traces.
    pub(crate) fn expected_json(&self) -> serde_json::Value {
        match self.op {
            Operator::Between | Operator::In => serde_json::json!(self.list),
            _ => serde_json::json!(self.list[0]),
        }
    }
}

impl RuleSet {
    /// Parses and validates a rules document (JSON text).
    pub fn from_json(json: &str) -> Result<Self, RulesError> {
        parse_rules(json)
    }

    /// Validates an already-deserialised document.
    pub fn from_document(document: RulesDocument) -> Result<Self, RulesError> {
        if document.version != RULES_VERSION {
            return Err(unsupported_version(&document.version.to_string()));
        }
        compile(document).map_err(RulesError::Invalid)
    }

    pub fn document(&self) -> &RulesDocument {
        &self.document
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }
}

fn unsupported_version(found: &str) -> RulesError {
    RulesError::UnsupportedVersion {
        message: format!(
            "unsupported rules version {found}; this build of Glance reads version {RULES_VERSION}"
        ),
    }
}

/// Parses and validates a rules document: JSON syntax, then `version`, then shape (serde, first
/// problem with its path), then every semantic check (all problems).
pub fn parse_rules(json: &str) -> Result<RuleSet, RulesError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        let message = strip_position(&e.to_string());
        // serde_json stops at 128 levels; say so rather than "not valid JSON".
        if message.contains("recursion limit exceeded") {
            RulesError::TooDeep {
                max: 128,
                line: e.line(),
                column: e.column(),
            }
        } else {
            RulesError::Syntax {
                line: e.line(),
                column: e.column(),
                message,
            }
        }
    })?;
    let Some(root) = value.as_object() else {
        return Err(RulesError::Structure(vec![ValidationIssue::new(
            "$",
            "the rules document must be a JSON object ({\"version\": 1, ...})",
        )]));
    };
    // Checked before the shape so that a future document gets "unsupported version", not a
    // confusing complaint about a field this build has never heard of.
    match root.get("version") {
        None => {
            return Err(RulesError::UnsupportedVersion {
                message: format!(
                    "missing \"version\"; add \"version\": {RULES_VERSION} at the top of the document"
                ),
            });
        }
        Some(v) if v.as_u64() == Some(u64::from(RULES_VERSION)) => {}
        Some(v) => return Err(unsupported_version(&v.to_string())),
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let document: RulesDocument = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| RulesError::Structure(structure_issues(root, shape_issue("$", &e))))?;
    compile(document).map_err(RulesError::Invalid)
}

/// A serde error as an issue, its path under `prefix` (`$`, or `$.ads[2]` for one ad).
fn shape_issue(prefix: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> ValidationIssue {
    let path = format_serde_path(e.path());
    ValidationIssue::new(
        format!("{prefix}{}", &path[1..]),
        friendly_serde_message(&e.inner().to_string()),
    )
}

/// Serde stops at a document's first shape problem; an author fixing a file wants them all. So
/// each ad, rule and daypart is read on its own too, and its first problem joins the document's.
fn structure_issues(
    root: &serde_json::Map<String, serde_json::Value>,
    first: ValidationIssue,
) -> Vec<ValidationIssue> {
    fn each<T: serde::de::DeserializeOwned>(
        items: impl Iterator<Item = (String, serde_json::Value)>,
        issues: &mut Vec<ValidationIssue>,
    ) {
        for (prefix, item) in items {
            if let Err(e) = serde_path_to_error::deserialize::<_, T>(&item) {
                let issue = shape_issue(&prefix, &e);
                if !issues.iter().any(|i| i.path == issue.path) {
                    issues.push(issue);
                }
            }
        }
    }
    let array = |key: &'static str| {
        root.get(key)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(i, v)| (format!("$.{key}[{i}]"), v.clone()))
    };
    let mut issues = vec![first];
    each::<super::document::Ad>(array("ads"), &mut issues);
    each::<super::document::Rule>(array("rules"), &mut issues);
    let dayparts = root
        .get("dayparts")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, v)| {
            let mut path = String::from("$.dayparts");
            push_key(&mut path, name);
            (path, v.clone())
        });
    each::<super::document::Daypart>(dayparts, &mut issues);
    issues.sort_by(|a, b| a.path.cmp(&b.path));
    issues
}

/// `$`-style path from serde_path_to_error's segments.
pub(crate) fn format_serde_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => {}
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        out.push('.');
        out.push_str(key);
    } else {
        out.push_str(&format!("[{}]", serde_json::Value::from(key)));
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

fn friendly_serde_message(message: &str) -> String {
    let message = strip_position(message);
    if message.contains("untagged enum ComparisonValue") {
        return "value must be a number, or a list of numbers for \"between\" ([min, max]) and \"in\""
            .to_string();
    }
    message.replace('`', "\"")
}

/// Used by reasons: "Mon,Tue" for a days mask.
pub(crate) fn days_text(days: u8) -> String {
    describe_days(days)
}

/// Why a creative's URL cannot be played, if it cannot: the player loads http(s) URLs, paths
/// relative to its page, and `data:` images and videos; any other scheme (`javascript:`,
/// `file:`, `data:text/html`, ...) is refused. Control characters and surrounding spaces are
/// refused too: a browser drops tabs and newlines from a URL, so "java\tscript:" would run.
fn media_url_problem(media: &str) -> Option<String> {
    if media.trim().is_empty() {
        return Some("media URL must not be empty".into());
    }
    if media.chars().any(char::is_control) || media.trim() != media {
        return Some("media URL must not hold control characters or surrounding spaces".into());
    }
    let scheme = media.split_once(':').map(|(scheme, _)| scheme).filter(|s| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let Some(scheme) = scheme else {
        // A path relative to the player's page (or //host/path, on the page's scheme).
        return None;
    };
    let lower = media.to_ascii_lowercase();
    let playable = match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => true,
        "data" => lower.starts_with("data:image/") || lower.starts_with("data:video/"),
        _ => false,
    };
    (!playable).then(|| {
        format!(
            "media URL must be http(s), a relative path or a data: image or video, not \"{scheme}:\""
        )
    })
}
