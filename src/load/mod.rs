//! Loading a runbook: find its text, parse it into a located YAML tree, check its
//! structure, build the model, analyse its semantics and its includes. `validate` and
//! `run` share this one path, so nothing runs that `validate` would reject.

pub mod analyze;
pub mod build;
pub mod check;
pub mod diagnostic;
pub mod problem;
pub mod source;
pub mod suggest;
pub mod yaml;

use crate::runbook::{Action, Runbook};
use crate::template::Templates;
use diagnostic::{Diagnostic, Report};
use problem::Problem;
use source::{Catalog, Source, SourceError};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
}

/// Loads runbooks and, through their includes, the runbooks they use. Results are
/// memoised by name so a shared include is read once.
pub struct Loader<'a> {
    catalog: &'a Catalog,
    templates: &'a Templates,
    /// (directory of the including file, name) → structure-only load, for include
    /// parameters and cycle detection.
    built: HashMap<(Option<PathBuf>, String), Option<Rc<Loaded>>>,
    /// Error counts of fully loaded includes, and the ones being loaded right now.
    checked: HashMap<(Option<PathBuf>, String), usize>,
    in_progress: HashSet<String>,
}

impl<'a> Loader<'a> {
    pub fn new(catalog: &'a Catalog, templates: &'a Templates) -> Loader<'a> {
        Loader {
            catalog,
            templates,
            built: HashMap::new(),
            checked: HashMap::new(),
            in_progress: HashSet::new(),
        }
    }

    /// Loads a runbook fully: structure, semantics and its includes.
    pub fn load(&mut self, source: Source) -> Loaded {
        let mut loaded = self.load_structure(source);
        if let Some(runbook) = &loaded.runbook {
            self.in_progress.insert(runbook.name.clone());
            let mut report = Report::new(loaded.source.display_name(), &loaded.source.text);
            analyze::analyze(runbook, &loaded.source.stem, self.templates, &mut report);
            let directory = loaded.source.directory();
            self.check_includes(runbook, directory.as_deref(), &mut report);
            loaded.diagnostics.extend(report.into_sorted());
            self.in_progress.remove(&runbook.name);
            tracing::debug!(
                runbook = %runbook.name,
                errors = loaded.error_count(),
                warnings = loaded.warning_count(),
                "checked runbook"
            );
            loaded.diagnostics.sort_by_key(|diagnostic| {
                diagnostic
                    .span
                    .map_or((usize::MAX, 0), |span| (span.line, span.column))
            });
        }
        loaded
    }

    /// Parse, structural check and build, without semantic analysis.
    pub fn load_structure(&self, source: Source) -> Loaded {
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

    /// The runbook an include names, as seen from a file in `directory`: a sibling file
    /// first, then the search path.
    pub fn find_include(&self, name: &str, directory: Option<&Path>) -> Option<Source> {
        if let Some(directory) = directory {
            for extension in ["yaml", "yml"] {
                let sibling = directory.join(format!("{name}.{extension}"));
                if sibling.is_file() {
                    return Source::read(&sibling).ok();
                }
            }
        }
        self.catalog.find(name).ok()
    }

    /// An included runbook, loaded for its structure (memoised).
    fn built(&mut self, name: &str, directory: Option<&Path>) -> Option<Rc<Loaded>> {
        let key = (directory.map(Path::to_owned), name.to_owned());
        if let Some(cached) = self.built.get(&key) {
            return cached.clone();
        }
        let loaded = self
            .find_include(name, directory)
            .map(|source| Rc::new(self.load_structure(source)));
        self.built.insert(key, loaded.clone());
        loaded
    }

    fn check_includes(&mut self, runbook: &Runbook, directory: Option<&Path>, report: &mut Report) {
        for step in runbook.all_steps() {
            let Action::Include {
                runbook: target,
                with,
                span,
            } = &step.action
            else {
                continue;
            };
            let id = Some(step.id.as_str());
            let span = Some(*span);
            if target == &runbook.name {
                let problem = Problem::IncludeCycle {
                    chain: vec![runbook.name.clone(), target.clone()],
                };
                report.error(problem, span, &step.path, id);
                continue;
            }
            let Some(included) = self.built(target, directory) else {
                let names: Vec<String> = self
                    .catalog
                    .list()
                    .into_iter()
                    .map(|source| source.stem)
                    .collect();
                let problem = Problem::UnknownInclude {
                    name: target.clone(),
                    suggestion: suggest::suggest(target, names.iter().map(String::as_str)),
                };
                report.error(problem, span, &step.path, id);
                continue;
            };
            if let Some(chain) = self.cycle_back_to(&runbook.name, target, directory) {
                let mut full = vec![runbook.name.clone()];
                full.extend(chain);
                report.error(Problem::IncludeCycle { chain: full }, span, &step.path, id);
                continue;
            }
            let (Some(target_runbook), 0) = (&included.runbook, included.error_count()) else {
                let problem = Problem::IncludeInvalid {
                    name: target.clone(),
                    errors: included.error_count().max(1),
                };
                report.error(problem, span, &step.path, id);
                continue;
            };
            let secrets: Vec<&str> = runbook
                .params
                .iter()
                .filter(|param| param.secret)
                .map(|param| param.name.as_str())
                .collect();
            for (name, value) in with {
                // A secret handed to a param the included runbook does not treat as
                // secret would be shown, logged and possibly put on a command line.
                if let (Some(param), Ok(names)) = (
                    target_runbook.param(name),
                    self.templates.template_variables(&value.path, &value.text),
                ) && !param.secret
                    && let Some(secret) = names
                        .iter()
                        .map(|used| used.split('.').next().unwrap_or(used))
                        .find(|used| secrets.contains(used))
                {
                    let problem = Problem::SecretToPlainParam {
                        secret: secret.to_owned(),
                        runbook: target.clone(),
                        param: name.clone(),
                    };
                    report.warning(problem, Some(value.span), &step.path, id);
                }
                if target_runbook.param(name).is_none() {
                    let problem = Problem::IncludeUnknownParam {
                        runbook: target.clone(),
                        param: name.clone(),
                        suggestion: suggest::suggest(
                            name,
                            target_runbook
                                .params
                                .iter()
                                .map(|param| param.name.as_str()),
                        ),
                    };
                    let key_span = Some(yaml::Span {
                        line: value.span.line,
                        column: value.span.column.saturating_sub(name.len() + 2).max(1),
                        width: name.len(),
                    });
                    report.error(problem, key_span, &step.path, id);
                }
            }
            for param in &target_runbook.params {
                let given = with.iter().any(|(name, _)| name == &param.name);
                if !given
                    && param.default.is_none()
                    && param.env.is_none()
                    && param.prompt.is_none()
                {
                    let problem = Problem::IncludeMissingParam {
                        runbook: target.clone(),
                        param: param.name.clone(),
                    };
                    report.error(problem, span, &step.path, id);
                }
            }
            // The included runbook's own templates and includes must be valid too: a
            // `run` must not reach a broken procedure half-way through.
            if !self.in_progress.contains(target) {
                let errors = self.checked_errors(target, directory);
                if errors > 0 {
                    let problem = Problem::IncludeInvalid {
                        name: target.clone(),
                        errors,
                    };
                    report.error(problem, span, &step.path, id);
                }
            }
        }
    }

    /// The number of errors a full load of an included runbook finds (memoised).
    fn checked_errors(&mut self, name: &str, directory: Option<&Path>) -> usize {
        let key = (directory.map(Path::to_owned), name.to_owned());
        if let Some(errors) = self.checked.get(&key) {
            return *errors;
        }
        let errors = match self.find_include(name, directory) {
            Some(source) => self.load(source).error_count(),
            None => 1,
        };
        self.checked.insert(key, errors);
        errors
    }

    /// A chain of includes from `from` that leads back to `start`, if any.
    fn cycle_back_to(
        &mut self,
        start: &str,
        from: &str,
        directory: Option<&Path>,
    ) -> Option<Vec<String>> {
        let mut visited = HashSet::new();
        let mut stack = vec![(
            from.to_owned(),
            directory.map(Path::to_owned),
            vec![from.to_owned()],
        )];
        while let Some((name, directory, chain)) = stack.pop() {
            if !visited.insert(name.clone()) {
                continue;
            }
            let Some(loaded) = self.built(&name, directory.as_deref()) else {
                continue;
            };
            let next_directory = loaded.source.directory();
            let Some(runbook) = &loaded.runbook else {
                continue;
            };
            for step in runbook.all_steps() {
                if let Action::Include { runbook: next, .. } = &step.action {
                    let mut next_chain = chain.clone();
                    next_chain.push(next.clone());
                    if next == start {
                        return Some(next_chain);
                    }
                    stack.push((next.clone(), next_directory.clone(), next_chain));
                }
            }
        }
        None
    }

    /// Resolves a command-line argument (name or path) and loads it.
    pub fn load_argument(&mut self, argument: &str) -> Result<Loaded, SourceError> {
        let source = self.catalog.resolve(argument)?;
        Ok(self.load(source))
    }
}
