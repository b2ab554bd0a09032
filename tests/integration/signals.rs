//! Real signals sent to a running `runbook`: the command's group is terminated, `finally`
//! runs, the exit code says which signal, and nothing is left running.

use crate::run::processes_with;
use crate::test::Test;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::Read;
use std::time::{Duration, Instant};

fn interrupted_run(signal: Signal, marker: &str) -> (i32, String, String, Test) {
    let body = format!(
        "name: t\ntitle: Test\nkind: test\nsteps:\n  - id: long\n    run: echo started; (sleep {marker}) & sleep {marker}\n  - id: never\n    run: touch never\nfinally:\n  - id: cleanup\n    run: echo cleanup ran > cleanup\n"
    );
    let test = Test::new()
        .runbook("t", &body)
        .args(["run", "t", "--kill-grace", "2s"]);
    let mut child = test.spawn();
    let mut stdout = child.stdout.take().expect("stdout");
    // Wait until the step is really running.
    let mut seen = Vec::new();
    let started = Instant::now();
    let mut buffer = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("started") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "step never started"
        );
        let read = stdout.read(&mut buffer).expect("read");
        seen.extend_from_slice(&buffer[..read]);
    }
    kill(Pid::from_raw(child.id() as i32), signal).expect("signal");
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout");
    (status.code().unwrap_or(-1), rest, stderr, test)
}

#[test]
fn sigint_mid_step_exits_130_after_finally_with_no_child_left() {
    let marker = "1000.7171";
    let (code, _, stderr, test) = interrupted_run(Signal::SIGINT, marker);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        test.path().join("cleanup").exists(),
        "finally did not run\n{stderr}"
    );
    assert!(!test.path().join("never").exists());
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(processes_with(marker), Vec::<String>::new());
}

#[test]
fn sigterm_mid_step_exits_143_after_finally() {
    let marker = "1000.8181";
    let (code, _, stderr, test) = interrupted_run(Signal::SIGTERM, marker);
    assert_eq!(code, 143, "{stderr}");
    assert!(
        test.path().join("cleanup").exists(),
        "finally did not run\n{stderr}"
    );
    assert_eq!(processes_with(marker), Vec::<String>::new());
}

#[test]
fn a_second_sigint_skips_the_grace_period() {
    let marker = "1000.9191";
    let body = format!(
        "name: t\ntitle: Test\nkind: test\nsteps:\n  - id: stubborn\n    run: trap '' TERM INT; echo started; sleep {marker} & wait; wait\n"
    );
    let test = Test::new()
        .runbook("t", &body)
        .args(["run", "t", "--kill-grace", "30s"]);
    let mut child = test.spawn();
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buffer = [0u8; 64];
    let _ = stdout.read(&mut buffer).expect("started");
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGINT).expect("first");
    std::thread::sleep(Duration::from_millis(300));
    // Signals that arrive before the listener runs merge into one, so on a loaded
    // machine the second is sent again until the run ends; 5 s is far below the 30 s
    // grace either way.
    let started = Instant::now();
    let status = loop {
        kill(pid, Signal::SIGINT).expect("second");
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the grace period was not skipped"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(processes_with(marker), Vec::<String>::new());
}

#[test]
fn a_terminal_hang_up_mid_step_terminates_the_step_runs_finally_unasked_records_it_and_exits_129() {
    // A real hang-up: runbook is the session leader of a pty (setsid --ctty), and the
    // pty's master side is closed, as when an SSH connection drops.
    let marker = "1000.7373";
    let body = format!(
        "name: t\ntitle: Test\nkind: test\nsteps:\n  - id: long\n    run: echo started; (sleep {marker}) & sleep {marker}\n  - id: never\n    run: touch never\nfinally:\n  - id: cleanup\n    run: echo cleanup ran > cleanup\n  - id: ask\n    confirm: {{message: Really?}}\n    run: touch asked\n"
    );
    let test = Test::new()
        .runbook("t", &body)
        .args(["run", "t", "--kill-grace", "2s"]);
    // Only this process holds the master: closing it hangs the terminal up.
    let (mut child, mut master) = test.spawn_on_terminal();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 256];
    let started = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("started") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "step never started"
        );
        let read = master.read(&mut buffer).expect("read the pty");
        seen.extend_from_slice(&buffer[..read]);
    }
    drop(master);
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(129),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    assert!(test.path().join("cleanup").exists(), "finally did not run");
    assert!(!test.path().join("never").exists());
    assert!(
        !test.path().join("asked").exists(),
        "a confirmation was approved"
    );
    assert_eq!(processes_with(marker), Vec::<String>::new());
    // The record says what happened, and is complete.
    let audit = test.path().join("state/runbook/audit");
    let record = std::fs::read_dir(&audit)
        .expect("audit dir")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .expect("a record");
    let text = std::fs::read_to_string(record).expect("record");
    let last = text.lines().last().expect("a line");
    assert!(last.contains(r#""event":"run_finished""#), "{last}");
    assert!(last.contains(r#""status":"hangup""#), "{last}");
    assert!(last.contains(r#""exit_code":129"#), "{last}");
}
