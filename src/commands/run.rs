//! `runbook run` and `runbook resume`, as a page of stages: load the runbook and
//! everything it includes (the library), resolve the run's settings, preflight (every
//! problem with params, inputs and approvals at once, exit 2, nothing run), ask for what
//! is missing on a terminal, take the locks, open the audit record, hand over to the
//! engine, close the record, print the summary or plan, write the metrics.

use crate::audit::event::{Event, Mode, RunFinished, RunStarted};
use crate::audit::sha256_hex;
use crate::audit::writer::AuditWriter;
use crate::cli::{ResumeArgs, RunArgs};
use crate::engine::event::{RecordError, Recorder};
use crate::engine::params::Resolution;
use crate::engine::resume::Prior;
use crate::engine::runtime::Runtime;
use crate::engine::{Engine, Launch, RunResult, preflight};
use crate::error::Error;
use crate::exit::Exit;
use crate::load::library::Library;
use crate::load::source::Origin;
use crate::lock::{Holder, LockError, Locks};
use crate::runbook::Runbook;
use crate::settings::{RunIdentity, RunSettings, Settings};
use crate::template::{Templates, system_clock};
use crate::ui::{self, Ui};

pub fn run(settings: &Settings, args: &RunArgs) -> Result<Exit, Error> {
    let templates = Templates::new(system_clock());
    let metrics = (!args.dry_run)
        .then_some(args.flags.metrics_file.as_deref())
        .flatten();
    let library = match Library::load_argument(&settings.catalog, &templates, &args.runbook) {
        Ok(library) => library,
        Err(error) => {
            let error = Error::from(error);
            not_started(metrics, &argument_name(&args.runbook), &error);
            return Err(error);
        }
    };
    let run = RunSettings::resolve(settings, &args.flags, args.dry_run, args.probe);
    start(settings, &templates, &library, &run, None).inspect_err(|error| {
        let name = library.root().runbook().map_or_else(
            || argument_name(&args.runbook),
            |runbook| runbook.name.clone(),
        );
        not_started(metrics, &name, error);
    })
}

/// The runbook a command-line argument names: the name itself, or a file's stem.
fn argument_name(argument: &str) -> String {
    std::path::Path::new(argument)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or(argument)
        .to_owned()
}

/// A run that ended before its first step (invalid runbook or params: exit 2; lock
/// held: exit 4) still writes its metrics: cron's broken environment must show as a
/// failed run, not as the last good one.
fn not_started(metrics: Option<&std::path::Path>, runbook: &str, error: &Error) {
    let Some(path) = metrics else {
        return;
    };
    if matches!(error, Error::Metrics { .. }) {
        return;
    }
    let exit = error.exit().code();
    let result = crate::metrics::write(
        path,
        &crate::metrics::RunMetrics {
            runbook,
            status: crate::engine::event::RunStatus::Failure,
            ended_at: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            duration: 0.0,
            rto: None,
            steps: &[],
            exit_code: Some(exit),
        },
    );
    if let Err(error) = result {
        eprintln!("error: cannot write metrics to {}: {error}", path.display());
    }
}

pub fn resume(settings: &Settings, args: &ResumeArgs) -> Result<Exit, Error> {
    let prior = Prior::load(settings.audit_directory()?, &args.run_id)?;
    let templates = Templates::new(system_clock());
    let source = prior.source(&settings.catalog)?;
    let library = Library::load(&settings.catalog, &templates, vec![source]);
    prior.check_unchanged(&library.root().loaded.source.text, args.force)?;
    let mut prior = prior;
    if let Some(step) = &args.from {
        let Some(runbook) = library.root().runbook() else {
            return Err(Error::Invalid { errors: 1 });
        };
        prior.restart_from(runbook, step)?;
    }
    let run = RunSettings::resolve(settings, &args.flags, args.dry_run, false);
    let metrics = run.metrics_file.clone();
    start(settings, &templates, &library, &run, Some(&prior)).inspect_err(|error| {
        if let Some(runbook) = library.root().runbook() {
            not_started(metrics.as_deref(), &runbook.name, error);
        }
    })
}

