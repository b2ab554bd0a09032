//! Every file in `tests/fixtures/invalid/` is one class of mistake; its diagnostics are
//! snapshot-tested so a change in wording or location is reviewed like code.

use crate::test::{Test, repository};

#[test]
fn invalid_fixtures_report_located_helpful_diagnostics() {
    let directory = repository().join("tests/fixtures/invalid");
    let mut names: Vec<String> = std::fs::read_dir(&directory)
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 25, "only {} fixtures", names.len());
    for name in &names {
        let outcome = Test::new()
            .current_dir(&directory)
            .args(["--color", "never", "validate", name.as_str()])
            .run();
        let expected_code = if name.starts_with("warning-") { 0 } else { 2 };
        assert_eq!(
            outcome.code,
            expected_code,
            "{name}\n{}",
            outcome.transcript()
        );
        if expected_code == 2 {
            assert!(outcome.stderr.contains("error: "), "{name}: no error line");
            assert!(
                outcome.stderr.contains(&format!("--> {name}")),
                "{name}: no location"
            );
        }
        assert!(!outcome.stderr.contains("panicked"), "{name}: panic");
        let stem = name.trim_end_matches(".yaml");
        insta::assert_snapshot!(format!("invalid-{stem}"), outcome.transcript());
    }
}

#[test]
fn warnings_fail_with_strict() {
    let directory = repository().join("tests/fixtures/invalid");
    let outcome = Test::new()
        .current_dir(&directory)
        .args([
            "--color",
            "never",
            "validate",
            "--strict",
            "warning-secret-in-command.yaml",
        ])
        .status(2);
    assert!(
        outcome.stderr.contains("error: secret `database_url`"),
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
            .args(["--color", "never", "validate", name])
            .status(2);
        let errors = outcome.stderr.matches("\nerror: ").count()
            + usize::from(outcome.stderr.starts_with("error: "));
        assert!(
            errors >= at_least,
            "{name}: {errors} errors\n{}",
            outcome.stderr
        );
    }
}
