//! `runbook run`: validate the runbook and everything it includes, resolve every
//! parameter (all problems reported at once, exit 2, nothing run), then hand the plan to
//! the engine on a single-threaded runtime that also listens for signals.

use crate::cli::{OutputFormat, RunArgs};
use crate::config::Config;
use crate::engine::context::Context;
use crate::engine::event::{Memory, RunStatus, StepStatus};
use crate::engine::params::{self, ParamProblem, Resolution};
use crate::engine::{Engine, Library, RunOptions, RunResult, signals};
use crate::error::Error;
use crate::exit::Exit;
use crate::load::{Loaded, Loader};
use crate::runbook::{Action, Param, Runbook};
use crate::template::{Templates, system_clock};
use crate::ui::Ui;
use crate::ui::output::Output;
use crate::ui::progress::{Progress, short};
use crate::ui::prompt::{NoAnswer, Prompter};
use minijinja::value::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::Path;

pub fn run(config: &Config, args: &RunArgs) -> Result<Exit, Error> {
    let templates = Templates::new(system_clock());
    let mut loader = Loader::new(&config.catalog, &templates);
    let loaded = loader.load_argument(&args.runbook)?;
    let styles = &config.stderr_styles;
    let mut stderr = std::io::stderr().lock();
    for diagnostic in &loaded.diagnostics {
        write!(stderr, "{}", diagnostic.render(styles))?;
        writeln!(stderr)?;
    }
    let (Some(runbook), 0) = (&loaded.runbook, loaded.error_count()) else {
        return Err(Error::Invalid {
            errors: loaded.error_count().max(1),
        });
    };
    let mut library = Library::new();
    collect_library(
        runbook,
        loaded.source.directory().as_deref(),
        &mut loader,
        &mut library,
    );
    drop(stderr);

    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let given = match params::parse_assignments(&args.params) {
        Ok(given) => given,
        Err(problems) => return report(config, &problems),
    };
    let known = known_names(runbook, &library);
    let mut problems = params::unknown_names(
        &given,
        &known.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    problems.extend(check_inputs(runbook, &library, &given));
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
        && !args.dry_run
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
    let ui = Ui {
        styles: config.stderr_styles.clone(),
        output,
        progress,
        prompter: Prompter::Terminal,
        interactive,
    };
    let options = RunOptions {
        dry_run: args.dry_run,
        probe: args.probe,
        yes: args.yes,
        approve: args.approve.iter().cloned().collect(),
        step_mode: args.step,
        given,
        grace: args.kill_grace.0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Output)?;
    let (trigger, interrupts) = signals::channel();
    let mut recorder = Memory::default();
    let engine = Engine::new(
        &templates,
        &ui,
        &options,
        interrupts,
        &library,
        &mut recorder,
        runbook.rto.map(|rto| rto.0),
    );
    let source = loaded.source.directory();
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = execute(&engine, runbook, &mut resolved, &loaded, source, interactive) => outcome,
            _ = signals::listen(trigger) => unreachable_listen(),
        }
    });
    drop(engine);
    // A prompt interrupted by Ctrl-C leaves a thread blocked reading the terminal;
    // don't wait for it.
    runtime.shutdown_background();
    let result = match outcome {
        Ok(result) => result,
        Err(exit) => return Ok(exit),
    };
    finish(config, &ui, runbook, &result, args.format);
    Ok(result.status.exit())
}

fn unreachable_listen() -> Result<RunResult, Exit> {
    // The signal listener loops forever; the run always finishes first.
    Err(Exit::Failure)
}

