//! `runbook run`: the step loop against real processes.

use crate::test::Test;

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

/// Live processes whose command line contains `marker`, other than zombies.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        if cmdline.contains(marker) && !zombie && !cmdline.contains("cargo") {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn steps_run_in_order_and_a_failure_stops_the_run_with_exit_1() {
    let test = Test::new()
        .runbook("t", &runbook("steps:\n  - id: a\n    run: echo first\n  - id: b\n    run: exit 7\n  - id: c\n    run: touch should-not-exist\n"))
        .args(["run", "t"]);
    let outcome = test.status(1);
    assert_eq!(outcome.stdout, "first\n");
    assert!(outcome.stderr.contains("==> [2/3] b"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("<== failed"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("exit code 7"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("  not run     c"),
        "the summary names what is left\n{}",
        outcome.stderr
    );
    assert!(!test.path().join("should-not-exist").exists());
}

#[test]
fn capture_feeds_expect_and_later_steps() {
    let ok = Test::new()
        .runbook("t", &runbook("steps:\n  - id: count\n    run: echo '  42  '\n    capture: n\n    expect:\n      - expr: n | int == 42\n  - id: show\n    run: echo got {{ n }} and {{ steps.count.status }}\n"))
        .args(["run", "t"])
        .status(0);
    assert!(ok.stdout.contains("got 42 and ok"), "{}", ok.stdout);
    let failed = Test::new()
        .runbook("t", &runbook("steps:\n  - id: count\n    run: echo 0\n    capture: users\n    expect:\n      - expr: users | int > 0\n        message: the restored database has {{ users }} users\n"))
        .args(["run", "t"])
        .status(1);
    assert!(
        failed.stderr.contains("the restored database has 0 users"),
        "{}",
        failed.stderr
    );
}

#[test]
fn retries_count_attempts() {
    let body = "steps:\n  - id: flaky\n    run: |\n      n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count\n      [ $n -ge 3 ]\n    retries: 3\n    retry_delay: 100ms\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--format", "json"]);
    let outcome = test.status(0);
    assert_eq!(
        std::fs::read_to_string(test.path().join("count"))
            .expect("count")
            .trim(),
        "3"
    );
    assert_eq!(
        outcome.stderr.matches("retrying in 100ms").count(),
        2,
        "{}",
        outcome.stderr
    );
    let summary: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("json");
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["status"], "success");

    let test = Test::new()
        .runbook(
            "t",
            &runbook("steps:\n  - id: never\n    run: echo try >> tries; exit 1\n    retries: 2\n"),
        )
        .args(["run", "t"]);
    test.status(1);
    assert_eq!(
        std::fs::read_to_string(test.path().join("tries"))
            .expect("tries")
            .lines()
            .count(),
        3
    );
}

#[test]
fn timeout_kills_the_command_and_all_its_children() {
    let marker = "1000.4242";
    let body = format!(
        "steps:\n  - id: stuck\n    run: (sleep {marker}; echo never) & sleep {marker}\n    timeout: 1s\n"
    );
    let outcome = Test::new()
        .runbook("t", &runbook(&body))
        .args(["run", "t", "--kill-grace", "1s"])
        .status(1);
    assert!(
        outcome.stderr.contains("timed out after 1s"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.elapsed < std::time::Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(processes_with(marker), Vec::<String>::new());
}

#[test]
fn sigkill_follows_the_grace_period_for_commands_that_ignore_sigterm() {
    let marker = "1000.5151";
    let body = format!(
        "steps:\n  - id: stubborn\n    run: trap '' TERM; sleep {marker} & trap '' TERM; wait\n    timeout: 500ms\n"
    );
    let outcome = Test::new()
        .runbook("t", &runbook(&body))
        .args(["run", "t", "--kill-grace", "500ms"])
        .status(1);
    assert!(
        outcome.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(processes_with(marker), Vec::<String>::new());
}

#[test]
fn background_processes_left_by_a_step_are_terminated() {
    let marker = "1000.6161";
    let body = format!("steps:\n  - id: leaky\n    run: sleep {marker} >/dev/null 2>&1 &\n");
    let outcome = Test::new()
        .runbook("t", &runbook(&body))
        .args(["run", "t", "--kill-grace", "1s"])
        .status(0);
    assert!(
        outcome.stderr.contains("left background processes"),
        "{}",
        outcome.stderr
    );
    assert_eq!(processes_with(marker), Vec::<String>::new());
}

#[test]
fn finally_runs_after_a_failure_and_on_failure_before_it() {
    let body = "steps:\n  - id: a\n    run: exit 1\non_failure:\n  - id: alert\n    run: echo alert >> order\nfinally:\n  - id: cleanup\n    run: echo cleanup {{ run.status }} >> order\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    assert_eq!(
        std::fs::read_to_string(test.path().join("order")).expect("order"),
        "alert\ncleanup failure\n"
    );
}

#[test]
fn finally_can_use_captures_of_steps_that_never_ran() {
    let body = "steps:\n  - id: a\n    run: exit 1\n  - id: b\n    run: echo db_123\n    capture: test_db\nfinally:\n  - id: cleanup\n    run: echo dropping [{{ test_db }}] > out\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    assert_eq!(
        std::fs::read_to_string(test.path().join("out")).expect("out"),
        "dropping []\n"
    );
}

#[test]
fn continue_on_error_goes_on() {
    let body = "steps:\n  - id: optional\n    run: exit 1\n    continue_on_error: true\n  - id: next\n    run: echo next {{ steps.optional.status }}\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t"])
        .status(0);
    assert_eq!(outcome.stdout, "next failed\n");
}

