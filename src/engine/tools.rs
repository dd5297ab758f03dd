//! What needs no engine: checking and simulating rules, and reporting saved aggregates.

use super::state::aggregator;
use crate::audience::{AudienceConfig, AudienceReport, ReportOptions};
use crate::error::{GlanceError, Result};
use crate::rules::{RuleSet, SimulationReport, ValidationIssue};

/// Every problem of a rules document with its JSON path; empty when it is valid.
pub fn validate_rules(json: &str) -> Vec<ValidationIssue> {
    match RuleSet::from_json(json) {
        Ok(_) => Vec::new(),
        Err(e) => e.issues(),
    }
}

/// Replays a timeline (JSON lines, as `glance simulate` reads) against a rules document.
pub fn simulate_rules(rules_json: &str, timeline_jsonl: &str) -> Result<SimulationReport> {
    let (rules, timeline) = crate::rules::parse_simulation(rules_json, timeline_jsonl)?;
    if timeline.is_empty() {
        return Err(GlanceError::Config {
            path: "timeline".into(),
            message: "the timeline has no steps".into(),
        });
    }
    Ok(crate::rules::simulate(&rules, &timeline))
}

/// The report of saved aggregates (`save_state` output) without an engine: for a dashboard on
/// another page or machine. `audience` must name the same age bands the state was saved with.
pub fn report_from_state(
    state: &str,
    audience: AudienceConfig,
    options: &ReportOptions,
) -> Result<AudienceReport> {
    let mut aggregator = aggregator(audience)?;
    aggregator.restore_state(state)?;
    Ok(aggregator.report(options))
}
