//! Continuing an earlier run (docs/audit.md, "Resume"): read its record as typed events,
//! refuse when continuing would be wrong (a dry-run, a finished or already resumed run,
//! its process or its step still alive, a changed runbook), and give the engine what it
//! restores — the results, captures and inputs of the main steps that were done.

use crate::audit::event::{Event, Mode, StepStatus};
use crate::audit::record::Record;
use crate::audit::{self, AuditError};
use crate::engine::context::Context;
use crate::error::Error;
use crate::load::source::{Catalog, Source};
use crate::process;
use crate::runbook::{Action, Runbook, Step};
use minijinja::value::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What a run's record says, as far as resuming it needs.
#[derive(Clone, Debug)]
pub struct Prior {
    pub run_id: String,
    pub runbook: String,
    pub source: String,
    pub sha256: String,
    pub mode: Mode,
    pub status: &'static str,
    /// Non-secret param values of that run.
    pub params: BTreeMap<String, String>,
    /// The last `step_finished` of each step: status and (masked) capture.
    finished: BTreeMap<String, (StepStatus, Option<String>)>,
    /// Inputs answered, by name (masked when secret).
    inputs: BTreeMap<String, String>,
    /// Vars as computed, by `scope` + name (masked when derived from a secret).
    pub vars: BTreeMap<String, String>,
    /// Steps that started a process and never finished (several in a parallel group).
    pub running: Vec<Running>,
    /// The pid of the `runbook` process that made the record, and its start time.
    pub pid: u32,
    pub pid_start: Option<u64>,
    /// When the first run of the chain of resumes this run belongs to started.
    pub first_started_at: String,
    /// `resume --from STEP`: restart at that main step.
    pub from: Option<String>,
}

/// A step's process group, as recorded when it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub step_id: String,
    pub pgid: u32,
    pub leader_start: Option<u64>,
}

impl Prior {
    /// How long ago the chain's first run started (zero when unknown).
    pub fn since_first_start(&self) -> std::time::Duration {
        chrono::DateTime::parse_from_rfc3339(&self.first_started_at)
            .ok()
            .and_then(|first| {
                (chrono::Utc::now() - first.with_timezone(&chrono::Utc))
                    .to_std()
                    .ok()
            })
            .unwrap_or_default()
    }

    pub fn from_record(record: &Record) -> Option<Prior> {
        let (_, started) = record.started()?;
        let params = started
            .params
            .iter()
            .filter_map(|(name, value)| {
                value.as_str().map(|value| (name.clone(), value.to_owned()))
            })
            .filter(|(_, value)| value != crate::mask::MASK)
            .collect();
        let mut finished = BTreeMap::new();
        let mut inputs = BTreeMap::new();
        let mut vars = BTreeMap::new();
        let mut running: Vec<Running> = Vec::new();
        for entry in &record.entries {
            match &entry.event {
                Event::StepFinished {
                    step_id,
                    status,
                    capture,
                    ..
                } => {
                    running.retain(|process| process.step_id != *step_id);
                    finished.insert(step_id.clone(), (*status, capture.clone()));
                }
                Event::ProcessStarted {
                    step_id,
                    pgid,
                    leader_start,
                } => {
                    running.retain(|process| process.step_id != *step_id);
                    running.push(Running {
                        step_id: step_id.clone(),
                        pgid: *pgid,
                        leader_start: *leader_start,
                    });
                }
                Event::Input { name, value, .. } => {
                    inputs.insert(name.clone(), value.clone());
                }
                Event::Var { scope, name, value } => {
                    vars.insert(format!("{scope}{name}"), value.clone());
                }
                Event::RunStarted(_)
                | Event::StepStarted { .. }
                | Event::Guard { .. }
                | Event::Confirmation { .. }
                | Event::RunFinished(_) => {}
            }
        }
        Some(Prior {
            run_id: record.run_id.clone(),
            runbook: started.runbook.clone(),
            source: started.source.clone(),
            sha256: started.sha256.clone(),
            mode: started.mode,
            status: record.status(),
            params,
            finished,
            inputs,
            vars,
            running,
            pid: started.pid,
            pid_start: started.pid_start,
            first_started_at: started
                .first_started_at
                .clone()
                .or_else(|| record.entries.first().map(|entry| entry.ts.clone()))
                .unwrap_or_default(),
            from: None,
        })
    }

