//! Sealed records: `audit seal-init`, then runs; every tampering below — including a
//! full rewrite with a freshly computed chain, which the chain alone cannot show — is
//! caught by `audit verify --key`, and the untouched directory verifies.

use crate::test::Test;
use std::path::{Path, PathBuf};

fn runbook(name: &str) -> String {
    format!(
        "name: {name}\ntitle: Test\nkind: test\nsteps:\n  - id: a\n    run: echo {name} output\n  - id: b\n    run: echo more\n"
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn records(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .collect();
    files.sort();
    files
}

/// Rewrites a record with every line's `hash` and `prev` computed afresh: the chain
/// checks out, the content is the attacker's.
fn rechain(path: &Path, edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>, usize)) {
    use sha2::Digest;
    let hex = |bytes: &[u8]| -> String {
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    };
    let text = std::fs::read_to_string(path).expect("read");
    let mut previous = "0".repeat(64);
    let mut out = String::new();
    for (index, line) in text.lines().enumerate() {
        let serde_json::Value::Object(mut fields) = serde_json::from_str(line).expect("json")
        else {
            panic!("not an object");
        };
        fields.remove("hash");
        edit(&mut fields, index);
        fields.insert("prev".into(), serde_json::Value::from(previous.clone()));
        let body = serde_json::to_string(&serde_json::Value::Object(fields)).expect("json");
        let hash = hex(body.as_bytes());
        let mut written = body;
        written.pop();
        written.push_str(&format!(",\"hash\":\"{hash}\"}}"));
        previous = hex(written.as_bytes());
        out.push_str(&written);
        out.push('\n');
    }
    std::fs::write(path, out).expect("write");
}

#[test]
fn every_tampering_is_caught_with_the_verification_key() {
    let test = Test::new()
        .runbook("one", &runbook("one"))
        .runbook("two", &runbook("two"))
        .runbook("three", &runbook("three"));
    let audit = test.path().join("audit");
    let audit_dir = audit.display().to_string();
    let cli = |directory: &str, args: &[&str]| {
        Test::new()
            .current_dir(test.path())
            .env("RUNBOOK_AUDIT_DIR", directory)
            .args(args.iter().copied())
            .run()
    };
    let plain = cli(&audit_dir, &["audit", "verify"]);
    assert!(
        plain.stdout.contains("sealing is not initialised"),
        "{}",
        plain.stdout
    );
    let init = cli(&audit_dir, &["audit", "seal-init"]);
    assert_eq!(init.code, 0, "{}", init.stderr);
    let key = init.stdout.trim().to_owned();
    assert_eq!(key.len(), 64, "{}", init.stdout);
    assert!(
        !std::fs::read_to_string(audit.join(".seal/key"))
            .expect("key")
            .contains(&key)
    );
    for name in ["one", "two", "three"] {
        assert_eq!(cli(&audit_dir, &["run", name]).code, 0);
    }
    let clean = cli(&audit_dir, &["audit", "verify", "--key", &key]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    assert!(
        clean.stdout.contains("3 seals check out"),
        "{}",
        clean.stdout
    );

    type Tamper = Box<dyn Fn(&Path)>;
    let first = |directory: &Path| records(directory)[0].clone();
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "full rewrite, fresh chain",
            Box::new(move |d: &Path| {
                rechain(&first(d), &|fields, index| {
                    if index == 2 {
                        fields.insert("command".into(), "echo forged".into());
                    }
                })
            }),
        ),
        (
            "status changed, fresh chain",
            Box::new(move |d: &Path| {
                rechain(&first(d), &|fields, _| {
                    if fields.get("status").is_some() {
                        fields.insert("status".into(), "failed".into());
                    }
                })
            }),
        ),
        (
            "run id changed, fresh chain",
            Box::new(move |d: &Path| {
                rechain(&first(d), &|fields, _| {
                    fields.insert("run_id".into(), "000000000000".into());
                })
            }),
        ),
        (
            "last event removed, fresh chain",
            Box::new(move |d: &Path| {
                let path = first(d);
                let text = std::fs::read_to_string(&path).expect("read");
                let lines: Vec<&str> = text.lines().collect();
                std::fs::write(&path, lines[..lines.len() - 1].join("\n") + "\n").expect("write");
                rechain(&path, &|_, _| {});
            }),
        ),
        (
            "event appended, fresh chain",
            Box::new(move |d: &Path| {
                let path = first(d);
                let mut text = std::fs::read_to_string(&path).expect("read");
                let last = text.lines().last().expect("a line").to_owned();
                text.push_str(&last);
                text.push('\n');
                std::fs::write(&path, text).expect("write");
                rechain(&path, &|_, _| {});
            }),
        ),
        (
            "record deleted",
            Box::new(move |d: &Path| std::fs::remove_file(first(d)).expect("rm")),
        ),
        (
            "record and log deleted",
            Box::new(move |d: &Path| {
                let path = first(d);
                std::fs::remove_file(path.with_extension("log")).expect("rm");
                std::fs::remove_file(path).expect("rm");
            }),
        ),
        (
            "record renamed to another run id",
            Box::new(move |d: &Path| {
                let path = first(d);
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                let renamed = format!(
                    "{}-ffffffffffff.jsonl",
                    &name[..name.rfind('-').expect("dash")]
                );
                std::fs::rename(&path, d.join(renamed)).expect("rename");
            }),
        ),
        (
            "two records swapped",
            Box::new(|d: &Path| {
                let files = records(d);
                let (a, b) = (files[0].clone(), files[1].clone());
                let temporary = d.join("swap.tmp");
                std::fs::rename(&a, &temporary).expect("mv");
                std::fs::rename(&b, &a).expect("mv");
                std::fs::rename(&temporary, &b).expect("mv");
            }),
        ),
        (
            "log edited",
            Box::new(move |d: &Path| {
                let log = first(d).with_extension("log");
                let text = std::fs::read_to_string(&log).expect("log");
                std::fs::write(&log, text.replace("output", "OUTPUT")).expect("write");
            }),
        ),
        (
            "log appended to",
            Box::new(move |d: &Path| {
                let log = first(d).with_extension("log");
                let mut text = std::fs::read_to_string(&log).expect("log");
                text.push_str("a line that was never printed\n");
                std::fs::write(&log, text).expect("write");
            }),
        ),
        (
            "log emptied",
            Box::new(move |d: &Path| {
                std::fs::write(first(d).with_extension("log"), "").expect("write")
            }),
        ),
        (
            "log deleted",
            Box::new(move |d: &Path| {
                std::fs::remove_file(first(d).with_extension("log")).expect("rm")
            }),
        ),
        (
            "record in CRLF",
            Box::new(move |d: &Path| {
                let path = first(d);
                let text = std::fs::read_to_string(&path).expect("read");
                std::fs::write(&path, text.replace('\n', "\r\n")).expect("write");
            }),
        ),
        (
            "index line removed",
            Box::new(|d: &Path| {
                let index = d.join(".seal/index.jsonl");
                let text = std::fs::read_to_string(&index).expect("index");
                let lines: Vec<&str> = text.lines().collect();
                std::fs::write(&index, format!("{}\n{}\n", lines[0], lines[2])).expect("write");
            }),
        ),
        (
            "index lines reordered",
            Box::new(|d: &Path| {
                let index = d.join(".seal/index.jsonl");
                let text = std::fs::read_to_string(&index).expect("index");
                let lines: Vec<&str> = text.lines().collect();
                std::fs::write(
                    &index,
                    format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]),
                )
                .expect("write");
            }),
        ),
        (
            "index line duplicated",
            Box::new(|d: &Path| {
                let index = d.join(".seal/index.jsonl");
                let text = std::fs::read_to_string(&index).expect("index");
                let first_line = text.lines().next().expect("a line").to_owned();
                std::fs::write(&index, format!("{first_line}\n{text}")).expect("write");
            }),
        ),
        (
            "seal edited",
            Box::new(|d: &Path| {
                let index = d.join(".seal/index.jsonl");
                let text = std::fs::read_to_string(&index).expect("index");
                let mut entry: serde_json::Value =
                    serde_json::from_str(text.lines().next().expect("line")).expect("json");
                entry["events"] = serde_json::Value::from(99);
                let rest: Vec<&str> = text.lines().skip(1).collect();
                std::fs::write(&index, format!("{entry}\n{}\n", rest.join("\n"))).expect("write");
            }),
        ),
        (
            "index emptied, records kept",
            Box::new(|d: &Path| std::fs::write(d.join(".seal/index.jsonl"), "").expect("write")),
        ),
        (
            "a run's record and its index line both removed",
            Box::new(|d: &Path| {
                let files = records(d);
                std::fs::remove_file(&files[1]).expect("rm");
                let index = d.join(".seal/index.jsonl");
                let text = std::fs::read_to_string(&index).expect("index");
                let lines: Vec<&str> = text.lines().collect();
                std::fs::write(&index, format!("{}\n{}\n", lines[0], lines[2])).expect("write");
            }),
        ),
        (
            "a forged record added",
            Box::new(move |d: &Path| {
                let path = first(d);
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                let forged = d.join(format!(
                    "{}-eeeeeeeeeeee.jsonl",
                    &name[..name.rfind('-').expect("dash")]
                ));
                std::fs::copy(&path, &forged).expect("copy");
                rechain(&forged, &|fields, _| {
                    fields.insert("run_id".into(), "eeeeeeeeeeee".into());
                    fields.insert("ts".into(), "2999-01-01T00:00:00.000Z".into());
                });
            }),
        ),
    ];
    assert!(cases.len() >= 20);
    let mut missed = Vec::new();
    for (index, (name, tamper)) in cases.iter().enumerate() {
        let copy = test.path().join(format!("case-{index}"));
        copy_dir(&audit, &copy);
        tamper(&copy);
        let outcome = cli(
            &copy.display().to_string(),
            &["audit", "verify", "--key", &key],
        );
        if outcome.code == 0 {
            missed.push(format!("{name}:\n{}", outcome.stdout));
        }
    }
    assert!(missed.is_empty(), "not caught:\n{}", missed.join("\n"));
    // The wrong key verifies nothing.
    let wrong = cli(&audit_dir, &["audit", "verify", "--key", &"0".repeat(64)]);
    assert_eq!(wrong.code, 1, "{}", wrong.stdout);
}

/// Without sealing, each step's log bytes are hashed into its `step_finished`, so the
/// chain itself shows an edit of the `.log`.
#[test]
fn a_log_edit_shows_in_the_chain_even_without_sealing() {
    let test = Test::new()
        .runbook("one", &runbook("one"))
        .args(["run", "one"]);
    test.status(0);
    let directory = test.path().join("state/runbook/audit");
    let record = records(&directory)[0].clone();
    let verify = || {
        Test::new()
            .env(
                "XDG_STATE_HOME",
                &test.path().join("state").display().to_string(),
            )
            .args(["audit", "verify"])
            .run()
    };
    assert_eq!(verify().code, 0);
    let log = record.with_extension("log");
    let text = std::fs::read_to_string(&log).expect("log");
    std::fs::write(&log, text.replace("one output", "one 0utput")).expect("write");
    let outcome = verify();
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains("finishes step `a`, whose output in the .log was changed since"),
        "{}",
        outcome.stdout
    );
}
