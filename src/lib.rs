//! `runbook`: execute declarative YAML runbooks with guards, confirmations and an audit
//! log. The data flow reads off the module list: `cli` → `settings` → `load` (find,
//! parse, check, build, analyse, the library of includes) → `runbook` (the model) →
//! `engine` (preflight, prepare, the step loop) → `process` → `audit`; docs/architecture.md
//! follows one runbook through them.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod exit;
pub mod load;
pub mod lock;
pub mod mask;
pub mod metrics;
pub mod plan;
pub mod process;
pub mod quoting;
pub mod runbook;
pub mod schema;
pub mod settings;
pub mod template;
pub mod ui;

use exit::Exit;

/// The `version` of every JSON document the tool prints (docs/json.md): raised when a
/// field changes meaning or goes away, not when one is added.
pub const JSON_VERSION: u32 = 1;

/// One JSON document of ours, pretty, with a final newline: `version` first, then
/// `kind` when the document has one, then the fields of `body`. Built whole before it
/// is written, so a closed pipe (`| head`) stays a broken pipe, not a half document.
pub fn json_document(kind: Option<&str>, body: &impl serde::Serialize) -> std::io::Result<String> {
    #[derive(serde::Serialize)]
    struct Document<'a, T> {
        version: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<&'a str>,
        #[serde(flatten)]
        body: T,
    }
    let mut text = serde_json::to_string_pretty(&Document {
        version: JSON_VERSION,
        kind,
        body,
    })?;
    text.push('\n');
    Ok(text)
}
use std::io::Write;
use std::process::ExitCode;

/// The whole program: parse the command line, run the command, map the outcome to an
/// exit code. Errors are printed here, once, in one format.
pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    // A shell asking for completions (`RUNBOOK_COMPLETE=bash runbook -- …`): answer and
    // exit; otherwise this does nothing.
    clap_complete::CompleteEnv::with_factory(cli::Cli::command)
        .var(commands::complete::VAR)
        .complete();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // clap's help (stdout) and errors (stderr) follow `--color`; with `auto` clap decides
    // per stream by the same rules as `settings::colour` (anstream's).
    let clap_colour = match settings::colour_argument(&args) {
        cli::ColorChoice::Always => clap::ColorChoice::Always,
        cli::ColorChoice::Never => clap::ColorChoice::Never,
        cli::ColorChoice::Auto => clap::ColorChoice::Auto,
    };
    let parsed = cli::Cli::command()
        .color(clap_colour)
        .try_get_matches_from(&args)
        .and_then(|mut matches| cli::Cli::from_arg_matches_mut(&mut matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            let exit = if error.use_stderr() {
                Exit::Invalid
            } else {
                Exit::Success
            };
            let _ = error.print();
            return exit.into();
        }
    };
    let settings = settings::Settings::resolve(&cli.global);
    init_tracing(settings.verbose, settings.stderr_colour);
    match commands::dispatch(&cli.command, &settings) {
        Ok(exit) => exit.into(),
        Err(error) => {
            // A closed stdout (`runbook list | head`) is not worth a message.
            let broken_pipe = matches!(error, error::Error::Output(ref io) if io.kind() == std::io::ErrorKind::BrokenPipe);
            if !broken_pipe {
                let styles = &settings.stderr_styles;
                let mut text = String::new();
                let messages = error.messages();
                let last = messages.len().saturating_sub(1);
                for (index, message) in messages.iter().enumerate() {
                    let help = if index == last { error.help() } else { None };
                    text.push_str(&styles.error_message(message, help.as_deref()));
                }
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            error.exit().into()
        }
    }
}

/// Tracing is for developers and is off unless `-v` or `RUST_LOG` asks for it; user
/// messages never go through it.
fn init_tracing(verbose: u8, colour: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => match EnvFilter::try_from_default_env() {
            Ok(filter) => filter,
            Err(_) => return,
        },
        1 => EnvFilter::new("runbook=debug"),
        _ => EnvFilter::new("runbook=trace"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .without_time()
        .try_init();
}
