use super::{Context, Kind, Markers, Unparsable, check};

/// Checks `command`, where `{x}` stands for a text value, `{n}` for a number and `{q}`
/// for a text value quoted once more (`| shell_quote`); returns what was refused, in
/// order, as the context's display text.
pub(super) fn refused(command: &str) -> Vec<String> {
    let mut markers = Markers::new(command);
    let mut text = String::new();
    let mut rest = command;
    while let Some(open) = rest.find('{') {
        let kind = match rest.get(open..open + 3) {
            Some("{x}") => Some(Kind::Text { extra: 0 }),
            Some("{n}") => Some(Kind::Plain),
            Some("{q}") => Some(Kind::Text { extra: 1 }),
            _ => None,
        };
        text.push_str(&rest[..open]);
        match kind {
            Some(kind) => {
                text.push_str(&markers.push(kind, String::new()));
                rest = &rest[open + 3..];
            }
            None => {
                text.push('{');
                rest = &rest[open + 1..];
            }
        }
    }
    text.push_str(rest);
    match check(&text, &markers) {
        Ok(refusals) => refusals
            .into_iter()
            .map(|refusal| refusal.context.to_string())
            .collect(),
        Err(error) => vec![format!("unparsable: {error}")],
    }
}

pub(super) fn ok(command: &str) {
    assert_eq!(refused(command), Vec::<String>::new(), "{command}");
}

pub(super) fn context(command: &str, expected: &str) {
    let found = refused(command);
    assert!(
        found.len() == 1 && found[0].contains(expected),
        "{command}: expected one refusal containing {expected:?}, got {found:?}"
    );
}

#[test]
fn plain_arguments_are_fine() {
    ok("echo {x}");
    ok("pg_dump --file={x}.partial {x} | gzip > {x}");
    ok("x={x} y=\"$(basename {x})\"; echo \"$x\"");
    ok("echo \"$(echo \"$(cat {x})\")\"");
    ok("for f in {x} {x}; do echo \"$f\"; done");
    ok("case {x} in a|b) echo {x};; esac");
    ok("[[ {x} == {x} && -f {x} ]] && cat < {x} 2> {x}");
    ok("diff <(sort {x}) <(sort {x})");
    ok("if test -n {x}; then echo {x}; elif true; then :; else false; fi");
    ok("while read -r line; do echo \"$line\"; done < {x}");
    ok("cat <<'EOF'\nliteral {x}\nEOF\necho {x}");
    ok("cat <<EOF\n$(basename {x})\nEOF");
    ok("# a comment about {x}\necho {x}  # and {x}");
    ok("export PGPASSWORD={x}; readonly name={x}; local n; n={x}");
    ok("sudo -u postgres psql -d {x} -c 'select 1'");
    ok("bash -c 'pg_dump \"$1\"' bash {x}");
    ok("cat <<< {x}");
    ok("arr=({x} {x})");
}

#[test]
fn quotes_are_refused() {
    context("echo \"{x}\"", "double quotes");
    context("echo '{x}'", "single quotes");
    context("echo $'{x}'", "`$'…'`");
    context("psql -c \"SELECT {x}\"", "double quotes");
    context("echo \"$(echo \"{x}\")\"", "double quotes");
    context("echo `cat {x}`", "backquotes");
    context("echo ${HOME:-{x}}", "parameter expansion");
    context("echo \"${HOME:-{x}}\"", "parameter expansion");
    // A number is harmless in quotes.
    ok("echo \"{n}\" '{n}'");
}

#[test]
fn arithmetic_is_refused_unless_a_number() {
    for command in [
        "(( {x} > 0 ))",
        "echo $(( {x} + 1 ))",
        "let n={x}+1",
        "[[ {x} -eq 3 ]]",
        "[[ 3 -lt {x} ]]",
        "a[{x}]=1",
        "a=([{x}]=1)",
        "for (( i = 0; i < {x}; i++ )); do :; done",
        "declare -i n={x}",
        "echo \"$(( {x} ))\"",
    ] {
        context(command, "arithmetic");
        ok(&command.replace("{x}", "{n}"));
    }
}

#[test]
fn variable_names_are_refused() {
    context("[[ -v {x} ]]", "variable name");
    context("test -v {x}", "variable name");
    context("unset {x}", "variable name");
    context("read -r {x} < /dev/null", "variable name");
    context("printf -v {x} %s 1", "variable name");
    context("declare {x}=1", "variable name");
    ok("read -r -p {x} line");
    ok("printf %s {x}");
}

