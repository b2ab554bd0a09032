//! Executing one step: `when`, step mode, guards, confirmation, then its action (a shell
//! command with retries and timeout, a manual instruction with inputs, an include, or a
//! parallel group), then capture and expectations.

use super::{Engine, Flow, Frame, SummaryRow, qualified};
use crate::engine::context::Context;
use crate::engine::error::RunError;
use crate::engine::event::{Approval, Event, RunStatus, StepStatus};
use crate::engine::params::{self, Resolution};
use crate::process::Program;
use crate::process::shell::{self, Ended, ShellCommand};
use crate::runbook::{Action, Confirm, ConfirmPolicy, GuardCheck, Notify, Param, Step};
use crate::ui::prompt::NoAnswer;
use minijinja::value::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How a step's action ended.
struct Outcome {
    status: StepStatus,
    exit_code: Option<i32>,
    attempts: u32,
    reason: Option<String>,
    capture: Option<String>,
    /// The whole run must stop with this status.
    stop: Option<RunStatus>,
    /// A template or expression of the step failed: shown located when the step ends.
    error: Option<RunError>,
}

impl Outcome {
    fn ok() -> Outcome {
        Outcome {
            status: StepStatus::Ok,
            exit_code: None,
            attempts: 1,
            reason: None,
            capture: None,
            stop: None,
            error: None,
        }
    }

    fn error(error: RunError) -> Outcome {
        Outcome {
            error: Some(error.clone()),
            ..Outcome::failed(error.to_string())
        }
    }

    fn failed(reason: impl Into<String>) -> Outcome {
        Outcome {
            status: StepStatus::Failed,
            reason: Some(reason.into()),
            ..Outcome::ok()
        }
    }

