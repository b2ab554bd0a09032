//! disaster-recovery, fully unattended (`--non-interactive`, every input a `-p`, every
//! manual and destructive step an `--approve`), for both PostgreSQL methods: PostgreSQL
//! and Redis end up with the data of the restore point.

use std::time::Duration;

use super::{entries, path, pitr, postgres::backup, run, temp_dir};
use crate::servers::{PgOptions, Postgres, Redis, RedisOptions, Webhook};
use crate::test::Outcome;

/// Production-like Redis (AOF on) with the sample keys, backed up with backup-redis.
/// Returns the server, the backup directory and the digest at backup time.
pub(super) fn redis_with_backup() -> (Redis, tempfile::TempDir, String) {
    let redis = Redis::start(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    redis.load_sample_data();
    let digest = redis.digest();
    let backups = temp_dir();
    super::run_expecting(
        0,
        "backup-redis",
        &["-p", &format!("redis_port={}", redis.port)],
        &[("REDIS_BACKUP_DIR", path(backups.path()))],
    );
    (redis, backups, digest)
}

/// The Redis disaster: the dataset is wiped and replaced by junk.
pub(super) fn wipe(redis: &Redis) {
    redis.cli(&["FLUSHALL"]);
    redis.cli(&["SET", "junk", "after the disaster"]);
}

/// Runs disaster-recovery unattended with `extra` params and approvals.
pub(super) fn disaster_recovery(
    redis: &Redis,
    redis_backups: &std::path::Path,
    webhook: &Webhook,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Outcome {
    let mut args: Vec<String> = [
        "incident_id=INC-4242".to_owned(),
        "approved_by=Alice Lead".to_owned(),
        format!("redis_backup_dir={}", path(redis_backups)),
        format!("redis_dir={}", path(redis.dir())),
        format!("redis_config_file={}", path(&redis.config_file())),
        format!("redis_port={}", redis.port),
        format!("redis_stop_command={}", redis.stop_command()),
        format!("redis_start_command={}", redis.start_command()),
    ]
    .into_iter()
    .flat_map(|param| ["-p".to_owned(), param])
    .collect();
    for step in [
        "declare",
        "triage",
        "assess",
        "provision",
        "go-no-go",
        "rebuild-replicas",
        "monitor",
        "stop-redis",
    ] {
        args.extend(["--approve".to_owned(), step.to_owned()]);
    }
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = env.to_vec();
    env.push(("ALERT_WEBHOOK", &webhook.url));
    let outcome = run("disaster-recovery", &args, &env);
    assert_eq!(
        outcome.code, 0,
        "--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    let bodies = webhook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("ended: success"), "{bodies:?}");
    outcome
}

#[test]
fn disaster_recovery_unattended_with_the_dump_method_restores_postgres_and_redis() {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let original = pg.fingerprint("chatcard");
    let dumps = temp_dir();
    backup(&pg, dumps.path());
    let (redis, redis_backups, redis_digest) = redis_with_backup();

    // The disaster, after the backups.
    pg.sql(
        "chatcard",
        r#"DROP TABLE "Anchor"; DELETE FROM "Proof" WHERE id > 10; UPDATE "User" SET email = 'x' || id;"#,
    );
    wipe(&redis);
    let restore_point = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let admin_url = pg.admin_url();
    let webhook = Webhook::start();
    let outcome = disaster_recovery(
        &redis,
        redis_backups.path(),
        &webhook,
        &[("ADMIN_URL", &admin_url)],
        &[
            "-p",
            &format!("restore_point={restore_point}"),
            "-p",
            "method=dump",
            "-p",
            "redis_source=rdb",
            "-p",
            &format!("backup_dir={}", path(dumps.path())),
            "--approve",
            "swap",
        ],
    );
    assert!(
        outcome.stderr.contains("restore-pg-dump/verify/row-counts"),
        "{}",
        outcome.stderr
    );

    assert_eq!(pg.fingerprint("chatcard"), original);
    assert_eq!(redis.digest(), redis_digest);
    assert_eq!(redis.cli(&["EXISTS", "junk"]), "0");
    assert_eq!(redis.info("aof_enabled"), "1");
}

#[test]
fn disaster_recovery_unattended_with_the_pitr_method_recovers_postgres_to_the_restore_point() {
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let bases = temp_dir();
    pitr::base_backup(&pg, bases.path());
    let (redis, redis_backups, redis_digest) = redis_with_backup();

    // A just after a whole second, the restore point a fraction of a second later: a
    // restore point cut to whole seconds would lose A.
    let _ = pitr::whole_second_boundary(Duration::from_millis(50));
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-A@example.com')"#,
    );
    let restore_point = pitr::now_then_wait(Duration::from_millis(300));
    let at_restore_point = pg.fingerprint("chatcard");
    // After the restore point: a write that must be lost, then the disaster.
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-B@example.com'); DROP TABLE "Anchor";"#,
    );
    pitr::archive_current_wal(&pg);
    wipe(&redis);

    let admin_url = pg.admin_url();
    let webhook = Webhook::start();
    let outcome = disaster_recovery(
        &redis,
        redis_backups.path(),
        &webhook,
        &[
            ("ADMIN_URL", &admin_url),
            ("REPLICATION_URL", &admin_url),
            ("WAL_ARCHIVE_DIR", path(&pg.archive_dir())),
            ("BASE_BACKUP_DIR", path(bases.path())),
        ],
        &[
            "-p",
            &format!("restore_point={restore_point}"),
            "-p",
            "method=pitr",
            "-p",
            "redis_source=aof",
            "-p",
            &format!("data_dir={}", path(&pg.data_dir())),
            "--approve",
            "stop-and-set-aside",
        ],
    );
    // The applications are started (and the outage measured) before the new base
    // backup, which is not part of the outage.
    let outage_end = outcome.stderr.find("] outage-end").expect("outage-end ran");
    let base_backup = outcome
        .stderr
        .find("] new-base-backup")
        .expect("new-base-backup ran");
    assert!(outage_end < base_backup, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("verify-pg/fk-orphans"),
        "{}",
        outcome.stderr
    );

    assert_eq!(pg.fingerprint("chatcard"), at_restore_point);
    assert_eq!(
        pg.sql(
            "chatcard",
            r#"SELECT count(*) FROM "User" WHERE email = 'row-B@example.com'"#
        ),
        "0"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT timeline_id FROM pg_control_checkpoint()"
        ),
        "2"
    );
    // The recovered server is the new primary: it archives, and has a new base backup.
    assert_eq!(pg.sql("postgres", "SHOW archive_mode"), "on");
    assert_eq!(entries(bases.path(), "base-", "Z").len(), 2);
    assert_eq!(redis.digest(), redis_digest);
    assert_eq!(redis.info("aof_enabled"), "1");
}

