//! Parsing and validation: JSON text → [`RulesDocument`] → [`RuleSet`] (the compiled, checked
//! form the engine runs). Structural problems (unknown field, wrong type) come from serde and stop
//! at the first one; semantic problems are all collected so a marketer can fix them in one go.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::clock::{
    TimeWindow, WeekMask, describe_days, parse_date, parse_time_of_day, parse_time_zone,
};
use super::document::{
    Action, AdKind, Among, AudienceFilter, Caps, Comparison, ComparisonValue, Condition, Daypart,
    GenderFilter, Operator, RULES_VERSION, RulesDocument, Weekday,
};
use super::error::{RulesError, ValidationIssue};
use crate::analysis::Gender;

/// Default minimum time on screen before an interruption, when neither the document, the ad nor
/// the rule says otherwise.
pub const DEFAULT_MIN_ON_SCREEN_S: f64 = 5.0;

/// A validated, compiled rules document, ready for [`super::RuleEngine`]. Cheap to clone.
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
    pub fn expected_json(&self) -> serde_json::Value {
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

struct Checker<'a> {
    doc: &'a RulesDocument,
    issues: Vec<ValidationIssue>,
    ad_index: HashMap<String, usize>,
    dayparts: BTreeMap<String, TimeWindow>,
    known_bands: HashSet<&'a str>,
}

