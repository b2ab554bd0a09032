//! Commands whose arguments are not plain data: builtins that read names or arithmetic
//! (`let`, `declare`, `read`, `unset`, `printf -v`, `test -v`) and commands that hand
//! their arguments to another shell (`eval`, `sh -c`, `ssh`, `su -c`, `sudo -s`,
//! `watch`, `flock -c`, `script -c`, the command options of `ssh -o`, `scp -o`,
//! `sftp -o` and `rsync -e`), also behind wrappers (`timeout 5 ssh …`,
//! `sudo -u postgres bash -c …`, `docker exec db sh -c …`).

use super::Context;
use super::Unparsable;
use super::consumers::{SHELLS, SSH_WITH_VALUE, ssh_destination};
use super::walk::{Arg, Walker};

/// Commands that make a second shell parse (some of) their arguments, looked for
/// anywhere in a command line because wrappers put them further along.
fn reparses(program: &str) -> bool {
    SHELLS.contains(&program)
        || matches!(
            program,
            "ssh"
                | "slogin"
                | "autossh"
                | "scp"
                | "sftp"
                | "ssh-copy-id"
                | "rsync"
                | "git"
                | "su"
                | "runuser"
                | "sudo"
                | "doas"
                | "eval"
                | "watch"
                | "flock"
                | "script"
        )
}

