//! configure-redis-persistence against a real Redis: save points, AOF and fsync set live
//! and in redis.conf, idempotent, previewed by a dry-run; backup-health-check reports
//! drift from them, and its Redis freshness limit is the RPO.

use super::{failed_step, path, run, run_expecting, stamp_hours_ago, temp_dir};
use crate::servers::{Redis, RedisOptions};

fn config(redis: &Redis, name: &str) -> String {
    redis
        .cli(&["CONFIG", "GET", name])
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

fn configure(redis: &Redis, extra: &[&str]) -> crate::test::Outcome {
    let port = format!("redis_port={}", redis.port);
    let mut args = vec!["-p", port.as_str()];
    args.extend_from_slice(extra);
    run("configure-redis-persistence", &args, &[])
}

#[test]
fn configure_redis_persistence_sets_save_aof_and_fsync_live_and_in_the_config_and_is_idempotent() {
    // A server as Debian ships it for these purposes: no AOF, and here no save points.
    let redis = Redis::start(RedisOptions::default());
    redis.load_sample_data();
    let digest = redis.digest();
    assert_eq!(config(&redis, "appendonly"), "no");

    // The preview shows what would change and changes nothing.
    let preview = configure(&redis, &["--dry-run", "--probe"]);
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert!(
        preview.stdout.contains("appendonly yes") && preview.stdout.contains("save 300 1"),
        "{}",
        preview.stdout
    );
    assert_eq!(config(&redis, "appendonly"), "no");

    let outcome = configure(&redis, &["--yes"]);
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(config(&redis, "save"), "300 1");
    assert_eq!(config(&redis, "appendonly"), "yes");
    assert_eq!(config(&redis, "appendfsync"), "everysec");
    assert_eq!(redis.info("aof_enabled"), "1");
    assert_eq!(redis.info("aof_last_bgrewrite_status"), "ok");
    assert_eq!(redis.digest(), digest, "the data changed");
    let file = std::fs::read_to_string(redis.config_file()).expect("redis.conf");
    assert!(file.contains("appendonly yes"), "{file}");
    assert!(file.contains("save 300 1"), "{file}");

    // Again: nothing to change, nothing asked, nothing written.
    let again = configure(&redis, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.skipped("apply"), "{}", again.stderr);
}

#[test]
fn backup_health_check_fails_on_redis_persistence_drift_and_passes_once_configured() {
    let redis = Redis::start(RedisOptions::default());
    let dumps = temp_dir();
    let check = |redis: &Redis| {
        run(
            "backup-health-check",
            &[
                "-p",
                "min_free_pct=1",
                "-p",
                "redis_host=127.0.0.1",
                "-p",
                &format!("redis_port={}", redis.port),
            ],
            &[("BACKUP_DIR", path(dumps.path()))],
        )
    };
    let drifted = check(&redis);
    assert!(failed_step(&drifted, "redis_config"), "{}", drifted.stderr);
    assert!(
        drifted
            .stderr
            .contains("FAIL redis_config: appendonly is 'no', expected 'yes'"),
        "{}",
        drifted.stderr
    );
    let configured = configure(&redis, &["--yes"]);
    assert_eq!(configured.code, 0, "{}", configured.stderr);
    let fixed = check(&redis);
    assert!(!failed_step(&fixed, "redis_config"), "{}", fixed.stderr);
    assert!(fixed.stdout.contains("ok redis_config"), "{}", fixed.stdout);
}

#[test]
fn a_redis_copy_older_than_the_rpo_fails_the_health_check() {
    let dumps = temp_dir();
    let copies = temp_dir();
    // 90 minutes old: within the old 2 h limit, beyond the 1 h RPO.
    let copy = copies
        .path()
        .join(format!("redis-{}.rdb", stamp_hours_ago(2)));
    std::fs::write(&copy, "REDIS").expect("copy");
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .expect("open")
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 60))
        .expect("mtime");
    let outcome = run_expecting(
        1,
        "backup-health-check",
        &["-p", "min_free_pct=1"],
        &[
            ("BACKUP_DIR", path(dumps.path())),
            ("REDIS_BACKUP_DIR", path(copies.path())),
        ],
    );
    assert!(
        outcome.stderr.contains("min old (limit 60 min)"),
        "{}",
        outcome.stderr
    );
    assert!(failed_step(&outcome, "redis_backup_age"));
}
