//! The dry-run side of the step loop: describe a step exactly as it would run, without
//! running it (except `probe: true` steps under `--probe`). Run-time values render as
//! placeholders, and every step says whether its rendering is exact.

use super::context::{self, Context, Unknown};
use super::{Engine, Frame, qualified};
use crate::engine::params::{self, Resolution};
use crate::plan::{PlanStep, PlanWhen};
use crate::runbook::{Action, ConfirmPolicy, GuardCheck, Located, Notify, Step};

impl Engine<'_> {
    pub(crate) async fn describe(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &mut Context,
        number: &str,
    ) -> PlanStep {
        context.unknown.insert("steps".to_owned());
        let mut plan = PlanStep {
            number: number.to_owned(),
            id: step.id.clone(),
            name: match &step.name {
                Some(name) => self.render_placeholder(name, context).0,
                None => step.id.clone(),
            },
            markers: step.markers(),
            exact: true,
            ..PlanStep::default()
        };
        if let Some(when) = &step.when {
            let depends_on = self
                .templates
                .expression_variables(&when.text)
                .map(|names| context.unknown_among(&names))
                .unwrap_or_default();
            let expression = when.text.trim().to_owned();
            if depends_on.is_empty() {
                match self.eval(when, context) {
                    Ok(value) => {
                        plan.when = Some(PlanWhen::Now { expression, value });
                        if !value {
                            self.forget_outputs(step, context);
                            return plan;
                        }
                    }
                    Err(error) => {
                        plan.exact = false;
                        plan.when = Some(PlanWhen::AtRunTime {
                            expression,
                            depends_on: vec![error.to_string()],
                        });
                    }
                }
            } else {
                plan.exact = false;
                plan.when = Some(PlanWhen::AtRunTime {
                    expression,
                    depends_on,
                });
            }
        }

        let probe = self.options.probe
            && step.probe
            && frame.probes
            && step.confirm.is_none()
            && matches!(step.action, Action::Run { .. });
        if probe {
            // A read-only step runs for real, so later steps render with real values.
            let flow = self.step(frame, step, context, number).await;
            let status = context
                .steps
                .get(&step.id)
                .and_then(|value| value.get_attr("status").ok())
                .map(|status| status.to_string())
                .unwrap_or_else(|| format!("{flow:?}"));
            plan.probed = Some(status);
        }

        for guard in &step.require {
            let message = guard
                .message
                .as_ref()
                .map(|message| self.render_placeholder(message, context).0);
            let (text, exact) = match &guard.check {
                GuardCheck::Command(command) => {
                    let (rendered, exact) = self.render_placeholder(command, context);
                    (format!("$ {}", rendered.trim()), exact)
                }
                GuardCheck::Expr(expr) => (expr.text.trim().to_owned(), true),
            };
            plan.exact &= exact;
            plan.guards.push(match message {
                Some(message) => format!("{text}  ({message})"),
                None => text,
            });
        }
        if let Some(confirm) = &step.confirm {
            let (message, exact) = self.render_placeholder(&confirm.message, context);
            plan.exact &= exact;
            let mut text = message;
            if let Some(typed) = &confirm.typed {
                let (typed, exact) = self.render_placeholder(typed, context);
                plan.exact &= exact;
                text.push_str(&format!(" — type {typed:?}"));
            }
            if confirm.auto == ConfirmPolicy::Deny {
                text.push_str(&format!(
                    " (only a person or --approve {})",
                    qualified(frame, &step.id)
                ));
            }
            plan.confirmation = Some(text);
        }
        match &step.action {
            Action::Run { command } => {
                let (rendered, exact) = self.render_placeholder(command, context);
                plan.exact &= exact;
                plan.command = Some(rendered);
            }
            Action::Manual {
                instructions,
                input,
            } => {
                plan.manual = Some(self.render_placeholder(instructions, context).0);
                for param in input {
                    match self.options.given.get(&param.name) {
                        Some(given) if param.check(given).is_ok() => {
                            let shown = if param.secret {
                                crate::mask::MASK.to_owned()
                            } else {
                                given.clone()
                            };
                            plan.inputs
                                .push(format!("{} = {shown} (from -p)", param.name));
                            if let Ok(typed) = param.check(given) {
                                context.set(&param.name, typed.to_template_value());
                            }
                        }
                        _ => {
                            plan.inputs.push(format!(
                                "{} ({}) — asked at run time",
                                param.name,
                                param.expectation()
                            ));
                            context.set_unknown(&param.name, format!("input {}", param.name));
                        }
                    }
                }
            }
            Action::Include {
                runbook: name,
                with,
                ..
            } => {
                plan.include = Some(name.clone());
                plan.children = self
                    .describe_include(frame, step, context, name, with)
                    .await;
            }
            Action::Parallel(children) => {
                let mut merged = context.clone();
                for (index, child) in children.iter().enumerate() {
                    let mut child_context = context.clone();
                    let number = format!("{number}.{}", index + 1);
                    let described =
                        Box::pin(self.describe(frame, child, &mut child_context, &number)).await;
                    plan.children.push(described);
                    for (name, value) in child_context.values.iter() {
                        if child_context.unknown.contains(name) {
                            merged.unknown.insert(name.clone());
                        }
                        if !merged.values.contains_key(name) {
                            std::sync::Arc::make_mut(&mut merged.values)
                                .insert(name.clone(), value.clone());
                        }
                    }
                }
                *context = merged;
            }
        }
        if let Some(capture) = &step.capture {
            plan.capture = Some(capture.clone());
            if plan.probed.is_none() {
                context.set_unknown(capture, format!("capture of {}", step.id));
            }
        }
        for expectation in &step.expect {
            let text = expectation.expr.text.trim().to_owned();
            plan.expect.push(match &expectation.message {
                Some(message) => {
                    format!("{text}  ({})", self.render_placeholder(message, context).0)
                }
                None => text,
            });
        }
        if let Some(timeout) = step.timeout {
            plan.limits.push(format!("timeout {timeout}"));
        }
        if step.retries > 0 {
            let delay = step
                .retry_delay
                .map(|delay| format!(" after {delay}"))
                .unwrap_or_default();
            plan.limits.push(format!("retries {}{delay}", step.retries));
        }
        if step.continue_on_error {
            plan.limits.push("continue on error".to_owned());
        }
        plan
    }

    async fn describe_include(
        &self,
        frame: &Frame<'_>,
        step: &Step,
        context: &Context,
        name: &str,
        with: &[(String, Located)],
    ) -> Vec<PlanStep> {
        let Some((entry, runbook)) = self.library.include(frame.entry, name) else {
            return Vec::new();
        };
        let mut given = std::collections::BTreeMap::new();
        let mut unknown = Vec::new();
        for (param, value) in with {
            let (text, exact) = self.render_placeholder(value, context);
            if exact {
                given.insert(param.clone(), text);
            } else {
                unknown.push(param.clone());
            }
        }
        let (mut resolved, _) =
            params::resolve(&runbook.params, &given, &|name| std::env::var(name).ok());
        for (param, resolution) in &mut resolved {
            if unknown.contains(param) {
                *resolution = Resolution::Missing;
            }
        }
        let Ok((mut child_context, exports)) = self.prepare(runbook, &context.run, &resolved)
        else {
            return Vec::new();
        };
        let child = Frame {
            runbook,
            exports,
            path: format!("{}{}/", frame.path, step.id),
            counter: String::new(),
            depth: frame.depth + 1,
            entry,
            cleanup: frame.cleanup,
            probes: frame.probes && step.probe,
        };
        let mut steps = Vec::new();
        for (index, child_step) in runbook.steps.iter().enumerate() {
            let number = format!("{}.{}", step.id, index + 1);
            steps.push(
                Box::pin(self.describe(&child, child_step, &mut child_context, &number)).await,
            );
        }
        for (index, child_step) in runbook.finally_steps.iter().enumerate() {
            let number = format!("{}.E{}", step.id, index + 1);
            steps.push(
                Box::pin(self.describe(&child, child_step, &mut child_context, &number)).await,
            );
        }
        steps
    }

    pub(crate) fn describe_notify(&self, notify: &Notify, context: &Context) -> String {
        let mut context = context.clone();
        for field in ["status", "summary", "exit_code", "duration"] {
            std::sync::Arc::make_mut(&mut context.run)
                .insert(field.into(), Unknown::value(format!("run.{field}")));
            context.unknown.insert(format!("run.{field}"));
        }
        let on: Vec<String> = notify
            .on
            .iter()
            .map(|event| format!("{event:?}").to_lowercase())
            .collect();
        let when = notify
            .when
            .as_ref()
            .map(|when| format!(" when {}", when.text.trim()))
            .unwrap_or_default();
        format!(
            "on {}{when}: $ {}",
            on.join(", "),
            self.render_placeholder(&notify.run, &context).0.trim()
        )
    }

    /// Renders for display: masked, with placeholders; `false` when a placeholder was
    /// used or the template can only be rendered at run time.
    fn render_placeholder(&self, located: &Located, context: &Context) -> (String, bool) {
        context::reset_placeholder_flag();
        match self.render(located, context) {
            Ok(text) => (self.mask(&text), !context::placeholder_rendered()),
            Err(_) => (
                format!("{}   (rendered at run time)", located.text.trim_end()),
                false,
            ),
        }
    }

    /// A step skipped in the plan defines nothing, but later steps may still refer to
    /// its capture (under their own `when`); make that a placeholder.
    fn forget_outputs(&self, step: &Step, context: &mut Context) {
        if let Some(capture) = &step.capture {
            context.set_unknown(capture, format!("capture of {} (skipped)", step.id));
        }
    }
}
