//! `runbook init`: a starter runbook and the schema next to it, so that an editor with
//! yaml-language-server finds the schema wherever the runbooks live.

use crate::error::Error;
use crate::exit::Exit;
use std::path::Path;

/// The starter, with `NAME` for the runbook's name.
const STARTER: &str = include_str!("init/starter.yaml");

pub fn init(dir: &Path, name: &str) -> Result<Exit, Error> {
    let rule = crate::runbook::shape::NameRule::Runbook;
    if !rule.matches(name) {
        return Err(Error::Usage {
            message: format!("`{name}` is not a runbook name: {}", rule.describe()),
            help: rule.fix(name).map(|fixed| format!("--name {fixed}")),
        });
    }
    let runbooks = dir.join("runbooks");
    let runbook = runbooks.join(format!("{name}.yaml"));
    if runbook.exists() {
        return Err(Error::Usage {
            message: format!("{} exists already; nothing was written", runbook.display()),
            help: Some("choose another --name, or another directory".to_owned()),
        });
    }
    std::fs::create_dir_all(&runbooks)?;
    let text = STARTER.replace("NAME", name);
    std::fs::write(&runbook, text)?;
    let schema = crate::schema::write_into(&runbooks)?;
    eprintln!(
        "wrote {} and {}\nnext: runbook run {name} --dry-run    (from {})",
        runbook.display(),
        schema.display(),
        dir.display()
    );
    Ok(Exit::Success)
}
