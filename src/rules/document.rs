//! The rules document as marketers write it (JSON, version 1). These types are the single source
//! of the published JSON Schema (`glance-rules.schema.json`), so every doc comment here ends up in
//! editors' tooltips. Values that need parsing (times, dates, time zones) stay strings here and are
//! checked by the validator, which reports a JSON path and a plain message for each problem.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only document version this build reads.
pub const RULES_VERSION: u32 = 1;

/// A complete rules document: ad catalogue, default loop and rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "Glance rules document")]
pub struct RulesDocument {
    /// Optional link to the JSON Schema, for editors (ignored by Glance).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Format version; this build reads version 1 only.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// IANA time zone of the screen (e.g. "Europe/Berlin"). Dayparts, days of week, date ranges,
    /// per-day caps and daily share of voice use local time in this zone unless a rule overrides
    /// the zone for its own conditions.
    pub time_zone: String,
    /// Free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default minimum seconds an ad stays on screen before a higher-priority rule may interrupt it
    /// (ads and rules may override it). Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub min_on_screen_s: Option<f64>,
    /// Age band labels the audience module is configured with (e.g. "18-24"). Optional: when
    /// given, conditions naming any other band are rejected as typos.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub age_bands: Vec<String>,
    /// Named dayparts that rules refer to with `{"daypart": "lunch"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dayparts: BTreeMap<String, Daypart>,
    /// Catalogue of every ad that may play.
    pub ads: Vec<Ad>,
    /// Ad ids played in order, round and round, when no rule picks an ad.
    pub default_loop: Vec<String>,
    /// Rules, evaluated on every decision. Higher `priority` wins; on equal priority the rule
    /// further behind its share-of-voice target wins, then the one listed first.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One ad of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ad {
    /// Unique id that rules and the default loop refer to.
    #[schemars(length(min = 1))]
    pub id: String,
    /// URL (or player-relative path) of the creative.
    #[schemars(length(min = 1))]
    pub media: String,
    pub kind: AdKind,
    /// How long one play lasts, seconds.
    #[schemars(range(min = 0.001))]
    pub duration_s: f64,
    /// Free labels; rules can rotate through all ads with a tag (`{"play": {"tagged": "menu"}}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Frequency caps on plays of this ad, whoever triggers it (rules and default loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Caps>,
    /// Minimum seconds on screen before a higher-priority rule may interrupt this ad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub min_on_screen_s: Option<f64>,
    /// Target share of screen time for this ad over the local day, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub share_of_voice: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AdKind {
    Image,
    Video,
    Html,
}

/// Maximum number of plays (for an ad) or triggers (for a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Caps {
    /// At most this many in any rolling 60 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub per_hour: Option<u32>,
    /// At most this many per local calendar day (document time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub per_day: Option<u32>,
}

/// A time-of-day window in local time, `start` inclusive, `end` exclusive. A window whose end is
/// before its start wraps past midnight ("22:00"–"02:00").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Daypart {
    /// "HH:MM", 00:00 to 23:59.
    #[schemars(regex(pattern = r"^\d{2}:\d{2}$"))]
    pub start: String,
    /// "HH:MM", 00:00 to 24:00 ("24:00" means until midnight).
    #[schemars(regex(pattern = r"^\d{2}:\d{2}$"))]
    pub end: String,
    /// Days on which the window *starts* (a Friday 22:00–02:00 window includes Saturday 01:00).
    /// Empty or absent: every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Weekday>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday = 0 … Sunday = 6, matching `chrono::Weekday::num_days_from_monday`.
    pub fn index(self) -> u32 {
        self as u32
    }
}

