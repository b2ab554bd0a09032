//! The run's ssh master connections, one per destination: opened on first use, checked
//! after a session ends with 255, closed at the end of the run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;
use tokio::process::Command;

/// How long the first connection to a host may take (authentication included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an idle master outlives a run that could not close it (`kill -9`).
const PERSIST_SECONDS: u32 = 120;

/// One destination as the step names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub destination: String,
    pub port: Option<u16>,
    pub forward_agent: bool,
}

impl Endpoint {
    /// How messages name it: `postgres@db1`, `db1 port 2222`.
    pub fn label(&self) -> String {
        match self.port {
            Some(port) => format!("{} port {port}", self.destination),
            None => self.destination.clone(),
        }
    }
}

/// A live master connection.
#[derive(Clone, Debug)]
pub struct Connection {
    pub socket: PathBuf,
    /// The host key the server showed (`ED25519 SHA256:…`), as ssh logged it.
    pub fingerprint: Option<String>,
}

/// Why a host could not be reached.
#[derive(Clone, Debug)]
pub enum ConnectError {
    /// ssh refused or failed; its own messages, without its debug lines.
    Failed {
        messages: Vec<String>,
    },
    TimedOut,
    Interrupted,
    /// `ssh` could not be started at all.
    NoClient(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Failed { messages } if messages.is_empty() => {
                write!(f, "ssh failed without saying why")
            }
            ConnectError::Failed { messages } => write!(f, "{}", messages.join("; ")),
            ConnectError::TimedOut => {
                write!(f, "no connection after {} s", CONNECT_TIMEOUT.as_secs())
            }
            ConnectError::Interrupted => write!(f, "interrupted"),
            ConnectError::NoClient(error) => write!(f, "cannot start `ssh`: {error}"),
        }
    }
}

impl ConnectError {
    /// What to do about it, when the messages tell.
    pub fn help(&self) -> Option<&'static str> {
        let ConnectError::Failed { messages } = self else {
            return None;
        };
        let text = messages.join("\n");
        if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            Some(
                "the host's key is not the one known_hosts holds: find out why before anything else (a reinstalled host, or someone in between); then replace the entry (`ssh-keygen -R HOST`)",
            )
        } else if text.contains("Host key verification failed")
            || text.contains("No ED25519 host key is known")
            || text.contains("host key is known")
        {
            Some(
                "the host's key is not in known_hosts: check its fingerprint out of band, then add it (`ssh-keyscan HOST >> ~/.ssh/known_hosts`), see docs/remote.md",
            )
        } else if text.contains("Permission denied") {
            Some(
                "no key was accepted, and runbook never asks for a password: load the key into your agent (`ssh-add`) or name it with `IdentityFile` in the ssh configuration",
            )
        } else if text.contains("Could not resolve hostname") {
            Some("check the destination, or give it a `HostName` in the ssh configuration")
        } else {
            None
        }
    }
}

struct Slot {
    index: usize,
    state: tokio::sync::Mutex<Option<Connection>>,
}

/// The run's master connections, by endpoint.
pub struct Connections {
    /// `--ssh-config`: passed as `-F` to every `ssh`.
    config: Option<PathBuf>,
    directory: std::cell::OnceCell<tempfile::TempDir>,
    slots: RefCell<HashMap<Endpoint, Rc<Slot>>>,
    closed: std::cell::Cell<bool>,
}

