//! One module per subcommand; `dispatch` picks one. Commands print results to stdout and
//! the conversation to stderr, and return how the process should exit.

mod audit;
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
        Command::Show { runbook, format } => show::show(config, runbook, *format),
        Command::Validate {
            runbooks,
            strict,
            format,
        } => validate::validate(config, runbooks, *strict, *format),
        Command::Run(args) => run::run(config, args),
        Command::Resume(args) => run::resume(config, args),
        Command::Audit { command } => audit::audit(config, command),
        Command::Schema => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(crate::schema::schema_json().as_bytes())?;
            Ok(Exit::Success)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = crate::cli::Cli::command();
            clap_complete::generate(*shell, &mut command, "runbook", &mut std::io::stdout());
            Ok(Exit::Success)
        }
    }
}
