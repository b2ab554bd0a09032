//! `audit verify`: proves a record intact, or names the first line that was edited,
//! inserted, deleted, reordered or cut. A record without `run_finished` is reported as
//! incomplete (the run was killed, or is still going), which is not tampering.

use super::{GENESIS, sha256_hex};
use serde_json::Value;
use std::fmt;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every line checks out and the run finished.
    Intact { events: usize },
    /// Every line checks out, but there is no `run_finished`.
    Incomplete { events: usize },
    /// Every complete line checks out, and the last one stops mid-line: a write was
    /// cut short (a full disk, a crash while writing). Not an edit: nothing before it
    /// changed.
    Cut { events: usize },
    /// The first bad line (1-based) and what is wrong with it.
    Tampered { line: usize, problem: Tampering },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tampering {
    Unreadable,
    NotJson,
    /// The line's own hash does not match its content.
    Edited,
    /// `prev` does not match the line before: something before it was changed or removed.
    ChainBroken,
    /// A sequence number was skipped: lines were deleted before this one.
    Deleted {
        expected: u64,
        found: u64,
    },
    /// A sequence number came back or repeated: lines were reordered or inserted.
    Reordered {
        expected: u64,
        found: u64,
    },
    /// A different run id than the lines before.
    ForeignLine,
    /// The `.log` bytes of the step this line finishes do not match their hash.
    LogEdited {
        step: String,
    },
    Empty,
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tampering::Unreadable => write!(f, "cannot be read"),
            Tampering::NotJson => write!(f, "is not a JSON object: the line was edited"),
            Tampering::Edited => write!(f, "was edited: its hash does not match its content"),
            Tampering::ChainBroken => write!(
                f,
                "does not follow the line before it (`prev` does not match): a line was edited, inserted or removed before it"
            ),
            Tampering::Deleted { expected, found } => {
                write!(
                    f,
                    "has seq {found} where {expected} was expected: lines were deleted before it"
                )
            }
            Tampering::Reordered { expected, found } => {
                write!(
                    f,
                    "has seq {found} where {expected} was expected: lines were reordered or inserted"
                )
            }
            Tampering::ForeignLine => write!(f, "belongs to another run: it was inserted"),
            Tampering::LogEdited { step } => write!(
                f,
                "finishes step `{step}`, whose output in the .log was changed since"
            ),
            Tampering::Empty => write!(f, "is missing: the record is empty"),
        }
    }
}

/// The first `step_finished` whose `.log` range no longer hashes to what it recorded.
fn log_edited(path: &Path, lines: &[&str]) -> Option<(usize, String)> {
    let log = std::fs::read(path.with_extension("log")).ok()?;
    for (index, line) in lines.iter().enumerate() {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if fields.get("event").and_then(Value::as_str) != Some("step_finished") {
            continue;
        }
        let (Some(range), Some(hash)) = (
            fields.get("log").and_then(Value::as_array),
            fields.get("log_sha256").and_then(Value::as_str),
        ) else {
            continue;
        };
        let (Some(start), Some(end)) = (
            range.first().and_then(Value::as_u64),
            range.get(1).and_then(Value::as_u64),
        ) else {
            continue;
        };
        let (start, end) = (start as usize, end as usize);
        let bytes = log.get(start..end).unwrap_or_default();
        if end > log.len() || sha256_hex(bytes) != hash {
            let step = fields
                .get("step_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return Some((index + 1, step));
        }
    }
    None
}

/// The suffix every line ends with: `,"hash":"<64 hex>"}`.
const HASH_SUFFIX: usize = 9 + 64 + 2;

pub fn verify(path: &Path) -> Verdict {
    let Ok(bytes) = std::fs::read(path) else {
        return Verdict::Tampered {
            line: 1,
            problem: Tampering::Unreadable,
        };
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Verdict::Tampered {
            line: 1,
            problem: Tampering::NotJson,
        };
    };
    if text.is_empty() {
        return Verdict::Tampered {
            line: 1,
            problem: Tampering::Empty,
        };
    }
    // The writer writes no raw `\r` (one in a value is escaped): CRLF line endings, or
    // any other, mean the file was rewritten.
    if let Some(position) = text.find('\r') {
        return Verdict::Tampered {
            line: text[..position].matches('\n').count() + 1,
            problem: Tampering::Edited,
        };
    }
    let ends_cleanly = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut prev = GENESIS.to_owned();
    let mut run_id: Option<String> = None;
    let mut finished = false;
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let last = number == lines.len();
        let tampered = |problem| Verdict::Tampered {
            line: number,
            problem,
        };
        let parsed: Option<serde_json::Map<String, Value>> =
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            };
        if last && !ends_cleanly {
            // A line cut off mid-write after a chain that checks out.
            return Verdict::Cut { events: index };
        }

        let Some(fields) = parsed else {
            return tampered(Tampering::NotJson);
        };
        let Some(hash) = fields.get("hash").and_then(Value::as_str) else {
            return tampered(Tampering::Edited);
        };
        if line.len() < HASH_SUFFIX || !line.is_char_boundary(line.len() - HASH_SUFFIX) {
            return tampered(Tampering::Edited);
        }
        let body = format!("{}}}", &line[..line.len() - HASH_SUFFIX]);
        if sha256_hex(body.as_bytes()) != hash
            || !line.ends_with(&format!(",\"hash\":\"{hash}\"}}"))
        {
            return tampered(Tampering::Edited);
        }
        let seq = fields.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let expected = index as u64 + 1;
        if seq > expected {
            // A later line carrying the expected number means lines were swapped, not lost.
            let swapped = lines[index + 1..].iter().any(|later| {
                serde_json::from_str::<Value>(later)
                    .ok()
                    .and_then(|value| value.get("seq").and_then(Value::as_u64))
                    == Some(expected)
            });
            return tampered(if swapped {
                Tampering::Reordered {
                    expected,
                    found: seq,
                }
            } else {
                Tampering::Deleted {
                    expected,
                    found: seq,
                }
            });
        }
        if seq < expected {
            return tampered(Tampering::Reordered {
                expected,
                found: seq,
            });
        }
        let this_run = fields
            .get("run_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (&run_id, this_run) {
            (None, Some(id)) => run_id = Some(id),
            (Some(known), Some(id)) if *known == id => {}
            _ => return tampered(Tampering::ForeignLine),
        }
        if fields.get("prev").and_then(Value::as_str) != Some(prev.as_str()) {
            return tampered(Tampering::ChainBroken);
        }
        prev = sha256_hex(line.as_bytes());
        finished = fields.get("event").and_then(Value::as_str) == Some("run_finished");
    }
    if let Some((line, step)) = log_edited(path, &lines) {
        return Verdict::Tampered {
            line,
            problem: Tampering::LogEdited { step },
        };
    }
    if finished {
        Verdict::Intact {
            events: lines.len(),
        }
    } else {
        Verdict::Incomplete {
            events: lines.len(),
        }
    }
}
