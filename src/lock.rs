//! Run locks (docs/audit.md, "Locks"): `lock: NAME` takes an OS file lock (flock) on
//! `NAME.lock` in a host-wide lock directory, so two operators, or an operator and
//! `sudo`, contend for the same lock. The kernel drops a lock when its holder ends,
//! however it ends, so a crashed run never leaves a stale lock. The file says who holds
//! it — user, host, pid and the pid's start time — and which steps of that run are
//! running, with their process groups: a run that takes the lock after a holder was
//! killed (`kill -9`) sees the step it left behind and refuses while it still runs.

use crate::process;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The host-wide default: `/run/lock/runbook` where `/run/lock` exists (Debian, Ubuntu,
/// Fedora: a tmpfs, emptied at boot, world-writable with the sticky bit), else
/// `/var/lock/runbook`, else `/tmp/runbook-locks`. The same for root and other users.
pub fn default_directory() -> PathBuf {
    for parent in ["/run/lock", "/var/lock"] {
        if Path::new(parent).is_dir() {
            return Path::new(parent).join("runbook");
        }
    }
    PathBuf::from("/tmp/runbook-locks")
}

/// Who holds a lock, and what it is running.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Holder {
    #[serde(default)]
    pub runbook: String,
    #[serde(default)]
    pub run_id: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: u32,
    /// The pid's start time (clock ticks since boot): pid and start time name one
    /// process for good.
    #[serde(default)]
    pub pid_start: Option<u64>,
    #[serde(default)]
    pub started_at: String,
    /// The steps running now, each in its own process group.
    #[serde(default)]
    pub steps: Vec<RunningStep>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningStep {
    pub step_id: String,
    pub pgid: u32,
    /// When the group's leader (the step's shell) started.
    #[serde(default)]
    pub leader_start: Option<u64>,
}

#[derive(Debug)]
pub enum LockError {
    Held {
        name: String,
        holder: Option<Box<Holder>>,
    },
    /// The last holder was killed, and a step it started is still running.
    Orphaned {
        name: String,
        holder: Box<Holder>,
        step: RunningStep,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A templated lock name that cannot be rendered.
    BadName(String),
    /// The lock directory is not safe to use (a symlink, or world-writable without the
    /// sticky bit, so anyone could delete another user's lock).
    UnsafeDirectory { path: PathBuf, problem: String },
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
                write!(
                    f,
                    "lock `{name}` is held by another run, which has not said who it is"
                )
            }
            LockError::Orphaned { name, holder, step } => write!(
                f,
                "run {} of {} ({}@{}, pid {}) was killed holding lock `{name}`, but its step `{}` is still running (process group {})",
                holder.run_id,
                holder.runbook,
                holder.user,
                holder.host,
                holder.pid,
                step.step_id,
                step.pgid
            ),
            LockError::Io { path, error } => {
                write!(f, "cannot take the lock {}: {error}", path.display())
            }
            LockError::UnsafeDirectory { path, problem } => {
                write!(
                    f,
                    "will not use the lock directory {}: {problem}",
                    path.display()
                )
            }
            LockError::BadName(message) => write!(f, "{message}"),
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
            LockError::Orphaned { holder, step, .. } => Some(format!(
                "stop it first (`kill -TERM -- -{}`), then `runbook resume {}` or start again",
                step.pgid, holder.run_id
            )),
            LockError::Io { .. } => {
                Some("choose another directory with --lock-dir or RUNBOOK_LOCK_DIR".to_owned())
            }
            LockError::BadName(_) => {
                Some("a lock name may use the runbook's params only".to_owned())
            }
            LockError::UnsafeDirectory { .. } => Some(
                "make it a real directory with mode 1777 (or 0700 for one user), or choose another with --lock-dir"
                    .to_owned(),
            ),
        }
    }

    /// Whether another run holds the lock (exit 4), rather than a local problem (exit 2).
    pub fn is_held(&self) -> bool {
        matches!(self, LockError::Held { .. } | LockError::Orphaned { .. })
    }
}

