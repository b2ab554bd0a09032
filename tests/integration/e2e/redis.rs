//! backup-redis → restore-redis into a fresh server, for an RDB snapshot and for a Redis 7
//! AOF directory: the restored dataset has the backup's `DEBUG DIGEST`, key count and TTLs.

use super::{entries, path, run_expecting, single, temp_dir};
use crate::servers::{Redis, RedisOptions};

struct Backup {
    digest: String,
    keys: u64,
    ttl_session: i64,
    dir: tempfile::TempDir,
}

/// Loads the sample keys into `source`, records digest and key count, and backs it up
/// with the backup-redis runbook. Afterwards the source changes, so that a restore of the
/// live data instead of the backup would be noticed.
fn back_up(source: &Redis) -> Backup {
    source.load_sample_data();
    let digest = source.digest();
    let keys = source.key_count();
    let ttl_session = source.ttl("session:0");
    assert!(ttl_session > 3000, "{ttl_session}");
    assert_eq!(source.ttl("session:1"), -1);
    let dir = temp_dir();
    let port = source.port.to_string();
    let outcome = run_expecting(
        0,
        "backup-redis",
        &["-p", &format!("redis_port={port}")],
        &[
            &[("REDIS_BACKUP_DIR", path(dir.path()))],
            &source.auth_env()[..],
        ]
        .concat(),
    );
    assert_secret_never_shown(&outcome);
    // The automatic AOF rewrite setting is back to what it was.
    assert_eq!(
        source
            .cli(&["CONFIG", "GET", "auto-aof-rewrite-percentage"])
            .lines()
            .last(),
        Some("100")
    );
    source.cli(&["SET", "written-after-the-backup", "1"]);
    source.cli(&["DEL", "user:7"]);
    assert_ne!(source.digest(), digest);
    Backup {
        digest,
        keys,
        ttl_session,
        dir,
    }
}

fn assert_restored(target: &Redis, backup: &Backup) {
    assert_eq!(
        target.digest(),
        backup.digest,
        "restored dataset differs from the backup"
    );
    assert_eq!(target.key_count(), backup.keys);
    let ttl = target.ttl("session:0");
    assert!(ttl > 0 && ttl <= backup.ttl_session, "TTL lost: {ttl}");
    assert_eq!(target.ttl("session:1"), -1, "a key without TTL got one");
    assert!(target.ttl("user:1") > 0);
    assert_eq!(target.cli(&["-n", "1", "GET", "cache:other-db"]), "1");
    assert_eq!(target.cli(&["EXISTS", "written-after-the-backup"]), "0");
}

fn restore(target: &Redis, source: &str, backup_path: &str, expected_keys: u64) {
    let outcome = restore_expecting(0, target, source, backup_path, expected_keys);
    assert_secret_never_shown(&outcome);
}

/// restore-redis of `backup_path` into `target`, unattended; the exit code asserted.
fn restore_expecting(
    code: i32,
    target: &Redis,
    source: &str,
    backup_path: &str,
    expected_keys: u64,
) -> crate::test::Outcome {
    run_expecting(
        code,
        "restore-redis",
        &[
            "-p",
            &format!("source={source}"),
            "-p",
            &format!("backup_path={backup_path}"),
            "-p",
            &format!("redis_dir={}", path(target.dir())),
            "-p",
            &format!("config_file={}", path(&target.config_file())),
            "-p",
            &format!("redis_port={}", target.port),
            "-p",
            &format!("stop_command={}", target.stop_command()),
            "-p",
            &format!("start_command={}", target.start_command()),
            "-p",
            &format!("expected_keys={expected_keys}"),
            "--approve",
            "stop-redis",
        ],
        &target.auth_env(),
    )
}

/// The password of the AOF test's servers.
const PASSWORD: &str = "s3cret-Pa55";

fn assert_secret_never_shown(outcome: &crate::test::Outcome) {
    assert!(
        !outcome.stdout.contains(PASSWORD) && !outcome.stderr.contains(PASSWORD),
        "the Redis password was printed"
    );
}

