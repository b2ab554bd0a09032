//! backup-pgbackrest against a real PostgreSQL 15 and pgBackRest 2.45 (Debian): stanza,
//! a full then an incremental backup into two repositories, retention, verify.

use super::{path, run_expecting};
use crate::servers::{PgOptions, Postgres, chown};

#[test]
fn backup_pgbackrest_takes_full_and_incremental_backups_into_two_repositories_and_expires_them() {
    if std::process::Command::new("pgbackrest")
        .arg("version")
        .output()
        .is_err()
    {
        panic!("pgbackrest is not installed (scripts/test installs it)");
    }
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let repo1 = pg.dir().join("repo1");
    let repo2 = pg.dir().join("repo2");
    for repo in [&repo1, &repo2] {
        std::fs::create_dir(repo).expect("repo");
        chown("postgres", repo);
    }
    let config = pg.dir().join("pgbackrest.conf");
    // WAL goes through pgBackRest (archive_mode is on already).
    pg.sql(
        "postgres",
        &format!(
            "ALTER SYSTEM SET archive_command = 'pgbackrest --config={} --stanza=main archive-push %p'",
            config.display()
        ),
    );
    pg.sql("postgres", "SELECT pg_reload_conf()");
    let args = |kind: &str| -> Vec<String> {
        [
            format!("pg_data={}", path(&pg.data_dir())),
            format!("pg_port={}", pg.port),
            format!("pg_socket={}", path(pg.dir())),
            format!("repo_path={}", path(&repo1)),
            format!("repo2_path={}", path(&repo2)),
            format!("config={}", path(&config)),
            "retention_full=1".to_owned(),
            format!("type={kind}"),
        ]
        .into_iter()
        .flat_map(|param| ["-p".to_owned(), param])
        .collect()
    };
    let backup = |kind: &str| {
        let args = args(kind);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_expecting(0, "backup-pgbackrest", &args, &[])
    };
    let info = || {
        let output = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "pgbackrest"])
            .arg(format!("--config={}", config.display()))
            .args(["--stanza=main", "info"])
            .output()
            .expect("pgbackrest info");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = backup("full");
    assert!(
        first.stdout.trim().parse::<u64>().is_ok(),
        "{}",
        first.stdout
    );
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('after-full@example.com')"#,
    );
    backup("incr");
    // A full and an incremental in each repository, each repository whole on its own.
    let text = info();
    assert!(text.contains("status: ok"), "{text}");
    assert_eq!(text.matches("full backup:").count(), 2, "{text}");
    assert_eq!(text.matches("incr backup:").count(), 2, "{text}");
    assert_eq!(text.matches("repo2: backup set size").count(), 2, "{text}");
    // A second full with retention 1: the first full and its incremental expire, in
    // both repositories.
    backup("full");
    let text = info();
    assert_eq!(text.matches("full backup:").count(), 2, "{text}");
    assert_eq!(text.matches("incr backup:").count(), 0, "{text}");
}
