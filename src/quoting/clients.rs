//! The clients that reach other machines — OpenSSH's `ssh`, `scp`, `sftp`,
//! `ssh-copy-id`, and `rsync`, `git` — whose options run commands (`-o ProxyCommand=…`,
//! `rsync -e`, `git -c core.sshCommand=…`) and whose operands, before `--`, may be read
//! as options.

use super::Context;
use super::Unparsable;
use super::commands::{joined, reparsed};
use super::consumers::{SSH_WITH_VALUE, ssh_destination};
use super::walk::{Arg, Walker};

/// `ssh [options] DESTINATION [COMMAND…]`: ssh joins the command words with spaces and
/// the remote shell parses the result again. Without a command, standard input is the
/// remote shell's script.
pub(super) fn ssh(walker: &mut Walker<'_>, rest: &[Arg<'_>]) -> Result<(), Unparsable> {
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

/// A value that is a command line: what a variable in it carries, and its own
/// markers, need the level of quoting a second parse takes.
fn command_value(
    walker: &mut Walker<'_>,
    command: &str,
    word: &str,
    value: &str,
) -> Result<(), Unparsable> {
    walker.refuse_expanded(word, reparsed(command, 1));
    walker.reparse(command, value)
}

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
                command_value(walker, &command, word, value)?;
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
                    command_value(walker, &command, word, value)?;
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
pub(super) fn git(walker: &mut Walker<'_>, rest: &[Arg<'_>]) -> Result<(), Unparsable> {
    let mut index = 0;
    while let Some(arg) = rest.get(index) {
        if !arg.is_option() && arg.literal.is_some() {
            break;
        }
        // Global options whose value is the next word (`git -C /repo -c …`).
        if ["-C", "--git-dir", "--work-tree", "--namespace"]
            .iter()
            .any(|option| arg.is(option))
        {
            index += 2;
            continue;
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
                command_value(walker, &command, word, value)?;
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

/// `scp`, `sftp`, `ssh-copy-id`, `rsync`: options anywhere before `--` (getopt
/// permutes them).
pub(super) fn copy(
    walker: &mut Walker<'_>,
    program: &str,
    rest: &[Arg<'_>],
) -> Result<(), Unparsable> {
    let rules = match program {
        "scp" => &SCP,
        "sftp" => &SFTP,
        "ssh-copy-id" => &SSH_COPY_ID,
        _ => &RSYNC,
    };
    client(walker, rules, rest)
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
