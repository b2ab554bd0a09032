//! Commands whose arguments are not plain data: builtins that read names or arithmetic
//! (`let`, `declare`, `read`, `unset`, `printf -v`, `test -v`) and commands that hand
//! their arguments to another shell (`eval`, `sh -c`, `ssh`, `su -c`, `sudo -s`,
//! `watch`, `flock -c`, `script -c`), also behind wrappers (`timeout 5 ssh …`,
//! `sudo -u postgres bash -c …`, `docker exec db sh -c …`).

use super::Context;
use super::Unparsable;
use super::walk::{Arg, Walker};

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"];

/// Commands that make a second shell parse (some of) their arguments, looked for
/// anywhere in a command line because wrappers put them further along.
fn reparses(program: &str) -> bool {
    SHELLS.contains(&program)
        || matches!(
            program,
            "ssh" | "su" | "runuser" | "sudo" | "doas" | "eval" | "watch" | "flock" | "script"
        )
}

/// Applies the rules of the command starting at `args[start]`. Returns the command when
/// its standard input is a script for a second shell (`bash -s`, `ssh host` with no
/// remote command), so here-documents given to it are checked as code.
pub(super) fn apply(
    walker: &mut Walker<'_>,
    args: &[Arg<'_>],
    start: usize,
) -> Result<Option<String>, Unparsable> {
    let Some(program) = args.get(start).and_then(Arg::program) else {
        return Ok(None);
    };
    let program = program.to_owned();
    let rest = &args[start + 1..];
    match program.as_str() {
        "let" => {
            for arg in rest {
                walker.refuse_in(&arg.word.value, Context::Arithmetic("`let`"));
            }
            Ok(None)
        }
        "eval" => {
            walker.reparse("eval", &joined(rest))?;
            Ok(None)
        }
        "declare" | "typeset" | "local" | "readonly" | "export" => {
            declare(walker, &program, rest);
            Ok(None)
        }
        "unset" => {
            for arg in rest.iter().filter(|arg| !arg.is_option()) {
                walker.refuse_in(&arg.word.value, Context::VariableName("`unset`".into()));
            }
            Ok(None)
        }
        "read" => {
            read(walker, rest);
            Ok(None)
        }
        "printf" => {
            if rest.first().is_some_and(|arg| arg.is("-v"))
                && let Some(name) = rest.get(1)
            {
                walker.refuse_in(
                    &name.word.value,
                    Context::VariableName("`printf -v`".into()),
                );
            }
            wrapped(walker, args, start)
        }
        "test" | "[" => {
            for pair in rest.windows(2) {
                if pair[0].is("-v") || pair[0].is("-R") {
                    walker.refuse_in(
                        &pair[1].word.value,
                        Context::VariableName("`test -v`".into()),
                    );
                }
            }
            Ok(None)
        }
        shell if SHELLS.contains(&shell) => shell_c(walker, shell, rest),
        "ssh" => ssh(walker, rest),
        "su" | "runuser" | "flock" | "script" => {
            dash_c(walker, &program, rest)?;
            Ok(None)
        }
        "sudo" | "doas" => sudo(walker, &program, args, start),
        "watch" => watch(walker, args, start),
        _ => wrapped(walker, args, start),
    }
}

/// A command that may wrap a re-parsing one further along (`timeout 5 ssh …`,
/// `env X=1 sh -c …`, `docker exec db sh -c …`).
fn wrapped(
    walker: &mut Walker<'_>,
    args: &[Arg<'_>],
    start: usize,
) -> Result<Option<String>, Unparsable> {
    let next = args
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, arg)| arg.program().is_some_and(reparses));
    match next {
        Some((index, _)) => apply(walker, args, index),
        None => Ok(None),
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
/// `-i` the values are arithmetic, with `-n` they are names.
fn declare(walker: &mut Walker<'_>, program: &str, rest: &[Arg<'_>]) {
    let flags: String = rest
        .iter()
        .filter_map(|arg| arg.literal.as_deref())
        .filter(|text| text.starts_with(['-', '+']))
        .collect();
    for arg in rest.iter().filter(|arg| !arg.is_option()) {
        let text = &arg.word.value;
        if flags.contains('i') {
            walker.refuse_in(text, Context::Arithmetic("`declare -i`"));
        } else if flags.contains('n') {
            walker.refuse_in(text, Context::VariableName(format!("`{program} -n`")));
        } else {
            let name = text.split('=').next().unwrap_or(text);
            walker.refuse_in(name, Context::VariableName(format!("`{program}`")));
        }
    }
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
                walker.refuse_in(&name.word.value, Context::VariableName("`read -a`".into()));
                index += 1;
            }
        } else {
            walker.refuse_in(&arg.word.value, Context::VariableName("`read`".into()));
        }
        index += 1;
    }
}

