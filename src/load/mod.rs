//! Loading a runbook: find its text, parse it into a located YAML tree, check its
//! structure, build the model, analyse its semantics and its includes. `validate` and
//! `run` share this one path, so nothing runs that `validate` would reject.

pub mod analyze;
pub mod build;
pub mod check;
pub mod codes;
pub mod diagnostic;
pub mod graph;
pub mod library;
pub mod problem;
pub mod shell_lint;
pub mod source;
pub mod suggest;
pub mod with;
pub mod yaml;
pub mod yaml_error;

use crate::runbook::Runbook;
use crate::template::Templates;
use diagnostic::{Diagnostic, Report};
use problem::Problem;
use source::Source;

/// The result of loading one runbook.
#[derive(Debug)]
pub struct Loaded {
    pub source: Source,
    /// Present unless the YAML could not be parsed at all.
    pub runbook: Option<Runbook>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.is_error())
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    pub fn runbook(&self) -> Option<&Runbook> {
        self.runbook.as_ref()
    }

    /// Top to bottom, like the file; problems without a place last.
    pub fn sort_diagnostics(&mut self) {
        self.diagnostics.sort_by_key(|diagnostic| {
            diagnostic
                .span
                .map_or((usize::MAX, 0), |span| (span.line, span.column))
        });
    }
}

/// Parse, structural check and build, without semantic analysis (`list` needs no more).
pub fn load_structure(source: Source) -> Loaded {
    tracing::debug!(file = %source.display_name(), bytes = source.text.len(), "loading runbook");
    let mut report = Report::new(source.display_name(), &source.text);
    let runbook = match yaml::parse(&source.text) {
        Ok(root) => {
            check::check(&root, &mut report);
            Some(build::build(&root))
        }
        Err(error) => {
            let span = error.span();
            report.error(Problem::Yaml(error), span, "", None);
            None
        }
    };
    let diagnostics = report.into_sorted();
    Loaded {
        source,
        runbook,
        diagnostics,
    }
}

/// One file fully checked on its own: structure and semantics. What it includes is
/// checked by the library, which loads every file once.
pub fn load_checked(source: Source, templates: &Templates) -> Loaded {
    let mut loaded = load_structure(source);
    let Some(runbook) = &loaded.runbook else {
        return loaded;
    };
    let mut report = Report::new(loaded.source.display_name(), &loaded.source.text);
    analyze::analyze(runbook, &loaded.source.stem, templates, &mut report);
    tracing::debug!(runbook = %runbook.name, "checked runbook");
    let found = report.into_sorted();
    loaded.diagnostics.extend(found);
    loaded.sort_diagnostics();
    loaded
}
