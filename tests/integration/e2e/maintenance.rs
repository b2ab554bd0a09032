//! prune-backups (retention that never deletes the newest N) and backup-health-check.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{
    age, failed_step, path, pitr, postgres::backup, run_expecting, stamp_hours_ago, temp_dir,
};
use crate::servers::{PgOptions, Postgres, Redis, RedisOptions};

/// A UTC name stamp (`20250115T020000Z`) `days` days ago.
fn stamp_days_ago(days: i64) -> String {
    stamp_hours_ago(days * 24)
}

fn touch(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write file");
    path.to_owned()
}

/// Every file and directory below `root`, as absolute paths.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.insert(path);
        }
    }
    found
}

/// A base backup directory whose backup_label says it starts in WAL segment `segment`.
fn fake_base(dir: &Path, stamp: &str, segment: &str) -> PathBuf {
    let base = dir.join(format!("base-{stamp}"));
    std::fs::create_dir(&base).expect("mkdir base");
    touch(
        &base.join("backup_label"),
        &format!(
            "START WAL LOCATION: 0/{}000028 (file {segment})\nCHECKPOINT LOCATION: 0/60\nBACKUP METHOD: streamed\n",
            &segment[22..]
        ),
    );
    touch(&base.join("backup_manifest"), "{}");
    base
}

