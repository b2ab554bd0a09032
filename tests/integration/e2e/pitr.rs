//! Point-in-time recovery: backup-postgres-base + WAL archive → restore-postgres-pitr to a
//! time T between two inserts keeps the first and not the second.

use std::time::Duration;

use super::{path, run_expecting, temp_dir};
use crate::servers::{PgOptions, Postgres};

/// The current time, at least `margin` past a whole second: returns that next whole second
/// as T (RFC 3339, UTC) after sleeping until `margin` after it. Everything committed
/// before the call is before T; everything committed after it is more than `margin` later.
pub fn whole_second_boundary(margin: Duration) -> String {
    let now = chrono::Utc::now();
    let next = now
        .checked_add_signed(chrono::Duration::seconds(1))
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let next_time = chrono::DateTime::parse_from_rfc3339(&next).expect("parse");
    let wait = (next_time.with_timezone(&chrono::Utc) - now)
        .to_std()
        .unwrap_or_default()
        + margin;
    std::thread::sleep(wait);
    next
}

/// The current time with microseconds (RFC 3339, UTC), returned after waiting `margin`:
/// everything committed before the call is before it, everything after it is later.
pub fn now_then_wait(margin: Duration) -> String {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    std::thread::sleep(margin);
    now
}

/// Closes the current WAL segment and waits until the archiver has copied it.
pub fn archive_current_wal(pg: &Postgres) {
    let segment = pg.sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !pg.archive_dir().join(&segment).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{segment} was not archived; log:\n{}",
            pg.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Takes a base backup with the backup-postgres-base runbook into `base_dir`.
pub fn base_backup(pg: &Postgres, base_dir: &std::path::Path) {
    let replication_url = pg.admin_url();
    run_expecting(
        0,
        "backup-postgres-base",
        &[],
        &[
            ("REPLICATION_URL", &replication_url),
            ("BASE_BACKUP_DIR", path(base_dir)),
        ],
    );
}

#[test]
fn pitr_to_a_time_between_two_inserts_keeps_the_first_and_not_the_second() {
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let bases = temp_dir();
    base_backup(&pg, bases.path());
    let base = super::single(bases.path(), "base-", "Z");
    assert!(base.join("backup_manifest").exists());

    // After the backup has ended: A just after a whole second, T a fraction of a second later, then B.
    let _ = whole_second_boundary(Duration::from_millis(50));
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-A@example.com')"#,
    );
    let target = now_then_wait(Duration::from_millis(300));
    let at_target = pg.fingerprint("chatcard");
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-B@example.com');
           DELETE FROM "Anchor" WHERE id > 100;"#,
    );
    pg.sql("postgres", "CREATE DATABASE created_after_target");
    archive_current_wal(&pg);

    let admin_url = pg.admin_url();
    let outcome = run_expecting(
        0,
        "restore-postgres-pitr",
        &[
            "-p",
            &format!("target={target}"),
            "-p",
            &format!("data_dir={}", path(&pg.data_dir())),
            "-p",
            &format!("wal_archive_dir={}", path(&pg.archive_dir())),
            "-p",
            &format!("base_dir={}", path(bases.path())),
            "--approve",
            "stop-and-set-aside",
        ],
        &[("ADMIN_URL", &admin_url)],
    );
    assert!(
        outcome.stderr.contains("recovery stopping before commit"),
        "{}",
        outcome.stderr
    );

    let rows = pg.sql(
        "chatcard",
        r#"SELECT string_agg(email, ',' ORDER BY email) FROM "User" WHERE email LIKE 'row-%'"#,
    );
    assert_eq!(
        rows, "row-A@example.com",
        "PITR to {target} kept the wrong rows"
    );
    // Not only the two marker rows: the whole cluster is in its state at T.
    assert_eq!(pg.fingerprint("chatcard"), at_target);
    assert!(!pg.has_database("created_after_target"));
    assert_eq!(pg.sql("postgres", "SELECT pg_is_in_recovery()"), "f");
    // A new timeline, and the recovery settings are gone again.
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT timeline_id FROM pg_control_checkpoint()"
        ),
        "2"
    );
    let auto_conf =
        std::fs::read_to_string(pg.data_dir().join("postgresql.auto.conf")).expect("auto.conf");
    for setting in [
        "restore_command",
        "recovery_target_time",
        "recovery_target_action",
    ] {
        assert!(!auto_conf.contains(setting), "{auto_conf}");
    }
    // A production recovery keeps archiving its new timeline (the default).
    assert!(auto_conf.contains("archive_mode = 'on'"), "{auto_conf}");
    assert_eq!(pg.sql("postgres", "SHOW archive_mode"), "on");
    assert!(!pg.data_dir().join("recovery.signal").exists());
    // The old data directory was kept aside, not deleted.
    assert!(
        super::entries(pg.dir(), "data.pre-pitr-", "").len() == 1,
        "{:?}",
        std::fs::read_dir(pg.dir()).map(|d| d.count())
    );
}

