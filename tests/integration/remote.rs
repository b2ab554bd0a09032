//! Steps on other hosts, against real OpenSSH servers the tests start on free loopback
//! ports with their own keys and an ssh_config passed with `--ssh-config`: values and
//! secrets travel safely, interrupts and lost connections leave no remote process,
//! host keys are checked, groups run as told.

use crate::run::processes_with;
use crate::servers::{Sshd, ssh_config};
use crate::test::Test;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::Read;
use std::time::{Duration, Instant};

fn runbook(body: &str) -> String {
    format!("name: t\ntitle: Test\nkind: test\n{body}")
}

/// A test whose runbook reaches `servers` by their aliases.
fn test_with(servers: &[&Sshd], body: &str) -> Test {
    let test = Test::new().runbook("t", &runbook(body));
    let config = ssh_config(test.path(), servers);
    let config = config.to_str().expect("utf-8 path").to_owned();
    test.env("RUNBOOK_SSH_CONFIG", &config)
}

/// Starts the run and waits until its stdout says `started`.
fn spawn_until_started(test: &Test) -> (std::process::Child, Output) {
    let mut child = test.spawn();
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buffer = [0u8; 256];
    let started = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("started") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the step never started: {}",
            String::from_utf8_lossy(&seen)
        );
        let read = stdout.read(&mut buffer).expect("read");
        if read == 0 {
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr);
            panic!("the run ended before the step started:\n{stderr}");
        }
        seen.extend_from_slice(&buffer[..read]);
    }
    (child, Output { seen, stdout })
}

/// A running step's stdout: what was read already, and the rest.
struct Output {
    seen: Vec<u8>,
    stdout: std::process::ChildStdout,
}

