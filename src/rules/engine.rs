//! The stateful decision engine: rules + play history → the next ad, with its reason.
//! See `docs/rules.md` for the rules this code implements.

use std::collections::VecDeque;

use serde::Serialize;

use super::clock::{LocalClock, start_of_local_day};
use super::condition::{ConditionTrace, EvalContext, describe_trace, holds, holds_traced};
use super::document::{AdKind, Caps};
use super::error::RulesError;
use super::validate::{Choice, CompiledRule, PickKind, RuleSet, parse_rules};
use crate::audience::AudienceSnapshot;

const HOUR_MS: i64 = 3_600_000;
/// Clock inputs are clamped to ±250,000 years, inside chrono's range, so date arithmetic on
/// nonsense clocks cannot overflow.
const CLOCK_LIMIT_MS: i64 = 250_000 * 366 * 24 * HOUR_MS;

/// Clamps a host clock value to the range the engine computes with.
pub(crate) fn clamp_clock(now_ms: i64) -> i64 {
    now_ms.clamp(-CLOCK_LIMIT_MS, CLOCK_LIMIT_MS)
}
/// History older than this can no longer affect an hourly or daily cap (a DST day has 25 hours).
const HISTORY_KEEP_MS: i64 = 49 * HOUR_MS;
/// Matches ranked below the winner listed in `reason.skipped`; with hundreds of rules the rest
/// would only be noise (and cost), so they are counted in `outrankedNotListed`.
const OUTRANKED_LISTED: usize = 10;
/// Plays kept for [`RuleEngine::recent_plays`].
const RECENT_PLAYS_KEPT: usize = 100;

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
    pub reason: SkipReason,
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
pub enum SkipReason {
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

/// Start times (UTC ms, ascending) of recent plays of one ad or triggers of one rule.
#[derive(Debug, Clone, Default)]
struct StartLog(VecDeque<i64>);

impl StartLog {
    fn push(&mut self, at_ms: i64) {
        // Keep ascending even if a host clock steps back, so binary searches stay valid.
        let at_ms = self.0.back().map_or(at_ms, |last| at_ms.max(*last));
        self.0.push_back(at_ms);
        while self
            .0
            .front()
            .is_some_and(|first| *first < at_ms - HISTORY_KEEP_MS)
        {
            self.0.pop_front();
        }
    }

    fn count_since(&self, since_ms: i64) -> u32 {
        let first = self.0.partition_point(|t| *t < since_ms);
        (self.0.len() - first) as u32
    }

    fn last(&self) -> Option<i64> {
        self.0.back().copied()
    }
}

/// Screen time of the current local day, for share of voice.
#[derive(Debug, Clone, Default)]
struct ScreenTime {
    day: Option<chrono::NaiveDate>,
    total_ms: i64,
    by_ad: Vec<i64>,
    by_rule: Vec<i64>,
}

#[derive(Debug, Clone)]
struct Playing {
    ad_id: String,
    ad: Option<usize>,
    rule: Option<usize>,
    rule_id: Option<String>,
    /// `None` for the default loop and for plays the engine did not decide.
    priority: Option<i32>,
    started_ms: i64,
    min_on_screen_ms: i64,
}

/// What `decide` proposed; committed by `ad_started` only if that ad really starts, so calling
/// `decide` twice without playing does not advance rotations.
#[derive(Debug, Clone)]
struct Pending {
    ad: usize,
    rule: Option<usize>,
    priority: Option<i32>,
    min_on_screen_ms: i64,
    rotation: Option<(usize, Vec<i64>)>,
    next_loop_position: Option<usize>,
}

/// Per-decision facts shared by the candidate checks.
struct Moment {
    now_ms: i64,
    day_start_ms: i64,
    today: chrono::NaiveDate,
}

/// The decision engine. Deterministic: the same rules, history and inputs give the same
/// decision, natively and in wasm (no system clock, no randomness).
#[derive(Debug, Clone)]
pub struct RuleEngine {
    rules: RuleSet,
    ad_starts: Vec<StartLog>,
    rule_starts: Vec<StartLog>,
    /// Smooth weighted round-robin state per rule, aligned with the rule's choices.
    rotations: Vec<Vec<i64>>,
    loop_position: usize,
    screen_time: ScreenTime,
    playing: Option<Playing>,
    /// The ad most recently started, so share-of-voice catch-up avoids back-to-back repeats.
    last_started: Option<usize>,
    pending: Option<Pending>,
    recent: VecDeque<PlayRecord>,
}

impl RuleEngine {
    pub fn new(rules: RuleSet) -> Self {
        let ads = rules.ads.len();
        let rule_count = rules.rules.len();
        Self {
            rotations: rules
                .rules
                .iter()
                .map(|r| vec![0; r.choices.len()])
                .collect(),
            ad_starts: vec![StartLog::default(); ads],
            rule_starts: vec![StartLog::default(); rule_count],
            loop_position: 0,
            screen_time: ScreenTime {
                by_ad: vec![0; ads],
                by_rule: vec![0; rule_count],
                ..ScreenTime::default()
            },
            playing: None,
            last_started: None,
            pending: None,
            recent: VecDeque::new(),
            rules,
        }
    }