#[test]
fn here_documents_with_unquoted_delimiters_are_refused() {
    context("cat <<EOF\n{x}\nEOF", "here-document");
    context("cat <<1EOF\n{x}\n1EOF", "here-document");
    context("cat <<A <<B\nfine\nA\n{x}\nB", "here-document");
    context("cat <<-EOFX\n\tEOF\n\t{x}\n\tEOFX", "here-document");
    ok("cat <<\"EOF\"\n{x}\nEOF");
    ok("cat <<'EOF'\n{x}\nEOF");
    ok("cat <<E\\OF\n{x}\nEOF");
}

#[test]
fn commands_that_parse_again_need_another_level() {
    for command in [
        "ssh db.example.com pg_dump {x}",
        "ssh -p 2222 -o BatchMode=yes db -- ls {x}",
        "sh -c {x}",
        "bash -euc {x} bash",
        "su postgres -c {x}",
        "su --command={x} postgres",
        "eval echo {x}",
        "sudo -s echo {x}",
        "sudo -u postgres bash -c {x}",
        "timeout 5 ssh db ls {x}",
        "docker exec db sh -c {x}",
        "watch -n 5 ls {x}",
        "flock /tmp/lock -c {x}",
        "env A=1 sh -c {x}",
    ] {
        context(command, "parses again");
        ok(&command.replace("{x}", "{q}"));
    }
    // The script's own quoting is checked on the second level.
    context("ssh db echo \\'{q}\\'", "single quotes");
    context("ssh db \"echo {q}\"", "double quotes");
    // Arguments after the script are positional parameters: data.
    ok("sh -c 'echo \"$1\"' sh {x}");
    ok("ssh db ls -- \"$HOME\"");
    ok("watch -x ls {x}");
    // Standard input as a script: a quoted here-document reaches the second shell as
    // written, so one level of quoting holds there; a here-string loses it.
    ok("ssh db <<'EOF'\nrm {x}\nEOF");
    ok("ssh db bash -s <<'EOF'\nrm {x}\nEOF");
    context("ssh db <<'EOF'\nrm '{x}'\nEOF", "single quotes");
    context("bash -s <<< {x}", "parses again");
    ok("psql <<'EOF'\nselect {x}\nEOF");
}

#[test]
fn ssh_destinations_need_a_double_dash() {
    context("ssh {x} uptime", "ssh");
    ok("ssh -- {x} uptime");
    ok("ssh -p {x} db uptime");
}

#[test]
fn unparsable_commands_are_reported() {
    assert!(
        refused("echo {x} (")
            .first()
            .is_some_and(|text| text.starts_with("unparsable"))
    );
    let deep = format!("echo {}{{x}}{}", "$(".repeat(300), ")".repeat(300));
    assert_eq!(
        refused(&deep),
        ["unparsable: it is nested too deeply to check"]
    );
}

#[test]
fn markers_are_found_and_substituted() {
    let mut markers = Markers::new("echo");
    let first = markers.push(Kind::Text { extra: 0 }, "'a b'".into());
    let second = markers.push(Kind::Plain, "5".into());
    let text = format!("echo {first} {second}{first}");
    assert_eq!(markers.find(&text), [0, 1, 0]);
    assert_eq!(markers.substitute(&text), "echo 'a b' 5'a b'");
    let error = check("echo (", &markers);
    assert!(matches!(error, Err(Unparsable::Syntax(_))));
    let _ = Context::Unrecognised;
}

