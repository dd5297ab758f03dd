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
    /// An issue; the document's own text quoted in `path` or `message` is made printable.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: printable(&path.into()),
            message: printable(&message.into()),
        }
    }
}

/// Control characters and the bidirectional formatting ones written as `\u{…}`: an ad id in a
/// rules file must not clear a terminal (ESC[2J) or reverse the text around it (U+202E) when
/// its error is shown.
pub(crate) fn printable(text: &str) -> String {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod printable_tests {
    use super::*;

    #[test]
    fn terminal_and_bidi_controls_in_a_message_are_written_out() {
        let issue = ValidationIssue::new("$.ads[0].id", "unknown ad id \"x\u{1b}[2Jy\u{202e}z\"\n");
        assert_eq!(
            issue.message,
            "unknown ad id \"x\\u{1b}[2Jy\\u{202e}z\"\\u{a}"
        );
        assert!(
            !issue
                .to_string()
                .chars()
                .any(|c| c.is_control() || c == '\u{202e}')
        );
        assert_eq!(printable("plain ünïcode 👍"), "plain ünïcode 👍");
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
    /// The JSON does not have the document's shape (unknown field, wrong type, missing field):
    /// the first problem of the document and of each ad, rule and daypart (at least one).
    #[error("{}", list_issues(.0))]
    Structure(Vec<ValidationIssue>),
    /// The document nests deeper than a JSON reader follows.
    #[error("rules document nests deeper than {max} levels (line {line}, column {column})")]
    TooDeep {
        max: usize,
        line: usize,
        column: usize,
    },
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
            RulesError::Syntax { .. }
            | RulesError::TooDeep { .. }
            | RulesError::Io { .. }
            | RulesError::Timeline { .. } => {
                vec![ValidationIssue::new("$", self.to_string())]
            }
            RulesError::Structure(issues) => issues.clone(),
            RulesError::UnsupportedVersion { message } => {
                vec![ValidationIssue::new("$.version", message.clone())]
            }
            RulesError::Invalid(issues) => issues.clone(),
        }
    }
}
