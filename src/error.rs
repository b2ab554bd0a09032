//! Errors that end a command, with the exit code each one means.

use crate::exit::Exit;
use crate::load::source::SourceError;
use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// A runbook could not be found or read.
    Source(SourceError),
    /// One or more runbooks are invalid; the diagnostics were already printed.
    Invalid { errors: usize },
    /// Writing results failed (e.g. stdout closed).
    Output(std::io::Error),
    /// The audit log cannot be written or read.
    Audit(crate::audit::AuditError),
    /// A run cannot be resumed.
    Resume {
        message: String,
        help: Option<String>,
    },
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Source(_) | Error::Invalid { .. } | Error::Audit(_) | Error::Resume { .. } => {
                Exit::Invalid
            }
            Error::Output(_) => Exit::Failure,
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Error::Source(error) => error.help(),
            Error::Audit(error) => error.help(),
            Error::Resume { help, .. } => help.clone(),
            Error::Invalid { .. } | Error::Output(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Source(error) => write!(f, "{error}"),
            Error::Invalid { errors } => write!(
                f,
                "{errors} error{} found; nothing was run",
                if *errors == 1 { "" } else { "s" }
            ),
            Error::Output(error) => write!(f, "cannot write output: {error}"),
            Error::Audit(error) => write!(f, "{error}"),
            Error::Resume { message, .. } => write!(f, "cannot resume: {message}"),
        }
    }
}

impl From<SourceError> for Error {
    fn from(error: SourceError) -> Error {
        Error::Source(error)
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Error {
        Error::Output(error)
    }
}
