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

fn fetch(backup: &Sshd, offsite: &Path, dest: &Path, extra: &[&str]) -> crate::test::Outcome {
    let mut args = vec![
        "-p".to_owned(),
        "offsite_ssh=backup".to_owned(),
        "-p".to_owned(),
        format!("offsite_dir={}", path(offsite)),
        "-p".to_owned(),
        format!("offsite_ssh_config={}", path(&backup.config())),
        "-p".to_owned(),
        format!("dest_dir={}", path(dest)),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run("fetch-offsite", &args, &[])
}

#[test]
fn fetch_offsite_brings_back_the_chosen_backups_verified_and_retries_start_clean() {
    let backup = Sshd::start("backup");
    let offsite = temp_dir();
    let put = |relative: &str, text: &str| {
        let file = offsite.path().join(relative);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    };
    put("base-20250101T000000Z/PG_VERSION", "15\n");
    put("base-20250101T000000Z/global/pg_control", "old");
    put("base-20250102T000000Z/PG_VERSION", "15\n");
    put("base-20250102T000000Z/global/pg_control", "new");
    put("chatcard-20250101T020000Z.dump", "dump 1");
    put("chatcard-20250101T020000Z.dump.sha256", "sum 1");
    put("globals-20250101T020000Z.sql", "roles 1");
    put("chatcard-20250102T020000Z.dump", "dump 2");
    put("chatcard-20250102T020000Z.dump.sha256", "sum 2");
    put(".chatcard-20250103T020000Z.dump.partial", "half a copy");
    put("notes; touch pwned", "a name no backup of ours has");
    // A name with a newline must not pose as a newer backup.
    put("base-x\nbase-20990101T000000Z", "not a base backup");
    // Modes from the backup host are not kept: no setuid, nothing group- or world-wide.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        offsite.path().join("chatcard-20250102T020000Z.dump"),
        std::fs::Permissions::from_mode(0o4777),
    )
    .expect("chmod");

    // The newest base backup only.
    let dest = temp_dir();
    let bases = dest.path().join("bases");
    let outcome = fetch(
        &backup,
        offsite.path(),
        &bases,
        &["-p", "pattern=base-*Z", "-p", "newest=1"],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        tree(&bases),
        tree(&offsite.path().join("base-20250102T000000Z"))
            .into_iter()
            .map(|(file, bytes)| (Path::new("base-20250102T000000Z").join(file), bytes))
            .collect::<Vec<_>>()
    );
    // The newest stamp at or before a time: the dump with its checksum and its roles,
    // never a temporary copy.
    let dumps = dest.path().join("dumps");
    let outcome = fetch(
        &backup,
        offsite.path(),
        &dumps,
        &["-p", "newest=1", "-p", "before=2025-01-01T23:00:00+01:00"],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let names: Vec<PathBuf> = tree(&dumps).into_iter().map(|(file, _)| file).collect();
    assert_eq!(
        names,
        [
            "chatcard-20250101T020000Z.dump",
            "chatcard-20250101T020000Z.dump.sha256",
            "globals-20250101T020000Z.sql"
        ]
        .map(PathBuf::from)
    );

    // From a name on (a WAL archive from a base backup's first segment).
    let later = dest.path().join("later");
    let outcome = fetch(
        &backup,
        offsite.path(),
        &later,
        &[
            "-p",
            "pattern=chatcard-*",
            "-p",
            "from=chatcard-20250102T020000Z.dump",
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let names: Vec<PathBuf> = tree(&later).into_iter().map(|(file, _)| file).collect();
    assert_eq!(
        names,
        [
            "chatcard-20250102T020000Z.dump",
            "chatcard-20250102T020000Z.dump.sha256"
        ]
        .map(PathBuf::from)
    );

    // Everything: a retry after a fetch that died half-way starts clean, what is here
    // already counts as done, and a name no backup has is skipped, not run.
    let all = dest.path().join("all");
    let partial = all.join(".fetch-offsite.partial");
    std::fs::create_dir_all(partial.join("base-20250101T000000Z/junk")).expect("partial");
    std::fs::create_dir_all(all.join("base-20250101T000000Z/global")).expect("dir");
    std::fs::copy(
        offsite
            .path()
            .join("base-20250101T000000Z/global/pg_control"),
        all.join("base-20250101T000000Z/global/pg_control"),
    )
    .expect("copy");
    std::fs::copy(
        offsite.path().join("base-20250101T000000Z/PG_VERSION"),
        all.join("base-20250101T000000Z/PG_VERSION"),
    )
    .expect("copy");
    let outcome = fetch(&backup, offsite.path(), &all, &["-p", "owner=postgres"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("fetched 6 and found 1 already here"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(r"skipping notes\;\ touch\ pwned")
            && outcome
                .stderr
                .contains(r"skipping $'base-x\nbase-20990101T000000Z'"),
        "{}",
        outcome.stderr
    );
    assert!(!partial.exists(), "the partial fetch was left behind");
    assert!(!all.join("notes; touch pwned").exists() && !Path::new("pwned").exists());
    let mut expected = tree(offsite.path());
    expected.retain(|(file, _)| {
        let name = file.to_string_lossy();
        !name.starts_with('.') && !name.starts_with("notes") && !name.contains('\n')
    });
    let mode = std::fs::metadata(all.join("chatcard-20250102T020000Z.dump"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7077, 0, "{mode:o}");
    assert_eq!(tree(&all), expected);
    // Given to the server's OS user, whose WAL and base backups these are.
    use std::os::unix::fs::MetadataExt;
    let postgres = nix::unistd::User::from_name("postgres")
        .expect("getpwnam")
        .expect("a postgres user");
    for file in [
        "chatcard-20250102T020000Z.dump",
        "base-20250102T000000Z/global/pg_control",
    ] {
        let owner = std::fs::metadata(all.join(file)).expect("stat").uid();
        assert_eq!(owner, postgres.uid.as_raw(), "{file}");
    }

    // Other content here: left alone, and the run fails saying so.
    std::fs::write(all.join("chatcard-20250102T020000Z.dump"), "mine").expect("write");
    let outcome = fetch(&backup, offsite.path(), &all, &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "these exist with different content and were left alone: chatcard-20250102T020000Z.dump"
        ),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_to_string(all.join("chatcard-20250102T020000Z.dump")).expect("read"),
        "mine"
    );
    // A WAL archive holds more names than fit on a command line.
    let wal = offsite.path().join("wal");
    std::fs::create_dir(&wal).expect("wal");
    for index in 0..6000u32 {
        std::fs::write(
            wal.join(format!("0000000100000000{index:08X}")),
            index.to_string(),
        )
        .expect("segment");
    }
    let fetched_wal = dest.path().join("wal");
    let outcome = fetch(
        &backup,
        &wal,
        &fetched_wal,
        &["-p", "from=000000010000000000000064"],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("fetched 5900 and found 0 already here"),
        "{}",
        outcome.stderr
    );
    assert_eq!(
        std::fs::read_to_string(fetched_wal.join("00000001000000000000176F")).expect("last"),
        "5999"
    );
    assert!(!fetched_wal.join("000000010000000000000063").exists());

    // Nothing there: a clear failure, not an empty success.
    let outcome = fetch(&backup, offsite.path(), &all, &["-p", "pattern=redis-*"]);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("nothing matching redis-*"),
        "{}",
        outcome.stderr
    );
}
