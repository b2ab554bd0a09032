//! backup-pgbackrest and restore-pgbackrest against a real PostgreSQL 15 and pgBackRest
//! 2.45 (Debian): stanza, a full then an incremental backup into two repositories,
//! retention, verify; recovery to a time (from the second repository alone), to the end
//! of the archive across a timeline switch, to an LSN, and a target beyond the archive
//! refused with the server left as it was.

use std::path::PathBuf;
use std::time::Duration;

use super::{path, pitr, run, run_expecting};
use crate::e2e::failed_step;
use crate::servers::{PgOptions, Postgres, chown};
use crate::test::Outcome;

struct Stanza {
    /// Unique per test: pgBackRest locks by stanza name in /tmp/pgbackrest, and tests
    /// run side by side.
    name: String,
    pg: Postgres,
    repo1: PathBuf,
    repo2: PathBuf,
    config: PathBuf,
}

/// A server whose WAL goes through pgBackRest (archive_mode is on already), with two
/// empty repositories.
fn stanza() -> Stanza {
    let stanza = unconfigured(PgOptions { archive: true });
    let pg = &stanza.pg;
    pg.sql(
        "postgres",
        &format!(
            "ALTER SYSTEM SET archive_command = 'pgbackrest --config={} --stanza={} archive-push %p'",
            stanza.config.display(),
            stanza.name
        ),
    );
    pg.sql("postgres", "SELECT pg_reload_conf()");
    stanza
}

/// A server with two empty repositories and no pgBackRest anywhere yet.
fn unconfigured(options: PgOptions) -> Stanza {
    if std::process::Command::new("pgbackrest")
        .arg("version")
        .output()
        .is_err()
    {
        panic!("pgbackrest is not installed (scripts/test installs it)");
    }
    let pg = Postgres::start_with(options);
    pg.load_sample_data("chatcard");
    let repo1 = pg.dir().join("repo1");
    let repo2 = pg.dir().join("repo2");
    for repo in [&repo1, &repo2] {
        std::fs::create_dir(repo).expect("repo");
        chown("postgres", repo);
    }
    let config = pg.dir().join("pgbackrest.conf");
    Stanza {
        name: format!("s{}", pg.port),
        pg,
        repo1,
        repo2,
        config,
    }
}

impl Stanza {
    fn backup(&self, kind: &str) -> Outcome {
        self.backup_expecting(0, kind)
    }

    fn backup_expecting(&self, code: i32, kind: &str) -> Outcome {
        let args: Vec<String> = [
            format!("pg_data={}", path(&self.pg.data_dir())),
            format!("pg_port={}", self.pg.port),
            format!("pg_socket={}", path(self.pg.dir())),
            format!("repo_path={}", path(&self.repo1)),
            format!("repo2_path={}", path(&self.repo2)),
            format!("config={}", path(&self.config)),
            format!("stanza={}", self.name),
            "retention_full=1".to_owned(),
            format!("type={kind}"),
        ]
        .into_iter()
        .flat_map(|param| ["-p".to_owned(), param])
        .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_expecting(code, "backup-pgbackrest", &args, &[])
    }

