//! The step loop over one runbook's frame: its main steps, then `on_failure` when they
//! failed, then `finally`, always; a resumed run's finished steps replayed from its
//! record instead of run again; a dry-run describing each step instead.

use super::{Engine, Flow, Frame, SummaryRow};
use crate::engine::context::Context;
use crate::engine::event::{Event, RunStatus, StepStatus};
use crate::plan::{Plan, PlanStep};
use crate::runbook::{Action, Step};
use minijinja::value::Value;

impl Engine<'_> {
    /// Main steps, then `on_failure` when they failed, then `finally`, always.
    pub(crate) async fn run_frame(
        &self,
        frame: &Frame<'_>,
        context: &mut Context,
        mut plan: Option<&mut Plan>,
    ) -> RunStatus {
        let runbook = frame.runbook;
        let flow = self
            .run_list(
                frame,
                &runbook.steps,
                context,
                "",
                plan.as_deref_mut().map(|plan| &mut plan.steps),
            )
            .await;
        let status = match flow {
            Flow::Continue => RunStatus::Success,
            Flow::Failed => RunStatus::Failure,
            Flow::Stop(status) => status,
        };
        // `on_failure` and `finally` know how the run went so far.
        self.set_outcome(runbook, context, status);
        if !self.options.dry_run {
            // A step that never ran has a status too, so `steps.ID.status` renders.
            for step in runbook.all_steps() {
                if !context.steps.contains_key(&step.id) {
                    context.set_step_result(&step.id, StepStatus::NotRun, None, 0, 0.0);
                }
            }
        }
        // Captures of steps that never ran are empty rather than undefined here, so a
        // cleanup can test them (`{% if test_db %}`) instead of failing to render.
        for step in runbook.all_steps() {
            if let Some(capture) = &step.capture
                && !context.values.contains_key(capture)
                && !self.options.dry_run
            {
                context.set(capture, Value::from(""));
            }
        }
        let cleanup = Frame {
            cleanup: true,
            ..frame.clone()
        };
        let frame = &cleanup;
        if status == RunStatus::Failure || (self.options.dry_run && !runbook.on_failure.is_empty())
        {
            let saved = self.stop.take();
            self.run_list(
                frame,
                &runbook.on_failure,
                context,
                "F",
                plan.as_deref_mut().map(|plan| &mut plan.on_failure),
            )
            .await;
            self.stop.set(saved);
        }
        if !runbook.finally_steps.is_empty() {
            // `finally` runs after a failure, a decline and an interrupt too; a signal
            // that arrives during it ends the clean-up (the operator insists).
            let saved = self.stop.take();
            let interrupted_before = self.interrupts.count();
            let finally_flow = self
                .run_finally(
                    frame,
                    context,
                    interrupted_before,
                    plan.map(|plan| &mut plan.finally_steps),
                )
                .await;
            self.stop.set(saved);
            if finally_flow == Flow::Failed && status == RunStatus::Success {
                return RunStatus::Failure;
            }
        }
        status
    }

    async fn run_finally(
        &self,
        frame: &Frame<'_>,
        context: &mut Context,
        seen: u32,
        mut plan: Option<&mut Vec<PlanStep>>,
    ) -> Flow {
        let mut flow = Flow::Continue;
        let total = frame.runbook.finally_steps.len();
        for (index, step) in frame.runbook.finally_steps.iter().enumerate() {
            if self.interrupts.count() > seen {
                self.skip(frame, step, "interrupted during finally");
                continue;
            }
            let counter = format!("{}E{}/{total}", frame.counter, index + 1);
            let result = if let Some(plan) = plan.as_deref_mut() {
                plan.push(
                    self.describe(frame, step, context, &format!("E{}", index + 1))
                        .await,
                );
                Flow::Continue
            } else {
                self.step(frame, step, context, &counter).await
            };
            if result == Flow::Failed {
                flow = Flow::Failed;
            }
        }
        flow
    }

    /// Runs steps in order until one fails (and may not continue) or the run stops.
    pub(crate) async fn run_list(
        &self,
        frame: &Frame<'_>,
        steps: &[Step],
        context: &mut Context,
        label: &str,
        mut plan: Option<&mut Vec<PlanStep>>,
    ) -> Flow {
        let total = steps.len();
        for (index, step) in steps.iter().enumerate() {
            if let Some(status) = self.stop.get() {
                return Flow::Stop(status);
            }
            if let Some((from, done)) = &self.options.resume
                && frame.depth == 0
                && label.is_empty()
                && index < *done
                && !step.rerun_on_resume
            {
                let reason = format!("done in run {from}");
                self.ui.message(&format!(
                    "{} [{}/{total}] {} {}\n",
                    self.ui.styles.dim.apply_to("==>"),
                    index + 1,
                    step.id,
                    self.ui.styles.dim.apply_to(&reason)
                ));
                // The restored capture goes into this record too, so a run resumed from
                // this one can restore it again.
                let capture = step
                    .capture
                    .as_ref()
                    .and_then(|name| context.values.get(name))
                    .map(|value| self.mask(&value.to_string()));
                // So are its inputs: a resume of this run restores them too.
                if let Action::Manual { input, .. } = &step.action {
                    for param in input.iter().filter(|param| !param.secret) {
                        if let Some(value) = context.values.get(&param.name) {
                            self.record(Event::Input {
                                step_id: step.id.clone(),
                                name: param.name.clone(),
                                value: self.mask(&value.to_string()),
                            });
                        }
                    }
                }
                self.record(Event::StepFinished {
                    step_id: step.id.clone(),
                    status: StepStatus::Skipped,
                    exit_code: None,
                    attempts: 0,
                    duration_ms: 0,
                    wait_ms: None,
                    log: None,
                    log_sha256: None,
                    capture,
                    reason: Some(reason.clone()),
                    members: Vec::new(),
                });
                self.push_summary(SummaryRow {
                    id: step.id.clone(),
                    status: StepStatus::Skipped,
                    duration_ms: 0,
                    reason: Some(reason),
                    metric: None,
                });
                continue;
            }
            if let Some(plan) = plan.as_deref_mut() {
                let number = format!("{label}{}", index + 1);
                let described = self.describe(frame, step, context, &number).await;
                plan.push(described);
                if let Some(status) = self.stop.get() {
                    return Flow::Stop(status);
                }
                continue;
            }
            let counter = format!("{}{label}{}/{total}", frame.counter, index + 1);
            match self.step(frame, step, context, &counter).await {
                Flow::Continue => {}
                Flow::Failed if step.continue_on_error => {}
                Flow::Failed => return Flow::Failed,
                Flow::Stop(status) => {
                    self.stop.set(Some(status));
                    return Flow::Stop(status);
                }
            }
        }
        match self.stop.get() {
            Some(status) => Flow::Stop(status),
            None => Flow::Continue,
        }
    }
}
