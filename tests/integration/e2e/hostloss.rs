//! Losing the host: the primary's data directory, its local WAL archive and its local
//! backups are destroyed, and disaster-recovery brings PostgreSQL back to the end of its
//! WAL and Redis to its last copy from the off-host copies only (a real sshd on loopback
//! as the backup host), losing nothing that reached the archive. dr-drill measures the
//! same from the same copies, onto scratch servers, without touching production.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{archiving, dr, metric, path, pitr, run, run_expecting, temp_dir};
use crate::servers::{Postgres, Redis, RedisOptions, Sshd, Webhook, chown};

/// Continuous protection as shipped: WAL archived locally and off-host, a base backup
/// and a Redis copy, each also on the backup host.
struct Protected {
    pg: Postgres,
    redis: Redis,
    redis_digest: String,
    backup: Sshd,
    _offsite: tempfile::TempDir,
    offsite_wal: PathBuf,
    offsite_base: PathBuf,
    offsite_redis: PathBuf,
    archive: PathBuf,
    bases: PathBuf,
    redis_backups: PathBuf,
}

fn protect() -> Protected {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let backup = Sshd::start("backup");
    let offsite = temp_dir();
    let [offsite_wal, offsite_base, offsite_redis] =
        ["wal", "base", "redis"].map(|name| offsite.path().join(name));
    for dir in [&offsite_wal, &offsite_base, &offsite_redis] {
        std::fs::create_dir(dir).expect("off-host dir");
    }
    let archive = pg.dir().join("wal-archive");
    std::fs::create_dir(&archive).expect("archive");
    chown("postgres", &archive);
    let bases = pg.dir().join("bases");
    let redis_backups = pg.dir().join("redis-backups");
    for dir in [&bases, &redis_backups] {
        std::fs::create_dir(dir).expect("backup dir");
    }
    let with_ssh = |extra: &[String]| -> Vec<String> {
        let mut args = vec![
            "-p".to_owned(),
            "offsite_ssh=backup".to_owned(),
            "-p".to_owned(),
            format!("offsite_ssh_config={}", path(&backup.config())),
        ];
        args.extend(extra.iter().cloned());
        args
    };
    let admin_url = pg.admin_url();

    let postgres_ssh_config = archiving::postgres_ssh(&pg, &backup);
    let args = [
        "-p".to_owned(),
        "offsite_ssh=backup".to_owned(),
        "-p".to_owned(),
        format!("offsite_dir={}", path(&offsite_wal)),
        "-p".to_owned(),
        format!("offsite_ssh_config={}", path(&postgres_ssh_config)),
        "-p".to_owned(),
        format!("archive_script={}", path(&pg.dir().join("bin/archive-wal"))),
        "--yes".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_expecting(
        0,
        "configure-postgres-archiving",
        &args,
        &[
            ("ADMIN_URL", &admin_url),
            ("WAL_ARCHIVE_DIR", path(&archive)),
        ],
    );
    let args = with_ssh(&[
        "-p".to_owned(),
        format!("offsite_dir={}", path(&offsite_base)),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_expecting(
        0,
        "backup-postgres-base",
        &args,
        &[
            ("REPLICATION_URL", &admin_url),
            ("BASE_BACKUP_DIR", path(&bases)),
        ],
    );
    let redis = Redis::start(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    redis.load_sample_data();
    let redis_digest = redis.digest();
    let args = with_ssh(&[
        "-p".to_owned(),
        format!("offsite_dir={}", path(&offsite_redis)),
        "-p".to_owned(),
        format!("redis_port={}", redis.port),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_expecting(
        0,
        "backup-redis",
        &args,
        &[("REDIS_BACKUP_DIR", path(&redis_backups))],
    );
    Protected {
        pg,
        redis,
        redis_digest,
        backup,
        _offsite: offsite,
        offsite_wal,
        offsite_base,
        offsite_redis,
        archive,
        bases,
        redis_backups,
    }
}

impl Protected {
    /// Written after every backup, so only the WAL has it: the segment is closed, as
    /// archive_timeout would close it, and reaches the backup host.
    fn write_after_the_backups(&self, email: &str) {
        self.pg.sql(
            "chatcard",
            &format!(r#"INSERT INTO "User" (email) VALUES ('{email}')"#),
        );
        let segment = self
            .pg
            .sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
        wait_for(&self.offsite_wal.join(&segment));
    }
}

fn wait_for(file: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn after_losing_the_host_postgres_and_redis_come_back_from_the_off_host_copies_only() {
    let mut setup = protect();
    setup.write_after_the_backups("after-the-last-backup@example.com");
    let at_loss = setup.pg.fingerprint("chatcard");

    // The host is lost: the server dies, its data directory, its WAL archive and every
    // local backup are gone; Redis's dataset is gone too.
    setup.pg.stop();
    for dir in [
        setup.pg.data_dir(),
        setup.archive.clone(),
        setup.bases.clone(),
        setup.redis_backups.clone(),
    ] {
        std::fs::remove_dir_all(&dir).expect("destroy");
    }
    dr::wipe(&setup.redis);
    let _ = pitr::whole_second_boundary(Duration::from_millis(10));

    let admin_url = setup.pg.admin_url();
    let webhook = Webhook::start();
    let outcome = dr::disaster_recovery(
        &setup.redis,
        &setup.redis_backups,
        &webhook,
        &[
            ("ADMIN_URL", &admin_url),
            ("REPLICATION_URL", &admin_url),
            ("WAL_ARCHIVE_DIR", path(&setup.archive)),
            ("BASE_BACKUP_DIR", path(&setup.bases)),
        ],
        &[
            "-p",
            "restore_point=latest",
            "-p",
            "method=pitr",
            "-p",
            "redis_source=rdb",
            "-p",
            &format!("data_dir={}", path(&setup.pg.data_dir())),
            "-p",
            "offsite_ssh=backup",
            "-p",
            &format!("offsite_ssh_config={}", path(&setup.backup.config())),
            "-p",
            &format!("offsite_wal_dir={}", path(&setup.offsite_wal)),
            "-p",
            &format!("offsite_base_dir={}", path(&setup.offsite_base)),
            "-p",
            &format!("offsite_redis_dir={}", path(&setup.offsite_redis)),
            "--approve",
            "stop-and-set-aside",
        ],
    );
    for step in ["fetch-wal/fetch", "fetch-base/fetch", "fetch-redis/fetch"] {
        assert!(outcome.stderr.contains(step), "{step}\n{}", outcome.stderr);
    }
    // Everything that reached the archive is back, the last row included.
    assert_eq!(setup.pg.fingerprint("chatcard"), at_loss);
    assert_eq!(
        setup.pg.sql(
            "chatcard",
            r#"SELECT count(*) FROM "User" WHERE email = 'after-the-last-backup@example.com'"#
        ),
        "1"
    );
    assert_eq!(setup.redis.digest(), setup.redis_digest);
    // The recovered primary archives its new timeline, locally and off-host again.
    assert_eq!(setup.pg.sql("postgres", "SHOW archive_mode"), "on");
    wait_for(&setup.offsite_wal.join("00000002.history"));
}

fn drill(
    setup: &Protected,
    runbook: &str,
    scratch: &std::path::Path,
    extra: &[&str],
) -> crate::test::Outcome {
    let mut args = vec![
        "-p".to_owned(),
        "offsite_ssh=backup".to_owned(),
        "-p".to_owned(),
        format!("offsite_ssh_config={}", path(&setup.backup.config())),
        "-p".to_owned(),
        format!("offsite_wal_dir={}", path(&setup.offsite_wal)),
        "-p".to_owned(),
        format!("offsite_base_dir={}", path(&setup.offsite_base)),
        "-p".to_owned(),
        format!("offsite_redis_dir={}", path(&setup.offsite_redis)),
        "-p".to_owned(),
        format!("scratch_parent={}", path(scratch)),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(runbook, &args, &[])
}

#[test]
fn dr_drill_restores_from_the_off_host_copies_onto_scratch_servers_and_reports_rto_and_rpo() {
    let setup = protect();
    setup.write_after_the_backups("before-the-drill@example.com");
    let production = setup.pg.fingerprint("chatcard");
    let scratch = temp_dir();
    let reports = temp_dir();
    let metrics = reports.path().join("drill.prom");
    let outcome = drill(
        &setup,
        "dr-drill",
        scratch.path(),
        &[
            "-p",
            &format!("report_dir={}", path(reports.path())),
            "--metrics-file",
            path(&metrics),
        ],
    );
    assert_eq!(
        outcome.code, 0,
        "--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    // Recovered and verified from the copies; the row only the WAL had was replayed.
    for step in [
        "fetch-base/fetch",
        "fetch-wal/fetch",
        "fetch-redis/fetch",
        "pg-verify/fk-orphans",
    ] {
        assert!(outcome.stderr.contains(step), "{step}\n{}", outcome.stderr);
    }
    assert!(
        outcome.stderr.contains("digest as recorded"),
        "{}",
        outcome.stderr
    );
    // The measures, as metrics and as a report; all inside the targets here.
    let published = |name: &str| -> u64 {
        std::fs::read_to_string(&metrics)
            .expect("metrics")
            .lines()
            .filter(|line| {
                line.starts_with("runbook_metric{") && line.contains(&format!("name=\"{name}\""))
            })
            .find_map(|line| {
                line.rsplit_once(' ')
                    .and_then(|(_, value)| value.parse().ok())
            })
            .unwrap_or_else(|| panic!("{name} not published"))
    };
    assert!(published("rto_seconds") < 600);
    // The newest restorable point is the row written just before the drill.
    assert!(published("pg_rpo_seconds") < 60);
    assert!(published("redis_rpo_seconds") < 600);
    assert_eq!(
        metric(&metrics, "runbook_last_run_success", "dr-drill").as_deref(),
        Some("1")
    );
    let report = std::fs::read_dir(reports.path())
        .expect("reports")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|file| file.extension().is_some_and(|extension| extension == "md"))
        .expect("a markdown report");
    let report = std::fs::read_to_string(report).expect("report");
    assert!(
        report.contains("| RTO: fetch, restore and verify |"),
        "{report}"
    );
    assert_eq!(report.matches("| met |").count(), 3, "{report}");
    assert!(outcome.stdout.contains("# DR drill"), "{}", outcome.stdout);
    // Production untouched, and nothing left behind.
    assert_eq!(setup.pg.fingerprint("chatcard"), production);
    assert_eq!(setup.redis.digest(), setup.redis_digest);
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("scratch").count(),
        0
    );

    // The same drill against an RPO of one second: the report is written, says what was
    // missed, and the run fails (so the drill's alert fires).
    std::thread::sleep(Duration::from_secs(2));
    std::fs::create_dir(reports.path().join("strict")).expect("dir");
    let strict = reports.path().join("strict/dr-drill.yaml");
    let shipped = std::fs::read_to_string("runbooks/dr-drill.yaml").expect("shipped runbook");
    std::fs::write(&strict, shipped.replacen("\nrpo: 1h\n", "\nrpo: 1s\n", 1)).expect("write");
    let outcome = drill(&setup, path(&strict), scratch.path(), &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("**MISSED**"), "{}", outcome.stdout);
    assert!(
        outcome.stderr.contains("over the RPO of 1 s"),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("scratch").count(),
        0
    );

    // A snapshot that does not load (its checksum made to match) fails the drill.
    let rdb = std::fs::read_dir(&setup.offsite_redis)
        .expect("redis copies")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|file| file.extension().is_some_and(|extension| extension == "rdb"))
        .expect("an RDB copy");
    let original = std::fs::read(&rdb).expect("rdb");
    std::fs::write(&rdb, b"REDIS0011 this is not a snapshot").expect("corrupt");
    let sum = std::process::Command::new("sha256sum")
        .arg(&rdb)
        .output()
        .expect("sha256sum");
    let digest = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned();
    let name = rdb
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let sha_file = setup.offsite_redis.join(format!("{name}.sha256"));
    let original_sha = std::fs::read(&sha_file).expect("sha");
    std::fs::write(&sha_file, format!("{digest}  {name}\n")).expect("sha");
    let outcome = drill(&setup, "dr-drill", scratch.path(), &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("does not load into Redis"),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("scratch").count(),
        0
    );
    std::fs::write(&rdb, original).expect("restore");
    std::fs::write(&sha_file, original_sha).expect("restore");

    // A snapshot that does not match what its backup recorded fails the drill, and the
    // scratch servers are still removed.
    for entry in std::fs::read_dir(&setup.offsite_redis).expect("redis copies") {
        let file = entry.expect("entry").path();
        if file
            .extension()
            .is_some_and(|extension| extension == "meta")
        {
            let text = std::fs::read_to_string(&file).expect("meta");
            let tampered: String = text
                .lines()
                .map(|line| {
                    if line.starts_with("digest=") {
                        "digest=0000000000000000000000000000000000000000".to_owned()
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(&file, tampered + "\n").expect("tamper");
        }
    }
    let outcome = drill(&setup, "dr-drill", scratch.path(), &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("the backup recorded 0000000000"),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("scratch").count(),
        0
    );
}
