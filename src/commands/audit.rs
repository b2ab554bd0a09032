//! `runbook audit list | show | verify`: what ran, who ran it, and proof that the record
//! was not changed afterwards.

use crate::audit::record::Record;
use crate::audit::verify::{Verdict, verify};
use crate::audit::{self, AuditError};
use crate::cli::{AuditCommand, OutputFormat};
use crate::config::Config;
use crate::error::Error;
use crate::exit::Exit;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

pub fn audit(config: &Config, command: &AuditCommand) -> Result<Exit, Error> {
    match command {
        AuditCommand::List { format } => list(config, *format),
        AuditCommand::Show { run_id } => show(config, run_id),
        AuditCommand::Verify { records } => verify_records(config, records),
    }
}

#[derive(Serialize)]
struct Row {
    run_id: String,
    started: String,
    runbook: String,
    user: String,
    operator: Option<String>,
    mode: String,
    status: String,
    duration_ms: Option<u64>,
    resumes: Option<String>,
    file: String,
}

fn rows(directory: &std::path::Path) -> Vec<Row> {
    let mut rows: Vec<Row> = audit::record_files(directory)
        .iter()
        .filter_map(|path| Record::read(path).ok())
        .filter_map(|record| {
            let started = record.started()?.clone();
            let text = |name: &str| started.text(name).map(str::to_owned);
            Some(Row {
                run_id: record.run_id.clone(),
                started: started.ts.clone(),
                runbook: text("runbook").unwrap_or_default(),
                user: format!(
                    "{}@{}",
                    text("user").unwrap_or_default(),
                    text("host").unwrap_or_default()
                ),
                operator: text("operator"),
                mode: text("mode").unwrap_or_default(),
                status: record.status(),
                duration_ms: record.finished().and_then(|entry| {
                    entry
                        .fields
                        .get("duration_ms")
                        .and_then(serde_json::Value::as_u64)
                }),
                resumes: text("resumes"),
                file: record.path.display().to_string(),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.started.cmp(&b.started));
    rows
}

fn list(config: &Config, format: OutputFormat) -> Result<Exit, Error> {
    let rows = rows(&config.audit_directory);
    let mut stdout = std::io::stdout().lock();
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut stdout, &rows).map_err(std::io::Error::other)?;
        writeln!(stdout)?;
        return Ok(Exit::Success);
    }
    if rows.is_empty() {
        writeln!(
            std::io::stderr(),
            "no runs recorded in {}",
            config.audit_directory.display()
        )?;
        return Ok(Exit::Success);
    }
    let styles = &config.stdout_styles;
    let width = |pick: &dyn Fn(&Row) -> usize, title: usize| {
        rows.iter().map(pick).max().unwrap_or(0).max(title)
    };
    let runbook_width = width(&|row| row.runbook.len(), 7);
    let who_width = width(&|row| who(row).len(), 3);
    writeln!(
        stdout,
        "{}",
        styles.dim.apply_to(format!(
            "{:12}  {:24}  {:runbook_width$}  {:who_width$}  {:7}  {:11}  DURATION",
            "RUN", "STARTED", "RUNBOOK", "WHO", "MODE", "STATUS"
        ))
    )?;
    for row in &rows {
        let status = match row.status.as_str() {
            "success" => styles.ok.apply_to(format!("{:11}", row.status)),
            "incomplete" => styles.warning.apply_to(format!("{:11}", row.status)),
            _ => styles.error.apply_to(format!("{:11}", row.status)),
        };
        let duration = row
            .duration_ms
            .map(|ms| crate::ui::progress::short(std::time::Duration::from_millis(ms)))
            .unwrap_or_else(|| "-".to_owned());
        writeln!(
            stdout,
            "{:12}  {:24}  {:runbook_width$}  {:who_width$}  {:7}  {status}  {duration}",
            row.run_id,
            row.started,
            row.runbook,
            who(row),
            row.mode
        )?;
    }
    Ok(Exit::Success)
}

fn who(row: &Row) -> String {
    match &row.operator {
        Some(operator) => format!("{} ({operator})", row.user),
        None => row.user.clone(),
    }
}

fn show(config: &Config, run_id: &str) -> Result<Exit, Error> {
    let path = audit::find_record(&config.audit_directory, run_id).map_err(Error::Audit)?;
    let record = Record::read(&path).map_err(|error| {
        Error::Audit(AuditError::Io {
            path: path.clone(),
            error,
        })
    })?;
    let styles = &config.stdout_styles;
    let mut out = String::new();
    let started = record.started();
    if let Some(started) = started {
        let text = |name: &str| started.text(name).unwrap_or_default().to_owned();
        out.push_str(&format!(
            "{} {} — {}\n",
            styles.strong.apply_to(format!("run {}", record.run_id)),
            text("runbook"),
            text("title")
        ));
        out.push_str(&format!(
            "  source   {} (sha256 {})\n",
            text("source"),
            &text("sha256")[..text("sha256").len().min(16)]
        ));
        out.push_str(&format!(
            "  by       {}@{} pid {}",
            text("user"),
            text("host"),
            started
                .fields
                .get("pid")
                .map(ToString::to_string)
                .unwrap_or_default()
        ));
        if let Some(operator) = started.text("operator") {
            out.push_str(&format!(", operator {operator}"));
        }
        out.push('\n');
        if let Some(reason) = started.text("reason") {
            out.push_str(&format!("  reason   {reason}\n"));
        }
        out.push_str(&format!("  started  {}\n", started.ts));
        out.push_str(&format!("  mode     {}", text("mode")));
        if let Some(resumes) = started.text("resumes") {
            out.push_str(&format!(" (resumes run {resumes})"));
        }
        out.push('\n');
        if let Some(params) = started
            .fields
            .get("params")
            .and_then(serde_json::Value::as_object)
        {
            for (name, value) in params {
                out.push_str(&format!(
                    "  param    {name} = {}\n",
                    value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned)
                ));
            }
        }
    }
    out.push('\n');
    let start = started.and_then(|entry| chrono::DateTime::parse_from_rfc3339(&entry.ts).ok());
    for entry in &record.entries {
        let offset = chrono::DateTime::parse_from_rfc3339(&entry.ts)
            .ok()
            .zip(start)
            .map(|(at, start)| format!("+{:.1}s", (at - start).num_milliseconds() as f64 / 1000.0))
            .unwrap_or_default();
        let time = entry.ts.get(11..23).unwrap_or(&entry.ts);
        let step = entry.text("step_id").unwrap_or_default();
        let detail = match entry.event.as_str() {
            "run_started" => format!("started ({})", entry.text("mode").unwrap_or_default()),
            "step_started" => {
                let attempt = entry
                    .fields
                    .get("attempt")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(1);
                let command = entry
                    .text("command")
                    .map(|command| {
                        format!(
                            "\n{:28}$ {}",
                            "",
                            command.trim().replace('\n', &format!("\n{:30}", ""))
                        )
                    })
                    .unwrap_or_default();
                let attempt = if attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                format!("{step} started{attempt}{command}")
            }
            "process_started" => format!(
                "{step} process group {}",
                entry
                    .fields
                    .get("pgid")
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            "guard" => format!(
                "{step} guard {} {}",
                if entry
                    .fields
                    .get("passed")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
                {
                    "passed:"
                } else {
                    "FAILED:"
                },
                entry.text("check").unwrap_or_default()
            ),
            "confirmation" => format!(
                "{step} confirmation {} ({})",
                if entry
                    .fields
                    .get("approved")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
                {
                    "approved"
                } else {
                    "refused"
                },
                entry.text("how").unwrap_or("no way to ask")
            ),
            "input" => format!(
                "{step} input {} = {}",
                entry.text("name").unwrap_or_default(),
                entry.text("value").unwrap_or_default()
            ),
            "step_finished" => {
                let mut text = format!("{step} {}", entry.text("status").unwrap_or_default());
                if let Some(code) = entry
                    .fields
                    .get("exit_code")
                    .and_then(serde_json::Value::as_i64)
                {
                    text.push_str(&format!(" exit {code}"));
                }
                if let Some(ms) = entry
                    .fields
                    .get("duration_ms")
                    .and_then(serde_json::Value::as_u64)
                {
                    text.push_str(&format!(
                        " in {}",
                        crate::ui::progress::short(std::time::Duration::from_millis(ms))
                    ));
                }
                if let Some(reason) = entry.text("reason") {
                    text.push_str(&format!(": {reason}"));
                }
                if let Some(capture) = entry.text("capture") {
                    let capture: String = capture.chars().take(80).collect();
                    text.push_str(&format!(" → {capture:?}"));
                }
                text
            }
            "run_finished" => format!(
                "finished: {} (exit {})",
                entry.text("status").unwrap_or_default(),
                entry
                    .fields
                    .get("exit_code")
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            other => other.to_owned(),
        };
        out.push_str(&format!(
            "{time} {:>8}  {detail}\n",
            styles.dim.apply_to(offset)
        ));
    }
    if record.finished().is_none() {
        out.push_str(&format!(
            "\n{}\n",
            styles
                .warning
                .apply_to("incomplete: the run never finished (killed, or still running)")
        ));
        out.push_str(&format!(
            "resume it with: runbook resume {}\n",
            record.run_id
        ));
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(Exit::Success)
}

fn verify_records(config: &Config, arguments: &[String]) -> Result<Exit, Error> {
    let paths: Vec<PathBuf> = if arguments.is_empty() {
        audit::record_files(&config.audit_directory)
    } else {
        let mut paths = Vec::new();
        for argument in arguments {
            let path = PathBuf::from(argument);
            if path.is_file() {
                paths.push(path);
            } else {
                paths.push(
                    audit::find_record(&config.audit_directory, argument).map_err(Error::Audit)?,
                );
            }
        }
        paths
    };
    let styles = &config.stdout_styles;
    let mut stdout = std::io::stdout().lock();
    let mut tampered = 0;
    for path in &paths {
        match verify(path) {
            Verdict::Intact { events } => {
                writeln!(
                    stdout,
                    "{} {}  ({events} events)",
                    styles.ok.apply_to("intact    "),
                    path.display()
                )?;
            }
            Verdict::Incomplete { events } => writeln!(
                stdout,
                "{} {}  ({events} events, no run_finished: the run was killed or is still running)",
                styles.warning.apply_to("incomplete"),
                path.display()
            )?,
            Verdict::Tampered { line, problem } => {
                tampered += 1;
                writeln!(
                    stdout,
                    "{} {}:{line}: line {line} {problem}",
                    styles.error.apply_to("TAMPERED  "),
                    path.display()
                )?;
            }
        }
    }
    if paths.is_empty() {
        writeln!(
            std::io::stderr(),
            "no records in {}",
            config.audit_directory.display()
        )?;
    }
    Ok(if tampered > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}
