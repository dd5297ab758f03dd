//! Choosing: which rules match, which of their ads may play now (caps, share of voice), and
//! the decision with its reason, from a rule or from the default loop.

use super::{
    CapWindow, Decision, DecisionSource, HOUR_MS, InterruptTrace, Moment, Pending, PickCandidate,
    PickMethod, PickTrace, Reason, RuleSkipReason, Scheduler, ScreenTime, SkippedRule, StartLog,
};
use crate::audience::AudienceSnapshot;
use crate::rules::clock::start_of_local_day;
use crate::rules::condition::{ConditionTrace, EvalContext, describe_trace, holds, holds_traced};
use crate::rules::document::Caps;
use crate::rules::validate::{Choice, CompiledAd, CompiledRule, PickKind};

impl Scheduler {
    pub(super) fn moment<'s>(
        &self,
        snapshot: &'s AudienceSnapshot,
        now_ms: i64,
    ) -> (EvalContext<'s>, Moment) {
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
    pub(super) fn matching_rules(&self, ctx: &mut EvalContext<'_>, moment: &Moment) -> Vec<usize> {
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
    pub(super) fn check_rule(&self, r: usize, moment: &Moment) -> Result<RulePick, RuleSkipReason> {
        let rule = &self.rules.rules[r];
        let log = &self.rule_starts[r];
        if let Some((window, limit, count)) = self.cap_hit(&rule.caps, log, moment) {
            return Err(RuleSkipReason::RuleCap {
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
                return Err(RuleSkipReason::Cooldown {
                    cooldown_ms: rule.cooldown_ms,
                    remaining_ms,
                });
            }
        }
        if let Some(target) = rule.share_of_voice {
            let achieved = self.share_today(moment, |s| s.by_rule[r]);
            if achieved >= target {
                return Err(RuleSkipReason::ShareOfVoiceReached {
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
                }) => RuleSkipReason::AdCap {
                    ad_id,
                    window,
                    limit,
                    count,
                },
                Some(AdBlock::ShareOfVoice { target, achieved }) => {
                    RuleSkipReason::AdShareOfVoiceReached {
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

    pub(super) fn skipped(&self, r: usize, reason: RuleSkipReason) -> SkippedRule {
        let rule = &self.rules.rules[r];
        let window_text = |w: &CapWindow| match w {
            CapWindow::Hour => "in the last 60 minutes",
            CapWindow::Day => "today",
        };
        let message = match &reason {
            RuleSkipReason::RuleCap {
                window,
                limit,
                count,
            } => format!(
                "rule cap reached: triggered {count} times {} (cap {limit})",
                window_text(window)
            ),
            RuleSkipReason::Cooldown {
                cooldown_ms,
                remaining_ms,
            } => format!(
                "cooling down: {:.1} s of {:.1} s left",
                *remaining_ms as f64 / 1000.0,
                *cooldown_ms as f64 / 1000.0
            ),
            RuleSkipReason::AdCap {
                ad_id,
                window,
                limit,
                count,
            } => format!(
                "ad cap reached: \"{ad_id}\" played {count} times {} (cap {limit})",
                window_text(window)
            ),
            RuleSkipReason::ShareOfVoiceReached { target, achieved } => format!(
                "share-of-voice target reached: {:.1}% of today's screen time (target {:.1}%)",
                achieved * 100.0,
                target * 100.0
            ),
            RuleSkipReason::AdShareOfVoiceReached {
                ad_id,
                target,
                achieved,
            } => format!(
                "ad \"{ad_id}\" reached its share-of-voice target: {:.1}% of today's screen time (target {:.1}%)",
                achieved * 100.0,
                target * 100.0
            ),
            RuleSkipReason::Outranked { by_rule_id } => {
                format!("matched but rule \"{by_rule_id}\" ranks higher")
            }
            RuleSkipReason::CannotInterrupt => {
                "matched but canInterrupt is false: waits for the current ad to end".to_string()
            }
            RuleSkipReason::AlreadyOnScreen => {
                "matched but its ad is already on screen".to_string()
            }
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

    pub(super) fn rule_decision(
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
        let summary = rule_summary(rule, &conditions, interrupts.as_ref());
        let pick_trace = self.pick_trace(rule, &pick.blocked);
        let min_on_screen_ms = rule
            .min_on_screen_ms
            .or(ad.min_on_screen_ms)
            .unwrap_or(rules.min_on_screen_ms);
        let source = DecisionSource::Rule {
            rule_id: rule.id.clone(),
            priority: rule.priority,
        };
        let decision = ad_decision(
            ad,
            min_on_screen_ms,
            ctx.now_ms,
            source,
            Reason {
                summary,
                local_time: self.local_time_text(ctx),
                conditions,
                pick: pick_trace,
                skipped,
                outranked_not_listed: 0,
                interrupts,
            },
        );
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

    /// How a rule with several ads chose among them (`None` for a rule with one ad).
    fn pick_trace(&self, rule: &CompiledRule, blocked: &[bool]) -> Option<PickTrace> {
        (rule.pick_kind != PickKind::Single).then(|| PickTrace {
            method: if rule.pick_kind == PickKind::Weighted {
                PickMethod::WeightedRoundRobin
            } else {
                PickMethod::TaggedRotation
            },
            candidates: rule
                .choices
                .iter()
                .zip(blocked)
                .map(|(c, blocked)| PickCandidate {
                    ad_id: self.rules.ads[c.ad].id.clone(),
                    weight: c.weight,
                    blocked: *blocked,
                })
                .collect(),
        })
    }

    /// Which position of the default loop plays, from `start`, with `blocked` ads (capped or
    /// at their share-of-voice target) left out where possible: an ad behind its target first,
    /// else the next in order. Also how it was chosen, and a note for the summary.
    fn loop_position_to_play(
        &self,
        start: usize,
        blocked: &[bool],
        moment: &Moment,
    ) -> (usize, PickMethod, String) {
        let lp = &self.rules.default_loop;
        let len = lp.len();
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
        match (catch_up, in_order) {
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
        }
    }

    pub(super) fn loop_decision(
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
        let (position, method, note) = self.loop_position_to_play(start, &blocked, moment);
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
        let source = DecisionSource::DefaultLoop { position };
        let decision = ad_decision(
            ad,
            min_on_screen_ms,
            ctx.now_ms,
            source,
            Reason {
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
        );
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

pub(super) struct RulePick {
    pub(super) ad: usize,
    pub(super) rotation: Vec<i64>,
    pub(super) blocked: Vec<bool>,
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

pub(super) struct WeightedPick {
    pub(super) index: usize,
    pub(super) state: Vec<i64>,
}

/// Smooth weighted round-robin (as in nginx): every available choice gains its weight, the
/// largest current value wins (first on ties) and loses the total. Over any window each ad gets
/// its weight's share, interleaved rather than bunched. Capped choices sit out without changing
/// their state. `None` when no choice is available.
pub(super) fn smooth_weighted_pick(
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

/// "rule "x" (priority 2) matched: ...; interrupts "y" after 3.0 s".
fn rule_summary(
    rule: &CompiledRule,
    conditions: &[ConditionTrace],
    interrupts: Option<&InterruptTrace>,
) -> String {
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
    if let Some(interrupts) = interrupts {
        summary.push_str(&format!(
            "; interrupts \"{}\" after {:.1} s",
            interrupts.ad_id,
            interrupts.on_screen_ms as f64 / 1000.0
        ));
    }
    summary
}

/// The decision to play `ad`, decided at `decided_at_ms` from `source` for `reason`.
fn ad_decision(
    ad: &CompiledAd,
    min_on_screen_ms: i64,
    decided_at_ms: i64,
    source: DecisionSource,
    reason: Reason,
) -> Decision {
    Decision {
        ad_id: ad.id.clone(),
        media: ad.media.clone(),
        kind: ad.kind,
        duration_ms: ad.duration_ms,
        min_on_screen_ms,
        decided_at_ms,
        source,
        reason,
    }
}
