//! nightly-restore-test passes on a good backup and fails — exit 1, the failure webhook
//! called, `runbook_last_run_success 0` in the metrics file — on a truncated, an empty and
//! a checksum-mismatched dump. Its test database never outlives the run.

use std::path::{Path, PathBuf};

use super::{failed_step, metric, path, postgres::backup, run, temp_dir};
use crate::servers::{Postgres, Webhook};
use crate::test::Outcome;

struct Setup {
    pg: Postgres,
    backups: tempfile::TempDir,
    dump: PathBuf,
    webhook: Webhook,
    metrics: tempfile::TempDir,
}

fn setup() -> Setup {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    Setup {
        pg,
        backups,
        dump,
        webhook: Webhook::start(),
        metrics: temp_dir(),
    }
}

impl Setup {
    fn metrics_file(&self) -> PathBuf {
        self.metrics.path().join("restore.prom")
    }

    /// Runs the nightly test the way cron does: unattended, with a metrics file.
    fn nightly(&self) -> Outcome {
        let admin_url = self.pg.admin_url();
        let metrics = self.metrics_file();
        let outcome = run(
            "nightly-restore-test",
            &["--metrics-file", path(&metrics)],
            &[
                ("TEST_ADMIN_URL", &admin_url),
                ("BACKUP_DIR", path(self.backups.path())),
                ("ALERT_WEBHOOK", &self.webhook.url),
            ],
        );
        // Whatever happened, the test database is gone.
        let leftovers: Vec<String> = self
            .pg
            .databases()
            .into_iter()
            .filter(|db| db.starts_with("restore_test_"))
            .collect();
        assert_eq!(leftovers, Vec::<String>::new(), "{}", outcome.stderr);
        assert_eq!(self.pg.databases(), ["chatcard", "postgres"]);
        outcome
    }

    /// Exit 1 because of `step`, with `reason` on stderr; metrics and webhook say so.
    fn assert_failed(&self, outcome: &Outcome, step: &str, reason: &str) {
        assert_eq!(
            outcome.code, 1,
            "--- stdout\n{}\n--- stderr\n{}",
            outcome.stdout, outcome.stderr
        );
        assert!(outcome.stderr.contains(reason), "{}", outcome.stderr);
        assert!(failed_step(outcome, step), "{}", outcome.stderr);
        assert_eq!(
            metric(
                &self.metrics_file(),
                "runbook_last_run_success",
                "nightly-restore-test"
            )
            .as_deref(),
            Some("0")
        );
        let bodies = self.webhook.bodies();
        assert_eq!(bodies.len(), 1, "{bodies:?}\n{}", outcome.stderr);
        assert!(
            bodies[0].contains("Nightly restore test FAILED"),
            "{bodies:?}"
        );
        assert!(!outcome.stdout.contains("restore test passed"));
    }
}

/// Rewrites the `.sha256` file of `dump` so that it matches its current content (the
/// damage then has to be found by the restore, not by the checksum).
fn reseal(dump: &Path) {
    let name = dump.file_name().and_then(|n| n.to_str()).expect("name");
    let out = std::process::Command::new("sha256sum")
        .arg(name)
        .current_dir(dump.parent().expect("parent"))
        .output()
        .expect("sha256sum");
    assert!(out.status.success());
    std::fs::write(dump.with_file_name(format!("{name}.sha256")), out.stdout)
        .expect("write sha256");
}

