//! A real terminal, through a pty: confirmations typed by a person, step mode, manual
//! inputs asked again after a bad answer, prompts for missing params, progress bars.

use crate::test::Test;
use nix::sys::wait::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

fn start(test: &Test) -> PtySession {
    spawn_command(test.command(), Some(20_000)).expect("spawn in a pty")
}

fn exit_code(session: &mut PtySession) -> i32 {
    session.exp_eof().expect("runbook ends");
    match session.process().wait().expect("wait") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("runbook did not exit normally: {other:?}"),
    }
}

const DROP: &str = "params:\n  db_name: {default: chatcard}\nsteps:\n  - id: recreate\n    destructive: true\n    confirm: {message: \"Drop database {{ db_name }}?\", type: \"{{ db_name }}\", auto: deny}\n    run: touch dropped\n";

#[test]
fn a_typed_confirmation_is_accepted() {
    let test = Test::new().runbook("t", &runbook(DROP)).args(["run", "t"]);
    let mut session = start(&test);
    session
        .exp_string("touch dropped")
        .expect("shows the command");
    session
        .exp_string("Drop database chatcard?")
        .expect("shows the message");
    session
        .exp_string("To confirm, type the text on the next line exactly (3 tries")
        .expect("asks to type");
    session.exp_string("    chatcard").expect("the text, alone");
    session.send_line("chatcard").expect("answer");
    assert_eq!(exit_code(&mut session), 0);
    assert!(test.path().join("dropped").exists());
}

#[test]
fn a_typed_confirmation_allows_three_tries() {
    let test = Test::new().runbook("t", &runbook(DROP)).args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("    chatcard").expect("asks to type");
    session.send_line("chatcrad").expect("a typo");
    session
        .exp_string("you typed `chatcrad`, which is not the text above (2 tries left)")
        .expect("says what was typed");
    session.send_line("chatcard").expect("answer");
    assert_eq!(exit_code(&mut session), 0);
    assert!(test.path().join("dropped").exists());
}

#[test]
fn a_typed_confirmation_is_declined_after_three_wrong_answers_or_an_empty_one() {
    let test = Test::new().runbook("t", &runbook(DROP)).args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("    chatcard").expect("asks to type");
    for typo in ["y", "yes", "\"chatcard\""] {
        session.send_line(typo).expect("answer");
    }
    session
        .exp_string("3 answers did not match: declined")
        .expect("says why");
    session
        .exp_string("confirmation declined")
        .expect("says why");
    assert_eq!(exit_code(&mut session), 3);
    assert!(!test.path().join("dropped").exists());

    let test = Test::new().runbook("t", &runbook(DROP)).args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("    chatcard").expect("asks to type");
    session.send_line("").expect("nothing");
    session
        .exp_string("confirmation declined")
        .expect("an empty answer declines at once");
    assert_eq!(exit_code(&mut session), 3);
    assert!(!test.path().join("dropped").exists());
}

#[test]
fn abort_at_an_input_prompt_stops_the_run() {
    let body = "steps:\n  - id: ask\n    manual: Look.\n    input:\n      who: {type: string, prompt: Who}\n  - id: after\n    run: touch after\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("Who").expect("asks");
    session.send_line("abort").expect("abort");
    session
        .exp_string("aborted by the operator")
        .expect("says why");
    assert_eq!(exit_code(&mut session), 3);
    assert!(!test.path().join("after").exists());
}

#[test]
fn step_mode_can_skip_a_step() {
    let body =
        "steps:\n  - id: first\n    run: touch first\n  - id: second\n    run: touch second\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--step"]);
    let mut session = start(&test);
    session
        .exp_string("[1/2] first (first)")
        .expect("names the step");
    session
        .exp_string("[r]un, [s]kip or [a]bort?")
        .expect("asks for first");
    session.send_line("s").expect("skip");
    session
        .exp_string("[r]un, [s]kip or [a]bort?")
        .expect("asks for second");
    session.send_line("r").expect("run");
    assert_eq!(exit_code(&mut session), 0);
    assert!(!test.path().join("first").exists());
    assert!(test.path().join("second").exists());
}

