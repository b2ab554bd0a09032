//! Reading a run's record back: its events in order, for `audit list`, `audit show` and
//! `resume`. Reading is lenient (a cut-off last line is skipped); `verify` is strict.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Entry {
    pub seq: u64,
    pub ts: String,
    pub event: String,
    pub fields: Map<String, Value>,
}

impl Entry {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
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
        let mut entries = Vec::new();
        let mut run_id = String::new();
        for line in text.lines() {
            let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let seq = fields
                .remove("seq")
                .and_then(|seq| seq.as_u64())
                .unwrap_or(0);
            let ts = fields
                .remove("ts")
                .and_then(|ts| ts.as_str().map(str::to_owned))
                .unwrap_or_default();
            let event = fields
                .remove("event")
                .and_then(|event| event.as_str().map(str::to_owned))
                .unwrap_or_default();
            if let Some(id) = fields
                .remove("run_id")
                .and_then(|id| id.as_str().map(str::to_owned))
            {
                run_id = id;
            }
            fields.remove("prev");
            fields.remove("hash");
            entries.push(Entry {
                seq,
                ts,
                event,
                fields,
            });
        }
        Ok(Record {
            path: path.to_owned(),
            run_id,
            entries,
        })
    }

    pub fn started(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|entry| entry.event == "run_started")
    }

    pub fn finished(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|entry| entry.event == "run_finished")
    }

    /// `success`, `failure`, … or `incomplete` for a run that never finished.
    pub fn status(&self) -> String {
        self.finished()
            .and_then(|entry| entry.text("status"))
            .unwrap_or("incomplete")
            .to_owned()
    }
}