impl Checker<'_> {
    fn issue(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.issues.push(ValidationIssue::new(path, message));
    }

    fn non_negative_seconds(&mut self, path: String, value: Option<f64>) -> Option<i64> {
        let seconds = value?;
        if !seconds.is_finite() || seconds < 0.0 {
            self.issue(path, format!("must be 0 or more seconds, got {seconds}"));
            return None;
        }
        Some((seconds * 1000.0).round() as i64)
    }

    fn share_target(&mut self, path: String, value: Option<f64>) -> Option<f64> {
        let share = value?;
        if !(share > 0.0 && share <= 1.0) {
            let hint = if share > 1.0 && share <= 100.0 {
                format!(" (for {share}% write {})", share / 100.0)
            } else {
                String::new()
            };
            self.issue(
                path,
                format!("share of voice is a fraction above 0 and at most 1, got {share}{hint}"),
            );
            return None;
        }
        Some(share)
    }

    fn caps(&mut self, path: &str, caps: Option<Caps>) -> Caps {
        let caps = caps.unwrap_or(Caps {
            per_hour: None,
            per_day: None,
        });
        for (name, value) in [("perHour", caps.per_hour), ("perDay", caps.per_day)] {
            if value == Some(0) {
                self.issue(
                    format!("{path}.{name}"),
                    "a cap of 0 would never allow a play; remove the ad or rule instead",
                );
            }
        }
        caps
    }

    fn ad_ref(&mut self, path: String, id: &str) -> Option<usize> {
        let found = self.ad_index.get(id).copied();
        if found.is_none() {
            let hint = closest(id, self.doc.ads.iter().map(|ad| ad.id.as_str()))
                .map(|near| format!("; did you mean \"{near}\"?"))
                .unwrap_or_default();
            self.issue(path, format!("unknown ad id \"{id}\"{hint}"));
        }
        found
    }

    fn daypart_window(&mut self, path: &str, daypart: &Daypart) -> Option<TimeWindow> {
        let start = parse_time_of_day(&daypart.start, false)
            .map_err(|message| self.issue(format!("{path}.start"), message))
            .ok();
        let end = parse_time_of_day(&daypart.end, true)
            .map_err(|message| self.issue(format!("{path}.end"), message))
            .ok();
        let (start, end) = (start?, end?);
        if start == end || (start == 0 && end == 24 * 60) {
            self.issue(
                path,
                format!(
                    "start and end are both {}: the window is the whole day; leave the condition out to mean all day",
                    daypart.start
                ),
            );
            return None;
        }
        let days = self.days_mask(&format!("{path}.days"), &daypart.days, true)?;
        Some(TimeWindow::new(start, end % (24 * 60), days))
    }

    fn days_mask(&mut self, path: &str, days: &[Weekday], empty_means_all: bool) -> Option<u8> {
        if days.is_empty() && !empty_means_all {
            self.issue(path, "list at least one day (\"mon\" … \"sun\")");
            return None;
        }
        Some(days.iter().fold(0u8, |mask, day| mask | (1 << day.index())))
    }

    fn comparison(
        &mut self,
        path: &str,
        op: Operator,
        value: &ComparisonValue,
        range: ValueRange,
    ) -> Option<Cmp> {
        let value_path = format!("{path}.value");
        let list = match (op, value) {
            (Operator::Between, ComparisonValue::List(list)) if list.len() == 2 => {
                if list[0] > list[1] {
                    self.issue(
                        value_path.clone(),
                        format!(
                            "between [{}, {}] is impossible: min is greater than max; write [{}, {}]",
                            list[0], list[1], list[1], list[0]
                        ),
                    );
                    return None;
                }
                list.clone()
            }
            (Operator::Between, _) => {
                self.issue(value_path, "between needs a list [min, max]");
                return None;
            }
            (Operator::In, ComparisonValue::List(list)) if !list.is_empty() => list.clone(),
            (Operator::In, _) => {
                self.issue(
                    value_path,
                    "in needs a non-empty list of numbers, e.g. [2, 3]",
                );
                return None;
            }
            (_, ComparisonValue::Number(number)) => vec![*number],
            (_, ComparisonValue::List(_)) => {
                self.issue(
                    value_path,
                    format!(
                        "{} compares with one number; use \"between\" or \"in\" for a list",
                        serde_json::to_value(op).unwrap_or_default()
                    ),
                );
                return None;
            }
        };
        let before = self.issues.len();
        for (i, v) in list.iter().enumerate() {
            let at = if list.len() > 1 || matches!(op, Operator::Between | Operator::In) {
                format!("{value_path}[{i}]")
            } else {
                value_path.clone()
            };
            if !v.is_finite() {
                self.issue(at, "must be a finite number");
                continue;
            }
            match range {
                ValueRange::Share if !(0.0..=1.0).contains(v) => {
                    let hint = if *v > 1.0 && *v <= 100.0 {
                        format!(" (for {v}% write {})", v / 100.0)
                    } else {
                        String::new()
                    };
                    self.issue(
                        at,
                        format!("a share is between 0 and 1, so {v} can never match{hint}"),
                    );
                }
                ValueRange::Count | ValueRange::Measure if *v < 0.0 => {
                    self.issue(at, format!("{v} is negative, so it can never match"));
                }
                ValueRange::Count
                    if v.fract() != 0.0 && matches!(op, Operator::Eq | Operator::In) =>
                {
                    self.issue(
                        at,
                        format!("people are counted in whole numbers, so = {v} can never match"),
                    );
                }
                _ => {}
            }
        }
        if self.issues.len() > before {
            return None;
        }
        // Comparisons that no value of the metric can satisfy.
        let impossible = match (op, range) {
            (Operator::Lt, _) if list[0] <= 0.0 => Some("nothing is less than 0"),
            (Operator::Gt, ValueRange::Share) if list[0] >= 1.0 => {
                Some("a share is never greater than 1")
            }
            _ => None,
        };
        if let Some(why) = impossible {
            self.issue(value_path, format!("this condition can never hold: {why}"));
            return None;
        }
        Some(Cmp { op, list })
    }

    fn condition(&mut self, path: &str, condition: &Condition) -> Option<Cond> {
        let kind = match condition {
            Condition::All(list) | Condition::Any(list) => {
                let is_all = matches!(condition, Condition::All(_));
                let key = if is_all { "all" } else { "any" };
                if list.is_empty() {
                    self.issue(
                        format!("{path}.{key}"),
                        format!("\"{key}\" needs at least one condition"),
                    );
                    return None;
                }
                let children: Vec<Option<Cond>> = list
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.condition(&format!("{path}.{key}[{i}]"), c))
                    .collect();
                let children: Option<Vec<Cond>> = children.into_iter().collect();
                if is_all {
                    CondKind::All(children?)
                } else {
                    CondKind::Any(children?)
                }
            }
            Condition::Not(inner) => {
                CondKind::Not(Box::new(self.condition(&format!("{path}.not"), inner)?))
            }
            Condition::Present(c) => self.metric(path, "present", Metric::Present, c)?,
            Condition::Watchers(c) => self.metric(path, "watchers", Metric::Watchers, c)?,
            Condition::LookingNow(c) => self.metric(path, "lookingNow", Metric::LookingNow, c)?,
            Condition::GroupSize(c) => self.metric(path, "groupSize", Metric::GroupSize, c)?,
            Condition::AttentionS(c) => self.metric(path, "attentionS", Metric::AttentionS, c)?,
            Condition::DistanceM(c) => self.metric(path, "distanceM", Metric::DistanceM, c)?,
            Condition::Share(filter) => self.audience(&format!("{path}.share"), true, filter)?,
            Condition::Count(filter) => self.audience(&format!("{path}.count"), false, filter)?,
            Condition::Daypart(name) => {
                let Some(window) = self.dayparts.get(name).copied() else {
                    let known = self.doc.dayparts.keys().cloned().collect::<Vec<_>>();
                    let message = if self.doc.dayparts.contains_key(name) {
                        // Defined but itself invalid: already reported at its definition.
                        return None;
                    } else if known.is_empty() {
                        format!("unknown daypart \"{name}\": the document defines no \"dayparts\"")
                    } else {
                        format!("unknown daypart \"{name}\"; defined: {}", known.join(", "))
                    };
                    self.issue(format!("{path}.daypart"), message);
                    return None;
                };
                CondKind::Window {
                    name: Some(name.clone()),
                    window,
                }
            }
            Condition::TimeOfDay(daypart) => CondKind::Window {
                name: None,
                window: self.daypart_window(&format!("{path}.timeOfDay"), daypart)?,
            },
            Condition::DaysOfWeek(days) => {
                CondKind::Days(self.days_mask(&format!("{path}.daysOfWeek"), days, false)?)
            }
            Condition::DateRange(range) => {
                let range_path = format!("{path}.dateRange");
                if range.from.is_none() && range.to.is_none() {
                    self.issue(range_path, "give \"from\", \"to\" or both (YYYY-MM-DD)");
                    return None;
                }
                let mut parse =
                    |key: &str, text: &Option<String>| -> Result<Option<NaiveDate>, ()> {
                        match text {
                            None => Ok(None),
                            Some(text) => parse_date(text).map(Some).map_err(|message| {
                                self.issue(format!("{range_path}.{key}"), message);
                            }),
                        }
                    };
                let from = parse("from", &range.from);
                let to = parse("to", &range.to);
                let (from, to) = (from.ok()?, to.ok()?);
                if let (Some(f), Some(t)) = (from, to)
                    && f > t
                {
                    self.issue(
                        range_path,
                        format!("\"from\" {f} is after \"to\" {t}: the range is empty"),
                    );
                    return None;
                }
                CondKind::Dates { from, to }
            }
        };
        Some(Cond {
            path: path.to_string(),
            kind,
        })
    }

    fn metric(
        &mut self,
        path: &str,
        key: &str,
        metric: Metric,
        comparison: &Comparison,
    ) -> Option<CondKind> {
        let range = if metric.is_count() {
            ValueRange::Count
        } else {
            ValueRange::Measure
        };
        let cmp = self.comparison(
            &format!("{path}.{key}"),
            comparison.op,
            &comparison.value,
            range,
        )?;
        Some(CondKind::Metric(metric, cmp))
    }

    fn audience(&mut self, path: &str, share: bool, filter: &AudienceFilter) -> Option<CondKind> {
        let mut bands_ok = true;
        if !self.known_bands.is_empty() {
            for (i, band) in filter.age_bands.iter().enumerate() {
                if !self.known_bands.contains(band.as_str()) {
                    let mut known: Vec<&str> = self.known_bands.iter().copied().collect();
                    known.sort_unstable();
                    self.issue(
                        format!("{path}.ageBands[{i}]"),
                        format!(
                            "unknown age band \"{band}\"; the document's ageBands are {}",
                            known.join(", ")
                        ),
                    );
                    bands_ok = false;
                }
            }
        }
        let range = if share {
            ValueRange::Share
        } else {
            ValueRange::Count
        };
        let cmp = self.comparison(path, filter.op, &filter.value, range);
        if !bands_ok {
            return None;
        }
        Some(CondKind::Audience {
            share,
            among: filter.among,
            age_bands: filter.age_bands.clone(),
            gender: filter.gender.map(|g| match g {
                GenderFilter::Female => Gender::Female,
                GenderFilter::Male => Gender::Male,
            }),
            cmp: cmp?,
        })
    }

    fn time_zone(&mut self, path: &str, name: &str) -> Option<Tz> {
        parse_time_zone(name)
            .map_err(|message| self.issue(path, message))
            .ok()
    }
}

