//! Forward-secure sealing of run records (docs/audit.md, "Sealed records"), in the manner
//! of systemd-journald's Forward Secure Sealing: `audit seal-init` makes a random key
//! `K0` and prints it once as the verification key; the host keeps only the current key
//! `Ki`, and after each seal replaces it with `Ki+1 = SHA-256("runbook-seal-evolve" ‖ Ki)`
//! and erases `Ki`. Whoever takes the host later holds only a key for seals still to
//! come: seals already written cannot be forged. The verifier derives every `Ki` from
//! `K0`.
//!
//! Each finished run appends one line to an append-only index: its sequence number,
//! run id, record file, the hash of the record's last line (the head of its chain), its
//! event count, the SHA-256 of its `.log`, the previous seal, and
//! `seal = HMAC-SHA-256(Ki, all of that)`. A rewritten record (even with a recomputed
//! chain), a deleted one, one renamed to another run id, or an edited `.log` no longer
//! matches a seal; a removed index line breaks the sequence.

use super::{AuditError, io_error, sha256_hex};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Where the sealing state of an audit directory lives.
pub fn directory(audit: &Path) -> PathBuf {
    audit.join(".seal")
}

#[derive(Serialize, Deserialize)]
struct KeyState {
    /// The sequence number the next seal gets.
    next: u64,
    /// The key for that seal, hex.
    key: String,
}

/// One line of the index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub run_id: String,
    pub file: String,
    pub head: String,
    pub events: usize,
    /// SHA-256 of the whole record file, byte for byte (line endings included).
    #[serde(default)]
    pub file_sha256: String,
    pub log_sha256: String,
    pub prev_seal: String,
    pub seal: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// The key after `key`.
fn evolve(key: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"runbook-seal-evolve");
    hasher.update(key);
    hasher.finalize().to_vec()
}

fn mac(key: &[u8], entry: &Entry) -> String {
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    let message = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        entry.seq,
        entry.run_id,
        entry.file,
        entry.head,
        entry.events,
        entry.file_sha256,
        entry.log_sha256,
        entry.prev_seal
    );
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// `audit seal-init`: a new sealing key; returns the verification key to print.
pub fn init(audit: &Path) -> Result<String, AuditError> {
    let directory = directory(audit);
    if directory.join("key").exists() {
        return Err(AuditError::Io {
            path: directory.join("key"),
            error: std::io::Error::other(
                "sealing is already initialised here; its verification key was printed when it was",
            ),
        });
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&directory)
        .map_err(io_error(&directory))?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|error| AuditError::Io {
        path: directory.clone(),
        error: std::io::Error::other(error.to_string()),
    })?;
    // The host keeps the first sealing key, one step past the verification key: the
    // verification key itself is never stored here.
    write_key(
        &directory,
        &KeyState {
            next: 0,
            key: hex(&evolve(&key)),
        },
    )?;
    // From now on a finished run without a seal is a problem, not a record from before.
    let since = directory.join("since");
    std::fs::write(
        &since,
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
    )
    .map_err(io_error(&since))?;
    Ok(hex(&key))
}

use std::os::unix::fs::DirBuilderExt;

fn write_key(directory: &Path, state: &KeyState) -> Result<(), AuditError> {
    // Written beside and renamed over: the old key is gone once the new one is on disk.
    let path = directory.join("key");
    let temporary = directory.join("key.next");
    let text = serde_json::to_string(state).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io_error(&temporary))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary))?;
    std::fs::rename(&temporary, &path).map_err(io_error(&path))?;
    Ok(())
}