    /// Parses, validates and builds an engine with empty history.
    pub fn from_json(json: &str) -> Result<Self, RulesError> {
        Ok(Self::new(parse_rules(json)?))
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Validates `json` fully, then swaps it in. On error nothing changes. History (caps,
    /// cooldowns, rotations, share of voice) is kept for ads and rules whose ids still exist.
    pub fn set_rules(&mut self, json: &str) -> Result<(), RulesError> {
        let rules = parse_rules(json)?;
        self.replace_rules(rules);
        Ok(())
    }

    /// Swaps in an already validated rule set, keeping history by id (see [`Self::set_rules`]).
    pub fn replace_rules(&mut self, rules: RuleSet) {
        let old = std::mem::replace(&mut self.rules, rules);
        let new = &self.rules;
        let old_ad = |id: &str| old.ad_index.get(id).copied();
        let old_rule = |id: &str| old.rules.iter().position(|r| r.id == id);

        self.ad_starts = new
            .ads
            .iter()
            .map(|ad| {
                old_ad(&ad.id)
                    .map(|i| self.ad_starts[i].clone())
                    .unwrap_or_default()
            })
            .collect();
        self.rule_starts = new
            .rules
            .iter()
            .map(|r| {
                old_rule(&r.id)
                    .map(|i| self.rule_starts[i].clone())
                    .unwrap_or_default()
            })
            .collect();
        // A rotation is only meaningful for the same list of ads and weights.
        self.rotations = new
            .rules
            .iter()
            .map(|r| {
                old_rule(&r.id)
                    .filter(|&i| {
                        let ids = |set: &RuleSet, rule: &CompiledRule| {
                            rule.choices
                                .iter()
                                .map(|c| (set.ads[c.ad].id.clone(), c.weight))
                                .collect::<Vec<_>>()
                        };
                        ids(&old, &old.rules[i]) == ids(new, r)
                    })
                    .map(|i| self.rotations[i].clone())
                    .unwrap_or_else(|| vec![0; r.choices.len()])
            })
            .collect();
        let loop_ids = |set: &RuleSet| {
            set.default_loop
                .iter()
                .map(|&i| set.ads[i].id.clone())
                .collect::<Vec<_>>()
        };
        if loop_ids(&old) != loop_ids(new) {
            self.loop_position = 0;
        }
        self.screen_time.by_ad = new
            .ads
            .iter()
            .map(|ad| old_ad(&ad.id).map_or(0, |i| self.screen_time.by_ad[i]))
            .collect();
        self.screen_time.by_rule = new
            .rules
            .iter()
            .map(|r| old_rule(&r.id).map_or(0, |i| self.screen_time.by_rule[i]))
            .collect();
        self.last_started = self
            .last_started
            .and_then(|a| new.ad_index.get(&old.ads[a].id).copied());
        if let Some(playing) = &mut self.playing {
            playing.ad = new.ad_index.get(&playing.ad_id).copied();
            playing.rule = playing
                .rule_id
                .as_deref()
                .and_then(|id| new.rules.iter().position(|r| r.id == id));
        }
        self.pending = None;
    }

    /// The ad on screen, as reported by `ad_started`.
    pub fn now_playing(&self) -> Option<&str> {
        self.playing.as_ref().map(|p| p.ad_id.as_str())
    }

    /// The last plays (oldest first), up to 100.
    pub fn recent_plays(&self) -> impl Iterator<Item = &PlayRecord> {
        self.recent.iter()
    }

    /// What should play next (call when the current ad ends, or when nothing plays). Does not
    /// change history: `ad_started` commits it.
    pub fn decide(&mut self, snapshot: &AudienceSnapshot, now_ms: i64) -> Decision {
        let now_ms = clamp_clock(now_ms);
        let (ctx, moment) = self.moment(snapshot, now_ms);
        let mut ctx = ctx;
        let matched = self.matching_rules(&mut ctx, &moment);
        let mut skipped = Vec::new();
        let winner =
            matched
                .iter()
                .enumerate()
                .find_map(|(rank, &r)| match self.check_rule(r, &moment) {
                    Ok(pick) => Some((rank, r, pick)),
                    Err(reason) => {
                        skipped.push(self.skipped(r, reason));
                        None
                    }
                });
        match winner {
            Some((rank, r, pick)) => {
                let below = &matched[rank + 1..];
                for &other in below.iter().take(OUTRANKED_LISTED) {
                    skipped.push(self.skipped(
                        other,
                        SkipReason::Outranked {
                            by_rule_id: self.rules.rules[r].id.clone(),
                        },
                    ));
                }
                let mut decision = self.rule_decision(r, pick, &mut ctx, skipped, None);
                decision.reason.outranked_not_listed = below.len().saturating_sub(OUTRANKED_LISTED);
                decision
            }
            None => self.loop_decision(&ctx, &moment, skipped),
        }
    }

    /// A decision to cut into the ad on screen, if a rule with strictly higher priority (the
    /// default loop ranks below every rule) matches, may interrupt, is not capped or cooling down,
    /// and the current ad has been on screen at least its minimum time. Call on every new
    /// snapshot while an ad plays.
    pub fn should_interrupt(
        &mut self,
        snapshot: &AudienceSnapshot,
        now_ms: i64,
    ) -> Option<Decision> {
        let now_ms = clamp_clock(now_ms);
        let playing = self.playing.clone()?;
        let on_screen_ms = now_ms - playing.started_ms;
        if on_screen_ms < playing.min_on_screen_ms {
            return None;
        }
        let (mut ctx, moment) = self.moment(snapshot, now_ms);
        let matched = self.matching_rules(&mut ctx, &moment);
        let mut skipped = Vec::new();
        for &r in &matched {
            let rule = &self.rules.rules[r];
            if let Some(current) = playing.priority
                && rule.priority <= current
            {
                // Matches are sorted by priority: nothing further can be higher.
                break;
            }
            if !rule.can_interrupt {
                skipped.push(self.skipped(r, SkipReason::CannotInterrupt));
                continue;
            }
            let pick = match self.check_rule(r, &moment) {
                Ok(pick) => pick,
                Err(reason) => {
                    skipped.push(self.skipped(r, reason));
                    continue;
                }
            };
            if Some(pick.ad) == playing.ad {
                skipped.push(self.skipped(r, SkipReason::AlreadyOnScreen));
                continue;
            }
            let interrupts = InterruptTrace {
                ad_id: playing.ad_id.clone(),
                rule_id: playing.rule_id.clone(),
                on_screen_ms,
            };
            return Some(self.rule_decision(r, pick, &mut ctx, skipped, Some(interrupts)));
        }
        None
    }

    /// Records that `ad_id` started playing (normally the ad of the last decision). A play still
    /// on screen is ended first as not completed. Ids not in the catalogue are tracked as on
    /// screen but count towards nothing.
    pub fn ad_started(&mut self, ad_id: &str, now_ms: i64) {
        let now_ms = clamp_clock(now_ms);
        if let Some(previous) = self.playing.clone() {
            self.ad_ended(&previous.ad_id, now_ms, false);
        }
        let ad = self.rules.ad_index.get(ad_id).copied();
        let pending = self.pending.take().filter(|p| Some(p.ad) == ad);
        let mut playing = Playing {
            ad_id: ad_id.to_string(),
            ad,
            rule: None,
            rule_id: None,
            priority: None,
            started_ms: now_ms,
            min_on_screen_ms: ad
                .and_then(|a| self.rules.ads[a].min_on_screen_ms)
                .unwrap_or(self.rules.min_on_screen_ms),
        };
        if let Some(pending) = pending {
            playing.rule = pending.rule;
            playing.rule_id = pending.rule.map(|r| self.rules.rules[r].id.clone());
            playing.priority = pending.priority;
            playing.min_on_screen_ms = pending.min_on_screen_ms;
            if let Some(r) = pending.rule {
                self.rule_starts[r].push(now_ms);
            }
            if let Some((r, state)) = pending.rotation {
                self.rotations[r] = state;
            }
            if let Some(position) = pending.next_loop_position {
                self.loop_position = position;
            }
        }
        if let Some(a) = ad {
            self.ad_starts[a].push(now_ms);
        }
        self.last_started = ad;
        self.playing = Some(playing);
    }

    /// Records that `ad_id` left the screen (`completed`: it played to its end rather than being
    /// interrupted or failing). Its screen time counts towards share of voice. Ignored when
    /// `ad_id` is not the ad on screen.
    pub fn ad_ended(&mut self, ad_id: &str, now_ms: i64, completed: bool) {
        let now_ms = clamp_clock(now_ms);
        let Some(playing) = self.playing.take_if(|p| p.ad_id == ad_id) else {
            return;
        };
        let on_screen_ms = (now_ms - playing.started_ms).max(0);
        let today = LocalClock::at(self.rules.time_zone, now_ms).date;
        let screen = &mut self.screen_time;
        if screen.day != Some(today) {
            screen.day = Some(today);
            screen.total_ms = 0;
            screen.by_ad.iter_mut().for_each(|t| *t = 0);
            screen.by_rule.iter_mut().for_each(|t| *t = 0);
        }
        screen.total_ms += on_screen_ms;
        if let Some(a) = playing.ad {
            screen.by_ad[a] += on_screen_ms;
        }
        if let Some(r) = playing.rule {
            screen.by_rule[r] += on_screen_ms;
        }
        if self.recent.len() == RECENT_PLAYS_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(PlayRecord {
            ad_id: playing.ad_id,
            rule_id: playing.rule_id,
            started_ms: playing.started_ms,
            ended_ms: now_ms,
            completed,
        });
    }

    fn moment<'s>(&self, snapshot: &'s AudienceSnapshot, now_ms: i64) -> (EvalContext<'s>, Moment) {
        let ctx = EvalContext::new(snapshot, now_ms, self.rules.time_zone);
        let today = ctx.doc_clock.date;
        let moment = Moment {
            now_ms,
            day_start_ms: start_of_local_day(self.rules.time_zone, today),
            today,
        };
        (ctx, moment)
    }

    /// Indices of enabled rules whose conditions hold, best first: priority (higher first), then
    /// share-of-voice deficit (larger first), then document order.
    fn matching_rules(&self, ctx: &mut EvalContext<'_>, moment: &Moment) -> Vec<usize> {
        let mut matched: Vec<(usize, f64)> = self
            .rules
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| {
                rule.enabled
                    && rule
                        .when
                        .as_ref()
                        .is_none_or(|cond| holds(cond, ctx, rule.time_zone))
            })
            .map(|(i, _)| (i, 0.0))
            .collect();
        // Deficits only matter for ordering when there is something to order.
        if matched.len() > 1 {
            for (r, deficit) in &mut matched {
                *deficit = self.rule_deficit(*r, moment);
            }
        }
        let rules = &self.rules.rules;
        matched.sort_by(|(a, da), (b, db)| {
            rules[*b]
                .priority
                .cmp(&rules[*a].priority)
                .then(db.total_cmp(da))
                .then(a.cmp(b))
        });
        matched.into_iter().map(|(r, _)| r).collect()
    }

