//! The audit log: one hash-chained JSON Lines file per run (plus its masked output log)
//! in a private directory. Every line is written, flushed and fsynced before the engine
//! moves past the event it records, so a `kill -9` loses nothing already reported, and
//! `audit verify` can prove a record was not edited, reordered or cut.

pub mod event;
pub mod record;
pub mod verify;
pub mod writer;

use std::fmt;
use std::path::{Path, PathBuf};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The default audit directory: `$XDG_STATE_HOME/runbook/audit`, i.e.
/// `~/.local/state/runbook/audit`.
pub fn default_directory() -> PathBuf {
    state_directory().join("audit")
}

/// `$XDG_STATE_HOME/runbook`, where audit records and locks live.
pub fn state_directory() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("runbook")
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[derive(Debug)]
pub enum AuditError {
    /// The directory or file could not be created or written.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The record's file was deleted (its directory removed) during the run: the
    /// writes still succeed, into a file nobody will see.
    Deleted { path: PathBuf },
    /// No record with this run id.
    NotFound { run_id: String, directory: PathBuf },
    /// A prefix that fits several run ids.
    Ambiguous {
        run_id: String,
        matches: Vec<String>,
    },
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io { path, error } => {
                write!(f, "cannot use the audit log {}: {error}", path.display())
            }
            AuditError::Deleted { path } => write!(
                f,
                "the audit record {} was deleted while the run was going",
                path.display()
            ),
            AuditError::Ambiguous { run_id, matches } => {
                write!(f, "`{run_id}` fits several runs: {}", matches.join(", "))
            }
            AuditError::NotFound { run_id, directory } => {
                write!(
                    f,
                    "no audit record for run `{run_id}` in {}",
                    directory.display()
                )
            }
        }
    }
}

impl AuditError {
    pub fn help(&self) -> Option<String> {
        match self {
            AuditError::Io { .. } => Some(
                "runs are never executed unaudited: fix the directory's permissions or space, or choose another with --audit-dir / RUNBOOK_AUDIT_DIR"
                    .to_owned(),
            ),
            AuditError::Deleted { .. } => Some(
                "runs are never executed unaudited: keep the audit directory in place while runs go (`runbook resume` continues this one)"
                    .to_owned(),
            ),
            AuditError::NotFound { .. } | AuditError::Ambiguous { .. } => {
                Some("`runbook audit list` shows the recorded runs".to_owned())
            }
        }
    }
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |error| AuditError::Io {
        path: path.to_owned(),
        error,
    }
}

/// Every record file (`*.jsonl`) in the directory, oldest first (names start with the
/// UTC start time).
pub fn record_files(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .collect();
    files.sort();
    files
}

/// The record of a run, by run id (the last part of the file name), or by an
/// unambiguous prefix of one (`3f2a` for `3f2a9c1b7d4e`).
pub fn find_record(directory: &Path, run_id: &str) -> Result<PathBuf, AuditError> {
    let id_of = |path: &PathBuf| {
        path.file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(|stem| stem.rsplit('-').next())
            .map(str::to_owned)
    };
    let files = record_files(directory);
    if let Some(exact) = files
        .iter()
        .find(|path| id_of(path).as_deref() == Some(run_id))
    {
        return Ok(exact.clone());
    }
    let matching: Vec<&PathBuf> = files
        .iter()
        .filter(|path| !run_id.is_empty() && id_of(path).is_some_and(|id| id.starts_with(run_id)))
        .collect();
    match matching.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(AuditError::NotFound {
            run_id: run_id.to_owned(),
            directory: directory.to_owned(),
        }),
        several => Err(AuditError::Ambiguous {
            run_id: run_id.to_owned(),
            matches: several.iter().filter_map(|path| id_of(path)).collect(),
        }),
    }
}
