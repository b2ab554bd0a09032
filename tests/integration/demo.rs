//! The README's run command: `runbook run demo` starts throwaway PostgreSQL 15 and Redis
//! 7, backs up, restores, verifies and tears everything down, for real.

use crate::test::Test;

#[test]
fn the_demo_runs_end_to_end_and_leaves_nothing_behind() {
    let outcome = Test::new().args(["run", "demo"]).run();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stderr.contains("summary: demo success"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("verify-postgres/fk-orphans"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("compare-redis"),
        "{}",
        outcome.stderr
    );
    let lab = outcome
        .stdout
        .lines()
        .find(|line| line.contains("runbook-demo-"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(!lab.is_empty(), "the lab directory is not printed");
    assert!(!std::path::Path::new(&lab).exists(), "teardown left {lab}");
    assert_eq!(crate::run::processes_with(&lab), Vec::<String>::new());
}
