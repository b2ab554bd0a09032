//! What happens during a run, as data. The engine reports every event to a `Recorder`
//! before it moves past it; the audit log is the recorder that writes them to disk.

use serde::Serialize;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
}

/// How a whole run ended; decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Terminated => "terminated",
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
        }
    }
}

/// How a confirmation or acknowledgement was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// A person answered at the terminal.
    Terminal,
    /// `--yes` (policy `allow`).
    Yes,
    /// `--approve STEP_ID`.
    Approve,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StepStarted {
        step_id: String,
        name: String,
        /// The rendered command, secrets masked.
        command: Option<String>,
        attempt: u32,
    },
    /// The step's command started, in process group `pgid`: `resume` checks that an
    /// interrupted step's processes are gone before running it again.
    ProcessStarted { step_id: String, pgid: u32 },
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
    StepFinished {
        step_id: String,
        status: StepStatus,
        exit_code: Option<i32>,
        attempts: u32,
        duration_ms: u64,
        capture: Option<String>,
        reason: Option<String>,
    },
}

/// Where events go. Recording happens before the engine proceeds, and a recorder that
/// cannot record stops the run: nothing runs unrecorded.
pub trait Recorder {
    fn record(&mut self, event: &Event) -> Result<(), RecordError>;

    /// Makes everything recorded so far durable; called before the run waits for a
    /// person, so nothing recorded sits unsynced while it waits.
    fn sync(&mut self) -> Result<(), RecordError> {
        Ok(())
    }
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
            Event::ProcessStarted { .. } | Event::StepFinished { .. }
        )
    }
}

#[derive(Debug)]
pub struct RecordError(pub String);

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Keeps events in memory: the record a run's summary and tests read.
#[derive(Debug, Default)]
pub struct Memory {
    pub events: Vec<Event>,
}

impl Recorder for Memory {
    fn record(&mut self, event: &Event) -> Result<(), RecordError> {
        self.events.push(event.clone());
        Ok(())
    }
}