/// One rule: when its conditions hold (and caps/cooldown allow), it plays its ad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Unique id shown in decision reasons and reports.
    #[schemars(length(min = 1))]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Set to false to keep a rule in the document without using it.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Higher wins. Default 0. The default loop ranks below every rule.
    #[serde(default)]
    pub priority: i32,
    /// Conditions; absent means "always".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// What to play.
    pub play: Action,
    /// Caps on how often this rule may trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Caps>,
    /// Minimum seconds between two triggers of this rule (start to start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub cooldown_s: Option<f64>,
    /// Whether this rule may cut into an ad that is playing (after its minimum time on screen).
    /// Default true; false means it waits for the current ad to end.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub can_interrupt: bool,
    /// Minimum seconds the ads this rule plays stay on screen before anything may interrupt them;
    /// overrides the ad's and the document's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub min_on_screen_s: Option<f64>,
    /// Target share of screen time for plays triggered by this rule over the local day, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub share_of_voice: Option<f64>,
    /// IANA time zone for this rule's clock conditions, overriding the document's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// What a rule plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Action {
    /// Play this ad.
    Ad(String),
    /// Pick one ad from a weighted set (deterministic smooth weighted round-robin: over any run of
    /// plays each ad gets its weight's share).
    Pick(Vec<WeightedAd>),
    /// Rotate evenly through every ad carrying this tag.
    Tagged(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedAd {
    pub ad: String,
    /// Relative weight, > 0. Default 1.
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1))]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// A condition: exactly one key. Combine with `all`, `any`, `not`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Condition {
    /// Every listed condition holds.
    All(Vec<Condition>),
    /// At least one listed condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// Number of people present (tracked) now.
    Present(Comparison),
    /// Number of present people who are watchers (looked at least the minimum glance).
    Watchers(Comparison),
    /// Number of people looking at the screen right now.
    LookingNow(Comparison),
    /// Size of the largest group of people present together.
    GroupSize(Comparison),
    /// Longest attention so far among people present, seconds.
    AttentionS(Comparison),
    /// Distance of the nearest present person, metres. Does not hold when nobody's distance is
    /// known.
    DistanceM(Comparison),
    /// Share (0–1) of watchers (or of people present) in the given age bands and/or gender.
    /// Does not hold when nobody is watching (or present): a share of nobody is undefined.
    Share(AudienceFilter),
    /// Number of watchers (or people present) in the given age bands and/or gender.
    Count(AudienceFilter),
    /// Local time of day is inside the named daypart from `dayparts`.
    Daypart(String),
    /// Local time of day is inside this window.
    TimeOfDay(Daypart),
    /// Local day of week is one of these.
    DaysOfWeek(Vec<Weekday>),
    /// Local date is inside this range (both ends inclusive).
    DateRange(DateRange),
}

/// Comparison of a number from the audience with `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Comparison {
    pub op: Operator,
    /// A number; `[min, max]` for `between` (both inclusive); a list of numbers for `in`.
    pub value: ComparisonValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ComparisonValue {
    Number(f64),
    List(Vec<f64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// equal
    Eq,
    /// not equal
    Neq,
    /// less than
    Lt,
    /// less than or equal
    Lte,
    /// greater than
    Gt,
    /// greater than or equal
    Gte,
    /// `[min, max]`, both inclusive
    Between,
    /// one of a list
    In,
}

impl Operator {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Neq => "≠",
            Operator::Lt => "<",
            Operator::Lte => "≤",
            Operator::Gt => ">",
            Operator::Gte => "≥",
            Operator::Between => "between",
            Operator::In => "in",
        }
    }
}

/// Which part of the audience a `share` or `count` looks at, and the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceFilter {
    /// Count among watchers (default) or among everybody present.
    #[serde(default)]
    pub among: Among,
    /// Age band labels to count (any of them). Empty or absent: any band.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub age_bands: Vec<String>,
    /// Gender to count. Absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<GenderFilter>,
    pub op: Operator,
    /// For `share` a fraction 0–1 (0.5 = half); for `count` a number of people.
    pub value: ComparisonValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Among {
    #[default]
    Watchers,
    Present,
}

/// Gender as the attribute model reports it (apparent, not identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GenderFilter {
    Female,
    Male,
}

/// Inclusive range of local dates "YYYY-MM-DD"; either end may be left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DateRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub to: Option<String>,
}

/// The JSON Schema of [`RulesDocument`], pretty-printed with a trailing newline, exactly as
/// committed in `examples/rules/glance-rules.schema.json`.
pub fn rules_json_schema() -> String {
    let schema = schemars::schema_for!(RulesDocument);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    text.push('\n');
    text
}