#[test]
fn pitr_refuses_a_target_before_every_base_backup_ended_and_leaves_the_server_alone() {
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    // PostgreSQL itself would silently recover to the end of the backup instead.
    let too_early = now_then_wait(Duration::from_millis(1100));
    let bases = temp_dir();
    base_backup(&pg, bases.path());
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('after-the-backup@example.com')"#,
    );
    archive_current_wal(&pg);
    let before = pg.fingerprint("chatcard");

    let admin_url = pg.admin_url();
    let outcome = run_expecting(
        1,
        "restore-postgres-pitr",
        &[
            "-p",
            &format!("target={too_early}"),
            "-p",
            &format!("data_dir={}", path(&pg.data_dir())),
            "-p",
            &format!("wal_archive_dir={}", path(&pg.archive_dir())),
            "-p",
            &format!("base_dir={}", path(bases.path())),
            "--approve",
            "stop-and-set-aside",
        ],
        &[("ADMIN_URL", &admin_url)],
    );
    assert!(
        outcome
            .stderr
            .contains("no base backup finished before the target"),
        "{}",
        outcome.stderr
    );
    assert!(
        super::failed_step(&outcome, "select-base"),
        "{}",
        outcome.stderr
    );
    assert_eq!(pg.fingerprint("chatcard"), before);
    assert_eq!(
        super::entries(pg.dir(), "data.pre-pitr-", ""),
        Vec::<String>::new()
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT timeline_id FROM pg_control_checkpoint()"
        ),
        "1"
    );
}

/// restore-postgres-pitr with `target`, unattended; the exit code asserted.
fn pitr(code: i32, pg: &Postgres, bases: &std::path::Path, target: &str) -> crate::test::Outcome {
    pitr_into(code, pg, bases, target, &pg.data_dir())
}

/// restore-postgres-pitr into `data_dir` (a directory that does not exist stands for a
/// lost host: only the archive has WAL).
fn pitr_into(
    code: i32,
    pg: &Postgres,
    bases: &std::path::Path,
    target: &str,
    data_dir: &std::path::Path,
) -> crate::test::Outcome {
    let admin_url = pg.admin_url();
    run_expecting(
        code,
        "restore-postgres-pitr",
        &[
            "-p",
            &format!("target={target}"),
            "-p",
            &format!("data_dir={}", path(data_dir)),
            "-p",
            &format!("wal_archive_dir={}", path(&pg.archive_dir())),
            "-p",
            &format!("base_dir={}", path(bases)),
            "--approve",
            "stop-and-set-aside",
        ],
        &[("ADMIN_URL", &admin_url)],
    )
}

/// A server with archiving, the sample data and a base backup; then row A, committed
/// and archived after the backup.
fn archived_after_backup() -> (Postgres, tempfile::TempDir) {
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let bases = temp_dir();
    base_backup(&pg, bases.path());
    // The backup's STOP TIME has whole seconds: what follows is in a later second.
    let _ = whole_second_boundary(Duration::from_millis(50));
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-A@example.com')"#,
    );
    (pg, bases)
}

fn marker_rows(pg: &Postgres) -> String {
    pg.sql(
        "chatcard",
        r#"SELECT coalesce(string_agg(email, ',' ORDER BY email), '') FROM "User" WHERE email LIKE 'row-%'"#,
    )
}

