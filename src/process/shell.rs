//! Running one shell command: `bash -euo pipefail -c SCRIPT` in its own process group,
//! stdin from /dev/null, output streamed line by line through the masked write path,
//! a timeout and interrupts that terminate the whole group (SIGTERM, grace, SIGKILL),
//! and no process of the group left behind when the step ends.

use crate::process::Program;
use crate::process::liveness::Escaped;
use crate::process::liveness::alive_group as group_alive;
use crate::process::signals::Interrupts;
use crate::ui::output::{LineBuffer, Output, Stream};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::cell::RefCell;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;

/// The largest single read from a command's output (and the size its pipes are grown
/// to): fewer, larger reads and writes when a step streams a lot.
const MAX_READ: usize = 1024 * 1024;

/// How much of each stream of a command the run's log file keeps. The output itself
/// always streams in full; the log is for reading what happened, and a step that pipes
/// a dump through stdout must not copy gigabytes into the audit directory.
const LOG_LIMIT: usize = 16 * 1024 * 1024;

/// How much of a step's stdout `capture` keeps; the rest is streamed but not stored.
pub const CAPTURE_LIMIT: usize = 1024 * 1024;
/// How long a command's output pipes may stay open after it exited, held by a
/// background process, before that process is terminated.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

pub struct ShellCommand<'a> {
    pub program: crate::process::Program<'a>,
    pub script: &'a str,
    pub env: &'a [(String, String)],
    pub workdir: Option<&'a Path>,
    /// Pass the terminal through: no pipes, no own process group, nothing captured.
    pub interactive: bool,
    pub timeout: Option<Duration>,
    pub capture: bool,
    /// Grace period between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Told the process group id once the command is running.
    pub on_spawn: Option<&'a dyn Fn(u32)>,
    /// Put before every line of output: the member of a group of hosts.
    pub prefix: Option<&'a str>,
    /// `-q`: the output is held back under this id (shown only if the step fails).
    pub hold: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    /// Killed by a signal it did not get from us.
    Signaled(i32),
    TimedOut,
    Interrupted,
    /// The connection to the command's host was lost (`ssh` exited 255 and its master
    /// connection is gone); the remote side ends the command by itself.
    ConnectionLost,
}

#[derive(Debug)]
pub struct Finished {
    pub ended: Ended,
    /// Raw stdout, up to `CAPTURE_LIMIT` bytes, when capturing.
    pub stdout: Vec<u8>,
    pub truncated: bool,
    /// Background processes the command left in its group, which were terminated.
    pub leftovers: bool,
}

struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
}

pub async fn run(
    command: &ShellCommand<'_>,
    output: &Output,
    interrupts: &Interrupts,
) -> std::io::Result<Finished> {
    // A remote command gets its environment, directory and script on stdin.
    let request = match command.program {
        Program::Ssh { shell, target } => Some((
            crate::process::remote::request(
                command.env,
                command.grace,
                target.heartbeat,
                command.workdir,
                shell,
                command.script,
            )?,
            target.heartbeat,
        )),
        Program::Local { .. } => None,
    };
    let mut process = command.program.command(command.script);
    if request.is_none() {
        // Named here: spawning in a missing directory only says "No such file or
        // directory", which reads as if the shell were missing.
        if let Some(workdir) = command.workdir
            && !workdir.is_dir()
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the working directory {} does not exist", workdir.display()),
            ));
        }
        process.envs(command.env.iter().map(|(name, value)| (name, value)));
        if let Some(workdir) = command.workdir {
            process.current_dir(workdir);
        }
    }
    if command.interactive {
        process
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
    } else {
        // Its own process group: the terminal's Ctrl-C reaches only us, and we can
        // signal everything the command started at once.
        process
            .process_group(0)
            .stdin(if request.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    process.kill_on_drop(true);
    let seen = interrupts.count();
    let mut child = process.spawn()?;
    // The remote side's control channel: the request, then `TERM`/`KILL` lines. It is
    // closed (which the remote side also takes as `TERM`) when this function returns.
    let control = match (request, child.stdin.take()) {
        (Some((request, heartbeat)), Some(stdin)) => {
            Some(control_channel(stdin, request, heartbeat))
        }
        _ => None,
    };
    let group = (!command.interactive)
        .then(|| child.id().map(|pid| Pid::from_raw(pid as i32)))
        .flatten();
    if let (Some(on_spawn), Some(pid)) = (command.on_spawn, child.id()) {
        on_spawn(pid);
    }

    let capture = RefCell::new(Capture {
        bytes: Vec::new(),
        truncated: false,
    });
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    if let Some(pipe) = &stdout {
        grow_pipe(pipe);
    }
    if let Some(pipe) = &stderr {
        grow_pipe(pipe);
    }
    let reading = async {
        let capture = command.capture.then_some(&capture);
        tokio::join!(
            pump(stdout, Stream::Stdout, output, capture, command),
            pump(stderr, Stream::Stderr, output, None, command)
        )
    };
    let mut reading = std::pin::pin!(reading);
    let mut reading_done = false;

    let timeout = async {
        match command.timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    let mut timeout = std::pin::pin!(timeout);
    let mut leftovers = false;
    let ended = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                // Output still flowing after exit means a background process holds the
                // pipes; give it a moment, then end it with the rest of the group.
                if !reading_done {
                    reading_done = tokio::time::timeout(DRAIN_TIMEOUT, &mut reading).await.is_ok();
                }
                if let Some(group) = group && group_alive(group) {
                    leftovers = true;
                    terminate_group(group, command.grace, interrupts, seen).await;
                }
                break ended(status);
            }
            _ = &mut reading, if !reading_done => reading_done = true,
            _ = &mut timeout => {
                match &control {
                    Some(control) => stop_remote(&mut child, group, control, command.grace, interrupts, seen).await,
                    None => stop(&mut child, group, command.grace, interrupts, seen).await,
                }
                break Ended::TimedOut;
            }
            _ = interrupts.beyond(seen) => {
                match &control {
                    Some(control) => stop_remote(&mut child, group, control, command.grace, interrupts, seen + 1).await,
                    None => stop(&mut child, group, command.grace, interrupts, seen + 1).await,
                }
                break Ended::Interrupted;
            }
        }
    };
    if !reading_done {
        // The group is gone, so the pipes close; this cannot hang.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, &mut reading).await;
    }
    let capture = capture.replace(Capture {
        bytes: Vec::new(),
        truncated: false,
    });
    Ok(Finished {
        ended,
        stdout: capture.bytes,
        truncated: capture.truncated,
        leftovers,
    })
}

