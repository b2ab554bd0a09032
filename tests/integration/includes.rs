//! Includes: each one resolves beside the runbook that names it, `validate` checks the
//! very files `run` executes, cycles are found by identity and nesting is limited.

use crate::test::{Test, unindent};

fn chain(test: Test, length: usize) -> Test {
    (0..length).fold(test, |test, level| {
        let body = if level + 1 < length {
            format!("  - id: down\n    include: r{}\n", level + 1)
        } else {
            "  - id: bottom\n    run: echo bottom\n".to_owned()
        };
        test.runbook(
            &format!("r{level}"),
            &format!("name: r{level}\ntitle: Level {level}\nkind: test\nsteps:\n{body}"),
        )
    })
}

#[test]
fn validate_and_run_use_the_same_included_file() {
    // `main` (in A) includes `x` and `y`; `y` lives only in B and includes its own
    // sibling B/x.yaml, which needs a param that A/x.yaml does not have.
    let test = Test::new()
        .file(
            "A/main.yaml",
            &unindent(
                "
                name: main
                title: Main
                kind: test
                steps:
                  - id: first
                    include: x
                  - id: second
                    include: y
                ",
            ),
        )
        .file(
            "A/x.yaml",
            "name: x\ntitle: X in A\nkind: test\nsteps:\n  - id: say\n    run: echo from-A-x\n",
        )
        .file(
            "B/y.yaml",
            "name: y\ntitle: Y\nkind: test\nsteps:\n  - id: inner\n    include: x\n    with: {target: from-y}\n",
        )
        .file(
            "B/x.yaml",
            "name: x\ntitle: X in B\nkind: test\nparams:\n  target: {}\nsteps:\n  - id: say\n    run: echo from-B-x {{ target }}\n",
        );
    let dirs = ["--dir", "A", "--dir", "B"];
    Test::new()
        .current_dir(test.path())
        .args(dirs)
        .args(["validate", "main"])
        .status(0);
    let run = Test::new()
        .current_dir(test.path())
        .args(dirs)
        .args(["run", "main"])
        .status(0);
    assert!(run.stdout.contains("from-A-x\n"), "{}", run.stdout);
    assert!(run.stdout.contains("from-B-x from-y\n"), "{}", run.stdout);
}

#[test]
fn an_include_cycle_through_a_file_named_differently_is_an_error_not_a_crash() {
    // b.yaml declares `name: bee`: a name-keyed walk never saw it come back to `a`.
    let test = Test::new()
        .runbook(
            "a",
            "name: a\ntitle: A\nkind: test\nsteps:\n  - id: go\n    include: b\n",
        )
        .runbook(
            "b",
            "name: bee\ntitle: B\nkind: test\nsteps:\n  - id: back\n    include: a\n",
        );
    for command in ["validate", "show", "run"] {
        let outcome = Test::new()
            .current_dir(test.path())
            .args([command, "a"])
            .status(2);
        assert!(
            outcome.stderr.contains("include cycle: a -> bee -> a"),
            "{command}: {}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains("runbooks/a.yaml:6:14"),
            "{command}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn includes_nesting_deeper_than_the_limit_are_refused_before_anything_runs() {
    let test = chain(Test::new(), 40);
    let outcome = Test::new()
        .current_dir(test.path())
        .args(["run", "r0"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("includes nest 39 levels deep (r0 -> r1 -> r2 -> r3 -> … -> r38 -> r39); the limit is 32"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("runbooks/r0.yaml:6:14"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stdout.contains("bottom"), "{}", outcome.stdout);
}

#[test]
fn includes_nesting_exactly_to_the_limit_run() {
    let test = chain(Test::new(), 33);
    let outcome = Test::new()
        .current_dir(test.path())
        .args(["run", "r0"])
        .status(0);
    assert!(outcome.stdout.contains("bottom\n"), "{}", outcome.stdout);
}

#[test]
fn a_chain_of_1250_includes_is_refused_quickly_without_overflowing_the_stack() {
    let test = chain(Test::new(), 1250);
    for command in ["validate", "run"] {
        let outcome = Test::new()
            .current_dir(test.path())
            .args([command, "r0"])
            .status(2);
        assert!(
            outcome.stderr.contains("includes nest 1249 levels deep"),
            "{command}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn a_built_in_runbooks_include_is_not_taken_over_by_a_local_file() {
    // `nightly-restore-test` includes `verify-restore`; a planted ./runbooks copy must
    // not run inside it (it would receive the admin URL).
    let test = Test::new().runbook(
        "verify-restore",
        "name: verify-restore\ntitle: PLANTED\nkind: test\nparams:\n  admin_url: {default: x}\nsteps:\n  - id: steal\n    run: echo PLANTED\n",
    );
    let outcome = Test::new()
        .current_dir(test.path())
        .args(["show", "nightly-restore-test", "--format", "markdown"])
        .status(0);
    assert!(!outcome.stdout.contains("PLANTED"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("verify-restore"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_local_runbooks_include_resolves_beside_it_before_the_search_path() {
    let test = Test::new()
        .file(
            "team/main.yaml",
            "name: main\ntitle: Main\nkind: test\nsteps:\n  - id: go\n    include: helper\n",
        )
        .file(
            "team/helper.yaml",
            "name: helper\ntitle: Team helper\nkind: test\nsteps:\n  - id: say\n    run: echo team-helper\n",
        )
        .runbook(
            "helper",
            "name: helper\ntitle: Local helper\nkind: test\nsteps:\n  - id: say\n    run: echo local-helper\n",
        );
    let outcome = Test::new()
        .current_dir(test.path())
        .args(["run", "team/main.yaml"])
        .status(0);
    assert!(
        outcome.stdout.contains("team-helper\n"),
        "{}",
        outcome.stdout
    );
    assert!(
        !outcome.stdout.contains("local-helper"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn an_invalid_sibling_include_says_which_file_to_validate() {
    // The sibling is not on the search path: `runbook validate NAME` would not find it.
    let test = Test::new()
        .file(
            "team/main.yaml",
            "name: main\ntitle: Main\nkind: test\nsteps:\n  - id: go\n    include: helper\n",
        )
        .file(
            "team/helper.yaml",
            "name: helper\ntitle: Helper\nkind: test\nsteps:\n  - id: say\n    runn: echo hi\n",
        );
    let outcome = Test::new()
        .current_dir(test.path())
        .args(["validate", "team/main.yaml"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("help: run `runbook validate team/helper.yaml` for details"),
        "{}",
        outcome.stderr
    );
}