    /// Reads the record of `run_id` and refuses what must not be resumed.
    pub fn load(directory: &Path, run_id: &str) -> Result<Prior, Error> {
        let path = audit::find_record(directory, run_id).map_err(Error::Audit)?;
        // What a resume replays must be what the run recorded: a record that fails
        // `audit verify` is not acted on (an edited `failed` → `ok` would skip a step).
        match crate::audit::verify::verify(&path) {
            crate::audit::verify::Verdict::Tampered { line, problem } => {
                return Err(Error::Resume {
                    message: format!(
                        "the record of run {run_id} fails `audit verify`: line {line} {problem}"
                    ),
                    help: Some(
                        "a record that was changed cannot be replayed; investigate it, and start a new run"
                            .to_owned(),
                    ),
                });
            }
            crate::audit::verify::Verdict::Cut { events } => {
                return Err(Error::Resume {
                    message: format!(
                        "the record of run {run_id} is cut short after {events} events (a full disk or a crash while writing)"
                    ),
                    help: Some("start a new run; the record up to the cut is intact (`runbook audit show`)".to_owned()),
                });
            }
            crate::audit::verify::Verdict::Intact { .. }
            | crate::audit::verify::Verdict::Incomplete { .. } => {}
        }
        let record = Record::read(&path).map_err(|error| {
            Error::Audit(AuditError::Io {
                path: path.clone(),
                error,
            })
        })?;
        let refuse = |message: String, help: Option<String>| Err(Error::Resume { message, help });
        let Some(prior) = Prior::from_record(&record) else {
            return refuse(
                format!("the record {} has no run_started event", path.display()),
                None,
            );
        };
        if prior.mode == Mode::DryRun {
            return refuse(
                format!(
                    "run {} was a dry-run; there is nothing to resume",
                    prior.run_id
                ),
                Some(format!(
                    "start it for real with `runbook run {}`",
                    prior.runbook
                )),
            );
        }
        // A run is continued once; a later resume continues the latest link of the chain.
        if let Some(successor) = audit::record_files(directory)
            .iter()
            .filter_map(|path| Record::read(path).ok())
            .find(|record| {
                // A `resume --dry-run` previewed; it continued nothing.
                record.started().is_some_and(|(_, started)| {
                    started.resumes.as_deref() == Some(prior.run_id.as_str())
                        && !started.dry_run_preview
                })
            })
        {
            return refuse(
                format!(
                    "run {} was already resumed by run {} ({})",
                    prior.run_id,
                    successor.run_id,
                    successor.status()
                ),
                Some(format!(
                    "resume run {} instead, if it did not finish",
                    successor.run_id
                )),
            );
        }
        if prior.status == "success" {
            return refuse(
                format!(
                    "run {} finished successfully; there is nothing to resume",
                    prior.run_id
                ),
                None,
            );
        }
        tracing::debug!(running = ?prior.running, pid = prior.pid, "resume: the interrupted run");
        if process::process_alive(prior.pid, prior.pid_start) {
            return refuse(
                format!("run {} is still going (pid {})", prior.run_id, prior.pid),
                Some(
                    "wait for it to end, or stop it (Ctrl-C or `kill` lets it run its `finally`)"
                        .to_owned(),
                ),
            );
        }
        if let Some(process) = prior
            .running
            .iter()
            .find(|process| process::group_alive_since(process.pgid, process.leader_start))
        {
            return refuse(
                format!(
                    "step `{}` of run {} is still running (process group {})",
                    process.step_id, prior.run_id, process.pgid
                ),
                Some(format!(
                    "a resumed run must not race the old one: stop it first (`kill -TERM -- -{}`)",
                    process.pgid
                )),
            );
        }
        Ok(prior)
    }

