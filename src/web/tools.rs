//! Functions that need no models: the rules editor's validation and simulator, and the
//! dashboard's reports from saved aggregates. Each wraps a plain Rust function of
//! [`crate::engine`].

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use super::errors::config_error as config;
use super::{js, json_text, to_js};
use crate::audience::{AudienceConfig, ReportOptions};
use crate::engine;

/// Every problem of a rules document (`[]` when it is valid), each with its JSON path.
#[wasm_bindgen(js_name = validateRules, unchecked_return_type = "ValidationIssue[]")]
pub fn validate_rules(
    #[wasm_bindgen(unchecked_param_type = "string | object")] rules: JsValue,
) -> Result<JsValue, JsValue> {
    to_js(&engine::validate_rules(&json_text(&rules)?))
}

/// The JSON Schema of the rules document.
#[wasm_bindgen(js_name = rulesSchema, unchecked_return_type = "object")]
pub fn rules_schema() -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&crate::rules::rules_json_schema())
}

/// Replays a timeline against a rules document, as `glance simulate` does. `timeline`: JSON
/// lines text or an array of steps (`{ t, audience }`).
#[wasm_bindgen(js_name = simulateRules, unchecked_return_type = "SimulationReport")]
pub fn simulate_rules(
    #[wasm_bindgen(unchecked_param_type = "string | object")] rules: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string | TimelineStep[]")] timeline: JsValue,
) -> Result<JsValue, JsValue> {
    let rules = json_text(&rules)?;
    let timeline = if let Some(text) = timeline.as_string() {
        text
    } else if js_sys::Array::is_array(&timeline) {
        let steps: js_sys::Array = timeline.unchecked_into();
        let mut lines = Vec::with_capacity(steps.length() as usize);
        for step in steps.iter() {
            lines.push(json_text(&step)?);
        }
        lines.join("\n")
    } else {
        return Err(config(
            "timeline",
            "expected JSON lines text or an array of steps",
        ));
    };
    to_js(&engine::simulate_rules(&rules, &timeline).map_err(js)?)
}

/// The k-anonymous report of aggregates saved with `engine.saveState()`.
/// `options`: `{ audience?: AudienceConfig (same age bands as when saved), report?: ReportOptions }`.
#[wasm_bindgen(js_name = reportFromState, unchecked_return_type = "AudienceReport")]
pub fn report_from_state(
    state: &str,
    #[wasm_bindgen(
        unchecked_optional_param_type = "{ audience?: AudienceConfig; report?: ReportOptions }"
    )]
    options: JsValue,
) -> Result<JsValue, JsValue> {
    let part = |name: &str| -> Result<Option<String>, JsValue> {
        if options.is_undefined() || options.is_null() {
            return Ok(None);
        }
        let value = Reflect::get(&options, &name.into())?;
        if value.is_undefined() || value.is_null() {
            Ok(None)
        } else {
            json_text(&value).map(Some)
        }
    };
    let audience = match part("audience")? {
        Some(json) => AudienceConfig::from_json(&json).map_err(|e| config("audience", e))?,
        None => AudienceConfig::default(),
    };
    let report: ReportOptions = match part("report")? {
        Some(json) => serde_json::from_str(&json).map_err(|e| config("report", e))?,
        None => ReportOptions::default(),
    };
    to_js(&engine::report_from_state(state, audience, &report).map_err(js)?)
}

/// A report as long-format CSV (suppressed cells stay empty and are marked).
#[wasm_bindgen(js_name = reportToCsv)]
pub fn report_to_csv(
    #[wasm_bindgen(unchecked_param_type = "AudienceReport")] report: JsValue,
) -> Result<String, JsValue> {
    let report: crate::audience::AudienceReport =
        serde_json::from_str(&json_text(&report)?).map_err(|e| config("report", e))?;
    report.to_csv().map_err(|e| js(e.into()))
}

/// A heartbeat record of this screen's health, for the fleet outbox (works without an engine:
/// a screen whose engine cannot start still tells its network so).
#[wasm_bindgen(js_name = heartbeatRecord, unchecked_return_type = "FleetRecord")]
pub fn heartbeat_record(
    screen_id: &str,
    #[wasm_bindgen(unchecked_param_type = "ScreenHealth")] health: JsValue,
    at_ms: Option<f64>,
) -> Result<JsValue, JsValue> {
    crate::fleet::records::check_screen_id(screen_id).map_err(|m| config("screenId", m))?;
    let text = json_text(&health)?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let health: crate::fleet::ScreenHealth = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| config(&format!("health.{}", e.path()), e.inner()))?;
    let at_ms = at_ms.unwrap_or_else(js_sys::Date::now).floor() as i64;
    to_js(&crate::fleet::Record::Heartbeat(
        crate::fleet::Heartbeat::new(screen_id, at_ms, health),
    ))
}