fn start(
    settings: &Settings,
    templates: &Templates,
    library: &Library,
    run: &RunSettings,
    prior: Option<&Prior>,
) -> Result<Exit, Error> {
    let runbook = valid(settings, library)?;
    let mut resolved = preflight::check(library, run, prior)?;
    let ui = Ui::for_run(settings, run);
    let (runtime, interrupts) = Runtime::start()?;
    preflight::ask_missing(&runtime, &ui, &interrupts, runbook, run, &mut resolved)?;
    let identity = RunIdentity::new();
    if let Some(path) = &run.metrics_file {
        crate::metrics::check_writable(path).map_err(|error| Error::Metrics {
            path: path.clone(),
            error,
        })?;
    }
    let locks = take_locks(settings, templates, library, run, &identity, &resolved)?;
    // Secret params are known now; values derived from them join as the run computes
    // them. The record and the terminal mask with the same set.
    for (name, resolution) in &resolved {
        if let Resolution::Value(value) = resolution
            && runbook.param(name).is_some_and(|param| param.secret)
        {
            ui.output.add_secret(&value.text);
            warn_if_short(&ui, name, &value.text);
        }
    }
    let mut writer = open_record(settings, library, run, &identity, &resolved, prior)?;
    writer.0.set_masker(ui.output.shared_masker());
    ui.output.set_log(Box::new(writer.1));
    if let Some(prior) = prior {
        // What the interrupted run already undid: its `finally` steps ran, and run again
        // at the end of this one; steps marked `rerun_on_resume` set up again.
        let undone: Vec<&str> = runbook
            .finally_steps
            .iter()
            .filter(|step| prior.ran(&step.id))
            .map(|step| step.id.as_str())
            .collect();
        if !undone.is_empty() {
            let rerun: Vec<&str> = runbook
                .steps
                .iter()
                .filter(|step| step.rerun_on_resume && prior.ran(&step.id))
                .map(|step| step.id.as_str())
                .collect();
            let mut text = format!(
                "note: run {} already ran its `finally` steps ({}); they run again at the end",
                prior.run_id,
                undone.join(", ")
            );
            if rerun.is_empty() {
                text.push_str(
                    ". What they undid is not set up again: mark the steps that set it up `rerun_on_resume: true`",
                );
            } else {
                text.push_str(&format!(", and {} run again first", rerun.join(", ")));
            }
            ui.message(&format!("{text}\n"));
        }
    }
    if !run.dry_run {
        let banner = ui::summary::banner(
            &ui,
            runbook,
            &identity.id,
            &library.root().loaded.source.display_name(),
            prior.map(|prior| prior.run_id.as_str()),
        );
        // `-q` prints nothing on success: the banner goes to the log only, and a
        // failure's summary names the run.
        if settings.quiet {
            ui.output.log_note(&console::strip_ansi_codes(&banner));
        } else {
            ui.message(&banner);
        }
    }

    let options = run.options(
        prior.map(|prior| (prior.run_id.clone(), prior.done(runbook))),
        prior.map(Prior::since_first_start).unwrap_or_default(),
        settings.ssh_config.clone(),
    );
    let result = {
        let mut recorder = LockedRecorder {
            writer: &mut writer.0,
            locks: &locks,
        };
        let engine = Engine::new(
            templates,
            &ui,
            &options,
            interrupts,
            library,
            &mut recorder,
            runbook.rto.map(|rto| rto.0),
        )
        .with_locks(&locks)
        .before_notify(|result| crate::metrics::report(&ui, run, runbook, result));
        runtime.block_on(engine.run(Launch {
            identity: &identity,
            resolved: &resolved,
            prior,
        }))
    };
    drop(runtime);

    close_record(
        &ui,
        &mut writer.0,
        runbook,
        &result,
        options.since_first_start,
    );
    ui::summary::finish(settings, &ui, runbook, &identity.id, &result, run.format);
    // A preview with required params missing is not a preview of what would run: the
    // plan shows them as placeholders, and the exit says it is incomplete.
    if run.dry_run && !run.allow_missing {
        // A param read from the environment says which variable would do too.
        let missing: Vec<String> = resolved
            .iter()
            .filter(|(_, resolution)| matches!(resolution, Resolution::Missing))
            .map(
                |(name, _)| match runbook.param(name).and_then(|param| param.env.as_deref()) {
                    Some(env) => format!("{name} (or set ${env})"),
                    None => name.clone(),
                },
            )
            .collect();
        if !missing.is_empty() {
            ui.message(&ui.styles.error_message(
                &format!(
                    "required param{} not given: {} — give {} with `-p NAME=VALUE` (or preview anyway with --allow-missing)",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                ),
                None,
            ));
            return Ok(Exit::Invalid);
        }
    }
    // A probe that failed is where the real run would stop: the preview says so, and
    // exits as that run would.
    if let Some(plan) = &result.plan
        && !plan.probes_failed.is_empty()
    {
        ui.message(&ui.styles.error_message(
            &format!(
                "probe step{} failed: {} — a real run would stop there; the plan after it shows what would have run",
                if plan.probes_failed.len() == 1 { "" } else { "s" },
                plan.probes_failed.join(", "),
            ),
            None,
        ));
        return Ok(Exit::Failure);
    }
    // Sealed once finished and everything it printed is in its log (docs/audit.md,
    // "Sealed records"), when sealing is on.
    if let Some(audit) = writer.0.path().parent()
        && let Err(error) = crate::audit::seal::seal(audit, writer.0.path())
    {
        ui.message(
            &ui.styles
                .error_message(&format!("the record could not be sealed: {error}"), None),
        );
    }
    Ok(result.status.exit())
}

