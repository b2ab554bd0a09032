//! Losing the host: the primary's data directory, its local WAL archive and its local
//! backups are destroyed, and disaster-recovery brings PostgreSQL back to the end of its
//! WAL and Redis to its last copy from the off-host copies only (a real sshd on loopback
//! as the backup host), losing nothing that reached the archive.

use super::{archiving, dr, path, pitr, run_expecting, temp_dir};
use crate::servers::{Postgres, Redis, RedisOptions, Sshd, Webhook, chown};

#[test]
fn after_losing_the_host_postgres_and_redis_come_back_from_the_off_host_copies_only() {
    let mut pg = Postgres::start();
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
    let ssh = [
        "-p".to_owned(),
        "offsite_ssh=backup".to_owned(),
        "-p".to_owned(),
        format!("offsite_ssh_config={}", path(&backup.config())),
    ];
    let with_ssh = |extra: &[String]| -> Vec<String> {
        let mut args = ssh.to_vec();
        args.extend(extra.iter().cloned());
        args
    };
    let admin_url = pg.admin_url();

    // Continuous protection, as shipped: WAL archived locally and off-host, a base
    // backup and a Redis copy, each copied off-host.
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

    // Written after every backup: only the WAL has it. The segment is closed, as
    // archive_timeout would close it, and reaches the backup host.
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('after-the-last-backup@example.com')"#,
    );
    let at_loss = pg.fingerprint("chatcard");
    let segment = pg.sql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !offsite_wal.join(&segment).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{segment} never reached the backup host"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // The host is lost: the server dies, its data directory, its WAL archive and every
    // local backup are gone; Redis's dataset is gone too.
    pg.stop();
    for dir in [
        pg.data_dir(),
        archive.clone(),
        bases.clone(),
        redis_backups.clone(),
    ] {
        std::fs::remove_dir_all(&dir).expect("destroy");
    }
    dr::wipe(&redis);
    let _ = pitr::whole_second_boundary(std::time::Duration::from_millis(10));

    let webhook = Webhook::start();
    let outcome = dr::disaster_recovery(
        &redis,
        &redis_backups,
        &webhook,
        &[
            ("ADMIN_URL", &admin_url),
            ("REPLICATION_URL", &admin_url),
            ("WAL_ARCHIVE_DIR", path(&archive)),
            ("BASE_BACKUP_DIR", path(&bases)),
        ],
        &[
            "-p",
            "restore_point=latest",
            "-p",
            "method=pitr",
            "-p",
            "redis_source=rdb",
            "-p",
            &format!("data_dir={}", path(&pg.data_dir())),
            "-p",
            "offsite_ssh=backup",
            "-p",
            &format!("offsite_ssh_config={}", path(&backup.config())),
            "-p",
            &format!("offsite_wal_dir={}", path(&offsite_wal)),
            "-p",
            &format!("offsite_base_dir={}", path(&offsite_base)),
            "-p",
            &format!("offsite_redis_dir={}", path(&offsite_redis)),
            "--approve",
            "stop-and-set-aside",
        ],
    );
    for step in ["fetch-wal/fetch", "fetch-base/fetch", "fetch-redis/fetch"] {
        assert!(outcome.stderr.contains(step), "{step}\n{}", outcome.stderr);
    }
    // Everything that reached the archive is back, the last row included.
    assert_eq!(pg.fingerprint("chatcard"), at_loss);
    assert_eq!(
        pg.sql(
            "chatcard",
            r#"SELECT count(*) FROM "User" WHERE email = 'after-the-last-backup@example.com'"#
        ),
        "1"
    );
    assert_eq!(redis.digest(), redis_digest);
    // The recovered primary archives its new timeline, locally and off-host again.
    assert_eq!(pg.sql("postgres", "SHOW archive_mode"), "on");
    let history = offsite_wal.join("00000002.history");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !history.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the new timeline was not archived off-host"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