    fn share_today(&self, moment: &Moment, seconds: impl Fn(&ScreenTime) -> i64) -> f64 {
        let screen = &self.screen_time;
        if screen.day != Some(moment.today) || screen.total_ms == 0 {
            return 0.0;
        }
        seconds(screen) as f64 / screen.total_ms as f64
    }

    fn ad_deficit(&self, ad: usize, moment: &Moment) -> Option<f64> {
        let target = self.rules.ads[ad].share_of_voice?;
        Some(target - self.share_today(moment, |s| s.by_ad[ad]))
    }

    /// How far the rule (or its single ad) is behind its share-of-voice target; 0 without targets.
    fn rule_deficit(&self, r: usize, moment: &Moment) -> f64 {
        let rule = &self.rules.rules[r];
        let rule_deficit = rule
            .share_of_voice
            .map(|target| target - self.share_today(moment, |s| s.by_rule[r]));
        let ad_deficit = match rule.pick_kind {
            PickKind::Single => rule
                .choices
                .first()
                .and_then(|c| self.ad_deficit(c.ad, moment)),
            _ => None,
        };
        match (rule_deficit, ad_deficit) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or(0.0),
        }
    }

    fn cap_hit(
        &self,
        caps: &Caps,
        log: &StartLog,
        moment: &Moment,
    ) -> Option<(CapWindow, u32, u32)> {
        if let Some(limit) = caps.per_hour {
            let count = log.count_since(moment.now_ms - HOUR_MS + 1);
            if count >= limit {
                return Some((CapWindow::Hour, limit, count));
            }
        }
        if let Some(limit) = caps.per_day {
            let count = log.count_since(moment.day_start_ms);
            if count >= limit {
                return Some((CapWindow::Day, limit, count));
            }
        }
        None
    }

