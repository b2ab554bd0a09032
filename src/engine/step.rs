//! Executing one step: `when`, step mode, guards, confirmation, then its action (a shell
//! command with retries and timeout, a manual instruction with inputs, an include, or a
//! parallel group), then capture and expectations.

use super::{Engine, Flow, Frame, SummaryRow, qualified};
use crate::engine::context::Context;
use crate::engine::error::RunError;
use crate::engine::event::{Approval, Event, RunStatus, StepStatus};
use crate::engine::remote::{MemberResult, Script};
use crate::process::shell::Ended;
use crate::runbook::{Action, GuardCheck, Step};
use crate::ui::prompt::NoAnswer;
use std::path::PathBuf;
use std::time::Instant;

/// How a step's action ended.
pub(crate) struct Outcome {
    pub(crate) status: StepStatus,
    pub(crate) exit_code: Option<i32>,
    pub(crate) attempts: u32,
    pub(crate) reason: Option<String>,
    pub(crate) capture: Option<String>,
    /// The whole run must stop with this status.
    pub(crate) stop: Option<RunStatus>,
    /// A template or expression of the step failed: shown located when the step ends.
    pub(crate) error: Option<RunError>,
    /// On a remote host: how the command ended on each destination.
    pub(crate) members: Vec<crate::engine::event::MemberExit>,
    /// The step's `metric:` and the number it captured.
    pub(crate) metric: Option<Box<(String, f64)>>,
}

impl Outcome {
    pub(crate) fn ok() -> Outcome {
        Outcome {
            status: StepStatus::Ok,
            exit_code: None,
            attempts: 1,
            reason: None,
            capture: None,
            stop: None,
            error: None,
            members: Vec::new(),
            metric: None,
        }
    }

    pub(crate) fn error(error: RunError) -> Outcome {
        Outcome {
            error: Some(error.clone()),
            ..Outcome::failed(error.to_string())
        }
    }

    pub(crate) fn failed(reason: impl Into<String>) -> Outcome {
        Outcome {
            status: StepStatus::Failed,
            reason: Some(reason.into()),
            ..Outcome::ok()
        }
    }

    pub(crate) fn stopped(
        status: StepStatus,
        run: RunStatus,
        reason: impl Into<String>,
    ) -> Outcome {
        Outcome {
            status,
            reason: Some(reason.into()),
            stop: Some(run),
            attempts: 0,
            ..Outcome::ok()
        }
    }
}

/// The answer to "may this step run?".
pub(crate) enum Decision {
    Approved(Approval),
    Declined,
    /// Cannot ask (no terminal) and nothing on the command line approves it.
    Impossible(String),
    Interrupted,
}

