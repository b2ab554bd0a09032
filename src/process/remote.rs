//! Steps on other hosts, through the system's OpenSSH client (docs/remote.md).
//!
//! One master connection per destination per run (`ControlMaster`, its socket in a
//! private 0700 directory), opened on first use with `BatchMode=yes` and the user's own
//! host-key checking, and closed when the run ends. Each command is a multiplexed
//! session whose remote command line is a fixed bootstrap ([`BOOT`]) holding no value:
//! the environment, the working directory and the script follow on the session's stdin,
//! which then stays open as a control channel. The bootstrap runs the script in its own
//! process group and ends that group — SIGTERM, the grace period, SIGKILL — when told to
//! (`TERM`, `KILL`) or when its stdin closes because the connection or this process
//! went away, so no remote process outlives its step.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;
use tokio::process::Command;

/// The remote command line. It runs in whatever login shell the remote user has (so it
/// is one line without single quotes or backslashes, and starts bash itself) and reads,
/// NUL separated: `NAME=VALUE` exports ending with an empty record, the grace period in
/// seconds, the working directory (empty: the login directory), the shell's words
/// ending with an empty record, and the script.
///
/// - The script reaches its shell as `/dev/fd/3`, never as an argument; the shell's
///   words and the script are put in place before the exports, so no exported name can
///   change them.
/// - The script runs in a process group of its own (`set -m`). A watcher reads the
///   control lines that follow: the first `TERM` (or the end of input: the connection
///   or the local side is gone) sends SIGTERM to that group and to every process that
///   descends from the script but left the group (`su -c`, `timeout`), found in /proc
///   while the script runs, then SIGKILL after the grace period; `KILL` kills at once.
/// - Background processes the script leaves in its group after a normal end get a
///   second to finish their output, then are ended like the rest, and stderr says so.
pub const BOOT: &str = concat!(
    "set -u; e=(); c=(); ",
    "while IFS= read -r -d \"\" w && [ -n \"$w\" ]; do e+=(\"$w\"); done; ",
    "IFS= read -r -d \"\" g || exit 125; IFS= read -r -d \"\" d || exit 125; ",
    "while IFS= read -r -d \"\" w && [ -n \"$w\" ]; do c+=(\"$w\"); done; ",
    "IFS= read -r -d \"\" s || { echo \"runbook: the request was cut short\" >&2; exit 125; }; ",
    "if [ -n \"$d\" ]; then cd -- \"$d\" || { echo \"runbook: the working directory $d does not exist on ${HOSTNAME:-the host}\" >&2; exit 1; }; fi; ",
    "t() { local f p k v q; local -A m=(); for f in /proc/[0-9]*/status; do p=${f#/proc/}; p=${p%/status}; ",
    "while read -r k v; do if [ \"$k\" = PPid: ]; then m[$v]+=\" $p\"; break; fi; done 2>/dev/null < \"$f\"; done; ",
    "q=\" $1\"; while [ -n \"$q\" ]; do set -- $q; q=; for p; do echo \"$p\"; q+=\"${m[$p]-}\"; done; done; }; ",
    "x=; trap \"x=1\" USR1; set -m; ",
    "( set +m +u; exec 3<<<\"$s\"; set -- \"${c[@]}\" /dev/fd/3; ",
    "for w in ${e[@]+\"${e[@]}\"}; do export \"$w\" 2>/dev/null; done; exec \"$@\" </dev/null ) & p=$!; ",
    "( trap \"\" INT HUP; K=; ",
    "st() { K=$(t \"$p\"); kill -TERM -- -\"$p\" $K 2>/dev/null; kill -CONT -- -\"$p\" $K 2>/dev/null; kill -USR1 $$ 2>/dev/null; }; ",
    "kl() { kill -KILL -- -\"$p\" $K 2>/dev/null; }; ",
    "while IFS= read -r l; do if [ \"$l\" = KILL ]; then [ -n \"$K\" ] || K=$(t \"$p\"); kl; elif [ -z \"$K\" ]; then st; ( sleep \"$g\"; kl ) & fi; done; ",
    "[ -n \"$K\" ] || st; sleep \"$g\"; kl ) <&0 >/dev/null 2>&1 & w=$!; ",
    "set +m; while :; do wait \"$p\"; r=$?; kill -0 \"$p\" 2>/dev/null || break; done; ",
    "if [ -z \"$x\" ]; then if kill -0 -- -\"$p\" 2>/dev/null; then sleep 1; if kill -0 -- -\"$p\" 2>/dev/null; then ",
    "kill -TERM -- -\"$p\" 2>/dev/null; kill -CONT -- -\"$p\" 2>/dev/null; ",
    "for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -\"$p\" 2>/dev/null || break; sleep 0.2; done; kill -KILL -- -\"$p\" 2>/dev/null; ",
    "echo \"runbook: background processes the step left on ${HOSTNAME:-the host} were terminated\" >&2; fi; fi; ",
    "kill -KILL -- -\"$w\" 2>/dev/null; fi; exit \"$r\""
);

