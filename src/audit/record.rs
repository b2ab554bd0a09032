//! Reading a run's record back as typed events, for `audit list`, `audit show` and
//! `resume`. Reading is lenient (a cut-off last line, or an event this version does not
//! know, is skipped); `verify` is strict.

use crate::audit::event::{Event, RunFinished, RunStarted};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One line of a record: the envelope and its event.
#[derive(Clone, Debug, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub ts: String,
    pub run_id: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Clone, Debug)]
pub struct Record {
    pub path: PathBuf,
    pub run_id: String,
    pub entries: Vec<Entry>,
}

impl Record {
    pub fn read(path: &Path) -> std::io::Result<Record> {
        let text = std::fs::read_to_string(path)?;
        let entries: Vec<Entry> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Entry>(line).ok())
            .collect();
        let run_id = entries
            .first()
            .map(|entry| entry.run_id.clone())
            .unwrap_or_default();
        Ok(Record {
            path: path.to_owned(),
            run_id,
            entries,
        })
    }

    /// The `run_started` event and when it was written.
    pub fn started(&self) -> Option<(&Entry, &RunStarted)> {
        self.entries.iter().find_map(|entry| match &entry.event {
            Event::RunStarted(started) => Some((entry, &**started)),
            _ => None,
        })
    }

    pub fn finished(&self) -> Option<&RunFinished> {
        self.entries
            .iter()
            .rev()
            .find_map(|entry| match &entry.event {
                Event::RunFinished(finished) => Some(finished),
                _ => None,
            })
    }

    /// `success`, `failure`, … or `incomplete` for a run that never finished.
    pub fn status(&self) -> &'static str {
        self.finished()
            .map_or("incomplete", |finished| finished.status.as_str())
    }
}