/// Prompts for missing params (or reports them), prepares the context, runs.
async fn execute(
    engine: &Engine<'_>,
    runbook: &Runbook,
    resolved: &mut [(String, Resolution)],
    loaded: &Loaded,
    directory: Option<std::path::PathBuf>,
    interactive: bool,
) -> Result<RunResult, Exit> {
    let ui = engine.ui;
    let missing: Vec<&Param> = resolved
        .iter()
        .filter(|(_, resolution)| matches!(resolution, Resolution::Missing))
        .filter_map(|(name, _)| runbook.param(name))
        .collect();
    if !missing.is_empty() && !engine.options.dry_run {
        if !interactive {
            let problems: Vec<ParamProblem> = missing
                .iter()
                .map(|param| ParamProblem::Missing {
                    name: param.name.clone(),
                    env: param.env.clone(),
                })
                .collect();
            let mut text = String::new();
            for problem in &problems {
                text.push_str(&format!(
                    "{}: {problem}\n",
                    ui.styles.error.apply_to("error")
                ));
            }
            text.push_str(&format!(
                "{}: nothing was run\n",
                ui.styles.error.apply_to("error")
            ));
            ui.message(&text);
            return Err(Exit::Invalid);
        }
        ui.message(&format!("{} needs:\n", runbook.name));
        for param in missing {
            match engine.ask_param(param).await {
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
                Err(NoAnswer::Interrupted) => return Err(RunStatus::Interrupted.exit()),
                Err(NoAnswer::Closed) => return Err(Exit::Invalid),
            }
        }
    }
    let run = run_info(engine.options.dry_run);
    let (context, exports): (Context, Vec<(String, String)>) =
        match engine.prepare(runbook, &run, resolved) {
            Ok(prepared) => prepared,
            Err(error) => {
                ui.message(&format!(
                    "{}: {}\n",
                    ui.styles.error.apply_to("error"),
                    engine.ui.output.mask(&error)
                ));
                return Err(Exit::Failure);
            }
        };
    if !engine.options.dry_run {
        let run_id = run.get("id").map(ToString::to_string).unwrap_or_default();
        let mut banner = format!(
            "{} {} — {} {}\n",
            ui.styles.strong.apply_to("runbook"),
            ui.styles.strong.apply_to(&runbook.name),
            runbook.title,
            ui.styles
                .dim
                .apply_to(format!("(run {run_id}, {})", loaded.source.display_name()))
        );
        if ui.interactive
            && let Some(description) = &runbook.description
        {
            banner.push_str(&format!(
                "{}\n",
                ui.styles.dim.apply_to(description.trim_end())
            ));
        }
        ui.message(&banner);
    }
    let mut result = engine.run(runbook, context, exports, directory).await;
    if let Some(plan) = result.plan.as_mut() {
        plan.params = resolved
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
            .collect();
    }
    Ok(result)
}

/// `run.*` for templates.
fn run_info(dry_run: bool) -> BTreeMap<String, Value> {
    use sha2::Digest;
    let now = chrono::Utc::now();
    let mut hasher = sha2::Sha256::new();
    hasher.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    let digest = hasher.finalize();
    let id: String = digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
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
fn finish(config: &Config, ui: &Ui, runbook: &Runbook, result: &RunResult, format: OutputFormat) {
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
            let summary = serde_json::json!({
                "runbook": runbook.name,
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

/// Every runbook reachable through includes, loaded once each.
fn collect_library(
    runbook: &Runbook,
    directory: Option<&Path>,
    loader: &mut Loader,
    library: &mut Library,
) {
    for step in runbook.all_steps() {
        if let Action::Include { runbook: name, .. } = &step.action {
            if library.contains_key(name) {
                continue;
            }
            let Some(source) = loader.find_include(name, directory) else {
                continue;
            };
            let loaded = loader.load(source);
            if let Some(included) = loaded.runbook {
                library.insert(name.clone(), included.clone());
                collect_library(
                    &included,
                    loaded.source.directory().as_deref(),
                    loader,
                    library,
                );
            }
        }
    }
}

/// Params of the runbook and inputs of every manual step, its includes' too: the names
/// `-p` may set.
fn known_names(runbook: &Runbook, library: &Library) -> Vec<String> {
    let mut names: Vec<String> = runbook
        .params
        .iter()
        .map(|param| param.name.clone())
        .collect();
    let mut seen = HashSet::new();
    collect_inputs(runbook, library, &mut seen, &mut |param| {
        names.push(param.name.clone())
    });
    names.sort();
    names.dedup();
    names
}

fn collect_inputs(
    runbook: &Runbook,
    library: &Library,
    seen: &mut HashSet<String>,
    visit: &mut dyn FnMut(&Param),
) {
    if !seen.insert(runbook.name.clone()) {
        return;
    }
    for step in runbook.all_steps() {
        match &step.action {
            Action::Manual { input, .. } => input.iter().for_each(&mut *visit),
            Action::Include { runbook: name, .. } => {
                if let Some(included) = library.get(name) {
                    collect_inputs(included, library, seen, visit);
                }
            }
            _ => {}
        }
    }
}

/// Input values given with `-p` are checked before anything runs.
fn check_inputs(
    runbook: &Runbook,
    library: &Library,
    given: &BTreeMap<String, String>,
) -> Vec<ParamProblem> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    collect_inputs(runbook, library, &mut seen, &mut |param| {
        if runbook.param(&param.name).is_some() {
            return;
        }
        if let Some(value) = given.get(&param.name)
            && let Err(error) = param.check(value)
        {
            problems.push(ParamProblem::Invalid {
                name: param.name.clone(),
                shown: if param.secret {
                    crate::mask::MASK.to_owned()
                } else {
                    value.clone()
                },
                error,
            });
        }
    });
    problems
}