#[test]
fn include_passes_params_and_runs_the_child() {
    let child = "name: child\ntitle: Child\nkind: test\nparams:\n  who: {type: string}\n  times: {type: integer, default: 2}\nsteps:\n  - id: greet\n    run: for i in $(seq {{ times }}); do echo hello {{ who }}; done\n";
    let parent = runbook(
        "params:\n  name: {default: world}\nsteps:\n  - id: call\n    include: child\n    with: {who: \"{{ name }}!\"}\n  - id: after\n    run: echo after {{ steps.call.status }}\n",
    );
    let outcome = Test::new()
        .runbook("child", child)
        .runbook("t", &parent)
        .args(["run", "t"])
        .status(0);
    assert_eq!(outcome.stdout, "hello world!\nhello world!\nafter ok\n");
    assert!(outcome.stderr.contains("call/greet"), "{}", outcome.stderr);
}

#[test]
fn a_failing_include_fails_its_step() {
    let child = "name: child\ntitle: Child\nkind: test\nsteps:\n  - id: boom\n    run: exit 2\nfinally:\n  - id: child-cleanup\n    run: echo child cleanup\n";
    let parent =
        runbook("steps:\n  - id: call\n    include: child\n  - id: never\n    run: echo never\n");
    let outcome = Test::new()
        .runbook("child", child)
        .runbook("t", &parent)
        .args(["run", "t"])
        .status(1);
    assert_eq!(outcome.stdout, "child cleanup\n");
    assert!(
        outcome.stderr.contains("runbook `child` failed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn parallel_runs_concurrently_and_fails_if_one_fails_letting_siblings_finish() {
    let body = "steps:\n  - id: group\n    parallel:\n      - {id: slow, run: sleep 0.6 && echo slow > slow-done}\n      - {id: broken, run: sleep 0.1 && exit 4}\n  - id: never\n    run: touch never\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let outcome = test.status(1);
    assert!(
        test.path().join("slow-done").exists(),
        "sibling was not allowed to finish"
    );
    assert!(!test.path().join("never").exists());
    assert!(
        outcome.stderr.contains("failed in the group: broken"),
        "{}",
        outcome.stderr
    );

    // Overlap read from the members' own clocks, not from the run's duration: a loaded
    // machine stretches the run, never the order of starts and ends.
    let member = |name: &str| {
        format!("{{id: {name}, run: 'echo \"{name} $(date +%s.%N) $(sleep 1; date +%s.%N)\"'}}")
    };
    let concurrent = format!(
        "steps:\n  - id: group\n    parallel:\n      - {}\n      - {}\n      - {}\n",
        member("one"),
        member("two"),
        member("three")
    );
    let outcome = Test::new()
        .runbook("t", &runbook(&concurrent))
        .args(["run", "t"])
        .status(0);
    let spans: Vec<(f64, f64)> = outcome
        .stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().rev().take(2).collect();
            match fields.as_slice() {
                [end, start] => Some((start.parse().ok()?, end.parse().ok()?)),
                _ => None,
            }
        })
        .collect();
    assert_eq!(spans.len(), 3, "{}", outcome.stdout);
    assert!(
        crate::test::all_overlap(&spans),
        "ran one after another:\n{}",
        outcome.stdout
    );
}