#[test]
fn disaster_recovery_onto_a_fresh_server_ends_with_the_application_logging_in_reading_and_writing()
{
    let dumps = temp_dir();
    let original = {
        let lost = Postgres::start();
        lost.load_app_sample_data("chatcard");
        backup(&lost, dumps.path());
        lost.fingerprint("chatcard")
        // The host is lost: its server, roles and data are gone from here on.
    };
    let (redis, redis_backups, redis_digest) = redis_with_backup();
    wipe(&redis);
    let restore_point = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let fresh = Postgres::start();
    let admin_url = fresh.admin_url();
    let webhook = Webhook::start();
    let outcome = disaster_recovery(
        &redis,
        redis_backups.path(),
        &webhook,
        &[("ADMIN_URL", &admin_url)],
        &[
            "-p",
            &format!("restore_point={restore_point}"),
            "-p",
            "method=dump",
            "-p",
            "app_role=app",
            "-p",
            "redis_source=rdb",
            "-p",
            &format!("backup_dir={}", path(dumps.path())),
            "--yes",
            "--approve",
            "swap",
        ],
    );
    assert!(
        outcome
            .stdout
            .contains("role app can log in, connect, read and write the critical tables"),
        "{}",
        outcome.stdout
    );
    // Who approved the go/no-go is part of the record.
    assert!(
        outcome
            .stderr
            .contains("approved_by = Alice Lead (from -p)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("applications down for 0h00m"),
        "{}",
        outcome.stderr
    );
    assert_eq!(fresh.fingerprint("chatcard"), original);
    assert_eq!(redis.digest(), redis_digest);
    super::postgres::assert_the_application_can_use(&fresh, "chatcard");
}

#[test]
fn disaster_recovery_across_two_ssh_hosts_runs_each_servers_steps_on_its_host() {
    // PostgreSQL behind one sshd, Redis behind another; the tool outside both.
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let bases = temp_dir();
    pitr::base_backup(&pg, bases.path());
    let (redis, redis_backups, redis_digest) = redis_with_backup();
    let pg_host = crate::servers::Sshd::start("pghost");
    let redis_host = crate::servers::Sshd::start("redishost");
    let records = temp_dir();
    let config = crate::servers::ssh_config(records.path(), &[&pg_host, &redis_host]);
    let audit = records.path().join("audit");

    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('row-A@example.com')"#,
    );
    let at_restore_point = pg.fingerprint("chatcard");
    // The disaster: Redis's dataset is wiped; PostgreSQL is recovered to the end of its
    // WAL archive (`latest`), the row written last included.
    pitr::archive_current_wal(&pg);
    wipe(&redis);

    let admin_url = pg.admin_url();
    let webhook = Webhook::start();
    disaster_recovery(
        &redis,
        redis_backups.path(),
        &webhook,
        &[
            ("ADMIN_URL", &admin_url),
            ("REPLICATION_URL", &admin_url),
            ("WAL_ARCHIVE_DIR", path(&pg.archive_dir())),
            ("BASE_BACKUP_DIR", path(bases.path())),
            ("RUNBOOK_SSH_CONFIG", path(&config)),
            ("RUNBOOK_AUDIT_DIR", path(&audit)),
        ],
        &[
            "-p",
            "restore_point=latest",
            "-p",
            "method=pitr",
            "-p",
            "redis_source=rdb",
            "-p",
            "postgres_ssh=pghost",
            "-p",
            "redis_ssh=redishost",
            "-p",
            &format!("data_dir={}", path(&pg.data_dir())),
            "--approve",
            "stop-and-set-aside",
        ],
    );
    assert_eq!(pg.fingerprint("chatcard"), at_restore_point);
    assert_eq!(redis.digest(), redis_digest);

    // Every server-side step ran on its host, seen with that host's key; the steps
    // that only compute (the restore point, the outage clock) ran here.
    let record = crate::test::record_in(&audit);
    let started: Vec<serde_json::Value> = std::fs::read_to_string(record)
        .expect("record")
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .filter(|event| event["event"] == "step_started")
        .collect();
    let on = |step: &str| -> Option<(String, String)> {
        let event = started
            .iter()
            .find(|event| event["step_id"] == step)
            .unwrap_or_else(|| panic!("{step} did not start"));
        let member = &event["host"]["members"][0];
        member["destination"].as_str().map(|destination| {
            (
                destination.to_owned(),
                member["host_key"].as_str().unwrap_or_default().to_owned(),
            )
        })
    };
    for step in [
        "preflight",
        "restore-pg-pitr/stop-and-set-aside",
        "restore-pg-pitr/lay-down-base",
        "restore-pg-pitr/start",
        "verify-pg/fk-orphans",
        "new-base-backup/basebackup",
    ] {
        let (destination, key) = on(step).unwrap_or_else(|| panic!("{step} ran here"));
        assert_eq!(destination, "pghost", "{step}");
        assert!(key.ends_with(&pg_host.fingerprint()), "{step}: {key}");
    }
    for step in [
        "preflight-redis",
        "pick-redis-backup",
        "restore-redis/stop-redis",
        "restore-redis/install-rdb",
        "restore-redis/start-redis",
    ] {
        let (destination, key) = on(step).unwrap_or_else(|| panic!("{step} ran here"));
        assert_eq!(destination, "redishost", "{step}");
        assert!(key.ends_with(&redis_host.fingerprint()), "{step}: {key}");
    }
    for step in ["check-restore-point", "outage-start", "outage-end"] {
        assert_eq!(on(step), None, "{step} ran on a host");
    }
}
