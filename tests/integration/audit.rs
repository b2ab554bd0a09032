//! The audit log, resume, locks and metrics, against the real binary.

use crate::test::Test;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

fn audit_dir(test: &Test) -> PathBuf {
    test.path().join("state/runbook/audit")
}

fn records(test: &Test) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(audit_dir(test))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default();
    files.retain(|path| {
        path.extension()
            .is_some_and(|extension| extension == "jsonl")
    });
    files.sort();
    files
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("record")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

/// The process group of the last command a record says was started.
fn last_process_group(path: &Path) -> nix::unistd::Pid {
    let pgid = events(path)
        .iter()
        .rev()
        .find(|event| event["event"] == "process_started")
        .and_then(|event| event["pgid"].as_i64())
        .expect("a process_started event");
    nix::unistd::Pid::from_raw(pgid as i32)
}

/// `runbook resume RUN_ID` run from the test's directory, with its audit directory.
fn resume(test: &Test, run_id: &str) -> Test {
    Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["resume", run_id])
}

fn verify(test: &Test, path: &Path) -> (i32, String) {
    let outcome = Test::new()
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["audit", "verify", &path.display().to_string()])
        .run();
    (outcome.code, outcome.stdout)
}

const SIMPLE: &str = "params:\n  password: {secret: true, env: DB_PASSWORD}\n  db: {default: chatcard}\nsteps:\n  - id: a\n    run: echo \"using $DB_PASSWORD for\" {{ db }}\n    capture: line\n  - id: b\n    run: echo b\n  - id: c\n    run: echo c\n";

#[test]
fn every_run_leaves_a_private_hash_chained_record() {
    let test = Test::new()
        .runbook("t", &runbook(SIMPLE))
        .env("DB_PASSWORD", "pw-never-stored-9137")
        .args(["run", "t", "--operator", "alice", "--reason", "INC-42"]);
    test.status(0);
    let files = records(&test);
    assert_eq!(files.len(), 1);
    let name = files[0]
        .file_name()
        .and_then(|name| name.to_str())
        .expect("name")
        .to_owned();
    assert!(name.ends_with(".jsonl") && name.contains("Z-t-"), "{name}");
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&audit_dir(&test)), 0o700);
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&files[0].with_extension("log")), 0o600);

    let events = events(&files[0]);
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|event| event["event"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert!(kinds.contains(&"step_started") && kinds.contains(&"step_finished"));
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], index as u64 + 1);
        assert!(
            event["ts"]
                .as_str()
                .is_some_and(|ts| ts.ends_with('Z') && ts.len() == 24),
            "{event}"
        );
        assert_eq!(event["run_id"], events[0]["run_id"]);
        assert_eq!(event["prev"].as_str().map(str::len), Some(64));
    }
    let started = &events[0];
    assert_eq!(started["runbook"], "t");
    assert_eq!(started["mode"], "run");
    assert_eq!(started["operator"], "alice");
    assert_eq!(started["reason"], "INC-42");
    assert_eq!(started["params"]["password"], "••••••");
    assert_eq!(started["params"]["db"], "chatcard");
    assert_eq!(started["sha256"].as_str().map(str::len), Some(64));
    let finished = events.last().expect("last");
    assert_eq!(finished["status"], "success");
    assert_eq!(finished["exit_code"], 0);
    let (code, stdout) = verify(&test, &files[0]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("intact"), "{stdout}");
}

#[test]
fn a_secret_never_reaches_the_disk() {
    let secret = "pw-never-stored-9137";
    let metrics = "metrics.prom";
    let test = Test::new()
        .runbook(
            "t",
            &runbook(&format!(
                "{SIMPLE}  - id: d\n    run: echo \"$DB_PASSWORD\" >&2; exit 1\n"
            )),
        )
        .env("DB_PASSWORD", secret)
        .args(["run", "t", "--metrics-file", metrics]);
    test.status(1);
    let mut checked = 0;
    for entry in std::fs::read_dir(audit_dir(&test)).expect("audit dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        assert!(
            !bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes())
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "record and log");
    let bytes = std::fs::read(test.path().join(metrics)).expect("metrics");
    assert!(
        !bytes
            .windows(secret.len())
            .any(|window| window == secret.as_bytes())
    );
}

