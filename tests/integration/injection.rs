//! The injection matrix: hostile values (from `-p` and from a capture, as if read from a
//! database) in every shell context a command template can put them, run through the
//! real binary and bash. A payload that runs leaves a file behind; none may. A control
//! renders the same templates with the quoting but without the parser check and runs
//! them with bash, to show that the payloads are real: there, most of them run.

use crate::test::Test;
use runbook::template::{Templates, system_clock};
use std::path::Path;

/// How a context must treat every payload.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// `validate` and `run` refuse the runbook: exit 2, nothing runs.
    Refused,
    /// Only the rendered command shows the problem: each step fails, refused.
    RefusedAtRunTime,
    /// The value is allowed there and reaches the command as the same text.
    Intact,
    /// Allowed, the command gets the value in another form (JSON): nothing runs.
    Harmless,
}

struct Case {
    name: &'static str,
    /// The steps for value param `V` and output file `OUT` (YAML, indented 2).
    steps: &'static str,
    expect: Expect,
}

const CASES: &[Case] = &[
    Case {
        name: "double-quotes",
        steps: "  - run: echo \"{{ V }}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "single-quotes",
        steps: "  - run: echo '{{ V }}'\n",
        expect: Expect::Refused,
    },
    Case {
        name: "quoted-prefix",
        steps: "  - run: ls \"--dir={{ V }}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "psql-c",
        steps: "  - run: echo -c \"SELECT {{ V }}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "tojson-in-quotes",
        steps: "  - run: echo \"{{ V | tojson }}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "arithmetic-command",
        steps: "  - run: (( {{ V }} > 0 )) || true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "arithmetic-expansion",
        steps: "  - run: echo $(( {{ V }} ))\n",
        expect: Expect::Refused,
    },
    Case {
        name: "let",
        steps: "  - run: let x={{ V }} || true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "test-eq",
        steps: "  - run: \"[[ {{ V }} -eq 1 ]] || true\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "array-subscript",
        steps: "  - run: a[{{ V }}]=1\n",
        expect: Expect::Refused,
    },
    Case {
        name: "test-v",
        steps: "  - run: \"[[ -v {{ V }} ]] || true\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "here-document",
        steps: "  - run: |\n      cat <<EOF\n      {{ V }}\n      EOF\n",
        expect: Expect::Refused,
    },
    Case {
        name: "here-document-digit",
        steps: "  - run: |\n      cat <<1EOF\n      {{ V }}\n      1EOF\n",
        expect: Expect::Refused,
    },
    Case {
        name: "two-here-documents",
        steps: "  - run: |\n      cat <<A <<B\n      x\n      A\n      {{ V }}\n      B\n",
        expect: Expect::Refused,
    },
    Case {
        name: "here-document-prefix",
        steps: "  - run: \"cat <<-EOFX\\n\\tEOF\\n\\t{{ V }}\\n\\tEOFX\\n\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "ssh-remote-command",
        steps: "  - run: ssh db echo {{ V }}\n",
        expect: Expect::Refused,
    },
    // The real client: it runs the option's value with `/bin/sh -c "exec …"` before
    // connecting anywhere.
    Case {
        name: "ssh-proxy-command",
        steps: "  - run: /usr/bin/ssh -F /dev/null -o BatchMode=yes -o ProxyCommand={{ V }} db true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "bash-c",
        steps: "  - run: bash -c \"echo {{ V }}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "sh-c-script",
        steps: "  - run: sh -c {{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "eval",
        steps: "  - run: eval echo {{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "sudo-sh-c",
        steps: "  - run: env A=1 sh -c {{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "parameter-expansion",
        steps: "  - run: echo \"${X:-{{ V }}}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "backquotes",
        steps: "  - run: echo `echo {{ V }}`\n",
        expect: Expect::Refused,
    },
    Case {
        name: "capture-into-arithmetic",
        steps: "  - id: read\n    capture: C\n    run: printf %s {{ V }}\n  - run: (( {{ C }} > 0 )) || true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "trap-action",
        steps: "  - run: trap 'echo '{{ V }} EXIT; echo work\n",
        expect: Expect::Refused,
    },
    Case {
        name: "pipe-into-sh",
        steps: "  - run: echo {{ V }} | sh\n",
        expect: Expect::Refused,
    },
    Case {
        name: "bash-dev-stdin",
        steps: "  - run: bash /dev/stdin <<< {{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "builtin-let",
        steps: "  - run: builtin let x={{ V }} || true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "declare-array",
        steps: "  - run: declare -a arr={{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "ps4",
        steps: "  - run: PS4={{ V }}; set -x; true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "bash-env-in-env-block",
        steps: "  - env: {BASH_ENV: \"{{ V }}\"}\n    run: bash -c true\n",
        expect: Expect::Refused,
    },
    Case {
        name: "capture-into-trap",
        steps: "  - id: read\n    capture: C\n    run: printf %s {{ V }}\n  - run: trap {{ C }} EXIT; echo logged\n",
        expect: Expect::Refused,
    },
    Case {
        name: "source-process-substitution",
        steps: "  - run: source <(echo {{ V }})\n",
        expect: Expect::Refused,
    },
    Case {
        name: "pipe-into-brace-group",
        steps: "  - run: \"echo {{ V }} | { bash; }\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "variable-into-bash",
        steps: "  - run: x={{ V }}; echo \"$x\" | bash\n",
        expect: Expect::Refused,
    },
    Case {
        name: "prompt-expansion",
        steps: "  - run: x={{ V }}; echo \"${x@P}\"\n",
        expect: Expect::Refused,
    },
    Case {
        name: "script-file-written-then-run",
        steps: "  - run: echo {{ V }} > s.sh; bash s.sh\n",
        expect: Expect::Refused,
    },
    Case {
        name: "function-that-evals",
        steps: "  - run: f() { eval \"$1\"; }; f {{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "replaced-standard-input",
        steps: "  - run: exec 0<<<{{ V }}; bash\n",
        expect: Expect::Refused,
    },
    Case {
        name: "ansi-c-spelled-eval",
        steps: "  - run: $'\\x65val' {{ V }}\n",
        expect: Expect::Refused,
    },
    Case {
        name: "file-piped-into-sh",
        steps: "  - run: echo {{ V }} > s5; cat s5 | sh\n",
        expect: Expect::Refused,
    },
    Case {
        name: "quotes-from-safe-code",
        steps: "  - run: echo {{ dq | safe }}{{ V }}{{ dq | safe }}\n",
        expect: Expect::RefusedAtRunTime,
    },
    Case {
        name: "arithmetic-from-safe-code",
        steps: "  - run: \"{{ open | safe }} {{ V }} > 0 {{ close | safe }} || true\"\n",
        expect: Expect::RefusedAtRunTime,
    },
    Case {
        name: "capture-as-int",
        steps: "  - id: read\n    capture: C\n    run: printf %s {{ V }}\n  - run: (( {{ C | int }} > 0 )) || true\n",
        expect: Expect::RefusedAtRunTime,
    },
    Case {
        name: "argument",
        steps: "  - run: printf %s {{ V }} > OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "argument-with-suffix",
        steps: "  - run: printf %s {{ V }}.x > OUT; truncate -s -2 OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "command-substitution",
        steps: "  - run: printf %s \"$(printf %s {{ V }})\" > OUT\n",
        expect: Expect::Harmless,
    },
    Case {
        name: "variable",
        steps: "  - run: v={{ V }}; printf %s \"$v\" > OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "environment",
        steps: "  - env: {X: \"{{ V }}\"}\n    run: printf %s \"$X\" > OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "sh-c-argument",
        steps: "  - run: sh -c 'printf %s \"$1\"' sh {{ V }} > OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "ssh-quoted-twice",
        steps: "  - run: ssh db printf %s {{ V | shell_quote }} > OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "ssh-proxy-command-quoted-twice",
        steps: "  - run: /usr/bin/ssh -F /dev/null -o BatchMode=yes -o ProxyCommand={{ V | shell_quote }} db true\n",
        expect: Expect::Harmless,
    },
    Case {
        name: "eval-quoted-twice",
        steps: "  - run: eval printf %s {{ V | shell_quote }} > OUT\n",
        expect: Expect::Intact,
    },
    Case {
        name: "capture-as-argument",
        steps: "  - id: read\n    capture: C\n    run: printf %s {{ V }}\n  - run: printf %s {{ C }} > OUT\n",
        expect: Expect::Harmless,
    },
    Case {
        name: "tojson-argument",
        steps: "  - run: printf %s {{ V | tojson }} > OUT\n",
        expect: Expect::Harmless,
    },
    Case {
        name: "quoted-here-document",
        steps: "  - run: |\n      cat > OUT <<'EOF'\n      {{ V }}\n      EOF\n",
        expect: Expect::Harmless,
    },
];

