//! `runbook show`: the procedure as text and as a Markdown document to follow by hand.

use crate::test::Test;

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
        "# Appendix: included procedures",
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
