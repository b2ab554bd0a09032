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
            &format!("target_time={target}"),
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
    assert!(auto_conf.contains("archive_mode = 'off'"), "{auto_conf}");
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
            &format!("target_time={too_early}"),
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
