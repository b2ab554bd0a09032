//! The seam between a step's script and the process that runs it: the step's shell on
//! this machine, or `ssh` to another host (the script then travels on the session's
//! stdin, see `remote`). The rest of the process handling (groups, timeouts, output)
//! is the same for both.

use std::path::Path;
use tokio::process::Command;

/// What runs a step's script.
#[derive(Clone, Copy, Debug)]
pub enum Program<'a> {
    /// The step's shell on this machine, with flags that stop at the first failure.
    Local { shell: &'a str },
    /// The step's shell on another host, through a session of the run's master
    /// connection to it.
    Ssh {
        shell: &'a str,
        target: &'a SshTarget,
    },
}

/// One destination, connected: how to open a session on it.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// Options for `ssh`: the configuration file, the control socket, the port.
    pub options: Vec<String>,
    pub destination: String,
    /// How often the remote side hears from the run (`--ssh-heartbeat`).
    pub heartbeat: std::time::Duration,
}

impl Program<'_> {
    /// The command that runs `script`, before pipes, groups and environment are set.
    pub fn command(&self, script: &str) -> Command {
        match self {
            Program::Local { shell } => {
                let mut command = Command::new(resolve(shell));
                command.args(shell_arguments(shell)).arg(script);
                command
            }
            Program::Ssh { target, .. } => {
                let mut command = Command::new(resolve("ssh"));
                command
                    .args(&target.options)
                    .args(["-o", "ControlMaster=no", "-T", "--"])
                    .arg(&target.destination)
                    .arg(crate::process::remote::remote_command());
                command
            }
        }
    }

    /// How errors name what could not be started.
    pub fn name(&self) -> &str {
        match self {
            Program::Local { shell } => shell,
            Program::Ssh { .. } => "ssh",
        }
    }
}

/// The shell's path, looked up in `PATH` once per run rather than at every step.
fn resolve(shell: &str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Mutex, OnceLock};
    static RESOLVED: OnceLock<Mutex<HashMap<String, std::path::PathBuf>>> = OnceLock::new();
    if shell.contains('/') {
        return shell.into();
    }
    let cache = RESOLVED.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(path) = cache
        .lock()
        .ok()
        .and_then(|cache| cache.get(shell).cloned())
    {
        return path;
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|directory| directory.join(shell))
            .find(|candidate| {
                std::fs::metadata(candidate).is_ok_and(|metadata| {
                    metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
                })
            })
    });
    match found {
        Some(path) => {
            if let Ok(mut cache) = cache.lock() {
                cache.insert(shell.to_owned(), path.clone());
            }
            path
        }
        // Not found: let the spawn report it, by name.
        None => shell.into(),
    }
}

/// The flags that make a shell stop at the first failure, per shell.
pub fn shell_arguments(shell: &str) -> &'static [&'static str] {
    let name = Path::new(shell)
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or(shell);
    match name {
        "bash" | "zsh" => &["-euo", "pipefail", "-c"],
        "sh" | "dash" | "ash" | "ksh" => &["-eu", "-c"],
        _ => &["-c"],
    }
}
