//! The step loop (docs/running.md, "The step loop"): for each step `when` → guards →
//! confirmation → run (with timeout and retries) → capture → expect; a failure stops
//! the run, then `on_failure`, then `finally` (always), then `notify`. Every event goes
//! to the recorder before the engine moves on. A dry-run walks the same loop but
//! describes instead of executing.

mod action;
mod confirm;
pub mod context;
mod describe;
pub mod error;
pub mod event;
mod flow;
mod notify;
pub mod params;
pub mod preflight;
mod prepare;
mod remote;
mod render;
pub mod resume;
pub mod runtime;
mod step;
#[cfg(test)]
mod tests;

pub use prepare::{run_values, runbook_fields};

use crate::engine::event::{Event, Recorder, RunStatus, StepStatus};
use crate::engine::params::Resolution;
use crate::engine::resume::Prior;
use crate::plan::Plan;
use crate::process::signals::{Interrupts, Signal};
use crate::runbook::{Runbook, Step};
use crate::settings::RunIdentity;
use crate::template::Templates;
use crate::ui::Ui;
use crate::ui::progress::Budget;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// What the operator asked for on the command line, resolved.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub probe: bool,
    pub yes: bool,
    pub approve: HashSet<String>,
    pub step_mode: bool,
    /// `-p` values, which also answer manual steps' inputs.
    pub given: BTreeMap<String, String>,
    pub grace: Duration,
    /// Resuming an earlier run: its id and how many of the main steps it completed.
    pub resume: Option<(String, usize)>,
    /// How long ago the first run of a chain of resumes started: the outage did not
    /// pause, so the RTO clock counts from there.
    pub since_first_start: Duration,
    /// `--ssh-config`: the OpenSSH client configuration for remote hosts.
    pub ssh_config: Option<std::path::PathBuf>,
    /// `--ssh-heartbeat`: how often a remote command's host hears from the run.
    pub ssh_heartbeat: Duration,
}

pub use crate::load::library::Library;

/// One step's row in the final summary.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SummaryRow {
    pub id: String,
    pub status: StepStatus,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The step's `metric:`: its name and the captured number.
    #[serde(skip)]
    pub metric: Option<(String, f64)>,
}

/// What running a list of steps (a runbook's main steps, or a group) came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Failed,
    /// Stop everything: declined, aborted or interrupted.
    Stop(RunStatus),
}

/// One runbook being executed: the top-level one, or an include.
#[derive(Clone)]
pub(crate) struct Frame<'r> {
    pub runbook: &'r Runbook,
    /// Environment exported to every step: params with `env:` and the runbook's `env`.
    pub exports: Vec<(String, String)>,
    /// `include-step/` chain, for `--approve parent/child` and display.
    pub path: String,
    /// The including step's counter (`11/20 › `), so nested steps show where they are.
    pub counter: String,
    pub depth: usize,
    /// The runbook's entry in the library, where its include steps were resolved.
    pub entry: usize,
    /// In `on_failure` or `finally` (here or in an including runbook): clean-up, which
    /// step mode never asks about.
    pub cleanup: bool,
    /// Whether `probe: true` steps may run in a dry-run: at the top level, and inside an
    /// include only when the include step itself is a probe.
    pub probes: bool,
}

pub struct Engine<'a> {
    pub templates: &'a Templates,
    pub ui: &'a Ui,
    pub options: &'a RunOptions,
    pub interrupts: Interrupts,
    pub library: &'a Library,
    recorder: RefCell<&'a mut dyn Recorder>,
    pub budget: Option<Budget>,
    summary: RefCell<Vec<SummaryRow>>,
    /// Set once the run must stop (declined, interrupted, recorder failure).
    stop: Cell<Option<RunStatus>>,
    /// Confirmations already given for the children of a parallel group.
    preapproved: RefCell<HashSet<String>>,
    pub(crate) started: Instant,
    /// The run's locks: an included runbook's templated lock is taken when its include
    /// step starts.
    pub(crate) locks: Option<&'a crate::lock::Locks>,
    /// Vars the run being resumed computed, by scope + name: replayed, not computed
    /// again.
    pub(crate) replayed: RefCell<std::collections::BTreeMap<String, String>>,
    /// The run's ssh master connections, one per destination, closed at the end.
    pub(crate) connections: crate::process::remote::Connections,
    /// Called with the run's result once its steps are done and before the notify hooks
    /// run: the metrics are then on disk for a hook that pushes them.
    before_notify: Option<BeforeNotify<'a>>,
}

