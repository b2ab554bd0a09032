//! Where the engine's events go: the `Recorder` seam. The audit writer is the recorder
//! of a real run; `Memory` keeps events for the engine's unit tests.

pub use crate::audit::event::{
    Approval, Event, HostRecord, MemberExit, MemberRecord, Mode, RunFinished, RunStarted,
    RunStatus, StepStatus,
};

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