/// Found by an attack on the first version of the check: builtins that run code or
/// evaluate names behind `builtin`/`command`, pipelines into a shell, `/dev/stdin`
/// scripts, variables bash runs as code, `declare` values, a quoted remote shell.
#[test]
fn the_bypasses_an_attack_found_are_refused() {
    for (command, expected) in [
        ("trap 'rm -f '{x} EXIT; echo work", "`trap`"),
        ("trap {x} EXIT", "`trap`"),
        ("echo {x} | sh", "`sh`"),
        ("echo {x} | xargs -I{} sh -c \"echo {}\"", "`xargs`"),
        ("printf %s {x} | sudo bash", "`bash`"),
        ("bash /dev/stdin <<< {x}", "`bash`"),
        ("bash /proc/self/fd/0 <<< {x}", "`bash`"),
        ("bash -x /dev/stdin <<< {x}", "`bash`"),
        ("source /dev/stdin <<< {x}", "`source`"),
        ("mapfile -t -C {x} -c 1 arr < /etc/hostname", "`mapfile`"),
        ("env -S {x}", "`env -S`"),
        ("compgen -W {x} a", "`compgen`"),
        ("builtin let x={x}", "arithmetic"),
        ("command declare -i n={x}", "arithmetic"),
        ("builtin printf -v {x} x", "variable name"),
        ("builtin test -v {x}", "variable name"),
        ("command unset {x}", "variable name"),
        ("getopts a {x}", "variable name"),
        ("sleep 0 & wait -n -p {x}", "variable name"),
        ("declare -a arr={x}", "`declare NAME=…`"),
        ("f() { local -a arr={x}; }; f", "`local NAME=…`"),
        ("declare -A m={x}", "`declare NAME=…`"),
        ("PS4={x}; set -x; true", "`PS4`"),
        ("BASH_ENV={x} bash -c true", "`BASH_ENV`"),
        ("env BASH_ENV={x} bash -c true", "`BASH_ENV`"),
        ("export PROMPT_COMMAND={x}", "`PROMPT_COMMAND`"),
        ("ssh -- host 'bash -s' <<< {x}", "`ssh`"),
        ("ssh -- host sudo bash <<< {x}", "`ssh`"),
    ] {
        context(command, expected);
    }
    // Through a shell variable: declared integer, or read by arithmetic or `eval`.
    context("declare -i n; n={x}", "arithmetic");
    context("x={x} && [[ $x -gt 0 ]]", "arithmetic");
    context("n={x}; (( n > 0 ))", "arithmetic");
    context("k={x}; echo $(( ${k} + 1 ))", "arithmetic");
    ok("t=$(date -d {x} +%s); echo $(( t + 1 ))");
    // Found by the fuzzer: a multi-byte character in arithmetic text read through.
    context("k={x}; echo $(( é + k ))", "arithmetic");
    context("c={x}; eval \"$c\"", "`eval`");
    context("c={x}; sh -c \"$c\"", "`sh`");
    ok("n={n}; (( n > 0 ))");
    ok("x={x}; [ \"$x\" -gt 0 ]; echo \"$x\"");
    // Still fine: data in a pipeline that no shell reads, a trap in the runbook itself.
    ok("echo {x} | grep -c x");
    ok("f={x}; trap 'rm -f -- \"$f\"' EXIT");
    ok("echo {q} | sh");
}

/// Found by a second attack: other spellings of a second shell, process substitutions,
/// option clusters, history, values through more kinds of variables, and a here-document
/// whose end bash and the parser see in different places.
#[test]
fn the_bypasses_a_second_attack_found_are_refused() {
    for (command, expected) in [
        ("\"$BASH\" -c {x}", "`bash`"),
        ("source <(echo {x})", "process substitution"),
        ("bash <(echo {x})", "process substitution"),
        ("echo {x} > >(bash)", "process substitution"),
        ("bash /dev/fd/3 3<<< {x}", "`bash`"),
        ("bash /dev//stdin <<< {x}", "`bash`"),
        ("echo {x} | { bash; }", "compound command"),
        (
            "echo {x} | while read -r l; do eval \"$l\"; done",
            "compound command",
        ),
        ("script -qc {x} /dev/null", "`script`"),
        ("compgen -vW {x}", "`compgen`"),
        ("compgen -W{x}", "`compgen`"),
        ("mapfile -tc1 -C{x} a <<< x", "`mapfile`"),
        ("set -o history\nhistory -s {x}\nfc -s", "`history`"),
        ("x={x}; echo \"${x@P}\"", "parameter expansion"),
        ("x={x}; echo \"${!x}\"", "parameter expansion"),
        ("x={x}; echo \"${HOME[x]}\"", "array subscript"),
        ("x={x}; echo \"${HOME:x}\"", "substring offset"),
        ("x={x}; [[ -v $x ]]", "variable name"),
        ("x={x}; trap \"$x\" EXIT", "`trap`"),
        ("x={x}; echo \"$x\" | bash", "`bash`"),
        ("for x in {x}; do eval \"$x\"; done", "`eval`"),
        ("read -r x <<< {x}; eval \"$x\"", "`eval`"),
        ("arr=({x}); eval \"$arr\"", "`eval`"),
        ("declare -i n; for n in {x}; do :; done", "arithmetic"),
        (
            "declare -n r; for r in {x}; do echo \"$r\"; done",
            "variable name",
        ),
    ] {
        context(command, expected);
    }
    let unparsable = refused("cat <<EOF\nx\\\nEOF\necho {x}\nEOF");
    assert!(
        unparsable[0].contains("ends with a backslash"),
        "{unparsable:?}"
    );
    // Still fine.
    ok("v={x}; echo \"$v\"; printf '%s\\n' \"${v}\"");
    ok("f={x}; sh -c 'rm -f -- \"$f\"'");
    ok("psql -c 'select 1' | while read -r line; do echo \"$line\" {x}; done");
    ok("sort <(echo {x}) > out");
    ok("t={x}; echo \"${t:-none}\" \"${t%/}\" \"${#t}\" \"${t:0:3}\"");
}

