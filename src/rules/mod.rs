//! The rules and their scheduler: marketers' rules + the live audience + the clock → the next
//! ad, with the reason. Deterministic (no system clock, no randomness) so it behaves identically
//! natively and in wasm, and a simulation replays exactly.
//!
//! * [`parse_rules`] / [`RuleSet`]: JSON rules document (version 1, schema from
//!   [`rules_json_schema`]) → validated rule set. Every problem has a `$.`-style JSON path.
//! * [`Scheduler`]: `decide` at ad end, `should_interrupt` on each new snapshot, `ad_started` /
//!   `ad_ended` to record history (caps, cooldowns, share of voice); `set_rules` hot-swaps rules.
//! * [`simulate`] / [`run_simulate_cli`]: replay a scripted audience timeline.
//!
//! # Decision semantics
//!
//! (The full text, with examples, is `docs/rules.md` at the repository root.)
//!
//! **When.** The host calls [`Scheduler::decide`] when the ad on screen ends (or when nothing
//! plays), and [`Scheduler::should_interrupt`] on each new audience snapshot while an ad plays.
//! A decision is only a proposal: [`Scheduler::ad_started`] commits it (cap and cooldown
//! counters, weighted rotations, loop position), [`Scheduler::ad_ended`] adds the screen time
//! (share of voice). Calling `decide` twice without starting an ad gives the same answer.
//!
//! **Which rule.** Every enabled rule whose `when` holds *matches*. Matches are ranked by
//! (1) `priority`, higher first; (2) share-of-voice deficit (target minus today's achieved share,
//! of the rule or of its single ad; 0 without a target), larger first; (3) position in the
//! document, earlier first. The best-ranked match that is not blocked plays. A match is blocked
//! when the rule reached a cap (`perHour`: triggers in the last rolling 60 minutes; `perDay`:
//! triggers since local midnight), when it triggered less than `cooldownS` ago, when its share
//! of today's screen time is at or above its `shareOfVoice` target, or when every ad it could
//! play reached its own ad cap or share-of-voice target. Blocked matches (all) and lower-ranked
//! matches (the first 10; the rest are counted) are listed in the reason's `skipped` with the
//! cause. Caps are hard limits; share-of-voice targets steer (preferred while behind, sitting out
//! while ahead).
//!
//! **No rule.** When nothing matches (or every match is blocked), the default loop plays: the
//! next loop ad in order that is not blocked (cap or reached share-of-voice target; avoiding an
//! immediate repeat), except that a loop ad behind its share-of-voice target is inserted first
//! (largest deficit; ties in loop order; never twice in a row). If every loop ad is blocked, the
//! loop plays on in order regardless: the screen is never blank.
//!
//! **Interrupts.** An ad may be interrupted once it has been on screen its minimum time (rule's
//! `minOnScreenS`, else ad's, else document's, default 5 s), by a matching, unblocked rule with
//! `canInterrupt` (default true) whose priority is strictly higher than the rule that put the
//! current ad on screen (the default loop ranks below every rule), and whose ad is not the one on
//! screen.
//!
//! **Picks.** `{"pick": [...]}` uses smooth weighted round-robin (deterministic, interleaved);
//! `{"tagged": "x"}` rotates evenly through the ads with tag `x`. Capped ads sit out.
//!
//! **Clock.** Conditions use local time in the rule's `timeZone` (else the document's):
//! dayparts are `[start, end)`, wrapping past midnight when `end <= start`; a daypart's `days`
//! are the days on which the window starts. On DST days the wall clock rules: a window inside the
//! skipped hour never holds that day, a window inside the repeated hour holds twice. Per-day caps
//! and share of voice use the document's zone.

mod clock;
mod condition;
mod document;
mod error;
mod scheduler;
mod simulate;
mod validate;

#[cfg(test)]
mod tests;

/// Time zone type of [`parse_timeline`] and [`RuleSet::time_zone`] (chrono-tz).
pub use chrono_tz::Tz;
pub use condition::ConditionTrace;
pub use document::{
    Action, Ad, AdKind, Among, AudienceFilter, Caps, Comparison, ComparisonValue, Condition,
    DateRange, Daypart, GenderFilter, Operator, RULES_VERSION, Rule, RulesDocument, Weekday,
    WeightedAd, rules_json_schema,
};
pub use error::{RulesError, ValidationIssue};
pub use scheduler::{
    CapWindow, Decision, DecisionSource, InterruptTrace, PickCandidate, PickMethod, PickTrace,
    PlayRecord, Reason, RuleSkipReason, Scheduler, SkippedRule,
};
pub(crate) use simulate::TimelineLine;
pub use simulate::{
    AdSummary, LoopSummary, RuleSummary, SimulatedPlay, SimulationReport, SimulationSummary,
    TimelineStep, parse_simulation, parse_timeline, run_simulate_cli, simulate, write_report,
};
pub use validate::{DEFAULT_MIN_ON_SCREEN_S, RuleSet, parse_rules};
