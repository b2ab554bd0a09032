//! Backups copied to a backup host over ssh (a real sshd on loopback): complete and
//! verified there before they get their final name, a retry after a half-finished copy
//! starts clean instead of nesting a directory, and an existing copy with other content
//! is left alone.

use std::path::{Path, PathBuf};

use super::{path, run, run_expecting, temp_dir};
use crate::servers::{Redis, RedisOptions, Sshd};

/// Every file under `root`, relative, with its bytes.
fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("read dir")
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.push((
                    path.strip_prefix(root).expect("relative").to_path_buf(),
                    bytes,
                ));
            }
        }
    }
    files.sort();
    files
}

fn copy(backup: &Sshd, offsite: &Path, paths: &str) -> crate::test::Outcome {
    run(
        "copy-offsite",
        &[
            "-p",
            &format!("paths={paths}"),
            "-p",
            "offsite_ssh=backup",
            "-p",
            &format!("offsite_dir={}", path(offsite)),
            "-p",
            &format!("offsite_ssh_config={}", path(&backup.config())),
        ],
        &[],
    )
}

#[test]
fn redis_backups_reach_the_backup_host_verified_and_retries_never_nest_or_overwrite() {
    let redis = Redis::start(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    });
    redis.load_sample_data();
    let local = temp_dir();
    let offsite = temp_dir();
    let backup = Sshd::start("backup");
    run_expecting(
        0,
        "backup-redis",
        &[
            "-p",
            &format!("redis_port={}", redis.port),
            "-p",
            "offsite_ssh=backup",
            "-p",
            &format!("offsite_dir={}", path(offsite.path())),
            "-p",
            &format!("offsite_ssh_config={}", path(&backup.config())),
        ],
        &[("REDIS_BACKUP_DIR", path(local.path()))],
    );
    // Everything backup-redis wrote is on the backup host, byte for byte, and nothing
    // half-written is left there.
    assert_eq!(tree(offsite.path()), tree(local.path()));
    let aof = std::fs::read_dir(local.path())
        .expect("local")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.is_dir())
        .expect("an AOF directory copy");
    let name = aof.file_name().expect("name").to_owned();

    // A retry after a copy that died half-way: the leftover `.NAME.partial` (with a
    // directory inside it, as a half-extracted copy would be) is removed first.
    std::fs::remove_dir_all(offsite.path().join(&name)).expect("remove the copy");
    let partial = offsite
        .path()
        .join(format!(".{}.partial", name.to_string_lossy()));
    std::fs::create_dir_all(partial.join(&name).join("junk")).expect("partial");
    std::fs::write(partial.join(&name).join("half.aof"), "half").expect("half");
    let retried = copy(&backup, offsite.path(), path(&aof));
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert_eq!(
        tree(&offsite.path().join(&name)),
        tree(&aof),
        "nested or damaged"
    );
    assert!(!partial.exists(), "the partial copy was left behind");

    // A copy already there counts as done; one with other content is left alone and
    // fails the step.
    let again = copy(&backup, offsite.path(), path(&aof));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("already there, verified"),
        "{}",
        again.stderr
    );
    let rdb = std::fs::read_dir(local.path())
        .expect("local")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "rdb"))
        .expect("an RDB copy");
    let remote_rdb = offsite.path().join(rdb.file_name().expect("name"));
    std::fs::write(&remote_rdb, "another snapshot").expect("tamper");
    let conflict = copy(&backup, offsite.path(), path(&rdb));
    assert_eq!(conflict.code, 1, "{}", conflict.stderr);
    assert!(
        conflict
            .stderr
            .contains("exists with different content; left alone"),
        "{}",
        conflict.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&remote_rdb).expect("remote"),
        "another snapshot"
    );
}

