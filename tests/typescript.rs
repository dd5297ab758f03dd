//! The TypeScript declarations of the npm package (src/web/types.rs) name every option the Rust
//! types accept, so a web developer's editor offers all of them and none that would be rejected.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;

use glance::audience::ReportOptions;
use glance::disclosure::BannerOptions;
use glance::engine::EngineOptions;
use glance::vision::PipelineOptions;
use serde::Serialize;

const TYPES: &str = include_str!("../src/web/types.rs");

/// The field names declared in `export interface <name> { ... }`.
fn interface_fields(name: &str) -> BTreeSet<String> {
    let start = TYPES
        .find(&format!("export interface {name} {{"))
        .unwrap_or_else(|| panic!("interface {name} is not declared"));
    let body = &TYPES[start..];
    let mut depth = 0;
    let mut end = 0;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = strip_comments(&body[body.find('{').unwrap() + 1..end]);
    // Top-level fields only: skip nested object types.
    let mut fields = BTreeSet::new();
    let mut depth = 0;
    let mut token = String::new();
    for c in body.chars() {
        match c {
            '{' | '(' | '<' => depth += 1,
            '}' | ')' | '>' => depth -= 1,
            _ => {}
        }
        if depth == 0 && (c.is_alphanumeric() || c == '_') {
            token.push(c);
        } else {
            if depth == 0 && (c == ':' || c == '?') && !token.is_empty() {
                fields.insert(token.clone());
            }
            token.clear();
        }
    }
    fields
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_fields<T: Serialize>(value: &T) -> BTreeSet<String> {
    serde_json::to_value(value)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn typescript_declares_exactly_the_options_rust_accepts() {
    let engine = EngineOptions::default();
    let mut engine_fields = json_fields(&engine);
    // Binary and callback options are handled by the web layer, not the JSON document.
    engine_fields.insert("models".into());
    assert_eq!(interface_fields("GlanceOptions"), engine_fields);
    assert_eq!(
        interface_fields("PipelineOptions"),
        json_fields(&PipelineOptions::default())
    );
    let mut banner_fields = json_fields(&BannerOptions::default());
    banner_fields.insert("container".into());
    assert_eq!(interface_fields("BannerOptions"), banner_fields);
    assert_eq!(
        interface_fields("ReportOptions"),
        json_fields(&ReportOptions::default())
    );
}
