//! What a run says when it starts and when it ends: the banner, and the plan (dry-run)
//! or the summary table, as text or JSON.

use crate::audit::event::{RunStatus, StepStatus};
use crate::cli::OutputFormat;
use crate::engine::RunResult;
use crate::runbook::Runbook;
use crate::settings::Settings;
use crate::ui::Ui;
use crate::ui::progress::short;
use serde_json::json;

/// `runbook NAME — TITLE (run ID, SOURCE)`, and the description on a terminal.
pub fn banner(
    ui: &Ui,
    runbook: &Runbook,
    run_id: &str,
    source: &str,
    resumes: Option<&str>,
) -> String {
    let resuming = resumes
        .map(|run_id| format!(", resuming run {run_id}"))
        .unwrap_or_default();
    let mut banner = format!(
        "{} {} — {} {}\n",
        ui.styles.strong.apply_to("runbook"),
        ui.styles.strong.apply_to(&runbook.name),
        runbook.title,
        ui.styles
            .dim
            .apply_to(format!("(run {run_id}{resuming}, {source})"))
    );
    if ui.interactive
        && let Some(description) = &runbook.description
    {
        banner.push_str(&format!(
            "{}\n",
            ui.styles.dim.apply_to(description.trim_end())
        ));
    }
    banner
}

/// The plan (dry-run) or the summary.
pub fn finish(
    settings: &Settings,
    ui: &Ui,
    runbook: &Runbook,
    run_id: &str,
    result: &RunResult,
    format: OutputFormat,
) {
    if let Some(plan) = &result.plan {
        match format {
            OutputFormat::Text => ui.output.result(&plan.text(&settings.stdout_styles)),
            OutputFormat::Json => {
                if let Ok(text) = crate::json_document(Some("plan"), plan) {
                    ui.output.result(&text);
                }
            }
        }
        return;
    }
    match format {
        OutputFormat::Json => {
            let summary = json!({
                "runbook": runbook.name,
                "run_id": run_id,
                "status": result.status,
                "exit_code": result.status.exit().code(),
                "duration_ms": result.duration.as_millis() as u64,
                "rto_seconds": runbook.rto.map(|rto| rto.as_secs()),
                "steps": result.summary,
            });
            if let Ok(text) = crate::json_document(Some("summary"), &summary) {
                ui.output.result(&text);
            }
        }
        // `-q`: one line, on stdout, so `-q >/dev/null` is silent on success while a
        // failure (held output, step lines, the table) still reaches stderr.
        OutputFormat::Text if settings.quiet && result.status == RunStatus::Success => {
            let count = |status: StepStatus| {
                result
                    .summary
                    .iter()
                    .filter(|row| row.status == status && !row.id.contains('/'))
                    .count()
            };
            let skipped = match count(StepStatus::Skipped) {
                0 => String::new(),
                skipped => format!(", {skipped} skipped"),
            };
            ui.output.result(&format!(
                "{} success in {}: {} steps ok{skipped}\n",
                runbook.name,
                short(result.duration),
                count(StepStatus::Ok)
            ));
        }
        OutputFormat::Text => ui.message(&table(
            ui,
            runbook,
            settings.quiet.then_some(run_id),
            result,
        )),
    }
}

/// The summary table; `run_id` goes into its first line (with `-q`, where no banner
/// named the run).
fn table(ui: &Ui, runbook: &Runbook, run_id: Option<&str>, result: &RunResult) -> String {
    let styles = &ui.styles;
    let status = match result.status {
        RunStatus::Success => styles.ok.apply_to(result.status.as_str()),
        RunStatus::Failure
        | RunStatus::Aborted
        | RunStatus::Interrupted
        | RunStatus::Terminated
        | RunStatus::HangUp => styles.error.apply_to(result.status.as_str()),
    };
    let mut text = format!(
        "\n{} {} {status} in {}",
        styles.strong.apply_to("summary:"),
        runbook.name,
        short(result.duration)
    );
    if let Some(rto) = runbook.rto {
        let used = result.duration.as_secs_f64() / rto.0.as_secs_f64().max(1.0) * 100.0;
        text.push_str(&format!(" (RTO {rto}: {used:.1}% used)"));
    }
    if let Some(run_id) = run_id {
        text.push_str(&format!(
            " {}",
            styles.dim.apply_to(format!("(run {run_id})"))
        ));
    }
    text.push('\n');
    let width = result
        .summary
        .iter()
        .map(|row| row.id.len())
        .max()
        .unwrap_or(0);
    for row in &result.summary {
        let label = format!("{:<11}", row.status.as_str());
        let status = match row.status {
            StepStatus::Ok => styles.ok.apply_to(label),
            StepStatus::Skipped => styles.dim.apply_to(label),
            StepStatus::Failed
            | StepStatus::Declined
            | StepStatus::Interrupted
            | StepStatus::NotRun => styles.error.apply_to(label),
        };
        let reason = row
            .reason
            .as_deref()
            .map(|reason| format!("  {reason}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {status} {:width$}  {:>7}{reason}\n",
            row.id,
            short(std::time::Duration::from_millis(row.duration_ms))
        ));
    }
    text
}
