//! The `manual` action: instructions shown to the operator, inputs asked (or taken from
//! `-p`), and an acknowledgement.

use crate::engine::Engine;
use crate::engine::context::Context;
use crate::engine::event::{Event, RunStatus, StepStatus};
use crate::engine::step::Outcome;
use crate::plan::PlanStep;
use crate::runbook::{ConfirmPolicy, Located, Param, Step};
use crate::ui::prompt::NoAnswer;

impl Engine<'_> {
    pub(crate) async fn manual(
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
                None if self.can_ask() => match self.ask_param(param).await {
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
                    Err(NoAnswer::Aborted) => {
                        return Outcome::stopped(
                            StepStatus::Declined,
                            RunStatus::Aborted,
                            "aborted by the operator",
                        );
                    }
                },
                // Unattended, an input with a default takes it, and says so.
                None if param.default.is_some() => {
                    let default = param.default.clone().unwrap_or_default();
                    match param.check(&default) {
                        Ok(typed) => {
                            self.ui.message(&format!(
                                "  {} = {} (its default: no terminal to ask)\n",
                                param.name,
                                if param.secret {
                                    crate::mask::MASK.to_owned()
                                } else {
                                    default.clone()
                                }
                            ));
                            (default, typed)
                        }
                        Err(error) => {
                            return Outcome::failed(format!(
                                "input `{}`: its default {error}",
                                param.name
                            ));
                        }
                    }
                }
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
                context.secrets.insert(param.name.clone());
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

    /// A manual step in the plan: its instructions, and each input given with `-p` or
    /// asked at run time (a placeholder until then).
    pub(crate) fn describe_manual(
        &self,
        instructions: &Located,
        input: &[Param],
        context: &mut Context,
        plan: &mut PlanStep,
    ) {
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
                    let default = match &param.default {
                        Some(_) if param.secret => "; its default without a terminal".to_owned(),
                        Some(default) => format!("; `{default}` without a terminal"),
                        None => String::new(),
                    };
                    plan.inputs.push(format!(
                        "{} ({}) — asked at run time{default}",
                        param.name,
                        param.expectation()
                    ));
                    context.set_unknown(&param.name, format!("input {}", param.name));
                }
            }
        }
    }
}
