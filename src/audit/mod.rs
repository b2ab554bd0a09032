//! The audit log: one hash-chained JSON Lines file per run (plus its masked output log)
//! in a private directory. Every line is written, flushed and fsynced before the engine
//! moves past the event it records, so a `kill -9` loses nothing already reported, and
//! `audit verify` can prove a record was not edited, reordered or cut.

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
    /// No record with this run id.
    NotFound { run_id: String, directory: PathBuf },
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io { path, error } => {
                write!(
                    f,
                    "cannot use the audit log {}: {error}; nothing was run",
                    path.display()
                )
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
            AuditError::NotFound { .. } => Some("`runbook audit list` shows the recorded runs".to_owned()),
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

/// The record of a run, by run id (the last part of the file name).
pub fn find_record(directory: &Path, run_id: &str) -> Result<PathBuf, AuditError> {
    record_files(directory)
        .into_iter()
        .find(|path| {
            path.file_stem()
                .and_then(|stem| stem.to_str())
                .is_some_and(|stem| stem.ends_with(&format!("-{run_id}")))
        })
        .ok_or_else(|| AuditError::NotFound {
            run_id: run_id.to_owned(),
            directory: directory.to_owned(),
        })
}
