//! `runbook run` and `runbook resume`: validate the runbook and everything it includes,
//! resolve every parameter (all problems at once, exit 2, nothing run), take the
//! runbook's locks, open the audit record, then hand over to the engine on a
//! single-threaded runtime that also listens for signals.

use crate::audit::record::Record;
use crate::audit::writer::AuditWriter;
use crate::audit::{self, sha256_hex};
use crate::cli::{OutputFormat, ResumeArgs, RunArgs, RunFlags};
use crate::config::Config;
use crate::engine::context::Context;
use crate::engine::event::{RunStatus, StepStatus};
use crate::engine::params::{self, ParamProblem, Resolution};
use crate::engine::{Engine, RunOptions, RunResult, preflight, signals};
use crate::error::Error;
use crate::exit::Exit;
use crate::load::Loaded;
use crate::load::library::Library;
use crate::lock::{self, Holder};
use crate::runbook::{Action, Param, Runbook};
use crate::template::{Templates, system_clock};
use crate::ui::output::Output;
use crate::ui::progress::{Progress, short};
use crate::ui::prompt::{NoAnswer, Prompter};
use crate::ui::{self, Ui};
use minijinja::value::Value;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// What is being launched: a fresh run, or the continuation of an earlier one.
struct Launch<'a> {
    flags: &'a RunFlags,
    dry_run: bool,
    probe: bool,
    prior: Option<Prior>,
}

pub fn run(config: &Config, args: &RunArgs) -> Result<Exit, Error> {
    let templates = Templates::new(system_clock());
    let library = Library::load_argument(&config.catalog, &templates, &args.runbook)?;
    let launch = Launch {
        flags: &args.flags,
        dry_run: args.dry_run,
        probe: args.probe,
        prior: None,
    };
    start(config, &templates, &library, launch)
}

pub fn resume(config: &Config, args: &ResumeArgs) -> Result<Exit, Error> {
    let directory = config.audit_directory.clone();
    let path = audit::find_record(&directory, &args.run_id).map_err(Error::Audit)?;
    let record = Record::read(&path).map_err(|error| {
        Error::Audit(audit::AuditError::Io {
            path: path.clone(),
            error,
        })
    })?;
    let prior = Prior::from_record(&record).ok_or_else(|| Error::Resume {
        message: format!("the record {} has no run_started event", path.display()),
        help: None,
    })?;
    if prior.mode == "dry-run" {
        return Err(Error::Resume {
            message: format!(
                "run {} was a dry-run; there is nothing to resume",
                prior.run_id
            ),
            help: Some(format!(
                "start it for real with `runbook run {}`",
                prior.runbook
            )),
        });
    }
    // A run is continued once; a later resume continues the latest link of the chain.
    if let Some(successor) = audit::record_files(&directory)
        .iter()
        .filter_map(|path| Record::read(path).ok())
        .find(|record| {
            record.started().and_then(|entry| entry.text("resumes")) == Some(prior.run_id.as_str())
        })
    {
        return Err(Error::Resume {
            message: format!(
                "run {} was already resumed by run {} ({})",
                prior.run_id,
                successor.run_id,
                successor.status()
            ),
            help: Some(format!(
                "resume run {} instead, if it did not finish",
                successor.run_id
            )),
        });
    }
    if prior.status == "success" {
        return Err(Error::Resume {
            message: format!(
                "run {} finished successfully; there is nothing to resume",
                prior.run_id
            ),
            help: None,
        });
    }
    tracing::debug!(running = ?prior.running, pid = prior.pid, "resume: the interrupted run");
    if prior.pid != 0 && process_is_runbook(prior.pid) {
        return Err(Error::Resume {
            message: format!("run {} is still going (pid {})", prior.run_id, prior.pid),
            help: Some(
                "wait for it to end, or stop it (Ctrl-C or `kill` lets it run its `finally`)"
                    .to_owned(),
            ),
        });
    }
    if let Some((step, pgid)) = &prior.running {
        if crate::steps::shell::group_alive(nix::unistd::Pid::from_raw(*pgid as i32)) {
            return Err(Error::Resume {
                message: format!(
                    "step `{step}` of run {} is still running (process group {pgid})",
                    prior.run_id
                ),
                help: Some(format!(
                    "a resumed run must not race the old one: stop it first (`kill -TERM -- -{pgid}`)"
                )),
            });
        }
    }
    let templates = Templates::new(system_clock());
    let argument = match prior.source.strip_prefix("embedded:") {
        Some(_) => prior.runbook.clone(),
        None if Path::new(&prior.source).is_file() => prior.source.clone(),
        None => prior.runbook.clone(),
    };
    let library = Library::load_argument(&config.catalog, &templates, &argument)?;
    let current = sha256_hex(library.root().loaded.source.text.as_bytes());
    if current != prior.sha256 && !args.force {
        return Err(Error::Resume {
            message: format!(
                "runbook `{}` changed since run {} ({} now, {} then)",
                prior.runbook,
                prior.run_id,
                &current[..12],
                &prior.sha256[..prior.sha256.len().min(12)]
            ),
            help: Some("check the change, then resume with --force, or start a new run".to_owned()),
        });
    }
    let launch = Launch {
        flags: &args.flags,
        dry_run: false,
        probe: false,
        prior: Some(prior),
    };
    start(config, &templates, &library, launch)
}

