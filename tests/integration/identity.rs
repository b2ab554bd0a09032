//! Who ran a run, and where its record goes: the account of the real uid, never
//! `$USER`; no shared fallback directory; no audit directory someone else can write.

use crate::test::Test;

fn runbook() -> String {
    "name: t\ntitle: T\nkind: test\nsteps:\n  - id: a\n    run: 'true'\n".to_owned()
}

fn account() -> String {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn recorded_user(directory: &std::path::Path) -> String {
    let record = std::fs::read_dir(directory)
        .expect("audit dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .expect("a record");
    let first = std::fs::read_to_string(record).expect("read");
    let event: serde_json::Value =
        serde_json::from_str(first.lines().next().expect("a line")).expect("json");
    event["user"].as_str().expect("user").to_owned()
}

#[test]
fn the_user_is_the_account_of_the_real_uid_not_dollar_user() {
    let test = Test::new()
        .runbook("t", &runbook())
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .args(["run", "t"]);
    test.status(0);
    let user = recorded_user(&test.path().join("state/runbook/audit"));
    let expected = account();
    if nix::unistd::getuid().is_root() {
        // Not under sudo here: SUDO_USER is unset by the clean test environment.
        assert_eq!(user, expected);
        let sudo = Test::new()
            .runbook("t", &runbook())
            .env("SUDO_USER", "alice")
            .args(["run", "t"]);
        sudo.status(0);
        assert_eq!(
            recorded_user(&sudo.path().join("state/runbook/audit")),
            format!("{expected} (sudo from alice)")
        );
    } else {
        assert_eq!(user, expected);
    }
}

#[test]
fn a_relative_xdg_state_home_is_ignored_and_systemd_state_directory_wins() {
    let test = Test::new()
        .runbook("t", &runbook())
        .env("XDG_STATE_HOME", "relative/state")
        .args(["run", "t"]);
    test.status(0);
    assert!(
        !test.path().join("relative").exists(),
        "a relative XDG_STATE_HOME was used"
    );
    assert!(test.path().join(".local/state/runbook/audit").is_dir());

    let test = Test::new().runbook("t", &runbook());
    let state = test.path().join("systemd-state");
    let test = test
        .env("STATE_DIRECTORY", &state.display().to_string())
        .args(["run", "t"]);
    test.status(0);
    assert!(state.join("audit").is_dir());
}

#[test]
fn an_audit_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let test = Test::new().runbook("t", &runbook());
    let open = test.path().join("open-audit");
    std::fs::create_dir(&open).expect("dir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let test = test
        .env("RUNBOOK_AUDIT_DIR", &open.display().to_string())
        .args(["run", "t"]);
    let outcome = test.status(2);
    assert!(
        outcome.stderr.contains("will not keep run records in")
            && outcome.stderr.contains("writable by everyone (mode 777)"),
        "{}",
        outcome.stderr
    );
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o770)).expect("chmod");
    let outcome = test.status(2);
    assert!(
        outcome.stderr.contains("writable by its group"),
        "{}",
        outcome.stderr
    );
    if nix::unistd::getuid().is_root() {
        // A directory that belongs to someone else.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        nix::unistd::chown(&open, Some(nix::unistd::Uid::from_raw(65534)), None).expect("chown");
        let outcome = test.status(2);
        assert!(
            outcome.stderr.contains("it belongs to nobody, not to you"),
            "{}",
            outcome.stderr
        );
    }
}