/// Applies the rules of the command starting at `args[start]`.
pub(super) fn apply(
    walker: &mut Walker<'_>,
    args: &[Arg<'_>],
    start: usize,
) -> Result<(), Unparsable> {
    let Some(program) = args.get(start).and_then(Arg::program) else {
        return Ok(());
    };
    let program = program.to_owned();
    let rest = &args[start + 1..];
    match program.as_str() {
        "let" => {
            for arg in rest {
                walker.refuse_in(&arg.word.value, Context::Arithmetic("`let`"));
            }
            Ok(())
        }
        "eval" => {
            for arg in rest {
                walker.refuse_expanded(&arg.word.value, reparsed("eval", 1));
            }
            walker.reparse("eval", &joined(rest))?;
            Ok(())
        }
        // `builtin let …`, `command declare …`: the same builtin, so the same rules.
        "builtin" | "command" | "exec" => {
            let next = args
                .iter()
                .enumerate()
                .skip(start + 1)
                .find(|(_, arg)| !arg.is_option())
                .map(|(index, _)| index);
            match next {
                Some(index) => apply(walker, args, index),
                None => Ok(()),
            }
        }
        // `trap ACTION SIGNAL…`: the action is code, run when the signal comes.
        "trap" => {
            let operands: Vec<&Arg<'_>> = rest
                .iter()
                .skip_while(|arg| arg.is_option() && !arg.is("--"))
                .skip_while(|arg| arg.is("--"))
                .collect();
            if operands.len() >= 2 && !operands[0].is("-") {
                walker.refuse_expanded(&operands[0].word.value, reparsed("trap", 1));
                walker.reparse("trap", &operands[0].value)?;
            }
            Ok(())
        }
        // `compgen -W WORDS` expands the words (running `$(…)`), `-C`/`-F` run code.
        "compgen" | "complete" => code_options(walker, &program, rest, "oAGWFCXPS", "WCF"),
        // `mapfile -C CALLBACK`: the callback is code.
        "mapfile" | "readarray" => code_options(walker, &program, rest, "dnOsucC", "C"),
        // History is code `fc` runs again.
        "history" | "fc" => {
            for arg in rest {
                walker.refuse_in(&arg.word.value, reparsed(&program, 1));
            }
            Ok(())
        }
        "env" => env(walker, args, start),
        "getopts" => {
            if let Some(name) = rest.iter().filter(|arg| !arg.is_option()).nth(1) {
                walker.refuse_name(&name.word.value, Context::VariableName("`getopts`".into()));
            }
            Ok(())
        }
        "wait" => {
            for pair in rest.windows(2) {
                if pair[0].is("-p") {
                    walker.refuse_name(
                        &pair[1].word.value,
                        Context::VariableName("`wait -p`".into()),
                    );
                }
            }
            Ok(())
        }
        "declare" | "typeset" | "local" | "readonly" | "export" => {
            declare(walker, &program, rest);
            Ok(())
        }
        "unset" => {
            for arg in rest.iter().filter(|arg| !arg.is_option()) {
                walker.refuse_name(&arg.word.value, Context::VariableName("`unset`".into()));
            }
            Ok(())
        }
        "read" => {
            read(walker, rest);
            Ok(())
        }
        "printf" => {
            if rest.first().is_some_and(|arg| arg.is("-v"))
                && let Some(name) = rest.get(1)
                && name.literal.as_deref().is_some_and(is_code_variable)
            {
                for arg in &rest[2..] {
                    walker.refuse_in(&arg.word.value, Context::CodeVariable(name.value.clone()));
                }
            }
            if rest.first().is_some_and(|arg| arg.is("-v"))
                && let Some(name) = rest.get(1)
            {
                walker.refuse_name(
                    &name.word.value,
                    Context::VariableName("`printf -v`".into()),
                );
            }
            wrapped(walker, args, start)
        }
        "test" | "[" => {
            for pair in rest.windows(2) {
                if pair[0].is("-v") || pair[0].is("-R") {
                    walker.refuse_name(
                        &pair[1].word.value,
                        Context::VariableName("`test -v`".into()),
                    );
                }
            }
            Ok(())
        }
        shell if SHELLS.contains(&shell) => shell_c(walker, shell, rest),
        "ssh" | "slogin" | "autossh" => ssh(walker, rest),
        // Options anywhere before `--` (getopt permutes them).
        "scp" => client(walker, &SCP, rest),
        "sftp" => client(walker, &SFTP, rest),
        "ssh-copy-id" => client(walker, &SSH_COPY_ID, rest),
        "rsync" => client(walker, &RSYNC, rest),
        "git" => git(walker, rest),
        // Each also runs a command given as its own words (`runuser -u pg -- ssh …`).
        "su" | "runuser" => {
            code_options(walker, &program, rest, "cgGsuw", "c")?;
            dash_c(walker, &program, rest)?;
            wrapped(walker, args, start)
        }
        "script" => {
            code_options(walker, &program, rest, "cEIOBTt", "c")?;
            dash_c(walker, &program, rest)?;
            wrapped(walker, args, start)
        }
        "flock" => {
            code_options(walker, &program, rest, "wEc", "c")?;
            dash_c(walker, &program, rest)?;
            wrapped(walker, args, start)
        }
        "sudo" | "doas" => sudo(walker, &program, args, start),
        "watch" => watch(walker, args, start),
        _ => wrapped(walker, args, start),
    }
}

/// Option clusters (`-qc CMD`, `-tc1 -CCMD`, `-vW WORDS`): `value_letters` take a
/// value (the rest of the word, or the next word); those also in `code_letters` take
/// code, parsed again.
fn code_options(
    walker: &mut Walker<'_>,
    program: &str,
    rest: &[Arg<'_>],
    value_letters: &str,
    code_letters: &str,
) -> Result<(), Unparsable> {
    let mut index = 0;
    while let Some(arg) = rest.get(index) {
        let text = arg.value.as_str();
        if text == "--" {
            break;
        }
        if text.len() > 1 && text.starts_with('-') && !text.starts_with("--") {
            for (position, letter) in text.char_indices().skip(1) {
                if !value_letters.contains(letter) {
                    continue;
                }
                let attached = &text[position + letter.len_utf8()..];
                let value = if attached.is_empty() {
                    index += 1;
                    if code_letters.contains(letter)
                        && let Some(next) = rest.get(index)
                    {
                        walker.refuse_expanded(&next.word.value, reparsed(program, 1));
                    }
                    rest.get(index).map(|next| next.value.as_str())
                } else {
                    Some(attached)
                };
                if code_letters.contains(letter)
                    && let Some(value) = value
                {
                    walker.reparse(program, value)?;
                }
                break;
            }
        }
        index += 1;
    }
    Ok(())
}

fn reparsed(command: &str, levels: u8) -> Context {
    Context::Reparsed {
        command: command.to_owned(),
        levels,
    }
}

/// A command that may wrap a re-parsing one further along (`timeout 5 ssh …`,
/// `env X=1 sh -c …`, `docker exec db sh -c …`).
fn wrapped(walker: &mut Walker<'_>, args: &[Arg<'_>], start: usize) -> Result<(), Unparsable> {
    let next = args
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, arg)| arg.program().is_some_and(reparses));
    match next {
        Some((index, _)) => apply(walker, args, index),
        None => Ok(()),
    }
}

