//! The remote side of a session: the fixed bootstrap every remote command line is, and
//! the request it reads on stdin (docs/remote.md, "What is sent, and what is recorded").

use std::path::Path;
use std::time::Duration;

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