#[test]
fn notify_hooks_see_the_status_and_summary() {
    let body = "steps:\n  - id: a\n    run: exit 1\nnotify:\n  - {on: [failure], run: \"echo {{ run.status }}: {{ run.summary }} > notified\"}\n  - {on: [success], run: touch wrong}\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    let notified = std::fs::read_to_string(test.path().join("notified")).expect("notify ran");
    assert!(
        notified.starts_with("failure: runbook t failure after"),
        "{notified}"
    );
    assert!(notified.contains("failed: a"), "{notified}");
    assert!(!test.path().join("wrong").exists());
}

#[test]
fn hostile_params_never_execute() {
    for hostile in [
        "'; touch PWNED #",
        "$(touch PWNED)",
        "`touch PWNED`",
        "a\ntouch PWNED",
        "\"; touch PWNED; \"",
    ] {
        let body = "params:\n  x: {type: string}\nsteps:\n  - id: a\n    run: echo {{ x }} > seen\n  - id: b\n    run: printf '%s' {{ x }} > exact\n";
        let test = Test::new()
            .runbook("t", &runbook(body))
            .args(["run", "t", "-p"])
            .args([format!("x={hostile}")]);
        test.status(0);
        assert!(!test.path().join("PWNED").exists(), "{hostile:?} executed");
        assert_eq!(
            std::fs::read_to_string(test.path().join("exact")).expect("exact"),
            hostile
        );
    }
}

