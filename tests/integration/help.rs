//! `--help` texts are part of the interface: snapshot them so changes are reviewed.

use crate::test::Test;

#[test]
fn help_texts() {
    for command in [
        None,
        Some("list"),
        Some("show"),
        Some("validate"),
        Some("schema"),
        Some("completions"),
    ] {
        let mut args: Vec<&str> = command.into_iter().collect();
        args.push("--help");
        let outcome = Test::new().env("COLUMNS", "100").args(args).status(0);
        insta::assert_snapshot!(
            format!("help-{}", command.unwrap_or("runbook")),
            outcome.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let outcome = Test::new().args(["validate", "--format", "yaml"]).status(2);
    assert!(
        outcome.stderr.contains("invalid value 'yaml'"),
        "{}",
        outcome.stderr
    );
    Test::new().args(["frobnicate"]).status(2);
}

#[test]
fn version_prints_the_crate_version() {
    let outcome = Test::new().args(["--version"]).status(0);
    assert_eq!(
        outcome.stdout,
        format!("runbook {}\n", env!("CARGO_PKG_VERSION"))
    );
}
