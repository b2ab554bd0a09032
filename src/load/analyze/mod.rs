//! The semantic checks that need the whole runbook: unique step ids, parameter defaults,
//! and every template and expression compiled and checked against the variables that
//! exist at that point of the procedure (a capture used before its step is an error).
//! Names and templates are checked in `names.rs`, hosts in `hosts.rs`.

mod hosts;
mod names;

use crate::load::diagnostic::Report;
use crate::load::problem::Problem;
use crate::load::yaml::Span;
use crate::runbook::located::offset_span;
use crate::runbook::param::{ValueError, compile_pattern};
use crate::runbook::{Action, GuardCheck, Param, Runbook, Step};
use crate::template::Templates;
use names::NAMESPACES;
use std::collections::{HashMap, HashSet};

/// What a template may refer to at one point of the procedure.
#[derive(Clone, Default)]
struct Scope {
    names: HashSet<String>,
    step_ids: HashSet<String>,
    /// Names whose values are secret (params, inputs, and vars derived from them).
    secrets: HashSet<String>,
    /// Names whose values are numbers (params and inputs of type integer or number).
    numbers: HashSet<String>,
    /// In `finally`, `on_failure` and `notify`: the run's outcome is known.
    at_end: bool,
}

pub fn analyze(runbook: &Runbook, stem: &str, templates: &Templates, report: &mut Report) {
    let mut analyzer = Analyzer {
        templates,
        report,
        later_captures: HashMap::new(),
        first_ids: HashMap::new(),
        current_step: String::new(),
        hosts: runbook.hosts.iter().map(|host| host.name.clone()).collect(),
    };
    analyzer.run(runbook, stem);
}

struct Analyzer<'a, 'r> {
    templates: &'a Templates,
    report: &'a mut Report<'r>,
    /// capture name → id of the step that captures it, for "used before defined".
    later_captures: HashMap<String, String>,
    /// step id → line of its first use, for duplicate ids.
    first_ids: HashMap<String, usize>,
    /// The step being checked, to tell "captured later" from "captured by this step".
    current_step: String,
    /// The names under `hosts:`.
    hosts: Vec<String>,
}

impl Analyzer<'_, '_> {
    fn run(&mut self, runbook: &Runbook, stem: &str) {
        let valid_name = crate::runbook::shape::NameRule::Runbook.matches(&runbook.name);
        if valid_name && runbook.name != stem && !stem.is_empty() {
            let problem = Problem::NameMismatch {
                name: runbook.name.clone(),
                stem: stem.to_owned(),
            };
            self.report.error(problem, runbook.name_span, "name", None);
        }
        for step in runbook.all_steps() {
            self.step_id(step);
            if let Some(capture) = &step.capture {
                self.later_captures
                    .entry(capture.clone())
                    .or_insert_with(|| step.id.clone());
            }
        }

        let mut scope = Scope::default();
        for param in &runbook.params {
            self.param(param);
            self.define(
                &mut scope,
                &param.name,
                "param",
                param.span,
                &param.path,
                None,
            );
            if param.secret {
                scope.secrets.insert(param.name.clone());
                if let Some(variable) = &param.env {
                    scope.secrets.insert(format!("env.{variable}"));
                }
            }
            if param.param_type.is_numeric() {
                scope.numbers.insert(param.name.clone());
            }
        }
        if let Some(lock) = &runbook.lock {
            // Taken before anything runs: only params are known then. Lock files are
            // readable by every user, so no secret may name one.
            let names = self.template(lock, &scope, None);
            if let Some(secret) = names.iter().find_map(|name| scope.secret(name)) {
                let problem = Problem::SecretInLock {
                    name: secret.to_owned(),
                };
                self.report
                    .error(problem, Some(lock.span), &lock.path, None);
            }
        }
        for var in &runbook.vars {
            let names = self.template(&var.value, &scope, None);
            if names.iter().any(|name| scope.secret(name).is_some()) {
                scope.secrets.insert(var.name.clone());
            }
            self.define(
                &mut scope,
                &var.name,
                "var",
                var.value.span,
                &var.value.path,
                None,
            );
        }
        for env in &runbook.env {
            self.template(&env.value, &scope, None);
            self.code_variable(env, None);
        }
        for host in &runbook.hosts {
            self.host(host, &scope);
        }

        let main_scope = self.steps(&runbook.steps, scope, false);
        let mut end_scope = main_scope;
        end_scope.at_end = true;
        // `finally` may run after any step failed; captures of every step are allowed
        // here and are undefined at run time only if their step never ran.
        let end_scope = self.steps(&runbook.on_failure, end_scope, false);
        let end_scope = self.steps(&runbook.finally_steps, end_scope, false);
        for notify in &runbook.notify {
            self.host_ref(notify.host.as_ref(), None);
            if let Some(when) = &notify.when {
                self.expression(when, &end_scope, None);
            }
            self.template(&notify.run, &end_scope, None);
        }
    }

