//! Every file in `tests/fixtures/invalid/` is one class of mistake; its diagnostics are
//! snapshot-tested so a change in wording or location is reviewed like code.

use crate::test::{Test, repository};

#[test]
fn invalid_fixtures_report_located_helpful_diagnostics() {
    let directory = repository().join("tests/fixtures/invalid");
    let mut count = 0;
    insta::glob!("../fixtures/invalid", "*.yaml", |path| {
        count += 1;
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("UTF-8 fixture name");
        let outcome = Test::new()
            .current_dir(&directory)
            .args(["validate", name])
            .run();
        let expected_code = if name.starts_with("warning-") { 0 } else { 2 };
        assert_eq!(
            outcome.code,
            expected_code,
            "{name}\n{}",
            outcome.transcript()
        );
        if expected_code == 2 {
            assert!(outcome.stderr.contains("error[RB"), "{name}: no error line");
            assert!(
                outcome.stderr.contains(&format!("--> {name}")),
                "{name}: no location"
            );
        }
        assert!(!outcome.stderr.contains("panicked"), "{name}: panic");
        // One snapshot per fixture, named after it (not glob!'s `@file` suffix).
        let stem = name.trim_end_matches(".yaml");
        insta::with_settings!({ snapshot_suffix => "" }, {
            insta::assert_snapshot!(format!("invalid-{stem}"), outcome.transcript());
        });
    });
    assert!(count >= 25, "only {count} fixtures");
}

#[test]
fn warnings_fail_with_strict() {
    let directory = repository().join("tests/fixtures/invalid");
    let outcome = Test::new()
        .current_dir(&directory)
        .args(["validate", "--strict", "warning-secret-in-command.yaml"])
        .status(2);
    assert!(
        outcome.stderr.contains("]: secret `database_url`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let directory = repository().join("tests/fixtures/invalid");
    for (name, at_least) in [
        ("multiple-top-level-errors.yaml", 5),
        ("multiple-step-errors.yaml", 6),
        ("multiple-template-errors.yaml", 4),
    ] {
        let outcome = Test::new()
            .current_dir(&directory)
            .args(["validate", name])
            .status(2);
        let errors = outcome.stderr.matches("\nerror[RB").count()
            + usize::from(outcome.stderr.starts_with("error[RB"));
        assert!(
            errors >= at_least,
            "{name}: {errors} errors\n{}",
            outcome.stderr
        );
    }
}
