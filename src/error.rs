//! Errors that end a command, with the exit code each one means. They are printed once,
//! in `lib.rs`, in one shape (`error: …` and `= help: …`).

use crate::engine::params::ParamProblem;
use crate::exit::Exit;
use crate::load::source::SourceError;
use crate::lock::LockError;
use std::fmt;
use std::path::PathBuf;

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
    /// Params, inputs or `--approve` ids are wrong or missing: all of them, at once.
    Params(Vec<ParamProblem>),
    /// A param was being asked for and no answer came.
    NoAnswer { param: String, exit: Exit },
    /// The metrics file named with `--metrics-file` cannot be written.
    Metrics {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A command asked for something that is not there (a step of a run, a date).
    Usage {
        message: String,
        help: Option<String>,
    },
    /// A lock the run needs is held (or its last holder's step still runs), or the
    /// lock directory is unusable.
    Lock(LockError),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Source(_)
            | Error::Invalid { .. }
            | Error::Audit(_)
            | Error::Resume { .. }
            | Error::Params(_)
            | Error::Metrics { .. }
            | Error::Usage { .. } => Exit::Invalid,
            Error::Output(_) => Exit::Failure,
            Error::NoAnswer { exit, .. } => *exit,
            Error::Lock(error) if error.is_held() => Exit::Locked,
            Error::Lock(_) => Exit::Invalid,
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Error::Source(error) => error.help(),
            Error::Audit(error) => error.help(),
            Error::Resume { help, .. } | Error::Usage { help, .. } => help.clone(),
            Error::Lock(error) => error.help(),
            Error::Metrics { .. } => Some(
                "cron would lose the monitoring silently: fix the path or its directory's permissions"
                    .to_owned(),
            ),
            Error::Invalid { .. } | Error::Output(_) | Error::Params(_) | Error::NoAnswer { .. } => {
                None
            }
        }
    }

    /// The lines to print: most errors are one, a params error names every problem.
    pub fn messages(&self) -> Vec<String> {
        match self {
            Error::Params(problems) => {
                let mut lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                lines.push("nothing was run".to_owned());
                lines
            }
            other => vec![other.to_string()],
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
            Error::Audit(error @ crate::audit::AuditError::Io { .. }) => {
                write!(f, "{error}; nothing was run")
            }
            Error::Audit(error) => write!(f, "{error}"),
            Error::Resume { message, .. } => write!(f, "cannot resume: {message}"),
            Error::Usage { message, .. } => write!(f, "{message}"),
            Error::Params(problems) => {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                write!(f, "{}", lines.join("; "))
            }
            Error::NoAnswer { param, exit } => match exit {
                Exit::Interrupted | Exit::Terminated | Exit::HangUp => {
                    write!(f, "interrupted while asking for `{param}`; nothing was run")
                }
                _ => write!(f, "no answer for `{param}`; nothing was run"),
            },
            Error::Metrics { path, error } => write!(
                f,
                "cannot write metrics to {}: {error}; nothing was run",
                path.display()
            ),
            Error::Lock(error) => write!(f, "{error}"),
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
