//! `runbook validate`: load runbooks through the same path as `run`, report every
//! problem, execute nothing.

use crate::cli::OutputFormat;
use crate::error::Error;
use crate::exit::Exit;
use crate::load::Loaded;
use crate::load::diagnostic::{Diagnostic, Severity};
use crate::load::library::Library;
use crate::load::source::SourceError;
use crate::settings::Settings;
use crate::template::{Templates, system_clock};
use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    /// Stable per kind of problem (docs/json.md, "Diagnostic codes").
    code: &'static str,
    message: String,
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    path: &'a str,
    step_id: Option<&'a str>,
    help: Option<String>,
}

#[derive(Serialize)]
struct JsonResult<'a> {
    runbook: &'a str,
    source: String,
    valid: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

pub fn validate(
    config: &Settings,
    arguments: &[String],
    strict: bool,
    format: OutputFormat,
) -> Result<Exit, Error> {
    let templates = Templates::new(system_clock());
    // Every argument (or every runbook on the search path) is a root of one library, so
    // a runbook included by several is loaded and checked once.
    let found: Vec<Result<crate::load::source::Source, SourceError>> = if arguments.is_empty() {
        config.catalog.list_all()
    } else {
        arguments
            .iter()
            .map(|argument| config.catalog.resolve(argument))
            .collect()
    };
    let sources = found
        .iter()
        .filter_map(|found| found.as_ref().ok().cloned());
    let library = Library::load(&config.catalog, &templates, sources.collect());
    let mut roots = library.roots().iter();
    let results: Vec<Result<&Loaded, &SourceError>> = found
        .iter()
        .filter_map(|found| match found {
            Ok(_) => roots.next().map(|&root| Ok(&library.entry(root).loaded)),
            Err(error) => Some(Err(error)),
        })
        .collect();

    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let errs = &config.stderr_styles;
    let outs = &config.stdout_styles;
    let mut failed = 0;
    let mut total_errors = 0;
    let mut json = Vec::new();
    let mut unreadable = Vec::new();
    for result in &results {
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(error) => {
                failed += 1;
                total_errors += 1;
                unreadable.push(*error);
                continue;
            }
        };
        let errors = loaded.error_count();
        let warnings = loaded.warning_count();
        let bad = errors > 0 || (strict && warnings > 0);
        if bad {
            failed += 1;
        }
        total_errors += errors + if strict { warnings } else { 0 };
        match format {
            OutputFormat::Text => {
                for diagnostic in &loaded.diagnostics {
                    let diagnostic = promoted(diagnostic, strict);
                    write!(stderr, "{}", diagnostic.render(errs))?;
                    writeln!(stderr)?;
                }
                if !config.quiet {
                    let status = if bad {
                        outs.error.apply_to("invalid").to_string()
                    } else {
                        outs.ok.apply_to("ok").to_string()
                    };
                    let mut detail = Vec::new();
                    if errors > 0 {
                        detail.push(format!("{errors} error{}", plural(errors)));
                    }
                    if warnings > 0 {
                        detail.push(format!("{warnings} warning{}", plural(warnings)));
                    }
                    let detail = if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", detail.join(", "))
                    };
                    writeln!(
                        stdout,
                        "{status:<7} {}{detail}  {}",
                        loaded
                            .runbook
                            .as_ref()
                            .map_or(loaded.source.stem.as_str(), |runbook| {
                                if runbook.name.is_empty() {
                                    loaded.source.stem.as_str()
                                } else {
                                    runbook.name.as_str()
                                }
                            }),
                        outs.dim.apply_to(loaded.source.display_name())
                    )?;
                }
            }
            OutputFormat::Json => json.push(JsonResult {
                runbook: &loaded.source.stem,
                source: loaded.source.display_name(),
                valid: !bad,
                errors,
                warnings,
                diagnostics: loaded
                    .diagnostics
                    .iter()
                    .map(|diagnostic| JsonDiagnostic {
                        severity: promoted(diagnostic, strict).severity,
                        code: diagnostic.problem.code(),
                        message: diagnostic.problem.to_string(),
                        file: &diagnostic.file,
                        line: diagnostic.span.map(|span| span.line),
                        column: diagnostic.span.map(|span| span.column),
                        path: &diagnostic.path,
                        step_id: diagnostic.step_id.as_deref(),
                        help: diagnostic.help(),
                    })
                    .collect(),
            }),
        }
    }
    for error in &unreadable {
        let text = errs.error_message(&error.to_string(), error.help().as_deref());
        stderr.write_all(text.as_bytes())?;
    }
    if format == OutputFormat::Json {
        let text = crate::json_document(None, &serde_json::json!({"runbooks": json}))?;
        stdout.write_all(text.as_bytes())?;
    }
    if results.is_empty() {
        writeln!(
            stderr,
            "{}: no runbooks found",
            errs.warning.apply_to("warning")
        )?;
    }
    if failed > 0 {
        if format == OutputFormat::Text && results.len() > 1 {
            writeln!(
                stderr,
                "{}: {failed} of {} runbooks invalid ({total_errors} error{})",
                errs.error.apply_to("error"),
                results.len(),
                plural(total_errors)
            )?;
        }
        return Ok(Exit::Invalid);
    }
    Ok(Exit::Success)
}

/// With `--strict`, warnings are reported as the errors they now are.
fn promoted(diagnostic: &Diagnostic, strict: bool) -> Diagnostic {
    let mut diagnostic = diagnostic.clone();
    if strict {
        diagnostic.severity = Severity::Error;
    }
    diagnostic
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
