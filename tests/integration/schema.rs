//! `runbook schema` is the committed JSON Schema, byte for byte.

use crate::test::{Test, repository};

#[test]
fn schema_matches_the_committed_file() {
    let committed = std::fs::read_to_string(repository().join("schemas/runbook.schema.json"))
        .expect("schemas/runbook.schema.json is committed");
    let outcome = Test::new().args(["schema"]).status(0);
    assert!(
        outcome.stdout == committed,
        "schemas/runbook.schema.json is stale: run `cargo run -- schema > schemas/runbook.schema.json`"
    );
}

#[test]
fn schema_is_json_and_closed() {
    let outcome = Test::new().args(["schema"]).status(0);
    let schema: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    let step = &schema["$defs"]["step"];
    assert_eq!(step["additionalProperties"], false);
    assert!(step["properties"]["confirm"].is_object());
    assert_eq!(
        schema["$defs"]["runbook"]["required"],
        serde_json::json!(["name", "title", "kind", "steps"])
    );
}

#[test]
fn every_shipped_runbook_points_at_the_schema() {
    for entry in std::fs::read_dir(repository().join("runbooks")).expect("runbooks dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/runbook.schema.json\n"),
            "{} lacks the schema line",
            path.display()
        );
    }
}

#[test]
fn completion_scripts_call_back_for_dynamic_values() {
    // Each script asks the binary (RUNBOOK_COMPLETE=SHELL) instead of carrying a fixed
    // list, so runbook names, params, step ids and run ids are always current. The
    // bash one is exercised in a real interactive bash (terminal.rs).
    for shell in ["bash", "zsh", "fish"] {
        let outcome = Test::new().args(["completions", shell]).status(0);
        assert!(
            outcome.stdout.contains("RUNBOOK_COMPLETE") && outcome.stdout.contains("runbook"),
            "{shell}: {}",
            outcome.stdout
        );
    }
    // The callback itself: the runbook names here, with a prefix.
    let test = Test::new().runbook(
        "alpha-one",
        "name: alpha-one\ntitle: T\nkind: test\nsteps:\n  - id: a\n    run: 'true'\n",
    );
    let completed = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_IFS", "\n")
        .args(["--", "runbook", "run", "alpha"])
        .status(0);
    assert_eq!(completed.stdout.trim(), "alpha-one");
}

#[test]
fn completion_reads_the_line_as_the_command_would() {
    // `--dir=DIR` (not only `--dir DIR`), and the inputs of an included runbook, which
    // `-p` accepts too.
    let test = Test::new()
        .runbook(
            "parent",
            "name: parent\ntitle: T\nkind: test\nparams:\n  target: {default: x}\nsteps:\n  - id: child\n    include: child\n",
        )
        .runbook(
            "child",
            "name: child\ntitle: T\nkind: test\nsteps:\n  - id: ask\n    manual: Look.\n    input:\n      tally: {type: integer}\n",
        );
    let elsewhere = Test::new();
    let dir = format!("--dir={}", test.path().join("runbooks").display());
    let complete = |words: &[&str]| {
        Test::new()
            .current_dir(elsewhere.path())
            .env("RUNBOOK_COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", &(words.len() - 1).to_string())
            .env("_CLAP_IFS", "\n")
            .args(["--"])
            .args(words.iter().copied())
            .status(0)
            .stdout
    };
    assert_eq!(complete(&["runbook", &dir, "run", "par"]).trim(), "parent");
    assert_eq!(
        complete(&["runbook", &dir, "run", "parent", "-p", ""]).trim(),
        "tally=\ntarget="
    );
    assert_eq!(
        complete(&["runbook", &dir, "run", "parent", "--approve", "child/"]).trim(),
        "child/ask"
    );
}

#[test]
fn init_writes_a_starter_that_validates_previews_and_runs_with_the_schema_next_to_it() {
    let test = Test::new();
    let dir = test.path().join("ops");
    let dir_arg = dir.to_str().expect("utf-8");
    Test::new().args(["init", dir_arg]).status(0);
    let runbook = dir.join("runbooks/my-runbook.yaml");
    let text = std::fs::read_to_string(&runbook).expect("starter");
    assert!(text.starts_with("# yaml-language-server: $schema=runbook.schema.json"));
    assert_eq!(
        std::fs::read_to_string(dir.join("runbooks/runbook.schema.json")).expect("schema"),
        Test::new().args(["schema"]).status(0).stdout
    );
    let in_dir = |args: &[&str], code: i32| {
        Test::new()
            .current_dir(&dir)
            .args(args.iter().copied())
            .status(code)
    };
    in_dir(&["validate", "--strict", "my-runbook"], 0);
    in_dir(&["run", "my-runbook", "--dry-run"], 0);
    let logs = test.path().join("logs");
    let logs_param = format!("dir={}", logs.display());
    // Unattended, the destructive step is not run without its approval.
    in_dir(&["run", "my-runbook", "-p", &logs_param], 3);
    in_dir(
        &[
            "run",
            "my-runbook",
            "-p",
            &logs_param,
            "--approve",
            "archive",
        ],
        0,
    );
    assert!(std::fs::read_dir(&logs).expect("logs").next().is_none());
    // Never over an existing file.
    let again = Test::new().args(["init", dir_arg]).status(2);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    let bad = Test::new()
        .args(["init", dir_arg, "--name", "Bad Name"])
        .status(2);
    assert!(
        bad.stderr.contains("is not a runbook name"),
        "{}",
        bad.stderr
    );
    // `schema --write DIR` is the same schema, for a directory of your own.
    let other = test.path().join("elsewhere");
    Test::new()
        .args(["schema", "--write", other.to_str().expect("utf-8")])
        .status(0);
    assert_eq!(
        std::fs::read_to_string(other.join("runbook.schema.json")).expect("written"),
        Test::new().args(["schema"]).status(0).stdout
    );
}

