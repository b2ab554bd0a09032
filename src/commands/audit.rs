//! `runbook audit list | show | verify`: what ran, who ran it, and proof that the record
//! was not changed afterwards.

use crate::audit::event::{Approval, Event, RunStarted};
use crate::audit::record::{Entry, Record};
use crate::audit::verify::{Verdict, verify};
use crate::audit::{self, AuditError};
use crate::cli::{AuditCommand, OutputFormat};
use crate::error::Error;
use crate::exit::Exit;
use crate::settings::Settings;
use crate::ui::style::Styles;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

pub fn audit(config: &Settings, command: &AuditCommand) -> Result<Exit, Error> {
    match command {
        AuditCommand::List {
            format,
            runbook,
            status,
            since,
        } => {
            let filter = Filter::new(runbook.clone(), status.clone(), since.as_deref())?;
            list(config, *format, &filter)
        }
        AuditCommand::Show {
            run_id,
            output: Some(step),
        } => step_output(config, run_id, step),
        AuditCommand::Show {
            run_id,
            output: None,
        } => show(config, run_id),
        AuditCommand::Verify { records, key } => {
            let exit = verify_records(config, records)?;
            let sealed = verify_seals(config, key.as_deref())?;
            Ok(if exit == Exit::Success { sealed } else { exit })
        }
        AuditCommand::SealInit => seal_init(config),
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
            let (entry, started) = record.started()?;
            Some(Row {
                run_id: record.run_id.clone(),
                started: entry.ts.clone(),
                runbook: started.runbook.clone(),
                user: format!("{}@{}", started.user, started.host),
                operator: started.operator.clone(),
                mode: started.mode.as_str().to_owned(),
                status: record.status().to_owned(),
                duration_ms: record.finished().map(|finished| finished.duration_ms),
                resumes: started.resumes.clone(),
                file: record.path.display().to_string(),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.started.cmp(&b.started));
    rows
}

fn seal_init(config: &Settings) -> Result<Exit, Error> {
    let key = audit::seal::init(config.audit_directory()?).map_err(Error::Audit)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{key}")?;
    writeln!(
        std::io::stderr(),
        "sealing is on: every finished run is sealed from now on.\nKeep the verification key above off this host (it is not stored here); check with `runbook audit verify --key KEY`."
    )?;
    Ok(Exit::Success)
}

/// With `--key`, the seals; without, what sealing would add.
fn verify_seals(config: &Settings, key: Option<&str>) -> Result<Exit, Error> {
    let directory = config.audit_directory()?;
    let mut stdout = std::io::stdout().lock();
    let styles = &config.stdout_styles;
    let Some(key) = key else {
        if audit::seal::initialised(directory) {
            writeln!(
                stdout,
                "records are sealed: check the seals with --key (the verification key from `audit seal-init`)"
            )?;
        } else {
            writeln!(
                stdout,
                "sealing is not initialised (`runbook audit seal-init`): a record rewritten with a fresh chain, or deleted, would not show"
            )?;
        }
        return Ok(Exit::Success);
    };
    let report = audit::seal::verify(directory, key);
    for problem in &report.problems {
        writeln!(stdout, "{} {problem}", styles.error.apply_to("SEAL      "))?;
    }
    for name in &report.unsealed {
        writeln!(
            stdout,
            "{} {name}: not sealed (a run killed before it ended, or a record added since)",
            styles.warning.apply_to("unsealed  ")
        )?;
    }
    writeln!(
        stdout,
        "{} seals check out; the last is {} — compare with what you saw before: a host cannot prove its newest seals were not cut off",
        report.sealed,
        report.last_seal.as_deref().unwrap_or("(none)")
    )?;
    Ok(if report.problems.is_empty() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// `audit list --runbook/--status/--since`.
struct Filter {
    runbook: Option<String>,
    status: Option<String>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Filter {
    fn new(
        runbook: Option<String>,
        status: Option<String>,
        since: Option<&str>,
    ) -> Result<Filter, Error> {
        let since = match since {
            None => None,
            Some(text) => Some(parse_since(text).ok_or_else(|| Error::Usage {
                message: format!("`--since {text}` is neither a duration (24h, 7d) nor a date or time (2025-01-15, 2025-01-15T14:30:00Z)"),
                help: None,
            })?),
        };
        Ok(Filter {
            runbook,
            status,
            since,
        })
    }

    fn keeps(&self, row: &Row) -> bool {
        self.runbook
            .as_deref()
            .is_none_or(|runbook| row.runbook == runbook)
            && self
                .status
                .as_deref()
                .is_none_or(|status| row.status == status)
            && self.since.is_none_or(|since| {
                chrono::DateTime::parse_from_rfc3339(&row.started)
                    .is_ok_and(|started| started.with_timezone(&chrono::Utc) >= since)
            })
    }
}

fn parse_since(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let now = chrono::Utc::now();
    if let Some(days) = text
        .strip_suffix('d')
        .and_then(|days| days.parse::<i64>().ok())
    {
        return Some(now - chrono::Duration::days(days));
    }
    if let Some(duration) = crate::runbook::Duration::parse(text) {
        return chrono::Duration::from_std(duration.0)
            .ok()
            .map(|duration| now - duration);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|time| time.and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&chrono::Utc))
}

/// The output a step printed, from the run's `.log` (masked when it was written).
fn step_output(config: &Settings, run_id: &str, step: &str) -> Result<Exit, Error> {
    let path = audit::find_record(config.audit_directory()?, run_id).map_err(Error::Audit)?;
    let record = Record::read(&path).map_err(|error| {
        Error::Audit(AuditError::Io {
            path: path.clone(),
            error,
        })
    })?;
    let range = record
        .entries
        .iter()
        .rev()
        .find_map(|entry| match &entry.event {
            Event::StepFinished { step_id, log, .. } if step_id == step => Some(*log),
            _ => None,
        });
    let Some(range) = range else {
        return Err(Error::Usage {
            message: format!("run {run_id} has no finished step `{step}`"),
            help: Some(format!("`runbook audit show {run_id}` lists its steps")),
        });
    };
    let Some((start, end)) = range else {
        return Err(Error::Usage {
            message: format!(
                "the record of step `{step}` does not say where its output is (a run from an older version)"
            ),
            help: Some("read the run's .log".to_owned()),
        });
    };
    let log_path = path.with_extension("log");
    let bytes = std::fs::read(&log_path).map_err(|error| {
        Error::Audit(AuditError::Io {
            path: log_path.clone(),
            error,
        })
    })?;
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = usize::try_from(end)
        .unwrap_or(usize::MAX)
        .min(bytes.len())
        .max(start);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes[start..end])?;
    Ok(Exit::Success)
}

fn list(config: &Settings, format: OutputFormat, filter: &Filter) -> Result<Exit, Error> {
    let mut rows = rows(config.audit_directory()?);
    rows.retain(|row| filter.keeps(row));
    let mut stdout = std::io::stdout().lock();
    if format == OutputFormat::Json {
        let text = crate::json_document(None, &serde_json::json!({"runs": rows}))?;
        stdout.write_all(text.as_bytes())?;
        return Ok(Exit::Success);
    }
    if rows.is_empty() {
        writeln!(
            std::io::stderr(),
            "no runs recorded in {}",
            config.audit_directory()?.display()
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

fn show(config: &Settings, run_id: &str) -> Result<Exit, Error> {
    let path = audit::find_record(config.audit_directory()?, run_id).map_err(Error::Audit)?;
    let record = Record::read(&path).map_err(|error| {
        Error::Audit(AuditError::Io {
            path: path.clone(),
            error,
        })
    })?;
    let styles = &config.stdout_styles;
    let mut out = String::new();
    let started = record.started();
    if let Some((entry, started)) = started {
        out.push_str(&header(&record.run_id, entry, started, styles));
    }
    out.push('\n');
    let start = started.and_then(|(entry, _)| chrono::DateTime::parse_from_rfc3339(&entry.ts).ok());
    for entry in &record.entries {
        let offset = chrono::DateTime::parse_from_rfc3339(&entry.ts)
            .ok()
            .zip(start)
            .map(|(at, start)| format!("+{:.1}s", (at - start).num_milliseconds() as f64 / 1000.0))
            .unwrap_or_default();
        let time = entry.ts.get(11..23).unwrap_or(&entry.ts);
        out.push_str(&format!(
            "{time} {:>8}  {}\n",
            styles.dim.apply_to(offset),
            timeline(&entry.event)
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

/// Who ran what, from which text, with which params.
fn header(run_id: &str, entry: &Entry, started: &RunStarted, styles: &Styles) -> String {
    let mut out = format!(
        "{} {} — {}\n",
        styles.strong.apply_to(format!("run {run_id}")),
        started.runbook,
        started.title
    );
    out.push_str(&format!(
        "  source   {} (sha256 {})\n",
        started.source,
        &started.sha256[..started.sha256.len().min(16)]
    ));
    out.push_str(&format!(
        "  by       {}@{} pid {}",
        started.user, started.host, started.pid
    ));
    if let Some(operator) = &started.operator {
        out.push_str(&format!(", operator {operator}"));
    }
    out.push('\n');
    if let Some(reason) = &started.reason {
        out.push_str(&format!("  reason   {reason}\n"));
    }
    out.push_str(&format!("  started  {}\n", entry.ts));
    out.push_str(&format!("  mode     {}", started.mode.as_str()));
    if let Some(resumes) = &started.resumes {
        out.push_str(&format!(" (resumes run {resumes})"));
    }
    out.push('\n');
    for (name, value) in &started.params {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        out.push_str(&format!("  param    {name} = {value}\n"));
    }
    out
}

/// One line (or a few) of the timeline per event.
fn timeline(event: &Event) -> String {
    match event {
        Event::RunStarted(started) => format!("started ({})", started.mode.as_str()),
        Event::StepStarted {
            step_id,
            command,
            attempt,
            host,
            ..
        } => {
            let command = command
                .as_ref()
                .map(|command| {
                    format!(
                        "\n{:28}$ {}",
                        "",
                        command.trim().replace('\n', &format!("\n{:30}", ""))
                    )
                })
                .unwrap_or_default();
            let attempt = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            let on = host
                .as_ref()
                .map(|host| {
                    let members: Vec<String> = host
                        .members
                        .iter()
                        .map(|member| match &member.host_key {
                            Some(key) => format!("{}, key {key}", member.destination),
                            None => format!("{}, not connected", member.destination),
                        })
                        .collect();
                    format!(" on {} ({})", host.name, members.join("; "))
                })
                .unwrap_or_default();
            format!("{step_id} started{attempt}{on}{command}")
        }
        Event::ProcessStarted { step_id, pgid, .. } => format!("{step_id} process group {pgid}"),
        Event::Guard {
            step_id,
            check,
            passed,
            ..
        } => format!(
            "{step_id} guard {} {check}",
            if *passed { "passed:" } else { "FAILED:" }
        ),
        Event::Confirmation {
            step_id,
            approved,
            how,
        } => format!(
            "{step_id} confirmation {} ({})",
            if *approved { "approved" } else { "refused" },
            match how {
                Some(Approval::Terminal) => "terminal",
                Some(Approval::Yes) => "yes",
                Some(Approval::Approve) => "approve",
                None => "no way to ask",
            }
        ),
        Event::Input {
            step_id,
            name,
            value,
        } => format!("{step_id} input {name} = {value}"),
        Event::Var { scope, name, value } => format!("var {scope}{name} = {value}"),
        Event::StepFinished {
            step_id,
            status,
            exit_code,
            duration_ms,
            wait_ms,
            capture,
            reason,
            members,
            ..
        } => {
            let mut text = format!("{step_id} {}", status.key());
            if let Some(code) = exit_code {
                text.push_str(&format!(" exit {code}"));
            }
            text.push_str(&format!(
                " in {}",
                crate::ui::progress::short(std::time::Duration::from_millis(*duration_ms))
            ));
            if let Some(wait) = wait_ms {
                text.push_str(&format!(
                    " (+{} waiting for the operator)",
                    crate::ui::progress::short(std::time::Duration::from_millis(*wait))
                ));
            }
            if let Some(reason) = reason {
                text.push_str(&format!(": {reason}"));
            }
            if let Some(capture) = capture {
                let capture: String = capture.chars().take(80).collect();
                text.push_str(&format!(" → {capture:?}"));
            }
            if members.len() > 1 {
                let exits: Vec<String> = members
                    .iter()
                    .map(|member| match (&member.exit_code, &member.reason) {
                        (Some(code), _) => format!("{} exit {code}", member.destination),
                        (None, Some(reason)) => format!("{} {reason}", member.destination),
                        (None, None) => member.destination.clone(),
                    })
                    .collect();
                text.push_str(&format!(" [{}]", exits.join(", ")));
            }
            text
        }
        Event::RunFinished(finished) => format!(
            "finished: {} (exit {})",
            finished.status.as_str(),
            finished.exit_code
        ),
    }
}

fn verify_records(config: &Settings, arguments: &[String]) -> Result<Exit, Error> {
    let paths: Vec<PathBuf> = if arguments.is_empty() {
        audit::record_files(config.audit_directory()?)
    } else {
        let mut paths = Vec::new();
        for argument in arguments {
            let path = PathBuf::from(argument);
            if path.is_file() {
                paths.push(path);
            } else {
                paths.push(
                    audit::find_record(config.audit_directory()?, argument)
                        .map_err(Error::Audit)?,
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
            Verdict::Cut { events } => {
                // Not an edit, but the record is not whole: worth an alert.
                tampered += 1;
                writeln!(
                    stdout,
                    "{} {}  ({events} events intact, then line {} stops mid-line: a write was cut short — a full disk or a crash while writing; no line before it was changed)",
                    styles.warning.apply_to("cut       "),
                    path.display(),
                    events + 1
                )?;
            }
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
            config.audit_directory()?.display()
        )?;
    }
    Ok(if tampered > 0 {
        Exit::Failure
    } else {
        Exit::Success
    })
}
