//! Two rules that could tie: equal priority and overlapping dayparts, in the same zone.

use chrono::NaiveDate;

use super::checker::Checker;
use super::{CompiledRule, Cond, CondKind};
use crate::rules::clock::WeekMask;

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
pub(super) fn check_overlapping_dayparts(c: &mut Checker<'_>, rules: &[CompiledRule]) {
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
