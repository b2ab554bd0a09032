//! One module per subcommand; `dispatch` picks one. Commands print results to stdout and
//! the conversation to stderr, and return how the process should exit.

mod audit;
pub mod complete;
mod init;
mod list;
mod run;
mod show;
mod validate;

use crate::cli::Command;
use crate::error::Error;
use crate::exit::Exit;
use crate::settings::Settings;
use std::io::Write;

pub fn dispatch(command: &Command, config: &Settings) -> Result<Exit, Error> {
    match command {
        Command::List { format } => list::list(config, *format),
        Command::Show {
            runbook,
            format,
            params,
        } => show::show(config, runbook, *format, params),
        Command::Validate {
            runbooks,
            strict,
            format,
        } => validate::validate(config, runbooks, *strict, *format),
        Command::Run(args) => run::run(config, args),
        Command::Resume(args) => run::resume(config, args),
        Command::Audit { command } => audit::audit(config, command),
        Command::Schema { write: None } => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(crate::schema::schema_json().as_bytes())?;
            Ok(Exit::Success)
        }
        Command::Schema { write: Some(dir) } => {
            let path = crate::schema::write_into(dir)?;
            eprintln!("wrote {}", path.display());
            Ok(Exit::Success)
        }
        Command::Init { dir, name } => init::init(dir, name),
        Command::Completions { shell } => {
            std::io::stdout().write_all(&complete::registration(*shell)?)?;
            Ok(Exit::Success)
        }
        Command::Man { out_dir } => man(out_dir.as_deref()),
    }
}

/// `runbook man`: the manual page on stdout, or a page per command in `dir` (for
/// packagers: `runbook man --out-dir debian/man`).
fn man(dir: Option<&std::path::Path>) -> Result<Exit, Error> {
    use clap::CommandFactory;
    let command = crate::cli::Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
        return Ok(Exit::Success);
    };
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, command: clap::Command| -> std::io::Result<()> {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)
    };
    write("runbook", command.clone())?;
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        let name = format!("runbook-{}", sub.get_name());
        let bin = format!("runbook {}", sub.get_name());
        write(&name, sub.clone().display_name(name.clone()).bin_name(bin))?;
    }
    Ok(Exit::Success)
}