/// Ways out of a quoting context, each followed by a command that leaves `{P}`.
pub(crate) const PRIMITIVES: &[&str] = &[
    "$(touch {P})",
    "`touch {P}`",
    "`;touch {P};`",
    ";touch {P}",
    "; touch {P} #",
    "&& touch {P}",
    "|| touch {P}",
    "| touch {P}",
    "\ntouch {P}\n",
    "& touch {P}",
    "HOME[$(touch {P})]",
    "a[$(touch {P})]+1",
    "x[`touch {P}`]",
    "'$(touch {P})'",
    "'\"$(touch {P})\"'",
    "\"$(touch {P})\"",
    "'; touch {P}; '",
    "\"; touch {P}; \"",
    "'\\''; touch {P} #",
    "\\\"$(touch {P})",
    "EOF\ntouch {P}\nEOF",
    "$(touch {P})#",
    "${IFS}$(touch {P})",
    "-oProxyCommand=touch {P}",
    "}}$(touch {P}){{",
    "$((1+$(touch {P})0))",
    "($(touch {P}))",
    "touch {P}",
];

/// Each primitive alone, after a plain word, and before one.
pub(crate) fn payloads(pwned: &Path, case: usize) -> Vec<String> {
    let mut payloads = Vec::new();
    for (index, primitive) in PRIMITIVES.iter().enumerate() {
        for (variant, shape) in ["{}", "db{}", "{} x"].iter().enumerate() {
            let marker = pwned.join(format!("c{case}-p{index}-v{variant}"));
            let marker = marker.to_str().expect("utf-8 path");
            payloads.push(shape.replace("{}", &primitive.replace("{P}", marker)));
        }
    }
    payloads
}