    /// Why an ad may not play now: a cap, or today's share already at its target.
    fn ad_block(&self, ad: usize, moment: &Moment) -> Option<AdBlock> {
        if let Some((window, limit, count)) =
            self.cap_hit(&self.rules.ads[ad].caps, &self.ad_starts[ad], moment)
        {
            return Some(AdBlock::Cap {
                window,
                limit,
                count,
            });
        }
        let target = self.rules.ads[ad].share_of_voice?;
        let achieved = self.share_today(moment, |s| s.by_ad[ad]);
        (achieved >= target).then_some(AdBlock::ShareOfVoice { target, achieved })
    }

    /// Whether a matched rule may play now, and what it would play.
    fn check_rule(&self, r: usize, moment: &Moment) -> Result<RulePick, SkipReason> {
        let rule = &self.rules.rules[r];
        let log = &self.rule_starts[r];
        if let Some((window, limit, count)) = self.cap_hit(&rule.caps, log, moment) {
            return Err(SkipReason::RuleCap {
                window,
                limit,
                count,
            });
        }
        if rule.cooldown_ms > 0
            && let Some(last) = log.last()
        {
            let remaining_ms = last + rule.cooldown_ms - moment.now_ms;
            if remaining_ms > 0 {
                return Err(SkipReason::Cooldown {
                    cooldown_ms: rule.cooldown_ms,
                    remaining_ms,
                });
            }
        }
        if let Some(target) = rule.share_of_voice {
            let achieved = self.share_today(moment, |s| s.by_rule[r]);
            if achieved >= target {
                return Err(SkipReason::ShareOfVoiceReached {
                    target,
                    achieved: round4(achieved),
                });
            }
        }
        let blocked: Vec<Option<AdBlock>> = rule
            .choices
            .iter()
            .map(|c| self.ad_block(c.ad, moment))
            .collect();
        let available: Vec<bool> = blocked.iter().map(Option::is_none).collect();
        let Some(pick) = smooth_weighted_pick(&rule.choices, &self.rotations[r], &available) else {
            // Report the first choice's block (all are blocked).
            let ad_id = self.rules.ads[rule.choices[0].ad].id.clone();
            return Err(match blocked.into_iter().flatten().next() {
                Some(AdBlock::Cap {
                    window,
                    limit,
                    count,
                }) => SkipReason::AdCap {
                    ad_id,
                    window,
                    limit,
                    count,
                },
                Some(AdBlock::ShareOfVoice { target, achieved }) => {
                    SkipReason::AdShareOfVoiceReached {
                        ad_id,
                        target,
                        achieved: round4(achieved),
                    }
                }
                None => {
                    unreachable!("smooth_weighted_pick only fails when every choice is blocked")
                }
            });
        };
        Ok(RulePick {
            ad: rule.choices[pick.index].ad,
            rotation: pick.state,
            blocked: available.iter().map(|a| !a).collect(),
        })
    }

