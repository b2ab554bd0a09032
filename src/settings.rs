//! Every decision that flags, environment and the terminal make, resolved once, in two
//! stages like ripgrep's low and high arguments: `Settings` for every command (where
//! runbooks are searched, where records go, colour per stream), and `RunSettings` for
//! `run` and `resume` (interactive or not, how progress is shown, what is approved, who
//! is running it). Nothing below this module reads argv, the environment or asks
//! whether a stream is a terminal.

use crate::cli::{ColorChoice, GlobalArgs, OutputFormat, RunFlags};
use crate::engine::RunOptions;
use crate::engine::params::{self, ParamProblem};
use crate::error::Error;
use crate::load::source::Catalog;
use crate::ui::style::Styles;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Settings {
    pub catalog: Catalog,
    /// Where run records go: `--audit-dir`, `RUNBOOK_AUDIT_DIR`, or the state directory.
    /// Where records go, or why there is no such place (no home, no state directory).
    audit_directory: Result<PathBuf, String>,
    /// Where run locks live: one directory for every user of the host.
    pub lock_directory: PathBuf,
    /// `--ssh-config`: the OpenSSH client configuration for remote hosts.
    pub ssh_config: Option<PathBuf>,
    /// Styles for stdout (results) and stderr (conversation), decided separately.
    pub stdout_styles: Styles,
    pub stderr_styles: Styles,
    /// Whether stderr is coloured (tracing follows it).
    pub stderr_colour: bool,
    pub quiet: bool,
    pub verbose: u8,
}

impl Settings {
    /// The audit directory, or the error that there is none.
    pub fn audit_directory(&self) -> Result<&Path, Error> {
        self.audit_directory
            .as_deref()
            .map_err(|message| Error::Audit(crate::audit::AuditError::NoDirectory(message.clone())))
    }

    pub fn resolve(args: &GlobalArgs) -> Settings {
        let mut directories = args.dirs.clone();
        if let Some(path) = std::env::var_os("RUNBOOK_PATH") {
            directories
                .extend(std::env::split_paths(&path).filter(|path| !path.as_os_str().is_empty()));
        }
        directories.push(PathBuf::from("runbooks"));
        let enabled = |is_terminal: bool| colour(args.color, is_terminal);
        let stderr_colour = enabled(std::io::stderr().is_terminal());
        Settings {
            catalog: Catalog::new(directories, true),
            audit_directory: match &args.audit_dir {
                Some(directory) => Ok(directory.clone()),
                None => crate::audit::default_directory(),
            },
            lock_directory: args
                .lock_dir
                .clone()
                .unwrap_or_else(crate::lock::default_directory),
            ssh_config: args.ssh_config.clone(),
            stdout_styles: Styles::new(enabled(std::io::stdout().is_terminal())),
            stderr_styles: Styles::new(stderr_colour),
            stderr_colour,
            quiet: args.quiet,
            verbose: args.verbose,
        }
    }
}

/// The one colour decision, for our output, clap's help and errors, and tracing:
/// `--color always|never` first; with `auto`, `NO_COLOR` (set and not empty) turns colour
/// off, then `CLICOLOR_FORCE` (not `0`) on, then `CLICOLOR=0` or `TERM=dumb` off, and
/// otherwise a terminal gets colour (the order anstream and clap use).
pub fn colour(choice: ColorChoice, is_terminal: bool) -> bool {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if set("NO_COLOR").is_some() {
                false
            } else if set("CLICOLOR_FORCE").is_some_and(|value| value != "0") {
                true
            } else if set("CLICOLOR").is_some_and(|value| value == "0")
                || std::env::var_os("TERM").is_some_and(|term| term == "dumb")
            {
                false
            } else {
                is_terminal
            }
        }
    }
}

/// `--color` as given on the command line, found before clap parses it, so that clap's
/// own help and errors follow it too.
pub fn colour_argument(args: &[std::ffi::OsString]) -> ColorChoice {
    let mut choice = ColorChoice::Auto;
    let mut words = args.iter().skip(1).filter_map(|arg| arg.to_str());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let value = match word.strip_prefix("--color") {
            Some("") => words.next(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        choice = match value {
            Some("always") => ColorChoice::Always,
            Some("never") => ColorChoice::Never,
            Some("auto") => ColorChoice::Auto,
            _ => choice,
        };
    }
    choice
}

/// How progress is shown on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStyle {
    /// `-q`: results and errors only.
    Quiet,
    /// A terminal: live bars with the RTO left.
    Bars,
    /// Anything else (a pipe, a log, `TERM=dumb`, a dry-run): one line per event.
    Plain,
}