/// The words as one command line for a second shell.
fn joined(args: &[Arg<'_>]) -> String {
    args.iter()
        .map(|arg| arg.value.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `declare`, `local`, …: the part of each argument before `=` is a variable name; with
/// `-i` the values are arithmetic, with `-n` they are names. `declare`, `typeset` and
/// `local` evaluate a value written like `( … )` as an array assignment.
fn declare(walker: &mut Walker<'_>, program: &str, rest: &[Arg<'_>]) {
    let flags: String = rest
        .iter()
        .filter_map(|arg| arg.literal.as_deref())
        .filter(|text| text.starts_with(['-', '+']))
        .collect();
    for arg in rest.iter().filter(|arg| !arg.is_option()) {
        let text = &arg.word.value;
        let (name, value) = text.split_once('=').unwrap_or((text, ""));
        if flags.contains('i') {
            walker.refuse_in(text, Context::Arithmetic("`declare -i`"));
            if arg.literal.is_some() {
                walker.integers.insert(name.to_owned());
            }
        } else if flags.contains('n') {
            walker.refuse_in(text, Context::VariableName(format!("`{program} -n`")));
            if arg.literal.is_some() {
                walker.namerefs.insert(name.to_owned());
            }
        } else {
            walker.refuse_in(name, Context::VariableName(format!("`{program}`")));
            if is_code_variable(name.trim_end_matches('+')) {
                walker.refuse_in(value, Context::CodeVariable(name.to_owned()));
            } else if matches!(program, "declare" | "typeset" | "local") {
                walker.refuse_in(value, Context::DeclareValue(program.to_owned()));
            }
        }
    }
}

/// Variables bash runs as code: prompts and `PROMPT_COMMAND` (expanded, with `$(…)`,
/// when shown; `PS4` under `set -x`), `BASH_ENV`/`ENV` (sourced by a non-interactive
/// shell), exported functions; and those git, ssh and rsync run as commands
/// (`GIT_SSH_COMMAND`, `SSH_ASKPASS`, `RSYNC_RSH`, …).
pub fn is_code_variable(name: &str) -> bool {
    matches!(
        name,
        "PS0" | "PS1" | "PS2" | "PS3" | "PS4" | "PROMPT_COMMAND" | "BASH_ENV" | "ENV"
    ) || name.starts_with("BASH_FUNC_")
        || matches!(
            name,
            "GIT_SSH_COMMAND"
                | "GIT_PROXY_COMMAND"
                | "GIT_EXTERNAL_DIFF"
                | "GIT_PAGER"
                | "GIT_EDITOR"
                | "GIT_ASKPASS"
                | "SSH_ASKPASS"
                | "RSYNC_RSH"
                | "RSYNC_CONNECT_PROG"
        )
}

/// `env [options] [NAME=VALUE…] [COMMAND…]`: `-S STRING` splits a string into a
/// command line; assignments of code variables are code; the command may re-parse.
fn env(walker: &mut Walker<'_>, args: &[Arg<'_>], start: usize) -> Result<(), Unparsable> {
    let mut index = start + 1;
    while let Some(arg) = args.get(index) {
        let text = arg.value.as_str();
        if arg.is("-S") || arg.is("--split-string") {
            if let Some(string) = args.get(index + 1) {
                walker.refuse_expanded(&string.word.value, reparsed("env -S", 1));
                walker.reparse("env -S", &string.value)?;
            }
            return Ok(());
        }
        if let Some(string) = text.strip_prefix("--split-string=").or_else(|| {
            text.strip_prefix("-S")
                .filter(|rest| !rest.is_empty() && !text.starts_with("--"))
        }) {
            walker.reparse("env -S", string)?;
            return Ok(());
        }
        if arg.is("-u") || arg.is("-C") || arg.is("--unset") || arg.is("--chdir") {
            index += 2;
            continue;
        }
        if text.starts_with('-') && !arg.has_markers {
            index += 1;
            continue;
        }
        if let Some((name, _)) = arg.word.value.split_once('=')
            && !name.is_empty()
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            if is_code_variable(name) {
                let value = &arg.word.value[name.len() + 1..];
                walker.refuse_in(value, Context::CodeVariable(name.to_owned()));
            }
            index += 1;
            continue;
        }
        return apply(walker, args, index);
    }
    Ok(())
}