    fn skipped(&self, r: usize, reason: SkipReason) -> SkippedRule {
        let rule = &self.rules.rules[r];
        let window_text = |w: &CapWindow| match w {
            CapWindow::Hour => "in the last 60 minutes",
            CapWindow::Day => "today",
        };
        let message = match &reason {
            SkipReason::RuleCap {
                window,
                limit,
                count,
            } => format!(
                "rule cap reached: triggered {count} times {} (cap {limit})",
                window_text(window)
            ),
            SkipReason::Cooldown {
                cooldown_ms,
                remaining_ms,
            } => format!(
                "cooling down: {:.1} s of {:.1} s left",
                *remaining_ms as f64 / 1000.0,
                *cooldown_ms as f64 / 1000.0
            ),
            SkipReason::AdCap {
                ad_id,
                window,
                limit,
                count,
            } => format!(
                "ad cap reached: \"{ad_id}\" played {count} times {} (cap {limit})",
                window_text(window)
            ),
            SkipReason::ShareOfVoiceReached { target, achieved } => format!(
                "share-of-voice target reached: {:.1}% of today's screen time (target {:.1}%)",
                achieved * 100.0,
                target * 100.0
            ),
            SkipReason::AdShareOfVoiceReached {
                ad_id,
                target,
                achieved,
            } => format!(
                "ad \"{ad_id}\" reached its share-of-voice target: {:.1}% of today's screen time (target {:.1}%)",
                achieved * 100.0,
                target * 100.0
            ),
            SkipReason::Outranked { by_rule_id } => {
                format!("matched but rule \"{by_rule_id}\" ranks higher")
            }
            SkipReason::CannotInterrupt => {
                "matched but canInterrupt is false: waits for the current ad to end".to_string()
            }
            SkipReason::AlreadyOnScreen => "matched but its ad is already on screen".to_string(),
        };
        SkippedRule {
            rule_id: rule.id.clone(),
            priority: rule.priority,
            reason,
            message,
        }
    }

