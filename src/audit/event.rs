//! The audit schema: every event of a run, as one typed enum, from `RunStarted` to
//! `RunFinished`. The engine records these, the writer puts them on disk as JSON Lines
//! (docs/audit.md, "Events"), and `audit show`, `audit list` and `resume` read them back
//! as the same types, so a field is named in one place only.

use serde::{Deserialize, Deserializer, Serialize};

/// A field that may be missing or `null` in an older or hand-written record.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
    Declined,
    Interrupted,
    /// Never reached (only in summaries; nothing is recorded for it).
    NotRun,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Declined => "declined",
            StepStatus::Interrupted => "interrupted",
            StepStatus::NotRun => "not run",
        }
    }

    /// The name templates see in `steps.ID.status`, as the audit log writes it.
    pub fn key(self) -> &'static str {
        match self {
            StepStatus::NotRun => "not_run",
            other => other.as_str(),
        }
    }
}

/// How a whole run ended; decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Success,
    Failure,
    /// A confirmation was declined or could not be asked, or the operator aborted.
    Aborted,
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// SIGHUP: the operator's terminal or SSH session was lost.
    #[serde(rename = "hangup")]
    HangUp,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Terminated => "terminated",
            RunStatus::HangUp => "hangup",
        }
    }

    pub fn exit(self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            RunStatus::Success => Exit::Success,
            RunStatus::Failure => Exit::Failure,
            RunStatus::Aborted => Exit::Declined,
            RunStatus::Interrupted => Exit::Interrupted,
            RunStatus::Terminated => Exit::Terminated,
            RunStatus::HangUp => Exit::HangUp,
        }
    }
}

/// How a confirmation or acknowledgement was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// A person answered at the terminal.
    Terminal,
    /// `--yes` (policy `allow`).
    Yes,
    /// `--approve STEP_ID`.
    Approve,
}

/// Whether a record is a run, a dry-run or the continuation of an earlier run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Run,
    DryRun,
    Resume,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::DryRun => "dry-run",
            Mode::Resume => "resume",
        }
    }
}

/// The first event of every record: what ran, from which text, by whom, with what.
/// Read leniently: a record written by hand from docs/audit.md, or by an older version
/// that wrote `null` for an unknown user, still reads (missing text is empty), so
/// `audit list`, `audit show` and `resume` never lose a run that `audit verify` calls
/// intact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    #[serde(default, deserialize_with = "lenient")]
    pub runbook: String,
    #[serde(default, deserialize_with = "lenient")]
    pub title: String,
    /// An absolute path, or `embedded:NAME.yaml`, so `resume` finds the same text.
    #[serde(default, deserialize_with = "lenient")]
    pub source: String,
    #[serde(default, deserialize_with = "lenient")]
    pub sha256: String,
    #[serde(default, deserialize_with = "lenient")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient")]
    pub user: String,
    #[serde(default, deserialize_with = "lenient")]
    pub host: String,
    #[serde(default, deserialize_with = "lenient")]
    pub pid: u32,
    /// When that process started (clock ticks since boot): whether it is still alive
    /// is decided by pid and start time, never by name.
    #[serde(default, deserialize_with = "lenient")]
    pub pid_start: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    pub operator: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub mode: Mode,
    /// Param values in the runbook's order; secrets masked, missing ones null.
    #[serde(default, deserialize_with = "lenient")]
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub rto_seconds: Option<u64>,
    /// When the first run of a chain of resumes started (absent for a first run): the
    /// RTO counts from there.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_started_at: Option<String>,
    /// A `resume --dry-run`: it shows what a resume would do and continues nothing.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub dry_run_preview: bool,
    /// `resume --from STEP`: the main step this resume restarted at.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub resume_from: Option<String>,
    /// The run this one continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes: Option<String>,
}

/// The host a step's command ran on, as `step_started` records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The host's name in the runbook.
    pub name: String,
    pub members: Vec<MemberRecord>,
}

/// One destination of a host, with the key it showed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The server's host key as ssh saw it (`ssh-ed25519 SHA256:…`); none when the
    /// connection failed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

/// How a step's command ended on one destination.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberExit {
    pub destination: String,
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The last event of a record that was not killed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFinished {
    pub status: RunStatus,
    pub exit_code: u8,
    pub duration_ms: u64,
    pub rto_seconds: Option<u64>,
    /// Fraction of the RTO used, when the runbook has one.
    pub rto_used: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted(Box<RunStarted>),
    StepStarted {
        step_id: String,
        name: String,
        /// The rendered command, secrets masked.
        command: Option<String>,
        attempt: u32,
        /// Where the command runs, when not on this machine.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<HostRecord>,
    },
    /// The step's command started, in process group `pgid`: `resume` checks that an
    /// interrupted step's processes are gone before running it again.
    ProcessStarted {
        step_id: String,
        pgid: u32,
        /// When the group's leader (the step's shell) started.
        #[serde(default)]
        leader_start: Option<u64>,
    },
    Guard {
        step_id: String,
        check: String,
        passed: bool,
        message: Option<String>,
    },
    Confirmation {
        step_id: String,
        approved: bool,
        how: Option<Approval>,
    },
    Input {
        step_id: String,
        name: String,
        value: String,
    },
    /// A var as computed (`stamp = now()`), so `resume` replays it instead of
    /// computing it again. `scope` is the include path of the runbook it belongs to
    /// (empty for the runbook that was run). A secret-derived value is masked: it is
    /// derived again from the re-entered secret.
    Var {
        #[serde(default)]
        scope: String,
        name: String,
        value: String,
    },
    StepFinished {
        step_id: String,
        status: StepStatus,
        exit_code: Option<i32>,
        attempts: u32,
        /// The step's work, without the time spent waiting for the operator.
        duration_ms: u64,
        /// Time spent waiting for the operator's answers (confirmation, input).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
        /// Where the step's output is in the run's `.log`: bytes `[start, end)`
        /// (steps of a parallel group share theirs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<(u64, u64)>,
        /// SHA-256 of those bytes: the chain then covers the log too (`audit verify`
        /// checks it for a step whose range only it wrote).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_sha256: Option<String>,
        capture: Option<String>,
        reason: Option<String>,
        /// On a remote host: how the command ended on each destination.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<MemberExit>,
    },
    RunFinished(RunFinished),
}

impl Event {
    /// Whether the event must be on disk before the run goes on. The others (a step's
    /// end, its process group) are written at once — a `kill -9` of `runbook` cannot
    /// lose them — and fsynced with the next durable event, which always comes before
    /// anything else happens: the next command starts, a question is asked, or the run
    /// ends. Only an operating-system crash could lose them, and that would end the
    /// processes they describe too.
    pub fn durable(&self) -> bool {
        !matches!(
            self,
            Event::ProcessStarted { .. } | Event::StepFinished { .. } | Event::Var { .. }
        )
    }
}
