//! Compiling a checked document: its ads, default loop and rules, each checked as it is
//! compiled, every problem collected.

use std::collections::{BTreeMap, HashMap};

use super::checker::Checker;
use super::overlap::check_overlapping_dayparts;
use super::{
    Choice, CompiledAd, CompiledRule, DEFAULT_MIN_ON_SCREEN_S, PickKind, RuleSet,
    media_url_problem, push_key,
};
use crate::rules::document::{Action, Ad, Rule, RulesDocument};
use crate::rules::error::ValidationIssue;

pub(super) fn compile(document: RulesDocument) -> Result<RuleSet, Vec<ValidationIssue>> {
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
    c.compile_dayparts();
    let ads = c.ads();
    let default_loop = c.default_loop();
    let rules = c.rules();
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

impl Checker<'_> {
    fn compile_dayparts(&mut self) {
        let doc = self.doc;
        for (name, daypart) in &doc.dayparts {
            let mut path = String::from("$.dayparts");
            push_key(&mut path, name);
            if let Some(window) = self.daypart_window(&path, daypart) {
                self.dayparts.insert(name.clone(), window);
            }
        }
    }

    fn ads(&mut self) -> Vec<CompiledAd> {
        let doc = self.doc;
        let mut ads = Vec::with_capacity(doc.ads.len());
        let mut share_of_voice_total = 0.0;
        for (i, ad) in doc.ads.iter().enumerate() {
            let compiled = self.ad(i, ad);
            share_of_voice_total += compiled.share_of_voice.unwrap_or(0.0);
            ads.push(compiled);
        }
        self.check_share_of_voice_total("$.ads", "ads'", share_of_voice_total);
        ads
    }

    fn ad(&mut self, i: usize, ad: &Ad) -> CompiledAd {
        let path = format!("$.ads[{i}]");
        if ad.id.trim().is_empty() {
            self.issue(format!("{path}.id"), "ad id must not be empty");
        } else if let Some(first) = self.ad_index.get(&ad.id) {
            self.issue(
                format!("{path}.id"),
                format!("duplicate ad id \"{}\" (also $.ads[{first}])", ad.id),
            );
        } else {
            self.ad_index.insert(ad.id.clone(), i);
        }
        if let Some(problem) = media_url_problem(&ad.media) {
            self.issue(format!("{path}.media"), problem);
        }
        if !(ad.duration_s.is_finite() && ad.duration_s >= 0.001 && ad.duration_s <= 86_400.0) {
            self.issue(
                format!("{path}.durationS"),
                format!(
                    "duration must be from 0.001 to 86400 seconds, got {}",
                    ad.duration_s
                ),
            );
        }
        let caps = self.caps(&format!("{path}.caps"), ad.caps);
        let min_on_screen =
            self.non_negative_seconds(format!("{path}.minOnScreenS"), ad.min_on_screen_s);
        let share_of_voice = self.share_target(format!("{path}.shareOfVoice"), ad.share_of_voice);
        CompiledAd {
            id: ad.id.clone(),
            media: ad.media.clone(),
            kind: ad.kind,
            duration_ms: (ad.duration_s * 1000.0).round() as i64,
            caps,
            min_on_screen_ms: min_on_screen,
            share_of_voice,
        }
    }

    /// Share-of-voice targets (of `whose`, at `path`) adding up to more than 1 cannot all be met.
    fn check_share_of_voice_total(&mut self, path: &str, whose: &str, total: f64) {
        if total > 1.0 + 1e-9 {
            self.issue(
                path,
                format!(
                    "{whose} shareOfVoice targets add up to {total:.3}, more than 1: they cannot all be met"
                ),
            );
        }
    }

    fn default_loop(&mut self) -> Vec<usize> {
        let doc = self.doc;
        if doc.default_loop.is_empty() {
            self.issue(
                "$.defaultLoop",
                "the default loop is empty: list at least one ad to show when no rule applies",
            );
        }
        doc.default_loop
            .iter()
            .enumerate()
            .filter_map(|(i, id)| self.ad_ref(format!("$.defaultLoop[{i}]"), id))
            .collect()
    }

    fn rules(&mut self) -> Vec<CompiledRule> {
        let doc = self.doc;
        let mut rules = Vec::with_capacity(doc.rules.len());
        let mut rule_ids: HashMap<&str, usize> = HashMap::new();
        let mut share_of_voice_total = 0.0;
        for (i, rule) in doc.rules.iter().enumerate() {
            let path = format!("$.rules[{i}]");
            if rule.id.trim().is_empty() {
                self.issue(format!("{path}.id"), "rule id must not be empty");
            } else if let Some(first) = rule_ids.get(rule.id.as_str()) {
                self.issue(
                    format!("{path}.id"),
                    format!("duplicate rule id \"{}\" (also $.rules[{first}])", rule.id),
                );
            } else {
                rule_ids.insert(&rule.id, i);
            }
            let compiled = self.rule(path, rule);
            if rule.enabled {
                share_of_voice_total += compiled.share_of_voice.unwrap_or(0.0);
            }
            rules.push(compiled);
        }
        self.check_share_of_voice_total("$.rules", "enabled rules'", share_of_voice_total);
        rules
    }

    /// One rule at `path`, its id already checked.
    fn rule(&mut self, path: String, rule: &Rule) -> CompiledRule {
        let rule_tz = rule
            .time_zone
            .as_deref()
            .and_then(|name| self.time_zone(&format!("{path}.timeZone"), name));
        let when = rule
            .when
            .as_ref()
            .and_then(|cond| self.condition(&format!("{path}.when"), cond));
        let (choices, pick_kind) = self.choices(&path, &rule.play);
        let caps = self.caps(&format!("{path}.caps"), rule.caps);
        let cooldown_ms = self
            .non_negative_seconds(format!("{path}.cooldownS"), rule.cooldown_s)
            .unwrap_or(0);
        let min_on_screen =
            self.non_negative_seconds(format!("{path}.minOnScreenS"), rule.min_on_screen_s);
        let share_of_voice = self.share_target(format!("{path}.shareOfVoice"), rule.share_of_voice);
        CompiledRule {
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
        }
    }

    /// The ads a rule's `play` may choose from, and how it chooses.
    fn choices(&mut self, path: &str, play: &Action) -> (Vec<Choice>, PickKind) {
        match play {
            Action::Ad(id) => (
                self.ad_ref(format!("{path}.play.ad"), id)
                    .map(|ad| vec![Choice { ad, weight: 1 }])
                    .unwrap_or_default(),
                PickKind::Single,
            ),
            Action::Pick(list) => {
                if list.is_empty() {
                    self.issue(format!("{path}.play.pick"), "pick needs at least one ad");
                }
                let mut choices = Vec::new();
                for (j, weighted) in list.iter().enumerate() {
                    if weighted.weight == 0 {
                        self.issue(
                            format!("{path}.play.pick[{j}].weight"),
                            "weight must be at least 1",
                        );
                    }
                    let ad_path = format!("{path}.play.pick[{j}].ad");
                    if let Some(ad) = self.ad_ref(ad_path, &weighted.ad) {
                        choices.push(Choice {
                            ad,
                            weight: weighted.weight,
                        });
                    }
                }
                (choices, PickKind::Weighted)
            }
            Action::Tagged(tag) => {
                let choices: Vec<Choice> = self
                    .doc
                    .ads
                    .iter()
                    .enumerate()
                    .filter(|(_, ad)| ad.tags.iter().any(|t| t == tag))
                    .map(|(ad, _)| Choice { ad, weight: 1 })
                    .collect();
                if choices.is_empty() {
                    self.issue(
                        format!("{path}.play.tagged"),
                        format!("no ad has the tag \"{tag}\""),
                    );
                }
                (choices, PickKind::Tagged)
            }
        }
    }
}
