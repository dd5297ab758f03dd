//! What a decision says: the ad, where it came from, and the reason, with every condition,
//! pick and skipped rule behind it.

use serde::Serialize;

use crate::rules::condition::ConditionTrace;
use crate::rules::document::AdKind;

/// What should play next, and why.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub ad_id: String,
    pub media: String,
    pub kind: AdKind,
    pub duration_ms: i64,
    /// How long this play must stay on screen before a higher-priority rule may interrupt it.
    pub min_on_screen_ms: i64,
    /// The clock the decision was made at (UTC ms).
    pub decided_at_ms: i64,
    pub source: DecisionSource,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum DecisionSource {
    /// A rule matched and was allowed to play.
    #[serde(rename_all = "camelCase")]
    Rule { rule_id: String, priority: i32 },
    /// No rule could play; `position` is the index in `defaultLoop`.
    #[serde(rename_all = "camelCase")]
    DefaultLoop { position: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// One line for humans.
    pub summary: String,
    /// Local time in the document's zone, e.g. "Mon 2025-11-24 12:30:00 Europe/Berlin".
    pub local_time: String,
    /// Leaf conditions of the winning rule with their actual values (empty for the loop).
    pub conditions: Vec<ConditionTrace>,
    /// How the ad was chosen among several, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pick: Option<PickTrace>,
    /// Rules whose conditions held but which did not play, and why, best first (every blocked
    /// rule; the first 10 of those ranked below the winner).
    pub skipped: Vec<SkippedRule>,
    /// Further matching rules ranked below the winner, not listed in `skipped`.
    #[serde(skip_serializing_if = "is_zero")]
    pub outranked_not_listed: usize,
    /// Set when this decision cuts into the ad on screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupts: Option<InterruptTrace>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PickTrace {
    pub method: PickMethod,
    pub candidates: Vec<PickCandidate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PickMethod {
    /// Smooth weighted round-robin over the rule's `pick` list.
    WeightedRoundRobin,
    /// Even rotation over the ads with the rule's tag.
    TaggedRotation,
    /// The default loop in order.
    LoopOrder,
    /// The default-loop ad furthest behind its share-of-voice target.
    ShareOfVoiceCatchUp,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PickCandidate {
    pub ad_id: String,
    pub weight: u32,
    /// Sat out because the ad reached a cap or its share-of-voice target.
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InterruptTrace {
    pub ad_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    pub on_screen_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedRule {
    pub rule_id: String,
    pub priority: i32,
    pub reason: RuleSkipReason,
    /// The reason in words.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CapWindow {
    /// Rolling 60 minutes.
    Hour,
    /// Local calendar day.
    Day,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RuleSkipReason {
    /// The rule triggered `limit` times already in the window.
    #[serde(rename_all = "camelCase")]
    RuleCap {
        window: CapWindow,
        limit: u32,
        count: u32,
    },
    /// The rule triggered less than its cooldown ago.
    #[serde(rename_all = "camelCase")]
    Cooldown { cooldown_ms: i64, remaining_ms: i64 },
    /// Every ad the rule could play reached a cap (the first one's cap is reported).
    #[serde(rename_all = "camelCase")]
    AdCap {
        ad_id: String,
        window: CapWindow,
        limit: u32,
        count: u32,
    },
    /// The rule's share of today's screen time reached its `shareOfVoice` target.
    #[serde(rename_all = "camelCase")]
    ShareOfVoiceReached { target: f64, achieved: f64 },
    /// Every ad the rule could play has reached its own share-of-voice target.
    #[serde(rename_all = "camelCase")]
    AdShareOfVoiceReached {
        ad_id: String,
        target: f64,
        achieved: f64,
    },
    /// A rule ranked higher (priority, then share of voice, then document order) played.
    #[serde(rename_all = "camelCase")]
    Outranked { by_rule_id: String },
    /// The rule has `canInterrupt: false`, so it waits for the current ad to end.
    CannotInterrupt,
    /// The rule would play the ad that is already on screen.
    AlreadyOnScreen,
}

/// One play as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayRecord {
    pub ad_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub completed: bool,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}