#[test]
fn manual_input_is_asked_again_after_a_bad_value() {
    let body = "steps:\n  - id: assess\n    manual: Check the error-rate dashboard.\n    input:\n      error_rate: {type: number, prompt: Error rate now (%)}\n  - id: report\n    run: echo rate={{ error_rate }} > rate\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let mut session = start(&test);
    session
        .exp_string("Check the error-rate dashboard.")
        .expect("instructions");
    session
        .exp_string("Error rate now (%) (number):")
        .expect("asks");
    session.send_line("lots").expect("bad answer");
    session
        .exp_string("`lots` is not a number; try again")
        .expect("re-asks");
    session
        .exp_string("Error rate now (%) (number):")
        .expect("asks again");
    session.send_line("2.5").expect("good answer");
    session
        .exp_string("Press Enter when done")
        .expect("acknowledgement");
    session.send_line("").expect("enter");
    assert_eq!(exit_code(&mut session), 0);
    assert_eq!(
        std::fs::read_to_string(test.path().join("rate")).expect("rate"),
        "rate=2.5\n"
    );
}

#[test]
fn missing_params_are_prompted_for_on_a_terminal() {
    let body = "params:\n  db_name: {type: string, pattern: '[a-z_]+', prompt: Database to restore}\nsteps:\n  - id: a\n    run: echo {{ db_name }} > chosen\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("Database to restore").expect("asks");
    session.send_line("Bad-Name").expect("bad");
    session.exp_string("try again").expect("re-asks");
    session.send_line("chatcard").expect("good");
    assert_eq!(exit_code(&mut session), 0);
    assert_eq!(
        std::fs::read_to_string(test.path().join("chosen")).expect("chosen"),
        "chatcard\n"
    );
}

#[test]
fn progress_bars_on_a_terminal_end_with_status_lines() {
    let body = "rto: 4h\nsteps:\n  - id: slow\n    name: Wait a moment\n    run: sleep 0.5; echo output line\n  - id: quick\n    run: 'true'\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .env("TERM", "xterm-256color")
        .args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("RTO 3h59m").expect("live RTO budget");
    session.exp_string("output line").expect("child output");
    session
        .exp_string("[1/2] slow (Wait a moment) ok")
        .expect("status line");
    session
        .exp_string("[2/2] quick ok")
        .expect("second status line");
    session
        .exp_string("RTO 4h:")
        .expect("summary with the RTO used");
    assert_eq!(exit_code(&mut session), 0);
}

#[test]
fn ctrl_c_at_a_prompt_interrupts_and_still_runs_finally() {
    let body = format!("{DROP}finally:\n  - id: cleanup\n    run: touch cleaned\n");
    let test = Test::new().runbook("t", &runbook(&body)).args(["run", "t"]);
    let mut session = start(&test);
    session
        .exp_string("To confirm, type the text on the next line exactly")
        .expect("asks to type");
    session.send_control('c').expect("ctrl-c");
    assert_eq!(exit_code(&mut session), 130);
    assert!(test.path().join("cleaned").exists(), "finally did not run");
    assert!(!test.path().join("dropped").exists());
}

#[test]
fn an_interactive_step_gets_the_terminal() {
    let body = "steps:\n  - id: ask\n    interactive: true\n    run: read -r -p 'your name? ' name; echo \"hi $name\" > greeting\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    let mut session = start(&test);
    session.exp_string("your name?").expect("the command asks");
    session.send_line("ops").expect("answer");
    assert_eq!(exit_code(&mut session), 0);
    assert_eq!(
        std::fs::read_to_string(test.path().join("greeting")).expect("greeting"),
        "hi ops\n"
    );
}

