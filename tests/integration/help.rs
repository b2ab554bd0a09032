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

#[test]
fn a_manual_page_and_a_help_subcommand() {
    let page = Test::new().args(["man"]).status(0);
    assert!(page.stdout.contains(".TH runbook 1"), "{}", page.stdout);
    assert!(page.stdout.contains(".SH SUBCOMMANDS"), "{}", page.stdout);
    let test = Test::new();
    let dir = test.path().join("man");
    Test::new()
        .args(["man", "--out-dir", dir.to_str().expect("utf-8")])
        .status(0);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("pages")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for expected in [
        "runbook.1",
        "runbook-run.1",
        "runbook-audit.1",
        "runbook-validate.1",
    ] {
        assert!(pages.iter().any(|page| page == expected), "{pages:?}");
    }
    let run = std::fs::read_to_string(dir.join("runbook-run.1")).expect("page");
    assert!(
        run.contains("\\-\\-dry\\-run") && run.contains("\\-\\-allow\\-missing"),
        "{run}"
    );
    // groff formats it without complaint where it is installed.
    if let Ok(output) = std::process::Command::new("man")
        .args(["--warnings", "-l"])
        .arg(dir.join("runbook-run.1"))
        .env("MANWIDTH", "80")
        .output()
    {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).trim().is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let help = Test::new().args(["help", "run"]).status(0);
    assert!(
        help.stdout.contains("Usage: runbook run"),
        "{}",
        help.stdout
    );
}
