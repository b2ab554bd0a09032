//! Runbook lookup order: --dir, RUNBOOK_PATH, ./runbooks, embedded; a path loads directly.

use crate::test::{Test, minimal};

#[test]
fn first_match_wins_along_the_search_path() {
    let test = Test::new()
        .file(
            "flag/backup-redis.yaml",
            &minimal("backup-redis", "From --dir"),
        )
        .file(
            "env/backup-redis.yaml",
            &minimal("backup-redis", "From RUNBOOK_PATH"),
        )
        .runbook("backup-redis", &minimal("backup-redis", "From ./runbooks"));
    let dir_flag = test.path().join("flag");
    let env_dir = test.path().join("env");
    let show = |test: &Test| {
        test.run()
            .stdout
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };

    let with_all = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_PATH", &env_dir.display().to_string())
        .args([
            "--dir",
            &dir_flag.display().to_string(),
            "show",
            "backup-redis",
        ]);
    assert_eq!(show(&with_all), "backup-redis — From --dir");

    let with_env = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_PATH", &env_dir.display().to_string())
        .args(["show", "backup-redis"]);
    assert_eq!(show(&with_env), "backup-redis — From RUNBOOK_PATH");

    let local = Test::new()
        .current_dir(test.path())
        .args(["show", "backup-redis"]);
    assert_eq!(show(&local), "backup-redis — From ./runbooks");

    let embedded = Test::new().args(["show", "backup-redis"]);
    assert!(
        show(&embedded).starts_with("backup-redis — "),
        "{}",
        show(&embedded)
    );
    assert_ne!(show(&embedded), "backup-redis — From ./runbooks");
}

#[test]
fn editing_the_file_changes_behaviour_without_rebuilding() {
    let test = Test::new()
        .runbook("hello", &minimal("hello", "First title"))
        .args(["show", "hello"]);
    let outcome = test.status(0);
    assert!(outcome.stdout.starts_with("hello — First title"));
    std::fs::write(
        test.path().join("runbooks/hello.yaml"),
        minimal("hello", "Second title"),
    )
    .expect("write");
    let outcome = test.run();
    assert!(
        outcome.stdout.starts_with("hello — Second title"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_path_is_loaded_directly_and_its_includes_are_found_beside_it() {
    let parent = "name: parent\ntitle: Parent\nkind: test\nsteps:\n  - id: child\n    include: child\n    with: {who: world}\n";
    let child = "name: child\ntitle: Child\nkind: test\nparams:\n  who: {type: string}\nsteps:\n  - id: greet\n    run: echo hello {{ who }}\n";
    Test::new()
        .file("elsewhere/parent.yaml", parent)
        .file("elsewhere/child.yaml", child)
        .args(["validate", "elsewhere/parent.yaml"])
        .stdout("ok      parent  elsewhere/parent.yaml\n");
}

#[test]
fn include_param_mistakes_are_caught() {
    let parent = "name: parent\ntitle: Parent\nkind: test\nsteps:\n  - id: child\n    include: child\n    with: {whom: world}\n";
    let child = "name: child\ntitle: Child\nkind: test\nparams:\n  who: {type: string}\nsteps:\n  - id: greet\n    run: echo hello {{ who }}\n";
    let outcome = Test::new()
        .runbook("parent", parent)
        .runbook("child", child)
        .args(["validate", "parent"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("runbook `child` has no param `whom`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("did you mean `who`?"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("runbook `child` needs param `who`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn include_cycles_through_other_runbooks_are_named() {
    let a = "name: a\ntitle: A\nkind: test\nsteps:\n  - id: to-b\n    include: b\n";
    let b = "name: b\ntitle: B\nkind: test\nsteps:\n  - id: to-c\n    include: c\n";
    let c = "name: c\ntitle: C\nkind: test\nsteps:\n  - id: to-a\n    include: a\n";
    let outcome = Test::new()
        .runbook("a", a)
        .runbook("b", b)
        .runbook("c", c)
        .args(["validate", "a"])
        .status(2);
    assert!(
        outcome.stderr.contains("include cycle: a -> b -> c -> a"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_secret_passed_to_a_plain_param_of_an_include_is_warned_about() {
    let parent = "name: parent\ntitle: Parent\nkind: test\nparams:\n  token: {secret: true, default: s3cret}\nsteps:\n  - id: child\n    include: child\n    with: {key: \"{{ token }}\"}\n";
    let child = "name: child\ntitle: Child\nkind: test\nparams:\n  key: {type: string}\nsteps:\n  - id: use\n    run: 'true'\n";
    let outcome = Test::new()
        .runbook("parent", parent)
        .runbook("child", child)
        .args(["validate", "parent"])
        .status(0);
    assert!(
        outcome.stderr.contains(
            "secret `token` is passed to param `key` of `child`, which is not secret there"
        ),
        "{}",
        outcome.stderr
    );
}