/// `read [-a NAME] [options] NAME…`: the operands are variable names.
fn read(walker: &mut Walker<'_>, rest: &[Arg<'_>]) {
    let mut index = 0;
    while let Some(arg) = rest.get(index) {
        if arg.is_option() {
            let option = arg.literal.as_deref().unwrap_or_default();
            let last = option.chars().last().unwrap_or('-');
            if option.len() == 2 && "dinNptu".contains(last) {
                index += 1;
            } else if option.len() == 2
                && last == 'a'
                && let Some(name) = rest.get(index + 1)
            {
                walker.refuse_name(&name.word.value, Context::VariableName("`read -a`".into()));
                index += 1;
            }
        } else {
            walker.refuse_name(&arg.word.value, Context::VariableName("`read`".into()));
        }
        index += 1;
    }
}

/// `sh [options] -c SCRIPT [NAME ARGS…]`: the script is parsed again; the arguments
/// after it are data (`$0`, `$1`, …). Without `-c` and without a script file (or with
/// `-s`), standard input is the script.
fn shell_c(walker: &mut Walker<'_>, shell: &str, rest: &[Arg<'_>]) -> Result<(), Unparsable> {
    let mut command_flag = false;
    let mut stdin_flag = false;
    let mut index = 0;
    while let Some(arg) = rest.get(index) {
        let Some(option) = arg
            .literal
            .as_deref()
            .filter(|text| text.starts_with(['-', '+']))
        else {
            break;
        };
        if option == "--" || option == "-" {
            index += 1;
            break;
        }
        if option.starts_with("--") {
            index += 1;
            continue;
        }
        let letters = &option[1..];
        command_flag |= letters.contains('c');
        stdin_flag |= letters.contains('s');
        // `-o NAME` / `+o NAME` and `-O NAME` take the next word.
        if letters.ends_with(['o', 'O']) {
            index += 1;
        }
        index += 1;
    }
    let _ = stdin_flag;
    if command_flag && let Some(script) = rest.get(index) {
        walker.refuse_expanded(&script.word.value, reparsed(shell, 1));
        walker.reparse(shell, &script.value)?;
    }
    Ok(())
}

/// `ssh [options] DESTINATION [COMMAND…]`: ssh joins the command words with spaces and
/// the remote shell parses the result again. Without a command, standard input is the
/// remote shell's script.
fn ssh(walker: &mut Walker<'_>, rest: &[Arg<'_>]) -> Result<(), Unparsable> {
    // Read from the words as written, markers kept: `-oProxyCommand={{ x }}` is an
    // option, `{{ x }}` (which may render to `-o…`) a destination.
    let words: Vec<Option<&str>> = rest.iter().map(|arg| Some(arg.value.as_str())).collect();
    let (index, options_ended) = ssh_destination(&words);
    client(walker, &SSH, &rest[..index.min(rest.len())])?;
    let Some(destination) = rest.get(index) else {
        return Ok(());
    };
    if !options_ended {
        walker.refuse_in(&destination.word.value, Context::SshDestination);
        walker.refuse_expanded(&destination.word.value, Context::SshDestination);
    }
    let command = &rest[index + 1..];
    if !command.is_empty() {
        for arg in command {
            walker.refuse_expanded(&arg.word.value, reparsed("ssh", 1));
        }
        walker.reparse("ssh", &joined(command))?;
    }
    Ok(())
}

/// How a client of the OpenSSH family, or rsync, reads its words.
struct Client {
    program: &'static str,
    /// Short options taking a value: the rest of the word, or the next word.
    values: &'static str,
    /// Of those, the ones whose value is a command, parsed again.
    code: &'static str,
    /// Whether `-o` is an OpenSSH configuration option.
    ssh_options: bool,
    /// Long options taking the next word as their value when written without `=`.
    long_values: &'static [&'static str],
    /// Of the long options, those whose value is a command.
    long_code: &'static [&'static str],
}