/// Found by a third attack: values reaching code made at run time through files,
/// functions, aliases, `hash -p`, a `command_not_found_handle`, file descriptors, a
/// coprocess, `printf -v PS4`, `mapfile` targets. A command that runs such code may
/// not hold a value quoted only once.
#[test]
fn the_bypasses_a_third_attack_found_are_refused() {
    for (command, expected) in [
        (
            "echo {x} > /tmp/f.sh; bash /tmp/f.sh",
            "code made at run time",
        ),
        ("echo {x} > f.sh; source ./f.sh", "code made at run time"),
        (
            "echo {x} | tee g.sh >/dev/null; . g.sh",
            "code made at run time",
        ),
        (
            "echo {x} > >(cat > q.sh); sleep 0.2; bash q.sh",
            "code made at run time",
        ),
        ("f() { eval \"$1\"; }; f {x}", "code made at run time"),
        ("f() { bash; }; echo {x} | f", "`f`"),
        (
            "shopt -s expand_aliases\nalias e=eval\ne {x}",
            "code made at run time",
        ),
        ("hash -p /bin/bash x; echo {x} | x", "code made at run time"),
        ("s=bash; echo {x} | $s", "code made at run time"),
        (
            "command_not_found_handle() { bash; }\necho {x} | nosuchcmd",
            "code made at run time",
        ),
        ("exec 3<<<{x}; bash <&3", "code made at run time"),
        ("exec 0<<<{x}; bash", "code made at run time"),
        (
            "coproc bash\necho {x} >&\"${COPROC[1]}\"",
            "code made at run time",
        ),
        ("printf -v PS4 %s {x}\nset -x\ntrue", "`PS4`"),
        ("mapfile -t arr <<< {x}; eval \"${arr[0]}\"", "`eval`"),
        (
            "f=\"$BASH\"; echo {x} > s; \"$f\" s",
            "code made at run time",
        ),
    ] {
        let found = refused(command);
        assert!(
            found.iter().any(|context| context.contains(expected)),
            "{command}: expected a refusal containing {expected:?}, got {found:?}"
        );
    }
    // Quoted for the code that runs it, a value stays data there.
    ok("f() { eval \"$1\"; }; f {q}");
    // Code of the runbook's own is fine beside values.
    ok("bash -c 'echo hi' && echo {x}");
    ok("trap 'rm -f \"$tmp\"' EXIT; tmp=$(mktemp); echo {x} > \"$tmp\"");
    ok("grep -c bash {x}");
    // A function of the command's own shadows the builtin of its name, wherever it is
    // defined.
    ok("f() { h=$(history \"$1\"); }\nhistory() { echo; }\necho {x}");
}

/// Found by a fourth attack: `$'\x65val'`, `builtin source`, `command .`, a command named
/// by a variable, a file piped into a shell.
#[test]
fn the_bypasses_a_fourth_attack_found_are_refused() {
    for command in [
        "$'\\x65val' {x}",
        "echo {x} > s9; $'\\x73ource' s9",
        "echo {x} > s1; builtin source s1",
        "echo {x} > s2; command . s2",
        "f() { builtin eval \"$1\"; }; f {x}",
        "echo {x} > s3; x=source; $x s3",
        "echo {x} > s5; cat s5 | sh",
        "echo {x} > s8; { cat s8; } | env bash",
        "x={x}; $x",
        "x=eval; \"$x\" {x}",
        "echo {x} > f; busybox sh f",
        "echo {x} > s6; read -ra w < s6; \"${w[@]}\"",
    ] {
        let found = refused(command);
        assert!(!found.is_empty(), "{command}: not refused");
    }
    ok("as_pg() { \"$@\"; }; as_pg ls {x}");
    ok("run() { \"$1\" {x}; }; run ls");
    ok(
        "\"$(command -v psql)\" -d {x}; bin=/usr/bin; \"$bin/psql\" {x}; if {n}; then :; fi; {x} --version",
    );
}