/// The runbook to run, once every diagnostic of it (and of what it includes) is shown.
fn valid<'l>(settings: &Settings, library: &'l Library) -> Result<&'l Runbook, Error> {
    let loaded = &library.root().loaded;
    let mut text = String::new();
    for diagnostic in &loaded.diagnostics {
        text.push_str(&diagnostic.render(&settings.stderr_styles));
        text.push('\n');
    }
    std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes())?;
    match (loaded.runbook(), loaded.error_count()) {
        (Some(runbook), 0) => Ok(runbook),
        (_, errors) => Err(Error::Invalid {
            errors: errors.max(1),
        }),
    }
}

/// The locks taken before anything runs (the runbook's, and the plain locks of what it
/// includes). A second run must be turned away before it writes anything. A lock is
/// released when its holder dies, however it dies; but a `kill -9` leaves the step it was
/// running behind, and the lock file names that step, so no run that takes the lock
/// races it either.
fn take_locks(
    settings: &Settings,
    templates: &Templates,
    library: &Library,
    run: &RunSettings,
    identity: &RunIdentity,
    resolved: &[(String, Resolution)],
) -> Result<Locks, Error> {
    let runbook = &library.root().loaded;
    let name = runbook
        .runbook()
        .map_or(runbook.source.stem.as_str(), |runbook| {
            runbook.name.as_str()
        });
    let holder = Holder {
        runbook: name.to_owned(),
        run_id: identity.id.clone(),
        user: identity.user.clone(),
        host: identity.host.clone(),
        pid: identity.pid,
        pid_start: identity.pid_start,
        started_at: identity.started_at.clone(),
        steps: Vec::new(),
    };
    let locks = Locks::new(settings.lock_directory.clone(), holder);
    if run.dry_run {
        return Ok(locks);
    }
    let names = preflight::locks(library, templates, resolved)
        .map_err(|message| Error::Lock(LockError::BadName(message)))?;
    locks.acquire(&names).map_err(Error::Lock)?;
    Ok(locks)
}

/// The audit record, telling the locks which steps run, so a lock file always names the
/// process groups its holder has running.
struct LockedRecorder<'a> {
    writer: &'a mut AuditWriter,
    locks: &'a Locks,
}

impl Recorder for LockedRecorder<'_> {
    fn record(&mut self, event: &Event) -> Result<(), RecordError> {
        match event {
            Event::ProcessStarted { step_id, pgid, .. } => self.locks.step_started(step_id, *pgid),
            Event::StepFinished { step_id, .. } => self.locks.step_ended(step_id),
            _ => {}
        }
        Recorder::record(self.writer, event)
    }

    fn sync(&mut self) -> Result<(), RecordError> {
        Recorder::sync(self.writer)
    }
}