/// A finished record, and the lines of it.
fn finished_record() -> (Test, PathBuf, Vec<String>) {
    let test = Test::new()
        .runbook("t", &runbook(SIMPLE))
        .env("DB_PASSWORD", "x")
        .args(["run", "t"]);
    test.status(0);
    let path = records(&test).remove(0);
    let lines = std::fs::read_to_string(&path)
        .expect("record")
        .lines()
        .map(str::to_owned)
        .collect();
    (test, path, lines)
}

fn rewrite(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>(),
    )
    .expect("write");
}

#[test]
fn verify_names_the_first_edited_line() {
    let (test, path, mut lines) = finished_record();
    lines[3] = lines[3]
        .replace("\"ok\"", "\"failed\"")
        .replace("echo b", "echo B");
    assert_ne!(
        std::fs::read_to_string(&path).expect("read").lines().nth(3),
        Some(lines[3].as_str())
    );
    rewrite(&path, &lines);
    let (code, stdout) = verify(&test, &path);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains(":4: line 4 was edited"), "{stdout}");
}

#[test]
fn verify_catches_an_edit_of_the_last_line() {
    let (test, path, mut lines) = finished_record();
    let last = lines.len() - 1;
    lines[last] = lines[last].replace("\"success\"", "\"failure\"");
    rewrite(&path, &lines);
    let (code, stdout) = verify(&test, &path);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("line {} was edited", last + 1)),
        "{stdout}"
    );
}

#[test]
fn verify_names_a_deleted_line() {
    let (test, path, mut lines) = finished_record();
    lines.remove(2);
    rewrite(&path, &lines);
    let (code, stdout) = verify(&test, &path);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("line 3 has seq 4 where 3 was expected: lines were deleted"),
        "{stdout}"
    );
}

#[test]
fn verify_names_swapped_lines() {
    let (test, path, mut lines) = finished_record();
    lines.swap(3, 4);
    rewrite(&path, &lines);
    let (code, stdout) = verify(&test, &path);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("line 4 has seq 5 where 4 was expected: lines were reordered or inserted"),
        "{stdout}"
    );
}

#[test]
fn verify_catches_a_truncated_file() {
    let (test, path, _) = finished_record();
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let line = String::from_utf8_lossy(&bytes[..bytes.len() / 2])
        .lines()
        .count();
    let (code, stdout) = verify(&test, &path);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with("cut ")
            && stdout.contains(&format!(
                "{} events intact, then line {line} stops mid-line: a write was cut short",
                line - 1
            )),
        "{stdout}"
    );
}

#[test]
fn a_run_that_never_finished_is_incomplete_not_tampered() {
    let (test, path, mut lines) = finished_record();
    lines.pop();
    rewrite(&path, &lines);
    let (code, stdout) = verify(&test, &path);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("incomplete"), "{stdout}");
}

#[test]
fn list_and_show_read_the_records() {
    let test = Test::new()
        .runbook("t", &runbook(SIMPLE))
        .env("DB_PASSWORD", "x")
        .args(["run", "t", "--operator", "bob"]);
    test.status(0);
    Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .env("DB_PASSWORD", "x")
        .args(["run", "t", "--dry-run"])
        .status(0);
    let listed = Test::new()
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["audit", "list", "--format", "json"])
        .status(0);
    let listing: serde_json::Value = serde_json::from_str(&listed.stdout).expect("json");
    assert_eq!(listing["version"], 1);
    let rows = &listing["runs"];
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    assert_eq!(rows[0]["status"], "success");
    assert_eq!(rows[0]["operator"], "bob");
    assert_eq!(rows[1]["mode"], "dry-run");
    let run_id = rows[0]["run_id"].as_str().expect("run id");
    let shown = Test::new()
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["audit", "show", &run_id[..6]])
        .status(0);
    assert!(
        shown.stdout.contains(&format!("run {run_id} t — Test")),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("operator bob"), "{}", shown.stdout);
    assert!(shown.stdout.contains("a ok exit 0"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("finished: success (exit 0)"),
        "{}",
        shown.stdout
    );
}

