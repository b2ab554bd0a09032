//! `--metrics-file` as an alerting source: written on every exit (2 and 4 included),
//! before the notify hooks, with "not run" apart from "failed", numbers steps publish,
//! and no sample lost when runbooks write one file at once.

use crate::test::Test;

fn runbook(name: &str, body: &str) -> String {
    format!("name: {name}\ntitle: Test\nkind: test\n{body}")
}

fn metrics(test: &Test) -> String {
    std::fs::read_to_string(test.path().join("m.prom")).expect("metrics file")
}

fn sample(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .map(str::to_owned)
}

#[test]
fn a_run_that_never_starts_still_writes_failure_metrics_and_keeps_the_last_success() {
    let body = "params:\n  target: {type: string}\nlock: t\nsteps:\n  - id: a\n    run: echo {{ target }}\n";
    let test = Test::new().runbook("t", &runbook("t", body)).runbook(
        "holder",
        &runbook(
            "holder",
            "lock: t\nsteps:\n  - id: a\n    run: touch holding; sleep 30\n",
        ),
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "t", "--metrics-file", "m.prom", "--non-interactive"];
        args.extend_from_slice(extra);
        Test::new()
            .current_dir(test.path())
            .env(
                "RUNBOOK_LOCK_DIR",
                test.path().join("locks").to_str().expect("utf-8"),
            )
            .args(args)
    };
    run(&["-p", "target=x"]).status(0);
    let first = metrics(&test);
    let success = sample(
        &first,
        "runbook_last_success_timestamp_seconds{runbook=\"t\"}",
    )
    .expect("a last success");
    // cron's environment lost the param: exit 2, and the metrics say so.
    run(&[]).status(2);
    let second = metrics(&test);
    assert_eq!(
        sample(&second, "runbook_last_run_success{runbook=\"t\"}").as_deref(),
        Some("0"),
        "{second}"
    );
    assert_eq!(
        sample(&second, "runbook_last_run_exit_code{runbook=\"t\"}").as_deref(),
        Some("2")
    );
    assert_eq!(
        sample(
            &second,
            "runbook_last_success_timestamp_seconds{runbook=\"t\"}"
        ),
        Some(success.clone())
    );
    assert!(
        !second.contains("runbook_step_success{runbook=\"t\""),
        "steps of an earlier run kept: {second}"
    );
    // A runbook that does not exist (a typo in the crontab) is a failure under its name.
    Test::new()
        .current_dir(test.path())
        .args(["run", "no-such-runbook", "--metrics-file", "m.prom"])
        .status(2);
    let third = metrics(&test);
    assert_eq!(
        sample(
            &third,
            "runbook_last_run_exit_code{runbook=\"no-such-runbook\"}"
        )
        .as_deref(),
        Some("2"),
        "{third}"
    );
    // The lock held by another run: exit 4.
    let holder = Test::new()
        .current_dir(test.path())
        .env(
            "RUNBOOK_LOCK_DIR",
            test.path().join("locks").to_str().expect("utf-8"),
        )
        .args(["run", "holder"]);
    let mut child = holder.spawn();
    let started = std::time::Instant::now();
    while !test.path().join("holding").exists() {
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run(&["-p", "target=x"]).status(4);
    // SIGTERM: the holder ends its step's processes too.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let fourth = metrics(&test);
    assert_eq!(
        sample(&fourth, "runbook_last_run_exit_code{runbook=\"t\"}").as_deref(),
        Some("4"),
        "{fourth}"
    );
    assert_eq!(
        sample(
            &fourth,
            "runbook_last_success_timestamp_seconds{runbook=\"t\"}"
        ),
        Some(success)
    );
}

#[test]
fn metrics_are_written_before_the_notify_hooks_so_a_hook_can_push_them() {
    let body = "steps:\n  - id: a\n    run: 'true'\nnotify:\n  - run: grep -c 'runbook_last_run_success{runbook=\"t\"} 1' m.prom > seen-by-hook\n";
    let test = Test::new().runbook("t", &runbook("t", body)).args([
        "run",
        "t",
        "--metrics-file",
        "m.prom",
    ]);
    test.status(0);
    let seen = std::fs::read_to_string(test.path().join("seen-by-hook")).expect("hook ran");
    assert_eq!(seen.trim(), "1");
}

#[test]
fn steps_that_did_not_run_are_not_run_not_failed_and_steps_publish_numbers() {
    let body = "steps:\n  - id: size\n    capture: bytes\n    metric: backup_bytes\n    run: echo 12345\n  - id: fails\n    run: exit 3\n  - id: never\n    run: 'true'\n";
    let test = Test::new().runbook("t", &runbook("t", body)).args([
        "run",
        "t",
        "--metrics-file",
        "m.prom",
    ]);
    test.status(1);
    let text = metrics(&test);
    for (line, expected) in [
        (
            "runbook_step_success{runbook=\"t\",step=\"size\"}",
            Some("1"),
        ),
        (
            "runbook_step_success{runbook=\"t\",step=\"fails\"}",
            Some("0"),
        ),
        ("runbook_step_success{runbook=\"t\",step=\"never\"}", None),
        (
            "runbook_step_status{runbook=\"t\",step=\"never\",status=\"not_run\"}",
            Some("1"),
        ),
        (
            "runbook_step_status{runbook=\"t\",step=\"fails\",status=\"failed\"}",
            Some("1"),
        ),
        // A failed run publishes no number: there was none before either.
        ("runbook_metric{runbook=\"t\",name=\"backup_bytes\"}", None),
    ] {
        assert_eq!(sample(&text, line).as_deref(), expected, "{line}\n{text}");
    }
    // Once the run succeeds, its number is published, and a later failure keeps it.
    let body = body.replace("run: exit 3", "run: '[ ! -e broken ]'");
    let test = Test::new().runbook("t", &runbook("t", &body)).args([
        "run",
        "t",
        "--metrics-file",
        "m.prom",
    ]);
    test.status(0);
    assert_eq!(
        sample(
            &metrics(&test),
            "runbook_metric{runbook=\"t\",name=\"backup_bytes\"}"
        )
        .as_deref(),
        Some("12345")
    );
    std::fs::write(test.path().join("broken"), "").expect("break");
    test.status(1);
    assert_eq!(
        sample(
            &metrics(&test),
            "runbook_metric{runbook=\"t\",name=\"backup_bytes\"}"
        )
        .as_deref(),
        Some("12345")
    );
}

#[test]
fn four_runbooks_writing_one_metrics_file_at_once_lose_nothing_in_100_rounds() {
    let test = Test::new();
    let names = ["w1", "w2", "w3", "w4"];
    let mut test = test;
    for name in names {
        test = test.runbook(name, &runbook(name, "steps:\n  - id: a\n    run: 'true'\n"));
    }
    let file = test.path().join("m.prom");
    let file = file.to_str().expect("utf-8").to_owned();
    for round in 0..100 {
        // Each run's own directories (its audit record) live until it has finished.
        let runs: Vec<Test> = names
            .iter()
            .map(|name| {
                Test::new()
                    .current_dir(test.path())
                    .args(["run", name, "--metrics-file", &file])
            })
            .collect();
        let children: Vec<std::process::Child> = runs.iter().map(Test::spawn).collect();
        for child in children {
            let output = child.wait_with_output().expect("wait");
            assert!(
                output.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = std::fs::read_to_string(&file).expect("metrics");
        for name in names {
            assert!(
                text.contains(&format!("runbook_last_run_success{{runbook=\"{name}\"}} 1")),
                "round {round}: {name} lost\n{text}"
            );
        }
    }
}