    /// The text to run again: the same built-in runbook, or the same file when it is
    /// still there (a runbook of the same name in `./runbooks` must not stand in for
    /// either), else the same name along the search path (the checksum then says
    /// whether it is the same procedure).
    pub fn source(&self, catalog: &Catalog) -> Result<Source, Error> {
        if self.source.starts_with("embedded:") {
            return crate::load::source::embedded(&self.runbook).ok_or_else(|| Error::Resume {
                message: format!(
                    "run {} ran the built-in runbook `{}`, which this version does not have",
                    self.run_id, self.runbook
                ),
                help: Some("resume it with the version of runbook that started it".to_owned()),
            });
        }
        let path = Path::new(&self.source);
        if path.is_file() {
            return Ok(Source::read(path)?);
        }
        Ok(catalog.find(&self.runbook)?)
    }

    /// Refuses a runbook whose text changed since the run, unless forced.
    pub fn check_unchanged(&self, text: &str, force: bool) -> Result<(), Error> {
        let current = audit::sha256_hex(text.as_bytes());
        if current == self.sha256 || force {
            return Ok(());
        }
        Err(Error::Resume {
            message: format!(
                "runbook `{}` changed since run {} ({} now, {} then)",
                self.runbook,
                self.run_id,
                &current[..12],
                &self.sha256[..self.sha256.len().min(12)]
            ),
            help: Some("check the change, then resume with --force, or start a new run".to_owned()),
        })
    }

    /// Whether the run finished step `step_id` (whatever its status).
    pub fn ran(&self, step_id: &str) -> bool {
        self.finished.contains_key(step_id)
    }

    /// How many main steps are done (ok or skipped, with a restorable capture), or
    /// where `--from` restarts.
    pub fn done(&self, runbook: &Runbook) -> usize {
        let done = runbook
            .steps
            .iter()
            .position(|step| !self.is_done(step))
            .unwrap_or(runbook.steps.len());
        match &self.from {
            Some(from) => runbook
                .steps
                .iter()
                .position(|step| step.id == *from)
                .map_or(done, |index| index.min(done)),
            None => done,
        }
    }

    /// `resume --from STEP`: run again from an earlier main step.
    pub fn restart_from(&mut self, runbook: &Runbook, step: &str) -> Result<(), Error> {
        let Some(index) = runbook
            .steps
            .iter()
            .position(|candidate| candidate.id == step)
        else {
            let ids: Vec<&str> = runbook.steps.iter().map(|step| step.id.as_str()).collect();
            return Err(Error::Resume {
                message: format!("`{step}` is not a main step of `{}`", runbook.name),
                help: Some(format!("main steps: {}", ids.join(", "))),
            });
        };
        let done = self.done(runbook);
        if index > done {
            return Err(Error::Resume {
                message: format!(
                    "run {} stopped before `{step}` (at step {} of {}); `--from` restarts at an earlier step",
                    self.run_id,
                    done + 1,
                    runbook.steps.len()
                ),
                help: Some("resume without --from to continue where it stopped".to_owned()),
            });
        }
        self.from = Some(step.to_owned());
        Ok(())
    }

    fn is_done(&self, step: &Step) -> bool {
        let Some((status, capture)) = self.finished.get(&step.id) else {
            return false;
        };
        let finished = matches!(status, StepStatus::Ok | StepStatus::Skipped);
        // A masked capture cannot be restored, so its step runs again.
        let capture_lost = step.capture.is_some()
            && *status == StepStatus::Ok
            && capture
                .as_deref()
                .is_none_or(|capture| capture.contains(crate::mask::MASK));
        finished && !capture_lost && !secret_input(step)
    }

    /// Puts the captures, inputs and step results of the done steps back in the context.
    pub fn restore(&self, runbook: &Runbook, done: usize, context: &mut Context) {
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
            context.set_step_result(&step.id, *status, None, 0, 0.0);
        }
    }
}

/// A manual step whose secret input was masked in the record must be asked again, so it
/// is not counted as done.
fn secret_input(step: &Step) -> bool {
    match &step.action {
        Action::Manual { input, .. } => input.iter().any(|param| param.secret),
        Action::Run { .. } | Action::Include { .. } | Action::Parallel(_) => false,
    }
}