/// A secret too short to search for in output (docs/runbook-format.md, "Secrets").
pub(crate) fn warn_if_short(ui: &Ui, name: &str, secret: &str) {
    let length = secret.chars().count();
    if length > 0 && length < crate::mask::MIN_MASKED_CHARS {
        ui.message(&ui.styles.warning_message(&format!(
            "secret `{name}` is shorter than {} characters: it is never stored, and shown as {} where it is known to be the value, but it cannot be masked in output",
            crate::mask::MIN_MASKED_CHARS,
            crate::mask::MASK
        )));
    }
}

/// Creates the record and its log, and writes `run_started`.
fn open_record(
    settings: &Settings,
    library: &Library,
    run: &RunSettings,
    identity: &RunIdentity,
    resolved: &[(String, Resolution)],
    prior: Option<&Prior>,
) -> Result<(AuditWriter, std::fs::File), Error> {
    let loaded = &library.root().loaded;
    let Some(runbook) = loaded.runbook() else {
        return Err(Error::Invalid { errors: 1 });
    };
    let files = AuditWriter::create(
        settings.audit_directory()?,
        &identity.stamp,
        &runbook.name,
        &identity.id,
    )
    .map_err(Error::Audit)?;
    let mut writer = files.writer;
    let params = resolved
        .iter()
        .map(|(name, resolution)| {
            let secret = runbook.param(name).is_some_and(|param| param.secret);
            let value = match resolution {
                Resolution::Value(_) if secret => crate::mask::MASK.into(),
                Resolution::Value(value) => value.text.clone().into(),
                Resolution::Missing => serde_json::Value::Null,
            };
            (name.clone(), value)
        })
        .collect();
    // An absolute path, so `resume` finds the file from any directory.
    let source = match &loaded.source.origin {
        Origin::File(path) => std::fs::canonicalize(path)
            .map(|path| path.display().to_string())
            .unwrap_or_else(|_| loaded.source.display_name()),
        Origin::Embedded => loaded.source.display_name(),
    };
    let started = RunStarted {
        runbook: runbook.name.clone(),
        title: runbook.title.clone(),
        source,
        sha256: sha256_hex(loaded.source.text.as_bytes()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        user: identity.user.clone(),
        host: identity.host.clone(),
        pid: identity.pid,
        pid_start: identity.pid_start,
        operator: run.operator.clone(),
        reason: run.reason.clone(),
        mode: match (prior, run.dry_run) {
            (Some(_), _) => Mode::Resume,
            (None, true) => Mode::DryRun,
            (None, false) => Mode::Run,
        },
        params,
        rto_seconds: runbook.rto.map(|rto| rto.as_secs()),
        first_started_at: prior.map(|prior| prior.first_started_at.clone()),
        resume_from: prior.and_then(|prior| prior.from.clone()),
        dry_run_preview: prior.is_some() && run.dry_run,
        resumes: prior.map(|prior| prior.run_id.clone()),
    };
    writer
        .write(&Event::RunStarted(Box::new(started)))
        .map_err(Error::Audit)?;
    Ok((writer, files.log))
}

/// Writes `run_finished`; a failure to do so is reported, not hidden.
fn close_record(
    ui: &Ui,
    writer: &mut AuditWriter,
    runbook: &Runbook,
    result: &RunResult,
    since_first_start: std::time::Duration,
) {
    let finished = RunFinished {
        status: result.status,
        exit_code: result.status.exit().code(),
        duration_ms: result.duration.as_millis() as u64,
        rto_seconds: runbook.rto.map(|rto| rto.as_secs()),
        // Of the RTO, from the chain's first start: the outage did not pause.
        rto_used: runbook.rto.map(|rto| {
            (result.duration + since_first_start).as_secs_f64() / rto.0.as_secs_f64().max(1.0)
        }),
    };
    if let Err(error) = writer.write(&Event::RunFinished(finished)) {
        ui.message(&ui.styles.error_message(&error.to_string(), None));
    }
}
