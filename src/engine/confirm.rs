//! Confirmations and manual acknowledgements: `--approve` first, then `--yes` where the
//! policy allows it, then a person at the terminal; unattended, a missing approval stops
//! the run naming the flag it needs (docs/running.md, "Confirmations").

use crate::engine::Engine;
use crate::engine::context::Context;
use crate::engine::event::{Approval, Event, RunStatus, StepStatus};
use crate::engine::step::{Decision, Outcome};
use crate::runbook::{Confirm, ConfirmPolicy, Step};
use crate::ui::prompt::NoAnswer;

/// How often a typed confirmation may be typed before it counts as declined.
const TYPED_TRIES: usize = 3;

impl Engine<'_> {
    /// Asks for (or finds on the command line) approval of a step's confirmation.
    pub(crate) async fn confirm(
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
                        // The text on a line of its own: no quotes to wonder about.
                        text.push_str(&format!(
                            "To confirm, type the text on the next line exactly ({TYPED_TRIES} tries; an empty answer or `abort` declines):\n    {}\n> ",
                            styles.strong.apply_to(engine.mask(typed))
                        ));
                        let mut question = text;
                        for left in (0..TYPED_TRIES).rev() {
                            let answer = engine
                                .ui
                                .ask(&question, &engine.interrupts, false)
                                .await?;
                            let answer = answer.trim();
                            if answer == typed.as_str() {
                                return Ok(true);
                            }
                            if answer.is_empty() || answer == "abort" || left == 0 {
                                if left == 0 {
                                    engine.ui.message(&format!(
                                        "{TYPED_TRIES} answers did not match: declined, the step was not run\n"
                                    ));
                                }
                                return Ok(false);
                            }
                            engine.ui.message(&format!(
                                "you typed `{}`, which is not the text above ({left} {} left)\n",
                                engine.mask(answer),
                                if left == 1 { "try" } else { "tries" }
                            ));
                            question = "> ".to_owned();
                        }
                        Ok(false)
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
    pub(crate) fn settle(
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
    pub(crate) async fn decide<'e, F, Fut>(
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
        if !self.can_ask() {
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
            Err(NoAnswer::Aborted) => Decision::Declined,
        }
    }
}