    fn info(&self) -> String {
        let output = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "pgbackrest"])
            .arg(format!("--config={}", self.config.display()))
            .arg(format!("--stanza={}", self.name))
            .arg("info")
            .output()
            .expect("pgbackrest info");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// restore-pgbackrest to `target`, which must exit with `code`.
    fn restore(&self, code: i32, target: &str, extra: &[&str]) -> Outcome {
        let admin_url = self.pg.admin_url();
        let mut args: Vec<String> = [
            format!("pg_data={}", path(&self.pg.data_dir())),
            format!("config={}", path(&self.config)),
            format!("stanza={}", self.name),
            format!("target={target}"),
        ]
        .into_iter()
        .flat_map(|param| ["-p".to_owned(), param])
        .collect();
        args.extend(["--approve".to_owned(), "stop".to_owned()]);
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_expecting(
            code,
            "restore-pgbackrest",
            &args,
            &[("ADMIN_URL", &admin_url)],
        )
    }

    /// Closes the current WAL segment and waits until pgBackRest has archived it.
    fn archive_current_wal(&self) {
        let segment = self
            .pg
            .sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.pg.sql(
            "postgres",
            &format!(
                "SELECT coalesce(last_archived_wal >= '{segment}', false) FROM pg_stat_archiver"
            ),
        ) != "t"
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{segment} was not archived; log:\n{}",
                self.pg.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn users(&self, email: &str) -> String {
        self.pg.sql(
            "chatcard",
            &format!(r#"SELECT count(*) FROM "User" WHERE email = '{email}'"#),
        )
    }

    fn insert(&self, email: &str) {
        self.pg.sql(
            "chatcard",
            &format!(r#"INSERT INTO "User" (email) VALUES ('{email}')"#),
        );
    }
}

#[test]
fn backup_pgbackrest_takes_full_and_incremental_backups_into_two_repositories_and_expires_them() {
    let stanza = stanza();
    let first = stanza.backup("full");
    assert!(
        first.stdout.trim().parse::<u64>().is_ok(),
        "{}",
        first.stdout
    );
    stanza.insert("after-full@example.com");
    stanza.backup("incr");
    // A full and an incremental in each repository, each repository whole on its own.
    let text = stanza.info();
    assert!(text.contains("status: ok"), "{text}");
    assert_eq!(text.matches("full backup:").count(), 2, "{text}");
    assert_eq!(text.matches("incr backup:").count(), 2, "{text}");
    assert_eq!(text.matches("repo2: backup set size").count(), 2, "{text}");
    // A second full with retention 1: the first full and its incremental expire, in
    // both repositories.
    stanza.backup("full");
    let text = stanza.info();
    assert_eq!(text.matches("full backup:").count(), 2, "{text}");
    assert_eq!(text.matches("incr backup:").count(), 0, "{text}");
}

#[test]
fn restore_pgbackrest_recovers_to_a_time_to_latest_and_to_an_lsn_and_refuses_a_target_beyond_the_archive()
 {
    let stanza = stanza();
    stanza.backup("full");
    // A before T, B after it.
    let _ = pitr::whole_second_boundary(Duration::from_millis(50));
    stanza.insert("row-A@example.com");
    let target = pitr::now_then_wait(Duration::from_millis(300));
    let at_target = stanza.pg.fingerprint("chatcard");
    stanza.insert("row-B@example.com");
    stanza.archive_current_wal();

    // To T, from the off-host repository alone.
    let outcome = stanza.restore(0, &target, &["-p", "repo=2"]);
    assert!(
        outcome.stderr.contains("from repository 2"),
        "{}",
        outcome.stderr
    );
    assert_eq!(stanza.pg.fingerprint("chatcard"), at_target);
    assert_eq!(stanza.users("row-B@example.com"), "0");
    assert!(outcome.stdout.contains("timeline 2"), "{}", outcome.stdout);

    // The restored primary archives its new timeline; C is written on it. Recovery to
    // the end of the archive follows the timeline switch and keeps C.
    stanza.insert("row-C@example.com");
    let at_latest = stanza.pg.fingerprint("chatcard");
    stanza.archive_current_wal();
    stanza.restore(0, "latest", &[]);
    assert_eq!(stanza.pg.fingerprint("chatcard"), at_latest);
    assert_eq!(stanza.users("row-C@example.com"), "1");
    assert_eq!(stanza.users("row-B@example.com"), "0");

    // To an LSN: E is before it, F after it.
    stanza.insert("row-E@example.com");
    let lsn = stanza.pg.sql("postgres", "SELECT pg_current_wal_lsn()");
    stanza.insert("row-F@example.com");
    stanza.archive_current_wal();
    stanza.restore(0, &format!("lsn:{lsn}"), &[]);
    assert_eq!(stanza.users("row-E@example.com"), "1");
    assert_eq!(stanza.users("row-F@example.com"), "0");

    // A time after everything the archive holds: refused before the server is touched.
    stanza.insert("row-D@example.com");
    let beyond = pitr::now_then_wait(Duration::from_millis(100));
    let outcome = stanza.restore(1, &beyond, &[]);
    assert!(
        outcome
            .stderr
            .contains("is beyond the end of the WAL archive"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("not run     stop"),
        "{}",
        outcome.stderr
    );
    assert_eq!(stanza.users("row-D@example.com"), "1");

    // The archive's newest segments hold no commit (a checkpoint and switches, as after
    // a backup): a target between two earlier commits is still reachable.
    stanza.insert("row-G@example.com");
    let between = pitr::now_then_wait(Duration::from_millis(300));
    stanza.insert("row-H@example.com");
    stanza.archive_current_wal();
    stanza.pg.sql("postgres", "CHECKPOINT");
    stanza.archive_current_wal();
    stanza.restore(0, &between, &[]);
    assert_eq!(stanza.users("row-G@example.com"), "1");
    assert_eq!(stanza.users("row-H@example.com"), "0");
}

#[test]
fn restore_pgbackrest_recovers_onto_a_host_whose_data_directory_is_gone() {
    let mut stanza = stanza();
    stanza.backup("full");
    stanza.insert("after-the-backup@example.com");
    let at_loss = stanza.pg.fingerprint("chatcard");
    stanza.archive_current_wal();
    // The replacement host: no data directory at all (nothing for pgBackRest's
    // archive-get to read its system id from).
    stanza.pg.stop();
    std::fs::remove_dir_all(stanza.pg.data_dir()).expect("lose the data directory");
    stanza.restore(0, "latest", &[]);
    assert_eq!(stanza.pg.fingerprint("chatcard"), at_loss);
}

#[test]
fn disaster_recovery_with_the_pgbackrest_method_recovers_from_the_off_host_repository() {
    let stanza = stanza();
    stanza.backup("full");
    let (redis, redis_backups, redis_digest) = super::dr::redis_with_backup();
    stanza.insert("after-the-backup@example.com");
    let at_loss = stanza.pg.fingerprint("chatcard");
    stanza.archive_current_wal();
    // The local repository is lost with the host; Redis's dataset is gone.
    std::fs::remove_dir_all(&stanza.repo1).expect("lose repo1");
    std::fs::create_dir(&stanza.repo1).expect("empty repo1");
    chown("postgres", &stanza.repo1);
    super::dr::wipe(&redis);

    let admin_url = stanza.pg.admin_url();
    let webhook = crate::servers::Webhook::start();
    let outcome = super::dr::disaster_recovery(
        &redis,
        redis_backups.path(),
        &webhook,
        &[("ADMIN_URL", &admin_url)],
        &[
            "-p",
            "restore_point=latest",
            "-p",
            "method=pgbackrest",
            "-p",
            "redis_source=rdb",
            "-p",
            &format!("data_dir={}", path(&stanza.pg.data_dir())),
            "-p",
            &format!("pgbackrest_config={}", path(&stanza.config)),
            "-p",
            "pgbackrest_repo=2",
            "-p",
            &format!("pgbackrest_stanza={}", stanza.name),
            "--approve",
            "stop",
        ],
    );
    assert!(
        outcome.stderr.contains("from repository 2"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("verify-pg/fk-orphans"),
        "{}",
        outcome.stderr
    );
    assert_eq!(stanza.pg.fingerprint("chatcard"), at_loss);
    assert_eq!(redis.digest(), redis_digest);
    // The new timeline's chain starts with a full backup in each repository.
    let text = stanza.info();
    assert_eq!(text.matches("full backup:").count(), 2, "{text}");
}

#[test]
fn a_first_backup_points_at_configure_postgres_archiving_which_sends_wal_through_pgbackrest() {
    let stanza = unconfigured(PgOptions::default());
    // The first run writes the configuration and stops at `check`: WAL does not go
    // through pgBackRest yet, and it says how to fix that.
    let first = stanza.backup_expecting(1, "full");
    assert!(failed_step(&first, "stanza"), "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("run configure-postgres-archiving -p archiver=pgbackrest"),
        "{}",
        first.stderr
    );
    let admin_url = stanza.pg.admin_url();
    let configure = |extra: &[&str]| {
        let mut args = vec![
            "-p".to_owned(),
            "archiver=pgbackrest".to_owned(),
            "-p".to_owned(),
            format!("pgbackrest_config={}", path(&stanza.config)),
            "-p".to_owned(),
            format!("pgbackrest_stanza={}", stanza.name),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(
            "configure-postgres-archiving",
            &args,
            &[("ADMIN_URL", &admin_url)],
        )
    };
    let outcome = configure(&["--yes"]);
    assert_eq!(
        outcome.code, 0,
        "--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome.stdout.contains("pgbackrest check passed"),
        "{}",
        outcome.stdout
    );
    assert_eq!(stanza.pg.sql("postgres", "SHOW archive_mode"), "on");
    assert_eq!(
        stanza.pg.sql("postgres", "SHOW archive_command"),
        format!(
            "pgbackrest --config={} --stanza={} archive-push %p",
            stanza.config.display(),
            stanza.name
        )
    );
    // Nothing left to change the second time; and now the backup goes through.
    let again = configure(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.skipped("apply"), "{}", again.stderr);
    stanza.backup("full");
    assert!(stanza.info().contains("status: ok"));
}
