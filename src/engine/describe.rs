//! The dry-run side of the step loop: describe a step exactly as it would run, without
//! running it (except `probe: true` steps under `--probe`). Run-time values render as
//! placeholders, and every step says whether its rendering is exact.

use super::context::{self, Context};
use super::{Engine, Frame, qualified};
use crate::plan::{PlanStep, PlanWhen};
use crate::runbook::{Action, ConfirmPolicy, GuardCheck, Located, Step};

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
                    let mut text = format!("$ {}", rendered.trim());
                    let host = guard.host.as_ref().or(step.host.as_ref());
                    if let Some(on) = self.describe_target(frame.runbook, host, context) {
                        text.push_str(&format!("  (on {on})"));
                    }
                    (text, exact)
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
        plan.host = self.describe_target(frame.runbook, step.host.as_ref(), context);
        match &step.action {
            Action::Run { command } => self.describe_run(command, context, &mut plan),
            Action::Manual {
                instructions,
                input,
            } => self.describe_manual(instructions, input, context, &mut plan),
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
                plan.children = self
                    .describe_parallel(frame, children, context, number)
                    .await;
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
        plan.limits = crate::plan::outline::limits(step);
        plan
    }

    /// Renders for display: masked, with placeholders; `false` when a placeholder was
    /// used or the template can only be rendered at run time.
    pub(crate) fn render_placeholder(
        &self,
        located: &Located,
        context: &Context,
    ) -> (String, bool) {
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