/// The locks a run holds, in one directory, with the file of each kept up to date with
/// the steps that are running.
pub struct Locks {
    directory: PathBuf,
    holder: RefCell<Holder>,
    held: RefCell<Vec<(String, Flock<File>)>>,
}

impl Locks {
    pub fn new(directory: PathBuf, holder: Holder) -> Locks {
        Locks {
            directory,
            holder: RefCell::new(holder),
            held: RefCell::new(Vec::new()),
        }
    }

    /// Takes every lock in `names` not held yet (sorted, so two runs never wait on each
    /// other in opposite orders), or none of them; returns the ones it took.
    pub fn acquire(&self, names: &[String]) -> Result<Vec<String>, LockError> {
        let mut names: Vec<&String> = names
            .iter()
            .filter(|name| !self.held.borrow().iter().any(|(held, _)| held == *name))
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        prepare_directory(&self.directory)?;
        let mut taken = Vec::new();
        for name in names {
            // On an error the locks taken so far are dropped, and so released.
            taken.push((name.clone(), self.take(name)?));
        }
        let names = taken.iter().map(|(name, _)| name.clone()).collect();
        self.held.borrow_mut().extend(taken);
        self.rewrite();
        Ok(names)
    }

    /// Releases the named locks (an included runbook's, when it ends).
    pub fn release(&self, names: &[String]) {
        self.held
            .borrow_mut()
            .retain(|(name, _)| !names.contains(name));
    }

    pub fn is_empty(&self) -> bool {
        self.held.borrow().is_empty()
    }

    /// A step's command started in process group `pgid`.
    pub fn step_started(&self, step_id: &str, pgid: u32) {
        {
            let mut holder = self.holder.borrow_mut();
            holder.steps.retain(|step| step.step_id != step_id);
            holder.steps.push(RunningStep {
                step_id: step_id.to_owned(),
                pgid,
                leader_start: process::start_time(pgid),
            });
        }
        self.rewrite();
    }

    pub fn step_ended(&self, step_id: &str) {
        let removed = {
            let mut holder = self.holder.borrow_mut();
            let before = holder.steps.len();
            holder.steps.retain(|step| step.step_id != step_id);
            holder.steps.len() != before
        };
        if removed {
            self.rewrite();
        }
    }

    fn take(&self, name: &str) -> Result<Flock<File>, LockError> {
        let path = self.directory.join(file_name(name));
        let file = open(&path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                // The last holder's note: if it was killed while a step ran, that step
                // may still be running.
                let previous = read_holder(&mut lock);
                if let Some(previous) = previous
                    && let Some(step) = previous
                        .steps
                        .iter()
                        .find(|step| process::group_alive_since(step.pgid, step.leader_start))
                {
                    return Err(LockError::Orphaned {
                        name: name.to_owned(),
                        step: step.clone(),
                        holder: Box::new(previous),
                    });
                }
                Ok(lock)
            }
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                // The holder writes its note right after it takes the lock: a run that
                // looks in between waits a moment for it.
                let mut holder = None;
                for _ in 0..50 {
                    holder = read_holder(&mut file);
                    if holder.is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(LockError::Held {
                    name: name.to_owned(),
                    holder: holder.map(Box::new),
                })
            }
            Err((_, errno)) => Err(LockError::Io {
                path,
                error: std::io::Error::from(errno),
            }),
        }
    }

    /// Writes the holder's note into every held lock file.
    fn rewrite(&self) {
        let text = serde_json::to_string(&*self.holder.borrow()).unwrap_or_default();
        for (_, lock) in self.held.borrow_mut().iter_mut() {
            let _ = lock
                .set_len(0)
                .and_then(|()| lock.rewind())
                .and_then(|()| lock.write_all(text.as_bytes()))
                .and_then(|()| lock.flush());
        }
    }
}

