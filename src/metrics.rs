//! `--metrics-file`: Prometheus text exposition of the last run of each runbook, in the
//! format node_exporter's textfile collector reads, written atomically (temp file +
//! rename) so the collector never sees half a file. Samples of other runbooks already in
//! the file are kept, and so is this runbook's last success time when this run failed:
//! "no success for 26 hours" is the alert the nightly restore test needs.

use crate::engine::event::RunStatus;
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
        "1 if the step succeeded (or was skipped) in the last run, else 0.",
    ),
];

pub struct RunMetrics<'a> {
    pub runbook: &'a str,
    pub status: RunStatus,
    pub ended_at: f64,
    pub duration: f64,
    pub rto: Option<u64>,
    pub steps: &'a [SummaryRow],
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

/// Writes the metrics, replacing this runbook's samples and keeping everyone else's.
pub fn write(path: &Path, run: &RunMetrics) -> std::io::Result<()> {
    let label = format!("runbook=\"{}\"", escape(run.runbook));
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    // family → sample lines, from the existing file minus this runbook's.
    let mut samples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut last_success = None;
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
            if *family == "runbook_last_success_timestamp_seconds" {
                last_success = line.rsplit(' ').next().map(str::to_owned);
            }
            continue;
        }
        samples.entry(family).or_default().push(line.to_owned());
    }
    let success = run.status == RunStatus::Success;
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
        run.status.exit().code().to_string(),
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
        add(
            "runbook_step_duration_seconds",
            labels.clone(),
            format!("{:.3}", step.duration_ms as f64 / 1000.0),
        );
        let ok = matches!(
            step.status,
            crate::engine::event::StepStatus::Ok | crate::engine::event::StepStatus::Skipped
        );
        add("runbook_step_success", labels, u8::from(ok).to_string());
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
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = directory.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("metrics"),
        std::process::id()
    ));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
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
    };
    if let Err(error) = write(path, &metrics) {
        let message = format!("cannot write metrics to {}: {error}", path.display());
        ui.message(&ui.styles.error_message(&message, None));
    }
}