#[test]
fn an_unwritable_audit_directory_stops_the_run_before_anything_runs() {
    let test = Test::new()
        .runbook("t", &runbook("steps:\n  - id: a\n    run: touch ran\n"))
        .file("not-a-directory", "x")
        .args(["--audit-dir", "not-a-directory/audit", "run", "t"]);
    let outcome = test.status(2);
    assert!(
        outcome.stderr.contains("cannot use the audit log"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("never executed unaudited"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn kill_9_mid_step_then_resume_completes_and_both_records_verify() {
    let body = "params:\n  db: {default: chatcard}\nsteps:\n  - id: first\n    run: echo first >> log; echo value-1\n    capture: value\n  - id: slow\n    run: |\n      echo slow >> log\n      if [ ! -e resumed ]; then touch resumed; echo started; sleep 1000.3131; fi\n  - id: last\n    run: echo last {{ value }} {{ steps.first.status }} {{ db }} >> log\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let mut child = test
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while !test.path().join("resumed").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the slow step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let killed = records(&test).remove(0);
    let run_id = events(&killed)[0]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, stdout) = verify(&test, &killed);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("incomplete"), "{stdout}");
    let resume = || resume(&test, &run_id);
    // The killed step's processes may outlive a kill -9 (resume refuses to race them:
    // see `resume_refuses_while_the_interrupted_step_still_runs`); end them.
    crate::test::kill_group_and_wait(last_process_group(&killed).as_raw());

    let outcome = resume().status(0);
    assert!(
        outcome.stderr.contains(&format!("done in run {run_id}")),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_to_string(test.path().join("log")).expect("log"),
        "first\nslow\nslow\nlast value-1 ok chatcard\n"
    );
    let files = records(&test);
    assert_eq!(files.len(), 2);
    let resumed = files
        .iter()
        .find(|path| **path != killed)
        .expect("new record");
    let new_events = events(resumed);
    assert_eq!(new_events[0]["mode"], "resume");
    assert_eq!(new_events[0]["resumes"], run_id.as_str());
    for path in &files {
        assert_eq!(verify(&test, path).0, 0);
    }
    let again = resume().status(2);
    assert!(
        again.stderr.contains("was already resumed by run"),
        "{}",
        again.stderr
    );
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced() {
    let body = "steps:\n  - id: a\n    run: echo a >> log\n  - id: b\n    run: '[ -e fixed ]'\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    let run_id = events(&records(&test)[0])[0]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    std::fs::write(
        test.path().join("runbooks/t.yaml"),
        runbook(&format!("{body}  - id: c\n    run: echo c >> log\n")),
    )
    .expect("edit");
    std::fs::write(test.path().join("fixed"), "").expect("fix");
    let resume = |force: bool| {
        let mut args = vec!["resume", run_id.as_str()];
        if force {
            args.push("--force");
        }
        Test::new()
            .current_dir(test.path())
            .env(
                "XDG_STATE_HOME",
                &test.path().join("state").display().to_string(),
            )
            .args(args)
    };
    let refused = resume(false).status(2);
    assert!(
        refused.stderr.contains("changed since run"),
        "{}",
        refused.stderr
    );
    resume(true).status(0);
    assert_eq!(
        std::fs::read_to_string(test.path().join("log")).expect("log"),
        "a\nc\n"
    );
}

#[test]
fn a_second_run_of_a_locked_runbook_exits_4_naming_the_holder() {
    let body = "lock: chatcard-db\nsteps:\n  - id: hold\n    run: touch holding; sleep 30\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--operator", "first"]);
    let mut first = test.spawn();
    let started = Instant::now();
    while !test.path().join("holding").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "first run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let shared = |test: &Test| {
        Test::new()
            .current_dir(test.path())
            .env(
                "XDG_STATE_HOME",
                &test.path().join("state").display().to_string(),
            )
            .env(
                "RUNBOOK_LOCK_DIR",
                &test.path().join("locks").display().to_string(),
            )
    };
    let second = shared(&test).args(["run", "t"]).status(4);
    assert!(
        second.stderr.contains("lock `chatcard-db` is held by run"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("since 20"), "{}", second.stderr);
    first.kill().expect("kill -9 the holder");
    first.wait().expect("reaped");
    // Its step outlives a kill -9: a *different* runbook taking the same lock refuses
    // to race it, and names it, without looking at any record.
    let other = "name: other\ntitle: Other\nkind: test\nlock: chatcard-db\nsteps:\n  - id: quick\n    run: touch other-ran\n";
    std::fs::write(test.path().join("runbooks/other.yaml"), other).expect("write");
    let audit = test.path().join("state/runbook/audit");
    std::fs::remove_dir_all(&audit).expect("records gone");
    let refused = shared(&test).args(["run", "other"]).status(4);
    assert!(
        refused.stderr.contains(
            "was killed holding lock `chatcard-db`, but its step `hold` is still running"
        ),
        "{}",
        refused.stderr
    );
    assert!(!test.path().join("other-ran").exists());
    let pgid = refused
        .stderr
        .split("process group ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pgid| pgid.parse::<i32>().ok())
        .expect("process group named");
    crate::test::kill_group_and_wait(pgid);
    // A crashed holder leaves no stale lock.
    shared(&test).args(["run", "other"]).status(0);
    assert!(test.path().join("other-ran").exists());
}

#[test]
fn metrics_are_prometheus_text_and_keep_the_last_success() {
    let body = "rto: 1h\nsteps:\n  - id: check\n    run: '[ ! -e broken ]'\n";
    let test =
        Test::new()
            .runbook("t", &runbook(body))
            .args(["run", "t", "--metrics-file", "m.prom"]);
    test.status(0);
    let first = std::fs::read_to_string(test.path().join("m.prom")).expect("metrics");
    for expected in [
        "# TYPE runbook_last_run_timestamp_seconds gauge",
        "runbook_last_run_success{runbook=\"t\"} 1",
        "runbook_last_run_exit_code{runbook=\"t\"} 0",
        "runbook_rto_seconds{runbook=\"t\"} 3600",
        "runbook_step_success{runbook=\"t\",step=\"check\"} 1",
        "runbook_step_duration_seconds{runbook=\"t\",step=\"check\"} ",
    ] {
        assert!(first.contains(expected), "{expected} missing from\n{first}");
    }
    let success_line = first
        .lines()
        .find(|line| line.starts_with("runbook_last_success_timestamp_seconds"))
        .expect("last success")
        .to_owned();
    std::fs::write(
        test.path().join("m.prom"),
        format!("{first}runbook_last_run_success{{runbook=\"other\"}} 1\n"),
    )
    .expect("other runbook");
    std::fs::write(test.path().join("broken"), "").expect("break");
    test.status(1);
    let second = std::fs::read_to_string(test.path().join("m.prom")).expect("metrics");
    assert!(
        second.contains("runbook_last_run_success{runbook=\"t\"} 0"),
        "{second}"
    );
    assert!(
        second.contains(&success_line),
        "last success lost:\n{second}"
    );
    assert!(
        second.contains("runbook_last_run_success{runbook=\"other\"} 1"),
        "other runbook dropped:\n{second}"
    );
    assert_eq!(
        second
            .matches("# TYPE runbook_last_run_success gauge")
            .count(),
        1
    );
}

#[test]
fn resume_refuses_while_the_interrupted_step_still_runs() {
    let body = "steps:\n  - id: slow\n    run: touch started; sleep 1000.4141\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let mut child = test.spawn();
    let started = Instant::now();
    while !test.path().join("started").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let run_id = events(&records(&test)[0])[0]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resume = || resume(&test, &run_id);
    // The run itself is still going.
    let refused = resume().status(2);
    assert!(
        refused
            .stderr
            .contains(&format!("is still going (pid {})", child.id())),
        "{}",
        refused.stderr
    );
    // The step's process group, as `resume` sees it when the run itself is gone.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let pgid = last_process_group(&records(&test)[0]).as_raw() as i64;
    assert!(runbook::process::group_alive(pgid as u32));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill");
    child.wait().expect("reaped");
    crate::test::kill_group_and_wait(pgid as i32);
}

#[test]
fn a_full_disk_stops_the_run_before_the_next_step() {
    // Needs a tiny filesystem: mount a 16 KiB tmpfs (root only; skipped elsewhere).
    let test = Test::new();
    let mount_point = test.path().join("tiny");
    std::fs::create_dir_all(&mount_point).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&mount_point)
        .status()
        .is_ok_and(|status| status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let mut body = String::from(
        "steps:\n  - id: noisy\n    run: head -c 40000 /dev/zero | tr '\\0' 'x' | fold -w 100\n",
    );
    for index in 0..40 {
        body.push_str(&format!("  - id: step-{index}\n    run: 'true'\n"));
    }
    body.push_str("  - id: next\n    run: touch next-ran\n");
    let test = test
        .runbook("t", &runbook(&body))
        .args(["--audit-dir", "tiny/audit", "run", "t"]);
    let outcome = test.run();
    let _ = std::process::Command::new("umount")
        .arg(&mount_point)
        .status();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("cannot record the run"),
        "{}",
        outcome.stderr
    );
    assert!(
        !test.path().join("next-ran").exists(),
        "a step ran unaudited"
    );
}

