//! What runs code given to it at run time: shells and the commands that put one behind
//! them (wrappers), and which of them read a script from standard input or a file. Pure
//! detection over a command's literal words; the rules that refuse values are in
//! `commands.rs`.

use super::walk::{Arg, literals};
use brush_parser::ast::{
    Command, CompoundCommand, CompoundList, IoFileRedirectKind, IoRedirect, SimpleCommand,
};

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

/// The options of `ssh` that take a value.
pub(super) const SSH_WITH_VALUE: &str = "BbcDEeFIiJLlmOopQRSWw";

/// Where the destination of `ssh [options] DESTINATION …` is among `words` (ssh's
/// arguments), and whether `--` ended the options before it. In a cluster (`-tp22`),
/// the first option taking a value takes the rest of the word, or the next word.
pub(super) fn ssh_destination(words: &[Option<&str>]) -> (usize, bool) {
    let mut index = 0;
    while let Some(Some(option)) = words.get(index) {
        if *option == "--" {
            return (index + 1, true);
        }
        if !option.starts_with('-') || option.len() < 2 {
            break;
        }
        for (position, letter) in option.char_indices().skip(1) {
            if SSH_WITH_VALUE.contains(letter) {
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

/// The names of the functions a list defines, however nested.
pub(super) fn collect_functions(
    list: &CompoundList,
    names: &mut std::collections::HashSet<String>,
) {
    fn command(item: &Command, names: &mut std::collections::HashSet<String>) {
        match item {
            Command::Function(function) => {
                names.insert(function.fname.value.clone());
                compound(&function.body.0, names);
            }
            Command::Compound(inner, _) => compound(inner, names),
            Command::Simple(_) | Command::ExtendedTest(..) => {}
        }
    }
    fn compound(item: &CompoundCommand, names: &mut std::collections::HashSet<String>) {
        match item {
            CompoundCommand::BraceGroup(group) => collect_functions(&group.list, names),
            CompoundCommand::Subshell(subshell) => collect_functions(&subshell.list, names),
            CompoundCommand::ForClause(clause) => collect_functions(&clause.body.list, names),
            CompoundCommand::ArithmeticForClause(clause) => {
                collect_functions(&clause.body.list, names)
            }
            CompoundCommand::CaseClause(clause) => {
                for case in &clause.cases {
                    if let Some(list) = &case.cmd {
                        collect_functions(list, names);
                    }
                }
            }
            CompoundCommand::IfClause(clause) => {
                collect_functions(&clause.condition, names);
                collect_functions(&clause.then, names);
                for branch in clause.elses.iter().flatten() {
                    if let Some(condition) = &branch.condition {
                        collect_functions(condition, names);
                    }
                    collect_functions(&branch.body, names);
                }
            }
            CompoundCommand::WhileClause(clause) | CompoundCommand::UntilClause(clause) => {
                collect_functions(&clause.0, names);
                collect_functions(&clause.1.list, names);
            }
            CompoundCommand::Coprocess(coprocess) => command(&coprocess.body, names),
            CompoundCommand::Arithmetic(_) => {}
        }
    }
    for item in &list.0 {
        let pipelines =
            std::iter::once(&item.0.first).chain(item.0.additional.iter().map(|next| match next {
                brush_parser::ast::AndOr::And(pipeline)
                | brush_parser::ast::AndOr::Or(pipeline) => pipeline,
            }));
        for pipeline in pipelines {
            for inner in &pipeline.seq {
                command(inner, names);
            }
        }
    }
}

/// Whether any simple command in a list, however nested, satisfies `test`.
pub(super) fn any_simple(
    list: &CompoundList,
    test: &mut dyn FnMut(&SimpleCommand) -> bool,
) -> bool {
    fn command(item: &Command, test: &mut dyn FnMut(&SimpleCommand) -> bool) -> bool {
        match item {
            Command::Simple(simple) => test(simple),
            Command::Compound(compound, _) => match compound {
                CompoundCommand::BraceGroup(group) => any_simple(&group.list, test),
                CompoundCommand::Subshell(subshell) => any_simple(&subshell.list, test),
                CompoundCommand::ForClause(clause) => any_simple(&clause.body.list, test),
                CompoundCommand::ArithmeticForClause(clause) => any_simple(&clause.body.list, test),
                CompoundCommand::CaseClause(clause) => clause
                    .cases
                    .iter()
                    .any(|case| case.cmd.as_ref().is_some_and(|list| any_simple(list, test))),
                CompoundCommand::IfClause(clause) => {
                    any_simple(&clause.condition, test)
                        || any_simple(&clause.then, test)
                        || clause.elses.iter().flatten().any(|branch| {
                            branch
                                .condition
                                .as_ref()
                                .is_some_and(|list| any_simple(list, test))
                                || any_simple(&branch.body, test)
                        })
                }
                CompoundCommand::WhileClause(clause) | CompoundCommand::UntilClause(clause) => {
                    any_simple(&clause.0, test) || any_simple(&clause.1.list, test)
                }
                CompoundCommand::Coprocess(coprocess) => command(&coprocess.body, test),
                CompoundCommand::Arithmetic(_) => false,
            },
            Command::Function(_) | Command::ExtendedTest(..) => false,
        }
    }
    list.0.iter().any(|item| {
        std::iter::once(&item.0.first)
            .chain(item.0.additional.iter().map(|next| match next {
                brush_parser::ast::AndOr::And(pipeline)
                | brush_parser::ast::AndOr::Or(pipeline) => pipeline,
            }))
            .any(|pipeline| pipeline.seq.iter().any(|item| command(item, test)))
    })
}

/// Whether a command runs code made at run time, and what: `eval`, `source`, a shell
/// reading a file or its input (also behind `sudo`, `env`, …), a shell given a script
/// that is not written in the runbook, aliases and other builtins that turn text into
/// commands, or a command named by a variable reading a pipeline.
pub(super) fn dynamic_code(args: &[Arg<'_>], fed: bool, unchecked_input: bool) -> Option<String> {
    // `builtin source`, `command . f`, `exec eval`: the same builtins.
    let start = args
        .iter()
        .position(|arg| {
            !(arg.is_option() || matches!(arg.program(), Some("builtin" | "command" | "exec")))
        })
        .unwrap_or(args.len());
    let args = &args[start.min(args.len())..];
    let first = args.first()?;
    let Some(program) = first.program() else {
        // A value as the program (`{{ tool }} args`), or one double-quoted word
        // (`"$1"`, `"$bin/psql"`, `"$(pgtool psql)"`): a program name, not parsed or
        // split. Anything else — `$x` split into words, `$'\x65val'` — may spell
        // `eval` or `source`.
        if first.has_markers || double_quoted(&first.word.value) {
            return fed.then(|| {
                format!(
                    "`{}`, named by a variable, reading its input",
                    first.word.value
                )
            });
        }
        return Some(format!(
            "`{}`, a command named at run time",
            first.word.value
        ));
    };
    if matches!(
        program,
        "eval" | "source" | "." | "alias" | "hash" | "enable" | "fc" | "history" | "bind"
    ) {
        return Some(format!("`{program}`"));
    }
    // sftp runs the lines it reads as its commands, `!` lines through a shell: no level
    // of quoting survives a line break there.
    if fed && args.iter().any(|arg| arg.program() == Some("sftp")) {
        return Some("`sftp` running the commands in its input".to_owned());
    }
    if let Some(consumer) = stdin_consumer(&literals(args))
        && unchecked_input
    {
        return Some(format!(
            "`{consumer}` reading a script from a file or descriptor"
        ));
    }
    shell_script(args).map(|shell| format!("`{shell}` reading a script from a file or a variable"))
}

/// A word wholly inside one pair of double quotes: expanded, but not split into words.
pub(super) fn double_quoted(word: &str) -> bool {
    word.len() >= 2
        && word.starts_with('"')
        && word.ends_with('"')
        && !word[1..word.len() - 1].contains('"')
        // `"${a[@]}"` is several words: a program and its arguments from wherever the
        // array was filled.
        && !word.contains("[@]")
        && !word.contains("[*]")
}

/// A redirection of standard input.
pub(super) fn reads_fd0(redirect: &IoRedirect) -> bool {
    match redirect {
        IoRedirect::File(fd, kind, _) => {
            matches!(
                kind,
                IoFileRedirectKind::Read
                    | IoFileRedirectKind::DuplicateInput
                    | IoFileRedirectKind::ReadAndWrite
            ) && fd.is_none_or(|fd| fd == 0)
        }
        IoRedirect::HereDocument(fd, _) | IoRedirect::HereString(fd, _) => {
            fd.is_none_or(|fd| fd == 0)
        }
        IoRedirect::OutputAndError(..) => false,
    }
}

/// Standard input from a file or another descriptor, whose content the check cannot see.
pub(super) fn reads_fd0_from_elsewhere(redirect: &&IoRedirect) -> bool {
    matches!(redirect, IoRedirect::File(..)) && reads_fd0(redirect)
}
