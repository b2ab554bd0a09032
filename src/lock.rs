//! Run locks: `lock: NAME` takes an OS file lock (flock) on `<state dir>/locks/NAME.lock`
//! for the whole run. The kernel drops it when the process ends, however it ends, so a
//! crashed run never leaves a stale lock. The file holds who has it, for the message the
//! second run prints.

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Who holds a lock.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    pub runbook: String,
    pub run_id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
}

/// A held lock; released when dropped (or when the process dies).
pub struct RunLock {
    _lock: Flock<File>,
}

#[derive(Debug)]
pub enum LockError {
    Held {
        name: String,
        holder: Option<Box<Holder>>,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held {
                name,
                holder: Some(holder),
            } => write!(
                f,
                "lock `{name}` is held by run {} of {} — {}@{}, pid {}, since {}",
                holder.run_id,
                holder.runbook,
                holder.user,
                holder.host,
                holder.pid,
                holder.started_at
            ),
            LockError::Held { name, holder: None } => {
                write!(f, "lock `{name}` is held by another run")
            }
            LockError::Io { path, error } => {
                write!(f, "cannot take the lock {}: {error}", path.display())
            }
        }
    }
}

impl LockError {
    pub fn help(&self) -> Option<String> {
        match self {
            LockError::Held { .. } => Some(
                "only one run at a time may hold this lock; wait for that run to finish (the lock is released even if it crashes)"
                    .to_owned(),
            ),
            LockError::Io { .. } => None,
        }
    }
}

/// Takes every lock in `names` (sorted, so two runs never wait on each other in
/// opposite orders), or none.
pub fn acquire_all(
    directory: &Path,
    names: &[String],
    holder: &Holder,
) -> Result<Vec<RunLock>, LockError> {
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| acquire(directory, &name, holder))
        .collect()
}

fn acquire(directory: &Path, name: &str, holder: &Holder) -> Result<RunLock, LockError> {
    let io = |error| LockError::Io {
        path: directory.to_owned(),
        error,
    };
    if !directory.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(directory)
            .map_err(io)?;
    }
    let path = directory.join(format!("{name}.lock"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|error| LockError::Io {
            path: path.clone(),
            error,
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            let text = serde_json::to_string(holder).unwrap_or_default();
            let written = lock
                .set_len(0)
                .and_then(|()| lock.rewind())
                .and_then(|()| lock.write_all(text.as_bytes()))
                .and_then(|()| lock.flush());
            written.map_err(|error| LockError::Io {
                path: path.clone(),
                error,
            })?;
            Ok(RunLock { _lock: lock })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Err(LockError::Held {
                name: name.to_owned(),
                holder: serde_json::from_str(&text).ok().map(Box::new),
            })
        }
        Err((_, errno)) => Err(LockError::Io {
            path,
            error: std::io::Error::from(errno),
        }),
    }
}
