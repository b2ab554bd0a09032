//! A step's outline as written, for `show`: the same `PlanStep` a dry-run fills with
//! rendered values, filled here with the templates themselves.

use crate::plan::fill::Filler;
use crate::plan::{PlanStep, PlanWhen};
use crate::runbook::param::Param;
use crate::runbook::{Action, ConfirmPolicy, GuardCheck, Step};

/// The outline of `step`, numbered `number`, with its parallel children, and what
/// `fill` knows filled in (`show -p`).
pub fn outline(step: &Step, number: &str, fill: &Filler) -> PlanStep {
    let mut plan = PlanStep {
        number: number.to_owned(),
        id: step.id.clone(),
        name: step
            .name
            .as_ref()
            .map_or_else(|| step.id.clone(), |name| name.text.clone()),
        markers: step.markers(),
        description: step
            .description
            .as_ref()
            .map(|description| description.text.clone()),
        when: step
            .when
            .as_ref()
            .map(|when| match fill.condition(&when.text) {
                Some(value) => PlanWhen::Now {
                    expression: when.text.trim().to_owned(),
                    value,
                },
                None => PlanWhen::Written {
                    expression: when.text.trim().to_owned(),
                },
            }),
        host: step
            .host
            .as_ref()
            .filter(|host| !host.is_local())
            .map(|host| host.name.clone()),
        exact: true,
        ..PlanStep::default()
    };
    for guard in &step.require {
        let mut check = match &guard.check {
            GuardCheck::Command(command) => format!("$ {}", fill.fill(command).trim()),
            GuardCheck::Expr(expr) => expr.text.trim().to_owned(),
        };
        if let Some(host) = &guard.host {
            check.push_str(&format!("  (on {})", host.name));
        }
        plan.guards.push(match &guard.message {
            Some(message) => format!("{check}  ({})", fill.fill(message).trim()),
            None => check,
        });
    }
    if let Some(confirm) = &step.confirm {
        let mut text = fill.fill(&confirm.message).trim().to_owned();
        if let Some(typed) = &confirm.typed {
            text.push_str(&format!(" — type {:?}", fill.fill(typed)));
        }
        if confirm.auto == ConfirmPolicy::Deny {
            text.push_str(&format!(" (only a person or --approve {})", step.id));
        }
        plan.confirmation = Some(text);
    }
    match &step.action {
        Action::Run { command } => plan.command = Some(fill.fill(command)),
        Action::Manual {
            instructions,
            input,
        } => {
            plan.manual = Some(fill.fill(instructions));
            plan.inputs = input
                .iter()
                .map(|param| format!("{}: {}", param.name, summary(param)))
                .collect();
        }
        Action::Include { runbook, with, .. } => {
            plan.include = Some(runbook.clone());
            plan.with = with
                .iter()
                .map(|(name, value)| format!("{name}={}", fill.fill(value)))
                .collect();
        }
        Action::Parallel(children) => {
            plan.children = children
                .iter()
                .enumerate()
                .map(|(index, child)| outline(child, &format!("{number}.{}", index + 1), fill))
                .collect();
        }
    }
    plan.capture = step.capture.clone();
    plan.expect = step
        .expect
        .iter()
        .map(|expectation| {
            let text = expectation.expr.text.trim().to_owned();
            match &expectation.message {
                Some(message) => format!("{text}  ({})", message.text.trim()),
                None => text,
            }
        })
        .collect();
    plan.limits = limits(step);
    plan
}

/// Timeout and retries, in the words both views use.
pub fn limits(step: &Step) -> Vec<String> {
    let mut limits = Vec::new();
    if let Some(timeout) = step.timeout {
        limits.push(format!("timeout {timeout}"));
    }
    if step.retries > 0 {
        let delay = step
            .retry_delay
            .map(|delay| format!(" after {delay}"))
            .unwrap_or_default();
        limits.push(format!("retries {}{delay}", step.retries));
    }
    limits
}

/// A param's type and constraints in a few words: `string, env DB_URL, one of a|b,
/// default "x"` (a secret default is masked).
pub fn summary(param: &Param) -> String {
    let mut parts = vec![param.param_type.as_str().to_owned()];
    if param.secret {
        parts.push("secret".into());
    }
    if let Some(env) = &param.env {
        parts.push(format!("env {env}"));
    }
    if !param.choices.is_empty() {
        parts.push(format!("one of {}", param.choices.join("|")));
    }
    if let Some(pattern) = &param.pattern {
        parts.push(format!("matching {pattern}"));
    }
    match (&param.default, param.secret) {
        (Some(_), true) => parts.push(format!("default {}", crate::mask::MASK)),
        (Some(default), false) => parts.push(format!("default {default:?}")),
        (None, _) if param.env.is_none() => parts.push("required".into()),
        (None, _) => parts.push(format!(
            "required unless ${} is set",
            param.env.as_deref().unwrap_or_default()
        )),
    }
    parts.join(", ")
}
