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
        .args(["--color", "never", "show", "drop"])
        .status(0);
    insta::assert_snapshot!("show-text-destructive", outcome.stdout);
}

#[test]
fn show_of_an_invalid_runbook_prints_its_errors() {
    let outcome = Test::new()
        .runbook("bad", "name: bad\ntitle: Bad\nkind: check\nsteps: []\n")
        .args(["--color", "never", "show", "bad"])
        .status(2);
    assert!(
        outcome.stderr.contains("`steps` has no steps"),
        "{}",
        outcome.stderr
    );
}