#[test]
fn an_unwritable_metrics_file_fails_before_the_run() {
    let test = Test::new()
        .runbook("t", &runbook("steps:\n  - id: a\n    run: touch ran\n"))
        .args(["run", "t", "--metrics-file", "no/such/dir/m.prom"]);
    let outcome = test.status(2);
    assert!(
        outcome
            .stderr
            .contains("cannot write metrics to no/such/dir/m.prom"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn resuming_a_built_in_runbook_runs_the_built_in_one_not_a_local_file_of_that_name() {
    let test = Test::new().file("empty/.keep", "");
    let backups = test.path().join("empty").display().to_string();
    let first = Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args([
            "run",
            "backup-health-check",
            "-p",
            &format!("backup_dir={backups}"),
            "--non-interactive",
        ])
        .status(1);
    assert!(first.stderr.contains("dump_age"), "{}", first.stderr);
    let record = records(&test).pop().expect("a record");
    let run_id = events(&record)[0]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    // A local file with the built-in's name: resume must not run it, or call the
    // built-in "changed".
    let test = test.runbook(
        "backup-health-check",
        "name: backup-health-check\ntitle: PLANTED\nkind: check\nsteps:\n  - id: x\n    run: echo PLANTED\n",
    );
    let resumed = resume(&test, &run_id).status(1);
    assert!(!resumed.stdout.contains("PLANTED"), "{}", resumed.stdout);
    assert!(!resumed.stderr.contains("changed"), "{}", resumed.stderr);
    assert!(resumed.stderr.contains("dump_age"), "{}", resumed.stderr);
}

#[test]
fn a_hand_written_record_with_only_the_documented_fields_is_listed_and_shown() {
    // The run_started example of docs/audit.md has no `title`; an older writer could
    // write `"user": null`. Such a record must not vanish from list, show and resume.
    let test = Test::new();
    let directory = audit_dir(&test);
    std::fs::create_dir_all(&directory).expect("audit dir");
    std::fs::write(
        directory.join("20250115T143000Z-t-aaaaaaaaaaaa.jsonl"),
        concat!(
            r#"{"seq":1,"ts":"2025-01-15T14:30:00.000Z","run_id":"aaaaaaaaaaaa","event":"run_started","runbook":"t","user":null,"host":"db-1","mode":"run","params":{}}"#,
            "\n",
            r#"{"seq":2,"ts":"2025-01-15T14:30:01.000Z","run_id":"aaaaaaaaaaaa","event":"run_finished","status":"failure","exit_code":1,"duration_ms":1000}"#,
            "\n"
        ),
    )
    .expect("record");
    let list = Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["audit", "list"])
        .status(0);
    assert!(list.stdout.contains("aaaaaaaaaaaa"), "{}", list.stdout);
    assert!(list.stdout.contains("failure"), "{}", list.stdout);
    let show = Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["audit", "show", "aaaa"])
        .status(0);
    assert!(
        show.stdout.contains("run aaaaaaaaaaaa t"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("@db-1"), "{}", show.stdout);
}

#[test]
fn a_step_name_is_recorded_as_shown_not_as_its_template() {
    let body = "params:\n  db: {default: chatcard}\nsteps:\n  - id: dump\n    name: Dump {{ db }}\n    run: 'true'\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(0);
    let started = events(&records(&test)[0])
        .into_iter()
        .find(|event| event["event"] == "step_started")
        .expect("step_started");
    assert_eq!(started["name"], "Dump chatcard");
}
