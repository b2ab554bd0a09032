//! Host-wide locks: contention between users and between runbooks, templated lock
//! names that lock a target, liveness by pid and start time (not by the binary's name),
//! and a holder named in every "held" message.

use crate::test::Test;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn runbook(name: &str, body: &str) -> String {
    format!("name: {name}\ntitle: Test\nkind: test\n{body}")
}

fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
}

#[test]
fn templated_locks_lock_the_target_not_the_procedure() {
    let body = "params:\n  db: {}\nlock: \"pg-{{ db }}\"\nsteps:\n  - id: hold\n    run: touch holding-{{ db }}; sleep 20\n";
    let test = Test::new().runbook("t", &runbook("t", body));
    let locks = test.path().join("locks");
    let lock_dir = locks.display().to_string();
    // Each spawned run keeps its Test (its HOME and state directory) alive while it runs.
    let first_run = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_LOCK_DIR", &lock_dir)
        .args(["run", "t", "-p", "db=alpha"]);
    let first = first_run.spawn();
    wait_for(&test.path().join("holding-alpha"));
    // Another target: no contention.
    let other_run = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_LOCK_DIR", &lock_dir)
        .args(["run", "t", "-p", "db=beta"]);
    let other = other_run.spawn();
    wait_for(&test.path().join("holding-beta"));
    // The same target: refused, naming the holder.
    let same = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_LOCK_DIR", &lock_dir)
        .args(["run", "t", "-p", "db=alpha"])
        .status(4);
    assert!(
        same.stderr.contains("lock `pg-alpha` is held by run"),
        "{}",
        same.stderr
    );
    assert!(locks.join("pg-alpha.lock").exists() && locks.join("pg-beta.lock").exists());
    stop(first);
    stop(other);
}

#[test]
fn an_included_runbook_locks_its_target_when_it_starts() {
    let child = "params:\n  db: {}\nlock: \"restore-{{ db }}\"\nsteps:\n  - id: work\n    run: touch working; sleep 20\n";
    let parent = "params:\n  db: {default: alpha}\nsteps:\n  - id: first\n    run: echo first > first-ran\n  - id: restore\n    include: child\n    with: {db: \"{{ db }}\"}\n";
    let test = Test::new()
        .runbook("child", &runbook("child", child))
        .runbook("parent", &runbook("parent", parent));
    let lock_dir = test.path().join("locks").display().to_string();
    let holder_run = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_LOCK_DIR", &lock_dir)
        .args(["run", "parent"]);
    let holder = holder_run.spawn();
    wait_for(&test.path().join("working"));
    std::fs::remove_file(test.path().join("first-ran")).expect("first ran");
    let second = Test::new()
        .current_dir(test.path())
        .env("RUNBOOK_LOCK_DIR", &lock_dir)
        .args(["run", "parent"])
        .status(1);
    assert!(
        second
            .stderr
            .contains("lock `restore-alpha` is held by run"),
        "{}",
        second.stderr
    );
    stop(holder);
}

