//! The checks of a document's parts, each reporting its problems at their JSON path: numbers,
//! caps, ad references, dayparts and conditions.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::{Cmp, Cond, CondKind, Metric};
use crate::analysis::Gender;
use crate::rules::clock::{TimeWindow, parse_date, parse_time_of_day, parse_time_zone};
use crate::rules::document::{
    AudienceFilter, Caps, Comparison, ComparisonValue, Condition, DateRange, Daypart, GenderFilter,
    Operator, RulesDocument, Weekday,
};
use crate::rules::error::ValidationIssue;

pub(super) struct Checker<'a> {
    pub(super) doc: &'a RulesDocument,
    pub(super) issues: Vec<ValidationIssue>,
    pub(super) ad_index: HashMap<String, usize>,
    pub(super) dayparts: BTreeMap<String, TimeWindow>,
    pub(super) known_bands: HashSet<&'a str>,
}

impl Checker<'_> {
    pub(super) fn issue(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.issues.push(ValidationIssue::new(path, message));
    }

    pub(super) fn non_negative_seconds(&mut self, path: String, value: Option<f64>) -> Option<i64> {
        let seconds = value?;
        if !seconds.is_finite() || seconds < 0.0 {
            self.issue(path, format!("must be 0 or more seconds, got {seconds}"));
            return None;
        }
        Some((seconds * 1000.0).round() as i64)
    }

    pub(super) fn share_target(&mut self, path: String, value: Option<f64>) -> Option<f64> {
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

    pub(super) fn caps(&mut self, path: &str, caps: Option<Caps>) -> Caps {
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

    pub(super) fn ad_ref(&mut self, path: String, id: &str) -> Option<usize> {
        let found = self.ad_index.get(id).copied();
        if found.is_none() {
            let hint = closest(id, self.doc.ads.iter().map(|ad| ad.id.as_str()))
                .map(|near| format!("; did you mean \"{near}\"?"))
                .unwrap_or_default();
            self.issue(path, format!("unknown ad id \"{id}\"{hint}"));
        }
        found
    }

    pub(super) fn daypart_window(&mut self, path: &str, daypart: &Daypart) -> Option<TimeWindow> {
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
        let list = self.comparison_values(&value_path, op, value)?;
        let before = self.issues.len();
        for (i, v) in list.iter().enumerate() {
            let at = if list.len() > 1 || matches!(op, Operator::Between | Operator::In) {
                format!("{value_path}[{i}]")
            } else {
                value_path.clone()
            };
            self.check_value(at, op, *v, range);
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

    /// The numbers `op` compares with: two for `between` (min, max), at least one for `in`, one
    /// for the others.
    fn comparison_values(
        &mut self,
        value_path: &str,
        op: Operator,
        value: &ComparisonValue,
    ) -> Option<Vec<f64>> {
        match (op, value) {
            (Operator::Between, ComparisonValue::List(list)) if list.len() == 2 => {
                if list[0] > list[1] {
                    self.issue(
                        value_path,
                        format!(
                            "between [{}, {}] is impossible: min is greater than max; write [{}, {}]",
                            list[0], list[1], list[1], list[0]
                        ),
                    );
                    return None;
                }
                Some(list.clone())
            }
            (Operator::Between, _) => {
                self.issue(value_path, "between needs a list [min, max]");
                None
            }
            (Operator::In, ComparisonValue::List(list)) if !list.is_empty() => Some(list.clone()),
            (Operator::In, _) => {
                self.issue(
                    value_path,
                    "in needs a non-empty list of numbers, e.g. [2, 3]",
                );
                None
            }
            (_, ComparisonValue::Number(number)) => Some(vec![*number]),
            (_, ComparisonValue::List(_)) => {
                self.issue(
                    value_path,
                    format!(
                        "{} compares with one number; use \"between\" or \"in\" for a list",
                        serde_json::to_value(op).unwrap_or_default()
                    ),
                );
                None
            }
        }
    }

    /// One number of a comparison, at `at`: finite, and one the metric can take.
    fn check_value(&mut self, at: String, op: Operator, v: f64, range: ValueRange) {
        if !v.is_finite() {
            self.issue(at, "must be a finite number");
            return;
        }
        match range {
            ValueRange::Share if !(0.0..=1.0).contains(&v) => {
                let hint = if v > 1.0 && v <= 100.0 {
                    format!(" (for {v}% write {})", v / 100.0)
                } else {
                    String::new()
                };
                self.issue(
                    at,
                    format!("a share is between 0 and 1, so {v} can never match{hint}"),
                );
            }
            ValueRange::Count | ValueRange::Measure if v < 0.0 => {
                self.issue(at, format!("{v} is negative, so it can never match"));
            }
            ValueRange::Count if v.fract() != 0.0 && matches!(op, Operator::Eq | Operator::In) => {
                self.issue(
                    at,
                    format!("people are counted in whole numbers, so = {v} can never match"),
                );
            }
            _ => {}
        }
    }

    pub(super) fn condition(&mut self, path: &str, condition: &Condition) -> Option<Cond> {
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
            Condition::Daypart(name) => self.named_daypart(path, name)?,
            Condition::TimeOfDay(daypart) => CondKind::Window {
                name: None,
                window: self.daypart_window(&format!("{path}.timeOfDay"), daypart)?,
            },
            Condition::DaysOfWeek(days) => {
                CondKind::Days(self.days_mask(&format!("{path}.daysOfWeek"), days, false)?)
            }
            Condition::DateRange(range) => self.date_range(&format!("{path}.dateRange"), range)?,
        };
        Some(Cond {
            path: path.to_string(),
            kind,
        })
    }

    /// A daypart the document defines, by name.
    fn named_daypart(&mut self, path: &str, name: &str) -> Option<CondKind> {
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
        Some(CondKind::Window {
            name: Some(name.to_string()),
            window,
        })
    }

    /// Dates from and to (either may be left open), at `range_path`.
    fn date_range(&mut self, range_path: &str, range: &DateRange) -> Option<CondKind> {
        if range.from.is_none() && range.to.is_none() {
            self.issue(range_path, "give \"from\", \"to\" or both (YYYY-MM-DD)");
            return None;
        }
        let mut parse = |key: &str, text: &Option<String>| -> Result<Option<NaiveDate>, ()> {
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
        Some(CondKind::Dates { from, to })
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

    pub(super) fn time_zone(&mut self, path: &str, name: &str) -> Option<Tz> {
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
