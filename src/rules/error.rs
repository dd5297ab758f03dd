//! Errors of the rules module. Every problem in a rules document is reported as a
//! [`ValidationIssue`] with a `$.`-style JSON path (`$.rules[2].when.all[0].share.value`) so an
//! editor can point at the offending value.

use serde::Serialize;

/// One problem in a rules document (or timeline), located by a `$.`-style JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationIssue {
    /// Where: `$` is the document root, `.name` a field, `[i]` a list element.
    pub path: String,
    /// What is wrong and, where possible, how to fix it, in plain words.
    pub message: String,
}

impl ValidationIssue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn list_issues(issues: &[ValidationIssue]) -> String {
    issues
        .iter()
        .map(ValidationIssue::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The text is not JSON at all.
    #[error("rules document is not valid JSON (line {line}, column {column}): {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The JSON does not have the document's shape (unknown field, wrong type, missing field).
    /// Serde stops at the first such problem, so there is exactly one.
    #[error("{issue}")]
    Structure { issue: ValidationIssue },
    /// `version` is missing or not one this build reads.
    #[error("$.version: {message}")]
    UnsupportedVersion { message: String },
    /// The document parsed but has semantic problems; all of them are listed.
    #[error("{} problem(s) in the rules document:\n{}", .0.len(), list_issues(.0))]
    Invalid(Vec<ValidationIssue>),
    /// A timeline for the simulator is malformed (`line` is 1-based).
    #[error("timeline line {line}: {message}")]
    Timeline { line: usize, message: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl RulesError {
    /// Every problem as path + message, the same shape whatever the kind of error, for UIs.
    pub fn issues(&self) -> Vec<ValidationIssue> {
        match self {
            RulesError::Syntax { .. } | RulesError::Io { .. } | RulesError::Timeline { .. } => {
                vec![ValidationIssue::new("$", self.to_string())]
            }
            RulesError::Structure { issue } => vec![issue.clone()],
            RulesError::UnsupportedVersion { message } => {
                vec![ValidationIssue::new("$.version", message.clone())]
            }
            RulesError::Invalid(issues) => issues.clone(),
        }
    }
}