const SSH: Client = Client {
    program: "ssh",
    values: SSH_WITH_VALUE,
    code: "",
    ssh_options: true,
    long_values: &[],
    long_code: &[],
};

const SCP: Client = Client {
    program: "scp",
    values: "cDFiJloPSX",
    code: "",
    ssh_options: true,
    long_values: &[],
    long_code: &[],
};

/// `-D` runs a local command line; `-s` names the remote subsystem, a command for the
/// remote shell when it holds a `/`.
const SFTP: Client = Client {
    program: "sftp",
    values: "BbcDFiJloPRSs",
    code: "Ds",
    ssh_options: true,
    long_values: &[],
    long_code: &[],
};

const SSH_COPY_ID: Client = Client {
    program: "ssh-copy-id",
    values: "iptFo",
    code: "",
    ssh_options: true,
    long_values: &[],
    long_code: &[],
};

/// The remote shell (`-e`/`--rsh`) is a command line rsync splits again;
/// `--rsync-path` and `-M`/`--remote-option` reach the remote shell.
const RSYNC: Client = Client {
    program: "rsync",
    values: "BeTfM",
    code: "eM",
    ssh_options: false,
    long_values: &[
        "--rsh",
        "--rsync-path",
        "--remote-option",
        "--exclude",
        "--include",
        "--exclude-from",
        "--include-from",
        "--files-from",
        "--filter",
        "--temp-dir",
        "--compare-dest",
        "--copy-dest",
        "--link-dest",
        "--backup-dir",
        "--suffix",
        "--chmod",
        "--chown",
        "--usermap",
        "--groupmap",
        "--timeout",
        "--contimeout",
        "--bwlimit",
        "--max-size",
        "--min-size",
        "--max-delete",
        "--log-file",
        "--log-file-format",
        "--out-format",
        "--password-file",
        "--partial-dir",
        "--port",
        "--sockopts",
        "--skip-compress",
        "--compress-choice",
        "--compress-level",
        "--checksum-choice",
        "--block-size",
        "--iconv",
        "--info",
        "--debug",
        "--modify-window",
        "--stop-after",
        "--stop-at",
        "--outbuf",
        "--write-batch",
        "--read-batch",
        "--only-write-batch",
        "--protocol",
        "--address",
    ],
    long_code: &["--rsh", "--rsync-path", "--remote-option"],
};

fn before_options_end(client: &Client) -> Context {
    Context::BeforeOptionsEnd(client.program.to_owned())
}

/// The words of a client up to `--`. A value may stand after an option that takes it;
/// anywhere else before `--` (an operand, inside a cluster of letters, a long option's
/// name) a value starting with `-` would be read as options, some of which run
/// commands. The values of command options are parsed again.
fn client(walker: &mut Walker<'_>, client: &Client, words: &[Arg<'_>]) -> Result<(), Unparsable> {
    let mut index = 0;
    while let Some(arg) = words.get(index) {
        index += 1;
        if arg.is("--") {
            break;
        }
        let text = arg.value.as_str();
        if let Some(long) = text.strip_prefix("--").filter(|long| !long.is_empty()) {
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value)),
                None => (format!("--{long}"), None),
            };
            if walker.first_marker(&name).is_some() {
                walker.refuse_in(&arg.word.value, before_options_end(client));
                continue;
            }
            let value = match attached {
                Some(value) => Some((&arg.word.value, value)),
                None if client.long_values.contains(&name.as_str()) => {
                    let next = words.get(index);
                    index += 1;
                    next.map(|next| (&next.word.value, next.value.as_str()))
                }
                None => None,
            };
            if let Some((word, value)) = value
                && client.long_code.contains(&name.as_str())
            {
                let command = format!("{} {name}", client.program);
                walker.refuse_expanded(word, reparsed(&command, 1));
                walker.reparse(&command, value)?;
            }
            continue;
        }
        if text.len() > 1 && text.starts_with('-') {
            let marker = walker.first_marker(text);
            for (position, letter) in text.char_indices().skip(1) {
                if marker.is_some_and(|at| position >= at) {
                    // A value among the letters spells options of its own.
                    walker.refuse_in(&arg.word.value, before_options_end(client));
                    break;
                }
                if !client.values.contains(letter) {
                    continue;
                }
                let attached = &text[position + letter.len_utf8()..];
                let (word, value) = if attached.is_empty() {
                    let Some(next) = words.get(index) else {
                        break;
                    };
                    index += 1;
                    (&next.word.value, next.value.as_str())
                } else {
                    (&arg.word.value, attached)
                };
                if client.ssh_options && letter == 'o' {
                    ssh_config_option(walker, client.program, word, value)?;
                } else if client.code.contains(letter) {
                    let command = format!("{} -{letter}", client.program);
                    walker.refuse_expanded(word, reparsed(&command, 1));
                    walker.reparse(&command, value)?;
                }
                break;
            }
            continue;
        }
        // An operand before `--`, when a value starts it (`db:{{ dir }}` cannot start
        // with `-`).
        if walker.first_marker(text) == Some(0) {
            walker.refuse_in(&arg.word.value, before_options_end(client));
        }
        if arg
            .word
            .value
            .trim_start_matches(['"', '\''])
            .starts_with('$')
        {
            walker.refuse_expanded(&arg.word.value, before_options_end(client));
        }
    }
    Ok(())
}

