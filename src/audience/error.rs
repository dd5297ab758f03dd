use thiserror::Error;

/// Errors of the audience module.
#[derive(Debug, Error, PartialEq)]
pub enum AudienceError {
    #[error("invalid audience configuration: {0}")]
    Config(String),
    #[error(
        "audience state has schemaVersion {found}, this build reads only schemaVersion {supported}"
    )]
    UnsupportedSchemaVersion { found: String, supported: u32 },
    #[error("audience state is not valid: {0}")]
    InvalidState(String),
    #[error(
        "audience state was recorded with age bands {stored:?} but the configuration has {configured:?}"
    )]
    AgeBandsMismatch {
        stored: Vec<String>,
        configured: Vec<String>,
    },
    #[error("an ad play with id {0:?} is already running")]
    DuplicatePlay(String),
    #[error("no running ad play with play id or ad id {0:?}")]
    UnknownPlay(String),
    #[error("could not write the report: {0}")]
    Export(String),
}