/// tests/tools/schema_check.py: the committed schema applied by an independent JSON
/// Schema implementation (python3-jsonschema, draft 2020-12). One line per item.
fn schema_check(args: &[&str]) -> Vec<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new("python3")
        .arg(format!("{root}/tests/tools/schema_check.py"))
        .arg(format!("{root}/schemas/runbook.schema.json"))
        .args(args)
        .output()
        .expect("python3 (scripts/test installs python3-jsonschema and python3-yaml)");
    assert!(
        output.status.success(),
        "schema_check.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_shipped_runbook_and_the_starter_satisfy_the_schema() {
    let test = Test::new();
    let dir = test.path().join("ops");
    Test::new()
        .args(["init", dir.to_str().expect("utf-8")])
        .status(0);
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"))
            .expect("runbooks")
            .map(|entry| entry.expect("entry").path().display().to_string())
            .collect();
    files.push(dir.join("runbooks/my-runbook.yaml").display().to_string());
    let mut args = vec!["files"];
    args.extend(files.iter().map(String::as_str));
    let results = schema_check(&args);
    assert_eq!(results.len(), files.len(), "{results:?}");
    let invalid: Vec<&String> = results
        .iter()
        .filter(|line| !line.starts_with("ok "))
        .collect();
    assert!(invalid.is_empty(), "{invalid:#?}");
}

#[test]
fn every_snippet_the_schema_offers_is_a_valid_fragment() {
    let results = schema_check(&["snippets"]);
    // A snippet for a whole runbook, the step kinds, params, hosts, guards and hooks.
    for expected in [
        "ok runbook: ",
        "ok step: run a command",
        "ok step: destructive step",
        "ok step: manual step",
        "ok step: include",
        "ok step: parallel",
        "ok param: ",
        "ok host: ",
        "ok guard: ",
        "ok notify: ",
    ] {
        assert!(
            results.iter().any(|line| line.starts_with(expected)),
            "no {expected:?} in {results:#?}"
        );
    }
    let invalid: Vec<&String> = results
        .iter()
        .filter(|line| !line.starts_with("ok "))
        .collect();
    assert!(invalid.is_empty(), "{invalid:#?}");
}

#[test]
fn the_schema_and_validate_agree_on_each_param_types_default() {
    // (type, default as written in YAML, valid)
    let cases = [
        ("integer", "5432", true),
        ("integer", "\"5432\"", true),
        ("integer", "-1", true),
        ("integer", "four", false),
        ("integer", "1.5", false),
        ("number", "0.5", true),
        ("number", "\"1e3\"", true),
        ("number", "half", false),
        ("boolean", "true", true),
        ("boolean", "\"yes\"", true),
        ("boolean", "\"No\"", true),
        ("boolean", "maybe", false),
        ("path", "/var/lib/redis", true),
        ("path", "\"\"", false),
        ("duration", "10m", true),
        ("duration", "1h30m", true),
        ("duration", "ten minutes", false),
        ("datetime", "\"2025-01-15T14:30:00Z\"", true),
        ("datetime", "\"2025-01-15 09:30:00-05:00\"", true),
        ("datetime", "\"2025-01-15 14:30:00\"", false),
        ("datetime", "yesterday", false),
        ("string", "anything at all", true),
    ];
    let test = Test::new();
    let mut files = Vec::new();
    for (index, (kind, default, _)) in cases.iter().enumerate() {
        let path = test.path().join(format!("case-{index}.yaml"));
        std::fs::write(
            &path,
            format!(
                "name: case-{index}\ntitle: Case\nkind: test\nparams:\n  value: {{type: {kind}, default: {default}}}\nsteps:\n  - id: s\n    run: echo {{{{ value }}}}\n"
            ),
        )
        .expect("write");
        files.push(path.display().to_string());
    }
    let mut args = vec!["files"];
    args.extend(files.iter().map(String::as_str));
    let schema = schema_check(&args);
    for (index, (kind, default, valid)) in cases.iter().enumerate() {
        let by_schema = schema[index].starts_with("ok ");
        let by_validate = Test::new().args(["validate", &files[index]]).run().code == 0;
        assert_eq!(
            (by_schema, by_validate),
            (*valid, *valid),
            "type {kind}, default {default}: schema says {}, validate {}",
            schema[index],
            if by_validate { "ok" } else { "invalid" }
        );
    }
}
