//! An include step's `with:` against the params of the runbook it includes: unknown
//! names, params that must be given, and secrets handed to params that would show them.

use crate::load::diagnostic::Severity;
use crate::load::problem::Problem;
use crate::load::suggest;
use crate::runbook::{Runbook, Span};
use crate::template::Templates;

/// `with:` of one include step against the params of the runbook it includes.
pub fn check_with(
    templates: &Templates,
    runbook: &Runbook,
    target: &Runbook,
    name: &str,
    with: &[(String, crate::runbook::Located)],
    span: Span,
    found: &mut Vec<(Severity, Problem, Option<Span>)>,
) {
    let secrets: Vec<&str> = runbook
        .params
        .iter()
        .filter(|param| param.secret)
        .map(|param| param.name.as_str())
        .collect();
    for (param_name, value) in with {
        // A secret handed to a param the included runbook does not treat as secret
        // would be shown, logged and possibly put on a command line.
        if let (Some(param), Ok(names)) = (
            target.param(param_name),
            templates.template_variables(&value.path, &value.text),
        ) && !param.secret
            && let Some(secret) = names
                .iter()
                .map(|used| used.split('.').next().unwrap_or(used))
                .find(|used| secrets.contains(used))
        {
            let problem = Problem::SecretToPlainParam {
                secret: secret.to_owned(),
                runbook: name.to_owned(),
                param: param_name.clone(),
            };
            found.push((Severity::Warning, problem, Some(value.span)));
        }
        if target.param(param_name).is_none() {
            let problem = Problem::IncludeUnknownParam {
                runbook: name.to_owned(),
                param: param_name.clone(),
                suggestion: suggest::suggest(
                    param_name,
                    target.params.iter().map(|param| param.name.as_str()),
                ),
            };
            let key_span = Span {
                line: value.span.line,
                column: value
                    .span
                    .column
                    .saturating_sub(param_name.len() + 2)
                    .max(1),
                width: param_name.len(),
            };
            found.push((Severity::Error, problem, Some(key_span)));
        }
    }
    for param in &target.params {
        let given = with.iter().any(|(given, _)| given == &param.name);
        if !given && param.default.is_none() && param.env.is_none() && param.prompt.is_none() {
            let problem = Problem::IncludeMissingParam {
                runbook: name.to_owned(),
                param: param.name.clone(),
            };
            found.push((Severity::Error, problem, Some(span)));
        }
    }
}
