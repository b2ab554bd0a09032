//! The `parallel` action: a group of steps run at the same time; every confirmation is
//! asked before any of them starts.

use crate::engine::context::Context;
use crate::engine::event::StepStatus;
use crate::engine::step::Outcome;
use crate::engine::{Engine, Flow, Frame, qualified};
use crate::plan::PlanStep;
use crate::runbook::Step;

impl Engine<'_> {
    pub(crate) async fn parallel(
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

    /// A parallel group in the plan: each child described from the context before the
    /// group, their placeholders merged after it.
    pub(crate) async fn describe_parallel(
        &self,
        frame: &Frame<'_>,
        children: &[Step],
        context: &mut Context,
        number: &str,
    ) -> Vec<PlanStep> {
        let mut described_children = Vec::new();
        let mut merged = context.clone();
        for (index, child) in children.iter().enumerate() {
            let mut child_context = context.clone();
            let number = format!("{number}.{}", index + 1);
            let described =
                Box::pin(self.describe(frame, child, &mut child_context, &number)).await;
            described_children.push(described);
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
        described_children
    }
}