    fn step_id(&mut self, step: &Step) {
        if step.id.is_empty() {
            return;
        }
        match self.first_ids.get(&step.id) {
            Some(first_line) => {
                let problem = Problem::DuplicateStepId {
                    id: step.id.clone(),
                    first_line: *first_line,
                };
                self.report
                    .error(problem, Some(step.span), &step.path, Some(&step.id));
            }
            None => {
                self.first_ids.insert(step.id.clone(), step.span.line);
            }
        }
    }

    fn define(
        &mut self,
        scope: &mut Scope,
        name: &str,
        kind: &'static str,
        span: Span,
        path: &str,
        step_id: Option<&str>,
    ) {
        if scope.names.contains(name) || NAMESPACES.contains(&name) {
            let first = if NAMESPACES.contains(&name) {
                "built-in namespace"
            } else {
                "param, var, capture or input"
            };
            let problem = Problem::DuplicateVariable {
                name: name.to_owned(),
                first,
            };
            self.report.error(problem, Some(span), path, step_id);
            return;
        }
        let _ = kind;
        scope.names.insert(name.to_owned());
    }

    fn param(&mut self, param: &Param) {
        let mut pattern_ok = true;
        if let Some(pattern) = &param.pattern
            && let Err(ValueError::BadPattern { error, .. }) = compile_pattern(pattern)
        {
            pattern_ok = false;
            let problem = Problem::BadPattern {
                param: param.name.clone(),
                error,
            };
            let span = param.pattern_span.or(Some(param.span));
            self.report
                .error(problem, span, &format!("{}.pattern", param.path), None);
        }
        if let Some(default) = &param.default
            && pattern_ok
            && let Err(error) = param.check(default)
        {
            let problem = Problem::BadDefault {
                param: param.name.clone(),
                value: default.clone(),
                error,
            };
            let span = param.default_span.or(Some(param.span));
            self.report
                .error(problem, span, &format!("{}.default", param.path), None);
        }
    }

    /// Checks a list of steps in order, returning the scope after the last one.
    fn steps(&mut self, steps: &[Step], mut scope: Scope, in_parallel: bool) -> Scope {
        for step in steps {
            scope = self.step(step, scope, in_parallel);
        }
        scope
    }