/// Seals a finished record, if sealing is initialised; returns the entry.
pub fn seal(audit: &Path, record: &Path) -> Result<Option<Entry>, AuditError> {
    let directory = directory(audit);
    let key_path = directory.join("key");
    let Ok(text) = std::fs::read_to_string(&key_path) else {
        return Ok(None);
    };
    let state: KeyState = serde_json::from_str(&text).map_err(|error| AuditError::Io {
        path: key_path.clone(),
        error: std::io::Error::other(error),
    })?;
    let key = unhex(&state.key).ok_or_else(|| AuditError::Io {
        path: key_path.clone(),
        error: std::io::Error::other("the sealing key is damaged"),
    })?;
    let index = directory.join("index.jsonl");
    let previous = read_index(&index)
        .last()
        .map(|entry| entry.seal.clone())
        .unwrap_or_default();
    let mut entry = describe(record)?;
    entry.seq = state.next;
    entry.prev_seal = previous;
    entry.seal = mac(&key, &entry);
    let line = serde_json::to_string(&entry).unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&index)
        .map_err(io_error(&index))?;
    writeln!(file, "{line}")
        .and_then(|()| file.sync_data())
        .map_err(io_error(&index))?;
    // The key moves on; the one just used is erased.
    write_key(
        &directory,
        &KeyState {
            next: state.next + 1,
            key: hex(&evolve(&key)),
        },
    )?;
    // A copy beyond the host's reach: the system journal, when there is one.
    let _ = std::process::Command::new("logger")
        .args([
            "-t",
            "runbook",
            &format!(
                "sealed run {} seq {} seal {}",
                entry.run_id, entry.seq, entry.seal
            ),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(Some(entry))
}

/// What a record says about itself: run id, file, chain head, event count, log hash.
fn describe(record: &Path) -> Result<Entry, AuditError> {
    let bytes = std::fs::read(record).map_err(io_error(record))?;
    let file_sha256 = sha256_hex(&bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .last()
        .map(|line| sha256_hex(line.as_bytes()))
        .unwrap_or_default();
    let run_id = lines
        .first()
        .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .and_then(|value| value["run_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let log = record.with_extension("log");
    let log_sha256 = std::fs::read(&log)
        .map(|bytes| sha256_hex(&bytes))
        .unwrap_or_default();
    Ok(Entry {
        seq: 0,
        run_id,
        file: record
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        head,
        events: lines.len(),
        file_sha256,
        log_sha256,
        prev_seal: String::new(),
        seal: String::new(),
    })
}

fn read_index(index: &Path) -> Vec<Entry> {
    std::fs::read_to_string(index)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// What `audit verify --key` found.
#[derive(Debug, Default)]
pub struct Report {
    /// How many seals check out, and the last one, to compare with what an auditor saw
    /// before (a host cannot prove its newest seals were not cut off).
    pub sealed: u64,
    pub last_seal: Option<String>,
    /// Problems, each naming the run or the index line.
    pub problems: Vec<String>,
    /// Record files in the directory that no seal covers.
    pub unsealed: Vec<String>,
}

/// Checks every seal of the index against the verification key `K0`, and every sealed
/// record and log against its seal.
pub fn verify(audit: &Path, verification_key: &str) -> Report {
    let mut report = Report::default();
    let Some(verification) = unhex(verification_key.trim()).filter(|key| key.len() == 32) else {
        report
            .problems
            .push("the verification key is not 64 hex digits".to_owned());
        return report;
    };
    let mut key = evolve(&verification);
    let index = directory(audit).join("index.jsonl");
    let entries = read_index(&index);
    let mut key_seq = 0u64;
    let mut previous = String::new();
    let mut sealed_files = std::collections::HashSet::new();
    for (position, entry) in entries.iter().enumerate() {
        if entry.seq != position as u64 {
            report.problems.push(format!(
                "index line {}: seal {} where {} was expected: index lines were removed or reordered",
                position + 1,
                entry.seq,
                position
            ));
            break;
        }
        while key_seq < entry.seq {
            key = evolve(&key);
            key_seq += 1;
        }
        if entry.prev_seal != previous || mac(&key, entry) != entry.seal {
            report.problems.push(format!(
                "index line {}: the seal of run {} does not verify: the index was edited",
                position + 1,
                entry.run_id
            ));
            break;
        }
        previous = entry.seal.clone();
        report.sealed += 1;
        report.last_seal = Some(entry.seal.clone());
        sealed_files.insert(entry.file.clone());
        let record = audit.join(&entry.file);
        match describe(&record) {
            Err(_) => report.problems.push(format!(
                "run {}: its record {} is gone (deleted or renamed)",
                entry.run_id, entry.file
            )),
            Ok(now) => {
                if now.run_id != entry.run_id
                    || now.head != entry.head
                    || now.events != entry.events
                    || now.file_sha256 != entry.file_sha256
                {
                    report.problems.push(format!(
                        "run {}: {} is not the record that was sealed (rewritten, even with a new chain, or swapped)",
                        entry.run_id, entry.file
                    ));
                } else if now.log_sha256 != entry.log_sha256 {
                    report.problems.push(format!(
                        "run {}: its output log was changed after it was sealed",
                        entry.run_id
                    ));
                }
            }
        }
    }
    let since = std::fs::read_to_string(directory(audit).join("since")).unwrap_or_default();
    for path in super::record_files(audit) {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if sealed_files.contains(&name) {
            continue;
        }
        // A run that finished after sealing began was sealed when it finished: without a
        // seal it was added, or its seal removed.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let started = text
            .lines()
            .next()
            .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .and_then(|value| value["ts"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let finished = text.contains("\"event\":\"run_finished\"");
        if finished && !since.is_empty() && started.as_str() >= since.trim() {
            report.problems.push(format!(
                "{name}: finished after sealing began, but no seal covers it (added, or its seal removed)"
            ));
        } else {
            report.unsealed.push(name);
        }
    }
    report
}

/// Whether sealing was initialised for this audit directory.
pub fn initialised(audit: &Path) -> bool {
    directory(audit).join("key").exists()
}
