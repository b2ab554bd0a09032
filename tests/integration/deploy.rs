//! The schedules and alerts shipped in `deploy/`: the Prometheus rules pass their
//! promtool unit tests, the systemd units verify, and every schedule names a shipped,
//! valid runbook.

use crate::test::{Test, repository};
use std::process::Command;

fn deploy(path: &str) -> std::path::PathBuf {
    repository().join("deploy").join(path)
}

/// The runbook each scheduled command runs (`runbook run NAME …`).
fn scheduled(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split("runbook run ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_valid(names: &[String]) {
    assert!(!names.is_empty());
    for name in names {
        Test::new().args(["validate", name]).status(0);
    }
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    let rules = deploy("prometheus/runbook-alerts.yml");
    let check = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("promtool (apt-get install prometheus; scripts/test installs it)");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let test = Command::new("promtool")
        .args(["test", "rules", "runbook-alerts.test.yml"])
        .current_dir(deploy("prometheus"))
        .output()
        .expect("promtool");
    assert!(
        test.status.success(),
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    // Every metric the rules read is one runbook writes (or node_exporter's own).
    let text = std::fs::read_to_string(&rules).expect("rules");
    for metric in text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("runbook_"))
    {
        assert!(
            std::fs::read_to_string(repository().join("src/metrics.rs"))
                .expect("metrics.rs")
                .contains(&format!("\"{metric}\"")),
            "{metric} is not a metric runbook writes"
        );
    }
}

#[test]
fn the_systemd_units_verify_and_run_shipped_runbooks() {
    let units = tempfile::tempdir().expect("units");
    let mut names = Vec::new();
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(deploy("systemd")).expect("deploy/systemd") {
        let entry = entry.expect("entry");
        let text = std::fs::read_to_string(entry.path()).expect("unit");
        names.extend(scheduled(&text));
        // verify checks that ExecStart names an executable: the one just built.
        let text = text.replace("/usr/local/bin/runbook", env!("CARGO_BIN_EXE_runbook"));
        let path = units.path().join(entry.file_name());
        std::fs::write(&path, text).expect("write unit");
        paths.push(path);
    }
    assert_eq!(paths.len(), 14, "seven services and their timers");
    assert_valid(&names);
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: units not verified");
        return;
    }
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
}

#[test]
fn the_crontab_and_the_cronjob_run_shipped_runbooks() {
    let crontab = std::fs::read_to_string(deploy("cron/runbook.crontab")).expect("crontab");
    let names = scheduled(&crontab);
    assert_eq!(names.len(), 7, "{names:?}");
    assert_valid(&names);
    for line in crontab.lines().filter(|line| line.contains("runbook run ")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() > 5, "{line}");
        assert!(line.contains("--non-interactive"), "{line}");
    }
    let cronjob = std::fs::read_to_string(deploy("kubernetes/nightly-restore-test.cronjob.yaml"))
        .expect("cronjob");
    let mut parser = saphyr_parser::Parser::new_from_str(&cronjob);
    while let Some(event) = parser.next_event() {
        let (event, _) = event.expect("the CronJob is valid YAML");
        if matches!(event, saphyr_parser::Event::StreamEnd) {
            break;
        }
    }
    assert!(cronjob.contains("- nightly-restore-test"));
    assert_valid(&["nightly-restore-test".to_owned()]);
}