/// Asks for a 1 MiB pipe instead of the default 64 KiB: a command that prints a lot is
/// then not woken up and put to sleep sixteen times as often. Best effort: the limit in
/// /proc/sys/fs/pipe-max-size may refuse it.
fn grow_pipe(pipe: &impl std::os::fd::AsFd) {
    let _ = nix::fcntl::fcntl(
        pipe.as_fd(),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(MAX_READ as i32),
    );
}

fn ended(status: ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signaled(signal),
        (None, None) => Ended::Exited(-1),
    }
}

async fn pump(
    reader: Option<impl AsyncRead + Unpin>,
    stream: Stream,
    output: &Output,
    capture: Option<&RefCell<Capture>>,
    command: &ShellCommand<'_>,
) {
    let prefix = command.prefix;
    let Some(mut reader) = reader else {
        return;
    };
    // Start small (most steps print little) and grow while reads fill the buffer, so a
    // step that streams gigabytes moves them in 1 MiB reads.
    let mut buffer = vec![0u8; 64 * 1024];
    let mut lines = LineBuffer::new();
    let masker = output.masker();
    let mut logged = 0usize;
    let mut omitted = 0usize;
    let mut at_line_start = true;
    let mut prefixed = Vec::new();
    let mut emit = |bytes: &[u8]| {
        let bytes = match prefix {
            Some(prefix) => {
                prefixed.clear();
                for line in bytes.split_inclusive(|byte| *byte == b'\n') {
                    if at_line_start {
                        prefixed.extend_from_slice(prefix.as_bytes());
                    }
                    prefixed.extend_from_slice(line);
                    at_line_start = line.ends_with(b"\n");
                }
                &prefixed[..]
            }
            None => bytes,
        };
        let log = logged < LOG_LIMIT;
        output.child(stream, bytes, log, command.hold);
        if log {
            logged += bytes.len();
        } else {
            omitted += bytes.len();
        }
    };
    loop {
        let mut read = match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        // Take whatever else is already waiting before writing: a fast writer then
        // costs one write per buffer, not one per small chunk it produced.
        let mut ended = false;
        while read < buffer.len() {
            match futures_util::FutureExt::now_or_never(reader.read(&mut buffer[read..])) {
                Some(Ok(0)) => {
                    ended = true;
                    break;
                }
                Some(Ok(more)) => read += more,
                Some(Err(_)) | None => break,
            }
        }
        let filled = read == buffer.len();
        let chunk = &buffer[..read];
        if let Some(capture) = capture {
            let mut capture = capture.borrow_mut();
            let room = CAPTURE_LIMIT.saturating_sub(capture.bytes.len());
            capture.bytes.extend_from_slice(&chunk[..room.min(read)]);
            capture.truncated |= read > room;
        }
        lines.push(chunk, &masker, &mut emit);
        if filled && buffer.len() < MAX_READ {
            buffer.resize(buffer.len() * 2, 0);
        }
        if ended {
            break;
        }
    }
    lines.finish(&mut emit);
    if omitted > 0 {
        let name = match stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        output.log_note(&format!(
            "\n[runbook: {omitted} more bytes of this step's {name} are not kept in this log]\n"
        ));
    }
}

