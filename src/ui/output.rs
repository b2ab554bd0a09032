//! The one write path for child output: masked, whole lines at a time (parallel steps
//! never interleave mid-line), progress bars suspended around it, flushed per chunk so
//! output is live without a syscall per line.

use crate::mask::{Masker, SharedMasker};
use indicatif::MultiProgress;
use std::cell::RefCell;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub struct Output {
    masker: SharedMasker,
    stdout: RefCell<Box<dyn Write>>,
    stderr: RefCell<Box<dyn Write>>,
    /// Bars to suspend while writing, and whether stdout shares their terminal.
    bars: Option<MultiProgress>,
    stdout_is_terminal: bool,
    /// A copy of everything written, masked (the run's log file).
    log: RefCell<Option<Box<dyn Write>>>,
    /// Bytes written to the log so far: a step's output is the range between its start
    /// and its end (`audit show --output STEP`).
    logged: std::cell::Cell<u64>,
    /// Running SHA-256 of what was logged since each open mark (a running step), so
    /// each step's `step_finished` carries the hash of its log bytes.
    marks: RefCell<std::collections::BTreeMap<u64, sha2::Sha256>>,
    next_mark: std::cell::Cell<u64>,
    /// With `--format json`, stdout carries only the JSON: child stdout goes to stderr.
    child_stdout_to_stderr: std::cell::Cell<bool>,
    /// `-q`: the output of running steps, held back by step until the step ends; shown
    /// only if it failed (what `chronic` does for cron).
    held: RefCell<std::collections::BTreeMap<u64, Held>>,
}

/// A step's output held back by `-q`: its last `HELD_LIMIT` bytes, by stream.
#[derive(Default)]
struct Held {
    chunks: std::collections::VecDeque<(Stream, Vec<u8>)>,
    bytes: usize,
    dropped: u64,
}

/// How much of a step's output `-q` keeps to show on failure; the rest is in the log.
const HELD_LIMIT: usize = 1024 * 1024;

impl Output {
    pub fn new(
        stdout: Box<dyn Write>,
        stderr: Box<dyn Write>,
        bars: Option<MultiProgress>,
        stdout_is_terminal: bool,
    ) -> Output {
        Output {
            masker: SharedMasker::default(),
            stdout: RefCell::new(stdout),
            stderr: RefCell::new(stderr),
            bars,
            stdout_is_terminal,
            log: RefCell::new(None),
            logged: std::cell::Cell::new(0),
            marks: RefCell::new(std::collections::BTreeMap::new()),
            next_mark: std::cell::Cell::new(0),
            child_stdout_to_stderr: std::cell::Cell::new(false),
            held: RefCell::new(std::collections::BTreeMap::new()),
        }
    }

    /// Starts holding back the output of the commands run with `hold` = `id`.
    pub fn hold(&self, id: u64) {
        self.held.borrow_mut().insert(id, Held::default());
    }

    /// Forgets what was held for `id` (the step succeeded).
    pub fn discard(&self, id: u64) {
        self.held.borrow_mut().remove(&id);
    }

    /// Shows what was held for `id` (the step `step_id`, which failed), after `header`.
    pub fn release(&self, id: u64, step_id: &str, header: &str) {
        let Some(held) = self.held.borrow_mut().remove(&id) else {
            return;
        };
        if held.chunks.is_empty() {
            return;
        }
        self.to_stderr(header);
        if held.dropped > 0 {
            self.to_stderr(&format!(
                "[{} earlier bytes are in the run's log: runbook audit show RUN_ID --output {step_id} (RUN_ID: in the summary below)]\n",
                held.dropped
            ));
        }
        for (stream, bytes) in held.chunks {
            self.write_child(stream, &bytes);
        }
    }

    /// Keeps stdout for results only (JSON), sending child stdout to stderr.
    pub fn keep_stdout_for_results(&self) {
        self.child_stdout_to_stderr.set(true);
    }

    /// Adds a secret learnt during the run (a secret param or input, a value derived
    /// from one).
    pub fn add_secret(&self, secret: &str) {
        self.masker.add([secret]);
    }

    pub fn masker(&self) -> Masker {
        self.masker.masker()
    }

