//! configure-postgres-archiving against a real PostgreSQL 15 and a real sshd as the
//! off-host target: archiving switched on (with the restart it needs), every segment in
//! the local archive and off-host, idempotent, previewed by a dry-run; a segment that
//! already exists with other content fails loudly and is never overwritten.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{path, run};
use crate::servers::{Postgres, Sshd, chown};

/// What the server's OS user needs to reach the off-host target: its own key,
/// known_hosts and ssh configuration, in a directory it owns.
pub(super) fn postgres_ssh(pg: &Postgres, target: &Sshd) -> PathBuf {
    let dir = pg.dir().join("ssh");
    std::fs::create_dir_all(&dir).expect("ssh dir");
    for name in ["client_key", "known_hosts"] {
        std::fs::copy(target.directory.path().join(name), dir.join(name)).expect("copy");
    }
    std::fs::set_permissions(
        dir.join("client_key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let config = std::fs::read_to_string(target.config())
        .expect("ssh_config")
        .replace(
            &target.directory.path().display().to_string(),
            &dir.display().to_string(),
        );
    std::fs::write(dir.join("config"), config).expect("config");
    for entry in ["", "client_key", "known_hosts", "config"] {
        chown("postgres", &dir.join(entry));
    }
    dir.join("config")
}

struct Setup {
    pg: Postgres,
    target: Sshd,
    archive: PathBuf,
    offsite: tempfile::TempDir,
    config: PathBuf,
}

fn setup() -> Setup {
    let pg = Postgres::start();
    let target = Sshd::start("backup");
    let archive = pg.dir().join("wal-archive");
    std::fs::create_dir(&archive).expect("archive dir");
    chown("postgres", &archive);
    let offsite = tempfile::tempdir().expect("off-host dir");
    let config = postgres_ssh(&pg, &target);
    Setup {
        pg,
        target,
        archive,
        offsite,
        config,
    }
}

fn configure(setup: &Setup, extra: &[&str]) -> crate::test::Outcome {
    let admin_url = setup.pg.admin_url();
    let script = setup.pg.dir().join("bin/archive-wal");
    let mut args = vec![
        "-p".to_owned(),
        "offsite_ssh=backup".to_owned(),
        "-p".to_owned(),
        format!("offsite_dir={}", path(setup.offsite.path())),
        "-p".to_owned(),
        format!("offsite_ssh_config={}", path(&setup.config)),
        "-p".to_owned(),
        format!("archive_script={}", path(&script)),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(
        "configure-postgres-archiving",
        &args,
        &[
            ("ADMIN_URL", &admin_url),
            ("WAL_ARCHIVE_DIR", path(&setup.archive)),
        ],
    )
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.len() == 24 && !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[test]
fn configure_postgres_archiving_archives_locally_and_off_host_after_the_restart_it_asks_for() {
    let setup = setup();
    assert_eq!(setup.pg.sql("postgres", "SHOW archive_mode"), "off");

    // The preview changes nothing and shows what would change.
    let preview = configure(&setup, &["--dry-run", "--probe"]);
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert!(
        preview.stdout.contains("archive_mode on"),
        "{}",
        preview.stdout
    );
    assert_eq!(setup.pg.sql("postgres", "SHOW archive_mode"), "off");

    // A server it cannot read is an error, never "nothing to change".
    let wrong = crate::test::Test::new()
        .env("ADMIN_URL", "postgresql://nobody@127.0.0.1:1/postgres")
        .env("WAL_ARCHIVE_DIR", path(&setup.archive))
        .args([
            "run",
            "configure-postgres-archiving",
            "--dry-run",
            "--probe",
            "-p",
            &format!(
                "archive_script={}",
                path(&setup.pg.dir().join("bin/archive-wal"))
            ),
        ])
        .run();
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("probe step failed: current — a real run would stop there"),
        "{}",
        wrong.stderr
    );

    // Unattended, the restart is not done without its approval.
    let declined = configure(&setup, &[]);
    assert_eq!(declined.code, 3, "{}", declined.stderr);

    let outcome = configure(&setup, &["--yes"]);
    assert_eq!(
        outcome.code, 0,
        "--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome.stderr.contains("a restart is needed for"),
        "{}",
        outcome.stderr
    );
    let pg = &setup.pg;
    assert_eq!(pg.sql("postgres", "SHOW archive_mode"), "on");
    assert_eq!(pg.sql("postgres", "SHOW wal_level"), "replica");
    assert_eq!(pg.sql("postgres", "SHOW archive_timeout"), "15min");
    assert!(
        pg.sql("postgres", "SHOW archive_command")
            .contains("archive-wal %p %f"),
    );
    let local = segments(&setup.archive);
    assert!(!local.is_empty(), "nothing archived locally");
    for segment in &local {
        assert_eq!(
            std::fs::read(setup.archive.join(segment)).expect("local"),
            std::fs::read(setup.offsite.path().join(segment)).expect("off-host copy"),
            "{segment}"
        );
    }

    // Again: nothing to change, no restart, the archive still works.
    let again = configure(&setup, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    for step in ["apply", "restart"] {
        assert!(again.skipped(step), "{step}\n{}", again.stderr);
    }
    assert!(segments(setup.offsite.path()).len() >= local.len());
    drop(setup.target);
}

#[test]
fn a_segment_that_exists_off_host_with_other_content_fails_archiving_loudly_and_is_kept() {
    let setup = setup();
    let outcome = configure(&setup, &["--yes"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let pg = &setup.pg;
    // The next segment to be archived, already there off-host with other content.
    let next = pg.sql(
        "postgres",
        "SELECT pg_walfile_name(pg_current_wal_insert_lsn())",
    );
    let planted = setup.offsite.path().join(&next);
    std::fs::write(&planted, "another cluster's segment").expect("plant");
    pg.sql("postgres", "CHECKPOINT");
    pg.sql("postgres", "SELECT pg_switch_wal()");
    let deadline = Instant::now() + Duration::from_secs(60);
    while pg.sql("postgres", "SELECT failed_count FROM pg_stat_archiver") == "0" {
        assert!(Instant::now() < deadline, "archiving did not fail");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        std::fs::read_to_string(&planted).expect("planted"),
        "another cluster's segment",
        "overwritten"
    );
    assert!(
        pg.log()
            .contains("exists with different content; not overwritten")
            || std::fs::read_dir(pg.dir())
                .expect("dir")
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().starts_with("restart-"))
                .any(|entry| std::fs::read_to_string(entry.path())
                    .unwrap_or_default()
                    .contains("exists with different content; not overwritten")),
        "the server log does not say why"
    );
    // Once the conflict is removed, the same segment is archived on the next try.
    std::fs::remove_file(&planted).expect("remove");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !planted.exists() {
        assert!(Instant::now() < deadline, "archiving did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(setup.target);
}
