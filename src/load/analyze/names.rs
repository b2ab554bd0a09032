//! Templates and expressions checked against the names that exist at their point of the
//! procedure: params, vars, captures and inputs so far, `run.*`, `runbook.*`,
//! `steps.ID.*` and `env.*`; secrets in commands and values where their quoting does not
//! hold.

use super::{Analyzer, Scope};
use crate::load::problem::Problem;
use crate::load::shell_lint::lint;
use crate::load::suggest::suggest;
use crate::runbook::Located;
use crate::runbook::located::{error_span, name_span, offset_span};
use crate::template::is_command;

/// Attributes of `run` that exist during the run, and the ones only known at its end.
const RUN_FIELDS: &[&str] = &["id", "started_at", "user", "host", "dry_run"];
const RUN_END_FIELDS: &[&str] = &["status", "summary", "exit_code", "duration"];
const RUNBOOK_FIELDS: &[&str] = &["name", "title", "kind", "rto", "rpo"];
const STEP_FIELDS: &[&str] = &["status", "exit_code", "duration", "attempts"];
pub(super) const NAMESPACES: &[&str] = &["env", "run", "runbook", "steps"];

impl Analyzer<'_, '_> {
    /// Checks a template; returns the names it reads.
    pub(super) fn template(
        &mut self,
        located: &Located,
        scope: &Scope,
        step_id: Option<&str>,
    ) -> Vec<String> {
        let names = match self
            .templates
            .template_variables(&located.path, &located.text)
        {
            Ok(names) => names,
            Err(error) => {
                let span = error_span(located, &error);
                let problem = Problem::TemplateSyntax {
                    message: error_message(&error),
                };
                self.report
                    .error(problem, Some(span), &located.path, step_id);
                return Vec::new();
            }
        };
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        for name in &names {
            self.resolve(name, located, scope, step_id);
        }
        if is_command(&located.path) {
            for name in &names {
                if let Some(secret) = scope.secret(name) {
                    let problem = Problem::SecretInCommand {
                        name: secret.to_owned(),
                    };
                    let span = name_span(located, secret);
                    self.report
                        .warning(problem, Some(span), &located.path, step_id);
                }
            }
            let lint = lint(&located.text, &|name| scope.numbers.contains(name));
            for refused in lint.refused {
                let interpolation = refused.interpolation;
                let span = offset_span(located, interpolation.offset, interpolation.len);
                let problem = Problem::UnsafeInterpolation {
                    name: interpolation.name,
                    expression: interpolation.expression,
                    context: refused.context,
                };
                self.report
                    .error(problem, Some(span), &located.path, step_id);
            }
            if let Some((unparsable, with_values)) = lint.unparsable {
                let problem = Problem::ShellSyntax {
                    message: unparsable.to_string(),
                    with_values,
                };
                if with_values {
                    self.report
                        .error(problem, Some(located.span), &located.path, step_id);
                } else {
                    self.report
                        .warning(problem, Some(located.span), &located.path, step_id);
                }
            }
        }
        names
    }

    pub(super) fn expression(&mut self, located: &Located, scope: &Scope, step_id: Option<&str>) {
        match self.templates.expression_variables(&located.text) {
            Ok(names) => {
                let mut names: Vec<String> = names.into_iter().collect();
                names.sort();
                for name in &names {
                    self.resolve(name, located, scope, step_id);
                }
            }
            Err(error) => {
                let problem = Problem::ExpressionSyntax {
                    message: error_message(&error),
                };
                self.report
                    .error(problem, Some(located.span), &located.path, step_id);
            }
        }
    }

    pub(super) fn resolve(
        &mut self,
        name: &str,
        located: &Located,
        scope: &Scope,
        step_id: Option<&str>,
    ) {
        let mut parts = name.split('.');
        let first = parts.next().unwrap_or_default();
        let second = parts.next();
        let third = parts.next();
        let known = match first {
            "env" => true,
            "run" => second.is_none_or(|field| {
                RUN_FIELDS.contains(&field) || (scope.at_end && RUN_END_FIELDS.contains(&field))
            }),
            "runbook" => second.is_none_or(|field| RUNBOOK_FIELDS.contains(&field)),
            "steps" => match second {
                None => true,
                Some(id) => {
                    // Ids with `-` are reachable as `steps.count_users` too, since
                    // `steps.count-users` would be a subtraction.
                    let known_id =
                        |candidate: &String| candidate == id || candidate.replace('-', "_") == id;
                    let visible = scope.step_ids.iter().any(known_id)
                        || scope.at_end && self.first_ids.keys().any(known_id);
                    visible && third.is_none_or(|field| STEP_FIELDS.contains(&field))
                }
            },
            _ => scope.names.contains(first),
        };
        if known {
            return;
        }
        let span = name_span(located, first);
        let problem = if NAMESPACES.contains(&first) {
            let candidates: Vec<String> = match first {
                "run" if scope.at_end => RUN_FIELDS
                    .iter()
                    .chain(RUN_END_FIELDS)
                    .map(|field| format!("run.{field}"))
                    .collect(),
                "run" => RUN_FIELDS
                    .iter()
                    .map(|field| format!("run.{field}"))
                    .collect(),
                "runbook" => RUNBOOK_FIELDS
                    .iter()
                    .map(|field| format!("runbook.{field}"))
                    .collect(),
                _ => scope
                    .step_ids
                    .iter()
                    .map(|id| format!("steps.{}", id.replace('-', "_")))
                    .collect(),
            };
            Problem::UndefinedVariable {
                name: name.to_owned(),
                suggestion: suggest(name, candidates.iter().map(String::as_str)),
                defined_later: None,
                same_step: false,
            }
        } else {
            Problem::UndefinedVariable {
                name: first.to_owned(),
                suggestion: suggest(first, scope.names.iter().map(String::as_str)),
                defined_later: self.later_captures.get(first).cloned(),
                same_step: self.later_captures.get(first) == Some(&self.current_step),
            }
        };
        self.report
            .error(problem, Some(span), &located.path, step_id);
    }
}

fn root(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

impl Scope {
    /// The secret a template name reads, if any: a secret param, input or var (or an
    /// attribute of one), or `env.NAME` where a secret param is read from `$NAME`.
    pub(super) fn secret<'n>(&self, name: &'n str) -> Option<&'n str> {
        if self.secrets.contains(root(name)) {
            return Some(root(name));
        }
        let variable = name.strip_prefix("env.")?;
        let variable = variable.split('.').next().unwrap_or(variable);
        self.secrets
            .contains(&format!("env.{variable}"))
            .then_some(&name[..4 + variable.len()])
    }
}

fn error_message(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => detail.to_owned(),
        None => error.kind().to_string(),
    }
}
