//! `runbook list`: name, kind, title and origin of every runbook found.

use crate::test::{Test, minimal};

#[test]
fn lists_local_and_embedded_runbooks_with_their_origin() {
    let outcome = Test::new()
        .runbook("backup-redis", &minimal("backup-redis", "Local override"))
        .runbook("zz-custom", &minimal("zz-custom", "A custom check"))
        .args(["list"])
        .status(0);
    let line = |name: &str| {
        outcome
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from\n{}", outcome.stdout))
            .to_owned()
    };
    assert!(outcome.stdout.starts_with("NAME "), "{}", outcome.stdout);
    let local = line("backup-redis");
    assert!(
        local.contains("Local override") && local.ends_with("runbooks/backup-redis.yaml"),
        "{local}"
    );
    assert!(line("zz-custom").contains("check"));
    let shipped = line("disaster-recovery");
    assert!(
        shipped.contains(" dr ") && shipped.ends_with("built-in"),
        "{shipped}"
    );
}

#[test]
fn json_listing() {
    let outcome = Test::new().args(["list", "--format", "json"]).status(0);
    let listing: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(listing["version"], 1);
    let names: Vec<&str> = listing["runbooks"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|entry| entry["name"].as_str())
        .collect();
    for expected in [
        "backup-postgres",
        "restore-postgres",
        "nightly-restore-test",
        "disaster-recovery",
        "demo",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
}

#[test]
fn an_invalid_runbook_is_listed_as_such() {
    let outcome = Test::new()
        .runbook("broken", "name: broken\ntitle: [\n")
        .args(["list"])
        .status(0);
    assert!(
        outcome
            .stdout
            .contains("(invalid: run `runbook validate broken`)"),
        "{}",
        outcome.stdout
    );
}
