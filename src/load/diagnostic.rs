//! Diagnostics: one problem found in a runbook, where it is, and how to fix it, rendered
//! the way compilers do (file:line:col, the line quoted, a caret, a `help:`).

use crate::load::problem::Problem;
use crate::load::yaml::Span;
use crate::ui::style::Styles;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with a runbook.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub problem: Problem,
    /// Display name of the file (relative path, or `embedded:NAME.yaml`).
    pub file: String,
    pub span: Option<Span>,
    /// The YAML path, e.g. `steps[3].confirm`.
    pub path: String,
    /// The id of the step the problem is in, if any.
    pub step_id: Option<String>,
    /// The quoted source line, when a line is known.
    pub source_line: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn help(&self) -> Option<String> {
        self.problem.help()
    }

    /// `file:line:col`, or just the file.
    pub fn location(&self) -> String {
        match self.span {
            Some(span) => format!("{}:{}:{}", self.file, span.line, span.column),
            None => self.file.clone(),
        }
    }

    pub fn render(&self, styles: &Styles) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => styles.error.apply_to("error"),
            Severity::Warning => styles.warning.apply_to("warning"),
        };
        let code = self.problem.code();
        let _ = writeln!(
            out,
            "{label}{}: {}",
            match self.severity {
                Severity::Error => styles.error.apply_to(format!("[{code}]")),
                Severity::Warning => styles.warning.apply_to(format!("[{code}]")),
            },
            styles.strong.apply_to(&self.problem)
        );
        let gutter = self
            .span
            .map(|span| span.line.to_string().len())
            .unwrap_or(1);
        let pad = " ".repeat(gutter);
        let mut context = String::new();
        if !self.path.is_empty() {
            context = format!(" (at {}", self.path);
            if let Some(step_id) = &self.step_id {
                let _ = write!(context, ", step `{step_id}`");
            }
            context.push(')');
        } else if let Some(step_id) = &self.step_id {
            context = format!(" (step `{step_id}`)");
        }
        let arrow = styles.dim.apply_to("-->");
        let _ = writeln!(out, "{pad}{arrow} {}{context}", self.location());
        if let (Some(span), Some(line)) = (self.span, &self.source_line) {
            // A very long line is shown as a window around the column, not whole.
            const WINDOW: usize = 120;
            let chars: Vec<char> = line
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let column = span.column.saturating_sub(1).min(chars.len());
            let (start, end) = if chars.len() > WINDOW {
                let start = column.saturating_sub(WINDOW / 3);
                (start, (start + WINDOW).min(chars.len()))
            } else {
                (0, chars.len())
            };
            let mut shown: String = chars[start..end].iter().collect();
            let mut indent = " ".repeat(column - start);
            if start > 0 {
                shown.insert(0, '…');
                indent.push(' ');
            }
            if end < chars.len() {
                shown.push('…');
            }
            let bar = styles.dim.apply_to("|");
            let _ = writeln!(out, "{pad} {bar}");
            let _ = writeln!(out, "{} {bar} {shown}", styles.dim.apply_to(span.line));
            let available = end.saturating_sub(column).max(1);
            let carets = "^".repeat(span.width.clamp(1, available));
            let carets = match self.severity {
                Severity::Error => styles.error.apply_to(carets),
                Severity::Warning => styles.warning.apply_to(carets),
            };
            let _ = writeln!(out, "{pad} {bar} {indent}{carets}");
        }
        if let Some(help) = self.help() {
            let _ = writeln!(
                out,
                "{pad} {} {}: {help}",
                styles.dim.apply_to("="),
                styles.help.apply_to("help")
            );
        }
        out
    }
}

/// Collects diagnostics for one source file.
pub struct Report<'source> {
    file: String,
    text: &'source str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'source> Report<'source> {
    pub fn new(file: impl Into<String>, text: &'source str) -> Report<'source> {
        Report {
            file: file.into(),
            text,
            diagnostics: Vec::new(),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn error(
        &mut self,
        problem: Problem,
        span: Option<Span>,
        path: &str,
        step_id: Option<&str>,
    ) {
        self.push(Severity::Error, problem, span, path, step_id);
    }

    pub fn warning(
        &mut self,
        problem: Problem,
        span: Option<Span>,
        path: &str,
        step_id: Option<&str>,
    ) {
        self.push(Severity::Warning, problem, span, path, step_id);
    }

    fn push(
        &mut self,
        severity: Severity,
        problem: Problem,
        span: Option<Span>,
        path: &str,
        step_id: Option<&str>,
    ) {
        let source_line = span.and_then(|span| {
            self.text
                .lines()
                .nth(span.line.saturating_sub(1))
                .map(|line| line.trim_end_matches('\r').to_owned())
        });
        self.diagnostics.push(Diagnostic {
            severity,
            problem,
            file: self.file.clone(),
            span,
            path: path.to_owned(),
            step_id: step_id.map(str::to_owned),
            source_line,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Sorted by position so the report reads top to bottom like the file.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|diagnostic| {
            diagnostic
                .span
                .map(|span| (span.line, span.column))
                .unwrap_or((usize::MAX, 0))
        });
        self.diagnostics
    }
}