#[test]
fn step_mode_never_asks_about_clean_up_steps_even_in_a_parallel_group_or_an_include() {
    let body = "steps:\n  - id: main\n    run: touch main\nfinally:\n  - id: tidy\n    parallel:\n      - id: tidy-a\n        run: touch tidy-a\n      - id: tidy-b\n        run: touch tidy-b\n  - id: tidy-included\n    include: helper\n";
    let helper =
        "name: helper\ntitle: Helper\nkind: test\nsteps:\n  - id: inner\n    run: touch inner\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .runbook("helper", helper)
        .args(["run", "t", "--step"]);
    let mut session = start(&test);
    session
        .exp_string("[r]un, [s]kip or [a]bort?")
        .expect("asks about the main step");
    session.send_line("r").expect("run");
    assert_eq!(exit_code(&mut session), 0);
    for file in ["main", "tidy-a", "tidy-b", "inner"] {
        assert!(test.path().join(file).exists(), "{file} ran");
    }
}

/// The time a confirmation waits for the operator is recorded apart (`wait_ms`), not
/// counted as the step's work.
#[test]
fn waiting_for_a_confirmation_is_not_the_steps_duration() {
    let test = Test::new().runbook("t", &runbook(DROP)).args(["run", "t"]);
    let mut session = start(&test);
    session
        .exp_string("To confirm, type the text on the next line exactly")
        .expect("asks to type");
    std::thread::sleep(std::time::Duration::from_millis(3_000));
    session.send_line("chatcard").expect("answer");
    assert_eq!(exit_code(&mut session), 0);
    let audit = test.path().join("state/runbook/audit");
    let record = crate::test::record_in(&audit);
    let finished: serde_json::Value = std::fs::read_to_string(record)
        .expect("read")
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json"))
        .find(|event| event["event"] == "step_finished")
        .expect("step_finished");
    let duration = finished["duration_ms"].as_u64().expect("duration");
    let wait = finished["wait_ms"].as_u64().expect("wait recorded");
    assert!(wait >= 2_900, "{finished}");
    // Half the wait: the step's own work (a spawn and fsynced events) stays well
    // under it even on a loaded machine, and counting the wait would exceed it.
    assert!(
        duration < wait / 2,
        "the wait was counted as work: {finished}"
    );
}

/// Everything a command prints on a terminal until it ends.
fn printed_on_terminal(test: &Test) -> String {
    let mut session = start(test);
    let text = session.exp_eof().expect("runbook ends");
    let _ = session.process().wait();
    text
}

#[test]
fn one_colour_decision_for_our_output_clap_and_tracing() {
    const ESCAPE: &str = "\u{1b}[";
    let bad = |env: &[(&str, &str)], args: &[&str]| {
        let mut test = Test::new().file("bad.yaml", "name: bad\n").auto_color();
        for (name, value) in env {
            test = test.env(name, value);
        }
        test.args(args.iter().copied())
    };
    // A colour terminal: our diagnostics and clap's errors are coloured.
    let term = [("TERM", "xterm-256color")];
    assert!(printed_on_terminal(&bad(&term, &["validate", "bad.yaml"])).contains(ESCAPE));
    assert!(printed_on_terminal(&bad(&term, &["no-such-command"])).contains(ESCAPE));
    // TERM=dumb, NO_COLOR, CLICOLOR=0: none, on the same terminal.
    for env in [
        [("TERM", "dumb"), ("X", "")],
        [("TERM", "xterm-256color"), ("NO_COLOR", "1")],
        [("TERM", "xterm-256color"), ("CLICOLOR", "0")],
    ] {
        let text = printed_on_terminal(&bad(&env, &["validate", "bad.yaml"]));
        assert!(!text.contains(ESCAPE), "{env:?}: {text}");
    }
    // --color never reaches clap's errors and help, and -v tracing.
    for args in [
        &["--color", "never", "no-such-command"][..],
        &["--color=never", "--help"][..],
        &["--color", "never", "-v", "validate", "bad.yaml"][..],
    ] {
        let text = printed_on_terminal(&bad(&term, args));
        assert!(!text.contains(ESCAPE), "{args:?}: {text}");
    }
    // CLICOLOR_FORCE colours even into a pipe; NO_COLOR still wins over it.
    let forced = bad(&[("CLICOLOR_FORCE", "1")], &["validate", "bad.yaml"]).status(2);
    assert!(forced.stderr.contains(ESCAPE), "{}", forced.stderr);
    let both = bad(
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        &["validate", "bad.yaml"],
    )
    .status(2);
    assert!(!both.stderr.contains(ESCAPE), "{}", both.stderr);
}