#[test]
fn secrets_are_masked_in_output_and_plans() {
    let body = "params:\n  password: {secret: true, env: DB_PASSWORD}\nsteps:\n  - id: a\n    run: echo \"connecting with $DB_PASSWORD\"; echo \"$DB_PASSWORD\" >&2\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .env("DB_PASSWORD", "hunter2-very-secret");
    let outcome = test.args(["run", "t"]).status(0);
    assert!(
        !outcome.stdout.contains("hunter2") && !outcome.stderr.contains("hunter2"),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(
        outcome.stdout.contains("connecting with ••••••"),
        "{}",
        outcome.stdout
    );
    let body = "params:\n  password: {secret: true, default: hunter2-very-secret}\nsteps:\n  - id: a\n    run: echo {{ password }}\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--dry-run"])
        .status(0);
    assert!(!outcome.stdout.contains("hunter2"), "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains("$ echo ••••••"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn missing_params_are_all_named_and_nothing_runs() {
    let body = "params:\n  backup_file: {type: path}\n  db_name: {type: string}\n  jobs: {type: integer, default: 4}\nsteps:\n  - id: a\n    run: touch ran\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let outcome = test.status(2);
    assert!(
        outcome.stderr.contains("missing parameter `backup_file`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("missing parameter `db_name`"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn bad_and_unknown_params_exit_2() {
    let body = "params:\n  jobs: {type: integer, default: 4}\n  mode: {choices: [swap, in-place], default: swap}\nsteps:\n  - id: a\n    run: touch ran\n";
    let test = Test::new().runbook("t", &runbook(body)).args([
        "run",
        "t",
        "-p",
        "jobs=four",
        "-p",
        "mode=drop",
        "-p",
        "jbos=2",
    ]);
    let outcome = test.status(2);
    assert!(
        outcome
            .stderr
            .contains("parameter `jobs`: value `four` is not an integer"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("is not one of: swap, in-place"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("unknown parameter `jbos` (did you mean `jobs`?)"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn an_invalid_runbook_runs_nothing() {
    let test = Test::new()
        .runbook(
            "t",
            &runbook("steps:\n  - id: a\n    run: touch ran\n    comfirm: sure\n"),
        )
        .args(["run", "t"]);
    let outcome = test.status(2);
    assert!(
        outcome.stderr.contains("did you mean `confirm`?"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn confirmations_without_a_terminal_need_a_flag() {
    let body = "params:\n  db_name: {default: chatcard}\nsteps:\n  - id: recreate\n    destructive: true\n    confirm: {message: \"Drop {{ db_name }}?\", type: \"{{ db_name }}\", auto: deny}\n    run: touch dropped\n  - id: tidy\n    confirm: Remove temp files?\n    run: touch tidied\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let outcome = test.status(3);
    assert!(
        outcome
            .stderr
            .contains("run with --approve recreate (`--yes` does not approve it)"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("dropped").exists());

    let test = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--yes"]);
    test.status(3);
    assert!(
        !test.path().join("dropped").exists(),
        "--yes approved an auto: deny step"
    );

    let test = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--approve", "recreate"]);
    let outcome = test.status(3);
    assert!(test.path().join("dropped").exists());
    assert!(
        outcome.stderr.contains("run with --approve tidy or --yes"),
        "{}",
        outcome.stderr
    );

    let test = Test::new().runbook("t", &runbook(body)).args([
        "run",
        "t",
        "--approve",
        "recreate",
        "--yes",
    ]);
    test.status(0);
    assert!(test.path().join("tidied").exists());
}

#[test]
fn manual_steps_unattended_take_inputs_from_p_and_approval_from_approve() {
    let body = "steps:\n  - id: assess\n    manual: Check the dashboard.\n    input:\n      error_rate: {type: number, prompt: Error rate (%)}\n  - id: report\n    run: echo rate={{ error_rate }}\n";
    let test = Test::new().runbook("t", &runbook(body));
    let outcome = test.args(["run", "t", "-p", "error_rate=2.5"]).status(3);
    assert!(
        outcome.stderr.contains("--approve assess"),
        "{}",
        outcome.stderr
    );
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "-p", "error_rate=2.5", "--approve", "assess"])
        .status(0);
    assert_eq!(outcome.stdout, "rate=2.5\n");
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "-p", "error_rate=high", "--approve", "assess"])
        .status(2);
    assert!(
        outcome.stderr.contains("value `high` is not a number"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn guards_stop_a_step_with_their_message() {
    let body = "params:\n  mode: {default: plain}\nsteps:\n  - id: restore\n    require:\n      - command: test -d /\n      - expr: mode == 'custom'\n        message: only custom-format dumps can be restored\n    run: touch ran\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let outcome = test.status(1);
    assert!(
        outcome
            .stderr
            .contains("guard failed: only custom-format dumps can be restored"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn when_false_skips() {
    let body = "params:\n  mode: {default: swap}\nsteps:\n  - id: drop\n    when: mode == 'in-place'\n    run: touch dropped\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let outcome = test.status(0);
    assert!(outcome.stderr.contains("skipped"), "{}", outcome.stderr);
    assert!(!test.path().join("dropped").exists());
}

#[test]
fn env_params_and_workdir_reach_the_command() {
    let body = "params:\n  url: {env: DATABASE_URL, default: postgresql://x/y}\nenv:\n  PGCONNECT_TIMEOUT: \"10\"\nsteps:\n  - id: a\n    workdir: sub\n    env: {EXTRA: \"{{ url }}-extra\"}\n    run: echo \"$DATABASE_URL $PGCONNECT_TIMEOUT $EXTRA $(basename $PWD)\"\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .file("sub/.keep", "")
        .args(["run", "t"])
        .status(0);
    assert_eq!(
        outcome.stdout,
        "postgresql://x/y 10 postgresql://x/y-extra sub\n"
    );
}

#[test]
fn stdin_is_dev_null() {
    let outcome = Test::new()
        .runbook(
            "t",
            &runbook("steps:\n  - id: a\n    run: cat; echo done\n"),
        )
        .args(["run", "t"])
        .status(0);
    assert_eq!(outcome.stdout, "done\n");
}

#[test]
fn a_huge_capture_is_truncated_and_says_so() {
    let body = "steps:\n  - id: big\n    run: head -c 3000000 /dev/zero | tr '\\0' 'x'; echo\n    capture: blob\n  - id: size\n    run: echo {{ blob | length }}\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t"])
        .status(0);
    assert!(
        outcome
            .stderr
            .contains("capture `blob` kept only the first 1024 KiB"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stdout.ends_with("1048576\n"),
        "{}",
        &outcome.stdout[outcome.stdout.len().saturating_sub(100)..]
    );
    assert_eq!(outcome.stdout.len(), 3_000_001 + "1048576\n".len());
}

#[test]
fn a_secret_split_across_reads_of_a_long_line_is_still_masked() {
    let body = "params:\n  token: {secret: true, env: TOKEN}\nsteps:\n  - id: a\n    run: head -c 65530 /dev/zero | tr '\\0' 'x'; printf '%s' \"$TOKEN\"; head -c 70000 /dev/zero | tr '\\0' 'y'; echo\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .env("TOKEN", "abcdefghij-secret-token")
        .args(["run", "t"])
        .status(0);
    assert!(!outcome.stdout.contains("secret-token"), "secret leaked");
    assert!(outcome.stdout.contains("x••••••y"));
}

#[test]
fn an_interpolation_in_an_unquoted_here_document_is_refused() {
    let unquoted = "params:\n  v: {default: x}\nsteps:\n  - id: a\n    run: |\n      cat <<EOF\n      heredoc {{ v }}\n      EOF\n";
    let test =
        Test::new()
            .runbook("t", &runbook(unquoted))
            .args(["run", "t", "-p", "v=$(touch PWNED)"]);
    let outcome = test.status(2);
    assert!(
        outcome
            .stderr
            .contains("in a here-document with an unquoted delimiter"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("PWNED").exists());
    let quoted = "params:\n  v: {default: x}\nsteps:\n  - id: a\n    run: |\n      cat <<'EOF'\n      heredoc {{ v }}\n      EOF\n";
    let test =
        Test::new()
            .runbook("t", &runbook(quoted))
            .args(["run", "t", "-p", "v=$(touch PWNED)"]);
    let outcome = test.status(0);
    assert!(!test.path().join("PWNED").exists());
    assert_eq!(outcome.stdout, "heredoc '$(touch PWNED)'\n");
}

#[test]
fn finally_sees_the_outcome_and_steps_that_never_ran() {
    let body = "steps:\n  - id: a\n    run: exit 3\n  - id: later\n    run: 'true'\nfinally:\n  - id: report\n    run: echo {{ run.status }} {{ run.exit_code }} {{ steps.a.status }} {{ steps.later.status }} > report\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(1);
    assert_eq!(
        std::fs::read_to_string(test.path().join("report")).expect("report"),
        "failure 1 failed not_run\n"
    );
}

#[test]
fn unknown_approvals_and_missing_inputs_are_reported_before_anything_runs() {
    let body = "steps:\n  - id: first\n    run: touch ran\n  - id: drop\n    confirm: sure?\n    run: 'true'\n  - id: assess\n    manual: Look.\n    input:\n      rate: {type: number}\n      ok: {type: boolean}\n";
    let test = Test::new().runbook("t", &runbook(body)).args([
        "run",
        "t",
        "--approve",
        "dorp",
        "--approve",
        "assess",
    ]);
    let outcome = test.status(2);
    assert!(outcome.stderr.contains("`--approve dorp`: no step `dorp` in this runbook or its includes (did you mean `drop`?)"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("needs input `rate`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("needs input `ok`"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn json_format_keeps_stdout_for_the_json() {
    let outcome = Test::new()
        .runbook(
            "t",
            &runbook("steps:\n  - id: a\n    run: echo step output\n"),
        )
        .args(["run", "t", "--format", "json"])
        .status(0);
    let summary: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("stdout is only JSON");
    assert_eq!(summary["status"], "success");
    assert_eq!(summary["run_id"].as_str().map(str::len), Some(12));
    assert!(outcome.stderr.contains("step output"), "{}", outcome.stderr);
}

#[test]
fn a_render_error_at_run_time_says_where_and_shows_the_values_involved() {
    let runbook = crate::test::unindent(
        "
        name: t
        title: T
        kind: test
        params:
          token: {secret: true, default: hunter22, env: TOKEN}
        steps:
          - id: read
            capture: info
            run: echo hello
          - id: use
            run: |
              echo start
              echo {{ info.port }} {{ token | length }}
        ",
    );
    let outcome = Test::new()
        .runbook("t", &runbook)
        .args(["run", "t"])
        .status(1);
    let expected = crate::test::unindent(
        "
        error[RB024]: cannot render steps[1].run: undefined value: `info.port` is undefined
          --> runbooks/t.yaml:13:15 (at steps[1].run, step `use`)
           |
        13 |       echo {{ info.port }} {{ token | length }}
           |               ^^^^^^^^^
           = help: values here: info = 'hello', info.port = undefined, token = '••••••'
        ",
    );
    assert!(outcome.stderr.contains(&expected), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("hunter22"), "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("start"), "{}", outcome.stdout);
}

#[test]
fn an_expression_error_at_run_time_is_located_in_the_included_file() {
    let outcome = Test::new()
        .runbook(
            "t",
            "name: t\ntitle: T\nkind: test\nsteps:\n  - id: inner\n    include: child\n",
        )
        .runbook(
            "child",
            "name: child\ntitle: Child\nkind: test\nsteps:\n  - id: count\n    capture: n\n    run: echo abc\n  - id: check\n    when: n.size > 2\n    run: echo never\n",
        )
        .args(["run", "t"])
        .status(1);
    assert!(
        outcome
            .stderr
            .contains("error[RB024]: cannot evaluate steps[1].when `n.size > 2`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("--> runbooks/child.yaml:9:11 (at steps[1].when, step `inner/check`)"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("n = 'abc'"), "{}", outcome.stderr);
}

#[test]
fn every_problem_with_params_and_approvals_is_named_at_once_and_nothing_runs() {
    let runbook = crate::test::unindent(
        "
        name: p
        title: P
        kind: test
        params:
          count: {type: integer}
          target: {env: P_TARGET}
        steps:
          - id: go
            run: touch ran
        ",
    );
    let test = Test::new().runbook("p", &runbook).args([
        "run",
        "p",
        "-p",
        "nope=1",
        "-p",
        "count=abc",
        "--approve",
        "og",
        "--non-interactive",
    ]);
    test.stderr(
        2,
        &crate::test::unindent(
            "
            error: unknown parameter `nope`
            error: `--approve og`: no step `og` in this runbook or its includes (did you mean `go`?)
            error: parameter `count`: value `abc` is not an integer
            error: missing parameter `target`: pass -p target=VALUE or set $P_TARGET
            error: nothing was run
            ",
        ),
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn a_secret_never_shows_in_the_values_of_a_run_time_error_even_escaped() {
    // The values are shown quoted and escaped; masking must catch the escaped forms.
    // (The marker words have letters that no run id or checksum in the record has.)
    for secret in ["back\\slash-zulu", "a'b\"c-topsecret", "tab\tsecret-yankee"] {
        let test = Test::new().runbook(
            "t",
            "name: t\ntitle: T\nkind: test\nparams:\n  pw: {secret: true, env: PW}\nsteps:\n  - id: x\n    run: echo {{ pw.nope }}\n",
        );
        let outcome = Test::new()
            .current_dir(test.path())
            .env(
                "XDG_STATE_HOME",
                &test.path().join("state").display().to_string(),
            )
            .env("PW", secret)
            .args(["run", "t"])
            .status(1);
        assert!(outcome.stderr.contains("pw = "), "{}", outcome.stderr);
        let escaped = secret.escape_debug().to_string();
        for shown in [outcome.stderr.as_str(), outcome.stdout.as_str()] {
            assert!(!shown.contains(secret), "{secret:?} leaked:\n{shown}");
            assert!(
                !shown.contains(&escaped),
                "{secret:?} leaked escaped:\n{shown}"
            );
            assert!(
                !["zulu", "topsecret", "yankee"]
                    .iter()
                    .any(|word| shown.contains(word)),
                "{shown}"
            );
        }
        let logs = std::fs::read_dir(test.path().join("state/runbook/audit"))
            .expect("audit dir")
            .filter_map(Result::ok)
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
            .collect::<String>();
        assert!(
            !["zulu", "topsecret", "yankee"]
                .iter()
                .any(|word| logs.contains(word)),
            "{logs}"
        );
    }
}

#[test]
fn a_step_env_that_cannot_be_rendered_fails_the_step_instead_of_passing_the_template() {
    let outcome = Test::new()
        .runbook(
            "t",
            &runbook("steps:\n  - id: x\n    capture: info\n    run: echo hi\n  - id: y\n    env: {FOO: \"{{ info.port }}\"}\n    run: echo \"FOO=$FOO\"\n"),
        )
        .args(["run", "t"])
        .status(1);
    assert!(!outcome.stdout.contains("FOO="), "{}", outcome.stdout);
    assert!(
        outcome
            .stderr
            .contains("error[RB024]: cannot render steps[1].env.FOO: undefined value"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_error_in_an_included_runbooks_vars_points_at_that_runbooks_file() {
    let outcome = Test::new()
        .runbook(
            "par",
            "name: par\ntitle: P\nkind: test\nsteps:\n  - id: inc\n    include: kid\n    with: {x: abc}\n",
        )
        .runbook(
            "kid",
            "name: kid\ntitle: K\nkind: test\nparams:\n  x: {}\nvars:\n  y: \"{{ x.port | int }}\"\nsteps:\n  - id: go\n    run: echo {{ y }}\n",
        )
        .args(["run", "par"])
        .status(1);
    assert!(
        outcome.stderr.contains("--> runbooks/kid.yaml:7:"),
        "{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("--> runbooks/par.yaml"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_invalid_with_value_is_reported_once_not_also_as_missing() {
    let outcome = Test::new()
        .runbook(
            "par",
            "name: par\ntitle: P\nkind: test\nsteps:\n  - id: inc\n    include: kid\n    with: {n: notanint}\n",
        )
        .runbook(
            "kid",
            "name: kid\ntitle: K\nkind: test\nparams:\n  n: {type: integer, default: 1}\nsteps:\n  - id: go\n    run: echo {{ n }}\n",
        )
        .args(["run", "par"])
        .status(1);
    assert!(
        outcome
            .stderr
            .contains("cannot run `kid`: parameter `n`: value `notanint` is not an integer\n"),
        "{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("missing parameter"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_missing_input_inside_an_include_is_named_by_its_path() {
    let outcome = Test::new()
        .runbook(
            "par",
            "name: par\ntitle: P\nkind: test\nsteps:\n  - id: inc\n    include: kid\n",
        )
        .runbook(
            "kid",
            "name: kid\ntitle: K\nkind: test\nsteps:\n  - id: ok\n    manual: Check it.\n    input:\n      answer: {type: integer}\n",
        )
        .args(["run", "par", "--non-interactive"])
        .status(2);
    assert!(outcome.stderr.contains("`inc/ok`"), "{}", outcome.stderr);
}

#[test]
fn a_restore_point_without_a_utc_offset_is_refused_showing_the_local_and_utc_forms() {
    // The seed's own restore point, typed in New York: read as UTC it recovered to a
    // point five hours off.
    let test = Test::new()
        .runbook(
            "t",
            &runbook("params:\n  target_time: {type: datetime}\nsteps:\n  - id: go\n    run: echo {{ target_time }}\n"),
        )
        .env("TZ", "America/New_York")
        .args(["run", "t", "-p", "target_time=2025-01-15 14:30:00"]);
    let outcome = test.status(2);
    assert!(
        outcome
            .stderr
            .contains("parameter `target_time`: value `2025-01-15 14:30:00` has no UTC offset"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("write 2025-01-15T14:30:00-05:00 (this wall-clock time at this machine's offset) or 2025-01-15T14:30:00Z"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stdout.contains("2025"), "{}", outcome.stdout);
    // Either form runs, and both name the same instant in UTC.
    let local = Test::new()
        .current_dir(test.path())
        .env("TZ", "America/New_York")
        .args(["run", "t", "-p", "target_time=2025-01-15T14:30:00-05:00"])
        .status(0);
    assert!(
        local.stdout.contains("2025-01-15 19:30:00+00:00"),
        "{}",
        local.stdout
    );
}

#[test]
fn a_metrics_file_that_is_a_directory_is_refused_before_anything_runs() {
    let test = Test::new()
        .runbook("t", &runbook("steps:\n  - id: go\n    run: touch ran\n"))
        .file("metrics/.keep", "");
    let outcome = Test::new()
        .current_dir(test.path())
        .args(["run", "t", "--metrics-file", "metrics"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("cannot write metrics to metrics: it is a directory"),
        "{}",
        outcome.stderr
    );
    assert!(!test.path().join("ran").exists());
}

#[test]
fn a_missing_working_directory_is_named() {
    let outcome = Test::new()
        .runbook(
            "t",
            &runbook("steps:\n  - id: go\n    workdir: /nonexistent/work-dir\n    run: pwd\n"),
        )
        .args(["run", "t"])
        .status(1);
    assert!(
        outcome
            .stderr
            .contains("the working directory /nonexistent/work-dir does not exist"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_huge_runbook_without_aliases_is_not_blamed_on_aliases() {
    let body: String = (0..20_000)
        .map(|index| format!("  - id: s{index}\n    run: echo {index}\n"))
        .collect();
    let outcome = Test::new()
        .runbook("t", &runbook(&format!("steps:\n{body}")))
        .args(["validate", "t"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("the runbook has more than 100000 YAML nodes"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("aliases"), "{}", outcome.stderr);
}

#[test]
fn quiet_holds_back_the_output_of_steps_that_succeed_and_shows_that_of_a_failed_one() {
    let body = "params:\n  fail: {type: boolean, default: false}\n  big: {type: boolean, default: false}\nsteps:\n  - id: a\n    run: echo a-out; echo a-err >&2\n  - id: b\n    when: \"false\"\n    run: echo b\n  - id: c\n    run: |\n      echo c-out\n      echo c-err >&2\n      if {{ big }}; then seq 1 200000 >&2; fi\n      echo c-last >&2\n      if {{ fail }}; then exit 3; fi\nfinally:\n  - id: z\n    run: echo cleanup\n";
    let test = Test::new().runbook("t", &runbook(body));
    let state = test.path().join("state").display().to_string();
    let run = |args: &[&str], code: i32| {
        Test::new()
            .current_dir(test.path())
            .env("XDG_STATE_HOME", &state)
            .args(args.iter().copied())
            .status(code)
    };
    // Success: one line on stdout, nothing on stderr (cron mails nothing with
    // `>/dev/null`), and everything still in the run's log.
    let ok = run(&["run", "-q", "t"], 0);
    assert!(
        ok.stdout.starts_with("t success in ") && ok.stdout.ends_with(": 3 steps ok, 1 skipped\n"),
        "{}",
        ok.stdout
    );
    assert_eq!(ok.stdout.lines().count(), 1, "{}", ok.stdout);
    assert_eq!(ok.stderr, "", "{}", ok.stderr);

    // Failure: the failed step's output, on its own streams, before its line; the
    // summary names the run; a step that succeeded stays quiet.
    let failed = run(&["run", "-q", "t", "-p", "fail=true"], 1);
    assert!(
        failed.stdout.contains("c-out") && !failed.stdout.contains("a-out"),
        "{}",
        failed.stdout
    );
    let held = failed
        .stderr
        .find("==> c: its output (held back by -q)")
        .expect("header");
    let line = failed
        .stderr
        .find("c failed: exit code 3")
        .expect("failure line");
    assert!(held < line, "{}", failed.stderr);
    assert!(failed.stderr.contains("c-last\n"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("a-err"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("cleanup"), "{}", failed.stderr);
    // Only the last megabyte is held; the rest is in the log, where it says.
    let failed = run(&["run", "-q", "t", "-p", "fail=true", "-p", "big=true"], 1);
    assert!(failed.stderr.contains("199999\n200000\nc-last\n"));
    assert!(
        failed
            .stderr
            .contains("earlier bytes are in the run's log: runbook audit show RUN_ID --output c"),
        "{}",
        failed.stderr
    );
    let run_id = failed
        .stderr
        .split("(run ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the summary names the run");
    let shown = run(&["audit", "show", run_id, "--output", "c"], 0);
    assert!(
        shown.stdout.contains("c-out") && shown.stdout.contains("\n1\n2\n3\n"),
        "{}",
        &shown.stdout[..shown.stdout.len().min(300)]
    );
}

#[test]
fn unattended_inputs_take_their_defaults_and_say_so() {
    let body = "steps:\n  - id: ask\n    manual: Choose.\n    input:\n      source: {type: string, choices: [rdb, aof], default: rdb}\n      who: {type: string}\n  - id: use\n    run: echo source={{ source }} who={{ who }} > used\n";
    let test = Test::new().runbook("t", &runbook(body));
    let plan = Test::new()
        .current_dir(test.path())
        .args(["run", "t", "--dry-run"])
        .status(0);
    assert!(
        plan.stdout.contains("source (") && plan.stdout.contains("`rdb` without a terminal"),
        "{}",
        plan.stdout
    );
    // No default and no -p: refused before anything runs, naming the flag.
    let stopped = Test::new()
        .current_dir(test.path())
        .args(["run", "t", "--approve", "ask"])
        .status(2);
    assert!(
        stopped.stderr.contains("pass -p who=VALUE"),
        "{}",
        stopped.stderr
    );
    let ran = Test::new()
        .current_dir(test.path())
        .args(["run", "t", "--approve", "ask", "-p", "who=alice"])
        .status(0);
    assert!(
        ran.stderr
            .contains("source = rdb (its default: no terminal to ask)"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        std::fs::read_to_string(test.path().join("used")).expect("used"),
        "source=rdb who=alice\n"
    );
}