    /// Checks one step against `scope` and returns the scope after it. The scope is
    /// grown in place, never copied per step (a copy per step made validation quadratic);
    /// only the children of a parallel group each get a copy of the scope before it.
    fn step(&mut self, step: &Step, scope: Scope, in_parallel: bool) -> Scope {
        let id = Some(step.id.as_str());
        self.current_step = step.id.clone();
        for text in [&step.name, &step.description].into_iter().flatten() {
            self.template(text, &scope, id);
        }
        if let Some(when) = &step.when {
            self.expression(when, &scope, id);
        }
        self.host_ref(step.host.as_ref(), id);
        for guard in &step.require {
            self.host_ref(guard.host.as_ref(), id);
            match &guard.check {
                GuardCheck::Command(command) => {
                    self.template(command, &scope, id);
                }
                GuardCheck::Expr(expr) => self.expression(expr, &scope, id),
            };
            if let Some(message) = &guard.message {
                self.template(message, &scope, id);
            }
        }
        if let Some(confirm) = &step.confirm {
            self.template(&confirm.message, &scope, id);
            if let Some(typed) = &confirm.typed {
                self.template(typed, &scope, id);
            }
        }
        for env in &step.env {
            self.template(&env.value, &scope, id);
            self.code_variable(env, id);
        }
        if let Some(workdir) = &step.workdir {
            self.template(workdir, &scope, id);
        }
        let mut after = scope;
        match &step.action {
            Action::Run { command } => {
                if step.interactive && step.capture.is_some() {
                    self.report
                        .error(Problem::InteractiveCapture, Some(step.span), &step.path, id);
                }
                if step.interactive && step.host.as_ref().is_some_and(|host| !host.is_local()) {
                    self.report
                        .error(Problem::InteractiveRemote, Some(step.span), &step.path, id);
                }
                if in_parallel && step.interactive {
                    self.report.error(
                        Problem::InteractiveInParallel,
                        Some(step.span),
                        &step.path,
                        id,
                    );
                }
                self.template(command, &after, id);
            }
            Action::Manual {
                instructions,
                input,
            } => {
                if in_parallel {
                    self.report
                        .error(Problem::ManualInParallel, Some(step.span), &step.path, id);
                }
                self.template(instructions, &after, id);
                for param in input {
                    self.param(param);
                    self.define(
                        &mut after,
                        &param.name,
                        "input",
                        param.span,
                        &param.path,
                        id,
                    );
                    if param.secret {
                        after.secrets.insert(param.name.clone());
                    }
                    if param.param_type.is_numeric() {
                        after.numbers.insert(param.name.clone());
                    }
                }
            }
            Action::Include { with, .. } => {
                for (_, value) in with {
                    self.template(value, &after, id);
                }
            }
            Action::Parallel(children) => {
                if children.is_empty() {
                    let problem = Problem::EmptySteps { key: "parallel" };
                    self.report.error(problem, Some(step.span), &step.path, id);
                }
                // Siblings run at the same time: none sees another's captures, and two
                // of them must not capture the same name.
                let before = after.clone();
                for child in children {
                    let child_scope = self.step(child, before.clone(), true);
                    for name in child_scope.names.difference(&before.names) {
                        if after.names.contains(name) {
                            let problem = Problem::DuplicateVariable {
                                name: name.clone(),
                                first: "capture or input of another step in this group",
                            };
                            self.report.error(
                                problem,
                                Some(child.span),
                                &child.path,
                                Some(&child.id),
                            );
                        }
                        after.names.insert(name.clone());
                    }
                    after.step_ids.extend(child_scope.step_ids);
                }
                self.current_step = step.id.clone();
            }
        }
        if let Some(capture) = &step.capture {
            self.define(&mut after, capture, "capture", step.span, &step.path, id);
        }
        after.step_ids.insert(step.id.clone());
        for expectation in &step.expect {
            self.expression(&expectation.expr, &after, id);
            if let Some(message) = &expectation.message {
                self.template(message, &after, id);
            }
        }
        after
    }

    /// An environment variable bash runs as code (`BASH_ENV`, `PS4`, …) must not take a
    /// value from a template.
    fn code_variable(&mut self, env: &crate::runbook::EnvVar, step_id: Option<&str>) {
        if !crate::quoting::is_code_variable(&env.name) {
            return;
        }
        if let Some(interpolation) = crate::load::shell_lint::interpolations(&env.value.text)
            .into_iter()
            .find(|interpolation| !interpolation.is_code())
        {
            let span = offset_span(&env.value, interpolation.offset, interpolation.len);
            let problem = Problem::UnsafeInterpolation {
                name: interpolation.name,
                expression: interpolation.expression,
                context: crate::quoting::Context::CodeVariable(env.name.clone()),
            };
            self.report
                .error(problem, Some(span), &env.value.path, step_id);
        }
    }
}