fn start(
    config: &Config,
    templates: &Templates,
    library: &Library,
    launch: Launch,
) -> Result<Exit, Error> {
    let loaded = &library.root().loaded;
    let flags = launch.flags;
    let styles = &config.stderr_styles;
    {
        let mut stderr = std::io::stderr().lock();
        for diagnostic in &loaded.diagnostics {
            write!(stderr, "{}", diagnostic.render(styles))?;
            writeln!(stderr)?;
        }
    }
    let (Some(runbook), 0) = (&loaded.runbook, loaded.error_count()) else {
        return Err(Error::Invalid {
            errors: loaded.error_count().max(1),
        });
    };
    let interactive = !flags.non_interactive && std::io::stdin().is_terminal();
    let (mut given, mut problems) = match params::parse_assignments(&flags.params) {
        Ok(given) => (given, Vec::new()),
        Err(problems) => (BTreeMap::new(), problems),
    };
    let known = preflight::known_names(library);
    problems.extend(params::unknown_names(
        &given,
        &known.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    problems.extend(preflight::unknown_approvals(library, &flags.approve));
    if !interactive && !launch.dry_run && launch.prior.is_none() {
        problems.extend(preflight::missing_inputs(library, &given));
    }
    // A resumed run keeps the earlier run's (non-secret) values unless overridden.
    let mut resume_point = None;
    if let Some(prior) = &launch.prior {
        for (name, value) in &prior.params {
            given.entry(name.clone()).or_insert_with(|| value.clone());
        }
        resume_point = Some(prior.resume_point(runbook));
    }
    problems.extend(preflight::check_inputs(library, &given));
    let (mut resolved, resolve_problems) =
        params::resolve(&runbook.params, &given, &|name| std::env::var(name).ok());
    problems.extend(resolve_problems);
    if !problems.is_empty() {
        return report(config, &problems);
    }

    let stdout_is_terminal = std::io::stdout().is_terminal();
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let progress = if config.quiet {
        Progress::Quiet
    } else if stderr_is_terminal
        && !launch.dry_run
        && std::env::var("TERM").map_or(true, |term| term != "dumb")
    {
        Progress::Bars(indicatif::MultiProgress::with_draw_target(
            indicatif::ProgressDrawTarget::stderr_with_hz(10),
        ))
    } else {
        Progress::Plain
    };
    let output = Output::new(
        Box::new(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        )),
        Box::new(std::io::stderr()),
        progress.bars(),
        stdout_is_terminal,
    );
    if flags.format == OutputFormat::Json {
        output.keep_stdout_for_results();
    }
    let ui = Ui {
        styles: config.stderr_styles.clone(),
        output,
        progress,
        prompter: Prompter::Terminal,
        interactive,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    let (trigger, interrupts) = signals::channel();
    runtime.spawn(signals::listen(trigger));

    // Missing params: asked for on a terminal, otherwise all named at once.
    let missing: Vec<Param> = resolved
        .iter()
        .filter(|(_, resolution)| matches!(resolution, Resolution::Missing))
        .filter_map(|(name, _)| runbook.param(name).cloned())
        .collect();
    if !missing.is_empty() && !launch.dry_run {
        if !interactive {
            let problems: Vec<ParamProblem> = missing
                .iter()
                .map(|param| ParamProblem::Missing {
                    name: param.name.clone(),
                    env: param.env.clone(),
                })
                .collect();
            runtime.shutdown_background();
            return report(config, &problems);
        }
        ui.message(&format!("{} needs:\n", runbook.name));
        for param in &missing {
            let answer = runtime.block_on(ui::ask_param(&ui, &interrupts, param));
            match answer {
                Ok((text, typed)) => {
                    for (name, resolution) in resolved.iter_mut() {
                        if name == &param.name {
                            *resolution = Resolution::Value(params::ParamValue {
                                text: text.clone(),
                                typed: typed.clone(),
                                source: params::ValueSource::Prompted,
                            });
                        }
                    }
                }
                Err(NoAnswer::Interrupted) => {
                    runtime.shutdown_background();
                    return Ok(RunStatus::Interrupted.exit());
                }
                Err(NoAnswer::Closed) => {
                    runtime.shutdown_background();
                    return Ok(Exit::Invalid);
                }
            }
        }
    }

    let run = run_info(launch.dry_run);
    let run_id = run.get("id").map(ToString::to_string).unwrap_or_default();
    let started_at = run
        .get("started_at")
        .map(ToString::to_string)
        .unwrap_or_default();
    // Locks first: a second run must be turned away before it writes anything.
    // A metrics file that cannot be written must fail now, not after the run, when cron
    // would silently lose the monitoring.
    if let Some(path) = &flags.metrics_file
        && !launch.dry_run
        && let Err(error) = crate::metrics::check_writable(path)
    {
        runtime.shutdown_background();
        let mut stderr = std::io::stderr().lock();
        writeln!(
            stderr,
            "{}: cannot write metrics to {}: {error}; nothing was run",
            styles.error.apply_to("error"),
            path.display()
        )?;
        return Ok(Exit::Invalid);
    }
    // A lock is released when its holder dies, but a `kill -9` leaves the step it was
    // running behind: a new run must not race that step either.
    if !launch.dry_run
        && !preflight::locks(library).is_empty()
        && let Some((run, step, pgid)) = orphaned_step(&config.audit_directory, &runbook.name)
    {
        runtime.shutdown_background();
        let text = styles.error_message(
            &format!(
                "run {run} of {} was killed, but its step `{step}` is still running (process group {pgid})",
                runbook.name
            ),
            Some(&format!("stop it first (`kill -TERM -- -{pgid}`), then `runbook resume {run}` or start again")),
        );
        std::io::stderr().lock().write_all(text.as_bytes())?;
        return Ok(Exit::Locked);
    }
    let _locks = if launch.dry_run {
        Vec::new()
    } else {
        let names = preflight::locks(library);
        let holder = Holder {
            runbook: runbook.name.clone(),
            run_id: run_id.clone(),
            user: run.get("user").map(ToString::to_string).unwrap_or_default(),
            host: run.get("host").map(ToString::to_string).unwrap_or_default(),
            pid: std::process::id(),
            started_at: started_at.clone(),
        };
        match lock::acquire_all(&audit::state_directory().join("locks"), &names, &holder) {
            Ok(locks) => locks,
            Err(error) => {
                runtime.shutdown_background();
                let text = styles.error_message(&error.to_string(), error.help().as_deref());
                std::io::stderr().lock().write_all(text.as_bytes())?;
                return Ok(match error {
                    lock::LockError::Held { .. } => Exit::Locked,
                    lock::LockError::Io { .. } => Exit::Invalid,
                });
            }
        }
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let files = match AuditWriter::create(&config.audit_directory, &stamp, &runbook.name, &run_id) {
        Ok(files) => files,
        Err(error) => {
            runtime.shutdown_background();
            return Err(Error::Audit(error));
        }
    };
    let mut writer = files.writer;
    let mode = match (&launch.prior, launch.dry_run) {
        (Some(_), _) => "resume",
        (None, true) => "dry-run",
        (None, false) => "run",
    };
    let masked_params: serde_json::Map<String, serde_json::Value> = resolved
        .iter()
        .map(|(name, resolution)| {
            let secret = runbook.param(name).is_some_and(|param| param.secret);
            let value = match resolution {
                Resolution::Value(_) if secret => json!(crate::mask::MASK),
                Resolution::Value(value) => json!(value.text),
                Resolution::Missing => serde_json::Value::Null,
            };
            (name.clone(), value)
        })
        .collect();
    let mut started = serde_json::Map::new();
    started.insert("runbook".into(), json!(runbook.name));
    started.insert("title".into(), json!(runbook.title));
    // An absolute path, so `resume` finds the file from any directory.
    let source = match &loaded.source.origin {
        crate::load::source::Origin::File(path) => std::fs::canonicalize(path)
            .map(|path| path.display().to_string())
            .unwrap_or_else(|_| loaded.source.display_name()),
        crate::load::source::Origin::Embedded => loaded.source.display_name(),
    };
    started.insert("source".into(), json!(source));
    started.insert(
        "sha256".into(),
        json!(sha256_hex(loaded.source.text.as_bytes())),
    );
    started.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    started.insert(
        "user".into(),
        json!(run.get("user").map(ToString::to_string)),
    );
    started.insert(
        "host".into(),
        json!(run.get("host").map(ToString::to_string)),
    );
    started.insert("pid".into(), json!(std::process::id()));
    started.insert("operator".into(), json!(flags.operator));
    started.insert("reason".into(), json!(flags.reason));
    started.insert("mode".into(), json!(mode));
    started.insert("params".into(), serde_json::Value::Object(masked_params));
    started.insert(
        "rto_seconds".into(),
        json!(runbook.rto.map(|rto| rto.as_secs())),
    );
    if let Some(prior) = &launch.prior {
        started.insert("resumes".into(), json!(prior.run_id));
    }
    if let Err(error) = writer.write("run_started", started) {
        runtime.shutdown_background();
        return Err(Error::Audit(error));
    }
    ui.output.set_log(Box::new(files.log));

    let options = RunOptions {
        dry_run: launch.dry_run,
        probe: launch.probe,
        yes: flags.yes,
        approve: flags.approve.iter().cloned().collect(),
        step_mode: flags.step,
        given,
        grace: flags.kill_grace.0,
        resume: launch
            .prior
            .as_ref()
            .zip(resume_point.as_ref())
            .map(|(prior, (done, _))| (prior.run_id.clone(), *done)),
    };
    let result = {
        let engine = Engine::new(
            templates,
            &ui,
            &options,
            interrupts,
            library,
            &mut writer,
            runbook.rto.map(|rto| rto.0),
        );
        let prepared = engine.prepare(runbook, &run, &resolved);
        match prepared {
            Ok((mut context, exports)) => {
                if let (Some(prior), Some((done, _))) = (&launch.prior, &resume_point) {
                    prior.restore(runbook, *done, &mut context);
                }
                if !launch.dry_run {
                    ui.message(&banner(
                        &ui,
                        runbook,
                        &run_id,
                        loaded,
                        launch.prior.as_ref(),
                    ));
                }
                let mut result = runtime.block_on(engine.run(runbook, context, exports));
                if let Some(plan) = result.plan.as_mut() {
                    plan.params = plan_params(runbook, &resolved);
                }
                result
            }
            Err(error) => {
                ui.message(&format!(
                    "{}: {}\n",
                    styles.error.apply_to("error"),
                    ui.output.mask(&error)
                ));
                RunResult {
                    status: RunStatus::Failure,
                    summary: Vec::new(),
                    duration: std::time::Duration::ZERO,
                    plan: None,
                    message: Some(error),
                }
            }
        }
    };
    // A prompt interrupted by Ctrl-C leaves a thread blocked reading the terminal;
    // don't wait for it.
    runtime.shutdown_background();

    let rto_used = runbook
        .rto
        .map(|rto| result.duration.as_secs_f64() / rto.0.as_secs_f64().max(1.0));
    let mut finished = serde_json::Map::new();
    finished.insert("status".into(), json!(result.status));
    finished.insert("exit_code".into(), json!(result.status.exit().code()));
    finished.insert(
        "duration_ms".into(),
        json!(result.duration.as_millis() as u64),
    );
    finished.insert(
        "rto_seconds".into(),
        json!(runbook.rto.map(|rto| rto.as_secs())),
    );
    finished.insert("rto_used".into(), json!(rto_used));
    if let Err(error) = writer.write("run_finished", finished) {
        ui.message(&format!("{}: {error}\n", styles.error.apply_to("error")));
    }
    finish(config, &ui, runbook, &run_id, &result, flags.format);
    if let Some(path) = &flags.metrics_file
        && !launch.dry_run
    {
        let metrics = crate::metrics::RunMetrics {
            runbook: &runbook.name,
            status: result.status,
            ended_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            duration: result.duration.as_secs_f64(),
            rto: runbook.rto.map(|rto| rto.as_secs()),
            steps: &result.summary,
        };
        if let Err(error) = crate::metrics::write(path, &metrics) {
            ui.message(&format!(
                "{}: cannot write metrics to {}: {error}\n",
                styles.error.apply_to("error"),
                path.display()
            ));
        }
    }
    Ok(result.status.exit())
}

fn banner(
    ui: &Ui,
    runbook: &Runbook,
    run_id: &str,
    loaded: &Loaded,
    prior: Option<&Prior>,
) -> String {
    let resuming = prior
        .map(|prior| format!(", resuming run {}", prior.run_id))
        .unwrap_or_default();
    let mut banner = format!(
        "{} {} — {} {}\n",
        ui.styles.strong.apply_to("runbook"),
        ui.styles.strong.apply_to(&runbook.name),
        runbook.title,
        ui.styles.dim.apply_to(format!(
            "(run {run_id}{resuming}, {})",
            loaded.source.display_name()
        ))
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

fn plan_params(
    runbook: &Runbook,
    resolved: &[(String, Resolution)],
) -> Vec<crate::plan::PlanParam> {
    resolved
        .iter()
        .map(|(name, resolution)| {
            let secret = runbook.param(name).is_some_and(|param| param.secret);
            match resolution {
                Resolution::Value(value) => crate::plan::PlanParam {
                    name: name.clone(),
                    value: if secret {
                        crate::mask::MASK.to_owned()
                    } else {
                        value.text.clone()
                    },
                    source: match value.source {
                        params::ValueSource::Given => "given",
                        params::ValueSource::Environment => "environment",
                        params::ValueSource::Default => "default",
                        params::ValueSource::Prompted => "prompted",
                    },
                },
                Resolution::Missing => crate::plan::PlanParam {
                    name: name.clone(),
                    value: format!("<param {name}>"),
                    source: "not given",
                },
            }
        })
        .collect()
}

/// `run.*` for templates.
fn run_info(dry_run: bool) -> BTreeMap<String, Value> {
    let now = chrono::Utc::now();
    let seed = format!(
        "{}-{}",
        now.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id()
    );
    let id = sha256_hex(seed.as_bytes())[..12].to_owned();
    let user = std::env::var("USER")
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|host| host.into_string().ok())
        .unwrap_or_else(|| "unknown".to_owned());
    BTreeMap::from([
        ("id".to_owned(), Value::from(id)),
        (
            "started_at".to_owned(),
            Value::from(now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        ),
        ("user".to_owned(), Value::from(user)),
        ("host".to_owned(), Value::from(host)),
        ("dry_run".to_owned(), Value::from(dry_run)),
    ])
}

/// The plan (dry-run) or the summary.
fn finish(
    config: &Config,
    ui: &Ui,
    runbook: &Runbook,
    run_id: &str,
    result: &RunResult,
    format: OutputFormat,
) {
    if let Some(plan) = &result.plan {
        match format {
            OutputFormat::Text => ui.output.result(&plan.text(&config.stdout_styles)),
            OutputFormat::Json => {
                let mut text = serde_json::to_string_pretty(plan).unwrap_or_default();
                text.push('\n');
                ui.output.result(&text);
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
            let mut text = serde_json::to_string_pretty(&summary).unwrap_or_default();
            text.push('\n');
            ui.output.result(&text);
        }
        OutputFormat::Text if config.quiet && result.status == RunStatus::Success => {}
        OutputFormat::Text => {
            let styles = &ui.styles;
            let status = match result.status {
                RunStatus::Success => styles.ok.apply_to(result.status.as_str()),
                _ => styles.error.apply_to(result.status.as_str()),
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
            text.push('\n');
            let width = result
                .summary
                .iter()
                .map(|row| row.id.len())
                .max()
                .unwrap_or(0);
            for row in &result.summary {
                let status = match row.status {
                    StepStatus::Ok => styles.ok.apply_to(format!("{:<11}", row.status.as_str())),
                    StepStatus::Skipped => {
                        styles.dim.apply_to(format!("{:<11}", row.status.as_str()))
                    }
                    _ => styles
                        .error
                        .apply_to(format!("{:<11}", row.status.as_str())),
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
            ui.message(&text);
        }
    }
}

fn report(config: &Config, problems: &[ParamProblem]) -> Result<Exit, Error> {
    let mut stderr = std::io::stderr().lock();
    for problem in problems {
        writeln!(
            stderr,
            "{}: {problem}",
            config.stderr_styles.error.apply_to("error")
        )?;
    }
    writeln!(
        stderr,
        "{}: nothing was run",
        config.stderr_styles.error.apply_to("error")
    )?;
    Ok(Exit::Invalid)
}

/// What a run's record says, as far as resuming it needs.
struct Prior {
    run_id: String,
    runbook: String,
    source: String,
    sha256: String,
    mode: String,
    status: String,
    /// Non-secret param values of that run.
    params: BTreeMap<String, String>,
    /// The last `step_finished` of each main step: status and (masked) capture.
    finished: BTreeMap<String, (String, Option<String>)>,
    /// Inputs answered, by name (masked when secret).
    inputs: BTreeMap<String, String>,
    /// A step that started a process and never finished: its id and process group.
    running: Option<(String, u32)>,
    /// The pid of the `runbook` process that made the record.
    pid: u32,
}

impl Prior {
    fn from_record(record: &Record) -> Option<Prior> {
        let started = record.started()?;
        let text = |name: &str| started.text(name).unwrap_or_default().to_owned();
        let params = started
            .fields
            .get("params")
            .and_then(serde_json::Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(name, value)| {
                        value.as_str().map(|value| (name.clone(), value.to_owned()))
                    })
                    .filter(|(_, value)| value != crate::mask::MASK)
                    .collect()
            })
            .unwrap_or_default();
        let mut finished = BTreeMap::new();
        let mut inputs = BTreeMap::new();
        let mut running: Option<(String, u32)> = None;
        for entry in &record.entries {
            let step = entry.text("step_id").unwrap_or_default().to_owned();
            match entry.event.as_str() {
                "step_finished" => {
                    if running.as_ref().is_some_and(|(id, _)| *id == step) {
                        running = None;
                    }
                    let status = entry.text("status").unwrap_or_default().to_owned();
                    let capture = entry.text("capture").map(str::to_owned);
                    finished.insert(step, (status, capture));
                }
                "process_started" => {
                    let pgid = entry
                        .fields
                        .get("pgid")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0);
                    running = Some((step, pgid as u32));
                }
                "input" => {
                    if let Some(name) = entry.text("name") {
                        inputs.insert(
                            name.to_owned(),
                            entry.text("value").unwrap_or_default().to_owned(),
                        );
                    }
                }
                _ => {}
            }
        }
        Some(Prior {
            run_id: record.run_id.clone(),
            runbook: text("runbook"),
            source: text("source"),
            sha256: text("sha256"),
            mode: text("mode"),
            status: record.status(),
            params,
            finished,
            inputs,
            running,
            pid: started
                .fields
                .get("pid")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0) as u32,
        })
    }

    /// How many main steps are done (ok or skipped, with a restorable capture), and the
    /// id of the first one that is not.
    fn resume_point(&self, runbook: &Runbook) -> (usize, Option<String>) {
        for (index, step) in runbook.steps.iter().enumerate() {
            let done = match self.finished.get(&step.id) {
                Some((status, capture)) => {
                    (status == "ok" || status == "skipped")
                        && !(step.capture.is_some()
                            && status == "ok"
                            && capture
                                .as_deref()
                                .is_none_or(|capture| capture.contains(crate::mask::MASK)))
                        && !self.secret_input(step)
                }
                None => false,
            };
            if !done {
                return (index, Some(step.id.clone()));
            }
        }
        (runbook.steps.len(), None)
    }

    /// A manual step whose secret input was masked in the record must be asked again,
    /// so it is not counted as done.
    fn secret_input(&self, step: &crate::runbook::Step) -> bool {
        match &step.action {
            Action::Manual { input, .. } => input.iter().any(|param| param.secret),
            _ => false,
        }
    }

    /// Puts the captures, inputs and step results of the done steps back in the context.
    fn restore(&self, runbook: &Runbook, done: usize, context: &mut Context) {
        for step in runbook.steps.iter().take(done) {
            let Some((status, capture)) = self.finished.get(&step.id) else {
                continue;
            };
            if let (Some(name), Some(value)) = (&step.capture, capture) {
                context.set(name, Value::from(value.as_str()));
            }
            if let Action::Manual { input, .. } = &step.action {
                for param in input {
                    if let Some(value) = self.inputs.get(&param.name)
                        && let Ok(typed) = param.check(value)
                    {
                        context.set(&param.name, typed.to_template_value());
                    }
                }
            }
            context.set_step(
                &step.id,
                Value::from(BTreeMap::from([
                    ("status", Value::from(status.as_str())),
                    ("exit_code", Value::from(())),
                    ("attempts", Value::from(0)),
                    ("duration", Value::from(0.0)),
                ])),
            );
        }
    }
}

/// Whether `pid` is a live `runbook` process (not a zombie, not a reused pid).
fn process_is_runbook(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'));
    let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let program = command.split(|byte| *byte == 0).next().unwrap_or_default();
    alive
        && Path::new(std::str::from_utf8(program).unwrap_or_default())
            .file_name()
            .is_some_and(|name| name == "runbook")
}

/// An incomplete run of `runbook` whose process is gone but whose step's process group
/// is still alive: (run id, step id, process group).
fn orphaned_step(directory: &Path, runbook: &str) -> Option<(String, String, u32)> {
    audit::record_files(directory)
        .iter()
        .rev()
        .take(50)
        .filter_map(|path| Record::read(path).ok())
        .filter(|record| record.finished().is_none())
        .filter_map(|record| Prior::from_record(&record))
        .filter(|prior| prior.runbook == runbook && !process_is_runbook(prior.pid))
        .find_map(|prior| {
            let (step, pgid) = prior.running?;
            crate::steps::shell::group_alive(nix::unistd::Pid::from_raw(pgid as i32)).then_some((
                prior.run_id,
                step,
                pgid,
            ))
        })
}
