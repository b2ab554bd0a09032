//! The `include` action: another runbook, resolved in the library when it was loaded,
//! run as one step with its params from `with:`.

use crate::engine::context::Context;
use crate::engine::event::{RunStatus, StepStatus};
use crate::engine::params::{self, Resolution};
use crate::engine::step::Outcome;
use crate::engine::{Engine, Frame, qualified};
use crate::plan::PlanStep;
use crate::runbook::{Located, Step};

impl Engine<'_> {
    pub(crate) async fn include(
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
        // A value given but invalid is reported as such, not also as missing.
        let missing: Vec<String> = resolved
            .iter()
            .filter(|(name, resolution)| {
                matches!(resolution, Resolution::Missing) && !given.contains_key(name)
            })
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
        let scope = format!("{}{}/", frame.path, step.id);
        let (child_context, exports) = match self.prepare(runbook, &context.run, &resolved, &scope)
        {
            Ok(prepared) => prepared,
            // The included runbook's vars and env are in its own file: say so there.
            Err(error) => {
                self.report(entry, Some(&qualified(frame, &step.id)), &error);
                return Outcome::failed(error.to_string());
            }
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
        // A templated lock (`pg-{{ db_name }}`) names this include's target: taken now,
        // with the values it was given, and released when it ends.
        let mut taken: Vec<String> = Vec::new();
        if let (Some(locks), Some(lock), false) = (self.locks, &runbook.lock, self.options.dry_run)
            && crate::engine::preflight::templated(lock)
        {
            let name = match crate::engine::preflight::render_lock(
                self.templates,
                lock,
                &child_context.to_value(),
            ) {
                Ok(name) => name,
                Err(message) => return Outcome::failed(self.mask(&message)),
            };
            match locks.acquire(std::slice::from_ref(&name)) {
                Ok(names) => taken = names,
                Err(error) => return Outcome::failed(self.mask(&error.to_string())),
            }
        }
        let status = Box::pin(self.run_frame(&child, &mut child_context, None)).await;
        if let Some(locks) = self.locks {
            locks.release(&taken);
        }
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

    /// An include in the plan: the included runbook's steps, described with its own
    /// context.
    pub(crate) async fn describe_include(
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
        let scope = format!("{}{}/", frame.path, step.id);
        let Ok((mut child_context, exports)) =
            self.prepare(runbook, &context.run, &resolved, &scope)
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
}
