//! The secret matrix: secrets of many shapes, used raw and derived (a var built from
//! one, `upper`, `urlencode`, `tojson`, a step name, guard and expect messages, a filter
//! error, a `with:` into a child's non-secret param), must not appear in any form in any
//! channel: stdout, stderr, the `.jsonl` record, the `.log`, the JSON summary, the
//! metrics file and the dry-run plan.

use crate::test::Test;

const PARENT: &str = r#"name: t
title: Secrets
kind: test
params:
  pw: {secret: true, env: PW}
vars:
  dsn: "postgresql://admin:{{ pw | replace('@', '%40') }}@db/app"
  loud: "{{ pw | upper }}"
steps:
  - id: raw
    name: "Step for {{ pw | upper }}"
    run: printf '%s\n' "$PW" "$PW" >&2
  - id: derived
    run: printf '%s\n' {{ dsn }} {{ loud }} {{ pw | urlencode }} {{ pw | tojson }} {{ pw | lower }}
    capture: got
  - id: echo-capture
    run: printf 'captured %s\n' {{ got }}
  - id: guard
    continue_on_error: true
    require:
      - expr: "false"
        message: "need {{ pw | lower }} here"
    run: "true"
  - id: expect
    continue_on_error: true
    run: echo ok
    expect:
      - expr: "false"
        message: "expected {{ pw | reverse }}"
  - id: filter-error
    continue_on_error: true
    run: echo {{ pw | date }}
  - id: child
    include: child
    with: {token: "{{ pw | trim }}x"}
"#;

const CHILD: &str = r#"name: child
title: Child
kind: test
params:
  token: {}
vars:
  shout: "{{ token | upper }}"
steps:
  - id: c
    name: "child with {{ token }}"
    run: printf '%s\n' {{ token }} {{ shout }}
"#;

/// Every form in which a secret could leak: as is, derived the ways the runbooks above
/// derive it, and escaped the ways records and errors escape text.
fn forms(secret: &str) -> Vec<String> {
    let reversed: String = secret.chars().rev().collect();
    let child = format!("{}x", secret.trim());
    let mut forms = vec![
        secret.to_owned(),
        secret.to_uppercase(),
        secret.to_lowercase(),
        secret.replace('@', "%40"),
        reversed,
        child.clone(),
        child.to_uppercase(),
        serde_json::to_string(secret).expect("json")[1..]
            .trim_end_matches('"')
            .to_owned(),
        secret.escape_debug().to_string(),
        runbook::template::shell_quote(secret).into_owned(),
        urlencode(secret),
    ];
    if secret.contains('\n') {
        forms.extend(secret.lines().map(str::to_owned));
    }
    forms.retain(|form| form.chars().count() >= 4);
    forms.sort();
    forms.dedup();
    forms
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// Everything the runs wrote: their streams and every file under the test directory
/// (audit records, logs, metrics).
fn everything(test: &Test, streams: &[String]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = streams
        .iter()
        .enumerate()
        .map(|(index, text)| (format!("stream {index}"), text.clone()))
        .collect();
    let mut pending = vec![test.path().to_owned()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if !path.to_string_lossy().contains("/runbooks/") {
                let bytes = std::fs::read(&path).expect("read");
                found.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    found
}

#[test]
fn no_secret_leaks_in_any_form_through_any_channel() {
    let shapes = [
        "hunter2-long-secret".to_owned(),
        "p@ss w0rd:/x%y".to_owned(),
        r#"it's "quoted" \ back"#.to_owned(),
        "$(touch pwned) `id`".to_owned(),
        "ünïcødé-sëcret-ß".to_owned(),
        "line-one\nline-two\nline-three".to_owned(),
        // Exactly 4 characters; none of them hex, so no run id or hash can hold it.
        "q!z#".to_owned(),
        "{{ not a template }}".to_owned(),
        "-oProxyCommand=x".to_owned(),
        "k".repeat(5_000) + "-end",
    ];
    let mut leaks = Vec::new();
    let mut checked = 0;
    for secret in &shapes {
        let test = Test::new().runbook("t", PARENT).runbook("child", CHILD);
        let run = test
            .args([
                "run",
                "t",
                "--format",
                "json",
                "--metrics-file",
                "metrics.prom",
            ])
            .env("PW", secret);
        let outcome = run.run();
        assert_eq!(outcome.code, 0, "{secret:?}\n{}", outcome.stderr);
        assert!(
            outcome.stderr.contains("••••••"),
            "nothing was masked for {secret:?}"
        );
        let plan = Test::new()
            .runbook("t", PARENT)
            .runbook("child", CHILD)
            .args(["run", "t", "--dry-run"])
            .env("PW", secret)
            .run();
        let texts = everything(
            &run,
            &[outcome.stdout, outcome.stderr, plan.stdout, plan.stderr],
        );
        for form in forms(secret) {
            for (channel, text) in &texts {
                checked += 1;
                if text.contains(&form) {
                    let shown: String = form.chars().take(40).collect();
                    leaks.push(format!("{shown:?} in {channel}"));
                }
            }
        }
    }
    assert!(checked > 8 * 6, "{checked} checks");
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[test]
fn a_secret_too_short_to_mask_is_reported() {
    let outcome = Test::new()
        .runbook("t", PARENT)
        .runbook("child", CHILD)
        .args(["run", "t"])
        .env("PW", "ab")
        .run();
    assert!(
        outcome
            .stderr
            .contains("warning: secret `pw` is shorter than 4 characters"),
        "{}",
        outcome.stderr
    );
}