#[test]
fn nightly_restore_test_passes_on_a_good_backup_and_records_success() {
    let setup = setup();
    let outcome = setup.nightly();
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stdout.contains("restore test passed"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains(setup.dump.to_str().expect("UTF-8")));
    // It really restored and verified: the counts of the dump were compared.
    assert!(
        outcome
            .stdout
            .contains("public.\"Proof\"                                   3000         3000"),
        "{}",
        outcome.stdout
    );
    assert_eq!(
        metric(
            &setup.metrics_file(),
            "runbook_last_run_success",
            "nightly-restore-test"
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(setup.webhook.bodies(), Vec::<String>::new());
}

#[test]
fn nightly_restore_test_fails_and_alerts_on_a_truncated_dump() {
    let setup = setup();
    let bytes = std::fs::read(&setup.dump).expect("read dump");
    std::fs::write(&setup.dump, &bytes[..bytes.len() * 2 / 3]).expect("truncate");
    reseal(&setup.dump);
    let outcome = setup.nightly();
    setup.assert_failed(&outcome, "restore", "pg_restore");
}

#[test]
fn nightly_restore_test_fails_and_alerts_when_the_newest_dump_is_empty() {
    let setup = setup();
    // A newer dump of 0 bytes, as a failed `pg_dump > file` leaves it; the good dump of
    // the previous run must not be tested in its place.
    let stamp = chrono::Utc::now() + chrono::Duration::seconds(1);
    let empty = setup
        .backups
        .path()
        .join(format!("chatcard-{}.dump", stamp.format("%Y%m%dT%H%M%SZ")));
    std::fs::write(&empty, b"").expect("write empty dump");
    reseal(&empty);
    let outcome = setup.nightly();
    setup.assert_failed(&outcome, "find-backup", "is empty");
}

#[test]
fn nightly_restore_test_fails_and_alerts_on_a_checksum_mismatch() {
    let setup = setup();
    let mut bytes = std::fs::read(&setup.dump).expect("read dump");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&setup.dump, bytes).expect("write dump");
    let outcome = setup.nightly();
    setup.assert_failed(&outcome, "find-backup", "CHECKSUM MISMATCH");
}

#[test]
fn nightly_restore_test_refuses_to_restore_onto_the_production_server() {
    let backups = temp_dir();
    let webhook = Webhook::start();
    let outcome = run(
        "nightly-restore-test",
        &[],
        &[
            (
                "TEST_ADMIN_URL",
                "postgresql://restore_test@db-1.internal:5432/postgres",
            ),
            (
                "DATABASE_URL",
                "postgresql://app@db-1.internal:5432/chatcard",
            ),
            ("BACKUP_DIR", path(backups.path())),
            ("ALERT_WEBHOOK", &webhook.url),
        ],
    );
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("must run on a dedicated test server"),
        "{}",
        outcome.stderr
    );
    assert!(failed_step(&outcome, "preflight"), "{}", outcome.stderr);
    assert_eq!(webhook.bodies().len(), 1);
}

#[test]
fn nightly_restore_test_also_recovers_base_backup_and_wal_and_loads_the_redis_copy() {
    use crate::servers::PgOptions;
    let pg = Postgres::start_with(PgOptions { archive: true });
    pg.load_sample_data("chatcard");
    let dumps = temp_dir();
    backup(&pg, dumps.path());
    let bases = temp_dir();
    super::pitr::base_backup(&pg, bases.path());
    // Written after the base backup: only the WAL archive has it.
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('after-the-base-backup@example.com')"#,
    );
    super::pitr::archive_current_wal(&pg);
    let (_redis, redis_backups, _digest) = super::dr::redis_with_backup();
    let metrics = temp_dir();
    let metrics_file = metrics.path().join("restore.prom");
    let admin_url = pg.admin_url();
    let outcome = run(
        "nightly-restore-test",
        &["--metrics-file", path(&metrics_file)],
        &[
            ("TEST_ADMIN_URL", &admin_url),
            ("BACKUP_DIR", path(dumps.path())),
            ("BASE_BACKUP_DIR", path(bases.path())),
            ("WAL_ARCHIVE_DIR", path(&pg.archive_dir())),
            ("REDIS_BACKUP_DIR", path(redis_backups.path())),
        ],
    );
    assert_eq!(
        outcome.code, 0,
        "--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("the base backup and the WAL archive recover"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("pitr-verify/fk-orphans"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("digest as recorded"),
        "{}",
        outcome.stderr
    );
    // Each part is timed in the metrics, and the scratch cluster is gone.
    for step in ["restore", "pitr-wait", "redis-load"] {
        let line = std::fs::read_to_string(&metrics_file)
            .expect("metrics")
            .lines()
            .find(|line| {
                line.starts_with("runbook_step_duration_seconds{")
                    && line.contains(&format!("step=\"{step}\""))
            })
            .map(str::to_owned);
        assert!(line.is_some(), "no duration metric for {step}");
    }
    assert!(
        std::fs::read_dir("/tmp")
            .expect("tmp")
            .flatten()
            .all(|entry| !entry
                .file_name()
                .to_string_lossy()
                .starts_with("runbook-pitr-test.")
                || !entry.path().join("data/postmaster.pid").exists()),
        "a scratch cluster is still running"
    );
    // The production archive got nothing from the scratch cluster's new timeline.
    assert!(
        super::entries(&pg.archive_dir(), "00000002", "").is_empty(),
        "{:?}",
        super::entries(&pg.archive_dir(), "", "")
    );
}