    fn stopped(status: StepStatus, run: RunStatus, reason: impl Into<String>) -> Outcome {
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
enum Decision {
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
        let started = Instant::now();
        let name = match &step.name {
            Some(name) => self
                .render(name, context)
                .unwrap_or_else(|_| name.text.clone()),
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
        let outcome = self.guarded(frame, step, context, &id, counter).await;
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
    ) -> Outcome {
        for guard in &step.require {
            if let Some(outcome) = self.check_guard(frame, step, guard, context, id).await {
                return outcome;
            }
        }
        let command = match &step.action {
            Action::Run { command } => match self.render(command, context) {
                Ok(command) => Some(command),
                Err(error) => return Outcome::error(error),
            },
            _ => None,
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
                self.run_command(frame, step, context, id, command.unwrap_or_default())
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
                let env = self.step_env(frame, step, context);
                let workdir = self.workdir(step, context);
                let finished = shell::run(
                    &ShellCommand {
                        program: Program::Local {
                            shell: step.shell.as_deref().unwrap_or(&frame.runbook.shell),
                        },
                        script: &rendered,
                        env: &env,
                        workdir: workdir.as_deref(),
                        interactive: false,
                        timeout: step.timeout.map(|timeout| timeout.0),
                        capture: false,
                        grace: self.options.grace,
                        on_spawn: None,
                    },
                    &self.ui.output,
                    &self.interrupts,
                )
                .await;
                match finished {
                    Ok(finished) if finished.ended == Ended::Interrupted => {
                        let status = self.interrupted_status();
                        return Some(Outcome::stopped(
                            StepStatus::Interrupted,
                            status,
                            "interrupted",
                        ));
                    }
                    Ok(finished) => (
                        format!("$ {}", self.mask(rendered.trim())),
                        finished.ended == Ended::Exited(0),
                    ),
                    Err(error) => {
                        return Some(Outcome::failed(format!(
                            "cannot start the guard command: {error}"
                        )));
                    }
                }
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

    /// Asks for (or finds on the command line) approval of a step's confirmation.
    async fn confirm(
        &self,
        step: &Step,
        confirm: &Confirm,
        context: &Context,
        id: &str,
        command: Option<&str>,
    ) -> Result<(), Outcome> {
        if self.preapproved.borrow_mut().remove(id) {
            return Ok(());
        }
        let message = self
            .render(&confirm.message, context)
            .map_err(Outcome::error)?;
        let typed = match &confirm.typed {
            Some(typed) => Some(self.render(typed, context).map_err(Outcome::error)?),
            None => None,
        };
        let decision = self
            .decide(step, id, confirm.auto, |engine| async move {
                let styles = &engine.ui.styles;
                let mut text = String::new();
                text.push_str(&format!(
                    "\n{} {}\n",
                    styles.warning.apply_to("confirm"),
                    styles.strong.apply_to(id)
                ));
                if let Some(command) = command {
                    for line in engine.mask(command.trim_end()).lines() {
                        text.push_str(&format!("    {}\n", styles.dim.apply_to(line)));
                    }
                }
                if step.destructive {
                    text.push_str(&format!("{} ", styles.destructive.apply_to("DESTRUCTIVE:")));
                }
                text.push_str(&format!("{}\n", engine.mask(&message)));
                match &typed {
                    Some(typed) => {
                        text.push_str(&format!(
                            "Type {} to confirm (anything else declines): ",
                            styles.strong.apply_to(engine.mask(typed))
                        ));
                        engine
                            .ui
                            .ask(&text, &engine.interrupts, false)
                            .await
                            .map(|answer| {
                                let matches = answer.trim() == typed.as_str();
                                if !matches {
                                    engine.ui.message(&format!(
                                        "you typed `{}`, not `{}`: declined, the step was not run\n",
                                        engine.mask(answer.trim()),
                                        engine.mask(typed)
                                    ));
                                }
                                matches
                            })
                    }
                    None => {
                        text.push_str("Run this step? [y/N] ");
                        engine
                            .ui
                            .ask(&text, &engine.interrupts, false)
                            .await
                            .map(|answer| {
                                matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
                            })
                    }
                }
            })
            .await;
        self.settle(id, decision, confirm.auto, "confirmation")
    }

    /// Turns a decision into "go on" or the outcome that ends the step.
    fn settle(
        &self,
        id: &str,
        decision: Decision,
        policy: ConfirmPolicy,
        what: &str,
    ) -> Result<(), Outcome> {
        match decision {
            Decision::Approved(how) => {
                if !self.record(Event::Confirmation {
                    step_id: id.to_owned(),
                    approved: true,
                    how: Some(how),
                }) {
                    return Err(Outcome::failed("the audit record could not be written"));
                }
                Ok(())
            }
            Decision::Declined => {
                self.record(Event::Confirmation {
                    step_id: id.to_owned(),
                    approved: false,
                    how: Some(Approval::Terminal),
                });
                Err(Outcome::stopped(
                    StepStatus::Declined,
                    RunStatus::Aborted,
                    format!("{what} declined"),
                ))
            }
            Decision::Impossible(flags) => {
                self.record(Event::Confirmation {
                    step_id: id.to_owned(),
                    approved: false,
                    how: None,
                });
                let policy = match policy {
                    ConfirmPolicy::Deny => " (`--yes` does not approve it)",
                    ConfirmPolicy::Allow => "",
                };
                Err(Outcome::stopped(
                    StepStatus::Declined,
                    RunStatus::Aborted,
                    format!(
                        "needs a {what} and there is no terminal to ask: run with {flags}{policy}"
                    ),
                ))
            }
            Decision::Interrupted => {
                let status = self.interrupted_status();
                Err(Outcome::stopped(
                    StepStatus::Interrupted,
                    status,
                    "interrupted",
                ))
            }
        }
    }

    /// `--approve` first, then `--yes` if the policy allows it, then a person.
    async fn decide<'e, F, Fut>(
        &'e self,
        step: &Step,
        id: &str,
        policy: ConfirmPolicy,
        ask: F,
    ) -> Decision
    where
        F: FnOnce(&'e Self) -> Fut,
        Fut: std::future::Future<Output = Result<bool, NoAnswer>>,
    {
        if self.options.approve.contains(id) || self.options.approve.contains(&step.id) {
            return Decision::Approved(Approval::Approve);
        }
        if self.options.yes && policy == ConfirmPolicy::Allow {
            return Decision::Approved(Approval::Yes);
        }
        if !self.ui.interactive {
            let mut flags = format!("--approve {id}");
            if policy == ConfirmPolicy::Allow {
                flags.push_str(" or --yes");
            }
            return Decision::Impossible(flags);
        }
        self.sync_record();
        match ask(self).await {
            Ok(true) => Decision::Approved(Approval::Terminal),
            Ok(false) => Decision::Declined,
            Err(NoAnswer::Interrupted) => Decision::Interrupted,
            Err(NoAnswer::Closed) => Decision::Impossible(format!("--approve {id}")),
        }
    }

    async fn run_command(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        id: &str,
        command: String,
    ) -> Outcome {
        let env = self.step_env(frame, step, context);
        let workdir = self.workdir(step, context);
        let shell_name = step.shell.as_deref().unwrap_or(&frame.runbook.shell);
        let attempts_allowed = step.retries.saturating_add(1);
        let mut outcome = Outcome::failed("not run");
        let record_spawn = |pgid: u32| {
            self.record(Event::ProcessStarted {
                step_id: id.to_owned(),
                pgid,
            });
        };
        for attempt in 1..=attempts_allowed {
            if !self.record(Event::StepStarted {
                step_id: id.to_owned(),
                name: step.title().to_owned(),
                command: Some(self.mask(&command)),
                attempt,
            }) {
                return Outcome::failed("the audit record could not be written");
            }
            let finished = shell::run(
                &ShellCommand {
                    program: Program::Local { shell: shell_name },
                    script: &command,
                    env: &env,
                    workdir: workdir.as_deref(),
                    interactive: step.interactive,
                    timeout: step.timeout.map(|timeout| timeout.0),
                    capture: step.capture.is_some(),
                    grace: self.options.grace,
                    on_spawn: Some(&record_spawn),
                },
                &self.ui.output,
                &self.interrupts,
            )
            .await;
            let finished = match finished {
                Ok(finished) => finished,
                Err(error) => {
                    return Outcome::failed(format!("cannot start `{shell_name}`: {error}"));
                }
            };
            if finished.leftovers {
                self.ui.message(&format!(
                    "{}: step `{id}` left background processes in its process group; they were terminated\n",
                    self.ui.styles.warning.apply_to("warning")
                ));
            }
            outcome = match finished.ended {
                Ended::Exited(0) => {
                    let mut outcome = Outcome::ok();
                    outcome.exit_code = Some(0);
                    if let Some(name) = &step.capture {
                        let text = String::from_utf8_lossy(&finished.stdout).trim().to_owned();
                        if finished.truncated {
                            self.ui.message(&format!(
                                "{}: capture `{name}` kept only the first {} KiB of the output\n",
                                self.ui.styles.warning.apply_to("warning"),
                                shell::CAPTURE_LIMIT / 1024
                            ));
                        }
                        context.set(name, Value::from(text.clone()));
                        outcome.capture = Some(self.mask(&text));
                    }
                    outcome
                }
                Ended::Exited(code) => Outcome {
                    exit_code: Some(code),
                    ..Outcome::failed(format!("exit code {code}"))
                },
                Ended::Signaled(signal) => Outcome::failed(format!("killed by signal {signal}")),
                Ended::TimedOut => {
                    let timeout = step
                        .timeout
                        .map(|timeout| timeout.to_string())
                        .unwrap_or_default();
                    Outcome::failed(format!("timed out after {timeout}"))
                }
                Ended::Interrupted => {
                    let status = self.interrupted_status();
                    let mut outcome =
                        Outcome::stopped(StepStatus::Interrupted, status, "interrupted");
                    outcome.attempts = attempt;
                    return outcome;
                }
            };
            outcome.attempts = attempt;
            if outcome.status == StepStatus::Ok || attempt == attempts_allowed {
                break;
            }
            let delay = step
                .retry_delay
                .map(|delay| delay.0)
                .unwrap_or(Duration::ZERO);
            self.ui.message(&format!(
                "{}: attempt {attempt} of {attempts_allowed} failed ({}); retrying{}\n",
                self.ui.styles.warning.apply_to("retry"),
                outcome.reason.as_deref().unwrap_or_default(),
                if delay.is_zero() {
                    String::new()
                } else {
                    format!(" in {}", crate::runbook::Duration(delay))
                }
            ));
            let seen = self.interrupts.count();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.interrupts.beyond(seen) => {
                    let status = self.interrupted_status();
                    return Outcome::stopped(StepStatus::Interrupted, status, "interrupted");
                }
            }
        }
        if outcome.status != StepStatus::Ok {
            return outcome;
        }
        context.set_step_result(
            &step.id,
            StepStatus::Ok,
            outcome.exit_code,
            outcome.attempts,
            0.0,
        );
        for expectation in &step.expect {
            match self.eval(&expectation.expr, context) {
                Ok(true) => {}
                Ok(false) => {
                    let message = match &expectation.message {
                        Some(message) => self
                            .render(message, context)
                            .unwrap_or_else(|_| message.text.clone()),
                        None => format!("expected `{}`", expectation.expr.text.trim()),
                    };
                    let mut failed = Outcome::failed(self.mask(&message));
                    failed.exit_code = outcome.exit_code;
                    failed.attempts = outcome.attempts;
                    failed.capture = outcome.capture;
                    return failed;
                }
                Err(error) => return Outcome::error(error),
            }
        }
        outcome
    }

    async fn manual(
        &self,
        step: &Step,
        context: &mut Context,
        id: &str,
        instructions: &crate::runbook::Located,
        input: &[Param],
    ) -> Outcome {
        let text = match self.render(instructions, context) {
            Ok(text) => text,
            Err(error) => return Outcome::error(error),
        };
        let styles = &self.ui.styles;
        let mut shown = format!(
            "\n{} {}\n",
            styles.warning.apply_to("manual step"),
            styles.strong.apply_to(id)
        );
        for line in self.mask(text.trim_end()).lines() {
            shown.push_str(&format!("  │ {line}\n"));
        }
        self.ui.message(&shown);
        for param in input {
            let value = match self.options.given.get(&param.name) {
                Some(given) => match param.check(given) {
                    Ok(typed) => {
                        self.ui.message(&format!(
                            "  {} = {} (from -p)\n",
                            param.name,
                            if param.secret {
                                crate::mask::MASK.to_owned()
                            } else {
                                given.clone()
                            }
                        ));
                        (given.clone(), typed)
                    }
                    Err(error) => {
                        return Outcome::failed(format!("input `{}`: {error}", param.name));
                    }
                },
                None if self.ui.interactive => match self.ask_param(param).await {
                    Ok(value) => value,
                    Err(NoAnswer::Interrupted) => {
                        let status = self.interrupted_status();
                        return Outcome::stopped(StepStatus::Interrupted, status, "interrupted");
                    }
                    Err(NoAnswer::Closed) => {
                        return Outcome::stopped(
                            StepStatus::Declined,
                            RunStatus::Aborted,
                            format!("no answer for input `{}`", param.name),
                        );
                    }
                },
                None => {
                    return Outcome::stopped(
                        StepStatus::Declined,
                        RunStatus::Aborted,
                        format!(
                            "input `{}` needs a value and there is no terminal to ask: pass -p {}=VALUE",
                            param.name, param.name
                        ),
                    );
                }
            };
            let (text, typed) = value;
            if param.secret {
                self.ui.output.add_secret(&text);
            }
            if !self.record(Event::Input {
                step_id: id.to_owned(),
                name: param.name.clone(),
                value: if param.secret {
                    crate::mask::MASK.to_owned()
                } else {
                    text.clone()
                },
            }) {
                return Outcome::failed("the audit record could not be written");
            }
            context.set(&param.name, typed.to_template_value());
        }
        let decision = self
            .decide(step, id, ConfirmPolicy::Allow, |engine| async move {
                engine
                    .ui
                    .ask(
                        "Press Enter when done (type `abort` to stop the run): ",
                        &engine.interrupts,
                        false,
                    )
                    .await
                    .map(|answer| answer.trim() != "abort")
            })
            .await;
        match self.settle(id, decision, ConfirmPolicy::Allow, "manual acknowledgement") {
            Ok(()) => Outcome::ok(),
            Err(outcome) => outcome,
        }
    }

    pub(crate) async fn ask_param(
        &self,
        param: &Param,
    ) -> Result<(String, crate::runbook::param::TypedValue), NoAnswer> {
        self.sync_record();
        crate::ui::ask_param(self.ui, &self.interrupts, param).await
    }

    async fn include(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &Context,
        name: &str,
        with: &[(String, crate::runbook::Located)],
        counter: &str,
    ) -> Outcome {
        let Some((entry, runbook)) = self.library.include(frame.entry, name) else {
            return Outcome::failed(format!("included runbook `{name}` was not loaded"));
        };
        let mut given = std::collections::BTreeMap::new();
        for (param, value) in with {
            match self.render(value, context) {
                Ok(text) => {
                    given.insert(param.clone(), text);
                }
                Err(error) => return Outcome::error(error),
            }
        }
        let (resolved, problems) =
            params::resolve(&runbook.params, &given, &|name| std::env::var(name).ok());
        let missing: Vec<String> = resolved
            .iter()
            .filter(|(_, resolution)| matches!(resolution, Resolution::Missing))
            .map(|(name, _)| name.clone())
            .collect();
        if !problems.is_empty() || !missing.is_empty() {
            let mut reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
            reasons.extend(
                missing
                    .iter()
                    .map(|name| format!("missing parameter `{name}`")),
            );
            return Outcome::failed(format!("cannot run `{name}`: {}", reasons.join("; ")));
        }
        let (child_context, exports) = match self.prepare(runbook, &context.run, &resolved) {
            Ok(prepared) => prepared,
            Err(error) => return Outcome::error(error),
        };
        let child = Frame {
            runbook,
            exports,
            path: format!("{}{}/", frame.path, step.id),
            counter: format!("{counter} › "),
            depth: frame.depth + 1,
            entry,
            cleanup: frame.cleanup,
            probes: false,
        };
        let mut child_context = child_context;
        let status = Box::pin(self.run_frame(&child, &mut child_context, None)).await;
        match status {
            RunStatus::Success => Outcome::ok(),
            RunStatus::Failure => Outcome::failed(format!("runbook `{name}` failed")),
            other => Outcome::stopped(
                StepStatus::Interrupted,
                other,
                format!("runbook `{name}` {}", other.as_str()),
            ),
        }
    }

    async fn parallel(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        children: &[Step],
    ) -> Outcome {
        // Ask every confirmation first: prompts must not interleave, and a declined
        // child must stop the group before any sibling starts.
        for child in children {
            if let Some(confirm) = &child.confirm {
                let id = qualified(frame, &child.id);
                if let Err(outcome) = self.confirm(child, confirm, context, &id, None).await {
                    return outcome;
                }
                self.preapproved.borrow_mut().insert(id);
            }
        }
        let mut contexts: Vec<Context> = children.iter().map(|_| context.clone()).collect();
        let total = children.len();
        let group = qualified(frame, &step.id);
        let flows = futures_util::future::join_all(
            children.iter().zip(contexts.iter_mut()).enumerate().map(
                |(index, (child, child_context))| {
                    let counter = format!("{group} › {}/{total}", index + 1);
                    async move { self.step(frame, child, child_context, &counter).await }
                },
            ),
        )
        .await;
        for child_context in contexts {
            for (name, value) in child_context.values.iter() {
                if !context.values.contains_key(name) {
                    context.set(name, value.clone());
                }
            }
            for (name, value) in child_context.steps.iter() {
                if !context.steps.contains_key(name) {
                    std::sync::Arc::make_mut(&mut context.steps)
                        .insert(name.clone(), value.clone());
                }
            }
        }
        if let Some(Flow::Stop(status)) = flows.iter().find(|flow| matches!(flow, Flow::Stop(_))) {
            return Outcome::stopped(StepStatus::Interrupted, *status, "group stopped");
        }
        let failed: Vec<&str> = children
            .iter()
            .zip(&flows)
            .filter(|(child, flow)| **flow == Flow::Failed && !child.continue_on_error)
            .map(|(child, _)| child.id.as_str())
            .collect();
        if failed.is_empty() {
            Outcome::ok()
        } else {
            Outcome::failed(format!("failed in the group: {}", failed.join(", ")))
        }
    }

    /// Records the end of a step and turns its outcome into what the loop does next.
    fn finish(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        outcome: Outcome,
        started: Instant,
        line: Option<crate::ui::progress::StepLine>,
    ) -> Flow {
        let id = qualified(frame, &step.id);
        let duration = started.elapsed();
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
            capture: outcome.capture.clone(),
            reason: outcome.reason.clone(),
        });
        self.push_summary(SummaryRow {
            id,
            status: outcome.status,
            duration_ms: duration.as_millis() as u64,
            reason: outcome.reason.clone(),
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
            _ => Flow::Continue,
        }
    }

    /// The environment of a step's command: the runbook's exports, then the step's own.
    pub(crate) fn step_env(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &Context,
    ) -> Vec<(String, String)> {
        let mut env = frame.exports.clone();
        for variable in &step.env {
            let value = self
                .render(&variable.value, context)
                .unwrap_or_else(|_| variable.value.text.clone());
            env.push((variable.name.clone(), value));
        }
        env
    }

    fn workdir(&self, step: &Step, context: &Context) -> Option<PathBuf> {
        step.workdir.as_ref().map(|workdir| {
            PathBuf::from(
                self.render(workdir, context)
                    .unwrap_or_else(|_| workdir.text.clone()),
            )
        })
    }

    async fn ask_step_mode(&self, id: &str, name: &str, counter: &str) -> StepChoice {
        if !self.ui.interactive {
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
                Err(NoAnswer::Closed) => return StepChoice::Abort(RunStatus::Aborted),
            }
        }
    }

    pub(crate) async fn notify_hook(
        &self,
        frame: &Frame<'_>,
        index: usize,
        notify: &Notify,
        context: &Context,
    ) {
        let command = match self.render(&notify.run, context) {
            Ok(command) => command,
            Err(error) => {
                self.report(frame.entry, None, &error);
                return;
            }
        };
        let finished = shell::run(
            &ShellCommand {
                program: Program::Local {
                    shell: &frame.runbook.shell,
                },
                script: &command,
                env: &frame.exports,
                workdir: None,
                interactive: false,
                timeout: Some(Duration::from_secs(60)),
                capture: false,
                grace: self.options.grace,
                on_spawn: None,
            },
            &self.ui.output,
            &self.interrupts,
        )
        .await;
        let status = match finished {
            Ok(finished) if finished.ended == Ended::Exited(0) => "sent".to_owned(),
            Ok(finished) => format!("failed ({:?})", finished.ended),
            Err(error) => format!("failed ({error})"),
        };
        self.ui.message(&format!(
            "{} notify[{index}] {status}\n",
            self.ui.styles.dim.apply_to("<==")
        ));
    }
}

enum StepChoice {
    Run,
    Skip,
    Abort(RunStatus),
}
