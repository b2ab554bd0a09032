//! `resume` as a replay: vars computed once (a `now()` stamp), inputs and captures kept
//! across a chain of resumes, the RTO counted from the first run, operator wait kept
//! out of step durations, and a changed record refused.

use crate::test::Test;
use std::path::{Path, PathBuf};

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

fn records(test: &Test) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(test.path().join("state/runbook/audit"))
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
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect()
}

fn run_id(path: &Path) -> String {
    events(path)[0]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned()
}

fn resume(test: &Test, run_id: &str) -> Test {
    Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["resume", run_id])
}

/// A stamp made with `now()` names what the first run created; a resume two seconds
/// later, and a resume of that resume, use the same name, and the inputs the first run
/// was given.
#[test]
fn a_chain_of_resumes_replays_vars_inputs_and_captures() {
    let body = "vars:\n  stamp: \"db_{{ now() | date('%Y%m%d_%H%M%S') }}\"\nsteps:\n  - id: create\n    run: touch {{ stamp }}\n  - id: ask\n    manual: Who approves?\n    input:\n      who: {type: string}\n  - id: count\n    capture: rows\n    run: echo 42\n  - id: swap\n    run: test -e ok-to-swap && test -e {{ stamp }} && echo {{ stamp }} {{ who }} {{ rows }} > swapped\n";
    let test = Test::new().runbook("t", &runbook(body)).args([
        "run",
        "t",
        "-p",
        "who=alice",
        "--approve",
        "ask",
        "--non-interactive",
    ]);
    test.status(1);
    let first = records(&test)[0].clone();
    let stamp = events(&first)
        .iter()
        .find(|event| event["event"] == "var" && event["name"] == "stamp")
        .and_then(|event| event["value"].as_str())
        .expect("the stamp is recorded")
        .to_owned();
    assert!(test.path().join(&stamp).exists());
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    // A resume that fails again, then a resume of that one.
    let second = resume(&test, &run_id(&first)).run();
    assert_eq!(second.code, 1, "{}", second.stderr);
    let second_record = records(&test)[1].clone();
    std::fs::write(test.path().join("ok-to-swap"), "").expect("allow");
    let third = resume(&test, &run_id(&second_record)).run();
    assert_eq!(third.code, 0, "{}", third.stderr);
    let swapped = std::fs::read_to_string(test.path().join("swapped")).expect("swapped");
    assert_eq!(swapped.trim(), format!("{stamp} alice 42"));
    // Every resume counts its RTO from the first start.
    let first_start = events(&first)[0]["ts"].as_str().expect("ts").to_owned();
    for path in &records(&test)[1..] {
        assert_eq!(
            events(path)[0]["first_started_at"],
            first_start,
            "{}",
            path.display()
        );
    }
}

#[test]
fn resume_refuses_a_record_that_fails_verify() {
    let body = "steps:\n  - id: a\n    run: 'true'\n  - id: b\n    run: test -e ok\n  - id: c\n    run: touch c-ran\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    let path = records(&test)[0].clone();
    // A failed step edited to `ok`: the resume would skip it.
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace("\"status\":\"failed\"", "\"status\":\"ok\""),
    )
    .expect("edit");
    let outcome = resume(&test, &run_id(&path)).status(2);
    assert!(
        outcome.stderr.contains("fails `audit verify`"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("c-ran").exists());
}

#[test]
fn resume_from_an_earlier_step_and_a_resume_dry_run() {
    let body = "steps:\n  - id: a\n    run: echo x >> a-ran\n  - id: b\n    run: echo x >> b-ran\n  - id: c\n    run: test -e ok\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    let first = run_id(&records(&test)[0]);
    // A dry-run of the resume: shows the replayed steps and the plan; runs nothing.
    let preview = resume(&test, &first).args(["--dry-run"]).run();
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert!(
        preview.stderr.contains(&format!("done in run {first}")),
        "{}",
        preview.stderr
    );
    assert!(preview.stdout.contains("test -e ok"), "{}", preview.stdout);
    assert_eq!(
        std::fs::read_to_string(test.path().join("a-ran"))
            .expect("a")
            .lines()
            .count(),
        1
    );
    std::fs::write(test.path().join("ok"), "").expect("ok");
    let bad = resume(&test, &first).args(["--from", "nope"]).status(2);
    assert!(
        bad.stderr.contains("`nope` is not a main step"),
        "{}",
        bad.stderr
    );
    // --from b runs b again, not a.
    resume(&test, &first).args(["--from", "b"]).status(0);
    assert_eq!(
        std::fs::read_to_string(test.path().join("a-ran"))
            .expect("a")
            .lines()
            .count(),
        1
    );
    assert_eq!(
        std::fs::read_to_string(test.path().join("b-ran"))
            .expect("b")
            .lines()
            .count(),
        2
    );
    // Record names sort by second, then by run id: find it by what it says.
    assert!(
        records(&test)
            .iter()
            .any(|path| events(path)[0]["resume_from"] == "b"),
        "no record says it resumed from b"
    );
}

