//! Errors found while running: a template that fails to render, an expression that fails
//! to evaluate. Like minijinja's own errors they say what and where — the file, line and
//! column, the line quoted with a caret — and the values of the variables the template
//! reads (secrets masked), through the same renderer as `validate`'s diagnostics.

use crate::load::diagnostic::{Diagnostic, Severity};
use crate::load::problem::Problem;
use crate::load::yaml::Span;
use crate::runbook::Located;
use std::fmt;

/// What was being done when the error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doing {
    Render,
    Evaluate,
    /// A host's destination rendered to something ssh would misread.
    Destination,
}

/// A run-time error in one template or expression of the runbook (boxed: it travels
/// in `Result`s through the whole step pipeline).
#[derive(Clone, Debug)]
pub struct RunError(Box<Details>);

#[derive(Clone, Debug)]
pub struct Details {
    pub doing: Doing,
    /// YAML path of the template, e.g. `steps[2].run`.
    pub path: String,
    /// Where in the file the error points (inside the template when known).
    pub span: Span,
    /// The template's text, for the short form of expressions.
    pub text: String,
    /// minijinja's description of what went wrong.
    pub detail: String,
    /// `name = value` for every variable the template reads, values masked and cut.
    pub values: Vec<(String, String)>,
}

impl RunError {
    pub fn new(doing: Doing, located: &Located, error: &minijinja::Error) -> RunError {
        let detail = match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        };
        RunError(Box::new(Details {
            doing,
            path: located.path.clone(),
            span: crate::runbook::located::error_span(located, error),
            text: located.text.clone(),
            detail,
            values: Vec::new(),
        }))
    }

    /// A destination that rendered to something ssh would read as an option or as
    /// several words.
    pub fn destination(located: &Located, value: &str, why: &str) -> RunError {
        RunError(Box::new(Details {
            doing: Doing::Destination,
            path: located.path.clone(),
            span: located.span,
            text: located.text.clone(),
            detail: format!("`{value}` is not an ssh destination: {why}"),
            values: Vec::new(),
        }))
    }

    pub fn details_mut(&mut self) -> &mut Details {
        &mut self.0
    }

    /// The error as a diagnostic of the file it is in, with the step it belongs to.
    pub fn diagnostic(&self, file: &str, source: &str, step_id: Option<&str>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            problem: Problem::RunTime {
                message: self.to_string(),
                values: self.values.clone(),
            },
            file: file.to_owned(),
            span: Some(self.span),
            path: self.path.clone(),
            step_id: step_id.map(str::to_owned),
            source_line: source
                .lines()
                .nth(self.span.line.saturating_sub(1))
                .map(|line| line.trim_end_matches('\r').to_owned()),
        }
    }
}

impl std::ops::Deref for RunError {
    type Target = Details;

    fn deref(&self) -> &Details {
        &self.0
    }
}

/// The short form, used as a step's failure reason in the summary and the audit log.
impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.doing {
            Doing::Render => write!(f, "cannot render {}: {}", self.path, self.detail),
            Doing::Destination => write!(f, "{}: {}", self.path, self.detail),
            Doing::Evaluate => write!(
                f,
                "cannot evaluate {} `{}`: {}",
                self.path,
                self.text.trim(),
                self.detail
            ),
        }
    }
}
