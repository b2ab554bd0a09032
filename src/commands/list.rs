//! `runbook list`: every runbook on the search path with its kind, title and origin.

use crate::cli::OutputFormat;
use crate::error::Error;
use crate::exit::Exit;
use crate::load::source::Origin;
use crate::settings::Settings;
use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
struct Entry {
    name: String,
    kind: String,
    title: String,
    source: String,
    valid: bool,
}

pub fn list(config: &Settings, format: OutputFormat) -> Result<Exit, Error> {
    let mut entries = Vec::new();
    for source in config.catalog.list_all() {
        let source = match source {
            Ok(source) => source,
            Err(error) => {
                writeln!(
                    std::io::stderr(),
                    "{}: {error}",
                    config.stderr_styles.warning.apply_to("warning")
                )?;
                continue;
            }
        };
        let origin = match &source.origin {
            Origin::File(path) => path.display().to_string(),
            Origin::Embedded => "built-in".to_owned(),
        };
        let name = source.stem.clone();
        let loaded = crate::load::load_structure(source);
        let valid = loaded.error_count() == 0;
        let (kind, title) = match &loaded.runbook {
            Some(runbook) if valid => (runbook.kind.as_str().to_owned(), runbook.title.clone()),
            _ => (
                "?".to_owned(),
                format!("(invalid: run `runbook validate {name}`)"),
            ),
        };
        entries.push(Entry {
            name,
            kind,
            title,
            source: origin,
            valid,
        });
    }
    let mut stdout = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            let text = crate::json_document(None, &serde_json::json!({"runbooks": entries}))?;
            stdout.write_all(text.as_bytes())?;
        }
        OutputFormat::Text => {
            let styles = &config.stdout_styles;
            let name_width = entries
                .iter()
                .map(|entry| entry.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let kind_width = entries
                .iter()
                .map(|entry| entry.kind.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let title_width = entries
                .iter()
                .map(|entry| entry.title.chars().count())
                .max()
                .unwrap_or(5)
                .max(5);
            writeln!(
                stdout,
                "{}",
                styles.dim.apply_to(format!(
                    "{:name_width$}  {:kind_width$}  {:title_width$}  SOURCE",
                    "NAME", "KIND", "TITLE"
                ))
            )?;
            for entry in &entries {
                let name = format!("{:name_width$}", entry.name);
                let name = if entry.valid {
                    styles.strong.apply_to(name)
                } else {
                    styles.error.apply_to(name)
                };
                writeln!(
                    stdout,
                    "{name}  {:kind_width$}  {:title_width$}  {}",
                    entry.kind,
                    entry.title,
                    styles.dim.apply_to(&entry.source)
                )?;
            }
        }
    }
    Ok(Exit::Success)
}