impl Output {
    fn all(mut self) -> String {
        self.stdout.read_to_end(&mut self.seen).expect("stdout");
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}

fn finish(mut child: std::process::Child) -> (i32, String) {
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    (status.code().unwrap_or(-1), stderr)
}

/// Waits up to `limit` for every process with `marker` in its command line to end.
fn gone_within(marker: &str, limit: Duration) -> Vec<String> {
    let started = Instant::now();
    loop {
        let left = processes_with(marker);
        if left.is_empty() || started.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn audit_events(test: &Test) -> Vec<serde_json::Value> {
    let directory = test.path().join("state/runbook/audit");
    let record = crate::test::record_in(&directory);
    std::fs::read_to_string(record)
        .expect("record")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

#[test]
fn hostile_values_reach_a_remote_host_byte_exact_and_none_of_them_runs() {
    let sshd = Sshd::start("db");
    let pwned = tempfile::tempdir().expect("pwned dir");
    let payloads = crate::injection::payloads(pwned.path(), 0);
    let mut params = String::from("params:\n");
    let mut arguments = String::new();
    for index in 0..payloads.len() {
        params.push_str(&format!("  v{index}: {{type: string}}\n"));
        arguments.push_str(&format!(" {{{{ v{index} }}}}"));
    }
    let body = format!(
        "{params}hosts:\n  db: {{ssh: db}}\nsteps:\n  - id: args\n    host: db\n    run: printf '%s\\n'{arguments}\n  - id: env\n    host: db\n    env: {{V: \"{{{{ v0 }}}}\"}}\n    capture: echoed\n    run: printf '%s' \"$V\"\n  - id: again\n    host: db\n    run: printf '<%s>\\n' {{{{ echoed }}}}\n"
    );
    let mut test = test_with(&[&sshd], &body).args(["run", "t"]);
    for (index, payload) in payloads.iter().enumerate() {
        test = test.args(["-p", &format!("v{index}={payload}")]);
    }
    let outcome = test.status(0);
    let mut expected: String = payloads
        .iter()
        .map(|payload| format!("{payload}\n"))
        .collect();
    // The captured value (its output had no newline: one is added when shown), then
    // the capture passed on again.
    expected.push_str(&format!("{}\n<{}>\n", payloads[0], payloads[0]));
    assert_eq!(outcome.stdout, expected, "values changed on the way");
    assert_eq!(
        std::fs::read_dir(pwned.path()).expect("pwned").count(),
        0,
        "a hostile value ran"
    );
}

#[test]
fn a_secret_is_never_in_any_process_arguments_on_either_side() {
    let sshd = Sshd::start("db");
    let secret = "s3cr3t-8c1f0e6a-password";
    let body = "params:\n  pw: {type: string, secret: true, env: DB_PASSWORD}\nhosts:\n  db: {ssh: db}\nsteps:\n  - id: use\n    host: db\n    run: |\n      echo started\n      test \"$DB_PASSWORD\" = s3cr3t-8c1f0e6a-password && echo same\n      sleep 3 # 4242.77\n";
    let test = test_with(&[&sshd], body)
        .env("DB_PASSWORD", secret)
        .args(["run", "t"]);
    let (child, stdout) = spawn_until_started(&test);
    // Look at every process of the machine (both sides) while the step runs.
    let mut seen_step = false;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        assert_eq!(processes_with(secret), Vec::<String>::new());
        seen_step |= !processes_with("sleep 3").is_empty();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen_step, "the remote step was not seen running");
    let rest = stdout.all();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(rest.contains("same"), "the secret did not arrive: {rest}");
    assert!(!stderr.contains(secret));
}

#[test]
fn a_remote_timeout_terminates_the_remote_process_group() {
    let sshd = Sshd::start("db");
    let marker = "1000.6162";
    let body = format!(
        "hosts:\n  db: {{ssh: db}}\nsteps:\n  - id: slow\n    host: db\n    timeout: 1s\n    run: trap '' TERM; (sleep {marker}) & sleep {marker}\n"
    );
    let outcome = test_with(&[&sshd], &body)
        .args(["run", "t", "--kill-grace", "1s"])
        .status(1);
    assert!(
        outcome.stderr.contains("timed out after 1s"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(
        gone_within(marker, Duration::from_secs(3)),
        Vec::<String>::new()
    );
}

fn interrupted_remotely(signal: Signal, marker: &str) -> (i32, String, Test) {
    let sshd = Sshd::start("db");
    let body = format!(
        "hosts:\n  db: {{ssh: db}}\nsteps:\n  - id: long\n    host: db\n    run: echo started; (sleep {marker}) & sleep {marker}\n  - id: never\n    run: touch never\nfinally:\n  - id: cleanup\n    host: db\n    run: echo cleanup ran on the host\n"
    );
    let test = test_with(&[&sshd], &body).args(["run", "t", "--kill-grace", "2s"]);
    let (child, _stdout) = spawn_until_started(&test);
    // The remote processes are there before the signal (`started` is printed just
    // before they are forked).
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(marker).is_empty() {
        assert!(Instant::now() < deadline, "no remote process");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(child.id() as i32), signal).expect("signal");
    let (code, stderr) = finish(child);
    (code, stderr, test)
}

#[test]
fn ctrl_c_on_a_remote_step_ends_the_remote_processes_and_runs_finally_there() {
    let marker = "1000.6262";
    let (code, stderr, test) = interrupted_remotely(Signal::SIGINT, marker);
    assert_eq!(code, 130, "{stderr}");
    assert!(!test.path().join("never").exists());
    assert_eq!(
        gone_within(marker, Duration::from_secs(3)),
        Vec::<String>::new()
    );
    let events = audit_events(&test);
    assert!(
        events
            .iter()
            .any(|event| event["step_id"] == "cleanup" && event["status"] == "ok"),
        "finally did not run on the host"
    );
}

#[test]
fn sighup_and_sigterm_on_a_remote_step_leave_no_remote_process() {
    for (signal, code, marker) in [
        (Signal::SIGHUP, 129, "1000.6363"),
        (Signal::SIGTERM, 143, "1000.6464"),
    ] {
        let (exit, stderr, _test) = interrupted_remotely(signal, marker);
        assert_eq!(exit, code, "{signal}: {stderr}");
        assert_eq!(
            gone_within(marker, Duration::from_secs(3)),
            Vec::<String>::new(),
            "{signal}"
        );
    }
}

#[test]
fn a_connection_lost_mid_step_fails_it_as_lost_and_the_remote_processes_end() {
    let sshd = Sshd::start("db");
    let marker = "1000.6565";
    let body = format!(
        "hosts:\n  db: {{ssh: db}}\nsteps:\n  - id: long\n    host: db\n    run: echo started; trap '' TERM HUP PIPE; (sleep {marker}) & sleep {marker}\n  - id: after\n    host: db\n    run: echo reconnected\n"
    );
    let test = test_with(&[&sshd], &body).args(["run", "t", "--kill-grace", "1s"]);
    let (child, stdout) = spawn_until_started(&test);
    sshd.drop_connections();
    let rest = stdout.all();
    let (code, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("connection to db (db) lost"), "{stderr}");
    assert!(!rest.contains("reconnected"));
    // Even the processes that ignore SIGTERM are killed after the grace period.
    assert_eq!(
        gone_within(marker, Duration::from_secs(5)),
        Vec::<String>::new()
    );
}

#[test]
fn after_a_lost_connection_the_next_step_connects_again() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: first\n    host: db\n    run: echo started; sleep 30\n    continue_on_error: true\n  - id: second\n    host: db\n    run: echo second ran\n";
    let test = test_with(&[&sshd], body).args(["run", "t"]);
    let (child, stdout) = spawn_until_started(&test);
    sshd.drop_connections();
    let rest = stdout.all();
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(rest.contains("second ran"), "{rest}\n{stderr}");
}

#[test]
fn a_command_exiting_255_is_its_own_failure_not_a_lost_connection() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: fails\n    host: db\n    run: exit 255\n";
    let outcome = test_with(&[&sshd], body).args(["run", "t"]).status(1);
    assert!(
        outcome.stderr.contains("exit code 255"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("lost"), "{}", outcome.stderr);
}

#[test]
fn a_changed_host_key_is_refused_and_an_unknown_one_is_not_trusted() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: never\n    host: db\n    run: touch /tmp/runbook-test-should-never-exist-5511\n";
    let known_hosts = sshd.directory.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
            sshd.port
        ),
    )
    .expect("known_hosts");
    let outcome = test_with(&[&sshd], body).args(["run", "t"]).status(1);
    assert!(
        outcome
            .stderr
            .contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("the host's key is not the one known_hosts holds"),
        "{}",
        outcome.stderr
    );
    std::fs::write(&known_hosts, "").expect("empty known_hosts");
    let outcome = test_with(&[&sshd], body).args(["run", "t"]).status(1);
    assert!(
        outcome.stderr.contains("Host key verification failed"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("check its fingerprint out of band"),
        "{}",
        outcome.stderr
    );
    assert!(!std::path::Path::new("/tmp/runbook-test-should-never-exist-5511").exists());
}

#[test]
fn a_refused_key_fails_at_once_without_asking_for_a_password_even_on_a_terminal() {
    let sshd = Sshd::start("db");
    // The server would take a password; the client must never ask for one.
    let config = sshd.directory.path().join("sshd_config");
    let text = std::fs::read_to_string(&config).expect("sshd_config");
    std::fs::write(sshd.directory.path().join("authorized_keys"), "").expect("no keys");
    std::fs::write(
        &config,
        text.replace("PasswordAuthentication no", "PasswordAuthentication yes"),
    )
    .expect("sshd_config");
    sshd.reload();
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: never\n    host: db\n    run: echo ran\n";
    let test = test_with(&[&sshd], body).args(["run", "t"]);
    // On a real terminal, where ssh could prompt if it were allowed to.
    let (mut child, master) = test.spawn_on_terminal();
    let reader = std::thread::spawn(move || {
        let mut master = master;
        let mut seen = Vec::new();
        let mut buffer = [0u8; 1024];
        while let Ok(read) = master.read(&mut buffer) {
            if read == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run hangs: a prompt?"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let transcript = reader.join().expect("reader");
    assert_eq!(status.code(), Some(1), "{transcript}");
    assert!(!transcript.contains("'s password:"), "{transcript}");
    assert!(
        transcript.contains("Permission denied (publickey,password"),
        "the server did not offer a password: {transcript}"
    );
    assert!(
        transcript.contains("runbook never asks for a password"),
        "{transcript}"
    );
}

/// A group of three hosts whose members log when they start and end.
fn group_run(max_parallel: Option<u32>) -> (Vec<(f64, f64)>, String) {
    let servers: Vec<Sshd> = ["h1", "h2", "h3"]
        .iter()
        .map(|alias| Sshd::start(alias))
        .collect();
    let references: Vec<&Sshd> = servers.iter().collect();
    let limit = max_parallel
        .map(|limit| format!(", max_parallel: {limit}"))
        .unwrap_or_default();
    let body = format!(
        "hosts:\n  web: {{ssh: [h1, h2, h3]{limit}}}\nsteps:\n  - id: each\n    host: web\n    run: echo \"$(date +%s.%N) $(sleep 3; date +%s.%N)\"\n"
    );
    let outcome = test_with(&references, &body).args(["run", "t"]).status(0);
    let mut spans = Vec::new();
    for line in outcome.stdout.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert!(fields[0].starts_with("[h"), "not prefixed: {line}");
        spans.push((
            fields[1].parse::<f64>().expect("start"),
            fields[2].parse::<f64>().expect("end"),
        ));
    }
    assert_eq!(spans.len(), 3, "{}", outcome.stdout);
    (spans, outcome.stdout)
}

#[test]
fn a_group_with_max_parallel_one_runs_its_members_one_after_another() {
    let (mut spans, stdout) = group_run(Some(1));
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "members overlapped:\n{stdout}");
    }
}

#[test]
fn a_group_without_a_limit_runs_every_member_at_once() {
    let (spans, stdout) = group_run(None);
    assert!(
        crate::test::all_overlap(&spans),
        "members did not overlap:\n{stdout}"
    );
}

#[test]
fn a_group_capture_is_a_map_by_member_and_a_failing_member_fails_the_step() {
    let servers: Vec<Sshd> = ["h1", "h2", "h3"]
        .iter()
        .map(|alias| Sshd::start(alias))
        .collect();
    let references: Vec<&Sshd> = servers.iter().collect();
    let body = "hosts:\n  web: {ssh: [h1, h2, h3]}\nsteps:\n  - id: ports\n    host: web\n    capture: ports\n    run: echo \"${SSH_CONNECTION##* }\"\n    expect:\n      - expr: ports | length == 3\n  - id: show\n    run: echo {{ ports.h1 }} {{ ports.h2 }} {{ ports.h3 }}\n  - id: partly\n    host: web\n    run: test \"${SSH_CONNECTION##* }\" != {{ ports.h2 }}\n";
    let outcome = test_with(&references, body).args(["run", "t"]).status(1);
    let ports: Vec<String> = servers
        .iter()
        .map(|server| server.port.to_string())
        .collect();
    assert!(
        outcome.stdout.contains(&ports.join(" ")),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stderr.contains("failed on 1 of 3: h2: exit code 1"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_record_names_the_host_its_key_and_each_members_exit_code() {
    let first = Sshd::start("h1");
    let second = Sshd::start("h2");
    let body = "hosts:\n  web: {ssh: [h1, h2]}\nsteps:\n  - id: each\n    host: web\n    run: test \"${SSH_CONNECTION##* }\" = PORT\n    continue_on_error: true\n";
    let body = body.replace("PORT", &first.port.to_string());
    let test = test_with(&[&first, &second], &body).args(["run", "t"]);
    test.status(0);
    let events = audit_events(&test);
    let started = events
        .iter()
        .find(|event| event["event"] == "step_started")
        .expect("step_started");
    assert_eq!(started["host"]["name"], "web");
    let members = started["host"]["members"].as_array().expect("members");
    assert_eq!(members[0]["destination"], "h1");
    let key = members[0]["host_key"].as_str().expect("host key");
    assert!(key.ends_with(&first.fingerprint()), "{key}");
    assert!(
        members[1]["host_key"]
            .as_str()
            .expect("host key")
            .ends_with(&second.fingerprint())
    );
    let finished = events
        .iter()
        .find(|event| event["event"] == "step_finished")
        .expect("step_finished");
    assert_eq!(finished["members"][0]["exit_code"], 0);
    assert_eq!(finished["members"][1]["exit_code"], 1);
}

#[test]
fn workdir_env_and_the_runbook_shell_apply_on_the_host() {
    let sshd = Sshd::start("db");
    let body = "params:\n  dir: {type: string, default: /tmp}\n  greeting: {type: string, env: GREETING, default: \"a b  c\"}\nhosts:\n  db: {ssh: db}\nsteps:\n  - id: here\n    host: db\n    workdir: \"{{ dir }}\"\n    env: {EXTRA: \"x'y\"}\n    run: printf '%s|%s|%s|%s\\n' \"$PWD\" \"$GREETING\" \"$EXTRA\" \"$-\"\n  - id: missing\n    host: db\n    workdir: /nonexistent-7781\n    run: echo never\n";
    let outcome = test_with(&[&sshd], body).args(["run", "t"]).status(1);
    let line = outcome.stdout.lines().next().expect("a line");
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields[..3], ["/tmp", "a b  c", "x'y"], "{line}");
    assert!(fields[3].contains('e') && fields[3].contains('u'), "{line}");
    assert!(
        outcome
            .stderr
            .contains("the working directory /nonexistent-7781 does not exist"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_empty_destination_runs_the_step_here() {
    let body = "params:\n  db_host: {type: string, default: \"\"}\nhosts:\n  db: {ssh: \"{{ db_host }}\"}\nsteps:\n  - id: here\n    host: db\n    run: echo \"local $PPID\" > here.txt\n";
    let test = Test::new().runbook("t", &runbook(body)).args(["run", "t"]);
    test.status(0);
    assert!(test.path().join("here.txt").exists());
}

#[test]
fn guards_and_notify_hooks_run_on_their_hosts() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: guarded\n    host: db\n    require:\n      - command: test \"${SSH_CONNECTION:-}\" != \"\"\n        message: runs on the host\n      - command: test -z \"${SSH_CONNECTION:-}\"\n        host: local\n    run: echo guarded ran\nnotify:\n  - host: db\n    run: echo \"notified from ${SSH_CONNECTION##* }\"\n";
    let outcome = test_with(&[&sshd], body).args(["run", "t"]).status(0);
    assert!(outcome.stdout.contains("guarded ran"), "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains(&format!("notified from {}", sshd.port)),
        "{}",
        outcome.stdout
    );
}

#[test]
fn dry_run_shows_each_remote_steps_host_and_destination_without_connecting() {
    let body = "params:\n  db_host: {type: string, default: postgres@db1.internal}\nhosts:\n  db: {ssh: \"{{ db_host }}\", port: 2222}\n  web: {ssh: [app1, app2], max_parallel: 1}\nsteps:\n  - id: stop\n    host: db\n    run: systemctl stop postgresql\n  - id: each\n    host: web\n    run: systemctl restart app\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["run", "t", "--dry-run"])
        .status(0);
    assert!(
        outcome
            .stdout
            .contains("on: db (postgres@db1.internal port 2222)"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("on: web (app1, app2), 1 at a time"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn validate_refuses_unknown_hosts_and_values_in_a_hand_written_ssh() {
    let body = "params:\n  dir: {type: string}\nhosts:\n  db: {ssh: postgres@db1}\n  local: {ssh: x}\n  bad: {ssh: \"-oProxyCommand=touch /tmp/x\", port: 70000}\nsteps:\n  - id: typo\n    host: dbb\n    run: ls\n  - id: by-hand\n    run: ssh db1 ls {{ dir }}\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .args(["validate", "t"])
        .status(2);
    let stderr = &outcome.stderr;
    assert!(stderr.contains("unknown host `dbb`"), "{stderr}");
    assert!(stderr.contains("did you mean `db`?"), "{stderr}");
    assert!(stderr.contains("`local` is not a host name"), "{stderr}");
    assert!(
        stderr.contains("is not an ssh destination: it starts with `-`"),
        "{stderr}"
    );
    assert!(stderr.contains("`70000` is not a TCP port"), "{stderr}");
    assert!(stderr.contains("give the step `host:`"), "{stderr}");
}

#[test]
fn exported_names_cannot_change_what_the_bootstrap_runs() {
    let sshd = Sshd::start("db");
    let pwned = tempfile::tempdir().expect("pwned dir");
    let marker = pwned.path().join("pwned");
    let marker = marker.to_str().expect("utf-8 path");
    let body = "params:\n  note: {type: string}\nhosts:\n  db: {ssh: db}\nsteps:\n  - id: s\n    host: db\n    env: {s: \"{{ note }}\", c: \"{{ note }}\", d: /nonexistent, e: x, w: y, p: z, g: \"1\", K: k, x: \"1\", P: q, G: \"7\", SHELLOPTS: \"\", CDPATH: /nonexistent, POSIXLY_CORRECT: \"1\", EUID: \"1000\"}\n    run: echo \"note=$s opts=$- c=$c e=$e w=$w P=$P\"\n";
    let outcome = test_with(&[&sshd], body)
        .args([
            "run",
            "t",
            "-p",
            &format!("note=touch {marker}; echo PWNED"),
        ])
        .status(0);
    assert!(
        outcome
            .stdout
            .starts_with(&format!("note=touch {marker}; echo PWNED opts=")),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.stdout.contains("opts=ehm"), "{}", outcome.stdout);
    // Every exported name arrives with its own value, the bootstrap's names included.
    assert!(
        outcome
            .stdout
            .contains(&format!(" c=touch {marker}; echo PWNED e=x w=y P=q")),
        "{}",
        outcome.stdout
    );
    assert!(!std::path::Path::new(marker).exists(), "the value ran");
}

#[test]
fn stopping_a_step_ends_what_left_its_process_group_on_either_side() {
    let sshd = Sshd::start("db");
    for (host, marker) in [("db", "1000.6666"), ("\"\"", "1000.6767")] {
        // `setsid` and GNU `timeout` move their program out of the step's group; while
        // the step runs they still descend from its shell.
        // A step that ignores SIGTERM and starts `timeout` again after the stop: what
        // it starts during the grace period is ended too.
        let body = format!(
            "params:\n  where: {{type: string, default: {host}}}\nhosts:\n  db: {{ssh: \"{{{{ where }}}}\"}}\nsteps:\n  - id: s\n    host: db\n    timeout: 2s\n    run: |\n      setsid sleep {marker} &\n      trap '' TERM\n      while true; do timeout 1000 sleep {marker} || true; done\n"
        );
        let outcome = test_with(&[&sshd], &body)
            .args(["run", "t", "--kill-grace", "1s"])
            .status(1);
        assert!(
            outcome.stderr.contains("timed out after 2s"),
            "{}",
            outcome.stderr
        );
        assert_eq!(
            gone_within(marker, Duration::from_secs(3)),
            Vec::<String>::new(),
            "left running (host {host})"
        );
    }
}

#[test]
fn the_connection_directory_and_its_logs_are_private() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: s\n    host: db\n    run: echo started; sleep 2 # 4242.88\n";
    let test = test_with(&[&sshd], body).args(["run", "t"]);
    let (child, _stdout) = spawn_until_started(&test);
    let mut checked = 0;
    for entry in std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(Result::ok)
    {
        use std::os::unix::fs::PermissionsExt;
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("runbook-ssh-")
        {
            continue;
        }
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        assert_eq!(
            metadata.permissions().mode() & 0o777,
            0o700,
            "{:?}",
            entry.path()
        );
        for file in std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            if let Ok(metadata) = file.metadata() {
                assert_eq!(
                    metadata.permissions().mode() & 0o077,
                    0,
                    "{:?}",
                    file.path()
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "no connection directory found");
    let (code, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_destination_that_holds_a_secret_is_refused_before_ssh_sees_it() {
    let body = "params:\n  pw: {type: string, secret: true, env: DBPW}\nhosts:\n  db: {ssh: \"{{ env.DBPW }}\"}\nsteps:\n  - id: s\n    host: db\n    run: true\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .env("DBPW", "Zq9SecretHost")
        .args(["validate", "t"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("the destination reads secret `env.DBPW`"),
        "{}",
        outcome.stderr
    );
    let body = "params:\n  pw: {type: string, secret: true, env: DBPW}\n  h: {type: string}\nhosts:\n  db: {ssh: \"{{ h }}\"}\nsteps:\n  - id: s\n    host: db\n    run: true\n";
    let outcome = Test::new()
        .runbook("t", &runbook(body))
        .env("DBPW", "Zq9SecretHost")
        .args(["run", "t", "-p", "h=Zq9SecretHost"])
        .status(1);
    assert!(
        outcome.stderr.contains("it holds a secret"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.to_lowercase().contains("zq9secrethost"));
}

#[test]
fn a_probe_step_on_a_host_runs_there_during_a_dry_run_and_nothing_else_does() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: look\n    host: db\n    probe: true\n    capture: port\n    run: echo \"${SSH_CONNECTION##* }\"\n  - id: change\n    host: db\n    run: touch changed-{{ port }}\n";
    let test = test_with(&[&sshd], body).args(["run", "t", "--dry-run", "--probe"]);
    let outcome = test.status(0);
    assert!(outcome.stdout.contains("probed: ok"), "{}", outcome.stdout);
    // The probe ran on the host: the next step renders with the port it saw there.
    assert!(
        outcome
            .stdout
            .contains(&format!("$ touch changed-{}", sshd.port)),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("on: db (db)"), "{}", outcome.stdout);
    assert!(!test.path().join(format!("changed-{}", sshd.port)).exists());
}

#[test]
fn a_host_behind_a_bastion_is_reached_with_proxyjump_and_its_own_key_is_recorded() {
    let bastion = Sshd::start("bastion");
    let target = Sshd::start("inner");
    let body = "hosts:\n  db: {ssh: inner}\nsteps:\n  - id: s\n    host: db\n    run: echo \"reached ${SSH_CONNECTION##* }\"\n";
    let test = Test::new().runbook("t", &runbook(body));
    let config = ssh_config(test.path(), &[&bastion, &target]);
    // The target's block gains a ProxyJump through the bastion.
    let text = std::fs::read_to_string(&config).expect("ssh_config");
    let text = text.replace("Host inner\n", "Host inner\n  ProxyJump bastion\n");
    std::fs::write(&config, text).expect("ssh_config");
    let test = test
        .env("RUNBOOK_SSH_CONFIG", config.to_str().expect("utf-8"))
        .args(["run", "t"]);
    let outcome = test.status(0);
    assert!(
        outcome.stdout.contains(&format!("reached {}", target.port)),
        "{}",
        outcome.stdout
    );
    let events = audit_events(&test);
    let started = events
        .iter()
        .find(|event| event["event"] == "step_started")
        .expect("step_started");
    let key = started["host"]["members"][0]["host_key"]
        .as_str()
        .expect("host key");
    assert!(key.ends_with(&target.fingerprint()), "{key}");
}

#[test]
fn a_runbook_killed_with_sigkill_mid_step_leaves_no_remote_process() {
    let sshd = Sshd::start("db");
    let marker = "1000.6868";
    let body = format!(
        "hosts:\n  db: {{ssh: db}}\nsteps:\n  - id: long\n    host: db\n    run: echo started; trap '' TERM; (sleep {marker}) & sleep {marker}\n"
    );
    let test = test_with(&[&sshd], &body).args(["run", "t", "--kill-grace", "1s"]);
    let (child, _stdout) = spawn_until_started(&test);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).expect("kill -9");
    let (code, _) = finish(child);
    assert_eq!(code, -1, "killed by a signal");
    // The session's input closed with the process: the remote side terminates the
    // group, and kills what ignores SIGTERM after the grace period.
    assert_eq!(
        gone_within(marker, Duration::from_secs(5)),
        Vec::<String>::new()
    );
}

/// The pids of live processes whose command line holds every one of `words`.
fn pids_with(words: &[&str]) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            words
                .iter()
                .all(|word| cmdline.contains(word))
                .then_some(pid)
        })
        .collect()
}

#[test]
fn a_network_gone_quiet_mid_step_ends_the_remote_processes_within_the_silence_limit() {
    // A partition closes nothing: no FIN, no RST, and sshd's ClientAliveInterval is off
    // by default. Stopping the run's master connection (SIGSTOP) is one on loopback: the
    // session stays open and nothing arrives, not even the heartbeat.
    let sshd = Sshd::start("db");
    let marker = "1000.7374";
    let body = format!(
        "hosts:\n  db: {{ssh: db}}\nsteps:\n  - id: long\n    host: db\n    run: echo started; trap '' TERM HUP PIPE; (sleep {marker}) & sleep {marker}\n"
    );
    let test = test_with(&[&sshd], &body)
        .env("RUNBOOK_SSH_HEARTBEAT", "1s")
        .args(["run", "t", "--kill-grace", "1s"]);
    let (child, _stdout) = spawn_until_started(&test);
    let config = test.path().join("ssh_config");
    let config = config.to_str().expect("utf-8");
    let masters = pids_with(&["ControlMaster=yes", config]);
    assert_eq!(masters.len(), 1, "one master connection: {masters:?}");
    let master = Pid::from_raw(masters[0]);
    kill(master, Signal::SIGSTOP).expect("stop the master");
    // Four missed heartbeats of 1 s, then TERM, the 1 s grace, and KILL for what
    // ignores TERM.
    let left = gone_within(marker, Duration::from_secs(15));
    let _ = kill(master, Signal::SIGCONT);
    let _ = kill(master, Signal::SIGKILL);
    let (code, stderr) = finish(child);
    assert_eq!(
        left,
        Vec::<String>::new(),
        "remote processes outlived the silence"
    );
    assert_ne!(code, 0, "{stderr}");
}

#[test]
fn steps_on_one_host_share_one_connection_which_is_gone_after_the_run() {
    let sshd = Sshd::start("db");
    let body = "hosts:\n  db: {ssh: db}\nsteps:\n  - id: a\n    host: db\n    run: echo \"via ${SSH_CONNECTION% * *}\"\n  - id: b\n    host: db\n    run: echo \"via ${SSH_CONNECTION% * *}\"\n  - id: c\n    host: db\n    run: echo \"via ${SSH_CONNECTION% * *}\"\n";
    let test = Test::new().runbook("t", &runbook(body));
    let config = ssh_config(test.path(), &[&sshd]);
    let runtime = test.path().join("runtime");
    std::fs::create_dir(&runtime).expect("runtime dir");
    // `--ssh-config` itself, not only RUNBOOK_SSH_CONFIG.
    let test = test
        .env("XDG_RUNTIME_DIR", runtime.to_str().expect("utf-8"))
        .args(["run", "t", "--ssh-config", config.to_str().expect("utf-8")]);
    let outcome = test.status(0);
    // The client's address and port: one TCP connection carried all three sessions.
    let mut sources: Vec<&str> = outcome
        .stdout
        .lines()
        .filter_map(|line| line.split_once("via ").map(|(_, source)| source))
        .collect();
    assert_eq!(sources.len(), 3, "{}", outcome.stdout);
    sources.dedup();
    assert_eq!(sources.len(), 1, "{}", outcome.stdout);
    // Closed at the end: no master left, its private directory removed. `ssh -O exit`
    // returns once the master has answered; the master itself ends a moment later.
    let master = ["ControlMaster=yes", config.to_str().expect("utf-8")];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pids_with(&master).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pids_with(&master), Vec::<i32>::new());
    let left: Vec<_> = std::fs::read_dir(&runtime)
        .expect("runtime dir")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_group_member_is_keyed_by_its_destination_even_with_a_port() {
    let sshd = Sshd::start("db");
    let body = format!(
        "hosts:\n  pool: {{ssh: [db], port: {}}}\nsteps:\n  - id: where\n    host: pool\n    capture: where\n    run: echo \"${{SSH_CONNECTION##* }}\"\n  - id: show\n    run: echo port={{{{ where.db }}}}\n",
        sshd.port
    );
    let test = test_with(&[&sshd], &body).args(["run", "t"]);
    let outcome = test.status(0);
    assert!(
        outcome.stdout.contains(&format!("port={}", sshd.port)),
        "{}",
        outcome.stdout
    );
    let members: Vec<serde_json::Value> = audit_events(&test)
        .into_iter()
        .filter(|event| event["event"] == "step_finished" && event["step_id"] == "where")
        .flat_map(|event| event["members"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["destination"], "db", "{members:?}");
}

#[test]
fn a_heartbeat_out_of_range_is_refused_before_anything_runs() {
    for value in ["0s", "2h", "soon"] {
        let outcome = Test::new()
            .runbook("t", &runbook("steps:\n  - id: s\n    run: touch ran\n"))
            .env("RUNBOOK_SSH_HEARTBEAT", value)
            .args(["run", "t"])
            .status(2);
        assert!(
            outcome.stderr.contains("--ssh-heartbeat"),
            "{value}: {}",
            outcome.stderr
        );
    }
}
