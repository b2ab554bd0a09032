//! `run --dry-run`: executes nothing, renders everything, says what it cannot know.

use crate::test::Test;

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

const BODY: &str = "params:
  db_name: {default: chatcard}
  database_url: {secret: true, env: DATABASE_URL, default: postgresql://app:pw-secret-1@db/chatcard}
steps:
  - id: check
    run: touch created-by-check && echo 5
    probe: true
    capture: users
  - id: recreate
    destructive: true
    confirm: {message: \"Drop {{ db_name }}?\", type: \"{{ db_name }}\", auto: deny}
    run: dropdb {{ db_name }} && touch dropped
  - id: report
    when: users | int > 0
    run: echo {{ users }} users in {{ db_name }}
  - id: assess
    manual: Look at the dashboard for {{ db_name }}.
finally:
  - id: cleanup
    run: touch cleaned
";

#[test]
fn dry_run_executes_nothing_and_prints_the_plan() {
    let test = Test::new()
        .runbook("t", &runbook(BODY))
        .args(["run", "t", "--dry-run"]);
    let outcome = test.status(0);
    for file in ["created-by-check", "dropped", "cleaned"] {
        assert!(
            !test.path().join(file).exists(),
            "{file} was created by a dry run"
        );
    }
    assert!(
        !outcome.stdout.contains("pw-secret-1"),
        "{}",
        outcome.stdout
    );
    insta::assert_snapshot!("dry-run-plan", outcome.stdout);
}

#[test]
fn dry_run_as_json() {
    let outcome = Test::new()
        .runbook("t", &runbook(BODY))
        .args(["run", "t", "--dry-run", "--format", "json"])
        .status(0);
    let plan: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("json");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["kind"], "plan");
    assert_eq!(plan["runbook"], "t");
    assert_eq!(plan["steps"][1]["markers"][0], "destructive");
    assert_eq!(
        plan["steps"][1]["command"],
        "dropdb chatcard && touch dropped"
    );
    assert_eq!(plan["steps"][2]["when"]["decided"], "at_run_time");
    assert_eq!(plan["steps"][2]["when"]["depends_on"][0], "users");
    assert_eq!(
        plan["steps"][2]["command"],
        "echo <capture of check> users in chatcard"
    );
    assert_eq!(plan["fidelity"]["steps"], 5);
    assert_eq!(plan["fidelity"]["manual"], 1);
    assert_eq!(plan["fidelity"]["run_time"], 1);
    assert_eq!(plan["params"][1]["value"], "••••••");
}

#[test]
fn probe_runs_read_only_steps_so_later_steps_render_real_values() {
    let test = Test::new()
        .runbook("t", &runbook(BODY))
        .args(["run", "t", "--dry-run", "--probe"]);
    let outcome = test.status(0);
    assert!(
        test.path().join("created-by-check").exists(),
        "the probe did not run"
    );
    assert!(!test.path().join("dropped").exists());
    assert!(
        outcome.stdout.contains("$ echo 5 users in chatcard"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("when: users | int > 0  → true"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn missing_params_are_listed_after_the_plan_and_exit_2_unless_allowed() {
    let body = "params:\n  backup_file: {type: path}\n  db: {env: RB_TEST_DB}\n  mode: {default: swap}\nsteps:\n  - id: restore\n    run: pg_restore {{ backup_file }}\n";
    let test = Test::new().runbook("t", &runbook(body));
    let run = |args: &[&str], code: i32| {
        Test::new()
            .current_dir(test.path())
            .args(args.iter().copied())
            .status(code)
    };
    // The plan is shown, and the run says it is incomplete: exit 2, naming them.
    let incomplete = run(&["run", "t", "--dry-run"], 2);
    assert!(
        incomplete
            .stdout
            .contains("$ pg_restore <param backup_file>")
    );
    assert!(
        incomplete.stderr.contains(
            "required params not given: backup_file, db (or set $RB_TEST_DB) — give them with `-p NAME=VALUE` (or preview anyway with --allow-missing)"
        ),
        "{}",
        incomplete.stderr
    );
    let one = run(&["run", "t", "--dry-run", "-p", "db=x"], 2);
    assert!(
        one.stderr
            .contains("required param not given: backup_file — give it"),
        "{}",
        one.stderr
    );
    run(
        &[
            "run",
            "t",
            "--dry-run",
            "-p",
            "db=x",
            "-p",
            "backup_file=/b",
        ],
        0,
    );
    // --allow-missing only makes sense for a preview.
    let refused = run(&["run", "t", "--allow-missing"], 2);
    assert!(refused.stderr.contains("--dry-run"), "{}", refused.stderr);
    let outcome = run(&["run", "t", "--dry-run", "--allow-missing"], 0);
    assert!(
        outcome.stdout.contains("$ pg_restore <param backup_file>"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("backup_file = <param backup_file>  (not given)"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn every_shipped_runbook_has_a_complete_dry_run() {
    let mut names: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"))
            .expect("runbooks")
            .filter_map(Result::ok)
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.strip_suffix(".yaml"))
                    .map(str::to_owned)
            })
            .collect();
    names.sort();
    assert!(names.len() >= 19, "{names:?}");
    for name in &names {
        let outcome = Test::new()
            .args(["run", name, "--dry-run", "--allow-missing"])
            .run();
        assert_eq!(outcome.code, 0, "{name}\n{}", outcome.stderr);
        assert!(
            outcome.stdout.starts_with(&format!("Plan for {name} — ")),
            "{name}\n{}",
            outcome.stdout
        );
        assert!(
            outcome.stdout.contains(" rendered exactly"),
            "{name}: no fidelity summary"
        );
        assert!(
            !outcome.stdout.contains("rendered at run time)"),
            "{name}: a template failed to render\n{}",
            outcome.stdout
        );
    }
}
