//! What can be wrong with a runbook's YAML before it is a tree: syntax, size, aliases,
//! depth. Each error knows where it is and what to do about it.

use crate::load::yaml::{MAX_DEPTH, MAX_NODES, MAX_SOURCE_BYTES, Span};
use std::fmt;

/// Why a document could not be turned into a tree at all.
#[derive(Clone, Debug, PartialEq)]
pub enum YamlError {
    TooLarge {
        bytes: usize,
    },
    Syntax {
        message: String,
        span: Span,
    },
    Empty,
    MultipleDocuments {
        span: Span,
    },
    UnknownAlias {
        span: Span,
    },
    AliasBomb {
        span: Span,
    },
    /// More nodes than the limit, without aliases: a runbook far too large.
    TooManyNodes {
        span: Span,
    },
    TooDeep {
        span: Span,
    },
}

impl YamlError {
    pub fn span(&self) -> Option<Span> {
        match self {
            YamlError::TooLarge { .. } | YamlError::Empty => None,
            YamlError::Syntax { span, .. }
            | YamlError::MultipleDocuments { span }
            | YamlError::UnknownAlias { span }
            | YamlError::AliasBomb { span }
            | YamlError::TooManyNodes { span }
            | YamlError::TooDeep { span } => Some(*span),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            YamlError::TooLarge { .. } => Some(format!(
                "runbooks are limited to {} KiB; split the procedure with `include:`",
                MAX_SOURCE_BYTES / 1024
            )),
            YamlError::Syntax { message, .. } if message.contains("tab") => {
                Some("indent with spaces; YAML does not allow tabs for indentation".into())
            }
            YamlError::Syntax { .. } => {
                Some("check the indentation and quoting of this line and the one before it".into())
            }
            YamlError::Empty => {
                Some("a runbook needs at least `name`, `title`, `kind` and `steps`".into())
            }
            YamlError::MultipleDocuments { .. } => Some("put each runbook in its own file".into()),
            YamlError::UnknownAlias { .. } => {
                Some("define the anchor (`&name`) before the alias (`*name`) that uses it".into())
            }
            YamlError::AliasBomb { .. } => Some(format!(
                "aliases may expand to at most {MAX_NODES} nodes in total; this document expands \
                 far beyond that (a \"billion laughs\" pattern?)"
            )),
            YamlError::TooDeep { .. } => Some(format!("nesting is limited to {MAX_DEPTH} levels")),
            YamlError::TooManyNodes { .. } => {
                Some("split the procedure into smaller runbooks joined with `include:`".into())
            }
        }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YamlError::TooLarge { bytes } => write!(
                f,
                "file is too large ({} KiB) to be a runbook",
                bytes / 1024
            ),
            YamlError::Syntax { message, .. } => write!(f, "invalid YAML: {message}"),
            YamlError::Empty => write!(f, "the file is empty"),
            YamlError::MultipleDocuments { .. } => {
                write!(f, "more than one YAML document in one file")
            }
            YamlError::UnknownAlias { .. } => write!(f, "alias refers to an unknown anchor"),
            YamlError::AliasBomb { .. } => write!(f, "YAML aliases expand to too many nodes"),
            YamlError::TooManyNodes { .. } => write!(
                f,
                "the runbook has more than {MAX_NODES} YAML nodes (keys, values and list items)"
            ),
            YamlError::TooDeep { .. } => write!(f, "YAML is nested too deeply"),
        }
    }
}
