//! The audit log: one hash-chained JSON Lines file per run (plus its masked output log)
//! in a private directory. Every line is written, flushed and fsynced before the engine
//! moves past the event it records, so a `kill -9` loses nothing already reported, and
//! `audit verify` can prove a record was not edited, reordered or cut.

pub mod event;
pub mod record;
pub mod seal;
pub mod verify;
pub mod writer;

use std::fmt;
use std::path::{Path, PathBuf};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The default audit directory: `<state directory>/audit`.
pub fn default_directory() -> Result<PathBuf, String> {
    state_directory().map(|directory| directory.join("audit"))
}

/// Where the audit records live by default (docs/audit.md, "Where records go"):
/// `$STATE_DIRECTORY` under systemd (`StateDirectory=runbook`), else
/// `$XDG_STATE_HOME/runbook` when it is absolute (the XDG spec says to ignore a relative
/// one), else `~/.local/state/runbook` with the home from `$HOME` or, when unset, from
/// the account. Never a shared fallback such as `/tmp`.
pub fn state_directory() -> Result<PathBuf, String> {
    let absolute = |value: std::ffi::OsString| {
        let path = PathBuf::from(value);
        path.is_absolute().then_some(path)
    };
    if let Some(directory) = std::env::var_os("STATE_DIRECTORY")
        .and_then(|value| {
            value
                .to_str()
                .and_then(|text| text.split(':').next())
                .map(Into::into)
        })
        .and_then(absolute)
    {
        return Ok(directory);
    }
    if let Some(base) = std::env::var_os("XDG_STATE_HOME").and_then(absolute) {
        return Ok(base.join("runbook"));
    }
    let home = std::env::var_os("HOME").and_then(absolute).or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|user| user.dir)
            .filter(|home| home.is_absolute())
    });
    match home {
        Some(home) => Ok(home.join(".local/state/runbook")),
        None => Err(
            "no state directory: $HOME is unset and the account has no home; set --audit-dir or RUNBOOK_AUDIT_DIR"
                .to_owned(),
        ),
    }
}

/// An existing directory that records go into must be the user's own and writable by
/// nobody else: otherwise another user could remove or replace records.
pub fn check_private(directory: &Path) -> Result<(), AuditError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::symlink_metadata(directory) else {
        return Ok(());
    };
    let unsafe_because = |problem: String| {
        Err(AuditError::Unsafe {
            path: directory.to_owned(),
            problem,
        })
    };
    if metadata.file_type().is_symlink() {
        // A symlink the user made is theirs to make; where it points is checked.
        return match std::fs::metadata(directory) {
            Ok(_) => check_target(directory),
            Err(_) => Ok(()),
        };
    }
    if !metadata.is_dir() {
        return unsafe_because("it is not a directory".to_owned());
    }
    let me = nix::unistd::geteuid().as_raw();
    if metadata.uid() != me {
        let owner = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(metadata.uid()))
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {}", metadata.uid()), |user| user.name);
        return unsafe_because(format!("it belongs to {owner}, not to you"));
    }
    if metadata.mode() & 0o022 != 0 {
        return unsafe_because(format!(
            "it is writable by {} (mode {:o})",
            if metadata.mode() & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            metadata.mode() & 0o7777
        ));
    }
    Ok(())
}

fn check_target(directory: &Path) -> Result<(), AuditError> {
    match std::fs::canonicalize(directory) {
        Ok(target) if target != directory => check_private(&target),
        _ => Ok(()),
    }
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
    /// No directory for the records could be found.
    NoDirectory(String),
    /// A directory records would go into that someone else could tamper with.
    Unsafe { path: PathBuf, problem: String },
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
            AuditError::NoDirectory(message) => write!(f, "{message}"),
            AuditError::Unsafe { path, problem } => write!(
                f,
                "will not keep run records in {}: {problem}",
                path.display()
            ),
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
            AuditError::NoDirectory(_) => None,
            AuditError::Unsafe { path, .. } => Some(format!(
                "make it yours and private (`chmod 700 {}`), or choose another with --audit-dir / RUNBOOK_AUDIT_DIR",
                path.display()
            )),
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

/// The run id of a record: the last part of its file name.
pub fn run_id_of(path: &Path) -> Option<&str> {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.rsplit('-').next())
}

/// The record of a run, by run id (the last part of the file name), or by an
/// unambiguous prefix of one (`3f2a` for `3f2a9c1b7d4e`).
pub fn find_record(directory: &Path, run_id: &str) -> Result<PathBuf, AuditError> {
    let id_of = |path: &PathBuf| run_id_of(path).map(str::to_owned);
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
