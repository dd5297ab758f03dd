//! One typed error for the whole library. The web layer maps each variant to a JS `Error`
//! subclass with the variant's name, so callers can branch on `error.name`.

use thiserror::Error;

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
        }
    }
}

pub type Result<T, E = GlanceError> = std::result::Result<T, E>;