/// Options of OpenSSH's configuration whose value is a command: run by a local shell
/// (`ProxyCommand`, `LocalCommand`, `KnownHostsCommand`, `Match exec`) or the remote
/// one (`RemoteCommand`); and `HostName`, which ssh does not check as it checks a
/// destination and which lands in those commands as `%h`.
const SSH_COMMAND_OPTIONS: [&str; 6] = [
    "proxycommand",
    "localcommand",
    "knownhostscommand",
    "remotecommand",
    "match",
    "hostname",
];

/// One `-o` value, read as OpenSSH reads it: blanks and `=` before the name skipped,
/// then `NAME=VALUE` or `NAME VALUE`. A name chosen by a value, or spelled other than
/// in plain letters (quoted, escaped), may be a command option.
fn ssh_config_option(
    walker: &mut Walker<'_>,
    program: &str,
    word: &str,
    option: &str,
) -> Result<(), Unparsable> {
    let option = option.trim_start_matches(|c: char| c == '=' || c.is_whitespace());
    let end = option
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(option.len());
    let (name, value) = option.split_at(end);
    walker.refuse_in(name, reparsed(&format!("{program} -o"), 1));
    let command = format!("{program} -o {name}");
    walker.refuse_expanded(word, reparsed(&command, 1));
    if !name.chars().all(|c| c.is_ascii_alphanumeric())
        || SSH_COMMAND_OPTIONS.contains(&name.to_ascii_lowercase().as_str())
    {
        let value = value.trim_start_matches(|c: char| c == '=' || c.is_whitespace());
        walker.reparse(&command, value)?;
    }
    Ok(())
}

/// `git -c NAME=VALUE …`: configuration whose value git runs as a command
/// (`core.sshCommand`, `core.pager`, `alias.x=!…`, a filter's `clean`, …) is code.
fn git(walker: &mut Walker<'_>, rest: &[Arg<'_>]) -> Result<(), Unparsable> {
    let mut index = 0;
    while let Some(arg) = rest.get(index) {
        if !arg.is_option() && arg.literal.is_some() {
            break;
        }
        let setting = if arg.is("-c") {
            index += 1;
            rest.get(index)
                .map(|next| (&next.word.value, next.value.as_str()))
        } else {
            arg.value
                .strip_prefix("-c")
                .filter(|setting| !setting.is_empty())
                .map(|setting| (&arg.word.value, setting))
        };
        if let Some((word, setting)) = setting {
            let (name, value) = setting.split_once('=').unwrap_or((setting, ""));
            walker.refuse_in(name, reparsed("git -c", 1));
            if git_runs(&name.to_ascii_lowercase()) {
                let command = format!("git -c {name}");
                walker.refuse_expanded(word, reparsed(&command, 1));
                walker.reparse(&command, value)?;
            }
        }
        index += 1;
    }
    Ok(())
}

