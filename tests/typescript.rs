//! The npm package's declarations come from one source: the JSON Schema of the Rust types
//! (`glance schema`, from which scripts/build-web generates the `.d.ts`), and one list of error
//! names shared by Rust and the JS classes. These tests hold the schema to what the types
//! really read and write, and the JS error classes to Rust's list. (www/tests/engine.test.mjs
//! type-checks the engine's real results against the generated declarations.)
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;

use glance::audience::{AudienceConfig, ReportOptions};
use glance::disclosure::BannerOptions;
use glance::engine::EngineOptions;
use glance::error::ErrorName;
use glance::schema::api_schema;
use glance::vision::PipelineOptions;
use serde::Serialize;
use serde_json::Value;

const ERRORS_JS: &str = include_str!("../src/web/errors.js");
const LOADER_DTS: &str = include_str!("../src/web/loader.d.ts");

fn json_fields<T: Serialize>(value: &T) -> BTreeSet<String> {
    serde_json::to_value(value)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn schema_fields(schema: &Value, definition: &str) -> BTreeSet<String> {
    schema["definitions"][definition]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("the schema has no object type {definition}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn the_schema_names_exactly_the_options_rust_accepts() {
    let schema = api_schema();
    assert_eq!(
        schema_fields(&schema, "EngineOptions"),
        json_fields(&EngineOptions::default())
    );
    assert_eq!(
        schema_fields(&schema, "PipelineOptions"),
        json_fields(&PipelineOptions::default())
    );
    assert_eq!(
        schema_fields(&schema, "AudienceConfig"),
        json_fields(&AudienceConfig::default())
    );
    assert_eq!(
        schema_fields(&schema, "BannerOptions"),
        json_fields(&BannerOptions::default())
    );
    assert_eq!(
        schema_fields(&schema, "ReportOptions"),
        json_fields(&ReportOptions::default())
    );
    // Options have defaults: none is required of the host.
    for options in ["EngineOptions", "PipelineOptions", "ReportOptions"] {
        let required = &schema["definitions"][options]["required"];
        assert!(
            required.as_array().is_none_or(Vec::is_empty),
            "{options} requires {required}"
        );
    }
}

#[test]
fn the_schema_lists_every_root_type_once() {
    let schema = api_schema();
    let roots: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for name in [
        "FrameResult",
        "AudienceSnapshot",
        "Decision",
        "AudienceReport",
        "SimulationReport",
        "ValidationIssue",
        "DisclosureStatus",
        "EngineEvent",
        "VisitStart",
        "VisitEnd",
        "ErrorName",
        "EngineOptions",
        "ReportOptions",
        "TimelineStep",
        "FleetRecord",
        "RecordError",
        "ScreenHealth",
    ] {
        assert!(roots.contains(&name), "{name} is not a root of the schema");
        assert!(
            schema["definitions"][name].is_object(),
            "{name} has no definition"
        );
    }
    // Every reference resolves.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&schema, &mut all);
    for reference in all {
        let name = reference.strip_prefix("#/definitions/").unwrap();
        assert!(
            schema["definitions"][name].is_object(),
            "{reference} does not resolve"
        );
    }
    // The events' tag is the DOM event's type.
    let tags: Vec<&str> = schema["definitions"]["EngineEvent"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["type"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["visitstart", "visitend", "audiencechange"]);
}

#[test]
fn the_js_error_classes_are_rusts_error_names() {
    let names: Vec<&str> = ErrorName::ALL.iter().map(|n| n.as_str()).collect();
    let classes = ERRORS_JS
        .split_once("const CLASSES = {")
        .and_then(|(_, rest)| rest.split_once("};"))
        .expect("errors.js lists its classes in CLASSES")
        .0;
    let classes: Vec<&str> = classes
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(classes, names);
    for name in &names {
        assert!(
            ERRORS_JS.contains(&format!("export class {name} ")),
            "errors.js does not define {name}"
        );
        assert!(
            LOADER_DTS.contains(&format!("export class {name} ")),
            "loader.d.ts does not declare {name}"
        );
    }
    let schema = api_schema();
    let in_schema: Vec<&str> = schema["definitions"]["ErrorName"]["enum"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| {
            schema["definitions"]["ErrorName"]["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|v| v["const"].as_str().or(v["enum"][0].as_str()))
                .collect()
        });
    assert_eq!(in_schema, names);
}
