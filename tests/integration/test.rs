//! A fluent builder that writes runbooks into a private temp dir, runs the real binary
//! there with a clean environment, and asserts stdout, stderr and the exit code. Runs
//! get `--color never` unless the test sets `--color` itself or asks for the automatic
//! choice (`auto_color`), so expectations are plain text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Test {
    directory: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    current_dir: Option<PathBuf>,
    /// Leave colour to the binary's own decision (terminal, NO_COLOR).
    auto_color: bool,
}

/// The size of the terminal `spawn_on_terminal` opens.
pub const TERMINAL_COLUMNS: u16 = 80;
pub const TERMINAL_ROWS: u16 = 24;

pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub elapsed: Duration,
}

impl Test {
    pub fn new() -> Test {
        Test {
            directory: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            auto_color: false,
        }
    }

    pub fn path(&self) -> &Path {
        self.directory.path()
    }

    /// Writes `text` to `relative` inside the test directory, creating directories.
    pub fn file(self, relative: &str, text: &str) -> Test {
        let path = self.directory.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, text).expect("write file");
        self
    }

    /// Writes a runbook to `runbooks/NAME.yaml`, found by name from the test directory.
    pub fn runbook(self, name: &str, text: &str) -> Test {
        self.file(&format!("runbooks/{name}.yaml"), text)
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Test {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// No `--color never`: the binary decides from the terminal and `NO_COLOR`.
    pub fn auto_color(mut self) -> Test {
        self.auto_color = true;
        self
    }

    pub fn current_dir(mut self, directory: &Path) -> Test {
        self.current_dir = Some(directory.to_owned());
        self
    }

    pub fn command(&self) -> Command {
        self.command_through(&[])
    }

    /// The command, run through `wrapper` (e.g. `["setsid", "-c"]`), with the same
    /// arguments and clean environment.
    pub fn command_through(&self, wrapper: &[&str]) -> Command {
        let mut command = match wrapper {
            [program, rest @ ..] => {
                let mut command = Command::new(program);
                command.args(rest).arg(env!("CARGO_BIN_EXE_runbook"));
                command
            }
            [] => Command::new(env!("CARGO_BIN_EXE_runbook")),
        };
        let sets_color = self
            .args
            .iter()
            .any(|arg| arg == "--color" || arg.starts_with("--color="));
        if !sets_color && !self.auto_color {
            command.args(["--color", "never"]);
        }
        command
            .args(&self.args)
            .current_dir(self.current_dir.as_deref().unwrap_or(self.directory.path()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.directory.path())
            .env("XDG_STATE_HOME", self.directory.path().join("state"))
            // Locks are host-wide by default; tests running side by side keep theirs
            // apart unless they share a directory on purpose.
            .env("RUNBOOK_LOCK_DIR", self.directory.path().join("locks"))
            .env("TERM", "dumb");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Starts the binary without waiting, output piped, for signal tests. Keep this
    /// Test alive while the child runs: dropping it removes the child's HOME and state
    /// directory under it.
    pub fn spawn(&self) -> std::process::Child {
        self.command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runbook binary starts")
    }

    /// Starts the binary as the session leader of a new pseudo-terminal (80×24, `setsid
    /// --ctty`), stdin, stdout and stderr on it; returns the child and the terminal's
    /// master side, held only by this process (closing it hangs the terminal up).
    pub fn spawn_on_terminal(&self) -> (std::process::Child, std::fs::File) {
        // 80 columns by 24 rows, as a terminal emulator opens.
        let size = nix::pty::Winsize {
            ws_row: TERMINAL_ROWS,
            ws_col: TERMINAL_COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        // Neither side may leak into what other test threads spawn: a leaked slave keeps
        // the terminal from reaching end of file, a leaked master keeps it from hanging up.
        for side in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                side,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .expect("close-on-exec");
        }
        let slave = std::fs::File::from(pty.slave);
        let child = self
            .command_through(&["setsid", "--ctty"])
            .stdin(slave.try_clone().expect("slave"))
            .stdout(slave.try_clone().expect("slave"))
            .stderr(slave)
            .spawn()
            .expect("setsid runbook");
        (child, std::fs::File::from(pty.master))
    }

    pub fn run(&self) -> Outcome {
        let mut command = self.command();
        command.stdin(std::process::Stdio::null());
        let started = Instant::now();
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("runbook binary runs");
        Outcome {
            stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
            code: status.code().unwrap_or(-1),
            elapsed: started.elapsed(),
        }
    }

    /// Runs and asserts the exit code, returning the outcome for further checks.
    pub fn status(&self, code: i32) -> Outcome {
        let outcome = self.run();
        assert_eq!(
            outcome.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            outcome.stdout, outcome.stderr
        );
        outcome
    }

    /// Runs and asserts the exit code and the whole of stderr.
    pub fn stderr(&self, code: i32, expected: &str) -> Outcome {
        let outcome = self.status(code);
        assert_eq!(
            outcome.stderr, expected,
            "stderr\n--- stdout\n{}",
            outcome.stdout
        );
        outcome
    }

    pub fn stdout(&self, expected: &str) -> Outcome {
        let outcome = self.status(0);
        assert_eq!(
            outcome.stdout, expected,
            "stdout\n--- stderr\n{}",
            outcome.stderr
        );
        outcome
    }
}

impl Outcome {
    /// Exit code, stdout and stderr in one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit code: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Whether the run's summary (on stderr) lists a step whose id contains `step` as
    /// skipped.
    pub fn skipped(&self, step: &str) -> bool {
        self.stderr
            .lines()
            .any(|line| line.trim_start().starts_with("skipped") && line.contains(step))
    }
}

/// The one run record (`*.jsonl`) in an audit directory.
pub fn record_in(directory: &Path) -> PathBuf {
    std::fs::read_dir(directory)
        .expect("audit dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .expect("a record")
}

/// A small valid runbook, for tests that need one.
pub fn minimal(name: &str, title: &str) -> String {
    format!(
        "name: {name}\ntitle: {title}\nkind: check\nsteps:\n  - id: hello\n    run: echo hello\n"
    )
}

pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Text written indented inside a test, with its common indentation and the first and
/// last (empty) lines removed, so runbooks in tests read like the files they stand for.
pub fn unindent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let body = match lines.as_slice() {
        [first, rest @ ..] if first.trim().is_empty() => rest,
        all => all,
    };
    let body = match body {
        [rest @ .., last] if last.trim().is_empty() => rest,
        all => all,
    };
    let indent = body
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in body {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// Kills process group `pgid` and waits until none of it is alive: a killed process
/// still counts as alive until it gets the CPU to exit, and `resume` or a new run
/// refuses to race it meanwhile.
pub fn kill_group_and_wait(pgid: i32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let started = Instant::now();
    while runbook::process::group_alive(pgid as u32) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "process group {pgid} outlived SIGKILL by 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether every one of `spans` (start, end) overlaps every other: the last to start
/// started before the first to end ended.
pub fn all_overlap(spans: &[(f64, f64)]) -> bool {
    let last_start = spans.iter().map(|span| span.0).fold(f64::MIN, f64::max);
    let first_end = spans.iter().map(|span| span.1).fold(f64::MAX, f64::min);
    last_start < first_end
}
