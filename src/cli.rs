//! The command line, as clap sees it: definitions and help texts only. Resolving flags and
//! environment into settings happens in `config`.

use crate::commands::complete;
use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Execute declarative YAML runbooks: backup, restore, disaster recovery and restore tests",
    long_about = "Execute declarative YAML runbooks: backup, restore, disaster recovery and restore tests.\n\n\
        Runbooks are found by NAME in each --dir, then RUNBOOK_PATH, then ./runbooks, then the runbooks \
        built into this binary. A path to a .yaml file is loaded directly.",
    after_help = "Exit codes: 0 success, 1 a step failed, 2 invalid runbook or usage, 3 declined, \
        4 lock held, 130/143/129 interrupted (SIGINT/SIGTERM/SIGHUP)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Also look for runbooks in DIR (repeatable; searched before RUNBOOK_PATH)
    #[arg(long = "dir", value_name = "DIR", global = true)]
    pub dirs: Vec<PathBuf>,
    /// Where run records are written and read [default: $XDG_STATE_HOME/runbook/audit]
    #[arg(long, value_name = "DIR", env = "RUNBOOK_AUDIT_DIR", global = true)]
    pub audit_dir: Option<PathBuf>,
    /// Host-wide directory of run locks, shared by every user [default: /run/lock/runbook]
    #[arg(
        long,
        value_name = "DIR",
        env = "RUNBOOK_LOCK_DIR",
        hide_env_values = true,
        global = true
    )]
    pub lock_dir: Option<PathBuf>,
    /// OpenSSH client configuration for remote hosts, passed as `ssh -F FILE` (a team's
    /// shared bastion config) [default: ssh's own, ~/.ssh/config]
    #[arg(long, value_name = "FILE", env = "RUNBOOK_SSH_CONFIG", global = true)]
    pub ssh_config: Option<PathBuf>,
    /// When to use colour (`auto` honours NO_COLOR, CLICOLOR_FORCE, CLICOLOR and TERM=dumb)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Log what the tool does internally to stderr (repeat for more detail)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print only results and errors (`run`: a step's output only if it fails)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every runbook found, with its kind, title and where it came from
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Show a runbook as a readable, printable procedure
    Show {
        /// Runbook name or path to a .yaml file
        #[arg(value_name = "NAME|PATH", add = ArgValueCompleter::new(complete::runbooks))]
        runbook: String,
        /// `markdown` gives a document to follow by hand if the tool is unavailable
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
        /// Fill a parameter's value into the procedure (repeatable); defaults are then filled in too, secrets never
        #[arg(
            short = 'p',
            long = "param",
            value_name = "NAME=VALUE",
            add = ArgValueCompleter::new(complete::params)
        )]
        params: Vec<String>,
    },
    /// Check runbooks for errors without running anything (all of them when none given)
    Validate {
        /// Runbook names or paths
        #[arg(value_name = "NAME|PATH", add = ArgValueCompleter::new(complete::runbooks))]
        runbooks: Vec<String>,
        /// Treat warnings as errors
        #[arg(long)]
        strict: bool,
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Execute a runbook (or preview it with --dry-run)
    Run(RunArgs),
    /// Continue a failed, interrupted or killed run after its last successful step
    Resume(ResumeArgs),
    /// Inspect and verify run records
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the JSON Schema of the runbook format (the same as schemas/runbook.schema.json)
    Schema {
        /// Write runbook.schema.json into this directory instead (next to your runbooks)
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Start a runbook: writes runbooks/NAME.yaml (params, a guarded destructive step,
    /// capture and expect, finally) and the schema next to it, for editors
    Init {
        /// Directory to create `runbooks/` in
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Name of the starter runbook
        #[arg(long, default_value = "my-runbook", value_name = "NAME")]
        name: String,
    },
    /// Print a shell completion script
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one per command into a directory
    Man {
        /// Write runbook.1 and runbook-COMMAND.1 pages into this directory instead
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Runbook name or path to a .yaml file
    #[arg(value_name = "NAME|PATH", add = ArgValueCompleter::new(complete::runbooks))]
    pub runbook: String,
    /// Execute nothing: print the plan, fully rendered, secrets masked
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: also run the steps marked `probe: true` (read-only) so later steps render with real values
    #[arg(long, requires = "dry_run")]
    pub probe: bool,
    #[command(flatten)]
    pub flags: RunFlags,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue (`runbook audit list` shows run ids)
    #[arg(add = ArgValueCompleter::new(complete::runs))]
    pub run_id: String,
    /// Resume even though the runbook changed since that run
    #[arg(long)]
    pub force: bool,
    /// Restart at this main step, an earlier one than where the run stopped (recorded)
    #[arg(long, value_name = "STEP_ID")]
    pub from: Option<String>,
    /// Show what would be replayed and what would run, without running anything
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub flags: RunFlags,
}

/// Options shared by `run` and `resume`.
#[derive(Debug, Args)]
pub struct RunFlags {
    /// Set a parameter, or answer a manual step's input (repeatable)
    #[arg(
        short = 'p',
        long = "param",
        value_name = "NAME=VALUE",
        add = ArgValueCompleter::new(complete::params)
    )]
    pub params: Vec<String>,
    /// Approve confirmations whose policy allows it (`auto: allow`, the default)
    #[arg(long)]
    pub yes: bool,
    /// Approve this step's confirmation or manual acknowledgement, whatever its policy (repeatable; `include-step/step` for a step of an included runbook)
    #[arg(long, value_name = "STEP_ID", add = ArgValueCompleter::new(complete::steps))]
    pub approve: Vec<String>,
    /// Ask before every step: run, skip or abort
    #[arg(long)]
    pub step: bool,
    /// Never prompt; a needed confirmation or value without a flag stops the run (implied when stdin is not a terminal)
    #[arg(long)]
    pub non_interactive: bool,
    /// With --dry-run: show the plan even though required params are missing, and exit 0 (without it, the missing ones are listed and the exit is 2)
    #[arg(long, requires = "dry_run")]
    pub allow_missing: bool,
    /// Format of the plan (--dry-run) and of the final summary
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Time between SIGTERM and SIGKILL when a command times out or is interrupted
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub kill_grace: crate::runbook::Duration,
    /// How often a remote step's host hears from this run; after four silent intervals it ends the step (a network gone quiet)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15s",
        env = "RUNBOOK_SSH_HEARTBEAT",
        value_parser = parse_heartbeat
    )]
    pub ssh_heartbeat: crate::runbook::Duration,
    /// Write Prometheus text-format metrics of the run to PATH at the end (atomically)
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Who is running this, recorded in the audit log
    #[arg(long, value_name = "TEXT", env = "RUNBOOK_OPERATOR")]
    pub operator: Option<String>,
    /// Why, recorded in the audit log (an incident or change id)
    #[arg(long, value_name = "TEXT", env = "RUNBOOK_REASON")]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List recorded runs: when, runbook, who, mode, status, duration
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Only runs of this runbook
        #[arg(long, value_name = "NAME")]
        runbook: Option<String>,
        /// Only runs that ended so: success, failure, aborted, interrupted, terminated, hangup, timeout, incomplete
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only runs started since: a duration back from now (`24h`, `7d`) or a date or time (`2025-01-15`, `2025-01-15T14:30:00Z`)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
    /// Show one run's record as a timeline
    Show {
        /// The run id
        #[arg(add = ArgValueCompleter::new(complete::runs))]
        run_id: String,
        /// Print this step's output from the run's log (masked) instead of the timeline
        #[arg(long, value_name = "STEP_ID")]
        output: Option<String>,
    },
    /// Check records for tampering: exit 0 when intact, 1 naming the first bad line (all records when none given)
    Verify {
        /// Run ids or record files
        #[arg(value_name = "RUN_ID|FILE")]
        records: Vec<String>,
        /// The verification key `audit seal-init` printed: also check the seals (rewritten, deleted or renamed records, edited logs)
        #[arg(
            long,
            value_name = "KEY",
            env = "RUNBOOK_AUDIT_KEY",
            hide_env_values = true
        )]
        key: Option<String>,
    },
    /// Start sealing records: prints the verification key once, to keep off this host
    SealInit,
}

fn parse_duration(text: &str) -> Result<crate::runbook::Duration, String> {
    crate::runbook::Duration::parse(text)
        .ok_or_else(|| format!("`{text}` is not a duration such as 500ms, 10s, 1m"))
}

/// A heartbeat interval: from one second to an hour.
fn parse_heartbeat(text: &str) -> Result<crate::runbook::Duration, String> {
    let duration = parse_duration(text)?;
    if !(1..=3600).contains(&duration.0.as_secs()) {
        return Err(format!("`{text}` is not between 1s and 1h"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (unique flags, valid defaults), for every command.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