#[test]
fn the_health_check_looks_at_the_copies_on_the_backup_host_over_ssh() {
    let backup = Sshd::start("backup");
    let dumps = temp_dir();
    let offsite_dumps = temp_dir();
    let offsite_redis = temp_dir();
    let stamp = super::stamp_hours_ago(0);
    std::fs::write(
        offsite_dumps.path().join(format!("chatcard-{stamp}.dump")),
        "dump",
    )
    .expect("fresh dump");
    // A Redis copy of 90 minutes: older than the 1 h RPO.
    let rdb = offsite_redis
        .path()
        .join(format!("redis-{}.rdb", super::stamp_hours_ago(2)));
    std::fs::write(&rdb, "REDIS").expect("rdb");
    std::fs::File::options()
        .write(true)
        .open(&rdb)
        .expect("open")
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 60))
        .expect("mtime");
    let outcome = run(
        "backup-health-check",
        &[
            "-p",
            "min_free_pct=1",
            "-p",
            "backup_ssh=backup",
            "-p",
            &format!("offsite_backup_dir={}", path(offsite_dumps.path())),
            "-p",
            &format!("offsite_redis_dir={}", path(offsite_redis.path())),
        ],
        &[
            ("BACKUP_DIR", path(dumps.path())),
            ("RUNBOOK_SSH_CONFIG", path(&backup.config())),
        ],
    );
    assert!(
        super::failed_step(&outcome, "offsite_age"),
        "{}\n{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(
        outcome.stdout.contains("ok offsite_age: dump chatcard-"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stderr
            .contains("FAIL offsite_age: newest Redis snapshot redis-")
            && outcome.stderr.contains("(limit 60 min)"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn prune_backups_prunes_the_copies_on_the_backup_host_by_the_same_rules() {
    let backup = Sshd::start("backup");
    let offsite = temp_dir();
    let mut names = Vec::new();
    for day in 0..6 {
        let stamp = super::stamp_hours_ago(24 * (40 + day));
        let dump = offsite.path().join(format!("chatcard-{stamp}.dump"));
        std::fs::write(&dump, "dump").expect("dump");
        super::age(&dump, 24 * (40 + day as u64));
        names.push(dump);
    }
    run_expecting(
        0,
        "prune-backups",
        &[
            "-p",
            "store_ssh=backup",
            "-p",
            &format!("backup_dir={}", path(offsite.path())),
            "-p",
            "keep_min=3",
            "--yes",
        ],
        &[("RUNBOOK_SSH_CONFIG", path(&backup.config()))],
    );
    // The newest three stay (all are past the 30-day retention), the rest are gone.
    for (index, dump) in names.iter().enumerate() {
        assert_eq!(dump.exists(), index < 3, "{}", dump.display());
    }
}

#[test]
fn a_dump_and_a_base_backup_reach_the_backup_host_verified() {
    let pg = crate::servers::Postgres::start_with(crate::servers::PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let backup = Sshd::start("backup");
    let local = temp_dir();
    let offsite = temp_dir();
    let offsite_base = temp_dir();
    let database_url = pg.url("chatcard");
    let admin_url = pg.admin_url();
    let ssh = [
        "-p".to_owned(),
        "offsite_ssh=backup".to_owned(),
        "-p".to_owned(),
        format!("offsite_ssh_config={}", path(&backup.config())),
    ];
    let mut args: Vec<String> = ssh.to_vec();
    args.extend([
        "-p".to_owned(),
        format!("offsite_dir={}", path(offsite.path())),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_expecting(
        0,
        "backup-postgres",
        &args,
        &[
            ("DATABASE_URL", &database_url),
            ("ADMIN_URL", &admin_url),
            ("BACKUP_DIR", path(local.path())),
        ],
    );
    // The dump, the roles and their checksums, byte for byte.
    assert_eq!(tree(offsite.path()), tree(local.path()));
    assert!(tree(offsite.path()).len() >= 4);

    let bases = temp_dir();
    let mut args: Vec<String> = ssh.to_vec();
    args.extend([
        "-p".to_owned(),
        format!("offsite_dir={}", path(offsite_base.path())),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_expecting(
        0,
        "backup-postgres-base",
        &args,
        &[
            ("REPLICATION_URL", &admin_url),
            ("BASE_BACKUP_DIR", path(bases.path())),
        ],
    );
    assert_eq!(tree(offsite_base.path()), tree(bases.path()));
}