/// Two runbooks (`t-alpha`, `other`) with params and steps, one recorded run of
/// `t-alpha`: what completion offers. Returns the test, the run id and the binary's
/// directory (for PATH).
fn completion_fixture() -> (Test, String, String) {
    let body = "params:\n  target: {default: x}\n  mode: {default: y}\nsteps:\n  - id: restore-one\n    run: 'true'\n  - id: verify\n    run: 'true'\n";
    let test = Test::new()
        .runbook(
            "t-alpha",
            &format!("name: t-alpha\ntitle: Test\nkind: test\n{body}"),
        )
        .runbook(
            "other",
            &format!("name: other\ntitle: Test\nkind: test\n{body}"),
        );
    // One recorded run, so there is a run id to complete.
    let ran = Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["run", "t-alpha"])
        .status(0);
    let run_id = ran
        .stderr
        .split("(run ")
        .nth(1)
        .and_then(|rest| rest.get(..12))
        .expect("run id")
        .to_owned();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_runbook"))
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    (test, run_id, bin)
}

#[test]
fn completion_in_a_real_interactive_bash_knows_runbooks_params_steps_and_runs() {
    let (test, run_id, bin) = completion_fixture();
    let mut bash = std::process::Command::new("bash");
    bash.args(["--norc", "--noprofile", "-i"])
        .current_dir(test.path())
        .env_clear()
        .env(
            "PATH",
            format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .env("HOME", test.path())
        .env("XDG_STATE_HOME", test.path().join("state"))
        .env("TERM", "dumb")
        .env("PS1", "READY> ");
    // rexpect turns the pty's echo off; readline then echoes nothing, so it is turned
    // back on (`stty echo`) to see what completion inserts.
    let mut session = spawn_command(bash, Some(20_000)).expect("bash in a pty");
    session.exp_string("READY> ").expect("prompt");
    session
        .send_line("stty echo; source <(runbook completions bash) && echo LOA''DED")
        .expect("load");
    session.exp_string("LOADED").expect("loaded");
    session.exp_string("READY> ").expect("prompt");
    // A runbook name, a param as NAME=, a step id, then a run id.
    session.send("runbook run t-al\t").expect("tab");
    session.flush().expect("flush");
    session
        .exp_string("pha ")
        .expect("completes the runbook name");
    session.send("-p tar\t").expect("tab");
    session.flush().expect("flush");
    session
        .exp_string("get=")
        .expect("completes a param as NAME=");
    session.send("v --approve rest\t").expect("tab");
    session.flush().expect("flush");
    session.exp_string("ore-one ").expect("completes a step id");
    session.send("\u{15}").expect("clear the line");
    session.flush().expect("flush");
    session
        .send(&format!("runbook audit show {}\t", &run_id[..4]))
        .expect("tab");
    session.flush().expect("flush");
    session
        .exp_string(&run_id[4..])
        .expect("completes a run id");
    session.send("\u{15}").expect("clear the line");
    session.flush().expect("flush");
    session.send_line("exit").expect("exit");
    session.exp_eof().expect("bash ends");
}

#[test]
fn ctrl_c_leaves_no_spinner_frame_in_the_scrollback() {
    // The terminal echoes `^C` where the cursor is. A spinner line drawn to the last
    // column leaves the cursor there, the echo wraps to a new line, and clearing that
    // line leaves the frame above it on screen for good.
    use crate::test::{TERMINAL_COLUMNS, TERMINAL_ROWS};
    use std::io::{Read, Write};
    // A confirmation first: the spinners are drawn again after each prompt.
    let body = "steps:\n  - id: first\n    confirm: Go on?\n    run: echo one\n  - id: long\n    run: echo started; sleep 30\nfinally:\n  - id: cleanup\n    run: echo cleaned\n";
    let test = Test::new()
        .runbook("t", &runbook(body))
        .env("TERM", "xterm-256color")
        .args(["run", "t"]);
    let (mut child, mut master) = test.spawn_on_terminal();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let started = std::time::Instant::now();
    while !String::from_utf8_lossy(&seen).contains("Go on?") {
        assert!(started.elapsed() < std::time::Duration::from_secs(15));
        let read = master.read(&mut buffer).expect("read the pty");
        seen.extend_from_slice(&buffer[..read]);
    }
    master.write_all(b"y\r").expect("answer");
    // A few frames of the running spinner, then Ctrl-C.
    while started.elapsed() < std::time::Duration::from_millis(1500)
        || !String::from_utf8_lossy(&seen).contains("started")
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(15));
        let read = master.read(&mut buffer).expect("read the pty");
        seen.extend_from_slice(&buffer[..read]);
    }
    master.write_all(b"\x03").expect("Ctrl-C");
    loop {
        match master.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => seen.extend_from_slice(&buffer[..read]),
        }
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let size = |value: u16| std::num::NonZero::new(value).expect("a size");
    let mut terminal = vt100::Parser::new(size(TERMINAL_ROWS), size(TERMINAL_COLUMNS), 0);
    terminal.process(&seen);
    let screen = terminal.screen().contents();
    assert!(screen.contains("long interrupted"), "{screen}");
    assert!(screen.contains("cleanup ok"), "{screen}");
    // Every spinner frame was replaced by its step's status line.
    let spinner = |line: &str| line.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c));
    let stale: Vec<&str> = screen.lines().filter(|line| spinner(line)).collect();
    assert!(stale.is_empty(), "stale frames {stale:?} in\n{screen}");
}