    /// The run's secrets, shared with the audit record.
    pub fn shared_masker(&self) -> SharedMasker {
        self.masker.clone()
    }

    pub fn set_log(&self, log: Box<dyn Write>) {
        *self.log.borrow_mut() = Some(log);
    }

    /// Starts hashing what is logged from now on (a step starts).
    pub fn begin_mark(&self) -> u64 {
        use sha2::Digest;
        let mark = self.next_mark.get();
        self.next_mark.set(mark + 1);
        self.marks.borrow_mut().insert(mark, sha2::Sha256::new());
        mark
    }

    /// The hash of what was logged since `mark` began (the step ends).
    pub fn end_mark(&self, mark: u64) -> Option<String> {
        use sha2::Digest;
        let hasher = self.marks.borrow_mut().remove(&mark)?;
        Some(
            hasher
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }

    /// Where the log is now, in bytes.
    pub fn log_position(&self) -> u64 {
        self.logged.get()
    }

    /// The longest secret, for callers that split streams into chunks.
    pub fn mask_overlap(&self) -> usize {
        self.masker.masker().longest().saturating_sub(1)
    }

    /// `text` with every secret masked, in each of its forms (quoted, escaped, encoded).
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text)
    }

    /// A note in the log file only.
    pub fn log_note(&self, text: &str) {
        self.write_log(text.as_bytes());
    }

    /// Appends to the run's log; the first failure (a full disk) is announced on the
    /// terminal, and logging stops there rather than dropping output silently.
    fn write_log(&self, bytes: &[u8]) {
        let failed = match self.log.borrow_mut().as_mut() {
            Some(log) => log.write_all(bytes).and_then(|()| log.flush()).err(),
            None => return,
        };
        if failed.is_none() {
            self.logged.set(self.logged.get() + bytes.len() as u64);
            use sha2::Digest;
            for hasher in self.marks.borrow_mut().values_mut() {
                hasher.update(bytes);
            }
        }
        if let Some(error) = failed {
            *self.log.borrow_mut() = None;
            self.to_stderr(&format!(
                "warning: cannot write the run's output log ({error}): output from here on is shown but not logged\n"
            ));
        }
    }

    /// Text of the tool's own to stderr, with progress bars suspended around it.
    fn to_stderr(&self, text: &str) {
        let write = || {
            let mut writer = self.stderr.borrow_mut();
            let _ = writer.write_all(text.as_bytes());
            let _ = writer.flush();
        };
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    /// Writes complete lines (or a forced partial chunk) of child output; `log` says
    /// whether they also go to the run's log file. With `hold`, the output is held back
    /// instead of shown (`-q`), and still logged.
    pub fn child(&self, stream: Stream, bytes: &[u8], log: bool, hold: Option<u64>) {
        let masker = self.masker.masker();
        let masked = masker.mask_bytes(bytes);
        let held = hold.is_some_and(|id| {
            let mut all = self.held.borrow_mut();
            let Some(held) = all.get_mut(&id) else {
                return false;
            };
            held.bytes += masked.len();
            held.chunks.push_back((stream, masked.to_vec()));
            while held.bytes > HELD_LIMIT && held.chunks.len() > 1 {
                if let Some((_, front)) = held.chunks.pop_front() {
                    held.bytes -= front.len();
                    held.dropped += front.len() as u64;
                }
            }
            true
        });
        if !held {
            self.write_child(stream, &masked);
        }
        if log {
            self.write_log(&masked);
        }
    }

    /// Child output (masked already) to its stream, bars suspended around it.
    fn write_child(&self, stream: Stream, masked: &[u8]) {
        let write = || {
            let target = match stream {
                Stream::Stdout if !self.child_stdout_to_stderr.get() => &self.stdout,
                Stream::Stdout | Stream::Stderr => &self.stderr,
            };
            let mut writer = target.borrow_mut();
            // A closed stdout (`| head`) must not kill the run: the step goes on and
            // its output is still in the log.
            let _ = writer.write_all(masked);
            let _ = writer.flush();
        };
        match &self.bars {
            Some(bars) if stream == Stream::Stderr || self.stdout_is_terminal => {
                bars.suspend(write)
            }
            _ => write(),
        }
    }

    /// A message of the tool's own to stderr (already masked by the caller if needed).
    pub fn message(&self, text: &str) {
        self.to_stderr(text);
        self.write_log(console::strip_ansi_codes(text).as_bytes());
    }

    /// Results (plans, JSON, summaries in JSON form) to stdout.
    pub fn result(&self, text: &str) {
        let mut writer = self.stdout.borrow_mut();
        let _ = writer.write_all(text.as_bytes());
        let _ = writer.flush();
    }
}