/// Ends a running command: SIGTERM to its group, the grace period (cut short by another
/// signal), then SIGKILL to whatever is left.
async fn stop(
    child: &mut Child,
    group: Option<Pid>,
    grace: Duration,
    interrupts: &Interrupts,
    seen: u32,
) {
    match group {
        Some(group) => {
            terminate_group(group, grace, interrupts, seen).await;
        }
        None => {
            let _ = child.start_kill();
        }
    }
    let _ = child.wait().await;
}

/// Starts the task that owns a remote command's stdin: it writes the request, then
/// each control line sent on the returned channel, and an empty line every heartbeat so
/// that the remote side can tell a quiet network from a quiet step. Dropping the sender
/// closes stdin.
fn control_channel(
    mut stdin: tokio::process::ChildStdin,
    request: Vec<u8>,
    beat: Duration,
) -> tokio::sync::mpsc::UnboundedSender<&'static str> {
    use tokio::io::AsyncWriteExt;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    tokio::spawn(async move {
        if stdin.write_all(&request).await.is_err() {
            return;
        }
        let _ = stdin.flush().await;
        // `--ssh-heartbeat` is at least a second; a zero would make the timer panic.
        let beat = beat.max(Duration::from_secs(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let line = tokio::select! {
                line = receiver.recv() => match line {
                    Some(line) => line,
                    None => return,
                },
                _ = heartbeat.tick() => "\n",
            };
            if stdin.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            let _ = stdin.flush().await;
        }
    });
    sender
}

/// How long a remote command may take to end after its grace period before the local
/// `ssh` is killed (which the remote side takes as the end of input, and ends the
/// command anyway): a hung network must not hang the run.
const REMOTE_SLACK: Duration = Duration::from_secs(5);

/// Ends a remote command: `TERM` to the remote side, which terminates the script's
/// process group and kills it after the grace period; `KILL` at once on another
/// interrupt; the local `ssh` killed if the remote side does not answer in time.
async fn stop_remote(
    child: &mut Child,
    group: Option<Pid>,
    control: &tokio::sync::mpsc::UnboundedSender<&'static str>,
    grace: Duration,
    interrupts: &Interrupts,
    seen: u32,
) {
    let _ = control.send("TERM\n");
    let deadline = tokio::time::sleep(grace + REMOTE_SLACK);
    tokio::pin!(deadline);
    let mut seen = seen;
    loop {
        tokio::select! {
            _ = child.wait() => return,
            _ = &mut deadline => break,
            _ = interrupts.beyond(seen) => {
                seen = interrupts.count();
                let _ = control.send("KILL\n");
            }
        }
    }
    stop(child, group, Duration::ZERO, interrupts, seen).await;
}

async fn terminate_group(group: Pid, grace: Duration, interrupts: &Interrupts, seen: u32) {
    let mut escaped: Vec<Escaped> = Escaped::now(group).into_iter().collect();
    let signal_all = |escaped: &[Escaped], signal: Signal| {
        let _ = killpg(group, signal);
        for process in escaped {
            if process.alive() {
                let _ = nix::sys::signal::kill(process.pid, signal);
            }
        }
    };
    refresh(group, &mut escaped);
    signal_all(&escaped, Signal::SIGTERM);
    signal_all(&escaped, Signal::SIGCONT);
    let deadline = tokio::time::Instant::now() + grace;
    let mut ticks = 0u32;
    loop {
        if !group_alive(group) && !escaped.iter().any(Escaped::alive) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = interrupts.beyond(seen) => break,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        ticks += 1;
        // What the step started since (a loop that runs `timeout` again) is stopped too.
        if ticks.is_multiple_of(10) {
            if refresh(group, &mut escaped) {
                signal_all(&escaped, Signal::SIGTERM);
            }
            signal_all(&escaped, Signal::SIGCONT);
        }
    }
    refresh(group, &mut escaped);
    signal_all(&escaped, Signal::SIGKILL);
    while group_alive(group) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Adds to `escaped` the processes of the step that left its group, with the group and
/// every new one stopped (SIGSTOP) while the tree is listed so none forks away unseen,
/// until no new one appears. Whether any was added. The caller sends SIGCONT.
fn refresh(group: Pid, escaped: &mut Vec<Escaped>) -> bool {
    let _ = killpg(group, Signal::SIGSTOP);
    let mut added = false;
    for _round in 0..8 {
        let new: Vec<Escaped> = crate::process::liveness::escaped_descendants(group, escaped)
            .into_iter()
            .filter(|process| !escaped.contains(process))
            .collect();
        if new.is_empty() {
            break;
        }
        for process in &new {
            let _ = nix::sys::signal::kill(process.pid, Signal::SIGSTOP);
        }
        escaped.extend(new);
        added = true;
    }
    added
}