/// Whether git runs a setting's value as a command (or a command line).
fn git_runs(name: &str) -> bool {
    name.starts_with("alias.")
        || name.starts_with("filter.")
        || name.starts_with("diff.") && (name.ends_with(".command") || name.ends_with(".textconv"))
        || [
            "command",
            "sshcommand",
            "gitproxy",
            "helper",
            "editor",
            "pager",
            "program",
            "askpass",
            "fsmonitor",
            "hookspath",
            "external",
            "cmd",
            "proxy",
        ]
        .iter()
        .any(|suffix| name.rsplit('.').next() == Some(suffix))
        || name.starts_with("pager.")
}

/// `su [options] [USER] -c COMMAND`, `flock FILE -c COMMAND`, `script -c COMMAND`:
/// the word after `-c` (or in `--command=…`) is parsed by a shell again.
fn dash_c(walker: &mut Walker<'_>, program: &str, rest: &[Arg<'_>]) -> Result<(), Unparsable> {
    let mut index = 0;
    while let Some(arg) = rest.get(index) {
        if arg.is("-c") || arg.is("--command") {
            if let Some(command) = rest.get(index + 1) {
                walker.reparse(program, &command.value)?;
            }
            index += 1;
        } else if let Some(command) = arg.value.strip_prefix("--command=") {
            walker.reparse(program, command)?;
        }
        index += 1;
    }
    Ok(())
}

/// `sudo [options] COMMAND…`: with `-s` or `-i` the command words go to a shell as one
/// line; otherwise the command runs as given (and may itself re-parse).
fn sudo(
    walker: &mut Walker<'_>,
    program: &str,
    args: &[Arg<'_>],
    start: usize,
) -> Result<(), Unparsable> {
    const WITH_VALUE: &str = "ughpCDrtTU";
    let mut index = start + 1;
    let mut shell = false;
    while let Some(arg) = args.get(index) {
        if arg.is("--") {
            index += 1;
            break;
        }
        if !arg.is_option() {
            break;
        }
        let option = arg.literal.as_deref().unwrap_or_default();
        if option.starts_with("--") {
            shell |= option == "--shell" || option == "--login";
            if !option.contains('=')
                && matches!(
                    option,
                    "--user"
                        | "--group"
                        | "--host"
                        | "--prompt"
                        | "--chdir"
                        | "--chroot"
                        | "--role"
                        | "--type"
                        | "--command-timeout"
                        | "--other-user"
                )
            {
                index += 1;
            }
            index += 1;
            continue;
        }
        for (position, letter) in option.char_indices().skip(1) {
            if WITH_VALUE.contains(letter) {
                if position + 1 == option.len() {
                    index += 1;
                }
                break;
            }
            shell |= letter == 's' || letter == 'i';
        }
        index += 1;
    }
    if index >= args.len() {
        return Ok(());
    }
    if shell {
        for arg in &args[index..] {
            walker.refuse_expanded(&arg.word.value, reparsed(&format!("{program} -s"), 1));
        }
        walker.reparse(&format!("{program} -s"), &joined(&args[index..]))?;
        return Ok(());
    }
    apply(walker, args, index)
}

/// `watch [options] COMMAND…` runs the words through `sh -c` unless `-x`/`--exec`.
fn watch(walker: &mut Walker<'_>, args: &[Arg<'_>], start: usize) -> Result<(), Unparsable> {
    let mut index = start + 1;
    let mut exec = false;
    while let Some(arg) = args.get(index) {
        if arg.is("--") {
            index += 1;
            break;
        }
        if !arg.is_option() {
            break;
        }
        let option = arg.literal.as_deref().unwrap_or_default();
        exec |= option == "-x" || option == "--exec";
        if option == "-n" || option == "--interval" {
            index += 1;
        }
        index += 1;
    }
    if index >= args.len() {
        return Ok(());
    }
    if exec {
        return apply(walker, args, index);
    }
    for arg in &args[index..] {
        walker.refuse_expanded(&arg.word.value, reparsed("watch", 1));
    }
    walker.reparse("watch", &joined(&args[index..]))?;
    Ok(())
}
