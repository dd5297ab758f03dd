//! The simulator: replays a scripted audience timeline against a rule set on a virtual clock and
//! reports every play with its reason plus a summary. Used by `glance simulate` and the golden
//! tests.
//!
//! Timeline format (JSON lines; blank lines and lines starting with `#` are ignored):
//!
//! ```text
//! {"t": "2025-11-24T12:00:00+01:00", "audience": {"watchers": 3, "byBandGender": [...]}}
//! {"t": 1763982000000, "snapshot": { ...a full AudienceSnapshot... }}
//! {"t": "2025-11-24T12:05"}
//! ```
//!
//! * `t`: UTC milliseconds, an RFC 3339 time with offset, or a local time without offset
//!   ("YYYY-MM-DDTHH:MM[:SS]") read in the rules document's time zone. Non-decreasing.
//! * `snapshot`: a full [`AudienceSnapshot`] as the audience module emits it; or `audience`: a
//!   compact form where every field is optional (`present`, `watchers`, `lookingNow`,
//!   `groupSize`, `attentionS`, `distanceM`, `byBandGender`); missing `watchers` is the sum of
//!   the cells' watchers, missing `present` the larger of the cells' present sum (a cell's watchers count as present) and
//!   `watchers`,
//!   missing `groupSize` is `present`, missing `lookingNow` is 0. Neither: the audience is
//!   unchanged from the previous line (the first line starts with nobody).
//! * Each audience holds until the next line. The simulation starts at the first line's `t` and
//!   ends at the last line's `t`; the ad on screen then is cut short (`completed: false`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::clock::{format_local, format_utc, local_to_utc_ms};
use super::error::RulesError;
use super::scheduler::{Decision, DecisionSource, RuleSkipReason, Scheduler};
use super::validate::{RuleSet, parse_rules};
use crate::analysis::Gender;
use crate::audience::{AudienceSnapshot, BandGenderCount};

/// A simulation stops after this many plays (a guard against a month of 1 ms ads).
const MAX_SIMULATED_PLAYS: usize = 200_000;

/// The longest span a timeline may cover, days: a month of a campaign's plan (a timeline of two
/// lines 8,000 years apart would only fill the plays' cap with the default loop).
pub(crate) const MAX_TIMELINE_SPAN_DAYS: i64 = 31;

/// One line of a timeline, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineStep {
    pub t_ms: i64,
    pub snapshot: AudienceSnapshot,
}

/// One line of a simulator timeline (JSON Lines): the audience from `t` until the next line.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TimelineStep")]
pub(crate) struct TimelineLine {
    t: TimelineTime,
    #[serde(default)]
    snapshot: Option<AudienceSnapshot>,
    #[serde(default)]
    audience: Option<CompactAudience>,
}

/// UTC ms, RFC 3339, or local "2025-11-24T12:00" in the rules' time zone.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum TimelineTime {
    Millis(i64),
    Text(String),
}

/// The compact audience of a timeline line; see the module docs for the defaults.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompactAudience {
    present: Option<u32>,
    watchers: Option<u32>,
    looking_now: Option<u32>,
    group_size: Option<u32>,
    attention_s: Option<f32>,
    distance_m: Option<f32>,
    #[serde(default)]
    by_band_gender: Vec<CompactCell>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompactCell {
    #[serde(default)]
    age_band: Option<String>,
    #[serde(default)]
    gender: Option<Gender>,
    #[serde(default)]
    present: u32,
    #[serde(default)]
    watchers: u32,
}