#[test]
fn prune_backups_keeps_the_newest_n_of_every_kind_even_when_all_are_past_retention_and_dry_run_lists_exactly_what_it_deletes()
 {
    let root = temp_dir();
    let dumps = root.path().join("dumps");
    let redis = root.path().join("redis");
    let bases = root.path().join("base");
    let wal = root.path().join("wal");
    for dir in [&dumps, &redis, &bases, &wal] {
        std::fs::create_dir(dir).expect("mkdir");
    }
    let mut expected = BTreeSet::new();
    // Ten daily dumps (with checksums and globals), all 40 to 49 days old: retention 30
    // days would delete every one of them; the newest 3 must stay.
    for day in 0..10 {
        let stamp = stamp_days_ago(40 + day);
        let files = [
            touch(&dumps.join(format!("chatcard-{stamp}.dump")), "dump"),
            touch(&dumps.join(format!("chatcard-{stamp}.dump.sha256")), "sum"),
            touch(&dumps.join(format!("globals-{stamp}.sql")), "roles"),
            touch(&dumps.join(format!("globals-{stamp}.sql.sha256")), "sum"),
        ];
        for file in files {
            age(&file, 24 * (40 + day as u64));
            if day >= 3 {
                expected.insert(file);
            }
        }
    }
    // Names without a timestamp are never touched; neither is a fresh .partial, while a
    // stale one of a failed run is.
    touch(&dumps.join("chatcard-before-migration.dump"), "keep me");
    let fresh_partial = touch(
        &dumps.join(format!("chatcard-{}.dump.partial", stamp_days_ago(0))),
        "",
    );
    let stale_partial = touch(
        &dumps.join(format!("chatcard-{}.dump.partial", stamp_days_ago(2))),
        "",
    );
    age(&stale_partial, 48);
    age(&fresh_partial, 0);
    expected.insert(stale_partial);
    // Redis: 5 snapshots 10-14 days old (7-day retention), 4 AOF copies 5-8 days old
    // (3-day retention).
    for day in 0..5 {
        let rdb = touch(
            &redis.join(format!("redis-{}.rdb", stamp_days_ago(10 + day))),
            "rdb",
        );
        let sum = touch(&rdb.with_extension("rdb.sha256"), "sum");
        if day >= 3 {
            expected.insert(rdb);
            expected.insert(sum);
        }
    }
    for day in 0..4 {
        let aof = redis.join(format!("redis-aof-{}", stamp_days_ago(5 + day)));
        std::fs::create_dir(&aof).expect("mkdir aof");
        touch(
            &aof.join("appendonly.aof.manifest"),
            "file appendonly.aof.1.base.rdb seq 1 type b\n",
        );
        if day >= 3 {
            expected.insert(aof);
        }
    }
    // Base backups 10-14 days old (7-day retention) starting in WAL segments 3, 5, 7, 9,
    // 11 (newest first: 11). Kept: the newest 3, so the oldest kept starts in segment 7,
    // and every WAL segment before 7 goes, whatever its age.
    let segment = |n: u32| format!("0000000100000000000000{n:02X}");
    for (i, day) in (0..5).enumerate() {
        let base = fake_base(
            &bases,
            &stamp_days_ago(10 + day),
            &segment(11 - 2 * i as u32),
        );
        if day >= 3 {
            expected.insert(base);
        }
    }
    for n in 1..=12 {
        let file = touch(&wal.join(segment(n)), "wal");
        if n < 7 {
            expected.insert(file);
        }
    }
    touch(
        &wal.join(format!("{}.00000028.backup", segment(7))),
        "START WAL LOCATION",
    );

    let args = [
        "-p".to_owned(),
        format!("backup_dir={}", path(&dumps)),
        "-p".to_owned(),
        format!("redis_backup_dir={}", path(&redis)),
        "-p".to_owned(),
        format!("base_dir={}", path(&bases)),
        "-p".to_owned(),
        format!("wal_archive_dir={}", path(&wal)),
        "-p".to_owned(),
        "keep_min=3".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = tree(root.path());

    // The dry run lists, and deletes nothing.
    let dry = run_expecting(
        0,
        "prune-backups",
        &[&args[..], &["--dry-run", "--probe"]].concat(),
        &[],
    );
    assert_eq!(tree(root.path()), before, "the dry run deleted something");
    let listed: BTreeSet<PathBuf> = dry
        .stdout
        .lines()
        .take_while(|line| !line.starts_with("Plan for"))
        .filter(|line| line.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    assert_eq!(listed, expected, "the dry run's list\n{}", dry.stderr);

    // The real run deletes exactly that list.
    run_expecting(0, "prune-backups", &[&args[..], &["--yes"]].concat(), &[]);
    let after = tree(root.path());
    let deleted: BTreeSet<PathBuf> = before
        .difference(&after)
        .filter(|path| {
            path.parent()
                .is_some_and(|parent| !expected.contains(parent))
        })
        .cloned()
        .collect();
    assert_eq!(deleted, expected);
    assert_eq!(
        super::entries(&dumps, "chatcard-", "Z.dump").len(),
        3,
        "the newest 3 dumps must survive"
    );
    assert!(dumps.join("chatcard-before-migration.dump").exists());

    // Pruning again deletes nothing more: keep_min holds even now.
    run_expecting(0, "prune-backups", &[&args[..], &["--yes"]].concat(), &[]);
    assert_eq!(tree(root.path()), after);
}

/// A dump with a valid checksum, `hours` old by name and by mtime.
fn aged_dump(dir: &Path, hours: i64) -> PathBuf {
    let stamp = stamp_hours_ago(hours);
    let dump = touch(
        &dir.join(format!("chatcard-{stamp}.dump")),
        "PGDMP fake dump",
    );
    let name = dump.file_name().and_then(|n| n.to_str()).expect("name");
    let out = std::process::Command::new("sha256sum")
        .arg(name)
        .current_dir(dir)
        .output()
        .expect("sha256sum");
    std::fs::write(dir.join(format!("{name}.sha256")), out.stdout).expect("write sha256");
    age(&dump, hours as u64);
    dump
}

#[test]
fn backup_health_check_fails_with_a_clear_message_when_the_newest_backups_are_stale() {
    let dumps = temp_dir();
    let redis_backups = temp_dir();
    aged_dump(dumps.path(), 60);
    let dump = aged_dump(dumps.path(), 30);
    let rdb = touch(
        &redis_backups
            .path()
            .join(format!("redis-{}.rdb", stamp_hours_ago(3))),
        "REDIS",
    );
    age(&rdb, 3);
    let outcome = run_expecting(
        1,
        "backup-health-check",
        &["-p", "min_free_pct=1"],
        &[
            ("BACKUP_DIR", path(dumps.path())),
            ("REDIS_BACKUP_DIR", path(redis_backups.path())),
        ],
    );
    let name = dump.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(
        outcome.stderr.contains(&format!(
            "FAIL dump_age: newest dump {name} is 30h old (limit 26h)"
        )),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("FAIL redis_backup_age"),
        "{}",
        outcome.stderr
    );
    assert!(failed_step(&outcome, "dump_age"), "{}", outcome.stderr);
    assert!(
        failed_step(&outcome, "redis_backup_age"),
        "{}",
        outcome.stderr
    );
    assert!(failed_step(&outcome, "summary"), "{}", outcome.stderr);
    // The other checks ran and passed.
    assert!(
        outcome
            .stdout
            .contains(&format!("ok dump_checksum: {name}")),
        "{}",
        outcome.stdout
    );
    assert!(!failed_step(&outcome, "dump_checksum"));
}

#[test]
fn backup_health_check_fails_when_the_newest_dump_is_empty() {
    let dumps = temp_dir();
    aged_dump(dumps.path(), 2);
    let stamp = stamp_hours_ago(0);
    touch(&dumps.path().join(format!("chatcard-{stamp}.dump")), "");
    let outcome = run_expecting(
        1,
        "backup-health-check",
        &["-p", "min_free_pct=1"],
        &[("BACKUP_DIR", path(dumps.path()))],
    );
    assert!(outcome.stderr.contains("is empty"), "{}", outcome.stderr);
    assert!(failed_step(&outcome, "dump_age"), "{}", outcome.stderr);
}

#[test]
fn backup_health_check_passes_on_fresh_backups_of_live_servers() {
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let redis = Redis::start(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    redis.load_sample_data();
    let dumps = temp_dir();
    let bases = temp_dir();
    let redis_backups = temp_dir();
    // Two dumps, so the size comparison runs too.
    backup(&pg, dumps.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backup(&pg, dumps.path());
    pitr::base_backup(&pg, bases.path());
    pitr::archive_current_wal(&pg);
    // The persistence the health check expects (save points, AOF, fsync).
    run_expecting(
        0,
        "configure-redis-persistence",
        &["-p", &format!("redis_port={}", redis.port), "--yes"],
        &[],
    );
    run_expecting(
        0,
        "backup-redis",
        &["-p", &format!("redis_port={}", redis.port)],
        &[("REDIS_BACKUP_DIR", path(redis_backups.path()))],
    );

    let admin_url = pg.admin_url();
    let outcome = run_expecting(
        0,
        "backup-health-check",
        &[
            "-p",
            "min_free_pct=1",
            "-p",
            "redis_host=127.0.0.1",
            "-p",
            &format!("redis_port={}", redis.port),
        ],
        &[
            ("BACKUP_DIR", path(dumps.path())),
            ("BASE_BACKUP_DIR", path(bases.path())),
            ("WAL_ARCHIVE_DIR", path(&pg.archive_dir())),
            ("REDIS_BACKUP_DIR", path(redis_backups.path())),
            ("ADMIN_URL", &admin_url),
        ],
    );
    for check in [
        "ok dump_age",
        "ok dump_checksum",
        "ok dump_size: ",
        "ok base_age",
        "ok disk_space",
        "ok wal_archiver",
        "ok redis_persistence",
        "ok redis_backup_age",
    ] {
        assert!(
            outcome.stdout.contains(check),
            "{check}\n{}\n{}",
            outcome.stdout,
            outcome.stderr
        );
    }
    assert!(
        outcome.stdout.contains("against the previous dump"),
        "{}",
        outcome.stdout
    );
    assert!(!outcome.stderr.contains("FAIL"), "{}", outcome.stderr);
}