#[test]
fn redis_rdb_backup_restored_into_a_fresh_server_has_the_same_digest_keys_and_ttls() {
    let source = Redis::start(RedisOptions::default());
    let backup = back_up(&source);
    let rdb = single(backup.dir.path(), "redis-", "Z.rdb");
    assert_eq!(
        entries(backup.dir.path(), "redis-", "Z.rdb.sha256").len(),
        1
    );
    // AOF is off on the source: there is no AOF copy.
    assert_eq!(
        entries(backup.dir.path(), "redis-aof-", ""),
        Vec::<String>::new()
    );

    // The fresh server runs with AOF on, as in production: a plain copy of the RDB would
    // be ignored there. The runbook loads it with AOF off, then switches AOF back on.
    let mut target = Redis::start(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    target.cli(&["SET", "stale-key-of-the-target", "x"]);
    restore(&target, "rdb", path(&rdb), backup.keys);
    assert_restored(&target, &backup);
    assert_eq!(target.info("aof_enabled"), "1");
    let conf = std::fs::read_to_string(target.config_file()).expect("redis.conf");
    assert!(conf.lines().any(|line| line == "appendonly yes"), "{conf}");
    // The previous files are kept for a rollback.
    assert_eq!(entries(target.dir(), "pre-restore-", "").len(), 1);

    // A restart from the config file loads the new AOF: the restore is durable.
    target.stop();
    let restarted = std::process::Command::new("bash")
        .args(["-c", &target.start_command()])
        .status()
        .expect("start redis");
    assert!(restarted.success());
    target.wait_ready();
    assert_restored(&target, &backup);
}

#[test]
fn redis_aof_backup_of_a_password_protected_server_restored_into_a_fresh_server_has_the_same_digest_keys_and_ttls()
 {
    let options = RedisOptions {
        appendonly: true,
        password: Some(PASSWORD),
        ..RedisOptions::default()
    };
    let source = Redis::start(options);
    let backup = back_up(&source);
    let aof = single(backup.dir.path(), "redis-aof-", "Z");
    let files = entries(&aof, "appendonly.aof", "");
    assert!(files.iter().any(|f| f.ends_with(".manifest")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(".incr.aof")), "{files:?}");

    let target = Redis::start(options);
    target.cli(&["SET", "stale-key-of-the-target", "x"]);
    restore(&target, "aof", path(&aof), backup.keys);
    assert_restored(&target, &backup);
    assert_eq!(target.info("aof_enabled"), "1");
}

#[test]
fn a_redis_backup_records_what_it_holds_and_a_restore_that_differs_fails() {
    let source = Redis::start(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    let backup = back_up(&source);
    // Both copies were loaded into a scratch server, which recorded what they hold: the
    // keys and digest the source had at backup time.
    for copy in [
        single(backup.dir.path(), "redis-", "Z.rdb"),
        single(backup.dir.path(), "redis-aof-", "Z"),
    ] {
        let meta = std::fs::read_to_string(format!("{}.meta", path(&copy))).expect("meta");
        assert!(
            meta.starts_with(&format!("keys={}\nexpires=", backup.keys))
                && meta.ends_with(&format!("\ndigest={}\n", backup.digest)),
            "{copy:?}: {meta}"
        );
    }
    // A restore whose result differs from the record fails, naming both digests.
    let rdb = single(backup.dir.path(), "redis-", "Z.rdb");
    std::fs::write(
        format!("{}.meta", path(&rdb)),
        format!(
            "keys={}\ndigest=0123456789abcdef0123456789abcdef01234567\n",
            backup.keys
        ),
    )
    .expect("meta");
    let target = Redis::start(RedisOptions::default());
    let outcome = restore_expecting(1, &target, "rdb", path(&rdb), 0);
    assert!(
        outcome.stderr.contains(&format!(
            "DEBUG DIGEST of the restored server is {}; the backup's was 0123456789abcdef",
            backup.digest
        )),
        "{}",
        outcome.stderr
    );
}

#[test]
fn keys_whose_ttl_ran_out_since_the_backup_do_not_fail_the_restore() {
    let source = Redis::start(RedisOptions::default());
    source.load_sample_data();
    // Long enough to outlive a backup on a loaded machine (its record counts the key
    // only if it is still alive when the copy is loaded), then waited out.
    let ttl = std::time::Duration::from_secs(10);
    let set_at = std::time::Instant::now();
    source.cli(&["SET", "short-lived", "x", "EX", &ttl.as_secs().to_string()]);
    let dir = temp_dir();
    run_expecting(
        0,
        "backup-redis",
        &["-p", &format!("redis_port={}", source.port)],
        &[("REDIS_BACKUP_DIR", path(dir.path()))],
    );
    assert!(
        set_at.elapsed() < ttl,
        "the backup took longer than the key's TTL ({ttl:?}): the test proves nothing"
    );
    std::thread::sleep(
        (ttl + std::time::Duration::from_millis(1500)).saturating_sub(set_at.elapsed()),
    );
    let rdb = single(dir.path(), "redis-", "Z.rdb");
    let target = Redis::start(RedisOptions::default());
    let outcome = restore_expecting(0, &target, "rdb", path(&rdb), 0);
    assert!(
        outcome.stderr.contains("expired since it was taken"),
        "{}",
        outcome.stderr
    );
    assert_eq!(target.cli(&["EXISTS", "short-lived"]), "0");
}