#[test]
fn a_secret_cannot_name_a_lock() {
    let body =
        "params:\n  pw: {secret: true}\nlock: \"x-{{ pw }}\"\nsteps:\n  - id: a\n    run: 'true'\n";
    let outcome = Test::new()
        .runbook("t", &runbook("t", body))
        .args(["validate", "t"])
        .status(2);
    assert!(
        outcome.stderr.contains("the lock name reads secret `pw`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn every_refused_run_names_the_holder_under_contention() {
    let body = "lock: busy\nsteps:\n  - id: a\n    run: sleep 0.3\n";
    let test = Test::new().runbook("t", &runbook("t", body));
    let lock_dir = test.path().join("locks").display().to_string();
    let runs: Vec<Test> = (0..16)
        .map(|_| {
            Test::new()
                .current_dir(test.path())
                .env("RUNBOOK_LOCK_DIR", &lock_dir)
                .args(["run", "t"])
        })
        .collect();
    let children: Vec<Child> = runs.iter().map(Test::spawn).collect();
    let mut refused = 0;
    for child in children {
        let output = child.wait_with_output().expect("ran");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(4) {
            refused += 1;
            assert!(
                stderr.contains("is held by run"),
                "holder not named:\n{stderr}"
            );
        } else {
            assert_eq!(output.status.code(), Some(0), "{stderr}");
        }
    }
    assert!(refused > 0, "no contention happened");
}

#[test]
fn a_lock_directory_anyone_could_empty_is_refused() {
    let test = Test::new().runbook(
        "t",
        &runbook("t", "lock: x\nsteps:\n  - id: a\n    run: 'true'\n"),
    );
    let unsafe_dir = test.path().join("open");
    std::fs::create_dir(&unsafe_dir).expect("dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unsafe_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let outcome = test
        .env("RUNBOOK_LOCK_DIR", &unsafe_dir.display().to_string())
        .args(["run", "t"])
        .status(2);
    assert!(
        outcome
            .stderr
            .contains("writable by everyone without the sticky bit"),
        "{}",
        outcome.stderr
    );
}

/// A live run under another binary name is still alive: `resume` must not run its
/// steps a second time beside it.
#[test]
fn liveness_does_not_depend_on_the_binary_name() {
    let body =
        "steps:\n  - id: a\n    run: touch started; sleep 20\n  - id: b\n    run: touch b-ran\n";
    let test = Test::new().runbook("t", &runbook("t", body));
    let renamed = test.path().join("rb-renamed");
    std::fs::copy(env!("CARGO_BIN_EXE_runbook"), &renamed).expect("copy the binary");
    let mut command = std::process::Command::new(&renamed);
    command
        .args(["--color", "never", "run", "t"])
        .current_dir(test.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", test.path())
        .env("XDG_STATE_HOME", test.path().join("state"))
        .env("RUNBOOK_LOCK_DIR", test.path().join("locks"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let running = spawn_fresh(&mut command);
    wait_for(&test.path().join("started"));
    let audit = test.path().join("state/runbook/audit");
    let record = crate::test::record_in(&audit);
    let run_id = record
        .file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.rsplit('-').next())
        .expect("run id")
        .to_owned();
    let resumed = Test::new()
        .current_dir(test.path())
        .env(
            "XDG_STATE_HOME",
            &test.path().join("state").display().to_string(),
        )
        .args(["resume", &run_id])
        .status(2);
    assert!(
        resumed.stderr.contains("is still going"),
        "{}",
        resumed.stderr
    );
    assert!(!test.path().join("b-ran").exists());
    stop(running);
}

/// Two users of one host contend for the same lock (the default directory is
/// host-wide, mode 1777); run as root, the second user is `nobody`.
#[test]
fn two_users_contend_for_one_lock() {
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !nix::unistd::geteuid().is_root() || !setpriv {
        eprintln!("skipped: needs root and setpriv (util-linux) to run as a second user");
        return;
    }
    let shared = tempfile::Builder::new()
        .prefix("runbook-two-users")
        .tempdir_in("/tmp")
        .expect("dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod");
    let lock_dir = shared.path().join("locks");
    let body = "lock: shared-target\nsteps:\n  - id: a\n    run: touch started; sleep 20\n";
    std::fs::create_dir_all(shared.path().join("root/runbooks")).expect("dir");
    std::fs::write(
        shared.path().join("root/runbooks/t.yaml"),
        runbook("t", body),
    )
    .expect("write");
    let binary = shared.path().join("runbook");
    std::fs::copy(env!("CARGO_BIN_EXE_runbook"), &binary).expect("copy the binary");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let holder_run = Test::new()
        .current_dir(&shared.path().join("root"))
        .env("RUNBOOK_LOCK_DIR", &lock_dir.display().to_string())
        .args(["run", "t"]);
    let holder = holder_run.spawn();
    wait_for(&shared.path().join("root/started"));
    // The second user: its own home and runbook, the same lock directory.
    let home = shared.path().join("nobody");
    std::fs::create_dir_all(home.join("runbooks")).expect("dir");
    std::fs::write(home.join("runbooks/t.yaml"), runbook("t", body)).expect("write");
    std::process::Command::new("chown")
        .args(["-R", "65534:65534", &home.display().to_string()])
        .status()
        .expect("chown");
    wait_until_executable(&binary);
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&binary)
        .args(["--color", "never", "run", "t"])
        .current_dir(&home)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("USER", "nobody")
        .env("RUNBOOK_LOCK_DIR", &lock_dir)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("lock `shared-target` is held by run") && stderr.contains("root@"),
        "{stderr}"
    );
    assert!(!home.join("started").exists());
    stop(holder);
}

/// Spawns a binary copied a moment ago: while another test thread forks, the copy's
/// write descriptor may still be open in that child for an instant, and exec fails with
/// "text file busy" (ETXTBSY); try again.
fn spawn_fresh(command: &mut std::process::Command) -> Child {
    for _ in 0..50 {
        match command.spawn() {
            Ok(child) => return child,
            Err(error) if error.raw_os_error() == Some(nix::libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("the copied binary does not start: {error}"),
        }
    }
    panic!("the copied binary stayed busy");
}

/// The same wait for a copied binary that another program (`setpriv`) will exec.
fn wait_until_executable(binary: &Path) {
    for _ in 0..50 {
        let busy = std::process::Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err_and(|error| error.raw_os_error() == Some(nix::libc::ETXTBSY));
        if !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