/// A lock name as a file name: letters, digits, `-`, `_` and `.` as they are, anything
/// else (a `/` of a path, a space) percent-encoded, so a templated name (`pg-{{ dir }}`)
/// is one file in the directory.
pub fn file_name(name: &str) -> String {
    let mut out = String::new();
    for (index, byte) in name.bytes().enumerate() {
        let plain =
            byte.is_ascii_alphanumeric() || b"-_".contains(&byte) || (byte == b'.' && index > 0);
        if plain {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{out}.lock")
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Creates the directory shared by every user (mode 1777, like /tmp), or checks that an
/// existing one is a real directory nobody else can empty.
fn prepare_directory(directory: &Path) -> Result<(), LockError> {
    match std::fs::symlink_metadata(directory) {
        Ok(metadata) => {
            if !metadata.is_dir() {
                return Err(LockError::UnsafeDirectory {
                    path: directory.to_owned(),
                    problem: "it is not a directory (a symlink?)".to_owned(),
                });
            }
            let mode = metadata.mode();
            if mode & 0o002 != 0 && mode & 0o1000 == 0 {
                return Err(LockError::UnsafeDirectory {
                    path: directory.to_owned(),
                    problem: format!(
                        "it is writable by everyone without the sticky bit (mode {:o}), so anyone could delete a lock",
                        mode & 0o7777
                    ),
                });
            }
            Ok(())
        }
        Err(_) => {
            let io = |error| LockError::Io {
                path: directory.to_owned(),
                error,
            };
            if let Some(parent) = directory.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            match std::fs::create_dir(directory) {
                Ok(()) => {
                    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(0o1777))
                        .map_err(io)
                }
                // Another run created it in the meantime.
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    prepare_directory(directory)
                }
                Err(error) => Err(io(error)),
            }
        }
    }
}

/// Opens (creating) a lock file without following a symlink planted in the shared
/// directory; a new file is made writable by everyone so that any user's run can say
/// it holds the lock (the lock itself is the kernel's; the note is informational).
fn open(path: &Path) -> Result<File, LockError> {
    let io = |error: nix::errno::Errno| LockError::Io {
        path: path.to_owned(),
        error: std::io::Error::from(error),
    };
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let descriptor = match nix::fcntl::open(path, flags, Mode::from_bits_truncate(0o666)) {
        Ok(descriptor) => descriptor,
        // Another user's file without write permission: a read-only descriptor still
        // takes the lock.
        Err(nix::errno::Errno::EACCES) => nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?,
        Err(error) => return Err(io(error)),
    };
    let file = File::from(descriptor);
    if let Ok(metadata) = file.metadata()
        && metadata.uid() == nix::unistd::geteuid().as_raw()
        && metadata.mode() & 0o666 != 0o666
    {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_become_one_file_each() {
        assert_eq!(file_name("postgres-restore"), "postgres-restore.lock");
        assert_eq!(
            file_name("pg-/var/lib/pg 15"),
            "pg-%2Fvar%2Flib%2Fpg%2015.lock"
        );
        assert_eq!(file_name("../x"), "%2E.%2Fx.lock");
    }

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let directory = tempfile::tempdir().expect("temp dir");
        let holder = |run_id: &str| Holder {
            runbook: "r".into(),
            run_id: run_id.into(),
            user: "alice".into(),
            pid: std::process::id(),
            ..Holder::default()
        };
        let first = Locks::new(directory.path().join("locks"), holder("one"));
        first
            .acquire(&["a".to_owned(), "b".to_owned()])
            .expect("first takes both");
        let second = Locks::new(directory.path().join("locks"), holder("two"));
        match second.acquire(&["b".to_owned()]) {
            Err(LockError::Held {
                holder: Some(holder),
                ..
            }) => assert_eq!(holder.run_id, "one"),
            other => panic!("{other:?}"),
        }
        let mode = std::fs::metadata(directory.path().join("locks"))
            .expect("dir")
            .mode();
        assert_eq!(mode & 0o7777, 0o1777);
        first.release(&["b".to_owned()]);
        second.acquire(&["b".to_owned()]).expect("released");
    }

    #[test]
    fn a_world_writable_directory_without_the_sticky_bit_is_refused() {
        let directory = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let locks = Locks::new(directory.path().to_owned(), Holder::default());
        assert!(matches!(
            locks.acquire(&["x".to_owned()]),
            Err(LockError::UnsafeDirectory { .. })
        ));
    }
}