/// What runs between the last step and the notify hooks.
type BeforeNotify<'a> = Box<dyn Fn(&RunResult) + 'a>;

/// The result of a whole run.
pub struct RunResult {
    pub status: RunStatus,
    pub summary: Vec<SummaryRow>,
    pub duration: Duration,
    pub plan: Option<Plan>,
}

/// What the engine is asked to run: the library's root runbook with its resolved params,
/// as this run, possibly continuing an earlier one.
pub struct Launch<'r> {
    pub identity: &'r RunIdentity,
    pub resolved: &'r [(String, Resolution)],
    pub prior: Option<&'r Prior>,
}

impl<'a> Engine<'a> {
    pub fn new(
        templates: &'a Templates,
        ui: &'a Ui,
        options: &'a RunOptions,
        interrupts: Interrupts,
        library: &'a Library,
        recorder: &'a mut dyn Recorder,
        rto: Option<Duration>,
    ) -> Engine<'a> {
        let started = Instant::now();
        Engine {
            templates,
            ui,
            options,
            interrupts,
            library,
            recorder: RefCell::new(recorder),
            budget: rto.map(|rto| Budget {
                started: started
                    .checked_sub(options.since_first_start)
                    .unwrap_or(started),
                rto,
            }),
            summary: RefCell::new(Vec::new()),
            stop: Cell::new(None),
            preapproved: RefCell::new(HashSet::new()),
            started,
            locks: None,
            replayed: RefCell::new(std::collections::BTreeMap::new()),
            connections: crate::process::remote::Connections::new(options.ssh_config.clone()),
            before_notify: None,
        }
    }

    /// Sets what runs between the last step and the notify hooks (the metrics).
    pub fn before_notify(mut self, hook: impl Fn(&RunResult) + 'a) -> Engine<'a> {
        self.before_notify = Some(Box::new(hook));
        self
    }

    /// The locks the run holds, so included runbooks can take theirs.
    pub fn with_locks(mut self, locks: &'a crate::lock::Locks) -> Engine<'a> {
        self.locks = Some(locks);
        self
    }

    /// Runs (or, in a dry-run, describes) the library's root runbook: prepares its
    /// context, restores what a resumed run already did, then the step loop.
    pub async fn run(&self, launch: Launch<'_>) -> RunResult {
        let root = self.library.root_index();
        let Some(runbook) = self.library.entry(root).runbook() else {
            return self.result(RunStatus::Failure, None);
        };
        let run = run_values(launch.identity, self.options.dry_run);
        if let Some(prior) = launch.prior {
            self.replayed.borrow_mut().clone_from(&prior.vars);
        }
        let (mut context, exports) = match self.prepare(runbook, &run, launch.resolved, "") {
            Ok(prepared) => prepared,
            Err(error) => {
                self.report(root, None, &error);
                return self.result(RunStatus::Failure, None);
            }
        };
        if let (Some(prior), Some((_, done))) = (launch.prior, &self.options.resume) {
            prior.restore(runbook, *done, &mut context);
        }
        let frame = Frame {
            runbook,
            exports,
            path: String::new(),
            counter: String::new(),
            depth: 0,
            entry: root,
            cleanup: false,
            probes: true,
        };
        let mut plan = self.options.dry_run.then(|| Plan {
            runbook: runbook.name.clone(),
            title: runbook.title.clone(),
            params: prepare::plan_params(runbook, launch.resolved),
            ..Plan::default()
        });
        let status = self.run_frame(&frame, &mut context, plan.as_mut()).await;
        if !self.options.dry_run {
            if let Some(hook) = &self.before_notify {
                hook(&RunResult {
                    status,
                    summary: self.summary_rows(status),
                    duration: self.started.elapsed(),
                    plan: None,
                });
            }
            self.notify(runbook, &frame, &mut context, status).await;
        }
        self.connections.close().await;
        if self.options.dry_run
            && let Some(plan) = plan.as_mut()
        {
            for notify in &runbook.notify {
                plan.notify
                    .push(self.describe_notify(runbook, notify, &context));
            }
            plan.finish();
        }
        self.result(status, plan)
    }

    /// The result of the run so far. The summary also names the main steps that were
    /// never reached: at 3 a.m. the question is what is left to do.
    fn result(&self, status: RunStatus, plan: Option<Plan>) -> RunResult {
        let summary = self.summary_rows(status);
        self.summary.take();
        RunResult {
            status,
            summary,
            duration: self.started.elapsed(),
            plan,
        }
    }

    /// The summary so far, with the main steps never reached as `not run`.
    fn summary_rows(&self, status: RunStatus) -> Vec<SummaryRow> {
        let mut summary = self.summary.borrow().clone();
        if !self.options.dry_run
            && status != RunStatus::Success
            && let Some(runbook) = self.library.root().runbook()
        {
            for step in &runbook.steps {
                if !summary.iter().any(|row| row.id == step.id) {
                    summary.push(SummaryRow {
                        id: step.id.clone(),
                        status: StepStatus::NotRun,
                        duration_ms: 0,
                        reason: None,
                        metric: None,
                    });
                }
            }
        }
        summary
    }

    /// Records an event; if it cannot be recorded the run stops before going further.
    pub(crate) fn record(&self, event: Event) -> bool {
        match self.recorder.borrow_mut().record(&event) {
            Ok(()) => true,
            Err(error) => {
                self.ui.message(&format!(
                    "{}: cannot record the run ({error}); stopping before anything else runs\n",
                    self.ui.styles.error.apply_to("error")
                ));
                self.stop.set(Some(RunStatus::Failure));
                false
            }
        }
    }

    /// Makes everything recorded so far durable before the run waits for a person: an
    /// event must not sit unsynced for as long as someone takes to answer.
    pub(crate) fn sync_record(&self) {
        if let Err(error) = self.recorder.borrow_mut().sync() {
            self.ui.message(&format!(
                "{}: cannot record the run ({error}); stopping before anything else runs\n",
                self.ui.styles.error.apply_to("error")
            ));
            self.stop.set(Some(RunStatus::Failure));
        }
    }

    pub(crate) fn push_summary(&self, row: SummaryRow) {
        self.summary.borrow_mut().push(row);
    }

    pub(crate) fn stop_with(&self, status: RunStatus) {
        if self.stop.get().is_none() {
            self.stop.set(Some(status));
        }
    }

    /// Whether a question can be asked: a terminal, and it has not hung up.
    pub(crate) fn can_ask(&self) -> bool {
        self.ui.interactive && !self.interrupts.hung_up()
    }

    /// The run status a signal maps to.
    pub(crate) fn interrupted_status(&self) -> RunStatus {
        match self.interrupts.first() {
            Some(Signal::Terminate) => RunStatus::Terminated,
            Some(Signal::HangUp) => RunStatus::HangUp,
            Some(Signal::Interrupt) | None => RunStatus::Interrupted,
        }
    }

    pub(crate) fn skip(&self, frame: &Frame<'_>, step: &Step, reason: &str) {
        let id = qualified(frame, &step.id);
        self.record(Event::StepFinished {
            step_id: id.clone(),
            status: StepStatus::Skipped,
            exit_code: None,
            attempts: 0,
            duration_ms: 0,
            wait_ms: None,
            log: None,
            log_sha256: None,
            capture: None,
            reason: Some(reason.to_owned()),
            members: Vec::new(),
        });
        self.push_summary(SummaryRow {
            id,
            status: StepStatus::Skipped,
            duration_ms: 0,
            reason: Some(reason.to_owned()),
            metric: None,
        });
    }
}

/// The id a step is known by in approvals, the audit log and summaries.
pub(crate) fn qualified(frame: &Frame<'_>, id: &str) -> String {
    format!("{}{id}", frame.path)
}
