//! The `run` action: a shell command, with retries, timeout, capture and expectations.

use crate::engine::context::Context;
use crate::engine::event::{Event, StepStatus};
use crate::engine::step::Outcome;
use crate::engine::{Engine, Frame};
use crate::plan::PlanStep;
use crate::process::Program;
use crate::process::shell::{self, Ended, ShellCommand};
use crate::runbook::{Located, Step};
use minijinja::value::Value;
use std::time::Duration;

impl Engine<'_> {
    pub(crate) async fn run_command(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        id: &str,
        command: String,
    ) -> Outcome {
        let env = match self.step_env(frame, step, context) {
            Ok(env) => env,
            Err(error) => return Outcome::error(error),
        };
        let workdir = match self.workdir(step, context) {
            Ok(workdir) => workdir,
            Err(error) => return Outcome::error(error),
        };
        let shell_name = step.shell.as_deref().unwrap_or(&frame.runbook.shell);
        let attempts_allowed = step.retries.saturating_add(1);
        let mut outcome = Outcome::failed("not run");
        let record_spawn = |pgid: u32| {
            self.record(Event::ProcessStarted {
                step_id: id.to_owned(),
                pgid,
                leader_start: crate::process::start_time(pgid),
            });
        };
        for attempt in 1..=attempts_allowed {
            // The name as shown (rendered, masked), not its template.
            let name = match &step.name {
                Some(template) => self.mask(
                    &self
                        .render(template, context)
                        .unwrap_or_else(|_| template.text.clone()),
                ),
                None => step.title().to_owned(),
            };
            if !self.record(Event::StepStarted {
                step_id: id.to_owned(),
                name,
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

    /// A command in the plan: rendered, masked, placeholders for run-time values.
    pub(crate) fn describe_run(&self, command: &Located, context: &Context, plan: &mut PlanStep) {
        let (rendered, exact) = self.render_placeholder(command, context);
        plan.exact &= exact;
        plan.command = Some(rendered);
    }
}