/// `sh [options] -c SCRIPT [NAME ARGS…]`: the script is parsed again; the arguments
/// after it are data (`$0`, `$1`, …). Without `-c` and without a script file (or with
/// `-s`), standard input is the script.
fn shell_c(
    walker: &mut Walker<'_>,
    shell: &str,
    rest: &[Arg<'_>],
) -> Result<Option<String>, Unparsable> {
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
    if command_flag {
        if let Some(script) = rest.get(index) {
            walker.reparse(shell, &script.value)?;
        }
        return Ok(None);
    }
    let reads_stdin = stdin_flag || rest.get(index).is_none();
    Ok(reads_stdin.then(|| shell.to_owned()))
}

/// `ssh [options] DESTINATION [COMMAND…]`: ssh joins the command words with spaces and
/// the remote shell parses the result again. Without a command, standard input is the
/// remote shell's script.
fn ssh(walker: &mut Walker<'_>, rest: &[Arg<'_>]) -> Result<Option<String>, Unparsable> {
    const WITH_VALUE: &str = "BbcDEeFIiJLlmOopQRSWw";
    let mut index = 0;
    let mut options_ended = false;
    while let Some(arg) = rest.get(index) {
        if arg.is("--") {
            options_ended = true;
            index += 1;
            break;
        }
        if !arg.is_option() {
            break;
        }
        let option = arg.literal.as_deref().unwrap_or_default();
        // In a cluster (`-tp22`), the first option taking a value takes the rest of
        // the word, or the next word when nothing is left.
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
    let Some(destination) = rest.get(index) else {
        return Ok(None);
    };
    if destination.has_markers && !options_ended {
        walker.refuse_in(&destination.word.value, Context::SshDestination);
    }
    let command = &rest[index + 1..];
    if command.is_empty() {
        return Ok(Some("ssh".to_owned()));
    }
    walker.reparse("ssh", &joined(command))?;
    // `ssh host bash -s <<'EOF'`: the remote shell reads its script from our stdin.
    let remote = command.first().and_then(Arg::program);
    Ok(match remote {
        Some(shell) if SHELLS.contains(&shell) => {
            let has_operand_or_c = command[1..].iter().any(|arg| {
                !arg.is_option()
                    || arg
                        .literal
                        .as_deref()
                        .is_some_and(|o| !o.starts_with("--") && o.contains('c'))
            });
            let stdin = command[1..].iter().any(|arg| arg.is("-s")) || !has_operand_or_c;
            stdin.then(|| "ssh".to_owned())
        }
        _ => None,
    })
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
) -> Result<Option<String>, Unparsable> {
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
        return Ok(shell.then(|| program.to_owned()));
    }
    if shell {
        walker.reparse(&format!("{program} -s"), &joined(&args[index..]))?;
        return Ok(None);
    }
    apply(walker, args, index)
}

/// `watch [options] COMMAND…` runs the words through `sh -c` unless `-x`/`--exec`.
fn watch(
    walker: &mut Walker<'_>,
    args: &[Arg<'_>],
    start: usize,
) -> Result<Option<String>, Unparsable> {
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
        return Ok(None);
    }
    if exec {
        return apply(walker, args, index);
    }
    walker.reparse("watch", &joined(&args[index..]))?;
    Ok(None)
}
