//! The seam between a step's script and the process that runs it. Today every step runs
//! locally in its shell; a step on another host becomes another variant here, and the
//! rest of the process handling (groups, timeouts, output) stays as it is.

use std::path::Path;
use tokio::process::Command;

/// What runs a step's script.
#[derive(Clone, Copy, Debug)]
pub enum Program<'a> {
    /// The step's shell on this machine, with flags that stop at the first failure.
    Local { shell: &'a str },
}

impl Program<'_> {
    /// The command that runs `script`, before pipes, groups and environment are set.
    pub fn command(&self, script: &str) -> Command {
        match self {
            Program::Local { shell } => {
                let mut command = Command::new(shell);
                command.args(shell_arguments(shell)).arg(script);
                command
            }
        }
    }

    /// How errors name what could not be started.
    pub fn name(&self) -> &str {
        match self {
            Program::Local { shell } => shell,
        }
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
