//! One typed error for the whole library. The web layer maps each variant to a JS `Error`
//! subclass with the variant's name, so callers can branch on `error.name`.

use thiserror::Error;

use crate::audience::AudienceError;
use crate::rules::{RulesError, ValidationIssue};

#[derive(Debug, Error)]
pub enum GlanceError {
    /// The frame given cannot be analysed (zero size, wrong buffer length, ...).
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// An image or video file could not be read or decoded.
    #[error("cannot decode {source_name}: {message}")]
    Decode {
        source_name: String,
        message: String,
    },
    /// Model weights are missing, truncated or do not fit the network.
    #[error("cannot load model {model}: {message}")]
    ModelLoad {
        model: &'static str,
        message: String,
    },
    /// The requested compute backend is not available here.
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
    /// Options that cannot work together or are out of range.
    #[error("invalid configuration at {path}: {message}")]
    Config { path: String, message: String },
    /// A rules document that cannot be used; `issues()` lists each problem with its JSON path.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// Proof-of-play or saved-state trouble in the audience aggregator.
    #[error(transparent)]
    Audience(#[from] AudienceError),
}

impl GlanceError {
    /// Stable name of the error kind, used as the JS `Error.name`.
    pub fn kind(&self) -> &'static str {
        match self {
            GlanceError::InvalidFrame(_) => "InvalidFrameError",
            GlanceError::Decode { .. } => "DecodeError",
            GlanceError::ModelLoad { .. } => "ModelLoadError",
            GlanceError::BackendUnavailable(_) => "BackendUnavailableError",
            GlanceError::Config { .. } => "ConfigError",
            GlanceError::Rules(_) => "RulesValidationError",
            GlanceError::Audience(e) => match e {
                AudienceError::DuplicatePlay(_) | AudienceError::UnknownPlay(_) => "AdPlayError",
                AudienceError::Config(_) => "ConfigError",
                AudienceError::Export(_) => "ExportError",
                AudienceError::UnsupportedSchemaVersion { .. }
                | AudienceError::InvalidState(_)
                | AudienceError::AgeBandsMismatch { .. } => "StateError",
            },
        }
    }

    /// Each problem of a rejected rules document with its JSON path; empty for other errors.
    pub fn issues(&self) -> Vec<ValidationIssue> {
        match self {
            GlanceError::Rules(e) => e.issues(),
            _ => Vec::new(),
        }
    }
}

pub type Result<T, E = GlanceError> = std::result::Result<T, E>;