#[derive(Debug, Clone, Copy)]
enum ValueRange {
    /// 0 to 1.
    Share,
    /// Whole people, ≥ 0.
    Count,
    /// Seconds or metres, ≥ 0.
    Measure,
}

/// The closest id by edit distance, when it is close enough to be a likely typo.
fn closest<'a>(id: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(id, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn compile(document: RulesDocument) -> Result<RuleSet, Vec<ValidationIssue>> {
    let mut c = Checker {
        doc: &document,
        issues: Vec::new(),
        ad_index: HashMap::new(),
        dayparts: BTreeMap::new(),
        known_bands: document.age_bands.iter().map(String::as_str).collect(),
    };
    let time_zone = c.time_zone("$.timeZone", &document.time_zone);
    let min_on_screen_ms = c
        .non_negative_seconds("$.minOnScreenS".into(), document.min_on_screen_s)
        .unwrap_or((DEFAULT_MIN_ON_SCREEN_S * 1000.0) as i64);

    for (name, daypart) in &document.dayparts {
        let mut path = String::from("$.dayparts");
        push_key(&mut path, name);
        if let Some(window) = c.daypart_window(&path, daypart) {
            c.dayparts.insert(name.clone(), window);
        }
    }

    // Ads.
    let mut ads = Vec::with_capacity(document.ads.len());
    let mut ad_sov_total = 0.0;
    for (i, ad) in document.ads.iter().enumerate() {
        let path = format!("$.ads[{i}]");
        if ad.id.trim().is_empty() {
            c.issue(format!("{path}.id"), "ad id must not be empty");
        } else if let Some(first) = c.ad_index.get(&ad.id) {
            c.issue(
                format!("{path}.id"),
                format!("duplicate ad id \"{}\" (also $.ads[{first}])", ad.id),
            );
        } else {
            c.ad_index.insert(ad.id.clone(), i);
        }
        if let Some(problem) = media_url_problem(&ad.media) {
            c.issue(format!("{path}.media"), problem);
        }
        if !(ad.duration_s.is_finite() && ad.duration_s >= 0.001 && ad.duration_s <= 86_400.0) {
            c.issue(
                format!("{path}.durationS"),
                format!(
                    "duration must be from 0.001 to 86400 seconds, got {}",
                    ad.duration_s
                ),
            );
        }
        let caps = c.caps(&format!("{path}.caps"), ad.caps);
        let min_on_screen =
            c.non_negative_seconds(format!("{path}.minOnScreenS"), ad.min_on_screen_s);
        let share_of_voice = c.share_target(format!("{path}.shareOfVoice"), ad.share_of_voice);
        ad_sov_total += share_of_voice.unwrap_or(0.0);
        ads.push(CompiledAd {
            id: ad.id.clone(),
            media: ad.media.clone(),
            kind: ad.kind,
            duration_ms: (ad.duration_s * 1000.0).round() as i64,
            caps,
            min_on_screen_ms: min_on_screen,
            share_of_voice,
        });
    }
    if ad_sov_total > 1.0 + 1e-9 {
        c.issue(
            "$.ads",
            format!(
                "ads' shareOfVoice targets add up to {ad_sov_total:.3}, more than 1: they cannot all be met"
            ),
        );
    }

    // Default loop.
    if document.default_loop.is_empty() {
        c.issue(
            "$.defaultLoop",
            "the default loop is empty: list at least one ad to show when no rule applies",
        );
    }
    let default_loop: Vec<usize> = document
        .default_loop
        .iter()
        .enumerate()
        .filter_map(|(i, id)| c.ad_ref(format!("$.defaultLoop[{i}]"), id))
        .collect();

    // Rules.
    let mut rules = Vec::with_capacity(document.rules.len());
    let mut rule_ids: HashMap<&str, usize> = HashMap::new();
    let mut rule_sov_total = 0.0;
    for (i, rule) in document.rules.iter().enumerate() {
        let path = format!("$.rules[{i}]");
        if rule.id.trim().is_empty() {
            c.issue(format!("{path}.id"), "rule id must not be empty");
        } else if let Some(first) = rule_ids.get(rule.id.as_str()) {
            c.issue(
                format!("{path}.id"),
                format!("duplicate rule id \"{}\" (also $.rules[{first}])", rule.id),
            );
        } else {
            rule_ids.insert(&rule.id, i);
        }
        let rule_tz = rule
            .time_zone
            .as_deref()
            .and_then(|name| c.time_zone(&format!("{path}.timeZone"), name));
        let when = rule
            .when
            .as_ref()
            .and_then(|cond| c.condition(&format!("{path}.when"), cond));
        let (choices, pick_kind) = match &rule.play {
            Action::Ad(id) => (
                c.ad_ref(format!("{path}.play.ad"), id)
                    .map(|ad| vec![Choice { ad, weight: 1 }])
                    .unwrap_or_default(),
                PickKind::Single,
            ),
            Action::Pick(list) => {
                if list.is_empty() {
                    c.issue(format!("{path}.play.pick"), "pick needs at least one ad");
                }
                let mut choices = Vec::new();
                for (j, weighted) in list.iter().enumerate() {
                    if weighted.weight == 0 {
                        c.issue(
                            format!("{path}.play.pick[{j}].weight"),
                            "weight must be at least 1",
                        );
                    }
                    if let Some(ad) = c.ad_ref(format!("{path}.play.pick[{j}].ad"), &weighted.ad) {
                        choices.push(Choice {
                            ad,
                            weight: weighted.weight,
                        });
                    }
                }
                (choices, PickKind::Weighted)
            }
            Action::Tagged(tag) => {
                let choices: Vec<Choice> = document
                    .ads
                    .iter()
                    .enumerate()
                    .filter(|(_, ad)| ad.tags.iter().any(|t| t == tag))
                    .map(|(ad, _)| Choice { ad, weight: 1 })
                    .collect();
                if choices.is_empty() {
                    c.issue(
                        format!("{path}.play.tagged"),
                        format!("no ad has the tag \"{tag}\""),
                    );
                }
                (choices, PickKind::Tagged)
            }
        };
        let caps = c.caps(&format!("{path}.caps"), rule.caps);
        let cooldown_ms = c
            .non_negative_seconds(format!("{path}.cooldownS"), rule.cooldown_s)
            .unwrap_or(0);
        let min_on_screen =
            c.non_negative_seconds(format!("{path}.minOnScreenS"), rule.min_on_screen_s);
        let share_of_voice = c.share_target(format!("{path}.shareOfVoice"), rule.share_of_voice);
        if rule.enabled {
            rule_sov_total += share_of_voice.unwrap_or(0.0);
        }
        rules.push(CompiledRule {
            id: rule.id.clone(),
            path,
            enabled: rule.enabled,
            priority: rule.priority,
            when,
            choices,
            pick_kind,
            caps,
            cooldown_ms,
            can_interrupt: rule.can_interrupt,
            min_on_screen_ms: min_on_screen,
            share_of_voice,
            time_zone: rule_tz,
        });
    }
    if rule_sov_total > 1.0 + 1e-9 {
        c.issue(
            "$.rules",
            format!(
                "enabled rules' shareOfVoice targets add up to {rule_sov_total:.3}, more than 1: they cannot all be met"
            ),
        );
    }
    check_overlapping_dayparts(&mut c, &rules);

    let issues = c.issues;
    match (issues.is_empty(), time_zone) {
        (true, Some(time_zone)) => {
            let ad_index = ads
                .iter()
                .enumerate()
                .map(|(i, ad)| (ad.id.clone(), i))
                .collect();
            Ok(RuleSet {
                document,
                time_zone,
                ads,
                ad_index,
                default_loop,
                rules,
                min_on_screen_ms,
            })
        }
        _ => Err(issues),
    }
}

