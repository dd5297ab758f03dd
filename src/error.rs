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
    /// The engine was closed.
    #[error("the engine was closed")]
    Closed,
}

/// Declares [`ErrorName`] and its list from one table, so the names cannot drift apart.
macro_rules! error_names {
    ($($(#[doc = $doc:expr])* $name:ident,)*) => {
        /// The name of every error the engine throws: the JS `Error.name`, and the class of the
        /// same name in `src/web/errors.js` (a test compares the two lists).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
        pub enum ErrorName {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorName {
            /// Every name, base class first.
            pub const ALL: &'static [ErrorName] = &[$(ErrorName::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorName::$name => stringify!($name),)*
                }
            }
        }
    };
}

error_names! {
    /// The base class of all the others; alone, an error no other class describes.
    GlanceError,
    /// The frame given cannot be analysed.
    InvalidFrameError,
    /// An image or video could not be decoded.
    DecodeError,
    /// Model weights are missing, truncated or do not fit the network, or the engine module
    /// could not be fetched.
    ModelLoadError,
    /// The requested compute backend is not available here.
    BackendUnavailableError,
    /// Options that cannot work together or are out of range; `path` names the option.
    ConfigError,
    /// A rules document that cannot be used; `issues` lists each problem with its JSON path.
    RulesValidationError,
    /// Proof of play out of order (an ad ended that never started, or started twice).
    AdPlayError,
    /// A saved state that cannot be restored.
    StateError,
    /// A report that cannot be exported.
    ExportError,
    /// `processFrame` called while the previous frame is still being analysed.
    EngineBusyError,
    /// The engine was closed.
    EngineClosedError,
    /// The engine stopped after an internal failure; create a new one.
    EngineCrashedError,
    /// Analysis refused: the disclosure notice is not in the page or not readable.
    DisclosureHiddenError,
}

impl std::fmt::Display for ErrorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So a test can compare a kind with the name it expects.
impl PartialEq<&str> for ErrorName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl GlanceError {
    /// Stable name of the error kind, used as the JS `Error.name`.
    pub fn kind(&self) -> ErrorName {
        match self {
            GlanceError::InvalidFrame(_) => ErrorName::InvalidFrameError,
            GlanceError::Decode { .. } => ErrorName::DecodeError,
            GlanceError::ModelLoad { .. } => ErrorName::ModelLoadError,
            GlanceError::BackendUnavailable(_) => ErrorName::BackendUnavailableError,
            GlanceError::Config { .. } => ErrorName::ConfigError,
            GlanceError::Rules(_) => ErrorName::RulesValidationError,
            GlanceError::Audience(e) => match e {
                AudienceError::DuplicatePlay(_) | AudienceError::UnknownPlay(_) => {
                    ErrorName::AdPlayError
                }
                AudienceError::Config(_) => ErrorName::ConfigError,
                AudienceError::Export(_) => ErrorName::ExportError,
                AudienceError::UnsupportedSchemaVersion { .. }
                | AudienceError::InvalidState(_)
                | AudienceError::AgeBandsMismatch { .. } => ErrorName::StateError,
            },
            GlanceError::Closed => ErrorName::EngineClosedError,
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
