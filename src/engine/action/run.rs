//! The `run` action: a shell command, with retries, timeout, capture and expectations.

use crate::engine::context::Context;
use crate::engine::event::{Event, StepStatus};
use crate::engine::event::{HostRecord, MemberExit, MemberRecord};
use crate::engine::remote::{Connected, MemberResult, Script, Target};
use crate::engine::step::Outcome;
use crate::engine::{Engine, Frame};
use crate::plan::PlanStep;
use crate::process::shell::{self, Ended};
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
        hold: Option<u64>,
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
        let target = match self.target(frame.runbook, step.host.as_ref(), context) {
            Ok(target) => target,
            Err(error) => return Outcome::error(error),
        };
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
            // Connected first, so the record says which host key answered.
            let connected = self.connect(&target).await;
            if !self.record(Event::StepStarted {
                step_id: id.to_owned(),
                name,
                command: Some(self.mask(&command)),
                attempt,
                host: host_record(&target, &connected),
            }) {
                return Outcome::failed("the audit record could not be written");
            }
            self.connect_help(&connected);
            let results = self
                .execute(
                    &target,
                    &connected,
                    &Script {
                        shell: shell_name,
                        script: &command,
                        env: &env,
                        workdir: workdir.as_deref(),
                        interactive: step.interactive,
                        timeout: step.timeout.map(|timeout| timeout.0),
                        capture: step.capture.is_some(),
                        on_spawn: Some(&record_spawn),
                        hold,
                    },
                )
                .await;
            for result in &results {
                if let Ok(finished) = &result.result
                    && finished.leftovers
                {
                    self.ui.message(&format!(
                        "{}: step `{id}` left background processes in its process group; they were terminated\n",
                        self.ui.styles.warning.apply_to("warning")
                    ));
                }
            }
            outcome = self.combine(step, &target, &results, context);
            if outcome.status == StepStatus::Interrupted {
                outcome.attempts = attempt;
                return outcome;
            }
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
                    failed.members = outcome.members;
                    failed.metric = outcome.metric;
                    return failed;
                }
                Err(error) => return Outcome::error(error),
            }
        }
        outcome
    }

    /// One outcome from the results on every member: ok when the command succeeded
    /// everywhere; a capture of a group is a map by member.
    fn combine(
        &self,
        step: &Step,
        target: &Target,
        results: &[MemberResult],
        context: &mut Context,
    ) -> Outcome {
        let members: Vec<MemberExit> = match target {
            Target::Local => Vec::new(),
            Target::Remote(_) => results
                .iter()
                .map(|result| MemberExit {
                    destination: result.destination(),
                    exit_code: match result.ended() {
                        Some(Ended::Exited(code)) => Some(code),
                        _ => None,
                    },
                    reason: self
                        .member_reason(target, result)
                        .map(|reason| self.mask(&reason)),
                })
                .collect(),
        };
        let group = matches!(target, Target::Remote(remote) if remote.group);
        if results
            .iter()
            .any(|result| result.ended() == Some(Ended::Interrupted))
        {
            let status = self.interrupted_status();
            let mut outcome = Outcome::stopped(StepStatus::Interrupted, status, "interrupted");
            outcome.members = members;
            return outcome;
        }
        let exit_code = match results {
            [only] => match only.ended() {
                Some(Ended::Exited(code)) => Some(code),
                _ => None,
            },
            _ => None,
        };
        if !results.iter().all(MemberResult::succeeded) {
            let failures: Vec<String> = results
                .iter()
                .filter_map(|result| {
                    let reason = self.member_reason(target, result)?;
                    Some(if group {
                        format!("{}: {reason}", result.label())
                    } else {
                        reason
                    })
                })
                .collect();
            let reason = match (group, step.timeout) {
                (true, _) => format!(
                    "failed on {} of {}: {}",
                    failures.len(),
                    results.len(),
                    failures.join("; ")
                ),
                (false, Some(timeout))
                    if results
                        .iter()
                        .any(|result| result.ended() == Some(Ended::TimedOut)) =>
                {
                    format!("timed out after {timeout}")
                }
                (false, _) => failures.join("; "),
            };
            let mut outcome = Outcome::failed(self.mask(&reason));
            outcome.exit_code = exit_code;
            outcome.members = members;
            return outcome;
        }
        let mut outcome = Outcome::ok();
        outcome.exit_code = exit_code;
        outcome.members = members;
        if let Some(name) = &step.capture {
            let mut texts = Vec::new();
            for result in results {
                let Ok(finished) = &result.result else {
                    continue;
                };
                if finished.truncated {
                    self.ui.message(&format!(
                        "{}: capture `{name}` kept only the first {} KiB of the output\n",
                        self.ui.styles.warning.apply_to("warning"),
                        shell::CAPTURE_LIMIT / 1024
                    ));
                }
                let text = String::from_utf8_lossy(&finished.stdout).trim().to_owned();
                texts.push((result.destination(), text));
            }
            if group {
                if let Some(metric) = &step.metric {
                    self.ui.message(&format!(
                        "{}: metric `{metric}`: a group's capture is a map, not a number; not published\n",
                        self.ui.styles.warning.apply_to("warning")
                    ));
                }
                let map: std::collections::BTreeMap<String, String> = texts.into_iter().collect();
                outcome.capture = Some(self.mask(&serde_json::to_string(&map).unwrap_or_default()));
                context.set(name, Value::from(map));
            } else if let Some((_, text)) = texts.pop() {
                if let Some(metric) = &step.metric {
                    match text.trim().parse::<f64>() {
                        Ok(number) if number.is_finite() => {
                            outcome.metric = Some(Box::new((metric.clone(), number)));
                        }
                        _ => self.ui.message(&self.mask(&format!(
                            "{}: metric `{metric}`: the capture {text:?} is not a number; not published\n",
                            self.ui.styles.warning.apply_to("warning")
                        ))),
                    }
                }
                outcome.capture = Some(self.mask(&text));
                context.set(name, Value::from(text));
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

/// What `step_started` records of a remote target: the host, each destination and the
/// host key it showed.
pub(crate) fn host_record(target: &Target, connected: &[Connected]) -> Option<HostRecord> {
    let Target::Remote(remote) = target else {
        return None;
    };
    Some(HostRecord {
        name: remote.name.clone(),
        members: connected
            .iter()
            .map(|member| MemberRecord {
                destination: member.endpoint.destination.clone(),
                port: member.endpoint.port,
                host_key: member
                    .connection
                    .as_ref()
                    .ok()
                    .and_then(|connection| connection.fingerprint.clone()),
            })
            .collect(),
    })
}