/// The local-week minutes in which a condition can hold, when it is constrained by dayparts or
/// days of week; `None` when the clock of the week does not restrict it.
fn week_constraint(cond: &Cond) -> Option<WeekMask> {
    match &cond.kind {
        CondKind::Window { window, .. } => Some(window.week_mask()),
        CondKind::Days(days) => Some(WeekMask::days(*days)),
        CondKind::All(children) => children
            .iter()
            .filter_map(week_constraint)
            .reduce(|a, b| a.intersect(&b)),
        CondKind::Any(children) => children
            .iter()
            .map(week_constraint)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .reduce(|a, b| a.union(&b)),
        _ => None,
    }
}

/// Inclusive local date bounds; `None` is unbounded.
type DateBounds = (Option<NaiveDate>, Option<NaiveDate>);

/// The date range a condition is restricted to (top level or inside `all`).
fn date_constraint(cond: &Cond) -> DateBounds {
    match &cond.kind {
        CondKind::Dates { from, to } => (*from, *to),
        CondKind::All(children) => {
            children
                .iter()
                .map(date_constraint)
                .fold((None, None), |(from, to), (f, t)| {
                    (
                        from.max(f),
                        match (to, t) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        },
                    )
                })
        }
        _ => (None, None),
    }
}

fn dates_overlap(a: DateBounds, b: DateBounds) -> bool {
    let starts_before_end = |from: Option<NaiveDate>, to: Option<NaiveDate>| match (from, to) {
        (Some(f), Some(t)) => f <= t,
        _ => true,
    };
    starts_before_end(a.0, b.1) && starts_before_end(b.0, a.1)
}

