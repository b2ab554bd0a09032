//! `runbook show`: the procedure as text and as a Markdown document to follow by hand.

use crate::test::{Outcome, Test};

#[test]
fn disaster_recovery_as_markdown_reads_as_a_procedure() {
    let outcome = Test::new()
        .args(["show", "disaster-recovery", "--format", "markdown"])
        .status(0);
    let text = &outcome.stdout;
    assert!(text.starts_with("# "), "{text}");
    for expected in [
        "## Parameters",
        "## Before you start",
        "## Procedure",
        "### 1. ",
        "**RTO:** 4h",
        "**RPO:** 1h",
        "\n## Appendix: included procedures\n",
        "- [ ] Done at",
    ] {
        assert!(text.contains(expected), "missing {expected:?}");
    }
    insta::assert_snapshot!("show-disaster-recovery-markdown", text);
}

#[test]
fn text_show_marks_destructive_steps_and_confirmations() {
    let runbook = "name: drop\ntitle: Drop a database\nkind: maintenance\nparams:\n  db_name: {default: scratch}\nsteps:\n  - id: drop\n    destructive: true\n    confirm: {message: \"Drop {{ db_name }}?\", type: \"{{ db_name }}\", auto: deny}\n    run: dropdb {{ db_name }}\n";
    let outcome = Test::new()
        .runbook("drop", runbook)
        .args(["show", "drop"])
        .status(0);
    insta::assert_snapshot!("show-text-destructive", outcome.stdout);
}