/// What a run or resume was asked to do, resolved.
pub struct RunSettings {
    pub dry_run: bool,
    pub probe: bool,
    /// Prompts may be shown: stdin is a terminal and `--non-interactive` was not given.
    pub interactive: bool,
    pub progress: ProgressStyle,
    pub stdout_is_terminal: bool,
    pub format: OutputFormat,
    /// `-p` values (params, and answers to manual steps' inputs).
    pub given: BTreeMap<String, String>,
    /// `-p` arguments that are not `NAME=VALUE`, reported with every other problem.
    pub malformed: Vec<ParamProblem>,
    pub yes: bool,
    /// `--allow-missing`: a dry-run with required params missing still exits 0.
    pub allow_missing: bool,
    pub approve: Vec<String>,
    pub step_mode: bool,
    pub grace: Duration,
    /// `--ssh-heartbeat`: how often a remote command's host hears from the run.
    pub ssh_heartbeat: Duration,
    pub metrics_file: Option<PathBuf>,
    pub operator: Option<String>,
    pub reason: Option<String>,
}

impl RunSettings {
    pub fn resolve(
        settings: &Settings,
        flags: &RunFlags,
        dry_run: bool,
        probe: bool,
    ) -> RunSettings {
        let (given, malformed) = match params::parse_assignments(&flags.params) {
            Ok(given) => (given, Vec::new()),
            Err(problems) => (BTreeMap::new(), problems),
        };
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let dumb = std::env::var("TERM").is_ok_and(|term| term == "dumb");
        let progress = if settings.quiet {
            ProgressStyle::Quiet
        } else if stderr_is_terminal && !dry_run && !dumb {
            ProgressStyle::Bars
        } else {
            ProgressStyle::Plain
        };
        RunSettings {
            dry_run,
            probe,
            interactive: !flags.non_interactive && std::io::stdin().is_terminal(),
            progress,
            stdout_is_terminal: std::io::stdout().is_terminal(),
            format: flags.format,
            given,
            malformed,
            yes: flags.yes,
            allow_missing: flags.allow_missing,
            approve: flags.approve.clone(),
            step_mode: flags.step,
            grace: flags.kill_grace.0,
            ssh_heartbeat: flags.ssh_heartbeat.0,
            metrics_file: flags.metrics_file.clone().filter(|_| !dry_run),
            operator: flags.operator.clone(),
            reason: flags.reason.clone(),
        }
    }

    /// What the engine needs of these settings.
    pub fn options(
        &self,
        resume: Option<(String, usize)>,
        since_first_start: Duration,
        ssh_config: Option<PathBuf>,
    ) -> RunOptions {
        RunOptions {
            dry_run: self.dry_run,
            probe: self.probe,
            yes: self.yes,
            approve: self.approve.iter().cloned().collect(),
            step_mode: self.step_mode,
            given: self.given.clone(),
            grace: self.grace,
            ssh_heartbeat: self.ssh_heartbeat,
            resume,
            since_first_start,
            ssh_config,
        }
    }
}

/// Who and where a run is: decided once, recorded in the audit log, shown to templates
/// as `run.*`.
#[derive(Clone, Debug)]
pub struct RunIdentity {
    pub id: String,
    /// UTC, millisecond precision, RFC 3339.
    pub started_at: String,
    /// Also the start of the record's file name, so records sort by time.
    pub stamp: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// This process's start time, which with the pid names it for good.
    pub pid_start: Option<u64>,
}

impl RunIdentity {
    pub fn new() -> RunIdentity {
        let now = chrono::Utc::now();
        let pid = std::process::id();
        let seed = format!("{}-{pid}", now.timestamp_nanos_opt().unwrap_or_default());
        let id = crate::audit::sha256_hex(seed.as_bytes())[..12].to_owned();
        // The account of the real uid, never `$USER` (anyone can set it); under sudo
        // (the real uid is root's) also who ran sudo.
        let uid = nix::unistd::getuid();
        let account = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |user| user.name);
        let user = match std::env::var("SUDO_USER") {
            Ok(sudo_user) if uid.is_root() && !sudo_user.is_empty() && sudo_user != account => {
                format!("{account} (sudo from {sudo_user})")
            }
            _ => account,
        };
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|host| host.into_string().ok())
            .unwrap_or_else(|| "unknown".to_owned());
        RunIdentity {
            id,
            started_at: now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            stamp: now.format("%Y%m%dT%H%M%SZ").to_string(),
            user,
            host,
            pid,
            pid_start: crate::process::start_time(pid),
        }
    }
}

impl Default for RunIdentity {
    fn default() -> RunIdentity {
        RunIdentity::new()
    }
}