/// Two enabled rules with equal priority whose dayparts overlap leave the winner to document
/// order, which marketers rarely intend; ask for an explicit priority instead. Rules without
/// clock conditions are exempt (they are audience-driven and ties resolve by share of voice and
/// order, as documented); so are pairs in different time zones.
fn check_overlapping_dayparts(c: &mut Checker<'_>, rules: &[CompiledRule]) {
    let constrained: Vec<(usize, WeekMask, DateBounds)> = rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.enabled)
        .filter_map(|(i, rule)| {
            let when = rule.when.as_ref()?;
            let mask = week_constraint(when).filter(|m| !m.is_full())?;
            Some((i, mask, date_constraint(when)))
        })
        .collect();
    for (later_pos, (j, mask_j, dates_j)) in constrained.iter().enumerate() {
        for (i, mask_i, dates_i) in &constrained[..later_pos] {
            let (a, b) = (&rules[*i], &rules[*j]);
            if a.priority != b.priority
                || a.time_zone != b.time_zone
                || !dates_overlap(*dates_i, *dates_j)
            {
                continue;
            }
            if let Some(when) = mask_i.first_common_minute(mask_j) {
                c.issue(
                    format!("{}.priority", b.path),
                    format!(
                        "rule \"{}\" has the same priority ({}) as rule \"{}\" ({}) and their dayparts overlap (e.g. {when}); give one of them a higher priority so the winner is explicit",
                        b.id, b.priority, a.id, a.path
                    ),
                );
            }
        }
    }
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