/// Splits a byte stream into complete lines, so that writes never cut a line in two.
/// A line longer than `MAX_PENDING` is passed on in pieces, keeping back enough bytes to
/// mask a secret that straddles two pieces.
pub struct LineBuffer {
    pending: Vec<u8>,
}

pub const MAX_PENDING: usize = 64 * 1024;

impl LineBuffer {
    pub fn new() -> LineBuffer {
        LineBuffer {
            pending: Vec::with_capacity(8 * 1024),
        }
    }

    /// Feeds a chunk; calls `emit` with the part that can be written now.
    pub fn push(&mut self, chunk: &[u8], masker: &Masker, mut emit: impl FnMut(&[u8])) {
        if self.pending.is_empty() {
            // The common case: emit straight from the read buffer, copying only an
            // unterminated tail. Only the last MAX_PENDING bytes need a look for a
            // newline: a longer unterminated tail is passed on in pieces anyway, so a
            // megabyte of binary output is not scanned for a newline it does not have.
            let window = chunk.len().saturating_sub(MAX_PENDING);
            let mut rest = match memchr::memrchr(b'\n', &chunk[window..]) {
                Some(position) => {
                    let last_newline = window + position;
                    emit(&chunk[..=last_newline]);
                    &chunk[last_newline + 1..]
                }
                None => chunk,
            };
            if rest.len() > MAX_PENDING {
                let cut = masker.safe_cut(rest);
                if cut > 0 {
                    emit(&rest[..cut]);
                    rest = &rest[cut..];
                }
            }
            self.pending.extend_from_slice(rest);
            return;
        }
        match memchr::memrchr(b'\n', chunk) {
            Some(last_newline) => {
                if self.pending.is_empty() {
                    emit(&chunk[..=last_newline]);
                } else {
                    self.pending.extend_from_slice(&chunk[..=last_newline]);
                    emit(&self.pending);
                    self.pending.clear();
                }
                self.pending.extend_from_slice(&chunk[last_newline + 1..]);
            }
            None => self.pending.extend_from_slice(chunk),
        }
        if self.pending.len() > MAX_PENDING {
            let cut = masker.safe_cut(&self.pending);
            if cut > 0 {
                emit(&self.pending[..cut]);
                self.pending.drain(..cut);
            }
        }
    }

    /// The unterminated rest at end of stream, with a newline added.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            self.pending.push(b'\n');
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]], masker: &Masker) -> Vec<Vec<u8>> {
        let mut buffer = LineBuffer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buffer.push(chunk, masker, |bytes| out.push(bytes.to_vec()));
        }
        buffer.finish(|bytes| out.push(bytes.to_vec()));
        out
    }

    #[test]
    fn emits_only_whole_lines() {
        let out = feed(&[b"hel", b"lo\nwor", b"ld\n", b"tail"], &Masker::default());
        assert_eq!(
            out,
            vec![b"hello\n".to_vec(), b"world\n".to_vec(), b"tail\n".to_vec()]
        );
    }

    #[test]
    fn long_lines_are_split_without_splitting_a_secret() {
        let masker = Masker::new(["secret-value"]);
        let mut big = vec![b'x'; MAX_PENDING - 5];
        big.extend_from_slice(b"secret-value");
        big.extend_from_slice(&[b'y'; 100]);
        let out = feed(&[&big[..MAX_PENDING], &big[MAX_PENDING..]], &masker);
        assert!(out.len() >= 2);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), big.len() + 1);
        assert!(
            out.iter()
                .any(|piece| piece.windows(12).any(|window| window == b"secret-value"))
        );
    }
}