    fn local_time_text(&self, ctx: &EvalContext<'_>) -> String {
        format!(
            "{} {}",
            ctx.doc_clock.describe(),
            self.rules.time_zone.name()
        )
    }

    fn rule_decision(
        &mut self,
        r: usize,
        pick: RulePick,
        ctx: &mut EvalContext<'_>,
        skipped: Vec<SkippedRule>,
        interrupts: Option<InterruptTrace>,
    ) -> Decision {
        let rules = &self.rules;
        let rule = &rules.rules[r];
        let ad = &rules.ads[pick.ad];
        let mut conditions = Vec::new();
        if let Some(cond) = &rule.when {
            holds_traced(cond, ctx, rule.time_zone, &mut conditions);
        }
        let held: Vec<String> = conditions
            .iter()
            .filter(|t| t.held)
            .map(describe_trace)
            .collect();
        let mut summary = format!(
            "rule \"{}\" (priority {}) {}",
            rule.id,
            rule.priority,
            if held.is_empty() {
                "has no conditions".to_string()
            } else {
                format!("matched: {}", held.join("; "))
            }
        );
        if let Some(interrupts) = &interrupts {
            summary.push_str(&format!(
                "; interrupts \"{}\" after {:.1} s",
                interrupts.ad_id,
                interrupts.on_screen_ms as f64 / 1000.0
            ));
        }
        let pick_trace = (rule.pick_kind != PickKind::Single).then(|| PickTrace {
            method: if rule.pick_kind == PickKind::Weighted {
                PickMethod::WeightedRoundRobin
            } else {
                PickMethod::TaggedRotation
            },
            candidates: rule
                .choices
                .iter()
                .zip(&pick.blocked)
                .map(|(c, blocked)| PickCandidate {
                    ad_id: rules.ads[c.ad].id.clone(),
                    weight: c.weight,
                    blocked: *blocked,
                })
                .collect(),
        });
        let min_on_screen_ms = rule
            .min_on_screen_ms
            .or(ad.min_on_screen_ms)
            .unwrap_or(rules.min_on_screen_ms);
        let decision = Decision {
            ad_id: ad.id.clone(),
            media: ad.media.clone(),
            kind: ad.kind,
            duration_ms: ad.duration_ms,
            min_on_screen_ms,
            decided_at_ms: ctx.now_ms,
            source: DecisionSource::Rule {
                rule_id: rule.id.clone(),
                priority: rule.priority,
            },
            reason: Reason {
                summary,
                local_time: self.local_time_text(ctx),
                conditions,
                pick: pick_trace,
                skipped,
                outranked_not_listed: 0,
                interrupts,
            },
        };
        self.pending = Some(Pending {
            ad: pick.ad,
            rule: Some(r),
            priority: Some(rule.priority),
            min_on_screen_ms,
            rotation: Some((r, pick.rotation)),
            next_loop_position: None,
        });
        decision
    }

