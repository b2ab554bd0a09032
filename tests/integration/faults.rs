//! Faults reported honestly: the audit directory removed under a run, a full disk, and
//! what `audit verify` says about a record a full disk cut short.

use crate::test::Test;

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

#[test]
fn an_audit_directory_deleted_mid_run_stops_the_run() {
    let body = "steps:\n  - id: remove\n    run: rm -rf \"$RUNBOOK_AUDIT_DIR\"\n  - id: after\n    run: touch after-ran\n";
    let test = Test::new().runbook("t", &runbook(body));
    let audit = test.path().join("audit");
    let test = test
        .env("RUNBOOK_AUDIT_DIR", &audit.display().to_string())
        .args(["run", "t"]);
    let outcome = test.run();
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("was deleted while the run was going"),
        "{}",
        outcome.stderr
    );
    assert!(
        !test.path().join("after-ran").exists(),
        "a step ran unaudited"
    );
}

/// A full disk under the audit directory (a 256 KiB tmpfs; needs root to mount).
#[test]
fn a_full_disk_is_reported_as_such_and_leaves_a_verifiable_record() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to mount a small tmpfs");
        return;
    }
    // A disk that fills up mid-run: the record outgrows the page it has, and the steps
    // after that must not run unaudited.
    let mut body = String::from(
        "steps:\n  - id: fill\n    run: head -c 1000000 /dev/zero > \"$RUNBOOK_AUDIT_DIR/filler\" || true; head -c 20000 /dev/zero | tr '\\0' x | fold -w 100\n",
    );
    for index in 0..40 {
        body.push_str(&format!(
            "  - id: after-{index}\n    run: touch after-{index}\n"
        ));
    }
    let test = Test::new().runbook("t", &runbook(&body));
    let audit = test.path().join("audit");
    std::fs::create_dir(&audit).expect("dir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
        .arg(&audit)
        .status()
        .expect("mount runs");
    if !mounted.success() {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let test = test
        .env("RUNBOOK_AUDIT_DIR", &audit.display().to_string())
        .args(["run", "t"]);
    let outcome = test.run();
    let verified = Test::new()
        .env("RUNBOOK_AUDIT_DIR", &audit.display().to_string())
        .args(["audit", "verify"])
        .run();
    let _ = std::process::Command::new("umount").arg(&audit).status();
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("No space left on device"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("cannot write the run's output log"),
        "dropped log output not announced:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("nothing was run"),
        "steps ran, yet:\n{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("stopping before anything else runs"),
        "{}",
        outcome.stderr
    );
    assert!(
        !test.path().join("after-39").exists(),
        "steps ran unaudited"
    );
    assert!(
        !verified.stdout.contains("TAMPERED"),
        "a full disk is not tampering:\n{}",
        verified.stdout
    );
    assert!(
        verified.stdout.starts_with("incomplete") || verified.stdout.starts_with("cut"),
        "{}",
        verified.stdout
    );
}
