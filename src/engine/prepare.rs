//! Preparing a runbook's context before its first step: params (placeholders for missing
//! ones in a dry-run), `run.*`, `runbook.*`, vars rendered in order and `env`. The same
//! preparation serves the runbook that is run and every runbook it includes.

use crate::audit::event::Event;
use crate::engine::Engine;
use crate::engine::context::{self, Context, Shared};
use crate::engine::error::RunError;
use crate::engine::event::RunStatus;
use crate::engine::params::Resolution;
use crate::plan::PlanParam;
use crate::runbook::Runbook;
use crate::settings::RunIdentity;
use minijinja::value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Engine<'_> {
    /// The context and environment of a runbook about to run: its params (placeholders
    /// for missing ones in a dry-run), `run.*` and `runbook.*`, its vars rendered in
    /// order, and its `env`. Secret values are added to the masker here.
    pub(crate) fn prepare(
        &self,
        runbook: &Runbook,
        run: &Shared<Value>,
        resolved: &[(String, Resolution)],
        scope: &str,
    ) -> Result<(Context, Vec<(String, String)>), RunError> {
        let mut context = Context {
            run: run.clone(),
            ..Context::default()
        };
        for (name, value) in runbook_fields(runbook) {
            context.set_runbook(name, value);
        }
        let mut exports = Vec::new();
        for (name, resolution) in resolved {
            let param = runbook.param(name);
            match resolution {
                Resolution::Value(value) => {
                    // A value holding a secret is secret, whatever the param says: a
                    // parent's secret given through `with:` stays masked here.
                    let secret = param.is_some_and(|param| param.secret)
                        || self.ui.output.shared_masker().reveals(&value.text);
                    if secret {
                        self.ui.output.add_secret(&value.text);
                        context.secrets.insert(name.clone());
                    }
                    if let Some(env) = param.and_then(|param| param.env.as_ref()) {
                        exports.push((env.clone(), value.text.clone()));
                        if secret {
                            context.secrets.insert(format!("env.{env}"));
                        }
                    }
                    context.set(name, value.typed.to_template_value());
                }
                Resolution::Missing => context.set_unknown(name, format!("param {name}")),
            }
        }
        let mut environment: BTreeMap<String, String> = std::env::vars().collect();
        environment.extend(exports.iter().cloned());
        context.env = Arc::new(environment);
        for var in &runbook.vars {
            context::reset_placeholder_flag();
            let key = format!("{scope}{}", var.name);
            let secret = self.reads_secret(&var.value, &context);
            // Resumed: the value the interrupted run computed (`stamp = now()` names
            // the database it restored), never a new one; a secret-derived var is
            // derived again from the re-entered secret.
            let replayed = self
                .replayed
                .borrow()
                .get(&key)
                .filter(|value| !secret && value.as_str() != crate::mask::MASK)
                .cloned();
            let value = match replayed {
                Some(value) => value,
                None => self.render(&var.value, &context)?,
            };
            // A var derived from a secret is secret as a whole.
            if secret {
                self.ui.output.add_secret(&value);
                context.secrets.insert(var.name.clone());
            }
            if !context::placeholder_rendered() {
                self.record(Event::Var {
                    scope: scope.to_owned(),
                    name: var.name.clone(),
                    value: if secret {
                        crate::mask::MASK.to_owned()
                    } else {
                        value.clone()
                    },
                });
            }
            if context::placeholder_rendered() {
                context.set_unknown(&var.name, format!("var {}", var.name));
            } else {
                context.set(&var.name, Value::from(value));
            }
        }
        for variable in &runbook.env {
            let value = self.render(&variable.value, &context)?;
            if self.reads_secret(&variable.value, &context) {
                self.ui.output.add_secret(&value);
                context.secrets.insert(format!("env.{}", variable.name));
            }
            context.set_env(&variable.name, value.clone());
            exports.push((variable.name.clone(), value));
        }
        Ok((context, exports))
    }
}

impl Engine<'_> {
    /// `run.status`, `run.exit_code`, `run.duration` and `run.summary`, which
    /// `on_failure`, `finally` and notify hooks read: the outcome so far, or in a
    /// dry-run placeholders (the outcome is not known).
    pub(crate) fn set_outcome(&self, runbook: &Runbook, context: &mut Context, status: RunStatus) {
        if self.options.dry_run {
            for field in ["status", "summary", "exit_code", "duration"] {
                context.set_unknown_run(field);
            }
            return;
        }
        context.set_run("status", Value::from(status.as_str()));
        context.set_run("exit_code", Value::from(status.exit().code()));
        context.set_run(
            "duration",
            Value::from(self.started.elapsed().as_secs_f64()),
        );
        context.set_run("summary", Value::from(self.summary_line(runbook, status)));
    }
}

/// `runbook.*` for templates: name, title, kind, and the RTO and RPO in seconds.
pub fn runbook_fields(runbook: &Runbook) -> [(&'static str, Value); 5] {
    let seconds = |duration: Option<crate::runbook::Duration>| {
        duration.map_or(Value::from(()), |duration| Value::from(duration.as_secs()))
    };
    [
        ("name", Value::from(runbook.name.as_str())),
        ("title", Value::from(runbook.title.as_str())),
        ("kind", Value::from(runbook.kind.as_str())),
        ("rto", seconds(runbook.rto)),
        ("rpo", seconds(runbook.rpo)),
    ]
}

/// `run.*` for templates: who, where and when, and whether it is a dry-run.
pub fn run_values(identity: &RunIdentity, dry_run: bool) -> Shared<Value> {
    Arc::new(BTreeMap::from([
        ("id".to_owned(), Value::from(identity.id.as_str())),
        (
            "started_at".to_owned(),
            Value::from(identity.started_at.as_str()),
        ),
        ("user".to_owned(), Value::from(identity.user.as_str())),
        ("host".to_owned(), Value::from(identity.host.as_str())),
        ("dry_run".to_owned(), Value::from(dry_run)),
    ]))
}

/// The params as the plan shows them: secrets masked, missing ones as placeholders.
pub fn plan_params(runbook: &Runbook, resolved: &[(String, Resolution)]) -> Vec<PlanParam> {
    resolved
        .iter()
        .map(|(name, resolution)| {
            let secret = runbook.param(name).is_some_and(|param| param.secret);
            match resolution {
                Resolution::Value(value) => PlanParam {
                    name: name.clone(),
                    value: if secret {
                        crate::mask::MASK.to_owned()
                    } else {
                        value.text.clone()
                    },
                    source: value.source.as_str(),
                },
                Resolution::Missing => PlanParam {
                    name: name.clone(),
                    value: format!("<param {name}>"),
                    source: "not given",
                },
            }
        })
        .collect()
}
