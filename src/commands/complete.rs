//! Dynamic shell completion (clap_complete's `CompleteEnv`): runbook names, `-p NAME=`
//! with the params and inputs of the runbook on the line, step ids after `--approve`,
//! run ids after `audit show` and `resume`. The shell calls `runbook` again with
//! `RUNBOOK_COMPLETE=SHELL` and the words typed so far after `--`; these functions read
//! those words to know which runbook is meant.

use crate::engine::preflight;
use crate::load::library::Library;
use crate::settings::Settings;
use clap_complete::engine::CompletionCandidate;
use std::ffi::OsStr;

/// The variable the registration scripts set (`runbook completions SHELL`).
pub const VAR: &str = "RUNBOOK_COMPLETE";

/// The words being completed: what follows `--` in this process's arguments.
fn words() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|arg| arg == "--") {
        Some(at) => args[at + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The line being completed, as clap reads it (errors ignored: it is unfinished), and
/// the settings it would run with (its `--dir`, `--audit-dir`, the environment).
fn line() -> Option<(clap::ArgMatches, Settings)> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = crate::cli::Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(words())
        .ok()?;
    let global = crate::cli::GlobalArgs::from_arg_matches(&matches).ok()?;
    let settings = Settings::resolve(&global);
    Some((matches, settings))
}

fn starting_with(
    current: &OsStr,
    values: impl IntoIterator<Item = String>,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut values: Vec<String> = values
        .into_iter()
        .filter(|value| value.starts_with(current.as_ref()))
        .collect();
    values.sort();
    values.dedup();
    values.into_iter().map(CompletionCandidate::new).collect()
}

/// Runbook names.
pub fn runbooks(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = line().map(|(_, settings)| {
        settings
            .catalog
            .list()
            .into_iter()
            .map(|source| source.stem)
            .collect::<Vec<_>>()
    });
    starting_with(current, names.unwrap_or_default())
}

/// `f` of the library of the runbook given to `run` or `show` on the line.
fn with_runbook_on_line<T>(f: impl FnOnce(&Library) -> T) -> Option<T> {
    let (matches, settings) = line()?;
    let (_, command) = matches
        .subcommand()
        .filter(|(name, _)| *name == "run" || *name == "show")?;
    let name = command.get_one::<String>("runbook")?;
    let templates = crate::template::Templates::new(crate::template::system_clock());
    let library = Library::load_argument(&settings.catalog, &templates, name).ok()?;
    library.root().runbook()?;
    Some(f(&library))
}

/// `NAME=` for every name `-p` may set: the params, and the manual inputs of the
/// runbook on the line and of what it includes.
pub fn params(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = with_runbook_on_line(|library| {
        preflight::known_names(library)
            .into_iter()
            .map(|name| format!("{name}="))
            .collect::<Vec<_>>()
    });
    starting_with(current, names.unwrap_or_default())
}

/// What `--approve` may name: step ids of the runbook on the line and of what it
/// includes, and `include/child` one level down.
pub fn steps(current: &OsStr) -> Vec<CompletionCandidate> {
    starting_with(
        current,
        with_runbook_on_line(preflight::approval_ids).unwrap_or_default(),
    )
}

/// Run ids in the audit directory the line would use.
pub fn runs(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some((_, settings)) = line() else {
        return Vec::new();
    };
    let Ok(directory) = settings.audit_directory() else {
        return Vec::new();
    };
    starting_with(
        current,
        crate::audit::record_files(directory)
            .iter()
            .filter_map(|path| crate::audit::run_id_of(path).map(str::to_owned)),
    )
}

/// The registration script for `shell` (`runbook completions SHELL`).
pub fn registration(shell: clap_complete::Shell) -> std::io::Result<Vec<u8>> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| std::io::Error::other(format!("no completion for {name}")))?;
    let mut script = Vec::new();
    completer.write_registration(VAR, "runbook", "runbook", "runbook", &mut script)?;
    Ok(script)
}