    fn loop_decision(
        &mut self,
        ctx: &EvalContext<'_>,
        moment: &Moment,
        skipped: Vec<SkippedRule>,
    ) -> Decision {
        let rules = &self.rules;
        let lp = &rules.default_loop;
        let len = lp.len();
        let start = self.loop_position % len;
        let blocked: Vec<bool> = lp
            .iter()
            .map(|&a| self.ad_block(a, moment).is_some())
            .collect();
        // Visit positions in loop order from the current one, so ties resolve to "next in loop".
        let order = (0..len).map(|k| (start + k) % len);
        let catch_up = order
            .clone()
            .filter(|&p| !blocked[p])
            // Catching up never shows the same ad twice in a row when the loop has others.
            .filter(|&p| len == 1 || Some(lp[p]) != self.last_started)
            .filter_map(|p| Some((p, self.ad_deficit(lp[p], moment)?)))
            .filter(|(_, deficit)| *deficit > 0.0)
            .fold(None::<(usize, f64)>, |best, (p, d)| match best {
                Some((_, bd)) if bd >= d => best,
                _ => Some((p, d)),
            });
        // In order, skipping blocked ads and, when possible, a repeat of the ad just shown
        // (a loop like [a, b, a] or a blocked neighbour would otherwise show one ad twice).
        let in_order = order
            .clone()
            .find(|&p| !blocked[p] && Some(lp[p]) != self.last_started)
            .or_else(|| order.clone().find(|&p| !blocked[p]));
        let (position, method, note) = match (catch_up, in_order) {
            (Some((p, deficit)), _) => (
                p,
                PickMethod::ShareOfVoiceCatchUp,
                format!("behind its share-of-voice target by {:.1} points", deficit * 100.0),
            ),
            (None, Some(p)) => (p, PickMethod::LoopOrder, String::new()),
            // The screen must show something: with every loop ad blocked, the loop goes on in
            // order and caps and targets are exceeded.
            (None, None) => (
                start,
                PickMethod::LoopOrder,
                "every default-loop ad is capped or at its share-of-voice target, so these limits are ignored".to_string(),
            ),
        };
        let ad = &rules.ads[lp[position]];
        let mut summary = if skipped.is_empty() {
            "no rule matched".to_string()
        } else {
            format!(
                "{} matching rule(s) could not play (see skipped)",
                skipped.len()
            )
        };
        summary.push_str(&format!(
            "; default loop position {} of {len}: \"{}\"",
            position + 1,
            ad.id
        ));
        if !note.is_empty() {
            summary.push_str(&format!(" ({note})"));
        }
        let min_on_screen_ms = ad.min_on_screen_ms.unwrap_or(rules.min_on_screen_ms);
        let decision = Decision {
            ad_id: ad.id.clone(),
            media: ad.media.clone(),
            kind: ad.kind,
            duration_ms: ad.duration_ms,
            min_on_screen_ms,
            decided_at_ms: ctx.now_ms,
            source: DecisionSource::DefaultLoop { position },
            reason: Reason {
                summary,
                local_time: self.local_time_text(ctx),
                conditions: Vec::new(),
                pick: Some(PickTrace {
                    method,
                    candidates: lp
                        .iter()
                        .zip(&blocked)
                        .map(|(&a, blocked)| PickCandidate {
                            ad_id: rules.ads[a].id.clone(),
                            weight: 1,
                            blocked: *blocked,
                        })
                        .collect(),
                }),
                skipped,
                outranked_not_listed: 0,
                interrupts: None,
            },
        };
        self.pending = Some(Pending {
            ad: lp[position],
            rule: None,
            priority: None,
            min_on_screen_ms,
            rotation: None,
            // A catch-up play is inserted: the loop resumes where it was, so the other loop ads
            // keep alternating fairly.
            next_loop_position: Some(
                if method == PickMethod::ShareOfVoiceCatchUp && position != start {
                    start
                } else {
                    (position + 1) % len
                },
            ),
        });
        decision
    }
}

