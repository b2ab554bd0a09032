//! Dynamic shell completion (clap_complete's `CompleteEnv`): runbook names, `-p NAME=`
//! with the params and inputs of the runbook on the line, step ids after `--approve`,
//! run ids after `audit show` and `resume`. The shell calls `runbook` again with
//! `RUNBOOK_COMPLETE=SHELL` and the words typed so far after `--`; these functions read
//! those words to know which runbook is meant.

use clap_complete::engine::CompletionCandidate;
use std::ffi::OsStr;
use std::path::PathBuf;

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

/// Where runbooks are searched, as the command line being completed says (`--dir`).
fn catalog(words: &[String]) -> crate::load::source::Catalog {
    let mut directories: Vec<PathBuf> = words
        .windows(2)
        .filter(|pair| pair[0] == "--dir")
        .map(|pair| PathBuf::from(&pair[1]))
        .collect();
    if let Some(path) = std::env::var_os("RUNBOOK_PATH") {
        directories
            .extend(std::env::split_paths(&path).filter(|path| !path.as_os_str().is_empty()));
    }
    directories.push(PathBuf::from("runbooks"));
    crate::load::source::Catalog::new(directories, true)
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
    let words = words();
    starting_with(
        current,
        catalog(&words).list().into_iter().map(|source| source.stem),
    )
}

/// `f` of the runbook named after `run` (or `show`) on the line being completed.
fn with_runbook_on_line<T>(
    f: impl FnOnce(&crate::runbook::Runbook, &crate::load::source::Catalog) -> T,
) -> Option<T> {
    let words = words();
    let at = words
        .iter()
        .position(|word| word == "run" || word == "show")?;
    // Flags that take a value skip it: which ones, clap's definition of the command
    // says (globals included), so this never falls behind a new flag.
    let command = {
        use clap::CommandFactory;
        let mut command = crate::cli::Cli::command();
        command.build();
        command
    };
    let takes_value = |flag: &str| {
        command
            .find_subcommand(&words[at])
            .into_iter()
            .flat_map(|sub| sub.get_arguments())
            .any(|arg| {
                arg.get_action().takes_values()
                    && (arg
                        .get_long()
                        .is_some_and(|long| flag == format!("--{long}"))
                        || arg
                            .get_short()
                            .is_some_and(|short| flag == format!("-{short}")))
            })
    };
    let mut rest = words[at + 1..].iter();
    let mut name = None;
    while let Some(word) = rest.next() {
        if word.starts_with('-') {
            if !word.contains('=') && takes_value(word) {
                rest.next();
            }
            continue;
        }
        name = Some(word.clone());
        break;
    }
    let name = name?;
    let catalog = catalog(&words);
    let templates = crate::template::Templates::new(crate::template::system_clock());
    let library = crate::load::library::Library::load_argument(&catalog, &templates, &name).ok()?;
    library.root().runbook().map(|runbook| f(runbook, &catalog))
}

/// `NAME=` for the params and manual inputs of the runbook on the line.
pub fn params(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = with_runbook_on_line(|runbook, _| {
        let mut names: Vec<String> = runbook
            .params
            .iter()
            .map(|param| format!("{}=", param.name))
            .collect();
        for step in runbook.all_steps() {
            if let crate::runbook::Action::Manual { input, .. } = &step.action {
                names.extend(input.iter().map(|param| format!("{}=", param.name)));
            }
        }
        names
    });
    starting_with(current, names.unwrap_or_default())
}

/// Step ids of the runbook on the line (and `include/child` for the steps of what it
/// includes, one level down).
pub fn steps(current: &OsStr) -> Vec<CompletionCandidate> {
    let ids = with_runbook_on_line(|runbook, catalog| {
        let templates = crate::template::Templates::new(crate::template::system_clock());
        let mut ids = Vec::new();
        for step in runbook.all_steps() {
            ids.push(step.id.clone());
            if let crate::runbook::Action::Include { runbook: name, .. } = &step.action
                && let Ok(library) =
                    crate::load::library::Library::load_argument(catalog, &templates, name)
                && let Some(included) = library.root().runbook()
            {
                ids.extend(
                    included
                        .all_steps()
                        .iter()
                        .map(|child| format!("{}/{}", step.id, child.id)),
                );
            }
        }
        ids
    });
    starting_with(current, ids.unwrap_or_default())
}

/// Run ids in the audit directory (newest first in the listing the shell sorts).
pub fn runs(current: &OsStr) -> Vec<CompletionCandidate> {
    let words = words();
    let directory = words
        .windows(2)
        .find(|pair| pair[0] == "--audit-dir")
        .map(|pair| PathBuf::from(&pair[1]))
        .or_else(|| std::env::var_os("RUNBOOK_AUDIT_DIR").map(PathBuf::from))
        .or_else(|| crate::audit::default_directory().ok());
    let Some(directory) = directory else {
        return Vec::new();
    };
    starting_with(
        current,
        crate::audit::record_files(&directory)
            .iter()
            .filter_map(|path| {
                path.file_stem()
                    .and_then(|stem| stem.to_str())
                    .and_then(|stem| stem.rsplit('-').next())
                    .map(str::to_owned)
            }),
    )
}

/// The registration script for `shell` (`runbook completions SHELL`).
pub fn registration(shell: clap_complete::Shell) -> std::io::Result<Vec<u8>> {
    let name = match shell {
        clap_complete::Shell::Bash => "bash",
        clap_complete::Shell::Zsh => "zsh",
        clap_complete::Shell::Fish => "fish",
        clap_complete::Shell::Elvish => "elvish",
        clap_complete::Shell::PowerShell => "powershell",
        _ => "bash",
    };
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(name)
        .ok_or_else(|| std::io::Error::other(format!("no completion for {name}")))?;
    let mut script = Vec::new();
    completer.write_registration(VAR, "runbook", "runbook", "runbook", &mut script)?;
    Ok(script)
}
