//! `runbook init`: a starter runbook and the schema next to it, so that an editor with
//! yaml-language-server finds the schema wherever the runbooks live.

use crate::error::Error;
use crate::exit::Exit;
use std::path::Path;

/// The starter, with `NAME` for the runbook's name.
const STARTER: &str = include_str!("init/starter.yaml");

pub fn init(dir: &Path, name: &str) -> Result<Exit, Error> {
    let rule = crate::runbook::shape::NameRule::Runbook;
    if !regex::Regex::new(rule.pattern()).is_ok_and(|pattern| pattern.is_match(name)) {
        eprintln!("error: `{name}` is not a runbook name: {}", rule.describe());
        return Ok(Exit::Invalid);
    }
    let runbooks = dir.join("runbooks");
    let runbook = runbooks.join(format!("{name}.yaml"));
    if runbook.exists() {
        eprintln!(
            "error: {} exists already; nothing was written (choose another --name)",
            runbook.display()
        );
        return Ok(Exit::Invalid);
    }
    std::fs::create_dir_all(&runbooks)?;
    let text = STARTER.replace("NAME", name);
    std::fs::write(&runbook, text)?;
    let schema = runbooks.join("runbook.schema.json");
    std::fs::write(&schema, crate::schema::schema_json())?;
    eprintln!(
        "wrote {} and {}\nnext: runbook run {name} --dry-run    (from {})",
        runbook.display(),
        schema.display(),
        dir.display()
    );
    Ok(Exit::Success)
}