#[test]
fn pitr_to_latest_after_the_primary_is_lost_recovers_everything_the_archive_holds() {
    let (mut pg, bases) = archived_after_backup();
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-B@example.com')"#,
    );
    archive_current_wal(&pg);
    let last_archived = pg.fingerprint("chatcard");
    // The primary is lost: the server stops and its data directory is gone.
    pg.stop();
    std::fs::remove_dir_all(pg.data_dir()).expect("remove the data directory");

    let outcome = pitr(0, &pg, bases.path(), "latest");
    assert!(
        outcome.stderr.contains("recovering to the end of the WAL"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("recovered to the end of the WAL"),
        "{}",
        outcome.stderr
    );
    assert_eq!(marker_rows(&pg), "row-A@example.com,row-B@example.com");
    assert_eq!(pg.fingerprint("chatcard"), last_archived);
    assert_eq!(pg.sql("postgres", "SELECT pg_is_in_recovery()"), "f");
    assert!(
        outcome.stderr.contains("timeline 1 -> 2, branching at"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn pitr_to_an_lsn_keeps_what_was_committed_before_it_and_not_after() {
    let (pg, bases) = archived_after_backup();
    let lsn = pg.sql("postgres", "SELECT pg_current_wal_insert_lsn()");
    let at_lsn = pg.fingerprint("chatcard");
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-B@example.com')"#,
    );
    archive_current_wal(&pg);

    let outcome = pitr(0, &pg, bases.path(), &format!("lsn:{lsn}"));
    assert!(
        outcome
            .stderr
            .contains("recovery stopping after WAL location"),
        "{}",
        outcome.stderr
    );
    assert_eq!(marker_rows(&pg), "row-A@example.com");
    assert_eq!(pg.fingerprint("chatcard"), at_lsn);
}

#[test]
fn pitr_to_a_named_restore_point_stops_there() {
    let (pg, bases) = archived_after_backup();
    pg.sql(
        "postgres",
        "SELECT pg_create_restore_point('before-migration')",
    );
    let at_point = pg.fingerprint("chatcard");
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-B@example.com')"#,
    );
    archive_current_wal(&pg);

    let outcome = pitr(0, &pg, bases.path(), "name:before-migration");
    assert!(
        outcome
            .stderr
            .contains("restore point before-migration is at"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("recovery stopped at restore point before-migration"),
        "{}",
        outcome.stderr
    );
    assert_eq!(marker_rows(&pg), "row-A@example.com");
    assert_eq!(pg.fingerprint("chatcard"), at_point);
}

#[test]
fn pitr_refuses_a_target_beyond_the_end_of_the_archive_before_touching_the_server() {
    let (pg, bases) = archived_after_backup();
    archive_current_wal(&pg);
    // The server goes on running; the archive's last commit is row A. A target after
    // it is what PostgreSQL would refuse to start with, after the data was moved aside.
    let later = now_then_wait(Duration::from_millis(50));
    // Nothing is committed after `later`, and the WAL written since is not archived.
    let before = pg.fingerprint("chatcard");
    // Hide the server's own pg_wal from the check, as on a lost host: only the archive.
    let lost = pg.dir().join("no-such-data");
    let outcome = pitr_into(1, &pg, bases.path(), &later, &lost);
    assert!(
        outcome
            .stderr
            .contains("is beyond the end of the WAL: its last commit is at"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("-p target=latest"),
        "{}",
        outcome.stderr
    );
    assert!(
        super::failed_step(&outcome, "check-coverage"),
        "{}",
        outcome.stderr
    );
    assert_eq!(pg.fingerprint("chatcard"), before);
    assert_eq!(
        super::entries(pg.dir(), "data.pre-pitr-", ""),
        Vec::<String>::new()
    );
}

#[test]
fn pitr_refuses_when_a_wal_segment_is_missing_from_the_archive() {
    let (pg, bases) = archived_after_backup();
    archive_current_wal(&pg);
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-B@example.com')"#,
    );
    archive_current_wal(&pg);
    let target = now_then_wait(Duration::from_millis(50));
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-C@example.com')"#,
    );
    archive_current_wal(&pg);
    // A hole in the archive after the base backup: the segment holding row B.
    let mut segments = super::entries(&pg.archive_dir(), "0000000100000000", "");
    segments.retain(|name| name.len() == 24);
    let hole = segments[segments.len() - 2].clone();
    std::fs::remove_file(pg.archive_dir().join(&hole)).expect("remove a segment");
    let lost = pg.dir().join("no-such-data");
    let outcome = pitr_into(1, &pg, bases.path(), &target, &lost);
    assert!(
        outcome
            .stderr
            .contains(&format!("WAL segment {hole} is missing")),
        "{}",
        outcome.stderr
    );
    assert!(
        super::failed_step(&outcome, "check-coverage"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn pitr_does_not_count_recycled_wal_segments_as_wal() {
    // After checkpoints, pg_wal holds recycled segments with future names; they hold no
    // valid WAL. An LSN in them is beyond the end of the WAL and must be refused before
    // the data directory is touched.
    let (pg, bases) = archived_after_backup();
    for _ in 0..4 {
        pg.sql("postgres", "SELECT pg_switch_wal(); CHECKPOINT;");
    }
    archive_current_wal(&pg);
    let end = pg.sql("postgres", "SELECT pg_current_wal_insert_lsn()");
    let beyond = pg.sql(
        "postgres",
        &format!("SELECT '{end}'::pg_lsn + 5 * 16 * 1024 * 1024"),
    );
    let before = pg.fingerprint("chatcard");
    let outcome = pitr(1, &pg, bases.path(), &format!("lsn:{beyond}"));
    assert!(
        outcome.stderr.contains("is beyond the end of the WAL"),
        "{}",
        outcome.stderr
    );
    assert!(
        super::failed_step(&outcome, "check-coverage"),
        "{}",
        outcome.stderr
    );
    assert_eq!(pg.fingerprint("chatcard"), before);
}