/// `finally` tore down what the first steps set up; on resume those steps, marked
/// `rerun_on_resume`, set it up again, and the operator is told what `finally` did.
#[test]
fn steps_marked_rerun_on_resume_set_up_again_what_finally_undid() {
    let body = "steps:\n  - id: start\n    rerun_on_resume: true\n    run: touch server-up; echo x >> started\n  - id: use\n    run: test -e server-up && test -e ok\nfinally:\n  - id: stop\n    run: rm -f server-up\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    assert!(!test.path().join("server-up").exists());
    std::fs::write(test.path().join("ok"), "").expect("ok");
    let first = run_id(&records(&test)[0]);
    let resumed = resume(&test, &first).status(0);
    assert!(
        resumed.stderr.contains("already ran its `finally` steps (stop); they run again at the end, and start run again first"),
        "{}",
        resumed.stderr
    );
    assert_eq!(
        std::fs::read_to_string(test.path().join("started"))
            .expect("started")
            .lines()
            .count(),
        2
    );
}

/// 30 runs killed with `kill -9` at seeded random moments, each then resumed: no step
/// the record calls finished runs again, and none is skipped.
#[test]
fn runs_killed_at_random_moments_resume_without_repeating_or_skipping_a_step() {
    let steps = 8;
    let mut body = String::from("steps:\n");
    for index in 0..steps {
        body.push_str(&format!(
            "  - id: s{index}\n    run: sleep 0.0{}; echo s{index} >> log\n",
            index % 4 + 1
        ));
    }
    let mut seed: u64 = 20_261_202;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    for trial in 0..30 {
        let test = Test::new().runbook("t", &runbook(&body)).args(["run", "t"]);
        let mut child = test.spawn();
        std::thread::sleep(std::time::Duration::from_millis(30 + next() % 250));
        let _ = child.kill();
        let _ = child.wait();
        let Some(record) = records(&test).first().cloned() else {
            continue; // killed before the record existed: nothing ran
        };
        let first = events(&record);
        // The step a kill -9 leaves behind is stopped before the resume (resume
        // refuses to race it).
        if let Some(pgid) = first
            .iter()
            .rev()
            .find(|event| event["event"] == "process_started")
            .and_then(|event| event["pgid"].as_i64())
        {
            crate::test::kill_group_and_wait(pgid as i32);
        }
        let finished: Vec<String> = first
            .iter()
            .filter(|event| event["event"] == "step_finished" && event["status"] == "ok")
            .filter_map(|event| event["step_id"].as_str().map(str::to_owned))
            .collect();
        let finished_run = first.iter().any(|event| event["event"] == "run_finished");
        if !finished_run {
            let resumed = resume(&test, &run_id(&record)).run();
            assert_eq!(resumed.code, 0, "trial {trial}: {}", resumed.stderr);
        }
        let log = std::fs::read_to_string(test.path().join("log")).unwrap_or_default();
        for index in 0..steps {
            let id = format!("s{index}");
            let count = log.lines().filter(|line| *line == id).count();
            assert!(count >= 1, "trial {trial}: {id} was skipped\n{log}");
            if finished.contains(&id) {
                assert_eq!(
                    count, 1,
                    "trial {trial}: {id} finished, then ran again\n{log}"
                );
            }
        }
    }
}

#[test]
fn audit_list_filters_and_show_prints_a_steps_output() {
    let body =
        "steps:\n  - id: first\n    run: echo one; echo two\n  - id: second\n    run: echo three\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(0);
    let other = "name: other\ntitle: Other\nkind: test\nsteps:\n  - id: x\n    run: 'false'\n";
    std::fs::write(test.path().join("runbooks/other.yaml"), other).expect("write");
    let audit = |args: &[&str]| {
        Test::new()
            .current_dir(test.path())
            .env(
                "XDG_STATE_HOME",
                &test.path().join("state").display().to_string(),
            )
            .args(["audit"])
            .args(args.iter().copied())
            .run()
    };
    Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["run", "other"])
        .status(1);
    let listed = audit(&["list", "--runbook", "other"]);
    assert!(
        listed.stdout.contains("other") && !listed.stdout.contains("  t  "),
        "{}",
        listed.stdout
    );
    let failed = audit(&["list", "--status", "failure", "--since", "1h"]);
    assert_eq!(failed.stdout.lines().count(), 2, "{}", failed.stdout);
    let none = audit(&["list", "--since", "2999-01-01"]);
    assert!(none.stdout.lines().count() <= 1, "{}", none.stdout);
    let bad = audit(&["list", "--since", "yesterday-ish"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let record = records(&test)
        .into_iter()
        .find(|path| events(path)[0]["runbook"] == "t")
        .expect("t's record");
    let run = run_id(&record);
    let output = audit(&["show", &run, "--output", "first"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stdout.contains("one\ntwo\n") && !output.stdout.contains("three"),
        "{}",
        output.stdout
    );
}