impl Connections {
    pub fn new(config: Option<PathBuf>) -> Connections {
        Connections {
            config,
            directory: std::cell::OnceCell::new(),
            slots: RefCell::new(HashMap::new()),
            closed: std::cell::Cell::new(false),
        }
    }

    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The private directory of the control sockets: under `$XDG_RUNTIME_DIR` when
    /// there is one, else the temporary directory; 0700, removed at the end.
    fn directory(&self) -> std::io::Result<&Path> {
        if let Some(directory) = self.directory.get() {
            return Ok(directory.path());
        }
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute() && path.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        // Private: the masters' logs name users, hosts and keys.
        let created = tempfile::Builder::new()
            .prefix("runbook-ssh-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(base)?;
        Ok(self.directory.get_or_init(|| created).path())
    }

    /// A live master for `endpoint`: the run's existing one, or a new connection.
    pub async fn connect(
        &self,
        endpoint: &Endpoint,
        interrupts: &crate::process::signals::Interrupts,
    ) -> Result<Connection, ConnectError> {
        let slot = {
            let mut slots = self.slots.borrow_mut();
            let next = slots.len();
            Rc::clone(slots.entry(endpoint.clone()).or_insert_with(|| {
                Rc::new(Slot {
                    index: next,
                    state: tokio::sync::Mutex::new(None),
                })
            }))
        };
        let mut state = slot.state.lock().await;
        if let Some(connection) = state.as_ref()
            && connection.socket.exists()
        {
            return Ok(connection.clone());
        }
        let directory = self
            .directory()
            .map_err(|error| ConnectError::NoClient(error.to_string()))?;
        let socket = directory.join(format!("{}", slot.index));
        let log = directory.join(format!("{}.log", slot.index));
        // A master that died leaves its socket behind; ssh would not replace it.
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(&log);
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(|error| ConnectError::NoClient(error.to_string()))?;
        let mut command = Command::new("ssh");
        command.args(self.common(endpoint, &socket));
        command
            .args(["-o", "ControlMaster=yes"])
            .args(["-o", &format!("ControlPersist={PERSIST_SECONDS}")])
            // A dead network is noticed within a minute, not at TCP's pace.
            .args([
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=4",
            ])
            .arg("-E")
            .arg(&log)
            .args(["-v", "-f", "-N", "--", &endpoint.destination])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|error| ConnectError::NoClient(error.to_string()))?;
        let seen = interrupts.count();
        let status = tokio::select! {
            status = child.wait() => status.map_err(|error| ConnectError::NoClient(error.to_string()))?,
            _ = tokio::time::sleep(CONNECT_TIMEOUT) => {
                let _ = child.kill().await;
                return Err(ConnectError::TimedOut);
            }
            _ = interrupts.beyond(seen) => {
                let _ = child.kill().await;
                return Err(ConnectError::Interrupted);
            }
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !status.success() || !socket.exists() {
            return Err(ConnectError::Failed {
                messages: messages(&text),
            });
        }
        let connection = Connection {
            socket,
            fingerprint: fingerprint(&text),
        };
        *state = Some(connection.clone());
        Ok(connection)
    }

    /// Whether the master behind `connection` still runs (after a session ended with
    /// 255, this tells a lost connection from a command that exited 255).
    pub async fn alive(&self, endpoint: &Endpoint, connection: &Connection) -> bool {
        let mut command = Command::new("ssh");
        command
            .args(self.common(endpoint, &connection.socket))
            .args(["-O", "check", "--", &endpoint.destination])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        matches!(command.status().await, Ok(status) if status.success())
    }

    /// Forgets a master that is gone, so the next step connects again.
    pub async fn forget(&self, endpoint: &Endpoint) {
        let slot = self.slots.borrow().get(endpoint).cloned();
        if let Some(slot) = slot {
            *slot.state.lock().await = None;
        }
    }

    /// The options every `ssh` of an endpoint gets: the configuration file, no prompt,
    /// the control socket, no forwarding unless asked.
    pub fn common(&self, endpoint: &Endpoint, socket: &Path) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(config) = &self.config {
            args.push("-F".to_owned());
            args.push(config.display().to_string());
        }
        args.extend(
            [
                "-o",
                "BatchMode=yes",
                "-o",
                "ClearAllForwardings=yes",
                "-o",
                "ForwardX11=no",
                "-o",
            ]
            .map(str::to_owned),
        );
        args.push(format!(
            "ForwardAgent={}",
            if endpoint.forward_agent { "yes" } else { "no" }
        ));
        args.push("-o".to_owned());
        args.push(format!("ControlPath={}", socket.display()));
        if let Some(port) = endpoint.port {
            args.push("-p".to_owned());
            args.push(port.to_string());
        }
        args
    }

    /// Closes every master of the run.
    pub async fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let exits: Vec<_> = self
            .open()
            .into_iter()
            .map(|(endpoint, socket)| {
                let mut command = Command::new("ssh");
                command
                    .args(self.common(&endpoint, &socket))
                    .args(["-O", "exit", "--", &endpoint.destination])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), command.status()).await;
                }
            })
            .collect();
        futures_util::future::join_all(exits).await;
    }

    fn open(&self) -> Vec<(Endpoint, PathBuf)> {
        self.slots
            .borrow()
            .iter()
            .filter_map(|(endpoint, slot)| {
                let state = slot.state.try_lock().ok()?;
                let connection = state.as_ref()?;
                connection
                    .socket
                    .exists()
                    .then(|| (endpoint.clone(), connection.socket.clone()))
            })
            .collect()
    }
}

impl Drop for Connections {
    fn drop(&mut self) {
        if self.closed.get() {
            return;
        }
        // A run that ended without `close` (an error on the way out) still closes its
        // masters rather than leave them for `ControlPersist` to end.
        for (endpoint, socket) in self.open() {
            let _ = std::process::Command::new("ssh")
                .args(self.common(&endpoint, &socket))
                .args(["-O", "exit", "--", &endpoint.destination])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What ssh said, without its debug lines.
fn messages(log: &str) -> Vec<String> {
    log.lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty() && !line.starts_with("debug"))
        .filter(|line| !line.starts_with("OpenSSH_") && !line.starts_with("Authenticated to"))
        .map(str::to_owned)
        .collect()
}

/// The server's host key as ssh logged it: `debug1: Server host key: ssh-ed25519
/// SHA256:…`. Behind a `ProxyJump` the jump host's connection logs first (its `ssh`
/// shares the log): the destination's own key is the last one.
fn fingerprint(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        let rest = line.split_once("Server host key: ")?.1;
        Some(rest.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_and_messages_are_read_from_the_log() {
        let log = "OpenSSH_9.2p1\ndebug1: Server host key: ssh-ed25519 SHA256:abc\nHost key verification failed.\n";
        assert_eq!(fingerprint(log).as_deref(), Some("ssh-ed25519 SHA256:abc"));
        assert_eq!(messages(log), vec!["Host key verification failed."]);
    }
}