/// A fake `ssh` on PATH that does what sshd does with the command words: joins them
/// with spaces and gives them to a shell.
const FAKE_SSH: &str = "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in --) shift; break;; -[BbcDEeFIiJLlmOopQRSWw]) shift 2;; -*) shift;; *) break;; esac; done\nshift\nexec sh -c \"$*\"\n";

fn case_runbook(case: &Case, count: usize) -> String {
    let mut text = String::from(
        "params:\n  dq: {default: '\"'}\n  open: {default: '(('}\n  close: {default: '))'}\n",
    );
    for index in 0..count {
        text.push_str(&format!("  v{index}: {{type: string}}\n"));
    }
    text.push_str("steps:\n");
    for index in 0..count {
        let steps = case
            .steps
            .replace("{{ V", &format!("{{{{ v{index}"))
            .replace("{{ C", &format!("{{{{ c{index}"))
            .replace("capture: C", &format!("capture: c{index}"))
            .replace("id: read", &format!("id: read{index}"))
            .replace("OUT", &format!("out{index}"));
        for (position, line) in steps.lines().enumerate() {
            match line.strip_prefix("  - ") {
                Some(first) if first.starts_with("id:") => {
                    text.push_str(&format!("{line}\n    continue_on_error: true\n"));
                }
                Some(first) => text.push_str(&format!(
                    "  - id: s{index}x{position}\n    continue_on_error: true\n    {first}\n"
                )),
                None => text.push_str(&format!("{line}\n")),
            }
        }
    }
    text
}

