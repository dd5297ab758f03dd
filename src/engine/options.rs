//! The engine's options document: what it holds, its defaults, and changes as JSON merge patches.

use serde::{Deserialize, Serialize};

use crate::audience::AudienceConfig;
use crate::disclosure::BannerOptions;
use crate::error::{GlanceError, Result};
use crate::vision::PipelineOptions;

/// Which compute backend runs the networks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum BackendChoice {
    /// WebGPU when it works, else the CPU (also after the GPU is lost).
    #[default]
    Auto,
    /// WebGPU or fail.
    Webgpu,
    /// The CPU backend (Wasm SIMD).
    Cpu,
}

/// The engine's options as JSON (camelCase, every field optional). Binary parts (model bytes,
/// callbacks) are handled by the host layer and are not part of this document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EngineOptions {
    pub backend: BackendChoice,
    pub pipeline: PipelineOptions,
    pub audience: AudienceConfig,
    /// The rules document (see docs/rules.md); without it `nextAd` has nothing to decide from.
    #[schemars(with = "Option<crate::rules::RulesDocument>")]
    pub rules: Option<serde_json::Value>,
    /// The disclosure notice. The browser engine requires it and analyses only while it shows.
    pub banner: Option<BannerOptions>,
}

impl EngineOptions {
    /// Parses and validates options; errors carry the path of the offending field.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| GlanceError::Config {
                path: String::new(),
                message: e.to_string(),
            })?;
        let options: EngineOptions =
            serde_path_to_error::deserialize(&value).map_err(|e| GlanceError::Config {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        if let Some(path) = crate::json_shape::struct_given_as_non_object(&value, &options) {
            return Err(GlanceError::Config {
                path,
                message: "must be a JSON object ({...})".into(),
            });
        }
        options.pipeline.validate().map_err(|e| match e {
            GlanceError::Config { path, message } => GlanceError::Config {
                path: format!("pipeline.{path}"),
                message,
            },
            other => other,
        })?;
        options
            .audience
            .validate()
            .map_err(|e| GlanceError::Config {
                path: "audience".into(),
                message: e.to_string(),
            })?;
        if let Some(banner) = &options.banner {
            banner.validate().map_err(|e| GlanceError::Config {
                path: format!("banner.{}", e.path),
                message: e.message,
            })?;
        }
        Ok(options)
    }

    /// Applies a JSON merge patch (RFC 7396: `null` restores a default) and validates the result.
    /// `backend` and `audience` are fixed once the engine exists.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Self> {
        for fixed in ["backend", "audience"] {
            if patch.get(fixed).is_some() {
                return Err(GlanceError::Config {
                    path: fixed.into(),
                    message:
                        "is fixed when the engine is created; create a new engine to change it"
                            .into(),
                });
            }
        }
        let mut doc = serde_json::to_value(self).expect("options serialise");
        merge_patch(&mut doc, patch);
        Self::from_json(&doc.to_string())
    }
}

fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(
                map.entry(key.clone()).or_insert(serde_json::Value::Null),
                value,
            );
        }
    }
}
