//! Writing a run's record. Each line is `{"seq", "ts", "run_id", "event", …fields,
//! "prev", "hash"}`: `prev` is the sha256 of the previous line as written (zeros for the
//! first), `hash` the sha256 of the line itself without its `hash` field, so that an
//! edit to any line — the last one included — shows.

use super::{AuditError, GENESIS, io_error, sha256_hex};
use crate::audit::event::Event;
use crate::engine::event::{RecordError, Recorder};
use serde_json::{Map, Value};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct AuditWriter {
    file: File,
    path: PathBuf,
    run_id: String,
    seq: u64,
    prev: String,
    /// Lines written since the last fsync.
    unsynced: bool,
    /// The file's length after the last whole line: a write cut short (a full disk) is
    /// cut back to it, so the record stays a chain of whole lines.
    length: u64,
    /// Every string of every event is masked with it before it is written.
    masker: crate::mask::SharedMasker,
}

/// A record's files: the JSON Lines record and the masked output log beside it.
pub struct RecordFiles {
    pub writer: AuditWriter,
    pub log: File,
    pub log_path: PathBuf,
}

impl AuditWriter {
    /// Creates `<UTC timestamp>-<runbook>-<run id>.jsonl` and its `.log`, private to the
    /// user (directory 0700, files 0600).
    pub fn create(
        directory: &Path,
        stamp: &str,
        runbook: &str,
        run_id: &str,
    ) -> Result<RecordFiles, AuditError> {
        if !directory.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(directory)
                .map_err(io_error(directory))?;
        }
        super::check_private(directory)?;
        let base = format!("{stamp}-{runbook}-{run_id}");
        let path = directory.join(format!("{base}.jsonl"));
        let log_path = directory.join(format!("{base}.log"));
        let open = |path: &Path| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io_error(path))
        };
        let file = open(&path)?;
        let log = open(&log_path)?;
        Ok(RecordFiles {
            writer: AuditWriter {
                file,
                path,
                run_id: run_id.to_owned(),
                seq: 0,
                prev: GENESIS.to_owned(),
                unsynced: false,
                length: 0,
                masker: crate::mask::SharedMasker::default(),
            },
            log,
            log_path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's secrets: from now on no event field holds one, in any of its forms.
    pub fn set_masker(&mut self, masker: crate::mask::SharedMasker) {
        self.masker = masker;
    }

    /// Appends one event: written and flushed before returning, and fsynced too when
    /// the event is durable (see `Event::durable`).
    pub fn write(&mut self, event: &Event) -> Result<(), AuditError> {
        let Ok(mut value) = serde_json::to_value(event) else {
            return Err(AuditError::Io {
                path: self.path.clone(),
                error: std::io::Error::other("an event could not be serialised"),
            });
        };
        self.masker.mask_json(&mut value);
        let Value::Object(mut fields) = value else {
            return Err(AuditError::Io {
                path: self.path.clone(),
                error: std::io::Error::other("an event could not be serialised"),
            });
        };
        let name = fields
            .remove("event")
            .and_then(|name| name.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.append(&name, fields, event.durable())
    }

    /// fsyncs what was written since the last fsync.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        if self.unsynced {
            self.file.sync_data().map_err(io_error(&self.path))?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn append(
        &mut self,
        event: &str,
        fields: Map<String, Value>,
        durable: bool,
    ) -> Result<(), AuditError> {
        self.seq += 1;
        let mut line = Map::new();
        line.insert("seq".into(), Value::from(self.seq));
        line.insert(
            "ts".into(),
            Value::from(
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            ),
        );
        line.insert("run_id".into(), Value::from(self.run_id.as_str()));
        line.insert("event".into(), Value::from(event));
        for (name, value) in fields {
            if !matches!(
                name.as_str(),
                "seq" | "ts" | "run_id" | "event" | "prev" | "hash"
            ) {
                line.insert(name, value);
            }
        }
        line.insert("prev".into(), Value::from(self.prev.as_str()));
        let body = serde_json::to_string(&Value::Object(line)).map_err(|error| AuditError::Io {
            path: self.path.clone(),
            error: std::io::Error::other(error),
        })?;
        let hash = sha256_hex(body.as_bytes());
        let mut written = body;
        written.pop();
        written.push_str(&format!(",\"hash\":\"{hash}\"}}"));
        self.prev = sha256_hex(written.as_bytes());
        written.push('\n');
        let result = self
            .file
            .write_all(written.as_bytes())
            .and_then(|()| self.file.flush());
        if let Err(error) = result {
            // Shrinking needs no space: leave whole lines only, for `audit verify`.
            let _ = self.file.set_len(self.length);
            let _ = self.file.seek(std::io::SeekFrom::Start(self.length));
            return Err(io_error(&self.path)(error));
        }
        self.length += written.len() as u64;
        self.unsynced = true;
        if durable {
            self.sync()?;
        }
        // Writes into a deleted file succeed, and vanish with it: notice and stop.
        if self
            .file
            .metadata()
            .is_ok_and(|metadata| std::os::unix::fs::MetadataExt::nlink(&metadata) == 0)
        {
            return Err(AuditError::Deleted {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}

impl Recorder for AuditWriter {
    fn record(&mut self, event: &Event) -> Result<(), RecordError> {
        self.write(event)
            .map_err(|error| RecordError(error.to_string()))
    }

    fn sync(&mut self) -> Result<(), RecordError> {
        AuditWriter::sync(self).map_err(|error| RecordError(error.to_string()))
    }
}
