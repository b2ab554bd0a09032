//! End to end: the shipped runbooks, run by the real `runbook` binary (unattended: `-p`,
//! `--approve`, `--yes`), against real PostgreSQL 15 and Redis 7 servers that each test
//! starts for itself (`servers.rs`). Every test asserts on the data, not only on exit
//! codes, so it fails when the procedure stops doing what it claims.

mod archiving;
mod dr;
mod hostloss;
mod maintenance;
mod nightly;
mod offsite;
mod persistence;
mod pgbackrest;
mod pitr;
mod postgres;
mod redis;

use std::path::{Path, PathBuf};

use crate::test::{Outcome, Test};

/// `runbook --color never run NAME --non-interactive ARGS...`, with the shipped (embedded)
/// runbooks and a clean environment plus `env`.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut test = Test::new()
        .args(["run", name, "--non-interactive"])
        .args(args.iter().copied());
    for (key, value) in env {
        test = test.env(key, value);
    }
    test.run()
}

/// Like `run`, and asserts the exit code.
pub fn run_expecting(code: i32, name: &str, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let outcome = run(name, args, env);
    assert_eq!(
        outcome.code, code,
        "runbook run {name} {args:?}: exit code\n--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    outcome
}

/// Whether the run's summary lists step `step` (e.g. `restore`, `verify/row-counts`) as
/// failed.
pub fn failed_step(outcome: &Outcome, step: &str) -> bool {
    outcome.stderr.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("failed") && words.next() == Some(step)
    })
}

/// Names of the entries of `dir` that start with `prefix` and end with `suffix`, sorted.
pub fn entries(dir: &Path, prefix: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix) && name.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// The one entry of `dir` matching `prefix`…`suffix`.
pub fn single(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let names = entries(dir, prefix, suffix);
    assert_eq!(
        names.len(),
        1,
        "{prefix}*{suffix} in {}: {names:?}",
        dir.display()
    );
    dir.join(&names[0])
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("runbook-e2e.")
        .tempdir()
        .expect("temp dir")
}

pub fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The value of a Prometheus sample `name{runbook="RUNBOOK"...}` in a metrics file.
pub fn metric(file: &Path, name: &str, runbook: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let label = format!("runbook=\"{runbook}\"");
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(&label))
        .find_map(|line| line.rsplit_once(' ').map(|(_, value)| value.to_owned()))
}

/// A UTC timestamp as used in backup names (`20250115T020000Z`), `hours_ago` hours ago.
pub fn stamp_hours_ago(hours_ago: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours_ago))
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Sets the modification time of `path` to `hours_ago` hours ago.
pub fn age(path: &Path, hours_ago: u64) {
    let time = std::time::SystemTime::now() - std::time::Duration::from_secs(hours_ago * 3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
        .expect("open for set_modified")
        .set_modified(time)
        .expect("set mtime");
}