/// Completion typed into `shell` (zsh or fish) on a pty, after `setup` loaded it: a
/// runbook name, a param as NAME=, a step id after `--approve`, a run id.
fn completion_in(shell: &str, args: &[&str], setup: &str) {
    let (test, run_id, bin) = completion_fixture();
    let mut command = std::process::Command::new(shell);
    command
        .args(args)
        .current_dir(test.path())
        .env_clear()
        .env(
            "PATH",
            format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .env("HOME", test.path())
        .env("XDG_STATE_HOME", test.path().join("state"))
        .env("XDG_CONFIG_HOME", test.path().join("config"))
        .env("XDG_DATA_HOME", test.path().join("data"))
        .env("TERM", "xterm")
        .env("PS1", "READY> ");
    let mut session = spawn_command(command, Some(20_000)).expect("shell in a pty");
    session
        .send_line(&format!("{setup}; echo LOA''DED"))
        .expect("load");
    session.exp_string("LOADED").expect("completion loaded");
    let tab = |session: &mut PtySession, keys: &str, expected: &str, what: &str| {
        session.send(keys).expect("keys");
        session.flush().expect("flush");
        session
            .exp_string(expected)
            .unwrap_or_else(|error| panic!("{shell}: {what}: {error}"));
    };
    tab(
        &mut session,
        "runbook run t-al\t",
        "t-alpha",
        "a runbook name",
    );
    tab(&mut session, " -p tar\t", "target=", "a param as NAME=");
    tab(
        &mut session,
        "v --approve rest\t",
        "restore-one",
        "a step id",
    );
    tab(&mut session, "\u{15}", "", "clear the line");
    tab(
        &mut session,
        &format!("runbook audit show {}\t", &run_id[..4]),
        &run_id,
        "a run id",
    );
    session.send("\u{15}").expect("clear the line");
    session.send_line("exit").expect("exit");
    session.exp_eof().expect("the shell ends");
}

#[test]
fn completion_in_a_real_interactive_zsh_knows_runbooks_params_steps_and_runs() {
    completion_in(
        "zsh",
        &["-f", "-i"],
        "autoload -U compinit && compinit -u && source <(runbook completions zsh)",
    );
}

#[test]
fn completion_in_a_real_interactive_fish_knows_runbooks_params_steps_and_runs() {
    completion_in(
        "fish",
        &["--no-config", "-i"],
        "runbook completions fish | source",
    );
}
