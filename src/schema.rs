//! The JSON Schema of everything the engine takes and gives a host (options, frame results,
//! snapshot, decision, report, timeline, events, fleet records), derived from the Rust types
//! themselves.
//! `scripts/build-web` generates the npm package's TypeScript declarations from it, so the
//! declarations cannot lack a field the Rust types have.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::audience::{AudienceReport, AudienceSnapshot, ReportOptions};
use crate::disclosure::DisclosureStatus;
use crate::engine::{EngineEvent, EngineOptions, FrameResult, VisitEnd, VisitStart};
use crate::error::ErrorName;
use crate::fleet::{Record, RecordError, ScreenHealth};
use crate::rules::{Decision, SimulationReport, TimelineLine, ValidationIssue};

/// Suffix of an input type's name where it differs from the output type of the same name (the
/// input's fields have defaults, so they are optional).
const INPUT_SUFFIX: &str = "Input";

/// One document: `properties` names every root type (a `$ref` each) and `definitions` holds
/// them and everything they use. Output types are described as serialised (every field
/// present), input types as deserialised (fields with defaults optional).
pub fn api_schema() -> Value {
    let mut outputs = SchemaSettings::draft07().for_serialize().into_generator();
    let output_roots = [
        root::<FrameResult>(&mut outputs),
        root::<AudienceSnapshot>(&mut outputs),
        root::<Decision>(&mut outputs),
        root::<AudienceReport>(&mut outputs),
        root::<SimulationReport>(&mut outputs),
        root::<ValidationIssue>(&mut outputs),
        root::<DisclosureStatus>(&mut outputs),
        root::<EngineEvent>(&mut outputs),
        root::<VisitStart>(&mut outputs),
        root::<VisitEnd>(&mut outputs),
        root::<ErrorName>(&mut outputs),
        root::<Record>(&mut outputs),
        root::<RecordError>(&mut outputs),
    ];
    let mut inputs = SchemaSettings::draft07().for_deserialize().into_generator();
    let input_roots = [
        root::<EngineOptions>(&mut inputs),
        root::<ReportOptions>(&mut inputs),
        root::<TimelineLine>(&mut inputs),
        root::<ScreenHealth>(&mut inputs),
    ];
    let mut definitions = outputs.take_definitions(true);
    let mut input_definitions = inputs.take_definitions(true);
    // Where an input type reads differently from the output type of the same name, it gets a
    // name of its own.
    let renamed: Vec<String> = input_definitions
        .iter()
        .filter(|(name, schema)| definitions.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| name.clone())
        .collect();
    for name in &renamed {
        let schema = input_definitions.remove(name).expect("listed above");
        input_definitions.insert(format!("{name}{INPUT_SUFFIX}"), schema);
    }
    for schema in input_definitions.values_mut() {
        rename_refs(schema, &renamed);
    }
    definitions.extend(input_definitions);

    let mut properties = Map::new();
    for name in output_roots.into_iter().chain(input_roots) {
        properties.insert(
            name.clone(),
            json!({ "$ref": format!("#/definitions/{name}") }),
        );
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "GlanceApi",
        "description": "The types Glance's engine takes and gives, by name (generated from the Rust types).",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        "definitions": definitions,
    })
}

/// Adds `T` and what it uses to the generator; its definition's name.
fn root<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    let reference = generator.subschema_for::<T>();
    reference
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_else(|| panic!("{} has no definition of its own", T::schema_name()))
        .to_string()
}

fn rename_refs(value: &mut Value, renamed: &[String]) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(name) = target.strip_prefix("#/definitions/")
                && renamed.iter().any(|r| r == name)
            {
                *target = format!("{target}{INPUT_SUFFIX}");
            }
            map.values_mut().for_each(|v| rename_refs(v, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}