impl CompactAudience {
    fn into_snapshot(self, t_ms: i64) -> AudienceSnapshot {
        let cell_watchers: u32 = self.by_band_gender.iter().map(|c| c.watchers).sum();
        // A watcher is necessarily present, so a cell's present count is at least its watchers.
        let cell_present: u32 = self
            .by_band_gender
            .iter()
            .map(|c| c.present.max(c.watchers))
            .sum();
        let watchers = self.watchers.unwrap_or(cell_watchers);
        let present = self.present.unwrap_or(cell_present.max(watchers));
        AudienceSnapshot {
            timestamp_ms: t_ms as f64,
            present,
            watchers,
            looking_now: self.looking_now.unwrap_or(0),
            group_size: self.group_size.unwrap_or(present),
            longest_attention_s: self.attention_s.unwrap_or(0.0),
            nearest_distance_m: self.distance_m,
            by_band_gender: self
                .by_band_gender
                .into_iter()
                .map(|c| BandGenderCount {
                    age_band: c.age_band,
                    gender: c.gender,
                    present: c.present.max(c.watchers),
                    watchers: c.watchers,
                })
                .collect(),
            people: Vec::new(),
        }
    }
}

fn parse_time(time: TimelineTime, tz: Tz) -> Result<i64, String> {
    match time {
        TimelineTime::Millis(ms) => Ok(ms),
        TimelineTime::Text(text) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
                return Ok(t.timestamp_millis());
            }
            for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
                if let Ok(local) = NaiveDateTime::parse_from_str(&text, format) {
                    return Ok(local_to_utc_ms(tz, local));
                }
            }
            Err(format!(
                "\"t\": \"{text}\" is not a time; use UTC milliseconds, RFC 3339 (\"2025-11-24T12:00:00+01:00\") or local \"2025-11-24T12:00\""
            ))
        }
    }
}

/// Parses a JSON-lines timeline; local times without offset are read in `tz`.
pub fn parse_timeline(text: &str, tz: Tz) -> Result<Vec<TimelineStep>, RulesError> {
    let mut steps: Vec<TimelineStep> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |message: String| RulesError::Timeline {
            line: line_number,
            message,
        };
        let mut deserializer = serde_json::Deserializer::from_str(line);
        let parsed: TimelineLine =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let path = super::validate::format_serde_path(e.path());
                let message = e.inner().to_string();
                let message = if message.contains("untagged enum TimelineTime") {
                    "\"t\" must be UTC milliseconds or a time text".to_string()
                } else {
                    message
                };
                error(format!("{path}: {message}"))
            })?;
        let t_ms = super::scheduler::clamp_clock(parse_time(parsed.t, tz).map_err(error)?);
        if let Some(previous) = steps.last()
            && t_ms < previous.t_ms
        {
            return Err(error(format!(
                "time goes backwards ({} is before the previous line's {})",
                format_utc(t_ms),
                format_utc(previous.t_ms)
            )));
        }
        if let Some(first) = steps.first()
            && t_ms - first.t_ms > MAX_TIMELINE_SPAN_DAYS * 86_400_000
        {
            return Err(error(format!(
                "the timeline may span at most {MAX_TIMELINE_SPAN_DAYS} days ({} is more after the first line's {})",
                format_utc(t_ms),
                format_utc(first.t_ms)
            )));
        }
        let snapshot = match (parsed.snapshot, parsed.audience) {
            (Some(_), Some(_)) => {
                return Err(error(
                    "give either \"snapshot\" or \"audience\", not both".to_string(),
                ));
            }
            (Some(mut snapshot), None) => {
                snapshot.timestamp_ms = t_ms as f64;
                snapshot
            }
            (None, Some(audience)) => audience.into_snapshot(t_ms),
            (None, None) => steps.last().map_or_else(
                || CompactAudience::default().into_snapshot(t_ms),
                |previous| AudienceSnapshot {
                    timestamp_ms: t_ms as f64,
                    ..previous.snapshot.clone()
                },
            ),
        };
        steps.push(TimelineStep { t_ms, snapshot });
    }
    if steps.is_empty() {
        return Err(RulesError::Timeline {
            line: 0,
            message: "the timeline has no lines".to_string(),
        });
    }
    Ok(steps)
}

