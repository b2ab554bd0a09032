//! `runbook validate` on the shipped runbooks and on hostile input.

use crate::test::{Test, minimal};
use std::time::Duration;

#[test]
fn every_shipped_runbook_is_valid_and_warning_free() {
    // From an empty directory, only the runbooks embedded in the binary are found.
    let outcome = Test::new().args(["validate", "--strict"]).status(0);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert!(lines.len() >= 12, "{}", outcome.stdout);
    for line in lines {
        assert!(line.starts_with("ok "), "{line}");
        assert!(line.contains("embedded:"), "{line}");
    }
    assert_eq!(outcome.stderr, "");
}

#[test]
fn a_valid_runbook_passes() {
    Test::new()
        .runbook("hello", &minimal("hello", "Say hello"))
        .args(["validate", "hello"])
        .stdout("ok      hello  runbooks/hello.yaml\n");
}

#[test]
fn a_ten_megabyte_file_is_refused_fast() {
    let big = format!(
        "name: big\ntitle: Big\nkind: check\n# {}\n",
        "x".repeat(10 * 1024 * 1024)
    );
    let outcome = Test::new()
        .file("big.yaml", &big)
        .args(["validate", "big.yaml"])
        .status(2);
    assert!(
        outcome.stderr.contains("too large to be a runbook"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.elapsed < Duration::from_secs(5),
        "took {:?}",
        outcome.elapsed
    );
}

#[test]
fn an_unknown_name_suggests_the_closest() {
    let outcome = Test::new()
        .runbook("restore-db", &minimal("restore-db", "Restore"))
        .args(["validate", "restore-bd"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("error: no runbook named `restore-bd`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("did you mean `restore-db`?"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn json_output_lists_diagnostics_with_locations() {
    let outcome = Test::new()
        .file("bad.yaml", "name: bad\ntitle: Bad\nkind: check\nsteps:\n  - id: a\n    comfirm: sure\n    run: true\n")
        .args(["validate", "--format", "json", "bad.yaml"])
        .status(2);
    let json: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("valid JSON");
    assert_eq!(json["version"], 1);
    let diagnostic = &json["runbooks"][0]["diagnostics"][0];
    assert_eq!(diagnostic["message"], "unknown key `comfirm` in step");
    assert_eq!(diagnostic["code"], "RB002");
    assert_eq!(diagnostic["line"], 6);
    assert_eq!(diagnostic["column"], 5);
    assert_eq!(diagnostic["step_id"], "a");
    assert_eq!(diagnostic["help"], "did you mean `confirm`?");
}

#[test]
fn quiet_prints_only_problems() {
    Test::new()
        .runbook("hello", &minimal("hello", "Say hello"))
        .args(["-q", "validate", "hello"])
        .stdout("");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let always = Test::new()
        .file("bad.yaml", "name: bad\n")
        .args(["--color", "always", "validate", "bad.yaml"])
        .status(2);
    assert!(always.stderr.contains("\u{1b}["), "{}", always.stderr);
    let test = Test::new()
        .file("bad.yaml", "name: bad\n")
        .auto_color()
        .env("NO_COLOR", "1");
    let auto = test.args(["validate", "bad.yaml"]).status(2);
    assert!(!auto.stderr.contains("\u{1b}["), "{}", auto.stderr);
}

#[test]
fn hostile_values_in_defaults_are_checked_not_run() {
    // Validation renders nothing and runs nothing, whatever the values say.
    let text = "name: hostile\ntitle: Hostile\nkind: check\nparams:\n  x: {default: \"'; touch PWNED #\"}\n  y: {default: \"$(touch PWNED)\"}\nsteps:\n  - id: a\n    run: echo {{ x }} {{ y }}\n";
    let test = Test::new()
        .runbook("hostile", text)
        .args(["validate", "hostile"]);
    test.status(0);
    assert!(!test.path().join("PWNED").exists());
}

/// One small runbook per rule, with the message it must produce.
#[test]
fn semantic_rules() {
    let head = "name: rule\ntitle: Rule\nkind: check\n";
    let cases = [
        (
            "steps:\n  - id: a\n    name: Restore {{ nosuch }}\n    run: 'true'\n",
            "undefined variable `nosuch`",
        ),
        (
            "steps:\n  - id: count-users\n    run: echo 3\n    capture: users\n  - id: b\n    when: steps.count_users.status == 'ok'\n    run: 'true'\n",
            "",
        ),
        (
            "steps:\n  - id: count-users\n    run: echo 3\n    capture: users\n  - id: b\n    when: steps.count-users.status == 'ok'\n    run: 'true'\n",
            "steps.count_users",
        ),
        (
            "steps:\n  - id: a\n    when: users | int > 0\n    run: echo 3\n    capture: users\n",
            "`users` is captured by this step",
        ),
        (
            "steps:\n  - id: both\n    parallel:\n      - {id: x, run: echo 1, capture: n}\n      - {id: y, run: echo 2, capture: n}\n",
            "`n` is already defined as a capture or input of another step in this group",
        ),
        (
            "steps:\n  - id: a\n    run: psql\n    interactive: true\n    capture: out\n",
            "an `interactive` step cannot `capture`",
        ),
        (
            "steps:\n  - id: a\n    parallel: []\n",
            "`parallel` has no steps",
        ),
        (
            "params:\n  x: {default: a}\nsteps:\n  - id: a\n    run: echo {{ x }}\n    capture: x\n",
            "`x` is already defined",
        ),
        (
            "steps:\n  - id: a\n    run: echo {{ run.status }}\nfinally:\n  - id: b\n    run: echo {{ run.status }} {{ steps.a.exit_code }}\n",
            "undefined variable `run.status`",
        ),
        (
            "steps:\n  - id: a\n    confirm: Really drop {{ nosuch }}?\n    run: 'true'\n",
            "undefined variable `nosuch`",
        ),
    ];
    for (body, expected) in cases {
        let outcome = Test::new()
            .file("rule.yaml", &format!("{head}{body}"))
            .args(["validate", "rule.yaml"])
            .run();
        if expected.is_empty() {
            assert_eq!(outcome.code, 0, "{body}\n{}", outcome.stderr);
        } else {
            assert_eq!(outcome.code, 2, "{body}\n{}", outcome.stderr);
            assert!(
                outcome.stderr.contains(expected),
                "{body}\nwanted {expected:?} in\n{}",
                outcome.stderr
            );
            assert_eq!(
                outcome.stderr.matches("\nerror[RB").count()
                    + usize::from(outcome.stderr.starts_with("error[RB")),
                1,
                "{body}\n{}",
                outcome.stderr
            );
        }
    }
}

#[test]
fn an_include_with_broken_templates_is_reported_at_the_include() {
    let parent =
        "name: parent\ntitle: Parent\nkind: test\nsteps:\n  - id: child\n    include: child\n";
    let child = "name: child\ntitle: Child\nkind: test\nsteps:\n  - id: greet\n    run: echo {{ nosuch }}\n";
    let outcome = Test::new()
        .runbook("parent", parent)
        .runbook("child", child)
        .args(["validate", "parent"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("included runbook `child` is invalid (1 error)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("runbook validate child"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn verbose_logs_go_to_stderr_and_only_when_asked() {
    let quiet = Test::new().args(["validate", "backup-redis"]).status(0);
    assert!(
        !quiet.stderr.contains("loading runbook"),
        "{}",
        quiet.stderr
    );
    let verbose = Test::new()
        .args(["-v", "validate", "backup-redis"])
        .status(0);
    assert!(
        verbose.stderr.contains("loading runbook"),
        "{}",
        verbose.stderr
    );
    assert!(!verbose.stdout.contains("loading runbook"));
}

#[test]
fn every_diagnostic_code_is_documented_once() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/load/codes.rs"))
        .expect("codes.rs");
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md"))
        .expect("docs/json.md");
    let codes: Vec<&str> = source
        .match_indices("=> \"RB")
        .map(|(at, _)| &source[at + 4..at + 9])
        .collect();
    assert!(codes.len() >= 40, "{codes:?}");
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len(), "a code is used twice");
    for code in codes {
        assert_eq!(
            docs.matches(&format!("| `{code}` |")).count(),
            1,
            "{code} in docs/json.md"
        );
    }
}
