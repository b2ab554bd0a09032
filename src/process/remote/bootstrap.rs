//! The remote side of a session: the fixed bootstrap every remote command line is, and
//! the request it reads on stdin (docs/remote.md, "What is sent, and what is recorded").

use std::path::Path;
use std::time::Duration;

/// The remote side of one command (`boot.sh`, whose comments say what it does): the
/// text that follows `exec bash -c` on the remote command line, without its comments
/// and on one line (every login shell reads a one-line single-quoted word the same way).
pub fn boot() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        include_str!("boot.sh")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

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

/// The session's remote command line: the bootstrap, in the single quotes every login
/// shell reads the same way.
pub fn remote_command() -> String {
    format!("exec bash -c '{}'", boot())
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

/// Heartbeats the remote side may miss before it takes the local side for gone and
/// stops the command (as `ServerAliveCountMax` does for the connection).
pub const MISSED_HEARTBEATS: u64 = 4;

/// The request written to the session's stdin before the control lines.
pub fn request(
    env: &[(String, String)],
    grace: Duration,
    heartbeat: Duration,
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
    out.extend_from_slice(grace.as_millis().to_string().as_bytes());
    out.push(0);
    let silence = heartbeat.as_secs().max(1) * MISSED_HEARTBEATS;
    out.extend_from_slice(silence.to_string().as_bytes());
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
        assert!(!boot().contains('\''), "single quotes end the wrapper");
        assert!(!boot().contains('\n'), "csh refuses newlines in quotes");
        assert!(
            !boot().contains('\\'),
            "fish reads backslashes in single quotes"
        );
    }

    #[test]
    fn the_bootstrap_parses_as_bash() {
        let status = std::process::Command::new("bash")
            .args(["-n", "-c", boot()])
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
    fn a_request_refuses_nul_bytes() {
        let grace = Duration::from_secs(5);
        let beat = Duration::from_secs(15);
        assert!(request(&[], grace, beat, None, "bash", "echo \0").is_err());
        let env = [("A".to_owned(), "x\0y".to_owned())];
        assert!(request(&env, grace, beat, None, "bash", "true").is_err());
        let ok = request(
            &[("A".to_owned(), "1".to_owned())],
            grace,
            beat,
            None,
            "bash",
            "true",
        )
        .expect("request");
        assert_eq!(ok, b"A=1\0\x005000\x0060\0\0bash\0-euo\0pipefail\0\0true\0");
    }
}