struct RulePick {
    ad: usize,
    rotation: Vec<i64>,
    blocked: Vec<bool>,
}

#[derive(Debug, Clone, Copy)]
enum AdBlock {
    Cap {
        window: CapWindow,
        limit: u32,
        count: u32,
    },
    ShareOfVoice {
        target: f64,
        achieved: f64,
    },
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

struct WeightedPick {
    index: usize,
    state: Vec<i64>,
}

/// Smooth weighted round-robin (as in nginx): every available choice gains its weight, the
/// largest current value wins (first on ties) and loses the total. Over any window each ad gets
/// its weight's share, interleaved rather than bunched. Capped choices sit out without changing
/// their state. `None` when no choice is available.
fn smooth_weighted_pick(
    choices: &[Choice],
    state: &[i64],
    available: &[bool],
) -> Option<WeightedPick> {
    let mut state = state.to_vec();
    let mut total = 0i64;
    let mut best: Option<usize> = None;
    for (i, choice) in choices.iter().enumerate() {
        if !available[i] {
            continue;
        }
        state[i] += i64::from(choice.weight);
        total += i64::from(choice.weight);
        if best.is_none_or(|b| state[i] > state[b]) {
            best = Some(i);
        }
    }
    let index = best?;
    state[index] -= total;
    Some(WeightedPick { index, state })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_weighted_round_robin_interleaves_by_weight() {
        let choices = [
            Choice { ad: 0, weight: 5 },
            Choice { ad: 1, weight: 1 },
            Choice { ad: 2, weight: 1 },
        ];
        let mut state = vec![0; 3];
        let mut sequence = Vec::new();
        for _ in 0..7 {
            let pick = smooth_weighted_pick(&choices, &state, &[true, true, true]).unwrap();
            sequence.push(pick.index);
            state = pick.state;
        }
        // nginx's documented sequence for weights 5,1,1: a a b a c a a.
        assert_eq!(sequence, vec![0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(state, vec![0, 0, 0], "a full cycle returns to the start");
    }

    #[test]
    fn capped_choices_sit_out_and_all_capped_gives_none() {
        let choices = [Choice { ad: 0, weight: 3 }, Choice { ad: 1, weight: 1 }];
        let pick = smooth_weighted_pick(&choices, &[0, 0], &[false, true]).unwrap();
        assert_eq!(pick.index, 1);
        assert_eq!(pick.state, vec![0, 0]);
        assert!(smooth_weighted_pick(&choices, &[0, 0], &[false, false]).is_none());
    }

    #[test]
    fn start_log_counts_windows_and_prunes_old_entries() {
        let mut log = StartLog::default();
        for t in [0, 10, 20, HOUR_MS, HISTORY_KEEP_MS + 15] {
            log.push(t);
        }
        assert_eq!(log.0.len(), 3, "0 and 10 are older than the kept history");
        assert_eq!(log.count_since(20), 3);
        assert_eq!(log.count_since(21), 2);
        assert_eq!(log.last(), Some(HISTORY_KEEP_MS + 15));
        log.push(5); // a clock stepping back stays ordered
        assert_eq!(log.last(), Some(HISTORY_KEEP_MS + 15));
    }
}