/// One play in a simulation.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedPlay {
    /// Start, UTC.
    pub at: String,
    /// Start, local time of the rules document.
    pub local: String,
    pub at_ms: i64,
    pub ended_at_ms: i64,
    pub on_screen_ms: i64,
    /// Played to its end (false: interrupted, or cut by the end of the timeline).
    pub completed: bool,
    /// Rule whose decision cut this play short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<String>,
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulationReport {
    pub plays: Vec<SimulatedPlay>,
    pub summary: SimulationSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulationSummary {
    pub from: String,
    pub to: String,
    pub simulated_s: f64,
    pub plays: usize,
    pub interrupts: usize,
    /// True when the simulation stopped at its play limit before the timeline's end.
    pub truncated: bool,
    pub default_loop: LoopSummary,
    /// Per ad of the catalogue (also ads that never played).
    pub ads: BTreeMap<String, AdSummary>,
    /// Per rule.
    pub rules: BTreeMap<String, RuleSummary>,
    /// Decisions in which some rule was skipped because it or its ads reached a cap.
    pub caps_hit: usize,
    /// Decisions in which some rule was skipped because it was cooling down.
    pub cooldowns_hit: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoopSummary {
    pub plays: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdSummary {
    pub plays: usize,
    pub completed: usize,
    pub seconds: f64,
    /// Share of the simulated screen time.
    pub share_of_voice: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_voice_target: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleSummary {
    pub triggers: usize,
    pub seconds: f64,
    pub share_of_voice: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_voice_target: Option<f64>,
    /// How many decisions skipped this rule, by reason kind ("ruleCap", "cooldown", "adCap",
    /// "shareOfVoiceReached", "adShareOfVoiceReached", "outranked", "cannotInterrupt",
    /// "alreadyOnScreen").
    pub skipped: BTreeMap<String, usize>,
}

fn skip_kind(reason: &RuleSkipReason) -> &'static str {
    match reason {
        RuleSkipReason::RuleCap { .. } => "ruleCap",
        RuleSkipReason::Cooldown { .. } => "cooldown",
        RuleSkipReason::AdCap { .. } => "adCap",
        RuleSkipReason::ShareOfVoiceReached { .. } => "shareOfVoiceReached",
        RuleSkipReason::AdShareOfVoiceReached { .. } => "adShareOfVoiceReached",
        RuleSkipReason::Outranked { .. } => "outranked",
        RuleSkipReason::CannotInterrupt => "cannotInterrupt",
        RuleSkipReason::AlreadyOnScreen => "alreadyOnScreen",
    }
}

/// Replays `timeline` (at least one step) against a fresh engine for `rules`: at each ad end it
/// decides the next ad with the audience of that moment; at each timeline step it asks whether
/// to interrupt.
pub fn simulate(rules: &RuleSet, timeline: &[TimelineStep]) -> SimulationReport {
    let timeline = clamped(timeline);
    let (start_ms, end_ms) = match (timeline.first(), timeline.last()) {
        (Some(first), Some(last)) => (first.t_ms, last.t_ms),
        _ => (0, 0),
    };
    let mut replay = Replay {
        engine: Scheduler::new(rules.clone()),
        plays: Vec::new(),
        tz: rules.time_zone(),
    };
    let truncated = start_ms < end_ms && replay.run(&timeline, end_ms);
    let summary = summarise(rules, &replay.plays, start_ms, end_ms, truncated);
    SimulationReport {
        plays: replay.plays,
        summary,
    }
}

/// The timeline with its times inside the range the engine computes with.
fn clamped(timeline: &[TimelineStep]) -> std::borrow::Cow<'_, [TimelineStep]> {
    let clamp = super::scheduler::clamp_clock;
    if timeline.iter().all(|s| clamp(s.t_ms) == s.t_ms) {
        return timeline.into();
    }
    timeline
        .iter()
        .map(|s| TimelineStep {
            t_ms: clamp(s.t_ms),
            snapshot: s.snapshot.clone(),
        })
        .collect::<Vec<_>>()
        .into()
}

/// A simulation under way: the engine, and the plays so far (the last one on screen).
struct Replay {
    engine: Scheduler,
    plays: Vec<SimulatedPlay>,
    tz: Tz,
}

impl Replay {
    /// Plays from the timeline's first step to `end_ms`; whether it stopped at
    /// [`MAX_SIMULATED_PLAYS`].
    fn run(&mut self, timeline: &[TimelineStep], end_ms: i64) -> bool {
        let mut now = timeline[0].t_ms;
        let mut snapshot = &timeline[0].snapshot;
        let mut next_step = 1;
        let mut current_end: Option<i64> = None;
        loop {
            let ends_at = match current_end {
                Some(ends_at) => ends_at,
                None if self.plays.len() >= MAX_SIMULATED_PLAYS => return true,
                None => {
                    let decision = self.engine.decide(snapshot, now);
                    *current_end.insert(self.start(decision, now))
                }
            };
            match timeline.get(next_step) {
                Some(step) if step.t_ms <= ends_at => {
                    now = step.t_ms;
                    snapshot = &step.snapshot;
                    next_step += 1;
                    if now == ends_at {
                        // The ad ends as the audience changes: decide with the new audience.
                        self.finish(now, true);
                        current_end = None;
                    } else if now >= end_ms {
                        self.finish(now, false);
                        return false;
                    } else if let Some(decision) = self.engine.should_interrupt(snapshot, now) {
                        self.interrupt(decision, now);
                        current_end = self.plays.last().map(|p| p.ended_at_ms);
                    }
                }
                _ => {
                    now = ends_at;
                    self.finish(now, true);
                    current_end = None;
                }
            }
            if now >= end_ms {
                return false;
            }
        }
    }

    /// Starts the decided ad at `now`; when it will end if it plays to the end.
    fn start(&mut self, decision: Decision, now: i64) -> i64 {
        self.engine.ad_started(&decision.ad_id, now);
        let ends = now + decision.duration_ms;
        self.plays.push(SimulatedPlay {
            at: format_utc(now),
            local: format_local(self.tz, now),
            at_ms: now,
            ended_at_ms: ends,
            on_screen_ms: decision.duration_ms,
            completed: true,
            interrupted_by: None,
            decision,
        });
        ends
    }

    /// Ends the play on screen at `now`.
    fn finish(&mut self, now: i64, completed: bool) {
        if let Some(play) = self.plays.last_mut() {
            self.engine.ad_ended(&play.decision.ad_id, now, completed);
            play.ended_at_ms = now;
            play.on_screen_ms = now - play.at_ms;
            play.completed = completed;
        }
    }

    /// The play on screen gives way to `decision` at `now`.
    fn interrupt(&mut self, decision: Decision, now: i64) {
        if let (Some(play), DecisionSource::Rule { rule_id, .. }) =
            (self.plays.last_mut(), &decision.source)
        {
            play.interrupted_by = Some(rule_id.clone());
        }
        self.finish(now, false);
        self.start(decision, now);
    }
}

fn summarise(
    rules: &RuleSet,
    plays: &[SimulatedPlay],
    start_ms: i64,
    end_ms: i64,
    truncated: bool,
) -> SimulationSummary {
    let document = rules.document();
    let mut summary = SimulationSummary {
        from: format_utc(start_ms),
        to: format_utc(end_ms),
        simulated_s: (end_ms - start_ms) as f64 / 1000.0,
        plays: plays.len(),
        interrupts: 0,
        truncated,
        default_loop: LoopSummary::default(),
        ads: document
            .ads
            .iter()
            .map(|ad| {
                let target = ad.share_of_voice;
                (
                    ad.id.clone(),
                    AdSummary {
                        share_of_voice_target: target,
                        ..AdSummary::default()
                    },
                )
            })
            .collect(),
        rules: document
            .rules
            .iter()
            .map(|rule| {
                let target = rule.share_of_voice;
                (
                    rule.id.clone(),
                    RuleSummary {
                        share_of_voice_target: target,
                        ..RuleSummary::default()
                    },
                )
            })
            .collect(),
        caps_hit: 0,
        cooldowns_hit: 0,
    };
    for play in plays {
        summary.count(play);
    }
    let total_s = plays.iter().map(|p| p.on_screen_ms).sum::<i64>() as f64 / 1000.0;
    summary.set_shares(total_s);
    summary
}

impl SimulationSummary {
    /// Adds one play to the ads', rules' and loop's counts.
    fn count(&mut self, play: &SimulatedPlay) {
        let seconds = play.on_screen_ms as f64 / 1000.0;
        if let Some(ad) = self.ads.get_mut(&play.decision.ad_id) {
            ad.plays += 1;
            ad.completed += usize::from(play.completed);
            ad.seconds += seconds;
        }
        match &play.decision.source {
            DecisionSource::Rule { rule_id, .. } => {
                if let Some(rule) = self.rules.get_mut(rule_id) {
                    rule.triggers += 1;
                    rule.seconds += seconds;
                }
            }
            DecisionSource::DefaultLoop { .. } => {
                self.default_loop.plays += 1;
                self.default_loop.seconds += seconds;
            }
        }
        self.interrupts += usize::from(play.interrupted_by.is_some());
        let skipped = &play.decision.reason.skipped;
        self.caps_hit += usize::from(skipped.iter().any(|s| {
            matches!(
                s.reason,
                RuleSkipReason::RuleCap { .. } | RuleSkipReason::AdCap { .. }
            )
        }));
        self.cooldowns_hit += usize::from(
            skipped
                .iter()
                .any(|s| matches!(s.reason, RuleSkipReason::Cooldown { .. })),
        );
        for skip in skipped {
            if let Some(rule) = self.rules.get_mut(&skip.rule_id) {
                *rule
                    .skipped
                    .entry(skip_kind(&skip.reason).to_string())
                    .or_default() += 1;
            }
        }
    }

    /// Rounds the seconds and gives each ad and rule its share of the `total_s` on screen.
    fn set_shares(&mut self, total_s: f64) {
        let share = |seconds: f64| {
            if total_s > 0.0 {
                round4(seconds / total_s)
            } else {
                0.0
            }
        };
        for ad in self.ads.values_mut() {
            ad.seconds = round4(ad.seconds);
            ad.share_of_voice = share(ad.seconds);
        }
        for rule in self.rules.values_mut() {
            rule.seconds = round4(rule.seconds);
            rule.share_of_voice = share(rule.seconds);
        }
        self.default_loop.seconds = round4(self.default_loop.seconds);
    }
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// A simulation's inputs from text, as the CLI and the web package take them: a rules document
/// (JSON) and a timeline (JSON lines, read in the document's time zone), for [`simulate`].
pub fn parse_simulation(
    rules_json: &str,
    timeline_jsonl: &str,
) -> Result<(RuleSet, Vec<TimelineStep>), RulesError> {
    let rules = parse_rules(rules_json)?;
    let timeline = parse_timeline(timeline_jsonl, rules.time_zone())?;
    Ok((rules, timeline))
}

/// Writes a report as the CLI prints it: one JSON line per play, then one line
/// `{"summary": {...}}`.
pub fn write_report(report: &SimulationReport, out: &mut impl Write) -> std::io::Result<()> {
    for play in &report.plays {
        serde_json::to_writer(&mut *out, play)?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(&mut *out, &serde_json::json!({ "summary": report.summary }))?;
    out.write_all(b"\n")
}

/// `glance simulate --rules RULES --timeline TIMELINE`: validates the rules, replays the
/// timeline and prints the report (see [`write_report`]). Returns the summary for the exit code.
pub fn run_simulate_cli(
    rules_path: &Path,
    timeline_path: &Path,
    out: &mut impl Write,
) -> Result<SimulationSummary, RulesError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let (rules, timeline) = parse_simulation(&read(rules_path)?, &read(timeline_path)?)?;
    let report = simulate(&rules, &timeline);
    write_report(&report, out).map_err(|source| RulesError::Io {
        path: "<output>".to_string(),
        source,
    })?;
    Ok(report.summary)
}