impl Engine<'_> {
    pub(crate) async fn step(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        counter: &str,
    ) -> Flow {
        let id = qualified(frame, &step.id);
        let started = (
            Instant::now(),
            self.ui.waited(),
            self.ui.output.log_position(),
            self.ui.output.begin_mark(),
        );
        let name = match &step.name {
            // Masked here, once: the name goes to the progress line, the log, the
            // record and the JSON summary.
            Some(name) => self.mask(
                &self
                    .render(name, context)
                    .unwrap_or_else(|_| name.text.clone()),
            ),
            None => step.id.clone(),
        };
        if let Some(when) = &step.when {
            match self.eval(when, context) {
                Ok(true) => {}
                Ok(false) => {
                    let line = self.show_start(frame, counter, &id, &name);
                    let reason = format!("when: {}", when.text.trim());
                    if let Some(text) = self.ui.progress.finish(
                        line,
                        StepStatus::Skipped,
                        Some(&reason),
                        &self.ui.styles,
                    ) {
                        self.ui.message(&text);
                    }
                    self.skip(frame, step, &reason);
                    context.set_step_result(&step.id, StepStatus::Skipped, None, 0, 0.0);
                    return Flow::Continue;
                }
                Err(error) => {
                    let outcome = Outcome::error(error);
                    return self.finish(frame, step, context, outcome, started, None);
                }
            }
        }
        // Step mode asks about the procedure's own steps; clean-up (`on_failure` and
        // `finally`, at any depth, parallel children included) always runs.
        if self.options.step_mode && !frame.cleanup {
            match self.ask_step_mode(&id, &name, counter).await {
                StepChoice::Run => {}
                StepChoice::Skip => {
                    self.ui.message(&format!("    skipped {id} (step mode)\n"));
                    self.skip(frame, step, "skipped in step mode");
                    context.set_step_result(&step.id, StepStatus::Skipped, None, 0, 0.0);
                    return Flow::Continue;
                }
                StepChoice::Abort(status) => {
                    let outcome =
                        Outcome::stopped(StepStatus::Declined, status, "aborted by the operator");
                    return self.finish(frame, step, context, outcome, started, None);
                }
            }
        }

        let line = self.show_start(frame, counter, &id, &name);
        // `-q`: the step's output is held back, and shown only if it fails.
        let hold =
            matches!(self.ui.progress, crate::ui::progress::Progress::Quiet).then_some(started.3);
        if let Some(hold) = hold {
            self.ui.output.hold(hold);
        }
        let outcome = self.guarded(frame, step, context, &id, counter, hold).await;
        self.finish(frame, step, context, outcome, started, Some(line))
    }

    /// Shows a step as started; nested steps (includes, parallel groups) name themselves
    /// again when they end.
    fn show_start(
        &self,
        frame: &Frame<'_>,
        counter: &str,
        id: &str,
        name: &str,
    ) -> crate::ui::progress::StepLine {
        let nested = frame.depth > 0 || counter.contains('›');
        let (line, text) =
            self.ui
                .progress
                .start(counter, id, name, nested, self.budget, &self.ui.styles);
        if let Some(text) = text {
            self.ui.message(&text);
        }
        line
    }

    /// Guards, confirmation and the action itself.
    async fn guarded(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        id: &str,
        counter: &str,
        hold: Option<u64>,
    ) -> Outcome {
        for guard in &step.require {
            if let Some(outcome) = self
                .check_guard(frame, step, guard, context, id, hold)
                .await
            {
                return outcome;
            }
        }
        let command = match &step.action {
            Action::Run { command } => match self.render(command, context) {
                Ok(command) => Some(command),
                Err(error) => return Outcome::error(error),
            },
            Action::Manual { .. } | Action::Include { .. } | Action::Parallel(_) => None,
        };
        if let Some(confirm) = &step.confirm {
            match self
                .confirm(step, confirm, context, id, command.as_deref())
                .await
            {
                Ok(()) => {}
                Err(outcome) => return outcome,
            }
        }
        match &step.action {
            Action::Run { .. } => {
                self.run_command(frame, step, context, id, command.unwrap_or_default(), hold)
                    .await
            }
            Action::Manual {
                instructions,
                input,
            } => self.manual(step, context, id, instructions, input).await,
            Action::Include { runbook, with, .. } => {
                self.include(frame, step, context, runbook, with, counter)
                    .await
            }
            Action::Parallel(children) => self.parallel(frame, step, context, children).await,
        }
    }

    async fn check_guard(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        guard: &crate::runbook::Guard,
        context: &Context,
        id: &str,
        hold: Option<u64>,
    ) -> Option<Outcome> {
        let message = guard.message.as_ref().map(|message| {
            self.render(message, context)
                .unwrap_or_else(|_| message.text.clone())
        });
        let (description, passed) = match &guard.check {
            GuardCheck::Expr(expr) => match self.eval(expr, context) {
                Ok(value) => (expr.text.trim().to_owned(), value),
                Err(error) => return Some(Outcome::error(error)),
            },
            GuardCheck::Command(command) => {
                let rendered = match self.render(command, context) {
                    Ok(rendered) => rendered,
                    Err(error) => return Some(Outcome::error(error)),
                };
                let env = match self.step_env(frame, step, context) {
                    Ok(env) => env,
                    Err(error) => return Some(Outcome::error(error)),
                };
                let workdir = match self.workdir(step, context) {
                    Ok(workdir) => workdir,
                    Err(error) => return Some(Outcome::error(error)),
                };
                let host = guard.host.as_ref().or(step.host.as_ref());
                let target = match self.target(frame.runbook, host, context) {
                    Ok(target) => target,
                    Err(error) => return Some(Outcome::error(error)),
                };
                let connected = self.connect(&target).await;
                self.connect_help(&connected);
                let results = self
                    .execute(
                        &target,
                        &connected,
                        &Script {
                            shell: step.shell.as_deref().unwrap_or(&frame.runbook.shell),
                            script: &rendered,
                            env: &env,
                            // The step's directory is on the step's host.
                            workdir: workdir.as_deref().filter(|_| guard.host.is_none()),
                            interactive: false,
                            timeout: step.timeout.map(|timeout| timeout.0),
                            capture: false,
                            on_spawn: None,
                            hold,
                        },
                    )
                    .await;
                if results
                    .iter()
                    .any(|result| result.ended() == Some(Ended::Interrupted))
                {
                    let status = self.interrupted_status();
                    return Some(Outcome::stopped(
                        StepStatus::Interrupted,
                        status,
                        "interrupted",
                    ));
                }
                let mut description = format!("$ {}", self.mask(rendered.trim()));
                if let Some(on) = target.describe() {
                    description.push_str(&format!("  (on {on})"));
                }
                // A guard that could not run at all is not "false": say why.
                if let Some(reason) = results.iter().find_map(|result| match &result.result {
                    Err(reason) => Some(reason.clone()),
                    Ok(finished) if finished.ended == Ended::ConnectionLost => {
                        self.member_reason(&target, result)
                    }
                    Ok(_) => None,
                }) {
                    return Some(Outcome::failed(
                        self.mask(&format!("the guard could not run: {reason}")),
                    ));
                }
                (description, results.iter().all(MemberResult::succeeded))
            }
        };
        if !self.record(Event::Guard {
            step_id: id.to_owned(),
            check: description.clone(),
            passed,
            message: message.clone(),
        }) {
            return Some(Outcome::failed("the audit record could not be written"));
        }
        if passed {
            return None;
        }
        let reason = match message {
            Some(message) => format!("guard failed: {message}"),
            None => format!("guard failed: {description}"),
        };
        Some(Outcome::failed(self.mask(&reason)))
    }

    /// Records the end of a step and turns its outcome into what the loop does next.
    fn finish(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        outcome: Outcome,
        started: (Instant, std::time::Duration, u64, u64),
        line: Option<crate::ui::progress::StepLine>,
    ) -> Flow {
        let id = qualified(frame, &step.id);
        // Time spent waiting for the operator (a confirmation, an input) is recorded
        // apart; the step's duration is the work.
        let waited = self.ui.waited().saturating_sub(started.1);
        let duration = started.0.elapsed().saturating_sub(waited);
        // `-q`: a failed step's output, held back until now, comes before its line.
        match outcome.status {
            StepStatus::Ok | StepStatus::Skipped => self.ui.output.discard(started.3),
            StepStatus::Failed
            | StepStatus::Declined
            | StepStatus::Interrupted
            | StepStatus::NotRun => self.ui.output.release(
                started.3,
                &id,
                &format!("==> {id}: its output (held back by -q)\n"),
            ),
        }
        if let Some(error) = &outcome.error {
            self.report(frame.entry, Some(&id), error);
        }
        if let Some(line) = line
            && let Some(text) = self.ui.progress.finish(
                line,
                outcome.status,
                outcome.reason.as_deref(),
                &self.ui.styles,
            )
        {
            self.ui.message(&text);
        }
        self.record(Event::StepFinished {
            step_id: id.clone(),
            status: outcome.status,
            exit_code: outcome.exit_code,
            attempts: outcome.attempts,
            duration_ms: duration.as_millis() as u64,
            wait_ms: (!waited.is_zero()).then_some(waited.as_millis() as u64),
            log: Some((started.2, self.ui.output.log_position())),
            log_sha256: self.ui.output.end_mark(started.3),
            capture: outcome.capture.clone(),
            reason: outcome.reason.clone(),
            members: outcome.members.clone(),
        });
        self.push_summary(SummaryRow {
            id,
            status: outcome.status,
            duration_ms: duration.as_millis() as u64,
            reason: outcome.reason.clone(),
            metric: outcome.metric.as_deref().cloned(),
        });
        context.set_step_result(
            &step.id,
            outcome.status,
            outcome.exit_code,
            outcome.attempts,
            duration.as_secs_f64(),
        );
        if let Some(status) = outcome.stop {
            self.stop_with(status);
            return Flow::Stop(status);
        }
        match outcome.status {
            StepStatus::Failed => Flow::Failed,
            StepStatus::Ok
            | StepStatus::Skipped
            | StepStatus::Declined
            | StepStatus::Interrupted
            | StepStatus::NotRun => Flow::Continue,
        }
    }

    /// The environment of a step's command: the runbook's exports, then the step's own.
    pub(crate) fn step_env(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &Context,
    ) -> Result<Vec<(String, String)>, RunError> {
        let mut env = frame.exports.clone();
        for variable in &step.env {
            let value = self.render(&variable.value, context)?;
            env.push((variable.name.clone(), value));
        }
        Ok(env)
    }

    /// The step's working directory, rendered.
    pub(crate) fn workdir(
        &self,
        step: &Step,
        context: &Context,
    ) -> Result<Option<PathBuf>, RunError> {
        step.workdir
            .as_ref()
            .map(|workdir| self.render(workdir, context).map(PathBuf::from))
            .transpose()
    }

    async fn ask_step_mode(&self, id: &str, name: &str, counter: &str) -> StepChoice {
        if !self.can_ask() {
            return StepChoice::Run;
        }
        self.sync_record();
        loop {
            let question = format!("\n[{counter}] {id} ({name}) — [r]un, [s]kip or [a]bort? ");
            match self.ui.ask(&question, &self.interrupts, false).await {
                Ok(answer) => match answer.trim().to_ascii_lowercase().as_str() {
                    "r" | "run" | "" => return StepChoice::Run,
                    "s" | "skip" => return StepChoice::Skip,
                    "a" | "abort" => return StepChoice::Abort(RunStatus::Aborted),
                    _ => continue,
                },
                Err(NoAnswer::Interrupted) => return StepChoice::Abort(self.interrupted_status()),
                Err(NoAnswer::Closed | NoAnswer::Aborted) => {
                    return StepChoice::Abort(RunStatus::Aborted);
                }
            }
        }
    }
}

enum StepChoice {
    Run,
    Skip,
    Abort(RunStatus),
}
