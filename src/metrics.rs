//! `--metrics-file`: Prometheus text exposition of the last run of each runbook, in the
//! format node_exporter's textfile collector reads (docs/audit.md, "Metrics"). Written
//! under a lock (runbooks sharing one file never lose each other's samples), to an
//! fsynced temporary file renamed over the old one, so the collector never sees half a
//! file. Samples of other runbooks already in the file are kept, and so is this
//! runbook's last success time when this run failed: "no success for 26 hours" is the
//! alert the nightly restore test needs. Written on every exit of `run`, the ones that
//! never started a step (invalid runbook or params, exit 2; lock held, exit 4) included,
//! and before the notify hooks run.

use crate::engine::event::{RunStatus, StepStatus};
use crate::engine::{RunResult, SummaryRow};
use crate::runbook::Runbook;
use crate::settings::RunSettings;
use crate::ui::Ui;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

const FAMILIES: &[(&str, &str)] = &[
    (
        "runbook_last_run_timestamp_seconds",
        "Unix time the last run of the runbook ended.",
    ),
    (
        "runbook_last_run_duration_seconds",
        "Duration of the last run of the runbook.",
    ),
    (
        "runbook_last_run_success",
        "1 if the last run of the runbook succeeded, else 0.",
    ),
    (
        "runbook_last_run_exit_code",
        "Exit code of the last run of the runbook.",
    ),
    (
        "runbook_last_success_timestamp_seconds",
        "Unix time the runbook last ended successfully.",
    ),
    (
        "runbook_rto_seconds",
        "The runbook's recovery time objective.",
    ),
    (
        "runbook_step_duration_seconds",
        "Duration of each step in the last run of the runbook.",
    ),
    (
        "runbook_step_success",
        "1 if the step succeeded (or was skipped) in the last run, 0 if it failed; absent when it did not run.",
    ),
    (
        "runbook_step_status",
        "1 for the status of each step in the last run (ok, failed, skipped, declined, interrupted, not_run).",
    ),
    (
        "runbook_metric",
        "A number a step of the last successful run published with `metric:` (backup bytes, an age, seconds).",
    ),
];

pub struct RunMetrics<'a> {
    pub runbook: &'a str,
    pub status: RunStatus,
    pub ended_at: f64,
    pub duration: f64,
    pub rto: Option<u64>,
    pub steps: &'a [SummaryRow],
    /// The exit code, when it is not the status's own (2: invalid, 4: lock held).
    pub exit_code: Option<u8>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Checks before the run that the metrics file's directory takes a new file.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory; name a file in it, e.g. runbook.prom",
        ));
    }
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = directory.join(format!(".runbook-metrics-check.{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Writes the metrics, replacing this runbook's samples and keeping everyone else's. Runs
/// writing one file take turns (an exclusive lock on a file beside it), so no sample of
/// another runbook is lost between the read and the rename.
pub fn write(path: &Path, run: &RunMetrics) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("metrics");
    // Beside the file, not the file itself: the rename replaces the file's inode.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(directory.join(format!(".{name}.lock")))?;
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, error)| std::io::Error::from(error))?;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error),
    };
    let text = render(&existing, run);
    let temporary = directory.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself, durable.
        std::fs::File::open(directory)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The new file: `existing` without this runbook's samples, plus this run's.
fn render(existing: &str, run: &RunMetrics) -> String {
    let label = format!("runbook=\"{}\"", escape(run.runbook));
    // family → sample lines, from the existing file minus this runbook's.
    let mut samples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut last_success = None;
    let mut published: Vec<String> = Vec::new();
    for line in existing
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
    {
        let family = line.split(['{', ' ']).next().unwrap_or_default();
        let Some((family, _)) = FAMILIES.iter().find(|(name, _)| *name == family) else {
            continue;
        };
        let ours = line.contains(&format!("{{{label}}}")) || line.contains(&format!("{{{label},"));
        if ours {
            match *family {
                "runbook_last_success_timestamp_seconds" => {
                    last_success = line.rsplit(' ').next().map(str::to_owned);
                }
                // A failed run publishes nothing new: the last good values stay.
                "runbook_metric" => published.push(line.to_owned()),
                _ => {}
            }
            continue;
        }
        samples.entry(family).or_default().push(line.to_owned());
    }
    let success = run.status == RunStatus::Success && run.exit_code.is_none();
    let mut add = |family: &'static str, labels: String, value: String| {
        samples
            .entry(family)
            .or_default()
            .push(format!("{family}{{{labels}}} {value}"));
    };
    add(
        "runbook_last_run_timestamp_seconds",
        label.clone(),
        format!("{:.3}", run.ended_at),
    );
    add(
        "runbook_last_run_duration_seconds",
        label.clone(),
        format!("{:.3}", run.duration),
    );
    add(
        "runbook_last_run_success",
        label.clone(),
        u8::from(success).to_string(),
    );
    add(
        "runbook_last_run_exit_code",
        label.clone(),
        run.exit_code
            .unwrap_or_else(|| run.status.exit().code())
            .to_string(),
    );
    let last_success = if success {
        Some(format!("{:.3}", run.ended_at))
    } else {
        last_success
    };
    if let Some(value) = last_success {
        add(
            "runbook_last_success_timestamp_seconds",
            label.clone(),
            value,
        );
    }
    if let Some(rto) = run.rto {
        add("runbook_rto_seconds", label.clone(), rto.to_string());
    }
    for step in run.steps {
        let labels = format!("{label},step=\"{}\"", escape(&step.id));
        if step.status != StepStatus::NotRun {
            add(
                "runbook_step_duration_seconds",
                labels.clone(),
                format!("{:.3}", step.duration_ms as f64 / 1000.0),
            );
            let ok = matches!(step.status, StepStatus::Ok | StepStatus::Skipped);
            add(
                "runbook_step_success",
                labels.clone(),
                u8::from(ok).to_string(),
            );
        }
        add(
            "runbook_step_status",
            format!("{labels},status=\"{}\"", step.status.key()),
            "1".to_owned(),
        );
    }
    if success {
        for step in run.steps {
            if let Some((name, value)) = &step.metric {
                add(
                    "runbook_metric",
                    format!("{label},name=\"{}\"", escape(name)),
                    value.to_string(),
                );
            }
        }
    } else {
        samples
            .entry("runbook_metric")
            .or_default()
            .extend(published);
    }
    let mut text = String::new();
    for (family, help) in FAMILIES {
        let Some(lines) = samples.get(family) else {
            continue;
        };
        let _ = writeln!(text, "# HELP {family} {help}\n# TYPE {family} gauge");
        for line in lines {
            let _ = writeln!(text, "{line}");
        }
    }
    text
}

/// Writes the metrics of a finished run when `--metrics-file` asked for them; a failure
/// is reported on the terminal (the run's own outcome stands).
pub fn report(ui: &Ui, run: &RunSettings, runbook: &Runbook, result: &RunResult) {
    let Some(path) = &run.metrics_file else {
        return;
    };
    let metrics = RunMetrics {
        runbook: &runbook.name,
        status: result.status,
        ended_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        duration: result.duration.as_secs_f64(),
        rto: runbook.rto.map(|rto| rto.as_secs()),
        steps: &result.summary,
        exit_code: None,
    };
    if let Err(error) = write(path, &metrics) {
        let message = format!("cannot write metrics to {}: {error}", path.display());
        ui.message(&ui.styles.error_message(&message, None));
    }
}