#[test]
fn show_of_an_invalid_runbook_prints_its_errors() {
    let outcome = Test::new()
        .runbook("bad", "name: bad\ntitle: Bad\nkind: check\nsteps: []\n")
        .args(["show", "bad"])
        .status(2);
    assert!(
        outcome.stderr.contains("`steps` has no steps"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn show_and_dry_run_print_a_step_the_same_way() {
    // They drifted: `only when:` against `when:`, `continue on error` a marker in one and
    // a limit in the other, different confirmation notes. One printer serves both now.
    let runbook = crate::test::unindent(
        "
        name: t
        title: T
        kind: maintenance
        params:
          mode: {default: swap}
        steps:
          - id: tidy
            when: mode == 'swap'
            continue_on_error: true
            timeout: 5s
            confirm: {message: Go?, auto: deny}
            run: echo tidy
        ",
    );
    let test = Test::new().runbook("t", &runbook);
    let show = Test::new()
        .current_dir(test.path())
        .args(["show", "t"])
        .status(0)
        .stdout;
    let plan = Test::new()
        .current_dir(test.path())
        .args(["run", "t", "--dry-run"])
        .status(0)
        .stdout;
    for line in [
        "  1. tidy  [continue on error]\n",
        "     confirm: Go? (only a person or --approve tidy)\n",
        "     $ echo tidy\n",
        "     timeout 5s\n",
    ] {
        assert!(show.contains(line), "show lacks {line:?}:\n{show}");
        assert!(plan.contains(line), "dry-run lacks {line:?}:\n{plan}");
    }
    assert!(show.contains("     when: mode == 'swap'\n"), "{show}");
    assert!(
        plan.contains("     when: mode == 'swap'  → true\n"),
        "{plan}"
    );
}

#[test]
fn the_markdown_points_only_at_sections_it_has() {
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks")).expect("runbooks")
    {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("name")
            .to_owned();
        let markdown = Test::new()
            .args(["show", "--format", "markdown", &name])
            .status(0)
            .stdout;
        for section in ["If something fails", "Always, at the end"] {
            let pointed = markdown.contains(&format!("*{section}*"));
            let present = markdown
                .lines()
                .any(|line| line.starts_with('#') && line.contains(section));
            assert!(
                !pointed || present,
                "{name}: points at *{section}*, which it does not have"
            );
        }
    }
}

/// A runbook that exercises every kind of value `show -p` fills or leaves: a hostile
/// given value, a default, a secret, a param read from the environment, a var derived
/// from a param and one from the clock, a step's output, a `when`, and an include.
const FILLED: &str = "
name: fill
title: Fill
kind: maintenance
params:
  target: {description: where}
  mode: {default: swap, choices: [swap, copy]}
  token: {secret: true, default: hunter2}
  dir: {env: FILL_DIR, default: /from/default}
vars:
  label: \"{{ target }}-{{ mode }}\"
  stamp: \"{{ now() }}\"
steps:
  - id: copy
    when: mode == 'swap'
    confirm: {message: \"Copy to {{ target }}?\", type: \"{{ mode }}\"}
    run: cp -a {{ dir }} {{ target }} && echo {{ label }} {{ token }} {{ stamp }}
    capture: copied
  - id: later
    when: copied != ''
    run: echo {{ copied }} {{ target }}
  - id: child
    include: child
    with: {where: \"{{ target }}\", what: \"{{ copied }}\"}
";

const CHILD: &str = "
name: child
title: Child
kind: maintenance
params:
  where: {}
  what: {default: nothing}
  how: {default: gently}
steps:
  - id: say
    run: echo {{ where }} {{ what }} {{ how }}
";

fn filled_test() -> Test {
    Test::new()
        .runbook("fill", &crate::test::unindent(FILLED))
        .runbook("child", &crate::test::unindent(CHILD))
}

#[test]
fn show_fills_given_values_and_defaults_quoted_as_a_run_quotes_them() {
    let hostile = "it's $(touch /tmp/x) `id`";
    let test = filled_test();
    let dry = Test::new()
        .current_dir(test.path())
        .args([
            "run",
            "fill",
            "--dry-run",
            "-p",
            &format!("target={hostile}"),
        ])
        .status(0)
        .stdout;
    for format in ["text", "markdown"] {
        let shown = Test::new()
            .current_dir(test.path())
            .env("FILL_DIR", "/from/environment")
            .args(["show", "fill", "--format", format])
            .args(["-p", &format!("target={hostile}")])
            .status(0)
            .stdout;
        // The given value, quoted exactly as the dry-run renders it for the shell.
        let quoted = "'it'\\''s $(touch /tmp/x) `id`'";
        assert!(dry.contains(quoted), "{dry}");
        assert!(shown.contains(&format!(" {quoted} ")), "{format}:\n{shown}");
        // The var built from it and a default are filled in; the secret, the param
        // read from the environment (only the run has it), the clock and the step's
        // output are left as written.
        assert!(
            shown.contains("'it'\\''s $(touch /tmp/x) `id`-swap'"),
            "{format}:\n{shown}"
        );
        for kept in ["{{ token }}", "{{ dir }}", "{{ stamp }}", "{{ copied }}"] {
            assert!(shown.contains(kept), "{format} lost {kept}:\n{shown}");
        }
        assert!(!shown.contains("hunter2"), "{format}:\n{shown}");
        assert!(!shown.contains("/from/environment"), "{format}:\n{shown}");
        assert!(shown.contains("cp -a {{ dir }} "), "{format}:\n{shown}");
        assert!(!shown.contains("{{ target }}"), "{format}:\n{shown}");
        // The confirmation's typed text is filled in too.
        assert!(shown.contains("swap"), "{format}:\n{shown}");
    }
    let markdown = Test::new()
        .current_dir(test.path())
        .args([
            "show",
            "fill",
            "--format",
            "markdown",
            "-p",
            "target=/srv/new",
        ])
        .status(0)
        .stdout;
    // Decided where every name is known, left to the reader where one is not.
    assert!(
        markdown.contains("**Only if** `mode == 'swap'`: with the values above it is true"),
        "{markdown}"
    );
    assert!(
        markdown.contains("**Only if** `copied != ''`; otherwise skip this step."),
        "{markdown}"
    );
    // The include's known values reach the appendix; its unknown one stays unfilled
    // (not replaced by its default), and its own default is filled in.
    assert!(markdown.contains("- `where` = `/srv/new`"), "{markdown}");
    assert!(
        markdown.contains("echo /srv/new {{ what }} gently"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `target` | string | `/srv/new` (given) |"),
        "{markdown}"
    );
    let text = Test::new()
        .current_dir(test.path())
        .args(["show", "fill", "-p", "target=/srv/new", "-p", "mode=copy"])
        .status(0)
        .stdout;
    assert!(text.contains("when: mode == 'swap'  → false"), "{text}");
    assert!(text.contains("target = /srv/new  (given)"), "{text}");
    // Without -p, nothing is filled in.
    let plain = Test::new()
        .current_dir(test.path())
        .args(["show", "fill", "--format", "markdown"])
        .status(0)
        .stdout;
    assert!(plain.contains("cp -a {{ dir }} {{ target }}"), "{plain}");
    assert!(
        plain.contains("| `mode` | string, one of `swap` `copy` | `swap` |"),
        "{plain}"
    );
}

#[test]
fn show_refuses_unknown_and_invalid_values_as_a_run_does() {
    let test = filled_test();
    for (argument, expected) in [
        (
            "targte=/srv",
            "unknown parameter `targte` (did you mean `target`?)",
        ),
        ("mode=move", "`mode`"),
        ("novalue", "NAME=VALUE"),
    ] {
        let stderr = Test::new()
            .current_dir(test.path())
            .args(["show", "fill", "-p", argument])
            .status(2)
            .stderr;
        assert!(stderr.contains(expected), "{argument}: {stderr}");
    }
    // A secret given is accepted and never printed.
    let shown = Test::new()
        .current_dir(test.path())
        .args([
            "show",
            "fill",
            "--format",
            "markdown",
            "-p",
            "token=s3cr3t-given",
        ])
        .status(0)
        .stdout;
    assert!(!shown.contains("s3cr3t-given"), "{shown}");
}

/// markdownlint-cli2 with tests/markdownlint.jsonc (line length off: commands are
/// printed exactly as they run) on `documents`, named by file name.
fn markdownlint(documents: &[(String, String)]) {
    let directory = tempfile::tempdir().expect("tempdir");
    for (name, text) in documents {
        std::fs::write(directory.path().join(name), text).expect("write");
    }
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/markdownlint.jsonc");
    let output = std::process::Command::new("markdownlint-cli2")
        .arg("--config")
        .arg(config)
        .args(documents.iter().map(|(name, _)| name))
        .current_dir(directory.path())
        .output()
        .expect("markdownlint-cli2 (scripts/test installs it: npm install -g markdownlint-cli2)");
    assert!(
        output.status.success(),
        "markdownlint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_shipped_runbooks_markdown_passes_markdownlint() {
    let mut documents = Vec::new();
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks")).expect("runbooks")
    {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("name")
            .to_owned();
        let markdown = Test::new()
            .args(["show", "--format", "markdown", &name])
            .status(0)
            .stdout;
        documents.push((format!("{name}.md"), markdown));
    }
    assert!(documents.len() >= 15, "{}", documents.len());
    // Filled in, too.
    let filled = Test::new()
        .args(["show", "--format", "markdown", "disaster-recovery"])
        .args(["-p", "incident_id=INC-7", "-p", "restore_point=latest"])
        .args([
            "-p",
            "approved_by=Al Lead",
            "-p",
            "postgres_ssh=postgres@db1",
        ])
        .status(0)
        .stdout;
    documents.push(("disaster-recovery-filled.md".to_owned(), filled));
    markdownlint(&documents);
}

#[test]
fn markdown_survives_values_that_look_like_markdown() {
    // Pipes in a table cell, backticks in a code span and a fence in a command.
    let runbook = crate::test::unindent(
        "
        name: md
        title: Markdown edge cases
        kind: maintenance
        params:
          pick: {default: 'a|b', description: 'one | two, `x`'}
          tick: {default: '`'}
        steps:
          - id: fenced
            run: |
              cat <<'EOF'
              ```
              EOF
              echo {{ pick }} {{ tick }}
        ",
    );
    let test = Test::new().runbook("md", &runbook);
    let mut documents = Vec::new();
    for filled in [false, true] {
        let mut show = Test::new()
            .current_dir(test.path())
            .args(["show", "md", "--format", "markdown"]);
        if filled {
            show = show.args(["-p", "pick=x|`y`"]);
        }
        let markdown = show.status(0).stdout;
        assert!(markdown.contains("````bash"), "{markdown}");
        documents.push((format!("md-{filled}.md"), markdown));
    }
    markdownlint(&documents);
}

/// `show` with `-p` on a runbook and the runbooks it includes, as markdown.
fn shown(files: &[(&str, &str)], root: &str, params: &[&str]) -> Outcome {
    let mut test = Test::new();
    for (name, text) in files {
        test = test.runbook(name, &crate::test::unindent(text));
    }
    let mut test = test.args(["show", root, "--format", "markdown"]);
    for param in params {
        test = test.args(["-p", param]);
    }
    test.status(0)
}

#[test]
fn show_fills_an_input_only_into_the_runbook_that_asks_for_it() {
    // A secret param of the root and a plain input of the same name in an include.
    let leak = shown(
        &[
            (
                "root",
                "
                name: root
                title: Root
                kind: maintenance
                params:
                  token: {secret: true}
                steps:
                  - id: use
                    manual: 'Log in with {{ token }}'
                  - id: child
                    include: child
                ",
            ),
            (
                "child",
                "
                name: child
                title: Child
                kind: maintenance
                params:
                  pw: {default: nothing}
                steps:
                  - id: ask
                    manual: Type the token
                    input:
                      token: {type: string}
                  - id: echo
                    run: echo {{ token }} {{ pw }}
                ",
            ),
        ],
        "root",
        &["token=SUPERSECRET"],
    )
    .stdout;
    assert!(!leak.contains("SUPERSECRET"), "{leak}");
    // An input given for a manual step of the root is not the include's param of the
    // same name (the run gives that one its default), and a captured name stays a
    // capture.
    let pooled = shown(
        &[
            (
                "root",
                "
                name: root
                title: Root
                kind: maintenance
                steps:
                  - id: ask
                    manual: Which version?
                    input:
                      pw: {type: string}
                  - id: get
                    capture: version
                    run: cat /etc/version
                  - id: use
                    run: echo deploying {{ version }} {{ pw }}
                  - id: child
                    include: child
                ",
            ),
            (
                "child",
                "
                name: child
                title: Child
                kind: maintenance
                params:
                  pw: {default: nothing}
                steps:
                  - id: ask
                    manual: Which version did you see?
                    input:
                      version: {type: string}
                  - id: echo
                    run: echo {{ pw }}
                ",
            ),
        ],
        "root",
        &["pw=given-pw", "version=9.9"],
    )
    .stdout;
    assert!(
        pooled.contains("echo deploying {{ version }} given-pw"),
        "{pooled}"
    );
    assert!(pooled.contains("echo nothing"), "{pooled}");
}

#[test]
fn show_leaves_what_the_run_would_refuse_or_only_the_run_knows() {
    let out = shown(
        &[(
            "t",
            "
            name: t
            title: T
            kind: maintenance
            params:
              a: {default: x}
              cmd: {default: 'sh -c'}
            vars:
              who: \"{{ run.user | default('nobody') }}\"
            hosts:
              db: {ssh: '{{ a }}'}
            env:
              GREETING: '{{ a }}'
            steps:
              - id: refused
                run: '{{ cmd | safe }} {{ a }}'
              - id: who
                when: run.user is undefined
                run: echo {{ who }} {{ run.id | default('none') }}
              - id: there
                host: db
                run: echo there
            ",
        )],
        "t",
        &["a=-oProxyCommand=id; rm -rf ~"],
    )
    .stdout;
    // The run refuses a value that lands in `sh -c`'s script: not shown as if it ran.
    assert!(out.contains("{{ cmd | safe }} {{ a }}"), "{out}");
    // `run.*` other than `run.dry_run` is known only at run time.
    assert!(
        out.contains("`who` = `{{ run.user | default('nobody') }}`"),
        "{out}"
    );
    assert!(
        out.contains("**Only if** `run.user is undefined`; otherwise"),
        "{out}"
    );
    assert!(out.contains("{{ run.id | default('none') }}"), "{out}");
    // A destination ssh would read as an option stays as written.
    assert!(out.contains("`ssh {{ a }}`"), "{out}");
    // An environment value is quoted as the run exports it.
    assert!(
        out.contains("`export GREETING='-oProxyCommand=id; rm -rf ~'`"),
        "{out}"
    );
}

#[test]
fn show_fills_a_deep_fan_of_includes_in_linear_time() {
    // r0 includes r1 twice, r1 includes r2 twice, …: 2^20 paths, 21 runbooks.
    let mut files = Vec::new();
    for level in 0..=20 {
        let mut text = format!(
            "name: r{level}\ntitle: R{level}\nkind: maintenance\nparams:\n  a: {{default: x}}\nsteps:\n"
        );
        if level < 20 {
            for site in 0..2 {
                text.push_str(&format!(
                    "  - id: s{site}\n    include: r{}\n    with: {{a: \"{{{{ a }}}}\"}}\n",
                    level + 1
                ));
            }
        } else {
            text.push_str("  - id: leaf\n    run: echo {{ a }}\n");
        }
        files.push((format!("r{level}"), text));
    }
    let mut test = Test::new();
    for (name, text) in &files {
        test = test.runbook(name, text);
    }
    let outcome = test
        .args(["show", "r0", "--format", "markdown", "-p", "a=given"])
        .status(0);
    assert!(
        outcome.elapsed < std::time::Duration::from_secs(20),
        "{:?}",
        outcome.elapsed
    );
    assert!(
        outcome.stdout.contains("shown as written"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn values_that_look_like_markdown_stay_values() {
    let runbook = "
        name: md
        title: Markdown
        kind: maintenance
        params:
          a: {default: x, description: 'a | b `c'}
        vars:
          v: '{{ a }}'
        steps:
          - id: s1
            run: echo {{ a }}
          - id: s2
            manual: 'Check {{ a }}'
            input:
              n: {type: integer, prompt: \"Number | count?\\n# hmm\"}
          - id: s3
            confirm: 'Go on with {{ a }}?'
            run: 'true'
        ";
    let mut documents = Vec::new();
    for (index, value) in [
        " lead",
        "trail ",
        "x\n# h",
        "x\n```",
        "<b>bold</b>",
        "",
        "a|b`c",
    ]
    .iter()
    .enumerate()
    {
        let markdown = shown(&[("md", runbook)], "md", &[&format!("a={value}")]).stdout;
        documents.push((format!("value-{index}.md"), markdown));
    }
    assert!(
        documents[0].1.contains("`' lead'` (given)"),
        "{}",
        documents[0].1
    );
    assert!(
        documents[2].1.contains("`$'x\\n# h'` (given)"),
        "{}",
        documents[2].1
    );
    assert!(
        documents[5].1.contains("*(empty)* (given)"),
        "{}",
        documents[5].1
    );
    markdownlint(&documents);
}