/// How long the first connection to a host may take (authentication included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an idle master outlives a run that could not close it (`kill -9`).
const PERSIST_SECONDS: u32 = 120;

/// Whether OpenSSH reads `text` as the destination it looks like.
pub fn check_destination(text: &str) -> Result<(), &'static str> {
    if text.starts_with('-') {
        return Err("it starts with `-`, which ssh reads as an option");
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains a space or a control character");
    }
    Ok(())
}

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
/// SHA256:…`.
fn fingerprint(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let rest = line.split_once("Server host key: ")?.1;
        Some(rest.trim().to_owned())
    })
}

/// The session's remote command line: the bootstrap, in the single quotes every login
/// shell reads the same way.
pub fn remote_command() -> String {
    format!("exec bash -c '{BOOT}'")
}

/// The words that start the script's shell on the remote side, without `-c`: the
/// script arrives as a file (`/dev/fd/3`).
pub fn shell_words(shell: &str) -> Vec<&str> {
    let mut words = vec![shell];
    words.extend(
        crate::process::program::shell_arguments(shell)
            .iter()
            .copied()
            .filter(|word| *word != "-c"),
    );
    words
}

/// The request written to the session's stdin before the control lines.
pub fn request(
    env: &[(String, String)],
    grace: Duration,
    workdir: Option<&Path>,
    shell: &str,
    script: &str,
) -> std::io::Result<Vec<u8>> {
    let nul = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte, which cannot be sent to a shell"),
        )
    };
    let mut out = Vec::with_capacity(script.len() + 256);
    for (name, value) in env {
        if name.contains('\0') || value.contains('\0') {
            return Err(nul(&format!("the environment variable {name}")));
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out.push(0);
    out.extend_from_slice(format!("{}.{:03}", grace.as_secs(), grace.subsec_millis()).as_bytes());
    out.push(0);
    if let Some(workdir) = workdir {
        let text = workdir.display().to_string();
        if text.contains('\0') {
            return Err(nul("the working directory"));
        }
        out.extend_from_slice(text.as_bytes());
    }
    out.push(0);
    for word in shell_words(shell) {
        if word.is_empty() || word.contains('\0') {
            return Err(nul("the shell"));
        }
        out.extend_from_slice(word.as_bytes());
        out.push(0);
    }
    out.push(0);
    if script.contains('\0') {
        return Err(nul("the command"));
    }
    out.extend_from_slice(script.as_bytes());
    out.push(0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_survives_every_login_shell_quoting() {
        assert!(!BOOT.contains('\''), "single quotes end the wrapper");
        assert!(!BOOT.contains('\n'), "csh refuses newlines in quotes");
        assert!(
            !BOOT.contains('\\'),
            "fish reads backslashes in single quotes"
        );
    }

    #[test]
    fn the_bootstrap_parses_as_bash() {
        let status = std::process::Command::new("bash")
            .args(["-n", "-c", BOOT])
            .status()
            .expect("bash runs");
        assert!(status.success());
    }

    #[test]
    fn destinations_that_ssh_would_misread_are_refused() {
        assert!(check_destination("postgres@db1").is_ok());
        assert!(check_destination("[fe80::1]").is_ok());
        assert!(check_destination("-oProxyCommand=touch /tmp/x").is_err());
        assert!(check_destination("db1 -p 22").is_err());
        assert!(check_destination("db1\n").is_err());
    }

    #[test]
    fn the_fingerprint_and_messages_are_read_from_the_log() {
        let log = "OpenSSH_9.2p1\ndebug1: Server host key: ssh-ed25519 SHA256:abc\nHost key verification failed.\n";
        assert_eq!(fingerprint(log).as_deref(), Some("ssh-ed25519 SHA256:abc"));
        assert_eq!(messages(log), vec!["Host key verification failed."]);
    }

    #[test]
    fn a_request_refuses_nul_bytes() {
        let grace = Duration::from_secs(5);
        assert!(request(&[], grace, None, "bash", "echo \0").is_err());
        let env = [("A".to_owned(), "x\0y".to_owned())];
        assert!(request(&env, grace, None, "bash", "true").is_err());
        let ok = request(
            &[("A".to_owned(), "1".to_owned())],
            grace,
            None,
            "bash",
            "true",
        )
        .expect("request");
        assert_eq!(ok, b"A=1\0\x005.000\0\0bash\0-euo\0pipefail\0\0true\0");
    }
}
