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

#[cfg(test)]
mod tests {
    //! The ranges the schema publishes are the ranges the parser enforces: each bound of each
    //! numeric option is accepted, and a step past it is refused with the option named.

    use serde_json::{Map, Value, json};

    use super::api_schema;
    use crate::engine::EngineOptions;

    /// A numeric field of an input document: its path (`[]` for every item of an array).
    #[derive(Debug)]
    struct NumericField {
        path: Vec<String>,
        integer: bool,
        minimum: Option<f64>,
        maximum: Option<f64>,
    }

    fn numeric_fields(
        definitions: &Map<String, Value>,
        schema: &Value,
        path: &[String],
        out: &mut Vec<NumericField>,
    ) {
        let Value::Object(schema) = schema else {
            return;
        };
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"))
        {
            numeric_fields(definitions, &definitions[name], path, out);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                numeric_fields(definitions, branch, path, out);
            }
        }
        for (name, property) in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            // The rules document (recursive conditions) has its own validator and tests.
            if path.is_empty() && name == "rules" {
                continue;
            }
            let path = [path, std::slice::from_ref(name)].concat();
            numeric_fields(definitions, property, &path, out);
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.contains(&"array")
            && let Some(items) = schema.get("items")
        {
            let path = [path, &["[]".to_string()]].concat();
            numeric_fields(definitions, items, &path, out);
        }
        if types.contains(&"number") || types.contains(&"integer") {
            out.push(NumericField {
                path: path.to_vec(),
                integer: types.contains(&"integer"),
                minimum: schema.get("minimum").and_then(Value::as_f64),
                maximum: schema.get("maximum").and_then(Value::as_f64),
            });
        }
    }

    /// Valid options apart from the field under test (the notice needs its three texts).
    fn base_options() -> Value {
        json!({
            "banner": {
                "controller": {"name": "Shop", "contact": "privacy@shop.example"},
                "noticeUrl": "https://shop.example/privacy"
            }
        })
    }

    /// `options` with the field at `path` set to `value` (every item of an array; age bands
    /// start at 0, so a band's bound is the second band).
    fn with_value(path: &[String], value: f64, integer: bool) -> Value {
        let number = if integer {
            json!(value as i64)
        } else {
            json!(value)
        };
        let mut options = base_options();
        let mut slot = &mut options;
        for (i, key) in path.iter().enumerate() {
            if key == "[]" {
                let items = if path[..i].last().is_some_and(|k| k == "ageBands") {
                    if value == 0.0 {
                        vec![json!(0)]
                    } else {
                        vec![json!(0), number.clone()]
                    }
                } else {
                    vec![number.clone(); 3]
                };
                *slot = Value::Array(items);
                return options;
            }
            slot = slot
                .as_object_mut()
                .expect("an object on the way")
                .entry(key.clone())
                .or_insert_with(|| json!({}));
        }
        *slot = number;
        options
    }

    #[test]
    fn every_numeric_option_states_its_range_and_the_parser_enforces_exactly_it() {
        let schema = api_schema();
        let definitions = schema["definitions"].as_object().unwrap();
        let mut fields = Vec::new();
        numeric_fields(definitions, &definitions["EngineOptions"], &[], &mut fields);
        assert!(fields.len() > 50, "found {} numeric options", fields.len());
        let unbounded: Vec<String> = fields
            .iter()
            .filter(|f| f.minimum.is_none() || f.maximum.is_none())
            .map(|f| f.path.join("."))
            .collect();
        assert!(
            unbounded.is_empty(),
            "options without a stated range: {unbounded:?}"
        );
        let mut disagreements = Vec::new();
        for field in &fields {
            let name = field.path.iter().rfind(|k| *k != "[]").unwrap();
            let (min, max) = (field.minimum.unwrap(), field.maximum.unwrap());
            let step = |bound: f64| {
                if field.integer {
                    1.0
                } else {
                    (bound.abs() * 1e-3).max(1e-3)
                }
            };
            let cases = [
                (min, true),
                (max, true),
                (min - step(min), false),
                (max + step(max), false),
            ];
            for (value, accepted) in cases {
                let options = with_value(&field.path, value, field.integer);
                let parsed = EngineOptions::from_json(&options.to_string());
                let agrees = match &parsed {
                    Ok(_) => accepted,
                    Err(e) => !accepted && e.to_string().contains(name.as_str()),
                };
                if !agrees {
                    disagreements.push(format!("{} = {value}: {parsed:?}", field.path.join(".")));
                }
            }
        }
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }
}
