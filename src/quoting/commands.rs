//! Commands whose arguments are not plain data: builtins that read names or arithmetic
//! (`let`, `declare`, `read`, `unset`, `printf -v`, `test -v`) and commands that hand
//! their arguments to another shell (`eval`, `sh -c`, `ssh`, `su -c`, `sudo -s`,
//! `watch`, `flock -c`, `script -c`; OpenSSH's clients, rsync and git in
//! `clients`), also behind wrappers (`timeout 5 ssh …`, `sudo -u postgres bash -c …`,
//! `docker exec db sh -c …`).

use super::Context;
use super::Unparsable;
use super::clients;
use super::consumers::SHELLS;
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
        "ssh" | "slogin" | "autossh" => clients::ssh(walker, rest),
        "scp" | "sftp" | "ssh-copy-id" | "rsync" => clients::copy(walker, &program, rest),
        "git" => clients::git(walker, rest),
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

pub(super) fn reparsed(command: &str, levels: u8) -> Context {
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
pub(super) fn joined(args: &[Arg<'_>]) -> String {
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