fn pwned_files(pwned: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(pwned)
        .expect("pwned dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn no_hostile_value_runs_in_any_shell_context() {
    let pwned = tempfile::tempdir().expect("temp dir");
    let mut attempts = 0;
    let mut report = String::new();
    for (number, case) in CASES.iter().enumerate() {
        let payloads = payloads(pwned.path(), number);
        let test = Test::new()
            .runbook("t", &runbook(&case_runbook(case, payloads.len())))
            .file("bin/ssh", FAKE_SSH);
        set_executable(&test.path().join("bin/ssh"));
        let path = format!(
            "{}:{}",
            test.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut args = vec!["run".to_owned(), "t".to_owned(), "--yes".to_owned()];
        for (index, payload) in payloads.iter().enumerate() {
            args.push("-p".into());
            args.push(format!("v{index}={payload}"));
        }
        let test = test.args(args).env("PATH", &path);
        let outcome = test.run();
        attempts += payloads.len();
        match case.expect {
            Expect::Refused => {
                assert_eq!(
                    outcome.code, 2,
                    "{}: not refused\n{}",
                    case.name, outcome.stderr
                );
                assert!(
                    outcome.stderr.contains("where its quoting does not hold"),
                    "{}\n{}",
                    case.name,
                    outcome.stderr
                );
            }
            Expect::RefusedAtRunTime => {
                assert_eq!(outcome.code, 0, "{}\n{}", case.name, outcome.stderr);
                // Every step that gets a payload fails before its command starts.
                let refused = outcome.stderr.matches("<== failed").count();
                assert!(
                    refused >= payloads.len(),
                    "{}: {refused} refusals\n{}",
                    case.name,
                    outcome.stderr
                );
            }
            Expect::Intact | Expect::Harmless => {
                assert_eq!(outcome.code, 0, "{}\n{}", case.name, outcome.stderr);
                if case.expect == Expect::Intact {
                    for (index, payload) in payloads.iter().enumerate() {
                        let out = std::fs::read_to_string(test.path().join(format!("out{index}")))
                            .unwrap_or_else(|_| panic!("{}: no output for {payload:?}", case.name));
                        assert_eq!(&out, payload, "{}", case.name);
                    }
                }
            }
        }
        let ran = pwned_files(pwned.path());
        if !ran.is_empty() {
            report.push_str(&format!("{}: {ran:?}\n", case.name));
            for file in ran {
                let _ = std::fs::remove_file(pwned.path().join(file));
            }
        }
    }
    assert!(attempts >= CASES.len() * 50, "{attempts} attempts");
    assert!(report.is_empty(), "payloads ran:\n{report}");
}

/// The same refused templates rendered with the quoting but without the check, run by
/// bash: the payloads do run there, so the matrix above tests something.
#[test]
fn the_payloads_run_when_only_quoting_protects_them() {
    let pwned = tempfile::tempdir().expect("temp dir");
    let templates = Templates::new(system_clock());
    let work = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(work.path().join("bin")).expect("bin");
    std::fs::write(work.path().join("bin/ssh"), FAKE_SSH).expect("fake ssh");
    set_executable(&work.path().join("bin/ssh"));
    let path = format!(
        "{}:{}",
        work.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut summary = Vec::new();
    for (number, case) in CASES.iter().enumerate() {
        if !matches!(case.expect, Expect::Refused | Expect::RefusedAtRunTime)
            || case.steps.contains("capture")
            || !case.steps.starts_with("  - run: ")
        {
            continue;
        }
        let run = case.steps.lines().next().expect("a line");
        let yaml_value = run.trim_start_matches("  - run: ");
        let source = if yaml_value.starts_with('|') {
            case.steps
                .lines()
                .skip(1)
                .map(|line| line.trim_start_matches("      "))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        } else if yaml_value.starts_with('"') {
            serde_json::from_str::<String>(yaml_value).expect("a JSON-compatible YAML string")
        } else {
            yaml_value.to_owned()
        };
        let payloads = payloads(pwned.path(), number);
        for payload in &payloads {
            let template = templates
                .environment()
                .template_from_named_str("steps[0].run", &source)
                .expect("compiles");
            let context = minijinja_context(payload);
            let Ok(command) = template.render(context) else {
                continue;
            };
            let _ = std::process::Command::new("bash")
                .args(["-c", &command])
                .current_dir(work.path())
                .env("PATH", &path)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        let ran = pwned_files(pwned.path()).len();
        summary.push((case.name, ran));
        for file in pwned_files(pwned.path()) {
            let _ = std::fs::remove_file(pwned.path().join(file));
        }
    }
    eprintln!("payloads that ran without the check, per context: {summary:?}");
    let silent: Vec<_> = summary.iter().filter(|(_, ran)| *ran == 0).collect();
    assert!(
        silent.is_empty(),
        "contexts where no payload ran without the check: {silent:?}"
    );
}

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

fn minijinja_context(payload: &str) -> minijinja::Value {
    minijinja::context! { V => payload, dq => "\"", open => "((", close => "))" }
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A value that spells options, given to the real OpenSSH clients: with quoting alone
/// `scp` and `sftp` take it as their own options and run its command; `runbook`
/// refuses it before `--`, and after `--` it is only a name.
#[test]
fn values_that_spell_options_run_nothing_through_scp_or_sftp() {
    let pwned = tempfile::tempdir().expect("temp dir");
    let ran = pwned.path().join("ran");
    let commands = [
        (
            "scp -F /dev/null -o BatchMode=yes {{ v }} /etc/hostname db:/srv/",
            "scp -F /dev/null -o BatchMode=yes -- {{ v }} db:/srv/",
            format!("-oProxyCommand=touch {}", ran.display()),
        ),
        (
            "sftp -F /dev/null -o BatchMode=yes {{ v }}",
            "sftp -F /dev/null -o BatchMode=yes -- {{ v }}",
            format!("-D/bin/sh -c \"touch {}\"", ran.display()),
        ),
    ];
    let home = tempfile::tempdir().expect("temp dir");
    for (before, after, payload) in &commands {
        // Quoting alone: the client runs it.
        let quoted = format!("'{}'", payload.replace('\'', "'\\''"));
        let _ = std::process::Command::new("bash")
            .args(["-c", &before.replace("{{ v }}", &quoted)])
            .env("HOME", home.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("bash");
        assert!(
            ran.exists(),
            "{before}: the payload did not run without the check"
        );
        std::fs::remove_file(&ran).expect("reset");
        // Before `--`: refused, nothing runs.
        let body =
            format!("params:\n  v: {{type: string}}\nsteps:\n  - id: copy\n    run: {before}\n");
        let refused = Test::new()
            .runbook("t", &runbook(&body))
            .args(["run", "t", "-p", &format!("v={payload}")])
            .status(2);
        assert!(
            refused.stderr.contains("with no `--` before it"),
            "{}",
            refused.stderr
        );
        // After `--`: a name the client cannot find or reach.
        let body =
            format!("params:\n  v: {{type: string}}\nsteps:\n  - id: copy\n    run: {after}\n");
        let outcome = Test::new()
            .runbook("t", &runbook(&body))
            .args(["run", "t", "-p", &format!("v={payload}")])
            .run();
        assert_eq!(outcome.code, 1, "{after}\n{}", outcome.stderr);
        assert!(!ran.exists(), "{after}: the payload ran");
    }
}
