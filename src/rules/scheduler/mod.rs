//! The stateful decision engine: rules + play history → the next ad, with its reason.
//! See `docs/rules.md` for the rules this code implements.
//!
//! Files: this one (the engine's state and what hosts call), `decision` (what a decision says,
//! with its reason), `choose` (the candidate checks and the decisions themselves).

mod choose;
mod decision;

pub use decision::{
    CapWindow, Decision, DecisionSource, InterruptTrace, PickCandidate, PickMethod, PickTrace,
    PlayRecord, Reason, RuleSkipReason, SkippedRule,
};

use std::collections::VecDeque;

use super::clock::LocalClock;
use super::error::RulesError;
use super::validate::{CompiledRule, RuleSet, parse_rules};
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
/// Plays kept for [`Scheduler::recent_plays`].
const RECENT_PLAYS_KEPT: usize = 100;

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

/// The rules' scheduler: which ad plays next and whether one cuts in. Deterministic: the same
/// rules, history and inputs give the same decision, natively and in wasm (no system clock, no
/// randomness).
#[derive(Debug, Clone)]
pub struct Scheduler {
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

impl Scheduler {
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
    pub(crate) fn replace_rules(&mut self, rules: RuleSet) {
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
                        RuleSkipReason::Outranked {
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
                skipped.push(self.skipped(r, RuleSkipReason::CannotInterrupt));
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
                skipped.push(self.skipped(r, RuleSkipReason::AlreadyOnScreen));
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
}

#[cfg(test)]
mod tests {
    use super::choose::smooth_weighted_pick;
    use super::*;
    use crate::rules::validate::Choice;

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
