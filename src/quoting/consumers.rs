//! What runs code given to it at run time: shells and the commands that put one behind
//! them (wrappers), and which of them read a script from standard input or a file. Pure
//! detection over a command's literal words; the rules that refuse values are in
//! `commands.rs`.

use super::walk::Arg;

pub(super) const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"];

/// A shell (at the start, or behind a wrapper) that runs a script the runbook does not
/// spell out: a file operand, or a `-c` script that is not literal text.
pub(super) fn shell_script(args: &[Arg<'_>]) -> Option<String> {
    let start = args
        .iter()
        .position(|arg| arg.program().is_some_and(is_shell))?;
    // `bash x`, or behind a wrapper (`sudo -u pg bash x`); not `grep -c bash file`.
    if start > 0
        && !args[0]
            .program()
            .is_some_and(|program| WRAPPERS.contains(&program))
    {
        return None;
    }
    let shell = args[start].program().unwrap_or("sh").to_owned();
    let mut index = start + 1;
    let mut command_flag = false;
    while let Some(arg) = args.get(index) {
        let Some(option) = arg
            .literal
            .as_deref()
            .filter(|text| text.starts_with(['-', '+']) && text.len() > 1)
        else {
            break;
        };
        if option == "--" {
            index += 1;
            break;
        }
        if !option.starts_with("--") {
            command_flag |= option[1..].contains('c');
            if option[1..].ends_with(['o', 'O']) {
                index += 1;
            }
        }
        index += 1;
    }
    match args.get(index) {
        // `bash -c 'literal script'`: runbook code (checked as such); `bash -c "$x"`: not.
        Some(script) if command_flag => script.literal.is_none().then_some(shell),
        // `bash file.sh`: whatever the file holds (maybe written by this command).
        Some(_) => Some(shell),
        None => None,
    }
}

pub(super) fn is_shell(program: &str) -> bool {
    SHELLS.contains(&program)
}

/// A script operand that is a stream rather than a file of the runbook: standard input
/// under any spelling (`/dev/stdin`, `/dev//stdin`, `/dev/fd/3` fed by `3<<<`,
/// `/proc/self/fd/0`).
pub(super) fn is_stream(path: &str) -> bool {
    path == "-" || path.starts_with("/dev/") || path.starts_with("/proc/")
}

/// Programs that run another command given after their own options, and may so put a
/// shell behind them (`sudo bash`, `env X=1 sh`, `docker exec -i db sh`).
pub(super) const WRAPPERS: &[&str] = &[
    "sudo", "doas", "env", "nice", "nohup", "timeout", "ionice", "chrt", "taskset", "stdbuf",
    "setsid", "time", "command", "builtin", "exec", "runuser", "docker", "podman", "kubectl",
    "chroot", "unshare", "nsenter", "flock", "busybox",
];

/// Whether a command runs its standard input as a script for a second shell, and which
/// command that is: a shell without `-c` and without a script file (or reading
/// `/dev/stdin`), `source /dev/stdin`, `xargs` handing its input to a shell, `ssh` with
/// no remote command or with a remote shell that reads its input. Then what goes into
/// its input — a here-document, a here-string, the commands before it in a pipeline —
/// is parsed again there. `words` are the literal words (`None` where unknown).
pub(super) fn stdin_consumer(words: &[Option<&str>]) -> Option<String> {
    for (index, word) in words.iter().enumerate() {
        let Some(word) = word else {
            return None;
        };
        let program = word.rsplit('/').next().unwrap_or(word);
        let rest = &words[index + 1..];
        if SHELLS.contains(&program) {
            return shell_reads_stdin(rest).then(|| program.to_owned());
        }
        match program {
            "source" | "." => {
                return rest
                    .first()
                    .copied()
                    .flatten()
                    .filter(|path| is_stream(path))
                    .map(|_| program.to_owned());
            }
            "xargs" => {
                let runs_code = rest.iter().flatten().any(|word| {
                    let name = word.rsplit('/').next().unwrap_or(word);
                    SHELLS.contains(&name) || matches!(name, "eval" | "ssh" | "su" | "sudo")
                });
                return runs_code.then(|| "xargs".to_owned());
            }
            "ssh" => return ssh_reads_stdin(rest).then(|| "ssh".to_owned()),
            _ if index == 0 || WRAPPERS.contains(&program) => {}
            _ => {}
        }
        if index == 0 && !WRAPPERS.contains(&program) {
            return None;
        }
    }
    None
}

fn shell_reads_stdin(rest: &[Option<&str>]) -> bool {
    let mut index = 0;
    let mut stdin_flag = false;
    while let Some(Some(option)) = rest.get(index) {
        if !option.starts_with(['-', '+']) || *option == "-" {
            break;
        }
        if *option == "--" {
            index += 1;
            break;
        }
        if !option.starts_with("--") {
            let letters = &option[1..];
            if letters.contains('c') {
                return false;
            }
            stdin_flag |= letters.contains('s');
            if letters.ends_with(['o', 'O']) {
                index += 1;
            }
        }
        index += 1;
    }
    match rest.get(index) {
        None => true,
        Some(Some(operand)) => stdin_flag || is_stream(operand),
        Some(None) => stdin_flag,
    }
}

fn ssh_reads_stdin(rest: &[Option<&str>]) -> bool {
    let (index, _) = ssh_destination(rest);
    let remote = &rest[(index + 1).min(rest.len())..];
    if remote.is_empty() {
        return true;
    }
    // The remote words are one command line: `'bash -s'` is two words there.
    let line: Vec<String> = remote
        .iter()
        .map(|word| word.unwrap_or("VALUE").to_owned())
        .collect();
    let line = line.join(" ");
    let tokens: Vec<Option<&str>> = line.split_whitespace().map(Some).collect();
    stdin_consumer(&tokens).is_some()
}

/// Where the destination of `ssh [options] DESTINATION …` is among `words` (ssh's
/// arguments), and whether `--` ended the options before it. In a cluster (`-tp22`),
/// the first option taking a value takes the rest of the word, or the next word.
pub(super) fn ssh_destination(words: &[Option<&str>]) -> (usize, bool) {
    const WITH_VALUE: &str = "BbcDEeFIiJLlmOopQRSWw";
    let mut index = 0;
    while let Some(Some(option)) = words.get(index) {
        if *option == "--" {
            return (index + 1, true);
        }
        if !option.starts_with('-') || option.len() < 2 {
            break;
        }
        for (position, letter) in option.char_indices().skip(1) {
            if WITH_VALUE.contains(letter) {
                if position + letter.len_utf8() == option.len() {
                    index += 1;
                }
                break;
            }
        }
        index += 1;
    }
    (index, false)
}
